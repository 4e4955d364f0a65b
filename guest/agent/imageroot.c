/* imageroot.c: the user's OCI image as the guest's root filesystem
 * (sandbox.image, `voidbox exec --image`).
 *
 * The host converted the image once into an EROFS root (host/image/) and
 * attaches it read-only; vb.image=vdX names the disk. Before anything else
 * is set up, the agent (PID 1, still in the initramfs) builds
 *   /.vbimg/lower  the image, erofs, read-only, nosuid, nodev
 *   /.vbimg/rw     a tmpfs holding the overlay's upper and work dirs
 *   /.vbimg/root   overlay(lower, upper): the image, writable, in RAM
 * moves the pseudo filesystems and the workload's tmpfs trees (/proc,
 * /sys, /dev, /tmp, /workspace, /run: mounts.c) into it and makes it the
 * root (MS_MOVE onto "/", chroot: an initramfs cannot be pivot_root'ed).
 * The agent itself is a static program already in memory: it goes on
 * serving from the new root, and everything after this (tools disk,
 * shares, volumes, network, resolv.conf) lands in the image's tree.
 *
 * What the image gets from us, in the writable layer only: the static
 * bash and busybox of the initramfs under /.voidbox/bin (claude-code's
 * Bash tool needs a bash; /bin/bash is linked to ours when the image has
 * none), and a passwd/group entry for the workload user (uid 1000) when
 * the image has no such uid, so getpwuid() works for git, ssh and python.
 * The tools disk then adds claude-code (/usr/local/bin/claude and the
 * musl loader); the toolbox is NOT laid over the image's /usr: it stays
 * at /opt/voidbox/toolbox (glibc programs need their own loader and
 * libraries, which the image's /usr may not have).
 *
 * A failure here is fatal for the VM (the agent powers off with the
 * reason on the console): running the workload in the initramfs instead
 * of the image it asked for would be a silent lie.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define IMG_DIR	  "/.vbimg"
#define IMG_LOWER IMG_DIR "/lower"
#define IMG_RW	  IMG_DIR "/rw"
#define IMG_ROOT  IMG_DIR "/root"

/* The trees mounts.c made, moved into the new root in this order
 * (submounts such as /dev/pts move with their parent). */
static const char *const moved[] = { "/proc", "/sys", "/dev", "/tmp",
				     "/workspace", "/run" };

static int fail(const char *what, const char *path)
{
	int err = errno;
	agent_warn("image root: %s %s: %s", what, path, strerror(err));
	return -err;
}

/* A regular file of the initramfs bind-mounted read-only at dst. */
static int bind_file(const char *src, const char *dst)
{
	int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);

	if (fd < 0)
		return fail("create", dst);
	close(fd);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return fail("bind", dst);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
		  MS_NOSUID | MS_NODEV, NULL) < 0)
		return fail("remount read-only", dst);
	return 0;
}

/* Does the file at path (in the new root, as seen from the old one)
 * have a line whose third field is uid? */
static int has_id(const char *path, unsigned id)
{
	char line[512], want[16];
	FILE *f = fopen(path, "re");
	int found = 0;

	if (!f)
		return 0;
	snprintf(want, sizeof(want), "%u", id);
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');
		p = p ? strchr(p + 1, ':') : NULL;
		if (!p)
			continue;
		size_t n = strcspn(++p, ":\n");
		found = n == strlen(want) && !strncmp(p, want, n);
	}
	fclose(f);
	return found;
}

static void append_line(const char *path, const char *line)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, line, strlen(line)) < 0)
		agent_warn("image root: %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* What the workload needs from us inside the image (see the top). */
static void furnish(void)
{
	struct stat st;
	char p[AGENT_PATH_MAX];

	agent_make_dirs(IMG_ROOT "/.voidbox/bin", 1);
	bind_file("/bin/bash", IMG_ROOT "/.voidbox/bin/bash");
	bind_file("/bin/busybox", IMG_ROOT "/.voidbox/bin/busybox");
	/* stat follows links: a dangling /bin/bash is no bash either. */
	if (stat(IMG_ROOT "/bin/bash", &st) < 0) {
		unlink(IMG_ROOT "/bin/bash");
		agent_make_dirs(IMG_ROOT "/bin/bash", 0);
		if (symlink("/.voidbox/bin/bash", IMG_ROOT "/bin/bash") < 0)
			agent_warn("image root: /bin/bash: %s", strerror(errno));
	}
	if (!has_id(IMG_ROOT "/etc/passwd", AGENT_UID)) {
		snprintf(p, sizeof(p), "agent:x:%u:%u:voidbox workload:"
			 "/home/agent:/bin/sh\n", AGENT_UID, AGENT_GID);
		append_line(IMG_ROOT "/etc/passwd", p);
	}
	if (!has_id(IMG_ROOT "/etc/group", AGENT_GID)) {
		snprintf(p, sizeof(p), "agent:x:%u:\n", AGENT_GID);
		append_line(IMG_ROOT "/etc/group", p);
	}
}

int imageroot_setup(void)
{
	char name[16], dev[32], opts[3 * AGENT_PATH_MAX / 4];

	if (cmdline_get(AGENT_CMDLINE_IMAGE, name, sizeof(name)) <= 0)
		return 0;
	if (strncmp(name, "vd", 2) || strchr(name, '/') || !name[2]) {
		errno = EINVAL;
		return fail("bad device name", name);
	}
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	agent_make_dirs(IMG_LOWER, 1);
	agent_make_dirs(IMG_RW, 1);
	agent_make_dirs(IMG_ROOT, 1);
	if (mount(dev, IMG_LOWER, "erofs", MS_RDONLY | MS_NOSUID | MS_NODEV,
		  NULL) < 0)
		return fail("mount erofs", dev);
	/* The writable layer is RAM, capped like /tmp (mounts.c). */
	if (mount("tmpfs", IMG_RW, "tmpfs", MS_NOSUID | MS_NODEV,
		  "mode=0755,size=30%") < 0)
		return fail("mount tmpfs", IMG_RW);
	if (mkdir(IMG_RW "/upper", 0755) < 0 || mkdir(IMG_RW "/work", 0755) < 0)
		return fail("mkdir", IMG_RW "/upper");
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s/upper,"
		 "workdir=%s/work", IMG_LOWER, IMG_RW, IMG_RW);
	if (mount("overlay", IMG_ROOT, "overlay", MS_NOSUID | MS_NODEV,
		  opts) < 0)
		return fail("mount overlay", IMG_ROOT);
	furnish();
	for (size_t i = 0; i < ARRAY_SIZE(moved); i++) {
		char dst[AGENT_PATH_MAX];
		struct stat st;
		snprintf(dst, sizeof(dst), IMG_ROOT "%s", moved[i]);
		/* An image may have a file or a link there: the mount point
		 * must be a real directory of the writable layer. */
		if (lstat(dst, &st) == 0 && !S_ISDIR(st.st_mode))
			unlink(dst);
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return fail("mkdir", dst);
		if (mount(moved[i], dst, NULL, MS_MOVE, NULL) < 0)
			return fail("move", moved[i]);
	}
	if (chdir(IMG_ROOT) < 0)
		return fail("chdir", IMG_ROOT);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return fail("move onto /", IMG_ROOT);
	if (chroot(".") < 0 || chdir("/") < 0)
		return fail("chroot", IMG_ROOT);
	agent.image_root = 1;
	agent_log("image root: %s (overlay, writes in RAM)", dev);
	return 0;
}
