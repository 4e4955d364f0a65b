/* api.c: pipelines and spec loading for the public API (voidbox.h);
 * boxes are built in box.c, runs and results live in result.c, reports
 * in report.c.
 *
 * A vb_pipeline is a struct pipeline_cfg grown one stage at a time, the
 * very structure config_pipeline fills from a spec, so `voidbox run` and
 * a C program go through one runner (pipeline_run) and one report.
 * Errors are data (R7 c): the first one is kept on its object and comes
 * back from vb_run as a result with exit code VB_CONFIG.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* ---- Pipelines -------------------------------------------------------- */

static int pipe_fail(struct vb_pipeline *p, const char *box,
		     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pipe_fail(struct vb_pipeline *p, const char *box,
		     const char *fmt, ...)
{
	va_list ap;

	if (p && !p->err[0]) {
		va_start(ap, fmt);
		vsnprintf(p->err, sizeof(p->err), fmt, ap);
		va_end(ap);
		snprintf(p->err_box, sizeof(p->err_box), "%s", box ? box : "");
	}
	return VB_CONFIG;
}

static struct vb_pipeline *pipeline_alloc(void)
{
	struct vb_pipeline *p = calloc(1, sizeof(*p));

	if (p) {
		p->parallel = 4;	/* as `voidbox run` */
		snprintf(p->kind, sizeof(p->kind), "pipeline");
	}
	return p;
}

vb_pipeline *vb_pipeline_new(const char *name)
{
	struct vb_pipeline *p = pipeline_alloc();

	if (!p)
		return NULL;
	if (!box_name_ok(name))
		pipe_fail(p, NULL, "pipeline name \"%s\": expected 1..63 "
			  "characters of A-Z a-z 0-9 . _ - (not starting "
			  "with .)", name ? name : "(null)");
	else
		snprintf(p->pc.name, sizeof(p->pc.name), "%s", name);
	return p;
}

void vb_pipeline_free(vb_pipeline *p)
{
	if (!p)
		return;
	config_pipeline_free(&p->pc);
	free(p->file);
	free(p->input);
	free(p->tools_disk);
	free(p->run_dir);
	for (size_t i = 0; i < p->nresume; i++)
		free(p->resume[i].output);
	free(p->resume);
	free(p);
}

const char *vb_pipeline_error(const vb_pipeline *p)
{
	return p && p->err[0] ? p->err : NULL;
}

static bool has_box(const struct vb_pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->pc.nboxes; i++)
		if (!strcmp(p->pc.boxes[i].name, name))
			return true;
	return false;
}

/* Make room for n more boxes and one more stage. */
static int grow(struct vb_pipeline *p, size_t n)
{
	if (p->pc.nboxes + n > p->boxcap) {
		size_t cap = p->pc.nboxes + n + 8;
		struct box_cfg *b = realloc(p->pc.boxes, cap * sizeof(*b));
		if (!b)
			return -1;
		p->pc.boxes = b;
		p->boxcap = cap;
	}
	if (p->pc.nstages + 1 > p->stagecap) {
		size_t cap = p->pc.nstages + 8;
		struct pipeline_stage *s = realloc(p->pc.stages,
						   cap * sizeof(*s));
		if (!s)
			return -1;
		p->pc.stages = s;
		p->stagecap = cap;
	}
	return 0;
}

/* One stage of n boxes. Ownership of every box passes to p here, kept
 * or freed, so the caller never has to guess after an error. */
static int add_stage(struct vb_pipeline *p, vb_box **boxes, size_t n,
		     enum pstage_type type)
{
	int rc = VB_OK;

	if (!p)
		rc = VB_CONFIG;
	else if (!boxes || n < 1 || n > PIPELINE_MAX_FAN)
		rc = pipe_fail(p, NULL, "fan_out: 1..%d boxes expected, got "
			       "%zu", PIPELINE_MAX_FAN, boxes ? n : 0);
	else if (p->pc.nboxes + n > PIPELINE_MAX_BOXES)
		rc = pipe_fail(p, NULL, "more than %d boxes",
			       PIPELINE_MAX_BOXES);
	for (size_t i = 0; rc == VB_OK && i < n; i++) {
		const char *nm = boxes[i] ? boxes[i]->cfg.name : NULL;
		if (!boxes[i])
			rc = pipe_fail(p, NULL, "stage %zu: box %zu is NULL "
				       "(out of memory?)", p->pc.nstages, i);
		else if (nm[0] && has_box(p, nm))
			rc = pipe_fail(p, NULL, "duplicate box name \"%s\"",
				       nm);
		for (size_t j = 0; rc == VB_OK && j < i; j++)
			if (boxes[j] == boxes[i] ||
			    (nm[0] && !strcmp(boxes[j]->cfg.name, nm)))
				rc = pipe_fail(p, NULL, "box \"%s\" twice in "
					       "one fan_out", nm);
	}
	if (rc == VB_OK && grow(p, n) < 0)
		rc = pipe_fail(p, NULL, "out of memory");
	if (rc != VB_OK) {
		/* Free each distinct box once (the same one may be listed
		 * twice). */
		for (size_t i = 0; boxes && i < n; i++) {
			bool seen = false;
			for (size_t j = 0; j < i; j++)
				seen |= boxes[j] == boxes[i];
			if (!seen)
				vb_box_free(boxes[i]);
		}
		return rc;
	}
	struct pipeline_stage *st = &p->pc.stages[p->pc.nstages++];
	*st = (struct pipeline_stage){ .type = type, .nbox = n };
	for (size_t i = 0; i < n; i++) {
		struct vb_box *b = boxes[i];
		const char *nm = b->cfg.name[0] ? b->cfg.name : "(unnamed)";
		if (b->err[0])
			rc = pipe_fail(p, b->cfg.name, "box %s: %s", nm,
				       b->err);
		else if (b->cfg.snapshot && (b->cfg.vm.nmounts ||
					     b->cfg.vm.ndisks || b->cfg.image))
			rc = pipe_fail(p, b->cfg.name, "box %s: snapshot %s "
				       "brings its own VM; mounts, volumes and "
				       "image do not go with it", nm,
				       b->cfg.snapshot);
		st->box[i] = p->pc.nboxes;
		p->pc.boxes[p->pc.nboxes++] = b->cfg;	/* moved */
		free(b);
	}
	return rc;
}

int vb_pipeline_pipe(vb_pipeline *p, vb_box *box)
{
	return add_stage(p, &box, 1, PS_BOX);
}

int vb_pipeline_fan_out(vb_pipeline *p, vb_box **boxes, size_t n)
{
	return add_stage(p, boxes, n, PS_FANOUT);
}

int vb_pipeline_parallel(vb_pipeline *p, unsigned n)
{
	if (!p)
		return VB_CONFIG;
	if (n < 1 || n > 64)
		return pipe_fail(p, NULL, "parallel %u: expected 1..64", n);
	p->parallel = n;
	return VB_OK;
}

int vb_pipeline_input(vb_pipeline *p, const void *data, size_t len)
{
	if (!p)
		return VB_CONFIG;
	if (!data && len)
		return pipe_fail(p, NULL, "input: NULL with length %zu", len);
	char *in = data ? malloc(len + 1) : NULL;
	if (data && !in)
		return pipe_fail(p, NULL, "input: out of memory");
	if (in) {
		memcpy(in, data, len);
		in[len] = '\0';
	}
	free(p->input);
	p->input = in;
	p->input_len = in ? len : 0;
	return VB_OK;
}

int vb_pipeline_tools_disk(vb_pipeline *p, const char *path)
{
	if (!p)
		return VB_CONFIG;
	char *c = path ? strdup(path) : NULL;
	if (path && !c)
		return pipe_fail(p, NULL, "tools_disk: out of memory");
	free(p->tools_disk);
	p->tools_disk = c;
	return VB_OK;
}

int vb_pipeline_live(vb_pipeline *p, bool on)
{
	if (!p)
		return VB_CONFIG;
	p->live = on;
	return VB_OK;
}

int vb_pipeline_run_dir(vb_pipeline *p, const char *dir)
{
	if (!p)
		return VB_CONFIG;
	free(p->run_dir);
	p->run_dir = NULL;
	if (dir && !(p->run_dir = strdup(dir)))
		return VB_CONFIG;
	return VB_OK;
}

int vb_pipeline_resume_output(vb_pipeline *p, const char *box,
			      const void *data, size_t len)
{
	if (!p || !box)
		return VB_CONFIG;
	if (!has_box(p, box))
		return pipe_fail(p, box, "resume: the pipeline has no box '%s'",
				     box);
	for (size_t i = 0; i < p->nresume; i++)
		if (!strcmp(p->resume[i].box, box))
			return pipe_fail(p, box, "resume: box '%s' given twice",
					     box);
	struct resume_out *n = realloc(p->resume,
				       (p->nresume + 1) * sizeof(*n));
	if (!n)
		return VB_CONFIG;
	p->resume = n;
	struct resume_out *ro = &n[p->nresume];
	*ro = (struct resume_out){ .len = len };
	snprintf(ro->box, sizeof(ro->box), "%s", box);
	if (!(ro->output = malloc(len + 1)))
		return VB_CONFIG;
	if (len)
		memcpy(ro->output, data, len);
	ro->output[len] = '\0';
	p->nresume++;
	return VB_OK;
}

int vb_pipeline_cold(vb_pipeline *p, bool on)
{
	if (!p)
		return -1;
	p->cold = on;
	return 0;
}

int vb_pipeline_console(vb_pipeline *p, bool on)
{
	if (!p)
		return VB_CONFIG;
	p->console = on;
	return VB_OK;
}

/* ---- Specs ------------------------------------------------------------ */

vb_pipeline *vb_pipeline_from_doc(const struct spec_doc *d, char **err)
{
	struct vb_pipeline *p = NULL;
	char msg[512];

	if (err)
		*err = NULL;
	if (strcmp(d->kind, "agent") && strcmp(d->kind, "pipeline")) {
		snprintf(msg, sizeof(msg), "kind %s runs with `voidbox run` (the "
			 "C API runs agent and pipeline specs)", d->kind);
		goto fail;
	}
	if (!(p = pipeline_alloc()) || !(p->file = strdup(d->path))) {
		snprintf(msg, sizeof(msg), "out of memory");
		goto fail;
	}
	snprintf(p->kind, sizeof(p->kind), "%s", d->kind);
	if (config_pipeline(d->root, d->dir, &p->pc, msg, sizeof(msg)) < 0)
		goto fail;
	p->boxcap = p->pc.nboxes;
	p->stagecap = p->pc.nstages;
	return p;
fail:
	if (err && asprintf(err, "%s: %s\n", d->path, msg) < 0)
		*err = NULL;
	vb_pipeline_free(p);
	return NULL;
}

const struct box_cfg *api_pipeline_box(const vb_pipeline *p,
				       const char *name)
{
	if (!p)
		return NULL;
	if (!name)
		return p->pc.nboxes == 1 ? &p->pc.boxes[0] : NULL;
	for (size_t i = 0; i < p->pc.nboxes; i++)
		if (!strcmp(p->pc.boxes[i].name, name))
			return &p->pc.boxes[i];
	return NULL;
}

const struct pipeline_cfg *api_pipeline_cfg(const vb_pipeline *p)
{
	return p ? &p->pc : NULL;
}

vb_pipeline *vb_pipeline_from_spec(const char *path, char **err)
{
	struct spec_errors e = { 0 };
	struct spec_doc d;
	vb_pipeline *p = NULL;

	if (err)
		*err = NULL;
	if (!path) {
		if (err)
			*err = strdup("(null): no spec file given\n");
		return NULL;
	}
	if (spec_open(path, &d, &e) == 0)
		p = vb_pipeline_from_doc(&d, err);
	else if (err)
		*err = spec_errors_join(&e);	/* NULL when out of memory */
	spec_close(&d);
	spec_errors_free(&e);
	return p;
}
