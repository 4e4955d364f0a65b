/* voidbox.h: the public C API of libvoidbox — run claude-code agents in
 * KVM micro-VMs, one VM per stage, composed into pipelines.
 *
 * Self-contained C99; no internal type leaks through it. Link a program
 * statically with musl against libvoidbox.a and its libraries:
 *
 *     musl-gcc -static prog.c -I build/include build/libvoidbox.a \
 *         -L build/sysroot/lib -lcjson -lyaml -lbearssl -lseccomp -lz \
 *         -lpthread
 *
 * and call vb_main_hook(argc, argv) first thing in main(): each VM is
 * driven by a copy of the running executable re-executed in a hidden
 * role, and the hook is where that copy turns into the VM monitor.
 *
 *     int main(int argc, char **argv)
 *     {
 *             vb_main_hook(argc, argv);
 *             vb_box *a = vb_box_new("writer");
 *             vb_box_prompt(a, "Write a haiku to /workspace/output.md");
 *             vb_pipeline *p = vb_pipeline_new("demo");
 *             vb_pipeline_pipe(p, a);          (p now owns a)
 *             vb_result *r = vb_run(p);
 *             ...vb_result_output(r, &len)...
 *             int rc = vb_result_exit_code(r);
 *             vb_result_free(r);
 *             vb_pipeline_free(p);
 *             return rc;
 *     }
 *
 * Errors. Nothing here aborts or exits (vb_main_hook aside, by design).
 * A setter that gets a bad value (NULL, out of range, too long) returns
 * VB_CONFIG and records the first such error on its object; the object
 * stays usable, and vb_run reports the error as a result whose exit code
 * is VB_CONFIG, so a chain of setters needs one check, at the end.
 * Every function accepts NULL objects (and does nothing, or returns the
 * "empty" value); only out-of-memory yields NULL from a constructor.
 *
 * Threads. Objects are not locked: use each one from one thread at a
 * time. vb_run may be called from any thread, and several threads may
 * run different pipelines at once: each run has its own VM pool (its
 * parallel limit) and its own telemetry exporter, and shares nothing with
 * the others. Stages' threads are the library's, with musl's default
 * stack; the thread calling vb_run needs no more than that either.
 *
 * Strings returned as `const char *` belong to their object and live
 * until it is freed; `char *` results are the caller's, freed with free().
 */
#ifndef VOIDBOX_H
#define VOIDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes: also the exit codes of `voidbox run` (docs/cli.md). */
enum vb_code {
	VB_OK = 0,		/* every stage succeeded */
	VB_FAILED = 1,		/* a stage failed (its agent, its output) */
	VB_CONFIG = 2,		/* bad configuration: nothing was run */
	VB_VMM_DIED = 123,	/* a stage's VMM process died (crashed or
				   was killed) */
	VB_TIMEOUT = 124,	/* a stage ran out of time */
	VB_VM_ERROR = 125	/* a VM could not be started */
};

/* Where a box runs. AUTO: a VM when /dev/kvm is usable, else the mock
 * agent (announced on stderr). LOCAL: always a VM. MOCK: a deterministic
 * fake agent, no VM and no model (runs anywhere; for tests and demos). */
enum vb_mode { VB_MODE_AUTO, VB_MODE_LOCAL, VB_MODE_MOCK };

typedef struct vb_box vb_box;
typedef struct vb_pipeline vb_pipeline;
typedef struct vb_result vb_result;

/* The VMM role. Returns -1 in a normal start; when this process is a VM
 * monitor re-executed by the library (argv[1] is the hidden role), runs
 * the VM and exits the process instead of returning. Call it before
 * anything else in main(): before threads, output or argument parsing.
 * vb_run refuses to run inside a monitor process that skipped it. */
int vb_main_hook(int argc, char **argv);

/* A short description of a vb_code ("ok", "a stage failed", ...). */
const char *vb_strerror(int code);

/* ---- Boxes: one agent stage, one fresh VM ---------------------------- */

/* A box with the defaults of a spec box: provider claude, 1024 MiB,
 * 1 vCPU, no network, 600 s, mode auto. name: 1..63 bytes of
 * [A-Za-z0-9._-] (copied); it names the stage in results and logs. */
vb_box *vb_box_new(const char *name);
/* Frees a box not handed to a pipeline. NULL is fine. */
void vb_box_free(vb_box *b);
/* The first error recorded on the box, or NULL. */
const char *vb_box_error(const vb_box *b);

/* The agent's task (copied; replaces an earlier prompt). */
int vb_box_prompt(vb_box *b, const char *prompt);
/* A skill, as in a spec's skills list: "agent:claude-code", "file:PATH"
 * (a SKILL.md, read now; relative to the working directory; at most
 * 1 MiB), "cli:TOOL" (must exist in the guest), "mcp:COMMAND" (a stdio
 * MCP server in the guest), "remote:REF". At most 64 skills. */
int vb_box_skill(vb_box *b, const char *skill);
/* A skill from memory: content is SKILL.md text (copied). */
int vb_box_skill_inline(vb_box *b, const char *name, const char *content);
/* provider: claude, ollama, lm-studio, custom, mock (any case; mock also
 * forces VB_MODE_MOCK at run time); codex and claude-personal are
 * refused as in a spec (not supported yet). model may be NULL (the
 * provider's default). */
int vb_box_llm(vb_box *b, const char *provider, const char *model);
/* The provider's endpoint (needed for custom), e.g. http://host:8080. */
int vb_box_llm_base_url(vb_box *b, const char *url);
/* The name of the host environment variable holding the API key (default
 * ANTHROPIC_API_KEY for claude). The key never enters the VM. */
int vb_box_llm_api_key_env(vb_box *b, const char *env_name);
/* Budgets enforced by the host gateway; 0 = none. */
int vb_box_llm_budget(vb_box *b, uint64_t max_tokens, double max_usd);
/* Guest memory, 32..1048576 MiB. */
int vb_box_memory_mb(vb_box *b, unsigned mb);
/* 1..16 vCPUs. */
int vb_box_vcpus(vb_box *b, unsigned n);
/* A host directory shared into the VM (virtio-fs) at guest_dir (absolute;
 * letters, digits and . _ - + @ /), read-only unless rw; a missing rw
 * directory is created when the VM starts. At most 8 per box. */
int vb_box_mount(vb_box *b, const char *host_dir, const char *guest_dir,
		 bool rw);
/* The guest's root filesystem: an OCI image — a `docker save` / `podman
 * save` archive, an oci-archive or OCI layout path (imported on first
 * use), or the name or sha256 digest of one in the image store (`voidbox
 * image import`). Converted once, shared read-only; the stage writes in
 * RAM over it. Its Env reaches the agent; see docs/images.md. */
int vb_box_image(vb_box *b, const char *ref);
/* Outbound network from the guest (through the host's user-mode stack). */
int vb_box_network(vb_box *b, bool on);
/* The stage's time limit, 1..604800 s (a week, as in specs). */
int vb_box_timeout_secs(vb_box *b, unsigned secs);
/* An environment variable for the agent; set twice, the last wins.
 * value NULL copies the host's value at this call (nothing if unset).
 * At most 256. */
int vb_box_env(vb_box *b, const char *key, const char *value);
int vb_box_mode(vb_box *b, enum vb_mode mode);
/* The guest file collected as the stage's output (default
 * /workspace/output.*), at most 255 bytes. */
int vb_box_output_file(vb_box *b, const char *path);

/* ---- Pipelines -------------------------------------------------------- */

/* An empty pipeline: parallel 4, no input. name as for boxes. */
vb_pipeline *vb_pipeline_new(const char *name);
/* Frees the pipeline and every box it owns. NULL is fine. */
void vb_pipeline_free(vb_pipeline *p);
const char *vb_pipeline_error(const vb_pipeline *p);

/* Adds a stage of one box that receives the previous stage's output as
 * /workspace/input.json. Takes ownership of box in every case (freed now
 * if it cannot be kept); its recorded error becomes the pipeline's.
 * Box names must be unique within a pipeline; at most 64 boxes. */
int vb_pipeline_pipe(vb_pipeline *p, vb_box *box);
/* Adds one parallel stage of n (1..16) boxes, each in its own VM, each
 * given the same input; their outputs are joined as a JSON array in the
 * order of boxes[] (never completion order). Takes ownership of every
 * box in boxes[], as vb_pipeline_pipe does. */
int vb_pipeline_fan_out(vb_pipeline *p, vb_box **boxes, size_t n);
/* At most n (1..64) VMs at once; default 4. */
int vb_pipeline_parallel(vb_pipeline *p, unsigned n);
/* The first stage's input (copied); NULL/0 clears it. */
int vb_pipeline_input(vb_pipeline *p, const void *data, size_t len);
/* The claude-code tools image (path copied). Default: $VOIDBOX_TOOLS_DISK,
 * else the image appended to this executable (voidbox-full). */
int vb_pipeline_tools_disk(vb_pipeline *p, const char *path);
/* Live progress on stderr: "[vm:NAME] tool: ..." lines as the agents
 * work, like `voidbox run`. Default off. */
int vb_pipeline_live(vb_pipeline *p, bool on);
/* Warm starts (docs/snapshots.md): by default a stage restores its box
 * configuration's template snapshot, made by the first stage that booted
 * it; on = every stage boots cold. */
int vb_pipeline_cold(vb_pipeline *p, bool on);
/* Resume (`voidbox resume`): box BOX is not run; DATA (LEN bytes, copied)
 * is its output, fed to the stages after it as if it had just run. */
int vb_pipeline_resume_output(vb_pipeline *p, const char *box,
			      const void *data, size_t len);
/* Guest consoles on stderr (debugging). Default off. */
int vb_pipeline_console(vb_pipeline *p, bool on);
/* Keep each stage's records under DIR/<box>/: claude.jsonl (claude-code's
 * raw stream-json), claude.stderr, console.txt (the guest console tail).
 * NULL (default): none kept. The directory is created if needed. */
int vb_pipeline_run_dir(vb_pipeline *p, const char *dir);

/* Loads and validates a spec (YAML, or JSON by extension) of kind agent
 * or pipeline, exactly as `voidbox run` does. On success returns the
 * pipeline and sets *err (if err) to NULL. On failure returns NULL and
 * sets *err to every problem, one per line, each "FILE:LINE:COL: field:
 * message" (or "FILE: message" when no position applies), in file order;
 * the caller frees *err. NULL with *err NULL means out of memory. The
 * pipeline can then be adjusted (input, parallel, more stages). */
vb_pipeline *vb_pipeline_from_spec(const char *path, char **err);

/* ---- Snapshots (docs/snapshots.md) ------------------------------------ */

/* Stage templates need nothing here: vb_run makes one per box
 * configuration (claude-code started and waiting in it) and later stages
 * restore it; vb_pipeline_cold opts out. These are the named snapshots of
 * `voidbox snapshot create|ls|rm` and sandbox.snapshot. */

/* Start this box from snapshot NAME (sandbox.snapshot): its VM (memory,
 * vCPUs, disks, network device) is the snapshot's, each run a clone with
 * its own identity; refused with mounts, volumes or an image. */
int vb_box_snapshot(vb_box *b, const char *name);
/* Boot b's VM as a stage would (memory, vCPUs, network, image; the
 * claude-code tools image `tools`, else $VOIDBOX_TOOLS_DISK, else the one
 * appended to this executable), provision its skills and MCP config as a
 * stage would, and keep it as snapshot NAME. VB_OK, or a code with *err (if err) saying why (the
 * caller frees it): VB_CONFIG for a bad name, a name taken, mounts or
 * volumes; VB_VM_ERROR / VB_VMM_DIED when the VM did not come up. */
int vb_snapshot_create(const vb_box *b, const char *name, const char *tools,
		       char **err);
/* The snapshots as `voidbox --output json snapshot ls` prints them (a
 * JSON array; the caller frees it); NULL without a data directory or
 * memory. */
char *vb_snapshot_list_json(void);
/* Remove snapshot NAME: VB_OK, or VB_CONFIG with *err (caller frees). */
int vb_snapshot_remove(const char *name, char **err);

/* ---- Running ---------------------------------------------------------- */

/* Runs every stage; blocks until the pipeline finished or failed (a
 * failed stage skips the stages after it, while its running siblings
 * finish). The pipeline is left unchanged and may be run again. Returns
 * NULL only when out of memory; a configuration error comes back as a
 * result with exit code VB_CONFIG. Ignores SIGPIPE if its disposition is
 * the default (a guest closing a socket must not kill the process). */
vb_result *vb_run(vb_pipeline *p);
void vb_result_free(vb_result *r);

bool vb_result_ok(const vb_result *r);
/* VB_OK, or the code of the first stage (in box order) that did not
 * succeed, or VB_CONFIG. NULL: VB_FAILED. */
int vb_result_exit_code(const vb_result *r);
/* Why the run did not succeed (the failed stage's error, or the
 * configuration error); NULL if it did. */
const char *vb_result_error(const vb_result *r);
/* The first stage that failed, in stage order; NULL if none (or when the
 * error concerns the pipeline as a whole). */
const char *vb_result_failed_stage(const vb_result *r);
/* The last stage's output (NUL-terminated; *len without it, if len);
 * NULL when the run failed or produced nothing. */
const char *vb_result_output(const vb_result *r, size_t *len);

/* Stages are the boxes, indexed 0..nstages-1 in the order they were
 * added (for specs: declaration order in pipeline.boxes). Out-of-range
 * indices give NULL / 0 / -1. */
size_t vb_result_nstages(const vb_result *r);
const char *vb_result_stage_name(const vb_result *r, size_t i);
/* "ok", "failed", "timeout", "vm_error", "config_error" or "skipped". */
const char *vb_result_stage_status(const vb_result *r, size_t i);
/* NULL when the stage succeeded. */
const char *vb_result_stage_error(const vb_result *r, size_t i);
/* Model tokens as reported by claude-code; 0 for mock stages. 0, or -1
 * for a bad index. Either pointer may be NULL. */
int vb_result_stage_tokens(const vb_result *r, size_t i, uint64_t *in,
			   uint64_t *out);
double vb_result_stage_cost_usd(const vb_result *r, size_t i);
size_t vb_result_stage_tool_calls(const vb_result *r, size_t i);
uint64_t vb_result_stage_duration_ms(const vb_result *r, size_t i);
/* What the stage handed on: its output file, else the agent's final
 * text; NULL if none. */
const char *vb_result_stage_output(const vb_result *r, size_t i,
				   size_t *len);

/* The report `voidbox run --output json` prints, as one JSON document
 * (pretty-printed); the caller frees it. NULL on out of memory. */
char *vb_result_json(const vb_result *r);
/* The human report `voidbox run` prints on stderr ("[vm:NAME] ok in ..."
 * lines, one or more per stage); the caller frees it. */
char *vb_result_report(const vb_result *r);

#ifdef __cplusplus
}
#endif

#endif
