/* ptydrive: run a command on a pseudo-terminal and drive it from a script,
 * as a user at a terminal would (tests of `voidbox shell` and `attach` in
 * the nested test host, which has no tmux or python).
 *
 *   ptydrive [-s ROWSxCOLS] [-t SECONDS] [-o TRANSCRIPT] SCRIPT -- CMD...
 *
 * CMD runs in its own session with the terminal as its controlling
 * terminal and stdin/stdout/stderr, in the terminal's default (cooked)
 * mode. Its TERM is xterm-256color unless the environment names a
 * real one (the test host's is "dumb"): programs draw as they would for a
 * user, and the script reads what they draw. SCRIPT has one step per line (blank lines and # comments skipped);
 * TEXT takes C escapes (\r \n \t \e \\ \xHH):
 *   send TEXT        type TEXT
 *   expect TEXT      wait until the output since the last match holds TEXT
 *   resize ROWS COLS change the terminal's size (CMD gets SIGWINCH)
 *   sleep MS
 *   sh COMMAND       run COMMAND with /bin/sh; it must exit 0
 *   wait STATUS      wait for CMD to end; its status (128+N for signal N)
 *                    must be STATUS
 *   termios-same     the terminal's settings are what they were at start
 * Every step has the -t budget (default 120 s). On a failure it says which
 * line and why, shows the end of the output, and exits 1; 0 when every
 * step passed. The whole output goes to TRANSCRIPT when given.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int master = -1, slave = -1, tfd = -1;
static char *out;
static size_t nout, cap, mark;
static pid_t child;
static int child_status = -1;
static unsigned line_no;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	size_t from = nout > 2000 ? nout - 2000 : 0;

	fprintf(stderr, "ptydrive: line %u: ", line_no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n--- last output (escaped) ---\n");
	for (size_t i = from; i < nout; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c == '\n' || (c >= 0x20 && c < 0x7f))
			fputc(c, stderr);
		else if (c != '\r')
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "\n---\n");
	if (child > 0 && child_status < 0)
		kill(-child, SIGKILL);
	exit(1);
}

/* Read what the terminal has for up to ms (0: what is there now). */
static void pump(int ms)
{
	struct pollfd p = { .fd = master, .events = POLLIN };
	char buf[4096];

	if (poll(&p, 1, ms) <= 0)
		return;
	ssize_t k = read(master, buf, sizeof(buf));
	if (k <= 0)
		return;		/* EIO: no one holds the terminal now */
	if (nout + (size_t)k + 1 > cap) {
		cap = (nout + (size_t)k + 1) * 2;
		if (!(out = realloc(out, cap)))
			fail("out of memory");
	}
	memcpy(out + nout, buf, (size_t)k);
	nout += (size_t)k;
	out[nout] = '\0';
	if (tfd >= 0)
		(void)!write(tfd, buf, (size_t)k);
}

static void reap(void)
{
	int st;
	if (child_status < 0 && waitpid(child, &st, WNOHANG) == child)
		child_status = WIFSIGNALED(st) ? 128 + WTERMSIG(st)
					      : WEXITSTATUS(st);
}

/* C escapes in place; returns the length. */
static size_t unescape(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p != '\\' || !p[1]) {
			*o++ = *p;
			continue;
		}
		switch (*++p) {
		case 'r': *o++ = '\r'; break;
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'e': *o++ = 033; break;
		case 'x': {
			unsigned v = 0;
			int k = 0;
			while (k < 2 && p[1] && strchr("0123456789abcdefABCDEF", p[1])) {
				char c = *++p;
				v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
				k++;
			}
			*o++ = (char)v;
			break;
		}
		default: *o++ = *p; break;
		}
	}
	*o = '\0';
	return (size_t)(o - s);
}

static void *find(const char *h, size_t hl, const char *n, size_t nl)
{
	return nl ? memmem(h, hl, n, nl) : (void *)h;
}

int main(int argc, char **argv)
{
	unsigned rows = 24, cols = 80, budget_s = 120;
	const char *transcript = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "+s:t:o:")) != -1) {
		if (opt == 's' && sscanf(optarg, "%ux%u", &rows, &cols) == 2)
			continue;
		if (opt == 't' && (budget_s = (unsigned)atoi(optarg)) > 0)
			continue;
		if (opt == 'o') {
			transcript = optarg;
			continue;
		}
		fprintf(stderr, "usage: ptydrive [-s RxC] [-t S] [-o F] SCRIPT -- CMD...\n");
		return 2;
	}
	if (optind + 2 > argc || strcmp(argv[optind + 1], "--") ||
	    optind + 2 >= argc) {
		fprintf(stderr, "usage: ptydrive [-s RxC] [-t S] [-o F] SCRIPT -- CMD...\n");
		return 2;
	}
	FILE *sf = fopen(argv[optind], "r");
	if (!sf) {
		perror(argv[optind]);
		return 2;
	}
	char **cmd = argv + optind + 2;
	if (transcript)
		tfd = open(transcript, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		perror("posix_openpt");
		return 2;
	}
	char *sname = ptsname(master);
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	ioctl(master, TIOCSWINSZ, &ws);
	slave = open(sname, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		perror(sname);
		return 2;
	}
	struct termios t0;
	tcgetattr(slave, &t0);
	child = fork();
	if (child == 0) {
		setsid();
		int s = open(sname, O_RDWR);	/* the controlling terminal */
		if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
			_exit(126);
		dup2(s, 0);
		dup2(s, 1);
		dup2(s, 2);
		if (s > 2)
			close(s);
		const char *term = getenv("TERM");
		if (!term || !*term || !strcmp(term, "dumb"))
			setenv("TERM", "xterm-256color", 1);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	char l[4096];
	while (fgets(l, sizeof(l), sf)) {
		line_no++;
		l[strcspn(l, "\n")] = '\0';
		char *arg = strchr(l, ' ');
		if (arg)
			*arg++ = '\0';
		else
			arg = l + strlen(l);
		if (!l[0] || l[0] == '#')
			continue;
		long long deadline = now_ms() + (long long)budget_s * 1000;
		pump(0);
		if (!strcmp(l, "send")) {
			size_t n = unescape(arg);
			if (write(master, arg, n) != (ssize_t)n)
				fail("send: %s", strerror(errno));
		} else if (!strcmp(l, "expect")) {
			size_t n = unescape(arg);
			char *at;
			while (!(at = find(out ? out + mark : "", nout - mark, arg, n))) {
				if (now_ms() > deadline)
					fail("expect: no \"%s\" in %u s", arg, budget_s);
				pump(100);
			}
			mark = (size_t)(at - out) + n;
		} else if (!strcmp(l, "resize")) {
			unsigned r, c;
			if (sscanf(arg, "%u %u", &r, &c) != 2)
				fail("resize ROWS COLS");
			ws = (struct winsize){ .ws_row = (unsigned short)r, .ws_col = (unsigned short)c };
			if (ioctl(master, TIOCSWINSZ, &ws) < 0)
				fail("TIOCSWINSZ: %s", strerror(errno));
		} else if (!strcmp(l, "sleep")) {
			long long until = now_ms() + atoi(arg);
			while (now_ms() < until)
				pump((int)(until - now_ms()));
		} else if (!strcmp(l, "sh")) {
			int st = system(arg);
			if (st != 0)
				fail("sh: %s: status %d", arg, st);
		} else if (!strcmp(l, "wait")) {
			while (reap(), child_status < 0) {
				if (now_ms() > deadline)
					fail("wait: still running after %u s", budget_s);
				pump(100);
			}
			pump(50);
			if (child_status != atoi(arg))
				fail("wait: exit status %d, want %s", child_status, arg);
		} else if (!strcmp(l, "termios-same")) {
			struct termios t1;
			if (tcgetattr(slave, &t1) < 0)
				fail("tcgetattr: %s", strerror(errno));
			if (t1.c_iflag != t0.c_iflag || t1.c_oflag != t0.c_oflag ||
			    t1.c_lflag != t0.c_lflag || t1.c_cflag != t0.c_cflag)
				fail("termios changed: iflag %o/%o oflag %o/%o lflag %o/%o",
				     t0.c_iflag, t1.c_iflag, t0.c_oflag, t1.c_oflag,
				     t0.c_lflag, t1.c_lflag);
		} else {
			fail("unknown step '%s'", l);
		}
	}
	reap();
	if (child_status < 0)
		kill(-child, SIGKILL);
	return 0;
}
