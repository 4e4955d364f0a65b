#!/usr/bin/env bash
# release/check.sh: the release artefacts are what they claim to be.
# Static (no PT_INTERP, no DT_NEEDED), slim within its size budget, the
# embedded blob hashes match the MANIFEST, SHA256SUMS verifies, and the
# full binary's tools trailer is intact. PASS:/FAIL: lines.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/release/out
SLIM_BUDGET=$((12 * 1024 * 1024))
ok() { echo "PASS: $1"; }
bad() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }
fails=0
full=$(ls "$out"/voidbox-*-x86_64-linux 2>/dev/null | head -1)
slim=$full-slim
[ -f "$full" ] && [ -f "$slim" ] || { echo "FAIL: release-built: run make release"; exit 1; }
for f in "$full" "$slim"; do
	n=$(basename "$f")
	if readelf -lW "$f" | grep -q INTERP || readelf -dW "$f" 2>/dev/null | grep -q NEEDED; then
		bad "release-static-$n" "dynamic bits present"
	else ok "release-static-$n"; fi
done
s=$(stat -c %s "$slim")
[ "$s" -le $SLIM_BUDGET ] && ok "release-slim-size ($s bytes <= 12 MiB)" || bad release-slim-size "$s bytes"
echo "info: full size $(stat -c %s "$full") bytes"
(cd "$out" && sha256sum -c --quiet SHA256SUMS) && ok release-sha256sums || bad release-sha256sums "mismatch"
"$full" --output json version >"$out/.v.json" 2>/dev/null
python3 - "$out/.v.json" "$out/MANIFEST" <<'PY' && ok release-manifest-matches || bad release-manifest-matches "see above"
import json, sys
v = json.load(open(sys.argv[1]))["embedded"]
m = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if not l.startswith("#")}
bad = [k for k in ("kernel", "initramfs", "tools") if k not in v or m.get(k, [""] * 4)[3] != v[k]["sha256"]]
if bad:
    print("mismatch:", bad); sys.exit(1)
PY
rm -f "$out/.v.json"
"$slim" version | grep -q 'tools .*slim build' && ok release-slim-says-no-tools || bad release-slim-says-no-tools "$("$slim" version | grep tools)"
exit $((fails > 0))
