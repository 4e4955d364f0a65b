# tools/module.mk: the claude-code tools disk, a read-only EROFS image
# (~190 MB) the guest mounts at /opt/voidbox (guest/agent/tools.c).
# Not part of `all`: `make tools` builds it. build/tools.erofs is a symlink
# into the cache ($(VOIDBOX_CACHE)/tools-<recipe hash>), like build/kernel.
TOOLS_DISK := $(BUILD)/tools.erofs

.PHONY: tools
$(TOOLS_DISK): tools/build-tools-disk.sh tools/build-toolbox.sh tools/toolbox.lock third_party/lib.sh \
               third_party/versions.lock $(BUILD)/.kernel-stamp
	$(E) EROFS $@
	$(Q)tools/build-tools-disk.sh $@ $(KERNEL)/.config

tools: $(TOOLS_DISK)
