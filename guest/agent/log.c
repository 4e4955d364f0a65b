/* log.c: agent console logging. One write(2) per line so lines from
 * concurrent writers never interleave mid-line. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "agent.h"

static void vlog(const char *tag, const char *fmt, va_list ap)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "voidbox-agent: %s", tag);

	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;	/* truncated: keep the newline */
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void agent_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void agent_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}
