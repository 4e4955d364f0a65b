/* pio.c: port I/O and MMIO exits that reach user space.
 *
 * The guest is hostile (STYLE R7 b): any port or address may be touched
 * with any size. Unclaimed reads return all-ones (what an empty ISA bus or
 * an unmapped MMIO window returns on real hardware), writes are dropped,
 * and a rate-limited debug line records it. Nothing here can stop the VMM.
 */
#include <string.h>

#include "vmm.h"
#include "../util/util.h"

#define COM1        0x3f8
#define I8042_DATA  0x60
#define I8042_CMD   0x64
#define I8042_RESET 0xfe
#define PORT_B      0x61	/* system control port B: PIT gate/speaker */
#define POST_PORT   0x80

static void unclaimed(struct vcpu *vc, const char *what, uint64_t addr,
		      bool write)
{
	/* Rate limit: a guest can spin on unclaimed ports forever. */
	static _Atomic unsigned reported;
	if (reported++ < 16)
		log_debug("vcpu%u: unclaimed %s %s %#llx", vc->id,
			  write ? "write" : "read", what,
			  (unsigned long long)addr);
}

void pio_handle(struct vcpu *vc, uint16_t port, uint8_t *data, unsigned size,
		bool write)
{
	struct vm *vm = vc->vm;

	if (port >= COM1 && port < COM1 + 8 && size == 1) {
		if (write)
			serial_out(vm, port - COM1, data[0]);
		else
			data[0] = serial_in(vm, port - COM1);
		return;
	}
	switch (port) {
	case I8042_CMD:
		/* The only i8042 function we model: the CPU reset line,
		 * which is how the guest (reboot=k) asks to power off. */
		if (write && size == 1 && data[0] == I8042_RESET)
			vm_request_stop(vm, VM_EXIT_POWEROFF, "i8042 reset");
		else if (!write)
			memset(data, 0, size);	/* status: buffers empty */
		return;
	case I8042_DATA:
		if (!write)
			memset(data, 0, size);
		return;
	case PORT_B:
		if (!write)
			data[0] = 0x20;	/* PIT channel 2 output high */
		return;
	case POST_PORT:
		return;			/* I/O delay: no effect */
	default:
		break;
	}
	if (!write)
		memset(data, 0xff, size);
	unclaimed(vc, "port", port, write);
}

void mmio_handle(struct vcpu *vc, uint64_t gpa, uint8_t *data, unsigned len,
		 bool write)
{
	if (len > 8)
		len = 8;
	if (vbus_mmio(vc, gpa, data, len, write))
		return;
	if (!write)
		memset(data, 0xff, len);
	unclaimed(vc, "mmio", gpa, write);
}
