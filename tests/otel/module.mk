# tests/otel/module.mk: the OTLP export library (host/otel/), its
# generated protobuf code, and its test against a loopback receiver that
# decodes every body with protoc (test_otel.sh), and the otlp fuzz target
# (`make fuzz`; `make check` replays tests/fuzz/corpus/otlp/). Included by
# tests/module.mk.
#
# The library itself (OTEL_* variables) is defined in host/otel/module.mk.

# The test driver, built like the voidbox binary (musl, static, sysroot
# libraries), with the TLS client and the logger it uses. -MMD -MP are
# dropped for the one-step compile-and-link: its prerequisites are listed.
OTEL_TEST_BIN := $(BUILD)/otel/otel_test
OTEL_TEST_OBJS := $(OTEL_OBJS) $(BUILD)/otel/obj/host/http/tls.o \
                  $(BUILD)/otel/obj/host/util/log.o
$(OTEL_TEST_BIN): tests/otel/otel_test.c host/otel/otel.h $(OTEL_TEST_OBJS)
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(OTEL_CFLAGS) \
		-Ihost/otel -Ihost/util $(MUSL_LDFLAGS) -o $@ $< \
		$(OTEL_TEST_OBJS) $(OTEL_LIBS) -lbearssl -lpthread

-include $(OTEL_TEST_OBJS:.o=.d)

CHECK_UNIT_TESTS += tests/otel/test_otel.sh
CHECK_UNIT_DEPS  += $(OTEL_TEST_BIN)

.PHONY: check-otel
check-otel: $(OTEL_TEST_BIN)
	$(Q)tests/runner.sh tests/otel/test_otel.sh
CHECK_UNIT_TESTS += tests/otel/run_trace.sh

# libFuzzer target (tests/fuzz/module.mk): model -> encode.c -> protobuf-c
# unpack must give back every field. Host clang cannot link the musl
# sysroot's libprotobuf-c, so its runtime is compiled from the pinned
# source tree that third_party/build-deps.sh unpacks (hence .deps-stamp),
# with the generated code, like fuzz_spec does with libyaml.
FUZZ_NAMES += otlp
PROTOBUF_C_VER := $(shell awk '$$1=="src" && $$2=="protobuf-c" { print $$3 }' third_party/versions.lock)
PROTOBUF_C_SRC := $(VOIDBOX_CACHE)/src/protobuf-c-$(PROTOBUF_C_VER)
FUZZ_OTLP_SRCS := host/otel/model.c host/otel/encode.c host/util/log.c $(OTEL_GEN_SRCS)

# protobuf-c 1.4.1's tag parser shifts a 7-bit group into int (bit 31 on a
# 5-byte tag: UB by the letter, harmless in practice, not ours to fix), so
# its runtime alone is built without the shift check.
$(BUILD)/fuzz/protobuf-c.o: $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fno-sanitize=shift -I$(PROTOBUF_C_SRC) \
		-c -o $@ $(PROTOBUF_C_SRC)/protobuf-c/protobuf-c.c

$(BUILD)/fuzz/fuzz_otlp: tests/otel/fuzz_otlp.c tests/otel/otlp_same.h \
		host/otel/otel.h $(FUZZ_OTLP_SRCS) $(OTEL_GEN_STAMP) \
		$(BUILD)/fuzz/protobuf-c.o
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(PROTOBUF_C_SRC) $(OTEL_CFLAGS) \
		-o $@ $< $(FUZZ_OTLP_SRCS) $(BUILD)/fuzz/protobuf-c.o -lpthread
