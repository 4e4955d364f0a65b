#!/bin/sh
# tests/bench/l1-snapbench.sh RUNS: inside the nested test host — warm
# starts. `exec -- true` from a cold boot vs from a snapshot (restore and
# the clone's RESUME: agent ready means ready for work), RUNS each,
# alternating; then the host memory (PSS, so pages shared by clones count
# once in total) of 20 VMs held at once, restored vs cold; then QEMU's own
# snapshot restore (-incoming from a saved state) of the same guest vs
# ours, both to "VM running". BENCH lines for snapbench.sh.
set -u
. /testhost/lib.sh
VB=/payload/voidbox/voidbox
P=/payload/voidbox
export VOIDBOX_DATA_DIR=$(mktemp -d)
runs=${1:-5}
parts=${2:-ready,memory,qemu}	# which sections run
has() { case ",$parts," in *",$1,"*) return 0 ;; esac; return 1; }
MEM=256
"$VB" snapshot create warm --memory $MEM --no-tools >/dev/null 2>/tmp/e ||
	{ echo "BENCH-FAIL create: $(cat /tmp/e)"; exit 1; }
ms() { # KIND ARGS...: ready and total ms of one exec, from --output json
	kind=$1; shift
	"$VB" --output json exec "$@" -- true 2>/tmp/j >/dev/null ||
		{ echo "BENCH-FAIL $kind: $(grep -v '^{' /tmp/j | tail -3 | tr '\n' ' ')"; return; }
	tr ',{}' '\n\n\n' </tmp/j | awk -F: -v k="$kind" '
		/"ready_ms"/ { printf "BENCH snap_%s_ready_ms %s\n", k, $2 }
		/"total_ms"/ { printf "BENCH snap_%s_total_ms %s\n", k, $2 }'
}
i=0
has ready || i=$runs
while [ $i -lt "$runs" ]; do
	ms cold --memory $MEM --no-tools
	ms warm --snapshot warm
	i=$((i + 1))
done

# 20 VMs held at once: the sum of their VMMs' PSS once all are ready.
pss() {
	t=0
	for p in $(ps -o pid,args | awk '/[_]_vmm/ { print $1 }'); do
		k=$(awk '/^Pss:/ { print $2 }' /proc/$p/smaps_rollup 2>/dev/null)
		t=$((t + ${k:-0}))
	done
	echo $t
}
hold() { # KIND ARGS...
	kind=$1; shift
	rm -f /tmp/up.*
	n=0
	while [ $n -lt 20 ]; do
		"$VB" exec "$@" -- sh -c "echo up >/dev/null; sleep 600" >/dev/null 2>&1 &
		n=$((n + 1))
	done
	# ready when 20 guests run their sleep
	i=0
	while [ $i -lt 600 ]; do
		c=$(ps -o args | grep -c '[_]_vmm')
		[ "$c" -ge 20 ] && break
		sleep 1; i=$((i + 1))
	done
	sleep 20	# boots (cold) and first touches settle
	echo "BENCH snap_${kind}_20_pss_kb $(pss)"
	echo "BENCH snap_${kind}_20_memused_kb $(awk '/^MemTotal/ {t=$2} /^MemAvailable/ {a=$2} END {print t-a}' /proc/meminfo)"
	pkill -f '[_]_vmm' 2>/dev/null
	pkill -f "$VB exec" 2>/dev/null
	wait 2>/dev/null
	sleep 2
}
if has memory; then
	echo "BENCH snap_idle_memused_kb $(awk '/^MemTotal/ {t=$2} /^MemAvailable/ {a=$2} END {print t-a}' /proc/meminfo)"
	hold warm --snapshot warm
	hold cold --memory $MEM --no-tools
fi
has qemu || exit 0

# QEMU: boot the same kernel + initramfs, save its state once the agent is
# up, restore it with -incoming; vs our restore to vCPUs running (the VMM's
# setup time, STARTED) for the same guest.
K=$P/bzImage
I=$P/initramfs.cpio.lz4
Q="qemu-system-x86_64 -L /usr/share/qemu -enable-kvm -cpu host -M microvm,acpi=off -m $MEM -nodefaults -no-user-config -display none -no-reboot"
# The monitor is QEMU's stdin, fed by a pipe (L1 has busybox: no
# unix-socket client, and a fifo would block whoever opens it first).
rm -f /tmp/q.state /tmp/qcon /tmp/qmon1
{
	i=0
	while ! grep -q 'voidbox-agent: ready' /tmp/qcon 2>/dev/null && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
	# Migrated running (an idle guest converges at once): a state saved
	# stopped would restore paused.
	echo 'migrate "exec:cat > /tmp/q.state"'
	i=0
	while ! grep -q 'Migration status: completed' /tmp/qmon1 2>/dev/null && [ $i -lt 300 ]; do
		echo 'info migrate'; sleep 0.2; i=$((i + 1))
	done
	echo quit
} | $Q -monitor stdio -serial file:/tmp/qcon -kernel $K -initrd $I \
	-append "console=ttyS0 reboot=t panic=-1 quiet" >/tmp/qmon1 2>&1
if grep -q 'Migration status: completed' /tmp/qmon1 && [ -s /tmp/q.state ]; then
	echo "BENCH snap_qemu_state_kb $(( $(wc -c </tmp/q.state) / 1024 ))"
	j=0
	while [ $j -lt "$runs" ]; do
		rm -f /tmp/qmon2 /tmp/qrun
		t0=$(awk '{ print int($1 * 1000) }' /proc/uptime)
		{
			k=0
			while ! grep -q 'VM status: running' /tmp/qmon2 2>/dev/null && [ $k -lt 3000 ]; do
				echo 'info status'; sleep 0.01; k=$((k + 1))
			done
			awk '{ print int($1 * 1000) }' /proc/uptime >/tmp/qrun
			echo quit
		} | $Q -monitor stdio -serial null -kernel $K -initrd $I \
			-append "console=ttyS0 reboot=t panic=-1 quiet" \
			-incoming "exec:cat /tmp/q.state" >/tmp/qmon2 2>&1
		echo "BENCH snap_qemu_restore_running_ms $(( $(cat /tmp/qrun) - t0 ))"
		"$VB" --output json exec --snapshot warm -- true 2>/tmp/j >/dev/null
		tr ',{}' '\n\n\n' </tmp/j | awk -F: '/"vmm_setup_ms"/ { printf "BENCH snap_vb_restore_running_ms %s\n", $2 }'
		j=$((j + 1))
	done
else
	echo "BENCH-FAIL qemu: no saved state: $(tail -3 /tmp/qmon1 | tr '\n' ' ')"
fi
