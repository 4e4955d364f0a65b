# initramfs/module.mk: the guest initramfs (agent as /init + userland).
INITRAMFS := $(BUILD)/initramfs.cpio.lz4

$(INITRAMFS): $(BUILD)/voidbox-agent initramfs/contents.list initramfs/stage.sh \
              initramfs/mkcpio.py initramfs/passwd initramfs/group initramfs/hosts \
              third_party/versions.lock
	$(E) CPIO $@
	$(Q)initramfs/stage.sh $@ $(BUILD)/voidbox-agent

initramfs: $(INITRAMFS)
