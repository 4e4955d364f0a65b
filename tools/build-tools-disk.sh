#!/usr/bin/env bash
# tools/build-tools-disk.sh OUT [KCONFIG]: build the claude-code tools disk,
# a read-only EROFS image the guest agent mounts at /opt/voidbox:
#
#   /claude/claude              the pinned claude-code binary (musl, 0755)
#   /lib/ld-musl-x86_64.so.1    the musl loader it needs (pinned musl deb)
#   /toolbox/{usr,etc}          the guest's userland (tools/build-toolbox.sh)
#   /VERSION                    "voidbox-tools 1" then one line per input
#
# The image is cached in $VB_CACHE/tools-<recipe hash>/tools.erofs and OUT
# becomes a symlink to it (like build/kernel). It is reproducible: fixed
# mtimes (-T0), owners (--all-root), UUID and no xattrs, so two builds are
# byte-identical. Compression is lz4hc when KCONFIG (the guest kernel's
# .config, default build/kernel/.config) has CONFIG_EROFS_FS_ZIP=y, else
# none; the choice is part of the cache key.
. "$(dirname "$0")/../third_party/lib.sh"

out=${1:?usage: build-tools-disk.sh OUT [KCONFIG]}
kconfig=${2:-$VB_TOP/build/kernel/.config}
need_tool mkfs.erofs erofs-utils
need_tool dpkg-deb dpkg
need_tool tar tar

PKG=@anthropic-ai/claude-code-linux-x64-musl
# Fixed so the image is reproducible; the agent does not look at it.
UUID=766f6964-626f-7874-6f6f-6c7330303031

if grep -qx 'CONFIG_EROFS_FS_ZIP=y' "$kconfig" 2>/dev/null; then
	zopt=("-zlz4hc,12" -C65536)
else
	zopt=()
	say "tools disk: no CONFIG_EROFS_FS_ZIP=y in $kconfig; building it uncompressed"
fi
erofs_ver=$(dpkg-query -W -f='${Version}' erofs-utils 2>/dev/null || mkfs.erofs 2>&1 | head -1)
toolbox=$("$VB_TOP/tools/build-toolbox.sh")
hash=$({ VB_HASH_PINS="^npm $PKG\$|^deb musl\$" recipe_hash "$0"; echo "${zopt[*]} erofs-utils $erofs_ver $toolbox"; } | sha256sum | cut -c1-16)
final=$VB_CACHE/tools-$hash
if [ -f "$final/.vb-done" ]; then
	ln -sfn "$final/tools.erofs" "$out"; exit 0
fi
# One build of an entry at a time (parallel makes, clones); re-check after.
if [ -z "${VB_TOOLS_LOCKED:-}" ]; then
	VB_TOOLS_LOCKED=1 with_lock tools "$0" "$@"
	exit $?
fi
if [ -f "$final/.vb-done" ]; then
	ln -sfn "$final/tools.erofs" "$out"; exit 0
fi

t0=$SECONDS
tgz=$(fetch_npm "$PKG")
musl=$(fetch_deb musl)
read -r cver _ < <(lock_get npm "$PKG")
read -r mver _ < <(lock_get deb musl)

tmp=$(mktemp -d "$VB_CACHE/tools-tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/claude" "$root/lib"
tar -xzf "$tgz" -C "$tmp" package/claude || die "unpacking $PKG@$cver failed ($tgz)"
mv "$tmp/package/claude" "$root/claude/claude"
# The deb's /lib/ld-musl-x86_64.so.1 is a symlink to this file.
dpkg-deb --fsys-tarfile "$musl" | tar -xO ./lib/x86_64-linux-musl/libc.so \
	>"$root/lib/ld-musl-x86_64.so.1" || die "extracting the loader from musl=$mver failed"
[ -s "$root/lib/ld-musl-x86_64.so.1" ] || die "empty loader from musl=$mver"
printf 'voidbox-tools 1\nclaude-code-linux-x64-musl %s\nmusl %s\ntoolbox %s packages (%s)\n' \
	"$cver" "$mver" "$(wc -l <"$toolbox/../packages")" "$(sha256sum "$VB_TOP/tools/toolbox.lock" | cut -c1-16)" >"$root/VERSION"
# Hard links into the cached tree: same filesystem, no 200 MB copy.
cp -al "$toolbox" "$root/toolbox" 2>/dev/null || cp -a "$toolbox" "$root/toolbox"
chmod 0755 "$root" "$root/claude" "$root/lib" "$root/claude/claude" "$root/lib/ld-musl-x86_64.so.1"
chmod 0644 "$root/VERSION"

say "building the tools disk (claude-code $cver + toolbox, ${zopt[*]:-uncompressed})"
mkdir -p "$tmp/final"
mkfs.erofs --quiet -x-1 -T0 --all-root -U"$UUID" "${zopt[@]}" \
	"$tmp/final/tools.erofs" "$root" >&2 || die "mkfs.erofs failed"
rm -rf "$root" "$tmp/package"
touch "$tmp/final/.vb-done"
rm -rf "$final"
atomic_install "$tmp/final" "$final"
ln -sfn "$final/tools.erofs" "$out"
say "tools disk ready in $((SECONDS - t0)) s: $(stat -c %s "$final/tools.erofs") bytes"
