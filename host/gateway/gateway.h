/* gateway.h: table of contents of host/gateway/ — the LLM gateway. Its
 * HTTP parsing and TLS client are host/http/'s (http.h).
 */
#ifndef VOIDBOX_GATEWAY_H
#define VOIDBOX_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include "../http/http.h"

/* ---- the LLM gateway ------------------------------------------------------
 *
 * claude-code in the guest speaks plain HTTP to 127.0.0.1:<vb.gw>; the
 * agent relays it over vsock (guest/agent/relay.c) and the VMM hands each
 * connection to us on the box's service channel. Per connection we check
 * the per-VM token, refuse over-budget requests, swap in the real
 * credential and forward to the upstream (http or https), streaming the
 * answer through unbuffered while counting tokens on the side.
 */
#define GW_MAX_CONNS     32		/* concurrent requests per VM */
#define GW_VM_BODY_BYTES (64ull << 20)	/* request bodies buffered per VM */
#define GW_RUN_BODY_BYTES (256ull << 20) /* ... and per run (gw_pool) */
#define GW_EVENTS_MAX    16		/* refusals kept for the trace */

/* surface.c: the requests the gateway forwards, per provider. NULL when
 * METHOD TARGET (raw, as received) may go upstream; else why not. */
const char *gw_surface_check(const char *provider, const char *method,
			     const char *target);
/* s, at most max bytes of it, made safe for a log line (controls and
 * non-ASCII as \xHH, "..." when cut) into out. */
void gw_printable(char *out, size_t cap, const char *s, size_t max);

/* keyscan.c: a streaming matcher that holds back the bytes that could
 * begin the secret and refuses to release the secret itself. */
#define KEYSCAN_MIN 12			/* shorter "keys" are not secrets */
#define KEYSCAN_MAX 512			/* = sizeof(gw_upstream.cred_value) */
/* The key and its failure table: built once per gateway, shared read-only
 * by every stream it scans. */
struct keypat {
	const char *key;		/* not owned; NULL: scan nothing */
	size_t klen;
	size_t fail[KEYSCAN_MAX];
};
/* A key shorter than KEYSCAN_MIN (ollama's "ollama" placeholder) or not
 * shorter than KEYSCAN_MAX disables the scan. key must outlive kp. */
void keypat_init(struct keypat *kp, const char *key);
/* One stream's state: no allocation, nothing to free. */
struct keyscan {
	const struct keypat *pat;
	size_t state, nhold;
	char hold[KEYSCAN_MAX];
	bool hit;
};
void keyscan_start(struct keyscan *k, const struct keypat *pat);
/* Feed stream bytes; releases what is safe through out (which returns 0,
 * or < 0 to stop). 0; -1 the key was seen (nothing of it released, and
 * every later call fails too); -2 out failed. */
int keyscan_feed(struct keyscan *k, const char *p, size_t n,
		 int (*out)(void *ctx, const char *p, size_t n), void *ctx);
/* At the end of the stream: release the held bytes. */
int keyscan_flush(struct keyscan *k,
		  int (*out)(void *ctx, const char *p, size_t n), void *ctx);

/* reqbody.c: the request's model and max_tokens, as the upstream will
 * read them. 0, or -1 with ri->err (body not a JSON object, a duplicate
 * "model"/"max_tokens", wrong types). Constant memory. */
struct gw_req_info {
	char model[96];
	uint64_t max_tokens;		/* 0: not given */
	const char *err;
};
int gw_body_info(const char *body, size_t len, struct gw_req_info *ri);

/* budget.c: list prices for the max_usd estimate, and the byte pool one
 * run's gateways share for buffered request bodies. */
double gw_est_cost(const char *model, uint64_t in, uint64_t out);
struct gw_pool {
	pthread_mutex_t lock;
	uint64_t cap, used;
};
void gw_pool_init(struct gw_pool *p, uint64_t cap);
void gw_pool_destroy(struct gw_pool *p);
/* Take n bytes of the pool if they fit (true), give them back. NULL
 * pools always have room. */
bool gw_pool_take(struct gw_pool *p, uint64_t n);
void gw_pool_give(struct gw_pool *p, uint64_t n);

/* gateway.c */
struct gw_upstream {
	bool https;
	char host[256], port[8], prefix[256];	/* from base_url */
	char cred_name[32];		/* "x-api-key" or "authorization" */
	char cred_value[512];		/* the real credential */
	const char *ca_path;		/* NULL: system bundle / embedded */
	char provider[16];		/* for logs and stats */
};
struct gw_budget {
	uint64_t max_tokens;		/* input + output; 0 = none */
	double max_usd;			/* estimated; 0 = none */
};
/* One refusal or block, for the trace (OTLP span events). */
struct gw_event {
	uint64_t unix_ns;
	char kind[16];			/* "refused", "key_blocked" */
	char method[16], path[96];	/* printable (gw_printable) */
	char reason[64];
};
struct gw_stats {
	unsigned requests, ok, auth_refused, budget_refused, upstream_errors,
		 bad_requests, over_limit;
	unsigned refused;		/* outside the provider's surface */
	unsigned mem_refused;		/* body memory per VM/run exhausted */
	unsigned key_blocked;		/* responses carrying the real key */
	struct gw_event events[GW_EVENTS_MAX];
	unsigned nevents;		/* kept (the first GW_EVENTS_MAX) */
	uint64_t input_tokens, output_tokens, cache_creation, cache_read;
	double est_usd;
	uint64_t overhead_ns_sum, overhead_ns_max;	/* our own time */
	uint64_t first_request_unix_ns;	/* when the first request came */
	char model[96];			/* last model asked for */
	char last_error[256];
};
struct gateway;
/* Parse base_url ("http://h:p/prefix", "https://h") into up; the
 * credential fields are left to the caller. 0 or -1 with err. */
int gateway_parse_url(const char *url, struct gw_upstream *up, char *err,
		      size_t errlen);
/* Serve guest connections arriving on service channel svc_fd (not owned:
 * box.svc_fd, or box_svc_pair's sv[0]; read with box_svc_recv) for VM
 * `name` until gateway_stop. A fresh random token is made; hand it to the guest
 * as its API key. Request bodies are buffered up to GW_VM_BODY_BYTES for
 * this VM and, when pool is given (not owned; it must outlive the
 * gateway), within the pool shared by the run. NULL with err on failure. */
struct gateway *gateway_start(int svc_fd, const struct gw_upstream *up,
			      const struct gw_budget *budget,
			      struct gw_pool *pool, const char *name,
			      char *err, size_t errlen);
const char *gateway_token(const struct gateway *g);
void gateway_get_stats(struct gateway *g, struct gw_stats *st);
/* Stop accepting, abort requests in flight, join every thread, free. */
void gateway_stop(struct gateway *g);
/* Tokens and estimated cost counted so far (cheap; any thread). */
void gateway_usage(struct gateway *g, uint64_t *in, uint64_t *out,
		   double *usd);

/* ---- inside the gateway: gateway.c (lifecycle, policy) and relay.c
 * (one request end to end). Not for other directories. */
struct gw_handler {
	struct gateway *g;
	int cfd, ufd;			/* guest side, upstream; -1 closed */
	struct tls_conn *tls;
	struct gw_handler *next;
};
struct gateway {
	struct gw_upstream up;
	struct gw_budget budget;
	struct gw_pool *pool;		/* the run's, or NULL */
	char name[64];
	char token[65];
	int svc_fd;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct gw_handler *active;	/* under lock */
	unsigned nactive;
	bool stopping;
	struct gw_pool mem;		/* this VM's buffered bodies */
	struct keypat kp;		/* the credential, for keyscan */
	uint64_t resv_tokens;		/* admitted, not yet settled */
	double resv_usd;
	unsigned logged;		/* refusal lines printed */
	struct gw_stats st;		/* under lock */
};
/* What an admitted request may spend, held until it is settled. */
struct gw_resv {
	uint64_t tokens;
	double usd;
	bool free;			/* an endpoint that is not billed */
	char model[96];
};
void gw_serve(struct gw_handler *h);				/* relay.c */
bool gw_token_ok(const struct gateway *g, const struct http_head *rq);
void gw_note_error(struct gateway *g, unsigned *counter, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));
/* Count, keep for the trace and log (rate-limited) one refusal. */
void gw_note_event(struct gateway *g, unsigned *counter, const char *kind,
		   const char *method, const char *target, const char *reason);
/* Buffered-body bytes for this VM and the run's pool: true if taken. */
bool gw_body_take(struct gateway *g, uint64_t n);
void gw_body_give(struct gateway *g, uint64_t n);
/* Reserve what the request may spend; false (why filled) when what is
 * used plus what is reserved has reached a budget. */
bool gw_budget_admit(struct gateway *g, const struct gw_req_info *ri,
		     size_t body_len, struct gw_resv *rv, char *why,
		     size_t len);
/* Release the reservation, count what was really used; a 200 reply whose
 * final usage never came (stream cut, client gone) is charged at least
 * its reservation: every forwarded request is metered. */
void gw_budget_settle(struct gateway *g, const struct gw_resv *rv,
		      const struct usage_scan *us, int status,
		      uint64_t our_ns);

#endif
