#!/usr/bin/env bash
# tests/image/pyimage.sh OUT.tar.gz: the nested tests' python image
# (mk_pyimage.py: Debian's python3 from the toolbox tree, itself built from
# pinned Debian packages, on the initramfs's busybox), rewritten only when
# its inputs are newer. Used by tests/testhost/tools-check.sh and
# tests/e2e/check.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
. "$top/third_party/lib.sh"
toolbox=$("$top/tools/build-toolbox.sh")
busybox=$(ls "$VB_CACHE"/deb/busybox-static-*/bin/busybox | head -1)
[ -n "$busybox" ] || die "no busybox-static in $VB_CACHE/deb (build the initramfs first)"
if [ ! -s "$out" ] || [ "$toolbox" -nt "$out" ] || [ "$busybox" -nt "$out" ] ||
	[ "$top/tests/image/mk_pyimage.py" -nt "$out" ]; then
	python3 "$top/tests/image/mk_pyimage.py" "$toolbox" "$busybox" "$out" >&2
fi
