"""The services scripts call beyond credreport's own: Account Management and Security Hub
(REST-JSON) through boto3, SQS (JSON 1.0) through botocore's signer."""
import json

from harness import MEMBER, EmuTestCase

QUEUE = "https://sqs.us-east-1.amazonaws.com/111111111111/failures"


def finding(n, account="111111111111"):
    return {"SchemaVersion": "2018-10-08", "Id": "f-%d" % n, "GeneratorId": "credreport",
            "ProductArn": "arn:aws:securityhub:us-east-1:%s:product/%s/default" % (account, account),
            "AwsAccountId": account, "Types": ["Software and Configuration Checks"],
            "CreatedAt": "2026-12-01T00:00:00Z", "UpdatedAt": "2026-12-01T00:00:00Z",
            "Severity": {"Label": "HIGH"}, "Title": "t", "Description": "d",
            "Resources": [{"Type": "AwsAccount", "Id": "AWS::::Account:%s" % account}]}


class AccountTest(EmuTestCase):
    def test_alternate_contacts(self):
        acct = self.emu.client("account", region="us-east-1")
        self.assertCode(lambda: acct.get_alternate_contact(AccountId="222222222222", AlternateContactType="SECURITY"),
                        "ResourceNotFoundException", 404)
        acct.put_alternate_contact(AccountId="222222222222", AlternateContactType="SECURITY", Name="Sec",
                                   EmailAddress="sec@example.com", PhoneNumber="+1-555-0100", Title="CISO")
        got = acct.get_alternate_contact(AccountId="222222222222", AlternateContactType="SECURITY")
        self.assertEqual(got["AlternateContact"]["EmailAddress"], "sec@example.com")
        self.assertEqual(got["AlternateContact"]["AlternateContactType"], "SECURITY")
        acct.delete_alternate_contact(AccountId="222222222222", AlternateContactType="SECURITY")
        self.assertCode(lambda: acct.delete_alternate_contact(AccountId="222222222222",
                                                              AlternateContactType="SECURITY"),
                        "ResourceNotFoundException", 404)

    def test_refusals(self):
        member = self.emu.client("account", creds=MEMBER)
        self.assertCode(lambda: member.get_alternate_contact(AccountId="222222222222",
                                                             AlternateContactType="BILLING"),
                        "AccessDeniedException", 403)
        acct = self.emu.client("account", validate=False)
        self.assertCode(lambda: acct.get_alternate_contact(AlternateContactType="NOPE"), "ValidationException", 400)
        self.assertCode(lambda: acct.get_alternate_contact(AccountId="111111111111", AlternateContactType="BILLING"),
                        "AccessDeniedException", 403)
        bad = self.emu.client("account", creds=("AKIANOTKNOWN00000000", "x" * 40, None))
        self.assertCode(lambda: bad.get_alternate_contact(AlternateContactType="BILLING"),
                        "UnrecognizedClientException", 403)


class SecurityHubTest(EmuTestCase):
    def test_import_and_read(self):
        hub = self.emu.client("securityhub", region="eu-west-1")
        r = hub.batch_import_findings(Findings=[finding(1), finding(2, "999999999999")])
        self.assertEqual((r["SuccessCount"], r["FailedCount"]), (1, 1))
        self.assertEqual(r["FailedFindings"][0]["Id"], "f-2")
        self.assertEqual([f["Id"] for f in hub.get_findings()["Findings"]], ["f-1"])
        self.assertEqual(len(self.emu.admin("GET", "securityhub/findings")["findings"]), 1)
        loose = self.emu.client("securityhub", region="eu-west-1", validate=False)
        self.assertCode(lambda: loose.batch_import_findings(Findings=[]), "InvalidInputException", 400)
        self.assertEqual(self.emu.requests(service="securityhub")[0]["region"], "eu-west-1")


class SqsTest(EmuTestCase):
    def call(self, action, params, content_type="application/x-amz-json-1.0", creds=None):
        kw = {"creds": creds} if creds else {}
        status, headers, body = self.emu.raw("sqs", path="/", body=json.dumps(params).encode(),
                                             headers={"Content-Type": content_type,
                                                      "X-Amz-Target": "AmazonSQS." + action}, **kw)
        return status, headers, json.loads(body or b"{}")

    def test_queue_messages(self):
        status, _, r = self.call("CreateQueue", {"QueueName": "failures"})
        self.assertEqual((status, r["QueueUrl"]), (200, QUEUE))
        status, _, r = self.call("SendMessage", {"QueueUrl": QUEUE, "MessageBody": "hello"})
        self.assertEqual(status, 200)
        self.assertEqual(r["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592")
        status, _, r = self.call("ReceiveMessage", {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10})
        self.assertEqual([m["Body"] for m in r["Messages"]], ["hello"])
        status, _, r = self.call("ReceiveMessage", {"QueueUrl": QUEUE})
        self.assertEqual((status, r), (200, {}))

    def test_errors(self):
        status, headers, r = self.call("SendMessage", {"QueueUrl": QUEUE, "MessageBody": "x"})
        self.assertEqual((status, r["__type"]), (400, "com.amazonaws.sqs#QueueDoesNotExist"))
        self.assertEqual(headers.get("x-amzn-query-error"), "AWS.SimpleQueueService.NonExistentQueue;Sender")
        status, _, r = self.call("CreateQueue", {"QueueName": "q"}, content_type="application/x-amz-json-1.1")
        self.assertEqual((status, r["__type"]), (400, "UnsupportedMediaType"))
        self.call("CreateQueue", {"QueueName": "failures"})
        status, _, r = self.call("SendMessage", {"QueueUrl": QUEUE, "MessageBody": "x"}, creds=MEMBER)
        self.assertEqual((status, r["__type"]), (400, "AccessDenied"))
