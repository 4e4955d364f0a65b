/* snapshot.c: warm starts in the C API — what `voidbox snapshot
 * create|ls|rm` and sandbox.snapshot are on the command line
 * (docs/snapshots.md). Stage templates need nothing here: vb_run makes
 * and restores them by itself (vb_pipeline_cold opts out).
 *
 * vb_snapshot_create boots the box's VM as a stage would (its memory,
 * vCPUs, network and image, the claude-code tools image as /dev/vda, the
 * gateway's service channel), waits for its agent and keeps it as NAME;
 * a box started from NAME (vb_box_snapshot) is a clone of it with its own
 * identity, and claude-code starts in it after the restore.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "../box/box.h"
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
	struct box vm = { .pid = -1, .sock = -1, .svc_fd = -1 };
	struct tools_image ti = { .fd = -1 };
	struct image_use img = { 0 };
	struct snap_meta m;
	char why[1024];
	int rc = VB_VM_ERROR;

	if (err)
		*err = NULL;
	if (!b)
		return fail(err, VB_CONFIG, "no box");
	if (b->err[0])
		return fail(err, VB_CONFIG, "box %s: %s", b->cfg.name, b->err);
	if (!name || !snap_name_ok(name))
		return fail(err, VB_CONFIG, "snapshot: '%.64s' is not a "
			    "snapshot name", name ? name : "(null)");
	if (b->cfg.snapshot)
		return fail(err, VB_CONFIG, "box %s starts from snapshot %s "
			    "itself", b->cfg.name, b->cfg.snapshot);
	struct vm_cfg cfg = b->cfg.vm;	/* shallow: the box keeps its lists */
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
	if (b->cfg.image) {
		if (image_use(b->cfg.image, &img, why, sizeof(why)) < 0) {
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
	if (snap_create(name, &vm, &cfg, ti.fd >= 0 ? ti.sha256 : NULL,
			b->cfg.image, true, 0, &m, why, sizeof(why)) < 0) {
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
