#!/bin/sh
# tests/bench/l1-fsbench.sh [RUNS]: shared directories inside the nested
# test host, voidbox's virtio-fs (host/fs/) vs QEMU's -virtfs (9p, QEMU's
# default cache mode), same kernel, same initramfs plus the benchmark's
# init (fs-guest-init), same workload on a fresh copy of the same tree
# in L1's tmpfs; the tools image as /dev/vda for git. Prints "BENCH key
# value" lines.
P=/payload/voidbox
RUNS=${1:-3}
K=$P/bzImage
I=/tmp/fsbench-initrd
cat $P/initramfs.cpio.lz4 /payload/fsbench/init.cpio >$I
# The tree: FILES (default 5,000) files of 1-4 KiB, 100 per directory,
# as a tarball.
mkdir -p /tmp/src
d=0
while [ $d -lt $((${FSBENCH_FILES:-5000} / 100)) ]; do
	mkdir -p /tmp/src/d$d
	f=0
	while [ $f -lt 100 ]; do
		head -c $((1024 + (f * 37 % 3072))) /dev/urandom >/tmp/src/d$d/f$f
		f=$((f + 1))
	done
	d=$((d + 1))
done
tar cf /tmp/tree.tar -C /tmp/src .
rm -rf /tmp/src
run() { # ENGINE: one run, BENCH lines out
	rm -rf /tmp/share && mkdir /tmp/share && cp /tmp/tree.tar /tmp/share/
	if [ "$1" = qemu ]; then
		out=$(timeout 1800 qemu-system-x86_64 -L /usr/share/qemu -enable-kvm -cpu host \
			-M microvm,acpi=off -m 512 -nodefaults -no-user-config \
			-serial stdio -display none -no-reboot -kernel $K -initrd $I \
			-fsdev local,id=f0,path=/tmp/share,security_model=none \
			-device virtio-9p-device,fsdev=f0,mount_tag=w \
			-drive file=$P/tools.erofs,if=none,id=t,format=raw,readonly=on \
			-device virtio-blk-device,drive=t \
			-append "console=ttyS0 reboot=t panic=-1 quiet rdinit=/fs-guest-init vbfs.type=9p vbfs.tag=w" 2>&1)
	else
		out=$(timeout 1800 $P/voidbox vm --console --memory 512 --kernel $K --initramfs $I \
			--mount /tmp/share:/w:rw --disk $P/tools.erofs:ro \
			--cmdline "console=ttyS0 reboot=k panic=-1 quiet rdinit=/fs-guest-init vbfs.type=virtiofs vbfs.tag=vbfs0" 2>&1)
	fi
	echo "$out" | grep -q FSBENCH-DONE || { echo "$out" | tail -20; exit 1; }
	# A step that failed is reported, its time left out; the other steps
	# still count. (Both engines' rm -rf of the git tree fails on L1's
	# 6.1 tmpfs, "Directory not empty": READDIR offsets are positions
	# there and shift under unlinks.)
	echo "$out" | sed -n 's/^FSBENCH-FAIL \(.*\)/BENCH-FAIL '"$1"' \1/p'
	echo "$out" | grep -v "^FSBENCH-FAIL" |
		sed -n 's/^FSBENCH \([a-z0-9_]*\) \([0-9]*\).*/BENCH fs_\1_ms \2/p'
}


i=0
while [ $i -lt "$RUNS" ]; do
	for e in ${FSBENCH_ENGINES:-qemu voidbox}; do
		run "$e" || exit 1
	done
	i=$((i + 1))
done
