"""Retries as the SDKs' standard mode, driven by the emulator's fault injection."""
from datetime import datetime

from awscalls import MGMT_KEYS, calls, j, q, s3
from harness import check


def _fail(service, action, count, **kw):
    return dict(type="fail", service=service, action=action, count=count, **kw)


def test_transient_errors_are_retried(ctx):
    emu = ctx.emulator(faults={"rules": [
        _fail("sts", "GetCallerIdentity", 2, status=500),
        dict(type="throttle", service="organizations", action="ListRoots", rps=0.001, burst=1, count=3),
        dict(type="reset", service="organizations", action="DescribeOrganization", count=1),
        dict(type="truncate", service="iam", action="GenerateCredentialReport", count=1),
        dict(type="malformed", service="organizations", action="ListAccounts", count=1),
        _fail("s3", "PutObject", 1, status=503, code="SlowDown"),
    ]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    sts, roots1, roots2, desc, gen, accts, put = calls(ctx, env, [
        q("sts", "GetCallerIdentity"), j("ListRoots"), j("ListRoots"), j("DescribeOrganization"),
        q("iam", "GenerateCredentialReport"), j("ListAccounts"),
        s3("PUT", bucket="mgmt-private", key="k", body="v"),
    ])
    check(sts["ok"] and sts["meta"]["attempts"] == 3, f"5xx twice then success: {sts}")
    # The throttle lets the first ListRoots through, then throttles with TooManyRequestsException.
    check(roots1["ok"] and roots1["meta"]["attempts"] == 1, f"{roots1}")
    check(roots2["ok"] and roots2["meta"]["attempts"] >= 2 or
          (not roots2["ok"] and roots2["error"]["code"] == "TooManyRequestsException"), f"{roots2}")
    # libcurl itself resends once when a reused connection dies before any answer, so the
    # retry may happen below our count: what matters is the call succeeding after a reset.
    resets = [r for r in emu.requests()["requests"] if r["action"] == "DescribeOrganization"]
    check(desc["ok"] and len(resets) == 2 and resets[0]["status"] == 0, f"reset connection retried: {desc} {resets}")
    check(gen["ok"] and gen["meta"]["attempts"] == 2, f"truncated body retried: {gen}")
    check(accts["ok"] and accts["meta"]["attempts"] == 2, f"malformed body retried: {accts}")
    check(put["ok"] and put["meta"]["attempts"] == 2, f"SlowDown retried: {put}")
    codes = [r["error_code"] for r in emu.requests()["requests"] if r["action"] == "ListRoots"]
    check("TooManyRequestsException" in codes, f"throttled with Organizations' own code: {codes}")


def test_a_call_alone_that_is_never_answered_goes_again_before_the_stall_limit(ctx):
    """The endpoint takes the call and never answers, and no other request goes to it to show
    it answering: after three times the 2 s it would wait with such others, 6 s, the call is
    taken as lost and sent again, before the 30 s stall limit."""
    emu = ctx.emulator(faults={"rules": [dict(type="hang", service="sts", action="GetCallerIdentity", count=1)]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    (sts,) = calls(ctx, env, [q("sts", "GetCallerIdentity")])
    check(sts["ok"] and sts["meta"]["attempts"] == 2, f"{sts}")
    sent = [r for r in emu.requests()["requests"] if r["action"] == "GetCallerIdentity"]
    check([(r["fault"], r["status"]) for r in sent] == [("hang", 0), (None, 200)], f"{sent}")
    t0, t1 = (datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in sent)
    check(5.9 <= (t1 - t0).total_seconds() < 12, f"sent again {(t1 - t0).total_seconds():.1f} s later")


def test_a_call_whose_attempts_all_time_out_gives_up_after_three(ctx):
    """An endpoint that takes every request and answers none: each attempt can take the
    stall limit, so a call gives up after 3 attempts that timed out, though [aws]
    max_attempts allows 5 (4 s a request here, to keep the test short)."""
    emu = ctx.emulator(faults={"rules": [dict(type="hang", service="sts", action="GetCallerIdentity")]})
    cfg = ctx.tmp / "config.ini"
    cfg.write_text("[aws]\nconnect_timeout = 2\nrequest_timeout = 4\n")
    env = dict(ctx.aws_env(emu, **MGMT_KEYS), CREDREPORT_CONFIG=str(cfg))
    (sts,) = calls(ctx, env, [q("sts", "GetCallerIdentity")])
    check(not sts["ok"] and sts["error"]["code"] == "RequestTimeout" and sts["error"]["attempts"] == 3,
          f"{sts}")
    sent = [r for r in emu.requests()["requests"] if r["action"] == "GetCallerIdentity"]
    check(len(sent) == 3, f"3 requests, the emulator saw {len(sent)}")


def test_a_body_sent_from_a_file_is_sent_whole_again_on_retry(ctx):
    """An upload read from a file as it goes out (the findings file): after a 503, and after
    a connection reset, the next attempt sends it again from its start, signed with its hash."""
    emu = ctx.emulator(faults={"rules": [_fail("s3", "PutObject", 1, status=503, code="SlowDown"),
                                         dict(type="reset", service="s3", action="PutObject", count=1)]})
    body = b"".join(b"%07d {\"line\": \"finding\"}\n" % i for i in range(20000))  # 500 KB
    path = ctx.tmp / "findings.jsonl"
    path.write_bytes(body)
    env = ctx.aws_env(emu, **MGMT_KEYS)
    (put,) = calls(ctx, env, [s3("PUT", bucket="mgmt-private", key="big.jsonl", body_file=str(path))])
    puts = [r["status"] for r in emu.requests()["requests"] if r["action"] == "PutObject"]
    check(put["ok"] and sorted(puts) == [0, 200, 503], f"sent three times: {puts} {put}")
    stored = emu.admin("GET", "/s3/object?bucket=mgmt-private&key=big.jsonl", raw=True)
    check(stored == body, f"stored whole: {len(stored)} of {len(body)} bytes")


def test_attempts_are_bounded_and_errors_not_retried(ctx):
    emu = ctx.emulator(faults={"rules": [
        _fail("sts", "GetCallerIdentity", 10, status=503),
        _fail("iam", "GenerateCredentialReport", 5, status=403, code="AccessDenied"),
    ]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    sts, iam = calls(ctx, env, [q("sts", "GetCallerIdentity"), q("iam", "GenerateCredentialReport")])
    check(not sts["ok"] and sts["error"]["attempts"] == 5 and sts["error"]["retryable"], f"{sts}")
    check(not iam["ok"] and iam["error"]["attempts"] == 1 and iam["error"]["code"] == "AccessDenied"
          and not iam["error"]["retryable"], f"{iam}")
    n = len([r for r in emu.requests()["requests"] if r["action"] == "GetCallerIdentity"])
    check(n == 5, f"5 attempts in all ([aws] max_attempts' default), the emulator saw {n}")


def test_a_call_can_take_fewer_attempts(ctx):
    emu = ctx.emulator(faults={"rules": [
        _fail("sts", "GetCallerIdentity", 10, status=503),
        _fail("s3", "PutObject", 10, status=503, code="SlowDown"),
    ]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    sts, put = calls(ctx, env, [q("sts", "GetCallerIdentity", opts={"attempts": 1}),
                                s3("PUT", bucket="mgmt-private", key="k", body="v", attempts=2)])
    check(not sts["ok"] and sts["error"]["attempts"] == 1 and sts["error"]["retryable"], f"{sts}")
    check(not put["ok"] and put["error"]["attempts"] == 2 and put["error"]["code"] == "SlowDown", f"{put}")
    seen = [r["action"] for r in emu.requests()["requests"]]
    check(seen.count("GetCallerIdentity") == 1 and seen.count("PutObject") == 2, f"the emulator saw {seen}")


def test_clock_skew_is_corrected_from_the_date_header(ctx):
    for skew in (900, -1200):
        emu = ctx.emulator(faults={"clock_skew_seconds": skew})
        env = ctx.aws_env(emu, **MGMT_KEYS)
        sts, roots, put, sts2 = calls(ctx, env, [
            q("sts", "GetCallerIdentity"), j("ListRoots"),
            s3("PUT", bucket="mgmt-private", key="skew", body="v"), q("sts", "GetCallerIdentity")])
        check(sts["ok"] and sts["meta"]["attempts"] == 2, f"skew {skew}: first call learns the offset: {sts}")
        for r in (roots, put, sts2):
            check(r["ok"] and r["meta"]["attempts"] == 1, f"skew {skew}: later calls sign right at once: {r}")
        emu.stop()


def test_oversized_bodies_are_refused_not_retried(ctx):
    # A hostile endpoint's huge answer: refused from its Content-Length before any of it is
    # read, or cut off as it streams without one; never retried. A credential report may be
    # larger than other answers.
    emu = ctx.emulator(faults={"rules": [
        dict(type="oversized", service="iam", action="GenerateCredentialReport", bytes=400 << 20, count=1),
        dict(type="oversized", service="organizations", action="ListRoots", bytes=100 << 20,
             chunked=True, count=1),
        dict(type="oversized", service="iam", action="GetCredentialReport", bytes=20 << 20, chunked=True),
        dict(type="oversized", service="sts", action="GetCallerIdentity", headers=1000, count=1),
    ]})
    env = ctx.aws_env(emu, **MGMT_KEYS)
    gen, roots, gen2, _, report, who = calls(ctx, env, [
        q("iam", "GenerateCredentialReport"), j("ListRoots"), q("iam", "GenerateCredentialReport"),
        dict(kind="sleep", seconds=1), q("iam", "GetCredentialReport"), q("sts", "GetCallerIdentity")])
    check(not who["ok"] and who["error"]["code"] == "ResponseTooLarge" and who["error"]["attempts"] == 1
          and "more than 200 headers" in who["error"]["message"], f"1,000 headers: {who}")
    for r, what in ((gen, "declared 400 MB"), (roots, "chunked 100 MB")):
        check(not r["ok"] and r["error"]["code"] == "ResponseTooLarge" and r["error"]["attempts"] == 1
              and not r["error"]["retryable"] and "larger than 8388608 bytes" in r["error"]["message"],
              f"{what}: {r}")
    log = emu.requests()["requests"]
    for action in ("GenerateCredentialReport", "ListRoots"):
        n = len([x for x in log if x["action"] == action])
        check(n == (2 if action == "GenerateCredentialReport" else 1), f"{action}: {n} requests")
    check(gen2["ok"], f"{gen2}")
    check(report["ok"], f"a 20 MB credential report is within its limit: {str(report)[:500]}")
