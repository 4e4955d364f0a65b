/* usock.c: a listening unix socket a holder serves from its own thread
 * (the attach socket, the control socket): made mode 0600 in the private
 * runtime directory (runtime_path), accepted until another thread wakes
 * it, removed when closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

int usock_open(struct usock *u, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	*u = (struct usock){ .lfd = -1, .stop = { -1, -1 } };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	snprintf(u->path, sizeof(u->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);		/* a stale one from a killed holder */
	u->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u->lfd < 0 || bind(u->lfd, (struct sockaddr *)&sa,
			       sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(u->lfd, 8) < 0 ||
	    pipe2(u->stop, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (u->lfd >= 0) {
			close(u->lfd);
			unlink(path);
		}
		u->lfd = -1;
		return -1;
	}
	return 0;
}

int usock_accept(struct usock *u)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = u->lfd, .events = POLLIN },
				       { .fd = u->stop[0], .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (p[1].revents)
			return -1;
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(u->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
}

void usock_wake(struct usock *u)
{
	(void)!write(u->stop[1], "x", 1);
}

void usock_close(struct usock *u)
{
	if (u->lfd < 0)
		return;
	unlink(u->path);
	close(u->lfd);
	close(u->stop[0]);
	close(u->stop[1]);
	u->lfd = -1;
}
