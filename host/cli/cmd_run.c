/* cmd_run.c: `voidbox run --file SPEC` — run an agent spec: each box in
 * its own micro-VM with claude-code, the API key kept on this host.
 *
 * Human mode: live `[vm:NAME]` lines on stderr (tool calls as they
 * happen), a one-line report per stage, and the pipeline's output (the
 * last stage's output file, else claude's result text) on stdout.
 * `--output json`: one JSON document on stdout with the same facts.
 * Exit: 0 success, 1 stage failed, 2 usage/spec, 124 timeout, 125 VM.
 *
 * The command is a client of the public C API (host/api/voidbox.h), the
 * same one C programs use: spec loading, the run and both reports live
 * there, so what this prints and what vb_result_json returns are one.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../snap/snap.h"
#include "../api/voidbox.h"
#include "../api/api.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../run/run.h"
#include "../serve/serve.h"
#include "../spec/spec.h"
#include "../util/util.h"

/* Ctrl-C / SIGTERM: stop every VM now; the stages end with "VMM killed
 * by signal 15", the report is still printed, and the exit is 128+sig. */
static volatile sig_atomic_t interrupted;

struct run_opts {
	const char *file, *input, *tools_disk;
	const char *run_dir;
	const char *input_file, *resume_file;
	char *input_buf;		/* --input-file's bytes */
	size_t input_len;
	int events_fd;			/* --events-fd, or -1 */
	const char *daemon;		/* --daemon ADDR / $VOIDBOX_DAEMON */
	bool use_daemon, detach;
	bool console, json, cold;
	unsigned parallel;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: voidbox run --file SPEC [--input TEXT] "
		"[--output human|json]\n"
		"                   [--parallel N] [--tools-disk FILE] "
		"[--run-dir DIR] [--console] [--cold]\n"
		"                   [--input-file FILE|-] [--events-fd N] "
		"[--resume-outputs FILE]\n"
		"                   [--daemon [ADDR]] [--detach]\n");
}

static int parse(int argc, char **argv, struct run_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if ((!strcmp(a, "--file") || !strcmp(a, "-f")) && v)
			o->file = argv[++i];
		else if (!strcmp(a, "--input") && v)
			o->input = argv[++i];
		else if (!strcmp(a, "--input-file") && v)
			o->input_file = argv[++i];
		else if (!strcmp(a, "--resume-outputs") && v)
			o->resume_file = argv[++i];
		else if (!strcmp(a, "--daemon")) {
			o->use_daemon = true;
			/* An address is optional: the default socket. */
			if (v && (v[0] == '/' || !strncmp(v, "http://", 7)))
				o->daemon = argv[++i];
		} else if (!strcmp(a, "--detach"))
			o->detach = true;
		else if (!strcmp(a, "--events-fd") && v) {
			unsigned long long n;
			if (args_uint("--events-fd", argv[++i], 3, 1023, &n) < 0)
				return -1;
			o->events_fd = (int)n;
		}
		else if (!strcmp(a, "--tools-disk") && v)
			o->tools_disk = argv[++i];
		else if (!strcmp(a, "--console"))
			o->console = true;
		else if (!strcmp(a, "--cold"))
			o->cold = true;
		else if (!strcmp(a, "--run-dir") && v)
			o->run_dir = argv[++i];
		else if (!strcmp(a, "--parallel") && v) {
			unsigned long long n;
			if (args_uint("--parallel", argv[++i], 1, 64, &n) < 0)
				return -1;
			o->parallel = (unsigned)n;
		}
		else if (!strcmp(a, "--output") && v &&
			 (!strcmp(v, "json") || !strcmp(v, "human") ||
			  !strcmp(v, "text")))
			o->json = !strcmp(argv[++i], "json");
		else if (a[0] != '-' && !o->file)
			o->file = a;
		else {
			log_warnx("run: unexpected argument '%s'", a);
			return -1;
		}
	}
	if (o->input && o->input_file) {
		log_warnx("run: --input and --input-file: one or the other");
		return -1;
	}
	if (o->events_fd >= 0 && fcntl(o->events_fd, F_GETFD) < 0) {
		log_warnx("run: --events-fd %d: not an open descriptor",
			  o->events_fd);
		return -1;
	}
	return o->file ? 0 : -1;
}

/* --input-file FILE (or - for stdin): the first stage's input, bounded
 * as a spec's input is. */
#define RUN_INPUT_MAX (64u << 20)
static int read_input_file(struct run_opts *o)
{
	int fd = strcmp(o->input_file, "-")
		 ? open(o->input_file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0) {
		log_warn("run: --input-file %s", o->input_file);
		return -1;
	}
	size_t cap = 0;
	for (;;) {
		if (o->input_len == cap) {
			size_t nc = cap ? cap * 2 : 65536;
			char *n = nc <= RUN_INPUT_MAX + 1
				  ? realloc(o->input_buf, nc + 1) : NULL;
			if (!n) {
				log_warnx("run: --input-file %s: larger than "
					  "%u MiB", o->input_file,
					  RUN_INPUT_MAX >> 20);
				goto bad;
			}
			o->input_buf = n;
			cap = nc;
		}
		ssize_t r = read(fd, o->input_buf + o->input_len,
				 cap - o->input_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			log_warn("run: --input-file %s", o->input_file);
			goto bad;
		}
		if (r == 0)
			break;
		o->input_len += (size_t)r;
	}
	if (o->input_len > RUN_INPUT_MAX) {
		log_warnx("run: --input-file %s: larger than %u MiB",
			  o->input_file, RUN_INPUT_MAX >> 20);
		goto bad;
	}
	o->input_buf[o->input_len] = '\0';
	o->input = o->input_buf;
	if (fd != STDIN_FILENO)
		close(fd);
	return 0;
bad:
	if (fd != STDIN_FILENO)
		close(fd);
	return -1;
}

/* --resume-outputs FILE: {"box": "output", ...}, each box's recorded
 * output (the daemon's `resume` writes it from the run history). */
static int apply_resume(const struct run_opts *o, vb_pipeline *p)
{
	uint8_t *js;
	size_t len;
	if (args_read_file("--resume-outputs", o->resume_file, &js, &len) < 0)
		return -1;
	cJSON *m = cJSON_ParseWithLength((char *)js, len), *e;
	free(js);
	if (!cJSON_IsObject(m)) {
		log_warnx("run: --resume-outputs %s: not a JSON object of box "
			  "outputs", o->resume_file);
		cJSON_Delete(m);
		return -1;
	}
	int rc = 0;
	cJSON_ArrayForEach(e, m) {
		if (!cJSON_IsString(e)) {
			log_warnx("run: --resume-outputs %s: box '%s': not a "
				  "string", o->resume_file, e->string);
			rc = -1;
			break;
		}
		if (vb_pipeline_resume_output(p, e->string, e->valuestring,
					      strlen(e->valuestring))) {
			log_warnx("run: --resume-outputs %s: %s",
				  o->resume_file, vb_pipeline_error(p));
			rc = -1;
			break;
		}
	}
	cJSON_Delete(m);
	return rc;
}

/* A spec that does not load: every message (one per line of err) on
 * stderr, and with --output json a document saying so on stdout. */
static void report_invalid(const struct run_opts *o, const char *err)
{
	size_t n = 0;

	for (const char *c = err; *c; c++)
		n += *c == '\n';
	if (o->json) {
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "file", o->file);
		cJSON_AddStringToObject(doc, "status", "invalid");
		cJSON *a = cJSON_AddArrayToObject(doc, "errors");
		for (const char *l = err, *nl; (nl = strchr(l, '\n'));
		     l = nl + 1) {
			char *m = strndup(l, (size_t)(nl - l));
			if (m)
				cJSON_AddItemToArray(a, cJSON_CreateString(m));
			free(m);
		}
		char *js = cJSON_Print(doc);
		if (js)
			printf("%s\n", js);
		cJSON_free(js);
		cJSON_Delete(doc);
	}
	fputs(err, stderr);
	fprintf(stderr, "%s: %zu error%s; nothing was run\n", o->file, n,
		n == 1 ? "" : "s");
}

static const char *step_status_name(enum step_status s)
{
	static const char *const n[] = { "pending", "running", "ok", "failed",
					  "timeout", "skipped" };
	return n[s];
}

/* kind: workflow runs here, not through the pipeline API: its steps are
 * programs in one VM, not agents in many. */
static int run_workflow(const struct run_opts *o, const struct spec_doc *d)
{
	const struct node *root = d->root;
	struct workflow_cfg wc;
	struct workflow_result wr;
	char err[512], why[256];

	if (config_workflow(root, d->dir, &wc, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", o->file, err);
		config_workflow_free(&wc);
		return VB_EXIT_USAGE;
	}
	bool mock = stage_mode_mock(wc.mode, why, sizeof(why));
	if (mock && wc.mode == MODE_AUTO)
		log_say("voidbox", "MOCK MODE: %s; sandbox.mode auto runs the "
			"workflow without a VM (steps are not executed)", why);
	if (!mock && wc.mode == MODE_LOCAL && why[0]) {
		log_say("voidbox", "%s", why);
		config_workflow_free(&wc);
		return VB_EXIT_VM_FAIL;
	}
	int r = workflow_run(&wc, o->input, o->input ? strlen(o->input) : 0,
			     mock, o->console, &wr);
	int rc = r == 0 ? VB_EXIT_OK : wr.vm_failed ? VB_EXIT_VM_FAIL
		 : VB_EXIT_FAIL;
	for (size_t i = 0; i < wr.nsteps && rc == VB_EXIT_FAIL; i++)
		if (!strcmp(wc.steps[i].name, wr.failed) &&
		    wr.steps[i].status == STEP_TIMEOUT)
			rc = VB_EXIT_TIMEOUT;
	if (o->json) {
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "file", o->file);
		cJSON_AddStringToObject(doc, "kind", "workflow");
		cJSON_AddStringToObject(doc, "name", wc.name);
		cJSON_AddStringToObject(doc, "status", r == 0 ? "ok" : "failed");
		cJSON_AddBoolToObject(doc, "mock", mock);
		if (wr.failed[0])
			cJSON_AddStringToObject(doc, "failed_step", wr.failed);
		if (wr.error[0])
			cJSON_AddStringToObject(doc, "error", wr.error);
		cJSON *st = cJSON_AddArrayToObject(doc, "steps");
		for (size_t i = 0; i < wr.nsteps; i++) {
			cJSON *s = cJSON_CreateObject();
			cJSON_AddStringToObject(s, "name", wc.steps[i].name);
			cJSON_AddStringToObject(s, "status", step_status_name(
							wr.steps[i].status));
			cJSON_AddNumberToObject(s, "exit_code",
						wr.steps[i].exit_code);
			if (wr.steps[i].error[0])
				cJSON_AddStringToObject(s, "error",
							wr.steps[i].error);
			cJSON_AddNumberToObject(s, "duration_ms",
						(double)wr.steps[i].ns / 1e6);
			cJSON_AddNumberToObject(s, "stdout_bytes",
						(double)wr.steps[i].out_len);
			cJSON_AddItemToArray(st, s);
		}
		cJSON_AddNumberToObject(doc, "duration_ms", (double)wr.ns / 1e6);
		if (wr.output)
			cJSON_AddStringToObject(doc, "output", wr.output);
		char *js = cJSON_Print(doc);
		if (js)
			printf("%s\n", js);
		cJSON_free(js);
		cJSON_Delete(doc);
	} else if (r == 0 && wr.output) {
		fwrite(wr.output, 1, wr.output_len, stdout);
	}
	char src[96];
	snprintf(src, sizeof(src), "workflow:%s", wc.name);
	if (r == 0)
		log_say(src, "ok in %.2f s", (double)wr.ns / 1e9);
	else
		log_say(src, "failed%s%s%s", wr.failed[0] ? " at step " : "",
			wr.failed, wr.error[0] ? wr.error : "");
	workflow_result_free(&wr);
	config_workflow_free(&wc);
	return rc;
}

/* The holder's control requests (holdctl.c): `snapshot NAME` snapshots
 * the held VM, which carries on. */
struct held {
	struct box *b;
	const struct vm_cfg *cfg;
	const char *src;
};

static int held_ctl(void *ctx, const char *verb, const char *arg,
		    char *reply, size_t len)
{
	struct held *h = ctx;
	struct snap_meta m;

	if (strcmp(verb, "snapshot")) {
		snprintf(reply, len, "unknown request '%.32s' (snapshot NAME)",
			 verb);
		return -1;
	}
	if (!snap_name_ok(arg)) {
		snprintf(reply, len, "bad snapshot name '%.64s'", arg);
		return -1;
	}
	if (snap_create(arg, h->b, h->cfg, NULL, NULL, false, 0, &m, reply,
			len) < 0)
		return -1;
	snprintf(reply, len, "%s: %llu MiB of RAM, %.1f MiB on disk, VM "
		 "paused %.1f ms", m.name, (unsigned long long)m.mem_mb,
		 (double)m.disk_bytes / (1 << 20), (double)m.took_ns / 1e6);
	log_say(h->src, "snapshot %s", reply);
	return 0;
}

/* kind: sandbox — a VM with the spec's sandbox settings and nothing to
 * run: boot it, prove the agent answers (`echo ready`), then hold it
 * until Ctrl-C / SIGTERM (for `voidbox exec`-style use against a spec's
 * policy; `voidbox snapshot create NAME --from SANDBOX` snapshots it).
 * Exit 0 when stopped that way. */
static int run_sandbox(const struct run_opts *o, const struct spec_doc *d)
{
	const struct node *root = d->root;
	const char *dir = d->dir;
	struct box_cfg *bc = calloc(1, sizeof(*bc));
	struct box b = { .pid = -1, .sock = -1, .svc_fd = -1 };
	struct agent_conn c = { .fd = -1 };
	char err[512], src[96];
	int rc = VB_EXIT_VM_FAIL;

	if (!bc || config_box(root, NULL, dir, bc, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", o->file, bc ? err : "out of memory");
		goto out;
	}
	snprintf(src, sizeof(src), "sandbox:%s", bc->name);
	struct vm_cfg cfg = bc->vm;	/* shallow: bc keeps its lists */
	cfg.console = o->console;
	if (box_boot(&b, &cfg, 300000, err, sizeof(err)) < 0 ||
	    agent_open(&c, &b, 30000) < 0) {
		log_say(src, "%s", c.fd < 0 && !err[0] ? c.err : err);
		goto out;
	}
	const char *argv[] = { "echo", "ready", NULL };
	struct agent_exec_req rq = { .argv = argv, .stdin_fd = -1,
				     .stdout_fd = STDOUT_FILENO,
				     .stderr_fd = STDERR_FILENO,
				     .timeout_ms = 30000 };
	struct agent_exec_res res;
	if (agent_exec(&c, &rq, &res) < 0 || res.err || res.exit.code) {
		log_say(src, "the agent did not answer");
		goto out;
	}
	struct attach *at = attach_serve(&b, bc->name, err, sizeof(err));
	if (!at)
		log_say(src, "no attach socket (%s); voidbox cp will not reach "
			"it", err);
	struct held held = { .b = &b, .cfg = &cfg, .src = src };
	struct holdctl *ctl = holdctl_serve(bc->name, held_ctl, &held, err,
					    sizeof(err));
	if (!ctl)
		log_say(src, "no control socket (%s); snapshot create --from "
			"will not reach it", err);
	log_say(src, "up (%u MiB, %u vCPU, network %s)%s%s; Ctrl-C to stop",
		(unsigned)bc->vm.mem_mb, bc->vm.vcpus,
		bc->vm.net.enabled ? "on" : "off",
		at ? "; voidbox cp and voidbox attach reach it as " : "",
		at ? bc->name : "");
	/* Only wait: attach clients pump this box's IPC (box_connect), and
	 * two threads must never read it at once. */
	/* Polled: the signal may land on any thread, pause() only wakes
	 * the one it lands on. */
	while (!interrupted)
		usleep(100000);
	holdctl_stop(ctl);
	attach_stop(at);
	rc = VB_EXIT_OK;
	log_say(src, "stopped");
	interrupted = 0;
out:
	agent_close(&c);
	if (b.pid > 0)
		box_stop(&b, 2000);
	box_close(&b);
	if (bc)
		config_box_free(bc);
	free(bc);
	return rc;
}

static void on_interrupt(int sig)
{
	interrupted = sig;
	box_signal_all(SIGTERM);
	mock_interrupt();
}

static int run_agents(const struct run_opts *o, const struct spec_doc *d);

/* What `voidbox run` does with each kind of spec (the schema's kinds). */
static const struct {
	const char *kind;
	int (*run)(const struct run_opts *o, const struct spec_doc *d);
} kinds[] = {
	{ "agent", run_agents },
	{ "pipeline", run_agents },
	{ "workflow", run_workflow },
	{ "sandbox", run_sandbox },
};

int cmd_run(const struct cli_globals *g, int argc, char **argv)
{
	struct run_opts o = { .json = g->json, .parallel = 4,
			      .events_fd = -1 };

	if (parse(argc, argv, &o) < 0) {
		usage();
		return VB_EXIT_USAGE;
	}
	if (o.input_file && read_input_file(&o) < 0)
		return VB_EXIT_USAGE;
	const char *denv = getenv("VOIDBOX_DAEMON");
	if (o.use_daemon || (denv && *denv)) {
		/* Submitted to the daemon, followed there; the spec is
		 * checked by the daemon, which reports its errors. */
		char buf[256];
		const char *addr = daemon_addr(o.daemon, buf, sizeof(buf));
		int rc = !addr ? VB_EXIT_FAIL
			 : o.events_fd >= 0 || o.resume_file || o.run_dir
			 ? (log_warnx("run: --events-fd, --resume-outputs and "
				      "--run-dir are the daemon's own, not for "
				      "--daemon"), VB_EXIT_USAGE)
			 : run_via_daemon(addr, o.file, o.input, o.input_buf
					  ? o.input_len : o.input
					  ? strlen(o.input) : 0, o.detach,
					  o.json);
		free(o.input_buf);
		return rc;
	}
	if (o.detach) {
		log_warnx("run: --detach needs --daemon");
		return VB_EXIT_USAGE;
	}
	if (o.events_fd >= 0)
		fcntl(o.events_fd, F_SETFD, FD_CLOEXEC);
	struct sigaction sa = { .sa_handler = on_interrupt };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* One front door: the spec is read once, its kind picks the runner. */
	struct spec_errors e = { 0 };
	struct spec_doc d;
	int rc = VB_EXIT_USAGE;
	if (spec_open(o.file, &d, &e) < 0) {
		char *msg = e.n ? spec_errors_join(&e) : NULL;
		if (msg)
			report_invalid(&o, msg);
		else
			log_warnx("run: %s: out of memory", o.file);
		free(msg);
	} else {
		bool stages = !strcmp(d.kind, "agent") ||
			      !strcmp(d.kind, "pipeline");
		if (o.resume_file && !stages)
			log_warnx("run: %s: --resume-outputs applies to agent "
				  "and pipeline specs, this one is kind: %s",
				  o.file, d.kind);
		else
			for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds);
			     i++)
				if (!strcmp(kinds[i].kind, d.kind))
					rc = kinds[i].run(&o, &d);
	}
	spec_close(&d);
	spec_errors_free(&e);
	free(o.input_buf);
	if (interrupted)
		log_say("voidbox", "interrupted: every VM was stopped");
	return interrupted ? 128 + interrupted : rc;
}

/* kind: agent and kind: pipeline — through the public C API, as any C
 * program would run them: spec loading, the run and both reports live
 * there, so what this prints and what vb_result_json returns are one. */
static int run_agents(const struct run_opts *o, const struct spec_doc *d)
{
	char *err = NULL;
	vb_pipeline *p = vb_pipeline_from_doc(d, &err);
	if (!p) {
		if (err)
			report_invalid(o, err);
		else
			log_warnx("run: out of memory");
		free(err);
		return VB_EXIT_USAGE;
	}
	const struct box_cfg *ib = api_pipeline_box(p, NULL);
	if (ib && ib->interactive) {
		/* agent.mode: interactive — claude-code's own UI on this
		 * terminal, as `voidbox shell --file` gives it. */
		char why[512];
		int rc = VB_EXIT_USAGE;
		if (o->json || o->input)
			log_warnx("run: agent.mode interactive talks to your "
				  "terminal; --output json and --input do not "
				  "apply");
		else if ((rc = shell_stage(ib, o->tools_disk, o->console, why,
					   sizeof(why))) < 0) {
			log_warnx("run: agent.mode interactive: %s", why);
			rc = VB_EXIT_USAGE;
		}
		vb_pipeline_free(p);
		return rc;
	}
	/* Values parse() already checked; an error would still surface
	 * as a config_error result. */
	vb_pipeline_input(p, o->input, o->input_buf ? o->input_len
				       : o->input ? strlen(o->input) : 0);
	if (o->resume_file && apply_resume(o, p) < 0) {
		vb_pipeline_free(p);
		return VB_EXIT_USAGE;
	}
	vb_pipeline_parallel(p, o->parallel);
	vb_pipeline_tools_disk(p, o->tools_disk);
	vb_pipeline_console(p, o->console);
	vb_pipeline_cold(p, o->cold);
	vb_pipeline_run_dir(p, o->run_dir ? o->run_dir : getenv("VOIDBOX_RUN_DIR"));
	/* On a terminal, a panel instead of the live lines; a program
	 * following the run (--events-fd) gets JSON lines instead. */
	struct panel *pn = NULL;
	struct run_events *ev = o->events_fd >= 0
				? run_events_open(o->events_fd) : NULL;
	const struct pipeline_cfg *pc = api_pipeline_cfg(p);
	const char **names = !ev && panel_wanted()
			     ? calloc(pc->nboxes + 1, sizeof(*names)) : NULL;
	if (names) {
		char title[96];
		for (size_t i = 0; i < pc->nboxes; i++)
			names[i] = pc->boxes[i].name;
		snprintf(title, sizeof(title), "%s:%s", pc->nboxes > 1
			 ? "pipeline" : "agent", pc->name);
		pn = panel_start(title, names, pc->nboxes);
	}
	vb_pipeline_live(p, !pn);
	p->progress = pn ? panel_progress : ev ? run_events_progress : NULL;
	p->progress_ctx = pn ? (void *)pn : (void *)ev;

	vb_result *r = vb_run(p);
	panel_stop(pn);
	run_events_close(ev);
	free(names);
	if (!r) {
		log_warnx("run: out of memory");
		vb_pipeline_free(p);
		return VB_EXIT_FAIL;
	}
	char *rd = o->run_dir ? (char *)o->run_dir : getenv("VOIDBOX_RUN_DIR");
	if (rd) {
		/* The run's report next to each stage's records. */
		char path[4096];
		char *js = vb_result_json(r);
		snprintf(path, sizeof(path), "%s/report.json", rd);
		mkdir(rd, 0755);
		FILE *f = js ? fopen(path, "w") : NULL;
		if (f) {
			fprintf(f, "%s\n", js);
			fclose(f);
		}
		free(js);
	}
	if (o->json) {
		char *js = vb_result_json(r);
		if (js)
			printf("%s\n", js);
		free(js);
	}
	char *rep = vb_result_report(r);
	/* Report lines are "[source] text": in JSON log format each becomes
	 * one object, like every other line voidbox prints. */
	for (char *l = rep, *nl; l && *l; l = nl ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		char *end = l[0] == '[' ? strchr(l, ']') : NULL;
		if (end && end[1] == ' ') {
			*end = '\0';
			log_say(l + 1, "%s", end + 2);
		} else if (*l) {
			log_say("voidbox", "%s", l);
		}
		if (!nl)
			break;
	}
	free(rep);
	size_t len;
	const char *out = vb_result_output(r, &len);
	if (!o->json && out) {
		write_guest_text(stdout, out, len);
		if (len && out[len - 1] != '\n')
			putchar('\n');
	}
	int rc = vb_result_exit_code(r);
	vb_result_free(r);
	vb_pipeline_free(p);
	return rc;
}
