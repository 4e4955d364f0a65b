/* fs_io.c: the FUSE operations on open files and directories of the
 * shared-directory server: open and create, read and write (straight
 * between guest memory and the host file), fsync, fallocate, lseek,
 * statfs. Directory listings are fs_dir.c's, names and attributes are fs_ops.c's; how everything
 * stays beneath the mount root is in fs.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fs.h"
#include "../devices/devices.h"

/* Host open flags from the guest's: access mode and the few that mean
 * something here; never O_CREAT/O_EXCL (names are created elsewhere). */
static int open_flags(const struct fsrv *s, uint32_t gflags, int *out)
{
	int acc = (int)gflags & O_ACCMODE;
	int f = acc | ((int)gflags & (O_APPEND | O_TRUNC));

	if (s->opts.ro && (acc != O_RDONLY || (gflags & O_TRUNC)))
		return -EROFS;
	*out = f;
	return 0;
}

int fs_open_reply(struct fs_req *r, int fd)
{
	struct fuse_open_out *o;
	uint64_t fh;
	int err = fs_handle_add(&r->s->handles, fd, &fh);

	if (err < 0) {
		r->s->st.handle_full++;
		return err;
	}
	if (!(o = fsrv_reply_buf(r, sizeof(*o))))
		return -EIO;
	memset(o, 0, sizeof(*o));
	o->fh = fh;
	return 0;
}

int fs_op_open(struct fs_req *r)
{
	ARGS(fuse_open_in, in);
	struct fs_node *n = fs_req_node(r, r->nodeid);
	int flags, err, fd;

	if (!n)
		return -ESTALE;
	if (n->type != S_IFREG)
		return n->type == S_IFDIR ? -EISDIR : -EPERM;
	if ((err = open_flags(r->s, in.flags, &flags)) < 0)
		return err;
	if ((fd = fs_reopen(r->s, n->fd, flags)) < 0)
		return fd;
	return fs_open_reply(r, fd);
}

int fs_op_create(struct fs_req *r)
{
	ARGS(fuse_create_in, in);
	DIR_NODE(dir, r->nodeid);
	int flags, err, fd;

	WRITABLE();
	if ((err = open_flags(r->s, in.flags, &flags)) < 0)
		return err;
	const char *name = fs_take_name(r, sizeof(in), NULL);
	if (!name)
		return -EINVAL;
	fd = fs_beneath_open(dir->fd, name,
			  (uint64_t)flags | O_CREAT | (in.flags & O_EXCL),
			  in.mode);
	if (fd < 0)
		return fd;
	/* The node is the object we just opened, whatever its name
	 * points at by now. */
	int pfd = fs_reopen(r->s, fd, O_PATH);
	if (pfd < 0) {
		close(fd);
		return pfd;
	}
	if ((err = fs_entry_reply(r, pfd)) < 0) {
		close(fd);
		return err;
	}
	/* entry_out, then open_out, in one reply. */
	struct fuse_entry_out e;
	memcpy(&e, fsrv_reply_buf(r, sizeof(e)), sizeof(e));
	uint64_t fh;
	if ((err = fs_handle_add(&r->s->handles, fd, &fh)) < 0) {
		r->s->st.handle_full++;
		fs_node_forget(&r->s->nodes, e.nodeid, 1);
		return err;
	}
	uint8_t *p = fsrv_reply_buf(r, sizeof(e) + sizeof(struct fuse_open_out));
	struct fuse_open_out o = { .fh = fh };
	memcpy(p, &e, sizeof(e));
	memcpy(p + sizeof(e), &o, sizeof(o));
	return 0;
}

/* Up to VIRTQ_MAX_SEGS iovecs in dst for `want` bytes of src starting
 * `skip` bytes in (guest memory, used in place); *got the bytes covered. */
static unsigned iov_slice(const struct iovec *src, unsigned nsrc, size_t skip,
			  size_t want, struct iovec *dst, size_t *got)
{
	unsigned n = 0;

	*got = 0;
	for (unsigned i = 0; i < nsrc && n < VIRTQ_MAX_SEGS && *got < want;
	     i++) {
		size_t l = src[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t take = l - skip < want - *got ? l - skip : want - *got;
		dst[n++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip,
					   take };
		*got += take;
		skip = 0;
	}
	return n;
}

int fs_op_read(struct fs_req *r)
{
	ARGS(fuse_read_in, in);
	int fd = fs_handle_fd(&r->s->handles, in.fh);
	struct iovec iov[VIRTQ_MAX_SEGS];
	size_t want = in.size;

	if (fd < 0)
		return -EBADF;
	if (want > FSRV_MAX_WRITE)
		want = FSRV_MAX_WRITE;
	/* The guest's buffer after the reply header, at most `want`. */
	unsigned n = iov_slice(r->in, r->nin, sizeof(struct fuse_out_header),
			       want, iov, &want);
	ssize_t got = n ? preadv(fd, iov, (int)n, (off_t)in.offset) : 0;
	if (got < 0)
		return -errno;
	r->direct_len = (size_t)got;
	r->reply_len = 0;
	return 0;
}

int fs_op_write(struct fs_req *r)
{
	ARGS(fuse_write_in, in);
	int fd = fs_handle_fd(&r->s->handles, in.fh);
	struct iovec iov[VIRTQ_MAX_SEGS];
	size_t want = in.size, total;
	struct fuse_write_out *o;

	if (fd < 0)
		return -EBADF;
	WRITABLE();
	if (want > FSRV_MAX_WRITE)
		return -EINVAL;
	unsigned n = iov_slice(r->out, r->nout, r->data_off + sizeof(in), want,
			       iov, &total);
	if (total < want)	/* size says more than the request holds */
		return -EINVAL;
	ssize_t put = total ? pwritev(fd, iov, (int)n, (off_t)in.offset) : 0;
	if (put < 0)
		return -errno;
	if (!(o = fsrv_reply_buf(r, sizeof(*o))))
		return -EIO;
	memset(o, 0, sizeof(*o));
	o->size = (uint32_t)put;
	return 0;
}

int fs_op_release(struct fs_req *r)
{
	ARGS(fuse_release_in, in);
	fs_handle_close(&r->s->handles, in.fh);
	return 0;
}

int fs_op_flush(struct fs_req *r)
{
	ARGS(fuse_flush_in, in);
	return fs_handle_fd(&r->s->handles, in.fh) < 0 ? -EBADF : 0;
}

int fs_op_fsync(struct fs_req *r)
{
	ARGS(fuse_fsync_in, in);
	int fd = fs_handle_fd(&r->s->handles, in.fh);

	if (fd < 0)
		return -EBADF;
	int rc = (in.fsync_flags & 1) ? fdatasync(fd) : fsync(fd);
	return rc < 0 ? -errno : 0;
}

int fs_op_fallocate(struct fs_req *r)
{
	ARGS(fuse_fallocate_in, in);
	int fd = fs_handle_fd(&r->s->handles, in.fh);

	if (fd < 0)
		return -EBADF;
	WRITABLE();
	return fallocate(fd, (int)in.mode, (off_t)in.offset,
			 (off_t)in.length) < 0 ? -errno : 0;
}

int fs_op_lseek(struct fs_req *r)
{
	ARGS(fuse_lseek_in, in);
	int fd = fs_handle_fd(&r->s->handles, in.fh);
	struct fuse_lseek_out *o;

	if (fd < 0)
		return -EBADF;
	if (in.whence != SEEK_DATA && in.whence != SEEK_HOLE)
		return -EINVAL;
	off_t off = lseek(fd, (off_t)in.offset, (int)in.whence);
	if (off < 0)
		return -errno;
	if (!(o = fsrv_reply_buf(r, sizeof(*o))))
		return -EIO;
	o->offset = (uint64_t)off;
	return 0;
}

int fs_op_statfs(struct fs_req *r)
{
	struct fs_node *n = fs_req_node(r, r->nodeid);
	struct fuse_statfs_out *o;
	struct statfs sf;

	if (!n)
		return -ESTALE;
	if (fstatfs(n->fd, &sf) < 0)
		return -errno;
	if (!(o = fsrv_reply_buf(r, sizeof(*o))))
		return -EIO;
	memset(o, 0, sizeof(*o));
	o->st.blocks = sf.f_blocks;
	o->st.bfree = sf.f_bfree;
	o->st.bavail = sf.f_bavail;
	o->st.files = sf.f_files;
	o->st.ffree = sf.f_ffree;
	o->st.bsize = (uint32_t)sf.f_bsize;
	o->st.namelen = (uint32_t)sf.f_namelen;
	o->st.frsize = (uint32_t)sf.f_frsize;
	return 0;
}
