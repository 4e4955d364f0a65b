#!/usr/bin/env bash
# release/build.sh VERSION BUILD_DIR: assemble release/out/ from a build.
#
#   voidbox-VERSION-x86_64-linux        full: with the claude-code tools image
#   voidbox-VERSION-x86_64-linux-slim   no claude-code (commands, workflows,
#                                       mock agents; says what is missing)
#   MANIFEST                            every embedded component: name, version,
#                                       source package, sha256 where embedded
#   SHA256SUMS
set -euo pipefail
ver=$1 B=$2
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/release/out
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
full=$out.tmp/voidbox-$ver-x86_64-linux
slim=$full-slim
cp "$B/voidbox" "$slim"
# Debug info carries build paths; a release does not need it.
strip --strip-debug -o "$slim.s" "$slim" && mv "$slim.s" "$slim"
"$top/release/append-tools.py" "$slim" "$B/tools.erofs" "$full.new"
mv "$full.new" "$full"
chmod 755 "$full" "$slim"
# The manifest: what `version` computes from the embedded bytes, plus the
# pinned inputs and the Debian source package each came from.
"$full" --output json version >"$out.tmp/version.json"
python3 - "$out.tmp/version.json" "$ver" "$top/third_party/versions.lock" "$top/tools/toolbox.lock" >"$out.tmp/MANIFEST" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
print(f"# voidbox {sys.argv[2]} x86_64-linux: embedded components")
print("# component\tversion\tsource\tsha256 (embedded bytes)")
emb = v["embedded"]
for name, src in [("kernel", "linux-source-6.12 (Debian) + kernel-config/"),
                  ("initramfs", "initramfs/contents.list (busybox-static, bash-static, voidbox-agent)"),
                  ("tools", "npm @anthropic-ai/claude-code-linux-x64-musl + musl (Debian) + toolbox (tools/toolbox.lock), EROFS")]:
    if name in emb:
        print(f"{name}\t-\t{src}\t{emb[name]['sha256']}")
for line in (l for lock in sys.argv[3:] for l in open(lock)):
    f = line.split()
    if not f or f[0].startswith("#"):
        continue
    kind, name, version = f[0], f[1], f[2]
    where = {"src": "Debian source package", "deb": "Debian binary package",
             "npm": "npm registry"}[kind]
    print(f"{name}\t{version}\t{where}\t-")
PY
rm -f "$out.tmp/version.json"
( cd "$out.tmp" && sha256sum voidbox-* MANIFEST >SHA256SUMS )
rm -rf "$out" && mv "$out.tmp" "$out"
ls -l "$out"
