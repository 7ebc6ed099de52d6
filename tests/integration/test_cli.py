"""The command line as people meet it: help, errors, exit statuses, accounts, dry runs."""
import json

from awscalls import MGMT_KEYS
from harness import check, run_credreport


def test_help_and_version(ctx):
    out = run_credreport(ctx, ["--help"], check_status=0).stdout
    for word in ("run [WORKFLOW.lua]", "accounts [WORKFLOW.lua]", "--ou", "--account", "--exclude-account",
                 "--concurrency", "--output", "--dry-run", "--verbose", "--quiet", "--format",
                 "Exit status", "  3  ", "  5  "):
        check(word in out, f"--help mentions {word}")
    check(run_credreport(ctx, ["--version"], check_status=0).stdout.startswith("credreport "), "version")
    check(run_credreport(ctx, ["frobnicate"]).returncode == 2, "unknown command")
    check(run_credreport(ctx, ["run", "--no-such-option"]).returncode == 2, "unknown option")


def test_configuration_errors_name_file_and_line(ctx):
    cfg = ctx.tmp / "bad.ini"
    cfg.write_text("[aws]\nregoin = eu-west-1\n[run]\nconcurrency = many\n")
    proc = run_credreport(ctx, ["run", "-c", str(cfg)], env=ctx.aws_env(None))
    check(proc.returncode == 2, f"exit {proc.returncode}")
    check(f"{cfg}:2" in proc.stderr and f"{cfg}:4" in proc.stderr, proc.stderr)
    proc = run_credreport(ctx, ["run", "-c", str(ctx.tmp / "missing.ini")], env=ctx.aws_env(None))
    check(proc.returncode == 2 and "missing.ini" in proc.stderr, proc.stderr)
    proc = run_credreport(ctx, ["run", "--concurrency", "0"], env=ctx.aws_env(None), cwd=ctx.tmp)
    check(proc.returncode == 2 and "--concurrency" in proc.stderr, proc.stderr)


def test_no_credentials_cannot_start(ctx):
    emu = ctx.emulator()
    proc = run_credreport(ctx, ["run"], env=ctx.aws_env(emu), cwd=ctx.tmp)
    check(proc.returncode == 3, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    check("cannot start: the AWS credential chain: credentials: NoCredentials" in proc.stderr, proc.stderr)
    check(not list(ctx.tmp.rglob("manifest-*.json")), "a run that could not start wrote nothing")
    check(not emu.requests()["requests"], "and sent nothing")


def test_accounts_lists_the_scope_without_touching_it(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    out = run_credreport(ctx, ["accounts"], env=env, check_status=0, cwd=ctx.tmp).stdout
    lines = out.strip().splitlines()
    check(lines[0].split() == ["ID", "NAME", "STATE", "OU", "PATH"], lines[0])
    ids = [l.split()[0] for l in lines[1:-1]]
    check(sorted(ids) == ["111111111111", "222222222222", "333333333333", "444444444444"], f"{ids}")
    check(any("Root/Workloads/Prod" in l and "333333333333" in l for l in lines), out)
    check(lines[-1] == "4 account(s) in scope; out of scope: 1 state CLOSED, 1 state SUSPENDED", lines[-1])
    out = run_credreport(ctx, ["accounts", "--exclude-account", "222222222222", "--ou", "ou-ex12-workload"],
                         env=env, check_status=0, cwd=ctx.tmp).stdout
    ids = sorted(l.split()[0] for l in out.strip().splitlines()[1:-1])
    check(ids == ["333333333333", "444444444444"], f"{ids}")
    cfg = ctx.tmp / "tags.ini"
    cfg.write_text("[accounts]\ntags = env=prod, owner\n")
    out = run_credreport(ctx, ["accounts", "-c", str(cfg)], env=env, check_status=0, cwd=ctx.tmp).stdout
    ids = sorted(l.split()[0] for l in out.strip().splitlines()[1:-1])
    check(ids == ["333333333333"], f"tag filter env=prod and a tag named owner: {ids}")
    # For machines: JSON and CSV, the same accounts.
    doc = json.loads(run_credreport(ctx, ["accounts", "--format", "json"], env=env, check_status=0, cwd=ctx.tmp).stdout)
    check(sorted(a["id"] for a in doc["accounts"]) == ["111111111111", "222222222222", "333333333333", "444444444444"]
          and {o["reason"]: o["accounts"] for o in doc["out_of_scope"]} == {"state CLOSED": 1, "state SUSPENDED": 1},
          f"{doc}")
    rows = run_credreport(ctx, ["--format=csv", "accounts"], env=env, check_status=0, cwd=ctx.tmp).stdout.splitlines()
    check(rows[0] == "id,name,state,ou_path" and len(rows) == 5 and any(r.startswith("333333333333,") for r in rows), f"{rows}")
    log = emu.requests()["requests"]
    check(not [r for r in log if r["service"] in ("iam", "s3", "sns") or r["action"] == "AssumeRole"],
          "accounts touches no account")


def test_dry_run_changes_nothing(ctx):
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    out = run_credreport(ctx, ["run", "--dry-run", "--output", "s3://credreport-reports/x"], env=env,
                         check_status=0, cwd=ctx.tmp).stdout
    check("333333333333" in out and "x/" not in out or "credentialReport_333333333333.csv" in out, out)
    check("4 account(s) in scope" in out, out)
    log = emu.requests()["requests"]
    checks = ("GetCallerIdentity", "GetBucketLocation", "GetTopicAttributes")  # the preflight reads
    check(not [r for r in log if (r["service"] in ("iam", "s3", "sns") or r["action"] == "AssumeRole")
               and r["action"] not in checks], f"dry run touched: {[r['action'] for r in log]}")
    check("destination: s3://credreport-reports/x" in out, out)
    out = run_credreport(ctx, ["run", "--dry-run"], env=env, check_status=0, cwd=ctx.tmp).stdout
    check(not (ctx.tmp / "reports").exists(), "no folder written")


def test_plain_scripts_exit_with_their_status(ctx):
    script = ctx.tmp / "s.lua"
    script.write_text("return tonumber(arg[1])\n")
    check(run_credreport(ctx, ["run", str(script), "7"]).returncode == 7, "exit status from the script")
    script.write_text("error('boom')\n")
    proc = run_credreport(ctx, ["run", str(script)])
    check(proc.returncode == 1 and "boom" in proc.stderr, proc.stderr)
