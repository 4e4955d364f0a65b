/* relay.c: one guest request through the gateway, end to end.
 *
 * The order matters: token (401), surface (403), the body within the
 * memory bound (400/413/503), its model and max_tokens (400), the budget
 * reservation (403); only then is the upstream contacted. The body is
 * sent and freed before the reply streams, so a long SSE answer holds no
 * request memory.
 *
 * The reply goes back decoded and re-framed by us: a chunked upstream
 * body is de-chunked, scanned for the real credential (keyscan.c) and
 * sent on as our own chunks, so a key split by the upstream's chunk
 * framing is still seen whole. If the guest leaves early the upstream
 * is drained for its usage (the tokens were spent all the same) and the
 * reservation is settled with what it really cost.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "../util/util.h"

#define CLIENT_TIMEOUT_S   60	/* guest side: head and body */
#define UPSTREAM_CONNECT_MS 15000
#define UPSTREAM_IDLE_S    600	/* between response bytes (SSE pings) */
#define IO_CHUNK           (64u << 10)
#define BODY_STEP          (256u << 10)	/* chunked bodies grow by this */

/* ---- byte I/O on either side --------------------------------------------- */


static ssize_t up_read(struct gw_handler *h, void *p, size_t n)
{
	if (h->tls)
		return tls_read(h->tls, p, n);
	ssize_t r;
	do
		r = recv(h->ufd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

static int up_write(struct gw_handler *h, const void *p, size_t n)
{
	return h->tls ? tls_write_all(h->tls, p, n) : sock_send_all(h->ufd, p, n);
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Answer the guest with an error in the Messages API shape. */
static void reply_error(struct gw_handler *h, int status, const char *type,
			const char *msg)
{
	char body[768], head[256], esc[512];
	size_t o = 0;

	/* msg may quote the request ("model" twice): JSON-escape it. */
	for (const char *c = msg; *c && o + 7 < sizeof(esc); c++) {
		if (*c == '"' || *c == '\\')
			esc[o++] = '\\';
		if ((unsigned char)*c < 32)
			o += (size_t)snprintf(esc + o, sizeof(esc) - o,
					      "\\u%04x", (unsigned char)*c);
		else
			esc[o++] = *c;
	}
	esc[o] = '\0';
	int bl = snprintf(body, sizeof(body),
			  "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
			  "\"message\":\"voidbox gateway: %s\"}}", type, esc);
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\ncontent-type: application/json"
			  "\r\ncontent-length: %d\r\nx-should-retry: false\r\n"
			  "connection: close\r\n\r\n",
			  status, status == 401 ? "Unauthorized" :
			  status == 403 ? "Forbidden" :
			  status == 400 ? "Bad Request" :
			  status == 413 ? "Content Too Large" :
			  status == 503 ? "Service Unavailable" : "Bad Gateway",
			  bl);
	if (sock_send_all(h->cfd, head, (size_t)hl) == 0)
		sock_send_all(h->cfd, body, (size_t)bl);
}

/* Read until the head is complete; returns its length, 0 on EOF before
 * one, -1 on error/oversize. *have is what was read in total. */
static ssize_t read_head(int fd, char *buf, size_t cap, size_t *have,
			 ssize_t (*rd)(void *, void *, size_t), void *ctx)
{
	size_t hl;
	while (!(hl = http_head_len(buf, *have))) {
		if (*have == cap)
			return -1;
		ssize_t r = rd(ctx, buf + *have, cap - *have);
		if (r <= 0)
			return *have ? -1 : 0;
		*have += (size_t)r;
	}
	(void)fd;
	return (ssize_t)hl;
}

static ssize_t rd_client(void *ctx, void *p, size_t n)
{
	struct gw_handler *h = ctx;
	ssize_t r;
	do
		r = recv(h->cfd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t rd_upstream(void *ctx, void *p, size_t n)
{
	return up_read(ctx, p, n);
}

/* A request body being buffered: memory is taken from the VM's and the
 * run's bounds before it is allocated (gw_body_take), never after. */
struct sink {
	struct gw_handler *h;
	char *p;
	size_t len, cap;		/* cap: allocated and taken */
	bool too_big, no_memory;
};

static void collect_body(void *ctx, const char *p, size_t n)
{
	struct sink *b = ctx;

	if (b->too_big || b->no_memory)
		return;
	if (n > HTTP_MAX_BODY - b->len) {
		b->too_big = true;
		return;
	}
	if (n > b->cap - b->len) {
		size_t want = b->len + n, cap = b->cap ? b->cap : BODY_STEP;
		while (cap < want)
			cap *= 2;
		if (cap > HTTP_MAX_BODY)
			cap = HTTP_MAX_BODY;
		char *q;
		if (!gw_body_take(b->h->g, cap - b->cap)) {
			b->no_memory = true;
			return;
		}
		if (!(q = realloc(b->p, cap))) {
			gw_body_give(b->h->g, cap - b->cap);
			b->no_memory = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void sink_free(struct sink *b)
{
	free(b->p);
	b->p = NULL;
	gw_body_give(b->h->g, b->cap);
	b->cap = b->len = 0;
}

/* Read the request body after the head (extra = bytes already read).
 * 0 with the body in b; else the HTTP status to refuse with. */
static int read_body(struct gw_handler *h, const struct http_head *rq,
		     const char *extra, size_t nextra, struct sink *b)
{
	*b = (struct sink){ .h = h };
	if (!rq->chunked) {
		size_t want = rq->content_length < 0
			? 0 : (size_t)rq->content_length;
		if (nextra > want)
			return 400;	/* pipelined requests: not here */
		if (!want)
			return 0;
		if (!gw_body_take(h->g, want))
			return 503;
		b->cap = want;
		if (!(b->p = malloc(want)))
			return 503;
		memcpy(b->p, extra, nextra);
		b->len = nextra;
		while (b->len < want) {
			ssize_t r = rd_client(h, b->p + b->len, want - b->len);
			if (r <= 0)
				return 400;
			b->len += (size_t)r;
		}
		return 0;
	}
	struct chunked c = { 0 };
	char tmp[IO_CHUNK];
	int r = chunked_feed(&c, extra, nextra, collect_body, b);
	while (r == 0 && !b->too_big && !b->no_memory) {
		ssize_t n = rd_client(h, tmp, sizeof(tmp));
		if (n <= 0)
			return 400;
		r = chunked_feed(&c, tmp, (size_t)n, collect_body, b);
	}
	return b->no_memory ? 503 : b->too_big ? 413 : r < 0 ? 400 : 0;
}

static int connect_upstream(struct gw_handler *h, char *err, size_t errlen)
{
	const struct gw_upstream *up = &h->g->up;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;

	int e = getaddrinfo(up->host, up->port, &hints, &res);
	if (e) {
		snprintf(err, errlen, "resolving %s: %s", up->host,
			 gai_strerror(e));
		return -1;
	}
	int fd = -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int so = 0;
			socklen_t sl = sizeof(so);
			if (poll(&p, 1, UPSTREAM_CONNECT_MS) == 1 &&
			    !getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) &&
			    !so)
				break;
			errno = so ? so : ETIMEDOUT;
		}
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "connecting to %s:%s: %s", up->host,
			 up->port, strerror(e ? e : ECONNREFUSED));
		return -1;
	}
	/* Blocking from here, bounded by socket timeouts. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	set_timeouts(fd, UPSTREAM_IDLE_S);
	pthread_mutex_lock(&h->g->lock);
	h->ufd = fd;
	bool stop = h->g->stopping;
	pthread_mutex_unlock(&h->g->lock);
	if (stop) {
		snprintf(err, errlen, "gateway stopping");
		return -1;
	}
	if (up->https) {
		h->tls = tls_client(fd, up->host, up->ca_path,
				    UPSTREAM_CONNECT_MS, err, errlen);
		if (!h->tls)
			return -1;
	}
	return 0;
}

/* Hop-by-hop and credential headers never cross the gateway. */
static bool drop_request_header(const char *n)
{
	static const char *const drop[] = {
		"host", "connection", "keep-alive", "proxy-connection",
		"proxy-authorization", "te", "trailer", "transfer-encoding",
		"upgrade", "content-length", "x-api-key", "authorization",
		"accept-encoding",
	};
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (!strcasecmp(n, drop[i]))
			return true;
	return false;
}

/* Build the upstream request head into out; -1 if it does not fit. */
static int upstream_head(const struct gateway *g, const struct http_head *rq,
			 size_t body_len, char *out, size_t cap)
{
	const struct gw_upstream *up = &g->up;
	bool dflt = !strcmp(up->port, up->https ? "443" : "80");
	size_t n = 0;
	int r = snprintf(out, cap, "%s %s%s HTTP/1.1\r\nHost: %s%s%s\r\n",
			 rq->method, up->prefix, rq->target, up->host,
			 dflt ? "" : ":", dflt ? "" : up->port);
	if (r < 0 || (size_t)r >= cap)
		return -1;
	n = (size_t)r;
	for (unsigned i = 0; i < rq->nhdr; i++) {
		if (drop_request_header(rq->name[i]))
			continue;
		r = snprintf(out + n, cap - n, "%s: %s\r\n", rq->name[i],
			     rq->value[i]);
		if (r < 0 || (size_t)r >= cap - n)
			return -1;
		n += (size_t)r;
	}
	if (up->cred_value[0]) {
		r = snprintf(out + n, cap - n, "%s: %s\r\n", up->cred_name,
			     up->cred_value);
		if (r < 0 || (size_t)r >= cap - n)
			return -1;
		n += (size_t)r;
	}
	r = snprintf(out + n, cap - n, "Content-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", body_len);
	if (r < 0 || (size_t)r >= cap - n)
		return -1;
	return (int)(n + (size_t)r);
}

/* Pass the response head on with our connection semantics. */
static int client_head(struct gw_handler *h, const struct http_head *rs)
{
	char out[HTTP_MAX_HEAD + 64];
	size_t n = 0;
	int r = snprintf(out, sizeof(out), "%s\r\n", rs->first);
	n = (size_t)r;
	for (unsigned i = 0; i < rs->nhdr; i++) {
		if (!strcasecmp(rs->name[i], "connection") ||
		    !strcasecmp(rs->name[i], "keep-alive"))
			continue;
		r = snprintf(out + n, sizeof(out) - n, "%s: %s\r\n",
			     rs->name[i], rs->value[i]);
		if (r < 0 || (size_t)r >= sizeof(out) - n)
			return -1;
		n += (size_t)r;
	}
	r = snprintf(out + n, sizeof(out) - n, "connection: close\r\n\r\n");
	if (r < 0 || (size_t)r >= sizeof(out) - n)
		return -1;
	return sock_send_all(h->cfd, out, n + (size_t)r);
}

/* ---- the reply ------------------------------------------------------------- */

/* Where decoded reply bytes go: usage counting, then the key scan, then
 * the guest (in our own chunks when the upstream chunked). */
struct relay {
	struct gw_handler *h;
	struct usage_scan *us;
	struct keyscan ks;
	bool chunked;			/* re-frame as chunks for the guest */
	bool gone;			/* the guest left: drain, do not send */
	bool key_hit;
};

static int to_guest(void *ctx, const char *p, size_t n)
{
	struct relay *r = ctx;
	char size[24];

	if (r->gone || !n)
		return 0;
	int sl = snprintf(size, sizeof(size), "%zx\r\n", n);
	if ((r->chunked && sock_send_all(r->h->cfd, size, (size_t)sl) < 0) ||
	    sock_send_all(r->h->cfd, p, n) < 0 ||
	    (r->chunked && sock_send_all(r->h->cfd, "\r\n", 2) < 0))
		r->gone = true;	/* keep reading upstream for the usage */
	return 0;
}

static void decoded(void *ctx, const char *p, size_t n)
{
	struct relay *r = ctx;

	if (r->key_hit)
		return;
	usage_feed(r->us, p, n);
	if (keyscan_feed(&r->ks, p, n, to_guest, r) == -1)
		r->key_hit = true;
}

/* Stream the body after the head (p, n already read). */
static void relay_body(struct relay *r, const struct http_head *rs,
		       const char *p, size_t n)
{
	struct chunked ch = { 0 };
	uint64_t left = rs->content_length >= 0 ? (uint64_t)rs->content_length
						: UINT64_MAX;
	char tmp[IO_CHUNK];

	for (;;) {
		if ((uint64_t)n > left)
			n = (size_t)left;
		if (n) {
			left -= n;
			if (rs->chunked) {
				if (chunked_feed(&ch, p, n, decoded, r) != 0)
					left = 0;	/* done, or broken */
			} else {
				decoded(r, p, n);
			}
		}
		if (!left || r->key_hit)
			break;
		ssize_t got = up_read(r->h, tmp, sizeof(tmp));
		if (got <= 0)
			break;
		p = tmp;
		n = (size_t)got;
	}
	if (r->key_hit)
		return;
	keyscan_flush(&r->ks, to_guest, r);
	if (r->chunked && !r->gone && ch.state == CH_DONE)
		sock_send_all(r->h->cfd, "0\r\n\r\n", 5);
}

/* ---- one request ------------------------------------------------------------ */

static void refuse(struct gw_handler *h, const struct http_head *rq,
		   const char *why)
{
	char msg[256], m[32], t[160];

	gw_printable(m, sizeof(m), rq->method, 12);
	gw_printable(t, sizeof(t), rq->target, 100);
	snprintf(msg, sizeof(msg), "%s %s is not forwarded: %s", m, t, why);
	reply_error(h, 403, "permission_error", msg);
	gw_note_event(h->g, &h->g->st.refused, "refused", rq->method,
		      rq->target, why);
}

void gw_serve(struct gw_handler *h)
{
	struct gateway *g = h->g;
	char *head = malloc(HTTP_MAX_HEAD), *obuf = NULL;
	char *line = malloc(USAGE_LINE_MAX), why[256], err[256];
	char method[16], target[128];
	size_t have = 0;
	struct http_head rq, rs;
	struct sink body = { .h = h };
	struct gw_req_info ri;
	struct gw_resv rv;
	bool admitted = false;
	struct usage_scan us = { .line = line };
	int status = 0;
	uint64_t t_req, our_ns = 0;

	if (!head || !line)
		goto out;
	/* The VMM's socketpair end arrives non-blocking; we want plain
	 * blocking I/O bounded by socket timeouts. */
	fcntl(h->cfd, F_SETFL, fcntl(h->cfd, F_GETFL) & ~O_NONBLOCK);
	set_timeouts(h->cfd, CLIENT_TIMEOUT_S);
	ssize_t hl = read_head(h->cfd, head, HTTP_MAX_HEAD - 1, &have,
			       rd_client, h);
	if (hl <= 0 || http_parse_request(head, (size_t)hl, &rq) < 0) {
		if (hl != 0) {
			reply_error(h, 400, "invalid_request_error",
				    "malformed HTTP request");
			gw_note_error(g, &g->st.bad_requests,
				      "malformed request from the guest");
		}
		goto out;
	}
	/* rq points into head, which the response head reuses. */
	snprintf(method, sizeof(method), "%s", rq.method);
	snprintf(target, sizeof(target), "%s", rq.target);
	pthread_mutex_lock(&g->lock);
	if (!g->st.requests++)
		g->st.first_request_unix_ns = wall_ns();
	pthread_mutex_unlock(&g->lock);
	if (!gw_token_ok(g, &rq)) {
		reply_error(h, 401, "authentication_error",
			    "invalid gateway token");
		gw_note_error(g, &g->st.auth_refused,
			      "request with a wrong gateway token refused");
		goto out;
	}
	const char *no = gw_surface_check(g->up.provider, rq.method,
					  rq.target);
	if (no) {
		refuse(h, &rq, no);
		goto out;
	}
	int bs = read_body(h, &rq, head + hl, have - (size_t)hl, &body);
	if (bs) {
		const char *m = bs == 503
			? "request bodies in flight are at this VM's memory "
			  "bound; retry later"
			: bs == 413 ? "request body too large"
			: "request body malformed or truncated";
		reply_error(h, bs, bs == 503 ? "overloaded_error"
				   : bs == 413 ? "request_too_large"
				   : "invalid_request_error", m);
		gw_note_error(g, bs == 503 ? &g->st.mem_refused
				 : &g->st.bad_requests, "%s", m);
		goto out;
	}
	if (gw_body_info(body.p ? body.p : "", body.len, &ri) < 0) {
		reply_error(h, 400, "invalid_request_error", ri.err);
		gw_note_error(g, &g->st.bad_requests, "%s", ri.err);
		goto out;
	}
	if (!gw_budget_admit(g, &ri, body.len, &rv, why, sizeof(why))) {
		reply_error(h, 403, "permission_error", why);
		gw_note_error(g, &g->st.budget_refused, "%s", why);
		goto out;
	}
	admitted = true;
	rv.free = !strncmp(rq.target, "/v1/messages/count_tokens", 25);
	t_req = mono_ns();
	if (connect_upstream(h, err, sizeof(err)) < 0) {
		reply_error(h, 502, "api_error", err);
		gw_note_error(g, &g->st.upstream_errors, "%s", err);
		goto out;
	}
	obuf = malloc(HTTP_MAX_HEAD);
	int ohl = obuf ? upstream_head(g, &rq, body.len, obuf, HTTP_MAX_HEAD)
		       : -1;
	if (ohl < 0) {
		reply_error(h, 400, "invalid_request_error",
			    "request head too large");
		goto out;
	}
	our_ns += mono_ns() - t_req;
	if (up_write(h, obuf, (size_t)ohl) < 0 ||
	    (body.len && up_write(h, body.p, body.len) < 0)) {
		snprintf(err, sizeof(err), "sending to %s failed", g->up.host);
		reply_error(h, 502, "api_error", err);
		gw_note_error(g, &g->st.upstream_errors, "%s", err);
		goto out;
	}
	sink_free(&body);	/* sent: the reply may stream for minutes */
	/* The response: head first, then the body as it streams. */
	have = 0;
	hl = read_head(h->ufd, head, HTTP_MAX_HEAD - 1, &have, rd_upstream, h);
	uint64_t t_resp = mono_ns();
	if (hl <= 0 || http_parse_response(head, (size_t)hl, &rs) < 0) {
		snprintf(err, sizeof(err), "%s from %s",
			 hl == 0 ? "no response" : "malformed response",
			 g->up.host);
		reply_error(h, 502, "api_error", err);
		gw_note_error(g, &g->st.upstream_errors, "%s", err);
		goto out;
	}
	status = rs.status;
	const char *ce = http_header(&rs, "content-encoding");
	if (ce && strcasecmp(ce, "identity")) {
		/* We asked for none; a compressed body could hide the key
		 * (and the usage) from us. */
		snprintf(err, sizeof(err), "%s answered with content-encoding "
			 "%.32s, which the gateway cannot inspect", g->up.host,
			 ce);
		reply_error(h, 502, "api_error", err);
		gw_note_error(g, &g->st.upstream_errors, "%s", err);
		goto out;
	}
	struct relay r = { .h = h, .us = &us, .chunked = rs.chunked };
	us.sse = rs.sse;
	keyscan_start(&r.ks, &g->kp);
	if (g->kp.key && memmem(head, (size_t)hl, g->kp.key, g->kp.klen)) {
		r.key_hit = true;	/* nothing sent yet: say so */
		reply_error(h, 502, "api_error", "security: the upstream's "
			    "reply carried the API key; it was not relayed");
	} else if (client_head(h, &rs) == 0) {
		our_ns += mono_ns() - t_resp;
		relay_body(&r, &rs, head + hl, have - (size_t)hl);
	}
	usage_finish(&us);
	if (r.key_hit) {
		/* Whatever the guest already has is key-free; cut it off and
		 * fail the stage (stage.c reads key_blocked). */
		shutdown(h->cfd, SHUT_RDWR);
		gw_note_event(g, &g->st.key_blocked, "key_blocked", method,
			      target, "the upstream's reply contained the "
			      "API key; stream aborted");
		log_warnx("[vm:%s] gateway: SECURITY: the upstream's reply to "
			  "%s contained the API key; not relayed", g->name,
			  g->up.host);
	}
out:
	if (admitted)
		gw_budget_settle(g, &rv, &us, status, our_ns);
	sink_free(&body);
	free(obuf);
	free(line);
	free(head);
}
