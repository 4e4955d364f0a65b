/* cmd_selftest.c: `voidbox selftest` — does this host work?
 *
 * Runs the tiny test guests embedded in the binary (tests/guests/) through
 * the real path — a sandboxed VMM child per guest, the Linux boot
 * protocol, virtio-mmio devices, vsock to the orchestrator — and prints
 * one line per check. Works on any /dev/kvm, including nested PVM hosts
 * that cannot run Linux itself. Exit 0 only when everything passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "../box/box.h"
#include "../net/net.h"
#include "../util/util.h"
#include "../vmm/vmcfg.h"

#define GUEST_TIMEOUT_MS 60000

struct st {
	int pass, fail;
	bool json;
};

static void report(struct st *s, bool ok, const char *name, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static void report(struct st *s, bool ok, const char *name, const char *fmt,
		   ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ok ? s->pass++ : s->fail++;
	printf("%s %-14s %s\n", ok ? "[ok]  " : "[FAIL]", name, msg);
	fflush(stdout);
}

/* The hostile checks make the VMM refuse and log guest errors on purpose
 * ("[vm:virtio_hostile] warning: virtio-rng: guest error: ..."): that is
 * what they test, not news for someone asking whether this host works.
 * While one runs, stderr (ours and so the VMM child's, which inherits it)
 * goes to a memfd, replayed only when the check fails. The user-facing
 * checks keep the real stderr. */
struct capture {
	int saved, fd;
};

static void capture_begin(struct capture *c)
{
	fflush(stderr);
	c->fd = memfd_create("selftest-stderr", MFD_CLOEXEC);
	c->saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	/* dup2 clears FD_CLOEXEC on fd 2: the VMM inherits the memfd. */
	if (c->fd < 0 || c->saved < 0 || dup2(c->fd, STDERR_FILENO) < 0) {
		if (c->fd >= 0)
			close(c->fd);
		if (c->saved >= 0)
			close(c->saved);
		c->fd = c->saved = -1;	/* not captured: shown as before */
	}
}

/* Restore stderr; when the check failed (show), replay the last lines
 * written meanwhile so its cause is on screen. */
static void capture_end(struct capture *c, bool show)
{
	enum { TAIL = 8192 };
	char buf[TAIL];

	if (c->fd < 0)
		return;
	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	c->saved = -1;
	off_t end = lseek(c->fd, 0, SEEK_END);
	if (show && end > 0) {
		off_t from = end > TAIL ? end - TAIL : 0;
		ssize_t n = pread(c->fd, buf, sizeof(buf), from);
		char *p = buf;
		if (n > 0 && from > 0) {	/* start at a whole line */
			char *nl = memchr(buf, '\n', (size_t)n);
			n -= nl ? nl + 1 - buf : 0;
			p = nl ? nl + 1 : buf;
		}
		if (n > 0 && write(STDERR_FILENO, p, (size_t)n) < 0)
			n = 0;
	}
	close(c->fd);
	c->fd = -1;
}

/* Run a guest to completion; true if its console ends with a clean
 * "VBTEST DONE <guest> pass=N fail=0". */
static bool run_guest(enum embed_id id, const char *guest, const char *cmd,
		      int initrd_fd, char *why, size_t len)
{
	struct box b;
	char err[300], want[64];
	struct vm_cfg cfg = { .mem_mb = 128, .vcpus = 1,
			      .kernel_blob = (uint32_t)id,
			      .initrd_fd = initrd_fd,
			      .no_initrd = initrd_fd <= 0,
			      .cmdline = (char *)cmd,
			      .timeout_ms = GUEST_TIMEOUT_MS };

	snprintf(cfg.name, sizeof(cfg.name), "%s", guest);

	if (box_spawn(&b, &cfg, err, sizeof(err)) < 0) {
		snprintf(why, len, "%s", err);
		return false;
	}
	if (box_wait_exit(&b, GUEST_TIMEOUT_MS + 5000) < 0)
		box_stop(&b, 1000);
	snprintf(want, sizeof(want), "VBTEST DONE %s pass=", guest);
	const char *done = strstr(b.console, want);
	bool ok = b.exit_reported && b.vm_exit == VM_EXIT_POWEROFF && done &&
		  strstr(done, " fail=0");
	if (!ok) {
		char r[300];
		snprintf(why, len, "%s; console: %.200s",
			 box_end_reason(&b, r, sizeof(r)),
			 done ? done : "(no DONE line)");
	} else {
		const char *nl = strchr(done, '\n');
		snprintf(why, len, "%.*s", nl ? (int)(nl - done) : 60, done);
	}
	box_close(&b);
	return ok;
}

static void check_kvm(struct st *s)
{
	char err[256];
	int fd = kvm_open(err, sizeof(err));

	if (fd < 0) {
		report(s, false, "kvm", "%s", err);
		return;
	}
	close(fd);
	report(s, true, "kvm", "/dev/kvm usable%s", kvm_is_pvm()
	       ? "; NOTE: nested PVM host — tiny guests run, Linux guests "
		 "cannot (docs/architecture.md §0)" : "");
}

static void check_boot(struct st *s)
{
	uint8_t data[200000];
	char why[512], cmd[512];
	int fd = memfd_create("selftest-initrd", MFD_CLOEXEC);

	if (fd < 0 || getrandom(data, sizeof(data), 0) != sizeof(data) ||
	    write(fd, data, sizeof(data)) != sizeof(data)) {
		report(s, false, "boot-path", "cannot make a test initrd");
		if (fd >= 0)
			close(fd);
		return;
	}
	unsigned long crc = crc32(0, data, sizeof(data));
	snprintf(cmd, sizeof(cmd), "console=ttyS0 vbtest.entry=64 "
		 "vbtest.mem=128 vbtest.cpus=1 vbtest.initrd_size=%zu "
		 "vbtest.initrd_crc32=%08lx", sizeof(data), crc);
	bool ok = run_guest(EMBED_TG_BOOTCHECK, "bootcheck", cmd, fd, why,
			    sizeof(why));
	close(fd);
	report(s, ok, "boot-path", "boot_params/e820/cmdline/initrd/CPUID: %s",
	       why);
}

static void check_hostile(struct st *s)
{
	char why[512];
	struct capture c;

	capture_begin(&c);
	bool ok = run_guest(EMBED_TG_MISBEHAVE, "misbehave",
			    "console=ttyS0 vbtest.entry=64", -1, why,
			    sizeof(why));
	capture_end(&c, !ok);
	report(s, ok, "hostile-io", "unbacked MMIO/PIO survived: %s", why);
	capture_begin(&c);
	ok = run_guest(EMBED_TG_VIRTIO_HOSTILE, "virtio_hostile",
		       "console=ttyS0 vbtest.entry=64", -1, why, sizeof(why));
	capture_end(&c, !ok);
	report(s, ok, "hostile-virtio", "corrupt rings, floods: %s", why);
}

/* Run a VMM that tries `probe` (enum vm_probe) right after sandboxing;
 * b is left closed but filled in (how the VMM ended). */
static int run_probe(struct box *b, int probe, bool net, char *err,
		     size_t errlen)
{
	struct vm_cfg cfg = { .name = "seccomp-probe", .mem_mb = 64,
				  .vcpus = 1,
				  .kernel_blob = EMBED_TG_MISBEHAVE,
				  .no_initrd = true,
				  .cmdline = (char *)"console=ttyS0",
				  .seccomp_probe = true, .probe = probe,
				  .net = { .enabled = net,
					   .mode = net ? VM_NET_ALLOW
						       : VM_NET_OFF },
				  .timeout_ms = GUEST_TIMEOUT_MS };

	if (box_spawn(b, &cfg, err, errlen) < 0)
		return -1;
	if (box_wait_exit(b, GUEST_TIMEOUT_MS) < 0)
		box_stop(b, 1000);
	return 0;
}

static bool killed_by_sigsys(const struct box *b)
{
	return b->reaped && WIFSIGNALED(b->wait_status) &&
	       WTERMSIG(b->wait_status) == SIGSYS;
}

/* The VMM's seccomp filter is live: a VMM asked to attempt a forbidden
 * syscall right after sandboxing must be killed by SIGSYS (or, for a raw
 * socket, refused: libslirp tries one for ping and must get a clean
 * error). And what it must do still works: reading a vCPU's registers,
 * whose ioctl numbers have bit 31 set (musl passes them sign-extended). */
static void check_seccomp(struct st *s)
{
	static const struct {
		const char *name, *what;
		int probe;
		bool net;
		int want;	/* 0: killed by SIGSYS, else a vm_probe_result */
	} probes[] = {
		{ "seccomp", "a forbidden syscall (open)", VM_PROBE_OPEN,
		  false, 0 },
		{ "seccomp-tgkill", "tgkill of another process",
		  VM_PROBE_TGKILL, false, 0 },
		{ "seccomp-rawsock", "socket(AF_INET, SOCK_RAW) with a NIC",
		  VM_PROBE_RAW_SOCKET, true, VM_PROBE_REFUSED },
		{ "seccomp-vcpu-regs", "KVM_GET_REGS/SREGS (a triple "
		  "fault's report)", VM_PROBE_VCPU_REGS, false,
		  VM_PROBE_SURVIVED },
	};
	char err[300], why[300];

	for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
		struct box b;
		struct capture c;
		capture_begin(&c);
		if (run_probe(&b, probes[i].probe, probes[i].net, err,
			      sizeof(err)) < 0) {
			capture_end(&c, true);
			report(s, false, probes[i].name, "%s", err);
			continue;
		}
		bool ok = probes[i].want
			? b.exit_reported &&
			  b.probe_result == (uint32_t)probes[i].want
			: killed_by_sigsys(&b);
		capture_end(&c, !ok);
		if (ok)
			report(s, true, probes[i].name, "%s after sandboxing: "
			       "%s", probes[i].what, probes[i].want
			       ? b.detail : "killed the VMM (SIGSYS)");
		else
			report(s, false, probes[i].name, "%s: %s",
			       probes[i].what,
			       box_end_reason(&b, why, sizeof(why)));
		box_close(&b);
	}
}

/* One "Name:\tvalue" field of /proc/PID/status, or "" when absent. */
static const char *status_field(const char *status, const char *name,
				char *out, size_t len)
{
	size_t n = strlen(name);
	const char *p = status;

	out[0] = '\0';
	while (p && *p) {
		if (!strncmp(p, name, n) && p[n] == ':') {
			p += n + 1;
			p += strspn(p, " \t");
			snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
			break;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return out;
}

/* The running VMM holds no capabilities, whoever started it: all sets
 * empty; the bounding set too when we could have dropped it (we have
 * CAP_SETPCAP, e.g. as root). Read from the outside: /proc/PID/status. */
static void check_caps(struct st *s, pid_t pid)
{
	char path[64], buf[4096], v[64], self[4096];
	int fd;
	ssize_t n = -1, m = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) >= 0) {
		m = read(fd, self, sizeof(self) - 1);
		close(fd);
	}
	if (n <= 0 || m <= 0) {
		report(s, false, "caps", "cannot read %s", path);
		return;
	}
	buf[n] = self[m] = '\0';
	unsigned long long eff = strtoull(status_field(self, "CapEff", v,
						       sizeof(v)), NULL, 16);
	bool can_drop_bnd = eff & (1ull << 8);	/* CAP_SETPCAP */
	static const char *const sets[] = { "CapInh", "CapPrm", "CapEff",
					    "CapBnd", "CapAmb" };
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		status_field(buf, sets[i], v, sizeof(v));
		if (!strcmp(sets[i], "CapBnd") && !can_drop_bnd)
			continue;
		if (!v[0] || strtoull(v, NULL, 16) != 0) {
			report(s, false, "caps", "VMM pid %d still has %s %s",
			       (int)pid, sets[i], v[0] ? v : "(unknown)");
			return;
		}
	}
	report(s, true, "caps", "the VMM holds no capabilities%s",
	       can_drop_bnd ? " (bounding set empty too)" : "");
}

static int echo_round(int fd, const uint8_t *out, size_t len, uint8_t *in)
{
	size_t sent = 0, got = 0;

	while (got < len) {
		if (sent < len) {
			ssize_t w = write(fd, out + sent, len - sent);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
		}
		ssize_t r = read(fd, in + got, len - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		else
			usleep(100);
	}
	return memcmp(out, in, len) ? -1 : 0;
}

/* The running VMM holds nothing of the host's environment (API keys,
 * cloud credentials) and has no stdout to write into our output: only
 * VOIDBOX_LOG_FORMAT may be there (box.c). */
static void check_vmm_env(struct st *s, pid_t pid)
{
	char path[64], buf[8192], link[256];
	int fd;
	ssize_t n = -1;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n < 0) {
		report(s, false, "vmm-env", "cannot read %s: %s", path,
		       strerror(errno));
		return;
	}
	buf[n] = '\0';
	for (char *e = buf; e < buf + n; e += strlen(e) + 1)
		if (strncmp(e, "VOIDBOX_LOG_FORMAT=", 19)) {
			char *eq = strchr(e, '=');
			report(s, false, "vmm-env", "the VMM inherited host "
			       "variable %.*s", eq ? (int)(eq - e) : 64, e);
			return;
		}
	snprintf(path, sizeof(path), "/proc/%d/fd/1", (int)pid);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	if (strcmp(link, "/dev/null")) {
		report(s, false, "vmm-env", "the VMM's stdout is %s, not "
		       "/dev/null", n > 0 ? link : "unreadable");
		return;
	}
	report(s, true, "vmm-env", "the VMM has no host environment and no "
	       "stdout");
}

static void check_vsock(struct st *s)
{
	static uint8_t out[256 << 10], in[256 << 10];
	char err[300];
	struct box b;
	struct vm_cfg cfg = {
		.name = "vsock_echo", .mem_mb = 128, .vcpus = 1,
		.kernel_blob = EMBED_TG_VSOCK_ECHO, .no_initrd = true,
		.cmdline = (char *)"console=ttyS0 vbtest.entry=64 "
				   "vbtest.vsock_conns=2",
		.timeout_ms = GUEST_TIMEOUT_MS,
	};

	if (box_spawn(&b, &cfg, err, sizeof(err)) < 0 ||
	    box_wait_ready(&b, GUEST_TIMEOUT_MS, err, sizeof(err)) < 0) {
		report(s, false, "vsock", "%s", err);
		box_close(&b);
		return;
	}
	report(s, true, "sandbox", "VMM child confined by seccomp before the "
	       "guest ran (setup %.1f ms)", (double)b.vmm_setup_ns / 1e6);
	check_vmm_env(s, b.pid);
	check_caps(s, b.pid);
	getrandom(out, sizeof(out), 0);
	int fds[2] = { -1, -1 };
	bool ok = true;
	uint64_t t0 = mono_ns();
	for (int i = 0; i < 2 && ok; i++) {
		fds[i] = box_connect(&b, AGENT_VSOCK_PORT, 10000, err,
				     sizeof(err));
		ok = fds[i] >= 0 && echo_round(fds[i], out, sizeof(out), in) == 0;
	}
	double ms = (double)(mono_ns() - t0) / 1e6;
	if (ok && write(fds[1], "QUIT\n", 5) != 5)
		ok = false;
	if (box_wait_exit(&b, 10000) < 0)	/* QUIT powers it off */
		box_stop(&b, 1000);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (ok)
		report(s, true, "vsock", "2 connections echoed 2 x %zu KiB "
		       "through the VMM in %.1f ms; guest powered off",
		       sizeof(out) >> 10, ms);
	else
		report(s, false, "vsock", "%s", err[0] ? err
		       : "echo mismatch or connection lost");
	box_close(&b);
}

static void report_cb(void *ctx, bool ok, const char *name, const char *msg)
{
	report(ctx, ok, name, "%s", msg);
}

int cmd_selftest(const struct cli_globals *g, int argc, char **argv)
{
	struct st s = { .json = g->json };

	if (argc > 1) {
		log_warnx("selftest: takes no arguments");
		return VB_EXIT_USAGE;
	}
	printf("voidbox selftest: checks the VMM on this host with the tiny "
	       "test guests built into voidbox\n");
	check_kvm(&s);
	if (!s.fail) {
		check_boot(&s);
		check_hostile(&s);
		check_seccomp(&s);
		check_vsock(&s);
		selftest_snapshot(report_cb, &s);
	}
	printf("%d passed, %d failed\n", s.pass, s.fail);
	return s.fail ? VB_EXIT_FAIL : VB_EXIT_OK;
}
