/* pipeline.c: stages of boxes — `pipe` in sequence, `fan_out` in
 * parallel — each box a fresh VM and its own failure domain.
 *
 * Data flow: a stage's input is the previous stage's output (its output
 * file, else claude's result text); a fan_out's output is a JSON array of
 * its branches' outputs in declaration order (each embedded as JSON when
 * it parses, else as a string), never in completion order.
 * Failure: when any box of a stage fails, later stages are skipped (they
 * depend on it), while the failed box's running siblings finish and keep
 * their results. At most `parallel` VMs run at once.
 *
 * State: everything a run needs besides its config — the VM pool and its
 * limit, the request-body pool, the OTLP exporter — is in its struct
 * run_ctx, so runs in several threads of one process are independent.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "run.h"
#include "../otel/otel.h"
#include "../spec/spec.h"

#define STAGE_STACK (1u << 20)	/* per stage thread (pipeline_run) */

struct branch {
	struct run_ctx *rc;
	const struct pipeline_cfg *pc;
	const struct stage_opts *base;
	size_t box;			/* index into pc->boxes */
	struct stage_result *res;
	const void *input;
	size_t input_len;
	const uint8_t *trace_id, *spans;	/* NULL without tracing */
};

int run_ctx_init(struct run_ctx *rc, const struct pipeline_cfg *pc,
		 unsigned parallel)
{
	*rc = (struct run_ctx){ .limit = parallel ? parallel : 1 };
	if (pthread_mutex_init(&rc->lock, NULL))
		return -1;
	if (pthread_cond_init(&rc->cv, NULL)) {
		pthread_mutex_destroy(&rc->lock);
		return -1;
	}
	gw_pool_init(&rc->mem, GW_RUN_BODY_BYTES);
	rc->otel = telemetry_begin(pc);
	return 0;
}

void run_ctx_destroy(struct run_ctx *rc)
{
	telemetry_end(rc->otel);
	rc->otel = NULL;
	gw_pool_destroy(&rc->mem);
	pthread_cond_destroy(&rc->cv);
	pthread_mutex_destroy(&rc->lock);
}

/* Take a place in the run's VM pool, waiting for one. */
static void pool_take(struct run_ctx *rc)
{
	pthread_mutex_lock(&rc->lock);
	while (rc->running >= rc->limit)
		pthread_cond_wait(&rc->cv, &rc->lock);
	if (++rc->running > rc->peak)
		rc->peak = rc->running;
	pthread_mutex_unlock(&rc->lock);
}

static void pool_give(struct run_ctx *rc)
{
	pthread_mutex_lock(&rc->lock);
	rc->running--;
	pthread_cond_broadcast(&rc->cv);
	pthread_mutex_unlock(&rc->lock);
}

static void *branch_main(void *arg)
{
	struct branch *b = arg;
	struct stage_opts o = *b->base;

	o.input = b->input;
	o.input_len = b->input_len;
	if (b->spans) {
		/* The guest's claude-code continues the trace under its
		 * stage's claude.exec span. */
		struct otel_ctx c = { .flags = OTEL_FLAG_SAMPLED };
		memcpy(c.trace_id, b->trace_id, 16);
		memcpy(c.span_id, b->spans + 8, 8);
		otel_traceparent_format(&c, o.traceparent);
		o.span_ids = b->spans;
	}
	const char *name = b->pc->boxes[b->box].name;
	stage_progress(&o, name, PH_BOOT, NULL, NULL);
	stage_run_any(&b->pc->boxes[b->box], &o, b->res);
	stage_progress(&o, name, PH_DONE, NULL, b->res);
	pool_give(b->rc);
	return NULL;
}

/* The recorded output of a box a resumed run does not run again. */
static const struct resume_out *resumed(const struct stage_opts *o,
					const char *box)
{
	for (size_t i = 0; i < o->nresume; i++)
		if (!strcmp(o->resume[i].box, box))
			return &o->resume[i];
	return NULL;
}

static void resume_box(const struct stage_opts *o, const char *box,
		       const struct resume_out *ro, struct stage_result *r)
{
	*r = (struct stage_result){ .status = STAGE_OK, .resumed = true,
				    .start_unix_ns = otel_now_ns() };
	snprintf(r->name, sizeof(r->name), "%s", box);
	r->output = malloc(ro->len + 1);
	if (r->output) {
		memcpy(r->output, ro->output, ro->len);
		r->output[ro->len] = '\0';
		r->output_len = ro->len;
	} else {
		stage_fail(r, CAUSE_INTERNAL, "out of memory");
	}
	stage_progress(o, box, PH_DONE, NULL, r);
}

/* The pre-flight: a missing key for box 3 must fail the run before box 1
 * boots, not after boxes 1 and 2 have run (and been paid for). Boxes the
 * mock agent will run need no credentials. The refused box is reported
 * as a config error that "ran"; the others as skipped. */
static int preflight(const struct pipeline_cfg *pc,
		     const struct stage_opts *base, struct pipeline_result *pr)
{
	char err[400], why[200];

	for (size_t i = 0; i < pc->nboxes; i++) {
		const struct box_cfg *bc = &pc->boxes[i];
		if (stage_mode_mock(bc->mode, why, sizeof(why)) ||
		    resumed(base, bc->name) ||
		    stage_preflight(bc, err, sizeof(err)) == 0)
			continue;
		struct stage_result *r = &pr->results[i];
		*r = (struct stage_result){ .start_unix_ns = otel_now_ns() };
		snprintf(r->name, sizeof(r->name), "%s", bc->name);
		stage_fail(r, CAUSE_CONFIG, "%s", err);
		pr->ran[i] = true;
		pr->refused = true;
		snprintf(pr->failed, sizeof(pr->failed), "%s", bc->name);
		return -1;
	}
	return 0;
}

/* What the next stage receives from a finished box. */
static char *box_output(const struct stage_result *r, size_t *len)
{
	if (r->output) {
		*len = r->output_len;
		return strndup(r->output, r->output_len);
	}
	const char *t = stage_result_text(r);
	*len = t ? strlen(t) : 0;
	return t ? strdup(t) : NULL;
}

/* Join branch outputs, in declaration order, as a JSON array. */
static char *join_outputs(const struct stage_result *const *rs, size_t n,
			  size_t *len)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		size_t l;
		char *o = box_output(rs[i], &l);
		cJSON *v = o ? cJSON_ParseWithLength(o, l) : NULL;
		if (!v)
			v = o ? cJSON_CreateString(o) : cJSON_CreateNull();
		cJSON_AddItemToArray(a, v);
		free(o);
	}
	char *s = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	*len = s ? strlen(s) : 0;
	return s;
}

int pipeline_run(struct run_ctx *rc, const struct pipeline_cfg *pc,
		 const struct stage_opts *base, struct pipeline_result *pr)
{
	char *input = NULL;
	size_t input_len = 0;
	bool failed = false;
	/* The run's stages share one bound on buffered request bodies (each
	 * VM has its own too): a fan_out of hostile guests cannot multiply
	 * the orchestrator's memory (host/gateway/budget.c). */
	struct stage_opts run_opts = *base;

	if (!run_opts.gw_pool)
		run_opts.gw_pool = &rc->mem;
	base = &run_opts;
	*pr = (struct pipeline_result){ 0 };
	pr->results = calloc(pc->nboxes, sizeof(*pr->results));
	pr->ran = calloc(pc->nboxes, sizeof(*pr->ran));
	if (!pr->results || !pr->ran)
		return -1;
	pr->start_unix_ns = otel_now_ns();
	telemetry_ids(rc->otel, pr, pc->nboxes);
	pthread_mutex_lock(&rc->lock);
	rc->peak = 0;
	pthread_mutex_unlock(&rc->lock);
	if (base->input) {
		input = strndup(base->input, base->input_len);
		input_len = base->input_len;
	}
	if (preflight(pc, base, pr) < 0)
		failed = true;
	for (size_t s = 0; s < pc->nstages && !failed; s++) {
		const struct pipeline_stage *st = &pc->stages[s];
		struct branch br[PIPELINE_MAX_FAN];
		pthread_t th[PIPELINE_MAX_FAN];
		bool started[PIPELINE_MAX_FAN] = { 0 };

		for (size_t i = 0; i < st->nbox; i++) {
			br[i] = (struct branch){
				.rc = rc, .pc = pc, .base = base, .box = st->box[i],
				.res = &pr->results[st->box[i]],
				.input = input, .input_len = input_len,
				.trace_id = pr->trace_id,
				.spans = pr->box_spans ? pr->box_spans[st->box[i]]
						       : NULL };
			const char *bn = pc->boxes[st->box[i]].name;
			const struct resume_out *ro = resumed(base, bn);
			if (ro) {
				pr->ran[st->box[i]] = true;
				resume_box(base, bn, ro, br[i].res);
				continue;
			}
			pool_take(rc);
			pr->ran[st->box[i]] = true;
			/* A stage does real work on its thread (an image pull,
			 * TLS, JSON): musl's default 128 KiB stack is too
			 * small for that, glibc's 8 MiB needlessly large. */
			pthread_attr_t at;
			pthread_attr_init(&at);
			pthread_attr_setstacksize(&at, STAGE_STACK);
			int perr = pthread_create(&th[i], &at, branch_main, &br[i]);
			pthread_attr_destroy(&at);
			if (perr) {
				stage_fail(br[i].res, CAUSE_INTERNAL,
					   "cannot start a thread");
				pool_give(rc);
				continue;
			}
			started[i] = true;
		}
		for (size_t i = 0; i < st->nbox; i++)
			if (started[i])
				pthread_join(th[i], NULL);
		/* Pointers, not copies: PIPELINE_MAX_FAN results are
		 * ~150 KiB, more than a musl thread's whole stack, and
		 * pipeline_run may run in any thread of a library user. */
		const struct stage_result *tmp[PIPELINE_MAX_FAN];
		for (size_t i = 0; i < st->nbox; i++) {
			tmp[i] = &pr->results[st->box[i]];
			if (tmp[i]->status != STAGE_OK && !failed) {
				failed = true;
				snprintf(pr->failed, sizeof(pr->failed), "%s",
					 pc->boxes[st->box[i]].name);
			}
		}
		free(input);
		input = NULL;
		if (failed)
			break;
		if (st->type == PS_FANOUT)
			input = join_outputs(tmp, st->nbox, &input_len);
		else
			input = box_output(tmp[0], &input_len);
	}
	pthread_mutex_lock(&rc->lock);
	pr->peak_parallel = rc->peak;
	pthread_mutex_unlock(&rc->lock);
	pr->end_unix_ns = otel_now_ns();
	telemetry_pipeline(rc->otel, pc, pr);
	pr->output = input;
	pr->output_len = input ? input_len : 0;
	return failed ? -1 : 0;
}

void pipeline_result_free(const struct pipeline_cfg *pc,
			  struct pipeline_result *pr)
{
	for (size_t i = 0; pr->results && i < pc->nboxes; i++)
		stage_result_free(&pr->results[i]);
	free(pr->results);
	free(pr->ran);
	free(pr->box_spans);
	free(pr->output);
	*pr = (struct pipeline_result){ 0 };
}
