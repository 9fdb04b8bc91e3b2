#!/usr/bin/python3
# The fleet example's service: `svc PORT` answers on 127.0.0.1:PORT (inside the host's network
# namespace) GET /version (its package's version) and GET /health (200 "ok", or 500 "broken"
# when its package ships share/svc/BROKEN: a release whose health check fails). It reads both
# from its own package, found from its real path in the store. tests/it/fleet.rs and
# bench/fleet.sh copy it into the packages they make with `berth pack` (as bin/svc).
import http.server
import os
import sys

SHARE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "share", "svc")
with open(os.path.join(SHARE, "VERSION")) as f:
    VERSION = f.read().strip()
BROKEN = os.path.exists(os.path.join(SHARE, "BROKEN"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            code, body = (500, "broken") if BROKEN else (200, "ok")
        elif self.path == "/version":
            code, body = 200, VERSION
        else:
            code, body = 404, "no such page"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write((body + "\n").encode())

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
