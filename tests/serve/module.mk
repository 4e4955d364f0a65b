# tests/serve/module.mk: `voidbox serve` and its clients in mock mode (no
# VM): the API against docs/api/openapi.json, hostile requests, kill -9
# and restart, resume, retention. Real VMs: tests/testhost (vm-serve-*).
CHECK_UNIT_TESTS += tests/serve/test_api.py
CHECK_UNIT_DEPS  += $(BUILD)/voidbox
