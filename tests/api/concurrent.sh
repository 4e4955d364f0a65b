#!/usr/bin/env bash
# tests/api/concurrent.sh: two vb_run calls at once in one process
# (test_concurrent: two threads, two pipelines, mock mode), each run
# exporting to its own OTLP collector (two tests/otel/receiver.py). The
# results must be those of the runs made alone, and each collector must
# hold its own run's telemetry and nothing of the other's.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
T=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$T"' EXIT
# recv DIR: start one, its port in $port. Not called as $(recv): in a
# subshell its pid would never reach pids, and the trap would leave the
# receiver running (it did, one pair per run).
recv() {
	local d=$1; mkdir -p "$d"
	python3 "$top/tests/otel/receiver.py" "$d" >"$d.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do grep -q LISTENING "$d.out" 2>/dev/null && break; sleep 0.05; done
	port=$(awk '/LISTENING/ { print $2 }' "$d.out")
}
if [ ! -x "$B/api/test_concurrent" ]; then
	echo "FAIL: test_concurrent: $B/api/test_concurrent not built"; exit 1
fi
recv "$T/alpha"; pa=$port; recv "$T/beta"; pb=$port
"$B/api/test_concurrent" "http://127.0.0.1:$pa" "http://127.0.0.1:$pb" \
	2>"$T/err"
rc=$?
[ $rc -eq 0 ] || tail -5 "$T/err"

python3 - "$T" <<'PY' || rc=1
import glob, json, sys
t = sys.argv[1]
bad = 0
def check(ok, name, why=""):
    global bad
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else ": " + str(why)[:400]))
    bad += not ok
one = lambda v: v[0] if isinstance(v, list) and v else v
def items(d, sig, path):
    out = []
    for f in sorted(glob.glob(f"{t}/{d}/*-{sig}.json")):
        for r in json.load(open(f))["decoded"].get(path[0], []):
            for s in r.get(path[1], []):
                out += s.get(path[2], [])
    return out
def services(d):
    out = set()
    for f in glob.glob(f"{t}/{d}/*.json"):
        for key in ("resource_spans", "resource_metrics", "resource_logs"):
            for r in json.load(open(f))["decoded"].get(key, []):
                for a in one(r.get("resource", [{}])).get("attributes", []):
                    if one(a["key"]) == "service.name":
                        out.add(one(one(list(one(a["value"]).values()))))
    return out
want = {"alpha": (["pipeline:alpha", "stage:a1", "stage:a2", "stage:a3", "stage:a4"], 4),
        "beta": (["pipeline:beta", "stage:b0", "stage:b1", "stage:b2"], 3)}
for d, (names, nstages) in want.items():
    spans = items(d, "traces", ("resource_spans", "scope_spans", "spans"))
    got = sorted(one(s["name"]) for s in spans if one(s["name"]).split(":")[0] in ("pipeline", "stage"))
    check(got == names, f"{d}-own-spans-only", got)
    check(len({one(s["trace_id"]) for s in spans}) == 1, f"{d}-one-trace",
          {one(s["trace_id"]) for s in spans})
    check(services(d) == {"svc-" + d}, f"{d}-own-service-name", services(d))
    logs = items(d, "logs", ("resource_logs", "scope_logs", "log_records"))
    bodies = sorted(json.dumps(one(l.get("body"))) for l in logs)
    check(len(logs) == nstages and all(f"[vm:{d[0]}" in b for b in bodies),
          f"{d}-own-logs", bodies)
ta = {one(s["trace_id"]) for s in items("alpha", "traces", ("resource_spans", "scope_spans", "spans"))}
tb = {one(s["trace_id"]) for s in items("beta", "traces", ("resource_spans", "scope_spans", "spans"))}
check(ta and tb and not (ta & tb), "distinct-traces", (ta, tb))
sys.exit(1 if bad else 0)
PY
exit $rc
