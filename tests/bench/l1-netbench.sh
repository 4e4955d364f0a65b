#!/bin/sh
# shellcheck shell=dash source=/dev/null
# tests/bench/l1-netbench.sh [RUNS [BYTES [CRR]]]: guest->host networking
# inside the nested test host (busybox sh in L1), run by tests/bench/netbench.sh.
#
# Both engines boot the same kernel + initramfs + /netbench.sh (the payload's
# initrd.img) with rdinit=/netbench.sh; the guest sends BYTES to an nc sink on
# L1's loopback and makes CRR sequential HTTP GETs to busybox httpd there,
# both reached as 10.0.2.2 (slirp's host loopback), and prints NETBENCH lines
# before it resets. QEMU: microvm + virtio-net-device on `-netdev user`;
# voidbox: `voidbox vm --allow 10.0.2.2` (virtio-net on libslirp behind the
# policy). Runs alternate between the engines. Prints "BENCH key value"
# lines for netbench.sh.
. /testhost/lib.sh
RUNS=${1:-5}
BYTES=${2:-8388608}
CRR=${3:-50}
P=/payload/voidbox
K=$P/bzImage
I=/payload/netbench/initrd.img
PORT=5001
HPORT=8080
T=${NETBENCH_GUEST_TIMEOUT:-600}	# per guest run, seconds
CMD="console=ttyS0 reboot=t panic=-1 quiet rdinit=/netbench.sh nb.bytes=$BYTES nb.crr=$CRR nb.port=$PORT nb.hport=$HPORT"
cr=$(printf '\r')

mkdir -p /tmp/www
echo ok >/tmp/www/x
httpd -f -p 127.0.0.1:$HPORT -h /tmp/www &
hpid=$!
trap 'kill $hpid 2>/dev/null' EXIT

# one ENGINE CMD...: one guest run against a fresh sink; BENCH lines out.
one()
{
	eng=$1
	shift
	# nc -l ends when the guest closes; its stdin must stay open (at EOF
	# it would close the connection's other half, and the guest's nc quits).
	# The count proves the bytes arrived (the same small cost for both).
	rm -f /tmp/nb.count
	sleep $((T + 60)) | nc -l -p $PORT | wc -c >/tmp/nb.count &
	sleep 1
	# Each console line gets L1's clock (ms since L1 boot) in front.
	timeout "$T" "$@" </dev/null 2>&1 | while IFS= read -r l; do
		echo "$(ms) ${l%"$cr"}"
	done >/tmp/nb.out
	n=$(cat /tmp/nb.count 2>/dev/null)
	if ! grep -q '^[0-9]* NETBENCH end ok' /tmp/nb.out || [ "${n:-0}" != "$BYTES" ]; then
		echo "$eng run failed (sink got ${n:-no} bytes of $BYTES):"
		tail -15 /tmp/nb.out
		return 1
	fi
	# The guest's own timings, and the same spans on L1's clock (from the
	# mark line to the result line; 10 ms resolution).
	awk -v e="$eng" -v bytes="$BYTES" -v crr="$CRR" '
		$2 != "NETBENCH" { next }
		$3 == "mark" { m[$4] = $1 }
		$3 == "bulk_kbps" { print "BENCH " e "_bulk_kbps " $4
			if ($1 > m["bulk"]) print "BENCH " e "_l1_bulk_kbps " int(bytes * 8 / ($1 - m["bulk"])) }
		$3 == "crr_ms" { print "BENCH " e "_crr_ms " $4
			print "BENCH " e "_l1_crr_ms " ($1 - m["crr"]) / crr }
		$3 == "wget_local_ms" { print "BENCH " e "_" $3 " " $4 }' /tmp/nb.out
}

i=0
while [ $i -lt "$RUNS" ]; do
	one qemu qemu-system-x86_64 -L /usr/share/qemu -enable-kvm -cpu host \
		-M microvm,acpi=off -m 256 -nodefaults -no-user-config -serial stdio \
		-display none -no-reboot -kernel $K -initrd $I -append "$CMD" \
		-netdev user,id=n0 -device virtio-net-device,netdev=n0 || exit 1
	one vb $P/voidbox vm --console --memory 256 --kernel $K --initramfs $I \
		--cmdline "$CMD" --allow 10.0.2.2 || exit 1
	i=$((i + 1))
done
