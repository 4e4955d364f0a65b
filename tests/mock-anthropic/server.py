#!/usr/bin/env python3
"""voidbox mock Anthropic Messages API server (python3 stdlib only).

Answers POST /v1/messages (SSE or JSON), POST /v1/messages/count_tokens,
GET /v1/models[/<id>], HEAD|GET /api/hello, from deterministic "scripts".
See README.md next to this file for the script format.

    server.py [--host 127.0.0.1] [--port 0] [--script FILE] [--record FILE]
              [--api-key KEY] [--minimal] [--no-ping] [--lenient] [--verbose]

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# --------------------------------------------------------------------------
# Scripts

BUILTIN_SCRIPTS = {
    # Default: one text answer.
    "default": {"turns": [{"text": "hello from mock"}]},
    # Echo the prompt text back.
    "echo": {"turns": [{"text": "echo: {{prompt}}"}]},
    # A debug route gone wrong: the request's headers (the real key among
    # them) come back in the answer. The gateway must never relay it.
    "reflect": {"turns": [{"text": "reflected: {{headers}}"}]},
    # [[mock:bash:CMD]]: Bash tool_use with CMD, then echo the tool result.
    "bash": {"turns": [
        {"text": "Running it.",
         "tool_use": {"name": "Bash",
                      "input": {"command": "{{arg}}",
                                "description": "mock command"}}},
        {"text": "MOCK_DONE: {{tool_result}}"}]},
    # [[mock:tool:NAME:JSON]]: any tool with a JSON input (built in code).
    "tool": {"turns": [
        {"tool_use": {"name": "{{arg_tool}}", "input": "{{arg_input}}"}},
        {"text": "MOCK_DONE: {{tool_result}}"}]},
    # Errors then success (retry paths).
    "overloaded": {"turns": [{"errors": [{"status": 529, "count": 2}],
                              "text": "recovered after 529"}]},
    "ratelimit": {"turns": [{"errors": [{"status": 429, "count": 1,
                                         "retry_after": 0}],
                             "text": "recovered after 429"}]},
    # Slow stream: 5 chars per delta, 50 ms apart.
    "slow": {"turns": [{"text": "slow streaming reply from mock",
                        "chunk": 5, "delay": 0.05}]},
    # Fixed usage numbers for cost accounting.
    "usage": {"turns": [{"text": "usage from mock",
                         "usage": {"input_tokens": 1000,
                                   "output_tokens": 500,
                                   "cache_creation_input_tokens": 200,
                                   "cache_read_input_tokens": 300}}]},
}

EXHAUSTED_TURN = {"text": "[mock: script {{script}} has no turn {{turn}}]"}

MARKER_RE = re.compile(r"\[\[mock:([A-Za-z0-9_.-]+)(?::(.*?))?\]\]", re.S)

ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error",
    402: "billing_error", 403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    503: "api_error", 504: "api_error", 529: "overloaded_error",
}
ERROR_MESSAGES = {
    401: "invalid x-api-key", 404: "Not found", 429: "Rate limited (mock)",
    500: "Internal server error (mock)", 529: "Overloaded",
}

MODELS = ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5",
          "claude-sonnet-4-5", "claude-opus-4-1"]


class ApiError(Exception):
    def __init__(self, status, message, etype=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.etype = etype or ERROR_TYPES.get(status, "api_error")
        self.headers = headers or {}


def load_script_file(path):
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise SystemExit("script %s: top level must be an object" % path)
    if "scripts" in data:
        scripts = data["scripts"]
        default = data.get("default")
    else:
        scripts = {data.get("name", "file"): data}
        default = data.get("name", "file")
    for name, s in scripts.items():
        if not isinstance(s.get("turns"), list) or not s["turns"]:
            raise SystemExit("script %s: %r needs a non-empty 'turns' list"
                             % (path, name))
    return scripts, default


# --------------------------------------------------------------------------
# Request helpers

def blocks_of(msg):
    c = msg.get("content")
    if isinstance(c, str):
        return [{"type": "text", "text": c}]
    return c if isinstance(c, list) else []


def text_of_tool_result(block):
    c = block.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        parts = []
        for b in c:
            if isinstance(b, dict) and b.get("type") == "text":
                parts.append(b.get("text", ""))
            elif isinstance(b, dict) and b.get("type") == "tool_reference":
                parts.append("tool_reference:%s" % b.get("tool_name"))
        return "\n".join(parts)
    return ""


def user_texts(msg):
    return [b.get("text", "") for b in blocks_of(msg)
            if isinstance(b, dict) and b.get("type") == "text"]


def prompt_text(msg):
    """The user's prompt: text blocks that are not <system-reminder>s."""
    texts = [t for t in user_texts(msg)
             if not t.lstrip().startswith("<system-reminder>")]
    return texts[-1] if texts else ""


def estimate_tokens(obj):
    return max(1, len(json.dumps(obj, separators=(",", ":"))) // 4)


def validate_messages_body(body, need_max_tokens=True, strict=True):
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model: Field required")
    if need_max_tokens:
        mt = body.get("max_tokens")
        if isinstance(mt, bool) or not isinstance(mt, int):
            raise ApiError(400, "max_tokens: Field required")
        if mt < 1:
            raise ApiError(400, "max_tokens: must be greater than or equal to 1")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise ApiError(400, "stream: Input should be a valid boolean")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise ApiError(400, "messages: Field required (non-empty list)")
    sysp = body.get("system")
    if sysp is not None and not isinstance(sysp, (str, list)):
        raise ApiError(400, "system: Input should be a string or a list")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise ApiError(400, "tools: Input should be a valid list")
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise ApiError(400, "tools.%d.name: Field required" % i)
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise ApiError(400, "messages.%d: Input should be an object" % i)
        if m.get("role") not in ("user", "assistant", "system"):
            raise ApiError(400, "messages.%d.role: Input should be 'user' or "
                           "'assistant'" % i)
        c = m.get("content")
        if not isinstance(c, (str, list)):
            raise ApiError(400, "messages.%d.content: Field required" % i)
        if isinstance(c, list):
            for j, b in enumerate(c):
                if not isinstance(b, dict) or not isinstance(b.get("type"), str):
                    raise ApiError(400, "messages.%d.content.%d.type: Field "
                                   "required" % (i, j))
    if not strict:
        return
    # tool_use / tool_result pairing, as the real API enforces it.
    convo = [(i, m) for i, m in enumerate(msgs) if m.get("role") != "system"]
    for k, (i, m) in enumerate(convo):
        if m["role"] != "assistant":
            continue
        ids = [b.get("id") for b in blocks_of(m) if b.get("type") == "tool_use"]
        if not ids:
            continue
        if k + 1 >= len(convo):
            continue  # prefill ending in tool_use: let it pass
        ni, nm = convo[k + 1]
        got = {b.get("tool_use_id") for b in blocks_of(nm)
               if b.get("type") == "tool_result"}
        missing = [x for x in ids if x not in got]
        if nm["role"] != "user" or missing:
            raise ApiError(400, "messages.%d: `tool_use` ids were found without "
                           "`tool_result` blocks immediately after: %s. Each "
                           "`tool_use` block must have a corresponding "
                           "`tool_result` block in the next message."
                           % (i, ", ".join(map(str, missing or ids))))
    for k, (i, m) in enumerate(convo):
        if m["role"] != "user":
            continue
        res = [b for b in blocks_of(m) if b.get("type") == "tool_result"]
        if not res:
            continue
        prev = convo[k - 1][1] if k > 0 else None
        prev_ids = {b.get("id") for b in blocks_of(prev)
                    if b.get("type") == "tool_use"} if prev else set()
        for b in res:
            if b.get("tool_use_id") not in prev_ids:
                raise ApiError(400, "messages.%d.content: unexpected "
                               "`tool_use_id` found in `tool_result` blocks: "
                               "%s. Each `tool_result` block must have a "
                               "corresponding `tool_use` block in the previous "
                               "message." % (i, b.get("tool_use_id")))


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
        self.seq = 0
        self.record_f = open(args.record, "a") if args.record else None

    def next_id(self, prefix):
        with self.lock:
            self.seq += 1
            return "%s_mock%06d%s" % (prefix, self.seq, uuid.uuid4().hex[:12])

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

    # -- planning ---------------------------------------------------------
    def plan(self, body, headers):
        """Decide the answer: returns (script_name, turn_index, turn, ctx)."""
        msgs = body["messages"]
        name, arg, mark_idx = None, None, None
        for i in range(len(msgs) - 1, -1, -1):
            if msgs[i].get("role") != "user":
                continue
            for t in reversed(user_texts(msgs[i])):
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
        start = mark_idx if mark_idx is not None else -1
        turn_no = sum(1 for m in msgs[start + 1:] if m.get("role") == "assistant")
        turns = script["turns"]
        if turn_no < len(turns):
            turn = copy.deepcopy(turns[turn_no])
        elif script.get("repeat_last"):
            turn = copy.deepcopy(turns[-1])
        else:
            turn = copy.deepcopy(script.get("after", EXHAUSTED_TURN))

        # Template context.
        last_user = next((m for m in reversed(msgs) if m.get("role") == "user"),
                         {})
        results = [b for b in blocks_of(last_user)
                   if b.get("type") == "tool_result"]
        prompt_msg = msgs[mark_idx] if mark_idx is not None else next(
            (m for m in reversed(msgs)
             if m.get("role") == "user" and prompt_text(m)), {})
        ctx = {
            "arg": arg or "",
            "prompt": prompt_text(prompt_msg) if prompt_msg else "",
            "tool_result": "\n".join(text_of_tool_result(b) for b in results),
            "tool_result_is_error": "true" if any(b.get("is_error")
                                                  for b in results) else "false",
            "model": body.get("model", ""),
            "headers": json.dumps(headers, sort_keys=True),
            "script": name,
            "turn": str(turn_no),
        }
        if name == "tool" and arg:
            tname, _, tin = arg.partition(":")
            ctx["arg_tool"] = tname
            try:
                ctx["arg_input"] = json.loads(tin) if tin.strip() else {}
            except ValueError:
                raise ApiError(400, "mock: [[mock:tool:NAME:JSON]] bad JSON")
        turn = render(turn, ctx)

        # Conversation identity for error counters: claude sends a
        # per-run session id; otherwise hash the first message.
        conv = headers.get("x-claude-code-session-id") or hashlib.sha256(
            json.dumps(msgs[0], sort_keys=True).encode()).hexdigest()[:16]
        return name, turn_no, turn, conv

    def take_error(self, conv, name, turn_no, turn):
        """Returns the error spec for this attempt, or None."""
        errs = turn.get("errors") or []
        seq = []
        for e in errs:
            seq.extend([e] * int(e.get("count", 1)))
        if not seq:
            return None
        key = (conv, name, turn_no)
        with self.lock:
            n = self.attempts.get(key, 0)
            self.attempts[key] = n + 1
        return seq[n] if n < len(seq) else None


def render(obj, ctx):
    """Substitute {{var}} in every string; a string that is exactly
    "{{var}}" and whose value is not a string is replaced by the value."""
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


def build_content(mock, turn):
    """Content blocks (final form) for a turn."""
    blocks = []
    if turn.get("thinking"):
        blocks.append({"type": "thinking", "thinking": turn["thinking"],
                       "signature": "mock-signature"})
    text = turn.get("text")
    if text is not None and text != "":
        blocks.append({"type": "text", "text": text})
    uses = turn.get("tool_uses") or ([turn["tool_use"]] if turn.get("tool_use")
                                     else [])
    for u in uses:
        blocks.append({"type": "tool_use", "id": u.get("id") or mock.next_id("toolu"),
                       "name": u["name"], "input": u.get("input", {})})
    if not blocks:
        blocks.append({"type": "text", "text": ""})
    return blocks


def split(s, n):
    if n <= 0 or len(s) <= n:
        return [s]
    return [s[i:i + n] for i in range(0, len(s), n)]


# --------------------------------------------------------------------------
# HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "voidbox-mock-anthropic/1"
    mock = None  # set in main

    def log_message(self, fmt, *a):
        if self.mock.args.verbose:
            sys.stderr.write("mock: " + (fmt % a) + "\n")

    # -- plumbing -----------------------------------------------------------
    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", self.req_id)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def send_error_json(self, err):
        self.send_json(err.status, {"type": "error",
                                    "error": {"type": err.etype,
                                              "message": err.message},
                                    "request_id": self.req_id}, err.headers)

    def hdrs(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def check_auth(self, h):
        key = h.get("x-api-key")
        auth = h.get("authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if not key and not bearer:
            raise ApiError(401, "x-api-key header is required")
        want = self.mock.args.api_key
        if want and key != want and bearer != want:
            raise ApiError(401, "invalid x-api-key")

    # -- verbs --------------------------------------------------------------
    def do_HEAD(self):
        self.dispatch()

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        self.req_id = "req_mock_" + uuid.uuid4().hex[:20]
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        h = self.hdrs()
        raw = self.read_body() if self.command in ("POST", "PUT") else b""
        rec = {"ts": time.time(), "method": self.command, "path": url.path,
               "query": url.query, "headers": h}
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
                rec["body_raw"] = raw.decode("utf-8", "replace")
        rec["body"] = body
        try:
            if path == "/api/hello" and self.command in ("HEAD", "GET"):
                rec["status"] = 200
                self.mock.record(rec)
                return self.send_json(200, {"message": "hello"})
            if path == "/mock/reset" and self.command == "POST":
                self.mock.reset()
                return self.send_json(200, {"ok": True})
            if path == "/v1/messages":
                self.need("POST")
                return self.messages(h, raw, body, rec)
            if path == "/v1/messages/count_tokens":
                self.need("POST")
                self.check_auth(h)
                self.need_json(raw, body)
                validate_messages_body(body, need_max_tokens=False,
                                       strict=not self.mock.args.lenient)
                n = estimate_tokens({"s": body.get("system"),
                                     "m": body["messages"],
                                     "t": body.get("tools")})
                rec["status"] = 200
                self.mock.record(rec)
                return self.send_json(200, {"input_tokens": n})
            if path == "/v1/models" or path.startswith("/v1/models/"):
                self.need("GET")
                self.check_auth(h)
                data = [{"type": "model", "id": m, "display_name": m,
                         "created_at": "2025-01-01T00:00:00Z"} for m in MODELS]
                rec["status"] = 200
                self.mock.record(rec)
                if path == "/v1/models":
                    return self.send_json(200, {"data": data, "has_more": False,
                                                "first_id": MODELS[0],
                                                "last_id": MODELS[-1]})
                mid = path[len("/v1/models/"):]
                for d in data:
                    if d["id"] == mid:
                        return self.send_json(200, d)
                raise ApiError(404, "model: %s" % mid)
            raise ApiError(404, "Not found: %s %s" % (self.command, url.path))
        except ApiError as e:
            rec["status"] = e.status
            rec["error"] = e.message
            self.mock.record(rec)
            self.send_error_json(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def need(self, method):
        if self.command != method:
            raise ApiError(404, "Not found: %s %s" % (self.command, self.path))

    def need_json(self, raw, body):
        if not raw:
            raise ApiError(400, "request body is empty (expected JSON)")
        if body is None:
            raise ApiError(400, "request body is not valid JSON")

    # -- /v1/messages -----------------------------------------------------
    def messages(self, h, raw, body, rec):
        self.check_auth(h)
        self.need_json(raw, body)
        validate_messages_body(body, strict=not self.mock.args.lenient)
        if not h.get("anthropic-version") and self.mock.args.require_version:
            raise ApiError(400, "anthropic-version: header is required")
        name, turn_no, turn, conv = self.mock.plan(body, h)
        rec["script"], rec["turn"] = name, turn_no
        err = self.mock.take_error(conv, name, turn_no, turn)
        if err:
            status = int(err.get("status", 500))
            extra = {}
            if "retry_after" in err:
                ra = float(err["retry_after"])
                extra["retry-after"] = ("%d" % ra) if ra == int(ra) else str(ra)
                extra["retry-after-ms"] = str(int(ra * 1000))
            if "should_retry" in err:
                extra["x-should-retry"] = "true" if err["should_retry"] else "false"
            rec["status"] = status
            rec["injected_error"] = True
            self.mock.record(rec)
            raise_err = ApiError(status, err.get("message",
                                                 ERROR_MESSAGES.get(status, "mock error")),
                                 err.get("type"), extra)
            self.send_error_json(raise_err)
            return
        content = build_content(self.mock, turn)
        has_tool = any(b["type"] == "tool_use" for b in content)
        stop = turn.get("stop_reason") or ("tool_use" if has_tool else "end_turn")
        in_tok = estimate_tokens({"s": body.get("system"), "m": body["messages"]})
        out_tok = max(1, sum(len(json.dumps(b)) for b in content) // 4)
        usage = {"input_tokens": in_tok, "output_tokens": out_tok,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        usage.update(self.mock.scripts[name].get("usage", {}))
        usage.update(turn.get("usage", {}))
        msg = {"id": self.mock.next_id("msg"), "type": "message",
               "role": "assistant", "model": body["model"], "content": content,
               "stop_reason": stop, "stop_sequence": None, "usage": usage}
        mode = turn.get("stream_mode") or self.mock.args.stream_mode
        stream = bool(body.get("stream")) and mode != "json"
        rec["status"] = 200
        rec["stream"] = stream
        self.mock.record(rec)
        if turn.get("first_byte_delay"):
            time.sleep(float(turn["first_byte_delay"]))
        if not stream:
            return self.send_json(200, msg)
        self.stream_sse(msg, turn, mode)

    def stream_sse(self, msg, turn, mode):
        args = self.mock.args
        delay = float(turn.get("delay", args.delay))
        chunk = int(turn.get("chunk", 0))
        break_after = turn.get("break_after")
        if mode == "broken" and break_after is None:
            break_after = 1
        usage = msg["usage"]
        events = []
        start = dict(msg, content=[], stop_reason=None, stop_sequence=None,
                     usage=dict(usage, output_tokens=1))
        events.append(("message_start", {"type": "message_start", "message": start}))
        if not args.minimal and not args.no_ping:
            events.append(("ping", {"type": "ping"}))
        for i, b in enumerate(msg["content"]):
            if b["type"] == "text":
                events.append(("content_block_start", {
                    "type": "content_block_start", "index": i,
                    "content_block": {"type": "text", "text": ""}}))
                for piece in split(b["text"], chunk):
                    events.append(("content_block_delta", {
                        "type": "content_block_delta", "index": i,
                        "delta": {"type": "text_delta", "text": piece}}))
            elif b["type"] == "thinking":
                events.append(("content_block_start", {
                    "type": "content_block_start", "index": i,
                    "content_block": {"type": "thinking", "thinking": "",
                                      "signature": ""}}))
                events.append(("content_block_delta", {
                    "type": "content_block_delta", "index": i,
                    "delta": {"type": "thinking_delta", "thinking": b["thinking"]}}))
                events.append(("content_block_delta", {
                    "type": "content_block_delta", "index": i,
                    "delta": {"type": "signature_delta",
                              "signature": b["signature"]}}))
            elif b["type"] == "tool_use":
                events.append(("content_block_start", {
                    "type": "content_block_start", "index": i,
                    "content_block": {"type": "tool_use", "id": b["id"],
                                      "name": b["name"], "input": {}}}))
                js = json.dumps(b["input"])
                for piece in split(js, chunk or max(1, (len(js) + 1) // 2)):
                    events.append(("content_block_delta", {
                        "type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta",
                                  "partial_json": piece}}))
            events.append(("content_block_stop",
                           {"type": "content_block_stop", "index": i}))
        if turn.get("sse_error"):
            e = turn["sse_error"]
            events.append(("error", {"type": "error", "error": {
                "type": e.get("type", "overloaded_error"),
                "message": e.get("message", "Overloaded")}}))
        else:
            events.append(("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"],
                          "stop_sequence": None},
                "usage": usage}))
            events.append(("message_stop", {"type": "message_stop"}))

        wire = [("event: %s\ndata: %s\n\n" % (n, json.dumps(d, separators=(",", ":")))
                 ).encode() for n, d in events]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", self.req_id)
        if args.minimal and not delay and break_after is None:
            data = b"".join(wire)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for k, w in enumerate(wire):
                if break_after is not None and k >= int(break_after):
                    # Drop the connection mid-stream, no terminating chunk.
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if k and delay:
                    time.sleep(delay)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(w), w))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = ephemeral")
    ap.add_argument("--script", help="JSON script file (see README.md)")
    ap.add_argument("--record", help="append every request as a JSON line")
    ap.add_argument("--api-key", help="require this key (x-api-key or Bearer)")
    ap.add_argument("--stream-mode", choices=["sse", "json", "broken"],
                    default="sse", help="json: answer JSON even to stream:true; "
                    "broken: drop SSE streams after message_start")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="seconds between SSE events (default for all turns)")
    ap.add_argument("--minimal", action="store_true",
                    help="smallest SSE: Content-Length body, no ping")
    ap.add_argument("--no-ping", action="store_true")
    ap.add_argument("--lenient", action="store_true",
                    help="skip tool_use/tool_result pairing checks")
    ap.add_argument("--require-version", action="store_true",
                    help="400 when anthropic-version is missing")
    ap.add_argument("--verbose", action="store_true", help="access log on stderr")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    ap.add_argument("--tls-key", help="private key for --tls-cert")
    args = ap.parse_args()

    Handler.mock = Mock(args)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("LISTENING %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
