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
#include <dirent.h>
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
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "serve.h"
#include "../history/history.h"
#include "../spec/spec.h"
#include "../util/util.h"

#define LINE_MAX_EV   (64u << 10)	/* one event or log line */
#define REPORT_MAX    (256u << 20)	/* the child's report */
#define CANCEL_GRACE_NS (20ull * 1000000000)
#define SPEC_FILE_MAX (1u << 20)

struct run {
	char id[48];
	char dir[PATH_MAX];
	char spec_file[PATH_MAX];
	char workdir[PATH_MAX];
	bool input, resume;
	pid_t pid;
	bool cancel, shutdown;
	uint64_t cancel_ns;
	struct run *next;
};

struct serve_state {
	struct hist *h;
	struct serve_cfg cfg;
	char runs_dir[PATH_MAX];
	pthread_mutex_t lock;
	pthread_cond_t ev_cv, idle_cv;
	uint64_t gen;
	struct run *qhead, *qtail, *active;
	unsigned nqueued, nactive;
	bool stopping;
};

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

static void run_event(struct serve_state *st, const char *id,
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
static void run_end(struct serve_state *st, const char *id,
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
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
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
	execv("/proc/self/exe", (char *const *)argv);
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

static void dispatch(struct serve_state *st);

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
		if (cJSON_IsArray(stg) && rep) {
			rep[rn] = '\0';
			char *js = cJSON_PrintUnformatted(doc);
			if (js)
				hist_run_report(st->h, r->id, js);
			cJSON_free(js);
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
static void dispatch(struct serve_state *st)
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

/* --- submission ------------------------------------------------------- */

/* run-YYYYMMDD-HHMMSS-xxxxxx: sortable by eye, unique by its random
 * tail (and the history's primary key). */
static void new_id(char *out, size_t len)
{
	uint8_t rnd[3] = { 0 };
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = mono_ns();
		memcpy(rnd, &t, sizeof(rnd));
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	snprintf(out, len, "run-%04d%02d%02d-%02d%02d%02d-%02x%02x%02x",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return close(fd);
}

/* A spec file's text, bounded: NULL with errno (EFBIG past the bound). */
static char *read_spec(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > SPEC_FILE_MAX) {
		errno = S_ISREG(sb.st_mode) ? EFBIG : EINVAL;
		close(fd);
		return NULL;
	}
	char *t = malloc((size_t)sb.st_size + 1);
	ssize_t n = t ? read(fd, t, (size_t)sb.st_size) : -1;
	close(fd);
	if (n != (ssize_t)sb.st_size) {
		free(t);
		errno = EIO;
		return NULL;
	}
	t[n] = '\0';
	return t;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX + 300];
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

static cJSON *err_doc(const char *code, const char *msg)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(doc, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	return doc;
}

/* The spec's errors, as the API's error document. Inline specs name
 * themselves "spec" rather than the file the daemon saved them in. */
static cJSON *spec_err_doc(const struct spec_errors *e, const char *file,
			   const char *shown)
{
	char msg[300];
	snprintf(msg, sizeof(msg), "%s: %zu error%s; nothing was run", shown,
		 e->n, e->n == 1 ? "" : "s");
	cJSON *doc = err_doc("invalid_spec", msg);
	cJSON *a = cJSON_AddArrayToObject(
		cJSON_GetObjectItemCaseSensitive(doc, "error"), "errors");
	size_t fl = strlen(file);
	for (size_t i = 0; i < e->n; i++) {
		const char *m = e->msg[i];
		char buf[2048];
		if (!strncmp(m, file, fl)) {
			snprintf(buf, sizeof(buf), "%s%s", shown, m + fl);
			m = buf;
		}
		cJSON_AddItemToArray(a, cJSON_CreateString(m));
	}
	return doc;
}

cJSON *runner_submit(struct serve_state *st, const struct submit *s,
		     int *status, cJSON **err)
{
	struct run *r = calloc(1, sizeof(*r));
	char *text = NULL;
	if (!r) {
		*status = 503;
		*err = err_doc("busy", "out of memory");
		return NULL;
	}
	pthread_mutex_lock(&st->lock);
	bool full = st->nqueued >= SERVE_QUEUE_MAX, stopping = st->stopping;
	pthread_mutex_unlock(&st->lock);
	if (full || stopping) {
		*status = 503;
		*err = err_doc("busy", stopping ? "the daemon is stopping"
					       : "the run queue is full");
		free(r);
		return NULL;
	}
	if (s->workdir && (s->workdir[0] != '/' ||
			   strlen(s->workdir) >= sizeof(r->workdir))) {
		*status = 400;
		*err = err_doc("bad_request", "workdir: an absolute path");
		free(r);
		return NULL;
	}
	snprintf(r->workdir, sizeof(r->workdir), "%s", s->workdir ? s->workdir
						      : "");
	new_id(r->id, sizeof(r->id));
	snprintf(r->dir, sizeof(r->dir), "%s/%s", st->runs_dir, r->id);
	if (mkdir(st->runs_dir, 0700) < 0 && errno != EEXIST) {
		*status = 500;
		*err = err_doc("internal", "cannot make the runs directory");
		free(r);
		return NULL;
	}
	if (mkdir(r->dir, 0700) < 0) {
		*status = 500;
		*err = err_doc("internal", "cannot make the run's directory");
		free(r);
		return NULL;
	}
	const char *shown;
	if (s->spec_text) {
		snprintf(r->spec_file, sizeof(r->spec_file), "%s/spec.yaml",
			 r->dir);
		text = strdup(s->spec_text);
		shown = "spec";
		if (!text || write_file(r->spec_file, s->spec_text,
					strlen(s->spec_text)) < 0) {
			*status = 500;
			*err = err_doc("internal", "cannot save the spec");
			goto bad;
		}
	} else {
		char fp[PATH_MAX * 2 + 2];
		if (s->spec_path[0] == '/' || !r->workdir[0])
			snprintf(fp, sizeof(fp), "%s", s->spec_path);
		else
			snprintf(fp, sizeof(fp), "%s/%s", r->workdir,
				 s->spec_path);
		if (fp[0] != '/' || strlen(fp) >= sizeof(r->spec_file)) {
			*status = 400;
			*err = err_doc("bad_request", "spec_path: an absolute "
				       "path, or relative to workdir");
			goto bad;
		}
		snprintf(r->spec_file, sizeof(r->spec_file), "%s", fp);
		shown = r->spec_file;
		if (!(text = read_spec(r->spec_file))) {
			char m[PATH_MAX + 100];
			snprintf(m, sizeof(m), "%s: %s", r->spec_file,
				 errno == EFBIG ? "larger than 1 MiB"
						: strerror(errno));
			*status = 400;
			*err = err_doc("bad_spec_path", m);
			goto bad;
		}
	}
	struct spec_errors se = { 0 };
	struct spec_doc d;
	if (spec_open(r->spec_file, &d, &se) < 0) {
		*status = 400;
		*err = spec_err_doc(&se, r->spec_file, shown);
		spec_close(&d);
		spec_errors_free(&se);
		goto bad;
	}
	const struct node *nm = doc_get(d.root, "name");
	char kind[16], name[128];
	snprintf(kind, sizeof(kind), "%s", d.kind);
	snprintf(name, sizeof(name), "%s", nm && nm->str ? nm->str : "");
	spec_close(&d);
	spec_errors_free(&se);
	if (s->resume_outputs && strcmp(kind, "agent") &&
	    strcmp(kind, "pipeline")) {
		*status = 409;
		*err = err_doc("not_resumable", "only agent and pipeline runs "
			       "resume");
		goto bad;
	}
	char p[PATH_MAX + 16];
	if (s->input) {
		snprintf(p, sizeof(p), "%s/input", r->dir);
		r->input = write_file(p, s->input, s->input_len) == 0;
	}
	if (s->resume_outputs) {
		char *js = cJSON_PrintUnformatted(s->resume_outputs);
		snprintf(p, sizeof(p), "%s/resume.json", r->dir);
		r->resume = js && write_file(p, js, strlen(js)) == 0;
		cJSON_free(js);
	}
	if ((s->input && !r->input) || (s->resume_outputs && !r->resume)) {
		*status = 500;
		*err = err_doc("internal", "cannot save the run's input");
		goto bad;
	}
	struct hist_run hr = {
		.id = r->id, .name = name, .kind = kind,
		.spec_path = s->spec_text ? NULL : r->spec_file,
		.spec_text = text, .input = s->input,
		.input_len = s->input_len, .run_dir = r->dir,
		.resumed_from = s->resumed_from,
	};
	if (hist_run_add(st->h, &hr) < 0) {
		*status = 500;
		*err = err_doc("internal", "cannot record the run");
		goto bad;
	}
	free(text);
	run_event(st, r->id, RUN_QUEUED, 0, NULL);
	char id[48];
	snprintf(id, sizeof(id), "%s", r->id);
	pthread_mutex_lock(&st->lock);
	if (st->qtail)
		st->qtail->next = r;
	else
		st->qhead = r;
	st->qtail = r;
	st->nqueued++;
	pthread_mutex_unlock(&st->lock);
	dispatch(st);
	*status = 201;
	return hist_run_get(st->h, id);
bad:
	free(text);
	rm_dir(r->dir);
	free(r);
	return NULL;
}

int runner_cancel(struct serve_state *st, const char *id)
{
	pthread_mutex_lock(&st->lock);
	struct run **pp = &st->qhead, *prev = NULL;
	for (; *pp; prev = *pp, pp = &(*pp)->next)
		if (!strcmp((*pp)->id, id)) {
			struct run *r = *pp;
			*pp = r->next;
			if (st->qtail == r)
				st->qtail = prev;
			st->nqueued--;
			pthread_mutex_unlock(&st->lock);
			run_end(st, id, RUN_CANCELLED, 130, "cancelled before "
				"it started");
			free(r);
			return 0;
		}
	for (struct run *r = st->active; r; r = r->next)
		if (!strcmp(r->id, id)) {
			if (!r->cancel) {
				r->cancel = true;
				r->cancel_ns = mono_ns();
				if (r->pid > 0)
					kill(r->pid, SIGTERM);
			}
			pthread_mutex_unlock(&st->lock);
			return 0;
		}
	pthread_mutex_unlock(&st->lock);
	cJSON *o = hist_run_get(st->h, id);
	if (!o)
		return -ENOENT;
	cJSON_Delete(o);
	return -EALREADY;
}

cJSON *runner_resume(struct serve_state *st, const char *id, bool force,
		     int *status, cJSON **err)
{
	cJSON *info = hist_run_resume_info(st->h, id);
	if (!info) {
		*status = 404;
		*err = err_doc("not_found", "no such run");
		return NULL;
	}
	const char *state = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(info, "state"));
	const char *path = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(info, "spec_path"));
	const char *text = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(info, "spec_text"));
	const char *sha = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(info, "spec_sha256"));
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(info, "input");
	cJSON *res = NULL;
	char *now = NULL;
	if (!state || !run_state_ended(state) ||
	    !strcmp(state, RUN_SUCCEEDED)) {
		*status = 409;
		*err = err_doc("not_resumable", state && !strcmp(state,
			       RUN_SUCCEEDED) ? "the run succeeded: nothing to "
			       "resume" : "the run has not ended");
		goto out;
	}
	if (path) {
		/* The spec is read again from its file: refused when it
		 * changed since, unless forced. */
		char hex[65];
		if (!(now = read_spec(path))) {
			char m[PATH_MAX + 64];
			snprintf(m, sizeof(m), "%s: %s", path, strerror(errno));
			*status = 409;
			*err = err_doc("spec_gone", m);
			goto out;
		}
		sha256_hex(now, strlen(now), hex);
		if (sha && strcmp(hex, sha) && !force) {
			char m[PATH_MAX + 128];
			snprintf(m, sizeof(m), "%s changed since run %s; resume "
				 "with force to run the new one", path, id);
			*status = 409;
			*err = err_doc("spec_changed", m);
			goto out;
		}
	}
	struct submit sub = {
		.spec_path = path, .spec_text = path ? NULL : text,
		.input = cJSON_IsString(input) ? input->valuestring : NULL,
		.input_len = cJSON_IsString(input)
			     ? strlen(input->valuestring) : 0,
		.resumed_from = id,
		.resume_outputs = cJSON_GetObjectItemCaseSensitive(info,
								   "outputs"),
	};
	res = runner_submit(st, &sub, status, err);
	if (res) {
		/* The stages carried over, recorded as such now: the new
		 * run's report marks them too. */
		const cJSON *o;
		unsigned i = 0;
		const char *nid = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(res, "id"));
		cJSON_ArrayForEach(o, sub.resume_outputs)
			if (nid && cJSON_IsString(o))
				hist_stage_resumed(st->h, nid, o->string, i++,
						   o->valuestring,
						   strlen(o->valuestring));
	}
out:
	free(now);
	cJSON_Delete(info);
	return res;
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
