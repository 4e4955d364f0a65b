/* fs.h: table of contents of host/fs/ — the shared-directory server behind
 * virtio-fs (devices/virtiofs.c is the virtio model; this is its backend).
 *
 * The guest kernel speaks FUSE over the virtqueue; every request names an
 * inode by the node id we gave it and, for directory operations, one path
 * component. The server holds an O_PATH descriptor per inode and performs
 * every operation relative to one of them with that single component,
 * never on a path string it built: no "/" in names, no "." or "..",
 * RESOLVE_BENEATH on every openat2, no symlink followed on the host. So
 * nothing the guest sends can reach outside the mount root. Files are
 * opened for I/O by re-opening their O_PATH descriptor through
 * /proc/self/fd (opened once at start, before the sandbox).
 *
 * What a mount refuses on the host side: writes of any kind when read-only
 * (EROFS), device nodes, FIFOs and sockets (EPERM), setuid/setgid bits
 * (stripped from every mode we set), ownership changes (EPERM), extended
 * attributes (ENOSYS: none of security meaning can be set or read).
 * Files the guest creates belong to the user running voidbox; the guest
 * sees files of that user as its own (opts.guest_uid/gid).
 *
 * Memory per mount is bounded: at most opts.max_inodes inodes and
 * opts.max_handles open files (each holds one host descriptor), requests
 * of at most FSRV_MAX_WRITE data bytes, directory reads of at most
 * FSRV_MAX_READDIR bytes, directory listings (fs_dir.c) of at most
 * opts.max_dir_bytes together. Past a bound the request fails (ENFILE),
 * or a listing falls back to the host's offsets; the server goes on.
 *
 * Threading: one request at a time (the VMM's I/O thread calls it).
 */
#ifndef VOIDBOX_FS_H
#define VOIDBOX_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#define FSRV_MAX_INODES	  262144	/* a guest may `ls -l` a huge
						   directory: each entry it
						   stats is one node (and one
						   O_PATH descriptor) until
						   its kernel forgets it */
#define FSRV_MAX_HANDLES  4096
#define FSRV_MAX_WRITE	  (128u << 10)	/* also the largest READ; 32 pages
					   keep a chain under VIRTQ_MAX_SEGS */
#define FSRV_MAX_READDIR  (64u << 10)
#define FSRV_MAX_DIRLIST  (32u << 20)	/* listings held for READDIR, per
					   mount (fs_dir.c) */
#define FSRV_MAX_ARGS	  8192		/* header + arguments we copy */

struct fsrv_opts {
	bool ro;
	uid_t guest_uid;	/* the guest sees our own files as this uid */
	gid_t guest_gid;
	unsigned max_inodes;	/* 0: FSRV_MAX_INODES */
	unsigned max_handles;	/* 0: FSRV_MAX_HANDLES */
	unsigned max_dir_bytes;	/* 0: FSRV_MAX_DIRLIST */
};

struct fsrv_stats {
	uint64_t requests, errors, bad;	/* bad: malformed requests */
	unsigned inodes, handles;	/* live now */
	uint64_t inode_full, handle_full;	/* refused at a bound */
	uint64_t dir_full;	/* listings past the budget (fs_dir.c) */
};

struct fsrv;

/* ---- fsrv.c: the FUSE protocol --------------------------------------- */

/* A server for the directory root_fd (any descriptor of a directory;
 * taken: closed by fsrv_free, also on failure). NULL with err filled
 * when /proc/self/fd cannot be opened or root_fd is no directory. */
struct fsrv *fsrv_new(int root_fd, const struct fsrv_opts *opts,
		      char *err, size_t errlen);
void fsrv_free(struct fsrv *s);
/* One request: `out` holds what the driver wrote (fuse_in_header,
 * arguments, write data), `in` what the device may write (the reply).
 * Guest memory may change under us: every header and argument is copied
 * before it is checked. Returns the bytes written into `in` (0: no
 * reply, as for FORGET). */
size_t fsrv_request(struct fsrv *s, const struct iovec *out, unsigned nout,
		    const struct iovec *in, unsigned nin);
void fsrv_get_stats(const struct fsrv *s, struct fsrv_stats *st);

/* ---- fs_node.c: node ids and file handles ---------------------------- */

struct fs_node {
	uint32_t gen;		/* 0: slot free */
	int fd;			/* O_PATH, beneath the root */
	dev_t dev;
	ino_t ino;
	mode_t type;		/* S_IFMT bits */
	uint64_t nlookup;	/* the kernel's references */
	int32_t hnext;		/* (dev, ino) hash chain, slot or -1 */
};

struct fs_table {
	struct fs_node *nodes;
	unsigned n, cap, max, live;
	uint32_t next_gen;
	int32_t *hash;		/* FS_HASH buckets of slot indices */
	int32_t free_head;	/* free slots, chained through hnext */
};

struct fs_dir;

struct fs_handle {
	uint32_t gen;		/* 0: slot free */
	int fd;
	int32_t next_free;
	struct fs_dir *dir;	/* a directory's listing (fs_dir.c) */
	bool dir_seeking;	/* past the budget: the host's offsets */
};

struct fs_handles {
	struct fs_handle *h;
	unsigned n, cap, max, live;
	uint32_t next_gen;
	int32_t free_head;
	size_t dir_bytes, dir_max;	/* listings held, and their bound */
};

#define FS_ROOT_ID 1	/* FUSE_ROOT_ID */

/* The table with the root node (fd taken, type S_IFDIR, never forgotten).
 * 0 or -errno. */
int fs_table_init(struct fs_table *t, int root_fd, const struct stat *st,
		  unsigned max);
void fs_table_free(struct fs_table *t);
/* The live node for a node id from the guest, or NULL. */
struct fs_node *fs_node_get(struct fs_table *t, uint64_t id);
/* One more kernel reference to the object of fd: the node it already
 * has (fd closed) or a new one (fd taken). *id set. 0, or -ENFILE at the
 * bound (fd closed). */
int fs_node_ref(struct fs_table *t, int fd, const struct stat *st,
		uint64_t *id);
/* The kernel dropped n references; the node goes at zero. */
void fs_node_forget(struct fs_table *t, uint64_t id, uint64_t n);

int fs_handles_init(struct fs_handles *hs, unsigned max, size_t dir_max);
void fs_handles_free(struct fs_handles *hs);
/* Takes fd. 0 with *fh set, or -ENFILE (fd closed). */
int fs_handle_add(struct fs_handles *hs, int fd, uint64_t *fh);
/* The descriptor of a handle from the guest, or -1. */
int fs_handle_fd(struct fs_handles *hs, uint64_t fh);
/* The live handle for a handle id from the guest, or NULL. */
struct fs_handle *fs_handle_get(struct fs_handles *hs, uint64_t fh);
/* Closes it (and frees its listing); -EBADF for an unknown one. */
int fs_handle_close(struct fs_handles *hs, uint64_t fh);

/* ---- private to host/fs/: one request in flight ---------------------- */

struct fsrv {
	struct fs_table nodes;
	struct fs_handles handles;
	struct fsrv_opts opts;
	struct fsrv_stats st;
	int proc_fd;		/* /proc/self/fd, for re-opening O_PATH fds */
	bool inited;		/* FUSE_INIT answered */
	uid_t euid;
	gid_t egid;
	uint8_t args[FSRV_MAX_ARGS];	/* the copied request */
	uint8_t reply[FSRV_MAX_READDIR + 256];
	uint8_t dents[FSRV_MAX_READDIR];	/* getdents64 buffer */
};

/* A request as the operations see it: the copied arguments, where write
 * data and read buffers are in guest memory, and the reply under way. */
struct fs_req {
	struct fsrv *s;
	uint64_t nodeid;
	const uint8_t *arg;	/* after fuse_in_header, in s->args */
	size_t arglen;
	const struct iovec *out, *in;	/* the whole chain */
	unsigned nout, nin;
	size_t data_off;	/* WRITE: where data starts in out */
	size_t reply_len;	/* bytes of s->reply after the out header */
	size_t direct_len;	/* READ: bytes read straight into `in` */
};

/* fs_ops.c: one function per FUSE opcode. 0 or -errno (the reply's
 * error); on 0, r->reply_len bytes of s->reply + sizeof(out header) are
 * the answer. */
typedef int (*fs_op_fn)(struct fs_req *r);
fs_op_fn fs_op_lookup_table(uint32_t opcode);
/* fs_ops.c helpers fs_io.c shares. A validated single name component at
 * args+off (*used: its bytes with the NUL), or NULL. */
const char *fs_take_name(const struct fs_req *r, size_t off, size_t *used);
/* openat2 of one name beneath dirfd, no symlink followed: fd or -errno. */
int fs_beneath_open(int dirfd, const char *name, uint64_t flags, mode_t mode);
/* The object behind our descriptor fd, re-opened with flags: fd or -errno. */
int fs_reopen(const struct fsrv *s, int fd, int flags);
int fs_stat_fd(int fd, struct stat *st);
struct fs_node *fs_req_node(struct fs_req *r, uint64_t id);
/* Reply with a new reference to fd's object (fd: O_PATH, taken). */
int fs_entry_reply(struct fs_req *r, int fd);
/* fs_io.c: the operations on open files. */
int fs_open_reply(struct fs_req *r, int fd);	/* fd taken */
int fs_op_open(struct fs_req *r);
int fs_op_create(struct fs_req *r);
int fs_op_read(struct fs_req *r);
int fs_op_write(struct fs_req *r);
int fs_op_release(struct fs_req *r);
int fs_op_flush(struct fs_req *r);
int fs_op_fsync(struct fs_req *r);
int fs_op_fallocate(struct fs_req *r);
int fs_op_lseek(struct fs_req *r);
int fs_op_statfs(struct fs_req *r);
/* fs_dir.c: directory listings with offsets stable under changes. */
int fs_op_opendir(struct fs_req *r);
int fs_op_readdir(struct fs_req *r);
int fs_op_fsyncdir(struct fs_req *r);
void fs_dir_free(struct fs_handles *hs, struct fs_dir *d);

/* The operations' argument checks (a request too short is EINVAL, a
 * stale or non-directory node ESTALE/ENOTDIR, a ro mount EROFS). */
#define ARGS(type, var)                                            \
	struct type var;                                           \
	if (r->arglen < sizeof(var))                               \
		return -EINVAL;                                    \
	memcpy(&var, r->arg, sizeof(var))

#define DIR_NODE(var, id)                                          \
	struct fs_node *var = fs_req_node(r, id);                      \
	if (!var)                                                  \
		return -ESTALE;                                    \
	if (var->type != S_IFDIR)                                  \
		return -ENOTDIR

#define WRITABLE()                                                 \
	do {                                                       \
		if (r->s->opts.ro)                                 \
			return -EROFS;                             \
	} while (0)

/* fsrv.c helpers the operations use. */
void fsrv_fill_attr(const struct fsrv *s, const struct stat *st, void *attr);
void *fsrv_reply_buf(struct fs_req *r, size_t len);

#endif
