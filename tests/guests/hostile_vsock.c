/* hostile_vsock.c: virtio_hostile's abuse of the virtio-vsock device */
#include "hostile.h"

/*
 * The vsock model (host/devices/vsock.c) answers a packet for a
 * connection that does not exist with an RST, drops packets whose header
 * lies (CIDs, type, length), and queues at most 256 RSTs for a guest that
 * does not drain its rx queue.  Nothing a guest sends may break the
 * device: after each abuse a valid knock (REQUEST to host port 1023) must
 * still come back as an RST.
 *
 * cmdline: vbtest.flood=N packets in the flood (default 10000; under
 * nested KVM, where each guest memory access is slow, it takes seconds).
 */

#define FLOOD		10000	/* default of vbtest.flood */
#define FLOOD_SRC	7000
#define FLOOD_DST	4444	/* no connection there */
#define BAD_SRC		8000	/* + case number */
#define NBAD		19
#define KNOCKS		256
#define KNOCK_SRC	9000
#define QUIET_MS	200

static unsigned flood_rsts, knock_rsts, empties, others;
static unsigned bad_replies[NBAD];
static uint32_t knock_port;
static bool knock_seen;

bool vsock_up(void)
{
	const char *why = "";

	if (vsk_open(&vs, &why))
		return true;
	vb_info("vsock setup: %s", why);
	return false;
}

static void rx_one(const struct vsk_pkt *p)
{
	const struct vsk_hdr *h = &p->h;
	uint32_t d = h->dst_port;

	if (p->used_len < sizeof(*h))
		empties++;
	else if (h->op == VSK_OP_RST && d == knock_port &&
		 h->src_port == VSK_READY_PORT)
		knock_seen = true;
	else if (d == FLOOD_SRC)
		flood_rsts++;
	else if (d >= BAD_SRC && d < BAD_SRC + NBAD)
		bad_replies[d - BAD_SRC]++;
	else if (d >= KNOCK_SRC && d < KNOCK_SRC + KNOCKS)
		knock_rsts++;
	else
		others++;
}

/* Take in whatever rx packets are there now. */
static unsigned rx_poll(void)
{
	struct vsk_pkt p;
	unsigned n = 0;

	while (vsk_recv(&vs, &p)) {
		rx_one(&p);
		vsk_release(&vs, &p);
		n++;
	}
	vsk_flush(&vs);
	return n;
}

/* Until *until, or until nothing came for quiet_ms. */
static void drain(uint64_t quiet_ms, const bool *until)
{
	uint64_t dl = vio_deadline(quiet_ms);

	while (!(until && *until) && !vio_expired(dl)) {
		if (rx_poll())
			dl = vio_deadline(quiet_ms);
		else
			__asm__ __volatile__("pause");
	}
}

static bool send_req(uint32_t src, uint32_t dst)
{
	struct vsk_hdr h = vsk_hdr(&vs, src, dst, VSK_OP_REQUEST);

	h.buf_alloc = 4096;
	return vsk_send(&vs, &h, NULL, 0, WAIT_MS);
}

/* The agent's "ready" knock must be refused with an RST. */
bool vsock_knock(uint32_t port)
{
	knock_port = port;
	knock_seen = false;
	if (!send_req(port, VSK_READY_PORT))
		return false;
	vsk_flush(&vs);
	drain(WAIT_MS, &knock_seen);
	return knock_seen;
}

static bool vsock_ok(void)
{
	return vio_alive(&vs.dev) &&
	       !(vio_r32(&vs.dev, VIO_STATUS) & VIO_S_NEEDS_RESET);
}

static void flood(void)
{
	struct vsk_hdr h;
	uint64_t t0 = vb_rdtsc(), want = FLOOD, sent = 0;
	bool knock;

	vb_param_u64("vbtest.flood", &want);
	if (!vsock_up()) {
		vb_fail("vsock.flood", "setup failed");
		return;
	}
	flood_rsts = 0;
	h = vsk_hdr(&vs, FLOOD_SRC, FLOOD_DST, VSK_OP_RW);
	h.len = 16;
	for (; sent < want; sent++) {
		if (!vsk_send(&vs, &h, "0123456789abcdef", 16, WAIT_MS))
			break;
		if (sent % 32 == 31) {
			vsk_flush(&vs);
			rx_poll();
		}
	}
	vsk_flush(&vs);
	drain(QUIET_MS, NULL);
	knock = vsock_knock(5010);
	vb_check(sent == want && (flood_rsts > 0 || !want) && knock &&
		 vsock_ok(), "vsock.flood", "%lu RW packets to port %u (no "
		 "connection) in %lu ms: %u RSTs back; knock after it %s",
		 sent, FLOOD_DST,
		 (vb_rdtsc() - t0) / vio_tsc_khz(), flood_rsts,
		 knock ? "answered" : "NOT answered");
}

/* A guest that does not drain rx: the device must bound what it keeps
 * for it (voidbox queues 256 RSTs and drops the rest). */
static void backlog(void)
{
	struct vsk_hdr h;
	uint64_t dl;
	unsigned sent = 0;
	bool knock;

	if (!vsock_up()) {
		vb_fail("vsock.rst_backlog", "setup failed");
		return;
	}
	flood_rsts = 0;
	h = vsk_hdr(&vs, FLOOD_SRC, FLOOD_DST, VSK_OP_RW);
	for (; sent < 1000 && vsk_send(&vs, &h, NULL, 0, WAIT_MS); sent++)
		;
	vsk_flush(&vs);
	dl = vio_deadline(WAIT_MS);
	while (vs.tx_free != ~0ull && !vio_expired(dl))
		vsk_flush(&vs);		/* until the device took them all */
	drain(QUIET_MS, NULL);
	knock = vsock_knock(5016);
	vb_check(sent == 1000 && knock && vsock_ok(), "vsock.rst_backlog",
		 "%u packets while rx was not drained: %u RSTs delivered "
		 "afterwards (%u rx buffers); knock %s", sent, flood_rsts,
		 VSK_NRX, knock ? "answered" : "NOT answered");
}

/* Case i: a packet from port BAD_SRC + i; true if an RST is the right
 * answer (a well-formed packet for no connection), false if the device
 * should drop it. */
static bool bad_packet(unsigned i, uint8_t *pkt, uint32_t *n,
		       uint16_t *flags)
{
	static const uint16_t ops[] = { 99, 0, VSK_OP_RESPONSE,
		VSK_OP_CREDIT_UPDATE, VSK_OP_CREDIT_REQUEST, VSK_OP_SHUTDOWN };
	struct vsk_hdr h = vsk_hdr(&vs, BAD_SRC + i, FLOOD_DST, VSK_OP_RW);
	bool rst = false;

	*n = sizeof(h);
	*flags = 0;
	switch (i) {
	case 0: h.src_cid = VSK_HOST_CID; break;	/* spoofed source */
	case 1: h.src_cid = ~0ull; break;
	case 2: h.dst_cid = vs.guest_cid; break;	/* to ourselves */
	case 3: h.dst_cid = 0x12345678; break;
	case 4: h.type = 2; break;			/* SEQPACKET */
	case 5: h.type = 0; break;
	case 6: h.len = 1000; break;			/* no such payload */
	case 7: h.len = ~0u; *n += 16; break;
	case 8: h.len = 65537; *n = VSK_BUF; break;	/* over 64 KiB */
	case 9: *n = 20; break;				/* half a header */
	case 10: *n = 0; break;				/* empty descriptor */
	case 11: *flags = VIO_DESC_F_WRITE; break;	/* wrong direction */
	case 18: h.op = VSK_OP_RST; break;		/* never answered */
	default:
		h.op = ops[i - 12];
		rst = true;
		break;
	}
	memset(pkt, 0, VSK_BUF);
	memcpy(pkt, &h, sizeof(h));
	return rst;
}

static void bad_packets(void)
{
	unsigned dropped = 0, answered = 0, want_rst = 0;
	bool rst[NBAD], knock;
	uint32_t n;
	uint16_t flags;

	if (!vsock_up()) {
		vb_fail("vsock.bad_packets", "setup failed");
		return;
	}
	memset(bad_replies, 0, sizeof(bad_replies));
	for (unsigned i = 0; i < NBAD; i++) {
		rst[i] = bad_packet(i, hbuf, &n, &flags);
		vsk_send_raw(&vs, hbuf, n, flags, WAIT_MS);
	}
	vsk_flush(&vs);
	knock = vsock_knock(5011);
	drain(QUIET_MS, NULL);
	for (unsigned i = 0; i < NBAD; i++) {
		want_rst += rst[i];
		if (rst[i] && bad_replies[i] == 1)
			answered++;
		else if (!rst[i] && !bad_replies[i])
			dropped++;
		else
			vb_info("bad packet %u: %u replies", i, bad_replies[i]);
	}
	vb_check(knock && vsock_ok(), "vsock.bad_packets", "spoofed CIDs, "
		 "wrong type, lying len, short, empty, odd ops: %u/%u dropped, "
		 "%u/%u answered by RST; knock after them %s",
		 dropped, NBAD - want_rst, answered, want_rst,
		 knock ? "answered" : "NOT answered");
}

static void knock_flood(void)
{
	unsigned sent = 0;
	bool knock;

	if (!vsock_up()) {
		vb_fail("vsock.knock_flood", "setup failed");
		return;
	}
	knock_rsts = 0;
	for (; sent < KNOCKS && send_req(KNOCK_SRC + sent, VSK_READY_PORT);
	     sent++)
		if (sent % 32 == 31) {
			vsk_flush(&vs);
			rx_poll();
		}
	vsk_flush(&vs);
	drain(QUIET_MS, NULL);
	knock = vsock_knock(5012);
	vb_check(sent == KNOCKS && knock_rsts > 0 && knock && vsock_ok(),
		 "vsock.knock_flood", "%u ready knocks: %u RSTs; one more %s",
		 sent, knock_rsts, knock ? "answered" : "NOT answered");
}

/* rx buffers too small for a header, or not device-writable. */
static void rx_small(void)
{
	const char *why = "";
	bool knock;

	if (!vsk_open_n(&vs, 0, &why)) {
		vb_fail("vsock.rx_small", "setup: %s", why);
		return;
	}
	vio_post(&vs.dev, VSK_RXQ, (uintptr_t)hbuf, 16, VIO_DESC_F_WRITE);
	vio_post(&vs.dev, VSK_RXQ, (uintptr_t)hbuf + 64, 43,
		 VIO_DESC_F_WRITE);
	vio_post(&vs.dev, VSK_RXQ, (uintptr_t)hbuf + 128, 1024, 0);
	for (unsigned i = 0; i < VSK_NRX; i++)
		vio_post(&vs.dev, VSK_RXQ, (uintptr_t)vs.rx[i], VSK_BUF,
			 VIO_DESC_F_WRITE);
	vio_notify(&vs.dev, VSK_RXQ);
	empties = 0;
	knock = vsock_knock(5013);
	vb_check(knock && vsock_ok(), "vsock.rx_small", "rx buffers of 16 "
		 "and 43 bytes and a read-only one: %u returned empty; the "
		 "knock's RST came in the next one: %s", empties,
		 knock ? "yes" : "NO");
}

static void rx_bad_addr(void)
{
	const char *why = "";

	if (!vsk_open_n(&vs, 0, &why)) {
		vb_fail("vsock.rx_addr", "setup: %s", why);
		return;
	}
	vio_post(&vs.dev, VSK_RXQ, 0xfffff00000000000ull, VSK_BUF,
		 VIO_DESC_F_WRITE);
	vio_notify(&vs.dev, VSK_RXQ);
	send_req(5014, VSK_READY_PORT);	/* its RST needs an rx buffer */
	vsk_flush(&vs);
	broken_end("vsock.rx_addr", &vs.dev, VSK_RXQ,
		   "rx buffer outside RAM, filled by the knock's RST");
}

/* Reset the device while it chews on a queue full of packets. */
static void reset_busy(void)
{
	struct vsk_hdr h;
	bool reset, knock;

	if (!vsock_up()) {
		vb_fail("vsock.reset_busy", "setup failed");
		return;
	}
	h = vsk_hdr(&vs, FLOOD_SRC, FLOOD_DST, VSK_OP_RW);
	for (unsigned i = 0; i < 200; i++)
		vsk_send(&vs, &h, NULL, 0, WAIT_MS);
	vsk_flush(&vs);
	reset = vio_reset(&vs.dev);
	knock = vsock_up() && vsock_knock(5015);
	vb_check(reset && knock && vsock_ok(), "vsock.reset_busy",
		 "reset with 200 packets in flight: %s; set up again, knock %s",
		 reset ? "Status 0" : "Status NOT 0",
		 knock ? "answered" : "NOT answered");
}

void hostile_vsock(void)
{
	expect_broken("vsock.tx_loop", &vs.dev, vsock_up, VSK_TXQ, ab_loop,
		      0, "tx descriptor 0 -> next 0");
	vb_check(vsock_up() && vsock_knock(5002), "vsock.recovered",
		 "reset and set up again: knock answered");
	expect_broken("vsock.tx_addr", &vs.dev, vsock_up, VSK_TXQ, ab_addr,
		      0xfffff00000000000ull, "tx buffer at 0xfffff00000000000");
	expect_broken("vsock.avail_jump", &vs.dev, vsock_up, VSK_TXQ,
		      ab_avail_jump, 0, "tx avail->idx a ring too far");
	expect_broken("vsock.indirect", &vs.dev, vsock_up, VSK_TXQ,
		      ab_indirect, 0, "tx INDIRECT, not negotiated");
	rx_bad_addr();
	rx_small();
	flood();
	backlog();
	bad_packets();
	knock_flood();
	reset_busy();
}
