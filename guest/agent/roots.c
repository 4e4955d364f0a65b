/* roots.c: the directories file requests may touch, and safe lookup.
 *
 * Host paths must be absolute and lie under /workspace, /tmp or
 * /home/agent. The workload owns those trees and can plant symlinks in
 * them, while the agent runs as root, so a plain open() of a host path
 * could be steered anywhere ("/workspace/x -> /etc"). Instead the root
 * directory is opened and the rest is resolved by openat2(2) with
 * RESOLVE_IN_ROOT: ".." stops at the root and absolute symlinks are
 * taken relative to it, atomically in the kernel, so no check-then-use
 * race exists. RESOLVE_NO_MAGICLINKS refuses /proc-style links. ".." is
 * also refused outright in host paths: it is never needed, and an error
 * says more than a silently re-rooted path.
 *
 * In test mode the roots live under a test directory (DIR/workspace,
 * DIR/tmp, DIR/home/agent); host paths keep their guest spelling and are
 * mapped here, so the protocol code is the same in both modes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"

static const char *const root_names[] = { "/workspace", "/tmp", "/home/agent" };
static char root_paths[ARRAY_SIZE(root_names)][AGENT_PATH_MAX];
static int mapped;

/* mkdir -p for the roots themselves (trusted paths, setup time only). */
static int mkdir_p(char *path, mode_t mode)
{
	for (char *s = path + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		int r = mkdir(path, mode);
		int err = errno;
		*s = saved;
		if (r < 0 && err != EEXIST)
			return -err;
		if (!saved)
			return 0;
	}
}

int roots_init(const char *base)
{
	mapped = base != NULL;
	for (size_t i = 0; i < ARRAY_SIZE(root_names); i++) {
		char *p = root_paths[i];
		int tmp = !strcmp(root_names[i], "/tmp");
		int n = snprintf(p, AGENT_PATH_MAX, "%s%s", base ? base : "",
				 root_names[i]);

		if (n < 0 || n >= (int)AGENT_PATH_MAX)
			return -ENAMETOOLONG;
		int err = mkdir_p(p, 0755);
		if (err < 0) {
			agent_warn("mkdir %s: %s", p, strerror(-err));
			return err;
		}
		/* /tmp is the usual sticky shared directory; the others
		 * belong to the workload user. */
		if (tmp)
			err = chmod(p, 01777);
		else if (agent.is_root)
			err = chown(p, AGENT_UID, AGENT_GID);
		if (err < 0)
			agent_warn("setting up %s: %s", p, strerror(errno));
	}
	return 0;
}

static int root_index(const char *path, size_t *len)
{
	for (size_t i = 0; i < ARRAY_SIZE(root_names); i++) {
		size_t n = strlen(root_names[i]);
		if (!strncmp(path, root_names[i], n) &&
		    (path[n] == '\0' || path[n] == '/')) {
			*len = n;
			return (int)i;
		}
	}
	return -1;
}

const char *roots_map(const char *path, char *buf, size_t len)
{
	size_t n;
	int i;

	if (!mapped || (i = root_index(path, &n)) < 0)
		return path;
	int r = snprintf(buf, len, "%s%s", root_paths[i], path + n);
	return r < 0 || (size_t)r >= len ? path : buf;
}

static int has_dotdot(const char *p)
{
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

int roots_open(const char *path, const char **rel)
{
	size_t n;

	if (path[0] != '/')
		return -EINVAL;
	int i = root_index(path, &n);
	if (i < 0 || has_dotdot(path))
		return -EACCES;
	const char *r = path + n;
	while (*r == '/')
		r++;
	int fd = open(root_paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*rel = *r ? r : ".";
	return fd;
}

int roots_openat(int rootfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}
