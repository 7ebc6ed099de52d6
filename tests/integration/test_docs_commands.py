"""Every credreport command shown in the README and the docs runs as written, against the
emulator, as far as it can run here: the ones about this organization complete, the ones that
name someone's bucket or OU stop at the check that names it, none is refused as a usage error."""
import re
import shlex

from awscalls import MGMT_KEYS
from harness import ROOT, check, run_credreport

DOCS = ["README.md", "docs/workflows.md", "docs/lua-api.md", "docs/deploy.md"]
FAST = "[report]\nretry_limit = 8\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.4\n"


def doc_commands():
    """(file, command line) for each credreport command in a fenced block of the docs;
    synopses ("[options]") and printed output are not commands."""
    found = []
    for name in DOCS:
        text = (ROOT / name).read_text()
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            for line in block.splitlines():
                line = line.strip()
                if line.startswith("$ "):
                    line = line[2:]
                line = line.split("  #")[0].split(" | ")[0].strip()  # credreport's part of a pipe
                if not re.match(r"(\S*/)?credreport (run|accounts|lua-path)\b", line):
                    continue
                if "[" in line or re.match(r"(\S*/)?credreport run \d{8}T", line):
                    continue  # a synopsis, or a run's printed output
                found.append((name, line))
    return found


def test_every_documented_command_runs(ctx):
    commands = doc_commands()
    check(len(commands) >= 8, f"the docs show commands: {commands}")
    emu = ctx.emulator()
    env = ctx.aws_env(emu, **MGMT_KEYS)
    cfg = ctx.tmp / "config.ini"
    cfg.write_text(FAST)
    (ctx.tmp / "spool").mkdir()
    for name, line in commands:
        args = shlex.split(line)[1:]
        for i, a in enumerate(args):
            if a in ("config.ini", "/etc/credreport/config.ini"):
                args[i] = str(cfg)
            elif a.startswith("lua/"):
                args[i] = str(ROOT / a)
            elif a == "/var/spool/credreport":
                args[i] = str(ctx.tmp / "spool")
        proc = run_credreport(ctx, args, env=env, cwd=ctx.tmp)
        where = f"{name}: {line}\nexit {proc.returncode}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        check(proc.returncode != 2, f"a documented command is a usage error: {where}")
        if re.search(r"s3://(my-audit-bucket|audit-bucket)|ou-ab12-", line):
            # Someone's bucket or OU: it stops at the check that names it.
            check(proc.returncode == 3 and re.search(r"s3://\S*audit-bucket|ou-ab12-", proc.stderr), where)
        else:
            check(proc.returncode in (0, 1), where)
