/* args.c: option value parsing shared by the commands. Every error names
 * the option and the bad value. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

int args_uint(const char *opt, const char *val, unsigned long long min,
	      unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(val ? val : "", &end, 10);
	if (!val || !*val || *end || errno || val[0] == '-' || v < min ||
	    v > max) {
		log_warnx("%s: expected a number in %llu..%llu, got '%s'", opt,
			  min, max, val ? val : "");
		return -1;
	}
	*out = v;
	return 0;
}

/* Files given on the command line (kernel, initramfs) are read whole:
 * they are copied into guest memory anyway. Capped at 1 GiB. */
int args_read_file(const char *opt, const char *path, uint8_t **data,
		   size_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_warn("%s: cannot open '%s'", opt, path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (1ll << 30)) {
		log_warnx("%s: '%s' is not a regular file under 1 GiB", opt,
			  path);
		close(fd);
		return -1;
	}
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			log_warn("%s: reading '%s'", opt, path);
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	if (!buf) {
		log_warnx("%s: out of memory reading '%s'", opt, path);
		return -1;
	}
	*data = buf;
	*size = got;
	return 0;
}

int args_disk(const char *val, const char **path, bool *ro)
{
	static char buf[8][4096];
	static unsigned next;
	size_t n = strlen(val);

	if (!n || n >= sizeof(buf[0])) {
		log_warnx("--disk: expected PATH[:ro|:rw], got '%s'", val);
		return -1;
	}
	char *b = buf[next++ % 8];
	memcpy(b, val, n + 1);
	*ro = false;
	if (n > 3 && !strcmp(b + n - 3, ":ro")) {
		*ro = true;
		b[n - 3] = '\0';
	} else if (n > 3 && !strcmp(b + n - 3, ":rw")) {
		b[n - 3] = '\0';
	}
	*path = b;
	return 0;
}
