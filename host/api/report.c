/* report.c: the run report — one JSON document (`voidbox run --output
 * json`, vb_result_json) and the human lines (`voidbox run` on stderr,
 * vb_result_report) — plus the live progress lines printed while the
 * agents work. One implementation, so the CLI and C programs can never
 * disagree about what a run did.
 *
 * Skipped stages have no stage_result; the result keeps their names.
 * tests/pipeline/check.sh and tests/e2e/e2e.sh read these formats: the
 * JSON keys and the "[vm:NAME] ..." wording are an interface.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "../util/util.h"

const char *report_status(enum stage_status s)
{
	static const char *const n[] = { "ok", "failed", "timeout",
					  "vm_error", "config_error" };
	return (size_t)s < sizeof(n) / sizeof(n[0]) ? n[s] : "failed";
}

int report_exit_code(const struct stage_result *r)
{
	switch (r->cause) {
	case CAUSE_NONE:
		return VB_OK;
	case CAUSE_TIMEOUT:
		return VB_TIMEOUT;
	case CAUSE_VMM_DIED:
		return VB_VMM_DIED;
	case CAUSE_NO_KVM:
	case CAUSE_VM_START:
		return VB_VM_ERROR;
	case CAUSE_CONFIG:
		return VB_CONFIG;
	default:
		return VB_FAILED;
	}
}

void report_event(void *ctx, const char *stage,
		  const struct claude_event *ev)
{
	char src[80];

	(void)ctx;
	snprintf(src, sizeof(src), "vm:%s", stage);
	switch (ev->kind) {
	case CE_INIT:
		log_say(src, "claude-code started (model %s)",
			ev->name ? ev->name : "?");
		break;
	case CE_TOOL_USE:
		log_say(src, "tool: %s %s", ev->name ? ev->name : "?",
			ev->text ? ev->text : "");
		break;
	case CE_TOOL_RESULT:
		if (ev->is_error)
			log_say(src, "tool error: %s", ev->text ? ev->text : "");
		break;
	case CE_TEXT: {
		const char *t = ev->text ? ev->text : "";
		log_say(src, "claude: %.*s%s", (int)strcspn(t, "\n"), t,
			t[strcspn(t, "\n")] ? " ..." : "");
		break;
	}
	case CE_RESULT:
		break;
	}
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void stage_human(FILE *f, const struct stage_result *r)
{
	const struct claude_result *cr = r->stream ?
		claude_stream_result(r->stream) : NULL;

	if (r->status == STAGE_OK && r->resumed)
		fprintf(f, "[vm:%s] ok (resumed: its recorded output, not run "
			"again)\n", r->name);
	else if (r->status == STAGE_OK && r->mock)
		fprintf(f, "[vm:%s] ok (mock) in %.2f s\n", r->name,
			secs(r->total_ns));
	else if (r->status == STAGE_OK)
		fprintf(f, "[vm:%s] ok in %.2f s (boot %.2f, provision %.3f, "
			"claude %.2f, collect %.3f, teardown %.3f)\n",
			r->name, secs(r->total_ns), secs(r->boot_ns),
			secs(r->provision_ns), secs(r->run_ns),
			secs(r->collect_ns), secs(r->teardown_ns));
	else
		fprintf(f, "[vm:%s] %s: %s\n", r->name,
			report_status(r->status), r->error);
	if (cr && cr->have_result)
		fprintf(f, "[vm:%s] %u turns, %zu tool calls, tokens %llu in "
			"/ %llu out, $%.6f, model %s\n", r->name,
			cr->num_turns, cr->ntools,
			(unsigned long long)cr->input_tokens,
			(unsigned long long)cr->output_tokens, cr->cost_usd,
			cr->model ? cr->model : "?");
	if (r->gw.auth_refused || r->gw.budget_refused || r->gw.refused ||
	    r->gw.mem_refused || r->gw.key_blocked)
		fprintf(f, "[vm:%s] gateway: %u refused (token), %u refused "
			"(budget), %u refused (not in the API surface), %u "
			"refused (memory bound), %u replies blocked (carried "
			"the key)\n", r->name, r->gw.auth_refused,
			r->gw.budget_refused, r->gw.refused, r->gw.mem_refused,
			r->gw.key_blocked);
}

char *report_human(const struct vb_result *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; r->pr.results && i < r->nboxes; i++) {
		if (!r->pr.ran[i])
			fprintf(f, "[vm:%s] skipped: %s\n", r->names[i],
				r->config_error ? "the pipeline has a "
				"configuration error" : "an earlier stage "
				"failed");
		else
			stage_human(f, &r->pr.results[i]);
	}
	if (r->config_error && !r->pr.failed[0])
		fprintf(f, "[pipeline:%s] configuration error: %s\n", r->name,
			r->error);
	else if (!r->ok && r->nboxes > 1)
		fprintf(f, "[pipeline:%s] failed at stage %s\n", r->name,
			r->pr.failed);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static cJSON *stage_json(const struct stage_result *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddStringToObject(o, "status", report_status(r->status));
	cJSON_AddBoolToObject(o, "mock", r->mock);
	cJSON_AddBoolToObject(o, "warm_start", r->warm);
	cJSON_AddBoolToObject(o, "waiting_agent", r->waiting);
	if (r->resumed)
		cJSON_AddBoolToObject(o, "resumed", true);
	if (r->status != STAGE_OK)
		cJSON_AddStringToObject(o, "error", r->error);
	cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
	cJSON_AddNumberToObject(t, "total", (double)r->total_ns / 1e6);
	cJSON_AddNumberToObject(t, "boot", (double)r->boot_ns / 1e6);
	cJSON_AddNumberToObject(t, "provision", (double)r->provision_ns / 1e6);
	cJSON_AddNumberToObject(t, "claude", (double)r->run_ns / 1e6);
	cJSON_AddNumberToObject(t, "collect", (double)r->collect_ns / 1e6);
	cJSON_AddNumberToObject(t, "teardown", (double)r->teardown_ns / 1e6);
	/* Stage start -> the model's first request reached the gateway:
	 * what a warm start with a waiting agent shortens. */
	if (r->gw.first_request_unix_ns > r->start_unix_ns && r->start_unix_ns)
		cJSON_AddNumberToObject(t, "first_model_request",
					(double)(r->gw.first_request_unix_ns -
						 r->start_unix_ns) / 1e6);
	if (!r->mock) {
		/* Guest RAM the VM actually touched (VMM-measured), and the
		 * agent-measured peak of claude-code's process tree. */
		cJSON *m = cJSON_AddObjectToObject(o, "memory_mb");
		cJSON_AddNumberToObject(m, "guest_touched",
					(double)r->guest_rss_kb / 1024);
		cJSON_AddNumberToObject(m, "claude_peak_rss",
					(double)r->exec.exit.max_rss_kb / 1024);
		cJSON_AddNumberToObject(m, "guest_in_use_peak",
					(double)r->guest_mem_peak_kb / 1024);
		cJSON *g = cJSON_AddObjectToObject(o, "guest");
		cJSON_AddNumberToObject(g, "samples", r->guest_samples);
		cJSON_AddNumberToObject(g, "cpu_seconds", r->guest_cpu_s);
		cJSON_AddNumberToObject(g, "net_rx_bytes", (double)r->guest_net_rx);
		cJSON_AddNumberToObject(g, "net_tx_bytes", (double)r->guest_net_tx);
	}
	if (r->stream) {
		char *cj = claude_result_json(claude_stream_result(r->stream));
		cJSON *c = cj ? cJSON_Parse(cj) : NULL;
		free(cj);
		if (c)
			cJSON_AddItemToObject(o, "claude", c);
	}
	cJSON *g = cJSON_AddObjectToObject(o, "gateway");
	cJSON_AddNumberToObject(g, "requests", r->gw.requests);
	cJSON_AddNumberToObject(g, "ok", r->gw.ok);
	cJSON_AddNumberToObject(g, "auth_refused", r->gw.auth_refused);
	cJSON_AddNumberToObject(g, "budget_refused", r->gw.budget_refused);
	cJSON_AddNumberToObject(g, "upstream_errors", r->gw.upstream_errors);
	cJSON_AddNumberToObject(g, "refused", r->gw.refused);
	cJSON_AddNumberToObject(g, "memory_refused", r->gw.mem_refused);
	cJSON_AddNumberToObject(g, "key_blocked", r->gw.key_blocked);
	cJSON_AddNumberToObject(g, "input_tokens", (double)r->gw.input_tokens);
	cJSON_AddNumberToObject(g, "output_tokens",
				(double)r->gw.output_tokens);
	cJSON_AddNumberToObject(g, "overhead_ms_max",
				(double)r->gw.overhead_ns_max / 1e6);
	if (r->gw.requests)
		cJSON_AddNumberToObject(g, "overhead_ms_mean",
					(double)r->gw.overhead_ns_sum / 1e6 /
					r->gw.requests);
	if (r->output) {
		cJSON_AddStringToObject(o, "output_path", r->output_path);
		cJSON_AddNumberToObject(o, "output_bytes",
					(double)r->output_len);
		cJSON_AddStringToObject(o, "output", r->output);
	} else if (stage_result_text(r)) {
		/* No output file: the next stage gets the agent's result
		 * text (pipeline.c), which a resumed run needs too. */
		cJSON_AddStringToObject(o, "result_text", stage_result_text(r));
	}
	return o;
}

char *report_json(const struct vb_result *r)
{
	cJSON *doc = cJSON_CreateObject();

	if (!doc)
		return NULL;
	if (r->file)		/* built pipelines have no file */
		cJSON_AddStringToObject(doc, "file", r->file);
	cJSON_AddStringToObject(doc, "kind", r->kind);
	cJSON_AddStringToObject(doc, "name", r->name);
	cJSON_AddStringToObject(doc, "status", r->ok ? "ok" : "failed");
	if (!r->ok && r->pr.failed[0])
		cJSON_AddStringToObject(doc, "failed_stage", r->pr.failed);
	if (r->config_error)	/* from `voidbox run` only the pre-flight's
				   (specs that do not load are reported
				   before) */
		cJSON_AddStringToObject(doc, "error", r->error);
	cJSON_AddNumberToObject(doc, "parallel_limit", r->parallel);
	cJSON_AddNumberToObject(doc, "peak_parallel", r->pr.peak_parallel);
	cJSON *st = cJSON_AddArrayToObject(doc, "stages");
	for (size_t i = 0; r->pr.results && i < r->nboxes; i++) {
		if (!r->pr.ran[i]) {
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "name", r->names[i]);
			cJSON_AddStringToObject(x, "status", "skipped");
			cJSON_AddItemToArray(st, x);
			continue;
		}
		cJSON_AddItemToArray(st, stage_json(&r->pr.results[i]));
	}
	if (r->ok && r->pr.output)
		cJSON_AddStringToObject(doc, "output", r->pr.output);
	char *s = cJSON_Print(doc);
	cJSON_Delete(doc);
	return s;
}
