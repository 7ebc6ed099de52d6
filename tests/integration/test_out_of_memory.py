"""Whole runs with one allocation failing: build/asan/credreport-oom fails the OOM_FAIL_AT-th
allocation of the core (tests/oom/failing_alloc.c). Whichever it is, the run must end, within
a minute, with a status that says what happened: every account delivered (a request retried
after the failure), some failed with the manifest naming every account in scope (or a file
of the run's own, the manifest too, not written, with the reason logged), or the run could not start and says it
ran out of memory. Never a crash, a sanitizer report, a run that
waits forever for an account (a hung run holds the lock against the next ones) or one that
exits without a word. tests/unit/test_oom.c fails every allocation of smaller pieces; this
samples a whole run's, with its threads."""
import json
import subprocess

from awscalls import MGMT_KEYS
from harness import ROOT, check

BINARY = ROOT / "build" / "asan" / "credreport-oom"
FAST = "[report]\nretry_limit = 8\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.4\n"
# A run of the small organization makes about 2,300 allocations; every 29th from the first.
SAMPLE = range(1, 2600, 29)


def test_a_run_with_an_allocation_failing_ends_with_a_status_that_says_so(ctx):
    emu = ctx.emulator()
    config = ctx.tmp / "config.ini"
    config.write_text(FAST + "[output]\ndestination = s3://credreport-reports/oom\n")
    in_scope = None
    outcomes = {}
    for n in [0] + list(SAMPLE):
        env = ctx.aws_env(emu, **MGMT_KEYS, OOM_FAIL_AT=str(n))
        try:
            proc = subprocess.run([str(BINARY), "run", "-c", str(config), "--lock-file", str(ctx.tmp / "lock"),
                                   "--log-level", "warn"], env=env, cwd=ctx.tmp, capture_output=True,
                                  text=True, timeout=60)
        except subprocess.TimeoutExpired:
            check(False, f"allocation {n}: the run did not end within 60 s")
            continue
        what = f"allocation {n}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        check("Sanitizer" not in proc.stderr and "runtime error:" not in proc.stderr, what)
        # Never 2, which says the settings or the command line are wrong: memory is not.
        check(proc.returncode in (0, 1, 3), what)
        outcomes[proc.returncode] = outcomes.get(proc.returncode, 0) + 1
        if proc.returncode == 3:
            check("out of memory" in proc.stderr, what)
            continue
        if "manifest: NOT WRITTEN" in proc.stdout:
            check(proc.returncode == 1 and "out of memory" in proc.stderr, what + proc.stdout)
            continue
        url = proc.stdout.split("manifest: ")[-1].split()[0] if "manifest: " in proc.stdout else ""
        check(url.startswith("s3://credreport-reports/"), what + proc.stdout)
        if not url.startswith("s3://credreport-reports/"):
            continue
        key = url[len("s3://credreport-reports/"):]
        rows = json.loads(emu.admin("GET", f"/s3/object?bucket=credreport-reports&key={key}", raw=True))["accounts"]
        ids = sorted(r["id"] for r in rows)
        if n == 0:
            check(proc.returncode == 0, what)
            in_scope = ids
        check(ids == in_scope, f"{what}\nthe manifest names {ids}, not {in_scope}")
        failed = [r for r in rows if r["status"] != "delivered"]
        # Exit 1 with every account delivered: a file of the run's own (the findings) was not
        # written, and the log says why.
        check(failed or proc.returncode == 0 or "out of memory" in proc.stderr, what)
        check(not failed or proc.returncode == 1, f"{what}\n{failed}")
    # The sample reaches every stage: some runs could not start, some lost an account, most
    # delivered every account after a retry.
    check(outcomes.get(0, 0) > 10 and outcomes.get(3, 0) > 5, f"statuses: {outcomes}")
