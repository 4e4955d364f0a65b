/* spec.h: table of contents of host/spec/ — run specs (YAML or JSON,
 * `api_version: v1`, upstream void-box compatible) into checked plain data.
 *
 * Layering (STYLE R2): doc.c turns bytes into a tree of nodes that remember
 * their line and column; schema.c checks the tree against the v1 schema
 * and semantic rules, collecting every error (not only the first) as
 * "file:line:col: field.path: message". Nothing here touches a VM.
 */
#ifndef VOIDBOX_SPEC_H
#define VOIDBOX_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../vmm/vmcfg.h"

/* Hard limits on untrusted spec input. */
#define SPEC_MAX_BYTES (4u << 20)
#define SPEC_MAX_DEPTH 64
#define SPEC_MAX_NODES 200000

enum node_kind { NODE_MAP, NODE_SEQ, NODE_SCALAR };

struct node {
	enum node_kind kind;
	unsigned line, col;	/* 1-based */
	char *str;		/* scalar text (NUL-terminated) */
	bool quoted;		/* scalar was quoted: always a string */
	struct node **keys;	/* map keys (scalars) */
	struct node **items;	/* map values, or sequence items */
	size_t n, cap;
};

struct spec_errors {
	char **msg;		/* "file:line:col: path: message" */
	unsigned *line, *col;	/* for sorting */
	size_t n, cap;
};

/* doc.c: parse YAML (.yaml/.yml) or JSON (anything else; parsed with the
 * YAML parser, of which JSON is a subset, to keep positions). Returns
 * the root or NULL with errors added. Aliases, tags and merge keys are
 * refused (no billion laughs). */
struct node *doc_load(const char *path, struct spec_errors *e);
void doc_free(struct node *n);
/* Map lookup; NULL when absent or not a map. */
struct node *doc_get(const struct node *map, const char *key);

/* load.c: read and check a spec file, once, for every front door. 0 with
 * d->root (checked), d->kind and d->dir set; -1 with the errors in e
 * (sorted) and no root. spec_close frees it either way. */
struct spec_doc {
	const char *path;	/* as given; not owned */
	const char *dir;	/* the spec's directory (points into dirbuf) */
	const char *kind;	/* agent, pipeline, workflow, sandbox */
	struct node *root;
	char *dirbuf;
};
int spec_open(const char *path, struct spec_doc *d, struct spec_errors *e);
void spec_close(struct spec_doc *d);

/* schema.c: check a document against the v1 schema; adds errors.
 * `dir` (the spec file's directory) resolves relative paths (file:
 * skills). Keys upstream has and voidbox does not do yet are refused
 * ("not supported yet"), from one table in schema.c. */
void schema_check(const struct node *root, const char *file, const char *dir,
		  struct spec_errors *e);
/* llm.provider's values, NULL-terminated: the names of the providers
 * table (host/llm/llm.h), checked by tests/llm. */
extern const char *const schema_llm_providers[];
/* The one resolver of host paths named in a spec: absolute as is;
 * relative against `dir` (the spec's directory; "." or NULL: the current
 * one) first, then the current directory, as upstream void-box does
 * (its examples name paths from the repository root, run from there).
 * The first that exists goes into out (absolute for relative input);
 * else -1 with err naming every place tried. */
int schema_resolve_path(const char *dir, const char *rel, char *out,
			size_t outlen, char *err, size_t errlen);

/* rules.c: semantic rules across fields (kind blocks, references,
 * uniqueness, cycles); called by schema_check. */
void rules_check(const struct node *root, const char *file,
		 struct spec_errors *e);

/* config.c: resolve one box of a checked document into plain data
 * (STYLE R2): `box` is a pipeline box node, or NULL for kind: agent.
 * Skill files are read here, so a missing one fails before any VM.
 * 0, or -1 with err. The result owns its memory: config_box_free. */
#define CONFIG_MAX_SKILLS 64
#define CONFIG_MAX_ENV    256

enum skill_type { SKILL_AGENT, SKILL_FILE, SKILL_INLINE, SKILL_CLI,
		  SKILL_MCP, SKILL_REMOTE };
struct skill_cfg {
	enum skill_type type;
	char name[64];		/* directory-safe */
	char *content;		/* FILE, INLINE: SKILL.md text */
	char *command;		/* MCP */
	char **args, **env;	/* MCP: argv tail, "K=V" */
	size_t nargs, nenv;
};
struct llm_cfg {
	char provider[24];	/* claude, ollama, custom, mock, ... */
	char model[128], base_url[512], api_key_env[128];
	uint64_t max_tokens;	/* budget, 0 = none */
	double max_usd;
};
enum run_mode { MODE_AUTO, MODE_LOCAL, MODE_MOCK };
struct box_cfg {
	char name[64];
	char *prompt;
	struct skill_cfg skills[CONFIG_MAX_SKILLS];
	size_t nskills;
	struct llm_cfg llm;
	unsigned timeout_s;
	char output_file[256];	/* "" = /workspace/output.* */
	char **env;		/* "K=V", NULL-terminated */
	size_t nenv;
	struct vm_cfg vm;	/* the sandbox block: the VM itself */
	enum run_mode mode;
	/* sandbox.image: an archive path (made absolute against the spec's
	 * directory when the file is there), a stored name or a digest;
	 * resolved when the stage starts (host/image/use.c). NULL: none. */
	char *image;
	/* sandbox.snapshot: a snapshot's name (voidbox snapshot ls): the
	 * stage restores it instead of booting. NULL: none. */
	char *snapshot;
	char *const *image_env;	/* the stage's: the image's Env (not owned) */
	bool interactive;	/* agent.mode: interactive (kind: agent) */
};
/* The defaults every box starts from (spec, C API). */
void config_box_init(struct box_cfg *b, const char *name);
int config_box(const struct node *root, const struct node *box,
	       const char *dir, struct box_cfg *b, char *err, size_t errlen);
void config_box_free(struct box_cfg *b);

/* A kind: pipeline document: every box resolved, stages as box indices
 * (no stages: the boxes in order, piped). */
#define PIPELINE_MAX_BOXES 64
#define PIPELINE_MAX_FAN   16
enum pstage_type { PS_BOX, PS_FANOUT };
struct pipeline_stage {
	enum pstage_type type;
	size_t box[PIPELINE_MAX_FAN];
	size_t nbox;
};
struct pipeline_cfg {
	char name[64];
	char otlp_endpoint[512];	/* observe.otlp_endpoint, "" = env */
	char service_name[64];		/* observe.service_name */
	struct box_cfg *boxes;
	size_t nboxes;
	struct pipeline_stage *stages;
	size_t nstages;
};
/* kind: agent is a pipeline of one box (one stage); the observe block
 * is read for either kind. */
int config_pipeline(const struct node *root, const char *dir,
		    struct pipeline_cfg *pc, char *err, size_t errlen);
void config_pipeline_free(struct pipeline_cfg *pc);
/* kind: workflow — program steps in one VM (host/run/workflow.c). */
#define WORKFLOW_MAX_STEPS 64
struct workflow_step {
	char name[64];
	char *program;
	char **args;
	size_t nargs;
	long stdin_from;	/* step index, -1: the previous step */
	size_t deps[WORKFLOW_MAX_STEPS];
	size_t ndeps;
	bool service;
	unsigned timeout_s;
};
struct workflow_cfg {
	char name[64];
	struct vm_cfg vm;	/* the sandbox block */
	enum run_mode mode;
	struct workflow_step *steps;
	size_t nsteps;
	size_t output_step;
};
/* dir: the spec's directory (relative mount paths), as config_box's. */
int config_workflow(const struct node *root, const char *dir,
		    struct workflow_cfg *wc, char *err, size_t errlen);
void config_workflow_free(struct workflow_cfg *wc);

/* The observe block (either kind) into pc. */
void config_observe(const struct node *root, struct pipeline_cfg *pc);

/* errors.c */
void spec_error(struct spec_errors *e, const char *file, unsigned line,
		unsigned col, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void spec_errors_sort(struct spec_errors *e);
void spec_errors_free(struct spec_errors *e);
/* Every message on a line of its own (malloc'ed; NULL: out of memory). */
char *spec_errors_join(const struct spec_errors *e);

#endif
