# tests/net/module.mk: the egress policy filter and DNS responder
# (host/net/) over raw frames — no KVM, no slirp, and no musl except
# for test_slirp_spoof (libslirp in process) and testdnsd, which runs
# inside the nested test host.
#
#   build/net/test_policy   unit test, host gcc + ASan/UBSan (in make check)
#   build/net/test_dns_upstream  the upstream query/reply code, same flags
#   build/net/test_slirp_spoof  libslirp in process: spoofed UDP (in make check)
#   build/net/testdnsd      static musl test DNS server for the nested host
#   make bench-net          ns/packet of the filter (-O2, no sanitizers)
#   make fuzz               includes the netframe, dns and dnsup targets
NET_SRCS := host/net/policy.c host/net/dns.c host/net/frame.c \
            host/net/dns_upstream.c
NET_DEPS := $(NET_SRCS) host/net/net.h $(BUILD)/.deps-stamp
NET_TEST_CFLAGS := -std=gnu11 -g -O1 -fsanitize=address,undefined \
                   -fno-sanitize-recover=all -Wall -Wextra -Wshadow \
                   -Wno-unused-parameter -idirafter $(SYSROOT)/include \
                   -Iproto -D_GNU_SOURCE
# The benchmark measures the code as the VMM runs it: -O2, no sanitizers.
NET_BENCH_CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Wno-unused-parameter \
                    -idirafter $(SYSROOT)/include -Iproto -D_GNU_SOURCE

NET_TEST_PARTS := tests/net/test_policy_nat.c tests/net/test_policy_flows.c \
                  tests/net/test_policy_lan.c
$(BUILD)/net/test_policy: tests/net/test_policy.c $(NET_TEST_PARTS) \
                        tests/net/policy_frames.h $(NET_DEPS)
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(NET_TEST_CFLAGS) -o $@ $< $(NET_TEST_PARTS) $(NET_SRCS)

$(BUILD)/net/test_dns_upstream: tests/net/test_dns_upstream.c tests/net/policy_frames.h $(NET_DEPS)
	@mkdir -p $(@D)
	$(E) UNIT $@
	$(Q)$(HOSTCC) $(NET_TEST_CFLAGS) -o $@ $< $(NET_SRCS)

# The reverse-flow rule against a real libslirp in process and real UDP
# sockets on 127.0.0.0/8 (a spoofer included): static musl, linked like
# the VMM; skips (77) without loopback.
$(BUILD)/net/test_slirp_spoof: tests/net/test_slirp_spoof.c \
                             tests/net/policy_frames.h $(NET_DEPS)
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $< $(NET_SRCS) -lslirp -lglib-2.0 -lpthread

# The nested test host's stand-in for an upstream resolver: static musl,
# no libraries, so it runs as /payload/voidbox/testdnsd inside L1. -MMD -MP
# dropped as in tests/http/module.mk: its prerequisites are all here.
$(BUILD)/net/testdnsd: tests/net/testdnsd.c $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $<

# The hostile guest's raw-socket tricks (bogus RSTs, echo floods, UDP
# replies to a spoofer) and L1's spoofer: static musl like testdnsd, run
# as /payload/voidbox/hostilenet in L1 and put into the L2 guest.
$(BUILD)/net/hostilenet: tests/net/hostilenet.c $(BUILD)/.deps-stamp
	@mkdir -p $(@D)
	$(E) LD $@
	$(Q)$(MUSLCC) $(filter-out -MMD -MP,$(MUSL_CFLAGS)) $(MUSL_LDFLAGS) \
		-o $@ $<

$(BUILD)/net/bench_policy: tests/net/bench_policy.c $(NET_DEPS)
	@mkdir -p $(@D)
	$(E) CC $@
	$(Q)$(HOSTCC) $(NET_BENCH_CFLAGS) -o $@ $< $(NET_SRCS)

.PHONY: bench-net
bench-net: $(BUILD)/net/bench_policy
	$(Q)$<

# libFuzzer targets (flags as tests/fuzz/module.mk); `make check` replays
# tests/fuzz/corpus/{netframe,dns,dnsup}/ through tests/fuzz/replay.sh.
FUZZ_NAMES += netframe dns dnsup

$(BUILD)/fuzz/fuzz_netframe: tests/net/fuzz_frame.c $(NET_DEPS)
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(NET_SRCS)

$(BUILD)/fuzz/fuzz_dns: tests/net/fuzz_dns.c $(NET_DEPS)
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(NET_SRCS)

$(BUILD)/fuzz/fuzz_dnsup: tests/net/fuzz_dnsup.c $(NET_DEPS)
	@mkdir -p $(@D)
	$(E) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(NET_SRCS)

CHECK_UNIT_TESTS += $(BUILD)/net/test_policy $(BUILD)/net/test_dns_upstream \
                    $(BUILD)/net/test_slirp_spoof
CHECK_UNIT_DEPS += $(BUILD)/net/test_policy $(BUILD)/net/test_dns_upstream \
                   $(BUILD)/net/test_slirp_spoof
# testdnsd runs inside the nested test host (tests/testhost/).
CHECK_DEPS += $(BUILD)/net/testdnsd
