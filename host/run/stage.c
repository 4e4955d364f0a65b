/* stage.c: one agent stage = boot -> provision -> claude-code -> collect ->
 * power off, in a fresh VM.
 *
 * The LLM credential stays here: the guest gets a per-VM gateway token
 * as its API key and a base URL on its own loopback, which the agent
 * relays to this process (host/gateway/). claude-code runs as the
 * unprivileged `agent` user in /workspace with permissions bypassed —
 * the VM is the sandbox — and its stream-json output is parsed live
 * (stream.c), so tool calls show up as they happen.
 *
 * Every phase is timed; the split (boot, provision, run, collect,
 * teardown) is what `make bench` reports as stage overhead.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../spec/spec.h"
#include "../gateway/gateway.h"
#include "../otel/otel.h"
#include "../util/util.h"
#include "../vmm/vmcfg.h"

#define GW_GUEST_PORT   4080	/* guest loopback port of the relay */
#define READY_TIMEOUT_MS 300000	/* nested TCG test hosts boot slowly */
#define INPUT_EXCERPT   4096	/* bytes of the input quoted in the prompt */
#define OUTPUT_MAX      (64u << 20)
#define STDERR_TAIL     4096

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum stage_status stage_status_of(enum stage_cause c)
{
	switch (c) {
	case CAUSE_NONE:
		return STAGE_OK;
	case CAUSE_CONFIG:
		return STAGE_CONFIG;
	case CAUSE_NO_KVM:
	case CAUSE_VM_START:
	case CAUSE_VMM_DIED:
		return STAGE_VM;
	case CAUSE_TIMEOUT:
		return STAGE_TIMEOUT;
	default:
		return STAGE_FAILED;
	}
}

static void set_cause(struct stage_result *r, enum stage_cause c)
{
	r->cause = c;
	r->status = stage_status_of(c);
	r->vmm_died = c == CAUSE_VMM_DIED;
}

void stage_fail(struct stage_result *r, enum stage_cause c, const char *fmt,
		...)
{
	va_list ap;

	if (r->cause != CAUSE_NONE || c == CAUSE_NONE)
		return;		/* keep the first cause */
	set_cause(r, c);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

void stage_vm_ended(struct stage_result *r, bool died, const char *why)
{
	if (died && r->cause == CAUSE_NONE) {
		stage_fail(r, CAUSE_VMM_DIED, "%s", why);
	} else if (r->cause == CAUSE_AGENT_LOST) {
		/* Say why the VM went away, not only that it did. */
		size_t l = strlen(r->error);
		snprintf(r->error + l, sizeof(r->error) - l, "; the VM %s",
			 why);
		if (died)
			set_cause(r, CAUSE_VMM_DIED);
	} else if (died && r->cause == CAUSE_VM_START) {
		set_cause(r, CAUSE_VMM_DIED);	/* not a boot failure */
	}
}


/* Where the credential comes from and where requests go, per provider. */
static int upstream_for(const struct llm_cfg *l, struct gw_upstream *up,
			char *err, size_t errlen)
{
	const char *url = l->base_url[0] ? l->base_url : NULL;
	const char *keyenv = l->api_key_env[0] ? l->api_key_env : NULL;

	*up = (struct gw_upstream){ 0 };
	snprintf(up->provider, sizeof(up->provider), "%s", l->provider);
	if (!strcmp(l->provider, "claude")) {
		url = url ? url : "https://api.anthropic.com";
		keyenv = keyenv ? keyenv : "ANTHROPIC_API_KEY";
	} else if (!strcmp(l->provider, "ollama") ||
		   !strcmp(l->provider, "lm-studio")) {
		url = url ? url : getenv("OLLAMA_HOST") ? getenv("OLLAMA_HOST")
			: "http://127.0.0.1:11434";
	} else if (!strcmp(l->provider, "custom")) {
		if (!url) {
			snprintf(err, errlen, "llm.provider custom needs "
				 "llm.base_url");
			return -1;
		}
	} else {
		snprintf(err, errlen, "llm.provider %s is not supported for "
			 "VM runs (use claude, ollama or custom)", l->provider);
		return -1;
	}
	if (gateway_parse_url(url, up, err, errlen) < 0)
		return -1;
	if (keyenv) {
		const char *k = getenv(keyenv);
		if (!k || !*k) {
			snprintf(err, errlen, "%s is not set (the API key for "
				 "llm.provider %s; it stays on this host)",
				 keyenv, l->provider);
			return -1;
		}
		if (strlen(k) >= sizeof(up->cred_value) || strpbrk(k, "\r\n")) {
			snprintf(err, errlen, "%s: not a valid API key", keyenv);
			return -1;
		}
		snprintf(up->cred_name, sizeof(up->cred_name), "x-api-key");
		snprintf(up->cred_value, sizeof(up->cred_value), "%s", k);
	} else {
		/* Local Ollama ignores the token but expects one. */
		snprintf(up->cred_name, sizeof(up->cred_name), "authorization");
		snprintf(up->cred_value, sizeof(up->cred_value),
			 "Bearer ollama");
	}
	up->ca_path = getenv("VOIDBOX_CA_FILE");
	return 0;
}

int stage_preflight(const struct box_cfg *bc, char *err, size_t errlen)
{
	struct gw_upstream up;
	int r = upstream_for(&bc->llm, &up, err, errlen);

	explicit_bzero(&up, sizeof(up));	/* it holds a copy of the key */
	return r;
}

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
}

/* A record file under run_dir/<box>/ (created), or -1 without a run dir
 * or on error (records are best effort: they never fail a stage). */
static int record_open(const struct stage_opts *o, const char *box,
		       const char *file)
{
	char path[4096];

	if (!o->run_dir)
		return -1;
	mkdir(o->run_dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", o->run_dir, box);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", o->run_dir, box, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		log_warn("run dir: %s", path);
	return fd;
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

/* ---- provisioning --------------------------------------------------------- */

static int put_mem(struct agent_conn *c, const char *path, const void *p,
		   size_t n, uint32_t mode)
{
	int fd = memfd_create("vb-put", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = agent_write_all(fd, p, n) == 0 && lseek(fd, 0, SEEK_SET) == 0
		? agent_put(c, fd, path, mode) : -1;
	close(fd);
	return r;
}

/* SKILL.md needs frontmatter with a description to be listed; give one
 * to plain markdown skills (the first non-empty line). */
static char *skill_md(const struct skill_cfg *k)
{
	const char *t = k->content ? k->content : "";
	if (!strncmp(t, "---\n", 4))
		return strdup(t);
	const char *l = t;
	while (*l == '\n' || *l == '#' || *l == ' ')
		l++;
	size_t dl = strcspn(l, "\n");
	if (dl > 200)
		dl = 200;
	char desc[256];
	snprintf(desc, sizeof(desc), "%.*s", (int)dl, l);
	for (char *c = desc; *c; c++)
		if (*c == '"' || *c == '\\')
			*c = '\'';
	size_t n = strlen(t) + strlen(desc) + strlen(k->name) + 64;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "---\nname: %s\ndescription: \"%s\"\n---\n%s",
			 k->name, desc[0] ? desc : k->name, t);
	return out;
}

static char *mcp_json(const struct box_cfg *bc)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *servers = cJSON_AddObjectToObject(root, "mcpServers");
	for (size_t i = 0; i < bc->nskills; i++) {
		const struct skill_cfg *k = &bc->skills[i];
		if (k->type != SKILL_MCP)
			continue;
		cJSON *s = cJSON_AddObjectToObject(servers, k->name);
		cJSON_AddStringToObject(s, "type", "stdio");
		cJSON_AddStringToObject(s, "command", k->command);
		cJSON *a = cJSON_AddArrayToObject(s, "args");
		for (size_t j = 0; j < k->nargs; j++)
			cJSON_AddItemToArray(a, cJSON_CreateString(k->args[j]));
		cJSON *e = cJSON_AddObjectToObject(s, "env");
		for (size_t j = 0; j < k->nenv; j++) {
			char *eq = strchr(k->env[j], '=');
			if (!eq)
				continue;
			*eq = '\0';
			cJSON_AddStringToObject(e, k->env[j], eq + 1);
			*eq = '=';
		}
	}
	char *s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

/* Run a short shell snippet as root; stdout into out (bounded). */
static int guest_sh(struct agent_conn *c, const char *script, char *out,
		    size_t outlen, int *code)
{
	int fd = memfd_create("vb-sh", MFD_CLOEXEC);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct agent_exec_req rq = { .argv = argv, .root = true,
				     .timeout_ms = 60000, .stdin_fd = -1,
				     .stdout_fd = fd, .stderr_fd = fd };
	struct agent_exec_res res;

	if (fd < 0)
		return -1;
	int r = agent_exec(c, &rq, &res);
	if (r == 0 && !res.err) {
		*code = res.exit.code;
		ssize_t n = pread(fd, out, outlen - 1, 0);
		out[n > 0 ? n : 0] = '\0';
	} else {
		r = -1;
	}
	close(fd);
	return r;
}

static int provision(struct agent_conn *c, const struct box_cfg *bc,
		     const struct stage_opts *o, bool *have_mcp,
		     struct stage_result *r)
{
	char path[512], out[1024];

	for (size_t i = 0; i < bc->nskills; i++) {
		const struct skill_cfg *k = &bc->skills[i];
		if (k->type == SKILL_MCP)
			*have_mcp = true;
		if (k->type != SKILL_FILE && k->type != SKILL_INLINE)
			continue;
		char *md = skill_md(k);
		snprintf(path, sizeof(path),
			 "/workspace/.claude/skills/%s/SKILL.md", k->name);
		int e = md ? put_mem(c, path, md, strlen(md), 0644) : -1;
		free(md);
		if (e < 0) {
			stage_fail(r, CAUSE_PROVISION,
				   "provisioning skill %s: %s", k->name,
				   c->err);
			return -1;
		}
	}
	if (*have_mcp) {
		char *j = mcp_json(bc);
		int e = j ? put_mem(c, "/home/agent/.voidbox/mcp.json", j,
				    strlen(j), 0644) : -1;
		free(j);
		if (e < 0) {
			stage_fail(r, CAUSE_PROVISION,
				   "provisioning MCP config: %s", c->err);
			return -1;
		}
	}
	if (o->input && put_mem(c, "/workspace/input.json", o->input,
				o->input_len, 0644) < 0) {
		stage_fail(r, CAUSE_PROVISION, "provisioning input: %s",
			   c->err);
		return -1;
	}
	/* cli: skills are promises about the guest; check them all in one
	 * exec and name every missing tool. */
	char script[2048] = "m=; for t in";
	size_t sl = strlen(script);
	bool any = false;
	for (size_t i = 0; i < bc->nskills; i++) {
		const struct skill_cfg *k = &bc->skills[i];
		if (k->type != SKILL_CLI)
			continue;
		if (!k->name[0] || strspn(k->name, "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") !=
				  strlen(k->name)) {
			stage_fail(r, CAUSE_PROVISION, "skill cli:%s: not a "
				   "command name", k->name);
			return -1;
		}
		int w = snprintf(script + sl, sizeof(script) - sl, " '%s'",
				 k->name);
		if (w > 0 && (size_t)w < sizeof(script) - sl)
			sl += (size_t)w;
		any = true;
	}
	if (any) {
		snprintf(script + sl, sizeof(script) - sl,
			 "; do command -v \"$t\" >/dev/null || m=\"$m $t\"; "
			 "done; echo \"$m\"; [ -z \"$m\" ]");
		int code = -1;
		if (guest_sh(c, script, out, sizeof(out), &code) < 0 || code) {
			out[strcspn(out, "\n")] = '\0';
			stage_fail(r, CAUSE_PROVISION, "skill cli:%s not found "
				   "in the guest", out[0] == ' ' ? out + 1
				   : out);
			return -1;
		}
	}
	return 0;
}

/* ---- the claude-code run -------------------------------------------------- */

/* argv and env for claude-code; strings point into bc/tok/bufs. */
static void claude_cmdline(const struct box_cfg *bc, const char *tok,
			   const char *traceparent, bool have_mcp,
			   const char *prompt,
			   const char **argv, const char **envv, char *bufs,
			   size_t buflen)
{
	size_t a = 0, e = 0, off = 0;
#define KV(...) do { \
		int w_ = snprintf(bufs + off, buflen - off, __VA_ARGS__); \
		envv[e++] = bufs + off; \
		off += (size_t)w_ + 1; \
	} while (0)

	argv[a++] = "/usr/local/bin/claude";
	argv[a++] = "-p";
	argv[a++] = prompt;
	argv[a++] = "--output-format";
	argv[a++] = "stream-json";
	argv[a++] = "--verbose";
	argv[a++] = "--dangerously-skip-permissions";
	if (bc->llm.model[0]) {
		argv[a++] = "--model";
		argv[a++] = bc->llm.model;
	}
	if (have_mcp) {
		argv[a++] = "--mcp-config";
		argv[a++] = "/home/agent/.voidbox/mcp.json";
	}
	argv[a] = NULL;

	/* The user's env first: ours below override it where they clash
	 * (the base URL and key must be the gateway's). */
	for (size_t i = 0; i < bc->nenv && e < STAGE_MAX_ENV - 32; i++)
		envv[e++] = bc->env[i];
	KV("PATH=/usr/local/bin:/usr/bin:/bin");
	KV("HOME=/home/agent");
	KV("USER=agent");
	KV("TMPDIR=/tmp");
	KV("ANTHROPIC_BASE_URL=http://127.0.0.1:%d", GW_GUEST_PORT);
	KV("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1");
	if (traceparent && *traceparent)
		KV("TRACEPARENT=%s", traceparent);
	KV("CLAUDE_CODE_MAX_RETRIES=%s", getenv("VOIDBOX_CLAUDE_MAX_RETRIES")
	   ? getenv("VOIDBOX_CLAUDE_MAX_RETRIES") : "3");
	if (!strcmp(bc->llm.provider, "ollama") ||
	    !strcmp(bc->llm.provider, "lm-studio")) {
		/* Reference doc §7: every model knob to the local model, and
		 * none of the first-party-only request features. */
		const char *m = bc->llm.model[0] ? bc->llm.model : "qwen3-coder";
		KV("ANTHROPIC_AUTH_TOKEN=%s", tok);
		KV("ANTHROPIC_API_KEY=");
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
	} else {
		KV("ANTHROPIC_API_KEY=%s", tok);
	}
	envv[e] = NULL;
#undef KV
}

/* The prompt plus a bounded excerpt of the previous stage's output. */
static char *full_prompt(const struct box_cfg *bc, const struct stage_opts *o)
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

struct sampler {
	struct box *b;
	struct stage_result *r;
	atomic_bool stop;
	atomic_int fd;			/* its connection, for a prompt stop */
	struct agent_conn c;		/* closed by the joining thread, so
					   fd cannot be reused under it */
	pthread_t t;
	bool started;
};

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
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

static void run_claude(struct agent_conn *c, const struct box_cfg *bc,
		       const struct stage_opts *o, const char *tok,
		       bool have_mcp, struct stage_result *r)
{
	const char *argv[16], *envv[STAGE_MAX_ENV];
	char *bufs = malloc(16384), *prompt = full_prompt(bc, o);
	int pfd[2] = { -1, -1 };
	int efd = memfd_create("vb-stderr", MFD_CLOEXEC);
	struct reader rd = { .o = o, .name = bc->name, .r = r,
			     .raw_fd = record_open(o, bc->name, "claude.jsonl") };
	pthread_t t;

	if (!bufs || !prompt || efd < 0 || pipe2(pfd, O_CLOEXEC) < 0 ||
	    !(rd.cs = r->stream = claude_stream_new(on_event, &rd))) {
		stage_fail(r, CAUSE_INTERNAL, "cannot start claude-code: %s",
			   strerror(errno));
		goto out;
	}
	claude_cmdline(bc, tok, o->traceparent, have_mcp, prompt, argv, envv,
		       bufs, 16384);
	rd.fd = pfd[0];
	if (pthread_create(&t, NULL, reader_main, &rd)) {
		stage_fail(r, CAUSE_INTERNAL, "reader thread: %s",
			   strerror(errno));
		goto out;
	}
	struct agent_exec_req rq = {
		.argv = argv, .envv = envv, .cwd = "/workspace",
		.timeout_ms = bc->timeout_s * 1000u, .stdin_fd = -1,
		.stdout_fd = pfd[1], .stderr_fd = efd,
	};
	int e = agent_exec(c, &rq, &r->exec);
	close(pfd[1]);
	pfd[1] = -1;
	pthread_join(t, NULL);
	/* The stderr tail explains failures claude did not report itself. */
	off_t sz = lseek(efd, 0, SEEK_END);
	off_t from = sz > STDERR_TAIL ? sz - STDERR_TAIL : 0;
	ssize_t got = pread(efd, r->stderr_tail, sizeof(r->stderr_tail) - 1,
			    from);
	r->stderr_tail[got > 0 ? got : 0] = '\0';
	int sfd = record_open(o, bc->name, "claude.stderr");
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
		stage_fail(r, CAUSE_AGENT, "claude-code did not start: %s",
			   r->exec.errmsg);
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
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (efd >= 0)
		close(efd);
	free(prompt);
	free(bufs);
}

/* /workspace/<output_file>, else the first /workspace/output.*. */
static void collect(struct agent_conn *c, const struct box_cfg *bc,
		    struct stage_result *r)
{
	char path[512], out[600];
	int code = -1;

	if (bc->output_file[0]) {
		snprintf(path, sizeof(path), "%s%s", bc->output_file[0] == '/'
			 ? "" : "/workspace/", bc->output_file);
	} else {
		if (guest_sh(c, "for f in /workspace/output.*; do [ -f \"$f\" ]"
			     " && echo \"$f\" && exit 0; done; exit 1", out,
			     sizeof(out), &code) < 0 || code)
			return;		/* no output file: the result text is
					   the output */
		out[strcspn(out, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s", out);
	}
	int fd = memfd_create("vb-output", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (agent_get(c, path, fd) == 0) {
		off_t n = lseek(fd, 0, SEEK_END);
		if (n > OUTPUT_MAX) {
			stage_fail(r, CAUSE_OUTPUT, "%s: %lld bytes, over the "
				   "%u MiB output limit", path, (long long)n,
				   OUTPUT_MAX >> 20);
		} else if ((r->output = malloc((size_t)n + 1))) {
			ssize_t g = pread(fd, r->output, (size_t)n, 0);
			r->output_len = g > 0 ? (size_t)g : 0;
			r->output[r->output_len] = '\0';
			snprintf(r->output_path, sizeof(r->output_path), "%s",
				 path);
		}
	} else if (bc->output_file[0]) {
		stage_fail(r, CAUSE_OUTPUT, "output file %s: %s", path,
			   c->err);
	}
	close(fd);
}

int stage_run(const struct box_cfg *bc, const struct stage_opts *o,
	      struct stage_result *r)
{
	struct gw_upstream up;
	struct gw_budget budget = { .max_tokens = bc->llm.max_tokens,
				    .max_usd = bc->llm.max_usd };
	struct box b = { .pid = -1, .sock = -1, .svc_fd = -1 };
	struct gateway *gw = NULL;
	struct agent_conn c = { .fd = -1 };
	char err[512];
	bool have_mcp = false;
	uint64_t t0 = now_ns(), t;

	*r = (struct stage_result){ .status = STAGE_OK,
				    .start_unix_ns = otel_now_ns() };
	snprintf(r->name, sizeof(r->name), "%s", bc->name);
	if (o->span_ids) {
		memcpy(r->span_stage, o->span_ids, 8);
		memcpy(r->span_claude, o->span_ids + 8, 8);
	}
	if (upstream_for(&bc->llm, &up, err, sizeof(err)) < 0) {
		stage_fail(r, CAUSE_CONFIG, "%s", err);
		return -1;
	}
	if (!o->tools_disk && o->tools_fd <= 0) {
		stage_fail(r, CAUSE_CONFIG, "no claude-code tools image: %s; "
			   "use the full voidbox release, or pass --tools-disk "
			   "FILE (or set VOIDBOX_TOOLS_DISK)", o->tools_err
			   ? o->tools_err : "none given");
		return -1;
	}
	/* The spec's VM as it is, plus what a claude stage adds: the tools
	 * disk, the gateway's service channel and relay port, the console
	 * and the whole-VM backstop. A shallow copy: bc keeps its lists. */
	char extra[64];
	snprintf(extra, sizeof(extra), "%s%d", AGENT_CMDLINE_GW, GW_GUEST_PORT);
	struct vm_cfg cfg = bc->vm;
	cfg.console = o->console;
	cfg.append = extra;
	cfg.timeout_ms = (bc->timeout_s + 120) * 1000u;
	cfg.disk[0] = (struct vm_disk_cfg){ .path = (char *)o->tools_disk,
					    .fd = o->tools_fd,
					    .off = o->tools_off,
					    .len = o->tools_len, .ro = true };
	cfg.ndisks = 1;
	cfg.services = true;
	if (box_spawn(&b, &cfg, err, sizeof(err)) < 0) {
		stage_fail(r, CAUSE_VM_START, "%s", err);
		goto teardown;
	}
	if (!(gw = gateway_start(b.svc_fd, &up, &budget, o->gw_pool, bc->name, err,
				 sizeof(err)))) {
		stage_fail(r, CAUSE_GATEWAY, "%s", err);
		goto teardown;
	}
	if (box_wait_ready(&b, READY_TIMEOUT_MS, err, sizeof(err)) < 0) {
		stage_fail(r, CAUSE_VM_START, "%s", err);
		goto teardown;
	}
	t = now_ns();
	r->boot_ns = t - t0;
	if (agent_open(&c, &b, 10000) < 0) {
		stage_fail(r, CAUSE_VM_START, "agent: %s", c.err);
		goto teardown;
	}
	if (provision(&c, bc, o, &have_mcp, r) < 0)
		goto teardown;
	r->provision_ns = now_ns() - t;
	t = now_ns();
	struct sampler smp = { .b = &b, .r = r, .fd = -1, .c = { .fd = -1 } };
	smp.started = pthread_create(&smp.t, NULL, sampler_main, &smp) == 0;
	run_claude(&c, bc, o, gateway_token(gw), have_mcp, r);
	r->run_ns = now_ns() - t;
	if (smp.started) {
		/* Wake it now rather than at its next sample. */
		atomic_store(&smp.stop, true);
		int sfd = atomic_load(&smp.fd);
		if (sfd >= 0)
			shutdown(sfd, SHUT_RDWR);
		pthread_join(smp.t, NULL);
		agent_close(&smp.c);
	}
	if (bc->vm.net.enabled) {
		char nd[512];
		int code = -1;
		if (guest_sh(&c, "awk '/eth0:/ { print $2, $10 }' /proc/net/dev",
			     nd, sizeof(nd), &code) == 0 && code == 0)
			sscanf(nd, "%" SCNu64 " %" SCNu64, &r->guest_net_rx,
			       &r->guest_net_tx);
	}
	t = now_ns();
	if (r->exec.err == 0 && r->cause != CAUSE_TIMEOUT)
		collect(&c, bc, r);
	r->collect_ns = now_ns() - t;
teardown:
	t = now_ns();
	/* Nothing in the VM outlives the stage (its disks are read-only or
	 * RAM), so there is no guest shutdown to wait for: the VMM stops the
	 * vCPUs and exits at once. */
	agent_close(&c);
	if (b.pid > 0) {
		box_stop(&b, 2000);
		stage_vm_ended(r, box_vmm_crashed(&b),
			       box_end_reason(&b, err, sizeof(err)));
	}
	if (gw) {
		gateway_get_stats(gw, &r->gw);
		gateway_stop(gw);
		if (r->gw.key_blocked) {
			/* Above any other outcome: the upstream tried to hand
			 * the key to the guest (stopped by the gateway). */
			set_cause(r, CAUSE_KEY_LEAK);
			snprintf(r->error, sizeof(r->error), "security: the "
				 "upstream's reply contained the API key %u "
				 "time(s); the gateway did not relay it and "
				 "aborted the stream", r->gw.key_blocked);
		}
	}
	int cfd = record_open(o, bc->name, "console.txt");
	if (cfd >= 0) {
		agent_write_all(cfd, b.console, strlen(b.console));
		close(cfd);
	}
	box_close(&b);
	r->teardown_ns = now_ns() - t;
	r->total_ns = now_ns() - t0;
	r->guest_rss_kb = b.guest_rss_kb;
	return r->status == STAGE_OK ? 0 : -1;
}

void stage_result_free(struct stage_result *r)
{
	claude_stream_free(r->stream);
	r->stream = NULL;
	free(r->output);
	r->output = NULL;
	free(r->tool_times);
	r->tool_times = NULL;
}

const char *stage_result_text(const struct stage_result *r)
{
	if (r->mock)
		return r->mock_text[0] ? r->mock_text : NULL;
	return r->stream ? claude_stream_result(r->stream)->result_text : NULL;
}

static bool kvm_usable;
static char kvm_why[200];

/* A usable KVM opens, and is not nested PVM (which runs only our tiny
 * test guests, never Linux user space: docs/architecture.md §0). */
static void probe_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(kvm_why, sizeof(kvm_why), "/dev/kvm: %s",
			 strerror(errno));
		return;
	}
	close(fd);
	if (kvm_is_pvm() && !getenv("VOIDBOX_ALLOW_PVM")) {
		snprintf(kvm_why, sizeof(kvm_why), "this host's /dev/kvm is "
			 "nested PVM, which cannot run Linux guests");
		return;
	}
	kvm_usable = true;
}

static void announce_mock(void)
{
	log_say("voidbox", "MOCK MODE: %s; sandbox.mode auto falls back to "
		"the deterministic fake agent: no VM and no model run. Set "
		"sandbox.mode: local to insist on VMs.", kvm_why);
}

bool stage_mode_mock(enum run_mode mode, char *why, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (mode == MODE_MOCK)
		return true;
	pthread_once(&once, probe_kvm);
	snprintf(why, len, "%s", kvm_why);
	return !kvm_usable && mode == MODE_AUTO;
}

int stage_run_any(const struct box_cfg *bc, const struct stage_opts *o,
		  struct stage_result *r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	static pthread_once_t told = PTHREAD_ONCE_INIT;

	if (bc->mode == MODE_MOCK)
		return mock_run(bc, o, r);
	pthread_once(&once, probe_kvm);
	if (kvm_usable)
		return stage_run(bc, o, r);
	if (bc->mode == MODE_AUTO) {
		pthread_once(&told, announce_mock);
		return mock_run(bc, o, r);
	}
	*r = (struct stage_result){ .status = STAGE_OK };
	snprintf(r->name, sizeof(r->name), "%s", bc->name);
	stage_fail(r, CAUSE_NO_KVM, "%s (sandbox.mode local needs a KVM that "
		   "runs Linux guests: VMX/SVM, or nested KVM on one)",
		   kvm_why);
	return -1;
}
