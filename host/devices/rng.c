/* rng.c: virtio-rng (virtio 1.2 §5.4) backed by the host's getrandom().
 *
 * The guest needs entropy early (TLS, claude-code's crypto): with
 * CONFIG_HW_RANDOM_VIRTIO the kernel pulls from this device and credits
 * it. One queue; each chain is filled with random bytes, capped per
 * request so a guest cannot make one kick arbitrarily expensive.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include <linux/virtio_ids.h>

#include "devices.h"

#define RNG_MAX_PER_REQ (64u << 10)
#define RNG_BUDGET 64		/* chains per kick */

struct rng_dev {
	struct virtio_dev vdev;		/* first: cast from virtio_dev */
	void (*rekick)(void *ctx, unsigned q);
	void *ctx;
};

static void rng_fill(struct rng_dev *r)
{
	struct virtq *q = &r->vdev.vqs[0];
	struct virtq_elem e;
	unsigned n = 0;

	while (n < RNG_BUDGET && virtq_pop(q, r->vdev.mem, &e) > 0) {
		uint32_t done = 0;
		for (unsigned i = 0; i < e.nin && done < RNG_MAX_PER_REQ; i++) {
			size_t want = e.in[i].iov_len;
			if (want > RNG_MAX_PER_REQ - done)
				want = RNG_MAX_PER_REQ - done;
			ssize_t got = getrandom(e.in[i].iov_base, want, 0);
			if (got <= 0)
				break;
			done += (uint32_t)got;
			if ((size_t)got < want)
				break;
		}
		virtq_push(q, r->vdev.mem, e.head, done);
		n++;
	}
	if (n || q->broken)
		virtio_notify_queue(&r->vdev, 0);
	if (n == RNG_BUDGET && r->rekick)
		r->rekick(r->ctx, 0);
}

void rng_kick(void *impl, unsigned q)
{
	struct rng_dev *r = impl;

	(void)q;
	pthread_mutex_lock(&r->vdev.lock);
	if (virtio_dev_live(&r->vdev))
		rng_fill(r);
	pthread_mutex_unlock(&r->vdev.lock);
}

static void rng_notify(struct virtio_dev *d, unsigned q)
{
	struct rng_dev *r = (struct rng_dev *)d;

	if (r->rekick)
		r->rekick(r->ctx, q);
}

static const struct virtio_dev_ops rng_ops = {
	.queue_notify = rng_notify,
};

struct virtio_dev *rng_new(const struct gmem *mem,
			   void (*rekick)(void *ctx, unsigned q), void *ctx)
{
	struct rng_dev *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	virtio_dev_init(&r->vdev, &rng_ops, "rng", VIRTIO_ID_RNG, 0, 1, mem);
	r->rekick = rekick;
	r->ctx = ctx;
	return &r->vdev;
}

void rng_free(struct virtio_dev *d)
{
	free(d);
}
