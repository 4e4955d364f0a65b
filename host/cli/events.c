/* events.c: `voidbox run --events-fd N` — the run's progress as JSON
 * lines on a descriptor, for a program following it (the daemon, which
 * stores them and streams them to its clients as Server-Sent Events).
 *
 * One object per line, each with "type" and, for a stage's events,
 * "stage":
 *   {"type":"stage","stage":S,"state":"booting"|"running"|"collecting"}
 *   {"type":"stage","stage":S,"state":"ended","status":"ok"|...,
 *    "error":E?, "tokens_in":N,"tokens_out":N,"cost_usd":X}
 *   {"type":"tool","stage":S,"tool":NAME,"input":SUMMARY}
 *   {"type":"tool_result","stage":S,"is_error":B,"output":TEXT}
 *   {"type":"text","stage":S,"text":TEXT}
 *   {"type":"usage","stage":S,"tokens_in":N,"tokens_out":N,"cost_usd":X}
 * Texts are cut to EV_TEXT_MAX bytes. Lines are written whole (one
 * write under a lock); a reader that goes away costs nothing (EPIPE is
 * ignored, the run goes on).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../api/api.h"
#include "../run/run.h"

#define EV_TEXT_MAX   2048
#define EV_MAX_STAGES 256

struct ev_stage {
	char name[64];
	bool running;
	uint64_t tin, tout;
	double usd;
};

struct run_events {
	int fd;
	pthread_mutex_t lock;
	struct ev_stage st[EV_MAX_STAGES];
	unsigned n;
};

struct run_events *run_events_open(int fd)
{
	struct run_events *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->fd = fd;
	pthread_mutex_init(&e->lock, NULL);
	return e;
}

void run_events_close(struct run_events *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* Caller holds e->lock. */
static void emit(struct run_events *e, cJSON *o)
{
	char *js = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!js || e->fd < 0)
		goto out;
	size_t n = strlen(js);
	js[n] = '\n';	/* the terminator's place: written, not kept */
	for (size_t off = 0; off < n + 1;) {
		ssize_t w = write(e->fd, js + off, n + 1 - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e->fd = -1;	/* the reader is gone */
			break;
		}
		off += (size_t)w;
	}
	js[n] = '\0';
out:
	cJSON_free(js);
}

static cJSON *ev_new(const char *type, const char *stage)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "stage", stage);
	return o;
}

static void add_cut(cJSON *o, const char *key, const char *text)
{
	size_t n = text ? strnlen(text, EV_TEXT_MAX + 1) : 0;
	if (n <= EV_TEXT_MAX) {
		cJSON_AddStringToObject(o, key, text ? text : "");
		return;
	}
	char *c = strndup(text, EV_TEXT_MAX);
	/* Not inside a UTF-8 sequence: back up over continuation bytes. */
	size_t k = EV_TEXT_MAX;
	while (c && k > 0 && ((unsigned char)c[k - 1] & 0xc0) == 0x80)
		k--;
	if (c && k > 0 && (unsigned char)c[k - 1] >= 0xc0)
		k--;
	if (c)
		c[k] = '\0';
	cJSON_AddStringToObject(o, key, c ? c : "");
	cJSON_AddBoolToObject(o, "truncated", true);
	free(c);
}

static struct ev_stage *stage_of(struct run_events *e, const char *name)
{
	for (unsigned i = 0; i < e->n; i++)
		if (!strcmp(e->st[i].name, name))
			return &e->st[i];
	if (e->n == EV_MAX_STAGES)
		return NULL;
	struct ev_stage *s = &e->st[e->n++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

static void add_usage(cJSON *o, const struct ev_stage *s)
{
	cJSON_AddNumberToObject(o, "tokens_in", (double)s->tin);
	cJSON_AddNumberToObject(o, "tokens_out", (double)s->tout);
	cJSON_AddNumberToObject(o, "cost_usd", s->usd);
}

static void on_event(struct run_events *e, const char *stage,
		     const struct claude_event *ev)
{
	cJSON *o;
	switch (ev->kind) {
	case CE_TOOL_USE:
		o = ev_new("tool", stage);
		cJSON_AddStringToObject(o, "tool", ev->name ? ev->name : "?");
		add_cut(o, "input", ev->text);
		break;
	case CE_TOOL_RESULT:
		o = ev_new("tool_result", stage);
		cJSON_AddBoolToObject(o, "is_error", ev->is_error);
		add_cut(o, "output", ev->text);
		break;
	case CE_TEXT:
		o = ev_new("text", stage);
		add_cut(o, "text", ev->text);
		break;
	default:
		return;
	}
	emit(e, o);
}

void run_events_progress(void *ctx, const char *stage,
			 const struct stage_progress *p)
{
	struct run_events *e = ctx;
	pthread_mutex_lock(&e->lock);
	struct ev_stage *s = stage_of(e, stage);
	if (!s)
		goto out;
	cJSON *o;
	switch (p->phase) {
	case PH_BOOT:
		o = ev_new("stage", stage);
		cJSON_AddStringToObject(o, "state", "booting");
		emit(e, o);
		break;
	case PH_AGENT:
		if (!s->running) {
			s->running = true;
			o = ev_new("stage", stage);
			cJSON_AddStringToObject(o, "state", "running");
			emit(e, o);
		}
		if (p->ev)
			on_event(e, stage, p->ev);
		break;
	case PH_COLLECT:
		o = ev_new("stage", stage);
		cJSON_AddStringToObject(o, "state", "collecting");
		emit(e, o);
		break;
	case PH_DONE:
		break;
	}
	bool changed = p->tokens_in != s->tin || p->tokens_out != s->tout ||
		       p->usd != s->usd;
	if ((p->tokens_in || p->tokens_out || p->usd > 0) && changed) {
		s->tin = p->tokens_in;
		s->tout = p->tokens_out;
		s->usd = p->usd;
		if (p->phase != PH_DONE) {
			o = ev_new("usage", stage);
			add_usage(o, s);
			emit(e, o);
		}
	}
	if (p->phase == PH_DONE) {
		const struct stage_result *r = p->r;
		if (r && r->stream) {
			const struct claude_result *cr =
				claude_stream_result(r->stream);
			if (cr->have_result) {
				s->tin = cr->input_tokens +
					 cr->cache_creation_tokens +
					 cr->cache_read_tokens;
				s->tout = cr->output_tokens;
				s->usd = cr->cost_usd;
			}
		}
		o = ev_new("stage", stage);
		cJSON_AddStringToObject(o, "state", "ended");
		cJSON_AddStringToObject(o, "status",
					r ? report_status(r->status) : "done");
		if (r && r->error[0])
			cJSON_AddStringToObject(o, "error", r->error);
		add_usage(o, s);
		emit(e, o);
	}
out:
	pthread_mutex_unlock(&e->lock);
}
