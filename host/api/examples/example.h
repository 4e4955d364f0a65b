/* example.h: what the three examples share — their command line, the
 * provider every box talks to, and printing a result through the
 * accessors of voidbox.h. Header-only (static inline) so each example
 * still builds from one .c file against the installed header.
 *
 *   EXAMPLE [--mock] [--json] [--skills DIR]
 *     --mock        every box in mock mode: no VM, no model, runs anywhere
 *     --json        print the run report as JSON (vb_result_json) instead
 *     --skills DIR  where the SKILL.md files are (default: $VOIDBOX_
 *                   EXAMPLE_SKILLS, else skills/ next to the executable)
 *
 * The provider is claude (ANTHROPIC_API_KEY) unless
 * VOIDBOX_EXAMPLE_BASE_URL names another endpoint (provider custom);
 * VOIDBOX_EXAMPLE_KEY_ENV names the variable holding its key. The
 * nested-host tests point the examples at the mock Anthropic server so.
 * Exit status: vb_result_exit_code (0 ok, 1 failed, 2 config, 124
 * timeout, 125 VM).
 */
#ifndef VOIDBOX_EXAMPLE_H
#define VOIDBOX_EXAMPLE_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <voidbox.h>

struct example {
	bool mock, json;
	char skills[PATH_MAX];
};

static inline int example_args(int argc, char **argv, struct example *ex)
{
	const char *skills = getenv("VOIDBOX_EXAMPLE_SKILLS");

	*ex = (struct example){ .mock = false };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mock")) {
			ex->mock = true;
		} else if (!strcmp(argv[i], "--json")) {
			ex->json = true;
		} else if (!strcmp(argv[i], "--skills") && i + 1 < argc) {
			skills = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--mock] [--json] "
				"[--skills DIR]\n", argv[0]);
			return -1;
		}
	}
	if (skills) {
		snprintf(ex->skills, sizeof(ex->skills), "%s", skills);
		return 0;
	}
	/* skills/ next to the executable: the build copies them there, so
	 * build/examples/ can be moved as a whole (the nested test host). */
	ssize_t n = readlink("/proc/self/exe", ex->skills,
			     sizeof(ex->skills) - 1);
	ex->skills[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(ex->skills, '/');
	if (slash)
		*slash = '\0';
	size_t l = strlen(ex->skills);
	snprintf(ex->skills + l, sizeof(ex->skills) - l, "%sskills",
		 l ? "/" : "");
	return 0;
}

/* A box with the example's provider and mode. Setter errors are not
 * checked one by one: the first is kept on the box and vb_run reports
 * it as a configuration error. */
static inline vb_box *example_box(const struct example *ex, const char *name,
				  const char *prompt)
{
	const char *url = getenv("VOIDBOX_EXAMPLE_BASE_URL");
	const char *key = getenv("VOIDBOX_EXAMPLE_KEY_ENV");
	vb_box *b = vb_box_new(name);

	vb_box_prompt(b, prompt);
	vb_box_llm(b, url ? "custom" : "claude", NULL);
	if (url)
		vb_box_llm_base_url(b, url);
	if (key)
		vb_box_llm_api_key_env(b, key);
	vb_box_timeout_secs(b, 600);
	if (ex->mock)
		vb_box_mode(b, VB_MODE_MOCK);
	return b;
}

/* "file:DIR/NAME" for a skill shipped with the examples. */
static inline int example_skill(const struct example *ex, vb_box *b,
				const char *file)
{
	char spec[PATH_MAX + 64];

	snprintf(spec, sizeof(spec), "file:%s/%s", ex->skills, file);
	return vb_box_skill(b, spec);
}

/* Print the per-stage report and the final output; free the result;
 * return the exit code. */
static inline int example_finish(const struct example *ex, vb_result *r)
{
	if (!r) {
		fprintf(stderr, "out of memory\n");
		return VB_FAILED;
	}
	if (ex->json) {
		char *js = vb_result_json(r);
		if (js)
			printf("%s\n", js);
		free(js);
	} else {
		for (size_t i = 0; i < vb_result_nstages(r); i++) {
			uint64_t in = 0, out = 0;
			const char *err = vb_result_stage_error(r, i);
			vb_result_stage_tokens(r, i, &in, &out);
			printf("stage %zu/%zu %-20s %-12s %6.2f s  tokens "
			       "%llu/%llu  $%.4f  %zu tool calls%s%s\n", i + 1,
			       vb_result_nstages(r), vb_result_stage_name(r, i),
			       vb_result_stage_status(r, i),
			       (double)vb_result_stage_duration_ms(r, i) / 1e3,
			       (unsigned long long)in, (unsigned long long)out,
			       vb_result_stage_cost_usd(r, i),
			       vb_result_stage_tool_calls(r, i),
			       err ? ": " : "", err ? err : "");
		}
		size_t len;
		const char *o = vb_result_output(r, &len);
		if (o) {
			printf("--- output ---\n");
			fwrite(o, 1, len, stdout);
			if (len && o[len - 1] != '\n')
				putchar('\n');
		} else {
			printf("--- %s: %s ---\n",
			       vb_strerror(vb_result_exit_code(r)),
			       vb_result_error(r) ? vb_result_error(r) : "?");
		}
	}
	int rc = vb_result_exit_code(r);
	vb_result_free(r);
	return rc;
}

#endif
