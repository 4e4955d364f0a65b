/* export.c: an OTLP exporter: a bounded queue, one background thread,
 * batching, retries (contract in otel.h). Each run owns its own exporter;
 * several may live in one process, and they share nothing.
 *
 * Retries follow the OTLP specification ("OTLP/HTTP", "Failures"): 429,
 * 502, 503 and 504 are retried, honouring Retry-After, else with
 * exponential backoff and jitter; a connection failure is retried like a
 * 503; any other status drops the batch. Each batch gets a bounded number
 * of attempts and of total time, so one bad batch cannot hold the queue.
 *
 * Threads. Callers only append to the queue, under the exporter's `lock`, which
 * is never held across I/O, so a dead or slow collector cannot stall them: a full
 * queue drops (and counts) instead of waiting. The exporter thread makes
 * every network call (transport.c) without the lock. otel_shutdown drains
 * with a deadline; when it passes, `abort` is set and the socket in
 * flight is shutdown(2), which wakes any poll or recv on it (tls.c's
 * too), so no collector can hold the caller past the deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "otel.h"
#include "../util/util.h"

#define BACKOFF_MAX_MS	5000u
#define ABORT_GRACE_MS	100u		/* after the deadline, for the thread */
#define THREAD_STACK	(256u << 10)	/* getaddrinfo + BearSSL handshake */

struct item {
	enum otel_signal sig;
	void *p;
};

struct otel_exporter {
	/* set by otel_init, then read-only */
	struct otel_target target;	/* points at the three strings: */
	char *headers, *ca_path, *version;
	struct otel_attrs resource;
	struct otel_source src;
	unsigned queue_max, batch_max, batch_delay_ms, max_attempts,
		 backoff_ms, retry_max_ms;
	pthread_t tid;
	struct item *batch;		/* thread's: batch_max */
	void **by_sig;			/* thread's: batch_max */
	/* Guards everything below. It lives in the exporter: a thread that
	 * otel_shutdown left behind frees the whole exporter, lock
	 * included, when it gets out, and nobody else touches it by then. */
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* to the thread: work, flush, stop */
	pthread_cond_t idle;		/* from the thread: progress, exit */
	struct item *q;			/* ring of queue_max */
	unsigned qhead, qlen;
	uint64_t oldest_ns;		/* monotonic enqueue time of q[qhead] */
	uint64_t offered;		/* emits that reached us, queued or
					 * not */
	uint64_t done;			/* queued items now sent, failed or
					 * dropped */
	uint64_t flush_target;		/* send at once until done reaches it */
	bool stop, abort, finished, orphan;
	unsigned users;			/* otel_flush callers waiting */
	int inflight_fd;
	struct otel_stats st;
};

/* Wait on c (with ex->lock held) until deadline_ns; ETIMEDOUT after it. */
static int wait_until(struct otel_exporter *ex, pthread_cond_t *c,
		      uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
			       .tv_nsec = (long)(deadline_ns % 1000000000u) };

	return pthread_cond_timedwait(c, &ex->lock, &ts);
}

static void item_free(enum otel_signal sig, void *p)
{
	if (sig == OTEL_TRACES)
		otel_span_free(p);
	else if (sig == OTEL_METRICS)
		otel_metric_free(p);
	else
		otel_log_free(p);
}

/* ---- the exporter thread ---------------------------------------------- */

/* otel_track_fn: the socket in flight, for an abort to shutdown(2). Both
 * sides hold the lock, so an abort never hits a reused fd number. */
static bool track_fd(void *ctx, int fd)
{
	struct otel_exporter *ex = ctx;
	bool ok;

	pthread_mutex_lock(&ex->lock);
	if ((ok = fd < 0 || !ex->abort))
		ex->inflight_fd = fd;
	pthread_mutex_unlock(&ex->lock);
	return ok;
}

/* n items of a batch leave the pipeline: sent ones and failed ones. */
static void finish(struct otel_exporter *ex, size_t sent, size_t failed,
		   const char *err)
{
	pthread_mutex_lock(&ex->lock);
	ex->st.sent += sent;
	ex->st.failed += failed;
	ex->done += sent + failed;
	if (failed && err)
		snprintf(ex->st.last_error, sizeof(ex->st.last_error), "%s",
			 err);
	pthread_cond_broadcast(&ex->idle);
	pthread_mutex_unlock(&ex->lock);
	if (failed)
		log_debug("otlp: %zu items not delivered: %s", failed, err);
}

/* Sleep ms between attempts; false when an abort cut it short. */
static bool pause_retry(struct otel_exporter *ex, unsigned ms)
{
	uint64_t deadline = otel_mono_ns() + ms * 1000000ull;
	bool ok;

	pthread_mutex_lock(&ex->lock);
	while (!ex->abort && wait_until(ex, &ex->wake, deadline) != ETIMEDOUT)
		;
	ok = !ex->abort;
	ex->st.retries += ok;
	pthread_mutex_unlock(&ex->lock);
	return ok;
}

static void send_batch(struct otel_exporter *ex, enum otel_signal sig,
		       void **items, size_t n)
{
	uint64_t t0 = otel_mono_ns();
	unsigned delay = ex->backoff_ms;
	char err[160] = "", retry_err[192];
	uint8_t *body;
	size_t len;

	if (sig == OTEL_TRACES)
		body = otel_encode_traces(&ex->src, (void *)items, n, &len);
	else if (sig == OTEL_METRICS)
		body = otel_encode_metrics(&ex->src, (void *)items, n, &len);
	else
		body = otel_encode_logs(&ex->src, (void *)items, n, &len);
	if (!body) {
		finish(ex, 0, n, "out of memory encoding a batch");
		return;
	}
	for (unsigned attempt = 1;; attempt++) {
		struct otel_reply r;
		otel_post(&ex->target, sig, body, len, &r, err, sizeof(err));
		pthread_mutex_lock(&ex->lock);
		ex->st.requests++;
		pthread_mutex_unlock(&ex->lock);
		if (r.status / 100 == 2) {
			size_t rej = r.rejected > (int64_t)n ? n :
				     (size_t)r.rejected;
			snprintf(err, sizeof(err), "collector rejected %zu "
				 "items: %s", rej, r.msg);
			finish(ex, n - rej, rej, err);
			break;
		}
		if (r.status > 0)
			snprintf(err, sizeof(err), "HTTP %d from %s%s/v1/...",
				 r.status, ex->target.ep.hostport,
				 ex->target.ep.prefix);
		bool retry = r.status < 0 ? !r.permanent :
			     r.status == 429 || r.status == 502 ||
			     r.status == 503 || r.status == 504;
		if (!retry || attempt >= ex->max_attempts) {
			finish(ex, 0, n, err);
			break;
		}
		/* Jitter in [delay/2, delay] so that many exporters behind
		 * one overloaded collector do not retry in step. */
		uint32_t rnd;
		otel_random_id((uint8_t *)&rnd, sizeof(rnd));
		unsigned wait = delay / 2 + rnd % (delay / 2 + 1);
		if (r.retry_after_ms > wait)
			wait = r.retry_after_ms;
		if ((otel_mono_ns() - t0) / 1000000 + wait > ex->retry_max_ms) {
			snprintf(retry_err, sizeof(retry_err),
				 "%s (retry time spent)", err);
			finish(ex, 0, n, retry_err);
			break;
		}
		if (!pause_retry(ex, wait)) {
			snprintf(retry_err, sizeof(retry_err),
				 "%s (shutdown deadline)", err);
			finish(ex, 0, n, retry_err);
			break;
		}
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	}
	free(body);
}

/* After an abort, the rest of a batch is never sent: n dropped. */
static bool aborted(struct otel_exporter *ex, size_t n)
{
	bool stop;

	pthread_mutex_lock(&ex->lock);
	if ((stop = ex->abort)) {
		ex->st.dropped += n;
		ex->done += n;
	}
	pthread_mutex_unlock(&ex->lock);
	return stop;
}

/* A batch is due: full, flushed, stopping, or its oldest item waited. */
static bool batch_due(const struct otel_exporter *ex)
{
	return ex->qlen && (ex->stop || ex->qlen >= ex->batch_max ||
			    ex->flush_target > ex->done ||
			    otel_mono_ns() >= ex->oldest_ns +
			    ex->batch_delay_ms * 1000000ull);
}

static void exporter_free(struct otel_exporter *ex);

static void *exporter_main(void *arg)
{
	struct otel_exporter *ex = arg;
	bool orphan;

	pthread_mutex_lock(&ex->lock);
	while (!ex->abort) {
		if (!batch_due(ex)) {
			if (ex->stop && !ex->qlen)
				break;
			if (ex->qlen)
				wait_until(ex, &ex->wake, ex->oldest_ns +
					   ex->batch_delay_ms * 1000000ull);
			else
				pthread_cond_wait(&ex->wake, &ex->lock);
			continue;
		}
		unsigned n = ex->qlen < ex->batch_max ? ex->qlen :
			     ex->batch_max;
		for (unsigned i = 0; i < n; i++)
			ex->batch[i] = ex->q[(ex->qhead + i) % ex->queue_max];
		ex->qhead = (ex->qhead + n) % ex->queue_max;
		ex->qlen -= n;
		ex->oldest_ns = otel_mono_ns();	/* the rest waits anew */
		pthread_mutex_unlock(&ex->lock);
		for (int sig = OTEL_TRACES; sig <= OTEL_LOGS; sig++) {
			size_t k = 0;
			for (unsigned i = 0; i < n; i++)
				if (ex->batch[i].sig == (enum otel_signal)sig)
					ex->by_sig[k++] = ex->batch[i].p;
			if (k && !aborted(ex, k))
				send_batch(ex, sig, ex->by_sig, k);
			for (size_t i = 0; i < k; i++)
				item_free(sig, ex->by_sig[i]);
		}
		pthread_mutex_lock(&ex->lock);
	}
	/* Aborted, or stopped with an empty queue: what is left was never
	 * sent. Nobody enqueues any more (stop is set). */
	for (; ex->qlen; ex->qlen--, ex->qhead = (ex->qhead + 1) %
						 ex->queue_max) {
		item_free(ex->q[ex->qhead].sig, ex->q[ex->qhead].p);
		ex->st.dropped++;
		ex->done++;
	}
	ex->finished = true;
	pthread_cond_broadcast(&ex->idle);
	orphan = ex->orphan;
	pthread_mutex_unlock(&ex->lock);
	if (orphan)
		exporter_free(ex);	/* otel_shutdown gave up on us */
	return NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void exporter_free(struct otel_exporter *ex)
{
	if (!ex)
		return;
	for (unsigned i = 0; i < ex->qlen; i++) {
		struct item *it = &ex->q[(ex->qhead + i) % ex->queue_max];
		item_free(it->sig, it->p);
	}
	pthread_cond_destroy(&ex->wake);
	pthread_cond_destroy(&ex->idle);
	pthread_mutex_destroy(&ex->lock);
	otel_attrs_free(&ex->resource);
	free(ex->q);
	free(ex->batch);
	free(ex->by_sig);
	free(ex->headers);
	free(ex->ca_path);
	free(ex->version);
	free(ex);
}

static unsigned dflt(unsigned v, unsigned d)
{
	return v ? v : d;
}

/* Everything but the thread; -1 with err. */
static int exporter_setup(struct otel_exporter *ex, const struct otel_config *cfg,
			  const char *endpoint, char *err, size_t errlen)
{
	const char *h = cfg->headers ? cfg->headers :
			env("VOIDBOX_OTLP_HEADERS") ?
			env("VOIDBOX_OTLP_HEADERS") :
			env("OTEL_EXPORTER_OTLP_HEADERS");
	const char *ca = cfg->ca_path ? cfg->ca_path :
			 env("OTEL_EXPORTER_OTLP_CERTIFICATE");
	const char *t = env("OTEL_EXPORTER_OTLP_TIMEOUT");	/* ms */
	struct otel_target *tg = &ex->target;
	pthread_condattr_t mono;

	/* Deadlines are monotonic: a wall-clock step must neither fire
	 * nor stall a batch timer or the shutdown deadline. */
	pthread_condattr_init(&mono);
	pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
	pthread_cond_init(&ex->wake, &mono);
	pthread_cond_init(&ex->idle, &mono);
	pthread_mutex_init(&ex->lock, NULL);
	pthread_condattr_destroy(&mono);
	ex->inflight_fd = -1;
	if (otel_endpoint_parse(endpoint, &tg->ep, err, errlen) < 0 ||
	    otel_headers_parse(h ? h : "", &ex->headers, err, errlen) < 0)
		return -1;
	ex->queue_max = dflt(cfg->queue_max, 2048);
	ex->batch_max = dflt(cfg->batch_max, 512);
	if (ex->batch_max > ex->queue_max)
		ex->batch_max = ex->queue_max;
	ex->batch_delay_ms = dflt(cfg->batch_delay_ms, 2000);
	ex->max_attempts = dflt(cfg->max_attempts, 5);
	ex->backoff_ms = dflt(cfg->backoff_ms, 500);
	ex->retry_max_ms = dflt(cfg->retry_max_ms, 30000);
	if ((ca && !(ex->ca_path = strdup(ca))) ||
	    !(ex->version = strdup(cfg->scope_version ? cfg->scope_version :
				   "0")) ||
	    otel_attrs_copy(&ex->resource, cfg->resource) < 0 ||
	    !(ex->q = calloc(ex->queue_max, sizeof(*ex->q))) ||
	    !(ex->batch = calloc(ex->batch_max, sizeof(*ex->batch))) ||
	    !(ex->by_sig = calloc(ex->batch_max, sizeof(*ex->by_sig)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	tg->headers = ex->headers;
	tg->ca_path = ex->ca_path;
	tg->version = ex->version;
	tg->timeout_ms = dflt(cfg->timeout_ms, t ? (unsigned)atoi(t) : 0);
	tg->timeout_ms = dflt(tg->timeout_ms, 10000);
	tg->track = track_fd;
	tg->track_ctx = ex;
	bool named = false;
	for (unsigned i = 0; i < ex->resource.n; i++)
		named |= !strcmp(ex->resource.v[i].key, "service.name");
	if (!named)
		otel_attr_str(&ex->resource, "service.name", "voidbox");
	ex->src = (struct otel_source){ .resource = &ex->resource,
					.scope_name = "voidbox",
					.scope_version = ex->version };
	return 0;
}

/* ---- API -------------------------------------------------------------- */

int otel_init(const struct otel_config *cfg, struct otel_exporter **out,
	      char *err, size_t errlen)
{
	static const struct otel_config none;
	const char *endpoint;
	struct otel_exporter *ex;
	pthread_attr_t attr;
	sigset_t all, old;
	int e;

	*out = NULL;
	if (!cfg)
		cfg = &none;
	endpoint = cfg->endpoint ? cfg->endpoint :
		   env("VOIDBOX_OTLP_ENDPOINT") ? env("VOIDBOX_OTLP_ENDPOINT") :
		   env("OTEL_EXPORTER_OTLP_ENDPOINT");
	if (!endpoint || !*endpoint)
		return 0;
	if (!(ex = calloc(1, sizeof(*ex)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (exporter_setup(ex, cfg, endpoint, err, errlen) < 0)
		goto err_free;
	/* The thread takes no signals: they stay with the threads that
	 * wait for them (signalfd, sigwait, handlers in the main loop). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	e = pthread_create(&ex->tid, &attr, exporter_main, ex);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		snprintf(err, errlen, "OTLP exporter thread: %s", strerror(e));
		goto err_free;
	}
	*out = ex;
	return 1;
err_free:
	exporter_free(ex);
	return -1;
}

static bool enqueue(struct otel_exporter *ex, enum otel_signal sig, void *p)
{
	bool ok = false;

	if (!p)
		return false;
	if (!ex) {
		item_free(sig, p);	/* telemetry off */
		return false;
	}
	pthread_mutex_lock(&ex->lock);
	ex->offered++;
	if (!ex->stop && ex->qlen < ex->queue_max) {
		ex->q[(ex->qhead + ex->qlen) % ex->queue_max] =
			(struct item){ .sig = sig, .p = p };
		if (!ex->qlen++)
			ex->oldest_ns = otel_mono_ns();
		ex->st.queued++;
		/* Wake the thread only when its plan changes: a first item
		 * starts the batch timer, a full batch goes now. */
		if (ex->qlen == 1 || ex->qlen == ex->batch_max)
			pthread_cond_signal(&ex->wake);
		ok = true;
	} else {
		ex->st.dropped++;
	}
	pthread_mutex_unlock(&ex->lock);
	if (!ok)
		item_free(sig, p);	/* outside the lock: may be big */
	return ok;
}

bool otel_emit_span(struct otel_exporter *ex, struct otel_span *s)
{
	return enqueue(ex, OTEL_TRACES, s);
}

bool otel_emit_metric(struct otel_exporter *ex, struct otel_metric *m)
{
	return enqueue(ex, OTEL_METRICS, m);
}

bool otel_emit_log(struct otel_exporter *ex, struct otel_log *l)
{
	return enqueue(ex, OTEL_LOGS, l);
}

int otel_flush(struct otel_exporter *ex, unsigned timeout_ms)
{
	uint64_t deadline = otel_mono_ns() + timeout_ms * 1000000ull, target;
	int r;

	if (!ex)
		return 0;
	pthread_mutex_lock(&ex->lock);
	target = ex->st.queued;
	if (ex->flush_target < target)
		ex->flush_target = target;
	pthread_cond_signal(&ex->wake);
	ex->users++;	/* otel_shutdown frees ex after we leave */
	while (ex->done < target && !ex->finished && !ex->abort &&
	       wait_until(ex, &ex->idle, deadline) != ETIMEDOUT)
		;
	r = ex->done < target ? -ETIMEDOUT : 0;
	ex->users--;
	pthread_cond_broadcast(&ex->idle);
	pthread_mutex_unlock(&ex->lock);
	return r;
}

void otel_get_stats(struct otel_exporter *ex, struct otel_stats *st)
{
	if (!ex) {
		*st = (struct otel_stats){ 0 };
		return;
	}
	pthread_mutex_lock(&ex->lock);
	*st = ex->st;
	pthread_mutex_unlock(&ex->lock);
}

void otel_shutdown(struct otel_exporter *ex, unsigned timeout_ms,
		   struct otel_stats *out)
{
	uint64_t deadline = otel_mono_ns() + timeout_ms * 1000000ull;
	struct otel_stats st;
	uint64_t offered;
	pthread_t tid;
	bool finished;

	if (!ex) {
		if (out)
			*out = (struct otel_stats){ 0 };
		return;
	}
	pthread_mutex_lock(&ex->lock);
	ex->stop = true;		/* from now on emits drop */
	pthread_cond_signal(&ex->wake);
	while (!ex->finished &&
	       wait_until(ex, &ex->idle, deadline) != ETIMEDOUT)
		;
	if (!ex->finished) {
		ex->abort = true;
		if (ex->inflight_fd >= 0)
			shutdown(ex->inflight_fd, SHUT_RDWR);
		pthread_cond_broadcast(&ex->wake);
		pthread_cond_broadcast(&ex->idle);	/* flushers give up */
		deadline = otel_mono_ns() + ABORT_GRACE_MS * 1000000ull;
		while (!ex->finished &&
		       wait_until(ex, &ex->idle, deadline) != ETIMEDOUT)
			;
	}
	/* A waiting otel_flush holds ex; finished or abort lets it out. */
	while (ex->users)
		pthread_cond_wait(&ex->idle, &ex->lock);
	st = ex->st;
	/* Whatever the thread still holds never reached the collector. */
	st.dropped += st.queued - ex->done;
	offered = ex->offered;
	finished = ex->finished;
	tid = ex->tid;
	ex->orphan = !finished;
	pthread_mutex_unlock(&ex->lock);
	/* An orphan may free ex from here on: only the copies are used. */
	if (finished) {
		pthread_join(tid, NULL);
		exporter_free(ex);
	} else {
		/* Stuck where shutdown(2) cannot reach (a DNS lookup): it
		 * frees ex itself when it gets out. */
		pthread_detach(tid);
	}
	if (st.dropped || st.failed)
		log_warnx("otlp: %llu of %llu telemetry items not delivered "
			  "(%llu dropped, %llu failed)%s%s",
			  (unsigned long long)(st.dropped + st.failed),
			  (unsigned long long)offered,
			  (unsigned long long)st.dropped,
			  (unsigned long long)st.failed,
			  st.last_error[0] ? "; last error: " : "",
			  st.last_error);
	if (out)
		*out = st;
}
