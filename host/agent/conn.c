/* conn.c: framing and the authenticated connection to the guest agent. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "../box/box.h"

int agent_fail(struct agent_conn *c, int cause, const char *fmt, ...)
{
	va_list ap;

	c->cause = cause > 0 ? -cause : cause ? cause : -EIO;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* An I/O error on the connection: the cause it reports, or ECONNRESET
 * when errno says nothing useful. */
static int lost(int e)
{
	return e > 0 ? e : ECONNRESET;
}

int agent_write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len) {
		ssize_t n = write(fd, b, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };
				poll(&pf, 1, -1);
				continue;
			}
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int agent_send(struct agent_conn *c, uint16_t type, uint32_t req,
	       const void *a, size_t alen, const void *b, size_t blen)
{
	struct agent_hdr h = { .magic = AGENT_MAGIC, .type = type,
			       .req_id = req, .len = (uint32_t)(alen + blen) };

	if (alen + blen > AGENT_FRAME_MAX)
		return agent_fail(c, EMSGSIZE, "frame too large (%zu bytes)",
				  alen + blen);
	if (agent_write_all(c->fd, &h, sizeof(h)) < 0 ||
	    (alen && agent_write_all(c->fd, a, alen) < 0) ||
	    (blen && agent_write_all(c->fd, b, blen) < 0))
		return agent_fail(c, lost(errno), "connection to the agent "
				  "lost: %s", strerror(errno));
	return 0;
}

/* Read exactly len bytes, waiting until the absolute deadline (ms since
 * the call; 0 = forever). */
static int read_full(struct agent_conn *c, void *p, size_t len, int ms)
{
	uint8_t *b = p;

	while (len) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		int r = poll(&pf, 1, ms ? ms : -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return agent_fail(c, ETIMEDOUT, "agent timed out");
		ssize_t n = read(c->fd, b, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return agent_fail(c, lost(errno), "reading from the "
					  "agent: %s", strerror(errno));
		}
		if (n == 0)
			return 0;
		b += n;
		len -= (size_t)n;
	}
	return 1;
}

int agent_recv(struct agent_conn *c, struct agent_hdr *h, int timeout_ms)
{
	int r = read_full(c, h, sizeof(*h), timeout_ms);
	if (r <= 0)
		return r;
	if (h->magic != AGENT_MAGIC || h->type == 0 ||
	    h->type >= AGENT_MSG_MAX || h->len > AGENT_FRAME_MAX)
		return agent_fail(c, EPROTO, "malformed frame from the agent "
				  "(type %u, len %u)", h->type, h->len);
	if (h->len + 1 > c->cap) {
		uint8_t *nb = realloc(c->buf, h->len + 1);
		if (!nb)
			return agent_fail(c, ENOMEM, "out of memory");
		c->buf = nb;
		c->cap = h->len + 1;
	}
	if (h->len) {
		r = read_full(c, c->buf, h->len, timeout_ms);
		if (r <= 0)
			return r < 0 ? r : agent_fail(c, ECONNRESET,
						      "agent closed mid-frame");
	}
	c->buf[h->len] = 0;	/* convenience for text payloads */
	return 1;
}

uint32_t agent_new_req(struct agent_conn *c)
{
	if (++c->next_req == 0)
		c->next_req = 1;
	return c->next_req;
}

bool agent_conn_lost(const struct agent_conn *c)
{
	return c->cause == -ECONNRESET || c->cause == -EPIPE ||
	       c->cause == -ENOTCONN || c->cause == -ECONNABORTED;
}

int agent_error_of(struct agent_conn *c, const struct agent_hdr *h,
		   char *msg, size_t len)
{
	struct agent_error e = { .err = EPROTO };

	if (h->len >= sizeof(e))
		memcpy(&e, c->buf, sizeof(e));
	size_t ml = h->len > sizeof(e) ? h->len - sizeof(e) : 0;
	if (ml >= len)
		ml = len - 1;
	memcpy(msg, c->buf + sizeof(e), ml);
	msg[ml] = '\0';
	/* Only printable text from the guest reaches a terminal. */
	for (size_t i = 0; i < ml; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	return e.err > 0 && e.err < 4096 ? e.err : EPROTO;
}

int agent_open(struct agent_conn *c, struct box *b, unsigned timeout_ms)
{
	char err[256];
	struct agent_hdr h;

	*c = (struct agent_conn){ .fd = -1 };
	c->fd = box_connect(b, AGENT_VSOCK_PORT, timeout_ms, err, sizeof(err));
	if (c->fd < 0)
		return agent_fail(c, ECONNREFUSED, "%s", err);
	/* The fd stays non-blocking: every read and write here polls, so
	 * exec can interleave stdin and output without deadlock. */
	struct agent_hello hello = { .abi_version = AGENT_ABI_VERSION };
	memcpy(hello.secret, b->secret, sizeof(hello.secret));
	if (agent_send(c, AGENT_MSG_HELLO, 0, &hello, sizeof(hello), NULL,
		       0) < 0)
		return -1;
	int r = agent_recv(c, &h, (int)timeout_ms);
	if (r <= 0)
		return r < 0 ? -1 : agent_fail(c, ECONNRESET,
					       "agent closed the connection");
	if (h.type == AGENT_MSG_ERROR) {
		char msg[200];
		int e = agent_error_of(c, &h, msg, sizeof(msg));
		return agent_fail(c, e, "agent refused: %s (%s)", msg,
				  strerror(e));
	}
	struct agent_hello_ok ok;
	if (h.type != AGENT_MSG_HELLO_OK || h.len != sizeof(ok))
		return agent_fail(c, EPROTO, "unexpected reply to HELLO "
				  "(type %u)", h.type);
	memcpy(&ok, c->buf, sizeof(ok));
	if (ok.abi_version != AGENT_ABI_VERSION)
		return agent_fail(c, EPROTONOSUPPORT, "agent speaks ABI %u, "
				  "we speak %u", ok.abi_version,
				  AGENT_ABI_VERSION);
	return 0;
}

void agent_close(struct agent_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	free(c->buf);
	c->buf = NULL;
	c->cap = 0;
}
