/* cmdline.c: parameters the VMM passes on the kernel command line. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

static char cmdline[4096];

int cmdline_load(void)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
	close(fd);
	fd = -1;
	if (n < 0)
		return -1;
	cmdline[n] = '\0';
	return 0;
}

int cmdline_get(const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);

	for (const char *p = cmdline; *p;) {
		while (*p == ' ' || *p == '\n')
			p++;
		const char *end = p + strcspn(p, " \n");
		if ((size_t)(end - p) >= klen && memcmp(p, key, klen) == 0) {
			size_t vlen = (size_t)(end - p) - klen;
			if (vlen >= len)
				return -1;	/* never truncate silently */
			memcpy(buf, p + klen, vlen);
			buf[vlen] = '\0';
			return (int)vlen;
		}
		p = end;
	}
	return -1;
}

int cmdline_has(const char *flag)
{
	size_t flen = strlen(flag);

	for (const char *p = cmdline; *p;) {
		while (*p == ' ' || *p == '\n')
			p++;
		const char *end = p + strcspn(p, " \n");
		if ((size_t)(end - p) == flen && memcmp(p, flag, flen) == 0)
			return 1;
		p = end;
	}
	return 0;
}
