/* model.c: in-memory spans, metric points and log records; ids, clocks
 * and W3C traceparent (see otel.h for the contract).
 *
 * Every allocation failure degrades: the setter does nothing and bumps a
 * dropped_* counter, the constructor returns NULL and every function
 * takes NULL. Telemetry is never a reason for a run to fail.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../util/util.h"
#include "otel.h"

/* ---- strings --------------------------------------------------------- */

/* Length of the valid UTF-8 sequence (RFC 3629 §4) at p, or 0. NUL is
 * refused too: protobuf-c strings are C strings. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;	/* range of the 2nd byte */

	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;		/* overlong */
	else if (c == 0xed)
		hi = 0x9f;		/* UTF-16 surrogates */
	else if (c == 0xf0)
		lo = 0x90;		/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;		/* above U+10FFFF */
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A valid UTF-8 copy of s[0..n) cut to at most max bytes at a character
 * boundary; a bad byte becomes '?' (one byte, so the bound holds). */
static char *dup_utf8(const char *s, size_t n, size_t max, bool *cut)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;
	char *out;

	if (!s)
		s = "", n = 0;
	if (!(out = malloc((n < max ? n : max) + 1)))
		return NULL;
	while (i < n) {
		size_t k = utf8_seq(p + i, n - i);
		if (o + (k ? k : 1) > max)
			break;
		if (k) {
			memcpy(out + o, p + i, k);
			o += k, i += k;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = '\0';
	if (cut)
		*cut = i < n;
	return out;
}

static char *dup_str(const char *s, size_t max)
{
	return dup_utf8(s, s ? strlen(s) : 0, max, NULL);
}

/* ---- attributes ------------------------------------------------------ */

static void attr_clear(struct otel_attr *at)
{
	if (at->type == OTEL_STR)
		free(at->v.s);
	at->v.s = NULL;
}

/* The slot for key: the existing one (its old value released) or a new
 * one; NULL (counted) when full or out of memory. */
static struct otel_attr *attr_slot(struct otel_attrs *a, const char *key)
{
	struct otel_attr *at;
	char *k;

	if (!(k = dup_str(key, OTEL_MAX_KEY)))
		goto dropped;
	for (unsigned i = 0; i < a->n; i++) {
		if (!strcmp(a->v[i].key, k)) {
			free(k);
			attr_clear(&a->v[i]);
			a->v[i].type = OTEL_INT;
			return &a->v[i];
		}
	}
	if (a->n == OTEL_MAX_ATTRS)
		goto err_free_key;
	if (a->n == a->cap) {
		unsigned cap = a->cap ? a->cap * 2 : 8;
		if (!(at = realloc(a->v, cap * sizeof(*at))))
			goto err_free_key;
		a->v = at;
		a->cap = cap;
	}
	at = &a->v[a->n++];
	*at = (struct otel_attr){ .key = k, .type = OTEL_INT };
	return at;
err_free_key:
	free(k);
dropped:
	a->dropped++;
	return NULL;
}

bool otel_attr_strn(struct otel_attrs *a, const char *key, const char *val,
		    size_t len)
{
	struct otel_attr *at;
	bool cut = false;
	char *s;

	if (!a || !key)
		return false;
	if (!(s = dup_utf8(val, val ? len : 0, OTEL_MAX_VALUE, &cut))) {
		a->dropped++;
		return false;
	}
	if (!(at = attr_slot(a, key))) {
		free(s);
		return false;
	}
	at->type = OTEL_STR;
	at->v.s = s;
	return cut;
}

bool otel_attr_str(struct otel_attrs *a, const char *key, const char *val)
{
	return otel_attr_strn(a, key, val, val ? strlen(val) : 0);
}

void otel_attr_int(struct otel_attrs *a, const char *key, int64_t val)
{
	struct otel_attr *at = a && key ? attr_slot(a, key) : NULL;

	if (at)
		at->v.i = val;
}

void otel_attr_double(struct otel_attrs *a, const char *key, double val)
{
	struct otel_attr *at = a && key ? attr_slot(a, key) : NULL;

	if (at) {
		at->type = OTEL_DOUBLE;
		at->v.d = val;
	}
}

void otel_attr_bool(struct otel_attrs *a, const char *key, bool val)
{
	struct otel_attr *at = a && key ? attr_slot(a, key) : NULL;

	if (at) {
		at->type = OTEL_BOOL;
		at->v.b = val;
	}
}

void otel_attrs_free(struct otel_attrs *a)
{
	if (!a)
		return;
	for (unsigned i = 0; i < a->n; i++) {
		free(a->v[i].key);
		attr_clear(&a->v[i]);
	}
	free(a->v);
	*a = (struct otel_attrs){ 0 };
}

int otel_attrs_copy(struct otel_attrs *dst, const struct otel_attrs *src)
{
	*dst = (struct otel_attrs){ 0 };
	if (!src || !src->n)
		return 0;
	if (!(dst->v = calloc(src->n, sizeof(*dst->v))))
		return -ENOMEM;
	dst->cap = src->n;
	for (unsigned i = 0; i < src->n; i++) {
		struct otel_attr *d = &dst->v[i];
		*d = src->v[i];
		d->key = strdup(src->v[i].key);
		if (d->type == OTEL_STR)
			d->v.s = strdup(src->v[i].v.s);
		dst->n++;
		if (!d->key || (d->type == OTEL_STR && !d->v.s)) {
			otel_attrs_free(dst);
			return -ENOMEM;
		}
	}
	dst->dropped = src->dropped;
	return 0;
}

/* ---- clocks and ids -------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

uint64_t otel_now_ns(void)
{
	return wall_ns();
}

uint64_t otel_mono_ns(void)
{
	return mono_ns();
}

static uint64_t start_ns;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;

static void note_start(void)
{
	start_ns = otel_now_ns();
}

/* The default start of cumulative sums: when telemetry began here. */
static uint64_t process_start_ns(void)
{
	pthread_once(&start_once, note_start);
	return start_ns;
}

/* No getrandom (a seccomp profile, an old kernel, an unready pool): ids
 * need to be unique, not secret, so splitmix64 seeded from the clock, the
 * pid and a counter will do. */
static void fallback_id(uint8_t *id, size_t n)
{
	static uint64_t counter;
	uint64_t x = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^
		     otel_now_ns() ^ (uint64_t)getpid() << 32;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0) {
			x += 0x9e3779b97f4a7c15ull;
			x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ull;
			x = (x ^ x >> 27) * 0x94d049bb133111ebull;
			x ^= x >> 31;
		}
		id[i] = (uint8_t)(x >> (i % 8 * 8));
	}
}

void otel_random_id(uint8_t *id, size_t n)
{
	do {
		/* GRND_NONBLOCK: early in boot the pool may not be ready,
		 * and telemetry must not wait for it. */
		if (getrandom(id, n, GRND_NONBLOCK) != (ssize_t)n)
			fallback_id(id, n);
	} while (all_zero(id, n));
}

char *otel_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

/* ---- W3C traceparent ------------------------------------------------- */

/* Lowercase hex only: Trace Context §3.2.2 defines HEXDIGLC. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
	unsigned acc = 0;

	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -EINVAL;
		acc = acc << 4 | d;
		if (i % 2) {
			out[i / 2] = (uint8_t)acc;
			acc = 0;
		}
	}
	return 0;
}

/* version "-" trace-id "-" parent-id "-" trace-flags (§3.2.2). For a
 * version above 00 the spec says to parse the 00 fields and accept more
 * after a '-' (§3.2.4, "future versions"). */
int otel_traceparent_parse(const char *s, struct otel_ctx *out)
{
	struct otel_ctx c;
	uint8_t version;
	size_t n;

	if (!s)
		return -EINVAL;
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n < OTEL_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' ||
	    s[52] != '-' || unhex(s, &version, 1) < 0 || version == 0xff ||
	    unhex(s + 3, c.trace_id, OTEL_TRACE_ID_LEN) < 0 ||
	    unhex(s + 36, c.span_id, OTEL_SPAN_ID_LEN) < 0 ||
	    unhex(s + 53, &c.flags, 1) < 0)
		return -EINVAL;
	if (n > OTEL_TRACEPARENT_LEN &&
	    (version == 0 || s[OTEL_TRACEPARENT_LEN] != '-'))
		return -EINVAL;
	if (all_zero(c.trace_id, OTEL_TRACE_ID_LEN) ||
	    all_zero(c.span_id, OTEL_SPAN_ID_LEN))
		return -EINVAL;
	*out = c;
	return 0;
}

char *otel_traceparent_format(const struct otel_ctx *c,
			      char out[OTEL_TRACEPARENT_LEN + 1])
{
	char t[2 * OTEL_TRACE_ID_LEN + 1], p[2 * OTEL_SPAN_ID_LEN + 1];

	snprintf(out, OTEL_TRACEPARENT_LEN + 1, "00-%s-%s-%02x",
		 otel_hex(c->trace_id, OTEL_TRACE_ID_LEN, t),
		 otel_hex(c->span_id, OTEL_SPAN_ID_LEN, p), c->flags);
	return out;
}

/* ---- spans ----------------------------------------------------------- */

struct otel_span *otel_span_start(const char *name,
				  const struct otel_ctx *parent)
{
	struct otel_span *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (!(s->name = dup_str(name, OTEL_MAX_VALUE))) {
		free(s);
		return NULL;
	}
	if (parent && !all_zero(parent->trace_id, OTEL_TRACE_ID_LEN) &&
	    !all_zero(parent->span_id, OTEL_SPAN_ID_LEN)) {
		memcpy(s->ctx.trace_id, parent->trace_id, OTEL_TRACE_ID_LEN);
		memcpy(s->parent_id, parent->span_id, OTEL_SPAN_ID_LEN);
		s->ctx.flags = parent->flags;
	} else {
		otel_random_id(s->ctx.trace_id, OTEL_TRACE_ID_LEN);
		s->ctx.flags = OTEL_FLAG_SAMPLED;
	}
	otel_random_id(s->ctx.span_id, OTEL_SPAN_ID_LEN);
	s->kind = OTEL_KIND_INTERNAL;
	process_start_ns();
	s->start_ns = otel_now_ns();
	return s;
}

struct otel_attrs *otel_span_event(struct otel_span *s, const char *name)
{
	struct otel_event *e, **v;

	if (!s)
		return NULL;
	if (s->nevents == OTEL_MAX_EVENTS)
		goto dropped;
	if (s->nevents == s->events_cap) {
		unsigned cap = s->events_cap ? s->events_cap * 2 : 4;
		if (!(v = realloc(s->events, cap * sizeof(*v))))
			goto dropped;
		s->events = v;
		s->events_cap = cap;
	}
	if (!(e = calloc(1, sizeof(*e))))
		goto dropped;
	if (!(e->name = dup_str(name, OTEL_MAX_VALUE))) {
		free(e);
		goto dropped;
	}
	e->time_ns = otel_now_ns();
	s->events[s->nevents++] = e;
	return &e->attrs;
dropped:
	s->dropped_events++;
	return NULL;
}

void otel_span_set_status(struct otel_span *s, enum otel_status st,
			  const char *msg)
{
	if (!s)
		return;
	s->status = st;
	free(s->status_msg);
	s->status_msg = NULL;
	if (st == OTEL_STATUS_ERROR && msg)
		s->status_msg = dup_str(msg, OTEL_MAX_VALUE);
}

void otel_span_end(struct otel_span *s)
{
	if (s && !s->end_ns)
		s->end_ns = otel_now_ns();
}

void otel_span_free(struct otel_span *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nevents; i++) {
		free(s->events[i]->name);
		otel_attrs_free(&s->events[i]->attrs);
		free(s->events[i]);
	}
	free(s->events);
	otel_attrs_free(&s->attrs);
	free(s->status_msg);
	free(s->name);
	free(s);
}

/* ---- metric points --------------------------------------------------- */

struct otel_metric *otel_metric_new(enum otel_metric_kind kind,
				    const char *name, const char *unit,
				    const char *desc)
{
	struct otel_metric *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->kind = kind;
	m->name = dup_str(name, OTEL_MAX_KEY);
	m->unit = dup_str(unit, OTEL_MAX_KEY);
	m->desc = dup_str(desc, OTEL_MAX_VALUE);
	m->start_ns = process_start_ns();
	m->time_ns = otel_now_ns();
	m->is_int = true;
	if (!m->name || !m->unit || !m->desc ||
	    (kind == OTEL_HISTOGRAM && otel_metric_set_bounds(m, NULL, 0))) {
		otel_metric_free(m);
		return NULL;
	}
	return m;
}

void otel_metric_set_int(struct otel_metric *m, int64_t v)
{
	if (m && m->kind != OTEL_HISTOGRAM) {
		m->is_int = true;
		m->value.i = v;
	}
}

void otel_metric_set_double(struct otel_metric *m, double v)
{
	if (m && m->kind != OTEL_HISTOGRAM) {
		m->is_int = false;
		m->value.d = v;
	}
}

int otel_metric_set_bounds(struct otel_metric *m, const double *bounds,
			   unsigned n)
{
	double *b = NULL;
	uint64_t *c;

	if (!m || m->kind != OTEL_HISTOGRAM || n > OTEL_MAX_BOUNDS ||
	    (n && !bounds))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return -EINVAL;
	if (n && !(b = malloc(n * sizeof(*b))))
		return -ENOMEM;
	if (!(c = calloc(n + 1, sizeof(*c)))) {
		free(b);
		return -ENOMEM;
	}
	if (n)
		memcpy(b, bounds, n * sizeof(*b));
	free(m->bounds);
	free(m->counts);
	m->bounds = b;
	m->counts = c;
	m->nbounds = n;
	m->count = 0;
	m->sum = m->min = m->max = 0;
	return 0;
}

void otel_metric_observe(struct otel_metric *m, double v)
{
	unsigned i = 0;

	if (!m || m->kind != OTEL_HISTOGRAM || !m->counts || isnan(v))
		return;
	while (i < m->nbounds && v > m->bounds[i])
		i++;			/* upper bounds are inclusive */
	m->counts[i]++;
	if (!m->count || v < m->min)
		m->min = v;
	if (!m->count || v > m->max)
		m->max = v;
	m->count++;
	m->sum += v;
}

void otel_metric_free(struct otel_metric *m)
{
	if (!m)
		return;
	otel_attrs_free(&m->attrs);
	free(m->bounds);
	free(m->counts);
	free(m->name);
	free(m->unit);
	free(m->desc);
	free(m);
}

/* ---- log records ----------------------------------------------------- */

struct otel_log *otel_log_new(enum otel_severity sev, const char *body,
			      const struct otel_ctx *ctx)
{
	struct otel_log *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	if (!(l->body = dup_str(body, OTEL_MAX_VALUE))) {
		free(l);
		return NULL;
	}
	l->severity = sev;
	l->time_ns = l->observed_ns = otel_now_ns();
	if (ctx && !all_zero(ctx->trace_id, OTEL_TRACE_ID_LEN)) {
		l->ctx = *ctx;
		l->has_ctx = true;
	}
	return l;
}

void otel_log_free(struct otel_log *l)
{
	if (!l)
		return;
	otel_attrs_free(&l->attrs);
	free(l->body);
	free(l);
}
