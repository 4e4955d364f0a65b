#!/usr/bin/env bash
# tests/bench/imgbench.sh: `make bench-image` (and part of `make bench`) —
# OCI images. On this host: importing the python test image and the
# toolbox tree as an image (decompress, verify, apply the layers, write
# the EROFS root), and what a second image sharing layers adds to the
# store. In one nested test host: the same import under TCG, and the warm
# start into the cached image root vs the default initramfs guest (ratio;
# absolute times are TCG times). IMGBENCH_RUNS (5).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
VB=$B/voidbox
RUNS=${IMGBENCH_RUNS:-5}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/imgbench" "$tmp/voidbox"
"$top/tests/image/pyimage.sh" "$tmp/imgbench/python.tar.gz" 2>/dev/null
secs() { python3 -c 'import sys,time; t=time.time(); import subprocess; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print("%.2f" % (time.time()-t))' "$@"; }
# The toolbox tree (138 Debian packages) as a one-layer docker save archive.
python3 - "$("$top/tools/build-toolbox.sh")" "$tmp/toolbox.tar" <<'PY'
import hashlib, io, json, os, sys, tarfile
root, out = sys.argv[1:3]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    t.add(root, arcname=".", recursive=True)
layer = buf.getvalue(); h = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h]}}).encode()
c = hashlib.sha256(cfg).hexdigest()
with tarfile.open(out, "w") as t:
    for n, d in [("manifest.json", json.dumps([{"Config": c + ".json", "RepoTags": ["toolbox:bench"],
                  "Layers": [h + "/layer.tar"]}]).encode()), (c + ".json", cfg), (h + "/layer.tar", layer)]:
        ti = tarfile.TarInfo(n); ti.size = len(d); t.addfile(ti, io.BytesIO(d))
PY
# A second python image: the same two layers plus one more.
python3 - "$tmp/imgbench/python.tar.gz" "$tmp/python2.tar.gz" <<'PY'
import gzip, hashlib, io, json, sys, tarfile
src, out = sys.argv[1:3]
files = {}
with tarfile.open(src, "r:gz") as t:
    for m in t.getmembers():
        files[m.name] = t.extractfile(m).read()
man = json.loads(files["manifest.json"])[0]
cfg = json.loads(files[man["Config"]])
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w") as t:
    d = b"print('second image')\n"; ti = tarfile.TarInfo("srv/app.py"); ti.size = len(d); t.addfile(ti, io.BytesIO(d))
l3 = b.getvalue(); h = hashlib.sha256(l3).hexdigest()
cfg["rootfs"]["diff_ids"].append("sha256:" + h)
cb = json.dumps(cfg).encode(); c = hashlib.sha256(cb).hexdigest()
files = {k: v for k, v in files.items() if k.endswith("/layer.tar")}
files[h + "/layer.tar"] = l3; files[c + ".json"] = cb
files["manifest.json"] = json.dumps([{"Config": c + ".json", "RepoTags": ["voidbox-test/python:app"],
                                      "Layers": man["Layers"] + [h + "/layer.tar"]}]).encode()
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w") as t:
    for n, d in files.items():
        ti = tarfile.TarInfo(n); ti.size = len(d); t.addfile(ti, io.BytesIO(d))
open(out, "wb").write(gzip.compress(b.getvalue(), mtime=0))
PY
export VOIDBOX_DATA_DIR=$tmp/data
usage() { "$VB" --output json image ls | python3 -c 'import json,sys; print(json.load(sys.stdin)["disk_bytes"])'; }
blobs() { find "$tmp/data/images/blobs" -type f | wc -l; }
echo "== images on this host ($(nproc) CPUs)"
p=$(secs "$VB" image import "$tmp/imgbench/python.tar.gz")
u1=$(usage); b1=$(blobs)
tb=$(secs "$VB" image import "$tmp/toolbox.tar")
u2=$(usage); b2=$(blobs)
p2=$(secs "$VB" image import "$tmp/python2.tar.gz")
u3=$(usage); b3=$(blobs)
sz() { du -m "$1" | cut -f1; }
printf '  %-58s %8s s  (%s MiB archive; store now %s MiB)\n' "import + convert: python image (2 layers)" "$p" \
	"$(sz "$tmp/imgbench/python.tar.gz")" "$(( u1 >> 20 ))"
printf '  %-58s %8s s  (%s MiB tar)\n' "import + convert: the toolbox tree as an image (1 layer)" "$tb" "$(sz "$tmp/toolbox.tar")"
printf '  %-58s %8s s  (+%s blobs, +%s MiB: layers shared)\n' "import + convert: a 2nd python image sharing 2 of 3 layers" "$p2" \
	"$(( b3 - b2 ))" "$(( (u3 - u2) >> 20 ))"
# The same image from a real registry on loopback (TLS, Basic auth).
"$top/tests/image/regserve.sh" "$tmp/reg" "$tmp/imgbench/python.tar.gz"
trap 'kill "$(cat "$tmp/reg/pid")" 2>/dev/null; rm -rf "$tmp"' EXIT
rp=$(cat "$tmp/reg/port")
pl=$(VOIDBOX_DATA_DIR=$tmp/pull VOIDBOX_CA_FILE=$tmp/reg/ca.pem VOIDBOX_REGISTRY_AUTH=$tmp/reg/auth.json \
	secs "$VB" image pull "localhost:$rp/python:3.11")
printf '  %-58s %8s s  (TLS, Basic auth, %s MiB of gzip layers)\n' \
	"first pull + convert: python image from a loopback registry" "$pl" \
	"$(( $(du -sk "$tmp/pull/images/blobs" | cut -f1) >> 10 ))"
echo
echo "== nested test host: exec -- true in the cached python image root vs the initramfs guest, $RUNS runs each"
for f in "$VB" "$B/tools.erofs"; do ln -s "$(readlink -f "$f")" "$tmp/voidbox/$(basename "$f")"; done
cp "$top/tests/bench/l1-imgbench.sh" "$tmp/imgbench/"
printf 'img-bench\tsh /payload/imgbench/l1-imgbench.sh %s\n' "$RUNS" >"$tmp/batch"
"$top/tests/testhost/run.sh" --mem 3072 --payload "$tmp/voidbox" --payload "$tmp/imgbench" \
	--timeout 3000 --log "$tmp/l1.log" "$tmp/batch" >"$tmp/out" 2>"$tmp/err" ||
	{ cat "$tmp/out"; tail -20 "$tmp/err"; exit 1; }
grep -ao 'BENCH [a-z0-9_]* [0-9.]*' "$tmp/l1.log" >"$tmp/bench"
grep -a 'BENCH-FAIL' "$tmp/l1.log" | sed 's/^/  failed: /' || true
python3 - "$tmp/bench" <<'PY'
import sys
v = {}
for l in open(sys.argv[1]):
    _, k, x = l.split(); v.setdefault(k, []).append(float(x))
p50 = lambda k: sorted(v[k])[len(v[k]) // 2] if k in v else float("nan")
print(f"  {'import + convert the python image in L1 (TCG)':<52} {p50('img_import_l1_ms'):>9.0f} ms")
print(f"  {'':<40} {'image ms':>10} {'initramfs ms':>13} {'ratio':>7}")
for name, k in [("agent ready (p50)", "ready_ms"), ("exec true, total (p50)", "total_ms")]:
    a, b = p50("img_image_" + k), p50("img_initramfs_" + k)
    print(f"  {name:<40} {a:>10.0f} {b:>13.0f} {a / b:>6.2f}x")
PY
