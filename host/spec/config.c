/* config.c: a checked spec tree -> plain per-box configuration.
 *
 * Runs only after schema_check found no errors, so shapes and types are
 * known good here; what is left is resolving: box overrides over the
 * top-level sandbox/llm blocks, defaults, skill files read (bounded) and
 * named, env values of "" copied from the host. The result owns all its
 * memory (config_box_free) and holds no references into the tree, so a
 * stage can run in a thread after the document is gone (STYLE R2).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec.h"
#include "../box/box.h"

#define SKILL_FILE_MAX (1u << 20)

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *str_of(const struct node *map, const char *key)
{
	const struct node *n = doc_get(map, key);
	return n && n->kind == NODE_SCALAR ? n->str : NULL;
}

static long long int_of(const struct node *map, const char *key,
			long long dflt)
{
	const char *s = str_of(map, key);
	return s ? strtoll(s, NULL, 10) : dflt;
}

/* Read a skill file (a relative one from the spec's directory, else the
 * current one: schema_resolve_path). */
static char *read_text(const char *dir, const char *f, char *err,
		       size_t errlen)
{
	char path[PATH_MAX], why[1024];
	if (schema_resolve_path(dir, f, path, sizeof(path), why,
				sizeof(why)) < 0) {
		snprintf(err, errlen, "file:%s: %s", f, why);
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > SKILL_FILE_MAX) {
		snprintf(err, errlen, "file:%s: %s: %s", f, path,
			 fd < 0 ? strerror(errno) : "not a regular file of at "
			 "most 1 MiB");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *p = malloc((size_t)st.st_size + 1);
	ssize_t got = p ? read(fd, p, (size_t)st.st_size) : -1;
	close(fd);
	if (got != st.st_size) {
		snprintf(err, errlen, "file:%s: %s: short read", f, path);
		free(p);
		return NULL;
	}
	p[got] = '\0';
	return p;
}

/* A skill's name: SKILL.md frontmatter `name:`, else the file's stem.
 * Only [A-Za-z0-9._-] survive, so it is safe as a directory name. */
static void skill_name(const char *content, const char *file, char *out,
		       size_t len)
{
	const char *n = NULL;
	if (!strncmp(content, "---\n", 4)) {
		const char *end = strstr(content + 4, "\n---");
		const char *k = strstr(content + 4, "\nname:");
		if (!strncmp(content + 4, "name:", 5))
			k = content + 3;
		if (k && (!end || k < end))
			n = k + 6;
	}
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	size_t o = 0;
	const char *src = n ? n : base;
	while (*src == ' ')
		src++;
	for (; *src && *src != '\n' && o + 1 < len; src++) {
		char c = *src;
		if (!n && !strcmp(src, ".md"))
			break;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
			out[o++] = c;
	}
	while (o && out[o - 1] == '.')
		o--;
	out[o] = '\0';
	if (!o || out[0] == '.')
		snprintf(out, len, "skill");
}

static char **strlist(const struct node *seq, size_t *n)
{
	*n = 0;
	if (!seq || seq->kind != NODE_SEQ)
		return NULL;
	char **v = calloc(seq->n + 1, sizeof(*v));
	for (size_t i = 0; v && i < seq->n; i++)
		if (seq->items[i]->kind == NODE_SCALAR)
			v[(*n)++] = strdup(seq->items[i]->str);
	return v;
}

/* Append a sequence's scalars to a vm_cfg list (the schema bounds it). */
static void list_add(char ***list, const struct node *seq)
{
	for (size_t i = 0; seq && seq->kind == NODE_SEQ && i < seq->n; i++)
		if (seq->items[i]->kind == NODE_SCALAR)
			vm_cfg_list_add(list, seq->items[i]->str);
}

/* env map -> "K=V" list; "" copies the host's value (dropped if unset). */
static void env_add(struct box_cfg *b, const struct node *map)
{
	if (!map || map->kind != NODE_MAP)
		return;
	if (!b->env && !(b->env = calloc(CONFIG_MAX_ENV + 1, sizeof(*b->env))))
		return;
	for (size_t i = 0; i < map->n && b->nenv < CONFIG_MAX_ENV; i++) {
		const char *k = map->keys[i]->str, *v = map->items[i]->str;
		if (!v)
			continue;
		if (!*v && !(v = getenv(k)))
			continue;
		size_t l = strlen(k) + strlen(v) + 2;
		char *kv = malloc(l);
		if (!kv)
			continue;
		snprintf(kv, l, "%s=%s", k, v);
		b->env[b->nenv++] = kv;
	}
}

static int add_skill(struct box_cfg *b, const struct node *s, const char *dir,
		     char *err, size_t errlen)
{
	if (b->nskills == CONFIG_MAX_SKILLS) {
		snprintf(err, errlen, "more than %d skills", CONFIG_MAX_SKILLS);
		return -1;
	}
	struct skill_cfg *k = &b->skills[b->nskills];
	*k = (struct skill_cfg){ 0 };
	if (s->kind == NODE_SCALAR) {
		const char *colon = strchr(s->str, ':');
		const char *val = colon + 1;
		size_t tl = (size_t)(colon - s->str);
		if (!strncmp(s->str, "agent", tl)) {
			k->type = SKILL_AGENT;
		} else if (!strncmp(s->str, "file", tl)) {
			k->type = SKILL_FILE;
			if (!(k->content = read_text(dir, val, err, errlen)))
				return -1;
			skill_name(k->content, val, k->name, sizeof(k->name));
		} else if (!strncmp(s->str, "cli", tl)) {
			k->type = SKILL_CLI;
			snprintf(k->name, sizeof(k->name), "%s", val);
		} else if (!strncmp(s->str, "mcp", tl)) {
			/* mcp:COMMAND — a stdio server in the guest. */
			k->type = SKILL_MCP;
			k->command = strdup(val);
			const char *base = strrchr(val, '/');
			skill_name("", base ? base + 1 : val, k->name,
				   sizeof(k->name));
		} else {
			k->type = SKILL_REMOTE;
			snprintf(k->name, sizeof(k->name), "%s", val);
		}
	} else if (doc_get(s, "command")) {
		k->type = SKILL_MCP;
		k->command = xstrdup(str_of(s, "command"));
		k->args = strlist(doc_get(s, "args"), &k->nargs);
		const char *base = strrchr(k->command, '/');
		const char *nm = str_of(s, "name");
		skill_name("", nm ? nm : base ? base + 1 : k->command, k->name,
			   sizeof(k->name));
		struct box_cfg tmp = { 0 };
		env_add(&tmp, doc_get(s, "env"));
		k->env = tmp.env;
		k->nenv = tmp.nenv;
	} else if (doc_get(s, "content")) {
		k->type = SKILL_INLINE;
		k->content = xstrdup(str_of(s, "content"));
		skill_name("", str_of(s, "name"), k->name, sizeof(k->name));
	} else {
		k->type = SKILL_REMOTE;		/* OCI images: not yet */
		snprintf(k->name, sizeof(k->name), "%s", str_of(s, "image"));
	}
	b->nskills++;
	return 0;
}

static void llm_apply(struct llm_cfg *l, const struct node *m)
{
	const char *s;
	if (!m)
		return;
	if ((s = str_of(m, "provider")))
		snprintf(l->provider, sizeof(l->provider), "%s", s);
	for (char *c = l->provider; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if ((s = str_of(m, "model")))
		snprintf(l->model, sizeof(l->model), "%s", s);
	if ((s = str_of(m, "base_url")))
		snprintf(l->base_url, sizeof(l->base_url), "%s", s);
	if ((s = str_of(m, "api_key_env")))
		snprintf(l->api_key_env, sizeof(l->api_key_env), "%s", s);
	l->max_tokens = (uint64_t)int_of(m, "max_tokens",
					 (long long)l->max_tokens);
	if ((s = str_of(m, "max_cost_usd")))
		l->max_usd = strtod(s, NULL);
}

/* sandbox.mounts: replaces any earlier list (a box's own sandbox block
 * over the spec's). A relative host path is the spec directory's; mode
 * ro unless rw (upstream's default). The schema checked each guest path;
 * what it cannot see (too many, the same path twice) is reported here. */
static int mounts_apply(struct vm_cfg *v, const struct node *l,
			const char *dir, char *err, size_t errlen)
{
	for (unsigned i = 0; i < v->nmounts; i++) {
		vm_cfg_set(&v->mount[i].host, NULL);
		vm_cfg_set(&v->mount[i].guest, NULL);
	}
	v->nmounts = 0;
	for (size_t i = 0; l && l->kind == NODE_SEQ && i < l->n; i++) {
		const struct node *m = l->items[i];
		const char *host = str_of(m, "host"), *guest = str_of(m, "guest");
		const char *mode = str_of(m, "mode");
		char path[4096], why[200];
		if (!host || !guest)
			continue;	/* the schema said so already */
		if (snprintf(path, sizeof(path), "%s%s%s",
			     host[0] == '/' || !dir ? "" : dir,
			     host[0] == '/' || !dir ? "" : "/", host) >=
		    (int)sizeof(path) ||
		    vm_cfg_mount_add(v, path, guest, !mode || strcmp(mode, "rw"),
				     why, sizeof(why)) < 0) {
			snprintf(err, errlen, "line %u: sandbox.mounts[%zu]: %s",
				 m->line, i, strlen(path) >= sizeof(path) - 1
				 ? "host path too long" : why);
			return -1;
		}
	}
	return 0;
}

/* sandbox.volumes: as mounts, a box's own list replaces the spec's. The
 * file's place comes from the environment (volume_path), not from the
 * spec: a spec names volumes, never host paths for them. */
static int volumes_apply(struct vm_cfg *v, const struct node *l, char *err,
			 size_t errlen)
{
	for (unsigned i = 0; i < v->ndisks; i++) {
		vm_cfg_set(&v->disk[i].path, NULL);
		vm_cfg_set(&v->disk[i].guest, NULL);
	}
	v->ndisks = 0;
	for (size_t i = 0; l && l->kind == NODE_SEQ && i < l->n; i++) {
		const struct node *m = l->items[i];
		const char *name = str_of(m, "name"), *guest = str_of(m, "guest");
		char path[4200], why[200];
		if (!name || !guest)
			continue;	/* the schema said so already */
		int r = volume_path(name, path, sizeof(path));
		if (r < 0) {
			snprintf(err, errlen, "line %u: sandbox.volumes[%zu]: %s",
				 m->line, i, r == -EINVAL ? "bad name"
				 : "no data directory (set HOME or "
				   "VOIDBOX_DATA_DIR)");
			return -1;
		}
		if (vm_cfg_volume_add(v, path, (uint32_t)int_of(m, "size_mb",
								1024),
				      guest, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "line %u: sandbox.volumes[%zu]: %s",
				 m->line, i, why);
			return -1;
		}
	}
	return 0;
}

static void sandbox_apply(struct box_cfg *b, const struct node *m)
{
	const char *s;
	if (!m)
		return;
	struct vm_cfg *v = &b->vm;
	v->mem_mb = (uint64_t)int_of(m, "memory_mb", (long long)v->mem_mb);
	v->vcpus = (uint32_t)int_of(m, "vcpus", v->vcpus);
	if ((s = str_of(m, "hostname")))
		snprintf(v->hostname, sizeof(v->hostname), "%s", s);
	if ((s = str_of(m, "mode")))
		b->mode = !strcmp(s, "mock") ? MODE_MOCK : !strcmp(s, "local")
			  ? MODE_LOCAL : MODE_AUTO;
	const struct node *net = doc_get(m, "network");
	if (net) {
		/* A later block replaces the whole network, rules and all. */
		struct vm_net_cfg *nc = &v->net;
		vm_cfg_list_free(&nc->allow);
		vm_cfg_list_free(&nc->hosts);
		vm_cfg_list_free(&nc->forwards);
		nc->private_dns = false;	/* goes with the rules */
		nc->enabled = net->kind != NODE_SCALAR ||
			      !strcmp(net->str, "true");
		nc->mode = !nc->enabled ? VM_NET_OFF : net->kind == NODE_MAP
			   ? VM_NET_ALLOW : VM_NET_INTERNET;
		if (net->kind == NODE_MAP) {
			list_add(&nc->allow, doc_get(net, "allow"));
			list_add(&nc->forwards, doc_get(net, "forward"));
			nc->max_conns = (uint32_t)int_of(net,
				"max_connections", nc->max_conns);
			nc->conn_rate = (uint32_t)int_of(net,
				"connection_rate", nc->conn_rate);
			const char *pd = str_of(net, "allow_private_dns");
			nc->private_dns = pd && !strcmp(pd, "true");
			const struct node *h = doc_get(net, "hosts");
			for (size_t i = 0; h && h->kind == NODE_MAP &&
			     i < h->n; i++) {
				char kv[512];
				snprintf(kv, sizeof(kv), "%s=%s",
					 h->keys[i]->str, h->items[i]->str);
				vm_cfg_list_add(&nc->hosts, kv);
			}
		}
	}
	env_add(b, doc_get(m, "env"));
}

void config_box_init(struct box_cfg *b, const char *name)
{
	*b = (struct box_cfg){ .timeout_s = 600, .mode = MODE_AUTO };
	snprintf(b->name, sizeof(b->name), "%s", name ? name : "");
	vm_cfg_init(&b->vm, b->name[0] ? b->name : "vm");
	b->vm.mem_mb = 1024;
	snprintf(b->llm.provider, sizeof(b->llm.provider), "claude");
}

int config_box(const struct node *root, const struct node *box,
	       const char *dir, struct box_cfg *b, char *err, size_t errlen)
{
	const struct node *agent = box ? box : doc_get(root, "agent");
	const char *s;

	config_box_init(b, str_of(box ? box : root, "name"));
	sandbox_apply(b, doc_get(root, "sandbox"));
	llm_apply(&b->llm, doc_get(root, "llm"));
	const struct node *ml = doc_get(doc_get(root, "sandbox"), "mounts");
	if (box) {
		sandbox_apply(b, doc_get(box, "sandbox"));
		llm_apply(&b->llm, doc_get(box, "llm"));
		const struct node *bm = doc_get(doc_get(box, "sandbox"),
						"mounts");
		ml = bm ? bm : ml;
	}
	if (ml && mounts_apply(&b->vm, ml, dir, err, errlen) < 0)
		return -1;
	const struct node *vl = doc_get(doc_get(root, "sandbox"), "volumes");
	const struct node *bv = box ? doc_get(doc_get(box, "sandbox"),
					      "volumes") : NULL;
	vl = bv ? bv : vl;
	if (vl && volumes_apply(&b->vm, vl, err, errlen) < 0)
		return -1;
	const char *img = str_of(doc_get(root, "sandbox"), "image");
	const char *bimg = box ? str_of(doc_get(box, "sandbox"), "image") : NULL;
	if ((img = bimg ? bimg : img) && img[0]) {
		/* An archive beside the spec is found like a mount's host
		 * path; anything else is a stored image's name or digest. */
		char path[4096];
		struct stat st;
		if (img[0] != '/' && dir &&
		    snprintf(path, sizeof(path), "%s/%s", dir, img) <
			    (int)sizeof(path) && stat(path, &st) == 0)
			img = path;
		b->image = xstrdup(img);
	}
	const char *snp = str_of(doc_get(root, "sandbox"), "snapshot");
	const char *bsnp = box ? str_of(doc_get(box, "sandbox"), "snapshot")
			       : NULL;
	if ((snp = bsnp ? bsnp : snp) && snp[0]) {
		if (!vm_cfg_volume_name_ok(snp)) {
			snprintf(err, errlen, "sandbox.snapshot: '%.64s' is not "
				 "a snapshot name (voidbox snapshot ls)", snp);
			return -1;
		}
		if (b->vm.nmounts || b->vm.ndisks || b->image) {
			snprintf(err, errlen, "sandbox.snapshot: a snapshot "
				 "brings its own VM; mounts, volumes and image "
				 "do not go with it");
			return -1;
		}
		b->snapshot = xstrdup(snp);
	}
	if (agent) {
		b->prompt = xstrdup(str_of(agent, "prompt"));
		const char *am = str_of(agent, "mode");
		b->interactive = am && !strcmp(am, "interactive");
		b->timeout_s = (unsigned)int_of(agent, "timeout_secs",
						b->timeout_s);
		if ((s = str_of(agent, "output_file")))
			snprintf(b->output_file, sizeof(b->output_file), "%s",
				 s);
		const struct node *sk = doc_get(agent, "skills");
		for (size_t i = 0; sk && sk->kind == NODE_SEQ && i < sk->n; i++)
			if (add_skill(b, sk->items[i], dir, err, errlen) < 0)
				return -1;
	}
	if (!strcmp(b->llm.provider, "mock"))
		b->mode = MODE_MOCK;
	return 0;
}

void config_box_free(struct box_cfg *b)
{
	free(b->snapshot);
	b->snapshot = NULL;
	for (size_t i = 0; i < b->nskills; i++) {
		struct skill_cfg *k = &b->skills[i];
		free(k->content);
		free(k->command);
		for (size_t j = 0; j < k->nargs; j++)
			free(k->args[j]);
		free(k->args);
		for (size_t j = 0; j < k->nenv; j++)
			free(k->env[j]);
		free(k->env);
	}
	for (size_t i = 0; i < b->nenv; i++)
		free(b->env[i]);
	free(b->env);
	vm_cfg_free(&b->vm);
	free(b->prompt);
	free(b->image);
	*b = (struct box_cfg){ 0 };
}

static long box_index(const struct pipeline_cfg *pc, const char *name)
{
	for (size_t i = 0; i < pc->nboxes; i++)
		if (!strcmp(pc->boxes[i].name, name))
			return (long)i;
	return -1;
}

int config_pipeline(const struct node *root, const char *dir,
		    struct pipeline_cfg *pc, char *err, size_t errlen)
{
	const struct node *p = doc_get(root, "pipeline");
	const struct node *boxes = doc_get(p, "boxes");
	const struct node *stages = doc_get(p, "stages");

	*pc = (struct pipeline_cfg){ 0 };
	snprintf(pc->name, sizeof(pc->name), "%s", str_of(root, "name"));
	config_observe(root, pc);
	const char *kind = str_of(root, "kind");
	if (kind && !strcmp(kind, "agent")) {
		pc->boxes = calloc(1, sizeof(*pc->boxes));
		pc->stages = calloc(1, sizeof(*pc->stages));
		if (!pc->boxes || !pc->stages) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pc->nboxes = 1;		/* so config_pipeline_free frees it */
		if (config_box(root, NULL, dir, pc->boxes, err, errlen) < 0)
			return -1;
		pc->stages[0] = (struct pipeline_stage){ .type = PS_BOX,
							 .nbox = 1 };
		pc->nstages = 1;
		return 0;
	}
	if (!boxes || boxes->kind != NODE_SEQ || !boxes->n ||
	    boxes->n > PIPELINE_MAX_BOXES) {
		snprintf(err, errlen, "pipeline.boxes: 1..%d boxes expected",
			 PIPELINE_MAX_BOXES);
		return -1;
	}
	size_t ns = stages && stages->kind == NODE_SEQ ? stages->n : boxes->n;
	pc->boxes = calloc(boxes->n, sizeof(*pc->boxes));
	pc->stages = calloc(ns ? ns : 1, sizeof(*pc->stages));
	if (!pc->boxes || !pc->stages) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < boxes->n; i++) {
		if (config_box(root, boxes->items[i], dir, &pc->boxes[i], err,
			       errlen) < 0)
			return -1;
		pc->nboxes++;
	}
	if (!stages || stages->kind != NODE_SEQ) {
		for (size_t i = 0; i < pc->nboxes; i++)
			pc->stages[pc->nstages++] = (struct pipeline_stage){
				.type = PS_BOX, .box = { i }, .nbox = 1 };
		return 0;
	}
	for (size_t i = 0; i < stages->n; i++) {
		const struct node *st = stages->items[i];
		struct pipeline_stage *ps = &pc->stages[pc->nstages];
		const char *type = str_of(st, "type");
		*ps = (struct pipeline_stage){ .type = type &&
			!strcmp(type, "fan_out") ? PS_FANOUT : PS_BOX };
		const struct node *list = doc_get(st, "boxes");
		const char *one = str_of(st, "name");
		size_t n = ps->type == PS_FANOUT && list ? list->n : 1;
		if (n > PIPELINE_MAX_FAN) {
			snprintf(err, errlen, "pipeline.stages[%zu]: at most %d "
				 "boxes in a fan_out", i, PIPELINE_MAX_FAN);
			return -1;
		}
		for (size_t k = 0; k < n; k++) {
			const char *nm = ps->type == PS_FANOUT && list
				? list->items[k]->str : one;
			long bi = nm ? box_index(pc, nm) : -1;
			if (bi < 0) {
				snprintf(err, errlen, "pipeline.stages[%zu]: no "
					 "box named \"%s\"", i, nm ? nm : "");
				return -1;
			}
			ps->box[ps->nbox++] = (size_t)bi;
		}
		pc->nstages++;
	}
	return 0;
}

void config_pipeline_free(struct pipeline_cfg *pc)
{
	for (size_t i = 0; i < pc->nboxes; i++)
		config_box_free(&pc->boxes[i]);
	free(pc->boxes);
	free(pc->stages);
	*pc = (struct pipeline_cfg){ 0 };
}

void config_observe(const struct node *root, struct pipeline_cfg *pc)
{
	const struct node *o = doc_get(root, "observe");
	const char *s;

	if ((s = str_of(o, "otlp_endpoint")))
		snprintf(pc->otlp_endpoint, sizeof(pc->otlp_endpoint), "%s", s);
	if ((s = str_of(o, "service_name")))
		snprintf(pc->service_name, sizeof(pc->service_name), "%s", s);
}

static long step_index(const struct workflow_cfg *wc, const char *name)
{
	for (size_t i = 0; name && i < wc->nsteps; i++)
		if (!strcmp(wc->steps[i].name, name))
			return (long)i;
	return -1;
}

int config_workflow(const struct node *root, const char *dir,
		    struct workflow_cfg *wc, char *err, size_t errlen)
{
	const struct node *w = doc_get(root, "workflow");
	const struct node *steps = doc_get(w, "steps");
	struct box_cfg sb;

	*wc = (struct workflow_cfg){ 0 };
	snprintf(wc->name, sizeof(wc->name), "%s", str_of(root, "name"));
	config_box_init(&sb, wc->name);
	sandbox_apply(&sb, doc_get(root, "sandbox"));
	if (mounts_apply(&sb.vm, doc_get(doc_get(root, "sandbox"), "mounts"),
			 dir, err, errlen) < 0 ||
	    volumes_apply(&sb.vm, doc_get(doc_get(root, "sandbox"), "volumes"),
			  err, errlen) < 0) {
		config_box_free(&sb);
		return -1;
	}
	wc->vm = sb.vm;		/* moved: sb's lists are wc's now */
	sb.vm = (struct vm_cfg){ 0 };
	wc->mode = sb.mode;
	config_box_free(&sb);
	if (!steps || steps->kind != NODE_SEQ || !steps->n ||
	    steps->n > WORKFLOW_MAX_STEPS) {
		snprintf(err, errlen, "workflow.steps: 1..%d steps expected",
			 WORKFLOW_MAX_STEPS);
		return -1;
	}
	if (!(wc->steps = calloc(steps->n, sizeof(*wc->steps)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Names first, so references may point forward. */
	for (size_t i = 0; i < steps->n; i++)
		snprintf(wc->steps[i].name, sizeof(wc->steps[i].name), "%s",
			 str_of(steps->items[i], "name"));
	wc->nsteps = steps->n;
	for (size_t i = 0; i < steps->n; i++) {
		const struct node *s = steps->items[i], *run = doc_get(s, "run");
		struct workflow_step *st = &wc->steps[i];
		const char *mode = str_of(s, "mode"), *from = str_of(run,
								  "stdin_from");
		st->program = xstrdup(str_of(run, "program"));
		st->args = strlist(doc_get(run, "args"), &st->nargs);
		st->service = mode && !strcmp(mode, "service");
		st->timeout_s = (unsigned)int_of(s, "timeout_secs", 600);
		st->stdin_from = from ? step_index(wc, from) : -1;
		if (from && st->stdin_from < 0) {
			snprintf(err, errlen, "workflow.steps[%zu].run."
				 "stdin_from: no step named \"%s\"", i, from);
			return -1;
		}
		const struct node *deps = doc_get(s, "depends_on");
		for (size_t d = 0; deps && deps->kind == NODE_SEQ &&
		     d < deps->n && st->ndeps < WORKFLOW_MAX_STEPS; d++) {
			long di = step_index(wc, deps->items[d]->str);
			if (di < 0) {
				snprintf(err, errlen, "workflow.steps[%zu]."
					 "depends_on: no step named \"%s\"", i,
					 deps->items[d]->str);
				return -1;
			}
			st->deps[st->ndeps++] = (size_t)di;
		}
		/* Reading a step's output means depending on it. */
		if (st->stdin_from >= 0) {
			bool have = false;
			for (size_t d = 0; d < st->ndeps; d++)
				have |= st->deps[d] == (size_t)st->stdin_from;
			if (!have && st->ndeps < WORKFLOW_MAX_STEPS)
				st->deps[st->ndeps++] = (size_t)st->stdin_from;
		} else if (i > 0 && !st->ndeps) {
			/* No stated dependencies: after the previous step,
			 * whose output is this step's stdin. */
			st->deps[st->ndeps++] = i - 1;
		}
	}
	const char *out = str_of(w, "output_step");
	long oi = out ? step_index(wc, out) : (long)wc->nsteps - 1;
	if (oi < 0) {
		snprintf(err, errlen, "workflow.output_step: no step named "
			 "\"%s\"", out);
		return -1;
	}
	wc->output_step = (size_t)oi;
	return 0;
}

void config_workflow_free(struct workflow_cfg *wc)
{
	for (size_t i = 0; wc->steps && i < wc->nsteps; i++) {
		free(wc->steps[i].program);
		for (size_t j = 0; j < wc->steps[i].nargs; j++)
			free(wc->steps[i].args[j]);
		free(wc->steps[i].args);
	}
	free(wc->steps);
	vm_cfg_free(&wc->vm);
	*wc = (struct workflow_cfg){ 0 };
}
