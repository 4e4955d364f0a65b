/* fs_dir.c: directory listings for the shared-directory server — OPENDIR,
 * READDIR, FSYNCDIR — with offsets that stay valid while the guest
 * changes the directory.
 *
 * Why not hand the guest the host's own d_off values: on filesystems
 * whose directory offsets are positions (ramfs; tmpfs before Linux 6.6;
 * overlayfs merged directories) an offset names "the n-th entry now",
 * and `rm -rf` unlinks the entries it has read before it reads on. The
 * guest's kernel also takes only a prefix of each reply (what its
 * reader's buffer holds) and asks again from the last offset it used,
 * so we must seek back, and a seek back on such a filesystem counts
 * from the start of what is left: entries are skipped and rmdir fails
 * with ENOTEMPTY.
 *
 * So a handle lists its directory once, at offset 0 (again at every
 * offset 0: a rewind sees the directory as it is now), and serves that
 * listing by index: offset k is "after the k-th entry", whatever happens
 * on the host meanwhile. POSIX leaves it open whether entries added or
 * removed after opendir/rewinddir show up; every entry present
 * throughout is listed exactly once, which is what it requires.
 *
 * Memory: the listings of one mount share opts.max_dir_bytes. A listing
 * that would not fit falls back to the host's offsets for that handle
 * (correct on every filesystem with stable offsets: ext4, xfs, btrfs,
 * tmpfs since 6.6).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fs.h"

/* One entry of a listing, packed in fs_dir.buf; idx[i] is where entry i
 * starts. */
struct dirent_rec {
	uint64_t ino;
	uint16_t namelen;
	uint8_t type;
	char name[];
};

struct fs_dir {
	uint8_t *buf;
	size_t len, cap;
	uint32_t *idx;
	uint32_t n, ncap;
	size_t charged;		/* bytes counted against the mount's budget */
};

/* getdents64's record (no glibc/musl struct has this exact layout). */
struct dirent64_raw {
	uint64_t ino;
	int64_t off;
	uint16_t reclen;
	uint8_t type;
	char name[];
};

void fs_dir_free(struct fs_handles *hs, struct fs_dir *d)
{
	if (!d)
		return;
	hs->dir_bytes -= d->charged;
	free(d->buf);
	free(d->idx);
	free(d);
}

/* Grows *p (elements of size `elem`, capacity *cap) to hold `need`,
 * charging the growth to the mount's budget. 0 or -ENOSPC/-ENOMEM. */
static int grow_charged(struct fs_handles *hs, struct fs_dir *d, void **p,
			size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	size_t more = (ncap - *cap) * elem;
	if (hs->dir_bytes + more > hs->dir_max)
		return -ENOSPC;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	hs->dir_bytes += more;
	d->charged += more;
	return 0;
}

static int add_entry(struct fs_handles *hs, struct fs_dir *d,
		     const struct dirent64_raw *e, size_t namelen)
{
	size_t rec = (sizeof(struct dirent_rec) + namelen + 7) & ~(size_t)7;
	size_t ncap = d->ncap;
	int err;

	if (d->n == UINT32_MAX)
		return -ENOSPC;
	if ((err = grow_charged(hs, d, (void **)&d->buf, &d->cap,
				d->len + rec, 1)) < 0 ||
	    (err = grow_charged(hs, d, (void **)&d->idx, &ncap,
				(size_t)d->n + 1, sizeof(*d->idx))) < 0)
		return err;
	d->ncap = (uint32_t)ncap;
	struct dirent_rec *r = (void *)(d->buf + d->len);
	r->ino = e->ino;
	r->namelen = (uint16_t)namelen;
	r->type = e->type;
	memcpy(r->name, e->name, namelen);
	d->idx[d->n++] = (uint32_t)d->len;
	d->len += rec;
	return 0;
}

/* The whole listing of fd, from its start: a new fs_dir, or NULL with
 * *err (-ENOSPC: over the budget). */
static struct fs_dir *list_dir(struct fsrv *s, int fd, int *err)
{
	struct fs_handles *hs = &s->handles;
	struct fs_dir *d = calloc(1, sizeof(*d));

	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		*err = -errno;
		fs_dir_free(hs, d);
		return NULL;
	}
	for (;;) {
		long got = syscall(SYS_getdents64, fd, s->dents,
				   sizeof(s->dents));
		if (got <= 0) {
			if (got == 0)
				return d;
			*err = -errno;
			break;
		}
		long off = 0;
		for (; off < got; off += ((struct dirent64_raw *)
					  (s->dents + off))->reclen) {
			const struct dirent64_raw *e = (void *)(s->dents + off);
			size_t nl = strnlen(e->name, e->reclen - 19);
			if ((*err = add_entry(hs, d, e, nl)) < 0)
				break;
		}
		if (off < got)
			break;
	}
	fs_dir_free(hs, d);
	return NULL;
}

/* One fuse_dirent at out (room for it checked by the caller). */
static size_t put_dirent(uint8_t *out, uint64_t ino, uint64_t off,
			 uint32_t type, const char *name, size_t nl)
{
	size_t rec = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl);
	struct fuse_dirent *fd_ = (void *)out;

	memset(fd_, 0, rec);
	fd_->ino = ino;
	fd_->off = off;
	fd_->namelen = (uint32_t)nl;
	fd_->type = type;
	memcpy(fd_->name, name, nl);
	return rec;
}

/* From the listing: entries from index `from` on, offsets = index + 1. */
static size_t serve_listing(const struct fs_dir *d, uint64_t from,
			    uint8_t *out, size_t room)
{
	size_t used = 0;

	for (uint64_t i = from; i < d->n; i++) {
		const struct dirent_rec *e = (void *)(d->buf + d->idx[i]);
		if (used + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + e->namelen) >
		    room)
			break;
		used += put_dirent(out + used, e->ino, i + 1, e->type,
				   e->name, e->namelen);
	}
	return used;
}

/* Past the budget: the host's offsets, seeked to. */
static int serve_seeking(struct fsrv *s, int fd, uint64_t offset,
			 uint8_t *out, size_t room, size_t *used)
{
	if (lseek(fd, (off_t)offset, SEEK_SET) < 0)
		return -errno;
	long got = syscall(SYS_getdents64, fd, s->dents, room);
	if (got < 0)
		return -errno;
	*used = 0;
	for (long off = 0; off < got;) {
		const struct dirent64_raw *e = (void *)(s->dents + off);
		size_t nl = strnlen(e->name, e->reclen - 19);
		if (*used + FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + nl) > room)
			break;	/* the next READDIR starts at e's offset */
		*used += put_dirent(out + *used, e->ino, (uint64_t)e->off,
				    e->type, e->name, nl);
		off += e->reclen;
	}
	return 0;
}

int fs_op_opendir(struct fs_req *r)
{
	DIR_NODE(dir, r->nodeid);
	/* "." beneath an O_PATH directory descriptor: the same directory,
	 * readable, without /proc. */
	int fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fs_open_reply(r, fd);
}

int fs_op_readdir(struct fs_req *r)
{
	ARGS(fuse_read_in, in);
	struct fs_handle *h = fs_handle_get(&r->s->handles, in.fh);
	size_t room = in.size < FSRV_MAX_READDIR ? in.size : FSRV_MAX_READDIR;
	uint8_t *out = fsrv_reply_buf(r, room);
	int err;

	if (!h)
		return -EBADF;
	if (!out)
		return -EIO;
	if (in.offset == 0 && !h->dir_seeking) {
		fs_dir_free(&r->s->handles, h->dir);
		h->dir = list_dir(r->s, h->fd, &err);
		if (!h->dir) {
			if (err != -ENOSPC)
				return err;
			h->dir_seeking = true;	/* for this handle's life */
			r->s->st.dir_full++;
		}
	}
	if (h->dir) {
		r->reply_len = serve_listing(h->dir, in.offset, out, room);
		return 0;
	}
	if (!h->dir_seeking)	/* a first READDIR not at offset 0 */
		return -EINVAL;
	return serve_seeking(r->s, h->fd, in.offset, out, room,
			     &r->reply_len);
}

int fs_op_fsyncdir(struct fs_req *r)
{
	return fs_op_fsync(r);
}
