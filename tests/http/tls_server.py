#!/usr/bin/env python3
"""tests/http/tls_server.py: local servers for tests/http/test_tls.sh.

    tls_server.py https CERT KEY DOCROOT   HTTPS on 127.0.0.1, HTTP/1.0
    tls_server.py https13 CERT KEY DOCROOT the same, TLS 1.3 only
    tls_server.py silent                   accept TCP, never answer
    tls_server.py close                    accept TCP, close at once

Each binds an ephemeral port on 127.0.0.1, prints "LISTENING <port>" and
serves until killed. The https paths:

    /          DOCROOT/index
    /big       DOCROOT/big (the throughput and integrity check)
    /notify    DOCROOT/index, then a TLS close_notify before TCP close
    /truncate  DOCROOT/index, then half a TLS record and a TCP close
    /hang      nothing for a minute (read timeouts)
    other      404

Plain paths end with a TCP close and no close_notify, as many servers do.
"""
import http.server
import os
import socket
import ssl
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def setup(self):
        # Handshake here, in the connection's thread, not in accept().
        self.request.do_handshake()
        super().setup()

    def do_GET(self):
        if self.path == "/hang":
            time.sleep(60)
            return
        names = {"/": "index", "/big": "big", "/notify": "index",
                 "/truncate": "index"}
        if self.path not in names:
            self.send_error(404)
            return
        with open(os.path.join(self.server.docroot, names[self.path]),
                  "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if self.path == "/notify":
            try:
                self.request.unwrap()
            except (OSError, ValueError):
                pass
        elif self.path == "/truncate":
            # An application_data record header announcing 64 bytes,
            # then 10 of them, written under the TLS layer.
            raw = socket.socket(fileno=os.dup(self.request.fileno()))
            raw.sendall(b"\x17\x03\x03\x00\x40" + b"\x00" * 10)
            raw.close()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # failed handshakes are what several tests want


def raw_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def main():
    mode = sys.argv[1]
    if mode in ("https", "https13"):
        srv = Server(("127.0.0.1", 0), Handler)
        srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if mode == "https13":
            srv.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        srv.ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.docroot = sys.argv[4]
        print("LISTENING", srv.server_address[1], flush=True)
        srv.serve_forever()
    s = raw_listener()
    print("LISTENING", s.getsockname()[1], flush=True)
    held = []
    while True:
        c, _ = s.accept()
        if mode == "close":
            c.close()
        else:
            held.append(c)  # silent: keep it open, say nothing


if __name__ == "__main__":
    main()
