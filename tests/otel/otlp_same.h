/* otlp_same.h: field-by-field comparison of unpacked OTLP export
 * requests (protobuf-c generated structs) with the model (otel.h) they
 * were encoded from, for fuzz_otlp.c. Header-only: included once. Every
 * mismatch aborts, which libFuzzer reports as a crash. */
#ifndef VB_TEST_OTLP_SAME_H
#define VB_TEST_OTLP_SAME_H

#include <stdlib.h>
#include <string.h>

#include "../../host/otel/otel.h"
#include "otlp/logs_service.pb-c.h"
#include "otlp/metrics_service.pb-c.h"
#include "otlp/trace_service.pb-c.h"

#define PB_DESC(sig, x) \
	opentelemetry__proto__collector__##sig##__v1__##x##__descriptor
#define PB_REQ(Sig) \
	Opentelemetry__Proto__Collector__##Sig##__V1__Export##Sig##ServiceRequest
#define PB_C(x)		OPENTELEMETRY__PROTO__COMMON__V1__##x
#define PB_M(x)		OPENTELEMETRY__PROTO__METRICS__V1__##x
#define PB_KV		Opentelemetry__Proto__Common__V1__KeyValue
#define PB_SPAN		Opentelemetry__Proto__Trace__V1__Span
#define PB_LOG		Opentelemetry__Proto__Logs__V1__LogRecord
#define PB_METRIC	Opentelemetry__Proto__Metrics__V1__Metric
#define PB_NUMDP	Opentelemetry__Proto__Metrics__V1__NumberDataPoint
#define PB_HISTDP	Opentelemetry__Proto__Metrics__V1__HistogramDataPoint

#define CHECK(c) do { if (!(c)) abort(); } while (0)

/* ---- checking the decoded message --------------------------------------- */

/* RFC 3629, independently of model.c's utf8_seq. */
static void utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p++, n = c < 0x80 ? 0 : c < 0xc2 ? 9 :
			     c < 0xe0 ? 1 : c < 0xf0 ? 2 : c < 0xf5 ? 3 : 9;
		CHECK(n != 9);
		uint32_t cp = c & (0x3f >> n);
		for (unsigned i = 0; i < n; i++, p++) {
			CHECK((*p & 0xc0) == 0x80);
			cp = cp << 6 | (*p & 0x3f);
		}
		CHECK(cp < 0xd800 || cp > 0xdfff);
		CHECK(cp <= 0x10ffff);
		CHECK(n != 2 || cp >= 0x800);
		CHECK(n != 3 || cp >= 0x10000);
	}
}

static void same_str(const char *got, const char *want)
{
	CHECK(got && !strcmp(got, want ? want : ""));
	utf8(got);
}

static void same_bytes(ProtobufCBinaryData b, const void *p, size_t n)
{
	CHECK(b.len == n && (!n || !memcmp(b.data, p, n)));
}

static void same_double(double a, double b)
{
	CHECK(!memcmp(&a, &b, sizeof(a)));
}

/* A proto3 double without presence: protobuf-c leaves out a field equal
 * to 0 when packing, and -0.0 == 0, so -0.0 comes back as +0.0. Same
 * number; only oneof members and repeated values keep the sign. */
static void same_plain_double(double a, double b)
{
	if (a != 0 || b != 0)
		same_double(a, b);
}

static void same_attrs(PB_KV **kv, size_t n, const struct otel_attrs *a,
		       uint32_t dropped)
{
	CHECK(n == a->n && dropped == a->dropped);
	for (size_t i = 0; i < n; i++) {
		const struct otel_attr *at = &a->v[i];
		const Opentelemetry__Proto__Common__V1__AnyValue *v =
			kv[i]->value;
		same_str(kv[i]->key, at->key);
		CHECK(v);
		switch (at->type) {
		case OTEL_STR:
			CHECK(v->value_case ==
			      PB_C(ANY_VALUE__VALUE_STRING_VALUE));
			same_str(v->string_value, at->v.s);
			break;
		case OTEL_INT:
			CHECK(v->value_case == PB_C(ANY_VALUE__VALUE_INT_VALUE) &&
			      v->int_value == at->v.i);
			break;
		case OTEL_DOUBLE:
			CHECK(v->value_case ==
			      PB_C(ANY_VALUE__VALUE_DOUBLE_VALUE));
			same_double(v->double_value, at->v.d);
			break;
		case OTEL_BOOL:
			CHECK(v->value_case == PB_C(ANY_VALUE__VALUE_BOOL_VALUE) &&
			      !v->bool_value == !at->v.b);
			break;
		}
	}
}

/* The one resource and scope every request carries. */
#define SAME_SOURCE(r, res, sc, src) do {				\
	CHECK((r)->n_##res == 1 && (r)->res[0]->resource &&		\
	      (r)->res[0]->n_##sc == 1 && (r)->res[0]->sc[0]->scope);	\
	same_attrs((r)->res[0]->resource->attributes,			\
		   (r)->res[0]->resource->n_attributes, (src)->resource, \
		   (r)->res[0]->resource->dropped_attributes_count);	\
	same_str((r)->res[0]->sc[0]->scope->name, (src)->scope_name);	\
	same_str((r)->res[0]->sc[0]->scope->version,			\
		 (src)->scope_version);					\
} while (0)

static void same_span(const PB_SPAN *p, const struct otel_span *m)
{
	static const uint8_t zero[OTEL_SPAN_ID_LEN];
	bool root = !memcmp(m->parent_id, zero, sizeof(zero));

	same_bytes(p->trace_id, m->ctx.trace_id, OTEL_TRACE_ID_LEN);
	same_bytes(p->span_id, m->ctx.span_id, OTEL_SPAN_ID_LEN);
	same_bytes(p->parent_span_id, m->parent_id,
		   root ? 0 : OTEL_SPAN_ID_LEN);
	CHECK(p->flags == m->ctx.flags && (int)p->kind == (int)m->kind);
	same_str(p->name, m->name);
	CHECK(p->start_time_unix_nano == m->start_ns &&
	      p->end_time_unix_nano == (m->end_ns ? m->end_ns : m->start_ns));
	same_attrs(p->attributes, p->n_attributes, &m->attrs,
		   p->dropped_attributes_count);
	CHECK(p->n_events == m->nevents &&
	      p->dropped_events_count == m->dropped_events);
	for (size_t i = 0; i < p->n_events; i++) {
		const struct otel_event *e = m->events[i];
		same_str(p->events[i]->name, e->name);
		CHECK(p->events[i]->time_unix_nano == e->time_ns);
		same_attrs(p->events[i]->attributes,
			   p->events[i]->n_attributes, &e->attrs,
			   p->events[i]->dropped_attributes_count);
	}
	CHECK(!p->status == (m->status == OTEL_STATUS_UNSET));
	if (p->status) {
		CHECK((int)p->status->code == (int)m->status);
		same_str(p->status->message,
			 m->status == OTEL_STATUS_ERROR ? m->status_msg : "");
	}
}

static void same_point(const PB_METRIC *p, size_t k,
		       const struct otel_metric *m)
{
	if (m->kind == OTEL_HISTOGRAM) {
		CHECK(p->data_case == PB_M(METRIC__DATA_HISTOGRAM));
		const PB_HISTDP *h = p->histogram->data_points[k];
		same_attrs(h->attributes, h->n_attributes, &m->attrs,
			   m->attrs.dropped);
		CHECK(h->start_time_unix_nano == m->start_ns &&
		      h->time_unix_nano == m->time_ns && h->count == m->count &&
		      h->n_bucket_counts == m->nbounds + 1u &&
		      h->n_explicit_bounds == m->nbounds &&
		      !memcmp(h->bucket_counts, m->counts,
			      (m->nbounds + 1u) * sizeof(uint64_t)));
		same_plain_double(h->sum, m->sum);
		same_plain_double(h->min, m->count ? m->min : 0);
		same_plain_double(h->max, m->count ? m->max : 0);
		for (unsigned i = 0; i < m->nbounds; i++)
			same_double(h->explicit_bounds[i], m->bounds[i]);
		return;
	}
	CHECK(p->data_case == (m->kind == OTEL_SUM ? PB_M(METRIC__DATA_SUM)
						  : PB_M(METRIC__DATA_GAUGE)));
	const PB_NUMDP *d = m->kind == OTEL_SUM ? p->sum->data_points[k]
						: p->gauge->data_points[k];
	same_attrs(d->attributes, d->n_attributes, &m->attrs,
		   m->attrs.dropped);
	CHECK(d->start_time_unix_nano ==
	      (m->kind == OTEL_SUM ? m->start_ns : 0) &&
	      d->time_unix_nano == m->time_ns);
	if (m->is_int)
		CHECK(d->value_case == PB_M(NUMBER_DATA_POINT__VALUE_AS_INT) &&
		      d->as_int == m->value.i);
	else {
		CHECK(d->value_case ==
		      PB_M(NUMBER_DATA_POINT__VALUE_AS_DOUBLE));
		same_double(d->as_double, m->value.d);
	}
}

/* Metrics group points by kind, name and unit, in order of first
 * appearance; each Metric must hold exactly its points, in order. */
static void same_metrics(PB_METRIC **ms, size_t nm,
			 struct otel_metric *const *pts, size_t n)
{
	bool used[8] = { 0 };
	size_t done = 0;

	for (size_t g = 0; g < nm; g++) {
		const PB_METRIC *p = ms[g];
		size_t first = 0, k = 0;
		while (first < n && used[first])
			first++;
		CHECK(first < n);
		const struct otel_metric *f = pts[first];
		same_str(p->name, f->name);
		same_str(p->unit, f->unit);
		same_str(p->description, f->desc);
		for (size_t i = first; i < n; i++) {
			if (used[i] || pts[i]->kind != f->kind ||
			    strcmp(pts[i]->name, f->name) ||
			    strcmp(pts[i]->unit, f->unit))
				continue;
			same_point(p, k++, pts[i]);
			used[i] = true;
			done++;
		}
		size_t np = f->kind == OTEL_SUM ? p->sum->n_data_points :
			    f->kind == OTEL_GAUGE ? p->gauge->n_data_points :
			    p->histogram->n_data_points;
		CHECK(np == k);
	}
	CHECK(done == n);
}

static void same_log(const PB_LOG *p, const struct otel_log *m)
{
	static const char *const sev[] = {
		"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL",
	};
	int s = (int)m->severity;

	CHECK(p->time_unix_nano == m->time_ns &&
	      p->observed_time_unix_nano == m->observed_ns &&
	      (int)p->severity_number == s);
	same_str(p->severity_text, s >= 1 && s <= 24 ? sev[(s - 1) / 4] : "");
	CHECK(p->body && p->body->value_case ==
	      PB_C(ANY_VALUE__VALUE_STRING_VALUE));
	same_str(p->body->string_value, m->body);
	same_attrs(p->attributes, p->n_attributes, &m->attrs,
		   p->dropped_attributes_count);
	same_bytes(p->trace_id, m->ctx.trace_id,
		   m->has_ctx ? OTEL_TRACE_ID_LEN : 0);
	same_bytes(p->span_id, m->ctx.span_id,
		   m->has_ctx ? OTEL_SPAN_ID_LEN : 0);
	CHECK(p->flags == (m->has_ctx ? m->ctx.flags : 0));
}

#endif
