/* main.c: the guest agent's entry point: PID 1, or test mode.
 *
 * As PID 1: console fds, mounts, command line (secret, name, clock,
 * network), workload directories, the vsock listener, the ready line,
 * then the event loop forever. PID 1 must never exit (the kernel panics),
 * so a setup failure that leaves nothing to serve powers the VM off and
 * everything later only fails the one request or connection involved.
 *
 * Test mode (not PID 1, for development without a VM):
 *   voidbox-agent --listen-unix PATH --secret HEX [--workspace DIR]
 * runs the same loop and protocol code on a unix socket, with the allowed
 * roots under DIR (default: the socket's directory), no mounts and no
 * power-off. Commands change uid only when we are root.
 *
 * This file holds no feature code (libkrun's 1,700-line init.c is the
 * lesson); it only sequences the pieces declared in agent.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

struct agent agent = { .name = "guest" };

static struct ev_watch sigw = { .fd = -1 };
static const char *test_socket;

uint64_t agent_now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keep fds 0-2 open: the kernel starts init with /dev/console only if the
 * node exists in the initramfs, and spawn.c relies on every other fd
 * being >= 3. */
static void std_fds(const char *dev)
{
	int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

void agent_shutdown(void)
{
	exec_kill_all();
	if (agent.test_mode) {
		if (test_socket)
			unlink(test_socket);
		exit(0);
	}
	/* Everything but us; then sync and off. */
	kill(-1, SIGKILL);
	power_off();
}

static void signal_io(struct ev_watch *w, uint32_t re)
{
	struct signalfd_siginfo si[16];
	ssize_t n = read(w->fd, si, sizeof(si));

	for (ssize_t i = 0; i < n / (ssize_t)sizeof(si[0]); i++) {
		int sig = (int)si[i].ssi_signo;
		if (sig == SIGCHLD)
			continue;
		if (agent.test_mode) {
			agent_log("signal %d: shutting down", sig);
			agent_shutdown();
		}
		agent_warn("ignoring signal %d", sig);
	}
	/* Reap even if the read failed: a lost wakeup must not leave a
	 * zombie or an exec without its EXIT. */
	exec_reap();
}

static int signals_setup(void)
{
	sigset_t set;

	/* Writes to a vanished peer must fail with EPIPE, not kill init;
	 * job-control stops must not stop it either. spawn.c restores
	 * defaults in children. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	ev_watch_init(&sigw, fd, signal_io);
	return ev_set(&sigw, EPOLLIN);
}

/* The agent may hold many pipes; its children get the old limit back
 * (policy.c). */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &agent.nofile) < 0)
		return;
	rl = agent.nofile;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = n < 0 ? -errno : 0;
	close(fd);
	fd = -1;
	return err;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_secret(const char *hex)
{
	uint8_t key[AGENT_SECRET_LEN];

	if (strlen(hex) != 2 * AGENT_SECRET_LEN)
		return -EINVAL;
	for (size_t i = 0; i < AGENT_SECRET_LEN; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(agent.secret, key, sizeof(key));
	agent.have_secret = 1;
	return 0;
}

static int vm_setup(void)
{
	char hex[2 * AGENT_SECRET_LEN + 2], val[32];

	int err = mounts_setup();
	if (err < 0) {
		agent_log("essential mount failed: %s; powering off",
			  strerror(-err));
		power_off();
	}
	if (cmdline_load() < 0)
		agent_warn("cannot read /proc/cmdline");
	/* The image root first: everything below lands inside it. */
	if ((err = imageroot_setup()) < 0) {
		agent_log("the image root failed: %s; powering off",
			  strerror(-err));
		power_off();
	}
	cmdline_get(AGENT_CMDLINE_NAME, agent.name, sizeof(agent.name));
	/* The host checked it is one DNS label (host/vmm/vmcfg.c). */
	char host[64];
	if (cmdline_get(AGENT_CMDLINE_HOSTNAME, host, sizeof(host)) > 0 &&
	    sethostname(host, strlen(host)) < 0)
		agent_warn("sethostname: %s", strerror(errno));
	if (cmdline_get(AGENT_CMDLINE_SECRET, hex, sizeof(hex)) < 0 ||
	    parse_secret(hex) < 0)
		agent_warn("no valid " AGENT_CMDLINE_SECRET
			   " (64 hex); refusing every connection");
	memset(hex, 0, sizeof(hex));
	/* Keep the secret from the workload (see cmdline.c). Only the
	 * host can connect anyway (listen.c); this is the second lock. */
	if ((err = cmdline_scrub(AGENT_CMDLINE_SECRET, "/run/cmdline")) < 0)
		agent_warn("hiding the command line: %s", strerror(-err));
	if ((err = write_file("/proc/sys/kernel/dmesg_restrict", "1\n")) < 0)
		agent_warn("dmesg_restrict: %s", strerror(-err));
	if (cmdline_get(AGENT_CMDLINE_TIME, val, sizeof(val)) > 0) {
		unsigned long long ns = strtoull(val, NULL, 10);
		struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
				       .tv_nsec = (long)(ns % 1000000000u) };
		if (clock_settime(CLOCK_REALTIME, &ts) < 0)
			agent_warn("clock_settime: %s", strerror(errno));
	}
	netup_lo();
	if (cmdline_get(AGENT_CMDLINE_NET, val, sizeof(val)) > 0 &&
	    !strcmp(val, "1"))
		netup_eth0();
	if (roots_init(NULL) < 0)
		agent_warn("workload directories incomplete");
	tools_setup();
	if ((err = shares_setup()) < 0) {
		agent_log("a shared directory failed: %s; powering off",
			  strerror(-err));
		power_off();
	}
	if (cmdline_get(AGENT_CMDLINE_GW, val, sizeof(val)) > 0) {
		unsigned long port = strtoul(val, NULL, 10);
		if (port < 1 || port > 65535 ||
		    (err = relay_listen((uint16_t)port)) < 0)
			agent_warn("gateway relay on port %s: %s", val,
				   port < 1 || port > 65535 ? "bad port"
							    : strerror(-err));
	}
	/* Without vsock (the QEMU reference boot has no such device) there
	 * is nothing to serve, but the ready line is still owed: it marks
	 * the end of guest setup, and PID 1 keeps reaping either way. */
	err = listen_vsock(AGENT_VSOCK_PORT);
	if (err < 0)
		agent_warn("vsock port %u: %s; serving nothing",
			   AGENT_VSOCK_PORT, strerror(-err));
	return err;
}

static int usage(void)
{
	fprintf(stderr, "usage: voidbox-agent --listen-unix PATH --secret HEX"
			" [--workspace DIR]\n(as PID 1 it takes no "
			"arguments)\n");
	return 2;
}

static int test_setup(int argc, char **argv)
{
	const char *sock = NULL, *secret = NULL, *dir = NULL;
	char sockdir[PATH_MAX];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (!strcmp(a, "--listen-unix"))
			sock = v;
		else if (!strcmp(a, "--secret"))
			secret = v;
		else if (!strcmp(a, "--workspace"))
			dir = v;
		else
			return usage();
		i++;
	}
	if (!sock || !secret)
		return usage();
	if (parse_secret(secret) < 0) {
		fprintf(stderr, "voidbox-agent: --secret needs 64 hex\n");
		return 2;
	}
	if (!dir) {
		snprintf(sockdir, sizeof(sockdir), "%s", sock);
		char *slash = strrchr(sockdir, '/');
		if (slash)
			*slash = '\0';
		dir = slash ? sockdir : ".";
	}
	agent.test_mode = 1;
	snprintf(agent.name, sizeof(agent.name), "test");
	/* Orphaned grandchildren come to us, as they would to PID 1, so
	 * reaping and process-group kills behave the same. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int err = roots_init(dir);
	if (!err)
		err = listen_unix(sock);
	if (err < 0) {
		agent_log("test mode setup (%s): %s", sock, strerror(-err));
		return 1;
	}
	test_socket = sock;
	return 0;
}

int main(int argc, char **argv)
{
	int pid1 = getpid() == 1;

	std_fds(pid1 ? "/dev/console" : "/dev/null");
	umask(022);
	agent.is_root = geteuid() == 0;
	raise_nofile();
	int err = ev_init();
	if (!err)
		err = signals_setup();
	if (err < 0) {
		agent_log("event loop: %s", strerror(-err));
		if (pid1)
			power_off();
		return 1;
	}
	int listening = 1;
	if (pid1) {
		listening = vm_setup() == 0;
	} else {
		int rc = test_setup(argc, argv);
		if (rc)
			return rc;
	}

	agent.ready_ns = agent_now_ns(CLOCK_BOOTTIME);
	agent_log("ready (abi %u, vm %s, uptime %.1f ms)", AGENT_ABI_VERSION,
		  agent.name, (double)agent.ready_ns / 1e6);
	if (pid1 && cmdline_has(AGENT_CMDLINE_DONE))
		power_off();	/* a reference boot: ready is all it checks */
	if (pid1 && listening && (err = listen_knock()) < 0)
		agent_warn("ready knock: %s", strerror(-err));
	ev_run(conn_before_sleep);
}
