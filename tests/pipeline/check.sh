#!/usr/bin/env bash
# tests/pipeline/check.sh: pipeline semantics in mock mode (no VM): data
# flow, declaration-order joins, failure propagation, timeouts, the
# parallel bound, the JSON report and exit codes, the credentials
# pre-flight. Fast; runs anywhere.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
VB=${BUILD:-$top/build}/voidbox
S=$top/tests/pipeline/specs
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
run() { # NAME SPEC [args]: JSON on $T/NAME.json, stderr $T/NAME.err, rc $T/NAME.rc
	local n=$1 f=$2; shift 2
	"$VB" run --file "$S/$f" --output json "$@" >"$T/$n.json" 2>"$T/$n.err"
	echo $? >"$T/$n.rc"
}
run order order.yaml --input '{"seed": 7}'
run fail fail.yaml
run timeout timeout.yaml
run wide2 wide.yaml --parallel 2
run wide6 wide.yaml --parallel 6
run agent agent.yaml --input plain-text
"$VB" run --file "$S/agent.yaml" --input hi >"$T/human.out" 2>"$T/human.err"; echo $? >"$T/human.rc"
"$VB" run --file "$S/nope.yaml" >/dev/null 2>"$T/missing.err"; echo $? >"$T/missing.rc"
printf 'api_version: v1\nkind: pipeline\nname: x\npipeline: {boxes: [{name: a}], stages: [{type: box, name: zz}]}\n' >"$T/bad.yaml"
"$VB" run --file "$T/bad.yaml" >/dev/null 2>"$T/bad.err"; echo $? >"$T/bad.rc"
"$VB" --log-format json run --file "$S/fail.yaml" >/dev/null 2>"$T/jsonlog.err"
# The pre-flight: box three's key unset; then the same boxes in mock mode,
# which need no key at all.
export VB_PREFLIGHT_KEY=sk-ant-preflight-test
unset VB_PREFLIGHT_UNSET
run keys keys.yaml
sed 's/mode: local/mode: mock/' "$S/keys.yaml" >"$T/keys-mock.yaml"
"$VB" run --file "$T/keys-mock.yaml" --output json >"$T/keysmock.json" 2>"$T/keysmock.err"
echo $? >"$T/keysmock.rc"
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
def load(n): return json.load(open(f"{t}/{n}.json"))
def rc(n): return int(open(f"{t}/{n}.rc").read())
def check(ok, name, why=""):
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else ": " + str(why)))
def st(doc): return {s["name"]: s for s in doc["stages"]}

o = load("order"); out = json.loads(o["output"]); join_in = out["input"]
check(rc("order") == 0 and o["status"] == "ok", "pipeline-ok-exit-0", (rc("order"), o["status"]))
check([b["box"] for b in join_in] == ["slow", "fast", "mid"], "fanout-declaration-order",
      [b.get("box") for b in join_in])
check(all(b["input"]["box"] == "first" and b["input"]["input"] == {"seed": 7} for b in join_in),
      "pipe-hands-output-as-input")
check(out["box"] == "join" and o["name"] == "order", "last-stage-output-is-result")

f = load("fail"); s = st(f)
check(rc("fail") == 1 and f["status"] == "failed" and f["failed_stage"] == "broken",
      "failed-stage-named-exit-1", (rc("fail"), f.get("failed_stage")))
check(s["sibling"]["status"] == "ok" and "output" in s["sibling"], "running-sibling-finishes")
check(s["after"]["status"] == "skipped", "dependent-stage-skipped", s["after"])
check("mock-agent:fail" in s["broken"]["error"], "failure-message-kept", s["broken"])

tm = load("timeout"); s = st(tm)
check(rc("timeout") == 124 and s["sleepy"]["status"] == "timeout", "timeout-exit-124",
      (rc("timeout"), s["sleepy"]["status"]))
check(s["sleepy"]["timings_ms"]["total"] < 3000, "timeout-enforced", s["sleepy"]["timings_ms"])
check(s["after"]["status"] == "skipped", "timeout-skips-dependants")

w2, w6 = load("wide2"), load("wide6")
check(w2["peak_parallel"] == 2, "parallel-bound-2", w2["peak_parallel"])
check(w6["peak_parallel"] == 6, "parallel-6-all-at-once", w6["peak_parallel"])
check([x["box"] for x in json.loads(w2["output"])] == ["b1", "b2", "b3", "b4", "b5", "b6"],
      "bounded-fanout-keeps-order")

a = load("agent"); s = st(a)["solo"]
check(rc("agent") == 0 and s["mock"] is True and json.loads(s["output"])["input"] == "plain-text",
      "agent-mock-json", s)
check(json.loads(s["output"])["skills"] == ["claude-code", "note"], "agent-mock-skills")
err = open(f"{t}/agent.err").read()
check("mock mode" in err, "mock-mode-announced", err)
human = open(f"{t}/human.out").read()
check(rc("human") == 0 and '"box":"solo"' in human, "human-output-on-stdout", human[:200])
check(rc("missing") == 2, "missing-spec-exit-2", rc("missing"))
lines = open(f"{t}/jsonlog.err").read().splitlines()
try:
    objs = [json.loads(l) for l in lines]
    ok = objs and all({"ts", "level", "source", "msg"} <= set(o) for o in objs) and \
        any(o["source"] == "vm:broken" and o["msg"].startswith("failed:") for o in objs)
except ValueError as e:
    ok, objs = False, str(e)
check(ok, "log-format-json-every-line", lines[:3])
check(rc("bad") == 2 and "zz" in open(f"{t}/bad.err").read(), "bad-reference-exit-2",
      open(f"{t}/bad.err").read())

k = load("keys"); s = st(k); kerr = open(f"{t}/keys.err").read()
check(rc("keys") == 2 and k["failed_stage"] == "third" and s["third"]["status"] == "config_error",
      "preflight-missing-key-exit-2-names-box", (rc("keys"), k.get("failed_stage"), s["third"]))
check("VB_PREFLIGHT_UNSET is not set" in s["third"]["error"] and
      k.get("error", "").startswith("third: "), "preflight-message-names-key-and-box", k.get("error"))
check(s["first"]["status"] == "skipped" and s["second"]["status"] == "skipped" and
      k["peak_parallel"] == 0, "preflight-nothing-started", (s["first"], s["second"], k["peak_parallel"]))
check("vm_error" not in kerr and "mock mode" not in kerr and
      "[vm:first] skipped: the pipeline has a configuration error" in kerr,
      "preflight-no-stage-output", kerr)
km = load("keysmock")
check(rc("keysmock") == 0 and all(x["status"] == "ok" for x in km["stages"]),
      "preflight-mock-boxes-need-no-key", (rc("keysmock"), km["stages"]))
PY
