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
mkdir -p "$out/payload/voidbox" "$out/payload/tools"
ln -sfn "$(readlink -f "$B/voidbox")" "$out/payload/voidbox/voidbox"
ln -sfn "$(readlink -f "$B/tools.erofs")" "$out/payload/tools/tools.erofs"
rm -rf "$out/payload/e2e" && cp -r "$top/tests/e2e" "$out/payload/e2e"
key=sk-ant-e2e-$RANDOM$RANDOM$RANDOM
rec=$out/requests.jsonl
rm -f "$rec"
python3 "$top/tests/mock-anthropic/server.py" --port 0 --api-key "$key" \
	--record "$rec" --script "$top/tests/e2e/mock-scripts.json" >"$out/mock.out" 2>"$out/mock.err" &
mock=$!
trap 'kill $mock 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q LISTENING "$out/mock.out" 2>/dev/null && break; sleep 0.05; done
port=$(awk '/LISTENING/ { print $2 }' "$out/mock.out")
[ -n "$port" ] || { echo "FAIL: e2e-mock-start"; cat "$out/mock.err"; exit 1; }
rc=0
"$top/tests/testhost/run.sh" --mem 3072 --timeout 600 \
	--payload "$out/payload/voidbox" --payload "$out/payload/tools" \
	--payload "$out/payload/e2e" --env "MOCK_PORT=$port" --env "MOCK_KEY=$key" \
	--log "$out/console.log" "${E2E_BATCH:-$top/tests/e2e/agent.batch}" || rc=$?
# From the outside: the real key arrived upstream, and no request body
# (prompts, tool results: everything the guest produced) contains it.
if [ -s "$rec" ]; then
	python3 - "$rec" "$key" <<'PY'
import json, sys
rec, key = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(rec)]
keys = {l["headers"].get("x-api-key") for l in lines}
print(("PASS" if keys == {key} else "FAIL") + ": e2e-upstream-got-real-key (%d requests)" % len(lines))
leak = [l for l in lines if key in json.dumps(l.get("body", l.get("body_raw", "")))]
print(("PASS" if not leak else "FAIL") + ": e2e-key-never-in-guest-output")
PY
fi
exit $rc
