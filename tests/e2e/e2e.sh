#!/bin/sh
# tests/e2e/e2e.sh CASE: one end-to-end case inside L1 (busybox sh).
# Environment from check.sh: MOCK_PORT, MOCK_KEY (the "real" key, which
# must never reach the guest).
set -u
VB=/payload/voidbox/voidbox
TD=/payload/tools/tools.erofs
S=/payload/e2e/specs
T=$(mktemp -d)
fail() { echo "FAIL: $*"; exit 1; }
spec() { sed "s/@PORT@/$MOCK_PORT/" "$S/$1.yaml" >"$T/$1.yaml"; cp -r "$S/skills" "$T/" 2>/dev/null; echo "$T/$1.yaml"; }
run() { # run SPEC [args]: stdout -> $T/out, stderr -> $T/err, rc -> $rc
	f=$(spec "$1"); shift
	"$VB" run --file "$f" --tools-disk "$TD" "$@" >"$T/out" 2>"$T/err"; rc=$?
	cat "$T/err" >&2
}
case $1 in
bash)
	run bash
	[ $rc = 0 ] || fail "exit $rc"
	grep -qx out-ok "$T/out" || fail "output: $(cat "$T/out")"
	grep -q '\[vm:e2e-bash\] tool: Bash echo out-ok' "$T/err" || fail "no live tool line"
	;;
*) fail "unknown case $1" ;;
esac
