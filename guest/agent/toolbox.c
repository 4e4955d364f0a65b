/* toolbox.c: the guest's userland from the tools disk (tools/build-toolbox.sh).
 *
 * A tools disk may carry /toolbox/usr and /toolbox/etc: Debian 12's bash,
 * coreutils, git, python3, curl... unpacked with /bin, /lib merged under
 * /usr. The initramfs root stays the root (the agent, busybox, our passwd,
 * hosts and CA bundle); the toolbox joins it:
 *   - its usr/ is bind-mounted on /usr, read-only like the disk;
 *   - a tmpfs owned by the workload's user goes on /usr/local (claude's
 *     link, and what the workload installs there);
 *   - every entry of its etc/ the initramfs lacks becomes a symlink in /etc
 *     (config files, /etc/alternatives/...); the initramfs's own files win.
 * glibc's loader and libraries are reached through the initramfs symlinks
 * /lib64 and /lib/x86_64-linux-gnu (initramfs/contents.list).
 * Failures only warn: a guest without its toolbox still serves.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define TOOLBOX_ETC_DEPTH	8	/* Debian's /etc is 4 deep at most */

/* Link every entry of SRC (a directory in the image) the directory DST
 * lacks; recurse into directories both have. Returns entries linked. */
static int etc_merge(const char *src, const char *dst, int depth)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int n = 0;

	if (!d) {
		agent_warn("toolbox: %s: %s", src, strerror(errno));
		return 0;
	}
	while ((e = readdir(d))) {
		char s[AGENT_PATH_MAX], t[AGENT_PATH_MAX];
		struct stat st_s, st_t;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if ((size_t)snprintf(s, sizeof(s), "%s/%s", src, e->d_name) >= sizeof(s) ||
		    (size_t)snprintf(t, sizeof(t), "%s/%s", dst, e->d_name) >= sizeof(t))
			continue;
		if (lstat(t, &st_t) < 0) {
			if (symlink(s, t) == 0)
				n++;
			else
				agent_warn("toolbox: %s -> %s: %s", t, s, strerror(errno));
			continue;
		}
		/* Both have it: only directories on both sides merge further. */
		if (depth < TOOLBOX_ETC_DEPTH && S_ISDIR(st_t.st_mode) &&
		    lstat(s, &st_s) == 0 && S_ISDIR(st_s.st_mode))
			n += etc_merge(s, t, depth + 1);
	}
	closedir(d);
	return n;
}

int toolbox_setup(const char *tools_dir)
{
	char usr[AGENT_PATH_MAX], etc[AGENT_PATH_MAX];
	struct stat st;

	snprintf(usr, sizeof(usr), "%s/toolbox/usr", tools_dir);
	snprintf(etc, sizeof(etc), "%s/toolbox/etc", tools_dir);
	if (stat(usr, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;	/* a tools disk without a toolbox */
	if (agent.image_root) {
		/* The image's /usr is the workload's (imageroot.c). */
		agent_log("toolbox at %s/toolbox (the image keeps its /usr)",
			  tools_dir);
		return 0;
	}
	if (mount(usr, "/usr", NULL, MS_BIND | MS_REC, NULL) < 0) {
		agent_warn("toolbox: bind %s on /usr: %s", usr, strerror(errno));
		return -errno;
	}
	/* A bind takes no flags of its own: remount it nosuid, nodev, ro. */
	if (mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
		  MS_NOSUID | MS_NODEV, NULL) < 0)
		agent_warn("toolbox: remount /usr read-only: %s", strerror(errno));
	/* The workload's user owns it: the VM is its machine, and installing
	 * into /usr/local (make install, pip without --user) is what agents do. */
	char opts[64];
	snprintf(opts, sizeof(opts), "mode=0755,uid=%u,gid=%u", AGENT_UID, AGENT_GID);
	if (mount("tmpfs", "/usr/local", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		agent_warn("toolbox: tmpfs on /usr/local: %s", strerror(errno));
	} else {
		static const char *const dirs[] = { "bin", "lib", "share", "include", "src" };
		for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
			char d[32];
			snprintf(d, sizeof(d), "/usr/local/%s", dirs[i]);
			if (mkdir(d, 0755) == 0 && chown(d, AGENT_UID, AGENT_GID) < 0)
				agent_warn("toolbox: chown %s: %s", d, strerror(errno));
		}
	}
	int n = stat(etc, &st) == 0 && S_ISDIR(st.st_mode)
		? etc_merge(etc, "/etc", 0) : 0;
	agent_log("toolbox on /usr (%d /etc entries linked)", n);
	return 0;
}
