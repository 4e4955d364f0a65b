#!/bin/sh
# tests/testhost/snaptests.sh NAME: warm starts (issue 18) with real Linux
# guests on our VMM, inside the nested test host (busybox sh). snap.batch
# has one line per check. Snapshots go to a private data directory.
VB=${VB:-/payload/voidbox/voidbox}
T=$(mktemp -d)
export VOIDBOX_DATA_DIR="$T/data"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

case $1 in
restore-exec)
	# Provisioned state (a file in the guest's tmpfs, written by the
	# provisioning command) is there in every restore; the clone runs
	# commands, takes files, and is its own host (new hostname).
	"$VB" snapshot create base --memory 256 --no-tools -- \
		sh -c 'echo provisioned >/tmp/p' >"$T/o" 2>"$T/e" ||
		fail "create: $(cat "$T/e")"
	[ "$(cat "$T/o")" = base ] || fail "create printed: $(cat "$T/o")"
	"$VB" snapshot ls >"$T/ls" || fail "ls"
	grep -q '^base ' "$T/ls" || fail "ls: $(cat "$T/ls")"
	echo from-host >"$T/in"
	out=$("$VB" exec --snapshot base --put "$T/in:/workspace/in" -- \
		sh -c 'cat /tmp/p /workspace/in; hostname') ||
		fail "restore: rc $?"
	echo "$out" | sed -n 1p | grep -qx provisioned || fail "provisioned: $out"
	echo "$out" | sed -n 2p | grep -qx from-host || fail "put: $out"
	echo "$out" | sed -n 3p | grep -q '^voidbox-[0-9a-f]\{6\}$' ||
		fail "clone hostname: $out"
	out=$("$VB" exec --snapshot base --hostname named-clone -- hostname) ||
		fail "rc $?"
	[ "$out" = named-clone ] || fail "--hostname: $out"
	# Exit codes are the command's, as for a cold exec.
	"$VB" exec --snapshot base -- sh -c 'exit 7'
	[ $? = 7 ] || fail "exit code"
	# The wall clock is the host's, not the snapshot's.
	sleep 3
	g=$("$VB" exec --snapshot base -- date +%s) || fail "date"
	h=$(date +%s)
	[ $((h - g)) -le 2 ] && [ $((g - h)) -le 2 ] || fail "clock: guest $g host $h"
	;;
clones-20)
	# 20 clones of one snapshot, 4 at a time: each its own RNG output,
	# hostname, MAC and boot-time identity; none sees another's files.
	"$VB" snapshot create c20 --memory 256 --no-tools --network \
		>/dev/null 2>"$T/e" || fail "create: $(cat "$T/e")"
	i=0
	while [ $i -lt 20 ]; do
		for j in 1 2 3 4; do
			n=$((i + j))
			"$VB" exec --snapshot c20 -- sh -c "
				head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo
				hostname; cat /sys/class/net/eth0/address
				ls /tmp/mine-* 2>/dev/null | wc -l
				echo $n >/tmp/mine-$n" >"$T/c$n" 2>"$T/ce$n" &
		done
		wait
		i=$((i + 4))
	done
	for n in $(seq 1 20); do
		[ "$(wc -l <"$T/c$n")" = 4 ] || fail "clone $n: $(cat "$T/c$n" "$T/ce$n")"
		[ "$(sed -n 4p "$T/c$n")" = 0 ] || fail "clone $n sees another's file"
	done
	for k in 1 2 3; do
		u=$(for n in $(seq 1 20); do sed -n ${k}p "$T/c$n"; done | sort -u | wc -l)
		[ "$u" = 20 ] || fail "line $k: only $u distinct of 20: $(for n in 1 2 3; do sed -n ${k}p "$T/c$n"; done)"
	done
	;;
damaged)
	# A damaged snapshot is refused (exit 125) naming what is wrong; so
	# is one whose disk changed, and a name that is not there.
	"$VB" snapshot create dmg --memory 128 --no-tools >/dev/null 2>"$T/e" ||
		fail "create: $(cat "$T/e")"
	f="$VOIDBOX_DATA_DIR/snapshots/dmg/vm.snap"
	# a byte in guest RAM (the middle of the file)
	sz=$(wc -c <"$f")
	printf 'X' | dd of="$f" bs=1 seek=$((sz / 2 + 4097)) conv=notrunc 2>/dev/null
	"$VB" exec --snapshot dmg -- true 2>"$T/e"
	rc=$?
	[ $rc = 125 ] || fail "damaged RAM: exit $rc"
	grep -q "damaged memory" "$T/e" || fail "damaged RAM: $(cat "$T/e")"
	# a byte in the header
	"$VB" snapshot rm dmg || fail "rm"
	"$VB" snapshot create dmg --memory 128 --no-tools >/dev/null 2>&1 || fail "create 2"
	printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null
	"$VB" exec --snapshot dmg -- true 2>"$T/e"
	[ $? = 125 ] && grep -q "damaged header" "$T/e" || fail "header: $(cat "$T/e")"
	"$VB" exec --snapshot nosuch -- true 2>"$T/e"
	[ $? = 125 ] && grep -q "no such snapshot" "$T/e" || fail "missing: $(cat "$T/e")"
	# a disk that changed under the snapshot
	dd if=/dev/zero of="$T/disk" bs=1M count=4 2>/dev/null
	"$VB" snapshot create withdisk --memory 128 --no-tools --disk "$T/disk:ro" \
		>/dev/null 2>"$T/e" || fail "create withdisk: $(cat "$T/e")"
	echo changed >>"$T/disk"
	"$VB" exec --snapshot withdisk -- true 2>"$T/e"
	[ $? = 125 ] && grep -q "changed since the snapshot" "$T/e" || fail "disk: $(cat "$T/e")"
	# what cannot be snapshotted, or restored, says so
	mkdir "$T/share"
	"$VB" snapshot create m --no-tools --mount "$T/share:/mnt/s" 2>"$T/e"
	[ $? != 0 ] && grep -q "shared directories" "$T/e" || fail "mount: $(cat "$T/e")"
	"$VB" snapshot create v --no-tools --disk "$T/disk" 2>"$T/e"
	[ $? != 0 ] && grep -q "writable" "$T/e" || fail "rw disk: $(cat "$T/e")"
	"$VB" exec --snapshot withdisk --network -- true 2>"$T/e"
	[ $? = 125 ] && grep -q "no network device" "$T/e" || fail "net: $(cat "$T/e")"
	"$VB" exec --snapshot withdisk --no-tools -- true 2>"$T/e"
	[ $? = 2 ] || fail "--no-tools with --snapshot accepted"
	"$VB" snapshot ls | grep -q '^m \|^v ' && fail "refused snapshots listed"
	true
	;;
kill9)
	# kill -9 while the snapshot is being written (its file has bytes)
	# leaves nothing named: no snapshot, and the half-written directory
	# is gone by the next ls.
	"$VB" snapshot create big --memory 512 --no-tools -- sh -c \
		'yes voidbox-fills-its-memory | head -c 80000000 >/tmp/fill' \
		>/dev/null 2>"$T/e" &
	pid=$!
	i=0
	while [ $i -lt 6000 ]; do
		[ -s "$(ls -d "$VOIDBOX_DATA_DIR"/snapshots/.tmp-big-*/vm.snap 2>/dev/null | head -1)" ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.02; i=$((i + 1))
	done
	kill -9 $pid 2>/dev/null || fail "the create ended before it was killed: $(cat "$T/e")"
	wait $pid 2>/dev/null
	[ $i -lt 6000 ] || fail "no snapshot being written seen"
	[ ! -e "$VOIDBOX_DATA_DIR/snapshots/big" ] || fail "a killed create left big"
	sleep 1	# the VMM follows its orchestrator (PDEATHSIG)
	"$VB" snapshot ls >"$T/ls" 2>&1 || fail "ls: $(cat "$T/ls")"
	grep -q '^big ' "$T/ls" && fail "big listed"
	ls -a "$VOIDBOX_DATA_DIR/snapshots" | grep -q '^\.tmp-' &&
		fail "stale .tmp- left: $(ls -a "$VOIDBOX_DATA_DIR/snapshots")"
	# and a create after it works
	"$VB" snapshot create big --memory 128 --no-tools >/dev/null 2>"$T/e" ||
		fail "create after: $(cat "$T/e")"
	true
	;;
*)
	fail "unknown check $1"
	;;
esac
