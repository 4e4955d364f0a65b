/* fuzz_otlp.c: libFuzzer target — OTLP encode -> decode round trip.
 *
 * The input is first handed raw to protobuf-c's unpack for the three
 * export requests (a collector-side view of hostile bytes: no crash, and
 * what unpack returns is freed). Then it is read as a recipe for a small
 * model — spans with events and status, metric points of all kinds,
 * log records, all with attributes of every type and strings of any
 * bytes — built through the model.c API, encoded by encode.c, unpacked
 * with the generated code and compared field by field with the model:
 * every value the model holds must arrive unchanged, and every string
 * must be valid UTF-8 (model.c's promise; collectors reject bodies that
 * break it). */
#include <stdlib.h>
#include <string.h>

#include "otlp_same.h"

/* ---- reading the recipe ------------------------------------------------ */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t u64(struct in *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u8(in);
	return v;
}

static double dbl(struct in *in)
{
	union { uint64_t u; double d; } v = { u64(in) };

	return v.d;	/* any bit pattern: NaNs, infinities, -0 */
}

/* A string of up to 63 arbitrary bytes (NUL included: the model turns it
 * into '?' for _strn values, and C string arguments stop at it). */
static const char *str(struct in *in, char *buf, size_t *len)
{
	size_t l = u8(in) & 63;

	if (l > in->n)
		l = in->n;
	memcpy(buf, in->p, l);
	buf[l] = '\0';
	in->p += l;
	in->n -= l;
	if (len)
		*len = l;
	return buf;
}

static void attrs(struct in *in, struct otel_attrs *a)
{
	char k[64], v[64];
	size_t vl;

	for (unsigned i = 0, n = u8(in) % 6; i < n; i++) {
		/* Short keys from a small alphabet now and then, so keys
		 * repeat and overwrite (also across types). */
		uint8_t t = u8(in);
		const char *key = t & 0x80 ? (t & 0x40 ? "k" : "") :
					     str(in, k, NULL);
		if ((t & 3) == 0)
			otel_attr_strn(a, key, str(in, v, &vl), vl);
		else if ((t & 3) == 1)
			otel_attr_int(a, key, (int64_t)u64(in));
		else if ((t & 3) == 2)
			otel_attr_double(a, key, dbl(in));
		else
			otel_attr_bool(a, key, u8(in) & 1);
	}
}

static void ctx(struct in *in, struct otel_ctx *c)
{
	uint8_t *b = (uint8_t *)c;	/* all bytes, no padding */

	for (size_t i = 0; i < sizeof(*c); i++)
		b[i] = u8(in);
}

/* ---- the target --------------------------------------------------------- */

/* Hostile bytes as each request type: unpack must fail or succeed
 * cleanly, and what it returns must free. */
static void unpack_raw(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *d[] = {
		&PB_DESC(trace, export_trace_service_request),
		&PB_DESC(metrics, export_metrics_service_request),
		&PB_DESC(logs, export_logs_service_request),
	};

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		ProtobufCMessage *m = protobuf_c_message_unpack(d[i], NULL,
								size, data);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
	}
}

/* Unpack what an encoder returned (and free it): it must decode. */
static void *decode(const ProtobufCMessageDescriptor *d, uint8_t *buf,
		    size_t len)
{
	ProtobufCMessage *m = buf ? protobuf_c_message_unpack(d, NULL, len,
							      buf) : NULL;
	CHECK(m);
	free(buf);
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct otel_attrs res = { 0 };
	char nb[64], vb[64], ub[64];
	struct otel_span *sp[4] = { 0 };
	struct otel_metric *pt[8] = { 0 };
	struct otel_log *lg[4] = { 0 };
	size_t nsp = u8(&in) % 5, npt = u8(&in) % 9, nlg = u8(&in) % 5, len;

	unpack_raw(data, size);
	attrs(&in, &res);
	struct otel_source src = { &res, u8(&in) & 1 ? NULL : "voidbox",
				   u8(&in) & 1 ? NULL : "0.1\xc3\xa9" };
	for (size_t i = 0; i < nsp; i++) {
		struct otel_ctx parent;
		ctx(&in, &parent);
		struct otel_span *s = sp[i] = otel_span_start(str(&in, nb, NULL),
							      &parent);
		CHECK(s);
		s->kind = (enum otel_kind)(u8(&in) % 5 + 1);
		s->start_ns = u64(&in);
		s->end_ns = u8(&in) & 1 ? 0 : u64(&in);
		attrs(&in, &s->attrs);
		for (unsigned e = 0, ne = u8(&in) % 4; e < ne; e++) {
			struct otel_attrs *ea = otel_span_event(s, str(&in, nb,
								      NULL));
			CHECK(ea);	/* far below OTEL_MAX_EVENTS */
			attrs(&in, ea);
			s->events[s->nevents - 1]->time_ns = u64(&in);
		}
		uint8_t st = u8(&in);
		otel_span_set_status(s, (enum otel_status)(st % 3),
				     st & 4 ? NULL : str(&in, nb, NULL));
	}
	for (size_t i = 0; i < npt; i++) {
		/* Names from two choices too, so points share a Metric. */
		uint8_t t = u8(&in);
		const char *name = t & 4 ? (t & 8 ? "a" : "b") :
					   str(&in, nb, NULL);
		struct otel_metric *m = pt[i] =
			otel_metric_new((enum otel_metric_kind)(t % 3), name,
					t & 16 ? NULL : str(&in, ub, NULL),
					t & 32 ? NULL : str(&in, vb, NULL));
		CHECK(m);
		m->start_ns = u64(&in);
		m->time_ns = u64(&in);
		attrs(&in, &m->attrs);
		if (t & 64)
			otel_metric_set_double(m, dbl(&in));
		else
			otel_metric_set_int(m, (int64_t)u64(&in));
		double b[8];
		unsigned nb2 = u8(&in) % 9;
		for (unsigned k = 0; k < nb2; k++)
			b[k] = k ? b[k - 1] + (u8(&in) % 16) : dbl(&in);
		otel_metric_set_bounds(m, b, nb2);	/* may refuse */
		for (unsigned k = 0, no = u8(&in) % 8; k < no; k++)
			otel_metric_observe(m, dbl(&in));
	}
	for (size_t i = 0; i < nlg; i++) {
		struct otel_ctx c;
		uint8_t t = u8(&in);
		ctx(&in, &c);
		struct otel_log *l = lg[i] = otel_log_new(
			(enum otel_severity)(t % 27), str(&in, nb, NULL),
			t & 0x80 ? &c : NULL);
		CHECK(l);
		l->time_ns = u64(&in);
		l->observed_ns = u64(&in);
		attrs(&in, &l->attrs);
	}

	PB_REQ(Trace) *tr = decode(&PB_DESC(trace,
		export_trace_service_request), otel_encode_traces(&src, sp,
		nsp, &len), len);
	SAME_SOURCE(tr, resource_spans, scope_spans, &src);
	const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss =
		tr->resource_spans[0]->scope_spans[0];
	CHECK(ss->n_spans == nsp);
	for (size_t i = 0; i < nsp; i++)
		same_span(ss->spans[i], sp[i]);
	protobuf_c_message_free_unpacked(&tr->base, NULL);

	PB_REQ(Metrics) *mr = decode(&PB_DESC(metrics,
		export_metrics_service_request), otel_encode_metrics(&src, pt,
		npt, &len), len);
	SAME_SOURCE(mr, resource_metrics, scope_metrics, &src);
	same_metrics(mr->resource_metrics[0]->scope_metrics[0]->metrics,
		     mr->resource_metrics[0]->scope_metrics[0]->n_metrics,
		     pt, npt);
	protobuf_c_message_free_unpacked(&mr->base, NULL);

	PB_REQ(Logs) *lr = decode(&PB_DESC(logs,
		export_logs_service_request), otel_encode_logs(&src, lg, nlg,
		&len), len);
	SAME_SOURCE(lr, resource_logs, scope_logs, &src);
	const Opentelemetry__Proto__Logs__V1__ScopeLogs *sl =
		lr->resource_logs[0]->scope_logs[0];
	CHECK(sl->n_log_records == nlg);
	for (size_t i = 0; i < nlg; i++)
		same_log(sl->log_records[i], lg[i]);
	protobuf_c_message_free_unpacked(&lr->base, NULL);

	for (size_t i = 0; i < 4; i++) {
		otel_span_free(sp[i]);
		otel_log_free(lg[i]);
	}
	for (size_t i = 0; i < 8; i++)
		otel_metric_free(pt[i]);
	otel_attrs_free(&res);
	return 0;
}
