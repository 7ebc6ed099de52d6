"""The rest of the SDKs' credential chain, each source against a stand-in that plays its part:
web identity (the emulator's AssumeRoleWithWebIdentity), credential_process (scripts),
container endpoint and EC2 instance metadata (tests/servers/cred_server.py), the error that
lists every source tried, and that no secret reaches any output."""
import json
import os
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from awscalls import MGMT_KEYS, MGMT_SECRET, q
from harness import check, run_credreport, start_server

WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.emulator-test-token.sig"
WEB_ROLE = "arn:aws:iam::111111111111:role/credreport-runner"
RUNNER_ARN = "arn:aws:sts::111111111111:assumed-role/credreport-runner/"


def _run(ctx, env, spec_calls=None, client=None, secrets=()):
    """Runs tests/lua/calls.lua; checks that no secret appears in its output; returns the
    first result."""
    spec = {"calls": spec_calls or [q("sts", "GetCallerIdentity")]}
    if client:
        spec["client"] = client
    proc = run_credreport(ctx, ["run", "tests/lua/calls.lua", json.dumps(spec)], env=env, check_status=0)
    out = proc.stdout + proc.stderr
    for s in (MGMT_SECRET, WEB_TOKEN) + tuple(secrets):
        check(s not in out, f"a secret appeared in the output:\n{out[-3000:]}")
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    check(lines, f"no result:\n{out[-3000:]}")
    return lines[0]


def _temporary_creds(emu):
    """Temporary credentials the emulator accepts (for the container and IMDS stand-ins)."""
    form = urllib.parse.urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                                   "RoleArn": WEB_ROLE, "RoleSessionName": "stand-in",
                                   "WebIdentityToken": WEB_TOKEN}).encode()
    with urllib.request.urlopen(urllib.request.Request(emu.url + "/", data=form), timeout=10) as r:
        root = ET.fromstring(r.read())
    c = {el.tag.split("}")[-1]: el.text for el in root.iter() if el.text and el.text.strip()}
    return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
            "Token": c["SessionToken"], "Expiration": c["Expiration"]}


def _server_log(ctx, name):
    path = ctx.tmp / name
    return [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []


def _ok_as_runner(res, what):
    check(res["ok"] and res["result"]["Arn"].startswith(RUNNER_ARN), f"{what}: {res}")


# ---- web identity ----------------------------------------------------------------------

def test_web_identity_from_environment(ctx):
    emu = ctx.emulator()
    token = ctx.tmp / "token"
    token.write_text(WEB_TOKEN + "\n")
    env = ctx.aws_env(emu, AWS_WEB_IDENTITY_TOKEN_FILE=str(token), AWS_ROLE_ARN=WEB_ROLE,
                      AWS_ROLE_SESSION_NAME="eks-pod")
    res = _run(ctx, env)
    _ok_as_runner(res, "web identity")
    check(res["result"]["Arn"].endswith("/eks-pod"), f"session name: {res}")
    log = [r for r in emu.requests()["requests"] if r.get("action") == "AssumeRoleWithWebIdentity"]
    check(len(log) == 1 and not log[0].get("access_key"), f"one unsigned AssumeRoleWithWebIdentity: {log}")

    # STS could not reach the identity provider in time: a passing failure, retried as the
    # SDKs retry it.
    emu.admin("DELETE", "/requests")
    emu.admin("PUT", "/faults", {"rules": [{"type": "fail", "service": "sts", "action": "AssumeRoleWithWebIdentity",
                                            "count": 1, "status": 400, "code": "IDPCommunicationError"}]})
    _ok_as_runner(_run(ctx, env), "web identity after IDPCommunicationError")
    log = [r["error_code"] for r in emu.requests()["requests"] if r.get("action") == "AssumeRoleWithWebIdentity"]
    check(log == ["IDPCommunicationError", None], f"{log}")
    emu.admin("PUT", "/faults", {"rules": []})

    # A token the emulator does not know: its error, and the token is not echoed.
    token.write_text("not-a-known-token-zzSECRETzz")
    res = _run(ctx, env, secrets=("zzSECRETzz",))
    check(not res["ok"] and res["error"]["code"] == "InvalidIdentityToken"
          and "web identity" in res["error"]["message"], f"{res}")
    # Configured but incomplete: an error, no fall-through to other sources.
    res = _run(ctx, ctx.aws_env(emu, AWS_WEB_IDENTITY_TOKEN_FILE=str(token)))
    check(not res["ok"] and "AWS_ROLE_ARN" in res["error"]["message"], f"{res}")
    res = _run(ctx, dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=str(ctx.tmp / "missing")))
    check(not res["ok"] and "missing" in res["error"]["message"], f"missing token file: {res}")


def test_web_identity_token_is_read_when_fetching(ctx):
    """The token file is read when credentials are fetched, not when the client is made."""
    emu = ctx.emulator()
    token = ctx.tmp / "token"
    script = ctx.tmp / "late_token.lua"
    script.write_text(f"""
local core = require "credreport.core"
local c = assert(core.client())
local f = assert(io.open({json.dumps(str(token))}, "w"))
f:write({json.dumps(WEB_TOKEN)}) f:close()
local res, err = c:query("sts", "GetCallerIdentity")
print(res and res.Arn or ("ERR " .. tostring(err)))
print((c:credentials_info() or {{}}).source)
return 0
""")
    env = ctx.aws_env(emu, AWS_WEB_IDENTITY_TOKEN_FILE=str(token), AWS_ROLE_ARN=WEB_ROLE)
    proc = run_credreport(ctx, ["run", str(script)], env=env, check_status=0)
    check(proc.stdout.startswith(RUNNER_ARN) and "web identity" in proc.stdout,
          proc.stdout + proc.stderr)


def test_web_identity_from_a_profile(ctx):
    emu = ctx.emulator()
    token = ctx.tmp / "token"
    token.write_text(WEB_TOKEN)
    config = ctx.tmp / "config"
    config.write_text(f"""[profile eks]
role_arn = {WEB_ROLE}
web_identity_token_file = {token}
role_session_name = from-profile

[profile member-via-eks]
role_arn = arn:aws:iam::333333333333:role/OrganizationAccountAccessRole
source_profile = eks
external_id = ext-not-checked
duration_seconds = 900
""")
    env = ctx.aws_env(emu, AWS_CONFIG_FILE=str(config))
    res = _run(ctx, dict(env, AWS_PROFILE="eks"))
    _ok_as_runner(res, "profile web identity")
    check(res["result"]["Arn"].endswith("/from-profile"), f"{res}")
    res = _run(ctx, env, client={"profile": "member-via-eks"})
    check(res["ok"] and res["result"]["Account"] == "333333333333", f"role on web identity: {res}")
    assume = [r for r in emu.requests()["requests"] if r.get("action") == "AssumeRole"]
    check(assume and assume[-1]["params"].get("ExternalId") == "ext-not-checked"
          and assume[-1]["params"].get("DurationSeconds") == "900", f"external_id, duration: {assume}")


# ---- credential_process ----------------------------------------------------------------

def _process_script(ctx, name, body):
    path = ctx.tmp / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_credential_process(ctx):
    emu = ctx.emulator()
    ok = _process_script(ctx, "ok.sh", "printf '%s' '" + json.dumps({
        "Version": 1, "AccessKeyId": MGMT_KEYS["AWS_ACCESS_KEY_ID"], "SecretAccessKey": MGMT_SECRET,
        "Expiration": "2099-01-01T00:00:00Z"}) + "'\n")
    fails = _process_script(ctx, "fails.sh", f"echo '{MGMT_SECRET}'\necho 'token zzLEAKEDzz expired' >&2\n"
                                             "echo 'second line' >&2\nexit 3\n")
    badjson = _process_script(ctx, "bad.sh", f"echo '{{\"Version\": 1, \"SecretAccessKey\": \"{MGMT_SECRET}\"'\n")
    v2 = _process_script(ctx, "v2.sh", "echo '" + json.dumps({
        "Version": 2, "AccessKeyId": "AKIA", "SecretAccessKey": MGMT_SECRET}) + "'\n")
    config = ctx.tmp / "config"
    config.write_text(f"""[default]
credential_process = {ok}
[profile fails]
credential_process = {fails} --flag
[profile badjson]
credential_process = {badjson}
[profile v2]
credential_process = {v2}
[profile member]
role_arn = arn:aws:iam::333333333333:role/OrganizationAccountAccessRole
source_profile = default
""")
    env = ctx.aws_env(emu, AWS_CONFIG_FILE=str(config))
    res = _run(ctx, env)
    check(res["ok"] and res["result"]["Account"] == "111111111111", f"process credentials: {res}")
    res = _run(ctx, env, client={"profile": "member"})
    check(res["ok"] and res["result"]["Account"] == "333333333333", f"role on process: {res}")
    # What a failing helper prints may be a token: only its exit status is told.
    res = _run(ctx, env, client={"profile": "fails"}, secrets=("zzLEAKEDzz",))
    msg = res.get("error", {}).get("message", "")
    check(not res["ok"] and "status 3" in msg and "its output is not shown" in msg
          and "second line" not in msg, f"non-zero exit: {res}")
    res = _run(ctx, env, client={"profile": "badjson"})
    check(not res["ok"] and "credential_process" in res["error"]["message"], f"bad JSON: {res}")
    res = _run(ctx, env, client={"profile": "v2"})
    check(not res["ok"] and "Version" in res["error"]["message"], f"Version 2: {res}")


def test_credential_process_does_not_block_its_thread(ctx):
    # The helper waits for a file that another task of the same thread writes after its own
    # call: a helper run that blocked the thread would wait for it until killed (60 s).
    emu = ctx.emulator()
    flag = ctx.tmp / "flag"
    creds = json.dumps({"Version": 1, "AccessKeyId": MGMT_KEYS["AWS_ACCESS_KEY_ID"],
                        "SecretAccessKey": MGMT_SECRET})
    slow = _process_script(ctx, "slow.sh", f"while [ ! -e '{flag}' ]; do sleep 0.02; done\n"
                                           f"printf '%s' '{creds}'\n")
    config = ctx.tmp / "config"
    config.write_text(f"[profile slow]\ncredential_process = {slow}\n")
    script = ctx.tmp / "both.lua"
    script.write_text(f"""
local core = require "credreport.core"
local events = {{}}
local waiting = core.spawn(function()
  local c = assert(core.client{{profile = "slow"}})
  local r, err = c:query("sts", "GetCallerIdentity")
  events[#events + 1] = "helper " .. (r and r.Account or tostring(err))
end)
local other = core.spawn(function()
  local c = assert(core.client{{access_key_id = "{MGMT_KEYS['AWS_ACCESS_KEY_ID']}",
                               secret_access_key = "{MGMT_SECRET}"}})
  local r, err = c:query("sts", "GetCallerIdentity")
  events[#events + 1] = "static " .. (r and r.Account or tostring(err))
  assert(core.write_file("{flag}", ""))
end)
assert(other:join())
assert(waiting:join())
print(table.concat(events, ","))
""")
    env = ctx.aws_env(emu, AWS_CONFIG_FILE=str(config))
    proc = run_credreport(ctx, ["run", str(script)], env=env, check_status=0)
    check(proc.stdout.strip() == "static 111111111111,helper 111111111111",
          f"{proc.stdout}\n{proc.stderr[-2000:]}")


def test_credential_source_environment(ctx):
    emu = ctx.emulator()
    config = ctx.tmp / "config"
    config.write_text("""[profile audit]
role_arn = arn:aws:iam::333333333333:role/OrganizationAccountAccessRole
credential_source = Environment
""")
    env = ctx.aws_env(emu, AWS_CONFIG_FILE=str(config), **MGMT_KEYS)
    res = _run(ctx, env, client={"profile": "audit"})
    check(res["ok"] and res["result"]["Account"] == "333333333333", f"{res}")
    res = _run(ctx, ctx.aws_env(emu, AWS_CONFIG_FILE=str(config)), client={"profile": "audit"})
    check(not res["ok"] and "credential_source Environment" in res["error"]["message"], f"{res}")


# ---- container endpoint ----------------------------------------------------------------

def test_container_answer_too_large(ctx):
    # A credentials endpoint answers with a few hundred bytes: past 64 KB it is not read, and
    # not asked again.
    emu = ctx.emulator()
    creds = dict(_temporary_creds(emu), RoleArn="r" * 100000)
    (ctx.tmp / "creds.json").write_text(json.dumps(creds))
    srv = start_server(ctx, "cred_server.py", "--mode", "container", "--creds", ctx.tmp / "creds.json",
                       "--log", ctx.tmp / "container.log")
    env = ctx.aws_env(emu, AWS_CONTAINER_CREDENTIALS_FULL_URI=srv.url + "/creds")
    res = _run(ctx, env, secrets=(creds["SecretAccessKey"], creds["Token"]))
    check(not res["ok"] and res["error"]["code"] == "CredentialsError"
          and "larger than 65536 bytes" in res["error"]["message"], f"{res}")
    check(len(_server_log(ctx, "container.log")) == 1, "asked once")


def test_container_full_uri(ctx):
    emu = ctx.emulator()
    creds = _temporary_creds(emu)
    (ctx.tmp / "creds.json").write_text(json.dumps(creds))
    srv = start_server(ctx, "cred_server.py", "--mode", "container", "--creds", ctx.tmp / "creds.json",
                       "--log", ctx.tmp / "container.log", "--auth", "Bearer from-file")
    secrets = (creds["SecretAccessKey"], creds["Token"], "Bearer from-file")
    url = srv.url + "/v2/credentials/abc"
    tokfile = ctx.tmp / "auth-token"
    tokfile.write_text("Bearer from-file\n")
    env = ctx.aws_env(emu, AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
                      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(tokfile),
                      AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer loses-to-the-file")
    _ok_as_runner(_run(ctx, env, secrets=secrets), "container with a token file")
    log = _server_log(ctx, "container.log")
    check(len(log) == 1 and log[0]["path"] == "/v2/credentials/abc"
          and log[0]["headers"].get("authorization") == "Bearer from-file", f"{log}")

    # The token from the variable, when there is no file; a wrong one gets the 401.
    env = ctx.aws_env(emu, AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
                      AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer from-file")
    _ok_as_runner(_run(ctx, env, secrets=secrets), "container with a token")
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "Bearer wrong"
    res = _run(ctx, env, secrets=secrets + ("Bearer wrong",))
    check(not res["ok"] and "401" in res["error"]["message"], f"{res}")

    # Plain http only to loopback and the container hosts.
    env = ctx.aws_env(emu, AWS_CONTAINER_CREDENTIALS_FULL_URI="http://10.1.2.3/creds")
    res = _run(ctx, env)
    check(not res["ok"] and "10.1.2.3" in res["error"]["message"]
          and "loopback" in res["error"]["message"], f"{res}")

    # credential_source = EcsContainer under a role.
    config = ctx.tmp / "config"
    config.write_text("""[profile ecs-member]
role_arn = arn:aws:iam::333333333333:role/OrganizationAccountAccessRole
credential_source = EcsContainer
""")
    env = ctx.aws_env(emu, AWS_CONFIG_FILE=str(config), AWS_CONTAINER_CREDENTIALS_FULL_URI=url,
                      AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer from-file")
    res = _run(ctx, env, client={"profile": "ecs-member"}, secrets=secrets)
    check(res["ok"] and res["result"]["Account"] == "333333333333", f"{res}")


# ---- instance metadata -----------------------------------------------------------------

def test_instance_metadata_v2(ctx):
    emu = ctx.emulator()
    creds = _temporary_creds(emu)
    (ctx.tmp / "creds.json").write_text(json.dumps(creds))
    srv = start_server(ctx, "cred_server.py", "--mode", "imds", "--creds", ctx.tmp / "creds.json",
                       "--log", ctx.tmp / "imds.log")
    env = ctx.aws_env(emu, AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=srv.url)
    _ok_as_runner(_run(ctx, env, secrets=(creds["SecretAccessKey"], creds["Token"])), "IMDSv2")
    log = _server_log(ctx, "imds.log")
    base = "/latest/meta-data/iam/security-credentials/"
    check([(r["method"], r["path"]) for r in log] ==
          [("PUT", "/latest/api/token"), ("GET", base), ("GET", base + "credreport-instance-role")],
          f"{log}")
    check(log[0]["headers"].get("x-aws-ec2-metadata-token-ttl-seconds") == "21600", f"{log[0]}")
    check(all(r["headers"].get("x-aws-ec2-metadata-token") for r in log[1:]), f"{log}")


def test_instance_metadata_is_never_asked_through_a_proxy(ctx):
    """Instance metadata is on the instance's own link: a proxy the environment names (for
    plain http, http_proxy) would answer with its own host's credentials or refuse. It is
    asked directly; the proxy here refuses every request, and sees none."""
    emu = ctx.emulator()
    creds = _temporary_creds(emu)
    (ctx.tmp / "creds.json").write_text(json.dumps(creds))
    srv = start_server(ctx, "cred_server.py", "--mode", "imds", "--creds", ctx.tmp / "creds.json",
                       "--log", ctx.tmp / "imds.log")
    proxy = start_server(ctx, "proxy_server.py", "--log", ctx.tmp / "proxy.log")
    env = ctx.aws_env(emu, AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=srv.url,
                      http_proxy=proxy.url, HTTPS_PROXY=proxy.url, ALL_PROXY=proxy.url)
    # The emulator (plain http, which the proxy refuses) by a name NO_PROXY exempts; the
    # instance metadata stand-in by its address, which NO_PROXY does not name.
    env.update(AWS_ENDPOINT_URL=emu.url.replace("127.0.0.1", "localhost"), NO_PROXY="localhost")
    res = _run(ctx, env, secrets=(creds["SecretAccessKey"], creds["Token"]))
    _ok_as_runner(res, "instance metadata with a proxy set")
    check([r["method"] for r in _server_log(ctx, "imds.log")] == ["PUT", "GET", "GET"],
          f"{_server_log(ctx, 'imds.log')}")
    seen = _server_log(ctx, "proxy.log")
    check(not seen, f"the proxy saw: {seen[:5]}")


def test_instance_metadata_v1_fallback(ctx):
    emu = ctx.emulator()
    creds = _temporary_creds(emu)
    (ctx.tmp / "creds.json").write_text(json.dumps(creds))
    srv = start_server(ctx, "cred_server.py", "--mode", "imds", "--no-v2", "--creds",
                       ctx.tmp / "creds.json", "--log", ctx.tmp / "imds.log")
    env = ctx.aws_env(emu, AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=srv.url)
    _ok_as_runner(_run(ctx, env, secrets=(creds["SecretAccessKey"], creds["Token"])), "IMDSv1")
    log = _server_log(ctx, "imds.log")
    check([r["method"] for r in log] == ["PUT", "GET", "GET"]
          and not any(r["headers"].get("x-aws-ec2-metadata-token") for r in log), f"{log}")


# ---- nothing anywhere ------------------------------------------------------------------

def test_no_credentials_lists_every_source(ctx):
    emu = ctx.emulator()
    res = _run(ctx, ctx.aws_env(emu))
    msg = res.get("error", {}).get("message", "")
    for source in ("environment", "web identity", "shared files", "container", "instance metadata"):
        check(source in msg, f"{source!r} not in {msg!r}")
    check("AWS_EC2_METADATA_DISABLED" in msg, msg)

    # Instance metadata that does not answer: the client exists, its first call says why.
    env = ctx.aws_env(emu, AWS_EC2_METADATA_DISABLED=None,
                      AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9")
    res = _run(ctx, env)
    msg = res.get("error", {}).get("message", "")
    check(not res["ok"] and res["error"]["code"] == "NoCredentials", f"{res}")
    for source in ("environment", "web identity", "shared files", "container", "instance metadata"):
        check(source in msg, f"{source!r} not in {msg!r}")
    check("127.0.0.1:9" in msg, msg)
