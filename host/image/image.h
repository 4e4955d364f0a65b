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
 *
 * Files: erofs.c (the writer), tar.c (tar streams), layer.c (a layer
 * blob, gzip or plain, bounded), oci.c (index, manifest, config), store.c
 * (the content-addressed store), archive.c (docker save, oci-archive, OCI
 * layout import), root.c (an image's root, built once), use.c (a
 * reference as a run uses it: sandbox.image, exec --image),
 *
 * registry.c (pulls from a registry: the distribution API, auth, resume).
 * The guest side is guest/agent/imageroot.c (the EROFS root under a tmpfs
 * overlay becomes "/").
 */
#ifndef VOIDBOX_IMAGE_H
#define VOIDBOX_IMAGE_H

#include <stdbool.h>
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

/* ---- tar.c: tar streams ------------------------------------------------ */

#define TAR_PATH_MAX	4096

/* One entry as tar_next reads it (pax and GNU long names applied). type is
 * the tar type flag ('0' file, '1' hard link, '2' symlink, '5' dir...);
 * m.mode holds the permission bits only. */
struct tar_entry {
	char path[TAR_PATH_MAX + 1];
	char link[TAR_PATH_MAX + 1];
	char type;
	uint64_t size;
	struct erofs_meta m;
};

/* pax header values that matter to an image (per entry, or global). */
struct tar_pax {
	char *path, *link;
	bool has_size, has_uid, has_gid, has_mtime;
	uint64_t size, uid, gid;
	int64_t mtime;
	uint32_t mtime_ns;
};

struct tar_rd {
	erofs_read_fn rd;
	void *ctx;
	uint64_t left, pad;	/* of the current entry's data */
	uint64_t n;		/* entries read, for messages */
	struct tar_pax g;	/* pax global headers so far */
	char *err;
	size_t errlen;
};

void tar_init(struct tar_rd *t, erofs_read_fn read, void *ctx, char *err,
	      size_t errlen);
/* The next entry: 1, 0 at the end, -errno with err naming the entry. What
 * the caller did not read of the previous entry's data is skipped. */
int tar_next(struct tar_rd *t, struct tar_entry *e);
/* Read the current entry's data (an erofs_read_fn over a struct tar_rd). */
ssize_t tar_data(void *t, void *buf, size_t n);
void tar_done(struct tar_rd *t);
/* Apply a whole layer's tar stream to w: entries added, whiteouts applied
 * (call erofs_layer first). 0, or -errno with err naming the entry. */
int tar_apply(struct erofs_w *w, erofs_read_fn read, void *ctx, char *err,
	      size_t errlen);

/* ---- layer.c: one layer blob ----------------------------------------- */

/* Apply the layer in fd (gzip, zstd or plain tar) to w.
 * *total counts uncompressed bytes across the image's layers; past max the
 * layer fails (a decompression bomb). 0 or -errno with err. */
int layer_apply(struct erofs_w *w, int fd, uint64_t *total, uint64_t max,
		char *err, size_t errlen);
/* The same reading for any blob (an archive may be gzipped too): NULL with
 * err (no memory, not seekable); then blob_read as an
 * erofs_read_fn, blob_reader_explain to improve a failure's message. */
struct lsrc;
struct lsrc *blob_reader(int fd, uint64_t *total, uint64_t max, char *err,
			 size_t errlen);
ssize_t blob_read(void *lsrc, void *buf, size_t n);
void blob_reader_explain(struct lsrc *s, int e, char *err, size_t errlen);
void blob_reader_close(struct lsrc *s);

/* ---- oci.c: the image's JSON documents -------------------------------- */

#define OCI_MAX_JSON	  (4u << 20)	/* one manifest, index or config */
#define OCI_MAX_LAYERS	  128
#define OCI_MAX_MANIFESTS 256		/* entries of one index */
#define OCI_MAX_ENV	  1024
#define OCI_MAX_ARGS	  256
#define OCI_MAX_STRING	  32768

#define OCI_MT_INDEX	   "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_LAYER	   "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_LAYER	   "application/vnd.docker.image.rootfs.diff.tar.gzip"

struct oci_desc {
	char media[128];
	char digest[7 + 64 + 1];	/* "sha256:" + hex, checked */
	uint64_t size;
};

struct oci_image {
	struct oci_desc config;
	struct oci_desc layers[OCI_MAX_LAYERS];
	unsigned nlayers;
	/* from the config; lists NULL-terminated or NULL */
	char **env, **entrypoint, **cmd;
	char workdir[1024];
	char user[256];
};

enum { OCI_DOC_UNKNOWN, OCI_DOC_INDEX, OCI_DOC_MANIFEST };

/* Format a message into err and return -e: the one error helper of the
 * documents, the store and the archives. */
int image_err(char *err, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "sha256:" and 64 lower-case hex digits: safe as a file name. */
bool oci_digest_ok(const char *digest);
/* Whether a document is an index (or manifest list) or a manifest. */
int oci_kind(const char *json, size_t len);
/* The manifest for os/arch in an index. -ENOENT with err listing the
 * platforms the index has. */
int oci_pick(const char *json, size_t len, const char *os, const char *arch,
	     struct oci_desc *out, char *err, size_t errlen);
/* config and layers of a manifest (img zeroed first). 0 or -errno. */
int oci_manifest(const char *json, size_t len, struct oci_image *img,
		 char *err, size_t errlen);
/* The config's run settings into img (after oci_manifest: the layer count
 * is checked against rootfs.diff_ids); -ENOEXEC for another platform. */
int oci_config(const char *json, size_t len, const char *os, const char *arch,
	       struct oci_image *img, char *err, size_t errlen);
void oci_image_free(struct oci_image *img);

/* ---- store.c: the content-addressed image store ------------------------ */

struct img_store {
	int fd;			/* the store's root directory */
};

/* Readers for store_put: bytes in memory (ctx: struct img_mem), or a
 * descriptor from where it stands (ctx: int *). */
struct img_mem {
	const char *p;
	size_t left;
};
ssize_t img_mem_read(void *ctx, void *buf, size_t n);
ssize_t img_fd_read(void *ctx, void *buf, size_t n);

/* Open (making it, 0700) the store at root. 0 or -errno with err. */
int store_open(struct img_store *s, const char *root, char *err, size_t errlen);
void store_close(struct img_store *s);
/* Stream a blob from read() (at most max bytes) into the store. With
 * expect, the blob must have that digest (-EBADMSG, both named, and
 * nothing stored); digest gets what it has. 0 or -errno with err. */
int store_put(struct img_store *s, erofs_read_fn read, void *ctx, uint64_t max,
	      const char *expect, char digest[72], uint64_t *size, char *err,
	      size_t errlen);
/* A blob's descriptor (read-only), or -ENOENT / -EINVAL (bad digest). */
int store_blob(struct img_store *s, const char *digest);
/* A small blob (a JSON document) whole, NUL-ended, at most max bytes. */
int store_read(struct img_store *s, const char *digest, char **out, size_t *len,
	       size_t max, char *err, size_t errlen);
/* Image names: set NAME to a manifest digest; look it up (-ENOENT). */
int store_ref_set(struct img_store *s, const char *name, const char *digest,
		  char *err, size_t errlen);
int store_ref_get(struct img_store *s, const char *name, char digest[72]);
int store_ref_rm(struct img_store *s, const char *name);	/* -ENOENT */
/* Call fn for every name; the count, or -errno. */
typedef void (*store_ref_fn)(void *ctx, const char *name, const char *manifest);
int store_refs(struct img_store *s, store_ref_fn fn, void *ctx);
/* Remove the blobs and roots no named image reaches. *freed: bytes. */
int store_gc(struct img_store *s, uint64_t *freed);
/* Bytes the store's blobs and roots take on disk. */
uint64_t store_usage(struct img_store *s);

/* ---- archive.c: images from files ------------------------------------- */

/* Import a docker/podman save archive, an oci-archive tarball (either
 * maybe gzipped) or an OCI layout directory into the store: every blob
 * verified, the linux/amd64 image chosen, its chain checked. name (in:
 * the name to give it, or empty; out: the archive's own name when it had
 * one and none was given) is set as a ref. 0 with manifest set, or -errno
 * with err. */
int image_import(struct img_store *s, const char *file, char *name, size_t namelen,
		 char manifest[72], char *err, size_t errlen);

/* ---- root.c: an image's root filesystem -------------------------------- */

/* Uncompressed bytes of all of an image's layers: past it, a bomb. */
#define IMAGE_MAX_BYTES (64ull << 30)

/* The root filesystem of the image whose manifest is in the store: built
 * once (layers applied, at most max bytes uncompressed in all) into
 * roots/HEX.erofs, path relative to the store. img gets the manifest and
 * config (oci_image_free it). 0 or -errno with err naming the layer. */
int image_root(struct img_store *s, const char *manifest, uint64_t max,
	       struct oci_image *img, char path[128], char *err, size_t errlen);

/* ---- use.c: a reference as a run uses it ------------------------------- */

struct image_use {
	char manifest[72];
	char root[4096 + 128];	/* absolute path of the EROFS root */
	char **env;		/* the image's Env, NULL-terminated (owned) */
	char workdir[1024];
	char user[256];
};

/* Resolve ref (an archive path, "sha256:..." or a stored name), build its
 * root once. 0, or -errno with err saying what to do. */
int image_use(const char *ref, struct image_use *u, char *err, size_t errlen);
/* The bomb bound: IMAGE_MAX_BYTES, or $VOIDBOX_IMAGE_MAX_BYTES if lower. */
uint64_t image_max_bytes(void);
void image_use_free(struct image_use *u);

/* ---- registry.c: pulls (the OCI distribution API) ---------------------- */

struct pull_opts {
	bool plain_http;	/* http:// for this registry (else loopback only) */
};

/* Pull [HOST[:PORT]/]REPO[:TAG][@DIGEST] into the store (linux/amd64;
 * layers the store has are not fetched; cut blobs resume) and name it
 * ref. 0 with manifest set, or -errno with err. Progress on stderr. */
int registry_pull(struct img_store *s, const char *ref, const struct pull_opts *o,
		  char manifest[72], char *err, size_t errlen);

#endif
