# tests/http/module.mk: the TLS client (host/http/tls.c)
# against python's ssl server on 127.0.0.1 (test_tls.sh). Included by
# tests/module.mk. The driver is built like the voidbox binary: musl,
# static, against the sysroot's BearSSL.
TLS_TEST_BIN := $(BUILD)/http/tls_client_test
# -MMD -MP are dropped: with several sources and one -o, gcc would name
# the .d files after the output; the prerequisites below are complete.
$(TLS_TEST_BIN): tests/http/tls_client_test.c host/http/tls.c \
                 host/http/http.h host/util/sha256.c host/util/util.h \
                 $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) -Ihost/http \
		-Ihost/util $(MUSL_LDFLAGS) -o $@ tests/http/tls_client_test.c \
		host/http/tls.c host/util/sha256.c -lbearssl -lpthread

CHECK_UNIT_TESTS += tests/http/test_tls.sh
CHECK_UNIT_DEPS  += $(TLS_TEST_BIN)

.PHONY: check-tls
check-tls: $(TLS_TEST_BIN)
	$(Q)tests/runner.sh tests/http/test_tls.sh
