/* cmd_run.c: `voidbox run --file SPEC` — run an agent spec: each box in
 * its own micro-VM with claude-code, the API key kept on this host.
 *
 * Human mode: live `[vm:NAME]` lines on stderr (tool calls as they
 * happen), a one-line report per stage, and the stage's output (its
 * output file, else claude's result text) on stdout. `--output json`:
 * one JSON document on stdout with the same facts.
 * Exit: 0 success, 1 stage failed, 2 usage/spec, 124 timeout, 125 VM.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../run/run.h"
#include "../spec/spec.h"
#include "../util/util.h"

struct run_opts {
	const char *file, *input, *tools_disk;
	bool console, json;
	unsigned parallel;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: voidbox run --file SPEC [--input TEXT] "
		"[--output human|json]\n"
		"                   [--parallel N] [--tools-disk FILE] "
		"[--console]\n");
}

static void on_event(void *ctx, const char *stage,
		     const struct claude_event *ev)
{
	(void)ctx;
	switch (ev->kind) {
	case CE_INIT:
		fprintf(stderr, "[vm:%s] claude-code started (model %s)\n",
			stage, ev->name ? ev->name : "?");
		break;
	case CE_TOOL_USE:
		fprintf(stderr, "[vm:%s] tool: %s %s\n", stage,
			ev->name ? ev->name : "?", ev->text ? ev->text : "");
		break;
	case CE_TOOL_RESULT:
		if (ev->is_error)
			fprintf(stderr, "[vm:%s] tool error: %s\n", stage,
				ev->text ? ev->text : "");
		break;
	case CE_TEXT: {
		const char *t = ev->text ? ev->text : "";
		fprintf(stderr, "[vm:%s] claude: %.*s%s\n", stage,
			(int)strcspn(t, "\n"), t,
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

static int exit_for(const struct stage_result *r)
{
	switch (r->status) {
	case STAGE_OK:
		return VB_EXIT_OK;
	case STAGE_TIMEOUT:
		return VB_EXIT_TIMEOUT;
	case STAGE_VM:
		return VB_EXIT_VM_FAIL;
	case STAGE_CONFIG:
		return VB_EXIT_USAGE;
	default:
		return VB_EXIT_FAIL;
	}
}

static const char *status_name(enum stage_status s)
{
	static const char *const n[] = { "ok", "failed", "timeout",
					  "vm_error", "config_error" };
	return n[s];
}

static void report_human(const struct stage_result *r, bool output)
{
	const struct claude_result *cr = r->stream ?
		claude_stream_result(r->stream) : NULL;

	if (r->status == STAGE_OK && r->mock)
		fprintf(stderr, "[vm:%s] ok (mock) in %.2f s\n", r->name,
			secs(r->total_ns));
	else if (r->status == STAGE_OK)
		fprintf(stderr, "[vm:%s] ok in %.2f s (boot %.2f, provision "
			"%.3f, claude %.2f, collect %.3f, teardown %.3f)\n",
			r->name, secs(r->total_ns), secs(r->boot_ns),
			secs(r->provision_ns), secs(r->run_ns),
			secs(r->collect_ns), secs(r->teardown_ns));
	else
		fprintf(stderr, "[vm:%s] %s: %s\n", r->name,
			status_name(r->status), r->error);
	if (cr && cr->have_result)
		fprintf(stderr, "[vm:%s] %u turns, %zu tool calls, tokens "
			"%llu in / %llu out, $%.6f, model %s\n", r->name,
			cr->num_turns, cr->ntools,
			(unsigned long long)cr->input_tokens,
			(unsigned long long)cr->output_tokens, cr->cost_usd,
			cr->model ? cr->model : "?");
	if (r->gw.auth_refused || r->gw.budget_refused)
		fprintf(stderr, "[vm:%s] gateway: %u refused (token), %u "
			"refused (budget)\n", r->name, r->gw.auth_refused,
			r->gw.budget_refused);
	if (!output)
		return;
	if (r->output)
		fwrite(r->output, 1, r->output_len, stdout);
	else if (cr && cr->result_text && r->status == STAGE_OK)
		printf("%s\n", cr->result_text);
}

static cJSON *stage_json(const struct stage_result *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddStringToObject(o, "status", status_name(r->status));
	cJSON_AddBoolToObject(o, "mock", r->mock);
	if (r->status != STAGE_OK)
		cJSON_AddStringToObject(o, "error", r->error);
	cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
	cJSON_AddNumberToObject(t, "total", (double)r->total_ns / 1e6);
	cJSON_AddNumberToObject(t, "boot", (double)r->boot_ns / 1e6);
	cJSON_AddNumberToObject(t, "provision", (double)r->provision_ns / 1e6);
	cJSON_AddNumberToObject(t, "claude", (double)r->run_ns / 1e6);
	cJSON_AddNumberToObject(t, "collect", (double)r->collect_ns / 1e6);
	cJSON_AddNumberToObject(t, "teardown", (double)r->teardown_ns / 1e6);
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
		cJSON_AddNumberToObject(o, "output_bytes", (double)r->output_len);
		cJSON_AddStringToObject(o, "output", r->output);
	}
	return o;
}

static int parse(int argc, char **argv, struct run_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if ((!strcmp(a, "--file") || !strcmp(a, "-f")) && v)
			o->file = argv[++i];
		else if (!strcmp(a, "--input") && v)
			o->input = argv[++i];
		else if (!strcmp(a, "--tools-disk") && v)
			o->tools_disk = argv[++i];
		else if (!strcmp(a, "--console"))
			o->console = true;
		else if (!strcmp(a, "--parallel") && v) {
			unsigned long long n;
			if (args_uint("--parallel", argv[++i], 1, 64, &n) < 0)
				return -1;
			o->parallel = (unsigned)n;
		}
		else if (!strcmp(a, "--output") && v &&
			 (!strcmp(v, "json") || !strcmp(v, "human") ||
			  !strcmp(v, "text")))
			o->json = !strcmp(argv[++i], "json");
		else if (a[0] != '-' && !o->file)
			o->file = a;
		else {
			log_warnx("run: unexpected argument '%s'", a);
			return -1;
		}
	}
	if (!o->file)
		return -1;
	if (!o->tools_disk)
		o->tools_disk = getenv("VOIDBOX_TOOLS_DISK");
	return 0;
}

static int run_pipeline(const struct run_opts *o, struct pipeline_cfg *pc,
			const char *kind)
{
	struct tools_image ti = { .fd = -1 };
	char err[512];
	struct stage_opts so = {
		.input = o->input, .input_len = o->input ? strlen(o->input) : 0,
		.tools_disk = o->tools_disk, .console = o->console,
		.on_event = on_event,
	};
	if (!so.tools_disk) {
		/* The full release carries the image; a slim one says so in
		 * the stage error. */
		if (trailer_tools(&ti, err, sizeof(err)) == 0) {
			so.tools_fd = ti.fd;
			so.tools_off = ti.off;
			so.tools_len = ti.len;
		} else {
			log_info("%s", err);
		}
	}
	if (pc->nboxes > 1)
		fprintf(stderr, "[pipeline:%s] %zu boxes in %zu stages, at most "
			"%u VMs at once\n", pc->name, pc->nboxes, pc->nstages,
			o->parallel);
	for (size_t i = 0; i < pc->nboxes; i++)
		pc->boxes[i].timeout_s = pc->boxes[i].timeout_s ?
			pc->boxes[i].timeout_s : 600;
	struct pipeline_result pr;
	int r = pipeline_run(pc, &so, o->parallel, &pr);
	if (o->json) {
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "file", o->file);
		cJSON_AddStringToObject(doc, "kind", kind);
		cJSON_AddStringToObject(doc, "name", pc->name);
		cJSON_AddStringToObject(doc, "status", r == 0 ? "ok" : "failed");
		if (r != 0)
			cJSON_AddStringToObject(doc, "failed_stage", pr.failed);
		cJSON_AddNumberToObject(doc, "parallel_limit", o->parallel);
		cJSON_AddNumberToObject(doc, "peak_parallel", pr.peak_parallel);
		cJSON *st = cJSON_AddArrayToObject(doc, "stages");
		for (size_t i = 0; pr.results && i < pc->nboxes; i++) {
			if (!pr.ran[i]) {
				cJSON *x = cJSON_CreateObject();
				cJSON_AddStringToObject(x, "name",
							pc->boxes[i].name);
				cJSON_AddStringToObject(x, "status", "skipped");
				cJSON_AddItemToArray(st, x);
				continue;
			}
			cJSON_AddItemToArray(st, stage_json(&pr.results[i]));
		}
		if (pr.output)
			cJSON_AddStringToObject(doc, "output", pr.output);
		char *s = cJSON_Print(doc);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
		cJSON_Delete(doc);
	}
	int rc = VB_EXIT_OK;
	for (size_t i = 0; pr.results && i < pc->nboxes; i++) {
		if (!pr.ran[i]) {
			fprintf(stderr, "[vm:%s] skipped: an earlier stage "
				"failed\n", pc->boxes[i].name);
			continue;
		}
		report_human(&pr.results[i], false);
		int e = exit_for(&pr.results[i]);
		if (e != VB_EXIT_OK && rc == VB_EXIT_OK)
			rc = e;
	}
	if (r != 0 && pc->nboxes > 1)
		fprintf(stderr, "[pipeline:%s] failed at stage %s\n", pc->name,
			pr.failed);
	if (!o->json && r == 0 && pr.output) {
		fwrite(pr.output, 1, pr.output_len, stdout);
		if (pr.output_len && pr.output[pr.output_len - 1] != '\n')
			putchar('\n');
	}
	pipeline_result_free(pc, &pr);
	if (ti.fd >= 0)
		close(ti.fd);
	return rc;
}

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	struct run_opts o = { .json = g->json, .parallel = 4 };
	struct spec_errors e = { 0 };
	struct box_cfg *bc = calloc(1, sizeof(*bc));
	char err[512];
	int rc = VB_EXIT_USAGE;

	if (!bc || parse(argc, argv, &o) < 0) {
		usage();
		free(bc);
		return VB_EXIT_USAGE;
	}
	char *copy = strdup(o.file);
	const char *dir = dirname(copy);
	struct node *root = doc_load(o.file, &e);
	if (root)
		schema_check(root, o.file, dir, &e);
	spec_errors_sort(&e);
	if (e.n) {
		if (o.json) {
			cJSON *doc = cJSON_CreateObject();
			cJSON_AddStringToObject(doc, "file", o.file);
			cJSON_AddStringToObject(doc, "status", "invalid");
			cJSON *a = cJSON_AddArrayToObject(doc, "errors");
			for (size_t i = 0; i < e.n; i++)
				cJSON_AddItemToArray(a, cJSON_CreateString(
							     e.msg[i]));
			char *js = cJSON_Print(doc);
			if (js)
				printf("%s\n", js);
			cJSON_free(js);
			cJSON_Delete(doc);
		}
		for (size_t i = 0; i < e.n; i++)
			fprintf(stderr, "%s\n", e.msg[i]);
		fprintf(stderr, "%s: %zu error%s; nothing was run\n", o.file,
			e.n, e.n == 1 ? "" : "s");
		goto out;
	}
	const struct node *kind = doc_get(root, "kind");
	struct pipeline_cfg pc = { 0 };
	if (!strcmp(kind->str, "agent")) {
		pc.boxes = bc;
		pc.nboxes = 1;
		pc.stages = calloc(1, sizeof(*pc.stages));
		if (!pc.stages || config_box(root, NULL, dir, bc, err,
					     sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", o.file, err);
			free(pc.stages);
			goto out;
		}
		*pc.stages = (struct pipeline_stage){ .type = PS_BOX,
						      .nbox = 1 };
		pc.nstages = 1;
		snprintf(pc.name, sizeof(pc.name), "%s", bc->name);
	} else if (!strcmp(kind->str, "pipeline")) {
		if (config_pipeline(root, dir, &pc, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", o.file, err);
			config_pipeline_free(&pc);
			goto out;
		}
	} else {
		fprintf(stderr, "%s: kind %s cannot be run yet (agent and "
			"pipeline can)\n", o.file, kind->str);
		goto out;
	}
	rc = run_pipeline(&o, &pc, kind->str);
	if (pc.boxes == bc) {
		free(pc.stages);
	} else {
		config_pipeline_free(&pc);
	}
out:
	config_box_free(bc);
	free(bc);
	spec_errors_free(&e);
	doc_free(root);
	free(copy);
	return rc;
}
