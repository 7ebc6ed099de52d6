"""HTTPS with a test CA, a proxy, and endpoint overrides the way the SDKs read them."""
import json

from awscalls import MGMT_KEYS, calls, j, q
from harness import check, run_credreport, start_server
from orgs import active_ids, generate, keys_for


def test_https_with_aws_ca_bundle(ctx):
    ca = ctx.test_ca()
    emu = ctx.emulator(tls=ca)
    env = ctx.aws_env(emu, **MGMT_KEYS)
    sts, orgs = calls(ctx, env, [q("sts", "GetCallerIdentity"), j("ListRoots")])
    check(sts["ok"] and orgs["ok"], f"over HTTPS: {sts} {orgs}")
    # TLS is always verified: without the test CA the same call fails, and is not retried
    # into success.
    env.pop("AWS_CA_BUNDLE")
    (res,) = calls(ctx, env, [q("sts", "GetCallerIdentity")])
    check(not res["ok"] and res["error"]["code"] == "CertificateError" and res["error"]["attempts"] == 1
          and "certificate" in res["error"]["message"].lower(), f"{res}")


def test_an_endpoint_that_speaks_http2_gets_the_same_run(ctx):
    """Some AWS emulators (LocalStack's server) offer HTTP/2 over TLS, and libcurl takes it.
    Over it the host is :authority, which the signature covers as host; answers, retries after
    server errors and the uploads work as over HTTP/1.1: every active account is delivered to
    S3, every call went over HTTP/2."""
    path, fx = generate(ctx, accounts=120, seed=52, depth=2, role_missing=0, never_complete=0,
                        min_delay_ms=50, max_delay_ms=400)
    emu = ctx.emulator(path, tls=ctx.test_ca(), extra=["--http2"],
                       faults={"seed": 52, "rules": [{"type": "error", "service": "*", "probability": 0.03}]})
    cfg = ctx.tmp / "config.ini"
    cfg.write_text("[report]\nwait_interval = 0.1\nmax_wait = 1\n"
                   "[output]\ndestination = s3://credreport-reports/h2\n")
    proc = run_credreport(ctx, ["run", "-c", str(cfg)], env=ctx.aws_env(emu, **keys_for(fx)), cwd=ctx.tmp)
    n = len(active_ids(fx))
    check(proc.returncode == 0 and f"{n} account(s) in scope, {n} delivered, 0 failed" in proc.stdout,
          f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    keys = {o["key"] for o in emu.admin("GET", "/s3/objects?bucket=credreport-reports")["objects"]}
    reports = {k for k in keys if "/credentialReport_" in k}
    check(len(reports) == n, f"{len(reports)} reports stored of {n}")
    log = emu.requests()["requests"]
    versions = {r["http"] for r in log}
    check(versions == {"2.0"}, f"HTTP versions of the run's calls: {versions}")
    check(any(r["fault"] == "error" for r in log), "server errors were injected")


def test_calls_go_through_the_proxy_the_environment_names(ctx):
    """Behind an egress proxy, as many companies run, every call goes through the one the
    environment names (HTTPS_PROXY, as the AWS CLI and SDKs read it) in a tunnel, and the
    run delivers every active account; a host NO_PROXY names is reached directly."""
    path, fx = generate(ctx, accounts=30, seed=53, depth=2, role_missing=0, never_complete=0,
                        min_delay_ms=50, max_delay_ms=300)
    emu = ctx.emulator(path, tls=ctx.test_ca())
    proxy = start_server(ctx, "proxy_server.py", "--log", ctx.tmp / "proxy.log")
    cfg = ctx.tmp / "config.ini"
    cfg.write_text("[report]\nwait_interval = 0.1\nmax_wait = 1\n"
                   "[output]\ndestination = s3://credreport-reports/proxied\n")
    env = ctx.aws_env(emu, **keys_for(fx), HTTPS_PROXY=proxy.url)
    proc = run_credreport(ctx, ["run", "-c", str(cfg)], env=env, cwd=ctx.tmp)
    n = len(active_ids(fx))
    check(proc.returncode == 0 and f"{n} account(s) in scope, {n} delivered, 0 failed" in proc.stdout,
          f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    def tunnels():
        return [json.loads(line) for line in (ctx.tmp / "proxy.log").read_text().splitlines()]
    opened = tunnels()
    check(opened and all(t == {"method": "CONNECT", "target": emu.url.split("://")[1]} for t in opened),
          f"the proxy saw: {opened[:5]}")
    (res,) = calls(ctx, dict(env, NO_PROXY="127.0.0.1"), [q("sts", "GetCallerIdentity")])
    check(res["ok"] and tunnels() == opened, f"NO_PROXY: {res}, the proxy saw {len(tunnels())} requests")


def test_service_endpoint_overrides_the_global_one(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens there
    env["AWS_ENDPOINT_URL_STS"] = emu.url
    sts, orgs = calls(ctx, env, [q("sts", "GetCallerIdentity"), j("ListRoots")])
    check(sts["ok"], f"AWS_ENDPOINT_URL_STS used: {sts}")
    check(not orgs["ok"] and orgs["error"]["code"] == "NetworkError", f"AWS_ENDPOINT_URL used: {orgs}")
    bad = dict(env, AWS_ENDPOINT_URL_STS="ftp://example")
    (res,) = calls(ctx, bad, [q("sts", "GetCallerIdentity")])
    check(not res["ok"] and "AWS_ENDPOINT_URL_STS" in res["error"]["message"], f"{res}")


def test_requests_are_signed_for_the_partition(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    env["AWS_REGION"] = "eu-west-3"
    calls(ctx, env, [q("sts", "GetCallerIdentity"), q("iam", "GetCredentialReport"), j("ListRoots")])
    log = emu.requests()["requests"]
    regions = {r["action"]: r.get("region") for r in log}
    check(regions.get("GetCallerIdentity") == "eu-west-3" and regions.get("GetCredentialReport") == "us-east-1"
          and regions.get("ListRoots") == "us-east-1", f"signing regions: {regions}")


def test_endpoints_from_config_ini(ctx):
    from harness import run_credreport
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    env.pop("AWS_ENDPOINT_URL")
    cfg = ctx.tmp / "endpoints.ini"
    # A refused connection is retried until the discovery budget is spent: keep it short.
    cfg.write_text(f"[endpoints]\nurl = http://127.0.0.1:9\norganizations = {emu.url}\nsts = {emu.url}\n"
                   "[run]\ndiscovery_timeout = 1\n")
    proc = run_credreport(ctx, ["accounts", "-c", str(cfg)], env=env, cwd=ctx.tmp)
    check(proc.returncode == 0 and "333333333333" in proc.stdout, f"{proc.stdout}\n{proc.stderr}")
    # The environment wins over the file, as in the SDKs.
    env["AWS_ENDPOINT_URL_ORGANIZATIONS"] = "http://127.0.0.1:9"
    proc = run_credreport(ctx, ["accounts", "-c", str(cfg)], env=env, cwd=ctx.tmp)
    check(proc.returncode == 3, f"exit {proc.returncode}: {proc.stderr}")
