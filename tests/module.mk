# tests/module.mk: every test tier, run by tests/runner.sh (one summary line).
#
#   make check        build + all tiers (CI sets VOIDBOX_REQUIRE_VM=1)
#   make check-unit   the tiers that need neither /dev/kvm nor the nested
#                     test host (a few minutes)
#   make check-build  build-product checks only (fast)
#
# Tiers (docs/architecture.md §0): build products, unit (no KVM), tiny
# guests on this machine's /dev/kvm, and the nested test host (real Linux
# guests under real, nested KVM).
#
# Each module.mk tags its tests: CHECK_UNIT_TESTS (and CHECK_UNIT_DEPS)
# for those that run anywhere, with no /dev/kvm and no nested test host;
# CHECK_TESTS (and CHECK_DEPS) for the rest. `make check` runs both, the
# KVM-free ones first; a test added to CHECK_TESTS alone is only left out
# of check-unit.
BUILD_TESTS := tests/build/static.sh tests/build/version.sh \
               tests/build/initramfs.sh tests/build/fetch-errors.sh
CHECK_UNIT_TESTS := $(BUILD_TESTS)
CHECK_TESTS :=

# Fast tiers first, the nested test host (minutes) last.
-include tests/unit/module.mk
-include tests/agent/module.mk
-include tests/golden/module.mk
-include tests/pipeline/module.mk
-include tests/tty/module.mk
-include tests/serve/module.mk
-include tests/api/module.mk
-include tests/llm/module.mk
-include tests/release/module.mk
-include tests/mock-anthropic/module.mk
-include tests/mock-openai/module.mk
-include tests/guests/module.mk
-include tests/kvm/module.mk
-include tests/fuzz/module.mk
-include tests/run/module.mk
-include tests/http/module.mk
-include tests/gateway/module.mk
-include tests/image/module.mk
-include tests/net/module.mk
-include tests/unit/net.mk
-include tests/otel/module.mk
-include tests/testhost/module.mk
-include tests/contain/module.mk
-include tests/e2e/module.mk

CHECK_TESTS := $(CHECK_UNIT_TESTS) $(CHECK_TESTS)
CHECK_DEPS += $(CHECK_UNIT_DEPS)

.PHONY: check check-unit check-build
check-build: $(BUILD)/voidbox
	$(Q)tests/runner.sh $(BUILD_TESTS)

check-unit: $(BUILD)/voidbox $(CHECK_UNIT_DEPS)
	$(Q)tests/runner.sh $(CHECK_UNIT_TESTS)

check: $(BUILD)/voidbox $(CHECK_DEPS)
	$(Q)tests/runner.sh $(CHECK_TESTS)
