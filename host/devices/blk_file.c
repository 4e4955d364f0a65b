/* blk_file.c: raw-file backend for virtio-blk (after vmd's vioraw.c). */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devices.h"

struct blk_file {
	int fd;
	uint64_t base;		/* window start in the file */
};

static ssize_t full_io(int fd, struct iovec *iov, unsigned n, uint64_t off,
		       bool write)
{
	size_t total = 0;

	while (n) {
		ssize_t r = write ? pwritev(fd, iov, (int)n, (off_t)off)
				  : preadv(fd, iov, (int)n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			if (write)
				return -EIO;
			/* Short file: the rest reads as zeros. */
			for (unsigned i = 0; i < n; i++)
				for (size_t k = 0; k < iov[i].iov_len; k++)
					((uint8_t *)iov[i].iov_base)[k] = 0;
			return (ssize_t)total;
		}
		total += (size_t)r;
		off += (uint64_t)r;
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return (ssize_t)total;
}

static ssize_t f_readv(void *ctx, struct iovec *iov, unsigned n, uint64_t off)
{
	struct blk_file *f = ctx;
	return full_io(f->fd, iov, n, f->base + off, false);
}

static ssize_t f_writev(void *ctx, struct iovec *iov, unsigned n,
			uint64_t off)
{
	struct blk_file *f = ctx;
	return full_io(f->fd, iov, n, f->base + off, true);
}

static int f_flush(void *ctx)
{
	return fdatasync(((struct blk_file *)ctx)->fd) < 0 ? -errno : 0;
}

static void f_close(void *ctx)
{
	struct blk_file *f = ctx;

	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

const struct blk_backend_ops blk_file_ops = {
	.readv = f_readv, .writev = f_writev, .flush = f_flush,
	.close = f_close,
};

void *blk_file_new(int fd, uint64_t base)
{
	struct blk_file *f = malloc(sizeof(*f));

	if (f) {
		f->fd = fd;
		f->base = base;
	}
	return f;
}
