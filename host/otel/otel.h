/* otel.h: table of contents of host/otel/ — OpenTelemetry traces, metric
 * points and log records, exported to a collector over OTLP/HTTP with
 * protobuf bodies (OTLP 1.x "OTLP/HTTP", binary protobuf encoding).
 *
 * Three layers:
 *   model.c   plain in-memory spans, metric points and log records; ids,
 *             clocks, W3C traceparent
 *   encode.c  model -> ExportXServiceRequest bytes (the only protobuf-c
 *             user; message definitions in proto/otlp/)
 *   export.c  an exporter (one per run): a bounded queue drained by one
 *             background thread that batches and retries with backoff
 *   transport.c  one POST over http or https (host/http/tls.c);
 *             endpoint and header settings
 *
 * Telemetry must never hurt a run: nothing here exits, emitting never
 * blocks on the network, every function accepts NULL where it takes an
 * object (out of memory degrades to "not recorded"), and what is lost is
 * counted and reported once, at otel_shutdown.
 */
#ifndef VOIDBOX_OTEL_H
#define VOIDBOX_OTEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OTEL_TRACE_ID_LEN	16
#define OTEL_SPAN_ID_LEN	8
#define OTEL_TRACEPARENT_LEN	55	/* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define OTEL_FLAG_SAMPLED	0x01	/* W3C trace-flags bit 0 */

/* Limits, after the OpenTelemetry SDK defaults (AttributeCountLimit,
 * EventCountLimit). What goes over is counted in the dropped_* fields
 * that OTLP carries, so a backend shows that something is missing. */
#define OTEL_MAX_ATTRS		128	/* per span, event, point, record */
#define OTEL_MAX_EVENTS		128	/* per span */
#define OTEL_MAX_VALUE		8192	/* bytes of a string value or body */
#define OTEL_MAX_KEY		256	/* bytes of an attribute key */
#define OTEL_MAX_BOUNDS		64	/* histogram explicit bounds */

/* ---- model.c ------------------------------------------------------------
 *
 * The structs are plain data: read any field, and set the scalar ones
 * (times, kind, severity) directly before handing the object to the
 * exporter. Strings are owned copies, made valid UTF-8 (invalid bytes and
 * NUL become '?') and cut at a character boundary to the limits above;
 * protobuf strings must be UTF-8, and collectors reject bodies that are
 * not.
 */

/* A span context: what a traceparent carries. */
struct otel_ctx {
	uint8_t trace_id[OTEL_TRACE_ID_LEN];
	uint8_t span_id[OTEL_SPAN_ID_LEN];
	uint8_t flags;			/* W3C trace-flags */
};

enum otel_type { OTEL_STR, OTEL_INT, OTEL_DOUBLE, OTEL_BOOL };

struct otel_attr {
	char *key;
	enum otel_type type;
	union {
		char *s;
		int64_t i;
		double d;
		bool b;
	} v;
};

struct otel_attrs {
	struct otel_attr *v;
	unsigned n, cap;
	unsigned dropped;		/* over OTEL_MAX_ATTRS, or no memory */
};

/* Set key to a value; a key already present is overwritten (OTel keys are
 * unique). a == NULL is a no-op. The string setters copy (at most len
 * bytes for _strn) and return true when the value was cut to
 * OTEL_MAX_VALUE, so the caller can add its own "truncated" flag. */
bool otel_attr_str(struct otel_attrs *a, const char *key, const char *val);
bool otel_attr_strn(struct otel_attrs *a, const char *key, const char *val,
		    size_t len);
void otel_attr_int(struct otel_attrs *a, const char *key, int64_t val);
void otel_attr_double(struct otel_attrs *a, const char *key, double val);
void otel_attr_bool(struct otel_attrs *a, const char *key, bool val);
/* Deep-copy src into the empty dst. 0 or -ENOMEM (dst then empty). */
int otel_attrs_copy(struct otel_attrs *dst, const struct otel_attrs *src);
/* Free the contents and leave a valid empty set. NULL is ignored. */
void otel_attrs_free(struct otel_attrs *a);

enum otel_kind {			/* = Span.SpanKind */
	OTEL_KIND_INTERNAL = 1, OTEL_KIND_SERVER, OTEL_KIND_CLIENT,
	OTEL_KIND_PRODUCER, OTEL_KIND_CONSUMER,
};
enum otel_status {			/* = Status.StatusCode */
	OTEL_STATUS_UNSET, OTEL_STATUS_OK, OTEL_STATUS_ERROR,
};

struct otel_event {
	char *name;
	uint64_t time_ns;		/* Unix epoch ns */
	struct otel_attrs attrs;
};

struct otel_span {
	struct otel_ctx ctx;		/* trace id, this span's id, flags */
	uint8_t parent_id[OTEL_SPAN_ID_LEN];	/* all zero: a root span */
	char *name;
	enum otel_kind kind;
	uint64_t start_ns, end_ns;	/* Unix epoch ns */
	struct otel_attrs attrs;
	struct otel_event **events;
	unsigned nevents, events_cap, dropped_events;
	enum otel_status status;
	char *status_msg;		/* only sent with OTEL_STATUS_ERROR */
};

/* Start a span now: a child of parent (same trace, parent's flags), or
 * the root of a new sampled trace when parent is NULL or invalid. parent
 * may be another span's ctx or one from otel_traceparent_parse. NULL when
 * out of memory; every span function accepts NULL. Caller frees with
 * otel_span_free or gives it to otel_emit_span. */
struct otel_span *otel_span_start(const char *name,
				  const struct otel_ctx *parent);
/* Add an event timed now; returns its attribute set for otel_attr_*, or
 * NULL (counted in dropped_events) past OTEL_MAX_EVENTS. */
struct otel_attrs *otel_span_event(struct otel_span *s, const char *name);
/* msg is copied, and kept only for OTEL_STATUS_ERROR (OTLP semantics). */
void otel_span_set_status(struct otel_span *s, enum otel_status st,
			  const char *msg);
/* Set end_ns to now, once; later calls keep the first end. */
void otel_span_end(struct otel_span *s);
void otel_span_free(struct otel_span *s);

/* Metric points. A sum is a monotonic counter with cumulative temporality
 * since start_ns; a gauge is a current value; a histogram counts observed
 * values into explicit buckets (OTLP: bucket i holds values in
 * (bounds[i-1], bounds[i]], the last bucket everything above). */
enum otel_metric_kind { OTEL_SUM, OTEL_GAUGE, OTEL_HISTOGRAM };

struct otel_metric {
	char *name, *unit, *desc;	/* unit in UCUM: "s", "By", "{token}" */
	enum otel_metric_kind kind;
	bool is_int;			/* sum/gauge: value.i, else value.d */
	union {
		int64_t i;
		double d;
	} value;
	uint64_t start_ns, time_ns;	/* Unix epoch ns */
	struct otel_attrs attrs;
	/* OTEL_HISTOGRAM */
	double *bounds;			/* nbounds, strictly increasing */
	uint64_t *counts;		/* nbounds + 1 */
	unsigned nbounds;
	uint64_t count;
	double sum, min, max;
};

/* A point timed now, start_ns the first time this process made an otel
 * object (set it for a narrower interval, e.g. a stage's start). unit and
 * desc may be NULL. NULL when out of memory. */
struct otel_metric *otel_metric_new(enum otel_metric_kind kind,
				    const char *name, const char *unit,
				    const char *desc);
void otel_metric_set_int(struct otel_metric *m, int64_t v);
void otel_metric_set_double(struct otel_metric *m, double v);
/* Histogram only: copy n (<= OTEL_MAX_BOUNDS) strictly increasing finite
 * bounds and reset the counts. 0 or -EINVAL / -ENOMEM. */
int otel_metric_set_bounds(struct otel_metric *m, const double *bounds,
			   unsigned n);
/* Histogram only: count one value (NaN is ignored). */
void otel_metric_observe(struct otel_metric *m, double v);
void otel_metric_free(struct otel_metric *m);

/* = SeverityNumber: the first of each range of four. */
enum otel_severity {
	OTEL_SEV_TRACE = 1, OTEL_SEV_DEBUG = 5, OTEL_SEV_INFO = 9,
	OTEL_SEV_WARN = 13, OTEL_SEV_ERROR = 17, OTEL_SEV_FATAL = 21,
};

struct otel_log {
	uint64_t time_ns, observed_ns;	/* Unix epoch ns */
	enum otel_severity severity;
	char *body;
	struct otel_attrs attrs;
	bool has_ctx;			/* correlated with a span */
	struct otel_ctx ctx;
};

/* A record timed now; ctx (copied, may be NULL) ties it to a span. */
struct otel_log *otel_log_new(enum otel_severity sev, const char *body,
			      const struct otel_ctx *ctx);
void otel_log_free(struct otel_log *l);

/* Unix epoch ns (CLOCK_REALTIME), the clock OTLP timestamps use; and
 * CLOCK_MONOTONIC ns, for deadlines a clock step must not move. */
uint64_t otel_now_ns(void);
uint64_t otel_mono_ns(void);
/* n random bytes from getrandom(2), never all zero (an all-zero trace or
 * span id is invalid). */
void otel_random_id(uint8_t *id, size_t n);
/* Lowercase hex of n bytes into out (2n + 1 bytes); returns out. */
char *otel_hex(const uint8_t *p, size_t n, char *out);

/* W3C Trace Context §3.2 traceparent. parse: 0, or -EINVAL for anything
 * the spec says to ignore (bad length or hex, version ff, all-zero ids);
 * surrounding blanks are allowed; later versions are read as version 00.
 * format: writes OTEL_TRACEPARENT_LEN + 1 bytes (version 00) and
 * returns out. */
int otel_traceparent_parse(const char *s, struct otel_ctx *out);
char *otel_traceparent_format(const struct otel_ctx *c,
			      char out[OTEL_TRACEPARENT_LEN + 1]);

/* ---- encode.c ---------------------------------------------------------- */

enum otel_signal { OTEL_TRACES, OTEL_METRICS, OTEL_LOGS };

/* Who is reporting: Resource attributes and the InstrumentationScope. */
struct otel_source {
	const struct otel_attrs *resource;	/* may be NULL */
	const char *scope_name, *scope_version;	/* may be NULL */
};

/* Encode one ExportTraceServiceRequest / ExportMetricsServiceRequest /
 * ExportLogsServiceRequest holding n items (points of the same name,
 * kind and unit share one Metric). Reads the items, does not keep them.
 * Returns a malloc'd buffer (caller frees) of *len bytes, or NULL when
 * out of memory. */
uint8_t *otel_encode_traces(const struct otel_source *src,
			    struct otel_span *const *spans, size_t n,
			    size_t *len);
uint8_t *otel_encode_metrics(const struct otel_source *src,
			     struct otel_metric *const *points, size_t n,
			     size_t *len);
uint8_t *otel_encode_logs(const struct otel_source *src,
			  struct otel_log *const *logs, size_t n, size_t *len);
/* Read an ExportXServiceResponse body. Returns the items the collector
 * rejected (partial_success, 0 when none), with its error_message copied
 * into msg; -1 when the body does not decode. */
int64_t otel_decode_response(enum otel_signal sig, const uint8_t *body,
			     size_t len, char *msg, size_t msglen);

/* ---- export.c ----------------------------------------------------------
 *
 * An exporter belongs to whoever started it (a run: host/run/); there may
 * be several in a process, each with its own endpoint, queue and thread,
 * sharing nothing. otel_init and otel_shutdown come in pairs from the
 * owner; otel_emit_*, otel_flush and otel_get_stats may be called from any
 * thread between them. A NULL exporter is telemetry off: emits free the
 * item and return false, a flush returns at once, stats are zero.
 */
struct otel_config {
	/* NULL: the environment. endpoint: VOIDBOX_OTLP_ENDPOINT, else
	 * OTEL_EXPORTER_OTLP_ENDPOINT; a base URL "http[s]://host[:port]
	 * [/prefix]" to which /v1/traces, /v1/metrics, /v1/logs are added.
	 * headers: VOIDBOX_OTLP_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS,
	 * "k=v,k2=v2" with URL-encoded values. ca_path: PEM bundle for
	 * https, else OTEL_EXPORTER_OTLP_CERTIFICATE, else tls.c's default
	 * lookup. */
	const char *endpoint, *headers, *ca_path;
	const struct otel_attrs *resource;	/* copied; service.name is
						 * "voidbox" unless set */
	const char *scope_version;	/* scope name is "voidbox" */
	/* 0 = default (in parentheses) */
	unsigned queue_max;		/* items waiting (2048) */
	unsigned batch_max;		/* items per request (512) */
	unsigned batch_delay_ms;	/* oldest item waits at most (2000) */
	unsigned timeout_ms;		/* per request (10000, or
					 * OTEL_EXPORTER_OTLP_TIMEOUT) */
	unsigned max_attempts;		/* per batch (5) */
	unsigned backoff_ms;		/* first retry delay, doubling (500) */
	unsigned retry_max_ms;		/* per batch, all attempts (30000) */
};

/* Item counts. queued = sent + failed + (dropped after queueing) + those
 * still queued or in flight. */
struct otel_stats {
	uint64_t queued;		/* accepted by otel_emit_* */
	uint64_t sent;			/* acknowledged by the collector */
	uint64_t dropped;		/* queue full, or never sent before
					 * the shutdown deadline */
	uint64_t failed;		/* refused, rejected, out of retries */
	uint64_t requests, retries;	/* HTTP requests; of them, retries */
	char last_error[192];		/* "" when none */
};

/* Start an exporter and its thread. Returns 1 with *ex set (exporting),
 * 0 with *ex NULL when no endpoint is configured (telemetry off), -1 with
 * *ex NULL and a message in err for a bad endpoint, header or option, or
 * no thread. */
struct otel_exporter;
int otel_init(const struct otel_config *cfg, struct otel_exporter **ex,
	      char *err, size_t errlen);
/* Hand an item to the exporter, which frees it. Never blocks on I/O (only
 * on the exporter's lock, held for a few instructions). false when it was
 * not queued: ex NULL, shutting down, or the queue full (counted as
 * dropped). A NULL item is ignored. */
bool otel_emit_span(struct otel_exporter *ex, struct otel_span *s);
bool otel_emit_metric(struct otel_exporter *ex, struct otel_metric *m);
bool otel_emit_log(struct otel_exporter *ex, struct otel_log *l);
/* Send everything queued so far now, and wait until it is sent, failed
 * or dropped, for at most timeout_ms. 0, or -ETIMEDOUT. 0 when off. */
int otel_flush(struct otel_exporter *ex, unsigned timeout_ms);
/* A snapshot of the counters (all zero when off). */
void otel_get_stats(struct otel_exporter *ex, struct otel_stats *st);
/* Flush with a deadline of timeout_ms, then give up on what is left:
 * abort the request in flight and drop the queue. Returns within about
 * timeout_ms + 100 ms whatever the collector does (a thread stuck in a
 * DNS lookup is left behind, detached, and frees the exporter itself).
 * Logs one warning line when items were dropped or failed. Final counters
 * into st (may be NULL). Frees ex: no emit may follow. NULL is fine. */
void otel_shutdown(struct otel_exporter *ex, unsigned timeout_ms,
		   struct otel_stats *st);

/* ---- transport.c -------------------------------------------------------
 *
 * One OTLP/HTTP POST, for export.c; and the parsing of the settings,
 * also for `voidbox validate` and the tests.
 */
struct otel_endpoint {
	bool https;
	char host[256];			/* no brackets around IPv6 */
	char port[8];
	char hostport[272];		/* for the Host header and messages */
	char prefix[512];		/* path before /v1/..., no trailing / */
};
/* "http[s]://host[:port][/prefix]" (no user info, query or fragment;
 * port defaults to 80/443). 0, or -1 with err. */
int otel_endpoint_parse(const char *url, struct otel_endpoint *ep,
			char *err, size_t errlen);
/* "k=v,k2=v%20x" -> "k: v\r\nk2: v x\r\n" in *out (malloc'd, caller
 * frees; "" for an empty spec). Keys must be HTTP tokens and not one the
 * exporter sets (Host, Content-Type, ...); values are percent-decoded and
 * may not hold control characters. 0, or -1 with err. */
int otel_headers_parse(const char *spec, char **out, char *err,
		       size_t errlen);

/* Told each socket a POST opens (fd >= 0) and, before it is closed, -1;
 * returning false at open cancels the POST. The owner may shutdown(2)
 * the fd meanwhile (from another thread) to end the POST at once. */
typedef bool (*otel_track_fn)(void *ctx, int fd);

struct otel_target {
	struct otel_endpoint ep;
	const char *headers;		/* from otel_headers_parse */
	const char *ca_path;		/* NULL: tls.c's default lookup */
	const char *version;		/* for User-Agent */
	unsigned timeout_ms;		/* the whole POST */
	otel_track_fn track;		/* may be NULL */
	void *track_ctx;
};

struct otel_reply {
	int status;			/* HTTP status, or -1: no answer */
	bool permanent;			/* no answer, and a retry cannot help
					 * (certificate, CA bundle) */
	unsigned retry_after_ms;	/* Retry-After (delta-seconds), or 0 */
	int64_t rejected;		/* 2xx: partial_success items */
	char msg[128];			/* 2xx: partial_success message */
};

/* POST body (len bytes) to <endpoint>/v1/<signal> and read the answer
 * into r; on a transport failure r->status is -1 and err says why.
 * Blocks for up to t->timeout_ms (or until the tracked fd is shut
 * down). */
void otel_post(const struct otel_target *t, enum otel_signal sig,
	       const uint8_t *body, size_t len, struct otel_reply *r,
	       char *err, size_t errlen);

#endif
