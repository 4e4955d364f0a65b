/* main.c: voidbox entry point — role dispatch only.
 *
 * One binary, several roles (STYLE R1): the user-facing CLI, and the
 * internal per-VM "vmm" role the orchestrator re-execs itself into.
 */
#include <string.h>

#include "cli/cli.h"
#include "vmm/ipc.h"
#include "vmm/vmcfg.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], IPC_ROLE))
		return vmm_main(argc, argv);
	return cli_main(argc, argv);
}
