# tests/otel/module.mk: the OTLP export library (host/otel/), its
# generated protobuf code, and its test against a loopback receiver that
# decodes every body with protoc (test_otel.sh). Included by
# tests/module.mk.
#
# The library itself (OTEL_* variables) is defined in host/otel/module.mk.

# The test driver, built like the voidbox binary (musl, static, sysroot
# libraries), with the TLS client and the logger it uses. -MMD -MP are
# dropped for the one-step compile-and-link: its prerequisites are listed.
OTEL_TEST_BIN := $(BUILD)/otel/otel_test
OTEL_TEST_OBJS := $(OTEL_OBJS) $(BUILD)/otel/obj/host/gateway/tls.o \
                  $(BUILD)/otel/obj/host/util/log.o
$(OTEL_TEST_BIN): tests/otel/otel_test.c host/otel/otel.h $(OTEL_TEST_OBJS)
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(OTEL_CFLAGS) \
		-Ihost/otel -Ihost/util $(MUSL_LDFLAGS) -o $@ $< \
		$(OTEL_TEST_OBJS) $(OTEL_LIBS) -lbearssl -lpthread

-include $(OTEL_TEST_OBJS:.o=.d)

CHECK_TESTS += tests/otel/test_otel.sh
CHECK_DEPS  += $(OTEL_TEST_BIN)

.PHONY: check-otel
check-otel: $(OTEL_TEST_BIN)
	$(Q)tests/runner.sh tests/otel/test_otel.sh
CHECK_TESTS += tests/otel/run_trace.sh
