/* attach.c: reach the agent of a VM held by another voidbox process.
 *
 * `voidbox run` of a `kind: sandbox` spec keeps its VM up until Ctrl-C.
 * While it does, it listens on a unix socket named after the sandbox in a
 * private runtime directory ($XDG_RUNTIME_DIR/voidbox, else
 * /tmp/voidbox-UID; 0700, owner checked); each client gets a fresh agent
 * connection, authenticated by the holder (the per-VM secret never leaves
 * it), and the bytes are relayed both ways. The client side then speaks
 * the ordinary agent protocol: `voidbox cp` uses agent_put/agent_get on
 * it. The socket is the capability: mode 0600, only the owner connects.
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
#include "../box/box.h"
#include "../util/util.h"

#define ATTACH_MAX 16		/* clients at once */

struct attach {
	struct box *b;
	struct usock u;
	pthread_t t;
	pthread_mutex_t lock;
	unsigned nclients;
};

struct client {
	struct attach *a;
	int cfd;
};

/* The private directory for sockets: created 0700, and refused when
 * someone else owns it or can enter it (a shared /tmp). */
static int attach_dir(char *out, size_t len)
{
	const char *x = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (x && *x == '/')
		snprintf(out, len, "%s/voidbox", x);
	else
		snprintf(out, len, "/tmp/voidbox-%u", (unsigned)getuid());
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != getuid() || (st.st_mode & 077)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int attach_path(const char *name, char *out, size_t len)
{
	return runtime_path(name, ".sock", out, len);
}

int runtime_path(const char *name, const char *suffix, char *out,
		 size_t len)
{
	char dir[80];

	if (!name[0] || strspn(name, "abcdefghijklmnopqrstuvwxyz"
			       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			strlen(name) || strlen(name) > 40) {
		errno = EINVAL;
		return -1;
	}
	if (attach_dir(dir, sizeof(dir)) < 0)
		return -1;
	snprintf(out, len, "%s/%s%s", dir, name, suffix);
	return 0;
}

/* Relay one client until either side closes. */
static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct agent_conn c;
	char buf[65536];

	if (agent_open(&c, cl->a->b, 10000) == 0) {
		struct pollfd p[2] = { { .fd = cl->cfd, .events = POLLIN },
				       { .fd = c.fd, .events = POLLIN } };
		for (bool done = false; !done;) {
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			for (int i = 0; i < 2 && !done; i++) {
				if (!(p[i].revents & (POLLIN | POLLHUP |
						      POLLERR)))
					continue;
				ssize_t n = read(p[i].fd, buf, sizeof(buf));
				if (n <= 0 && !(n < 0 && errno == EAGAIN))
					done = true;
				else if (n > 0 && agent_write_all(p[!i].fd, buf,
							  (size_t)n) < 0)
					done = true;
			}
		}
	}
	agent_close(&c);
	close(cl->cfd);
	pthread_mutex_lock(&cl->a->lock);
	cl->a->nclients--;
	pthread_mutex_unlock(&cl->a->lock);
	free(cl);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct attach *a = arg;

	for (int fd; (fd = usock_accept(&a->u)) >= 0;) {
		struct client *cl = malloc(sizeof(*cl));
		pthread_t t;
		pthread_mutex_lock(&a->lock);
		bool ok = cl && a->nclients < ATTACH_MAX;
		if (ok)
			a->nclients++;
		pthread_mutex_unlock(&a->lock);
		if (ok) {
			*cl = (struct client){ .a = a, .cfd = fd };
			if (pthread_create(&t, NULL, client_main, cl) == 0) {
				pthread_detach(t);
				continue;
			}
			pthread_mutex_lock(&a->lock);
			a->nclients--;
			pthread_mutex_unlock(&a->lock);
		}
		free(cl);
		close(fd);
	}
	return NULL;
}

struct attach *attach_serve(struct box *b, const char *name, char *err,
			    size_t errlen)
{
	struct attach *a = calloc(1, sizeof(*a));
	char path[108];

	if (!a || attach_path(name, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "attach socket for '%s': %s", name,
			 a ? strerror(errno) : "out of memory");
		free(a);
		return NULL;
	}
	a->b = b;
	if (usock_open(&a->u, path, err, errlen) < 0) {
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	if (pthread_create(&a->t, NULL, accept_main, a)) {
		snprintf(err, errlen, "attach thread failed");
		usock_close(&a->u);
		free(a);
		return NULL;
	}
	return a;
}

const char *attach_socket(const struct attach *a)
{
	return a->u.path;
}

void attach_stop(struct attach *a)
{
	if (!a)
		return;
	usock_wake(&a->u);
	pthread_join(a->t, NULL);
	usock_close(&a->u);
	/* Client threads end when the VM goes (their agent side closes);
	 * the attach struct stays allocated for them: the process is
	 * about to exit anyway. */
}

int agent_attach(struct agent_conn *c, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	*c = (struct agent_conn){ .fd = -1 };
	if (attach_path(name, sa.sun_path, sizeof(sa.sun_path)) < 0) {
		return agent_fail(c, errno, "sandbox name '%s': %s", name,
				  strerror(errno));
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa,
				 sizeof(sa)) < 0) {
		agent_fail(c, errno, "no running sandbox '%s' (%s: %s)", name,
			   sa.sun_path, strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}
