/* sandbox.c: confine the VMM process before it runs guest code (STYLE R17).
 *
 * Order matters: the VMM first acquires every resource it will ever need
 * (/dev/kvm, guest RAM, eventfds, device fds), then calls sandbox_apply(),
 * then starts the vCPUs. From then on a compromised VMM — say, through a
 * device-model bug driven by a hostile guest — can only make the system
 * calls below. PR_SET_NO_NEW_PRIVS first (required for unprivileged
 * seccomp, and it stops setuid gains); the filter is installed with TSYNC
 * so every thread that exists is covered, and threads created later
 * inherit it. Default action: kill the whole process, which the
 * orchestrator reports as "VMM killed by SIGSYS (seccomp)".
 *
 * Every entry says why it is needed. Adding one needs a reason too.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <linux/kvm.h>
#include <seccomp.h>

#include "vmm.h"
#include "../util/util.h"

struct allowed {
	int nr;
	const char *why;
};

static const struct allowed allowed[] = {
	/* I/O thread event loop */
	{ SCMP_SYS(epoll_wait), "I/O loop wait" },
	{ SCMP_SYS(epoll_pwait), "I/O loop wait (musl may use pwait)" },
	{ SCMP_SYS(epoll_ctl), "watch/unwatch vsock host fds" },
	{ SCMP_SYS(read), "eventfds, kick fds" },
	{ SCMP_SYS(write), "eventfds, irqfds, stderr logs and console" },
	{ SCMP_SYS(readv), "vsock host fd -> guest rx buffers" },
	{ SCMP_SYS(writev), "guest tx data -> vsock host fd; stdio" },
	{ SCMP_SYS(close), "closing finished vsock connections" },
	{ SCMP_SYS(shutdown), "half-close a vsock host fd" },
	{ SCMP_SYS(socketpair), "one per new vsock connection" },
	{ SCMP_SYS(sendmsg), "IPC to the orchestrator (with fds)" },
	{ SCMP_SYS(recvmsg), "IPC from the orchestrator" },
	{ SCMP_SYS(getrandom), "virtio-rng backend" },
	{ SCMP_SYS(preadv), "virtio-blk reads from the disk file" },
	{ SCMP_SYS(pwritev), "virtio-blk writes to a read-write disk" },
	{ SCMP_SYS(pread64), "virtio-blk (libc may use plain pread)" },
	{ SCMP_SYS(pwrite64), "virtio-blk (libc may use plain pwrite)" },
	{ SCMP_SYS(fdatasync), "virtio-blk FLUSH" },
	/* threads and memory */
	{ SCMP_SYS(futex), "pthread mutexes and joins" },
	{ SCMP_SYS(mmap), "malloc; vCPU thread stacks" },
	{ SCMP_SYS(munmap), "free; thread stack release" },
	{ SCMP_SYS(mprotect), "thread stack guard pages" },
	{ SCMP_SYS(madvise), "malloc returning memory" },
	{ SCMP_SYS(mremap), "realloc of large buffers" },
	{ SCMP_SYS(brk), "malloc" },
	{ SCMP_SYS(set_robust_list), "new threads (musl)" },
	{ SCMP_SYS(set_tid_address), "new threads (musl)" },
	{ SCMP_SYS(membarrier), "musl thread list synchronisation" },
	{ SCMP_SYS(sched_yield), "spin-wait backoff in musl locks" },
	/* signals: vCPU kicks */
	{ SCMP_SYS(tgkill), "pthread_kill to kick a vCPU out of KVM_RUN" },
	{ SCMP_SYS(tkill), "musl's pthread_kill uses tkill" },
	{ SCMP_SYS(rt_sigprocmask), "pthread signal masks" },
	{ SCMP_SYS(rt_sigreturn), "return from the kick handler" },
	{ SCMP_SYS(gettid), "pthread_kill" },
	{ SCMP_SYS(getpid), "pthread_kill, logs" },
	/* time */
	{ SCMP_SYS(clock_gettime), "timeouts, when the vDSO is absent" },
	{ SCMP_SYS(nanosleep), "backoff" },
	{ SCMP_SYS(clock_nanosleep), "backoff" },
	/* leaving */
	{ SCMP_SYS(exit), "thread exit" },
	{ SCMP_SYS(exit_group), "process exit" },
};

/* Only for a VM with a NIC: libslirp opens the guest's TCP/UDP
 * connections on the host (the egress policy decides first, in the VMM,
 * before slirp sees a frame: host/vmm/net_host.c). socket() is limited to
 * AF_INET stream/datagram below. */
static const struct {
	int nr;
	const char *why;
} allowed_net[] = {
	{ SCMP_SYS(connect), "slirp: the guest's outbound connections" },
	{ SCMP_SYS(bind), "slirp: UDP sockets, published ports" },
	{ SCMP_SYS(listen), "slirp: published ports" },
	{ SCMP_SYS(accept), "slirp: connections to published ports" },
	{ SCMP_SYS(accept4), "slirp: (libc may use accept4)" },
	{ SCMP_SYS(getsockopt), "slirp: SO_ERROR after a connect" },
	{ SCMP_SYS(setsockopt), "slirp: SO_REUSEADDR, TCP_NODELAY, OOB" },
	{ SCMP_SYS(getsockname), "slirp: local addresses" },
	{ SCMP_SYS(getpeername), "slirp: connect completion" },
	{ SCMP_SYS(sendto), "slirp: send/sendto" },
	{ SCMP_SYS(recvfrom), "slirp: recv/recvfrom" },
	{ SCMP_SYS(poll), "the net thread's loop" },
	{ SCMP_SYS(ppoll), "the net thread's loop (libc may use ppoll)" },
};

/* ioctls: only what a running VM needs, nothing that creates or maps. */
static const unsigned long allowed_ioctls[] = {
	KVM_RUN,	/* the vCPU loop */
	KVM_IRQ_LINE,	/* serial interrupt */
	KVM_GET_REGS,	/* read-only: where a guest triple-faulted */
	KVM_GET_SREGS,
};

int sandbox_apply(bool net, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s",
			 strerror(errno));
		return -1;
	}
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		goto fail;
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i].nr, 0);
		/* -EFAULT: syscall unknown on this arch; harmless. */
		if (r < 0 && r != -EFAULT)
			goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed_ioctls); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, allowed_ioctls[i]));
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; net && i < ARRAY_SIZE(allowed_net); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_net[i].nr, 0);
		if (r < 0 && r != -EFAULT)
			goto fail;
	}
	if (net) {
		/* slirp: FIONREAD on its sockets; fcntl for O_NONBLOCK and
		 * FD_CLOEXEC; sockets of AF_INET only. */
		static const int fcmds[] = { F_GETFL, F_SETFL, F_GETFD,
					     F_SETFD };
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, FIONREAD));
		for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(fcmds); i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
					     SCMP_SYS(fcntl), 1,
					     SCMP_A1(SCMP_CMP_EQ, fcmds[i]));
		if (r >= 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
					     SCMP_SYS(socket), 1,
					     SCMP_A0(SCMP_CMP_EQ, AF_INET));
		if (r < 0)
			goto fail;
	}
	/* clone only for threads (musl's pthread_create sets CLONE_THREAD):
	 * the VMM never forks or execs once sandboxed. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
				     CLONE_THREAD));
	if (r < 0)
		goto fail;
	if ((r = seccomp_load(ctx)) < 0)
		goto fail;
	seccomp_release(ctx);
	return 0;
fail:
	snprintf(err, errlen, "seccomp: %s", strerror(-r));
	seccomp_release(ctx);
	return -1;
}
