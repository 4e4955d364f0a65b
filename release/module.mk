# release/module.mk: the single-file release (release/build.sh) and its
# checks (release/check.sh); docs/release.md says what they promise.
.PHONY: release release-check
release: $(BUILD)/voidbox $(BUILD)/voidbox-full $(TOOLS_DISK)
	$(Q)release/build.sh $(VERSION) $(BUILD)

release-check: release
	$(Q)release/check.sh
