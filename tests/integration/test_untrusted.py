"""What others put in credreport's way: a planted lock file, an endpoint that pages forever, a
forged manifest, a configuration file others can write, values from AWS that are not what
they claim. Nothing planted may be written to, trusted or printed raw."""
import json
import os
import stat

from awscalls import MGMT_KEYS
from harness import check, run_credreport

FAST = "[report]\nretry_limit = 8\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.4\n"


def _config(ctx, text, name="config.ini"):
    path = ctx.tmp / name
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def test_a_planted_lock_file_is_refused_and_never_written(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    cfg = _config(ctx, FAST)
    victim = ctx.tmp / "victim.txt"
    victim.write_text("precious\n")
    link = ctx.tmp / "link.lock"
    link.symlink_to(victim)
    loose = ctx.tmp / "loose.lock"
    loose.write_text("")
    os.chmod(loose, 0o666)
    theirs = ctx.tmp / "theirs.lock"
    theirs.write_text("")
    os.chown(theirs, 65534, 65534)
    cases = [(link, "symbolic link"), (loose, "other users can write"), (theirs, "belongs to uid 65534")]
    for path, why in cases:
        proc = run_credreport(ctx, ["run", "--lock-file", str(path), "-c", cfg], env=env, cwd=ctx.tmp)
        check(proc.returncode == 3, f"{path.name}: exit {proc.returncode}\n{proc.stderr}")
        check("cannot use the lock file" in proc.stderr and why in proc.stderr and "another run" not in proc.stderr,
              f"{path.name}: {proc.stderr}")
    check(victim.read_text() == "precious\n", "the symlink's target was not written")
    check(theirs.read_text() == "", "a foreign lock file was not written")
    check(not emu.requests()["requests"], "no run started")


def test_the_default_lock_lives_in_a_private_directory(ctx):
    emu = ctx.emulator()
    shared = ctx.tmp / "xdg"
    shared.mkdir()
    os.chmod(shared, 0o777)  # not private: must not be used
    env = ctx.aws_env(emu, XDG_RUNTIME_DIR=str(shared), **MGMT_KEYS)
    proc = run_credreport(ctx, ["run", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-2000:]}")
    check(not (shared / "credreport.lock").exists(), "a shared runtime directory is not used")
    private = f"/tmp/credreport-{os.geteuid()}"
    st = os.lstat(private)
    check(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(),
          f"{private}: mode {oct(st.st_mode)} uid {st.st_uid}")
    lock = os.lstat(private + "/credreport.lock")
    check(stat.S_ISREG(lock.st_mode) and stat.S_IMODE(lock.st_mode) == 0o600, f"lock mode {oct(lock.st_mode)}")


def test_a_listing_that_never_ends_is_stopped(ctx):
    emu = ctx.emulator(faults={"rules": [{"type": "endless_pages", "service": "organizations",
                                          "action": "ListAccountsForParent"}]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    proc = run_credreport(ctx, ["accounts", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp, timeout=60)
    check(proc.returncode == 3 and "EndlessListing" in proc.stderr and "same page token" in proc.stderr,
          f"exit {proc.returncode}\n{proc.stderr[-2000:]}")
    calls = [r for r in emu.requests()["requests"] if r["action"] == "ListAccountsForParent"]
    check(len(calls) < 20, f"{len(calls)} listing calls")
    # New tokens every time: the page cap ends it.
    emu.admin("PUT", "/faults", {"rules": [{"type": "endless_pages", "service": "s3", "fresh_tokens": True}]})
    bucket = "credreport-reports"
    proc = run_credreport(ctx, ["run", "--resume", "--output", f"s3://{bucket}/x",
                                "-c", _config(ctx, FAST + "[aws]\nmax_pages = 30\n[findings]\nenabled = false\n")],
                          env=env, cwd=ctx.tmp, timeout=60)
    check(proc.returncode == 3 and "more than 30 pages" in proc.stderr + proc.stdout,
          f"exit {proc.returncode}\n{proc.stdout[-1500:]}\n{proc.stderr[-2000:]}")
    lists = [r for r in emu.requests()["requests"] if r["action"] == "ListObjectsV2"]
    check(len(lists) == 30, f"{len(lists)} S3 listing calls")


def _stop_during(ctx, emu, args, config):
    """SIGTERM once the emulator holds a request (a slow one: see the latency faults), however
    long the machine takes to get there."""
    import signal
    import subprocess
    import time
    env = ctx.aws_env(emu, **MGMT_KEYS)
    proc = subprocess.Popen([ctx.binary] + args + ["-c", _config(ctx, config)], env=env, cwd=ctx.tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def held():  # the number of the latest request while one is unanswered, else None
        log = emu.requests()
        seq = emu.admin("GET", "/info")["requests"]
        return seq if seq > len(log["requests"]) + log["dropped"] else None

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        first = held()
        time.sleep(0.3)
        if first is not None and held() == first:
            break  # one request held for 0.3 s: the slow one
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, time.monotonic() - sent, out, err


def test_sigterm_reaches_discovery_and_the_resume_listing(ctx):
    # Every listing call takes 4 s: a stop must not wait for the listing to end.
    emu = ctx.emulator(faults={"rules": [{"type": "latency", "service": "organizations",
                                          "action": "ListAccountsForParent", "ms": 4000}]})
    rc, took, out, err = _stop_during(ctx, emu, ["run"], FAST + "[run]\ngrace_period = 2\n")
    check(rc == 143 and took < 8, f"exit {rc} after {took:.1f} s\n{out}\n{err[-2000:]}")
    (m,) = [json.loads(p.read_text()) for p in (ctx.tmp / "reports").rglob("manifest-*.json")]
    check(m.get("interrupted_by") == "SIGTERM" and m["discovery_error"]["code"] == "Interrupted", f"{m}")
    # The same while --resume lists the day's manifests in the bucket.
    emu.admin("PUT", "/faults", {"rules": [{"type": "latency", "service": "s3", "action": "ListObjectsV2",
                                            "ms": 4000}]})
    rc, took, out, err = _stop_during(ctx, emu, ["run", "--resume", "--output", "s3://credreport-reports/r"],
                                      FAST + "[run]\ngrace_period = 2\n")
    check(rc == 143 and took < 8, f"exit {rc} after {took:.1f} s\n{out}\n{err[-2000:]}")
    check("manifest: s3://credreport-reports/r/" in out, out)
    # The same while the checks before the run wait for STS to come back: no more tries once
    # the call under way has had its own (5 here, a second each).
    emu.admin("PUT", "/faults", {"rules": [
        {"type": "latency", "service": "sts", "ms": 1000},
        {"type": "error", "service": "sts", "status": 503, "code": "ServiceUnavailable"}]})
    rc, took, out, err = _stop_during(ctx, emu, ["run"], FAST)
    check(rc == 3 and took < 9 and "checking the run's credentials was stopped by SIGTERM" in err,
          f"exit {rc} after {took:.1f} s\n{out}\n{err[-2000:]}")


def test_resume_trusts_a_manifest_only_as_far_as_the_reports_agree(ctx):
    """A forged manifest (a folder) or a report replaced after delivery (S3) does not make a
    resumed run skip the account: it is collected again."""
    import datetime
    from awscalls import calls
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    folder = ctx.tmp / "reports" / day
    folder.mkdir(parents=True)
    forged = {"run_id": "20200101T000000Z-forged00", "accounts": [
        {"id": "333333333333", "status": "delivered", "key": f"{day}/credentialReport_333333333333.csv",
         "sha256": "0" * 64, "bytes": 5}]}
    (folder / "manifest-20200101T000000Z-forged00.json").write_text(json.dumps(forged))
    (folder / "credentialReport_333333333333.csv").write_text("fake\n")
    proc = run_credreport(ctx, ["run", "--resume", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and "delivered earlier today" not in proc.stdout, f"{proc.stdout}\n{proc.stderr[-1500:]}")
    check("not resuming" in proc.stderr and "333333333333" in proc.stderr, proc.stderr[-1500:])
    report = (folder / "credentialReport_333333333333.csv").read_bytes()
    check(report == emu.admin("GET", "/reports/333333333333", raw=True), "collected again")

    # S3: a first run delivers; one report is then replaced behind credreport's back.
    out = ["--output", "s3://credreport-reports/resume"]
    proc = run_credreport(ctx, ["run", "-c", _config(ctx, FAST)] + out, env=env, cwd=ctx.tmp)
    check(proc.returncode == 0, proc.stderr[-1500:])
    key = f"resume/{day}/credentialReport_444444444444.csv"
    calls(ctx, env, [dict(kind="s3", method="PUT", request={"bucket": "credreport-reports", "key": key, "body": "tampered"})])
    emu.admin("DELETE", "/requests")
    proc = run_credreport(ctx, ["run", "--resume", "-c", _config(ctx, FAST)] + out, env=env, cwd=ctx.tmp)
    check(proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-1500:]}")
    touched = {r.get("account") for r in emu.requests()["requests"] if r["action"] == "GenerateCredentialReport"}
    check(touched == {"444444444444"}, f"only the tampered account is collected again: {touched}")
    check("3 delivered earlier today" in proc.stdout, proc.stdout)


def test_a_config_others_can_change_is_refused(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    implicit = ctx.tmp / "config.ini"
    implicit.write_text("[endpoints]\nurl = http://127.0.0.1:9\n")
    os.chmod(implicit, 0o666)
    proc = run_credreport(ctx, ["accounts"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 2 and "config.ini can be changed by other users (mode 666)" in proc.stderr,
          f"exit {proc.returncode}\n{proc.stderr}")
    os.chmod(implicit, 0o644)
    os.chown(implicit, 65534, 65534)
    proc = run_credreport(ctx, ["accounts"], env=env, cwd=ctx.tmp)
    check(proc.returncode == 2 and "belongs to uid 65534" in proc.stderr, f"exit {proc.returncode}\n{proc.stderr}")
    # Plain HTTP to another machine is refused unless allowed.
    cfg = _config(ctx, "[endpoints]\nurl = http://example.invalid:8080\n", name="remote.ini")
    env_no_url = dict(env)
    env_no_url.pop("AWS_ENDPOINT_URL")
    proc = run_credreport(ctx, ["accounts", "-c", cfg], env=env_no_url, cwd=ctx.tmp)
    check(proc.returncode == 3 and "plain HTTP to another machine" in proc.stderr, f"exit {proc.returncode}\n{proc.stderr}")


def test_values_from_aws_are_checked_and_never_printed_raw(ctx):
    """A listed id that is not 12 digits is not used; names with escape sequences and line
    breaks are shown escaped on the terminal and in text logs, and kept exact in JSON."""
    fx = json.loads((ctx.root / "tests/emulator/fixtures/small.json").read_text())
    for a in fx["accounts"]:
        if a["id"] == "444444444444":
            a["name"] = "dev\x1b[2J\x1b[31m\nINFO delivered account=999999999999"
        if a["id"] == "333333333333":
            a["listed_id"] = "../../../tmp/evil"
    path = ctx.tmp / "hostile.json"
    path.write_text(json.dumps(fx))
    emu = ctx.emulator(path)
    env = ctx.aws_env(emu, **MGMT_KEYS)
    proc = run_credreport(ctx, ["run", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
    check(proc.returncode == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-2000:]}")
    for out in (proc.stdout, proc.stderr):
        check("\x1b" not in out and "\nINFO delivered account=999999999999" not in out, f"raw control characters:\n{out!r}")
    check("\\x1b[2J" in proc.stderr + proc.stdout or "dev" not in proc.stderr, proc.stderr[-2000:])
    (m,) = [json.loads(p.read_text()) for p in (ctx.tmp / "reports").rglob("manifest-*.json")]
    rows = {r["id"]: r for r in m["accounts"]}
    evil = rows["../../../tmp/evil"]
    check(evil["status"] == "failed" and evil["error"]["code"] == "InvalidAccountId", f"{evil}")
    check(rows["444444444444"]["name"].startswith("dev\x1b[2J"), "the manifest keeps the name exactly")
    check(not list(ctx.tmp.rglob("*evil*")), "nothing written under the hostile id")
    check(not any("evil" in str(r.get("params", "")) for r in emu.requests()["requests"]), "the id was never used")
    # The accounts listing and the dry run escape too.
    proc = run_credreport(ctx, ["accounts", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
    check("\x1b" not in proc.stdout + proc.stderr and "dev\\x1b[2J" in proc.stdout, f"{proc.stdout!r}")
    proc = run_credreport(ctx, ["run", "--dry-run", "-c", _config(ctx, FAST)], env=env, cwd=ctx.tmp)
    check("\x1b" not in proc.stdout + proc.stderr and "evil  fails:" in proc.stdout
          and "evil.csv" not in proc.stdout, f"{proc.stdout!r}")
