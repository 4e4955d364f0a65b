#!/usr/bin/env python3
"""voidbox mock OpenAI Responses API server (python3 stdlib only).

The upstream for the Codex CLI (`codex exec`) in tests. Answers
POST /v1/responses (SSE or JSON) and GET /v1/models[/<id>] from
deterministic "scripts"; see README.md next to this file.

    server.py [--host 127.0.0.1] [--port 0] [--api-key KEY] [--record FILE]
              [--script FILE] [--delay S] [--lenient] [--verbose]

Prints "LISTENING <port>" on stdout once the socket is bound.
"""
import argparse
import copy
import hashlib
import json
import re
import socket
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# --------------------------------------------------------------------------
# Scripts

BUILTIN_SCRIPTS = {
    "default": {"turns": [{"text": "hello from mock"}]},
    "echo": {"turns": [{"text": "echo: {{prompt}}"}]},
    # Round numbers so a test can check each field of cost accounting.
    "usage": {"turns": [{"text": "usage from mock",
                         "usage": {"input_tokens": 1000, "cached_tokens": 200,
                                   "output_tokens": 500,
                                   "reasoning_tokens": 100}}]},
    # [[mock:fn:NAME:JSON-ARGS]] and [[mock:custom:NAME:INPUT]]: the ARG is
    # split at its first ':' into {{arg_head}} and {{arg_tail}}.
    "fn": {"turns": [
        {"function_call": {"name": "{{arg_head}}",
                           "arguments": "{{arg_tail}}"}},
        {"text": "MOCK_DONE: {{tool_result}}"}]},
    "custom": {"turns": [
        {"custom_tool_call": {"name": "{{arg_head}}",
                              "input": "{{arg_tail}}"}},
        {"text": "MOCK_DONE: {{tool_result}}"}]},
    # Retry paths. count -1 = every attempt; {{arg}} falls back to
    # arg_default when the marker has no ARG.
    "always429": {"turns": [{"errors": [{"status": 429, "count": -1,
                                         "retry_after": 0}]}]},
    "always500": {"turns": [{"errors": [{"status": 500, "count": -1}]}]},
    "ratelimit-then-ok": {"arg_default": "1", "turns": [
        {"errors": [{"status": 429, "count": "{{arg}}", "retry_after": 0}],
         "text": "recovered after 429"}]},
    "overloaded-then-ok": {"arg_default": "2", "turns": [
        {"errors": [{"status": 503, "count": "{{arg}}"}],
         "text": "recovered after 503"}]},
    # The stream stops after {{arg}} events: the client has seen part of a
    # reply but never response.completed, which codex treats as retryable.
    "dropped": {"arg_default": "4", "turns": [
        {"text": "this reply is cut short", "chunk": 5,
         "break_after": "{{arg}}"}]},
    "dropped-then-ok": {"arg_default": "1", "turns": [
        {"errors": [{"drop_after": 4, "count": "{{arg}}"}],
         "text": "recovered after a dropped stream", "chunk": 5}]},
    "slow": {"turns": [{"text": "slow streaming reply from mock",
                        "chunk": 5, "delay": 0.05}]},
}

EXHAUSTED_TURN = {"text": "[mock: script {{script}} has no turn {{turn}}]"}

MARKER_RE = re.compile(r"\[\[mock:([A-Za-z0-9_.-]+)(?::(.*?))?\]\]", re.S)

# Codex wraps context it adds itself (<environment_context>,
# <user_instructions>, ...) in one tag per text part; those are not the
# prompt a test wants echoed.
WRAPPED_RE = re.compile(r"\s*<([A-Za-z_][\w-]*)[^>]*>.*</\1>\s*", re.S)

# Turn tag in the call ids the mock hands out, so the outputs of parallel
# calls from one turn count once.
MOCK_CALL_RE = re.compile(r"^call_mock_t(\d+)_")

# (type, code, message) as api.openai.com answers them.
ERROR_DEFAULTS = {
    400: ("invalid_request_error", None, "Invalid request (mock)"),
    401: ("invalid_request_error", "invalid_api_key",
          "Incorrect API key provided (mock)"),
    403: ("invalid_request_error", None, "Forbidden (mock)"),
    404: ("invalid_request_error", None, "Not found (mock)"),
    429: ("requests", "rate_limit_exceeded",
          "Rate limit reached for requests (mock)"),
    500: ("server_error", None,
          "The server had an error while processing your request (mock)"),
    502: ("server_error", None, "Bad gateway (mock)"),
    503: ("server_error", "server_is_overloaded",
          "The server is overloaded (mock)"),
}

MODELS = ["gpt-5.1-codex", "gpt-5-codex", "gpt-5", "gpt-5-mini", "o4-mini"]
MODEL_CREATED = 1735689600  # fixed, so /v1/models is byte-stable

TOOL_CALL_TYPES = ("function_call", "custom_tool_call")
TOOL_OUTPUT_TYPES = ("function_call_output", "custom_tool_call_output")


_DEFAULT = object()


class ApiError(Exception):
    def __init__(self, status, message=None, etype=None, code=_DEFAULT,
                 param=None, headers=None):
        d = ERROR_DEFAULTS.get(status, ("server_error" if status >= 500
                                        else "invalid_request_error", None,
                                        "mock error"))
        super().__init__(message or d[2])
        self.status = status
        self.message = message or d[2]
        self.etype = etype or d[0]
        self.code = d[1] if code is _DEFAULT else code
        self.param = param
        self.headers = headers or {}

    def body(self):
        return {"error": {"message": self.message, "type": self.etype,
                          "param": self.param, "code": self.code}}


def load_script_file(path):
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise SystemExit("script %s: top level must be an object" % path)
    if "scripts" in data:
        scripts, default = data["scripts"], data.get("default")
    else:
        scripts = {data.get("name", "file"): data}
        default = data.get("name", "file")
    for name, s in scripts.items():
        if not isinstance(s, dict) or not isinstance(s.get("turns"), list) \
                or not s["turns"]:
            raise SystemExit("script %s: %r needs a non-empty 'turns' list"
                             % (path, name))
    return scripts, default


# --------------------------------------------------------------------------
# Reading the request's input items

def input_items(body):
    """The input as a list of items; a bare string is one user message."""
    inp = body.get("input")
    if isinstance(inp, str):
        return [{"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": inp}]}]
    return inp if isinstance(inp, list) else []


def is_message(it):
    return it.get("type", "message") == "message" and "role" in it


def texts_of(it):
    c = it.get("content")
    if isinstance(c, str):
        return [c]
    if not isinstance(c, list):
        return []
    return [p.get("text", "") for p in c
            if isinstance(p, dict) and isinstance(p.get("text"), str)]


def prompt_of(it):
    texts = [t for t in texts_of(it) if not WRAPPED_RE.fullmatch(t)]
    return texts[-1] if texts else ""


def output_text(out):
    """Tool output as text: codex sends a string, or a list of content
    parts (input_text/input_image), or in some versions an object."""
    if out is None:
        return ""
    if isinstance(out, str):
        return out
    if isinstance(out, list):
        return "\n".join(p.get("text", "") for p in out
                         if isinstance(p, dict) and "text" in p)
    if isinstance(out, dict):
        if "content" in out:
            return output_text(out["content"])
        return json.dumps(out, sort_keys=True)
    return str(out)


def output_groups(items):
    """Tool outputs grouped by the model turn that asked for them, in order.
    Codex interleaves call, output, call, output for parallel calls, so
    adjacency cannot tell turns apart; the mock's own call ids can."""
    groups = {}
    for it in items:
        if it.get("type") not in TOOL_OUTPUT_TYPES:
            continue
        cid = str(it.get("call_id", ""))
        m = MOCK_CALL_RE.match(cid)
        key = "t" + m.group(1) if m else "id:" + cid
        groups.setdefault(key, []).append(it)
    return list(groups.values())


def answered_texts(items):
    """Text answers that ended an exchange: an assistant message followed by
    a new user message before any tool call. These are turns too, so a
    second prompt in the same conversation moves the script on."""
    n, pending = 0, False
    for it in items:
        t = it.get("type", "message")
        if t in TOOL_CALL_TYPES or t in TOOL_OUTPUT_TYPES:
            pending = False
        elif is_message(it) and it.get("role") == "assistant":
            pending = True
        elif is_message(it) and it.get("role") == "user" and pending:
            n, pending = n + 1, False
    return n


def estimate_tokens(obj):
    return max(1, len(json.dumps(obj, separators=(",", ":"))) // 4)


def validate_body(body, strict):
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.",
                       code="missing_required_parameter", param="model")
    if "input" not in body:
        raise ApiError(400, "Missing required parameter: 'input'.",
                       code="missing_required_parameter", param="input")
    for k in ("stream", "store", "parallel_tool_calls"):
        if k in body and not isinstance(body[k], bool):
            raise ApiError(400, "Invalid type for '%s': expected a boolean."
                           % k, code="invalid_type", param=k)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise ApiError(400, "Invalid type for 'tools': expected an array.",
                           code="invalid_type", param="tools")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("type"), str):
                raise ApiError(400, "Missing required parameter: "
                               "'tools[%d].type'." % i,
                               code="missing_required_parameter",
                               param="tools[%d].type" % i)
            if t["type"] in ("function", "custom") and \
                    not isinstance(t.get("name"), str):
                raise ApiError(400, "Missing required parameter: "
                               "'tools[%d].name'." % i,
                               code="missing_required_parameter",
                               param="tools[%d].name" % i)
    inp = body["input"]
    if isinstance(inp, str):
        return
    if not isinstance(inp, list):
        raise ApiError(400, "Invalid type for 'input': expected a string or "
                       "an array.", code="invalid_type", param="input")
    for i, it in enumerate(inp):
        if not isinstance(it, dict):
            raise ApiError(400, "Invalid type for 'input[%d]': expected an "
                           "object." % i, code="invalid_type",
                           param="input[%d]" % i)
        if "role" in it and it["role"] not in ("user", "assistant", "system",
                                               "developer"):
            raise ApiError(400, "Invalid value: '%s'. Supported values are: "
                           "'user', 'assistant', 'system', and 'developer'."
                           % it["role"], code="invalid_value",
                           param="input[%d].role" % i)
        if is_message(it) and not isinstance(it.get("content"), (str, list)):
            raise ApiError(400, "Missing required parameter: "
                           "'input[%d].content'." % i,
                           code="missing_required_parameter",
                           param="input[%d].content" % i)
    if not strict:
        return
    # With store:false there is no server-side history, so the real API
    # insists that every call and its output travel together.
    calls, outputs = {}, set()
    for it in inp:
        t = it.get("type")
        if t in TOOL_CALL_TYPES:
            calls[str(it.get("call_id"))] = t
        elif t in TOOL_OUTPUT_TYPES:
            cid = str(it.get("call_id"))
            if calls.get(cid) != t[:-len("_output")]:
                raise ApiError(400, "No tool call found for %s output with "
                               "call_id %s." % (t[:-len("_output")]
                                                .replace("_", " "), cid),
                               param="input")
            outputs.add(cid)
    for cid, t in calls.items():
        if cid not in outputs:
            raise ApiError(400, "No tool output found for %s %s."
                           % (t.replace("_", " "), cid), param="input")


def render(obj, ctx):
    """{{var}} in every string; a string that is exactly {{var}} with a
    non-string value becomes that value (so it can be an object)."""
    if isinstance(obj, str):
        m = re.fullmatch(r"\{\{(\w+)\}\}", obj)
        if m and m.group(1) in ctx and not isinstance(ctx[m.group(1)], str):
            return ctx[m.group(1)]
        return re.sub(r"\{\{(\w+)\}\}",
                      lambda mm: str(ctx.get(mm.group(1), mm.group(0))), obj)
    if isinstance(obj, list):
        return [render(x, ctx) for x in obj]
    if isinstance(obj, dict):
        return {k: render(v, ctx) for k, v in obj.items()}
    return obj


def split(s, n):
    if n <= 0 or len(s) <= n:
        return [s]
    return [s[i:i + n] for i in range(0, len(s), n)]


def as_int(v, what):
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ApiError(400, "mock: %s must be an integer, got %r" % (what, v))


# --------------------------------------------------------------------------
# Server state

class Mock:
    def __init__(self, args):
        self.args = args
        self.scripts = copy.deepcopy(BUILTIN_SCRIPTS)
        self.default = "default"
        if args.script:
            scripts, default = load_script_file(args.script)
            self.scripts.update(scripts)
            if default:
                self.default = default
        self.lock = threading.Lock()
        self.attempts = {}   # (conversation, script, turn) -> attempts so far
        self.record_f = open(args.record, "a") if args.record else None

    def record(self, rec):
        if not self.record_f:
            return
        line = json.dumps(rec, separators=(",", ":"))
        with self.lock:
            self.record_f.write(line + "\n")
            self.record_f.flush()

    def reset(self):
        with self.lock:
            self.attempts.clear()

    def plan(self, body, headers):
        """Returns (script name, turn number, rendered turn, conversation)."""
        items = input_items(body)
        name = arg = mark_idx = None
        for i in range(len(items) - 1, -1, -1):
            it = items[i]
            if not (is_message(it) and it.get("role") == "user"):
                continue
            for t in reversed(texts_of(it)):
                m = MARKER_RE.search(t)
                if m:
                    name, arg, mark_idx = m.group(1), m.group(2), i
                    break
            if name:
                break
        if name is None:
            name = self.default
        if name not in self.scripts:
            raise ApiError(400, "mock: unknown script %r (known: %s)"
                           % (name, ", ".join(sorted(self.scripts))))
        script = self.scripts[name]
        region = items[mark_idx + 1:] if mark_idx is not None else items
        groups = output_groups(region)
        turn_no = len(groups) + answered_texts(region)
        turns = script["turns"]
        if turn_no < len(turns):
            turn = copy.deepcopy(turns[turn_no])
        elif script.get("repeat_last"):
            turn = copy.deepcopy(turns[-1])
        else:
            turn = copy.deepcopy(script.get("after", EXHAUSTED_TURN))

        if arg is None:
            arg = script.get("arg_default", "")
        head, _, tail = arg.partition(":")
        prompt = ""
        for it in reversed(items):
            if is_message(it) and it.get("role") == "user" and prompt_of(it):
                prompt = prompt_of(it)
                break
        last = groups[-1] if groups else []
        ctx = {"arg": arg, "arg_head": head, "arg_tail": tail,
               "prompt": prompt,
               "tool_result": "\n".join(output_text(o.get("output"))
                                        for o in last),
               "call_id": str(last[-1].get("call_id", "")) if last else "",
               "model": body.get("model", ""), "script": name,
               "turn": str(turn_no)}
        if name == "fn":
            # Catch a typo in the marker here rather than as a confusing
            # tool error inside codex.
            try:
                json.loads(tail or "{}")
            except ValueError:
                raise ApiError(400, "mock: [[mock:fn:NAME:JSON]] has bad "
                               "JSON: %r" % tail)
            if not tail:
                ctx["arg_tail"] = "{}"
        turn = render(turn, ctx)

        # Error counters are per conversation. codex sends its thread id as
        # prompt_cache_key; without it, hash what leads up to the marker.
        conv = body.get("prompt_cache_key") or headers.get("session_id") or \
            headers.get("conversation_id")
        if not conv:
            lead = items[:mark_idx + 1] if mark_idx is not None else items[:1]
            conv = hashlib.sha256(json.dumps(lead, sort_keys=True)
                                  .encode()).hexdigest()[:16]
        return name, turn_no, turn, str(conv)

    def take_attempt(self, conv, name, turn_no, turn):
        """The injected failure for this attempt at a turn, or None."""
        seq, forever = [], False
        for e in turn.get("errors") or []:
            n = as_int(e.get("count", 1), "errors[].count")
            if n < 0:
                seq.append(e)
                forever = True
                break
            seq.extend([e] * n)
        if not seq:
            return None
        key = (conv, name, turn_no)
        with self.lock:
            k = self.attempts.get(key, 0)
            self.attempts[key] = k + 1
        if k < len(seq):
            return seq[k]
        return seq[-1] if forever else None


def short_hash(*parts):
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def build_output(turn, conv, turn_no):
    """Final output items for a turn. Ids derive from the conversation and
    turn, so a retried request gets the same ids."""
    h = short_hash(conv, turn_no)
    out = []
    text = turn.get("text")
    calls = list(turn.get("tool_calls") or [])
    if turn.get("function_call"):
        calls.insert(0, dict(turn["function_call"], type="function"))
    if turn.get("custom_tool_call"):
        calls.insert(0, dict(turn["custom_tool_call"], type="custom"))
    if (text is not None and text != "") or not calls:
        out.append({"id": "msg_mock_%s" % h, "type": "message",
                    "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text or "",
                                 "annotations": []}]})
    for k, c in enumerate(calls):
        call_id = c.get("call_id") or "call_mock_t%d_%d_%s" % (turn_no, k,
                                                               h[:8])
        if c.get("type", "function") == "custom":
            inp = c.get("input", "")
            out.append({"id": "ctc_mock_%s_%d" % (h, k),
                        "type": "custom_tool_call", "status": "completed",
                        "call_id": call_id, "name": c["name"],
                        "input": inp if isinstance(inp, str)
                        else json.dumps(inp)})
        else:
            a = c.get("arguments", "{}")
            out.append({"id": "fc_mock_%s_%d" % (h, k),
                        "type": "function_call", "status": "completed",
                        "call_id": call_id, "name": c["name"],
                        "arguments": a if isinstance(a, str)
                        else json.dumps(a)})
    return out


def build_usage(body, output, script, turn):
    u = {"input_tokens": estimate_tokens(body.get("input")),
         "cached_tokens": 0,
         "output_tokens": estimate_tokens(output),
         "reasoning_tokens": 0}
    u.update(script.get("usage", {}))
    u.update(turn.get("usage", {}))
    total = u.get("total_tokens", u["input_tokens"] + u["output_tokens"])
    return {"input_tokens": u["input_tokens"],
            "input_tokens_details": {"cached_tokens": u["cached_tokens"]},
            "output_tokens": u["output_tokens"],
            "output_tokens_details": {"reasoning_tokens":
                                      u["reasoning_tokens"]},
            "total_tokens": total}


def build_response(body, rid, output, usage):
    """The response object in its final form, echoing the request's settings
    the way the real API does."""
    return {"id": rid, "object": "response", "created_at": int(time.time()),
            "status": "completed", "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"], "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": body.get("reasoning") or {"effort": None,
                                                   "summary": None},
            "store": body.get("store", True),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "truncation": "disabled", "usage": usage,
            "metadata": body.get("metadata") or {}}


def sse_events(resp, chunk, failed=None):
    """The event list for one response; sequence numbers count from 0."""
    ev = []

    def add(etype, **fields):
        e = {"type": etype, "sequence_number": len(ev)}
        e.update(fields)
        ev.append(e)

    add("response.created", response=dict(resp, status="in_progress",
                                          output=[], usage=None))
    for idx, item in enumerate(resp["output"]):
        iid = item["id"]
        if item["type"] == "message":
            text = item["content"][0]["text"]
            add("response.output_item.added", output_index=idx,
                item=dict(item, status="in_progress", content=[]))
            add("response.content_part.added", item_id=iid, output_index=idx,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": []})
            if text:
                for piece in split(text, chunk):
                    add("response.output_text.delta", item_id=iid,
                        output_index=idx, content_index=0, delta=piece)
            add("response.output_text.done", item_id=iid, output_index=idx,
                content_index=0, text=text)
            add("response.content_part.done", item_id=iid, output_index=idx,
                content_index=0, part=item["content"][0])
        elif item["type"] == "function_call":
            args = item["arguments"]
            add("response.output_item.added", output_index=idx,
                item=dict(item, status="in_progress", arguments=""))
            # Split in two by default so a client that only reads the
            # .done event, or only the deltas, is caught either way.
            for piece in split(args, chunk or max(1, (len(args) + 1) // 2)):
                add("response.function_call_arguments.delta", item_id=iid,
                    output_index=idx, delta=piece)
            add("response.function_call_arguments.done", item_id=iid,
                output_index=idx, name=item["name"], arguments=args)
        elif item["type"] == "custom_tool_call":
            inp = item["input"]
            add("response.output_item.added", output_index=idx,
                item=dict(item, status="in_progress", input=""))
            for piece in split(inp, chunk or max(1, (len(inp) + 1) // 2)):
                add("response.custom_tool_call_input.delta", item_id=iid,
                    output_index=idx, delta=piece)
            add("response.custom_tool_call_input.done", item_id=iid,
                output_index=idx, input=inp)
        add("response.output_item.done", output_index=idx, item=item)
    if failed:
        add("response.failed", response=dict(
            resp, status="failed", usage=None,
            error={"code": failed.get("code", "server_error"),
                   "message": failed.get("message", "mock failure")}))
    else:
        add("response.completed", response=resp)
    return ev


# --------------------------------------------------------------------------
# HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "voidbox-mock-openai/1"
    mock = None  # set in main

    def log_message(self, fmt, *a):
        if self.mock.args.verbose:
            sys.stderr.write("mock-openai: " + (fmt % a) + "\n")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n) if n else b""
        enc = self.headers.get("Content-Encoding", "").lower().strip()
        if enc in ("gzip", "deflate"):
            data = zlib.decompress(data, 47)  # 47: zlib or gzip header
        return data

    def send_json(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", self.req_id)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def check_auth(self, h):
        auth = h.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not key:
            raise ApiError(401, "You didn't provide an API key. You need to "
                           "provide your API key in an Authorization header "
                           "using Bearer auth (mock).", code=None)
        want = self.mock.args.api_key
        if want and key != want:
            raise ApiError(401, "Incorrect API key provided (mock).")

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def dispatch(self):
        self.req_id = "req_mock_" + uuid.uuid4().hex[:20]
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        h = {k.lower(): v for k, v in self.headers.items()}
        rec = {"ts": time.time(), "method": self.command, "path": url.path,
               "query": url.query, "headers": h}
        body = None
        try:
            try:
                raw = self.read_body() if self.command != "GET" else b""
            except (ValueError, zlib.error):
                raw = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    rec["body_raw"] = raw.decode("utf-8", "replace")
            rec["body"] = body
            if raw is None:
                raise ApiError(400, "could not read the request body")
            if path == "/mock/reset" and self.command == "POST":
                self.mock.reset()
                return self.send_json(200, {"ok": True})
            if path == "/v1/responses" and self.command == "POST":
                return self.create_response(h, raw, body, rec)
            if path == "/v1/models" and self.command == "GET":
                self.check_auth(h)
                rec["status"] = 200
                self.mock.record(rec)
                return self.send_json(200, {"object": "list", "data": [
                    self.model_obj(m) for m in MODELS]})
            if path.startswith("/v1/models/") and self.command == "GET":
                self.check_auth(h)
                mid = path[len("/v1/models/"):]
                if mid not in MODELS:
                    raise ApiError(404, "The model '%s' does not exist" % mid,
                                   code="model_not_found", param="model")
                rec["status"] = 200
                self.mock.record(rec)
                return self.send_json(200, self.model_obj(mid))
            raise ApiError(404, "Invalid URL (%s %s)" % (self.command,
                                                         url.path))
        except ApiError as e:
            rec["status"] = e.status
            rec["error"] = e.message
            self.mock.record(rec)
            self.send_json(e.status, e.body(), e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    @staticmethod
    def model_obj(mid):
        return {"id": mid, "object": "model", "created": MODEL_CREATED,
                "owned_by": "openai"}

    # -- /v1/responses ------------------------------------------------------
    def create_response(self, h, raw, body, rec):
        self.check_auth(h)
        if not raw:
            raise ApiError(400, "request body is empty (expected JSON)")
        if body is None:
            raise ApiError(400, "We could not parse the JSON body of your "
                           "request (mock).")
        validate_body(body, strict=not self.mock.args.lenient)
        name, turn_no, turn, conv = self.mock.plan(body, h)
        rec["script"], rec["turn"] = name, turn_no
        stream = bool(body.get("stream"))
        rec["stream"] = stream
        fail = self.mock.take_attempt(conv, name, turn_no, turn)
        break_after = turn.get("break_after")
        if fail and "drop_after" in fail:
            break_after = fail["drop_after"]
        elif fail:
            status = as_int(fail.get("status", 500), "errors[].status")
            extra = {}
            if "retry_after" in fail:
                ra = float(fail["retry_after"])
                extra["retry-after"] = ("%d" % ra) if ra == int(ra) \
                    else str(ra)
                extra["retry-after-ms"] = str(int(ra * 1000))
            rec["status"] = status
            rec["injected_error"] = True
            self.mock.record(rec)
            err = ApiError(status, fail.get("message"), fail.get("type"),
                           fail.get("code", _DEFAULT), headers=extra)
            return self.send_json(status, err.body(), extra)

        output = build_output(turn, conv, turn_no)
        usage = build_usage(body, output, self.mock.scripts[name], turn)
        resp = build_response(body, "resp_mock_%s" % short_hash(conv, turn_no),
                              output, usage)
        rec["status"] = 200
        if break_after is not None and stream:
            break_after = as_int(break_after, "break_after")
            rec["dropped_after"] = break_after
        self.mock.record(rec)
        if turn.get("first_byte_delay"):
            time.sleep(float(turn["first_byte_delay"]))
        if not stream:
            return self.send_json(200, resp)
        events = sse_events(resp, int(turn.get("chunk", 0)),
                            turn.get("failed"))
        self.stream(events, float(turn.get("delay", self.mock.args.delay)),
                    break_after)

    def stream(self, events, delay, break_after):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", self.req_id)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for k, e in enumerate(events):
                if break_after is not None and k >= break_after:
                    # No terminating chunk: the client must see a body that
                    # ends early, as when a proxy or the network drops it.
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if k and delay:
                    time.sleep(delay)
                frame = ("event: %s\ndata: %s\n\n"
                         % (e["type"], json.dumps(e, separators=(",", ":")))
                         ).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    ap.add_argument("--api-key", help="require exactly this Bearer key")
    ap.add_argument("--record", help="append every request as a JSON line")
    ap.add_argument("--script", help="JSON script file (see README.md)")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds between SSE events (default for all turns)")
    ap.add_argument("--lenient", action="store_true",
                    help="skip the call/output pairing checks")
    ap.add_argument("--verbose", action="store_true",
                    help="access log on stderr")
    args = ap.parse_args()

    Handler.mock = Mock(args)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    print("LISTENING %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
