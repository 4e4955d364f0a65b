/* relay.c: guest TCP 127.0.0.1:<vb.gw> -> host vsock AGENT_GATEWAY_PORT.
 *
 * claude-code can only speak HTTP(S) over TCP, and the VM may have no
 * network at all. So the agent listens on guest loopback and carries each
 * accepted connection, byte for byte, to the orchestrator's LLM gateway
 * over vsock (the one host port the VMM lets the guest open). The gateway
 * checks the per-VM token and swaps in the real credential on the host;
 * nothing secret ever passes through here.
 *
 * Each relay is two sockets and two bounded buffers. A side's reads stop
 * while the buffer towards the other side is full (backpressure, never
 * unbounded memory); EOF is passed on as shutdown(SHUT_WR) once the
 * buffer has drained, so HTTP half-close works; the pair is freed when
 * both directions are done or either side errors.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "agent.h"

#define RELAY_MAX   64		/* concurrent relays; more are refused */
#define RELAY_BUF   (256u << 10)	/* per direction */

struct relay;
struct side {
	struct ev_watch w;
	struct relay *r;
	int i;			/* index in r->s */
	struct buf out;		/* bytes waiting to be written to this fd */
	int eof_in;		/* read EOF from this fd */
	int shut_out;		/* sent SHUT_WR to this fd */
	int connecting;		/* vsock connect in progress */
};

struct relay {
	struct side s[2];	/* 0: guest TCP client, 1: vsock to host */
	int dead;
};

static struct ev_watch lw = { .fd = -1 };
static unsigned nrelays;

static void relay_free(void *p)
{
	struct relay *r = p;

	for (int i = 0; i < 2; i++)
		buf_free(&r->s[i].out);
	free(r);
}

static void relay_kill(struct relay *r)
{
	if (r->dead)
		return;
	r->dead = 1;
	for (int i = 0; i < 2; i++)
		ev_close(&r->s[i].w);
	nrelays--;
	ev_defer(relay_free, r);
}

/* Recompute both sides' interest from the state. */
static void relay_update(struct relay *r)
{
	for (int i = 0; i < 2 && !r->dead; i++) {
		struct side *me = &r->s[i], *peer = &r->s[!i];
		uint32_t ev = 0;
		if (me->connecting) {
			ev = EPOLLOUT;
		} else {
			if (!me->eof_in && peer->out.len < RELAY_BUF &&
			    !peer->connecting)
				ev |= EPOLLIN;
			if (me->out.len)
				ev |= EPOLLOUT;
		}
		if (ev_set(&me->w, ev) < 0)
			relay_kill(r);
	}
	if (!r->dead && r->s[0].shut_out && r->s[1].shut_out)
		relay_kill(r);
}

/* Write what we can of side i's buffer; pass EOF on once it is empty. */
static int flush_side(struct relay *r, int i)
{
	struct side *me = &r->s[i], *peer = &r->s[!i];

	while (me->out.len) {
		ssize_t n = send(me->w.fd, buf_data(&me->out), me->out.len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		buf_consume(&me->out, (size_t)n);
	}
	if (peer->eof_in && !me->shut_out) {
		shutdown(me->w.fd, SHUT_WR);
		me->shut_out = 1;
	}
	return 0;
}

static int read_side(struct relay *r, int i)
{
	struct side *me = &r->s[i], *peer = &r->s[!i];
	size_t room = RELAY_BUF - peer->out.len;

	if (buf_reserve(&peer->out, room) < 0)
		return -1;
	ssize_t n = recv(me->w.fd, buf_end(&peer->out), room, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		me->eof_in = 1;
	peer->out.len += (size_t)n;
	return flush_side(r, !i);
}

static void on_side(struct ev_watch *w, uint32_t revents)
{
	struct side *me = container_of(w, struct side, w);
	struct relay *r = me->r;
	int i = me->i;

	if (r->dead)
		return;
	if (me->connecting) {
		int e = 0;
		socklen_t el = sizeof(e);
		if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 ||
		    e) {
			/* The gateway is not there: the client sees a
			 * closed connection, never a hang. */
			relay_kill(r);
			return;
		}
		me->connecting = 0;
	} else if (revents & EPOLLIN && read_side(r, i) < 0) {
		relay_kill(r);
		return;
	} else if (revents & (EPOLLERR | EPOLLHUP) && !(revents & EPOLLIN) &&
		   !me->out.len) {
		relay_kill(r);
		return;
	}
	if (revents & EPOLLOUT && flush_side(r, i) < 0) {
		relay_kill(r);
		return;
	}
	relay_update(r);
}

static void start_relay(int cfd)
{
	struct sockaddr_vm host = {
		.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
		.svm_port = AGENT_GATEWAY_PORT,
	};
	struct relay *r;
	int one = 1;

	if (nrelays >= RELAY_MAX || !(r = calloc(1, sizeof(*r)))) {
		close(cfd);
		return;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int vfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0);
	if (vfd < 0 || (connect(vfd, (struct sockaddr *)&host, sizeof(host)) <
				0 && errno != EINPROGRESS)) {
		agent_warn("gateway relay: vsock connect: %s",
			   strerror(errno));
		if (vfd >= 0)
			close(vfd);
		close(cfd);
		free(r);
		return;
	}
	for (int i = 0; i < 2; i++) {
		r->s[i].r = r;
		r->s[i].i = i;
	}
	ev_watch_init(&r->s[0].w, cfd, on_side);
	ev_watch_init(&r->s[1].w, vfd, on_side);
	r->s[1].connecting = 1;
	nrelays++;
	relay_update(r);
}

static void on_listen(struct ev_watch *w, uint32_t revents)
{
	for (int k = 0; k < 16; k++) {
		int fd = accept4(w->fd, NULL, NULL,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;	/* EAGAIN, or EMFILE: retried next time */
		start_relay(fd);
	}
	(void)revents;
}

int relay_listen(uint16_t port)
{
	static uint16_t listening;	/* one relay per boot */

	if (listening)
		return listening == port ? 0 : -EBUSY;
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	ev_watch_init(&lw, fd, on_listen);
	int r = ev_set(&lw, EPOLLIN);
	if (r == 0)
		listening = port;
	return r;
}
