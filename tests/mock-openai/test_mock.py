#!/usr/bin/env python3
"""Self-test of tests/mock-openai/server.py over HTTP (http.client only, no
codex binary). Prints PASS:/FAIL: lines; exits 1 if any check failed."""
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
TIMEOUT = 10
KEY = "test-key"
failures = 0


class Server:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, SERVER, "--port", "0"]
                                  + list(args), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        r, _, _ = select.select([self.p.stdout], [], [], TIMEOUT)
        line = self.p.stdout.readline().decode() if r else ""
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError("server did not start: %r %s" % (
                line, self.p.stderr.read().decode()[-500:]))
        self.port = int(line.split()[1])

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Reply:
    def __init__(self, status, headers, data, complete):
        self.status = status
        self.headers = headers
        self.data = data
        self.complete = complete  # False: the body ended early

    def json(self):
        return json.loads(self.data)


def call(srv, path, body=None, method=None, key=KEY, headers=None, raw=None):
    h = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if key:
        h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode()
                                        if body is not None else None)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
    try:
        conn.request(method or ("POST" if data is not None else "GET"), path,
                     body=data, headers=h)
        resp = conn.getresponse()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        try:
            return Reply(resp.status, hdrs, resp.read(), True)
        except http.client.IncompleteRead as e:
            return Reply(resp.status, hdrs, e.partial, False)
    finally:
        conn.close()


def parse_sse(data):
    """Frames of a (possibly cut) stream; a trailing partial frame is
    dropped, as an SSE client would."""
    events = []
    frames = data.decode().split("\n\n")
    for frame in frames[:-1]:
        if not frame.strip():
            continue
        name, payload = None, None
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                payload = json.loads(line[6:])
        assert name and payload and payload["type"] == name, \
            "bad SSE frame %r" % frame[:200]
        events.append(payload)
    return events


def assemble(events):
    """Rebuild the output items from deltas, the way a client does, and
    check that they match the .done events and response.completed."""
    assert events[0]["type"] == "response.created", events[0]["type"]
    items = {}
    for e in events[1:]:
        t = e["type"]
        if t == "response.output_item.added":
            assert e["output_index"] == len(items), "output_index order"
            items[e["output_index"]] = dict(e["item"], _acc="")
        elif t in ("response.output_text.delta",
                   "response.function_call_arguments.delta",
                   "response.custom_tool_call_input.delta"):
            it = items[e["output_index"]]
            eq(e["item_id"], it["id"], "delta item_id")
            it["_acc"] += e["delta"]
        elif t == "response.output_text.done":
            eq(e["text"], items[e["output_index"]]["_acc"], "text.done")
        elif t == "response.function_call_arguments.done":
            eq(e["arguments"], items[e["output_index"]]["_acc"], "args.done")
        elif t == "response.custom_tool_call_input.done":
            eq(e["input"], items[e["output_index"]]["_acc"], "input.done")
        elif t == "response.output_item.done":
            it = items[e["output_index"]]
            done = e["item"]
            eq(done["id"], it["id"], "item id")
            if done["type"] == "message":
                eq(done["content"][0]["text"], it["_acc"], "message text")
            elif done["type"] == "function_call":
                eq(done["arguments"], it["_acc"], "arguments")
            elif done["type"] == "custom_tool_call":
                eq(done["input"], it["_acc"], "input")
            items[e["output_index"]] = done
    last = events[-1]
    eq(last["type"], "response.completed", "last event")
    resp = last["response"]
    eq(resp["status"], "completed", "status")
    eq(resp["output"], [items[i] for i in range(len(items))], "output")
    return resp


def msg(role, text):
    return {"type": "message", "role": role,
            "content": [{"type": "input_text" if role != "assistant"
                         else "output_text", "text": text}]}


def codex_body(prompt, more=(), stream=True, conv="conv-1", **kw):
    """A request shaped like codex 0.169's."""
    b = {"model": "gpt-5-codex",
         "input": [msg("developer", "You are Codex, a coding agent."),
                   msg("user", "<environment_context>\n  <cwd>/w</cwd>\n"
                       "</environment_context>"),
                   msg("user", prompt)] + list(more),
         "tools": [{"type": "custom", "name": "exec",
                    "description": "Run JavaScript",
                    "format": {"type": "grammar", "syntax": "lark",
                               "definition": "start: /.+/"}},
                   {"type": "function", "name": "wait", "strict": False,
                    "parameters": {"type": "object", "properties": {}}}],
         "tool_choice": "auto", "parallel_tool_calls": False,
         "reasoning": {"effort": "medium", "summary": "auto"},
         "store": False, "stream": stream,
         "include": ["reasoning.encrypted_content"],
         "prompt_cache_key": conv, "text": {"verbosity": "medium"},
         "client_metadata": {"originator": "codex_exec"}}
    b.update(kw)
    return b


def check(name, fn, *a):
    global failures
    try:
        fn(*a)
        print("PASS: mock-openai-%s" % name, flush=True)
    except Exception as e:  # noqa: BLE001
        failures += 1
        # Name the check's own line, not the helper that raised.
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if f.name.startswith("t_")]
        where = "line %d" % frames[-1].lineno if frames else ""
        print("FAIL: mock-openai-%s: %s (%s)"
              % (name, e or type(e).__name__, where), flush=True)


def eq(a, b, what=""):
    assert a == b, "%s: expected %r, got %r" % (what, b, a)


def error_shape(r, status, etype=None, code=None):
    eq(r.status, status, "status")
    assert r.headers.get("content-type", "").startswith("application/json"), \
        r.headers
    e = r.json()["error"]
    for k in ("message", "type", "code"):
        assert k in e, "error without %r: %r" % (k, e)
    assert isinstance(e["message"], str) and e["message"], e
    if etype:
        eq(e["type"], etype, "error type")
    if code:
        eq(e["code"], code, "error code")
    return e


# --------------------------------------------------------------------------

def t_auth(s):
    error_shape(call(s, "/v1/responses", codex_body("hi"), key=None), 401,
                "invalid_request_error")
    error_shape(call(s, "/v1/responses", codex_body("hi"), key="wrong"), 401,
                "invalid_request_error", "invalid_api_key")
    error_shape(call(s, "/v1/models", key="wrong"), 401)
    eq(call(s, "/v1/responses", codex_body("hi")).status, 200, "right key")


def t_stream_order(s):
    r = call(s, "/v1/responses", codex_body("hi"))
    eq(r.status, 200, "status")
    assert r.headers["content-type"].startswith("text/event-stream"), r.headers
    ev = parse_sse(r.data)
    eq([e["type"] for e in ev],
       ["response.created", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"], "event order")
    eq([e["sequence_number"] for e in ev], list(range(len(ev))), "seq")
    eq(ev[0]["response"]["status"], "in_progress", "created status")
    eq(ev[0]["response"]["output"], [], "created output")
    eq(ev[1]["item"]["type"], "message", "added type")
    eq(ev[1]["item"]["status"], "in_progress", "added status")
    resp = assemble(ev)
    item = resp["output"][0]
    eq((item["type"], item["role"], item["status"]),
       ("message", "assistant", "completed"), "item")
    eq(item["content"], [{"type": "output_text", "text": "hello from mock",
                          "annotations": []}], "content")
    eq((resp["object"], resp["model"], resp["store"]),
       ("response", "gpt-5-codex", False), "response echoes the request")
    eq(ev[0]["response"]["id"], resp["id"], "response id")
    u = resp["usage"]
    assert u["input_tokens"] > 0 and u["output_tokens"] > 0, u
    eq(u["total_tokens"], u["input_tokens"] + u["output_tokens"], "total")
    # Same request, same ids: retries see identical answers.
    ev2 = parse_sse(call(s, "/v1/responses", codex_body("hi")).data)
    eq(ev2[-1]["response"]["output"], resp["output"], "deterministic")


def t_usage(s):
    ev = parse_sse(call(s, "/v1/responses",
                        codex_body("[[mock:usage]]")).data)
    eq(assemble(ev)["usage"],
       {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 200},
        "output_tokens": 500,
        "output_tokens_details": {"reasoning_tokens": 100},
        "total_tokens": 1500}, "usage")


def t_json_mode(s):
    r = call(s, "/v1/responses", codex_body("x [[mock:echo]]", stream=False))
    eq(r.status, 200, "status")
    assert r.headers["content-type"].startswith("application/json"), r.headers
    resp = r.json()
    eq((resp["object"], resp["status"]), ("response", "completed"), "object")
    eq(resp["output"][0]["content"][0]["text"], "echo: x [[mock:echo]]",
       "echo text")
    assert resp["usage"]["total_tokens"] > 0, resp["usage"]
    # A bare-string input is a user message too.
    r = call(s, "/v1/responses", {"model": "m", "input": "plain"})
    eq(r.json()["output"][0]["content"][0]["text"], "hello from mock", "str")


def t_function_call(s):
    prompt = 'weather? [[mock:fn:get_weather:{"city":"Paris"}]]'
    ev = parse_sse(call(s, "/v1/responses", codex_body(prompt)).data)
    eq([e["type"] for e in ev],
       ["response.created", "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"], "event order")
    eq([e["sequence_number"] for e in ev], list(range(len(ev))), "seq")
    resp = assemble(ev)
    fc = resp["output"][0]
    eq((fc["type"], fc["name"], fc["arguments"]),
       ("function_call", "get_weather", '{"city":"Paris"}'), "call")
    assert fc["call_id"].startswith("call_"), fc["call_id"]
    call_item = {"type": "function_call", "name": fc["name"],
                 "arguments": fc["arguments"], "call_id": fc["call_id"]}
    out = {"type": "function_call_output", "call_id": fc["call_id"],
           "output": "sunny, 21C"}
    ev = parse_sse(call(s, "/v1/responses",
                        codex_body(prompt, [call_item, out])).data)
    resp = assemble(ev)
    eq(resp["output"][0]["content"][0]["text"], "MOCK_DONE: sunny, 21C",
       "follow-up")
    # Output as content parts, non-streaming.
    out["output"] = [{"type": "input_text", "text": "a"},
                     {"type": "input_text", "text": "b"}]
    r = call(s, "/v1/responses", codex_body(prompt, [call_item, out],
                                            stream=False))
    eq(r.json()["output"][0]["content"][0]["text"], "MOCK_DONE: a\nb", "parts")
    # The real API refuses an output without its call, and the reverse.
    r = call(s, "/v1/responses", codex_body(prompt, [out]))
    error_shape(r, 400, "invalid_request_error")
    r = call(s, "/v1/responses", codex_body(prompt, [call_item]))
    error_shape(r, 400, "invalid_request_error")
    error_shape(call(s, "/v1/responses", codex_body("[[mock:fn:f:{bad]]")),
                400)


def t_custom_tool_call(s):
    prompt = 'run it [[mock:custom:exec:text(await tools.shell("ls"))]]'
    ev = parse_sse(call(s, "/v1/responses", codex_body(prompt)).data)
    types = [e["type"] for e in ev]
    eq(types[0:2], ["response.created", "response.output_item.added"], "head")
    eq(types[-3:], ["response.custom_tool_call_input.done",
                    "response.output_item.done", "response.completed"],
       "tail")
    assert set(types[2:-3]) == {"response.custom_tool_call_input.delta"}, \
        types
    eq([e["sequence_number"] for e in ev], list(range(len(ev))), "seq")
    resp = assemble(ev)
    ct = resp["output"][0]
    eq((ct["type"], ct["name"], ct["input"]),
       ("custom_tool_call", "exec", 'text(await tools.shell("ls"))'), "call")
    more = [{"type": "custom_tool_call", "name": "exec", "input": ct["input"],
             "call_id": ct["call_id"]},
            {"type": "custom_tool_call_output", "call_id": ct["call_id"],
             "output": "a.txt\nb.txt"}]
    resp = assemble(parse_sse(call(s, "/v1/responses",
                                   codex_body(prompt, more)).data))
    eq(resp["output"][0]["content"][0]["text"], "MOCK_DONE: a.txt\nb.txt",
       "follow-up")
    # Past the script's end: a visible marker, not a hang or a 500.
    more += [msg("assistant", "MOCK_DONE"), msg("user", "again?")]
    resp = assemble(parse_sse(call(s, "/v1/responses",
                                   codex_body(prompt, more)).data))
    assert "has no turn 2" in resp["output"][0]["content"][0]["text"], resp


def t_ratelimit(s):
    b = codex_body("[[mock:ratelimit-then-ok:2]]", conv="rl-1")
    rs = [call(s, "/v1/responses", b) for _ in range(3)]
    eq([r.status for r in rs], [429, 429, 200], "429 x2 then ok")
    error_shape(rs[0], 429, "requests", "rate_limit_exceeded")
    eq(rs[0].headers.get("retry-after"), "0", "retry-after")
    eq(rs[0].headers.get("retry-after-ms"), "0", "retry-after-ms")
    resp = assemble(parse_sse(rs[2].data))
    eq(resp["output"][0]["content"][0]["text"], "recovered after 429", "text")
    # Counters are per conversation (codex's prompt_cache_key).
    eq(call(s, "/v1/responses", dict(b, prompt_cache_key="rl-2")).status, 429,
       "fresh conversation")
    b = codex_body("[[mock:always429]]", conv="rl-3")
    eq([call(s, "/v1/responses", b).status for _ in range(3)], [429] * 3,
       "always429")


def t_5xx(s):
    b = codex_body("[[mock:always500]]", conv="e-1")
    rs = [call(s, "/v1/responses", b) for _ in range(3)]
    eq([r.status for r in rs], [500] * 3, "always500")
    error_shape(rs[0], 500, "server_error")
    b = codex_body("[[mock:overloaded-then-ok]]", conv="e-2")
    rs = [call(s, "/v1/responses", b) for _ in range(3)]
    eq([r.status for r in rs], [503, 503, 200], "503 x2 then ok")
    error_shape(rs[0], 503, "server_error")
    # /mock/reset starts the counts again.
    call(s, "/mock/reset", {})
    eq(call(s, "/v1/responses", b).status, 503, "after reset")


def t_dropped(s):
    r = call(s, "/v1/responses", codex_body("[[mock:dropped:3]]"))
    eq(r.status, 200, "status")
    assert not r.complete, "body ended cleanly; expected a cut stream"
    ev = parse_sse(r.data)
    eq([e["type"] for e in ev], ["response.created",
                                 "response.output_item.added",
                                 "response.content_part.added"], "events")
    # The default cut comes after the first text delta.
    r = call(s, "/v1/responses", codex_body("[[mock:dropped]]"))
    ev = parse_sse(r.data)
    assert not r.complete and len(ev) == 4, (r.complete, len(ev))
    assert "response.completed" not in [e["type"] for e in ev]
    b = codex_body("[[mock:dropped-then-ok]]", conv="d-1")
    r1, r2 = call(s, "/v1/responses", b), call(s, "/v1/responses", b)
    assert not r1.complete and r2.complete, (r1.complete, r2.complete)
    resp = assemble(parse_sse(r2.data))
    eq(resp["output"][0]["content"][0]["text"],
       "recovered after a dropped stream", "text")


def t_slow(s):
    t0 = time.time()
    r = call(s, "/v1/responses", codex_body("[[mock:slow]]"))
    dt = time.time() - t0
    ev = parse_sse(r.data)
    n = sum(1 for e in ev if e["type"] == "response.output_text.delta")
    assert n >= 6, "expected several deltas, got %d" % n
    assert dt >= 0.3, "stream too fast (%.2fs)" % dt
    eq(assemble(ev)["output"][0]["content"][0]["text"],
       "slow streaming reply from mock", "text")


def t_validation(s):
    error_shape(call(s, "/v1/responses", raw=b"{not json"), 400,
                "invalid_request_error")
    e = error_shape(call(s, "/v1/responses", {"input": "x"}), 400)
    eq(e["param"], "model", "param")
    e = error_shape(call(s, "/v1/responses", {"model": "m"}), 400)
    eq(e["param"], "input", "param")
    error_shape(call(s, "/v1/responses", codex_body("x", stream="yes")), 400)
    error_shape(call(s, "/v1/responses", codex_body("[[mock:no-such]]")), 400)


def t_models(s):
    r = call(s, "/v1/models")
    eq(r.status, 200, "status")
    m = r.json()
    eq(m["object"], "list", "object")
    assert m["data"] and all(d["object"] == "model" for d in m["data"]), m
    r = call(s, "/v1/models/" + m["data"][0]["id"])
    eq(r.json(), m["data"][0], "one model")
    error_shape(call(s, "/v1/models/nope"), 404, "invalid_request_error",
                "model_not_found")


def t_not_found(s):
    error_shape(call(s, "/v1/chat/completions", {"model": "m"}), 404,
                "invalid_request_error")
    error_shape(call(s, "/v1/responses"), 404)  # GET
    error_shape(call(s, "/responses", codex_body("x")), 404)


def t_script_file(tmp):
    path = os.path.join(tmp, "script.json")
    with open(path, "w") as f:
        json.dump({"default": "multi", "scripts": {"multi": {
            "usage": {"input_tokens": 7},
            "turns": [
                {"text": "two calls",
                 "tool_calls": [
                     {"type": "function", "name": "wait",
                      "arguments": {"ms": 1}},
                     {"type": "custom", "name": "exec", "input": "1+1"}]},
                {"text": "got: {{tool_result}}",
                 "usage": {"output_tokens": 3, "cached_tokens": 5}}],
            "after": {"text": "after ({{model}}, turn {{turn}})"}},
            "fails": {"turns": [{"text": "partial", "failed": {
                "code": "server_error", "message": "mock went away"}}]}}},
            f)
    s = Server("--script", path)
    try:
        resp = assemble(parse_sse(call(s, "/v1/responses",
                                       codex_body("go")).data))
        eq([o["type"] for o in resp["output"]],
           ["message", "function_call", "custom_tool_call"], "items")
        eq(resp["output"][1]["arguments"], '{"ms": 1}', "object arguments")
        eq(resp["usage"]["input_tokens"], 7, "script usage")
        # codex interleaves call/output pairs; both outputs are one turn.
        more = []
        for o, res in zip(resp["output"][1:], ("waited", "2")):
            c = {k: o[k] for k in ("type", "name", "call_id")}
            c.update({"arguments": o["arguments"]} if "arguments" in o
                     else {"input": o["input"]})
            more += [c, {"type": o["type"] + "_output",
                         "call_id": o["call_id"], "output": res}]
        resp = assemble(parse_sse(call(s, "/v1/responses",
                                       codex_body("go", more)).data))
        eq(resp["output"][0]["content"][0]["text"], "got: waited\n2", "turn 1")
        eq((resp["usage"]["input_tokens"], resp["usage"]["output_tokens"],
            resp["usage"]["input_tokens_details"]["cached_tokens"]),
           (7, 3, 5), "turn usage")
        more += [msg("assistant", "got"), msg("user", "more")]
        r = call(s, "/v1/responses", codex_body("go", more, stream=False))
        eq(r.json()["output"][0]["content"][0]["text"],
           "after (gpt-5-codex, turn 2)", "after")
        ev = parse_sse(call(s, "/v1/responses",
                            codex_body("[[mock:fails]]")).data)
        eq(ev[-1]["type"], "response.failed", "failed event")
        eq(ev[-1]["response"]["error"]["message"], "mock went away", "error")
        # Built-ins stay available next to a file.
        r = call(s, "/v1/responses", codex_body("[[mock:default]]",
                                                stream=False))
        eq(r.json()["output"][0]["content"][0]["text"], "hello from mock",
           "builtin")
    finally:
        s.stop()


def t_record(rec):
    lines = [json.loads(x) for x in open(rec)]
    assert len(lines) >= 5, "only %d records" % len(lines)
    ok = [x for x in lines if x["path"] == "/v1/responses"
          and x.get("status") == 200]
    first = ok[0]
    eq((first["method"], first["path"], first["script"], first["turn"],
        first["stream"]), ("POST", "/v1/responses", "default", 0, True),
       "first 200")
    eq(first["headers"]["authorization"], "Bearer " + KEY, "key recorded")
    eq(first["headers"]["accept"], "text/event-stream", "accept recorded")
    b = first["body"]
    for k in ("client_metadata", "include", "input", "model",
              "parallel_tool_calls", "prompt_cache_key", "reasoning", "store",
              "stream", "text", "tool_choice", "tools"):
        assert k in b, "body without %r" % k
    eq(b["input"][-1]["content"][0]["text"], "hi", "prompt recorded")
    assert any(x["status"] == 401 for x in lines), "no 401 recorded"
    inj = [x for x in lines if x.get("injected_error")]
    assert inj and inj[0]["status"] in (429, 500, 503), inj[:1]
    assert any(x.get("dropped_after") == 3 for x in lines), "no drop recorded"
    fc = [x for x in lines if x.get("script") == "fn" and x.get("turn") == 1]
    assert fc, "no fn turn 1"
    eq(fc[0]["body"]["input"][-1]["type"], "function_call_output", "output")


class Timeout(BaseException):
    """Not an Exception, so check() cannot swallow it and the finally
    blocks still stop the servers."""


def on_alarm(signum, frame):
    raise Timeout()


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(25)  # the tier budget is 30 s
    tmp = tempfile.mkdtemp(prefix="mock-openai-test-")
    rec = os.path.join(tmp, "rec.jsonl")
    try:
        try:
            s = Server("--api-key", KEY, "--record", rec)
        except Exception as e:  # noqa: BLE001
            print("FAIL: mock-openai-start: %s" % e)
            return 1
        try:
            check("auth", t_auth, s)
            check("stream-order", t_stream_order, s)
            check("usage", t_usage, s)
            check("json-mode", t_json_mode, s)
            check("function-call", t_function_call, s)
            check("custom-tool-call", t_custom_tool_call, s)
            check("ratelimit", t_ratelimit, s)
            check("5xx", t_5xx, s)
            check("dropped", t_dropped, s)
            check("slow", t_slow, s)
            check("validation", t_validation, s)
            check("models", t_models, s)
            check("not-found", t_not_found, s)
        finally:
            s.stop()
        check("script-file", t_script_file, tmp)
        check("record", t_record, rec)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


def run():
    try:
        return main()
    except Timeout:
        print("FAIL: mock-openai-timeout: still running after 25 s",
              flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(run())
