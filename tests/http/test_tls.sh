#!/usr/bin/env bash
# tests/http/test_tls.sh: host/http/tls.c (through tls_client_test)
# against python's ssl server on 127.0.0.1, with throwaway certificates
# made by the openssl CLI. Prints one PASS/FAIL line per case.
. "$(dirname "$0")/../lib.sh"
TLS_CNF=$(cd "$(dirname "$0")" && pwd)/test-ca.cnf
HERE=$TOP/tests/http
DRV=${TLS_CLIENT_TEST:-$BUILD/http/tls_client_test}
[ -x "$DRV" ] || fail "$DRV not built (make $DRV)"
command -v openssl >/dev/null || skip "no openssl CLI"
command -v python3 >/dev/null || skip "no python3"

d=$(mktemp -d)
pids=()
cleanup()
{
	{ kill "${pids[@]}"; wait "${pids[@]}"; } 2>/dev/null || true
	rm -rf "$d"
}
trap cleanup EXIT
cd "$d"

# ---- certificates ----------------------------------------------------------
cp "$TLS_CNF" x.cnf
EC=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
RSA=(-newkey rsa:2048)
ssl() { openssl "$@" 2>>openssl.log || fail "openssl $1: $(tail -3 openssl.log)"; }
mkca() # NAME KEYSPEC...
{
	local n=$1; shift
	ssl req -x509 -config x.cnf -extensions ca_ext "$@" -nodes \
		-keyout "$n.key" -out "$n.pem" -subj "/CN=voidbox test $n" -days 2
}
mkleaf() # NAME CA KEYSPEC...
{
	local n=$1 ca=$2; shift 2
	ssl req -new -config x.cnf "$@" -nodes -keyout "$n.key" -out "$n.csr" \
		-subj /CN=localhost
	ssl x509 -req -in "$n.csr" -CA "$ca.pem" -CAkey "$ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 2 -sha256 \
		-extfile x.cnf -extensions leaf_ext -out "$n.pem"
}
mkca ca "${EC[@]}"			# the test CA (EC P-256)
mkca ca-rsa "${RSA[@]}"			# a second, RSA 2048 CA
mkca other "${EC[@]}"			# unrelated: trusts nothing we serve
mkleaf ec ca "${EC[@]}"
mkleaf rsa ca-rsa "${RSA[@]}"
mkleaf old ca "${EC[@]}"		# re-issued below, expired in 2020
touch index.txt && echo 01 >serial
ssl ca -batch -config x.cnf -cert ca.pem -keyfile ca.key -in old.csr \
	-out old.pem -startdate 20200101000000Z -enddate 20200201000000Z \
	-extensions leaf_ext -notext
# The bundle mixes key types and holds a key object, which is skipped.
cat ca-rsa.pem ec.key ca.pem >bundle.pem
cp ec.key keyonly.pem

mkdir www
echo "hello from tls_server" >www/index
head -c $((5 << 20)) /dev/urandom >www/big
sha_index=$(sha256sum www/index | cut -d' ' -f1)
sha_big=$(sha256sum www/big | cut -d' ' -f1)

# ---- servers ---------------------------------------------------------------
start() # NAME ARGS...: sets port_NAME
{
	local n=$1 p=; shift
	: >"$n.out"	# exists before the server's own redirection does
	python3 "$HERE/tls_server.py" "$@" >"$n.out" 2>"$n.err" &
	pids+=($!)
	for _ in $(seq 200); do
		p=$(awk '$1 == "LISTENING" { print $2 }' "$n.out")
		[ -n "$p" ] && break
		sleep 0.05
	done
	[ -n "$p" ] || fail "server $n did not start: $(cat "$n.err")"
	printf -v "port_$n" %s "$p"
}
start ec https ec.pem ec.key www
start rsa https rsa.pem rsa.key www
start old https old.pem old.key www
start tls13 https13 ec.pem ec.key www
start silent silent
start close close

# ---- cases -----------------------------------------------------------------
nfail=0
out=
run() { out="rc=0 $(timeout 60 "$@" 2>&1)" || out="rc=$? ${out#rc=0 }"; }
check() # NAME REGEX CMD...
{
	local n=$1 want=$2; shift 2
	run "$@"
	if grep -qE -- "$want" <<<"$out"; then
		echo "PASS: tls $n"
	else
		echo "FAIL: tls $n: want /$want/, got: $out"
		nfail=$((nfail + 1))
	fi
}
ok_index="^rc=0 OK HTTP/1.0 200 OK body_sha256=$sha_index "
ok_big="^rc=0 OK HTTP/1.0 200 OK body_sha256=$sha_big body_bytes=5242880$"
verify="^rc=1 ERROR: certificate verification failed: "

check ec-p256 "$ok_index" "$DRV" localhost "$port_ec" bundle.pem
check rsa-2048 "$ok_index" "$DRV" localhost "$port_rsa" bundle.pem
check single-ca "$ok_index" "$DRV" localhost "$port_ec" ca.pem
check close-notify "$ok_index" "$DRV" localhost "$port_ec" bundle.pem 5000 /notify
check truncated "^rc=1 ERROR: Protocol error" \
	"$DRV" localhost "$port_ec" bundle.pem 5000 /truncate
t0=$(date +%s%N)
check big-5MiB "$ok_big" "$DRV" localhost "$port_ec" bundle.pem 5000 /big
echo "big-5MiB: $((($(date +%s%N) - t0) / 1000000)) ms"
check big-nonblock "$ok_big" env TLS_TEST_NONBLOCK=1 \
	"$DRV" localhost "$port_rsa" bundle.pem 5000 /big
check threads "$ok_index" env TLS_TEST_THREADS=16 \
	"$DRV" localhost "$port_rsa" bundle.pem
check ssl-cert-file "$ok_index" env SSL_CERT_FILE="$d/bundle.pem" \
	"$DRV" localhost "$port_ec" -
check wrong-ca "${verify}issuer is not a trusted CA \(BR_ERR_X509_NOT_TRUSTED\)" \
	"$DRV" localhost "$port_ec" other.pem
check wrong-ca-rsa "${verify}.*BR_ERR_X509_NOT_TRUSTED" \
	"$DRV" localhost "$port_rsa" ca.pem
check name-mismatch "${verify}.*BR_ERR_X509_BAD_SERVER_NAME" \
	"$DRV" wronghost "$port_ec" bundle.pem
check ip-literal "${verify}.*BAD_SERVER_NAME.*DNS names only" \
	"$DRV" 127.0.0.1 "$port_ec" bundle.pem
check expired "${verify}.*BR_ERR_X509_EXPIRED" \
	"$DRV" localhost "$port_old" bundle.pem
check tls13-only "^rc=1 ERROR: handshake failed: localhost sent fatal alert 70 \(protocol_version" \
	"$DRV" localhost "$port_tls13" bundle.pem
check no-anchors "^rc=1 ERROR: no trust anchors in keyonly.pem$" \
	"$DRV" localhost "$port_ec" keyonly.pem
check no-bundle "^rc=1 ERROR: cannot read CA bundle nonexistent.pem: " \
	"$DRV" localhost "$port_ec" nonexistent.pem
check closed "^rc=1 ERROR: connection closed during handshake" \
	"$DRV" localhost "$port_close" bundle.pem
t0=$(date +%s%N)
check timeout "^rc=1 ERROR: handshake timed out$" \
	"$DRV" localhost "$port_silent" bundle.pem 700
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $ms -ge 650 ] && [ $ms -lt 3000 ]; then
	echo "PASS: tls timeout-bounded (${ms} ms for 700 ms)"
else
	echo "FAIL: tls timeout-bounded: ${ms} ms for a 700 ms timeout"
	nfail=$((nfail + 1))
fi
t0=$(date +%s%N)
check read-timeout "^rc=1 ERROR: [A-Za-z ]*timed out$" env TLS_TEST_RCVTIMEO=500 \
	"$DRV" localhost "$port_ec" bundle.pem 5000 /hang
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $ms -ge 450 ] && [ $ms -lt 3000 ]; then
	echo "PASS: tls read-timeout-bounded (${ms} ms for SO_RCVTIMEO 500 ms)"
else
	echo "FAIL: tls read-timeout-bounded: ${ms} ms for SO_RCVTIMEO 500 ms"
	nfail=$((nfail + 1))
fi
[ $nfail = 0 ]
