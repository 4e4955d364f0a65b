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
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/kvm.h>
#include <seccomp.h>

#include "vmm.h"
#include "../util/util.h"

/* The type part of socket(2)'s type argument (the kernel's
 * SOCK_TYPE_MASK; the bits above are SOCK_NONBLOCK/SOCK_CLOEXEC). */
#define SOCK_TYPE_BITS 0xf

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
	/* signals: vCPU kicks. tgkill is added below, pinned to our own
	 * process; tkill (musl's pthread_kill and raise) is not allowed at
	 * all: it takes a bare tid, which could be any process's thread. */
	{ SCMP_SYS(rt_sigprocmask), "pthread signal masks" },
	{ SCMP_SYS(rt_sigreturn), "return from the kick handler" },
	{ SCMP_SYS(gettid), "a vCPU thread records its tid for kicks" },
	{ SCMP_SYS(getpid), "tgkill's own pid, logs" },
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
 * before slirp sees a frame: host/vmm/net_host.c). socket() is added
 * separately by socket_rules(): AF_INET stream or datagram only, SOCK_RAW
 * refused with EPERM, any other family or type kills the VMM. None of
 * these can check addresses: a compromised VMM with a NIC reaches
 * whatever the host user can. */
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

/* Only for a VM with shared directories (host/fs/ serves them in this
 * process). Each of these names a path seccomp cannot check: the
 * Landlock domain applied first (share_host.c) keeps them beneath the
 * mount roots; the server itself never builds a path (fs_ops.c). */
static const struct {
	int nr;
	const char *why;
} allowed_fs[] = {
	{ SCMP_SYS(openat), "re-open a node through /proc/self/fd; opendir" },
	{ SCMP_SYS(openat2), "LOOKUP/CREATE: RESOLVE_BENEATH opens" },
	{ SCMP_SYS(fstat), "GETATTR of a node (musl's fstatat(AT_EMPTY_PATH))" },
	{ SCMP_SYS(newfstatat), "GETATTR of a node" },
	{ SCMP_SYS(fstatfs), "STATFS" },
	{ SCMP_SYS(getdents64), "READDIR" },
	{ SCMP_SYS(lseek), "READDIR offsets, LSEEK (SEEK_DATA/HOLE)" },
	{ SCMP_SYS(mkdirat), "MKDIR" },
	{ SCMP_SYS(unlinkat), "UNLINK, RMDIR" },
	{ SCMP_SYS(renameat2), "RENAME, RENAME2" },
	{ SCMP_SYS(linkat), "LINK (through /proc/self/fd)" },
	{ SCMP_SYS(symlinkat), "SYMLINK" },
	{ SCMP_SYS(readlinkat), "READLINK" },
	{ SCMP_SYS(fchmodat), "SETATTR mode (through /proc/self/fd)" },
	{ SCMP_SYS(utimensat), "SETATTR times (through /proc/self/fd)" },
	{ SCMP_SYS(ftruncate), "SETATTR size" },
	{ SCMP_SYS(fallocate), "FALLOCATE" },
	{ SCMP_SYS(fsync), "FSYNC" },
};

/* ioctls: only what a running VM needs, nothing that creates or maps.
 * Matched on the low 32 bits of the request (IOCTL_REQ): the kernel
 * reads it as an unsigned int, and musl's ioctl(int fd, int req, ...)
 * passes it sign-extended, so a 64-bit compare misses every number with
 * bit 31 set (_IOR: KVM_GET_REGS, KVM_GET_SREGS). (SCMP_A1_32 would
 * not do: it only narrows the datum, the upper word is still compared.) */
#define IOCTL_REQ(req) SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (req))
static const unsigned long allowed_ioctls[] = {
	KVM_RUN,	/* the vCPU loop */
	KVM_IRQ_LINE,	/* serial interrupt */
	KVM_GET_REGS,	/* read-only: where a guest triple-faulted */
	KVM_GET_SREGS,
	/* read-only state a snapshot takes (snapshot.c, cpu_state.c): this
	 * VM's own vCPUs and chips, nothing of the host */
	KVM_GET_MP_STATE, KVM_GET_FPU, KVM_GET_XSAVE, KVM_GET_XSAVE2,
	KVM_GET_XCRS, KVM_GET_DEBUGREGS, KVM_GET_LAPIC, KVM_GET_MSRS,
	KVM_GET_VCPU_EVENTS, KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK,
};

/* socket(2) with a NIC: AF_INET, SOCK_STREAM or SOCK_DGRAM only (the
 * type's flag bits masked off: slirp adds SOCK_CLOEXEC). DGRAM includes
 * unprivileged ICMP ping sockets (IPPROTO_ICMP), slirp's first choice for
 * a guest's ping. When the host's ping_group_range refuses those, slirp
 * tries SOCK_RAW: that gets EPERM here, so ping degrades to slirp's UDP
 * echo fallback instead of killing the VM. Anything else: killed. */
static int socket_rules(scmp_filter_ctx ctx)
{
	static const struct {
		int type;
		uint32_t action;
	} types[] = {
		{ SOCK_STREAM, SCMP_ACT_ALLOW },
		{ SOCK_DGRAM, SCMP_ACT_ALLOW },
		{ SOCK_RAW, SCMP_ACT_ERRNO(EPERM) },
	};
	int r = 0;

	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(types); i++)
		r = seccomp_rule_add(ctx, types[i].action, SCMP_SYS(socket), 2,
				     SCMP_A0(SCMP_CMP_EQ, AF_INET),
				     SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_BITS,
					     types[i].type));
	return r;
}

/* Give up every capability before the filter goes on: a VMM started by
 * root (or with file capabilities) must not keep CAP_NET_RAW, CAP_KILL,
 * CAP_SYS_ADMIN... for a compromise to use. Ambient first, then the
 * bounding set (needs CAP_SETPCAP, which only a privileged VMM has: an
 * unprivileged one has nothing to drop and exec is forbidden anyway),
 * then permitted, effective and inheritable in one capset. Everything
 * the VMM needs with privilege (/dev/kvm, guest RAM, published ports) is
 * acquired already. */
static int drop_caps(char *err, size_t errlen)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { 0 };

	/* EINVAL: a kernel without ambient capabilities (< 4.3) */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL) {
		snprintf(err, errlen, "clearing ambient capabilities: %s",
			 strerror(errno));
		return -1;
	}
	for (unsigned long cap = 0; cap < 64; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break;		/* past the kernel's last cap */
		if (in && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
		    errno != EPERM) {
			snprintf(err, errlen, "dropping capability %lu: %s",
				 cap, strerror(errno));
			return -1;
		}
	}
	if (syscall(SYS_capset, &h, d) < 0) {
		snprintf(err, errlen, "capset: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int sandbox_apply(bool net, bool shares, int landlock_fd, char *err,
		  size_t errlen)
{
	scmp_filter_ctx ctx;
	int r;

	if (drop_caps(err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s",
			 strerror(errno));
		return -1;
	}
	if (landlock_fd >= 0 &&
	    syscall(SYS_landlock_restrict_self, landlock_fd, 0) < 0) {
		snprintf(err, errlen, "landlock_restrict_self: %s",
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
				     IOCTL_REQ(allowed_ioctls[i]));
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; net && i < ARRAY_SIZE(allowed_net); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_net[i].nr, 0);
		if (r < 0 && r != -EFAULT)
			goto fail;
	}
	for (size_t i = 0; shares && i < ARRAY_SIZE(allowed_fs); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_fs[i].nr, 0);
		if (r < 0 && r != -EFAULT)
			goto fail;
	}
	/* musl's fstatat falls back to F_GETFD on an O_PATH fd (with a
	 * NIC the net rules below allow it already). */
	if (shares && !net &&
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				  SCMP_A1(SCMP_CMP_EQ, F_GETFD))) < 0)
		goto fail;
	if (net) {
		/* slirp: FIONREAD on its sockets; fcntl for O_NONBLOCK and
		 * FD_CLOEXEC; sockets of AF_INET only. */
		static const int fcmds[] = { F_GETFL, F_SETFL, F_GETFD,
					     F_SETFD };
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     IOCTL_REQ(FIONREAD));
		for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(fcmds); i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
					     SCMP_SYS(fcntl), 1,
					     SCMP_A1(SCMP_CMP_EQ, fcmds[i]));
		if (r >= 0)
			r = socket_rules(ctx);
		if (r < 0)
			goto fail;
	}
	/* Signals only to our own threads: the vCPU kick. Another
	 * process (the orchestrator, other VMMs of this uid) is out of
	 * reach. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (r < 0)
		goto fail;
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
