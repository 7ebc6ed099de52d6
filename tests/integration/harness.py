"""What the integration tests share: the binary, a temporary folder, and emulators started
on free ports and always stopped."""
import datetime
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "tests" / "emulator"
# The proxy settings curl reads, in either case.
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
sys.path.insert(0, str(EMULATOR))
from launcher import EmulatorProcess  # noqa: E402


class CheckFailed(AssertionError):
    pass


def check(cond, message):
    if not cond:
        raise CheckFailed(message)


def stop_process(proc):
    """SIGTERM, then SIGKILL if it has not ended within 5 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Emulator(EmulatorProcess):
    """An emulator for one test (launcher.py), its stderr kept in the test's folder; tls: a
    folder made by mkca, as a Path."""

    def __init__(self, fixture, tmp, tls=None, faults=None, extra=()):
        log = open(tmp / f"emulator-{id(self)}.log", "w+")
        super().__init__(fixture, tls_dir=tls, faults=faults, extra=extra, log=log)
        self.admin_url = self.url + "/_emulator"
        self.tls = tls

    def stop(self):
        super().stop()
        self.log.close()


def _clear_of_midnight(margin=120):
    """Runs file their reports under the day (UTC) and resume within it: a test whose runs
    straddle midnight would look under the wrong day. Close to midnight, waits past it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    left = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    if left < margin:
        time.sleep(left + 1)


class Context:
    def __init__(self, name):
        _clear_of_midnight()
        self.name = name
        self.root = ROOT
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"credreport-{name}-"))
        self.binary = os.environ.get("CREDREPORT_BIN", str(ROOT / "build" / "asan" / "credreport"))
        self._emulators = []

    def emulator(self, fixture="small.json", **kw):
        path = fixture if os.path.isabs(str(fixture)) else EMULATOR / "fixtures" / fixture
        emu = Emulator(path, self.tmp, **kw)
        self._emulators.append(emu)
        return emu

    def test_ca(self):
        d = self.tmp / "ca"
        if not (d / "ca.pem").exists():
            d.mkdir(exist_ok=True)
            subprocess.run([str(EMULATOR / "mkca"), str(d)], check=True, capture_output=True)
        return d

    def aws_env(self, emu, **extra):
        """An environment that reaches only the emulator, with no trace of the user's own
        AWS settings."""
        # Nor the machine's proxy: the emulator is on this host.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k.lower() not in PROXY_VARIABLES}
        # Each test has its own default run lock: runs of other tests (or other suites on the
        # same machine) must not make it exit 4.
        runtime_dir = self.tmp / "xdg-runtime"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        env.update({
            "XDG_RUNTIME_DIR": str(runtime_dir),
            "AWS_ENDPOINT_URL": emu.url if emu else "http://127.0.0.1:9",
            "AWS_REGION": "us-east-1",
            "AWS_SHARED_CREDENTIALS_FILE": str(self.tmp / "no-credentials"),
            "AWS_CONFIG_FILE": str(self.tmp / "no-config"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": str(self.tmp),
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        })
        if emu and emu.tls:
            env["AWS_CA_BUNDLE"] = str(emu.tls / "ca.pem")
        env.update({k: v for k, v in extra.items() if v is not None})
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
        return env

    def close(self):
        for emu in self._emulators:
            emu.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_credreport(ctx, args, env=None, check_status=None, timeout=300, cwd=None):
    proc = subprocess.run([ctx.binary] + list(args), env=env, cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)
    sanitizer = [l for l in proc.stderr.splitlines()
                 if "Sanitizer" in l or "runtime error:" in l]
    check(not sanitizer, "sanitizer report:\n" + proc.stderr[-4000:])
    if check_status is not None:
        check(proc.returncode == check_status,
              f"credreport {' '.join(args)} exited {proc.returncode}, expected {check_status}\n"
              f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    return proc


def start_server(ctx, script, *args):
    """Starts a test server (tests/servers/SCRIPT, run with /usr/bin/python3) that prints
    "READY <port>" once listening on a free port; it is stopped when the test ends (the
    Context stops it with its emulators). Returns an object with .port, .url and .stop()."""
    class Server:
        def __init__(self):
            self.log = open(ctx.tmp / f"{pathlib.Path(script).stem}-{id(self)}.log", "w")
            self.proc = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "servers" / script)]
                                         + [str(a) for a in args],
                                         stdout=subprocess.PIPE, stderr=self.log, text=True)
            line = self.proc.stdout.readline()
            if not line.startswith("READY "):
                self.stop()
                raise RuntimeError(f"{script} did not start: {line!r} (see {self.log.name})")
            self.port = int(line.split()[1])
            self.url = f"http://127.0.0.1:{self.port}"

        def stop(self):
            stop_process(self.proc)
            if self.proc.stdout:
                self.proc.stdout.close()
            self.log.close()

    server = Server()
    ctx._emulators.append(server)
    return server
