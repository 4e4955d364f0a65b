/* fuzz_wire.c: libFuzzer target — the agent wire protocol (agent_abi.h)
 * through both real decoders, over socketpairs so the product's own read
 * loops run unchanged. The first byte picks who reads the rest:
 *
 *   0  the host framing (agent_recv): every frame it accepts must match
 *      the bytes sent, a header over AGENT_FRAME_MAX must fail before the
 *      buffer grows, and agent_send of a decoded frame must decode again
 *      to the same header and payload (flags excepted: reserved, the
 *      encoder always writes 0); ERROR bodies through agent_error_of;
 *   1  the host's exec client (agent_exec) reading the guest's stream;
 *   2  agent_get, or agent_set_policy (bit 2), likewise;
 *   3  the guest agent's connection (conn.c with the real exec, files,
 *      policy and telemetry parsers), after a valid HELLO when bit 2 is
 *      set. Everything the guest writes back must be well-formed frames
 *      for the host decoder.
 *
 * The guest's event loop, spawning and root mapping are stubbed below:
 * exec requests are parsed and resolved, then fail at spawn; file
 * requests are parsed, then refused by roots_open. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../host/agent/agent.h"
#include "../../guest/agent/agent.h"

#define IN_MAX (64u << 10)	/* fits a socketpair's buffer unread */
#define OUT_MAX (8u << 20)	/* guest output kept for checking */

static const uint8_t secret[AGENT_SECRET_LEN] = { 0x5a, 1, 2, 3 };

/* ---- guest stubs ------------------------------------------------------ */

struct agent agent;
static struct ev_watch *last_watch, *conn_watch;
static int conn_closed;
static struct { ev_free_fn *fn; void *p; } deferred[256];
static unsigned ndeferred;

void agent_log(const char *fmt, ...) {}
void agent_warn(const char *fmt, ...) {}
void agent_shutdown(void) { abort(); }	/* POWEROFF is filtered out */
uint64_t agent_now_ns(int clock) { return 1; }
void ev_watch_init(struct ev_watch *w, int fd, ev_fn *fn)
{
	*w = (struct ev_watch){ .fd = fd, .fn = fn };
	last_watch = w;
}
int ev_set(struct ev_watch *w, uint32_t events)
{
	w->events = events;
	return 0;
}
void ev_close(struct ev_watch *w)
{
	if (w == conn_watch)
		conn_closed = 1;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->events = 0;
}
void ev_defer(ev_free_fn *fn, void *p)
{
	if (ndeferred == 256)
		abort();
	deferred[ndeferred].fn = fn;
	deferred[ndeferred++].p = p;
}
int ev_timer_open(struct ev_watch *w, ev_fn *fn) { return 0; }
int ev_timer_arm(struct ev_watch *w, uint32_t ms, uint32_t iv) { return 0; }
void ev_timer_ack(struct ev_watch *w) {}
pid_t spawn_start(const struct spawn *s, const char **what)
{
	*what = "fuzz";
	return -EPERM;
}
const char *roots_map(const char *path, char *buf, size_t len)
{
	return path;
}
int roots_open(const char *path, const char **rel) { return -EACCES; }
int roots_openat(int rootfd, const char *rel, int flags, mode_t mode)
{
	return -EACCES;
}
/* RESUME changes the machine's clock, hostname, RNG and eth0's MAC: never
 * on the machine that fuzzes (guest/agent/resume.c refuses in test mode
 * too). Its frame is checked like any request's. */
int resume_handle(struct conn *c, const struct agent_hdr *h, const uint8_t *p)
{
	return conn_send_error(c, h->req_id, EPERM, "fuzz: no resume");
}
/* host/agent/conn.c's agent_open, never called here. */
int box_connect(struct box *b, uint32_t port, unsigned timeout_ms, char *err,
		size_t errlen)
{
	return -1;
}

/* ---- helpers ---------------------------------------------------------- */

/* A socketpair holding data with the writer's side shut: the reader sees
 * exactly data, then EOF. Returns the reading end; *w the other. */
static int feed(const uint8_t *data, size_t n, int *w)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (n && write(sv[1], data, n) != (ssize_t)n)
		abort();
	shutdown(sv[1], SHUT_WR);
	*w = sv[1];
	return sv[0];
}

static int hdr_ok(const struct agent_hdr *h)
{
	return h->magic == AGENT_MAGIC && h->type && h->type < AGENT_MSG_MAX &&
	       h->len <= AGENT_FRAME_MAX;
}

/* agent_error_of: a bounded, printable message and a sane errno. */
static void check_error(struct agent_conn *c, const struct agent_hdr *h)
{
	char msg[64];
	int e = agent_error_of(c, h, msg, sizeof(msg));

	if (e <= 0 || e >= 4096 || strlen(msg) >= sizeof(msg))
		abort();
	for (const char *m = msg; *m; m++)
		if ((unsigned char)*m < 0x20 || *m == 0x7f)
			abort();
}

/* Decode h + c->buf again after agent_send wrote it to a fresh pair. */
static void reencode(const struct agent_hdr *h, const uint8_t *p)
{
	int sv[2];
	struct agent_hdr h2;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	struct agent_conn enc = { .fd = sv[1] }, dec = { .fd = sv[0] };
	if (agent_send(&enc, h->type, h->req_id, p, h->len, NULL, 0) < 0 ||
	    agent_recv(&dec, &h2, 1000) != 1 || h2.magic != h->magic ||
	    h2.type != h->type || h2.flags != 0 || h2.req_id != h->req_id ||
	    h2.len != h->len || memcmp(dec.buf, p, h->len))
		abort();
	close(sv[1]);
	agent_close(&dec);
}

/* ---- host side ---------------------------------------------------------- */

static void host_frames(const uint8_t *data, size_t n)
{
	int w, fd = feed(data, n, &w);
	struct agent_conn c = { .fd = fd };
	struct agent_hdr h;
	size_t off = 0;

	for (;;) {
		size_t cap0 = c.cap;
		int r = agent_recv(&c, &h, 1000);
		if (r <= 0) {
			/* Refused for its header: nothing was allocated. */
			if (r < 0 && off + sizeof(h) <= n && !hdr_ok(&h) &&
			    c.cap != cap0)
				abort();
			break;
		}
		if (!hdr_ok(&h) || off + sizeof(h) + h.len > n ||
		    memcmp(&h, data + off, sizeof(h)) ||
		    memcmp(c.buf, data + off + sizeof(h), h.len) ||
		    c.buf[h.len] != 0)
			abort();
		off += sizeof(h) + h.len;
		if (h.type == AGENT_MSG_ERROR)
			check_error(&c, &h);
		reencode(&h, c.buf);
	}
	close(w);
	agent_close(&c);
}

/* The request clients, answered by data as if it came from the guest. */
static void host_client(const uint8_t *data, size_t n, uint8_t sel)
{
	int w, fd = feed(data, n, &w), null = open("/dev/null", O_WRONLY);
	struct agent_conn c = { .fd = fd };

	if ((sel & 3) == 1) {
		const char *argv[] = { "sh", "-c", "true", NULL };
		struct agent_exec_req r = { .argv = argv, .stdin_fd = -1,
					    .stdout_fd = null,
					    .stderr_fd = null };
		struct agent_exec_res res;
		agent_exec(&c, &r, &res);
		if (memchr(res.errmsg, 0, sizeof(res.errmsg)) == NULL)
			abort();
	} else if (sel & 4) {
		const char *allow[] = { "sh", NULL };
		struct agent_policy_req p = { .allow = allow };
		agent_set_policy(&c, &p);
	} else {
		agent_get(&c, "/workspace/f", null);
	}
	/* Every failure leaves a NUL-terminated reason behind. */
	if (memchr(c.err, 0, sizeof(c.err)) == NULL)
		abort();
	close(null);
	close(w);
	agent_close(&c);
}

/* ---- guest side --------------------------------------------------------- */

/* POWEROFF ends PID 1; the harness cannot survive that, so such frames
 * become type 0 (still exercising the bad-type path). The walk mirrors
 * the framing only far enough to find headers. */
static void drop_poweroff(uint8_t *s, size_t n)
{
	struct agent_hdr h;

	for (size_t off = 0; off + sizeof(h) <= n;) {
		memcpy(&h, s + off, sizeof(h));
		if (h.type == AGENT_MSG_POWEROFF) {
			h.type = 0;
			memcpy(s + off, &h, sizeof(h));
		}
		if (h.len > n - off - sizeof(h))
			break;
		off += sizeof(h) + h.len;
	}
}

static void guest(const uint8_t *data, size_t n, uint8_t sel)
{
	struct agent_hello hello = { .abi_version = AGENT_ABI_VERSION };
	struct agent_hdr hh = { .magic = AGENT_MAGIC, .type = AGENT_MSG_HELLO,
				.req_id = 0, .len = sizeof(hello) };
	size_t pre = (sel & 4) ? sizeof(hh) + sizeof(hello) : 0;
	uint8_t *in = malloc(pre + n), *out = malloc(OUT_MAX);
	size_t outlen = 0;
	int sv[2];

	memcpy(hello.secret, secret, sizeof(secret));
	if (pre) {
		memcpy(in, &hh, sizeof(hh));
		memcpy(in + sizeof(hh), &hello, sizeof(hello));
	}
	if (n)
		memcpy(in + pre, data, n);
	drop_poweroff(in, pre + n);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (conn_new(sv[0]) < 0)
		abort();
	conn_watch = last_watch;
	conn_closed = 0;
	if (write(sv[1], in, pre + n) != (ssize_t)(pre + n))
		abort();
	shutdown(sv[1], SHUT_WR);

	/* The event loop, by hand: the connection closes at EOF at the
	 * latest, so not closing within the bound is a hang. */
	unsigned spins = 0;
	while (!conn_closed) {
		if (++spins > 100000)
			abort();
		conn_watch->fn(conn_watch, EPOLLIN | EPOLLOUT);
		conn_before_sleep();
		ssize_t k = read(sv[1], out + outlen, OUT_MAX - outlen);
		if (k > 0)
			outlen += (size_t)k;
	}
	ssize_t k;
	while (outlen < OUT_MAX &&
	       (k = read(sv[1], out + outlen, OUT_MAX - outlen)) > 0)
		outlen += (size_t)k;
	for (unsigned i = 0; i < ndeferred; i++)
		deferred[i].fn(deferred[i].p);
	ndeferred = 0;
	close(sv[1]);

	/* What the guest said must be frames the host accepts; only the
	 * last may be cut short by the close. */
	int w, fd = feed(out, outlen, &w);
	struct agent_conn c = { .fd = fd };
	struct agent_hdr h;
	int r;
	while ((r = agent_recv(&c, &h, 1000)) == 1)
		if (h.type == AGENT_MSG_ERROR)
			check_error(&c, &h);
	if (r < 0 && strcmp(c.err, "agent closed mid-frame"))
		abort();
	close(w);
	agent_close(&c);
	free(in);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!agent.have_secret) {
		agent.have_secret = 1;
		memcpy(agent.secret, secret, sizeof(secret));
	}
	if (size < 1 || size > IN_MAX)
		return 0;
	uint8_t sel = data[0];
	data++;
	size--;
	switch (sel & 3) {
	case 0:
		host_frames(data, size);
		break;
	case 1:
	case 2:
		host_client(data, size, sel);
		break;
	default:
		guest(data, size, sel);
		break;
	}
	return 0;
}
