/* rules.c: what the schema tables cannot say — which block each kind
 * needs, names that must exist or be unique, and dependency cycles. */
#include <stdio.h>
#include <string.h>

#include "spec.h"
#include "../llm/llm.h"

#define ERR(n, path, ...) spec_error(e, file, (n)->line, (n)->col, path, \
				     __VA_ARGS__)

static const char *str_of(const struct node *n)
{
	return n && n->kind == NODE_SCALAR ? n->str : NULL;
}

static bool has_name(const struct node *list, const char *name, size_t upto)
{
	for (size_t i = 0; list && list->kind == NODE_SEQ && i < upto &&
			   i < list->n; i++) {
		const char *s = str_of(doc_get(list->items[i], "name"));
		if (s && !strcmp(s, name))
			return true;
	}
	return false;
}

static void kind_blocks(const struct node *root, const char *file,
			struct spec_errors *e)
{
	static const char *const blocks[] = { "agent", "pipeline", "workflow" };
	const char *kind = str_of(doc_get(root, "kind"));

	if (!kind)
		return;
	for (size_t i = 0; i < 3; i++) {
		const struct node *b = doc_get(root, blocks[i]);
		bool want = !strcmp(kind, blocks[i]);
		if (want && !b)
			ERR(root, blocks[i], "missing (required for kind: %s)",
			    kind);
		else if (!want && b)
			ERR(b, blocks[i], "not allowed with kind: %s", kind);
	}
}

static void agent_rules(const struct node *a, const char *file,
			struct spec_errors *e)
{
	const char *mode = str_of(doc_get(a, "mode"));
	const struct node *prompt = doc_get(a, "prompt");
	const struct node *timeout = doc_get(a, "timeout_secs");
	bool interactive = mode && !strcmp(mode, "interactive");
	bool service = mode && !strcmp(mode, "service");

	if (!interactive && (!prompt || !str_of(prompt) || !*str_of(prompt)))
		ERR(prompt ? prompt : a, "agent.prompt",
		    "a non-empty prompt is required (unless mode: "
		    "interactive)");
	if ((interactive || service) && timeout)
		ERR(timeout, "agent.timeout_secs", "not allowed with mode: %s",
		    mode);
	if (service && !doc_get(a, "output_file"))
		ERR(a, "agent.output_file", "required with mode: service");
}

static void pipeline_rules(const struct node *p, const char *file,
			   struct spec_errors *e)
{
	const struct node *boxes = doc_get(p, "boxes");
	const struct node *stages = doc_get(p, "stages");
	char path[128];

	if (!boxes || boxes->kind != NODE_SEQ)
		return;
	if (!boxes->n)
		ERR(boxes, "pipeline.boxes", "at least one box is required");
	for (size_t i = 0; i < boxes->n; i++) {
		const struct node *b = boxes->items[i];
		const char *name = str_of(doc_get(b, "name"));
		snprintf(path, sizeof(path), "pipeline.boxes[%zu].name", i);
		if (name && has_name(boxes, name, i))
			ERR(doc_get(b, "name"), path, "duplicate box name "
			    "\"%s\"", name);
		const struct node *in = doc_get(b, "inputs");
		for (size_t j = 0; in && in->kind == NODE_SEQ && j < in->n;
		     j++) {
			const struct node *from = doc_get(in->items[j], "from");
			snprintf(path, sizeof(path),
				 "pipeline.boxes[%zu].inputs[%zu].from", i, j);
			if (str_of(from) && !has_name(boxes, from->str, i))
				ERR(from, path, "\"%s\" is not an earlier box",
				    from->str);
		}
	}
	if (!stages || stages->kind != NODE_SEQ)
		return;
	for (size_t i = 0; i < stages->n; i++) {
		const struct node *s = stages->items[i];
		const char *type = str_of(doc_get(s, "type"));
		if (!type)
			continue;
		snprintf(path, sizeof(path), "pipeline.stages[%zu]", i);
		if (!strcmp(type, "box")) {
			const struct node *n = doc_get(s, "name");
			if (!n)
				ERR(s, path, "a box stage needs name:");
			else if (str_of(n) && !has_name(boxes, n->str,
							 boxes->n))
				ERR(n, path, "no box named \"%s\"", n->str);
			if (doc_get(s, "boxes"))
				ERR(doc_get(s, "boxes"), path, "boxes: belongs "
				    "to fan_out stages");
		} else {
			const struct node *bs = doc_get(s, "boxes");
			if (i == 0)
				ERR(s, path, "the first stage cannot be a "
				    "fan_out");
			if (!bs || bs->kind != NODE_SEQ || bs->n < 1) {
				ERR(s, path, "a fan_out stage needs boxes: "
				    "[...]");
				continue;
			}
			for (size_t j = 0; j < bs->n; j++)
				if (str_of(bs->items[j]) &&
				    !has_name(boxes, bs->items[j]->str,
					      boxes->n))
					ERR(bs->items[j], path, "no box named "
					    "\"%s\"", bs->items[j]->str);
		}
	}
}

/* Depth-first search over depends_on; `state` 0 new, 1 on stack, 2 done. */
static bool cyclic(const struct node *steps, size_t i, int *state)
{
	if (state[i] == 1)
		return true;
	if (state[i] == 2)
		return false;
	state[i] = 1;
	const struct node *deps = doc_get(steps->items[i], "depends_on");
	for (size_t j = 0; deps && deps->kind == NODE_SEQ && j < deps->n; j++)
		for (size_t k = 0; k < steps->n; k++) {
			const char *nm = str_of(doc_get(steps->items[k],
							"name"));
			if (nm && str_of(deps->items[j]) &&
			    !strcmp(nm, deps->items[j]->str) &&
			    cyclic(steps, k, state))
				return true;
		}
	state[i] = 2;
	return false;
}

static void workflow_rules(const struct node *w, const char *file,
			   struct spec_errors *e)
{
	const struct node *steps = doc_get(w, "steps");
	char path[128];
	static int state[1024];

	if (!steps || steps->kind != NODE_SEQ)
		return;
	if (!steps->n)
		ERR(steps, "workflow.steps", "at least one step is required");
	if (steps->n > 1024) {
		ERR(steps, "workflow.steps", "more than 1024 steps");
		return;
	}
	for (size_t i = 0; i < steps->n; i++) {
		const struct node *s = steps->items[i];
		const char *name = str_of(doc_get(s, "name"));
		snprintf(path, sizeof(path), "workflow.steps[%zu]", i);
		if (name && has_name(steps, name, i))
			ERR(doc_get(s, "name"), path, "duplicate step name "
			    "\"%s\"", name);
		const struct node *deps = doc_get(s, "depends_on");
		for (size_t j = 0; deps && deps->kind == NODE_SEQ &&
				   j < deps->n; j++)
			if (str_of(deps->items[j]) &&
			    !has_name(steps, deps->items[j]->str, steps->n))
				ERR(deps->items[j], path, "depends_on: no step "
				    "named \"%s\"", deps->items[j]->str);
		const struct node *from = doc_get(doc_get(s, "run"),
						  "stdin_from");
		if (str_of(from) && !has_name(steps, from->str, steps->n))
			ERR(from, path, "run.stdin_from: no step named \"%s\"",
			    from->str);
		const char *mode = str_of(doc_get(s, "mode"));
		if (mode && doc_get(s, "timeout_secs"))
			ERR(doc_get(s, "timeout_secs"), path, "timeout_secs "
			    "not allowed with mode: service");
	}
	memset(state, 0, sizeof(state));	/* one DFS over all steps */
	for (size_t i = 0; i < steps->n; i++) {
		if (cyclic(steps, i, state)) {
			snprintf(path, sizeof(path), "workflow.steps[%zu]", i);
			ERR(steps->items[i], path, "depends_on forms a cycle");
			break;
		}
	}
	const struct node *out = doc_get(w, "output_step");
	if (str_of(out) && !has_name(steps, out->str, steps->n))
		ERR(out, "workflow.output_step", "no step named \"%s\"",
		    out->str);
}

/* Every llm.api_key_env named anywhere in the spec, into keys[]. */
static void key_envs(const struct node *n, const char **keys, size_t *nk,
		     size_t cap)
{
	if (!n || n->kind == NODE_SCALAR)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->kind == NODE_MAP && !strcmp(n->keys[i]->str, "llm")) {
			const char *k = str_of(doc_get(n->items[i],
						       "api_key_env"));
			if (k && *nk < cap)
				keys[(*nk)++] = k;
		}
		key_envs(n->items[i], keys, nk, cap);
	}
}

/* Is k one of the agents' own settings, by the env_prefix of a row of
 * the providers table (ANTHROPIC_* for claude-code, OPENAI_* for codex)?
 * Also puts every prefix, each with "*" and joined by "/", into names. */
static bool agent_setting(const char *k, char *names, size_t len)
{
	bool hit = false;
	size_t o = 0;

	names[0] = '\0';
	for (size_t i = 0; i < llm_nproviders; i++) {
		const char *px = llm_providers[i].env_prefix;
		bool seen = false;
		if (!px)
			continue;
		for (size_t j = 0; j < i; j++)
			seen |= llm_providers[j].env_prefix &&
				!strcmp(llm_providers[j].env_prefix, px);
		if (seen)
			continue;
		hit |= !strncmp(k, px, strlen(px));
		int w = snprintf(names + o, len - o, "%s%s*", o ? "/" : "",
				 px);
		if (w > 0 && (size_t)w < len - o)
			o += (size_t)w;
	}
	return hit;
}

/* env: maps must not carry the provider's credential into the guest:
 * "" copies the host's value, so `ANTHROPIC_API_KEY: ""` would undo the
 * gateway (the guest's getenv sees the first of two entries). Names
 * voidbox itself sets for the agent (agent_setting) are refused whatever
 * their value. */
static void env_rules(const struct node *n, const char *path,
		      const char **keys, size_t nk, const char *file,
		      struct spec_errors *e)
{
	if (!n || n->kind == NODE_SCALAR)
		return;
	for (size_t i = 0; i < n->n; i++) {
		const struct node *v = n->items[i];
		char sub[128];
		if (n->kind == NODE_MAP)
			snprintf(sub, sizeof(sub), "%s%s%s", path,
				 *path ? "." : "", n->keys[i]->str);
		else
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (n->kind == NODE_MAP && !strcmp(n->keys[i]->str, "env") &&
		    v->kind == NODE_MAP) {
			for (size_t j = 0; j < v->n; j++) {
				const char *k = v->keys[j]->str;
				char names[128];
				bool bad = agent_setting(k, names,
							 sizeof(names));
				for (size_t x = 0; x < nk; x++)
					bad |= !strcmp(k, keys[x]);
				if (bad) {
					char f[192];
					snprintf(f, sizeof(f), "%s.%s", sub, k);
					spec_error(e, file, v->keys[j]->line,
						   v->keys[j]->col, f,
						   "refused: the provider's "
						   "credential and the %s "
						   "settings stay on the "
						   "host (the guest gets a gateway "
						   "token; use llm.* for model and "
						   "endpoint)", names);
				}
			}
			continue;
		}
		env_rules(v, sub, keys, nk, file, e);
	}
}

/* One sandbox block: every mount point (mounts and volumes) once, and
 * every volume name once (one writer per volume, also within a VM). */
static void sandbox_rules(const struct node *sb, const char *path,
			  const char *file, struct spec_errors *e)
{
	static const char *const lists[] = { "mounts", "volumes" };
	const char *seen[32];
	size_t ns = 0;
	char p[160];

	for (size_t l = 0; l < 2; l++) {
		const struct node *v = doc_get(sb, lists[l]);
		for (size_t i = 0; v && v->kind == NODE_SEQ && i < v->n; i++) {
			const struct node *g = doc_get(v->items[i], "guest");
			const char *gs = str_of(g);
			snprintf(p, sizeof(p), "%ssandbox.%s[%zu].guest", path,
				 lists[l], i);
			for (size_t k = 0; gs && k < ns; k++)
				if (!strcmp(seen[k], gs))
					ERR(g, p, "\"%s\" is already a mount "
					    "point in this sandbox", gs);
			if (gs && ns < 32)
				seen[ns++] = gs;
			if (l == 1 && has_name(v, str_of(doc_get(v->items[i],
							"name")) ?: "", i))
				ERR(v->items[i], p, "volume \"%s\" twice "
				    "(one VM, one writer)",
				    str_of(doc_get(v->items[i], "name")));
		}
	}
}

void rules_check(const struct node *root, const char *file,
		 struct spec_errors *e)
{
	const struct node *sb = doc_get(root, "sandbox");
	if (sb)
		sandbox_rules(sb, "", file, e);
	const struct node *bx = doc_get(doc_get(root, "pipeline"), "boxes");
	for (size_t i = 0; bx && bx->kind == NODE_SEQ && i < bx->n; i++) {
		char p[64];
		snprintf(p, sizeof(p), "pipeline.boxes[%zu].", i);
		if ((sb = doc_get(bx->items[i], "sandbox")))
			sandbox_rules(sb, p, file, e);
	}

	const char *keys[16];
	size_t nk = 0;

	key_envs(root, keys, &nk, 16);
	env_rules(root, "", keys, nk, file, e);
	kind_blocks(root, file, e);
	const char *kind = str_of(doc_get(root, "kind"));
	if (!kind)
		return;
	if (!strcmp(kind, "agent") && doc_get(root, "agent"))
		agent_rules(doc_get(root, "agent"), file, e);
	if (!strcmp(kind, "pipeline") && doc_get(root, "pipeline"))
		pipeline_rules(doc_get(root, "pipeline"), file, e);
	if (!strcmp(kind, "workflow") && doc_get(root, "workflow"))
		workflow_rules(doc_get(root, "workflow"), file, e);
}
