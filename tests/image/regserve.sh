#!/usr/bin/env bash
# tests/image/regserve.sh DIR IMAGE: a real registry for the tests — Debian's
# docker-registry on 127.0.0.1 with TLS from a throwaway CA (certificate for
# localhost and registry.test: BearSSL checks DNS names, not IPs) and
# htpasswd Basic auth (alice:s3cret) — with IMAGE (a docker save archive)
# pushed as python:3.11. Leaves in DIR: ca.pem, port, pid (the server's),
# auth.json (docker-style, for localhost:PORT and registry.test:PORT),
# digest (of python:3.11's manifest), reg.log. Used by tests/image/
# registry.sh (on this host) and tests/e2e/check.sh (L1 reaches it as
# registry.test = 10.0.2.2).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
D=$1 img=$2
mkdir -p "$D"
reg=$(command -v docker-registry) || { echo "regserve: no docker-registry (make bootstrap)" >&2; exit 1; }
( cd "$D"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=reg-ca \
	-keyout ca.key -out ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	-keyout srv.key -out srv.csr
  printf 'subjectAltName=DNS:localhost,DNS:registry.test\n' >srv.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
	-extfile srv.ext -out srv.pem ) >/dev/null 2>&1
htpasswd -Bbc "$D/htpasswd" alice s3cret >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$D/reg.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $D/data}}
http: {addr: "127.0.0.1:$port", tls: {certificate: $D/srv.pem, key: $D/srv.key}}
auth: {htpasswd: {realm: voidbox-test, path: $D/htpasswd}}
EOF
"$reg" serve "$D/reg.yml" >"$D/reg.log" 2>&1 &
echo $! >"$D/pid"
for _ in $(seq 200); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.05
done
echo "$port" >"$D/port"
auth=$(printf alice:s3cret | base64)
cat >"$D/auth.json" <<EOF
{"auths": {"localhost:$port": {"auth": "$auth"}, "registry.test:$port": {"auth": "$auth"}}}
EOF
python3 "$top/tests/image/regmock.py" push "$img" "https://localhost:$port" python 3.11 \
	--ca "$D/ca.pem" --user alice --password s3cret >"$D/digest"
