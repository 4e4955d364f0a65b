/* test_concurrent.c: two vb_run calls at once, from two threads of one
 * process, on different pipelines (mock mode: no VM, no model). Each run
 * has its own run context (VM pool and limit, OTLP exporter), so the
 * results must be exactly those of the runs made alone, and the runs must
 * overlap in time (libvoidbox once ran them one after the other).
 *
 *   test_concurrent [ENDPOINT_A ENDPOINT_B]
 *
 * With endpoints, each spec exports its telemetry to its own collector
 * (observe.otlp_endpoint); tests/api/concurrent.sh then checks that each
 * collector got its own run's spans and nothing of the other's.
 *
 *   alpha: a1, then fan_out [a2 a3 a4] at parallel 1; every box sleeps
 *          500 ms: ok, exit 0, peak 1, about 2 s.
 *   beta:  b0, then fan_out [b1 (sleeps 1.5 s), b2 (times out after
 *          1 s)], then b3, skipped: exit 124, failed stage b2, peak 2.
 *
 * Prints PASS:/FAIL: lines; exits 1 if anything failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <voidbox.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static int failures;

static void check(int ok, const char *name, const char *why)
{
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", name,
	       ok || !why ? "" : ": ", ok || !why ? "" : why);
	failures += !ok;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char alpha_spec[] =
	"pipeline:\n"
	"  boxes:\n"
	"    - {name: a1, prompt: \"alpha one [[mock-agent:sleep:500]]\"}\n"
	"    - {name: a2, prompt: \"alpha two [[mock-agent:sleep:500]]\"}\n"
	"    - {name: a3, prompt: \"alpha three [[mock-agent:sleep:500]]\"}\n"
	"    - {name: a4, prompt: \"alpha four [[mock-agent:sleep:500]]\"}\n"
	"  stages:\n"
	"    - {type: box, name: a1}\n"
	"    - {type: fan_out, boxes: [a2, a3, a4]}\n";

static const char beta_spec[] =
	"pipeline:\n"
	"  boxes:\n"
	"    - {name: b0, prompt: \"beta zero\"}\n"
	"    - {name: b1, prompt: \"beta one [[mock-agent:sleep:1500]]\"}\n"
	"    - {name: b2, prompt: \"[[mock-agent:sleep:5000]]\", "
	"timeout_secs: 1}\n"
	"    - {name: b3, prompt: \"never runs\"}\n"
	"  stages:\n"
	"    - {type: box, name: b0}\n"
	"    - {type: fan_out, boxes: [b1, b2]}\n"
	"    - {type: box, name: b3}\n";

struct job {
	const char *name;
	vb_pipeline *p;
	vb_result *r;
	double ms;
};

static void *run_main(void *arg)
{
	struct job *j = arg;
	double t0 = now_ms();

	j->r = vb_run(j->p);
	j->ms = now_ms() - t0;
	return NULL;
}

/* Write a spec (with an observe block when endpoint) and load it. */
static vb_pipeline *load(const char *dir, const char *name, const char *body,
			 const char *endpoint)
{
	char path[512], observe[512] = "";
	char *err = NULL;

	if (endpoint)
		snprintf(observe, sizeof(observe), "observe: {otlp_endpoint: "
			 "\"%s\", service_name: svc-%s}\n", endpoint, name);
	snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "api_version: v1\nkind: pipeline\nname: %s\n"
		"sandbox: {mode: mock}\n%s", name, observe);
	fputs(body, f);
	fclose(f);
	vb_pipeline *p = vb_pipeline_from_spec(path, &err);
	if (!p)
		printf("FAIL: load-%s: %s\n", name, err ? err : "out of memory");
	free(err);
	unlink(path);
	return p;
}

/* peak_parallel from the JSON report (the run's own VM pool). */
static int peak(const vb_result *r)
{
	char *js = vb_result_json(r);
	cJSON *d = js ? cJSON_Parse(js) : NULL;
	cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "peak_parallel");
	int n = cJSON_IsNumber(v) ? v->valueint : -1;

	cJSON_Delete(d);
	free(js);
	return n;
}

/* Stage i's output is the mock's JSON naming box, with the input's box
 * (or null) inside. */
static int output_is(const vb_result *r, size_t i, const char *box,
		     const char *input_box)
{
	size_t len = 0;
	const char *o = vb_result_stage_output(r, i, &len);
	cJSON *d = o ? cJSON_ParseWithLength(o, len) : NULL;
	cJSON *b = cJSON_GetObjectItemCaseSensitive(d, "box");
	cJSON *in = cJSON_GetObjectItemCaseSensitive(d, "input");
	int ok = cJSON_IsString(b) && !strcmp(b->valuestring, box);

	if (input_box) {
		cJSON *ib = cJSON_GetObjectItemCaseSensitive(in, "box");
		ok = ok && cJSON_IsString(ib) &&
		     !strcmp(ib->valuestring, input_box);
	} else {
		ok = ok && cJSON_IsNull(in);
	}
	cJSON_Delete(d);
	return ok;
}

static void check_alpha(const vb_result *r)
{
	static const char *const names[] = { "a1", "a2", "a3", "a4" };
	char why[256];
	int ok = vb_result_nstages(r) == 4;

	for (size_t i = 0; ok && i < 4; i++)
		ok = !strcmp(vb_result_stage_name(r, i), names[i]) &&
		     !strcmp(vb_result_stage_status(r, i), "ok") &&
		     !vb_result_stage_error(r, i) &&
		     vb_result_stage_duration_ms(r, i) >= 490;
	check(ok, "alpha-stages", NULL);
	check(vb_result_ok(r) && vb_result_exit_code(r) == VB_OK &&
	      !vb_result_error(r) && !vb_result_failed_stage(r),
	      "alpha-ok", vb_result_error(r));
	check(output_is(r, 0, "a1", NULL) && output_is(r, 1, "a2", "a1") &&
	      output_is(r, 2, "a3", "a1") && output_is(r, 3, "a4", "a1"),
	      "alpha-outputs", NULL);
	size_t len = 0;
	const char *o = vb_result_output(r, &len);
	check(o && strstr(o, "\"alpha four") && !strstr(o, "beta"),
	      "alpha-final-output", o);
	snprintf(why, sizeof(why), "peak %d", peak(r));
	check(peak(r) == 1, "alpha-own-parallel-limit", why);
}

static void check_beta(const vb_result *r)
{
	const char *e = vb_result_error(r);
	char why[256];

	check(vb_result_nstages(r) == 4 &&
	      !strcmp(vb_result_stage_name(r, 0), "b0") &&
	      !strcmp(vb_result_stage_name(r, 1), "b1") &&
	      !strcmp(vb_result_stage_name(r, 2), "b2") &&
	      !strcmp(vb_result_stage_name(r, 3), "b3"), "beta-names", NULL);
	check(!vb_result_ok(r) && vb_result_exit_code(r) == VB_TIMEOUT,
	      "beta-timeout-exit-124", e);
	check(vb_result_failed_stage(r) &&
	      !strcmp(vb_result_failed_stage(r), "b2") && e &&
	      strstr(e, "b2: timed out after 1 s"), "beta-failed-stage", e);
	check(!strcmp(vb_result_stage_status(r, 0), "ok") &&
	      output_is(r, 0, "b0", NULL) &&
	      !strcmp(vb_result_stage_status(r, 1), "ok") &&
	      output_is(r, 1, "b1", "b0") &&
	      !strcmp(vb_result_stage_status(r, 2), "timeout") &&
	      !strcmp(vb_result_stage_status(r, 3), "skipped") &&
	      !vb_result_stage_output(r, 3, NULL) &&
	      !vb_result_output(r, NULL), "beta-statuses", NULL);
	snprintf(why, sizeof(why), "peak %d", peak(r));
	check(peak(r) == 2, "beta-own-parallel-limit", why);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/vb-concurrent-XXXXXX";
	struct job jobs[2] = { { .name = "alpha" }, { .name = "beta" } };
	pthread_t t[2];
	char why[256];

	vb_main_hook(argc, argv);
	unsetenv("TRACEPARENT");
	unsetenv("VOIDBOX_OTLP_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	if (!mkdtemp(dir)) {
		check(0, "mkdtemp", dir);
		return 1;
	}
	jobs[0].p = load(dir, "alpha", alpha_spec, argc > 2 ? argv[1] : NULL);
	jobs[1].p = load(dir, "beta", beta_spec, argc > 2 ? argv[2] : NULL);
	rmdir(dir);
	if (!jobs[0].p || !jobs[1].p)
		return 1;
	vb_pipeline_parallel(jobs[0].p, 1);
	vb_pipeline_parallel(jobs[1].p, 4);

	double t0 = now_ms();
	int started = 0;
	for (int i = 0; i < 2; i++)
		started += pthread_create(&t[i], NULL, run_main, &jobs[i]) == 0;
	check(started == 2, "threads", NULL);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	double wall = now_ms() - t0;

	check(jobs[0].r && jobs[1].r, "results", NULL);
	if (jobs[0].r)
		check_alpha(jobs[0].r);
	if (jobs[1].r)
		check_beta(jobs[1].r);
	/* Alone, alpha takes >= 2 s and beta >= 1.5 s: one after the other
	 * they would take >= 3.5 s. */
	snprintf(why, sizeof(why), "wall %.0f ms, alpha %.0f ms, beta %.0f ms",
		 wall, jobs[0].ms, jobs[1].ms);
	check(wall < 3000 && jobs[1].ms < 2000, "runs-overlap", why);
	printf("timing: %s\n", why);

	for (int i = 0; i < 2; i++) {
		vb_result_free(jobs[i].r);
		vb_pipeline_free(jobs[i].p);
	}
	return failures ? 1 : 0;
}
