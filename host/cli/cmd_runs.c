/* cmd_runs.c: the run history from the command line.
 *
 *   voidbox runs ls [--state S] [--limit N]     newest first
 *   voidbox runs show RUN                       the run and its stages
 *   voidbox logs RUN [-f]                       its events (-f: until it ends)
 *   voidbox cancel RUN                          (needs the daemon)
 *   voidbox resume RUN [--force] [--detach]     (needs the daemon)
 *
 * ls, show and logs read the history file itself (--store DB, else the
 * default), so they work with no daemon running; --daemon ADDR (or
 * $VOIDBOX_DAEMON) asks a daemon instead, local or remote.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../history/history.h"
#include "../serve/serve.h"
#include "../util/util.h"

struct runs_opts {
	const char *store, *daemon, *state, *id;
	unsigned limit;
	bool follow, force, detach;
};

static int parse(int argc, char **argv, int first, struct runs_opts *o,
		 const char *cmd)
{
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long long n;
		if (!strcmp(a, "--store") && v)
			o->store = argv[++i];
		else if (!strcmp(a, "--daemon") && v)
			o->daemon = argv[++i];
		else if (!strcmp(a, "--state") && v)
			o->state = argv[++i];
		else if (!strcmp(a, "--limit") && v) {
			if (args_uint("--limit", argv[++i], 1, 1000, &n) < 0)
				return -1;
			o->limit = (unsigned)n;
		} else if (!strcmp(a, "-f") || !strcmp(a, "--follow"))
			o->follow = true;
		else if (!strcmp(a, "--force"))
			o->force = true;
		else if (!strcmp(a, "--detach"))
			o->detach = true;
		else if (a[0] != '-' && !o->id)
			o->id = a;
		else {
			log_warnx("%s: unexpected argument '%s'", cmd, a);
			return -1;
		}
	}
	return 0;
}

/* The history, read-only; NULL (said why). *none: there is none yet
 * (nothing was ever run by a daemon here), which ls shows as no runs. */
static struct hist *open_store(const struct runs_opts *o, bool *none)
{
	char path[4096], err[600];
	if (o->store)
		snprintf(path, sizeof(path), "%s", o->store);
	else if (hist_default_path(path, sizeof(path)) < 0) {
		log_warnx("no run history: set HOME, XDG_STATE_HOME or "
			  "VOIDBOX_STORE");
		return NULL;
	}
	if (none && access(path, F_OK) < 0 && errno == ENOENT) {
		*none = true;
		return NULL;
	}
	struct hist *h = hist_open(path, true, err, sizeof(err));
	if (!h)
		log_warnx("%s", err);
	return h;
}

/* A request to the daemon; the reply's JSON when its status is below
 * `ok_below`, else NULL with the daemon's message said. */
static cJSON *daemon_json(const char *addr, const char *method,
			  const char *path, const char *body, int ok_below,
			  int *status)
{
	struct dresp r;
	char err[512];
	if (daemon_request(addr, method, path, body, body ? strlen(body) : 0,
			   &r, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return NULL;
	}
	*status = r.status;
	cJSON *doc = cJSON_Parse(r.body);
	if (r.status >= ok_below) {
		const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(doc, "error"),
			"message"));
		log_warnx("daemon: %d %s", r.status, m ? m : r.body);
		cJSON_Delete(doc);
		doc = NULL;
	}
	free(r.body);
	return doc;
}

static cJSON *daemon_get(const char *addr, const char *path, int *status)
{
	return daemon_json(addr, "GET", path, NULL, 201, status);
}

static const char *daemon_opt(const struct runs_opts *o, char *buf,
			      size_t len)
{
	const char *e = getenv("VOIDBOX_DAEMON");
	if (o->daemon || (e && *e))
		return daemon_addr(o->daemon, buf, len);
	return NULL;
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o,
									      k));
	return s ? s : "";
}

static void when(double ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void print_json(cJSON *doc)
{
	char *s = cJSON_Print(doc);
	if (s)
		printf("%s\n", s);
	cJSON_free(s);
}

static int runs_ls(const struct cli_globals *g, const struct runs_opts *o)
{
	char buf[256];
	const char *addr = daemon_opt(o, buf, sizeof(buf));
	cJSON *runs = NULL, *doc = NULL;
	unsigned limit = o->limit ? o->limit : 20;
	if (addr) {
		char path[200];
		int st;
		snprintf(path, sizeof(path), "/v1/runs?limit=%u%s%s", limit,
			 o->state ? "&state=" : "", o->state ? o->state : "");
		if (!(doc = daemon_get(addr, path, &st)))
			return VB_EXIT_FAIL;
		runs = cJSON_DetachItemFromObjectCaseSensitive(doc, "runs");
		cJSON_Delete(doc);
	} else {
		bool none = false;
		struct hist *h = open_store(o, &none);
		if (!h && !none)
			return VB_EXIT_FAIL;
		runs = h ? hist_runs_list(h, o->state, limit, NULL)
			 : cJSON_CreateArray();
		hist_close(h);
	}
	if (!runs)
		return VB_EXIT_FAIL;
	if (g->json) {
		print_json(runs);
	} else {
		printf("%-28s %-11s %-20s %-20s %8s %9s %8s\n", "RUN", "STATE",
		       "NAME", "CREATED", "SECONDS", "TOKENS", "COST");
		const cJSON *r;
		cJSON_ArrayForEach(r, runs) {
			char c[32];
			when(num(r, "created_ms"), c, sizeof(c));
			double s = num(r, "ended_ms") && num(r, "started_ms")
				   ? (num(r, "ended_ms") - num(r, "started_ms"))
				     / 1000 : 0;
			printf("%-28s %-11s %-20.20s %-20s %8.1f %9.0f %8.4f\n",
			       str(r, "id"), str(r, "state"), str(r, "name"), c,
			       s, num(r, "tokens_in") + num(r, "tokens_out"),
			       num(r, "cost_usd"));
		}
	}
	cJSON_Delete(runs);
	return VB_EXIT_OK;
}

static int runs_show(const struct cli_globals *g, const struct runs_opts *o)
{
	char buf[256];
	const char *addr = daemon_opt(o, buf, sizeof(buf));
	cJSON *run = NULL;
	if (!o->id) {
		log_warnx("runs show: which run?");
		return VB_EXIT_USAGE;
	}
	if (addr) {
		char path[160];
		int st;
		snprintf(path, sizeof(path), "/v1/runs/%s", o->id);
		run = daemon_get(addr, path, &st);
	} else {
		struct hist *h = open_store(o, NULL);
		if (!h)
			return VB_EXIT_FAIL;
		run = hist_run_get(h, o->id);
		hist_close(h);
		if (!run)
			log_warnx("runs show: no run %s", o->id);
	}
	if (!run)
		return VB_EXIT_FAIL;
	if (g->json) {
		print_json(run);
	} else {
		char c[32];
		when(num(run, "created_ms"), c, sizeof(c));
		printf("run %s  %s  %s (%s)  created %s\n", str(run, "id"),
		       str(run, "state"), str(run, "name"), str(run, "kind"), c);
		if (*str(run, "error"))
			printf("error: %s\n", str(run, "error"));
		if (*str(run, "resumed_from"))
			printf("resumed from: %s\n", str(run, "resumed_from"));
		printf("tokens in %.0f, out %.0f, cost $%.4f, %.0f events\n",
		       num(run, "tokens_in"), num(run, "tokens_out"),
		       num(run, "cost_usd"), num(run, "events"));
		const cJSON *s;
		cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(run,
								       "stages"))
			printf("  %-24s %-9s %s%s%s\n", str(s, "name"),
			       str(s, "status"), cJSON_IsTrue(
				       cJSON_GetObjectItemCaseSensitive(s,
						"resumed")) ? "(resumed) " : "",
			       *str(s, "error") ? "error: " : "",
			       str(s, "error"));
	}
	cJSON_Delete(run);
	return VB_EXIT_OK;
}

int cmd_runs(const struct cli_globals *g, int argc, char **argv)
{
	struct runs_opts o = { 0 };
	if (argc < 2 || parse(argc, argv, 2, &o, "runs") < 0) {
		fprintf(stderr, "usage: voidbox runs ls [--state S] [--limit N] "
			"[--store DB | --daemon ADDR]\n"
			"       voidbox runs show RUN [--store DB | --daemon "
			"ADDR]\n");
		return VB_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "ls") || !strcmp(argv[1], "list"))
		return runs_ls(g, &o);
	if (!strcmp(argv[1], "show"))
		return runs_show(g, &o);
	log_warnx("runs: ls or show, not '%s'", argv[1]);
	return VB_EXIT_USAGE;
}

/* logs from the history file: pages of events, and with -f more as they
 * are written (by the daemon, in another process) until the run ends. */
static int logs_store(const struct cli_globals *g, const struct runs_opts *o)
{
	struct hist *h = open_store(o, NULL);
	if (!h)
		return VB_EXIT_FAIL;
	int64_t after = 0;
	int rc = VB_EXIT_OK;
	for (;;) {
		bool ended = false;
		cJSON *page = hist_events(h, o->id, after, 500, &ended);
		if (!page) {
			log_warnx("logs: no run %s", o->id);
			rc = VB_EXIT_FAIL;
			break;
		}
		const cJSON *ev;
		int n = 0;
		cJSON_ArrayForEach(ev, page) {
			print_event(ev, g->json);
			after = (int64_t)num(ev, "seq");
			n++;
		}
		cJSON_Delete(page);
		if (ended || (!o->follow && n < 500))
			break;
		if (!n)
			usleep(250000);
	}
	hist_close(h);
	return rc;
}

int cmd_logs(const struct cli_globals *g, int argc, char **argv)
{
	struct runs_opts o = { 0 };
	if (parse(argc, argv, 1, &o, "logs") < 0 || !o.id) {
		fprintf(stderr, "usage: voidbox logs RUN [-f] [--store DB | "
			"--daemon ADDR]\n");
		return VB_EXIT_USAGE;
	}
	char buf[256];
	const char *addr = daemon_opt(&o, buf, sizeof(buf));
	if (!addr)
		return logs_store(g, &o);
	if (o.follow) {
		return daemon_follow(addr, o.id, g->json) < 0 ? VB_EXIT_FAIL
							      : VB_EXIT_OK;
	}
	char path[200];
	int st;
	snprintf(path, sizeof(path), "/v1/runs/%s/events?follow=false", o.id);
	struct dresp r;
	char err[512];
	if (daemon_request(addr, "GET", path, NULL, 0, &r, err,
			   sizeof(err)) < 0) {
		log_warnx("logs: %s", err);
		return VB_EXIT_FAIL;
	}
	st = r.status;
	for (char *l = r.body, *nl; st == 200 && l && *l; l = nl + 1) {
		nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		cJSON *ev = !strncmp(l, "data: ", 6) ? cJSON_Parse(l + 6) : NULL;
		if (ev)
			print_event(ev, g->json);
		cJSON_Delete(ev);
		if (!nl)
			break;
	}
	if (st != 200)
		log_warnx("logs: the daemon answered %d: %s", st, r.body);
	free(r.body);
	return st == 200 ? VB_EXIT_OK : VB_EXIT_FAIL;
}

static cJSON *daemon_post(const char *addr, const char *path,
			  const char *body, int *status)
{
	return daemon_json(addr, "POST", path, body, 300, status);
}

int cmd_cancel(const struct cli_globals *g, int argc, char **argv)
{
	struct runs_opts o = { 0 };
	if (parse(argc, argv, 1, &o, "cancel") < 0 || !o.id) {
		fprintf(stderr, "usage: voidbox cancel RUN [--daemon ADDR]\n");
		return VB_EXIT_USAGE;
	}
	char buf[256], path[160];
	const char *addr = daemon_addr(o.daemon, buf, sizeof(buf));
	int st = 0;
	snprintf(path, sizeof(path), "/v1/runs/%s/cancel", o.id);
	cJSON *doc = addr ? daemon_post(addr, path, NULL, &st) : NULL;
	if (!doc)
		return st == 409 ? VB_EXIT_OK : VB_EXIT_FAIL;
	if (g->json)
		print_json(doc);
	else
		fprintf(stderr, "[run] %s: cancelling\n", o.id);
	cJSON_Delete(doc);
	return VB_EXIT_OK;
}

int cmd_resume(const struct cli_globals *g, int argc, char **argv)
{
	struct runs_opts o = { 0 };
	if (parse(argc, argv, 1, &o, "resume") < 0 || !o.id) {
		fprintf(stderr, "usage: voidbox resume RUN [--force] [--detach] "
			"[--daemon ADDR]\n");
		return VB_EXIT_USAGE;
	}
	char buf[256], path[160];
	const char *addr = daemon_addr(o.daemon, buf, sizeof(buf));
	int st = 0;
	snprintf(path, sizeof(path), "/v1/runs/%s/resume", o.id);
	cJSON *doc = addr ? daemon_post(addr, path, o.force
					? "{\"force\":true}" : NULL, &st) : NULL;
	if (!doc)
		return st == 409 || st == 400 ? VB_EXIT_USAGE : VB_EXIT_FAIL;
	char id[64];
	snprintf(id, sizeof(id), "%s", str(doc, "id"));
	if (o.detach)
		printf("%s\n", id);
	else
		log_say("voidbox", "run %s resumes %s", id, o.id);
	cJSON_Delete(doc);
	if (o.detach)
		return VB_EXIT_OK;
	int rc = daemon_follow(addr, id, g->json);
	return rc < 0 ? VB_EXIT_FAIL : rc;
}
