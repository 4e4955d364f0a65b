/* sse.c: GET /v1/runs/{id}/events — a run's events as Server-Sent Events
 * (WHATWG HTML, "Server-sent events"): each one
 *
 *   id: SEQ
 *   event: TYPE
 *   data: {...the event's JSON, one line...}
 *
 * from the history, in order, then live as they are recorded, until the
 * run has ended and every event was sent. The id is the event's number in
 * its run, so a client that reconnects with Last-Event-ID (or ?after=N)
 * gets exactly what it missed. ?follow=false sends what there is and
 * closes. A comment line every 15 s of silence finds dead clients; one
 * that stops reading is dropped after the send timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "serve.h"
#include "../http/http.h"
#include "../history/history.h"

#define SSE_PAGE      500
#define SSE_KEEPALIVE 15000	/* ms */

static bool parse_seq(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return false;
	*out = v;
	return true;
}

/* One event as an SSE frame; -1 when the client is gone. */
static int send_event(struct req *r, const cJSON *ev, int64_t *after)
{
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(ev, "seq");
	const cJSON *ty = cJSON_GetObjectItemCaseSensitive(ev, "type");
	char *js = cJSON_PrintUnformatted(ev);
	if (!js || !cJSON_IsNumber(seq))
		return js ? (cJSON_free(js), 0) : -1;
	size_t n = strlen(js) + 128;
	char *f = malloc(n);
	int rc = -1;
	if (f) {
		int k = snprintf(f, n, "id: %lld\nevent: %s\ndata: %s\n\n",
				 (long long)seq->valuedouble,
				 cJSON_IsString(ty) ? ty->valuestring : "event",
				 js);
		rc = sock_send_all(r->fd, f, (size_t)k);
		*after = (int64_t)seq->valuedouble;
	}
	free(f);
	cJSON_free(js);
	return rc;
}

void sse_events(struct serve_state *st, struct req *r, const char *id)
{
	int64_t after = 0;
	char v[32];
	if (r->last_event_id && !parse_seq(r->last_event_id, &after)) {
		reply_error(r, 400, "bad_request", "Last-Event-ID: an event "
			    "number");
		return;
	}
	if (!r->last_event_id && query_param(r, "after", v, sizeof(v)) &&
	    !parse_seq(v, &after)) {
		reply_error(r, 400, "bad_request", "after: an event number");
		return;
	}
	bool follow = !(query_param(r, "follow", v, sizeof(v)) &&
			(!strcmp(v, "false") || !strcmp(v, "0")));
	struct hist *h = runner_hist(st);
	bool ended = false;
	uint64_t gen = runner_wait_events(st, ~0ull, 0);
	cJSON *page = hist_events(h, id, after, SSE_PAGE, &ended);
	if (!page) {
		if (errno == ENOENT)
			reply_error(r, 404, "not_found", "no run %s", id);
		else
			reply_error(r, 500, "internal", "history unreadable");
		return;
	}
	static const char head[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		"Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
		"Connection: close\r\n\r\n";
	if (sock_send_all(r->fd, head, sizeof(head) - 1) < 0) {
		cJSON_Delete(page);
		return;
	}
	for (;;) {
		const cJSON *ev;
		int n = 0;
		cJSON_ArrayForEach(ev, page) {
			if (send_event(r, ev, &after) < 0) {
				cJSON_Delete(page);
				return;
			}
			n++;
		}
		cJSON_Delete(page);
		if (ended || (!follow && n < SSE_PAGE))
			return;
		if (n == 0) {
			uint64_t g = runner_wait_events(st, gen, SSE_KEEPALIVE);
			if (runner_stopping(st))
				return;
			if (g == gen && sock_send_all(r->fd, ": keepalive\n\n", 13) < 0)
				return;
			gen = g;
		} else {
			gen = runner_wait_events(st, ~0ull, 0);
		}
		page = hist_events(h, id, after, SSE_PAGE, &ended);
		if (!page)
			return;
	}
}
