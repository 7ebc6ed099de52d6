"""Shared helpers for the emulator's own tests: start/stop emulator processes, boto3 clients,
admin API calls and raw signed requests. Uses Debian's boto3 under /usr/bin/python3."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import boto3
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

EMU_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, EMU_DIR)
from launcher import FIXTURES, EmulatorProcess  # noqa: E402

SMALL = os.path.join(FIXTURES, "small.json")
MGMT = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None)
MEMBER = ("AKIAMEMBEREXAMPLE333", "memberSecretKeyExample333333333333333333", None)
MGMT_ID = "111111111111"


def load_small():
    with open(SMALL) as f:
        return json.load(f)


def write_fixture(obj):
    fd, path = tempfile.mkstemp(suffix=".json", prefix="emu-fixture-")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f)
    return path


class KeepPayloadHashS3Auth(S3SigV4Auth):
    """S3 signer that keeps a caller-provided X-Amz-Content-SHA256 (e.g. STREAMING-...)."""

    def _modify_request_before_signing(self, request):
        keep = request.headers.get("X-Amz-Content-SHA256")
        super()._modify_request_before_signing(request)
        if keep:
            del request.headers["X-Amz-Content-SHA256"]
            request.headers["X-Amz-Content-SHA256"] = keep


class Emulator(EmulatorProcess):
    """One emulator process (launcher.py) with boto3 clients and raw signed requests. Always
    call stop() (tests do it in tearDownClass)."""

    def __init__(self, fixture=SMALL, tls_dir=None, faults=None, extra_args=()):
        super().__init__(fixture, tls_dir=tls_dir, faults=faults, extra=extra_args)
        self.endpoint = self.url

    # --- boto3 -------------------------------------------------------------------------------
    def client(self, service, creds=MGMT, region="us-east-1", attempts=1, validate=True, **kw):
        cfg = Config(retries={"mode": "standard", "total_max_attempts": attempts},
                     parameter_validation=validate, connect_timeout=5, read_timeout=10, **kw)
        verify = self.ca if self.ca else None
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                            aws_session_token=creds[2], config=cfg, verify=verify)

    def assume(self, account, role="OrganizationAccountAccessRole", creds=MGMT, **kw):
        sts = self.client("sts", creds=creds)
        r = sts.assume_role(RoleArn="arn:aws:iam::%s:role/%s" % (account, role), RoleSessionName="test", **kw)
        c = r["Credentials"]
        return (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    # --- admin API -----------------------------------------------------------------------------
    def admin(self, method, path, body=None, raw=False):
        """As EmulatorProcess.admin; raw gives (bytes, headers)."""
        return super().admin(method, path, body, with_headers=raw)

    def reset(self):
        return self.admin("POST", "reset")

    def set_faults(self, cfg):
        return self.admin("PUT", "faults", cfg)

    def requests(self, **filters):
        q = "&".join("%s=%s" % kv for kv in filters.items())
        return self.admin("GET", "requests" + ("?" + q if q else ""))["requests"]

    # --- raw signed requests --------------------------------------------------------------------
    def raw(self, service, method="POST", path="/", body=b"", headers=None, creds=MGMT, region="us-east-1",
            host=None, sign=True, after_sign=None):
        """Send a request signed by botocore's signer; returns (status, headers, body)."""
        import http.client
        url = self.endpoint + path
        hdrs = dict(headers or {})
        if host:
            url = "%s://%s%s" % (self.scheme, host, path)
        req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
        if sign:
            auth = KeepPayloadHashS3Auth if service == "s3" else SigV4Auth
            auth(Credentials(*creds), service, region).add_auth(req)
        prepared = req.prepare()
        if after_sign:
            after_sign(prepared)
        if self.scheme == "https":
            import ssl
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                               context=ssl.create_default_context(cafile=self.ca))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            if "host" not in {k.lower() for k in prepared.headers.keys()}:
                conn.putheader("Host", url.split("://", 1)[1].split("/", 1)[0])
            for k, v in prepared.headers.items():
                conn.putheader(k, v)
            if "Content-Length" not in prepared.headers and prepared.body is not None:
                conn.putheader("Content-Length", str(len(prepared.body or b"")))
            conn.endheaders(prepared.body or b"")
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()


class EmuTestCase(unittest.TestCase):
    """Test case sharing one emulator per class; state is reset before every test."""
    fixture = SMALL
    tls = False
    emu = None

    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        tls_dir = None
        if cls.tls:
            tls_dir = cls.tmpdir.name
            subprocess.run([os.path.join(EMU_DIR, "mkca"), tls_dir], check=True)
        cls.emu = Emulator(fixture=cls.fixture, tls_dir=tls_dir)

    @classmethod
    def tearDownClass(cls):
        if cls.emu:
            cls.emu.stop()
        cls.tmpdir.cleanup()
        if cls.fixture != SMALL and os.path.basename(cls.fixture).startswith("emu-fixture-") and os.path.exists(cls.fixture):
            os.unlink(cls.fixture)

    def setUp(self):
        self.emu.reset()

    def assertCode(self, fn, code, status=None):
        with self.assertRaises(ClientError) as cm:
            fn()
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        if status is not None:
            self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err


def wait_until(fn, timeout=5.0, interval=0.05):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(interval)
