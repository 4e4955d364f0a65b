/* test_api.c: the public C API (voidbox.h) from the outside — setter
 * validation, spec loading errors, mock runs through every accessor, the
 * JSON report, and the guard against a missing vb_main_hook.
 *
 * Built C99 -pedantic against the installed header only, linked with
 * libvoidbox.a. Mock mode throughout: no VM, no model, runs anywhere.
 * Prints PASS:/FAIL: lines; exits 1 if anything failed.
 */
#include <voidbox.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static int failures;

static void check(int ok, const char *name, const char *why)
{
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", name,
	       ok || !why ? "" : ": ", ok || !why ? "" : why);
	failures += !ok;
}

static int has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static vb_box *mock_box(const char *name, const char *prompt)
{
	vb_box *b = vb_box_new(name);
	vb_box_prompt(b, prompt);
	vb_box_mode(b, VB_MODE_MOCK);
	return b;
}

static void test_setters(void)
{
	vb_box *b = vb_box_new("ok-name");
	check(vb_box_error(b) == NULL, "new-box-no-error", vb_box_error(b));
	check(vb_box_memory_mb(b, 16) == VB_CONFIG &&
	      has(vb_box_error(b), "memory_mb 16"), "memory-range",
	      vb_box_error(b));
	/* The first error sticks; later ones are still refused. */
	check(vb_box_vcpus(b, 17) == VB_CONFIG &&
	      has(vb_box_error(b), "memory_mb"), "first-error-sticks",
	      vb_box_error(b));
	vb_box_free(b);

	struct { const char *name; int rc; const char *want; } cases[8];
	vb_box *c[8];
	int n = 0;
#define CASE(call, w) do { c[n] = vb_box_new("b"); \
	cases[n].rc = (call); cases[n].name = #call; cases[n].want = w; \
	n++; } while (0)
	CASE(vb_box_vcpus(c[n], 0), "vcpus 0");
	CASE(vb_box_timeout_secs(c[n], 0), "timeout_secs 0");
	CASE(vb_box_prompt(c[n], NULL), "prompt: NULL");
	CASE(vb_box_skill(c[n], "nope:x"), "TYPE:VALUE");
	CASE(vb_box_skill(c[n], "file:/nonexistent/SKILL.md"),
	     "/nonexistent/SKILL.md");
	CASE(vb_box_llm(c[n], "gpt-9000", NULL), "llm provider");
	CASE(vb_box_env(c[n], "1BAD", "x"), "env");
	CASE(vb_box_output_file(c[n], ""), "output_file");
#undef CASE
	for (int i = 0; i < n; i++) {
		char name[160];
		snprintf(name, sizeof(name), "setter-refuses %s",
			 cases[i].name);
		check(cases[i].rc == VB_CONFIG &&
		      has(vb_box_error(c[i]), cases[i].want), name,
		      vb_box_error(c[i]));
		vb_box_free(c[i]);
	}

	b = vb_box_new("bad name!");
	check(has(vb_box_error(b), "box name"), "bad-box-name",
	      vb_box_error(b));
	vb_box_free(b);
	b = vb_box_new("good");
	check(vb_box_memory_mb(b, 32) == VB_OK &&
	      vb_box_memory_mb(b, 1048576) == VB_OK &&
	      vb_box_vcpus(b, 16) == VB_OK && vb_box_timeout_secs(b, 1) == 0 &&
	      vb_box_llm(b, "Ollama", "llama3") == VB_OK &&
	      vb_box_env(b, "K", "v") == VB_OK &&
	      vb_box_env(b, "K", "w") == VB_OK &&
	      vb_box_skill(b, "cli:jq") == VB_OK &&
	      vb_box_skill(b, "mcp:/usr/bin/server") == VB_OK &&
	      vb_box_skill_inline(b, "note", "a note") == VB_OK &&
	      vb_box_error(b) == NULL, "setters-accept-bounds",
	      vb_box_error(b));
	vb_box_free(b);

	/* NULL objects: refused, no crash. */
	check(vb_box_prompt(NULL, "x") == VB_CONFIG &&
	      vb_pipeline_pipe(NULL, NULL) == VB_CONFIG &&
	      vb_pipeline_parallel(NULL, 1) == VB_CONFIG &&
	      vb_result_exit_code(NULL) == VB_FAILED &&
	      vb_result_nstages(NULL) == 0 &&
	      vb_result_stage_name(NULL, 0) == NULL, "null-objects", NULL);

	vb_pipeline *p = vb_pipeline_new("p");
	check(vb_pipeline_parallel(p, 0) == VB_CONFIG &&
	      has(vb_pipeline_error(p), "parallel"), "parallel-range",
	      vb_pipeline_error(p));
	vb_pipeline_free(p);

	p = vb_pipeline_new("p");
	vb_box *two[2] = { mock_box("x", "1"), mock_box("x", "2") };
	check(vb_pipeline_fan_out(p, two, 2) == VB_CONFIG &&
	      has(vb_pipeline_error(p), "\"x\""), "fan-out-duplicate-names",
	      vb_pipeline_error(p));
	vb_pipeline_free(p);
	p = vb_pipeline_new("p");
	check(vb_pipeline_fan_out(p, two, 0) == VB_CONFIG &&
	      vb_pipeline_fan_out(p, NULL, 3) == VB_CONFIG,
	      "fan-out-count", vb_pipeline_error(p));
	vb_pipeline_free(p);

	check(!strcmp(vb_strerror(VB_TIMEOUT), "a stage timed out") &&
	      has(vb_strerror(VB_CONFIG), "configuration") &&
	      has(vb_strerror(999), "unknown"), "strerror", NULL);
}

/* A bad box travels into the pipeline and comes back from vb_run. */
static void test_config_error_result(void)
{
	vb_pipeline *p = vb_pipeline_new("cfg");
	vb_box *bad = mock_box("bad", "x");
	vb_box_vcpus(bad, 99);
	vb_pipeline_pipe(p, mock_box("first", "x"));
	vb_pipeline_pipe(p, bad);
	vb_pipeline_pipe(p, mock_box("last", "x"));
	vb_result *r = vb_run(p);
	check(r && vb_result_exit_code(r) == VB_CONFIG && !vb_result_ok(r),
	      "config-error-exit-2", vb_result_error(r));
	check(vb_result_failed_stage(r) &&
	      !strcmp(vb_result_failed_stage(r), "bad") &&
	      !strcmp(vb_result_stage_status(r, 1), "config_error") &&
	      !strcmp(vb_result_stage_status(r, 0), "skipped") &&
	      has(vb_result_stage_error(r, 1), "vcpus 99"),
	      "config-error-names-box", vb_result_error(r));
	vb_result_free(r);
	vb_pipeline_free(p);

	p = vb_pipeline_new("empty");
	r = vb_run(p);
	check(vb_result_exit_code(r) == VB_CONFIG &&
	      has(vb_result_error(r), "no stages"), "empty-pipeline",
	      vb_result_error(r));
	vb_result_free(r);
	vb_pipeline_free(p);
}

/* Named snapshots: names checked, a snapshot with an image refused when
 * the pipeline is built, list and remove over a private data directory
 * (creating one needs a VM: the nested test host's e2e-example-warm). */
static void test_snapshots(const char *dir)
{
	vb_box *b = mock_box("s", "x");
	check(vb_box_snapshot(b, "../etc") == VB_CONFIG &&
	      has(vb_box_error(b), "not a snapshot name"), "snapshot-bad-name",
	      vb_box_error(b));
	vb_box_free(b);

	vb_pipeline *p = vb_pipeline_new("snap");
	b = mock_box("s", "x");
	check(vb_box_snapshot(b, "base") == VB_OK && vb_box_image(b, "alpine")
	      == VB_OK, "snapshot-set", vb_box_error(b));
	check(vb_pipeline_pipe(p, b) == VB_CONFIG &&
	      has(vb_pipeline_error(p), "brings its own VM"),
	      "snapshot-with-image-refused", vb_pipeline_error(p));
	vb_pipeline_free(p);

	char *err = NULL;
	setenv("VOIDBOX_DATA_DIR", dir, 1);
	char *list = vb_snapshot_list_json();
	check(list && !strcmp(list, "[]\n"), "snapshot-list-empty", list);
	free(list);
	check(vb_snapshot_remove("nothing-here", &err) == VB_CONFIG && err &&
	      has(err, "no snapshot"), "snapshot-remove-missing", err);
	free(err);
	err = NULL;
	b = mock_box("s", "x");
	check(vb_snapshot_create(b, "bad/name", NULL, &err) == VB_CONFIG &&
	      err && has(err, "not a snapshot name"), "snapshot-create-bad-name",
	      err);
	free(err);
	vb_box_free(b);
	unsetenv("VOIDBOX_DATA_DIR");
}

static void test_spec(const char *dir)
{
	char path[512], *err = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	f = fopen(path, "w");
	fputs("api_version: v1\nkind: agent\nname: x\n"
	      "agent:\n  prompt: hi\n  timeout_secs: lots\n  bogus: 1\n", f);
	fclose(f);
	vb_pipeline *p = vb_pipeline_from_spec(path, &err);
	char want1[600], want2[600];
	snprintf(want1, sizeof(want1), "%s:6:17: agent.timeout_secs", path);
	snprintf(want2, sizeof(want2), "%s:7:3: ", path);
	check(!p && has(err, want1) && has(err, want2),
	      "spec-errors-file-line-col", err);
	check(err && err[strlen(err) - 1] == '\n' &&
	      strchr(err, '\n') != err + strlen(err) - 1,
	      "spec-errors-one-per-line", err);
	free(err);

	p = vb_pipeline_from_spec("/nonexistent/spec.yaml", &err);
	check(!p && has(err, "/nonexistent/spec.yaml"), "spec-missing-file",
	      err);
	free(err);

	snprintf(path, sizeof(path), "%s/good.yaml", dir);
	f = fopen(path, "w");
	fputs("api_version: v1\nkind: pipeline\nname: spec-pipe\n"
	      "sandbox: {mode: mock}\npipeline:\n  boxes:\n"
	      "    - {name: one, prompt: p1}\n    - {name: two, prompt: p2}\n",
	      f);
	fclose(f);
	p = vb_pipeline_from_spec(path, &err);
	check(p && !err, "spec-loads", err);
	vb_pipeline_input(p, "in", 2);
	vb_result *r = vb_run(p);
	char *js = vb_result_json(r);
	cJSON *doc = cJSON_Parse(js);
	cJSON *file = cJSON_GetObjectItem(doc, "file");
	cJSON *kind = cJSON_GetObjectItem(doc, "kind");
	check(vb_result_ok(r) && doc && cJSON_IsString(file) &&
	      !strcmp(file->valuestring, path) && cJSON_IsString(kind) &&
	      !strcmp(kind->valuestring, "pipeline"), "spec-run-json", js);
	cJSON_Delete(doc);
	free(js);
	vb_result_free(r);
	vb_pipeline_free(p);
}

static void test_mock_run(void)
{
	vb_pipeline *p = vb_pipeline_new("mock-run");
	vb_box *a = mock_box("a", "first");
	vb_box_skill_inline(a, "helper", "# helper");
	vb_pipeline_pipe(p, a);
	vb_box *fan[2] = { mock_box("b", "left"), mock_box("c", "right") };
	vb_pipeline_fan_out(p, fan, 2);
	vb_pipeline_pipe(p, mock_box("d", "join"));
	vb_pipeline_input(p, "{\"seed\": 1}", 11);
	check(vb_pipeline_error(p) == NULL, "built-pipeline-ok",
	      vb_pipeline_error(p));

	vb_result *r = vb_run(p);
	size_t len = 0, slen = 0;
	const char *out = vb_result_output(r, &len);
	check(vb_result_ok(r) && vb_result_exit_code(r) == VB_OK &&
	      vb_result_failed_stage(r) == NULL && vb_result_error(r) == NULL,
	      "mock-run-ok", vb_result_error(r));
	check(vb_result_nstages(r) == 4 &&
	      !strcmp(vb_result_stage_name(r, 0), "a") &&
	      !strcmp(vb_result_stage_name(r, 3), "d") &&
	      !strcmp(vb_result_stage_status(r, 2), "ok") &&
	      vb_result_stage_error(r, 2) == NULL &&
	      vb_result_stage_name(r, 4) == NULL &&
	      vb_result_stage_status(r, 4) == NULL, "stage-accessors", NULL);
	uint64_t in = 1, o = 1;
	check(vb_result_stage_tokens(r, 0, &in, &o) == 0 && in == 0 &&
	      o == 0 && vb_result_stage_tokens(r, 9, NULL, NULL) == -1 &&
	      vb_result_stage_cost_usd(r, 0) == 0 &&
	      vb_result_stage_tool_calls(r, 0) == 0, "mock-accounting", NULL);
	const char *s0 = vb_result_stage_output(r, 0, &slen);
	check(has(s0, "\"box\":\"a\"") && has(s0, "\"helper\"") &&
	      slen == strlen(s0), "stage-output", s0);
	check(out && len == strlen(out) && has(out, "\"box\":\"d\"") &&
	      strstr(out, "\"box\":\"b\"") < strstr(out, "\"box\":\"c\""),
	      "pipeline-output-joined-in-order", out);

	char *js = vb_result_json(r);
	cJSON *doc = cJSON_Parse(js);
	cJSON *st = cJSON_GetObjectItem(doc, "stages");
	cJSON *s1 = cJSON_GetArrayItem(st, 1);
	cJSON *status = cJSON_GetObjectItem(doc, "status");
	check(doc && cJSON_GetArraySize(st) == 4 && cJSON_IsString(status) &&
	      !strcmp(status->valuestring, "ok") &&
	      !strcmp(cJSON_GetObjectItem(s1, "name")->valuestring, "b") &&
	      cJSON_IsTrue(cJSON_GetObjectItem(s1, "mock")) &&
	      !cJSON_GetObjectItem(doc, "file"), "result-json-parses", js);
	cJSON_Delete(doc);
	free(js);
	char *rep = vb_result_report(r);
	check(has(rep, "[vm:a] ok (mock) in "), "result-report", rep);
	free(rep);
	vb_result_free(r);

	/* The pipeline survives its run and can run again. */
	r = vb_run(p);
	check(vb_result_ok(r), "run-twice", vb_result_error(r));
	vb_result_free(r);
	vb_pipeline_free(p);
}

static void test_failures(void)
{
	vb_pipeline *p = vb_pipeline_new("fails");
	vb_pipeline_pipe(p, mock_box("ok1", "fine"));
	vb_pipeline_pipe(p, mock_box("boom", "[[mock-agent:fail]]"));
	vb_pipeline_pipe(p, mock_box("never", "x"));
	vb_result *r = vb_run(p);
	check(vb_result_exit_code(r) == VB_FAILED &&
	      !strcmp(vb_result_failed_stage(r), "boom") &&
	      !strcmp(vb_result_stage_status(r, 1), "failed") &&
	      !strcmp(vb_result_stage_status(r, 2), "skipped") &&
	      has(vb_result_error(r), "mock-agent:fail") &&
	      vb_result_output(r, NULL) == NULL, "failed-stage-exit-1",
	      vb_result_error(r));
	vb_result_free(r);
	vb_pipeline_free(p);

	p = vb_pipeline_new("slow");
	vb_box *b = mock_box("sleepy", "[[mock-agent:sleep:5000]]");
	vb_box_timeout_secs(b, 1);
	vb_pipeline_pipe(p, b);
	r = vb_run(p);
	check(vb_result_exit_code(r) == VB_TIMEOUT &&
	      !strcmp(vb_result_stage_status(r, 0), "timeout") &&
	      vb_result_stage_duration_ms(r, 0) < 3000, "timeout-exit-124",
	      vb_result_error(r));
	vb_result_free(r);
	vb_pipeline_free(p);
}

/* Re-executed as "test_api __vmm": a VMM child whose main() skipped
 * vb_main_hook must refuse to run rather than recurse. */
static int forgot_hook_child(void)
{
	vb_pipeline *p = vb_pipeline_new("recursion");
	vb_pipeline_pipe(p, mock_box("x", "x"));
	vb_result *r = vb_run(p);
	int ok = vb_result_exit_code(r) == VB_CONFIG &&
		 has(vb_result_error(r), "vb_main_hook");
	vb_result_free(r);
	vb_pipeline_free(p);
	return ok ? 0 : 3;
}

static void test_hook_guard(void)
{
	int st = -1;
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { "test_api", "__vmm", NULL };
		execv("/proc/self/exe", argv);
		_exit(4);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
	check(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "missing-main-hook-refused", NULL);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/vb-test-api.XXXXXX", cmd[64];

	if (argc >= 2 && !strcmp(argv[1], "__vmm"))
		return forgot_hook_child();
	check(vb_main_hook(argc, argv) == -1, "main-hook-returns", NULL);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_setters();
	test_config_error_result();
	test_spec(dir);
	test_snapshots(dir);
	test_mock_run();
	test_failures();
	test_hook_guard();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return failures ? 1 : 0;
}
