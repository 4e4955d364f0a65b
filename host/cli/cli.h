/* cli.h: table of contents of host/cli/ — one cmd_*.c per subcommand,
 * dispatched from the explicit table in cli.c (STYLE R5). */
#ifndef VOIDBOX_CLI_H
#define VOIDBOX_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes shared by every command (documented in docs/cli.md). */
enum {
	VB_EXIT_OK = 0,
	VB_EXIT_FAIL = 1,	/* the command/stage failed */
	VB_EXIT_USAGE = 2,	/* bad command line or spec */
	/* VM-level outcomes sit above what commands commonly return, after
	 * the timeout(1) and docker-run conventions. */
	VB_EXIT_VMM_CRASH = 123,	/* the VMM process died */
	VB_EXIT_TIMEOUT = 124,		/* --timeout reached */
	VB_EXIT_VM_FAIL = 125,		/* cannot boot: KVM unusable, bad image */
	VB_EXIT_CANNOT_EXEC = 126,	/* denied by policy or not executable */
	VB_EXIT_NOT_FOUND = 127,	/* command not found in the guest */
};

/* Global options, parsed before the subcommand name. */
struct cli_globals {
	bool json;		/* --output json */
	int verbose;		/* -v, -vv */
};

struct cli_cmd {
	const char *name;
	int (*fn)(const struct cli_globals *g, int argc, char **argv);
	const char *summary;
	bool hidden;		/* internal roles, not in usage */
};

/* cli.c: parse globals, find the command, run it; returns the exit code. */
int cli_main(int argc, char **argv);

/* cmd_exec.c */
int cmd_exec(const struct cli_globals *g, int argc, char **argv);
/* exec's flow for `shell` (a terminal session; base: a spec's box whose
 * VM, env and image the options start from, or NULL) and `snapshot
 * create` (create: the snapshot's name). A shell given no command asks
 * claude (when set) with what its options made: it runs claude-code and
 * returns the exit code, or returns -1 with why to have the default
 * shell run instead. */
struct box_cfg;
struct shell_claude {
	const struct vm_cfg *vm;
	char *const *env;		/* --env and the spec's, K=V */
	unsigned nenv;
	const char *image;		/* --image or the spec's, or NULL */
	const char *tools_disk;		/* NULL: the executable's own */
	bool no_tools;
	const char *cmd_only;		/* an option only a command takes, or
					   NULL */
};
struct exec_mode {
	const char *create;
	bool shell;
	const struct box_cfg *base;
	int (*claude)(void *ctx, const struct shell_claude *q, char *why,
		      size_t len);
	void *ctx;
};
/* The default command of a shell: bash when the guest has it, else sh. */
#define SHELL_DEFAULT_SH "command -v bash >/dev/null 2>&1 && exec bash -l; " \
			 "exec sh -l"
int cmd_exec_mode(const struct cli_globals *g, int argc, char **argv,
		  const struct exec_mode *m);

/* cmd_vmtest.c */
int cmd_vmtest(const struct cli_globals *g, int argc, char **argv);

/* cmd_bench.c */
int cmd_bench(const struct cli_globals *g, int argc, char **argv);

/* cmd_selftest.c */
int cmd_selftest(const struct cli_globals *g, int argc, char **argv);

/* cmd_run.c */
int cmd_run(const struct cli_globals *g, int argc, char **argv);

/* cmd_validate.c */
int cmd_validate(const struct cli_globals *g, int argc, char **argv);

/* cmd_vm.c */
int cmd_vm(const struct cli_globals *g, int argc, char **argv);

/* args.c: small helpers for option values; print a usage error naming
 * the option and return -1 on bad input. */
int args_uint(const char *opt, const char *val, unsigned long long min,
	      unsigned long long max, unsigned long long *out);
/* PATH[:ro|:rw] -> path (static storage) and read-only flag. */
int args_disk(const char *val, const char **path, bool *ro);

/* vmopts.c: the shared VM options (docs/cli.md, "VM options"). Option ids
 * from VMOPT_FIRST up are the shared ones; a command's own start at
 * VMOPT_OWN. */
#include <getopt.h>
#include "../vmm/vmcfg.h"
#define VMOPT_FIRST 0x100
#define VMOPT_OWN   0x200
struct vmopts {
	struct vm_cfg *vc;	/* filled in place */
	bool net_names;		/* an --allow NAME or *.SUFFIX rule */
};
extern const char vmopts_usage[];
/* The shared table then own (a zero-terminated list), into out[cap]. */
size_t vmopts_table(struct option *out, size_t cap, const struct option *own);
/* 1: applied; 0: not a shared option; -1: bad value (said why). */
int vmopts_apply(struct vmopts *o, int id, const char *val);
/* After the loop: rules that span options; 0 or -1 (said why). */
int vmopts_finish(struct vmopts *o);
/* getopt_long returned '?' or ':': say so; returns -1. */
int vmopts_bad(const char *cmd, int ch, char **argv);
int args_read_file(const char *opt, const char *path, uint8_t **data,
		   size_t *size);

/* cmd_inspect.c: `inspect` and `skills` (argv[0] tells which) */
int cmd_inspect(const struct cli_globals *g, int argc, char **argv);

/* cmd_shell.c: `shell`; cmd_attach.c: `attach` */
int cmd_shell(const struct cli_globals *g, int argc, char **argv);
/* claude-code's terminal UI in box bc's VM, as a stage (tools_disk NULL:
 * the executable's own image): its exit code, or -1 with why when it
 * cannot run here (no tools image, no key, the mock agent). */
int shell_stage(const struct box_cfg *bc, const char *tools_disk,
		bool console, char *why, size_t len);
int cmd_attach(const struct cli_globals *g, int argc, char **argv);

/* panel.c: the live run panel on a terminal (`voidbox run`). While it
 * runs, fd 2 is its pipe: every line written there appears above it.
 * panel_progress is a stage_opts.on_progress (ctx: the panel). */
struct stage_progress;
bool panel_wanted(void);
struct panel *panel_start(const char *title, const char *const *names,
			  size_t n);
void panel_progress(void *ctx, const char *stage,
		    const struct stage_progress *p);
void panel_stop(struct panel *p);

/* cmd_serve.c: the daemon, and runs submitted to it. */
struct cJSON;
int cmd_serve(const struct cli_globals *g, int argc, char **argv);
void print_event(const struct cJSON *ev, bool json);
/* Follow a daemon's run to its end: its exit code, -1 (said why) when
 * the daemon could not be followed. */
int daemon_follow(const char *addr, const char *id, bool json);
int run_via_daemon(const char *addr, const char *file, const char *input,
		   size_t input_len, bool detach, bool json);
/* cmd_runs.c */
int cmd_runs(const struct cli_globals *g, int argc, char **argv);
int cmd_logs(const struct cli_globals *g, int argc, char **argv);
int cmd_cancel(const struct cli_globals *g, int argc, char **argv);
int cmd_resume(const struct cli_globals *g, int argc, char **argv);

/* events.c: `voidbox run --events-fd N`, the run's progress as JSON
 * lines on fd (the daemon's feed); run_events_progress is a
 * stage_opts.on_progress (ctx: the run_events). */
struct run_events *run_events_open(int fd);
void run_events_progress(void *ctx, const char *stage,
			 const struct stage_progress *p);
void run_events_close(struct run_events *e);

/* cmd_cp.c */
int cmd_cp(const struct cli_globals *g, int argc, char **argv);

/* cmd_snapshot.c: `snapshot create|ls|rm`; create is exec's flow
 * (cmd_exec.c) ending in a snapshot named name. */
int cmd_snapshot(const struct cli_globals *g, int argc, char **argv);
int cmd_exec_snapshot(const struct cli_globals *g, int argc, char **argv,
		      const char *name);
/* selftest_snap.c: selftest's snapshot checks, each told to report. */
void selftest_snapshot(void (*report)(void *ctx, bool ok, const char *name,
				      const char *msg), void *ctx);
/* cmd_volume.c: `volume ls|rm` */
int cmd_volume(const struct cli_globals *g, int argc, char **argv);

/* cmd_image.c: `image import|ls|rm` */
int cmd_image(const struct cli_globals *g, int argc, char **argv);

/* cmd_extract.c */
int cmd_extract(const struct cli_globals *g, int argc, char **argv);

/* cmd_version.c */
int cmd_version(const struct cli_globals *g, int argc, char **argv);
void cmd_version_print_short(void);

#endif
