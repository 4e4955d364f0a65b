/* submit.c: what a request asks of the runner — a new run (checked,
 * recorded, queued), a cancel, a resume — and the files a run's
 * directory holds (its spec when inline, its input, its resume outputs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "serve.h"
#include "../history/history.h"
#include "../spec/spec.h"
#include "../util/util.h"

#define SPEC_FILE_MAX (1u << 20)

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

