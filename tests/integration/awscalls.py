"""Runs tests/lua/calls.lua: AWS calls through the real binary, results as JSON."""
import json

from harness import run_credreport, check

MGMT_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
             "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
MGMT_SECRET = MGMT_KEYS["AWS_SECRET_ACCESS_KEY"]


def calls(ctx, env, spec_calls, role=None, client=None):
    spec = {"calls": spec_calls}
    if role:
        spec["role"] = role
    if client:
        spec["client"] = client
    proc = run_credreport(ctx, ["run", "tests/lua/calls.lua", json.dumps(spec)], env=env, check_status=0)
    check(MGMT_SECRET not in proc.stdout + proc.stderr, "a secret appeared in the output")
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    check(len(out) == len(spec_calls) or out and out[0].get("error", {}).get("code") == "NoCredentials",
          f"expected {len(spec_calls)} results, got:\n{proc.stdout}\n{proc.stderr}")
    return out


def q(service, action, params=None, **kw):
    return dict(kind="query", service=service, action=action, params=params or {}, **kw)


def j(action, params=None, **kw):
    return dict(kind="json", service="organizations", action=action, params=params or {}, **kw)


def s3(method, **request):
    return dict(kind="s3", method=method, request=request)
