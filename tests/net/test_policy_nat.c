/* test_policy_nat.c: guest->host forwards (the NAT in front of slirp:
 * rewritten frames must be byte-identical to ones built for the other
 * address, both ways) and the per-VM connection cap and rate (refusals,
 * freeing on close and expiry, defaults). Part of build/net/test_policy. */
#include "policy_frames.h"

/* --- forwards (NAT) and connection caps -------------------------------- */

static int fwd_bad(const char *text, const char *needle)
{
	struct net_policy *p = net_policy_new(NET_OFF);
	char err[NET_ERR_MAX] = "";
	int rc = net_policy_add_forward(p, text, err, sizeof(err));
	net_policy_free(p);
	if (rc != -EINVAL || !strstr(err, needle)) {
		printf("  forward '%s': rc %d err '%s'\n", text, rc, err);
		return 0;
	}
	return 1;
}

void test_forwards(void)
{
	struct net_policy *p = net_policy_new(NET_ALLOW);	/* no rules */
	char err[NET_ERR_MAX];
	uint8_t f[256], want[256], o[256];
	struct net_verdict v;
	size_t n, w;

	CHECK("fwd-parse", !net_policy_add_forward(p, "10.0.2.2:11434="
				"127.0.0.1:8080", err, sizeof(err)) &&
	      !net_policy_add_forward(p, "192.0.2.9:9053=127.0.0.2:5353", err,
				      sizeof(err)));
	CHECK("fwd-bad-guest-self", fwd_bad("10.0.2.15:80=127.0.0.1:80",
					    "guest side"));
	CHECK("fwd-bad-guest-lo", fwd_bad("127.0.0.1:80=127.0.0.1:80",
					  "guest side"));
	CHECK("fwd-bad-host-slirp", fwd_bad("10.0.2.2:80=10.0.2.3:80",
					    "host side"));
	CHECK("fwd-bad-port", fwd_bad("10.0.2.2:0=127.0.0.1:80", "PORT") &&
	      fwd_bad("10.0.2.2:80=127.0.0.1", "PORT") &&
	      fwd_bad("10.0.2.2:80=127.0.0.1:70000", "PORT") &&
	      fwd_bad("10.0.2.2:80", "expected"));
	CHECK("fwd-bad-dns", fwd_bad("10.0.2.2:53=127.0.0.1:53", "DNS"));
	CHECK("fwd-dup", net_policy_add_forward(p, "10.0.2.2:11434="
				"127.0.0.1:9", err, sizeof(err)) == -EINVAL);

	/* with an empty allow-list, the forward is its own allow rule;
	 * the NATed frame is byte for byte the one built for the host side
	 * (so both checksums are right) */
	n = tcp(f, G4, 40001, "10.0.2.2", 11434, SYN, 77, 0);
	CHECK("fwd-allow", chk(p, f, n, 1, &v) == NET_ACT_ALLOW &&
	      v.reason == NET_R_FORWARD && v.fwd == 1);
	w = tcp(want, G4, 40001, "127.0.0.1", 8080, SYN, 77, 0);
	CHECK("fwd-nat-tx", net_policy_nat_tx(p, &v, f, n, o, sizeof(o))
	      == w && !memcmp(o, want, w));
	/* the reply comes back from the host side, rewritten */
	n = tcp(f, "127.0.0.1", 8080, G4, 40001, SYN | ACK, 5, 78);
	w = tcp(want, "10.0.2.2", 11434, G4, 40001, SYN | ACK, 5, 78);
	CHECK("fwd-nat-rx", net_policy_nat_rx(p, f, n, 2, o, sizeof(o))
	      == w && !memcmp(o, want, w));
	/* later packets are flow hits that keep the NAT */
	n = tcp(f, G4, 40001, "10.0.2.2", 11434, ACK, 78, 6);
	CHECK("fwd-flow", chk(p, f, n, 3, &v) == NET_ACT_ALLOW &&
	      v.reason == NET_R_FLOW && v.fwd == 1 &&
	      net_policy_nat_tx(p, &v, f, n, o, sizeof(o)) == n);
	/* not on a forwarded flow: left alone */
	n = tcp(f, "127.0.0.1", 8080, G4, 40002, ACK, 5, 78);
	CHECK("fwd-rx-other", !net_policy_nat_rx(p, f, n, 4, o, sizeof(o)));
	/* the host side itself is not reachable directly */
	n = tcp(f, G4, 40003, "10.0.2.2", 8080, SYN, 1, 0);
	CHECK("fwd-no-direct", chk(p, f, n, 5, &v) == NET_ACT_DENY &&
	      !net_policy_nat_tx(p, &v, f, n, o, sizeof(o)));
	/* UDP, with a checksum, both ways */
	static const uint8_t data[] = "hello";
	n = udp(f, G4, 5000, "192.0.2.9", 9053, data, 5);
	w = udp(want, G4, 5000, "127.0.0.2", 5353, data, 5);
	CHECK("fwd-udp", chk(p, f, n, 6, &v) == NET_ACT_ALLOW && v.fwd == 2 &&
	      net_policy_nat_tx(p, &v, f, n, o, sizeof(o)) == w &&
	      !memcmp(o, want, w));
	n = udp(f, "127.0.0.2", 5353, G4, 5000, data, 5);
	w = udp(want, "192.0.2.9", 9053, G4, 5000, data, 5);
	CHECK("fwd-udp-rx", net_policy_nat_rx(p, f, n, 7, o, sizeof(o)) == w
	      && !memcmp(o, want, w));
	net_policy_free(p);
}

void test_limits(void)
{
	static const char *const rules[] = { "203.0.113.0/24", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	struct net_stats st;
	struct net_verdict v;
	uint8_t f[256];
	size_t n;
	int ok = 1;

	net_policy_set_limits(p, 3, 0);
	for (int i = 0; i < 3; i++) {
		n = tcp(f, G4, (uint16_t)(41000 + i), "203.0.113.1", 80, SYN, 1,
			0);
		ok &= chk(p, f, n, 10, &v) == NET_ACT_ALLOW;
	}
	/* a SYN retransmit is not a new connection */
	ok &= chk(p, f, n, 11, &v) == NET_ACT_ALLOW;
	n = tcp(f, G4, 41003, "203.0.113.1", 80, SYN, 1, 0);
	CHECK("cap-refuses", ok && chk(p, f, n, 12, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_CONN_LIMIT);
	/* the refusal is an RST, not a silent drop */
	uint8_t r[NET_REFUSAL_MAX];
	CHECK("cap-rst", net_build_refusal(f, n, r, sizeof(r)) > 0);
	/* a guest RST frees a place only when slirp takes it: before its
	 * SYN-ACK slirp is still connecting and drops the RST */
	n = tcp(f, G4, 41000, "203.0.113.1", 80, RST | ACK, 2, 0);
	chk(p, f, n, 13, &v);
	n = tcp(f, G4, 41003, "203.0.113.1", 80, SYN, 1, 0);
	CHECK("cap-rst-early-held", chk(p, f, n, 13, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_CONN_LIMIT);
	/* after it, an RST inside slirp's window closes the connection */
	n = tcp(f, "203.0.113.1", 80, G4, 41000, SYN | ACK, 900, 2);
	net_policy_observe_rx(p, f, n, 13);
	n = tcp(f, G4, 41000, "203.0.113.1", 80, RST | ACK, 2, 901);
	chk(p, f, n, 13, &v);
	n = tcp(f, G4, 41003, "203.0.113.1", 80, SYN, 1, 0);
	CHECK("cap-frees", chk(p, f, n, 14, &v) == NET_ACT_ALLOW);
	/* UDP flows count until they expire */
	n = udp(f, G4, 6000, "203.0.113.1", 443, f, 0);
	CHECK("cap-udp", chk(p, f, n, 15, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_CONN_LIMIT);
	net_policy_expire(p, 8000ull * 1000 * 1000);
	net_policy_stats(p, &st);
	CHECK("cap-expiry", st.open_conns == 0 && st.conn_limited == 3);

	/* rate: 5 per second, a burst of 5 then refusals, refilled later */
	net_policy_set_limits(p, 0, 5);
	uint64_t t0 = 9000ull * 1000 * 1000;
	int allowed = 0;
	for (int i = 0; i < 8; i++) {
		n = tcp(f, G4, (uint16_t)(42000 + i), "203.0.113.1", 80, SYN, 1,
			0);
		allowed += chk(p, f, n, t0, &v) == NET_ACT_ALLOW;
	}
	CHECK("rate-burst", allowed == 5 && v.reason == NET_R_RATE_LIMIT);
	n = tcp(f, G4, 42100, "203.0.113.1", 80, SYN, 1, 0);
	CHECK("rate-refill", chk(p, f, n, t0 + 200, &v) == NET_ACT_ALLOW &&
	      chk(p, f, n + 0, t0 + 200, &v) == NET_ACT_ALLOW);
	net_policy_free(p);

	/* defaults apply to a new policy */
	p = net_policy_new(NET_ALLOW);
	net_policy_add_rule(p, "203.0.113.0/24", NULL, 0);
	allowed = 0;
	for (int i = 0; i < NET_DEF_MAX_CONNS + 10; i++) {
		n = tcp(f, G4, (uint16_t)(20000 + i), "203.0.113.1", 80, SYN, 1,
			0);
		/* 1 ms apart: slirp never answers, and a flow without its
		 * SYN-ACK gives its place back after 90 s */
		allowed += chk(p, f, n, 1 + (uint64_t)i, &v) ==
			   NET_ACT_ALLOW;
	}
	CHECK("cap-default", allowed == NET_DEF_MAX_CONNS);
	net_policy_free(p);
}
