#!/usr/bin/env bash
# Replay every committed fuzz corpus input once through its target
# (ASan/UBSan on): regressions found by `make fuzz` stay found.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
for d in "$top"/tests/fuzz/corpus/*/; do
	n=$(basename "$d")
	if out=$("$B/fuzz/fuzz_$n" -runs=0 "$d" 2>&1); then
		echo "PASS: fuzz-replay-$n ($(ls "$d" | wc -l) inputs)"
	else
		echo "FAIL: fuzz-replay-$n"; echo "$out" | tail -20
	fi
done
