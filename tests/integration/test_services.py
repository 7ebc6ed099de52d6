"""Any AWS service from Lua: the protocols credreport does not use itself (REST-JSON, JSON
1.0), a built-in service with one endpoint (Account Management), services the binary does not
list (Security Hub, SQS) described by the call, and their endpoint settings. Every request is
signed and checked by the emulator with AWS's own JavaScript signer."""
import json

from awscalls import MGMT_KEYS, calls
from harness import check, run_credreport

SQS = {"target_prefix": "AmazonSQS", "json_version": "1.0"}


def rest(service, method, path, body=None, **kw):
    return dict(kind="rest_json", service=service, method=method, path=path, body=body, **kw)


def sqs(action, params):
    return dict(kind="json", service="sqs", action=action, params=params, opts=SQS)


def _finding(n, account="111111111111"):
    return {"SchemaVersion": "2018-10-08", "Id": f"credreport/{account}/check-{n}",
            "ProductArn": f"arn:aws:securityhub:us-east-1:{account}:product/{account}/default",
            "GeneratorId": "credreport", "AwsAccountId": account, "Types": ["Software and Configuration Checks"],
            "CreatedAt": "2026-12-01T00:00:00Z", "UpdatedAt": "2026-12-01T00:00:00Z",
            "Severity": {"Label": "HIGH"}, "Title": f"check {n}", "Description": "from a test",
            "Resources": [{"Type": "AwsAccount", "Id": f"AWS::::Account:{account}"}]}


def test_rest_json_to_a_built_in_service(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    contact = {"AccountId": "222222222222", "AlternateContactType": "SECURITY", "EmailAddress": "sec@example.com",
               "Name": "Security", "PhoneNumber": "+1-555-0100", "Title": "CISO"}
    missing, put, got = calls(ctx, env, [
        rest("account", "POST", "/getAlternateContact",
             {"AccountId": "222222222222", "AlternateContactType": "SECURITY"}),
        rest("account", "POST", "/putAlternateContact", contact),
        rest("account", "POST", "/getAlternateContact",
             {"AccountId": "222222222222", "AlternateContactType": "SECURITY"}),
    ])
    e = missing.get("error", {})
    check(not missing["ok"] and e.get("code") == "ResourceNotFoundException" and e.get("status") == 404
          and e.get("retryable") is False and e.get("service") == "account", f"no contact yet: {missing}")
    check(e.get("action") == "/getAlternateContact" and "ResourceNotFoundException" in e.get("text", ""),
          f"the error names the call: {e}")
    check(put["ok"] and put["result"] == {}, f"an empty answer is an empty table: {put}")
    check(got["ok"] and got["result"]["AlternateContact"]["EmailAddress"] == "sec@example.com", f"{got}")
    reqs = [r for r in emu.requests()["requests"] if r["service"] == "account"]
    check(len(reqs) == 3 and all(r["region"] == "us-east-1" for r in reqs),
          f"Account Management is signed for us-east-1 whatever the region: {reqs}")
    check(all(r["headers"].get("content-type") == "application/json" for r in reqs), f"{reqs}")


def test_a_service_the_binary_does_not_list(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS, AWS_REGION="eu-west-1")
    imported, fetched = calls(ctx, env, [
        rest("securityhub", "POST", "/findings/import", {"Findings": [_finding(1), _finding(2, "999999999999")]}),
        rest("securityhub", "POST", "/findings", {}),
    ])
    check(imported["ok"] and imported["result"]["SuccessCount"] == 1 and imported["result"]["FailedCount"] == 1,
          f"one finding imported, the other account's refused: {imported}")
    check([f["Id"] for f in fetched["result"]["Findings"]] == ["credreport/111111111111/check-1"], f"{fetched}")
    (bad,) = calls(ctx, env, [rest("securityhub", "POST", "/findings/import", {"Findings": []})])
    e = bad.get("error", {})
    check(e.get("code") == "InvalidInputException" and e.get("status") == 400,
          f"Security Hub's Code/Message error body: {bad}")
    reqs = [r for r in emu.requests()["requests"] if r["service"] == "securityhub"]
    check(len(reqs) == 3 and all(r["region"] == "eu-west-1" for r in reqs), f"regional: {reqs}")


def test_json_1_0_with_the_protocol_from_the_call(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    created, sent, received, nosuch = calls(ctx, env, [
        sqs("CreateQueue", {"QueueName": "credreport-failures"}),
        sqs("SendMessage", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/111111111111/credreport-failures",
                            "MessageBody": "account 222222222222 failed"}),
        sqs("ReceiveMessage", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/111111111111/credreport-failures"}),
        sqs("SendMessage", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/111111111111/nothere",
                            "MessageBody": "x"}),
    ])
    check(created["ok"] and created["result"]["QueueUrl"].endswith("/111111111111/credreport-failures"), f"{created}")
    check(sent["ok"] and sent["result"]["MessageId"], f"{sent}")
    check(received["ok"] and received["result"]["Messages"][0]["Body"] == "account 222222222222 failed",
          f"{received}")
    e = nosuch.get("error", {})
    check(e.get("code") == "QueueDoesNotExist", f"the code without its namespace: {nosuch}")
    reqs = [r for r in emu.requests()["requests"] if r["service"] == "sqs"]
    check(reqs and all(r["headers"].get("content-type") == "application/x-amz-json-1.0" and
                       r["headers"]["x-amz-target"].startswith("AmazonSQS.") for r in reqs), f"{reqs}")


def test_endpoint_settings_for_any_service(ctx):
    emu = ctx.emulator()
    closed = "http://127.0.0.1:9"
    # The service's own variable, by the SDKs' naming rule, beats AWS_ENDPOINT_URL.
    env = ctx.aws_env(emu, **MGMT_KEYS, AWS_ENDPOINT_URL=closed, AWS_ENDPOINT_URL_SECURITYHUB=emu.url)
    (ok,) = calls(ctx, env, [rest("securityhub", "POST", "/findings", {})])
    check(ok["ok"], f"AWS_ENDPOINT_URL_SECURITYHUB: {ok}")
    # [endpoints] takes any service id.
    cfg = ctx.tmp / "endpoints.ini"
    cfg.write_text(f"[endpoints]\nsecurityhub = {closed}\nsqs = {emu.url}\n[aws]\nmax_attempts = 1\n")
    env = ctx.aws_env(emu, **MGMT_KEYS, AWS_ENDPOINT_URL=None)
    proc = run_credreport(ctx, ["-c", str(cfg), "run", "tests/lua/calls.lua",
                                '{"calls": [{"kind": "rest_json", "service": "securityhub", "method": "POST",'
                                ' "path": "/findings", "body": {}},'
                                ' {"kind": "json", "service": "sqs", "action": "CreateQueue",'
                                ' "params": {"QueueName": "q"}, "opts": {"target_prefix": "AmazonSQS",'
                                ' "json_version": "1.0"}}]}'], env=env, check_status=0)
    hub, queue = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    check(not hub["ok"] and hub["error"].get("host") == "127.0.0.1:9", f"[endpoints] securityhub: {hub}")
    check(queue["ok"], f"[endpoints] sqs: {queue}")


def test_script_mistakes_are_raised(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    script = ctx.tmp / "mistakes.lua"
    script.write_text("""
local core = require "credreport.core"
local c = assert(core.client())
local function why(f, ...) local ok, err = pcall(f, ...) assert(not ok, "should raise") print(err) end
why(c.query, c, "ec2", "DescribeRegions", {})
why(c.json, c, "sqs", "ListQueues", {})
why(c.json, c, "sqs", "ListQueues", {}, {target_prefix = "AmazonSQS", json_version = "2.0"})
why(c.query, c, "organizations", "ListRoots", {})
why(c.rest_json, c, "iam", "GET", "/")
why(c.rest_json, c, "EC2!", "GET", "/")
why(c.rest_json, c, "account", "POST", "getAlternateContact")
why(c.rest_json, c, "securityhub", "POST", "/findings", {}, {signing_name = ""})
why(c.query, c, "sts", "GetCallerIdentity", {}, {attempts = 0})
why(c.s3, c, "GET", {bucket = "b", attempts = 1.5})
return 0
""")
    proc = run_credreport(ctx, ["run", str(script)], env=env, check_status=0)
    lines = proc.stdout.splitlines()
    for needle in ("opts.version", "opts.target_prefix", "opts.json_version", "organizations speaks json1.1",
                   "iam speaks query", "not a service id", "a path starts with '/'", "opts.signing_name",
                   "opts.attempts"):
        check(any(needle in line for line in lines), f"{needle!r} not in:\n{proc.stdout}")
    check(not emu.requests()["requests"], "nothing was sent")


def test_the_example_workflow_queues_failures(ctx):
    emu = ctx.emulator(faults={"rules": [{"type": "fail", "service": "sts", "action": "AssumeRole",
                                          "target_account": "333333333333", "status": 403,
                                          "code": "AccessDenied", "message": "not allowed"}]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    queue = "https://sqs.us-east-1.amazonaws.com/111111111111/credreport-failures"
    (created,) = calls(ctx, env, [sqs("CreateQueue", {"QueueName": "credreport-failures"})])
    check(created["ok"], f"{created}")
    cfg = ctx.tmp / "config.ini"
    cfg.write_text("[report]\nretry_limit = 40\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.4\n"
                   "[run]\naccount_attempts = 1\n")
    proc = run_credreport(ctx, ["-c", str(cfg), "--output", str(ctx.tmp / "out"), "run",
                                "lua/examples/failures-to-sqs.lua", queue], env=env, check_status=1)
    (q,) = emu.admin("GET", "/sqs/queues")["queues"]
    bodies = [json.loads(m["Body"]) for m in q["messages"]]
    check([b["account"] for b in bodies] == ["333333333333"] and bodies[0]["code"] == "AccessDenied",
          f"one message for the account that failed: {bodies}\n{proc.stderr[-2000:]}")
    check(not [r for r in emu.requests()["requests"] if r["service"] == "sns"], "no SNS instead")
    bad = run_credreport(ctx, ["-c", str(cfg), "run", "lua/examples/failures-to-sqs.lua"], env=env, check_status=2)
    check("usage: failures-to-sqs.lua QUEUE_URL" in bad.stderr, bad.stderr)
