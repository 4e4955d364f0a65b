/* cmd_snapshot.c: `voidbox snapshot create|ls|rm` (host/snap/).
 *
 * create boots a VM with `exec`'s options, waits for its agent, runs the
 * optional provisioning command, and snapshots it; with --from SANDBOX it
 * asks a running `kind: sandbox` holder to snapshot its VM (holdctl.c).
 * `exec --snapshot NAME` (and sandbox.snapshot) start from one. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../snap/snap.h"
#include "../util/util.h"

/* A snapshot of a big VM under nested TCG takes seconds; this bounds a
 * holder that does not answer at all. */
#define SNAP_FROM_MS 600000

static int usage(void)
{
	fprintf(stderr,
		"usage: voidbox snapshot create NAME [exec options] [-- CMD...]\n"
		"       voidbox snapshot create NAME --from SANDBOX\n"
		"       voidbox snapshot ls\n"
		"       voidbox snapshot rm NAME...\n");
	return VB_EXIT_USAGE;
}

int cmd_snapshot(const struct cli_globals *g, int argc, char **argv)
{
	char err[512];
	int rc = VB_EXIT_OK;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "create") && argc >= 3) {
		if (!snap_name_ok(argv[2])) {
			log_warnx("snapshot create: bad name '%s' (1-64 of "
				  "[A-Za-z0-9._-], not starting with . or -)",
				  argv[2]);
			return VB_EXIT_USAGE;
		}
		if (argc >= 4 && !strcmp(argv[3], "--from")) {
			if (argc != 5)
				return usage();
			/* The held VM of a running `kind: sandbox`: its
			 * holder snapshots it and it carries on. */
			if (holdctl_call(argv[4], "snapshot", argv[2],
					 SNAP_FROM_MS, err, sizeof(err)) < 0) {
				log_warnx("snapshot create --from %s: %s",
					  argv[4], err);
				return VB_EXIT_FAIL;
			}
			log_info("snapshot %s", err);
			printf("%s\n", argv[2]);
			return VB_EXIT_OK;
		}
		/* exec's parser sees "create NAME OPTIONS...": argv[0] of
		 * getopt is skipped, so start it at NAME. */
		return cmd_exec_snapshot(g, argc - 2, argv + 2, argv[2]);
	}
	if (!strcmp(argv[1], "ls") && argc == 2) {
		if (snap_list(stdout, g->json) < 0) {
			log_warnx("snapshot ls: no data directory (set HOME or "
				  "VOIDBOX_DATA_DIR)");
			return VB_EXIT_FAIL;
		}
		return VB_EXIT_OK;
	}
	if (!strcmp(argv[1], "rm") && argc > 2) {
		for (int i = 2; i < argc; i++)
			if (snap_rm(argv[i], err, sizeof(err)) < 0) {
				log_warnx("snapshot rm: %s", err);
				rc = VB_EXIT_FAIL;
			}
		return rc;
	}
	return usage();
}
