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
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
	struct vm_config cfg;
	char cmdline[GPA_CMDLINE_MAX];
	char name[64];
	uint8_t *kernel, *initrd;	/* when passed as fds */
	bool probe_seccomp;
	uint32_t probe;		/* enum ipc_probe */
	pid_t parent;		/* orchestrator: the tgkill probe's target */
	int svc_fd;		/* service channel, -1 without one */
	char *netblob;		/* rules + hosts lists (IPC_CFG_NET) */
};

/* Walk one NUL-separated list ending in an empty string inside [p, end);
 * returns the byte after it, or NULL if it runs off the end. */
static const char *list_end(const char *p, const char *end)
{
	for (;;) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		if (!z)
			return NULL;
		if (z == p)
			return z + 1;	/* the empty string: done */
		p = z + 1;
	}
}

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

/* Receive and validate IPC_CONFIG. */
static int get_config(struct vmm *m, char *err, size_t errlen)
{
	static uint8_t buf[IPC_MAX];
	struct ipc_hdr h;
	int fds[IPC_MAX_FDS] = { -1, -1, -1, -1, -1, -1 };
	unsigned nfds = 0, used = 0;
	struct pollfd p = { .fd = m->sock, .events = POLLIN };

	if (poll(&p, 1, CONFIG_WAIT_MS) != 1) {
		snprintf(err, errlen, "no configuration from the orchestrator");
		return -1;
	}
	int r = ipc_recv(m->sock, &h, buf, sizeof(buf), fds, IPC_MAX_FDS,
			 &nfds);
	struct ipc_config c;
	if (r <= 0 || h.type != IPC_CONFIG || h.len < sizeof(c)) {
		snprintf(err, errlen, "bad configuration message");
		goto fail;
	}
	memcpy(&c, buf, sizeof(c));
	const char *cl = (const char *)buf + sizeof(c);
	const char *nm = cl + c.cmdline_len;
	uint32_t net_len = c.flags & IPC_CFG_NET ? c.net_len : 0;
	if ((uint64_t)sizeof(c) + c.cmdline_len + c.name_len + net_len != h.len ||
	    !c.cmdline_len || c.cmdline_len > sizeof(m->cmdline) ||
	    !c.name_len || c.name_len > sizeof(m->name) ||
	    cl[c.cmdline_len - 1] || nm[c.name_len - 1]) {
		snprintf(err, errlen, "malformed configuration");
		goto fail;
	}
	memcpy(m->cmdline, cl, c.cmdline_len);
	memcpy(m->name, nm, c.name_len);
	m->cfg = (struct vm_config){
		.name = m->name, .cmdline = m->cmdline, .mem_mb = c.mem_mb,
		.vcpus = c.vcpus, .timeout_ms = c.timeout_ms,
		.console = c.flags & IPC_CFG_CONSOLE,
	};
	m->probe_seccomp = c.flags & IPC_CFG_SECCOMP_PROBE;
	m->probe = c.probe;
	if (c.flags & IPC_CFG_NET) {
		const char *nb = nm + c.name_len, *end = nb + net_len;
		/* four lists: rules, hosts, forwards, resolver */
		const char *at[4], *lp = net_len ? nb : NULL;
		for (int l = 0; l < 4 && lp; l++) {
			at[l] = lp;
			lp = list_end(lp, end);
		}
		if (lp != end || c.npublish > 8 || c.net_mode > 2 ||
		    (c.net_flags & ~IPC_NET_PRIVATE_DNS) ||
		    !(m->netblob = malloc(net_len))) {
			snprintf(err, errlen, "malformed network configuration");
			goto fail;
		}
		memcpy(m->netblob, nb, net_len);
		m->cfg.net = (struct vm_netcfg){
			.enabled = true, .mode = (int)c.net_mode,
			.rules = m->netblob,
			.hosts = m->netblob + (at[1] - nb),
			.forwards = m->netblob + (at[2] - nb),
			.resolver = *at[3] ? m->netblob + (at[3] - nb) : NULL,
			.npublish = c.npublish, .max_conns = c.max_conns,
			.conn_rate = c.conn_rate,
			.private_dns = c.net_flags & IPC_NET_PRIVATE_DNS,
		};
		for (unsigned i = 0; i < c.npublish; i++) {
			m->cfg.net.publish[i].guest = c.pub_guest[i];
			m->cfg.net.publish[i].host = c.pub_host[i];
		}
	}
	if (c.log_level <= LOG_DEBUG)
		log_init("vm:?", (enum log_level)c.log_level);
	if (c.flags & IPC_CFG_KERNEL_FD) {
		if (used >= nfds || read_fd(fds[used++], &m->kernel,
					    &m->cfg.kernel_size) < 0) {
			snprintf(err, errlen, "cannot read the kernel image");
			goto fail;
		}
		m->cfg.kernel = m->kernel;
	} else {
		/* Only kernels may be chosen: the embedded Linux or a tiny
		 * test guest, never the versions text or the initramfs. */
		enum embed_id id = c.kernel_blob;
		if (id != EMBED_KERNEL && (id < EMBED_TG_BOOTCHECK ||
					   id >= EMBED_COUNT)) {
			snprintf(err, errlen, "bad embedded kernel id %u",
				 c.kernel_blob);
			goto fail;
		}
		const struct embed_blob *b = embed_get(id);
		m->cfg.kernel = b->data;
		m->cfg.kernel_size = b->size;
	}
	if (c.flags & IPC_CFG_INITRD_FD) {
		if (used >= nfds || read_fd(fds[used++], &m->initrd,
					    &m->cfg.initrd_size) < 0) {
			snprintf(err, errlen, "cannot read the initramfs");
			goto fail;
		}
		m->cfg.initrd = m->initrd;
	} else if (!(c.flags & IPC_CFG_NO_INITRD)) {
		const struct embed_blob *b = embed_get(EMBED_INITRAMFS);
		m->cfg.initrd = b->data;
		m->cfg.initrd_size = b->size;
	}
	unsigned nsvc = c.flags & IPC_CFG_SERVICE_FD ? 1 : 0;
	if (c.ndisks > VM_MAX_DISKS || used + c.ndisks + nsvc != nfds) {
		snprintf(err, errlen, "bad disk configuration");
		goto fail;
	}
	for (unsigned i = 0; i < c.ndisks; i++) {
		m->cfg.disk_fd[i] = fds[used];
		m->cfg.disk_ro[i] = c.disk_ro_mask & (1u << i);
		m->cfg.disk_off[i] = i < 2 ? c.disk_off[i] : 0;
		m->cfg.disk_len[i] = i < 2 ? c.disk_len[i] : 0;
		fds[used++] = -1;	/* the VM owns it now */
	}
	m->cfg.ndisks = c.ndisks;
	if (nsvc) {
		m->svc_fd = fds[used];
		fds[used++] = -1;
	}
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
fail:
	for (unsigned i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return -1;
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

static void on_ipc(struct vm *vm, void *arg, uint32_t events)
{
	struct vmm *m = arg;
	struct ipc_hdr h;
	uint8_t buf[256];
	int fds[1];
	unsigned nfds;

	int r = ipc_recv(m->sock, &h, buf, sizeof(buf), fds, 1, &nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);	/* we never expect fds from this side */
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

	switch (m->probe) {
	case IPC_PROBE_OPEN:	/* not on the list */
		fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		snprintf(err, errlen, "seccomp probe survived (fd %d)", fd);
		break;
	case IPC_PROBE_TGKILL:	/* signal 0: harmless if let through */
		r = (int)syscall(SYS_tgkill, m->parent, m->parent, 0);
		snprintf(err, errlen, "seccomp probe survived: tgkill of pid "
			 "%d returned %d", (int)m->parent, r);
		break;
	case IPC_PROBE_RAW_SOCKET:
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
		if (fd < 0)
			snprintf(err, errlen, "seccomp probe: raw socket "
				 "refused (%s)", strerror(errno));
		else
			snprintf(err, errlen, "seccomp probe survived: raw "
				 "socket fd %d", fd);
		break;
	default:
		snprintf(err, errlen, "unknown seccomp probe %u", m->probe);
		break;
	}
	if (fd >= 0)
		close(fd);
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
	if (get_config(&m, err, sizeof(err)) < 0)
		goto report;
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "vm:%s", m.name);
	log_init(prefix, log_get_level());

	m.vm = vm_create(&m.cfg, err, sizeof(err));
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
	if (sandbox_apply(m.cfg.net.enabled, err, sizeof(err)) < 0)
		goto destroy;
	if (m.probe_seccomp) {
		probe(&m, err, sizeof(err));
		goto destroy;
	}
	if (vm_start(m.vm, err, sizeof(err)) < 0)
		goto destroy;
	struct ipc_started st = { .setup_ns = vm_now_ns() - t0,
				  .sandboxed = 1, .pid = (uint32_t)getpid() };
	ipc_send(m.sock, IPC_STARTED, &st, sizeof(st), NULL, 0, -1);
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
