#!/usr/bin/env bash
# `voidbox selftest` passes on this host: the embedded tiny guests through
# the real path (sandboxed VMM child, boot protocol, virtio-mmio, vsock
# echo to the orchestrator). Each [ok]/[FAIL] line becomes a result.
. "$(dirname "$0")/../lib.sh"
vm_skip_unless_kvm
set +e
# Host secrets in our environment must not reach the VMM (selftest-vmm-env
# reads the running VMM's /proc/PID/environ).
out=$(ANTHROPIC_API_KEY=sk-ant-selftest-not-for-the-vmm \
      AWS_SECRET_ACCESS_KEY=selftest-secret "$VOIDBOX" selftest 2>&1); rc=$?
echo "$out" | sed -n 's/^\[ok\] *\([a-z-]*\) .*/PASS: selftest-\1/p; s/^\[FAIL\] *\([a-z-]*\) \(.*\)/FAIL: selftest-\1: \2/p'
echo "$out" | tail -1
exit $rc
