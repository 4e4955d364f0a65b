#!/usr/bin/env bash
# tests/golden/run.sh: spec validation golden tests. For each spec here and
# under specs/, `voidbox validate` must print exactly the committed .ok
# text and exit 0 (valid) or 2 (invalid). UPDATE=1 rewrites the .ok files
# (review the diff!).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
VB=${VOIDBOX:-${BUILD:-$top/build}/voidbox}
cd "$top"
for spec in tests/golden/*.yaml tests/golden/*.json specs/*.yaml specs/*.json; do
	[ -e "$spec" ] || continue
	ok=tests/golden/ok/$(basename "$spec").ok
	out=$("$VB" validate "$spec" 2>&1); rc=$?
	got=$(printf '%s\nexit %s\n' "$out" "$rc")
	if [ "${UPDATE:-0}" = 1 ]; then
		mkdir -p tests/golden/ok; printf '%s\n' "$got" >"$ok"
	fi
	if [ -f "$ok" ] && [ "$got" = "$(cat "$ok")" ]; then
		echo "PASS: golden-$(basename "$spec")"
	else
		echo "FAIL: golden-$(basename "$spec")"
		diff <(cat "$ok" 2>/dev/null) <(printf '%s\n' "$got") | sed 's/^/    /' | head -20
	fi
done
