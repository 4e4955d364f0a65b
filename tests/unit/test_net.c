/* test_net.c: the virtio-net device model, driven from a fake guest
 * driver over plain memory, with a recording backend. */
#include <errno.h>

#include <linux/virtio_net.h>

#include "vqdrv.h"

/* Guest RAM layout (RAM_SIZE is 4 MiB). */
#define RXQ_AT	0x10000u	/* 256 entries */
#define TXQ_AT	0x20000u	/* 512 entries */
#define RXBUF	0x100000u	/* 256 x 4 KiB rx buffers */
#define TXBUF	0x200000u	/* 2 MiB of tx data, bump-allocated */
#define RXQ_SZ	256
#define TXQ_SZ	512

enum { REG_DEVICE_ID = 0x008, REG_DEV_FEATURES = 0x010,
       REG_DEV_FEATURES_SEL = 0x014, REG_DRV_FEATURES = 0x020,
       REG_DRV_FEATURES_SEL = 0x024, REG_QUEUE_NOTIFY = 0x050,
       REG_STATUS = 0x070, REG_CONFIG = 0x100 };

static struct ram ram;
static struct drvq rxq, txq;
static struct net_dev *n;
static struct virtio_dev *d;

/* ---- the backend: records what the guest sent ------------------------- */

#define MAXREC 512
static uint8_t *rec[MAXREC];
static size_t rec_len[MAXREC];
static unsigned nrec, rekicks, last_rekick_q, irqs;
static int send_rc;		/* what send() returns */
static bool echo;		/* send() loops the frame back via net_rx */
static bool reset_in_send;	/* send() resets the device, as a vCPU may */

static int b_send(void *ctx, const uint8_t *frame, size_t len)
{
	if (nrec < MAXREC) {
		rec[nrec] = malloc(len);
		memcpy(rec[nrec], frame, len);
		rec_len[nrec++] = len;
	}
	if (echo)
		net_rx(n, frame, len);	/* must not deadlock */
	if (reset_in_send) {
		uint32_t z = 0;
		virtio_mmio_write(d, REG_STATUS, &z, 4);
	}
	return send_rc;
}

static void b_rekick(void *ctx, unsigned q)
{
	rekicks++;
	last_rekick_q = q;
}

static const struct net_backend_ops ops = {
	.send = b_send, .rekick = b_rekick,
};

static void rec_clear(void)
{
	for (unsigned i = 0; i < nrec; i++)
		free(rec[i]);
	nrec = 0;
}

static void raise_irq(struct virtio_dev *v)
{
	irqs++;
}

/* ---- driver helpers ---------------------------------------------------- */

static uint32_t reg_rd(uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(d, off, &v, 4);
	return v;
}

static void reg_wr(uint64_t off, uint32_t v)
{
	virtio_mmio_write(d, off, &v, 4);
}

/* Reset, negotiate VERSION_1|MAC|STATUS (plus `extra` low feature bits),
 * set up both queues, go live. */
static void dev_setup_with(uint32_t extra)
{
	reg_wr(REG_STATUS, 0);
	reg_wr(REG_STATUS, 1);
	reg_wr(REG_STATUS, 3);
	reg_wr(REG_DRV_FEATURES_SEL, 0);
	reg_wr(REG_DRV_FEATURES, (1u << VIRTIO_NET_F_MAC) |
				 (1u << VIRTIO_NET_F_STATUS) | extra);
	reg_wr(REG_DRV_FEATURES_SEL, 1);
	reg_wr(REG_DRV_FEATURES, 1);	/* VERSION_1 */
	reg_wr(REG_STATUS, 0xb);
	memset(ram.base, 0, TXBUF);	/* rings and rx buffers */
	drvq_init(&rxq, &ram, &d->vqs[0], RXQ_AT, RXQ_SZ);
	drvq_init(&txq, &ram, &d->vqs[1], TXQ_AT, TXQ_SZ);
	reg_wr(REG_STATUS, 0xf);
}

static void dev_setup(void)
{
	dev_setup_with(0);
}

static void post_rx_sz(int count, uint32_t size)
{
	static unsigned slot;
	for (int i = 0; i < count; i++) {
		if ((uint16_t)(rxq.avail_idx - rxq.used_seen) >= RXQ_SZ)
			return;
		uint64_t a[1] = { RXBUF + 4096ull * (slot++ % RXQ_SZ) };
		uint32_t l[1] = { size };
		int w[1] = { 1 };
		drvq_add(&rxq, a, l, w, 1);
	}
}

static void post_rx(int count)
{
	post_rx_sz(count, 4096);
}

/* Next frame the device put in rx (header checked, stripped): its length,
 * or -1 if none; -2 if the header was wrong. */
static int recv_rx(uint8_t *frame)
{
	uint32_t len;
	int id = drvq_used(&rxq, &len);
	if (id < 0)
		return -1;
	uint64_t at = drv_desc(&rxq, (uint16_t)id)->addr;
	struct virtio_net_hdr_v1 h;
	memcpy(&h, ram.base + at, sizeof(h));
	if (len < sizeof(h) || h.num_buffers != 1 || h.flags || h.gso_type ||
	    h.hdr_len || h.gso_size || h.csum_start || h.csum_offset)
		return -2;
	if (frame)
		memcpy(frame, ram.base + at + sizeof(h), len - sizeof(h));
	return (int)(len - sizeof(h));
}

static uint64_t tx_at = TXBUF;

static uint64_t tx_alloc(size_t len)
{
	if (tx_at + len > RAM_SIZE)
		tx_at = TXBUF;
	uint64_t a = tx_at;
	tx_at += (len + 15) & ~15ull;
	return a;
}

/* Queue a tx chain carrying header h + frame, cut into pieces of the
 * given sizes (the last piece takes the rest); no kick. */
static void add_tx(const struct virtio_net_hdr_v1 *h, const uint8_t *frame,
		   size_t len, const uint32_t *cuts, int ncuts)
{
	uint8_t *all = malloc(sizeof(*h) + len);
	memcpy(all, h, sizeof(*h));
	memcpy(all + sizeof(*h), frame, len);
	size_t total = sizeof(*h) + len, off = 0;
	uint64_t a[VIRTQ_MAX_SEGS];
	uint32_t l[VIRTQ_MAX_SEGS];
	int w[VIRTQ_MAX_SEGS] = { 0 };
	int k = 0;
	for (; k < ncuts && off < total; k++) {
		size_t left = total - off;
		l[k] = cuts[k] < left ? cuts[k] : (uint32_t)left;
		a[k] = tx_alloc(l[k]);
		memcpy(ram.base + a[k], all + off, l[k]);
		off += l[k];
	}
	if (off < total || k == 0) {
		l[k] = (uint32_t)(total - off);
		a[k] = tx_alloc(l[k]);
		memcpy(ram.base + a[k], all + off, l[k]);
		k++;
	}
	drvq_add(&txq, a, l, w, k);
	free(all);
}

static const struct virtio_net_hdr_v1 hdr0;

static void make_frame(uint8_t *f, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
	if (len >= 4)
		memcpy(f, &seed, 4);	/* a sequence number up front */
}

static void send_one(size_t len, unsigned seed, const uint32_t *cuts,
		     int ncuts)
{
	static uint8_t f[NET_FRAME_MAX + 16];
	make_frame(f, len, seed);
	add_tx(&hdr0, f, len, cuts, ncuts);
	net_queue_kick(n, NET_TXQ);
}

static bool rec_is(unsigned i, size_t len, unsigned seed)
{
	static uint8_t f[NET_FRAME_MAX + 16];
	make_frame(f, len, seed);
	return i < nrec && rec_len[i] == len && !memcmp(rec[i], f, len);
}

static struct net_dev_stats stats(void)
{
	struct net_dev_stats st;
	net_get_stats(n, &st);
	return st;
}

static unsigned tx_used_drain(void)
{
	unsigned k = 0;
	uint32_t len;
	while (drvq_used(&txq, &len) >= 0)
		k++;
	return k;
}

/* ---- tests -------------------------------------------------------------- */

static void test_features(void)
{
	static const uint8_t mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	struct net_dev *m = net_new(&ram.gm, NULL, &ops, NULL);
	uint8_t got[6];

	CHECK("net-new-needs-send", net_new(&ram.gm, mac,
		&(struct net_backend_ops){ .rekick = b_rekick }, NULL) == NULL);
	for (int i = 0; i < 6; i++)
		virtio_mmio_read(net_virtio(m), REG_CONFIG + i, &got[i], 1);
	CHECK("net-default-mac", !memcmp(got, "\x52\x54\x00\x12\x34\x56", 6));
	net_free(m);
	net_free(NULL);

	CHECK("net-device-id", reg_rd(REG_DEVICE_ID) == 1);
	reg_wr(REG_DEV_FEATURES_SEL, 0);
	uint32_t lo = reg_rd(REG_DEV_FEATURES);
	reg_wr(REG_DEV_FEATURES_SEL, 1);
	uint32_t hi = reg_rd(REG_DEV_FEATURES);
	CHECK("net-features-offered",
	      lo == ((1u << VIRTIO_NET_F_MAC) | (1u << VIRTIO_NET_F_STATUS) |
		     (1u << VIRTIO_NET_F_CSUM) |
		     (1u << VIRTIO_NET_F_HOST_TSO4)) &&
	      hi == 1);	/* VERSION_1; tx offloads only, no MRG_RXBUF */

	/* A driver asking for more than offered gets only what was. */
	reg_wr(REG_STATUS, 0);
	reg_wr(REG_STATUS, 3);
	reg_wr(REG_DRV_FEATURES_SEL, 0);
	reg_wr(REG_DRV_FEATURES, 0xffffffffu);
	reg_wr(REG_DRV_FEATURES_SEL, 1);
	reg_wr(REG_DRV_FEATURES, 1);
	reg_wr(REG_STATUS, 0xb);
	CHECK("net-features-negotiated",
	      (reg_rd(REG_STATUS) & 8) &&
	      d->driver_features == (VIRTIO_FEAT_VERSION_1 |
				     (1ull << VIRTIO_NET_F_MAC) |
				     (1ull << VIRTIO_NET_F_STATUS) |
				     (1ull << VIRTIO_NET_F_CSUM) |
				     (1ull << VIRTIO_NET_F_HOST_TSO4)));
	/* A legacy driver (no VERSION_1) is refused FEATURES_OK. */
	reg_wr(REG_STATUS, 0);
	reg_wr(REG_STATUS, 3);
	reg_wr(REG_DRV_FEATURES_SEL, 0);
	reg_wr(REG_DRV_FEATURES, 1u << VIRTIO_NET_F_MAC);
	reg_wr(REG_STATUS, 0xb);
	CHECK("net-legacy-refused", !(reg_rd(REG_STATUS) & 8));

	for (int i = 0; i < 6; i++)
		virtio_mmio_read(d, REG_CONFIG + i, &got[i], 1);
	uint16_t status = 0;
	virtio_mmio_read(d, REG_CONFIG + 6, &status, 2);
	uint32_t beyond = 0xdead;
	virtio_mmio_read(d, REG_CONFIG + 200, &beyond, 4);
	CHECK("net-config-mac", !memcmp(got, mac, 6));
	CHECK("net-config-link-up", status == VIRTIO_NET_S_LINK_UP);
	CHECK("net-config-beyond-zero", beyond == 0);
	uint8_t w6[6] = { 0 };
	virtio_mmio_write(d, REG_CONFIG, w6, 6);	/* read-only in 1.x */
	virtio_mmio_read(d, REG_CONFIG, got, 4);
	CHECK("net-config-mac-readonly", !memcmp(got, mac, 4));
}

static void test_tx(void)
{
	static const size_t sizes[] = { 14, 60, 61, 1514, 4000, 9014,
					65535, NET_FRAME_MAX };
	const unsigned k = sizeof(sizes) / sizeof(sizes[0]);
	uint32_t one[1] = { 1u << 20 };
	uint32_t hdr_apart[2] = { NET_HDR_LEN, 1u << 20 };
	uint32_t straddle[3] = { 5, 20, 1u << 20 };	/* header in 2 descs */
	uint32_t many[40];

	for (int i = 0; i < 40; i++)
		many[i] = (uint32_t)(3 + i * 37);
	dev_setup();
	rec_clear();
	struct net_dev_stats st0 = stats();
	unsigned seed = 100;
	bool ok1 = true, ok2 = true, ok3 = true, ok4 = true;
	for (unsigned i = 0; i < k; i++) {
		send_one(sizes[i], seed, one, 1);
		ok1 &= rec_is(nrec - 1, sizes[i], seed++);
		send_one(sizes[i], seed, hdr_apart, 2);
		ok2 &= rec_is(nrec - 1, sizes[i], seed++);
		send_one(sizes[i], seed, straddle, 3);
		ok3 &= rec_is(nrec - 1, sizes[i], seed++);
		send_one(sizes[i], seed, many, 40);
		ok4 &= rec_is(nrec - 1, sizes[i], seed++);
	}
	CHECK("net-tx-one-descriptor", ok1);
	CHECK("net-tx-header-own-descriptor", ok2);
	CHECK("net-tx-header-straddles", ok3);
	CHECK("net-tx-many-descriptors", ok4);
	struct net_dev_stats st = stats();
	size_t bytes = 0;
	for (unsigned i = 0; i < k; i++)
		bytes += 4 * sizes[i];
	CHECK("net-tx-counted", st.tx_frames - st0.tx_frames == 4 * k &&
	      st.tx_bytes - st0.tx_bytes == bytes && nrec == 4 * k);
	CHECK("net-tx-chains-returned", tx_used_drain() == 4 * k);

	/* Header flags that do not change the bytes are ignored. */
	static uint8_t f[64];
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID,
				       .num_buffers = 7 };
	make_frame(f, 60, 1);
	add_tx(&h, f, 60, one, 1);
	net_queue_kick(n, NET_TXQ);
	CHECK("net-tx-harmless-flags", rec_is(nrec - 1, 60, 1));

	/* A backend failure is counted, and the chain still returned. */
	send_rc = -EIO;
	send_one(60, 2, one, 1);
	send_rc = 0;
	st = stats();
	CHECK("net-tx-backend-drop", st.tx_drop_backend == 1 &&
	      tx_used_drain() == 2);
	rec_clear();
}

static void test_rx(void)
{
	static uint8_t f[NET_FRAME_MAX], g[NET_FRAME_MAX];

	dev_setup();
	struct net_dev_stats st0 = stats();
	irqs = 0;
	post_rx(8);
	make_frame(f, 1514, 7);
	CHECK("net-rx-ok", net_rx(n, f, 1514) == 0);
	int len = recv_rx(g);
	CHECK("net-rx-delivered-with-header", len == 1514 &&
	      !memcmp(f, g, 1514));
	CHECK("net-rx-interrupt", irqs == 1);
	make_frame(f, 14, 8);
	net_rx(n, f, 14);
	CHECK("net-rx-min-frame", recv_rx(g) == 14 && !memcmp(f, g, 14));

	/* Header alone in one descriptor, frame in another, and a header
	 * cut across two descriptors. */
	uint64_t a[3] = { RXBUF + 0x80000, RXBUF + 0x81000, RXBUF + 0x82000 };
	uint32_t l2[2] = { NET_HDR_LEN, 2048 };
	uint32_t l3[3] = { 5, 9, 2048 };
	int w[3] = { 1, 1, 1 };
	drvq_add(&rxq, a, l2, w, 2);	/* rxq now holds 6 + this one */
	/* drain the 6 single buffers first */
	for (int i = 0; i < 6; i++) {
		make_frame(f, 100, 20 + (unsigned)i);
		net_rx(n, f, 100);
		recv_rx(NULL);
	}
	make_frame(f, 1500, 9);
	net_rx(n, f, 1500);
	uint32_t ul;
	int id = drvq_used(&rxq, &ul);
	struct virtio_net_hdr_v1 h;
	memcpy(&h, ram.base + a[0], sizeof(h));
	CHECK("net-rx-split-header-desc", id >= 0 && ul == NET_HDR_LEN + 1500 &&
	      h.num_buffers == 1 && !memcmp(ram.base + a[1], f, 1500));
	drvq_add(&rxq, a, l3, w, 3);
	make_frame(f, 700, 10);
	net_rx(n, f, 700);
	id = drvq_used(&rxq, &ul);
	uint8_t hb[NET_HDR_LEN];
	memcpy(hb, ram.base + a[0], 5);
	memcpy(hb + 5, ram.base + a[1], 7);
	memcpy(&h, hb, sizeof(h));
	CHECK("net-rx-header-straddles", id >= 0 && ul == NET_HDR_LEN + 700 &&
	      h.num_buffers == 1 && !memcmp(ram.base + a[1] + 7, f, 2) &&
	      !memcmp(ram.base + a[2], f + 2, 698));

	/* Bad lengths from the backend are refused and counted. */
	CHECK("net-rx-bad-size",
	      net_rx(n, f, 0) == -EINVAL && net_rx(n, f, 13) == -EINVAL &&
	      net_rx(n, f, NET_FRAME_MAX + 1) == -EINVAL &&
	      stats().rx_drop_size - st0.rx_drop_size == 3);

	/* A buffer too small for the frame: the frame is dropped, the
	 * buffer kept for the next frame that fits. */
	post_rx_sz(1, 200);
	make_frame(f, 1514, 11);
	CHECK("net-rx-too-big-dropped", net_rx(n, f, 1514) == 0 &&
	      stats().rx_drop_too_big - st0.rx_drop_too_big == 1 &&
	      recv_rx(NULL) == -1);
	make_frame(f, 150, 12);
	net_rx(n, f, 150);
	CHECK("net-rx-small-buffer-reused", recv_rx(g) == 150 &&
	      !memcmp(f, g, 150));

	/* An rx chain with a readable descriptor is consumed empty; the
	 * frame goes into the next buffer. */
	uint64_t ra[2] = { RXBUF + 0x90000, RXBUF + 0x91000 };
	uint32_t rl[2] = { 64, 4000 };
	int rw[2] = { 0, 1 };
	drvq_add(&rxq, ra, rl, rw, 2);
	post_rx(1);
	make_frame(f, 300, 13);
	net_rx(n, f, 300);
	int id1 = drvq_used(&rxq, &ul);
	bool empty = id1 >= 0 && ul == 0;
	CHECK("net-rx-readable-buffer-refused", empty && recv_rx(g) == 300 &&
	      !memcmp(f, g, 300) &&
	      stats().rx_bad_buffers - st0.rx_bad_buffers == 1);

	struct net_dev_stats st = stats();
	CHECK("net-rx-counted", st.rx_frames - st0.rx_frames == 12 &&
	      st.rx_bytes - st0.rx_bytes ==
		      1514 + 14 + 600 + 1500 + 700 + 150 + 300);

	/* Loopback through the backend: net_rx from inside send. */
	echo = true;
	post_rx(2);
	uint32_t one[1] = { 1u << 20 };
	send_one(98, 14, one, 1);
	echo = false;
	make_frame(f, 98, 14);
	CHECK("net-rx-from-inside-send", recv_rx(g) == 98 &&
	      !memcmp(f, g, 98));
	rec_clear();
}

static void test_queueing(void)
{
	static uint8_t f[NET_FRAME_MAX], g[NET_FRAME_MAX];

	/* Before DRIVER_OK there is nobody to deliver to. */
	reg_wr(REG_STATUS, 0);
	reg_wr(REG_STATUS, 3);
	make_frame(f, 60, 1);
	struct net_dev_stats st0 = stats();
	CHECK("net-rx-not-live", net_rx(n, f, 60) == -ENETDOWN &&
	      stats().rx_drop_down - st0.rx_drop_down == 1);

	dev_setup();
	st0 = stats();
	/* No rx buffers: frames wait, up to NET_RX_QUEUE. */
	int ok = 0, full = 0;
	for (unsigned i = 0; i < NET_RX_QUEUE + 44; i++) {
		make_frame(f, 60, 1000 + i);
		int r = net_rx(n, f, 60);
		ok += r == 0;
		full += r == -ENOBUFS;
	}
	struct net_dev_stats st = stats();
	CHECK("net-rx-queue-bounded", ok == NET_RX_QUEUE && full == 44 &&
	      st.rx_pending == NET_RX_QUEUE &&
	      st.rx_drop_full - st0.rx_drop_full == 44 &&
	      st.rx_pending_bytes == 60u * NET_RX_QUEUE);

	/* Buffers appear: queued frames go first, in order. */
	post_rx(200);
	net_queue_kick(n, NET_RXQ);
	bool inorder = true;
	unsigned got = 0;
	int len;
	while ((len = recv_rx(g)) > 0) {
		make_frame(f, 60, 1000 + got);
		inorder &= len == 60 && !memcmp(f, g, 60);
		got++;
	}
	CHECK("net-rx-queue-drained-in-order", got == 200 && inorder &&
	      stats().rx_pending == NET_RX_QUEUE - 200);
	/* Buffers posted without a kick: a new frame still waits its turn
	 * behind the queued ones. */
	post_rx(100);
	make_frame(f, 60, 5000);
	net_rx(n, f, 60);
	for (; (len = recv_rx(g)) > 0; got++) {
		make_frame(f, 60, got < NET_RX_QUEUE ? 1000 + got : 5000);
		inorder &= len == 60 && !memcmp(f, g, 60);
	}
	CHECK("net-rx-new-frame-after-queued", got == NET_RX_QUEUE + 1 &&
	      inorder && stats().rx_pending == 0);

	/* The byte bound: 15 maximal frames fit in 1 MiB, the 16th not
	 * (fresh queues: no rx buffers left that would refuse them). */
	dev_setup();
	st0 = stats();
	ok = 0;
	for (unsigned i = 0; i < 20; i++) {
		make_frame(f, NET_FRAME_MAX, i);
		ok += net_rx(n, f, NET_FRAME_MAX) == 0;
	}
	st = stats();
	unsigned fit = NET_RX_QUEUE_BYTES / NET_FRAME_MAX;
	CHECK("net-rx-queue-byte-bound", ok == (int)fit &&
	      st.rx_pending == fit &&
	      st.rx_pending_bytes == (size_t)fit * NET_FRAME_MAX &&
	      st.rx_drop_full - st0.rx_drop_full == 20 - fit);

	/* Reset frees them (ASan's leak check would notice otherwise). */
	reg_wr(REG_STATUS, 0);
	st = stats();
	CHECK("net-reset-frees-queue", st.rx_pending == 0 &&
	      st.rx_pending_bytes == 0 &&
	      st.rx_drop_reset - st0.rx_drop_reset == fit);
}

static void test_budget(void)
{
	uint32_t one[1] = { 1u << 20 };

	dev_setup();
	rec_clear();
	rekicks = 0;
	for (unsigned i = 0; i < 300; i++) {
		static uint8_t f[64];
		make_frame(f, 60, i);
		add_tx(&hdr0, f, 60, one, 1);
	}
	net_queue_kick(n, NET_TXQ);
	CHECK("net-tx-budget", nrec == 256 && rekicks == 1 &&
	      last_rekick_q == NET_TXQ);
	net_queue_kick(n, NET_TXQ);
	bool inorder = true;
	for (unsigned i = 0; i < 300; i++)
		inorder &= rec_is(i, 60, i);
	CHECK("net-tx-budget-resumed", nrec == 300 && rekicks == 1 && inorder);
	rec_clear();

	/* A register-path notify (vCPU thread) is deferred, not run. */
	send_one(60, 1, one, 0);	/* kicks, sends: baseline */
	rec_clear();
	add_tx(&hdr0, (uint8_t[60]){ 0 }, 60, one, 1);
	reg_wr(REG_QUEUE_NOTIFY, NET_TXQ);
	CHECK("net-mmio-notify-deferred", rekicks == 2 &&
	      last_rekick_q == NET_TXQ && nrec == 0);
	net_queue_kick(n, NET_TXQ);
	CHECK("net-mmio-notify-then-kick", nrec == 1);

	/* The device is reset (by a vCPU) while send() runs unlocked: the
	 * tx loop must stop and not touch the reset queue. */
	rec_clear();
	for (unsigned i = 0; i < 5; i++)
		add_tx(&hdr0, (uint8_t[60]){ 0 }, 60, one, 1);
	reset_in_send = true;
	net_queue_kick(n, NET_TXQ);
	reset_in_send = false;
	CHECK("net-reset-during-send", nrec == 1 && reg_rd(REG_STATUS) == 0 &&
	      !d->vqs[1].ready);
	rec_clear();
}

/* One hostile tx chain (descriptors as given), then a good frame that
 * must still go through. */
static bool hostile(const uint64_t *a, const uint32_t *l, const int *w,
		    int k)
{
	uint32_t one[1] = { 1u << 20 };
	drvq_add(&txq, a, l, w, k);
	net_queue_kick(n, NET_TXQ);
	rec_clear();
	send_one(60, 77, one, 1);
	bool ok = nrec == 1 && rec_is(0, 60, 77);
	rec_clear();
	return ok && virtio_dev_live(d);
}

static void test_hostile(void)
{
	uint64_t A = TXBUF + 0x100000;
	uint64_t a[8];
	uint32_t l[8];
	int w[8] = { 0 };

	dev_setup();
	struct net_dev_stats st0 = stats(), st;
	memset(ram.base + A, 0, 0x20000);

	a[0] = A; l[0] = 0;
	CHECK("net-hostile-zero-length", hostile(a, l, w, 1));
	l[0] = NET_HDR_LEN;
	CHECK("net-hostile-header-only", hostile(a, l, w, 1));
	l[0] = NET_HDR_LEN + 13;
	CHECK("net-hostile-runt", hostile(a, l, w, 1));
	st = stats();
	CHECK("net-hostile-short-counted",
	      st.tx_drop_short - st0.tx_drop_short == 3);

	a[0] = A; l[0] = 0x10000;
	a[1] = A; l[1] = NET_FRAME_MAX + NET_HDR_LEN + 1 - 0x10000;
	CHECK("net-hostile-oversize", hostile(a, l, w, 2));
	/* 8 MiB claimed by 8 descriptors over the same 1 MiB: refused
	 * from the lengths alone, nothing copied. */
	for (int i = 0; i < 8; i++) {
		a[i] = TXBUF;
		l[i] = 1u << 20;
	}
	CHECK("net-hostile-huge-chain", hostile(a, l, w, 8));
	st = stats();
	CHECK("net-hostile-long-counted",
	      st.tx_drop_long - st0.tx_drop_long == 2);

	a[0] = A; l[0] = NET_HDR_LEN + 1514; w[0] = 1;
	CHECK("net-hostile-write-only", hostile(a, l, w, 1));
	a[1] = A + 0x1000; l[1] = 64; w[0] = 0; w[1] = 1;
	CHECK("net-hostile-trailing-writable", hostile(a, l, w, 2));
	w[1] = 0;
	st = stats();
	CHECK("net-hostile-layout-counted",
	      st.tx_drop_layout - st0.tx_drop_layout == 2);

	uint32_t one[1] = { 1u << 20 };
	uint8_t f[60] = { 0 };
	struct virtio_net_hdr_v1 hc = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					.csum_start = 34, .csum_offset = 16 };
	add_tx(&hc, f, 60, one, 1);
	struct virtio_net_hdr_v1 hg = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					.gso_size = 1448 };
	add_tx(&hg, f, 60, one, 1);
	rec_clear();
	net_queue_kick(n, NET_TXQ);
	st = stats();
	CHECK("net-hostile-offload", nrec == 0 &&
	      st.tx_drop_offload - st0.tx_drop_offload == 2);
	CHECK("net-hostile-survived", st.queue_errors == st0.queue_errors &&
	      virtio_dev_live(d) && tx_used_drain() >= 2);

	/* Chains that corrupt the ring: the queue breaks (NEEDS_RESET
	 * raised to the guest), frames after it are not sent, no crash. */
	struct {
		const char *name;
		int kind;
	} breakers[] = {
		{ "net-hostile-desc-loop", 0 },
		{ "net-hostile-addr-outside-ram", 1 },
		{ "net-hostile-addr-wraps", 2 },
		{ "net-hostile-readable-after-writable", 3 },
		{ "net-hostile-indirect", 4 },
		{ "net-hostile-next-out-of-range", 5 },
		{ "net-hostile-avail-idx-jump", 6 },
		{ "net-hostile-rx-desc-loop", 7 },
	};
	for (unsigned b = 0; b < sizeof(breakers) / sizeof(breakers[0]);
	     b++) {
		dev_setup();
		rec_clear();
		irqs = 0;
		st0 = stats();
		struct drvq *dq = breakers[b].kind == 7 ? &rxq : &txq;
		a[0] = A; l[0] = 100; w[0] = 0;
		uint16_t head = drvq_add(dq, a, l, w, 1);
		struct vdesc *ds = drv_desc(dq, head);
		switch (breakers[b].kind) {
		case 0: ds->flags = 1; ds->next = head; break;
		case 1: ds->addr = RAM_SIZE - 10; break;
		case 2: ds->addr = ~0ull - 50; break;
		case 3:
			ds->flags = 2 | 1;
			ds->next = (uint16_t)(head + 1);
			*drv_desc(dq, (uint16_t)(head + 1)) = (struct vdesc){
				.addr = A, .len = 100 };
			break;
		case 4: ds->flags = 4; break;
		case 5: ds->flags = 1; ds->next = 9999; break;
		case 7: ds->flags = 2 | 1; ds->next = head; break;
		}
		uint8_t g[60] = { 0 };
		if (breakers[b].kind == 7) {
			net_rx(n, g, 60);
		} else {
			add_tx(&hdr0, g, 60, one, 1);
			if (breakers[b].kind == 6)	/* after drvq_add */
				((uint16_t *)(ram.base + dq->avail))[1] =
					(uint16_t)(dq->avail_idx + 1000);
			net_queue_kick(n, NET_TXQ);
		}
		st = stats();
		CHECK(breakers[b].name,
		      st.queue_errors - st0.queue_errors == 1 && nrec == 0 &&
		      (reg_rd(REG_STATUS) & 0x40) && irqs >= 1 &&
		      !virtio_dev_live(d));
	}
	/* After a reset the device works again. */
	dev_setup();
	rec_clear();
	send_one(60, 3, one, 1);
	CHECK("net-hostile-reset-recovers", nrec == 1 && rec_is(0, 60, 3));
	rec_clear();
}

/* ---- transmit offloads: partial checksums and TCPv4 segments ------- */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold16(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Eth + IPv4 + TCP + payload of `pay` bytes into f. `partial`: the TCP
 * checksum field holds the pseudo-header sum (what a driver leaves for
 * NEEDS_CSUM); otherwise the full checksum. Returns the frame length. */
static size_t tcp4(uint8_t *f, size_t pay, bool partial)
{
	size_t tl = 20 + pay, len = 34 + tl;
	memset(f, 0, 34 + 20);
	f[12] = 0x08;
	uint8_t *ip = f + 14, *t = f + 34;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + tl) >> 8);
	ip[3] = (uint8_t)(20 + tl);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
	uint16_t ic = (uint16_t)~fold16(sum16(0, ip, 20));
	ip[10] = (uint8_t)(ic >> 8);
	ip[11] = (uint8_t)ic;
	t[0] = 0x9c; t[1] = 0x40; t[2] = 0x1f; t[3] = 0x90;
	t[12] = 5 << 4;
	t[13] = 0x18;
	for (size_t i = 0; i < pay; i++)
		t[20 + i] = (uint8_t)(i * 7 + 3);
	uint32_t ps = sum16(0, ip + 12, 8) + 6 + (uint32_t)tl;
	uint16_t c = partial ? fold16(ps) : (uint16_t)~fold16(sum16(ps, t, tl));
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
	return len;
}

static void test_offloads(void)
{
	static uint8_t f[NET_FRAME_MAX], want[NET_FRAME_MAX];
	uint32_t one[1] = { 1u << 20 };
	uint32_t cuts[4] = { 7, 1000, 3, 1u << 20 };
	struct virtio_net_hdr_v1 hc = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					.csum_start = 34, .csum_offset = 16 };
	struct net_dev_stats st0;

	dev_setup_with((1u << VIRTIO_NET_F_CSUM) |
		       (1u << VIRTIO_NET_F_HOST_TSO4));
	st0 = stats();
	rec_clear();
	/* a partial checksum is finished: the frame equals the one with
	 * the full checksum, odd payload length and split chain included */
	size_t len = tcp4(f, 1001, true);
	tcp4(want, 1001, false);
	add_tx(&hc, f, len, cuts, 4);
	net_queue_kick(n, NET_TXQ);
	CHECK("net-csum-finished", nrec == 1 && rec_len[0] == len &&
	      !memcmp(rec[0], want, len));
	/* a 60000-byte TCPv4 segment goes out whole, checksum finished */
	rec_clear();
	struct virtio_net_hdr_v1 hg = hc;
	hg.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	hg.gso_size = 1448;
	hg.hdr_len = 54;
	len = tcp4(f, 60000, true);
	tcp4(want, 60000, false);
	add_tx(&hg, f, len, one, 1);
	net_queue_kick(n, NET_TXQ);
	CHECK("net-tso4-whole", nrec == 1 && rec_len[0] == len &&
	      !memcmp(rec[0], want, len));
	/* malformed requests are dropped and counted, never sent: the
	 * checksum field past the end, IP length not covering the frame,
	 * GSO without NEEDS_CSUM, UDP and ECN segmentation (not offered) */
	rec_clear();
	struct virtio_net_hdr_v1 bad = hc;
	bad.csum_offset = 2000;
	len = tcp4(f, 100, true);
	add_tx(&bad, f, len, one, 1);
	bad = hc;
	bad.csum_start = 0xffff;
	add_tx(&bad, f, len, one, 1);
	bad = hg;
	len = tcp4(f, 3000, true);
	f[16] ^= 1;	/* IP total length off by 256 */
	add_tx(&bad, f, len, one, 1);
	f[16] ^= 1;
	bad.flags = 0;
	add_tx(&bad, f, len, one, 1);
	bad = hg;
	bad.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	add_tx(&bad, f, len, one, 1);
	bad.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	add_tx(&bad, f, len, one, 1);
	net_queue_kick(n, NET_TXQ);
	struct net_dev_stats st = stats();
	CHECK("net-offload-malformed-dropped", nrec == 0 &&
	      st.tx_drop_offload - st0.tx_drop_offload == 6 &&
	      virtio_dev_live(d));
	tx_used_drain();
	rec_clear();
}

int main(void)
{
	static const uint8_t mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };

	ram_init(&ram);
	n = net_new(&ram.gm, mac, &ops, NULL);
	d = net_virtio(n);
	d->raise_irq = raise_irq;
	test_features();
	test_tx();
	test_rx();
	test_queueing();
	test_budget();
	test_hostile();
	test_offloads();
	/* net_free frees frames still queued (ASan's leak check). */
	uint8_t f[1000] = { 0 };
	int q = 0;
	for (unsigned i = 0; i < 5; i++)
		q += net_rx(n, f, sizeof(f)) == 0;
	CHECK("net-free-with-queued", q == 5 && stats().rx_pending == 5);
	net_free(n);
	rec_clear();
	free(ram.base);
	printf("net: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
