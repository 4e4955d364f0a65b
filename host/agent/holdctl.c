/* holdctl.c: the control socket of a process holding a VM (`voidbox run`
 * of a `kind: sandbox` spec), for requests that are about the VM rather
 * than its agent: today `snapshot NAME` (voidbox snapshot create NAME
 * --from SANDBOX).
 *
 * One request per connection: a line of at most CTL_LINE_MAX bytes,
 * "VERB ARG\n", read within CTL_READ_MS, answered by "ok TEXT\n" or
 * "error TEXT\n". The socket sits in the same private runtime directory
 * as the attach socket (0700, owner checked) with mode 0600: only the
 * owner connects, as for attach. Requests are served one at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "../util/util.h"

#define CTL_LINE_MAX 512
#define CTL_READ_MS  5000

struct holdctl {
	holdctl_fn fn;
	void *ctx;
	struct usock u;
	pthread_t t;
};

/* Read one line (without its newline) within ms; 0, or -1. */
static int read_line(int fd, char *buf, size_t cap, unsigned ms)
{
	size_t n = 0;
	uint64_t end = mono_ns() + (uint64_t)ms * 1000000;

	while (n + 1 < cap) {
		uint64_t now = mono_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (now >= end || poll(&p, 1, (int)((end - now) / 1000000) + 1)
				  <= 0)
			return -1;
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		char *nl = memchr(buf + n, '\n', (size_t)k);
		n += (size_t)k;
		if (nl) {
			*nl = '\0';
			return 0;
		}
	}
	return -1;	/* too long */
}

static void serve_one(struct holdctl *h, int fd)
{
	char line[CTL_LINE_MAX], reply[1024], out[1100];

	if (read_line(fd, line, sizeof(line), CTL_READ_MS) < 0) {
		snprintf(out, sizeof(out), "error no request line (at most %d "
			 "bytes, newline-terminated, within %d ms)\n",
			 CTL_LINE_MAX - 1, CTL_READ_MS);
	} else {
		char *arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		reply[0] = '\0';
		int r = h->fn(h->ctx, line, arg ? arg : "", reply,
			      sizeof(reply));
		for (char *c = reply; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		snprintf(out, sizeof(out), "%s %s\n", r == 0 ? "ok" : "error",
			 reply);
	}
	(void)!agent_write_all(fd, out, strlen(out));
}

static void *ctl_main(void *arg)
{
	struct holdctl *h = arg;

	for (int fd; (fd = usock_accept(&h->u)) >= 0; close(fd))
		serve_one(h, fd);
	return NULL;
}

struct holdctl *holdctl_serve(const char *name, holdctl_fn fn, void *ctx,
			      char *err, size_t errlen)
{
	struct holdctl *h = calloc(1, sizeof(*h));
	char path[108];

	if (!h || runtime_path(name, ".ctl", path, sizeof(path)) < 0) {
		snprintf(err, errlen, "control socket for '%s': %s", name,
			 h ? strerror(errno) : "out of memory");
		free(h);
		return NULL;
	}
	h->fn = fn;
	h->ctx = ctx;
	if (usock_open(&h->u, path, err, errlen) < 0) {
		free(h);
		return NULL;
	}
	if (pthread_create(&h->t, NULL, ctl_main, h)) {
		snprintf(err, errlen, "control thread failed");
		usock_close(&h->u);
		free(h);
		return NULL;
	}
	return h;
}

void holdctl_stop(struct holdctl *h)
{
	if (!h)
		return;
	usock_wake(&h->u);
	pthread_join(h->t, NULL);
	usock_close(&h->u);
	free(h);
}

int holdctl_call(const char *name, const char *verb, const char *arg,
		 unsigned timeout_ms, char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[CTL_LINE_MAX + 1], in[1200];
	int fd = -1, rc = -1;

	if (runtime_path(name, ".ctl", sa.sun_path, sizeof(sa.sun_path)) < 0) {
		snprintf(reply, len, "sandbox name '%s': %s", name,
			 strerror(errno));
		return -1;
	}
	int n = snprintf(line, sizeof(line), "%s %s\n", verb, arg);
	if (n < 0 || n >= CTL_LINE_MAX || strchr(arg, '\n')) {
		snprintf(reply, len, "request too long");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(reply, len, "no running sandbox '%s' (%s: %s)", name,
			 sa.sun_path, strerror(errno));
		goto out;
	}
	if (agent_write_all(fd, line, (size_t)n) < 0 ||
	    read_line(fd, in, sizeof(in), timeout_ms) < 0) {
		snprintf(reply, len, "sandbox '%s' did not answer", name);
		goto out;
	}
	if (!strncmp(in, "ok ", 3)) {
		snprintf(reply, len, "%s", in + 3);
		rc = 0;
	} else {
		snprintf(reply, len, "%s", !strncmp(in, "error ", 6) ? in + 6
									: in);
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
