/* vsock_host.c: the VMM's side of the virtio-vsock backend.
 *
 * Glue between the device model (devices/vsock.c) and the VMM: host fds
 * are watched on the I/O loop, finished connections and the agent's ready
 * knock go to the hooks (the VMM role forwards them to the orchestrator).
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm.h"
#include "../devices/vsock.h"
#include "../util/util.h"
#include "agent_abi.h"

/* The agent knocks on this host port once it listens: a REQUEST the
 * device refuses, but which tells us the guest is ready to serve. */
#define AGENT_READY_PORT (AGENT_VSOCK_PORT - 1)

/* The handler argument is the model's own connection (the tag it hands
 * to watch): it lives in the device's fixed connection table, stays put
 * until the model unwatches the fd, and the loop supplies the VM. Never
 * a pointer into anything that grows with the fd number (H1: a realloc'ed
 * per-fd table left earlier registrations pointing at freed memory). */
static void on_conn_fd(struct vm *vm, void *conn, uint32_t events)
{
	vsock_fd_event(vm->vsock, conn,
		       events & (EPOLLIN | EPOLLHUP | EPOLLERR),
		       events & (EPOLLOUT | EPOLLHUP | EPOLLERR));
}

static void b_watch(void *ctx, int fd, bool rd, bool wr, void *tag)
{
	struct vm *vm = ctx;

	/* EPOLLRDHUP-free: a hangup shows as readable (read returns 0). */
	if (io_watch(vm, fd, (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0),
		     on_conn_fd, tag) < 0)
		log_warnx("vsock: cannot watch fd %d", fd);
}

static void b_unwatch(void *ctx, int fd)
{
	io_unwatch(ctx, fd);
}

static void b_connected(void *ctx, uint32_t cookie, int fd, int err)
{
	struct vm *vm = ctx;

	if (vm->hooks.connected)
		vm->hooks.connected(vm->hooks.ctx, cookie, fd, err);
	else if (fd >= 0)
		close(fd);
}

static void b_knock(void *ctx, uint32_t port)
{
	struct vm *vm = ctx;

	/* Once per VM: a guest knocking in a loop must not turn into a
	 * stream of host messages. */
	if (port == AGENT_READY_PORT && !vm->ready_reported &&
	    vm->hooks.agent_ready) {
		vm->ready_reported = true;
		vm->hooks.agent_ready(vm->hooks.ctx,
				      vm_now_ns() - vm->t_start_ns);
	}
}

static bool b_listens(void *ctx, uint32_t port)
{
	struct vm *vm = ctx;

	return vm->hooks.listens && vm->hooks.listens(vm->hooks.ctx, port);
}

static int b_guest_conn(void *ctx, uint32_t port, int fd)
{
	struct vm *vm = ctx;

	return vm->hooks.guest_conn ? vm->hooks.guest_conn(vm->hooks.ctx,
							   port, fd)
				    : -1;
}

static void b_rekick(void *ctx, unsigned q)
{
	struct vm *vm = ctx;

	vbus_rekick(vm, vsock_virtio(vm->vsock), q);
}

static const struct vsock_backend_ops backend = {
	.watch = b_watch,
	.unwatch = b_unwatch,
	.connected = b_connected,
	.guest_knock = b_knock,
	.host_listens = b_listens,
	.guest_connected = b_guest_conn,
	.rekick = b_rekick,
};

static void kick(void *impl, unsigned q)
{
	vsock_queue_kick(impl, q);
}

int vsock_host_init(struct vm *vm)
{
	vm->vsock = vsock_new(vm->gmem, &backend, vm);
	if (!vm->vsock)
		return -ENOMEM;
	if (vm->cfg->vc->vsock_cid)
		vsock_set_cid(vm->vsock, vm->cfg->vc->vsock_cid);
	return vbus_add(vm, vsock_virtio(vm->vsock), kick, vm->vsock);
}

void vsock_host_fini(struct vm *vm)
{
	vsock_free(vm->vsock);
	vm->vsock = NULL;
}

int vm_vsock_connect(struct vm *vm, uint32_t port, uint32_t cookie)
{
	return vm->vsock ? vsock_connect(vm->vsock, port, cookie) : -ENODEV;
}
