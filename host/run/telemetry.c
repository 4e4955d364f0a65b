/* telemetry.c: a finished pipeline as OTLP traces, metrics and logs.
 *
 * Span tree (one trace, continuing the caller's TRACEPARENT if any):
 *
 *   pipeline:<name>
 *     stage:<box>                 status, tokens, cost, mock flag
 *       vm.boot                   events: vmm.spawn, agent.ready
 *       vm.provision
 *       claude.exec               gen_ai.* attributes; its context is
 *         claude.tool.<Tool>      handed to the guest as TRACEPARENT
 *
 * Spans are built after the run from the measured phase times (they are
 * contiguous by construction: boot, provision, claude, collect), with ids
 * chosen before it, so the guest's claude-code could be told its parent.
 * Tool spans use the times their tool_use/tool_result lines were seen;
 * inputs/outputs are truncated with a flag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "../otel/otel.h"
#include "../spec/spec.h"
#include "../util/util.h"

#define TOOL_ATTR_MAX 1024	/* bytes of tool input/output on a span */

/* Tracing is on for a run when it has an exporter: each run has its own
 * (struct run_ctx), so runs in parallel threads export independently. */

struct otel_exporter *telemetry_begin(const struct pipeline_cfg *pc)
{
	struct otel_exporter *ex = NULL;
	struct otel_attrs res = { 0 };
	char err[256];

	otel_attr_str(&res, "service.name", pc->service_name[0]
		      ? pc->service_name : "voidbox");
	otel_attr_str(&res, "service.version", VB_VERSION);
	char host[256] = "";
	FILE *f = fopen("/proc/sys/kernel/hostname", "r");
	if (f) {
		if (fgets(host, sizeof(host), f))
			host[strcspn(host, "\n")] = '\0';
		fclose(f);
	}
	if (host[0])
		otel_attr_str(&res, "host.name", host);
	struct otel_config cfg = {
		.endpoint = pc->otlp_endpoint[0] ? pc->otlp_endpoint : NULL,
		.resource = &res, .scope_version = VB_VERSION,
	};
	if (otel_init(&cfg, &ex, err, sizeof(err)) < 0)
		log_warnx("telemetry off: %s", err);
	otel_attrs_free(&res);
	return ex;
}

void telemetry_end(struct otel_exporter *ex)
{
	otel_shutdown(ex, 5000, NULL);	/* warns once if items were lost */
}

void telemetry_ids(struct otel_exporter *ex, struct pipeline_result *pr,
		   size_t nboxes)
{
	struct otel_ctx parent;
	const char *tp = getenv("TRACEPARENT");

	if (!ex)
		return;
	if (tp && otel_traceparent_parse(tp, &parent) == 0) {
		memcpy(pr->trace_id, parent.trace_id, 16);
		memcpy(pr->parent_span, parent.span_id, 8);
	} else {
		otel_random_id(pr->trace_id, 16);
	}
	otel_random_id(pr->span_id, 8);
	pr->box_spans = calloc(nboxes ? nboxes : 1, sizeof(*pr->box_spans));
	for (size_t i = 0; pr->box_spans && i < nboxes; i++) {
		otel_random_id(pr->box_spans[i], 8);
		otel_random_id(pr->box_spans[i] + 8, 8);
	}
}

/* A span with explicit ids and times (the run is over). */
static struct otel_span *span(const char *name, const uint8_t *trace,
			      const uint8_t *id, const uint8_t *parent,
			      uint64_t start, uint64_t end)
{
	struct otel_span *s = otel_span_start(name, NULL);
	if (!s)
		return NULL;
	memcpy(s->ctx.trace_id, trace, 16);
	if (id)
		memcpy(s->ctx.span_id, id, 8);
	else
		otel_random_id(s->ctx.span_id, 8);
	if (parent)
		memcpy(s->parent_id, parent, 8);
	else
		memset(s->parent_id, 0, 8);
	s->start_ns = start;
	s->end_ns = end > start ? end : start;
	return s;
}

static void metric(struct otel_exporter *ex, const char *name,
		   const char *unit, const char *box, double v, bool is_int)
{
	struct otel_metric *m = otel_metric_new(OTEL_SUM, name, unit, NULL);
	if (!m)
		return;
	otel_attr_str(&m->attrs, "voidbox.box", box);
	if (is_int)
		otel_metric_set_int(m, (int64_t)v);
	else
		otel_metric_set_double(m, v);
	otel_emit_metric(ex, m);
}

static void tool_spans(struct otel_exporter *ex,
		       const struct stage_result *r, const uint8_t *trace,
		       uint64_t claude_start, uint64_t claude_end)
{
	const struct claude_result *cr = claude_stream_result(r->stream);
	char name[96];

	for (size_t i = 0; i < cr->ntools; i++) {
		const struct claude_tool_call *t = &cr->tools[i];
		uint64_t s0 = claude_start, s1 = claude_end;
		for (size_t k = 0; k < r->ntool_times && t->id; k++)
			if (!strcmp(r->tool_times[k].id, t->id)) {
				s0 = r->tool_times[k].start_ns;
				s1 = r->tool_times[k].end_ns ? r->tool_times[k].end_ns
							     : s0;
			}
		snprintf(name, sizeof(name), "claude.tool.%s",
			 t->name ? t->name : "unknown");
		struct otel_span *s = span(name, trace, NULL, r->span_claude,
					   s0, s1);
		if (!s)
			continue;
		otel_attr_str(&s->attrs, "gen_ai.tool.name", t->name ? t->name : "");
		otel_attr_str(&s->attrs, "gen_ai.tool.call.id", t->id ? t->id : "");
		bool cut_in = t->input_truncated, cut_out = t->output_truncated;
		if (t->input_json)
			cut_in |= otel_attr_strn(&s->attrs, "voidbox.tool.input",
						 t->input_json, strnlen(t->input_json,
						 TOOL_ATTR_MAX)) ||
				  strlen(t->input_json) > TOOL_ATTR_MAX;
		if (t->output)
			cut_out |= otel_attr_strn(&s->attrs, "voidbox.tool.output",
						  t->output, strnlen(t->output,
						  TOOL_ATTR_MAX)) ||
				   strlen(t->output) > TOOL_ATTR_MAX;
		otel_attr_bool(&s->attrs, "voidbox.tool.input_truncated", cut_in);
		otel_attr_bool(&s->attrs, "voidbox.tool.output_truncated", cut_out);
		if (t->is_error)
			otel_span_set_status(s, OTEL_STATUS_ERROR, "tool error");
		otel_emit_span(ex, s);
	}
}

/* What the gateway refused or blocked, as events on the stage span
 * ("gateway.refused", "gateway.key_blocked"), plus the totals. */
static void gateway_events(struct otel_span *st, const struct gw_stats *gw)
{
	for (unsigned i = 0; i < gw->nevents; i++) {
		const struct gw_event *e = &gw->events[i];
		char name[32];
		snprintf(name, sizeof(name), "gateway.%s", e->kind);
		struct otel_attrs *ev = otel_span_event(st, name);
		if (!ev)
			break;
		st->events[st->nevents - 1]->time_ns = e->unix_ns;
		otel_attr_str(ev, "http.request.method", e->method);
		otel_attr_str(ev, "url.path", e->path);
		otel_attr_str(ev, "voidbox.reason", e->reason);
	}
	if (gw->refused)
		otel_attr_int(&st->attrs, "voidbox.gateway.refused", gw->refused);
	if (gw->key_blocked)
		otel_attr_int(&st->attrs, "voidbox.gateway.key_blocked",
			      gw->key_blocked);
}

static void stage_spans(struct otel_exporter *ex,
			const struct pipeline_cfg *pc, size_t i,
			const struct pipeline_result *pr)
{
	const struct stage_result *r = &pr->results[i];
	const struct box_cfg *bc = &pc->boxes[i];
	const uint8_t *tr = pr->trace_id;
	uint64_t t0 = r->start_unix_ns, t = t0;
	char name[96];
	const struct claude_result *cr = r->stream
		? claude_stream_result(r->stream) : NULL;

	snprintf(name, sizeof(name), "stage:%s", bc->name);
	struct otel_span *st = span(name, tr, r->span_stage, pr->span_id, t0,
				    t0 + r->total_ns);
	if (!st)
		return;
	otel_attr_str(&st->attrs, "voidbox.box", bc->name);
	otel_attr_bool(&st->attrs, "voidbox.mock", r->mock);
	otel_attr_int(&st->attrs, "voidbox.memory_mb", (int64_t)bc->vm.mem_mb);
	otel_attr_int(&st->attrs, "voidbox.vcpus", bc->vm.vcpus);
	otel_attr_str(&st->attrs, "gen_ai.system", !strcmp(bc->llm.provider,
		      "ollama") ? "ollama" : "anthropic");
	if (r->status != STAGE_OK)
		otel_span_set_status(st, OTEL_STATUS_ERROR, r->error);
	gateway_events(st, &r->gw);
	if (!r->mock) {
		struct otel_span *b = span("vm.boot", tr, NULL, r->span_stage, t,
					   t + r->boot_ns);
		struct otel_attrs *ev = otel_span_event(b, "vmm.spawn");
		if (ev && b)
			b->events[b->nevents - 1]->time_ns = t;
		ev = otel_span_event(b, "agent.ready");
		if (ev && b)
			b->events[b->nevents - 1]->time_ns = t + r->boot_ns;
		otel_emit_span(ex, b);
		t += r->boot_ns;
		otel_emit_span(ex, span("vm.provision", tr, NULL, r->span_stage, t,
				    t + r->provision_ns));
		t += r->provision_ns;
	}
	struct otel_span *c = span("claude.exec", tr, r->span_claude,
				   r->span_stage, t, t + r->run_ns);
	if (c) {
		otel_attr_str(&c->attrs, "gen_ai.operation.name", "invoke_agent");
		otel_attr_bool(&c->attrs, "voidbox.mock", r->mock);
		otel_attr_str(&c->attrs, "gen_ai.system", "anthropic");
		if (bc->llm.model[0])
			otel_attr_str(&c->attrs, "gen_ai.request.model",
				      bc->llm.model);
		if (cr) {
			if (cr->model)
				otel_attr_str(&c->attrs, "gen_ai.response.model",
					      cr->model);
			otel_attr_int(&c->attrs, "gen_ai.usage.input_tokens",
				      (int64_t)cr->input_tokens);
			otel_attr_int(&c->attrs, "gen_ai.usage.output_tokens",
				      (int64_t)cr->output_tokens);
			otel_attr_double(&c->attrs, "voidbox.cost_usd",
					 cr->cost_usd);
			otel_attr_int(&c->attrs, "voidbox.num_turns",
				      cr->num_turns);
			otel_attr_int(&c->attrs, "voidbox.tool_calls",
				      (int64_t)cr->ntools);
			if (cr->session_id)
				otel_attr_str(&c->attrs, "gen_ai.conversation.id",
					      cr->session_id);
			if (cr->is_error || !cr->have_result)
				otel_span_set_status(c, OTEL_STATUS_ERROR,
						     r->error);
			tool_spans(ex, r, tr, t, t + r->run_ns);
		}
		otel_emit_span(ex, c);
	}
	if (cr) {
		otel_attr_int(&st->attrs, "gen_ai.usage.input_tokens",
			      (int64_t)cr->input_tokens);
		otel_attr_int(&st->attrs, "gen_ai.usage.output_tokens",
			      (int64_t)cr->output_tokens);
		otel_attr_double(&st->attrs, "voidbox.cost_usd", cr->cost_usd);
		metric(ex, "voidbox.stage.tokens.input", "{token}", bc->name,
		       (double)cr->input_tokens, true);
		metric(ex, "voidbox.stage.tokens.output", "{token}", bc->name,
		       (double)cr->output_tokens, true);
		metric(ex, "voidbox.stage.cost", "USD", bc->name, cr->cost_usd,
		       false);
		metric(ex, "voidbox.stage.tool_calls", "{call}", bc->name,
		       (double)cr->ntools, true);
	}
	metric(ex, "voidbox.stage.duration", "s", bc->name,
	       (double)r->total_ns / 1e9, false);
	if (!r->mock && r->boot_ns) {
		static const double bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5,
						 5, 10, 30 };
		struct otel_metric *h = otel_metric_new(OTEL_HISTOGRAM,
			"voidbox.vm.boot.duration", "s", NULL);
		if (h && otel_metric_set_bounds(h, bounds, 9) == 0) {
			otel_attr_str(&h->attrs, "voidbox.box", bc->name);
			otel_metric_observe(h, (double)r->boot_ns / 1e9);
			otel_emit_metric(ex, h);
		} else {
			otel_metric_free(h);
		}
		struct otel_metric *g = otel_metric_new(OTEL_GAUGE,
			"voidbox.vm.memory.touched", "By", NULL);
		if (g) {
			otel_attr_str(&g->attrs, "voidbox.box", bc->name);
			otel_metric_set_int(g, (int64_t)r->guest_rss_kb * 1024);
			otel_emit_metric(ex, g);
		}
		/* From the guest agent's own samples while claude ran. */
		struct { const char *name, *unit; double v; } gm[] = {
			{ "voidbox.guest.cpu.time", "s", r->guest_cpu_s },
			{ "voidbox.guest.memory.peak", "By",
			  (double)r->guest_mem_peak_kb * 1024 },
			{ "voidbox.guest.network.rx", "By",
			  (double)r->guest_net_rx },
			{ "voidbox.guest.network.tx", "By",
			  (double)r->guest_net_tx },
		};
		for (size_t k = 0; r->guest_samples && k < 4; k++) {
			struct otel_metric *x = otel_metric_new(OTEL_GAUGE,
				gm[k].name, gm[k].unit, NULL);
			if (!x)
				continue;
			otel_attr_str(&x->attrs, "voidbox.box", bc->name);
			otel_metric_set_double(x, gm[k].v);
			otel_emit_metric(ex, x);
		}
	}
	/* One log record per stage, tied to its span. */
	char body[700];
	snprintf(body, sizeof(body), "[vm:%s] %s%s%s", bc->name,
		 r->status == STAGE_OK ? "ok" : "failed",
		 r->status == STAGE_OK ? "" : ": ", r->status == STAGE_OK ? ""
		 : r->error);
	struct otel_log *l = otel_log_new(r->status == STAGE_OK ? OTEL_SEV_INFO
					  : OTEL_SEV_ERROR, body, &st->ctx);
	if (l)
		otel_attr_str(&l->attrs, "voidbox.box", bc->name);
	otel_emit_log(ex, l);
	otel_emit_span(ex, st);
}

void telemetry_pipeline(struct otel_exporter *ex,
			const struct pipeline_cfg *pc,
			const struct pipeline_result *pr)
{
	bool has_parent = false;
	char name[96];

	if (!ex || !pr->box_spans)
		return;
	for (int i = 0; i < 8; i++)
		has_parent |= pr->parent_span[i] != 0;
	snprintf(name, sizeof(name), "pipeline:%s", pc->name);
	struct otel_span *p = span(name, pr->trace_id, pr->span_id,
				   has_parent ? pr->parent_span : NULL,
				   pr->start_unix_ns, pr->end_unix_ns);
	if (!p)
		return;
	otel_attr_int(&p->attrs, "voidbox.boxes", (int64_t)pc->nboxes);
	otel_attr_int(&p->attrs, "voidbox.stages", (int64_t)pc->nstages);
	if (pr->failed[0]) {
		char msg[128];
		snprintf(msg, sizeof(msg), "stage %s failed", pr->failed);
		otel_span_set_status(p, OTEL_STATUS_ERROR, msg);
	}
	for (size_t i = 0; i < pc->nboxes; i++)
		if (pr->ran[i])
			stage_spans(ex, pc, i, pr);
	otel_emit_span(ex, p);
}
