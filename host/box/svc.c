/* svc.c: the service channel — how guest-opened connections to host
 * services reach the orchestrator.
 *
 * When the guest connects to a host vsock port (the gateway's), the VMM
 * passes the connection's fd over a channel of its own, apart from the
 * control socket (box.c makes it; box.svc_fd is our end): one
 * IPC_GUEST_CONN message per connection, the fd riding along with
 * SCM_RIGHTS (host/vmm/ipc.h). Consumers such as the gateway see plain
 * fds and ports here and never the message format.
 *
 * The VMM may be compromised by its guest: a message that is not a well
 * formed IPC_GUEST_CONN with one fd is dropped (its fds closed).
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "box.h"
#include "../vmm/ipc.h"

int box_svc_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	return 0;
}

int box_svc_recv(int svc_fd, uint32_t *port)
{
	struct ipc_hdr hdr;
	struct ipc_guest_conn gc;
	int fd = -1;
	unsigned nfds = 0;
	int r = ipc_recv(svc_fd, &hdr, &gc, sizeof(gc), &fd, 1, &nfds);

	if (r == 0)
		return -EPIPE;		/* the VMM is gone */
	if (r < 0)
		return r;		/* -EPROTO: malformed, fds closed */
	if (hdr.type != IPC_GUEST_CONN || hdr.len != sizeof(gc) || !nfds) {
		if (nfds)
			close(fd);
		return -EAGAIN;		/* a confused VMM: ignore it */
	}
	*port = gc.port;
	return fd;
}

int box_svc_send(int sock, uint32_t port, int fd)
{
	struct ipc_guest_conn gc = { .port = port };

	return ipc_send_fds(sock, IPC_GUEST_CONN, &gc, sizeof(gc), &fd, 1);
}
