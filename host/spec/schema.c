/* schema.c: the v1 spec schema (upstream void-box compatible) as tables,
 * plus the semantic rules no table expresses (kind blocks, references,
 * cycles). Every problem becomes one error naming the field path and
 * what was expected; checking continues so all errors are reported.
 * Schema source: ../shared/reference/upstream-voidbox.md §3.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec.h"
#include "../net/net.h"

/* The tables below list only the fields a row needs; the rest are zero on
 * purpose (not required, no sub-table, no range). */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

enum ftype {
	F_STR, F_INT, F_NUM, F_BOOL, F_ENUM, F_ENUM_NOCASE, F_STRMAP,
	F_STRLIST, F_OBJ, F_OBJLIST, F_SKILLS, F_NETWORK, F_HOSTNAME, F_GUESTPATH, F_VOLNAME, F_SNAPNAME,
};

struct field {
	const char *name;
	enum ftype type;
	bool required;
	const struct field *sub;		/* F_OBJ, F_OBJLIST */
	const char *const *values;		/* F_ENUM* */
	long long min, max;			/* F_INT; F_OBJLIST: max
						   entries (0: any) */
};

struct ctx {
	const char *file, *dir;
	const char *kind;		/* the document's kind:, or NULL */
	struct spec_errors *e;
};

#define ERR(c, n, path, ...) spec_error((c)->e, (c)->file, (n)->line, \
					(n)->col, path, __VA_ARGS__)
#define END { NULL, 0, false, NULL, NULL, 0, 0 }

static const char *const kinds[] = { "agent", "pipeline", "workflow",
				     "sandbox", NULL };
static const char *const versions[] = { "v1", NULL };
static const char *const modes[] = { "auto", "local", "mock", NULL };
/* The grammar's names; what each is, is the providers table's row
 * (host/llm/providers.c). tests/llm checks the two hold the same names,
 * and that unsupported[] refuses exactly the table's refused rows. */
const char *const schema_llm_providers[] = { "claude", "claude-personal",
					     "codex", "ollama", "custom",
					     "mock", "lm-studio", NULL };
static const char *const agent_modes[] = { "task", "service", "interactive",
					   NULL };
static const char *const rw[] = { "ro", "rw", NULL };
static const char *const stage_types[] = { "box", "fan_out", NULL };
static const char *const step_modes[] = { "service", NULL };

static const struct field mount_f[] = {
	{ "host", F_STR, true }, { "guest", F_GUESTPATH, true },
	{ "mode", F_ENUM, false, NULL, rw }, END,
};
static const struct field volume_f[] = {
	{ "name", F_VOLNAME, true },
	{ "size_mb", F_INT, false, NULL, NULL, 1, 1 << 20 },
	{ "guest", F_GUESTPATH, true }, END,
};
static const struct field sandbox_f[] = {
	{ "mode", F_ENUM, false, NULL, modes },
	{ "kernel", F_STR }, { "initramfs", F_STR },
	{ "memory_mb", F_INT, false, NULL, NULL, 32, 1 << 20 },
	{ "vcpus", F_INT, false, NULL, NULL, 1, 16 },
	{ "hostname", F_HOSTNAME },
	{ "network", F_NETWORK }, { "env", F_STRMAP },
	{ "mounts", F_OBJLIST, false, mount_f, NULL, 0, VM_MAX_MOUNTS },
	/* one disk stays for the tools image */
	{ "volumes", F_OBJLIST, false, volume_f, NULL, 0, VM_MAX_DISKS - 1 },
	{ "image", F_STR }, { "guest_image", F_STR }, { "snapshot", F_SNAPNAME },
	END,
};
static const struct field box_sandbox_f[] = {
	{ "memory_mb", F_INT, false, NULL, NULL, 32, 1 << 20 },
	{ "vcpus", F_INT, false, NULL, NULL, 1, 16 },
	{ "hostname", F_HOSTNAME },
	{ "network", F_NETWORK }, { "env", F_STRMAP },
	{ "mounts", F_OBJLIST, false, mount_f, NULL, 0, VM_MAX_MOUNTS },
	{ "volumes", F_OBJLIST, false, volume_f, NULL, 0, VM_MAX_DISKS - 1 },
	{ "image", F_STR }, { "snapshot", F_SNAPNAME }, END,
};
static const struct field llm_f[] = {
	{ "provider", F_ENUM_NOCASE, false, NULL, schema_llm_providers },
	{ "model", F_STR }, { "base_url", F_STR }, { "api_key_env", F_STR },
	{ "credential_proxy", F_BOOL },
	{ "max_tokens", F_INT, false, NULL, NULL, 1, LLONG_MAX },
	{ "max_cost_usd", F_NUM }, END,
};
static const struct field observe_f[] = {
	{ "traces", F_BOOL }, { "metrics", F_BOOL }, { "logs", F_BOOL },
	{ "otlp_endpoint", F_STR }, { "service_name", F_STR },
	{ "telemetry_buffer_size", F_INT, false, NULL, NULL, 1, 1 << 24 },
	END,
};
static const struct field messaging_f[] = {
	{ "enabled", F_BOOL }, { "provider_bridge", F_BOOL }, END,
};
static const struct field agent_f[] = {
	{ "prompt", F_STR }, { "skills", F_SKILLS },
	{ "timeout_secs", F_INT, false, NULL, NULL, 1, 7 * 86400 },
	{ "output_file", F_STR }, { "messaging", F_OBJ, false, messaging_f },
	{ "mode", F_ENUM, false, NULL, agent_modes }, END,
};
static const struct field output_f[] = {
	{ "name", F_STR, true }, { "guest", F_STR }, END,
};
static const struct field input_f[] = {
	{ "from", F_STR, true }, { "guest", F_STR }, END,
};
static const struct field box_f[] = {
	{ "name", F_STR, true }, { "prompt", F_STR }, { "skills", F_SKILLS },
	{ "llm", F_OBJ, false, llm_f },
	{ "timeout_secs", F_INT, false, NULL, NULL, 1, 7 * 86400 },
	{ "sandbox", F_OBJ, false, box_sandbox_f },
	{ "outputs", F_OBJLIST, false, output_f },
	{ "inputs", F_OBJLIST, false, input_f }, { "output_file", F_STR },
	END,
};
static const struct field stage_f[] = {
	{ "type", F_ENUM, true, NULL, stage_types }, { "name", F_STR },
	{ "boxes", F_STRLIST }, END,
};
static const struct field pipeline_f[] = {
	{ "boxes", F_OBJLIST, true, box_f }, { "stages", F_OBJLIST, false,
						stage_f }, END,
};
static const struct field run_f[] = {
	{ "program", F_STR, true }, { "args", F_STRLIST },
	{ "stdin_from", F_STR }, END,
};
static const struct field step_f[] = {
	{ "name", F_STR, true }, { "run", F_OBJ, true, run_f },
	{ "depends_on", F_STRLIST }, { "mode", F_ENUM, false, NULL,
				       step_modes },
	{ "timeout_secs", F_INT, false, NULL, NULL, 1, 7 * 86400 }, END,
};
static const struct field workflow_f[] = {
	{ "steps", F_OBJLIST, true, step_f }, { "output_step", F_STR }, END,
};
static const struct field top_f[] = {
	{ "api_version", F_ENUM, false, NULL, versions },
	{ "kind", F_ENUM, true, NULL, kinds }, { "name", F_STR, true },
	{ "sandbox", F_OBJ, false, sandbox_f }, { "llm", F_OBJ, false, llm_f },
	{ "observe", F_OBJ, false, observe_f },
	{ "agent", F_OBJ, false, agent_f },
	{ "pipeline", F_OBJ, false, pipeline_f },
	{ "workflow", F_OBJ, false, workflow_f }, END,
};

/* Keys (or values) upstream void-box has and voidbox does not do yet.
 * The schema above accepts them, so a spec written for upstream reads
 * the same; then each is refused here, so no setting is ever silently
 * dropped. One row each, naming the issue that will implement it: that
 * feature deletes its row. `path` is the key's path with list indices
 * written [] and matches a whole-component suffix ("sandbox.mounts" is
 * also pipeline.boxes[].sandbox.mounts); `value`, when set, limits the
 * row to that scalar (case-insensitive; "x:" matches a prefix); `kind`,
 * when set, to documents of that kind. */
struct unsupported {
	const char *kind, *path, *value, *issue;
	const char *msg;		/* NULL: "not supported yet" */
};
static const struct unsupported unsupported[] = {
	{ NULL, "boxes[].outputs", NULL, "workspace mounts" },
	{ NULL, "boxes[].inputs", NULL, "workspace mounts" },
	{ "workflow", "sandbox.image", NULL, "images for workflows" },
	{ NULL, "sandbox.guest_image", NULL, NULL,
	  "not supported: the guest kernel and agent are voidbox's own; "
	  "sandbox.image sets the root filesystem" },
	{ NULL, "skills[].image", NULL, "OCI images" },
	{ NULL, "sandbox.kernel", NULL, NULL,
	  "not supported: stages boot voidbox's own kernel, whose agent and "
	  "devices they need (`voidbox vm --kernel` boots any kernel; "
	  "sandbox.image sets the root filesystem)" },
	{ NULL, "sandbox.initramfs", NULL, NULL,
	  "not supported: the initramfs is voidbox's guest agent (PID 1); "
	  "sandbox.image sets the root filesystem" },
	{ "workflow", "sandbox.snapshot", NULL, "snapshots for workflows" },
	{ "sandbox", "sandbox.snapshot", NULL, "snapshots for sandboxes" },
	{ NULL, "llm.provider", "codex", "codex backend" },
	{ NULL, "skills[]", "agent:codex", "codex backend" },
	{ NULL, "llm.provider", "claude-personal", "claude OAuth login" },
	/* true is what the LLM gateway always does (docs/agents.md). */
	{ NULL, "llm.credential_proxy", "false", NULL,
	  "not supported: the API key always stays on the host" },
	{ NULL, "agent.mode", "service", "daemon" },
	{ NULL, "agent.messaging", NULL, "agent messaging" },
	{ NULL, "skills[]", "remote:", "remote skills" },
	{ NULL, "observe.traces", "false", "telemetry switches" },
	{ NULL, "observe.metrics", "false", "telemetry switches" },
	{ NULL, "observe.logs", "false", "telemetry switches" },
	{ NULL, "observe.telemetry_buffer_size", NULL, "telemetry switches" },
	{ "workflow", "sandbox.env", NULL, "workflow sandbox" },
	{ "workflow", "llm", NULL, "workflow sandbox" },
	{ "workflow", "observe", NULL, "workflow telemetry" },
	{ "sandbox", "sandbox.mode", "mock", "shell" },
	{ "sandbox", "sandbox.env", NULL, "shell" },
	{ "sandbox", "llm", NULL, "shell" },
	{ "sandbox", "observe", NULL, "shell" },
};

/* Does `path` (indices as [N]) end with the component(s) `pat`? */
static bool path_is(const char *path, const char *pat)
{
	char norm[512];
	size_t o = 0;

	for (const char *s = path; *s && o + 1 < sizeof(norm); s++) {
		norm[o++] = *s;
		if (*s == '[')
			while (s[1] >= '0' && s[1] <= '9')
				s++;
	}
	norm[o] = '\0';
	size_t pl = strlen(pat);
	return o >= pl && !strcmp(norm + o - pl, pat) &&
	       (o == pl || norm[o - pl - 1] == '.');
}

/* Refuse key k (value v) at `path` if a row of unsupported[] names it. */
static void refuse_unsupported(struct ctx *c, const struct node *k,
			       const struct node *v, const char *path)
{
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(*unsupported);
	     i++) {
		const struct unsupported *u = &unsupported[i];
		if ((u->kind && (!c->kind || strcmp(u->kind, c->kind))) ||
		    !path_is(path, u->path))
			continue;
		const char *msg = u->msg ? u->msg : "not supported yet";
		if (!u->value) {
			ERR(c, k, path, "%s", msg);
			continue;
		}
		size_t vl = strlen(u->value);
		if (v->kind != NODE_SCALAR ||
		    (u->value[vl - 1] == ':'
		     ? strncasecmp(v->str, u->value, vl)
		     : strcasecmp(v->str, u->value)))
			continue;
		ERR(c, v, path, "%s: %s", v->str, msg);
	}
}

static const char *kind_name(const struct node *n)
{
	return n->kind == NODE_MAP ? "a map" : n->kind == NODE_SEQ
		? "a list" : "a scalar";
}

static void join(char *out, size_t len, const char *path, const char *key)
{
	snprintf(out, len, "%s%s%s", path, *path ? "." : "", key);
}

static bool is_int(const struct node *n, long long *v)
{
	char *end;
	if (n->kind != NODE_SCALAR || n->quoted || !n->str[0])
		return false;
	errno = 0;
	*v = strtoll(n->str, &end, 10);
	return !*end && !errno;
}

static bool is_bool(const struct node *n)
{
	return n->kind == NODE_SCALAR && !n->quoted &&
	       (!strcmp(n->str, "true") || !strcmp(n->str, "false"));
}

static void check_obj(struct ctx *c, const struct node *n,
		      const struct field *fields, const char *path);

static void check_skill(struct ctx *c, const struct node *s, const char *p)
{
	static const char *const types[] = { "agent", "file", "remote", "cli",
					     "mcp", NULL };
	if (s->kind == NODE_SCALAR) {
		const char *colon = strchr(s->str, ':');
		size_t tl = colon ? (size_t)(colon - s->str) : 0;
		bool known = false;
		for (size_t i = 0; colon && types[i]; i++)
			known |= strlen(types[i]) == tl &&
				 !strncmp(types[i], s->str, tl);
		if (!known || !colon[1]) {
			ERR(c, s, p, "expected \"TYPE:VALUE\" with TYPE one of "
			    "agent, file, remote, cli, mcp; got \"%s\"", s->str);
			return;
		}
		if (tl == 4 && !strncmp(s->str, "file", 4)) {
			char full[PATH_MAX], err[1024];
			if (schema_resolve_path(c->dir, colon + 1, full,
						sizeof(full), err,
						sizeof(err)) < 0)
				ERR(c, s, p, "%s: %s", s->str, err);
			else if (access(full, R_OK) != 0)
				ERR(c, s, p, "%s: %s: %s", s->str, full,
				    strerror(errno));
		}
		refuse_unsupported(c, s, s, p);
		return;
	}
	if (s->kind != NODE_MAP) {
		ERR(c, s, p, "expected a skill string or object, got %s",
		    kind_name(s));
		return;
	}
	static const struct field inline_f[] = {
		{ "name", F_STR, true }, { "content", F_STR, true }, END };
	static const struct field mcp_f[] = {
		{ "command", F_STR, true }, { "args", F_STRLIST },
		{ "env", F_STRMAP }, { "name", F_STR }, END };
	static const struct field oci_f[] = {
		{ "image", F_STR, true }, { "mount", F_STR },
		{ "readonly", F_BOOL }, END };
	check_obj(c, s, doc_get(s, "content") ? inline_f : doc_get(s, "command")
		  ? mcp_f : doc_get(s, "image") ? oci_f : inline_f, p);
}

/* Egress rules and hosts entries in the syntax the VMM's filter takes
 * (host/net/): a typo is a spec error, not a silently dead rule. */
static void check_net(struct ctx *c, const struct node *v, const char *p)
{
	const struct node *allow = doc_get(v, "allow");
	const struct node *hosts = doc_get(v, "hosts");
	const struct node *fwd = doc_get(v, "forward");
	char sub[600], err[NET_ERR_MAX];
	struct net_rule r;
	struct net_addr a;
	struct net_forward f;

	for (size_t i = 0; fwd && fwd->kind == NODE_SEQ && i < fwd->n; i++) {
		const struct node *e = fwd->items[i];
		snprintf(sub, sizeof(sub), "%s.forward[%zu]", p, i);
		if (e->kind == NODE_SCALAR &&
		    net_forward_parse(e->str, &f, err, sizeof(err)) < 0)
			ERR(c, e, sub, "%s", err);
	}
	if (fwd && fwd->kind == NODE_SEQ && fwd->n > NET_MAX_FORWARDS)
		ERR(c, fwd, p, "more than %d forwards", NET_MAX_FORWARDS);

	for (size_t i = 0; allow && allow->kind == NODE_SEQ && i < allow->n;
	     i++) {
		const struct node *e = allow->items[i];
		snprintf(sub, sizeof(sub), "%s.allow[%zu]", p, i);
		if (e->kind == NODE_SCALAR &&
		    net_rule_parse(e->str, &r, err, sizeof(err)) < 0)
			ERR(c, e, sub, "%s", err);
	}
	/* The opt-in works only through DNS answers for name rules: a key
	 * that would do nothing is an error, not a silent no-op. */
	const struct node *pd = doc_get(v, "allow_private_dns");
	bool names = false;
	for (size_t i = 0; allow && allow->kind == NODE_SEQ && i < allow->n;
	     i++)
		names |= allow->items[i]->kind == NODE_SCALAR &&
			 !net_rule_parse(allow->items[i]->str, &r, err,
					 sizeof(err)) &&
			 r.kind != NET_RULE_CIDR;
	if (pd && pd->kind == NODE_SCALAR && !strcmp(pd->str, "true") &&
	    !names) {
		snprintf(sub, sizeof(sub), "%s.allow_private_dns", p);
		ERR(c, pd, sub, "only DNS answers for name rules are "
		    "admitted, and allow has no name rule");
	}
	for (size_t i = 0; hosts && hosts->kind == NODE_MAP && i < hosts->n;
	     i++) {
		const struct node *e = hosts->items[i];
		snprintf(sub, sizeof(sub), "%s.hosts.%s", p, hosts->keys[i]->str);
		if (e->kind == NODE_SCALAR && net_addr_parse(e->str, &a) < 0)
			ERR(c, e, sub, "expected an IPv4 or IPv6 address, got "
			    "\"%s\"", e->str);
	}
}

static void check_value(struct ctx *c, const struct node *v,
			const struct field *f, const char *p)
{
	long long iv;
	char sub[512];

	switch (f->type) {
	case F_STR:
		if (v->kind != NODE_SCALAR)
			ERR(c, v, p, "expected a string, got %s", kind_name(v));
		break;
	case F_HOSTNAME:	/* struct vm_cfg's rule */
		if (v->kind != NODE_SCALAR)
			ERR(c, v, p, "expected a string, got %s", kind_name(v));
		else if (!vm_cfg_hostname_ok(v->str))
			ERR(c, v, p, "\"%s\" is not a hostname (1-63 letters, "
			    "digits and inner '-')", v->str);
		break;
	case F_GUESTPATH: {	/* struct vm_cfg's rule for mount points */
		const char *why;
		if (v->kind != NODE_SCALAR)
			ERR(c, v, p, "expected a string, got %s", kind_name(v));
		else if ((why = vm_cfg_mount_path_bad(v->str)))
			ERR(c, v, p, "\"%s\": %s", v->str, why);
		break;
	}
	case F_SNAPNAME:	/* host/snap's rule, a volume's */
		if (v->kind != NODE_SCALAR)
			ERR(c, v, p, "expected a string, got %s", kind_name(v));
		else if (!vm_cfg_volume_name_ok(v->str))
			ERR(c, v, p, "\"%s\" is not a snapshot name (1-64 "
			    "letters, digits, . _ -; voidbox snapshot ls)",
			    v->str);
		break;
	case F_VOLNAME:
		if (v->kind != NODE_SCALAR)
			ERR(c, v, p, "expected a string, got %s", kind_name(v));
		else if (!vm_cfg_volume_name_ok(v->str))
			ERR(c, v, p, "\"%s\" is not a volume name (1-64 "
			    "letters, digits, . _ -)", v->str);
		break;
	case F_INT:
		if (!is_int(v, &iv))
			ERR(c, v, p, "expected an integer, got %s%s%s%s",
			    v->kind == NODE_SCALAR ? "\"" : "",
			    v->kind == NODE_SCALAR ? v->str : kind_name(v),
			    v->kind == NODE_SCALAR ? "\"" : "", "");
		else if (iv < f->min || iv > f->max)
			ERR(c, v, p, "expected %lld..%lld, got %lld", f->min,
			    f->max, iv);
		break;
	case F_NUM: {
		char *end;
		if (v->kind != NODE_SCALAR || v->quoted ||
		    (strtod(v->str, &end), *end) || !v->str[0])
			ERR(c, v, p, "expected a number");
		break;
	}
	case F_BOOL:
		if (!is_bool(v))
			ERR(c, v, p, "expected true or false");
		break;
	case F_ENUM:
	case F_ENUM_NOCASE: {
		bool ok = false;
		for (size_t i = 0; v->kind == NODE_SCALAR && f->values[i]; i++)
			ok |= f->type == F_ENUM
				? !strcmp(v->str, f->values[i])
				: !strcasecmp(v->str, f->values[i]);
		if (!ok) {
			char list[256] = "";
			for (size_t i = 0; f->values[i]; i++)
				snprintf(list + strlen(list),
					 sizeof(list) - strlen(list), "%s%s",
					 i ? ", " : "", f->values[i]);
			ERR(c, v, p, "expected one of: %s; got %s%s%s", list,
			    v->kind == NODE_SCALAR ? "\"" : "",
			    v->kind == NODE_SCALAR ? v->str : kind_name(v),
			    v->kind == NODE_SCALAR ? "\"" : "");
		}
		break;
	}
	case F_STRMAP:
		if (v->kind != NODE_MAP) {
			ERR(c, v, p, "expected a map of strings");
			break;
		}
		for (size_t i = 0; i < v->n; i++) {
			join(sub, sizeof(sub), p, v->keys[i]->str);
			if (v->items[i]->kind != NODE_SCALAR)
				ERR(c, v->items[i], sub, "expected a string");
		}
		break;
	case F_STRLIST:
		if (v->kind != NODE_SEQ) {
			ERR(c, v, p, "expected a list of strings");
			break;
		}
		for (size_t i = 0; i < v->n; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", p, i);
			if (v->items[i]->kind != NODE_SCALAR)
				ERR(c, v->items[i], sub, "expected a string");
		}
		break;
	case F_OBJ:
		check_obj(c, v, f->sub, p);
		break;
	case F_OBJLIST:
		if (v->kind != NODE_SEQ) {
			ERR(c, v, p, "expected a list");
			break;
		}
		if (f->max && v->n > (size_t)f->max)
			ERR(c, v, p, "at most %lld entries, got %zu", f->max,
			    v->n);
		for (size_t i = 0; i < v->n; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", p, i);
			check_obj(c, v->items[i], f->sub, sub);
		}
		break;
	case F_SKILLS:
		if (v->kind != NODE_SEQ) {
			ERR(c, v, p, "expected a list of skills");
			break;
		}
		for (size_t i = 0; i < v->n; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", p, i);
			check_skill(c, v->items[i], sub);
		}
		break;
	case F_NETWORK: {
		static const struct field net_f[] = {
			{ "allow", F_STRLIST }, { "hosts", F_STRMAP },
			{ "forward", F_STRLIST },
			{ "max_connections", F_INT, false, NULL, NULL, 1,
			  1 << 20 },
			{ "connection_rate", F_INT, false, NULL, NULL, 1,
			  1 << 20 },
			{ "allow_private_dns", F_BOOL }, END };
		if (v->kind == NODE_MAP) {
			check_obj(c, v, net_f, p);
			check_net(c, v, p);
		} else if (!is_bool(v))
			ERR(c, v, p, "expected true, false or a policy "
			    "{allow: [...]}");
		break;
	}
	}
}

static void check_obj(struct ctx *c, const struct node *n,
		      const struct field *fields, const char *path)
{
	char p[512];

	if (n->kind != NODE_MAP) {
		ERR(c, n, path, "expected a map, got %s", kind_name(n));
		return;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i];
		const struct field *f = fields;
		join(p, sizeof(p), path, k->str);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(n->keys[j]->str, k->str))
				ERR(c, k, p, "duplicate key (first at line %u)",
				    n->keys[j]->line);
		while (f->name && strcmp(f->name, k->str))
			f++;
		if (!f->name) {
			char list[512] = "";
			for (f = fields; f->name; f++)
				snprintf(list + strlen(list),
					 sizeof(list) - strlen(list), "%s%s",
					 f == fields ? "" : ", ", f->name);
			ERR(c, k, p, "unknown key (expected one of: %s)", list);
			continue;
		}
		check_value(c, n->items[i], f, p);
		refuse_unsupported(c, k, n->items[i], p);
	}
	for (const struct field *f = fields; f->name; f++)
		if (f->required && !doc_get(n, f->name)) {
			join(p, sizeof(p), path, f->name);
			ERR(c, n, p, "missing (required)");
		}
}

int schema_resolve_path(const char *dir, const char *rel, char *out,
			size_t outlen, char *err, size_t errlen)
{
	char cwd[PATH_MAX], tried[2][2 * PATH_MAX + 2];
	struct stat st;

	if (rel[0] == '/') {
		snprintf(out, outlen, "%s", rel);
		if (stat(out, &st) == 0)
			return 0;
		snprintf(err, errlen, "%s", errno == ENOENT ? "not found"
			 : strerror(errno));
		return -1;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		snprintf(cwd, sizeof(cwd), ".");
	/* Both made absolute, so an error says exactly where it looked. */
	if (!dir || !strcmp(dir, "."))
		snprintf(tried[0], sizeof(tried[0]), "%s/%s", cwd, rel);
	else
		snprintf(tried[0], sizeof(tried[0]), "%s%s%s%s%s",
			 dir[0] == '/' ? "" : cwd, dir[0] == '/' ? "" : "/",
			 dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
	snprintf(tried[1], sizeof(tried[1]), "%s/%s", cwd, rel);
	for (int i = 0; i < 2; i++) {
		if (stat(tried[i], &st) == 0) {
			snprintf(out, outlen, "%s", tried[i]);
			return 0;
		}
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", tried[i],
				 strerror(errno));
			return -1;
		}
	}
	if (!strcmp(tried[0], tried[1]))
		snprintf(err, errlen, "not found (tried %s)", tried[0]);
	else
		snprintf(err, errlen, "not found (tried %s and %s)", tried[0],
			 tried[1]);
	return -1;
}

void schema_check(const struct node *root, const char *file, const char *dir,
		  struct spec_errors *e)
{
	const struct node *kind = doc_get(root, "kind");
	struct ctx c = { .file = file, .dir = dir, .e = e,
			 .kind = kind && kind->kind == NODE_SCALAR ? kind->str
			 : NULL };

	check_obj(&c, root, top_f, "");
	if (root->kind == NODE_MAP)
		rules_check(root, file, e);
}
