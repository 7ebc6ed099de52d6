"""A stand-in for the credential endpoints credreport may ask: an ECS/EKS container endpoint
or the EC2 instance metadata service (IMDSv2). Python standard library only.

    cred_server.py --mode container|imds --creds FILE --log FILE [--role NAME] [--no-v2]

FILE (--creds) is JSON {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}, re-read at
each request. Every request is appended to --log as one JSON line {method, path, headers}.
Prints "READY <port>" once listening on 127.0.0.1 (a free port), and stops on SIGTERM.

container: GET any path -> the credentials; with --auth VALUE, other Authorization values get
401. imds: PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-seconds) -> a token;
GET /latest/meta-data/iam/security-credentials/ -> the role name; GET .../<role> ->
credentials with Code "Success"; GETs need the token unless --no-v2 (then the PUT gets 403
and GETs are served without a token, as IMDSv1).
"""
import argparse
import http.server
import json
import signal
import sys
import threading

TOKEN = "imds-session-token-0123456789"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["container", "imds"], required=True)
    ap.add_argument("--creds", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--role", default="credreport-instance-role")
    ap.add_argument("--auth")
    ap.add_argument("--no-v2", action="store_true")
    opts = ap.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def _record(self):
            with lock, open(opts.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\n")

        def _send(self, status, body, ctype="application/json"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _creds(self, extra=None):
            with open(opts.creds) as f:
                c = json.load(f)
            if extra:
                c = dict(extra, **c)
            return json.dumps(c)

        def do_PUT(self):
            self._record()
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if opts.mode != "imds" or self.path != "/latest/api/token":
                return self._send(404, "{}")
            if opts.no_v2:
                return self._send(403, "", "text/plain")
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self._send(400, "", "text/plain")
            self._send(200, TOKEN, "text/plain")

        def do_GET(self):
            self._record()
            if opts.mode == "container":
                if opts.auth and self.headers.get("Authorization") != opts.auth:
                    return self._send(401, '{"message": "unauthorized"}')
                return self._send(200, self._creds())
            if not opts.no_v2 and self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
                return self._send(401, "", "text/plain")
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path == base:
                return self._send(200, opts.role + "\n", "text/plain")
            if self.path == base + opts.role:
                return self._send(200, self._creds({"Code": "Success", "Type": "AWS-HMAC",
                                                    "LastUpdated": "2026-01-01T00:00:00Z"}))
            self._send(404, "", "text/plain")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
