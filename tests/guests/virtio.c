/* virtio.c: minimal polled virtio-mmio driver (see virtio.h) */
#include "virtio.h"

#define PAGE		4096
#define PIT_HZ		1193182u
#define CAL_MS		10
#define TSC_FALLBACK_KHZ 3000000u	/* used when the PIT gives nonsense */
#define STATUS_POLL	4096		/* spins between Status reads */

/* Three pages per queue: descriptors, avail ring, used ring (§2.7). */
static uint8_t ring_mem[VIO_MAX_DEVS][VIO_MAX_QUEUES][3 * PAGE]
	__attribute__((aligned(PAGE)));
static uint64_t slot_base[VIO_MAX_DEVS];
static unsigned nslots;

static uint8_t vsk_rx_mem[VSK_NRX][VSK_BUF] __attribute__((aligned(PAGE)));
static uint8_t vsk_tx_mem[VSK_NTX][VSK_BUF] __attribute__((aligned(PAGE)));
static uint64_t vsk_ev_mem[4];		/* struct virtio_vsock_event */

_Static_assert(sizeof(struct vio_desc) * VIO_QSIZE <= PAGE, "desc page");
_Static_assert(sizeof(struct vio_avail) <= PAGE, "avail page");
_Static_assert(sizeof(struct vio_used) <= PAGE, "used page");
_Static_assert(VSK_NTX <= 64, "tx_free is one 64-bit bitmap");

/* ---- time ----------------------------------------------------------- */

/*
 * Timeouts must mean the same on any host, so measure the TSC against
 * PIT channel 2 once (the way Linux's pit_calibrate_tsc does): gate on,
 * speaker off, mode 0, and wait for OUT2 (port 0x61 bit 5) to rise.
 * voidbox has KVM's in-kernel PIT, QEMU microvm its own; without one
 * the bit reads as set at once or never, and we fall back to 3 GHz.
 */
static uint64_t pit_window(void)
{
	const uint32_t latch = PIT_HZ / (1000 / CAL_MS);
	uint64_t t0, n;

	vb_outb(0x43, 0xb0);			/* ch 2, lo/hi, mode 0 */
	vb_outb(0x42, (uint8_t)latch);
	vb_outb(0x42, (uint8_t)(latch >> 8));
	t0 = vb_rdtsc();
	for (n = 0; n < 10000000 && !(vb_inb(0x61) & 0x20); n++)
		;
	return vb_rdtsc() - t0;
}

uint64_t vio_tsc_khz(void)
{
	static uint64_t khz;
	uint64_t best = ~0ull;
	uint8_t v;

	if (khz)
		return khz;
	v = vb_inb(0x61);
	vb_outb(0x61, (uint8_t)((v & ~0x02) | 0x01));
	/* A preempted vCPU only makes a window look longer: take the
	 * shortest of three. */
	for (int i = 0; i < 3; i++) {
		uint64_t t = pit_window();

		if (t < best)
			best = t;
	}
	vb_outb(0x61, v);
	khz = best / CAL_MS;
	if (khz < 200000 || khz > 10000000)
		khz = TSC_FALLBACK_KHZ;
	return khz;
}

uint64_t vio_deadline(uint64_t ms)
{
	return vb_rdtsc() + ms * vio_tsc_khz();
}

/* ---- discovery ------------------------------------------------------ */

/* Linux virtio_mmio.c vm_cmdline_set(): <size>[K|M]@<base>:<irq>[:<id>] */
static bool parse_device(const char *v, size_t len, uint64_t *base,
			 uint64_t *size, uint64_t *irq)
{
	const char *at = v, *end = v + len, *colon, *c2;
	uint64_t mul = 1;
	size_t slen;

	while (at < end && *at != '@')
		at++;
	for (colon = at; colon < end && *colon != ':'; colon++)
		;
	for (c2 = colon + 1; c2 < end && *c2 != ':'; c2++)
		;
	if (at == v || at == end || colon >= end)
		return false;
	slen = (size_t)(at - v);
	if ((at[-1] | 0x20) == 'k')
		mul = 1024;
	else if ((at[-1] | 0x20) == 'm')
		mul = 1024 * 1024;
	if (mul > 1)
		slen--;
	if (!vb_parse_u64(v, slen, size) ||
	    !vb_parse_u64(at + 1, (size_t)(colon - at - 1), base) ||
	    !vb_parse_u64(colon + 1, (size_t)(c2 - colon - 1), irq))
		return false;
	*size *= mul;
	return *size >= 0x200 && *base + *size <= VB_MAPPED_LIMIT;
}

bool vio_find(struct vio_dev *d, uint32_t device_id)
{
	const char *pos = NULL, *v;
	uint64_t base, size, irq;
	size_t len;

	while ((v = vb_param_next("virtio_mmio.device", &pos, &len))) {
		if (!parse_device(v, len, &base, &size, &irq) ||
		    vb_mmio_read32(base + VIO_MAGIC) != VIO_MAGIC_VALUE ||
		    vb_mmio_read32(base + VIO_VERSION) != 2 ||
		    vb_mmio_read32(base + VIO_DEVICE_ID) != device_id)
			continue;
		*d = (struct vio_dev){ .base = base, .irq = (uint32_t)irq,
				       .device_id = device_id };
		/* Found again after a reset: keep its ring memory. */
		for (d->slot = 0; d->slot < nslots; d->slot++)
			if (slot_base[d->slot] == base)
				return true;
		if (nslots == VIO_MAX_DEVS)
			return false;
		slot_base[nslots] = base;
		d->slot = nslots++;
		return true;
	}
	return false;
}

/* ---- initialisation (§3.1.1, §4.2.3) -------------------------------- */

bool vio_reset(struct vio_dev *d)
{
	uint64_t dl = vio_deadline(100);

	vio_w32(d, VIO_STATUS, 0);
	/* §4.2.3.1: reset is done once Status reads back 0. */
	while (vio_r32(d, VIO_STATUS) != 0)
		if (vio_expired(dl))
			return false;
	return true;
}

bool vio_begin(struct vio_dev *d, const char **why)
{
	uint32_t st = VIO_S_ACKNOWLEDGE | VIO_S_DRIVER;

	if (!vio_reset(d)) {
		*why = "Status did not read back 0 after reset";
		return false;
	}
	vio_w32(d, VIO_STATUS, VIO_S_ACKNOWLEDGE);
	vio_w32(d, VIO_STATUS, st);
	vio_w32(d, VIO_DEV_FEATURES_SEL, 1);
	if (!(vio_r32(d, VIO_DEV_FEATURES) & 1)) {	/* bit 32 */
		*why = "device does not offer VIRTIO_F_VERSION_1";
		return false;
	}
	/* Accept VERSION_1 and nothing else: no INDIRECT, no EVENT_IDX. */
	vio_w32(d, VIO_DRV_FEATURES_SEL, 0);
	vio_w32(d, VIO_DRV_FEATURES, 0);
	vio_w32(d, VIO_DRV_FEATURES_SEL, 1);
	vio_w32(d, VIO_DRV_FEATURES, 1);
	vio_w32(d, VIO_STATUS, st | VIO_S_FEATURES_OK);
	if (!(vio_r32(d, VIO_STATUS) & VIO_S_FEATURES_OK)) {
		*why = "device refused FEATURES_OK";
		return false;
	}
	return true;
}

void vio_queue_setup(struct vio_dev *d, unsigned qi, uint32_t size)
{
	struct vio_queue *q = &d->q[qi];
	uint8_t *area = ring_mem[d->slot][qi];
	uint64_t a;

	memset(area, 0, 3 * PAGE);
	*q = (struct vio_queue){
		.desc = (struct vio_desc *)area,
		.avail = (struct vio_avail *)(area + PAGE),
		.used = (struct vio_used *)(area + 2 * PAGE),
		.nfree = VIO_QSIZE,
	};
	for (unsigned i = 0; i < VIO_QSIZE; i++)	/* id 0 comes first */
		q->free[i] = (uint16_t)(VIO_QSIZE - 1 - i);
	if (qi >= d->nq)
		d->nq = qi + 1;
	vio_w32(d, VIO_QUEUE_SEL, qi);
	vio_w32(d, VIO_QUEUE_NUM, size);
	a = (uintptr_t)q->desc;
	vio_w32(d, VIO_QUEUE_DESC_LO, (uint32_t)a);
	vio_w32(d, VIO_QUEUE_DESC_HI, (uint32_t)(a >> 32));
	a = (uintptr_t)q->avail;
	vio_w32(d, VIO_QUEUE_AVAIL_LO, (uint32_t)a);
	vio_w32(d, VIO_QUEUE_AVAIL_HI, (uint32_t)(a >> 32));
	a = (uintptr_t)q->used;
	vio_w32(d, VIO_QUEUE_USED_LO, (uint32_t)a);
	vio_w32(d, VIO_QUEUE_USED_HI, (uint32_t)(a >> 32));
}

void vio_queue_ready(struct vio_dev *d, unsigned qi)
{
	vio_w32(d, VIO_QUEUE_SEL, qi);
	vio_w32(d, VIO_QUEUE_READY, 1);
}

void vio_driver_ok(struct vio_dev *d)
{
	vio_w32(d, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER |
		VIO_S_FEATURES_OK | VIO_S_DRIVER_OK);
}

bool vio_setup(struct vio_dev *d, unsigned nq, const char **why)
{
	d->nq = 0;
	if (!vio_begin(d, why))
		return false;
	for (unsigned qi = 0; qi < nq; qi++) {
		vio_w32(d, VIO_QUEUE_SEL, qi);
		if (vio_r32(d, VIO_QUEUE_READY)) {
			*why = "queue already ready after reset";
			return false;
		}
		if (vio_r32(d, VIO_QUEUE_NUM_MAX) < VIO_QSIZE) {
			*why = "QueueNumMax below our ring size";
			return false;
		}
		vio_queue_setup(d, qi, VIO_QSIZE);
		vio_queue_ready(d, qi);
	}
	vio_driver_ok(d);
	if (vio_r32(d, VIO_STATUS) & (VIO_S_NEEDS_RESET | VIO_S_FAILED)) {
		*why = "device reports an error right after DRIVER_OK";
		return false;
	}
	return true;
}

/* ---- rings (§2.7.13, §2.7.14) --------------------------------------- */

int vio_desc_alloc(struct vio_queue *q)
{
	uint16_t id;

	if (!q->nfree)
		return -1;
	id = q->free[--q->nfree];
	q->busy[id / 64] |= 1ull << (id % 64);
	return id;
}

void vio_publish(struct vio_queue *q, uint16_t head)
{
	q->avail->ring[q->avail_idx % VIO_QSIZE] = head;
	q->avail_idx++;
	/* The ring entry (and the descriptors) before the index (§2.7.13). */
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

int vio_post(struct vio_dev *d, unsigned qi, uint64_t addr, uint32_t len,
	     uint16_t flags)
{
	struct vio_queue *q = &d->q[qi];
	int id = vio_desc_alloc(q);

	if (id < 0)
		return -1;
	q->desc[id] = (struct vio_desc){ .addr = addr, .len = len,
					 .flags = flags };
	vio_publish(q, (uint16_t)id);
	return id;
}

void vio_notify(struct vio_dev *d, unsigned qi)
{
	/* Stores to the rings are visible first: x86 keeps stores in order
	 * and the MMIO write (an exit or ioeventfd) comes after them. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vio_w32(d, VIO_QUEUE_NOTIFY, qi);
}

bool vio_get(struct vio_queue *q, uint32_t *id, uint32_t *len)
{
	uint16_t idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	struct vio_used_elem e;
	uint32_t i;

	if (idx == q->last_used)
		return false;
	e = q->used->ring[q->last_used % VIO_QSIZE];
	q->last_used++;
	*id = e.id;
	*len = e.len;
	/* Free the chain; an id we never handed out is a device bug. */
	i = e.id;
	for (unsigned hop = 0; hop < VIO_QSIZE; hop++) {
		if (i >= VIO_QSIZE || !(q->busy[i / 64] & 1ull << (i % 64))) {
			q->bad_used++;
			break;
		}
		q->busy[i / 64] &= ~(1ull << (i % 64));
		q->free[q->nfree++] = (uint16_t)i;
		if (!(q->desc[i].flags & VIO_DESC_F_NEXT))
			break;
		i = q->desc[i].next;
	}
	return true;
}

int vio_wait(struct vio_dev *d, unsigned qi, uint32_t *id, uint32_t *len,
	     uint64_t timeout_ms)
{
	uint64_t dl = vio_deadline(timeout_ms);

	for (unsigned n = 1;; n++) {
		if (vio_get(&d->q[qi], id, len))
			return 1;
		if (n % STATUS_POLL == 0 &&
		    vio_r32(d, VIO_STATUS) & VIO_S_NEEDS_RESET)
			return -1;
		if (vio_expired(dl))
			return 0;
		__asm__ __volatile__("pause");
	}
}

bool vio_wait_status(struct vio_dev *d, uint32_t bits, uint64_t timeout_ms)
{
	uint64_t dl = vio_deadline(timeout_ms);

	while ((vio_r32(d, VIO_STATUS) & bits) != bits)
		if (vio_expired(dl))
			return false;
	return true;
}

/* ---- virtio-vsock (§5.10.2 - §5.10.6) ------------------------------- */

bool vsk_open_n(struct vsk *v, unsigned nrx, const char **why)
{
	struct vio_dev *d = &v->dev;

	if (!vio_find(d, VIO_ID_VSOCK)) {
		*why = "no virtio-vsock device on the command line";
		return false;
	}
	if (!vio_setup(d, 3, why))
		return false;
	/* struct virtio_vsock_config: le64 guest_cid, read as two halves. */
	v->guest_cid = vio_r32(d, VIO_CONFIG) |
		       (uint64_t)vio_r32(d, VIO_CONFIG + 4) << 32;
	v->rx = vsk_rx_mem;
	v->tx = vsk_tx_mem;
	v->tx_free = ~0ull;
	for (unsigned i = 0; i < nrx && i < VSK_NRX; i++)
		vio_post(d, VSK_RXQ, (uintptr_t)vsk_rx_mem[i], VSK_BUF,
			 VIO_DESC_F_WRITE);
	/* §5.10.6.1: the event queue must hold buffers too. */
	for (unsigned i = 0; i < 4; i++)
		vio_post(d, VSK_EVQ, (uintptr_t)&vsk_ev_mem[i], 8,
			 VIO_DESC_F_WRITE);
	vio_notify(d, VSK_RXQ);
	vio_notify(d, VSK_EVQ);
	v->rx_kick = v->tx_kick = false;
	return true;
}

struct vsk_hdr vsk_hdr(const struct vsk *v, uint32_t src_port,
		       uint32_t dst_port, uint16_t op)
{
	return (struct vsk_hdr){
		.src_cid = v->guest_cid, .dst_cid = VSK_HOST_CID,
		.src_port = src_port, .dst_port = dst_port,
		.type = VSK_TYPE_STREAM, .op = op,
	};
}

static void tx_reclaim(struct vsk *v)
{
	struct vio_queue *q = &v->dev.q[VSK_TXQ];
	uint32_t id, len;

	while (vio_get(q, &id, &len)) {
		uint64_t a, i;

		if (id >= VIO_QSIZE)
			continue;
		a = q->desc[id].addr - (uintptr_t)vsk_tx_mem;
		i = a / VSK_BUF;
		if (i < VSK_NTX)
			v->tx_free |= 1ull << i;
	}
}

/* A free tx buffer, waiting for the device to finish one if needed. */
static int tx_slot(struct vsk *v, uint64_t timeout_ms)
{
	uint64_t dl = 0;

	for (;;) {
		tx_reclaim(v);
		if (v->tx_free)
			return __builtin_ctzll(v->tx_free);
		if (v->tx_kick) {
			vio_notify(&v->dev, VSK_TXQ);
			v->tx_kick = false;
		}
		if (!dl)
			dl = vio_deadline(timeout_ms);
		else if (vio_expired(dl))
			return -1;
		__asm__ __volatile__("pause");
	}
}

static bool tx_post(struct vsk *v, int slot, uint32_t len, uint16_t flags)
{
	if (vio_post(&v->dev, VSK_TXQ, (uintptr_t)vsk_tx_mem[slot], len,
		     flags) < 0)
		return false;
	v->tx_free &= ~(1ull << slot);
	v->tx_kick = true;
	return true;
}

bool vsk_send(struct vsk *v, const struct vsk_hdr *h, const void *data,
	      uint32_t len, uint64_t timeout_ms)
{
	int s = tx_slot(v, timeout_ms);

	if (s < 0 || len > VSK_MAX_PAYLOAD)
		return false;
	memcpy(vsk_tx_mem[s], h, sizeof(*h));
	memcpy(vsk_tx_mem[s] + sizeof(*h), data, len);
	return tx_post(v, s, (uint32_t)sizeof(*h) + len, 0);
}

bool vsk_send_raw(struct vsk *v, const void *pkt, uint32_t len,
		  uint16_t flags, uint64_t timeout_ms)
{
	int s = tx_slot(v, timeout_ms);

	if (s < 0 || len > VSK_BUF)
		return false;
	memcpy(vsk_tx_mem[s], pkt, len);
	return tx_post(v, s, len, flags);
}

void vsk_flush(struct vsk *v)
{
	if (v->rx_kick)
		vio_notify(&v->dev, VSK_RXQ);
	if (v->tx_kick)
		vio_notify(&v->dev, VSK_TXQ);
	v->rx_kick = v->tx_kick = false;
	tx_reclaim(v);
}

bool vsk_recv(struct vsk *v, struct vsk_pkt *p)
{
	struct vio_queue *q = &v->dev.q[VSK_RXQ];
	uint32_t id, len;
	const uint8_t *buf;

	if (!vio_get(q, &id, &len) || id >= VIO_QSIZE)
		return false;
	buf = (const uint8_t *)(uintptr_t)q->desc[id].addr;
	p->id = id;
	p->used_len = len;
	p->data = buf + sizeof(p->h);
	if (len >= sizeof(p->h))
		memcpy(&p->h, buf, sizeof(p->h));
	else
		memset(&p->h, 0, sizeof(p->h));
	return true;
}

void vsk_release(struct vsk *v, const struct vsk_pkt *p)
{
	uint64_t a = (uintptr_t)(p->data - sizeof(p->h));
	uint64_t off = a - (uintptr_t)vsk_rx_mem;

	/* Only our own buffers go back: a hostile guest posts odd ones. */
	if (off >= sizeof(vsk_rx_mem) || off % VSK_BUF)
		return;
	vio_post(&v->dev, VSK_RXQ, a, VSK_BUF, VIO_DESC_F_WRITE);
	v->rx_kick = true;
}

bool vsk_event(struct vsk *v)
{
	struct vio_queue *q = &v->dev.q[VSK_EVQ];
	uint32_t id, len;
	bool reset = false;

	while (vio_get(q, &id, &len)) {
		uint64_t addr = q->desc[id % VIO_QSIZE].addr;
		/* struct virtio_vsock_event: le32 id, 0 = transport reset */
		if (len >= 4 && *(volatile uint32_t *)(uintptr_t)addr == 0)
			reset = true;
		vio_post(&v->dev, VSK_EVQ, addr, 8, VIO_DESC_F_WRITE);
	}
	if (!reset)
		return false;
	/* As Linux does: the CID again, then drop the connections (the
	 * caller's), then the buffer back and a kick. */
	v->guest_cid = vio_r32(&v->dev, VIO_CONFIG) |
		       (uint64_t)vio_r32(&v->dev, VIO_CONFIG + 4) << 32;
	return true;
}

void vsk_event_done(struct vsk *v)
{
	vio_notify(&v->dev, VSK_EVQ);
}
