/* fuzz_stream.c: libFuzzer target — the claude stream-json parser fed
 * arbitrary bytes, once whole and once in chunks chosen by the input's
 * first byte. Nothing may crash or leak; both feeds must agree; event
 * strings meant for display must be short, single-line and control-free;
 * the result must print as valid JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../host/run/run.h"

struct sink {
	uint64_t hash;
	unsigned n;
};

static bool display_ok(const char *s, size_t max)
{
	if (!s)
		return true;
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if (*u < 0x20 || *u == 0x7f || (u[0] == 0xc2 && u[1] >= 0x80 &&
						  u[1] < 0xa0))
			return false;
	return strlen(s) <= max;
}

static void mix(struct sink *k, const char *s)
{
	for (; s && *s; s++)
		k->hash = (k->hash ^ (unsigned char)*s) * 0x100000001b3ull;
	k->hash = (k->hash ^ 0xff) * 0x100000001b3ull;
}

static void on_event(void *ctx, const struct claude_event *ev)
{
	struct sink *k = ctx;
	k->n++;
	mix(k, ev->name);
	mix(k, ev->id);
	mix(k, ev->text);
	k->hash += ev->kind * 2 + ev->is_error;
	if (!display_ok(ev->name, CLAUDE_MAX_ID) ||
	    !display_ok(ev->id, CLAUDE_MAX_ID))
		abort();
	if ((ev->kind == CE_TOOL_USE || ev->kind == CE_TOOL_RESULT) &&
	    !display_ok(ev->text, CLAUDE_SUMMARY))
		abort();
	if (ev->text && strlen(ev->text) > CLAUDE_MAX_FIELD)
		abort();
}

static char *feed(const uint8_t *d, size_t n, unsigned seed, struct sink *k)
{
	struct claude_stream *s = claude_stream_new(on_event, k);
	const struct claude_result *r;
	char *js, *err;
	if (!s)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t c = seed ? 1 + (seed = seed * 1103515245u + 12345u) % 97
				: n - i;
		c = c > n - i ? n - i : c;
		claude_stream_feed(s, d + i, c);
		i += c;
	}
	claude_stream_finish(s);
	r = claude_stream_result(s);
	if (r->bytes != n || r->ntools > CLAUDE_MAX_TOOLS)
		abort();
	for (size_t i = 0; i < r->ntools; i++)
		if ((r->tools[i].input_json &&
		     strlen(r->tools[i].input_json) > CLAUDE_MAX_FIELD) ||
		    (r->tools[i].output &&
		     strlen(r->tools[i].output) > CLAUDE_MAX_FIELD))
			abort();
	err = claude_result_error(r);
	if (err && !display_ok(err, 2048))
		abort();
	free(err);
	js = claude_result_json(r);
	cJSON *j = js ? cJSON_Parse(js) : NULL;
	if (js && !j)
		abort();	/* we printed invalid JSON */
	cJSON_Delete(j);
	claude_stream_free(s);
	return js;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sink a = { 0 }, b = { 0 };
	unsigned seed = size ? data[0] | 1u : 1;
	char *x = feed(data, size, 0, &a), *y = feed(data, size, seed, &b);
	if (a.hash != b.hash || a.n != b.n || !x != !y || (x && strcmp(x, y)))
		abort();
	free(x);
	free(y);
	return 0;
}
