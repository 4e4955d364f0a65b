/* mounts.c: the pseudo filesystems every workload expects.
 *
 * The initramfs is the root; the kernel's DEVTMPFS_MOUNT does not apply to
 * an initramfs root, so /dev is mounted here too. /proc, /sys and /dev are
 * essential (nothing works without them); the rest only warn.
 */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "agent.h"

struct mnt {
	const char *src, *dst, *type;
	unsigned long flags;
	const char *data;
	int essential;
};

static const struct mnt mnts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 1 },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 1 },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 1 },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "mode=0620,ptmxmode=0666", 0 },
	/* Everything writable lives in RAM, so every writable place has a
	 * size cap: together they stay well under guest RAM, and a workload
	 * filling them gets ENOSPC instead of driving the guest into an OOM
	 * with nothing left to kill (PID 1 cannot be, tmpfs pages cannot be
	 * freed) and a panic. /workspace had no cap at all on the rootfs. */
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
	  "mode=1777,size=10%", 0 },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=30%",
	  0 },
	{ "tmpfs", "/workspace", "tmpfs", MS_NOSUID | MS_NODEV,
	  "mode=0755,size=30%", 0 },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=5%",
	  0 },
};

int mounts_setup(void)
{
	for (size_t i = 0; i < sizeof(mnts) / sizeof(mnts[0]); i++) {
		const struct mnt *m = &mnts[i];

		if (mkdir(m->dst, 0755) < 0 && errno != EEXIST)
			agent_warn("mkdir %s: %s", m->dst, strerror(errno));
		if (mount(m->src, m->dst, m->type, m->flags, m->data) == 0)
			continue;
		if (errno == EBUSY)	/* mounted already (by the kernel) */
			continue;
		int err = errno;
		agent_warn("mount %s on %s: %s", m->type, m->dst,
			   strerror(err));
		if (m->essential)
			return -err;
	}
	return 0;
}
