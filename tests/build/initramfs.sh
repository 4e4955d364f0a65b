#!/usr/bin/env bash
# The initramfs builder is reproducible (same bytes twice) and the archive
# holds what contents.list declares: agent as /init, console node, bash,
# busybox applets, CA bundle, passwd/group.
. "$(dirname "$0")/../lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$TOP/initramfs/stage.sh" "$tmp/a.lz4" "$BUILD/voidbox-agent" 2>/dev/null
"$TOP/initramfs/stage.sh" "$tmp/b.lz4" "$BUILD/voidbox-agent" 2>/dev/null
cmp -s "$tmp/a.lz4" "$tmp/b.lz4" || fail "two builds differ"
cmp -s "$tmp/a.lz4" "$BUILD/initramfs.cpio.lz4" || fail "differs from the build's initramfs"
lz4 -dc "$tmp/a.lz4" >"$tmp/i.cpio"
list=$(cpio -itv <"$tmp/i.cpio" 2>/dev/null)
for want in '^-rwxr-xr-x .* init$' '^crw------- .* dev/console$' \
	'^-rwxr-xr-x .* bin/bash$' '^lrwxrwxrwx .* bin/sh -> /bin/busybox$' \
	'etc/ssl/certs/ca-certificates.crt$' '^-rw-r--r-- .* etc/passwd$'; do
	echo "$list" | grep -qE "$want" || fail "initramfs lacks $want"
done
echo "$list" | awk '{ print $3, $4 }' | grep -qv '^root root$' && fail "non-root owner in archive"
# mkcpio names the list line on errors.
printf 'dir /x 0755\nfile /x/y 0644 nope\n' >"$tmp/bad.list"
err=$(python3 "$TOP/initramfs/mkcpio.py" "$tmp/bad.list" "$tmp" "$tmp/o" 2>&1) && fail "bad list accepted"
echo "$err" | grep -q "bad.list:2: source 'nope' not found" || fail "unhelpful error: $err"
echo "ok: reproducible, $(stat -c %s "$tmp/i.cpio") bytes cpio"
