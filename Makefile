# voidbox: one non-recursive GNU Makefile (STYLE R18).
#
#   make bootstrap  install the Debian build packages (once per machine)
#   make            build build/voidbox (deps, kernel and initramfs included)
#   make check      run every test tier (unit, tiny guests on /dev/kvm, nested test host)
#   make check-unit only the tiers that need no /dev/kvm and no nested test host (~1 min)
#   make check-smoke  the smallest nested-host proof: one real guest on our VMM in L1
#   make bench      print the benchmark tables
#   make V=1        show the commands
#
# Third-party libraries and the guest kernel are built by recipes under
# third_party/ and kernel-config/ into a cache outside the clone
# ($(VOIDBOX_CACHE), default ~/.cache/voidbox-build) keyed by recipe hash;
# build/sysroot and build/kernel are symlinks into it.

-include config.mak

VERSION      := 0.1.0
BUILD        ?= build
export VOIDBOX_CACHE ?= $(HOME)/.cache/voidbox-build

ifeq ($(V),1)
Q :=
E := @true
else
Q := @
E := @printf '  %-8s %s\n'
endif

SYSROOT  := $(BUILD)/sysroot
KERNEL   := $(BUILD)/kernel
MUSLCC   := musl-gcc
HOSTCC   := gcc

# -Wno-format-truncation: every snprintf here truncates on purpose (bounded
# messages and paths); gcc's guesses at "may be truncated" are noise.
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-unused-parameter -Wno-format-truncation
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
OPT      ?= -O2
CFLAGS_COMMON := -std=gnu11 $(OPT) -g $(WARNINGS) -ffunction-sections -fdata-sections \
                 -fno-strict-aliasing -D_GNU_SOURCE -MMD -MP
# -isystem sysroot: kernel uapi headers and libraries from our pinned builds
# only; musl-gcc's -nostdinc keeps the build host's /usr/include out.
MUSL_CFLAGS := $(CFLAGS_COMMON) -isystem $(SYSROOT)/include -Iproto
MUSL_LDFLAGS := -static -Wl,--gc-sections -Wl,-z,noexecstack -L$(SYSROOT)/lib

.PHONY: all bootstrap check bench clean distclean deps kernel initramfs
all: $(BUILD)/voidbox $(BUILD)/voidbox-full

# Install the Debian packages the build needs (root or sudo; idempotent).
bootstrap:
	$(Q)third_party/host-deps.sh

# --- third-party sysroot and guest kernel (cached recipes) -------------------
# The stamp files make these real prerequisites without re-running the
# (fast, cached) recipe scripts on every make.
$(BUILD)/.deps-stamp: third_party/build-deps.sh third_party/lib.sh \
                      third_party/linux-src.sh third_party/versions.lock
	@mkdir -p $(BUILD)
	$(Q)third_party/build-deps.sh $(SYSROOT)
	@touch $@
$(BUILD)/.kernel-stamp: kernel-config/build-kernel.sh kernel-config/guest.fragment \
                        third_party/lib.sh third_party/linux-src.sh third_party/versions.lock
	@mkdir -p $(BUILD)
	$(Q)kernel-config/build-kernel.sh $(KERNEL)
	@touch $@
deps: $(BUILD)/.deps-stamp
kernel: $(BUILD)/.kernel-stamp

include guest/module.mk
include initramfs/module.mk
include tools/module.mk
include host/otel/module.mk
include host/module.mk
include host/api/module.mk
include tests/module.mk
include release/module.mk

# The README's commands in a fresh Debian 12 root (cached mmdebstrap minbase
# tarball, chroot): apt-get install make, make bootstrap, make, make
# check-unit, make check-smoke, each timed. Catches build and test packages
# only this machine has (tests/fresh/check-fresh.sh; FRESH_PHASES to choose).
.PHONY: check-fresh
check-fresh:
	$(Q)tests/fresh/check-fresh.sh

clean:
	rm -rf $(BUILD)
# distclean also forgets the cache links; the cache itself is shared by
# every clone on the machine and is left alone (rm -rf $(VOIDBOX_CACHE)).
distclean: clean
	rm -f config.mak

# Benchmarks print tables (tests/bench/run.sh); they are not tests.
bench: $(BUILD)/voidbox $(TEST_GUESTS) $(TOOLS_DISK)
	$(Q)tests/bench/run.sh
# Only the networking section of bench (one nested test host, minutes).
.PHONY: bench-netvm bench-fs bench-image bench-snapshot bench-serve
bench-netvm: $(BUILD)/voidbox
	$(Q)tests/bench/netbench.sh
# Only the shared-directory section (virtio-fs vs QEMU's 9p, one L1).
bench-fs: $(BUILD)/voidbox $(TOOLS_DISK)
	$(Q)tests/bench/fsbench.sh
# Only the images section (import and conversion here, warm start in L1).
bench-image: $(BUILD)/voidbox $(TOOLS_DISK)
	$(Q)tests/bench/imgbench.sh
# Only the warm-start section (snapshots; one L1, minutes).
bench-snapshot: $(BUILD)/voidbox
	$(Q)tests/bench/snapbench.sh
# Only the daemon's section (mock runs on this machine, ~30 s).
bench-serve: $(BUILD)/voidbox
	$(Q)python3 tests/bench/servebench.py
