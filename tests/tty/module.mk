# tests/tty/module.mk: terminals — the live run panel on a pseudo-terminal
# (mock mode, no VM), read back as a screen and compared with golden
# screens. `voidbox shell` and `attach` need real guests: their tests run
# in the nested test host (vmtests.sh shell-*, attach-*, with ptydrive).
CHECK_UNIT_TESTS += tests/tty/test_panel.py
CHECK_UNIT_DEPS  += $(BUILD)/voidbox
