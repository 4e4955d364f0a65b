/* claude.c: claude-code in the stage's VM — its argv and env (pointed at
 * the gateway, never at the real key), the run itself with its
 * stream-json read live (stream.c) and kept under the run dir, and the
 * guest telemetry sampled while it runs.
 *
 * claude-code runs as the unprivileged `agent` user in /workspace with
 * permissions bypassed: the VM is the sandbox.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "run.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../llm/llm.h"
#include "../spec/spec.h"
#include "../otel/otel.h"
#include "../util/util.h"

#define INPUT_EXCERPT   4096	/* bytes of the input quoted in the prompt */
#define STDERR_TAIL     4096

/* ---- live output ---------------------------------------------------------- */

struct reader {
	int fd;
	int raw_fd;			/* run dir copy of the stream, or -1 */
	struct claude_stream *cs;
	const struct stage_opts *o;
	const char *name;
	struct stage_result *r;
};

#define TOOL_TIMES_MAX 256

/* When each tool call was seen starting and finishing, for its span. */
static void time_tool(struct stage_result *r, const struct claude_event *ev)
{
	uint64_t now = otel_now_ns();

	if (!ev->id)
		return;
	if (ev->kind == CE_TOOL_USE) {
		if (!r->tool_times &&
		    !(r->tool_times = calloc(TOOL_TIMES_MAX,
					     sizeof(*r->tool_times))))
			return;
		if (r->ntool_times == TOOL_TIMES_MAX)
			return;
		struct tool_time *t = &r->tool_times[r->ntool_times++];
		snprintf(t->id, sizeof(t->id), "%s", ev->id);
		t->start_ns = now;
		return;
	}
	for (size_t i = 0; i < r->ntool_times; i++)
		if (!r->tool_times[i].end_ns &&
		    !strcmp(r->tool_times[i].id, ev->id)) {
			r->tool_times[i].end_ns = now;
			return;
		}
}

static void on_event(void *ctx, const struct claude_event *ev)
{
	struct reader *rd = ctx;

	if (ev->kind == CE_TOOL_USE || ev->kind == CE_TOOL_RESULT)
		time_tool(rd->r, ev);
	if (rd->o->on_event)
		rd->o->on_event(rd->o->ctx, rd->name, ev);
	stage_progress(rd->o, rd->name, PH_AGENT, ev, NULL);
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(rd->fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		claude_stream_feed(rd->cs, buf, (size_t)n);
		if (rd->raw_fd >= 0 && agent_write_all(rd->raw_fd, buf,
						       (size_t)n) < 0) {
			close(rd->raw_fd);	/* disk full: stop keeping */
			rd->raw_fd = -1;
		}
	}
	claude_stream_finish(rd->cs);
	return NULL;
}

/* ---- the claude-code run -------------------------------------------------- */

void claude_cmdline(const struct box_cfg *bc, const char *tok,
		    const char *traceparent, bool have_mcp,
		    enum claude_form form, const char *prompt,
		    const char **argv, const char **envv, char *bufs,
		    size_t buflen)
{
	size_t a = 0, e = 0, off = 0;
	/* An entry that does not fit whole is left out, never cut. */
#define KV(...) do { \
		int w_ = snprintf(bufs + off, buflen - off, __VA_ARGS__); \
		if (w_ >= 0 && (size_t)w_ < buflen - off) { \
			envv[e++] = bufs + off; \
			off += (size_t)w_ + 1; \
		} \
	} while (0)

	argv[a++] = "/usr/local/bin/claude";
	if (form == CLAUDE_PRINT) {
		argv[a++] = "-p";
		argv[a++] = prompt;
	} else if (form == CLAUDE_WAITING) {
		argv[a++] = "-p";
		/* Waiting: the prompt comes as the first stream-json line;
		 * the key from a helper that waits for the clone's token
		 * file (claude-code runs it at start, in the background,
		 * and awaits it before its first request). */
		argv[a++] = "--input-format";
		argv[a++] = "stream-json";
		argv[a++] = "--settings";
		argv[a++] = "{\"apiKeyHelper\":\"f=" WAITING_TOKEN_FILE "; "
			    "i=0; while [ ! -s $f ] && [ $i -lt 36000 ]; do "
			    "sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); "
			    "done; cat $f\"}";
	}
	if (form != CLAUDE_INTERACTIVE) {
		argv[a++] = "--output-format";
		argv[a++] = "stream-json";
		argv[a++] = "--verbose";
	}
	argv[a++] = "--dangerously-skip-permissions";
	if (bc->llm.model[0]) {
		argv[a++] = "--model";
		argv[a++] = bc->llm.model;
	}
	if (have_mcp) {
		argv[a++] = "--mcp-config";
		argv[a++] = "/home/agent/.voidbox/mcp.json";
	}
	if (form == CLAUDE_INTERACTIVE && prompt && *prompt) {
		argv[a++] = "--";	/* its first message, whatever it is */
		argv[a++] = prompt;
	}
	argv[a] = NULL;

	/* The image's Env, then the user's: ours below override both where
	 * they clash (the base URL and key must be the gateway's). PATH is
	 * the image's when it has one, with /usr/local/bin (claude-code's
	 * link) in front when missing. */
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	for (size_t i = 0; bc->image_env && bc->image_env[i] &&
			   e < STAGE_MAX_ENV / 2; i++) {
		if (!strncmp(bc->image_env[i], "PATH=", 5))
			path = bc->image_env[i] + 5;
		else
			envv[e++] = bc->image_env[i];
	}
	for (size_t i = 0; i < bc->nenv && e < STAGE_MAX_ENV - 32; i++)
		envv[e++] = bc->env[i];
	bool has_local = false;
	for (const char *p = path; p && *p;) {
		size_t n = strcspn(p, ":");
		has_local |= n == 14 && !strncmp(p, "/usr/local/bin", 14);
		p += n + (p[n] == ':');
	}
	KV("PATH=%s%s", has_local ? "" : "/usr/local/bin:", path);
	KV("HOME=/home/agent");
	KV("USER=agent");
	KV("TMPDIR=/tmp");
	KV("ANTHROPIC_BASE_URL=http://127.0.0.1:%d", GW_GUEST_PORT);
	KV("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1");
	/* Its UI would clone the plugin marketplace from GitHub at start:
	 * traffic a sandbox does not want (and mostly cannot make). */
	KV("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL=1");
	if (form != CLAUDE_WAITING && traceparent && *traceparent)
		KV("TRACEPARENT=%s", traceparent);
	if (form == CLAUDE_WAITING)	/* sourced before each Bash command:
					   the run's TRACEPARENT, written per
					   stage (waiting.c) */
		KV("CLAUDE_ENV_FILE=%s", WAITING_ENV_FILE);
	if (form == CLAUDE_INTERACTIVE)
		KV("TERM=%s", term_name());
	KV("CLAUDE_CODE_MAX_RETRIES=%s", getenv("VOIDBOX_CLAUDE_MAX_RETRIES")
	   ? getenv("VOIDBOX_CLAUDE_MAX_RETRIES") : "3");
	const struct llm_provider *p = llm_provider(bc->llm.provider);
	if (p && p->local_model) {
		/* Reference doc §7: every model knob to the local model, and
		 * none of the first-party-only request features. */
		const char *m = bc->llm.model[0] ? bc->llm.model
						 : p->default_model;
		if (tok) {
			KV("ANTHROPIC_AUTH_TOKEN=%s", tok);
			KV("ANTHROPIC_API_KEY=");
		}
		KV("ANTHROPIC_MODEL=%s", m);
		KV("ANTHROPIC_DEFAULT_OPUS_MODEL=%s", m);
		KV("ANTHROPIC_DEFAULT_SONNET_MODEL=%s", m);
		KV("ANTHROPIC_DEFAULT_HAIKU_MODEL=%s", m);
		KV("ANTHROPIC_SMALL_FAST_MODEL=%s", m);
		KV("CLAUDE_CODE_SUBAGENT_MODEL=%s", m);
		KV("CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1");
		KV("CLAUDE_CODE_MODEL_CAPABILITIES=-mid_conv_system,"
		   "-mid_conv_tool_change,-effort,-adaptive_thinking,"
		   "-context_management,-per_turn_effort");
		KV("CLAUDE_CODE_DISABLE_THINKING=1");
		KV("CLAUDE_CODE_ATTRIBUTION_HEADER=0");
		KV("CLAUDE_CODE_MAX_OUTPUT_TOKENS=8192");
	} else if (tok) {
		KV("ANTHROPIC_API_KEY=%s", tok);
	}
	envv[e] = NULL;
#undef KV
}

/* The prompt plus a bounded excerpt of the previous stage's output. */
char *claude_prompt(const struct box_cfg *bc, const struct stage_opts *o)
{
	const char *p = bc->prompt ? bc->prompt : "";
	size_t ex = o->input ? (o->input_len < INPUT_EXCERPT ? o->input_len
							     : INPUT_EXCERPT)
			     : 0;
	size_t n = strlen(p) + ex + 256;
	char *s = malloc(n);
	if (!s)
		return NULL;
	if (!o->input)
		snprintf(s, n, "%s", p);
	else
		snprintf(s, n, "%s\n\nThe previous stage's output is in "
			 "/workspace/input.json (%zu bytes)%s\n%.*s", p,
			 o->input_len, ex < o->input_len ? "; it begins:" :
			 ":", (int)ex, (const char *)o->input);
	/* NULs in the input would cut argv: the excerpt stops there. */
	return s;
}

/* ---- guest telemetry while claude-code runs --------------------------- */

static void *sampler_main(void *arg)
{
	struct claude_sampler *s = arg;
	struct agent_conn *c = &s->c;
	struct agent_telemetry_sub sub = { .interval_ms = 1000 };
	struct agent_hdr h;
	uint64_t first_busy = 0, last_busy = 0;

	if (agent_open(c, s->b, 10000) == 0)
		atomic_store(&s->fd, c->fd);
	if (c->fd < 0 ||
	    agent_send(c, AGENT_MSG_TELEMETRY_SUB, agent_new_req(c), &sub,
		       sizeof(sub), NULL, 0) < 0)
		return NULL;
	while (!atomic_load(&s->stop)) {
		int r = agent_recv(c, &h, 2000);
		if (r == 0 || (r < 0 && c->cause != -ETIMEDOUT))
			break;
		if (r < 0 || h.type != AGENT_MSG_TELEMETRY ||
		    h.len != sizeof(struct agent_telemetry))
			continue;
		struct agent_telemetry t;
		memcpy(&t, c->buf, sizeof(t));
		uint64_t busy = t.cpu_user_ticks + t.cpu_system_ticks;
		if (!s->r->guest_samples++)
			first_busy = busy;
		last_busy = busy;
		if (t.mem_total_kb >= t.mem_available_kb &&
		    t.mem_total_kb - t.mem_available_kb > s->r->guest_mem_peak_kb)
			s->r->guest_mem_peak_kb = t.mem_total_kb -
						  t.mem_available_kb;
	}
	/* USER_HZ is 100 on every Linux we boot (our kernel config). */
	s->r->guest_cpu_s = (double)(last_busy - first_busy) / 100.0;
	return NULL;
}

void claude_sampler_start(struct claude_sampler *s, struct box *b,
			  struct stage_result *r)
{
	*s = (struct claude_sampler){ .b = b, .r = r, .fd = -1,
				      .c = { .fd = -1 } };
	s->started = pthread_create(&s->t, NULL, sampler_main, s) == 0;
}

void claude_sampler_stop(struct claude_sampler *s)
{
	if (s->started) {
		/* Wake it now rather than at its next sample. */
		atomic_store(&s->stop, true);
		int sfd = atomic_load(&s->fd);
		if (sfd >= 0)
			shutdown(sfd, SHUT_RDWR);
		pthread_join(s->t, NULL);
		agent_close(&s->c);
		s->started = false;
	}
}

/* The prompt as a waiting claude-code's first (and only) stream-json
 * message, in a memfd to be its stdin (EOF after it ends the run). */
static int prompt_message(const char *prompt)
{
	cJSON *j = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(j, "message");
	cJSON_AddStringToObject(j, "type", "user");
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", prompt);
	char *line = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	int fd = line ? memfd_create("vb-prompt", MFD_CLOEXEC) : -1;
	if (fd >= 0 && (agent_write_all(fd, line, strlen(line)) < 0 ||
			agent_write_all(fd, "\n", 1) < 0 ||
			lseek(fd, 0, SEEK_SET) < 0)) {
		close(fd);
		fd = -1;
	}
	free(line);
	return fd;
}

void claude_run(struct agent_conn *c, const struct box_cfg *bc,
		const struct stage_opts *o, const char *tok, bool have_mcp,
		uint32_t park_id, struct stage_result *r)
{
	const char *argv[16], *envv[STAGE_MAX_ENV];
	char *bufs = malloc(16384), *prompt = claude_prompt(bc, o);
	int pfd[2] = { -1, -1 }, in = -1;
	int efd = memfd_create("vb-stderr", MFD_CLOEXEC);
	struct reader rd = { .o = o, .name = bc->name, .r = r,
			     .raw_fd = stage_record_open(o, bc->name, "claude.jsonl") };
	pthread_t t;

	if (!bufs || !prompt || efd < 0 || pipe2(pfd, O_CLOEXEC) < 0 ||
	    (park_id && (in = prompt_message(prompt)) < 0) ||
	    !(rd.cs = r->stream = claude_stream_new(on_event, &rd))) {
		stage_fail(r, CAUSE_INTERNAL, "cannot start claude-code: %s",
			   strerror(errno));
		goto out;
	}
	claude_cmdline(bc, tok, o->traceparent, have_mcp,
		       park_id ? CLAUDE_WAITING : CLAUDE_PRINT, prompt, argv,
		       envv, bufs, 16384);
	rd.fd = pfd[0];
	if (pthread_create(&t, NULL, reader_main, &rd)) {
		stage_fail(r, CAUSE_INTERNAL, "reader thread: %s",
			   strerror(errno));
		goto out;
	}
	struct agent_exec_req rq = {
		.argv = argv, .envv = envv, .cwd = "/workspace",
		.timeout_ms = bc->timeout_s * 1000u, .stdin_fd = in,
		.stdout_fd = pfd[1], .stderr_fd = efd,
	};
	int e = park_id ? agent_exec_attach(c, park_id, &rq, &r->exec)
			: agent_exec(c, &rq, &r->exec);
	close(pfd[1]);
	pfd[1] = -1;
	pthread_join(t, NULL);
	/* The stderr tail explains failures claude did not report itself. */
	off_t sz = lseek(efd, 0, SEEK_END);
	off_t from = sz > STDERR_TAIL ? sz - STDERR_TAIL : 0;
	ssize_t got = pread(efd, r->stderr_tail, sizeof(r->stderr_tail) - 1,
			    from);
	r->stderr_tail[got > 0 ? got : 0] = '\0';
	int sfd = stage_record_open(o, bc->name, "claude.stderr");
	if (sfd >= 0) {
		char cb[65536];
		ssize_t k;
		for (off_t at = 0; at < sz && at < (16 << 20) &&
		     (k = pread(efd, cb, sizeof(cb), at)) > 0; at += k)
			if (agent_write_all(sfd, cb, (size_t)k) < 0)
				break;
		close(sfd);
	}
	if (rd.raw_fd >= 0)
		close(rd.raw_fd);

	const struct claude_result *cr = claude_stream_result(r->stream);
	if (e < 0) {
		stage_fail(r, CAUSE_AGENT_LOST, "lost the agent connection: %s",
			   c->err);
	} else if (r->exec.err) {
		stage_fail(r, CAUSE_AGENT, park_id ? "the waiting claude-code "
			   "could not be attached: %s" : "claude-code did not "
			   "start: %s", r->exec.errmsg);
	} else if (r->exec.exit.timed_out) {
		stage_fail(r, CAUSE_TIMEOUT, "timed out after %u s",
			   bc->timeout_s);
	} else if (!cr->have_result || cr->is_error || r->exec.exit.code) {
		char *why = claude_result_error(cr);
		const char *tail = strrchr(r->stderr_tail, '\n');
		stage_fail(r, CAUSE_AGENT, "claude-code failed (exit %d): %s",
			   r->exec.exit.code, why ? why : !cr->have_result
			   ? (r->stderr_tail[0] ? (tail && tail[1] ? tail + 1
			   : r->stderr_tail) : "no result from claude-code")
			   : "is_error");
		free(why);
	}
out:
	if (in >= 0)
		close(in);
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (efd >= 0)
		close(efd);
	free(prompt);
	free(bufs);
}
