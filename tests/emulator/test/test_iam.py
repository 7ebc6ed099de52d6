import base64
import csv
import io
import time

from harness import EmuTestCase, load_small, write_fixture

COLUMNS = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
           "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
           "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
           "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
           "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
           "cert_2_active,cert_2_last_rotated").split(",")


class IamReportTest(EmuTestCase):
    def iam(self, account="444444444444", **kw):
        return self.emu.client("iam", creds=self.emu.assume(account, DurationSeconds=43200), **kw)

    def test_lifecycle(self):
        iam = self.iam()  # 444444444444 has report_delay_ms 500
        self.assertCode(lambda: iam.get_credential_report(), "ReportNotPresent", 410)
        self.assertEqual(iam.generate_credential_report()["State"], "STARTED")
        self.assertEqual(iam.generate_credential_report()["State"], "INPROGRESS")
        self.assertCode(lambda: iam.get_credential_report(), "ReportInProgress", 404)
        time.sleep(0.6)
        self.assertEqual(iam.generate_credential_report()["State"], "COMPLETE")
        r = iam.get_credential_report()
        self.assertEqual(r["ReportFormat"], "text/csv")
        text = r["Content"].decode()
        expected, headers = self.emu.admin("GET", "reports/444444444444", raw=True)
        self.assertEqual(r["Content"], expected)
        gen1 = r["GeneratedTime"]
        rows = list(csv.DictReader(io.StringIO(text)))
        self.assertEqual(text.splitlines()[0].split(","), COLUMNS)
        self.assertEqual(rows[0]["user"], "<root_account>")
        self.assertEqual(rows[0]["arn"], "arn:aws:iam::444444444444:root")
        self.assertEqual(rows[0]["password_enabled"], "not_supported")
        self.assertEqual(len(rows), 1 + 3)
        for row in rows[1:]:
            self.assertTrue(row["arn"].startswith("arn:aws:iam::444444444444:user/"))
            self.assertIn(row["password_enabled"], ("true", "false"))
            if row["password_enabled"] == "false":
                self.assertEqual(row["password_last_used"], "N/A")
        # Reused within 4 hours: COMPLETE at once, same report.
        self.emu.admin("POST", "advance", {"seconds": 3 * 3600})
        self.assertEqual(iam.generate_credential_report()["State"], "COMPLETE")
        self.assertEqual(iam.get_credential_report()["GeneratedTime"], gen1)
        # After 4 hours it has expired; a new Generate starts again.
        self.emu.admin("POST", "advance", {"seconds": 3600 + 1})
        self.assertCode(lambda: iam.get_credential_report(), "ReportExpired", 410)
        self.assertEqual(iam.generate_credential_report()["State"], "STARTED")

    def test_reports_are_per_account(self):
        i3, i4 = self.iam("333333333333"), self.iam("444444444444")
        i3.generate_credential_report()
        self.assertCode(lambda: i4.get_credential_report(), "ReportNotPresent")
        time.sleep(0.35)
        text = i3.get_credential_report()["Content"].decode()
        self.assertIn("arn:aws:iam::333333333333:root", text)

    def test_management_account_report(self):
        iam = self.emu.client("iam")
        iam.generate_credential_report()
        time.sleep(0.25)
        rows = list(csv.DictReader(io.StringIO(iam.get_credential_report()["Content"].decode())))
        by = {r["user"]: r for r in rows}
        self.assertEqual(by["credreport"]["password_enabled"], "false")
        self.assertEqual(by["credreport"]["access_key_1_active"], "true")
        self.assertEqual(by["credreport"]["access_key_1_last_rotated"], "2024-01-15T08:30:00+00:00")
        self.assertEqual(by["credreport"]["access_key_2_active"], "false")
        self.assertEqual(by["credreport"]["access_key_2_last_rotated"], "N/A")
        self.assertEqual(by["admin-alice"]["mfa_active"], "true")
        self.assertEqual(by["admin-alice"]["password_next_rotation"], "2024-05-01T00:00:00+00:00")
        bob = by["stale-bob"]
        self.assertEqual(bob["arn"], "arn:aws:iam::111111111111:user/contractors/stale-bob")
        self.assertEqual(bob["password_last_used"], "no_information")
        self.assertEqual(bob["access_key_1_last_used_date"], "2021-05-05T05:05:05+00:00")
        self.assertEqual(bob["access_key_1_last_used_region"], "eu-west-1")
        self.assertEqual(bob["access_key_2_active"], "false")
        self.assertEqual(bob["access_key_2_last_used_date"], "N/A")
        self.assertEqual(bob["cert_1_active"], "true")

    def test_limit_exceeded(self):
        iam = self.iam("333333333333")
        codes = []
        for _ in range(12):
            try:
                iam.generate_credential_report()
                codes.append("ok")
            except Exception as e:  # noqa: BLE001
                codes.append(e.response["Error"]["Code"])
                self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 409)
        self.assertEqual(codes[:10], ["ok"] * 10)
        self.assertEqual(codes[10:], ["LimitExceeded"] * 2)

    def test_deterministic_csv(self):
        a, _ = self.emu.admin("GET", "reports/333333333333?time=2025-01-01T00:00:00Z", raw=True)
        b, h = self.emu.admin("GET", "reports/333333333333?time=2025-01-01T00:00:00Z", raw=True)
        self.assertEqual(a, b)
        self.assertEqual(h["X-Emulator-Generated-Time"], "2025-01-01T00:00:00Z")
        c, _ = self.emu.admin("GET", "reports/333333333333?time=2025-06-01T00:00:00Z", raw=True)
        self.assertNotEqual(a, c)
        self.assertEqual(len(a.decode().splitlines()), 1 + 1 + 4)


class IamNeverCompletesTest(EmuTestCase):
    @classmethod
    def setUpClass(cls):
        f = load_small()
        for a in f["accounts"]:
            if a["id"] == "333333333333":
                a["report_never_completes"] = True
        cls.fixture = write_fixture(f)
        super().setUpClass()

    def test_never_completes(self):
        iam = self.emu.client("iam", creds=self.emu.assume("333333333333", DurationSeconds=43200))
        self.assertEqual(iam.generate_credential_report()["State"], "STARTED")
        time.sleep(0.4)
        self.assertEqual(iam.generate_credential_report()["State"], "INPROGRESS")
        self.emu.admin("POST", "advance", {"seconds": 5 * 3600})
        self.assertEqual(iam.generate_credential_report()["State"], "INPROGRESS")
        self.assertCode(lambda: iam.get_credential_report(), "ReportInProgress", 404)

    def test_same_fixture_same_bytes(self):
        # A second emulator with the same fixture serves identical bytes for the same generation time.
        from harness import Emulator
        other = Emulator(fixture=self.fixture)
        try:
            a, _ = self.emu.admin("GET", "reports/111111111111?time=2025-02-03T04:05:06Z", raw=True)
            b, _ = other.admin("GET", "reports/111111111111?time=2025-02-03T04:05:06Z", raw=True)
            self.assertEqual(a, b)
            self.assertEqual(base64.b64encode(a), base64.b64encode(b))
        finally:
            other.stop()
