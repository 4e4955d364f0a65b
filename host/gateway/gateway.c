/* gateway.c: the per-VM LLM gateway — API keys never enter the guest.
 *
 * One accept thread per VM reads guest connections off the box's service
 * channel (the VMM passes each as an fd, host/vmm/vmm_main.c) and gives
 * each its own handler thread, at most GW_MAX_CONNS at once. A handler
 * serves exactly one request (it answers "Connection: close"):
 *
 *   1. read and parse the request head (bounded, strict: http.c);
 *   2. check the per-VM token (x-api-key or Authorization: Bearer), in
 *      constant time; refuse with 401 otherwise;
 *   3. refuse with 403 once the stage's token/cost budget is spent;
 *   4. read the body (Content-Length or chunked, capped);
 *   5. connect upstream (TLS via tls.c for https), send the request with
 *      the real credential instead of the token, hop-by-hop headers and
 *      Accept-Encoding dropped (we must see plain text to count tokens);
 *   6. relay the response head and stream the body through as it comes
 *      (SSE stays live), following chunked framing and SSE events on the
 *      side to count tokens into the stats.
 *
 * Errors the guest sees are in the Anthropic error shape, so claude-code
 * reports them as API errors with our message in them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "../util/util.h"
#include "../vmm/ipc.h"
#include "agent_abi.h"

#define CLIENT_TIMEOUT_S   60	/* guest side: head and body */
#define UPSTREAM_CONNECT_MS 15000
#define UPSTREAM_IDLE_S    600	/* between response bytes (SSE pings) */
#define IO_CHUNK           (64u << 10)

struct handler {
	struct gateway *g;
	int cfd, ufd;			/* guest side, upstream; -1 closed */
	struct tls_conn *tls;
	struct handler *next;
};

struct gateway {
	struct gw_upstream up;
	struct gw_budget budget;
	char name[64];
	char token[65];
	int svc_fd;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct handler *active;		/* under lock */
	unsigned nactive;
	bool stopping;
	struct gw_stats st;		/* under lock */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Estimated list prices, USD per million tokens (input, output), by
 * model family; used only for the optional max_usd budget. claude-code's
 * own total_cost_usd remains the number reported per stage. */
static double est_cost(const char *model, uint64_t in, uint64_t out)
{
	double pi = 5, po = 25;		/* opus, and unknown models */
	if (strstr(model, "sonnet"))
		pi = 3, po = 15;
	else if (strstr(model, "haiku"))
		pi = 1, po = 5;
	return ((double)in * pi + (double)out * po) / 1e6;
}

int gateway_parse_url(const char *url, struct gw_upstream *up, char *err,
		      size_t errlen)
{
	const char *p;

	if (!strncmp(url, "http://", 7)) {
		up->https = false;
		p = url + 7;
	} else if (!strncmp(url, "https://", 8)) {
		up->https = true;
		p = url + 8;
	} else {
		snprintf(err, errlen, "base_url '%s': must start with http:// "
			 "or https://", url);
		return -1;
	}
	size_t hl = strcspn(p, ":/");
	if (!hl || hl >= sizeof(up->host)) {
		snprintf(err, errlen, "base_url '%s': bad host", url);
		return -1;
	}
	memcpy(up->host, p, hl);
	up->host[hl] = '\0';
	p += hl;
	snprintf(up->port, sizeof(up->port), "%s", up->https ? "443" : "80");
	if (*p == ':') {
		size_t pl = strspn(p + 1, "0123456789");
		int port = atoi(p + 1);
		if (!pl || pl > 5 || port < 1 || port > 65535) {
			snprintf(err, errlen, "base_url '%s': bad port", url);
			return -1;
		}
		snprintf(up->port, sizeof(up->port), "%d", port);
		p += 1 + pl;
	}
	if (*p && *p != '/') {
		snprintf(err, errlen, "base_url '%s': bad path", url);
		return -1;
	}
	snprintf(up->prefix, sizeof(up->prefix), "%s", p);
	size_t l = strlen(up->prefix);
	if (l && up->prefix[l - 1] == '/')
		up->prefix[l - 1] = '\0';	/* targets start with '/' */
	return 0;
}

/* ---- byte I/O on either side --------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t up_read(struct handler *h, void *p, size_t n)
{
	if (h->tls)
		return tls_read(h->tls, p, n);
	ssize_t r;
	do
		r = recv(h->ufd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

static int up_write(struct handler *h, const void *p, size_t n)
{
	return h->tls ? tls_write_all(h->tls, p, n) : write_all(h->ufd, p, n);
}

static void set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Answer the guest with an error in the Messages API shape. */
static void reply_error(struct handler *h, int status, const char *type,
			const char *msg)
{
	char body[512], head[256];
	int bl = snprintf(body, sizeof(body),
			  "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
			  "\"message\":\"voidbox gateway: %s\"}}",
			  type, msg);
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\ncontent-type: application/json"
			  "\r\ncontent-length: %d\r\nx-should-retry: false\r\n"
			  "connection: close\r\n\r\n",
			  status, status == 401 ? "Unauthorized" :
			  status == 403 ? "Forbidden" :
			  status == 400 ? "Bad Request" : "Bad Gateway", bl);
	if (write_all(h->cfd, head, (size_t)hl) == 0)
		write_all(h->cfd, body, (size_t)bl);
}

static void note_error(struct gateway *g, unsigned *counter, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));
static void note_error(struct gateway *g, unsigned *counter, const char *fmt,
		       ...)
{
	va_list ap;
	pthread_mutex_lock(&g->lock);
	(*counter)++;
	va_start(ap, fmt);
	vsnprintf(g->st.last_error, sizeof(g->st.last_error), fmt, ap);
	va_end(ap);
	log_debug("gateway %s: %s", g->name, g->st.last_error);
	pthread_mutex_unlock(&g->lock);
}

/* ---- one request ---------------------------------------------------------- */

static bool token_ok(const struct gateway *g, const struct http_head *rq)
{
	const char *k = http_header(rq, "x-api-key");
	const char *a = http_header(rq, "authorization");

	if (!k && a && !strncasecmp(a, "Bearer ", 7))
		k = a + 7;
	if (!k || strlen(k) != strlen(g->token))
		return false;
	unsigned char d = 0;
	for (size_t i = 0; g->token[i]; i++)
		d |= (unsigned char)(k[i] ^ g->token[i]);
	return d == 0;
}

static bool over_budget(struct gateway *g, char *why, size_t len)
{
	bool over = false;
	pthread_mutex_lock(&g->lock);
	uint64_t used = g->st.input_tokens + g->st.output_tokens;
	if (g->budget.max_tokens && used >= g->budget.max_tokens) {
		snprintf(why, len, "token budget exhausted (%llu of %llu "
			 "tokens used)", (unsigned long long)used,
			 (unsigned long long)g->budget.max_tokens);
		over = true;
	} else if (g->budget.max_usd > 0 && g->st.est_usd >= g->budget.max_usd) {
		snprintf(why, len, "cost budget exhausted (~$%.4f of $%.4f)",
			 g->st.est_usd, g->budget.max_usd);
		over = true;
	}
	pthread_mutex_unlock(&g->lock);
	return over;
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
	struct handler *h = ctx;
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

struct sink {
	char *p;
	size_t len, cap;
};

static void collect_body(void *ctx, const char *p, size_t n)
{
	struct sink *b = ctx;

	if (n > b->cap - b->len) {
		b->len = b->cap + 1;	/* too large: marks the body bad */
		return;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Read the request body after the head (extra = bytes already read). */
static char *read_body(struct handler *h, const struct http_head *rq,
		       const char *extra, size_t nextra, size_t *len)
{
	size_t want = rq->chunked ? HTTP_MAX_BODY : (size_t)(rq->content_length
							   < 0 ? 0 : rq->content_length);
	struct sink sink = { .cap = want };
	/* Chunked bodies get the cap reserved, but untouched pages of a
	 * large malloc (mmap) cost nothing until written. */
	if (!(sink.p = malloc(want ? want : 1)))
		return NULL;
	if (!rq->chunked) {
		if (nextra > want)
			goto bad;	/* pipelined requests: not here */
		memcpy(sink.p, extra, nextra);
		sink.len = nextra;
		while (sink.len < want) {
			ssize_t r = rd_client(h, sink.p + sink.len,
					      want - sink.len);
			if (r <= 0)
				goto bad;
			sink.len += (size_t)r;
		}
	} else {
		struct chunked c = { 0 };
		char tmp[IO_CHUNK];
		int r = chunked_feed(&c, extra, nextra, collect_body, &sink);
		while (r == 0) {
			ssize_t n = rd_client(h, tmp, sizeof(tmp));
			if (n <= 0)
				goto bad;
			r = chunked_feed(&c, tmp, (size_t)n, collect_body,
					 &sink);
		}
		if (r < 0 || sink.len > sink.cap)
			goto bad;
	}
	*len = sink.len;
	return sink.p;
bad:
	free(sink.p);
	return NULL;
}

static int connect_upstream(struct handler *h, char *err, size_t errlen)
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
static int client_head(struct handler *h, const struct http_head *rs)
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
	return write_all(h->cfd, out, n + (size_t)r);
}

static void model_of(struct gateway *g, const char *body, size_t len)
{
	/* The model is only for cost estimates and logs: a cheap look for
	 * "model":"..." near the start, no full parse of a 50 KB body. */
	size_t lim = len < 4096 ? len : 4096;
	const char *m = memmem(body, lim, "\"model\":\"", 9);
	if (!m)
		return;
	m += 9;
	size_t l = 0;
	while (m + l < body + lim && m[l] != '"' && l < sizeof(g->st.model) - 1)
		l++;
	pthread_mutex_lock(&g->lock);
	memcpy(g->st.model, m, l);
	g->st.model[l] = '\0';
	pthread_mutex_unlock(&g->lock);
}

static void serve(struct handler *h)
{
	struct gateway *g = h->g;
	char *head = malloc(HTTP_MAX_HEAD), *body = NULL, *obuf = NULL;
	char *line = malloc(USAGE_LINE_MAX), why[256];
	size_t have = 0, blen = 0;
	struct http_head rq, rs;
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
			note_error(g, &g->st.bad_requests,
				   "malformed request from the guest");
		}
		goto out;
	}
	pthread_mutex_lock(&g->lock);
	g->st.requests++;
	pthread_mutex_unlock(&g->lock);
	if (!token_ok(g, &rq)) {
		reply_error(h, 401, "authentication_error",
			    "invalid gateway token");
		note_error(g, &g->st.auth_refused,
			   "request with a wrong gateway token refused");
		goto out;
	}
	if (over_budget(g, why, sizeof(why))) {
		reply_error(h, 403, "permission_error", why);
		note_error(g, &g->st.budget_refused, "%s", why);
		goto out;
	}
	body = read_body(h, &rq, head + hl, have - (size_t)hl, &blen);
	if (!body) {
		reply_error(h, 400, "invalid_request_error",
			    "request body malformed, truncated or too large");
		note_error(g, &g->st.bad_requests, "bad request body");
		goto out;
	}
	model_of(g, body, blen);
	t_req = mono_ns();
	char err[256];
	if (connect_upstream(h, err, sizeof(err)) < 0) {
		reply_error(h, 502, "api_error", err);
		note_error(g, &g->st.upstream_errors, "%s", err);
		goto out;
	}
	obuf = malloc(HTTP_MAX_HEAD);
	int ohl = obuf ? upstream_head(g, &rq, blen, obuf, HTTP_MAX_HEAD) : -1;
	if (ohl < 0) {
		reply_error(h, 400, "invalid_request_error",
			    "request head too large");
		goto out;
	}
	our_ns += mono_ns() - t_req;
	if (up_write(h, obuf, (size_t)ohl) < 0 || up_write(h, body, blen) < 0) {
		snprintf(err, sizeof(err), "sending to %s failed", g->up.host);
		reply_error(h, 502, "api_error", err);
		note_error(g, &g->st.upstream_errors, "%s", err);
		goto out;
	}
	/* The response: head first, then the body as it streams. */
	have = 0;
	hl = read_head(h->ufd, head, HTTP_MAX_HEAD - 1, &have, rd_upstream, h);
	uint64_t t_resp = mono_ns();
	if (hl <= 0 || http_parse_response(head, (size_t)hl, &rs) < 0) {
		snprintf(err, sizeof(err), "%s from %s",
			 hl == 0 ? "no response" : "malformed response",
			 g->up.host);
		reply_error(h, 502, "api_error", err);
		note_error(g, &g->st.upstream_errors, "%s", err);
		goto out;
	}
	struct usage_scan us = { .sse = rs.sse, .line = line };
	struct chunked ch = { 0 };
	uint64_t left = rs.content_length >= 0 ? (uint64_t)rs.content_length
					       : UINT64_MAX;
	if (client_head(h, &rs) < 0)
		goto out;
	our_ns += mono_ns() - t_resp;
	const char *p = head + hl;
	size_t n = have - (size_t)hl;
	char tmp[IO_CHUNK];
	for (;;) {
		if ((uint64_t)n > left)
			n = (size_t)left;
		if (n) {
			if (write_all(h->cfd, p, n) < 0)
				break;	/* the guest went away */
			left -= n;
			if (rs.chunked) {
				if (chunked_feed(&ch, p, n, usage_feed, &us) != 0)
					left = 0;	/* done, or broken */
			} else {
				usage_feed(&us, p, n);
			}
		}
		if (!left)
			break;
		ssize_t r = up_read(h, tmp, sizeof(tmp));
		if (r <= 0)
			break;
		p = tmp;
		n = (size_t)r;
	}
	usage_finish(&us);
	pthread_mutex_lock(&g->lock);
	if (rs.status == 200)
		g->st.ok++;
	else
		snprintf(g->st.last_error, sizeof(g->st.last_error),
			 "upstream answered %d", rs.status);
	g->st.input_tokens += us.input + us.cache_creation + us.cache_read;
	g->st.output_tokens += us.output;
	g->st.cache_creation += us.cache_creation;
	g->st.cache_read += us.cache_read;
	g->st.est_usd += est_cost(g->st.model, us.input + us.cache_creation,
				  us.output) +
			 est_cost(g->st.model, us.cache_read, 0) / 10;
	g->st.overhead_ns_sum += our_ns;
	if (our_ns > g->st.overhead_ns_max)
		g->st.overhead_ns_max = our_ns;
	pthread_mutex_unlock(&g->lock);
out:
	free(obuf);
	free(body);
	free(line);
	free(head);
}

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct gateway *g = h->g;

	serve(h);
	pthread_mutex_lock(&g->lock);
	for (struct handler **pp = &g->active; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	if (h->tls)
		tls_close(h->tls);	/* closes ufd */
	else if (h->ufd >= 0)
		close(h->ufd);
	close(h->cfd);
	g->nactive--;
	pthread_cond_broadcast(&g->idle);
	pthread_mutex_unlock(&g->lock);
	free(h);
	return NULL;
}

static void spawn_handler(struct gateway *g, int fd)
{
	struct handler *h = calloc(1, sizeof(*h));
	pthread_attr_t at;
	pthread_t t;

	pthread_mutex_lock(&g->lock);
	if (!h || g->stopping || g->nactive >= GW_MAX_CONNS) {
		g->st.over_limit += h && !g->stopping;
		pthread_mutex_unlock(&g->lock);
		free(h);
		close(fd);	/* the guest sees the connection close */
		return;
	}
	*h = (struct handler){ .g = g, .cfd = fd, .ufd = -1,
			       .next = g->active };
	g->active = h;
	g->nactive++;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256u << 10);
	if (pthread_create(&t, &at, handler_main, h)) {
		g->active = h->next;
		g->nactive--;
		close(fd);
		free(h);
	}
	pthread_attr_destroy(&at);
	pthread_mutex_unlock(&g->lock);
}

static void *accept_main(void *arg)
{
	struct gateway *g = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = g->svc_fd, .events = POLLIN },
				       { .fd = g->stop_pipe[0],
					 .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		struct ipc_hdr hdr;
		struct ipc_guest_conn gc;
		int fd = -1;
		unsigned nfds = 0;
		int r = ipc_recv(g->svc_fd, &hdr, &gc, sizeof(gc), &fd, 1,
				 &nfds);
		if (r <= 0)
			break;	/* the VMM is gone */
		if (hdr.type != IPC_GUEST_CONN || hdr.len != sizeof(gc) ||
		    !nfds || gc.port != AGENT_GATEWAY_PORT) {
			if (nfds)
				close(fd);
			continue;	/* a confused VMM: ignore it */
		}
		log_debug("gateway %s: guest connection", g->name);
		spawn_handler(g, fd);
	}
	return NULL;
}

struct gateway *gateway_start(int svc_fd, const struct gw_upstream *up,
			      const struct gw_budget *budget, const char *name,
			      char *err, size_t errlen)
{
	struct gateway *g = calloc(1, sizeof(*g));
	uint8_t rnd[24];

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->up = *up;
	if (budget)
		g->budget = *budget;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->svc_fd = svc_fd;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd) ||
	    pipe2(g->stop_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "gateway setup: %s", strerror(errno));
		free(g);
		return NULL;
	}
	/* "vbgw-" + hex: recognisable in logs, useless outside this VM. */
	int o = snprintf(g->token, sizeof(g->token), "vbgw-");
	for (size_t i = 0; i < sizeof(rnd) && o + 2 < (int)sizeof(g->token); i++)
		o += snprintf(g->token + o, sizeof(g->token) - (size_t)o,
			      "%02x", rnd[i]);
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->idle, NULL);
	if (pthread_create(&g->thread, NULL, accept_main, g)) {
		snprintf(err, errlen, "gateway thread: %s", strerror(errno));
		close(g->stop_pipe[0]);
		close(g->stop_pipe[1]);
		free(g);
		return NULL;
	}
	return g;
}

const char *gateway_token(const struct gateway *g)
{
	return g->token;
}

void gateway_get_stats(struct gateway *g, struct gw_stats *st)
{
	pthread_mutex_lock(&g->lock);
	*st = g->st;
	pthread_mutex_unlock(&g->lock);
}

void gateway_stop(struct gateway *g)
{
	if (!g)
		return;
	(void)!write(g->stop_pipe[1], "x", 1);
	pthread_join(g->thread, NULL);
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	/* Unblock handlers stuck in I/O; they clean up themselves. */
	for (struct handler *h = g->active; h; h = h->next) {
		shutdown(h->cfd, SHUT_RDWR);
		if (h->ufd >= 0)
			shutdown(h->ufd, SHUT_RDWR);
	}
	while (g->nactive)
		pthread_cond_wait(&g->idle, &g->lock);
	pthread_mutex_unlock(&g->lock);
	close(g->stop_pipe[0]);
	close(g->stop_pipe[1]);
	pthread_cond_destroy(&g->idle);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
