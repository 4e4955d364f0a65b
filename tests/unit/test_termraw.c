/* test_termraw.c: an interactive session's terminal (host/util/term.c)
 * goes raw and always comes back: at term_restore, at exit, and when a
 * signal that ends the process arrives — with the handler that was there
 * before still run, and the signal still ending the process when it had
 * the default action. SIGWINCH becomes a readable byte. Each case runs in
 * a child whose stdin is a fresh pseudo-terminal; the parent compares the
 * terminal's settings before and after through its own descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../../host/util/util.h"

static int fails;

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		printf("FAIL: "); printf(__VA_ARGS__); printf("\n"); \
		fails++; \
	} \
} while (0)

static int same(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag &&
	       a->c_lflag == b->c_lflag && a->c_cflag == b->c_cflag;
}

static volatile sig_atomic_t prior_ran;
static void prior(int sig)
{
	(void)sig;
	prior_ran = 1;
	_exit(42);	/* what a program's own SIGTERM handler might do */
}

/* how: 0 restore, 1 exit, 2 SIGTERM (default action), 3 SIGHUP with a
 * prior handler, 4 SIGWINCH then restore. Returns the wait status. */
static int run_case(int how, struct termios *before, struct termios *during,
		    struct termios *after)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		return -1;
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	tcgetattr(s, before);
	int sync[2];
	if (pipe(sync) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* Its controlling terminal, as a user's shell has it (the
		 * kernel sends SIGWINCH to that terminal's foreground). */
		setsid();
		ioctl(s, TIOCSCTTY, 0);
		dup2(s, 0);
		if (how == 3)
			signal(SIGHUP, prior);
		if (term_raw(0) < 0)
			_exit(90);
		int wfd = how == 4 ? term_winch_fd() : -1;
		(void)!write(sync[1], "r", 1);	/* raw now: parent looks */
		char c;
		usleep(200000);
		switch (how) {
		case 0:
			term_restore();
			_exit(0);
		case 1:
			exit(3);	/* atexit puts it back */
		case 2:
			raise(SIGTERM);
			_exit(91);	/* not reached: SIGTERM's default */
		case 3:
			raise(SIGHUP);
			_exit(92);	/* prior exits 42 */
		case 4: {
			struct winsize ws = { .ws_row = 33, .ws_col = 77 };
			ioctl(0, TIOCSWINSZ, &ws);	/* the kernel: SIGWINCH */
			for (int i = 0; i < 100; i++) {
				if (read(wfd, &c, 1) == 1) {
					uint16_t r, cl;
					term_restore();
					_exit(term_size(0, &r, &cl) && r == 33 &&
					      cl == 77 ? 0 : 93);
				}
				usleep(10000);
			}
			_exit(94);
		}
		}
		_exit(95);
	}
	char c;
	(void)!read(sync[0], &c, 1);
	tcgetattr(s, during);
	int st;
	waitpid(pid, &st, 0);
	tcgetattr(s, after);
	close(s);
	close(m);
	close(sync[0]);
	close(sync[1]);
	return st;
}

int main(void)
{
	static const char *const names[] = { "term_restore", "exit",
		"SIGTERM", "SIGHUP with a prior handler", "SIGWINCH" };
	struct termios b, d, a;

	for (int how = 0; how < 5; how++) {
		int st = run_case(how, &b, &d, &a);
		CHECK(st != -1, "%s: no pseudo-terminal", names[how]);
		CHECK(!(d.c_lflag & (ICANON | ECHO | ISIG)) &&
		      !(d.c_iflag & (ICRNL | IXON)) && !(d.c_oflag & OPOST),
		      "%s: not raw while running", names[how]);
		CHECK(same(&b, &a), "%s: settings not put back", names[how]);
		switch (how) {
		case 0: case 4:
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "%s: status %#x", names[how], st);
			break;
		case 1:
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3,
			      "exit: status %#x", st);
			break;
		case 2:
			CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
			      "SIGTERM did not end the process: status %#x",
			      st);
			break;
		case 3:
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42,
			      "the prior SIGHUP handler did not run: %#x", st);
			break;
		}
		if (!fails)
			printf("PASS: termraw-%d %s\n", how, names[how]);
	}
	CHECK(term_raw(-1) < 0, "term_raw of no terminal succeeded");
	uint16_t r, c;
	CHECK(!term_size(-1, &r, &c), "term_size of no terminal");
	return fails ? 1 : 0;
}
