# tests/mock-openai/module.mk: the mock OpenAI Responses server (codex's
# upstream in tests) checks itself; no VM, no build products.
CHECK_UNIT_TESTS += tests/mock-openai/test_mock.py
