#!/usr/bin/env bash
# tests/bench/snapbench.sh: `make bench-snapshot` (and part of `make
# bench`) — warm starts, in one nested test host (ratios; absolute times
# are TCG times): exec from a snapshot vs a cold boot, 20 restored VMs'
# host memory vs 20 cold ones, and our restore vs QEMU's -incoming of the
# same guest. SNAPBENCH_RUNS (5).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
RUNS=${SNAPBENCH_RUNS:-5}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/voidbox" "$tmp/snapbench"
for f in "$B/voidbox" "$B/kernel/bzImage" "$B/initramfs.cpio.lz4"; do
	ln -s "$(readlink -f "$f")" "$tmp/voidbox/$(basename "$f")"
done
cp "$top/tests/bench/l1-snapbench.sh" "$tmp/snapbench/"
printf 'snap-bench\tsh /payload/snapbench/l1-snapbench.sh %s %s\n' "$RUNS" \
	"${SNAPBENCH_PARTS:-ready,memory,qemu}" >"$tmp/batch"
echo "== nested test host: warm starts (snapshots), $RUNS runs each"
"$top/tests/testhost/run.sh" --with-qemu --mem 4096 --payload "$tmp/voidbox" \
	--payload "$tmp/snapbench" --timeout 3000 --log "$tmp/l1.log" "$tmp/batch" \
	>"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out"; tail -20 "$tmp/err"; exit 1; }
grep -ao 'BENCH [a-z0-9_]* [0-9.]*' "$tmp/l1.log" >"$tmp/bench"
grep -a 'BENCH-FAIL' "$tmp/l1.log" | sed 's/^/  failed: /' || true
python3 - "$tmp/bench" <<'PY'
import sys
v = {}
for l in open(sys.argv[1]):
    _, k, x = l.split(); v.setdefault(k, []).append(float(x))
p50 = lambda k: sorted(v[k])[len(v[k]) // 2] if k in v else float("nan")
print(f"  {'':<44} {'warm':>10} {'cold':>10} {'ratio':>7}")
for name, w, c in [("agent ready, ms (p50)", "snap_warm_ready_ms", "snap_cold_ready_ms"),
                   ("exec true, total ms (p50)", "snap_warm_total_ms", "snap_cold_total_ms")]:
    print(f"  {name:<44} {p50(w):>10.0f} {p50(c):>10.0f} {p50(w) / p50(c):>6.3f}x")
w, c = p50("snap_warm_20_pss_kb") / 1024, p50("snap_cold_20_pss_kb") / 1024
print(f"  {'20 VMs held, VMM PSS sum, MiB':<44} {w:>10.0f} {c:>10.0f} {w / c:>6.3f}x")
idle = p50("snap_idle_memused_kb")
w, c = (p50("snap_warm_20_memused_kb") - idle) / 1024, (p50("snap_cold_20_memused_kb") - idle) / 1024
print(f"  {'20 VMs held, L1 memory used, MiB':<44} {w:>10.0f} {c:>10.0f} {w / c:>6.3f}x")
print(f"  {'':<44} {'voidbox':>10} {'qemu':>10}")
a, b = p50("snap_vb_restore_running_ms"), p50("snap_qemu_restore_running_ms")
print(f"  {'restore -> VM running, ms (p50)':<44} {a:>10.1f} {b:>10.1f} {a / b:>6.3f}x")
print(f"  {'  (voidbox: VMM start -> vCPUs run; qemu: process start -> status running)'}")
a = p50("snap_warm_ready_ms")
print(f"  {'restore -> agent ready (qemu: -> running), ms':<44} {a:>10.1f} {b:>10.1f} {a / b:>6.3f}x")
PY
