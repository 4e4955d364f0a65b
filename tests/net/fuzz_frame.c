/* fuzz_frame.c: libFuzzer target — arbitrary guest frames through the
 * egress policy (every mode, with rules, hosts and live admissions), the
 * event formatter, the refusal builder (at every output size) and the rx
 * observer, while time moves so admissions and flows expire and tables
 * get swept. Nothing may crash or read past the frame; a refusal must be a
 * well-formed frame with valid checksums (checked here independently); an
 * empty allow-list must never allow anything. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/net/net.h"

#define NPOL 4
static struct net_policy *pol[NPOL];	/* off, internet, allow, empty allow */
static uint64_t clock_ms;

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

/* Independent check of a frame we built: lengths and checksums. */
static void check_built(const uint8_t *f, size_t n)
{
	struct net_pkt pk;
	if (net_frame_parse(f, n, &pk) != NET_PARSE_IP || pk.l3_len != n - 14)
		abort();
	const uint8_t *ip = f + 14, *l4 = f + pk.l4_off;
	size_t l4n = pk.l4_len;
	if (pk.family == NET_AF4 && fold(sum(0, ip, 20)) != 0)
		abort();
	if (pk.proto == 1) {
		if (fold(sum(0, l4, l4n)) != 0)
			abort();
		return;
	}
	uint32_t s = pk.family == NET_AF4 ? sum(0, ip + 12, 8)
					  : sum(0, ip + 8, 32);
	if (fold(s + pk.proto + (uint32_t)l4n + sum(0, l4, l4n)) != 0)
		abort();
}

static void setup(void)
{
	static const char *const rules[] = {
		"203.0.113.0/24:443", "[2001:db8::/32]:443,8000-8100",
		"198.51.100.7", "10.0.2.2:11434", "api.example.com:443",
		"*.cdn.example.net", "169.254.169.254:80", NULL };
	static const enum net_mode modes[NPOL] = { NET_OFF, NET_INTERNET,
						   NET_ALLOW, NET_ALLOW };
	char err[NET_ERR_MAX];

	for (int i = 0; i < NPOL; i++) {
		pol[i] = net_policy_new(modes[i]);
		for (int r = 0; i < 3 && rules[r]; r++)
			net_policy_add_rule(pol[i], rules[r], err, sizeof(err));
		net_policy_add_host(pol[i], "svc.internal", "10.0.2.2", err,
				    sizeof(err));
		/* admissions like a DNS answer would make */
		uint8_t bits[NET_MAX_RULES / 8] = { 0x30 };
		struct net_addr a = { .family = NET_AF4,
				      .b = { 93, 184, 216 } };
		for (int k = 0; k < 64; k++) {
			a.b[3] = (uint8_t)k;
			net_policy_admit(pol[i], bits, "api.example.com", &a,
					 3600, 0, false);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_verdict v;
	struct net_event ev;
	char line[1024];

	if (!pol[0])
		setup();
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	data++;
	size--;
	/* exact-size copy: ASan flags any read past the frame */
	uint8_t *f = malloc(size ? size : 1);
	memcpy(f, data, size);
	clock_ms += (uint64_t)(sel >> 4) * 997;

	struct net_policy *p = pol[sel % NPOL];
	enum net_action a = net_policy_check(p, f, size, clock_ms, &v);
	net_policy_event(p, &v, &ev);
	net_event_format(&ev, line, sizeof(line));
	if (net_policy_check(pol[3], f, size, clock_ms, &v) == NET_ACT_ALLOW)
		abort();

	size_t cap = (sel & 0x08) ? NET_REFUSAL_MAX : (size_t)(sel * 11) % 120;
	uint8_t *out = malloc(cap ? cap : 1);
	size_t rn = net_build_refusal(f, size, out, cap);
	if (rn > cap)
		abort();
	if (rn)
		check_built(out, rn);
	free(out);

	if (a == NET_ACT_DNS) {
		uint8_t r[DNS_REPLY_MAX];
		struct dns_query q;
		size_t ol = 0;
		if (dns_query(p, f, size, clock_ms, &q, r, sizeof(r), &ol) ==
		    DNS_REPLY)
			check_built(r, ol);
	}
	net_policy_observe_rx(p, f, size, clock_ms);
	if (sel == 0xff)
		net_policy_expire(p, clock_ms);
	free(f);
	return 0;
}
