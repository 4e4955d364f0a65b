#!/usr/bin/env bash
# tests/testhost/harness.sh: the nested test host's own failure handling
# (run.sh + l1/runner), on harness.batch in a real L1: a frozen L1 is
# detected and the rest of the batch retried in a fresh one, a test that
# leaves a process holding its output is reported instead of hanging the
# runner, a test past its timeout is killed, an L1 that panics (QEMU exits)
# is replaced by a fresh one. CI's results depend on each of these (an L1
# that stopped talking, and later one that panicked, each cost a CI run).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
TESTHOST_STALL_S=20 "$top/tests/testhost/run.sh" --timeout 16 \
	"$top/tests/testhost/harness.batch" >"$out" 2>&1
rc=$?
check() { # NAME PATTERN: a line of run.sh's output matches PATTERN
	if grep -Eq "$2" "$out"; then echo "PASS: harness-$1"; else
		echo "FAIL: harness-$1 (no line matching '$2')"; bad=1; fi
}
bad=0
check first-test '^PASS: ok1$'
check stall-seen '^STALL: stall \(L1 stalled: no console line for 20 s; retried in a fresh L1\)$'
check stall-console-tail '^  > TESTHOST-BEGIN stall$'
check stall-retried '^PASS: stall$'
check crash-seen '^STALL: crash \(L1 stopped unexpectedly \(L1 kernel panic: sysrq triggered crash; qemu exited with status 0\); retried in a fresh L1\)$'
check crash-retried '^PASS: crash$'
check straggler-reported '^FAIL: straggler \(rc 125\)$'
check straggler-named '^  \|  *[0-9]+ +1 +[0-9]+ S .* sleep 100 *$'
check timeout-killed '^FAIL: hang \(timeout after 16 s\)$'
check rest-ran '^PASS: after$'
check summary '4 passed, 2 failed, 0 skipped'
[ "$rc" = 1 ] && echo "PASS: harness-exit-status" ||
	{ echo "FAIL: harness-exit-status (run.sh exited $rc, want 1)"; bad=1; }
[ "$bad" = 0 ] || sed 's/^/    /' "$out"
exit 0
