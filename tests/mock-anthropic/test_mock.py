#!/usr/bin/env python3
"""Self-test of tests/mock-anthropic/server.py over HTTP (urllib only, no
claude binary). Prints PASS:/FAIL: lines; exits 1 if any test failed."""
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
TIMEOUT = 10
failures = 0


class Server:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, SERVER, "--port", "0"] + list(args),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        r, _, _ = select.select([self.p.stdout], [], [], TIMEOUT)
        line = self.p.stdout.readline().decode() if r else ""
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError("server did not start: %r %s" % (
                line, self.p.stderr.read().decode()[-500:]))
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def req(srv, path, body=None, method=None, headers=None, key="test-key",
        raw=None):
    h = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    if key:
        h["x-api-key"] = key
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode()
                                        if body is not None else None)
    r = urllib.request.Request(srv.base + path, data=data, headers=h,
                               method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(r, timeout=TIMEOUT) as resp:
            return resp.status, dict((k.lower(), v) for k, v in resp.headers.items()), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict((k.lower(), v) for k, v in e.headers.items()), e.read()


def parse_sse(data):
    events = []
    for chunk in data.decode().split("\n\n"):
        if not chunk.strip():
            continue
        ev, d = None, None
        for line in chunk.split("\n"):
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                d = json.loads(line[6:])
        assert ev and d and d["type"] == ev, "bad SSE frame %r" % chunk
        events.append(d)
    return events


def assemble(events):
    """Rebuild the message from SSE events the way an SDK does."""
    assert events[0]["type"] == "message_start", events[0]
    msg = events[0]["message"]
    partial = {}
    for e in events[1:]:
        t = e["type"]
        if t == "content_block_start":
            assert e["index"] == len(msg["content"]), "block index out of order"
            msg["content"].append(dict(e["content_block"]))
        elif t == "content_block_delta":
            b, d = msg["content"][e["index"]], e["delta"]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "input_json_delta":
                partial[e["index"]] = partial.get(e["index"], "") + d["partial_json"]
        elif t == "content_block_stop":
            if e["index"] in partial:
                msg["content"][e["index"]]["input"] = json.loads(partial[e["index"]])
        elif t == "message_delta":
            msg["stop_reason"] = e["delta"]["stop_reason"]
            msg["usage"].update(e["usage"])
    assert events[-1]["type"] == "message_stop", events[-1]
    return msg


def body(text="hi", stream=False, messages=None, **kw):
    b = {"model": "claude-test", "max_tokens": 100, "stream": stream,
         "messages": messages or [{"role": "user", "content": text}]}
    b.update(kw)
    return b


def check(name, fn, *a):
    global failures
    try:
        fn(*a)
        print("PASS: mock-%s" % name, flush=True)
    except Exception as e:  # noqa: BLE001
        failures += 1
        tb = traceback.format_exc().strip().splitlines()
        print("FAIL: mock-%s: %s (%s)" % (name, e or type(e).__name__, tb[-3].strip()),
              flush=True)


def eq(a, b, what=""):
    assert a == b, "%s: expected %r, got %r" % (what, b, a)


# --------------------------------------------------------------------------

def t_hello_json(s):
    st, h, d = req(s, "/v1/messages", body())
    eq(st, 200, "status")
    m = json.loads(d)
    eq(m["type"], "message", "type")
    eq(m["role"], "assistant", "role")
    eq(m["content"], [{"type": "text", "text": "hello from mock"}], "content")
    eq(m["stop_reason"], "end_turn", "stop_reason")
    assert m["usage"]["input_tokens"] > 0 and m["usage"]["output_tokens"] > 0
    assert h.get("request-id", "").startswith("req_")


def t_stream(s):
    st, h, d = req(s, "/v1/messages?beta=true", body(stream=True))
    eq(st, 200, "status")
    assert h["content-type"].startswith("text/event-stream"), h["content-type"]
    ev = parse_sse(d)
    eq([e["type"] for e in ev],
       ["message_start", "ping", "content_block_start", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop"], "event order")
    m = assemble(ev)
    eq(m["content"][0]["text"], "hello from mock", "text")
    eq(m["stop_reason"], "end_turn", "stop_reason")


def t_tool_roundtrip(s):
    u = {"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\nctx\n</system-reminder>"},
        {"type": "text", "text": "go [[mock:bash:echo hi > out.txt]]"}]}
    sysmsg = {"role": "system", "content": [{"type": "text", "text": "# Env"}]}
    st, _, d = req(s, "/v1/messages", body(stream=True, messages=[u, sysmsg]))
    eq(st, 200, "turn 1 status")
    m = assemble(parse_sse(d))
    eq(m["stop_reason"], "tool_use", "stop_reason")
    eq([b["type"] for b in m["content"]], ["text", "tool_use"], "blocks")
    tu = m["content"][1]
    eq(tu["name"], "Bash", "tool")
    eq(tu["input"]["command"], "echo hi > out.txt", "command")
    assert tu["id"].startswith("toolu_"), tu["id"]
    msgs = [u, sysmsg, {"role": "assistant", "content": m["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tu["id"],
                                          "content": "out-ok", "is_error": False}]}]
    st, _, d = req(s, "/v1/messages", body(stream=True, messages=msgs))
    eq(st, 200, "turn 2 status")
    m2 = assemble(parse_sse(d))
    eq(m2["content"], [{"type": "text", "text": "MOCK_DONE: out-ok"}], "final text")
    eq(m2["stop_reason"], "end_turn", "stop_reason")
    # list-shaped tool_result content, non-streaming
    msgs[-1]["content"][0]["content"] = [{"type": "text", "text": "a"},
                                         {"type": "text", "text": "b"}]
    st, _, d = req(s, "/v1/messages", body(messages=msgs))
    eq(json.loads(d)["content"][0]["text"], "MOCK_DONE: a\nb", "list content")
    # unmatched tool_result id -> 400 like the real API
    msgs[-1]["content"][0]["tool_use_id"] = "toolu_bogus"
    st, _, d = req(s, "/v1/messages", body(messages=msgs))
    eq(st, 400, "bad tool_use_id")
    # tool_use with no tool_result afterwards -> 400
    msgs[-1] = {"role": "user", "content": "no result"}
    st, _, d = req(s, "/v1/messages", body(messages=msgs))
    eq(st, 400, "missing tool_result")


def t_generic_tool(s):
    st, _, d = req(s, "/v1/messages", body(
        'w [[mock:tool:Write:{"file_path":"/tmp/x","content":"y"}]]'))
    m = json.loads(d)
    eq(st, 200, "status")
    eq(m["content"][0]["name"], "Write", "name")
    eq(m["content"][0]["input"], {"file_path": "/tmp/x", "content": "y"}, "input")


def t_errors(s):
    b = body("[[mock:ratelimit]]")
    st, h, d = req(s, "/v1/messages", b, headers={"x-claude-code-session-id": "e1"})
    eq(st, 429, "first attempt")
    e = json.loads(d)
    eq(e["type"], "error", "type")
    eq(e["error"]["type"], "rate_limit_error", "error type")
    eq(h.get("retry-after"), "0", "retry-after")
    st, _, d = req(s, "/v1/messages", b, headers={"x-claude-code-session-id": "e1"})
    eq(st, 200, "after retry")
    eq(json.loads(d)["content"][0]["text"], "recovered after 429", "text")
    b = body("[[mock:overloaded]]", stream=True)
    got = [req(s, "/v1/messages", b, headers={"x-claude-code-session-id": "e2"})
           for _ in range(3)]
    eq([g[0] for g in got], [529, 529, 200], "529 x2 then ok")
    eq(json.loads(got[0][2])["error"]["type"], "overloaded_error", "529 type")
    # another conversation starts from scratch
    st, _, _ = req(s, "/v1/messages", b, headers={"x-claude-code-session-id": "e3"})
    eq(st, 529, "fresh conversation")
    # /mock/reset clears counters
    req(s, "/mock/reset", {})
    st, _, _ = req(s, "/v1/messages", b, headers={"x-claude-code-session-id": "e2"})
    eq(st, 529, "after reset")


def t_validation(s):
    cases = [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}, "role"),
        ({"model": "m", "max_tokens": 5, "stream": "yes",
          "messages": [{"role": "user", "content": "x"}]}, "stream"),
    ]
    for b, word in cases:
        st, _, d = req(s, "/v1/messages", b)
        eq(st, 400, "status for %s" % word)
        e = json.loads(d)
        eq(e["error"]["type"], "invalid_request_error", "type")
        assert word in e["error"]["message"], e["error"]["message"]
    st, _, d = req(s, "/v1/messages", raw=b"{not json")
    eq(st, 400, "bad json")
    st, _, d = req(s, "/v1/nope", body())
    eq(st, 404, "unknown path")
    eq(json.loads(d)["error"]["type"], "not_found_error", "404 type")
    st, _, d = req(s, "/v1/messages", body("[[mock:no-such-script]]"))
    eq(st, 400, "unknown script")


def t_auth(s):
    st, _, d = req(s, "/v1/messages", body(), key=None)
    eq(st, 401, "no key")
    eq(json.loads(d)["error"]["type"], "authentication_error", "type")
    st, _, _ = req(s, "/v1/messages", body(), key=None,
                   headers={"authorization": "Bearer tok"})
    eq(st, 200, "bearer")
    s2 = Server("--api-key", "right")
    try:
        eq(req(s2, "/v1/messages", body(), key="wrong")[0], 401, "wrong key")
        eq(req(s2, "/v1/messages", body(), key="right")[0], 200, "right key")
    finally:
        s2.stop()


def t_count_tokens(s):
    st, _, d = req(s, "/v1/messages/count_tokens?beta=true",
                   {"model": "m", "messages": [{"role": "user", "content": "hello " * 40}]})
    eq(st, 200, "status")
    n = json.loads(d)["input_tokens"]
    assert isinstance(n, int) and n > 10, n
    eq(req(s, "/v1/messages/count_tokens", {"model": "m"})[0], 400, "no messages")


def t_models_hello(s):
    st, _, d = req(s, "/v1/models")
    eq(st, 200, "models")
    m = json.loads(d)
    assert m["data"] and m["data"][0]["type"] == "model", m
    eq(req(s, "/v1/models/" + m["data"][0]["id"])[0], 200, "one model")
    eq(req(s, "/v1/models/nope")[0], 404, "unknown model")
    eq(req(s, "/api/hello", method="HEAD", key=None)[0], 200, "HEAD /api/hello")


def t_script_file(tmp):
    path = os.path.join(tmp, "script.json")
    with open(path, "w") as f:
        json.dump({"default": "multi", "scripts": {
            "multi": {"usage": {"input_tokens": 7},
                      "turns": [
                          {"text": "one: {{prompt}}", "usage": {"output_tokens": 3,
                                                                "cache_read_input_tokens": 11}},
                          {"text": "two ({{model}})"}]},
            "cost": {"turns": [{"text": "c", "usage": {
                "input_tokens": 1000, "output_tokens": 500,
                "cache_creation_input_tokens": 200, "cache_read_input_tokens": 300}}]},
        }}, f)
    s = Server("--script", path)
    try:
        st, _, d = req(s, "/v1/messages", body("ask", stream=True))
        m = assemble(parse_sse(d))
        eq(m["content"][0]["text"], "one: ask", "turn 0 from default script")
        eq(m["usage"]["input_tokens"], 7, "script usage")
        eq(m["usage"]["output_tokens"], 3, "turn usage")
        eq(m["usage"]["cache_read_input_tokens"], 11, "cache read")
        msgs = [{"role": "user", "content": "ask"},
                {"role": "assistant", "content": "one"},
                {"role": "user", "content": "more"}]
        st, _, d = req(s, "/v1/messages", body(messages=msgs))
        eq(json.loads(d)["content"][0]["text"], "two (claude-test)", "turn 1")
        msgs += [{"role": "assistant", "content": "two"}, {"role": "user", "content": "x"}]
        st, _, d = req(s, "/v1/messages", body(messages=msgs))
        assert "has no turn 2" in json.loads(d)["content"][0]["text"], d
        st, _, d = req(s, "/v1/messages", body("[[mock:cost]]", stream=True))
        u = assemble(parse_sse(d))["usage"]
        eq((u["input_tokens"], u["output_tokens"], u["cache_creation_input_tokens"],
            u["cache_read_input_tokens"]), (1000, 500, 200, 300), "usage")
        # builtins stay available
        st, _, d = req(s, "/v1/messages", body("[[mock:default]]"))
        eq(json.loads(d)["content"][0]["text"], "hello from mock", "builtin")
    finally:
        s.stop()


def t_slow(s):
    t0 = time.time()
    st, _, d = req(s, "/v1/messages", body("[[mock:slow]]", stream=True))
    dt = time.time() - t0
    ev = parse_sse(d)
    n = sum(1 for e in ev if e["type"] == "content_block_delta")
    assert n >= 6, "expected several deltas, got %d" % n
    assert dt >= 0.4, "stream too fast (%.2fs)" % dt
    eq(assemble(ev)["content"][0]["text"], "slow streaming reply from mock", "text")


def t_broken_and_json(tmp):
    path = os.path.join(tmp, "b.json")
    with open(path, "w") as f:
        json.dump({"scripts": {
            "cut": {"turns": [{"text": "never complete", "break_after": 1}]},
            "plain": {"turns": [{"text": "json anyway", "stream_mode": "json"}]},
            "sseerr": {"turns": [{"text": "x", "sse_error": {"type": "overloaded_error"}}]},
        }}, f)
    s = Server("--script", path)
    try:
        cut = False
        try:
            st, _, d = req(s, "/v1/messages", body("[[mock:cut]]", stream=True))
            cut = parse_sse(d)[-1]["type"] != "message_stop"
        except (http.client.IncompleteRead, ConnectionError, OSError):
            cut = True  # the expected outcome: truncated chunked body
        assert cut, "stream was not cut"
        st, h, d = req(s, "/v1/messages", body("[[mock:plain]]", stream=True))
        assert h["content-type"].startswith("application/json"), h
        eq(json.loads(d)["content"][0]["text"], "json anyway", "json")
        st, _, d = req(s, "/v1/messages", body("[[mock:sseerr]]", stream=True))
        ev = parse_sse(d)
        eq(ev[-1]["type"], "error", "SSE error event")
    finally:
        s.stop()


def t_record(tmp):
    rec = os.path.join(tmp, "rec.jsonl")
    s = Server("--record", rec)
    try:
        req(s, "/v1/messages?beta=true", body("rec", tools=[{"name": "Bash",
                                                             "input_schema": {}}],
                                              system="SYS"), key="key-123")
        req(s, "/v1/messages", body(), key=None,
            headers={"authorization": "Bearer tok-9"})
    finally:
        s.stop()
    lines = [json.loads(l) for l in open(rec)]
    eq(len(lines), 2, "records")
    a, b = lines
    eq((a["method"], a["path"], a["query"], a["status"]),
       ("POST", "/v1/messages", "beta=true", 200), "first")
    eq(a["headers"]["x-api-key"], "key-123", "api key recorded")
    eq(a["body"]["tools"][0]["name"], "Bash", "tools")
    eq(a["body"]["system"], "SYS", "system")
    eq(a["script"], "default", "script")
    eq(b["headers"]["authorization"], "Bearer tok-9", "bearer recorded")


def main():
    signal.alarm(120)  # never hang
    tmp = tempfile.mkdtemp(prefix="mock-anthropic-test-")
    try:
        s = Server()
    except Exception as e:  # noqa: BLE001
        print("FAIL: mock-start: %s" % e)
        return 1
    try:
        check("hello-json", t_hello_json, s)
        check("stream", t_stream, s)
        check("tool-roundtrip", t_tool_roundtrip, s)
        check("generic-tool", t_generic_tool, s)
        check("errors", t_errors, s)
        check("validation", t_validation, s)
        check("auth", t_auth, s)
        check("count-tokens", t_count_tokens, s)
        check("models-hello", t_models_hello, s)
        check("slow", t_slow, s)
    finally:
        s.stop()
    check("script-file", t_script_file, tmp)
    check("broken-and-json", t_broken_and_json, tmp)
    check("record", t_record, tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
