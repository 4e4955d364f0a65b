/* provision.c: what a stage puts into its VM before claude-code runs
 * (skills as SKILL.md, the MCP config, the previous stage's output, the
 * check that cli: skills exist) and what it takes out after (the output
 * file).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "run.h"
#include "../agent/agent.h"
#include "../spec/spec.h"

#define OUTPUT_MAX      (64u << 20)

/* ---- provisioning --------------------------------------------------------- */

/* A step that failed because the connection went away lost the agent
 * (the VM died or is dying: the stage's end says how); anything else is
 * the step's own failure. */
static void step_fail(struct stage_result *r, struct agent_conn *c,
		      enum stage_cause cause, const char *what)
{
	if (agent_conn_lost(c))
		stage_fail(r, CAUSE_AGENT_LOST, "lost the agent connection "
			   "while %s: %s", what, c->err);
	else
		stage_fail(r, cause, "%s: %s", what, c->err);
}

int provision_put(struct agent_conn *c, const char *path, const void *p,
		  size_t n, uint32_t mode)
{
	int fd = memfd_create("vb-put", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = agent_write_all(fd, p, n) == 0 && lseek(fd, 0, SEEK_SET) == 0
		? agent_put(c, fd, path, mode) : -1;
	close(fd);
	return r;
}

/* SKILL.md needs frontmatter with a description to be listed; give one
 * to plain markdown skills (the first non-empty line). */
static char *skill_md(const struct skill_cfg *k)
{
	const char *t = k->content ? k->content : "";
	if (!strncmp(t, "---\n", 4))
		return strdup(t);
	const char *l = t;
	while (*l == '\n' || *l == '#' || *l == ' ')
		l++;
	size_t dl = strcspn(l, "\n");
	if (dl > 200)
		dl = 200;
	char desc[256];
	snprintf(desc, sizeof(desc), "%.*s", (int)dl, l);
	for (char *c = desc; *c; c++)
		if (*c == '"' || *c == '\\')
			*c = '\'';
	size_t n = strlen(t) + strlen(desc) + strlen(k->name) + 64;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "---\nname: %s\ndescription: \"%s\"\n---\n%s",
			 k->name, desc[0] ? desc : k->name, t);
	return out;
}

static char *mcp_json(const struct box_cfg *bc)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *servers = cJSON_AddObjectToObject(root, "mcpServers");
	for (size_t i = 0; i < bc->nskills; i++) {
		const struct skill_cfg *k = &bc->skills[i];
		if (k->type != SKILL_MCP)
			continue;
		cJSON *s = cJSON_AddObjectToObject(servers, k->name);
		cJSON_AddStringToObject(s, "type", "stdio");
		cJSON_AddStringToObject(s, "command", k->command);
		cJSON *a = cJSON_AddArrayToObject(s, "args");
		for (size_t j = 0; j < k->nargs; j++)
			cJSON_AddItemToArray(a, cJSON_CreateString(k->args[j]));
		cJSON *e = cJSON_AddObjectToObject(s, "env");
		for (size_t j = 0; j < k->nenv; j++) {
			char *eq = strchr(k->env[j], '=');
			if (!eq)
				continue;
			*eq = '\0';
			cJSON_AddStringToObject(e, k->env[j], eq + 1);
			*eq = '=';
		}
	}
	char *s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

/* Run a short shell snippet as root; stdout into out (bounded). */
int provision_sh(struct agent_conn *c, const char *script, char *out,
		 size_t outlen, int *code)
{
	int fd = memfd_create("vb-sh", MFD_CLOEXEC);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct agent_exec_req rq = { .argv = argv, .root = true,
				     .timeout_ms = 60000, .stdin_fd = -1,
				     .stdout_fd = fd, .stderr_fd = fd };
	struct agent_exec_res res;

	if (fd < 0)
		return -1;
	int r = agent_exec(c, &rq, &res);
	if (r == 0 && !res.err) {
		*code = res.exit.code;
		ssize_t n = pread(fd, out, outlen - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	} else {
		r = -1;
	}
	close(fd);
	return r;
}

int provision_input(struct agent_conn *c, const struct stage_opts *o,
		    struct stage_result *r)
{
	if (o->input && provision_put(c, "/workspace/input.json", o->input,
				o->input_len, 0644) < 0) {
		step_fail(r, c, CAUSE_PROVISION, "provisioning input");
		return -1;
	}
	return 0;
}

bool provision_has_mcp(const struct box_cfg *bc)
{
	for (size_t i = 0; i < bc->nskills; i++)
		if (bc->skills[i].type == SKILL_MCP)
			return true;
	return false;
}

int provision_run(struct agent_conn *c, const struct box_cfg *bc,
		  bool *have_mcp, struct stage_result *r)
{
	char path[512], out[1024];

	*have_mcp = provision_has_mcp(bc);
	for (size_t i = 0; i < bc->nskills; i++) {
		const struct skill_cfg *k = &bc->skills[i];
		if (k->type != SKILL_FILE && k->type != SKILL_INLINE)
			continue;
		char *md = skill_md(k);
		snprintf(path, sizeof(path),
			 "/workspace/.claude/skills/%s/SKILL.md", k->name);
		int e = md ? provision_put(c, path, md, strlen(md), 0644) : -1;
		free(md);
		if (e < 0) {
			char what[300];
			snprintf(what, sizeof(what), "provisioning skill %s",
				 k->name);
			step_fail(r, c, CAUSE_PROVISION, what);
			return -1;
		}
	}
	if (*have_mcp) {
		char *j = mcp_json(bc);
		int e = j ? provision_put(c, "/home/agent/.voidbox/mcp.json", j,
				    strlen(j), 0644) : -1;
		free(j);
		if (e < 0) {
			step_fail(r, c, CAUSE_PROVISION,
				  "provisioning MCP config");
			return -1;
		}
	}
	/* cli: skills are promises about the guest; check them all in one
	 * exec and name every missing tool. */
	char script[2048] = "m=; for t in";
	size_t sl = strlen(script);
	bool any = false;
	for (size_t i = 0; i < bc->nskills; i++) {
		const struct skill_cfg *k = &bc->skills[i];
		if (k->type != SKILL_CLI)
			continue;
		if (!k->name[0] || strspn(k->name, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") !=
				  strlen(k->name)) {
			stage_fail(r, CAUSE_PROVISION, "skill cli:%s: not a "
				   "command name", k->name);
			return -1;
		}
		int w = snprintf(script + sl, sizeof(script) - sl, " '%s'",
				 k->name);
		if (w > 0 && (size_t)w < sizeof(script) - sl)
			sl += (size_t)w;
		any = true;
	}
	if (any) {
		snprintf(script + sl, sizeof(script) - sl,
			 "; do command -v \"$t\" >/dev/null || m=\"$m $t\"; "
			 "done; echo \"$m\"; [ -z \"$m\" ]");
		int code = -1;
		int e = provision_sh(c, script, out, sizeof(out), &code);
		if (e < 0 && agent_conn_lost(c)) {
			step_fail(r, c, CAUSE_PROVISION, "checking cli: skills");
			return -1;
		}
		if (e < 0 || code) {
			out[strcspn(out, "\n")] = '\0';
			stage_fail(r, CAUSE_PROVISION, "skill cli:%s not found "
				   "in the guest", out[0] == ' ' ? out + 1
				   : out);
			return -1;
		}
	}
	return 0;
}

/* /workspace/<output_file>, else the first /workspace/output.*. */
void provision_collect(struct agent_conn *c, const struct box_cfg *bc,
		       struct stage_result *r)
{
	char path[512], out[600];
	int code = -1;

	if (bc->output_file[0]) {
		snprintf(path, sizeof(path), "%s%s", bc->output_file[0] == '/'
			 ? "" : "/workspace/", bc->output_file);
	} else {
		if (provision_sh(c, "for f in /workspace/output.*; do [ -f \"$f\" ]"
			     " && echo \"$f\" && exit 0; done; exit 1", out,
			     sizeof(out), &code) < 0 || code)
			return;		/* no output file: the result text is
					   the output */
		out[strcspn(out, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s", out);
	}
	int fd = memfd_create("vb-output", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (agent_get(c, path, fd) == 0) {
		off_t n = lseek(fd, 0, SEEK_END);
		if (n > OUTPUT_MAX) {
			stage_fail(r, CAUSE_OUTPUT, "%s: %lld bytes, over the "
				   "%u MiB output limit", path, (long long)n,
				   OUTPUT_MAX >> 20);
		} else if ((r->output = malloc((size_t)n + 1))) {
			ssize_t g = pread(fd, r->output, (size_t)n, 0);
			r->output_len = g > 0 ? (size_t)g : 0;
			r->output[r->output_len] = '\0';
			snprintf(r->output_path, sizeof(r->output_path), "%s",
				 path);
		}
	} else if (bc->output_file[0]) {
		char what[600];
		snprintf(what, sizeof(what), "output file %s", path);
		step_fail(r, c, CAUSE_OUTPUT, what);
	}
	close(fd);
}
