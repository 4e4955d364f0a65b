/* frame.c: Ethernet/ARP/IPv4/IPv6/TCP/UDP/ICMP header parsing, and the
 * frames we send the guest ourselves (refusals, UDP replies).
 *
 * Primer. A frame from the guest is Ethernet II (no VLAN tag: slirp has no
 * VLANs) carrying ARP, IPv4 or IPv6. Every length field the guest wrote is
 * a claim to check against the bytes we actually got: the IPv4 total
 * length and IPv6 payload length must fit the frame (Ethernet pads short
 * frames, so they may be shorter), the IPv4 IHL and TCP data offset must
 * fit the IP packet, the UDP length must fit the IP payload. IPv6
 * extension headers are walked only for hop-by-hop and destination options
 * (bounded count); routing headers, AH/ESP and fragments are not walked:
 * slirp handles none of them, and the policy denies them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

#define ETH_HLEN     14
#define ETH_P_IP     0x0800
#define ETH_P_ARP    0x0806
#define ETH_P_IPV6   0x86dd
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_  6
#define IPPROTO_UDP_  17
#define IPPROTO_ICMP6_ 58
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10
#define V6_EXT_MAX 8	/* more option headers than this is an attack */

/* ICMP errors quote "as much of the original datagram as possible without
 * the ICMP datagram exceeding 576 bytes" (RFC 1812 §4.3.2.3); ICMPv6 "as
 * much as possible without exceeding the minimum IPv6 MTU" (RFC 4443 §2.4).
 */
#define ICMP4_QUOTE_MAX (576 - 20 - 8)
#define ICMP6_QUOTE_MAX (1280 - 40 - 8)

static void wr32(uint8_t *p, uint32_t v)
{
	net_wr16(p, (uint16_t)(v >> 16));
	net_wr16(p + 2, (uint16_t)v);
}

static void addr_set(struct net_addr *a, uint8_t family, const uint8_t *b)
{
	*a = (struct net_addr){ .family = family };
	memcpy(a->b, b, family == NET_AF4 ? 4 : 16);
}

/* TCP/UDP/ICMP after the IP header; l4_off/l4_len are set. */
static enum net_parse parse_l4(const uint8_t *f, struct net_pkt *pk)
{
	const uint8_t *l4 = f + pk->l4_off;
	size_t n = pk->l4_len;

	switch (pk->proto) {
	case IPPROTO_TCP_: {
		if (n < 20)
			return NET_PARSE_BAD;
		size_t doff = (size_t)(l4[12] >> 4) * 4;
		if (doff < 20 || doff > n)
			return NET_PARSE_BAD;
		pk->sport = net_rd16(l4);
		pk->dport = net_rd16(l4 + 2);
		pk->tcp_seq = net_rd32(l4 + 4);
		pk->tcp_ack = net_rd32(l4 + 8);
		pk->tcp_flags = l4[13];
		pk->tcp_win = net_rd16(l4 + 14);
		pk->data_off = pk->l4_off + doff;
		pk->data_len = n - doff;
		return NET_PARSE_IP;
	}
	case IPPROTO_UDP_: {
		if (n < 8)
			return NET_PARSE_BAD;
		size_t ulen = net_rd16(l4 + 4);
		if (ulen < 8 || ulen > n)
			return NET_PARSE_BAD;
		pk->sport = net_rd16(l4);
		pk->dport = net_rd16(l4 + 2);
		pk->data_off = pk->l4_off + 8;
		pk->data_len = ulen - 8;
		return NET_PARSE_IP;
	}
	case IPPROTO_ICMP_:
	case IPPROTO_ICMP6_:
		/* ICMPv4 in IPv6 (or v6 in v4) is just "another protocol" */
		if ((pk->proto == IPPROTO_ICMP_) != (pk->family == NET_AF4))
			return NET_PARSE_IP;
		/* every ICMP message has at least type/code/csum/4 bytes
		 * (RFC 792; RFC 4443 §2.1) */
		if (n < 8)
			return NET_PARSE_BAD;
		pk->icmp_type = l4[0];
		pk->icmp_code = l4[1];
		/* echo request and reply (RFC 792, RFC 4443 §4) */
		if ((pk->family == NET_AF4 && (l4[0] == 8 || l4[0] == 0)) ||
		    (pk->family == NET_AF6 && (l4[0] == 128 || l4[0] == 129)))
			pk->sport = net_rd16(l4 + 4);	/* echo identifier */
		return NET_PARSE_IP;
	default:
		return NET_PARSE_IP;
	}
}

static enum net_parse parse_ipv4(const uint8_t *f, size_t len,
				 struct net_pkt *pk)
{
	const uint8_t *ip = f + ETH_HLEN;
	size_t avail = len - ETH_HLEN;

	if (avail < 20 || ip[0] >> 4 != 4)
		return NET_PARSE_BAD;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	size_t tot = net_rd16(ip + 2);
	if (ihl < 20 || tot < ihl || tot > avail)
		return NET_PARSE_BAD;
	pk->family = NET_AF4;
	pk->hop_limit = ip[8];
	pk->proto = ip[9];
	addr_set(&pk->src, NET_AF4, ip + 12);
	addr_set(&pk->dst, NET_AF4, ip + 16);
	pk->l3_off = ETH_HLEN;
	pk->l3_len = tot;
	pk->l4_off = ETH_HLEN + ihl;
	pk->l4_len = tot - ihl;
	/* MF set or a fragment offset: the ports are not (all) here */
	if (net_rd16(ip + 6) & 0x3fff)
		return NET_PARSE_FRAGMENT;
	return parse_l4(f, pk);
}

static enum net_parse parse_ipv6(const uint8_t *f, size_t len,
				 struct net_pkt *pk)
{
	const uint8_t *ip = f + ETH_HLEN;
	size_t avail = len - ETH_HLEN;

	if (avail < 40 || ip[0] >> 4 != 6)
		return NET_PARSE_BAD;
	size_t plen = net_rd16(ip + 4);
	if (40 + plen > avail)
		return NET_PARSE_BAD;
	pk->family = NET_AF6;
	pk->hop_limit = ip[7];
	addr_set(&pk->src, NET_AF6, ip + 8);
	addr_set(&pk->dst, NET_AF6, ip + 24);
	pk->l3_off = ETH_HLEN;
	pk->l3_len = 40 + plen;

	uint8_t nh = ip[6];
	size_t off = ETH_HLEN + 40, end = ETH_HLEN + 40 + plen;
	/* payload length 0 with hop-by-hop is a jumbogram (RFC 2675) */
	if (plen == 0 && nh == 0) {
		pk->proto = nh;
		return NET_PARSE_EXTHDR;
	}
	for (int i = 0;; i++) {
		if (i == V6_EXT_MAX)
			return NET_PARSE_EXTHDR;
		if (nh == 44) {
			pk->proto = nh;
			return NET_PARSE_FRAGMENT;
		}
		/* hop-by-hop must come first (RFC 8200 §4.1) */
		if (!(nh == 60 || (nh == 0 && i == 0)))
			break;
		if (end - off < 8)
			return NET_PARSE_BAD;
		size_t hl = ((size_t)f[off + 1] + 1) * 8;
		if (hl > end - off)
			return NET_PARSE_BAD;
		nh = f[off];
		off += hl;
	}
	pk->proto = nh;
	if (nh == 0 || nh == 43 || nh == 50 || nh == 51 || nh == 59)
		return NET_PARSE_EXTHDR;
	pk->l4_off = off;
	pk->l4_len = end - off;
	return parse_l4(f, pk);
}

enum net_parse net_frame_parse(const uint8_t *frame, size_t len,
			       struct net_pkt *pk)
{
	*pk = (struct net_pkt){ 0 };
	if (!frame || len < ETH_HLEN)
		return NET_PARSE_BAD;
	pk->ethertype = net_rd16(frame + 12);
	switch (pk->ethertype) {
	case ETH_P_IP:
		return parse_ipv4(frame, len, pk);
	case ETH_P_IPV6:
		return parse_ipv6(frame, len, pk);
	case ETH_P_ARP:
		/* Ethernet/IPv4 ARP only (RFC 826): htype 1, ptype 0x800,
		 * hlen 6, plen 4; anything else slirp would ignore */
		if (len < ETH_HLEN + 28 || net_rd16(frame + 14) != 1 ||
		    net_rd16(frame + 16) != ETH_P_IP || frame[18] != 6 ||
		    frame[19] != 4)
			return NET_PARSE_BAD;
		return NET_PARSE_ARP;
	default:
		return NET_PARSE_OTHER;
	}
}

/* --- checksums (RFC 1071) ------------------------------------------ */

static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') over the 16-bit words that
 * changed (old -> new, n even), so a rewrite costs O(changed bytes). */
static uint16_t csum_adjust(uint16_t hc, const uint8_t *old,
			    const uint8_t *new, size_t n)
{
	uint64_t s = (uint16_t)~hc;
	for (size_t i = 0; i < n; i += 2) {
		s += (uint16_t)~net_rd16(old + i);
		s += net_rd16(new + i);
	}
	return csum_fold(s);
}

void net_frame_nat4(uint8_t *frame, const struct net_pkt *pk, bool dst,
		    const uint8_t addr[4], uint16_t port)
{
	uint8_t *ip = frame + pk->l3_off, *l4 = frame + pk->l4_off;
	uint8_t *a = ip + (dst ? 16 : 12), *pt = l4 + (dst ? 2 : 0);
	uint8_t olda[4], oldp[2], newp[2];
	size_t at = pk->proto == IPPROTO_TCP_ ? 16 : 6;

	memcpy(olda, a, 4);
	memcpy(oldp, pt, 2);
	net_wr16(newp, port);
	memcpy(a, addr, 4);
	memcpy(pt, newp, 2);
	net_wr16(ip + 10, csum_adjust(net_rd16(ip + 10), olda, addr, 4));
	uint16_t c = net_rd16(l4 + at);
	if (pk->proto == IPPROTO_UDP_ && c == 0)
		return;		/* no UDP checksum was sent: none to fix */
	/* the pseudo-header holds the address, the header the port */
	c = csum_adjust(c, olda, addr, 4);
	c = csum_adjust(c, oldp, newp, 2);
	if (pk->proto == IPPROTO_UDP_ && c == 0)
		c = 0xffff;
	net_wr16(l4 + at, c);
}

/* TCP/UDP/ICMPv6 checksum over the pseudo-header (RFC 793 §3.1,
 * RFC 8200 §8.1) and the L4 bytes, stored at l4 + at. */
static void l4_csum(const struct net_addr *src, const struct net_addr *dst,
		    uint8_t proto, uint8_t *l4, size_t n, size_t at)
{
	size_t alen = src->family == NET_AF4 ? 4 : 16;
	uint64_t s = 0;

	net_wr16(l4 + at, 0);
	s = csum_add(s, src->b, alen);
	s = csum_add(s, dst->b, alen);
	s += proto;
	s += (uint32_t)n;	/* v6 uses 32 bits: same sum for n < 64 KiB */
	s = csum_add(s, l4, n);
	uint16_t c = csum_fold(s);
	/* UDP sends a computed 0 as 0xffff (0 means "none", RFC 768) */
	if (proto == IPPROTO_UDP_ && c == 0)
		c = 0xffff;
	net_wr16(l4 + at, c);
}

/* Ethernet + IP header for a frame to the guest; returns the L4 offset. */
static size_t put_headers(uint8_t *o, const uint8_t dst_mac[6],
			  const uint8_t src_mac[6],
			  const struct net_addr *src,
			  const struct net_addr *dst, uint8_t proto,
			  size_t l4len)
{
	uint8_t *ip = o + ETH_HLEN;

	memmove(o, dst_mac, 6);
	memmove(o + 6, src_mac, 6);
	if (src->family == NET_AF4) {
		net_wr16(o + 12, ETH_P_IP);
		memset(ip, 0, 20);
		ip[0] = 0x45;
		net_wr16(ip + 2, (uint16_t)(20 + l4len));
		/* DF, ID 0: an atomic datagram (RFC 6864 §4.1) */
		net_wr16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, src->b, 4);
		memcpy(ip + 16, dst->b, 4);
		net_wr16(ip + 10, csum_fold(csum_add(0, ip, 20)));
		return ETH_HLEN + 20;
	}
	net_wr16(o + 12, ETH_P_IPV6);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	net_wr16(ip + 4, (uint16_t)l4len);
	ip[6] = proto;
	ip[7] = 64;
	memcpy(ip + 8, src->b, 16);
	memcpy(ip + 24, dst->b, 16);
	return ETH_HLEN + 40;
}

/* Headers answering the guest's frame f: to its MAC, from the MAC it
 * sent to, from the address it tried to reach. */
static size_t put_reply_headers(uint8_t *o, const uint8_t *f,
				const struct net_pkt *pk, uint8_t proto,
				size_t l4len)
{
	uint8_t dmac[6], smac[6];

	memcpy(dmac, f + 6, 6);
	memcpy(smac, f, 6);
	return put_headers(o, dmac, smac, &pk->dst, &pk->src, proto, l4len);
}

static size_t ip_hlen(uint8_t family)
{
	return family == NET_AF4 ? 20 : 40;
}

void net_frame_reply_route(const uint8_t *frame, const struct net_pkt *pk,
			   struct net_udp_route *rt)
{
	*rt = (struct net_udp_route){
		.src = pk->dst, .dst = pk->src,
		.sport = pk->dport, .dport = pk->sport,
	};
	memcpy(rt->dst_mac, frame + 6, 6);
	memcpy(rt->src_mac, frame, 6);
}

size_t net_frame_udp(const struct net_udp_route *rt, const uint8_t *data,
		     size_t dlen, uint8_t *out, size_t cap)
{
	if (rt->src.family != rt->dst.family ||
	    (rt->src.family != NET_AF4 && rt->src.family != NET_AF6))
		return 0;
	size_t hl = ETH_HLEN + ip_hlen(rt->src.family);
	if (dlen > 65535 - 8 - 40 || cap < hl + 8 || dlen > cap - hl - 8)
		return 0;
	/* the data first: it may overlap out (built in place) */
	memmove(out + hl + 8, data, dlen);
	size_t at = put_headers(out, rt->dst_mac, rt->src_mac, &rt->src,
				&rt->dst, IPPROTO_UDP_, 8 + dlen);
	uint8_t *u = out + at;
	net_wr16(u, rt->sport);
	net_wr16(u + 2, rt->dport);
	net_wr16(u + 4, (uint16_t)(8 + dlen));
	l4_csum(&rt->src, &rt->dst, IPPROTO_UDP_, u, 8 + dlen, 6);
	return at + 8 + dlen;
}

static bool addr_multicast(const struct net_addr *a)
{
	if (a->family == NET_AF4)
		return a->b[0] >= 224;	/* 224/4 multicast, 240/4 + bcast */
	return a->b[0] == 0xff;
}

static bool addr_unspecified(const struct net_addr *a)
{
	static const uint8_t zero[16];
	return !memcmp(a->b, zero, sizeof(zero));
}

/* Does this denied packet deserve a refusal? Never for errors about
 * errors, resets, or anything not unicast (RFC 1122 §3.2.2, RFC 4443
 * §2.4(e)). */
static bool refusable(const uint8_t *f, const struct net_pkt *pk)
{
	if ((f[0] & 1) || addr_multicast(&pk->dst) ||
	    addr_multicast(&pk->src) || addr_unspecified(&pk->src))
		return false;
	if (pk->proto == IPPROTO_TCP_)
		return !(pk->tcp_flags & TH_RST);
	if (pk->proto == IPPROTO_ICMP_ && pk->family == NET_AF4)
		/* queries only: echo, timestamp, info, address mask */
		return pk->icmp_type == 8 || pk->icmp_type == 13 ||
		       pk->icmp_type == 15 || pk->icmp_type == 17;
	if (pk->proto == IPPROTO_ICMP6_ && pk->family == NET_AF6)
		/* informational (>= 128), but not NDP/MLD link plumbing */
		return pk->icmp_type >= 128 &&
		       !(pk->icmp_type >= 130 && pk->icmp_type <= 137) &&
		       pk->icmp_type != 143;
	return true;
}

static size_t build_rst(const uint8_t *f, const struct net_pkt *pk,
			uint8_t *out, size_t cap)
{
	if (cap < ETH_HLEN + ip_hlen(pk->family) + 20)
		return 0;
	size_t at = put_reply_headers(out, f, pk, IPPROTO_TCP_, 20);
	uint8_t *t = out + at;
	memset(t, 0, 20);
	net_wr16(t, pk->dport);
	net_wr16(t + 2, pk->sport);
	/* RFC 793 p.36: if the segment has an ACK, <SEQ=SEG.ACK><CTL=RST>;
	 * else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN each
	 * counting one */
	if (pk->tcp_flags & TH_ACK) {
		wr32(t + 4, pk->tcp_ack);
		t[13] = TH_RST;
	} else {
		uint32_t seglen = (uint32_t)pk->data_len +
				  !!(pk->tcp_flags & TH_SYN) +
				  !!(pk->tcp_flags & TH_FIN);
		wr32(t + 8, pk->tcp_seq + seglen);
		t[13] = TH_RST | TH_ACK;
	}
	t[12] = 5 << 4;
	l4_csum(&pk->dst, &pk->src, IPPROTO_TCP_, t, 20, 16);
	return at + 20;
}

static size_t build_unreach(const uint8_t *f, const struct net_pkt *pk,
			    uint8_t *out, size_t cap)
{
	bool v4 = pk->family == NET_AF4;
	size_t quote = pk->l3_len;
	size_t qmax = v4 ? ICMP4_QUOTE_MAX : ICMP6_QUOTE_MAX;
	if (quote > qmax)
		quote = qmax;
	size_t need = ETH_HLEN + ip_hlen(pk->family) + 8 + quote;
	if (cap < need)
		return 0;
	/* From the address the guest tried to reach: its stack matches the
	 * quoted header to the socket and fails it at once (Linux maps
	 * "administratively prohibited" to EHOSTUNREACH/EACCES). */
	uint8_t proto = v4 ? IPPROTO_ICMP_ : IPPROTO_ICMP6_;
	size_t at = put_reply_headers(out, f, pk, proto, 8 + quote);
	uint8_t *m = out + at;
	memset(m, 0, 8);
	m[0] = v4 ? 3 : 1;	/* destination unreachable */
	m[1] = v4 ? 13 : 1;	/* communication administratively prohibited */
	memcpy(m + 8, f + pk->l3_off, quote);
	if (v4)
		net_wr16(m + 2, csum_fold(csum_add(0, m, 8 + quote)));
	else
		l4_csum(&pk->dst, &pk->src, proto, m, 8 + quote, 2);
	return need;
}

size_t net_build_refusal(const uint8_t *frame, size_t len, uint8_t *out,
			 size_t cap)
{
	struct net_pkt pk;
	enum net_parse k = net_frame_parse(frame, len, &pk);

	if (!out)
		return 0;
	/* fragments: the quote would lack the ports, and non-first ones
	 * must not be answered; the caller logs the drop instead */
	if (k == NET_PARSE_EXTHDR && pk.family == NET_AF6) {
		pk.proto = 0;	/* unknown payload: ICMPv6 error */
		if (!refusable(frame, &pk))
			return 0;
		return build_unreach(frame, &pk, out, cap);
	}
	if (k != NET_PARSE_IP || !refusable(frame, &pk))
		return 0;
	if (pk.proto == IPPROTO_TCP_)
		return build_rst(frame, &pk, out, cap);
	return build_unreach(frame, &pk, out, cap);
}

/* --- addresses: reserved ranges, text ------------------------------ */

/* Reserved ranges; dns_ok: a DNS answer may point there (private
 * networks a named host can live in). The others (loopback, link-local,
 * multicast, slirp's own networks, v4-mapped) only an address rule or
 * the hosts map can reach: DNS rebinding must not get the guest there. */
static const struct resv {
	uint8_t family, prefix, dns_ok;
	uint8_t b[16];
} reserved[] = {
	{ NET_AF4, 8, 0, { 0 } },		/* "this network" */
	{ NET_AF4, 8, 1, { 10 } },		/* RFC 1918 */
	{ NET_AF4, 24, 0, { 10, 0, 2 } },	/* slirp: .2 is host lo */
	{ NET_AF4, 10, 1, { 100, 64 } },	/* CGNAT, RFC 6598 */
	{ NET_AF4, 8, 0, { 127 } },		/* loopback */
	{ NET_AF4, 16, 0, { 169, 254 } },	/* link-local, metadata */
	{ NET_AF4, 12, 1, { 172, 16 } },	/* RFC 1918 */
	{ NET_AF4, 16, 1, { 192, 168 } },	/* RFC 1918 */
	{ NET_AF4, 4, 0, { 224 } },		/* multicast */
	{ NET_AF4, 4, 0, { 240 } },		/* reserved, broadcast */
	{ NET_AF6, 96, 0, { 0 } },		/* ::, ::1, v4-compatible */
	{ NET_AF6, 96, 0, { [10] = 0xff, [11] = 0xff } }, /* v4-mapped */
	{ NET_AF6, 96, 1, { 0, 0x64, 0xff, 0x9b } },	/* NAT64 */
	{ NET_AF6, 48, 1, { 0, 0x64, 0xff, 0x9b, 0, 1 } },
	{ NET_AF6, 7, 1, { 0xfc } },		/* ULA */
	{ NET_AF6, 10, 0, { 0xfe, 0x80 } },	/* link-local */
	{ NET_AF6, 10, 0, { 0xfe, 0xc0 } },	/* site-local: slirp's v6 */
	{ NET_AF6, 8, 0, { 0xff } },		/* multicast */
};

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;
	if (memcmp(a, net, full))
		return false;
	if (!rest)
		return true;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (a[full] & m) == (net[full] & m);
}

int net_addr_reserved(const struct net_addr *a, bool *dns_ok)
{
	int best = -1;
	uint8_t b0 = a->b[0];

	/* fast path: the first byte rules most public addresses out */
	if (a->family == NET_AF4 ? !(b0 == 0 || b0 == 10 || b0 == 100 ||
				     b0 == 127 || b0 == 169 || b0 == 172 ||
				     b0 == 192 || b0 >= 224)
				 : !(b0 == 0 || b0 >= 0xfc))
		return -1;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		const struct resv *r = &reserved[i];
		if (r->family == a->family && r->prefix > best &&
		    prefix_match(a->b, r->b, r->prefix)) {
			best = r->prefix;
			if (dns_ok)
				*dns_ok = r->dns_ok;
		}
	}
	return best;
}


/* Strict dotted quad: four decimal parts 0-255, no leading zeros (inet_aton
 * would read "010" as octal 8, a classic allow-list confusion). */
static int parse_v4(const char *s, uint8_t out[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned v = 0, nd = 0;
		if (i && *s++ != '.')
			return -EINVAL;
		if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9' && nd < 4; s++, nd++)
			v = v * 10 + (unsigned)(*s - '0');
		if (nd == 0 || nd > 3 || v > 255)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return *s ? -EINVAL : 0;
}

int net_addr_parse(const char *s, struct net_addr *a)
{
	*a = (struct net_addr){ 0 };
	if (strchr(s, ':')) {
		if (strchr(s, '%') || inet_pton(AF_INET6, s, a->b) != 1)
			return -EINVAL;
		a->family = NET_AF6;
		return 0;
	}
	if (parse_v4(s, a->b))
		return -EINVAL;
	a->family = NET_AF4;
	return 0;
}

void net_addr_format(const struct net_addr *a, char *buf, size_t len)
{
	if (!len)
		return;
	if (!a->family ||
	    !inet_ntop(a->family == NET_AF4 ? AF_INET : AF_INET6, a->b, buf,
		       (socklen_t)len))
		snprintf(buf, len, "-");
}
