#!/usr/bin/env bash
# tests/bench/stage-bench.sh: agent stage overhead (issue: agent runtime)
# and warm starts with a waiting agent (issue: warm starts).
# Inside one nested test host, a one-request agent spec with the real
# claude-code against the mock Anthropic server on this host's loopback:
# one run that makes the template, then RUNS cold (--cold: boot, start
# claude-code) and RUNS warm (restore a template whose claude-code is
# already waiting, send the prompt), alternating. Per run: wall time
# minus claude-code's own duration_ms, split into boot, provisioning,
# claude-code start + gateway, collect, teardown; the gateway's own time,
# guest memory; and stage start -> the model's first request at the
# gateway, warm vs cold. Absolute times are TCG times inside L1 (not
# hardware); the split and the ratios are what carry over.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
RUNS=${STAGE_RUNS:-5}
tmp=$(mktemp -d); trap 'kill $mock 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/p/voidbox" "$tmp/p/sb"
ln -s "$(readlink -f "$B/voidbox-full")" "$tmp/p/voidbox/voidbox"
python3 "$top/tests/mock-anthropic/server.py" --port 0 --api-key bench-key >"$tmp/mock.out" 2>/dev/null &
mock=$!
for _ in $(seq 100); do grep -q LISTENING "$tmp/mock.out" && break; sleep 0.05; done
port=$(awk '/LISTENING/ { print $2 }' "$tmp/mock.out")
cat >"$tmp/p/sb/hello.yaml" <<EOT
api_version: v1
kind: agent
name: bench
sandbox: {memory_mb: 1024}
llm: {provider: custom, base_url: "http://10.0.2.2:$port", api_key_env: BENCH_KEY}
agent: {prompt: "say hello", timeout_secs: 600}
EOT
cat >"$tmp/batch" <<EOT
stage-bench	/payload/voidbox/voidbox run --file /payload/sb/hello.yaml >/dev/null 2>&1 || exit 1; for i in \$(seq $RUNS); do for m in cold warm; do a=; [ \$m = cold ] && a=--cold; /payload/voidbox/voidbox run --file /payload/sb/hello.yaml --output json \$a > /tmp/r.json 2>/dev/null || exit 1; echo "TESTHOST-METRIC stage_json {\\"mode\\":\\"\$m\\",\\"r\\":\$(tr -d '\\n\\t' < /tmp/r.json)}"; done; done
EOT
"$top/tests/testhost/run.sh" --mem 3072 --timeout 3000 --payload "$tmp/p/voidbox" \
	--payload "$tmp/p/sb" --env BENCH_KEY=bench-key "$tmp/batch" >"$tmp/out" 2>&1 || true
sed -n 's/.*metric stage-bench: stage_json = //p' "$tmp/out" | awk '!seen[$0]++' >"$tmp/results"
python3 - "$tmp/results" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {m: [r["r"]["stages"][0] for r in rows if r["mode"] == m] for m in ("cold", "warm")}
if not by["cold"] or not by["warm"]:
    sys.exit("no results (see the nested host's output)")
def p50(rs, f): return st.median([f(r) for r in rs])
t = lambda k: (lambda r: r["timings_ms"][k])
dur = lambda r: r["claude"]["duration_ms"]
lines = [
    ("wall time of the stage", t("total")),
    ("claude-code's own duration_ms", dur),
    ("overhead (wall - duration_ms)", lambda r: r["timings_ms"]["total"] - dur(r)),
    ("  boot (spawn/restore -> agent ready)", t("boot")),
    ("  provision (skills, input, token)", t("provision")),
    ("  claude start + exit around the run", lambda r: r["timings_ms"]["claude"] - dur(r)),
    ("  collect (output file)", t("collect")),
    ("  teardown (power off, reap)", t("teardown")),
    ("stage start -> first model request", lambda r: r["timings_ms"].get("first_model_request", float("nan"))),
]
print(f"  {len(by['cold'])} cold + {len(by['warm'])} warm runs, p50 (ms, TCG inside L1)")
print(f"    {'':<42} {'cold':>9} {'warm':>9} {'warm/cold':>9}")
for name, f in lines:
    c, w = p50(by["cold"], f), p50(by["warm"], f)
    print(f"    {name:<42} {c:>9.0f} {w:>9.0f} {w / c if c else float('nan'):>8.3f}x")
print(f"    warm runs attached to a waiting claude-code: {sum(1 for r in by['warm'] if r.get('waiting_agent'))}/{len(by['warm'])}")
c = by["cold"]
print(f"    gateway's own time per request (mean)   {p50(c, lambda r: r['gateway'].get('overhead_ms_mean', 0)):10.2f}")
print(f"    provision + gateway + teardown (cold)   {p50(c, lambda r: r['timings_ms']['provision'] + r['timings_ms']['teardown'] + r['gateway'].get('overhead_ms_mean', 0) * r['gateway']['requests']):10.0f}   target <= 150 ms on any engine")
print(f"    guest RAM touched / claude peak RSS (MB, cold) {p50(c, lambda r: r['memory_mb']['guest_touched']):6.0f} / {p50(c, lambda r: r['memory_mb']['claude_peak_rss']):.0f}")
PY
