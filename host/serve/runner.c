/* runner.c: the daemon's runs. A submitted run is checked (the spec must
 * load), recorded, queued, and started when one of max_runs slots is
 * free: as a child `voidbox run` process — its own failure domain (a
 * crash, a leak, a hostile guest's worst costs that run only), stopped by
 * a signal (cancel: SIGTERM, which stops its VMs; SIGKILL to its process
 * group after a grace period), and tied to the daemon (PDEATHSIG: a
 * daemon killed with -9 takes its runs down; the restart marks them
 * interrupted).
 *
 * What the child says comes back on three pipes: its events (--events-fd,
 * JSON lines: host/cli/events.c), its log (stderr in the JSON log
 * format) and its report (stdout, --output json). Each event and log line
 * goes into the history as it arrives, the report at the end; clients
 * waiting on events are woken by a generation counter.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "serve.h"
#include "../history/history.h"
#include "../util/util.h"

#define LINE_MAX_EV   (64u << 10)	/* one event or log line */
#define REPORT_MAX    (256u << 20)	/* the child's report */

struct hist *runner_hist(struct serve_state *st)
{
	return st->h;
}

bool runner_stopping(struct serve_state *st)
{
	pthread_mutex_lock(&st->lock);
	bool s = st->stopping;
	pthread_mutex_unlock(&st->lock);
	return s;
}

static void bump(struct serve_state *st)
{
	pthread_mutex_lock(&st->lock);
	st->gen++;
	pthread_cond_broadcast(&st->ev_cv);
	pthread_mutex_unlock(&st->lock);
}

uint64_t runner_wait_events(struct serve_state *st, uint64_t gen,
			    unsigned timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&st->lock);
	while (st->gen == gen && !st->stopping)
		if (pthread_cond_timedwait(&st->ev_cv, &st->lock, &ts))
			break;
	gen = st->gen;
	pthread_mutex_unlock(&st->lock);
	return gen;
}

/* An event of the run, recorded and announced. */
static void event(struct serve_state *st, const char *id, cJSON *ev)
{
	hist_event_add(st->h, id, ev, NULL);
	cJSON_Delete(ev);
	bump(st);
}

void run_event(struct serve_state *st, const char *id,
		      const char *state, int code, const char *error)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "run");
	cJSON_AddStringToObject(ev, "state", state);
	if (run_state_ended(state))
		cJSON_AddNumberToObject(ev, "exit_code", code);
	if (error)
		cJSON_AddStringToObject(ev, "error", error);
	event(st, id, ev);
}

/* The run's end: the event first, then the state, so a client that sees
 * the state ended has every event (sse.c). */
void run_end(struct serve_state *st, const char *id,
		    const char *state, int code, const char *error)
{
	run_event(st, id, state, code, error);
	hist_run_state(st->h, id, state, code, error);
	bump(st);
}

/* --- the child -------------------------------------------------------- */

static pid_t spawn(struct run *r, int evw, int outw, int errw)
{
	char run_dir[PATH_MAX + 8], input[PATH_MAX + 8], resume[PATH_MAX + 16];
	snprintf(run_dir, sizeof(run_dir), "%s/run", r->dir);
	snprintf(input, sizeof(input), "%s/input", r->dir);
	snprintf(resume, sizeof(resume), "%s/resume.json", r->dir);
	const char *argv[24];
	int a = 0;
	argv[a++] = "voidbox";
	argv[a++] = "--log-format";
	argv[a++] = "json";
	argv[a++] = "run";
	argv[a++] = "--file";
	argv[a++] = r->spec_file;
	argv[a++] = "--output";
	argv[a++] = "json";
	argv[a++] = "--events-fd";
	argv[a++] = "3";
	argv[a++] = "--run-dir";
	argv[a++] = run_dir;
	if (r->input) {
		argv[a++] = "--input-file";
		argv[a++] = input;
	}
	if (r->resume) {
		argv[a++] = "--resume-outputs";
		argv[a++] = resume;
	}
	argv[a] = NULL;
	/* The run's environment is the daemon's, without VOIDBOX_DAEMON:
	 * with it, `voidbox run` would submit itself back to us. Built
	 * before fork (the child may only make async-signal-safe calls). */
	extern char **environ;
	size_t ne = 0;
	while (environ[ne])
		ne++;
	char **envp = malloc((ne + 1) * sizeof(*envp));
	if (!envp)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < ne; i++)
		if (strncmp(environ[i], "VOIDBOX_DAEMON=", 15))
			envp[k++] = environ[i];
	envp[k] = NULL;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0) {
		free(envp);
		return pid;
	}
	/* The child: only async-signal-safe calls until exec. */
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	int nul = open("/dev/null", O_RDONLY);
	if (nul < 0 || dup2(nul, 0) < 0 || dup2(outw, 1) < 0 ||
	    dup2(errw, 2) < 0 || dup2(evw, 3) < 0)
		_exit(127);
	if (syscall(SYS_close_range, 4u, ~0u, 0u) < 0)
		for (int fd = 4; fd < 4096; fd++)
			close(fd);
	if (r->workdir[0] && chdir(r->workdir) < 0)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	execve("/proc/self/exe", (char *const *)argv, envp);
	_exit(127);
}

/* Lines from one pipe. */
struct lines {
	int fd;
	char *buf;
	size_t n;
	bool skip;	/* inside an overlong line: drop to its end */
};

static void log_line(struct serve_state *st, const char *id, char *l)
{
	cJSON *in = cJSON_Parse(l), *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "log");
	const cJSON *lv = cJSON_GetObjectItemCaseSensitive(in, "level");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(in, "source");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(in, "msg");
	if (cJSON_IsString(msg)) {
		cJSON_AddStringToObject(ev, "level", cJSON_IsString(lv)
					? lv->valuestring : "info");
		cJSON_AddStringToObject(ev, "source", cJSON_IsString(src)
					? src->valuestring : "voidbox");
		cJSON_AddStringToObject(ev, "msg", msg->valuestring);
	} else {
		/* Not the JSON log format (a crash message): as text. */
		for (char *c = l; *c; c++)
			if ((unsigned char)*c < 32 && *c != '\t')
				*c = '?';
		cJSON_AddStringToObject(ev, "level", "info");
		cJSON_AddStringToObject(ev, "source", "voidbox");
		cJSON_AddStringToObject(ev, "msg", l);
	}
	cJSON_Delete(in);
	event(st, id, ev);
}

static void event_line(struct serve_state *st, const char *id, char *l)
{
	cJSON *ev = cJSON_Parse(l);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	/* Only our own event types; a run cannot forge "run" events. */
	if (!cJSON_IsObject(ev) || !cJSON_IsString(t) ||
	    !strcmp(t->valuestring, "run") || !strcmp(t->valuestring, "log")) {
		cJSON_Delete(ev);
		return;
	}
	event(st, id, ev);
}

/* Feed what fd has; 0 at EOF. */
static int pump(struct serve_state *st, const char *id, struct lines *L,
		bool events)
{
	char chunk[16384];
	ssize_t k = read(L->fd, chunk, sizeof(chunk));
	if (k < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (k == 0)
		return 0;
	for (ssize_t i = 0; i < k; i++) {
		char c = chunk[i];
		if (c != '\n') {
			if (L->skip)
				continue;
			if (L->n == LINE_MAX_EV) {
				L->skip = true;
				L->n = 0;
				continue;
			}
			L->buf[L->n++] = c;
			continue;
		}
		if (!L->skip && L->n) {
			L->buf[L->n] = '\0';
			if (events)
				event_line(st, id, L->buf);
			else
				log_line(st, id, L->buf);
		}
		L->skip = false;
		L->n = 0;
	}
	return 1;
}

/* The error a failed run's report names. */
static void report_error(const cJSON *doc, char *out, size_t len)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(doc, "failed_stage");
	const cJSON *stages = cJSON_GetObjectItemCaseSensitive(doc, "stages");
	const cJSON *s;
	out[0] = '\0';
	if (cJSON_IsString(f))
		cJSON_ArrayForEach(s, stages) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "name");
			const cJSON *se = cJSON_GetObjectItemCaseSensitive(s, "error");
			if (cJSON_IsString(n) && cJSON_IsString(se) &&
			    !strcmp(n->valuestring, f->valuestring)) {
				snprintf(out, len, "stage %s: %s", f->valuestring,
					 se->valuestring);
				return;
			}
		}
	if (cJSON_IsString(e))
		snprintf(out, len, "%s", e->valuestring);
	else if (cJSON_IsString(f))
		snprintf(out, len, "stage %s failed", f->valuestring);
}


static void finish(struct serve_state *st, struct run *r)
{
	pthread_mutex_lock(&st->lock);
	for (struct run **p = &st->active; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	st->nactive--;
	pthread_cond_broadcast(&st->idle_cv);
	pthread_mutex_unlock(&st->lock);
	free(r);
	dispatch(st);
}

struct run_thread {
	struct serve_state *st;
	struct run *r;
};

static void *run_thread(void *arg)
{
	struct run_thread *t = arg;
	struct serve_state *st = t->st;
	struct run *r = t->r;
	free(t);
	int ev[2], out[2], er[2];
	if (pipe2(ev, O_CLOEXEC) || pipe2(out, O_CLOEXEC) ||
	    pipe2(er, O_CLOEXEC)) {
		run_end(st, r->id, RUN_FAILED, 1, "cannot make pipes");
		finish(st, r);
		return NULL;
	}
	hist_run_state(st->h, r->id, RUN_RUNNING, 0, NULL);
	run_event(st, r->id, RUN_RUNNING, 0, NULL);
	pid_t pid = spawn(r, ev[1], out[1], er[1]);
	close(ev[1]);
	close(out[1]);
	close(er[1]);
	if (pid < 0) {
		close(ev[0]), close(out[0]), close(er[0]);
		run_end(st, r->id, RUN_FAILED, 1, "cannot start the run");
		finish(st, r);
		return NULL;
	}
	pthread_mutex_lock(&st->lock);
	r->pid = pid;
	bool cancel_now = r->cancel;
	pthread_mutex_unlock(&st->lock);
	if (cancel_now)
		kill(pid, SIGTERM);
	struct lines le = { .fd = ev[0], .buf = malloc(LINE_MAX_EV + 1) };
	struct lines ll = { .fd = er[0], .buf = malloc(LINE_MAX_EV + 1) };
	if (!le.buf || !ll.buf)
		killpg(pid, SIGKILL);	/* nobody would read its pipes */
	char *rep = NULL;
	size_t rn = 0, rcap = 0;
	bool open_[3] = { true, true, true }, killed = false;
	while ((open_[0] || open_[1] || open_[2]) && le.buf && ll.buf) {
		struct pollfd pf[3] = {
			{ .fd = open_[0] ? ev[0] : -1, .events = POLLIN },
			{ .fd = open_[1] ? er[0] : -1, .events = POLLIN },
			{ .fd = open_[2] ? out[0] : -1, .events = POLLIN },
		};
		poll(pf, 3, 1000);
		if (pf[0].revents)
			open_[0] = pump(st, r->id, &le, true);
		if (pf[1].revents)
			open_[1] = pump(st, r->id, &ll, false);
		if (pf[2].revents) {
			if (rn + 65536 > rcap && rcap < REPORT_MAX) {
				char *n = realloc(rep, rcap + (1u << 20));
				if (n) {
					rep = n;
					rcap += 1u << 20;
				}
			}
			char sink[4096];
			ssize_t k = rn + 65536 <= rcap
				    ? read(out[0], rep + rn, 65536)
				    : read(out[0], sink, sizeof(sink));
			if (k > 0 && rn + 65536 <= rcap)
				rn += (size_t)k;
			else if (k == 0 || (k < 0 && errno != EINTR))
				open_[2] = false;
		}
		pthread_mutex_lock(&st->lock);
		bool late = r->cancel && !killed &&
			    mono_ns() - r->cancel_ns > CANCEL_GRACE_NS;
		pthread_mutex_unlock(&st->lock);
		if (late) {
			/* It did not stop on SIGTERM: its whole group goes. */
			killpg(pid, SIGKILL);
			killed = true;
		}
	}
	free(le.buf);
	free(ll.buf);
	close(ev[0]), close(out[0]), close(er[0]);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	int code = WIFEXITED(ws) ? WEXITSTATUS(ws)
		   : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
	char err[600] = "";
	cJSON *doc = rep ? cJSON_ParseWithLength(rep, rn) : NULL;
	if (doc) {
		const cJSON *stg = cJSON_GetObjectItemCaseSensitive(doc, "stages");
		if (cJSON_IsArray(stg)) {
			rep[rn] = '\0';	/* rn < rcap: reads leave room */
			hist_run_report(st->h, r->id, rep);
		}
		report_error(doc, err, sizeof(err));
	}
	cJSON_Delete(doc);
	free(rep);
	pthread_mutex_lock(&st->lock);
	bool cancelled = r->cancel, shutdown = r->shutdown;
	pthread_mutex_unlock(&st->lock);
	const char *state = code == 0 ? RUN_SUCCEEDED
			    : shutdown ? RUN_INTERRUPTED
			    : cancelled ? RUN_CANCELLED : RUN_FAILED;
	if (code != 0 && !err[0])
		snprintf(err, sizeof(err), "%s", shutdown
			 ? "the daemon was stopped" : cancelled
			 ? "cancelled" : WIFSIGNALED(ws)
			 ? "the run process was killed"
			 : "the run failed (see its log events)");
	if (code == 0)
		err[0] = '\0';
	run_end(st, r->id, state, code, err[0] ? err : NULL);
	finish(st, r);
	return NULL;
}

/* Start queued runs while slots are free. */
void dispatch(struct serve_state *st)
{
	for (;;) {
		pthread_mutex_lock(&st->lock);
		struct run *r = NULL;
		if (!st->stopping && st->qhead &&
		    st->nactive < st->cfg.max_runs) {
			r = st->qhead;
			st->qhead = r->next;
			if (!st->qhead)
				st->qtail = NULL;
			st->nqueued--;
			r->next = st->active;
			st->active = r;
			st->nactive++;
		}
		pthread_mutex_unlock(&st->lock);
		if (!r)
			return;
		struct run_thread *t = malloc(sizeof(*t));
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&at, 256u << 10);
		if (t) {
			*t = (struct run_thread){ .st = st, .r = r };
			if (pthread_create(&th, &at, run_thread, t) == 0) {
				pthread_attr_destroy(&at);
				continue;
			}
			free(t);
		}
		pthread_attr_destroy(&at);
		run_end(st, r->id, RUN_FAILED, 1, "cannot start a thread");
		finish(st, r);
		return;
	}
}

struct serve_state *runner_start(struct hist *h, const struct serve_cfg *c)
{
	struct serve_state *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->h = h;
	st->cfg = *c;
	if (!st->cfg.max_runs)
		st->cfg.max_runs = 2;
	if (hist_runs_dir(h, st->runs_dir, sizeof(st->runs_dir)) < 0) {
		free(st);
		return NULL;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&st->ev_cv, NULL);
	pthread_cond_init(&st->idle_cv, NULL);
	pthread_condattr_destroy(&ca);
	return st;
}

void runner_stop(struct serve_state *st)
{
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_broadcast(&st->ev_cv);
	struct run *q = st->qhead;
	st->qhead = st->qtail = NULL;
	st->nqueued = 0;
	for (struct run *r = st->active; r; r = r->next) {
		r->cancel = r->shutdown = true;
		r->cancel_ns = mono_ns();
		if (r->pid > 0)
			kill(r->pid, SIGTERM);
	}
	pthread_mutex_unlock(&st->lock);
	while (q) {
		struct run *n = q->next;
		run_end(st, q->id, RUN_INTERRUPTED, 1, "the daemon was stopped "
			"before the run started");
		free(q);
		q = n;
	}
	/* Runs stop their VMs on SIGTERM; past the grace their groups are
	 * killed by their threads (run_thread). */
	pthread_mutex_lock(&st->lock);
	uint64_t t0 = mono_ns();
	while (st->nactive && mono_ns() - t0 < CANCEL_GRACE_NS + 5000000000ull) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&st->idle_cv, &st->lock, &ts);
	}
	pthread_mutex_unlock(&st->lock);
}
