#!/usr/bin/env python3
"""tests/otel/receiver.py: a test OTLP/HTTP receiver on 127.0.0.1.

    receiver.py OUTDIR [--fail STATUS:N] [--retry-after S] [--delay S]
                       [--partial N] [--no-accept] [--tls CERT KEY]

Listens on an ephemeral port of 127.0.0.1 and prints "LISTENING <port>".
Each POST is numbered and logged to OUTDIR/requests.log as

    N PATH STATUS ctype=... len=... auth=... org=...

(auth and org: the Authorization and X-Scope-OrgID headers, "-" when
absent). The body of each answered-200 request is kept as
OUTDIR/N-SIGNAL.bin and decoded INDEPENDENTLY of the exporter's encoder:

    N-SIGNAL.txt   protoc --decode=<ExportXServiceRequest> (proto/otlp/)
    N-SIGNAL.raw   protoc --decode_raw: field numbers only, no schema
    N-SIGNAL.json  both parsed into {"decoded": ..., "raw": ...}; every
                   field maps to a list of values; trace_id, span_id and
                   parent_span_id become lowercase hex
    N-SIGNAL.err   protoc's complaint, when a body does not decode

Decoding happens before the answer goes out, so once the exporter has its
answer the files are complete.

    --fail STATUS:N    answer STATUS (500, 429, 503, ...) to the first N
    --retry-after S    send Retry-After: S with 429 and 503 answers
    --delay S          sleep S seconds before answering
    --partial N        answer 200 with partial_success rejecting N items
    --no-accept        listen, but never accept a connection
    --tls CERT KEY     speak HTTPS with this certificate chain and key
"""
import argparse
import codecs
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIGNALS = {
    "/v1/traces": ("traces", "trace", "Trace", "rejected_spans"),
    "/v1/metrics": ("metrics", "metrics", "Metrics", "rejected_data_points"),
    "/v1/logs": ("logs", "logs", "Logs", "rejected_log_records"),
}
ID_FIELDS = ("trace_id", "span_id", "parent_span_id")


def message(path, kind):
    _, pkg, name, _ = SIGNALS[path]
    return "opentelemetry.proto.collector.%s.v1.Export%sService%s" % (pkg, name, kind)


def proto_file(path):
    return "proto/otlp/%s_service.proto" % SIGNALS[path][1]


def protoc(args, data):
    return subprocess.run(["protoc", "-Iproto"] + args, input=data, cwd=TOP,
                          capture_output=True, timeout=30)


def value(key, text):
    """One protobuf text-format scalar as a Python value."""
    if text.startswith('"'):
        raw = codecs.escape_decode(text[1:-1].encode("utf-8"))[0]
        if key in ID_FIELDS:
            return raw.hex()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex()
    if text in ("true", "false"):
        return text == "true"
    for conv in (int, float):
        try:
            return conv(text, 0) if conv is int else conv(text)
        except ValueError:
            pass
    return text                             # an enum name


def parse_text(text):
    """protoc's text format (named or raw) as nested dicts of lists."""
    root = {}
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
        elif line.endswith("{"):
            child = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(child)
            stack.append(child)
        else:
            key, _, val = line.partition(": ")
            stack[-1].setdefault(key, []).append(value(key, val))
    return root


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    count = 0
    opts = None

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        if status in (429, 503) and self.opts.retry_after is not None:
            self.send_header("Retry-After", str(self.opts.retry_after))
        self.end_headers()
        self.wfile.write(body)

    def decode(self, n, path, body):
        out = os.path.join(self.opts.outdir, "%03d-%s" % (n, SIGNALS[path][0]))
        with open(out + ".bin", "wb") as f:
            f.write(body)
        named = protoc(["--decode=" + message(path, "Request"), proto_file(path)], body)
        raw = protoc(["--decode_raw"], body)
        if named.returncode or raw.returncode:
            with open(out + ".err", "wb") as f:
                f.write(named.stderr + raw.stderr)
            return
        for ext, res in ((".txt", named), (".raw", raw)):
            with open(out + ext, "wb") as f:
                f.write(res.stdout)
        doc = {"decoded": parse_text(named.stdout.decode("utf-8", "replace")),
               "raw": parse_text(raw.stdout.decode("utf-8", "replace"))}
        with open(out + ".json", "w") as f:
            json.dump(doc, f, indent=1)

    def partial(self, path):
        field = SIGNALS[path][3]
        text = 'partial_success { %s: %d error_message: "over quota" }' % (
            field, self.opts.partial)
        res = protoc(["--encode=" + message(path, "Response"), proto_file(path)],
                     text.encode())
        return res.stdout

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            Receiver.count += 1
            n = Receiver.count
            status = 200
            if self.opts.fail and self.opts.fail[1] > 0:
                self.opts.fail[1] -= 1
                status = self.opts.fail[0]
        if self.path not in SIGNALS:
            status = 404
        if self.opts.delay:
            time.sleep(self.opts.delay)
        if status == 200:
            self.decode(n, self.path, body)
        with self.lock, open(os.path.join(self.opts.outdir, "requests.log"), "a") as f:
            f.write("%d %s %d ctype=%s len=%d auth=%s org=%s\n" % (
                n, self.path, status, self.headers.get("Content-Type", "-"),
                len(body), self.headers.get("Authorization", "-").replace(" ", "_"),
                self.headers.get("X-Scope-OrgID", "-")))
        reply = self.partial(self.path) if status == 200 and self.opts.partial else b""
        try:
            self.answer(status, reply)
        except OSError:
            pass                            # the exporter gave up on us


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--fail")
    ap.add_argument("--retry-after", type=int)
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--partial", type=int, default=0)
    ap.add_argument("--no-accept", action="store_true")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    opts = ap.parse_args()
    if opts.fail:
        st, n = opts.fail.split(":")
        opts.fail = [int(st), int(n)]
    os.makedirs(opts.outdir, exist_ok=True)

    if opts.no_accept:
        # A full handshake happens in the kernel's backlog, so the client
        # connects and sends, but nobody ever reads or answers.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        print("LISTENING", s.getsockname()[1], flush=True)
        while True:
            time.sleep(3600)

    Receiver.opts = opts
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    srv.daemon_threads = True
    if opts.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*opts.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("LISTENING", srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
