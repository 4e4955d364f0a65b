/* reqbody.c: what a request body asks for — its model and max_tokens —
 * read the way the upstream will read them.
 *
 * The budget is priced from these two fields, so they must be the ones
 * the upstream acts on. JSON parsers differ on duplicate keys (most keep
 * the last), so a body naming "model" or "max_tokens" twice is refused
 * rather than guessed at; keys are compared after unescaping ("mod\u0065l"
 * is "model"). The scan walks the top level only and skips nested values
 * without building them, in constant memory: a 64 MiB body of "[[[[" or
 * of a million small numbers costs no more than reading it (a DOM parse
 * would allocate many times the body). Nested values are skipped by
 * bracket depth, not validated; malformed JSON that we skip over is
 * refused by the upstream anyway, and for well-formed JSON the top-level
 * keys we see are exactly the upstream's.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

struct cur {
	const char *p, *end;
	const char *err;
};

static void ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
				 *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int hexval(char h)
{
	return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f'
		? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
}

static int hex4(struct cur *c, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int h = c->p < c->end ? hexval(*c->p) : -1;
		if (h < 0)
			return -1;
		*v = *v << 4 | (unsigned)h;
		c->p++;
	}
	return 0;
}

/* A string at c->p (on the opening quote), decoded into out (cap bytes,
 * NUL-terminated; *cut set when it did not fit), or just skipped when
 * out is NULL. -1 on malformed input. */
static int string(struct cur *c, char *out, size_t cap, bool *cut)
{
	size_t o = 0;

	c->p++;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p++;
		unsigned cp = ch;
		if (ch < 0x20)
			return -1;
		if (ch == '\\') {
			if (c->p >= c->end)
				return -1;
			static const char esc[] = "\"\\/bfnrt",
					  val[] = "\"\\/\b\f\n\r\t";
			char e = *c->p++;
			const char *simple = strchr(esc, e);
			if (e == 'u') {
				if (hex4(c, &cp) < 0)
					return -1;
				if (cp >= 0xd800 && cp < 0xdc00 &&
				    c->end - c->p >= 6 && c->p[0] == '\\' &&
				    c->p[1] == 'u') {
					unsigned lo;
					c->p += 2;
					if (hex4(c, &lo) < 0)
						return -1;
					if (lo >= 0xdc00 && lo < 0xe000)
						cp = 0x10000 + ((cp - 0xd800) << 10) +
						     (lo - 0xdc00);
				}
			} else if (simple && e) {
				cp = (unsigned char)val[simple - esc];
			} else {
				return -1;
			}
		}
		if (!out)
			continue;
		/* UTF-8 out; a raw multi-byte sequence passes byte by byte. */
		char u[4];
		size_t ul = 0;
		if (cp < 0x80 || ch >= 0x80) {
			u[ul++] = (char)(ch >= 0x80 ? ch : cp);
		} else if (cp < 0x800) {
			u[ul++] = (char)(0xc0 | cp >> 6);
			u[ul++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			u[ul++] = (char)(0xe0 | cp >> 12);
			u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			u[ul++] = (char)(0x80 | (cp & 0x3f));
		} else {
			u[ul++] = (char)(0xf0 | cp >> 18);
			u[ul++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			u[ul++] = (char)(0x80 | (cp & 0x3f));
		}
		if (o + ul < cap) {
			memcpy(out + o, u, ul);
			o += ul;
		} else {
			*cut = true;
		}
	}
	if (c->p >= c->end)
		return -1;
	c->p++;
	if (out)
		out[o] = '\0';
	return 0;
}

/* Skip one value of any kind (containers by depth, strings exactly). */
static int skip_value(struct cur *c)
{
	unsigned depth = 0;

	do {
		ws(c);
		if (c->p >= c->end)
			return -1;
		char ch = *c->p;
		if (ch == '"') {
			if (string(c, NULL, 0, NULL) < 0)
				return -1;
		} else if (ch == '{' || ch == '[') {
			depth++;
			c->p++;
		} else if (ch == '}' || ch == ']') {
			if (!depth)
				return -1;
			depth--;
			c->p++;
		} else if (ch == ',' || ch == ':') {
			if (!depth)
				return -1;
			c->p++;
		} else {
			/* number or literal: up to the next delimiter */
			const char *s = c->p;
			while (c->p < c->end && !strchr(",:]} \t\r\n{[\"",
							   *c->p))
				c->p++;
			if (c->p == s)
				return -1;
		}
	} while (depth);
	return 0;
}

int gw_body_info(const char *body, size_t len, struct gw_req_info *ri)
{
	struct cur c = { .p = body, .end = body + len };
	bool have_model = false, have_max = false;

	*ri = (struct gw_req_info){ 0 };
	ws(&c);
	if (c.p >= c.end || *c.p != '{') {
		ri->err = "request body is not a JSON object";
		return -1;
	}
	c.p++;
	ws(&c);
	if (c.p < c.end && *c.p == '}')
		c.p++;
	else
		for (;;) {
			char key[64];
			bool cut = false;
			ws(&c);
			if (c.p >= c.end || *c.p != '"' ||
			    string(&c, key, sizeof(key), &cut) < 0)
				goto bad;
			ws(&c);
			if (c.p >= c.end || *c.p++ != ':')
				goto bad;
			ws(&c);
			if (!cut && !strcmp(key, "model")) {
				bool mcut = false;
				if (have_model) {
					ri->err = "request body names \"model\" "
						  "twice";
					return -1;
				}
				have_model = true;
				if (c.p >= c.end || *c.p != '"' ||
				    string(&c, ri->model, sizeof(ri->model),
					   &mcut) < 0 || mcut) {
					ri->err = "\"model\" must be a short string";
					return -1;
				}
			} else if (!cut && !strcmp(key, "max_tokens")) {
				if (have_max) {
					ri->err = "request body names "
						  "\"max_tokens\" twice";
					return -1;
				}
				have_max = true;
				uint64_t v = 0;
				const char *s = c.p;
				while (c.p < c.end && *c.p >= '0' && *c.p <= '9' &&
				       v < (1ull << 40))
					v = v * 10 + (uint64_t)(*c.p++ - '0');
				if (c.p == s || (c.p < c.end &&
						 strchr(".eE", *c.p))) {
					ri->err = "\"max_tokens\" must be a whole "
						  "number";
					return -1;
				}
				ri->max_tokens = v;
			} else if (skip_value(&c) < 0) {
				goto bad;
			}
			ws(&c);
			if (c.p < c.end && *c.p == ',') {
				c.p++;
				continue;
			}
			if (c.p < c.end && *c.p == '}') {
				c.p++;
				break;
			}
			goto bad;
		}
	ws(&c);
	if (c.p != c.end)
		goto bad;
	return 0;
bad:
	ri->err = "request body is not valid JSON";
	return -1;
}
