/* log.c: the logging API (STYLE R8, after OpenBSD vmd's log.c).
 *
 * One write(2) per line so concurrent threads and processes sharing stderr
 * never interleave within a line. Lines look like
 *   [vm:stage1] warning: virtq_pop: descriptor loop
 * so a user reading a pipeline's merged output knows which VM spoke.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static char log_prefix[80] = "voidbox";
static enum log_level log_level = LOG_WARN;
static int log_json;		/* --log-format json: one object per line */

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void log_set_json(int on)
{
	log_json = on;
}

int log_is_json(void)
{
	return log_json;
}

/* Append s to out as a JSON string body (no quotes); returns the new n. */
static size_t json_escape(char *out, size_t n, size_t cap, const char *s)
{
	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	return n;
}

/* One line to stderr in either format: "[source] msg" or
 * {"ts":..,"level":..,"source":..,"msg":..}. One write(2) per line. */
static void emit(const char *level, const char *source, const char *msg)
{
	char line[2048];
	size_t cap = sizeof(line) - 3, n;

	if (!log_json) {
		int k = snprintf(line, cap, "[%s] %s", source, msg);
		n = k < 0 ? 0 : (size_t)k < cap ? (size_t)k : cap - 1;
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int k = snprintf(line, cap, "{\"ts\":%lld.%06ld,\"level\":\"%s\","
				 "\"source\":\"", (long long)ts.tv_sec,
				 ts.tv_nsec / 1000, level);
		n = k < 0 ? 0 : (size_t)k;
		n = json_escape(line, n, cap, source);
		n += (size_t)snprintf(line + n, cap - n, "\",\"msg\":\"");
		n = json_escape(line, n < cap ? n : cap, cap, msg);
		if (n + 2 < cap) {
			line[n++] = '"';
			line[n++] = '}';
		}
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void log_say(const char *source, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit("info", source, msg);
}

void log_init(const char *prefix, enum log_level level)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix);
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

static void vlog(const char *tag, int errnum, const char *fmt, va_list ap)
{
	if (log_json) {
		char msg[1024];
		int m = vsnprintf(msg, sizeof(msg), fmt, ap);
		if (m >= 0 && (size_t)m < sizeof(msg) && errnum)
			snprintf(msg + m, sizeof(msg) - (size_t)m, ": %s",
				 strerror(errnum));
		emit(!strncmp(tag, "warning", 7) ? "warn" : !strncmp(tag,
		     "debug", 5) ? "debug" : !strncmp(tag, "fatal", 5)
		     ? "fatal" : "info", log_prefix, msg);
		return;
	}
	char line[1024];
	size_t cap = sizeof(line) - 1;	/* room for the newline */
	int n = snprintf(line, cap, "[%s] %s", log_prefix, tag);

	if (n < 0)
		return;
	if ((size_t)n < cap) {
		int m = vsnprintf(line + n, cap - (size_t)n, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n < cap && errnum)
		n += snprintf(line + n, cap - (size_t)n, ": %s",
			      strerror(errnum));
	if ((size_t)n >= cap)
		n = (int)cap - 1;	/* truncated */
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(fn, lvl, tag, use_errno)                                  \
	void fn(const char *fmt, ...)                                     \
	{                                                                 \
		int saved = errno;                                        \
		va_list ap;                                               \
		if (log_level < (lvl))                                    \
			return;                                           \
		va_start(ap, fmt);                                        \
		vlog(tag, (use_errno) ? saved : 0, fmt, ap);              \
		va_end(ap);                                               \
		errno = saved;                                            \
	}

LOG_FN(log_warn, LOG_WARN, "warning: ", 1)
LOG_FN(log_warnx, LOG_WARN, "warning: ", 0)
LOG_FN(log_info, LOG_INFO, "", 0)
LOG_FN(log_debug, LOG_DEBUG, "debug: ", 0)

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Guest text on a terminal: a hostile guest's bytes could set the window
 * title, write the clipboard (OSC 52), plant hyperlinks or rewrite what
 * is already on screen. On a TTY we drop ESC sequences (CSI up to its
 * final byte, OSC/DCS/APC/PM/SOS up to BEL or ST, other ESC pairs), C1
 * controls (also UTF-8 encoded, U+0080..U+009F) and every C0 control but
 * newline and tab. To a pipe or file the bytes pass untouched. */
void write_guest_text(FILE *f, const char *s, size_t n)
{
	if (!isatty(fileno(f))) {
		fwrite(s, 1, n, f);
		return;
	}
	enum { TXT, ESC, CSI, STR, STR_ESC } st = TXT;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (st) {
		case TXT:
			if (c == 0x1b)
				st = ESC;
			else if (c == 0xc2 && i + 1 < n &&
				 (unsigned char)s[i + 1] >= 0x80 &&
				 (unsigned char)s[i + 1] <= 0x9f) {
				/* A UTF-8 C1 control: CSI and the string
				 * introducers start what their ESC forms do. */
				unsigned char c1 = (unsigned char)s[++i];
				st = c1 == 0x9b ? CSI : (c1 == 0x9d || c1 == 0x90 ||
					c1 == 0x9e || c1 == 0x9f || c1 == 0x98)
					? STR : TXT;
			} else if ((c >= 0x20 && c != 0x7f) || c == '\n' ||
				 c == '\t')
				putc(c, f);
			break;
		case ESC:
			st = c == '[' ? CSI : (c == ']' || c == 'P' || c == '_' ||
					       c == '^' || c == 'X') ? STR : TXT;
			break;
		case CSI:
			if (c >= 0x40 && c <= 0x7e)
				st = TXT;
			break;
		case STR:
			if (c == 0x07)
				st = TXT;
			else if (c == 0x1b)
				st = STR_ESC;
			break;
		case STR_ESC:
			st = c == '\\' ? TXT : STR;
			break;
		}
	}
}
