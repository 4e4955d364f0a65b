/* conn.c: one host connection: framing, authentication and dispatch.
 *
 * Primer (proto/agent_abi.h has the wire format):
 *
 *  - Input. Bytes are read into c->in and cut into frames. The 16-byte
 *    header is checked (magic, type, len <= AGENT_FRAME_MAX) before room
 *    for its payload is made, so a bad length never allocates. Before
 *    authentication the only acceptable frame is a HELLO of exactly its
 *    size, which bounds what an unauthenticated peer can make us buffer.
 *    The first frame must be a HELLO with our ABI version and the secret
 *    (compared in constant time); anything else gets ERROR and a close.
 *    A frame that breaks the protocol closes this connection only.
 *
 *  - Output. Frames are only ever queued in c->out and written from this
 *    connection's own handler, so handlers in exec.c and files.c are never
 *    re-entered by a write error. c->out is bounded softly by CONN_OUT_MAX:
 *    stream producers ask conn_out_room() first and stop when it says no
 *    (the child pipe is taken out of epoll, and the child blocks in write);
 *    they are resumed once the queue drains below half. Nothing is dropped.
 *
 *  - Pausing input. While c->out is full, or an exec's stdin buffer is
 *    full, no more requests are read: the host's writes then block in the
 *    transport, which is the only flow control the protocol has. Frames
 *    already buffered are processed before the loop sleeps once the pause
 *    ends (conn_before_sleep), since no new epoll event may come for them.
 *    A peer that hangs up while we are not reading is noticed when reading
 *    resumes.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

/* Read at least this much per wakeup: one full stream chunk plus header. */
#define CONN_READ_MIN (AGENT_CHUNK + sizeof(struct agent_hdr))

struct conn {
	struct ev_watch w;
	struct conn *next;
	int authed;
	int dead;		/* closed; memory freed after the batch */
	int doomed;		/* out of memory: close from conn_io */
	int kick;		/* complete frames wait for processing */
	int want_room;		/* a producer waits for output room */
	unsigned stdin_blocked;	/* execs whose stdin buffer is full */
	struct buf in, out;
};

static struct conn *conns;

static const char *const msg_names[AGENT_MSG_MAX] = {
	[AGENT_MSG_HELLO] = "HELLO",
	[AGENT_MSG_HELLO_OK] = "HELLO_OK",
	[AGENT_MSG_OK] = "OK",
	[AGENT_MSG_ERROR] = "ERROR",
	[AGENT_MSG_POLICY] = "POLICY",
	[AGENT_MSG_POWEROFF] = "POWEROFF",
	[AGENT_MSG_EXEC] = "EXEC",
	[AGENT_MSG_STARTED] = "STARTED",
	[AGENT_MSG_STDIN] = "STDIN",
	[AGENT_MSG_STDOUT] = "STDOUT",
	[AGENT_MSG_STDERR] = "STDERR",
	[AGENT_MSG_SIGNAL] = "SIGNAL",
	[AGENT_MSG_EXIT] = "EXIT",
	[AGENT_MSG_FILE_PUT] = "FILE_PUT",
	[AGENT_MSG_FILE_DATA] = "FILE_DATA",
	[AGENT_MSG_FILE_GET] = "FILE_GET",
	[AGENT_MSG_FILE_END] = "FILE_END",
	[AGENT_MSG_MKDIR] = "MKDIR",
	[AGENT_MSG_RESUME] = "RESUME",
	[AGENT_MSG_ATTACH] = "ATTACH",
	[AGENT_MSG_RESIZE] = "RESIZE",
	[AGENT_MSG_STAT] = "STAT",
	[AGENT_MSG_TELEMETRY_SUB] = "TELEMETRY_SUB",
	[AGENT_MSG_TELEMETRY] = "TELEMETRY",
};

static const char *msg_name(unsigned type)
{
	if (type < AGENT_MSG_MAX && msg_names[type])
		return msg_names[type];
	return "unknown";
}

static int conn_wants_in(const struct conn *c)
{
	return !c->dead && !c->doomed && c->out.len < CONN_OUT_MAX &&
	       !c->stdin_blocked;
}

/* A whole frame is buffered. Only meaningful after check_hdr passed on
 * it, which conn_process did before leaving it in the buffer. */
static int frame_ready(const struct conn *c)
{
	struct agent_hdr h;

	if (c->in.len < sizeof(h))
		return 0;
	memcpy(&h, buf_data(&c->in), sizeof(h));
	return c->in.len - sizeof(h) >= h.len;
}

static void conn_update(struct conn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (conn_wants_in(c)) {
		ev |= EPOLLIN;
		if (frame_ready(c))
			c->kick = 1;
	}
	if (c->out.len || c->doomed)
		ev |= EPOLLOUT;
	ev_set(&c->w, ev);
}

static void conn_free(void *p)
{
	struct conn *c = p;

	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	exec_conn_closed(c);
	files_conn_closed(c);
	telemetry_conn_closed(c);
	ev_close(&c->w);
	for (struct conn **pp = &conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ev_defer(conn_free, c);
}

static int conn_flush(struct conn *c)
{
	while (c->out.len) {
		ssize_t n = send(c->w.fd, buf_data(&c->out), c->out.len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		buf_consume(&c->out, (size_t)n);
	}
	/* Resume at half, not just below the cap, so producers run in
	 * bursts instead of one chunk per wakeup. */
	if (c->want_room && c->out.len < CONN_OUT_MAX / 2) {
		c->want_room = 0;
		exec_resume(c);
		files_pump(c);
	}
	return 0;
}

/* Tell the peer why, make one attempt to deliver that, and close. */
static void conn_fail(struct conn *c, uint32_t id, int err, const char *msg)
{
	agent_warn("closing connection: %s", msg);
	conn_send_error(c, id, err, "%s", msg);
	c->doomed = 1;	/* stops producers; conn_send refuses from now */
	conn_flush(c);
	conn_close(c);
}

int conn_send(struct conn *c, uint16_t type, uint32_t id, const void *a,
	      size_t alen, const void *b, size_t blen)
{
	struct agent_hdr h = {
		.magic = AGENT_MAGIC,
		.type = type,
		.flags = 0,
		.req_id = id,
		.len = (uint32_t)(alen + blen),
	};

	if (c->dead || c->doomed)
		return -EPIPE;
	if (buf_reserve(&c->out, sizeof(h) + alen + blen) < 0) {
		c->doomed = 1;
		conn_update(c);
		return -ENOMEM;
	}
	uint8_t *p = buf_end(&c->out);
	memcpy(p, &h, sizeof(h));
	if (alen)
		memcpy(p + sizeof(h), a, alen);
	if (blen)
		memcpy(p + sizeof(h) + alen, b, blen);
	c->out.len += sizeof(h) + alen + blen;
	conn_update(c);
	return 0;
}

int conn_send_error(struct conn *c, uint32_t id, int err, const char *fmt,
		    ...)
{
	struct agent_error e = { .err = err, .reserved = 0 };
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;	/* truncated message is fine */
	return conn_send(c, AGENT_MSG_ERROR, id, &e, sizeof(e), msg,
			 (size_t)n);
}

int conn_send_ok(struct conn *c, uint32_t id, const void *p, size_t len)
{
	return conn_send(c, AGENT_MSG_OK, id, p, len, NULL, 0);
}

int conn_out_room(struct conn *c)
{
	if (!c->dead && !c->doomed && c->out.len < CONN_OUT_MAX)
		return 1;
	c->want_room = 1;
	return 0;
}

uint8_t *conn_frame_begin(struct conn *c, size_t max)
{
	if (c->dead || c->doomed)
		return NULL;
	if (buf_reserve(&c->out, sizeof(struct agent_hdr) + max) < 0) {
		c->doomed = 1;
		conn_update(c);
		return NULL;
	}
	return buf_end(&c->out) + sizeof(struct agent_hdr);
}

void conn_frame_end(struct conn *c, uint16_t type, uint32_t id, size_t n)
{
	struct agent_hdr h = {
		.magic = AGENT_MAGIC,
		.type = type,
		.flags = 0,
		.req_id = id,
		.len = (uint32_t)n,
	};

	if (!n || c->dead || c->doomed)
		return;
	memcpy(buf_end(&c->out), &h, sizeof(h));
	c->out.len += sizeof(h) + n;
	conn_update(c);
}

int conn_hung_up(struct conn *c)
{
	struct pollfd p = { .fd = c->w.fd, .events = POLLIN | POLLRDHUP };

	if (c->dead || c->w.fd < 0)
		return 1;
	if (poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))) {
		conn_close(c);
		return 1;
	}
	return 0;
}

void conn_stdin_block(struct conn *c, int delta)
{
	c->stdin_blocked += (unsigned)delta;
	conn_update(c);
}

/* Constant time: the loop never exits early on the first mismatch. */
static int secret_eq(const uint8_t *a, const uint8_t *b)
{
	volatile uint8_t acc = 0;

	for (size_t i = 0; i < AGENT_SECRET_LEN; i++)
		acc |= a[i] ^ b[i];
	return acc == 0;
}

static void conn_hello(struct conn *c, const struct agent_hdr *h,
		       const uint8_t *p)
{
	struct agent_hello hello;
	char msg[128];

	memcpy(&hello, p, sizeof(hello));
	if (hello.abi_version != AGENT_ABI_VERSION) {
		snprintf(msg, sizeof(msg), "abi %u not supported (agent: %u)",
			 hello.abi_version, AGENT_ABI_VERSION);
		conn_fail(c, h->req_id, EPROTONOSUPPORT, msg);
		return;
	}
	if (!agent.have_secret) {
		conn_fail(c, h->req_id, EACCES,
			  "no vb.secret on the command line; refusing");
		return;
	}
	if (!secret_eq(hello.secret, agent.secret)) {
		conn_fail(c, h->req_id, EACCES, "authentication failed");
		return;
	}
	c->authed = 1;
	struct agent_hello_ok ok = {
		.abi_version = AGENT_ABI_VERSION,
		.pid = (uint32_t)getpid(),
		.boot_ns = agent.ready_ns,
	};
	conn_send(c, AGENT_MSG_HELLO_OK, h->req_id, &ok, sizeof(ok), NULL, 0);
}

/* Header checks, before anything is allocated for the payload. */
static int check_hdr(const struct conn *c, const struct agent_hdr *h,
		     char *msg, size_t len)
{
	if (h->magic != AGENT_MAGIC)
		snprintf(msg, len, "bad frame magic 0x%08x", h->magic);
	else if (h->type == 0 || h->type >= AGENT_MSG_MAX)
		snprintf(msg, len, "bad frame type %u", h->type);
	else if (h->len > AGENT_FRAME_MAX)
		snprintf(msg, len, "frame length %u over %u", h->len,
			 AGENT_FRAME_MAX);
	else if (!c->authed && h->type != AGENT_MSG_HELLO)
		snprintf(msg, len, "%s before HELLO", msg_name(h->type));
	else if (!c->authed && h->len != sizeof(struct agent_hello))
		snprintf(msg, len, "HELLO of %u bytes", h->len);
	else
		return 0;
	return -1;
}

static int is_request(unsigned type)
{
	switch (type) {
	case AGENT_MSG_POLICY:
	case AGENT_MSG_EXEC:
	case AGENT_MSG_FILE_PUT:
	case AGENT_MSG_FILE_GET:
	case AGENT_MSG_MKDIR:
	case AGENT_MSG_STAT:
	case AGENT_MSG_TELEMETRY_SUB:
	case AGENT_MSG_RESUME:
	case AGENT_MSG_ATTACH:
		return 1;
	}
	return 0;
}

/* Returns 0, or -errno when the frame breaks the protocol. */
static int dispatch(struct conn *c, const struct agent_hdr *h,
		    const uint8_t *p)
{
	if (is_request(h->type) && h->req_id == 0) {
		conn_send_error(c, 0, EINVAL, "%s with req_id 0",
				msg_name(h->type));
		return 0;
	}
	switch (h->type) {
	case AGENT_MSG_POLICY:
		return policy_handle(c, h, p);
	case AGENT_MSG_POWEROFF:
		agent_log("power-off requested by the host");
		agent_shutdown();
	case AGENT_MSG_EXEC:
		return exec_handle(c, h, p);
	case AGENT_MSG_STDIN:
		return exec_stdin(c, h, p);
	case AGENT_MSG_SIGNAL:
		return exec_signal(c, h, p);
	case AGENT_MSG_RESIZE:
		return exec_resize(c, h, p);
	case AGENT_MSG_FILE_PUT:
	case AGENT_MSG_FILE_DATA:
	case AGENT_MSG_FILE_GET:
	case AGENT_MSG_MKDIR:
	case AGENT_MSG_STAT:
		return files_handle(c, h, p);
	case AGENT_MSG_TELEMETRY_SUB:
		return telemetry_handle(c, h, p);
	case AGENT_MSG_RESUME:
		return resume_handle(c, h, p);
	case AGENT_MSG_ATTACH:
		return exec_attach(c, h, p);
	}
	/* A second HELLO, or a guest-to-host type. */
	return -EPROTO;
}

static void conn_process(struct conn *c)
{
	char msg[128];

	while (conn_wants_in(c) && c->in.len >= sizeof(struct agent_hdr)) {
		struct agent_hdr h;

		memcpy(&h, buf_data(&c->in), sizeof(h));
		if (check_hdr(c, &h, msg, sizeof(msg)) < 0) {
			conn_fail(c, h.req_id, EPROTO, msg);
			return;
		}
		size_t need = sizeof(h) + h.len;
		if (c->in.len < need) {
			/* Header is sane: now make room for its payload. */
			if (buf_reserve(&c->in, need - c->in.len) < 0)
				conn_fail(c, h.req_id, ENOMEM, "out of memory");
			return;
		}
		const uint8_t *p = buf_data(&c->in) + sizeof(h);
		int err = 0;
		if (c->authed)
			err = dispatch(c, &h, p);
		else
			conn_hello(c, &h, p);
		if (c->dead)
			return;
		buf_consume(&c->in, need);
		if (err < 0) {
			snprintf(msg, sizeof(msg), "malformed or unexpected "
				 "%s frame", msg_name(h.type));
			conn_fail(c, h.req_id, -err, msg);
			return;
		}
	}
}

static void conn_read(struct conn *c)
{
	if (buf_reserve(&c->in, CONN_READ_MIN) < 0) {
		conn_fail(c, 0, ENOMEM, "out of memory");
		return;
	}
	ssize_t n = read(c->w.fd, buf_end(&c->in), buf_room(&c->in));
	if (n == 0) {
		conn_close(c);	/* the host went away: kill its execs */
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		agent_warn("connection read: %s", strerror(errno));
		conn_close(c);
		return;
	}
	c->in.len += (size_t)n;
	conn_process(c);
}

static void conn_io(struct ev_watch *w, uint32_t re)
{
	struct conn *c = container_of(w, struct conn, w);

	if (c->doomed) {
		conn_close(c);
		return;
	}
	if (c->out.len && (re & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		if (conn_flush(c) < 0) {
			conn_close(c);
			return;
		}
	}
	if ((re & (EPOLLIN | EPOLLERR | EPOLLHUP)) && conn_wants_in(c))
		conn_read(c);
	if (!c->dead)
		conn_update(c);
}

int conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	ev_watch_init(&c->w, fd, conn_io);
	int err = ev_set(&c->w, EPOLLIN);
	if (err < 0) {
		ev_close(&c->w);
		free(c);
		return err;
	}
	c->next = conns;
	conns = c;
	return 0;
}

void conn_before_sleep(void)
{
	struct conn *next;

	for (struct conn *c = conns; c; c = next) {
		next = c->next;	/* c may close while processing */
		if (!c->kick)
			continue;
		c->kick = 0;
		conn_process(c);
		if (!c->dead)
			conn_update(c);
	}
}
