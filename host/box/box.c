/* box.c: spawn and supervise one VMM child (the orchestrator's side of
 * vmm/ipc.h).
 *
 * The child is /proc/self/exe re-executed in the "__vmm" role with the
 * IPC socket as fd 3. Every fd the orchestrator holds is close-on-exec, so
 * the child inherits nothing else (no other VM's connections). When the
 * child dies without reporting, the EOF plus waitpid() status become a
 * clear error; the child is always reaped (no zombies).
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "box.h"
#include "../util/util.h"
#include "../vmm/ipc.h"
#include "../vmm/vmcfg.h"


static int open_blob(const char *what, const char *path, char *err,
		     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		snprintf(err, errlen, "cannot open %s '%s': %s", what, path,
			 strerror(errno));
	return fd;
}

/* Every live VMM, for box_signal_all from a signal handler: a fixed
 * table of atomics (no locks, no allocation: async-signal-safe). */
#define LIVE_MAX 512
static _Atomic pid_t live[LIVE_MAX];

static void live_add(pid_t pid)
{
	for (unsigned i = 0; i < LIVE_MAX; i++) {
		pid_t z = 0;
		if (atomic_compare_exchange_strong(&live[i], &z, pid))
			return;
	}
}

static void live_del(pid_t pid)
{
	for (unsigned i = 0; i < LIVE_MAX; i++) {
		pid_t p = pid;
		if (atomic_compare_exchange_strong(&live[i], &p, 0))
			return;
	}
}

/* VMMs that reported their exit and were killed, still releasing their
 * memory (freeing a few hundred MB of touched guest pages takes the
 * kernel a while): nobody needs to wait for that, so box_stop hands them
 * here. They are reaped without blocking at the next box_spawn, and with
 * blocking at exit (atexit), so none outlives us and no zombie piles up. */
#define DEFER_MAX 64
static pthread_mutex_t defer_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t deferred[DEFER_MAX];
static pthread_once_t defer_once = PTHREAD_ONCE_INIT;

/* A SIGKILLed VMM that has not exited after this long is stuck in the
 * kernel: nothing we can do will end it sooner, so we stop waiting
 * rather than hang the run. It is dying; when we exit, init inherits and
 * reaps it. */
#define REAP_BOUND_MS 15000

/* waitpid(pid) for at most bound_ms (0: do not wait). True: reaped (or
 * not our child any more). */
static bool wait_bounded(pid_t pid, int *status, unsigned bound_ms)
{
	for (unsigned waited = 0;; ) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return true;
		if (r < 0 && errno == EINTR)
			continue;
		if (waited >= bound_ms)
			return false;
		/* 1 ms steps first: a killed VMM usually goes in a few */
		unsigned step = waited < 50 ? 1 : 20;
		struct timespec ts = { 0, (long)step * 1000000L };
		nanosleep(&ts, NULL);
		waited += step;
	}
}

static void reap_deferred(bool block)
{
	pthread_mutex_lock(&defer_mu);
	for (unsigned i = 0; i < DEFER_MAX; i++) {
		if (deferred[i] <= 0)
			continue;
		if (wait_bounded(deferred[i], NULL, block ? REAP_BOUND_MS : 0)) {
			live_del(deferred[i]);
			deferred[i] = 0;
		} else if (block) {
			log_warnx("VMM pid %d still exiting %u s after SIGKILL "
				  "(stuck in the kernel); not waiting for it",
				  (int)deferred[i], REAP_BOUND_MS / 1000);
		}
	}
	pthread_mutex_unlock(&defer_mu);
}

static void reap_all_deferred(void)
{
	reap_deferred(true);
}

static void defer_init(void)
{
	atexit(reap_all_deferred);
}

static bool defer_reap(struct box *b);

static void reap(struct box *b, bool block)
{
	if (b->pid <= 0 || b->reaped)
		return;
	if (wait_bounded(b->pid, &b->wait_status, block ? REAP_BOUND_MS : 0)) {
		b->reaped = true;
		live_del(b->pid);
	} else if (block) {
		/* Killed (every blocking reap follows a SIGKILL) but stuck:
		 * say so, and leave it to the deferred reaper. */
		log_warnx("[vm:%s] VMM pid %d still exiting %u s after SIGKILL "
			  "(stuck in the kernel); not waiting for it", b->name,
			  (int)b->pid, REAP_BOUND_MS / 1000);
		b->stuck = true;
		defer_reap(b);
	}
}

/* Take over the reaping of b's (killed) VMM. False: table full. */
static bool defer_reap(struct box *b)
{
	pthread_once(&defer_once, defer_init);
	pthread_mutex_lock(&defer_mu);
	for (unsigned i = 0; i < DEFER_MAX; i++)
		if (deferred[i] <= 0) {
			deferred[i] = b->pid;
			b->reaped = true;
			pthread_mutex_unlock(&defer_mu);
			return true;
		}
	pthread_mutex_unlock(&defer_mu);
	return false;
}

void box_signal_all(int sig)
{
	for (unsigned i = 0; i < LIVE_MAX; i++) {
		pid_t p = atomic_load(&live[i]);
		if (p > 0)
			kill(p, sig);
	}
}

/* The resolver the VMM asks about allowed names: $VOIDBOX_RESOLVER
 * ("IP", "IP:PORT", "[IP6]:PORT") or the first nameserver of
 * /etc/resolv.conf, port 53. The VMM validates it. False: none. */
static bool host_resolver(char *out, size_t len)
{
	const char *env = getenv("VOIDBOX_RESOLVER");
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return strlen(env) < len;
	}
	FILE *f = fopen("/etc/resolv.conf", "re");
	char line[256], ns[64];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, " nameserver %63s", ns) == 1;
	if (f)
		fclose(f);
	if (!found)
		return false;
	/* drop an IPv6 zone ("fe80::1%eth0"): the VMM takes plain literals */
	ns[strcspn(ns, "%")] = '\0';
	snprintf(out, len, strchr(ns, ':') ? "[%s]:53" : "%s:53", ns);
	return true;
}

/* mkdir -p path (0755); 0 or -errno. */
static int make_dirs(const char *path)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1;; s++) {
		if (*s && *s != '/')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*s = c;
	}
}

/* The directory of a shared mount, as an O_PATH fd for the VMM: a lent fd
 * dup'ed, or the host path opened; a missing rw directory is created
 * (upstream's rule), a missing ro one is an error. */
static int open_mount(const struct vm_mount_cfg *m, char *err, size_t errlen)
{
	if (m->fd > 0)
		return fcntl(m->fd, F_DUPFD_CLOEXEC, 3);
	int fd = open(m->host, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !m->ro) {
		int r = make_dirs(m->host);
		if (r < 0) {
			snprintf(err, errlen, "mount %s: cannot create the host"
				 " directory: %s", m->host, strerror(-r));
			return -1;
		}
		fd = open(m->host, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		snprintf(err, errlen, "mount %s: %s%s", m->host,
			 strerror(errno), errno == ENOENT && m->ro
			 ? " (a read-only mount needs an existing directory)"
			 : "");
	return fd;
}

/* A volume's disk file: created sparse when missing (and its directory),
 * then locked for this VM alone. The lock lives on the open file, which
 * the VMM keeps: it holds as long as the VM does, whatever happens to this
 * process. The size applies when the volume is created; an existing one
 * keeps its own. */
static int open_volume(const struct vm_disk_cfg *d, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", d->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		make_dirs(dir);
	}
	int fd = open(d->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "volume %s: %s", d->path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen, "volume %s is in use by another "
				 "VM", d->path);
		else
			snprintf(err, errlen, "volume %s: lock: %s", d->path,
				 strerror(errno));
		close(fd);
		return -1;
	}
	uint64_t want = (uint64_t)d->create_mb << 20;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_size == 0 && ftruncate(fd, (off_t)want) < 0)) {
		snprintf(err, errlen, "volume %s: %s", d->path,
			 S_ISREG(st.st_mode) ? strerror(errno)
					     : "not a regular file");
		close(fd);
		return -1;
	}
	return fd;
}

int box_spawn(struct box *b, const struct vm_cfg *cfg, char *err,
	      size_t errlen)
{
	int sv[2] = { -1, -1 }, fds[IPC_MAX_FDS], nfds = 0;
	int rc = -1;

	reap_deferred(false);	/* earlier stops' VMMs that have exited */

	*b = (struct box){ .pid = -1, .sock = -1, .svc_fd = -1,
			   .next_cookie = 1,
			   .connect_lock = PTHREAD_MUTEX_INITIALIZER };
	snprintf(b->name, sizeof(b->name), "%s", cfg->name);
	if (vm_cfg_check(cfg, err, errlen) < 0)
		return -1;
	if (ipc_cfg_nfds(cfg) > IPC_MAX_FDS) {
		snprintf(err, errlen, "too many files for one VM");
		return -1;
	}
	/* What the VMM gets is the caller's configuration plus what only
	 * this process knows: a fresh session secret, the host's resolver,
	 * the log level. The copy is shallow: its strings stay the
	 * caller's. */
	struct vm_cfg w = *cfg;
	if (getrandom(b->secret, sizeof(b->secret), 0) != sizeof(b->secret)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	memcpy(w.secret, b->secret, sizeof(w.secret));
	w.log_level = (uint32_t)log_get_level();
	if (w.net.enabled && w.net.mode &&
	    !host_resolver(w.net.resolver, sizeof(w.net.resolver)))
		w.net.resolver[0] = '\0';
	if (cfg->kernel_path) {
		if ((fds[nfds] = open_blob("kernel", cfg->kernel_path, err,
					   errlen)) < 0)
			goto out;
		nfds++;
	}
	if (!cfg->no_initrd && cfg->initrd_fd > 0) {
		if ((fds[nfds] = fcntl(cfg->initrd_fd, F_DUPFD_CLOEXEC, 3)) < 0)
			goto out;
		nfds++;
	} else if (!cfg->no_initrd && cfg->initrd_path) {
		if ((fds[nfds] = open_blob("initramfs", cfg->initrd_path, err,
					   errlen)) < 0)
			goto out;
		nfds++;
	}
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		/* An fd already open (the tools image inside the executable)
		 * is dup'ed: the caller keeps its own. */
		const struct vm_disk_cfg *d = &cfg->disk[i];
		if (d->create_mb) {
			if ((fds[nfds] = open_volume(d, err, errlen)) < 0)
				goto out;
			nfds++;
			continue;
		}
		fds[nfds] = d->fd > 0 ? fcntl(d->fd, F_DUPFD_CLOEXEC, 3)
			: open(d->path, (d->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fds[nfds] < 0) {
			snprintf(err, errlen, "cannot open disk '%s': %s",
				 d->fd > 0 ? "(fd)" : d->path, strerror(errno));
			goto out;
		}
		nfds++;
	}
	for (unsigned i = 0; i < cfg->nmounts; i++) {
		if ((fds[nfds] = open_mount(&cfg->mount[i], err, errlen)) < 0)
			goto out;
		nfds++;
	}
	if (cfg->services) {
		/* The service channel: the VMM hands guest-opened
		 * connections (the gateway port) over it, apart from the
		 * control socket so a busy gateway never delays control. */
		int ss[2], r = box_svc_pair(ss);
		if (r < 0) {
			snprintf(err, errlen, "socketpair: %s", strerror(-r));
			goto out;
		}
		b->svc_fd = ss[0];
		fds[nfds++] = ss[1];
	}
	if (cfg->snapshot_fd > 0) {
		if ((fds[nfds] = fcntl(cfg->snapshot_fd, F_DUPFD_CLOEXEC,
				       3)) < 0)
			goto out;
		nfds++;
	} else if (cfg->snapshot_path) {
		/* A restore: the VMM maps the file's RAM and reads its
		 * state (and checks both). */
		if ((fds[nfds] = open(cfg->snapshot_path, O_RDONLY |
				      O_CLOEXEC | O_NOFOLLOW)) < 0) {
			snprintf(err, errlen, "cannot open snapshot '%s': %s",
				 cfg->snapshot_path, strerror(errno));
			goto out;
		}
		nfds++;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto out;
	}
	/* dup2 onto itself would keep FD_CLOEXEC: move off fd 3 first. */
	if (sv[1] == IPC_FD) {
		int t = fcntl(sv[1], F_DUPFD_CLOEXEC, IPC_FD + 1);
		close(sv[1]);
		sv[1] = t;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* The VMM parses hostile virtqueues and runs slirp: it gets no
	 * stdout (a compromised one must not write into --output json; it
	 * logs on stderr) and no environment but the log format (the API
	 * key, cloud credentials, tokens stay in this process only). */
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], IPC_FD);
	/* "vm:NAME" is for ps and for people: the VMM role ignores it. */
	char tag[80];
	snprintf(tag, sizeof(tag), "vm:%s", b->name);
	char *argv[] = { "voidbox", IPC_ROLE, tag, NULL };
	char lf[] = "VOIDBOX_LOG_FORMAT=json";
	char *envp[] = { log_is_json() ? lf : NULL, NULL };
	b->t_spawn_ns = mono_ns();
	int e = posix_spawn(&b->pid, "/proc/self/exe", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		b->pid = -1;
		snprintf(err, errlen, "cannot start the VMM (/proc/self/exe):"
			 " %s", strerror(e));
		goto out;
	}
	live_add(b->pid);
	b->sock = sv[0];
	sv[0] = -1;
	static __thread uint8_t msg[IPC_MAX];
	ssize_t len = ipc_cfg_pack(&w, msg, sizeof(msg));
	e = len < 0 ? (int)len : ipc_send_fds(b->sock, IPC_CONFIG, msg,
					       (size_t)len, fds,
					       (unsigned)nfds);
	explicit_bzero(msg, sizeof(msg));	/* the secret */
	explicit_bzero(w.secret, sizeof(w.secret));
	if (e < 0) {
		snprintf(err, errlen, "sending the VM configuration: %s",
			 strerror(-e));
		goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (rc < 0)
		box_close(b);
	return rc;
}

/* Handle one IPC message (or EOF). Returns the CONNECTED fd when it
 * answers `cookie`, -1 otherwise; *done set when the VMM is gone. */
static int handle_msg_in(struct box *b, uint8_t *buf, uint32_t cookie,
			 int *conn_err, bool *done)
{
	struct ipc_hdr h;
	int fd = -1;
	unsigned nfds = 0;

	/* No buffer (out of memory) is handled like garbage: a VMM we
	 * cannot hear is a VMM we cannot trust to be doing the right thing. */
	int r = buf ? ipc_recv(b->sock, &h, buf, IPC_MAX, &fd, 1, &nfds) : -1;
	if (r <= 0) {
		/* EOF or garbage: the VMM is gone or not to be trusted. */
		if (nfds)
			close(fd);
		close(b->sock);
		b->sock = -1;
		b->state = BOX_EXITED;
		if (!b->exit_reported)
			kill(b->pid, SIGKILL);
		reap(b, true);
		*done = true;
		return -1;
	}
	switch (h.type) {
	case IPC_STARTED:
		if (h.len == sizeof(struct ipc_started)) {
			struct ipc_started s;
			memcpy(&s, buf, sizeof(s));
			b->vmm_setup_ns = s.setup_ns;
		}
		break;
	case IPC_AGENT_READY:
		if (b->state == BOX_BOOTING) {
			b->state = BOX_READY;
			b->ready_ns = mono_ns() - b->t_spawn_ns;
		}
		break;
	case IPC_CONNECTED:
		if (h.len == sizeof(struct ipc_connected)) {
			struct ipc_connected c;
			memcpy(&c, buf, sizeof(c));
			if (c.cookie == cookie) {
				*conn_err = c.err;
				if (!c.err && nfds)
					return fd;
				if (!*conn_err)
					*conn_err = EPROTO;
			}
		}
		break;
	case IPC_SNAPSHOT_DONE: {
		struct ipc_snapshot_done d;
		if (!b->snap_waiting || h.len < sizeof(d))
			break;
		memcpy(&d, buf, sizeof(d));
		size_t ml = h.len - sizeof(d) < sizeof(b->snap_msg) - 1
				    ? h.len - sizeof(d) : sizeof(b->snap_msg) - 1;
		memcpy(b->snap_msg, buf + sizeof(d), ml);
		b->snap_msg[ml] = '\0';
		b->snap_err = d.err;
		b->snap_took_ns = d.took_ns;
		b->snap_bytes = d.file_bytes;
		b->snap_done = true;
		break;
	}
	case IPC_EXITED: {
		struct ipc_exited e;
		if (h.len < sizeof(e))
			break;
		memcpy(&e, buf, sizeof(e));
		if ((uint64_t)sizeof(e) + e.detail_len + e.console_len != h.len)
			break;
		size_t dl = e.detail_len < sizeof(b->detail) - 1
				    ? e.detail_len : sizeof(b->detail) - 1;
		memcpy(b->detail, buf + sizeof(e), dl);
		b->detail[dl] = '\0';
		size_t cl = e.console_len < sizeof(b->console) - 1
				    ? e.console_len : sizeof(b->console) - 1;
		memcpy(b->console, buf + sizeof(e) + e.detail_len, cl);
		b->console[cl] = '\0';
		b->vm_exit = e.exit;
		b->exit_reported = true;
		if (e.first_entry_ns)
			b->first_entry_mono_ns = e.start_mono_ns +
						 e.first_entry_ns;
		b->vmm_rss_kb = e.rss_kb;
		b->guest_rss_kb = e.guest_rss_kb;
		b->probe_result = e.probe_result;
		b->probe_errno = e.probe_errno;
		b->run_ns = e.run_ns;
		b->first_entry_ns = e.first_entry_ns;
		b->exits = e.exits;
		break;
	}
	default:
		break;
	}
	if (nfds)
		close(fd);
	return -1;
}

/* Messages are few per VM (started, ready, one per connection, exited),
 * so the 64 KiB buffer is allocated per message: stage threads pump their
 * own boxes at the same time, and a shared static buffer would let one
 * thread's message overwrite another's. */
static int handle_msg(struct box *b, uint32_t cookie, int *conn_err,
		      bool *done)
{
	uint8_t *buf = malloc(IPC_MAX);
	int fd = handle_msg_in(b, buf, cookie, conn_err, done);
	free(buf);
	return fd;
}

/* Pump messages until pred is met, the VMM is gone, or timeout. */
static int pump(struct box *b, unsigned timeout_ms, uint32_t cookie,
		bool want_ready, int *conn_fd, int *conn_err)
{
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		if (want_ready && b->state == BOX_READY)
			return 0;
		if (b->snap_waiting && b->snap_done)
			return 0;
		if (b->stopping && b->exit_reported)
			return 0;
		if (b->sock < 0)
			return -1;
		uint64_t now = mono_ns();
		if (timeout_ms && now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = b->sock, .events = POLLIN };
		int ms = timeout_ms ? (int)((deadline - now) / 1000000 + 1) : -1;
		int r = poll(&p, 1, ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		bool done = false;
		int fd = handle_msg(b, cookie, conn_err, &done);
		if (fd >= 0) {
			*conn_fd = fd;
			return 0;
		}
		if (cookie && *conn_err)
			return -*conn_err;
		if (done)
			return -1;
	}
}

bool box_vmm_crashed(const struct box *b)
{
	return b->state == BOX_EXITED && !b->exit_reported;
}

const char *box_end_reason(struct box *b, char *buf, size_t len)
{
	if (b->exit_reported) {
		switch (b->vm_exit) {
		case VM_EXIT_POWEROFF:
			snprintf(buf, len, "powered off (%s)", b->detail);
			break;
		case VM_EXIT_TIMEOUT:
			snprintf(buf, len, "VM %s", b->detail);
			break;
		default:
			snprintf(buf, len, "%s", b->detail);
			break;
		}
	} else if (b->stuck) {
		snprintf(buf, len, "VMM process died without reporting (and "
			 "was still exiting %u s after SIGKILL)",
			 REAP_BOUND_MS / 1000);
	} else if (b->reaped && WIFSIGNALED(b->wait_status)) {
		int s = WTERMSIG(b->wait_status);
		snprintf(buf, len, "VMM process killed by signal %d (%s)%s", s,
			 strsignal(s), s == SIGSYS ? ": seccomp violation" : "");
	} else if (b->reaped && WIFEXITED(b->wait_status)) {
		snprintf(buf, len, "VMM process exited with status %d without "
			 "reporting", WEXITSTATUS(b->wait_status));
	} else {
		snprintf(buf, len, "VMM process unresponsive");
	}
	return buf;
}

static void fail_msg(struct box *b, const char *what, int r, char *err,
		     size_t errlen)
{
	char why[300];

	if (r == -ETIMEDOUT)
		snprintf(err, errlen, "%s: timed out", what);
	else
		snprintf(err, errlen, "%s: %s", what,
			 box_end_reason(b, why, sizeof(why)));
}

static int box_connect_locked(struct box *b, uint32_t port,
			      unsigned timeout_ms, char *err, size_t errlen);

int box_snapshot(struct box *b, int fd, bool stop, unsigned timeout_ms,
		 uint64_t *took_ns, uint64_t *bytes, char *err,
		 size_t errlen)
{
	struct ipc_snapshot q = { .flags = stop ? IPC_SNAPSHOT_STOP : 0 };
	int cfd = -1, cerr = 0, r;

	if (b->sock < 0 || b->state == BOX_EXITED) {
		snprintf(err, errlen, "snapshot: the VM is not running");
		return -1;
	}
	pthread_mutex_lock(&b->connect_lock);
	b->snap_waiting = true;
	b->snap_done = false;
	r = ipc_send(b->sock, IPC_SNAPSHOT, &q, sizeof(q), NULL, 0, fd);
	if (r == 0)
		r = pump(b, timeout_ms, 0, false, &cfd, &cerr);
	b->snap_waiting = false;
	pthread_mutex_unlock(&b->connect_lock);
	if (cfd >= 0)
		close(cfd);
	if (r < 0 || !b->snap_done) {
		fail_msg(b, "snapshot", r == -ETIMEDOUT ? r : -1, err, errlen);
		return -1;
	}
	if (b->snap_err) {
		snprintf(err, errlen, "snapshot: %s", b->snap_msg[0]
			 ? b->snap_msg : strerror(b->snap_err));
		return -1;
	}
	if (took_ns)
		*took_ns = b->snap_took_ns;
	if (bytes)
		*bytes = b->snap_bytes;
	return 0;
}

int box_wait_ready(struct box *b, unsigned timeout_ms, char *err,
		   size_t errlen)
{
	int fd = -1, cerr = 0;
	int r = pump(b, timeout_ms, 0, true, &fd, &cerr);

	if (r == 0)
		return 0;
	fail_msg(b, "the VM did not become ready", r, err, errlen);
	return -1;
}

/* Died while booting without a word on its console: the guest ran
 * nothing (its agent never started), so nothing is lost by booting it
 * again. Seen under nested TCG as an early triple fault (about one boot
 * in a few hundred); a guest that reached its console, a VMM that died,
 * a timeout or a setup error are reported as they are. */
static bool died_silently(const struct box *b)
{
	return b->exit_reported && b->console[0] == '\0' &&
	       (b->vm_exit == VM_EXIT_POWEROFF ||
		b->vm_exit == VM_EXIT_GUEST_ERROR);
}

int box_boot(struct box *b, const struct vm_cfg *cfg, unsigned timeout_ms,
	     char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		if (box_spawn(b, cfg, err, errlen) < 0)
			return -1;
		if (box_wait_ready(b, timeout_ms, err, errlen) == 0)
			return 0;
		if (attempt || !died_silently(b))
			return -1;
		log_warnx("[vm:%s] %s, before any console output: booting it "
			  "once more", b->name, err);
		box_stop(b, 1000);
		box_close(b);
	}
}

int box_connect(struct box *b, uint32_t port, unsigned timeout_ms, char *err,
		size_t errlen)
{
	/* One connect in flight at a time per box: the reply is matched by
	 * cookie, and a second thread pumping the same socket would swallow
	 * it. Connects take milliseconds, so serialising them costs nothing
	 * that matters; the connections themselves are independent, and so
	 * are other boxes' connects (each box has its own lock). */
	pthread_mutex_lock(&b->connect_lock);
	int fd = box_connect_locked(b, port, timeout_ms, err, errlen);
	pthread_mutex_unlock(&b->connect_lock);
	return fd;
}

static int box_connect_locked(struct box *b, uint32_t port,
			      unsigned timeout_ms, char *err, size_t errlen)
{
	uint32_t cookie = b->next_cookie++;
	struct ipc_connect c = { .cookie = cookie, .port = port };
	int fd = -1, cerr = 0;

	if (b->sock < 0 || ipc_send(b->sock, IPC_CONNECT, &c, sizeof(c), NULL,
				    0, -1) < 0) {
		fail_msg(b, "connecting to the guest", -1, err, errlen);
		return -1;
	}
	int r = pump(b, timeout_ms, cookie, false, &fd, &cerr);
	if (r == 0 && fd >= 0)
		return fd;
	if (cerr)
		snprintf(err, errlen, "connecting to guest port %u: %s", port,
			 strerror(cerr));
	else
		fail_msg(b, "connecting to the guest", r, err, errlen);
	return -1;
}

int box_wait_exit(struct box *b, unsigned timeout_ms)
{
	int fd = -1, cerr = 0;

	if (b->sock >= 0)
		pump(b, timeout_ms, 0, false, &fd, &cerr);
	if (b->sock >= 0)
		return -1;	/* still running */
	reap(b, true);
	return 0;
}

void box_stop(struct box *b, unsigned grace_ms)
{
	int fd = -1, cerr = 0;

	if (b->sock >= 0) {
		b->stopping = true;
		ipc_send(b->sock, IPC_STOP, NULL, 0, NULL, 0, -1);
		pump(b, grace_ms, 0, false, &fd, &cerr);
	}
	if (b->pid > 0 && !b->reaped) {
		kill(b->pid, SIGKILL);
		/* After its final report the VMM only frees memory: the
		 * stage need not wait for that. */
		if (!b->exit_reported || !defer_reap(b))
			reap(b, true);
	}
}

void box_close(struct box *b)
{
	if (b->svc_fd >= 0) {
		close(b->svc_fd);
		b->svc_fd = -1;
	}
	if (b->sock >= 0) {
		close(b->sock);
		b->sock = -1;
	}
	if (b->pid > 0 && !b->reaped) {
		kill(b->pid, SIGKILL);
		reap(b, true);
	}
	b->pid = -1;
}
