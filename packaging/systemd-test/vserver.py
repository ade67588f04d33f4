#!/usr/bin/env python3
"""Stand-in validation server for packaging/test-systemd.sh, inside the
container: HTTPS on 127.0.0.1:8443 (certificate from the test's own CA, which
the daemon trusts through ca_file) and plain HTTP on 127.0.0.1:8080 (the
fallback). POST /publisher-warranty/ gets a valid reply, a Python literal as
Odoo's server sends it; every request is logged, one line each, to LOG as
"SCHEME METHOD PATH BYTES", so the test can tell which transport carried it.
Usage: vserver.py CERT KEY LOG"""
import http.server
import ssl
import sys
import threading

REPLY = (b"{'messages': ['hello'], 'enterprise_info': {'expiration_date': "
         b"'2027-01-15 00:00:00', 'expiration_reason': 'renewal', "
         b"'enterprise_code': False}}")
CERT, KEY, LOG = sys.argv[1:4]
lock = threading.Lock()


def handler(scheme):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_request(self, *args):
            pass

        def record(self, size):
            with lock, open(LOG, "a") as log:
                log.write(f"{scheme} {self.command} {self.path} {size}\n")

        def do_POST(self):
            size = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(size)
            self.record(size)
            if self.path != "/publisher-warranty/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(REPLY)))
            self.end_headers()
            self.wfile.write(REPLY)

        def do_GET(self):
            self.record(0)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    return Handler


def serve(port, scheme):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler(scheme))
    if scheme == "https":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERT, KEY)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


threading.Thread(target=serve, args=(8080, "http"), daemon=True).start()
serve(8443, "https")
