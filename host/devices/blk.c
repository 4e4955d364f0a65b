/* blk.c: virtio-blk (virtio 1.2 §5.2) over a file backend (blk_file.c).
 *
 * Requests: a 16-byte header (type, reserved, sector) the device reads,
 * data buffers, and a 1-byte status the device writes last. Everything is
 * validated against the chain: the header must be readable, the status
 * byte writable, data direction must match the type, and sector + length
 * must stay inside the disk — otherwise the request fails with IOERR or
 * UNSUPP to the guest (never to the VMM). A read-only disk advertises
 * VIRTIO_BLK_F_RO and answers writes with IOERR.
 *
 * I/O is synchronous on the I/O thread: simple, and a guest can only slow
 * its own VM. Requests are capped at BLK_MAX_BYTES per chain.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "devices.h"

#define SECTOR 512ull
#define BLK_MAX_BYTES (4u << 20)
#define BLK_SEG_MAX (VIRTQ_MAX_SEGS - 2)
#define BLK_BUDGET 64

struct blk_dev {
	struct virtio_dev vdev;		/* first: cast from virtio_dev */
	const struct blk_backend_ops *be;
	void *be_ctx;
	uint64_t size;			/* bytes */
	bool ro;
	char id[20];			/* VIRTIO_BLK_ID_BYTES */
	void (*rekick)(void *ctx, unsigned q);
	void *ctx;
};

static uint8_t handle(struct blk_dev *b, struct virtq_elem *e,
		      uint32_t *written)
{
	struct virtio_blk_outhdr h;

	*written = 0;
	if (e->nin < 1 || e->in[e->nin - 1].iov_len < 1 ||
	    iov_to_buf(e->out, e->nout, 0, &h, sizeof(h)) < sizeof(h))
		return VIRTIO_BLK_S_IOERR;
	/* Data: the out part after the header, or the in part before the
	 * status byte. */
	struct iovec *in = e->in;
	unsigned nin = e->nin;
	size_t in_len = e->in_len - 1;
	in[nin - 1].iov_len -= 1;	/* status byte is not data */
	uint64_t off;
	if (__builtin_mul_overflow(h.sector, SECTOR, &off))
		return VIRTIO_BLK_S_IOERR;
	switch (h.type) {
	case VIRTIO_BLK_T_IN: {
		if (in_len > BLK_MAX_BYTES || off > b->size ||
		    in_len > b->size - off || e->out_len != sizeof(h))
			return VIRTIO_BLK_S_IOERR;
		if (b->be->readv(b->be_ctx, in, nin, off) < 0)
			return VIRTIO_BLK_S_IOERR;
		*written = (uint32_t)in_len;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_OUT: {
		size_t len = e->out_len - sizeof(h);
		if (b->ro || in_len || len > BLK_MAX_BYTES || off > b->size ||
		    len > b->size - off)
			return VIRTIO_BLK_S_IOERR;
		/* Skip the header inside the out iovecs. */
		struct iovec iov[VIRTQ_MAX_SEGS];
		unsigned n = 0;
		size_t skip = sizeof(h);
		for (unsigned i = 0; i < e->nout; i++) {
			if (skip >= e->out[i].iov_len) {
				skip -= e->out[i].iov_len;
				continue;
			}
			iov[n++] = (struct iovec){
				(uint8_t *)e->out[i].iov_base + skip,
				e->out[i].iov_len - skip };
			skip = 0;
		}
		return b->be->writev(b->be_ctx, iov, n, off) < 0
			? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (b->ro)
			return VIRTIO_BLK_S_OK;
		return b->be->flush(b->be_ctx) < 0 ? VIRTIO_BLK_S_IOERR
						    : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = in_len < sizeof(b->id) ? in_len : sizeof(b->id);
		*written = (uint32_t)iov_from_buf(in, nin, 0, b->id, n);
		return VIRTIO_BLK_S_OK;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

void blk_kick(void *impl, unsigned qi)
{
	struct blk_dev *b = impl;
	struct virtq *q = &b->vdev.vqs[0];
	struct virtq_elem e;
	unsigned n = 0;

	(void)qi;
	pthread_mutex_lock(&b->vdev.lock);
	while (virtio_dev_live(&b->vdev) && n < BLK_BUDGET &&
	       virtq_pop(q, b->vdev.mem, &e) > 0) {
		uint32_t written;
		/* Remember where the status byte lives before handle()
		 * trims it off the last iovec. */
		uint8_t *status = e.nin ? (uint8_t *)e.in[e.nin - 1].iov_base +
					  e.in[e.nin - 1].iov_len - 1 : NULL;
		uint8_t s = handle(b, &e, &written);
		if (status) {
			*status = s;
			written++;
		} else {
			virtio_guest_error(&b->vdev, "request without status");
		}
		virtq_push(q, b->vdev.mem, e.head, written);
		n++;
	}
	if (n || q->broken)
		virtio_notify_queue(&b->vdev, 0);
	if (n == BLK_BUDGET && b->rekick)
		b->rekick(b->ctx, 0);
	pthread_mutex_unlock(&b->vdev.lock);
}

static void blk_cfg_read(struct virtio_dev *d, uint32_t off, void *data,
			 unsigned len)
{
	struct blk_dev *b = (struct blk_dev *)d;
	struct virtio_blk_config c = {
		.capacity = b->size / SECTOR,
		.seg_max = BLK_SEG_MAX,
		.blk_size = 512,
	};

	if (off < sizeof(c) && len <= sizeof(c) - off)
		memcpy(data, (uint8_t *)&c + off, len);
}

static void blk_notify(struct virtio_dev *d, unsigned q)
{
	struct blk_dev *b = (struct blk_dev *)d;

	if (b->rekick)
		b->rekick(b->ctx, q);
}

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_cfg_read,
	.queue_notify = blk_notify,
};

struct virtio_dev *blk_new(const struct gmem *mem,
			   const struct blk_backend_ops *be, void *be_ctx,
			   uint64_t size, bool ro, const char *id,
			   void (*rekick)(void *ctx, unsigned q), void *ctx)
{
	struct blk_dev *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	uint64_t f = (1ull << VIRTIO_BLK_F_SEG_MAX) |
		     (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_FLUSH) |
		     (ro ? 1ull << VIRTIO_BLK_F_RO : 0);
	virtio_dev_init(&b->vdev, &blk_ops, "blk", VIRTIO_ID_BLOCK, f, 1, mem);
	b->be = be;
	b->be_ctx = be_ctx;
	b->size = size & ~(SECTOR - 1);
	b->ro = ro;
	strncpy(b->id, id ? id : "voidbox", sizeof(b->id));
	b->rekick = rekick;
	b->ctx = ctx;
	return &b->vdev;
}

void blk_free(struct virtio_dev *d)
{
	struct blk_dev *b = (struct blk_dev *)d;

	if (b && b->be->close)
		b->be->close(b->be_ctx);
	free(b);
}
