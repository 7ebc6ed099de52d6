from harness import MEMBER, EmuTestCase

TOPIC = "arn:aws:sns:us-east-1:222222222222:credreport-alerts"


class SnsTest(EmuTestCase):
    def test_publish(self):
        sns = self.emu.client("sns")
        r = sns.publish(TopicArn=TOPIC, Subject="credreport: 2 accounts failed", Message="333333333333: AccessDenied",
                        MessageAttributes={"account": {"DataType": "String", "StringValue": "333333333333"},
                                           "count": {"DataType": "Number", "StringValue": "2"}})
        self.assertTrue(r["MessageId"])
        msgs = self.emu.admin("GET", "sns/messages")["messages"]
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["message_id"], r["MessageId"])
        self.assertEqual(m["subject"], "credreport: 2 accounts failed")
        self.assertEqual(m["message"], "333333333333: AccessDenied")
        self.assertEqual(m["attributes"]["account"], {"DataType": "String", "StringValue": "333333333333"})
        self.assertEqual(m["attributes"]["count"]["DataType"], "Number")
        self.assertEqual(m["account"], "111111111111")
        # Message at exactly 256 KiB is accepted; unicode counted in bytes.
        sns.publish(TopicArn=TOPIC, Message="x" * (256 * 1024))

    def test_errors(self):
        sns = self.emu.client("sns")
        self.assertCode(lambda: sns.publish(TopicArn="arn:aws:sns:us-east-1:222222222222:nope", Message="m"), "NotFound", 404)
        self.assertCode(lambda: sns.publish(TopicArn=TOPIC, Message="m", Subject="a\nb"), "InvalidParameter", 400)
        self.assertCode(lambda: sns.publish(TopicArn=TOPIC, Message="m", Subject="s" * 100), "InvalidParameter", 400)
        sns.publish(TopicArn=TOPIC, Message="m", Subject="s" * 99)
        self.assertCode(lambda: sns.publish(TopicArn=TOPIC, Message="é" * (128 * 1024 + 1)), "InvalidParameter", 400)
        self.assertCode(lambda: sns.publish(TopicArn=TOPIC, Message=""), "InvalidParameter", 400)
        self.assertCode(lambda: self.emu.client("sns", creds=MEMBER).publish(TopicArn=TOPIC, Message="m"),
                        "AuthorizationError", 403)
        self.assertEqual(len(self.emu.admin("GET", "sns/messages")["messages"]), 1)
