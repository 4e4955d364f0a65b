/* virtiofs.c: virtio-fs (virtio 1.2 §5.11), the transport of a shared
 * directory. The model only moves chains: queue 0 is the high-priority
 * queue (FORGET, INTERRUPT), queue 1 the one request queue we offer;
 * every chain goes to the backend (host/fs/fsrv.c through the VMM) as
 * its readable and writable parts, and comes back with what was written.
 *
 * Requests are served synchronously on the I/O thread, a budget per
 * kick, like virtio-blk: a guest can only slow its own VM.
 */
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>

#include "devices.h"

#define FS_QUEUES 2		/* hiprio + one request queue */
#define FS_BUDGET 64

struct fs_dev {
	struct virtio_dev vdev;		/* first: cast from virtio_dev */
	const struct virtiofs_backend_ops *be;
	void *be_ctx;
	char tag[sizeof(((struct virtio_fs_config *)0)->tag)];
	void (*rekick)(void *ctx, unsigned q);
	void *ctx;
};

void virtiofs_kick(void *impl, unsigned qi)
{
	struct fs_dev *f = impl;
	struct virtq_elem e;
	unsigned n = 0;

	if (qi >= FS_QUEUES)
		return;
	struct virtq *q = &f->vdev.vqs[qi];
	pthread_mutex_lock(&f->vdev.lock);
	while (virtio_dev_live(&f->vdev) && n < FS_BUDGET &&
	       virtq_pop(q, f->vdev.mem, &e) > 0) {
		size_t w = f->be->request(f->be_ctx, e.out, e.nout, e.in,
					  e.nin);
		virtq_push(q, f->vdev.mem, e.head, (uint32_t)w);
		n++;
	}
	if (n || q->broken)
		virtio_notify_queue(&f->vdev, qi);
	if (n == FS_BUDGET && f->rekick)
		f->rekick(f->ctx, qi);
	pthread_mutex_unlock(&f->vdev.lock);
}

static void fs_cfg_read(struct virtio_dev *d, uint32_t off, void *data,
			unsigned len)
{
	struct fs_dev *f = (struct fs_dev *)d;
	struct virtio_fs_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.tag, f->tag, sizeof(c.tag));	/* NUL-padded, may fill */
	c.num_request_queues = FS_QUEUES - 1;
	if (off < sizeof(c) && len <= sizeof(c) - off)
		memcpy(data, (uint8_t *)&c + off, len);
}

static void fs_notify(struct virtio_dev *d, unsigned q)
{
	struct fs_dev *f = (struct fs_dev *)d;

	if (f->rekick)
		f->rekick(f->ctx, q);
}

static const struct virtio_dev_ops fs_ops = {
	.config_read = fs_cfg_read,
	.queue_notify = fs_notify,
};

struct virtio_dev *virtiofs_new(const struct gmem *mem, const char *tag,
				const struct virtiofs_backend_ops *be,
				void *be_ctx,
				void (*rekick)(void *ctx, unsigned q),
				void *ctx)
{
	struct fs_dev *f;

	if (!tag || !tag[0] || strlen(tag) > sizeof(f->tag) || !be ||
	    !be->request || !(f = calloc(1, sizeof(*f))))
		return NULL;
	virtio_dev_init(&f->vdev, &fs_ops, "fs", VIRTIO_ID_FS, 0, FS_QUEUES,
			mem);
	f->be = be;
	f->be_ctx = be_ctx;
	memcpy(f->tag, tag, strlen(tag));	/* checked: fits; calloc NUL-pads */
	f->rekick = rekick;
	f->ctx = ctx;
	return &f->vdev;
}

void virtiofs_free(struct virtio_dev *d)
{
	struct fs_dev *f = (struct fs_dev *)d;

	if (f && f->be->close)
		f->be->close(f->be_ctx);
	free(f);
}
