/* term.c: the user's terminal during an interactive session (`voidbox
 * shell`, `attach`): raw mode, always put back, and window-size changes.
 *
 * Raw: every key goes to the guest as typed (^C, ^Z, ^D included: the
 * guest's own terminal turns them into signals and EOFs), nothing is
 * echoed locally, output is not post-processed. Put back: by
 * term_restore, at exit, and when a signal that ends us arrives (SIGTERM,
 * SIGHUP, SIGINT, SIGQUIT from elsewhere): the handler restores the saved
 * settings (tcsetattr is async-signal-safe), then hands the signal to the
 * handler that was there before, or re-raises it with the default action.
 * Only SIGKILL of voidbox itself leaves a raw terminal (`reset` fixes it);
 * the VMM is a separate process, so its death never does.
 *
 * Window size: SIGWINCH writes a byte to a non-blocking self-pipe whose
 * read end the session polls (term_winch_fd), so the size is read and sent
 * in the session's own loop, never in a handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

static const int end_sigs[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT };
#define NSIGS (sizeof(end_sigs) / sizeof(end_sigs[0]))

static struct {
	volatile sig_atomic_t raw;	/* saved holds what to put back */
	int fd;
	struct termios saved;
	struct sigaction old[NSIGS];
	bool handlers;
	int winch[2];
	struct sigaction old_winch;
} t = { .fd = -1, .winch = { -1, -1 } };

static void put_back(void)
{
	if (!t.raw)
		return;
	t.raw = 0;
	tcsetattr(t.fd, TCSADRAIN, &t.saved);
}

static void on_end_signal(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;

	put_back();
	for (size_t i = 0; i < NSIGS; i++) {
		if (end_sigs[i] != sig)
			continue;
		struct sigaction *o = &t.old[i];
		if (o->sa_flags & SA_SIGINFO && o->sa_sigaction) {
			o->sa_sigaction(sig, si, uc);
		} else if (o->sa_handler != SIG_DFL &&
			   o->sa_handler != SIG_IGN) {
			o->sa_handler(sig);
		} else if (o->sa_handler == SIG_DFL) {
			sigaction(sig, o, NULL);
			raise(sig);	/* delivered when we return */
		}
	}
	errno = saved_errno;
}

static void on_winch(int sig)
{
	int saved_errno = errno;

	(void)sig;
	if (t.winch[1] >= 0)
		(void)!write(t.winch[1], "w", 1);
	errno = saved_errno;
}

int term_raw(int fd)
{
	struct termios raw;

	if (t.raw)
		return 0;
	if (tcgetattr(fd, &t.saved) < 0)
		return -1;
	raw = t.saved;
	/* cfmakeraw, spelled out: no input translation or flow control,
	 * no output processing, no echo, no canonical mode, no signals. */
	raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
				  IGNCR | ICRNL | IXON | IXOFF);
	raw.c_oflag &= ~(tcflag_t)OPOST;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	t.fd = fd;
	if (!t.handlers) {
		struct sigaction sa = { .sa_sigaction = on_end_signal,
					.sa_flags = SA_SIGINFO };
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < NSIGS; i++)
			sigaction(end_sigs[i], &sa, &t.old[i]);
		atexit(put_back);
		t.handlers = true;
	}
	t.raw = 1;
	/* TCSANOW: what was typed ahead (while the VM booted) is kept and
	 * goes to the guest. */
	if (tcsetattr(fd, TCSANOW, &raw) < 0) {
		t.raw = 0;
		return -1;
	}
	return 0;
}

void term_restore(void)
{
	put_back();
}

int term_winch_fd(void)
{
	if (t.winch[0] >= 0)
		return t.winch[0];
	if (pipe2(t.winch, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	struct sigaction sa = { .sa_handler = on_winch, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, &t.old_winch);
	return t.winch[0];
}

const char *term_name(void)
{
	const char *name = getenv("TERM");

	return name && *name && strlen(name) < 64 ? name : "xterm-256color";
}

bool term_size(int fd, uint16_t *rows, uint16_t *cols)
{
	struct winsize ws;

	if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row ||
	    !ws.ws_col)
		return false;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return true;
}
