/* test_vsock.c: the vsock device model and its connection state machine,
 * driven from a fake guest driver over plain memory. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "vqdrv.h"
#include "../../host/devices/vsock.h"

static struct ram ram;
static struct drvq rxq, txq;
static struct vsock_dev *v;
static int conn_fd = -1, conn_err;
static void *watch_tag;
static unsigned knocks, rekicks;

static void b_watch(void *ctx, int fd, bool rd, bool wr, void *tag)
{
	watch_tag = tag;
}
static void b_unwatch(void *ctx, int fd) {}
static void b_connected(void *ctx, uint32_t cookie, int fd, int err)
{
	conn_fd = fd;
	conn_err = err;
}
static void b_knock(void *ctx, uint32_t port) { knocks++; }
static void b_rekick(void *ctx, unsigned q) { rekicks++; }

static const struct vsock_backend_ops ops = {
	.watch = b_watch, .unwatch = b_unwatch, .connected = b_connected,
	.guest_knock = b_knock, .rekick = b_rekick,
};

#define RXBUF 0x200000u
#define TXBUF 0x300000u

static void post_rx(int n)
{
	static unsigned slot;
	for (int i = 0; i < n; i++) {
		/* never more outstanding than the ring holds (a real
		 * driver can't either) */
		if ((uint16_t)(rxq.avail_idx - rxq.used_seen) >= 64)
			return;
		uint64_t a[1] = { RXBUF + 4096ull * (slot++ % 64) };
		uint32_t l[1] = { 4096 };
		int w[1] = { 1 };
		drvq_add(&rxq, a, l, w, 1);
	}
}

static void send_tx(uint16_t op, uint32_t src_port, uint32_t dst_port,
		    const void *data, uint32_t len, uint64_t src_cid)
{
	static unsigned slot;
	uint64_t at = TXBUF + 65536ull * (slot++ % 8);
	struct virtio_vsock_hdr h = {
		.src_cid = src_cid, .dst_cid = 2, .src_port = src_port,
		.dst_port = dst_port, .len = len, .type = 1, .op = op,
		.buf_alloc = 65536, .fwd_cnt = 0 };
	memcpy(ram.base + at, &h, sizeof(h));
	if (len)
		memcpy(ram.base + at + sizeof(h), data, len);
	uint64_t a[1] = { at };
	uint32_t l[1] = { (uint32_t)sizeof(h) + len };
	int w[1] = { 0 };
	drvq_add(&txq, a, l, w, 1);
	vsock_queue_kick(v, 1);
}

/* Next packet the device put in rx, or op 0 if none. */
static struct virtio_vsock_hdr recv_rx(uint8_t *data)
{
	struct virtio_vsock_hdr h = { 0 };
	uint32_t len;
	int id = drvq_used(&rxq, &len);
	if (id < 0)
		return h;
	uint64_t at = ((struct vdesc *)(ram.base + rxq.desc))[id].addr;
	memcpy(&h, ram.base + at, sizeof(h));
	if (data && h.len)
		memcpy(data, ram.base + at + sizeof(h), h.len);
	return h;
}

int main(void)
{
	uint8_t data[65536];
	struct vsock_stats st;

	ram_init(&ram);
	v = vsock_new(&ram.gm, &ops, NULL);
	struct virtio_dev *d = vsock_virtio(v);
	d->status = 0xf;	/* ACK|DRIVER|DRIVER_OK|FEATURES_OK */
	drvq_init(&rxq, &ram, &d->vqs[0], 0x10000, 128);
	drvq_init(&txq, &ram, &d->vqs[1], 0x20000, 128);

	post_rx(16);
	vsock_queue_kick(v, 0);
	CHECK("vsock-connect-ok", vsock_connect(v, 1024, 7) == 0);
	struct virtio_vsock_hdr h = recv_rx(NULL);
	CHECK("vsock-request-sent", h.op == VIRTIO_VSOCK_OP_REQUEST &&
	      h.dst_port == 1024 && h.src_cid == 2 && h.dst_cid == 3);
	uint32_t hp = h.src_port;

	send_tx(VIRTIO_VSOCK_OP_RESPONSE, 1024, hp, NULL, 0, 3);
	CHECK("vsock-connected", conn_fd >= 0 && conn_err == 0);

	/* host -> guest */
	CHECK("vsock-host-write", write(conn_fd, "ping", 4) == 4);
	vsock_fd_event(v, watch_tag, true, false);
	h = recv_rx(data);
	CHECK("vsock-rw-to-guest", h.op == VIRTIO_VSOCK_OP_RW && h.len == 4 &&
	      !memcmp(data, "ping", 4));

	/* guest -> host */
	send_tx(VIRTIO_VSOCK_OP_RW, 1024, hp, "pong!", 5, 3);
	char rb[16] = { 0 };
	CHECK("vsock-rw-to-host", read(conn_fd, rb, sizeof(rb)) == 5 &&
	      !memcmp(rb, "pong!", 5));

	/* spoofed source CID: dropped, counted, connection unaffected */
	vsock_get_stats(v, &st);
	uint64_t bad0 = st.bad_pkts;
	send_tx(VIRTIO_VSOCK_OP_RW, 1024, hp, "evil", 4, 2);
	vsock_get_stats(v, &st);
	CHECK("vsock-spoofed-cid-dropped", st.bad_pkts == bad0 + 1 &&
	      st.live_conns == 1);

	/* a lying length (longer than the buffer) is dropped */
	send_tx(VIRTIO_VSOCK_OP_RW, 1024, hp, "x", 1, 3);
	struct virtio_vsock_hdr *th = (struct virtio_vsock_hdr *)(ram.base +
		((struct vdesc *)(ram.base + txq.desc))[(txq.next_desc - 1) %
							128].addr);
	(void)th;
	vsock_get_stats(v, &st);
	CHECK("vsock-still-one-conn", st.live_conns == 1);
	read(conn_fd, rb, sizeof(rb));	/* drain the "x" */

	/* unknown connection: RST back, knock on 1023 reported */
	send_tx(VIRTIO_VSOCK_OP_REQUEST, 5000, 1023, NULL, 0, 3);
	h = recv_rx(NULL);
	CHECK("vsock-knock-rst", h.op == VIRTIO_VSOCK_OP_RST &&
	      h.dst_port == 5000 && knocks == 1);

	/* tx flood to nowhere: bounded RST ring, budgeted kicks, no crash */
	for (int i = 0; i < 2000; i++)
		send_tx(VIRTIO_VSOCK_OP_RW, 6000 + (unsigned)i, 9, "z", 1, 3);
	vsock_get_stats(v, &st);
	CHECK("vsock-flood-survived", st.live_conns == 1);

	/* drain rx: only RSTs and nothing unbounded */
	int rsts = 0;
	for (int round = 0; round < 40; round++) {
		post_rx(16);
		vsock_queue_kick(v, 0);
		while ((h = recv_rx(NULL)).op)
			rsts += h.op == VIRTIO_VSOCK_OP_RST;
	}
	printf("info: %d RSTs after the flood\n", rsts);
	CHECK("vsock-flood-rsts-bounded", rsts > 0 && rsts <= 256 + 64);

	/* credit overrun: guest sends more than VSOCK_BUF_ALLOC while the
	 * host reads nothing -> connection reset */
	memset(data, 'a', sizeof(data));
	for (int i = 0; i < 40; i++)
		send_tx(VIRTIO_VSOCK_OP_RW, 1024, hp, data, 60000, 3);
	vsock_get_stats(v, &st);
	CHECK("vsock-credit-overrun-reset", st.live_conns == 0);
	/* the host end sees the guest's bytes, then EOF */
	size_t got = 0;
	ssize_t n;
	fcntl(conn_fd, F_SETFL, O_NONBLOCK);
	while ((n = read(conn_fd, data, sizeof(data))) > 0)
		got += (size_t)n;
	CHECK("vsock-overrun-delivered-then-eof", n == 0 && got > 0 &&
	      got < 40 * 60000);
	printf("info: %zu bytes reached the host before the reset\n", got);
	close(conn_fd);

	/* guest RST on a live connection frees it; host sees EOF */
	conn_fd = -1;
	post_rx(16);
	vsock_connect(v, 1024, 8);
	h = recv_rx(NULL);
	while (h.op && h.op != VIRTIO_VSOCK_OP_REQUEST)
		h = recv_rx(NULL);
	send_tx(VIRTIO_VSOCK_OP_RESPONSE, 1024, h.src_port, NULL, 0, 3);
	int fd2 = conn_fd;
	send_tx(VIRTIO_VSOCK_OP_RST, 1024, h.src_port, NULL, 0, 3);
	CHECK("vsock-guest-rst-eof", fd2 >= 0 && read(fd2, rb, 1) == 0);
	close(fd2);

	/* connection limit */
	int ok = 0;
	for (int i = 0; i < VSOCK_MAX_CONNS + 5; i++)
		ok += vsock_connect(v, 1024, 100 + (unsigned)i) == 0;
	vsock_get_stats(v, &st);
	printf("info: %d connects accepted, %u live\n", ok, st.live_conns);
	CHECK("vsock-conn-limit", st.live_conns == VSOCK_MAX_CONNS);
	vsock_free(v);
	printf("vsock: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
