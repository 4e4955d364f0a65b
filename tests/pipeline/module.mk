CHECK_TESTS += tests/pipeline/check.sh
