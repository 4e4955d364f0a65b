# tests/release/module.mk: the single-file release's run conditions
# (selftest on /dev/kvm) and the tools image's integrity (no VM).
CHECK_TESTS += tests/release/conditions.sh
CHECK_UNIT_TESTS += tests/release/integrity.sh
CHECK_UNIT_DEPS += $(BUILD)/voidbox-full
