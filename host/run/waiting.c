/* waiting.c: the waiting agent — claude-code already started inside a
 * stage's template snapshot, waiting for its first message, so a stage
 * from the template is a restore, a token, the input and the prompt
 * (docs/snapshots.md, "A waiting agent").
 *
 * What claude-code does while it waits (../shared/reference/
 * claude-code-headless.md, and measured again for this file): in
 * `--input-format stream-json` it starts, loads its tools, skills and
 * MCP servers and sends nothing upstream before its first user message.
 * An `initialize` control request is answered with a `control_response`
 * once it is loaded, which is how the template knows it is ready to
 * snapshot. The key never reaches it at start: its apiKeyHelper (see
 * claude_cmdline) waits for WAITING_TOKEN_FILE, which each stage writes
 * with its own gateway's token after the restore; claude-code runs the
 * helper at start in the background and awaits it before its first
 * request, so every clone talks upstream with its own token, and the
 * template with none.
 *
 * What a clone shares with its siblings: the process's own user-space
 * state, its random generators included (V8's Math.random, OpenSSL's
 * DRBG, the UUIDs it has cached): claude-code's session id is the
 * template's in every clone. The kernel's RNG is reseeded per clone
 * (RESUME); only the process's own state is shared.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../util/util.h"

#define READY_REQ     "voidbox-ready"
#define READY_LINE    "{\"type\":\"control_request\",\"request_id\":\"" \
		      READY_REQ "\",\"request\":{\"subtype\":\"initialize\"}}\n"
#define READY_OUT_MAX (4u << 20)	/* output read while waiting */
#define WAITING_PARKED_MS 3600000u	/* ready and unattached, at most */

struct keybuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void kb_add(struct keybuf *k, const char *tag, const char *s)
{
	size_t n = strlen(tag) + (s ? strlen(s) : 0) + 2;
	if (k->oom)
		return;
	if (k->len + n > k->cap) {
		size_t cap = (k->cap ? k->cap * 2 : 4096) + n;
		char *p = realloc(k->p, cap);
		if (!p) {
			k->oom = true;
			return;
		}
		k->p = p;
		k->cap = cap;
	}
	/* tag and value NUL-separated: no two lists join to the same key */
	k->len += (size_t)snprintf(k->p + k->len, k->cap - k->len, "%s",
				   tag) + 1;
	k->len += (size_t)snprintf(k->p + k->len, k->cap - k->len, "%s",
				   s ? s : "") + 1;
}

void waiting_key(const struct box_cfg *bc, char key[65])
{
	const char *argv[16], *envv[STAGE_MAX_ENV];
	char *bufs = malloc(16384);
	struct keybuf k = { 0 };

	if (bufs) {
		claude_cmdline(bc, NULL, NULL, provision_has_mcp(bc),
			       CLAUDE_WAITING, NULL, argv, envv, bufs, 16384);
		for (size_t i = 0; argv[i]; i++)
			kb_add(&k, "arg", argv[i]);
		for (size_t i = 0; envv[i]; i++)
			kb_add(&k, "env", envv[i]);
	}
	for (size_t i = 0; i < bc->nskills; i++) {
		const struct skill_cfg *s = &bc->skills[i];
		char t[32];
		snprintf(t, sizeof(t), "skill%d", (int)s->type);
		kb_add(&k, t, s->name);
		kb_add(&k, "content", s->content);
		kb_add(&k, "command", s->command);
		for (size_t j = 0; j < s->nargs; j++)
			kb_add(&k, "sarg", s->args[j]);
		for (size_t j = 0; j < s->nenv; j++)
			kb_add(&k, "senv", s->env[j]);
	}
	if (!bufs || k.oom) {
		/* Never a key two configurations could share: no template. */
		snprintf(key, 65, "%s", "");
	} else {
		sha256_hex(k.p, k.len, key);
	}
	free(k.p);
	free(bufs);
}

/* One complete stdout line: is it the answer to our initialize? */
static bool is_ready_line(const char *l, size_t n)
{
	char *s = strndup(l, n);
	bool ok = s && strstr(s, "\"type\":\"control_response\"") &&
		  strstr(s, "\"request_id\":\"" READY_REQ "\"");
	free(s);
	return ok;
}

/* Read the attached exec's frames until the ready line (1), its exit or
 * a refusal (-1, err), or the deadline. */
static int read_until_ready(struct agent_conn *c, uint32_t req,
			    uint64_t deadline_ns, char *err, size_t errlen)
{
	char *out = malloc(READY_OUT_MAX), tail[512] = "";
	size_t len = 0, scanned = 0;
	int rc = -1;

	if (!out) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= deadline_ns) {
			snprintf(err, errlen, "claude-code did not answer its "
				 "initialize request in time%s%s",
				 tail[0] ? "; stderr: " : "", tail);
			break;
		}
		struct agent_hdr h;
		int r = agent_recv(c, &h, (int)((deadline_ns - now) / 1000000
						+ 1));
		if (r <= 0) {
			if (c->cause != -ETIMEDOUT || r == 0)
				snprintf(err, errlen, "agent: %s", r ? c->err
					 : "connection closed");
			else
				continue;	/* the deadline check says */
			break;
		}
		if (h.req_id != req)
			continue;
		if (h.type == AGENT_MSG_STDERR) {
			size_t n = h.len < sizeof(tail) - 1 ? h.len
							     : sizeof(tail) - 1;
			memcpy(tail, c->buf + h.len - n, n);
			tail[n] = '\0';
			for (char *p = tail; *p; p++)
				if (*p == '\n' || (unsigned char)*p < 0x20)
					*p = ' ';
			continue;
		}
		if (h.type == AGENT_MSG_EXIT) {
			snprintf(err, errlen, "claude-code exited while "
				 "starting%s%s", tail[0] ? ": " : "", tail);
			break;
		}
		if (h.type == AGENT_MSG_ERROR) {
			char m[200];
			agent_error_of(c, &h, m, sizeof(m));
			snprintf(err, errlen, "attach refused: %s", m);
			break;
		}
		if (h.type != AGENT_MSG_STDOUT)
			continue;
		if (len + h.len > READY_OUT_MAX) {
			snprintf(err, errlen, "claude-code wrote over %u MiB "
				 "before answering", READY_OUT_MAX >> 20);
			break;
		}
		memcpy(out + len, c->buf, h.len);
		len += h.len;
		char *nl;
		bool found = false;
		while (!found && (nl = memchr(out + scanned, '\n',
					      len - scanned))) {
			found = is_ready_line(out + scanned,
					      (size_t)(nl - out) - scanned);
			scanned = (size_t)(nl - out) + 1;
		}
		if (found) {
			rc = 1;
			break;
		}
	}
	free(out);
	return rc;
}

int waiting_start(struct box *b, const struct box_cfg *bc, bool have_mcp,
		  unsigned timeout_ms, uint32_t *park_id, char *err,
		  size_t errlen)
{
	const char *argv[16], *envv[STAGE_MAX_ENV];
	char *bufs = malloc(16384);
	struct agent_conn c = { .fd = -1 };
	struct agent_exec_res res;
	int rc = -1;

	*park_id = 0;
	if (!bufs) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	claude_cmdline(bc, NULL, NULL, have_mcp, CLAUDE_WAITING, NULL, argv,
		       envv, bufs, 16384);
	/* Parked with a bound of its own: a template that fails here leaves
	 * no claude-code running for longer than this; the stage that
	 * attaches sets its own limit from then on. */
	struct agent_exec_req rq = {
		.argv = argv, .envv = envv, .cwd = "/workspace",
		.timeout_ms = timeout_ms, .stdin_fd = -1, .stdout_fd = -1,
		.stderr_fd = -1, .park = true,
	};
	uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000;
	if (agent_open(&c, b, 10000) < 0) {
		snprintf(err, errlen, "agent: %s", c.err);
		goto out;
	}
	if (agent_exec(&c, &rq, &res) < 0 || res.err) {
		snprintf(err, errlen, "claude-code did not start: %s",
			 res.err ? res.errmsg : c.err);
		goto out;
	}
	/* Attach on this connection, ask, read the answer, close: the
	 * guest parks it again, stdin still open. */
	uint32_t req = agent_new_req(&c);
	/* From the answer on, it waits up to WAITING_PARKED_MS for a stage
	 * (in the template's own VM and, from the snapshot's frozen clock,
	 * in every clone) rather than whatever was left of its start bound;
	 * the stage's ATTACH sets the stage's own limit. */
	struct agent_attach a = { .park_id = res.park_id,
				  .timeout_ms = WAITING_PARKED_MS };
	if (agent_send(&c, AGENT_MSG_ATTACH, req, &a, sizeof(a), NULL, 0) < 0 ||
	    agent_send(&c, AGENT_MSG_STDIN, req, READY_LINE,
		       strlen(READY_LINE), NULL, 0) < 0) {
		snprintf(err, errlen, "agent: %s", c.err);
		goto out;
	}
	if (read_until_ready(&c, req, deadline, err, errlen) == 1) {
		*park_id = res.park_id;
		rc = 0;
	} else {
		/* Not ready: it goes now, not at its bound. */
		struct agent_signal s = { .sig = 9 };
		agent_send(&c, AGENT_MSG_SIGNAL, req, &s, sizeof(s), NULL, 0);
	}
out:
	agent_close(&c);
	free(bufs);
	return rc;
}

int waiting_token(struct agent_conn *c, const char *tok,
		  const char *traceparent, struct stage_result *r)
{
	char env[128] = "";

	/* Only a W3C traceparent's characters reach the shell. */
	if (traceparent && *traceparent &&
	    strspn(traceparent, "0123456789abcdef-") == strlen(traceparent) &&
	    strlen(traceparent) < 80)
		snprintf(env, sizeof(env), "export TRACEPARENT=%s\n",
			 traceparent);
	/* Read by the agent user's helper and shell: the same reach the
	 * key's stand-in has in a cold stage's environment. */
	if (provision_put(c, WAITING_ENV_FILE, env, strlen(env), 0644) < 0 ||
	    provision_put(c, WAITING_TOKEN_FILE, tok, strlen(tok), 0644) < 0) {
		stage_fail(r, agent_conn_lost(c) ? CAUSE_AGENT_LOST
						 : CAUSE_PROVISION,
			   "the waiting claude-code's token: %s", c->err);
		return -1;
	}
	return 0;
}
