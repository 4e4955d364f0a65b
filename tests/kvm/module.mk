# tests/kvm/module.mk: tier 2, tiny guests on this machine's /dev/kvm.
CHECK_TESTS += tests/kvm/guests.sh tests/kvm/selftest.sh tests/kvm/vm_sandbox.sh
CHECK_DEPS += $(TEST_GUESTS)
