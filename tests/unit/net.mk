# tests/unit/net.mk: the virtio-net device model (host/devices/net.c)
# over plain memory — unit test (ASan/UBSan, flags as tests/unit/module.mk)
# and libFuzzer target (flags as tests/fuzz/module.mk). No KVM, no slirp.
#
# Include after tests/unit/module.mk and tests/fuzz/module.mk: it uses
# their UNIT_CFLAGS/FUZZ_CFLAGS, and fuzz/module.mk sets FUZZ_NAMES with :=.
NET_DEV_SRCS := host/devices/virtq.c host/devices/virtio_mmio.c \
                host/devices/net.c host/util/log.c
NET_DEV_DEPS := $(NET_DEV_SRCS) host/devices/devices.h $(BUILD)/.deps-stamp

# Explicit rules: they win over the %-patterns that build the vsock set.
$(BUILD)/unit/test_net: tests/unit/test_net.c tests/unit/vqdrv.h \
                        $(NET_DEV_DEPS)
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< $(NET_DEV_SRCS) -lpthread

FUZZ_NAMES += net

$(BUILD)/fuzz/fuzz_net: tests/fuzz/fuzz_net.c $(NET_DEV_DEPS)
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(NET_DEV_SRCS) -lpthread

CHECK_UNIT_TESTS += $(BUILD)/unit/test_net
CHECK_UNIT_DEPS += $(BUILD)/unit/test_net $(BUILD)/fuzz/fuzz_net
