#!/bin/sh
# tools/toolbox-tests.sh CASE: the toolbox (tools/build-toolbox.sh) at work in
# a real guest on our VMM, run inside the nested test host by tools.batch
# with the tools disk at /payload/tools/tools.erofs.
#   tools    every tool of tools/toolbox.list runs, from /usr (not busybox)
#   git      init, commit, clone, commit, push back, log: a round trip
#   venv     python3 -m venv (with ensurepip when TOOLBOX_VENV_PIP=1: make
#            check-long), pip, ssl and sqlite3 import, the CA bundle
#   curl     curl and wget fetch from an L1 service through the egress
#            policy (allowed rule), and are refused without the rule
set -u
VB=/payload/voidbox/voidbox
DISK=/payload/tools/tools.erofs
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
gx() { "$VB" exec --memory 1024 --timeout 300 --tools-disk "$DISK" "$@"; }

case ${1:?usage: toolbox-tests.sh CASE} in
tools)
	gx -- bash -c '
		set -u; bad=
		chk() { p=$(command -v "$1") || { bad="$bad $1(missing)"; return; }
			case $p in /usr/*) ;; *) bad="$bad $1($p)";; esac
			"$@" >/tmp/out 2>&1 || { bad="$bad $1(rc $?: $(head -c 200 /tmp/out))"; return; }
			echo "$1: $(head -1 /tmp/out)"; }
		chk bash --version; chk ls --version; chk find --version
		chk grep --version; chk sed --version; chk gawk --version
		chk awk --version; chk diff --version; chk patch --version
		chk curl --version; chk wget --version; chk jq --version
		chk git --version; chk python3 --version; chk ssh -V
		chk tar --version; chk gzip --version; chk xz --version
		chk zstd --version; chk unzip -v; chk make --version
		chk file --version; chk ps --version; chk less --version
		chk openssl version; chk which ls; chk pip3 --version
		echo "{\"a\":[1,2]}" | jq -e ".a[1] == 2" >/dev/null || bad="$bad jq(eval)"
		printf "x\n" | gzip | zstd -q | zstd -dq | gunzip | grep -qx x || bad="$bad pipe"
		file /usr/bin/git | grep -q ELF || bad="$bad file(magic)"
		# /usr is the read-only image; /usr/local is writable.
		touch /usr/bin/x 2>/dev/null && bad="$bad usr-writable"
		touch /usr/local/bin/x || bad="$bad usr-local"
		[ -z "$bad" ] || { echo "broken:$bad"; exit 1; }' >"$T/o" 2>"$T/e" ||
		fail "$(cat "$T/o") $(tail -5 "$T/e")"
	cat "$T/o"
	;;
git)
	gx -- bash -c '
		set -eu; export HOME=/tmp/h; mkdir -p $HOME; cd /tmp
		git config --global user.email a@example.test
		git config --global user.name agent
		git config --global init.defaultBranch main
		git init -q --bare origin.git
		git clone -q origin.git one 2>/dev/null; cd one
		echo hello >f; git add f; git commit -qm first; git push -q origin main
		cd ..; git clone -q origin.git two; cd two
		echo world >>f; git commit -qam second; git push -q origin main
		cd ../one; git pull -q origin main
		git log --format=%s | tr "\n" " "; echo; cat f' >"$T/o" 2>"$T/e" ||
		fail "git: $(cat "$T/o") $(tail -5 "$T/e")"
	grep -qx 'second first ' "$T/o" && grep -qx world "$T/o" ||
		fail "git round trip: $(cat "$T/o")"
	cat "$T/o"
	;;
venv)
	# ensurepip (pip installed into the venv) is most of this case's
	# time under TCG: make check-long runs it (TOOLBOX_VENV_PIP=1); make
	# check makes the venv without it and asks the system pip.
	pipflag=--without-pip pip="pip3 --version"
	[ -n "${TOOLBOX_VENV_PIP:-}" ] && pipflag= pip="v/bin/pip --version"
	gx -- bash -c '
		set -eu; cd /tmp
		python3 -m venv '"$pipflag"' v
		v/bin/python -c "import ssl, sqlite3, json, zlib, hashlib, ctypes; print(ssl.OPENSSL_VERSION); ssl.create_default_context()"
		'"$pip"'
		v/bin/python -c "import sys; print(\"venv\", sys.prefix != sys.base_prefix)"
		v/bin/python -c "import ssl; c = ssl.create_default_context(); print(\"ca\", c.cert_store_stats()[\"x509_ca\"])"' \
		>"$T/o" 2>"$T/e" || fail "venv: $(cat "$T/o") $(tail -5 "$T/e")"
	grep -q '^OpenSSL 3' "$T/o" && grep -q '^pip ' "$T/o" && grep -qx 'venv True' "$T/o" ||
		fail "venv: $(cat "$T/o")"
	# The guest's CA bundle reaches python's default context.
	n=$(awk '$1 == "ca" { print $2 }' "$T/o")
	[ "${n:-0}" -gt 100 ] || fail "python sees ${n:-no} CA certificates"
	cat "$T/o"
	;;
curl)
	mkdir -p "$T/www" && echo toolbox-ok >"$T/www/x"
	busybox httpd -p 127.0.0.1:18081 -h "$T/www" || fail "httpd"
	gx --allow 10.0.2.2:18081 -- bash -c '
		curl -fsS http://10.0.2.2:18081/x && wget -q -O - http://10.0.2.2:18081/x' \
		>"$T/o" 2>"$T/e" || fail "curl allowed: $(cat "$T/o") $(tail -5 "$T/e")"
	[ "$(grep -cx toolbox-ok "$T/o")" = 2 ] || fail "curl/wget: $(cat "$T/o")"
	gx --network -- curl -fsS -m 10 http://10.0.2.2:18081/x >"$T/o2" 2>"$T/e2" &&
		fail "curl reached a refused address: $(cat "$T/o2")"
	grep -q 'deny tcp 10.0.2.2:18081' "$T/e2" || fail "no deny event: $(tail -5 "$T/e2")"
	echo "curl and wget through the policy: ok; refused without the rule: ok"
	;;
*) fail "unknown case $1" ;;
esac
