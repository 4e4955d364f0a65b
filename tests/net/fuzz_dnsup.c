/* fuzz_dnsup.c: libFuzzer target — the host resolver's reply as the VMM
 * parses it (dns_upstream_parse). The input is the whole reply; it is
 * checked against two fixed queries, A and AAAA for api.example.com with
 * id 0x1234 (the seeds in tests/fuzz/corpus/dnsup/ carry both), into a
 * small address array so the "more records than slots" path runs too.
 * Whatever the bytes, the outputs must stay within their bounds, and a
 * failed parse must report no addresses. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/net/net.h"

#define FUZZ_ID 0x1234
#define SLOTS	3

static void one(const uint8_t *data, size_t size, uint16_t qtype)
{
	struct dns_query q = { .qtype = qtype, .qclass = 1,
			       .name = "api.example.com" };
	struct net_addr a[SLOTS + 1];
	uint8_t fam = qtype == DNS_TYPE_A ? NET_AF4 : NET_AF6;
	size_t n = 99;
	uint32_t ttl = 99;
	int rcode = 99;

	memset(a, 0xa5, sizeof(a));
	int rc = dns_upstream_parse(data, size, &q, FUZZ_ID, a, SLOTS, &n,
				    &ttl, &rcode);
	if (rc != 0 && rc != -EINVAL && rc != -EMSGSIZE)
		abort();
	if (rc != 0) {
		if (n != 0)
			abort();
		return;
	}
	if (n > SLOTS || rcode < 0 || rcode > 15 || ttl > 0x7fffffff ||
	    (n == 0 && ttl != 0) || (rcode != 0 && n != 0))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (a[i].family != fam)
			abort();
		if (fam == NET_AF4)
			for (int j = 4; j < 16; j++)
				if (a[i].b[j])
					abort();
	}
	if (a[SLOTS].family != 0xa5)	/* never past max */
		abort();
	/* and the query for that question still builds */
	uint8_t qb[DNS_UPSTREAM_QUERY_MAX];
	if (dns_upstream_query(&q, FUZZ_ID, qb, sizeof(qb)) != 12 + 17 + 4)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	one(data, size, DNS_TYPE_A);
	one(data, size, DNS_TYPE_AAAA);
	return 0;
}
