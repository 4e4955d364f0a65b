/* layer.c: one layer blob (gzip- or zstd-compressed, or plain tar)
 * streamed into the EROFS writer (tar.c), with the decompression bounded.
 *
 * The bound is on bytes out of the decompressor, counted across the whole
 * image by the caller: a layer bomb (a few KB of gzip that inflate to
 * terabytes; zstd's ratio goes higher still) stops at the limit with an
 * error saying so, before the image
 * file or the host's disk fill. The blob is read from a descriptor, so a
 * registry pull and an archive import take the same path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "image.h"

struct lsrc {
	int fd;
	bool gz, eof_in, end;
	z_stream z;
	ZSTD_DStream *zs;	/* a zstd layer */
	ZSTD_inBuffer zin;
	size_t zsret;		/* ZSTD_decompressStream's last: 0 = frame end */
	uint8_t in[64 * 1024];
	uint64_t out, *total, max;
	int zerr;		/* a zlib failure, said by layer_apply */
	const char *zserr;	/* a zstd failure, likewise */
};

static ssize_t raw_read(struct lsrc *s, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(s->fd, buf, n);
		if (r >= 0 || errno != EINTR)
			return r < 0 ? -errno : r;
	}
}

/* zstd: frames in a row are one stream (like gzip members); the input
 * ending inside a frame is a truncated layer. */
static ssize_t zstd_read(struct lsrc *s, void *buf, size_t n)
{
	ZSTD_outBuffer out = { buf, n, 0 };

	while (out.pos == 0) {
		if (s->zin.pos == s->zin.size && !s->eof_in) {
			ssize_t k = raw_read(s, s->in, sizeof(s->in));
			if (k < 0)
				return k;
			s->eof_in = k == 0;
			s->zin = (ZSTD_inBuffer){ s->in, (size_t)k, 0 };
		}
		if (s->zin.pos == s->zin.size && s->eof_in) {
			if (s->zsret) {
				s->zserr = "truncated";
				return -EIO;
			}
			return 0;
		}
		s->zsret = ZSTD_decompressStream(s->zs, &out, &s->zin);
		if (ZSTD_isError(s->zsret)) {
			s->zserr = ZSTD_getErrorName(s->zsret);
			return -EINVAL;
		}
	}
	return (ssize_t)out.pos;
}

static ssize_t src_read(void *ctx, void *buf, size_t n)
{
	struct lsrc *s = ctx;
	ssize_t r;

	if (*s->total >= s->max)
		return -EFBIG;
	if (n > s->max - *s->total)
		n = (size_t)(s->max - *s->total);
	if (s->zs) {
		r = zstd_read(s, buf, n);
	} else if (!s->gz) {
		r = raw_read(s, buf, n);
	} else {
		if (s->end)
			return 0;
		s->z.next_out = buf;
		s->z.avail_out = (uInt)n;
		while (s->z.avail_out == n) {
			if (!s->z.avail_in && !s->eof_in) {
				ssize_t k = raw_read(s, s->in, sizeof(s->in));
				if (k < 0)
					return k;
				s->eof_in = k == 0;
				s->z.next_in = s->in;
				s->z.avail_in = (uInt)k;
			}
			int z = inflate(&s->z, Z_NO_FLUSH);
			if (z == Z_STREAM_END) {
				/* Concatenated gzip members are one stream. */
				if (s->z.avail_in || !s->eof_in) {
					if (inflateReset(&s->z) != Z_OK)
						return s->zerr = Z_DATA_ERROR, -EINVAL;
					continue;
				}
				s->end = true;
				break;
			}
			if (z == Z_BUF_ERROR && s->eof_in && !s->z.avail_in)
				return s->zerr = Z_BUF_ERROR, -EIO;	/* truncated */
			if (z != Z_OK && z != Z_BUF_ERROR)
				return s->zerr = z, -EINVAL;
		}
		r = (ssize_t)(n - s->z.avail_out);
	}
	if (r > 0)
		*s->total += (uint64_t)r;
	return r;
}

struct lsrc *blob_reader(int fd, uint64_t *total, uint64_t max, char *err,
			 size_t errlen)
{
	struct lsrc *s = calloc(1, sizeof(*s));
	uint8_t magic[4];

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->fd = fd;
	s->total = total;
	s->max = max;
	ssize_t n = pread(fd, magic, sizeof(magic), 0);
	if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
	    magic[3] == 0xfd) {
		/* Window at most 2^27 (128 MiB, the format's default cap for
		 * decoders): a frame asking for more is refused, not obeyed. */
		if (!(s->zs = ZSTD_createDStream()) ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax, 27))) {
			snprintf(err, errlen, "zstd: cannot start decompressing");
			blob_reader_close(s);
			return NULL;
		}
		s->zsret = 1;	/* inside a frame until one ends */
	}
	s->gz = n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
	if (s->gz && inflateInit2(&s->z, 15 + 16) != Z_OK) {
		snprintf(err, errlen, "zlib: cannot start inflating");
		free(s);
		return NULL;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "not seekable: %s", strerror(errno));
		blob_reader_close(s);
		return NULL;
	}
	return s;
}

ssize_t blob_read(void *ctx, void *buf, size_t n)
{
	return src_read(ctx, buf, n);
}

/* After a failed read: the better message (bound, or gzip's state). */
void blob_reader_explain(struct lsrc *s, int e, char *err, size_t errlen)
{
	if (e == -EFBIG && *s->total >= s->max)
		snprintf(err, errlen, "the image passes %llu MiB uncompressed "
			 "(a decompression bomb, or raise the limit)",
			 (unsigned long long)(s->max >> 20));
	else if (e && s->zerr)
		snprintf(err, errlen, "the gzip stream is %s",
			 s->zerr == Z_BUF_ERROR ? "truncated" : "corrupt");
	else if (e && s->zserr)
		snprintf(err, errlen, "the zstd stream is %s%s%s",
			 e == -EIO ? "truncated" : "corrupt", e == -EIO ? "" : ": ",
			 e == -EIO ? "" : s->zserr);
}

void blob_reader_close(struct lsrc *s)
{
	if (!s)
		return;
	if (s->gz)
		inflateEnd(&s->z);
	ZSTD_freeDStream(s->zs);
	free(s);
}

int layer_apply(struct erofs_w *w, int fd, uint64_t *total, uint64_t max,
		char *err, size_t errlen)
{
	struct lsrc *s = blob_reader(fd, total, max, err, errlen);

	if (!s)
		return -EINVAL;
	int e = tar_apply(w, src_read, s, err, errlen);
	blob_reader_explain(s, e, err, errlen);
	blob_reader_close(s);
	return e;
}
