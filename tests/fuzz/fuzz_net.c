/* fuzz_net.c: libFuzzer target — the virtio-net device model fed tx
 * chains built from the input (valid rings, hostile contents: any split,
 * writable parts, lying lengths, addresses past RAM), interleaved with rx
 * buffer posts, host frames of any length, resets (also from inside the
 * backend's send, as a vCPU may), register and config access.
 *
 * Oracles besides ASan/UBSan: every frame the backend sees is within
 * [NET_FRAME_MIN, NET_FRAME_MAX] and, for a chain this file knows to be
 * valid, equals the bytes after the header; the rx queue stays within
 * its bounds; used lengths never exceed the buffers posted. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "../../host/devices/devices.h"
#include "../../host/util/util.h"

#define RAM (1u << 20)
#define QSZ 64		/* rx */
#define TXQ_SZ 512	/* tx: more than TX_BUDGET chains can wait */
#define RXQ_AT 0x1000
#define TXQ_AT 0x3000
#define BUFS 0x10000
#define REG_STATUS 0x070
#define NEEDS_RESET 0x40

static uint8_t *ram;
static struct net_dev *n;
static struct virtio_dev *d;

struct ring {
	uint64_t desc, avail, used;
	uint16_t size, next_desc, idx, used_seen;
	uint32_t buflen[TXQ_SZ];	/* rx: writable bytes of each head */
};
static struct ring rx, tx;

/* backend state */
static bool echo, reset_in_send;
static int send_rc;
static const uint8_t *expect;	/* the frame a valid chain must give */
static size_t expect_len;
static unsigned sends;

static void *ptr(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (gpa > RAM || len > RAM - gpa)
		return NULL;
	return ram + gpa;
}

static int b_send(void *ctx, const uint8_t *frame, size_t len)
{
	if (len < NET_FRAME_MIN || len > NET_FRAME_MAX)
		abort();
	if (expect && (len != expect_len || memcmp(frame, expect, len)))
		abort();
	sends++;
	if (echo)
		net_rx(n, frame, len);
	if (reset_in_send) {
		uint32_t z = 0;
		virtio_mmio_write(d, REG_STATUS, &z, 4);
	}
	return send_rc;
}

static void b_rekick(void *ctx, unsigned q) {}

static const struct net_backend_ops ops = {
	.send = b_send, .rekick = b_rekick,
};

static void ring_init(struct virtq *q, struct ring *r, uint64_t at,
		      uint16_t size)
{
	*r = (struct ring){ .desc = at, .avail = at + 16ull * size,
			    .used = at + 18ull * size + 8, .size = size };
	memset(ram + at, 0, 26ull * size + 16);
	*q = (struct virtq){ .size = size, .ready = true, .desc_gpa = r->desc,
			     .avail_gpa = r->avail, .used_gpa = r->used };
}

/* Reset through the register, then come back as a VERSION_1 driver. */
static void setup(void)
{
	uint32_t v = 0;
	virtio_mmio_write(d, REG_STATUS, &v, 4);
	d->driver_features = VIRTIO_FEAT_VERSION_1 | d->host_features;
	ring_init(&d->vqs[0], &rx, RXQ_AT, QSZ);
	ring_init(&d->vqs[1], &tx, TXQ_AT, TXQ_SZ);
	v = 0xf;
	virtio_mmio_write(d, REG_STATUS, &v, 4);
}

static void ring_add(struct ring *r, const uint64_t *addr,
		     const uint32_t *len, const bool *write, unsigned k)
{
	uint16_t head = r->next_desc % r->size;
	uint32_t wlen = 0;
	for (unsigned i = 0; i < k; i++) {
		uint16_t id = r->next_desc++ % r->size;
		uint16_t flags = (uint16_t)((write[i] ? 2 : 0) |
					    (i + 1 < k ? 1 : 0));
		uint16_t next = r->next_desc % r->size;
		uint8_t *p = ram + r->desc + 16ull * id;
		memcpy(p, &addr[i], 8);
		memcpy(p + 8, &len[i], 4);
		memcpy(p + 12, &flags, 2);
		memcpy(p + 14, &next, 2);
		if (write[i])
			wlen += len[i];
	}
	r->buflen[head] = wlen;
	uint16_t *av = (uint16_t *)(ram + r->avail);
	av[2 + r->idx % r->size] = head;
	r->idx++;
	__atomic_store_n(&av[1], r->idx, __ATOMIC_RELEASE);
}

/* Check (and consume) what the device put in the rx used ring. */
static void rx_check(void)
{
	uint16_t *u = (uint16_t *)(ram + rx.used);
	while (rx.used_seen != __atomic_load_n(&u[1], __ATOMIC_ACQUIRE)) {
		uint32_t el[2];
		memcpy(el, ram + rx.used + 4 + 8 * (rx.used_seen % QSZ), 8);
		rx.used_seen++;
		if (el[0] >= QSZ || el[1] > rx.buflen[el[0]])
			abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_QUIET);	/* guest errors by the thousand */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gmem gm = { .ptr = ptr };
	static uint8_t frame[70000], chain[RAM];	/* frame: see case 3 */

	if (!ram)
		ram = malloc(RAM);
	memset(ram, 0, RAM);
	echo = reset_in_send = false;
	send_rc = 0;
	uint8_t mac[6] = { 0 };
	memcpy(mac, data, size < 6 ? size : 6);	/* any bytes make a MAC */
	n = net_new(&gm, mac, &ops, NULL);
	d = net_virtio(n);
	setup();

	/* Input: records of [op:1][a:2][b:2][len:2][len bytes]. */
	size_t pos = 0;
	unsigned slot = 0;
	while (pos + 7 <= size) {
		uint8_t op = data[pos];
		uint16_t a, b, len;
		memcpy(&a, data + pos + 1, 2);
		memcpy(&b, data + pos + 3, 2);
		memcpy(&len, data + pos + 5, 2);
		pos += 7;
		len = (uint16_t)(len % 4096);
		if (len > size - pos)
			len = (uint16_t)(size - pos);
		const uint8_t *p = data + pos;
		pos += len;
		switch (op % 8) {
		case 0:		/* a tx chain: the bytes cut into k pieces */
		case 1: {
			unsigned k = 1 + a % 8;
			uint64_t ad[8];
			uint32_t ln[8];
			bool wr[8], valid = true;
			size_t off = 0, total = 0;
			for (unsigned i = 0; i < k; i++) {
				size_t left = len - off;
				size_t piece = i + 1 == k ? left
					: left * ((b >> (2 * i)) & 3) / 4;
				ad[i] = BUFS + 0x1000ull * (slot++ % 200);
				ln[i] = (uint32_t)piece;
				memcpy(ram + ad[i], p + off, piece);
				off += piece;
				wr[i] = op % 8 == 1 && (a >> (8 + i)) & 1;
				valid &= !wr[i];
			}
			if (b & 0x8000) {
				/* a lying length: into RAM beyond, or past
				 * the end of it */
				ln[k - 1] += (uint32_t)(b & 0x7fff) * 40u;
				valid = false;
			}
			for (unsigned i = 0; i < k && valid; i++) {
				memcpy(chain + total, ram + ad[i], ln[i]);
				total += ln[i];
			}
			struct virtio_net_hdr_v1 h;
			memcpy(&h, chain, sizeof(h));
			valid &= total >= NET_HDR_LEN + NET_FRAME_MIN &&
				 total - NET_HDR_LEN <= NET_FRAME_MAX;
			if (valid && ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) ||
				      h.gso_type != VIRTIO_NET_HDR_GSO_NONE))
				valid = false;
			ring_add(&tx, ad, ln, wr, k);
			/* The oracle holds when ours is the only chain
			 * waiting on a live, intact queue. */
			struct virtq *q = &d->vqs[NET_TXQ];
			valid &= virtio_dev_live(d) && q->ready &&
				 !q->broken &&
				 q->last_avail == (uint16_t)(tx.idx - 1);
			unsigned s0 = sends;
			expect = valid ? chain + NET_HDR_LEN : NULL;
			expect_len = valid ? total - NET_HDR_LEN : 0;
			net_queue_kick(n, NET_TXQ);
			if (valid && sends != s0 + 1)
				abort();
			expect = NULL;
			break;
		}
		case 2: {	/* the guest posts rx buffers */
			/* At most 32 chains of <= 2 descriptors out, so
			 * the table never wraps onto buffers in use and
			 * rx_check's buflen[] stays true. */
			unsigned cnt = 1 + a % 8;
			for (unsigned i = 0; i < cnt &&
			     (uint16_t)(rx.idx - rx.used_seen) < 32; i++) {
				uint64_t ad[2];
				ad[0] = BUFS + 0x1000ull * (slot++ % 200);
				ad[1] = BUFS + 0x1000ull * (slot++ % 200);
				bool two = a & 0x200;
				uint32_t ln[2] = { two ? b % 64 : b % 4097,
						   b % 4097 };
				bool wr[2] = { !(a & 0x100), true };
				if (a & 0x400)	/* lying: past RAM */
					ln[two] += 1u << 20;
				ring_add(&rx, ad, ln, wr, two ? 2 : 1);
			}
			net_queue_kick(n, NET_RXQ);
			break;
		}
		case 3: {	/* the host sends a frame of any length */
			size_t fl = ((size_t)(a & 3) << 16 | b) % 70000;
			for (size_t i = 0; len && i < fl; i += len)
				memcpy(frame + i, p,
				       fl - i < len ? fl - i : len);
			/* a & 4: a burst, to fill the pending queue */
			unsigned reps = a & 4 ? 1 + 3 * (a >> 9) : 1;
			for (unsigned i = 0; i < reps; i++)
				net_rx(n, frame, fl);
			break;
		}
		case 4:
			setup();
			break;
		case 5:		/* a kick on any queue number */
			if (!(a & 0x100)) {
				net_queue_kick(n, a % 4);
				break;
			}
			/* or a flood: many chains, one kick, at most
			 * TX_BUDGET (256) of them sent */
			for (unsigned i = 0; i < b % 400 &&
			     (uint16_t)(tx.idx - d->vqs[NET_TXQ].last_avail) <
				     TXQ_SZ; i++) {
				uint64_t ad = BUFS + 0x1000ull * (slot++ % 200);
				uint32_t ln = len;
				bool wr = false;
				memcpy(ram + ad, p, len);
				ring_add(&tx, &ad, &ln, &wr, 1);
			}
			unsigned s0 = sends;
			net_queue_kick(n, NET_TXQ);
			if (sends - s0 > 256)
				abort();
			break;
		case 6:		/* backend behaviour */
			echo = a & 1;
			send_rc = a & 2 ? -EIO : 0;
			reset_in_send = (a & 0x1c) == 0x1c;
			break;
		case 7: {	/* config access, non-queue registers */
			static const uint16_t regs[] = {
				0x014, 0x020, 0x024, 0x030, 0x050, 0x064,
				0x070, 0x100, 0x104 };
			uint8_t buf[8];
			uint32_t v = b;
			if (a & 1)
				virtio_mmio_read(d, 0x100 + (a >> 1) % 0x40,
						 buf, 1u << (b % 4));
			else
				virtio_mmio_write(d, regs[(a >> 1) % 9], &v,
						  4);
			break;
		}
		}
		rx_check();
		struct net_dev_stats st;
		net_get_stats(n, &st);
		if (st.rx_pending > NET_RX_QUEUE ||
		    st.rx_pending_bytes > NET_RX_QUEUE_BYTES)
			abort();
		/* Keep exploring past a broken queue or a reset (which
		 * also makes our ring bookkeeping stale). */
		if ((d->status & NEEDS_RESET) || !d->vqs[0].ready ||
		    !d->vqs[1].ready)
			setup();
	}
	net_free(n);
	return 0;
}
