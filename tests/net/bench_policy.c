/* bench_policy.c: the egress filter's cost per packet (issue 4 target:
 * <= 200 ns) on a realistic table: 50 rules (20 address, 20 host, 10
 * wildcard), 500 addresses admitted through the DNS path, 256 live flows.
 * Built -O2 without sanitizers; prints ns/packet, best of 5 runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../host/net/net.h"

#define RUNS  5
#define ITERS 2000000u
#define FLOWS 256

static size_t tcp4(uint8_t *f, uint32_t dst, uint16_t sport, uint16_t dport,
		   uint8_t flags)
{
	memset(f, 0, 54);
	f[12] = 0x08;
	f[14] = 0x45;
	f[17] = 40;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, (uint8_t[]){ 10, 0, 2, 15 }, 4);
	f[30] = (uint8_t)(dst >> 24);
	f[31] = (uint8_t)(dst >> 16);
	f[32] = (uint8_t)(dst >> 8);
	f[33] = (uint8_t)dst;
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[36] = (uint8_t)(dport >> 8);
	f[37] = (uint8_t)dport;
	f[46] = 5 << 4;
	f[47] = flags;
	return 54;
}

/* UDP to 10.0.2.3:53 carrying an A query for name. */
static size_t dns4(uint8_t *f, const char *name, uint16_t id)
{
	uint8_t *m = f + 42;
	size_t at = 12;

	memset(f, 0, 42 + 12);
	f[12] = 0x08;
	f[14] = 0x45;
	f[23] = 17;
	memcpy(f + 26, (uint8_t[]){ 10, 0, 2, 15, 10, 0, 2, 3 }, 8);
	f[34] = 0x9c;
	f[37] = 53;
	m[0] = (uint8_t)(id >> 8);
	m[1] = (uint8_t)id;
	m[2] = 1;
	m[5] = 1;
	while (*name) {
		size_t l = strcspn(name, ".");
		m[at++] = (uint8_t)l;
		memcpy(m + at, name, l);
		at += l;
		name += l + (name[l] == '.');
	}
	memcpy(m + at, "\0\0\1\0\1", 5);
	at += 5;
	size_t ulen = 8 + at, tot = 20 + ulen;
	f[16] = (uint8_t)(tot >> 8);
	f[17] = (uint8_t)tot;
	f[38] = (uint8_t)(ulen >> 8);
	f[39] = (uint8_t)ulen;
	return 14 + tot;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile unsigned sink;

/* Best-of-RUNS ns per net_policy_check over the frames, cycled. */
static double bench(struct net_policy *p, uint8_t (*fr)[128], size_t *len,
		    unsigned n, enum net_action want)
{
	double best = 1e18;
	struct net_verdict v;

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();
		for (unsigned i = 0; i < ITERS; i++) {
			unsigned k = i % n;
			sink += net_policy_check(p, fr[k], len[k], 1000, &v);
		}
		double dt = (now_ns() - t0) / ITERS;
		best = dt < best ? dt : best;
	}
	if (net_policy_check(p, fr[0], len[0], 1000, &v) != want) {
		fprintf(stderr, "bench-net: unexpected verdict %d (%s)\n",
			v.action, net_reason_str(v.reason));
		exit(1);
	}
	return best;
}

int main(void)
{
	static uint8_t fr[FLOWS][128];
	static size_t len[FLOWS];
	uint32_t admitted[500];
	char err[NET_ERR_MAX], t[64];
	struct net_policy *p = net_policy_new(NET_ALLOW);
	struct net_verdict v;

	/* 20 address rules, 20 host names, 10 wildcards */
	for (int i = 0; i < 15; i++) {
		snprintf(t, sizeof(t), "198.51.%d.0/24:443,8443", i);
		net_policy_add_rule(p, t, err, sizeof(err));
	}
	for (int i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "[2001:db8:%x::/48]:443", i);
		net_policy_add_rule(p, t, err, sizeof(err));
	}
	for (int i = 0; i < 20; i++) {
		snprintf(t, sizeof(t), "api%d.example.com:443", i);
		net_policy_add_rule(p, t, err, sizeof(err));
	}
	for (int i = 0; i < 10; i++) {
		snprintf(t, sizeof(t), "*.svc%d.example.net", i);
		net_policy_add_rule(p, t, err, sizeof(err));
	}

	/* 500 addresses admitted the way the guest gets them: 50 names
	 * (one per host/wildcard rule... and a second name per wildcard),
	 * 10 A records each */
	unsigned na = 0;
	for (int i = 0; na < 500; i++) {
		uint8_t f[512], out[DNS_REPLY_MAX];
		struct dns_query q;
		struct net_addr a[10];
		size_t ol;
		if (i < 20)
			snprintf(t, sizeof(t), "api%d.example.com", i);
		else
			snprintf(t, sizeof(t), "h%d.svc%d.example.net", i,
				 i % 10);
		size_t n = dns4(f, t, (uint16_t)i);
		if (net_policy_check(p, f, n, 0, &v) != NET_ACT_DNS ||
		    dns_query(p, f, n, 0, &q, out, sizeof(out), &ol) !=
			    DNS_RESOLVE) {
			fprintf(stderr, "bench-net: %s not resolvable\n", t);
			return 1;
		}
		for (int k = 0; k < 10; k++, na++) {
			admitted[na] = 0x17000000u + na * 7919u;
			a[k] = (struct net_addr){ .family = NET_AF4 };
			a[k].b[0] = (uint8_t)(admitted[na] >> 24);
			a[k].b[1] = (uint8_t)(admitted[na] >> 16);
			a[k].b[2] = (uint8_t)(admitted[na] >> 8);
			a[k].b[3] = (uint8_t)admitted[na];
		}
		dns_build_answer(p, &q, a, 10, 3600, 0, out, sizeof(out));
	}

	/* 256 established flows to admitted addresses: SYN, then ACKs */
	for (unsigned i = 0; i < FLOWS; i++) {
		uint32_t dst = admitted[(i * 37) % 500];
		len[i] = tcp4(fr[i], dst, (uint16_t)(30000 + i), 443, 0x02);
		if (net_policy_check(p, fr[i], len[i], 0, &v) !=
		    NET_ACT_ALLOW) {
			fprintf(stderr, "bench-net: flow %u denied (%s)\n", i,
				net_reason_str(v.reason));
			return 1;
		}
	}
	struct net_stats st;
	net_policy_stats(p, &st);
	printf("bench-net: %u rules, %u admitted, %u flows\n", st.rules,
	       st.admitted, st.flows);

	double syn_admitted = bench(p, fr, len, FLOWS, NET_ACT_ALLOW);
	for (unsigned i = 0; i < FLOWS; i++)
		fr[i][47] = 0x10;	/* ACK: established */
	double est = bench(p, fr, len, FLOWS, NET_ACT_ALLOW);
	for (unsigned i = 0; i < FLOWS; i++)	/* last address rule */
		len[i] = tcp4(fr[i], 0xc6330e00u + i % 200,
			      (uint16_t)(20000 + i), 8443, 0x02);
	double syn_cidr = bench(p, fr, len, FLOWS, NET_ACT_ALLOW);
	for (unsigned i = 0; i < FLOWS; i++)
		len[i] = tcp4(fr[i], 0x5db8d800u + i, (uint16_t)(20000 + i),
			      443, 0x02);
	double deny = bench(p, fr, len, FLOWS, NET_ACT_DENY);

	/* a DNS query: check + parse + name decision over 50 rules */
	uint8_t qf[512], out[DNS_REPLY_MAX];
	size_t qn = dns4(qf, "h7.svc7.example.net", 1), ol;
	struct dns_query q;
	double best = 1e18;
	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();
		for (unsigned i = 0; i < ITERS / 10; i++) {
			sink += net_policy_check(p, qf, qn, 1000, &v);
			sink += dns_query(p, qf, qn, 1000, &q, out, sizeof(out),
					  &ol);
		}
		double dt = (now_ns() - t0) / (ITERS / 10);
		best = dt < best ? dt : best;
	}

	printf("bench-net: established tcp flow      %7.1f ns/packet "
	       "(target <= 200)\n", est);
	printf("bench-net: syn to admitted address   %7.1f ns/packet\n",
	       syn_admitted);
	printf("bench-net: syn to last address rule  %7.1f ns/packet\n",
	       syn_cidr);
	printf("bench-net: denied syn (full scan)    %7.1f ns/packet\n", deny);
	printf("bench-net: dns query decision        %7.1f ns/query\n", best);
	net_policy_free(p);
	return est > 200.0 ? 2 : 0;
}
