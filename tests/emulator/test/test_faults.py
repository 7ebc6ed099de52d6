import http.client
import json
import time
import unittest

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from botocore.parsers import ResponseParserError

from harness import EmuTestCase, Emulator

TOPIC = "arn:aws:sns:us-east-1:111111111111:credreport-local"


class FaultTest(EmuTestCase):
    def throttle(self, service, action=None):
        rule = {"type": "throttle", "service": service, "rps": 0.001, "burst": 1}
        if action:
            rule["action"] = action
        self.emu.set_faults({"rules": [rule]})

    def test_throttling_codes(self):
        cases = [
            ("iam", lambda c: c.generate_credential_report(), "Throttling", 400),
            ("sts", lambda c: c.get_caller_identity(), "Throttling", 400),
            ("organizations", lambda c: c.list_roots(), "TooManyRequestsException", 400),
            ("s3", lambda c: c.list_objects_v2(Bucket="credreport-reports"), "SlowDown", 503),
            ("sns", lambda c: c.publish(TopicArn=TOPIC, Message="m"), "Throttled", 429),
        ]
        for service, call, code, status in cases:
            with self.subTest(service=service):
                self.throttle(service)
                client = self.emu.client(service)
                call(client)  # the burst allows one
                self.assertCode(lambda: call(client), code, status)

    def test_throttle_by_account_and_action(self):
        self.emu.set_faults({"rules": [{"type": "throttle", "service": "iam", "action": "GenerateCredentialReport",
                                        "account": "333333333333", "rps": 0.001, "burst": 1}]})
        i3 = self.emu.client("iam", creds=self.emu.assume("333333333333"))
        i4 = self.emu.client("iam", creds=self.emu.assume("444444444444"))
        i3.generate_credential_report()
        self.assertCode(lambda: i3.generate_credential_report(), "Throttling")
        self.assertCode(lambda: i3.get_credential_report(), "ReportInProgress")
        for _ in range(3):
            i4.generate_credential_report()

    def test_target_account_and_a_storm_that_passes(self):
        self.emu.set_faults({"rules": [{"type": "error", "service": "sts", "action": "AssumeRole",
                                        "target_account": "333333333333", "status": 503,
                                        "code": "ServiceUnavailable", "duration_ms": 700}]})
        self.assertCode(lambda: self.emu.assume("333333333333"), "ServiceUnavailable", 503)
        self.emu.assume("444444444444")  # another target: untouched
        time.sleep(0.8)
        self.emu.assume("333333333333")  # the storm is over
        rule = self.emu.admin("GET", "faults")["rules"][0]
        self.assertEqual(rule["applied"], 1)
        self.assertNotIn("expires", rule)

    def test_next_n_fail_then_retry_succeeds(self):
        self.emu.set_faults({"rules": [{"type": "fail", "service": "iam", "action": "GenerateCredentialReport",
                                        "count": 2, "status": 500, "code": "ServiceFailure"}]})
        iam = self.emu.client("iam", attempts=3)
        self.assertEqual(iam.generate_credential_report()["State"], "STARTED")
        log = self.emu.requests(action="GenerateCredentialReport")
        self.assertEqual([r["status"] for r in log], [500, 500, 200])
        self.assertEqual([r["error_code"] for r in log], ["ServiceFailure", "ServiceFailure", None])
        faults = self.emu.admin("GET", "faults")
        self.assertEqual(faults["rules"][0]["count"], 0)
        self.assertEqual(faults["rules"][0]["applied"], 2)

    def test_random_errors_seeded(self):
        def run():
            self.emu.reset()
            self.emu.set_faults({"seed": 42, "rules": [{"type": "error", "service": "sts", "probability": 0.5}]})
            sts = self.emu.client("sts")
            out = []
            for _ in range(20):
                try:
                    sts.get_caller_identity()
                    out.append(200)
                except ClientError as e:
                    out.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
                    self.assertEqual(e.response["Error"]["Code"], "InternalFailure")
            return out
        a, b = run(), run()
        self.assertEqual(a, b)
        self.assertIn(500, a)
        self.assertIn(200, a)

    def test_latency(self):
        self.emu.set_faults({"rules": [{"type": "latency", "service": "sts", "min_ms": 200, "max_ms": 250}]})
        sts = self.emu.client("sts")
        t0 = time.time()
        sts.get_caller_identity()
        self.assertGreaterEqual(time.time() - t0, 0.2)

    def test_connection_reset(self):
        self.emu.set_faults({"rules": [{"type": "reset", "service": "sts", "count": 1}]})
        sts = self.emu.client("sts")
        with self.assertRaises((ConnectionClosedError, EndpointConnectionError)):
            sts.get_caller_identity()
        self.assertEqual(sts.get_caller_identity()["Account"], "111111111111")
        self.emu.set_faults({"rules": [{"type": "reset", "service": "sts", "count": 1}]})
        self.assertEqual(self.emu.client("sts", attempts=3).get_caller_identity()["Account"], "111111111111")

    def test_hang_answers_nothing_and_keeps_the_connection(self):
        self.emu.set_faults({"rules": [{"type": "hang", "service": "sts", "count": 1}]})
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from harness import MGMT
        req = AWSRequest(method="POST", url=self.emu.endpoint + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(*MGMT), "sts", "us-east-1").add_auth(req)
        p = req.prepare()
        conn = http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=1)
        conn.request("POST", "/", body=p.body, headers=dict(p.headers))
        with self.assertRaises(TimeoutError):
            conn.getresponse()
        conn.close()
        (hung,) = self.emu.requests(action="GetCallerIdentity")
        self.assertEqual((hung["fault"], hung["status"]), ("hang", 0))
        self.assertEqual(self.emu.client("sts").get_caller_identity()["Account"], "111111111111")

    def test_truncated_body(self):
        self.emu.set_faults({"rules": [{"type": "truncate", "service": "sts", "count": 1}]})
        conn = http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=5)
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from harness import MGMT
        req = AWSRequest(method="POST", url=self.emu.endpoint + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        SigV4Auth(Credentials(*MGMT), "sts", "us-east-1").add_auth(req)
        p = req.prepare()
        conn.request("POST", "/", body=p.body, headers=dict(p.headers))
        resp = conn.getresponse()
        declared = int(resp.getheader("Content-Length"))
        with self.assertRaises(http.client.IncompleteRead) as cm:
            resp.read()
        self.assertLess(len(cm.exception.partial), declared)
        conn.close()
        self.assertEqual(self.emu.requests(action="GetCallerIdentity")[0]["fault"], "truncate")

    def test_malformed_body(self):
        self.emu.set_faults({"rules": [{"type": "malformed", "service": "iam", "count": 1},
                                       {"type": "malformed", "service": "organizations", "count": 1}]})
        with self.assertRaises(ResponseParserError):
            self.emu.client("iam").generate_credential_report()
        status, _, body = self.emu.raw("organizations", body=b"{}", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSOrganizationsV20161128.ListAccounts"})
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(body)

    def test_oversized_body(self):
        # declared: the operation's answer, then blanks up to the size; still parses
        self.emu.set_faults({"rules": [{"type": "oversized", "service": "sts", "bytes": 3 << 20, "count": 1},
                                       {"type": "oversized", "service": "sts", "bytes": 1 << 20,
                                        "chunked": True, "count": 1}]})
        status, headers, body = self.emu.raw("sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 3 << 20)
        self.assertEqual({k.lower(): v for k, v in headers.items()}.get("content-length"), str(3 << 20))
        self.assertIn(b"<Account>111111111111</Account>", body[:2048])
        self.assertEqual(body[-1:], b" ")
        # chunked: no length announced
        status, headers, body = self.emu.raw("sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 1 << 20)
        self.assertNotIn("content-length", {k.lower() for k in headers})
        self.assertEqual([r["fault"] for r in self.emu.requests(action="GetCallerIdentity")][-2:],
                         ["oversized", "oversized"])
        # through boto3 it is a normal answer
        self.assertEqual(self.emu.client("sts").get_caller_identity()["Account"], "111111111111")
        # more headers (60: Python's http.client reads at most 100), the body as it is
        self.emu.set_faults({"rules": [{"type": "oversized", "service": "sts", "headers": 60, "count": 1}]})
        status, headers, body = self.emu.raw("sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200)
        self.assertEqual(len([k for k in headers if k.startswith("x-emulator-pad-")]), 60)
        self.assertTrue(body.rstrip().endswith(b"</GetCallerIdentityResponse>"))
        with self.assertRaises(Exception):
            self.emu.set_faults({"rules": [{"type": "oversized", "service": "sts", "bytes": -1}]})

    def test_clock_skew(self):
        self.emu.set_faults({"clock_skew_seconds": 3600})
        r = self.emu.raw("sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r[0], 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", r[2])
        self.assertIn(b"<Message>Signature expired:", r[2])
        # The Date header is the emulator's (skewed) clock.
        server = time.mktime(time.strptime(r[1]["date"], "%a, %d %b %Y %H:%M:%S GMT")) - time.mktime(time.gmtime(0))
        self.assertAlmostEqual(server - time.time(), 3600, delta=30)
        self.assertCode(lambda: self.emu.client("organizations").list_roots(), "InvalidSignatureException", 400)
        self.assertCode(lambda: self.emu.client("s3").list_objects_v2(Bucket="credreport-reports"), "RequestTimeTooSkewed", 403)
        self.emu.set_faults({"clock_skew_seconds": 200})
        self.assertEqual(self.emu.client("sts").get_caller_identity()["Account"], "111111111111")

    def test_faults_file_at_start(self):
        e = Emulator(faults={"seed": 3, "rules": [{"type": "throttle", "service": "sts", "rps": 0.001, "burst": 1}]})
        try:
            sts = e.client("sts")
            sts.get_caller_identity()
            self.assertCode(lambda: sts.get_caller_identity(), "Throttling")
            self.assertEqual(e.admin("GET", "faults")["seed"], 3)
        finally:
            e.stop()

    def test_bad_fault_config_rejected(self):
        with self.assertRaises(Exception):
            self.emu.set_faults({"rules": [{"type": "explode"}]})


def _connect(emu):
    """A connection that has made a request, so that the emulator counts it."""
    c = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    _info(c)
    return c


def _info(c):
    c.request("GET", "/_emulator/info")
    return json.loads(c.getresponse().read())


class ConnectionLimitTest(unittest.TestCase):
    def assert_refused(self, emu):
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected, OSError)):
            _connect(emu)

    def test_connections_beyond_the_limit_are_closed_and_counted(self):
        emu = Emulator(extra_args=["--max-connections", "2"])
        try:
            held = [_connect(emu) for _ in range(2)]
            self.assert_refused(emu)
            info = _info(held[0])
            self.assertEqual(info["connections"]["open"], 2)
            self.assertEqual(info["connections"]["peak"], 2)
            self.assertGreaterEqual(info["connections"]["dropped"], 1)
            for c in held:
                c.close()
        finally:
            emu.stop()

    def test_the_limit_lifts_after_its_time(self):
        emu = Emulator(extra_args=["--max-connections", "1", "--max-connections-for-ms", "1500"])
        try:
            held = [_connect(emu)]
            self.assert_refused(emu)
            time.sleep(2)
            held += [_connect(emu) for _ in range(3)]
            self.assertEqual(_info(held[0])["connections"]["open"], 4)
            for c in held:
                c.close()
        finally:
            emu.stop()


class AdminTest(EmuTestCase):
    def test_requests_log_and_reset(self):
        self.emu.client("sts").get_caller_identity()
        self.emu.client("s3").put_object(Bucket="credreport-reports", Key="k", Body=b"x")
        log = self.emu.requests()
        self.assertEqual([r["action"] for r in log], ["GetCallerIdentity", "PutObject"])
        first = log[0]
        for k in ("seq", "time", "service", "action", "account", "method", "path", "status", "error_code", "headers"):
            self.assertIn(k, first)
        self.assertEqual(first["service"], "sts")
        self.assertEqual(first["status"], 200)
        self.assertEqual(log[1]["path"], "/credreport-reports/k")
        self.assertEqual(log[1]["bucket"], "credreport-reports")
        self.emu.admin("DELETE", "requests")
        self.assertEqual(self.emu.requests(), [])
        self.emu.reset()
        self.assertEqual(self.emu.admin("GET", "s3/objects")["objects"], [])
        info = self.emu.admin("GET", "info")
        self.assertEqual(info["accounts"], 6)
