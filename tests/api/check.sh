#!/usr/bin/env bash
# tests/api/check.sh: the public C API in mock mode (no VM, no model):
# test_api (setters, spec errors, accessors, JSON) and the examples
# built against libvoidbox.a — exit 0, stage names in order, and the
# shape of the data each stage handed on. Fast; runs anywhere.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0

if [ -x "$B/api/test_api" ]; then
	"$B/api/test_api" 2>"$T/test_api.err" || fail=1
else
	echo "FAIL: test_api: $B/api/test_api not built"; fail=1
fi

# Run from elsewhere: the examples must find their skills next to
# themselves, not in the working directory.
for e in quick_demo trading_pipeline parallel_pipeline warm_snapshot; do
	(cd "$T" && "$B/examples/$e" --mock --json >"$T/$e.json" 2>"$T/$e.err")
	echo $? >"$T/$e.rc"
done
(cd "$T" && "$B/examples/quick_demo" --mock >"$T/human.out" 2>/dev/null)
echo $? >"$T/human.rc"
(cd "$T" && "$B/examples/trading_pipeline" --mock --json \
	--skills /nonexistent >"$T/noskills.json" 2>/dev/null)
echo $? >"$T/noskills.rc"

python3 - "$T" <<'PY' || fail=1
import json, sys
t = sys.argv[1]
bad = 0
def check(ok, name, why=""):
    global bad
    print(("PASS: " if ok else "FAIL: ") + name + ("" if ok else ": " + str(why)[:400]))
    bad += not ok
def rc(n): return int(open(f"{t}/{n}.rc").read())
def load(n):
    try: return json.load(open(f"{t}/{n}.json"))
    except Exception as e: return {"error": repr(e), "stages": []}
def names(d): return [s["name"] for s in d["stages"]]

q = load("quick_demo")
check(rc("quick_demo") == 0 and q.get("status") == "ok", "quick-demo-exit-0",
      (rc("quick_demo"), q.get("status"), open(f"{t}/quick_demo.err").read()[-300:]))
check(names(q) == ["analyst", "strategist"] and q.get("name") == "quick-demo",
      "quick-demo-stages", names(q))
o = json.loads(q.get("output", "null") or "null") or {}
check(o.get("box") == "strategist" and o.get("input", {}).get("box") == "analyst"
      and o["input"].get("input") == {"company": "ACME Corp", "ticker": "ACME"},
      "quick-demo-piped-output", o)
check(all(s["mock"] is True and s["status"] == "ok" for s in q["stages"]),
      "quick-demo-mock-stages")

tr = load("trading_pipeline")
want = ["data_analyst", "quant_analyst", "research_analyst", "portfolio_strategist"]
skills = ["financial-data-analysis", "quant-technical-analysis", "market-research",
          "portfolio-risk-management"]
check(rc("trading_pipeline") == 0 and tr.get("status") == "ok", "trading-exit-0",
      (rc("trading_pipeline"), open(f"{t}/trading_pipeline.err").read()[-300:]))
check(names(tr) == want, "trading-stage-order", names(tr))
chain, ok = json.loads(tr.get("output", "null") or "null"), True
for box, skill in zip(reversed(want), reversed(skills)):
    ok = ok and isinstance(chain, dict) and chain.get("box") == box \
        and chain.get("skills") == [skill, "claude-code"]
    chain = chain.get("input") if isinstance(chain, dict) else None
check(ok and chain == {"ticker": "ACME", "horizon": "6 months"},
      "trading-chain-and-file-skills", tr.get("output", "")[:300])

pp = load("parallel_pipeline")
check(rc("parallel_pipeline") == 0 and pp.get("status") == "ok", "parallel-exit-0",
      (rc("parallel_pipeline"), open(f"{t}/parallel_pipeline.err").read()[-300:]))
check(names(pp) == ["quant", "sentiment", "risk", "strategist"], "parallel-stage-order",
      names(pp))
o = json.loads(pp.get("output", "null") or "null") or {}
joined = o.get("input")
check(o.get("box") == "strategist" and isinstance(joined, list)
      and [b.get("box") for b in joined] == ["quant", "sentiment", "risk"]
      and all(b.get("input") == {"ticker": "ACME"} for b in joined),
      "parallel-joined-in-declaration-order", o)
check(pp.get("parallel_limit") == 3, "parallel-limit-set", pp.get("parallel_limit"))

w = load("warm_snapshot")
check(rc("warm_snapshot") == 0 and names(w) == ["writer"] and w.get("status") == "ok",
      "warm-snapshot-mock", (rc("warm_snapshot"), open(f"{t}/warm_snapshot.err").read()[-300:]))

h = open(f"{t}/human.out").read()
check(rc("human") == 0 and "stage 1/2 analyst" in h and "stage 2/2 strategist" in h
      and "--- output ---" in h and '"box":"strategist"' in h, "example-human-report", h[:300])

n = load("noskills")
check(rc("noskills") == 2 and n.get("status") == "failed"
      and "/nonexistent" in n.get("error", "")
      and n["stages"][0]["status"] == "config_error", "missing-skill-is-config-error",
      (rc("noskills"), n.get("error")))
sys.exit(1 if bad else 0)
PY
exit $fail
