#!/usr/bin/env bash
# tests/testhost/check.sh: the nested test host as one entry of
# tests/runner.sh (make check). Boots one L1 and runs the smoke batch and
# the real-Linux VM batch in it; run.sh prints one PASS:/FAIL: line per
# test, which the runner counts. The payload and batch are prepared by
# tests/testhost/module.mk.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUILD:-$top/build}/testhost
# 600 s per test: the slowest, vm-mounts-hostile (100,000 files made in
# L1, then listed through a share by a nested guest), takes ~250 s here
# and more on a busier machine; the timeout only bounds a hang.
exec "$top/tests/testhost/run.sh" --with-qemu --payload "$out/voidbox" --payload "$out/kvmtier" \
	--timeout 600 --log "$out/console.log" "$out/check.batch"
