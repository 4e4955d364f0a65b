/* fsrv.c: the FUSE protocol of the shared-directory server — framing,
 * FUSE_INIT, attributes, dispatch to fs_ops.c and the reply.
 *
 * A request arrives as the driver-readable part of a descriptor chain:
 * fuse_in_header, then the opcode's arguments, then (WRITE only) data.
 * Header and arguments are copied into s->args (at most FSRV_MAX_ARGS
 * bytes) before anything is checked, so the guest cannot change them
 * under us; write data is written from guest memory as it is (a guest
 * changing its own data mid-write only hurts itself). The reply is
 * fuse_out_header plus the answer, copied into the device-writable part;
 * READ data is read straight into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "fs.h"
#include "../devices/devices.h"

/* What we ask of the guest kernel. No writeback cache (the host must see
 * writes as they happen), no READDIRPLUS (a listing must not look up, and
 * so hold a descriptor for, every entry), no locks (the kernel keeps
 * POSIX locks locally), no export support (no "." / ".." lookups). */
#define OUR_FLAGS (FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES | \
		   FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES)

struct fsrv *fsrv_new(int root_fd, const struct fsrv_opts *opts,
		      char *err, size_t errlen)
{
	struct stat st;
	struct fsrv *s;

	if (fstat(root_fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "the mount root is not a directory");
		close(root_fd);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		close(root_fd);
		return NULL;
	}
	s->opts = *opts;
	s->euid = geteuid();
	s->egid = getegid();
	s->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->proc_fd < 0) {
		snprintf(err, errlen, "/proc/self/fd: %s (mounts need /proc)",
			 strerror(errno));
		close(root_fd);
		free(s);
		return NULL;
	}
	int r = fs_table_init(&s->nodes, root_fd, &st, opts->max_inodes);
	if (r == 0)
		r = fs_handles_init(&s->handles, opts->max_handles,
				    opts->max_dir_bytes);
	if (r < 0) {
		snprintf(err, errlen, "mount tables: %s", strerror(-r));
		fsrv_free(s);
		return NULL;
	}
	return s;
}

void fsrv_free(struct fsrv *s)
{
	if (!s)
		return;
	fs_handles_free(&s->handles);
	fs_table_free(&s->nodes);
	if (s->proc_fd >= 0)
		close(s->proc_fd);
	free(s);
}

void fsrv_get_stats(const struct fsrv *s, struct fsrv_stats *st)
{
	*st = s->st;
	st->inodes = s->nodes.live;
	st->handles = s->handles.live;
}

void fsrv_fill_attr(const struct fsrv *s, const struct stat *st, void *attr)
{
	struct fuse_attr *a = attr;

	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	/* Ours look like the guest user's own; others keep their ids. */
	a->uid = st->st_uid == s->euid ? s->opts.guest_uid : st->st_uid;
	a->gid = st->st_gid == s->egid ? s->opts.guest_gid : st->st_gid;
	/* Device numbers mean nothing in the guest (and the mount is
	 * nodev): never passed on. */
	a->rdev = 0;
	a->blksize = (uint32_t)st->st_blksize;
}

void *fsrv_reply_buf(struct fs_req *r, size_t len)
{
	if (len > sizeof(r->s->reply) - sizeof(struct fuse_out_header))
		return NULL;
	r->reply_len = len;
	return r->s->reply + sizeof(struct fuse_out_header);
}

static int op_init(struct fs_req *r)
{
	struct fuse_init_in in = { 0 };
	struct fuse_init_out *o;

	if (r->arglen < 16)	/* major, minor, max_readahead, flags */
		return -EINVAL;
	memcpy(&in, r->arg, r->arglen < sizeof(in) ? r->arglen : sizeof(in));
	if (in.major != FUSE_KERNEL_VERSION)
		return -EPROTO;
	if (!(o = fsrv_reply_buf(r, sizeof(*o))))
		return -EIO;
	memset(o, 0, sizeof(*o));
	o->major = FUSE_KERNEL_VERSION;
	o->minor = in.minor < FUSE_KERNEL_MINOR_VERSION ? in.minor
		: FUSE_KERNEL_MINOR_VERSION;
	o->max_readahead = in.max_readahead;
	o->flags = in.flags & OUR_FLAGS;
	o->max_background = 64;
	o->congestion_threshold = 48;
	o->max_write = FSRV_MAX_WRITE;
	o->time_gran = 1;
	o->max_pages = FSRV_MAX_WRITE / 4096;
	r->s->inited = true;
	return 0;
}

static int op_destroy(struct fs_req *r)
{
	/* The guest unmounted: every node but the root and every open
	 * file go. A new FUSE_INIT may follow. */
	struct fsrv *s = r->s;
	for (unsigned i = 1; i < s->nodes.n; i++)
		if (s->nodes.nodes[i].fd >= 0) {
			uint64_t id = (uint64_t)s->nodes.nodes[i].gen << 32 |
				      (i + 1);
			fs_node_forget(&s->nodes, id, UINT64_MAX);
		}
	for (unsigned i = 0; i < s->handles.n; i++)
		if (s->handles.h[i].gen)
			fs_handle_close(&s->handles,
					(uint64_t)s->handles.h[i].gen << 32 |
					(i + 1));
	s->inited = false;
	return 0;
}

/* Write the reply header (+ s->reply payload) into the in-part. */
static size_t send_reply(struct fs_req *r, uint64_t unique, int error)
{
	struct fuse_out_header *oh = (struct fuse_out_header *)r->s->reply;
	size_t in_len = 0, len;

	for (unsigned i = 0; i < r->nin; i++)
		in_len += r->in[i].iov_len;
	if (error)
		r->reply_len = r->direct_len = 0;
	len = sizeof(*oh) + r->reply_len + r->direct_len;
	if (len > in_len) {
		/* The guest gave too little room: say so if it can hear. */
		r->reply_len = r->direct_len = 0;
		error = -EINVAL;
		len = sizeof(*oh);
		if (len > in_len)
			return 0;
	}
	oh->len = (uint32_t)len;
	oh->error = error;
	oh->unique = unique;
	iov_from_buf(r->in, r->nin, 0, r->s->reply,
		     sizeof(*oh) + r->reply_len);
	return len;
}

size_t fsrv_request(struct fsrv *s, const struct iovec *out, unsigned nout,
		    const struct iovec *in, unsigned nin)
{
	struct fuse_in_header h;
	size_t out_len = 0;

	for (unsigned i = 0; i < nout; i++)
		out_len += out[i].iov_len;
	size_t n = iov_to_buf(out, nout, 0, s->args,
			      out_len < sizeof(s->args) ? out_len
							: sizeof(s->args));
	s->st.requests++;
	struct fs_req r = { .s = s, .out = out, .nout = nout, .in = in,
			    .nin = nin };
	if (n < sizeof(h)) {
		s->st.bad++;
		return 0;	/* no header: nobody to answer */
	}
	memcpy(&h, s->args, sizeof(h));
	r.nodeid = h.nodeid;
	r.arg = s->args + sizeof(h);
	r.arglen = n - sizeof(h);
	r.data_off = sizeof(h);
	int err;
	if (h.len != out_len || h.total_extlen) {
		s->st.bad++;
		err = -EINVAL;
	} else if (h.opcode == FUSE_INIT) {
		err = op_init(&r);
	} else if (!s->inited) {
		err = -EIO;
	} else if (h.opcode == FUSE_DESTROY) {
		err = op_destroy(&r);
	} else {
		fs_op_fn fn = fs_op_lookup_table(h.opcode);
		err = fn ? fn(&r) : -ENOSYS;
	}
	if (err)
		s->st.errors++;
	/* FORGET and BATCH_FORGET have no reply at all. */
	if (!err && (h.opcode == FUSE_FORGET || h.opcode == FUSE_BATCH_FORGET))
		return 0;
	return send_reply(&r, h.unique, err);
}
