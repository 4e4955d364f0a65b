/* virtio.h: minimal polled virtio-mmio v2 driver for the test guests */
#ifndef VB_GUEST_VIRTIO_H
#define VB_GUEST_VIRTIO_H

/*
 * Just enough of virtio 1.2 to drive voidbox's devices from a guest that
 * runs with interrupts off: the virtio-mmio register file (§4.2.2), split
 * virtqueues (§2.7) without INDIRECT_DESC or EVENT_IDX, and the
 * virtio-vsock packet format (§5.10).  Completions are found by polling
 * the used rings; every wait is bounded by an rdtsc deadline so a dead
 * device shows up as a FAIL line, never as a hung guest.
 *
 * Devices are found on the kernel command line, the way Linux's
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES does it:
 * virtio_mmio.device=<size>[K]@<base>:<irq>.
 *
 * Ring memory is static, page-aligned and identity-mapped, so guest
 * virtual addresses are the guest-physical addresses the device needs.
 */
#include "lib.h"

/* virtio-mmio registers (virtio 1.2 §4.2.2) */
enum {
	VIO_MAGIC = 0x000, VIO_VERSION = 0x004, VIO_DEVICE_ID = 0x008,
	VIO_VENDOR_ID = 0x00c, VIO_DEV_FEATURES = 0x010,
	VIO_DEV_FEATURES_SEL = 0x014, VIO_DRV_FEATURES = 0x020,
	VIO_DRV_FEATURES_SEL = 0x024, VIO_QUEUE_SEL = 0x030,
	VIO_QUEUE_NUM_MAX = 0x034, VIO_QUEUE_NUM = 0x038,
	VIO_QUEUE_READY = 0x044, VIO_QUEUE_NOTIFY = 0x050,
	VIO_INT_STATUS = 0x060, VIO_INT_ACK = 0x064, VIO_STATUS = 0x070,
	VIO_QUEUE_DESC_LO = 0x080, VIO_QUEUE_DESC_HI = 0x084,
	VIO_QUEUE_AVAIL_LO = 0x090, VIO_QUEUE_AVAIL_HI = 0x094,
	VIO_QUEUE_USED_LO = 0x0a0, VIO_QUEUE_USED_HI = 0x0a4,
	VIO_SHM_SEL = 0x0ac, VIO_SHM_LEN_LO = 0x0b0,
	VIO_CONFIG_GEN = 0x0fc, VIO_CONFIG = 0x100,
};

#define VIO_MAGIC_VALUE		0x74726976u	/* "virt" */
#define VIO_S_ACKNOWLEDGE	0x01u
#define VIO_S_DRIVER		0x02u
#define VIO_S_DRIVER_OK		0x04u
#define VIO_S_FEATURES_OK	0x08u
#define VIO_S_NEEDS_RESET	0x40u
#define VIO_S_FAILED		0x80u
#define VIO_INT_VRING		0x01u
#define VIO_INT_CONFIG		0x02u

#define VIO_ID_RNG		4
#define VIO_ID_VSOCK		19

#define VIO_DESC_F_NEXT		1
#define VIO_DESC_F_WRITE	2
#define VIO_DESC_F_INDIRECT	4

/* Our ring size: each part then fits one 4 KiB page. */
#define VIO_QSIZE		256
#define VIO_MAX_QUEUES		3	/* vsock has the most */
#define VIO_MAX_DEVS		4

struct vio_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vio_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[VIO_QSIZE];
	uint16_t used_event;
};

struct vio_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vio_used {
	uint16_t flags;
	uint16_t idx;
	struct vio_used_elem ring[VIO_QSIZE];
	uint16_t avail_event;
};

struct vio_queue {
	struct vio_desc *desc;		/* page 0 of the queue's area */
	struct vio_avail *avail;	/* page 1 */
	struct vio_used *used;		/* page 2 */
	uint16_t avail_idx;		/* our shadow of avail->idx */
	uint16_t last_used;		/* next used entry to look at */
	uint16_t nfree;
	uint16_t free[VIO_QSIZE];	/* stack of free descriptor ids */
	uint64_t busy[VIO_QSIZE / 64];	/* ids the device may hand back */
	unsigned bad_used;		/* used entries naming free ids */
};

struct vio_dev {
	uint64_t base;			/* MMIO window */
	uint32_t irq, device_id;
	unsigned slot;			/* index into the static ring area */
	unsigned nq;
	struct vio_queue q[VIO_MAX_QUEUES];
};

/* Register access: one 32-bit MOV each, as §4.2.2.2 requires. */
static inline uint32_t vio_r32(const struct vio_dev *d, uint32_t off)
{
	return vb_mmio_read32(d->base + off);
}
static inline void vio_w32(const struct vio_dev *d, uint32_t off,
			   uint32_t v)
{
	vb_mmio_write32(d->base + off, v);
}
static inline bool vio_alive(const struct vio_dev *d)
{
	return vio_r32(d, VIO_MAGIC) == VIO_MAGIC_VALUE &&
	       vio_r32(d, VIO_DEVICE_ID) == d->device_id;
}

/* TSC ticks per millisecond, calibrated once against the PIT. */
uint64_t vio_tsc_khz(void);
/* rdtsc value ms milliseconds from now */
uint64_t vio_deadline(uint64_t ms);
static inline bool vio_expired(uint64_t deadline)
{
	return vb_rdtsc() >= deadline;
}

/* Find the first device with this id on the cmdline; checks MagicValue
 * and Version 2.  false if absent. */
bool vio_find(struct vio_dev *d, uint32_t device_id);
/* Reset (status 0) and wait until the device reads back 0. */
bool vio_reset(struct vio_dev *d);
/*
 * Full initialisation (§3.1.1): reset, ACKNOWLEDGE, DRIVER, features
 * (VERSION_1 only), FEATURES_OK, nq queues of VIO_QSIZE, DRIVER_OK.
 * On failure *why says what went wrong.
 */
bool vio_setup(struct vio_dev *d, unsigned nq, const char **why);
/* The steps of vio_setup, for guests that want to misbehave in between. */
bool vio_begin(struct vio_dev *d, const char **why);
/* Clear queue qi's memory and program it (QueueSel, QueueNum = size,
 * the three addresses), but leave it not ready: a hostile guest can
 * still poke the queue registers.  size is VIO_QSIZE unless one lies. */
void vio_queue_setup(struct vio_dev *d, unsigned qi, uint32_t size);
void vio_queue_ready(struct vio_dev *d, unsigned qi);
void vio_driver_ok(struct vio_dev *d);

/* Put one buffer (a one-descriptor chain) on queue qi; returns its
 * descriptor id, or -1 if the ring is full.  Does not notify. */
int vio_post(struct vio_dev *d, unsigned qi, uint64_t addr, uint32_t len,
	     uint16_t flags);
/* Allocate a descriptor without making it available. */
int vio_desc_alloc(struct vio_queue *q);
/* Make the chain starting at head available (publishes avail->idx). */
void vio_publish(struct vio_queue *q, uint16_t head);
void vio_notify(struct vio_dev *d, unsigned qi);
/* Pop one used entry: true with *id and *len; frees the chain. */
bool vio_get(struct vio_queue *q, uint32_t *id, uint32_t *len);
/* Wait for a used entry: 1 got one, 0 timeout, -1 DEVICE_NEEDS_RESET. */
int vio_wait(struct vio_dev *d, unsigned qi, uint32_t *id, uint32_t *len,
	     uint64_t timeout_ms);
/* Wait until all of `bits` are set in Status; false on timeout. */
bool vio_wait_status(struct vio_dev *d, uint32_t bits, uint64_t timeout_ms);

/* ---- virtio-vsock (§5.10) ------------------------------------------- */

struct vsk_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsk_hdr) == 44, "virtio_vsock_hdr");

enum {
	VSK_OP_REQUEST = 1, VSK_OP_RESPONSE, VSK_OP_RST, VSK_OP_SHUTDOWN,
	VSK_OP_RW, VSK_OP_CREDIT_UPDATE, VSK_OP_CREDIT_REQUEST,
};
#define VSK_TYPE_STREAM		1
#define VSK_SHUTDOWN_RCV	1
#define VSK_SHUTDOWN_SEND	2
#define VSK_HOST_CID		2
#define VSK_RXQ			0
#define VSK_TXQ			1
#define VSK_EVQ			2
#define VSK_READY_PORT		1023	/* the agent's "ready" knock */

#define VSK_BUF			4096	/* one rx or tx buffer */
#define VSK_MAX_PAYLOAD		(VSK_BUF - sizeof(struct vsk_hdr))
#define VSK_NRX			32	/* rx buffers kept posted */
#define VSK_NTX			64	/* tx buffers in flight, at most */

struct vsk {
	struct vio_dev dev;
	uint64_t guest_cid;		/* from config space */
	uint8_t (*rx)[VSK_BUF];		/* VSK_NRX buffers */
	uint8_t (*tx)[VSK_BUF];		/* VSK_NTX buffers */
	uint64_t tx_free;		/* bitmap of free tx buffers */
	bool rx_kick, tx_kick;		/* notifications owed */
};

/* A received packet; payload stays valid until vsk_release(). */
struct vsk_pkt {
	struct vsk_hdr h;
	const uint8_t *data;
	uint32_t used_len;		/* what the device wrote */
	uint32_t id;
};

/* Find and set up the vsock device, post event buffers and the first
 * nrx of v->rx (a hostile caller may post odd buffers of its own). */
bool vsk_open_n(struct vsk *v, unsigned nrx, const char **why);
static inline bool vsk_open(struct vsk *v, const char **why)
{
	return vsk_open_n(v, VSK_NRX, why);
}
/* Queue one packet (header from h, payload data/len); false if no tx
 * buffer came free within timeout_ms.  Notification is deferred to
 * vsk_flush(). */
bool vsk_send(struct vsk *v, const struct vsk_hdr *h, const void *data,
	      uint32_t len, uint64_t timeout_ms);
/* Queue raw bytes as one tx descriptor (for malformed packets). */
bool vsk_send_raw(struct vsk *v, const void *pkt, uint32_t len,
		  uint16_t flags, uint64_t timeout_ms);
/* Notify the queues that got new buffers; reclaim finished tx buffers. */
void vsk_flush(struct vsk *v);
/* Non-blocking receive: true with *p filled. */
bool vsk_recv(struct vsk *v, struct vsk_pkt *p);
/* Consume event-queue entries (buffers re-posted): true after a
 * transport reset (a restore), v->guest_cid then re-read. The caller
 * drops its connections, then vsk_event_done() kicks the event queue. */
bool vsk_event(struct vsk *v);
void vsk_event_done(struct vsk *v);
/* Give p's buffer back to the device (notified by vsk_flush); buffers
 * not from v->rx are dropped. */
void vsk_release(struct vsk *v, const struct vsk_pkt *p);
/* A header from the guest to the host, type stream, our CID. */
struct vsk_hdr vsk_hdr(const struct vsk *v, uint32_t src_port,
		       uint32_t dst_port, uint16_t op);

#endif
