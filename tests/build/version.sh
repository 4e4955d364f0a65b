#!/usr/bin/env bash
# `voidbox version` works from an empty directory with an empty environment,
# and the hashes it prints are those of the files the build embedded.
. "$(dirname "$0")/../lib.sh"
vb=$(readlink -f "$VOIDBOX")
empty=$(mktemp -d); trap 'rm -rf "$empty"' EXIT
out=$(cd "$empty" && env -i "$vb" version) || fail "voidbox version failed"
echo "$out"
k=$(sha256sum "$BUILD/kernel/bzImage" | cut -d' ' -f1)
i=$(sha256sum "$BUILD/initramfs.cpio.lz4" | cut -d' ' -f1)
echo "$out" | grep -q "kernel .*sha256 $k" || fail "kernel hash $k not reported"
echo "$out" | grep -q "initramfs .*sha256 $i" || fail "initramfs hash $i not reported"
echo "$out" | grep -q "linux-source-6.12" || fail "kernel pin not reported"
echo "$out" | grep -q "libslirp" || fail "library pins not reported"
j=$(cd "$empty" && env -i "$vb" --output json version) || fail "json version failed"
echo "$j" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["embedded"]["kernel"]["sha256"]=="'"$k"'"' ||
	fail "json output wrong: $j"
[ "$(cd "$empty" && env -i "$vb" --version | head -1)" = "$(echo "$out" | head -1)" ] || fail "--version differs"
# Exit codes: unknown command and bad flags are usage errors (2).
set +e; env -i "$vb" no-such-command 2>/dev/null; rc=$?; set -e
[ $rc = 2 ] || fail "unknown command exit $rc, want 2"
