/* workflow.c: `kind: workflow` — a DAG of program steps in ONE VM.
 *
 * Steps run as soon as everything they depend on has succeeded; steps
 * that are ready together run together (each on its own agent
 * connection, the agent runs them concurrently). A step's stdin is its
 * stdin_from step's stdout, else the output of the step declared before
 * it, else the run's --input. A failed step skips what depends on it;
 * independent steps still run. The workflow's output is /workspace/
 * result.json when a step wrote one, else output_step's stdout (default:
 * the last step). Service steps (mode: service) start, are not waited for,
 * and end with the VM.
 *
 * Mock mode runs the same plan without a VM: a step's output is a JSON
 * object naming the program, its arguments and the stdin it was given, so
 * data flow stays checkable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "run.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../spec/spec.h"
#include "../util/util.h"

#define STEP_OUT_MAX (16u << 20)

struct job {
	struct box *box;		/* NULL in mock mode */
	const struct workflow_step *st;
	struct step_result *res;
	const char *in;
	size_t in_len;
};

/* Whole memfd into a new NUL-terminated buffer (bounded). */
static char *slurp(int fd, size_t *len)
{
	off_t n = lseek(fd, 0, SEEK_END);
	if (n < 0)
		n = 0;
	if ((uint64_t)n > STEP_OUT_MAX)
		n = STEP_OUT_MAX;
	char *p = malloc((size_t)n + 1);
	if (!p)
		return NULL;
	ssize_t got = pread(fd, p, (size_t)n, 0);
	*len = got > 0 ? (size_t)got : 0;
	p[*len] = '\0';
	return p;
}

static void mock_step(struct job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "step", j->st->name);
	cJSON_AddBoolToObject(o, "mock", true);
	cJSON_AddStringToObject(o, "program", j->st->program);
	cJSON *a = cJSON_AddArrayToObject(o, "args");
	for (size_t i = 0; i < j->st->nargs; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(j->st->args[i]));
	char *in = strndup(j->in ? j->in : "", j->in_len);
	cJSON_AddStringToObject(o, "stdin", in ? in : "");
	free(in);
	j->res->out = cJSON_PrintUnformatted(o);
	j->res->out_len = j->res->out ? strlen(j->res->out) : 0;
	cJSON_Delete(o);
	j->res->status = STEP_OK;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct step_result *r = j->res;
	uint64_t t0 = mono_ns();

	if (!j->box) {
		mock_step(j);
		r->ns = mono_ns() - t0;
		return NULL;
	}
	struct agent_conn c = { .fd = -1 };
	int in = memfd_create("vb-in", MFD_CLOEXEC);
	int out = memfd_create("vb-out", MFD_CLOEXEC);
	int err = memfd_create("vb-err", MFD_CLOEXEC);
	const char *argv[AGENT_MAX_ARGS / 4 + 2];
	size_t a = 0;

	argv[a++] = j->st->program;
	for (size_t i = 0; i < j->st->nargs && a < AGENT_MAX_ARGS / 4; i++)
		argv[a++] = j->st->args[i];
	argv[a] = NULL;
	r->status = STEP_FAILED;
	if (in < 0 || out < 0 || err < 0 ||
	    (j->in_len && agent_write_all(in, j->in, j->in_len) < 0) ||
	    lseek(in, 0, SEEK_SET) < 0) {
		snprintf(r->error, sizeof(r->error), "%s", strerror(errno));
		goto done;
	}
	if (agent_open(&c, j->box, 30000) < 0) {
		snprintf(r->error, sizeof(r->error), "agent: %s", c.err);
		goto done;
	}
	struct agent_exec_req rq = {
		.argv = argv, .cwd = "/workspace", .stdin_fd = in,
		.stdout_fd = out, .stderr_fd = err,
		.timeout_ms = j->st->service ? 0 : j->st->timeout_s * 1000u,
	};
	struct agent_exec_res res;
	if (agent_exec(&c, &rq, &res) < 0) {
		snprintf(r->error, sizeof(r->error), "agent: %s", c.err);
	} else if (res.err) {
		snprintf(r->error, sizeof(r->error), "%s", res.errmsg);
		r->exit_code = res.err == ENOENT ? 127 : 126;
	} else {
		r->exit_code = res.exit.how == AGENT_EXIT_SIGNAL
			? 128 + res.exit.code : res.exit.code;
		if (res.exit.timed_out) {
			r->status = STEP_TIMEOUT;
			snprintf(r->error, sizeof(r->error), "timed out after "
				 "%u s", j->st->timeout_s);
		} else if (r->exit_code == 0) {
			r->status = STEP_OK;
		} else {
			size_t el;
			char *e = slurp(err, &el);
			const char *last = e ? e : "";
			while (el && (e[el - 1] == '\n'))
				e[--el] = '\0';
			if (e && strrchr(e, '\n'))
				last = strrchr(e, '\n') + 1;
			snprintf(r->error, sizeof(r->error), "exit %d%s%s",
				 r->exit_code, *last ? ": " : "", last);
			free(e);
		}
	}
	r->out = slurp(out, &r->out_len);
done:
	agent_close(&c);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	r->ns = mono_ns() - t0;
	return NULL;
}

/* The input a step reads (see the header comment). */
static const char *input_of(const struct workflow_cfg *wc,
			    const struct workflow_result *wr, size_t i,
			    const char *in, size_t in_len, size_t *len)
{
	const struct workflow_step *st = &wc->steps[i];
	long src = st->stdin_from >= 0 ? st->stdin_from
				       : (long)i - 1;
	if (src >= 0) {
		*len = wr->steps[src].out_len;
		return wr->steps[src].out;
	}
	*len = in_len;
	return in;
}

int workflow_run(const struct workflow_cfg *wc, const char *in, size_t in_len,
		 bool mock, bool console, struct workflow_result *wr)
{
	struct box b = { .pid = -1, .sock = -1, .svc_fd = -1 };
	uint64_t t0 = mono_ns();
	char err[512], src[96];
	pthread_t th[WORKFLOW_MAX_STEPS];
	struct job jobs[WORKFLOW_MAX_STEPS];
	bool started[WORKFLOW_MAX_STEPS] = { 0 };

	*wr = (struct workflow_result){ .nsteps = wc->nsteps, .mock = mock };
	wr->steps = calloc(wc->nsteps ? wc->nsteps : 1, sizeof(*wr->steps));
	if (!wr->steps)
		return -1;
	snprintf(src, sizeof(src), "workflow:%s", wc->name);
	if (mock) {
		log_say(src, "mock mode: steps are not executed, no VM");
	} else {
		struct vm_cfg cfg = wc->vm;	/* shallow: wc keeps it */
		cfg.console = console;
		if (box_boot(&b, &cfg, 300000, err, sizeof(err)) < 0) {
			snprintf(wr->error, sizeof(wr->error), "%s", err);
			box_close(&b);
			wr->vm_failed = true;
			return -1;
		}
	}
	/* Rounds: start every step whose dependencies all succeeded, wait
	 * for the round's non-service steps, repeat until nothing starts. */
	bool service[WORKFLOW_MAX_STEPS] = { 0 };
	for (;;) {
		size_t nround = 0, round[WORKFLOW_MAX_STEPS];
		bool changed = false;
		for (size_t i = 0; i < wc->nsteps; i++) {
			if (started[i])
				continue;
			bool ready = true, blocked = false;
			for (size_t d = 0; d < wc->steps[i].ndeps; d++) {
				size_t di = wc->steps[i].deps[d];
				ready &= started[di] &&
					 wr->steps[di].status == STEP_OK;
				enum step_status ds = wr->steps[di].status;
				blocked |= ds == STEP_FAILED ||
					   ds == STEP_TIMEOUT ||
					   ds == STEP_SKIPPED;
			}
			if (blocked) {
				started[i] = changed = true;
				wr->steps[i].status = STEP_SKIPPED;
				log_say(src, "step %s: skipped (a dependency "
					"failed)", wc->steps[i].name);
				continue;
			}
			if (!ready)
				continue;
			size_t il;
			const char *ip = input_of(wc, wr, i, in, in_len, &il);
			jobs[i] = (struct job){ .box = mock ? NULL : &b,
						.st = &wc->steps[i],
						.res = &wr->steps[i],
						.in = ip, .in_len = il };
			wr->steps[i].status = STEP_RUNNING;
			started[i] = true;
			if (pthread_create(&th[i], NULL, job_main, &jobs[i])) {
				wr->steps[i].status = STEP_FAILED;
				snprintf(wr->steps[i].error,
					 sizeof(wr->steps[i].error),
					 "cannot start a thread");
				changed = true;
				continue;
			}
			round[nround++] = i;
		}
		if (!nround && !changed)
			break;	/* everything ran, or nothing more can */
		for (size_t k = 0; k < nround; k++) {
			size_t i = round[k];
			if (wc->steps[i].service) {
				/* Not waited for: it ends with the VM, and is
				 * joined after power-off below. */
				service[i] = true;
				wr->steps[i].status = STEP_OK;
				log_say(src, "step %s: service started",
					wc->steps[i].name);
				continue;
			}
			pthread_join(th[i], NULL);
			const struct step_result *r = &wr->steps[i];
			log_say(src, "step %s: %s%s%s (%.2f s)", wc->steps[i].name,
				r->status == STEP_OK ? "ok" : "failed",
				r->status == STEP_OK ? "" : ": ",
				r->status == STEP_OK ? "" : r->error,
				(double)r->ns / 1e9);
		}
	}
	/* The output: result.json when a step wrote one, else output_step. */
	for (size_t i = 0; i < wc->nsteps; i++) {
		if (wr->steps[i].status != STEP_OK && !wr->failed[0] &&
		    !wc->steps[i].service)
			snprintf(wr->failed, sizeof(wr->failed), "%s",
				 wc->steps[i].name);
	}
	const struct step_result *os = &wr->steps[wc->output_step];
	if (!mock) {
		struct agent_conn c = { .fd = -1 };
		int fd = memfd_create("vb-result", MFD_CLOEXEC);
		if (fd >= 0 && agent_open(&c, &b, 10000) == 0 &&
		    agent_get(&c, "/workspace/result.json", fd) == 0) {
			wr->output = slurp(fd, &wr->output_len);
		}
		if (c.fd >= 0) {
			agent_poweroff(&c);
			agent_close(&c);
		}
		if (fd >= 0)
			close(fd);
		if (box_wait_exit(&b, 5000) < 0)
			box_stop(&b, 2000);
	}
	/* Service steps end with the VM (their connections close). */
	for (size_t i = 0; i < wc->nsteps; i++)
		if (service[i]) {
			enum step_status keep = wr->steps[i].status;
			pthread_join(th[i], NULL);
			wr->steps[i].status = keep;
		}
	if (!mock)
		box_close(&b);
	if (!wr->output && os->status == STEP_OK && os->out) {
		wr->output = malloc(os->out_len + 1);
		if (wr->output) {
			memcpy(wr->output, os->out, os->out_len + 1);
			wr->output_len = os->out_len;
		}
	}
	wr->ns = mono_ns() - t0;
	return wr->failed[0] ? -1 : 0;
}

void workflow_result_free(struct workflow_result *wr)
{
	for (size_t i = 0; wr->steps && i < wr->nsteps; i++)
		free(wr->steps[i].out);
	free(wr->steps);
	free(wr->output);
	*wr = (struct workflow_result){ 0 };
}
