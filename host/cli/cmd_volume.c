/* cmd_volume.c: `voidbox volume ls|rm` — the named volumes that
 * sandbox.volumes and `exec --volume` create (host/box/volume.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../box/box.h"
#include "../util/util.h"

static int usage(void)
{
	fprintf(stderr, "usage: voidbox volume ls\n"
			"       voidbox volume rm NAME...\n");
	return VB_EXIT_USAGE;
}

int cmd_volume(const struct cli_globals *g, int argc, char **argv)
{
	char err[256];
	int rc = VB_EXIT_OK;

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "ls") && argc == 2) {
		if (volume_list(stdout, g->json) < 0) {
			log_warnx("volume ls: no data directory (set HOME or "
				  "VOIDBOX_DATA_DIR)");
			return VB_EXIT_FAIL;
		}
		return VB_EXIT_OK;
	}
	if (!strcmp(argv[1], "rm") && argc > 2) {
		for (int i = 2; i < argc; i++)
			if (volume_rm(argv[i], err, sizeof(err)) < 0) {
				log_warnx("volume rm %s", err);
				rc = VB_EXIT_FAIL;
			}
		return rc;
	}
	return usage();
}
