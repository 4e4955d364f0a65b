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

/* --- the connection cap against what slirp really holds ---------------- */

/* A TCP segment slirp sends the guest (from dst:dport to gport). */
static void rx_tcp(struct net_policy *p, const char *dst, uint16_t dport,
		   uint16_t gport, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint64_t now)
{
	uint8_t f[256];
	size_t n = tcp(f, dst, dport, G4, gport, flags, seq, ack);
	net_policy_observe_rx(p, f, n, now);
}

static enum net_action tx_tcp(struct net_policy *p, uint16_t gport,
			      const char *dst, uint16_t dport, uint8_t flags,
			      uint32_t seq, uint32_t ack, uint64_t now,
			      struct net_verdict *v)
{
	uint8_t f[256];
	size_t n = tcp(f, G4, gport, dst, dport, flags, seq, ack);
	return chk(p, f, n, now, v);
}

#define FIN 0x01
#define D "203.0.113.9"

/* Guest SYN (seq 100) and slirp's SYN-ACK (seq 5000, window 65535):
 * slirp's socket is connected and expects guest bytes from 101. */
static enum net_action open_conn(struct net_policy *p, uint16_t gport,
				 uint64_t now)
{
	struct net_verdict v;
	enum net_action a = tx_tcp(p, gport, D, 80, SYN, 100, 0, now, &v);
	if (a == NET_ACT_ALLOW) {
		rx_tcp(p, D, 80, gport, SYN | ACK, 5000, 101, now);
		tx_tcp(p, gport, D, 80, ACK, 101, 5001, now, &v);
	}
	return a;
}

static uint32_t open_conns(const struct net_policy *p)
{
	struct net_stats st;
	net_policy_stats(p, &st);
	return st.open_conns;
}

void test_conn_slots(void)
{
	static const char *const rules[] = { "203.0.113.0/24", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	struct net_verdict v;
	int allowed = 0;

	/* bogus-RST churn: libslirp drops an RST past its window ("segment
	 * ends after window" -> dropafterack) and keeps the socket */
	net_policy_set_limits(p, 4, 0);
	for (int i = 0; i < 50; i++) {
		uint16_t gp = (uint16_t)(30000 + i);
		if (open_conn(p, gp, 10) != NET_ACT_ALLOW)
			continue;
		allowed++;
		tx_tcp(p, gp, D, 80, RST, 101 + 200000, 0, 10, &v);
	}
	CHECK("rst-churn-bounded", allowed == 4 && open_conns(p) == 4);
	net_policy_free(p);

	/* an RST while slirp still connects is dropped there too
	 * (SS_ISFCONNECTING): no SYN-ACK yet, no place given back */
	p = mkpol(NET_ALLOW, rules);
	net_policy_set_limits(p, 2, 0);
	allowed = 0;
	for (int i = 0; i < 10; i++) {
		uint16_t gp = (uint16_t)(31000 + i);
		if (tx_tcp(p, gp, D, 80, SYN, 100, 0, 10, &v) != NET_ACT_ALLOW)
			continue;
		allowed++;
		tx_tcp(p, gp, D, 80, RST | ACK, 101, 0, 10, &v);
	}
	CHECK("rst-while-connecting-held", allowed == 2 && open_conns(p) == 2);
	net_policy_free(p);

	/* an RST inside slirp's window closes its socket: place back */
	p = mkpol(NET_ALLOW, rules);
	net_policy_set_limits(p, 1, 0);
	open_conn(p, 32000, 10);
	tx_tcp(p, 32000, D, 80, RST | ACK, 101 + 1000, 5001, 11, &v);
	CHECK("rst-in-window-frees", open_conns(p) == 0 &&
	      open_conn(p, 32001, 12) == NET_ACT_ALLOW);

	/* half-close: the guest's FIN, taken by slirp (it acks it), leaves
	 * slirp's socket open for as long as the far end keeps it */
	tx_tcp(p, 32001, D, 80, FIN | ACK, 101, 5001, 13, &v);
	rx_tcp(p, D, 80, 32001, ACK, 5001, 102, 13);
	CHECK("half-close-held", open_conns(p) == 1 &&
	      open_conn(p, 32002, 14) == NET_ACT_DENY);
	/* the far end closes too and the guest acks slirp's FIN: slirp
	 * closes its socket (LAST_ACK) */
	rx_tcp(p, D, 80, 32001, FIN | ACK, 5001, 102, 15);
	tx_tcp(p, 32001, D, 80, ACK, 102, 5002, 15, &v);
	CHECK("full-close-frees", open_conns(p) == 0 &&
	      open_conn(p, 32003, 16) == NET_ACT_ALLOW);

	/* slirp closes first; a guest FIN slirp does not take (past its
	 * window: its ACK does not move) frees nothing */
	rx_tcp(p, D, 80, 32003, FIN | ACK, 5001, 101, 17);
	tx_tcp(p, 32003, D, 80, FIN | ACK, 101 + 300000, 5002, 17, &v);
	rx_tcp(p, D, 80, 32003, ACK, 5002, 101, 17);
	CHECK("bogus-fin-held", open_conns(p) == 1);
	/* slirp's RST with ACK: it dropped the connection (tcp_drop) */
	rx_tcp(p, D, 80, 32003, RST | ACK, 5002, 101, 18);
	CHECK("slirp-rst-frees", open_conns(p) == 0);
	/* slirp keeps a closed connection in TIME_WAIT for 2 MSL and every
	 * segment restarts that: a guest still sending on a closed flow
	 * holds a place again */
	tx_tcp(p, 32001, D, 80, ACK, 102, 5002, 19, &v);
	CHECK("closed-flow-recounted", open_conns(p) == 1);
	net_policy_free(p);

	/* a FIN on a byte the guest already sent is no FIN to slirp (it
	 * trims it away) even when slirp's next ack lands just past it */
	p = mkpol(NET_ALLOW, rules);
	net_policy_set_limits(p, 1, 0);
	open_conn(p, 34000, 10);
	uint8_t big[100] = { 0 };
	uint8_t f[256];
	size_t n = tcp(f, G4, 34000, D, 80, ACK, 101, 5001);
	memcpy(f + n, big, sizeof(big));	/* 100 bytes: 101..200 */
	f[16] = (uint8_t)((n - 14 + 100) >> 8);
	f[17] = (uint8_t)(n - 14 + 100);
	f[24] = f[25] = 0;
	uint16_t c = fold(sum32(0, f + 14, 20));
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
	f[50] = f[51] = 0;
	c = fold(pseudo(0, f + 14, TCP, 120) + sum32(0, f + 34, 120));
	f[50] = (uint8_t)(c >> 8);
	f[51] = (uint8_t)c;
	CHECK("data-frame-ok", frame_ok(f, n + 100) &&
	      chk(p, f, n + 100, 11, &v) == NET_ACT_ALLOW);
	tx_tcp(p, 34000, D, 80, FIN | ACK, 200, 5001, 11, &v);
	rx_tcp(p, D, 80, 34000, ACK, 5001, 201, 11);
	rx_tcp(p, D, 80, 34000, FIN | ACK, 5001, 201, 11);
	tx_tcp(p, 34000, D, 80, ACK, 201, 5002, 11, &v);
	CHECK("fin-inside-data-held", open_conns(p) == 1);
	/* a SYN slirp never answers: its connect() gives up after 75 s */
	net_policy_free(p);
	p = mkpol(NET_ALLOW, rules);
	net_policy_set_limits(p, 2, 0);
	tx_tcp(p, 35000, D, 80, SYN, 100, 0, 10, &v);
	open_conn(p, 35001, 10);
	net_policy_expire(p, 10 + 91 * 1000);
	CHECK("syn-unanswered-expires", open_conns(p) == 1);
	net_policy_free(p);

	/* slirp's bare RST answers a bad segment and keeps its socket */
	p = mkpol(NET_ALLOW, rules);
	net_policy_set_limits(p, 1, 0);
	open_conn(p, 33000, 10);
	rx_tcp(p, D, 80, 33000, RST, 777, 0, 11);
	CHECK("slirp-bare-rst-held", open_conns(p) == 1);
	net_policy_free(p);
}

/* libslirp icmp_input opens a host socket for every echo request and
 * keeps it until the reply, or 240 s: count each one. */
static size_t echo(uint8_t *f, const char *src, const char *dst,
		   uint8_t type, uint16_t seq)
{
	uint8_t m[16] = { type, 0, 0, 0, 0x12, 0x34, (uint8_t)(seq >> 8),
			  (uint8_t)seq };
	return mk(f, src, dst, ICMP, m, sizeof(m));
}

void test_echo_slots(void)
{
	struct net_policy *p = mkpol(NET_INTERNET, NULL);
	struct net_verdict v;
	uint8_t f[128];
	int allowed = 0;

	net_policy_set_limits(p, 8, 0);
	for (int i = 0; i < 100; i++) {
		size_t n = echo(f, G4, "198.51.100.7", 8, (uint16_t)i);
		allowed += chk(p, f, n, 10, &v) == NET_ACT_ALLOW;
	}
	CHECK("ping-flood-bounded", allowed == 8 && open_conns(p) == 8 &&
	      v.reason == NET_R_CONN_LIMIT);
	/* a reply means slirp closed that socket */
	size_t n = echo(f, "198.51.100.7", G4, 0, 0);
	net_policy_observe_rx(p, f, n, 11);
	n = echo(f, G4, "198.51.100.7", 8, 200);
	CHECK("ping-reply-frees", open_conns(p) == 7 &&
	      chk(p, f, n, 12, &v) == NET_ACT_ALLOW &&
	      chk(p, f, n, 12, &v) == NET_ACT_DENY);
	/* unanswered ones outlive slirp's 240 s, then give their place back */
	net_policy_expire(p, 10 + 300 * 1000);
	CHECK("ping-expiry", open_conns(p) == 0);
	net_policy_free(p);

	p = mkpol(NET_INTERNET, NULL);
	net_policy_set_limits(p, 0, 5);
	allowed = 0;
	for (int i = 0; i < 8; i++) {
		n = echo(f, G4, "198.51.100.7", 8, (uint16_t)i);
		allowed += chk(p, f, n, 1000, &v) == NET_ACT_ALLOW;
	}
	CHECK("ping-rate-limited", allowed == 5 &&
	      v.reason == NET_R_RATE_LIMIT);
	net_policy_free(p);
}
