/* tar.c: apply one image layer (a tar stream) to the EROFS writer.
 *
 * What a layer can hold (POSIX ustar, pax extended headers, GNU long
 * names, base-256 numbers) is read; what it means for an image follows the
 * OCI image spec's layer rules: ".wh.NAME" removes NAME from the layers
 * below, ".wh..wh..opq" empties its directory of them, and the whiteout
 * entries themselves are not part of the result.
 *
 * A layer is hostile input: every header's checksum is verified, numbers
 * are bounded, pax records and long names have a size limit, ".." paths
 * are refused (erofs_add), and a layer that ends inside an entry is an
 * error naming the entry. pax xattrs (SCHILY.xattr.*) are not kept: the
 * image has no xattrs (file capabilities are lost; said in the docs).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"

#define TAR_BLK		512
#define TAR_MAX_EXT	(1u << 20)	/* a pax header or GNU long name */


static int terr(struct tar_rd *t, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int terr(struct tar_rd *t, int e, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(t->err, t->errlen, "entry %llu: ",
			 (unsigned long long)t->n + 1);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < t->errlen)
		vsnprintf(t->err + n, t->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -e;
}

/* Exactly n bytes, or an error (a short layer is one). */
static int get(struct tar_rd *t, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = t->rd(t->ctx, p, n);
		if (r < 0)
			return terr(t, (int)-r, "reading the layer: %s", strerror((int)-r));
		if (r == 0)
			return terr(t, EIO, "the layer ends inside an entry");
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int skip(struct tar_rd *t, uint64_t n)
{
	uint8_t b[4096];

	while (n) {
		size_t k = n < sizeof(b) ? (size_t)n : sizeof(b);
		int e = get(t, b, k);
		if (e)
			return e;
		n -= k;
	}
	return 0;
}

static uint64_t pad(uint64_t n)
{
	return (TAR_BLK - n % TAR_BLK) % TAR_BLK;
}

/* An octal or base-256 number field; false when malformed or too big. */
static bool num(const uint8_t *f, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (f[0] & 0x80) {	/* base-256, big endian, first byte's top bit set */
		if (f[0] & 0x40)
			return false;	/* negative */
		v = f[0] & 0x3f;
		for (size_t i = 1; i < len; i++) {
			if (v > (UINT64_MAX >> 8))
				return false;
			v = v << 8 | f[i];
		}
	} else {
		size_t i = 0;
		while (i < len && f[i] == ' ')
			i++;
		for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
			if (v > (UINT64_MAX >> 3))
				return false;
			v = v << 3 | (uint64_t)(f[i] - '0');
		}
		for (; i < len; i++)
			if (f[i] != ' ' && f[i] != '\0')
				return false;
	}
	*out = v;
	return v <= max;
}

static bool checksum_ok(const uint8_t *h)
{
	uint64_t want;
	unsigned long u = 0;
	long s = 0;

	if (!num(h + 148, 8, 0xffffff, &want))
		return false;
	for (int i = 0; i < TAR_BLK; i++) {
		uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
		u += c;
		s += (signed char)c;
	}
	return u == want || (uint64_t)s == want;	/* some old tars sum signed */
}

/* The data of an extended header (pax or GNU long name), NUL-ended. */
static int ext_read(struct tar_rd *t, uint64_t size, char **out)
{
	if (size > TAR_MAX_EXT)
		return terr(t, EFBIG, "an extended header of %llu bytes (at most %u)",
			    (unsigned long long)size, TAR_MAX_EXT);
	char *b = malloc(size + 1);
	if (!b)
		return terr(t, ENOMEM, "out of memory");
	int e = get(t, b, size);
	if (!e)
		e = skip(t, pad(size));
	if (e) {
		free(b);
		return e;
	}
	b[size] = '\0';
	free(*out);
	*out = b;
	return 0;
}

static void pax_clear(struct tar_pax *x)
{
	free(x->path);
	free(x->link);
	memset(x, 0, sizeof(*x));
}

static bool dec(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return false;
	*out = v;
	return true;
}

/* "LEN key=value\n" records: the ones an image needs are kept in x. */
static int pax_parse(struct tar_rd *t, const char *b, size_t n, struct tar_pax *x)
{
	size_t off = 0;

	while (off < n) {
		char *end;
		unsigned long len = strtoul(b + off, &end, 10);
		const char *kv = end + 1;
		if (end == b + off || *end != ' ' || len < 5 || len > n - off ||
		    b[off + len - 1] != '\n')
			return terr(t, EINVAL, "a malformed pax record");
		const char *eq = memchr(kv, '=', (size_t)(b + off + len - 1 - kv));
		if (!eq)
			return terr(t, EINVAL, "a pax record without '='");
		size_t kl = (size_t)(eq - kv), vl = (size_t)(b + off + len - 1 - eq - 1);
		char v[TAR_PATH_MAX + 1];
		bool fits = vl <= TAR_PATH_MAX;
		if (fits) {
			memcpy(v, eq + 1, vl);
			v[vl] = '\0';
		}
#define KEY(k) (kl == sizeof(k) - 1 && !memcmp(kv, k, kl))
		if (KEY("path") || KEY("linkpath")) {
			if (!fits || memchr(v, '\0', vl))
				return terr(t, ENAMETOOLONG, "a pax %.*s too long", (int)kl, kv);
			char **dst = KEY("path") ? &x->path : &x->link;
			free(*dst);
			if (!(*dst = strdup(v)))
				return terr(t, ENOMEM, "out of memory");
		} else if (KEY("size") || KEY("uid") || KEY("gid")) {
			uint64_t val;
			if (!fits || !dec(v, KEY("size") ? (1ull << 40) : UINT32_MAX, &val))
				return terr(t, EINVAL, "a bad pax %.*s", (int)kl, kv);
			if (KEY("size"))
				x->size = val, x->has_size = true;
			else if (KEY("uid"))
				x->uid = val, x->has_uid = true;
			else
				x->gid = val, x->has_gid = true;
		} else if (KEY("mtime") && fits) {
			char *dot = strchr(v, '.');
			uint64_t sec, frac = 0;
			if (dot)
				*dot = '\0';
			if (dec(v, (1ull << 40), &sec)) {
				x->mtime = (int64_t)sec;
				x->has_mtime = true;
				if (dot) {	/* nanoseconds from up to 9 digits */
					int d = 0;
					for (const char *p = dot + 1; *p >= '0' && *p <= '9' && d < 9; p++, d++)
						frac = frac * 10 + (uint64_t)(*p - '0');
					for (; d < 9; d++)
						frac *= 10;
					x->mtime_ns = (uint32_t)frac;
				}
			}
		}
#undef KEY
		off += len;
	}
	return 0;
}

/* Entry data for whoever consumes it (erofs_add, the blob store). */
ssize_t tar_data(void *ctx, void *buf, size_t n)
{
	struct tar_rd *t = ctx;

	if (n > t->left)
		n = (size_t)t->left;
	if (!n)
		return 0;
	ssize_t r = t->rd(t->ctx, buf, n);
	if (r > 0)
		t->left -= (uint64_t)r;
	return r;
}

void tar_init(struct tar_rd *t, erofs_read_fn rd, void *ctx, char *err,
	      size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->rd = rd;
	t->ctx = ctx;
	t->err = err;
	t->errlen = errlen;
	t->n = (uint64_t)-1;
}

void tar_done(struct tar_rd *t)
{
	pax_clear(&t->g);
}

int tar_next(struct tar_rd *t, struct tar_entry *te)
{
	struct tar_pax x = { 0 };
	char *longname = NULL, *longlink = NULL;
	uint8_t h[TAR_BLK];
	int e = 0;

	/* What the consumer left of the last entry, and its padding. */
	if (t->n != (uint64_t)-1 && (e = skip(t, t->left + t->pad)))
		return e;
	t->left = t->pad = 0;
	for (t->n++;; t->n++) {
		ssize_t r = 0;
		size_t got = 0;
		while (got < TAR_BLK && (r = t->rd(t->ctx, h + got, TAR_BLK - got)) > 0)
			got += (size_t)r;
		if (r < 0) {
			e = terr(t, (int)-r, "reading: %s", strerror((int)-r));
			break;
		}
		static const uint8_t zero[TAR_BLK];
		if (got == 0 || (got == TAR_BLK && !memcmp(h, zero, TAR_BLK)))
			break;	/* the end (end blocks optional, as for tar) */
		if (got < TAR_BLK) {
			e = terr(t, EIO, "the stream ends inside a header");
			break;
		}
		if (!checksum_ok(h)) {
			e = terr(t, EINVAL, "bad header checksum (not a tar stream, or damaged)");
			break;
		}
		uint64_t size, mode, uid, gid, mtime, maj = 0, min = 0;
		if (!num(h + 124, 12, 1ull << 40, &size) || !num(h + 100, 8, 07777777, &mode) ||
		    !num(h + 108, 8, UINT32_MAX, &uid) || !num(h + 116, 8, UINT32_MAX, &gid) ||
		    !num(h + 136, 12, 1ull << 40, &mtime) ||
		    ((h[156] == '3' || h[156] == '4') &&
		     (!num(h + 329, 8, 0xfff, &maj) || !num(h + 337, 8, 0xfffff, &min)))) {
			e = terr(t, EINVAL, "a malformed number in the header");
			break;
		}
		char type = (char)h[156];
		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			char *b = NULL;
			if ((e = ext_read(t, size, &b)))
				break;
			if (type == 'L' || type == 'K') {
				char **dst = type == 'L' ? &longname : &longlink;
				free(*dst);
				*dst = b;
				if (strlen(b) > TAR_PATH_MAX) {
					e = terr(t, ENAMETOOLONG, "a GNU long name over %d bytes", TAR_PATH_MAX);
					break;
				}
				continue;
			}
			e = pax_parse(t, b, size, type == 'x' ? &x : &t->g);
			free(b);
			if (e)
				break;
			continue;
		}
		/* The entry's own fields, overridden by pax (entry, then global)
		 * and GNU long names. */
		if (x.path || longname)
			snprintf(te->path, sizeof(te->path), "%s", x.path ? x.path : longname);
		else if (h[345] && !memcmp(h + 257, "ustar\0", 6))
			snprintf(te->path, sizeof(te->path), "%.155s/%.100s", (char *)h + 345, (char *)h);
		else
			snprintf(te->path, sizeof(te->path), "%.100s", (char *)h);
		if (x.link || longlink)
			snprintf(te->link, sizeof(te->link), "%s", x.link ? x.link : longlink);
		else
			snprintf(te->link, sizeof(te->link), "%.100s", (char *)h + 157);
		struct tar_pax *g = &t->g;
		if (x.has_size || g->has_size)
			size = x.has_size ? x.size : g->size;
		if (x.has_uid || g->has_uid)
			uid = x.has_uid ? x.uid : g->uid;
		if (x.has_gid || g->has_gid)
			gid = x.has_gid ? x.gid : g->gid;
		/* A directory entry may end in '/'. */
		size_t pl = strlen(te->path);
		while (pl > 1 && te->path[pl - 1] == '/')
			te->path[--pl] = '\0';
		te->type = type;
		te->size = size;
		te->m = (struct erofs_meta){
			.mode = (mode_t)mode & 07777,
			.uid = (uint32_t)uid, .gid = (uint32_t)gid,
			.mtime = x.has_mtime ? x.mtime : (int64_t)mtime,
			.mtime_ns = x.has_mtime ? x.mtime_ns : 0,
			.rdev_major = (uint32_t)maj, .rdev_minor = (uint32_t)min,
		};
		/* Only regular files' data is theirs to read; the rest is skipped. */
		t->left = size;
		t->pad = pad(size);
		e = 1;
		break;
	}
	pax_clear(&x);
	free(longname);
	free(longlink);
	return e;
}

/* One whiteout entry (basename starts ".wh."): applied, not added. */
static int whiteout(struct tar_rd *t, struct erofs_w *w, const char *path,
		    const char *base)
{
	char p[TAR_PATH_MAX + 1];
	size_t dl = (size_t)(base - path);
	int e;

	if (!strcmp(base, ".wh..wh..opq")) {
		snprintf(p, sizeof(p), "%.*s", (int)dl, path);
		e = erofs_opaque(w, p[0] ? p : ".");
	} else {
		snprintf(p, sizeof(p), "%.*s%s", (int)dl, path, base + 4);
		e = erofs_remove(w, p);
	}
	return e ? terr(t, -e, "whiteout %s: %s", path, erofs_error(w)) : 0;
}

/* One entry into the image. 0 or -errno with the error set. */
static int apply_one(struct tar_rd *t, struct erofs_w *w, struct tar_entry *te)
{
	const char *base = strrchr(te->path, '/');
	struct erofs_meta m = te->m;
	mode_t perm = m.mode;
	int e;

	base = base ? base + 1 : te->path;
	if (!strncmp(base, ".wh.", 4))
		return whiteout(t, w, te->path, base);
	switch (te->type) {
	case '0': case '\0': case '7':
		m.mode = S_IFREG | perm;
		e = erofs_add(w, te->path, &m, te->size, tar_data, t, NULL);
		if (e && strncmp(erofs_error(w), te->path, strlen(te->path)))
			return terr(t, -e, "%s: %s", te->path, erofs_error(w));
		return e ? terr(t, -e, "%s", erofs_error(w)) : 0;
	case '1':
		e = erofs_link(w, te->path, te->link);
		return e ? terr(t, -e, "%s", erofs_error(w)) : 0;
	case '2': m.mode = S_IFLNK | 0777; break;
	case '3': m.mode = S_IFCHR | perm; break;
	case '4': m.mode = S_IFBLK | perm; break;
	case '5': m.mode = S_IFDIR | perm; break;
	case '6': m.mode = S_IFIFO | perm; break;
	default:
		return terr(t, EINVAL, "%s: unsupported entry type '%c'", te->path,
			    te->type > ' ' && te->type < 127 ? te->type : '?');
	}
	e = erofs_add(w, te->path, &m, 0, NULL, NULL, te->type == '2' ? te->link : NULL);
	return e ? terr(t, -e, "%s", erofs_error(w)) : 0;
}

int tar_apply(struct erofs_w *w, erofs_read_fn rd, void *ctx, char *err,
	      size_t errlen)
{
	struct tar_rd t;
	struct tar_entry *te = malloc(sizeof(*te));
	int e;

	if (!te) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	tar_init(&t, rd, ctx, err, errlen);
	while ((e = tar_next(&t, te)) > 0 && !(e = apply_one(&t, w, te)))
		;
	tar_done(&t);
	free(te);
	return e;
}
