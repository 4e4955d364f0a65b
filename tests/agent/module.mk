# tests/agent/module.mk: the guest agent in test mode (unix socket, no VM),
# driven over the wire by test_agent.py. Included by tests/module.mk.
CHECK_UNIT_TESTS += tests/agent/test_agent.py
CHECK_UNIT_DEPS  += $(BUILD)/voidbox-agent

.PHONY: check-agent
check-agent: $(BUILD)/voidbox-agent
	$(Q)tests/runner.sh tests/agent/test_agent.py
