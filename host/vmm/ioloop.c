/* ioloop.c: the VMM's one event loop (STYLE R22, Redis ae.c scale).
 *
 * Runs on the VMM's main thread: device queue kicks (ioeventfds), vsock
 * host fds, the orchestrator socket and the stop eventfd. vCPU threads
 * never block on anything here. Handlers live in a table indexed by fd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm.h"
#include "../util/util.h"

int io_init(struct vm *vm)
{
	vm->epfd = epoll_create1(EPOLL_CLOEXEC);
	return vm->epfd < 0 ? -errno : 0;
}

void io_fini(struct vm *vm)
{
	if (vm->epfd >= 0) {
		close(vm->epfd);
		vm->epfd = -1;
	}
	free(vm->io);
	vm->io = NULL;
	vm->io_cap = 0;
}

static int grow(struct vm *vm, int fd)
{
	if ((unsigned)fd < vm->io_cap)
		return 0;
	unsigned cap = vm->io_cap ? vm->io_cap : 64;
	while (cap <= (unsigned)fd)
		cap *= 2;
	struct io_handler *n = realloc(vm->io, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + vm->io_cap, 0, (cap - vm->io_cap) * sizeof(*n));
	vm->io = n;
	vm->io_cap = cap;
	return 0;
}

int io_watch(struct vm *vm, int fd, uint32_t events, io_cb cb, void *arg)
{
	if (fd < 0 || grow(vm, fd) < 0)
		return -EINVAL;
	struct io_handler *h = &vm->io[fd];
	struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)fd };
	int op = h->cb ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(vm->epfd, op, fd, &ev) < 0)
		return -errno;
	h->cb = cb;
	h->arg = arg;
	return 0;
}

void io_unwatch(struct vm *vm, int fd)
{
	if (fd < 0 || (unsigned)fd >= vm->io_cap || !vm->io[fd].cb)
		return;
	epoll_ctl(vm->epfd, EPOLL_CTL_DEL, fd, NULL);
	vm->io[fd] = (struct io_handler){ 0 };
}

/* Run until the VM stops (stop_fd) or the timeout passes. */
void io_loop(struct vm *vm)
{
	const struct vm_cfg *c = vm->cfg->vc;
	uint64_t deadline = c->timeout_ms
		? vm->t_start_ns + (uint64_t)c->timeout_ms * 1000000ull : 0;
	struct epoll_event evs[32];

	while (!atomic_load(&vm->stopping)) {
		int ms = -1;
		if (deadline) {
			uint64_t now = vm_now_ns();
			if (now >= deadline) {
				vm_request_stop(vm, VM_EXIT_TIMEOUT,
						"timed out after %u ms",
						c->timeout_ms);
				break;
			}
			ms = (int)((deadline - now + 999999) / 1000000);
		}
		int n = epoll_wait(vm->epfd, evs, 32, ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			vm_request_stop(vm, VM_EXIT_SETUP_ERROR,
					"epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = (int)evs[i].data.u32;
			/* A handler may unwatch fds later in this batch. */
			if ((unsigned)fd < vm->io_cap && vm->io[fd].cb)
				vm->io[fd].cb(vm, vm->io[fd].arg,
					      evs[i].events);
		}
	}
}
