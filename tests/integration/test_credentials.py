"""Credentials from the environment and from the shared files, as the SDKs read them."""
from awscalls import MGMT_KEYS, MGMT_SECRET, calls, q
from harness import check, run_credreport

MEMBER_KEY, MEMBER_SECRET = "AKIAMEMBEREXAMPLE333", "memberSecretKeyExample333333333333333333"


def _identity(ctx, env, **kw):
    (res,) = calls(ctx, env, [q("sts", "GetCallerIdentity")], **kw)
    return res


def test_environment_variables(ctx):
    emu = ctx.emulator()
    res = _identity(ctx, ctx.aws_env(emu, **MGMT_KEYS))
    check(res["ok"] and res["result"]["Arn"] == "arn:aws:iam::111111111111:user/credreport", f"{res}")
    half = ctx.aws_env(emu, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE")
    res = _identity(ctx, half)
    check(not res["ok"] and "AWS_SECRET_ACCESS_KEY" in res["error"]["message"], f"{res}")


def test_wrong_secret_is_rejected_by_the_emulator(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="not-the-secret")
    res = _identity(ctx, env)
    check(not res["ok"] and res["error"]["code"] == "SignatureDoesNotMatch", f"{res}")
    env = ctx.aws_env(emu, AWS_ACCESS_KEY_ID="AKIAUNKNOWN000000000", AWS_SECRET_ACCESS_KEY="x")
    res = _identity(ctx, env)
    check(not res["ok"] and res["error"]["code"] == "InvalidClientTokenId", f"{res}")


def test_profiles_and_role_chains(ctx):
    emu = ctx.emulator()
    creds = ctx.tmp / "credentials"
    config = ctx.tmp / "config"
    creds.write_text(f"""[default]
aws_access_key_id = {MGMT_KEYS['AWS_ACCESS_KEY_ID']}
aws_secret_access_key = {MGMT_SECRET}

[member]
aws_access_key_id = {MEMBER_KEY}
aws_secret_access_key = {MEMBER_SECRET}
""")
    config.write_text("""[default]
region = us-east-1

[profile audit]
role_arn = arn:aws:iam::333333333333:role/OrganizationAccountAccessRole
source_profile = default
role_session_name = nightly-audit

[profile chained]
role_arn = arn:aws:iam::444444444444:role/OrganizationAccountAccessRole
source_profile = audit
""")
    env = ctx.aws_env(emu, AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_CONFIG_FILE=str(config))
    res = _identity(ctx, env)
    check(res["ok"] and res["result"]["Account"] == "111111111111", f"default profile: {res}")
    res = _identity(ctx, dict(env, AWS_PROFILE="member"))
    check(res["ok"] and res["result"]["Account"] == "333333333333", f"AWS_PROFILE=member: {res}")
    res = _identity(ctx, env, client={"profile": "audit"})
    check(res["ok"] and res["result"]["Account"] == "333333333333"
          and "nightly-audit" in res["result"]["Arn"], f"role_arn + source_profile: {res}")
    res = _identity(ctx, env, client={"profile": "chained"})
    check(res["ok"] and res["result"]["Account"] == "444444444444", f"two roles chained: {res}")
    res = _identity(ctx, env, client={"profile": "nosuch"})
    check(not res["ok"] and "nosuch" in res["error"]["message"], f"missing profile named: {res}")
    # Environment keys win over the files.
    res = _identity(ctx, dict(env, AWS_ACCESS_KEY_ID=MEMBER_KEY, AWS_SECRET_ACCESS_KEY=MEMBER_SECRET))
    check(res["ok"] and res["result"]["Account"] == "333333333333", f"environment first: {res}")


def test_no_credentials_says_what_was_tried(ctx):
    emu = ctx.emulator()
    res = _identity(ctx, ctx.aws_env(emu))
    msg = res.get("error", {}).get("message", "")
    check(not res["ok"] and "environment" in msg and "shared" in msg, f"{res}")


def test_malformed_config_names_file_and_line(ctx):
    emu = ctx.emulator()
    creds = ctx.tmp / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = AKIA\nthis line is broken\naws_secret_access_key = {MGMT_SECRET}\n")
    env = ctx.aws_env(emu, AWS_SHARED_CREDENTIALS_FILE=str(creds))
    res = _identity(ctx, env)
    msg = res.get("error", {}).get("message", "")
    check(not res["ok"] and str(creds) in msg and "3" in msg, f"{res}")
    check(MGMT_SECRET not in msg, "the secret is not in the message")


def test_expired_role_credentials_are_fetched_again(ctx):
    """The service, not the clock, says the assumed-role credentials expired (here: the
    emulator's clock moves two hours on): the call fetches new ones and succeeds."""
    import json
    import subprocess
    import time
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    spec = {"role": {"role_arn": "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"},
            "calls": [q("sts", "GetCallerIdentity"), {"kind": "sleep", "seconds": 1.5}, q("sts", "GetCallerIdentity")]}
    proc = subprocess.Popen([ctx.binary, "run", "tests/lua/calls.lua", json.dumps(spec)], cwd=ctx.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                r["action"] == "GetCallerIdentity" for r in emu.requests()["requests"]):
            time.sleep(0.05)
        emu.admin("POST", "/advance", {"seconds": 7200})
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    results = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    check(len(results) == 3 and results[2]["ok"] and results[2]["result"]["Account"] == "333333333333",
          f"{out}\n{err[-2000:]}")
    log = emu.requests()["requests"]
    check(len([r for r in log if r["action"] == "AssumeRole"]) == 2, "the role was assumed again")
    check(any(r.get("error_code") == "ExpiredToken" for r in log), "the emulator refused the old credentials")


KEEP_SCRIPT = """
local core = require "credreport.core"
local cjson = require "cjson"
local base = core.client()
local function role(id) return ("arn:aws:iam::%s:role/OrganizationAccountAccessRole"):format(id) end
local function identity(c)
  local res, err = c:query("sts", "GetCallerIdentity")
  return res and res.Arn or ("error " .. tostring(err))
end
local first = base:assume_role{role_arn = role("333333333333")}
local out = {first = identity(first)}
local kept = first:keep_credentials()
first:close()
out.kept = tostring(kept)
out.own_kept = tostring(base:keep_credentials())
out.other_role = select(2, pcall(base.assume_role, base, {role_arn = role("444444444444"), credentials = kept}))
local turn = base:assume_role{role_arn = role("333333333333"), credentials = kept}
out.turn = identity(turn)
out.after_use = tostring(kept)
local again = base:assume_role{role_arn = role("333333333333"), credentials = kept}
out.again = identity(again)
print(cjson.encode(out))
"""


def test_kept_role_credentials_start_a_later_client_of_the_role(ctx):
    """client:keep_credentials() keeps a role client's credentials for a later assume_role of
    the same role (an account prepared ahead of its turn): that client calls as the role without
    assuming it again, once; the kept value shows no secret and serves no other role."""
    import json
    emu = ctx.emulator()
    script = ctx.tmp / "keep.lua"
    script.write_text(KEEP_SCRIPT)
    proc = run_credreport(ctx, ["run", str(script)], env=ctx.aws_env(emu, **MGMT_KEYS), check_status=0)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    role = "arn:aws:sts::333333333333:assumed-role/OrganizationAccountAccessRole/"
    check(out["first"].startswith(role), f"the first client acts as the role: {out}")
    check(out["kept"] == "credentials kept for arn:aws:iam::333333333333:role/OrganizationAccountAccessRole",
          f"the kept value names its role and nothing more: {out['kept']}")
    check(out["own_kept"] == "nil", f"a client that assumed no role keeps nothing: {out['own_kept']}")
    check("kept for another role" in out["other_role"], f"another role is refused: {out['other_role']}")
    check(out["turn"].startswith(role) and out["again"].startswith(role), f"both later clients act as the role: {out}")
    check(out["after_use"] == "credentials kept for (used)", f"the kept value is used up: {out['after_use']}")
    log = emu.requests()["requests"]
    assumed = [r for r in log if r["action"] == "AssumeRole"]
    check(len(assumed) == 2, f"the role was assumed by the first client and the third, not the second: "
                             f"{len(assumed)} AssumeRole calls")
