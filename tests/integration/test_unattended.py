"""Unattended operation: the run lock, signals, --resume, sharding, logs for pipelines, the
progress line on a terminal, and an installed copy."""
import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

from awscalls import MGMT_KEYS
from harness import ROOT, check, run_credreport
from orgs import active_ids, generate, keys_for

FAST = "[report]\nretry_limit = 8\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.4\n"


def _config(ctx, text):
    path = ctx.tmp / "config.ini"
    path.write_text(text)
    return str(path)


def _manifests(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("manifest-*.json"))]


def test_a_second_run_exits_while_the_first_holds_the_lock(ctx):
    emu = ctx.emulator()
    lock = ctx.tmp / "run.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        proc = run_credreport(ctx, ["run", "--lock-file", str(lock), "-c", _config(ctx, FAST)],
                              env=ctx.aws_env(emu, **MGMT_KEYS), cwd=ctx.tmp)
    check(proc.returncode == 4, f"exit {proc.returncode}\n{proc.stderr}")
    check("4242" in proc.stderr and str(lock) in proc.stderr, proc.stderr)
    check(not emu.requests()["requests"], "the second run did nothing")
    # Once released, the same command runs.
    proc = run_credreport(ctx, ["run", "--lock-file", str(lock), "-c", _config(ctx, FAST)],
                          env=ctx.aws_env(emu, **MGMT_KEYS), cwd=ctx.tmp)
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-2000:]}")


def test_sigterm_stops_starting_accounts_and_writes_the_manifest(ctx):
    path, fx = generate(ctx, accounts=30, seed=4, role_missing=0, never_complete=0,
                        min_delay_ms=200, max_delay_ms=400)
    # Every report is slow: accounts stay in flight long enough to be interrupted.
    emu = ctx.emulator(path, faults={"rules": [{"type": "latency", "service": "iam", "min_ms": 400, "max_ms": 600}]})
    cfg = _config(ctx, FAST + "[run]\nconcurrency = 4\nthreads = 2\ngrace_period = 0.5\n")
    env = ctx.aws_env(emu, **keys_for(fx))
    proc = subprocess.Popen([ctx.binary, "run", "-c", cfg, "--lock-file", str(ctx.tmp / "l")], env=env,
                            cwd=ctx.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(r["action"] == "GetCredentialReport" for r in emu.requests()["requests"]):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    check(proc.returncode == 143, f"exit {proc.returncode}\n{out}\n{err[-3000:]}")
    check("Sanitizer" not in err, err[-3000:])
    (m,) = _manifests(ctx.tmp / "reports")
    rows = {r["id"]: r for r in m["accounts"]}
    check(m.get("interrupted_by") == "SIGTERM", f"{m.get('interrupted_by')}")
    check(set(rows) == set(active_ids(fx)), f"every account in scope is in the manifest: {len(rows)}")
    statuses = {r["status"] for r in rows.values()}
    codes = {r["error"]["code"] for r in rows.values() if r["status"] == "failed"}
    check("failed" in statuses and codes == {"Interrupted"}, f"{statuses} {codes}")
    delivered = [r for r in rows.values() if r["status"] == "delivered"]
    for r in delivered:
        check(os.path.exists(ctx.tmp / r["location"]), f"{r['location']}")
    leftovers = [p for p in (ctx.tmp / "reports").rglob("*") if ".tmp" in p.name]
    check(not leftovers, f"temporary files: {leftovers}")
    started = {r.get("account") for r in emu.requests()["requests"] if r["action"] == "GenerateCredentialReport"}
    check(len(started) < len(rows), f"accounts stopped starting: {len(started)} of {len(rows)} started")


def test_resume_skips_what_was_delivered_today(ctx):
    emu = ctx.emulator()
    fx = json.loads((ROOT / "tests/emulator/fixtures/small.json").read_text())
    cfg = _config(ctx, FAST)
    env = ctx.aws_env(emu, **MGMT_KEYS)
    first = run_credreport(ctx, ["run", "-c", cfg, "--exclude-account", "333333333333"], env=env, cwd=ctx.tmp)
    check(first.returncode == 0, first.stderr[-2000:])
    emu.admin("DELETE", "/requests")
    second = run_credreport(ctx, ["run", "-c", cfg, "--resume"], env=env, cwd=ctx.tmp)
    check(second.returncode == 0, f"{second.stdout}\n{second.stderr[-2000:]}")
    touched = {r.get("account") for r in emu.requests()["requests"] if r["action"] == "GenerateCredentialReport"}
    check(touched == {"333333333333"}, f"only the account left out before: {touched}")
    m = [m for m in _manifests(ctx.tmp / "reports") if len(m["accounts"]) == 4]
    check(len(m) == 1, "the resumed run's manifest lists every account")
    rows = {r["id"]: r for r in m[0]["accounts"]}
    check(all(r["status"] == "delivered" for r in rows.values()), f"{rows}")
    check(rows["333333333333"].get("resumed_from") is None and rows["222222222222"].get("resumed_from"),
          f"{rows['222222222222']}")
    check("3 delivered earlier today" in second.stdout, second.stdout)
    # The findings of the accounts delivered earlier come over from the first run's file.
    first_m = [m for m in _manifests(ctx.tmp / "reports") if len(m["accounts"]) == 3][0]
    files = {p.name: p for p in (ctx.tmp / "reports").rglob("findings-*.jsonl")}

    def lines(manifest):
        text = files[f"findings-{manifest['run_id']}.jsonl"].read_text()
        found = {}
        for line in text.splitlines():
            f = json.loads(line)
            if f["change"] != "resolved":
                found.setdefault(f["account"], []).append((f["check"], f["user"], f["severity"]))
        return found

    before, after = lines(first_m), lines(m[0])
    for row in first_m["accounts"]:
        carried = rows[row["id"]]["findings"]
        check(carried["total"] == row["findings"]["total"] > 0, f"{row['id']}: {carried} {row['findings']}")
        check(sorted(after[row["id"]]) == sorted(before[row["id"]]), f"{row['id']}: the same findings")


def test_resume_waits_out_an_outage_of_the_bucket(ctx):
    """S3 answers every listing with 503 for 4 s when a resumed run starts: the run waits for
    the day's manifests, as it waits for the organization, instead of stopping (ResumeFailed,
    exit 3), and collects only the account left out before."""
    emu = ctx.emulator()
    cfg = _config(ctx, FAST + "[output]\ndestination = s3://credreport-reports/outage\n")
    env = ctx.aws_env(emu, **MGMT_KEYS)
    first = run_credreport(ctx, ["run", "-c", cfg, "--exclude-account", "333333333333"], env=env, cwd=ctx.tmp)
    check(first.returncode == 0, first.stderr[-2000:])
    emu.admin("DELETE", "/requests")
    emu.admin("PUT", "/faults", {"rules": [{"type": "error", "service": "s3", "action": "ListObjectsV2",
                                            "status": 503, "code": "ServiceUnavailable", "duration_ms": 4000}]})
    second = run_credreport(ctx, ["run", "-c", cfg, "--resume"], env=env, cwd=ctx.tmp)
    check(second.returncode == 0 and "3 delivered earlier today" in second.stdout,
          f"{second.stdout}\n{second.stderr[-2000:]}")
    check("listing the day's manifests failed; trying again" in second.stderr, second.stderr[-2000:])
    touched = {r.get("account") for r in emu.requests()["requests"] if r["action"] == "GenerateCredentialReport"}
    check(touched == {"333333333333"}, f"only the account left out before: {touched}")


def test_the_manifest_waits_out_an_outage_of_the_bucket(ctx):
    """The run's manifest and findings file meet 8 503s in a row from S3, more than a call's own
    5 attempts: they are written once S3 answers again, with the warning that says so, not
    lost (the manifest is what --resume reads)."""
    emu = ctx.emulator(faults={"rules": [
        {"type": "error", "service": "s3", "action": "PutObject", "key_contains": key, "status": 503,
         "code": "ServiceUnavailable", "count": 8} for key in ("manifest-", "findings-")]})
    cfg = _config(ctx, FAST + "[output]\ndestination = s3://credreport-reports/outage\n")
    proc = run_credreport(ctx, ["run", "-c", cfg], env=ctx.aws_env(emu, **MGMT_KEYS), cwd=ctx.tmp)
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-2000:]}")
    check("writing the manifest failed; trying again" in proc.stderr
          and "writing the findings failed; trying again" in proc.stderr, proc.stderr[-2000:])
    puts = [(r["key"], r["status"]) for r in emu.requests()["requests"] if r["action"] == "PutObject"
            and ("manifest-" in r["key"] or "findings-" in r["key"])]
    check(len(puts) == 18 and sum(1 for _, status in puts if status == 200) == 2, f"each written once: {puts}")
    (key,) = [k for k, status in puts if status == 200 and "manifest-" in k]
    m = json.loads(emu.admin("GET", f"/s3/object?bucket=credreport-reports&key={key}", raw=True))
    check(m["summary"]["delivered"] == 4 and len(m["accounts"]) == 4, f"the whole manifest: {m['summary']}")


def test_shards_cover_every_account_exactly_once(ctx):
    path, fx = generate(ctx, accounts=40, seed=21, role_missing=0, never_complete=0, min_delay_ms=10, max_delay_ms=40)
    emu = ctx.emulator(path)
    cfg = _config(ctx, FAST)
    seen = []
    for k in range(1, 4):
        env = ctx.aws_env(emu, **keys_for(fx))
        args = ["run", "-c", cfg, "--lock-file", str(ctx.tmp / f"l{k}")]
        if k == 3:
            args += ["--shard", "auto/3"]
            env["JOB_COMPLETION_INDEX"] = "2"
        else:
            args += ["--shard", f"{k}/3"]
        proc = run_credreport(ctx, args, env=env, cwd=ctx.tmp)
        check(proc.returncode == 0, f"shard {k}: {proc.stderr[-2000:]}")
    for m in _manifests(ctx.tmp / "reports"):
        check(m["shard"] in ("1/3", "2/3", "3/3"), f"{m.get('shard')}")
        seen += [r["id"] for r in m["accounts"]]
    check(sorted(seen) == active_ids(fx), f"{len(seen)} ids over the shards, {len(set(seen))} distinct, "
          f"{len(active_ids(fx))} in scope")
    bad = run_credreport(ctx, ["run", "--shard", "4/3"], env=ctx.aws_env(emu), cwd=ctx.tmp)
    check(bad.returncode == 2 and "--shard" in bad.stderr, bad.stderr)


def test_json_logs_and_log_file(ctx):
    emu = ctx.emulator()
    log = ctx.tmp / "credreport.log"
    proc = run_credreport(ctx, ["run", "-c", _config(ctx, FAST), "--log-format", "json", "--log-file", str(log)],
                          env=ctx.aws_env(emu, **MGMT_KEYS), cwd=ctx.tmp)
    check(proc.returncode == 0, proc.stderr[-2000:])
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]
    check(records and all({"time", "level", "msg"} <= set(r) for r in records), f"{lines[:3]}")
    check(sum(1 for r in records if r["msg"] == "delivered") == 4, f"{records}")
    check(log.read_text().splitlines() == lines, "the log file has the same lines")


def test_progress_line_on_a_terminal(ctx):
    if not shutil.which("tmux"):
        raise AssertionError("tmux is needed (make deps installs it)")
    path, fx = generate(ctx, accounts=12, seed=8, role_missing=0, never_complete=0, min_delay_ms=1500, max_delay_ms=2500)
    emu = ctx.emulator(path)
    cfg = _config(ctx, "[report]\nwait_interval = 0.5\nwait_growth = 1\n")
    env = ctx.aws_env(emu, **keys_for(fx))
    session = f"credreport-{os.getpid()}"
    script = ctx.tmp / "run.sh"
    script.write_text("#!/bin/sh\n" + "".join(f"export {k}='{v}'\n" for k, v in env.items() if k.startswith(("AWS_", "ASAN", "UBSAN", "HOME")))
                      + f"cd {ctx.tmp}\n{ctx.binary} run -c {cfg}; echo EXIT=$?\nsleep 30\n")
    script.chmod(0o755)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "20", str(script)], check=True)
    try:
        screens = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-S", "-200", "-t", session], capture_output=True, text=True).stdout
            screens.append(screen)
            if "EXIT=" in screen:
                break
            time.sleep(0.2)
        during = [s for s in screens if "in flight" in s]
        check(during, "a progress line was shown:\n" + screens[len(screens) // 2])
        check(any("ETA" in s and "/s" in s for s in during), during[-1])
        final = screens[-1]
        check("EXIT=0" in final and f"{len(active_ids(fx))} delivered" in final, final)
        check("INFO delivered" not in final, "no scrolling per-account lines on a terminal:\n" + final)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_install_into_a_destdir_and_run_from_there(ctx):
    dest = ctx.tmp / "dest"
    subprocess.run(["make", "-s", "install", f"DESTDIR={dest}", "PREFIX=/usr"], cwd=ROOT, check=True,
                   capture_output=True)
    binary = dest / "usr/bin/credreport"
    for p in ("usr/share/credreport/lua/credreport/workflow.lua", "usr/share/credreport/lua/workflows/organization.lua",
              "usr/share/credreport/config.ini", "usr/share/man/man1/credreport.1"):
        check((dest / p).exists(), f"{p} installed")
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    env.pop("CREDREPORT_LUA_DIR", None)
    proc = subprocess.run([str(binary), "accounts"], env=env, cwd=ctx.tmp, capture_output=True, text=True)
    check(proc.returncode == 0 and "333333333333" in proc.stdout, f"{proc.stdout}\n{proc.stderr}")
    proc = subprocess.run([str(binary), "run", "-c", str(dest / "usr/share/credreport/config.ini"), "--output", str(ctx.tmp / "out")],
                          env=env, cwd=ctx.tmp, capture_output=True, text=True)
    check(proc.returncode == 0, f"the installed sample config runs: {proc.stdout}\n{proc.stderr[-2000:]}")
    if shutil.which("man"):
        page = subprocess.run(["man", "-l", str(dest / "usr/share/man/man1/credreport.1")], capture_output=True, text=True,
                              env=dict(os.environ, MANPAGER="cat", COLUMNS="100"))
        check("EXIT STATUS" in page.stdout, page.stdout[:500])


def test_no_core_dumps_unless_allowed(ctx):
    # Credentials live in the process's memory: by default its core size limit is 0 (and it is
    # not dumpable), whatever limit it was started with; [run] core_dumps = true keeps it.
    import resource
    script = ctx.tmp / "wait.lua"
    script.write_text('print("READY")\nio.stdout:flush()\nio.read("l")\n')
    allow = _config(ctx, "[run]\ncore_dumps = true\n")
    plain = ctx.tmp / "plain.ini"
    plain.write_text("[run]\n")

    # AddressSanitizer sets the limit to 0 itself unless told not to.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "disable_coredump=0"]))

    def soft_core_limit(config):
        proc = subprocess.Popen(
            [ctx.binary, "run", str(script), "-c", str(config)], cwd=ctx.tmp, text=True, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2))
        try:
            line = proc.stdout.readline()
            check(line.strip() == "READY", f"the script did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}")
            limits = pathlib.Path(f"/proc/{proc.pid}/limits").read_text()
            proc.stdin.write("go\n")
            proc.stdin.close()
            check(proc.wait(timeout=60) == 0, f"exit {proc.returncode}: {proc.stderr.read()}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        row = [l for l in limits.splitlines() if l.startswith("Max core file size")]
        check(len(row) == 1, limits)
        return row[0].split()[4]

    check(soft_core_limit(plain) == "0", "core dumps are off by default")
    check(soft_core_limit(allow) == "unlimited", "[run] core_dumps = true keeps the limit")
