/* vsock_echo.c: virtio-rng check, then a vsock echo server on port 1024 */
#include "virtio.h"

const char vb_guest_name[] = "vsock_echo";

/*
 * Plays the part of the guest agent well enough to test the host side of
 * voidbox's vsock end to end (the host protocol is in VSOCK_ECHO.md):
 * knock on host port 1023 like the agent does when it is ready, accept
 * host connections on port 1024 and echo every byte back, with credit
 * flow control both ways (virtio 1.2 §5.10.6.3).  "QUIT\n" anywhere in
 * any stream ends the run.
 *
 * cmdline: vbtest.vsock_conns=N connections expected before QUIT (0:
 * none, and then running out of idle time is the expected end);
 * vbtest.vsock_idle_ms=N gives up after N ms without a packet (default
 * 15000).
 */

#define ECHO_PORT	1024
#define KNOCK_SRC_PORT	5000
#define MAX_CONNS	8
#define WIN		(64u << 10)	/* our buf_alloc per connection */
#define CREDIT_STEP	(16u << 10)	/* explicit CREDIT_UPDATE after */
#define CTRL_TIMEOUT_MS	2000		/* wait for a tx buffer */
#define KNOCK_MS	2000
#define DRAIN_MS	2000		/* after QUIT: finish echoing */
#define DEFAULT_IDLE_MS	15000

struct conn {
	bool live;
	bool shut;			/* got SHUTDOWN: close when drained */
	bool credit_asked;		/* CREDIT_REQUEST sent, no answer yet */
	unsigned n;			/* accept order, from 1 */
	uint32_t port;			/* the host's port */
	uint32_t peer_buf_alloc, peer_fwd_cnt;	/* host's credit */
	uint32_t tx_cnt;		/* bytes we sent */
	uint32_t fwd_cnt;		/* bytes we consumed (= echoed) */
	uint32_t fwd_cnt_sent;		/* fwd_cnt the host last saw */
	int qpos;			/* "QUIT\n" chars matched so far */
	uint64_t rx_bytes, echoed;
	uint32_t head, len;		/* bytes waiting to be echoed */
	uint8_t ring[WIN];
};

static struct vsk vs;
static struct conn conns[MAX_CONNS];
static unsigned naccepted, nrefused, nbad;
static uint64_t total_rx, total_echoed;
static bool knocked, quit, tx_stuck;

static void rng_check(void)
{
	static uint8_t buf[64] __attribute__((aligned(64)));
	struct vio_dev d;
	const char *why = "";
	uint32_t id, len, nz = 0;
	int r;

	if (!vio_find(&d, VIO_ID_RNG)) {
		vb_fail("rng", "no virtio-rng device on the command line");
		return;
	}
	if (!vio_setup(&d, 1, &why)) {
		vb_fail("rng", "setup: %s", why);
		return;
	}
	vio_post(&d, 0, (uintptr_t)buf, sizeof(buf), VIO_DESC_F_WRITE);
	vio_notify(&d, 0);
	r = vio_wait(&d, 0, &id, &len, 1000);
	for (unsigned i = 0; i < sizeof(buf); i++)
		nz += buf[i] != 0;
	if (r <= 0)
		vb_fail("rng", "%s", r ? "device needs reset" : "no answer");
	else
		vb_check(len == sizeof(buf) && nz > 0, "rng",
			 "%u bytes, %u non-zero, first %02x%02x%02x%02x", len,
			 nz, buf[0], buf[1], buf[2], buf[3]);
}

/* Control packets must not be lost: wait for a tx buffer. */
static void send_ctrl(struct conn *c, uint32_t src, uint32_t dst,
		      uint16_t op)
{
	struct vsk_hdr h = vsk_hdr(&vs, src, dst, op);

	h.buf_alloc = WIN;
	if (c) {
		h.fwd_cnt = c->fwd_cnt;
		c->fwd_cnt_sent = c->fwd_cnt;
	}
	if (!vsk_send(&vs, &h, NULL, 0, CTRL_TIMEOUT_MS) && !tx_stuck) {
		tx_stuck = true;
		vb_fail("tx", "no tx buffer back within %u ms (op %u)",
			CTRL_TIMEOUT_MS, op);
	}
}

static void conn_close(struct conn *c, bool send_rst, const char *why)
{
	if (send_rst)
		send_ctrl(c, ECHO_PORT, c->port, VSK_OP_RST);
	vb_info("conn %u (host port %u) closed by %s: %lu bytes in, "
		"%lu echoed", c->n, c->port, why, c->rx_bytes, c->echoed);
	c->live = false;
}

static struct conn *conn_find(uint32_t host_port)
{
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (conns[i].live && conns[i].port == host_port)
			return &conns[i];
	return NULL;
}

static void accept_conn(const struct vsk_hdr *h)
{
	struct conn *c = NULL;
	char check[16];

	for (unsigned i = 0; i < MAX_CONNS && !c; i++)
		if (!conns[i].live)
			c = &conns[i];
	if (!c) {
		nrefused++;
		send_ctrl(NULL, ECHO_PORT, h->src_port, VSK_OP_RST);
		return;
	}
	memset(c, 0, offsetof(struct conn, ring));
	c->live = true;
	c->n = ++naccepted;
	c->port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	send_ctrl(c, ECHO_PORT, c->port, VSK_OP_RESPONSE);
	vb_snprintf(check, sizeof(check), "accept.%u", c->n);
	vb_pass(check, "host port %u, host buf_alloc %u", c->port,
		h->buf_alloc);
}

/* First byte b in [p, end), a word at a time (memory is slow: lib.c). */
static const uint8_t *find_byte(const uint8_t *p, const uint8_t *end,
				uint8_t b)
{
	const uint64_t ones = 0x0101010101010101ull, pat = ones * b;

	while (p < end && ((uintptr_t)p & 7))
		if (*p++ == b)
			return p - 1;
	for (; end - p >= 8; p += 8) {
		uint64_t w = *(const uint64_t *)p ^ pat;

		if ((w - ones) & ~w & ones << 7)	/* has a zero byte */
			break;
	}
	for (; p < end; p++)
		if (*p == b)
			return p;
	return NULL;
}

/*
 * Watch for "QUIT\n" anywhere in the stream (qpos carries a partial
 * match across packets).  Anywhere, not only at a line start, so a host
 * may send it right after binary data; in random data it turns up by
 * chance once in 2^40 positions.
 */
static void scan_quit(struct conn *c, const uint8_t *p, uint32_t len)
{
	static const char word[] = "QUIT\n";
	const uint8_t *end = p + len;

	while (p < end) {
		if (!c->qpos) {
			p = find_byte(p, end, 'Q');
			if (!p)
				return;
			c->qpos = 1;
		} else if (*p == (uint8_t)word[c->qpos]) {
			if (++c->qpos == 5) {
				quit = true;
				c->qpos = 0;
			}
		} else {
			c->qpos = *p == 'Q';
		}
		p++;
	}
}

/* Queue received bytes for echoing. */
static void take_data(struct conn *c, const uint8_t *p, uint32_t len)
{
	uint32_t tail = (c->head + c->len) % WIN, first = WIN - tail;

	if (first > len)
		first = len;
	memcpy(c->ring + tail, p, first);
	memcpy(c->ring, p + first, len - first);
	scan_quit(c, p, len);
	c->len += len;
	c->rx_bytes += len;
	total_rx += len;
}

static void handle(const struct vsk_pkt *p)
{
	const struct vsk_hdr *h = &p->h;
	struct conn *c;

	if (p->used_len < sizeof(*h) || h->len > p->used_len - sizeof(*h) ||
	    h->src_cid != VSK_HOST_CID || h->dst_cid != vs.guest_cid ||
	    h->type != VSK_TYPE_STREAM) {
		/* The VMM built this packet: a bad one is a VMM bug. */
		if (!nbad++)
			vb_fail("rx.packet", "malformed: used len %u, len %u, "
				"cid %lu->%lu, type %u", p->used_len, h->len,
				h->src_cid, h->dst_cid, h->type);
		return;
	}
	if (h->op == VSK_OP_RST && h->src_port == VSK_READY_PORT &&
	    h->dst_port == KNOCK_SRC_PORT && !knocked) {
		knocked = true;
		vb_pass("knock", "REQUEST %u->%u answered by RST",
			KNOCK_SRC_PORT, VSK_READY_PORT);
		return;
	}
	c = h->dst_port == ECHO_PORT ? conn_find(h->src_port) : NULL;
	if (h->op == VSK_OP_REQUEST) {
		if (c)		/* REQUEST on a live connection */
			conn_close(c, true, "a second REQUEST");
		else if (h->dst_port == ECHO_PORT)
			accept_conn(h);
		else
			send_ctrl(NULL, h->dst_port, h->src_port, VSK_OP_RST);
		return;
	}
	if (!c) {
		if (h->op != VSK_OP_RST)	/* §5.10.6.4: unknown: RST */
			send_ctrl(NULL, h->dst_port, h->src_port, VSK_OP_RST);
		return;
	}
	if (h->fwd_cnt != c->peer_fwd_cnt || h->buf_alloc != c->peer_buf_alloc)
		c->credit_asked = false;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSK_OP_RW:
		if (h->len > WIN - c->len) {
			vb_fail("credit", "conn %u: host sent %u bytes with %u "
				"of our window free", c->n, h->len,
				WIN - c->len);
			conn_close(c, true, "credit overrun");
			return;
		}
		take_data(c, p->data, h->len);
		break;
	case VSK_OP_CREDIT_UPDATE:
		break;
	case VSK_OP_CREDIT_REQUEST:
		send_ctrl(c, ECHO_PORT, c->port, VSK_OP_CREDIT_UPDATE);
		break;
	case VSK_OP_SHUTDOWN:
		c->shut = true;
		if (h->flags & VSK_SHUTDOWN_RCV)	/* nobody reads */
			c->len = 0;
		break;
	case VSK_OP_RST:
		conn_close(c, false, "host RST");
		break;
	default:			/* RESPONSE or unknown op */
		conn_close(c, true, "an unexpected op");
		break;
	}
}

static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0
					      : c->peer_buf_alloc - in_flight;
}

/* Echo pending bytes as far as the host's credit and our tx buffers go. */
static void pump(struct conn *c)
{
	while (c->len) {
		uint32_t n = c->len, cr = peer_credit(c);
		struct vsk_hdr h;

		if (!cr) {
			if (!c->credit_asked)
				send_ctrl(c, ECHO_PORT, c->port,
					  VSK_OP_CREDIT_REQUEST);
			c->credit_asked = true;
			break;
		}
		if (n > VSK_MAX_PAYLOAD)
			n = VSK_MAX_PAYLOAD;
		if (n > cr)
			n = cr;
		if (n > WIN - c->head)		/* contiguous part only */
			n = WIN - c->head;
		h = vsk_hdr(&vs, ECHO_PORT, c->port, VSK_OP_RW);
		h.len = n;
		h.buf_alloc = WIN;
		h.fwd_cnt = c->fwd_cnt + n;	/* consumed once sent */
		if (!vsk_send(&vs, &h, c->ring + c->head, n, 0))
			break;			/* no tx buffer: later */
		c->head = (c->head + n) % WIN;
		c->len -= n;
		c->tx_cnt += n;
		c->fwd_cnt += n;
		c->fwd_cnt_sent = c->fwd_cnt;
		c->echoed += n;
		total_echoed += n;
	}
	/* RW headers carry fwd_cnt; this only fires if they did not. */
	if (c->fwd_cnt - c->fwd_cnt_sent >= CREDIT_STEP)
		send_ctrl(c, ECHO_PORT, c->port, VSK_OP_CREDIT_UPDATE);
	if (c->shut && !c->len)
		conn_close(c, true, "host SHUTDOWN");
}

static bool all_echoed(void)
{
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (conns[i].live && conns[i].len)
			return false;
	return vs.tx_free == ~0ull;	/* and the device took them all */
}

/* Returns how the loop ended: "quit", "idle", "error". */
static const char *serve(uint64_t idle_ms)
{
	uint64_t idle_dl = vio_deadline(idle_ms), knock_dl;
	uint64_t quit_dl = 0;
	struct vsk_hdr k = vsk_hdr(&vs, KNOCK_SRC_PORT, VSK_READY_PORT,
				   VSK_OP_REQUEST);

	k.buf_alloc = WIN;
	vsk_send(&vs, &k, NULL, 0, CTRL_TIMEOUT_MS);
	vsk_flush(&vs);
	knock_dl = vio_deadline(KNOCK_MS);
	for (unsigned spin = 1;; spin++) {
		struct vsk_pkt p;
		bool any = false;

		if (vsk_event(&vs)) {
			unsigned dropped = 0;
			for (unsigned i = 0; i < MAX_CONNS; i++)
				if (conns[i].live) {
					conns[i].live = false;
					dropped++;
				}
			vb_pass("reset", "transport reset: guest_cid now %lu, "
				"%u connections dropped", vs.guest_cid, dropped);
			vsk_event_done(&vs);
		}
		while (vsk_recv(&vs, &p)) {
			handle(&p);
			vsk_release(&vs, &p);
			any = true;
		}
		for (unsigned i = 0; i < MAX_CONNS; i++)
			if (conns[i].live)
				pump(&conns[i]);
		vsk_flush(&vs);
		if (any)
			idle_dl = vio_deadline(idle_ms);
		if (!knocked && knock_dl && vio_expired(knock_dl)) {
			vb_fail("knock", "no RST within %u ms", KNOCK_MS);
			knock_dl = 0;
		}
		if (quit) {
			if (!quit_dl)
				quit_dl = vio_deadline(DRAIN_MS);
			if (all_echoed() || vio_expired(quit_dl))
				return "quit";
		} else if (vio_expired(idle_dl)) {
			return "idle";
		}
		if (spin % 65536 == 0 &&
		    vio_r32(&vs.dev, VIO_STATUS) & VIO_S_NEEDS_RESET) {
			vb_fail("vsock.status", "device needs reset");
			return "error";
		}
		__asm__ __volatile__("pause");
	}
}

void guest_main(struct vb_boot_params *bp)
{
	uint64_t want = ~0ull, idle_ms = DEFAULT_IDLE_MS;
	const char *why = "", *end;
	bool have_want;

	(void)bp;
	have_want = vb_param_u64("vbtest.vsock_conns", &want);
	vb_param_u64("vbtest.vsock_idle_ms", &idle_ms);
	vb_info("tsc %lu kHz", vio_tsc_khz());
	rng_check();
	if (!vsk_open(&vs, &why)) {
		vb_fail("vsock", "%s", why);
		return;
	}
	vb_check(vs.guest_cid == 3, "vsock.cid", "guest_cid %lu",
		 vs.guest_cid);
	vb_info("listening on port %u, %u rx buffers of %u bytes",
		ECHO_PORT, VSK_NRX, VSK_BUF);
	end = serve(idle_ms);
	for (unsigned q = 0; q < 3; q++)
		if (vs.dev.q[q].bad_used)	/* a VMM bug, never seen */
			vb_fail("vsock.used", "queue %u: %u used entries for "
				"descriptors we did not post", q,
				vs.dev.q[q].bad_used);
	if (nbad > 1)
		vb_info("%u malformed rx packets in all", nbad);
	if (nrefused)
		vb_info("%u connections refused (more than %u at once)",
			nrefused, MAX_CONNS);
	vb_info("total bytes echoed %lu (received %lu) over %u connections",
		total_echoed, total_rx, naccepted);
	if (have_want && want == 0 && !naccepted && end[0] == 'i') {
		vb_pass("listen", "no connection in %lu ms, as expected",
			idle_ms);
		return;
	}
	if (!quit)
		vb_fail("quit", "ended by %s: no QUIT line", end);
	vb_check(total_rx > 0 && total_echoed == total_rx, "echo",
		 "%lu bytes received, %lu echoed", total_rx, total_echoed);
	if (have_want)
		vb_check(naccepted >= want, "conns", "%u accepted, %lu "
			 "expected", naccepted, want);
}
