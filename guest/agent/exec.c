/* exec.c: EXEC requests: spawn, stream output, feed stdin, deliver exit.
 *
 * Primer. An exec is one command started for one connection:
 *
 *   EXEC -> STARTED {pid} -> STDOUT/STDERR* -> EXIT      (or just ERROR)
 *
 * The host may send STDIN (len 0 = EOF) and SIGNAL frames with the same
 * req_id; they get no reply, since the request already has its terminal
 * frame coming (EXIT), and are ignored once the exec is gone.
 *
 * EXIT ordering. EXIT is sent exactly once, after the leader has been
 * reaped AND both output pipes reached EOF, so every byte the command
 * wrote precedes it on the wire. A background grandchild can hold the
 * pipes open forever, though (sh -c 'daemon &'), so after the leader
 * exits we wait at most EXEC_GRACE_MS for EOF, then read what is already
 * in the pipes, close them and send EXIT anyway. Whatever such stragglers
 * write later is lost to them (EPIPE); they keep running until the
 * connection closes or the VM powers off. Time spent paused for output
 * room does not count against the grace period.
 *
 * Backpressure. Output pipes are read one chunk at a time only while the
 * connection has room; otherwise the pipe leaves epoll and the child
 * blocks in write(2). STDIN is buffered up to EXEC_STDIN_MAX per exec;
 * beyond that the connection stops reading requests until the child has
 * consumed half of it.
 *
 * Killing. A timeout or a closing connection SIGKILLs the process group
 * (the child called setsid, so pgid == pid). The leader's own exit does
 * not: a command may legitimately leave a daemon behind.
 *
 * Terminals (AGENT_EXEC_TTY). The child gets a pseudo-terminal's slave as
 * stdin, stdout, stderr and controlling terminal; we keep the master,
 * read as `out` and written through a second descriptor of it as `in`,
 * so the pipe logic above serves it unchanged (there is no `err`). The
 * master reads EIO once no process holds the slave: that is its EOF.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define EXEC_MAX 1024			/* concurrent execs, all connections */
#define EXEC_PATH_DEFAULT "/usr/local/bin:/usr/bin:/bin:/sbin"
#define EXEC_RETRY_MS 100		/* grace re-check while paused */

struct exec {
	struct exec *next;
	struct conn *conn;
	uint32_t id;
	pid_t pid;			/* leader; also the pgid */
	struct ev_watch in, out, err, timer;
	struct buf inbuf;		/* STDIN not yet taken by the pipe */
	int stdin_eof;			/* host sent STDIN of len 0 */
	int stdin_full;			/* counted in conn_stdin_block */
	int exited, timed_out;
	int tty;			/* out/in are a terminal's master */
	uint32_t park_id;		/* started parked: attachable by it;
					   parked while conn is NULL */
	int status;
	struct rusage ru;
	uint64_t t0_ns, wall_us;
};

static struct exec *execs;
static unsigned nexecs;

static struct exec *exec_find(struct conn *c, uint32_t id)
{
	for (struct exec *e = execs; e; e = e->next)
		if (e->conn == c && e->id == id)
			return e;
	return NULL;
}

static void exec_free(struct exec *e)
{
	for (struct exec **pp = &execs; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			nexecs--;
			break;
		}
	}
	ev_close(&e->in);
	ev_close(&e->out);
	ev_close(&e->err);
	ev_close(&e->timer);
	if (e->stdin_full && e->conn) {
		e->stdin_full = 0;
		conn_stdin_block(e->conn, -1);
	}
	buf_free(&e->inbuf);
	ev_defer(free, e);
}

/* Send EXIT and forget e once the leader is reaped and both pipes are
 * done. Returns 1 if e is gone. */
static int exec_maybe_finish(struct exec *e)
{
	if (!e->conn || !e->exited || e->out.fd >= 0 || e->err.fd >= 0)
		return 0;	/* parked: its EXIT waits for an ATTACH */
	int sig = WIFSIGNALED(e->status);
	struct agent_exit x = {
		.how = sig ? AGENT_EXIT_SIGNAL : AGENT_EXIT_CODE,
		.code = sig ? WTERMSIG(e->status) : WEXITSTATUS(e->status),
		.timed_out = (uint32_t)e->timed_out,
		.user_us = (uint64_t)e->ru.ru_utime.tv_sec * 1000000 +
			   (uint64_t)e->ru.ru_utime.tv_usec,
		.sys_us = (uint64_t)e->ru.ru_stime.tv_sec * 1000000 +
			  (uint64_t)e->ru.ru_stime.tv_usec,
		.max_rss_kb = (uint64_t)e->ru.ru_maxrss,
		.wall_us = e->wall_us,
	};
	conn_send(e->conn, AGENT_MSG_EXIT, e->id, &x, sizeof(x), NULL, 0);
	exec_free(e);
	return 1;
}

/* One chunk from an output pipe into a frame. Returns 0 after data, 1
 * when there is nothing to read now, -1 when paused for room, and closes
 * the pipe (returning 2) at EOF or on error. */
static int pipe_read_once(struct exec *e, struct ev_watch *w, uint16_t type)
{
	uint8_t *p = NULL;

	if (e->conn && conn_out_room(e->conn))
		p = conn_frame_begin(e->conn, AGENT_CHUNK);
	if (!p) {
		ev_set(w, 0);	/* exec_resume re-arms it */
		return -1;
	}
	ssize_t n = read(w->fd, p, AGENT_CHUNK);
	if (n > 0) {
		conn_frame_end(e->conn, type, e->id, (size_t)n);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	ev_close(w);
	return 2;
}

static void exec_pipe_io(struct exec *e, struct ev_watch *w, uint16_t type)
{
	if (pipe_read_once(e, w, type) == 2)
		exec_maybe_finish(e);
}

static void exec_out_io(struct ev_watch *w, uint32_t re)
{
	exec_pipe_io(container_of(w, struct exec, out), w, AGENT_MSG_STDOUT);
}

static void exec_err_io(struct ev_watch *w, uint32_t re)
{
	exec_pipe_io(container_of(w, struct exec, err), w, AGENT_MSG_STDERR);
}

/* Grace period over: take what the pipe holds now, then give up on it.
 * Returns 1 if it had to stop for output room. */
static int drain_pipe(struct exec *e, struct ev_watch *w, uint16_t type)
{
	while (w->fd >= 0) {
		int r = pipe_read_once(e, w, type);
		if (r < 0)
			return 1;
		if (r == 1)
			ev_close(w);
	}
	return 0;
}

static void exec_timer_io(struct ev_watch *w, uint32_t re)
{
	struct exec *e = container_of(w, struct exec, timer);

	ev_timer_ack(w);
	if (!e->exited) {
		/* The exec timeout: the whole tree goes. */
		if (!e->timed_out && kill(-e->pid, SIGKILL) < 0)
			agent_warn("kill -%d: %s", (int)e->pid,
				   strerror(errno));
		e->timed_out = 1;
		return;
	}
	if (!e->conn)
		return;		/* parked: ATTACH restarts the wait */
	int paused = drain_pipe(e, &e->out, AGENT_MSG_STDOUT);
	paused |= drain_pipe(e, &e->err, AGENT_MSG_STDERR);
	if (paused)
		ev_timer_arm(w, EXEC_RETRY_MS, 0);
	else
		exec_maybe_finish(e);
}

/* Parked processes that ended keep their output and exit for whoever
 * attaches (a detached terminal session); past AGENT_PARK_MAX of them the
 * oldest is forgotten, so ended sessions nobody collects cannot pile up
 * or keep a new one from starting. */
static void exec_drop_ended_parked(void)
{
	struct exec *oldest = NULL;
	unsigned n = 0;

	for (struct exec *e = execs; e; e = e->next) {
		if (e->park_id && e->exited && !e->conn) {
			n++;
			oldest = e;	/* the list is newest first */
		}
	}
	if (n <= AGENT_PARK_MAX)
		return;
	agent_log("forgetting ended parked exec pid %d (park id %u): more "
		  "than %u wait to be attached", (int)oldest->pid,
		  oldest->park_id, AGENT_PARK_MAX);
	exec_free(oldest);
}

static void exec_leader_exited(struct exec *e, int status,
			       const struct rusage *ru)
{
	e->exited = 1;
	e->status = status;
	e->ru = *ru;
	e->wall_us = (agent_now_ns(CLOCK_MONOTONIC) - e->t0_ns) / 1000;
	if (!e->conn) {
		exec_drop_ended_parked();	/* may forget e itself */
		return;		/* parked: the grace wait starts at ATTACH */
	}
	if (exec_maybe_finish(e))
		return;
	/* Pipes still open: start the bounded wait for EOF (see primer).
	 * The timeout timer, if any, is reused: its job is done. */
	if (e->timer.fd < 0 && ev_timer_open(&e->timer, exec_timer_io) < 0) {
		agent_warn("no timer for exec %u; not waiting for EOF", e->id);
		exec_timer_io(&e->timer, 0);
		return;
	}
	ev_timer_arm(&e->timer, EXEC_GRACE_MS, 0);
}

void exec_reap(void)
{
	struct rusage ru;
	int status;
	pid_t pid;

	/* Every child, not just ours: as PID 1 (or a subreaper in test
	 * mode) we inherit orphans, and unreaped they stay zombies. */
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		for (struct exec *e = execs; e; e = e->next) {
			if (e->pid == pid && !e->exited) {
				exec_leader_exited(e, status, &ru);
				break;
			}
		}
	}
}

void exec_resume(struct conn *c)
{
	for (struct exec *e = execs; e; e = e->next) {
		if (e->conn != c)
			continue;
		if (e->out.fd >= 0)
			ev_set(&e->out, EPOLLIN);
		if (e->err.fd >= 0)
			ev_set(&e->err, EPOLLIN);
	}
}

/* A process started parked goes back to waiting for an ATTACH when its
 * connection goes (the host that attached closed it, or a restore reset
 * it): its output stays in its pipes, stdin stays open. */
static void exec_repark(struct exec *e)
{
	if (e->stdin_full) {
		e->stdin_full = 0;
		conn_stdin_block(e->conn, -1);
	}
	e->conn = NULL;
	e->id = 0;
	if (e->out.fd >= 0)
		ev_set(&e->out, 0);
	if (e->err.fd >= 0)
		ev_set(&e->err, 0);
	agent_log("exec pid %d parked again (park id %u)", (int)e->pid,
		  e->park_id);
}

void exec_conn_closed(struct conn *c)
{
	struct exec *next;

	for (struct exec *e = execs; e; e = next) {
		next = e->next;
		if (e->conn != c)
			continue;
		if (e->park_id) {
			exec_repark(e);
			continue;
		}
		kill(-e->pid, SIGKILL);
		exec_free(e);	/* the reaper ignores pids no exec claims */
	}
}

void exec_kill_all(void)
{
	for (struct exec *e = execs; e; e = e->next)
		kill(-e->pid, SIGKILL);
}

/* ---- stdin --------------------------------------------------------- */

static void stdin_close(struct exec *e)
{
	ev_close(&e->in);
	buf_free(&e->inbuf);
	if (e->stdin_full && e->conn) {
		e->stdin_full = 0;
		conn_stdin_block(e->conn, -1);
	}
}

static void stdin_update(struct exec *e)
{
	if (e->in.fd < 0)
		return;
	if (!e->inbuf.len && e->stdin_eof) {
		stdin_close(e);
		return;
	}
	ev_set(&e->in, e->inbuf.len ? EPOLLOUT : 0);
	/* Hysteresis, so a child reading byte by byte does not flip the
	 * connection's read interest on every write. */
	int full = e->stdin_full ? e->inbuf.len >= EXEC_STDIN_MAX / 2
				 : e->inbuf.len >= EXEC_STDIN_MAX;
	if (!e->conn)
		return;		/* parked: no connection to hold back */
	if (full != e->stdin_full) {
		e->stdin_full = full;
		conn_stdin_block(e->conn, full ? 1 : -1);
	}
}

/* Write what the pipe takes. Returns bytes taken, or -1 if the child
 * will never read again (EPIPE etc.: stdin is then closed). */
static ssize_t stdin_write(struct exec *e, const void *p, size_t len)
{
	ssize_t n = write(e->in.fd, p, len);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	stdin_close(e);
	return -1;
}

static void exec_in_io(struct ev_watch *w, uint32_t re)
{
	struct exec *e = container_of(w, struct exec, in);
	ssize_t n = stdin_write(e, buf_data(&e->inbuf), e->inbuf.len);

	if (n < 0)
		return;
	buf_consume(&e->inbuf, (size_t)n);
	stdin_update(e);
}

int exec_stdin(struct conn *c, const struct agent_hdr *h, const uint8_t *p)
{
	struct exec *e = exec_find(c, h->req_id);

	/* Gone, started without AGENT_EXEC_STDIN, or already closed: the
	 * bytes have nowhere to go, which is not a protocol error. */
	if (!e || e->in.fd < 0 || e->stdin_eof)
		return 0;
	if (h->len == 0) {
		e->stdin_eof = 1;
		stdin_update(e);
		return 0;
	}
	ssize_t n = 0;
	if (!e->inbuf.len) {
		n = stdin_write(e, p, h->len);
		if (n < 0)
			return 0;
	}
	if ((size_t)n < h->len &&
	    buf_append(&e->inbuf, p + n, h->len - (size_t)n) < 0)
		return -ENOMEM;
	stdin_update(e);
	return 0;
}

int exec_signal(struct conn *c, const struct agent_hdr *h, const uint8_t *p)
{
	struct agent_signal s;

	if (h->len != sizeof(s))
		return -EINVAL;
	memcpy(&s, p, sizeof(s));
	struct exec *e = exec_find(c, h->req_id);
	if (!e)
		return 0;	/* raced with its exit */
	if (s.sig <= 0 || s.sig >= _NSIG) {
		agent_warn("exec %u: ignoring signal %d", e->id, s.sig);
		return 0;
	}
	if (kill(-e->pid, s.sig) < 0 && errno != ESRCH)
		agent_warn("kill -%d: %s", (int)e->pid, strerror(errno));
	return 0;
}

/* A size the terminal takes: 1..4096 each way. */
static int winsize_ok(uint16_t rows, uint16_t cols)
{
	return rows && rows <= 4096 && cols && cols <= 4096;
}

/* rows x cols when it is one, else 24 x 80. */
static struct winsize winsize_of(uint16_t rows, uint16_t cols)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };

	if (winsize_ok(rows, cols)) {
		ws.ws_row = rows;
		ws.ws_col = cols;
	}
	return ws;
}

int exec_resize(struct conn *c, const struct agent_hdr *h, const uint8_t *p)
{
	struct agent_winsize a;

	if (h->len != sizeof(a))
		return -EINVAL;
	memcpy(&a, p, sizeof(a));
	struct exec *e = exec_find(c, h->req_id);
	if (!e || !e->tty || e->out.fd < 0 || !winsize_ok(a.rows, a.cols))
		return 0;	/* gone, not a terminal, or nonsense */
	struct winsize ws = winsize_of(a.rows, a.cols);
	if (ioctl(e->out.fd, TIOCSWINSZ, &ws) < 0)
		agent_warn("exec %u: TIOCSWINSZ: %s", e->id, strerror(errno));
	return 0;
}

/* ---- starting -------------------------------------------------------- */

struct exec_req {
	struct agent_exec x;
	char **argv;		/* argc + 1, pointing into the frame */
	char **envp;		/* envc + 3 defaults + 1 */
	const char *cwd;
	const char *pathenv;	/* PATH used to find argv[0] */
	char cwdbuf[AGENT_PATH_MAX];
	char home[AGENT_PATH_MAX + 8];
};

static int take_strings(const uint8_t **s, size_t *left, uint32_t n,
			char **out)
{
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *nul = memchr(*s, '\0', *left);
		if (!nul)
			return -EINVAL;
		out[i] = (char *)*s;
		*left -= (size_t)(nul - *s) + 1;
		*s = nul + 1;
	}
	return 0;
}

static const char *env_get(char **env, uint32_t n, const char *key)
{
	size_t klen = strlen(key);

	for (uint32_t i = 0; i < n; i++)
		if (!strncmp(env[i], key, klen) && env[i][klen] == '=')
			return env[i] + klen + 1;
	return NULL;
}

/* Parse the frame into r. 0 or -EINVAL; r->argv/envp need freeing. */
static int parse_exec(const struct agent_hdr *h, const uint8_t *p,
		      struct exec_req *r)
{
	size_t left = h->len;
	char *cwd;

	if (left < sizeof(r->x))
		return -EINVAL;
	memcpy(&r->x, p, sizeof(r->x));
	p += sizeof(r->x);
	left -= sizeof(r->x);
	uint32_t argc = r->x.argc, envc = r->x.envc;
	if (argc < 1 || argc > AGENT_MAX_ARGS || envc > AGENT_MAX_ARGS - argc)
		return -EINVAL;
	r->argv = calloc(argc + 1, sizeof(char *));
	r->envp = calloc(envc + 4, sizeof(char *));
	if (!r->argv || !r->envp)
		return -ENOMEM;
	if (take_strings(&p, &left, argc, r->argv) < 0 ||
	    take_strings(&p, &left, envc, r->envp) < 0 ||
	    take_strings(&p, &left, 1, &cwd) < 0 || left != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < envc; i++)
		if (!strchr(r->envp[i], '='))
			return -EINVAL;

	int root = r->x.flags & AGENT_EXEC_ROOT;
	r->cwd = roots_map(*cwd ? cwd : "/workspace", r->cwdbuf,
			   sizeof(r->cwdbuf));
	r->pathenv = env_get(r->envp, envc, "PATH");
	if (!r->pathenv)
		r->pathenv = EXEC_PATH_DEFAULT;
	/* Defaults a login would set, unless the host set them. */
	uint32_t n = envc;
	if (!env_get(r->envp, envc, "HOME")) {
		char hb[AGENT_PATH_MAX];
		const char *home = root ? "/root"
					: roots_map("/home/agent", hb,
						    sizeof(hb));
		strcpy(r->home, "HOME=");
		strncat(r->home, home, sizeof(r->home) - 6);
		r->envp[n++] = r->home;
	}
	if (!env_get(r->envp, envc, "PATH"))
		r->envp[n++] = "PATH=" EXEC_PATH_DEFAULT;
	if (!env_get(r->envp, envc, "USER"))
		r->envp[n++] = root ? "USER=root" : "USER=agent";
	return 0;
}

static int make_pipe(int fds[2], int parent_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	/* Only our end is non-blocking; the child gets ordinary pipes. */
	if (fcntl(fds[parent_end], F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* A terminal of the requested size: the master (non-blocking) in
 * fds[0], the slave in fds[1], owned by the user who will run on it
 * (what grantpt does, so `tty`, `mesg` and such see their own terminal).
 * 0 or -errno. */
static int make_pty(int fds[2], const struct exec_req *r, uid_t uid,
		    gid_t gid, int setid)
{
	char name[64];

	fds[0] = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fds[0] < 0)
		return -errno;
	struct winsize ws = winsize_of(r->x.rows, r->x.cols);
	if (unlockpt(fds[0]) < 0 || ptsname_r(fds[0], name, sizeof(name)) ||
	    ioctl(fds[0], TIOCSWINSZ, &ws) < 0 ||
	    fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	fds[1] = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fds[1] < 0)
		return -errno;
	if (setid && fchown(fds[1], uid, gid) < 0)
		agent_warn("%s: fchown: %s", name, strerror(errno));
	return 0;
}

/* Pipes, timer and the child. 0 or -errno with *what set. */
static int exec_spawn(struct exec *e, struct exec_req *r, const char *path,
		      const char **what)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	int want_in = r->x.flags & (AGENT_EXEC_STDIN | AGENT_EXEC_PARK);
	int root = r->x.flags & AGENT_EXEC_ROOT;
	int err;

	int tty = r->x.flags & AGENT_EXEC_TTY;
	uid_t uid = r->x.uid ? r->x.uid : AGENT_UID;
	gid_t gid = r->x.gid ? r->x.gid : AGENT_GID;

	if (tty) {
		/* pout = {master, slave}; pin[1] a second master fd. The
		 * slave is the child's every stdio descriptor. */
		*what = "pseudo-terminal";
		if ((err = make_pty(pout, r, uid, gid,
				    agent.is_root && !root)) < 0)
			goto err_close_pipes;
		if ((pin[1] = fcntl(pout[0], F_DUPFD_CLOEXEC, 3)) < 0) {
			err = -errno;
			goto err_close_pipes;
		}
	} else {
		*what = "pipe2";
		if ((err = make_pipe(pout, 0)) < 0 ||
		    (err = make_pipe(perr, 0)) < 0 ||
		    (want_in && (err = make_pipe(pin, 1)) < 0))
			goto err_close_pipes;
	}
	if (r->x.timeout_ms) {
		*what = "timerfd";
		if ((err = ev_timer_open(&e->timer, exec_timer_io)) < 0)
			goto err_close_pipes;
	}
	struct spawn s = {
		.path = path,
		.argv = r->argv,
		.envp = r->envp,
		.cwd = r->cwd,
		/* uid/gid 0 without AGENT_EXEC_ROOT means the default
		 * user: root must be asked for explicitly. */
		.setid = agent.is_root && !root,
		.uid = uid,
		.gid = gid,
		.fd_in = tty ? pout[1] : pin[0],
		.fd_out = pout[1],
		.fd_err = tty ? pout[1] : perr[1],
		.ctty = tty,
	};
	e->t0_ns = agent_now_ns(CLOCK_MONOTONIC);
	pid_t pid = spawn_start(&s, what);
	if (pid < 0) {
		err = (int)pid;
		goto err_close_timer;
	}
	e->pid = pid;
	/* Drop the child's ends now, or EOF would never come. */
	if (pin[0] >= 0)
		close(pin[0]);
	close(pout[1]);
	if (perr[1] >= 0)
		close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	e->tty = tty;
	ev_watch_init(&e->in, pin[1], exec_in_io);
	ev_watch_init(&e->out, pout[0], exec_out_io);
	ev_watch_init(&e->err, perr[0], exec_err_io);
	ev_set(&e->out, EPOLLIN);
	if (e->err.fd >= 0)
		ev_set(&e->err, EPOLLIN);
	if (r->x.timeout_ms)
		ev_timer_arm(&e->timer, r->x.timeout_ms, 0);
	return 0;

err_close_timer:
	ev_close(&e->timer);
err_close_pipes:
	close_pair(perr);
	close_pair(pout);
	close_pair(pin);
	return err;
}

static int exec_start(struct conn *c, uint32_t id, struct exec_req *r)
{
	char path[AGENT_PATH_MAX], mapped[AGENT_PATH_MAX];
	const char *what = "";
	const char *name = r->argv[0];
	/* Test mode: "/workspace/x" lives under the test directory. */
	const char *look = roots_map(name, mapped, sizeof(mapped));

	int err = policy_resolve(look, r->pathenv, r->cwd, path, sizeof(path));
	if (err == -ENOENT)
		return conn_send_error(c, id, ENOENT, "%s: command not found",
				       name);
	if (err < 0)
		return conn_send_error(c, id, -err, "%s: %s", name,
				       strerror(-err));
	if (!policy_allows(path)) {
		agent_warn("exec denied: %s (%s) is not allowed", name, path);
		return conn_send_error(c, id, EACCES,
				       "%s: not in the command allowlist",
				       name);
	}
	if (nexecs >= EXEC_MAX)
		return conn_send_error(c, id, EAGAIN, "too many execs");

	struct exec *e = calloc(1, sizeof(*e));
	if (!e)
		return conn_send_error(c, id, ENOMEM, "out of memory");
	*e = (struct exec){ .conn = c, .id = id, .pid = -1 };
	ev_watch_init(&e->in, -1, exec_in_io);
	ev_watch_init(&e->out, -1, exec_out_io);
	ev_watch_init(&e->err, -1, exec_err_io);
	ev_watch_init(&e->timer, -1, exec_timer_io);
	err = exec_spawn(e, r, path, &what);
	if (err < 0) {
		free(e);
		return conn_send_error(c, id, -err, "%s: %s: %s", name, what,
				       strerror(-err));
	}
	e->next = execs;
	execs = e;
	nexecs++;
	struct agent_started st = { .pid = e->pid, .reserved = 0 };
	if (r->x.flags & AGENT_EXEC_PARK) {
		/* Output stays in its pipes until someone attaches. */
		static uint32_t next_park;
		e->park_id = ++next_park ? next_park : ++next_park;
		st.reserved = e->park_id;
		ev_set(&e->out, 0);
		ev_set(&e->err, 0);
		conn_send(c, AGENT_MSG_STARTED, id, &st, sizeof(st), NULL, 0);
		e->conn = NULL;
		agent_log("exec %s parked (pid %d, park id %u)", name,
			  (int)e->pid, e->park_id);
		return 0;
	}
	return conn_send(c, AGENT_MSG_STARTED, id, &st, sizeof(st), NULL, 0);
}

/* Started parked and still running, attached or not: each can come
 * back to waiting. */
static unsigned nparked(void)
{
	unsigned n = 0;
	for (struct exec *e = execs; e; e = e->next)
		n += e->park_id && !e->exited;
	return n;
}

int exec_attach(struct conn *c, const struct agent_hdr *h, const uint8_t *p)
{
	struct agent_attach a;
	struct exec *e = NULL;

	if (h->len != sizeof(a)) {
		conn_send_error(c, h->req_id, EINVAL, "ATTACH of %u bytes",
				h->len);
		return 0;
	}
	memcpy(&a, p, sizeof(a));
	for (struct exec *x = execs; x && !e; x = x->next)
		if (a.park_id && x->park_id == a.park_id)
			e = x;
	if (!e)
		return conn_send_error(c, h->req_id, ENOENT, "no parked exec "
				       "%u", a.park_id);
	/* Attached elsewhere: to a connection that is gone but not yet
	 * seen closing (a restore resets every connection; the template's
	 * host closes the one it checked readiness on), it is ours. */
	if (e->conn && e->conn != c)
		conn_hung_up(e->conn);	/* closing it parks e again */
	if (e->conn)
		return conn_send_error(c, h->req_id, EBUSY, "exec %u is "
				       "attached to a live connection",
				       a.park_id);
	if (exec_find(c, h->req_id))
		return conn_send_error(c, h->req_id, EBUSY, "req_id %u is "
				       "running", h->req_id);
	e->conn = c;
	e->id = h->req_id;
	if (a.timeout_ms && !e->exited) {
		/* The attacher's time limit, from now: a template's process
		 * has waited for as long as the template took to make. */
		if (e->timer.fd >= 0 ||
		    ev_timer_open(&e->timer, exec_timer_io) == 0)
			ev_timer_arm(&e->timer, a.timeout_ms, 0);
	}
	struct agent_started st = { .pid = e->pid };
	conn_send(c, AGENT_MSG_STARTED, e->id, &st, sizeof(st), NULL, 0);
	if (e->out.fd >= 0)
		ev_set(&e->out, EPOLLIN);
	if (e->err.fd >= 0)
		ev_set(&e->err, EPOLLIN);
	stdin_update(e);	/* a full stdin buffer holds this conn back */
	if (e->exited && !exec_maybe_finish(e)) {
		/* It ended while parked: the bounded wait for its pipes'
		 * EOF starts now. */
		if (e->timer.fd >= 0 ||
		    ev_timer_open(&e->timer, exec_timer_io) == 0)
			ev_timer_arm(&e->timer, EXEC_GRACE_MS, 0);
	}
	return 0;
}

int exec_handle(struct conn *c, const struct agent_hdr *h, const uint8_t *p)
{
	struct exec_req *r = calloc(1, sizeof(*r));

	if (!r) {
		conn_send_error(c, h->req_id, ENOMEM, "out of memory");
		return 0;
	}
	int err = parse_exec(h, p, r);
	if (err < 0)
		conn_send_error(c, h->req_id, -err,
				"EXEC: need argc >= 1, argc + envc <= %u, "
				"and NUL-terminated args, K=V env, cwd "
				"filling the frame", AGENT_MAX_ARGS);
	else if (exec_find(c, h->req_id))
		conn_send_error(c, h->req_id, EBUSY, "req_id %u is running",
				h->req_id);
	else if ((r->x.flags & AGENT_EXEC_PARK) && nparked() >= AGENT_PARK_MAX)
		conn_send_error(c, h->req_id, EAGAIN, "%u execs parked "
				"already", AGENT_PARK_MAX);
	else {
		policy_lock();
		exec_start(c, h->req_id, r);
	}
	free(r->argv);
	free(r->envp);
	free(r);
	return 0;
}
