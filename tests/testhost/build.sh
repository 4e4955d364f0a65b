# shellcheck shell=bash
# tests/testhost/build.sh: builds the L1 image for run.sh (sourced after
# third_party/lib.sh; defines functions only).
#
# The L1 initramfs is a concatenation of cpio archives (the kernel unpacks
# them one after another, as it does for early microcode):
#   base    busybox-static, /init + runner, kernel modules, /dev nodes
#   qemu    Debian's qemu-system-x86_64 + its libraries and firmware (optional)
#   run     the batch, per-run settings and the payload directories
# base and qemu are cached under $VB_CACHE by content hash; the run layer is
# rebuilt every time (payloads change with every build and cost ~0.1 s).
# Layers are left uncompressed: the L1 kernel would inflate them under TCG,
# which is slower than QEMU loading the bytes (measured, see README.md).
#
# /dev/console has to exist in the initramfs before /init runs. We write the
# device nodes as a hand-made newc archive (th_cpio_nodes) instead of using
# mknod in a staging directory, so building needs no root and no
# gen_init_cpio from a kernel build.

TH_DIR=$VB_TOP/tests/testhost
TH_KVER=6.1.0-56-cloud-amd64	# the pinned linux-image-$TH_KVER deb
# Modules to load in L1; their dependencies are added from `modinfo -F depends`.
TH_MODULES="kvm_amd virtio_pci virtio_net"

th_say() { printf '[testhost] %s\n' "$*" >&2; }

# th_prune KIND: keep the 3 newest testhost-KIND-* cache entries. Every edit
# of an l1/ script makes a new one; several checkouts may share the cache,
# and a pruned entry only costs its owner a rebuild of a few seconds.
th_prune()
{
	find "$VB_CACHE" -maxdepth 1 -name "testhost-$1-*" -printf '%T@ %p\n' |
		sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
}

# th_cpio_dir DIR OUT: archive DIR's contents (symlinks inside it followed)
# as root-owned newc, appending to OUT.
th_cpio_dir()
{
	(cd "$1" && find -L . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -L -R 0:0 --reproducible --quiet) >>"$2"
}

# th_newc NAME MODE_OCTAL INO [MAJOR MINOR]: one data-less newc entry.
th_newc()
{
	local name=$1 mode=$2 ino=$3 maj=${4:-0} min=${5:-0} nsz pad
	nsz=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$ino" $((8#$mode)) 0 0 1 0 0 0 0 "$maj" "$min" "$nsz" 0
	printf '%s\0' "$name"
	pad=$(((4 - (110 + nsz) % 4) % 4))	# header is 110 bytes
	[ "$pad" = 0 ] || head -c "$pad" /dev/zero
}

# th_cpio_nodes OUT: /dev, /dev/console and /dev/null, appended to OUT.
th_cpio_nodes()
{
	{
		th_newc dev 040755 900001
		th_newc dev/console 020600 900002 5 1
		th_newc dev/null 020666 900003 1 3
		th_newc TRAILER!!! 0 0
	} >>"$1"
}

# th_module_order MODDIR: "name file" lines, dependencies first.
th_module_order()
{
	local moddir=$1 m
	declare -A seen=()
	_th_visit()
	{
		local name=$1 file dep
		[ -z "${seen[$name]:-}" ] || return 0
		seen[$name]=1
		file=$(find "$moddir/kernel" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) | head -1)
		[ -n "$file" ] || die "module $name not found in linux-image-$TH_KVER"
		for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
			_th_visit "$dep"
		done
		echo "$name ${file##*/}"
	}
	for m in $TH_MODULES; do _th_visit "$m"; done
}

# th_build_base: print the cache dir holding vmlinuz and base.cpio.
th_build_base()
{
	local hash final tmp deb moddir name file
	hash=$(recipe_hash "$TH_DIR/build.sh" "$TH_DIR"/l1/*)
	final=$VB_CACHE/testhost-l1-$hash
	if [ -f "$final/.vb-done" ]; then echo "$final"; return; fi

	th_say "building L1 initramfs (base layer)…"
	need_tool dpkg-deb dpkg
	need_tool cpio cpio
	need_tool modinfo kmod
	tmp=$(mktemp -d "$VB_CACHE/testhost-tmp.XXXXXX")
	deb=$(fetch_deb "linux-image-$TH_KVER")
	dpkg-deb -x "$deb" "$tmp/kernel"
	deb=$(fetch_deb busybox-static)
	dpkg-deb -x "$deb" "$tmp/busybox"
	# bash for the scripts tier 2 shares with this machine (tests/kvm)
	deb=$(fetch_deb bash-static)
	dpkg-deb -x "$deb" "$tmp/bash"
	moddir=$(echo "$tmp/kernel/lib/modules/"*)
	[ -d "$moddir/kernel" ] || die "no modules in $deb"

	local root=$tmp/root
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,tmp,run,root,payload}
	mkdir -p "$root/testhost/bin" "$root/lib/modules/testhost"
	cp "$tmp/busybox/bin/busybox" "$root/bin/busybox"
	cp "$tmp/bash/bin/bash-static" "$root/bin/bash"
	cp "$TH_DIR/l1/init" "$root/init"
	cp "$TH_DIR/l1/runner" "$TH_DIR/l1/lib.sh" "$root/testhost/"
	cp "$TH_DIR/l1/th-"* "$root/testhost/bin/"
	th_module_order "$moddir" >"$root/lib/modules/testhost/order"
	while read -r name file; do
		find "$moddir/kernel" -name "$file" -exec cp {} "$root/lib/modules/testhost/" \;
	done <"$root/lib/modules/testhost/order"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	printf '127.0.0.1 localhost\n10.0.2.2 outer-host\n' >"$root/etc/hosts"

	th_cpio_dir "$root" "$tmp/base.cpio"
	th_cpio_nodes "$tmp/base.cpio"
	cp "$tmp/kernel/boot/vmlinuz-$TH_KVER" "$tmp/vmlinuz"
	cp "$root/lib/modules/testhost/order" "$tmp/modules.order"
	rm -rf "$tmp/kernel" "$tmp/busybox" "$tmp/bash" "$root"
	touch "$tmp/.vb-done"
	atomic_install "$tmp" "$final"
	th_prune l1 >/dev/null
	echo "$final"
}

# th_qemu_files: every host file the QEMU bundle needs, one path a line.
th_qemu_files()
{
	local q
	q=$(command -v qemu-system-x86_64)
	echo "$q"
	# "libx.so => /path (addr)" and the loader's "/lib64/ld-linux... (addr)"
	ldd "$q" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	ls /usr/share/qemu/qboot.rom /usr/share/qemu/*.bin /usr/share/seabios/bios*.bin
}

# th_build_qemu: print the cache dir holding qemu.cpio (Debian's QEMU, which
# runs inside L1 as the reference VMM). Keyed by the content of every file.
th_build_qemu()
{
	local hash final tmp f dst
	need_tool qemu-system-x86_64 qemu-system-x86
	need_tool ldd libc-bin
	hash=$({ cat "$TH_DIR/build.sh"; th_qemu_files | LC_ALL=C sort | xargs sha256sum; } |
		sha256sum | cut -c1-16)
	final=$VB_CACHE/testhost-qemu-$hash
	if [ -f "$final/.vb-done" ]; then echo "$final"; return; fi

	th_say "building L1 initramfs (QEMU layer, ~30 MB)…"
	tmp=$(mktemp -d "$VB_CACHE/testhost-tmp.XXXXXX")
	while read -r f; do
		# Keep each file at the path the loader and QEMU look for it; on a
		# merged-/usr host ldd names /lib/..., which L1 then has for real.
		dst=$tmp/root$f
		mkdir -p "${dst%/*}"
		cp -L "$f" "$dst"
	done < <(th_qemu_files)
	th_cpio_dir "$tmp/root" "$tmp/qemu.cpio"
	rm -rf "$tmp/root"
	touch "$tmp/.vb-done"
	atomic_install "$tmp" "$final"
	th_prune qemu >/dev/null
	echo "$final"
}

# th_build_run_layer OUT BATCH ENVFILE PAYLOAD_DIR...: the per-run layer.
th_build_run_layer()
{
	local out=$1 batch=$2 envfile=$3 stage d base
	shift 3
	# Next to OUT, so run.sh's cleanup of its temp dir covers an interrupted build.
	stage=$(mktemp -d "$(dirname "$out")/run-layer.XXXXXX")
	mkdir -p "$stage/testhost" "$stage/payload"
	cp "$batch" "$stage/testhost/batch"
	cp "$envfile" "$stage/testhost/env"
	for d in "$@"; do
		base=$(basename "$d")
		[ ! -e "$stage/payload/$base" ] || die "two payloads named $base"
		# A symlink is enough: th_cpio_dir follows links while archiving.
		ln -s "$(cd "$d" && pwd -P)" "$stage/payload/$base"
	done
	th_cpio_dir "$stage" "$out"
	rm -rf "$stage"
}
