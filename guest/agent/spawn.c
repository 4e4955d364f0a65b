/* spawn.c: fork one command into its own session and execve it.
 *
 * The child reports any failure before execve through a close-on-exec
 * pipe: the parent reads EOF when execve succeeded, or {step, errno} when
 * it did not. So "no such file", "permission denied" or a bad cwd become
 * an ERROR reply with the real errno instead of a made-up exit status,
 * and the parent knows the outcome before it replies STARTED.
 *
 * Between fork and execve the child is a copy of a single-threaded
 * process, so the usual async-signal-safety worry is moot; it still only
 * makes plain system calls. Order matters:
 *   signals reset (the agent blocks SIGCHLD and ignores SIGPIPE, and both
 *   survive execve) -> setsid (own process group: kill(-pid) reaches the
 *   whole tree) -> stdio -> controlling terminal -> chdir (as root,
 *   before dropping privileges)
 *   -> other fds marked close-on-exec -> rlimits -> groups, gid, uid ->
 *   execve.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

enum spawn_step {
	STEP_SETSID,
	STEP_STDIN,
	STEP_DUP,
	STEP_CTTY,
	STEP_CHDIR,
	STEP_CLOSE,
	STEP_RLIMIT,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_EXECVE,
};

static const char *const step_names[] = {
	[STEP_SETSID] = "setsid",
	[STEP_STDIN] = "open /dev/null",
	[STEP_DUP] = "dup2",
	[STEP_CTTY] = "TIOCSCTTY",
	[STEP_CHDIR] = "chdir",
	[STEP_CLOSE] = "close_range",
	[STEP_RLIMIT] = "setrlimit",
	[STEP_SETGROUPS] = "setgroups",
	[STEP_SETGID] = "setgid",
	[STEP_SETUID] = "setuid",
	[STEP_EXECVE] = "execve",
};

struct spawn_fail {
	int32_t step;
	int32_t err;
};

static void child_fail(int efd, int step, int err)
	__attribute__((noreturn));
static void child_fail(int efd, int step, int err)
{
	struct spawn_fail f = { .step = step, .err = err };

	/* One write below PIPE_BUF: atomic, the parent reads it whole. */
	(void)!write(efd, &f, sizeof(f));
	_exit(127);
}

/* Mark every fd >= 3 close-on-exec (the error pipe must survive until
 * execve, so closing outright is not an option). close_range needs Linux
 * 5.11; older kernels get the slow loop. */
static int cloexec_from_3(void)
{
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	rlim_t max = rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur;
	for (int fd = 3; (rlim_t)fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

static void child(const struct spawn *s, int efd) __attribute__((noreturn));
static void child(const struct spawn *s, int efd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* EINVAL for SIGKILL, SIGSTOP and libc-reserved ones is fine. */
	for (int sig = 1; sig < _NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		child_fail(efd, STEP_SETSID, errno);
	int in = s->fd_in;
	if (in < 0) {
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (in < 0)
			child_fail(efd, STEP_STDIN, errno);
	}
	/* Every fd here is >= 3 (main keeps 0-2 open), so dup2 never
	 * clobbers a source it still needs. */
	if (dup2(in, 0) < 0 || dup2(s->fd_out, 1) < 0 ||
	    dup2(s->fd_err, 2) < 0)
		child_fail(efd, STEP_DUP, errno);
	/* A new session has no controlling terminal; its first terminal
	 * becomes one only when asked (job control, ^C as SIGINT). */
	if (s->ctty && ioctl(0, TIOCSCTTY, 0) < 0)
		child_fail(efd, STEP_CTTY, errno);
	if (chdir(s->cwd) < 0)
		child_fail(efd, STEP_CHDIR, errno);
	if (cloexec_from_3() < 0)
		child_fail(efd, STEP_CLOSE, errno);
	int err = policy_apply_rlimits();
	if (err < 0)
		child_fail(efd, STEP_RLIMIT, -err);
	umask(022);
	if (s->setid) {
		if (setgroups(1, &s->gid) < 0)
			child_fail(efd, STEP_SETGROUPS, errno);
		if (setgid(s->gid) < 0)
			child_fail(efd, STEP_SETGID, errno);
		if (setuid(s->uid) < 0)
			child_fail(efd, STEP_SETUID, errno);
	}
	execve(s->path, s->argv, s->envp);
	child_fail(efd, STEP_EXECVE, errno);
}

pid_t spawn_start(const struct spawn *s, const char **what)
{
	struct spawn_fail f;
	int ep[2];
	ssize_t n;

	if (pipe2(ep, O_CLOEXEC) < 0) {
		*what = "pipe2";
		return -errno;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		close(ep[0]);
		close(ep[1]);
		*what = "fork";
		return -err;
	}
	if (pid == 0) {
		close(ep[0]);
		child(s, ep[1]);
	}
	close(ep[1]);
	ep[1] = -1;
	/* Blocks until execve or failure: microseconds, and it keeps the
	 * reply honest. A stuck chdir on a dead mount would stall the loop,
	 * which this guest cannot have (its filesystems are local). */
	do
		n = read(ep[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	ep[0] = -1;
	if (n != (ssize_t)sizeof(f))
		return pid;
	/* Reap the failed child here, so the SIGCHLD reaper never sees a
	 * pid that no exec claims. It has exited or is about to. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	*what = (f.step >= 0 && (size_t)f.step < ARRAY_SIZE(step_names))
			? step_names[f.step]
			: "spawn";
	return -f.err;
}
