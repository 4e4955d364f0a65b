/* agent.h: the guest agent (PID 1) — table of contents of guest/agent/.
 *
 * The agent is the guest's init: it must never exit (PID 1 exiting panics
 * the kernel), so every function here reports failure by return value and
 * main() decides what is fatal enough to power off for.
 *
 * Shape: one single-threaded epoll loop (ev.c) serves the listener
 * (listen.c), connections speaking proto/agent_abi.h (conn.c), child pipes
 * and timers of running commands (exec.c, spawn.c), file transfers
 * (files.c, roots.c) and telemetry (telemetry.c). The same code runs as
 * PID 1 in the VM and, for development, as an ordinary process listening
 * on a unix socket ("test mode"); only the listener, the allowed-root
 * mapping and power-off differ.
 */
#ifndef VOIDBOX_GUEST_AGENT_H
#define VOIDBOX_GUEST_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "agent_abi.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Memory bounds. A connection's output buffer is a soft cap: producers
 * (child pipes, file reads) stop when it is reached and resume below half,
 * so it overshoots by at most one chunk plus small control frames. */
#define CONN_OUT_MAX   (4u << 20)
#define EXEC_STDIN_MAX (1u << 20)	/* buffered STDIN per exec */
#define EXEC_GRACE_MS  2000		/* pipe EOF wait after leader exit */

/* The unprivileged workload identity (initramfs/passwd "agent"). */
#define AGENT_UID AGENT_USER_UID
#define AGENT_GID AGENT_USER_GID

/* Process-wide state, set up by main.c before the loop starts. */
struct agent {
	int test_mode;		/* not PID 1: unix listener, mapped roots */
	int is_root;		/* euid 0: may change uid/gid and chown */
	int have_secret;	/* no secret: every HELLO is refused */
	uint8_t secret[AGENT_SECRET_LEN];
	char name[64];		/* vb.name, for the ready line */
	uint64_t ready_ns;	/* CLOCK_BOOTTIME at the ready line */
	struct rlimit nofile;	/* RLIMIT_NOFILE as we found it, for execs */
	int image_root;		/* running in the user's image (imageroot.c) */
};
extern struct agent agent;

struct conn;

/* main.c */
/* Kill every command, then power off (VM) or exit (test mode). */
void agent_shutdown(void) __attribute__((noreturn));
uint64_t agent_now_ns(int clock);

/* log.c: console logging with the "voidbox-agent:" prefix. */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* mounts.c: /proc /sys /dev /dev/pts /dev/shm /tmp. Returns 0 or -errno of
 * the first essential mount that failed (optional ones only warn). */
int mounts_setup(void);

/* cmdline.c: read /proc/cmdline once; cmdline_get copies the value of KEY
 * (e.g. "vb.name=") into buf, NUL-terminated. Returns length or -1.
 * cmdline_has tells whether a bare flag (e.g. "vb.once") is present. */
int cmdline_load(void);
int cmdline_get(const char *key, char *buf, size_t len);
int cmdline_has(const char *flag);
/* Drop KEY's token from our copy and from /proc/cmdline (a copy without
 * it, written to the file `copy`, is bind-mounted over it). 0 or -errno. */
int cmdline_scrub(const char *key, const char *copy);

/* power.c: sync filesystems and power the VM off. Never returns. */
void power_off(void) __attribute__((noreturn));

/* netup.c: bring up lo; with vb.net=1 also eth0 with the static slirp
 * addressing. Both return 0 or -errno and only warn. */
int netup_lo(void);
int netup_eth0(void);

/* buf.c: a growable byte queue. Zero-initialised is empty. */
struct buf {
	uint8_t *p;
	size_t off, len, cap;	/* data is p[off .. off + len) */
};
/* Make room for n more bytes after the data. 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *data, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);
static inline uint8_t *buf_data(const struct buf *b)
{
	return b->p + b->off;
}
static inline uint8_t *buf_end(const struct buf *b)
{
	return b->p + b->off + b->len;
}
static inline size_t buf_room(const struct buf *b)
{
	return b->cap - b->off - b->len;
}

/* ev.c: the event loop. A watch is embedded in its owner and found again
 * with container_of. Level-triggered; a watch with no events is not in the
 * epoll set at all (so a paused pipe's HUP cannot spin the loop). */
struct ev_watch;
typedef void ev_fn(struct ev_watch *w, uint32_t revents);
typedef void ev_free_fn(void *p);
struct ev_watch {
	int fd;			/* -1 when closed */
	uint32_t events;	/* current interest; 0 = not registered */
	ev_fn *fn;
};
int ev_init(void);
/* Take ownership of fd (closed by ev_close). */
void ev_watch_init(struct ev_watch *w, int fd, ev_fn *fn);
/* Change interest; 0 removes the fd from the set. 0 or -errno. */
int ev_set(struct ev_watch *w, uint32_t events);
/* Deregister and close; idempotent. */
void ev_close(struct ev_watch *w);
/* Free p with fn after the current batch of events: owners of watches must
 * outlive events already fetched from epoll. */
void ev_defer(ev_free_fn *fn, void *p);
/* A CLOCK_MONOTONIC timerfd watch, registered for EPOLLIN. 0 or -errno. */
int ev_timer_open(struct ev_watch *w, ev_fn *fn);
/* Arm once after ms (0 disarms), repeating every interval_ms if nonzero. */
int ev_timer_arm(struct ev_watch *w, uint32_t ms, uint32_t interval_ms);
/* Acknowledge a timer expiry (read the timerfd). */
void ev_timer_ack(struct ev_watch *w);
/* Run forever; before_sleep runs after each batch. */
void ev_run(void (*before_sleep)(void)) __attribute__((noreturn));

/* relay.c: guest TCP 127.0.0.1:port -> host vsock AGENT_GATEWAY_PORT
 * (the LLM gateway), one bounded byte relay per connection. 0 or -errno. */
int relay_listen(uint16_t port);

/* listen.c: the listening socket; accepted sockets go to conn_new. */
int listen_vsock(uint32_t port);
int listen_unix(const char *path);
/* Tell the VMM we listen: a vsock connect it refuses. 0 or -errno. */
int listen_knock(void);

/* conn.c: one host connection, framing and dispatch. */
/* Takes ownership of fd. 0 or -errno (fd closed either way). */
int conn_new(int fd);
/* Queue a frame with payload a then b. Never blocks, never writes inline
 * (so callers are never re-entered); on ENOMEM the connection is doomed
 * and closed from its own handler. 0 or -errno. */
int conn_send(struct conn *c, uint16_t type, uint32_t id, const void *a,
	      size_t alen, const void *b, size_t blen);
/* ERROR frame: errno value plus a formatted message. */
int conn_send_error(struct conn *c, uint32_t id, int err, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
int conn_send_ok(struct conn *c, uint32_t id, const void *p, size_t len);
/* Whether a producer may add stream data now. If not, the producer must
 * stop; exec_resume and files_pump are called once there is room. */
int conn_out_room(struct conn *c);
/* Zero-copy framing: returns space for up to max payload bytes (NULL on
 * ENOMEM), then conn_frame_end commits n of them (n 0 = nothing). */
uint8_t *conn_frame_begin(struct conn *c, size_t max);
void conn_frame_end(struct conn *c, uint16_t type, uint32_t id, size_t n);
/* Stop (+1) / resume (-1) reading requests: an exec's stdin is full. */
void conn_stdin_block(struct conn *c, int delta);
/* The peer is gone (hung up, reset): closes c and returns 1; else 0. */
int conn_hung_up(struct conn *c);
/* Run deferred frame processing; called by the loop before sleeping. */
void conn_before_sleep(void);

/* policy.c: the command allowlist and rlimits (POLICY, once per boot). */
/* resume.c: AGENT_MSG_RESUME, a restored clone's own identity. */
int resume_handle(struct conn *c, const struct agent_hdr *h,
		  const uint8_t *p);
int policy_handle(struct conn *c, const struct agent_hdr *h,
		  const uint8_t *p);
/* Later POLICY frames are refused once an exec has run. */
void policy_lock(void);
/* RESUME: reopen the policy window (-EPERM once a POLICY was given). */
int policy_resume(void);
/* execvp-style lookup of name through pathenv (relative names with a '/'
 * are taken against cwd). Writes the path to out. 0, -ENOENT, -EACCES. */
int policy_resolve(const char *name, const char *pathenv, const char *cwd,
		   char *out, size_t outlen);
/* Whether the allowlist admits the resolved path. */
int policy_allows(const char *path);
/* In the child before execve: policy rlimits plus RLIMIT_CORE 0. Returns 0
 * or -errno. Async-signal-safe. */
int policy_apply_rlimits(void);

/* spawn.c: fork and exec one command in its own session. */
struct spawn {
	const char *path;		/* resolved executable */
	char *const *argv;
	char *const *envp;
	const char *cwd;		/* already mapped (test mode) */
	int setid;			/* change to uid/gid */
	uid_t uid;
	gid_t gid;
	int fd_in, fd_out, fd_err;	/* child ends; fd_in -1 = /dev/null */
	int ctty;			/* fd_in is a terminal: make it the
					   session's controlling terminal */
};
/* Returns the pid (also its pgid), or -errno with *what naming the step
 * that failed in the child (e.g. "chdir", "execve"). */
pid_t spawn_start(const struct spawn *s, const char **what);

/* exec.c: running commands (EXEC, STDIN, SIGNAL) and their exit. */
/* ATTACH: a connection takes over a parked exec (AGENT_EXEC_PARK). */
int exec_attach(struct conn *c, const struct agent_hdr *h, const uint8_t *p);
int exec_handle(struct conn *c, const struct agent_hdr *h, const uint8_t *p);
int exec_stdin(struct conn *c, const struct agent_hdr *h, const uint8_t *p);
int exec_signal(struct conn *c, const struct agent_hdr *h, const uint8_t *p);
/* RESIZE: a terminal exec's window size. */
int exec_resize(struct conn *c, const struct agent_hdr *h, const uint8_t *p);
/* SIGCHLD: reap every child (orphans included), finish exec leaders. */
void exec_reap(void);
/* Room on c again: re-arm its execs' output pipes. */
void exec_resume(struct conn *c);
/* c is closing: SIGKILL the process groups it started, forget them. */
void exec_conn_closed(struct conn *c);
void exec_kill_all(void);

/* roots.c: the allowed roots /workspace, /tmp, /home/agent. */
/* base NULL: roots are themselves (VM); else base/workspace etc. Creates
 * them (workspace and home owned by AGENT_UID when root). 0 or -errno. */
int roots_init(const char *base);
/* Map a guest path under a root into the test directory; other paths and
 * the VM case return path unchanged. */
const char *roots_map(const char *path, char *buf, size_t len);
/* Validate an absolute path under a root. Returns an O_PATH fd of the
 * root (caller closes) and sets *rel to the remainder ("." for the root
 * itself), or -errno (-EACCES outside the roots or with "..").*/
int roots_open(const char *path, const char **rel);
/* openat2 below rootfd with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so
 * neither ".." nor absolute symlinks leave the root. fd or -errno. */
int roots_openat(int rootfd, const char *rel, int flags, mode_t mode);

/* files.c: FILE_PUT/FILE_DATA/FILE_GET/MKDIR/STAT. */
int files_handle(struct conn *c, const struct agent_hdr *h,
		 const uint8_t *p);
/* Stream pending FILE_GETs of c while there is room. */
void files_pump(struct conn *c);
void files_conn_closed(struct conn *c);

/* telemetry.c: TELEMETRY_SUB and the periodic TELEMETRY frames. */
int telemetry_handle(struct conn *c, const struct agent_hdr *h,
		     const uint8_t *p);
void telemetry_conn_closed(struct conn *c);

/* tools.c: mount the read-only tools disk (vb.tools=vdX, or found by its
 * EROFS superblock) at /opt/voidbox and link claude and the musl loader
 * into the root. 0 (also when there is none) or -errno; only warns. */
int tools_setup(void);
/* toolbox.c: the tools disk's /toolbox (Debian userland) joins the root:
 * its usr/ on /usr, a tmpfs on /usr/local, its etc/ entries linked into
 * /etc. 0 (also when the disk has none) or -errno; only warns. */
int toolbox_setup(const char *tools_dir);
/* imageroot.c: with vb.image=vdX, the image's EROFS root under a tmpfs
 * overlay becomes "/" (before every other setup step). 0 (also without
 * vb.image) or -errno after saying why. */
int imageroot_setup(void);
/* mkdir -p of path's parent directories (and path itself if dir); mkdir
 * errors are left to whoever uses the path next. */
void agent_make_dirs(const char *path, int dir);

/* shares.c: mount the shared directories named by vb.mounts (virtio-fs,
 * nosuid, nodev; ro ones read-only). 0, or -errno after a warning naming
 * the mount: the VM is then of no use to the host and powers off. */
int shares_setup(void);

#endif
