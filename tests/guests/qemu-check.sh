#!/bin/sh
# qemu-check.sh: run the test guests under QEMU (microvm, TCG) to check
# the guests themselves, independently of the voidbox VMM.
#
# QEMU's microvm firmware (qboot) loads a bzImage and enters it through
# the real-mode entry (setup + 0x200), so this exercises head.S's
# real-mode stub and 32-bit entry; the 64-bit entry is voidbox's path.
#
# Usage: tests/guests/qemu-check.sh   (after "make guests"; BUILD=dir
# selects the build directory, default build).  Prints one
# "PASS: guest-qemu-<test>" or "FAIL: guest-qemu-<test>: why" per test
# and exits non-zero if any failed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
guests=$build/guests
qemu=${QEMU:-qemu-system-x86_64}
fails=0

if ! command -v "$qemu" >/dev/null 2>&1; then
	echo "SKIP: guest-qemu: $qemu not installed" \
	     "(apt-get install qemu-system-x86)"
	exit 0
fi

for g in hello bootcheck misbehave pio_bench vsock_echo; do
	if [ ! -f "$guests/$g.bzimage" ]; then
		echo "FAIL: guest-qemu-build: no $guests/$g.bzimage" \
		     "(make guests)"
		exit 1
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# A deterministic initrd and its CRC-32 (gzip's trailer holds the zlib
# CRC-32 of the input, little-endian, which od -tx4 reads on x86).
seq 1 20000 >"$tmp/initrd"
initrd_size=$(wc -c <"$tmp/initrd" | tr -d ' ')
initrd_crc=$(gzip -c "$tmp/initrd" | tail -c 8 | od -An -tx4 -N4 | tr -d ' ')

fail() {
	echo "FAIL: guest-qemu-$1: $2"
	sed 's/^/    | /' "$tmp/out"
	fails=$((fails + 1))
}

# run TEST GUEST WANT_FAIL MACHINE [qemu args...] -- CMDLINE
# WANT_FAIL: exact number of FAIL lines the guest must report.
run() {
	test=$1 guest=$2 want_fail=$3 machine=$4
	shift 4
	args=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		args="$args $1"
		shift
	done
	shift
	img=$guests/$guest.bzimage
	# shellcheck disable=SC2086 # $args is a list of words
	timeout 20 "$qemu" -M "$machine" -accel tcg -m 128 -nodefaults \
		-no-user-config -display none -serial stdio -no-reboot \
		$args -kernel "$img" -append "console=ttyS0 $*" \
		</dev/null >"$tmp/raw" 2>&1
	rc=$?
	tr -d '\r' <"$tmp/raw" >"$tmp/out"
	done_line=$(grep "^VBTEST DONE $guest " "$tmp/out")
	npass=$(grep -c '^VBTEST PASS ' "$tmp/out")
	nfail=$(grep -c '^VBTEST FAIL ' "$tmp/out")
	if [ "$rc" -eq 124 ]; then
		fail "$test" "QEMU still running after 20 s (reset path?)"
	elif [ -z "$done_line" ]; then
		fail "$test" "no DONE line (hang, crash or timeout)"
	elif [ "$done_line" != \
	       "VBTEST DONE $guest pass=$npass fail=$nfail" ]; then
		fail "$test" "DONE line disagrees with $npass PASS/$nfail FAIL"
	elif [ "$nfail" -ne "$want_fail" ]; then
		fail "$test" "$nfail FAIL lines, expected $want_fail"
	elif [ "$npass" -eq 0 ]; then
		fail "$test" "no PASS line"
	else
		echo "PASS: guest-qemu-$test ($npass checks)"
	fi
}

# need TEST LINE: the last run printed LINE (a fixed string)
need() {
	grep -qxF "$2" "$tmp/out" || fail "$1" "missing line: $2"
}

run hello hello 0 microvm -- ""
need hello "VBTEST PASS hello: entered 64-bit"

expect="vbtest.mem=128 vbtest.cpus=2 vbtest.entry=16"
expect="$expect vbtest.initrd_size=$initrd_size"
expect="$expect vbtest.initrd_crc32=$initrd_crc"
run bootcheck bootcheck 0 microvm -smp 2 -initrd "$tmp/initrd" -- \
	"$expect"
grep -q '^VBTEST PASS initrd.crc32:' "$tmp/out" ||
	fail bootcheck "initrd.crc32 was not checked"

# Without ACPI qboot writes an MP table instead of the MADT.
run bootcheck-mptable bootcheck 0 microvm,acpi=off -smp 3 -- \
	"vbtest.mem=128 vbtest.cpus=3"
grep -q '^VBTEST PASS cpus: mptable 3' "$tmp/out" ||
	fail bootcheck-mptable "MP table CPUs not checked"

# The checks must be able to fail: give wrong expectations.
run bootcheck-negative bootcheck 4 microvm -initrd "$tmp/initrd" -- \
	"vbtest.mem=64 vbtest.cpus=5 vbtest.entry=64 vbtest.initrd_crc32=1"
for c in e820.total cpus self.entry initrd.crc32; do
	grep -q "^VBTEST FAIL $c:" "$tmp/out" ||
		fail bootcheck-negative "$c did not fail"
done

run misbehave misbehave 0 microvm -- ""
run pio_bench pio_bench 0 microvm -- "vbtest.mmio_iters=1000"
grep -q '^VBTEST PASS pio_bench: 100000 pio exits' "$tmp/out" ||
	fail pio_bench "no pio_bench result"

# The virtio driver against QEMU's virtio-rng (an independent device
# model): modern virtio-mmio, announced on the cmdline with acpi=off.
# There is no vsock device, so exactly that check fails.
run virtio-rng vsock_echo 1 microvm,acpi=off \
	-global virtio-mmio.force-legacy=false -device virtio-rng-device -- \
	"vbtest.vsock_conns=0 vbtest.vsock_idle_ms=100"
grep -q '^VBTEST PASS rng: 64 bytes' "$tmp/out" ||
	fail virtio-rng "no random bytes from QEMU's virtio-rng"
grep -q '^VBTEST FAIL vsock: no virtio-vsock' "$tmp/out" ||
	fail virtio-rng "the one FAIL is not the missing vsock device"

[ "$fails" -eq 0 ]
