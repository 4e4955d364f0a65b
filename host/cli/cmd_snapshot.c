/* cmd_snapshot.c: `voidbox snapshot create|ls|rm` (host/snap/).
 *
 * create boots a VM with `exec`'s options, waits for its agent, runs the
 * optional provisioning command, and snapshots it; with --from SANDBOX it
 * asks a running `kind: sandbox` holder to snapshot its VM (holdctl.c).
 * `exec --snapshot NAME` (and sandbox.snapshot) start from one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../api/voidbox.h"
#include "../api/api.h"
#include "../snap/snap.h"
#include "../util/util.h"

/* A snapshot of a big VM under nested TCG takes seconds; this bounds a
 * holder that does not answer at all. */
#define SNAP_FROM_MS 600000

static int usage(void)
{
	fprintf(stderr,
		"usage: voidbox snapshot create NAME [exec options] [-- CMD...]\n"
		"       voidbox snapshot create NAME --file SPEC [--box BOX] "
		"[--tools-disk FILE]\n"
		"       voidbox snapshot create NAME --from SANDBOX\n"
		"       voidbox snapshot ls\n"
		"       voidbox snapshot rm NAME...\n");
	return VB_EXIT_USAGE;
}

/* create NAME --file SPEC [--box BOX] [--tools-disk FILE]: a spec's box
 * booted and provisioned (skills, MCP config) as a stage would be. */
static int from_spec(int argc, char **argv)
{
	const char *name = argv[0], *file = NULL, *boxname = NULL,
		   *tools = NULL;
	char *err = NULL;

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--file"))
			file = argv[i + 1];
		else if (!strcmp(argv[i], "--box"))
			boxname = argv[i + 1];
		else if (!strcmp(argv[i], "--tools-disk"))
			tools = argv[i + 1];
		else
			return usage();
	}
	vb_pipeline *p = vb_pipeline_from_spec(file, &err);
	if (!p) {
		fprintf(stderr, "%s\n", err ? err : "out of memory");
		free(err);
		return VB_EXIT_USAGE;
	}
	const struct box_cfg *bc = api_pipeline_box(p, boxname);
	int rc;
	if (!bc) {
		log_warnx("snapshot create: %s", boxname ? "no such box in the "
			  "spec" : "the spec has several boxes: name one with "
			  "--box");
		rc = VB_EXIT_USAGE;
	} else if ((rc = api_snapshot_box(bc, name, tools, &err)) != VB_OK) {
		/* vb_code values are the exit codes (2, 1, 123, 125) */
		log_warnx("snapshot create: %s", err ? err : "out of memory");
	} else {
		log_info("[vm:%s] snapshot %s of box %s (booted, provisioned)",
			 bc->name, name, bc->name);
		printf("%s\n", name);
		rc = VB_EXIT_OK;
	}
	free(err);
	vb_pipeline_free(p);
	return rc;
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
		if (argc >= 4 && !strcmp(argv[3], "--file"))
			return from_spec(argc - 2, argv + 2);
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
