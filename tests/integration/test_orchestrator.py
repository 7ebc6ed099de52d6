"""credreport run: the bundled workflows over a generated organization, against the emulator."""
import datetime
import json
import os
import stat

from harness import check, run_credreport
from orgs import FAST, active_ids, generate, keys_for, subtree


def _run(ctx, emu, fixture, config="", args=(), command="run", status=None, env_extra=None):
    cfg = ctx.tmp / "config.ini"
    cfg.write_text(config)
    env = ctx.aws_env(emu, **keys_for(fixture))
    env.update(env_extra or {})
    return run_credreport(ctx, [command, "-c", str(cfg)] + list(args), env=env, check_status=status,
                          cwd=ctx.tmp)


def _today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def test_whole_organization_to_s3_with_failures_notified(ctx):
    path, fx = generate(ctx, accounts=60, seed=7, depth=3, suspended=3, pending_closure=2, closed=2,
                        role_missing=3, never_complete=1, min_delay_ms=50, max_delay_ms=400, empty_pages=True)
    bucket = fx["buckets"][0]
    topic = fx["topics"][0]["arn"]
    emu = ctx.emulator(path, faults={"seed": 3, "rules": [
        {"type": "throttle", "service": "organizations", "rps": 40, "burst": 10},
        {"type": "throttle", "service": "iam", "action": "GenerateCredentialReport", "rps": 60, "burst": 20},
        {"type": "error", "service": "iam", "action": "GetCredentialReport", "probability": 0.15},
        {"type": "error", "service": "sts", "action": "AssumeRole", "probability": 0.1},
        {"type": "error", "service": "s3", "probability": 0.1, "status": 503, "code": "SlowDown"},
        # More failures than the 4 notifications' 8 attempts each: they wait for SNS.
        {"type": "error", "service": "sns", "action": "Publish", "status": 500, "count": 40},
    ]})
    kms = "arn:aws:kms:us-east-1:%s:key/1234abcd-12ab-34cd-56ef-1234567890ab" % bucket["owner"]
    config = FAST + f"""
[aws]
max_attempts = 8
[run]
concurrency = 25
[output]
destination = s3://{bucket['name']}/credreport
sse = aws:kms
kms_key_id = {kms}
expected_bucket_owner = {bucket['owner']}
acl = bucket-owner-full-control
[notify]
sns_topic_arn = {topic}
"""
    proc = _run(ctx, emu, fx, config)
    check(proc.returncode == 1, f"exit {proc.returncode} (some accounts fail)\n{proc.stdout}\n{proc.stderr[-3000:]}")

    mgmt = fx["management_account_id"]
    in_scope = active_ids(fx)
    bad_role = {a["id"] for a in fx["accounts"] if a.get("role_missing") and a["id"] != mgmt and a["state"] == "ACTIVE"}
    never = {a["id"] for a in fx["accounts"] if a.get("report_never_completes") and a["state"] == "ACTIVE"} - bad_role
    expect_failed = bad_role | never
    expect_delivered = set(in_scope) - expect_failed

    objects = {o["key"]: o for o in emu.admin("GET", f"/s3/objects?bucket={bucket['name']}")["objects"]}
    # The run's date, not today's: a run that crosses midnight (UTC) files under the day it began.
    day = next(k.split("/")[1] for k in objects if "/manifest-" in k)
    for acct in sorted(expect_delivered):
        key = f"credreport/{day}/credentialReport_{acct}.csv"
        o = objects.get(key)
        check(o is not None, f"{acct}: no report at {key}")
        body = emu.admin("GET", f"/s3/object?bucket={bucket['name']}&key={key}", raw=True)
        want = emu.admin("GET", f"/reports/{acct}", raw=True)
        check(body == want, f"{acct}: the report in S3 differs from the emulator's")
        check(o["sse"] == "aws:kms" and o["kms_key_id"] == kms and o["acl"] == "bucket-owner-full-control",
              f"{acct}: headers as configured: {o['sse']} {o['kms_key_id']} {o['acl']}")
        check(o["headers"].get("x-amz-expected-bucket-owner") == bucket["owner"], f"{acct}: expected owner sent")
        check(o["checksums"].get("sha256") or o["headers"].get("x-amz-checksum-sha256"), f"{acct}: checksum sent")
    reports = [k for k in objects if "credentialReport_" in k]
    check(len(reports) == len(expect_delivered), f"{len(reports)} reports for {len(expect_delivered)} delivered")

    manifests = [k for k in objects if "/manifest-" in k]
    check(len(manifests) == 1 and manifests[0].startswith(f"credreport/{day}/"), f"manifest: {manifests}")
    m = json.loads(emu.admin("GET", f"/s3/object?bucket={bucket['name']}&key={manifests[0]}", raw=True))
    rows = {r["id"]: r for r in m["accounts"]}
    check(sorted(rows) == in_scope, f"the manifest lists every account in scope: {len(rows)} vs {len(in_scope)}")
    check({i for i, r in rows.items() if r["status"] == "failed"} == expect_failed,
          f"failed: {sorted(i for i, r in rows.items() if r['status'] == 'failed')} want {sorted(expect_failed)}")
    for acct in bad_role:
        check(rows[acct]["error"]["code"] == "AccessDenied", f"{acct}: {rows[acct]}")
    for acct in never:
        check(rows[acct]["error"]["code"] == "ReportNotReady", f"{acct}: {rows[acct]}")
    check(m["summary"] == {"in_scope": len(in_scope), "delivered": len(expect_delivered), "failed": len(expect_failed), "skipped": 0},
          f"summary {m['summary']}")

    msgs = emu.admin("GET", "/sns/messages")["messages"]
    notified = {}
    for msg in msgs:
        for acct in expect_failed:
            if acct in msg["message"]:
                notified[acct] = msg
    check(set(notified) == expect_failed and len(msgs) == len(expect_failed), f"SNS: {len(msgs)} messages for {sorted(notified)}")
    check("publishing to SNS failed; trying again" in proc.stderr, proc.stderr[-3000:])
    for acct, msg in notified.items():
        check(rows[acct]["error"]["code"] in msg["message"] and m["run_id"] in msg["message"],
              f"{acct}: the message names the reason and the run: {msg['message']}")

    log = emu.requests()["requests"]
    out_of_scope = {a["id"] for a in fx["accounts"] if a["state"] != "ACTIVE"}
    touched = {r.get("account") for r in log if r["service"] == "iam"}
    check(not (touched & out_of_scope), f"suspended/closed accounts touched: {touched & out_of_scope}")
    check(not any(r["action"] == "AssumeRole" and mgmt in str(r.get("params", "")) for r in log),
          "the management account is processed with the caller's own credentials")
    check(any(r.get("fault") for r in log), "faults were injected")
    check(f"{len(expect_failed)} failed" in proc.stdout and manifests[0] in proc.stdout, f"summary:\n{proc.stdout}")


def test_ou_workflow_touches_only_its_subtree(ctx):
    path, fx = generate(ctx, accounts=40, seed=11, depth=3, min_delay_ms=20, max_delay_ms=80,
                        role_missing=0, never_complete=0)
    emu = ctx.emulator(path)
    top = [ou for ou in fx["organizational_units"] if ou["parent"] == fx["root_id"]]
    ou = max(top, key=lambda o: len(subtree(fx, o["id"])[1]))
    ous, accounts = subtree(fx, ou["id"])
    active = {a["id"] for a in fx["accounts"] if a["id"] in accounts and a["state"] == "ACTIVE"}
    proc = _run(ctx, emu, fx, FAST, ["lua/workflows/ou.lua".replace("lua/", str(ctx.root / "lua") + "/"), "--ou", ou["id"]])
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-2000:]}")
    log = emu.requests()["requests"]
    parents = {json.loads(r["params"]).get("ParentId") if isinstance(r.get("params"), str) else (r.get("params") or {}).get("ParentId")
               for r in log if r["service"] == "organizations"}
    parents.discard(None)
    check(parents and parents <= ous, f"listed outside the subtree: {parents - ous}")
    check(not any(r["action"] == "ListRoots" or r["action"] == "ListAccounts" for r in log), "no organization-wide listing")
    iam_accounts = {r.get("account") for r in log if r["service"] == "iam"}
    check(iam_accounts and iam_accounts <= accounts, f"IAM calls outside the subtree: {iam_accounts - accounts}")
    files = [p for p in (ctx.tmp / "reports").rglob("credentialReport_*.csv")]
    check({p.name[len('credentialReport_'):-4] for p in files} == active, f"reports: {len(files)} for {len(active)}")
    check(all(ou["name"] in str(p) for p in files), f"reports under the OU path: {files[:2]}")


def test_retry_limit_and_wait_interval_change_without_rebuild(ctx):
    path, fx = generate(ctx, accounts=5, seed=5, never_complete=1, role_missing=0, min_delay_ms=10, max_delay_ms=20)
    never = next(a["id"] for a in fx["accounts"] if a.get("report_never_completes"))
    emu = ctx.emulator(path)

    def generate_calls():  # each check is one call: GenerateCredentialReport, then GetCredentialReport
        return [r for r in emu.requests()["requests"]
                if r["action"] in ("GenerateCredentialReport", "GetCredentialReport") and r.get("account") == never]

    for limit in (3, 5):
        emu.admin("DELETE", "/requests")
        proc = _run(ctx, emu, fx, f"[report]\nretry_limit = {limit}\nwait_interval = 0.3\n", ["--account", never])
        check(proc.returncode == 1, f"exit {proc.returncode}: {proc.stderr[-1000:]}")
        calls = generate_calls()
        check(len(calls) == limit, f"retry_limit {limit} in config.ini: {len(calls)} checks")
        gaps = [b["time"] - a["time"] for a, b in zip(calls, calls[1:])] if isinstance(calls[0]["time"], (int, float)) else []
        if gaps:
            check(min(gaps) >= 250, f"wait_interval 0.3 s: gaps {gaps}")
    # The same from Lua: a script's policy wins over config.ini.
    script = ctx.tmp / "custom.lua"
    script.write_text('return require("credreport.workflow").new{report = {retry_limit = 2, wait_interval = 0.05}}\n')
    emu.admin("DELETE", "/requests")
    _run(ctx, emu, fx, "[report]\nretry_limit = 9\n", [str(script), "--account", never], status=1)
    check(len(generate_calls()) == 2, f"retry_limit 2 from Lua: {len(generate_calls())} checks")


def test_reports_not_ready_by_their_documented_names_are_waited_for(ctx):
    """IAM sends ReportInProgress, ReportNotPresent and ReportExpired; its API reference names
    them CredentialReportNotReady, CredentialReportNotPresent and CredentialReportExpired, and
    the SDKs add "Exception". An endpoint that answers with those names is saying "not yet"
    as well: each account is waited for, asked again, and delivered."""
    path, fx = generate(ctx, accounts=8, seed=31, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=100, max_delay_ms=300)
    names = [(404, "CredentialReportNotReady"), (404, "CredentialReportNotReadyException"),
             (410, "CredentialReportNotPresent"), (410, "CredentialReportNotPresentException"),
             (410, "CredentialReportExpired"), (410, "CredentialReportExpiredException")]
    accounts = active_ids(fx)[:len(names)]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "error", "service": "iam", "action": "GetCredentialReport", "account": a,
         "status": status, "code": code, "count": 2}
        for a, (status, code) in zip(accounts, names)
    ]})
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = ./reports\n", status=0)
    n = len(active_ids(fx))
    check(f"{n} account(s) in scope, {n} delivered, 0 failed" in proc.stdout, proc.stdout + proc.stderr[-2000:])
    answered = {(r["account"], r["error_code"]) for r in emu.requests()["requests"] if r["fault"] == "error"}
    check(answered == {(a, code) for a, (_, code) in zip(accounts, names)}, f"{answered}")


def test_listings_that_end_with_an_empty_token_end_there(ctx):
    """Every Organizations listing ends with "NextToken": "" instead of no token, as some
    implementations write it: the listing ends there, as in the SDKs' paginators, and never
    sends the empty token back (an invalid request that stopped discovery)."""
    path, fx = generate(ctx, accounts=70, seed=32, depth=1, ous_per_level=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=10, max_delay_ms=50)
    emu = ctx.emulator(path, faults={"rules": [{"type": "blank_token", "service": "organizations"}]})
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = ./reports\n", status=0)
    n = len(active_ids(fx))
    check(f"{n} account(s) in scope, {n} delivered, 0 failed" in proc.stdout, proc.stdout + proc.stderr[-2000:])
    listings = [r for r in emu.requests()["requests"] if r["service"] == "organizations"]
    blank = [r for r in listings if (r.get("params") or {}).get("NextToken") == ""]
    paged = [r for r in listings if (r.get("params") or {}).get("NextToken")]
    check(not blank and paged, f"{len(blank)} listings sent an empty token, {len(paged)} a token")


def test_reports_to_a_folder_privately_and_atomically(ctx):
    emu = ctx.emulator()
    fx = json.loads((ctx.root / "tests/emulator/fixtures/small.json").read_text())
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = out/reports\n", status=0)
    (folder,) = list((ctx.tmp / "out" / "reports").iterdir())  # the run's date, across midnight too
    files = sorted(p.name for p in folder.iterdir())
    want = sorted(f"credentialReport_{a}.csv" for a in active_ids(fx))
    check([f for f in files if f.endswith(".csv")] == want, f"{files}")
    check(not [f for f in files if ".tmp" in f], f"temporary files left: {files}")
    for name in want:
        p = folder / name
        check(stat.S_IMODE(p.stat().st_mode) == 0o600, f"{name} mode {oct(p.stat().st_mode)}")
        check(p.read_bytes() == emu.admin("GET", f"/reports/{name[17:29]}", raw=True), f"{name} content")
    manifest = [f for f in files if f.startswith("manifest-")]
    check(len(manifest) == 1, f"{files}")
    m = json.loads((folder / manifest[0]).read_text())
    check(m["summary"]["delivered"] == len(want) and m["summary"]["failed"] == 0, f"{m['summary']}")
    check("0 failed" in proc.stdout, proc.stdout)


def test_report_hook_acts_before_delivery(ctx):
    emu = ctx.emulator()
    fx = json.loads((ctx.root / "tests/emulator/fixtures/small.json").read_text())
    script = ctx.tmp / "stale.lua"
    script.write_text("""
local report = require "credreport.report"
local workflow = require "credreport.workflow"
return workflow.new{
  on_report = function(account, csv)
    for _, row in ipairs(report.rows(csv)) do
      if row.access_key_1_active == "true" and row.access_key_1_last_rotated < "2023-01-01" then
        io.stdout:write("STALE ", account.id, " ", row.user, "\\n")
      end
    end
    return account.id ~= "444444444444"   -- keep one account's report out of the folder
  end,
}
""")
    proc = _run(ctx, emu, fx, FAST, [str(script)], status=0)
    check("STALE 111111111111 stale-bob" in proc.stdout, f"hook output:\n{proc.stdout}")
    files = {p.name for p in (ctx.tmp / "reports").rglob("credentialReport_*.csv")}
    check("credentialReport_444444444444.csv" not in files and "credentialReport_333333333333.csv" in files, f"{files}")
    (m,) = [json.loads(p.read_text()) for p in (ctx.tmp / "reports").rglob("manifest-*.json")]
    rows = {r["id"]: r for r in m["accounts"]}
    check(rows["444444444444"]["status"] == "skipped" and m["summary"]["skipped"] == 1, f"{rows['444444444444']}")
    check("ERROR" not in proc.stderr, proc.stderr)


def test_os_exit_in_a_worker_fails_that_account_not_the_run(ctx):
    """exit() on a worker thread would run the process's exit handlers (OpenSSL's cleanup)
    under the threads still running: os.exit raises there, and only that account fails."""
    emu = ctx.emulator()
    fx = json.loads((ctx.root / "tests/emulator/fixtures/small.json").read_text())
    script = ctx.tmp / "exits.lua"
    script.write_text("""
local workflow = require "credreport.workflow"
local W = workflow.new{}
local process = W.process
function W:process(account)
  if account.id == "333333333333" then os.exit(0) end
  return process(self, account)
end
return W
""")
    proc = _run(ctx, emu, fx, FAST, [str(script), "--threads", "2"], status=1)
    (m,) = [json.loads(p.read_text()) for p in (ctx.tmp / "reports").rglob("manifest-*.json")]
    rows = {r["id"]: r for r in m["accounts"]}
    check(rows["333333333333"]["status"] == "failed" and
          "only the main thread ends a run" in json.dumps(rows["333333333333"]), f"{rows['333333333333']}")
    check(all(r["status"] == "delivered" for i, r in rows.items() if i != "333333333333"), f"{rows}")


def test_worker_threads_under_thread_sanitizer(ctx):
    """The scheduler's threads, queues and shared state, checked by ThreadSanitizer: four
    worker threads, accounts handed over while the organization is still being listed."""
    ctx.binary = str(ctx.root / "build" / "tsan" / "credreport")
    path, fx = generate(ctx, accounts=40, seed=9, depth=3, role_missing=2, never_complete=1,
                        min_delay_ms=20, max_delay_ms=300)
    emu = ctx.emulator(path, faults={"seed": 5, "rules": [
        {"type": "error", "service": "iam", "probability": 0.1},
        {"type": "latency", "service": "organizations", "min_ms": 5, "max_ms": 40},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[aws]\nmax_attempts = 6\n", ["--threads", "4", "--concurrency", "12"],
                env_extra={"TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1"})
    check(proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}")
    check("ThreadSanitizer" not in proc.stderr, proc.stderr[-4000:])
    check(f"{len(active_ids(fx))} account(s) in scope" in proc.stdout, proc.stdout)


def test_prepared_accounts_under_thread_sanitizer(ctx):
    """Accounts prepared ahead of their turn on two threads, their roles' credentials kept
    for the turn against a budget the threads share: ThreadSanitizer finds no race, every
    account is delivered and each member's role is assumed once."""
    ctx.binary = str(ctx.root / "build" / "tsan" / "credreport")
    path, fx = generate(ctx, accounts=16, seed=41, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=1500, max_delay_ms=1500)
    emu = ctx.emulator(path)
    patient = "[report]\nretry_limit = 40\nwait_interval = 0.1\nwait_growth = 1.3\nmax_wait = 1\n"
    proc = _run(ctx, emu, fx, patient, ["--threads", "2", "--concurrency", "4"],
                env_extra={"TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1"})
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}")
    check("ThreadSanitizer" not in proc.stderr, proc.stderr[-4000:])
    log = emu.requests()["requests"]
    calls = [r for r in log if r["action"] == "AssumeRole"]
    roles = {r["params"]["RoleArn"] for r in calls}
    check(len(roles) == len(active_ids(fx)) - 1 and len(calls) == len(roles),
          f"{len(calls)} AssumeRole calls for {len(roles)} roles")
    first_report = min(r["time"] for r in log if r["action"] == "GetCredentialReport" and r["status"] == 200)
    asked = [r for r in log if r["action"] == "GenerateCredentialReport" and r["time"] < first_report]
    check(len(asked) > 4, f"{len(asked)} reports asked for before the first was ready, more than the 4 "
                          "accounts in flight: the others were prepared ahead")


def test_a_planted_symlink_or_a_writable_parent_is_refused(ctx):
    # Another local user must not choose where reports go: a symbolic link planted inside the
    # destination is not followed, and a destination under a directory others can write (no
    # sticky bit) or own is refused; /tmp-like sticky directories are fine.
    emu = ctx.emulator()
    fx = json.loads((ctx.root / "tests/emulator/fixtures/small.json").read_text())
    day = _today()
    elsewhere = ctx.tmp / "elsewhere"
    elsewhere.mkdir()
    (ctx.tmp / "out").mkdir()
    (ctx.tmp / "out" / day).symlink_to(elsewhere)
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = out\n")
    check(proc.returncode != 0, f"a run that wrote nothing succeeded:\n{proc.stdout}\n{proc.stderr}")
    check(list(elsewhere.iterdir()) == [], f"written through the link: {list(elsewhere.iterdir())}")
    check(f"out/{day} is a symbolic link" in proc.stdout + proc.stderr, proc.stdout + proc.stderr)

    shared = ctx.tmp / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = shared/reports\n")
    check(proc.returncode != 0 and not (shared / "reports" / day).exists(), "under a world-writable folder")
    check(f"{shared} is writable by other users (mode 0777) and has no sticky bit" in proc.stdout + proc.stderr,
          proc.stdout + proc.stderr)

    shared.chmod(0o1777)
    _run(ctx, emu, fx, FAST + "[output]\ndestination = shared/reports\n", status=0)
    check(len(list((shared / "reports" / day).glob("credentialReport_*.csv"))) == len(active_ids(fx)),
          "a sticky world-writable parent (as /tmp) is fine")

    theirs = ctx.tmp / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = theirs/reports\n")
    check(proc.returncode != 0 and f"{theirs} is owned by user 65534" in proc.stdout + proc.stderr,
          proc.stdout + proc.stderr)
