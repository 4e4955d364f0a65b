/* dns.c: names — the guest's DNS queries and our answers, and the text
 * of the host names and rules the policy is written in.
 *
 * Primer (RFC 1035 §4.1). A message is a 12-byte header (id, flags,
 * QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT) then sections of names and records.
 * A name is a sequence of labels (a length byte 1-63 and that many bytes)
 * ending in a zero byte, at most 255 bytes in all (§2.3.4); a byte with
 * the top two bits set starts a 14-bit "compression pointer" to an earlier
 * offset where the rest of the name continues (§4.1.4). Pointers are where
 * parsers loop forever or read out of bounds, so each must point strictly
 * before the previous jump target: the walk then always terminates.
 *
 * Why we answer DNS ourselves: DNS is an egress channel (a query for
 * <secret>.attacker.example leaves the sandbox through any recursive
 * resolver). With an allow-list only names a rule names are resolved on
 * the host and everything else gets NXDOMAIN built here (NET_INTERNET
 * resolves any well-formed name: the guest reaches the internet anyway).
 * The addresses in an answer to a named name are what the guest may then
 * reach (net_policy_admit). Only A and AAAA are ever resolved: other types
 * of an allowed name get an empty NOERROR answer ("no data"), which makes
 * stub resolvers fall back to A/AAAA (e.g. for HTTPS/SVCB records). Note
 * that "*.suffix" lets the guest pick the labels the host's resolver asks
 * suffix's name servers about: it trusts whoever runs suffix.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

#define DNS_HDR	       12
#define DNS_UDP_MAX    512	/* no EDNS: replies fit 512 bytes (§4.2.1) */
#define DNS_CLASS_IN   1
#define DNS_FLAG_QR    0x8000
#define DNS_FLAG_RD    0x0100
#define DNS_FLAG_RA    0x0080
#define DNS_OPCODE(f)  (((f) >> 11) & 15)

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (errlen)
		snprintf(err, errlen, "%s", msg);
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int dns_name_normalize(const char *in, char out[DNS_NAME_MAX + 1], char *err,
		       size_t errlen)
{
	size_t n = strnlen(in, DNS_NAME_MAX + 2);
	size_t label = 0, w = 0;
	bool digits = true;	/* current label so far all digits */

	if (n && in[n - 1] == '.')
		n--;	/* absolute form "example.com." */
	if (n == 0) {
		set_err(err, errlen, "empty name");
		return -EINVAL;
	}
	if (n > DNS_NAME_MAX) {
		set_err(err, errlen, "name longer than 253 characters");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '.') {
			if (label == 0) {
				set_err(err, errlen, "empty label");
				return -EINVAL;
			}
			label = 0;
			digits = true;
			out[w++] = '.';
			continue;
		}
		if (!name_char(c)) {
			if (errlen) {
				if (c > ' ' && c < 0x7f)
					snprintf(err, errlen,
						 "bad character '%c'", c);
				else
					snprintf(err, errlen,
						 "bad character 0x%02x", c);
			}
			return -EINVAL;
		}
		if (++label > 63) {
			set_err(err, errlen, "label longer than 63 characters");
			return -EINVAL;
		}
		digits = digits && c >= '0' && c <= '9';
		out[w++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	if (label == 0) {
		set_err(err, errlen, "empty label");
		return -EINVAL;
	}
	/* An all-numeric top label is an address, not a name (RFC 3696 §2):
	 * "127.0.0.1" must not reach the host resolver as a name. */
	if (digits) {
		set_err(err, errlen, "all-numeric top-level label");
		return -EINVAL;
	}
	out[w] = 0;
	return 0;
}

/* --- rule text -------------------------------------------------------- */

/* Every message names the rule and its bad part; -EINVAL for returning. */
static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}
#define ERR(...) fail(err, errlen, __VA_ARGS__)

/* " in 'RULE'" when the bad part is not already the whole rule. */
static const char *in_rule(const struct net_rule *r, const char *part,
			   char *buf, size_t n)
{
	if (!strcmp(part, r->text))
		return "";
	snprintf(buf, n, " in '%s'", r->text);
	return buf;
}

/* One port 1-65535 at *sp; advances *sp past the digits. */
static int parse_port(const char **sp, uint16_t *out)
{
	const char *s = *sp;
	unsigned long v = 0;
	int nd = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		if (++nd <= 5)
			v = v * 10 + (unsigned long)(*s - '0');
	*sp = s;
	if (!nd || nd > 5 || !v || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* "443", "80,443", "8000-8100" and combinations. */
static int parse_ports(const char *s, struct net_rule *r, char *err,
		       size_t errlen)
{
	if (!*s)
		return ERR("empty port list after ':' in '%s'", r->text);
	for (;;) {
		const char *tok = s;
		int tl = (int)strcspn(tok, ",");
		uint16_t lo, hi;
		bool bad = parse_port(&s, &lo);
		if (!bad && *s == '-') {
			s++;
			bad = parse_port(&s, &hi);
		} else {
			hi = lo;
		}
		if (bad || (*s && *s != ','))
			return ERR("bad port '%.*s' in '%s' (ports are "
				   "1-65535)", tl, tok, r->text);
		if (lo > hi)
			return ERR("reversed port range '%.*s' in '%s'", tl,
				   tok, r->text);
		if (r->nports == NET_RULE_PORTS)
			return ERR("more than %d port ranges in '%s'",
				   NET_RULE_PORTS, r->text);
		r->ports[r->nports++] = (struct net_port_range){ lo, hi };
		if (!*s)
			return 0;
		s++;
	}
}

static int parse_cidr(char *s, uint8_t family, struct net_rule *r,
		      char *err, size_t errlen)
{
	unsigned maxp = family == NET_AF4 ? 32 : 128, plen = maxp;
	char *slash = strchr(s, '/'), ib[NET_RULE_TEXT_MAX + 8];
	const char *in = in_rule(r, s, ib, sizeof(ib));

	if (slash) {
		*slash = 0;
		const char *d = slash + 1;
		unsigned v = 0;
		int nd = 0;
		for (; *d >= '0' && *d <= '9' && nd < 4; d++, nd++)
			v = v * 10 + (unsigned)(*d - '0');
		if (!nd || *d || v > maxp || (nd > 1 && slash[1] == '0'))
			return ERR("bad prefix length '/%s' (0-%u)%s",
				   slash + 1, maxp, in);
		plen = v;
	}
	if (net_addr_parse(s, &r->addr) || r->addr.family != family)
		return ERR("bad %s address '%s'%s",
			   family == NET_AF4 ? "IPv4" : "IPv6", s, in);
	struct net_addr net = { .family = family };
	for (unsigned i = 0; i < plen / 8; i++)
		net.b[i] = r->addr.b[i];
	if (plen % 8)
		net.b[plen / 8] = r->addr.b[plen / 8] &
				  (uint8_t)(0xff << (8 - plen % 8));
	if (memcmp(&net, &r->addr, sizeof(net)))
		return ERR("host bits set in '%s/%u' (network address "
			   "expected)%s", s, plen, in);
	r->kind = NET_RULE_CIDR;
	r->prefix = (uint8_t)plen;
	return 0;
}

static int parse_name_rule(const char *s, struct net_rule *r, char *err,
			   size_t errlen)
{
	char why[64], ib[NET_RULE_TEXT_MAX + 8];
	bool wild = s[0] == '*' && s[1] == '.';

	if (!strcmp(s, "*"))
		return ERR("'*' alone is not a rule in '%s' (use network: "
			   "true for the whole internet)", r->text);
	if (strchr(s + (wild ? 2 : 0), '*'))
		return ERR("'*' must be the whole first label, as in "
			   "'*.example.com', in '%s'", r->text);
	if (dns_name_normalize(s + (wild ? 2 : 0), r->name, why, sizeof(why)))
		return ERR("%s in host name '%s'%s", why, s,
			   in_rule(r, s, ib, sizeof(ib)));
	r->kind = wild ? NET_RULE_WILDCARD : NET_RULE_HOST;
	return 0;
}

int net_rule_parse(const char *text, struct net_rule *r, char *err,
		   size_t errlen)
{
	char buf[NET_RULE_TEXT_MAX], *host = buf, *ports = NULL;
	size_t n = strnlen(text, NET_RULE_TEXT_MAX);
	int rc;

	*r = (struct net_rule){ 0 };
	if (errlen)
		err[0] = 0;
	if (n == 0)
		return ERR("empty rule");
	if (n == NET_RULE_TEXT_MAX)
		return ERR("rule '%.40s...' longer than %d characters", text,
			   NET_RULE_TEXT_MAX - 1);
	memcpy(r->text, text, n + 1);
	memcpy(buf, text, n + 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			return ERR("space or control character in rule '%s'",
				   r->text);
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');
		if (!rb)
			return ERR("missing ']' after the IPv6 address in '%s'",
				   r->text);
		*rb = 0;
		host = buf + 1;
		if (rb[1] == ':')
			ports = rb + 2;
		else if (rb[1])
			return ERR("unexpected '%s' after ']' in '%s' (ports "
				   "follow a ':')", rb + 1, r->text);
		if (!strchr(host, ':'))
			return ERR("brackets are for IPv6 addresses in '%s'",
				   r->text);
		rc = parse_cidr(host, NET_AF6, r, err, errlen);
	} else {
		char *c = strchr(buf, ':');
		if (c && strchr(c + 1, ':'))
			return ERR("IPv6 address needs brackets in '%s', as in "
				   "'[2001:db8::/32]:443'", r->text);
		if (c) {
			*c = 0;
			ports = c + 1;
		}
		if (!*host)
			return ERR("missing address or name before ':' in "
				   "'%s'", r->text);
		if (host[0] >= '0' && host[0] <= '9' &&
		    strspn(host, "0123456789./") == strlen(host))
			rc = parse_cidr(host, NET_AF4, r, err, errlen);
		else
			rc = parse_name_rule(host, r, err, errlen);
	}
	if (rc)
		return rc;
	return ports ? parse_ports(ports, r, err, errlen) : 0;
}

bool dns_rule_matches(const struct net_rule *r, const char *name,
		      size_t nlen)
{
	if (r->kind == NET_RULE_HOST)
		return !strcmp(name, r->name);
	/* *.suffix: sub-domains only, never the bare suffix */
	size_t sl = strlen(r->name);
	return r->kind == NET_RULE_WILDCARD && nlen > sl + 1 &&
	       name[nlen - sl - 1] == '.' && !strcmp(name + nlen - sl, r->name);
}

/* --- the wire format ---------------------------------------------------- */

int dns_wire_name(const uint8_t *m, size_t n, size_t off, uint8_t *wire,
		  size_t *wlen, size_t *end)
{
	size_t w = 0, limit = off;
	bool jumped = false;

	for (;;) {
		if (off >= n)
			return -1;
		uint8_t c = m[off];
		if ((c & 0xc0) == 0xc0) {
			if (off + 1 >= n)
				return -1;
			size_t t = (size_t)(c & 0x3f) << 8 | m[off + 1];
			if (!jumped)
				*end = off + 2;
			/* strictly backwards from the last target: no loop
			 * can form and the walk ends in < n jumps */
			if (t >= limit)
				return -1;
			limit = t;
			off = t;
			jumped = true;
			continue;
		}
		if (c & 0xc0)	/* 0x40/0x80: extended/obsolete label types */
			return -1;
		if (w + 1 + c > DNS_NAME_WIRE)
			return -1;
		if (c == 0) {
			wire[w++] = 0;
			if (!jumped)
				*end = off + 1;
			*wlen = w;
			return 0;
		}
		if (c > n - off - 1)
			return -1;
		memcpy(wire + w, m + off, 1 + (size_t)c);
		w += 1 + (size_t)c;
		off += 1 + (size_t)c;
	}
}

/* Wire name to dotted text, refusing bytes that are not hostname
 * characters (a '.' inside a label would change what a rule matches),
 * then the common checks and lower-casing. */
static int wire_to_name(const uint8_t *wire, size_t wlen,
			char out[DNS_NAME_MAX + 1])
{
	char text[DNS_NAME_WIRE + 1];
	size_t r = 0, w = 0;

	while (r < wlen && wire[r]) {
		size_t l = wire[r++];
		if (w)
			text[w++] = '.';
		for (size_t i = 0; i < l; i++) {
			if (!name_char(wire[r + i]))
				return -1;
			text[w++] = (char)wire[r + i];
		}
		r += l;
	}
	text[w] = 0;
	return dns_name_normalize(text, out, NULL, 0);
}

/* The DNS message of a reply: header, the question if we have it, then
 * A/AAAA records for the addrs of q's type, as many as fit 512 bytes and
 * DNS_MAX_ADDRS (*nans says how many). Returns the message length. */
static size_t put_msg(const struct dns_query *q, int rcode,
		      const struct net_addr *addrs, size_t n, uint32_t ttl,
		      uint8_t *m, size_t *nans)
{
	bool question = q->qwire_len > 0;
	uint8_t fam = q->qtype == DNS_TYPE_A ? NET_AF4 : NET_AF6;
	size_t alen = fam == NET_AF4 ? 4 : 16, at, an = 0;

	memset(m, 0, DNS_HDR);
	net_wr16(m, q->id);
	/* QR, the query's opcode and RD, RA (we do recurse for it) */
	net_wr16(m + 2, (uint16_t)(DNS_FLAG_QR | (q->flags & 0x7800) |
			       (q->flags & DNS_FLAG_RD) | DNS_FLAG_RA |
			       (rcode & 15)));
	net_wr16(m + 4, question);
	at = DNS_HDR;
	if (question) {
		memcpy(m + at, q->qwire, q->qwire_len);
		at += q->qwire_len;
		net_wr16(m + at, q->qtype);
		net_wr16(m + at + 2, q->qclass);
		at += 4;
	}
	if (q->qtype != DNS_TYPE_A && q->qtype != DNS_TYPE_AAAA)
		n = 0;	/* we only ever answer with addresses */
	for (size_t i = 0; question && i < n && an < DNS_MAX_ADDRS; i++) {
		if (addrs[i].family != fam)
			continue;
		if (at + 12 + alen > DNS_UDP_MAX)
			break;
		net_wr16(m + at, 0xc000 | DNS_HDR);	/* the question's name */
		net_wr16(m + at + 2, q->qtype);
		net_wr16(m + at + 4, DNS_CLASS_IN);
		net_wr16(m + at + 6, (uint16_t)(ttl >> 16));
		net_wr16(m + at + 8, (uint16_t)ttl);
		net_wr16(m + at + 10, (uint16_t)alen);
		memcpy(m + at + 12, addrs[i].b, alen);
		at += 12 + alen;
		an++;
	}
	net_wr16(m + 6, (uint16_t)an);
	*nans = an;
	return at;
}

static size_t put_reply(const struct dns_query *q, int rcode,
			const struct net_addr *addrs, size_t n, uint32_t ttl,
			uint8_t *out, size_t cap, size_t *nans)
{
	uint8_t m[DNS_UDP_MAX];
	size_t an = 0, mlen = put_msg(q, rcode, addrs, n, ttl, m, &an);
	if (nans)
		*nans = an;
	return net_frame_udp(&q->reply, m, mlen, out, cap);
}

static uint32_t clamp_ttl(uint32_t ttl)
{
	return ttl < DNS_TTL_MIN ? DNS_TTL_MIN
	       : ttl > DNS_TTL_MAX ? DNS_TTL_MAX : ttl;
}

/* Reply with rcode and the reason for the log; DNS_REPLY if it fit. */
static enum dns_disposition reply_rcode(struct dns_query *q, int rcode,
					enum net_reason why, uint8_t *out,
					size_t cap, size_t *out_len)
{
	if (why != NET_R_NONE) {
		q->v.action = NET_ACT_DENY;
		q->v.reason = why;
	}
	*out_len = dns_build_error(q, rcode, out, cap);
	return *out_len ? DNS_REPLY : DNS_DROP;
}

enum dns_disposition dns_query(struct net_policy *p, const uint8_t *frame,
			       size_t len, uint64_t now_ms,
			       struct dns_query *q, uint8_t *out, size_t cap,
			       size_t *out_len)
{
	struct net_pkt pk;
	size_t end = 0;

	*out_len = 0;
	*q = (struct dns_query){ .v = { .rule = -1, .flags = NET_VF_NEW,
					.reason = NET_R_MALFORMED } };
	if (net_frame_parse(frame, len, &pk) != NET_PARSE_IP || pk.proto != 17)
		return DNS_DROP;
	net_frame_reply_route(frame, &pk, &q->reply);
	q->v.proto = pk.proto;
	q->v.src = pk.src;
	q->v.dst = pk.dst;
	q->v.sport = pk.sport;
	q->v.dport = pk.dport;

	const uint8_t *m = frame + pk.data_off;
	size_t n = pk.data_len;
	/* too short to echo an id, or a response: never answer those (a
	 * reply to a reply is how reflection loops start) */
	if (n < DNS_HDR || (net_rd16(m + 2) & DNS_FLAG_QR))
		return DNS_DROP;
	q->id = net_rd16(m);
	q->flags = net_rd16(m + 2);
	if (DNS_OPCODE(q->flags) != 0)
		return reply_rcode(q, DNS_RCODE_NOTIMP, NET_R_MALFORMED, out,
				   cap, out_len);
	size_t wl = 0;
	if (net_rd16(m + 4) != 1 ||
	    dns_wire_name(m, n, DNS_HDR, q->qwire, &wl, &end) || n - end < 4)
		return reply_rcode(q, DNS_RCODE_FORMERR, NET_R_MALFORMED, out,
				   cap, out_len);
	q->qwire_len = (uint16_t)wl;
	q->qtype = net_rd16(m + end);
	q->qclass = net_rd16(m + end + 2);
	if (q->qclass != DNS_CLASS_IN)
		return reply_rcode(q, DNS_RCODE_REFUSED, NET_R_NOT_ALLOWED,
				   out, cap, out_len);
	if (wire_to_name(q->qwire, wl, q->name))
		return reply_rcode(q, DNS_RCODE_NXDOMAIN, NET_R_BAD_NAME, out,
				   cap, out_len);

	bool in_hosts = net_policy_name(p, q->name, &q->v, q->rules);
	q->v.name = q->name;
	if (q->v.action != NET_ACT_ALLOW)
		return reply_rcode(q, DNS_RCODE_NXDOMAIN, NET_R_NONE, out,
				   cap, out_len);
	bool addr_type = q->qtype == DNS_TYPE_A || q->qtype == DNS_TYPE_AAAA;
	if (in_hosts) {
		struct net_addr a[DNS_MAX_ADDRS];
		size_t na = 0;
		if (addr_type)
			na = net_policy_hosts(p, q->name,
					      q->qtype == DNS_TYPE_A ? NET_AF4
								     : NET_AF6,
					      a, DNS_MAX_ADDRS);
		q->v.reason = NET_R_HOSTS;
		*out_len = put_reply(q, 0, a, na, DNS_HOSTS_TTL, out, cap,
				     &na);
		/* the user wrote these addresses: no rebinding filter */
		for (size_t i = 0; *out_len && i < na; i++)
			net_policy_admit(p, q->rules, q->name, &a[i],
					 DNS_HOSTS_TTL, now_ms, true);
		return *out_len ? DNS_REPLY : DNS_DROP;
	}
	if (!addr_type) {
		*out_len = put_reply(q, 0, NULL, 0, 0, out, cap, NULL);
		return *out_len ? DNS_REPLY : DNS_DROP;
	}
	return DNS_RESOLVE;
}

size_t dns_build_answer(struct net_policy *p, const struct dns_query *q,
			const struct net_addr *addrs, size_t n, uint32_t ttl,
			uint64_t now_ms, uint8_t *out, size_t cap)
{
	uint8_t fam = q->qtype == DNS_TYPE_A ? NET_AF4 : NET_AF6;
	size_t an = 0;

	/* a denied question never gets addresses, whatever the caller did */
	if (q->v.action != NET_ACT_ALLOW)
		return dns_build_error(q, DNS_RCODE_NXDOMAIN, out, cap);
	ttl = clamp_ttl(ttl);
	size_t len = put_reply(q, 0, addrs, n, ttl, out, cap, &an);
	/* Admit exactly what the guest was told (the first `an` addresses
	 * of its family). */
	if (!len || !q->qwire_len)
		return len;
	for (size_t i = 0; i < n && an; i++) {
		if (addrs[i].family != fam)
			continue;
		net_policy_admit(p, q->rules, q->name, &addrs[i], ttl, now_ms,
				 false);
		an--;
	}
	return len;
}

size_t dns_build_error(const struct dns_query *q, int rcode, uint8_t *out,
		       size_t cap)
{
	return put_reply(q, rcode, NULL, 0, 0, out, cap, NULL);
}
