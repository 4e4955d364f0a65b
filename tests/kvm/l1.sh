#!/bin/sh
# tests/kvm/l1.sh SCRIPT: one tier-2 script as a test of the nested test
# host's batch (tests/testhost/kvm.batch). The scripts report through
# PASS:/FAIL:/SKIP: lines, which tests/runner.sh counts on this machine;
# inside L1 run.sh only sees an exit status, so a FAIL line, a SKIP line
# (make check's VM tests may not skip: VOIDBOX_REQUIRE_VM) or a script
# that fails makes this exit 1. Its lines are printed either way: run.sh
# shows them for a failure.
out=$(bash "$1" 2>&1); rc=$?
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -Eq '^(FAIL|SKIP)' && exit 1
exit $rc
