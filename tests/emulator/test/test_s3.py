import base64
import hashlib
import urllib.request

from harness import MEMBER, EmuTestCase

BUCKET = "credreport-reports"


class S3Test(EmuTestCase):
    def s3(self, **kw):
        return self.emu.client("s3", **kw)

    def test_put_get_head_sse_s3(self):
        s3 = self.s3()
        body = b"user,arn\n<root_account>,arn:aws:iam::1:root\n"
        r = s3.put_object(Bucket=BUCKET, Key="2025-01-01/credentialReport_333333333333.csv", Body=body,
                          ServerSideEncryption="AES256", ExpectedBucketOwner="222222222222",
                          ACL="bucket-owner-full-control", ContentType="text/csv")
        self.assertEqual(r["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
        self.assertEqual(r["ServerSideEncryption"], "AES256")
        g = s3.get_object(Bucket=BUCKET, Key="2025-01-01/credentialReport_333333333333.csv")
        self.assertEqual(g["Body"].read(), body)
        self.assertEqual(g["ContentType"], "text/csv")
        self.assertEqual(g["ServerSideEncryption"], "AES256")
        part = s3.get_object(Bucket=BUCKET, Key="2025-01-01/credentialReport_333333333333.csv", Range="bytes=5-12")
        self.assertEqual((part["Body"].read(), part["ContentRange"]), (body[5:13], "bytes 5-12/%d" % len(body)))
        tail = s3.get_object(Bucket=BUCKET, Key="2025-01-01/credentialReport_333333333333.csv", Range="bytes=40-")
        self.assertEqual(tail["Body"].read(), body[40:])
        self.assertCode(lambda: s3.get_object(Bucket=BUCKET, Key="2025-01-01/credentialReport_333333333333.csv",
                                              Range="bytes=%d-" % len(body)), "InvalidRange", 416)
        h = s3.head_object(Bucket=BUCKET, Key="2025-01-01/credentialReport_333333333333.csv")
        self.assertEqual(h["ContentLength"], len(body))
        objs = self.emu.admin("GET", "s3/objects")["objects"]
        self.assertEqual(len(objs), 1)
        o = objs[0]
        self.assertEqual(o["sha256"], hashlib.sha256(body).hexdigest())
        self.assertEqual(o["headers"]["x-amz-acl"], "bucket-owner-full-control")
        self.assertEqual(o["headers"]["x-amz-expected-bucket-owner"], "222222222222")
        self.assertNotIn("authorization", o["headers"])
        raw, _ = self.emu.admin("GET", "s3/object?bucket=%s&key=2025-01-01/credentialReport_333333333333.csv" % BUCKET, raw=True)
        self.assertEqual(raw, body)
        log = self.emu.requests(action="PutObject")
        self.assertEqual(log[0]["headers"]["x-amz-server-side-encryption"], "AES256")
        self.assertEqual(log[0]["account"], "111111111111")
        self.assertIn("user-agent", log[0]["headers"])

    def test_put_kms(self):
        s3 = self.s3()
        key = "arn:aws:kms:us-east-1:222222222222:key/11111111-2222-3333-4444-555555555555"
        r = s3.put_object(Bucket=BUCKET, Key="k.csv", Body=b"x", ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=key, BucketKeyEnabled=True)
        self.assertEqual(r["ServerSideEncryption"], "aws:kms")
        self.assertEqual(r["SSEKMSKeyId"], key)
        self.assertTrue(r["BucketKeyEnabled"])
        h = s3.head_object(Bucket=BUCKET, Key="k.csv")
        self.assertEqual(h["SSEKMSKeyId"], key)
        o = self.emu.admin("GET", "s3/objects")["objects"][0]
        self.assertEqual(o["kms_key_id"], key)
        self.assertTrue(o["bucket_key_enabled"])

    def test_bucket_key_of_the_bucket_applies_to_kms_uploads_that_do_not_choose(self):
        s3 = self.s3(region="eu-west-1")
        key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        r = s3.put_object(Bucket="credreport-reports-eu", Key="kms", Body=b"x", ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=key)
        self.assertTrue(r["BucketKeyEnabled"])
        r = s3.put_object(Bucket="credreport-reports-eu", Key="off", Body=b"x", ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=key, BucketKeyEnabled=False)
        self.assertNotIn("BucketKeyEnabled", r)
        r = s3.put_object(Bucket="credreport-reports-eu", Key="sse-s3", Body=b"x", ServerSideEncryption="AES256")
        self.assertNotIn("BucketKeyEnabled", r)

    def test_bucket_default_kms_and_region(self):
        s3 = self.s3(region="eu-west-1")
        r = s3.put_object(Bucket="credreport-reports-eu", Key="a", Body=b"x")
        self.assertEqual(r["ServerSideEncryption"], "aws:kms")
        self.assertEqual(r["SSEKMSKeyId"], "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        self.assertTrue(r["BucketKeyEnabled"])
        # Signed for the wrong region: AuthorizationHeaderMalformed with the right region.
        status, headers, body = self.emu.raw("s3", method="PUT", path="/credreport-reports-eu/b", body=b"x", region="us-east-1")
        self.assertEqual(status, 400)
        self.assertIn(b"<Code>AuthorizationHeaderMalformed</Code>", body)
        self.assertIn(b"<Region>eu-west-1</Region>", body)
        self.assertEqual(headers["x-amz-bucket-region"], "eu-west-1")

    def test_access_errors(self):
        s3 = self.s3()
        err = self.assertCode(lambda: s3.put_object(Bucket="no-such-bucket", Key="k", Body=b"x"), "NoSuchBucket", 404)
        self.assertEqual(err["ResponseMetadata"]["RequestId"], err["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"])
        self.assertCode(lambda: s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ExpectedBucketOwner="111111111111"),
                        "AccessDenied", 403)
        self.assertCode(lambda: self.s3(creds=MEMBER).put_object(Bucket=BUCKET, Key="k", Body=b"x"), "AccessDenied", 403)
        self.assertCode(lambda: s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ACL="public-read"),
                        "AccessControlListNotSupported", 400)
        self.assertCode(lambda: s3.get_object(Bucket=BUCKET, Key="missing"), "NoSuchKey", 404)
        self.assertCode(lambda: s3.head_object(Bucket=BUCKET, Key="missing"), "404", 404)
        self.assertEqual(self.emu.admin("GET", "s3/objects")["objects"], [])

    def test_content_md5(self):
        s3 = self.s3()
        body = b"report body"
        good = base64.b64encode(hashlib.md5(body).digest()).decode()
        s3.put_object(Bucket=BUCKET, Key="md5-ok", Body=body, ContentMD5=good)
        bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        self.assertCode(lambda: s3.put_object(Bucket=BUCKET, Key="md5-bad", Body=body, ContentMD5=bad), "BadDigest", 400)
        self.assertCode(lambda: s3.put_object(Bucket=BUCKET, Key="md5-bad", Body=body, ContentMD5="bm90IG1kNQ=="),
                        "InvalidDigest", 400)

    def test_checksums(self):
        s3 = self.s3()
        for alg in ("SHA256", "CRC32", "SHA1"):  # CRC32C needs awscrt in botocore
            r = s3.put_object(Bucket=BUCKET, Key="sum-" + alg, Body=b"checksummed " + alg.encode(), ChecksumAlgorithm=alg)
            self.assertIn("Checksum" + alg, r)
        body = b"payload"
        good = base64.b64encode(hashlib.sha256(body).digest()).decode()
        r = s3.put_object(Bucket=BUCKET, Key="sha-ok", Body=body, ChecksumSHA256=good)
        self.assertEqual(r["ChecksumSHA256"], good)
        wrong = base64.b64encode(hashlib.sha256(b"nope").digest()).decode()
        self.assertCode(lambda: s3.put_object(Bucket=BUCKET, Key="sha-bad", Body=body, ChecksumSHA256=wrong), "BadDigest", 400)
        self.assertCode(lambda: s3.put_object(Bucket=BUCKET, Key="crc-bad", Body=body, ChecksumCRC32="AAAAAA=="), "BadDigest", 400)
        h = s3.head_object(Bucket=BUCKET, Key="sha-ok", ChecksumMode="ENABLED")
        self.assertEqual(h["ChecksumSHA256"], good)

    def test_content_sha256_mismatch(self):
        def swap(p):
            p.body = b"DIFFERENT"
        status, _, body = self.emu.raw("s3", method="PUT", path="/%s/x" % BUCKET, body=b"original!", after_sign=swap)
        self.assertEqual(status, 400)
        self.assertIn(b"<Code>XAmzContentSHA256Mismatch</Code>", body)

    def test_aws_chunked_upload(self):
        payload = b"chunked report data"
        crc = base64.b64encode(__import__("zlib").crc32(payload).to_bytes(4, "big")).decode()
        chunked = b"%x\r\n" % len(payload) + payload + b"\r\n0\r\nx-amz-checksum-crc32:" + crc.encode() + b"\r\n\r\n"
        status, headers, body = self.emu.raw("s3", method="PUT", path="/%s/chunked" % BUCKET, body=chunked, headers={
            "Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": str(len(payload)), "x-amz-trailer": "x-amz-checksum-crc32"})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["x-amz-checksum-crc32"], crc)
        got = self.s3().get_object(Bucket=BUCKET, Key="chunked")["Body"].read()
        self.assertEqual(got, payload)

    def test_list_objects_v2(self):
        s3 = self.s3()
        keys = ["2025-01-01/credentialReport_%d.csv" % i for i in range(5)] + ["2025-01-02/a.csv", "other/x y+z.csv"]
        for k in keys:
            s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
        got, token, pages = [], None, 0
        while True:
            kw = {"Bucket": BUCKET, "Prefix": "2025-", "MaxKeys": 2}
            if token:
                kw["ContinuationToken"] = token
            r = s3.list_objects_v2(**kw)
            pages += 1
            got += [c["Key"] for c in r.get("Contents", [])]
            self.assertEqual(r["KeyCount"], len(r.get("Contents", [])))
            if not r["IsTruncated"]:
                break
            token = r["NextContinuationToken"]
        self.assertEqual(got, sorted(k for k in keys if k.startswith("2025-")))
        self.assertEqual(pages, 3)
        r = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
        self.assertEqual([p["Prefix"] for p in r["CommonPrefixes"]], ["2025-01-01/", "2025-01-02/", "other/"])
        r = s3.list_objects_v2(Bucket=BUCKET, Prefix="other/")
        self.assertEqual(r["Contents"][0]["Key"], "other/x y+z.csv")
        self.assertEqual(r["Contents"][0]["Size"], len("other/x y+z.csv"))
        r = s3.list_objects_v2(Bucket=BUCKET, StartAfter="2025-01-02/a.csv")
        self.assertEqual([c["Key"] for c in r["Contents"]], ["other/x y+z.csv"])

    def test_virtual_host_style(self):
        host = "%s.s3.localhost:%d" % (BUCKET, self.emu.port)
        status, _, body = self.emu.raw("s3", method="PUT", path="/vhost.csv", body=b"vh", host=host)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.s3().get_object(Bucket=BUCKET, Key="vhost.csv")["Body"].read(), b"vh")

    def test_presigned_get(self):
        s3 = self.s3(signature_version="s3v4")
        s3.put_object(Bucket=BUCKET, Key="p/signed.csv", Body=b"presigned!")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "p/signed.csv"}, ExpiresIn=60)
        with urllib.request.urlopen(url, timeout=10) as resp:
            self.assertEqual(resp.read(), b"presigned!")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url.replace("Signature=", "Signature=0"), timeout=10)
        self.assertEqual(cm.exception.code, 403)
