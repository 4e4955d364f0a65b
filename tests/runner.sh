#!/usr/bin/env bash
# tests/runner.sh TEST...: run test programs and print one summary line.
#
# A test is any executable. It reports either through its exit status
# (0 pass, 77 skip, anything else fail) or, for a batch, by printing lines
# "PASS: name", "FAIL: name ..." or "SKIP: name ..." (counted one each; the
# exit status then only decides whether the batch itself failed).
# With VOIDBOX_REQUIRE_VM=1 (CI), a skip counts as a failure: a VM test that
# cannot run must not pass silently.
#
# Before the summary, the wall time of each tier (the test's directory:
# tests/unit/x.sh and build/unit/x are both tier unit) and the total, so
# a CI log shows where the time went.
set -uo pipefail

pass=0 fail=0 skip=0
failed=()
declare -A tier_ms=()
tiers=()
t_start=$(date +%s%N)
logdir=${TEST_LOGDIR:-build/test-logs}
mkdir -p "$logdir"

count_skip()
{
	if [ "${VOIDBOX_REQUIRE_VM:-0}" = 1 ]; then
		fail=$((fail + 1)); failed+=("$1 (skipped, but VOIDBOX_REQUIRE_VM=1)")
		echo "FAIL: $1 (skip not allowed: VOIDBOX_REQUIRE_VM=1)"
	else
		skip=$((skip + 1))
	fi
}

for t in "$@"; do
	name=$(basename "$t")
	log=$logdir/$name.log
	t0=$(date +%s%N)
	"$t" >"$log" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	tier=$(basename "$(dirname "$t")")
	[ -n "${tier_ms[$tier]+set}" ] || { tiers+=("$tier"); tier_ms[$tier]=0; }
	tier_ms[$tier]=$((tier_ms[$tier] + ms))
	n=0
	while IFS= read -r line; do
		case $line in
		PASS:*) pass=$((pass + 1)); n=$((n + 1)); echo "$line" ;;
		FAIL:*) fail=$((fail + 1)); n=$((n + 1)); echo "$line"
			failed+=("${line#FAIL: }") ;;
		SKIP:*) n=$((n + 1)); echo "$line"; count_skip "${line#SKIP: }" ;;
		STALL:*) echo "$line" ;;	# infrastructure, retried by the batch
		esac
	done <"$log"
	if [ $n = 0 ]; then
		case $rc in
		0) pass=$((pass + 1)); echo "PASS: $name (${ms} ms)" ;;
		77) echo "SKIP: $name: $(tail -1 "$log")"; count_skip "$name" ;;
		*) fail=$((fail + 1)); failed+=("$name")
		   echo "FAIL: $name (rc $rc, ${ms} ms); last lines of $log:"
		   tail -15 "$log" | sed 's/^/    /' ;;
		esac
	elif [ $rc != 0 ] && [ $rc != 77 ]; then
		fail=$((fail + 1)); failed+=("$name (batch rc $rc)")
		echo "FAIL: $name (batch exited $rc); last lines of $log:"
		tail -15 "$log" | sed 's/^/    /'
	fi
done

secs() { printf '%d.%d s' $(($1 / 1000)) $(($1 % 1000 / 100)); } # MS

echo
for tier in "${tiers[@]}"; do
	echo "tier $tier: $(secs "${tier_ms[$tier]}")"
done
echo "total: $(secs $((($(date +%s%N) - t_start) / 1000000)))"
[ ${#failed[@]} = 0 ] || printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
