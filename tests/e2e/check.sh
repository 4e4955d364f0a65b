#!/usr/bin/env bash
# tests/e2e/check.sh: end-to-end agent runs — the real claude-code binary
# in a real guest on our VMM (nested test host) against the project's mock
# Anthropic server, which runs here on the outer host's loopback and which
# L1 reaches as 10.0.2.2. The mock demands the "real" key MOCK_KEY: only
# the gateway (in voidbox, in L1) has it; the guest gets a per-VM token.
# After the batch, the mock's request log is checked from out here.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
out=$B/e2e
# The full single-file build: the tools image rides in the executable's
# trailer, so no case passes --tools-disk.
mkdir -p "$out/payload/voidbox"
rm -rf "$out/payload/tools"
ln -sfn "$(readlink -f "$B/voidbox-full")" "$out/payload/voidbox/voidbox"
rm -rf "$out/payload/e2e" && cp -r "$top/tests/e2e" "$out/payload/e2e"
cp -r "$top/specs" "$out/payload/e2e/specs-top"
cp "$B/e2e/hostile_gw" "$out/payload/e2e/"
cp "$B/testhost-bin/ptydrive" "$out/payload/e2e/"
# The image case: the python test image in a real registry on this host's
# loopback (TLS from a throwaway CA, Basic auth; L1 reaches it as
# registry.test), its CA and credentials in the payload.
"$top/tests/image/pyimage.sh" "$B/e2e/python.tar.gz"
rm -rf "$out/reg" && "$top/tests/image/regserve.sh" "$out/reg" "$B/e2e/python.tar.gz"
reg=$(cat "$out/reg/pid")
mkdir -p "$out/payload/e2e/reg"
cp "$out/reg/ca.pem" "$out/reg/auth.json" "$out/payload/e2e/reg/"
rm -rf "$out/payload/examples" && cp -r "$B/examples" "$out/payload/examples"
key=sk-ant-e2e-$RANDOM$RANDOM$RANDOM
# A throwaway CA and a certificate for mock.test (the TLS mock), plus an
# unrelated CA for the refusal case.
tls=$out/payload/e2e/tls
mkdir -p "$tls"
( cd "$tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=e2e-ca -keyout ca.key -out ca.pem
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=other-ca -keyout other-ca.key -out other-ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=mock.test -keyout srv.key -out srv.csr
  printf 'subjectAltName=DNS:mock.test\n' >srv.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-days 2 -extfile srv.ext -out srv.pem ) >/dev/null 2>&1
rec=$out/requests.jsonl
rm -f "$rec"
python3 "$top/tests/mock-anthropic/server.py" --port 0 --api-key "$key" \
	--record "$rec" --script "$top/tests/e2e/mock-scripts.json" >"$out/mock.out" 2>"$out/mock.err" &
mock=$!
python3 "$top/tests/mock-anthropic/server.py" --port 0 --api-key "$key" \
	--record "$rec" --tls-cert "$tls/srv.pem" --tls-key "$tls/srv.key" \
	>"$out/mock-tls.out" 2>"$out/mock-tls.err" &
mock_tls=$!
# The OTLP receiver (tests/otel/receiver.py) for the bash case's trace.
mkdir -p "$out/otlp" && rm -f "$out"/otlp/*
python3 "$top/tests/otel/receiver.py" "$out/otlp" >"$out/otlp.out" 2>&1 &
recv=$!
trap 'kill $mock $mock_tls $recv $reg 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grep -q LISTENING "$out/mock.out" 2>/dev/null &&
		grep -q LISTENING "$out/mock-tls.out" 2>/dev/null && break
	sleep 0.05
done
port=$(awk '/LISTENING/ { print $2 }' "$out/mock.out")
for _ in $(seq 100); do grep -q LISTENING "$out/otlp.out" 2>/dev/null && break; sleep 0.05; done
otlp_port=$(awk '/LISTENING/ { print $2 }' "$out/otlp.out")
tls_port=$(awk '/LISTENING/ { print $2 }' "$out/mock-tls.out")
[ -n "$port" ] && [ -n "$tls_port" ] ||
	{ echo "FAIL: e2e-mock-start"; cat "$out/mock.err" "$out/mock-tls.err"; exit 1; }
# Per test, 600 s: the slowest case, trading_pipeline, is four claude-code
# stages in a row (30-90 s each under TCG, the most on a loaded host); a
# hang costs 10 minutes, not 30 (the L1 runner prints what every process
# is doing at half of it).
rc=0
"$top/tests/testhost/run.sh" --mem 6144 --smp 2 --timeout 600 \
	--payload "$out/payload/voidbox" --payload "$out/payload/examples" \
	--payload "$out/payload/e2e" --env "MOCK_PORT=$port" --env "MOCK_KEY=$key" \
	--env "MOCK_TLS_PORT=$tls_port" --env "WRONG_KEY=sk-ant-wrong-$RANDOM" \
	--env "OTLP_PORT=$otlp_port" --env "REG_PORT=$(cat "$out/reg/port")" \
	--log "$out/console.log" "${E2E_BATCH:-$top/tests/e2e/agent.batch}" || rc=$?
# From the outside: the real key arrived upstream, and no request body
# (prompts, tool results: everything the guest produced) contains it.
if [ -s "$rec" ]; then
	python3 - "$rec" "$key" <<'PY'
import json, sys
rec, key = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(rec)]
def check(ok, name, why=""):
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else ": " + why))
# Every request but the deliberately wrong one carried the real key,
# which only the gateway had; the guest's token never left the host.
keys = {l["headers"].get("x-api-key", "") for l in lines}
check(key in keys and all(k == key or k.startswith("sk-ant-wrong-") for k in keys),
      "e2e-upstream-got-real-key", "keys seen: %s" % sorted(keys))
check(not any("vbgw-" in k for k in keys), "e2e-token-never-upstream")
# What reached upstream is the gateway's surface and nothing else; for the
# claude-code runs this is also the measurement of what claude-code calls
# (docs/agents.md, "The gateway's surface").
surface = {("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens")}
seen = sorted({(l.get("method"), l.get("path")) for l in lines})
check(lines and set(seen) <= surface, "e2e-upstream-saw-only-the-surface", seen)
cc = [l for l in lines if "claude-cli" in l["headers"].get("user-agent", "")]
check(bool(cc), "e2e-claude-code-requests-seen", "no claude-cli user agent in the log")
bodies = [json.dumps(l.get("body", l.get("body_raw", ""))) for l in lines]
check(not [b for b in bodies if key in b], "e2e-key-never-in-guest-output")
# The bash run's tool result (env, ps, every environ, writable trees) came
# back through the mock: proof it was looked for, and not found.
dumped = [b for b in bodies if "ANTHROPIC_BASE_URL=http://127.0.0.1:4080" in b]
check(bool(dumped), "e2e-guest-environment-inspected", "no tool result with the environment")
check(any("E2E_SKILL_DESC_MARKER" in b for b in bodies), "e2e-skill-description-sent")
check(any("e2e-inline" in b and "E2E_INLINE_MARKER" in b for b in bodies), "e2e-inline-skill-sent")
check(any("MCP:ABC" in b for b in bodies), "e2e-mcp-result-sent")
PY
fi
# The bash case's trace, decoded by protoc on this side: the VM's phases
# and the tool call, under one claude.exec span.
python3 - "$out/otlp" <<'PY'
import glob, json, sys
spans = []
for f in glob.glob(sys.argv[1] + "/*-traces.json"):
    for r in json.load(open(f))["decoded"].get("resource_spans", []):
        for s in r.get("scope_spans", []):
            spans += s.get("spans", [])
one = lambda v: v[0] if isinstance(v, list) and v else v
by = {}
for s in spans:
    by.setdefault(one(s["name"]), []).append(s)
def check(ok, name, why=""):
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else ": " + str(why)))
ex = by.get("claude.exec", [])
tools = by.get("claude.tool.Bash", [])
check(bool(by.get("vm.boot")) and bool(by.get("vm.provision")), "e2e-otel-vm-phases", sorted(by))
check(len(ex) == 1 and len(tools) == 1 and one(tools[0]["parent_span_id"]) == one(ex[0]["span_id"]),
      "e2e-otel-tool-span-under-claude-exec", sorted(by))
check(ex and "gen_ai.usage.input_tokens" in json.dumps(ex[0]) and "out-ok" in json.dumps(tools[0] if tools else {}),
      "e2e-otel-genai-and-tool-attributes")
st = by.get("stage:e2e-bash", [])
evs = [e for s in st for e in s.get("events", [])]
check(any(one(e.get("name")) == "gateway.refused" and "TRACE" in json.dumps(e) for e in evs),
      "e2e-otel-gateway-refused-event", [one(e.get("name")) for e in evs])
PY
exit $rc
