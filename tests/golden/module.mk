# tests/golden/module.mk: spec validation golden tests (exact messages).
CHECK_UNIT_TESTS += tests/golden/run.sh
