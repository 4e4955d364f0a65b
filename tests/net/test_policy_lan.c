/* test_policy_lan.c: the host's own addresses and the LAN. The host's
 * interface addresses are never a destination (slirp's connect() to one
 * reaches every host service bound to 0.0.0.0), and a DNS answer admits a
 * private address (RFC 1918, CGNAT, ULA) only behind an explicit opt-in.
 * Part of build/net/test_policy. */
#include "policy_frames.h"

static struct net_addr addr(const char *s)
{
	struct net_addr a;
	net_addr_parse(s, &a);
	return a;
}

/* What a DNS answer for the name rule `rule` does: admit a. */
static void answer(struct net_policy *p, int rule, const char *a)
{
	uint8_t bits[NET_MAX_RULES / 8] = { 0 };
	struct net_addr na = addr(a);
	bits[rule / 8] = (uint8_t)(1 << (rule % 8));
	net_policy_admit(p, bits, "svc.example.com", &na, 60, 1, false);
}

void test_host_addrs(void)
{
	struct net_policy *p = mkpol(NET_INTERNET, NULL);
	struct net_verdict v;
	struct net_addr a = addr("203.0.113.77");

	CHECK("self-public-before", syn(p, "203.0.113.77", 22, 1, &v) ==
	      NET_ACT_ALLOW);
	CHECK("self-add", !net_policy_add_host_addr(p, &a));
	a = addr("2001:db8::77");
	net_policy_add_host_addr(p, &a);
	a = addr("192.168.1.10");
	net_policy_add_host_addr(p, &a);
	CHECK("self-internet-denied", syn(p, "203.0.113.77", 22, 1, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_HOST_ADDR);
	struct net_event ev;
	char line[256];
	net_policy_event(p, &v, &ev);
	net_event_format(&ev, line, sizeof(line));
	CHECK("self-event", !strcmp(line, "deny tcp 203.0.113.77:22 "
				    "host-address rule=- name=-"));
	CHECK("self-v6-denied", syn(p, "2001:db8::77", 443, 1, &v) ==
	      NET_ACT_DENY);
	CHECK("self-neighbour-ok", syn(p, "203.0.113.78", 22, 1, &v) ==
	      NET_ACT_ALLOW);
	net_policy_free(p);

	/* no rule names the host: not a /24 around it, not the host itself
	 * (a forward is the way to a host service), not a DNS answer */
	static const char *const rules[] = { "203.0.113.0/24",
					     "192.168.0.0/16:5432",
					     "svc.example.com", NULL };
	p = mkpol(NET_ALLOW, rules);
	a = addr("203.0.113.77");
	net_policy_add_host_addr(p, &a);
	a = addr("192.168.1.10");
	net_policy_add_host_addr(p, &a);
	CHECK("self-cidr-denied", syn(p, "203.0.113.77", 80, 1, &v) ==
	      NET_ACT_DENY);
	CHECK("self-lan-rule-denied", syn(p, "192.168.1.10", 5432, 1, &v) ==
	      NET_ACT_DENY);
	CHECK("self-lan-other-ok", syn(p, "192.168.1.11", 5432, 1, &v) ==
	      NET_ACT_ALLOW);
	answer(p, 2, "203.0.113.77");
	CHECK("self-dns-denied", syn(p, "203.0.113.77", 443, 2, &v) ==
	      NET_ACT_DENY);
	CHECK("self-forward-ok", !net_policy_add_forward(p, "10.0.2.2:8080="
				"203.0.113.77:8080", NULL, 0) &&
	      syn(p, "10.0.2.2", 8080, 3, &v) == NET_ACT_ALLOW &&
	      v.reason == NET_R_FORWARD);
	struct net_addr none = { 0 };
	CHECK("self-bad-family", net_policy_add_host_addr(p, &none) ==
	      -EINVAL);
	net_policy_free(p);
}

void test_private_dns(void)
{
	static const char *const rules[] = { "svc.example.com", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	struct net_verdict v;

	/* an allowed name whose owner points it into the LAN: not by
	 * default (wildcard DNS, user-controlled zones) */
	answer(p, 0, "10.20.30.40");
	answer(p, 0, "100.64.1.1");
	answer(p, 0, "192.168.7.7");
	answer(p, 0, "fd00::5");
	CHECK("private-dns-denied", syn(p, "10.20.30.40", 80, 2, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_RESERVED &&
	      syn(p, "100.64.1.1", 80, 2, &v) == NET_ACT_DENY &&
	      syn(p, "192.168.7.7", 80, 2, &v) == NET_ACT_DENY &&
	      syn(p, "fd00::5", 80, 2, &v) == NET_ACT_DENY);
	answer(p, 0, "198.51.100.5");
	CHECK("public-dns-admitted", syn(p, "198.51.100.5", 80, 2, &v) ==
	      NET_ACT_ALLOW && v.reason == NET_R_ADMITTED);
	/* the spec's opt-in: private answers admitted, rebinding targets
	 * (loopback, link-local, slirp's own) still not */
	net_policy_set_private_dns(p, true);
	answer(p, 0, "10.20.30.40");
	answer(p, 0, "fd00::5");
	answer(p, 0, "127.0.0.1");
	answer(p, 0, "169.254.169.254");
	answer(p, 0, "10.0.2.2");
	CHECK("private-dns-optin", syn(p, "10.20.30.40", 80, 2, &v) ==
	      NET_ACT_ALLOW && v.reason == NET_R_ADMITTED &&
	      syn(p, "fd00::5", 80, 2, &v) == NET_ACT_ALLOW);
	CHECK("private-dns-optin-no-rebind",
	      syn(p, "127.0.0.1", 80, 2, &v) == NET_ACT_DENY &&
	      syn(p, "169.254.169.254", 80, 2, &v) == NET_ACT_DENY &&
	      syn(p, "10.0.2.2", 80, 2, &v) == NET_ACT_DENY);
	/* the host's own LAN address stays closed even then */
	struct net_addr self = addr("10.20.30.40");
	net_policy_add_host_addr(p, &self);
	CHECK("private-dns-optin-not-self", syn(p, "10.20.30.40", 81, 2, &v)
	      == NET_ACT_DENY);
	net_policy_free(p);
}
