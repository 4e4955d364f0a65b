#!/usr/bin/env bash
# third_party/linux-src.sh: unpack the pinned linux-source .deb once into the
# cache and print the tree's path. Shared by the guest kernel build and the
# uapi headers (kvm.h, virtio, vm_sockets.h) the host and guest compile against.
. "$(dirname "$0")/lib.sh"

# The sysroot (uapi headers) and the kernel recipes run this at once under
# make -j: one unpacks while the other waits, or the second would replace
# the tree under the first one's feet (seen: "can't open arch/x86/Kconfig").
if [ -z "${VB_LINUX_SRC_LOCKED:-}" ]; then
	VB_LINUX_SRC_LOCKED=1 with_lock linux-src "$0" "$@"
	exit
fi

need_tool xz xz-utils
deb=$(fetch_deb linux-source-6.12)
read -r ver _ < <(lock_get deb linux-source-6.12)
dir=$VB_CACHE/linux-$ver
if [ ! -f "$dir/.vb-unpacked" ]; then
	say "unpacking linux-source-6.12 $ver (about 15 s)"
	tmp=$(mktemp -d "$VB_CACHE/linux-tmp.XXXXXX")
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
		tar -xJ -C "$tmp" || die "unpacking linux-source-6.12 $ver failed"
	mv "$tmp"/linux-source-* "$tmp/tree"
	touch "$tmp/tree/.vb-unpacked"
	rm -rf "$dir"
	atomic_install "$tmp/tree" "$dir"
	rmdir "$tmp" 2>/dev/null || true
fi
echo "$dir"
