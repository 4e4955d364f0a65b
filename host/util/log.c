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
#include <unistd.h>

#include "util.h"

static char log_prefix[80] = "voidbox";
static enum log_level log_level = LOG_WARN;

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
