/* gateway.h: table of contents of host/gateway/ — the LLM gateway and the
 * network clients it (and the OTLP exporter) use to reach the outside.
 */
#ifndef VOIDBOX_GATEWAY_H
#define VOIDBOX_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* tls.c: TLS client over an already-connected socket (BearSSL; the only
 * TLS user). BearSSL speaks TLS 1.0-1.2; we offer TLS 1.2 only, with
 * ECDHE + AEAD suites. Thread-safe: connections share nothing but the
 * read-only trust-anchor cache. A tls_conn is used by one thread at a
 * time.
 */
struct tls_conn;

/* Set the embedded PEM bundle used when no CA file is found (see
 * tls_client). Not copied: pem must stay valid for the process lifetime.
 * Call once at start, before any tls_client. */
void tls_set_default_bundle(const void *pem, size_t len);

/* Run a TLS client handshake on connected socket fd (blocking or not) for
 * server name host (SNI and certificate name check; IP literals cannot be
 * matched, BearSSL checks DNS names only). Trust anchors: the PEM bundle
 * at ca_path; when ca_path is NULL: $SSL_CERT_FILE if set, else the first
 * readable of /etc/ssl/certs/ca-certificates.crt and
 * /etc/pki/tls/certs/ca-bundle.crt, else the default bundle. A bundle is
 * parsed once per path and cached for the process lifetime.
 * The handshake completes within timeout_ms (0: no limit).
 * Returns the connection, which then owns fd; or NULL with a message in
 * err ("certificate verification failed: ...", "handshake timed out",
 * "connection closed during handshake", "no trust anchors in PATH", ...)
 * and fd left open (the caller still owns it). */
struct tls_conn *tls_client(int fd, const char *host, const char *ca_path,
			    unsigned timeout_ms, char *err, size_t errlen);

/* Read up to len (> 0) decrypted bytes, waiting for at least one; each
 * wait for the socket is bounded by its SO_RCVTIMEO, if set (read on
 * every call). Returns > 0, 0 on clean close (close_notify, or TCP EOF
 * at a record boundary), -1 with errno set: EPROTO for a TLS failure or
 * a truncated record, ETIMEDOUT, or the socket's error. */
ssize_t tls_read(struct tls_conn *t, void *buf, size_t len);

/* Encrypt and send all of buf, then flush; waits are bounded by the
 * socket's SO_SNDTIMEO, if set. 0, or -1 with errno set (EPIPE once the
 * peer closed, EPROTO, ETIMEDOUT). */
int tls_write_all(struct tls_conn *t, const void *buf, size_t len);

/* The socket, for the caller's poll loop. Note that decrypted bytes may
 * be buffered inside t with nothing left to read on the fd. */
int tls_fd(const struct tls_conn *t);

/* Send close_notify (best effort, bounded to a fraction of a second),
 * close the fd and free t. NULL is ignored. */
void tls_close(struct tls_conn *t);

/* ---- the LLM gateway ------------------------------------------------------
 *
 * claude-code in the guest speaks plain HTTP to 127.0.0.1:<vb.gw>; the
 * agent relays it over vsock (guest/agent/relay.c) and the VMM hands each
 * connection to us on the box's service channel. Per connection we check
 * the per-VM token, refuse over-budget requests, swap in the real
 * credential and forward to the upstream (http or https), streaming the
 * answer through unbuffered while counting tokens on the side.
 */
#define HTTP_MAX_HEAD    (64u << 10)
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_BODY    (64ull << 20)
#define USAGE_LINE_MAX   (1u << 20)
#define GW_MAX_CONNS     32		/* concurrent requests per VM */

struct http_head {
	char *first;			/* request or status line */
	char *method, *target, *version;	/* requests */
	int status;			/* responses */
	char *name[HTTP_MAX_HEADERS], *value[HTTP_MAX_HEADERS];
	unsigned nhdr;
	bool chunked, sse;
	long long content_length;	/* -1: none */
};

enum chunk_state { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR,
		   CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF, CH_DONE, CH_BAD };
struct chunked {
	enum chunk_state state;
	uint64_t left, total;
	unsigned digits;
};

struct usage_scan {
	bool sse, seen, overflow, stream_error;
	char *line;			/* USAGE_LINE_MAX bytes, caller's */
	size_t len;
	uint64_t input, output, cache_creation, cache_read;
};

/* http.c. Parsers work in place on a head of http_head_len() bytes and
 * return 0 or -1 (malformed: refuse the message). */
size_t http_head_len(const char *p, size_t n);
int http_parse_request(char *p, size_t n, struct http_head *h);
int http_parse_response(char *p, size_t n, struct http_head *h);
const char *http_header(const struct http_head *h, const char *name);
int chunked_feed(struct chunked *c, const char *p, size_t n,
		 void (*out)(void *ctx, const char *p, size_t n), void *ctx);
void usage_feed(void *ctx, const char *p, size_t n);	/* ctx: usage_scan */
void usage_finish(struct usage_scan *u);

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
struct gw_stats {
	unsigned requests, ok, auth_refused, budget_refused, upstream_errors,
		 bad_requests, over_limit;
	uint64_t input_tokens, output_tokens, cache_creation, cache_read;
	double est_usd;
	uint64_t overhead_ns_sum, overhead_ns_max;	/* our own time */
	char model[96];			/* last model asked for */
	char last_error[256];
};
struct gateway;
/* Parse base_url ("http://h:p/prefix", "https://h") into up; the
 * credential fields are left to the caller. 0 or -1 with err. */
int gateway_parse_url(const char *url, struct gw_upstream *up, char *err,
		      size_t errlen);
/* Serve guest connections arriving on svc_fd (not owned) for VM `name`
 * until gateway_stop. A fresh random token is made; hand it to the guest
 * as its API key. NULL with err on failure. */
struct gateway *gateway_start(int svc_fd, const struct gw_upstream *up,
			      const struct gw_budget *budget, const char *name,
			      char *err, size_t errlen);
const char *gateway_token(const struct gateway *g);
void gateway_get_stats(struct gateway *g, struct gw_stats *st);
/* Stop accepting, abort requests in flight, join every thread, free. */
void gateway_stop(struct gateway *g);

#endif
