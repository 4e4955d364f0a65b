/* run.h: table of contents of host/run/ — running an agent (claude-code)
 * inside a box and making sense of what it prints. Everything that comes
 * out of the guest is untrusted: it is bounded, type-checked and cleaned
 * before use, and bad input is skipped and counted, never fatal (R7 b).
 */
#ifndef VOIDBOX_RUN_H
#define VOIDBOX_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../agent/agent.h"
#include "../gateway/gateway.h"
#include "../spec/spec.h"

/* stream.c: incremental parser for `claude -p --output-format stream-json
 * --verbose` (one JSON object per line; shapes in claude-code-headless.md
 * §3). Bytes are fed as they arrive, in chunks of any size; the result
 * accumulates in a struct claude_result. A stream is used by one thread
 * at a time; streams share no state, so several may run in parallel. */

enum claude_event_kind { CE_INIT, CE_TEXT, CE_TOOL_USE, CE_TOOL_RESULT, CE_RESULT };

/* Passed to the event callback. Every pointer is valid only during the
 * callback, may be NULL, and points to NUL-terminated, valid UTF-8. */
struct claude_event {
	enum claude_event_kind kind;
	const char *name;	/* CE_TOOL_USE: tool name; CE_INIT: model */
	const char *id;		/* CE_TOOL_USE/CE_TOOL_RESULT: tool_use id;
				 * CE_INIT: session id */
	/* CE_TEXT: the text, at most CLAUDE_MAX_FIELD bytes, control chars
	 * other than \n and \t replaced.
	 * CE_TOOL_USE: one-line summary of the input (Bash: the command;
	 * Read/Write/Edit: file_path; else compact JSON).
	 * CE_TOOL_RESULT: the output.
	 * Both cut to CLAUDE_SUMMARY bytes, all control chars replaced.
	 * CE_RESULT: the result text (else errors[] joined), as CE_TEXT. */
	const char *text;
	bool is_error;		/* CE_TOOL_RESULT, CE_RESULT */
};
/* Called from inside claude_stream_feed/finish; must not call back into
 * the same stream. */
typedef void (*claude_event_fn)(void *ctx, const struct claude_event *ev);

/* Strings below are owned by the stream, NUL-terminated, valid UTF-8
 * (invalid bytes become '?'). Ids, names, model, subtype and such are cut
 * to CLAUDE_MAX_ID bytes with control chars replaced; text fields keep
 * their control chars and are cut to CLAUDE_MAX_FIELD bytes. */
struct claude_tool_call {
	char *id, *name;
	char *input_json;	/* compact JSON of the input; when cut, a
				 * prefix (so not valid JSON); NULL if none */
	char *output;		/* tool_result content (a string, or its
				 * text blocks joined with \n); NULL if none */
	bool input_truncated, output_truncated, has_output, is_error;
};

struct claude_result {
	bool have_result;	/* a type:result line was seen (the last
				 * one wins) */
	/* The result line's is_error, not its subtype: API errors come as
	 * subtype "success" with is_error true. When is_error is missing or
	 * not a bool: subtype != "success". */
	bool is_error;
	char *result_text;	/* NULL for error_max_turns */
	char *subtype, *terminal_reason;
	char *model;		/* system/init, else first real assistant
				 * message */
	char *session_id;	/* system/init, overridden by the result */
	char *errors;		/* errors[] joined with "; ", NULL if none */
	int api_error_status;	/* 0 when null/absent/out of range */
	unsigned num_turns;
	uint64_t input_tokens, output_tokens, cache_creation_tokens,
		cache_read_tokens;
	double cost_usd;	/* finite, >= 0 */
	uint64_t duration_ms, duration_api_ms;
	struct claude_tool_call *tools;	/* in tool_use order; results
					 * matched by id */
	size_t ntools;
	size_t tools_dropped;	/* tool_use blocks past CLAUDE_MAX_TOOLS */
	unsigned bad_lines;	/* non-JSON or malformed lines skipped */
	unsigned long long bytes;	/* total bytes fed */
};

#define CLAUDE_MAX_LINE (8u << 20)	/* a longer line is skipped (counted
					 * in bad_lines), never buffered whole */
#define CLAUDE_MAX_FIELD (64u << 10)
#define CLAUDE_MAX_TOOLS 4096	/* more tool calls are counted, not stored */
/* Tool inputs and outputs together keep about this much per stream;
 * past it only a CLAUDE_SUMMARY-byte prefix of each is stored (flagged
 * input_truncated/output_truncated). Without it 4096 tools x 2 x 64 KiB
 * would be 512 MiB. */
#define CLAUDE_MAX_STORED (32u << 20)
#define CLAUDE_MAX_ID 256
#define CLAUDE_SUMMARY 200
/* Lines nested deeper, or with more JSON values, are skipped before
 * cJSON sees them: cJSON recurses per level (musl threads have 128 KiB
 * stacks) and spends ~64 bytes per value. */
#define CLAUDE_MAX_DEPTH 128
#define CLAUDE_MAX_VALUES (1u << 16)

/* NULL on allocation failure. fn may be NULL. */
struct claude_stream *claude_stream_new(claude_event_fn fn, void *ctx);
/* Consume len bytes (any split; copies what it keeps). Never fails: on
 * allocation failure the line at hand is dropped and counted bad. */
void claude_stream_feed(struct claude_stream *s, const void *buf, size_t len);
/* Parse a final line that had no newline. Later feeds start a new line. */
void claude_stream_finish(struct claude_stream *s);
/* Owned by the stream, valid until the next feed/finish/free. */
const struct claude_result *claude_stream_result(const struct claude_stream *s);
/* One-line description of the failure (API status + result text, or
 * errors[], or "no result line"), control chars replaced; NULL if the run
 * succeeded (or on allocation failure). Caller frees. */
char *claude_result_error(const struct claude_result *r);
/* The result as one compact JSON object: result, is_error, subtype,
 * terminal_reason, api_error_status, errors, model, session_id,
 * num_turns, usage{input_tokens, output_tokens,
 * cache_creation_input_tokens, cache_read_input_tokens},
 * total_cost_usd, duration_ms, duration_api_ms, tool_calls[{id, name,
 * input (parsed JSON; a string when cut), output, is_error, truncated}],
 * tool_calls_dropped, bad_lines. Caller frees (free()); NULL on OOM. */
char *claude_result_json(const struct claude_result *r);
/* Frees everything, including the result; NULL is fine. */
void claude_stream_free(struct claude_stream *s);


/* stage.c: one agent stage in a fresh VM — boot, provision skills and
 * input, claude-code against the gateway, collect /workspace/output.*,
 * power off. Blocking; safe to run several at once in threads. */
#define STAGE_MAX_ENV 320

enum stage_status { STAGE_OK, STAGE_FAILED, STAGE_TIMEOUT, STAGE_VM,
		    STAGE_CONFIG };

/* Why a stage ended, set where it happened. The status (and so the exit
 * code) follows from the cause, never from the error text, which is for
 * people and may be reworded freely. The first cause wins. */
enum stage_cause {
	CAUSE_NONE,		/* succeeded */
	CAUSE_CONFIG,		/* the box's settings: nothing ran */
	CAUSE_NO_KVM,		/* sandbox.mode local on a host without KVM */
	CAUSE_VM_START,		/* the VM did not start, boot or answer */
	CAUSE_VMM_DIED,		/* the VMM process died (crash, kill) */
	CAUSE_GATEWAY,		/* the LLM gateway could not start */
	CAUSE_PROVISION,	/* skills or input could not be put in place */
	CAUSE_AGENT_LOST,	/* the connection to the guest agent broke */
	CAUSE_TIMEOUT,		/* the agent ran past timeout_s */
	CAUSE_AGENT,		/* the agent failed, or did not start */
	CAUSE_OUTPUT,		/* the output file: missing or too large */
	CAUSE_KEY_LEAK,		/* the upstream's reply held the API key */
	CAUSE_INTERNAL,		/* out of memory, threads, pipes */
};

/* A stage's progress, for a live display (the run panel): where it is,
 * the claude-code event that just came (PH_AGENT, else NULL), what the
 * gateway has counted so far, and at PH_DONE the whole result. */
enum stage_phase { PH_BOOT, PH_AGENT, PH_COLLECT, PH_DONE };
struct stage_progress {
	enum stage_phase phase;
	const struct claude_event *ev;
	uint64_t tokens_in, tokens_out;
	double usd;
	const struct stage_result *r;
};

struct stage_opts {
	const void *input;		/* previous stage's output, or NULL */
	size_t input_len;
	const char *tools_disk;		/* claude-code tools image path */
	int tools_fd;			/* >0: already open (not owned) ... */
	uint64_t tools_off, tools_len;	/* ... with the image at this window
					   (the executable's own trailer) */
	const char *tools_err;		/* why there is none, for the error */
	const uint8_t *tools_sha256;	/* the embedded image's, or NULL */
	bool cold;			/* no warm starts (warm.c) */
	char traceparent[64];		/* W3C, for the guest's claude-code
					   (TRACEPARENT); "" = none */
	const char *run_dir;		/* keep records under run_dir/<box>/,
					   or NULL */
	const uint8_t *span_ids;	/* 16 bytes: stage, claude span ids
					   (copied into the result), or NULL */
	bool console;
	/* Request-body memory shared by the run's gateways (pipeline_run
	 * makes one per run); NULL: each VM's own bound only. */
	struct gw_pool *gw_pool;
	/* claude-code's own terminal UI on ours instead of a headless run
	 * (interactive.c): always a cold boot, no output collected. */
	bool interactive;
	/* Live events from claude-code (tool calls, text, result), called
	 * from a reader thread; may be NULL. */
	void (*on_event)(void *ctx, const char *stage,
			 const struct claude_event *ev);
	void *ctx;
	/* Progress of the stage (phases, events with the tokens so far),
	 * from its own threads; may be NULL. */
	void (*on_progress)(void *ctx, const char *stage,
			    const struct stage_progress *p);
	void *progress_ctx;
	struct gateway *gw;		/* stage_run's own, while it runs */
	/* A resumed run (`voidbox resume`): boxes whose recorded output is
	 * here are not run again; their result is that output. */
	const struct resume_out *resume;
	size_t nresume;
};
struct resume_out {
	char box[64];
	char *output;
	size_t len;
};
/* Tell o's on_progress, if any. */
void stage_progress(const struct stage_opts *o, const char *stage,
		    enum stage_phase ph, const struct claude_event *ev,
		    const struct stage_result *r);

/* warm.c: a stage's VM from its configuration's template snapshot, or
 * the template made from it (docs/snapshots.md); with named, the
 * sandbox.snapshot a spec names (then a failure is the stage's). begin
 * decides (restore:
 * boot rcfg instead; make: snapshot after ready); ready finishes a
 * restore (the clone's identity) or makes the template (failures to
 * make one only logged); end frees. 0, or -1 with err. */
#include "../snap/snap.h"
struct warm {
	bool on, restore, make;
	bool waiting;			/* the template holds a waiting
					   claude-code (meta.park_id) */
	bool gw_port;			/* start the gateway relay on resume */
	char name[SNAP_NAME_MAX + 1];
	struct snap_meta meta;
	struct vm_cfg rcfg;
	char hostname[VM_HOSTNAME_MAX];
};
int warm_begin(struct warm *w, const struct vm_cfg *cfg,
	       const struct stage_opts *o, const struct box_cfg *bc,
	       char *err, size_t errlen);
int warm_ready(struct warm *w, struct box *b, const struct vm_cfg *cfg,
	       const struct stage_opts *o, const char *image, const char *stage,
	       char *err, size_t errlen);
/* Make the template now (a waiting one once its claude-code answered:
 * park_id); a failure is only logged. */
void warm_make(struct warm *w, struct box *b, const struct vm_cfg *cfg,
	       const struct stage_opts *o, const char *image,
	       const char *stage, uint32_t park_id);
void warm_end(struct warm *w);

struct stage_result {
	char name[64];
	enum stage_status status;	/* stage_status_of(cause) */
	enum stage_cause cause;
	char error[512];		/* the cause, for people, when status
					   != OK */
	struct claude_stream *stream;	/* parsed claude-code output */
	struct agent_exec_res exec;
	char stderr_tail[4096];
	char *output;			/* output file bytes (NUL-terminated),
					   or NULL */
	size_t output_len;
	char output_path[512];
	struct gw_stats gw;
	bool warm;			/* restored from its template */
	bool resumed;			/* not run: its recorded output
					   (stage_opts.resume) */
	bool waiting;			/* claude-code was already waiting
					   in it (attached, not started) */
	uint64_t boot_ns, provision_ns, run_ns, collect_ns, teardown_ns,
		 total_ns;
	uint64_t guest_rss_kb;
	bool mock;			/* mock mode: no VM, no model */
	bool vmm_died;			/* cause == CAUSE_VMM_DIED */
	/* For traces: when the stage began (Unix ns), its span ids (made
	 * before the run so the guest can be handed its context), and the
	 * times tool calls were seen starting and ending. */
	uint64_t start_unix_ns;
	/* Guest telemetry while claude-code ran (the agent's 1 s samples):
	 * CPU seconds used, peak memory in use, and eth0 bytes if a NIC. */
	unsigned guest_samples;
	double guest_cpu_s;
	uint64_t guest_mem_peak_kb, guest_net_rx, guest_net_tx;
	uint8_t span_stage[8], span_claude[8];
	struct tool_time {
		char id[64];
		uint64_t start_ns, end_ns;	/* Unix ns, 0 = not seen */
	} *tool_times;
	size_t ntool_times;
	char mock_text[128];		/* mock mode's result text */
	char attach_name[48];		/* `voidbox attach` reaches its VM
					   as this while it runs, or "" */
};

/* The status a cause gives a stage. */
enum stage_status stage_status_of(enum stage_cause c);
/* Record why the stage failed: cause, status and message, unless a cause
 * is already recorded (the first one wins). */
void stage_fail(struct stage_result *r, enum stage_cause c, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));
/* The stage's VM is gone; died: its VMM process died rather than being
 * stopped, and why says how it ended (box_end_reason). A VMM that died
 * under a stage that was going well, or under one whose agent connection
 * broke or whose VM would not start, is the cause; a lost connection
 * also gets why appended to its message. */
void stage_vm_ended(struct stage_result *r, bool died, const char *why);

struct box_cfg;
/* 0 when the stage succeeded; -1 with r->status/cause/error. Free r
 * after. */
int stage_run(const struct box_cfg *bc, const struct stage_opts *o,
	      struct stage_result *r);
void stage_result_free(struct stage_result *r);
/* The stage in the mode its config asks for: a VM (stage_run), or the
 * mock agent for mode mock, and for mode auto when this host has no
 * usable /dev/kvm (announced once on stderr). */
int stage_run_any(const struct box_cfg *bc, const struct stage_opts *o,
		  struct stage_result *r);
/* Should a run in `mode` use the mock agent here? (mock, or auto where
 * KVM cannot run Linux guests; why says what is missing.) */
bool stage_mode_mock(enum run_mode mode, char *why, size_t len);
/* 0 when bc's LLM upstream resolves on this host as stage_run will need
 * it (provider supported, base URL valid, key variable set); else -1 and
 * err says why. Keeps no copy of the key. */
int stage_preflight(const struct box_cfg *bc, char *err, size_t errlen);
/* claude's result text, or the mock's; NULL if none. */
const char *stage_result_text(const struct stage_result *r);
/* A record file under o->run_dir/<box>/ (created), or -1 without a run
 * dir or on error: records are best effort, they never fail a stage.
 * Caller closes. */
int stage_record_open(const struct stage_opts *o, const char *box,
		      const char *file);
/* The guest loopback port claude-code reaches the gateway's relay on. */
#define GW_GUEST_PORT 4080

/* claude.c: claude-code in the stage's VM (argv and env against the
 * gateway, its stream-json read live into r->stream and the run dir),
 * and the guest's telemetry sampled meanwhile. */
struct box;
/* Run claude-code over c (the stage's agent connection) with tok as its
 * API key, until it exits or bc->timeout_s; records why it failed in r
 * (stage_fail). have_mcp: pass the provisioned MCP config. */
void claude_run(struct agent_conn *c, const struct box_cfg *bc,
		const struct stage_opts *o, const char *tok, bool have_mcp,
		uint32_t park_id, struct stage_result *r);
/* claude-code's argv and env (strings point into bc/tok/bufs). prompt
 * NULL: the waiting form (stream-json input, the key from
 * WAITING_TOKEN_FILE, the run's TRACEPARENT from WAITING_ENV_FILE for
 * its Bash commands) — tok and traceparent unused then. */
#define WAITING_TOKEN_FILE "/home/agent/.voidbox/gateway-token"
#define WAITING_ENV_FILE   "/home/agent/.voidbox/run-env.sh"
enum claude_form {
	CLAUDE_PRINT,		/* -p PROMPT, stream-json out */
	CLAUDE_WAITING,		/* -p, the prompt as stream-json in */
	CLAUDE_INTERACTIVE,	/* its terminal UI; PROMPT (if any) first */
};
void claude_cmdline(const struct box_cfg *bc, const char *tok,
		    const char *traceparent, bool have_mcp,
		    enum claude_form form, const char *prompt,
		    const char **argv, const char **envv, char *bufs,
		    size_t buflen);
/* The stage's prompt plus a bounded excerpt of its input. Caller frees;
 * NULL on allocation failure. */
char *claude_prompt(const struct box_cfg *bc, const struct stage_opts *o);
/* interactive.c: claude-code's terminal UI on a terminal joined to ours
 * (`voidbox shell`, agent.mode interactive): its first-run dialogs
 * answered in its settings, the stage's prompt as its first message;
 * r->exec gets its exit. */
void claude_interactive(struct agent_conn *c, const struct box_cfg *bc,
			const struct stage_opts *o, const char *tok,
			bool have_mcp, struct stage_result *r);
/* A thread on its own agent connection to b, keeping r's guest_*
 * counters (CPU, memory peak) from the agent's 1 s samples. Lives on the
 * caller's stack between start and stop; a failed start is silent (no
 * samples). */
struct claude_sampler {
	struct box *b;
	struct stage_result *r;
	atomic_bool stop;
	atomic_int fd;			/* its connection, for a prompt stop */
	struct agent_conn c;		/* closed by the joining thread, so
					   fd cannot be reused under it */
	pthread_t t;
	bool started;
};
void claude_sampler_start(struct claude_sampler *s, struct box *b,
			  struct stage_result *r);
/* Wakes the thread at once, joins it, closes its connection. */
void claude_sampler_stop(struct claude_sampler *s);

/* provision.c: what goes into the VM before claude-code (skills as
 * SKILL.md, the MCP config, /workspace/input.json, a check that every
 * cli: skill exists) and what comes out after (the output file). Each
 * records its failure in r (stage_fail) and returns -1. */
/* Skills, the MCP config, the cli: check (what a waiting claude-code
 * needs before it starts); *have_mcp: an mcp skill was provisioned. */
int provision_run(struct agent_conn *c, const struct box_cfg *bc,
		  bool *have_mcp, struct stage_result *r);
/* The previous stage's output as /workspace/input.json (per stage). */
int provision_input(struct agent_conn *c, const struct stage_opts *o,
		    struct stage_result *r);
bool provision_has_mcp(const struct box_cfg *bc);
/* n bytes at p into the guest file path (root's, mode). 0 or -1. */
int provision_put(struct agent_conn *c, const char *path, const void *p,
		  size_t n, uint32_t mode);

/* waiting.c: the waiting agent — claude-code started in a stage's
 * template in its waiting form (claude_cmdline, prompt NULL) and parked
 * (AGENT_EXEC_PARK) once it answers; every stage from the template
 * writes its own gateway token and attaches with its prompt
 * (claude_run's park_id). key: a hex digest of what shapes that
 * process (argv, env, skills, MCP servers), for the template's name. */
#define WAITING_READY_MS 110000u	/* claude-code's start, at most */
void waiting_key(const struct box_cfg *bc, char key[65]);
int waiting_start(struct box *b, const struct box_cfg *bc, bool have_mcp,
		  unsigned timeout_ms, uint32_t *park_id, char *err,
		  size_t errlen);
/* The stage's own part of a waiting claude-code: its gateway token and
 * the run's TRACEPARENT (NULL: none) for its Bash commands. */
int waiting_token(struct agent_conn *c, const char *tok,
		  const char *traceparent, struct stage_result *r);
/* /workspace/<output_file>, else the first /workspace/output.*, into
 * r->output; none is fine unless output_file names it. */
void provision_collect(struct agent_conn *c, const struct box_cfg *bc,
		       struct stage_result *r);
/* Run a short shell snippet as root (60 s at most); its stdout, bounded,
 * into out. 0 with *code its exit code, or -1. */
int provision_sh(struct agent_conn *c, const char *script, char *out,
		 size_t outlen, int *code);

/* mock.c: the deterministic fake agent (no VM, no model). */
int mock_run(const struct box_cfg *bc, const struct stage_opts *o,
	     struct stage_result *r);
unsigned mock_peak_concurrency(void);	/* most mock stages at once */
/* The run was interrupted: mock stages stop (async-signal-safe). */
void mock_interrupt(void);

/* pipeline.c: stages in order; fan_out branches concurrently (at most
 * `parallel` VMs at once), joined as a JSON array in declaration order;
 * a failed stage skips the rest. 0 on success, -1 with pr->failed naming
 * the first failed box. Free with pipeline_result_free. */
struct pipeline_cfg;
struct otel_exporter;

/* One run's state: made by the run's entry point (vb_run), passed down,
 * destroyed at its end. Nothing of it is shared with other runs, so a
 * process may run several pipelines at once, each in its own thread. */
struct run_ctx {
	pthread_mutex_t lock;		/* the VM pool: */
	pthread_cond_t cv;
	unsigned running, limit, peak;	/* boxes running, at most, most */
	struct gw_pool mem;		/* request bodies of the run's
					   gateways (host/gateway/budget.c) */
	struct otel_exporter *otel;	/* the run's OTLP exporter; NULL:
					   not tracing */
};
/* At most `parallel` (0: 1) boxes at once; starts the run's exporter
 * when pc configures one (telemetry_begin). 0, or -1 (out of
 * resources: nothing to destroy). */
int run_ctx_init(struct run_ctx *rc, const struct pipeline_cfg *pc,
		 unsigned parallel);
/* Stops the exporter (bounded wait, telemetry_end) and frees the rest. */
void run_ctx_destroy(struct run_ctx *rc);
struct pipeline_result {
	struct stage_result *results;	/* per box, in pc->boxes order */
	bool *ran;			/* per box: started (else skipped) */
	char failed[64];
	unsigned peak_parallel;		/* most boxes that ran at once */
	uint64_t start_unix_ns, end_unix_ns;
	uint8_t trace_id[16], span_id[8], parent_span[8];	/* parent: the
					   caller's TRACEPARENT, or zeros */
	uint8_t (*box_spans)[16];	/* per box: stage, claude span ids */
	char *output;			/* the last stage's output */
	size_t output_len;
	bool refused;			/* the pre-flight refused box `failed`
					   (STAGE_CONFIG): nothing ran */
};
/* Before the first VM boots, every box that will run on one has its LLM
 * upstream resolved (stage_preflight); the first that fails, in box
 * order, fails the run with nothing started (pr->refused). */
int pipeline_run(struct run_ctx *rc, const struct pipeline_cfg *pc,
		 const struct stage_opts *base, struct pipeline_result *pr);
void pipeline_result_free(const struct pipeline_cfg *pc,
			  struct pipeline_result *pr);

/* telemetry.c: OTLP export of finished runs (host/otel/). begin returns
 * the run's exporter when an endpoint is configured (observe.otlp_endpoint,
 * or VOIDBOX_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT), else NULL:
 * not tracing, and the calls below do nothing. A dead collector never
 * fails or slows a run (bounded queue, drops counted and reported once
 * by telemetry_end, which frees the exporter). */
struct otel_exporter *telemetry_begin(const struct pipeline_cfg *pc);
/* Ids for a run about to start: trace (the caller's TRACEPARENT when it
 * parses), the pipeline span, and each box's stage and claude spans. */
void telemetry_ids(struct otel_exporter *ex, struct pipeline_result *pr,
		   size_t nboxes);
/* Spans, metrics and logs of a finished pipeline. */
void telemetry_pipeline(struct otel_exporter *ex,
			const struct pipeline_cfg *pc,
			const struct pipeline_result *pr);
void telemetry_end(struct otel_exporter *ex);

/* workflow.c: kind workflow, every step in one VM (or mock). 0 when every
 * (non-service) step succeeded; -1 with wr->failed / wr->error. */
enum step_status { STEP_PENDING, STEP_RUNNING, STEP_OK, STEP_FAILED,
		   STEP_TIMEOUT, STEP_SKIPPED };
struct step_result {
	enum step_status status;
	int exit_code;
	char error[256];
	char *out;			/* stdout (bounded), NUL-terminated */
	size_t out_len;
	uint64_t ns;
};
struct workflow_result {
	struct step_result *steps;
	size_t nsteps;
	bool mock, vm_failed;
	char failed[64];		/* first failed step */
	char error[512];		/* the VM could not start */
	char *output;
	size_t output_len;
	uint64_t ns;
};
struct workflow_cfg;
int workflow_run(const struct workflow_cfg *wc, const char *in, size_t in_len,
		 bool mock, bool console, struct workflow_result *wr);
void workflow_result_free(struct workflow_result *wr);

#endif
