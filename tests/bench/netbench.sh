#!/usr/bin/env bash
# tests/bench/netbench.sh: `make bench-netvm`, and a section of `make bench`.
#
# Guest->host networking inside one nested test host (L1 under TCG, real
# kvm-amd): voidbox's virtio-net + libslirp against Debian QEMU's own
# user-mode networking (`-netdev user`, the same libslirp 4.7), on the same
# guest kernel + initramfs. The guest workload needs no agent: a small cpio
# holding /netbench.sh is appended to our initramfs and booted with
# rdinit=/netbench.sh on both engines. The script sends NETBENCH_MB MiB to an
# `nc -l` sink in L1 (bulk throughput) and makes NETBENCH_CRR sequential
# HTTP GETs to busybox httpd in L1 (connect-request-response latency), both
# at 10.0.2.2 (slirp's alias for L1's loopback), timed inside the guest.
# p50 over NETBENCH_RUNS runs per engine, runs alternating. Absolute numbers
# are TCG numbers; the ratios are the point.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
RUNS=${NETBENCH_RUNS:-5}
MB=${NETBENCH_MB:-8}
CRR=${NETBENCH_CRR:-50}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "== guest→host networking, nested test host: voidbox virtio-net+slirp vs QEMU user-net," \
	"same kernel + initramfs, $RUNS runs each"

# PID 1 of the benchmark guest (busybox sh; reads nb.* from the cmdline).
cat >"$tmp/guest.sh" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev	# /dev/zero; the initramfs has only console, null
set -o pipefail
bytes=8388608 crr=50 port=5001 hport=8080
for w in $(cat /proc/cmdline); do
	case $w in
	nb.bytes=*) bytes=${w#*=} ;;
	nb.crr=*) crr=${w#*=} ;;
	nb.port=*) port=${w#*=} ;;
	nb.hport=*) hport=${w#*=} ;;
	esac
done
# us: wall clock in microseconds (busybox date has no %N; /proc/uptime
# counts in 10 ms steps; adjtimex prints time.tv_sec and time.tv_usec).
us() {
	adjtimex | while read -r k v _; do
		case $k in
		time.tv_sec:) s=$v ;;
		time.tv_usec:) echo $((s * 1000000 + v)) ;;
		esac
	done
}
end() {
	echo "NETBENCH end $1"
	reboot -f	# reboot=t: triple fault; both VMMs end on a reset
	echo b >/proc/sysrq-trigger
	exit 1
}
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up &&
	ip route add default via 10.0.2.2 || end "no eth0"
# Warm up (ARP, slirp's first connection) outside the timed parts. (No
# wget -T: it segfaults in this busybox; L1 times the whole run out.)
wget -q -O /dev/null "http://10.0.2.2:$hport/x" || end "http warm-up failed"

echo "NETBENCH mark bulk"	# L1 timestamps the marks: a cross-check
t0=$(us)
# One connection, 64 KiB writes (bash's /dev/tcp; busybox nc writes 1 KiB
# at a time, which measures nc). Both guests get the same TCP settings,
# voidbox's agent's: max-size TSO segments (guest/agent/netup.c) — on
# QEMU's user-net NIC, which offers no TSO, this changes nothing.
echo 44 >/proc/sys/net/ipv4/tcp_min_tso_segs
bash -c "exec 3>/dev/tcp/10.0.2.2/$port && dd if=/dev/zero bs=65536 \
	count=$((bytes / 65536)) 2>/dev/null >&3" || end "bulk transfer failed"
t1=$(us)
[ $((t1 - t0)) -gt 0 ] || t1=$((t0 + 1))
echo "NETBENCH bulk_kbps $((bytes * 8000 / (t1 - t0)))"

echo "NETBENCH mark crr"
t0=$(us)
i=0
while [ $i -lt "$crr" ]; do
	wget -q -O /dev/null "http://10.0.2.2:$hport/x" || end "GET $i failed"
	i=$((i + 1))
done
t1=$(us)
d=$(((t1 - t0) / crr / 10))	# hundredths of ms per connection
echo "NETBENCH crr_ms $((d / 100)).$((d / 10 % 10))$((d % 10))"

# Baseline: the same wget runs against a closed port on the guest's own
# loopback (process start + a refused connect, no VMM on the path).
t0=$(us)
i=0
while [ $i -lt "$crr" ]; do
	wget -q -O /dev/null "http://127.0.0.1:1/x" 2>/dev/null
	i=$((i + 1))
done
t1=$(us)
d=$(((t1 - t0) / crr / 10))
echo "NETBENCH wget_local_ms $((d / 100)).$((d / 10 % 10))$((d % 10))"
end ok
EOF

# The extra archive (newc, uncompressed), appended to the lz4 initramfs:
# zero-padded to 4 bytes, then a zero word, which ends the kernel's lz4
# (legacy format) decoder cleanly; the cpio then starts 4-byte aligned.
mkdir -p "$tmp/voidbox" "$tmp/netbench"
python3 - "$B/initramfs.cpio.lz4" "$tmp/guest.sh" "$tmp/netbench/initrd.img" <<'PY'
import sys
base, script, out = sys.argv[1:]
def entry(name, mode, data, ino):
    n = name.encode() + b"\0"
    h = b"070701" + b"".join(b"%08X" % v for v in
        (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(n), 0))
    pad = lambda b: b + b"\0" * (-len(b) % 4)
    return pad(h + n) + pad(data)
cpio = entry("netbench.sh", 0o100755, open(script, "rb").read(), 1) + \
       entry("TRAILER!!!", 0, b"", 0)
b = open(base, "rb").read()
open(out, "wb").write(b + b"\0" * (-len(b) % 4 + 4) + cpio)
PY
cp "$top/tests/bench/l1-netbench.sh" "$tmp/netbench/"
for f in "$B/voidbox" "$B/kernel/bzImage"; do ln -s "$(readlink -f "$f")" "$tmp/voidbox/"; done
printf 'netbench\tsh /payload/netbench/l1-netbench.sh %s %s %s\n' "$RUNS" \
	$((MB * 1048576)) "$CRR" >"$tmp/net.batch"
"$top/tests/testhost/run.sh" --with-qemu --payload "$tmp/voidbox" --payload "$tmp/netbench" \
	--timeout 3000 --log "$tmp/l1.log" "$tmp/net.batch" >"$tmp/l1.out" 2>"$tmp/l1.err" || {
	cat "$tmp/l1.out"; tail -20 "$tmp/l1.err"; exit 1; }
[ -z "${NETBENCH_LOG:-}" ] || cp "$tmp/l1.log" "$NETBENCH_LOG"
grep -o 'BENCH [a-z0-9_]* [0-9.]*' "$tmp/l1.log" >"$tmp/l1.bench"
python3 - "$tmp/l1.bench" "$MB" "$CRR" <<'PY'
import sys
vals = {}
for l in open(sys.argv[1]):
    _, k, v = l.split()
    vals.setdefault(k, []).append(float(v))
def p50(k):
    v = sorted(vals.get(k, [float('nan')]))
    return v[len(v) // 2]
def span(k, scale):
    v = [x / scale for x in vals.get(k, [float('nan')])]
    return f"{min(v):.2f}-{max(v):.2f}"
mb, crr = sys.argv[2], sys.argv[3]
print(f"  {'metric (p50)':<44} {'voidbox':>8} {'QEMU':>8} {'ratio':>7}  target    "
      f"range voidbox / QEMU")
for name, k, tgt, scale in [
        (f"guest→host TCP bulk, {mb} MiB (Mbit/s)", "bulk_kbps", "≥ 1.00x", 1000),
        (f"TCP connect+GET+close, {crr} in a row (ms each)", "crr_ms", "≤ 1.00x", 1),
        ("  the same bulk on L1's clock (Mbit/s)", "l1_bulk_kbps", "", 1000),
        ("  the same CRR on L1's clock (ms each)", "l1_crr_ms", "", 1),
        ("  guest-only part: wget to a closed local port", "wget_local_ms", "", 1)]:
    v, q = p50("vb_" + k) / scale, p50("qemu_" + k) / scale
    print(f"  {name:<44} {v:>8.2f} {q:>8.2f} {v / q:>6.2f}x  {tgt:<8}  "
          f"{span('vb_' + k, scale)} / {span('qemu_' + k, scale)}")
print(f"  runs: voidbox {len(vals.get('vb_crr_ms', []))}, QEMU {len(vals.get('qemu_crr_ms', []))}"
      " (alternating; timed in the guest, cross-checked on L1's clock)")
PY
