#!/usr/bin/env bash
# tests/testhost/run.sh [OPTIONS] BATCHFILE: run a batch of tests inside an
# L1 Linux that has a real /dev/kvm (see README.md and ARCHITECTURE.md §0).
#
# /dev/kvm on our machines is PVM and cannot run Linux user space, but QEMU's
# TCG emulates AMD SVM well enough for Debian's cloud kernel + kvm-amd. So we
# boot that kernel under `-M q35 -accel tcg -cpu max`, run every test of the
# batch inside it, and turn the serial-console protocol of l1/runner into
# PASS:/FAIL:/SKIP: lines on stdout. Progress and timings go to stderr.
#
# Options:
#   --with-qemu        put Debian's qemu-system-x86_64 (+libs, firmware) in L1
#   --payload DIR      copy DIR to /payload/$(basename DIR) in L1 (repeatable)
#   --timeout S        per-test timeout inside L1 (default 300)
#   --boot-timeout S   time allowed from qemu start to the runner (default 120)
#   --smp N, --mem MB  L1 vCPUs (default 1) and memory (default 2048)
#   --log FILE         also write L1's whole console to FILE
#   --env NAME=VALUE   set NAME in every test's environment (repeatable)
# A broken L1 is infrastructure, not a test result: L1 stalled (no console
# line, not even the runner's 30 s heartbeat, for 150 s), a test's processes
# survived SIGKILL (the runner's TESTHOST-WEDGED), no result came long after
# the runner's own timeout, L1 did not boot to the runner in time, or QEMU
# exited before the runner said it was done (an L1 panic, or QEMU itself
# dying; its status and stderr are printed). Then the
# console's last lines are printed, and the test it broke in and the rest of
# the batch run again in a fresh L1: each test at most once, at most
# TESTHOST_RETRIES (default 3) fresh L1s per batch; the retried test's
# result is the one that counts. A test that hangs
# in a live L1 is a FAIL (the runner's own timeout, rc 124).
# Exit status: 0 only if every test passed (or skipped, rc 77) and the runner
# finished (TESTHOST-DONE).
# Environment (experiments): TESTHOST_L1_CPU (default max), TESTHOST_L1_APPEND
# (extra L1 cmdline, e.g. loglevel=7), TESTHOST_COMPRESS none|gzip|lz4 (none
# boots fastest), VOIDBOX_CACHE (cache root, default ~/.cache/voidbox-build).

# shellcheck source-path=SCRIPTDIR/../.. source=third_party/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../third_party/lib.sh"
# shellcheck source=tests/testhost/build.sh
. "$VB_TOP/tests/testhost/build.sh"

with_qemu=0 test_timeout=300 boot_timeout=120 smp=1 mem=2048 log="" batch=""
payloads=()
extra_env=()

usage()
{
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

parse_args()
{
	while [ $# -gt 0 ]; do
		case $1 in
		--with-qemu) with_qemu=1 ;;
		--payload) payloads+=("${2:?--payload needs a directory}"); shift ;;
		--timeout) test_timeout=${2:?}; shift ;;
		--boot-timeout) boot_timeout=${2:?}; shift ;;
		--smp) smp=${2:?}; shift ;;
		--mem) mem=${2:?}; shift ;;
		--log) log=${2:?}; shift ;;
		--env) extra_env+=("${2:?--env needs NAME=VALUE}"); shift ;;
		-h | --help) usage ;;
		-*) th_say "unknown option $1"; usage ;;
		*) [ -z "$batch" ] || usage; batch=$1 ;;
		esac
		shift
	done
	[ -n "$batch" ] || usage
	[ -f "$batch" ] || die "no batch file $batch"
	local d
	declare -A names=()
	for d in "${payloads[@]}"; do
		[ -d "$d" ] || die "payload $d is not a directory"
		[ -z "${names[$(basename "$d")]:-}" ] || die "two payloads named $(basename "$d")"
		names[$(basename "$d")]=1
	done
}

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }
secs() { printf '%d.%02d' $(($1 / 1000)) $(($1 % 1000 / 10)); }
span() { if [ -n "$1" ] && [ -n "$2" ]; then echo "$(secs $(($2 - $1))) s"; else echo n/a; fi; }

# batch_names: test names of the batch, checked the way l1/runner splits them.
batch_names()
{
	awk '{ sub(/^[ \t]+/, "") } $0 == "" || /^#/ { next } { print $1 }' "$batch" |
		sort | uniq -d | while read -r n; do die "test name $n used twice in $batch"; done
	awk '{ sub(/^[ \t]+/, "") } $0 == "" || /^#/ { next } { print $1 }' "$batch"
}

cleanup()
{
	[ -z "${qpid:-}" ] || { kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; }
	[ -z "${svcpid:-}" ] || { kill "$svcpid" 2>/dev/null || true; wait "$svcpid" 2>/dev/null || true; }
	[ -z "${tmp:-}" ] || rm -rf "$tmp"
}

# start_hostsvc: the outer-host service tests reach at 10.0.2.2:PORT. Python
# takes ~0.2 s to start, so it starts first and wait_hostsvc collects the port.
start_hostsvc()
{
	need_tool python3 python3
	token=testhost-$RANDOM$RANDOM
	python3 "$VB_TOP/tests/testhost/hostsvc.py" "$tmp/port" "$token" </dev/null &
	svcpid=$!
}

wait_hostsvc()
{
	local i
	for i in $(seq 100); do
		[ ! -f "$tmp/port" ] || break
		kill -0 "$svcpid" 2>/dev/null || die "hostsvc.py did not start"
		sleep 0.05
	done
	read -r port <"$tmp/port" || die "hostsvc.py wrote no port"
}

# retry_broken: L1 broke ($stop_reason) during test $cur, or between tests
# if $cur is empty. Say so with the console's last lines, then run $cur and
# every test not yet reported in a fresh L1.
retry_broken()
{
	local i n
	th_say "L1 broke during ${cur:-no test} ($stop_reason); its last console lines:"
	for ((i = nring > 30 ? nring - 30 : 0; i < nring; i++)); do
		echo "  > ${ring[i % 30]}" >&2
	done
	[ ! -s "$tmp/qemu.err" ] || sed 's/^/  qemu: /' "$tmp/qemu.err" | tail -10 >&2
	if [ -n "$cur" ]; then
		echo "STALL: $cur ($stop_reason; retried in a fresh L1)"
	elif [ -z "$t_ready" ]; then
		echo "STALL: L1 boot ($stop_reason; retried in a fresh L1)"
	else
		echo "STALL: between tests ($stop_reason; the rest retried in a fresh L1)"
	fi
	: >"$tmp/rest.batch"
	while read -r n; do
		[ -n "${reported[$n]:-}" ] ||
			awk -v n="$n" '{ sub(/^[ \t]+/, "") } $1 == n { print; exit }' \
				"$batch" >>"$tmp/rest.batch"
	done < <(batch_names)
	th_say "retrying $(wc -l <"$tmp/rest.batch") tests in a fresh L1"
	cur="" done_seen=0 fatal="" stop_reason="" broken=0 t_ready="" t_done=""
	nring=0 ring=() panic=""
	build_initrd "$tmp/rest.batch"
	run_l1
}

# build_initrd BATCH: the base (+qemu) layers from the cache, plus this
# run's layer with BATCH.
build_initrd()
{
	local base qemu_dir="" b=$1
	base=$(th_build_base)
	kernel=$base/vmlinuz
	[ "$with_qemu" = 0 ] || qemu_dir=$(th_build_qemu)
	wait_hostsvc
	cat >"$tmp/env" <<-EOT
		TESTHOST_TEST_TIMEOUT=$test_timeout
		TESTHOST_HOST=10.0.2.2
		TESTHOST_HTTP_PORT=$port
		TESTHOST_HTTP_TOKEN=$token
	EOT
	local kv
	for kv in "${extra_env[@]}"; do
		case $kv in
		*\'*) die "--env $kv: no single quotes, please" ;;
		[A-Za-z_]*=*) printf "%s='%s'\n" "${kv%%=*}" "${kv#*=}" >>"$tmp/env" ;;
		*) die "--env $kv: want NAME=VALUE" ;;
		esac
	done
	cp "$base/base.cpio" "$tmp/initrd"
	[ "$with_qemu" = 0 ] || cat "$qemu_dir/qemu.cpio" >>"$tmp/initrd"
	th_build_run_layer "$tmp/initrd" "$b" "$tmp/env" "${payloads[@]}"
	case ${TESTHOST_COMPRESS:-none} in
	none) ;;
	gzip) gzip -1 "$tmp/initrd" && mv "$tmp/initrd.gz" "$tmp/initrd" ;;
	lz4) lz4 -l -q --rm "$tmp/initrd" "$tmp/initrd.lz4" && mv "$tmp/initrd.lz4" "$tmp/initrd" ;;
	esac
}

# report NAME RC MS: one test's result line in the project's convention.
report()
{
	local name=$1 rc=$2 ms=$3 l
	reported[$name]=1
	th_say "$name: rc $rc in $(secs "$ms") s"
	case $rc in
	0) echo "PASS: $name"; npass=$((npass + 1)); return ;;
	77) echo "SKIP: $name"; nskip=$((nskip + 1)); return ;;
	124) echo "FAIL: $name (timeout after $test_timeout s)" ;;
	*)	# The test's own first reason, on the line summaries keep.
		local why=""
		for l in "${out[@]}"; do
			case $l in *FAIL:*) why=": ${l#*FAIL: }"; break ;; esac
		done
		echo "FAIL: $name (rc $rc${why:0:200})" ;;
	esac
	nfail=$((nfail + 1))
	for l in "${out[@]}"; do echo "  | $l"; done
}

# on_line LINE: one line of L1's console.
on_line()
{
	local line=$1 n rc ms rest
	ring[nring % 30]=$line
	nring=$((nring + 1))
	[ -z "$log" ] || printf '%s\n' "$line" >>"$log"
	case $line in
	"TESTHOST-INFO "*) th_say "L1: ${line#TESTHOST-INFO }"
		rest=${line#*modules_ms=}; [ "$rest" = "$line" ] || mod_ms=${rest%% *} ;;
	"TESTHOST-FATAL "*) fatal=${line#TESTHOST-FATAL } ;;
	TESTHOST-READY)
		t_ready=$(now_ms)
		th_say "L1 up in $(secs $((t_ready - t_qemu))) s (qemu start → runner)"
		deadline=$((SECONDS + 60)); phase="waiting for the next test" ;;
	"TESTHOST-BEGIN "*)
		cur=${line#TESTHOST-BEGIN }; out=()
		# The runner's watchdog ends a test within ~45 s of its timeout.
		deadline=$((SECONDS + test_timeout + 120)); phase="test $cur gave no result" ;;
	"TESTHOST-RESULT "*)
		read -r _ n rc ms <<<"$line"
		report "$n" "$rc" "$ms"; cur=""
		deadline=$((SECONDS + 60)); phase="waiting for the next test" ;;
	*"Kernel panic - not syncing: "*)
		panic=${line#*Kernel panic - not syncing: } ;;
	"TESTHOST-ALIVE "*) ;;	# heartbeat: last_line moved, that is all
	"TESTHOST-KMSG "*) ;;	# kernel warnings: in the log and the ring
	"TESTHOST-WEDGED "*)
		broken=1 stop_reason="the test's processes survived SIGKILL" ;;
	TESTHOST-DONE)
		done_seen=1; t_done=$(now_ms)
		deadline=$((SECONDS + 30)); phase="L1 did not power off" ;;
	"  | "*)
		[ -n "$cur" ] || return 0
		out+=("${line#  | }")
		case ${line#  | } in "TESTHOST-METRIC "*)
			read -r _ n rest <<<"${line#  | }"
			metrics+=("$cur: $n = $rest")
			th_say "metric $cur: $n = $rest" ;;
		esac ;;
	esac
}

# qemu_exited: the console ended before TESTHOST-DONE. The runner's own
# TESTHOST-FATAL is a verdict (a broken payload fails the same way again);
# otherwise L1 broke (an L1 panic reboots and -no-reboot ends QEMU; or QEMU
# died), at boot or under a test, and the batch goes on in a fresh L1 (a
# boot that fails every time costs TESTHOST_RETRIES short boots, no more).
qemu_exited()
{
	local qrc=0 why
	wait "$qpid" 2>/dev/null || qrc=$?
	qpid=""
	why="qemu exited with status $qrc"
	[ "$qrc" -le 128 ] || why="qemu killed by signal $((qrc - 128))"
	[ -z "$panic" ] || why="L1 kernel panic: $panic; $why"
	if [ -n "$fatal" ]; then
		stop_reason=$fatal
	else
		stop_reason="L1 stopped unexpectedly ($why)"
		broken=1
	fi
}

# run_l1: boot L1 and follow its console until it ends or a deadline passes.
run_l1()
{
	local accel=tcg fd line rc
	# One TCG thread per vCPU (multi) by default when L1 has several;
	# TESTHOST_TCG_THREAD=single runs them all on one host thread.
	[ "$smp" = 1 ] || accel=tcg,thread=${TESTHOST_TCG_THREAD:-multi}
	need_tool qemu-system-x86_64 qemu-system-x86
	rm -f "$tmp/console"
	mkfifo "$tmp/console"
	t_qemu=$(now_ms)
	qemu-system-x86_64 -M q35 -accel "$accel" -cpu "${TESTHOST_L1_CPU:-max}" -smp "$smp" -m "$mem" \
		-nodefaults -no-user-config -display none -serial stdio -no-reboot \
		-nic user,model=virtio-net-pci \
		-kernel "$kernel" -initrd "$tmp/initrd" \
		-append "console=ttyS0 quiet panic=-1 ${TESTHOST_L1_APPEND:-}" \
		</dev/null >"$tmp/console" 2>"$tmp/qemu.err" &
	qpid=$!
	exec {fd}<"$tmp/console"
	deadline=$((SECONDS + boot_timeout)) phase="L1 did not reach the runner in $boot_timeout s"
	local last=$SECONDS wait
	while :; do
		# read -t 0 only polls (and says nothing of EOF): check the deadlines first.
		if [ "$SECONDS" -ge "$deadline" ]; then
			stop_reason=$phase
			# Past DONE only the power-off is late: every result is in.
			[ "$done_seen" = 1 ] || broken=1
			break
		fi
		if [ -n "$t_ready" ] && [ $((SECONDS - last)) -ge "$stall_s" ]; then
			broken=1; stop_reason="L1 stalled: no console line for $stall_s s"
			break
		fi
		wait=$((deadline - SECONDS))
		[ -z "$t_ready" ] || [ $((last + stall_s - SECONDS)) -ge "$wait" ] ||
			wait=$((last + stall_s - SECONDS))
		if IFS= read -r -t "$wait" -u "$fd" line; then
			last=$SECONDS
			on_line "${line%$'\r'}"
			[ "$broken" = 0 ] || break
			continue
		else
			rc=$?	# > 128: timed out; otherwise EOF, qemu has exited
		fi
		[ "$rc" -le 128 ] || continue	# a deadline: checked at the top
		[ -z "$line" ] || on_line "${line%$'\r'}"
		[ "$done_seen" = 1 ] || qemu_exited
		break
	done
	exec {fd}<&-
	if [ -n "$qpid" ]; then
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true	# we killed it: the status says nothing
		qpid=""
	fi
	t_end=$(now_ms)
}

# verdict: results for tests that never reported, boot failures, summary.
verdict()
{
	local n i
	if [ -n "$cur" ]; then
		echo "FAIL: $cur (no result: ${stop_reason:-L1 stopped})"
		for i in "${out[@]}"; do echo "  | $i"; done
		reported[$cur]=1; nfail=$((nfail + 1))
	fi
	if [ "$done_seen" != 1 ]; then
		echo "FAIL: testhost-boot (${stop_reason:-no TESTHOST-DONE})"
		nfail=$((nfail + 1))
		for ((i = nring > 30 ? nring - 30 : 0; i < nring; i++)); do
			echo "  > ${ring[i % 30]}"
		done
		[ ! -s "$tmp/qemu.err" ] || sed 's/^/  qemu: /' "$tmp/qemu.err" | tail -10
		while read -r n; do
			[ -n "${reported[$n]:-}" ] || { echo "FAIL: $n (not run)"; nfail=$((nfail + 1)); }
		done < <(batch_names)
	fi
	th_say "$npass passed, $nfail failed, $nskip skipped"
	for i in "${metrics[@]}"; do th_say "metric $i"; done
	th_say "overhead: build $(span "$t_start" "$t_qemu")," \
		"qemu start → runner $(span "$t_qemu" "$t_ready") (modules ${mod_ms:-?} ms)," \
		"tests $(span "$t_ready" "$t_done"), power-off $(span "$t_done" "$t_end")," \
		"total $(span "$t_start" "$t_end")"
}

main()
{
	parse_args "$@"
	t_start=$(now_ms)
	batch_names >/dev/null
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/testhost.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	[ -z "$log" ] || : >"$log"

	declare -gA reported=()
	declare -ga ring=() out=() metrics=()
	npass=0 nfail=0 nskip=0 nring=0 panic="" cur="" done_seen=0 fatal="" stop_reason=""
	t_ready="" t_done="" mod_ms="" broken=0 stall_s=${TESTHOST_STALL_S:-150}
	start_hostsvc
	build_initrd "$batch"
	th_say "L1 initrd $(($(stat -c %s "$tmp/initrd") / 1048576)) MiB; booting L1 (smp $smp, $mem MB)"
	run_l1
	local retries=0
	declare -A retried=()
	while [ "$broken" = 1 ] && [ -z "${retried[${cur:-.}]:-}" ] &&
		[ "$retries" -lt "${TESTHOST_RETRIES:-3}" ]; do
		[ -z "$cur" ] || retried[$cur]=1
		retries=$((retries + 1))
		retry_broken
	done
	verdict
	[ "$nfail" = 0 ] && [ "$done_seen" = 1 ]
}

main "$@"
