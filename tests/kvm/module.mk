# tests/kvm/module.mk: tier 2, tiny guests on a /dev/kvm.
#
# The same scripts run in two places. Inside the nested test host
# (tests/testhost/kvm.batch, part of its one boot in make check) always:
# its /dev/kvm is real KVM on emulated SVM. On this machine only when it
# has a /dev/kvm: ours is nested PVM, a second KVM our VMM must work on,
# but some machines of this kind expose none at all (the PVM module is
# loaded and does not bind), and then L1 is where tier 2 runs.
KVM_TIER_SCRIPTS := tests/kvm/guests.sh tests/kvm/selftest.sh tests/kvm/vm_sandbox.sh
ifneq ($(wildcard /dev/kvm),)
CHECK_TESTS += $(KVM_TIER_SCRIPTS)
endif
CHECK_DEPS += $(TEST_GUESTS)
