#!/usr/bin/env bash
# tests/otel/test_otel.sh: the OTLP exporter (host/otel/, through
# otel_test) against tests/otel/receiver.py on 127.0.0.1, which decodes
# every body with protoc, independently of our encoder: by schema
# (proto/otlp/) and raw (field numbers only, checked here against the
# upstream numbers). Then the failure modes: collector down, 5xx and 429
# with retries, slow, not accepting, partial success, https with a test
# CA. Prints one PASS/FAIL line per check; only 127.0.0.1 is contacted.
. "$(dirname "$0")/../lib.sh"
TLS_CNF=$(cd "$(dirname "$0")/../http" && pwd)/test-ca.cnf
HERE=$TOP/tests/otel
DRV=${OTEL_TEST:-$BUILD/otel/otel_test}
[ -x "$DRV" ] || fail "$DRV not built (make $DRV)"
for c in python3 protoc openssl; do
	command -v $c >/dev/null || skip "no $c (make bootstrap installs it)"
done

d=$(mktemp -d)
pids=()
cleanup()
{
	{ kill "${pids[@]}"; wait "${pids[@]}"; } 2>/dev/null || true
	rm -rf "$d"
}
trap cleanup EXIT
nfail=0
pass() { echo "PASS: otel $1"; }
bad() { echo "FAIL: otel $1: $2"; nfail=$((nfail + 1)); }

# start NAME RECEIVER-ARGS...: a receiver writing to $d/NAME; sets port_NAME
start()
{
	local n=$1 p=; shift
	: >"$d/$n.out"
	python3 "$HERE/receiver.py" "$d/$n" "$@" >"$d/$n.out" 2>"$d/$n.err" &
	pids+=($!)
	for _ in $(seq 200); do
		p=$(awk '$1 == "LISTENING" { print $2 }' "$d/$n.out")
		[ -n "$p" ] && break
		sleep 0.05
	done
	[ -n "$p" ] || fail "receiver $n did not start: $(cat "$d/$n.err")"
	printf -v "port_$n" %s "$p"
}

# send NAME URL ARGS...: run the driver; its output in $d/NAME.send
send()
{
	local n=$1; shift
	timeout 60 "$DRV" send "$@" >"$d/$n.send" 2>"$d/$n.send.err" ||
		bad "$n" "driver failed: $(cat "$d/$n.send" "$d/$n.send.err")"
}

# val NAME KEY: KEY=value from the driver's output (last_error: the line)
val()
{
	if [ "$2" = last_error ]; then
		sed -n 's/^last_error=//p' "$d/$1.send"
	else
		tr ' ' '\n' <"$d/$1.send" | sed -n "s/^$2=//p" | head -1
	fi
}

# expect NAME 'shell arithmetic over the driver output's keys' [WHY]
expect()
{
	local n=$1 cond=$2 vars=
	for k in emit_ms flush shutdown_ms queued sent dropped failed \
		 requests retries; do
		vars+="$k=$(val "$n" $k); "
	done
	if (eval "$vars (( $cond ))") 2>/dev/null; then
		pass "$n ($vars)"
	else
		bad "$n" "want $cond, got: $vars last_error=$(val "$n" last_error)"
	fi
}

# ---- model, settings, traceparent (no network) ------------------------------
"$DRV" unit >"$d/unit.out" 2>&1
cat "$d/unit.out"
grep -q '^PASS: ' "$d/unit.out" || bad unit "no output: $(cat "$d/unit.out")"
nfail=$((nfail + $(grep -c '^FAIL: ' "$d/unit.out" || true)))

# ---- the span tree, metric points and log records, decoded by protoc -------
start tree
send tree "http://127.0.0.1:$port_tree" --tree --flush 5000 \
	--headers 'authorization=Bearer%20t0k,x-scope-orgid=voidbox'
expect tree 'flush == 0 && queued == 11 && sent == 11 && dropped == 0 &&
	     failed == 0 && requests == 3 && retries == 0'
python3 - "$d/tree" "$d/tree.send" <<'EOF' || nfail=$((nfail + 1))
import glob, json, os, sys

out, send = sys.argv[1], sys.argv[2]
ids = dict(kv.split("=") for kv in open(send).readline().split()[1:])
nfail = 0

def check(name, ok, why=""):
    global nfail
    print("%s: otel %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + why))
    nfail += not ok

def load(sig):
    f = glob.glob(os.path.join(out, "*-%s.json" % sig))
    if len(f) != 1:
        check("decode-" + sig, False, "bodies: %s, errors: %s" % (
            f, glob.glob(os.path.join(out, "*.err"))))
        return None
    return json.load(open(f[0]))

def one(d, *path):
    for k in path:
        d = d[k][0]
    return d

def attrs(m):
    r = {}
    for kv in m.get("attributes", []):
        v = one(kv, "value")
        r[one(kv, "key")] = list(v.values())[0][0] if v else None
    return r

log = [l.split() for l in open(os.path.join(out, "requests.log"))]
check("http-requests",
      sorted(l[1] for l in log) == ["/v1/logs", "/v1/metrics", "/v1/traces"] and
      all(l[2] == "200" and l[3] == "ctype=application/x-protobuf" and
          l[5] == "auth=Bearer_t0k" and l[6] == "org=voidbox" for l in log),
      "requests.log: %s" % log)

t, m, lg = load("traces"), load("metrics"), load("logs")
if not (t and m and lg):
    sys.exit(1)

rs = one(t["decoded"], "resource_spans")
res = attrs(one(rs, "resource"))
check("resource", res.get("service.name") == "voidbox-test" and
      res.get("service.version") == "0.1.0" and "host.name" in res, str(res))
scope = one(rs, "scope_spans", "scope")
check("scope", one(scope, "name") == "voidbox" and one(scope, "version") == "0.1.0",
      str(scope))
spans = {one(s, "name"): s for s in one(rs, "scope_spans")["spans"]}
want = {"pipeline:review": ("pipeline", "00f067aa0ba902b7"),
        "stage:lint": ("stage", ids["pipeline"]),
        "vm.boot": ("boot", ids["stage"]),
        "claude.exec": ("exec", ids["stage"]),
        "claude.tool.Bash": ("tool", ids["exec"])}
check("span-names", sorted(spans) == sorted(want), str(sorted(spans)))
tree_ok = all(n in spans and one(spans[n], "span_id") == ids[k] and
              one(spans[n], "parent_span_id") == parent and
              one(spans[n], "trace_id") == ids["trace"]
              for n, (k, parent) in want.items())
check("span-tree-parent-ids", tree_ok and
      ids["trace"] == "4bf92f3577b34da6a3ce929d0e0e4736",
      "ids %s vs decoded %s" % (ids, {n: (one(s, "span_id"), s.get("parent_span_id"))
                                      for n, s in spans.items()}))
ex = attrs(spans.get("claude.exec", {}))
check("gen_ai-attributes", ex == {"gen_ai.system": "anthropic",
                                  "gen_ai.request.model": "claude-sonnet-4-5",
                                  "gen_ai.usage.input_tokens": 1234,
                                  "gen_ai.usage.output_tokens": 567}, str(ex))
st = attrs(spans.get("stage:lint", {}))
check("double-attribute", st.get("voidbox.stage.cost_usd") == 0.0123, str(st))
tool = spans.get("claude.tool.Bash", {})
ta = attrs(tool)
check("string-bool-attributes-utf8",
      ta == {"voidbox.tool.input": "ls -la \u2713 ?",
             "voidbox.tool.input_truncated": False}, str(ta))
ev = tool.get("events", [{}])[0]
check("span-event", one(ev, "name") == "egress.decision" and
      attrs(ev) == {"voidbox.egress.rule": "api.anthropic.com:443",
                    "voidbox.egress.verdict": "deny"} and
      one(ev, "time_unix_nano") >= one(tool, "start_time_unix_nano"), str(ev))
status = one(tool, "status") if "status" in tool else {}
check("error-status", status.get("code") == ["STATUS_CODE_ERROR"] and
      status.get("message") == ["exit status 2"], str(status))
boot = spans.get("vm.boot", {})
check("boot-events", [one(e, "name") for e in boot.get("events", [])] ==
      ["kernel.entry", "agent.ready"], str(boot.get("events")))
check("times-and-flags", all(
    one(s, "end_time_unix_nano") >= one(s, "start_time_unix_nano") > 0 and
    one(s, "flags") == 1 and one(s, "kind") == "SPAN_KIND_INTERNAL"
    for s in spans.values()), "")
check("no-status-when-unset", "status" not in spans.get("claude.exec", {}), "")

# Raw: upstream field numbers, no schema. ExportTraceServiceRequest.
# resource_spans=1 > ResourceSpans.scope_spans=2 > ScopeSpans.spans=2 >
# Span: trace_id=1 span_id=2 parent_span_id=4 name=5 start=7 end=8
# attributes=9 events=11 status=15 { message=2 code=3 } flags=16.
raw = one(t["raw"], "1", "2")["2"]
by = {one(s, "5"): s for s in raw}
rt = by.get("claude.tool.Bash", {})
# The id fields (1, 2, 4) must be there; their values are checked in the
# named decode (span-tree-parent-ids): protoc --decode_raw guesses bytes
# fields and now and then reads random id bytes as a nested message.
check("raw-trace-field-numbers",
      all(k in rt for k in ("1", "2", "4")) and
      one(rt, "15", "3") == 2 and
      one(rt, "15", "2") == "exit status 2" and one(rt, "16") == 1 and
      one(rt, "8") >= one(rt, "7") > 0 and
      one(rt, "11", "2") == "egress.decision" and
      one(rt, "9", "1") == "voidbox.tool.input", str(rt))
# The pipeline span's parent is the caller's traceparent.
check("raw-remote-parent", one(by.get("pipeline:review", {"4": ["?"]}), "4") ==
      "00f067aa0ba902b7", "")

# Metrics: Metric name=1 unit=3 gauge=5 sum=7 histogram=9.
rm = one(m["decoded"], "resource_metrics", "scope_metrics")["metrics"]
mets = {one(x, "name"): x for x in rm}
check("metric-names", sorted(mets) == ["voidbox.guest.memory.usage",
                                       "voidbox.stage.tokens",
                                       "voidbox.vm.boot.duration"], str(sorted(mets)))
tok = mets.get("voidbox.stage.tokens", {})
pts = one(tok, "sum")["data_points"] if "sum" in tok else []
check("sum-points", one(tok, "unit") == "{token}" and
      one(tok, "sum", "is_monotonic") is True and
      one(tok, "sum", "aggregation_temporality") == "AGGREGATION_TEMPORALITY_CUMULATIVE" and
      sorted((attrs(p)["direction"], one(p, "as_int")) for p in pts) ==
      [("in", 1234), ("out", 567)] and
      all(one(p, "time_unix_nano") >= one(p, "start_time_unix_nano") > 0 for p in pts),
      str(tok))
g = mets.get("voidbox.guest.memory.usage", {})
check("gauge-point", one(g, "unit") == "By" and
      one(g, "gauge", "data_points", "as_double") == 123.5 and
      "start_time_unix_nano" not in one(g, "gauge", "data_points"), str(g))
h = mets.get("voidbox.vm.boot.duration", {})
hp = one(h, "histogram", "data_points") if "histogram" in h else {}
check("histogram-point", one(h, "unit") == "s" and
      hp.get("explicit_bounds") == [0.05, 0.1, 0.25, 0.5, 1] and
      hp.get("bucket_counts") == [0, 1, 1, 1, 0, 1] and
      hp.get("count") == [4] and hp.get("sum") == [2.5] and
      hp.get("min") == [0.08] and hp.get("max") == [2], str(h))
rmr = {one(x, "1"): x for x in one(m["raw"], "1", "2")["2"]}
check("raw-metric-field-numbers",
      "7" in rmr.get("voidbox.stage.tokens", {}) and
      "5" in rmr.get("voidbox.guest.memory.usage", {}) and
      "9" in rmr.get("voidbox.vm.boot.duration", {}) and
      one(rmr["voidbox.vm.boot.duration"], "9", "1", "4") == 4, str(rmr.keys()))

# Logs: LogRecord severity_number=2 body=5 trace_id=9 span_id=10.
recs = one(lg["decoded"], "resource_logs", "scope_logs")["log_records"]
got = sorted((one(r, "body", "string_value"), one(r, "severity_number"),
              one(r, "severity_text"), one(r, "trace_id"), one(r, "span_id"))
             for r in recs)
check("log-records", got == sorted([
    ("[vm:lint] agent ready", "SEVERITY_NUMBER_INFO", "INFO", ids["trace"], ids["boot"]),
    ("[pipeline] stage lint failed", "SEVERITY_NUMBER_ERROR", "ERROR", ids["trace"], ids["tool"])]),
    str(got))
rl = one(lg["raw"], "1", "2")["2"]
# Field 10 (span_id) must be there; its value is checked in the named
# decode above: protoc --decode_raw guesses bytes fields and now and then
# reads 8 random id bytes as a nested message.
check("raw-log-field-numbers", sorted((one(r, "5", "1"), one(r, "2"), "10" in r)
                                      for r in rl) ==
      sorted([("[vm:lint] agent ready", 9, True),
              ("[pipeline] stage lint failed", 17, True)]), str(rl))
sys.exit(1 if nfail else 0)
EOF
tp=$(sed -n 's/^traceparent=//p' "$d/tree.send")
if [[ $tp =~ ^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$ ]]; then
	pass "traceparent-format"
else
	bad traceparent-format "got '$tp'"
fi

# ---- endpoint and headers from the environment ------------------------------
start env
VOIDBOX_OTLP_ENDPOINT=http://127.0.0.1:$port_env/ \
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1 \
OTEL_EXPORTER_OTLP_HEADERS='Authorization=Basic%20eDp5' \
	send env - --spans 2
expect env 'sent == 2 && requests == 1'
if grep -q '^1 /v1/traces 200 .* auth=Basic_eDp5 ' "$d/env/requests.log"; then
	pass env-precedence-and-headers
else
	bad env-precedence-and-headers "$(cat "$d/env/requests.log" 2>&1)"
fi

# ---- retries -------------------------------------------------------------------
start r503 --fail 503:2
send r503 "http://127.0.0.1:$port_r503" --spans 3 --backoff 100
expect r503 'sent == 3 && failed == 0 && requests == 3 && retries == 2'
codes=$(awk '{ printf "%s ", $3 }' "$d/r503/requests.log")
nbody=$(ls "$d"/r503/*-traces.json 2>/dev/null | wc -l)
if [ "$codes" = "503 503 200 " ] && [ "$nbody" = 1 ] &&
   [ "$(grep -c '^    spans {' "$d"/r503/*-traces.txt)" = 3 ]; then
	pass "r503-delivered-once"
else
	bad r503-delivered-once "codes '$codes', $nbody bodies"
fi

start r429 --fail 429:1 --retry-after 1
send r429 "http://127.0.0.1:$port_r429" --spans 1 --backoff 50
expect r429 'sent == 1 && retries == 1 && shutdown_ms >= 900'

start r500 --fail 500:9
send r500 "http://127.0.0.1:$port_r500" --spans 2 --backoff 50
expect r500 'sent == 0 && failed == 2 && requests == 1 && retries == 0'
val r500 last_error | grep -q 'HTTP 500' ||
	bad r500-error "last_error=$(val r500 last_error)"

start partial --partial 2
send partial "http://127.0.0.1:$port_partial" --spans 5
expect partial 'sent == 3 && failed == 2 && requests == 1'
grep -q 'last_error=collector rejected 2 items: over quota' "$d/partial.send" ||
	bad partial-error "$(cat "$d/partial.send")"

# ---- a dead, slow or silent collector never holds the caller -------------------
port_down=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')	# closed again
send down "http://127.0.0.1:$port_down" --spans 5000 --queue 256 \
	--backoff 100 --shutdown 1000
expect down 'sent == 0 && dropped + failed == 5000 && dropped >= 4000 &&
	     emit_ms < 500 && shutdown_ms >= 900 && shutdown_ms < 1400'

# Losses are reported once, at shutdown, and only when there are any.
nwarn=$(grep -c 'otlp: 5000 of 5000 telemetry items not delivered' "$d/down.send.err")
nquiet=$(cat "$d/tree.send.err" "$d/r503.send.err" | wc -l)
if [ "$nwarn" = 1 ] && [ "$(wc -l <"$d/down.send.err")" = 1 ] && [ "$nquiet" = 0 ]; then
	pass "report-once"
else
	bad report-once "down: $(cat "$d/down.send.err"); quiet runs said: $nquiet lines"
fi

start slow --delay 5
send slow "http://127.0.0.1:$port_slow" --spans 3 --shutdown 500
expect slow 'sent == 0 && dropped + failed == 3 && shutdown_ms >= 450 &&
	     shutdown_ms < 700'

start silent --no-accept
send silent "http://127.0.0.1:$port_silent" --spans 3 --shutdown 500
expect silent 'sent == 0 && dropped + failed == 3 && shutdown_ms < 700'

# ---- https with a test CA -----------------------------------------------------
cp "$TLS_CNF" "$d/x.cnf"
ssl() { openssl "$@" 2>>"$d/openssl.log" || fail "openssl $1: $(tail -3 "$d/openssl.log")"; }
EC=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
for ca in ca other; do
	ssl req -x509 -config "$d/x.cnf" -extensions ca_ext "${EC[@]}" \
		-keyout "$d/$ca.key" -out "$d/$ca.pem" -subj "/CN=voidbox otel $ca" -days 2
done
ssl req -new -config "$d/x.cnf" "${EC[@]}" -keyout "$d/leaf.key" \
	-out "$d/leaf.csr" -subj /CN=localhost
ssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
	-set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 \
	-extfile "$d/x.cnf" -extensions leaf_ext -out "$d/leaf.pem"

# BearSSL checks DNS names only, so the URL says localhost (127.0.0.1 in
# /etc/hosts; the receiver listens on 127.0.0.1 only).
start https --tls "$d/leaf.pem" "$d/leaf.key"
send https "https://localhost:$port_https" --tree --ca "$d/ca.pem"
expect https 'sent == 11 && failed == 0 && requests == 3'
n=$(ls "$d"/https/*.json 2>/dev/null | wc -l)
if [ "$n" = 3 ] && [ "$(grep -c '^    spans {' "$d"/https/*-traces.txt)" = 5 ]; then
	pass https-decoded
else
	bad https-decoded "$n decoded bodies: $(ls "$d/https")"
fi
send https-wrong-ca "https://localhost:$port_https" --spans 1 --ca "$d/other.pem"
expect https-wrong-ca 'sent == 0 && failed == 1 && requests == 1 && retries == 0'
val https-wrong-ca last_error | grep -q 'certificate' ||
	bad https-wrong-ca-error "last_error=$(val https-wrong-ca last_error)"

[ $nfail = 0 ]
