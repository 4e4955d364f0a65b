#!/usr/bin/env bash
# tests/image/registry.sh: `voidbox image pull` against real registries on
# loopback — Debian's docker-registry (the distribution project's server)
# with TLS from a throwaway CA and htpasswd Basic auth, and a second one
# with token auth (tests/image/regmock.py's token server, RS256 JWTs) over
# plain HTTP — serving the python test image pushed at test time, as a
# Docker v2 manifest and under an OCI index; then regmock.py's hostile
# registry: a corrupt layer, a cut transfer (resumed with Range), a layer
# longer than its descriptor, a decompression bomb, a manifest that is
# not the one its digest names, and a manifest for another architecture. Everything listens on 127.0.0.1.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
VB=$B/voidbox
M=$top/tests/image/regmock.py
T=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$T"' EXIT
export VOIDBOX_DATA_DIR=$T/data
check() { # NAME STATUS DETAIL
	if [ "$2" = 0 ]; then echo "PASS: image-pull-$1"; else echo "FAIL: image-pull-$1 ($3)"; fi
}
reg=$(command -v docker-registry) || { echo "FAIL: image-pull-setup (no docker-registry: make bootstrap)"; exit 0; }
"$top/tests/image/pyimage.sh" "$B/image/python.tar.gz" 2>/dev/null ||
	{ echo "FAIL: image-pull-setup (python image)"; exit 0; }
img=$B/image/python.tar.gz
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
waittcp() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# Registry 1 (TLS + htpasswd, python:3.11 pushed): regserve.sh. Then an
# unrelated CA and the token server's signing pair.
"$top/tests/image/regserve.sh" "$T/r1" "$img" 2>"$T/r1.err"; rc=$?
[ -s "$T/r1/pid" ] && pids+=("$(cat "$T/r1/pid")")
[ $rc = 0 ] || { echo "FAIL: image-pull-setup (regserve: $(tail -n 3 "$T/r1.err" "$T/r1/reg.log"))"; exit 0; }
p1=$(cat "$T/r1/port") d1=$(cat "$T/r1/digest")
cp "$T/r1/ca.pem" "$T/ca.pem"
( cd "$T"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other \
	-keyout other.key -out other.pem
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=token-signer \
	-keyout tok.key -out tok.pem ) >/dev/null 2>&1
python3 "$M" token "$T/tport" "$T/tok.key" "$T/tok.pem" bob hunter2 voidbox-test test-registry \
	>"$T/tok.log" 2>&1 & pids+=($!)
waitport "$T/tport" || { echo "FAIL: image-pull-setup (token server)"; exit 0; }
p2=$(freeport)
cat >"$T/r2.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $T/r2}}
http: {addr: "127.0.0.1:$p2"}
auth: {token: {realm: "http://127.0.0.1:$(cat "$T/tport")/token", service: test-registry,
               issuer: voidbox-test, rootcertbundle: $T/tok.pem}}
EOF
"$reg" serve "$T/r2.yml" >"$T/r2.log" 2>&1 & pids+=($!)
python3 "$M" mock "$T/mport" "$img" "$T/mock.log" >"$T/mock.out" 2>&1 & pids+=($!)
waittcp "$p2" && waitport "$T/mport" ||
	{ echo "FAIL: image-pull-setup (registries: $(cat "$T/r2.log" "$T/mock.out" | tail -n 5))"; exit 0; }
pm=$(cat "$T/mport")

# Push the image two more ways, as a client of the real registries.
r1=https://localhost:$p1
python3 "$M" push "$img" "$r1" multi 1 --ca "$T/ca.pem" --user alice --password s3cret \
		--index amd64,arm64 >/dev/null &&
	python3 "$M" push "$img" "$r1" armonly 1 --ca "$T/ca.pem" --user alice --password s3cret \
		--index arm64 >/dev/null &&
	python3 "$M" push "$img" "http://127.0.0.1:$p2" python 3.11 --user bob --password hunter2 >/dev/null
check push $? "pushing with regmock.py: $(tail -n 3 "$T/r1/reg.log")"

cat >"$T/auth.json" <<EOF
{"auths": {"localhost:$p1": {"auth": "$(printf alice:s3cret | base64)"},
           "127.0.0.1:$p2": {"username": "bob", "password": "hunter2"}}}
EOF
export VOIDBOX_CA_FILE=$T/ca.pem
pull() { "$VB" image pull "$@" >"$T/out" 2>"$T/err"; }

# 1. TLS + Basic.
VOIDBOX_REGISTRY_AUTH=$T/none.json pull "localhost:$p1/python:3.11"; rc=$?
[ $rc = 1 ] && grep -q "wants credentials" "$T/err"
check basic-needs-credentials $? "rc $rc: $(cat "$T/err")"
export VOIDBOX_REGISTRY_AUTH=$T/auth.json
VOIDBOX_CA_FILE=$T/other.pem pull "localhost:$p1/python:3.11"; rc=$?
[ $rc = 1 ] && grep -qi "certificate" "$T/err"
check tls-wrong-ca $? "rc $rc: $(cat "$T/err")"
pull "localhost:$p1/python:3.11"; rc=$?
[ $rc = 0 ] && grep -Eq "^localhost:$p1/python:3.11 sha256:[0-9a-f]{64} \(2 layers\)$" "$T/out" &&
	grep -q 'pulling layer 2/2' "$T/err"
check tls-basic $? "rc $rc: $(cat "$T/out" "$T/err" | tail -5)"
"$VB" image ls | grep -q "^localhost:$p1/python:3.11 "
check listed $? "$("$VB" image ls)"
# 2. An OCI index: linux/amd64 picked; its layers are in the store already.
pull "localhost:$p1/multi:1"; rc=$?
[ $rc = 0 ] && grep -q '2 of 2 layers were in the store already' "$T/err" &&
	! grep -q 'pulling layer' "$T/err"
check index-shared-layers $? "rc $rc: $(cat "$T/err" | tail -5)"
pull "localhost:$p1/armonly:1"; rc=$?
[ $rc = 1 ] && grep -q 'linux/amd64' "$T/err" && grep -q 'arm64' "$T/err"
check other-arch-refused $? "rc $rc: $(cat "$T/err")"
# 3. By digest; a digest the registry does not have.
pull "localhost:$p1/python@$d1"; rc=$?
[ $rc = 0 ]
check by-digest $? "rc $rc: $(cat "$T/err")"
pull "localhost:$p1/python@sha256:$(printf x | sha256sum | cut -c1-64)"; rc=$?
[ $rc = 1 ] && grep -q 'MANIFEST_UNKNOWN' "$T/err"
check unknown-digest $? "rc $rc: $(cat "$T/err")"
# 4. Token auth over plain HTTP on loopback (no --plain-http needed).
rm -rf "$T/data"
pull "127.0.0.1:$p2/python:3.11"; rc=$?
[ $rc = 0 ] && grep -q '(2 layers)' "$T/out"
check token $? "rc $rc: $(cat "$T/err" | tail -5)"
rm -rf "$T/data"
VOIDBOX_REGISTRY_AUTH=$T/none.json pull "127.0.0.1:$p2/python:3.11"; rc=$?
[ $rc = 1 ] && grep -q 'no token' "$T/err" && grep -q 'HTTP 401' "$T/err"
check token-refused $? "rc $rc: $(cat "$T/err")"
# 5. The hostile registry.
pull --plain-http "127.0.0.1:$pm/good:1"; rc=$?
[ $rc = 0 ]
check mock-good $? "rc $rc: $(cat "$T/err")"
rm -rf "$T/data"
pull "127.0.0.1:$pm/corrupt:1"; rc=$?
[ $rc = 1 ] && grep -q 'digest mismatch' "$T/err" &&
	[ -z "$(ls "$T/data/images/tmp" 2>/dev/null)" ]
check corrupt-layer $? "rc $rc: $(cat "$T/err") $(ls "$T/data/images/tmp" 2>&1)"
rm -rf "$T/data"
pull "127.0.0.1:$pm/cut:1"; rc=$?
[ $rc = 0 ] && grep -q 'resuming' "$T/err" && grep -q '/v2/cut/blobs/.* bytes=[1-9]' "$T/mock.log"
check resume $? "rc $rc: $(cat "$T/err" | tail -4)"
rm -rf "$T/data"
pull "127.0.0.1:$pm/big:1"; rc=$?
[ $rc = 1 ] && grep -q 'more than the' "$T/err"
check longer-than-descriptor $? "rc $rc: $(cat "$T/err")"
VOIDBOX_IMAGE_MAX_BYTES=$((16 << 20)) pull "127.0.0.1:$pm/bomb:1"; rc=$?
[ $rc = 1 ] && grep -qi 'bomb\|passes\|uncompressed' "$T/err"
check bomb $? "rc $rc: $(cat "$T/err")"
pull "127.0.0.1:$pm/liar@$d1"; rc=$?
[ $rc = 1 ] && grep -q "digest mismatch: wanted $d1" "$T/err"
check manifest-digest-checked $? "rc $rc: $(cat "$T/err")"
pull "127.0.0.1:$pm/nosuch:1"; rc=$?
[ $rc = 1 ] && grep -q 'NAME_UNKNOWN' "$T/err"
check unknown-repo $? "rc $rc: $(cat "$T/err")"
exit 0
