/* interactive.c: claude-code's own terminal UI inside the stage's VM,
 * joined to the user's terminal (`voidbox shell`, `kind: agent` with
 * `agent.mode: interactive`).
 *
 * It is the stage as usual — the VM, the gateway holding the key, skills
 * and MCP servers provisioned — with claude-code started without -p on a
 * guest pseudo-terminal (AGENT_EXEC_TTY) instead of headless. The user is
 * the one talking to it, so there is no stream to parse and no output to
 * collect; its exit status is the stage's.
 *
 * A first start of claude-code's UI asks questions a sandbox has already
 * answered: the theme and onboarding, whether to trust /workspace,
 * whether to run with permissions bypassed (the VM is the sandbox), and
 * whether to use the API key it finds in its environment (the gateway's
 * per-VM token, never the real key). Its user settings (~/.claude.json)
 * record those answers before it starts, as a user who had said yes once
 * would have them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "run.h"
#include "../agent/agent.h"
#include "../spec/spec.h"

#define CLAUDE_JSON "/home/agent/.claude.json"

/* ~/.claude.json with the first-run answers; tok's last 20 characters
 * are how claude-code remembers an approved key. */
static char *settings_json(const char *tok)
{
	cJSON *j = cJSON_CreateObject();
	size_t tl = tok ? strlen(tok) : 0;

	cJSON_AddBoolToObject(j, "hasCompletedOnboarding", 1);
	cJSON_AddStringToObject(j, "theme", "dark");
	cJSON_AddBoolToObject(j, "bypassPermissionsModeAccepted", 1);
	cJSON_AddNumberToObject(j, "numStartups", 1);
	cJSON *keys = cJSON_AddObjectToObject(j, "customApiKeyResponses");
	cJSON *ok = cJSON_AddArrayToObject(keys, "approved");
	cJSON_AddArrayToObject(keys, "rejected");
	if (tl)
		cJSON_AddItemToArray(ok, cJSON_CreateString(
			tok + (tl > 20 ? tl - 20 : 0)));
	cJSON *proj = cJSON_AddObjectToObject(j, "projects");
	cJSON *ws = cJSON_AddObjectToObject(proj, "/workspace");
	cJSON_AddBoolToObject(ws, "hasTrustDialogAccepted", 1);
	cJSON_AddBoolToObject(ws, "hasCompletedProjectOnboarding", 1);
	char *s = cJSON_Print(j);
	cJSON_Delete(j);
	return s;
}

void claude_interactive(struct agent_conn *c, const struct box_cfg *bc,
			const struct stage_opts *o, const char *tok,
			bool have_mcp, struct stage_result *r)
{
	const char *argv[20], *envv[STAGE_MAX_ENV];
	char *bufs = malloc(16384), *prompt = claude_prompt(bc, o);
	char *js = settings_json(tok), out[256];
	int code = -1;

	if (!bufs || !prompt || !js) {
		stage_fail(r, CAUSE_INTERNAL, "out of memory");
		goto out;
	}
	if (provision_put(c, CLAUDE_JSON, js, strlen(js), 0600) < 0 ||
	    provision_sh(c, "chown agent:agent " CLAUDE_JSON, out,
			 sizeof(out), &code) < 0 || code != 0) {
		stage_fail(r, agent_conn_lost(c) ? CAUSE_AGENT_LOST
						 : CAUSE_PROVISION,
			   "claude-code settings: %s", c->err[0] ? c->err
			   : "chown failed");
		goto out;
	}
	claude_cmdline(bc, tok, o->traceparent, have_mcp, CLAUDE_INTERACTIVE,
		       prompt, argv, envv, bufs, 16384);
	/* No time limit: the session lasts as long as its user. */
	struct agent_exec_req rq = { .argv = argv, .envv = envv,
				     .cwd = "/workspace" };
	if (agent_exec_tty(c, 0, &rq, &r->exec) < 0)
		stage_fail(r, CAUSE_AGENT_LOST, "lost the agent connection: %s",
			   c->err);
	else if (r->exec.err)
		stage_fail(r, CAUSE_AGENT, "claude-code did not start: %s",
			   r->exec.errmsg);
	else if (r->exec.exit.how != AGENT_EXIT_CODE || r->exec.exit.code)
		stage_fail(r, CAUSE_AGENT, "claude-code %s %d",
			   r->exec.exit.how == AGENT_EXIT_CODE
			   ? "exited with" : "was killed by signal",
			   r->exec.exit.code);
out:
	free(js);
	free(prompt);
	free(bufs);
}
