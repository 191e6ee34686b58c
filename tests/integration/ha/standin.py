"""An HTTPS stand-in for the CDN APIs the purge hook calls (Cloudflare,
Fastly, Akamai Fast Purge v3): python3 http.server + ssl on loopback with
a throwaway self-signed certificate made by openssl.  It records every
request (method, path, headers, body, time) and answers from a script:
each test queues (status, headers, body) answers; when the queue is
empty it answers the documented success of the API the path belongs to.
"""

import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_cert(directory):
    """(cert, key) for 127.0.0.1 and localhost, made by openssl."""
    d = Path(directory)
    cert, key = d / "standin.crt", d / "standin.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


def success_for(path):
    """The documented success answer of the API at path."""
    if "/purge_cache" in path:                      # Cloudflare
        return 200, {}, {"success": True, "errors": [], "messages": [],
                         "result": {"id": "023e105f4ecef8ad9ca31a8372d0c353"}}
    if path.endswith("/purge_all"):                 # Fastly purge all
        return 200, {}, {"status": "ok"}
    if "/purge/" in path:                           # Fastly surrogate key
        return 200, {}, {"status": "ok", "id": "108-1391560174-974124"}
    if path.startswith("/ccu/v3/"):                 # Akamai Fast Purge
        return 201, {}, {"httpStatus": 201, "detail": "Request accepted",
                         "estimatedSeconds": 5,
                         "purgeId": "edcp-6RDwTbYrGBHmUWcRDUdUQi",
                         "supportId": "17PY1321286429616716-211907680"}
    return 404, {}, {"error": "unknown path"}


class StandIn:
    def __init__(self, directory):
        self.cert, self.key = make_cert(directory)
        self.requests = []
        self.answers = []          # queued (status, headers, body)
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with standin.lock:
                    standin.requests.append(dict(
                        method=self.command, path=self.path,
                        headers={k.lower(): v
                                 for k, v in self.headers.items()},
                        body=body, time=time.monotonic()))
                    if standin.answers:
                        answer = standin.answers.pop(0)
                    elif self.command in ("BAN", "PURGE"):   # Varnish
                        answer = (200, {}, {"purged": self.path})
                    else:
                        answer = success_for(self.path)
                status, headers, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = do_DELETE = do_PUT = do_BAN = do_PURGE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.port = self.server.server_address[1]
        self.base = "https://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def queue(self, *answers):
        with self.lock:
            self.answers.extend(answers)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
