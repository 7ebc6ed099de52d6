import ssl
import urllib.request

from harness import EmuTestCase


class TlsTest(EmuTestCase):
    tls = True

    def test_https_with_test_ca(self):
        self.assertTrue(self.emu.endpoint.startswith("https://"))
        self.assertEqual(self.emu.client("sts").get_caller_identity()["Account"], "111111111111")
        org = self.emu.client("organizations")
        self.assertEqual(len(org.list_accounts()["Accounts"]), 6)
        s3 = self.emu.client("s3")
        s3.put_object(Bucket="credreport-reports", Key="tls.csv", Body=b"over tls", ChecksumAlgorithm="SHA256")
        self.assertEqual(s3.get_object(Bucket="credreport-reports", Key="tls.csv")["Body"].read(), b"over tls")
        iam = self.emu.client("iam", creds=self.emu.assume("333333333333"))
        self.assertEqual(iam.generate_credential_report()["State"], "STARTED")

    def test_untrusted_and_plain_http_fail(self):
        with self.assertRaises(Exception):
            urllib.request.urlopen(self.emu.endpoint + "/_emulator/info", timeout=5,
                                   context=ssl.create_default_context())
        with self.assertRaises(Exception):
            urllib.request.urlopen("http://127.0.0.1:%d/_emulator/info" % self.emu.port, timeout=5)
