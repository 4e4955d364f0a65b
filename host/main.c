/* main.c: voidbox entry point — role dispatch only.
 *
 * One binary, several roles (STYLE R1): the user-facing CLI, and the
 * internal per-VM "vmm" role the orchestrator re-execs itself into.
 */
#include "cli/cli.h"
#include "vmm/vmcfg.h"

int main(int argc, char **argv)
{
	if (vmm_role(argc, argv))
		return vmm_main(argc, argv);
	return cli_main(argc, argv);
}
