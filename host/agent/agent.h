/* agent.h: table of contents of host/agent/ — the orchestrator's client
 * for the guest agent protocol (proto/agent_abi.h). Everything read from
 * the guest is untrusted: frames are checked before use, and a bad frame
 * fails the operation with a message (never a crash).
 */
#ifndef VOIDBOX_AGENT_H
#define VOIDBOX_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_abi.h"

struct box;

struct agent_conn {
	int fd;			/* -1 when closed */
	uint8_t *buf;		/* last frame's payload */
	size_t cap;
	uint32_t next_req;
	char err[256];		/* last error, for people */
	int cause;		/* last error, for code: -errno. -ETIMEDOUT
				 * no frame in time; -ECONNRESET, -EPIPE the
				 * connection broke or closed; -EPROTO a bad
				 * frame or reply; -ECONNREFUSED no
				 * connection; else what the call failed
				 * with (the guest's errno for a refusal) */
};

/* conn.c */
/* Record an error: c->cause = -cause (cause a positive errno; 0 is EIO),
 * c->err the message. Returns -1. */
int agent_fail(struct agent_conn *c, int cause, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Connect to the agent of a ready box and authenticate (HELLO). */
int agent_open(struct agent_conn *c, struct box *b, unsigned timeout_ms);
void agent_close(struct agent_conn *c);
/* Write one frame (blocking). 0 or -1 (c->err, c->cause set). */
int agent_send(struct agent_conn *c, uint16_t type, uint32_t req,
	       const void *a, size_t alen, const void *b, size_t blen);
/* Read one frame into c->buf within timeout_ms (0 = forever).
 * Returns 1, 0 on EOF, -1 on error/timeout (c->err, c->cause set:
 * -ETIMEDOUT for the timeout). */
int agent_recv(struct agent_conn *c, struct agent_hdr *h, int timeout_ms);
uint32_t agent_new_req(struct agent_conn *c);
/* The last error was the connection going away (the VM or its agent
 * gone), not a refusal, a timeout or a bad frame. */
bool agent_conn_lost(const struct agent_conn *c);
/* Write all of p to fd, waiting (poll) when it is non-blocking; 0 or -1
 * with errno. Used for the connection and for local output files. */
int agent_write_all(int fd, const void *p, size_t len);
/* For an ERROR frame in c->buf: errno value and message. */
int agent_error_of(struct agent_conn *c, const struct agent_hdr *h,
		   char *msg, size_t len);

/* ops.c */
struct agent_policy_req {
	const char *const *allow;	/* NULL-terminated, NULL = all */
	uint32_t nofile, nproc;
	uint64_t fsize;
};
int agent_set_policy(struct agent_conn *c, const struct agent_policy_req *p);

struct agent_exec_req {
	const char *const *argv;	/* NULL-terminated */
	const char *const *envv;	/* NULL-terminated "K=V", may be NULL */
	const char *cwd;		/* NULL: /workspace */
	bool root;
	uint32_t uid, gid;
	uint32_t timeout_ms;
	int stdin_fd;			/* -1: /dev/null in the guest */
	int stdout_fd, stderr_fd;	/* where output goes */
	bool park;			/* start it parked (AGENT_EXEC_PARK):
					   agent_exec returns at STARTED
					   with res->park_id */
	/* A terminal (AGENT_EXEC_TTY; for an attach, a parked terminal
	 * exec): the command runs on a guest pseudo-terminal of term_fd's
	 * size (24 x 80 when term_fd is no terminal), all its output on
	 * stdout_fd; each byte readable on winch_fd (-1: none) sends
	 * term_fd's new size. detach: input bytes that end the attachment
	 * (not the command: res->detached), NULL for none. */
	bool tty;
	int term_fd, winch_fd;
	const char *detach;
};

struct agent_exec_res {
	int err;			/* != 0: not started (errno) */
	char errmsg[256];
	struct agent_exit exit;		/* valid when err == 0 */
	uint64_t stdout_bytes, stderr_bytes;
	uint32_t park_id;		/* req->park: what ATTACH names */
	bool detached;			/* req->detach was typed: no EXIT */
};
/* Run a command and stream its output. 0 when an EXIT or a refusal
 * (res->err) arrived; -1 when the connection failed (c->err). */
int agent_exec(struct agent_conn *c, const struct agent_exec_req *r,
	       struct agent_exec_res *res);
/* Attach to a parked process (AGENT_MSG_ATTACH) and stream it as
 * agent_exec does: r's argv/envv/cwd/root/park are unused, timeout_ms
 * (0: the process's own) counts from now. Same returns. */
int agent_exec_attach(struct agent_conn *c, uint32_t park_id,
		      const struct agent_exec_req *r,
		      struct agent_exec_res *res);
/* pty.c: agent_exec (attach_id 0) or agent_exec_attach on a terminal
 * joined to ours: r's tty fields and fds are set here from stdin/stdout
 * (stdin raw while it runs when it is a terminal, always put back). */
int agent_exec_tty(struct agent_conn *c, uint32_t attach_id,
		   struct agent_exec_req *r, struct agent_exec_res *res);
/* Copy a local fd into a guest file / a guest file into a local fd. */
int agent_put(struct agent_conn *c, int fd, const char *path, uint32_t mode);
int agent_get(struct agent_conn *c, const char *path, int fd);
void agent_poweroff(struct agent_conn *c);

/* resume.c: a box restored from a snapshot (b->secret the snapshot's)
 * gets its own identity: a fresh secret (in b->secret on success), RNG
 * seed, the wall clock, hostname (NULL: keep), eth0 MAC (NULL: keep) and
 * the gateway relay's port (0: none or as booted). 0, or -1 with err. */
int agent_resume(struct box *b, const char *hostname, const uint8_t *mac,
		 uint16_t gw_port, unsigned timeout_ms, char *err,
		 size_t errlen);

/* attach.c: a held VM's agent for other local processes (kind: sandbox
 * holds it; `voidbox cp` attaches). The holder serves authenticated
 * connections on a private unix socket named after the VM. */
struct attach;
struct attach *attach_serve(struct box *b, const char *name, char *err,
			    size_t errlen);
/* Serve under base, or base-2 .. base-20 when a live holder has it
 * (several runs with the same box names): the name taken into name. */
struct attach *attach_serve_free(struct box *b, const char *base,
				 char *name, size_t namelen, char *err,
				 size_t errlen);
const char *attach_socket(const struct attach *a);
void attach_stop(struct attach *a);
/* Socket path for NAME ([A-Za-z0-9._-], <= 40); 0 or -1 with errno. */
int attach_path(const char *name, char *out, size_t len);
/* DIR/NAME<suffix> in that private runtime directory (created 0700, its
 * owner checked). 0, or -1 with errno (EINVAL: a bad name). */
int runtime_path(const char *name, const char *suffix, char *out,
		 size_t len);

/* usock.c: a holder's listening socket (mode 0600) served by one
 * thread: usock_accept returns each client's fd (CLOEXEC), or -1 once
 * another thread called usock_wake; usock_close removes it. */
struct usock {
	int lfd;
	int stop[2];
	char path[108];
};
int usock_open(struct usock *u, const char *path, char *err, size_t errlen);
int usock_accept(struct usock *u);
void usock_wake(struct usock *u);
void usock_close(struct usock *u);

/* holdctl.c: requests to a VM's holder that are not agent traffic
 * (`voidbox snapshot create --from SANDBOX`): one line "VERB ARG" in, one
 * line "ok TEXT" or "error TEXT" out, on DIR/NAME.ctl (mode 0600, same
 * directory as the attach socket). fn runs on the server's thread, one
 * request at a time; it fills reply and returns 0 (ok) or -1 (error). */
struct holdctl;
typedef int (*holdctl_fn)(void *ctx, const char *verb, const char *arg,
			  char *reply, size_t len);
struct holdctl *holdctl_serve(const char *name, holdctl_fn fn, void *ctx,
			      char *err, size_t errlen);
void holdctl_stop(struct holdctl *h);
/* Ask holder NAME: 0 with reply its ok text, or -1 with reply saying why
 * (its error text, or no such holder, or no answer in timeout_ms). */
int holdctl_call(const char *name, const char *verb, const char *arg,
		 unsigned timeout_ms, char *reply, size_t len);
/* Connect to the sandbox NAME: c is then an authenticated connection for
 * agent_put/agent_get/agent_exec. 0, or -1 with c->err. */
int agent_attach(struct agent_conn *c, const char *name);

#endif
