/* result.c: vb_run, the vb_result accessors, and the process plumbing a
 * library needs (vb_main_hook, SIGPIPE). Each vb_run has its own run
 * context (pool, exporter), so threads may run pipelines at once.
 *
 * A vb_result is the runner's struct pipeline_result plus what outlives
 * the pipeline: box names, the spec file, the exit code. A configuration
 * error is a result too, shaped like a run in which the faulty box
 * failed with STAGE_CONFIG and the rest were skipped, so every accessor
 * and both reports work on it unchanged.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "../util/util.h"
#include "../vmm/vmcfg.h"

int vb_main_hook(int argc, char **argv)
{
	/* The dispatch of host/main.c: box.c spawns /proc/self/exe with
	 * the VMM role's argv and the IPC socket on fd 3. */
	if (vmm_role(argc, argv))
		exit(vmm_main(argc, argv));
	return -1;
}

/* True in a VMM child whose main() skipped vb_main_hook: it would run
 * the user's pipeline again, spawning VMM children of its own, one
 * process per level. /proc/self/cmdline is argv, NUL-separated. */
static bool skipped_main_hook(void)
{
	char buf[256];
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	size_t a0 = strlen(buf);
	if ((ssize_t)a0 + 1 >= n)
		return false;
	char *argv[] = { buf, buf + a0 + 1, NULL };
	return vmm_role(2, argv);
}

const char *vb_strerror(int code)
{
	switch (code) {
	case VB_OK:
		return "ok";
	case VB_FAILED:
		return "a stage failed";
	case VB_CONFIG:
		return "configuration error; nothing was run";
	case VB_TIMEOUT:
		return "a stage timed out";
	case VB_VMM_DIED:
		return "a VMM process died (crashed or was killed)";
	case VB_VM_ERROR:
		return "a VM could not be started";
	default:
		return "unknown result code";
	}
}

/* The result of a run that cannot start: the box named `box` (if any)
 * failed with `msg`, every other box was skipped. */
static int config_result(struct vb_result *r, const char *box,
			 const char *msg)
{
	r->config_error = true;
	r->code = VB_CONFIG;
	snprintf(r->error, sizeof(r->error), "%s", msg);
	r->pr.results = calloc(r->nboxes ? r->nboxes : 1,
			       sizeof(*r->pr.results));
	r->pr.ran = calloc(r->nboxes ? r->nboxes : 1, sizeof(*r->pr.ran));
	if (!r->pr.results || !r->pr.ran)
		return -1;
	for (size_t i = 0; box && box[0] && i < r->nboxes; i++) {
		if (strcmp(r->names[i], box))
			continue;
		struct stage_result *s = &r->pr.results[i];
		snprintf(s->name, sizeof(s->name), "%s", box);
		stage_fail(s, CAUSE_CONFIG, "%s", msg);
		r->pr.ran[i] = true;
		snprintf(r->pr.failed, sizeof(r->pr.failed), "%s", box);
		break;
	}
	return 0;
}

static void run_stages(struct vb_pipeline *p, struct vb_result *r)
{
	struct tools_image ti = { .fd = -1 };
	struct sigaction sa;
	char err[512];
	struct stage_opts so = {
		.input = p->input, .input_len = p->input_len,
		.tools_disk = p->tools_disk ? p->tools_disk
			      : getenv("VOIDBOX_TOOLS_DISK"),
		.console = p->console, .run_dir = p->run_dir,
		.cold = p->cold,
		.on_event = p->live ? report_event : NULL,
		.on_progress = p->progress, .progress_ctx = p->progress_ctx,
		.resume = p->resume, .nresume = p->nresume,
	};

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	/* As in a spec: llm.provider mock means the mock agent. */
	for (size_t i = 0; i < p->pc.nboxes; i++)
		if (!strcmp(p->pc.boxes[i].llm.provider, "mock"))
			p->pc.boxes[i].mode = MODE_MOCK;
	if (!so.tools_disk) {
		/* The full release carries the image; a slim one says so in
		 * the stage error. */
		if (trailer_tools(&ti, err, sizeof(err)) == 0) {
			so.tools_fd = ti.fd;
			so.tools_sha256 = ti.sha256;
			so.tools_off = ti.off;
			so.tools_len = ti.len;
		} else {
			so.tools_err = err;
		}
	}
	if ((p->live || p->progress) && p->pc.nboxes > 1)
	{
		char src[80];
		snprintf(src, sizeof(src), "pipeline:%s", p->pc.name);
		log_say(src, "%zu boxes in %zu stages, at most %u VMs at once",
			p->pc.nboxes, p->pc.nstages, p->parallel);
	}
	/* The run's own state, made here and gone when it ends. */
	struct run_ctx rc;
	if (run_ctx_init(&rc, &p->pc, p->parallel) == 0) {
		r->ok = pipeline_run(&rc, &p->pc, &so, &r->pr) == 0;
		run_ctx_destroy(&rc);
	}
	if (ti.fd >= 0)
		close(ti.fd);

	/* The CLI's rule: the first box, in box order, that did not
	 * succeed gives the code. */
	r->code = VB_OK;
	for (size_t i = 0; r->pr.results && i < r->nboxes; i++) {
		int e = r->pr.ran[i] ? report_exit_code(&r->pr.results[i])
				     : VB_OK;
		if (e != VB_OK && r->code == VB_OK)
			r->code = e;
	}
	if (r->ok)
		return;
	/* The pre-flight refused a box's credentials: nothing ran, which
	 * is what a configuration error says (and the skipped boxes too). */
	r->config_error = r->pr.refused;
	if (r->code == VB_OK)
		r->code = VB_FAILED;	/* no stage to blame: out of memory */
	snprintf(r->error, sizeof(r->error), "out of memory");
	for (size_t i = 0; r->pr.results && i < r->nboxes; i++)
		if (!strcmp(r->names[i], r->pr.failed))
			snprintf(r->error, sizeof(r->error), "%s: %s",
				 r->names[i], r->pr.results[i].error);
}

vb_result *vb_run(vb_pipeline *p)
{
	struct vb_result *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	snprintf(r->kind, sizeof(r->kind), "%s", p ? p->kind : "pipeline");
	if (p) {
		r->nboxes = p->pc.nboxes;
		r->parallel = p->parallel;
		snprintf(r->name, sizeof(r->name), "%s", p->pc.name);
		if (p->file && !(r->file = strdup(p->file)))
			goto err_free;
	}
	r->names = calloc(r->nboxes ? r->nboxes : 1, sizeof(*r->names));
	if (!r->names)
		goto err_free;
	for (size_t i = 0; i < r->nboxes; i++)
		snprintf(r->names[i], sizeof(r->names[i]), "%s",
			 p->pc.boxes[i].name);

	int rc = 0;
	if (!p)
		rc = config_result(r, NULL, "vb_run: the pipeline is NULL (out "
				   "of memory?)");
	else if (skipped_main_hook())
		rc = config_result(r, NULL, "this process is a VM monitor: "
				   "main() must call vb_main_hook(argc, argv) "
				   "before anything else");
	else if (p->err[0])
		rc = config_result(r, p->err_box, p->err);
	else if (!p->pc.nboxes)
		rc = config_result(r, NULL, "the pipeline has no stages");
	else
		run_stages(p, r);
	if (rc == 0)
		return r;
err_free:
	vb_result_free(r);
	return NULL;
}

void vb_result_free(vb_result *r)
{
	if (!r)
		return;
	/* pipeline_result_free reads only pc->nboxes of the config, which
	 * the result does not keep; a stand-in carrying the count does. */
	struct pipeline_cfg pc = { .nboxes = r->nboxes };
	pipeline_result_free(&pc, &r->pr);
	free(r->names);
	free(r->file);
	free(r);
}

/* ---- Accessors -------------------------------------------------------- */

bool vb_result_ok(const vb_result *r)
{
	return r && r->ok;
}

int vb_result_exit_code(const vb_result *r)
{
	return r ? r->code : VB_FAILED;
}

const char *vb_result_error(const vb_result *r)
{
	return r && !r->ok ? r->error : NULL;
}

const char *vb_result_failed_stage(const vb_result *r)
{
	return r && !r->ok && r->pr.failed[0] ? r->pr.failed : NULL;
}

const char *vb_result_output(const vb_result *r, size_t *len)
{
	const char *o = r && r->ok ? r->pr.output : NULL;

	if (len)
		*len = o ? r->pr.output_len : 0;
	return o;
}

size_t vb_result_nstages(const vb_result *r)
{
	return r ? r->nboxes : 0;
}

/* The stage that ran at index i, or NULL (skipped, or a bad index). */
static const struct stage_result *ran(const vb_result *r, size_t i)
{
	return r && i < r->nboxes && r->pr.results && r->pr.ran[i]
		? &r->pr.results[i] : NULL;
}

/* claude-code's accounting for a stage, or NULL (mock, or no stream). */
static const struct claude_result *claude(const vb_result *r, size_t i)
{
	const struct stage_result *s = ran(r, i);
	return s && s->stream ? claude_stream_result(s->stream) : NULL;
}

const char *vb_result_stage_name(const vb_result *r, size_t i)
{
	return r && i < r->nboxes ? r->names[i] : NULL;
}

const char *vb_result_stage_status(const vb_result *r, size_t i)
{
	if (!r || i >= r->nboxes)
		return NULL;
	const struct stage_result *s = ran(r, i);
	return s ? report_status(s->status) : "skipped";
}

const char *vb_result_stage_error(const vb_result *r, size_t i)
{
	if (!r || i >= r->nboxes)
		return NULL;
	const struct stage_result *s = ran(r, i);
	if (!s)
		return r->config_error ? "not run: configuration error"
				       : "not run: an earlier stage failed";
	return s->status == STAGE_OK ? NULL : s->error;
}

int vb_result_stage_tokens(const vb_result *r, size_t i, uint64_t *in,
			   uint64_t *out)
{
	const struct claude_result *c = claude(r, i);

	if (in)
		*in = c ? c->input_tokens : 0;
	if (out)
		*out = c ? c->output_tokens : 0;
	return r && i < r->nboxes ? 0 : -1;
}

double vb_result_stage_cost_usd(const vb_result *r, size_t i)
{
	const struct claude_result *c = claude(r, i);
	return c ? c->cost_usd : 0;
}

size_t vb_result_stage_tool_calls(const vb_result *r, size_t i)
{
	const struct claude_result *c = claude(r, i);
	return c ? c->ntools + c->tools_dropped : 0;
}

uint64_t vb_result_stage_duration_ms(const vb_result *r, size_t i)
{
	const struct stage_result *s = ran(r, i);
	return s ? s->total_ns / 1000000 : 0;
}

const char *vb_result_stage_output(const vb_result *r, size_t i,
				   size_t *len)
{
	const struct stage_result *s = ran(r, i);
	const char *o = NULL;
	size_t l = 0;

	/* What pipeline.c hands to the next stage (its box_output). */
	if (s && s->output) {
		o = s->output;
		l = s->output_len;
	} else if (s && s->status == STAGE_OK &&
		   (o = stage_result_text(s))) {
		l = strlen(o);
	}
	if (len)
		*len = l;
	return o;
}

char *vb_result_json(const vb_result *r)
{
	return r ? report_json(r) : NULL;
}

char *vb_result_report(const vb_result *r)
{
	return r ? report_human(r) : NULL;
}
