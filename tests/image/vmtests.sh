#!/bin/sh
# tests/image/vmtests.sh CASE: a user's OCI image as the guest's root, in
# real guests on our VMM inside the nested test host (busybox sh). The
# image is tests/image/mk_pyimage.py's (Debian's python3 on busybox, two
# layers with a whiteout and an opaque directory) at
# /payload/tools/python.tar.gz; the tools disk at /payload/tools.
#   exec       import, then `exec --image NAME`: python3 runs, the layers
#              are merged as OCI says, Env and WorkingDir apply, the
#              workload is uid 1000, writes stay in the VM
#   archive    `exec --image FILE` with an empty store: imported on use
#   mounts     a shared directory and --put/--get work inside the image
#   refused    an unknown name (its pull from a dead loopback port fails),
#              a corrupt archive: exit 125, clear errors
set -u
VB=/payload/voidbox/voidbox
IMG=/payload/tools/python.tar.gz
TOOLS=/payload/tools/tools.erofs
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export VOIDBOX_DATA_DIR=$T/data
gx() { "$VB" exec --memory 1024 --timeout 300 --tools-disk "$TOOLS" "$@"; }

case ${1:?usage: vmtests.sh CASE} in
exec)
	"$VB" image import "$IMG" >"$T/imp" 2>"$T/e" ||
		fail "import: $(cat "$T/e")"
	grep -q '^voidbox-test/python:3.11 sha256:' "$T/imp" || fail "import said: $(cat "$T/imp")"
	gx --image voidbox-test/python:3.11 -- sh -c '
		python3 -c "import sys, os, json, zlib; print(\"py\", sys.version_info[0], sys.version_info[1])"
		echo "cwd $(pwd)"; echo "mark $IMAGE_MARK"; echo "uid $(id -u)"
		echo "os $(grep ^ID= /etc/os-release)"
		test -e /etc/removed && echo "whiteout missed"
		echo "old $(ls /opt/old | tr "\n" " ")"
		echo hello >/tmp/t && echo "tmp ok"
		mkdir -p /home/agent/x && echo "home ok"
		test -x /usr/local/bin/claude && echo "claude linked"
		test -d /opt/voidbox/toolbox/usr/bin && echo "toolbox aside"
		grep -q " / overlay " /proc/mounts && echo "root overlay"' >"$T/o" 2>"$T/e" ||
		fail "exec: $(cat "$T/o") $(grep -v '^\[vm' "$T/e" | tail -5)"
	cat "$T/o"
	for want in "py 3 11" "cwd /srv" "mark voidbox-test" "uid 1000" "os ID=vbtest" \
		"old new " "tmp ok" "home ok" "claude linked" "toolbox aside" "root overlay"; do
		grep -qx "$want" "$T/o" || fail "missing '$want' in: $(tr '\n' '|' <"$T/o")"
	done
	grep -q "whiteout missed" "$T/o" && fail "/etc/removed survived its whiteout"
	# Root may write anywhere; nothing survives into the next VM.
	gx --image voidbox-test/python:3.11 --user root -- sh -c \
		'echo x >/usr/bin/added && echo wrote' >"$T/o" 2>"$T/e" &&
		grep -qx wrote "$T/o" || fail "root write: $(cat "$T/o" "$T/e" | tail -3)"
	gx --image voidbox-test/python:3.11 -- sh -c 'test ! -e /usr/bin/added && echo fresh' \
		>"$T/o" 2>&1 && grep -qx fresh "$T/o" || fail "the image kept a write: $(cat "$T/o")"
	;;
archive)
	gx --image "$IMG" -- python3 -c 'print(6 * 7)' >"$T/o" 2>"$T/e" ||
		fail "exec --image FILE: $(tail -5 "$T/e")"
	grep -qx 42 "$T/o" || fail "got: $(cat "$T/o")"
	grep -q "importing $IMG" "$T/e" || fail "no import progress line: $(head -3 "$T/e")"
	# The second use imports again (same digests: nothing new stored).
	"$VB" image ls >"$T/ls" 2>&1 && grep -q "voidbox-test/python:3.11" "$T/ls" ||
		fail "image ls: $(cat "$T/ls")"
	;;
mounts)
	mkdir -p "$T/w" && echo "in" >"$T/w/input"
	echo 'print(open("/workspace/w/input").read().strip() + "-out")' >"$T/prog.py"
	gx --image "$IMG" --mount "$T/w:/workspace/w:rw" --put "$T/prog.py:/workspace/prog.py" \
		--get /workspace/res:"$T/res" -- sh -c \
		'python3 /workspace/prog.py >/workspace/w/result && cp /workspace/w/result /workspace/res' \
		>"$T/o" 2>"$T/e" || fail "exec: $(tail -5 "$T/e")"
	[ "$(cat "$T/w/result" 2>/dev/null)" = in-out ] || fail "share: $(cat "$T/w/result" 2>&1)"
	[ "$(cat "$T/res" 2>/dev/null)" = in-out ] || fail "--get: $(cat "$T/res" 2>&1)"
	;;
refused)
	gx --image 127.0.0.1:9/no/such:image -- true >"$T/o" 2>"$T/e"; rc=$?
	[ $rc = 125 ] && grep -q "not in the image store" "$T/e" ||
		fail "unknown image: exit $rc: $(cat "$T/e")"
	head -c 100000 "$IMG" >"$T/cut.tar.gz"
	gx --image "$T/cut.tar.gz" -- true >"$T/o" 2>"$T/e"; rc=$?
	[ $rc = 125 ] && grep -q "cut.tar.gz" "$T/e" ||
		fail "truncated archive: exit $rc: $(cat "$T/e")"
	echo "$(grep -v '^\[vm' "$T/e" | tail -1)"
	;;
*) fail "unknown case $1" ;;
esac
