CHECK_UNIT_TESTS += tests/pipeline/check.sh
