"""An HTTP proxy as credreport may meet one (HTTPS_PROXY and the like): CONNECT opens a
tunnel to the host and port asked for; a request in absolute form (http://host/path, what a
client sends a proxy for plain http) is refused with 403, as a proxy that may not reach that
address answers. Python standard library only.

    proxy_server.py --log FILE

Every request is appended to --log as one JSON line {method, target}, before it is served.
Prints "READY <port>" once listening on 127.0.0.1 (a free port), and stops on SIGTERM.
"""
import argparse
import json
import select
import signal
import socket
import sys
import threading


def relay(a, b):
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 120)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    opts = ap.parse_args()
    lock = threading.Lock()

    def serve(client):
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(4096)
            if not data or len(head) > 65536:
                client.close()
                return
            head += data
        method, target = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
        with lock, open(opts.log, "a") as f:
            f.write(json.dumps({"method": method, "target": target}) + "\n")
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            client.close()
            return
        host, port = target.rsplit(":", 1)
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            upstream.settimeout(None)
        except (OSError, ValueError):
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        relay(client, upstream)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY {listener.getsockname()[1]}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
