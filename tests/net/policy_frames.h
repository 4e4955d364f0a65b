/* policy_frames.h: shared by the policy unit tests (test_policy.c,
 * test_policy_nat.c): the CHECK counter, frame builders for IPv4/IPv6
 * TCP/UDP/ICMP with an independent RFC 1071 checksum (so every frame the
 * library builds is checked against code it does not share), a DNS query
 * builder and small policy helpers. Test-only; every helper is static
 * inline so each file takes what it uses. */
#ifndef VOIDBOX_TESTS_POLICY_FRAMES_H
#define VOIDBOX_TESTS_POLICY_FRAMES_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/net/net.h"

extern int t_pass, t_fail;	/* defined in test_policy.c */
#define CHECK(name, cond) do { \
	if (cond) { t_pass++; printf("PASS: %s\n", name); } \
	else { t_fail++; printf("FAIL: %s (%s:%d: %s)\n", name, __FILE__, \
			      __LINE__, #cond); } } while (0)

#define TCP 6
#define UDP 17
#define ICMP 1
#define ICMP6 58
#define SYN 0x02
#define RST 0x04
#define ACK 0x10

static const uint8_t GUEST_MAC[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
static const uint8_t SLIRP_MAC[6] = { 0x52, 0x55, 10, 0, 2, 2 };

/* --- an independent RFC 1071 sum: 32-bit words, folded once at the end */
static inline uint32_t sum32(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		s += ((uint32_t)p[i] << 8 | p[i + 1]) +
		     ((uint32_t)p[i + 2] << 8 | p[i + 3]);
	for (; i + 2 <= n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		s += (uint32_t)p[i] << 8;
	return s;
}

static inline uint16_t fold(uint32_t s)
{
	s = (s >> 16) + (s & 0xffff);
	s += s >> 16;
	return (uint16_t)~s;
}

static inline uint32_t
pseudo(int v6, const uint8_t *ip, uint8_t proto, size_t n)
{
	return v6 ? sum32(0, ip + 8, 32) + proto + (uint32_t)n
		  : sum32(0, ip + 12, 8) + proto + (uint32_t)n;
}

/* Is every checksum in this frame right, and are the lengths sane? */
static inline int frame_ok(const uint8_t *f, size_t len)
{
	if (len < 14)
		return 0;
	int v6 = f[12] == 0x86 && f[13] == 0xdd;
	const uint8_t *ip = f + 14;
	size_t hl = v6 ? 40 : (size_t)(ip[0] & 15) * 4;
	size_t tot = v6 ? 40 + (size_t)(ip[4] << 8 | ip[5])
			: (size_t)(ip[2] << 8 | ip[3]);
	if (tot != len - 14 || (!v6 && fold(sum32(0, ip, hl)) != 0))
		return 0;
	uint8_t proto = v6 ? ip[6] : ip[9];
	const uint8_t *l4 = ip + hl;
	size_t n = tot - hl;
	if (proto == ICMP)
		return fold(sum32(0, l4, n)) == 0;
	if (proto == UDP && (size_t)(l4[4] << 8 | l4[5]) != n)
		return 0;
	return fold(pseudo(v6, ip, proto, n) + sum32(0, l4, n)) == 0;
}

/* --- frame builders ---------------------------------------------------- */

static inline int is6(const char *a)
{
	return strchr(a, ':') != NULL;
}

/* Eth + IP(src,dst,proto) + l4 bytes; fills the L4 checksum. */
static inline size_t
mk(uint8_t *f, const char *src, const char *dst, uint8_t proto,
		 const uint8_t *l4, size_t n)
{
	int v6 = is6(dst);
	uint8_t *ip = f + 14;
	size_t hl = v6 ? 40 : 20;

	memcpy(f, SLIRP_MAC, 6);
	memcpy(f + 6, GUEST_MAC, 6);
	f[12] = v6 ? 0x86 : 0x08;
	f[13] = v6 ? 0xdd : 0x00;
	memset(ip, 0, hl);
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)(n >> 8);
		ip[5] = (uint8_t)n;
		ip[6] = proto;
		ip[7] = proto == ICMP6 && l4[0] >= 133 ? 255 : 64;
		inet_pton(AF_INET6, src, ip + 8);
		inet_pton(AF_INET6, dst, ip + 24);
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + n) >> 8);
		ip[3] = (uint8_t)(20 + n);
		ip[8] = 64;
		ip[9] = proto;
		inet_pton(AF_INET, src, ip + 12);
		inet_pton(AF_INET, dst, ip + 16);
		uint16_t c = fold(sum32(0, ip, 20));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	memcpy(ip + hl, l4, n);
	uint8_t *t = ip + hl;
	size_t at = proto == TCP ? 16 : proto == UDP ? 6 : 2;
	t[at] = t[at + 1] = 0;
	uint16_t c = proto == ICMP ? fold(sum32(0, t, n))
				   : fold(pseudo(v6, ip, proto, n) +
					  sum32(0, t, n));
	t[at] = (uint8_t)(c >> 8);
	t[at + 1] = (uint8_t)c;
	return 14 + hl + n;
}

static inline size_t
tcp(uint8_t *f, const char *src, uint16_t sp, const char *dst,
		  uint16_t dp, uint8_t flags, uint32_t seq, uint32_t ack)
{
	uint8_t t[20] = { sp >> 8, sp & 255, dp >> 8, dp & 255,
			  seq >> 24, seq >> 16, seq >> 8, seq,
			  ack >> 24, ack >> 16, ack >> 8, ack,
			  5 << 4, flags, 0xff, 0xff };
	return mk(f, src, dst, TCP, t, sizeof(t));
}

static inline size_t
udp(uint8_t *f, const char *src, uint16_t sp, const char *dst,
		  uint16_t dp, const uint8_t *data, size_t n)
{
	uint8_t u[1500] = { sp >> 8, sp & 255, dp >> 8, dp & 255,
			   (uint8_t)((8 + n) >> 8), (uint8_t)(8 + n) };
	memcpy(u + 8, data, n);
	return mk(f, src, dst, UDP, u, 8 + n);
}

static inline size_t ping(uint8_t *f, const char *src, const char *dst)
{
	uint8_t m[16] = { is6(dst) ? 128 : 8, 0, 0, 0, 0x12, 0x34, 0, 1 };
	return mk(f, src, dst, is6(dst) ? ICMP6 : ICMP, m, sizeof(m));
}

/* A DNS query for `name` (dotted, case kept) into q; returns its length. */
static inline size_t
dnsq(uint8_t *q, uint16_t id, const char *name, uint16_t type)
{
	size_t at = 12;
	memset(q, 0, 12);
	q[0] = id >> 8;
	q[1] = id & 255;
	q[2] = 0x01;	/* RD */
	q[5] = 1;
	while (*name) {
		size_t l = strcspn(name, ".");
		q[at++] = (uint8_t)l;
		memcpy(q + at, name, l);
		at += l;
		name += l + (name[l] == '.');
	}
	q[at++] = 0;
	q[at++] = type >> 8;
	q[at++] = type & 255;
	q[at++] = 0;
	q[at++] = 1;
	return at;
}

static const char *const G4 = "10.0.2.15", *const G6 =
	"fec0::5054:ff:fe12:3456";

static inline enum net_action
chk(struct net_policy *p, const uint8_t *f, size_t n,
			   uint64_t now, struct net_verdict *v)
{
	return net_policy_check(p, f, n, now, v);
}

/* Verdict of a TCP SYN from the guest to dst:port. */
static inline enum net_action syn(struct net_policy *p, const char *dst,
			   uint16_t port, uint64_t now, struct net_verdict *v)
{
	static uint16_t sport = 40000;
	uint8_t f[256];
	size_t n = tcp(f, is6(dst) ? G6 : G4, sport++, dst, port, SYN, 1000,
		       0);
	return chk(p, f, n, now, v);
}

static inline struct net_policy *
mkpol(enum net_mode m, const char *const *rules)
{
	struct net_policy *p = net_policy_new(m);
	char err[NET_ERR_MAX];
	/* the table models open thousands of flows at once: no caps */
	net_policy_set_limits(p, 0, 0);
	for (; rules && *rules; rules++)
		if (net_policy_add_rule(p, *rules, err, sizeof(err)))
			printf("FAIL: rule %s: %s\n", *rules, err);
	return p;
}

#endif
