#!/bin/sh
# tests/bench/l1-bench.sh [RUNS]: boot-time comparison inside the nested test
# host (busybox sh in L1), side by side in one L1 so the ratios mean
# something (absolute times are TCG times, not hardware times).
#
# Both engines boot the same kernel + initramfs to the agent's ready line and
# power off (vb.once); both are timed the same way, from the VMM process
# start to the ready line on the console and to the VMM's exit (th-expect).
# Then voidbox's full path, `voidbox exec -- true` (boot, vsock connect,
# authenticate, exec, exit, power-off), with its own phase breakdown.
# Prints "BENCH key value" lines for tests/bench/run.sh.
. /testhost/lib.sh
P=/payload/voidbox
RUNS=${1:-10}
K=$P/bzImage
I=$P/initramfs.cpio.lz4
CMD="console=ttyS0 reboot=k panic=-1 quiet vb.once"

metric() { # PREFIX CMD...: run under th-expect, print BENCH lines
	pfx=$1; shift
	out=$(th-expect -x -m "$pfx" 'voidbox-agent: ready' "$@" 2>&1) || { echo "$out" | tail -5; return 1; }
	echo "$out" | sed -n "s/^TESTHOST-METRIC ${pfx}_start_to_ready_ms /BENCH ${pfx}_ready_ms /p; s/^TESTHOST-METRIC ${pfx}_total_ms /BENCH ${pfx}_total_ms /p"
	echo "$out" | sed -n 's/.*voidbox-agent: ready (.*uptime \([0-9.]*\) ms).*/BENCH '"$pfx"'_guest_uptime_ms \1/p'
}

i=0
while [ $i -lt "$RUNS" ]; do
	metric qemu qemu-system-x86_64 -L /usr/share/qemu -enable-kvm -cpu host \
		-M microvm,acpi=off -m 256 -nodefaults -no-user-config -serial stdio \
		-display none -no-reboot -kernel $K -initrd $I \
		-append "console=ttyS0 reboot=t panic=-1 quiet vb.once" || exit 1
	metric vb $P/voidbox vm --console --memory 256 --kernel $K --initramfs $I \
		--cmdline "$CMD" || exit 1
	# voidbox's own end-to-end exec round trip, with its phases.
	j=$($P/voidbox --output json exec --memory 256 -- true 2>&1 | grep '^{')
	echo "$j" | sed -n 's/.*"ready_ms":\([0-9.]*\).*/BENCH exec_ready_ms \1/p'
	echo "$j" | sed -n 's/.*"vmm_setup_ms":\([0-9.]*\).*/BENCH exec_vmm_setup_ms \1/p'
	echo "$j" | sed -n 's/.*"exec_ms":\([0-9.]*\).*/BENCH exec_true_ms \1/p'
	echo "$j" | sed -n 's/.*"total_ms":\([0-9.]*\).*/BENCH exec_total_ms \1/p'
	i=$((i + 1))
done
# Exec round trip on a running VM, against spawning the same command
# directly in L1 (the vsock-less baseline).
$P/voidbox __bench exec-rtt 50 | sed 's/^/BENCH /'
