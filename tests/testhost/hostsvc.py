#!/usr/bin/env python3
"""tests/testhost/hostsvc.py PORTFILE TOKEN: a tiny HTTP service on the outer
host's loopback, which L1 reaches as 10.0.2.2 through QEMU's user network.

Binds 127.0.0.1 on a free port (port 0), writes the port number to PORTFILE
once listening, and answers every GET with TOKEN, so a test inside L1 can
prove it reached *this* run's host service (net-to-host in smoke.batch).
run.sh starts it, passes the port into L1 and kills it afterwards.
"""
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (TOKEN + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # keep run.sh's stderr for its own progress lines


if __name__ == "__main__":
    portfile, TOKEN = sys.argv[1], sys.argv[2]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, portfile)  # run.sh never sees a half-written file
    srv.serve_forever()
