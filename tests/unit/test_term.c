/* test_term.c: guest text shown on a terminal cannot drive the terminal
 * (host/util/log.c write_guest_text; security review 2, L3).
 *
 * A stage's final output and a VM's console tail are bytes the guest
 * chose. Written to a TTY, escape sequences would let it set the window
 * title, write the clipboard (OSC 52), plant hyperlinks or redraw what
 * the user already read. Through a pseudo-terminal every such sequence
 * must be gone and the plain text kept; to a pipe the bytes pass as-is
 * (they are data: `voidbox run ... > out.json`).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../../host/util/util.h"

static int fails;
#define CHECK(ok, name, ...) do { \
	if (ok) printf("PASS: %s\n", name); \
	else { fails++; printf("FAIL: %s: ", name); printf(__VA_ARGS__); \
	       printf("\n"); } } while (0)

static const char hostile[] =
	"ok-1\n"
	"\x1b]52;c;ZWNobyBwd25lZA==\x07"	/* OSC 52: set the clipboard */
	"\x1b]0;owned title\x1b\\"		/* OSC 0 with ST */
	"\x1b[2J\x1b[H"				/* clear, home */
	"\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\" /* hyperlink */
	"\x1bP1$q\x1b\\"			/* DCS */
	"\xc2\x9b" "31m"			/* UTF-8 encoded C1 CSI */
	"a\rb\x08\x7f\tc\n"			/* CR, BS, DEL hide text */
	"caf\xc3\xa9 ok-2\n";
static const char clean[] = "ok-1\nlinkab\tc\ncaf\xc3\xa9 ok-2\n";

static size_t drain(int fd, char *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, out + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	return n;
}

int main(void)
{
	char got[4096];

	/* A terminal: a pty in raw mode, so what we read is what was written. */
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		printf("SKIP: term-clean: no pty\n");
		return 0;
	}
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	FILE *f = fdopen(s, "w");
	write_guest_text(f, hostile, sizeof(hostile) - 1);
	fclose(f);
	fcntl(m, F_SETFL, O_NONBLOCK);
	usleep(100000);
	size_t n = drain(m, got, sizeof(got));
	CHECK(!memchr(got, 0x1b, n) && !strstr(got, "\xc2\x9b") &&
	      !memchr(got, '\r', n) && !memchr(got, 0x7f, n),
	      "term-clean-no-escapes", "control bytes reached the terminal: "
	      "%zu bytes", n);
	CHECK(!strcmp(got, clean), "term-clean-text-kept", "got '%s'", got);

	/* A pipe: untouched. */
	int p[2];
	if (pipe(p) < 0)
		return 1;
	f = fdopen(p[1], "w");
	write_guest_text(f, hostile, sizeof(hostile) - 1);
	fclose(f);
	n = drain(p[0], got, sizeof(got));
	CHECK(n == sizeof(hostile) - 1 && !memcmp(got, hostile, n),
	      "term-pipe-untouched", "%zu of %zu bytes", n,
	      sizeof(hostile) - 1);
	return fails ? 1 : 0;
}
