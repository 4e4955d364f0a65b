# tests/e2e/module.mk: end-to-end agent runs (real claude-code, real guest,
# nested test host, mock Anthropic server): tests/e2e/check.sh.
CHECK_TESTS += tests/e2e/check.sh
CHECK_DEPS += $(BUILD)/voidbox-full $(API_EXAMPLES)
