"""Starts the emulator for the Python test suites (the emulator's own tests and the integration
tests): one process on a free port of 127.0.0.1, its admin API, and a stop that always ends
it. With EMU_PIDFILE set, each process's pid is recorded there until it is stopped, so a
runner can stop what a crashed suite left."""
import json
import os
import select
import ssl
import subprocess
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.js")
FIXTURES = os.path.join(HERE, "fixtures")


class EmulatorProcess:
    """fixture: a fixture file; tls_dir: a folder made by mkca (server.pem, server-key.pem,
    ca.pem) for HTTPS; faults: a faults document (dict); extra: more server.js arguments;
    log: a file object for the emulator's stderr (default: a temporary file)."""

    def __init__(self, fixture, tls_dir=None, faults=None, extra=(), log=None, start_timeout=10):
        args = ["node", SERVER, "--fixture", str(fixture), "--port", "0", "--host", "127.0.0.1"]
        self.tls_dir = str(tls_dir) if tls_dir else None
        self.scheme = "https" if tls_dir else "http"
        self.ca = os.path.join(self.tls_dir, "ca.pem") if tls_dir else None
        if tls_dir:
            args += ["--tls-cert", os.path.join(self.tls_dir, "server.pem"),
                     "--tls-key", os.path.join(self.tls_dir, "server-key.pem")]
        self._faults_file = None
        if faults is not None:
            fd, self._faults_file = tempfile.mkstemp(suffix=".json", prefix="emu-faults-")
            with os.fdopen(fd, "w") as f:
                json.dump(faults, f)
            args += ["--faults", self._faults_file]
        args += [str(a) for a in extra]
        self.log = log if log is not None else tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self._pidfile = os.environ.get("EMU_PIDFILE")
        if self._pidfile:
            with open(self._pidfile, "a") as f:
                f.write("%d\n" % self.proc.pid)
        ready, _, _ = select.select([self.proc.stdout], [], [], start_timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError("emulator did not start: %r %s" % (line, self.stderr()))
        self.port = int(line.split()[1])
        self.url = "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def admin(self, method, path, body=None, raw=False, with_headers=False):
        """The admin API under /_emulator/: the decoded JSON answer, or with raw its bytes
        (with with_headers, (bytes, headers))."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_emulator/" + path.lstrip("/"), data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        ctx = ssl.create_default_context(cafile=self.ca) if self.ca else None
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            out = resp.read()
            if with_headers:
                return out, dict(resp.headers)
            if raw:
                return out
            return json.loads(out) if out else None

    def requests(self):
        """The request log: {"requests": [...], "dropped": N}."""
        return self.admin("GET", "/requests")

    def stderr(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """SIGTERM, then SIGKILL if it has not ended within 5 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        if self._pidfile and os.path.exists(self._pidfile):
            with open(self._pidfile) as f:
                pids = [p.strip() for p in f if p.strip() and p.strip() != str(self.proc.pid)]
            with open(self._pidfile, "w") as f:
                f.write("".join(p + "\n" for p in pids))
        if self._faults_file and os.path.exists(self._faults_file):
            os.unlink(self._faults_file)
