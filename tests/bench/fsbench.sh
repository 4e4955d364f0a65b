#!/usr/bin/env bash
# tests/bench/fsbench.sh: `make bench-fs` (and part of `make bench`) —
# shared directories, voidbox's virtio-fs vs QEMU's -virtfs (9p), inside one
# nested test host, same kernel and initramfs (tests/bench/l1-fsbench.sh).
# Ratios are meaningful; absolute times are TCG times. FSBENCH_FILES (2000),
# FSBENCH_RUNS (1), FSBENCH_ENGINES ("qemu voidbox"; one alone for a rerun).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
RUNS=${FSBENCH_RUNS:-1}
FILES=${FSBENCH_FILES:-2000}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/voidbox" "$tmp/fsbench/root"
for f in "$B/voidbox" "$B/kernel/bzImage" "$B/initramfs.cpio.lz4" "$B/tools.erofs"; do
	ln -s "$(readlink -f "$f")" "$tmp/voidbox/$(basename "$f")"
done
cp "$top/tests/bench/l1-fsbench.sh" "$tmp/fsbench/"
install -m 0755 "$top/tests/bench/fs-guest-init" "$tmp/fsbench/root/fs-guest-init"
# lz4 legacy like the initramfs it is appended to: the kernel's legacy
# decoder takes a second stream's magic as its own, but would read a
# plain cpio after it as a broken chunk.
( cd "$tmp/fsbench/root" && echo fs-guest-init | cpio -o -H newc --quiet ) |
	lz4 -l -q -c >"$tmp/fsbench/init.cpio"
rm -rf "$tmp/fsbench/root"
printf 'fs-bench\tFSBENCH_FILES=%s FSBENCH_ENGINES="%s" sh /payload/fsbench/l1-fsbench.sh %s\n' \
	"$FILES" "${FSBENCH_ENGINES:-qemu voidbox}" "$RUNS" >"$tmp/batch"
echo "== shared directory, nested test host: voidbox virtio-fs vs QEMU -virtfs (9p), $FILES files, $RUNS run(s) each"
"$top/tests/testhost/run.sh" --with-qemu --mem 3072 --payload "$tmp/voidbox" \
	--payload "$tmp/fsbench" --timeout 3000 --log "$tmp/l1.log" "$tmp/batch" \
	>"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out"; tail -20 "$tmp/err"; exit 1; }
grep -o 'BENCH [a-z0-9_]* [0-9.]*' "$tmp/l1.log" >"$tmp/bench"
grep -a 'BENCH-FAIL' "$tmp/l1.log" | sed 's/^/  failed step: /' || true
python3 - "$tmp/bench" <<'PY'
import sys
vals = {}
for l in open(sys.argv[1]):
    _, k, v = l.split()
    vals.setdefault(k, []).append(float(v))
def p50(k):
    v = sorted(vals.get(k, [float('nan')]))
    return v[len(v) // 2]
print(f"  {'operation':<36} {'voidbox ms':>11} {'QEMU 9p ms':>11} {'ratio':>7}   (ratio < 1: voidbox faster)")
for name, k in [("untar the tree (share -> share)", "untar"),
                ("find + stat of every file", "find_stat"), ("ls -lR", "ls_lr"),
                ("git status (cold caches)", "git_status_cold"),
                ("git status (warm)", "git_status_warm"),
                ("100 MiB sequential write + sync", "write_100m"),
                ("100 MiB sequential read (cold)", "read_100m"),
                ("rm -rf of the tree", "rm_tree")]:
    v, q = p50(f"fs_virtiofs_{k}_ms"), p50(f"fs_9p_{k}_ms")
    r = v / q if q == q and v == v else float('nan')
    print(f"  {name:<36} {v:>11.0f} {q:>11.0f} {r:>6.2f}x")
PY
