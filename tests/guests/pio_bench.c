/* pio_bench.c: cost of a port-I/O exit (and optionally an MMIO exit) */
#include "lib.h"

const char vb_guest_name[] = "pio_bench";

/*
 * Port 0x80 is the POST/delay port: writing it has no effect anywhere,
 * but under KVM every OUT is a VM exit to the VMM (unless the VMM put
 * the port on an ioeventfd), so the loop measures a full exit round
 * trip.  The TSC ticks at a constant rate, so cycles here are TSC
 * ticks, not core cycles.  The host benchmark times the whole run from
 * outside as well.
 *
 * cmdline: vbtest.iters=N (default 100000), vbtest.mmio_iters=N
 * (default 0) to also time writes to unbacked MMIO at 0xd0000000.
 */
#define DEFAULT_ITERS	100000
#define MMIO_ADDR	0xd0000000UL

static void report(const char *check, const char *what, uint64_t iters,
		   uint64_t ticks)
{
	uint64_t mean = iters ? ticks / iters : 0;

	vb_pass(check, "%lu %s exits, mean %lu cycles/exit (%lu total)",
		iters, what, mean, ticks);
	/* machine-readable twin of the line above */
	vb_info("%s_cycles_per_exit=%lu", what, mean);
}

void guest_main(struct vb_boot_params *bp)
{
	uint64_t iters = DEFAULT_ITERS, mmio_iters = 0, t0, t1, i;

	(void)bp;
	vb_param_u64("vbtest.iters", &iters);
	vb_param_u64("vbtest.mmio_iters", &mmio_iters);

	t0 = vb_rdtsc();
	for (i = 0; i < iters; i++)
		vb_outb(0x80, (uint8_t)i);
	t1 = vb_rdtsc();
	report("pio_bench", "pio", iters, t1 - t0);

	if (!mmio_iters)
		return;
	t0 = vb_rdtsc();
	for (i = 0; i < mmio_iters; i++)
		vb_mmio_write32(MMIO_ADDR, (uint32_t)i);
	t1 = vb_rdtsc();
	report("mmio_bench", "mmio", mmio_iters, t1 - t0);
}
