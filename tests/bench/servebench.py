#!/usr/bin/env python3
"""tests/bench/servebench.py: `voidbox serve` figures (make bench-serve),
in mock mode on this machine (no VM: the daemon's own costs).

  1. submission -> first event: POST /v1/runs until the run's "queued"
     event reaches an SSE client, and until its first stage event (the
     run process started and reported), median of 20.
  2. events/s streamed to 10 clients at once: one run with 20,000 tool
     events, replayed from the history by 10 SSE clients in parallel;
     and the same 10 clients following a run live as it produces them.
  3. history queries with 10,000 runs stored: list (first page, a deep
     page, by state), one run, and `voidbox runs ls` (no daemon).
"""
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
import test_api as T  # noqa: E402  (its Daemon and HTTP helpers)


def sse_stream(d, rid, n_expected, out, i, follow=True):
    """Read rid's events; record (count, seconds)."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.sock)
    q = f"/v1/runs/{rid}/events" + ("" if follow else "?follow=false")
    s.sendall(f"GET {q} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    t0 = time.perf_counter()
    n, buf = 0, b""
    while True:
        k = s.recv(1 << 20)
        if not k:
            break
        n += k.count(b"\nevent: ")
        buf = k[-16:]
    s.close()
    out[i] = (n, time.perf_counter() - t0)


def first_event_latency(d):
    q_lat, st_lat = [], []
    for _ in range(20):
        import socket
        t0 = time.perf_counter()
        st, _, data = T.raw("POST", "/v1/runs", d, {"spec": T.MOCK.format(name="lat", b="b")})
        rid = json.loads(data)["id"]
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        s.sendall(f"GET /v1/runs/{rid}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        got, tq, ts = b"", None, None
        while ts is None:
            k = s.recv(65536)
            if not k:
                break
            got += k
            if tq is None and b"event: run" in got:
                tq = time.perf_counter() - t0
            if b"event: stage" in got:
                ts = time.perf_counter() - t0
        s.close()
        q_lat.append(tq * 1000)
        st_lat.append(ts * 1000)
        T.wait_end(d, rid)
    return statistics.median(q_lat), statistics.median(st_lat)


def fanout_rate(d, nev=20000, clients=10):
    tools = "".join(f"[[mock-agent:tool:Bash:step {i}]]" for i in range(nev))
    spec = T.MOCK.format(name="many", b=tools)
    t0 = time.perf_counter()
    rid = T.submit(d, spec)["id"]
    run = T.wait_end(d, rid, 600)
    produce = time.perf_counter() - t0
    out = [None] * clients
    th = [threading.Thread(target=sse_stream, args=(d, rid, nev, out, i, False))
          for i in range(clients)]
    t0 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    total = sum(n for n, _ in out)
    replay = total / wall
    # Live: the 10 clients follow a new run from its start.
    rid2 = T.submit(d, spec)["id"]
    out = [None] * clients
    th = [threading.Thread(target=sse_stream, args=(d, rid2, nev, out, i, True))
          for i in range(clients)]
    t0 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall2 = time.perf_counter() - t0
    live_total = sum(n for n, _ in out)
    return run["events"], produce, total, replay, live_total / wall2, wall2


def history_queries(tmp):
    d = T.Daemon(tmp).start()
    T.wait_end(d, T.submit(d, T.MOCK.format(name="seed", b="b"))["id"])
    d.stop()
    # 10,000 runs with 3 stages and 20 events each, written as the daemon
    # writes them (same schema, same columns).
    db = sqlite3.connect(d.store)
    now = int(time.time() * 1000)
    runs, stages, events, inputs = [], [], [], []
    for i in range(10000):
        rid = f"run-bench-{i:06d}"
        state = "failed" if i % 10 == 0 else "succeeded"
        runs.append((rid, f"bench{i % 7}", "pipeline", state, None, "0" * 64,
                     None, None, 0 if state == "succeeded" else 1, None, now - (10000 - i) * 1000,
                     now - (10000 - i) * 1000, now - (10000 - i) * 1000 + 500, 100, 50, 0.01, 20, 4000))
        inputs.append((rid, "spec: x", None))
        for j, n in enumerate("abc"):
            stages.append((rid, n, j, "ok", None, 0, 10, 5, 0.001, b"out" * 100, "{}"))
        for k in range(1, 21):
            events.append((rid, k, now, "log", json.dumps({"type": "log", "seq": k, "msg": "x" * 80})))
    db.executemany("INSERT INTO runs VALUES(" + ",".join("?" * 18) + ")", runs)
    db.executemany("INSERT INTO run_inputs VALUES(?,?,?)", inputs)
    db.executemany("INSERT INTO stages(run_id, name, idx, status, error, resumed, tokens_in, "
                   "tokens_out, cost_usd, output, result) VALUES(?,?,?,?,?,?,?,?,?,?,?)", stages)
    db.executemany("INSERT INTO events VALUES(?,?,?,?,?)", events)
    db.commit()
    db.close()
    d = T.Daemon(tmp).start()

    def timed(path, n=50):
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            st, _, body = T.raw("GET", path, d)
            ts.append((time.perf_counter() - t0) * 1000)
            assert st == 200, (path, st, body[:200])
        return statistics.median(ts)
    res = {
        "list first page (50)": timed("/v1/runs"),
        "list page 150 (before=)": timed("/v1/runs?limit=50&before=run-bench-002500"),
        "list state=failed": timed("/v1/runs?state=failed"),
        "one run with stages": timed("/v1/runs/run-bench-004242"),
        "events of one run": timed("/v1/runs/run-bench-004242/events?follow=false"),
    }
    d.stop()
    ts = []
    for _ in range(10):
        t0 = time.perf_counter()
        subprocess.run([T.VB, "runs", "ls"], env=d.env, capture_output=True, check=True)
        ts.append((time.perf_counter() - t0) * 1000)
    res["voidbox runs ls (process, no daemon)"] = statistics.median(ts)
    return res


def main():
    with tempfile.TemporaryDirectory() as tmp:
        d = T.Daemon(tmp).start()
        try:
            q, s = first_event_latency(d)
            print(f"serve: submission -> first event (queued) {q:.1f} ms, "
                  f"-> first stage event {s:.1f} ms (median of 20, mock run)")
            nev, produce, total, replay, live, wall2 = fanout_rate(d)
            print(f"serve: one run of {nev} events recorded in {produce:.1f} s "
                  f"({nev / produce:.0f} events/s into the history)")
            print(f"serve: replay to 10 SSE clients: {total} events, "
                  f"{replay:.0f} events/s in all ({replay / 10:.0f} per client)")
            print(f"serve: live to 10 SSE clients: {live:.0f} events/s in all "
                  f"(run of {nev} events followed in {wall2:.1f} s)")
        finally:
            d.stop()
    with tempfile.TemporaryDirectory() as tmp:
        for k, v in history_queries(tmp).items():
            print(f"serve: 10,000 runs stored: {k}: {v:.2f} ms (median)")


if __name__ == "__main__":
    main()
