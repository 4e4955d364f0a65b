# tests/run/module.mk: the claude stream-json parser (host/run/stream.c):
# a unit test (host gcc, ASan/UBSan) and a libFuzzer target.
#
# cJSON is compiled from the pinned source the sysroot recipe unpacked
# into the cache: the sysroot's libcjson.a is musl-built and cannot be
# linked into a glibc sanitizer build.
CJSON_VER := $(shell awk '$$1=="src" && $$2=="cjson" { print $$3 }' third_party/versions.lock)
CJSON_SRC := $(VOIDBOX_CACHE)/src/cjson-$(CJSON_VER)
RUN_SRCS  := host/run/stream.c

$(BUILD)/run/test_stream: tests/run/test_stream.c $(RUN_SRCS) host/run/run.h \
                          $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< $(RUN_SRCS) $(CJSON_SRC)/cJSON.c -lm

CHECK_UNIT_TESTS += $(BUILD)/run/test_stream
CHECK_UNIT_DEPS += $(BUILD)/run/test_stream

FUZZ_NAMES += stream
$(BUILD)/fuzz/fuzz_stream: tests/run/fuzz_stream.c $(RUN_SRCS) host/run/run.h \
                           $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(RUN_SRCS) $(CJSON_SRC)/cJSON.c -lm

# Failure causes as values (agent client over a socketpair, the stage's
# cause -> status -> exit code rules): musl, linked against libvoidbox.a
# like the API tests, with the internal headers. No KVM.
$(BUILD)/run/test_cause: tests/run/test_cause.c $(BUILD)/libvoidbox.a \
                         $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $< $(BUILD)/libvoidbox.a $(HOST_LIBS)

CHECK_TESTS += $(BUILD)/run/test_cause
CHECK_DEPS += $(BUILD)/run/test_cause
