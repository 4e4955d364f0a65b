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

CHECK_UNIT_TESTS += $(UNIT_TESTS)
CHECK_UNIT_DEPS += $(UNIT_TESTS)

# The VMM's vsock glue and I/O loop with the real device model, past 256
# host fds (security review H1): only the KVM bus is stubbed in the test.
VSOCK_HOST_SRCS := host/vmm/vsock_host.c host/vmm/ioloop.c $(UNIT_DEV_SRCS)

$(BUILD)/unit/test_vsock_host: tests/unit/test_vsock_host.c tests/unit/vqdrv.h \
                               $(VSOCK_HOST_SRCS) host/vmm/vmm.h \
                               $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< $(VSOCK_HOST_SRCS) -lpthread

CHECK_UNIT_TESTS += $(BUILD)/unit/test_vsock_host
CHECK_UNIT_DEPS += $(BUILD)/unit/test_vsock_host

# An interactive session's terminal: raw, and always put back
# (host/util/term.c: exit, signals, SIGWINCH).
$(BUILD)/unit/test_termraw: tests/unit/test_termraw.c host/util/term.c \
                            host/util/util.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< host/util/term.c

CHECK_UNIT_TESTS += $(BUILD)/unit/test_termraw
CHECK_UNIT_DEPS += $(BUILD)/unit/test_termraw

# The VM configuration codec and rules (host/vmm/ipc.c, vmcfg.c): every
# field round-trips, hostile bytes are refused.
VMCFG_SRCS := host/vmm/ipc.c host/vmm/vmcfg.c
$(BUILD)/unit/test_vmcfg: tests/unit/test_vmcfg.c $(VMCFG_SRCS) host/vmm/ipc.h \
                          host/vmm/vmcfg.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< $(VMCFG_SRCS)

CHECK_UNIT_TESTS += $(BUILD)/unit/test_vmcfg
CHECK_UNIT_DEPS += $(BUILD)/unit/test_vmcfg

# A snapshot's state records and a device's transport state from hostile
# bytes (host/vmm/snaprec.c, host/devices/virtio_state.c).
SNAPREC_SRCS := host/vmm/snaprec.c host/devices/virtio_state.c \
                host/devices/virtio_mmio.c host/devices/virtq.c host/util/log.c
$(BUILD)/unit/test_snaprec: tests/unit/test_snaprec.c $(SNAPREC_SRCS) \
                            host/vmm/vmm.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< $(SNAPREC_SRCS) -lpthread

CHECK_UNIT_TESTS += $(BUILD)/unit/test_snaprec
CHECK_UNIT_DEPS += $(BUILD)/unit/test_snaprec

# The shared-directory server (host/fs/) over a temporary directory, as
# the guest kernel drives it: operations, confinement (with a host-side
# symlink swap racing the lookups), read-only, bounds, hostile framing.
FSRV_SRCS := host/fs/fsrv.c host/fs/fs_ops.c host/fs/fs_io.c host/fs/fs_dir.c host/fs/fs_node.c host/devices/virtq.c \
             host/devices/virtio_mmio.c host/util/log.c
$(BUILD)/unit/test_fsrv: tests/unit/test_fsrv.c $(FSRV_SRCS) host/fs/fs.h \
                         $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< $(FSRV_SRCS) -lpthread

CHECK_UNIT_TESTS += $(BUILD)/unit/test_fsrv
CHECK_UNIT_DEPS += $(BUILD)/unit/test_fsrv

# The EROFS writer of OCI images (host/image/erofs.c), read back by
# fsck.erofs and, as root with loop devices, by the kernel.
$(BUILD)/unit/test_erofs: tests/unit/test_erofs.c tests/unit/imgcheck.h host/image/erofs.c host/image/image.h \
                          $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< host/image/erofs.c

CHECK_UNIT_TESTS += $(BUILD)/unit/test_erofs
CHECK_UNIT_DEPS += $(BUILD)/unit/test_erofs

# Image layers (host/image/tar.c, layer.c): tar streams written by Python's
# tarfile applied into an image, and the hostile ones refused. The
# runner passes no arguments: the generator's path is baked in.
IMAGE_SRCS := host/image/erofs.c host/image/tar.c host/image/layer.c
$(BUILD)/unit/test_layers: tests/unit/test_layers.c tests/unit/imgcheck.h \
                           $(IMAGE_SRCS) host/image/image.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -DMK_LAYERS='"$(abspath tests/unit/mk_layers.py)"' \
		-o $@ $< $(IMAGE_SRCS) -lz -lzstd

CHECK_UNIT_TESTS += $(BUILD)/unit/test_layers
CHECK_UNIT_DEPS += $(BUILD)/unit/test_layers

# Image documents (host/image/oci.c): indexes, manifests, configs, and the
# hostile ones. cJSON from its source (CJSON_SRC, tests/run/module.mk):
# the sysroot's copy is musl-built.
$(BUILD)/unit/test_oci: tests/unit/test_oci.c host/image/oci.c host/image/image.h \
                        $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(UNIT_CFLAGS) -o $@ $< host/image/oci.c $(CJSON_SRC)/cJSON.c -lm

CHECK_UNIT_TESTS += $(BUILD)/unit/test_oci
CHECK_UNIT_DEPS += $(BUILD)/unit/test_oci

# The stage templates' cache bound (host/snap/prune.c) over a private
# data directory: musl, linked against libvoidbox.a.
$(BUILD)/unit/test_snapprune: tests/unit/test_snapprune.c $(BUILD)/libvoidbox.a \
                              $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $< $(BUILD)/libvoidbox.a $(HOST_LIBS)

CHECK_TESTS += $(BUILD)/unit/test_snapprune
CHECK_DEPS += $(BUILD)/unit/test_snapprune
