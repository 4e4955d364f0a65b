#!/usr/bin/env bash
# tests/otel/run_trace.sh: a real `voidbox run` of a pipeline (mock mode,
# no VM) exports its trace, metrics and logs to the project's loopback
# receiver, which decodes them with protoc independently of our encoder.
# Checks the span tree (continuing the caller's TRACEPARENT), parent/child
# ids, attributes, metric points, log correlation; and that a collector
# that is down, or answers 500, changes nothing about the run's result.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
VB=${BUILD:-$top/build}/voidbox
T=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$T"' EXIT
# recv DIR [receiver options]: start one, its port in $port. Not called as
# $(recv): in a subshell its pid would never reach pids, and the trap would
# leave the receiver running.
recv() {
	local d=$1; shift; mkdir -p "$d"
	python3 "$top/tests/otel/receiver.py" "$d" "$@" >"$d.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do grep -q LISTENING "$d.out" 2>/dev/null && break; sleep 0.05; done
	port=$(awk '/LISTENING/ { print $2 }' "$d.out")
}
spec=$top/tests/pipeline/specs/fail.yaml
tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
recv "$T/ok"; p1=$port
TRACEPARENT=$tp VOIDBOX_OTLP_ENDPOINT=http://127.0.0.1:$p1 "$VB" run --file "$spec" --output json >"$T/ok.json" 2>"$T/ok.err"; rc_ok=$?
# A closed port: nothing listens there.
p2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
t0=$(date +%s%N)
VOIDBOX_OTLP_ENDPOINT=http://127.0.0.1:$p2 "$VB" run --file "$spec" --output json >"$T/down.json" 2>"$T/down.err"; rc_down=$?
t1=$(date +%s%N)
recv "$T/e500" --fail 500:100; p3=$port
VOIDBOX_OTLP_ENDPOINT=http://127.0.0.1:$p3 "$VB" run --file "$spec" --output json >"$T/e500.json" 2>"$T/e500.err"; rc_500=$?
"$VB" run --file "$spec" --output json >"$T/none.json" 2>/dev/null; rc_none=$?
python3 - "$T" "$rc_ok" "$rc_down" "$rc_500" "$rc_none" "$(( (t1 - t0) / 1000000 ))" <<'PY'
import glob, json, sys
t, rc_ok, rc_down, rc_500, rc_none, down_ms = sys.argv[1], *map(int, sys.argv[2:])
def check(ok, name, why=""):
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else ": " + str(why)))
def items(sig, path):
    out = []
    for f in sorted(glob.glob(f"{t}/ok/*-{sig}.json")):
        d = json.load(open(f))["decoded"]
        for r in d.get(path[0], []):
            for s in r.get(path[1], []):
                out += s.get(path[2], [])
    return out
one = lambda v: v[0] if isinstance(v, list) and v else v
def attrs(x):
    return {one(a["key"]): one(one(list(one(a["value"]).values()))) for a in x.get("attributes", [])}
spans = items("traces", ("resource_spans", "scope_spans", "spans"))
by = {one(s["name"]): s for s in spans}
trace = "4bf92f3577b34da6a3ce929d0e0e4736"
check(rc_ok == 1 and rc_down == 1 and rc_500 == 1 and rc_none == 1, "otel-run-result-unchanged",
      (rc_ok, rc_down, rc_500, rc_none))
check(down_ms < 15000, "otel-dead-collector-bounded", f"{down_ms} ms")
check(all(one(s["trace_id"]) == trace for s in spans) and spans, "otel-one-trace-from-traceparent",
      {one(s["trace_id"]) for s in spans})
p = by.get("pipeline:fail", {})
check(one(p.get("parent_span_id", [""])) == "00f067aa0ba902b7", "otel-pipeline-child-of-caller", p.get("parent_span_id"))
check(p.get("status") and "broken" in json.dumps(p["status"]), "otel-pipeline-error-status", p.get("status"))
stages = [s for s in spans if one(s["name"]).startswith("stage:")]
names = sorted(one(s["name"]) for s in stages)
check(names == ["stage:a", "stage:broken", "stage:sibling"], "otel-stage-spans-ran-only", names)
check(all(one(s["parent_span_id"]) == one(p["span_id"]) for s in stages), "otel-stages-under-pipeline")
execs = [s for s in spans if one(s["name"]) == "claude.exec"]
sid = {one(s["span_id"]) for s in stages}
check(len(execs) == 3 and all(one(e["parent_span_id"]) in sid for e in execs), "otel-exec-under-stage")
b = by.get("stage:broken", {})
check("mock-agent:fail" in json.dumps(b.get("status", "")), "otel-stage-error-message", b.get("status"))
check(attrs(by["stage:a"]).get("voidbox.mock") is True and attrs(execs[0]).get("gen_ai.operation.name") == "invoke_agent",
      "otel-attributes", attrs(by["stage:a"]))
mets = items("metrics", ("resource_metrics", "scope_metrics", "metrics"))
mnames = {one(m["name"]) for m in mets}
check("voidbox.stage.duration" in mnames, "otel-stage-duration-metric", mnames)
pts = [dp for m in mets if one(m["name"]) == "voidbox.stage.duration" for dp in one(m["sum"])["data_points"]]
check(len(pts) == 3, "otel-metric-point-per-stage", len(pts))
logs = items("logs", ("resource_logs", "scope_logs", "log_records"))
check(len(logs) == 3 and all(one(l["span_id"]) in sid and one(l["trace_id"]) == trace for l in logs),
      "otel-logs-correlated", [(one(l.get("span_id", [""]))) for l in logs])
check(any("[vm:broken] failed" in json.dumps(l) for l in logs), "otel-log-body")
PY
