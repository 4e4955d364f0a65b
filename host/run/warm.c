/* warm.c: warm starts for claude stages — one template snapshot per box
 * configuration, made by the first stage that boots it and restored by
 * every later one (docs/snapshots.md, "Stages").
 *
 * The template is the stage's VM booted, provisioned (skills, MCP
 * config) and with claude-code started and waiting for its first message
 * (waiting.c): nothing of one stage's run is in it (no input, prompt or
 * gateway token: each clone writes its own token, input and prompt, and
 * gets its own secret). Its name is "stage-" and a hash of everything
 * that shapes it: this build, memory, vCPUs, the network device, the
 * hostname, the kernel, initramfs and command line, the tools image and
 * the image root, and the waiting claude-code's argv, environment,
 * skills and MCP servers. Change any and the name changes; a template
 * from another build is refused on load and replaced. Without an agent
 * key (a named sandbox.snapshot) the template is the VM right after its
 * agent is ready and claude-code starts after the restore.
 *
 * Not warm: --cold (vb_pipeline_warm(p, false)), VMs with volumes
 * (writable) or shared directories, which a snapshot cannot carry.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../util/util.h"

#ifndef VB_VERSION
#define VB_VERSION "unknown"
#endif

static void add(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

static void file_id(char *buf, size_t len, const char *what, const char *p)
{
	struct stat st;
	if (p && stat(p, &st) == 0)
		add(buf, len, "|%s=%s:%lld:%lld.%09ld", what, p,
		    (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		    st.st_mtim.tv_nsec);
	else
		add(buf, len, "|%s=%s", what, p ? p : "embedded");
}

static void template_name(const struct vm_cfg *c, const struct stage_opts *o,
			  const char *agent_key, char *out, size_t len)
{
	char key[8192] = "", hex[65];

	if (agent_key)
		add(key, sizeof(key), "waiting=%s|", agent_key);
	add(key, sizeof(key), "%s|mem=%llu|cpus=%u|net=%d|svc=%d|host=%s|"
	    "root=%u|append=%s|cmdline=%s", VB_VERSION,
	    (unsigned long long)c->mem_mb, c->vcpus, c->net.enabled,
	    c->services, c->hostname, c->root_disk,
	    c->append ? c->append : "", c->cmdline ? c->cmdline : "");
	file_id(key, sizeof(key), "kernel", c->kernel_path);
	file_id(key, sizeof(key), "initrd", c->initrd_path);
	for (unsigned i = 0; i < c->ndisks; i++) {
		if (c->disk[i].path) {
			file_id(key, sizeof(key), "disk", c->disk[i].path);
		} else if (o->tools_sha256) {
			sha256_hex(o->tools_sha256, 32, hex);
			add(key, sizeof(key), "|tools=%s", hex);
		}
		add(key, sizeof(key), "@%llu+%llu",
		    (unsigned long long)c->disk[i].off,
		    (unsigned long long)c->disk[i].len);
	}
	sha256_hex(key, strlen(key), hex);
	snprintf(out, len, "stage-%.16s", hex);
}

/* The restore's configuration: this run's (name, console, network rules,
 * timeout, services), the snapshot's VM (memory, vCPUs, disks, the file),
 * and the clone's identity. */
static int restore_cfg(struct warm *w, const struct vm_cfg *cfg, char *err,
		       size_t errlen)
{
	w->rcfg = *cfg;
	w->rcfg.ndisks = 0;
	w->rcfg.root_disk = 0;
	memset(w->rcfg.disk, 0, sizeof(w->rcfg.disk));
	w->rcfg.snapshot_path = NULL;
	w->restore = true;	/* warm_end frees what this made */
	if (snap_restore_cfg(&w->meta, &w->rcfg, err, errlen) < 0)
		return -1;
	if (snap_clone_identity(&w->meta, cfg->hostname, &w->rcfg, w->hostname,
				sizeof(w->hostname)) < 0) {
		snprintf(err, errlen, "no randomness for the clone");
		return -1;
	}
	return 0;
}

static void pruned(const char *name, uint64_t bytes, void *ctx);

int warm_begin(struct warm *w, const struct vm_cfg *cfg,
	       const struct stage_opts *o, const struct box_cfg *bc,
	       char *err, size_t errlen)
{
	const char *stage = bc->name, *named = bc->snapshot;
	char src[80], agent_key[65];

	memset(w, 0, sizeof(*w));
	snprintf(src, sizeof(src), "vm:%s", stage);
	if (named) {
		/* sandbox.snapshot: this one or nothing. */
		snprintf(w->name, sizeof(w->name), "%s", named);
		w->on = true;
		if (snap_load(named, &w->meta, err, errlen) < 0 ||
		    restore_cfg(w, cfg, err, errlen) < 0)
			return -1;
		w->gw_port = true;
		return 0;
	}
	if (o->cold || cfg->nmounts)
		return 0;
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		if (!cfg->disk[i].ro)
			return 0;	/* a volume: no template */
		if (!cfg->disk[i].path && !o->tools_sha256)
			return 0;	/* an fd we could not name again */
	}
	w->on = true;
	/* The template holds claude-code started and waiting (waiting.c). */
	waiting_key(bc, agent_key);
	w->waiting = agent_key[0] != '\0';
	template_name(cfg, o, w->waiting ? agent_key : NULL, w->name,
		      sizeof(w->name));
	char why[512];
	if (snap_load(w->name, &w->meta, why, sizeof(why)) < 0) {
		char p[4200];
		struct stat st;
		if (snap_path(w->name, NULL, p, sizeof(p)) == 0 &&
		    stat(p, &st) == 0) {
			/* another build's, damaged, a disk changed: replace */
			log_say(src, "template %s not usable (%s): booting "
				"cold and making it again", w->name, why);
			snap_rm(w->name, why, sizeof(why));
		}
		w->make = true;
		return 0;
	}
	if (w->waiting && !w->meta.park_id) {
		log_say(src, "template %s has no waiting claude-code: booting "
			"cold", w->name);
		memset(w, 0, sizeof(*w));
		return 0;
	}
	if (restore_cfg(w, cfg, why, sizeof(why)) < 0) {
		log_say(src, "template %s: %s: booting cold", w->name, why);
		warm_end(w);
		memset(w, 0, sizeof(*w));
		return 0;
	}
	snap_touch(w->name);
	return 0;
}

int warm_ready(struct warm *w, struct box *b, const struct vm_cfg *cfg,
	       const struct stage_opts *o, const char *image, const char *stage,
	       char *err, size_t errlen)
{
	char src[80];

	snprintf(src, sizeof(src), "vm:%s", stage);
	if (w->restore) {
		memcpy(b->secret, w->meta.secret, sizeof(b->secret));
		/* A named snapshot may have been made without the gateway
		 * relay a claude stage needs (`snapshot create`). */
		return agent_resume(b, w->hostname, w->rcfg.mac,
				    w->gw_port ? GW_GUEST_PORT : 0, 30000, err,
				    errlen);
	}
	if (w->make && !w->waiting)
		warm_make(w, b, cfg, o, image, stage, 0);
	return 0;
}

void warm_make(struct warm *w, struct box *b, const struct vm_cfg *cfg,
	       const struct stage_opts *o, const char *image,
	       const char *stage, uint32_t park_id)
{
	struct snap_meta m;
	char why[512], src[80];

	snprintf(src, sizeof(src), "vm:%s", stage);
	w->make = false;
	if (snap_create(w->name, b, cfg, o->tools_sha256, image, false,
			park_id, &m, why, sizeof(why)) < 0) {
		log_say(src, "no template made: %s", why);
		return;
	}
	log_say(src, "template %s made (VM paused %.1f ms, %.1f MiB%s): "
		"later stages like this one start warm", w->name,
		(double)m.took_ns / 1e6, (double)m.disk_bytes / (1 << 20),
		park_id ? ", claude-code waiting in it" : "");
	snap_prune("stage-", snap_template_cap(), w->name, pruned, src);
}

static void pruned(const char *name, uint64_t bytes, void *ctx)
{
	log_say(ctx, "template %s removed (%.1f MiB, least recently used; "
		"templates are kept under VOIDBOX_TEMPLATE_CACHE_MB=%llu)",
		name, (double)bytes / (1 << 20),
		(unsigned long long)(snap_template_cap() >> 20));
}

void warm_end(struct warm *w)
{
	if (!w->restore)
		return;
	w->restore = false;
	for (unsigned i = 0; i < w->rcfg.ndisks; i++) {
		free(w->rcfg.disk[i].path);
		w->rcfg.disk[i].path = NULL;
		if (w->meta.disk[i].embedded_tools && w->rcfg.disk[i].fd > 0)
			close(w->rcfg.disk[i].fd);
	}
	free(w->rcfg.snapshot_path);
	w->rcfg.snapshot_path = NULL;
}
