/* test_slirp_spoof.c: the UDP reverse-flow rule (review 2, M1) against a
 * real libslirp in this process and real sockets, on 127.0.0.0/8 only.
 *
 * The guest (frames built here, through the policy like net_host.c)
 * sends a datagram to 10.0.2.2:P, which slirp maps to a server on
 * 127.0.0.1:P. A spoofer on 127.0.0.2 then sends to the host port slirp
 * bound for the guest; libslirp's socket is unconnected and delivers it
 * to the guest as from 127.0.0.2:R, unchanged. The guest must not then
 * reach 127.0.0.2:R (a host loopback service: the worst case of any
 * spoofed source), which no rule allows; the server's real reply keeps
 * the guest's own flow. Skips (exit 77) without a usable loopback. */
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "policy_frames.h"

int t_pass, t_fail;

struct ctx {
	Slirp *slirp;
	struct net_policy *pol;
	struct pollfd pfd[64];
	unsigned npfd;
	unsigned delivered;	/* UDP datagrams slirp gave the guest */
	char last_src[16];	/* and the last one's source address */
	uint16_t last_sport;	/* and port */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* slirp -> guest: what net_host.c's cb_send does, minus the device */
static ssize_t cb_send(const void *buf, size_t len, void *opaque)
{
	struct ctx *c = opaque;
	const uint8_t *f = buf;

	net_policy_observe_rx(c->pol, f, len, now_ms());
	if (len >= 42 && f[12] == 0x08 && f[13] == 0 && f[23] == UDP) {
		c->delivered++;
		c->last_sport = (uint16_t)(f[34] << 8 | f[35]);
		inet_ntop(AF_INET, f + 26, c->last_src, sizeof(c->last_src));
	}
	return (ssize_t)len;
}

static void cb_error(const char *msg, void *opaque)
{
	printf("info: slirp: %s\n", msg);
}

static int64_t cb_clock(void *opaque)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Timers are never fired here: a datagram round trip needs none. */
static void *cb_timer_new(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	static int dummy;
	return &dummy;
}

static void cb_timer_free(void *t, void *opaque)
{
}

static void cb_timer_mod(void *t, int64_t expire_ms, void *opaque)
{
}

static void cb_nop_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
}

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct ctx *c = opaque;
	if (c->npfd == 64)
		return -1;
	c->pfd[c->npfd] = (struct pollfd){
		.fd = fd, .events = (short)((events & SLIRP_POLL_IN ? POLLIN : 0) |
				    (events & SLIRP_POLL_OUT ? POLLOUT : 0)) };
	return (int)c->npfd++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct ctx *c = opaque;
	short r = idx >= 0 && (unsigned)idx < c->npfd ? c->pfd[idx].revents : 0;
	return (r & POLLIN ? SLIRP_POLL_IN : 0) |
	       (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

static const SlirpCb cbs = {
	.send_packet = cb_send, .guest_error = cb_error,
	.clock_get_ns = cb_clock, .timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod, .register_poll_fd = cb_nop_fd,
	.unregister_poll_fd = cb_nop_fd, .notify = cb_notify,
	.timer_new_opaque = cb_timer_new,
};

/* Run slirp's sockets for up to ms, or until *until changes. */
static void pump(struct ctx *c, int ms, const unsigned *until)
{
	unsigned start = until ? *until : 0;
	uint64_t end = now_ms() + (uint64_t)ms;
	while (now_ms() < end && (!until || *until == start)) {
		uint32_t timeout = 20;
		c->npfd = 0;
		slirp_pollfds_fill(c->slirp, &timeout, cb_add_poll, c);
		int r = poll(c->pfd, c->npfd, 20);
		slirp_pollfds_poll(c->slirp, r < 0, cb_get_revents, c);
	}
}

/* A guest frame: through the policy, then to slirp if allowed. */
static enum net_action guest_udp(struct ctx *c, const char *dst,
				 uint16_t dport)
{
	uint8_t f[128];
	struct net_verdict v;
	size_t n = udp(f, G4, 5000, dst, dport, (const uint8_t *)"hi", 2);
	enum net_action a = net_policy_check(c->pol, f, n, now_ms(), &v);
	if (a == NET_ACT_ALLOW)
		slirp_input(c->slirp, f, (int)n);
	return a;
}

static int udp_bound(const char *ip, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int main(void)
{
	struct ctx c = { 0 };
	uint16_t sport = 0, spoof_port = 0;
	int srv = udp_bound("127.0.0.1", &sport);
	int spoof = udp_bound("127.0.0.2", &spoof_port);
	char rule[32], err[NET_ERR_MAX];

	if (srv < 0 || spoof < 0) {
		printf("SKIP: slirp-spoof: no loopback UDP (127.0.0.1 and "
		       "127.0.0.2)\n");
		return 77;
	}
	SlirpConfig cfg = {
		.version = 4, .in_enabled = true, .if_mtu = 1500,
		.if_mru = 1500, .disable_dns = true,
	};
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	c.slirp = slirp_new(&cfg, &cbs, &c);
	c.pol = net_policy_new(NET_ALLOW);
	snprintf(rule, sizeof(rule), "10.0.2.2:%u", sport);
	if (!c.slirp || !c.pol ||
	    net_policy_add_rule(c.pol, rule, err, sizeof(err))) {
		printf("FAIL: slirp-spoof setup: %s\n", err);
		return 1;
	}
	/* the guest announces itself (slirp learns its MAC from ARP) */
	uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0,
			    0x12, 0x34, 0x56, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4,
			    0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 10, 0, 2,
			    15, 0, 0, 0, 0, 0, 0, 10, 0, 2, 2 };
	slirp_input(c.slirp, arp, sizeof(arp));

	CHECK("slirp-guest-sends", guest_udp(&c, "10.0.2.2", sport) ==
	      NET_ACT_ALLOW);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	char buf[64];
	struct pollfd sp = { .fd = srv, .events = POLLIN };
	for (int i = 0; i < 100 && poll(&sp, 1, 0) == 0; i++)
		pump(&c, 20, NULL);
	ssize_t r = recvfrom(srv, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
	CHECK("slirp-server-got-it", r == 2);
	if (r != 2)
		goto out;
	/* the server's real reply: delivered, and the flow stays */
	sendto(srv, "ok", 2, 0, (struct sockaddr *)&from, fl);
	pump(&c, 1000, &c.delivered);
	CHECK("slirp-reply-delivered", c.delivered == 1 &&
	      c.last_sport == sport);
	/* the spoofer, from another address and port, to slirp's socket */
	sendto(spoof, "evil", 4, 0, (struct sockaddr *)&from, fl);
	pump(&c, 1000, &c.delivered);
	printf("info: spoofed datagram delivered as from %s:%u (spoofer "
	       "127.0.0.2:%u)\n", c.last_src, c.last_sport, spoof_port);
	CHECK("slirp-spoof-delivered", c.delivered == 2 &&
	      c.last_sport == spoof_port);
	/* answering the spoofer would reach the host's loopback */
	CHECK("slirp-spoof-opens-nothing", guest_udp(&c, c.last_src,
						     c.last_sport) ==
	      NET_ACT_DENY);
	CHECK("slirp-spoof-not-via-gateway", guest_udp(&c, "10.0.2.2",
						       spoof_port) ==
	      NET_ACT_DENY);
	CHECK("slirp-own-flow-lives", guest_udp(&c, "10.0.2.2", sport) ==
	      NET_ACT_ALLOW);
out:
	slirp_cleanup(c.slirp);
	net_policy_free(c.pol);
	close(srv);
	close(spoof);
	printf("slirp spoof: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
