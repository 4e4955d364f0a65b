# tests/gateway/module.mk: the gateway's TLS client (host/gateway/tls.c)
# against python's ssl server on 127.0.0.1 (test_tls.sh). Included by
# tests/module.mk. The driver is built like the voidbox binary: musl,
# static, against the sysroot's BearSSL.
TLS_TEST_BIN := $(BUILD)/gateway/tls_client_test
# -MMD -MP are dropped: with several sources and one -o, gcc would name
# the .d files after the output; the prerequisites below are complete.
$(TLS_TEST_BIN): tests/gateway/tls_client_test.c host/gateway/tls.c \
                 host/gateway/gateway.h host/util/sha256.c host/util/util.h \
                 $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) -Ihost/gateway \
		-Ihost/util $(MUSL_LDFLAGS) -o $@ tests/gateway/tls_client_test.c \
		host/gateway/tls.c host/util/sha256.c -lbearssl -lpthread

CHECK_TESTS += tests/gateway/test_tls.sh
CHECK_DEPS  += $(TLS_TEST_BIN)

.PHONY: check-tls
check-tls: $(TLS_TEST_BIN)
	$(Q)tests/runner.sh tests/gateway/test_tls.sh
