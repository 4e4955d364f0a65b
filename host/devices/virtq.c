/* virtq.c: split virtqueues (virtio 1.2 §2.7), walked defensively.
 *
 * Everything in a virtqueue is written by the guest and may be hostile:
 * indices, descriptor addresses and lengths, next pointers, flags. Each
 * chain walk is bounded by the queue size and VIRTQ_MAX_SEGS, every
 * address goes through gmem_ptr(), and any violation marks the queue
 * broken (the device then ignores it until the driver resets the device,
 * virtio 1.2 §2.1.2 DEVICE_NEEDS_RESET) instead of touching the VMM.
 *
 * Chains are limited to VIRTQ_MAX_SEGS (64) descriptors, fewer than the
 * queue size the spec allows (§2.7.5.3.1): every device we model either
 * advertises seg_max (blk) or builds short chains (Linux's vsock and rng
 * drivers use one or two), so a longer chain is treated as hostile.
 *
 * We do not offer VIRTIO_RING_F_INDIRECT_DESC or VIRTIO_RING_F_EVENT_IDX,
 * so an indirect descriptor is a protocol violation and interrupt
 * suppression is the plain avail->flags bit.
 */
#include <string.h>

#include "devices.h"

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* The rings, located afresh on every use: guest RAM never moves, and
 * the addresses are re-checked in case the queue was reconfigured. */
/* §2.7: the descriptor table is 16-byte aligned, the avail ring 2-byte
 * and the used ring 4-byte. A guest that ignores this gets a broken
 * queue, not unaligned atomics in the VMM (found by tests/fuzz). */
static uint16_t *avail_ring(struct virtq *q, const struct gmem *m)
{
	if (q->avail_gpa & 1)
		return NULL;
	return gmem_ptr(m, q->avail_gpa, 4 + 2ull * q->size + 2);
}

static uint8_t *used_ring(struct virtq *q, const struct gmem *m)
{
	if (q->used_gpa & 3)
		return NULL;
	return gmem_ptr(m, q->used_gpa,
			4 + sizeof(struct vq_used_elem) * q->size + 2);
}

static int broken(struct virtq *q)
{
	q->broken = true;
	return -1;
}

bool virtq_has_avail(struct virtq *q, const struct gmem *m)
{
	uint16_t *avail;

	if (!q->ready || q->broken || !(avail = avail_ring(q, m)))
		return false;
	return __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE) != q->last_avail;
}

int virtq_avail_idx(struct virtq *q, const struct gmem *m)
{
	uint16_t *avail;

	if (!q->ready || q->broken || !(avail = avail_ring(q, m)))
		return -1;
	return __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
}

int virtq_pop(struct virtq *q, const struct gmem *m, struct virtq_elem *e)
{
	if (!q->ready || q->broken)
		return 0;
	uint16_t *avail = avail_ring(q, m);
	struct vq_desc *desc = (q->desc_gpa & 15) ? NULL :
		gmem_ptr(m, q->desc_gpa, sizeof(struct vq_desc) * q->size);
	if (!avail || !desc)
		return broken(q);
	/* Acquire: ring entries below idx are visible once idx is. */
	uint16_t idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return broken(q);	/* idx jumped more than a ring */

	uint16_t head = avail[2 + q->last_avail % q->size];
	if (head >= q->size)
		return broken(q);
	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;

	uint16_t i = head;
	for (unsigned hops = 0;; hops++) {
		if (hops >= q->size || hops >= VIRTQ_MAX_SEGS)
			return broken(q);	/* loop or absurd chain */
		struct vq_desc d;
		memcpy(&d, &desc[i], sizeof(d));	/* read once */
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return broken(q);	/* not negotiated */
		if (d.len) {
			void *p = gmem_ptr(m, d.addr, d.len);
			if (!p)
				return broken(q);
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				e->in[e->nin++] = (struct iovec){ p, d.len };
				e->in_len += d.len;
			} else {
				/* §2.7.4.2: readable after writable is a
				 * driver bug. */
				if (e->nin)
					return broken(q);
				e->out[e->nout++] = (struct iovec){ p, d.len };
				e->out_len += d.len;
			}
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->size)
			return broken(q);
		i = d.next;
	}
	q->last_avail++;
	return 1;
}

void virtq_push(struct virtq *q, const struct gmem *m, uint16_t head,
		uint32_t written)
{
	uint8_t *used = used_ring(q, m);

	if (!used) {
		/* A used ring outside RAM: the buffer can never be handed
		 * back, so the queue is broken (DEVICE_NEEDS_RESET follows
		 * from virtio_notify_queue), not silently swallowing. */
		q->broken = true;
		return;
	}
	if (q->broken)
		return;
	struct vq_used_elem el = { .id = head, .len = written };
	memcpy(used + 4 + sizeof(el) * (q->used_idx % q->size), &el,
	       sizeof(el));
	q->used_idx++;
	/* Release: the element is visible before the index that covers it. */
	__atomic_store_n((uint16_t *)(used + 2), q->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *q, const struct gmem *m)
{
	uint16_t *avail = avail_ring(q, m);

	/* Full barrier: our used->idx store must be visible before we read
	 * the driver's suppression flag (§2.7.7.2), or we may miss a wakeup. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail && !(__atomic_load_n(&avail[0], __ATOMIC_RELAXED) &
			  VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Copy between a buffer and iovecs, skipping `skip` bytes of the iovecs
 * first; never touches more than the iovecs hold. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip,
		       uint8_t *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t c = iov[i].iov_len - skip;
		if (c > len - done)
			c = len - done;
		uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(p, buf + done, c);
		else
			memcpy(buf + done, p, c);
		done += c;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip,
		  void *buf, size_t len)
{
	return iov_copy(iov, n, skip, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip,
		    const void *buf, size_t len)
{
	return iov_copy(iov, n, skip, (uint8_t *)buf, len, true);
}
