# tests/e2e/module.mk: end-to-end agent runs (real claude-code, real guest,
# nested test host, mock Anthropic server): tests/e2e/check.sh.
CHECK_TESTS += tests/e2e/check.sh
CHECK_DEPS += $(BUILD)/voidbox-full $(API_EXAMPLES)

# A hostile program for inside the guest (e2e-gateway-hostile): static
# musl, no libraries; check.sh puts it in the e2e payload.
$(BUILD)/e2e/hostile_gw: tests/e2e/hostile_gw.c $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $<
CHECK_DEPS += $(BUILD)/e2e/hostile_gw $(BUILD)/testhost-bin/ptydrive
