/* test_dns_upstream.c: the VMM's query to the host's resolver and the
 * checks on the reply (host/net/dns_upstream.c), on messages built here
 * byte by byte. Every message handed to the parser sits in a buffer of
 * exactly its length, so ASan sees any read past the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/net/net.h"

#include "policy_frames.h"	/* CHECK */

int t_pass, t_fail;

#define ID 0xbeef
#define T_CNAME 5
#define T_SOA 6

static struct dns_query query(const char *name, uint16_t qtype)
{
	struct dns_query q = { .qtype = qtype, .qclass = 1 };
	snprintf(q.name, sizeof(q.name), "%s", name);
	return q;
}

/* --- a reply writer: appends to a fixed buffer ------------------------- */

struct msg {
	uint8_t b[1024];
	size_t n;
};

static void put8(struct msg *m, uint8_t v)
{
	m->b[m->n++] = v;
}

static void put16(struct msg *m, uint16_t v)
{
	put8(m, (uint8_t)(v >> 8));
	put8(m, (uint8_t)v);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, (uint16_t)(v >> 16));
	put16(m, (uint16_t)v);
}

/* "a.b.c" as labels and a zero byte; mixed case kept. */
static void put_name(struct msg *m, const char *s)
{
	while (*s) {
		size_t l = strcspn(s, ".");
		put8(m, (uint8_t)l);
		memcpy(m->b + m->n, s, l);
		m->n += l;
		s += l;
		if (*s == '.')
			s++;
	}
	put8(m, 0);
}

static void put_ptr(struct msg *m, uint16_t off)
{
	put16(m, (uint16_t)(0xc000 | off));
}

static void header(struct msg *m, uint16_t id, uint16_t flags, uint16_t qd,
		   uint16_t an, uint16_t ns)
{
	m->n = 0;
	put16(m, id);
	put16(m, flags);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, 0);
}

/* A reply header (QR, RD, RA, rcode) and the question. */
static void reply(struct msg *m, uint16_t id, int rcode, uint16_t an,
		  const char *qname, uint16_t qtype)
{
	header(m, id, (uint16_t)(0x8180 | rcode), 1, an, 0);
	put_name(m, qname);
	put16(m, qtype);
	put16(m, 1);
}

/* Record header with the owner already written; rdata follows. */
static void rr(struct msg *m, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, rdlen);
}

static void a_rr(struct msg *m, uint16_t owner, uint32_t ttl, uint8_t a,
		 uint8_t b, uint8_t c, uint8_t d)
{
	put_ptr(m, owner);
	rr(m, DNS_TYPE_A, ttl, 4);
	put8(m, a);
	put8(m, b);
	put8(m, c);
	put8(m, d);
}

/* Parse m from an exactly-sized heap copy. */
static int parse(const struct msg *m, size_t len, const struct dns_query *q,
		 struct net_addr *a, size_t max, size_t *n, uint32_t *ttl,
		 int *rcode)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, m->b, len);
	int rc = dns_upstream_parse(copy, len, q, ID, a, max, n, ttl, rcode);
	free(copy);
	return rc;
}

static bool is4(const struct net_addr *a, uint8_t x, uint8_t y, uint8_t z,
		uint8_t w)
{
	struct net_addr e = { .family = NET_AF4, .b = { x, y, z, w } };
	return !memcmp(a, &e, sizeof(e));
}

/* --- the query ---------------------------------------------------------- */

static void test_query(void)
{
	static const uint8_t want_a[] = {
		0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'a', 'p', 'i', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		3, 'c', 'o', 'm', 0, 0, 1, 0, 1,
	};
	uint8_t o[DNS_UPSTREAM_QUERY_MAX + 8];
	struct dns_query q = query("api.example.com", DNS_TYPE_A);
	size_t n = dns_upstream_query(&q, ID, o, sizeof(o));

	CHECK("query-a-bytes", n == sizeof(want_a) && !memcmp(o, want_a, n));
	q.qtype = DNS_TYPE_AAAA;
	n = dns_upstream_query(&q, 0x0102, o, sizeof(o));
	CHECK("query-aaaa-bytes", n == sizeof(want_a) && o[0] == 1 &&
				  o[1] == 2 && !memcmp(o + 2, want_a + 2, 27) &&
				  o[29] == 0 && o[30] == 28 && o[31] == 0 &&
				  o[32] == 1);
	CHECK("query-cap-exact", dns_upstream_query(&q, ID, o, n) == n);
	CHECK("query-cap-short", dns_upstream_query(&q, ID, o, n - 1) == 0);

	q = query("x", DNS_TYPE_A);
	n = dns_upstream_query(&q, ID, o, sizeof(o));
	CHECK("query-one-label", n == 12 + 3 + 4 && o[12] == 1 &&
				 o[13] == 'x' && o[14] == 0);

	/* the longest name: four labels of 63, 61 and dots = 253 */
	char big[DNS_NAME_MAX + 1];
	memset(big, 'a', DNS_NAME_MAX);
	big[63] = big[127] = big[191] = '.';
	big[DNS_NAME_MAX] = 0;
	q = query(big, DNS_TYPE_AAAA);
	n = dns_upstream_query(&q, ID, o, sizeof(o));
	CHECK("query-max-name", n == DNS_UPSTREAM_QUERY_MAX &&
				o[12] == 63 && o[12 + 64 * 3] == 61 &&
				o[12 + DNS_NAME_WIRE - 1] == 0);

	static const char *const bad[] = {
		"", ".", "a..b", "example.com.", "Example.com", "a b.com",
		"1.2.3.4", "-x.com\x01",
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		q = query(bad[i], DNS_TYPE_A);
		ok &= dns_upstream_query(&q, ID, o, sizeof(o)) == 0;
	}
	memset(big, 'a', 64);	/* a 64-byte label */
	strcpy(big + 64, ".com");
	q = query(big, DNS_TYPE_A);
	ok &= dns_upstream_query(&q, ID, o, sizeof(o)) == 0;
	CHECK("query-bad-names", ok);
	/* a name filling the array with no NUL is refused, not overread */
	q = query("ok.com", DNS_TYPE_A);
	memset(q.name, 'a', sizeof(q.name));
	CHECK("query-unterminated", dns_upstream_query(&q, ID, o,
						       sizeof(o)) == 0);
	q = query("ok.com", 16 /* TXT */);
	CHECK("query-only-a-aaaa", dns_upstream_query(&q, ID, o,
						      sizeof(o)) == 0);

	/* our own query is not a reply to itself (QR=0) */
	struct net_addr a[4];
	size_t na;
	uint32_t ttl;
	int rcode;
	q = query("ok.com", DNS_TYPE_A);
	n = dns_upstream_query(&q, ID, o, sizeof(o));
	CHECK("query-not-a-reply", dns_upstream_parse(o, n, &q, ID, a, 4, &na,
						      &ttl, &rcode) == -EINVAL);
}

/* --- replies ------------------------------------------------------------ */

/* api.example.com CNAME edge.cdn.net; edge A 192.0.2.1 (300 s) and
 * 198.51.100.7 (120 s). The A owners point into the CNAME's RDATA. */
static void cname_reply(struct msg *m)
{
	reply(m, ID, 0, 3, "api.example.com", DNS_TYPE_A);
	put_ptr(m, 12);
	rr(m, T_CNAME, 600, 14);
	uint16_t edge = (uint16_t)m->n;
	put_name(m, "edge.cdn.net");
	a_rr(m, edge, 300, 192, 0, 2, 1);
	a_rr(m, edge, 120, 198, 51, 100, 7);
}

static void test_parse(void)
{
	struct dns_query q = query("api.example.com", DNS_TYPE_A);
	struct net_addr a[8];
	struct msg m;
	size_t n;
	uint32_t ttl;
	int rcode, rc;

	cname_reply(&m);
	rc = parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode);
	CHECK("cname-two-a", rc == 0 && rcode == 0 && n == 2 &&
			     is4(&a[0], 192, 0, 2, 1) &&
			     is4(&a[1], 198, 51, 100, 7));
	CHECK("cname-min-ttl", rc == 0 && ttl == 120);

	/* the whole reply must be there: every shorter cut is an error */
	bool ok = true;
	for (size_t l = 0; l < m.n; l++)
		ok &= parse(&m, l, &q, a, 8, &n, &ttl, &rcode) < 0 && n == 0;
	CHECK("truncated-every-length", ok);
	/* the same cuts with ANCOUNT adjusted down never read further */
	ok = true;
	for (size_t l = 0; l < m.n; l++) {
		struct msg c = m;
		c.b[7] = 1;
		ok &= parse(&c, l, &q, a, 8, &n, &ttl, &rcode) <= 0;
	}
	CHECK("truncated-fewer-records", ok);

	/* trailing authority/additional bytes are not read */
	struct msg t = m;
	put8(&t, 0xc0);
	CHECK("trailing-ignored", parse(&t, t.n, &q, a, 8, &n, &ttl,
					&rcode) == 0 && n == 2);

	cname_reply(&m);
	m.b[1] ^= 1;
	CHECK("wrong-id", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			  -EINVAL && n == 0);

	cname_reply(&m);
	m.b[2] &= 0x7f;
	CHECK("qr-zero", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			 -EINVAL);

	cname_reply(&m);
	m.b[2] |= 0x08;	/* opcode 1 (IQUERY) */
	CHECK("opcode-nonzero", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
				-EINVAL);

	cname_reply(&m);
	m.b[2] |= 0x02;
	CHECK("tc-fails", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			  -EMSGSIZE && n == 0);
	/* TC on a reply to someone else's question is just not ours */
	m.b[12 + 1] = 'x';
	CHECK("tc-wrong-question", parse(&m, m.n, &q, a, 8, &n, &ttl,
					 &rcode) == -EINVAL);

	cname_reply(&m);
	m.b[13] = 'x';	/* "xpi.example.com" */
	CHECK("wrong-name", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			    -EINVAL);
	reply(&m, ID, 0, 0, "api.example.com.evil", DNS_TYPE_A);
	CHECK("longer-name", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			     -EINVAL);
	reply(&m, ID, 0, 0, "example.com", DNS_TYPE_A);
	CHECK("shorter-name", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			      -EINVAL);
	reply(&m, ID, 0, 1, "ApI.eXaMpLe.CoM", DNS_TYPE_A);
	a_rr(&m, 12, 30, 203, 0, 113, 9);
	CHECK("name-case-insensitive", parse(&m, m.n, &q, a, 8, &n, &ttl,
					     &rcode) == 0 && n == 1 &&
				       ttl == 30 &&
				       is4(&a[0], 203, 0, 113, 9));
	reply(&m, ID, 0, 0, "api.example.com", DNS_TYPE_AAAA);
	CHECK("wrong-qtype", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			     -EINVAL);
	reply(&m, ID, 0, 0, "api.example.com", DNS_TYPE_A);
	m.b[m.n - 1] = 3;	/* class CH */
	CHECK("wrong-qclass", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			      -EINVAL);
	reply(&m, ID, 0, 0, "api.example.com", DNS_TYPE_A);
	m.b[5] = 0;
	CHECK("qdcount-zero", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			      -EINVAL);
	m.b[5] = 2;
	CHECK("qdcount-two", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			     -EINVAL);

	/* NXDOMAIN with the SOA in the authority section */
	header(&m, ID, 0x8183, 1, 0, 1);
	put_name(&m, "api.example.com");
	put16(&m, DNS_TYPE_A);
	put16(&m, 1);
	put_ptr(&m, 16);	/* example.com */
	rr(&m, T_SOA, 900, 0);
	CHECK("nxdomain-rcode", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
				0 && rcode == DNS_RCODE_NXDOMAIN && n == 0 &&
				ttl == 0);
	/* an NXDOMAIN carrying an A record admits nothing */
	reply(&m, ID, DNS_RCODE_NXDOMAIN, 1, "api.example.com", DNS_TYPE_A);
	a_rr(&m, 12, 30, 203, 0, 113, 9);
	CHECK("nxdomain-no-addrs", parse(&m, m.n, &q, a, 8, &n, &ttl,
					 &rcode) == 0 && rcode == 3 && n == 0);
	reply(&m, ID, DNS_RCODE_SERVFAIL, 0, "api.example.com", DNS_TYPE_A);
	CHECK("servfail-rcode", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
				0 && rcode == DNS_RCODE_SERVFAIL && n == 0);

	/* NOERROR, no data: only a CNAME */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	put_ptr(&m, 12);
	rr(&m, T_CNAME, 60, 2);
	put_ptr(&m, 16);
	CHECK("nodata", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) == 0 &&
			rcode == 0 && n == 0 && ttl == 0);

	/* max: five records, three slots */
	reply(&m, ID, 0, 5, "api.example.com", DNS_TYPE_A);
	for (uint8_t i = 1; i <= 5; i++)	/* TTLs 90, 80, ..., 50 */
		a_rr(&m, 12, 100u - i * 10u, 10, 9, 8, i);
	a[3].family = 0xee;
	rc = parse(&m, m.n, &q, a, 3, &n, &ttl, &rcode);
	CHECK("max-copied", rc == 0 && n == 3 && is4(&a[0], 10, 9, 8, 1) &&
			    is4(&a[2], 10, 9, 8, 3) && a[3].family == 0xee);
	CHECK("max-ttl-of-copied", rc == 0 && ttl == 70);
	CHECK("max-zero", parse(&m, m.n, &q, NULL, 0, &n, &ttl, &rcode) == 0 &&
			  n == 0 && ttl == 0);

	/* RFC 2181 §8: TTL with the top bit set is zero */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	a_rr(&m, 12, 0x80000000u, 1, 1, 1, 1);
	CHECK("ttl-top-bit", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) == 0 &&
			     n == 1 && ttl == 0);

	/* class CH A record: skipped, like other types */
	reply(&m, ID, 0, 2, "api.example.com", DNS_TYPE_A);
	put_ptr(&m, 12);
	put16(&m, DNS_TYPE_A);
	put16(&m, 3);
	put32(&m, 5);
	put16(&m, 4);
	put32(&m, 0x7f000001);
	a_rr(&m, 12, 50, 9, 9, 9, 9);
	CHECK("class-ch-skipped", parse(&m, m.n, &q, a, 8, &n, &ttl,
					&rcode) == 0 && n == 1 &&
				  is4(&a[0], 9, 9, 9, 9) && ttl == 50);

	/* an A record of the wrong length */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	put_ptr(&m, 12);
	rr(&m, DNS_TYPE_A, 60, 5);
	put32(&m, 0x01020304);
	put8(&m, 5);
	CHECK("a-rdlength-5", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			      -EINVAL && n == 0);

	/* rdlength past the end */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	put_ptr(&m, 12);
	rr(&m, T_CNAME, 60, 200);
	put_ptr(&m, 12);
	CHECK("rdlength-past-end", parse(&m, m.n, &q, a, 8, &n, &ttl,
					 &rcode) == -EINVAL);

	/* ANCOUNT far beyond the bytes present */
	cname_reply(&m);
	m.b[6] = 0xff;
	m.b[7] = 0xff;
	CHECK("ancount-huge", parse(&m, m.n, &q, a, 8, &n, &ttl, &rcode) ==
			      -EINVAL && n == 0);
}

static void test_aaaa(void)
{
	struct dns_query q = query("v6.example.org", DNS_TYPE_AAAA);
	struct net_addr a[4];
	struct msg m;
	size_t n;
	uint32_t ttl;
	int rcode;
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

	reply(&m, ID, 0, 2, "v6.example.org", DNS_TYPE_AAAA);
	put_ptr(&m, 12);
	rr(&m, DNS_TYPE_AAAA, 3000, 16);
	memcpy(m.b + m.n, v6, 16);
	m.n += 16;
	put_ptr(&m, 12);
	rr(&m, DNS_TYPE_A, 1, 4);	/* an A in an AAAA answer: skipped */
	put32(&m, 0x01020304);
	CHECK("aaaa-parsed", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) == 0 &&
			     n == 1 && a[0].family == NET_AF6 &&
			     !memcmp(a[0].b, v6, 16) && ttl == 3000);

	reply(&m, ID, 0, 1, "v6.example.org", DNS_TYPE_AAAA);
	put_ptr(&m, 12);
	rr(&m, DNS_TYPE_AAAA, 60, 4);
	put32(&m, 0x01020304);
	CHECK("aaaa-rdlength-4", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
				 -EINVAL && n == 0);

	/* the reply to an A query does not answer our AAAA query */
	reply(&m, ID, 0, 0, "v6.example.org", DNS_TYPE_A);
	CHECK("aaaa-vs-a-question", parse(&m, m.n, &q, a, 4, &n, &ttl,
					  &rcode) == -EINVAL);
}

/* --- compression pointers ------------------------------------------------ */

static void test_pointers(void)
{
	struct dns_query q = query("api.example.com", DNS_TYPE_A);
	struct net_addr a[4];
	struct msg m;
	size_t n, at;
	uint32_t ttl;
	int rcode;

	/* the question is a pointer to itself */
	header(&m, ID, 0x8180, 1, 0, 0);
	put_ptr(&m, 12);
	put16(&m, DNS_TYPE_A);
	put16(&m, 1);
	CHECK("ptr-question-self", parse(&m, m.n, &q, a, 4, &n, &ttl,
					 &rcode) == -EINVAL);

	/* an owner name that points to itself */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	at = m.n;
	put_ptr(&m, (uint16_t)at);
	rr(&m, DNS_TYPE_A, 60, 4);
	put32(&m, 0x01020304);
	CHECK("ptr-self-loop", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
			       -EINVAL);

	/* a label, then a pointer back to that label: a loop through the
	 * name's own start */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	at = m.n;
	put8(&m, 1);
	put8(&m, 'x');
	put_ptr(&m, (uint16_t)at);
	rr(&m, DNS_TYPE_A, 60, 4);
	put32(&m, 0x01020304);
	CHECK("ptr-own-start-loop", parse(&m, m.n, &q, a, 4, &n, &ttl,
					  &rcode) == -EINVAL);

	/* two names pointing at each other: A -> B is forward */
	reply(&m, ID, 0, 2, "api.example.com", DNS_TYPE_A);
	at = m.n;
	put_ptr(&m, (uint16_t)(at + 14));
	rr(&m, T_CNAME, 60, 2);
	put_ptr(&m, (uint16_t)at);
	put_ptr(&m, (uint16_t)at);	/* at + 14 */
	rr(&m, DNS_TYPE_A, 60, 4);
	put32(&m, 0x01020304);
	CHECK("ptr-mutual-loop", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
				 -EINVAL);

	/* a forward pointer to a well-formed name */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	at = m.n;
	put_ptr(&m, (uint16_t)(at + 2 + 14));
	rr(&m, DNS_TYPE_A, 60, 4);
	put32(&m, 0x01020304);
	put_name(&m, "x");
	CHECK("ptr-forward", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
			     -EINVAL);

	/* a pointer past the message */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	put_ptr(&m, 0x3fff);
	rr(&m, DNS_TYPE_A, 60, 4);
	put32(&m, 0x01020304);
	CHECK("ptr-past-end", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
			      -EINVAL);

	/* a chain of pointers, each strictly further back, is fine */
	reply(&m, ID, 0, 2, "api.example.com", DNS_TYPE_A);
	at = m.n;
	put8(&m, 1);
	put8(&m, 'w');
	put_ptr(&m, 12);	/* w.api.example.com */
	rr(&m, T_CNAME, 60, 4);
	put8(&m, 1);
	put8(&m, 'v');
	put_ptr(&m, (uint16_t)at);	/* v.w.api.example.com */
	a_rr(&m, (uint16_t)(at + 14), 60, 5, 6, 7, 8);
	CHECK("ptr-chain-back", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
				0 && n == 1 && is4(&a[0], 5, 6, 7, 8));

	/* the 0x40/0x80 label types (RFC 6891 §5, RFC 2673) */
	reply(&m, ID, 0, 1, "api.example.com", DNS_TYPE_A);
	put8(&m, 0x41);
	put8(&m, 0);
	rr(&m, DNS_TYPE_A, 60, 4);
	put32(&m, 0x01020304);
	CHECK("label-type-ext", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
				-EINVAL);

	/* a name over 255 bytes, built from pointers to earlier labels
	 * that sit in the RDATA of a record we skip */
	reply(&m, ID, 0, 2, "api.example.com", DNS_TYPE_A);
	put_ptr(&m, 12);
	rr(&m, 16 /* TXT */, 60, 5 * 63);
	size_t prev = 12;
	for (int i = 0; i < 5; i++) {	/* 5 x 61 bytes of labels */
		size_t here = m.n;
		put8(&m, 60);
		memset(m.b + m.n, 'z', 60);
		m.n += 60;
		put_ptr(&m, (uint16_t)prev);
		prev = here;
	}
	put_ptr(&m, (uint16_t)prev);
	rr(&m, DNS_TYPE_A, 60, 4);
	put32(&m, 0x01020304);
	CHECK("name-over-255", parse(&m, m.n, &q, a, 4, &n, &ttl, &rcode) ==
			       -EINVAL);
}

/* Random corruption of a good reply: any result but a crash (ASan and
 * UBSan abort the run) is fine, and the outputs stay within bounds. */
static void test_garbage(void)
{
	struct dns_query q = query("api.example.com", DNS_TYPE_A);
	struct net_addr a[3];
	struct msg m, c;
	size_t n;
	uint32_t ttl, x = 2463534242u;
	int rcode;
	bool ok = true;

	cname_reply(&m);
	for (int round = 0; round < 200000; round++) {
		c = m;
		int flips = 1 + round % 4;
		for (int f = 0; f < flips; f++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			c.b[12 + x % (m.n - 12)] = (uint8_t)(x >> 8);
		}
		size_t len = m.n - (x >> 24) % 3;
		int rc = parse(&c, len, &q, a, 3, &n, &ttl, &rcode);
		ok &= (rc == 0 && n <= 3 && rcode >= 0 && rcode < 16) ||
		      (rc < 0 && n == 0);
		for (size_t i = 0; rc == 0 && i < n; i++)
			ok &= a[i].family == NET_AF4;
	}
	CHECK("garbage-bounded", ok);
}

int main(void)
{
	test_query();
	test_parse();
	test_aaaa();
	test_pointers();
	test_garbage();
	printf("dns upstream: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
