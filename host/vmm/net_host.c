/* net_host.c: the VMM side of virtio-net — libslirp behind the egress
 * policy filter, in a thread of its own.
 *
 * Why a thread: slirp wants a poll() loop over a changing set of its own
 * sockets plus timers, which does not fit the I/O thread's epoll set. The
 * net thread owns everything network: the slirp instance, the policy, and
 * the device model's queues (the I/O thread's kicks only set a bit and
 * wake it, so net_queue_kick and net_rx always run on this one thread).
 *
 * Every guest frame meets the policy (host/net/) before slirp sees it:
 * allowed and link-plumbing frames go to slirp_input; DNS queries to
 * 10.0.2.3 are answered here: allowed names from the static hosts map,
 * or else from the host's resolver, asked with a query we build (only the
 * allowed name and type leave, never the guest's bytes) over a UDP socket
 * connected before the sandbox; others NXDOMAIN. Denied frames get an
 * immediate RST or ICMP unreachable. Forwards (guest 10.0.2.2:P -> host
 * 127.0.0.1:Q and the like) are NAT in front of slirp: the frame's
 * destination is rewritten before slirp_input and the replies' source
 * after, so slirp itself connects to the host side. Decisions go to the
 * orchestrator as "net:" lines on the log path (stderr, [vm:NAME]).
 * slirp itself runs with host loopback disabled unless a rule names
 * 10.0.2.2. The host's own interface addresses, read here before the
 * sandbox, are denied whatever the rules say; the policy sees every
 * frame slirp sends back too (cb_send), to keep flows and the connection
 * cap in step with slirp's sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <slirp/libslirp.h>

#include "vmm.h"
#include "../devices/devices.h"
#include "../net/net.h"
#include "../util/util.h"

#define NET_TIMERS   16
#define NET_POLL_MAX 1024
#define RES_PENDING  64		/* upstream queries in flight */
#define RES_RETRY_MS 1000	/* ask again once after this */
#define RES_GIVEUP_MS 3000	/* then SERVFAIL (glibc waits 5 s a try) */
#define FRAME_BUF    NET_FRAME_MAX

struct pending {
	bool used, retried;
	uint16_t id, id_first;	/* the retry goes out under a fresh id (an
				   off-path spoofer has to guess again);
				   a late answer to the first is still good */
	int64_t sent_ms;
	struct dns_query q;
};

struct ntimer {
	bool used, armed;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;
};

struct net_host {
	struct vm *vm;
	struct net_dev *dev;
	Slirp *slirp;
	struct net_policy *pol;
	int wake_fd;			/* eventfd: kicks, stop */
	atomic_uint kicks;		/* queue bits to kick */
	atomic_bool stop;
	pthread_t thread;
	bool started;
	struct pollfd pfd[NET_POLL_MAX];
	unsigned npfd;
	struct ntimer timers[NET_TIMERS];
	uint64_t last_expire_ms;
	unsigned events_logged;
	int res_fd;			/* connected UDP to the resolver */
	uint64_t rnd;			/* xorshift state for query ids */
	unsigned npending;
	struct pending pend[RES_PENDING];
	uint8_t nat[FRAME_BUF];		/* NAT rewrites, net thread only */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct net_host *nh)
{
	uint64_t one = 1;
	(void)!write(nh->wake_fd, &one, sizeof(one));
}

/* ---- slirp callbacks (net thread) ----------------------------------- */

static ssize_t cb_send(const void *buf, size_t len, void *opaque)
{
	struct net_host *nh = opaque;
	uint64_t now = (uint64_t)mono_ms();

	/* a reply on a forwarded flow goes back under the guest-side name */
	size_t n = net_policy_nat_rx(nh->pol, buf, len, now, nh->nat,
				     sizeof(nh->nat));
	if (n)
		buf = nh->nat;
	net_policy_observe_rx(nh->pol, buf, len, now);
	net_rx(nh->dev, buf, len);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	log_debug("slirp: guest error: %s", msg);
}

static int64_t cb_clock(void *opaque)
{
	return (int64_t)vm_now_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque,
				 void *opaque)
{
	struct net_host *nh = opaque;
	for (unsigned i = 0; i < NET_TIMERS; i++)
		if (!nh->timers[i].used) {
			nh->timers[i] = (struct ntimer){ .used = true, .id = id,
							 .cb_opaque = cb_opaque };
			return &nh->timers[i];
		}
	return NULL;
}

static void cb_timer_free(void *t, void *opaque)
{
	if (t)
		*(struct ntimer *)t = (struct ntimer){ 0 };
}

static void cb_timer_mod(void *t, int64_t expire_ms, void *opaque)
{
	struct ntimer *nt = t;
	if (nt) {
		nt->expire_ms = expire_ms;
		nt->armed = true;
	}
}

static void cb_poll_noop(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
	wake(opaque);
}

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct net_host *nh = opaque;
	if (nh->npfd == NET_POLL_MAX)
		return -1;
	short ev = 0;
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	nh->pfd[nh->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)nh->npfd++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct net_host *nh = opaque;
	if (idx < 0 || (unsigned)idx >= nh->npfd)
		return 0;
	short r = nh->pfd[idx].revents;
	int ev = 0;
	if (r & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (r & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (r & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (r & POLLERR)
		ev |= SLIRP_POLL_ERR;
	if (r & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

static const SlirpCb slirp_cb = {
	.send_packet = cb_send,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_poll_noop,
	.unregister_poll_fd = cb_poll_noop,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

/* ---- the policy in front of slirp (net thread) ---------------------- */

static void log_event(struct net_host *nh, const struct net_verdict *v)
{
	struct net_event ev;
	char line[512];

	/* Allowed flows are logged once; every refusal is worth a line. */
	if (!(v->flags & NET_VF_NEW) && v->action != NET_ACT_DENY)
		return;
	/* Bounded: a guest scanning ports must not flood the log. */
	if (++nh->events_logged > 1000) {
		if (nh->events_logged == 1001)
			log_warnx("net: more than 1000 decisions; no more "
				  "logged");
		return;
	}
	net_policy_event(nh->pol, v, &ev);
	net_event_format(&ev, line, sizeof(line));
	if (ev.action == NET_ACT_DENY)
		log_warnx("net: %s", line);
	else
		log_info("net: %s", line);
}

/* ---- the upstream resolver (net thread) ------------------------------ */

static uint16_t next_id(struct net_host *nh)
{
	/* xorshift64: unpredictable enough once seeded from getrandom, and
	 * no syscall per query */
	nh->rnd ^= nh->rnd << 13;
	nh->rnd ^= nh->rnd >> 7;
	nh->rnd ^= nh->rnd << 17;
	return (uint16_t)(nh->rnd >> 24);
}

static bool resolve_send(struct net_host *nh, struct pending *pd)
{
	uint8_t msg[DNS_NAME_WIRE + 32];
	size_t n = dns_upstream_query(&pd->q, pd->id, msg, sizeof(msg));
	return n && send(nh->res_fd, msg, n, MSG_DONTWAIT) == (ssize_t)n;
}

/* Ask the host's resolver about q. False: no resolver, no room, or the
 * send failed — the caller answers SERVFAIL at once. A retransmitted
 * guest query already in flight is absorbed (true). */
static bool resolve_start(struct net_host *nh, const struct dns_query *q,
			  int64_t now)
{
	struct pending *free_slot = NULL;

	if (nh->res_fd < 0)
		return false;
	for (unsigned i = 0; i < RES_PENDING; i++) {
		struct pending *pd = &nh->pend[i];
		if (!pd->used) {
			if (!free_slot)
				free_slot = pd;
			continue;
		}
		if (pd->q.id == q->id && pd->q.qtype == q->qtype &&
		    pd->q.reply.dport == q->reply.dport &&
		    !strcmp(pd->q.name, q->name))
			return true;
	}
	if (!free_slot)
		return false;
	*free_slot = (struct pending){ .used = true, .id = next_id(nh),
				       .sent_ms = now, .q = *q };
	if (!resolve_send(nh, free_slot)) {
		free_slot->used = false;
		return false;
	}
	nh->npending++;
	return true;
}

static void resolve_finish(struct net_host *nh, struct pending *pd,
			   const struct net_addr *addrs, size_t n,
			   uint32_t ttl, int rcode)
{
	uint8_t out[DNS_REPLY_MAX];
	size_t len;
	uint64_t now = (uint64_t)mono_ms();

	if (rcode == 0)
		len = dns_build_answer(nh->pol, &pd->q, addrs, n, ttl, now, out,
				       sizeof(out));
	else
		len = dns_build_error(&pd->q, rcode == DNS_RCODE_NXDOMAIN
				      ? DNS_RCODE_NXDOMAIN : DNS_RCODE_SERVFAIL,
				      out, sizeof(out));
	log_debug("net: resolved %s: rcode %d, %zu addresses, ttl %u",
		  pd->q.name, rcode, n, ttl);
	if (len)
		net_rx(nh->dev, out, len);
	pd->used = false;
	nh->npending--;
}

/* Answers from the resolver: each must match an outstanding id and its
 * question exactly (dns_upstream_parse); anything else is dropped, so a
 * spoofed or stray datagram cannot answer the guest. */
static void resolver_input(struct net_host *nh)
{
	uint8_t msg[4096];

	for (int k = 0; k < 64; k++) {
		ssize_t r = recv(nh->res_fd, msg, sizeof(msg), MSG_DONTWAIT);
		if (r < 0)
			return;
		if (r < 2)
			continue;
		uint16_t id = (uint16_t)(msg[0] << 8 | msg[1]);
		for (unsigned i = 0; i < RES_PENDING; i++) {
			struct pending *pd = &nh->pend[i];
			if (!pd->used || (pd->id != id &&
					  !(pd->retried && pd->id_first == id)))
				continue;
			struct net_addr addrs[DNS_MAX_ADDRS];
			size_t n = 0;
			uint32_t ttl = 0;
			int rcode = 0;
			int rc = dns_upstream_parse(msg, (size_t)r, &pd->q, id,
						    addrs, DNS_MAX_ADDRS, &n,
						    &ttl, &rcode);
			if (rc == 0)
				resolve_finish(nh, pd, addrs, n, ttl, rcode);
			else if (rc == -EMSGSIZE)	/* truncated: no TCP */
				resolve_finish(nh, pd, NULL, 0, 0,
					       DNS_RCODE_SERVFAIL);
			break;
		}
	}
}

/* Retry once, then give up with SERVFAIL; returns the ms until the next
 * deadline (for poll), or -1 with nothing pending. */
static int resolver_timers(struct net_host *nh, int64_t now)
{
	int next = -1;

	for (unsigned i = 0; nh->npending && i < RES_PENDING; i++) {
		struct pending *pd = &nh->pend[i];
		if (!pd->used)
			continue;
		int64_t age = now - pd->sent_ms;
		if (age >= RES_GIVEUP_MS) {
			log_warnx("net: resolver gave no answer for %s",
				  pd->q.name);
			resolve_finish(nh, pd, NULL, 0, 0, DNS_RCODE_SERVFAIL);
			continue;
		}
		if (age >= RES_RETRY_MS && !pd->retried) {
			pd->retried = true;
			pd->id_first = pd->id;
			pd->id = next_id(nh);
			resolve_send(nh, pd);
		}
		int64_t due = (pd->retried ? RES_GIVEUP_MS : RES_RETRY_MS) -
			      age;
		if (next < 0 || due < next)
			next = (int)due;
	}
	return next;
}

/* "IP", "IP:PORT", "[IP6]:PORT": a UDP socket connected to it, made
 * before the sandbox (which allows no new sockets of other families). */
static int resolver_open(const char *spec)
{
	char host[64];
	unsigned long port = 53;
	const char *colon;
	struct net_addr a;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || (size_t)(rb - spec - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, (size_t)(rb - spec - 1));
		host[rb - spec - 1] = '\0';
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] && !colon)
			return -EINVAL;
	} else {
		colon = strchr(spec, ':');
		size_t hl = colon ? (size_t)(colon - spec) : strlen(spec);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, hl);
		host[hl] = '\0';
	}
	if (colon) {
		char *end;
		port = strtoul(colon + 1, &end, 10);
		if (*end || !port || port > 65535)
			return -EINVAL;
	}
	if (net_addr_parse(host, &a))
		return -EINVAL;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	if (a.family == NET_AF4) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, a.b, 4);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(&in6->sin6_addr, a.b, 16);
		sl = sizeof(*in6);
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* The host's own interface addresses become destinations the policy
 * always denies (review 2, M6): slirp's connect() to one reaches every
 * host service bound to 0.0.0.0. Read once, here, before the sandbox:
 * getifaddrs needs a netlink socket. Addresses added later (a new DHCP
 * lease) are not seen. Failing closed: without them there is no VM. */
static int deny_host_addrs(struct net_policy *pol, char *err, size_t errlen)
{
	struct ifaddrs *ifa;

	if (getifaddrs(&ifa) < 0) {
		int e = errno;
		snprintf(err, errlen, "network setup: cannot list the host's "
			 "addresses: %s", strerror(e));
		return -e;
	}
	int rc = 0;
	for (struct ifaddrs *i = ifa; i && !rc; i = i->ifa_next) {
		struct net_addr a = { 0 };
		const struct sockaddr *sa = i->ifa_addr;
		if (!sa)
			continue;
		if (sa->sa_family == AF_INET) {
			a.family = NET_AF4;
			memcpy(a.b, &((const struct sockaddr_in *)sa)->sin_addr,
			       4);
		} else if (sa->sa_family == AF_INET6) {
			a.family = NET_AF6;
			memcpy(a.b,
			       &((const struct sockaddr_in6 *)sa)->sin6_addr,
			       16);
		} else {
			continue;
		}
		rc = net_policy_add_host_addr(pol, &a);
	}
	freeifaddrs(ifa);
	if (rc)
		snprintf(err, errlen, "network setup: the host has more than "
			 "%d interface addresses; cannot deny them all",
			 NET_MAX_HOST_ADDRS);
	return rc;
}

static int be_send(void *ctx, const uint8_t *frame, size_t len)
{
	struct net_host *nh = ctx;
	uint64_t now = (uint64_t)mono_ms();
	struct net_verdict v;
	uint8_t out[NET_REFUSAL_MAX > DNS_REPLY_MAX ? NET_REFUSAL_MAX
						    : DNS_REPLY_MAX];
	size_t n = 0;

	switch (net_policy_check(nh->pol, frame, len, now, &v)) {
	case NET_ACT_ALLOW:
	case NET_ACT_PASS:
		if (v.reason != NET_R_LINK)	/* ARP and DHCP: no news */
			log_event(nh, &v);
		if (v.fwd) {
			/* never the un-rewritten frame: its destination is
			 * the guest-side name, maybe a real address */
			if (!net_policy_nat_tx(nh->pol, &v, frame, len, nh->nat,
					       sizeof(nh->nat)))
				return 0;
			frame = nh->nat;
		}
		slirp_input(nh->slirp, frame, (int)len);
		return 0;
	case NET_ACT_DNS: {
		struct dns_query q;
		enum dns_disposition d = dns_query(nh->pol, frame, len, now,
						   &q, out, sizeof(out), &n);
		/* the reply to a resolved name is sent when the answer is
		 * in (resolver_input), or SERVFAIL at once without one */
		if (d == DNS_RESOLVE && !resolve_start(nh, &q, (int64_t)now))
			n = dns_build_error(&q, DNS_RCODE_SERVFAIL, out,
					    sizeof(out));
		if (d != DNS_DROP) {
			q.v.flags |= NET_VF_NEW;
			log_event(nh, &q.v);
		}
		break;
	}
	case NET_ACT_DENY:
	default:
		log_event(nh, &v);
		n = net_build_refusal(frame, len, out, sizeof(out));
		break;
	}
	if (n)
		net_rx(nh->dev, out, n);
	return 0;
}

static void be_rekick(void *ctx, unsigned q)
{
	struct net_host *nh = ctx;
	atomic_fetch_or(&nh->kicks, 1u << q);
	wake(nh);
}

static const struct net_backend_ops backend = {
	.send = be_send,
	.rekick = be_rekick,
};

/* I/O thread: a queue notify. */
static void kick(void *impl, unsigned q)
{
	be_rekick(impl, q);
}

/* ---- the thread ------------------------------------------------------ */

static void run_timers(struct net_host *nh, int64_t now)
{
	for (unsigned i = 0; i < NET_TIMERS; i++) {
		struct ntimer *t = &nh->timers[i];
		if (t->used && t->armed && t->expire_ms <= now) {
			t->armed = false;
			slirp_handle_timer(nh->slirp, t->id, t->cb_opaque);
		}
	}
}

static void *net_main(void *arg)
{
	struct net_host *nh = arg;

	while (!atomic_load(&nh->stop)) {
		int64_t now = mono_ms();
		uint32_t timeout = 1000;
		for (unsigned i = 0; i < NET_TIMERS; i++)
			if (nh->timers[i].used && nh->timers[i].armed) {
				int64_t d = nh->timers[i].expire_ms - now;
				if (d < 0)
					d = 0;
				if ((uint64_t)d < timeout)
					timeout = (uint32_t)d;
			}
		int rt = resolver_timers(nh, now);
		if (rt >= 0 && (uint32_t)rt < timeout)
			timeout = (uint32_t)rt;
		nh->npfd = 0;
		cb_add_poll(nh->wake_fd, SLIRP_POLL_IN, nh);
		int res_idx = nh->res_fd >= 0
				      ? cb_add_poll(nh->res_fd, SLIRP_POLL_IN, nh)
				      : -1;
		slirp_pollfds_fill(nh->slirp, &timeout, cb_add_poll, nh);
		int r = poll(nh->pfd, nh->npfd, (int)timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && nh->pfd[0].revents & POLLIN) {
			uint64_t v;
			(void)!read(nh->wake_fd, &v, sizeof(v));
		}
		unsigned k = atomic_exchange(&nh->kicks, 0);
		for (unsigned q = 0; k && q < 2; q++)
			if (k & (1u << q))
				net_queue_kick(nh->dev, q);
		if (res_idx >= 0 && r > 0 && nh->pfd[res_idx].revents)
			resolver_input(nh);
		slirp_pollfds_poll(nh->slirp, r < 0, cb_get_revents, nh);
		now = mono_ms();
		run_timers(nh, now);
		if ((uint64_t)now - nh->last_expire_ms >= 1000) {
			net_policy_expire(nh->pol, (uint64_t)now);
			nh->last_expire_ms = (uint64_t)now;
		}
	}
	return NULL;
}

/* The configuration names modes in vmcfg.h terms; the policy's are the
 * same numbers. */
_Static_assert(VM_NET_OFF == (int)NET_OFF && VM_NET_INTERNET ==
	       (int)NET_INTERNET && VM_NET_ALLOW == (int)NET_ALLOW,
	       "vm_net_mode and net_mode agree");

int net_host_init(struct vm *vm, const struct vm_net_cfg *nc, char *err,
		  size_t errlen)
{
	struct net_host *nh = calloc(1, sizeof(*nh));
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	if (!nh)
		return -ENOMEM;
	vm->net = nh;
	nh->vm = vm;
	nh->res_fd = -1;
	nh->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	nh->pol = net_policy_new((enum net_mode)nc->mode);
	if (nh->wake_fd < 0 || !nh->pol) {
		snprintf(err, errlen, "network setup: out of resources");
		return -ENOMEM;
	}
	for (char *const *r = nc->allow; r && *r; r++)
		if (net_policy_add_rule(nh->pol, *r, err, errlen) < 0)
			return -EINVAL;
	for (char *const *hp = nc->hosts; hp && *hp; hp++) {
		const char *h = *hp;
		char name[256];
		const char *eq = strchr(h, '=');
		if (!eq || (size_t)(eq - h) >= sizeof(name)) {
			snprintf(err, errlen, "bad hosts entry '%s'", h);
			return -EINVAL;
		}
		memcpy(name, h, (size_t)(eq - h));
		name[eq - h] = '\0';
		if (net_policy_add_host(nh->pol, name, eq + 1, err, errlen) < 0)
			return -EINVAL;
	}
	for (char *const *f = nc->forwards; f && *f; f++)
		if (net_policy_add_forward(nh->pol, *f, err, errlen) < 0)
			return -EINVAL;
	net_policy_set_limits(nh->pol,
			      nc->max_conns ? nc->max_conns : NET_DEF_MAX_CONNS,
			      nc->conn_rate ? nc->conn_rate : NET_DEF_CONN_RATE);
	net_policy_set_private_dns(nh->pol, nc->private_dns);
	int rc = deny_host_addrs(nh->pol, err, errlen);
	if (rc < 0)
		return rc;
	if (nc->resolver[0]) {
		nh->res_fd = resolver_open(nc->resolver);
		if (nh->res_fd < 0)	/* names then get SERVFAIL; say why */
			log_warnx("net: resolver %s: %s; names outside the "
				  "hosts map will not resolve", nc->resolver,
				  strerror(-nh->res_fd));
	}
	if (getrandom(&nh->rnd, sizeof(nh->rnd), GRND_NONBLOCK) !=
	    sizeof(nh->rnd) || !nh->rnd)
		nh->rnd = (uint64_t)mono_ms() * 0x9e3779b97f4a7c15ull | 1;
	/* slirp maps 10.0.2.2 to the host's loopback. Unless a rule or a
	 * hosts entry names that address (a forward to a host service, such
	 * as a local Ollama), slirp refuses it too, behind the policy. */
	bool gw_named = false;
	for (char *const *rp = nc->allow; rp && *rp; rp++) {
		const char *r = *rp;
		gw_named |= !strncmp(r, "10.0.2.2", 8) &&
			    (r[8] == ':' || r[8] == '/' || !r[8]);
	}
	for (char *const *hp = nc->hosts; hp && *hp; hp++) {
		const char *eq = strchr(*hp, '=');
		gw_named |= eq && !strcmp(eq + 1, "10.0.2.2");
	}
	SlirpConfig cfg = {
		.version = 4, .in_enabled = true, .in6_enabled = false,
		.if_mtu = 1500, .if_mru = 1500,
		.disable_host_loopback = !gw_named, .disable_dns = true,
	};
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	nh->slirp = slirp_new(&cfg, &slirp_cb, nh);
	if (!nh->slirp) {
		snprintf(err, errlen, "slirp_new failed");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nc->npublish; i++) {
		struct in_addr lo, guest;
		inet_pton(AF_INET, "127.0.0.1", &lo);
		inet_pton(AF_INET, "10.0.2.15", &guest);
		if (slirp_add_hostfwd(nh->slirp, 0, lo, nc->publish[i].host,
				      guest, nc->publish[i].guest) < 0) {
			snprintf(err, errlen, "cannot publish guest port %u on "
				 "127.0.0.1:%u", nc->publish[i].guest,
				 nc->publish[i].host);
			return -EADDRINUSE;
		}
		/* the guest may answer inbound connections to this port */
		net_policy_add_publish(nh->pol, 6, nc->publish[i].guest);
	}
	static const uint8_t none[6];
	nh->dev = net_new(vm->gmem, memcmp(vm->cfg->vc->mac, none, 6)
					    ? vm->cfg->vc->mac : mac,
			  &backend, nh);
	if (!nh->dev) {
		snprintf(err, errlen, "virtio-net setup failed");
		return -ENOMEM;
	}
	return vbus_add(vm, net_virtio(nh->dev), kick, nh);
}

int net_host_start(struct vm *vm)
{
	struct net_host *nh = vm->net;

	if (!nh)
		return 0;
	int r = pthread_create(&nh->thread, NULL, net_main, nh);
	nh->started = r == 0;
	return -r;
}

void net_host_fini(struct vm *vm)
{
	struct net_host *nh = vm->net;

	if (!nh)
		return;
	if (nh->started) {
		atomic_store(&nh->stop, true);
		wake(nh);
		pthread_join(nh->thread, NULL);
	}
	if (nh->slirp)
		slirp_cleanup(nh->slirp);
	if (nh->dev)
		net_free(nh->dev);
	net_policy_free(nh->pol);
	if (nh->wake_fd >= 0)
		close(nh->wake_fd);
	if (nh->res_fd >= 0)
		close(nh->res_fd);
	free(nh);
	vm->net = NULL;
}
