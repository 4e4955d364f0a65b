/* client.c: the CLI's side of the daemon API — one HTTP/1.1 request per
 * connection over the daemon's unix socket, or TCP with the bearer token
 * of $VOIDBOX_TOKEN. Replies are bounded (DRESP_MAX) and parsed with the
 * same hostile-input rules as everything else (host/http/http.c).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "serve.h"
#include "../http/http.h"

#define DRESP_MAX (256u << 20)

const char *daemon_addr(const char *opt, char *buf, size_t len)
{
	if (opt && *opt)
		return opt;
	const char *e = getenv("VOIDBOX_DAEMON");
	if (e && *e && strcmp(e, "1"))
		return e;
	return serve_socket_path(buf, len) == 0 ? buf : NULL;
}

static int dial(const char *addr, bool *tcp, char *err, size_t errlen)
{
	*tcp = !strncmp(addr, "http://", 7);
	if (!*tcp) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(addr) >= sizeof(sa.sun_path)) {
			snprintf(err, errlen, "%s: path too long", addr);
			return -1;
		}
		memcpy(sa.sun_path, addr, strlen(addr) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa,
				       sizeof(sa)) == 0)
			return fd;
		snprintf(err, errlen, "no daemon at %s: %s (start one with "
			 "`voidbox serve`)", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char host[256];
	snprintf(host, sizeof(host), "%s", addr + 7);
	char *slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	char *colon = strrchr(host, ':');
	if (!colon) {
		snprintf(err, errlen, "%s: expected http://HOST:PORT", addr);
		return -1;
	}
	*colon = '\0';
	char *h = host;
	if (h[0] == '[' && colon[-1] == ']') {
		h++;
		colon[-1] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int e = getaddrinfo(h, colon + 1, &hints, &ai);
	if (e) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(e));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(err, errlen, "no daemon at %s: %s", addr,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int send_req(int fd, bool tcp, const char *method, const char *path,
		    const char *extra, const char *body, size_t len)
{
	const char *tok = tcp ? getenv("VOIDBOX_TOKEN") : NULL;
	char head[2048];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: voidbox\r\n"
			 "Connection: close\r\n%s%s%s%s"
			 "Content-Length: %zu\r\n%s\r\n", method, path,
			 tok ? "Authorization: Bearer " : "", tok ? tok : "",
			 tok ? "\r\n" : "", body ? "Content-Type: "
			 "application/json\r\n" : "", len, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (sock_send_all(fd, head, (size_t)n) < 0)
		return -1;
	return len ? sock_send_all(fd, body, len) : 0;
}

int daemon_request(const char *addr, const char *method, const char *path,
		   const char *body, size_t body_len, struct dresp *out,
		   char *err, size_t errlen)
{
	bool tcp;
	*out = (struct dresp){ 0 };
	int fd = dial(addr, &tcp, err, errlen);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 120 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send_req(fd, tcp, method, path, NULL, body, body_len) < 0) {
		snprintf(err, errlen, "%s: sending the request: %s", addr,
			 strerror(errno));
		close(fd);
		return -1;
	}
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		if (n == cap) {
			if (cap >= DRESP_MAX) {
				snprintf(err, errlen, "%s: reply too large",
					 addr);
				goto bad;
			}
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb)
				goto bad;
			buf = nb;
			cap *= 2;
		}
		ssize_t k = recv(fd, buf + n, cap - n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(err, errlen, "%s: %s", addr, strerror(errno));
			goto bad;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	fd = -1;
	size_t hl = buf ? http_head_len(buf, n) : 0;
	struct http_head h;
	if (!hl || http_parse_response_max(buf, hl, &h, DRESP_MAX) < 0) {
		snprintf(err, errlen, "%s: not an HTTP reply", addr);
		goto bad;
	}
	out->status = h.status;
	out->len = n - hl;
	if (h.content_length >= 0 && (size_t)h.content_length < out->len)
		out->len = (size_t)h.content_length;
	memmove(buf, buf + hl, out->len);
	buf[out->len] = '\0';
	out->body = buf;
	return 0;
bad:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
}

int daemon_stream(const char *addr, const char *path,
		  const char *last_event_id,
		  int (*on_line)(void *ctx, const char *line), void *ctx,
		  char *err, size_t errlen)
{
	bool tcp;
	int fd = dial(addr, &tcp, err, errlen);
	if (fd < 0)
		return -1;
	char extra[96] = "Accept: text/event-stream\r\n";
	if (last_event_id)
		snprintf(extra, sizeof(extra), "Accept: text/event-stream\r\n"
			 "Last-Event-ID: %s\r\n", last_event_id);
	if (send_req(fd, tcp, "GET", path, extra, NULL, 0) < 0) {
		snprintf(err, errlen, "%s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	char *line = malloc(1u << 20), buf[65536];
	size_t n = 0, have = 0, at = 0;
	bool head = true, ok = false;
	int rc = -1;
	while (line) {
		if (at == have) {
			ssize_t k = recv(fd, buf, sizeof(buf), 0);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = head ? -1 : 0;
				if (head)
					snprintf(err, errlen, "%s: closed "
						 "before a reply", addr);
				break;
			}
			have = (size_t)k;
			at = 0;
		}
		char c = buf[at++];
		if (c != '\n') {
			if (n < (1u << 20) - 1)
				line[n++] = c;
			continue;
		}
		if (n && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		n = 0;
		if (head) {
			if (!ok) {
				ok = !strncmp(line, "HTTP/1.1 200", 12);
				if (!ok) {
					snprintf(err, errlen, "%s: %s", addr,
						 line);
					break;
				}
			} else if (!line[0]) {
				head = false;
			}
			continue;
		}
		if (on_line(ctx, line)) {
			rc = 0;
			break;
		}
	}
	free(line);
	close(fd);
	return rc;
}
