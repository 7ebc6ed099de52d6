"""The first hour of an operator: mistakes on the command line and in settings must never run
the wrong thing, a run that cannot work must say so before touching any account, and an
empty or partial scope must not look like success."""
import json
import os

from awscalls import MGMT_KEYS
from harness import check, run_credreport

FAST = "[report]\nretry_limit = 8\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.4\n"


def _config(ctx, text, name="config.ini"):
    path = ctx.tmp / name
    path.write_text(text)
    return str(path)


def test_a_missing_value_never_swallows_the_next_option(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    for args in (["run", "--output", "--dry-run"], ["--region", "--dry-run", "run"], ["run", "-c", "--resume"]):
        proc = run_credreport(ctx, args, env=env, cwd=ctx.tmp)
        check(proc.returncode == 2 and proc.stderr.startswith("credreport: ") and "needs a value" in proc.stderr,
              f"{args}: exit {proc.returncode}\n{proc.stderr}")
    check(not emu.requests()["requests"] and not (ctx.tmp / "--dry-run").exists(), "nothing ran")
    # --opt=value works for every option, before or after the command.
    proc = run_credreport(ctx, ["--output=" + str(ctx.tmp / "out"), "-c", _config(ctx, FAST), "run",
                                "--concurrency=3", "--log-level=warn"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and list((ctx.tmp / "out").rglob("manifest-*.json")), f"{proc.stdout}\n{proc.stderr}")


def test_typos_get_a_suggestion_and_a_clean_error(ctx):
    cases = [(["acounts"], "unknown command 'acounts' (did you mean accounts?)"),
             (["run", "--ouput", "x"], "unknown option --ouput (did you mean --output?)"),
             (["run", "--concurency=4"], "unknown option --concurency=4 (did you mean --concurrency?)"),
             (["accounts", "--format", "xml"], "--format: expected table, json or csv"),
             # beyond what the options keep, a later one is refused rather than dropped
             (["--region=us-east-1"] * 64 + ["--output=/elsewhere", "run"], "too many options")]
    for args, want in cases:
        proc = run_credreport(ctx, args, cwd=ctx.tmp)
        check(proc.returncode == 2 and proc.stderr.startswith("credreport: ") and want in proc.stderr,
              f"{args}: exit {proc.returncode}\n{proc.stderr}")
    proc = run_credreport(ctx, [], cwd=ctx.tmp)
    check(proc.returncode == 2 and "usage:" in proc.stderr, proc.stderr)


def test_scope_that_is_empty_or_partial_is_not_success(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    cfg = _config(ctx, FAST)
    # An id that is not in the organization, next to one that is.
    proc = run_credreport(ctx, ["run", "-c", cfg, "--account", "999999999999", "--account", "333333333333"],
                          env=env, cwd=ctx.tmp)
    check(proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    check("asked for but not processed: 999999999999 (not found in the organization" in proc.stdout, proc.stdout)
    (m,) = [json.loads(p.read_text()) for p in (ctx.tmp / "reports").rglob("manifest-*.json")]
    check(m["requested_not_processed"][0]["id"] == "999999999999" and m["summary"]["delivered"] == 1, f"{m}")
    # A suspended account asked for: named with its state; nothing in scope: status 5.
    proc = run_credreport(ctx, ["run", "-c", cfg, "--account", "555555555555", "--output", str(ctx.tmp / "s")],
                          env=env, cwd=ctx.tmp)
    check(proc.returncode == 5, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    check("555555555555 (state SUSPENDED)" in proc.stdout and "no account is in scope" in proc.stdout, proc.stdout)
    # A tag filter that matches nothing.
    tags = _config(ctx, FAST + "[accounts]\ntags = team=nobody\n", name="tags.ini")
    proc = run_credreport(ctx, ["run", "-c", tags, "--output", str(ctx.tmp / "t")], env=env, cwd=ctx.tmp)
    check(proc.returncode == 5, f"exit {proc.returncode}\n{proc.stdout}")
    proc = run_credreport(ctx, ["accounts", "-c", tags], env=env, cwd=ctx.tmp)
    check(proc.returncode == 5 and "0 account(s) in scope; out of scope: 4 tags" in proc.stdout, proc.stdout)


def test_paths_and_templates_are_checked_before_anything_runs(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    env["HOME"] = str(ctx.tmp / "home")
    os.makedirs(env["HOME"])
    proc = run_credreport(ctx, ["run", "-c", _config(ctx, FAST + "[output]\ndestination = ~/reports\n")],
                          env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and list((ctx.tmp / "home" / "reports").rglob("manifest-*.json"))
          and not (ctx.tmp / "~").exists(), f"~ is the home directory\n{proc.stderr[-1500:]}")
    emu.admin("DELETE", "/requests")
    proc = run_credreport(ctx, ["run", "--output", "~nosuchuser/x"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 2 and "cannot expand '~nosuchuser': no such user" in proc.stderr, proc.stderr)
    for template, why in (("../{account}.csv", "'..'"), ("/abs/{account}.csv", "relative path"),
                          ("{date}/{acount}.csv", "unknown variable {acount}")):
        script = ctx.tmp / "wf.lua"
        script.write_text(f'return require("credreport.workflow").new{{key_template = "{template}"}}\n')
        for args in (["run", str(script)], ["run", "--dry-run", str(script)]):
            proc = run_credreport(ctx, args + ["-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
            check(proc.returncode == 2 and why in proc.stderr and "traceback" not in proc.stderr.lower(),
                  f"{template} {args}: exit {proc.returncode}\n{proc.stderr}")
    check(not [r for r in emu.requests()["requests"] if r["service"] == "iam"], "no account was touched")


def test_a_ca_bundle_from_the_environment_is_checked_like_the_setting(ctx):
    emu = ctx.emulator()
    (ctx.tmp / "empty.pem").write_text("not a certificate\n")
    cases = [(str(ctx.tmp / "missing.pem"), "No such file"), (str(ctx.tmp), "is not a file"),
             (str(ctx.tmp / "empty.pem"), "holds no PEM certificate")]
    for bundle, why in cases:
        for env in (ctx.aws_env(emu, AWS_CA_BUNDLE=bundle, **MGMT_KEYS),):
            proc = run_credreport(ctx, ["accounts"], env=env, cwd=ctx.tmp)
            check(proc.returncode == 2 and "AWS_CA_BUNDLE" in proc.stderr and why in proc.stderr,
                  f"{bundle}: exit {proc.returncode}\n{proc.stderr}")
        proc = run_credreport(ctx, ["accounts", "-c", _config(ctx, f"[aws]\nca_bundle = {bundle}\n", name="ca.ini")],
                              env=ctx.aws_env(emu, **MGMT_KEYS), cwd=ctx.tmp)
        check(proc.returncode == 2 and "ca_bundle" in proc.stderr and why in proc.stderr, proc.stderr)


def test_preflight_fails_before_any_account_and_names_what_failed(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    cases = [
        (["--output", "s3://no-such-bucket-here/x"], "s3://no-such-bucket-here/x", "the bucket does not exist"),
        (["--output", "s3://credreport-reports/x", "-c",
          _config(ctx, FAST + "[output]\nexpected_bucket_owner = 999999999999\n", name="owner.ini")],
         "s3://credreport-reports/x", "must belong to 999999999999"),
        (["-c", _config(ctx, FAST + "[notify]\nsns_topic_arn = arn:aws:sns:us-east-1:222222222222:nope\n",
                        name="topic.ini")], "arn:aws:sns:us-east-1:222222222222:nope", "the topic does not exist"),
    ]
    for args, resource, why in cases:
        for mode in ([], ["--dry-run"]):
            proc = run_credreport(ctx, ["run"] + mode + args, env=env, cwd=ctx.tmp)
            check(proc.returncode == 3 and f"cannot start: {resource}" in proc.stderr and why in proc.stderr,
                  f"{args} {mode}: exit {proc.returncode}\n{proc.stderr}")
    locked = ctx.tmp / "ro"
    locked.mkdir()
    os.chmod(locked, 0o500)
    if os.geteuid() != 0:  # root can write anywhere
        proc = run_credreport(ctx, ["run", "--output", str(locked / "r")], env=env, cwd=ctx.tmp)
        check(proc.returncode == 3 and "the folder can be written" in proc.stderr, proc.stderr)
    touched = [r for r in emu.requests()["requests"] if r["service"] == "iam" or r["action"] == "AssumeRole"]
    check(not touched, f"no account was touched: {[r['action'] for r in touched]}")
    # The dry run shows where reports would go and how many would be collected.
    proc = run_credreport(ctx, ["run", "--dry-run", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and "destination: ./reports" in proc.stdout
          and "4 account(s) in scope, 4 to collect, 0 already delivered today" in proc.stdout, proc.stdout)


def test_the_preflight_checks_go_out_together_and_bad_keys_are_named_by_the_identity_check(ctx):
    """The identity, the bucket and the topic are checked at once: STS takes 0.5 s to answer,
    and the other two checks reach the emulator before it has. With keys no one knows, every
    check fails, and the one reported is the identity's, which says why."""
    emu = ctx.emulator(faults={"rules": [{"type": "latency", "service": "sts", "action": "GetCallerIdentity",
                                          "ms": 500}]})
    cfg = _config(ctx, FAST + "[notify]\nsns_topic_arn = arn:aws:sns:us-east-1:111111111111:credreport-local\n")
    out = ["--output", "s3://credreport-reports/x"]
    proc = run_credreport(ctx, ["run", "--dry-run", "-c", cfg] + out, env=ctx.aws_env(emu, **MGMT_KEYS), cwd=ctx.tmp)
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr}")
    log = {r["action"]: r for r in emu.requests()["requests"]}
    identity = log["GetCallerIdentity"]
    answered = _seconds(identity["time"]) + identity["duration_ms"] / 1000
    for action in ("GetBucketLocation", "GetTopicAttributes"):
        check(_seconds(log[action]["time"]) < answered, f"{action} waited for the identity: {[(a, r['time']) for a, r in log.items()]}")
    proc = run_credreport(ctx, ["run", "-c", cfg] + out, cwd=ctx.tmp,
                          env=ctx.aws_env(emu, AWS_ACCESS_KEY_ID="AKIAUNKNOWN000000000", AWS_SECRET_ACCESS_KEY="x"))
    check(proc.returncode == 3 and "cannot start: the run's credentials: caller identity" in proc.stderr
          and "InvalidClientTokenId" in proc.stderr, f"exit {proc.returncode}\n{proc.stderr}")


def _seconds(iso):
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_diagnostics_an_operator_can_act_on(ctx):
    emu = ctx.emulator(faults={"rules": [{"type": "error", "service": "iam", "action": "GetCredentialReport",
                                          "count": 1, "status": 503, "code": "ServiceUnavailable"}]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    cfg = _config(ctx, FAST)
    proc = run_credreport(ctx, ["run", "-v", "-c", cfg], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-2000:]}")
    for line in ("DEBUG endpoint endpoint=http://127.0.0.1:", "DEBUG retrying", "code=ServiceUnavailable",
                 "DEBUG credentials received", "DEBUG report not ready",
                 "INFO running as arn:aws:iam::111111111111:user/credreport", "credentials=environment"):
        check(line in proc.stderr, f"-v shows {line!r}:\n{proc.stderr[-3000:]}")
    proc = run_credreport(ctx, ["run", "-q", "-c", cfg], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and " INFO " not in proc.stderr and " DEBUG " not in proc.stderr, proc.stderr)
    # JSON: every line carries the run id; the run starts and finishes with events; numbers
    # are numbers.
    proc = run_credreport(ctx, ["run", "--log-format", "json", "-c", cfg], env=env, cwd=ctx.tmp)
    lines = [json.loads(l) for l in proc.stderr.splitlines()]
    run_id = proc.stdout.split()[2].rstrip(":")
    check(lines and all(l.get("run_id") == run_id for l in lines), f"run_id on every line: {lines[:3]}")
    events = {l.get("event"): l for l in lines if l.get("event")}
    check(set(events) == {"run_started", "run_finished"} and events["run_finished"]["status"] == 0
          and events["run_finished"]["in_scope"] == 4, f"{events}")
    delivered = [l for l in lines if l["msg"] == "delivered"]
    check(delivered and all(isinstance(l["seconds"], (int, float)) for l in delivered), f"{delivered[:1]}")


def test_errors_name_what_failed_with_a_hint(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    # AssumeRole refused: the member role is named, with where to look.
    proc = run_credreport(ctx, ["run", "-c", _config(ctx, FAST + "[accounts]\nrole_name = NoSuchRole\n")],
                          env=env, cwd=ctx.tmp)
    check(proc.returncode == 1 and "is the member role NoSuchRole deployed in this account" in proc.stdout
          and "docs/deploy.md" in proc.stdout, proc.stdout)
    # A missing OU is named.
    proc = run_credreport(ctx, ["accounts", "--ou", "ou-ex12-nothere1"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 3 and "the OU or root ou-ex12-nothere1 does not exist" in proc.stderr, proc.stderr)
    # A failed call names the call and the endpoint.
    emu.admin("PUT", "/faults", {"rules": [{"type": "fail", "service": "s3", "action": "PutObject",
                                            "status": 403, "code": "AccessDenied", "message": "no"}]})
    proc = run_credreport(ctx, ["run", "--output", "s3://credreport-reports/x", "-c", _config(ctx, FAST)],
                          env=env, cwd=ctx.tmp)
    check(proc.returncode == 1 and "AccessDenied: no (s3 PUT on 127.0.0.1:" in proc.stdout, proc.stdout)


def test_a_tls_failure_says_which_ca_store_was_used(ctx):
    tls = ctx.test_ca()
    emu = ctx.emulator(tls=tls)
    other = ctx.tmp / "other-ca"
    other.mkdir()
    import subprocess
    subprocess.run([str(ctx.root / "tests/emulator/mkca"), str(other)], check=True, capture_output=True)
    env = ctx.aws_env(emu, AWS_CA_BUNDLE=str(other / "ca.pem"), **MGMT_KEYS)
    proc = run_credreport(ctx, ["accounts"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 3 and "CertificateError" in proc.stderr
          and "CA certificates from AWS_CA_BUNDLE, " + str(other / "ca.pem") in proc.stderr
          and "to trust another CA" in proc.stderr, f"exit {proc.returncode}\n{proc.stderr}")


def test_one_self_contained_binary_that_a_lua_directory_overrides(ctx):
    import shutil
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    env.pop("CREDREPORT_LUA_DIR", None)
    alone = ctx.tmp / "bin" / "credreport"
    alone.parent.mkdir()
    shutil.copy(ctx.binary, alone)
    ctx.binary = str(alone)
    proc = run_credreport(ctx, ["lua-path"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and "Lua directory: none" in proc.stdout
          and "credreport/workflow.lua" in proc.stdout and "built into the binary" in proc.stdout, proc.stdout)
    proc = run_credreport(ctx, ["run", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and "4 delivered" in proc.stdout, f"a copied binary runs:\n{proc.stdout}\n{proc.stderr[-1500:]}")
    # A directory of the operator's wins, module by module.
    lua = ctx.tmp / "mylua" / "credreport"
    lua.mkdir(parents=True)
    notify = (ctx.root / "lua" / "credreport" / "notify.lua").read_text()
    (lua / "notify.lua").write_text('io.stderr:write("OPERATOR NOTIFY LOADED\\n")\n' + notify)
    env["CREDREPORT_LUA_DIR"] = str(ctx.tmp / "mylua")
    proc = run_credreport(ctx, ["lua-path"], env=env, cwd=ctx.tmp)
    check(f"credreport/notify.lua" in proc.stdout and str(lua / "notify.lua") in proc.stdout
          and "credreport/workflow.lua" in proc.stdout, proc.stdout)
    proc = run_credreport(ctx, ["accounts"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and "OPERATOR NOTIFY LOADED" in proc.stderr, proc.stderr)
