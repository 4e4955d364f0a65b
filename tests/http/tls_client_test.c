/* tls_client_test.c: drive host/http/tls.c against a local server.
 *
 *   tls_client_test HOST PORT CA_PATH [TIMEOUT_MS [PATH]]
 *
 * Connects to 127.0.0.1:PORT, runs tls_client() for server name HOST
 * with CA_PATH ("-" passes NULL: the default lookup), sends
 * "GET PATH HTTP/1.0" and reads to the end. Prints "OK <status line>
 * body_sha256=<hex> body_bytes=<n>" and exits 0, or prints
 * "ERROR: <message>" and exits 1. Environment:
 *   TLS_TEST_NONBLOCK=1  the socket is non-blocking (tls.c must poll)
 *   TLS_TEST_RCVTIMEO=MS SO_RCVTIMEO on the socket (tls_read honours it)
 *   TLS_TEST_THREADS=N   N fetches at once in threads (the anchor cache
 *                        and the connections must not interfere); all
 *                        must succeed with the same result
 * Run by tests/http/test_tls.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http.h"
#include "util.h"

#define RESPONSE_MAX (64u << 20)
#define THREADS_MAX 64

static const char *host, *ca, *path = "/";
static unsigned port, timeout_ms = 5000, rcvtimeo_ms;
static bool nonblock;

struct fetch {
	pthread_t tid;
	char out[512];		/* "OK ..." or "ERROR: ..." */
};

static void *fetch_fail(struct fetch *f, const char *msg)
{
	snprintf(f->out, sizeof(f->out), "ERROR: %s", msg);
	return NULL;
}

/* Read in odd-sized pieces so records are split across calls. */
static char *read_all(struct tls_conn *t, size_t *lenp)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap), *p;

	while (buf) {
		if (cap - len < 7000) {
			if (cap >= RESPONSE_MAX || !(p = realloc(buf, cap * 2)))
				break;
			buf = p;
			cap *= 2;
		}
		ssize_t r = tls_read(t, buf + len, 7000);
		if (r <= 0) {
			*lenp = len;
			if (r == 0)
				return buf;
			break;
		}
		len += (size_t)r;
	}
	free(buf);
	return NULL;
}

static void *fetch(void *arg)
{
	struct fetch *f = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char err[256], req[512], hex[65];
	size_t len;

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fetch_fail(f, strerror(errno));
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (rcvtimeo_ms) {
		struct timeval tv = { .tv_sec = rcvtimeo_ms / 1000,
				      .tv_usec = rcvtimeo_ms % 1000 * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	struct tls_conn *t = tls_client(fd, host, ca, timeout_ms, err,
					sizeof(err));
	if (!t) {
		/* On failure the fd stays ours: prove it is still open. */
		if (fcntl(fd, F_GETFD) < 0)
			return fetch_fail(f, "tls_client closed fd on failure");
		close(fd);
		return fetch_fail(f, err);
	}
	if (tls_fd(t) != fd)
		return fetch_fail(f, "tls_fd does not return the socket");
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n"
			 "\r\n", path, host);
	if (tls_write_all(t, req, (size_t)n) < 0) {
		tls_close(t);
		return fetch_fail(f, strerror(errno));
	}
	char *buf = read_all(t, &len);
	int e = errno;
	tls_close(t);
	if (!buf)
		return fetch_fail(f, strerror(e));
	char *body = memmem(buf, len, "\r\n\r\n", 4);
	char *eol = memchr(buf, '\r', len);
	if (!body || !eol) {
		free(buf);
		return fetch_fail(f, "malformed HTTP response");
	}
	body += 4;
	sha256_hex(body, len - (size_t)(body - buf), hex);
	snprintf(f->out, sizeof(f->out), "OK %.*s body_sha256=%s "
		 "body_bytes=%zu", (int)(eol - buf), buf, hex,
		 len - (size_t)(body - buf));
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct fetch f[THREADS_MAX];
	const char *env;
	unsigned nthreads = 1;

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: %s HOST PORT CA_PATH [TIMEOUT_MS "
			"[PATH]]\n", argv[0]);
		return 2;
	}
	host = argv[1];
	port = (unsigned)strtoul(argv[2], NULL, 10);
	ca = strcmp(argv[3], "-") ? argv[3] : NULL;
	if (argc > 4)
		timeout_ms = (unsigned)strtoul(argv[4], NULL, 10);
	if (argc > 5)
		path = argv[5];
	nonblock = (env = getenv("TLS_TEST_NONBLOCK")) && !strcmp(env, "1");
	if ((env = getenv("TLS_TEST_RCVTIMEO")))
		rcvtimeo_ms = (unsigned)strtoul(env, NULL, 10);
	if ((env = getenv("TLS_TEST_THREADS")))
		nthreads = (unsigned)strtoul(env, NULL, 10);
	if (nthreads < 1 || nthreads > THREADS_MAX)
		nthreads = 1;

	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&f[i].tid, NULL, fetch, &f[i])) {
			printf("ERROR: pthread_create failed\n");
			return 1;
		}
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(f[i].tid, NULL);
	for (unsigned i = 0; i < nthreads; i++)
		if (strncmp(f[i].out, "OK ", 3) || strcmp(f[i].out, f[0].out)) {
			printf("%s\n", f[i].out[0] == 'E' ? f[i].out :
			       "ERROR: threads disagree");
			return 1;
		}
	printf("%s\n", f[0].out);
	return 0;
}
