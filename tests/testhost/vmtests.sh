#!/bin/sh
# tests/testhost/vmtests.sh NAME: one check of real Linux guests on our VMM,
# run inside the nested test host (busybox sh). vm.batch has one line per
# check; the L1 runner reports each line's exit status (0 pass, else fail).
# The payload directory holds the voidbox binary under test.
VB=${VB:-/payload/voidbox/voidbox}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PD=/payload/voidbox/ptydrive	# a terminal driven by a script
expect_rc() { # WANT CMD...: run, compare the exit status
	want=$1; shift
	"$@"; rc=$?
	[ "$rc" = "$want" ] || fail "exit $rc, want $want: $*"
}

# hostile_net ALLOW MARK ARGS...: run /payload/voidbox/hostilenet ARGS as
# root in a guest allowed ALLOW with --max-conns 16, in the background, and
# read the VMM's fd count once the program starts (a) and once it prints a
# line starting with MARK (b, while what it opened is still held); then
# rc, and r = that line. field KEY reads "KEY value" pairs out of r.
hostile_net() {
	allow=$1 mark=$2; shift 2
	"$VB" exec --user root --put /payload/voidbox/hostilenet:/workspace/hostilenet \
		--allow "$allow" --max-conns 16 --timeout 240 -- sh -c "
		chmod +x /workspace/hostilenet; echo start; sleep 3
		/workspace/hostilenet $*" >"$T/o" 2>"$T/e" &
	vpid=$!
	fds() { ls /proc/$(ps -o pid,args | awk '/[_]_vmm/ { print $1; exit }')/fd 2>/dev/null | wc -l; }
	i=0; while ! grep -qs start "$T/o" && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
	sleep 1; a=$(fds)
	i=0; while ! grep -qs "^$mark" "$T/o" && [ $i -lt 900 ]; do sleep 0.2; i=$((i + 1)); done
	sleep 1; b=$(fds)
	wait $vpid; rc=$?
	r=$(grep "^$mark" "$T/o")
}
field() { echo "$r" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }

case $1 in
exit-codes)
	expect_rc 0 "$VB" exec -- true
	expect_rc 3 "$VB" exec -- sh -c 'exit 3'
	expect_rc 127 "$VB" exec -- no-such-command-here
	;;
signals)
	expect_rc 137 "$VB" exec -- sh -c 'kill -9 $$'
	expect_rc 143 "$VB" exec -- sh -c 'kill -TERM $$'
	;;
stdout-stderr)
	"$VB" exec -- sh -c 'echo to-out; echo to-err >&2' >"$T/o" 2>"$T/e" || fail "rc $?"
	[ "$(cat "$T/o")" = to-out ] || fail "stdout: $(cat "$T/o")"
	grep -qx to-err "$T/e" || fail "stderr: $(cat "$T/e")"
	! grep -q to-err "$T/o" || fail "stderr leaked into stdout"
	;;
output-20mb)
	# The guest hashes what it sends; every byte must arrive.
	"$VB" exec --memory 512 -- sh -c 'head -c 20971520 /dev/urandom >/tmp/x; sha256sum </tmp/x >&2; cat /tmp/x' \
		>"$T/out" 2>"$T/err" || fail "rc $?"
	want=$(grep -o '^[0-9a-f]\{64\}' "$T/err")
	got=$(sha256sum <"$T/out" | cut -d' ' -f1)
	[ "$(wc -c <"$T/out")" = 20971520 ] || fail "got $(wc -c <"$T/out") bytes"
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "sha256 $got, guest says $want"
	;;
stdin-roundtrip)
	head -c 5000000 /dev/urandom >"$T/in"
	"$VB" exec -- cat <"$T/in" >"$T/out" || fail "rc $?"
	cmp -s "$T/in" "$T/out" || fail "stdin/stdout differ ($(wc -c <"$T/out") bytes back)"
	;;
env-cwd-user)
	out=$("$VB" exec --env FOO=bar --workdir /tmp -- sh -c 'echo $FOO; pwd; id -u') || fail "rc $?"
	[ "$out" = "$(printf 'bar\n/tmp\n1000')" ] || fail "got: $out"
	out=$("$VB" exec --user root -- id -u) || fail "rc $?"
	[ "$out" = 0 ] || fail "root: $out"
	;;
timeout-kills-tree)
	t0=$(date +%s)
	expect_rc 124 "$VB" exec --timeout 2 -- sh -c 'sleep 100 & sleep 100'
	t1=$(date +%s)
	[ $((t1 - t0)) -lt 30 ] || fail "took $((t1 - t0)) s"
	;;
allowlist)
	expect_rc 126 "$VB" exec --allow-cmd ls -- sh -c true
	expect_rc 0 "$VB" exec --allow-cmd ls -- ls /
	;;
vcpus-memory)
	out=$("$VB" exec --vcpus 2 --memory 1024 -- sh -c 'nproc; grep MemTotal /proc/meminfo') || fail "rc $?"
	[ "$(echo "$out" | head -1)" = 2 ] || fail "nproc: $out"
	kb=$(echo "$out" | awk '/MemTotal/ { print $2 }')
	[ "$kb" -gt 900000 ] && [ "$kb" -le 1048576 ] || fail "MemTotal $kb kB"
	;;
files-20mb)
	head -c 20971520 /dev/urandom >"$T/big"
	out=$("$VB" exec --put "$T/big:/workspace/big" --get "/workspace/big:$T/back" -- sha256sum /workspace/big) || fail "rc $?"
	want=$(sha256sum <"$T/big" | cut -d' ' -f1)
	[ "${out%% *}" = "$want" ] || fail "guest sha $out, want $want"
	cmp -s "$T/big" "$T/back" || fail "file came back different"
	;;
disk-ro-rw)
	head -c 4194304 /dev/urandom >"$T/ro.img"
	cp "$T/ro.img" "$T/rw.img"
	cp "$T/ro.img" "$T/ro.orig"
	out=$("$VB" exec --user root --disk "$T/ro.img:ro" --disk "$T/rw.img" -- sh -c \
		'sha256sum </dev/vda; echo written | dd of=/dev/vdb bs=512 seek=1 conv=notrunc 2>/dev/null; sync; dd if=/dev/zero of=/dev/vda bs=512 count=1 2>/dev/null && echo ro-write-succeeded; exit 0') || fail "rc $?"
	[ "${out%% *}" = "$(sha256sum <"$T/ro.img" | cut -d' ' -f1)" ] || fail "vda read: $out"
	! echo "$out" | grep -q ro-write-succeeded || fail "read-only disk was writable"
	[ "$(dd if="$T/rw.img" bs=512 skip=1 count=1 2>/dev/null | head -c 7)" = written ] || fail "rw write lost"
	cmp -s "$T/ro.img" "$T/ro.orig" || fail "ro image changed"
	;;
concurrent-8)
	"$VB" __vmtest concurrent 8 || fail "see above"
	;;
parallel-3-vms)
	for i in 1 2 3; do "$VB" exec -- sh -c "sleep 1; echo vm$i" >"$T/p$i" & done
	wait
	for i in 1 2 3; do [ "$(cat "$T/p$i")" = "vm$i" ] || fail "vm$i: $(cat "$T/p$i")"; done
	;;
auth-garbage)
	"$VB" __vmtest auth || fail "see above"
	;;
vsock-flood)
	"$VB" __vmtest flood || fail "see above"
	;;
kill-vmm)
	"$VB" exec -- sleep 60 >"$T/o" 2>"$T/e" &
	pid=$!
	i=0
	# busybox in L1 has no pgrep: find the VMM child in ps.
	vmm_pid() { ps -o pid,args | awk '/[_]_vmm/ { print $1 }'; }
	while [ -z "$(vmm_pid)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 3
	[ -n "$(vmm_pid)" ] || fail "no VMM process found"
	kill -9 $(vmm_pid)
	wait $pid; rc=$?
	[ $rc = 123 ] || fail "exit $rc, want 123; stderr: $(cat "$T/e")"
	grep -q "killed by signal 9" "$T/e" || fail "unclear message: $(cat "$T/e")"
	[ -z "$(vmm_pid)" ] || fail "VMM left behind"
	;;
hostname)
	# The first knob added through the one VM configuration: flag and
	# spec key both reach the guest; a bad name never boots anything.
	out=$("$VB" exec -- cat /proc/sys/kernel/hostname) || fail "rc $?"
	[ "$out" = voidbox ] || fail "default hostname: $out"
	out=$("$VB" exec --hostname builder-7 -- cat /proc/sys/kernel/hostname) || fail "rc $?"
	[ "$out" = builder-7 ] || fail "--hostname: $out"
	expect_rc 2 "$VB" exec --hostname 'no spaces' -- true
	cat >"$T/h.yaml" <<-'EOT'
	api_version: v1
	kind: workflow
	name: wfh
	sandbox: {memory_mb: 256, mode: local, hostname: from-spec}
	workflow:
	  steps:
	    - {name: h, run: {program: cat, args: [/proc/sys/kernel/hostname]}}
	EOT
	"$VB" run --file "$T/h.yaml" >"$T/o" 2>"$T/e" || fail "spec: $(cat "$T/e")"
	[ "$(cat "$T/o")" = from-spec ] || fail "sandbox.hostname: $(cat "$T/o")"
	;;
mounts)
	# Shared directories (virtio-fs, host/fs/): read the host's file,
	# write new ones (owned on the host by the user running voidbox,
	# here root), rename across directories, a ro mount refuses writes,
	# a host symlink to outside means the guest's own /etc/passwd, a
	# missing rw directory is created, a missing ro one is an error.
	mkdir -p "$T/repo" "$T/ref"
	echo host-text >"$T/repo/a.txt"
	echo ref-text >"$T/ref/r.txt"
	ln -s /etc/passwd "$T/repo/escape"
	echo "L1-ONLY-SECRET" >/etc/l1-secret
	ln -s /etc/l1-secret "$T/repo/escape2"
	"$VB" exec --mount "$T/repo:/workspace/repo:rw" --mount "$T/ref:/ref" \
		--mount "$T/made:/made:rw" -- sh -c '
		cat /workspace/repo/a.txt
		echo guest-text >/workspace/repo/b.txt
		mkdir -p /workspace/repo/d/e && echo deep >/workspace/repo/d/e/f
		mv /workspace/repo/b.txt /workspace/repo/d/b2.txt
		echo "owner $(stat -c %u /workspace/repo/a.txt) me $(id -u)"
		echo x >/ref/new 2>/dev/null && echo ro-write-succeeded
		touch /ref/r.txt 2>/dev/null && echo ro-touch-succeeded
		cat /ref/r.txt
		echo "link $(readlink /workspace/repo/escape)"
		cat /workspace/repo/escape2 2>&1 | head -1
		echo made >/made/m.txt
		dd if=/dev/zero of=/workspace/repo/big bs=1M count=8 2>/dev/null
		sync; echo done' >"$T/o" 2>"$T/e" || fail "rc $?: $(cat "$T/e")"
	# The VMM's own confinement of its file access (share_host.c).
	if grep -q "Landlock unavailable" "$T/e"; then
		echo "note: this L1 kernel has no Landlock: $(grep -m1 Landlock "$T/e")"
	else
		echo "Landlock domain applied (no warning from the VMM)"
	fi
	for want in host-text "owner 1000 me 1000" ref-text "link /etc/passwd" done; do
		grep -qx "$want" "$T/o" || fail "no '$want' in: $(cat "$T/o")"
	done
	! grep -q -e succeeded -e L1-ONLY-SECRET "$T/o" || fail "ro or symlink: $(cat "$T/o")"
	[ "$(cat "$T/repo/d/b2.txt")" = guest-text ] || fail "renamed file on the host"
	[ "$(cat "$T/repo/d/e/f")" = deep ] || fail "nested file on the host"
	[ ! -e "$T/repo/b.txt" ] && [ ! -e "$T/ref/new" ] || fail "stale or ro file"
	[ "$(stat -c %u "$T/repo/d/b2.txt")" = "$(id -u)" ] || fail "owner on the host"
	[ "$(stat -c %s "$T/repo/big")" = 8388608 ] || fail "8 MiB write: $(stat -c %s "$T/repo/big")"
	[ "$(cat "$T/made/m.txt")" = made ] || fail "rw directory not created"
	"$VB" exec --mount "$T/absent:/x" -- true 2>"$T/e2"; rc=$?
	[ $rc != 0 ] && grep -q "needs an existing directory" "$T/e2" || fail "ro absent: rc $rc $(cat "$T/e2")"
	"$VB" exec --mount "$T/repo:/proc/x" -- true 2>"$T/e3"; rc=$?
	[ $rc = 2 ] && grep -q "system directory" "$T/e3" || fail "bad guest path: rc $rc $(cat "$T/e3")"
	;;
volumes)
	# Named volumes outlive their VMs: written by one exec, read by the
	# next; one writer at a time; listed and removed on the host.
	export VOIDBOX_DATA_DIR="$T/data"
	out=$("$VB" exec --volume cache:/cache:64 -- sh -c \
		'echo first >/cache/a && stat -c "%U %s" /cache/a') || fail "first: $out"
	[ "$out" = "agent 6" ] || fail "first write: $out"
	[ "$(stat -c %s "$T/data/volumes/cache.img")" = 67108864 ] || fail "size: $(ls -l "$T/data/volumes")"
	out=$("$VB" exec --volume cache:/other -- cat /other/a) || fail "second: $out"
	[ "$out" = first ] || fail "not persistent: $out"
	"$VB" exec --volume cache:/cache -- sleep 30 >"$T/o1" 2>"$T/e1" &
	p1=$!
	i=0; while ! "$VB" volume ls | grep -q "^cache .*in-use" && [ $i -lt 200 ]; do sleep 0.2; i=$((i + 1)); done
	"$VB" exec --volume cache:/cache -- true 2>"$T/e2"; rc=$?
	[ $rc != 0 ] && grep -q "in use by another VM" "$T/e2" || fail "second writer: rc $rc $(cat "$T/e2")"
	"$VB" volume rm cache 2>"$T/e3" && fail "removed a volume in use"
	grep -q "in use" "$T/e3" || fail "rm message: $(cat "$T/e3")"
	kill $p1; wait $p1
	# The lock goes with the VMM's last fd: it may take a moment to exit.
	i=0; while "$VB" volume ls | grep -q "^cache .*in-use" && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
	"$VB" --output json volume ls | grep -q '"name":"cache","size_mb":64' || fail "ls json: $("$VB" --output json volume ls)"
	"$VB" volume rm cache || fail "rm"
	[ ! -e "$T/data/volumes/cache.img" ] || fail "still there"
	"$VB" volume rm nosuch 2>/dev/null && fail "rm of nothing succeeded"
	"$VB" exec --volume "../x:/v" -- true 2>/dev/null && fail "bad name accepted"
	;;
mounts-property)
	# A seeded random sequence of file operations (mkdir, append,
	# overwrite, rename, remove, symlink, hard link, chmod, rmdir -r)
	# run in the guest through the share: afterwards the tree the guest
	# sees and the tree on the host are the same, name by name (type,
	# mode, size, links, content).
	mkdir -p "$T/p/w"
	awk -v seed="${SEED:-$(date +%s)}" 'BEGIN {
		srand(seed); print "# seed " seed; print "cd /p/w"
		for (i = 0; i < 300; i++) {
			op = int(rand() * 10); a = "n" int(rand() * 25)
			b = "n" int(rand() * 25); d = "d" int(rand() * 4)
			if (op == 0) print "mkdir -p " d
			else if (op == 1) print "mkdir -p " d "; echo " i " >>" d "/" a
			else if (op == 2) print "printf %0" int(rand() * 9000) "d 0 >" a
			else if (op == 3) print "mkdir -p " d "; mv -f " a " " d "/" b " 2>/dev/null"
			else if (op == 4) print "rm -f " d "/" a " " a " 2>/dev/null"
			else if (op == 5) print "ln -sfn ../" a " " d "-" b ".l 2>/dev/null"
			else if (op == 6) print "mkdir -p " d "; ln " a " " d "/" b ".h 2>/dev/null"
			else if (op == 7) print "chmod " (rand() < 0.5 ? 600 : 755) " " a " 2>/dev/null"
			else if (op == 8 && rand() < 0.2) print "rm -rf " d
			else print "echo " i " >" a
		}
		print "true" }' >"$T/p/ops.sh"
	manifest='cd "$1" && find . | sort | while read -r f; do
		if [ -L "$f" ]; then echo "$f L $(readlink "$f")"
		elif [ -d "$f" ]; then echo "$f D $(stat -c %a "$f")"
		else echo "$f F $(stat -c "%a %s %h" "$f") $(md5sum <"$f" | cut -c1-32)"; fi
	done'
	printf '%s
' "$manifest" >"$T/p/manifest.sh"
	"$VB" exec --mount "$T/p:/p:rw" --timeout 400 -- sh -c \
		'sh /p/ops.sh && sh /p/manifest.sh /p/w' >"$T/guest" 2>"$T/e" || fail "rc $?: $(tail -5 "$T/e")"
	sh "$T/p/manifest.sh" "$T/p/w" >"$T/host"
	[ "$(wc -l <"$T/host")" -gt 10 ] || fail "tiny tree: $(cat "$T/host")"
	cmp -s "$T/guest" "$T/host" || fail "trees differ ($(head -1 "$T/p/ops.sh")): $(diff "$T/guest" "$T/host" | head -10)"
	echo "$(wc -l <"$T/host") entries alike ($(head -1 "$T/p/ops.sh"))"
	;;
mounts-rmrf)
	# `rm -rf` of a git-shaped tree (two 600-entry directories, 256
	# object directories) through a share on L1's tmpfs, whose directory
	# offsets on Linux 6.1 are positions that shift under unlinks: the
	# server must list by its own stable offsets or rmdir fails with
	# "Directory not empty".
	mkdir -p "$T/r/t/objects" "$T/r/t/a" "$T/r/t/b"
	names='BEGIN { for (i = 0; i < 600; i++)
		printf "f%04d-%s\n", i, substr("abcdefghijklmnopqrstuvwxyz0123456789", 1, i % 36) }'
	( cd "$T/r/t/a" && awk "$names" | xargs touch ) &&
	( cd "$T/r/t/b" && awk "$names" | xargs touch ) &&
	( cd "$T/r/t/objects" && awk 'BEGIN { for (i = 0; i < 256; i++) printf "%02x\n", i }' |
		xargs mkdir && for d in *; do : >"$d/obj"; done ) || fail "making the tree"
	"$VB" exec --mount "$T/r:/r:rw" --timeout 240 -- \
		sh -c 'rm -rf /r/t && echo removed' >"$T/o" 2>"$T/e"; rc=$?
	[ $rc = 0 ] && grep -q removed "$T/o" ||
		fail "rm -rf in the guest: exit $rc: $(grep -v '^\[vm' "$T/e" | head -5)"
	[ ! -e "$T/r/t" ] || fail "left on the host: $(find "$T/r/t" | wc -l) entries"
	echo "rm -rf of 1,457 entries through the share: ok"
	;;
mounts-kill9)
	# kill -9 of the VMM while the guest writes: every file the guest
	# reported fsync'ed is on the host, whole.
	mkdir -p "$T/k"
	"$VB" exec --mount "$T/k:/k:rw" --timeout 300 -- sh -c '
		i=0; while :; do
			head -c 65536 /dev/urandom >/k/f$i.tmp
			dd if=/k/f$i.tmp of=/k/f$i bs=65536 conv=fsync 2>/dev/null
			sha256sum </k/f$i | cut -c1-64 >/k/f$i.sum; sync
			echo "synced $i"; i=$((i + 1))
		done' >"$T/o" 2>"$T/e" &
	pid=$!
	i=0; while ! grep -q "^synced 15$" "$T/o" && [ $i -lt 1500 ]; do sleep 0.2; i=$((i + 1)); done
	vmm=$(ps -o pid,args | awk '/[_]_vmm/ { print $1; exit }')
	[ -n "$vmm" ] || fail "no VMM"
	kill -9 "$vmm"; wait $pid
	last=$(sed -n 's/^synced //p' "$T/o" | tail -1)
	[ "${last:-0}" -ge 15 ] || fail "only $last files synced: $(tail -3 "$T/e")"
	j=0; while [ $j -le "$last" ]; do
		[ "$(sha256sum <"$T/k/f$j" | cut -c1-64)" = "$(cat "$T/k/f$j.sum")" ] ||
			fail "f$j differs after kill -9 (last synced $last)"
		j=$((j + 1))
	done
	echo "kill -9 after $last synced files: all $((last + 1)) intact"
	;;
mounts-hostile)
	# A guest (root) against its share: a host-side swap of a directory
	# with a symlink to outside while the guest reads through it, a
	# directory of MOUNTS_MANY entries (20,000 in make check; 100,000 in
	# make check-long), 3,000 files open at once, a 64 MiB
	# file written (fsync) and read back cold (".." never reaches the server: the
	# guest kernel resolves it; tests/unit/test_fsrv.c sends it). The
	# host stays confined and the VMM responsive; its memory is reported.
	mkdir -p "$T/h/many" "$T/out"
	echo L1-SECRET >"$T/out/s"
	mkdir "$T/h/d" && echo inside >"$T/h/d/s"
	ln -s "$T/out" "$T/h/l"
	many=${MOUNTS_MANY:-20000}
	( cd "$T/h/many" && i=0 && while [ $i -lt $((many / 1000)) ]; do
		awk -v i=$i 'BEGIN { for (j = 0; j < 1000; j++) print "f" i "-" j }' |
			xargs touch; i=$((i + 1)); done )
	( while [ ! -e "$T/stop" ]; do
		mv "$T/h/l" "$T/h/race" 2>/dev/null; mv "$T/h/race" "$T/h/l" 2>/dev/null
		mv "$T/h/d" "$T/h/race" 2>/dev/null; mv "$T/h/race" "$T/h/d" 2>/dev/null
	  done ) &
	swapper=$!
	"$VB" exec --user root --memory 512 --timeout 500 --mount "$T/h:/h:rw" -- sh -c '
		i=0 in=0 out=0
		while [ $i -lt 300 ]; do
			case $(cat /h/race/s 2>/dev/null) in
			inside) in=$((in + 1)) ;; L1-SECRET) out=$((out + 1)) ;; esac
			i=$((i + 1))
		done
		echo "race inside $in outside $out"
		set -- /h/many/*; echo "entries $#"
		echo "stat $(ls -l /h/many/f1-* /h/many/f9-* | wc -l)"
		mkdir -p /h/fds && cd /h/fds && i=0
		while [ $i -lt 3000 ]; do echo x >f$i; i=$((i + 1)); done
		ulimit -n 8192
		sh -c "i=3; while [ \$i -lt 3003 ]; do eval \"exec \$i</h/fds/f\$((i - 3))\"; i=\$((i + 1)); done; ls /proc/self/fd | wc -l" 2>&1 | tail -1 | sed "s/^/open-fds /"
		dd if=/dev/zero of=/h/big bs=1M count=64 conv=fsync 2>/dev/null
		echo 3 >/proc/sys/vm/drop_caches
		echo "read $(dd if=/h/big bs=1M 2>/dev/null | wc -c)"
		echo done' >"$T/o" 2>"$T/e"; rc=$?
	: >"$T/stop"; wait $swapper
	[ $rc = 0 ] || fail "rc $rc: $(tail -5 "$T/e")"
	cat "$T/o"
	grep -q "^race inside [1-9][0-9]* outside 0$" "$T/o" || fail "race: $(grep race "$T/o")"
	grep -qx "entries $((many / 1000 * 1000))" "$T/o" || fail "$many entries: $(grep entries "$T/o")"
	grep -qx "stat 2000" "$T/o" || fail "stat of 2000: $(grep ^stat "$T/o")"
	n=$(sed -n 's/^open-fds //p' "$T/o")
	[ "${n:-0}" -ge 3000 ] || fail "3000 open files: $n"
	grep -qx "read 67108864" "$T/o" || fail "64 MiB read back: $(grep ^read "$T/o")"
	cmp -s -n 67108864 /dev/zero "$T/h/big" && [ "$(stat -c %s "$T/h/big")" = 67108864 ] ||
		fail "64 MiB file differs on the host"
	grep -q "^done$" "$T/o" || fail "no done"
	;;
workflow)
	# kind: workflow, every step in one real VM: stdin_from, a failing
	# step skipping its dependant while an independent step still runs,
	# result.json as the output, exit 1 naming the step.
	cat >"$T/wf.yaml" <<-'EOT'
	api_version: v1
	kind: workflow
	name: wf
	sandbox: {memory_mb: 256, mode: local}
	workflow:
	  steps:
	    - {name: fetch, run: {program: echo, args: [hello]}}
	    - {name: up, depends_on: [fetch], run: {program: tr, args: [a-z, A-Z], stdin_from: fetch}}
	    - {name: save, depends_on: [up], run: {program: sh, args: ["-c", "cat > /workspace/up.txt; echo saved"]}}
	EOT
	"$VB" run --file "$T/wf.yaml" --output json >"$T/o" 2>"$T/e" || fail "ok workflow: $(cat "$T/e")"
	grep -q '"output":	*"saved' "$T/o" || fail "output: $(cat "$T/o")"
	cat >"$T/wf2.yaml" <<-'EOT'
	api_version: v1
	kind: workflow
	name: wf2
	sandbox: {memory_mb: 256, mode: local}
	workflow:
	  steps:
	    - {name: a, run: {program: sh, args: ["-c", "echo from-a"]}}
	    - {name: broken, depends_on: [a], run: {program: sh, args: ["-c", "echo oops >&2; exit 3"]}}
	    - {name: after, depends_on: [broken], run: {program: echo, args: [never]}}
	    - {name: other, depends_on: [a], run: {program: sh, args: ["-c", "echo '{\"r\": 1}' > /workspace/result.json"]}}
	  output_step: a
	EOT
	"$VB" run --file "$T/wf2.yaml" --output json >"$T/o2" 2>"$T/e2"; rc=$?
	[ $rc = 1 ] || fail "failing workflow exit $rc: $(cat "$T/e2")"
	grep -q '"failed_step":	*"broken"' "$T/o2" || fail "failed step: $(cat "$T/o2")"
	grep -q 'exit 3: oops' "$T/o2" || fail "error text: $(cat "$T/o2")"
	tr -d '\n\t ' <"$T/o2" | grep -q '"name":"after","status":"skipped"' || fail "dependant not skipped"
	tr -d '\n\t ' <"$T/o2" | grep -q '"name":"other","status":"ok"' || fail "independent step did not run"
	;;
serve-kill9)
	# voidbox serve with a real VM: a workflow run in flight when the
	# daemon is killed -9 goes with it (PDEATHSIG: the run process, then
	# its VMM); the next daemon finds it and marks it interrupted; a
	# cancel stops a running VM run; the history is intact (runs, logs
	# without a daemon).
	export VOIDBOX_STORE=$T/h.db XDG_RUNTIME_DIR=$T/run
	mkdir -p "$T/run" && chmod 700 "$T/run"
	A=$T/api.sock
	cat >"$T/slow.yaml" <<-'EOT'
	api_version: v1
	kind: workflow
	name: slow
	sandbox: {memory_mb: 256, mode: local}
	workflow:
	  steps:
	    - {name: wait, run: {program: sh, args: ["-c", "echo started; sleep 300"]}}
	EOT
	vmm_pid() { ps -o pid,args | awk '/[_]_vmm/ { print $1 }'; }
	start_daemon() {
		"$VB" serve --socket "$A" >>"$T/serve.log" 2>&1 &
		sv=$!
		i=0; while [ ! -S "$A" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	}
	start_daemon
	id=$(VOIDBOX_DAEMON=$A "$VB" run --detach --file "$T/slow.yaml") || fail "submit: $(tail -3 "$T/serve.log")"
	i=0; while [ -z "$(vmm_pid)" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -n "$(vmm_pid)" ] || fail "no VMM started"
	sleep 8
	kill -9 $sv
	i=0; while [ -n "$(vmm_pid)" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	[ -z "$(vmm_pid)" ] || fail "VMM left behind after kill -9 of the daemon"
	ps -o pid,args | grep -q '[r]un --file' && fail "run process left behind"
	start_daemon
	"$VB" --output json runs show "$id" | tr -d ' \n\t' | grep -q '"state":"interrupted"' ||
		fail "not marked interrupted: $("$VB" runs show "$id" 2>&1)"
	id2=$(VOIDBOX_DAEMON=$A "$VB" run --detach --file "$T/slow.yaml")
	i=0; while [ -z "$(vmm_pid)" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 8	# the guest boots, the step starts
	VOIDBOX_DAEMON=$A "$VB" cancel "$id2" || fail "cancel"
	VOIDBOX_DAEMON=$A "$VB" logs -f "$id2" 2>"$T/l2" || fail "logs -f"
	grep -q '\[run\] cancelled' "$T/l2" || fail "not cancelled: $(tail -3 "$T/l2")"
	sleep 1
	[ -z "$(vmm_pid)" ] || fail "VMM left behind after cancel"
	kill $sv; wait $sv
	"$VB" runs ls | grep -q "$id *interrupted" || fail "runs ls: $("$VB" runs ls 2>&1)"
	;;
interrupt)
	# SIGINT to a running `voidbox run` stops every VM: exit 130, the
	# report still printed, no VMM left behind.
	cat >"$T/slow.yaml" <<-'EOT'
	api_version: v1
	kind: workflow
	name: slow
	sandbox: {memory_mb: 256, mode: local}
	workflow:
	  steps:
	    - {name: wait, run: {program: sleep, args: ["300"]}}
	EOT
	"$VB" run --file "$T/slow.yaml" >"$T/o" 2>"$T/e" &
	pid=$!
	vmm_pid() { ps -o pid,args | awk '/[_]_vmm/ { print $1 }'; }
	i=0; while [ -z "$(vmm_pid)" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 8	# let the guest boot and the step start
	kill -INT $pid
	wait $pid; rc=$?
	[ $rc = 130 ] || fail "exit $rc, want 130: $(cat "$T/e")"
	grep -q 'interrupted' "$T/e" || fail "no interruption message: $(cat "$T/e")"
	sleep 1
	[ -z "$(vmm_pid)" ] || fail "VMM left behind"
	;;
net-none)
	# No network asked for: no NIC at all.
	"$VB" exec -- sh -c 'test ! -e /sys/class/net/eth0' || fail "eth0 exists without --network"
	;;
net-policy)
	# A host service on L1's loopback (what slirp's 10.0.2.2 maps to).
	mkdir -p "$T/www" && echo net-ok >"$T/www/x"
	busybox httpd -p 127.0.0.1:18080 -h "$T/www" || fail "httpd"
	# 1. --network (internet): host loopback and metadata refused at once
	# (RST): connect() timed inside bash, no process start in the way,
	# three tries each, the median must be under 50 ms even under TCG.
	"$VB" exec --network -- bash -c '
		t() { s=${EPOCHREALTIME/./}
			if : 2>/dev/null 3<>/dev/tcp/$1/$2; then echo LEAK; fi
			e=${EPOCHREALTIME/./}; echo "refused-us $1 $((e - s))"; }
		for i in 1 2 3; do t 10.0.2.2 18080; t 169.254.169.254 80; done
		wget -q -O - http://10.0.2.2:18080/x && echo LEAK; true' >"$T/o1" 2>"$T/e1"
	grep -q LEAK "$T/o1" && fail "reached a refused address: $(cat "$T/o1")"
	for dst in 10.0.2.2 169.254.169.254; do
		m=$(awk -v d=$dst '$1 == "refused-us" && $2 == d { print $3 }' "$T/o1" | sort -n | sed -n 2p)
		[ -n "$m" ] && [ "$m" -lt 50000 ] || fail "refusal of $dst: median ${m:-?} us; $(cat "$T/o1") $(tail -3 "$T/e1")"
		echo "info: refusing $dst took $((m / 1000)).$((m / 100 % 10)) ms (median of 3, TCG)"
	done
	grep -q 'deny tcp 10.0.2.2:18080' "$T/e1" || fail "no deny event: $(cat "$T/e1")"
	grep -q 'deny tcp 169.254.169.254:80' "$T/e1" || fail "no metadata deny event: $(cat "$T/e1")"
	# 2. An explicit rule: the forward to the host service works.
	"$VB" exec --allow 10.0.2.2:18080 -- wget -q -O - http://10.0.2.2:18080/x >"$T/o2" 2>"$T/e2"
	grep -qx net-ok "$T/o2" || fail "allowed forward failed: $(tail -5 "$T/e2")"
	# 3. Names: the allowed name resolves (static hosts entry) and works;
	# a sibling name gets NXDOMAIN; another resolver is denied.
	"$VB" exec --allow svc.test:18080 --host svc.test=10.0.2.2 -- sh -c '
		wget -q -O - http://svc.test:18080/x
		nslookup other.test >/dev/null 2>&1 && echo OTHER-RESOLVED
		nslookup svc.test 9.9.9.9 >/dev/null 2>&1 && echo FOREIGN-DNS' >"$T/o3" 2>"$T/e3"
	grep -qx net-ok "$T/o3" || fail "allowed name failed: $(cat "$T/o3") $(tail -5 "$T/e3")"
	grep -q OTHER-RESOLVED "$T/o3" && fail "sibling name resolved"
	grep -q FOREIGN-DNS "$T/o3" && fail "foreign resolver answered"
	grep -q 'deny udp 9.9.9.9:53' "$T/e3" || fail "no foreign-dns deny event: $(grep net: "$T/e3" | head)"
	# 4. A 4 MB transfer guest -> host through the forward (TCG makes
	# this ~200 KB/s; size is not the point), checksummed on both ends.
	# The receiver's stdin stays open so it does not hang up first.
	(sleep 150 | busybox nc -l -p 18090 >"$T/recv") &
	"$VB" exec --allow 10.0.2.2:18090 -- sh -c 'head -c 4194304 /dev/urandom > /tmp/blob
		md5sum < /tmp/blob | cut -d" " -f1; nc 10.0.2.2 18090 < /tmp/blob; sleep 2' >"$T/o4" 2>"$T/e4"
	i=0; while [ "$(stat -c %s "$T/recv" 2>/dev/null)" != 4194304 ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
	[ "$(md5sum <"$T/recv" | cut -d" " -f1)" = "$(sed -n 1p "$T/o4")" ] ||
		fail "transfer: $(stat -c %s "$T/recv") bytes, checksum mismatch; $(tail -3 "$T/e4")"
	pkill -f "sleep 150" 2>/dev/null
	# 5. Publish: a guest service on a host loopback port.
	"$VB" exec --publish 18081:8000 -- sh -c 'mkdir -p /tmp/w; echo pub-ok > /tmp/w/index.html; httpd -p 8000 -h /tmp/w; sleep 20' >/dev/null 2>"$T/e5" &
	vpid=$!
	i=0; got=""
	while [ $i -lt 30 ] && [ "$got" != pub-ok ]; do sleep 1; got=$(wget -q -O - http://127.0.0.1:18081/ 2>/dev/null); i=$((i + 1)); done
	wait $vpid
	[ "$got" = pub-ok ] || fail "published port unreachable: $(tail -3 "$T/e5")"
	;;
net-forward)
	# Guest->host forwards: the guest's 10.0.2.2:8000 and 192.0.2.7:80
	# reach L1 services on 127.0.0.1 and 127.0.0.2 (NAT in the VMM); the
	# host ports themselves stay closed to the guest.
	mkdir -p "$T/www" && echo fwd-ok >"$T/www/x"
	busybox httpd -p 127.0.0.1:18085 -h "$T/www" || fail "httpd"
	busybox httpd -p 127.0.0.2:18086 -h "$T/www" || fail "httpd 2"
	"$VB" -v exec --forward 10.0.2.2:8000=127.0.0.1:18085 \
		--forward 192.0.2.7:80=127.0.0.2:18086 -- sh -c '
		wget -q -O - http://10.0.2.2:8000/x
		wget -q -O - http://192.0.2.7/x
		wget -q -O - http://10.0.2.2:18085/x && echo DIRECT-LEAK
		wget -q -O - http://10.0.2.2:18086/x && echo DIRECT-LEAK' >"$T/o" 2>"$T/e"
	[ "$(grep -c fwd-ok "$T/o")" = 2 ] || fail "forwards: $(cat "$T/o") $(tail -5 "$T/e")"
	grep -q LEAK "$T/o" && fail "a host port was reachable without a forward"
	grep -q 'allow tcp 10.0.2.2:8000 forward' "$T/e" || fail "no forward event: $(grep net: "$T/e")"
	grep -q 'deny tcp 10.0.2.2:18085' "$T/e" || fail "no deny event for the direct port"
	;;
net-resolver)
	# Allowed names not in the hosts map are asked of the host's resolver
	# (a test DNS server on L1's loopback, VOIDBOX_RESOLVER); only they
	# reach it: denied names get NXDOMAIN from the VMM and never leave.
	mkdir -p "$T/www" && echo dns-ok >"$T/www/x"
	busybox httpd -p 127.0.0.1:18084 -h "$T/www" || fail "httpd"
	# slow.test's first question is dropped: the VMM must ask again
	# after 1 s, under a fresh id, and still answer the guest.
	TESTDNSD_LOG=$T/asked TESTDNSD_DROP=slow.test /payload/voidbox/testdnsd 127.0.0.1 5353 \
		web.test=192.0.2.80 api.svc.test=192.0.2.81 slow.test=192.0.2.82 2>"$T/dnsd.err" &
	dpid=$!
	i=0; while ! grep -q listening "$T/dnsd.err" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	VOIDBOX_RESOLVER=127.0.0.1:5353 "$VB" exec --allow web.test:80 \
		--allow '*.svc.test:443' --allow slow.test:443 \
		--forward 192.0.2.80:80=127.0.0.1:18084 -- sh -c '
		nslookup web.test | grep -q 192.0.2.80 && echo NAME-OK
		wget -q -O - http://web.test/x
		nslookup api.svc.test | grep -q 192.0.2.81 && echo WILD-OK
		nslookup -type=a slow.test | grep -q 192.0.2.82 && echo RETRY-OK
		nslookup secret-data.evil.test >/dev/null 2>&1 && echo EVIL-RESOLVED
		nslookup other.test >/dev/null 2>&1 && echo OTHER-RESOLVED
		nslookup missing.svc.test >/dev/null 2>&1 && echo MISSING-RESOLVED
		true' >"$T/o" 2>"$T/e"
	kill $dpid 2>/dev/null
	grep -qx NAME-OK "$T/o" || fail "allowed name not resolved upstream: $(cat "$T/o") $(grep net: "$T/e" | tail -5)"
	grep -qx dns-ok "$T/o" || fail "allowed name unreachable: $(tail -5 "$T/e")"
	grep -qx WILD-OK "$T/o" || fail "wildcard name not resolved"
	grep -q RESOLVED "$T/o" && fail "a name resolved that should not: $(cat "$T/o")"
	grep -qx web.test "$T/asked" || fail "upstream never asked: $(cat "$T/asked")"
	grep -qx missing.svc.test "$T/asked" || fail "allowed wildcard name not asked"
	grep -q 'evil\|other' "$T/asked" && fail "a denied name reached the resolver: $(cat "$T/asked")"
	grep -qx RETRY-OK "$T/o" || fail "no answer after a dropped question: $(grep slow "$T/dnsd.err")"
	ids=$(awk '/slow.test type 1 id/ { print $6 }' "$T/dnsd.err" | sort -u | wc -l)
	[ "$ids" -ge 2 ] || fail "the retry reused the query id: $(grep slow "$T/dnsd.err")"
	;;
net-limits)
	mkdir -p "$T/www" && echo lim-ok >"$T/www/x"
	busybox httpd -p 127.0.0.1:18087 -h "$T/www" || fail "httpd"
	# 1. Rate: 2 new connections a second; a burst of 10 gets refusals
	# (RST at once, not a timeout) and a rate-limit event.
	"$VB" exec --allow 10.0.2.2:18087 --conn-rate 2 -- sh -c '
		i=0; while [ $i -lt 10 ]; do
			wget -q -O /dev/null http://10.0.2.2:18087/x && echo OK || echo REFUSED
			i=$((i + 1)); done' >"$T/o1" 2>"$T/e1"
	ok=$(grep -c OK "$T/o1"); ref=$(grep -c REFUSED "$T/o1")
	[ "$ok" -ge 2 ] && [ "$ref" -ge 1 ] || fail "rate limit: $ok ok, $ref refused"
	grep -q 'deny tcp 10.0.2.2:18087 rate-limit' "$T/e1" || fail "no rate-limit event: $(grep net: "$T/e1" | tail -3)"
	# 2. Cap: one open connection (held by nc) and a second one is
	# refused; once it closes, connecting works again.
	(sleep 60 | busybox nc -l -p 18088 >/dev/null) &
	"$VB" exec --allow 10.0.2.2:18087 --allow 10.0.2.2:18088 --max-conns 1 -- sh -c '
		sleep 600 | nc 10.0.2.2 18088 & p=$!
		sleep 3
		wget -q -O /dev/null http://10.0.2.2:18087/x && echo SECOND-OK || echo SECOND-REFUSED
		kill $p; sleep 2
		wget -q -O /dev/null http://10.0.2.2:18087/x && echo THIRD-OK || echo THIRD-REFUSED' >"$T/o2" 2>"$T/e2"
	grep -qx SECOND-REFUSED "$T/o2" || fail "cap not enforced: $(cat "$T/o2")"
	grep -qx THIRD-OK "$T/o2" || fail "closed connection not given back: $(cat "$T/o2") $(grep net: "$T/e2" | tail -3)"
	grep -q 'connection-limit' "$T/e2" || fail "no connection-limit event"
	pkill -f "sleep 60" 2>/dev/null
	;;
net-bulk)
	# ${2:-200} MiB guest -> host through a forward: a random 1 MiB block
	# sent N times over one connection (bash's /dev/tcp and cat: large
	# writes, so the guest's TSO segments are used), every 1 MiB chunk
	# received checked against the block's sum — any loss, duplication
	# or reordering shows.
	mb=${2:-200}
	(sleep 3000 | busybox nc -l -p 18092 >"$T/recv") &
	t0=$(date +%s)
	"$VB" exec --memory 512 --forward 10.0.2.2:9000=127.0.0.1:18092 -- bash -c "
		head -c 1048576 /dev/urandom > /tmp/b
		md5sum < /tmp/b | cut -d' ' -f1
		exec 3>/dev/tcp/10.0.2.2/9000
		for i in \$(seq $mb); do cat /tmp/b >&3 || exit 1; done
		exec 3>&-" >"$T/o" 2>"$T/e" || fail "exec: $(tail -3 "$T/e")"
	want=$((mb * 1048576))
	i=0; while [ "$(stat -c %s "$T/recv" 2>/dev/null)" != $want ] && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
	t=$(($(date +%s) - t0))
	got=$(stat -c %s "$T/recv")
	pkill -f "sleep 3000" 2>/dev/null
	[ "$got" = $want ] || fail "bulk: $got of $want bytes; $(tail -3 "$T/e")"
	sum=$(sed -n 1p "$T/o"); i=0
	while [ $i -lt $mb ]; do
		c=$(dd if="$T/recv" bs=1048576 skip=$i count=1 2>/dev/null | md5sum | cut -d" " -f1)
		[ "$c" = "$sum" ] || fail "bulk: MiB $i differs"
		i=$((i + 1))
	done
	echo "info: $mb MiB guest->host in $t s incl. boot (nested TCG), every MiB checked"
	rm -f "$T/recv"
	;;
hostile-net-flood)
	# A guest hammering the network: 2,000 connects to a refused address
	# and a 300-connection burst past its cap to an allowed one. Each is
	# refused at once (no timeouts), the decision log stays bounded, the
	# VMM keeps serving the exec, and the host service is unaffected.
	mkdir -p "$T/www" && echo flood-ok >"$T/www/x"
	busybox httpd -p 127.0.0.1:18093 -h "$T/www" || fail "httpd"
	t0=$(date +%s)
	"$VB" exec --allow 10.0.2.2:18093 --max-conns 8 --timeout 240 -- bash -c '
		i=0; while [ $i -lt 2000 ]; do : 2>/dev/null 3<>/dev/tcp/169.254.169.254/80; i=$((i + 1)); done
		echo refused-done
		for i in $(seq 300); do exec {fd}<>/dev/tcp/10.0.2.2/18093 2>/dev/null || true; done
		echo burst-done
		wget -q -O - http://10.0.2.2:18093/x 2>/dev/null || echo "capped (all 8 held)"' >"$T/o" 2>"$T/e"; rc=$?
	[ $rc = 0 ] || fail "exec rc $rc: $(tail -3 "$T/e")"
	grep -qx refused-done "$T/o" && grep -qx burst-done "$T/o" || fail "flood did not finish: $(cat "$T/o")"
	grep -q "capped" "$T/o" || fail "cap not holding: $(cat "$T/o")"
	n=$(grep -c 'net: ' "$T/e")
	[ "$n" -le 1002 ] || fail "decision log unbounded: $n lines"
	grep -q 'no more logged' "$T/e" || fail "no log-bound notice ($n lines)"
	echo "info: flood took $(($(date +%s) - t0)) s, $n log lines"
	[ "$(wget -q -O - http://127.0.0.1:18093/x)" = flood-ok ] || fail "host service hurt"
	"$VB" exec -- true || fail "the next VM failed"
	;;
net-churn)
	# 1,000 short connections in a row: all succeed, and the VMM holds no
	# more file descriptors afterwards than after the first few.
	mkdir -p "$T/www" && echo churn >"$T/www/x"
	busybox httpd -p 127.0.0.1:18089 -h "$T/www" || fail "httpd"
	"$VB" exec --allow 10.0.2.2:18089 -- sh -c '
		get() { wget -q -O /dev/null http://10.0.2.2:18089/x || f=$((f + 1)); }
		f=0; i=0; while [ $i -lt 10 ]; do get; i=$((i + 1)); done
		echo warm; sleep 4
		while [ $i -lt 1000 ]; do get; i=$((i + 1)); done
		echo "done $i failed $f"; sleep 25' >"$T/o" 2>"$T/e" &
	vpid=$!
	fds() { ls /proc/$(ps -o pid,args | awk '/[_]_vmm/ { print $1; exit }')/fd 2>/dev/null | wc -l; }
	i=0; while ! grep -q warm "$T/o" && [ $i -lt 600 ]; do sleep 0.5; i=$((i + 1)); done
	sleep 2; a=$(fds)
	i=0; while ! grep -q done "$T/o" && [ $i -lt 1800 ]; do sleep 0.5; i=$((i + 1)); done
	# slirp keeps a closed connection's socket through TIME_WAIT (2 MSL,
	# 10 s): count after that
	sleep 15; b=$(fds)
	wait $vpid
	grep -q 'done 1000 failed 0' "$T/o" || fail "churn: $(cat "$T/o") $(tail -3 "$T/e")"
	echo "info: VMM fds after 10 connections: $a, after 1000: $b"
	[ "$a" -gt 0 ] && [ "$b" -le $((a + 2)) ] || fail "fd leak: $a -> $b"
	;;
hostile-net-rst-churn)
	# A root guest's bogus RSTs (review 2, M5): 300 real connects to an
	# allowed host service, each followed by an RST far outside slirp's
	# window, forged on a raw socket (tests/net/hostilenet.c). slirp
	# drops such an RST and keeps its host socket, so it must not free a
	# slot of --max-conns 16: past 16 the guest is refused at once, and
	# the VMM holds no more than 16 more fds while they are all kept.
	# Then real in-window RSTs (SO_LINGER 0) do give the slots back.
	mkdir -p "$T/www" && echo rst-ok >"$T/www/x"
	busybox httpd -p 127.0.0.1:18094 -h "$T/www" || fail "httpd"
	t0=$(date +%s)
	hostile_net 10.0.2.2:18094 held rst-churn 10.0.2.2 18094 300 6
	echo "info: $r; VMM fds $a before, $b while held; $(($(date +%s) - t0)) s"
	[ $rc = 0 ] || fail "exec rc $rc: $(cat "$T/o") $(tail -3 "$T/e")"
	held=$(field held); ref=$(field refused)
	[ "${held:-0}" -ge 1 ] && [ "$held" -le 16 ] || fail "held ${held:-?} connections past --max-conns 16: $r"
	[ "$(field bogus-rst)" = "$held" ] || fail "a bogus RST was not sent for each held connection: $r"
	[ "${ref:-0}" -ge 250 ] || fail "only ${ref:-0} refusals (ECONNREFUSED) past the cap: $r"
	[ "$a" -gt 0 ] && [ "$b" -le $((a + 16 + 4)) ] || fail "VMM fds $a -> $b with 16 allowed"
	grep -q 'connection-limit' "$T/e" || fail "no connection-limit event: $(grep net: "$T/e" | tail -3)"
	grep -qx 'after-release ok' "$T/o" || fail "in-window RSTs did not give the slots back: $(tail -1 "$T/o")"
	echo "info: $(grep -c 'connection-limit' "$T/e") refusals logged, e.g. $(grep -m1 'connection-limit' "$T/e")"
	"$VB" exec -- true || fail "the next VM failed"
	;;
hostile-net-ping-flood)
	# A root guest's ICMP echo flood (review 2, M5) to an allowed address
	# that never answers: 192.0.2.0/24 is routed on-link out of L1's eth0,
	# where nobody answers ARP, so nothing leaves L1 and slirp's ping
	# socket (allowed to L1's root group here; its UDP fallback would
	# see the ARP failure and close) waits its full 240 s. Every request
	# is a socket: past --max-conns 16 (or the rate) the guest gets ICMP
	# unreachable at once and the VMM's fds stay bounded.
	ip route add 192.0.2.0/24 dev eth0 || fail "route"
	pgr=$(cat /proc/sys/net/ipv4/ping_group_range)
	trap 'ip route del 192.0.2.0/24 dev eth0; echo "$pgr" >/proc/sys/net/ipv4/ping_group_range; rm -rf "$T"' EXIT
	echo "0 2147483647" >/proc/sys/net/ipv4/ping_group_range
	t0=$(date +%s)
	hostile_net 192.0.2.1 sent ping 192.0.2.1 300 6
	echo "info: $r; VMM fds $a before, $b after; ping_group_range was $pgr; $(($(date +%s) - t0)) s"
	[ $rc = 0 ] || fail "exec rc $rc: $(cat "$T/o") $(tail -3 "$T/e")"
	[ "$(field sent)" = 300 ] || fail "sent $(field sent) of 300"
	[ "$(field replies)" = 0 ] || fail "$(field replies) replies from a black hole"
	un=$(field unreach)
	[ "${un:-0}" -ge 250 ] || fail "only ${un:-0} refusals (ICMP unreachable) of 300: $r"
	[ "$a" -gt 0 ] && [ "$b" -le $((a + 16 + 4)) ] || fail "VMM fds $a -> $b with 16 allowed"
	grep -q 'deny icmp.*\(connection-limit\|rate-limit\)' "$T/e" || fail "no limit event: $(grep net: "$T/e" | tail -3)"
	echo "info: $(grep -c 'deny icmp' "$T/e") refusals logged, e.g. $(grep -m1 'deny icmp' "$T/e")"
	"$VB" exec -- true || fail "the next VM failed"
	;;
hostile-net-udp-spoof)
	# Inbound UDP (review 2, M1): the guest sends to an allowed L1 port;
	# a spoofer in L1 learns slirp's host socket from that datagram and
	# sends to it from another port (127.0.0.1:18096, the guest's
	# 10.0.2.2:18096). Replying there must be denied: only flows the
	# guest opened and published ports lead back.
	/payload/voidbox/hostilenet udp-spoof 18095 18096 30 >"$T/sp" 2>&1 &
	spid=$!
	"$VB" exec --user root --put /payload/voidbox/hostilenet:/workspace/hostilenet \
		--allow 10.0.2.2:18095 -- sh -c '
		chmod +x /workspace/hostilenet
		/workspace/hostilenet udp-guest 10.0.2.2 18095 18096' >"$T/o" 2>"$T/e"; rc=$?
	sleep 1; kill $spid 2>/dev/null
	echo "info: guest: $(cat "$T/o" | tr '\n' ' '); spoofer: $(cat "$T/sp" | tr '\n' ' ')"
	[ $rc = 0 ] || fail "exec rc $rc: $(tail -3 "$T/e")"
	grep -q '^slirp-port' "$T/sp" || fail "the allowed datagram never reached L1"
	grep -q 'sent-to-spoofer' "$T/o" || fail "guest did not finish: $(cat "$T/o")"
	grep -q SPOOF-REACHED "$T/sp" && fail "the guest reached the spoofer's port: $(cat "$T/sp")"
	grep -q 'deny udp 10.0.2.2:18096' "$T/e" || fail "no deny event: $(grep net: "$T/e" | tail -3)"
	echo "info: $(grep -m1 'deny udp 10.0.2.2:18096' "$T/e")"
	;;
sandbox-kind)
	# kind: sandbox boots, answers, holds until SIGINT, then exits 0.
	printf 'api_version: v1\nkind: sandbox\nname: sb\nsandbox: {memory_mb: 256}\n' >"$T/sb.yaml"
	export VOIDBOX_DATA_DIR=$T/data	# the holder writes snapshots there
	"$VB" run --file "$T/sb.yaml" >"$T/o" 2>"$T/e" &
	pid=$!
	i=0; while ! grep -q 'Ctrl-C to stop' "$T/e" && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
	grep -qx ready "$T/o" || fail "no ready: $(cat "$T/e")"
	# voidbox cp in and out of the held VM (its attach socket).
	head -c 300000 /dev/urandom >"$T/in.bin"
	"$VB" cp "$T/in.bin" sb:/workspace/in.bin || fail "cp in"
	"$VB" cp sb:/workspace/in.bin "$T/back.bin" || fail "cp out"
	cmp -s "$T/in.bin" "$T/back.bin" || fail "cp round trip differs"
	"$VB" cp "$T/in.bin" sb:/etc/passwd 2>"$T/cpe" && fail "cp outside the allowed roots worked"
	"$VB" cp "$T/in.bin" nosuch:/workspace/x 2>"$T/cpe2"; [ $? = 1 ] || fail "cp to a missing sandbox"
	grep -q "no running sandbox 'nosuch'" "$T/cpe2" || fail "unclear: $(cat "$T/cpe2")"
	# A snapshot of the running sandbox (its holder takes it; the VM
	# carries on): a clone has what was put in, the sandbox still serves.
	"$VB" snapshot create fromsb --from sb >"$T/so" 2>"$T/se" || fail "snapshot --from: $(cat "$T/se")"
	[ "$(cat "$T/so")" = fromsb ] || fail "snapshot --from printed: $(cat "$T/so")"
	"$VB" exec --snapshot fromsb -- cat /workspace/in.bin >"$T/clone.bin" 2>"$T/ce" ||
		fail "exec from the sandbox's snapshot: $(cat "$T/ce")"
	cmp -s "$T/in.bin" "$T/clone.bin" || fail "the clone lacks what the sandbox had"
	"$VB" cp sb:/workspace/in.bin "$T/back2.bin" && cmp -s "$T/in.bin" "$T/back2.bin" ||
		fail "the sandbox stopped serving after its snapshot"
	"$VB" snapshot create x --from nosuch 2>"$T/se2"; [ $? = 1 ] || fail "--from a missing sandbox"
	grep -q "no running sandbox 'nosuch'" "$T/se2" || fail "unclear: $(cat "$T/se2")"
	# voidbox attach: a command in the held VM (no terminal here: the
	# session still gets a guest terminal), its status passed through.
	"$VB" attach sb -- sh -c 'tty; echo via-attach; exit 6' </dev/null >"$T/ao" 2>"$T/ae"; rc=$?
	[ $rc = 6 ] || fail "attach -- CMD: exit $rc: $(cat "$T/ae")"
	grep -q via-attach "$T/ao" && grep -q /dev/pts "$T/ao" || fail "attach output: $(cat "$T/ao")"
	kill -INT $pid; wait $pid; rc=$?
	[ $rc = 0 ] || fail "exit $rc: $(cat "$T/e")"
	[ -z "$(ps -o pid,args | awk '/[_]_vmm/ { print $1 }')" ] || fail "VMM left behind"
	;;
shell-tty)
	# voidbox shell: a real terminal in the guest, typed at through a
	# pseudo-terminal here (ptydrive): its size at start and after a
	# resize, ^C and ^Z reach the guest's jobs, the exit status passes
	# through, our terminal's settings come back as they were.
	cat >"$T/s" <<'EOF'
send echo READY-$((1+1))\r
expect READY-2
send stty size\r
expect 30 100
resize 40 132
send stty size\r
expect 40 132
send [ -t 0 ] && [ -t 2 ] && echo TTY-$((3+4)); tty\r
expect TTY-7
expect /dev/pts/
send sleep 100; echo NOT-$((9*9))\r
sleep 2000
send \x03
send echo rc=$?\r
expect rc=130
send sleep 70\r
sleep 2000
send \x1a
expect Stopped
# wait reaps it: typed right after the kill, `exit` could otherwise find
# the job still marked stopped ("There are stopped jobs.") and not exit
# (seen once under load).
send kill -9 %1; wait %1 2>/dev/null; echo JOB-$((4+4))\r
expect JOB-8
send exit 7\r
wait 7
termios-same
EOF
	$PD -s 30x100 -t 300 -o "$T/tty1" "$T/s" -- "$VB" shell || fail "shell session (above)"
	grep -q NOT-81 "$T/tty1" && fail "^C did not interrupt the sleep"
	# ^D at an empty prompt ends the shell (exit 0). It waits for the
	# prompt: a ^D typed while the shell still has the terminal in
	# canonical mode between commands can be lost to the mode switch.
	printf 'send echo R-$((2+2))\\r\nexpect R-4\nexpect $ \nsleep 1000\nsend \\x04\nwait 0\ntermios-same\n' >"$T/s2"
	$PD -t 300 "$T/s2" -- "$VB" shell || fail "^D session (above)"
	# A command given runs on the terminal; its status is ours; so for
	# exec --tty.
	printf 'expect /dev/pts/\nwait 3\ntermios-same\n' >"$T/s3"
	$PD -t 300 "$T/s3" -- "$VB" shell -- sh -c 'tty; exit 3' || fail "shell -- CMD (above)"
	printf 'expect 20 60\nwait 0\n' >"$T/s4"
	$PD -s 20x60 -t 300 "$T/s4" -- "$VB" exec --tty -- stty size || fail "exec --tty (above)"
	;;
shell-bulk)
	# A terminal program's bursts (a redraw of a full screen) arrive
	# whole: 2,000,000 bytes with no newline, in ten bursts, then more
	# after a pause; the exit status after them.
	printf 'expect DONE-\nwait 9\n' >"$T/s"
	$PD -t 300 -o "$T/bulk" "$T/s" -- "$VB" shell -- sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do head -c 150000 /dev/zero | tr "\0" a; sleep 0.2; done; sleep 2; head -c 500000 /dev/zero | tr "\0" b; echo DONE-; exit 9' ||
		fail "bulk session (above)"
	a=$(tr -cd a <"$T/bulk" | wc -c); b=$(tr -cd b <"$T/bulk" | wc -c)
	[ "$a" -ge 1500000 ] && [ "$b" -ge 500000 ] || fail "got $a a and $b b, want 1500000 and 500000"
	;;
shell-kill9)
	# The VMM killed -9 under a shell session: voidbox says so (exit
	# 123) and our terminal is back as it was.
	cat >"$T/s" <<'EOF'
send echo UP-$((5+5))\r
expect UP-10
sh kill -9 $(ps -o pid,args | awk '/[_]_vmm/ { print $1; exit }')
wait 123
termios-same
EOF
	$PD -t 300 -o "$T/tty" "$T/s" -- "$VB" shell || fail "kill -9 session (above)"
	;;
attach-twice)
	# Two `voidbox attach` sessions in a `voidbox shell`'s VM at once
	# (each waits for the other's file), a detach and a re-attach to the
	# same session, a command through attach, a missing VM.
	cat >"$T/hs" <<EOF
send echo H-\$((1+1))\\r
expect H-2
sh while [ ! -f $T/done ]; do sleep 0.5; done
send exit 0\\r
wait 0
EOF
	$PD -t 900 -o "$T/h" "$T/hs" -- "$VB" shell --name att1 >"$T/hout" 2>&1 &
	hp=$!
	i=0; while ! grep -q H-2 "$T/h" 2>/dev/null && [ $i -lt 1500 ]; do sleep 0.2; i=$((i + 1)); done
	for me in b c; do
		other=$([ $me = b ] && echo c || echo b)
		cat >"$T/$me.s" <<EOF
send echo $me >/tmp/$me; while [ ! -f /tmp/$other ]; do sleep 0.2; done; echo BOTH-\$((2*2))\\r
expect BOTH-4
send exit 0\\r
wait 0
termios-same
EOF
	done
	$PD -t 300 "$T/b.s" -- "$VB" attach att1 >"$T/bo" 2>&1 &
	bp=$!
	$PD -t 300 "$T/c.s" -- "$VB" attach att1 >"$T/co" 2>&1 || fail "attach c: $(cat "$T/co")"
	wait $bp || fail "attach b: $(cat "$T/bo")"
	cat >"$T/d.s" <<'EOF'
send export X=keep-$((5*5)); echo SET-$((1+0))\r
expect SET-1
send \x1d
wait 0
termios-same
EOF
	$PD -t 300 -o "$T/d" "$T/d.s" -- "$VB" attach att1 || fail "detach (above)"
	id=$(grep -o 'session [0-9]* goes on' "$T/d" | awk '{ print $2 }')
	[ -n "$id" ] || fail "no session id at detach: $(cat "$T/d")"
	printf 'send echo X=$X\\r\nexpect X=keep-25\nsend exit 4\\r\nwait 4\n' >"$T/e.s"
	$PD -t 300 "$T/e.s" -- "$VB" attach att1 --session "$id" || fail "re-attach (above)"
	"$VB" attach nosuch -- true </dev/null 2>"$T/ne"; [ $? = 1 ] || fail "attach to a missing VM"
	grep -q "no running sandbox 'nosuch'" "$T/ne" || fail "unclear: $(cat "$T/ne")"
	touch "$T/done"
	wait $hp || fail "holder shell: $(tail -5 "$T/hout")"
	;;
hostile-fork-bomb)
	# A fork bomb as the unprivileged user: bounded by the timeout, the
	# VM's process limit keeps the agent serving, the stage ends 124.
	t0=$(date +%s)
	"$VB" exec --timeout 5 -- sh -c 'echo before; b() { b | b & }; b; sleep 100' >"$T/o" 2>"$T/e"; rc=$?
	[ $rc = 124 ] || fail "exit $rc, want 124; $(tail -3 "$T/e")"
	grep -qx before "$T/o" || fail "output before the bomb lost"
	[ $(($(date +%s) - t0)) -lt 90 ] || fail "took too long"
	;;
hostile-memory)
	# Memory exhaustion inside a 256 MiB VM: the kernel's OOM killer
	# picks the hog (never PID 1, the agent), the exec ends by signal.
	"$VB" exec --memory 256 -- sh -c 'echo before; x=a; while :; do x=$x$x$x$x; done' >"$T/o" 2>"$T/e"; rc=$?
	[ $rc = 137 ] || [ $rc = 134 ] || [ $rc = 1 ] || fail "exit $rc; $(tail -3 "$T/e")"
	grep -qx before "$T/o" || fail "output before the hog lost"
	out=$("$VB" exec --memory 256 -- echo after) || fail "next VM failed"
	[ "$out" = after ] || fail "next VM: $out"
	;;
hostile-disk-fill)
	# Filling /tmp and /workspace (tmpfs, bounded by guest RAM) fails the
	# writer with ENOSPC; the agent keeps serving and reports the status.
	out=$("$VB" exec --memory 256 -- sh -c 'dd if=/dev/zero of=/tmp/fill bs=1M 2>/dev/null; dd if=/dev/zero of=/workspace/fill bs=1M 2>/dev/null; echo survived') || true
	[ "$out" = survived ] || fail "got: $out"
	;;
hostile-cpu-spin)
	t0=$(date +%s)
	expect_rc 124 "$VB" exec --vcpus 1 --timeout 3 -- sh -c 'while :; do :; done'
	[ $(($(date +%s) - t0)) -lt 60 ] || fail "timeout not enforced promptly"
	;;
hostile-ignore-sigterm)
	# A process that ignores SIGTERM is still killed by the timeout
	# (SIGKILL to the process group).
	expect_rc 124 "$VB" exec --timeout 3 -- sh -c 'trap "" TERM; echo ready; while :; do sleep 1; done'
	;;
*)
	fail "unknown check $1"
	;;
esac
echo "ok: $1"
