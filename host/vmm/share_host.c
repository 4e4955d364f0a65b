/* share_host.c: the VMM side of shared directories — one virtio-fs device
 * per mount, served by host/fs/ on the I/O thread — and the Landlock
 * domain that confines the VMM's file access to those directories.
 *
 * Why Landlock: serving a directory needs openat and friends, which
 * seccomp cannot restrict by path. So a VM with mounts gets them on its
 * seccomp list (sandbox.c, with the reason per call) and, before that,
 * a Landlock domain allowing file access only beneath its mount roots
 * (read-only ones read-only). A VMM taken over through a device bug can
 * then reach what its guest could reach anyway, and no more. Without
 * Landlock in the kernel the VM still runs (the server itself resolves
 * everything beneath the root), and says so on its log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "vmm.h"
#include "../devices/devices.h"
#include "../fs/fs.h"
#include "../util/util.h"

/* Landlock ABI 1 rights (Linux 5.13): all we ask for, so any kernel with
 * Landlock enforces them. */
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_ALL (LL_READ | LANDLOCK_ACCESS_FS_EXECUTE |                      \
		LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
		LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
		LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |   \
		LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |   \
		LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | \
		LANDLOCK_ACCESS_FS_MAKE_SYM)
#define LL_RW (LL_ALL & ~(LANDLOCK_ACCESS_FS_EXECUTE |                      \
			  LANDLOCK_ACCESS_FS_MAKE_CHAR |                     \
			  LANDLOCK_ACCESS_FS_MAKE_BLOCK |                    \
			  LANDLOCK_ACCESS_FS_MAKE_SOCK |                     \
			  LANDLOCK_ACCESS_FS_MAKE_FIFO))

static struct vm *rekick_vm;	/* one VM per process (STYLE R1) */

static void share_rekick(void *ctx, unsigned q)
{
	struct virtio_dev **slot = ctx;
	vbus_rekick(rekick_vm, *slot, q);
}

static size_t share_request(void *ctx, const struct iovec *out, unsigned nout,
			    const struct iovec *in, unsigned nin)
{
	return fsrv_request(ctx, out, nout, in, nin);
}

static void share_close(void *ctx)
{
	fsrv_free(ctx);
}

static const struct virtiofs_backend_ops share_ops = {
	.request = share_request,
	.close = share_close,
};

/* A Landlock ruleset allowing the mount roots only, or -1 (with a log
 * line) when the kernel has no Landlock. */
static int ruleset(const struct vm_cfg *c)
{
	struct landlock_ruleset_attr attr = { .handled_access_fs = LL_ALL };
	/* ABI 2 (Linux 5.19) adds REFER: without it handled, a domain
	 * forbids every rename or link across directories (EXDEV). */
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);
	uint64_t refer = abi >= 2 ? LANDLOCK_ACCESS_FS_REFER : 0;
	attr.handled_access_fs |= refer;
	long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);

	if (fd < 0) {
		log_warnx("Landlock unavailable (%s): this VMM's file access "
			  "is confined by its own checks only",
			  strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < c->nmounts; i++) {
		struct landlock_path_beneath_attr pb = {
			.allowed_access = c->mount[i].ro ? LL_READ
							 : LL_RW | refer,
			.parent_fd = c->mount[i].fd,
		};
		if (syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH,
			    &pb, 0) < 0) {
			log_warn("landlock_add_rule (mount %u)", i);
			close((int)fd);
			return -1;
		}
	}
	return (int)fd;
}

/* Each node and open file holds a descriptor: take every one the hard
 * limit allows, and split them between the mounts. */
static unsigned fd_budget(unsigned nmounts)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	/* Root (before the capabilities go) may raise the hard limit too. */
	if (rl.rlim_max < (1u << 20)) {
		struct rlimit up = { 1u << 20, 1u << 20 };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			rl = up;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t have = rl.rlim_cur > 1024 + 256 ? rl.rlim_cur - 256 : 1024;
	rlim_t per = have / (nmounts ? nmounts : 1);
	return per > FSRV_MAX_INODES + FSRV_MAX_HANDLES
		? FSRV_MAX_INODES + FSRV_MAX_HANDLES : (unsigned)per;
}

int share_host_init(struct vm *vm, char *err, size_t errlen)
{
	const struct vm_cfg *c = vm->cfg->vc;

	rekick_vm = vm;
	vm->landlock_fd = -1;
	if (!c->nmounts)
		return 0;
	vm->landlock_fd = ruleset(c);
	unsigned budget = fd_budget(c->nmounts);
	for (unsigned i = 0; i < c->nmounts; i++) {
		struct fsrv_opts o = {
			.ro = c->mount[i].ro,
			.guest_uid = AGENT_USER_UID, .guest_gid = AGENT_USER_GID,
			.max_handles = budget / 16 > FSRV_MAX_HANDLES
				? FSRV_MAX_HANDLES : budget / 16,
		};
		o.max_inodes = budget - o.max_handles;
		char why[160], tag[16];
		/* The fd goes to the server whatever happens. */
		int fd = c->mount[i].fd;
		vm->share_fd_taken[i] = true;
		struct fsrv *s = fsrv_new(fd, &o, why, sizeof(why));
		if (!s) {
			snprintf(err, errlen, "mount %s: %s", c->mount[i].guest,
				 why);
			return -1;
		}
		snprintf(tag, sizeof(tag), AGENT_SHARE_TAG "%u", i);
		vm->shares[i] = virtiofs_new(vm->gmem, tag, &share_ops, s,
					     share_rekick, vm->shares + i);
		if (!vm->shares[i]) {
			fsrv_free(s);
			snprintf(err, errlen, "virtio-fs setup failed");
			return -1;
		}
		int r = vbus_add(vm, vm->shares[i], virtiofs_kick,
				 vm->shares[i]);
		if (r < 0) {
			snprintf(err, errlen, "virtio-fs: %s", strerror(-r));
			return -1;
		}
	}
	return 0;
}

void share_host_fini(struct vm *vm)
{
	const struct vm_cfg *c = vm->cfg->vc;

	for (unsigned i = 0; i < VM_MAX_MOUNTS; i++) {
		if (vm->shares[i])
			virtiofs_free(vm->shares[i]);
		else if (!vm->share_fd_taken[i] && i < c->nmounts &&
			 c->mount[i].fd > 0)
			close(c->mount[i].fd);
		vm->shares[i] = NULL;
	}
	if (vm->landlock_fd >= 0)
		close(vm->landlock_fd);
	vm->landlock_fd = -1;
}
