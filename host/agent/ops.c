/* ops.c: the requests the orchestrator makes of the guest agent. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "../util/util.h"

/* Pack NULL-terminated string lists into buf; returns bytes or -1. */
static long pack(uint8_t *buf, size_t cap, size_t at,
		 const char *const *list, uint32_t *count)
{
	*count = 0;
	for (; list && *list; list++) {
		size_t l = strlen(*list) + 1;
		if (at + l > cap || *count >= AGENT_MAX_ARGS)
			return -1;
		memcpy(buf + at, *list, l);
		at += l;
		(*count)++;
	}
	return (long)at;
}

/* An ERROR frame in c->buf becomes c->err and errno; returns -1. */
static int fail_from_error(struct agent_conn *c, const struct agent_hdr *h)
{
	char msg[200];
	int e = agent_error_of(c, h, msg, sizeof(msg));

	agent_fail(c, e, "%s%s%s", msg, msg[0] ? ": " : "", strerror(e));
	errno = e;
	return -1;
}

/* Read the next frame of request req (frames of older requests are
 * skipped); 1 with *h filled, -1 on EOF/error with c->err set. */
static int recv_for(struct agent_conn *c, uint32_t req, struct agent_hdr *h)
{
	for (;;) {
		int r = agent_recv(c, h, 0);
		if (r <= 0) {
			if (r == 0)
				agent_fail(c, ECONNRESET,
					   "agent closed the connection");
			return -1;
		}
		if (h->req_id == req)
			return 1;
	}
}

/* Wait for the terminal reply (OK or ERROR) to req; 0 on OK. */
static int wait_ok(struct agent_conn *c, uint32_t req, void *out,
		   size_t outlen)
{
	struct agent_hdr h;

	while (recv_for(c, req, &h) > 0) {
		if (h.type == AGENT_MSG_OK) {
			if (out)
				memcpy(out, c->buf,
				       h.len < outlen ? h.len : outlen);
			return 0;
		}
		if (h.type == AGENT_MSG_ERROR)
			return fail_from_error(c, &h);
	}
	return -1;
}

int agent_set_policy(struct agent_conn *c, const struct agent_policy_req *p)
{
	/* Buffers are per call, never static: several threads may each
	 * drive their own connection (concurrent execs on one VM). */
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	struct agent_policy pol = { .nofile = p->nofile, .nproc = p->nproc,
				    .fsize = p->fsize };
	long n = buf ? pack(buf, AGENT_FRAME_MAX, 0, p->allow,
			    &pol.allow_count) : -1;
	int rc = -1;

	if (n < 0) {
		agent_fail(c, E2BIG, "allowlist too long");
		goto out;
	}
	uint32_t req = agent_new_req(c);
	if (agent_send(c, AGENT_MSG_POLICY, req, &pol, sizeof(pol), buf,
		       (size_t)n) == 0)
		rc = wait_ok(c, req, NULL, 0);
out:
	free(buf);
	return rc;
}

static int exec_stream(struct agent_conn *c, const struct agent_exec_req *r,
		       uint32_t attach_id, struct agent_exec_res *res,
		       uint8_t *buf, uint8_t *pend);

static int exec_or_attach(struct agent_conn *c, uint32_t attach_id,
			  const struct agent_exec_req *r,
			  struct agent_exec_res *res)
{
	uint8_t *buf = malloc(AGENT_FRAME_MAX);
	uint8_t *pend = malloc(sizeof(struct agent_hdr) + AGENT_CHUNK);
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (buf && pend)
		rc = exec_stream(c, r, attach_id, res, buf, pend);
	else
		agent_fail(c, ENOMEM, "out of memory");
	free(buf);
	free(pend);
	return rc;
}

int agent_exec(struct agent_conn *c, const struct agent_exec_req *r,
	       struct agent_exec_res *res)
{
	return exec_or_attach(c, 0, r, res);
}

int agent_exec_attach(struct agent_conn *c, uint32_t park_id,
		      const struct agent_exec_req *r,
		      struct agent_exec_res *res)
{
	if (!park_id)
		return agent_fail(c, EINVAL, "no park id to attach to");
	return exec_or_attach(c, park_id, r, res);
}

/* The EXEC (or ATTACH) frame that starts the stream. */
static int exec_begin(struct agent_conn *c, const struct agent_exec_req *r,
		      uint32_t attach_id, uint32_t req, uint8_t *buf)
{
	if (attach_id) {
		struct agent_attach a = { .park_id = attach_id,
					  .timeout_ms = r->timeout_ms };
		struct agent_winsize ws = { 0 };
		if (agent_send(c, AGENT_MSG_ATTACH, req, &a, sizeof(a), NULL,
			       0) < 0)
			return -1;
		/* Our terminal may not be the size it had when the process
		 * started (or was last attached). */
		if (!r->tty || !term_size(r->term_fd, &ws.rows, &ws.cols))
			return 0;
		return agent_send(c, AGENT_MSG_RESIZE, req, &ws, sizeof(ws),
				  NULL, 0);
	}
	struct agent_exec ex = {
		.flags = (r->stdin_fd >= 0 ? AGENT_EXEC_STDIN : 0) |
			 (r->root ? AGENT_EXEC_ROOT : 0) |
			 (r->park ? AGENT_EXEC_PARK : 0) |
			 (r->tty ? AGENT_EXEC_TTY : 0),
		.uid = r->uid, .gid = r->gid, .timeout_ms = r->timeout_ms,
	};
	if (r->tty)
		term_size(r->term_fd, &ex.rows, &ex.cols);
	const char *cwd[] = { r->cwd ? r->cwd : "", NULL };
	uint32_t ncwd;
	long n = pack(buf, AGENT_FRAME_MAX, 0, r->argv, &ex.argc);
	if (n >= 0)
		n = pack(buf, AGENT_FRAME_MAX, (size_t)n, r->envv, &ex.envc);
	if (n >= 0)
		n = pack(buf, AGENT_FRAME_MAX, (size_t)n, cwd, &ncwd);
	if (n < 0 || !ex.argc)
		return agent_fail(c, E2BIG, "command line too long");
	return agent_send(c, AGENT_MSG_EXEC, req, &ex, sizeof(ex), buf,
			  (size_t)n);
}

/* Input bytes past the detach sequence's matcher: those that are the
 * command's go to out (at most n + strlen(seq) bytes: a partial match
 * that fails is given back). Returns the bytes for out, or -1 when the
 * whole sequence was typed (what preceded it is in out, *outn bytes). */
static long detach_scan(const char *seq, size_t *m, const uint8_t *in,
			size_t n, uint8_t *out, size_t *outn)
{
	size_t o = 0, sl = seq ? strlen(seq) : 0;

	for (size_t i = 0; i < n; i++) {
		if (sl && in[i] == (uint8_t)seq[*m]) {
			if (++*m == sl) {
				*outn = o;
				return -1;
			}
			continue;
		}
		memcpy(out + o, seq, *m);	/* not the sequence after all */
		o += *m;
		*m = 0;
		if (sl && in[i] == (uint8_t)seq[0])
			*m = 1;
		else
			out[o++] = in[i];
	}
	return (long)o;
}

/* The next frame for the guest into pend (which is empty): a RESIZE
 * when the terminal changed, else what the user typed (STDIN; len 0 at
 * EOF). Returns the frame's length, 0 for none, -1 when the detach
 * sequence ended the session. */
static long next_input(const struct agent_exec_req *r, uint32_t req,
		       struct pollfd *pin, struct pollfd *pwinch,
		       bool *in_eof_sent, size_t *dm, uint8_t *pend)
{
	struct agent_hdr sh = { .magic = AGENT_MAGIC, .req_id = req };
	uint8_t *data = pend + sizeof(sh);

	if (pwinch->revents) {
		char drain[64];
		while (read(r->winch_fd, drain, sizeof(drain)) > 0)
			;
		struct agent_winsize ws = { 0 };
		if (!term_size(r->term_fd, &ws.rows, &ws.cols))
			return 0;
		sh.type = AGENT_MSG_RESIZE;
		sh.len = sizeof(ws);
		memcpy(pend, &sh, sizeof(sh));
		memcpy(data, &ws, sizeof(ws));
		return (long)(sizeof(sh) + sizeof(ws));
	}
	if (!pin->revents)
		return 0;
	uint8_t raw[AGENT_CHUNK / 2];
	ssize_t k = read(r->stdin_fd, raw, sizeof(raw));
	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	size_t n = 0;
	if (k <= 0) {
		*in_eof_sent = true;	/* EOF (or error): close stdin */
	} else {
		size_t o = 0;
		long got = detach_scan(r->detach, dm, raw, (size_t)k, data, &o);
		if (got < 0) {
			if (!o)
				return -1;
			n = o;		/* what came before it, then stop */
			*in_eof_sent = true;
			*dm = SIZE_MAX;
		} else {
			n = (size_t)got;
			if (!n)
				return 0;	/* all held: a partial match */
		}
	}
	sh.type = AGENT_MSG_STDIN;
	sh.len = (uint32_t)n;
	memcpy(pend, &sh, sizeof(sh));
	return (long)(sizeof(sh) + n);
}

static int exec_stream(struct agent_conn *c, const struct agent_exec_req *r,
		       uint32_t attach_id, struct agent_exec_res *res,
		       uint8_t *buf, uint8_t *pend)
{
	uint32_t req = agent_new_req(c);
	if (exec_begin(c, r, attach_id, req, buf) < 0)
		return -1;
	bool parking = r->park && !attach_id;

	/* Stdin is written without blocking: the guest may be unable to
	 * take more input until we drain its output (a `cat` of a large
	 * file), so we never sit in write() while output is waiting. */
	size_t pend_len = 0, pend_off = 0, dm = 0;
	int in_fd = r->stdin_fd;
	bool in_eof_sent = in_fd < 0;
	int winch = r->tty ? r->winch_fd : -1;
	for (;;) {
		if (dm == SIZE_MAX && pend_off == pend_len) {
			res->detached = true;	/* typed before it: sent */
			return 0;
		}
		bool idle = pend_off == pend_len;
		struct pollfd p[3] = {
			{ .fd = c->fd, .events = POLLIN |
				(pend_off < pend_len ? POLLOUT : 0) },
			{ .fd = idle && !in_eof_sent ? in_fd : -1,
			  .events = POLLIN },
			{ .fd = idle ? winch : -1, .events = POLLIN },
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			agent_fail(c, errno, "poll: %s", strerror(errno));
			return -1;
		}
		if (idle && (p[1].revents || p[2].revents)) {
			long fl = next_input(r, req, &p[1], &p[2],
					     &in_eof_sent, &dm, pend);
			if (fl < 0) {
				res->detached = true;
				return 0;
			}
			pend_len = (size_t)fl;
			pend_off = 0;
		}
		if (p[0].revents & POLLOUT && pend_off < pend_len) {
			ssize_t w = write(c->fd, pend + pend_off,
					  pend_len - pend_off);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				agent_fail(c, errno, "connection to the agent "
					   "lost: %s", strerror(errno));
				return -1;
			}
			if (w > 0)
				pend_off += (size_t)w;
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		struct agent_hdr h;
		int rr = agent_recv(c, &h, 0);
		if (rr <= 0) {
			if (rr == 0)
				agent_fail(c, ECONNRESET, "agent connection "
					   "closed during exec");
			return -1;
		}
		if (h.req_id != req)
			continue;
		switch (h.type) {
		case AGENT_MSG_STARTED:
			if (!parking)
				break;
			if (h.len != sizeof(struct agent_started)) {
				agent_fail(c, EPROTO, "malformed STARTED");
				return -1;
			}
			struct agent_started st;
			memcpy(&st, c->buf, sizeof(st));
			if (!st.reserved) {
				agent_fail(c, EPROTO, "parked without an id");
				return -1;
			}
			res->park_id = st.reserved;
			return 0;
		case AGENT_MSG_STDOUT:
		case AGENT_MSG_STDERR: {
			bool out = h.type == AGENT_MSG_STDOUT;
			int fd = out ? r->stdout_fd : r->stderr_fd;
			if (fd >= 0 && agent_write_all(fd, c->buf, h.len) < 0)
				fd = -1;	/* reader gone: keep draining */
			*(out ? &res->stdout_bytes : &res->stderr_bytes) +=
				h.len;
			break;
		}
		case AGENT_MSG_EXIT:
			if (h.len != sizeof(res->exit)) {
				agent_fail(c, EPROTO, "malformed EXIT frame");
				return -1;
			}
			memcpy(&res->exit, c->buf, sizeof(res->exit));
			return 0;
		case AGENT_MSG_ERROR:
			res->err = agent_error_of(c, &h, res->errmsg,
						  sizeof(res->errmsg));
			return 0;
		default:
			break;
		}
	}
}

int agent_put(struct agent_conn *c, int fd, const char *path, uint32_t mode)
{
	uint8_t buf[AGENT_CHUNK];	/* 64 KiB: fine on a thread stack */
	struct agent_file f = { .flags = AGENT_FILE_MKPARENTS, .mode = mode,
				.path_len = (uint32_t)strlen(path) + 1 };
	uint32_t req = agent_new_req(c);

	if (f.path_len > AGENT_PATH_MAX) {
		return agent_fail(c, ENAMETOOLONG, "path too long");
	}
	if (agent_send(c, AGENT_MSG_FILE_PUT, req, &f, sizeof(f), path,
		       f.path_len) < 0)
		return -1;
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			agent_fail(c, errno, "reading local file: %s",
				   strerror(errno));
			k = 0;	/* still end the request cleanly */
		}
		if (agent_send(c, AGENT_MSG_FILE_DATA, req, buf, (size_t)k,
			       NULL, 0) < 0)
			return -1;
		if (k == 0)
			break;
	}
	return wait_ok(c, req, NULL, 0);
}

int agent_get(struct agent_conn *c, const char *path, int fd)
{
	struct agent_file f = { .path_len = (uint32_t)strlen(path) + 1 };
	uint32_t req = agent_new_req(c);
	struct agent_hdr h;

	if (f.path_len > AGENT_PATH_MAX) {
		return agent_fail(c, ENAMETOOLONG, "path too long");
	}
	if (agent_send(c, AGENT_MSG_FILE_GET, req, &f, sizeof(f), path,
		       f.path_len) < 0)
		return -1;
	while (recv_for(c, req, &h) > 0) {
		if (h.type == AGENT_MSG_FILE_DATA) {
			if (agent_write_all(fd, c->buf, h.len) < 0) {
				return agent_fail(c, errno, "writing local "
						  "file: %s", strerror(errno));
			}
		} else if (h.type == AGENT_MSG_FILE_END) {
			return 0;
		} else if (h.type == AGENT_MSG_ERROR) {
			return fail_from_error(c, &h);
		}
	}
	return -1;
}

void agent_poweroff(struct agent_conn *c)
{
	agent_send(c, AGENT_MSG_POWEROFF, agent_new_req(c), NULL, 0, NULL, 0);
}
