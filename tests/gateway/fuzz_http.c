/* fuzz_http.c: libFuzzer target for the gateway's HTTP parsing
 * (host/http/http.c) — what any process in the guest can send to the
 * relay, and what an upstream sends back. Input byte 0 picks the parser;
 * the rest is the message. Invariants beyond "no crash": a parsed head
 * has a method/target/version or a status in range, header counts stay
 * bounded, and chunked decoding never yields more bytes than it was fed.
 * The gateway's request policy too: a target the surface check lets
 * through is a POST to an allowed path with no dot or empty segment, no
 * percent-encoding and nothing but visible ASCII; the body scan never
 * reads past its input; the key scanner releases exactly the input when
 * the key is absent, and none of the key when it is present, however
 * the stream is cut into pieces.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static size_t fed_out;

static void count(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	(void)p;
	fed_out += n;
}

static void surface_ok(const struct http_head *h)
{
	const char *t = h->target;
	size_t pl = strcspn(t, "?");
	if (strcmp(h->method, "POST") || strstr(t, "//") || strchr(t, '%') ||
	    strstr(t, "/./") || strstr(t, "/../") ||
	    !((pl == 12 && !strncmp(t, "/v1/messages", 12)) ||
	      (pl == 25 && !strncmp(t, "/v1/messages/count_tokens", 25))))
		abort();
	for (const char *c = t; *c; c++)
		if ((unsigned char)*c <= 32 || (unsigned char)*c >= 127)
			abort();
}

struct outbuf {
	char *p;
	size_t n;
};

static int collect(void *ctx, const char *p, size_t n)
{
	struct outbuf *o = ctx;
	memcpy(o->p + o->n, p, n);
	o->n += n;
	return 0;
}

/* The key is made of the input's own first bytes sometimes, so matches
 * and near-matches (repeated prefixes) are common. */
static void keyscan_check(const char *p, size_t n, unsigned piece)
{
	static const char fixed[] = "sk-ant-aaaab-aaaab-aaaac";
	char key[40];
	size_t kl = n > 40 && (p[0] & 1) ? 12 + (unsigned char)p[1] % 20
					   : sizeof(fixed) - 1;
	if (kl == sizeof(fixed) - 1)
		memcpy(key, fixed, kl);
	else
		memcpy(key, p + 2, kl);
	key[kl] = '\0';
	kl = strlen(key);	/* the input may hold a NUL */
	if (kl < KEYSCAN_MIN)
		return;
	static struct keypat kp;
	struct keyscan k;
	struct outbuf o = { malloc(n + 1), 0 };
	if (!o.p)
		return;
	keypat_init(&kp, key);
	keyscan_start(&k, &kp);
	piece = piece % 13 + 1;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i += piece)
		r = keyscan_feed(&k, p + i, n - i < piece ? n - i : piece,
				 collect, &o);
	if (r == 0)
		r = keyscan_flush(&k, collect, &o);
	bool present = memmem(p, n, key, kl) != NULL;
	if (present != (r == -1) || memmem(o.p, o.n, key, kl) ||
	    (!present && (o.n != n || memcmp(o.p, p, n))))
		abort();
	free(o.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	uint8_t mode = data[0] % 8;
	char *p = malloc(size);
	if (!p)
		return 0;
	memcpy(p, data + 1, size - 1);
	size_t n = size - 1;
	struct http_head h;

	switch (mode) {
	case 0: {
		size_t hl = http_head_len(p, n);
		if (hl && http_parse_request(p, hl, &h) == 0) {
			if (!h.method || !h.target || h.target[0] != '/' ||
			    h.nhdr > HTTP_MAX_HEADERS)
				abort();
			(void)http_header(&h, "x-api-key");
			if (!gw_surface_check("claude", h.method, h.target))
				surface_ok(&h);
		}
		break;
	}
	case 1: {
		size_t hl = http_head_len(p, n);
		if (hl && http_parse_response(p, hl, &h) == 0 &&
		    (h.status < 100 || h.status > 599 ||
		     h.nhdr > HTTP_MAX_HEADERS))
			abort();
		break;
	}
	case 2: {
		struct chunked c = { 0 };
		fed_out = 0;
		/* In pieces of 7 bytes: the decoder is resumable. */
		for (size_t o = 0; o < n; o += 7)
			if (chunked_feed(&c, p + o, n - o < 7 ? n - o : 7, count,
					 NULL) != 0)
				break;
		if (fed_out > n)
			abort();
		break;
	}
	case 4: {
		struct gw_req_info ri;
		if (gw_body_info(p, n, &ri) == 0 &&
		    strnlen(ri.model, sizeof(ri.model)) == sizeof(ri.model))
			abort();
		break;
	}
	case 5:
		keyscan_check(p, n, data[0] >> 3);
		break;
	default: {
		static char line[USAGE_LINE_MAX];
		struct usage_scan u = { .sse = data[0] & 4, .line = line };
		usage_feed(&u, p, n);
		usage_finish(&u);
		break;
	}
	}
	free(p);
	return 0;
}
