#!/usr/bin/env bash
# tests/mock-anthropic/test_claude.sh: the real claude-code binary (on this
# host, no VM) against tests/mock-anthropic/server.py.
#
#   CLAUDE_BIN=/path/to/claude tests/mock-anthropic/test_claude.sh
#
# Exits 77 (skip) when $CLAUDE_BIN is unset or not executable. Prints one
# PASS:/FAIL: line per check; exits 1 if any failed. Every claude run is
# bounded by `timeout`, so the script never hangs.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLAUDE_BIN=${CLAUDE_BIN:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}

if [ -z "$CLAUDE_BIN" ] || [ ! -x "$CLAUDE_BIN" ]; then
	echo "skip: claude binary not available (set CLAUDE_BIN to the native" \
	     "claude-code binary, e.g. from npm @anthropic-ai/claude-code-linux-x64-musl)"
	exit 77
fi
if ! "$CLAUDE_BIN" --version >/dev/null 2>&1; then
	echo "skip: $CLAUDE_BIN does not run here (musl loader" \
	     "/lib/ld-musl-x86_64.so.1 missing? apt-get install musl)"
	exit 77
fi

TMP=$(mktemp -d /tmp/voidbox-mock-claude.XXXXXX)
MOCK_PID=
cleanup()
{
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

failures=0
pass() { echo "PASS: claude-$1"; }
fail() { echo "FAIL: claude-$1: $2"; failures=$((failures + 1)); }

# Scripts used below besides the server's built-ins.
cat >"$TMP/script.json" <<'EOF'
{"scripts": {
  "fail500": {"turns": [{"errors": [{"status": 500, "count": 1000}],
                         "text": "never"}]},
  "twotools": {"turns": [
    {"text": "Step one.", "tool_use": {"name": "Bash",
       "input": {"command": "echo step1 > s1.txt && echo one", "description": "s1"}}},
    {"tool_use": {"name": "Bash",
       "input": {"command": "cat s1.txt; echo two", "description": "s2"}}},
    {"text": "ALL_DONE: {{tool_result}}"}]}
}}
EOF

REC=$TMP/requests.jsonl
python3 "$HERE/server.py" --port 0 --script "$TMP/script.json" --record "$REC" \
	>"$TMP/mock.out" 2>"$TMP/mock.err" &
MOCK_PID=$!
for _ in $(seq 100); do
	grep -q '^LISTENING ' "$TMP/mock.out" 2>/dev/null && break
	sleep 0.1
done
PORT=$(awk '/^LISTENING/{print $2}' "$TMP/mock.out")
if [ -z "$PORT" ]; then
	echo "FAIL: claude-mock-start: $(cat "$TMP/mock.err")"
	exit 1
fi

# run NAME [env...] -- claude args...: runs claude in a fresh cwd and HOME
# ($TMP/NAME/{work,home}); stdout/stderr/rc land in $TMP/NAME/.
run()
{
	local name=$1; shift
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	mkdir -p "$TMP/$name/work" "$TMP/$name/home"
	local t0
	t0=$(date +%s%N)
	(cd "$TMP/$name/work" && env -i PATH=/usr/local/bin:/usr/bin:/bin \
		HOME="$TMP/$name/home" \
		ANTHROPIC_BASE_URL="http://127.0.0.1:$PORT" \
		CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		"${envs[@]}" \
		timeout "$RUN_TIMEOUT" "$CLAUDE_BIN" "$@" \
		</dev/null >"$TMP/$name/out" 2>"$TMP/$name/err")
	echo $? >"$TMP/$name/rc"
	if [ -n "${VERBOSE:-}" ]; then
		echo "# $name: $((($(date +%s%N) - t0) / 1000000)) ms"
	fi
}

# check NAME PYTHON-EXPR...: evaluates assertions in python with
#   out   = parsed stdout (list of stream-json lines, or the json object)
#   res   = the result object      rc = claude's exit code
#   reqs  = recorded requests of this run (by the run's session id if known)
#   work  = the run's cwd
check()
{
	local name=$1 code=$2 msg
	if msg=$(python3 - "$TMP" "$name" "$REC" <<EOF 2>&1
import json, os, sys
tmp, name, rec = sys.argv[1:4]
d = os.path.join(tmp, name)
work = os.path.join(d, "work")
rc = int(open(os.path.join(d, "rc")).read())
txt = open(os.path.join(d, "out")).read()
try:
    lines = [json.loads(l) for l in txt.splitlines() if l.strip()]
except ValueError:
    raise SystemExit("stdout is not JSON lines: %r ... stderr: %r"
                     % (txt[:300], open(os.path.join(d, "err")).read()[:300]))
out = lines if len(lines) != 1 else lines[0]
res = next((l for l in reversed(lines) if l.get("type") == "result"), None)
if res is None:
    raise SystemExit("no result event (rc=%d): %r stderr: %r"
                     % (rc, txt[-300:], open(os.path.join(d, "err")).read()[-300:]))
sid = res.get("session_id")
reqs = [r for r in map(json.loads, open(rec))
        if r["headers"].get("x-claude-code-session-id") == sid]
def A(cond, why):
    if not cond:
        raise SystemExit("%s (rc=%d, result=%r)" % (why, rc, res.get("result")))
$code
EOF
	); then
		pass "$name"
	else
		fail "$name" "$(echo "$msg" | tail -3 | tr '\n' ' ')"
	fi
}

# 1. text answer, stream-json
run hello ANTHROPIC_API_KEY=test-key -- -p "say hello" --output-format stream-json --verbose
check hello '
A(rc == 0, "exit code")
A(lines[0].get("type") == "system" and lines[0].get("subtype") == "init", "first line is system/init")
A(res["subtype"] == "success" and res["is_error"] is False, "success")
A(res["result"] == "hello from mock", "result text")
A(res["num_turns"] == 1, "num_turns")
A(any(l.get("type") == "assistant" for l in lines), "assistant line")
A(len(reqs) == 1, "one request, got %d" % len(reqs))
r = reqs[0]
A(r["path"] == "/v1/messages" and r["method"] == "POST", "endpoint")
A(r["headers"].get("x-api-key") == "test-key", "x-api-key arrived")
A(r["body"]["stream"] is True, "stream:true")
A(r["headers"].get("user-agent", "").startswith("claude-cli/"), "user-agent")
A(any(t["name"] == "Bash" for t in r["body"]["tools"]), "Bash in tools")
A(isinstance(r["body"]["system"], list) and r["body"]["system"], "system prompt")
'

# 2. Bash tool round trip: the command runs, the file is written, the
#    final text echoes the tool result.
run bash ANTHROPIC_API_KEY=test-key -- -p "do it [[mock:bash:echo hi > out.txt]]" \
	--allowedTools Bash --output-format stream-json --verbose
check bash '
A(rc == 0, "exit code")
A(res["is_error"] is False, "is_error")
A(res["result"] == "MOCK_DONE: (Bash completed with no output)", "result text")
A(res["num_turns"] == 2, "num_turns")
A(open(os.path.join(work, "out.txt")).read() == "hi\n", "out.txt content")
A(len(reqs) == 2, "two requests, got %d" % len(reqs))
last = reqs[1]["body"]["messages"][-1]
tr = [b for b in last["content"] if b.get("type") == "tool_result"]
A(tr and tr[0]["is_error"] is False, "tool_result sent back")
A(any(l.get("type") == "user" for l in lines), "user tool_result line")
'

# 3. tool output goes back to the model
run bashout ANTHROPIC_API_KEY=test-key -- -p "[[mock:bash:echo out-ok]]" \
	--allowedTools Bash --output-format json
check bashout '
A(rc == 0, "exit code")
A(res["result"] == "MOCK_DONE: out-ok", "result text")
'

# 4. two chained tool calls (three API turns)
run twotools ANTHROPIC_API_KEY=test-key -- -p "[[mock:twotools]]" \
	--allowedTools Bash --output-format json
check twotools '
A(rc == 0, "exit code")
A(res["result"] == "ALL_DONE: step1\ntwo", "result text")
A(res["num_turns"] == 3, "num_turns")
A(len(reqs) == 3, "three requests")
'

# 5. Write tool (any tool via [[mock:tool:NAME:JSON]])
W5=$TMP/write/work
run write ANTHROPIC_API_KEY=test-key -- \
	-p "[[mock:tool:Write:{\"file_path\":\"$W5/w.txt\",\"content\":\"written by mock\\n\"}]]" \
	--allowedTools Write --output-format json
check write '
A(rc == 0, "exit code")
A(res["is_error"] is False, "is_error")
A(open(os.path.join(work, "w.txt")).read() == "written by mock\n", "w.txt content")
A(res["result"].startswith("MOCK_DONE: "), "result text")
'

# 6. usage numbers reach cost accounting
run usage ANTHROPIC_API_KEY=test-key -- -p "[[mock:usage]]" --output-format json
check usage '
A(rc == 0, "exit code")
u = res["usage"]
A((u["input_tokens"], u["output_tokens"], u["cache_creation_input_tokens"],
   u["cache_read_input_tokens"]) == (1000, 500, 200, 300), "usage %r" % u)
A(res["total_cost_usd"] > 0, "total_cost_usd")
'

# 7. 529 twice, then success (claude retries)
run retry529 ANTHROPIC_API_KEY=test-key -- -p "[[mock:overloaded]]" --output-format json
check retry529 '
A(rc == 0, "exit code")
A(res["result"] == "recovered after 529", "result text")
A([r["status"] for r in reqs] == [529, 529, 200], "statuses %r" % [r["status"] for r in reqs])
'

# 8. 429 with retry-after, then success
run retry429 ANTHROPIC_API_KEY=test-key -- -p "[[mock:ratelimit]]" --output-format json
check retry429 '
A(rc == 0, "exit code")
A(res["result"] == "recovered after 429", "result text")
A([r["status"] for r in reqs] == [429, 200], "statuses")
'

# 9. persistent 500: is_error, rc 1 (bounded retries)
run fail500 ANTHROPIC_API_KEY=test-key CLAUDE_CODE_MAX_RETRIES=1 -- \
	-p "[[mock:fail500]]" --output-format json
check fail500 '
A(rc == 1, "exit code should be 1")
A(res["is_error"] is True, "is_error")
A(res.get("api_error_status") == 500, "api_error_status %r" % res.get("api_error_status"))
'

# 10. ANTHROPIC_AUTH_TOKEN -> Authorization: Bearer
run bearer ANTHROPIC_AUTH_TOKEN=tok-bearer -- -p "hi" --output-format json
check bearer '
A(rc == 0, "exit code")
A(reqs and reqs[0]["headers"].get("authorization") == "Bearer tok-bearer", "bearer header")
A("x-api-key" not in reqs[0]["headers"], "no x-api-key")
'

# 11. slow streaming still completes
run slow ANTHROPIC_API_KEY=test-key -- -p "[[mock:slow]]" --output-format json
check slow '
A(rc == 0, "exit code")
A(res["result"] == "slow streaming reply from mock", "result text")
'

[ "$failures" -eq 0 ] || exit 1
