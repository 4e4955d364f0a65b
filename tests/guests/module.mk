# tests/guests/module.mk: freestanding test guests packaged as bzImages
#
# Included by the top-level Makefile (which sets BUILD, Q and E), or used
# alone:  make -f tests/guests/module.mk BUILD=build guests
# Paths are relative to the top of the tree.  The guests are built with
# the host gcc, not musl-gcc: they use no C library at all.

BUILD ?= build
Q ?= @
E ?= @echo

TG_DIR := tests/guests
TG_OUT := $(BUILD)/guests
TG_NAMES := hello bootcheck misbehave pio_bench vsock_echo virtio_hostile
TG_LIB := head lib printf fwtables
# Guests that drive the virtio devices also link the polled driver.
TG_VIRTIO := $(TG_OUT)/virtio.o
TG_HOSTILE := $(TG_OUT)/hostile_regs.o $(TG_OUT)/hostile_vsock.o

TG_CC ?= gcc
TG_OBJCOPY ?= objcopy
TG_CFLAGS := -std=c11 -O2 -g -Wall -Wextra \
	-ffreestanding -fno-pic -fno-pie \
	-mno-red-zone -mgeneral-regs-only -mcmodel=small \
	-fno-stack-protector -fcf-protection=none \
	-fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns \
	-MMD -MP
TG_ASFLAGS := -g -MMD -MP
TG_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none \
	-Wl,-z,noexecstack -Wl,--no-warn-rwx-segments \
	-Wl,-T,$(TG_DIR)/guest.ld

TEST_GUESTS := $(TG_NAMES:%=$(TG_OUT)/%.bzimage)
TG_LIB_OBJS := $(TG_LIB:%=$(TG_OUT)/%.o)
TG_C_OBJS := $(TG_OUT)/lib.o $(TG_OUT)/printf.o $(TG_OUT)/fwtables.o \
	$(TG_VIRTIO) $(TG_HOSTILE) $(TG_NAMES:%=$(TG_OUT)/%.o)

.PHONY: guests guests-qemu-check
guests: $(TEST_GUESTS)

# Checks the guests themselves under QEMU (TCG), independent of voidbox.
guests-qemu-check: $(TEST_GUESTS)
	$(Q)BUILD=$(BUILD) $(TG_DIR)/qemu-check.sh

$(TG_C_OBJS): $(TG_OUT)/%.o: $(TG_DIR)/%.c
	$(E) "  GUESTCC $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(TG_CC) $(TG_CFLAGS) -c -o $@ $<

$(TG_OUT)/head.o: $(TG_DIR)/head.S
	$(E) "  GUESTAS $@"
	$(Q)mkdir -p $(@D)
	$(Q)$(TG_CC) $(TG_ASFLAGS) -c -o $@ $<

$(TG_OUT)/%.elf: $(TG_OUT)/%.o $(TG_LIB_OBJS) $(TG_DIR)/guest.ld
	$(E) "  GUESTLD $@"
	$(Q)$(TG_CC) $(TG_LDFLAGS) -o $@ $(TG_LIB_OBJS) $(TG_EXTRA_OBJS) $<

$(TG_OUT)/vsock_echo.elf: $(TG_VIRTIO)
$(TG_OUT)/vsock_echo.elf: TG_EXTRA_OBJS := $(TG_VIRTIO)
$(TG_OUT)/virtio_hostile.elf: $(TG_VIRTIO) $(TG_HOSTILE)
$(TG_OUT)/virtio_hostile.elf: TG_EXTRA_OBJS := $(TG_VIRTIO) $(TG_HOSTILE)

# The linker already filled in setup_sects, syssize and init_size (see
# guest.ld); the flat binary is the bzImage.  Sanity-check the result.
$(TG_OUT)/%.bzimage: $(TG_OUT)/%.elf
	$(E) "  BZIMAGE $@"
	$(Q)$(TG_OBJCOPY) -O binary $< $@.tmp
	$(Q)sects=$$(od -An -j 497 -N 1 -tu1 $@.tmp | tr -d ' '); \
	magic=$$(dd if=$@.tmp bs=1 skip=514 count=4 2>/dev/null); \
	size=$$(wc -c < $@.tmp); \
	test "$$magic" = HdrS && test "$$sects" -ge 1 && \
	test "$$size" -gt $$(( ($$sects + 1) * 512 )) || \
	{ echo "$@: bad bzImage (sects=$$sects magic=$$magic)" >&2; \
	  rm -f $@.tmp; exit 1; }
	$(Q)mv $@.tmp $@

.PRECIOUS: $(TG_OUT)/%.elf

-include $(wildcard $(TG_OUT)/*.d)
