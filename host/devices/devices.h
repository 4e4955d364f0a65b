/* devices.h: table of contents of host/devices/ — virtio device models.
 *
 * A device is a model plus a backend (STYLE R3). Models see guest memory
 * only through struct gmem, so unit tests run them over malloc'ed "RAM"
 * (tests/unit/), and never touch sockets or files themselves.
 *
 * Threading: register accesses arrive on vCPU threads (MMIO exits), queue
 * work on the VMM's I/O thread; both hold dev->lock.
 */
#ifndef VOIDBOX_DEVICES_H
#define VOIDBOX_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Guest memory as the device models see it. ptr() returns a host pointer
 * for [gpa, gpa+len) or NULL when any byte is outside guest RAM. */
struct gmem {
	void *(*ptr)(void *ctx, uint64_t gpa, uint64_t len);
	void *ctx;
};

static inline void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	return m->ptr(m->ctx, gpa, len);
}

/* ---- virtq.c: split virtqueues (virtio 1.2 §2.7) ---------------------- */

#define VIRTQ_MAX_SIZE 1024	/* largest queue we offer (QueueNumMax) */
#define VIRTQ_MAX_SEGS 64	/* longest chain we accept */

struct virtq {
	uint16_t size;		/* QueueNum, a power of 2 <= VIRTQ_MAX_SIZE */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail;	/* next available index to consume */
	uint16_t used_idx;	/* shadow of used->idx */
	bool broken;		/* guest corrupted it: ignored until reset */
};

/* One popped descriptor chain, split into the parts the device reads
 * (out: driver -> device) and writes (in: device -> driver). */
struct virtq_elem {
	uint16_t head;
	unsigned nout, nin;
	struct iovec out[VIRTQ_MAX_SEGS], in[VIRTQ_MAX_SEGS];
	size_t out_len, in_len;
};

/* Pop the next available chain. Returns 1 with *e filled, 0 when the
 * queue is empty, -1 when the guest handed us garbage (loop, bad address,
 * out-of-range index, too long): the queue is then marked broken and the
 * caller should log once; the VMM carries on. */
int virtq_pop(struct virtq *q, const struct gmem *m, struct virtq_elem *e);
/* Return a chain with `written` bytes written into its in-part. */
void virtq_push(struct virtq *q, const struct gmem *m, uint16_t head,
		uint32_t written);
/* Does the driver want an interrupt now? (VIRTQ_AVAIL_F_NO_INTERRUPT) */
bool virtq_should_notify(struct virtq *q, const struct gmem *m);
bool virtq_has_avail(struct virtq *q, const struct gmem *m);
/* The driver's avail->idx now, or -1 (queue not usable). */
int virtq_avail_idx(struct virtq *q, const struct gmem *m);
/* Copy helpers over an iovec array; they never write past the iovecs. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip,
		  void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip,
		    const void *buf, size_t len);

/* ---- virtio_mmio.c: the virtio-mmio v2 transport (virtio 1.2 §4.2) ----- */

struct virtio_dev;

struct virtio_dev_ops {
	/* Device-specific config space access (offset from 0x100). */
	void (*config_read)(struct virtio_dev *d, uint32_t off, void *data,
			    unsigned len);
	void (*config_write)(struct virtio_dev *d, uint32_t off,
			     const void *data, unsigned len);
	/* The driver notified queue q (called with dev->lock held). */
	void (*queue_notify)(struct virtio_dev *d, unsigned q);
	/* Device reset by the driver (status := 0); lock held. */
	void (*reset)(struct virtio_dev *d);
	/* DRIVER_OK was set: queues are live; lock held. Optional. */
	void (*driver_ok)(struct virtio_dev *d);
};

#define VIRTIO_MAX_QUEUES 4

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const char *name;		/* "vsock", "rng", "blk" */
	uint32_t device_id;
	uint64_t host_features;
	uint64_t driver_features;
	uint32_t host_features_sel, driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t interrupt_status;
	uint32_t config_generation;
	unsigned nqueues;
	struct virtq vqs[VIRTIO_MAX_QUEUES];
	const struct gmem *mem;
	pthread_mutex_t lock;
	/* Transport glue set by the VMM: raise the device's interrupt. */
	void (*raise_irq)(struct virtio_dev *d);
	void *transport;		/* the VMM's per-device data */
	unsigned warned;		/* rate limit for guest-error logs */
};

#define VIRTIO_FEAT_VERSION_1 (1ull << 32)
#define VIRTIO_MMIO_SIZE 0x200	/* registers + config we decode */

void virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops,
		     const char *name, uint32_t device_id, uint64_t features,
		     unsigned nqueues, const struct gmem *mem);
/* Register access at offset `off` inside the device's MMIO window. */
void virtio_mmio_read(struct virtio_dev *d, uint64_t off, void *data,
		      unsigned len);
void virtio_mmio_write(struct virtio_dev *d, uint64_t off, const void *data,
		       unsigned len);
/* Mark used buffers on queue q and interrupt the driver if it wants. */
void virtio_notify_queue(struct virtio_dev *d, unsigned q);
/* Rate-limited warning about guest misbehaviour on this device. */
void virtio_guest_error(struct virtio_dev *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool virtio_dev_live(const struct virtio_dev *d);

/* A device's transport state, as a snapshot carries it. save copies it
 * (lock held by the caller, the device quiet); load checks untrusted
 * bytes against this device (same type and features, sane queues) before
 * taking any of it: 0, or -1 with err. extra is the device's own (vsock:
 * the guest CID it had). */
struct virtio_qstate {
	uint64_t desc, avail, used;
	uint16_t size, last_avail, used_idx;
	uint8_t ready, broken;
};
struct virtio_state {
	uint32_t device_id, nqueues;
	uint64_t host_features, driver_features;
	uint32_t host_features_sel, driver_features_sel, queue_sel, status;
	uint32_t interrupt_status, config_generation;
	struct virtio_qstate q[VIRTIO_MAX_QUEUES];
	uint64_t extra;
};
void virtio_dev_save(struct virtio_dev *d, struct virtio_state *s);
int virtio_dev_load(struct virtio_dev *d, const struct virtio_state *s,
		    char *err, size_t errlen);

/* ---- rng.c: virtio-rng from getrandom() ------------------------------- */

/* rekick(ctx, q) must arrange for rng_kick(impl, q) on the I/O thread. */
struct virtio_dev *rng_new(const struct gmem *mem,
			   void (*rekick)(void *ctx, unsigned q), void *ctx);
void rng_kick(void *impl, unsigned q);
void rng_free(struct virtio_dev *d);

/* ---- blk.c + blk_file.c: virtio-blk and its raw-file backend ---------- */

struct blk_backend_ops {
	/* iovecs may be modified; return bytes or -errno */
	ssize_t (*readv)(void *ctx, struct iovec *iov, unsigned n,
			 uint64_t off);
	ssize_t (*writev)(void *ctx, struct iovec *iov, unsigned n,
			  uint64_t off);
	int (*flush)(void *ctx);
	void (*close)(void *ctx);
};
extern const struct blk_backend_ops blk_file_ops;
/* Takes ownership of fd; every access is shifted by base (the device
 * size, checked by blk.c, bounds the window's other end). */
void *blk_file_new(int fd, uint64_t base);
/* Takes ownership of be_ctx (closed by blk_free). */
struct virtio_dev *blk_new(const struct gmem *mem,
			   const struct blk_backend_ops *be, void *be_ctx,
			   uint64_t size, bool ro, const char *id,
			   void (*rekick)(void *ctx, unsigned q), void *ctx);
void blk_kick(void *impl, unsigned q);
void blk_free(struct virtio_dev *d);

/* ---- virtiofs.c: virtio-fs, a shared directory (host/fs/ serves it) --- */

struct virtiofs_backend_ops {
	/* One FUSE request: out = what the driver wrote, in = where the
	 * reply goes (guest memory, both). Returns bytes written into in. */
	size_t (*request)(void *ctx, const struct iovec *out, unsigned nout,
			  const struct iovec *in, unsigned nin);
	void (*close)(void *ctx);
};

/* A virtio-fs device the guest mounts by `tag` (1..36 bytes). be_ctx is
 * taken (closed by virtiofs_free). NULL on OOM or a bad tag. */
struct virtio_dev *virtiofs_new(const struct gmem *mem, const char *tag,
				const struct virtiofs_backend_ops *be,
				void *be_ctx,
				void (*rekick)(void *ctx, unsigned q),
				void *ctx);
void virtiofs_kick(void *impl, unsigned q);
void virtiofs_free(struct virtio_dev *d);

/* ---- net.c: virtio-net (virtio 1.2 §5.1), backend-agnostic ------------ */

#define NET_HDR_LEN	   12		/* struct virtio_net_hdr_v1 */
#define NET_FRAME_MIN	   14		/* an Ethernet header */
#define NET_FRAME_MAX	   65550	/* 64 KiB payload + Ethernet header */
#define NET_RX_QUEUE	   256		/* frames held while rx is empty */
#define NET_RX_QUEUE_BYTES (1u << 20)	/* ... and their bytes, at most */
#define NET_RXQ 0
#define NET_TXQ 1

struct net_dev;

/* What the VMM provides to the model (a slirp backend, or a test). */
struct net_backend_ops {
	/* One guest frame, Ethernet header first, virtio header stripped,
	 * NET_FRAME_MIN <= len <= NET_FRAME_MAX. `frame` is the model's own
	 * copy, never guest memory (the guest cannot change it under a
	 * policy check), valid only during the call: copy what you keep.
	 * Called on the I/O thread WITHOUT the device lock, so it may call
	 * net_rx() (slirp answers ARP from inside slirp_input). Return 0,
	 * or -errno to have the frame counted as a backend drop. */
	int (*send)(void *ctx, const uint8_t *frame, size_t len);
	/* Optional: call net_queue_kick(q) again soon from the I/O loop
	 * (register-path notifies, and to yield after a tx budget). Called
	 * with the device lock held; must not call into the model. */
	void (*rekick)(void *ctx, unsigned q);
};

/* Counters for tests and telemetry. rx = host -> guest, tx = guest ->
 * host; bytes are frame bytes without the virtio header. */
struct net_dev_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
	unsigned rx_pending;		/* frames waiting for rx buffers */
	size_t rx_pending_bytes;
	/* host -> guest drops */
	uint64_t rx_drop_full;		/* pending queue at its bound */
	uint64_t rx_drop_size;		/* net_rx() frame length out of range */
	uint64_t rx_drop_down;		/* driver not (or no longer) live */
	uint64_t rx_drop_too_big;	/* guest's rx buffer cannot hold it */
	uint64_t rx_drop_reset;		/* pending frames freed by a reset */
	uint64_t rx_bad_buffers;	/* rx chains with readable parts */
	/* guest -> host drops */
	uint64_t tx_drop_short;		/* under header + NET_FRAME_MIN */
	uint64_t tx_drop_long;		/* frame over NET_FRAME_MAX */
	uint64_t tx_drop_layout;	/* device-writable parts in a tx chain */
	uint64_t tx_drop_offload;	/* csum/GSO request never negotiated */
	uint64_t tx_drop_backend;	/* ops->send() returned < 0 */
	uint64_t queue_errors;		/* chains that broke a queue */
};

/* A virtio-net device with MAC `mac` (NULL: 52:54:00:12:34:56) and link
 * up. ops and ctx belong to the caller and must outlive the device;
 * ops->send is required. Returns NULL on OOM or without ops->send. */
struct net_dev *net_new(const struct gmem *mem, const uint8_t mac[6],
			const struct net_backend_ops *ops, void *ctx);
/* Frees the device and any frames still queued for the guest. NULL ok. */
void net_free(struct net_dev *n);
struct virtio_dev *net_virtio(struct net_dev *n);
/* I/O thread only: the driver kicked queue q (NET_RXQ: buffers posted,
 * NET_TXQ: frames to send). Sends at most a budget of tx frames, then
 * asks for a rekick. Takes the device lock. */
void net_queue_kick(struct net_dev *n, unsigned q);
/* I/O thread only (or from inside ops->send): deliver one frame (copied)
 * to the guest, Ethernet header first. Queued, within NET_RX_QUEUE frames
 * and NET_RX_QUEUE_BYTES, while the guest has no rx buffers. Returns 0
 * when delivered or queued, -EINVAL (bad length), -ENETDOWN (driver not
 * live) or -ENOBUFS (queue full) when dropped; every drop is counted. */
int net_rx(struct net_dev *n, const void *frame, size_t len);
void net_get_stats(struct net_dev *n, struct net_dev_stats *st);

#endif
