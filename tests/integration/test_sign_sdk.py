"""core.sign against botocore's signers, on random requests: the Lua signing primitive must
give exactly the headers AWS's Python SDK gives."""
import datetime
import json
import random
import string
import urllib.parse

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import run_credreport, check

FIXED = datetime.datetime(2026, 11, 28, 12, 34, 56)


class _FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return FIXED


def _quote(s):
    return urllib.parse.quote(s, safe="-_.~")


def _random_text(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _random_request(rng, i):
    service = rng.choice(["iam", "sts", "organizations", "sns", "s3", "s3", "execute-api"])
    region = rng.choice(["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1"])
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD"])
    chars = string.ascii_letters + string.digits + " -_.~/!$'()*+,;=@:é中"
    segments = [_random_text(rng, chars.replace("/", ""), 0, 8) for _ in range(rng.randint(0, 4))]
    if service != "s3" and rng.random() < 0.3:
        segments.insert(rng.randrange(len(segments) + 1), rng.choice([".", "..", ""]))
    path = "/" + "/".join(_quote(s) for s in segments)
    pairs = []
    for _ in range(rng.randint(0, 4)):
        k = _random_text(rng, string.ascii_letters + "-_.~ *é", 1, 6)
        v = _random_text(rng, string.ascii_letters + string.digits + " =&/+é", 0, 6)
        pairs.append((_quote(k), _quote(v)))
    presign = rng.choice([None, 900]) if method == "GET" else None
    if presign:
        # botocore's presigner keeps one value per key (it goes through a dict), so repeated
        # keys are compared only in header signing, where botocore follows the spec.
        pairs = list(dict(pairs).items())
    query = "&".join(f"{k}={v}" for k, v in pairs)
    host = rng.choice(["example.amazonaws.com", "127.0.0.1:4566", "bucket.s3.amazonaws.com"])
    url = f"{rng.choice(['https', 'http'])}://{host}{path}" + (f"?{query}" if query else "")
    headers = []
    for _ in range(rng.randint(0, 4)):
        name = rng.choice(["X-Amz-Meta-", "X-Custom-", "Content-Type", "x-amz-acl", "X-Amz-Target",
                           "X-Amz-Content-SHA256"])
        if name.endswith("-"):
            name += _random_text(rng, string.ascii_letters, 1, 5)
        value = _random_text(rng, string.ascii_letters + string.digits + "   :;,/", 1, 12).strip() or "v"
        if name == "X-Amz-Content-SHA256":
            value = "UNSIGNED-PAYLOAD"
        if all(n.lower() != name.lower() for n, _ in headers):
            headers.append((name, value))
    body = _random_text(rng, string.printable, 0, 200) if method in ("POST", "PUT") else ""
    token = _random_text(rng, string.ascii_letters + string.digits + "/+=", 20, 60) if rng.random() < 0.4 else None
    return {
        "id": i, "service": service, "region": region, "method": method, "url": url,
        "headers": [[n, v] for n, v in headers], "body": body,
        "time": FIXED.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "access_key_id": "AKID" + _random_text(rng, string.ascii_uppercase, 16, 16),
        "secret_access_key": _random_text(rng, string.ascii_letters + string.digits + "/+", 40, 40),
        "session_token": token,
        "presign": presign,
    }


def _botocore_sign(r):
    creds = Credentials(r["access_key_id"], r["secret_access_key"], r["session_token"])
    req = AWSRequest(method=r["method"], url=r["url"], data=r["body"].encode(),
                     headers={n: v for n, v in r["headers"]})
    if r["presign"]:
        cls = botocore.auth.S3SigV4QueryAuth if r["service"] == "s3" else botocore.auth.SigV4QueryAuth
        signer = cls(creds, r["service"], r["region"], expires=r["presign"])
    else:
        cls = botocore.auth.S3SigV4Auth if r["service"] == "s3" else botocore.auth.SigV4Auth
        signer = cls(creds, r["service"], r["region"])
    # botocore reads the clock through datetime.datetime (older releases) or through
    # get_current_datetime (newer ones): both are held at FIXED.
    saved = botocore.auth.datetime.datetime, getattr(botocore.auth, "get_current_datetime", None)
    botocore.auth.datetime.datetime = _FixedDatetime
    if saved[1]:
        botocore.auth.get_current_datetime = lambda *a, **kw: FIXED
    try:
        signer.add_auth(req)
    finally:
        botocore.auth.datetime.datetime = saved[0]
        if saved[1]:
            botocore.auth.get_current_datetime = saved[1]
    return req


def test_sign_matches_botocore(ctx):
    rng = random.Random(20261128)
    requests = [_random_request(rng, i) for i in range(2000)]
    path = ctx.tmp / "requests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in requests))
    out = run_credreport(ctx, ["run", "tests/lua/sign_batch.lua", str(path)], check_status=0)
    ours = {}
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        ours[rec["id"]] = rec
    mismatches = []
    for r in requests:
        want = _botocore_sign(r)
        got = ours.get(r["id"])
        if got is None:
            mismatches.append(f"{r['id']}: no result")
            continue
        if r["presign"]:
            want_sig = urllib.parse.parse_qs(urllib.parse.urlsplit(want.url).query)["X-Amz-Signature"][0]
            if got["details"]["signature"] != want_sig:
                mismatches.append(f"{r['id']} presign {r['service']} {r['method']} {r['url']}")
            continue
        # What goes on the wire: the request's own headers with the signer's added on top.
        final = {k.lower(): v for k, v in r["headers"]}
        final.update({k.lower(): v for k, v in got["headers"].items()})
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256"):
            w = want.headers.get(name)
            g = final.get(name.lower())
            if w != g:
                mismatches.append(f"{r['id']} {name}: {r['service']} {r['method']} {r['url']}\n  got  {g}\n  want {w}")
                break
    check(not mismatches, f"{len(mismatches)} of {len(requests)} differ from botocore:\n" + "\n".join(mismatches[:5]))
