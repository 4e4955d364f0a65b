# tests/api/module.mk: the public C API (host/api/): a C test linked
# against libvoidbox.a, and the three examples run in mock mode
# (tests/api/check.sh runs both; no KVM needed).
#
# test_api.c is compiled C99 -pedantic-errors against the installed
# header alone: voidbox.h must stay self-contained C99.
$(BUILD)/api/test_api.o: tests/api/test_api.c $(BUILD)/include/voidbox.h \
                         $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) CC $<
	$(Q)$(MUSLCC) $(MUSL_CFLAGS) -std=c99 -pedantic-errors -I$(BUILD)/include \
		-c $< -o $@

$(BUILD)/api/test_api: $(BUILD)/api/test_api.o $(BUILD)/libvoidbox.a
	$(E) LD $@
	$(Q)$(MUSLCC) $(MUSL_LDFLAGS) -o $@ $< $(BUILD)/libvoidbox.a $(HOST_LIBS)

-include $(BUILD)/api/test_api.d

CHECK_UNIT_TESTS += tests/api/check.sh
CHECK_UNIT_DEPS += $(BUILD)/api/test_api $(API_EXAMPLES) $(API_SKILLS)

# test_concurrent.c: two vb_run calls at once from two threads, each
# exporting to its own collector (tests/api/concurrent.sh starts two
# tests/otel/receiver.py and checks what each got).
$(BUILD)/api/test_concurrent.o: tests/api/test_concurrent.c \
                                $(BUILD)/include/voidbox.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) CC $<
	$(Q)$(MUSLCC) $(MUSL_CFLAGS) -std=c99 -pedantic-errors -I$(BUILD)/include \
		-c $< -o $@

$(BUILD)/api/test_concurrent: $(BUILD)/api/test_concurrent.o $(BUILD)/libvoidbox.a
	$(E) LD $@
	$(Q)$(MUSLCC) $(MUSL_LDFLAGS) -o $@ $< $(BUILD)/libvoidbox.a $(HOST_LIBS)

-include $(BUILD)/api/test_concurrent.d

CHECK_UNIT_TESTS += tests/api/concurrent.sh
CHECK_UNIT_DEPS += $(BUILD)/api/test_concurrent
