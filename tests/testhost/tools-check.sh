#!/usr/bin/env bash
# tests/testhost/tools-check.sh: the claude-code tools disk in a real guest
# on our VMM (nested test host): the agent finds and mounts it, and
# `claude --version` runs (tools/tools.batch). A second, foreign EROFS image
# (no tools mark) must be left alone. Then the user's OCI images as the
# guest's root (tests/image/vm.batch) in the same L1 boot. 3 GiB for the
# 290 MB disk.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
out=$B/testhost
mkdir -p "$out/tools" "$out/foreign-src"
ln -sfn "$(readlink -f "$B/tools.erofs")" "$out/tools/tools.erofs"
cp "$top/tools/toolbox-tests.sh" "$out/tools/"
cp "$top/tests/image/vmtests.sh" "$out/tools/image-vmtests.sh"
"$top/tests/image/pyimage.sh" "$out/tools/python.tar.gz"
# BATCH (make check-long passes tests/testhost/long.batch) or, by default,
# the tools and image batches.
if [ -n "${1:-}" ]; then
	cp "$1" "$out/tools-image.batch"
else
	cat "$top/tools/tools.batch" "$top/tests/image/vm.batch" >"$out/tools-image.batch"
fi
echo "not a tools disk" >"$out/foreign-src/README"
mkfs.erofs --quiet "$out/tools/foreign.erofs" "$out/foreign-src" >/dev/null
exec "$top/tests/testhost/run.sh" --mem 3072 --timeout 600 \
	--payload "$out/voidbox" --payload "$out/tools" \
	--log "$out/tools-console.log" "$out/tools-image.batch"
