"""Flow control under pressure: throttled Organizations, an endpoint that accepts few
connections, a storm of server errors, answers cut short or garbled, a filter that raises. No
account may be lost, and none delivered in part."""
import csv
import io
import json
import socket
import threading
import time
from datetime import datetime

from awscalls import MGMT_KEYS
from harness import check, run_credreport
from orgs import active_ids, generate, keys_for

FAST = """
[report]
retry_limit = 40
wait_interval = 0.1
wait_growth = 1.3
max_wait = 1
"""


def _run(ctx, emu, fx, config, args=(), status=None):
    cfg = ctx.tmp / "config.ini"
    cfg.write_text(config)
    env = ctx.aws_env(emu, **keys_for(fx))
    return run_credreport(ctx, ["run", "-c", str(cfg)] + list(args), env=env, check_status=status,
                          cwd=ctx.tmp, timeout=600)


def _manifest(ctx):
    (path,) = list((ctx.tmp / "reports").rglob("manifest-*.json"))
    return json.loads(path.read_text())


def _delivered(ctx):
    return {p.name[len("credentialReport_"):-4] for p in (ctx.tmp / "reports").rglob("credentialReport_*.csv")}


def test_throttled_organizations_and_flaky_services_lose_no_account(ctx):
    """Organizations at 2 requests/s with bursts of 2, 5% server errors and connection resets
    on every service: every active account of a 300-account, 3-level organization arrives."""
    path, fx = generate(ctx, accounts=300, seed=21, depth=3, ous_per_level=2, role_missing=0,
                        never_complete=0, min_delay_ms=50, max_delay_ms=500)
    emu = ctx.emulator(path, faults={"seed": 21, "rules": [
        {"type": "throttle", "service": "organizations", "rps": 2, "burst": 2},
        {"type": "error", "service": "*", "probability": 0.05},
        {"type": "reset", "service": "*", "probability": 0.05},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\naccount_retry_delay = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    want = set(active_ids(fx))
    check(_delivered(ctx) == want, f"{len(_delivered(ctx))} delivered of {len(want)}")
    m = _manifest(ctx)
    check(m["summary"]["delivered"] == len(want) and m["summary"]["failed"] == 0, f"{m['summary']}")
    log = emu.requests()["requests"]
    throttled = [r for r in log if r["service"] == "organizations" and r["error_code"] == "TooManyRequestsException"]
    check(throttled, "Organizations did throttle")
    faults = {r["fault"] for r in log if r["fault"]}
    check({"error", "reset"} <= faults, f"faults injected: {faults}")


def test_the_release_binary_delivers_an_organization_with_several_threads(ctx):
    """The other tests run the sanitizer build, with glibc's malloc; the binary users run is
    built with -O2 and its own allocator (mimalloc, Makefile: MALLOC). Over HTTPS, with three
    workers and the main thread allocating and freeing across threads, it delivers every active
    account of a 400-account organization despite server errors and connection resets."""
    release = ctx.root / "build" / "credreport"
    check(release.exists(), "make test builds build/credreport")
    ctx.binary = str(release)
    path, fx = generate(ctx, accounts=400, seed=41, depth=2, role_missing=0, never_complete=0,
                        min_delay_ms=50, max_delay_ms=400, max_users=8)
    emu = ctx.emulator(path, tls=ctx.test_ca(), faults={"seed": 41, "rules": [
        {"type": "error", "service": "*", "probability": 0.03},
        {"type": "reset", "service": "*", "probability": 0.03},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\naccount_retry_delay = 1\n", args=["--threads", "3"])
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    want = set(active_ids(fx))
    check(_delivered(ctx) == want, f"{len(_delivered(ctx))} delivered of {len(want)}")
    m = _manifest(ctx)
    check(m["summary"]["delivered"] == len(want) and m["summary"]["failed"] == 0, f"{m['summary']}")


def test_answers_cut_short_or_garbled_never_become_a_delivered_report(ctx):
    """Over HTTPS, IAM cuts a fifth of the GetCredentialReport answers short and garbles a
    tenth, and STS garbles a tenth of the AssumeRole answers: what is delivered for every
    account is its whole report, the root user's row and one row per IAM user, never a part
    of one."""
    path, fx = generate(ctx, accounts=150, seed=31, depth=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=50, max_delay_ms=300,
                        max_users=6)
    emu = ctx.emulator(path, tls=ctx.test_ca(), faults={"seed": 31, "rules": [
        {"type": "truncate", "service": "iam", "action": "GetCredentialReport", "probability": 0.2},
        {"type": "malformed", "service": "iam", "action": "GetCredentialReport", "probability": 0.1},
        {"type": "malformed", "service": "sts", "action": "AssumeRole", "probability": 0.1},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\naccount_retry_delay = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    want = set(active_ids(fx))
    check(_delivered(ctx) == want, f"{len(_delivered(ctx))} delivered of {len(want)}")
    users = {a["id"]: a["users"] for a in fx["accounts"]}
    for report in (ctx.tmp / "reports").rglob("credentialReport_*.csv"):
        account = report.name[len("credentialReport_"):-4]
        rows = list(csv.reader(io.StringIO(report.read_text())))
        check(len(rows) == users[account] + 2 and rows[0][0] == "user" and rows[1][0] == "<root_account>"
              and all(len(r) == len(rows[0]) for r in rows),
              f"{account}: {len(rows)} lines for {users[account]} users: {rows[-1:]}")
    faults = {(r["action"], r["fault"]) for r in emu.requests()["requests"] if r["fault"]}
    check({("GetCredentialReport", "truncate"), ("GetCredentialReport", "malformed"),
           ("AssumeRole", "malformed")} <= faults, f"faults injected: {faults}")


def test_the_listing_has_as_many_calls_in_flight_as_the_main_thread_has_connections(ctx):
    """A wide organization (3 levels of 8 OUs: 585 subtrees) answered slowly is walked in
    parallel, but with no more Organizations calls in flight at once than the 16 connections
    the main thread keeps: Organizations allows few calls a second, shared with every other
    tool. The endpoint takes many more connections, so only that limit keeps the count down.
    `credreport accounts` and `run --dry-run --resume` list it the same way, and the dry run
    checks what the run delivered with every connection, as a run does."""
    path, fx = generate(ctx, accounts=200, seed=29, depth=3, ous_per_level=8, suspended=0,
                        pending_closure=0, closed=0, role_missing=0, never_complete=0,
                        min_delay_ms=50, max_delay_ms=200, max_users=2)
    emu = ctx.emulator(path, extra=["--log-limit", "100000"], faults={"rules": [
        {"type": "latency", "service": "organizations", "min_ms": 40, "max_ms": 60},
        {"type": "latency", "service": "s3", "min_ms": 40, "max_ms": 60},
    ]})
    config = FAST + "[output]\ndestination = s3://credreport-reports/listing\n"
    proc = _run(ctx, emu, fx, config)
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    n = len(active_ids(fx))
    check(f"{n} account(s) in scope, {n} delivered, 0 failed" in proc.stdout, proc.stdout[-2000:])
    _check_listing_in_flight(emu, "run")
    emu.admin("DELETE", "/requests")
    listed = run_credreport(ctx, ["accounts", "-c", str(ctx.tmp / "config.ini")],
                            env=ctx.aws_env(emu, **keys_for(fx)), cwd=ctx.tmp)
    check(listed.stdout.count("ACTIVE") == len(active_ids(fx)), listed.stdout[-2000:])
    _check_listing_in_flight(emu, "accounts")
    emu.admin("DELETE", "/requests")
    _run(ctx, emu, fx, config, ["--dry-run", "--resume"], status=0)
    _check_listing_in_flight(emu, "run --dry-run --resume")
    heads = _peak_in_flight([r for r in emu.requests()["requests"] if r["action"] == "HeadObject"])
    check(heads > 16, f"the dry run's checks of earlier deliveries: at most {heads} at once, expected more than 16")


def _peak_in_flight(calls):
    events = []
    for r in calls:
        start = datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp() * 1000
        # The log's times are whole milliseconds, taken on a busy event loop: a call that
        # followed another on its connection can seem to overlap it by a few milliseconds.
        # Calls here take 40-60 ms.
        events += [(start, 1), (start + r["duration_ms"] - 5, -1)]
    peak = inside = 0
    for _, step in sorted(events):
        inside += step
        peak = max(peak, inside)
    return peak


def _check_listing_in_flight(emu, command):
    log = emu.requests()["requests"]
    parents = {r["params"]["ParentId"] for r in log if r["action"] == "ListAccountsForParent"}
    peak = _peak_in_flight([r for r in log if r["service"] == "organizations"])
    check(len(parents) == 585, f"{command}: the accounts of {len(parents)} subtrees listed, expected 585")
    check(8 <= peak <= 16, f"{command}: listing calls in flight at once: at most {peak}, expected 8 to 16")


def _queue_waiters(ctx, emu, fx, calls, config):
    """Runs `calls` (Lua with `client`, `done`, `seen` and `tasks` in scope, which starts tasks
    of calls that count `done`), then 3 tasks that call core.wait_queue(): returns `seen`, each
    waiter and the calls done when it went on, in the order they went on."""
    script = ctx.tmp / "queue.lua"
    script.write_text("""
local core, cjson = require "credreport.core", require "cjson"
local client = assert(core.client())
local done, seen, tasks = 0, {}, {}
""" + calls + """
for i = 1, 3 do
  tasks[#tasks + 1] = core.spawn(function() core.wait_queue(); seen[#seen + 1] = {who = i, done = done} end)
end
for _, t in ipairs(tasks) do t:join() end
print(cjson.encode(seen))
""")
    cfg = ctx.tmp / "config.ini"
    cfg.write_text(config)
    proc = run_credreport(ctx, ["-c", str(cfg), "run", str(script)], env=ctx.aws_env(emu, **keys_for(fx)),
                          check_status=0, cwd=ctx.tmp)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_calls_that_can_wait_wait_their_turn_in_their_task(ctx):
    """core.wait_queue(), which a report's next check passes through: with 38 calls waiting for
    the 2 connections a thread may use, tasks that call it wait, in the order they came, until
    fewer than 4 (twice the connections) wait; with nothing waiting it returns at once. Each
    call waiting for a connection holds its built request; a task waiting here only itself."""
    path, fx = generate(ctx, accounts=5, seed=30)
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "latency", "service": "sts", "min_ms": 40, "max_ms": 40},
    ]})
    seen = _queue_waiters(ctx, emu, fx, """
core.wait_queue()
seen[1] = {who = "alone", done = done}
for i = 1, 40 do
  tasks[i] = core.spawn(function() assert(client:query("sts", "GetCallerIdentity")); done = done + 1 end)
end
""", "[aws]\nmax_connections = 2\n")
    check(seen[0] == {"who": "alone", "done": 0}, f"with nothing waiting it returns at once: {seen}")
    check([s["who"] for s in seen[1:]] == [1, 2, 3], f"in the order they came: {seen}")
    # 40 calls, 2 at a time: a waiter goes on once fewer than 4 wait, so at least 40 - 4 - 2
    # are answered by then.
    check(all(s["done"] >= 34 for s in seen[1:]), f"the waiters waited for the queue: {seen}")


def test_calls_a_rate_limiter_holds_do_not_hold_up_the_calls_that_wait_their_turn(ctx):
    """STS accepts 10 calls a second: once its rate is cut, 40 calls are held by the rate
    limiter, not queued for the 2 connections. Tasks that call core.wait_queue() (a report's
    next check, which goes to IAM) go on at once: the connections are free, and calls held for
    STS are not ahead of theirs."""
    path, fx = generate(ctx, accounts=5, seed=31)
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "throttle", "service": "sts", "rps": 10, "burst": 2, "per_account": False},
    ]})
    seen = _queue_waiters(ctx, emu, fx, """
local warm = {}
for i = 1, 20 do -- until the rate is cut
  warm[i] = core.spawn(function() for _ = 1, 2 do assert(client:query("sts", "GetCallerIdentity")) end end)
end
for _, t in ipairs(warm) do t:join() end
for i = 1, 40 do
  tasks[i] = core.spawn(function() assert(client:query("sts", "GetCallerIdentity")); done = done + 1 end)
end
""", "[aws]\nmax_connections = 2\nmax_attempts = 10\n")
    check([s["who"] for s in seen] == [1, 2, 3], f"in the order they came: {seen}")
    check(all(s["done"] <= 5 for s in seen), f"the waiters went on while the calls were held: {seen}")


def test_accounts_do_not_start_behind_the_calls_a_rate_limiter_holds(ctx):
    """Calls a throttled service's rate limiter holds will queue for a connection: a worker
    starts no account that would begin with a call behind them (at 10,000 accounts with STS's
    rate cut, accounts started while their AssumeRoles waited for tokens: peak RSS 94-124
    MiB). STS takes 10 AssumeRole calls a second, the worker 2 connections and no account is
    prepared ahead of its turn: every one starts with an AssumeRole, and of the 60 queued, few
    are in flight at once."""
    path, fx = generate(ctx, accounts=60, seed=31, depth=1, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=200, max_delay_ms=400,
                        max_users=2)
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "throttle", "service": "sts", "action": "AssumeRole", "rps": 10, "burst": 1},
    ]})
    script = ctx.tmp / "in-flight.lua"
    script.write_text("""
local core = require "credreport.core"
local W = require("credreport.workflow").new()
W.prepare = false
local process = W.process
function W:process(a)
  core.log("warn", "account started", {in_flight = core.in_flight()})
  return process(self, a)
end
return W
""")
    proc = _run(ctx, emu, fx, FAST + "[aws]\nmax_connections = 2\nmax_attempts = 10\n[run]\nthreads = 1\n",
                args=[str(script)])
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    check(_delivered(ctx) == set(active_ids(fx)), f"{len(_delivered(ctx))} delivered")
    in_flight = [int(line.split("in_flight=")[1].split()[0]) for line in proc.stderr.splitlines()
                 if "account started" in line]
    check(len(in_flight) == len(active_ids(fx)), f"{len(in_flight)} accounts started")
    # The first ones start before STS first throttles (13 in flight then); starting every
    # account behind the calls held climbed to all 60.
    check(max(in_flight) <= 20, f"accounts in flight when one started: {in_flight}")


def test_a_listing_that_outlasts_the_discovery_budget_while_progressing_goes_on(ctx):
    """[run] discovery_timeout is how long the listing may go without a call that succeeds,
    not how long it may take: one OU's accounts fail to list for 6 s (its calls fail after
    their own retries), twice the 3 s budget, while the pages of the root and of the other OU,
    a second each, keep arriving. The listing waits for the OU, and every account is
    delivered."""
    path, fx = generate(ctx, accounts=300, seed=29, depth=1, ous_per_level=2, suspended=0,
                        pending_closure=0, closed=0, role_missing=0, never_complete=0, min_delay_ms=50,
                        max_delay_ms=300, max_users=2)
    stormy = fx["organizational_units"][0]["id"]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "latency", "service": "organizations", "min_ms": 900, "max_ms": 1100},
        {"type": "error", "service": "organizations", "action": "ListAccountsForParent",
         "target_account": stormy, "duration_ms": 6000},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\ndiscovery_timeout = 3\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    m = _manifest(ctx)
    check(m["summary"]["delivered"] == 300 and m["summary"]["failed"] == 0, f"{m['summary']}")
    log = emu.requests()["requests"]
    failed = sorted(_seconds(r["time"]) for r in log if r["fault"] == "error")
    listed = sorted(_seconds(r["time"]) for r in log if r["service"] == "organizations" and r["status"] == 200)
    check(failed and failed[-1] - listed[0] > 3, f"the OU failed for longer than the budget: {failed}")


def test_the_checks_before_the_run_wait_out_a_short_outage(ctx):
    """STS and S3 answer 503 for 4 s when the run starts, longer than a call's own retries:
    the checks before the run (GetCallerIdentity, GetBucketLocation) are tried again, as the
    listing's calls are, with the warning that says so, and the run delivers every account
    instead of ending before it began (exit 3). A check that cannot pass (a bucket that does
    not exist) still ends it at once."""
    path, fx = generate(ctx, accounts=6, seed=31, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=50, max_delay_ms=100)
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "error", "service": ["sts", "s3"], "status": 503, "code": "ServiceUnavailable",
         "duration_ms": 4000},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = s3://credreport-reports/outage\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    n = len(active_ids(fx))
    check(f"{n} account(s) in scope, {n} delivered, 0 failed" in proc.stdout, proc.stdout[-2000:])
    warned = [line for line in proc.stderr.splitlines() if "failed; trying again" in line]
    check(any("checking the run's credentials" in line for line in warned)
          and any("checking the destination" in line for line in warned), proc.stderr[-3000:])
    log = emu.requests()["requests"]
    refused = [r for r in log if r["action"] in ("GetCallerIdentity", "GetBucketLocation") and r["status"] == 503]
    check(len(refused) > 10, f"{len(refused)} checks refused")
    started = time.monotonic()
    proc = _run(ctx, emu, fx, FAST + "[output]\ndestination = s3://no-such-bucket/outage\n", status=3)
    check("NoSuchBucket" in proc.stderr and time.monotonic() - started < 10, proc.stderr[-2000:])


def _seconds(iso):
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_thousands_in_flight_against_an_endpoint_with_few_connections(ctx):
    """2,000 accounts in flight against an emulator that accepts at most 64 connections, its
    reports ready over 8 s, so that the run stays at the limit: the connections refused beyond
    it lower credreport's bound; every account is delivered and none fails on a timeout, and
    the refusals are the first burst (up to the 80 of the default 144 beyond 64) and a few
    probes, not a stream for as long as the run lasts."""
    path, fx = generate(ctx, accounts=2000, seed=22, depth=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=200, max_delay_ms=8000,
                        max_users=2)
    emu = ctx.emulator(path, extra=["--max-connections", "64", "--log-limit", "1000"])
    # Two workers whatever the machine: the first burst depends on how the 144 connections
    # are shared out.
    proc = _run(ctx, emu, fx, FAST + "[run]\nthreads = 2\n", ["--concurrency", "2000"])
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    m = _manifest(ctx)
    check(m["summary"]["delivered"] == 2000 and m["summary"]["failed"] == 0, f"{m['summary']}")
    check(not [r for r in m["accounts"] if r.get("error", {}).get("code") == "RequestTimeout"], "timeouts")
    conns = emu.admin("GET", "/info")["connections"]
    check(conns["peak"] <= 64, f"the emulator's limit held: {conns}")
    # How many of the first burst the emulator takes and then drops, rather than leaves in its
    # backlog until credreport closes them, is a matter of timing: up to the 80 beyond 64 of
    # the 144 opened before the first drop can be seen, and the connections of calls that took
    # their slots before it (8-102 in the first second in 16 runs), bounded here by the 144 the
    # run may open at once. After it, 2-33 refused in those runs, a probe now and then; with
    # probes that never back off (one per 64 requests or so at the limit) an older binary had
    # 66 and 70.
    check(conns["dropped"] - conns["dropped_late"] <= 144, f"connections refused in the first burst: {conns}")
    check(conns["dropped_late"] <= 60, f"connections refused after the first burst: {conns}")
    check(conns["opened"] < 1000, f"connections opened: {conns}")


def test_a_distant_endpoint_gets_more_connections_unless_they_are_limited(ctx):
    """Every answer takes 250 ms, as from a region far away: the default 144 connections would
    carry 500 requests/s, fewer than 600 accounts ask for while they check on reports that
    take 3-6 s. With senders waiting, credreport tries more connections than that, and
    every account is delivered. Whether a step is kept depends on the rate of answers it
    brings, which a loaded machine can hold back (a CI run saw 199 connections, the step
    taken back): the test asks for the step, not for its verdict. A max_connections that is
    set is a limit (a proxy's, a NAT gateway's): kept, however far."""
    path, fx = generate(ctx, accounts=600, seed=30, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=3000, max_delay_ms=6000)
    far = {"rules": [{"type": "latency", "service": "*", "ms": 250}]}
    emu = ctx.emulator(path, faults=far, extra=["--log-limit", "1000"])
    proc = _run(ctx, emu, fx, FAST, args=["--log-level", "debug"], status=0)
    check(_delivered(ctx) == set(active_ids(fx)), f"{len(_delivered(ctx))} delivered")
    steps = [line for line in proc.stderr.splitlines()
             if "more connections to a distant endpoint" in line or "more connections did not answer faster" in line]
    conns = emu.admin("GET", "/info")["connections"]
    check(steps and conns["peak"] > 144, f"{conns}\n" + "\n".join(steps))
    emu = ctx.emulator(path, faults=far, extra=["--log-limit", "1000"])
    proc = _run(ctx, emu, fx, FAST + "[aws]\nmax_connections = 144\n", args=["--output", str(ctx.tmp / "set")],
                status=0)
    conns = emu.admin("GET", "/info")["connections"]
    check(conns["peak"] <= 144, f"{conns}")


def test_a_slow_listing_leaves_the_workers_connections_alone(ctx):
    """Organizations throttled to 5 requests/s after a burst of 20 pages, so the main thread
    lists for seconds, a page now and then, while a worker sends to the same endpoint, which
    accepts 64 connections and so has refused some in the first burst: the listing's one
    connection does not make the worker close its connections at each page and open them
    again after. One worker whatever the machine, and no resets."""
    path, fx = generate(ctx, accounts=1000, seed=27, depth=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=200, max_delay_ms=2000,
                        max_users=2)
    emu = ctx.emulator(path, extra=["--max-connections", "64"], faults={"rules": [
        {"type": "latency", "service": "*", "min_ms": 10, "max_ms": 30},
        {"type": "throttle", "service": "organizations", "rps": 5, "burst": 20},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\nthreads = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    conns = emu.admin("GET", "/info")["connections"]
    # 106-184 opened in 6 runs (the first burst's refusals and their retries among them);
    # with equal shares, which halved the worker's at each page, 631 and 636.
    check(conns["opened"] <= 300, f"connections opened: {conns}")


def test_connections_come_back_when_the_endpoint_takes_more_again(ctx):
    """An endpoint that accepts 4 connections for the first second of the run, then as many as
    credreport opens (a server that scaled out): what credreport learned from the refusals is
    not kept for the rest of the run; it opens more connections again, one at a time, as
    requests keep going through at the learned limit. Every account is delivered."""
    path, fx = generate(ctx, accounts=1500, seed=28, depth=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=200, max_delay_ms=1500,
                        max_users=2)
    emu = ctx.emulator(path, faults={"rules": [{"type": "latency", "service": "*", "min_ms": 5, "max_ms": 10}]},
                       extra=["--max-connections", "4", "--max-connections-for-ms", "1000", "--log-limit", "1000"])
    proc = _run(ctx, emu, fx, FAST)
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    m = _manifest(ctx)
    check(m["summary"]["delivered"] == 1500 and m["summary"]["failed"] == 0, f"{m['summary']}")
    conns = emu.admin("GET", "/info")["connections"]
    check(conns["dropped"] > 0, f"the limit refused connections at first: {conns}")
    check(conns["peak"] >= 32, f"more than the 4 learned at first, later: {conns}")


def test_connections_reset_after_their_handshake_leave_the_bound_alone(ctx):
    """Over HTTPS, an endpoint with no connection limit that resets 5% of its connections
    after their TLS handshake: a reset is a failure like any other, retried, and never taken
    for a refusal at a connection limit, which would cut the connections credreport keeps.
    Every account is delivered."""
    path, fx = generate(ctx, accounts=1000, seed=29, depth=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=200, max_delay_ms=1500,
                        max_users=2)
    emu = ctx.emulator(path, tls=ctx.test_ca(), faults={"rules": [
        {"type": "latency", "service": "*", "min_ms": 20, "max_ms": 40},
        {"type": "reset", "service": "*", "probability": 0.05},
    ]}, extra=["--log-limit", "1000"])
    proc = _run(ctx, emu, fx, FAST, ["--log-level", "debug"])
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    m = _manifest(ctx)
    check(m["summary"]["delivered"] == 1000 and m["summary"]["failed"] == 0, f"{m['summary']}")
    conns = emu.admin("GET", "/info")["connections"]
    check(conns["dropped"] == 0 and conns["opened"] > 144, f"the emulator refused none, reset some: {conns}")
    refusals = [line for line in proc.stderr.splitlines() if "refused a connection" in line]
    check(not refusals, f"{len(refusals)} resets taken for refusals: {refusals[:3]}")


def test_an_account_that_meets_a_storm_is_delivered_on_its_second_try(ctx):
    """AssumeRole into one account answers 503 for 30 s, then recovers: the account fails its
    first try, waits, and is delivered on the second; the manifest shows 2 attempts."""
    path, fx = generate(ctx, accounts=6, seed=23, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=20, max_delay_ms=100)
    mgmt = fx["management_account_id"]
    target = next(a["id"] for a in fx["accounts"] if a["id"] != mgmt and a["state"] == "ACTIVE")
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "error", "service": "sts", "action": "AssumeRole", "target_account": target,
         "status": 503, "code": "ServiceUnavailable", "duration_ms": 30000},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\naccount_retry_delay = 31\n", status=0)
    rows = {r["id"]: r for r in _manifest(ctx)["accounts"]}
    check(rows[target]["status"] == "delivered" and rows[target]["attempts"] == 2, f"{rows[target]}")
    others = [r for i, r in rows.items() if i != target]
    check(all(r["status"] == "delivered" and r["attempts"] == 1 for r in others), f"{others}")
    storm = [r for r in emu.requests()["requests"] if r["action"] == "AssumeRole" and r["fault"]]
    check(storm, "the storm happened")
    check("will try the account again" in proc.stderr, proc.stderr[-2000:])


def test_polls_among_random_server_errors_leave_the_calls_their_retries(ctx):
    """One request in ten fails at random, and most answers are "not ready yet" to polls. Each
    call still gets its attempts (eight here, so that running out of them is as good as
    impossible): no account needs a second try. When only successes refilled the retry
    quota, the polls drained it within seconds and calls failed at their first error."""
    path, fx = generate(ctx, accounts=300, seed=25, depth=2, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=500, max_delay_ms=8500)
    emu = ctx.emulator(path, faults={"seed": 25, "rules": [
        {"type": "error", "service": "*", "probability": 0.1, "status": 500, "code": "InternalError"},
    ]}, extra=["--log-limit", "20000"])
    proc = _run(ctx, emu, fx, "[report]\nretry_limit = 60\nwait_interval = 0.2\nwait_growth = 1\n"
                "[aws]\nmax_attempts = 8\n[run]\naccount_retry_delay = 1\n"
                "[output]\ndestination = s3://credreport-reports/noisy\n", status=0)
    n = len(active_ids(fx))
    check(f"{n} account(s) in scope, {n} delivered, 0 failed" in proc.stdout, proc.stdout[-2000:])
    again = [line for line in proc.stderr.splitlines() if "will try the account again" in line]
    check(not again, f"{len(again)} accounts needed another try: {again[:3]}")
    log = emu.requests()["requests"]
    polls = [r for r in log if r["error_code"] == "ReportInProgress"]
    errors = [r for r in log if r["fault"] == "error"]
    check(len(polls) > 4000 and len(errors) > 500, f"{len(polls)} polls not ready, {len(errors)} errors")


def _throttle_waits(proc, service=None):
    """(attempt, delay) of each throttle retried, in order, from a debug run's log."""
    waits = []
    for line in proc.stderr.splitlines():
        words = line.split()
        if "retrying" in words and "code=Throttling" in words and (not service or f"service={service}" in words):
            fields = dict(w.split("=", 1) for w in words if w.startswith(("attempt=", "delay=")))
            waits.append((int(fields["attempt"]), float(fields["delay"])))
    return waits


def _member_calls(ctx, emu, fx, members, calls):
    """A debug run that assumes the member role of each account of `members`, all at once,
    and calls IAM's GenerateCredentialReport `calls` times in each."""
    script = ctx.tmp / "members.lua"
    script.write_text("""
local core = require "credreport.core"
local base = assert(core.client())
local ids, calls = ...
local tasks = {}
for id in ids:gmatch("%d+") do
  tasks[#tasks + 1] = core.spawn(function()
    local member = base:assume_role{role_arn = "arn:aws:iam::" .. id .. ":role/OrganizationAccountAccessRole"}
    for _ = 1, tonumber(calls) do assert(member:query("iam", "GenerateCredentialReport")) end
  end)
end
for _, t in ipairs(tasks) do t:join() end
""")
    return run_credreport(ctx, ["run", str(script), "--log-level", "debug", "--", ",".join(members), str(calls)],
                          env=ctx.aws_env(emu, **keys_for(fx)), check_status=0, cwd=ctx.tmp)


def test_throttles_at_random_wait_as_server_errors_once_the_rate_is_not_to_blame(ctx):
    """STS throttles 1 answer in 5 at random, whatever the rate. Until the rate limiter has
    tried a cut and undone it, a throttle waits as the SDKs have it: up to 0.5 s, doubling.
    From then on the throttles are not about the rate, and a throttle waits what a server
    error would: up to 0.1 s, doubling. At 1 throttle in 10 over 1,000 accounts, the longer
    waits of calls throttled several times in a row added 1-3 s to the run's end."""
    emu = ctx.emulator(faults={"seed": 7, "rules": [
        {"type": "error", "service": "sts", "action": "GetCallerIdentity", "probability": 0.2,
         "status": 400, "code": "Throttling"},
    ]}, extra=["--log-limit", "5000"])
    script = ctx.tmp / "throttled.lua"
    script.write_text("""
local core = require "credreport.core"
local client = assert(core.client())
local tasks = {}
for i = 1, 20 do
  tasks[i] = core.spawn(function() for _ = 1, 30 do client:query("sts", "GetCallerIdentity") end end)
end
for _, t in ipairs(tasks) do t:join() end
""")
    proc = run_credreport(ctx, ["run", str(script), "--log-level", "debug"], env=ctx.aws_env(emu, **MGMT_KEYS),
                          check_status=0, cwd=ctx.tmp)
    waits = _throttle_waits(proc)
    def longer(attempt, delay):  # than a server error's wait may be
        return delay > 0.1 * 2 ** (attempt - 1)
    check(len(waits) > 100, f"the throttles were retried: {len(waits)}")
    check(any(longer(*w) for w in waits[:10]), f"the first throttles wait as refusals of the rate: {waits[:10]}")
    late = [w for w in waits[len(waits) // 2:] if longer(*w)]
    check(not late, f"later throttles wait as server errors: {late}")


def test_throttles_in_member_accounts_wait_as_server_errors(ctx):
    """IAM throttles 3 answers in 20 at random in every member account. A member account's
    identity has rate limiters of its own and makes a few calls, too few for its limiter to
    try a cut and undo it: until a streak of throttles there has cut its rate, a throttle
    waits as a server error does (up to 0.1 s, doubling), from the first one. With the
    SDKs' waits (0.5 s, doubling), the last GenerateCredentialReport of 1,000 accounts with
    1 answer in 10 throttled went out at 3 s instead of 1."""
    path, fx = generate(ctx, accounts=30, seed=26, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0)
    members = [a for a in active_ids(fx) if a != fx["management_account_id"]]
    emu = ctx.emulator(path, faults={"seed": 26, "rules": [
        {"type": "error", "service": "iam", "probability": 0.15, "status": 400, "code": "Throttling"},
    ]}, extra=["--log-limit", "5000"])
    waits = _throttle_waits(_member_calls(ctx, emu, fx, members, 3), "iam")
    check(len(waits) >= 8, f"the throttles were retried: {waits}")
    longer = [w for w in waits if w[1] > 0.1 * 2 ** (w[0] - 1)]
    check(not longer, f"every throttle waits as a server error: {longer}")


def test_a_call_throttled_at_random_again_and_again_waits_at_most_0_4_s(ctx):
    """IAM throttles the first 5 answers in each of three member accounts: a call throttled
    again and again where the throttles are taken as random (a member account whose rate was
    not cut) goes again after waits from 0.1 s, doubling, but never above 0.4 s, since
    waiting does not make the next answer less likely throttled (with 0.8 and 1.6 s at the
    4th and 5th, such calls stored their reports seconds after every other account's)."""
    path, fx = generate(ctx, accounts=6, seed=27, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0)
    members = [a for a in active_ids(fx) if a != fx["management_account_id"]][:3]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "error", "service": "iam", "account": a, "count": 5, "status": 400, "code": "Throttling"}
        for a in members
    ]})
    waits = _throttle_waits(_member_calls(ctx, emu, fx, members, 1), "iam")
    check(sorted(a for a, _ in waits) == sorted(list(range(1, 6)) * 3), f"5 retries of each call: {waits}")
    longer = [w for w in waits if w[1] > min(0.4, 0.1 * 2 ** (w[0] - 1))]
    check(not longer, f"each waits at most 0.1 s doubling, and 0.4 s: {longer}")


def test_a_filter_that_raises_fails_only_its_account(ctx):
    path, fx = generate(ctx, accounts=12, seed=24, depth=2, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=10, max_delay_ms=50)
    victim = active_ids(fx)[3]
    emu = ctx.emulator(path)
    script = ctx.tmp / "filtered.lua"
    script.write_text(f"""
return require("credreport.workflow").new{{
  filter = function(account)
    if account.id == "{victim}" then error("cannot decide " .. account.id) end
    return true
  end,
}}
""")
    proc = _run(ctx, emu, fx, FAST, [str(script)], status=1)
    rows = {r["id"]: r for r in _manifest(ctx)["accounts"]}
    check(sorted(rows) == active_ids(fx), f"every account is listed: {sorted(rows)}")
    check(rows[victim]["status"] == "failed" and rows[victim]["error"]["code"] == "ScriptError"
          and "cannot decide" in rows[victim]["error"]["message"], f"{rows[victim]}")
    check(_delivered(ctx) == set(active_ids(fx)) - {victim}, "the others were delivered")
    check(f"failed {victim}" in proc.stdout, proc.stdout)


def test_threads_share_an_endpoint_that_accepts_few_connections(ctx):
    """Threads against an emulator that accepts fewer connections than they would open (4
    threads and 4 connections; 2 threads and 1): a thread left without a connection, because
    the others hold them all, busy or idle, waits for one rather than failing its calls.
    Every account is delivered on its first try."""
    path, fx = generate(ctx, accounts=400, seed=25, depth=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=50, max_delay_ms=400,
                        max_users=2)
    for threads, limit in ((4, 4), (2, 1)):
        emu = ctx.emulator(path, extra=["--max-connections", str(limit), "--log-limit", "1000"])
        for old in (ctx.tmp / "reports").rglob("*"):
            if old.is_file():
                old.unlink()
        proc = _run(ctx, emu, fx, FAST + f"[run]\nthreads = {threads}\naccount_attempts = 1\n")
        m = _manifest(ctx)
        failed = [r for r in m["accounts"] if r["status"] != "delivered"]
        check(not failed, f"{threads} threads, {limit} connections: {len(failed)} accounts failed: {failed[:3]}")
        check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        conns = emu.admin("GET", "/info")["connections"]
        check(conns["peak"] <= limit, f"the emulator's limit held: {conns}")


def test_the_run_keeps_to_max_connections_with_every_thread_together(ctx):
    """[aws] max_connections is for the whole run: with every service behind one endpoint (a
    proxy, the emulator), the main thread listing the organization while two workers process
    accounts keep no more connections open together than it allows, and with fewer connections
    than threads, fewer threads start. An endpoint that takes more is never refused, so nothing
    else keeps the count down."""
    path, fx = generate(ctx, accounts=300, seed=27, depth=3, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=50, max_delay_ms=400,
                        max_users=2)
    for total, threads in ((6, 2), (16, 2), (3, 8)):
        emu = ctx.emulator(path, extra=["--log-limit", "1000"])
        for old in (ctx.tmp / "reports").rglob("*"):
            if old.is_file():
                old.unlink()
        proc = _run(ctx, emu, fx, FAST + f"[aws]\nmax_connections = {total}\n[run]\nthreads = {threads}\n")
        check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        m = _manifest(ctx)
        check(all(r["status"] == "delivered" for r in m["accounts"]) and len(m["accounts"]) == 300,
              f"{total} connections: every account delivered")
        conns = emu.admin("GET", "/info")["connections"]
        check(conns["peak"] <= total, f"at most {total} connections open at once: {conns}")


def test_resume_checks_use_every_connection_then_give_them_back(ctx):
    """With --resume, the main thread checks what earlier runs delivered before any account
    goes to the workers, with all of [aws] max_connections; then it keeps to its share while
    the workers collect the accounts left. The endpoint never sees more than the setting."""
    path, fx = generate(ctx, accounts=300, seed=28, depth=2, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=50, max_delay_ms=300,
                        max_users=2)
    emu = ctx.emulator(path, extra=["--log-limit", "1000"])
    config = (FAST + "[aws]\nmax_connections = 6\n[run]\nthreads = 2\n"
              "[output]\ndestination = s3://credreport-reports/resume\n")
    ids = sorted(a["id"] for a in fx["accounts"] if a["state"] == "ACTIVE")
    left_out = ids[:100]
    first = _run(ctx, emu, fx, config, [a for i in left_out for a in ("--exclude-account", i)])
    check(first.returncode == 0, f"first run: exit {first.returncode}\n{first.stderr[-3000:]}")
    second = _run(ctx, emu, fx, config, ["--resume"])
    check(second.returncode == 0, f"resumed run: exit {second.returncode}\n{second.stderr[-3000:]}")
    check(f"{len(ids) - 100} delivered earlier today (--resume)" in second.stdout, second.stdout[-2000:])
    heads = [r for r in emu.requests()["requests"] if r["action"] == "HeadObject"]
    check(len(heads) >= len(ids) - 100, f"the resumed reports were checked: {len(heads)} HEAD requests")
    conns = emu.admin("GET", "/info")["connections"]
    check(conns["peak"] <= 6, f"at most 6 connections open at once: {conns}")


def test_a_burst_into_throttling_costs_no_account(ctx):
    """Hundreds of AssumeRole calls at once into STS that takes 100 a second (bursts of 20):
    the burst is throttled, the rate limiter cuts its rate once for it, and the requests it
    caught go again at the new rate without spending their attempts. Every account is
    delivered on its first try."""
    path, fx = generate(ctx, accounts=400, seed=26, depth=1, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=50, max_delay_ms=200,
                        max_users=2)
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "throttle", "service": "sts", "rps": 100, "burst": 20},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\naccount_attempts = 1\n")
    m = _manifest(ctx)
    failed = [r for r in m["accounts"] if r["status"] != "delivered"]
    check(not failed, f"{len(failed)} accounts failed: {failed[:3]}")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    throttled = [r for r in emu.requests()["requests"] if r["error_code"] == "Throttling"]
    check(len(throttled) > 20, f"STS did throttle the burst: {len(throttled)}")


def _calls_per_account(log, action):
    """Calls of an action in each account: AssumeRole by its role's account, the others by the
    account whose credentials signed them."""
    counts = {}
    for r in log:
        if r["action"] != action:
            continue
        where = r["params"]["RoleArn"] if action == "AssumeRole" else (r.get("principal") or "")
        account = where.split(":")[4] if where.count(":") >= 5 else ""
        counts[account] = counts.get(account, 0) + 1
    return counts


def test_accounts_waiting_their_turn_find_their_reports_ready(ctx):
    """Two accounts in flight at a time and reports that take 2 s: the accounts still waiting
    their turn have their reports asked for meanwhile (W:prepare), so the later ones find
    theirs ready at their first check; none is generated twice, no role is assumed twice
    (the turn starts with the credentials prepare kept) and every account arrives."""
    path, fx = generate(ctx, accounts=10, seed=41, depth=1, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=2000, max_delay_ms=2000)
    emu = ctx.emulator(path)
    proc = _run(ctx, emu, fx, FAST + "[run]\nconcurrency = 2\nthreads = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    want = set(active_ids(fx))
    check(_delivered(ctx) == want, f"{len(_delivered(ctx))} delivered of {len(want)}")
    log = emu.requests()["requests"]
    assumed = _calls_per_account(log, "AssumeRole")
    check(len(assumed) == len(want) - 1 and set(assumed.values()) == {1},
          f"each member's role assumed once: {assumed}")
    generated = _calls_per_account(log, "GenerateCredentialReport")
    check(all(generated.get(a) == 1 for a in want), f"each report generated once: {generated}")
    # A report takes 2 s and an unprepared account first checks after 0.1 s: a report ready at
    # the first check was asked for ahead of the account's turn. Usually three pairs of the
    # five are; on a loaded machine (a CI run) the third pair's report was asked for a moment
    # too late for its first check.
    checks = {r["id"]: r.get("checks") for r in _manifest(ctx)["accounts"]}
    ready = [a for a in want if checks[a] == 1]
    check(len(ready) >= 4, f"prepared accounts whose report was ready at their first check: {checks}")


def test_reports_are_fetched_while_sts_still_throttles(ctx):
    """STS takes 10 AssumeRole calls a second, so 120 accounts need 12 s of it; reports take
    1 s. The AssumeRoles the worker's rate limiter holds keep the accounts that would start
    with one waiting (they would only wait with them), but not the checks of reports under
    way, nor the accounts whose reports were asked for ahead of their turn (W:prepare) once
    those should be ready: most reports are fetched while roles are still being assumed.
    When the calls held counted as queued for a connection for these too, 21-41% were (the
    rest waited for the last role), against 78-93% now."""
    path, fx = generate(ctx, accounts=120, seed=27, depth=1, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=1000, max_delay_ms=1000,
                        max_users=2)
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "throttle", "service": "sts", "action": "AssumeRole", "rps": 10, "burst": 1},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[aws]\nmax_connections = 2\nmax_attempts = 10\n[run]\nthreads = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    check(_delivered(ctx) == set(active_ids(fx)), f"{len(_delivered(ctx))} delivered")
    log = emu.requests()["requests"]
    last_role = max(r["seq"] for r in log if r["action"] == "AssumeRole" and r["status"] == 200)
    fetched = [r for r in log if r["action"] == "GetCredentialReport" and r["status"] == 200]
    early = [r for r in fetched if r["seq"] < last_role]
    check(len(early) >= 0.6 * len(fetched),
          f"{len(early)} of {len(fetched)} reports fetched before the last role was assumed")


def test_an_account_whose_prepare_failed_starts_before_those_prepared(ctx):
    """As above, with 16 accounts and reports that take 3 s; one account's first
    GenerateCredentialReport, sent by its prepare, is refused. Its report is not under way, as
    those of the accounts prepared before it are: its turn is the next to start, not the last,
    and it is delivered."""
    path, fx = generate(ctx, accounts=16, seed=41, depth=1, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=3000, max_delay_ms=3000)
    target = active_ids(fx)[-1]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "fail", "service": "iam", "action": "GenerateCredentialReport", "account": target,
         "count": 1, "status": 403, "code": "AccessDenied"}]})
    proc = _run(ctx, emu, fx, FAST + "[run]\nconcurrency = 2\nthreads = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    check(_delivered(ctx) == set(active_ids(fx)), f"{len(_delivered(ctx))} delivered")
    log = emu.requests()["requests"]
    gens = [r for r in log if r["action"] == "GenerateCredentialReport" and r["account"] == target]
    check(len(gens) == 2 and gens[0]["fault"] == "fail" and gens[1]["status"] == 200, f"{gens}")
    # A prepared account's turn starts with GetCredentialReport; the target's with its second
    # GenerateCredentialReport. Those prepared before the target's prepare failed are the
    # accounts whose report was asked for then and whose turn had not started.
    turns = {}
    for r in log:
        if r["action"] == "GetCredentialReport":
            turns.setdefault(r["account"], r["seq"])
    prepared = {r["account"] for r in log if r["action"] == "GenerateCredentialReport"
                and r["status"] == 200 and r["seq"] < gens[0]["seq"] < turns[r["account"]]}
    check(len(prepared) >= 3, f"{len(prepared)} prepared before the target's prepare failed")
    ahead = sorted(a for a in prepared if turns[a] < gens[1]["seq"])
    check(len(ahead) <= 1, f"{len(ahead)} of {len(prepared)} prepared accounts started before the one whose prepare failed")


def test_the_last_reports_are_checked_between_the_checks_of_their_schedule(ctx):
    """Reports that take 3.5 s, checked every 2 s, 3 checks at most: the schedule alone would
    see them at 4 s. Once every account has started and few are in flight, the run checks them
    every 0.25 s between the checks of their schedule, and these do not count against
    retry_limit: every report is seen, with more checks than retry_limit allows, and none of
    its checks is 2 s after the one before."""
    path, fx = generate(ctx, accounts=4, seed=43, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=3500, max_delay_ms=3500)
    emu = ctx.emulator(path)
    proc = _run(ctx, emu, fx, "[report]\nretry_limit = 3\nwait_interval = 2\nwait_growth = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    want = set(active_ids(fx))
    check(_delivered(ctx) == want, f"{len(_delivered(ctx))} delivered of {len(want)}")
    log = emu.requests()["requests"]
    rows = {r["id"]: r for r in _manifest(ctx)["accounts"]}
    for account in want:
        calls = [_seconds(r["time"]) for r in log if r.get("account") == account
                 and r["action"] in ("GenerateCredentialReport", "GetCredentialReport")]
        gaps = [round(b - a, 2) for a, b in zip(calls, calls[1:])]
        check(len(calls) > 3 and rows[account]["checks"] == len(calls), f"{account}: checks {rows[account]['checks']}, calls {len(calls)}")
        check(gaps and gaps[0] > 1.5 and max(gaps[1:]) < 1, f"{account}: the first check after 2 s, then more often: {gaps}")


def test_a_report_that_never_completes_still_fails_after_retry_limit_checks_of_its_schedule(ctx):
    """The checks between those of the schedule do not make an account wait longer: a report
    that never completes fails after retry_limit checks, 2 s apart, and says how many more
    were made."""
    path, fx = generate(ctx, accounts=3, seed=44, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=1, min_delay_ms=100, max_delay_ms=100)
    never = next(a["id"] for a in fx["accounts"] if a.get("report_never_completes"))
    emu = ctx.emulator(path)
    proc = _run(ctx, emu, fx, "[report]\nretry_limit = 3\nwait_interval = 2\nwait_growth = 1\n", ["--account", never],
                status=1)
    (row,) = _manifest(ctx)["accounts"]
    message = row["error"]["message"]
    check(row["error"]["code"] == "ReportNotReady" and "after 3 checks over " in message
          and "(retry_limit 3, and " in message
          and "checks between them with few accounts left" in message, message)
    extras = int(message.split("retry_limit 3, and ")[1].split(" ")[0])
    calls = [r for r in emu.requests()["requests"] if r.get("account") == never
             and r["action"] in ("GenerateCredentialReport", "GetCredentialReport")]
    check(extras >= 4 and len(calls) == 3 + extras, f"{extras} more, {len(calls)} calls: {proc.stderr[-1500:]}")


def test_a_check_between_those_of_the_schedule_that_iam_refuses_is_not_retried(ctx):
    """As above, but each account's IAM takes 1 request a second: the first check between
    those of the schedule is throttled. It has one attempt, and the account then keeps to its
    schedule: no retry, no more such checks, every report delivered at the schedule's time."""
    path, fx = generate(ctx, accounts=4, seed=43, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=3500, max_delay_ms=3500)
    faults = {"rules": [{"type": "throttle", "service": "iam", "per_account": True, "rps": 1, "burst": 1}]}
    emu = ctx.emulator(path, faults=faults)
    proc = _run(ctx, emu, fx, "[report]\nretry_limit = 3\nwait_interval = 2\nwait_growth = 1\n")
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    want = set(active_ids(fx))
    check(_delivered(ctx) == want, f"{len(_delivered(ctx))} delivered of {len(want)}")
    log = emu.requests()["requests"]
    for account in want:
        calls = [(_seconds(r["time"]), r["status"]) for r in log if r.get("account") == account
                 and r["action"] in ("GenerateCredentialReport", "GetCredentialReport")]
        refused = [i for i, (_, status) in enumerate(calls) if status != 200 and status != 404]
        check(len(refused) == 1 and refused[0] + 1 < len(calls), f"{account}: one check refused: {calls}")
        after = calls[refused[0] + 1:]
        check(after[0][0] - calls[refused[0]][0] > 1 and all(b[0] - a[0] > 1.5 for a, b in zip(after, after[1:])),
              f"{account}: after it, the schedule only: {calls}")


def test_preparing_stops_when_the_reports_are_already_there(ctx):
    """A second run within IAM's 4 hours finds every report generated: asking for them ahead
    would be two calls for nothing per account, so after the first few prepares show it,
    preparing stops."""
    path, fx = generate(ctx, accounts=16, seed=43, depth=1, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=100, max_delay_ms=300)
    emu = ctx.emulator(path, faults={"rules": [{"type": "latency", "service": "*", "min_ms": 150, "max_ms": 150}]})
    config = FAST + "[run]\nconcurrency = 2\nthreads = 1\n"
    first = _run(ctx, emu, fx, config)
    check(first.returncode == 0, f"first run: exit {first.returncode}\n{first.stderr[-3000:]}")
    before = len(emu.requests()["requests"])
    second = _run(ctx, emu, fx, config)
    check(second.returncode == 0, f"second run: exit {second.returncode}\n{second.stderr[-3000:]}")
    log = emu.requests()["requests"][before:]
    # A prepare that finds the report generated leaves the turn to generate it again.
    accounts = len(set(active_ids(fx)))
    generated = sum(_calls_per_account(log, "GenerateCredentialReport").values())
    check(accounts < generated <= accounts + 4,
          f"{generated} GenerateCredentialReport calls for {accounts} accounts: prepares went on after they stopped paying")


def test_a_workflow_can_turn_preparing_off(ctx):
    """`W.prepare = false` in a workflow script: the same waiting accounts, each role assumed
    once, every report generated in its account's turn."""
    path, fx = generate(ctx, accounts=6, seed=41, depth=1, suspended=0, pending_closure=0,
                        closed=0, role_missing=0, never_complete=0, min_delay_ms=1500, max_delay_ms=1500)
    emu = ctx.emulator(path)
    script = ctx.tmp / "no-prepare.lua"
    script.write_text('local W = require("credreport.workflow").new()\nW.prepare = false\nreturn W\n')
    proc = _run(ctx, emu, fx, FAST + "[run]\nconcurrency = 2\nthreads = 1\n", args=[str(script)])
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    check(_delivered(ctx) == set(active_ids(fx)), f"{len(_delivered(ctx))} delivered")
    assumed = _calls_per_account(emu.requests()["requests"], "AssumeRole")
    check(assumed and set(assumed.values()) == {1}, f"each role assumed once: {assumed}")


def _taken_as_lost(proc):
    """The log lines of requests credreport gave up on as lost (debug level)."""
    return [line for line in proc.stderr.splitlines() if "taken as lost" in line]


def _check_each_delivered_on_its_first_try(ctx):
    late = [r for r in _manifest(ctx)["accounts"] if r["status"] != "delivered" or r["attempts"] != 1]
    check(not late, f"{late}")


def _generate_hung(ctx, times):
    """40 accounts; the first `times` GenerateCredentialReport requests into one of them meet a
    server that takes them and never answers, on connections that stay open, while the
    endpoint answers every other call. Each is taken as lost and sent again, and the account is
    delivered on its first try. Returns the seconds between one request and the next, by the
    emulator's clock."""
    path, fx = generate(ctx, accounts=40, seed=25, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=20, max_delay_ms=100)
    target = active_ids(fx)[5]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "hang", "service": "iam", "action": "GenerateCredentialReport", "account": target,
         "count": times},
    ]})
    proc = _run(ctx, emu, fx, FAST, args=["--log-level", "debug"], status=0)
    _check_each_delivered_on_its_first_try(ctx)
    gens = [r for r in emu.requests()["requests"]
            if r["action"] == "GenerateCredentialReport" and r["account"] == target]
    check(len(gens) > times and all(g["fault"] == "hang" for g in gens[:times]) and gens[times]["status"] == 200,
          f"{gens}")
    lost = _taken_as_lost(proc)
    check(len(lost) == times and all("GenerateCredentialReport" in line for line in lost), proc.stderr[-3000:])
    return [_seconds(b["time"]) - _seconds(a["time"]) for a, b in zip(gens, gens[1:times + 1])]


def test_a_request_the_endpoint_never_answers_is_sent_again(ctx):
    """A request the endpoint never answers, once it has had no answer for 2 s while calls sent
    after it were answered, is taken as lost and sent again on another connection: not after
    the 6 s a call alone waits, nor at the 30 s stall limit."""
    (gap,) = _generate_hung(ctx, 1)
    check(1.9 <= gap < 4, f"sent again {gap:.1f} s later")


def test_a_request_alone_on_an_endpoint_known_to_answer_is_sent_again_after_2_s(ctx):
    """STS takes 1.5 s to let credreport into the last account, by when every other account is
    delivered, and that account's first GetCredentialReport meets a server that never answers.
    No request goes out after it to compare with, but the endpoint has answered a hundred: the
    request is taken as lost after 2 s, as one overtaken by others is, not after the 6 s a
    request waits when nothing is known of its endpoint."""
    path, fx = generate(ctx, accounts=30, seed=28, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=20, max_delay_ms=100)
    target = active_ids(fx)[7]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "latency", "service": "sts", "action": "AssumeRole", "target_account": target, "ms": 1500},
        {"type": "hang", "service": "iam", "action": "GetCredentialReport", "account": target,
         "count": 1},
    ]})
    proc = _run(ctx, emu, fx, FAST, args=["--log-level", "debug"], status=0)
    _check_each_delivered_on_its_first_try(ctx)
    requests = emu.requests()["requests"]
    gets = [r for r in requests if r["action"] == "GetCredentialReport" and r["account"] == target]
    check(len(gets) >= 2 and gets[0]["fault"] == "hang", f"{gets}")
    after = [r for r in requests if r["seq"] > gets[0]["seq"] and r["account"] != target]
    check(len(after) < 8, f"{len(after)} requests of other accounts went out after the lost one")
    lost = _taken_as_lost(proc)
    check(len(lost) == 1 and "GetCredentialReport" in lost[0], proc.stderr[-3000:])
    gap = _seconds(gets[1]["time"]) - _seconds(gets[0]["time"])
    check(1.9 <= gap < 4, f"sent again {gap:.1f} s later")


def test_a_large_upload_the_endpoint_takes_seconds_to_store_is_not_sent_again(ctx):
    """A 40 MiB upload answered 2.5 s after its last byte, as by a store that syncs it to disk
    first, on an endpoint that has answered many quick calls: it waits a second more for
    each 32 MiB it sent, gets its answer, and goes once. A small request would have been
    taken as lost after 2 s."""
    emu = ctx.emulator(faults={"rules": [
        {"type": "latency", "service": "s3", "action": "PutObject", "ms": 2500},
    ]})
    script = ctx.tmp / "upload.lua"
    script.write_text("""
local core = require "credreport.core"
local client = assert(core.client())
for _ = 1, 12 do assert(client:query("sts", "GetCallerIdentity")) end
local res, meta = assert(client:s3("PUT", {bucket = "credreport-reports", key = "big/file.bin",
                                           body = string.rep("x", 40 * 1024 * 1024)}))
print("attempts " .. tostring(meta.attempts))
""")
    proc = run_credreport(ctx, ["run", str(script), "--log-level", "debug"], env=ctx.aws_env(emu, **MGMT_KEYS),
                          check_status=0, cwd=ctx.tmp)
    check(not _taken_as_lost(proc) and "attempts 1" in proc.stdout, proc.stdout + proc.stderr[-2000:])


class _StallingProxy:
    """Forwards TCP connections to a port, except the stall-th (or each in a range), which it
    takes and never reads from: over HTTPS, a handshake that never completes."""

    def __init__(self, port, stall):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        stall = range(stall, stall + 1) if isinstance(stall, int) else stall
        self.target, self.stall, self.accepted, self.held = port, stall, 0, []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted in self.stall:
                self.held.append(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.server.close()
        for s in self.held:
            s.close()


def test_a_connection_the_endpoint_never_completes_is_given_up_before_the_connect_timeout(ctx):
    """Over HTTPS, the endpoint takes its 6th connection and never completes the handshake,
    while it completes the others and answers on them. The call waiting for that connection
    is sent again on another 2 s after the connection was opened, not at the 10 s connect
    timeout, and every account is delivered on its first try."""
    path, fx = generate(ctx, accounts=40, seed=33, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=20, max_delay_ms=100)
    emu = ctx.emulator(path, tls=ctx.test_ca())
    proxy = _StallingProxy(int(emu.url.rsplit(":", 1)[1]), stall=6)
    try:
        cfg = ctx.tmp / "config.ini"
        cfg.write_text(FAST)
        env = ctx.aws_env(emu, **keys_for(fx), AWS_ENDPOINT_URL=f"https://127.0.0.1:{proxy.port}")
        proc = run_credreport(ctx, ["run", "-c", str(cfg), "--log-level", "debug"], env=env, check_status=0,
                              cwd=ctx.tmp, timeout=120)
    finally:
        proxy.close()
    check(proxy.accepted > 6 and proxy.held, f"{proxy.accepted} connections")
    _check_each_delivered_on_its_first_try(ctx)
    lost = _taken_as_lost(proc)
    check(len(lost) == 1 and "no connection 2 s after it was opened" in lost[0], "\n".join(lost) or proc.stderr[-3000:])


def test_connections_the_endpoint_never_completes_cost_no_attempt(ctx):
    """As above, with the 6th to 15th connections never completed, and calls given a single
    attempt and accounts a single try: the server saw none of the requests whose connections
    were given up on, so each is sent again without spending its attempt (nor the retry
    quota: as a 30,000-account run started, a batch of such connections drained it, and calls
    that met one then failed at once, their accounts waiting a minute for a second try).
    Every account is delivered."""
    path, fx = generate(ctx, accounts=40, seed=33, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=20, max_delay_ms=100)
    emu = ctx.emulator(path, tls=ctx.test_ca())
    proxy = _StallingProxy(int(emu.url.rsplit(":", 1)[1]), stall=range(6, 16))
    try:
        cfg = ctx.tmp / "config.ini"
        cfg.write_text(FAST + "[aws]\nmax_attempts = 1\n[run]\naccount_attempts = 1\n")
        env = ctx.aws_env(emu, **keys_for(fx), AWS_ENDPOINT_URL=f"https://127.0.0.1:{proxy.port}")
        proc = run_credreport(ctx, ["run", "-c", str(cfg), "--log-level", "debug"], env=env,
                              cwd=ctx.tmp, timeout=120)
    finally:
        proxy.close()
    check(proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    check(len(proxy.held) == 10, f"{proxy.accepted} connections, {len(proxy.held)} never completed")
    _check_each_delivered_on_its_first_try(ctx)
    lost = _taken_as_lost(proc)
    check(lost and all("no connection 2 s after it was opened" in line for line in lost),
          "\n".join(lost) or proc.stderr[-3000:])


def test_a_request_lost_twice_is_sent_again_after_2_s_both_times(ctx):
    """A request lost at random says nothing of the next: when the next is lost too, it is
    also taken as lost 2 s after it went out, not 6 s, and the third is answered."""
    gaps = _generate_hung(ctx, 2)
    check(all(1.9 <= g < 4 for g in gaps), f"sent again after {gaps} s")


def test_a_call_slower_than_the_rest_costs_two_attempts_not_the_account(ctx):
    """Behind one endpoint, STS takes 4 s to answer AssumeRole into one account while every
    other call is answered at once, and the other accounts keep checking on their reports
    all along: the first two attempts are taken as lost after 2 s each, the third waits
    three times as long, gets its answer, and the account is delivered on its first try.
    Waiting 2 s each time would have failed the call, and the account with it."""
    path, fx = generate(ctx, accounts=60, seed=26, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=12000, max_delay_ms=14000)
    target = active_ids(fx)[5]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "latency", "service": "sts", "action": "AssumeRole", "target_account": target, "ms": 4000},
    ]})
    proc = _run(ctx, emu, fx, FAST, args=["--log-level", "debug"], status=0)
    rows = {r["id"]: r for r in _manifest(ctx)["accounts"]}
    check(rows[target]["status"] == "delivered" and rows[target]["attempts"] == 1, f"{rows[target]}")
    lost = _taken_as_lost(proc)
    check(len(lost) == 2 and all("AssumeRole" in line for line in lost), "\n".join(lost) or proc.stderr[-3000:])
    assumed = [r for r in emu.requests()["requests"] if r["action"] == "AssumeRole" and
               target in (r.get("params") or {}).get("RoleArn", "")]
    check(len(assumed) == 3, f"{assumed}")


def test_an_occasional_slow_answer_does_not_make_the_endpoint_slow(ctx):
    """Among 40 AssumeRole calls answered at once, one takes 1.5 s, and another, sent at the
    same time, would take 4 s. The first is an outlier, not the endpoint's pace: the second is
    taken as lost 2 s after it went out, as if the first had been quick, and its account is
    delivered on its first try. Waiting three times the slowest answer would have held it for
    its whole 4 s."""
    path, fx = generate(ctx, accounts=40, seed=29, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=20, max_delay_ms=100)
    slow, slower = [a for a in active_ids(fx) if a != fx["management_account_id"]][3:5]
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "latency", "service": "sts", "action": "AssumeRole", "target_account": slow, "ms": 1500},
        {"type": "latency", "service": "sts", "action": "AssumeRole", "target_account": slower,
         "ms": 4000, "count": 1},
    ]})
    proc = _run(ctx, emu, fx, FAST + "[run]\nthreads = 1\n", args=["--log-level", "debug"], status=0)
    _check_each_delivered_on_its_first_try(ctx)
    lost = _taken_as_lost(proc)
    check(len(lost) == 1 and "AssumeRole" in lost[0], "\n".join(lost) or proc.stderr[-3000:])
    # The emulator logs the calls it answered: the slow one, and the slower one's second
    # attempt, well before the 4 s its first would have taken.
    answered = {a: [r for r in emu.requests()["requests"] if r["action"] == "AssumeRole" and
                    f"::{a}:" in r["params"]["RoleArn"]] for a in (slow, slower)}
    check(len(answered[slow]) == 1 and len(answered[slower]) == 1, f"{answered}")
    gap = _seconds(answered[slower][0]["time"]) - _seconds(answered[slow][0]["time"])
    check(answered[slower][0]["duration_ms"] < 1000 and 1.9 <= gap < 3.5,
          f"sent again {gap:.1f} s after the first went out: {answered}")


def test_an_endpoint_slow_to_answer_loses_nothing(ctx):
    """STS takes 2-7 s to answer each AssumeRole, some more than others. Calls still waiting
    after 2 s while later ones were answered are not lost: the endpoint's answers took
    seconds lately, so credreport waits three times the longest of them before it sends one
    again, and no call is sent twice."""
    path, fx = generate(ctx, accounts=40, seed=27, depth=1, suspended=0, pending_closure=0, closed=0,
                        role_missing=0, never_complete=0, min_delay_ms=20, max_delay_ms=100)
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "latency", "service": "sts", "action": "AssumeRole", "min_ms": 2000, "max_ms": 7000},
    ]})
    proc = _run(ctx, emu, fx, FAST, args=["--log-level", "debug"], status=0)
    rows = _manifest(ctx)["accounts"]
    check(all(r["status"] == "delivered" and r["attempts"] == 1 for r in rows), f"{rows}")
    lost = _taken_as_lost(proc)
    check(not lost, "\n".join(lost))
    assumed = _calls_per_account(emu.requests()["requests"], "AssumeRole")
    check(set(assumed.values()) == {1}, f"each role assumed once: {assumed}")
