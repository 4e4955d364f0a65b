/* tools.c: the read-only tools disk (tools/build-tools-disk.sh).
 *
 * The disk is an EROFS image holding claude/claude, the musl loader it
 * needs and a VERSION file whose first line starts "voidbox-tools ". It is
 * mounted read-only at /opt/voidbox; the loader and the command are then
 * linked into the (writable) initramfs root:
 *   /lib/ld-musl-x86_64.so.1 -> /opt/voidbox/lib/ld-musl-x86_64.so.1
 *   /usr/local/bin/claude    -> /opt/voidbox/claude/claude
 *
 * Which disk: vb.tools=vdX names it; vb.tools=none turns this off. With no
 * vb.tools the agent looks for it: each /dev/vd[a-d] carrying an EROFS
 * superblock (magic at byte 1024) is mounted and kept only if its VERSION
 * says it is a tools disk, so a workload's own EROFS data disk is left
 * alone. Every failure only warns: the agent must keep serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define TOOLS_CMDLINE	AGENT_CMDLINE_TOOLS
#define TOOLS_DIR	"/opt/voidbox"
#define TOOLS_MARK	"voidbox-tools "
#define EROFS_MAGIC	0xE0F5E1E2u
#define EROFS_SB_OFF	1024

static const char *const tools_links[][2] = {
	{ "/lib/ld-musl-x86_64.so.1", TOOLS_DIR "/lib/ld-musl-x86_64.so.1" },
	{ "/usr/local/bin/claude", TOOLS_DIR "/claude/claude" },
};

void agent_make_dirs(const char *path, int dir)
{
	char p[AGENT_PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	if (dir)
		mkdir(p, 0755);
}

static int is_erofs(const char *dev)
{
	uint8_t b[4];
	int fd = open(dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, b, sizeof(b), EROFS_SB_OFF);
	close(fd);
	fd = -1;
	return n == (ssize_t)sizeof(b) &&
	       ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		(uint32_t)b[3] << 24) == EROFS_MAGIC;
}

static int has_mark(void)
{
	char buf[sizeof(TOOLS_MARK)];
	int fd = open(TOOLS_DIR "/VERSION", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	fd = -1;
	return n == (ssize_t)sizeof(buf) - 1 &&
	       !memcmp(buf, TOOLS_MARK, sizeof(buf) - 1);
}

/* Mount dev and keep it only if it is a tools disk. 0 or -errno. */
static int tools_mount(const char *dev)
{
	if (mount(dev, TOOLS_DIR, "erofs", MS_RDONLY | MS_NOSUID | MS_NODEV,
		  NULL) < 0) {
		int err = errno;
		agent_warn("tools disk %s: mount: %s", dev, strerror(err));
		return -err;
	}
	if (has_mark())
		return 0;
	agent_warn("%s: EROFS but no " TOOLS_DIR "/VERSION \"%s...\"; "
		   "not a tools disk, unmounted", dev, TOOLS_MARK);
	umount2(TOOLS_DIR, MNT_DETACH);
	return -ENOENT;
}

int tools_setup(void)
{
	char name[16], dev[32];
	int err = -ENOENT;
	int named = cmdline_get(TOOLS_CMDLINE, name, sizeof(name)) > 0;

	if (named && !strcmp(name, "none"))
		return 0;
	if (named && (strchr(name, '/') || name[0] == '.')) {
		agent_warn(TOOLS_CMDLINE "%s: not a device name", name);
		return -EINVAL;
	}
	agent_make_dirs(TOOLS_DIR, 1);
	if (named) {
		snprintf(dev, sizeof(dev), "/dev/%s", name);
		err = tools_mount(dev);
	} else {
		for (char c = 'a'; c <= 'd' && err < 0; c++) {
			snprintf(dev, sizeof(dev), "/dev/vd%c", c);
			if (is_erofs(dev))
				err = tools_mount(dev);
		}
		if (err == -ENOENT)
			return 0;	/* no tools disk: nothing to say */
	}
	if (err < 0)
		return err;
	toolbox_setup(TOOLS_DIR);	/* before the links: /usr/local moves */
	for (size_t i = 0; i < ARRAY_SIZE(tools_links); i++) {
		const char *link = tools_links[i][0], *target = tools_links[i][1];
		agent_make_dirs(link, 0);
		if (symlink(target, link) < 0)
			agent_warn("tools disk: %s -> %s: %s", link, target,
				   strerror(errno));
	}
	agent_log("tools disk %s on " TOOLS_DIR, dev);
	return 0;
}
