#!/bin/sh
# tests/bench/l1-imgbench.sh RUNS: inside the nested test host — the python
# image's import (conversion into an EROFS root) under TCG, then the warm
# start: `exec -- true` booting into the cached image root vs the default
# initramfs guest, RUNS each, alternating. BENCH lines for imgbench.sh.
set -u
VB=/payload/voidbox/voidbox
TOOLS=/payload/voidbox/tools.erofs
export VOIDBOX_DATA_DIR=$(mktemp -d)
runs=${1:-5}
now() { awk '{ print int($1 * 1000) }' /proc/uptime; }
t=$(now)
"$VB" image import /payload/imgbench/python.tar.gz >/dev/null || { echo BENCH-FAIL import; exit 1; }
echo "BENCH img_import_l1_ms $(( $(now) - t ))"
ms() { # KIND ARGS...: ready and total ms of one exec, from --output json
	kind=$1; shift
	"$VB" --output json exec --memory 512 --tools-disk "$TOOLS" "$@" -- true 2>"/tmp/j" >/dev/null ||
		{ echo "BENCH-FAIL $kind: $(grep -v '^{' /tmp/j | tail -3 | tr '\n' ' ')"; return; }
	tr ',{}' '\n\n\n' </tmp/j | awk -F: -v k="$kind" '
		/"ready_ms"/ { printf "BENCH img_%s_ready_ms %s\n", k, $2 }
		/"total_ms"/ { printf "BENCH img_%s_total_ms %s\n", k, $2 }'
}
i=0
while [ $i -lt "$runs" ]; do
	ms initramfs
	ms image --image voidbox-test/python:3.11
	i=$((i + 1))
done
