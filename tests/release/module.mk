# tests/release/module.mk: the single-file release's run conditions
# (selftest on a /dev/kvm: here when this machine has one, and always in
# the nested test host, as tier 2 does: tests/kvm/module.mk) and the tools
# image's integrity (no VM).
ifneq ($(wildcard /dev/kvm),)
CHECK_TESTS += tests/release/conditions.sh
endif
CHECK_UNIT_TESTS += tests/release/integrity.sh
CHECK_UNIT_DEPS += $(BUILD)/voidbox-full
