/* test_policy_flows.c: what the guest can make the host hold or open
 * through the frames slirp delivers back: reverse flows (only replies
 * from the exact address:port the guest sent to, or published ports) and
 * the per-VM connection cap against slirp's real socket lifetime. Part of
 * build/net/test_policy. */
#include "policy_frames.h"

/* A UDP datagram slirp delivers to the guest: slirp's UDP sockets are
 * unconnected (libslirp sorecvfrom uses recvfrom), so it comes from
 * whoever sent it, spoofers included. */
static void rx_udp(struct net_policy *p, const char *src, uint16_t sport,
		   uint16_t gport, uint64_t now)
{
	uint8_t f[256];
	size_t n = udp(f, src, sport, G4, gport, (const uint8_t *)"x", 1);
	net_policy_observe_rx(p, f, n, now);
}

static enum net_action tx_udp(struct net_policy *p, uint16_t gport,
			      const char *dst, uint16_t dport, uint64_t now,
			      struct net_verdict *v)
{
	uint8_t f[256];
	size_t n = udp(f, G4, gport, dst, dport, (const uint8_t *)"y", 1);
	return chk(p, f, n, now, v);
}

void test_udp_reverse(void)
{
	static const char *const rules[] = { "203.0.113.0/24:443", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	struct net_verdict v;

	CHECK("udp-guest-opens", tx_udp(p, 5000, "203.0.113.5", 443, 1, &v) ==
	      NET_ACT_ALLOW && v.reason == NET_R_RULE);
	/* a stranger sprays the host port slirp bound for the guest */
	rx_udp(p, "198.51.100.66", 9999, 5000, 2);
	CHECK("udp-spoof-opens-nothing", tx_udp(p, 5000, "198.51.100.66",
						9999, 3, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_NOT_ALLOWED);
	/* the allowed host's other ports stay closed too */
	rx_udp(p, "203.0.113.5", 5353, 5000, 4);
	CHECK("udp-other-port-opens-nothing", tx_udp(p, 5000, "203.0.113.5",
						     5353, 5, &v) ==
	      NET_ACT_DENY);
	/* a datagram to a guest port the guest never used opens nothing */
	rx_udp(p, "198.51.100.67", 123, 7777, 6);
	CHECK("udp-unsolicited-opens-nothing", tx_udp(p, 7777,
		"198.51.100.67", 123, 7, &v) == NET_ACT_DENY);
	/* the real reply keeps the guest's own flow going */
	rx_udp(p, "203.0.113.5", 443, 5000, 8);
	CHECK("udp-reply-is-flow", tx_udp(p, 5000, "203.0.113.5", 443, 9, &v)
	      == NET_ACT_ALLOW && v.reason == NET_R_FLOW);
	struct net_stats st;
	net_policy_stats(p, &st);
	CHECK("udp-spoof-no-flows", st.flows == 1);
	/* a published UDP port: whoever sends to it may be answered */
	net_policy_add_publish(p, UDP, 6000);
	rx_udp(p, "198.51.100.68", 40000, 6000, 10);
	CHECK("udp-published-reply", tx_udp(p, 6000, "198.51.100.68", 40000,
					    11, &v) == NET_ACT_ALLOW &&
	      v.reason == NET_R_FLOW);
	net_policy_free(p);
}
