/* listen.c: the listening socket: AF_VSOCK in the VM, AF_UNIX in tests.
 *
 * This is the only place the two modes differ on the wire: accepted
 * sockets of either family go to conn_new and speak the same protocol.
 *
 * In the VM only the host (CID 2) may connect. The secret is on the
 * kernel command line, which every guest process can read in
 * /proc/cmdline, so a workload that reached our port over a loopback
 * transport could otherwise authenticate as the host.
 *
 * Once listening, the agent "knocks": it connects to host port
 * LISTEN_KNOCK_PORT, which the VMM's vsock device refuses but reports as
 * "agent ready" (host/vmm/vsock_host.c, AGENT_READY_PORT). That saves the
 * host from polling connects during boot.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent.h"

#define LISTEN_BACKLOG 16
#define LISTEN_BURST   16	/* accepts per wakeup; the rest next time */
/* Must match AGENT_READY_PORT in host/vmm/vsock_host.c. It belongs in
 * proto/agent_abi.h; until it moves there, both sides derive it so. */
#define LISTEN_KNOCK_PORT (AGENT_VSOCK_PORT - 1)

static struct ev_watch lw = { .fd = -1 };
static struct ev_watch knock = { .fd = -1 };
static int is_vsock;
/* Held in reserve: when accept fails with EMFILE the pending connection
 * would keep the level-triggered listener ready forever. Closing this
 * frees one fd to accept and drop it, so the loop does not spin. */
static int spare_fd = -1;

static void shed_one(int lfd)
{
	if (spare_fd >= 0)
		close(spare_fd);
	spare_fd = -1;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	agent_warn("out of file descriptors: dropped a connection");
}

static int from_host(const struct sockaddr_storage *ss)
{
	const struct sockaddr_vm *vm = (const struct sockaddr_vm *)ss;

	return vm->svm_family == AF_VSOCK && vm->svm_cid == VMADDR_CID_HOST;
}

static void listen_accept(struct ev_watch *w, uint32_t re)
{
	for (int i = 0; i < LISTEN_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				shed_one(w->fd);
			else if (errno != EAGAIN)
				agent_warn("accept: %s", strerror(errno));
			return;
		}
		if (is_vsock && !from_host(&ss)) {
			agent_warn("refusing vsock connection from cid %u",
				   ((struct sockaddr_vm *)&ss)->svm_cid);
			close(fd);
			continue;
		}
		int err = conn_new(fd);
		if (err < 0)
			agent_warn("connection: %s", strerror(-err));
	}
}

/* Common tail: listen and register. Takes ownership of fd. */
static int listen_start(int fd)
{
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ev_watch_init(&lw, fd, listen_accept);
	int err = ev_set(&lw, EPOLLIN);
	if (err < 0)
		ev_close(&lw);
	return err;
}

int listen_vsock(uint32_t port)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = port,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	is_vsock = 1;
	return listen_start(fd);
}

int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return -errno;
	unlink(path);	/* a stale socket from an earlier run */
	/* Owner only: the secret is not the only lock on a test socket. */
	mode_t old = umask(077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int err = errno;
	umask(old);
	if (r < 0) {
		close(fd);
		return -err;
	}
	return listen_start(fd);
}

/* The refusal (or the connect timeout) arrives as an error event. */
static void knock_done(struct ev_watch *w, uint32_t re)
{
	ev_close(w);
}

int listen_knock(void)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_HOST,
		.svm_port = LISTEN_KNOCK_PORT,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	if (fd < 0)
		return -errno;
	/* The REQUEST goes out inside connect(); the socket is kept until
	 * the answer so it is not reset before the device has seen it. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
	    errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		return err == ECONNRESET || err == ECONNREFUSED ? 0 : -err;
	}
	ev_watch_init(&knock, fd, knock_done);
	int err = ev_set(&knock, EPOLLOUT | EPOLLIN);
	if (err < 0)
		ev_close(&knock);
	return err;
}
