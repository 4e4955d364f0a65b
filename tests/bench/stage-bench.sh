#!/usr/bin/env bash
# tests/bench/stage-bench.sh: agent stage overhead (issue: agent runtime).
# Inside one nested test host, RUNS runs of a one-request agent spec with
# the real claude-code against the mock Anthropic server on this host's
# loopback; per run: wall time minus claude-code's own duration_ms, split
# into boot, provisioning, claude-code start + gateway, collect, teardown;
# plus the gateway's own time and guest memory. Absolute times are TCG
# times inside L1 (not hardware); the split shows where time goes.
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
stage-bench	for i in \$(seq $RUNS); do /payload/voidbox/voidbox run --file /payload/sb/hello.yaml --output json > /tmp/r\$i.json 2>/dev/null || exit 1; echo "TESTHOST-METRIC stage_json \$(tr -d '\\n\\t' < /tmp/r\$i.json)"; done
EOT
"$top/tests/testhost/run.sh" --mem 3072 --timeout 3000 --payload "$tmp/p/voidbox" \
	--payload "$tmp/p/sb" --env BENCH_KEY=bench-key "$tmp/batch" >"$tmp/out" 2>&1 || true
sed -n 's/.*metric stage-bench: stage_json = //p' "$tmp/out" | awk '!seen[$0]++' >"$tmp/results"
python3 - "$tmp/results" <<'PY'
import json, sys, statistics as st
rs = [json.loads(l)["stages"][0] for l in open(sys.argv[1]) if l.strip()]
if not rs:
    sys.exit("no results (see the nested host's output)")
def p50(f): return st.median([f(r) for r in rs])
t = lambda k: (lambda r: r["timings_ms"][k])
dur = lambda r: r["claude"]["duration_ms"]
print(f"  {len(rs)} runs, p50 (ms, TCG inside L1)")
print(f"    wall time of the stage                  {p50(t('total')):10.0f}")
print(f"    claude-code's own duration_ms           {p50(dur):10.0f}")
print(f"    overhead (wall - duration_ms)           {p50(lambda r: r['timings_ms']['total'] - dur(r)):10.0f}")
print(f"      boot (spawn -> agent ready)           {p50(t('boot')):10.0f}")
print(f"      provision (skills, input, checks)     {p50(t('provision')):10.0f}")
print(f"      claude start + exit around the run    {p50(lambda r: r['timings_ms']['claude'] - dur(r)):10.0f}")
print(f"      collect (output file)                 {p50(t('collect')):10.0f}")
print(f"      teardown (power off, reap)            {p50(t('teardown')):10.0f}")
print(f"    gateway's own time per request (mean)   {p50(lambda r: r['gateway'].get('overhead_ms_mean', 0)):10.2f}")
print(f"    provision + gateway + teardown          {p50(lambda r: r['timings_ms']['provision'] + r['timings_ms']['teardown'] + r['gateway'].get('overhead_ms_mean', 0) * r['gateway']['requests']):10.0f}   target <= 150 ms on any engine")
print(f"    guest RAM touched / claude peak RSS (MB) {p50(lambda r: r['memory_mb']['guest_touched']):6.0f} / {p50(lambda r: r['memory_mb']['claude_peak_rss']):.0f}")
PY
