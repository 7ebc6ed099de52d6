"""Every protocol against the emulator, over real HTTP, with signatures checked by AWS's own
JavaScript signer."""
import base64

from awscalls import MGMT_KEYS, calls, j, q, s3
from harness import check

ROLE = "arn:aws:iam::{}:role/OrganizationAccountAccessRole"


def test_query_and_json_protocols(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    ident, roots, desc = calls(ctx, env, [q("sts", "GetCallerIdentity"), j("ListRoots"), j("DescribeOrganization")])
    check(ident["ok"] and ident["result"]["Account"] == "111111111111", f"GetCallerIdentity: {ident}")
    check(ident["meta"]["attempts"] == 1 and ident["meta"].get("request_id"), f"meta: {ident['meta']}")
    check(roots["ok"] and roots["result"]["Roots"][0]["Id"] == "r-ex12", f"ListRoots: {roots}")
    check(desc["ok"] and desc["result"]["Organization"]["MasterAccountId"] == "111111111111", f"{desc}")


def test_organizations_paging_collects_every_account(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    ids, token, pages = [], None, 0
    while True:
        params = {"MaxResults": 2}
        if token:
            params["NextToken"] = token
        (page,) = calls(ctx, env, [j("ListAccounts", params)])
        check(page["ok"], f"ListAccounts: {page}")
        ids += [a["Id"] for a in page["result"]["Accounts"]]
        pages += 1
        token = page["result"].get("NextToken")
        if not token:
            break
    check(sorted(ids) == sorted(set(ids)) and len(ids) == 6, f"accounts: {ids}")
    check(pages == 3, f"{pages} pages")


def test_errors_have_one_shape(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    json_err, query_err, s3_err = calls(ctx, env, [
        j("ListAccountsForParent", {"ParentId": "ou-ex12-nothere0"}),
        q("iam", "GetCredentialReport"),
        s3("GET", bucket="no-such-bucket-here", key="x"),
    ])
    for res, code, status in ((json_err, "ParentNotFoundException", 400),
                              (query_err, "ReportNotPresent", 410),
                              (s3_err, "NoSuchBucket", 404)):
        e = res.get("error", {})
        check(not res["ok"] and e.get("code") == code and e.get("status") == status,
              f"expected {code} {status}: {res}")
        check(e.get("retryable") is False and e.get("attempts") == 1 and e.get("request_id"),
              f"not retried, with a request id: {e}")
        check(code in e.get("text", "") and str(status) in e["text"], f"tostring: {e.get('text')}")


def test_assumed_role_acts_in_the_member_account(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    ident, gen = calls(ctx, env, [q("sts", "GetCallerIdentity"), q("iam", "GenerateCredentialReport")],
                       role={"role_arn": ROLE.format("333333333333"), "session_name": "credreport-test"})
    check(ident["ok"] and ident["result"]["Account"] == "333333333333", f"{ident}")
    check(gen["ok"] and gen["result"]["State"] in ("STARTED", "INPROGRESS", "COMPLETE"), f"{gen}")
    log = emu.requests()["requests"]
    assume = [r for r in log if r["action"] == "AssumeRole"]
    check(len(assume) == 1, f"one AssumeRole for two calls, got {len(assume)}")
    gens = [r for r in log if r["action"] == "GenerateCredentialReport"]
    check(gens and gens[0]["account"] == "333333333333", f"IAM call ran in {gens and gens[0]['account']}")


def test_missing_role_fails_with_access_denied(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    (res,) = calls(ctx, env, [q("iam", "GenerateCredentialReport")],
                   role={"role_arn": ROLE.format("111111111111")})
    e = res.get("error", {})
    check(not res["ok"] and e.get("code") == "AccessDenied" and e.get("status") == 403, f"{res}")
    check("OrganizationAccountAccessRole" in e.get("message", ""), f"message names the role: {e}")


def test_credential_report_round_trip(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    role = {"role_arn": ROLE.format("222222222222")}
    (gen,) = calls(ctx, env, [q("iam", "GenerateCredentialReport")], role=role)
    check(gen["ok"], f"{gen}")
    emu.admin("POST", "/advance", {"seconds": 60})
    gen2, got = calls(ctx, env, [q("iam", "GenerateCredentialReport"), q("iam", "GetCredentialReport")], role=role)
    check(gen2["result"]["State"] == "COMPLETE", f"{gen2}")
    csv = base64.b64decode(got["result"]["Content"])
    want = emu.admin("GET", "/reports/222222222222", raw=True)
    check(csv == want, f"report differs from the emulator's:\n{csv[:300]!r}\n{want[:300]!r}")
    check(csv.startswith(b"user,arn,user_creation_time,password_enabled"), f"{csv[:80]!r}")


def test_sns_publish(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    topic = "arn:aws:sns:us-east-1:222222222222:credreport-alerts"
    ok, bad = calls(ctx, env, [
        q("sns", "Publish", {"TopicArn": topic, "Subject": "credreport: 1 account failed",
                             "Message": "account 333333333333: AccessDenied & <more>",
                             "MessageAttributes.entry.1.Name": "run_id",
                             "MessageAttributes.entry.1.Value.DataType": "String",
                             "MessageAttributes.entry.1.Value.StringValue": "run-1"}),
        q("sns", "Publish", {"TopicArn": topic + "-nope", "Message": "x"}),
    ])
    check(ok["ok"] and ok["result"]["MessageId"], f"{ok}")
    check(not bad["ok"] and bad["error"]["code"] == "NotFound", f"{bad}")
    msgs = emu.admin("GET", "/sns/messages")["messages"]
    check(len(msgs) == 1 and msgs[0]["message"] == "account 333333333333: AccessDenied & <more>", f"{msgs}")


def test_s3_put_get_head_list(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    body = "user,arn\n<root_account>,arn:aws:iam::333333333333:root\n"
    digest = base64.b64encode(__import__("hashlib").sha256(body.encode()).digest()).decode()
    headers = {"x-amz-server-side-encryption": "aws:kms",
               "x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:222222222222:key/abc",
               "x-amz-expected-bucket-owner": "222222222222",
               "x-amz-acl": "bucket-owner-full-control",
               "x-amz-checksum-sha256": digest, "Content-Type": "text/csv"}
    put, get, head, lst, wrong_owner, bad_sum = calls(ctx, env, [
        s3("PUT", bucket="credreport-reports", key="2026-11-28/credentialReport_333333333333.csv",
           body=body, headers=headers),
        s3("GET", bucket="credreport-reports", key="2026-11-28/credentialReport_333333333333.csv"),
        s3("HEAD", bucket="credreport-reports", key="2026-11-28/credentialReport_333333333333.csv"),
        s3("GET", bucket="credreport-reports", query="list-type=2&prefix=2026-11-28%2F"),
        s3("PUT", bucket="credreport-reports", key="x.csv", body="x",
           headers={"x-amz-expected-bucket-owner": "999999999999"}),
        s3("PUT", bucket="credreport-reports", key="y.csv", body="tampered",
           headers={"x-amz-checksum-sha256": digest}),
    ])
    check(put["ok"] and put["result"]["status"] == 200 and put["result"]["headers"].get("etag"), f"{put}")
    check(get["ok"] and get["result"]["body"] == body, f"{get}")
    check(head["ok"] and head["result"]["headers"].get("content-length") == str(len(body)), f"{head}")
    check(lst["ok"] and "credentialReport_333333333333.csv" in lst["result"]["body"], f"{lst}")
    check(not wrong_owner["ok"] and wrong_owner["error"]["code"] == "AccessDenied", f"{wrong_owner}")
    # The signature carries the checksum's hash as the payload's: S3 refuses the body for it.
    check(not bad_sum["ok"] and bad_sum["error"]["code"] == "XAmzContentSHA256Mismatch", f"{bad_sum}")
    objs = emu.admin("GET", "/s3/objects?bucket=credreport-reports")["objects"]
    o = [o for o in objs if o["key"].endswith("333333333333.csv")]
    check(o and o[0]["sse"] == "aws:kms" and o[0]["kms_key_id"].endswith("key/abc") and o[0]["acl"] == "bucket-owner-full-control",
          f"stored object: {o}")


def test_one_handle_serves_requests_of_every_shape_in_turn(ctx):
    """Requests one after the other on one thread reuse one curl handle: what a request set
    (a body from a file, a string body, HEAD) must not carry over into the next."""
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    path = ctx.tmp / "findings.jsonl"
    path.write_text('{"a": 1}\n')
    key = "2026-11-28/findings.jsonl"
    results = calls(ctx, env, [
        s3("PUT", bucket="credreport-reports", key=key, body_file=str(path)),
        s3("HEAD", bucket="credreport-reports", key=key),
        s3("GET", bucket="credreport-reports", key=key),
        q("sts", "GetCallerIdentity"),
        s3("PUT", bucket="credreport-reports", key="b.txt", body="b"),
        s3("GET", bucket="credreport-reports", key="b.txt"),
        s3("HEAD", bucket="credreport-reports", key="b.txt"),
        q("sts", "GetCallerIdentity"),
    ])
    check(all(r["ok"] for r in results), f"{[r for r in results if not r['ok']]}")
    check(results[2]["result"]["body"] == '{"a": 1}\n' and results[5]["result"]["body"] == "b",
          f"the bodies read back: {results[2]} {results[5]}")
    check(results[1]["result"]["headers"].get("content-length") == "9", f"{results[1]}")
    log = [(r["method"], r["action"]) for r in emu.requests()["requests"]]
    check(log == [("PUT", "PutObject"), ("HEAD", "HeadObject"), ("GET", "GetObject"), ("POST", "GetCallerIdentity"),
                  ("PUT", "PutObject"), ("GET", "GetObject"), ("HEAD", "HeadObject"), ("POST", "GetCallerIdentity")],
          f"each request went as asked: {log}")


def test_many_requests_in_flight_on_one_thread(ctx):
    emu = ctx.emulator(faults={"rules": [{"type": "latency", "service": "sts", "min_ms": 200, "max_ms": 200}]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    (res,) = calls(ctx, env, [dict(q("sts", "GetCallerIdentity"), concurrent=100)])
    results = res["results"]
    check(len(results) == 100 and all(r["ok"] for r in results), f"{[r for r in results if not r['ok']][:2]}")
    log = emu.requests()["requests"]
    # 100 calls of 200 ms each, all in flight together: they overlap instead of queueing.
    starts = sorted(r["time"] for r in log if r["action"] == "GetCallerIdentity")
    check(len(starts) == 100, f"{len(starts)} requests logged")


def test_s3_bucket_in_another_region(ctx):
    """S3 names the bucket's region when asked in the wrong one: the request is signed again
    for it, and later requests for that bucket go there at once."""
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    first, second = calls(ctx, env, [s3("PUT", bucket="credreport-reports-eu", key="a.csv", body="a"),
                                     s3("PUT", bucket="credreport-reports-eu", key="b.csv", body="b")])
    check(first["ok"] and second["ok"], f"{first} {second}")
    log = [(r["status"], r.get("region")) for r in emu.requests()["requests"] if r["service"] == "s3"]
    check(log == [(400, "us-east-1"), (200, "eu-west-1"), (200, "eu-west-1")], f"{log}")
