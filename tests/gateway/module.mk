# tests/gateway/module.mk: the LLM gateway (host/gateway/): its fuzz
# target and its test against a hostile guest. Included by tests/module.mk.

# libFuzzer target for the gateway's HTTP/chunked/SSE parsing (make fuzz;
# make check replays tests/fuzz/corpus/http). cJSON from its pinned
# source tree, built with the fuzzer's compiler (as tests/run does).
FUZZ_NAMES += http
HTTP_CJSON_VER := $(shell awk '$$1=="src" && $$2=="cjson" { print $$3 }' third_party/versions.lock)
HTTP_CJSON_SRC := $(VOIDBOX_CACHE)/src/cjson-$(HTTP_CJSON_VER)
FUZZ_HTTP_SRCS := tests/gateway/fuzz_http.c host/http/http.c \
                  host/gateway/surface.c host/gateway/reqbody.c \
                  host/gateway/keyscan.c host/llm/providers.c
$(BUILD)/fuzz/fuzz_http: $(FUZZ_HTTP_SRCS) host/gateway/gateway.h \
                         host/http/http.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D) $(BUILD)/fuzz/http-inc/cjson
	@cp $(HTTP_CJSON_SRC)/cJSON.h $(BUILD)/fuzz/http-inc/cjson/
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -D_GNU_SOURCE -Ihost/gateway \
		-I$(BUILD)/fuzz/http-inc -o $@ $(FUZZ_HTTP_SRCS) \
		$(HTTP_CJSON_SRC)/cJSON.c

# The gateway itself (host/gateway/gateway.c + host/http/) against a hostile
# guest and an echoing upstream, in one process (test_gateway.c). Built
# like the voidbox binary (musl, static) so it runs the real code.
GW_TEST_BIN := $(BUILD)/gateway/test_gateway
GW_TEST_SRCS := tests/gateway/test_gateway.c host/gateway/gateway.c \
                host/http/http.c host/http/tls.c host/box/svc.c \
                host/vmm/ipc.c host/vmm/vmcfg.c \
                host/gateway/relay.c host/gateway/surface.c \
                host/gateway/keyscan.c host/gateway/reqbody.c \
                host/gateway/budget.c host/llm/providers.c \
                host/util/log.c host/util/sha256.c
$(GW_TEST_BIN): $(GW_TEST_SRCS) host/gateway/gateway.h host/http/http.h \
                host/box/box.h host/vmm/ipc.h host/vmm/vmcfg.h \
                host/util/util.h proto/agent_abi.h $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) -Ihost/gateway \
		-Ihost/box -Ihost/util -Iproto $(MUSL_LDFLAGS) -o $@ $(GW_TEST_SRCS) \
		-lcjson -lbearssl -lpthread

CHECK_UNIT_TESTS += $(GW_TEST_BIN)
CHECK_UNIT_DEPS  += $(GW_TEST_BIN)
