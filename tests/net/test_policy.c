/* test_policy.c: the egress policy filter and DNS responder (host/net/)
 * on frames built here, with an independent checksum routine to check
 * every frame the library builds (builders in policy_frames.h). Forwards
 * and connection caps are in test_policy_nat.c, reverse flows and what
 * the guest can make the host hold in test_policy_flows.c, the host's own
 * addresses and private DNS answers in test_policy_lan.c. */
#include "policy_frames.h"


/* --- rule parsing ---------------------------------------------------- */

static int bad(const char *rule, const char *needle)
{
	struct net_rule r;
	char err[NET_ERR_MAX] = "";
	int rc = net_rule_parse(rule, &r, err, sizeof(err));
	printf("info: '%s' -> %s\n", rule, err);
	return rc == -EINVAL && strstr(err, needle) != NULL;
}

static void test_rules(void)
{
	struct net_rule r;
	char err[NET_ERR_MAX];

	CHECK("rule-cidr4", !net_rule_parse("10.0.0.0/8", &r, err, sizeof(err))
	      && r.kind == NET_RULE_CIDR && r.prefix == 8 && r.nports == 0 &&
	      r.addr.family == NET_AF4 && r.addr.b[0] == 10);
	CHECK("rule-host-addr", !net_rule_parse("1.2.3.4:443", &r, err, 64) &&
	      r.prefix == 32 && r.nports == 1 && r.ports[0].lo == 443 &&
	      r.ports[0].hi == 443);
	CHECK("rule-cidr6-ports",
	      !net_rule_parse("[2001:db8::/32]:443", &r, err, 64) &&
	      r.addr.family == NET_AF6 && r.prefix == 32 && r.nports == 1);
	CHECK("rule-v6-host", !net_rule_parse("[::1]", &r, err, 64) &&
	      r.prefix == 128 && r.nports == 0);
	CHECK("rule-name", !net_rule_parse("Example.COM.:80,443", &r, err, 64)
	      && r.kind == NET_RULE_HOST && !strcmp(r.name, "example.com") &&
	      r.nports == 2 && !strcmp(r.text, "Example.COM.:80,443"));
	CHECK("rule-wildcard",
	      !net_rule_parse("*.example.com:8000-8100", &r, err, 64) &&
	      r.kind == NET_RULE_WILDCARD && !strcmp(r.name, "example.com") &&
	      r.ports[0].lo == 8000 && r.ports[0].hi == 8100);
	CHECK("rule-port-mix",
	      !net_rule_parse("api.x.io:80,443,8000-8100", &r, err, 64) &&
	      r.nports == 3 && r.ports[2].hi == 8100);
	CHECK("rule-default-route", !net_rule_parse("0.0.0.0/0", &r, err, 64)
	      && r.prefix == 0);

	CHECK("rule-bad-empty", bad("", "empty rule"));
	CHECK("rule-bad-prefix", bad("10.0.0.0/33", "'/33'"));
	CHECK("rule-bad-prefix6", bad("[2001:db8::/129]", "'/129'"));
	CHECK("rule-bad-octet", bad("1.2.3.256", "'1.2.3.256'"));
	CHECK("rule-bad-leading-zero", bad("010.0.0.1", "'010.0.0.1'"));
	CHECK("rule-bad-short-v4", bad("1.2.3", "'1.2.3'"));
	CHECK("rule-bad-port0", bad("1.2.3.4:0", "'0'"));
	CHECK("rule-bad-port-big", bad("1.2.3.4:65536", "'65536'"));
	CHECK("rule-bad-port-text", bad("example.com:https", "'https'"));
	CHECK("rule-bad-port-empty", bad("example.com:", "empty port list"));
	CHECK("rule-bad-port-double-comma", bad("a.io:80,,443", "bad port ''"));
	CHECK("rule-bad-range", bad("a.io:443-80", "reversed port range "
				    "'443-80'"));
	CHECK("rule-bad-v6-brackets", bad("2001:db8::1", "needs brackets"));
	CHECK("rule-bad-v6-unclosed", bad("[2001:db8::1", "missing ']'"));
	CHECK("rule-bad-v6-trailing", bad("[::1]443", "unexpected '443'"));
	CHECK("rule-bad-v4-in-brackets", bad("[1.2.3.4]", "brackets are for "
					     "IPv6"));
	CHECK("rule-bad-host-bits", bad("10.0.0.1/8", "host bits set"));
	CHECK("rule-bad-star", bad("*", "'*' alone"));
	CHECK("rule-bad-star-middle", bad("*.*.example.com", "first label"));
	CHECK("rule-bad-star-partial", bad("foo*.example.com", "first label"));
	CHECK("rule-bad-empty-label", bad("a..b.com", "empty label"));
	CHECK("rule-bad-char", bad("ex!ample.com", "bad character '!'"));
	CHECK("rule-bad-space", bad("example.com :443", "space"));
	char label[80];
	memset(label, 'a', 64);
	strcpy(label + 64, ".com");
	CHECK("rule-bad-long-label", bad(label, "longer than 63"));
	CHECK("rule-bad-numeric-tld", bad("example.123", "all-numeric"));
	CHECK("rule-bad-no-host", bad(":443", "missing address or name"));
	CHECK("rule-bad-too-many-ranges",
	      bad("a.io:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
		  "more than 16 port ranges"));

	struct net_policy *p = net_policy_new(NET_ALLOW);
	int rc = 0;
	for (int i = 0; i < NET_MAX_RULES && !rc; i++) {
		char t[32];
		snprintf(t, sizeof(t), "h%d.example.com", i);
		rc = net_policy_add_rule(p, t, err, sizeof(err));
	}
	rc = rc ? rc : net_policy_add_rule(p, "one.more.com", err, sizeof(err));
	CHECK("rule-limit-256", rc == -ENOSPC && strstr(err, "256"));
	CHECK("hosts-bad-addr", net_policy_add_host(p, "a.lan", "1.2.3", err,
		sizeof(err)) == -EINVAL && strstr(err, "'1.2.3'"));
	CHECK("hosts-bad-name", net_policy_add_host(p, "a b", "1.2.3.4", err,
		sizeof(err)) == -EINVAL && strstr(err, "'a b'"));
	net_policy_free(p);
}

/* --- verdicts per mode ------------------------------------------------ */

static void test_modes(void)
{
	struct net_verdict v;
	uint8_t f[256];
	size_t n;

	struct net_policy *off = mkpol(NET_OFF, NULL);
	CHECK("off-tcp-denied", syn(off, "93.184.216.34", 443, 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_OFF);
	uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0,
			    0x12, 0x34, 0x56, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4,
			    0, 1 };
	CHECK("off-arp-pass", chk(off, arp, sizeof(arp), 0, &v) ==
	      NET_ACT_PASS && v.reason == NET_R_LINK);
	uint8_t q[300];
	size_t ql = dnsq(q, 1, "example.com", 1);
	n = udp(f, G4, 5353, "10.0.2.3", 53, q, ql);
	CHECK("off-dns-denied", chk(off, f, n, 0, &v) == NET_ACT_DENY);
	net_policy_free(off);

	struct net_policy *in = mkpol(NET_INTERNET, NULL);
	CHECK("inet-tcp-public", syn(in, "93.184.216.34", 443, 0, &v) ==
	      NET_ACT_ALLOW && v.reason == NET_R_INTERNET &&
	      (v.flags & NET_VF_NEW) && v.dport == 443 && v.proto == TCP);
	CHECK("inet-metadata-denied", syn(in, "169.254.169.254", 80, 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_RESERVED);
	static const char *const resv[] = {
		"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"100.64.0.1", "127.0.0.1", "0.1.2.3", "10.0.2.2", "::1",
		"fe80::1", "fd00::1", "::ffff:127.0.0.1", "fec0::2", NULL };
	int all = 1;
	for (int i = 0; resv[i]; i++)
		all &= syn(in, resv[i], 80, 0, &v) == NET_ACT_DENY &&
		       v.reason == NET_R_RESERVED;
	CHECK("inet-reserved-denied", all);
	CHECK("inet-172.32-public", syn(in, "172.32.0.1", 80, 0, &v) ==
	      NET_ACT_ALLOW);
	n = udp(f, G4, 5000, "255.255.255.255", 9, q, 4);
	CHECK("inet-broadcast-denied", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	n = udp(f, G4, 5000, "224.0.0.251", 5353, q, 4);
	CHECK("inet-multicast-denied", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	CHECK("inet-v6-public", syn(in, "2606:4700::1111", 443, 0, &v) ==
	      NET_ACT_ALLOW && v.dst.family == NET_AF6);
	n = udp(f, G4, 50000, "142.250.0.1", 443, q, 20);
	CHECK("inet-quic", chk(in, f, n, 0, &v) == NET_ACT_ALLOW);
	n = ping(f, G4, "1.1.1.1");
	CHECK("inet-icmp", chk(in, f, n, 0, &v) == NET_ACT_ALLOW &&
	      v.proto == ICMP);
	n = ping(f, G6, "2606:4700::1111");
	CHECK("inet-icmp6", chk(in, f, n, 0, &v) == NET_ACT_ALLOW);
	n = ping(f, G6, "ff02::1");
	CHECK("inet-icmp6-multicast", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	n = udp(f, G4, 5353, "8.8.8.8", 53, q, ql);
	CHECK("inet-foreign-dns", chk(in, f, n, 0, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_FOREIGN_DNS);
	CHECK("inet-foreign-dns-tcp", syn(in, "8.8.8.8", 53, 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_FOREIGN_DNS);
	n = udp(f, G6, 5353, "2001:4860:4860::8888", 53, q, ql);
	CHECK("inet-foreign-dns6", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	n = udp(f, G4, 5353, "10.0.2.3", 53, q, ql);
	CHECK("dns-to-us", chk(in, f, n, 0, &v) == NET_ACT_DNS);
	n = udp(f, G6, 5353, "fec0::3", 53, q, ql);
	CHECK("dns6-to-us", chk(in, f, n, 0, &v) == NET_ACT_DNS);
	CHECK("dns-tcp-refused", syn(in, "10.0.2.3", 53, 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_DNS_TCP);
	uint8_t dhcp[8] = { 1 };
	n = udp(f, "0.0.0.0", 68, "255.255.255.255", 67, dhcp, 8);
	CHECK("dhcp-pass", chk(in, f, n, 0, &v) == NET_ACT_PASS);
	n = udp(f, G4, 68, "203.0.113.9", 67, dhcp, 8);
	CHECK("dhcp-elsewhere-not-link",
	      chk(in, f, n, 0, &v) == NET_ACT_ALLOW &&
	      v.reason == NET_R_INTERNET);
	uint8_t ns[24] = { 135 };
	n = mk(f, G6, "ff02::1:ff00:2", ICMP6, ns, sizeof(ns));
	CHECK("ndp-pass", chk(in, f, n, 0, &v) == NET_ACT_PASS);
	net_policy_free(in);

	static const char *const r1[] = { "169.254.169.254:80", "10.0.0.0/8",
					  "10.0.2.2:11434", NULL };
	in = mkpol(NET_INTERNET, r1);
	CHECK("inet-named-metadata", syn(in, "169.254.169.254", 80, 0, &v) ==
	      NET_ACT_ALLOW && v.rule == 0 && v.reason == NET_R_RULE);
	CHECK("inet-named-metadata-port", syn(in, "169.254.169.254", 443, 0,
					      &v) == NET_ACT_DENY);
	CHECK("inet-named-rfc1918", syn(in, "10.9.8.7", 22, 0, &v) ==
	      NET_ACT_ALLOW && v.rule == 1);
	CHECK("inet-10/8-not-gateway", syn(in, "10.0.2.2", 22, 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_RESERVED);
	CHECK("inet-gateway-forward", syn(in, "10.0.2.2", 11434, 0, &v) ==
	      NET_ACT_ALLOW && v.rule == 2);
	net_policy_free(in);

	static const char *const r2[] = { "203.0.113.0/24:443",
					  "[2001:db8::/32]:443,8443",
					  "198.51.100.7", "0.0.0.0/0:8080",
					  NULL };
	struct net_policy *al = mkpol(NET_ALLOW, r2);
	CHECK("allow-cidr-port", syn(al, "203.0.113.5", 443, 0, &v) ==
	      NET_ACT_ALLOW && v.rule == 0);
	CHECK("allow-cidr-wrong-port", syn(al, "203.0.113.5", 80, 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_NOT_ALLOWED);
	n = udp(f, G4, 50001, "203.0.113.5", 443, q, 10);
	CHECK("allow-quic", chk(al, f, n, 0, &v) == NET_ACT_ALLOW);
	n = ping(f, G4, "203.0.113.5");
	CHECK("allow-icmp-needs-portless-rule", chk(al, f, n, 0, &v) ==
	      NET_ACT_DENY);
	n = ping(f, G4, "198.51.100.7");
	CHECK("allow-icmp-portless", chk(al, f, n, 0, &v) == NET_ACT_ALLOW &&
	      v.rule == 2);
	CHECK("allow-v6", syn(al, "2001:db8::5", 8443, 0, &v) ==
	      NET_ACT_ALLOW && v.rule == 1);
	n = ping(f, G6, "2001:db8::5");
	CHECK("allow-icmp6-denied", chk(al, f, n, 0, &v) == NET_ACT_DENY);
	CHECK("allow-other-denied", syn(al, "93.184.216.34", 443, 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_NOT_ALLOWED);
	CHECK("allow-slash0-port", syn(al, "93.184.216.34", 8080, 0, &v) ==
	      NET_ACT_ALLOW && v.rule == 3);
	CHECK("allow-slash0-not-metadata", syn(al, "169.254.169.254", 8080, 0,
					       &v) == NET_ACT_DENY);
	CHECK("allow-slash0-not-loopback", syn(al, "127.0.0.1", 8080, 0, &v)
	      == NET_ACT_DENY);

	/* flows: the ACK after an allowed SYN is a flow hit, not an event;
	 * a stray ACK elsewhere is denied */
	n = tcp(f, G4, 41000, "203.0.113.5", 443, SYN, 1, 0);
	chk(al, f, n, 0, &v);
	n = tcp(f, G4, 41000, "203.0.113.5", 443, ACK, 2, 5);
	CHECK("flow-hit", chk(al, f, n, 10, &v) == NET_ACT_ALLOW &&
	      v.reason == NET_R_FLOW && !(v.flags & NET_VF_NEW));
	n = tcp(f, G4, 41001, "93.184.216.34", 443, ACK, 2, 5);
	CHECK("flow-stray-ack-denied", chk(al, f, n, 10, &v) == NET_ACT_DENY);

	/* inbound (published port): slirp brings a SYN to the guest, the
	 * guest's SYN-ACK is then allowed */
	CHECK("publish-add", !net_policy_add_publish(al, TCP, 8080) &&
	      net_policy_add_publish(al, ICMP, 8080) == -EINVAL &&
	      net_policy_add_publish(al, TCP, 0) == -EINVAL);
	n = tcp(f, "10.0.2.2", 50500, G4, 8080, SYN, 7, 0);
	net_policy_observe_rx(al, f, n, 0);
	n = tcp(f, G4, 8080, "10.0.2.2", 50500, SYN | ACK, 9, 8);
	CHECK("inbound-reply-allowed", chk(al, f, n, 1, &v) == NET_ACT_ALLOW
	      && v.reason == NET_R_FLOW);
	n = tcp(f, G4, 8081, "10.0.2.2", 50500, SYN | ACK, 9, 8);
	CHECK("inbound-other-denied", chk(al, f, n, 1, &v) == NET_ACT_DENY);
	/* a SYN to a port nobody published opens nothing */
	n = tcp(f, "10.0.2.2", 50501, G4, 9090, SYN, 7, 0);
	net_policy_observe_rx(al, f, n, 0);
	n = tcp(f, G4, 9090, "10.0.2.2", 50501, SYN | ACK, 9, 8);
	CHECK("inbound-unpublished-denied", chk(al, f, n, 1, &v) ==
	      NET_ACT_DENY);

	/* events */
	struct net_event ev;
	char line[512];
	syn(al, "169.254.169.254", 80, 0, &v);
	net_policy_event(al, &v, &ev);
	net_event_format(&ev, line, sizeof(line));
	printf("info: %s\n", line);
	CHECK("event-deny", ev.action == NET_ACT_DENY && ev.port == 80 &&
	      !strcmp(line, "deny tcp 169.254.169.254:80 reserved-range "
			    "rule=- name=-"));
	syn(al, "2001:db8::5", 443, 0, &v);
	net_policy_event(al, &v, &ev);
	net_event_format(&ev, line, sizeof(line));
	CHECK("event-allow-rule", ev.rule == 1 && !strcmp(line,
	      "allow tcp [2001:db8::5]:443 rule rule=[2001:db8::/32]:443,8443 "
	      "name=-"));
	net_policy_free(al);
}

/* --- DNS ---------------------------------------------------------------- */

struct reply {
	int ok, rcode, qd, an;
	uint16_t id;
	uint32_t ttl;
	uint8_t addr[16];
	size_t qlen;
	const uint8_t *q;	/* question section */
};

/* Parse our reply frame by hand: UDP from port 53, a response. */
static struct reply parse_reply(const uint8_t *f, size_t n)
{
	struct reply r = { 0 };
	if (!frame_ok(f, n) || memcmp(f, GUEST_MAC, 6) ||
	    memcmp(f + 6, SLIRP_MAC, 6))
		return r;
	size_t hl = f[12] == 0x86 ? 40 : 20;
	const uint8_t *u = f + 14 + hl, *m = u + 8;
	size_t ml = n - 14 - hl - 8;
	if ((u[0] << 8 | u[1]) != 53 || ml < 12 || ml > 512 || !(m[2] & 0x80))
		return r;
	r.id = (uint16_t)(m[0] << 8 | m[1]);
	r.rcode = m[3] & 15;
	r.qd = m[4] << 8 | m[5];
	r.an = m[6] << 8 | m[7];
	size_t at = 12;
	if (r.qd) {
		while (at < ml && m[at])
			at += 1 + m[at];
		at += 5;
		r.q = m + 12;
		r.qlen = at - 12;
	}
	if (r.an && at + 12 <= ml) {
		r.ttl = (uint32_t)m[at + 6] << 24 | (uint32_t)m[at + 7] << 16 |
			(uint32_t)m[at + 8] << 8 | m[at + 9];
		size_t rl = (size_t)(m[at + 10] << 8 | m[at + 11]);
		if (rl <= 16 && at + 12 + rl <= ml)
			memcpy(r.addr, m + at + 12, rl);
	}
	r.ok = at <= ml;
	return r;
}

static uint8_t qmsg[600], qframe[800], out[DNS_REPLY_MAX];
static size_t qmsg_len;

/* Send a query for name/type through check + dns_query. */
static enum dns_disposition ask(struct net_policy *p, const char *name,
				uint16_t type, uint64_t now,
				struct dns_query *q, size_t *olen)
{
	struct net_verdict v;
	qmsg_len = dnsq(qmsg, 0x4242, name, type);
	size_t n = udp(qframe, G4, 33333, "10.0.2.3", 53, qmsg, qmsg_len);
	if (net_policy_check(p, qframe, n, now, &v) != NET_ACT_DNS)
		return (enum dns_disposition)-1;
	return dns_query(p, qframe, n, now, q, out, sizeof(out), olen);
}

static struct net_addr A(const char *s)
{
	struct net_addr a;
	net_addr_parse(s, &a);
	return a;
}

static void test_dns(void)
{
	static const char *const rules[] = { "api.example.com:443",
					     "*.cdn.example.net",
					     "svc.internal:8080",
					     "rebind.example.org", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	struct dns_query q;
	struct net_verdict v;
	size_t ol = 0, n;
	char err[NET_ERR_MAX];

	net_policy_add_host(p, "svc.internal", "10.0.2.2", err, sizeof(err));
	net_policy_add_host(p, "lonely.lan", "192.168.9.9", err, sizeof(err));

	CHECK("dns-allowed-resolve", ask(p, "API.example.com", 1, 1000, &q,
					 &ol) == DNS_RESOLVE &&
	      !strcmp(q.name, "api.example.com") && q.qtype == 1 &&
	      q.v.action == NET_ACT_ALLOW && q.v.rule == 0);
	struct net_addr ans[3] = { A("93.184.216.34"), A("93.184.216.35"),
				   A("2001:db8::1") };
	n = dns_build_answer(p, &q, ans, 3, 1, 1000, out, sizeof(out));
	struct reply r = parse_reply(out, n);
	CHECK("dns-answer-valid", n && r.ok && r.id == 0x4242 && r.rcode == 0
	      && r.an == 2 && r.ttl == DNS_TTL_MIN && r.addr[0] == 93 &&
	      r.qlen == qmsg_len - 12 && !memcmp(r.q, qmsg + 12, r.qlen));
	CHECK("dns-admitted", syn(p, "93.184.216.35", 443, 1000, &v) ==
	      NET_ACT_ALLOW && v.reason == NET_R_ADMITTED && v.rule == 0 &&
	      v.name && !strcmp(v.name, "api.example.com"));
	struct net_event ev;
	net_policy_event(p, &v, &ev);
	CHECK("dns-admitted-event", !strcmp(ev.name, "api.example.com") &&
	      !strcmp(ev.rule_text, "api.example.com:443"));
	CHECK("dns-admitted-port-only", syn(p, "93.184.216.35", 80, 1000, &v)
	      == NET_ACT_DENY);
	CHECK("dns-ttl-still", syn(p, "93.184.216.34", 443, 5999, &v) ==
	      NET_ACT_ALLOW);
	/* a connection opened while admitted outlives the admission */
	uint8_t f[128];
	n = tcp(f, G4, 45000, "93.184.216.34", 443, SYN, 1, 0);
	net_policy_check(p, f, n, 2000, &v);
	n = tcp(f, G4, 45000, "93.184.216.34", 443, ACK, 2, 1);
	CHECK("flow-outlives-ttl", net_policy_check(p, f, n, 60000, &v) ==
	      NET_ACT_ALLOW && v.reason == NET_R_FLOW);
	CHECK("dns-ttl-expired", syn(p, "93.184.216.34", 443, 6000, &v) ==
	      NET_ACT_DENY);
	net_policy_expire(p, 6000);
	struct net_stats st;
	net_policy_stats(p, &st);
	CHECK("dns-expire-sweeps", st.admitted == 0);

	ask(p, "api.example.com", 1, 7000, &q, &ol);
	n = dns_build_answer(p, &q, ans, 1, 1000000, 7000, out, sizeof(out));
	r = parse_reply(out, n);
	CHECK("dns-ttl-clamp-max", r.ttl == DNS_TTL_MAX);

	CHECK("dns-sibling-nxdomain", ask(p, "www.example.com", 1, 0, &q, &ol)
	      == DNS_REPLY && q.v.action == NET_ACT_DENY);
	r = parse_reply(out, ol);
	CHECK("dns-nxdomain-reply", r.ok && r.id == 0x4242 && r.rcode == 3 &&
	      r.qd == 1 && r.an == 0 && r.qlen == qmsg_len - 12 &&
	      !memcmp(r.q, qmsg + 12, r.qlen));
	CHECK("dns-parent-nxdomain", ask(p, "example.com", 1, 0, &q, &ol) ==
	      DNS_REPLY && parse_reply(out, ol).rcode == 3);

	CHECK("dns-wild-sub", ask(p, "a.cdn.example.net", 28, 0, &q, &ol) ==
	      DNS_RESOLVE && q.v.rule == 1);
	CHECK("dns-wild-deep", ask(p, "x.y.CDN.example.net", 1, 0, &q, &ol) ==
	      DNS_RESOLVE);
	CHECK("dns-wild-not-bare", ask(p, "cdn.example.net", 1, 0, &q, &ol) ==
	      DNS_REPLY && q.v.action == NET_ACT_DENY);
	CHECK("dns-wild-not-lookalike", ask(p, "evilcdn.example.net", 1, 0,
					    &q, &ol) == DNS_REPLY);
	ask(p, "a.cdn.example.net", 28, 0, &q, &ol);
	struct net_addr a6 = A("2001:db8:cafe::7");
	n = dns_build_answer(p, &q, &a6, 1, 60, 0, out, sizeof(out));
	r = parse_reply(out, n);
	CHECK("dns-aaaa-answer", r.ok && r.an == 1 && r.addr[0] == 0x20);
	CHECK("dns-wild-admits-all-ports", syn(p, "2001:db8:cafe::7", 22, 1, &v)
	      == NET_ACT_ALLOW && v.reason == NET_R_ADMITTED && v.rule == 1);

	CHECK("dns-txt-nodata", ask(p, "api.example.com", 16, 0, &q, &ol) ==
	      DNS_REPLY);
	r = parse_reply(out, ol);
	CHECK("dns-txt-nodata-reply", r.rcode == 0 && r.an == 0 && r.qd == 1);

	/* static hosts: answered here, admitted for the rule's ports */
	CHECK("hosts-answered", ask(p, "svc.internal", 1, 0, &q, &ol) ==
	      DNS_REPLY && q.v.reason == NET_R_HOSTS);
	r = parse_reply(out, ol);
	CHECK("hosts-reply", r.rcode == 0 && r.an == 1 && r.addr[0] == 10 &&
	      r.addr[3] == 2 && r.ttl == DNS_HOSTS_TTL);
	CHECK("hosts-admitted", syn(p, "10.0.2.2", 8080, 1, &v) ==
	      NET_ACT_ALLOW && v.reason == NET_R_ADMITTED);
	CHECK("hosts-other-port", syn(p, "10.0.2.2", 22, 1, &v) ==
	      NET_ACT_DENY);
	CHECK("hosts-aaaa-nodata", ask(p, "svc.internal", 28, 0, &q, &ol) ==
	      DNS_REPLY && parse_reply(out, ol).an == 0 &&
	      parse_reply(out, ol).rcode == 0);
	CHECK("hosts-not-a-permission", ask(p, "lonely.lan", 1, 0, &q, &ol) ==
	      DNS_REPLY && parse_reply(out, ol).rcode == 3);

	/* rebinding: an allowed name points at neither private networks
	 * (only with net_policy_set_private_dns, test_policy_lan.c) nor
	 * loopback, link-local or slirp's own addresses */
	ask(p, "rebind.example.org", 1, 0, &q, &ol);
	struct net_addr rb[4] = { A("127.0.0.1"), A("169.254.169.254"),
				  A("10.0.2.2"), A("10.20.30.40") };
	dns_build_answer(p, &q, rb, 4, 60, 0, out, sizeof(out));
	CHECK("rebind-loopback", syn(p, "127.0.0.1", 80, 1, &v) ==
	      NET_ACT_DENY);
	CHECK("rebind-metadata", syn(p, "169.254.169.254", 80, 1, &v) ==
	      NET_ACT_DENY);
	CHECK("rebind-gateway", syn(p, "10.0.2.2", 80, 1, &v) ==
	      NET_ACT_DENY);
	CHECK("rebind-private", syn(p, "10.20.30.40", 80, 1, &v) ==
	      NET_ACT_DENY);

	/* a denied query's struct admits nothing, even if misused */
	ask(p, "evil.example.com", 1, 0, &q, &ol);
	struct net_addr ev4 = A("198.51.100.99");
	n = dns_build_answer(p, &q, &ev4, 1, 60, 0, out, sizeof(out));
	CHECK("dns-denied-no-admit", parse_reply(out, n).rcode == 3 &&
	      syn(p, "198.51.100.99", 80, 1, &v) == NET_ACT_DENY);

	/* IPv6 transport to fec0::3 */
	qmsg_len = dnsq(qmsg, 7, "api.example.com", 28);
	n = udp(qframe, G6, 33334, "fec0::3", 53, qmsg, qmsg_len);
	CHECK("dns6-resolve", dns_query(p, qframe, n, 0, &q, out, sizeof(out),
					&ol) == DNS_RESOLVE);
	n = dns_build_answer(p, &q, &a6, 1, 60, 0, out, sizeof(out));
	r = parse_reply(out, n);
	CHECK("dns6-reply-checksums", r.ok && r.id == 7 && r.an == 1);
	n = dns_build_error(&q, DNS_RCODE_SERVFAIL, out, sizeof(out));
	CHECK("dns-servfail", parse_reply(out, n).rcode == 2);
	net_policy_free(p);

	/* NET_INTERNET: any name resolves; no rule, no admission */
	p = mkpol(NET_INTERNET, NULL);
	CHECK("inet-dns-any", ask(p, "anything.example", 1, 0, &q, &ol) ==
	      DNS_RESOLVE && q.v.reason == NET_R_INTERNET);
	struct net_addr pa = A("10.1.1.1");
	dns_build_answer(p, &q, &pa, 1, 60, 0, out, sizeof(out));
	CHECK("inet-dns-no-private-admit", syn(p, "10.1.1.1", 80, 1, &v) ==
	      NET_ACT_DENY);
	net_policy_free(p);
}

/* Hostile DNS messages: raw bytes after the UDP header. */
static enum dns_disposition raw_dns(struct net_policy *p, const uint8_t *m,
				    size_t ml, struct dns_query *q,
				    size_t *ol)
{
	size_t n = udp(qframe, G4, 33333, "10.0.2.3", 53, m, ml);
	return dns_query(p, qframe, n, 0, q, out, sizeof(out), ol);
}

static void test_dns_hostile(void)
{
	static const char *const rules[] = { "*.example.com", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	struct dns_query q;
	size_t ol = 0;
	uint8_t m[600];

	/* a pointer to itself, and two pointing at each other */
	static const uint8_t self[] = { 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
					0xc0, 12, 0, 1, 0, 1 };
	CHECK("dns-ptr-self", raw_dns(p, self, sizeof(self), &q, &ol) ==
	      DNS_REPLY && parse_reply(out, ol).rcode == 1 &&
	      parse_reply(out, ol).id == 1);
	static const uint8_t pair[] = { 0, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
					1, 'a', 0xc0, 16, 1, 'b', 0xc0, 12,
					0, 1, 0, 1 };
	CHECK("dns-ptr-forward", raw_dns(p, pair, sizeof(pair), &q, &ol) ==
	      DNS_REPLY && parse_reply(out, ol).rcode == 1);
	/* a backwards pointer into a name before it is fine: the question
	 * "x" + pointer to offset 12 would loop, so point into the header */
	static const uint8_t hdr[] = { 0, 3, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
				       0xc0, 2, 0, 1, 0, 1 };
	CHECK("dns-ptr-into-header", raw_dns(p, hdr, sizeof(hdr), &q, &ol) !=
	      DNS_RESOLVE);
	static const uint8_t trunc_ptr[] = { 0, 4, 1, 0, 0, 1, 0, 0, 0, 0, 0,
					     0, 3, 'a', 'b', 'c', 0xc0 };
	CHECK("dns-ptr-truncated", raw_dns(p, trunc_ptr, sizeof(trunc_ptr),
					   &q, &ol) == DNS_REPLY &&
	      parse_reply(out, ol).rcode == 1);
	/* label 64 (0x40 prefix) is not a length */
	size_t ml = dnsq(m, 5, "a.example.com", 1);
	m[12] = 64;
	CHECK("dns-label-64", raw_dns(p, m, ml, &q, &ol) == DNS_REPLY &&
	      parse_reply(out, ol).rcode == 1);
	/* 5 labels of 63: 320 bytes > 255 */
	memset(m, 0, 12);
	m[5] = 1;
	size_t at = 12;
	for (int i = 0; i < 5; i++) {
		m[at++] = 63;
		memset(m + at, 'a', 63);
		at += 63;
	}
	m[at++] = 0;
	memcpy(m + at, "\0\1\0\1", 4);
	CHECK("dns-name-too-long", raw_dns(p, m, at + 4, &q, &ol) ==
	      DNS_REPLY && parse_reply(out, ol).rcode == 1);
	/* a dot inside a label must not make it look like a sub-domain */
	static const uint8_t dot[] = { 0, 6, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
				       3, 'a', '.', 'b', 7, 'e', 'x', 'a',
				       'm', 'p', 'l', 'e', 3, 'c', 'o', 'm',
				       0, 0, 1, 0, 1 };
	CHECK("dns-dot-in-label", raw_dns(p, dot, sizeof(dot), &q, &ol) ==
	      DNS_REPLY && parse_reply(out, ol).rcode == 3 &&
	      q.v.reason == NET_R_BAD_NAME);
	ml = dnsq(m, 8, "127.0.0.1", 1);
	CHECK("dns-numeric-name", raw_dns(p, m, ml, &q, &ol) == DNS_REPLY &&
	      parse_reply(out, ol).rcode == 3);
	ml = dnsq(m, 9, "a.example.com", 1);
	m[2] |= 0x80;
	CHECK("dns-response-dropped", raw_dns(p, m, ml, &q, &ol) == DNS_DROP);
	m[2] = 0x10;	/* opcode 2 (STATUS) */
	CHECK("dns-opcode-notimp", raw_dns(p, m, ml, &q, &ol) == DNS_REPLY &&
	      parse_reply(out, ol).rcode == 4);
	ml = dnsq(m, 9, "a.example.com", 1);
	m[5] = 2;
	CHECK("dns-two-questions", raw_dns(p, m, ml, &q, &ol) == DNS_REPLY &&
	      parse_reply(out, ol).rcode == 1);
	ml = dnsq(m, 9, "a.example.com", 1);
	m[ml - 1] = 3;	/* class CH */
	CHECK("dns-class-chaos", raw_dns(p, m, ml, &q, &ol) == DNS_REPLY &&
	      parse_reply(out, ol).rcode == 5);
	ml = dnsq(m, 9, "a.example.com", 1);
	CHECK("dns-no-qtype", raw_dns(p, m, ml - 3, &q, &ol) == DNS_REPLY &&
	      parse_reply(out, ol).rcode == 1);
	CHECK("dns-short-header", raw_dns(p, m, 11, &q, &ol) == DNS_DROP);
	/* every truncation of a good query: no crash, never resolved */
	ml = dnsq(m, 10, "a.example.com", 1);
	int ok = 1;
	for (size_t i = 0; i < ml; i++)
		ok &= raw_dns(p, m, i, &q, &ol) != DNS_RESOLVE;
	CHECK("dns-truncations", ok && raw_dns(p, m, ml, &q, &ol) ==
	      DNS_RESOLVE);
	CHECK("dns-small-cap", (raw_dns(p, m, ml, &q, &ol),
		dns_build_answer(p, &q, NULL, 0, 5, 0, out, 40) == 0));
	net_policy_free(p);
}

/* --- refusals ------------------------------------------------------------ */

static void test_refusals(void)
{
	uint8_t f[1600], o[NET_REFUSAL_MAX], big[1400];
	size_t n, rn;

	n = tcp(f, G4, 40001, "169.254.169.254", 80, SYN, 0x11223344, 0);
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("rst-syn", rn == 54 && frame_ok(o, rn) && o[47] == (RST | ACK)
	      && !memcmp(o, GUEST_MAC, 6) && !memcmp(o + 6, SLIRP_MAC, 6) &&
	      !memcmp(o + 26, f + 30, 4) && !memcmp(o + 30, f + 26, 4) &&
	      o[34] == 0 && o[35] == 80 && o[36] == 40001 >> 8 &&
	      o[42] == 0x11 && o[45] == 0x45 && o[41] == 0);
	n = tcp(f, G4, 40001, "169.254.169.254", 80, ACK, 5, 0xaabbccdd);
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("rst-ack", rn == 54 && frame_ok(o, rn) && o[47] == RST &&
	      o[38] == 0xaa && o[41] == 0xdd);
	n = tcp(f, G4, 40001, "169.254.169.254", 80, RST, 5, 0);
	CHECK("no-rst-for-rst", net_build_refusal(f, n, o, sizeof(o)) == 0);
	n = tcp(f, G6, 40002, "fd00::1", 22, SYN, 1, 0);
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("rst6", rn == 74 && frame_ok(o, rn) && o[67] == (RST | ACK) &&
	      !memcmp(o + 22, f + 38, 16));

	memset(big, 'x', sizeof(big));
	n = udp(f, G4, 5555, "10.9.9.9", 9999, big, 1000);
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("icmp-unreach", rn == 14 + 576 && frame_ok(o, rn) &&
	      o[34] == 3 && o[35] == 13 && !memcmp(o + 42, f + 14, 28) &&
	      !memcmp(o + 26, f + 30, 4));
	n = udp(f, G4, 5555, "10.9.9.9", 9999, big, 10);
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("icmp-unreach-small", rn == 14 + 20 + 8 + 38 &&
	      frame_ok(o, rn));
	n = ping(f, G4, "10.9.9.9");
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("icmp-for-ping", rn && frame_ok(o, rn) && o[34] == 3);
	n = udp(f, G6, 5555, "fd00::9", 443, big, 1300);
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("icmp6-unreach", rn == NET_REFUSAL_MAX && frame_ok(o, rn) &&
	      o[54] == 1 && o[55] == 1 && !memcmp(o + 62, f + 14, 48));
	n = ping(f, G6, "fd00::9");
	rn = net_build_refusal(f, n, o, sizeof(o));
	CHECK("icmp6-for-ping", rn && frame_ok(o, rn));

	/* never: errors about errors, broadcast/multicast, short caps */
	uint8_t unr[36] = { 3, 1 };
	n = mk(f, G4, "10.9.9.9", ICMP, unr, sizeof(unr));
	CHECK("no-icmp-for-icmp-error", net_build_refusal(f, n, o, sizeof(o))
	      == 0);
	n = udp(f, G4, 5555, "255.255.255.255", 9, big, 4);
	CHECK("no-icmp-for-broadcast", net_build_refusal(f, n, o, sizeof(o))
	      == 0);
	n = udp(f, G6, 5555, "ff02::fb", 5353, big, 4);
	CHECK("no-icmp-for-multicast", net_build_refusal(f, n, o, sizeof(o))
	      == 0);
	n = tcp(f, G4, 40001, "169.254.169.254", 80, SYN, 0, 0);
	CHECK("refusal-short-cap", net_build_refusal(f, n, o, 53) == 0);
	CHECK("refusal-garbage", net_build_refusal(f, 20, o, sizeof(o)) == 0);
}

/* --- garbage, truncation, fragments ------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint64_t xs(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_garbage(void)
{
	struct net_policy *in = mkpol(NET_INTERNET, NULL);
	struct net_policy *none = mkpol(NET_ALLOW, NULL);
	struct net_verdict v;
	uint8_t f[1600], o[NET_REFUSAL_MAX];
	size_t n;
	int ok = 1;

	n = tcp(f, G4, 40001, "93.184.216.34", 443, SYN, 1, 0);
	CHECK("full-frame-allowed", chk(in, f, n, 0, &v) == NET_ACT_ALLOW);
	for (size_t i = 0; i < n; i++) {
		uint8_t *c = malloc(i ? i : 1);	/* exact size for ASan */
		memcpy(c, f, i);
		ok &= chk(in, c, i, 0, &v) == NET_ACT_DENY;
		net_build_refusal(c, i, o, sizeof(o));
		free(c);
	}
	CHECK("truncated-v4-denied", ok);
	n = tcp(f, G6, 40001, "2606:4700::1111", 443, SYN, 1, 0);
	ok = 1;
	for (size_t i = 0; i < n; i++)
		ok &= chk(in, f, i, 0, &v) == NET_ACT_DENY;
	CHECK("truncated-v6-denied", ok);
	CHECK("null-frame-denied", chk(in, NULL, 0, 0, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_MALFORMED);

	/* lying length fields */
	n = tcp(f, G4, 40001, "93.184.216.34", 443, SYN, 1, 0);
	f[16] = 0xff;	/* IPv4 total length past the frame */
	CHECK("v4-totlen-lie", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	n = tcp(f, G4, 40001, "93.184.216.34", 443, SYN, 1, 0);
	f[14] = 0x4f;	/* IHL 60 > total */
	CHECK("v4-ihl-lie", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	n = tcp(f, G4, 40001, "93.184.216.34", 443, SYN, 1, 0);
	f[46] = 0xf0;	/* TCP data offset 60 */
	CHECK("tcp-doff-lie", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	n = udp(f, G4, 5, "93.184.216.34", 443, f, 4);
	f[39] = 200;	/* UDP length past IP */
	CHECK("udp-len-lie", chk(in, f, n, 0, &v) == NET_ACT_DENY);
	n = tcp(f, G4, 40001, "93.184.216.34", 443, SYN, 1, 0);
	f[20] = 0x20;	/* MF */
	CHECK("v4-fragment-denied", chk(in, f, n, 0, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_FRAGMENT &&
	      net_build_refusal(f, n, o, sizeof(o)) == 0);
	uint8_t fh[8 + 20] = { TCP };
	n = mk(f, G6, "2606:4700::1111", 44, fh, sizeof(fh));
	CHECK("v6-fragment-denied", chk(in, f, n, 0, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_FRAGMENT);
	uint8_t rh[8 + 20] = { TCP, 0 };
	n = mk(f, G6, "2606:4700::1111", 43, rh, sizeof(rh));
	CHECK("v6-routing-denied", chk(in, f, n, 0, &v) == NET_ACT_DENY &&
	      v.reason == NET_R_UNSUPPORTED);
	/* hop-by-hop then TCP is walked and decided normally */
	uint8_t hbh[8 + 20] = { TCP, 0, 0, 0, 0, 0, 0, 0, 0x9c, 0x41, 1, 0xbb,
				[20] = 5 << 4, [21] = SYN };
	n = mk(f, G6, "2606:4700::1111", 0, hbh, sizeof(hbh));
	CHECK("v6-hbh-walked", chk(in, f, n, 0, &v) == NET_ACT_ALLOW &&
	      v.dport == 443);
	uint8_t vlan[64] = { [12] = 0x81, [13] = 0 };
	CHECK("vlan-denied", chk(in, vlan, sizeof(vlan), 0, &v) ==
	      NET_ACT_DENY && v.reason == NET_R_UNSUPPORTED);

	/* random bytes under an empty allow-list: never allowed */
	ok = 1;
	for (int i = 0; i < 200000; i++) {
		n = xs() % 200;
		for (size_t j = 0; j < n; j++)
			f[j] = (uint8_t)xs();
		if (n > 14 && (i & 3)) {	/* mostly plausible headers */
			f[12] = (i & 4) ? 0x86 : 0x08;
			f[13] = (i & 4) ? 0xdd : 0x00;
			f[14] = (uint8_t)((i & 4 ? 0x60 : 0x45) | (f[14] & 1));
		}
		enum net_action a = chk(none, f, n, (uint64_t)i, &v);
		ok &= a != NET_ACT_ALLOW;
		chk(in, f, n, (uint64_t)i, &v);
		size_t rn = net_build_refusal(f, n, o, sizeof(o));
		ok &= rn == 0 || frame_ok(o, rn);
		struct dns_query q;
		size_t ol;
		dns_query(in, f, n, 0, &q, o, sizeof(o), &ol);
	}
	CHECK("garbage-never-allowed", ok);
	net_policy_free(none);

	/* the flow table fills and refuses, never grows */
	for (int i = 0; i < 10000; i++) {
		n = udp(f, G4, (uint16_t)(1024 + i), "93.184.216.34", 443, f,
			0);
		chk(in, f, n, 1000, &v);
	}
	struct net_stats st;
	net_policy_stats(in, &st);
	printf("info: flows %u, refused %llu\n", st.flows,
	       (unsigned long long)st.flow_full);
	CHECK("flow-table-bounded", st.flows <= 4096 && st.flow_full > 0);
	net_policy_expire(in, 1ull << 40);	/* garbage made TCP flows too */
	net_policy_stats(in, &st);
	CHECK("flow-table-expires", st.flows == 0);
	net_policy_free(in);
}

/* --- the hash tables against a model ----------------------------------- */

/* Admissions with random TTLs at random times, sweeps in between (which
 * move entries back over holes, names along): every address must be
 * allowed exactly while the model says it is admitted, under its name. */
static void test_admit_model(void)
{
	static const char *const rules[] = { "*.t.example", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	enum { POOL = 1500 };
	static uint64_t until[POOL];
	uint8_t bits[NET_MAX_RULES / 8] = { 1 };
	uint64_t now = 1;
	char name[32], ip[20];
	struct net_verdict v;
	int ok = 1;

	for (int round = 0; round < 3000 && ok; round++) {
		now += xs() % 3000;
		for (int k = 0; k < 40; k++) {
			unsigned i = (unsigned)(xs() % POOL);
			uint32_t ttl = 5 + (uint32_t)(xs() % 60);
			struct net_addr a = { .family = NET_AF4,
					      .b = { 23, (uint8_t)(i >> 8),
						     (uint8_t)i, 7 } };
			snprintf(name, sizeof(name), "a%u.t.example", i);
			net_policy_admit(p, bits, name, &a, ttl, now, false);
			if (until[i] < now + ttl * 1000ull)
				until[i] = now + ttl * 1000ull;
		}
		if (round % 7 == 0)
			net_policy_expire(p, now);
		unsigned i = (unsigned)(xs() % POOL);
		snprintf(ip, sizeof(ip), "23.%u.%u.7", i >> 8, i & 255);
		snprintf(name, sizeof(name), "a%u.t.example", i);
		bool live = until[i] > now;
		ok = (syn(p, ip, 443, now, &v) == NET_ACT_ALLOW) == live &&
		     (!live || (v.name && !strcmp(v.name, name)));
	}
	struct net_stats st;
	net_policy_stats(p, &st);
	printf("info: %u admissions live, %llu refused\n", st.admitted,
	       (unsigned long long)st.admit_full);
	CHECK("admit-table-model", ok && st.admit_full == 0);
	net_policy_free(p);
}

/* UDP flows to an address whose admission has expired live on exactly
 * while they are used within the idle timeout, through sweeps. */
static void test_flow_model(void)
{
	static const char *const rules[] = { "*.t.example", NULL };
	struct net_policy *p = mkpol(NET_ALLOW, rules);
	enum { NF = 1000, UDP_IDLE = 250000 };	/* FLOW_UDP_MS */
	static uint64_t until[NF];
	uint8_t bits[NET_MAX_RULES / 8] = { 1 }, f[128];
	struct net_addr x = { .family = NET_AF4, .b = { 23, 1, 2, 3 } };
	struct net_verdict v;
	uint64_t now = 0;
	int ok = 1;

	net_policy_admit(p, bits, "x.t.example", &x, 5, now, false);
	for (int i = 0; i < NF; i++) {
		size_t n = udp(f, G4, (uint16_t)(10000 + i), "23.1.2.3", 443,
			       f, 0);
		ok &= chk(p, f, n, now, &v) == NET_ACT_ALLOW;
		until[i] = now + UDP_IDLE;
	}
	for (int round = 0; round < 40000 && ok; round++) {
		now += xs() % 100;
		int i = (int)(xs() % NF);
		size_t n = udp(f, G4, (uint16_t)(10000 + i), "23.1.2.3", 443,
			       f, 0);
		bool live = until[i] > now;
		ok &= (chk(p, f, n, now, &v) == NET_ACT_ALLOW) == live;
		if (live)
			until[i] = now + UDP_IDLE;
		if (round % 500 == 0)
			net_policy_expire(p, now);
	}
	struct net_stats st;
	net_policy_stats(p, &st);
	printf("info: %u flows live at %llu s\n", st.flows,
	       (unsigned long long)(now / 1000));
	CHECK("flow-table-model", ok);
	net_policy_free(p);
}

void test_forwards(void);
void test_limits(void);
void test_udp_reverse(void);
void test_conn_slots(void);
void test_echo_slots(void);
void test_host_addrs(void);
void test_private_dns(void);

int t_pass, t_fail;

int main(void)
{
	test_rules();
	test_modes();
	test_dns();
	test_dns_hostile();
	test_refusals();
	test_garbage();
	test_admit_model();
	test_flow_model();
	test_forwards();
	test_limits();
	test_udp_reverse();
	test_conn_slots();
	test_echo_slots();
	test_host_addrs();
	test_private_dns();
	printf("net policy: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
