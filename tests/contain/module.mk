# tests/contain/module.mk: kill -9 of VMMs at random points of six-stage
# pipelines on real VMs (nested test host): tests/contain/check.sh.
CHECK_TESTS += tests/contain/check.sh
CHECK_DEPS += $(BUILD)/voidbox
