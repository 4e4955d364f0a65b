/* cmdline.c: parameters the VMM passes on the kernel command line.
 *
 * The command line carries the per-VM secret, and /proc/cmdline is
 * readable by every process. cmdline_scrub hides it from the workload by
 * bind-mounting a copy without the secret over /proc/cmdline (the
 * workload has no CAP_SYS_ADMIN to undo that). The kernel also logs the
 * command line at boot, so main.c restricts dmesg to root.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
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

int cmdline_scrub(const char *key, const char *copy)
{
	char out[sizeof(cmdline)];
	size_t klen = strlen(key), n = 0;

	for (char *p = cmdline; *p;) {
		size_t sp = strspn(p, " \n");
		p += sp;
		size_t len = strcspn(p, " \n");
		if (len >= klen && memcmp(p, key, klen) == 0) {
			memset(p, 'x', len);	/* not in our memory either */
		} else if (len) {
			memcpy(out + n, p, len);
			n += len;
			out[n++] = ' ';
		}
		p += len;
	}
	if (n)
		out[n - 1] = '\n';
	int fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, out, n);
	int err = w == (ssize_t)n ? 0 : -EIO;
	close(fd);
	fd = -1;
	if (!err && mount(copy, "/proc/cmdline", NULL, MS_BIND, NULL) < 0)
		err = -errno;
	return err;
}
