/* volume.c: named volumes — file-backed disks that outlive their VMs,
 * kept under the user's data directory ($VOIDBOX_DATA_DIR, else
 * $XDG_DATA_HOME/voidbox, else ~/.local/share/voidbox) as
 * volumes/NAME.img. box_spawn creates and locks them (one writer); the
 * guest agent formats a blank one and mounts it. Here: where they live,
 * what they are called, listing and removal (`voidbox volume`).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "box.h"
#include "../util/util.h"

int volume_dir(char *out, size_t len)
{
	return data_dir("volumes", out, len);
}

int volume_path(const char *name, char *out, size_t len)
{
	char dir[4096];
	int r;

	if (!vm_cfg_volume_name_ok(name))
		return -EINVAL;
	if ((r = volume_dir(dir, sizeof(dir))) < 0)
		return r;
	int n = snprintf(out, len, "%s/%s.img", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Is the volume file held by a VM? (Its VMM holds an exclusive flock.) */
static int in_use(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	int busy = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

int volume_list(FILE *out, bool json)
{
	char dir[4096], p[4200];
	struct dirent *e;
	struct stat st;
	unsigned n = 0;

	if (volume_dir(dir, sizeof(dir)) < 0)
		return -ENOENT;
	DIR *d = opendir(dir);
	if (json)
		fprintf(out, "[");
	else
		fprintf(out, "%-32s %10s %10s  %s\n", "NAME", "SIZE_MB",
			"USED_MB", "STATE");
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".img"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		e->d_name[l - 4] = '\0';
		int busy = in_use(p);
		const char *state = busy > 0 ? "in-use" : "idle";
		unsigned long long mb = (unsigned long long)st.st_size >> 20;
		unsigned long long used = (unsigned long long)st.st_blocks * 512 >> 20;
		if (json)
			fprintf(out, "%s{\"name\":\"%s\",\"size_mb\":%llu,"
				"\"used_mb\":%llu,\"in_use\":%s}", n ? "," : "",
				e->d_name, mb, used, busy > 0 ? "true" : "false");
		else
			fprintf(out, "%-32s %10llu %10llu  %s\n", e->d_name, mb,
				used, state);
		n++;
	}
	if (json)
		fprintf(out, "]\n");
	if (d)
		closedir(d);
	return (int)n;
}

int volume_rm(const char *name, char *err, size_t errlen)
{
	char p[4200];
	int r = volume_path(name, p, sizeof(p));

	if (r < 0) {
		snprintf(err, errlen, "%s: %s", name, r == -EINVAL
			 ? "not a volume name (letters, digits, . _ -; 1-64)"
			 : strerror(-r));
		return -1;
	}
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "%s: no such volume", name);
		return -1;
	}
	/* Held while we unlink: no VM can take it between check and rm. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: in use by a VM", name);
		close(fd);
		return -1;
	}
	r = unlink(p);
	int e = errno;
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(e));
		return -1;
	}
	return 0;
}
