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
#include <dirent.h>
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
	pthread_cond_t cv;
	unsigned nclients;
	unsigned opening;	/* clients using b (connecting) */
	bool gone;		/* attach_stop: b may go away */
	bool released;		/* attach_stop is done: the last client
				   frees a */
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

	struct attach *a = cl->a;
	/* b belongs to the holder (a stage's box lives on its stack): it
	 * is used only while attach_stop waits for us. */
	pthread_mutex_lock(&a->lock);
	bool ok = !a->gone;
	a->opening += ok;
	pthread_mutex_unlock(&a->lock);
	int r = ok ? agent_open(&c, a->b, 10000) : -1;
	if (!ok)
		c = (struct agent_conn){ .fd = -1 };
	pthread_mutex_lock(&a->lock);
	a->opening -= ok;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->lock);
	if (r == 0) {
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
	pthread_mutex_lock(&a->lock);
	bool last = !--a->nclients && a->released;
	pthread_mutex_unlock(&a->lock);
	if (last)
		free(a);
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
	pthread_cond_init(&a->cv, NULL);
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
	pthread_mutex_lock(&a->lock);
	a->gone = true;
	while (a->opening)
		pthread_cond_wait(&a->cv, &a->lock);
	pthread_mutex_unlock(&a->lock);
	usock_wake(&a->u);
	pthread_join(a->t, NULL);
	usock_close(&a->u);
	/* Clients still relaying end when the VM goes (their agent side
	 * closes); the last of them frees a. */
	pthread_mutex_lock(&a->lock);
	a->released = true;
	bool none = !a->nclients;
	pthread_mutex_unlock(&a->lock);
	if (none)
		free(a);
}

/* Sockets left by holders that were killed (-9: no chance to unlink)
 * go when the next holder starts: one nobody listens on refuses a
 * connect. So a killed run's sockets never pile up. */
static void runtime_sweep(void)
{
	char dir[80], path[108];
	struct dirent *d;
	unsigned n = 0;

	if (attach_dir(dir, sizeof(dir)) < 0)
		return;
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	while ((d = readdir(dp)) && n++ < 1024) {
		size_t l = strlen(d->d_name);
		struct stat st;
		if (l < 5 || (strcmp(d->d_name + l - 5, ".sock") &&
			      strcmp(d->d_name + l - 4, ".ctl")))
			continue;
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     d->d_name) >= sizeof(sa.sun_path) ||
		    lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		memcpy(sa.sun_path, path, strlen(path) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
		    errno == ECONNREFUSED)
			unlink(path);
		close(fd);
	}
	closedir(dp);
}

struct attach *attach_serve_free(struct box *b, const char *base,
				 char *name, size_t namelen, char *err,
				 size_t errlen)
{
	struct agent_conn probe;

	runtime_sweep();

	for (unsigned i = 1; i <= 20; i++) {
		char n[48];
		if (i == 1)
			snprintf(n, sizeof(n), "%.40s", base);
		else
			snprintf(n, sizeof(n), "%.36s-%u", base, i);
		if (agent_attach(&probe, n) == 0) {
			agent_close(&probe);	/* someone's: next name */
			continue;
		}
		snprintf(name, namelen, "%s", n);
		return attach_serve(b, n, err, errlen);
	}
	snprintf(err, errlen, "every attach name from %s to %s-20 is in use",
		 base, base);
	return NULL;
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
