#!/bin/sh
# tests/e2e/e2e.sh CASE: one end-to-end case inside L1 (busybox sh).
# Environment from check.sh: MOCK_PORT, MOCK_KEY (the "real" key, which
# must never reach the guest), WRONG_KEY.
set -u
VB=/payload/voidbox/voidbox
S=/payload/e2e/specs
T=$(mktemp -d)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
spec() { sed "s/@PORT@/$MOCK_PORT/" "$S/$1.yaml" >"$T/$1.yaml"; cp -r "$S/skills" "$T/" 2>/dev/null; echo "$T/$1.yaml"; }
# run NAME [args]: stdout -> $T/NAME.out, stderr -> $T/NAME.err, rc -> $T/NAME.rc
run() {
	n=$1; f=$(spec "$n"); shift
	"$VB" run --file "$f" "$@" >"$T/$n.out" 2>"$T/$n.err"
	echo $? >"$T/$n.rc"
}
show() { sed "s/^/  $1| /" "$T/$1.err" >&2; }
rc() { cat "$T/$1.rc"; }
case $1 in
serve)
	# voidbox serve on real VMs (issue 20): a two-stage pipeline submitted
	# with run --daemon fails at its second stage (a wrong key: 401); the
	# spec is fixed; resume refuses the changed spec, resume --force runs
	# only the second stage (the first is carried over: no boot, its
	# recorded output fed on) and succeeds; a restarted daemon still has
	# both runs, and runs/logs read them without any daemon.
	export VOIDBOX_STORE=$T/hist.db XDG_RUNTIME_DIR=$T/run
	mkdir -p "$T/run" && chmod 700 "$T/run"
	A=$T/api.sock
	"$VB" serve --socket "$A" >"$T/serve.log" 2>&1 &
	sv=$!
	for _ in $(seq 100); do [ -S "$A" ] && break; sleep 0.1; done
	f=$(spec resume)
	VOIDBOX_DAEMON=$A "$VB" run --file "$f" >"$T/r1.out" 2>"$T/r1.err"
	r=$?
	sed 's/^/  r1| /' "$T/r1.err" >&2
	id=$(grep -o 'run-[0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{6\}' "$T/r1.err" | head -1)
	[ $r = 1 ] && [ -n "$id" ] || fail "first run: exit $r, id '$id'"
	grep -q '\[stage:second\] ended failed' "$T/r1.err" || fail "the second stage did not fail"
	sed -i 's/WRONG_KEY/MOCK_KEY/' "$f"
	VOIDBOX_DAEMON=$A "$VB" resume "$id" >"$T/r2.out" 2>"$T/r2.err"
	r=$?
	[ $r = 2 ] && grep -q changed "$T/r2.err" || fail "resume of a changed spec: exit $r: $(cat "$T/r2.err")"
	VOIDBOX_DAEMON=$A "$VB" resume --force "$id" >"$T/r3.out" 2>"$T/r3.err"
	r=$?
	sed 's/^/  r3| /' "$T/r3.err" >&2
	[ $r = 0 ] || fail "resume --force: exit $r"
	nid=$(grep -o 'run run-[0-9]\{8\}-[0-9]\{6\}-[0-9a-f]\{6\} resumes' "$T/r3.err" | cut -d' ' -f2)
	grep -q '\[stage:first\] booting' "$T/r3.err" && fail "the first stage ran again"
	grep -q '\[stage:second\] ended ok' "$T/r3.err" || fail "the second stage did not succeed"
	kill $sv; wait $sv
	"$VB" serve --socket "$A" >>"$T/serve.log" 2>&1 &
	sv=$!
	for _ in $(seq 100); do [ -S "$A" ] && break; sleep 0.1; done
	VOIDBOX_DAEMON=$A "$VB" --output json runs show "$nid" >"$T/show.json" 2>"$T/show.err" ||
		fail "runs show after a restart: $(cat "$T/show.err")"
	tr -d ' \n\t' <"$T/show.json" >"$T/show1"
	grep -q '"state":"succeeded"' "$T/show1" || fail "resumed run: $(head -c 300 "$T/show1")"
	grep -q "\"resumed_from\":\"$id\"" "$T/show1" || fail "resumed_from missing"
	grep -q '"name":"first","status":"ok","error":null,"resumed":true' "$T/show1" ||
		fail "first stage not marked resumed: $(head -c 400 "$T/show1")"
	kill $sv; wait $sv
	"$VB" runs ls >"$T/ls.out" 2>&1 || fail "runs ls without a daemon"
	grep -q "$id *failed" "$T/ls.out" && grep -q "$nid *succeeded" "$T/ls.out" ||
		fail "runs ls: $(cat "$T/ls.out")"
	"$VB" logs "$nid" 2>"$T/logs.err"
	grep -q '\[run\] succeeded' "$T/logs.err" || fail "logs without a daemon: $(tail -3 "$T/logs.err")"
	;;
warm)
	# Warm starts (issue 18): the first stage of a box configuration
	# boots cold and leaves a template with claude-code started and
	# waiting; the next restores it (its own gateway token, secret, RNG)
	# and sends the prompt to that claude-code; --cold boots anyway.
	export VOIDBOX_DATA_DIR=$T/data
	run hello --output json; show hello
	[ "$(rc hello)" = 0 ] || fail "first: exit $(rc hello)"
	grep -q '"warm_start":	*false' "$T/hello.out" || fail "first run was warm"
	grep -q 'template stage-[0-9a-f]* made.*claude-code waiting in it' "$T/hello.err" ||
		fail "no template with a waiting claude-code made"
	"$VB" snapshot ls | grep -q '^stage-' || fail "template not listed"
	run hello --output json; show hello
	[ "$(rc hello)" = 0 ] || fail "warm: exit $(rc hello)"
	grep -q '"warm_start":	*true' "$T/hello.out" || fail "second run not warm: $(head -c 600 "$T/hello.out")"
	grep -q 'hello from mock' "$T/hello.out" || fail "warm output: $(head -c 300 "$T/hello.out")"
	# The template's claude-code took the prompt (it was started in the
	# template, waiting): its first request went upstream with this
	# clone's own gateway token, swapped for the key (check.sh checks
	# every recorded request's key after the batch).
	grep -q '"waiting_agent":	*true' "$T/hello.out" || fail "warm run did not attach to a waiting claude-code"
	grep -o '"boot":	*[0-9.]*' "$T/hello.out" | sed 's/^/  warm /'
	run hello --output json --cold; show hello
	[ "$(rc hello)" = 0 ] || fail "cold: exit $(rc hello)"
	grep -q '"warm_start":	*false' "$T/hello.out" || fail "--cold run was warm"
	grep -o '"boot":	*[0-9.]*' "$T/hello.out" | sed 's/^/  cold /'
	# sandbox.snapshot: a snapshot made by `voidbox snapshot create`
	# (the executable's own tools image, no gateway relay at boot: the
	# resume starts it) runs a claude stage.
	"$VB" snapshot create named --memory 1024 >/dev/null 2>"$T/e" ||
		fail "snapshot create: $(cat "$T/e")"
	spec hello >/dev/null
	sed 's/sandbox: {memory_mb: 1024}/sandbox: {snapshot: named}/' \
		"$T/hello.yaml" >"$T/named.yaml"
	"$VB" run --file "$T/named.yaml" --output json >"$T/named.out" 2>"$T/named.err"
	r=$?
	sed 's/^/  named| /' "$T/named.err" >&2
	[ $r = 0 ] || fail "sandbox.snapshot: exit $r"
	grep -q '"warm_start":	*true' "$T/named.out" || fail "sandbox.snapshot run not warm"
	grep -q 'hello from mock' "$T/named.out" || fail "sandbox.snapshot output: $(head -c 300 "$T/named.out")"
	# snapshot create --file: a spec's box booted and provisioned as a
	# stage would be (its skills are in the snapshot), restored by exec.
	f=$(spec tools)
	"$VB" snapshot create fromspec --file "$f" >"$T/fs.out" 2>"$T/fs.err" ||
		fail "snapshot create --file: $(tail -3 "$T/fs.err")"
	"$VB" exec --snapshot fromspec -- cat /workspace/.claude/skills/e2e-inline/SKILL.md \
		>"$T/fs.skill" 2>"$T/fs.err2" || fail "exec from the spec's snapshot: $(tail -3 "$T/fs.err2")"
	grep -q E2E_INLINE_MARKER "$T/fs.skill" || fail "the spec's skill is not in its snapshot: $(head -c 200 "$T/fs.skill")"
	sed 's/snapshot: named/snapshot: no-such/' "$T/named.yaml" >"$T/nosuch.yaml"
	"$VB" run --file "$T/nosuch.yaml" >"$T/nosuch.out" 2>"$T/nosuch.err"
	[ $? != 0 ] && grep -q 'no such snapshot' "$T/nosuch.err" "$T/nosuch.out" ||
		fail "a missing sandbox.snapshot: $(cat "$T/nosuch.err" | tail -3)"
	;;
shell)
	# voidbox shell --file: claude-code's own terminal UI in the box's
	# VM (the key stays on the host behind the gateway), typed at through
	# a real terminal (ptydrive): no first-run dialog stops it, the
	# prompt reaches the model, its Bash tool writes into the shared
	# workspace, /exit ends it with status 0, our terminal comes back.
	# The spec's prompt ("say hello") is its first message: its answer
	# ("hello from mock") comes before anything is typed.
	PD=/payload/e2e/ptydrive
	mkdir -p "$T/ws"
	f=$(spec hello)
	cat >"$T/s" <<'EOF'
expect bypass permissions
expect mock
send write the proof [[mock:bash:echo INTERACTIVE-$((6*7)) > /workspace/proof.txt]]
sleep 1000
send \r
expect MOCK_DONE
send /exit
sleep 1000
send \r
wait 0
termios-same
EOF
	$PD -s 40x120 -t 400 -o "$T/shell.tty" "$T/s" -- "$VB" shell --file "$f" \
		--mount "$T/ws:/workspace:rw" >"$T/shell.out" 2>&1 ||
		fail "claude-code session: $(cat "$T/shell.out" | tail -30)"
	[ "$(cat "$T/ws/proof.txt" 2>/dev/null)" = INTERACTIVE-42 ] ||
		fail "the interactive claude-code's Bash did not write the proof: $(cat "$T/ws/proof.txt" 2>&1)"
	# The run panel over a real stage on a terminal, and, while that
	# stage's claude-code runs a Bash command, a second terminal session
	# in its VM (attach under its box name) that sees the command. The
	# panel's line goes booting -> running (the tool on it) -> ok with
	# the tokens and cost.
	# (claude-code refuses a plain `sleep N` as a way to wait)
	sed "s/say hello/wait [[mock:bash:python3 -c 'import time; time.sleep(30)']]/" "$f" >"$T/long.yaml"
	# (the tool_use event comes before claude-code has started the
	# command: under TCG seconds before; so look again until it shows)
	cat >"$T/att.sh" <<'EOF'
n=$(grep -ao 'attach: voidbox attach [^ ]*' "$T/panel.tty" | head -1 | awk '{ print $4 }')
echo "name $n" >"$T/att.out"
i=0
while [ $i -lt 30 ]; do
	"$VB" attach "$n" -- sh -c 'ps -o pid,args; cat /proc/[0-9]*/cmdline | tr "\0" " " | grep -q "time[.]sleep(30)" && echo STAGE-SEEN' \
		</dev/null >>"$T/att.out" 2>"$T/att.err"
	echo "rc $?" >>"$T/att.out"
	grep -q STAGE-SEEN "$T/att.out" && break
	sleep 1; i=$((i + 1))
done
EOF
	printf 'expect booting\nexpect time.sleep\nsh sh %s\nwait 0\ntermios-same\n' "$T/att.sh" >"$T/p.s"
	T=$T VB=$VB $PD -s 30x140 -t 400 -o "$T/panel.tty" "$T/p.s" -- "$VB" -v run --file "$T/long.yaml" ||
		fail "run with the panel: $(tail -c 600 "$T/panel.tty" | sed 's/[^ -~]/./g')"
	grep -q STAGE-SEEN "$T/att.out" ||
		fail "attach did not see the stage's command: $(cat "$T/att.out" "$T/att.err" | tail -20)"
	grep -aq 'e2e-hello.*ok.*[0-9][0-9.k]*/[0-9][0-9.k]* *\$0\.' "$T/panel.tty" ||
		fail "no tokens and cost on the panel: $(grep -a 'e2e-hello' "$T/panel.tty" | tail -2 | sed 's/[^ -~]/./g' | cut -c1-600)"
	grep -aq '\[vm:e2e-hello\] ok in' "$T/panel.tty" || fail "no summary after the panel"
	# No key for the box's provider: a shell instead, and why.
	printf 'send echo NOKEY-$((3*3))\\r\nexpect NOKEY-9\nsend exit 0\\r\nwait 0\n' >"$T/s2"
	env -u MOCK_KEY $PD -t 400 -o "$T/nokey.tty" "$T/s2" -- "$VB" -v shell --file "$f" >"$T/nokey.out" 2>&1 ||
		fail "shell without the key: $(tail -20 "$T/nokey.out")"
	grep -q "MOCK_KEY.*starting a shell instead" "$T/nokey.tty" ||
		fail "no word on why not claude-code: $(grep -a 'shell:' "$T/nokey.tty" | head -3)"
	;;
bash)
	# One run, reported as one JSON document on stdout while the live
	# [vm:NAME] lines go to stderr.
	export VOIDBOX_OTLP_ENDPOINT=http://10.0.2.2:$OTLP_PORT
	# While the stage runs, its VMM's environment is read from outside:
	# no key, no host variable (the VMM parses hostile virtqueues).
	: >"$T/vmm-env"; : >"$T/vmm-seen"
	( while :; do
		for d in /proc/[0-9]*; do
			case $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) in
			*"__vmm vm:"*)
				tr '\0' '\n' <"$d/environ" >>"$T/vmm-env" 2>/dev/null &&
					echo "${d#/proc/}" >>"$T/vmm-seen" ;;
			esac
		done
		sleep 0.5
	  done ) &
	watcher=$!
	run bash --output json --run-dir "$T/rd"; show bash
	kill $watcher 2>/dev/null; wait $watcher 2>/dev/null
	unset VOIDBOX_OTLP_ENDPOINT
	[ -s "$T/vmm-seen" ] || fail "the stage's VMM was never seen running"
	if grep -v '^VOIDBOX_LOG_FORMAT=' "$T/vmm-env" | grep -q .; then
		fail "the VMM's environment holds host variables: $(grep -v '^VOIDBOX_LOG_FORMAT=' "$T/vmm-env" | cut -d= -f1 | sort -u | tr '\n' ' ')"
	fi
	grep -q "$MOCK_KEY" "$T/vmm-env" && fail "the API key is in the VMM's environment"
	# The one refusal is the tool's TRACE; none of claude-code's own calls.
	grep -q '"refused":	*1' "$T/bash.out" || fail "gateway refusals: $(grep -m1 '"refused"' "$T/bash.out") (want 1: the TRACE)"
	[ "$(grep -c 'gateway: refused' "$T/bash.err")" = 1 ] &&
		grep -q '\[vm:e2e-bash\] gateway: refused TRACE /v1/messages' "$T/bash.err" ||
		fail "refusal lines: $(grep 'gateway: refused' "$T/bash.err" | head -3)"
	grep -q '"type":"result"' "$T/rd/e2e-bash/claude.jsonl" || fail "run dir: no raw stream kept"
	[ -f "$T/rd/e2e-bash/console.txt" ] && [ -f "$T/rd/report.json" ] || fail "run dir: records missing: $(ls -R "$T/rd")"
	[ "$(rc bash)" = 0 ] || fail "exit $(rc bash)"
	grep -q '\[vm:e2e-bash\] tool: Bash echo out-ok' "$T/bash.err" || fail "no live tool line"
	grep -q '"status":	*"ok"' "$T/bash.out" || fail "json status: $(head -c 400 "$T/bash.out")"
	grep -q '"samples":	*[1-9]' "$T/bash.out" || fail "no guest telemetry samples"
	grep -q '"name":	*"Bash"' "$T/bash.out" || fail "json: Bash tool call missing"
	grep -q '"output":	*"out-ok' "$T/bash.out" || fail "json: output file missing"
	grep -q 'GUEST-TOKEN=vbgw-' "$T/bash.out" || fail "the guest's key is not the gateway token"
	# The run's trace context reached the Bash command (the environment
	# of a cold claude-code, the env file of a waiting one).
	grep -q 'TRACEPARENT=00-[0-9a-f]\{32\}-[0-9a-f]\{16\}-0[01]' "$T/bash.out" ||
		fail "no TRACEPARENT in the Bash command's environment"
	;;
tools)
	run tools; show tools
	[ "$(rc tools)" = 0 ] || fail "exit $(rc tools)"
	grep -q 'MOCK_DONE: MCP:ABC' "$T/tools.out" || fail "MCP round trip: $(head -c 300 "$T/tools.out")"
	grep -q 'tool: mcp__e2e__echo_upper' "$T/tools.err" || fail "no live MCP tool line"
	;;
failures)
	# Failing upstreams, each its own VM, one at a time: under a loaded
	# nested test host (2 vCPUs, TCG) concurrent claude-code starts can
	# take minutes; the test is about the failures, not about load.
	run fail-401
	run fail-529
	run fail-drop
	for n in fail-401 fail-529 fail-drop; do show $n; done
	[ "$(rc fail-401)" = 1 ] && grep -q 'failed: .*401' "$T/fail-401.err" || fail "401: rc $(rc fail-401)"
	[ "$(rc fail-529)" = 1 ] && grep -Eq 'failed: .*(529|verloaded)' "$T/fail-529.err" || fail "529: rc $(rc fail-529)"
	[ "$(rc fail-drop)" = 1 ] && grep -q 'failed: ' "$T/fail-drop.err" || fail "dropped stream: rc $(rc fail-drop)"
	;;
missing-cli)
	run missing-cli; show missing-cli
	[ "$(rc missing-cli)" = 1 ] || fail "exit $(rc missing-cli)"
	grep -q 'skill cli:no-such-tool-e2e not found in the guest' "$T/missing-cli.err" || fail "message"
	grep -q 'claude-code started' "$T/missing-cli.err" && fail "claude-code ran anyway"
	;;
container)
	# The full single file in a minimal container (mount+pid namespaces;
	# its root holds only the binary, the spec, /dev/kvm, /dev/null and
	# /proc): a real agent run, no HOME, no /etc, nothing else.
	C=$T/ctr
	mkdir -p "$C" && mount -t tmpfs -o mode=755 none "$C"
	mkdir -p "$C/dev" "$C/proc"
	cp "$VB" "$C/voidbox"
	spec hello >/dev/null && cp "$T/hello.yaml" "$C/hello.yaml"
	mknod "$C/dev/kvm" c 10 232 && mknod "$C/dev/null" c 1 3 && chmod 666 "$C/dev/null"
	# Bounded (one stage takes about a minute under TCG): a hang fails
	# this case with its stderr instead of eating the batch's timeout.
	# busybox's timeout kills unshare only; voidbox, the init of the pid
	# namespace, is then ended by the L1 runner's kill of the test's
	# process group (its output goes to files: nothing waits for it).
	timeout -s KILL 300 unshare -m -p -f sh -c "mount -t proc proc '$C/proc' && exec env -i \
		MOCK_KEY='$MOCK_KEY' $(command -v chroot) '$C' /voidbox run --file /hello.yaml" \
		>"$T/ctr.out" 2>"$T/ctr.err" </dev/null
	r=$?
	sed 's/^/  ctr| /' "$T/ctr.err" >&2
	umount "$C/proc" 2>/dev/null; umount "$C" 2>/dev/null
	[ $r != 137 ] || fail "no result in 300 s (killed)"
	[ $r = 0 ] || fail "exit $r"
	grep -q 'hello from mock' "$T/ctr.out" || fail "output: $(head -c 200 "$T/ctr.out")"
	;;
coding)
	# The coding agent on a shared git repository (specs/coding.yaml), run
	# by an unprivileged user: what the agent writes lands on the host as
	# that user's files. L1 has no git: a guest (the toolbox's git) makes
	# the first commit, another one reads the result through a fresh mount.
	U=1000
	grep -q '^e2e:' /etc/passwd 2>/dev/null || echo "e2e:x:$U:$U:e2e:/tmp:/bin/sh" >>/etc/passwd
	grep -q '^e2e:' /etc/group 2>/dev/null || echo "e2e:x:$U:" >>/etc/group
	chmod 666 /dev/kvm; chmod 755 "$T"
	as_user() { su -s /bin/sh e2e -c "$*"; }
	f=$(spec coding)
	mkdir -p "$T/repo" "$T/docs" "$T/home"
	echo "reference: read only" >"$T/docs/README"
	printf '#!/bin/sh\necho "hello, brokn world"\n' >"$T/repo/greet.sh"
	printf 'test:\n\tsh greet.sh | grep -qx "hello, fixed world"\n' >"$T/repo/Makefile"
	chown -R $U:$U "$T/repo" "$T/docs" "$T/home" "$T/coding.yaml"
	as_user "HOME=$T/home $VB exec --mount $T/repo:/r:rw -- sh -c 'cd /r && git init -q -b main && git add -A && git -c user.name=setup -c user.email=s@e2e.test commit -qm initial'" \
		>"$T/init.out" 2>"$T/init.err" || { fail "initial commit: $(tail -5 "$T/init.err")"; exit 1; }
	head0=$(cat "$T/repo/.git/refs/heads/main")
	as_user "HOME=$T/home MOCK_KEY=$MOCK_KEY $VB run --file $f" >"$T/coding.out" 2>"$T/coding.err"
	echo $? >"$T/coding.rc"; show coding
	[ "$(rc coding)" = 0 ] || fail "exit $(rc coding)"
	grep -q tests-passed-before "$T/coding.out" && fail "the repository's test passed before the fix"
	grep -q 'commit:greet: fix the typo' "$T/coding.out" || fail "no commit in the tool result: $(head -c 600 "$T/coding.out")"
	grep -Eq 'docs-write-rc=[1-9]' "$T/coding.out" && grep -Eq 'Read-only file system|Permission denied' "$T/coding.out" ||
		fail "the ro mount took a write: $(grep -m1 docs-write "$T/coding.out")"
	grep -q 'reference: read only' "$T/coding.out" || fail "the ro mount is not readable"
	[ ! -e "$T/docs/new" ] || fail "a file appeared in the ro tree on the host"
	# On the host: the edit, a new commit, every file the invoking user's.
	grep -q 'hello, fixed world' "$T/repo/greet.sh" || fail "greet.sh on the host: $(cat "$T/repo/greet.sh")"
	[ "$(cat "$T/repo/.git/refs/heads/main")" != "$head0" ] || fail "no new commit on the host"
	other=$(find "$T/repo" ! -user $U | head -3)
	[ -z "$other" ] || fail "files not owned by the invoking user: $other"
	as_user "HOME=$T/home $VB exec --mount $T/repo:/r -- sh -c 'cd /r && git fsck --no-dangling && git log --format=%s && git status --porcelain'" \
		>"$T/verify.out" 2>"$T/verify.err" || fail "verify: $(tail -5 "$T/verify.err")"
	[ "$(cat "$T/verify.out")" = "$(printf 'greet: fix the typo\ninitial')" ] || fail "history or tree: $(cat "$T/verify.out")"
	;;
image)
	# sandbox.image names the python image in the registry on the outer
	# host's loopback (check.sh): pulled over TLS with Basic auth, then
	# claude-code runs in it.
	export VOIDBOX_DATA_DIR=$T/data VOIDBOX_CA_FILE=/payload/e2e/reg/ca.pem
	export VOIDBOX_REGISTRY_AUTH=/payload/e2e/reg/auth.json
	grep -q registry.test /etc/hosts || echo "10.0.2.2 registry.test" >>/etc/hosts
	f=$(spec image); sed -i "s/@REGPORT@/$REG_PORT/" "$f"
	"$VB" run --file "$f" --output json >"$T/image.out" 2>"$T/image.err"
	echo $? >"$T/image.rc"; show image
	[ "$(rc image)" = 0 ] || fail "exit $(rc image): $(grep -m3 -e error -e FAIL "$T/image.out" "$T/image.err")"
	grep -q '"output":	*"45 11' "$T/image.out" || fail "output file: $(grep -m1 '"output"' "$T/image.out")"
	grep -q "pulling registry.test:$REG_PORT/python:3.11" "$T/image.err" &&
		grep -q 'pulling layer 2/2' "$T/image.err" || fail "no pull lines"
	grep -q 'tool: Bash python3' "$T/image.err" || fail "no live tool line"
	unset VOIDBOX_DATA_DIR VOIDBOX_CA_FILE VOIDBOX_REGISTRY_AUTH
	;;
hn-spec)
	# specs/hn.yaml as shipped, but for the mock instead of Anthropic (and
	# no egress: tests reach nothing outside): its cli:curl and cli:jq
	# checks pass against the toolbox, and the tools run.
	mkdir -p "$T/hn"
	cp -r /payload/e2e/specs-top/skills "$T/hn/"
	sed -e "s|^  provider: claude|  provider: custom\n  base_url: \"http://10.0.2.2:$MOCK_PORT\"\n  api_key_env: MOCK_KEY|" \
		-e '/^  network:/,/hacker-news/d' \
		-e 's|^  prompt: .*|  prompt: "[[mock:bash:curl --version \| head -1; jq --version; jq -n {ok:true}]]"|' \
		/payload/e2e/specs-top/hn.yaml >"$T/hn/hn.yaml"
	"$VB" run --file "$T/hn/hn.yaml" >"$T/hn.out" 2>"$T/hn.err"; echo $? >"$T/hn.rc"; show hn
	[ "$(rc hn)" = 0 ] || fail "exit $(rc hn): $(grep -m2 -e error -e 'not found' "$T/hn.err")"
	grep -q 'not found in the guest' "$T/hn.err" && fail "cli: check failed"
	grep -q 'curl 7' "$T/hn.out" && grep -q '^jq-1' "$T/hn.out" || fail "tools: $(head -c 400 "$T/hn.out")"
	;;
example)
	# One C API example (libvoidbox) on real VMs (a fan_out two VMs at a
	# time: the nested host's limit), with the tools image taken out of
	# the full binary by `extract`.
	"$VB" extract "$T/x" >/dev/null || fail "extract"
	E=/payload/examples
	for ex in $2; do
		VOIDBOX_TOOLS_DISK=$T/x/tools.erofs \
		VOIDBOX_EXAMPLE_BASE_URL=http://10.0.2.2:$MOCK_PORT \
		VOIDBOX_EXAMPLE_KEY_ENV=MOCK_KEY VOIDBOX_EXAMPLE_PARALLEL=2 \
			"$E/$ex" --json --skills "$E/skills" >"$T/$ex.json" 2>"$T/$ex.err"
	done
	for ex in $2; do
		sed "s/^/  $ex| /" "$T/$ex.err" | grep -v '^.*| \[vm:[^]]*\] claude:' >&2
		grep -q '"status":	*"ok"' "$T/$ex.json" || fail "$ex: $(grep -m3 '"error"' "$T/$ex.json")"
		grep -q '"mock":	*true' "$T/$ex.json" && fail "$ex ran in mock mode"
		# vb_snapshot_create'd, then a stage from it (vb_box_snapshot)
		[ $ex != warm_snapshot ] || grep -q '"warm_start":	*true' "$T/$ex.json" ||
			fail "$ex: the stage did not start from the snapshot"
	done
	;;
*) fail "unknown case $1" ;;
esac
# A failed case shows how its guests ended (a crash, a panic: the tail
# of each kept console).
if [ $fails != 0 ]; then
	for c in $(find "$T" -name console.txt 2>/dev/null); do
		echo "--- ${c#$T/} (last 30 lines)"; tail -30 "$c"
	done
fi
rm -rf "$T"
[ $fails = 0 ]
