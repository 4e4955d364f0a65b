/* image.h: table of contents of host/image/ — the user's own root
 * filesystems (OCI images) turned into something a guest can mount.
 *
 * An image's layers are tar streams applied in order (whiteouts and opaque
 * directories honoured); the result is written as one uncompressed EROFS
 * image, which the guest mounts read-only (the kernel has EROFS; the
 * tools disk is one too). We write the image ourselves instead of
 * unpacking the layers onto the host: ownership, device nodes and set-id
 * bits survive without host root, nothing of the image ever exists as host
 * files a hostile layer could aim at, and no external tool runs.
 */
#ifndef VOIDBOX_IMAGE_H
#define VOIDBOX_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- erofs.c: the EROFS writer --------------------------------------- */

#define EROFS_BLKSZ	 4096u
#define EROFS_MAX_NODES	 (1u << 20)	/* entries in one image */
#define EROFS_MAX_DEPTH	 128		/* path components */
#define EROFS_MAX_LINK	 4095		/* symlink target bytes */

/* What a tar header says about an entry (the part an image keeps). */
struct erofs_meta {
	mode_t mode;		/* type and permission bits, set-id included */
	uint32_t uid, gid;
	int64_t mtime;		/* seconds */
	uint32_t mtime_ns;
	uint32_t rdev_major, rdev_minor;	/* character/block devices */
};

struct erofs_w;

/* A writer filling fd (a new, empty, seekable file) from block 1 on.
 * NULL with err on failure. */
struct erofs_w *erofs_open(int fd, char *err, size_t errlen);
/* Entries added from now on belong to layer n (see erofs_opaque). */
void erofs_layer(struct erofs_w *w, unsigned n);
/* Add PATH (relative; "./", leading "/" and empty components ignored,
 * ".." refused). Missing parents are made (0755, root). An existing entry
 * is replaced, except a directory over a directory, which only takes the
 * new metadata and keeps its children. For a regular file, size bytes are
 * pulled from read(ctx, buf, n) (returns bytes, 0 at a premature end, or
 * -errno); for a symlink, link is the target. 0 or -errno with w's error
 * set (erofs_error). */
typedef ssize_t (*erofs_read_fn)(void *ctx, void *buf, size_t n);
int erofs_add(struct erofs_w *w, const char *path, const struct erofs_meta *m,
	      uint64_t size, erofs_read_fn read, void *ctx, const char *link);
/* A hard link: PATH becomes another name of TARGET's inode (a regular
 * file, or any non-directory). */
int erofs_link(struct erofs_w *w, const char *path, const char *target);
/* Whiteouts: remove PATH and what is under it (absent: no error); empty
 * directory DIR of the entries that came from layers before this one. */
int erofs_remove(struct erofs_w *w, const char *path);
int erofs_opaque(struct erofs_w *w, const char *dir);
/* Lay out directories and inodes, write the superblock. *blocks: the
 * image's size in blocks. 0 or -errno. The writer is freed either way. */
int erofs_finish(struct erofs_w *w, uint64_t *blocks, char *err, size_t errlen);
/* Free without finishing (the file is garbage). */
void erofs_abort(struct erofs_w *w);
const char *erofs_error(const struct erofs_w *w);

/* ---- tar.c: one layer ------------------------------------------------- */

/* Apply the tar stream read() yields (uncompressed) to w: entries added,
 * whiteouts applied (call erofs_layer first). 0, or -errno with err naming
 * the entry (its ordinal, and path when known). */
int tar_apply(struct erofs_w *w, erofs_read_fn read, void *ctx, char *err,
	      size_t errlen);

/* ---- layer.c: one layer blob ----------------------------------------- */

/* Apply the layer in fd (gzip or plain tar; zstd refused for now) to w.
 * *total counts uncompressed bytes across the image's layers; past max the
 * layer fails (a decompression bomb). 0 or -errno with err. */
int layer_apply(struct erofs_w *w, int fd, uint64_t *total, uint64_t max,
		char *err, size_t errlen);

#endif
