# tests/testhost/module.mk: the nested test host (tests/testhost/README.md),
# included by the top-level Makefile. Defines check-testhost and
# testhost-proof; `check` itself belongs to the top level.
#
#   make check-testhost                    run smoke.batch in an L1 with /dev/kvm
#   make check-testhost TESTHOST_BATCH=F   run another batch the same way
#   make testhost-proof                    same, keeping a transcript in build/testhost/
#   make check-smoke                       the smallest proof: L1 boots, one real
#                                          guest runs a command on our VMM (~1 min)
#   TESTHOST_FLAGS="--smp 2 --mem 3072"    extra run.sh options
#
# The payload directory holds symlinks only: run.sh archives what they point
# at, so nothing (30 MB and growing) is copied on the way into L1.

TESTHOST_DIR     := tests/testhost
TESTHOST_BATCH   ?= $(TESTHOST_OUT)/check.batch
TESTHOST_FLAGS   ?=
TESTHOST_OUT     := $(BUILD)/testhost
TESTHOST_PAYLOAD := $(TESTHOST_OUT)/voidbox
TESTHOST_INPUTS  := $(BUILD)/voidbox $(BUILD)/kernel/bzImage $(BUILD)/kernel/vmlinux \
                    $(BUILD)/initramfs.cpio.lz4 \
                    $(TESTHOST_DIR)/vmtests.sh $(TESTHOST_DIR)/snaptests.sh $(BUILD)/net/testdnsd \
                    $(BUILD)/net/hostilenet $(BUILD)/testhost-bin/ptydrive
TESTHOST_RUN      = $(TESTHOST_DIR)/run.sh --with-qemu --payload $(TESTHOST_PAYLOAD) --payload $(KVMTIER_PAYLOAD) \
                    --log $(TESTHOST_OUT)/console.log $(TESTHOST_FLAGS) $(TESTHOST_BATCH)

.PHONY: check-testhost testhost-proof testhost-payload check-smoke

# Tier 2 in L1 (tests/kvm/module.mk): its scripts, the tiny guests and the
# binary in the tree's own layout under /payload/kvmtier, so tests/lib.sh
# finds them as it does here; runas stands in for util-linux's setpriv.
KVMTIER_PAYLOAD := $(TESTHOST_OUT)/kvmtier
KVMTIER_INPUTS  := tests/lib.sh tests/kvm/l1.sh tests/kvm/guests.sh tests/kvm/selftest.sh \
                   tests/kvm/vm_sandbox.sh tests/release/conditions.sh \
                   $(BUILD)/voidbox $(TEST_GUESTS) $(BUILD)/testhost-bin/runas

$(BUILD)/testhost-bin/runas: $(TESTHOST_DIR)/runas.c $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $<

# A terminal driven by a script (shell/attach tests in L1: no tmux there).
$(BUILD)/testhost-bin/ptydrive: $(TESTHOST_DIR)/ptydrive.c $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $<

# /payload/voidbox/{voidbox,bzImage,initramfs.cpio.lz4} inside L1.
testhost-payload: $(TESTHOST_INPUTS) $(KVMTIER_INPUTS)
	@mkdir -p $(TESTHOST_PAYLOAD)
	$(Q)$(foreach f,$(TESTHOST_INPUTS),ln -sfn $(abspath $(f)) $(TESTHOST_PAYLOAD)/$(notdir $(f)) &&) true
	$(Q)rm -rf $(KVMTIER_PAYLOAD)
	$(Q)$(foreach f,$(KVMTIER_INPUTS),mkdir -p $(KVMTIER_PAYLOAD)/$(dir $(patsubst $(BUILD)/%,build/%,$(f))) && \
		ln -sfn $(abspath $(f)) $(KVMTIER_PAYLOAD)/$(patsubst $(BUILD)/%,build/%,$(f)) &&) true

# One L1 boot runs every batch (the boot is the expensive part): the smoke
# proof of the harness, tier 2's tiny guests (kvm.batch), then real Linux
# guests on our VMM (vm.batch).
$(TESTHOST_OUT)/check.batch: $(TESTHOST_DIR)/smoke.batch $(TESTHOST_DIR)/kvm.batch \
                             $(TESTHOST_DIR)/vm.batch
	@mkdir -p $(@D)
	$(Q)cat $^ > $@

# The test runner's entry (make check): same run, PASS/FAIL lines counted.
CHECK_TESTS += $(TESTHOST_DIR)/check.sh $(TESTHOST_DIR)/harness.sh \
               $(TESTHOST_DIR)/tools-check.sh
CHECK_DEPS += testhost-payload $(TESTHOST_OUT)/check.batch $(TOOLS_DISK)

check-testhost: testhost-payload $(TESTHOST_OUT)/check.batch
	$(E) TESTHOST $(TESTHOST_BATCH)
	$(Q)$(TESTHOST_RUN)

# The proof: the smoke batch with its whole transcript (results, timings on
# stderr, L1's console) kept in $(TESTHOST_OUT)/proof.txt and console.log.
testhost-proof: testhost-payload $(TESTHOST_OUT)/check.batch
	$(E) TESTHOST proof
	$(Q){ $(TESTHOST_RUN) 2>&1; echo "exit status $$?"; } | tee $(TESTHOST_OUT)/proof.txt; \
		tail -1 $(TESTHOST_OUT)/proof.txt | grep -qx 'exit status 0'

# The full-size versions of what make check runs smaller (a 100,000-entry
# shared directory, a venv with ensurepip): tests/testhost/long.batch.
.PHONY: check-long
check-long: testhost-payload $(TOOLS_DISK)
	$(E) TESTHOST $(TESTHOST_DIR)/long.batch
	$(Q)$(TESTHOST_DIR)/tools-check.sh $(abspath $(TESTHOST_DIR)/long.batch)

# The smallest nested-host proof (make check-fresh runs it in a fresh Debian
# root): one L1 without QEMU inside, /dev/kvm there, and one `voidbox exec`
# of a real Linux guest (the embedded kernel + initramfs) on our VMM. Needs
# only build/voidbox and what `make bootstrap` installs.
TESTHOST_SMOKE_PAYLOAD := $(TESTHOST_OUT)/smoke
check-smoke: $(BUILD)/voidbox
	@mkdir -p $(TESTHOST_SMOKE_PAYLOAD)
	$(Q)ln -sfn $(abspath $(BUILD)/voidbox) $(TESTHOST_SMOKE_PAYLOAD)/voidbox
	$(E) TESTHOST $(TESTHOST_DIR)/smoke-vm.batch
	$(Q)$(TESTHOST_DIR)/run.sh --payload $(TESTHOST_SMOKE_PAYLOAD) --timeout 180 \
		--log $(TESTHOST_OUT)/smoke-console.log $(TESTHOST_FLAGS) $(TESTHOST_DIR)/smoke-vm.batch
