/* api.h: table of contents of host/api/ — the public C API (voidbox.h)
 * built on the spec module's plain config (struct box_cfg, struct
 * pipeline_cfg) and the runner (pipeline_run). The objects behind the
 * opaque handles live here so box.c, api.c and report.c share them. The
 * CLI uses voidbox.h, and this header only for vb_pipeline_from_doc: its
 * `run` reads a spec once and hands agent and pipeline kinds over here.
 */
#ifndef VOIDBOX_API_H
#define VOIDBOX_API_H

#include <stdbool.h>
#include <stddef.h>

#include "voidbox.h"
#include "../run/run.h"
#include "../spec/spec.h"

#define API_ERR_MAX 512

/* A box under construction: exactly what a spec box resolves to, so the
 * runner cannot tell the two apart. cfg owns heap strings (prompt, env,
 * skill content) and is freed with config_box_free. */
struct vb_box {
	struct box_cfg cfg;
	char err[API_ERR_MAX];		/* first error, "" if none */
};

struct vb_pipeline {
	struct pipeline_cfg pc;		/* boxes/stages grown by pipe/fan_out */
	size_t boxcap, stagecap;
	char *file;			/* the spec, or NULL when built */
	char kind[16];			/* "agent" or "pipeline" */
	char *input;			/* the first stage's input, or NULL */
	size_t input_len;
	unsigned parallel;
	char *tools_disk;
	char *run_dir;
	bool live, console, cold;
	/* Stage progress for a live display (the CLI's panel), or NULL. */
	void (*progress)(void *ctx, const char *stage,
			 const struct stage_progress *p);
	void *progress_ctx;
	struct resume_out *resume;	/* vb_pipeline_resume_output */
	size_t nresume;
	char err[API_ERR_MAX];		/* first error, "" if none */
	char err_box[64];		/* the box it concerns, "" for none */
};

struct vb_result {
	struct pipeline_result pr;	/* per box, in box order */
	size_t nboxes;
	char (*names)[64];		/* box names (skipped boxes have no
					   stage_result to carry theirs) */
	char *file;			/* NULL for built pipelines */
	char kind[16], name[64];
	unsigned parallel;
	bool ok, config_error;
	int code;			/* enum vb_code */
	char error[API_ERR_MAX];
};

/* api.c: a pipeline from a spec already read and checked (spec_open);
 * NULL with *err ("FILE: message\n") for other kinds or bad configs. */
vb_pipeline *vb_pipeline_from_doc(const struct spec_doc *d, char **err);

/* box.c: the one place box errors are recorded; the first one sticks.
 * Returns VB_CONFIG so setters can `return box_fail(...)`. */
int box_fail(struct vb_box *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A valid box or pipeline name: 1..63 bytes of [A-Za-z0-9._-]. */
bool box_name_ok(const char *name);

/* report.c: the run report, shared by vb_result_json/vb_result_report
 * and `voidbox run` (which prints these very strings). */
const char *report_status(enum stage_status s);
/* The CLI's exit code for one stage's outcome (enum vb_code). */
int report_exit_code(const struct stage_result *r);
/* cJSON_Print of the document; caller frees (free()); NULL on OOM. */
char *report_json(const struct vb_result *r);
/* The stderr lines of `voidbox run`; caller frees; NULL on OOM. */
char *report_human(const struct vb_result *r);
/* stage_opts.on_event for live progress lines on stderr. */
void report_event(void *ctx, const char *stage,
		  const struct claude_event *ev);

/* snapshot.c: vb_snapshot_create for a box's configuration (also
 * `voidbox snapshot create NAME --file SPEC`). */
int api_snapshot_box(const struct box_cfg *bc, const char *name,
		     const char *tools, char **err);
/* The box named name in p's boxes (NULL: the only one), or NULL. */
const struct box_cfg *api_pipeline_box(const vb_pipeline *p,
				       const char *name);
/* Its configuration (box names, stages), read only. */
const struct pipeline_cfg *api_pipeline_cfg(const vb_pipeline *p);

#endif
