/* dns_upstream.c: the VMM's own query to the host's resolver for a
 * DNS_RESOLVE question, and the checks on the resolver's reply.
 *
 * Why a fresh query rather than forwarding the guest's: the guest's bytes
 * can carry anything (EDNS options, extra questions, odd flags, a name
 * with case or bytes the policy never looked at). Building the message
 * here from q->name alone means the only thing that leaves the sandbox is
 * the name the policy judged, in the form it judged it.
 *
 * Primer (RFC 1035 §4.1): a 12-byte header (id, flags, QDCOUNT, ANCOUNT,
 * NSCOUNT, ARCOUNT), the question (name, type, class), then resource
 * records (owner name, type, class, 32-bit TTL, RDLENGTH, RDATA). Names
 * may end in a compression pointer to an earlier offset (§4.1.4); as in
 * dns.c each pointer must point strictly before the previous jump target
 * (the first: before the name's own start), so the walk always ends.
 *
 * The reply is hostile input: whoever can send datagrams to our socket,
 * or a broken resolver. The socket is connected, so the kernel already
 * drops datagrams from other sources; the id and the echoed question are
 * what tie a reply to our query. Only the answer section is read: the
 * resolver followed any CNAME chain (RD=1), so the records of our type
 * there are the addresses, whatever owner name the chain ended on.
 *
 * No sockets, no logging, no allocation: the caller owns both.
 */
#include <errno.h>
#include <string.h>

#include "net.h"

#define DNS_UP_HDR	12
#define DNS_UP_CLASS_IN	1
#define DNS_UP_FLAG_QR	0x8000
#define DNS_UP_FLAG_TC	0x0200
#define DNS_UP_FLAG_RD	0x0100
#define DNS_UP_OPCODE(f) (((f) >> 11) & 15)
/* The smallest record: root owner name (1 byte), type, class, TTL,
 * RDLENGTH (10 bytes), no RDATA. Bounds ANCOUNT by the bytes present. */
#define DNS_UP_RR_MIN	11

static bool addr_type(uint16_t qtype)
{
	return qtype == DNS_TYPE_A || qtype == DNS_TYPE_AAAA;
}

/* q->name in wire form. Returns the wire length, or 0 unless the name is
 * exactly what dns_name_normalize() makes of it (lower case, no trailing
 * dot, valid labels): a name that did not come through the policy's own
 * normalization must not leave. */
static size_t name_to_wire(const char *name, uint8_t wire[DNS_NAME_WIRE])
{
	char norm[DNS_NAME_MAX + 1];
	size_t n = strnlen(name, DNS_NAME_MAX + 1), lp = 0, w = 1;

	/* a NUL inside q->name's array before normalize's own strnlen,
	 * which may look one byte further */
	if (n > DNS_NAME_MAX || dns_name_normalize(name, norm, NULL, 0) ||
	    strcmp(norm, name))
		return 0;
	/* n <= 253 dotted bytes are n + 2 <= 255 wire bytes (§2.3.4) */
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '.') {
			wire[lp] = (uint8_t)(w - lp - 1);
			lp = w++;
		} else {
			wire[w++] = (uint8_t)name[i];
		}
	}
	wire[lp] = (uint8_t)(w - lp - 1);
	wire[w++] = 0;
	return w;
}

size_t dns_upstream_query(const struct dns_query *q, uint16_t id,
			  uint8_t *out, size_t cap)
{
	uint8_t wire[DNS_NAME_WIRE];
	size_t wl = name_to_wire(q->name, wire);

	if (!wl || !addr_type(q->qtype) || cap < DNS_UP_HDR + wl + 4)
		return 0;
	/* QDCOUNT 1, everything else zero: no EDNS OPT record, so the
	 * reply fits 512 bytes or comes back with TC (§4.2.1) */
	memset(out, 0, DNS_UP_HDR);
	net_wr16(out, id);
	net_wr16(out + 2, DNS_UP_FLAG_RD);
	net_wr16(out + 4, 1);
	memcpy(out + DNS_UP_HDR, wire, wl);
	net_wr16(out + DNS_UP_HDR + wl, q->qtype);
	net_wr16(out + DNS_UP_HDR + wl + 2, DNS_UP_CLASS_IN);
	return DNS_UP_HDR + wl + 4;
}

/* Wire names equal ignoring ASCII case (§2.3.3). Length bytes are < 64,
 * below 'A', so folding every byte leaves them alone. */
static bool same_name(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return false;
	}
	return true;
}

int dns_upstream_parse(const uint8_t *msg, size_t len,
		       const struct dns_query *q, uint16_t id,
		       struct net_addr *addrs, size_t max, size_t *n,
		       uint32_t *ttl, int *rcode)
{
	uint8_t want[DNS_NAME_WIRE], got[DNS_NAME_WIRE];
	size_t wl = name_to_wire(q->name, want), gl = 0, off = 0, nc = 0;
	uint32_t min_ttl = UINT32_MAX;

	*n = 0;
	*ttl = 0;
	*rcode = 0;
	if (!wl || !addr_type(q->qtype) || len < DNS_UP_HDR)
		return -EINVAL;
	uint16_t flags = net_rd16(msg + 2);
	if (net_rd16(msg) != id || !(flags & DNS_UP_FLAG_QR) ||
	    DNS_UP_OPCODE(flags) != 0)
		return -EINVAL;
	/* Our question, echoed (§4.1.1: copied from the query). A resolver
	 * that drops it (some FORMERR/REFUSED replies do) is not matched:
	 * the caller's timeout turns that into SERVFAIL. */
	if (net_rd16(msg + 4) != 1 ||
	    dns_wire_name(msg, len, DNS_UP_HDR, got, &gl, &off) || len - off < 4)
		return -EINVAL;
	if (gl != wl || !same_name(got, want, wl) ||
	    net_rd16(msg + off) != q->qtype ||
	    net_rd16(msg + off + 2) != DNS_UP_CLASS_IN)
		return -EINVAL;
	off += 4;
	*rcode = flags & 15;
	/* Truncated: the answer section is partial. We do not retry over
	 * TCP (A/AAAA answers for one name fit 512 bytes in practice);
	 * the caller fails the question. */
	if (flags & DNS_UP_FLAG_TC)
		return -EMSGSIZE;

	size_t an = net_rd16(msg + 6);
	if (an > (len - off) / DNS_UP_RR_MIN)
		return -EINVAL;
	uint8_t fam = q->qtype == DNS_TYPE_A ? NET_AF4 : NET_AF6;
	size_t alen = fam == NET_AF4 ? 4 : 16;
	for (size_t i = 0; i < an; i++) {
		/* owner names are walked (and so checked), never compared:
		 * after a CNAME the addresses belong to the chain's end */
		if (dns_wire_name(msg, len, off, got, &gl, &off) || len - off < 10)
			return -EINVAL;
		uint16_t type = net_rd16(msg + off), class = net_rd16(msg + off + 2);
		uint32_t t = net_rd32(msg + off + 4);
		size_t rdlen = net_rd16(msg + off + 8);
		off += 10;
		if (rdlen > len - off)
			return -EINVAL;
		if (type == q->qtype && class == DNS_UP_CLASS_IN) {
			if (rdlen != alen)
				return -EINVAL;
			/* Addresses only with NOERROR: an NXDOMAIN that
			 * carries records is not an answer to admit. */
			if (*rcode == 0 && nc < max) {
				addrs[nc] = (struct net_addr){ .family = fam };
				memcpy(addrs[nc].b, msg + off, alen);
				/* RFC 2181 §8: a TTL with the top bit set
				 * is treated as zero */
				if (t > 0x7fffffff)
					t = 0;
				if (t < min_ttl)
					min_ttl = t;
				nc++;
			}
		}
		off += rdlen;
	}
	/* the authority and additional sections are not read: nothing we
	 * use is there, and trailing bytes cannot change the answer */
	*n = nc;
	*ttl = nc ? min_ttl : 0;
	return 0;
}
