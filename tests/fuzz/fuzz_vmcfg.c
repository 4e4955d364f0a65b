/* fuzz_vmcfg.c: the VM configuration codec (host/vmm/ipc.c) on arbitrary
 * bytes. Property: whatever unpacks is valid (vm_cfg_check) and packs back
 * to bytes that unpack to the same configuration. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/vmm/ipc.h"

static uint8_t out[IPC_MAX], out2[IPC_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_cfg a, b;
	char err[256];

	if (size > IPC_MAX)
		return 0;
	if (ipc_cfg_unpack(&a, data, size, err, sizeof(err)) < 0)
		return 0;
	if (vm_cfg_check(&a, err, sizeof(err)) < 0)
		abort();
	ssize_t n = ipc_cfg_pack(&a, out, sizeof(out));
	if (n < 0 || ipc_cfg_unpack(&b, out, (size_t)n, err, sizeof(err)) < 0)
		abort();
	ssize_t n2 = ipc_cfg_pack(&b, out2, sizeof(out2));
	if (n2 != n || memcmp(out, out2, (size_t)n))
		abort();
	vm_cfg_free(&a);
	vm_cfg_free(&b);
	return 0;
}
