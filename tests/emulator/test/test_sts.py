import datetime
import time

from harness import MEMBER, MGMT, Emulator, EmuTestCase


class StsTest(EmuTestCase):
    def test_get_caller_identity(self):
        r = self.emu.client("sts").get_caller_identity()
        self.assertEqual(r["Account"], "111111111111")
        self.assertEqual(r["Arn"], "arn:aws:iam::111111111111:user/credreport")
        self.assertEqual(r["UserId"], "AIDAEXAMPLEMGMTUSER01")

    def test_assume_role_cross_account(self):
        sts = self.emu.client("sts")
        before = datetime.datetime.now(datetime.timezone.utc)
        r = sts.assume_role(RoleArn="arn:aws:iam::333333333333:role/OrganizationAccountAccessRole",
                            RoleSessionName="credreport-333", DurationSeconds=900)
        c = r["Credentials"]
        self.assertTrue(c["AccessKeyId"].startswith("ASIA"))
        delta = (c["Expiration"] - before).total_seconds()
        self.assertTrue(880 <= delta <= 920, delta)
        self.assertEqual(r["AssumedRoleUser"]["Arn"],
                         "arn:aws:sts::333333333333:assumed-role/OrganizationAccountAccessRole/credreport-333")
        who = self.emu.client("sts", creds=(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])).get_caller_identity()
        self.assertEqual(who["Account"], "333333333333")
        self.assertEqual(who["Arn"], r["AssumedRoleUser"]["Arn"])
        self.assertTrue(who["UserId"].endswith(":credreport-333"))
        default = sts.assume_role(RoleArn="arn:aws:iam::444444444444:role/OrganizationAccountAccessRole", RoleSessionName="x1")
        delta = (default["Credentials"]["Expiration"] - before).total_seconds()
        self.assertTrue(3580 <= delta <= 3620, delta)

    def test_session_tokens_of_the_default_size(self):
        c = self.emu.assume("333333333333")
        self.assertEqual(len(c[2]), 319)

    def test_session_tokens_of_a_chosen_size_sign_requests(self):
        e = Emulator(extra_args=["--session-token-chars", "1100"])
        try:
            c = e.assume("333333333333")
            self.assertEqual(len(c[2]), 1100)
            self.assertEqual(e.client("sts", creds=c).get_caller_identity()["Account"], "333333333333")
        finally:
            e.stop()
        for bad in ("19", "65537", "1e3x"):
            with self.assertRaises(RuntimeError):
                Emulator(extra_args=["--session-token-chars", bad]).stop()

    def test_assume_role_denied(self):
        sts = self.emu.client("sts")
        role = "arn:aws:iam::%s:role/OrganizationAccountAccessRole"
        # Management account has no such role; suspended/closed/unknown accounts; unknown role name.
        for acct in ("111111111111", "555555555555", "666666666666", "999999999999"):
            self.assertCode(lambda: sts.assume_role(RoleArn=role % acct, RoleSessionName="s1"), "AccessDenied", 403)
        self.assertCode(lambda: sts.assume_role(RoleArn="arn:aws:iam::333333333333:role/Nope", RoleSessionName="s1"),
                        "AccessDenied", 403)

    def test_external_id(self):
        sts = self.emu.client("sts")
        arn = "arn:aws:iam::444444444444:role/ExternalAuditRole"
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="s1"), "AccessDenied")
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId="wrong-id"), "AccessDenied")
        r = sts.assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId="audit-4444")
        self.assertIn("Credentials", r)

    def test_validation(self):
        sts = self.emu.client("sts", validate=False)
        arn = "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="bad name!"), "ValidationError", 400)
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="a"), "ValidationError", 400)
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="x" * 65), "ValidationError", 400)
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="ok", DurationSeconds=899), "ValidationError")
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="ok", DurationSeconds=43201), "ValidationError")
        r = sts.assume_role(RoleArn=arn, RoleSessionName="a.b@c=d,e-f_g+h", DurationSeconds=43200)
        self.assertIn("Credentials", r)

    def test_role_chaining_limit(self):
        creds = self.emu.assume("333333333333")
        sts = self.emu.client("sts", creds=creds)
        arn = "arn:aws:iam::444444444444:role/OrganizationAccountAccessRole"
        self.assertCode(lambda: sts.assume_role(RoleArn=arn, RoleSessionName="c1", DurationSeconds=7200), "ValidationError")
        self.assertIn("Credentials", sts.assume_role(RoleArn=arn, RoleSessionName="c1", DurationSeconds=3600))

    def test_expired_credentials(self):
        creds = self.emu.assume("333333333333", DurationSeconds=900)
        sts = self.emu.client("sts", creds=creds)
        self.assertEqual(sts.get_caller_identity()["Account"], "333333333333")
        self.emu.admin("POST", "advance", {"seconds": 901})
        self.assertCode(lambda: sts.get_caller_identity(), "ExpiredToken", 403)
        self.assertCode(lambda: self.emu.client("iam", creds=creds).generate_credential_report(), "ExpiredToken", 403)
        self.assertCode(lambda: self.emu.client("s3", creds=creds).list_objects_v2(Bucket="credreport-reports"), "ExpiredToken", 400)

    def test_bad_session_token(self):
        creds = self.emu.assume("333333333333")
        self.assertCode(lambda: self.emu.client("sts", creds=(creds[0], creds[1], "wrong")).get_caller_identity(),
                        "InvalidClientTokenId", 403)
        self.assertCode(lambda: self.emu.client("sts", creds=(creds[0], creds[1], None)).get_caller_identity(),
                        "InvalidClientTokenId", 403)
        self.assertCode(lambda: self.emu.client("s3", creds=(creds[0], creds[1], "wrong")).list_objects_v2(Bucket="credreport-reports"),
                        "InvalidToken", 400)

    def test_web_identity(self):
        sts = self.emu.client("sts", creds=("AKIAUNUSED", "unused", None))
        arn = "arn:aws:iam::111111111111:role/credreport-runner"
        r = sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="pod",
                                              WebIdentityToken="eyJhbGciOiJSUzI1NiJ9.emulator-test-token.sig")
        c = r["Credentials"]
        self.assertEqual(r["SubjectFromWebIdentityToken"], "system:serviceaccount:security:credreport")
        who = self.emu.client("sts", creds=(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])).get_caller_identity()
        self.assertEqual(who["Arn"], "arn:aws:sts::111111111111:assumed-role/credreport-runner/pod")
        # The web-identity role is in the management account: Organizations works with it.
        org = self.emu.client("organizations", creds=(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
        self.assertEqual(len(org.list_roots()["Roots"]), 1)
        self.assertCode(lambda: sts.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="pod", WebIdentityToken="nope.nope.nope"),
                        "InvalidIdentityToken", 400)
        self.assertCode(lambda: sts.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::111111111111:role/other", RoleSessionName="pod",
            WebIdentityToken="eyJhbGciOiJSUzI1NiJ9.emulator-test-token.sig"), "AccessDenied", 403)
        log = self.emu.requests(action="AssumeRoleWithWebIdentity")
        self.assertEqual(log[0]["access_key"], None)
        self.assertEqual(log[0]["params"]["WebIdentityToken"], "(redacted)")


class AuthTest(EmuTestCase):
    def test_unknown_access_key(self):
        bad = ("AKIANOTAREALKEY00000", "x" * 40, None)
        self.assertCode(lambda: self.emu.client("sts", creds=bad).get_caller_identity(), "InvalidClientTokenId", 403)
        self.assertCode(lambda: self.emu.client("iam", creds=bad).get_credential_report(), "InvalidClientTokenId", 403)
        self.assertCode(lambda: self.emu.client("organizations", creds=bad).list_roots(), "UnrecognizedClientException", 400)
        self.assertCode(lambda: self.emu.client("s3", creds=bad).head_bucket(Bucket="credreport-reports"), "403", 403)
        self.assertCode(lambda: self.emu.client("s3", creds=bad).list_objects_v2(Bucket="credreport-reports"), "InvalidAccessKeyId", 403)
        self.assertCode(lambda: self.emu.client("sns", creds=bad).publish(TopicArn="arn:aws:sns:us-east-1:111111111111:credreport-local", Message="m"),
                        "InvalidClientTokenId", 403)

    def test_wrong_secret(self):
        bad = (MGMT[0], "wrong-secret", None)
        self.assertCode(lambda: self.emu.client("sts", creds=bad).get_caller_identity(), "SignatureDoesNotMatch", 403)
        self.assertCode(lambda: self.emu.client("organizations", creds=bad).list_roots(), "InvalidSignatureException", 400)
        self.assertCode(lambda: self.emu.client("s3", creds=bad).list_objects_v2(Bucket="credreport-reports"), "SignatureDoesNotMatch", 403)
        self.assertCode(lambda: self.emu.client("sns", creds=bad).publish(TopicArn="arn:aws:sns:us-east-1:111111111111:credreport-local", Message="m"),
                        "SignatureDoesNotMatch", 403)

    def test_tampered_body(self):
        def tamper(p):
            p.body = b"Action=GetCallerIdentity&Version=2011-06-16"
        status, _, body = self.emu.raw("sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                                       headers={"Content-Type": "application/x-www-form-urlencoded"}, after_sign=tamper)
        self.assertEqual(status, 403)
        self.assertIn(b"<Code>SignatureDoesNotMatch</Code>", body)

    def test_iam_wrong_region(self):
        self.assertCode(lambda: self.emu.client("iam", region="eu-west-1").get_credential_report(), "SignatureDoesNotMatch", 403)

    def test_unsigned_rejected(self):
        status, _, body = self.emu.raw("sts", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                                       headers={"Content-Type": "application/x-www-form-urlencoded"}, sign=False)
        self.assertEqual(status, 403)
        self.assertIn(b"MissingAuthenticationToken", body)

    def test_request_ids_and_date(self):
        r = self.emu.client("sts").get_caller_identity()
        h = r["ResponseMetadata"]["HTTPHeaders"]
        self.assertIn("x-amzn-requestid", h)
        self.assertIn("date", h)
        r = self.emu.client("s3").list_objects_v2(Bucket="credreport-reports")
        self.assertIn("x-amz-request-id", r["ResponseMetadata"]["HTTPHeaders"])

    def test_member_identity(self):
        self.assertEqual(self.emu.client("sts", creds=MEMBER).get_caller_identity()["Account"], "333333333333")

    def test_sigterm_stops(self):
        e = Emulator()
        try:
            e.proc.terminate()
            t0 = time.time()
            e.proc.wait(5)
            self.assertLess(time.time() - t0, 5)
        finally:
            e.stop()
