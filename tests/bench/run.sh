#!/usr/bin/env bash
# tests/bench/run.sh: `make bench` — print the benchmark tables.
#
# 1. On this machine's /dev/kvm with the tiny test guests: VMM spawn ->
#    first guest instruction, VM create+destroy rate, PIO exit round trip,
#    VMM memory overhead. (On a nested PVM host these include PVM's costs.)
# 2. Inside one nested test host (L1 under TCG, real kvm-amd): voidbox vs
#    Debian's QEMU microvm booting the same kernel + initramfs to the agent's
#    ready line and power-off, p50/p90 over RUNS runs each, plus voidbox's
#    exec path and exec round trip on a running VM. Ratios are meaningful;
#    absolute times are TCG times, not hardware times.
# 3. In another nested test host: guest->host TCP throughput and
#    connect-request-response latency, voidbox's virtio-net + libslirp vs
#    QEMU's user-mode networking (tests/bench/netbench.sh, make bench-netvm).
# 4. Shared directories: voidbox's virtio-fs vs QEMU's -virtfs (9p), same
#    kernel and workload (tests/bench/fsbench.sh, make bench-fs).
# 5. Images: import and conversion, layer sharing, warm start into a
#    cached image root vs the initramfs guest (imgbench.sh, bench-image).
# 6. Warm starts: exec from a snapshot vs a cold boot, 20 clones' memory vs
#    20 cold VMs, our restore vs QEMU's -incoming (snapbench.sh,
#    bench-snapshot).
# Benchmarks, not tests: they print numbers and fail only if a run fails.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
VB=$B/voidbox
RUNS=${BENCH_RUNS:-10}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

kv() { awk -v k="$1" '$1==k { print $2; exit }' "$2"; }

echo "== tiny guests on this host's /dev/kvm ($(test -d /sys/module/kvm_pvm && echo 'nested PVM' || echo KVM))"
"$VB" __bench spawn 20 >"$tmp/spawn"
# 2 processes per CPU: a create+destroy mostly waits in the host kernel
"$VB" __bench create 50 $((2 * $(nproc))) >"$tmp/create"
"$VB" --output json vm --kernel "$B/guests/pio_bench.bzimage" --no-initramfs \
	--console --cmdline "console=ttyS0 vbtest.pio_count=100000" >"$tmp/pio.json" 2>"$tmp/pio.con"
cyc=$(sed -n 's/.*pio_cycles_per_exit=\([0-9]*\).*/\1/p' "$tmp/pio.con")
python3 - "$tmp" "$cyc" <<'PY'
import json, sys
t, cyc = sys.argv[1], sys.argv[2]
def kv(f):
    return {l.split()[0]: float(l.split()[1]) for l in open(f"{t}/{f}") if len(l.split()) == 2}
s, c = kv("spawn"), kv("create")
p = json.load(open(f"{t}/pio.json"))
rows = [
  ("VMM spawn -> first guest instruction p50", f"{s['spawn_to_first_insn_p50_us']/1000:.2f} ms", "<= 5 ms"),
  ("VMM spawn -> first guest instruction p90", f"{s['spawn_to_first_insn_p90_us']/1000:.2f} ms", ""),
  ("VM create+destroy, one after another", f"{c['create_destroy_per_s']:.1f} /s", ""),
  (f"VM create+destroy, {c['create_parallel_procs']:.0f} processes at once, per core",
   f"{c['create_parallel_per_core_s']:.1f} /s", ">= 50 /s per core"),
  ("  CPU time per create+destroy", f"{c['create_cpu_ms_per_op']:.2f} ms", ""),
  ("PIO exit round trip (guest TSC)", f"{cyc} cycles", ""),
  ("PIO exit round trip (host wall, incl. boot)", f"{p['run_ms']*1000/max(p['exits'],1):.1f} us/exit", ""),
  ("VMM RSS excluding guest pages", f"{s['vmm_overhead_kb']/1024:.2f} MiB", "<= 4 MiB"),
]
for name, val, tgt in rows:
    print(f"  {name:<46} {val:>14}   {tgt}")
PY

echo
echo "== nested test host: voidbox vs QEMU microvm, same kernel + initramfs, $RUNS runs each"
mkdir -p "$tmp/bench" "$tmp/vb"
cp "$top/tests/bench/l1-bench.sh" "$tmp/bench/"
for f in "$VB" "$B/kernel/bzImage" "$B/initramfs.cpio.lz4"; do ln -s "$(readlink -f "$f")" "$tmp/vb/$(basename "$f")"; done
mv "$tmp/vb" "$tmp/voidbox"
printf 'boot-bench\tsh /payload/bench/l1-bench.sh %s\n' "$RUNS" >"$tmp/bench.batch"
"$top/tests/testhost/run.sh" --with-qemu --payload "$tmp/voidbox" --payload "$tmp/bench" \
	--timeout 3000 --log "$tmp/l1.log" "$tmp/bench.batch" >"$tmp/l1.out" 2>"$tmp/l1.err" || {
	cat "$tmp/l1.out"; tail -20 "$tmp/l1.err"; exit 1; }
grep -o 'BENCH [a-z0-9_]* [0-9.]*' "$tmp/l1.log" >"$tmp/l1.bench"
python3 - "$tmp/l1.bench" <<'PY'
import sys, statistics as st
vals = {}
for l in open(sys.argv[1]):
    _, k, v = l.split()
    vals.setdefault(k, []).append(float(v))
def p(k, q):
    v = sorted(vals.get(k, [float('nan')]))
    return v[min(len(v) - 1, int(len(v) * q))]
print(f"  {'metric':<44} {'voidbox p50':>11} {'p90':>9} {'QEMU p50':>10} {'p90':>9} {'ratio p50':>9}")
for name, vk, qk in [("VMM start -> agent ready (ms)", "vb_ready_ms", "qemu_ready_ms"),
                     ("VMM start -> powered off (ms)", "vb_total_ms", "qemu_total_ms"),
                     ("guest uptime at agent ready (ms)", "vb_guest_uptime_ms", "qemu_guest_uptime_ms")]:
    r = p(vk, .5) / p(qk, .5)
    print(f"  {name:<44} {p(vk,.5):>11.0f} {p(vk,.9):>9.0f} {p(qk,.5):>10.0f} {p(qk,.9):>9.0f} {r:>9.2f}x")
print()
print("  voidbox exec -- true, phase breakdown (p50 / p90, ms):")
for name, k in [("VMM setup (spawn -> vCPUs running)", "exec_vmm_setup_ms"),
                ("spawn -> agent ready (vsock knock)", "exec_ready_ms"),
                ("exec of `true` (connect..EXIT)", "exec_true_ms"),
                ("total incl. power-off", "exec_total_ms")]:
    print(f"    {name:<42} {p(k,.5):>9.1f} / {p(k,.9):.1f}")
print()
print(f"  exec round trip on a running VM (p50 / p90): {p('exec_rtt_p50_us',.5)/1000:.2f} / {p('exec_rtt_p90_us',.5)/1000:.2f} ms"
      f"   vs local spawn in L1: {p('local_spawn_p50_us',.5)/1000:.2f} / {p('local_spawn_p90_us',.5)/1000:.2f} ms")
PY

echo
"$top/tests/bench/netbench.sh"

echo
"$top/tests/bench/fsbench.sh"
echo
"$top/tests/bench/imgbench.sh"
echo
"$top/tests/bench/snapbench.sh"
echo
echo "== the daemon (voidbox serve, mock runs: its own costs; servebench.py, bench-serve)"
python3 "$top/tests/bench/servebench.py"

echo
echo "== LLM gateway on this host (mock Anthropic server on loopback), 300 requests each way"
python3 "$top/tests/mock-anthropic/server.py" --port 0 >"$tmp/mock.out" 2>/dev/null &
mockpid=$!
for _ in $(seq 100); do grep -q LISTENING "$tmp/mock.out" && break; sleep 0.05; done
"$VB" __bench gateway "http://127.0.0.1:$(awk '/LISTENING/ { print $2 }' "$tmp/mock.out")" 300 >"$tmp/gw"
kill $mockpid 2>/dev/null || true
python3 - "$tmp/gw" <<'PY'
import sys
k = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if len(l.split()) == 2}
d, v = k["gateway_direct_p50_us"], k["gateway_via_p50_us"]
print(f"  request straight to the mock, p50 / p90     {d/1000:8.2f} / {k['gateway_direct_p90_us']/1000:.2f} ms")
print(f"  same through the gateway, p50 / p90         {v/1000:8.2f} / {k['gateway_via_p90_us']/1000:.2f} ms")
print(f"  gateway adds (p50 difference)               {(v-d)/1000:8.2f} ms   target <= 2 ms")
print(f"  gateway's own time per request (mean)       {k['gateway_own_mean_us']/1000:8.2f} ms")
PY

echo
echo "== agent stage overhead, nested test host, real claude-code vs the mock server (STAGE_RUNS=${STAGE_RUNS:-5})"
"$top/tests/bench/stage-bench.sh"

echo
echo "== pipeline 1 -> 4 fan_out -> 1 (mock stages of ~300 ms; orchestration only), 5 runs"
for i in 1 2 3 4 5; do
	s=$(date +%s%N)
	"$VB" run --file "$top/tests/bench/fanout.yaml" --output json >"$tmp/fo$i.json" 2>/dev/null
	echo "$(( ($(date +%s%N) - s) / 1000 ))" >"$tmp/fo$i.wall"
done
python3 - "$tmp" <<'PY'
import json, sys, statistics as st
t = sys.argv[1]
walls, sums = [], []
for i in range(1, 6):
    d = json.load(open(f"{t}/fo{i}.json"))
    sums.append(sum(s["timings_ms"]["total"] for s in d["stages"]))
    walls.append(int(open(f"{t}/fo{i}.wall").read()) / 1000)
w, s = st.median(walls), st.median(sums)
print(f"  wall time p50 {w:8.0f} ms   sum of stage times p50 {s:8.0f} ms   "
      f"sum/wall {s / w:.2f}x (ideal 6/3 = 2.00x)")
PY
