/* encode.c: the model (model.c) as OTLP export requests, with the
 * protobuf-c code generated from the .proto files in proto/otlp/. The
 * only protobuf-c user: swap this file to change the wire format.
 *
 * Primer. A request is Resource -> Scope -> items, three levels deep:
 *   ExportTraceServiceRequest { ResourceSpans { Resource, ScopeSpans {
 *     InstrumentationScope, Span... } } }
 * and the same for metrics (Metric, each holding data points) and logs.
 * Every request carries one resource and one scope, ours. protobuf-c
 * packs a tree of C structs; we build that tree in an arena that points
 * into the model's strings and bytes (nothing is copied: protobuf-c's
 * pointers are non-const, but packing only reads them), pack it and free
 * the arena in one go.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "otel.h"
#include "otlp/logs_service.pb-c.h"
#include "otlp/metrics_service.pb-c.h"
#include "otlp/trace_service.pb-c.h"

/* The generated names run past 50 columns; these short aliases keep the
 * builders readable (macros, not typedefs: STYLE R11). */
#define PB_C(x)		OPENTELEMETRY__PROTO__COMMON__V1__##x
#define PB_M(x)		OPENTELEMETRY__PROTO__METRICS__V1__##x
#define PB_REQ(Sig) \
	Opentelemetry__Proto__Collector__##Sig##__V1__Export##Sig##ServiceRequest
#define PB_REQ_INIT(SIG) \
	OPENTELEMETRY__PROTO__COLLECTOR__##SIG##__V1__EXPORT_##SIG##_SERVICE_REQUEST__INIT
#define PB_RESP(Sig) \
	Opentelemetry__Proto__Collector__##Sig##__V1__Export##Sig##ServiceResponse
#define PB_ANY		Opentelemetry__Proto__Common__V1__AnyValue
#define PB_KV		Opentelemetry__Proto__Common__V1__KeyValue
#define PB_SCOPE	Opentelemetry__Proto__Common__V1__InstrumentationScope
#define PB_RES		Opentelemetry__Proto__Resource__V1__Resource
#define PB_SPAN		Opentelemetry__Proto__Trace__V1__Span
#define PB_EVENT	Opentelemetry__Proto__Trace__V1__Span__Event
#define PB_METRIC	Opentelemetry__Proto__Metrics__V1__Metric
#define PB_NUMDP	Opentelemetry__Proto__Metrics__V1__NumberDataPoint
#define PB_HISTDP	Opentelemetry__Proto__Metrics__V1__HistogramDataPoint
#define PB_LOG		Opentelemetry__Proto__Logs__V1__LogRecord
#define PB_CUMULATIVE \
	PB_M(AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE)

/* ---- arena ------------------------------------------------------------ */

#define ARENA_CHUNK (64u << 10)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct arena {
	struct chunk *head;
	bool oom;			/* sticky: the whole encode fails */
};

/* n zeroed objects of size bytes, 16-aligned; NULL (and a->oom) on
 * failure. Callers check a->oom before writing through anything. */
static void *arena_get(struct arena *a, size_t n, size_t size)
{
	struct chunk *c = a->head;
	size_t len;
	void *p;

	if (a->oom || __builtin_mul_overflow(n, size, &len) ||
	    len > SIZE_MAX - 15 - sizeof(*c))
		goto oom;
	len = (len + 15) & ~(size_t)15;
	if (!c || c->cap - c->used < len) {
		size_t cap = len > ARENA_CHUNK ? len : ARENA_CHUNK;
		if (!(c = malloc(sizeof(*c) + cap)))
			goto oom;
		*c = (struct chunk){ .next = a->head, .cap = cap };
		a->head = c;
	}
	p = c->data + c->used;
	c->used += len;
	return memset(p, 0, len);
oom:
	a->oom = true;
	return NULL;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
}

/* ---- common ----------------------------------------------------------- */

static ProtobufCBinaryData bytes(const uint8_t *p, size_t n)
{
	return (ProtobufCBinaryData){ .len = n, .data = (uint8_t *)p };
}

static PB_ANY *any_value(struct arena *a, const struct otel_attr *at)
{
	PB_ANY *v = arena_get(a, 1, sizeof(*v));

	if (!v)
		return NULL;
	opentelemetry__proto__common__v1__any_value__init(v);
	switch (at->type) {
	case OTEL_STR:
		v->value_case = PB_C(ANY_VALUE__VALUE_STRING_VALUE);
		v->string_value = at->v.s;
		break;
	case OTEL_INT:
		v->value_case = PB_C(ANY_VALUE__VALUE_INT_VALUE);
		v->int_value = at->v.i;
		break;
	case OTEL_DOUBLE:
		v->value_case = PB_C(ANY_VALUE__VALUE_DOUBLE_VALUE);
		v->double_value = at->v.d;
		break;
	case OTEL_BOOL:
		v->value_case = PB_C(ANY_VALUE__VALUE_BOOL_VALUE);
		v->bool_value = at->v.b;
		break;
	}
	return v;
}

/* The KeyValue list for an attribute set; NULL when empty or on OOM. */
static PB_KV **key_values(struct arena *a, const struct otel_attrs *as,
			  size_t *n)
{
	PB_KV **v, *kv;

	*n = 0;
	if (!as || !as->n)
		return NULL;
	if (!(v = arena_get(a, as->n, sizeof(*v))) ||
	    !(kv = arena_get(a, as->n, sizeof(*kv))))
		return NULL;
	for (unsigned i = 0; i < as->n; i++) {
		opentelemetry__proto__common__v1__key_value__init(&kv[i]);
		kv[i].key = as->v[i].key;
		if (!(kv[i].value = any_value(a, &as->v[i])))
			return NULL;
		v[i] = &kv[i];
	}
	*n = as->n;
	return v;
}

/* Our Resource and InstrumentationScope, shared by every request. */
static int source(struct arena *a, const struct otel_source *src,
		  PB_RES **res, PB_SCOPE **scope)
{
	if (!(*res = arena_get(a, 1, sizeof(**res))) ||
	    !(*scope = arena_get(a, 1, sizeof(**scope))))
		return -ENOMEM;
	opentelemetry__proto__resource__v1__resource__init(*res);
	opentelemetry__proto__common__v1__instrumentation_scope__init(*scope);
	if (src && src->resource) {
		(*res)->attributes = key_values(a, src->resource,
						&(*res)->n_attributes);
		(*res)->dropped_attributes_count = src->resource->dropped;
	}
	(*scope)->name = (char *)(src && src->scope_name ? src->scope_name :
				  "");
	(*scope)->version = (char *)(src && src->scope_version ?
				     src->scope_version : "");
	return a->oom ? -ENOMEM : 0;
}

/* Pack msg into a malloc'd buffer; the arena goes in every case. */
static uint8_t *pack(struct arena *a, const ProtobufCMessage *msg,
		     size_t *len)
{
	uint8_t *buf = NULL;

	if (!a->oom) {
		*len = protobuf_c_message_get_packed_size(msg);
		if ((buf = malloc(*len ? *len : 1)))
			protobuf_c_message_pack(msg, buf);
	}
	arena_free(a);
	return buf;
}

/* ---- traces ----------------------------------------------------------- */

static PB_EVENT **events(struct arena *a, const struct otel_span *s)
{
	PB_EVENT **v, *e;

	if (!s->nevents)
		return NULL;
	if (!(v = arena_get(a, s->nevents, sizeof(*v))) ||
	    !(e = arena_get(a, s->nevents, sizeof(*e))))
		return NULL;
	for (unsigned i = 0; i < s->nevents; i++) {
		const struct otel_event *m = s->events[i];
		opentelemetry__proto__trace__v1__span__event__init(&e[i]);
		e[i].time_unix_nano = m->time_ns;
		e[i].name = m->name;
		e[i].attributes = key_values(a, &m->attrs, &e[i].n_attributes);
		e[i].dropped_attributes_count = m->attrs.dropped;
		v[i] = &e[i];
	}
	return v;
}

static int span(struct arena *a, const struct otel_span *m, PB_SPAN *s)
{
	static const uint8_t zero[OTEL_SPAN_ID_LEN];

	opentelemetry__proto__trace__v1__span__init(s);
	s->trace_id = bytes(m->ctx.trace_id, OTEL_TRACE_ID_LEN);
	s->span_id = bytes(m->ctx.span_id, OTEL_SPAN_ID_LEN);
	/* A root span has no parent_span_id at all (trace.proto). */
	if (memcmp(m->parent_id, zero, sizeof(zero)))
		s->parent_span_id = bytes(m->parent_id, OTEL_SPAN_ID_LEN);
	s->flags = m->ctx.flags;
	s->name = m->name;
	s->kind = (int)m->kind;		/* same numbering */
	s->start_time_unix_nano = m->start_ns;
	/* An unended span goes out as a zero-length one, not as one
	 * ending in 1970. */
	s->end_time_unix_nano = m->end_ns ? m->end_ns : m->start_ns;
	s->attributes = key_values(a, &m->attrs, &s->n_attributes);
	s->dropped_attributes_count = m->attrs.dropped;
	s->events = events(a, m);
	s->n_events = s->events ? m->nevents : 0;
	s->dropped_events_count = m->dropped_events;
	if (m->status != OTEL_STATUS_UNSET) {
		if (!(s->status = arena_get(a, 1, sizeof(*s->status))))
			return -ENOMEM;
		opentelemetry__proto__trace__v1__status__init(s->status);
		s->status->code = (int)m->status;	/* same numbering */
		if (m->status == OTEL_STATUS_ERROR && m->status_msg)
			s->status->message = m->status_msg;
	}
	return a->oom ? -ENOMEM : 0;
}

uint8_t *otel_encode_traces(const struct otel_source *src,
			    struct otel_span *const *spans, size_t n,
			    size_t *len)
{
	PB_REQ(Trace) req = PB_REQ_INIT(TRACE);
	Opentelemetry__Proto__Trace__V1__ResourceSpans
		rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT,
		*rsp = &rs;
	Opentelemetry__Proto__Trace__V1__ScopeSpans
		ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT,
		*ssp = &ss;
	struct arena a = { 0 };
	PB_SPAN *s = NULL;

	if (source(&a, src, &rs.resource, &ss.scope) < 0 ||
	    (n && !(ss.spans = arena_get(&a, n, sizeof(*ss.spans)))) ||
	    (n && !(s = arena_get(&a, n, sizeof(*s)))))
		return pack(&a, &req.base, len);	/* frees, NULL */
	for (size_t i = 0; i < n; i++) {
		if (span(&a, spans[i], &s[i]) < 0)
			break;
		ss.spans[i] = &s[i];
	}
	ss.n_spans = n;
	rs.scope_spans = &ssp;
	rs.n_scope_spans = 1;
	req.resource_spans = &rsp;
	req.n_resource_spans = 1;
	return pack(&a, &req.base, len);
}

/* ---- metrics ---------------------------------------------------------- */

static bool same_metric(const struct otel_metric *x,
			const struct otel_metric *y)
{
	return x->kind == y->kind && !strcmp(x->name, y->name) &&
	       !strcmp(x->unit, y->unit);
}

static int number_point(struct arena *a, const struct otel_metric *m,
			PB_NUMDP *p)
{
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->attributes = key_values(a, &m->attrs, &p->n_attributes);
	/* A gauge has no start (metrics.proto: StartTimeUnixNano is
	 * ignored for gauges), a cumulative sum counts from it. */
	if (m->kind == OTEL_SUM)
		p->start_time_unix_nano = m->start_ns;
	p->time_unix_nano = m->time_ns;
	if (m->is_int) {
		p->value_case = PB_M(NUMBER_DATA_POINT__VALUE_AS_INT);
		p->as_int = m->value.i;
	} else {
		p->value_case = PB_M(NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
		p->as_double = m->value.d;
	}
	return a->oom ? -ENOMEM : 0;
}

static int histogram_point(struct arena *a, const struct otel_metric *m,
			   PB_HISTDP *p)
{
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	p->attributes = key_values(a, &m->attrs, &p->n_attributes);
	p->start_time_unix_nano = m->start_ns;
	p->time_unix_nano = m->time_ns;
	p->count = m->count;
	p->sum = m->sum;
	if (m->count) {
		p->min = m->min;
		p->max = m->max;
	}
	p->bucket_counts = m->counts;
	p->n_bucket_counts = m->counts ? m->nbounds + 1u : 0;
	p->explicit_bounds = m->bounds;
	p->n_explicit_bounds = m->bounds ? m->nbounds : 0;
	return a->oom ? -ENOMEM : 0;
}

/* Fill one Metric with every point that matches points[first]. */
static int metric(struct arena *a, struct otel_metric *const *points,
		  size_t n, size_t first, const size_t *group, PB_METRIC *out)
{
	const struct otel_metric *m = points[first];
	bool hist = m->kind == OTEL_HISTOGRAM;
	PB_NUMDP **nd = NULL, *nps = NULL;
	PB_HISTDP **hd = NULL, *hps = NULL;
	size_t k = 0, np = 0;

	for (size_t i = first; i < n; i++)
		np += group[i] == first;
	if (hist ? !(hd = arena_get(a, np, sizeof(*hd))) ||
		   !(hps = arena_get(a, np, sizeof(*hps))) :
		   !(nd = arena_get(a, np, sizeof(*nd))) ||
		   !(nps = arena_get(a, np, sizeof(*nps))))
		return -ENOMEM;
	opentelemetry__proto__metrics__v1__metric__init(out);
	out->name = m->name;
	out->unit = m->unit;
	out->description = m->desc;
	for (size_t i = first; i < n; i++) {
		if (group[i] != first)
			continue;
		if (hist) {
			hd[k] = &hps[k];
			if (histogram_point(a, points[i], hd[k]) < 0)
				return -ENOMEM;
		} else {
			nd[k] = &nps[k];
			if (number_point(a, points[i], nd[k]) < 0)
				return -ENOMEM;
		}
		k++;
	}
	if (m->kind == OTEL_SUM) {
		Opentelemetry__Proto__Metrics__V1__Sum *s;
		if (!(s = arena_get(a, 1, sizeof(*s))))
			return -ENOMEM;
		opentelemetry__proto__metrics__v1__sum__init(s);
		s->data_points = nd;
		s->n_data_points = np;
		s->aggregation_temporality = PB_CUMULATIVE;
		s->is_monotonic = 1;
		out->data_case = PB_M(METRIC__DATA_SUM);
		out->sum = s;
	} else if (m->kind == OTEL_GAUGE) {
		Opentelemetry__Proto__Metrics__V1__Gauge *g;
		if (!(g = arena_get(a, 1, sizeof(*g))))
			return -ENOMEM;
		opentelemetry__proto__metrics__v1__gauge__init(g);
		g->data_points = nd;
		g->n_data_points = np;
		out->data_case = PB_M(METRIC__DATA_GAUGE);
		out->gauge = g;
	} else {
		Opentelemetry__Proto__Metrics__V1__Histogram *h;
		if (!(h = arena_get(a, 1, sizeof(*h))))
			return -ENOMEM;
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->data_points = hd;
		h->n_data_points = np;
		h->aggregation_temporality = PB_CUMULATIVE;
		out->data_case = PB_M(METRIC__DATA_HISTOGRAM);
		out->histogram = h;
	}
	return 0;
}

uint8_t *otel_encode_metrics(const struct otel_source *src,
			     struct otel_metric *const *points, size_t n,
			     size_t *len)
{
	PB_REQ(Metrics) req = PB_REQ_INIT(METRICS);
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics
		rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT,
		*rmp = &rm;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics
		sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT,
		*smp = &sm;
	struct arena a = { 0 };
	size_t *group = NULL, nm = 0;
	PB_METRIC *ms = NULL;

	/* group[i]: index of the first point of i's Metric. Quadratic, but
	 * a batch is a few hundred points of a few dozen names. */
	if (source(&a, src, &rm.resource, &sm.scope) < 0 ||
	    (n && !(group = arena_get(&a, n, sizeof(*group)))) ||
	    (n && !(ms = arena_get(&a, n, sizeof(*ms)))) ||
	    (n && !(sm.metrics = arena_get(&a, n, sizeof(*sm.metrics)))))
		return pack(&a, &req.base, len);
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < i && !same_metric(points[j], points[i]))
			j++;
		group[i] = j < i ? group[j] : i;
	}
	for (size_t i = 0; i < n; i++) {	/* all groups known now */
		if (group[i] != i)
			continue;
		if (metric(&a, points, n, i, group, &ms[nm]) < 0)
			break;
		sm.metrics[nm] = &ms[nm];
		nm++;
	}
	sm.n_metrics = nm;
	rm.scope_metrics = &smp;
	rm.n_scope_metrics = 1;
	req.resource_metrics = &rmp;
	req.n_resource_metrics = 1;
	return pack(&a, &req.base, len);
}

/* ---- logs ------------------------------------------------------------- */

static const char *severity_text(enum otel_severity s)
{
	static const char *const names[] = {
		"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL",
	};

	return s >= 1 && s <= 24 ? names[(s - 1) / 4] : "";
}

static int log_record(struct arena *a, const struct otel_log *m, PB_LOG *l)
{
	opentelemetry__proto__logs__v1__log_record__init(l);
	l->time_unix_nano = m->time_ns;
	l->observed_time_unix_nano = m->observed_ns;
	l->severity_number = (int)m->severity;	/* same numbering */
	l->severity_text = (char *)severity_text(m->severity);
	if (!(l->body = arena_get(a, 1, sizeof(*l->body))))
		return -ENOMEM;
	opentelemetry__proto__common__v1__any_value__init(l->body);
	l->body->value_case =
		PB_C(ANY_VALUE__VALUE_STRING_VALUE);
	l->body->string_value = m->body;
	l->attributes = key_values(a, &m->attrs, &l->n_attributes);
	l->dropped_attributes_count = m->attrs.dropped;
	if (m->has_ctx) {
		l->trace_id = bytes(m->ctx.trace_id, OTEL_TRACE_ID_LEN);
		l->span_id = bytes(m->ctx.span_id, OTEL_SPAN_ID_LEN);
		l->flags = m->ctx.flags;
	}
	return a->oom ? -ENOMEM : 0;
}

uint8_t *otel_encode_logs(const struct otel_source *src,
			  struct otel_log *const *logs, size_t n, size_t *len)
{
	PB_REQ(Logs) req = PB_REQ_INIT(LOGS);
	Opentelemetry__Proto__Logs__V1__ResourceLogs
		rl = OPENTELEMETRY__PROTO__LOGS__V1__RESOURCE_LOGS__INIT,
		*rlp = &rl;
	Opentelemetry__Proto__Logs__V1__ScopeLogs
		sl = OPENTELEMETRY__PROTO__LOGS__V1__SCOPE_LOGS__INIT,
		*slp = &sl;
	struct arena a = { 0 };
	PB_LOG *l = NULL;

	if (source(&a, src, &rl.resource, &sl.scope) < 0 ||
	    (n && !(sl.log_records = arena_get(&a, n, sizeof(l)))) ||
	    (n && !(l = arena_get(&a, n, sizeof(*l)))))
		return pack(&a, &req.base, len);
	for (size_t i = 0; i < n; i++) {
		if (log_record(&a, logs[i], &l[i]) < 0)
			break;
		sl.log_records[i] = &l[i];
	}
	sl.n_log_records = n;
	rl.scope_logs = &slp;
	rl.n_scope_logs = 1;
	req.resource_logs = &rlp;
	req.n_resource_logs = 1;
	return pack(&a, &req.base, len);
}

/* ---- responses -------------------------------------------------------- */

/* The three ExportXServiceResponse messages have the same shape:
 * partial_success { int64 rejected_<items> = 1; string error_message =
 * 2; }, so one reader serves all; the generated structs differ only in
 * names, which is what the switch is for. */
int64_t otel_decode_response(enum otel_signal sig, const uint8_t *body,
			     size_t len, char *msg, size_t msglen)
{
#define PB_DESC(sig, x) \
	&opentelemetry__proto__collector__##sig##__v1__##x##__descriptor
	const ProtobufCMessageDescriptor *d[] = {
		[OTEL_TRACES] = PB_DESC(trace, export_trace_service_response),
		[OTEL_METRICS] = PB_DESC(metrics,
					 export_metrics_service_response),
		[OTEL_LOGS] = PB_DESC(logs, export_logs_service_response),
	};
	ProtobufCMessage *m;
	int64_t rejected = 0;
	const char *err = NULL;

	if (msglen)
		msg[0] = '\0';
	if (!len)
		return 0;		/* an empty message: all accepted */
	if ((unsigned)sig > OTEL_LOGS ||
	    !(m = protobuf_c_message_unpack(d[sig], NULL, len, body)))
		return -1;
	switch (sig) {
	case OTEL_TRACES: {
		PB_RESP(Trace) *r = (void *)m;
		if (r->partial_success) {
			rejected = r->partial_success->rejected_spans;
			err = r->partial_success->error_message;
		}
		break;
	}
	case OTEL_METRICS: {
		PB_RESP(Metrics) *r = (void *)m;
		if (r->partial_success) {
			rejected = r->partial_success->rejected_data_points;
			err = r->partial_success->error_message;
		}
		break;
	}
	case OTEL_LOGS: {
		PB_RESP(Logs) *r = (void *)m;
		if (r->partial_success) {
			rejected = r->partial_success->rejected_log_records;
			err = r->partial_success->error_message;
		}
		break;
	}
	}
	if (err && msglen) {
		strncpy(msg, err, msglen - 1);
		msg[msglen - 1] = '\0';
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rejected < 0 ? 0 : rejected;
}
