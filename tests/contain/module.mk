# tests/contain/module.mk: kill -9 of VMMs at random points of six-stage
# pipelines on real VMs (nested test host): tests/contain/check.sh.
CHECK_TESTS += tests/contain/check.sh
CHECK_DEPS += $(BUILD)/voidbox

# The issue's full loop: 50 runs (~25-40 min in the nested host).
.PHONY: check-contain
check-contain: $(BUILD)/voidbox
	$(Q)CONTAIN_RUNS=50 tests/contain/check.sh
