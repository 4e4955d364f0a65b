/* main.c: the guest agent's entry point as PID 1.
 *
 * Order: console fds, mounts, command line, then the ready line. This file
 * holds no feature code (libkrun's 1,700-line init.c is the lesson); it
 * only sequences the pieces declared in agent.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_abi.h"

/* The kernel starts init with /dev/console as fds 0-2 only if the node
 * exists in the initramfs; make sure of it either way. */
static void console_fds(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static double uptime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(void)
{
	char name[64] = "guest";

	if (getpid() != 1) {
		agent_log("must run as PID 1 (is %d)", (int)getpid());
		return 2;
	}
	console_fds();
	/* PID 1 gets no default signal actions: ignore the job-control ones
	 * that could otherwise stop init. SIGCHLD stays default so
	 * waitpid() reaps orphans below. */
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);

	int err = mounts_setup();
	if (err < 0) {
		agent_log("essential mount failed: %s; powering off",
			  strerror(-err));
		power_off();
	}
	if (cmdline_load() == 0)
		cmdline_get(AGENT_CMDLINE_NAME, name, sizeof(name));

	agent_log("ready (abi %u, vm %s, uptime %.1f ms)", AGENT_ABI_VERSION,
		  name, uptime_ms());

	/* Skeleton: nothing to serve yet. Reap anything left, power off. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	power_off();
}
