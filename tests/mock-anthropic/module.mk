# tests/mock-anthropic/module.mk: the mock Anthropic API server.
# Included by tests/module.mk.
# test_claude.sh needs CLAUDE_BIN (the native claude binary) and skips (77)
# without it, so it is kept out of CHECK_UNIT_TESTS until the build fetches it.
CHECK_UNIT_TESTS += tests/mock-anthropic/test_mock.py

.PHONY: check-mock check-mock-claude
check-mock:
	$(Q)tests/runner.sh tests/mock-anthropic/test_mock.py

check-mock-claude:
	$(Q)tests/runner.sh tests/mock-anthropic/test_claude.sh
