/* vmm_main.c: the VMM role — one process, one VM (STYLE R1).
 *
 * The orchestrator re-execs /proc/self/exe as `voidbox __vmm` with the
 * IPC socket on fd 3, sends IPC_CONFIG, and from then on talks only in
 * ipc.h messages. This process acquires the VM's resources, sandboxes
 * itself, runs the guest, reports IPC_EXITED and exits. It may fatal() on
 * broken invariants: that takes down only this VM, and the orchestrator
 * turns the EOF into a clear error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "vmm.h"
#include "../util/util.h"
#include "agent_abi.h"

#define CONFIG_WAIT_MS 10000
#define BLOB_MAX (1ull << 30)

struct vmm {
	int sock;
	struct vm *vm;
	struct vm_cfg vc;	/* as the orchestrator sent it */
	struct vm_config cfg;	/* + the images and the command line */
	char cmdline[VM_CMDLINE_MAX];
	uint8_t *kernel, *initrd;	/* when passed as fds */
	pid_t parent;		/* orchestrator: the tgkill probe's target */
	int svc_fd;		/* service channel, -1 without one */
	uint16_t probe_result;	/* enum vm_probe_result, for IPC_EXITED */
	uint16_t probe_errno;
};

static int read_fd(int fd, uint8_t **out, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > BLOB_MAX)
		return -EINVAL;
	uint8_t *p = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (p && got < (size_t)st.st_size) {
		ssize_t n = pread(fd, p + got, (size_t)st.st_size - got,
				  (off_t)got);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			free(p);
			return n < 0 ? -errno : -EIO;
		}
		got += (size_t)n;
	}
	if (!p)
		return -ENOMEM;
	*out = p;
	*len = got;
	return 0;
}

/* Receive IPC_CONFIG: the codec validates the configuration; here the
 * images are read from their fds (or taken from the embedded blobs) and
 * the guest's command line is built. */
static int get_config(struct vmm *m, char *err, size_t errlen)
{
	static uint8_t buf[IPC_MAX];
	struct ipc_hdr h;
	int fds[IPC_MAX_FDS] = { -1, -1, -1, -1, -1, -1 };
	unsigned nfds = 0;
	struct pollfd p = { .fd = m->sock, .events = POLLIN };
	struct vm_cfg *c = &m->vc;

	if (poll(&p, 1, CONFIG_WAIT_MS) != 1) {
		snprintf(err, errlen, "no configuration from the orchestrator");
		return -1;
	}
	int r = ipc_recv(m->sock, &h, buf, sizeof(buf), fds, IPC_MAX_FDS,
			 &nfds);
	if (r <= 0 || h.type != IPC_CONFIG) {
		snprintf(err, errlen, "bad configuration message");
		goto fail;
	}
	if (ipc_cfg_unpack(c, buf, h.len, err, errlen) < 0)
		goto fail;
	if (ipc_cfg_take_fds(c, fds, nfds) < 0) {
		snprintf(err, errlen, "configuration: %u fds for %u expected",
			 nfds, ipc_cfg_nfds(c));
		goto fail;
	}
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = -1;		/* c holds them now */
	if (c->log_level <= LOG_DEBUG)
		log_init("vm:?", (enum log_level)c->log_level);
	m->svc_fd = c->svc_fd > 0 ? c->svc_fd : -1;
	m->cfg = (struct vm_config){ .vc = c, .cmdline = m->cmdline };
	if (c->kernel_fd > 0) {
		if (read_fd(c->kernel_fd, &m->kernel, &m->cfg.kernel_size) < 0) {
			snprintf(err, errlen, "cannot read the kernel image");
			return -1;
		}
		m->cfg.kernel = m->kernel;
	} else {
		/* Only kernels may be chosen: the embedded Linux or a tiny
		 * test guest, never the versions text or the initramfs. */
		enum embed_id id = c->kernel_blob;
		if (id != EMBED_KERNEL && (id < EMBED_TG_BOOTCHECK ||
					   id >= EMBED_COUNT)) {
			snprintf(err, errlen, "bad embedded kernel id %u",
				 c->kernel_blob);
			return -1;
		}
		const struct embed_blob *b = embed_get(id);
		m->cfg.kernel = b->data;
		m->cfg.kernel_size = b->size;
	}
	if (c->initrd_fd > 0) {
		if (read_fd(c->initrd_fd, &m->initrd, &m->cfg.initrd_size) < 0) {
			snprintf(err, errlen, "cannot read the initramfs");
			return -1;
		}
		m->cfg.initrd = m->initrd;
	} else if (!c->no_initrd) {
		const struct embed_blob *b = embed_get(EMBED_INITRAMFS);
		m->cfg.initrd = b->data;
		m->cfg.initrd_size = b->size;
	}
	/* The guest's clock starts from ours, read as late as possible. */
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	if (vm_cfg_cmdline(c, (uint64_t)rt.tv_sec * 1000000000ull +
			   (uint64_t)rt.tv_nsec, m->cmdline,
			   sizeof(m->cmdline)) < 0) {
		snprintf(err, errlen, "kernel command line too long");
		return -1;
	}
	memset(c->secret, 0, sizeof(c->secret));	/* in m->cmdline now */
	return 0;
fail:
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return -1;
}

/* The kernel and initrd fds were read into memory; close them before the
 * sandbox (the disks' belong to the VM). */
static void close_image_fds(struct vm_cfg *c)
{
	if (c->kernel_fd > 0)
		close(c->kernel_fd);
	if (c->initrd_fd > 0)
		close(c->initrd_fd);
	c->kernel_fd = c->initrd_fd = 0;
}

/* After vm_create: a restore has mapped what it needs of the file. */
static void close_snapshot_fd(struct vm_cfg *c)
{
	if (c->snapshot_fd > 0)
		close(c->snapshot_fd);
	c->snapshot_fd = 0;
}

static void send_exited(struct vmm *m, const struct vm_result *res)
{
	struct ipc_exited e = {
		.exit = res->exit, .run_ns = res->run_ns,
		.first_entry_ns = res->boot_ns, .exits = res->exits,
		.detail_len = (uint32_t)strlen(res->detail),
		.console_len = (uint32_t)strlen(res->console_tail),
		.start_mono_ns = res->start_mono_ns, .rss_kb = res->rss_kb,
		.guest_rss_kb = res->guest_rss_kb,
		.probe_result = m->probe_result,
		.probe_errno = m->probe_errno,
	};
	char tail[sizeof(res->detail) + sizeof(res->console_tail)];
	memcpy(tail, res->detail, e.detail_len);
	memcpy(tail + e.detail_len, res->console_tail, e.console_len);
	ipc_send(m->sock, IPC_EXITED, &e, sizeof(e), tail,
		 e.detail_len + e.console_len, -1);
}

static void hook_connected(void *ctx, uint32_t cookie, int fd, int err)
{
	struct vmm *m = ctx;
	struct ipc_connected c = { .cookie = cookie, .err = err };

	ipc_send(m->sock, IPC_CONNECTED, &c, sizeof(c), NULL, 0, fd);
	if (fd >= 0)
		close(fd);	/* the orchestrator has its copy */
}

static void hook_ready(void *ctx, uint64_t ns)
{
	struct vmm *m = ctx;
	struct ipc_ready r = { .since_start_ns = ns };

	log_debug("agent ready after %.1f ms", (double)ns / 1e6);
	ipc_send(m->sock, IPC_AGENT_READY, &r, sizeof(r), NULL, 0, -1);
}

/* The guest may open connections to one host service only: the LLM
 * gateway, and only when the orchestrator gave us a channel for it. */
static bool hook_listens(void *ctx, uint32_t port)
{
	struct vmm *m = ctx;

	return m->svc_fd >= 0 && port == AGENT_GATEWAY_PORT;
}

static int hook_guest_conn(void *ctx, uint32_t port, int fd)
{
	struct vmm *m = ctx;
	struct ipc_guest_conn g = { .port = port };

	/* Non-blocking: an orchestrator that stops accepting makes the
	 * guest's connects fail (RST), never stalls the I/O thread. */
	if (ipc_send(m->svc_fd, IPC_GUEST_CONN, &g, sizeof(g), NULL, 0,
		     fd) < 0)
		return -1;
	close(fd);	/* the orchestrator has its copy */
	return 0;
}

/* IPC_SNAPSHOT: runs on the I/O thread, so no device work interleaves;
 * the reply is sent blocking (the orchestrator waits for it). */
static void do_snapshot(struct vmm *m, const struct ipc_snapshot *q, int fd)
{
	char err[256] = "";
	uint64_t t0 = vm_now_ns();
	struct ipc_snapshot_done d = { 0 };

	if (vm_snapshot(m->vm, fd, &d.file_bytes, err, sizeof(err)) < 0)
		d.err = EIO;
	d.took_ns = vm_now_ns() - t0;
	ipc_nonblocking_sends(false);
	ipc_send(m->sock, IPC_SNAPSHOT_DONE, &d, sizeof(d), err,
		 d.err ? strlen(err) : 0, -1);
	ipc_nonblocking_sends(true);
	if (q->flags & IPC_SNAPSHOT_STOP)
		vm_request_stop(m->vm, VM_EXIT_POWEROFF, "stopped after its "
				"snapshot");
}

static void on_ipc(struct vm *vm, void *arg, uint32_t events)
{
	struct vmm *m = arg;
	struct ipc_hdr h;
	uint8_t buf[256];
	int fds[1];
	unsigned nfds;

	int r = ipc_recv(m->sock, &h, buf, sizeof(buf), fds, 1, &nfds);
	if (r > 0 && h.type == IPC_SNAPSHOT &&
	    h.len == sizeof(struct ipc_snapshot) && nfds == 1) {
		struct ipc_snapshot q;
		memcpy(&q, buf, sizeof(q));
		do_snapshot(m, &q, fds[0]);
		close(fds[0]);
		return;
	}
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);	/* no other message carries fds */
	if (r <= 0) {
		/* The orchestrator died or spoke garbage: nobody is left to
		 * serve, so the VM goes. */
		vm_request_stop(m->vm, VM_EXIT_POWEROFF,
				r == 0 ? "orchestrator went away"
				       : "bad message from orchestrator");
		io_unwatch(m->vm, m->sock);
		return;
	}
	if (h.type == IPC_CONNECT && h.len == sizeof(struct ipc_connect)) {
		struct ipc_connect c;
		memcpy(&c, buf, sizeof(c));
		int e = vm_vsock_connect(m->vm, c.port, c.cookie);
		if (e < 0)
			hook_connected(m, c.cookie, -1, -e);
	} else if (h.type == IPC_STOP && h.len == 0) {
		vm_request_stop(m->vm, VM_EXIT_POWEROFF, "stopped by host");
	} else {
		log_warnx("ignoring IPC message type %u len %u", h.type, h.len);
	}
	(void)vm;
	(void)events;
}

/* Selftest: the proof the filter is live. Whatever is tried here must
 * kill us (SIGSYS) or be refused; the outcome becomes the setup error the
 * orchestrator reports, so surviving shows up as a failure there. */
static void probe(struct vmm *m, char *err, size_t errlen)
{
	int fd = -1, r;

	switch (m->vc.probe) {
	case VM_PROBE_OPEN:	/* not on the list */
		fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		m->probe_result = VM_PROBE_SURVIVED;
		snprintf(err, errlen, "seccomp probe survived (fd %d)", fd);
		break;
	case VM_PROBE_TGKILL:	/* signal 0: harmless if let through */
		r = (int)syscall(SYS_tgkill, m->parent, m->parent, 0);
		m->probe_result = VM_PROBE_SURVIVED;
		snprintf(err, errlen, "seccomp probe survived: tgkill of pid "
			 "%d returned %d", (int)m->parent, r);
		break;
	case VM_PROBE_RAW_SOCKET:
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
		if (fd < 0) {
			m->probe_result = VM_PROBE_REFUSED;
			m->probe_errno = (uint16_t)errno;
			snprintf(err, errlen, "seccomp probe: raw socket "
				 "refused (%s)", strerror(errno));
		} else {
			m->probe_result = VM_PROBE_SURVIVED;
			snprintf(err, errlen, "seccomp probe survived: raw "
				 "socket fd %d", fd);
		}
		break;
	case VM_PROBE_VCPU_REGS: {	/* what a KVM_EXIT_SHUTDOWN reads */
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		if (ioctl(m->vm->vcpus[0].fd, KVM_GET_REGS, &regs) < 0 ||
		    ioctl(m->vm->vcpus[0].fd, KVM_GET_SREGS, &sregs) < 0) {
			m->probe_result = VM_PROBE_REFUSED;
			m->probe_errno = (uint16_t)errno;
			snprintf(err, errlen, "seccomp probe: vCPU registers "
				 "refused (%s)", strerror(errno));
		} else {
			m->probe_result = VM_PROBE_SURVIVED;
			snprintf(err, errlen, "seccomp probe: vCPU registers "
				 "read (rip %#llx, cr0 %#llx)", regs.rip,
				 sregs.cr0);
		}
		break;
	}
	default:
		snprintf(err, errlen, "unknown seccomp probe %u", m->vc.probe);
		break;
	}
	if (fd >= 0)
		close(fd);
}

bool vmm_role(int argc, char **argv)
{
	return argc >= 2 && argv && argv[1] && !strcmp(argv[1], IPC_ROLE);
}

int vmm_main(int argc, char **argv)
{
	struct vmm m = { .sock = IPC_FD, .svc_fd = -1, .parent = getppid() };
	struct vm_result res = { .exit = VM_EXIT_SETUP_ERROR };
	char err[256];
	uint64_t t0 = vm_now_ns();

	(void)argc;
	(void)argv;
	log_init("vm:?", LOG_WARN);
	{
		/* --log-format json reaches us through the environment. */
		const char *lf = getenv("VOIDBOX_LOG_FORMAT");
		log_set_json(lf && !strcmp(lf, "json"));
	}
	/* Backstop: if the orchestrator dies, so do we. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(m.sock, F_GETFD) < 0)
		fatalx("the vmm role is internal: run by voidbox itself");
	if (get_config(&m, err, sizeof(err)) < 0) {
		close_image_fds(&m.vc);
		goto report;
	}
	close_image_fds(&m.vc);
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "vm:%s", m.vc.name);
	log_init(prefix, log_get_level());

	m.vm = vm_create(&m.cfg, err, sizeof(err));
	close_snapshot_fd(&m.vc);
	if (!m.vm)
		goto report;
	m.vm->hooks = (struct vm_hooks){ .ctx = &m,
					 .connected = hook_connected,
					 .agent_ready = hook_ready,
					 .listens = hook_listens,
					 .guest_conn = hook_guest_conn };
	/* From here the I/O thread must never block on the orchestrator:
	 * sends that would block fail with EAGAIN instead (a CONNECTED
	 * reply is then lost and its connection closed; the orchestrator
	 * that stopped reading times out on its own). */
	ipc_nonblocking_sends(true);
	if (io_watch(m.vm, m.sock, EPOLLIN, on_ipc, &m) < 0) {
		snprintf(err, sizeof(err), "cannot watch the IPC socket");
		goto destroy;
	}
	/* Everything is acquired: confine ourselves before guest code runs. */
	if (sandbox_apply(m.vc.net.enabled, m.vc.nmounts > 0,
			  m.vm->landlock_fd, err, sizeof(err)) < 0)
		goto destroy;
	if (m.vc.seccomp_probe) {
		probe(&m, err, sizeof(err));
		goto destroy;
	}
	if (vm_start(m.vm, err, sizeof(err)) < 0)
		goto destroy;
	struct ipc_started st = { .setup_ns = vm_now_ns() - t0,
				  .sandboxed = 1, .pid = (uint32_t)getpid() };
	ipc_send(m.sock, IPC_STARTED, &st, sizeof(st), NULL, 0, -1);
	/* A restored guest's agent was ready when the snapshot was taken:
	 * its listener is there now (the orchestrator's first connection
	 * may meet the transport reset and try again). */
	if (m.vm->restored) {
		m.vm->ready_reported = true;
		hook_ready(&m, vm_now_ns() - m.vm->t_start_ns);
	}
	io_loop(m.vm);
	vm_finish(m.vm, &res);
	/* The final report must arrive: block for it. It goes before the
	 * memory is released, so the orchestrator need not wait for that
	 * (it may SIGKILL us from here on: nothing is left to save). */
	ipc_nonblocking_sends(false);
	send_exited(&m, &res);
	vm_destroy(m.vm, NULL);
	return 0;
destroy:
	vm_destroy(m.vm, NULL);
report:
	snprintf(res.detail, sizeof(res.detail), "%s", err);
	res.exit = VM_EXIT_SETUP_ERROR;
	send_exited(&m, &res);
	return 1;
}
