# tests/release/module.mk: the single-file release's run conditions.
CHECK_TESTS += tests/release/conditions.sh
CHECK_DEPS += $(BUILD)/voidbox-full
CHECK_TESTS += tests/release/integrity.sh
