/* transport.c: one OTLP/HTTP POST over a plain socket or TLS
 * (host/http/tls.c), and the parsing of the endpoint URL and the
 * headers setting (contract in otel.h).
 *
 * Primer (OTLP 1.x specification, "OTLP/HTTP"). A batch is one POST of a
 * binary protobuf ExportXServiceRequest to <endpoint>/v1/traces,
 * /v1/metrics or /v1/logs with Content-Type application/x-protobuf. The
 * collector answers 2xx when it took the data (its body, an
 * ExportXServiceResponse, may still name rejected items: "partial
 * success"); 429, 502, 503 and 504, maybe with Retry-After, mean "retry
 * later"; any other status means "do not send this again". What to do
 * with the answer is export.c's business; here we only fetch it.
 *
 * One request per connection (Connection: close): a batch leaves every
 * few seconds at most, so keep-alive would save little and need a
 * response parser that tracks message ends. Every wait is bounded by the
 * request deadline, and the caller can cut any of them short: the
 * track callback learns each socket, and shutdown(2) on it wakes any
 * poll or recv here or in tls.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "otel.h"
#include "../http/http.h"
#include "../util/util.h"

#define RESP_MAX	(16u << 10)	/* head + partial_success body */

static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = otel_mono_ns();

	if (now >= deadline_ns)
		return 0;
	uint64_t ms = (deadline_ns - now + 999999) / 1000000;
	return ms > 1u << 30 ? 1 << 30 : (int)ms;
}

/* ---- HTTP over a socket or TLS ---------------------------------------- */

struct conn {
	int fd;
	struct tls_conn *tls;
};

static void conn_close(const struct otel_target *t, struct conn *c)
{
	if (c->fd >= 0 && t->track)
		t->track(t->track_ctx, -1);
	if (c->tls)
		tls_close(c->tls);	/* closes fd */
	else if (c->fd >= 0)
		close(c->fd);
	c->tls = NULL;
	c->fd = -1;
}

static int wait_connect(int fd, uint64_t deadline)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int ms = ms_left(deadline);
		if (!ms) {
			errno = ETIMEDOUT;
			return -1;
		}
		int r = poll(&p, 1, ms);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -1;
	errno = soerr;
	return soerr ? -1 : 0;
}

/* Connect to the endpoint (every address in turn) before deadline. The
 * socket ends up blocking: reads and writes are bounded by SO_RCVTIMEO/
 * SO_SNDTIMEO (set_timeouts) and by an abort's shutdown(2). */
static int dial(const struct otel_target *t, uint64_t deadline, char *err,
		size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV }, *res, *ai;
	int fd = -1, e = 0;

	if ((e = getaddrinfo(t->ep.host, t->ep.port, &hints, &res))) {
		snprintf(err, errlen, "resolving %s: %s", t->ep.host,
			 gai_strerror(e));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (t->track && !t->track(t->track_ctx, fd)) {
			close(fd);
			fd = -1;
			e = ECANCELED;
			break;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && wait_connect(fd, deadline) == 0))
			break;
		e = errno;
		struct conn c = { .fd = fd };
		conn_close(t, &c);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "connecting to %s: %s", t->ep.hostport,
			 strerror(e));
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static int set_timeouts(int fd, uint64_t deadline)
{
	int ms = ms_left(deadline);
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = ms % 1000 * 1000 };

	if (!ms) {
		errno = ETIMEDOUT;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

static int conn_write(struct conn *c, const char *p, size_t n,
		      uint64_t deadline)
{
	if (set_timeouts(c->fd, deadline) < 0)
		return -1;
	if (c->tls)
		return tls_write_all(c->tls, p, n);
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno == EAGAIN)
				errno = ETIMEDOUT;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t conn_read(struct conn *c, char *p, size_t n,
			 uint64_t deadline)
{
	ssize_t r;

	if (set_timeouts(c->fd, deadline) < 0)
		return -1;
	if (c->tls)
		return tls_read(c->tls, p, n);
	while ((r = recv(c->fd, p, n, 0)) < 0 && errno == EINTR)
		;
	if (r < 0 && errno == EAGAIN)
		errno = ETIMEDOUT;
	return r;
}

/* The value of header name in a response head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = strstr(head, "\r\n"); l; l = strstr(l, "\r\n")) {
		l += 2;
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			l += n + 1;
			return l + strspn(l, " \t");
		}
	}
	return NULL;
}

/* Read the answer: status, Retry-After, partial_success. */
static void read_reply(const struct otel_target *t, struct conn *c,
		       enum otel_signal sig, uint64_t deadline,
		       struct otel_reply *r, char *err, size_t errlen)
{
	char *buf = malloc(RESP_MAX + 1), *end = NULL, *cl;
	size_t len = 0;
	ssize_t n;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return;
	}
	/* Up to the end of the head, then Content-Length bytes of body if
	 * they fit, else whatever comes before the server closes. */
	while (len < RESP_MAX) {
		n = conn_read(c, buf + len, RESP_MAX - len, deadline);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			*end = '\0';
			end += 4;
		}
		if (end && (cl = (char *)header(buf, "content-length")) &&
		    (size_t)(buf + len - end) >= strtoull(cl, NULL, 10))
			break;
	}
	buf[len] = '\0';
	if (!end && !len) {
		snprintf(err, errlen, "no response from %s: %s",
			 t->ep.hostport, n < 0 ? strerror(errno) :
			 "connection closed");
	} else if (!end || sscanf(buf, "HTTP/1.%*1[01] %3d", &r->status) != 1) {
		snprintf(err, errlen, "bad response from %s", t->ep.hostport);
		r->status = -1;
	} else {
		const char *ra = header(buf, "retry-after");
		if (ra && *ra >= '0' && *ra <= '9')
			r->retry_after_ms = (unsigned)(strtoul(ra, NULL, 10) >
				3600 ? 3600000 : strtoul(ra, NULL, 10) * 1000);
		cl = (char *)header(buf, "content-length");
		size_t blen = (size_t)(buf + len - end);
		if (r->status / 100 == 2 && cl &&
		    strtoull(cl, NULL, 10) == blen)
			r->rejected = otel_decode_response(sig,
				(const uint8_t *)end, blen, r->msg,
				sizeof(r->msg));
		if (r->rejected < 0)
			r->rejected = 0;	/* undecodable: all taken */
	}
	free(buf);
}

void otel_post(const struct otel_target *t, enum otel_signal sig,
	       const uint8_t *body, size_t blen, struct otel_reply *r,
	       char *err, size_t errlen)
{
	static const char *const path[] = { "traces", "metrics", "logs" };
	uint64_t deadline = otel_mono_ns() + t->timeout_ms * 1000000ull;
	struct conn c = { .fd = -1 };
	char *req;
	int n;

	*r = (struct otel_reply){ .status = -1 };
	if ((c.fd = dial(t, deadline, err, errlen)) < 0)
		return;
	if (t->ep.https) {
		c.tls = tls_client(c.fd, t->ep.host, t->ca_path,
				   (unsigned)ms_left(deadline), err, errlen);
		if (!c.tls) {
			/* A certificate or CA problem stays until someone
			 * fixes the configuration: do not retry it. */
			r->permanent = errno == EKEYREJECTED ||
				       errno == ENOKEY;
			goto out_close;
		}
	}
	size_t cap = strlen(t->headers) + sizeof(t->ep) + 256 + blen;
	if (!(req = malloc(cap))) {
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	n = snprintf(req, cap, "POST %s/v1/%s HTTP/1.1\r\nHost: %s\r\n"
		     "User-Agent: voidbox-otlp/%s\r\n"
		     "Content-Type: application/x-protobuf\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
		     t->ep.prefix, path[sig], t->ep.hostport, t->version,
		     blen, t->headers);
	memcpy(req + n, body, blen);
	if (conn_write(&c, req, (size_t)n + blen, deadline) < 0)
		snprintf(err, errlen, "sending to %s: %s", t->ep.hostport,
			 strerror(errno));
	else
		read_reply(t, &c, sig, deadline, r, err, errlen);
	free(req);
out_close:
	conn_close(t, &c);
}

/* ---- configuration ---------------------------------------------------- */

int otel_endpoint_parse(const char *url, struct otel_endpoint *ep,
			char *err, size_t errlen)
{
	const char *p, *auth_end, *host, *host_end, *port = NULL;
	size_t plen = 0;

	*ep = (struct otel_endpoint){ 0 };
	if (!strncasecmp(url, "http://", 7)) {
		p = url + 7;
	} else if (!strncasecmp(url, "https://", 8)) {
		p = url + 8;
		ep->https = true;
	} else {
		snprintf(err, errlen, "OTLP endpoint %s: not http:// or "
			 "https://", url);
		return -1;
	}
	auth_end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(auth_end - p))) {
		/* Not echoed: the URL holds a credential. */
		snprintf(err, errlen, "OTLP endpoint: user info in the URL "
			 "is not supported (put credentials in headers)");
		return -1;
	}
	if (*p == '[') {		/* RFC 3986 IP-literal */
		host = p + 1;
		if (!(host_end = memchr(host, ']', (size_t)(auth_end - host))))
			goto bad;
		p = host_end + 1;
		if (p < auth_end && *p != ':')
			goto bad;
	} else {
		host = p;
		host_end = memchr(p, ':', (size_t)(auth_end - p));
		if (!host_end)
			host_end = auth_end;
		p = host_end;
	}
	if (p < auth_end) {
		port = p + 1;
		plen = (size_t)(auth_end - port);
	}
	size_t hlen = (size_t)(host_end - host);
	if (!hlen || hlen >= sizeof(ep->host) || plen >= sizeof(ep->port))
		goto bad;
	memcpy(ep->host, host, hlen);
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)host[i] <= ' ' || host[i] == 0x7f)
			goto bad;
	if (port && plen) {
		memcpy(ep->port, port, plen);
		char *e;
		unsigned long v = strtoul(ep->port, &e, 10);
		if (*e || !v || v > 65535 || ep->port[0] < '0' ||
		    ep->port[0] > '9')
			goto bad;
	} else {
		strcpy(ep->port, ep->https ? "443" : "80");
	}
	if (strpbrk(auth_end, "?# \t\r\n"))
		goto bad;
	size_t len = strlen(auth_end);
	while (len && auth_end[len - 1] == '/')
		len--;			/* base URL: ".../" + "/v1/traces" */
	if (len >= sizeof(ep->prefix))
		goto bad;
	memcpy(ep->prefix, auth_end, len);
	bool v6 = strchr(ep->host, ':');
	bool dflt = !strcmp(ep->port, ep->https ? "443" : "80");
	snprintf(ep->hostport, sizeof(ep->hostport), "%s%s%s%s%s",
		 v6 ? "[" : "", ep->host, v6 ? "]" : "", dflt ? "" : ":",
		 dflt ? "" : ep->port);
	return 0;
bad:
	snprintf(err, errlen, "OTLP endpoint %s: malformed URL", url);
	return -1;
}

static bool tchar(char c)		/* RFC 9110 §5.6.2 token */
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The exporter writes these itself; a duplicate would corrupt framing. */
static bool reserved_header(const char *k, size_t n)
{
	static const char *const names[] = {
		"host", "content-length", "content-type", "connection",
		"transfer-encoding", "user-agent",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == n && !strncasecmp(k, names[i], n))
			return true;
	return false;
}

/* OTel "Specify Protocol" / W3C Baggage syntax: comma-separated key=value
 * pairs, values percent-encoded, blanks around either ignored. */
int otel_headers_parse(const char *spec, char **out, char *err,
		       size_t errlen)
{
	size_t cap = 4 * strlen(spec) + 1, o = 0;
	char *buf = malloc(cap);

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (const char *p = spec; *p;) {
		const char *end = p + strcspn(p, ","), *eq, *k, *v;
		size_t kn, vn;
		k = p + strspn(p, " \t");
		p = *end ? end + 1 : end;
		if (k == end)
			continue;	/* an empty pair */
		if (!(eq = memchr(k, '=', (size_t)(end - k))))
			goto bad;
		for (kn = (size_t)(eq - k); kn && strchr(" \t", k[kn - 1]);)
			kn--;
		v = eq + 1 + strspn(eq + 1, " \t");
		for (vn = (size_t)(end - v); vn && strchr(" \t", v[vn - 1]);)
			vn--;
		if (!kn)
			goto bad;
		for (size_t i = 0; i < kn; i++)
			if (!tchar(k[i]))
				goto bad;
		if (reserved_header(k, kn)) {
			snprintf(err, errlen, "OTLP header %.*s: set by the "
				 "exporter", (int)kn, k);
			goto err_free;
		}
		memcpy(buf + o, k, kn);
		o += kn;
		buf[o++] = ':';
		buf[o++] = ' ';
		for (size_t i = 0; i < vn; i++) {
			int c = (unsigned char)v[i];
			if (c == '%') {
				int hi, lo;
				if (i + 2 >= vn ||
				    (hi = hexval(v[i + 1])) < 0 ||
				    (lo = hexval(v[i + 2])) < 0)
					goto bad;
				c = hi << 4 | lo;
				i += 2;
			}
			/* CR or LF would let a value start a new header. */
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				goto bad;
			buf[o++] = (char)c;
		}
		buf[o++] = '\r';
		buf[o++] = '\n';
	}
	buf[o] = '\0';
	*out = buf;
	return 0;
bad:
	snprintf(err, errlen, "OTLP headers: malformed (want k=v,k2=v2 with "
		 "URL-encoded values)");
err_free:
	free(buf);
	return -1;
}
