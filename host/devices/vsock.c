/* vsock.c: virtio-vsock device model with stream connections in user space.
 *
 * Primer (virtio 1.2 §5.10). Three queues: rx (device -> driver packets
 * into driver-posted buffers), tx (driver -> device) and event (unused:
 * only transport resets after migration). Every packet starts with a
 * 44-byte struct virtio_vsock_hdr; a stream connection is identified by
 * (src_cid, src_port, dst_cid, dst_port). Ops: REQUEST opens, RESPONSE
 * accepts, RW carries data, SHUTDOWN half/fully closes, RST aborts,
 * CREDIT_UPDATE/REQUEST manage flow control.
 *
 * Credit (§5.10.6.3): each side advertises buf_alloc (its receive buffer)
 * and fwd_cnt (bytes it has consumed). A sender may have at most
 * peer_buf_alloc - (tx_cnt - peer_fwd_cnt) bytes in flight. We honour the
 * guest's credit when sending, and enforce ours when receiving: a guest
 * that overruns VSOCK_BUF_ALLOC gets its connection reset. So a guest can
 * make us hold at most VSOCK_BUF_ALLOC bytes per connection, and at most
 * VSOCK_MAX_CONNS connections exist.
 *
 * Host side: the host opens connections to the agent; the guest may open
 * connections only to the ports the backend says it listens on (the LLM
 * gateway), anything else is refused with RST. Each connection's host end
 * is a unix socketpair; the VMM keeps one end (fd),
 * the orchestrator gets the other. Guest -> host bytes are written to fd
 * (buffered in a ring while fd is full); host -> guest bytes are read from
 * fd straight into the guest's rx buffers, only when the guest has both
 * buffers and credit for them — backpressure instead of buffering.
 *
 * Fairness: one kick processes at most TX_BUDGET tx chains and then
 * re-kicks itself, so a flooding guest cannot monopolise the I/O thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_vsock.h>

#include "vsock.h"
#include "../util/util.h"

enum { RXQ, TXQ, EVQ };
#define TX_BUDGET   256
#define RST_RING    256
#define PKT_MAX     (64u << 10)	/* payload per rx packet we build */
#define HOST_PORT_BASE 0x40000000u

enum conn_state { C_FREE, C_CONNECTING, C_ESTABLISHED };

struct vconn {
	enum conn_state state;
	uint32_t local_port, peer_port, cookie;
	int fd, orch_fd;	/* -1 when closed */
	/* guest -> host */
	uint8_t *ring;		/* VSOCK_BUF_ALLOC bytes, lazily allocated */
	uint32_t ring_head, ring_len;
	uint32_t fwd_cnt, fwd_cnt_sent;
	bool guest_shut_send;	/* no more data from the guest */
	/* host -> guest */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	bool data_ready;	/* fd readable, waiting for rx buffers */
	/* owed control packets */
	bool send_request, send_response, send_credit;
	/* current epoll interest */
	bool rd, wr;
};

struct rst {
	uint32_t src_port, dst_port;	/* from the host's point of view */
};

struct vsock_dev {
	struct virtio_dev vdev;		/* first: container_of by cast */
	const struct vsock_backend_ops *ops;
	void *ctx;
	struct vconn conns[VSOCK_MAX_CONNS];
	struct rst rsts[RST_RING];
	unsigned rst_head, rst_len;
	uint32_t next_port;
	unsigned rr;			/* round-robin start for rx fill */
	uint32_t cid;			/* the guest's CID (config space) */
	uint32_t old_cid;		/* also accepted from the guest: its CID
					   before a restore gave it cid, until
					   it has read the transport reset */
	uint32_t peer_cid;		/* what we address the guest as: the CID
					   it last sent from (a restored guest
					   goes on using its old one until it
					   reads the reset; Linux accepts either
					   on its listeners, a strict guest only
					   its own) */
	bool reset_owed;		/* a transport reset event to post */
	bool reset_wait;		/* posted; host connects held until the
					   driver has handled it (below) */
	int ev_avail;			/* the event queue's avail idx then */
	struct vsock_stats st;
};

static uint32_t credit(const struct vconn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0
					      : c->peer_buf_alloc - in_flight;
}

static void update_watch(struct vsock_dev *v, struct vconn *c)
{
	bool rd = c->state == C_ESTABLISHED && !c->data_ready &&
		  credit(c) > 0;
	bool wr = c->state == C_ESTABLISHED && c->ring_len > 0;

	if (c->fd < 0 || (rd == c->rd && wr == c->wr))
		return;
	c->rd = rd;
	c->wr = wr;
	v->ops->watch(v->ctx, c->fd, rd, wr, c);
}

static void conn_free(struct vsock_dev *v, struct vconn *c)
{
	if (c->fd >= 0) {
		v->ops->unwatch(v->ctx, c->fd);
		close(c->fd);
	}
	if (c->orch_fd >= 0)
		close(c->orch_fd);
	if (c->state == C_CONNECTING)
		v->ops->connected(v->ctx, c->cookie, -1, ECONNREFUSED);
	free(c->ring);
	*c = (struct vconn){ .state = C_FREE, .fd = -1, .orch_fd = -1 };
	v->st.live_conns--;
}

static void queue_rst(struct vsock_dev *v, uint32_t src, uint32_t dst)
{
	if (v->rst_len == RST_RING)
		return;		/* guest is not draining rx: its loss */
	v->rsts[(v->rst_head + v->rst_len++) % RST_RING] =
		(struct rst){ src, dst };
}

/* Reset one connection: tell the guest, then forget it. */
static void conn_reset(struct vsock_dev *v, struct vconn *c)
{
	queue_rst(v, c->local_port, c->peer_port);
	v->st.rst_sent++;
	conn_free(v, c);
}

static struct vconn *conn_find(struct vsock_dev *v, uint32_t local,
			       uint32_t peer)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vconn *c = &v->conns[i];
		if (c->state != C_FREE && c->local_port == local &&
		    c->peer_port == peer)
			return c;
	}
	return NULL;
}

/* ---- guest -> host ---------------------------------------------------- */

/* Write buffered guest bytes to the host fd; count what was consumed. */
static void flush_to_host(struct vsock_dev *v, struct vconn *c)
{
	while (c->ring_len > 0 && c->fd >= 0) {
		uint32_t first = VSOCK_BUF_ALLOC - c->ring_head;
		struct iovec iov[2] = {
			{ c->ring + c->ring_head,
			  c->ring_len < first ? c->ring_len : first },
			{ c->ring, c->ring_len > first ? c->ring_len - first
						       : 0 },
		};
		ssize_t n = writev(c->fd, iov, iov[1].iov_len ? 2 : 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_reset(v, c);	/* orchestrator went away */
			return;
		}
		c->ring_head = (c->ring_head + (uint32_t)n) % VSOCK_BUF_ALLOC;
		c->ring_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	/* Re-open the guest's window once a quarter of it is free again. */
	if (c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_BUF_ALLOC / 4)
		c->send_credit = true;
	if (c->ring_len == 0 && c->guest_shut_send && c->fd >= 0)
		shutdown(c->fd, SHUT_WR);
	update_watch(v, c);
}

static void rx_data(struct vsock_dev *v, struct vconn *c,
		    const struct virtq_elem *e, uint32_t len)
{
	if (len > VSOCK_BUF_ALLOC - c->ring_len) {
		virtio_guest_error(&v->vdev, "port %u overran its credit",
				   c->peer_port);
		conn_reset(v, c);
		return;
	}
	if (!c->ring && !(c->ring = malloc(VSOCK_BUF_ALLOC))) {
		conn_reset(v, c);
		return;
	}
	uint32_t tail = (c->ring_head + c->ring_len) % VSOCK_BUF_ALLOC;
	uint32_t first = VSOCK_BUF_ALLOC - tail;
	size_t skip = sizeof(struct virtio_vsock_hdr);
	if (first >= len) {
		iov_to_buf(e->out, e->nout, skip, c->ring + tail, len);
	} else {
		iov_to_buf(e->out, e->nout, skip, c->ring + tail, first);
		iov_to_buf(e->out, e->nout, skip + first, c->ring, len - first);
	}
	c->ring_len += len;
	v->st.tx_bytes += len;
	flush_to_host(v, c);
}

/* The guest connects to a port the host listens on: accept it at once
 * (RESPONSE owed) and give the orchestrator its end. -1: refuse (RST). */
static int guest_open(struct vsock_dev *v, const struct virtio_vsock_hdr *h)
{
	struct vconn *c = NULL;
	int sv[2];

	for (unsigned i = 0; i < VSOCK_MAX_CONNS && !c; i++)
		if (v->conns[i].state == C_FREE)
			c = &v->conns[i];
	if (!c || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
			     SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	*c = (struct vconn){
		.state = C_ESTABLISHED, .local_port = h->dst_port,
		.peer_port = h->src_port, .fd = sv[0], .orch_fd = -1,
		.peer_buf_alloc = h->buf_alloc, .peer_fwd_cnt = h->fwd_cnt,
		.send_response = true,
	};
	v->st.live_conns++;
	v->st.conns_opened++;
	if (v->ops->guest_connected(v->ctx, h->dst_port, sv[1]) < 0) {
		close(sv[1]);
		conn_free(v, c);
		return -1;
	}
	update_watch(v, c);
	return 0;
}

static void handle_tx_pkt(struct vsock_dev *v, const struct virtq_elem *e)
{
	struct virtio_vsock_hdr h;

	v->st.tx_pkts++;
	if (iov_to_buf(e->out, e->nout, 0, &h, sizeof(h)) < sizeof(h) ||
	    (h.src_cid != v->cid && h.src_cid != v->old_cid) ||
	    h.dst_cid != VSOCK_HOST_CID ||
	    h.type != VIRTIO_VSOCK_TYPE_STREAM || h.len > PKT_MAX ||
	    h.len > e->out_len - sizeof(h)) {
		/* Spoofed CID, unknown type or a lying length: drop it. */
		v->st.bad_pkts++;
		virtio_guest_error(&v->vdev, "malformed tx packet (op %u, "
				   "len %u)", h.op, h.len);
		return;
	}
	log_debug("vsock: guest op %u port %u -> %u len %u", h.op, h.src_port,
		  h.dst_port, h.len);
	v->peer_cid = (uint32_t)h.src_cid;
	struct vconn *c = conn_find(v, h.dst_port, h.src_port);
	if (!c) {
		if (h.op == VIRTIO_VSOCK_OP_REQUEST && v->ops->host_listens &&
		    v->ops->host_listens(v->ctx, h.dst_port) &&
		    guest_open(v, &h) == 0)
			return;
		if (h.op == VIRTIO_VSOCK_OP_REQUEST)
			v->ops->guest_knock(v->ctx, h.dst_port);
		if (h.op != VIRTIO_VSOCK_OP_RST) {
			queue_rst(v, h.dst_port, h.src_port);
			v->st.rst_sent++;
		}
		return;
	}
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	switch (h.op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != C_CONNECTING) {
			conn_reset(v, c);
			return;
		}
		c->state = C_ESTABLISHED;
		v->ops->connected(v->ctx, c->cookie, c->orch_fd, 0);
		c->orch_fd = -1;	/* now the orchestrator's */
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != C_ESTABLISHED || c->guest_shut_send) {
			conn_reset(v, c);
			return;
		}
		rx_data(v, c, e, h.len);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->send_credit = true;
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->guest_shut_send = true;
		if ((h.flags & VIRTIO_VSOCK_SHUTDOWN_RCV &&
		     h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND)) {
			/* Full close: deliver what we have, then reset as
			 * §5.10.6.5 expects of the side that got SHUTDOWN. */
			flush_to_host(v, c);
			if (c->state != C_FREE)
				conn_reset(v, c);
			return;
		}
		flush_to_host(v, c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		conn_free(v, c);
		return;
	default:
		conn_reset(v, c);	/* REQUEST on a live conn, unknown op */
		return;
	}
	update_watch(v, c);
}

/* ---- host -> guest ---------------------------------------------------- */

static void fill_hdr(const struct vsock_dev *v, struct virtio_vsock_hdr *h,
		     uint32_t src, uint32_t dst, uint16_t op,
		     const struct vconn *c)
{
	*h = (struct virtio_vsock_hdr){
		.src_cid = VSOCK_HOST_CID, .dst_cid = v->peer_cid,
		.src_port = src, .dst_port = dst,
		.type = VIRTIO_VSOCK_TYPE_STREAM, .op = op,
		.buf_alloc = VSOCK_BUF_ALLOC,
		.fwd_cnt = c ? c->fwd_cnt : 0,
	};
}

/* Build one packet for conn c into chain e; returns bytes written or 0
 * if c has nothing to send right now. */
static uint32_t conn_emit(struct vsock_dev *v, struct vconn *c,
			  const struct virtq_elem *e)
{
	struct virtio_vsock_hdr h;
	size_t hl = sizeof(h);

	if (c->send_request) {
		c->send_request = false;
		fill_hdr(v, &h, c->local_port, c->peer_port,
			 VIRTIO_VSOCK_OP_REQUEST, c);
	} else if (c->send_response) {
		c->send_response = false;
		c->fwd_cnt_sent = c->fwd_cnt;
		fill_hdr(v, &h, c->local_port, c->peer_port,
			 VIRTIO_VSOCK_OP_RESPONSE, c);
	} else if (c->data_ready && credit(c) > 0 && e->in_len > hl) {
		/* Read straight from the host fd into the guest buffer. */
		struct iovec iov[VIRTQ_MAX_SEGS];
		size_t want = e->in_len - hl, skip = hl;
		if (want > PKT_MAX)
			want = PKT_MAX;
		if (want > credit(c))
			want = credit(c);
		unsigned n = 0;
		for (unsigned i = 0; i < e->nin && want; i++) {
			if (skip >= e->in[i].iov_len) {
				skip -= e->in[i].iov_len;
				continue;
			}
			size_t l = e->in[i].iov_len - skip;
			if (l > want)
				l = want;
			iov[n++] = (struct iovec){
				(uint8_t *)e->in[i].iov_base + skip, l };
			want -= l;
			skip = 0;
		}
		ssize_t r;
		do
			r = readv(c->fd, iov, (int)n);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno == EAGAIN) {
			c->data_ready = false;
			update_watch(v, c);
			return 0;
		}
		if (r <= 0) {
			/* Orchestrator closed (or failed): the guest gets
			 * an RST after everything it was already sent. */
			conn_reset(v, c);
			return 0;
		}
		fill_hdr(v, &h, c->local_port, c->peer_port, VIRTIO_VSOCK_OP_RW,
			 c);
		h.len = (uint32_t)r;
		c->tx_cnt += (uint32_t)r;
		c->fwd_cnt_sent = c->fwd_cnt;
		c->send_credit = false;	/* piggybacked */
		v->st.rx_bytes += (uint64_t)r;
		iov_from_buf(e->in, e->nin, 0, &h, hl);
		return (uint32_t)(hl + (size_t)r);
	} else if (c->send_credit) {
		c->send_credit = false;
		c->fwd_cnt_sent = c->fwd_cnt;
		fill_hdr(v, &h, c->local_port, c->peer_port,
			 VIRTIO_VSOCK_OP_CREDIT_UPDATE, c);
	} else {
		return 0;
	}
	iov_from_buf(e->in, e->nin, 0, &h, hl);
	return (uint32_t)hl;
}

static bool conn_has_work(const struct vsock_dev *v, const struct vconn *c)
{
	return c->state != C_FREE &&
	       ((c->send_request && !v->reset_wait) || c->send_response ||
		c->send_credit ||
		(c->data_ready && credit(c) > 0));
}

static void rx_fill(struct vsock_dev *v)
{
	struct virtq *q = &v->vdev.vqs[RXQ];
	const struct gmem *m = v->vdev.mem;
	struct virtq_elem e;
	bool pushed = false;

	if (!virtio_dev_live(&v->vdev))
		return;
	for (;;) {
		struct vconn *c = NULL;
		if (!v->rst_len) {
			for (unsigned i = 0; i < VSOCK_MAX_CONNS && !c; i++) {
				struct vconn *x =
					&v->conns[(v->rr + i) % VSOCK_MAX_CONNS];
				if (conn_has_work(v, x))
					c = x;
			}
			if (!c)
				break;
		}
		int r = virtq_pop(q, m, &e);
		if (r <= 0)
			break;	/* no buffers (or broken: reported below) */
		uint32_t len = 0;
		if (e.in_len < sizeof(struct virtio_vsock_hdr)) {
			virtio_guest_error(&v->vdev, "rx buffer too small");
		} else if (v->rst_len) {
			struct rst *r0 = &v->rsts[v->rst_head];
			struct virtio_vsock_hdr h;
			fill_hdr(v, &h, r0->src_port, r0->dst_port,
				 VIRTIO_VSOCK_OP_RST, NULL);
			iov_from_buf(e.in, e.nin, 0, &h, sizeof(h));
			len = sizeof(h);
			v->rst_head = (v->rst_head + 1) % RST_RING;
			v->rst_len--;
		} else {
			len = conn_emit(v, c, &e);
			v->rr = (unsigned)(c - v->conns + 1) % VSOCK_MAX_CONNS;
		}
		if (!len && e.in_len >= sizeof(struct virtio_vsock_hdr) &&
		    !(c && conn_has_work(v, c))) {
			/* Nothing after all (EAGAIN/EOF): give the buffer
			 * back unused by rewinding our avail index. */
			q->last_avail--;
			continue;
		}
		/* Otherwise a buffer we cannot use (too small for the data
		 * owed) is consumed empty, so the loop always progresses. */
		virtq_push(q, m, e.head, len);
		v->st.rx_pkts++;
		pushed = true;
	}
	if (pushed || q->broken)
		virtio_notify_queue(&v->vdev, RXQ);
}

/* ---- entry points ----------------------------------------------------- */

static void tx_process(struct vsock_dev *v)
{
	struct virtq *q = &v->vdev.vqs[TXQ];
	struct virtq_elem e;
	unsigned n = 0;

	while (n < TX_BUDGET && virtq_pop(q, v->vdev.mem, &e) > 0) {
		handle_tx_pkt(v, &e);
		virtq_push(q, v->vdev.mem, e.head, 0);
		n++;
	}
	if (n || q->broken)
		virtio_notify_queue(&v->vdev, TXQ);
	if (n == TX_BUDGET && virtq_has_avail(q, v->vdev.mem))
		v->ops->rekick(v->ctx, TXQ);	/* come back after others */
}

/* §5.10.6.6: after a restore the driver must drop every connection
 * (their host ends are gone) and re-read its CID: one event buffer
 * carries VIRTIO_VSOCK_EVENT_TRANSPORT_RESET. Owed until the driver
 * has posted a buffer for it. */
static void post_reset(struct vsock_dev *v)
{
	struct virtq *q = &v->vdev.vqs[EVQ];
	struct virtq_elem e;
	struct virtio_vsock_event ev = {
		.id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET };

	if (!v->reset_owed || !virtio_dev_live(&v->vdev) ||
	    virtq_pop(q, v->vdev.mem, &e) <= 0)
		return;
	if (e.in_len < sizeof(ev))
		virtio_guest_error(&v->vdev, "event buffer too small");
	size_t n = iov_from_buf(e.in, e.nin, 0, &ev, sizeof(ev));
	virtq_push(q, v->vdev.mem, e.head, (uint32_t)n);
	v->reset_owed = n < sizeof(ev);
	v->reset_wait = !v->reset_owed;
	v->ev_avail = virtq_avail_idx(q, v->vdev.mem);
	virtio_notify_queue(&v->vdev, EVQ);
}

/* Linux handles the reset in its event work: it re-reads the CID, resets
 * every connected socket, then re-posts the event buffer and kicks. A
 * connection we opened before that sweep would be reset on the guest's
 * side without a word to us (no RST is sent), so host-initiated
 * REQUESTs wait until the driver has re-posted a buffer (avail idx moved
 * on since we took one): the sweep is over by then. */
static void reset_done(struct vsock_dev *v)
{
	int now = virtq_avail_idx(&v->vdev.vqs[EVQ], v->vdev.mem);

	if (v->reset_wait && (now < 0 || now != v->ev_avail)) {
		v->reset_wait = false;
		v->peer_cid = v->cid;	/* it has read its new CID */
	}
}

uint64_t vsock_save_extra(struct vsock_dev *v)
{
	return (uint64_t)v->cid | (uint64_t)v->next_port << 32;
}

void vsock_restored(struct vsock_dev *v, uint64_t extra)
{
	uint32_t old_cid = (uint32_t)extra, port = (uint32_t)(extra >> 32);

	pthread_mutex_lock(&v->vdev.lock);
	/* Host ports go on from where the snapshot's left off: the guest
	 * still has those connections until it reads the reset, and a new
	 * one on an old port would look like a second REQUEST to it. */
	v->next_port = port >= HOST_PORT_BASE ? port : HOST_PORT_BASE;
	v->old_cid = v->peer_cid = old_cid;
	v->reset_owed = true;
	post_reset(v);
	rx_fill(v);
	pthread_mutex_unlock(&v->vdev.lock);
}

void vsock_set_cid(struct vsock_dev *v, uint32_t cid)
{
	v->cid = v->old_cid = v->peer_cid = cid;
}

void vsock_queue_kick(struct vsock_dev *v, unsigned q)
{
	pthread_mutex_lock(&v->vdev.lock);
	if (q == EVQ) {
		reset_done(v);
		post_reset(v);
	}
	if (virtio_dev_live(&v->vdev)) {
		if (q == TXQ)
			tx_process(v);
		rx_fill(v);	/* tx may owe replies; rx may have buffers */
	}
	pthread_mutex_unlock(&v->vdev.lock);
}

void vsock_fd_event(struct vsock_dev *v, void *tag, bool rd, bool wr)
{
	struct vconn *c = tag;

	pthread_mutex_lock(&v->vdev.lock);
	if (c && c->state == C_ESTABLISHED) {
		if (wr)
			flush_to_host(v, c);
		if (rd && c->state == C_ESTABLISHED) {
			c->data_ready = true;
			update_watch(v, c);	/* quiet until drained */
		}
		rx_fill(v);
	}
	pthread_mutex_unlock(&v->vdev.lock);
}

int vsock_connect(struct vsock_dev *v, uint32_t port, uint32_t cookie)
{
	int sv[2], rc = 0;

	pthread_mutex_lock(&v->vdev.lock);
	struct vconn *c = NULL;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS && !c; i++)
		if (v->conns[i].state == C_FREE)
			c = &v->conns[i];
	if (!c) {
		rc = -EMFILE;
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
			      SOCK_NONBLOCK, 0, sv) < 0) {
		rc = -errno;
	} else {
		*c = (struct vconn){
			.state = C_CONNECTING, .local_port = v->next_port++,
			.peer_port = port, .cookie = cookie,
			.fd = sv[0], .orch_fd = sv[1], .send_request = true,
		};
		if (v->next_port < HOST_PORT_BASE)
			v->next_port = HOST_PORT_BASE;
		v->st.live_conns++;
		v->st.conns_opened++;
		rx_fill(v);
	}
	pthread_mutex_unlock(&v->vdev.lock);
	return rc;
}

void vsock_reset_all(struct vsock_dev *v)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != C_FREE)
			conn_free(v, &v->conns[i]);
	v->rst_len = 0;
}

static void vsock_cfg_read(struct virtio_dev *d, uint32_t off, void *data,
			   unsigned len)
{
	uint64_t cid = ((struct vsock_dev *)d)->cid;	/* virtio_vsock_config */

	if (off < sizeof(cid) && len <= sizeof(cid) - off)
		memcpy(data, (uint8_t *)&cid + off, len);
}

static void vsock_dev_reset(struct virtio_dev *d)
{
	vsock_reset_all((struct vsock_dev *)d);
}

static void vsock_notify(struct virtio_dev *d, unsigned q)
{
	/* Register-path notify (no ioeventfd): defer to the I/O thread. */
	struct vsock_dev *v = (struct vsock_dev *)d;
	v->ops->rekick(v->ctx, q);
}

static const struct virtio_dev_ops vsock_ops = {
	.config_read = vsock_cfg_read,
	.queue_notify = vsock_notify,
	.reset = vsock_dev_reset,
};

struct vsock_dev *vsock_new(const struct gmem *mem,
			    const struct vsock_backend_ops *ops, void *ctx)
{
	struct vsock_dev *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	virtio_dev_init(&v->vdev, &vsock_ops, "vsock", VIRTIO_ID_VSOCK, 0, 3,
			mem);
	v->ops = ops;
	v->ctx = ctx;
	v->next_port = HOST_PORT_BASE;
	v->cid = v->old_cid = v->peer_cid = VSOCK_GUEST_CID;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		v->conns[i] = (struct vconn){ .fd = -1, .orch_fd = -1 };
	return v;
}

void vsock_free(struct vsock_dev *v)
{
	if (!v)
		return;
	vsock_reset_all(v);
	free(v);
}

struct virtio_dev *vsock_virtio(struct vsock_dev *v)
{
	return &v->vdev;
}

void vsock_get_stats(struct vsock_dev *v, struct vsock_stats *st)
{
	pthread_mutex_lock(&v->vdev.lock);
	*st = v->st;
	pthread_mutex_unlock(&v->vdev.lock);
}
