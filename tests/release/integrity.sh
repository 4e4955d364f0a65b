#!/usr/bin/env bash
# tests/release/integrity.sh: the tools image inside the full single file.
# A damaged copy is refused with a clear message (never used); a fresh
# cache directory is filled once and then trusted; two first runs at once
# both verify and both succeed; an unwritable cache only means hashing
# again; the slim build says what it lacks. No VM needed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
FULL=$(readlink -f "$B/voidbox-full")
T=$(mktemp -d); trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }
fails=0
cp "$FULL" "$T/good"
# Damage one byte in the middle of the image (not the ELF, not the trailer).
cp "$FULL" "$T/bad"
size=$(stat -c %s "$T/bad")
printf 'X' | dd of="$T/bad" bs=1 seek=$((size - 50000000)) conv=notrunc 2>/dev/null
out=$(XDG_CACHE_HOME=$T/c1 "$T/bad" version 2>&1)
grep -q 'fails its sha256 check' <<<"$out" && pass integrity-damaged-refused ||
	fail integrity-damaged-refused "$(echo "$out" | grep tools)"
[ -z "$(ls "$T/c1/voidbox" 2>/dev/null)" ] && pass integrity-damaged-not-remembered ||
	fail integrity-damaged-not-remembered "$(ls "$T/c1/voidbox")"
# Two first runs at once, same empty cache: both verify, both succeed.
XDG_CACHE_HOME=$T/c2 "$T/good" version >"$T/v1" 2>&1 & a=$!
XDG_CACHE_HOME=$T/c2 "$T/good" version >"$T/v2" 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
[ $ra = 0 ] && [ $rb = 0 ] && grep -q 'verified' "$T/v1" && grep -q 'verified' "$T/v2" &&
	pass integrity-concurrent-first-runs || fail integrity-concurrent-first-runs "rc $ra/$rb"
[ "$(ls "$T/c2/voidbox" | wc -l)" = 1 ] && pass integrity-verdict-remembered ||
	fail integrity-verdict-remembered "$(ls "$T/c2/voidbox")"
# Remembered: the second use does not hash 190 MB again.
s=$(date +%s%N); XDG_CACHE_HOME=$T/c2 "$T/good" version >/dev/null; e=$(date +%s%N)
[ $(( (e - s) / 1000000 )) -lt 500 ] && pass "integrity-remembered-is-fast ($(( (e - s) / 1000000 )) ms)" ||
	fail integrity-remembered-is-fast "$(( (e - s) / 1000000 )) ms"
# A read-only cache directory (a non-root user cannot write it): still runs.
mkdir -p "$T/ro/voidbox" && chmod 555 "$T/ro" "$T/ro/voidbox"
chmod 755 "$T"; chmod 755 "$T/good"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env XDG_CACHE_HOME="$T/ro" "$T/good" version 2>&1)
grep -q verified <<<"$out" && pass integrity-readonly-cache || fail integrity-readonly-cache "$out"
# The slim build says what is missing.
out=$("$B/voidbox" version 2>&1)
grep -q 'slim build' <<<"$out" && pass integrity-slim-says-so || fail integrity-slim-says-so "$out"
exit $((fails > 0))
