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
#define TAR_PATH_MAX	4096

struct tar {
	struct erofs_w *w;
	erofs_read_fn rd;
	void *ctx;
	uint64_t left;		/* data bytes of the current entry */
	uint64_t entries;
	char *err;
	size_t errlen;
};

static int terr(struct tar *t, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int terr(struct tar *t, int e, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(t->err, t->errlen, "entry %llu: ",
			 (unsigned long long)t->entries + 1);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < t->errlen)
		vsnprintf(t->err + n, t->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -e;
}

/* Exactly n bytes, or an error (a short layer is one). */
static int get(struct tar *t, void *buf, size_t n)
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

static int skip(struct tar *t, uint64_t n)
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
static int ext_read(struct tar *t, uint64_t size, char **out)
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

struct pax {
	char *path, *link;
	bool has_size, has_uid, has_gid, has_mtime;
	uint64_t size, uid, gid;
	int64_t mtime;
	uint32_t mtime_ns;
};

static void pax_clear(struct pax *x)
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
static int pax_parse(struct tar *t, const char *b, size_t n, struct pax *x)
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

static ssize_t entry_read(void *ctx, void *buf, size_t n)
{
	struct tar *t = ctx;

	if (n > t->left)
		n = (size_t)t->left;
	ssize_t r = t->rd(t->ctx, buf, n);
	if (r > 0)
		t->left -= (uint64_t)r;
	return r;
}

/* One whiteout entry (basename starts ".wh."): applied, not added. */
static int whiteout(struct tar *t, const char *path, const char *base)
{
	char p[TAR_PATH_MAX + 1];
	size_t dl = (size_t)(base - path);
	int e;

	if (!strcmp(base, ".wh..wh..opq")) {
		snprintf(p, sizeof(p), "%.*s", (int)dl, path);
		e = erofs_opaque(t->w, p[0] ? p : ".");
	} else {
		snprintf(p, sizeof(p), "%.*s%s", (int)dl, path, base + 4);
		e = erofs_remove(t->w, p);
	}
	return e ? terr(t, -e, "whiteout %s: %s", path, erofs_error(t->w)) : 0;
}

int tar_apply(struct erofs_w *w, erofs_read_fn rd, void *ctx, char *err,
	      size_t errlen)
{
	struct tar t = { .w = w, .rd = rd, .ctx = ctx, .err = err, .errlen = errlen };
	struct pax x = { 0 }, g = { 0 };
	char *longname = NULL, *longlink = NULL;
	uint8_t h[TAR_BLK];
	int e = 0;

	for (;; t.entries++) {
		ssize_t r = 0;
		size_t got = 0;
		while (got < TAR_BLK && (r = rd(ctx, h + got, TAR_BLK - got)) > 0)
			got += (size_t)r;
		if (r < 0) {
			e = terr(&t, (int)-r, "reading the layer: %s", strerror((int)-r));
			break;
		}
		if (got == 0)
			break;		/* no end blocks: tolerated, as tar does */
		if (got < TAR_BLK) {
			e = terr(&t, EIO, "the layer ends inside a header");
			break;
		}
		static const uint8_t zero[TAR_BLK];
		if (!memcmp(h, zero, TAR_BLK))
			break;		/* the end (the second zero block is optional) */
		if (!checksum_ok(h)) {
			e = terr(&t, EINVAL, "bad header checksum (not a tar layer, or damaged)");
			break;
		}
		uint64_t size, mode, uid, gid, mtime, maj = 0, min = 0;
		if (!num(h + 124, 12, 1ull << 40, &size) || !num(h + 100, 8, 07777777, &mode) ||
		    !num(h + 108, 8, UINT32_MAX, &uid) || !num(h + 116, 8, UINT32_MAX, &gid) ||
		    !num(h + 136, 12, 1ull << 40, &mtime) ||
		    ((h[156] == '3' || h[156] == '4') &&
		     (!num(h + 329, 8, 0xfff, &maj) || !num(h + 337, 8, 0xfffff, &min)))) {
			e = terr(&t, EINVAL, "a malformed number in the header");
			break;
		}
		char type = (char)h[156];
		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			char *b = NULL;
			if ((e = ext_read(&t, size, &b)))
				break;
			if (type == 'L' || type == 'K') {
				char **dst = type == 'L' ? &longname : &longlink;
				free(*dst);
				*dst = b;
				if (strlen(b) > TAR_PATH_MAX) {
					e = terr(&t, ENAMETOOLONG, "a GNU long name over %d bytes", TAR_PATH_MAX);
					break;
				}
				continue;
			}
			e = pax_parse(&t, b, size, type == 'x' ? &x : &g);
			free(b);
			if (e)
				break;
			continue;
		}
		/* The entry's own fields, overridden by pax (entry, then global)
		 * and GNU long names. */
		char path[TAR_PATH_MAX + 1], link[TAR_PATH_MAX + 1];
		if (x.path || longname) {
			snprintf(path, sizeof(path), "%s", x.path ? x.path : longname);
		} else if (h[345] && !memcmp(h + 257, "ustar\0", 6)) {
			snprintf(path, sizeof(path), "%.155s/%.100s", (char *)h + 345, (char *)h);
		} else {
			snprintf(path, sizeof(path), "%.100s", (char *)h);
		}
		if (x.link || longlink)
			snprintf(link, sizeof(link), "%s", x.link ? x.link : longlink);
		else
			snprintf(link, sizeof(link), "%.100s", (char *)h + 157);
		if (x.has_size || g.has_size)
			size = x.has_size ? x.size : g.size;
		if (x.has_uid || g.has_uid)
			uid = x.has_uid ? x.uid : g.uid;
		if (x.has_gid || g.has_gid)
			gid = x.has_gid ? x.gid : g.gid;
		struct erofs_meta m = {
			.uid = (uint32_t)uid, .gid = (uint32_t)gid,
			.mtime = x.has_mtime ? x.mtime : (int64_t)mtime,
			.mtime_ns = x.has_mtime ? x.mtime_ns : 0,
			.rdev_major = (uint32_t)maj, .rdev_minor = (uint32_t)min,
		};
		mode_t perm = (mode_t)mode & 07777;
		uint64_t data = size;	/* what follows the header */
		/* The last component (a directory entry may end in '/'). */
		size_t pl = strlen(path);
		while (pl > 1 && path[pl - 1] == '/')
			path[--pl] = '\0';
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		if (!strncmp(base, ".wh.", 4)) {
			e = whiteout(&t, path, base);
		} else {
			switch (type) {
			case '0': case '\0': case '7':
				m.mode = S_IFREG | perm;
				t.left = size;
				e = erofs_add(w, path, &m, size, entry_read, &t, NULL);
				data = t.left;	/* nothing left unless it failed */
				if (e && strncmp(erofs_error(w), path, strlen(path)))
					e = terr(&t, -e, "%s: %s", path, erofs_error(w));
				else if (e)
					e = terr(&t, -e, "%s", erofs_error(w));
				goto done;
			case '1':
				e = erofs_link(w, path, link);
				data = size;	/* hard links carry no data; skip any */
				break;
			case '2': m.mode = S_IFLNK | 0777; break;
			case '3': m.mode = S_IFCHR | perm; break;
			case '4': m.mode = S_IFBLK | perm; break;
			case '5': m.mode = S_IFDIR | perm; break;
			case '6': m.mode = S_IFIFO | perm; break;
			default:
				e = terr(&t, EINVAL, "%s: unsupported entry type '%c'", path,
					 type > ' ' && type < 127 ? type : '?');
				goto out;
			}
			if (!e && m.mode && type != '0' && type != '\0' && type != '7')
				e = erofs_add(w, path, &m, 0, NULL, NULL, type == '2' ? link : NULL);
			if (e)
				e = terr(&t, -e, "%s", erofs_error(w));
		}
done:
		if (e)
			break;
		if ((e = skip(&t, data + pad(size))))
			break;
		pax_clear(&x);
		free(longname);
		free(longlink);
		longname = longlink = NULL;
	}
out:
	pax_clear(&x);
	pax_clear(&g);
	free(longname);
	free(longlink);
	return e;
}
