#!/usr/bin/env python3
"""tests/serve/test_api.py: `voidbox serve` in mock mode (no VM), held to
docs/api/openapi.json: every reply's status and body are checked against
the document, every documented operation is called, and the daemon is
attacked with what a client can send (no token, a wrong one, oversize and
malformed bodies and heads, bad paths). Then: 20 submissions at once, SSE
resume with Last-Event-ID, cancel, resume after a failed stage (and a
spec that changed), the history after kill -9 of the daemon mid-run and a
restart, a clean stop, retention, and the CLI clients (run --daemon,
runs, logs, cancel, resume) against the same daemon and store.

Prints PASS:/FAIL: lines (tests/runner.sh counts them)."""
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import oaschema  # noqa: E402

VB = os.path.join(os.environ.get("BUILD", os.path.join(TOP, "build")), "voidbox")
DOC = oaschema.Doc(json.load(open(os.path.join(TOP, "docs/api/openapi.json"))))
TOKEN = "test-token-0123456789abcdef"
fails = 0
seen_ops = set()


def report(name, ok, why=""):
    global fails
    if ok:
        print(f"PASS: {name}")
    else:
        fails += 1
        print(f"FAIL: {name}: {why}")
    sys.stdout.flush()


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon:
    def __init__(self, tmp, extra=(), env=None):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "api.sock")
        self.store = os.path.join(tmp, "state", "history.db")
        self.port = free_port()
        tok = os.path.join(tmp, "token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        self.env = dict(os.environ, VOIDBOX_STORE=self.store,
                        XDG_RUNTIME_DIR=os.path.join(tmp, "run"), **(env or {}))
        os.makedirs(self.env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
        self.args = [VB, "serve", "--socket", self.sock, "--listen",
                     f"127.0.0.1:{self.port}", "--token-file", tok, *extra]
        self.log = open(os.path.join(tmp, "serve.log"), "ab")
        self.p = None

    def start(self):
        self.p = subprocess.Popen(self.args, env=self.env, stdout=self.log,
                                  stderr=self.log)
        for _ in range(200):
            if os.path.exists(self.sock):
                try:
                    if raw("GET", "/v1/health", self)[0] == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("the daemon did not start: " + self.logtext())

    def logtext(self):
        self.log.flush()
        with open(os.path.join(self.tmp, "serve.log"), "rb") as f:
            return f.read().decode(errors="replace")[-2000:]

    def stop(self, sig=signal.SIGTERM):
        if self.p and self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raw(method, path, d, body=None, headers=None, via="unix", token=TOKEN,
        timeout=30):
    """One request; (status, headers, body bytes). No checking."""
    c = UnixConn(d.sock, timeout) if via == "unix" else \
        http.client.HTTPConnection("127.0.0.1", d.port, timeout=timeout)
    h = dict(headers or {})
    if via == "tcp" and token is not None:
        h["Authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def call(method, path, d, body=None, headers=None, via="unix", **kw):
    """A request whose reply must be what the document says."""
    st, hd, data = raw(method, path, d, body, headers, via, **kw)
    check_reply(method, path, st, hd, data)
    return st, data


schema_errors = []


def check_reply(method, path, st, hd, data):
    tpl, op = DOC.operation(method, path.split("?")[0])
    if op is None:
        if st not in (404, 405):
            schema_errors.append(f"{method} {path}: undocumented, answered {st}")
        elif DOC.errors({"$ref": "#/components/schemas/Error"}, json.loads(data)):
            schema_errors.append(f"{method} {path}: {st} is not an Error")
        return
    seen_ops.add((method.upper(), tpl))
    ctype = hd.get("content-type", "")
    schema, err = DOC.response_schema(op, st, ctype)
    if err:
        schema_errors.append(f"{method} {path}: {err}")
        return
    if ctype == "application/json":
        errs = DOC.errors(schema, json.loads(data))
        if errs:
            schema_errors.append(f"{method} {path} {st}: " + "; ".join(errs[:3]))


def sse(d, rid, after=None, follow=False, last_id=None, via="unix"):
    """The run's events (follow=false unless asked): a list of (id, type,
    data dict), each data checked against the Event schema."""
    q = f"/v1/runs/{rid}/events" + ("" if follow else "?follow=false")
    if after is not None:
        q += ("&" if "?" in q else "?") + f"after={after}"
    h = {"Accept": "text/event-stream"}
    if last_id is not None:
        h["Last-Event-ID"] = str(last_id)
    st, hd, data = raw("GET", q, d, headers=h, via=via, timeout=120)
    check_reply("GET", q, st, hd, data)
    assert st == 200, (st, data)
    out = []
    for frame in data.decode().split("\n\n"):
        f = {}
        for line in frame.split("\n"):
            if line.startswith(":") or not line:
                continue
            k, _, v = line.partition(": ")
            f[k] = v
        if "data" in f:
            ev = json.loads(f["data"])
            errs = DOC.errors({"$ref": "#/components/schemas/Event"}, ev)
            if errs:
                schema_errors.append(f"event {ev}: {errs}")
            out.append((int(f["id"]), f["event"], ev))
    return out


def wait_end(d, rid, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        st, data = call("GET", f"/v1/runs/{rid}", d)
        run = json.loads(data)
        if run["state"] not in ("queued", "running"):
            return run
        time.sleep(0.1)
    raise TimeoutError(rid)


MOCK = """api_version: v1
kind: pipeline
name: {name}
sandbox: {{mode: mock}}
pipeline:
  boxes:
    - {{name: a, prompt: "a"}}
    - {{name: b, prompt: "{b}"}}
    - {{name: c, prompt: "c"}}
  stages:
    - {{type: box, name: a}}
    - {{type: box, name: b}}
    - {{type: box, name: c}}
"""


def submit(d, spec, **kw):
    body = {"spec": spec, **kw}
    st, data = call("POST", "/v1/runs", d, body)
    assert st == 201, (st, data)
    return json.loads(data)


def test_auth_and_limits(d):
    st, _ = call("GET", "/v1/health", d)
    report("api-health-unix", st == 200)
    st, _ = call("GET", "/v1/health", d, via="tcp", token=None)
    report("api-tcp-no-token-401", st == 401, st)
    st, _ = call("GET", "/v1/health", d, via="tcp", token="wrong-" + TOKEN)
    report("api-tcp-wrong-token-401", st == 401, st)
    st, _ = call("GET", "/v1/runs", d, via="tcp", token=TOKEN[:-1])
    report("api-tcp-prefix-token-401", st == 401, st)
    st, _ = call("GET", "/v1/health", d, via="tcp")
    report("api-tcp-token-200", st == 200, st)
    cases = [
        ("bad-json", "POST", "/v1/runs", "{not json", 400),
        ("not-object", "POST", "/v1/runs", "[1,2]", 400),
        ("empty-body", "POST", "/v1/runs", "", 400),
        ("unknown-field", "POST", "/v1/runs", {"spec": "x", "sepc": 1}, 400),
        ("both-specs", "POST", "/v1/runs", {"spec": "x", "spec_path": "/x"}, 400),
        ("neither-spec", "POST", "/v1/runs", {"input": "x"}, 400),
        ("spec-wrong-type", "POST", "/v1/runs", {"spec": 7}, 400),
        ("spec-path-missing", "POST", "/v1/runs", {"spec_path": "/nonexistent/x.yaml"}, 400),
        ("relative-workdir", "POST", "/v1/runs", {"spec": "x", "workdir": "rel"}, 400),
        ("limit-0", "GET", "/v1/runs?limit=0", None, 400),
        ("limit-junk", "GET", "/v1/runs?limit=5x", None, 400),
        ("bad-state", "GET", "/v1/runs?state=weird", None, 400),
        ("no-run", "GET", "/v1/runs/run-nope", None, 404),
        ("bad-id", "GET", "/v1/runs/..%2f..%2fetc", None, 404),
        ("unknown-path", "GET", "/v2/whatever", None, 404),
        ("wrong-method", "DELETE", "/v1/runs", None, 405),
        ("wrong-method-cancel", "GET", "/v1/runs/run-nope/cancel", None, 405),
        ("cancel-missing", "POST", "/v1/runs/run-nope/cancel", None, 404),
        ("resume-missing", "POST", "/v1/runs/run-nope/resume", None, 404),
        ("events-missing", "GET", "/v1/runs/run-nope/events", None, 404),
        ("output-missing", "GET", "/v1/runs/run-nope/stages/a/output", None, 404),
    ]
    for name, m, p, body, want in cases:
        st, data = call(m, p, d, body)
        ok = st == want
        try:
            ok = ok and "error" in json.loads(data)
        except ValueError:
            ok = False
        report(f"api-refuse-{name}", ok, f"{st} {data[:200]!r}")
    # Bodies and heads past their bounds, and bytes that are not HTTP.
    st, _, data = raw("POST", "/v1/runs", d, body="x" * (9 << 20),
                      headers={"Content-Type": "application/json"})
    report("api-refuse-body-9mib-413", st == 413, st)
    for name, payload, want in [
        ("garbage", b"\x00\x01\x02 not http\r\n\r\n", b" 400 "),
        ("chunked", b"POST /v1/runs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b" 411 "),
        ("head-too-large", b"GET /v1/health HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", b" 431 "),
        ("cl-too-large", b"POST /v1/runs HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", b" 4"),
    ]:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(d.sock)
        try:
            s.sendall(payload)
        except OSError:
            pass
        got = b""
        try:
            while True:
                k = s.recv(65536)
                if not k:
                    break
                got += k
        except OSError:
            pass
        s.close()
        report(f"api-refuse-{name}", want in got.split(b"\r\n")[0] and b'"error"' in got,
               got[:120])
    # A client that sends half a head and stops: answered 408, not held.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(d.sock)
    s.sendall(b"GET /v1/health HTTP/1.1\r\n")
    t0 = time.time()
    got = s.recv(4096)
    s.close()
    report("api-slow-client-408", b" 408 " in got and time.time() - t0 < 20, got[:60])
    # An invalid spec: every error, with line numbers, named "spec".
    st, data = call("POST", "/v1/runs", d, {"spec": "api_version: v1\nkind: pipeline\nname: x\n"
                                                     "pipeline: {boxes: [{name: a}], stages: "
                                                     "[{type: box, name: zz}]}\n"})
    e = json.loads(data)["error"] if st == 400 else {}
    report("api-invalid-spec-errors", st == 400 and e.get("code") == "invalid_spec"
           and any(x.startswith("spec:") for x in e.get("errors", [])), data[:300])


def test_runs(d, tmp):
    ok_run = submit(d, MOCK.format(name="ok", b="b"), input="hello")
    bad_run = submit(d, MOCK.format(name="bad", b="[[mock-agent:fail]]"))
    r1, r2 = wait_end(d, ok_run["id"]), wait_end(d, bad_run["id"])
    report("api-run-succeeded", r1["state"] == "succeeded" and r1["exit_code"] == 0
           and [s["status"] for s in r1["stages"]] == ["ok"] * 3, r1)
    report("api-run-failed", r2["state"] == "failed" and r2["exit_code"] != 0
           and "mock agent failed" in (r2["error"] or "")
           and [s["status"] for s in r2["stages"]] == ["ok", "failed", "skipped"], r2)
    # A spec as a JSON object (kind: agent), over TCP.
    obj = {"api_version": "v1", "kind": "agent", "name": "obj", "sandbox": {"mode": "mock"},
           "agent": {"prompt": "from an object"}}
    st, data = call("POST", "/v1/runs", d, {"spec": obj, "input": "x"}, via="tcp")
    ro = wait_end(d, json.loads(data)["id"]) if st == 201 else {}
    report("api-spec-json-object", st == 201 and ro.get("state") == "succeeded"
           and ro.get("kind") == "agent" and ro.get("name") == "obj", (st, ro))
    # The stage output is what the next stage received.
    st, data = call("GET", f"/v1/runs/{ok_run['id']}/stages/a/output", d)
    out_a = json.loads(data) if st == 200 else {}
    report("api-stage-output", st == 200 and out_a.get("box") == "a"
           and out_a.get("input") == "hello", data[:200])
    st, data = call("GET", f"/v1/runs/{ok_run['id']}/stages/zz/output", d)
    report("api-stage-output-missing-404", st == 404, st)
    # Events: in order, numbered from 1, ending with the run's end.
    evs = sse(d, ok_run["id"])
    ids = [i for i, _, _ in evs]
    kinds = [(t, e.get("state")) for _, t, e in evs]
    report("api-events-order", ids == list(range(1, len(ids) + 1))
           and kinds[0] == ("run", "queued") and kinds[-1] == ("run", "succeeded")
           and ("stage", "booting") in kinds and any(t == "log" for t, _ in kinds),
           kinds[:6])
    # Resume from the middle: Last-Event-ID and ?after give the rest.
    mid = ids[len(ids) // 2]
    rest = sse(d, ok_run["id"], last_id=mid)
    rest2 = sse(d, ok_run["id"], after=mid)
    report("api-events-last-event-id", [i for i, _, _ in rest] == ids[mid:]
           and [i for i, _, _ in rest2] == ids[mid:], (mid, [i for i, _, _ in rest][:3]))
    # Live: a client that connects before the run starts sees it all,
    # over TCP with the token.
    slow = submit(d, MOCK.format(name="slow", b="[[mock-agent:sleep:1500]]"))
    live = sse(d, slow["id"], follow=True, via="tcp")
    report("api-events-live-tcp", live and live[-1][2].get("state") == "succeeded"
           and [i for i, _, _ in live] == list(range(1, len(live) + 1)), live[-1:] if live else None)
    # Cancel a run in its sleep; a second cancel is a conflict.
    sl = submit(d, MOCK.format(name="cancel", b="[[mock-agent:sleep:60000]]"))
    for _ in range(100):
        if json.loads(call("GET", f"/v1/runs/{sl['id']}", d)[1])["state"] == "running":
            break
        time.sleep(0.05)
    time.sleep(0.5)
    t0 = time.time()
    st, _ = call("POST", f"/v1/runs/{sl['id']}/cancel", d)
    r = wait_end(d, sl["id"])
    report("api-cancel", st == 202 and r["state"] == "cancelled" and time.time() - t0 < 30,
           (st, r["state"]))
    st, _ = call("POST", f"/v1/runs/{sl['id']}/cancel", d)
    report("api-cancel-ended-409", st == 409, st)
    # Resume the failed run: a and its output carried over, b runs again.
    st, data = call("POST", f"/v1/runs/{ok_run['id']}/resume", d)
    report("api-resume-succeeded-409", st == 409, st)
    st, data = call("POST", f"/v1/runs/{bad_run['id']}/resume", d, {"force": "yes"})
    report("api-resume-bad-force-400", st == 400, st)
    st, data = call("POST", f"/v1/runs/{bad_run['id']}/resume", d)
    nr = json.loads(data) if st == 201 else {}
    if nr:
        nr = wait_end(d, nr["id"])
    report("api-resume-failed", st == 201 and nr.get("resumed_from") == bad_run["id"]
           and nr["stages"][0]["resumed"] and nr["stages"][0]["name"] == "a"
           and not nr["stages"][1]["resumed"] and nr["state"] == "failed", nr)
    # A spec file fixed after the failure: refused unless forced, then
    # the first stage is reused and the rest run.
    spec = os.path.join(tmp, "fixme.yaml")
    with open(spec, "w") as f:
        f.write(MOCK.format(name="fixme", b="[[mock-agent:fail]]"))
    st, data = call("POST", "/v1/runs", d, {"spec_path": "fixme.yaml", "workdir": tmp})
    fr = wait_end(d, json.loads(data)["id"]) if st == 201 else {}
    with open(spec, "w") as f:
        f.write(MOCK.format(name="fixme", b="fixed"))
    st1, data1 = call("POST", f"/v1/runs/{fr.get('id')}/resume", d)
    st2, data2 = call("POST", f"/v1/runs/{fr.get('id')}/resume", d, {"force": True})
    r2 = wait_end(d, json.loads(data2)["id"]) if st2 == 201 else {}
    st, data = call("GET", f"/v1/runs/{r2.get('id')}/stages/b/output", d)
    report("api-resume-spec-changed", fr.get("state") == "failed" and st1 == 409
           and json.loads(data1)["error"]["code"] == "spec_changed" and st2 == 201
           and r2.get("state") == "succeeded" and r2["stages"][0]["resumed"]
           and json.loads(data).get("input", {}).get("box") == "a", (st1, st2, r2.get("state")))


def test_concurrent(d):
    ids, errs = [], []

    def one(i):
        try:
            st, data = call("POST", "/v1/runs", d,
                            {"spec": MOCK.format(name=f"c{i}", b="[[mock-agent:sleep:100]]"),
                             "input": f"n{i}"}, via="tcp" if i % 2 else "unix")
            if st != 201:
                errs.append((st, data))
            else:
                ids.append(json.loads(data)["id"])
        except Exception as e:  # noqa: BLE001
            errs.append(repr(e))
    th = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    t0 = time.time()
    for t in th:
        t.start()
    for t in th:
        t.join()
    ends = [wait_end(d, i, 120) for i in ids]
    report("api-concurrent-20", not errs and len(set(ids)) == 20
           and all(r["state"] == "succeeded" for r in ends),
           (errs[:2], [r["state"] for r in ends if r["state"] != "succeeded"][:3]))
    print(f"info: 20 submissions accepted and run in {time.time() - t0:.1f} s "
          f"(2 at once)")
    # Paging: every run once, newest first.
    seen, before = [], None
    while True:
        q = "/v1/runs?limit=7" + (f"&before={before}" if before else "")
        page = json.loads(call("GET", q, d)[1])
        seen += [r["id"] for r in page["runs"]]
        before = page["next"]
        if not before:
            break
    created = [json.loads(call("GET", f"/v1/runs/{i}", d)[1])["created_ms"] for i in seen]
    report("api-list-paging", len(seen) == len(set(seen)) and set(ids) <= set(seen)
           and created == sorted(created, reverse=True), len(seen))
    st, data = call("GET", "/v1/runs?state=succeeded&limit=1000", d)
    report("api-list-state", st == 200 and all(
        r["state"] == "succeeded" for r in json.loads(data)["runs"]), st)


def running_children(store):
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if " run --file " in l and store.rsplit("/", 2)[0] in l]


def test_crash(tmp):
    d = Daemon(tmp).start()
    sl = submit(d, MOCK.format(name="crash", b="[[mock-agent:sleep:60000]]"))
    q = submit(d, MOCK.format(name="queued1", b="[[mock-agent:sleep:60000]]"))
    q2 = submit(d, MOCK.format(name="queued2", b="b"))
    time.sleep(1.0)
    d.stop(signal.SIGKILL)
    # PDEATHSIG: the run processes go with the daemon.
    for _ in range(100):
        if not running_children(d.store):
            break
        time.sleep(0.1)
    report("api-kill9-runs-die", not running_children(d.store), running_children(d.store))
    db = sqlite3.connect(d.store)
    ic = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    d2 = Daemon(tmp).start()
    states = {i: json.loads(call("GET", f"/v1/runs/{i}", d2)[1])["state"]
              for i in (sl["id"], q["id"], q2["id"])}
    evs = sse(d2, sl["id"])
    report("api-kill9-restart", ic == "ok" and set(states.values()) == {"interrupted"}
           and evs and evs[0][2]["state"] == "queued", (ic, states))
    # Without any daemon, the CLI reads the same history.
    d2.stop()
    env = dict(d2.env)
    env.pop("VOIDBOX_DAEMON", None)
    out = subprocess.run([VB, "--output", "json", "runs", "ls", "--limit", "1000"],
                         env=env, capture_output=True, text=True)
    listed = {r["id"]: r["state"] for r in json.loads(out.stdout or "[]")}
    report("api-runs-ls-no-daemon", out.returncode == 0 and
           all(listed.get(i) == "interrupted" for i in states), out.stderr[-300:])
    return d2


def test_stop(tmp):
    d = Daemon(tmp).start()
    sl = submit(d, MOCK.format(name="stopme", b="[[mock-agent:sleep:60000]]"))
    time.sleep(1.0)
    t0 = time.time()
    rc = d.stop(signal.SIGTERM)
    d2 = Daemon(tmp).start()
    r = json.loads(call("GET", f"/v1/runs/{sl['id']}", d2)[1])
    report("api-sigterm-stop", rc == 0 and r["state"] == "interrupted"
           and time.time() - t0 < 30 and not running_children(d.store), (rc, r["state"]))
    d2.stop()


def test_cli(d, tmp):
    env = dict(d.env, VOIDBOX_DAEMON=d.sock)
    spec = os.path.join(tmp, "cli.yaml")
    with open(spec, "w") as f:
        f.write(MOCK.format(name="cli", b="[[mock-agent:fail]]"))
    p = subprocess.run([VB, "run", "--file", spec, "--input", "from-cli"], env=env,
                       capture_output=True, text=True, timeout=120)
    rid = [w for w in p.stderr.split() if w.startswith("run-")]
    report("cli-run-daemon", p.returncode == 1 and "[run] failed" in p.stderr and rid,
           p.stderr[-400:])
    rid = rid[0] if rid else "none"
    p = subprocess.run([VB, "--output", "json", "runs", "show", rid], env=env,
                       capture_output=True, text=True)
    report("cli-runs-show", p.returncode == 0 and json.loads(p.stdout)["state"] == "failed",
           p.stderr)
    p = subprocess.run([VB, "logs", rid], env=env, capture_output=True, text=True)
    report("cli-logs", p.returncode == 0 and "[stage:b] ended failed" in p.stderr, p.stderr[-300:])
    env2 = dict(env)
    del env2["VOIDBOX_DAEMON"]
    p2 = subprocess.run([VB, "logs", rid], env=env2, capture_output=True, text=True)
    report("cli-logs-no-daemon", p2.returncode == 0 and p2.stderr == p.stderr, p2.stderr[-200:])
    p = subprocess.run([VB, "run", "--detach", "--file", spec], env=env,
                       capture_output=True, text=True)
    rid2 = p.stdout.strip()
    p = subprocess.run([VB, "logs", "-f", rid2], env=env, capture_output=True, text=True,
                       timeout=120)
    report("cli-logs-follow", p.returncode == 0 and "[run] failed" in p.stderr, p.stderr[-200:])
    with open(spec, "w") as f:
        f.write(MOCK.format(name="cli", b="[[mock-agent:sleep:60000]]"))
    p = subprocess.run([VB, "resume", rid], env=env, capture_output=True, text=True)
    report("cli-resume-changed-refused", p.returncode == 2 and "changed" in p.stderr, p.stderr)
    p = subprocess.Popen([VB, "resume", "--force", rid], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    new = None
    for _ in range(100):
        runs = json.loads(call("GET", "/v1/runs?state=running", d)[1])["runs"]
        new = next((r["id"] for r in runs if r.get("resumed_from") == rid), None)
        if new:
            break
        time.sleep(0.1)
    c = subprocess.run([VB, "cancel", new or "none"], env=env, capture_output=True, text=True)
    out, err = p.communicate(timeout=60)
    report("cli-resume-and-cancel", new and c.returncode == 0 and p.returncode != 0
           and "[run] cancelled" in err, (c.stderr, err[-300:]))


def test_retention(tmp):
    d = Daemon(tmp, extra=("--retain-mb", "1")).start()
    big = "x" * 100000  # each stage hands it on: ~400 KB a run
    ids = [submit(d, MOCK.format(name=f"r{i}", b="b"), input=big)["id"] for i in range(6)]
    for i in ids:
        wait_end(d, i)
    d.stop()
    d = Daemon(tmp, extra=("--retain-mb", "1")).start()
    left = [r["id"] for r in json.loads(call("GET", "/v1/runs?limit=1000", d)[1])["runs"]]
    dirs = os.listdir(os.path.join(tmp, "state", "runs"))
    report("api-retention-size", 0 < len(left) < 6 and ids[-1] in left
           and sorted(dirs) == sorted(left), (len(left), len(dirs)))
    d.stop()
    # By age: a run made three days ago goes with --retain-days 1, the
    # others stay.
    db = sqlite3.connect(d.store)
    db.execute("UPDATE runs SET created_ms = created_ms - 3 * 86400000 WHERE id = ?",
               (left[-1],))
    db.commit()
    db.close()
    d = Daemon(tmp, extra=("--retain-days", "1")).start()
    now = [r["id"] for r in json.loads(call("GET", "/v1/runs?limit=1000", d)[1])["runs"]]
    report("api-retention-age", left[-1] not in now and set(now) == set(left[:-1])
           and not os.path.exists(os.path.join(tmp, "state", "runs", left[-1])), now)
    d.stop()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        bad = subprocess.run([VB, "serve", "--socket", os.path.join(tmp, "x.sock"),
                              "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                             env=dict(os.environ, VOIDBOX_STORE=os.path.join(tmp, "h.db")),
                             timeout=20)
        report("api-tcp-needs-token", bad.returncode == 2 and "token" in bad.stderr,
               bad.stderr)
        # No history yet (nothing ever ran here): no runs, not an error.
        none = subprocess.run([VB, "--output", "json", "runs", "ls"], capture_output=True,
                              text=True, env=dict(os.environ, VOIDBOX_STORE=os.path.join(
                                  tmp, "never", "h.db")))
        report("cli-runs-ls-no-history", none.returncode == 0
               and json.loads(none.stdout) == [], none.stderr)
        # A daemon whose own environment names a daemon (a user who
        # exported VOIDBOX_DAEMON): its runs must run, not submit
        # themselves back to it.
        d = Daemon(tmp, env={"VOIDBOX_DAEMON": os.path.join(tmp, "api.sock")}).start()
        try:
            test_auth_and_limits(d)
            test_runs(d, tmp)
            test_concurrent(d)
            test_cli(d, tmp)
            st, _, _ = raw("GET", "/v1/health", d)
            report("api-still-serving", st == 200 and d.p.poll() is None, st)
        finally:
            d.stop()
    with tempfile.TemporaryDirectory() as tmp:
        test_crash(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_stop(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_retention(tmp)
    ops = {(m.upper(), p) for p, item in DOC.doc["paths"].items() for m in item
           if m in ("get", "post")}
    report("openapi-every-operation-called", ops <= seen_ops, sorted(ops - seen_ops))
    report("openapi-replies-match", not schema_errors, schema_errors[:5])
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
