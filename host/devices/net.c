/* net.c: virtio-net device model (virtio 1.2 §5.1), backend-agnostic.
 *
 * Primer. Two queues: receiveq1 (0, device -> driver frames into buffers
 * the driver posts) and transmitq1 (1, driver -> device). Every frame on
 * either queue is preceded by a 12-byte struct virtio_net_hdr_v1: with
 * VIRTIO_F_VERSION_1 the header always has num_buffers, whether or not
 * VIRTIO_NET_F_MRG_RXBUF is negotiated (§5.1.6). We offer MAC, STATUS
 * (link always up) and, for transmit only, CSUM and HOST_TSO4: the guest
 * may hand us a TCP/IPv4 segment of up to 64 KiB with its checksum left
 * partial (§5.1.6.2), and we finish the checksum (tx_finish) and pass the
 * whole segment on as one IP packet — no segmentation: slirp is a TCP
 * stack, not a wire, and takes any segment its window allows. Why: under
 * a per-packet-bound engine (and on hardware, per exit and per interrupt)
 * one 64 KiB segment instead of 45 frames is most of the bulk cost; QEMU's
 * user-net backend has no vnet header and offers neither. No receive
 * offloads, no mergeable buffers, no control queue: each received frame
 * goes into exactly one rx chain with num_buffers = 1 (§5.1.6.4.1).
 *
 * This file never touches sockets (STYLE R3): guest frames go to
 * ops->send(), host frames arrive through net_rx(). Everything in a chain
 * is guest input: a tx chain that is too short, too long, has writable
 * parts or asks for an offload we never offered is dropped and counted
 * (STYLE R7b); a chain that corrupts the ring breaks the queue (virtq.c).
 *
 * Memory bound: frames the host sends while the guest has no rx buffers
 * wait in a ring of at most NET_RX_QUEUE frames and NET_RX_QUEUE_BYTES
 * bytes; beyond that they are dropped, as a full NIC ring would. TCP in
 * slirp retransmits; nothing here grows with guest behaviour.
 *
 * Locking. dev->lock covers everything, as in the other models, except
 * that ops->send runs unlocked: slirp may answer synchronously from
 * inside slirp_input (ARP, ICMP errors) by calling net_rx(), which takes
 * the lock. A vCPU may reset the device meanwhile; the generation counter
 * tells the tx loop to stop touching the (reset) queue when it relocks.
 *
 * Fairness: one kick sends at most TX_BUDGET frames, then rekicks, so a
 * flooding guest cannot monopolise the I/O thread (as vsock.c does).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "devices.h"

#define TX_BUDGET 256

_Static_assert(sizeof(struct virtio_net_hdr_v1) == NET_HDR_LEN,
	       "virtio-net header is 12 bytes with VERSION_1");

/* One frame waiting for an rx buffer. */
struct pending {
	size_t len;
	uint8_t data[];
};

struct net_dev {
	struct virtio_dev vdev;		/* first: cast from virtio_dev */
	const struct net_backend_ops *ops;
	void *ctx;
	uint8_t mac[6];
	unsigned gen;			/* bumped by every device reset */
	struct pending *pend[NET_RX_QUEUE];	/* ring, oldest at head */
	unsigned pend_head, pend_len;
	size_t pend_bytes;
	struct net_dev_stats st;
	/* Linearised tx frame: the backend gets a stable copy, not guest
	 * memory another vCPU can rewrite after the policy filter looked. */
	uint8_t txbuf[NET_FRAME_MAX];
};

static const uint8_t default_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* ---- host -> guest ---------------------------------------------------- */

/* Put one frame into the next rx chain. Returns true when the frame is
 * gone (delivered, or dropped because the guest's buffer cannot hold it),
 * false when the guest has no buffer for it now. */
static bool rx_put(struct net_dev *n, const uint8_t *frame, size_t len,
		   bool *pushed)
{
	struct virtq *q = &n->vdev.vqs[NET_RXQ];
	const struct gmem *m = n->vdev.mem;
	struct virtq_elem e;

	for (;;) {
		int r = virtq_pop(q, m, &e);
		if (r < 0)
			n->st.queue_errors++;
		if (r <= 0)
			return false;
		if (e.nout) {
			/* §5.1.6.3: rx buffers are device-writable only.
			 * Consume it empty so the ring still progresses. */
			n->st.rx_bad_buffers++;
			virtio_guest_error(&n->vdev, "rx chain with readable "
					   "descriptors");
			virtq_push(q, m, e.head, 0);
			*pushed = true;
			continue;
		}
		if (e.in_len < NET_HDR_LEN + len) {
			/* Without MRG_RXBUF one chain must hold the whole
			 * frame. Drop the frame, not the buffer: give it
			 * back (undo the pop) for the next, smaller frame,
			 * so an oversized frame cannot block the queue. */
			q->last_avail--;
			n->st.rx_drop_too_big++;
			return true;
		}
		struct virtio_net_hdr_v1 h = { .num_buffers = htole16(1) };
		iov_from_buf(e.in, e.nin, 0, &h, sizeof(h));
		iov_from_buf(e.in, e.nin, sizeof(h), frame, len);
		virtq_push(q, m, e.head, (uint32_t)(sizeof(h) + len));
		*pushed = true;
		n->st.rx_frames++;
		n->st.rx_bytes += len;
		return true;
	}
}

static void pend_drop_all(struct net_dev *n)
{
	while (n->pend_len) {
		free(n->pend[n->pend_head]);
		n->pend[n->pend_head] = NULL;
		n->pend_head = (n->pend_head + 1) % NET_RX_QUEUE;
		n->pend_len--;
		n->st.rx_drop_reset++;
	}
	n->pend_head = 0;
	n->pend_bytes = 0;
}

/* Move queued frames into rx buffers, oldest first, while there are
 * buffers. Lock held, device live. */
static void rx_flush(struct net_dev *n, bool *pushed)
{
	while (n->pend_len) {
		struct pending *p = n->pend[n->pend_head];
		if (!rx_put(n, p->data, p->len, pushed))
			break;
		n->pend[n->pend_head] = NULL;
		n->pend_head = (n->pend_head + 1) % NET_RX_QUEUE;
		n->pend_len--;
		n->pend_bytes -= p->len;
		free(p);
	}
}

/* One interrupt per batch, and one to report a queue the guest broke. */
static void rx_notify(struct net_dev *n, bool pushed)
{
	if (pushed || n->vdev.vqs[NET_RXQ].broken)
		virtio_notify_queue(&n->vdev, NET_RXQ);
}

int net_rx(struct net_dev *n, const void *frame, size_t len)
{
	int rc = 0;

	pthread_mutex_lock(&n->vdev.lock);
	if (len < NET_FRAME_MIN || len > NET_FRAME_MAX) {
		n->st.rx_drop_size++;		/* a backend bug, not guest's */
		rc = -EINVAL;
		goto out;
	}
	if (!virtio_dev_live(&n->vdev)) {
		/* No driver to give it to; holding it would only deliver
		 * stale frames to the next one. */
		n->st.rx_drop_down++;
		rc = -ENETDOWN;
		goto out;
	}
	bool pushed = false;
	rx_flush(n, &pushed);	/* order: older frames go first */
	bool done = !n->pend_len && rx_put(n, frame, len, &pushed);
	rx_notify(n, pushed);
	if (done)
		goto out;
	struct pending *p = NULL;
	if (n->pend_len < NET_RX_QUEUE &&
	    len <= NET_RX_QUEUE_BYTES - n->pend_bytes)
		p = malloc(sizeof(*p) + len);
	if (!p) {
		n->st.rx_drop_full++;
		rc = -ENOBUFS;
		goto out;
	}
	p->len = len;
	memcpy(p->data, frame, len);
	n->pend[(n->pend_head + n->pend_len) % NET_RX_QUEUE] = p;
	n->pend_len++;
	n->pend_bytes += len;
out:
	pthread_mutex_unlock(&n->vdev.lock);
	return rc;
}

/* ---- guest -> host ---------------------------------------------------- */

static bool negotiated(const struct net_dev *n, unsigned bit)
{
	return n->vdev.driver_features & (1ull << bit);
}

/* Finish what the header asks of the frame in n->txbuf (§5.1.6.2): a
 * partial checksum is the 16-bit one's complement sum of the bytes from
 * csum_start to the end (the field already holds the pseudo-header sum),
 * complemented into csum_start + csum_offset. A TCPv4 GSO frame must be
 * one IPv4 packet whose total length covers the frame (Linux sets it for
 * the whole segment): it then is a valid, large TCP segment as it stands.
 * False for anything not negotiated or out of bounds. */
static bool tx_finish(struct net_dev *n, const struct virtio_net_hdr_v1 *h,
		      size_t len)
{
	uint8_t *f = n->txbuf;
	uint8_t gso = h->gso_type;

	/* DATA_VALID and RSC_INFO do not change the bytes: ignored. */
	if (gso != VIRTIO_NET_HDR_GSO_NONE) {
		/* TCPv4 only; ECN (CWR) segmentation was not offered. */
		if (gso != VIRTIO_NET_HDR_GSO_TCPV4 ||
		    !negotiated(n, VIRTIO_NET_F_HOST_TSO4) ||
		    !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
			return false;
		if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 ||
		    (f[14] >> 4) != 4 ||
		    14 + (size_t)(f[16] << 8 | f[17]) != len)
			return false;
	}
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return true;
	if (!negotiated(n, VIRTIO_NET_F_CSUM))
		return false;
	size_t start = le16toh(h->csum_start);
	size_t at = start + le16toh(h->csum_offset);
	if (start >= len || at + 2 > len)
		return false;
	uint64_t sum = 0;
	size_t i = start;
	for (; i + 1 < len; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	if (i < len)
		sum += (uint32_t)f[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t c = (uint16_t)~sum;
	f[at] = (uint8_t)(c >> 8);
	f[at + 1] = (uint8_t)c;
	return true;
}

/* Check one tx chain and copy its frame into n->txbuf. Returns the frame
 * length, or 0 when the chain is dropped (counted). */
static size_t tx_take(struct net_dev *n, const struct virtq_elem *e)
{
	struct virtio_net_hdr_v1 h;

	if (e->nin) {
		/* §5.1.6.2: tx buffers are device-readable only. */
		n->st.tx_drop_layout++;
		virtio_guest_error(&n->vdev, "tx chain with writable "
				   "descriptors");
		return 0;
	}
	if (e->out_len < NET_HDR_LEN + NET_FRAME_MIN) {
		n->st.tx_drop_short++;
		virtio_guest_error(&n->vdev, "tx chain of %zu bytes",
				   e->out_len);
		return 0;
	}
	size_t len = e->out_len - NET_HDR_LEN;
	if (len > NET_FRAME_MAX) {
		n->st.tx_drop_long++;
		virtio_guest_error(&n->vdev, "tx frame of %zu bytes", len);
		return 0;
	}
	iov_to_buf(e->out, e->nout, 0, &h, sizeof(h));
	iov_to_buf(e->out, e->nout, NET_HDR_LEN, n->txbuf, len);
	/* The copy is ours now: finishing it cannot race the guest. */
	if (!tx_finish(n, &h, len)) {
		n->st.tx_drop_offload++;
		virtio_guest_error(&n->vdev, "tx offload request not "
				   "negotiated or malformed (flags %#x, gso %u, "
				   "csum %u+%u, len %zu)", h.flags, h.gso_type,
				   le16toh(h.csum_start), le16toh(h.csum_offset),
				   len);
		return 0;
	}
	return len;
}

/* Lock held on entry and exit; dropped around each ops->send. */
static void tx_process(struct net_dev *n)
{
	struct virtq *q = &n->vdev.vqs[NET_TXQ];
	const struct gmem *m = n->vdev.mem;
	const unsigned gen = n->gen;
	struct virtq_elem e;
	unsigned done = 0;

	while (done < TX_BUDGET && n->gen == gen &&
	       virtio_dev_live(&n->vdev)) {
		int r = virtq_pop(q, m, &e);
		if (r < 0)
			n->st.queue_errors++;
		if (r <= 0)
			break;
		size_t len = tx_take(n, &e);
		/* The frame is copied: the chain can go back at once,
		 * before the backend (maybe slow) sees it. */
		virtq_push(q, m, e.head, 0);
		done++;
		if (!len)
			continue;
		pthread_mutex_unlock(&n->vdev.lock);
		int rc = n->ops->send(n->ctx, n->txbuf, len);
		pthread_mutex_lock(&n->vdev.lock);
		if (rc < 0) {
			n->st.tx_drop_backend++;
		} else {
			n->st.tx_frames++;
			n->st.tx_bytes += len;
		}
	}
	if (n->gen != gen)
		return;		/* reset while unlocked: queue is not ours */
	if (done || q->broken)
		virtio_notify_queue(&n->vdev, NET_TXQ);
	if (done == TX_BUDGET && virtq_has_avail(q, m) && n->ops->rekick)
		n->ops->rekick(n->ctx, NET_TXQ);	/* after the others */
}

void net_queue_kick(struct net_dev *n, unsigned q)
{
	pthread_mutex_lock(&n->vdev.lock);
	if (q == NET_TXQ && virtio_dev_live(&n->vdev))
		tx_process(n);
	/* Any kick may come with fresh rx buffers (and a tx kick may have
	 * produced replies that queued up): drain what is waiting. */
	if (virtio_dev_live(&n->vdev)) {
		bool pushed = false;
		rx_flush(n, &pushed);
		rx_notify(n, pushed);
	}
	pthread_mutex_unlock(&n->vdev.lock);
}

/* ---- virtio ops and lifetime ------------------------------------------ */

static void net_cfg_read(struct virtio_dev *d, uint32_t off, void *data,
			 unsigned len)
{
	struct net_dev *n = (struct net_dev *)d;
	/* §5.1.4: only mac and status exist for the features we offer;
	 * max_virtqueue_pairs is read by some drivers regardless. */
	struct virtio_net_config c = {
		.status = htole16(VIRTIO_NET_S_LINK_UP),
		.max_virtqueue_pairs = htole16(1),
	};

	memcpy(c.mac, n->mac, sizeof(c.mac));
	if (off < sizeof(c) && len <= sizeof(c) - off)
		memcpy(data, (uint8_t *)&c + off, len);
}

static void net_notify(struct virtio_dev *d, unsigned q)
{
	/* Register-path notify on a vCPU thread: defer to the I/O thread. */
	struct net_dev *n = (struct net_dev *)d;

	if (n->ops->rekick)
		n->ops->rekick(n->ctx, q);
}

static void net_reset(struct virtio_dev *d)
{
	struct net_dev *n = (struct net_dev *)d;

	/* §2.4: after reset the device holds no buffers and no state from
	 * the old driver, frames for it included. */
	pend_drop_all(n);
	n->gen++;
}

static const struct virtio_dev_ops net_ops = {
	.config_read = net_cfg_read,
	.queue_notify = net_notify,
	.reset = net_reset,
};

struct net_dev *net_new(const struct gmem *mem, const uint8_t mac[6],
			const struct net_backend_ops *ops, void *ctx)
{
	if (!ops || !ops->send)
		return NULL;
	struct net_dev *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	uint64_t f = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
		     (1ull << VIRTIO_NET_F_CSUM) |
		     (1ull << VIRTIO_NET_F_HOST_TSO4);
	virtio_dev_init(&n->vdev, &net_ops, "net", VIRTIO_ID_NET, f, 2, mem);
	n->ops = ops;
	n->ctx = ctx;
	memcpy(n->mac, mac ? mac : default_mac, sizeof(n->mac));
	return n;
}

void net_free(struct net_dev *n)
{
	if (!n)
		return;
	pend_drop_all(n);
	pthread_mutex_destroy(&n->vdev.lock);
	free(n);
}

struct virtio_dev *net_virtio(struct net_dev *n)
{
	return &n->vdev;
}

void net_get_stats(struct net_dev *n, struct net_dev_stats *st)
{
	pthread_mutex_lock(&n->vdev.lock);
	*st = n->st;
	st->rx_pending = n->pend_len;
	st->rx_pending_bytes = n->pend_bytes;
	pthread_mutex_unlock(&n->vdev.lock);
}
