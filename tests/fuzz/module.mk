# tests/fuzz/module.mk: libFuzzer targets for parsers that see guest input.
#
#   make fuzz                 run each target for FUZZ_SECONDS (default 60),
#                             growing its corpus under tests/fuzz/corpus/
#   make check                replays every committed corpus input once
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -idirafter $(SYSROOT)/include \
                -Iproto -D_GNU_SOURCE -Wno-unused-parameter
FUZZ_NAMES   := virtq vsock spec
# Recursive: later fragments add targets with FUZZ_NAMES += NAME and an
# explicit rule for $(BUILD)/fuzz/fuzz_NAME.
FUZZ_BINS     = $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_DEV_SRCS := host/devices/virtq.c host/devices/virtio_mmio.c \
                 host/devices/vsock.c host/util/log.c

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEV_SRCS) $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_DEV_SRCS) -lpthread

# The spec target needs libyaml built with the fuzzer's compiler: straight
# from the pinned source tree the sysroot recipe unpacked into the cache.
LIBYAML_VER := $(shell awk '$$1=="src" && $$2=="libyaml" { print $$3 }' third_party/versions.lock)
LIBYAML_SRC := $(VOIDBOX_CACHE)/src/libyaml-$(LIBYAML_VER)
SPEC_SRCS := host/spec/doc.c host/spec/schema.c host/spec/rules.c \
             host/net/policy.c host/net/dns.c host/net/frame.c host/util/log.c \
             host/spec/errors.c host/vmm/vmcfg.c host/llm/providers.c

$(BUILD)/fuzz/fuzz_spec: tests/fuzz/fuzz_spec.c $(SPEC_SRCS) $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -D_GNU_SOURCE \
		-I$(LIBYAML_SRC)/include -DYAML_DECLARE_STATIC \
		-DYAML_VERSION_MAJOR=0 -DYAML_VERSION_MINOR=2 \
		-DYAML_VERSION_PATCH=5 '-DYAML_VERSION_STRING="0.2.5"' \
		-o $@ $< $(SPEC_SRCS) $(wildcard $(LIBYAML_SRC)/src/*.c)

# The wire protocol through both ends' real decoders: the host client and
# the guest agent's connection with its request parsers (the guest's event
# loop, spawn and roots are stubbed in the target), host clang + glibc.
FUZZ_NAMES += wire
WIRE_SRCS := host/agent/conn.c host/agent/ops.c host/util/term.c guest/agent/conn.c \
             guest/agent/buf.c guest/agent/exec.c guest/agent/files.c \
             guest/agent/policy.c guest/agent/telemetry.c

$(BUILD)/fuzz/fuzz_wire: tests/fuzz/fuzz_wire.c $(WIRE_SRCS) \
		host/agent/agent.h guest/agent/agent.h proto/agent_abi.h \
		$(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(WIRE_SRCS)

.PHONY: fuzz
fuzz: $(FUZZ_BINS)
	$(Q)for n in $(FUZZ_NAMES); do \
		mkdir -p tests/fuzz/corpus/$$n; \
		echo "  FUZZ     $$n for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) \
			-max_len=8192 -print_final_stats=1 \
			tests/fuzz/corpus/$$n 2>&1 | tail -3 || exit 1; \
	done

CHECK_UNIT_TESTS += tests/fuzz/replay.sh
CHECK_UNIT_DEPS += $(FUZZ_BINS)

# The VM configuration codec: what the VMM unpacks before anything else.
FUZZ_NAMES += vmcfg
$(BUILD)/fuzz/fuzz_vmcfg: tests/fuzz/fuzz_vmcfg.c host/vmm/ipc.c host/vmm/vmcfg.c \
		host/vmm/ipc.h host/vmm/vmcfg.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< host/vmm/ipc.c host/vmm/vmcfg.c

# The shared-directory server: FUSE requests from the guest (read-only tree).
FUZZ_NAMES += fsrv
# FSRV_SRCS: the unit test's list (tests/unit/module.mk, included first).
$(BUILD)/fuzz/fuzz_fsrv: tests/fuzz/fuzz_fsrv.c $(FSRV_SRCS) host/fs/fs.h \
		$(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FSRV_SRCS) -lpthread

# Image layers into the EROFS writer (host/image/): tar and gzip parsing of
# registry and archive blobs.
FUZZ_NAMES += tar
$(BUILD)/fuzz/fuzz_tar: tests/fuzz/fuzz_tar.c $(IMAGE_SRCS) host/image/image.h \
                        $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(IMAGE_SRCS) -lz -lzstd

