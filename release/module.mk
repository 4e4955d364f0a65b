# release/module.mk: release checks (the single-file release comes later).
.PHONY: release-check
release-check: $(BUILD)/voidbox
	$(Q)tests/build/static.sh
