# tests/image/module.mk: OCI images from files (host/image/): archives in
# every format `voidbox image import` takes, written by mk_archives.py,
# imported into a store and built into root filesystems that fsck.erofs
# and the kernel read back; the hostile archives refused. Built like the
# voidbox binary (musl, static: BearSSL, cJSON and zlib from the sysroot).
IMAGE_TEST_BIN := $(BUILD)/image/test_import
IMAGE_ALL_SRCS := $(wildcard host/image/*.c)
$(IMAGE_TEST_BIN): tests/image/test_import.c tests/unit/imgcheck.h $(IMAGE_ALL_SRCS) \
                   host/image/image.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) \
		-DMK_ARCHIVES='"$(abspath tests/image/mk_archives.py)"' $(MUSL_LDFLAGS) \
		-o $@ tests/image/test_import.c $(IMAGE_ALL_SRCS) host/util/log.c -lcjson -lbearssl -lz -lzstd -lm

CHECK_UNIT_TESTS += $(IMAGE_TEST_BIN)
CHECK_UNIT_DEPS  += $(IMAGE_TEST_BIN)

# The command on top (`voidbox image`), on the built binary; pulls from
# real registries (docker-registry) and a hostile one, on loopback.
CHECK_UNIT_TESTS += tests/image/cli.sh tests/image/registry.sh
CHECK_UNIT_DEPS  += $(BUILD)/voidbox
