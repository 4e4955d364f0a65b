#!/usr/bin/env bash
# `voidbox vm` runs its guest in a spawned, seccomp-confined VMM child, as
# exec and run do (issue 14 item 10): while a tiny guest idles, the process
# holding the KVM VM fd is a child of the CLI, not the CLI itself, with
# Seccomp: 2 (filter) and NoNewPrivs: 1; the CLI holds no VM fd. And the
# guest still runs to a clean power-off with exit status 0.
. "$(dirname "$0")/../lib.sh"
G=$BUILD/guests
vm_skip_unless_kvm
set +e

tmp=$(mktemp -d)
cli=
cleanup() { [ -n "$cli" ] && kill "$cli" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# The pids that hold an anon_inode:kvm-vm fd, among PID and its children.
kvm_holders() # PID
{
	local p f kids
	kids=$(cat /proc/"$1"/task/*/children 2>/dev/null) ||
		# no CONFIG_PROC_CHILDREN: the parent field of every stat
		kids=$(awk -v p="$1" '$4 == p { split(FILENAME, a, "/"); print a[3] }' \
			/proc/[0-9]*/stat 2>/dev/null)
	for p in "$1" $kids; do
		for f in /proc/"$p"/fd/*; do
			if [ "$(readlink "$f" 2>/dev/null)" = anon_inode:kvm-vm ]; then
				echo "$p"; break
			fi
		done
	done
}

"$VOIDBOX" vm --kernel "$G/vsock_echo.bzimage" --no-initramfs --console \
	--timeout 60 --cmdline "console=ttyS0 vbtest.vsock_conns=0 vbtest.vsock_idle_ms=4000" \
	>"$tmp/out" 2>&1 &
cli=$!
holders=
for _ in $(seq 100); do
	holders=$(kvm_holders "$cli")
	[ -n "$holders" ] && break
	sleep 0.1
done
if [ -z "$holders" ]; then
	echo "FAIL: vm-sandbox-found (no process holds the VM fd)"
elif [ "$holders" = "$cli" ]; then
	echo "FAIL: vm-sandbox-child (the CLI process $cli runs the guest itself: $(grep -E '^(Seccomp|NoNewPrivs):' /proc/"$cli"/status | tr '\n\t' '  '))"
else
	echo "PASS: vm-sandbox-child"
	vmm=${holders%% *}
	st=$(grep -E '^(Seccomp|NoNewPrivs):' /proc/"$vmm"/status | tr -d ' \t' | tr '\n' ' ')
	case $st in
	*Seccomp:2*) case $st in *NoNewPrivs:1*) echo "PASS: vm-sandbox-seccomp" ;;
		     *) echo "FAIL: vm-sandbox-seccomp (VMM $vmm: $st)" ;; esac ;;
	*) echo "FAIL: vm-sandbox-seccomp (VMM $vmm: $st)" ;;
	esac
	if echo " $holders " | grep -q " $cli "; then
		echo "FAIL: vm-sandbox-cli-no-vm (the CLI holds a VM fd too)"
	else
		echo "PASS: vm-sandbox-cli-no-vm"
	fi
fi
wait "$cli"; rc=$?
cli=
if [ $rc = 0 ] && grep -q "VBTEST DONE vsock_echo pass=[0-9]* fail=0" "$tmp/out"; then
	echo "PASS: vm-sandbox-guest-ran"
else
	echo "FAIL: vm-sandbox-guest-ran (rc $rc)"; tail -5 "$tmp/out" | sed 's/^/    /'
fi
