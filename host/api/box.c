/* box.c: the vb_box builder — one agent stage, checked field by field.
 *
 * A box is a struct box_cfg, the same plain data a spec box resolves to,
 * so the runner treats built and loaded pipelines alike. Limits mirror
 * the spec schema (host/spec/schema.c), so a box that builds here would
 * also validate as YAML. Every string stored is a malloc'd copy, which
 * is what config_box_free expects to release.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "../llm/llm.h"

static const char *const skill_types[] = { "agent", "file", "remote", "cli",
					   "mcp", NULL };

int box_fail(struct vb_box *b, const char *fmt, ...)
{
	va_list ap;

	if (b && !b->err[0]) {
		va_start(ap, fmt);
		vsnprintf(b->err, sizeof(b->err), fmt, ap);
		va_end(ap);
	}
	return VB_CONFIG;
}

bool box_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	return n >= 1 && n <= 63 && name[0] != '.' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Copy s into a fixed field, refusing (not cutting) what does not fit. */
static int set_field(struct vb_box *b, const char *what, char *dst,
		     size_t cap, const char *s)
{
	if (!s)
		return box_fail(b, "%s: NULL", what);
	if (strlen(s) >= cap)
		return box_fail(b, "%s: longer than %zu bytes", what, cap - 1);
	memcpy(dst, s, strlen(s) + 1);
	return VB_OK;
}

vb_box *vb_box_new(const char *name)
{
	struct vb_box *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	/* The defaults of config_box (host/spec/config.c). */
	config_box_init(&b->cfg, box_name_ok(name) ? name : "vm");
	if (!box_name_ok(name))
		box_fail(b, "box name \"%s\": expected 1..63 characters of "
			 "A-Z a-z 0-9 . _ - (not starting with .)",
			 name ? name : "(null)");
	else
		snprintf(b->cfg.name, sizeof(b->cfg.name), "%s", name);
	return b;
}

void vb_box_free(vb_box *b)
{
	if (!b)
		return;
	config_box_free(&b->cfg);
	free(b);
}

const char *vb_box_error(const vb_box *b)
{
	return b && b->err[0] ? b->err : NULL;
}

int vb_box_prompt(vb_box *b, const char *prompt)
{
	if (!b)
		return VB_CONFIG;
	if (!prompt)
		return box_fail(b, "prompt: NULL");
	char *p = strdup(prompt);
	if (!p)
		return box_fail(b, "prompt: out of memory");
	free(b->cfg.prompt);
	b->cfg.prompt = p;
	return VB_OK;
}

/* Resolve one skill through config_box, the one place that knows what
 * each skill type means (file reading and its 1 MiB bound, SKILL.md
 * frontmatter names, MCP naming): hand it a document holding a single
 * box with a single skill, built from stack nodes (config_box only reads
 * the tree), then move the resolved skill over. `skill` is a scalar node
 * or an inline {name, content} map. */
static int add_skill(struct vb_box *b, struct node *skill)
{
	struct node kname = { .kind = NODE_SCALAR, .str = "name" };
	struct node vname = { .kind = NODE_SCALAR, .str = b->cfg.name };
	struct node kskills = { .kind = NODE_SCALAR, .str = "skills" };
	struct node *items[] = { skill };
	struct node seq = { .kind = NODE_SEQ, .items = items, .n = 1 };
	struct node *keys[] = { &kname, &kskills }, *vals[] = { &vname, &seq };
	struct node box = { .kind = NODE_MAP, .keys = keys, .items = vals,
			    .n = 2 };
	struct node root = { .kind = NODE_MAP };
	char err[256];

	if (b->cfg.nskills == CONFIG_MAX_SKILLS)
		return box_fail(b, "skills: more than %d", CONFIG_MAX_SKILLS);
	struct box_cfg *tmp = calloc(1, sizeof(*tmp));
	if (!tmp)
		return box_fail(b, "skills: out of memory");
	if (config_box(&root, &box, ".", tmp, err, sizeof(err)) < 0) {
		config_box_free(tmp);
		free(tmp);
		return box_fail(b, "%s", err);
	}
	b->cfg.skills[b->cfg.nskills++] = tmp->skills[0];
	tmp->nskills = 0;		/* moved, not freed */
	config_box_free(tmp);
	free(tmp);
	return VB_OK;
}

int vb_box_skill(vb_box *b, const char *skill)
{
	if (!b)
		return VB_CONFIG;
	if (!skill)
		return box_fail(b, "skill: NULL");
	/* The schema's check (config_box trusts it): TYPE:VALUE with a
	 * known TYPE and a non-empty VALUE. */
	const char *colon = strchr(skill, ':');
	size_t tl = colon ? (size_t)(colon - skill) : 0;
	bool known = false;
	for (size_t i = 0; colon && skill_types[i]; i++)
		known |= strlen(skill_types[i]) == tl &&
			 !strncmp(skill_types[i], skill, tl);
	if (!known || !colon[1])
		return box_fail(b, "skill \"%s\": expected \"TYPE:VALUE\" with "
				"TYPE one of agent, file, remote, cli, mcp",
				skill);
	if (strlen(skill) > 4000)
		return box_fail(b, "skill: longer than 4000 bytes");
	struct node n = { .kind = NODE_SCALAR, .str = (char *)skill };
	return add_skill(b, &n);
}

int vb_box_skill_inline(vb_box *b, const char *name, const char *content)
{
	if (!b)
		return VB_CONFIG;
	if (!name || !content)
		return box_fail(b, "inline skill: NULL %s",
				name ? "content" : "name");
	if (!*name)
		return box_fail(b, "inline skill: empty name");
	struct node kn = { .kind = NODE_SCALAR, .str = "name" };
	struct node vn = { .kind = NODE_SCALAR, .str = (char *)name };
	struct node kc = { .kind = NODE_SCALAR, .str = "content" };
	struct node vc = { .kind = NODE_SCALAR, .str = (char *)content };
	struct node *keys[] = { &kn, &kc }, *vals[] = { &vn, &vc };
	struct node map = { .kind = NODE_MAP, .keys = keys, .items = vals,
			    .n = 2 };
	return add_skill(b, &map);
}

/* The providers table's (host/llm/), refusing what a spec refuses:
 * a row that is not supported yet. */
int vb_box_llm(vb_box *b, const char *provider, const char *model)
{
	if (!b)
		return VB_CONFIG;
	if (!provider)
		return box_fail(b, "llm provider: NULL");
	const struct llm_provider *p = llm_provider(provider);
	if (!p) {
		char names[256];
		size_t o = 0;
		names[0] = '\0';
		for (size_t i = 0; i < llm_nproviders; i++) {
			if (llm_providers[i].refused)
				continue;
			int w = snprintf(names + o, sizeof(names) - o, "%s%s",
					 o ? ", " : "", llm_providers[i].name);
			if (w > 0 && (size_t)w < sizeof(names) - o)
				o += (size_t)w;
		}
		return box_fail(b, "llm provider \"%s\": expected one of %s",
				provider, names);
	}
	if (p->refused)
		return box_fail(b, "llm provider \"%s\": not supported yet "
				"(%s)", provider, p->refused);
	if (model && strlen(model) >= sizeof(b->cfg.llm.model))
		return box_fail(b, "llm model: longer than %zu bytes",
				sizeof(b->cfg.llm.model) - 1);
	snprintf(b->cfg.llm.provider, sizeof(b->cfg.llm.provider), "%s",
		 p->name);
	snprintf(b->cfg.llm.model, sizeof(b->cfg.llm.model), "%s",
		 model ? model : "");
	return VB_OK;
}

int vb_box_llm_base_url(vb_box *b, const char *url)
{
	if (!b)
		return VB_CONFIG;
	if (url && strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return box_fail(b, "llm base_url \"%s\": expected http:// or "
				"https://", url);
	return set_field(b, "llm base_url", b->cfg.llm.base_url,
			 sizeof(b->cfg.llm.base_url), url);
}

static bool env_name_ok(const char *k)
{
	size_t n = k ? strlen(k) : 0;
	return n && !(k[0] >= '0' && k[0] <= '9') &&
	       strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_") == n;
}

int vb_box_llm_api_key_env(vb_box *b, const char *env_name)
{
	if (!b)
		return VB_CONFIG;
	if (!env_name_ok(env_name))
		return box_fail(b, "llm api_key_env \"%s\": expected an "
				"environment variable name",
				env_name ? env_name : "(null)");
	return set_field(b, "llm api_key_env", b->cfg.llm.api_key_env,
			 sizeof(b->cfg.llm.api_key_env), env_name);
}

int vb_box_llm_budget(vb_box *b, uint64_t max_tokens, double max_usd)
{
	if (!b)
		return VB_CONFIG;
	/* !(x >= 0) also catches NaN. */
	if (!(max_usd >= 0) || max_usd > 1e9)
		return box_fail(b, "llm budget: max_usd %g: expected "
				"0..1e9", max_usd);
	b->cfg.llm.max_tokens = max_tokens;
	b->cfg.llm.max_usd = max_usd;
	return VB_OK;
}

int vb_box_memory_mb(vb_box *b, unsigned mb)
{
	if (!b)
		return VB_CONFIG;
	if (mb < 32 || mb > 1048576)
		return box_fail(b, "memory_mb %u: expected 32..1048576", mb);
	b->cfg.vm.mem_mb = mb;
	return VB_OK;
}

int vb_box_vcpus(vb_box *b, unsigned n)
{
	if (!b)
		return VB_CONFIG;
	if (n < 1 || n > 16)
		return box_fail(b, "vcpus %u: expected 1..16", n);
	b->cfg.vm.vcpus = n;
	return VB_OK;
}

int vb_box_mount(vb_box *b, const char *host_dir, const char *guest_dir,
		 bool rw)
{
	char why[200];

	if (!b)
		return VB_CONFIG;
	if (!host_dir || !guest_dir)
		return box_fail(b, "mount: host and guest directories needed");
	if (vm_cfg_mount_add(&b->cfg.vm, host_dir, guest_dir, !rw, why,
			     sizeof(why)) < 0)
		return box_fail(b, "mount %s: %s", host_dir, why);
	return VB_OK;
}

int vb_box_image(vb_box *b, const char *ref)
{
	char *c;

	if (!b)
		return VB_CONFIG;
	if (!ref || !ref[0] || strlen(ref) > 4096)
		return box_fail(b, "image: empty or longer than 4096 bytes");
	if (!(c = strdup(ref)))
		return box_fail(b, "image: out of memory");
	free(b->cfg.image);
	b->cfg.image = c;
	return VB_OK;
}

int vb_box_network(vb_box *b, bool on)
{
	if (!b)
		return VB_CONFIG;
	/* on: the internet minus reserved ranges, as network: true */
	b->cfg.vm.net.enabled = on;
	b->cfg.vm.net.mode = on ? VM_NET_INTERNET : VM_NET_OFF;
	return VB_OK;
}

int vb_box_timeout_secs(vb_box *b, unsigned secs)
{
	if (!b)
		return VB_CONFIG;
	if (secs < 1 || secs > 7 * 86400)
		return box_fail(b, "timeout_secs %u: expected 1..604800", secs);
	b->cfg.timeout_s = secs;
	return VB_OK;
}

int vb_box_env(vb_box *b, const char *key, const char *value)
{
	if (!b)
		return VB_CONFIG;
	if (!env_name_ok(key))
		return box_fail(b, "env \"%s\": expected a variable name",
				key ? key : "(null)");
	if (!value && !(value = getenv(key)))
		return VB_OK;		/* "copy from host", and it is unset */
	size_t kl = strlen(key), l = kl + strlen(value) + 2;
	char *kv = malloc(l);
	if (!kv)
		return box_fail(b, "env: out of memory");
	snprintf(kv, l, "%s=%s", key, value);
	for (size_t i = 0; i < b->cfg.nenv; i++)
		if (!strncmp(b->cfg.env[i], key, kl) &&
		    b->cfg.env[i][kl] == '=') {
			free(b->cfg.env[i]);
			b->cfg.env[i] = kv;
			return VB_OK;
		}
	if (b->cfg.nenv == CONFIG_MAX_ENV) {
		free(kv);
		return box_fail(b, "env: more than %d variables",
				CONFIG_MAX_ENV);
	}
	/* NULL-terminated, sized once, as config.c's env_add does. */
	if (!b->cfg.env &&
	    !(b->cfg.env = calloc(CONFIG_MAX_ENV + 1, sizeof(*b->cfg.env)))) {
		free(kv);
		return box_fail(b, "env: out of memory");
	}
	b->cfg.env[b->cfg.nenv++] = kv;
	return VB_OK;
}

int vb_box_mode(vb_box *b, enum vb_mode mode)
{
	if (!b)
		return VB_CONFIG;
	switch (mode) {
	case VB_MODE_AUTO:
		b->cfg.mode = MODE_AUTO;
		return VB_OK;
	case VB_MODE_LOCAL:
		b->cfg.mode = MODE_LOCAL;
		return VB_OK;
	case VB_MODE_MOCK:
		b->cfg.mode = MODE_MOCK;
		return VB_OK;
	}
	return box_fail(b, "mode %d: expected VB_MODE_AUTO, VB_MODE_LOCAL "
			"or VB_MODE_MOCK", (int)mode);
}

int vb_box_output_file(vb_box *b, const char *path)
{
	if (!b)
		return VB_CONFIG;
	if (path && !*path)
		return box_fail(b, "output_file: empty");
	return set_field(b, "output_file", b->cfg.output_file,
			 sizeof(b->cfg.output_file), path);
}
