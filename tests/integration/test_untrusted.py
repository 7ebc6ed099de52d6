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
