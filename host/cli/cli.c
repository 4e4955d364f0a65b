/* cli.c: the command table, global flags and usage (after kvmtool's
 * kvm-cmd.c). The table is the one place commands are registered. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../util/util.h"

static const struct cli_cmd commands[] = {
	{ "run", cmd_run, "run an agent spec: claude-code in a fresh "
	  "micro-VM per box", false },
	{ "exec", cmd_exec, "run a command in a fresh micro-VM", false },
	{ "serve", cmd_serve, "the daemon: an HTTP API for runs, their "
	  "events and history", false },
	{ "runs", cmd_runs, "the run history: ls, show RUN", false },
	{ "logs", cmd_logs, "a run's events (-f: until it ends)", false },
	{ "cancel", cmd_cancel, "cancel a run the daemon is running", false },
	{ "resume", cmd_resume, "rerun a failed run from its first failed "
	  "stage (daemon)", false },
	{ "shell", cmd_shell, "a terminal in a fresh micro-VM: claude-code "
	  "(or bash, or -- CMD)", false },
	{ "attach", cmd_attach, "another terminal in a running VM (a "
	  "sandbox, shell or stage)", false },
	{ "cp", cmd_cp, "copy a file into or out of a running sandbox "
	  "(NAME:/path)", false },
	{ "snapshot", cmd_snapshot, "warm starts: snapshot a booted VM "
	  "(create NAME, ls, rm NAME)", false },
	{ "volume", cmd_volume, "list or remove named volumes (ls, rm NAME)",
	  false },
	{ "image", cmd_image, "OCI images from files: import FILE|DIR, ls, "
	  "rm NAME", false },
	{ "validate", cmd_validate, "check a spec file; print every error "
	  "with file:line:col", false },
	{ "check", cmd_validate, "alias of validate", true },
	{ "selftest", cmd_selftest, "check this host with the built-in test "
	  "guests", false },
	{ "vm", cmd_vm, "boot a kernel (embedded by default) and wait for "
	  "power-off", false },
	{ "__vmtest", cmd_vmtest, "multi-connection VM checks (test host)",
	  true },
	{ "__bench", cmd_bench, "VMM micro-benchmarks (make bench)", true },
	{ "inspect", cmd_inspect, "print the resolved configuration of every "
	  "stage of a spec (JSON)", false },
	{ "skills", cmd_inspect, "list each box's skills: box, type, name, "
	  "description", false },
	{ "extract", cmd_extract, "write the embedded kernel, initramfs and "
	  "tools image to a directory", false },
	{ "version", cmd_version, "print version, ABI and embedded blob hashes",
	  false },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: voidbox [--output text|json] [--log-format text|json] "
		   "[-v] COMMAND [ARGS]\n\n"
		   "commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!commands[i].hidden)
			fprintf(f, "  %-10s %s\n", commands[i].name,
				commands[i].summary);
	fprintf(f, "\nexit codes: 0 success, 1 failure, 2 usage error; "
		   "see docs/cli.md\n");
}

int cli_main(int argc, char **argv)
{
	struct cli_globals g = { 0 };
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--version")) {
			argv[i] = "version";
			break;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return VB_EXIT_OK;
		} else if (!strcmp(a, "-v")) {
			g.verbose++;
		} else if (!strcmp(a, "-vv")) {
			g.verbose += 2;
		} else if (!strcmp(a, "--log-format") && i + 1 < argc) {
			const char *f = argv[++i];
			if (strcmp(f, "json") && strcmp(f, "text")) {
				fprintf(stderr, "voidbox: --log-format: json or "
					"text, not '%s'\n", f);
				return VB_EXIT_USAGE;
			}
			/* The VMM children inherit it through the env. */
			setenv("VOIDBOX_LOG_FORMAT", f, 1);
		} else if (!strcmp(a, "--output") && i + 1 < argc) {
			const char *o = argv[++i];
			if (!strcmp(o, "json"))
				g.json = true;
			else if (strcmp(o, "text")) {
				log_warnx("--output: expected text or json, "
					  "got '%s'", o);
				return VB_EXIT_USAGE;
			}
		} else if (!strncmp(a, "--output=", 9)) {
			g.json = !strcmp(a + 9, "json");
			if (!g.json && strcmp(a + 9, "text")) {
				log_warnx("--output: expected text or json, "
					  "got '%s'", a + 9);
				return VB_EXIT_USAGE;
			}
		} else {
			log_warnx("unknown option '%s'", a);
			usage(stderr);
			return VB_EXIT_USAGE;
		}
	}	{
		const char *lf = getenv("VOIDBOX_LOG_FORMAT");
		log_set_json(lf && !strcmp(lf, "json"));
	}

	if (i >= argc) {
		usage(stderr);
		return VB_EXIT_USAGE;
	}
	/* A guest that closes its end must never kill us with SIGPIPE:
	 * every write checks for EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	log_init("voidbox", g.verbose >= 2 ? LOG_DEBUG
			    : g.verbose ? LOG_INFO : LOG_WARN);
	for (size_t c = 0; c < ARRAY_SIZE(commands); c++)
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].fn(&g, argc - i, argv + i);
	log_warnx("unknown command '%s' (try voidbox --help)", argv[i]);
	return VB_EXIT_USAGE;
}
