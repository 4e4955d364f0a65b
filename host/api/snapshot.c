/* snapshot.c: warm starts in the C API — what `voidbox snapshot
 * create|ls|rm` and sandbox.snapshot are on the command line
 * (docs/snapshots.md). Stage templates need nothing here: vb_run makes
 * and restores them by itself (vb_pipeline_cold opts out).
 *
 * vb_snapshot_create boots the box's VM as a stage would (its memory,
 * vCPUs, network and image, the claude-code tools image as /dev/vda, the
 * gateway's service channel), provisions its skills and MCP config as a
 * stage would, and keeps it as NAME (`voidbox snapshot create NAME
 * --file SPEC` is the same for a spec's box);
 * a box started from NAME (vb_box_snapshot) is a clone of it with its own
 * identity, and claude-code starts in it after the restore.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../run/run.h"
#include "../image/image.h"
#include "../snap/snap.h"
#include "../util/util.h"

#define CREATE_BOOT_MS 300000	/* nested test hosts boot slowly */

static int fail(char **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char **err, int code, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (err)
		*err = strdup(buf);
	return code;
}

int vb_box_snapshot(vb_box *b, const char *name)
{
	char *c;

	if (!b)
		return VB_CONFIG;
	if (!name || !snap_name_ok(name))
		return box_fail(b, "snapshot: '%.64s' is not a snapshot name "
				"(1-64 of [A-Za-z0-9._-], not starting with . "
				"or -)", name ? name : "(null)");
	if (!(c = strdup(name)))
		return box_fail(b, "snapshot: out of memory");
	free(b->cfg.snapshot);
	b->cfg.snapshot = c;
	return VB_OK;
}

int vb_snapshot_create(const vb_box *b, const char *name, const char *tools,
		       char **err)
{
	if (err)
		*err = NULL;
	if (!b)
		return fail(err, VB_CONFIG, "no box");
	if (b->err[0])
		return fail(err, VB_CONFIG, "box %s: %s", b->cfg.name, b->err);
	return api_snapshot_box(&b->cfg, name, tools, err);
}

/* The box's skills, MCP config and cli: check, as a stage provisions
 * them (the snapshot is the box "after boot and provisioning"). */
static int provision(struct box *vm, const struct box_cfg *bc, char *why,
		     size_t len)
{
	struct agent_conn c = { .fd = -1 };
	struct stage_result *r = calloc(1, sizeof(*r));
	bool mcp = false;
	int rc = -1;

	if (!r) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	if (agent_open(&c, vm, 30000) < 0)
		snprintf(why, len, "agent: %s", c.err);
	else if (provision_run(&c, bc, &mcp, r) < 0)
		snprintf(why, len, "%s", r->error);
	else
		rc = 0;
	agent_close(&c);
	free(r);
	return rc;
}

int api_snapshot_box(const struct box_cfg *bc, const char *name,
		     const char *tools, char **err)
{
	struct box vm = { .pid = -1, .sock = -1, .svc_fd = -1 };
	struct tools_image ti = { .fd = -1 };
	struct image_use img = { 0 };
	struct snap_meta m;
	char why[1024];
	int rc = VB_VM_ERROR;

	if (err)
		*err = NULL;
	if (!name || !snap_name_ok(name))
		return fail(err, VB_CONFIG, "snapshot: '%.64s' is not a "
			    "snapshot name", name ? name : "(null)");
	if (bc->snapshot)
		return fail(err, VB_CONFIG, "box %s starts from snapshot %s "
			    "itself", bc->name, bc->snapshot);
	struct vm_cfg cfg = bc->vm;	/* shallow: the box keeps its lists */
	if (snap_cfg_check(&cfg, why, sizeof(why)) < 0)
		return fail(err, VB_CONFIG, "snapshot %s: %s", name, why);
	/* The tools image first (/dev/vda, as in a stage), then an image's
	 * root. */
	tools = tools ? tools : getenv("VOIDBOX_TOOLS_DISK");
	if (tools) {
		cfg.disk[0] = (struct vm_disk_cfg){ .path = (char *)tools,
						    .ro = true };
	} else if (trailer_tools(&ti, why, sizeof(why)) == 0) {
		cfg.disk[0] = (struct vm_disk_cfg){ .fd = ti.fd, .off = ti.off,
						    .len = ti.len, .ro = true };
	} else {
		return fail(err, VB_CONFIG, "no claude-code tools image: %s; "
			    "pass one (tools) or set VOIDBOX_TOOLS_DISK", why);
	}
	cfg.ndisks = 1;
	if (bc->image) {
		if (image_use(bc->image, &img, why, sizeof(why)) < 0) {
			rc = fail(err, VB_CONFIG, "%s", why);
			goto out;
		}
		cfg.disk[cfg.ndisks++] = (struct vm_disk_cfg){
			.path = img.root, .ro = true };
		cfg.root_disk = cfg.ndisks;
	}
	cfg.services = true;
	if (box_boot(&vm, &cfg, CREATE_BOOT_MS, why, sizeof(why)) < 0) {
		rc = fail(err, box_vmm_crashed(&vm) ? VB_VMM_DIED : VB_VM_ERROR,
			  "snapshot %s: %s", name, why);
		goto out;
	}
	if (provision(&vm, bc, why, sizeof(why)) < 0) {
		rc = fail(err, VB_FAILED, "snapshot %s: provisioning box %s: %s",
			  name, bc->name, why);
		goto out;
	}
	if (snap_create(name, &vm, &cfg, ti.fd >= 0 ? ti.sha256 : NULL,
			bc->image, true, 0, &m, why, sizeof(why)) < 0) {
		rc = fail(err, VB_FAILED, "%s", why);
		goto out;
	}
	box_wait_exit(&vm, 10000);
	rc = VB_OK;
out:
	if (vm.pid > 0)
		box_stop(&vm, 2000);
	box_close(&vm);
	image_use_free(&img);
	if (ti.fd >= 0)
		close(ti.fd);
	return rc;
}

char *vb_snapshot_list_json(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	int n = snap_list(f, true);
	fclose(f);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int vb_snapshot_remove(const char *name, char **err)
{
	char why[512];

	if (err)
		*err = NULL;
	if (!name || snap_rm(name, why, sizeof(why)) < 0)
		return fail(err, VB_CONFIG, "%s", name ? why : "no name");
	return VB_OK;
}
