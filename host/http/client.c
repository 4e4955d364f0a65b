/* client.c: HTTP/1.1 GET with a streamed body, over TCP or TLS — what
 * an image pull needs from a registry (host/image/registry.c).
 *
 * One request per connection (Connection: close): a pull makes a few
 * dozen requests, each of them mostly one large body, so keep-alive buys
 * nothing worth its state. The server is untrusted: the head is bounded
 * (HTTP_MAX_HEAD) and parsed by http.c, a body is framed by its
 * Content-Length or chunked encoding (never "until close" when either is
 * given), every wait is bounded by the timeout, and redirects are the
 * caller's to follow (it decides what credentials a new host gets).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

int http_url_parse(const char *url, struct http_url *u, char *err,
		   size_t errlen)
{
	const char *p;

	memset(u, 0, sizeof(*u));
	if (!strncmp(url, "https://", 8)) {
		u->tls = true;
		p = url + 8;
	} else if (!strncmp(url, "http://", 7)) {
		p = url + 7;
	} else {
		snprintf(err, errlen, "%.200s: not an http(s) URL", url);
		return -1;
	}
	size_t hl = strcspn(p, "/?#");
	const char *path = p + hl;
	if (!hl || hl >= sizeof(u->hostport) || strlen(path) >= sizeof(u->path) ||
	    strchr(path, '#') || strpbrk(url, " \r\n\t")) {
		snprintf(err, errlen, "%.200s: bad URL", url);
		return -1;
	}
	memcpy(u->hostport, p, hl);
	snprintf(u->path, sizeof(u->path), "%s", *path ? path : "/");
	/* host, [v6], host:port */
	const char *h = u->hostport, *colon;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');
		if (!rb || (rb[1] && rb[1] != ':')) {
			snprintf(err, errlen, "%.200s: bad host", url);
			return -1;
		}
		snprintf(u->host, sizeof(u->host), "%.*s", (int)(rb - h - 1), h + 1);
		colon = rb[1] ? rb + 1 : NULL;
	} else {
		colon = strchr(h, ':');
		snprintf(u->host, sizeof(u->host), "%.*s",
			 (int)(colon ? (size_t)(colon - h) : strlen(h)), h);
	}
	snprintf(u->port, sizeof(u->port), "%s", colon ? colon + 1 : u->tls ? "443" : "80");
	char *end;
	long port = strtol(u->port, &end, 10);
	if (!u->host[0] || *end || port < 1 || port > 65535) {
		snprintf(err, errlen, "%.200s: bad host or port", url);
		return -1;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Connect to every address of u in turn within timeout_ms; the socket is
 * left blocking with SO_RCVTIMEO/SO_SNDTIMEO = timeout_ms. fd or -1. */
static int dial_url(const struct http_url *u, unsigned timeout_ms, char *err,
		    size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *res, *ai;
	uint64_t deadline = now_ms() + timeout_ms;
	int fd = -1, e;

	if ((e = getaddrinfo(u->host, u->port, &hints, &res))) {
		snprintf(err, errlen, "resolving %s: %s", u->host, gai_strerror(e));
		return -1;
	}
	e = ETIMEDOUT;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int soerr = errno;
			socklen_t sl = sizeof(soerr);
			uint64_t t = now_ms();
			if (soerr == EINPROGRESS &&
			    poll(&p, 1, t < deadline ? (int)(deadline - t) : 0) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			e = soerr == EINPROGRESS ? ETIMEDOUT : soerr;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "connecting to %s: %s", u->hostport, strerror(e));
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
			      .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static ssize_t raw_read(struct http_resp *r, void *p, size_t n)
{
	if (r->tls)
		return tls_read(r->tls, p, n);
	for (;;) {
		ssize_t got = read(r->fd, p, n);
		if (got >= 0 || errno != EINTR)
			return got < 0 && errno == EAGAIN ? (errno = ETIMEDOUT, -1) : got;
	}
}

static int raw_write(struct http_resp *r, const char *p, size_t n)
{
	if (r->tls)
		return tls_write_all(r->tls, p, n);
	while (n) {
		ssize_t w = write(r->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static char *dup_header(const struct http_head *h, const char *name)
{
	const char *v = http_header(h, name);
	return v ? strdup(v) : NULL;
}

int http_get(const struct http_url *u, const char *const *headers,
	     const struct http_opts *o, struct http_resp *r, char *err,
	     size_t errlen)
{
	/* On the heap: callers run on stage threads with modest stacks. */
	char *req = malloc(HTTP_MAX_HEAD);
	int n;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->content_length = -1;
	if (!req) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = snprintf(req, HTTP_MAX_HEAD, "GET %s HTTP/1.1\r\nHost: %s\r\n"
		     "User-Agent: voidbox\r\nConnection: close\r\n"
		     "Accept-Encoding: identity\r\n", u->path, u->hostport);
	for (size_t i = 0; headers && headers[i] && n > 0 && (size_t)n < HTTP_MAX_HEAD; i++)
		n += snprintf(req + n, HTTP_MAX_HEAD - (size_t)n, "%s\r\n", headers[i]);
	if (n < 0 || (size_t)n + 3 > HTTP_MAX_HEAD) {
		snprintf(err, errlen, "request head too long");
		free(req);
		return -1;
	}
	memcpy(req + n, "\r\n", 3);
	n += 2;
	if ((r->fd = dial_url(u, o->timeout_ms, err, errlen)) < 0) {
		free(req);
		return -1;
	}
	if (u->tls) {
		char terr[256];
		r->tls = tls_client(r->fd, u->host, o->ca_file, o->timeout_ms, terr,
				    sizeof(terr));
		if (!r->tls) {
			int e = errno;
			snprintf(err, errlen, "TLS to %s: %s", u->hostport, terr);
			http_resp_close(r);
			free(req);
			errno = e;	/* EKEYREJECTED, EPROTO...: tls_client's */
			return -1;
		}
	}
	int w = raw_write(r, req, (size_t)n);
	free(req);
	if (w < 0) {
		snprintf(err, errlen, "sending to %s: %s", u->hostport, strerror(errno));
		http_resp_close(r);
		return -1;
	}
	/* The head, then whatever of the body came with it. */
	if (!(r->buf = malloc(HTTP_MAX_HEAD)))
		goto nomem;
	size_t have = 0, hl = 0;
	while (!(hl = http_head_len(r->buf, have))) {
		if (have == HTTP_MAX_HEAD) {
			snprintf(err, errlen, "%s: response head over %u bytes",
				 u->hostport, HTTP_MAX_HEAD);
			goto fail;
		}
		ssize_t got = raw_read(r, r->buf + have, HTTP_MAX_HEAD - have);
		if (got <= 0) {
			snprintf(err, errlen, "%s: %s before the response head",
				 u->hostport, got ? strerror(errno) : "connection closed");
			goto fail;
		}
		have += (size_t)got;
	}
	char *head = malloc(hl + 1);
	if (!head)
		goto nomem;
	memcpy(head, r->buf, hl);
	head[hl] = '\0';
	struct http_head h;
	if (http_parse_response_max(head, hl, &h, o->max_body ? o->max_body
				    : HTTP_MAX_BODY) < 0) {
		free(head);
		snprintf(err, errlen, "%s: malformed response head", u->hostport);
		goto fail;
	}
	r->status = h.status;
	r->chunked = h.chunked;
	r->content_length = h.content_length;
	r->location = dup_header(&h, "Location");
	r->www_authenticate = dup_header(&h, "WWW-Authenticate");
	r->content_type = dup_header(&h, "Content-Type");
	r->content_range = dup_header(&h, "Content-Range");
	free(head);
	memmove(r->buf, r->buf + hl, have - hl);
	r->blen = have - hl;
	r->boff = 0;
	if (!r->chunked && r->content_length < 0)
		r->until_close = true;	/* HTTP/1.1 allows it; bounded by the caller */
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	http_resp_close(r);
	return -1;
}

static void chunk_out(void *ctx, const char *p, size_t n)
{
	struct http_resp *r = ctx;
	memcpy(r->dec + r->dlen, p, n);	/* sized by the caller: dec >= raw */
	r->dlen += n;
}

ssize_t http_body_read(struct http_resp *r, void *buf, size_t n)
{
	if (r->done || !n)
		return 0;
	if (!r->chunked) {
		if (r->content_length >= 0 && r->got >= (uint64_t)r->content_length) {
			r->done = true;
			return 0;
		}
		if (r->content_length >= 0 && n > (uint64_t)r->content_length - r->got)
			n = (size_t)((uint64_t)r->content_length - r->got);
		ssize_t got;
		if (r->boff < r->blen) {
			got = (ssize_t)(r->blen - r->boff < n ? r->blen - r->boff : n);
			memcpy(buf, r->buf + r->boff, (size_t)got);
			r->boff += (size_t)got;
		} else if ((got = raw_read(r, buf, n)) < 0) {
			return -errno;
		}
		if (got == 0) {
			if (r->until_close) {
				r->done = true;
				return 0;
			}
			return -EPIPE;	/* closed before Content-Length */
		}
		r->got += (uint64_t)got;
		return got;
	}
	/* Chunked: decode raw bytes until some body or the end. */
	while (r->dpos == r->dlen) {
		if (r->ch.state == CH_DONE) {
			r->done = true;
			return 0;
		}
		if (!r->dec && !(r->dec = malloc(HTTP_MAX_HEAD)))
			return -ENOMEM;
		r->dpos = r->dlen = 0;
		size_t take;
		if (r->boff < r->blen) {
			take = r->blen - r->boff;
		} else {
			ssize_t got = raw_read(r, r->buf, HTTP_MAX_HEAD);
			if (got < 0)
				return -errno;
			if (got == 0)
				return -EPIPE;	/* closed inside the framing */
			r->boff = 0;
			r->blen = (size_t)got;
			take = r->blen;
		}
		if (chunked_feed(&r->ch, r->buf + r->boff, take, chunk_out, r) < 0)
			return -EPROTO;
		r->boff += take;
	}
	size_t k = r->dlen - r->dpos < n ? r->dlen - r->dpos : n;
	memcpy(buf, r->dec + r->dpos, k);
	r->dpos += k;
	r->got += k;
	return (ssize_t)k;
}

void http_resp_close(struct http_resp *r)
{
	if (r->tls)
		tls_close(r->tls);	/* closes fd */
	else if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r->dec);
	free(r->location);
	free(r->www_authenticate);
	free(r->content_type);
	free(r->content_range);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}
