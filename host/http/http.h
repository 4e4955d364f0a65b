/* http.h: table of contents of host/http/ — HTTP/1.1 and TLS over
 * sockets to and from the outside, for the LLM gateway (host/gateway/),
 * the OTLP exporter (host/otel/transport.c) and image pulls
 * (host/image/registry.c, through client.c).
 */
#ifndef VOIDBOX_HTTP_H
#define VOIDBOX_HTTP_H

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
 * and fd left open (the caller still owns it), and errno the cause, for
 * code: EKEYREJECTED the server's certificate failed verification, ENOKEY
 * no usable trust anchors (bundle missing, unreadable, too large, empty:
 * both are configuration, retrying will not help), ETIMEDOUT, ECONNRESET
 * or EPIPE (the peer closed), EPROTO (another TLS failure), ENOMEM,
 * EINVAL (no server name). */
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

/* http.c: the HTTP/1.1 subset the gateway speaks, parsed as hostile
 * bytes: bounded heads and bodies, chunked framing, and the token usage
 * in Messages API replies (JSON or SSE). */
#define HTTP_MAX_HEAD    (64u << 10)	/* request or response head */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_BODY    (64ull << 20)	/* Content-Length, one chunk */
#define USAGE_LINE_MAX   (1u << 20)	/* one SSE line, usage_scan.line */

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
	bool final;			/* the reply's last usage was seen */
	char *line;			/* USAGE_LINE_MAX bytes, caller's */
	size_t len;
	uint64_t input, output, cache_creation, cache_read;
};

/* Write all of buf to socket fd (send with MSG_NOSIGNAL: a closed peer is
 * -1 with EPIPE, never SIGPIPE); each wait bounded by the socket's
 * SO_SNDTIMEO. 0 or -1 with errno. */
int sock_send_all(int fd, const void *buf, size_t len);

/* Parsers work in place on a head of http_head_len() bytes and return 0
 * or -1 (malformed: refuse the message). */
size_t http_head_len(const char *p, size_t n);
int http_parse_request(char *p, size_t n, struct http_head *h);
int http_parse_response(char *p, size_t n, struct http_head *h);
/* The same with another Content-Length bound than HTTP_MAX_BODY. */
int http_parse_response_max(char *p, size_t n, struct http_head *h,
			    uint64_t max_body);
const char *http_header(const struct http_head *h, const char *name);
int chunked_feed(struct chunked *c, const char *p, size_t n,
		 void (*out)(void *ctx, const char *p, size_t n), void *ctx);
void usage_feed(void *ctx, const char *p, size_t n);	/* ctx: usage_scan */
void usage_finish(struct usage_scan *u);

/* client.c: one GET per connection, the body streamed. */
struct http_url {
	bool tls;
	char hostport[262];	/* as in the URL: Host header, messages */
	char host[256];		/* without brackets or port: DNS, SNI */
	char port[8];
	char path[2048];	/* path and query */
};
/* http(s)://host[:port][/path]: 0, or -1 with err. */
int http_url_parse(const char *url, struct http_url *u, char *err,
		   size_t errlen);

struct http_opts {
	unsigned timeout_ms;	/* connect, handshake and every wait */
	const char *ca_file;	/* TLS trust (NULL: tls_client's default) */
	uint64_t max_body;	/* largest Content-Length taken */
};

struct http_resp {
	int status;
	long long content_length;	/* -1: none */
	bool chunked, until_close, done;
	char *location, *www_authenticate, *content_type, *content_range;
	/* private */
	int fd;
	struct tls_conn *tls;
	char *buf, *dec;
	size_t blen, boff, dlen, dpos;
	struct chunked ch;
	uint64_t got;
};

/* Send GET u (Host, Connection: close and the given "Name: value" lines)
 * and read the response head. 0 with r filled (close it), or -1 with
 * err (and errno tls_client's after a failed handshake). The body is
 * read with http_body_read. */
int http_get(const struct http_url *u, const char *const *headers,
	     const struct http_opts *o, struct http_resp *r, char *err,
	     size_t errlen);
/* Body bytes: > 0, 0 at its end, -errno (EPIPE: cut short, EPROTO: bad
 * chunked framing, ETIMEDOUT). */
ssize_t http_body_read(struct http_resp *r, void *buf, size_t n);
void http_resp_close(struct http_resp *r);

#endif
