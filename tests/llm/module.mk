# tests/llm/module.mk: the providers table (host/llm/) against the spec
# grammar, the API, the spec's env rules and docs/agents.md. Musl, linked
# against libvoidbox.a like the API tests, with the internal headers.
# No KVM.
$(BUILD)/llm/test_providers: tests/llm/test_providers.c $(BUILD)/libvoidbox.a \
                             $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $< $(BUILD)/libvoidbox.a $(HOST_LIBS) -lm

CHECK_UNIT_TESTS += $(BUILD)/llm/test_providers
CHECK_UNIT_DEPS += $(BUILD)/llm/test_providers
