/* fuzz_dns.c: libFuzzer target — the DNS responder and the text parsers.
 * The first byte picks: a DNS message from the guest over IPv4 or IPv6
 * (parsed, decided, answered with addresses taken from the input), a rule
 * string (net_rule_parse + matching), or a host name (normalization must
 * be idempotent). Every reply must be a valid frame (checksums checked
 * independently) carrying a response with the query's id, <= 512 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/net/net.h"

static struct net_policy *allow, *inet;

static uint32_t sum(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Our reply: valid UDP frame from port 53, a DNS response, right id. */
static void check_reply(const uint8_t *f, size_t n, uint16_t id)
{
	struct net_pkt pk;
	if (!n)
		return;
	if (n > DNS_REPLY_MAX || net_frame_parse(f, n, &pk) != NET_PARSE_IP ||
	    pk.proto != 17 || pk.sport != 53 || pk.data_len < 12 ||
	    pk.data_len > 512)
		abort();
	const uint8_t *ip = f + 14, *m = f + pk.data_off;
	uint32_t s = pk.family == NET_AF4 ? sum(0, ip + 12, 8)
					  : sum(0, ip + 8, 32);
	if ((pk.family == NET_AF4 && fold(sum(0, ip, 20))) ||
	    fold(s + 17 + (uint32_t)pk.l4_len + sum(0, f + pk.l4_off,
						     pk.l4_len)))
		abort();
	if (!(m[2] & 0x80) || (uint16_t)(m[0] << 8 | m[1]) != id)
		abort();
}

/* Wrap msg in Eth/IP/UDP to our resolver. */
static size_t wrap(uint8_t *f, int v6, const uint8_t *msg, size_t n)
{
	size_t hl = v6 ? 40 : 20, ul = 8 + n;
	memset(f, 0, 14 + hl + 8);
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	uint8_t *ip = f + 14, *u = ip + hl;
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)(ul >> 8);
		ip[5] = (uint8_t)ul;
		ip[6] = 17;
		ip[8] = 0xfe;
		ip[9] = 0xc0;
		ip[23] = 0x15;
		ip[24] = 0xfe;
		ip[25] = 0xc0;
		ip[39] = 3;
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + ul) >> 8);
		ip[3] = (uint8_t)(20 + ul);
		ip[9] = 17;
		memcpy(ip + 12, (uint8_t[]){ 10, 0, 2, 15, 10, 0, 2, 3 }, 8);
	}
	u[0] = 0xa0;
	u[3] = 53;
	u[4] = (uint8_t)(ul >> 8);
	u[5] = (uint8_t)ul;
	memcpy(u + 8, msg, n);
	return 14 + hl + ul;
}

static void setup(void)
{
	char err[NET_ERR_MAX];
	allow = net_policy_new(NET_ALLOW);
	inet = net_policy_new(NET_INTERNET);
	net_policy_add_rule(allow, "*.example.com", err, sizeof(err));
	net_policy_add_rule(allow, "api.test:443", err, sizeof(err));
	net_policy_add_rule(allow, "h.example.com:8080", err, sizeof(err));
	net_policy_add_host(allow, "h.example.com", "10.0.2.2", err,
			    sizeof(err));
	net_policy_add_host(allow, "h.example.com", "fec0::2", err,
			    sizeof(err));
	net_policy_add_host(inet, "a.b", "192.168.1.1", err, sizeof(err));
}

static void dns(const uint8_t *msg, size_t n, uint8_t sel)
{
	static uint64_t now;
	uint8_t *f = malloc(14 + 40 + 8 + n), out[DNS_REPLY_MAX];
	struct net_policy *p = (sel & 0x10) ? inet : allow;
	struct dns_query q;
	size_t ol = 0, fl = wrap(f, sel & 1, msg, n);
	uint16_t id = n >= 2 ? (uint16_t)(msg[0] << 8 | msg[1]) : 0;

	now += 1000;
	size_t cap = (sel & 0x20) ? sizeof(out) : 90;
	enum dns_disposition d = dns_query(p, f, fl, now, &q, out, cap, &ol);
	if (d == DNS_REPLY)
		check_reply(out, ol, id);
	if (d == DNS_RESOLVE) {
		/* answer with addresses cut from the input's tail */
		struct net_addr a[DNS_MAX_ADDRS + 4];
		size_t na = 0;
		for (size_t at = 12; na < DNS_MAX_ADDRS + 4 && at + 17 <= n;
		     at += 17, na++) {
			uint8_t fam = (msg[at] & 1) ? NET_AF6 : NET_AF4;
			a[na] = (struct net_addr){ .family = fam };
			memcpy(a[na].b, msg + at + 1, 16);
			if (a[na].family == NET_AF4)
				memset(a[na].b + 4, 0, 12);
		}
		uint32_t ttl = n >= 8 ? (uint32_t)msg[4] << 24 | msg[7] : 0;
		ol = dns_build_answer(p, &q, a, na, ttl, now, out, sizeof(out));
		check_reply(out, ol, id);
		check_reply(out, dns_build_error(&q, msg[n - 1] & 15, out,
						 sizeof(out)), id);
	}
	if ((sel & 0xc0) == 0xc0)
		net_policy_expire(p, now);
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[1100], norm[DNS_NAME_MAX + 1], again[DNS_NAME_MAX + 1];
	char err[NET_ERR_MAX];
	struct net_rule r;

	if (!allow)
		setup();
	if (size < 1 || size > 1024)
		return 0;
	uint8_t sel = data[0];
	data++;
	size--;
	switch ((sel >> 1) & 3) {
	case 0:
	case 1:
		if (size)
			dns(data, size, sel);
		return 0;
	case 2:
		memcpy(text, data, size);
		text[size] = 0;
		if (net_rule_parse(text, &r, err, sizeof(err)))
			return 0;
		for (unsigned i = 0; i < r.nports; i++)
			if (!r.ports[i].lo || r.ports[i].lo > r.ports[i].hi)
				abort();
		if (r.nports > NET_RULE_PORTS ||
		    (r.kind == NET_RULE_CIDR &&
		     r.prefix > (r.addr.family == NET_AF4 ? 32 : 128)))
			abort();
		if (r.kind != NET_RULE_CIDR) {
			dns_rule_matches(&r, r.name, strlen(r.name));
			/* a wildcard never matches its bare suffix */
			if (r.kind == NET_RULE_WILDCARD &&
			    dns_rule_matches(&r, r.name, strlen(r.name)))
				abort();
		}
		return 0;
	default:
		memcpy(text, data, size);
		text[size] = 0;
		if (!dns_name_normalize(text, norm, err, sizeof(err)) &&
		    (dns_name_normalize(norm, again, err, sizeof(err)) ||
		     strcmp(norm, again)))
			abort();
		return 0;
	}
}
