/* shares.c: the host directories shared into this VM (virtio-fs), and
 * the volumes (persistent disks) attached to it.
 *
 * vb.mounts=MODE:PATH[,MODE:PATH...] names them in device order: the i-th
 * is tagged "vbfs<i>". Each is mounted nosuid and nodev (the host refuses
 * device nodes and setuid bits too: two locks), read-only when MODE is
 * ro (the host enforces that on its side as well). A mount the host asked
 * for and we cannot provide makes the VM useless to it: shares_setup
 * fails and the agent powers off, with the reason on the console.
 *
 * vb.volumes=vdX:PATH[,...] names volume disks: one with no ext2/3/4
 * superblock is formatted (busybox mke2fs, ext2) and its root given to
 * the agent user; then it is mounted (ext4 driver) nosuid, nodev at PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define SHARES_MAX 8
#define MOUNTS_ARG_MAX (SHARES_MAX * (AGENT_PATH_MAX / 4))

/* The host checked the path (host/vmm/vmcfg.c); check again, cheaply:
 * absolute, no "..", only the characters the command line carries. */
static int path_ok(const char *p)
{
	if (p[0] != '/' || strstr(p, "/../") || !strcmp(p, "/") ||
	    (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
		return 0;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-+@/", *p)))
			return 0;
	return 1;
}

static int share_mount(unsigned i, const char *mode, const char *path)
{
	char tag[16];
	unsigned long flags = MS_NOSUID | MS_NODEV;

	if (!strcmp(mode, "ro"))
		flags |= MS_RDONLY;
	else if (strcmp(mode, "rw"))
		return -EINVAL;
	if (!path_ok(path))
		return -EINVAL;
	snprintf(tag, sizeof(tag), AGENT_SHARE_TAG "%u", i);
	agent_make_dirs(path, 1);
	if (mount(tag, path, "virtiofs", flags, NULL) < 0)
		return -errno;
	agent_log("shared directory %s on %s (%s)", tag, path, mode);
	return 0;
}

/* Does dev hold an ext2/3/4 file system (magic 0xEF53 at 1080)? */
static int has_ext(const char *dev)
{
	uint8_t m[2];
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, m, 2, 1080);
	close(fd);
	return n == 2 && m[0] == 0x53 && m[1] == 0xef;
}

static int format(const char *dev)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl("/bin/mke2fs", "mke2fs", "-F", "-L", "voidbox-vol", dev,
		      (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int volume_mount(const char *dev_name, const char *path)
{
	char dev[32];

	if (strncmp(dev_name, "vd", 2) || strlen(dev_name) != 3 ||
	    dev_name[2] < 'a' || dev_name[2] > 'z' || !path_ok(path))
		return -EINVAL;
	snprintf(dev, sizeof(dev), "/dev/%s", dev_name);
	int ext = has_ext(dev), err;
	if (ext < 0)
		return ext;
	if (!ext) {
		if ((err = format(dev)) < 0)
			return err;
		agent_log("volume %s: formatted (ext2)", dev);
	}
	agent_make_dirs(path, 1);
	if (mount(dev, path, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0)
		return -errno;
	if (!ext && chown(path, AGENT_UID, AGENT_GID) < 0)
		agent_warn("volume %s: chown: %s", path, strerror(errno));
	agent_log("volume %s on %s", dev, path);
	return 0;
}

static int volumes_setup(void)
{
	char arg[MOUNTS_ARG_MAX];

	if (cmdline_get(AGENT_CMDLINE_VOLUMES, arg, sizeof(arg)) <= 0)
		return 0;
	for (char *save = NULL, *tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		int err = -EINVAL;
		if (colon) {
			*colon = '\0';
			err = volume_mount(tok, colon + 1);
		}
		if (err < 0) {
			agent_warn("volume %s (%s): %s", tok,
				   colon ? colon + 1 : "?", strerror(-err));
			return err;
		}
	}
	return 0;
}

int shares_setup(void)
{
	char arg[MOUNTS_ARG_MAX];
	unsigned i = 0;

	int verr = volumes_setup();
	if (verr < 0)
		return verr;
	if (cmdline_get(AGENT_CMDLINE_MOUNTS, arg, sizeof(arg)) <= 0)
		return 0;
	for (char *save = NULL, *tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		char *colon = strchr(tok, ':');
		int err = -EINVAL;
		if (colon && i < SHARES_MAX) {
			*colon = '\0';
			err = share_mount(i, tok, colon + 1);
		}
		if (err < 0) {
			agent_warn("shared directory %u (%s): %s", i,
				   colon ? colon + 1 : tok, strerror(-err));
			return err;
		}
	}
	return 0;
}
