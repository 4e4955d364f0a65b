/* erofs.c: write an uncompressed EROFS image from a stream of entries
 * (image.h). The on-disk format is the kernel's (fs/erofs/erofs_fs.h,
 * Documentation/filesystems/erofs.rst); what we use of it:
 *
 *   block 0          the superblock at byte 1024
 *   blocks 1..       file data as it arrives (FLAT_PLAIN: one contiguous
 *                    run of blocks per file), then directory blocks and
 *                    symlink targets, written by erofs_finish
 *   meta_blkaddr..   the inodes, 64-byte "extended" ones (32-bit ids, a
 *                    real mtime, 32-bit nlink); nid = offset / 32 from
 *                    meta_blkaddr, the root first (the superblock holds
 *                    its nid in 16 bits)
 *
 * File data goes straight to the image while the layer streams by; a file
 * a later layer replaces leaves its blocks behind as dead space (layers
 * rarely rewrite much; one pass over each layer is worth it). Directory
 * blocks hold sorted 12-byte dirents then the names, as the kernel's
 * binary search expects; "." and ".." are entries too.
 *
 * Everything is bounded: EROFS_MAX_NODES entries, EROFS_MAX_DEPTH
 * components, NAME_MAX per name, EROFS_MAX_LINK per symlink target, and
 * image blocks within 32 bits.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "image.h"

#define EROFS_MAGIC		0xE0F5E1E2u
#define EROFS_SB_OFF		1024
#define EROFS_ISLOT		32	/* nid unit */
#define EROFS_INODE_EXT_SZ	64
#define EROFS_DIRENT_SZ		12
#define EROFS_FMT_EXTENDED	1	/* i_format bit 0; layout 0: FLAT_PLAIN */
#define EROFS_MAX_BLOCKS	0xffffffffull

enum { FT_UNKNOWN, FT_REG, FT_DIR, FT_CHR, FT_BLK, FT_FIFO, FT_SOCK, FT_LNK };

struct einode {
	struct erofs_meta m;
	uint64_t size;
	uint32_t blkaddr;	/* FLAT_PLAIN data start */
	char *link;
	unsigned names;		/* directory entries naming it (hard links) */
	unsigned subdirs;	/* a directory's child directories */
	uint64_t nid;
	uint32_t ino;
	bool placed;
};

struct enode {
	char *name;
	struct enode *parent;
	struct einode *ino;
	struct enode **kids;	/* directories only; sorted by erofs_finish */
	unsigned nkids, capkids;
	unsigned layer;
	unsigned idx;		/* in parent->kids (until erofs_finish sorts) */
	struct enode *hnext;	/* chain of w->hb */
};

struct erofs_w {
	int fd;
	struct enode *root;
	uint64_t next_blk;	/* first free block */
	unsigned nodes, layer;
	uint32_t next_ino;
	/* Every entry but the root by (parent, name): a lookup per path
	 * component, so a layer's 100,000-entry directory costs no more per
	 * entry than a small one. Chained, grown to keep chains short. */
	struct enode **hb;
	size_t hcap;		/* a power of two, or 0 */
	int last;		/* errno of the last failure */
	char err[256];
};

static int fail(struct erofs_w *w, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct erofs_w *w, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	w->last = e;
	return -e;
}

const char *erofs_error(const struct erofs_w *w)
{
	return w->err;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

static int pwrite_all(struct erofs_w *w, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = pwrite(w->fd, b, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return fail(w, r < 0 ? errno : EIO, "writing the image: %s",
				    strerror(r < 0 ? errno : EIO));
		b += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* ---- the tree ---------------------------------------------------------- */

static struct einode *inode_new(const struct erofs_meta *m)
{
	struct einode *i = calloc(1, sizeof(*i));

	if (i)
		i->m = *m;
	return i;
}

static void inode_put(struct einode *i)
{
	if (i && --i->names == 0) {
		free(i->link);
		free(i);
	}
}

static size_t hkey(const struct enode *d, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)d;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static void hash_del(struct erofs_w *w, struct enode *n)
{
	if (!w->hcap)
		return;
	struct enode **pp = &w->hb[hkey(n->parent, n->name, strlen(n->name)) & (w->hcap - 1)];
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == n) {
			*pp = n->hnext;
			return;
		}
}

/* Room for one more entry: the table doubles past one entry per chain. */
static int hash_grow(struct erofs_w *w)
{
	if (w->nodes < w->hcap)
		return 0;
	size_t cap = w->hcap ? w->hcap * 2 : 1024;
	struct enode **hb = calloc(cap, sizeof(*hb));
	if (!hb)
		return -ENOMEM;
	for (size_t b = 0; b < w->hcap; b++)
		for (struct enode *n = w->hb[b], *next; n; n = next) {
			next = n->hnext;
			size_t k = hkey(n->parent, n->name, strlen(n->name)) & (cap - 1);
			n->hnext = hb[k];
			hb[k] = n;
		}
	free(w->hb);
	w->hb = hb;
	w->hcap = cap;
	return 0;
}

static void node_free(struct erofs_w *w, struct enode *n)
{
	if (!n)
		return;
	for (unsigned k = 0; k < n->nkids; k++)
		node_free(w, n->kids[k]);
	if (n->parent)
		hash_del(w, n);
	free(n->kids);
	inode_put(n->ino);
	free(n->name);
	free(n);
	w->nodes--;
}

static struct enode *kid_find(const struct erofs_w *w, const struct enode *d,
			      const char *name, size_t len, unsigned *at)
{
	if (!w->hcap)
		return NULL;
	for (struct enode *n = w->hb[hkey(d, name, len) & (w->hcap - 1)]; n; n = n->hnext)
		if (n->parent == d && !strncmp(n->name, name, len) && !n->name[len]) {
			if (at)
				*at = n->idx;
			return n;
		}
	return NULL;
}

static void kid_drop(struct erofs_w *w, struct enode *d, unsigned k)
{
	node_free(w, d->kids[k]);
	d->kids[k] = d->kids[--d->nkids];
	if (k < d->nkids)
		d->kids[k]->idx = k;
}

/* A new child NAME of d holding ino (one more name of it). */
static struct enode *kid_add(struct erofs_w *w, struct enode *d,
			     const char *name, size_t len, struct einode *ino)
{
	if (w->nodes >= EROFS_MAX_NODES) {
		fail(w, EFBIG, "more than %u entries in the image", EROFS_MAX_NODES);
		return NULL;
	}
	if (hash_grow(w) < 0) {
		fail(w, ENOMEM, "out of memory");
		return NULL;
	}
	if (d->nkids == d->capkids) {
		unsigned cap = d->capkids ? d->capkids * 2 : 8;
		struct enode **k = realloc(d->kids, cap * sizeof(*k));
		if (!k) {
			fail(w, ENOMEM, "out of memory");
			return NULL;
		}
		d->kids = k;
		d->capkids = cap;
	}
	struct enode *n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strndup(name, len))) {
		free(n);
		fail(w, ENOMEM, "out of memory");
		return NULL;
	}
	n->parent = d;
	n->ino = ino;
	n->layer = w->layer;
	ino->names++;
	n->idx = d->nkids;
	d->kids[d->nkids++] = n;
	size_t b = hkey(d, n->name, len) & (w->hcap - 1);
	n->hnext = w->hb[b];
	w->hb[b] = n;
	w->nodes++;
	return n;
}

static const struct erofs_meta dir_default = { .mode = S_IFDIR | 0755 };

/* Walk PATH's components: the directory holding the last one (made when
 * missing and make is set), and the last component in *name and *len (empty
 * for the root itself). NULL with w's error when the path is bad or a
 * component on the way is not a directory. */
static struct enode *walk(struct erofs_w *w, const char *path, bool make,
			  const char **name, size_t *len)
{
	struct enode *d = w->root;
	const char *p = path;
	unsigned depth = 0;

	*name = "";
	*len = 0;
	/* The whole path is checked before anything is made: a refused path
	 * leaves no directories behind. */
	for (const char *s = path; *s;) {
		while (*s == '/')
			s++;
		const char *c = s;
		while (*s && *s != '/')
			s++;
		size_t l = (size_t)(s - c);
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			fail(w, EINVAL, "%.200s: a '..' component", path);
			return NULL;
		}
		if (l > NAME_MAX || (l && ++depth > EROFS_MAX_DEPTH)) {
			fail(w, ENAMETOOLONG, "%.200s: name too long or too deep", path);
			return NULL;
		}
	}
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			return d;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t l = (size_t)(p - s);
		if (l == 1 && s[0] == '.')
			continue;
		const char *q = p;
		while (*q == '/')
			q++;
		if (!*q || (q[0] == '.' && (!q[1] || (q[1] == '/' && !q[2])))) {
			*name = s;
			*len = l;
			return d;
		}
		struct enode *n = kid_find(w, d, s, l, NULL);
		if (!n && make) {
			struct einode *i = inode_new(&dir_default);
			if (!i || !(n = kid_add(w, d, s, l, i))) {
				free(i);
				if (!i)
					fail(w, ENOMEM, "out of memory");
				return NULL;
			}
		}
		if (!n || !S_ISDIR(n->ino->m.mode)) {
			fail(w, n ? ENOTDIR : ENOENT, "%.200s: %.*s is %s", path,
			     (int)l, s, n ? "not a directory" : "missing");
			return NULL;
		}
		d = n;
	}
}

struct erofs_w *erofs_open(int fd, char *err, size_t errlen)
{
	struct erofs_w *w = calloc(1, sizeof(*w));
	struct einode *ri = inode_new(&dir_default);

	if (!w || !ri || !(w->root = calloc(1, sizeof(*w->root))) ||
	    !(w->root->name = strdup(""))) {
		if (w)
			free(w->root);
		free(w);
		free(ri);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->fd = fd;
	w->root->ino = ri;
	ri->names = 1;
	w->nodes = 1;
	w->next_blk = 1;
	return w;
}

void erofs_layer(struct erofs_w *w, unsigned n)
{
	w->layer = n;
}

/* Copy size bytes from read() to the data area; *blk where they start. */
static int put_data(struct erofs_w *w, uint64_t size, erofs_read_fn rd,
		    void *ctx, uint32_t *blk)
{
	uint64_t nblk = (size + EROFS_BLKSZ - 1) / EROFS_BLKSZ;
	static __thread uint8_t buf[64 * 1024];
	uint64_t off = w->next_blk * EROFS_BLKSZ, left = size;

	if (w->next_blk + nblk > EROFS_MAX_BLOCKS)
		return fail(w, EFBIG, "the image would pass %llu blocks",
			    (unsigned long long)EROFS_MAX_BLOCKS);
	*blk = size ? (uint32_t)w->next_blk : 0;
	while (left) {
		size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t r = rd(ctx, buf, want);
		if (r < 0)
			return fail(w, (int)-r, "reading entry data: %s", strerror((int)-r));
		if (r == 0)
			return fail(w, EIO, "entry data ends %llu bytes early",
				    (unsigned long long)left);
		int e = pwrite_all(w, buf, (size_t)r, off);
		if (e < 0)
			return e;
		off += (uint64_t)r;
		left -= (uint64_t)r;
	}
	w->next_blk += nblk;
	return 0;
}

int erofs_add(struct erofs_w *w, const char *path, const struct erofs_meta *m,
	      uint64_t size, erofs_read_fn rd, void *ctx, const char *link)
{
	const char *name;
	size_t len;
	unsigned at;
	struct enode *d = walk(w, path, true, &name, &len);

	if (!d)
		return -w->last;
	switch (m->mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK:
	case S_IFIFO: case S_IFSOCK:
		break;
	default:
		return fail(w, EINVAL, "%.200s: unknown file type 0%o", path,
			    (unsigned)(m->mode & S_IFMT));
	}
	if (S_ISLNK(m->mode) && (!link || !link[0] || strlen(link) > EROFS_MAX_LINK))
		return fail(w, EINVAL, "%.200s: symlink target empty or too long", path);
	if (!len) {	/* the root itself: a directory's metadata only */
		if (!S_ISDIR(m->mode))
			return fail(w, EINVAL, "%.200s: the root must be a directory", path);
		w->root->ino->m = *m;
		return 0;
	}
	struct enode *old = kid_find(w, d, name, len, &at);
	if (old && S_ISDIR(old->ino->m.mode) && S_ISDIR(m->mode)) {
		old->ino->m = *m;
		old->layer = w->layer;
		return 0;
	}
	struct einode *i = inode_new(m);
	if (!i)
		return fail(w, ENOMEM, "out of memory");
	int e = 0;
	if (S_ISREG(m->mode)) {
		i->size = size;
		e = put_data(w, size, rd, ctx, &i->blkaddr);
	} else if (S_ISLNK(m->mode)) {
		i->size = strlen(link);
		if (!(i->link = strdup(link)))
			e = fail(w, ENOMEM, "out of memory");
	}
	if (e < 0) {
		free(i);
		return e;
	}
	if (old)
		kid_drop(w, d, at);
	if (!kid_add(w, d, name, len, i)) {
		free(i->link);
		free(i);
		return -ENOMEM;
	}
	return 0;
}

int erofs_link(struct erofs_w *w, const char *path, const char *target)
{
	const char *tn, *name;
	size_t tl, len;
	unsigned at;
	struct enode *td = walk(w, target, false, &tn, &tl);
	struct enode *t = td && tl ? kid_find(w, td, tn, tl, NULL) : NULL;

	if (!t)
		return fail(w, ENOENT, "hard link %.200s: no target %.200s", path, target);
	if (S_ISDIR(t->ino->m.mode))
		return fail(w, EPERM, "hard link %.200s: %.200s is a directory", path, target);
	struct enode *d = walk(w, path, true, &name, &len);
	if (!d || !len)
		return d ? fail(w, EINVAL, "hard link to the root") : -w->last;
	struct enode *old = kid_find(w, d, name, len, &at);
	if (old == t)
		return 0;
	struct einode *i = t->ino;
	i->names++;	/* held while the old entry (maybe its last name) goes */
	if (old)
		kid_drop(w, d, at);
	struct enode *n = kid_add(w, d, name, len, i);
	inode_put(i);
	return n ? 0 : -ENOMEM;
}

int erofs_remove(struct erofs_w *w, const char *path)
{
	const char *name;
	size_t len;
	unsigned at;
	struct enode *d = walk(w, path, false, &name, &len);

	if (!d || !len) {	/* a missing parent: nothing to remove */
		w->err[0] = '\0';
		return 0;
	}
	if (kid_find(w, d, name, len, &at))
		kid_drop(w, d, at);
	return 0;
}

int erofs_opaque(struct erofs_w *w, const char *dir)
{
	const char *name;
	size_t len;
	struct enode *d = walk(w, dir, true, &name, &len);

	if (!d)
		return -w->last;
	if (len) {
		struct enode *n = kid_find(w, d, name, len, NULL);
		if (!n)
			return 0;	/* nothing below to hide */
		if (!S_ISDIR(n->ino->m.mode))
			return fail(w, ENOTDIR, "opaque %.200s: not a directory", dir);
		d = n;
	}
	for (unsigned k = 0; k < d->nkids;)
		if (d->kids[k]->layer < w->layer)
			kid_drop(w, d, k);
		else
			k++;
	return 0;
}

void erofs_abort(struct erofs_w *w)
{
	if (!w)
		return;
	node_free(w, w->root);
	free(w->hb);
	free(w);
}

/* ---- layout (erofs_finish) -------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct enode *const *)a)->name,
		      (*(struct enode *const *)b)->name);
}

static uint8_t ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return FT_REG;
	case S_IFDIR: return FT_DIR;
	case S_IFCHR: return FT_CHR;
	case S_IFBLK: return FT_BLK;
	case S_IFIFO: return FT_FIFO;
	case S_IFSOCK: return FT_SOCK;
	case S_IFLNK: return FT_LNK;
	}
	return FT_UNKNOWN;
}

/* One directory entry as laid out: name, nid, type. */
struct dent {
	const char *name;
	uint64_t nid;
	uint8_t type;
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* Write directory d's blocks (its kids sorted, nids assigned). */
static int put_dir(struct erofs_w *w, struct enode *d, uint8_t *blk)
{
	unsigned n = d->nkids + 2;
	struct dent *e = malloc(n * sizeof(*e));

	if (!e)
		return fail(w, ENOMEM, "out of memory");
	e[0] = (struct dent){ ".", d->ino->nid, FT_DIR };
	e[1] = (struct dent){ "..", (d->parent ? d->parent : d)->ino->nid, FT_DIR };
	for (unsigned k = 0; k < d->nkids; k++)
		e[k + 2] = (struct dent){ d->kids[k]->name, d->kids[k]->ino->nid,
					  ftype(d->kids[k]->ino->m.mode) };
	qsort(e, n, sizeof(*e), dent_cmp);
	d->ino->blkaddr = (uint32_t)w->next_blk;
	uint64_t size = 0;
	int err = 0;
	for (unsigned s = 0; s < n && !err;) {
		unsigned k = 0;
		size_t names = 0;
		while (s + k < n && EROFS_DIRENT_SZ * (k + 1) + names +
		       strlen(e[s + k].name) <= EROFS_BLKSZ)
			names += strlen(e[s + k++].name);
		memset(blk, 0, EROFS_BLKSZ);
		size_t off = EROFS_DIRENT_SZ * k;
		for (unsigned j = 0; j < k; j++) {
			uint8_t *de = blk + EROFS_DIRENT_SZ * j;
			size_t l = strlen(e[s + j].name);
			put64(de, e[s + j].nid);
			put16(de + 8, (uint16_t)off);
			de[10] = e[s + j].type;
			memcpy(blk + off, e[s + j].name, l);
			off += l;
		}
		s += k;
		if (w->next_blk + 1 > EROFS_MAX_BLOCKS)
			err = fail(w, EFBIG, "the image would pass its block limit");
		else
			err = pwrite_all(w, blk, EROFS_BLKSZ, w->next_blk * EROFS_BLKSZ);
		w->next_blk++;
		/* The last block counts only as far as its last name. */
		size += s < n ? EROFS_BLKSZ : off;
	}
	d->ino->size = size;
	free(e);
	return err;
}

static void put_inode(uint8_t *p, const struct einode *i)
{
	uint32_t u = 0;

	memset(p, 0, EROFS_INODE_EXT_SZ);
	if (S_ISCHR(i->m.mode) || S_ISBLK(i->m.mode))
		u = (i->m.rdev_minor & 0xff) | (i->m.rdev_major << 8) |
		    ((i->m.rdev_minor & ~0xffu) << 12);
	else if (S_ISREG(i->m.mode) || S_ISDIR(i->m.mode) || S_ISLNK(i->m.mode))
		u = i->blkaddr;
	put16(p, EROFS_FMT_EXTENDED);
	put16(p + 4, (uint16_t)i->m.mode);
	put64(p + 8, i->size);
	put32(p + 16, u);
	put32(p + 20, i->ino);
	put32(p + 24, i->m.uid);
	put32(p + 28, i->m.gid);
	put64(p + 32, i->m.mtime > 0 ? (uint64_t)i->m.mtime : 0);
	put32(p + 40, i->m.mtime_ns < 1000000000u ? i->m.mtime_ns : 0);
	put32(p + 44, S_ISDIR(i->m.mode) ? 2 + i->subdirs : i->names);
}

static ssize_t read_mem(void *ctx, void *buf, size_t n)
{
	const char **p = ctx;

	memcpy(buf, *p, n);
	*p += n;
	return (ssize_t)n;
}

int erofs_finish(struct erofs_w *w, uint64_t *blocks, char *err, size_t errlen)
{
	struct enode **q = malloc(w->nodes * sizeof(*q));
	uint8_t *blk = malloc(EROFS_BLKSZ);
	unsigned nq = 0, inos = 0;
	uint64_t slots = 0;
	int e = 0;

	if (!q || !blk) {
		e = fail(w, ENOMEM, "out of memory");
		goto out;
	}
	/* Breadth first from the root: every inode once (hard links share
	 * one), two 32-byte slots each; the root gets nid 0. */
	q[nq++] = w->root;
	for (unsigned h = 0; h < nq; h++) {
		struct enode *n = q[h];
		struct einode *i = n->ino;
		if (!i->placed) {
			i->placed = true;
			i->nid = slots;
			i->ino = ++w->next_ino;
			slots += EROFS_INODE_EXT_SZ / EROFS_ISLOT;
			inos++;
		}
		if (!S_ISDIR(i->m.mode))
			continue;
		if (n->nkids)
			qsort(n->kids, n->nkids, sizeof(*n->kids), name_cmp);
		i->subdirs = 0;
		for (unsigned k = 0; k < n->nkids; k++) {
			q[nq++] = n->kids[k];
			i->subdirs += S_ISDIR(n->kids[k]->ino->m.mode);
		}
	}
	/* Directory blocks and symlink targets after the file data. */
	for (unsigned h = 0; h < nq && !e; h++) {
		struct einode *i = q[h]->ino;
		if (S_ISDIR(i->m.mode)) {
			e = put_dir(w, q[h], blk);
		} else if (S_ISLNK(i->m.mode) && !i->blkaddr) {
			const char *p = i->link;
			e = put_data(w, i->size, read_mem, &p, &i->blkaddr);
		}
	}
	if (e)
		goto out;
	uint64_t meta = w->next_blk;
	uint64_t total = meta + (slots * EROFS_ISLOT + EROFS_BLKSZ - 1) / EROFS_BLKSZ;
	if (total > EROFS_MAX_BLOCKS) {
		e = fail(w, EFBIG, "the image would pass its block limit");
		goto out;
	}
	/* The inodes, in one pass over the placed ones (a block at a time
	 * would need a second index; slots are few: 64 bytes per inode). */
	uint8_t ib[EROFS_INODE_EXT_SZ];
	for (unsigned h = 0; h < nq && !e; h++) {
		struct einode *i = q[h]->ino;
		if (!i->placed)
			continue;
		i->placed = false;	/* written: a second name skips it */
		put_inode(ib, i);
		e = pwrite_all(w, ib, sizeof(ib), meta * EROFS_BLKSZ + i->nid * EROFS_ISLOT);
	}
	/* The last block whole, so the file's size is the image's. */
	if (!e && ftruncate(w->fd, (off_t)(total * EROFS_BLKSZ)) < 0)
		e = fail(w, errno, "sizing the image: %s", strerror(errno));
	if (e)
		goto out;
	uint8_t sb[128] = { 0 };
	put32(sb, EROFS_MAGIC);
	sb[12] = 12;			/* blkszbits: 4096 */
	put16(sb + 14, (uint16_t)w->root->ino->nid);
	put64(sb + 16, inos);
	put32(sb + 36, (uint32_t)total);
	put32(sb + 40, (uint32_t)meta);
	e = pwrite_all(w, sb, sizeof(sb), EROFS_SB_OFF);
	if (!e && blocks)
		*blocks = total;
out:
	if (e)
		snprintf(err, errlen, "%s", w->err);
	free(q);
	free(blk);
	erofs_abort(w);
	return e;
}
