#!/usr/bin/env bash
# tests/image/cli.sh: `voidbox image import|ls|rm` on the archives
# mk_archives.py writes, in a throwaway data directory: names, listing
# (text and JSON, disk usage), removal freeing the blobs no image needs,
# and the refusals with their exit codes.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
VB=${BUILD:-$top/build}/voidbox
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export VOIDBOX_DATA_DIR=$T/data
python3 "$top/tests/image/mk_archives.py" "$T" || { echo "FAIL: image-cli-fixtures"; exit 0; }
check() { # NAME COND-STATUS DETAIL
	if [ "$2" = 0 ]; then echo "PASS: image-cli-$1"; else echo "FAIL: image-cli-$1 ($3)"; fi
}
blobs() { find "$T/data/images/blobs/sha256" -type f | wc -l; }

out=$("$VB" image import "$T/docker-legacy.tar" 2>"$T/e1"); rc=$?
[ $rc = 0 ] && grep -Eq '^example/app:1 sha256:[0-9a-f]{64} \(2 layers\)$' <<<"$out"
check import-legacy $? "rc $rc: $out $(cat "$T/e1")"
grep -q '^\[image\] importing ' "$T/e1" && grep -q '^\[image\] building the root filesystem of example/app:1' "$T/e1"
check progress $? "$(cat "$T/e1")"
out=$("$VB" image import "$T/oci-dir" --name other:2 2>/dev/null); rc=$?
[ $rc = 0 ] && grep -q '^other:2 sha256:' <<<"$out"
check import-oci-dir $? "rc $rc: $out"
ls_out=$("$VB" image ls); rc=$?
[ $rc = 0 ] && grep -Eq '^example/app:1 +sha256:[0-9a-f]{12}  [0-9]+ MiB$' <<<"$ls_out" &&
	grep -q '^other:2 ' <<<"$ls_out" && grep -Eq '^2 images, [0-9]+ MiB on disk$' <<<"$ls_out"
check ls $? "$ls_out"
js=$("$VB" --output json image ls)
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert sorted(i["name"] for i in j["images"]) == ["example/app:1","other:2"]; assert j["disk_bytes"] > 0; assert all(i["root_bytes"] > 0 for i in j["images"])' "$js"
check ls-json $? "$js"
before=$(blobs)
"$VB" image rm example/app:1 2>"$T/e2"; rc=$?
after=$(blobs)
[ $rc = 0 ] && [ "$after" -lt "$before" ] && ! "$VB" image ls | grep -q example/app &&
	[ "$(find "$T/data/images/roots" -name '*.erofs' | wc -l)" = 1 ]
check rm-frees $? "rc $rc, blobs $before -> $after, $(cat "$T/e2")"
"$VB" image ls | grep -q '^other:2 '
check rm-keeps-others $? "$("$VB" image ls)"
"$VB" image rm no/such:1 2>"$T/e3"; rc=$?
[ $rc = 1 ] && grep -q 'image rm no/such:1: no such image' "$T/e3"
check rm-unknown $? "rc $rc $(cat "$T/e3")"
"$VB" image import "$T/bad-blob.tar" 2>"$T/e4"; rc=$?
[ $rc = 1 ] && grep -q 'digest mismatch: wanted sha256:' "$T/e4"
check refuses-bad-blob $? "rc $rc $(cat "$T/e4")"
[ -z "$(ls "$T/data/images/tmp")" ]
check no-leftovers $? "$(ls "$T/data/images/tmp")"
"$VB" image >/dev/null 2>&1; rc=$?
[ $rc = 2 ]
check usage $? "rc $rc"

# Using an image: what is settled before any VM (booting into one is
# tests/image/vmtests.sh, in the nested test host).
# (A name the store lacks is pulled: a loopback port nobody serves.)
"$VB" exec --image 127.0.0.1:9/no/such:1 -- true 2>"$T/e5"; rc=$?
[ $rc = 125 ] && grep -q 'image 127.0.0.1:9/no/such:1: not in the image store' "$T/e5" &&
	grep -q 'Connection refused' "$T/e5" &&
	grep -q 'voidbox image import FILE --name 127.0.0.1:9/no/such:1' "$T/e5"
check exec-unknown $? "rc $rc $(cat "$T/e5")"
"$VB" exec --image "$T/missing-layer.tar" -- true 2>"$T/e6"; rc=$?
[ $rc = 125 ] && grep -q 'missing-layer.tar' "$T/e6"
check exec-bad-archive $? "rc $rc $(cat "$T/e6")"
printf 'api_version: v1\nkind: agent\nname: img\nsandbox:\n  image: docker-legacy.tar\nagent:\n  prompt: hi\n' >"$T/img.yaml"
"$VB" validate "$T/img.yaml" >"$T/v1" 2>&1
check spec-image-accepted $? "$(cat "$T/v1")"
printf 'api_version: v1\nkind: workflow\nname: wf\nsandbox:\n  image: x\nworkflow:\n  steps: [{name: a, run: {program: true}}]\n' >"$T/wf.yaml"
"$VB" validate "$T/wf.yaml" >"$T/v2" 2>&1; rc=$?
[ $rc = 2 ] && grep -q 'sandbox.image: not supported yet' "$T/v2"
check spec-workflow-image-refused $? "rc $rc $(cat "$T/v2")"
printf 'api_version: v1\nkind: agent\nname: g\nsandbox:\n  guest_image: x\nagent:\n  prompt: hi\n' >"$T/g.yaml"
"$VB" validate "$T/g.yaml" >"$T/v3" 2>&1; rc=$?
[ $rc = 2 ] && grep -q 'guest_image: not supported: the guest kernel' "$T/v3"
check spec-guest-image-refused $? "rc $rc $(cat "$T/v3")"
exit 0
