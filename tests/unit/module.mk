# tests/unit/module.mk: tier 1 — device models over plain memory, built
# with the host compiler and AddressSanitizer/UBSan (no KVM, no musl).
UNIT_CFLAGS := -std=gnu11 -g -O1 -fsanitize=address,undefined \
               -fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter \
               -idirafter $(SYSROOT)/include -Iproto -D_GNU_SOURCE
UNIT_DEV_SRCS := host/devices/virtq.c host/devices/virtio_mmio.c \
                 host/devices/vsock.c host/util/log.c
UNIT_TESTS := $(BUILD)/unit/test_virtq $(BUILD)/unit/test_vsock \
              $(BUILD)/unit/test_term

$(BUILD)/unit/%: tests/unit/%.c tests/unit/vqdrv.h $(UNIT_DEV_SRCS) \
                 $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< $(UNIT_DEV_SRCS) -lpthread

CHECK_TESTS += $(UNIT_TESTS)
CHECK_DEPS += $(UNIT_TESTS)
