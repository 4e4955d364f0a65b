/* ipc.c: send and receive ipc.h messages with optional fds. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc.h"

static int send_flags = MSG_NOSIGNAL;

void ipc_nonblocking_sends(bool on)
{
	send_flags = MSG_NOSIGNAL | (on ? MSG_DONTWAIT : 0);
}

int ipc_send_fds(int sock, uint32_t type, const void *p, size_t len,
		 const int *fds, unsigned nfds)
{
	struct ipc_hdr h = { .type = type, .len = (uint32_t)len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (len > IPC_MAX || nfds > IPC_MAX_FDS)
		return -EMSGSIZE;
	if (nfds) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, send_flags);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int ipc_send(int sock, uint32_t type, const void *a, size_t alen,
	     const void *b, size_t blen, int fd)
{
	char buf[IPC_MAX];

	if (alen + blen > sizeof(buf))
		return -EMSGSIZE;
	if (alen)
		memcpy(buf, a, alen);
	if (blen)
		memcpy(buf + alen, b, blen);
	return ipc_send_fds(sock, type, buf, alen + blen, &fd, fd >= 0);
}

int ipc_recv(int sock, struct ipc_hdr *hdr, void *buf, size_t cap, int *fds,
	     unsigned maxfds, unsigned *nfds)
{
	struct iovec iov[2] = { { hdr, sizeof(*hdr) }, { buf, cap } };
	union {
		char b[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2,
			      .msg_control = u.b,
			      .msg_controllen = sizeof(u.b) };
	ssize_t n;
	unsigned got = 0;

	*nfds = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
	     c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int tmp[IPC_MAX_FDS];
		if (k > IPC_MAX_FDS)
			k = IPC_MAX_FDS;
		memcpy(tmp, CMSG_DATA(c), k * sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			if (got < maxfds)
				fds[got++] = tmp[i];
			else
				close(tmp[i]);	/* more than expected */
		}
	}
	*nfds = got;
	/* Truncated message, short header or a length that lies: reject. */
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(*hdr) || hdr->len != (size_t)n - sizeof(*hdr) ||
	    hdr->type == 0 || hdr->type >= IPC_TYPE_MAX) {
		for (unsigned i = 0; i < got; i++)
			close(fds[i]);
		*nfds = 0;
		return -EPROTO;
	}
	return 1;
}
