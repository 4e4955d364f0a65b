/* fuzz_http.c: libFuzzer target for the gateway's HTTP parsing
 * (host/gateway/http.c) — what any process in the guest can send to the
 * relay, and what an upstream sends back. Input byte 0 picks the parser;
 * the rest is the message. Invariants beyond "no crash": a parsed head
 * has a method/target/version or a status in range, header counts stay
 * bounded, and chunked decoding never yields more bytes than it was fed.
 */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	uint8_t mode = data[0] % 4;
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
