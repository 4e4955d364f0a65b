#!/usr/bin/env bash
# initramfs/stage.sh OUT AGENT: build the guest initramfs (lz4 legacy
# format, which the kernel unpacks fastest) from contents.list.
#
# Staging: a directory of symlinks to the inputs (build outputs, the pinned
# Debian packages unpacked once into the cache, generated files), so the
# list names sources by a stable relative path. The cpio itself is written
# by mkcpio.py: sorted, owners 0:0, mtime 0, no root needed.
. "$(dirname "$0")/../third_party/lib.sh"

out=${1:?usage: stage.sh OUT AGENT}
agent=${2:?usage: stage.sh OUT AGENT}
need_tool python3 python3
need_tool lz4 lz4

# unpack_deb NAME: the pinned package's files, unpacked once per version.
unpack_deb()
{
	local deb dir sha
	deb=$(fetch_deb "$1")
	read -r _ sha _ < <(lock_get deb "$1")
	dir=$VB_CACHE/deb/$1-${sha:0:16}
	if [ ! -f "$dir/.vb-unpacked" ]; then
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
		dpkg-deb -x "$deb" "$dir.tmp" || die "unpacking $1 failed"
		touch "$dir.tmp/.vb-unpacked"
		rm -rf "$dir"
		atomic_install "$dir.tmp" "$dir"
	fi
	echo "$dir"
}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build" "$stage/deb" "$stage/gen"
ln -s "$(cd "$(dirname "$agent")" && pwd)/$(basename "$agent")" "$stage/build/voidbox-agent"
ln -s "$VB_TOP/initramfs" "$stage/tree"
for p in busybox-static bash-static ca-certificates; do
	ln -s "$(unpack_deb "$p")" "$stage/deb/$p"
done

# The CA bundle as update-ca-certificates would make it: every Mozilla
# certificate, in sorted order.
find "$stage/deb/ca-certificates/usr/share/ca-certificates/mozilla/" -name '*.crt' |
	LC_ALL=C sort | xargs cat >"$stage/gen/ca-certificates.crt"
[ -s "$stage/gen/ca-certificates.crt" ] || die "empty CA bundle from ca-certificates"

python3 "$VB_TOP/initramfs/mkcpio.py" "$VB_TOP/initramfs/contents.list" \
	"$stage" "$stage/initramfs.cpio"
lz4 -q -l -9 -f "$stage/initramfs.cpio" "$out.tmp"
mv "$out.tmp" "$out"
say "initramfs: $(stat -c %s "$stage/initramfs.cpio") bytes cpio, $(stat -c %s "$out") bytes lz4"
