#!/usr/bin/env bash
# tests/golden/run.sh: spec validation golden tests. For each spec here and
# under specs/, `voidbox validate` must print exactly the committed .ok
# text and exit 0 (valid) or 2 (invalid). UPDATE=1 rewrites the .ok files
# (review the diff!). This tree's absolute path prints as <top>, so the
# .ok files hold no machine's paths.
#
# Two more checks per spec of tests/golden/:
#  - one validate refuses, `voidbox run --file` must refuse too: exit 2
#    and every error line validate printed (before any VM: run checks the
#    whole spec first; no KVM or API key is needed to get there);
#  - mock-*.yaml (sandbox.mode mock, so no VM) are also run: stdout and
#    exit code must match ok/NAME.run.ok (which skill file was read shows
#    in the mock agent's "skills").
# Everything runs from the top of the tree: relative skill paths fall back
# to it when the spec's directory does not have them.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
VB=${VOIDBOX:-${BUILD:-$top/build}/voidbox}
cd "$top"

check() {	# name, ok file, got
	if [ "${UPDATE:-0}" = 1 ]; then
		mkdir -p tests/golden/ok; printf '%s\n' "$3" >"$2"
	fi
	if [ -f "$2" ] && [ "$3" = "$(cat "$2")" ]; then
		echo "PASS: $1"
	else
		echo "FAIL: $1"
		diff <(cat "$2" 2>/dev/null) <(printf '%s\n' "$3") | sed 's/^/    /' | head -20
	fi
}

for spec in tests/golden/*.yaml tests/golden/*.json specs/*.yaml specs/*.json; do
	[ -e "$spec" ] || continue
	name=$(basename "$spec")
	out=$("$VB" validate "$spec" 2>&1); rc=$?
	out=${out//"$top"/<top>}
	check "golden-$name" "tests/golden/ok/$name.ok" \
		"$(printf '%s\nexit %s\n' "$out" "$rc")"
	case $spec in tests/golden/*) ;; *) continue ;; esac

	if [ "$rc" = 2 ]; then
		run=$(env -u ANTHROPIC_API_KEY timeout 60 "$VB" run --file "$spec" \
			2>&1 >/dev/null); rrc=$?
		run=${run//"$top"/<top>}
		missing=$(printf '%s\n' "$out" | sed '$d' | while IFS= read -r l; do
			case $run in *"$l"*) ;; *) printf '    %s\n' "$l" ;; esac
		done)
		if [ "$rrc" = 2 ] && [ -z "$missing" ]; then
			echo "PASS: golden-run-refuses-$name"
		else
			echo "FAIL: golden-run-refuses-$name (exit $rrc; want 2 and:)"
			printf '%s\n' "$missing"
		fi
	fi
	case $name in mock-*)
		got=$("$VB" run --file "$spec" 2>/dev/null); rrc=$?
		got=${got//"$top"/<top>}
		check "golden-run-$name" "tests/golden/ok/$name.run.ok" \
			"$(printf '%s\nexit %s\n' "$got" "$rrc")"
	esac
done
