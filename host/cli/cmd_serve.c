/* cmd_serve.c: `voidbox serve` (the daemon, host/serve/) and
 * `voidbox run --daemon` (a run submitted to it and followed there).
 *
 *   voidbox serve [--socket PATH] [--listen HOST:PORT --token-file F]
 *                 [--store DB] [--max-runs N] [--retain-days D]
 *                 [--retain-mb M]
 *
 * The token for --listen comes from --token-file (its first line) or
 * $VOIDBOX_TOKEN; TCP without one is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../serve/serve.h"
#include "../util/util.h"

static void serve_usage(void)
{
	fprintf(stderr,
		"usage: voidbox serve [--socket PATH] [--listen HOST:PORT "
		"--token-file FILE]\n"
		"                     [--store DB] [--max-runs N] "
		"[--retain-days D] [--retain-mb M]\n");
}

static char *read_token(const char *path)
{
	uint8_t *d;
	size_t n;
	if (args_read_file("--token-file", path, &d, &n) < 0)
		return NULL;
	d[n] = '\0';
	char *nl = strpbrk((char *)d, "\r\n");
	if (nl)
		*nl = '\0';
	return (char *)d;
}

int cmd_serve(const struct cli_globals *g, int argc, char **argv)
{
	struct serve_cfg c = { .max_runs = 2, .json_log = log_is_json() };
	char *token = NULL;
	(void)g;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long long n;
		if (!strcmp(a, "--socket") && v)
			c.socket_path = argv[++i];
		else if (!strcmp(a, "--listen") && v)
			c.tcp = argv[++i];
		else if (!strcmp(a, "--token-file") && v) {
			free(token);
			if (!(token = read_token(argv[++i])))
				return VB_EXIT_USAGE;
		} else if (!strcmp(a, "--store") && v)
			c.store_path = argv[++i];
		else if (!strcmp(a, "--max-runs") && v) {
			if (args_uint("--max-runs", argv[++i], 1, 64, &n) < 0)
				return VB_EXIT_USAGE;
			c.max_runs = (unsigned)n;
		} else if (!strcmp(a, "--retain-days") && v) {
			if (args_uint("--retain-days", argv[++i], 1, 36500,
				      &n) < 0)
				return VB_EXIT_USAGE;
			c.retain_age_s = (int64_t)n * 86400;
		} else if (!strcmp(a, "--retain-mb") && v) {
			if (args_uint("--retain-mb", argv[++i], 1, 1 << 24,
				      &n) < 0)
				return VB_EXIT_USAGE;
			c.retain_bytes = (int64_t)n << 20;
		} else {
			log_warnx("serve: unexpected argument '%s'", a);
			serve_usage();
			free(token);
			return VB_EXIT_USAGE;
		}
	}
	if (!token && getenv("VOIDBOX_TOKEN"))
		token = strdup(getenv("VOIDBOX_TOKEN"));
	c.token = token;
	int rc = serve_main(&c);
	free(token);
	return rc;
}

/* --- following a run -------------------------------------------------- */

void print_event(const cJSON *ev, bool json)
{
	if (json) {
		char *s = cJSON_PrintUnformatted(ev);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
		fflush(stdout);
		return;
	}
	const char *type = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(ev, "type"));
	const char *stage = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(ev, "stage"));
#define S(k) cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, k))
	if (!type)
		return;
	if (!strcmp(type, "log"))
		fprintf(stderr, "[%s] %s\n", S("source") ? S("source") : "?",
			S("msg") ? S("msg") : "");
	else if (!strcmp(type, "run"))
		fprintf(stderr, "[run] %s%s%s\n", S("state") ? S("state") : "?",
			S("error") ? ": " : "", S("error") ? S("error") : "");
	else if (!strcmp(type, "stage") && stage)
		fprintf(stderr, "[stage:%s] %s%s%s\n", stage,
			S("state") ? S("state") : "?", S("status") ? " " : "",
			S("status") ? S("status") : "");
	else if (!strcmp(type, "events_dropped"))
		fprintf(stderr, "[run] later events were dropped (the "
			"per-run limit)\n");
#undef S
}

/* Follow run id's events (SSE) until it ends; its exit code. */
struct follow {
	bool json;
	char data[1u << 16];
	int exit_code;
	bool ended;
	char last_id[24];
};

static int on_sse_line(void *ctx, const char *line)
{
	struct follow *f = ctx;
	if (!strncmp(line, "id: ", 4))
		snprintf(f->last_id, sizeof(f->last_id), "%s", line + 4);
	if (strncmp(line, "data: ", 6))
		return 0;
	cJSON *ev = cJSON_Parse(line + 6);
	if (!ev)
		return 0;
	print_event(ev, f->json);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "state");
	if (cJSON_IsString(t) && !strcmp(t->valuestring, "run") &&
	    cJSON_IsString(s) && strcmp(s->valuestring, "queued") &&
	    strcmp(s->valuestring, "running")) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(ev,
								  "exit_code");
		f->exit_code = cJSON_IsNumber(c) ? c->valueint : 1;
		f->ended = true;
	}
	cJSON_Delete(ev);
	return 0;
}

int daemon_follow(const char *addr, const char *id, bool json)
{
	char path[160], err[512];
	struct follow *f = calloc(1, sizeof(*f));
	if (!f)
		return VB_EXIT_FAIL;
	f->json = json;
	snprintf(path, sizeof(path), "/v1/runs/%s/events", id);
	/* A dropped connection (a daemon restart) resumes where it was. */
	for (int tries = 0; !f->ended && tries < 30; tries++) {
		if (daemon_stream(addr, path, f->last_id[0] ? f->last_id : NULL,
				  on_sse_line, f, err, sizeof(err)) < 0) {
			if (tries == 29 || !strstr(err, "no daemon"))
				log_warnx("%s", err);
			if (!strstr(err, "no daemon"))
				break;
			sleep(1);
		}
	}
	int rc = f->ended ? f->exit_code : -1;
	free(f);
	return rc;
}

int run_via_daemon(const char *addr, const char *file, const char *input,
		   size_t input_len, bool detach, bool json)
{
	char spec[PATH_MAX], cwd[PATH_MAX], err[512];
	if (!realpath(file, spec)) {
		log_warn("run: %s", file);
		return VB_EXIT_USAGE;
	}
	cJSON *req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "spec_path", spec);
	if (getcwd(cwd, sizeof(cwd)))
		cJSON_AddStringToObject(req, "workdir", cwd);
	if (input) {
		char *in = strndup(input, input_len);
		cJSON_AddStringToObject(req, "input", in ? in : "");
		free(in);
	}
	char *body = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	struct dresp r;
	int rc = body ? daemon_request(addr, "POST", "/v1/runs", body,
				       strlen(body), &r, err, sizeof(err)) : -1;
	cJSON_free(body);
	if (rc < 0) {
		log_warnx("run: %s", err);
		return VB_EXIT_FAIL;
	}
	cJSON *doc = cJSON_Parse(r.body);
	const char *id = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(doc, "id"));
	if (r.status != 201 || !id) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
		const cJSON *list = cJSON_GetObjectItemCaseSensitive(e, "errors");
		const cJSON *x;
		cJSON_ArrayForEach(x, list)
			if (cJSON_IsString(x))
				fprintf(stderr, "%s\n", x->valuestring);
		log_warnx("run: the daemon refused it (%d): %s", r.status,
			  cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				  e, "message")) ?: r.body);
		cJSON_Delete(doc);
		free(r.body);
		return r.status == 400 ? VB_EXIT_USAGE : VB_EXIT_FAIL;
	}
	if (detach || json) {
		if (json && detach)
			printf("%s\n", r.body);
		else if (detach)
			printf("%s\n", id);
	}
	if (!detach)
		log_say("voidbox", "run %s submitted to %s", id, addr);
	char idc[64];
	snprintf(idc, sizeof(idc), "%s", id);
	cJSON_Delete(doc);
	free(r.body);
	if (detach)
		return VB_EXIT_OK;
	rc = daemon_follow(addr, idc, json);
	return rc < 0 ? VB_EXIT_FAIL : rc;
}
