/* cmd_run.c: `voidbox run --file SPEC` — run an agent spec: each box in
 * its own micro-VM with claude-code, the API key kept on this host.
 *
 * Human mode: live `[vm:NAME]` lines on stderr (tool calls as they
 * happen), a one-line report per stage, and the pipeline's output (the
 * last stage's output file, else claude's result text) on stdout.
 * `--output json`: one JSON document on stdout with the same facts.
 * Exit: 0 success, 1 stage failed, 2 usage/spec, 124 timeout, 125 VM.
 *
 * The command is a client of the public C API (host/api/voidbox.h), the
 * same one C programs use: spec loading, the run and both reports live
 * there, so what this prints and what vb_result_json returns are one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../api/voidbox.h"
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
	return o->file ? 0 : -1;
}

/* A spec that does not load: every message (one per line of err) on
 * stderr, and with --output json a document saying so on stdout. */
static void report_invalid(const struct run_opts *o, const char *err)
{
	size_t n = 0;

	for (const char *c = err; *c; c++)
		n += *c == '\n';
	if (o->json) {
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "file", o->file);
		cJSON_AddStringToObject(doc, "status", "invalid");
		cJSON *a = cJSON_AddArrayToObject(doc, "errors");
		for (const char *l = err, *nl; (nl = strchr(l, '\n'));
		     l = nl + 1) {
			char *m = strndup(l, (size_t)(nl - l));
			if (m)
				cJSON_AddItemToArray(a, cJSON_CreateString(m));
			free(m);
		}
		char *js = cJSON_Print(doc);
		if (js)
			printf("%s\n", js);
		cJSON_free(js);
		cJSON_Delete(doc);
	}
	fputs(err, stderr);
	fprintf(stderr, "%s: %zu error%s; nothing was run\n", o->file, n,
		n == 1 ? "" : "s");
}

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	struct run_opts o = { .json = g->json, .parallel = 4 };
	char *err = NULL;

	if (parse(argc, argv, &o) < 0) {
		usage();
		return VB_EXIT_USAGE;
	}
	vb_pipeline *p = vb_pipeline_from_spec(o.file, &err);
	if (!p) {
		if (err)
			report_invalid(&o, err);
		else
			log_warnx("run: out of memory");
		free(err);
		return VB_EXIT_USAGE;
	}
	/* Values parse() already checked; an error would still surface
	 * as a config_error result. */
	vb_pipeline_input(p, o.input, o.input ? strlen(o.input) : 0);
	vb_pipeline_parallel(p, o.parallel);
	vb_pipeline_tools_disk(p, o.tools_disk);
	vb_pipeline_console(p, o.console);
	vb_pipeline_live(p, true);

	vb_result *r = vb_run(p);
	if (!r) {
		log_warnx("run: out of memory");
		vb_pipeline_free(p);
		return VB_EXIT_FAIL;
	}
	if (o.json) {
		char *js = vb_result_json(r);
		if (js)
			printf("%s\n", js);
		free(js);
	}
	char *rep = vb_result_report(r);
	/* Report lines are "[source] text": in JSON log format each becomes
	 * one object, like every other line voidbox prints. */
	for (char *l = rep, *nl; l && *l; l = nl ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		char *end = l[0] == '[' ? strchr(l, ']') : NULL;
		if (end && end[1] == ' ') {
			*end = '\0';
			log_say(l + 1, "%s", end + 2);
		} else if (*l) {
			log_say("voidbox", "%s", l);
		}
		if (!nl)
			break;
	}
	free(rep);
	size_t len;
	const char *out = vb_result_output(r, &len);
	if (!o.json && out) {
		fwrite(out, 1, len, stdout);
		if (len && out[len - 1] != '\n')
			putchar('\n');
	}
	int rc = vb_result_exit_code(r);
	vb_result_free(r);
	vb_pipeline_free(p);
	return rc;
}
