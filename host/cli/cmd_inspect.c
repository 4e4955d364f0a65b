/* cmd_inspect.c: `voidbox inspect SPEC` — the resolved configuration of
 * every stage, exactly what `run` would use (box overrides applied,
 * defaults filled, skills read and named), as one JSON document; and
 * `voidbox skills SPEC` — each box's skills, one per line.
 *
 * Nothing secret is printed: env values are listed by name only (a value
 * of "" copies the host's, which may be a credential), and for the LLM
 * only the *name* of the key variable and whether it is set here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../spec/spec.h"
#include "../util/util.h"

static const char *const skill_types[] = { "agent", "file", "inline", "cli",
					   "mcp", "remote" };
static const char *const modes[] = { "auto", "local", "mock" };

/* The description line of a SKILL.md (frontmatter), or the first line. */
static void skill_desc(const char *md, char *out, size_t len)
{
	const char *d = md ? strstr(md, "\ndescription:") : NULL;
	const char *s = d ? d + 13 : md ? md : "";
	while (*s == ' ' || *s == '#' || *s == '\n' || *s == '-')
		s++;
	snprintf(out, len, "%.*s", (int)strcspn(s, "\n"), s);
}

static cJSON *box_json(const struct box_cfg *b)
{
	cJSON *o = cJSON_CreateObject();
	char desc[256];

	cJSON_AddStringToObject(o, "name", b->name);
	cJSON_AddStringToObject(o, "mode", modes[b->mode]);
	cJSON_AddNumberToObject(o, "memory_mb", (double)b->vm.mem_mb);
	cJSON_AddNumberToObject(o, "vcpus", b->vm.vcpus);
	if (b->vm.hostname[0])
		cJSON_AddStringToObject(o, "hostname", b->vm.hostname);
	cJSON_AddNumberToObject(o, "timeout_secs", b->timeout_s);
	cJSON_AddBoolToObject(o, "network", b->vm.net.enabled);
	cJSON_AddStringToObject(o, "prompt", b->prompt ? b->prompt : "");
	cJSON_AddStringToObject(o, "output_file", b->output_file[0]
				? b->output_file : "/workspace/output.*");
	cJSON *l = cJSON_AddObjectToObject(o, "llm");
	cJSON_AddStringToObject(l, "provider", b->llm.provider);
	if (b->llm.model[0])
		cJSON_AddStringToObject(l, "model", b->llm.model);
	if (b->llm.base_url[0])
		cJSON_AddStringToObject(l, "base_url", b->llm.base_url);
	const char *kv = b->llm.api_key_env[0] ? b->llm.api_key_env
		: !strcmp(b->llm.provider, "claude") ? "ANTHROPIC_API_KEY" : NULL;
	if (kv) {
		cJSON_AddStringToObject(l, "api_key_env", kv);
		cJSON_AddBoolToObject(l, "api_key_set", getenv(kv) &&
				      *getenv(kv));
	}
	if (b->llm.max_tokens)
		cJSON_AddNumberToObject(l, "max_tokens",
					(double)b->llm.max_tokens);
	if (b->llm.max_usd > 0)
		cJSON_AddNumberToObject(l, "max_cost_usd", b->llm.max_usd);
	cJSON *sk = cJSON_AddArrayToObject(o, "skills");
	for (size_t i = 0; i < b->nskills; i++) {
		const struct skill_cfg *k = &b->skills[i];
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", skill_types[k->type]);
		cJSON_AddStringToObject(s, "name", k->type == SKILL_AGENT
					? "claude-code" : k->name);
		if (k->content) {
			skill_desc(k->content, desc, sizeof(desc));
			cJSON_AddStringToObject(s, "description", desc);
			cJSON_AddNumberToObject(s, "bytes",
						(double)strlen(k->content));
		}
		if (k->command) {
			cJSON_AddStringToObject(s, "command", k->command);
			cJSON *a = cJSON_AddArrayToObject(s, "args");
			for (size_t j = 0; j < k->nargs; j++)
				cJSON_AddItemToArray(a, cJSON_CreateString(
							     k->args[j]));
		}
		cJSON_AddItemToArray(sk, s);
	}
	cJSON *env = cJSON_AddArrayToObject(o, "env");
	for (size_t i = 0; i < b->nenv; i++) {
		char name[128];
		snprintf(name, sizeof(name), "%.*s",
			 (int)strcspn(b->env[i], "="), b->env[i]);
		cJSON_AddItemToArray(env, cJSON_CreateString(name));
	}
	return o;
}

/* Load, validate and resolve SPEC into pc (agent kind: one box, one
 * stage). Prints errors; returns an exit code. */
static int load(const char *file, struct pipeline_cfg *pc, char *kind,
		size_t kindlen)
{
	struct spec_errors e = { 0 };
	struct spec_doc d;
	char err[512];
	int rc = VB_EXIT_OK;

	if (spec_open(file, &d, &e) < 0) {
		for (size_t i = 0; i < e.n; i++)
			fprintf(stderr, "%s\n", e.msg[i]);
		if (!e.n)
			fprintf(stderr, "%s: out of memory\n", file);
		rc = VB_EXIT_USAGE;
		goto out;
	}
	snprintf(kind, kindlen, "%s", d.kind);
	if (strcmp(d.kind, "agent") && strcmp(d.kind, "pipeline")) {
		snprintf(err, sizeof(err), "kind %s has no stages to inspect",
			 d.kind);
		goto bad;
	}
	if (config_pipeline(d.root, d.dir, pc, err, sizeof(err)) < 0)
		goto bad;
	goto out;
bad:
	fprintf(stderr, "%s: %s\n", file, err);
	rc = VB_EXIT_USAGE;
out:
	spec_errors_free(&e);
	spec_close(&d);
	return rc;
}

int cmd_inspect(const struct cli_globals *g, int argc, char **argv)
{
	struct pipeline_cfg pc = { 0 };
	char kind[32] = "";
	bool skills = !strcmp(argv[0], "skills");

	(void)g;
	const char *file = argc == 2 ? argv[1] : argc == 3 &&
		(!strcmp(argv[1], "--file") || !strcmp(argv[1], "-f"))
		? argv[2] : NULL;
	if (!file) {
		fprintf(stderr, "usage: voidbox %s [--file] SPEC\n", argv[0]);
		return VB_EXIT_USAGE;
	}
	int rc = load(file, &pc, kind, sizeof(kind));
	if (rc != VB_EXIT_OK) {
		config_pipeline_free(&pc);
		return rc;
	}
	if (skills) {
		char desc[256];
		for (size_t i = 0; i < pc.nboxes; i++)
			for (size_t k = 0; k < pc.boxes[i].nskills; k++) {
				const struct skill_cfg *s = &pc.boxes[i].skills[k];
				skill_desc(s->content, desc, sizeof(desc));
				printf("%s\t%s\t%s\t%s\n", pc.boxes[i].name,
				       skill_types[s->type], s->type ==
				       SKILL_AGENT ? "claude-code" : s->name,
				       s->content ? desc : s->command ?
				       s->command : "");
			}
		config_pipeline_free(&pc);
		return VB_EXIT_OK;
	}
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "file", file);
	cJSON_AddStringToObject(doc, "kind", kind);
	cJSON_AddStringToObject(doc, "name", pc.name);
	if (pc.otlp_endpoint[0])
		cJSON_AddStringToObject(doc, "otlp_endpoint", pc.otlp_endpoint);
	cJSON *st = cJSON_AddArrayToObject(doc, "stages");
	for (size_t s = 0; s < pc.nstages; s++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", pc.stages[s].type == PS_FANOUT
					? "fan_out" : "box");
		cJSON *bx = cJSON_AddArrayToObject(o, "boxes");
		for (size_t k = 0; k < pc.stages[s].nbox; k++)
			cJSON_AddItemToArray(bx, box_json(
				&pc.boxes[pc.stages[s].box[k]]));
		cJSON_AddItemToArray(st, o);
	}
	char *out = cJSON_Print(doc);
	if (out)
		printf("%s\n", out);
	cJSON_free(out);
	cJSON_Delete(doc);
	config_pipeline_free(&pc);
	return out ? VB_EXIT_OK : VB_EXIT_FAIL;
}
