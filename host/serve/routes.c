/* routes.c: the daemon's API (docs/api/openapi.json is the contract; the
 * test tests/serve/test_api.py holds the server to it).
 *
 *   GET  /v1/health
 *   GET  /v1/runs                       ?state=&limit=&before=
 *   POST /v1/runs                       {"spec"|"spec_path", "input"?, "workdir"?}
 *   GET  /v1/runs/{id}
 *   GET  /v1/runs/{id}/events           Server-Sent Events (sse.c)
 *   POST /v1/runs/{id}/cancel
 *   POST /v1/runs/{id}/resume           {"force"?}
 *   GET  /v1/runs/{id}/stages/{name}/output
 *
 * Paths and bodies are checked here, before anything touches the history
 * or starts a run: ids and names by charset and length, bodies as JSON
 * objects with known keys of the right types (an unknown key is an error,
 * not ignored).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "serve.h"
#include "../history/history.h"

/* [A-Za-z0-9._-], 1..63 bytes: run ids and box names. */
static bool name_ok(const char *s, size_t n)
{
	if (!n || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", s[i]) || !s[i])
			return false;
	return s[0] != '.';
}

/* Split "/v1/runs/ID/REST" into ID and REST (may be ""). */
static bool run_path(const char *path, char *id, size_t idlen,
		     const char **rest)
{
	const char *p = path + strlen("/v1/runs/");
	const char *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	if (!name_ok(p, n) || n >= idlen)
		return false;
	memcpy(id, p, n);
	id[n] = '\0';
	*rest = slash ? slash : "";
	return true;
}

/* The body as a JSON object whose keys are all in `keys`. */
static cJSON *body_object(struct req *r, const char *const *keys)
{
	if (!r->body_len) {
		reply_error(r, 400, "bad_request", "a JSON object body is "
			    "required");
		return NULL;
	}
	cJSON *o = cJSON_ParseWithLength(r->body, r->body_len);
	if (!cJSON_IsObject(o)) {
		reply_error(r, 400, "bad_json", "the body is not a JSON object");
		cJSON_Delete(o);
		return NULL;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, o) {
		bool known = false;
		for (const char *const *k = keys; *k; k++)
			known |= !strcmp(e->string, *k);
		if (!known) {
			reply_error(r, 400, "unknown_field", "unknown field "
				    "'%s'", e->string);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

static bool str_field(struct req *r, const cJSON *o, const char *key,
		      const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return true;
	if (!cJSON_IsString(v)) {
		reply_error(r, 400, "bad_field", "%s: a string", key);
		return false;
	}
	*out = v->valuestring;
	return true;
}

static void post_run(struct serve_state *st, struct req *r)
{
	static const char *const keys[] = { "spec", "spec_path", "input",
					    "workdir", NULL };
	cJSON *o = body_object(r, keys);
	if (!o)
		return;
	struct submit s = { 0 };
	char *spec_json = NULL;
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
	if (cJSON_IsObject(spec)) {
		/* A spec given as a JSON object: the same document. */
		spec_json = cJSON_Print(spec);
		s.spec_text = spec_json;
	} else if (!str_field(r, o, "spec", &s.spec_text)) {
		goto out;
	}
	if (!str_field(r, o, "spec_path", &s.spec_path) ||
	    !str_field(r, o, "input", &s.input) ||
	    !str_field(r, o, "workdir", &s.workdir))
		goto out;
	if (!s.spec_text == !s.spec_path) {
		reply_error(r, 400, "bad_request", "give one of spec (the "
			    "spec's text, or a JSON object) and spec_path");
		goto out;
	}
	if (s.spec_text && !*s.spec_text) {
		reply_error(r, 400, "bad_field", "spec: empty");
		goto out;
	}
	s.input_len = s.input ? strlen(s.input) : 0;
	int status = 500;
	cJSON *err = NULL;
	cJSON *run = runner_submit(st, &s, &status, &err);
	reply_json(r, status, run ? run : err);
out:
	cJSON_free(spec_json);
	cJSON_Delete(o);
}

static void list_runs(struct serve_state *st, struct req *r)
{
	char state[32], before[64], lim[16];
	unsigned limit = 50;
	bool has_state = query_param(r, "state", state, sizeof(state));
	bool has_before = query_param(r, "before", before, sizeof(before));
	if (query_param(r, "limit", lim, sizeof(lim))) {
		char *end;
		unsigned long v = strtoul(lim, &end, 10);
		if (end == lim || *end || v < 1 || v > 1000) {
			reply_error(r, 400, "bad_query", "limit: 1 to 1000");
			return;
		}
		limit = (unsigned)v;
	}
	if (has_state && !run_state_ended(state) && strcmp(state, RUN_QUEUED)
	    && strcmp(state, RUN_RUNNING)) {
		reply_error(r, 400, "bad_query", "state: queued, running, "
			    "succeeded, failed, cancelled or interrupted");
		return;
	}
	if (has_before && !name_ok(before, strlen(before))) {
		reply_error(r, 400, "bad_query", "before: a run id");
		return;
	}
	/* One more than asked: whether there is a next page. */
	cJSON *a = hist_runs_list(runner_hist(st), has_state ? state : NULL,
				  limit + 1, has_before ? before : NULL);
	if (!a) {
		reply_error(r, 500, "internal", "history unreadable");
		return;
	}
	cJSON *doc = cJSON_CreateObject();
	const char *next = NULL;
	if ((unsigned)cJSON_GetArraySize(a) > limit) {
		cJSON_DeleteItemFromArray(a, (int)limit);
		next = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetArrayItem(a, (int)limit - 1), "id"));
	}
	if (next)
		cJSON_AddStringToObject(doc, "next", next);
	else
		cJSON_AddNullToObject(doc, "next");
	cJSON_AddItemToObject(doc, "runs", a);
	reply_json(r, 200, doc);
}

static void stage_output(struct serve_state *st, struct req *r,
			 const char *id, const char *rest)
{
	const char *name = rest + strlen("/stages/");
	size_t n = strlen(name);
	if (n < 8 || strcmp(name + n - 7, "/output") ||
	    !name_ok(name, n - 7)) {
		reply_error(r, 404, "not_found", "no such path");
		return;
	}
	char stage[64];
	memcpy(stage, name, n - 7);
	stage[n - 7] = '\0';
	char *out = NULL;
	size_t len = 0;
	int rc = hist_stage_output(runner_hist(st), id, stage, &out, &len);
	if (rc == -ENOENT)
		reply_error(r, 404, "not_found", "run %s has no output for "
			    "stage %s", id, stage);
	else if (rc < 0)
		reply_error(r, 500, "internal", "history unreadable");
	else
		reply_raw(r, 200, "application/octet-stream", out, len);
	free(out);
}

static void run_routes(struct serve_state *st, struct req *r)
{
	char id[64];
	const char *rest;
	bool get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
	if (!run_path(r->path, id, sizeof(id), &rest)) {
		reply_error(r, 404, "not_found", "no such run");
		return;
	}
	if (!*rest || !strcmp(rest, "/")) {
		if (!get) {
			reply_error(r, 405, "method_not_allowed", "GET only");
			return;
		}
		cJSON *o = hist_run_get(runner_hist(st), id);
		if (o)
			reply_json(r, 200, o);
		else
			reply_error(r, 404, "not_found", "no run %s", id);
	} else if (!strcmp(rest, "/events")) {
		if (get)
			sse_events(st, r, id);
		else
			reply_error(r, 405, "method_not_allowed", "GET only");
	} else if (!strcmp(rest, "/cancel")) {
		if (!post) {
			reply_error(r, 405, "method_not_allowed", "POST only");
			return;
		}
		int rc = runner_cancel(st, id);
		if (rc == -ENOENT) {
			reply_error(r, 404, "not_found", "no run %s", id);
		} else if (rc == -EALREADY) {
			reply_error(r, 409, "ended", "run %s has ended", id);
		} else {
			cJSON *o = hist_run_get(runner_hist(st), id);
			reply_json(r, 202, o);
		}
	} else if (!strcmp(rest, "/resume")) {
		if (!post) {
			reply_error(r, 405, "method_not_allowed", "POST only");
			return;
		}
		static const char *const keys[] = { "force", NULL };
		bool force = false;
		if (r->body_len) {
			cJSON *o = body_object(r, keys);
			if (!o)
				return;
			const cJSON *f = cJSON_GetObjectItemCaseSensitive(o,
									  "force");
			if (f && !cJSON_IsBool(f)) {
				cJSON_Delete(o);
				reply_error(r, 400, "bad_field", "force: a "
					    "boolean");
				return;
			}
			force = cJSON_IsTrue(f);
			cJSON_Delete(o);
		}
		int status = 500;
		cJSON *err = NULL;
		cJSON *run = runner_resume(st, id, force, &status, &err);
		reply_json(r, status, run ? run : err);
	} else if (!strncmp(rest, "/stages/", 8)) {
		if (get)
			stage_output(st, r, id, rest);
		else
			reply_error(r, 405, "method_not_allowed", "GET only");
	} else {
		reply_error(r, 404, "not_found", "no such path");
	}
}

void route(struct serve_state *st, struct req *r)
{
	bool get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
	if (!strcmp(r->path, "/v1/health")) {
		if (!get) {
			reply_error(r, 405, "method_not_allowed", "GET only");
			return;
		}
		cJSON *o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", true);
		cJSON_AddStringToObject(o, "version", VB_VERSION);
		reply_json(r, 200, o);
	} else if (!strcmp(r->path, "/v1/runs")) {
		if (get)
			list_runs(st, r);
		else if (post)
			post_run(st, r);
		else
			reply_error(r, 405, "method_not_allowed", "GET or POST");
	} else if (!strncmp(r->path, "/v1/runs/", 9)) {
		run_routes(st, r);
	} else {
		reply_error(r, 404, "not_found", "no such path: %s", r->path);
	}
}
