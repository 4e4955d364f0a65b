/* runs.c: what the history holds of a run — the run row, its stages with
 * their outputs, and its event log — written as the run goes, read back
 * as the daemon API's JSON documents (docs/api/openapi.json: Run, Stage,
 * Event).
 *
 * Every write is its own transaction under the store's mutex; a crash
 * between two leaves the run as far as it got, which recovery then marks
 * interrupted. Sizes are bounded here (events per run, bytes per event,
 * bytes per output) whatever the caller sends: a run cannot fill the
 * disk through the history.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "history.h"
#include "../util/util.h"

static int64_t now_ms(void)
{
	return (int64_t)(wall_ns() / 1000000);
}

#define prep hist_prep

/* Step a write to its end; 0 or -1 (logged). Finalizes st. */
static int done(struct hist *s, sqlite3_stmt *st)
{
	int r = st ? sqlite3_step(st) : SQLITE_ERROR;
	if (r != SQLITE_DONE && r != SQLITE_ROW)
		log_warnx("history: %s", sqlite3_errmsg(s->db));
	hist_put(st);
	return r == SQLITE_DONE || r == SQLITE_ROW ? 0 : -1;
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

int hist_run_add(struct hist *s, const struct hist_run *r)
{
	char sha[65];
	sha256_hex(r->spec_text, strlen(r->spec_text), sha);
	pthread_mutex_lock(&s->lock);
	int rc = -1;
	if (hist_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	sqlite3_stmt *st = prep(s,
		"INSERT INTO runs(id, name, kind, state, spec_path, spec_sha256,"
		" run_dir, resumed_from, created_ms, bytes)"
		" VALUES(?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?9)");
	if (st) {
		bind_str(st, 1, r->id);
		bind_str(st, 2, r->name);
		bind_str(st, 3, r->kind);
		bind_str(st, 4, r->spec_path);
		bind_str(st, 5, sha);
		bind_str(st, 6, r->run_dir);
		bind_str(st, 7, r->resumed_from);
		sqlite3_bind_int64(st, 8, now_ms());
		sqlite3_bind_int64(st, 9, (int64_t)(strlen(r->spec_text) +
						    r->input_len));
	}
	int w = done(s, st);
	st = w ? NULL : prep(s, "INSERT INTO run_inputs(run_id, spec_text, "
				"input) VALUES(?1, ?2, ?3)");
	if (st) {
		bind_str(st, 1, r->id);
		bind_str(st, 2, r->spec_text);
		if (r->input)
			sqlite3_bind_blob(st, 3, r->input, (int)r->input_len,
					  SQLITE_STATIC);
		w = done(s, st);
	}
	if (w == 0 && hist_exec(s, "COMMIT") == 0)
		rc = 0;
	else
		hist_exec(s, "ROLLBACK");
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int hist_run_state(struct hist *s, const char *id, const char *state,
		    int exit_code, const char *error)
{
	bool ended = run_state_ended(state);
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = prep(s, ended
		? "UPDATE runs SET state=?2, exit_code=?3, error=?4, "
		  "ended_ms=?5, started_ms=coalesce(started_ms, ?5) WHERE id=?1"
		: "UPDATE runs SET state=?2, started_ms=coalesce(started_ms, ?5)"
		  " WHERE id=?1 AND ?3 + 0 = ?3 AND coalesce(?4, '') = "
		  "coalesce(?4, '')");	/* ?3, ?4: one binding for both */
	if (st) {
		bind_str(st, 1, id);
		bind_str(st, 2, state);
		sqlite3_bind_int(st, 3, exit_code);
		bind_str(st, 4, error);
		sqlite3_bind_int64(st, 5, now_ms());
	}
	int rc = done(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int hist_event_add(struct hist *s, const char *id, cJSON *ev,
		    int64_t *seq)
{
	int rc = -1;
	pthread_mutex_lock(&s->lock);
	if (hist_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	sqlite3_stmt *st = prep(s, "SELECT nevents FROM runs WHERE id=?1");
	int64_t n = -1;
	if (st) {
		bind_str(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		hist_put(st);
	}
	if (n < 0 || n > HIST_MAX_EVENTS) {
		hist_exec(s, "ROLLBACK");
		goto out;
	}
	int64_t ts = now_ms();
	cJSON_DeleteItemFromObject(ev, "seq");
	cJSON_DeleteItemFromObject(ev, "ts");
	cJSON_AddNumberToObject(ev, "seq", (double)(n + 1));
	cJSON_AddNumberToObject(ev, "ts", (double)ts);
	const cJSON *ty = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const char *type = cJSON_IsString(ty) ? ty->valuestring : "event";
	char *js = cJSON_PrintUnformatted(ev), buf[256];
	if (n == HIST_MAX_EVENTS || (js && strlen(js) > HIST_MAX_EVENT)) {
		/* The last event a run may add says the rest were dropped;
		 * an oversized one is replaced by a note of what it was. */
		snprintf(buf, sizeof(buf), "{\"type\":\"%s\",\"seq\":%lld,"
			 "\"ts\":%lld,\"%s\":true}",
			 n == HIST_MAX_EVENTS ? "events_dropped" : type,
			 (long long)(n + 1), (long long)ts,
			 n == HIST_MAX_EVENTS ? "limit" : "truncated");
		type = n == HIST_MAX_EVENTS ? "events_dropped" : type;
		cJSON_free(js);
		js = strdup(buf);
	}
	st = js ? prep(s, "INSERT INTO events(run_id, seq, ts_ms, type, data)"
			  " VALUES(?1, ?2, ?3, ?4, ?5)") : NULL;
	if (st) {
		bind_str(st, 1, id);
		sqlite3_bind_int64(st, 2, n + 1);
		sqlite3_bind_int64(st, 3, ts);
		bind_str(st, 4, type);
		bind_str(st, 5, js);
	}
	int r = done(s, st);
	st = r ? NULL : prep(s, "UPDATE runs SET nevents=nevents+1, "
				"bytes=bytes+?2 WHERE id=?1");
	if (st) {
		bind_str(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)strlen(js));
		r = done(s, st);
	}
	free(js);
	if (r == 0 && hist_exec(s, "COMMIT") == 0) {
		rc = 0;
		if (seq)
			*seq = n + 1;
	} else {
		hist_exec(s, "ROLLBACK");
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsNumber(x) ? x->valuedouble : 0;
}

static const char *str_at(const cJSON *o, const char *k)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(x) ? x->valuestring : NULL;
}

/* One stage of a report: its row, its output kept apart from the rest
 * of its JSON. Tokens and cost are claude-code's own figures when it
 * reported them, else the gateway's count. */
static int stage_row(struct hist *s, const char *id, unsigned idx,
		     cJSON *sj, int64_t *bytes)
{
	const char *name = str_at(sj, "name"), *status = str_at(sj, "status");
	if (!name || !status)
		return 0;
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(sj, "claude");
	double tin, tout, usd;
	if (c) {
		tin = num_at(c, "usage", "input_tokens") +
		      num_at(c, "usage", "cache_creation_input_tokens") +
		      num_at(c, "usage", "cache_read_input_tokens");
		tout = num_at(c, "usage", "output_tokens");
		usd = num_at(c, "total_cost_usd", NULL);
	} else {
		tin = num_at(sj, "gateway", "input_tokens");
		tout = num_at(sj, "gateway", "output_tokens");
		usd = 0;
	}
	/* The stage's output is what the next stage received: its output
	 * file, else its result text. */
	cJSON *out = cJSON_DetachItemFromObjectCaseSensitive(sj, "output");
	if (!out)
		out = cJSON_DetachItemFromObjectCaseSensitive(sj, "result_text");
	const char *o = cJSON_IsString(out) ? out->valuestring : NULL;
	size_t olen = o ? strlen(o) : 0;
	if (olen > HIST_MAX_OUTPUT)
		olen = HIST_MAX_OUTPUT;
	char *rest = cJSON_PrintUnformatted(sj);
	sqlite3_stmt *st = prep(s,
		"INSERT INTO stages(run_id, name, idx, status, error, tokens_in,"
		" tokens_out, cost_usd, output, result) VALUES(?1, ?2, ?3, ?4,"
		" ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(run_id, name) DO UPDATE"
		" SET idx=excluded.idx, status=excluded.status,"
		" error=excluded.error,"
		" tokens_in=excluded.tokens_in, tokens_out=excluded.tokens_out,"
		" cost_usd=excluded.cost_usd, result=excluded.result,"
		" output=CASE WHEN resumed THEN output ELSE excluded.output END");
	if (st) {
		bind_str(st, 1, id);
		bind_str(st, 2, name);
		sqlite3_bind_int(st, 3, (int)idx);
		bind_str(st, 4, status);
		bind_str(st, 5, str_at(sj, "error"));
		sqlite3_bind_int64(st, 6, (int64_t)tin);
		sqlite3_bind_int64(st, 7, (int64_t)tout);
		sqlite3_bind_double(st, 8, usd);
		if (o)
			sqlite3_bind_blob(st, 9, o, (int)olen, SQLITE_TRANSIENT);
		bind_str(st, 10, rest);
	}
	*bytes += (int64_t)olen + (rest ? (int64_t)strlen(rest) : 0);
	cJSON_free(rest);
	cJSON_Delete(out);
	return done(s, st);
}

int hist_run_report(struct hist *s, const char *id, const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	const cJSON *stages = cJSON_GetObjectItemCaseSensitive(doc, "stages");
	if (!cJSON_IsArray(stages)) {
		cJSON_Delete(doc);
		return -1;
	}
	int rc = -1;
	int64_t bytes = 0;
	pthread_mutex_lock(&s->lock);
	if (hist_exec(s, "BEGIN IMMEDIATE") < 0)
		goto out;
	unsigned i = 0;
	cJSON *sj;
	int r = 0;
	cJSON_ArrayForEach(sj, stages)
		if ((r = stage_row(s, id, i++, sj, &bytes)) < 0)
			break;
	sqlite3_stmt *st = r ? NULL : prep(s,
		"UPDATE runs SET bytes=bytes+?2, tokens_in=(SELECT coalesce("
		"sum(tokens_in), 0) FROM stages WHERE run_id=?1 AND NOT resumed),"
		" tokens_out=(SELECT coalesce(sum(tokens_out), 0) FROM stages "
		"WHERE run_id=?1 AND NOT resumed), cost_usd=(SELECT coalesce("
		"sum(cost_usd), 0) FROM stages WHERE run_id=?1 AND NOT resumed)"
		" WHERE id=?1");
	if (st) {
		bind_str(st, 1, id);
		sqlite3_bind_int64(st, 2, bytes);
		r = done(s, st);
	} else {
		r = -1;
	}
	if (r == 0 && hist_exec(s, "COMMIT") == 0)
		rc = 0;
	else
		hist_exec(s, "ROLLBACK");
out:
	pthread_mutex_unlock(&s->lock);
	cJSON_Delete(doc);
	return rc;
}

int hist_stage_resumed(struct hist *s, const char *id, const char *stage,
			unsigned idx, const char *output, size_t len)
{
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = prep(s,
		"INSERT INTO stages(run_id, name, idx, status, resumed, output)"
		" VALUES(?1, ?2, ?3, 'ok', 1, ?4)");
	if (st) {
		bind_str(st, 1, id);
		bind_str(st, 2, stage);
		sqlite3_bind_int(st, 3, (int)idx);
		sqlite3_bind_blob(st, 4, output ? output : "", (int)len,
				  SQLITE_TRANSIENT);
	}
	int rc = done(s, st);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* --- reads ------------------------------------------------------------ */

static void add_col(cJSON *o, sqlite3_stmt *st, int i, const char *key)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
	case SQLITE_FLOAT:
		cJSON_AddNumberToObject(o, key, sqlite3_column_double(st, i));
		break;
	case SQLITE_TEXT:
		cJSON_AddStringToObject(o, key,
					(const char *)sqlite3_column_text(st, i));
		break;
	default:
		cJSON_AddNullToObject(o, key);
	}
}

#define RUN_COLS "id, name, kind, state, spec_path, exit_code, error, " \
		 "created_ms, started_ms, ended_ms, tokens_in, tokens_out, " \
		 "cost_usd, resumed_from, nevents"
static const char *const run_keys[] = {
	"id", "name", "kind", "state", "spec_path", "exit_code", "error",
	"created_ms", "started_ms", "ended_ms", "tokens_in", "tokens_out",
	"cost_usd", "resumed_from", "events",
};

static cJSON *run_obj(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; i < (int)(sizeof(run_keys) / sizeof(*run_keys)); i++)
		add_col(o, st, i, run_keys[i]);
	return o;
}

cJSON *hist_run_get(struct hist *s, const char *id)
{
	cJSON *o = NULL;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = prep(s, "SELECT " RUN_COLS " FROM runs WHERE id=?1");
	if (st) {
		bind_str(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			o = run_obj(st);
		else
			errno = ENOENT;
		hist_put(st);
	}
	st = o ? prep(s, "SELECT name, status, error, resumed, tokens_in, "
			 "tokens_out, cost_usd, length(output), result FROM "
			 "stages WHERE run_id=?1 ORDER BY idx") : NULL;
	if (st) {
		cJSON *a = cJSON_AddArrayToObject(o, "stages");
		bind_str(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			cJSON *x = cJSON_CreateObject();
			add_col(x, st, 0, "name");
			add_col(x, st, 1, "status");
			add_col(x, st, 2, "error");
			cJSON_AddBoolToObject(x, "resumed",
					      sqlite3_column_int(st, 3));
			add_col(x, st, 4, "tokens_in");
			add_col(x, st, 5, "tokens_out");
			add_col(x, st, 6, "cost_usd");
			add_col(x, st, 7, "output_bytes");
			const char *res = (const char *)sqlite3_column_text(st, 8);
			cJSON *rj = res ? cJSON_Parse(res) : NULL;
			if (rj)
				cJSON_AddItemToObject(x, "report", rj);
			cJSON_AddItemToArray(a, x);
		}
		hist_put(st);
	}
	pthread_mutex_unlock(&s->lock);
	return o;
}

cJSON *hist_runs_list(struct hist *s, const char *state, unsigned limit,
		       const char *before)
{
	cJSON *a = NULL;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = prep(s,
		"SELECT " RUN_COLS " FROM runs WHERE (?1 IS NULL OR state=?1)"
		" AND (?2 IS NULL OR (created_ms, id) < (SELECT created_ms, id"
		" FROM runs WHERE id=?2)) ORDER BY created_ms DESC, id DESC"
		" LIMIT ?3");
	if (st) {
		bind_str(st, 1, state);
		bind_str(st, 2, before);
		sqlite3_bind_int(st, 3, (int)limit);
		a = cJSON_CreateArray();
		int r;
		while ((r = sqlite3_step(st)) == SQLITE_ROW)
			cJSON_AddItemToArray(a, run_obj(st));
		if (r != SQLITE_DONE) {
			log_warnx("history: %s", sqlite3_errmsg(s->db));
			cJSON_Delete(a);
			a = NULL;
		}
		hist_put(st);
	}
	pthread_mutex_unlock(&s->lock);
	return a;
}

cJSON *hist_events(struct hist *s, const char *id, int64_t after,
		    unsigned max, bool *ended)
{
	cJSON *a = NULL;
	pthread_mutex_lock(&s->lock);
	/* Read the state first: an event added after this read is found by
	 * the next call, and "ended" is never true with events unsent. */
	sqlite3_stmt *st = prep(s, "SELECT state FROM runs WHERE id=?1");
	bool found = false;
	if (st) {
		bind_str(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = true;
			*ended = run_state_ended(
				(const char *)sqlite3_column_text(st, 0));
		}
		hist_put(st);
	}
	st = found ? prep(s, "SELECT data FROM events WHERE run_id=?1 AND "
			     "seq > ?2 ORDER BY seq LIMIT ?3") : NULL;
	if (st) {
		bind_str(st, 1, id);
		sqlite3_bind_int64(st, 2, after);
		sqlite3_bind_int(st, 3, (int)max);
		a = cJSON_CreateArray();
		unsigned n = 0;
		while (sqlite3_step(st) == SQLITE_ROW) {
			cJSON *e = cJSON_Parse(
				(const char *)sqlite3_column_text(st, 0));
			if (e)
				cJSON_AddItemToArray(a, e);
			n++;
		}
		if (n == max)
			*ended = false;	/* more to come in the next page */
		hist_put(st);
	}
	if (!found)
		errno = ENOENT;
	pthread_mutex_unlock(&s->lock);
	return a;
}

int hist_stage_output(struct hist *s, const char *id, const char *stage,
		       char **out, size_t *len)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = prep(s, "SELECT output FROM stages WHERE run_id=?1"
				   " AND name=?2 AND output IS NOT NULL");
	if (!st)
		rc = -EIO;
	else {
		bind_str(st, 1, id);
		bind_str(st, 2, stage);
		if (sqlite3_step(st) == SQLITE_ROW) {
			int n = sqlite3_column_bytes(st, 0);
			const void *b = sqlite3_column_blob(st, 0);
			*out = malloc((size_t)n + 1);
			if (!*out) {
				rc = -ENOMEM;
			} else {
				if (n)
					memcpy(*out, b, (size_t)n);
				(*out)[n] = '\0';
				*len = (size_t)n;
				rc = 0;
			}
		}
		hist_put(st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

cJSON *hist_run_resume_info(struct hist *s, const char *id)
{
	cJSON *o = NULL;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = prep(s, "SELECT state, spec_path, spec_text, "
				   "spec_sha256, input, name FROM runs JOIN "
				   "run_inputs ON run_id=id WHERE id=?1");
	if (st) {
		bind_str(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			o = cJSON_CreateObject();
			add_col(o, st, 0, "state");
			add_col(o, st, 1, "spec_path");
			add_col(o, st, 2, "spec_text");
			add_col(o, st, 3, "spec_sha256");
			if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
				int n = sqlite3_column_bytes(st, 4);
				char *in = strndup(sqlite3_column_blob(st, 4)
						   ? sqlite3_column_blob(st, 4)
						   : "", (size_t)n);
				if (in)
					cJSON_AddStringToObject(o, "input", in);
				free(in);
			}
			add_col(o, st, 5, "name");
		} else {
			errno = ENOENT;
		}
		hist_put(st);
	}
	st = o ? prep(s, "SELECT name, output FROM stages WHERE run_id=?1 AND"
			 " status='ok' AND output IS NOT NULL ORDER BY idx")
	       : NULL;
	if (st) {
		cJSON *m = cJSON_AddObjectToObject(o, "outputs");
		bind_str(st, 1, id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			int n = sqlite3_column_bytes(st, 1);
			const void *b = sqlite3_column_blob(st, 1);
			char *v = strndup(b ? b : "", (size_t)n);
			if (v)
				cJSON_AddStringToObject(
					m, (const char *)sqlite3_column_text(st, 0),
					v);
			free(v);
		}
		hist_put(st);
	}
	pthread_mutex_unlock(&s->lock);
	return o;
}
