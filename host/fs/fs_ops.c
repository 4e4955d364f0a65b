/* fs_ops.c: the FUSE operations on names and attributes of the
 * shared-directory server (lookup, getattr/setattr, symlink, mkdir, unlink,
 * rename, link...), the helpers fs_io.c shares, and the opcode table.
 * Each one stays beneath the mount root (fs.h says how and why).
 *
 * Names come from the guest: one component, 1..255 bytes, no '/', not
 * "." or "..", NUL-terminated inside the request. Every open of a name is
 * openat2(parent O_PATH fd, name, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) with O_NOFOLLOW (not RESOLVE_NO_XDEV: a mount
 * point inside the shared tree is the user's own); the other *at calls
 * never follow a final symlink. An object is re-opened for I/O only
 * through /proc/self/fd/N of the O_PATH descriptor we hold for it, and
 * only when it is a regular file or a directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/fuse.h>
#include <linux/openat2.h>

#include "fs.h"

/* renameat2 flags (linux/fs.h; musl's stdio.h has them only with
 * _GNU_SOURCE before any include, which the unit build sets itself) */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE	 (1 << 1)
#endif

#define ENTRY_TTL 1	/* seconds the guest may cache names and attrs */
#define MODE_OK (S_IRWXU | S_IRWXG | S_IRWXO | S_ISVTX)	/* no suid/sgid */

/* ---- helpers --------------------------------------------------------- */

/* The NUL-terminated name at args+off (at most len bytes), validated. */
const char *fs_take_name(const struct fs_req *r, size_t off, size_t *used)
{
	if (off >= r->arglen)
		return NULL;
	const char *name = (const char *)r->arg + off;
	size_t n = strnlen(name, r->arglen - off);
	if (n == r->arglen - off || n == 0 || n > NAME_MAX ||
	    memchr(name, '/', n) || !strcmp(name, ".") || !strcmp(name, ".."))
		return NULL;
	if (used)
		*used = n + 1;
	return name;
}

int fs_beneath_open(int dirfd, const char *name, uint64_t flags,
			mode_t mode)
{
	struct open_how how = {
		.flags = flags | O_NOFOLLOW | O_CLOEXEC,
		.mode = (flags & O_CREAT) ? (mode & MODE_OK) : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* Re-open the object behind one of our descriptors with new flags. */
int fs_reopen(const struct fsrv *s, int fd, int flags)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", fd);
	int r = openat(s->proc_fd, num, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

int fs_stat_fd(int fd, struct stat *st)
{
	return fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0
		? -errno : 0;
}

struct fs_node *fs_req_node(struct fs_req *r, uint64_t id)
{
	return fs_node_get(&r->s->nodes, id);
}

/* The reply to every call that makes a name known: a node id with one
 * more reference, and its attributes. Takes fd (O_PATH). */
int fs_entry_reply(struct fs_req *r, int fd)
{
	struct fuse_entry_out *e;
	struct stat st;
	uint64_t id;
	int err = fs_stat_fd(fd, &st);

	if (err < 0) {
		close(fd);
		return err;
	}
	if ((err = fs_node_ref(&r->s->nodes, fd, &st, &id)) < 0) {
		r->s->st.inode_full++;
		return err;
	}
	if (!(e = fsrv_reply_buf(r, sizeof(*e))))
		return -EIO;
	memset(e, 0, sizeof(*e));
	e->nodeid = id;
	e->generation = 0;
	e->entry_valid = e->attr_valid = ENTRY_TTL;
	fsrv_fill_attr(r->s, &st, &e->attr);
	return 0;
}

static int lookup_name(struct fs_req *r, int dirfd, const char *name)
{
	int fd = fs_beneath_open(dirfd, name, O_PATH, 0);

	return fd < 0 ? fd : fs_entry_reply(r, fd);
}

static int attr_reply(struct fs_req *r, int fd)
{
	struct fuse_attr_out *a;
	struct stat st;
	int err = fs_stat_fd(fd, &st);

	if (err < 0)
		return err;
	if (!(a = fsrv_reply_buf(r, sizeof(*a))))
		return -EIO;
	memset(a, 0, sizeof(*a));
	a->attr_valid = ENTRY_TTL;
	fsrv_fill_attr(r->s, &st, &a->attr);
	return 0;
}

/* ---- names ------------------------------------------------------------ */

static int op_lookup(struct fs_req *r)
{
	DIR_NODE(dir, r->nodeid);
	const char *name = fs_take_name(r, 0, NULL);
	return name ? lookup_name(r, dir->fd, name) : -ENOENT;
}

static int op_forget(struct fs_req *r)
{
	ARGS(fuse_forget_in, in);
	fs_node_forget(&r->s->nodes, r->nodeid, in.nlookup);
	return 0;
}

static int op_batch_forget(struct fs_req *r)
{
	ARGS(fuse_batch_forget_in, in);
	size_t have = (r->arglen - sizeof(in)) / sizeof(struct fuse_forget_one);
	for (size_t i = 0; i < in.count && i < have; i++) {
		struct fuse_forget_one one;
		memcpy(&one, r->arg + sizeof(in) + i * sizeof(one),
		       sizeof(one));
		fs_node_forget(&r->s->nodes, one.nodeid, one.nlookup);
	}
	return 0;
}

static int op_getattr(struct fs_req *r)
{
	struct fs_node *n = fs_req_node(r, r->nodeid);

	return n ? attr_reply(r, n->fd) : -ESTALE;
}

static int set_times(const struct fsrv *s, struct fs_node *n,
		     const struct fuse_setattr_in *in)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	char num[16];

	if (in->valid & FATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (in->valid & FATTR_ATIME)
		ts[0] = (struct timespec){ (time_t)in->atime, in->atimensec };
	if (in->valid & FATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (in->valid & FATTR_MTIME)
		ts[1] = (struct timespec){ (time_t)in->mtime, in->mtimensec };
	if (n->type == S_IFLNK)
		return -EOPNOTSUPP;
	snprintf(num, sizeof(num), "%d", n->fd);
	return utimensat(s->proc_fd, num, ts, 0) < 0 ? -errno : 0;
}

static int op_setattr(struct fs_req *r)
{
	ARGS(fuse_setattr_in, in);
	struct fs_node *n = fs_req_node(r, r->nodeid);
	struct fsrv *s = r->s;
	int err = 0;

	if (!n)
		return -ESTALE;
	WRITABLE();
	/* Ownership stays with the user running voidbox: a change to
	 * anything but what the guest already sees is refused. */
	if (in.valid & (FATTR_UID | FATTR_GID)) {
		struct stat st;
		if ((err = fs_stat_fd(n->fd, &st)) < 0)
			return err;
		struct fuse_attr now;
		fsrv_fill_attr(s, &st, &now);
		if (((in.valid & FATTR_UID) && in.uid != now.uid) ||
		    ((in.valid & FATTR_GID) && in.gid != now.gid))
			return -EPERM;
	}
	if (in.valid & FATTR_MODE) {
		char num[16];
		if (n->type == S_IFLNK)
			return -EOPNOTSUPP;
		snprintf(num, sizeof(num), "%d", n->fd);
		if (fchmodat(s->proc_fd, num, in.mode & MODE_OK, 0) < 0)
			return -errno;
	}
	if (in.valid & FATTR_SIZE) {
		int fd = (in.valid & FATTR_FH)
			? fs_handle_fd(&s->handles, in.fh) : -1;
		int own = -1;
		if (n->type != S_IFREG)
			return -EINVAL;
		if (fd < 0 && (fd = own = fs_reopen(s, n->fd, O_WRONLY)) < 0)
			return fd;
		if (ftruncate(fd, (off_t)in.size) < 0)
			err = -errno;
		if (own >= 0)
			close(own);
		if (err)
			return err;
	}
	if (in.valid & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW |
			FATTR_MTIME_NOW))
		if ((err = set_times(s, n, &in)) < 0)
			return err;
	return attr_reply(r, n->fd);
}

static int op_readlink(struct fs_req *r)
{
	struct fs_node *n = fs_req_node(r, r->nodeid);
	char *buf;

	if (!n)
		return -ESTALE;
	if (n->type != S_IFLNK)
		return -EINVAL;
	if (!(buf = fsrv_reply_buf(r, PATH_MAX)))
		return -EIO;
	ssize_t len = readlinkat(n->fd, "", buf, PATH_MAX);
	if (len < 0)
		return -errno;
	r->reply_len = (size_t)len;
	return 0;
}

static int op_symlink(struct fs_req *r)
{
	size_t used;
	DIR_NODE(dir, r->nodeid);
	WRITABLE();
	/* FUSE sends the new name, then the target. */
	const char *name = fs_take_name(r, 0, &used);
	if (!name)
		return -EINVAL;
	const char *target = (const char *)r->arg + used;
	size_t left = r->arglen - used;
	size_t tl = strnlen(target, left);
	if (tl == left || tl == 0 || tl >= PATH_MAX)
		return -EINVAL;
	/* The target is only ever read back by the guest: the host never
	 * follows it (RESOLVE_NO_SYMLINKS, O_NOFOLLOW everywhere). */
	if (symlinkat(target, dir->fd, name) < 0)
		return -errno;
	return lookup_name(r, dir->fd, name);
}

static int op_mknod(struct fs_req *r)
{
	ARGS(fuse_mknod_in, in);
	DIR_NODE(dir, r->nodeid);
	WRITABLE();
	/* Regular files only: no device nodes, FIFOs or sockets on the
	 * host from the guest. */
	if ((in.mode & S_IFMT) != S_IFREG)
		return -EPERM;
	const char *name = fs_take_name(r, sizeof(in), NULL);
	if (!name)
		return -EINVAL;
	int fd = fs_beneath_open(dir->fd, name, O_CREAT | O_EXCL | O_WRONLY,
			      in.mode);
	if (fd < 0)
		return fd;
	close(fd);
	return lookup_name(r, dir->fd, name);
}

static int op_mkdir(struct fs_req *r)
{
	ARGS(fuse_mkdir_in, in);
	DIR_NODE(dir, r->nodeid);
	WRITABLE();
	const char *name = fs_take_name(r, sizeof(in), NULL);
	if (!name)
		return -EINVAL;
	if (mkdirat(dir->fd, name, in.mode & MODE_OK) < 0)
		return -errno;
	return lookup_name(r, dir->fd, name);
}

static int remove_name(struct fs_req *r, int flags)
{
	DIR_NODE(dir, r->nodeid);
	WRITABLE();
	const char *name = fs_take_name(r, 0, NULL);
	if (!name)
		return -EINVAL;
	return unlinkat(dir->fd, name, flags) < 0 ? -errno : 0;
}

static int op_unlink(struct fs_req *r) { return remove_name(r, 0); }
static int op_rmdir(struct fs_req *r) { return remove_name(r, AT_REMOVEDIR); }

static int do_rename(struct fs_req *r, uint64_t newdir, size_t off,
		     unsigned flags)
{
	size_t used;
	DIR_NODE(from, r->nodeid);
	DIR_NODE(to, newdir);
	WRITABLE();
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	const char *oldname = fs_take_name(r, off, &used);
	const char *newname = oldname ? fs_take_name(r, off + used, NULL) : NULL;
	if (!newname)
		return -EINVAL;
	return syscall(SYS_renameat2, from->fd, oldname, to->fd, newname,
		       flags) < 0 ? -errno : 0;
}

static int op_rename(struct fs_req *r)
{
	ARGS(fuse_rename_in, in);
	return do_rename(r, in.newdir, sizeof(in), 0);
}

static int op_rename2(struct fs_req *r)
{
	ARGS(fuse_rename2_in, in);
	return do_rename(r, in.newdir, sizeof(in), in.flags);
}

static int op_link(struct fs_req *r)
{
	ARGS(fuse_link_in, in);
	DIR_NODE(dir, r->nodeid);
	struct fs_node *old = fs_req_node(r, in.oldnodeid);
	char num[16];

	if (!old)
		return -ESTALE;
	WRITABLE();
	if (old->type == S_IFDIR)
		return -EPERM;
	const char *name = fs_take_name(r, sizeof(in), NULL);
	if (!name)
		return -EINVAL;
	/* The object we hold, by its descriptor: no name is looked up on
	 * the source side at all. */
	snprintf(num, sizeof(num), "%d", old->fd);
	if (linkat(r->s->proc_fd, num, dir->fd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return lookup_name(r, dir->fd, name);
}

static const fs_op_fn ops[] = {
	[FUSE_LOOKUP] = op_lookup,
	[FUSE_FORGET] = op_forget,
	[FUSE_GETATTR] = op_getattr,
	[FUSE_SETATTR] = op_setattr,
	[FUSE_READLINK] = op_readlink,
	[FUSE_SYMLINK] = op_symlink,
	[FUSE_MKNOD] = op_mknod,
	[FUSE_MKDIR] = op_mkdir,
	[FUSE_UNLINK] = op_unlink,
	[FUSE_RMDIR] = op_rmdir,
	[FUSE_RENAME] = op_rename,
	[FUSE_LINK] = op_link,
	[FUSE_OPEN] = fs_op_open,
	[FUSE_READ] = fs_op_read,
	[FUSE_WRITE] = fs_op_write,
	[FUSE_STATFS] = fs_op_statfs,
	[FUSE_RELEASE] = fs_op_release,
	[FUSE_FSYNC] = fs_op_fsync,
	[FUSE_FLUSH] = fs_op_flush,
	[FUSE_OPENDIR] = fs_op_opendir,
	[FUSE_READDIR] = fs_op_readdir,
	[FUSE_RELEASEDIR] = fs_op_release,
	[FUSE_FSYNCDIR] = fs_op_fsyncdir,
	[FUSE_CREATE] = fs_op_create,
	[FUSE_BATCH_FORGET] = op_batch_forget,
	[FUSE_FALLOCATE] = fs_op_fallocate,
	[FUSE_RENAME2] = op_rename2,
	[FUSE_LSEEK] = fs_op_lseek,
};

fs_op_fn fs_op_lookup_table(uint32_t opcode)
{
	return opcode < sizeof(ops) / sizeof(ops[0]) ? ops[opcode] : NULL;
}
