#!/usr/bin/env bash
# Tiny test guests (tests/guests/) booted by our VMM through the 64-bit
# Linux boot protocol on this machine's /dev/kvm. Each guest checks what it
# was given and prints VBTEST lines; we require DONE with fail=0, a clean
# power-off (exit 0), and the 64-bit entry.
. "$(dirname "$0")/../lib.sh"
G=$BUILD/guests
vm_skip_unless_kvm
set +e  # each check reports its own failure

run_guest() # NAME GUEST [voidbox vm args...] -- expect DONE fail=0
{
	local name=$1 guest=$2; shift 2
	local out rc
	out=$(timeout 60 "$VOIDBOX" vm --kernel "$G/$guest.bzimage" --console --timeout 30 "$@" 2>&1)
	rc=$?
	if [ $rc != 0 ]; then
		echo "FAIL: kvm-guest-$name (voidbox exit $rc)"; echo "$out" | tail -15 | sed 's/^/    /'; return
	fi
	if ! echo "$out" | grep -q "VBTEST DONE $guest pass=[0-9]* fail=0"; then
		echo "FAIL: kvm-guest-$name (no clean DONE line)"; echo "$out" | grep -E 'FAIL|DONE' | head | sed 's/^/    /'; return
	fi
	echo "PASS: kvm-guest-$name"
}

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
head -c 300000 /dev/urandom >"$tmp/initrd"
# zlib's CRC-32 of the file: gzip's trailer holds it (little-endian), and
# gzip, tail and od are also all the nested test host has (no python there).
crc=$(gzip -c "$tmp/initrd" | tail -c 8 | od -An -tx4 -N4 | tr -d ' \n')

run_guest hello hello --no-initramfs --cmdline "console=ttyS0 vbtest.entry=64"
run_guest bootcheck bootcheck --initramfs "$tmp/initrd" --memory 256 \
	--cmdline "console=ttyS0 vbtest.entry=64 vbtest.mem=256 vbtest.initrd_size=300000 vbtest.initrd_crc32=$crc vbtest.cpus=1 vbtest.hv_sig=KVMKVMKVM"
run_guest bootcheck-2cpu-1g bootcheck --no-initramfs --memory 1024 --vcpus 2 \
	--cmdline "console=ttyS0 vbtest.entry=64 vbtest.mem=1024 vbtest.cpus=2"
run_guest bootcheck-4g bootcheck --no-initramfs --memory 4096 \
	--cmdline "console=ttyS0 vbtest.entry=64 vbtest.mem=4096"
run_guest misbehave misbehave --no-initramfs --cmdline "console=ttyS0 vbtest.entry=64"
run_guest virtio_hostile virtio_hostile --no-initramfs --cmdline "console=ttyS0 vbtest.entry=64"
run_guest vsock_echo-listen vsock_echo --no-initramfs --cmdline "console=ttyS0 vbtest.vsock_conns=0 vbtest.vsock_idle_ms=500"

# Negative: wrong expectations must make bootcheck report failures, so the
# checks above are known to be able to fail.
out=$("$VOIDBOX" vm --kernel "$G/bootcheck.bzimage" --no-initramfs --console --timeout 30 \
	--cmdline "console=ttyS0 vbtest.entry=32 vbtest.mem=999" 2>&1)
if echo "$out" | grep -q 'VBTEST DONE bootcheck pass=[0-9]* fail=[1-9]'; then
	echo "PASS: kvm-guest-bootcheck-negative"
else
	echo "FAIL: kvm-guest-bootcheck-negative (wrong expectations not detected)"
fi

# Bad images are refused with a clear message and exit 125, not a crash.
head -c 8192 /dev/zero >"$tmp/zero"
out=$("$VOIDBOX" vm --kernel "$tmp/zero" --no-initramfs 2>&1); rc=$?
if [ $rc = 125 ] && echo "$out" | grep -q "not a bzImage"; then
	echo "PASS: kvm-bad-kernel-refused"
else
	echo "FAIL: kvm-bad-kernel-refused (rc $rc: $out)"
fi
# A hostile ELF kernel: a segment far outside RAM is refused, not loaded.
le() # WIDTH VALUE...: each VALUE as WIDTH little-endian bytes
{
	local w=$1 v i; shift
	for v in "$@"; do
		for ((i = 0; i < w; i++)); do
			printf "\\$(printf %03o $(((v >> (8 * i)) & 255)))"
		done
	done
}
{
	printf '\177ELF\002\001\001\000'; le 1 0 0 0 0 0 0 0 0
	le 2 2 62; le 4 1; le 8 $((0x1000000)) 64 0; le 4 0; le 2 64 56 1 0 0 0
	# one PT_LOAD, R+X, at 0x7fff00000000 (far outside any guest's RAM)
	le 4 1 5; le 8 $((0x1000)) $((0x7fff00000000)) $((0x7fff00000000)) 16 16 $((0x1000))
	head -c 4096 /dev/zero
} >"$tmp/evil.elf"
out=$("$VOIDBOX" vm --kernel "$tmp/evil.elf" --no-initramfs 2>&1); rc=$?
if [ $rc = 125 ] && echo "$out" | grep -q "does not fit"; then
	echo "PASS: kvm-bad-elf-refused"
else
	echo "FAIL: kvm-bad-elf-refused (rc $rc: $out)"
fi
# Too little memory for the initramfs: a clear error, not a crash.
head -c $((40 << 20)) /dev/zero >"$tmp/big"
out=$("$VOIDBOX" vm --kernel "$G/hello.bzimage" --initramfs "$tmp/big" --memory 32 2>&1); rc=$?
if [ $rc = 125 ] && echo "$out" | grep -qi "memory"; then
	echo "PASS: kvm-too-little-memory"
else
	echo "FAIL: kvm-too-little-memory (rc $rc: $out)"
fi
