#!/usr/bin/env bash
# The pinned-fetch layer fails loudly and precisely: a checksum mismatch
# names the package and version; a missing tool names its apt package.
. "$(dirname "$0")/../lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# A lock pinning busybox-static with a wrong checksum, in a private cache
# that already holds the (real) .deb: must refuse, naming package+version.
mkdir -p "$tmp/cache/dl"
real=$(VOIDBOX_CACHE=$HOME/.cache/voidbox-build bash -c ". '$TOP/third_party/lib.sh'; fetch_deb busybox-static")
cp "$real" "$tmp/cache/dl/"
grep '^deb	busybox-static' "$TOP/third_party/versions.lock" |
	awk -F'\t' -v OFS='\t' '{ $4 = "0000000000000000000000000000000000000000000000000000000000000000"; print }' >"$tmp/lock"
ver=$(cut -f3 "$tmp/lock")
out=$(VOIDBOX_CACHE=$tmp/cache VB_LOCK=$tmp/lock bash -c ". '$TOP/third_party/lib.sh'; fetch_deb busybox-static" 2>&1) &&
	fail "checksum mismatch accepted"
echo "$out" | grep -q "checksum mismatch for busybox-static=$ver" || fail "unhelpful: $out"
[ ! -e "$tmp/cache/dl/$(basename "$real")" ] || fail "bad download left in the cache"
# A package not in the lock at all.
out=$(VB_LOCK=$tmp/lock bash -c ". '$TOP/third_party/lib.sh'; fetch_deb no-such-pkg" 2>&1) && fail "unknown package accepted"
echo "$out" | grep -q "no 'deb no-such-pkg' line" || fail "unhelpful: $out"
# A missing tool names the apt package.
out=$(bash -c ". '$TOP/third_party/lib.sh'; need_tool vb-no-such-tool some-package" 2>&1) && fail "missing tool accepted"
echo "$out" | grep -q "install it with 'apt-get install some-package'" || fail "unhelpful: $out"
echo ok
