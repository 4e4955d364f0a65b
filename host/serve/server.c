/* server.c: the daemon's front — where it listens, who may talk to it,
 * and how a request's bytes become a struct req.
 *
 * Listeners: a unix socket, mode 0600 in the private runtime directory
 * (and the peer's uid must be ours: SO_PEERCRED), and, only when asked
 * and only with a bearer token, TCP. Each connection gets a thread (at
 * most SERVE_MAX_CONNS; one more is answered 503 and closed) and one
 * request: every reply says Connection: close, which keeps the parser
 * simple and a slow client from holding a thread between requests.
 * The request is untrusted: head bounded (SERVE_MAX_HEAD), body bounded
 * and only by Content-Length (no chunked uploads: 411), each read bounded
 * in time (SERVE_IO_TIMEOUT: 408), and every refusal a JSON error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "serve.h"
#include "../agent/agent.h"
#include "../history/history.h"
#include "../http/http.h"
#include "../util/util.h"

static volatile sig_atomic_t stop_sig;
static int stop_pipe[2] = { -1, -1 };

static void on_stop(int sig)
{
	stop_sig = sig;
	(void)!write(stop_pipe[1], "x", 1);
}

struct conn {
	struct serve_state *st;
	int fd;
	bool tcp;
	const char *token;
};

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_cv = PTHREAD_COND_INITIALIZER;
static unsigned nconns;


static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

int reply_raw(struct req *r, int status, const char *ctype,
	      const void *body, size_t len)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-store\r\n"
			 "X-Content-Type-Options: nosniff\r\n%s"
			 "Connection: close\r\n\r\n", status, reason(status),
			 ctype, len, status == 401
			 ? "WWW-Authenticate: Bearer realm=\"voidbox\"\r\n" : "");
	if (sock_send_all(r->fd, head, (size_t)n) < 0)
		return -1;
	return len ? sock_send_all(r->fd, body, len) : 0;
}

int reply_json(struct req *r, int status, cJSON *doc)
{
	char *js = doc ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (!js)
		return reply_raw(r, 500, "application/json",
				 "{\"error\":{\"code\":\"internal\",\"message\":"
				 "\"out of memory\"}}", 57);
	size_t n = strlen(js);
	js[n] = '\n';	/* replaces the terminator, sent as the last byte */
	int rc = reply_raw(r, status, "application/json", js, n + 1);
	js[n] = '\0';
	cJSON_free(js);
	return rc;
}

int reply_error(struct req *r, int status, const char *code,
		const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *doc = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(doc, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	return reply_json(r, status, doc);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f'
	       ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode [s, s+n) into out (NUL-terminated); '+' stays '+'
 * in paths and is a space in queries. -1 for a bad escape, a NUL byte,
 * or no room. */
static int pct_decode(const char *s, size_t n, bool query, char *out,
		      size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int h = hexval(s[i + 1]);
			int l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = h * 16 + l;
			i += 2;
		} else if (c == '+' && query) {
			c = ' ';
		}
		if (c == 0 || o + 1 >= len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

bool query_param(const struct req *r, const char *key, char *out,
		 size_t len)
{
	size_t kl = strlen(key);
	for (const char *p = r->query; *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > kl && !strncmp(p, key, kl) && p[kl] == '=')
			return pct_decode(p + kl + 1, n - kl - 1, true, out,
					  len) == 0;
		if (n == kl && !strncmp(p, key, kl)) {
			if (len)
				out[0] = '\0';
			return true;
		}
		p += n + (amp != NULL);
	}
	return false;
}

/* Constant time in the token's length: a wrong token tells nothing. */
static bool token_ok(const char *have, const char *want)
{
	size_t hl = strlen(have), wl = strlen(want);
	unsigned char d = (unsigned char)(hl != wl);
	for (size_t i = 0; i < wl; i++)
		d |= (unsigned char)(want[i] ^ (i < hl ? have[i] : 0));
	return d == 0;
}

/* A refusal sent before the request was read whole: the client may
 * still be sending (a 9 MiB body). Closing now would reset the
 * connection and lose our reply on its side, so stop writing and read
 * what comes, bounded in bytes and time (the usual "lingering close"). */
static void linger(int fd)
{
	char sink[65536];
	size_t total = 0;
	uint64_t t0 = mono_ns();
	struct timeval tv = { .tv_usec = 200000 };
	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (total < (32u << 20) && mono_ns() - t0 < 2000000000ull) {
		ssize_t k = recv(fd, sink, sizeof(sink), 0);
		if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN &&
			       errno != EWOULDBLOCK))
			break;
		if (k > 0)
			total += (size_t)k;
	}
}

/* Read the head (and the body it announces) and hand the request on. */
static void serve_conn(struct conn *c)
{
	struct req r = { .fd = c->fd, .tcp = c->tcp };
	char *buf = malloc(SERVE_MAX_HEAD + 1);
	char *body = NULL;
	size_t n = 0, hl = 0;

	if (!buf)
		return;
	while (!(hl = http_head_len(buf, n))) {
		if (n == SERVE_MAX_HEAD) {
			reply_error(&r, 431, "head_too_large", "the request "
				    "head is over %u bytes", SERVE_MAX_HEAD);
			goto out;
		}
		ssize_t k = recv(c->fd, buf + n, SERVE_MAX_HEAD - n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			reply_error(&r, 408, "timeout", "no complete request "
				    "in %d s", SERVE_IO_TIMEOUT);
			goto out;
		}
		if (k <= 0)
			goto out;
		n += (size_t)k;
	}
	struct http_head h;
	if (http_parse_request(buf, hl, &h) < 0) {
		reply_error(&r, 400, "bad_request", "malformed HTTP request");
		goto out;
	}
	r.method = h.method;
	if (c->tcp) {
		const char *a = http_header(&h, "authorization");
		if (!a || strncasecmp(a, "Bearer ", 7) ||
		    !token_ok(a + 7, c->token)) {
			reply_error(&r, 401, "unauthorized", a ? "wrong bearer"
				    " token" : "a bearer token is required");
			goto out;
		}
	}
	const char *q = strchr(h.target, '?');
	size_t pl = q ? (size_t)(q - h.target) : strlen(h.target);
	if (pct_decode(h.target, pl, false, r.path, sizeof(r.path)) < 0 ||
	    snprintf(r.query, sizeof(r.query), "%s", q ? q + 1 : "") >=
		    (int)sizeof(r.query)) {
		reply_error(&r, 414, "bad_target", "the request target is "
			    "malformed or too long");
		goto out;
	}
	if (h.chunked) {
		reply_error(&r, 411, "length_required", "send the body with "
			    "Content-Length");
		goto out;
	}
	long long cl = h.content_length < 0 ? 0 : h.content_length;
	if (cl > SERVE_MAX_BODY) {
		reply_error(&r, 413, "body_too_large", "the body is over %u "
			    "bytes", SERVE_MAX_BODY);
		goto out;
	}
	body = malloc((size_t)cl + 1);
	if (!body) {
		reply_error(&r, 503, "busy", "out of memory");
		goto out;
	}
	size_t have = n - hl < (size_t)cl ? n - hl : (size_t)cl;
	memcpy(body, buf + hl, have);
	while (have < (size_t)cl) {
		ssize_t k = recv(c->fd, body + have, (size_t)cl - have, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			reply_error(&r, 408, "timeout", "the body did not "
				    "arrive in %d s", SERVE_IO_TIMEOUT);
			goto out;
		}
		if (k <= 0)
			goto out;
		have += (size_t)k;
	}
	body[cl] = '\0';
	r.body = body;
	r.body_len = (size_t)cl;
	r.last_event_id = http_header(&h, "last-event-id");
	r.accept = http_header(&h, "accept");
	route(c->st, &r);
	free(body);
	free(buf);
	return;
out:
	linger(c->fd);
	free(body);
	free(buf);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	serve_conn(c);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&conns_lock);
	nconns--;
	pthread_cond_broadcast(&conns_cv);
	pthread_mutex_unlock(&conns_lock);
	return NULL;
}

static void accept_one(struct serve_state *st, int lfd, bool tcp,
		       const char *token)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (!tcp) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
		    (cr.uid != getuid() && cr.uid != 0)) {
			close(fd);
			return;
		}
	}
	struct timeval tv = { .tv_sec = SERVE_IO_TIMEOUT };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&conns_lock);
	bool full = nconns >= SERVE_MAX_CONNS;
	if (!full)
		nconns++;
	pthread_mutex_unlock(&conns_lock);
	struct conn *c = full ? NULL : malloc(sizeof(*c));
	pthread_t th;
	pthread_attr_t at;
	if (c) {
		*c = (struct conn){ .st = st, .fd = fd, .tcp = tcp,
				    .token = token };
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 512u << 10);
		int e = pthread_create(&th, &at, conn_main, c);
		pthread_attr_destroy(&at);
		if (!e)
			return;
		free(c);
		pthread_mutex_lock(&conns_lock);
		nconns--;
		pthread_mutex_unlock(&conns_lock);
	}
	struct req r = { .fd = fd };
	reply_error(&r, 503, "busy", "too many connections (%u)",
		    SERVE_MAX_CONNS);
	close(fd);
}

int serve_socket_path(char *out, size_t len)
{
	const char *d = getenv("VOIDBOX_DAEMON");
	if (d && d[0] == '/') {
		snprintf(out, len, "%s", d);
		return 0;
	}
	return runtime_path("serve", ".api", out, len);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warnx("serve: socket path too long: %s", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A live daemon answers a connect: refuse to steal its socket. A
	 * dead one's file refuses it: take the path over. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		log_warnx("serve: another daemon is listening on %s", path);
		close(fd);
		return -1;
	}
	unlink(path);
	mode_t old = umask(077);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		log_warn("serve: %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_tcp(const char *hostport)
{
	char host[256], *colon;
	snprintf(host, sizeof(host), "%s", hostport);
	colon = strrchr(host, ':');
	if (!colon || !colon[1]) {
		log_warnx("serve: --listen %s: expected HOST:PORT", hostport);
		return -1;
	}
	*colon = '\0';
	char *h = host;
	if (h[0] == '[' && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST |
					      AI_NUMERICSERV }, *ai;
	int e = getaddrinfo(h, colon + 1, &hints, &ai);
	if (e) {
		log_warnx("serve: --listen %s: %s (a numeric address and "
			  "port)", hostport, gai_strerror(e));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, 128) < 0) {
		log_warn("serve: --listen %s", hostport);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int serve_main(const struct serve_cfg *cfg)
{
	char path[4096], sock[108];
	char err[512];

	if (cfg->tcp && (!cfg->token || strlen(cfg->token) < 16)) {
		log_warnx("serve: --listen needs a bearer token of at least "
			  "16 characters (--token-file, VOIDBOX_TOKEN): TCP is "
			  "never served without one");
		return 2;
	}
	if (cfg->store_path)
		snprintf(path, sizeof(path), "%s", cfg->store_path);
	else if (hist_default_path(path, sizeof(path)) < 0) {
		log_warnx("serve: no place for the run history: set HOME, "
			  "XDG_STATE_HOME or VOIDBOX_STORE");
		return 2;
	}
	struct hist *h = hist_open(path, false, err, sizeof(err));
	if (!h) {
		log_warnx("serve: %s", err);
		return 1;
	}
	int n = hist_recover(h);
	if (n == -EBUSY) {
		log_warnx("serve: another daemon uses the history %s", path);
		hist_close(h);
		return 1;
	}
	if (n > 0)
		log_say("serve", "%d run%s left by the last daemon marked "
			"interrupted", n, n == 1 ? "" : "s");
	if (cfg->retain_age_s || cfg->retain_bytes) {
		int k = hist_retain(h, cfg->retain_age_s, cfg->retain_bytes);
		if (k > 0)
			log_say("serve", "retention: %d old run%s deleted", k,
				k == 1 ? "" : "s");
	}
	if (cfg->socket_path)
		snprintf(sock, sizeof(sock), "%s", cfg->socket_path);
	else if (serve_socket_path(sock, sizeof(sock)) < 0) {
		log_warn("serve: no private runtime directory for the socket");
		hist_close(h);
		return 1;
	}
	int ufd = listen_unix(sock);
	int tfd = cfg->tcp ? listen_tcp(cfg->tcp) : -1;
	if (ufd < 0 || (cfg->tcp && tfd < 0) || pipe2(stop_pipe, O_CLOEXEC)) {
		if (ufd >= 0)
			close(ufd), unlink(sock);
		if (tfd >= 0)
			close(tfd);
		hist_close(h);
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct serve_state *st = runner_start(h, cfg);
	if (!st) {
		close(ufd);
		unlink(sock);
		hist_close(h);
		return 1;
	}
	log_say("serve", "listening on %s%s%s; history %s; %u run%s at once",
		sock, cfg->tcp ? " and tcp " : "", cfg->tcp ? cfg->tcp : "",
		path, cfg->max_runs, cfg->max_runs == 1 ? "" : "s");
	struct pollfd pf[3] = { { .fd = stop_pipe[0], .events = POLLIN },
				{ .fd = ufd, .events = POLLIN },
				{ .fd = tfd, .events = POLLIN } };
	while (!stop_sig) {
		if (poll(pf, tfd >= 0 ? 3 : 2, 60000) < 0 && errno != EINTR)
			break;
		if (pf[1].revents & POLLIN)
			accept_one(st, ufd, false, NULL);
		if (tfd >= 0 && (pf[2].revents & POLLIN))
			accept_one(st, tfd, true, cfg->token);
		if (cfg->retain_age_s || cfg->retain_bytes) {
			static uint64_t last;
			if (mono_ns() - last > 600ull * 1000000000) {
				last = mono_ns();
				hist_retain(h, cfg->retain_age_s,
					    cfg->retain_bytes);
			}
		}
	}
	log_say("serve", "stopping: runs in flight are cancelled");
	close(ufd);
	unlink(sock);
	if (tfd >= 0)
		close(tfd);
	runner_stop(st);
	/* Connections finish their reply (each is bounded in time). */
	pthread_mutex_lock(&conns_lock);
	uint64_t t0 = mono_ns();
	while (nconns && mono_ns() - t0 < 15ull * 1000000000) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&conns_cv, &conns_lock, &ts);
	}
	bool idle = !nconns;
	pthread_mutex_unlock(&conns_lock);
	if (idle)	/* else a straggler still reads it; exit frees all */
		hist_close(h);
	return 0;
}
