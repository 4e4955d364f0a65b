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
