/* virtio_hostile.c: a virtio driver that breaks the rules, on purpose */
#include "hostile.h"

const char vb_guest_name[] = "virtio_hostile";

/*
 * Everything here is what a buggy or malicious guest kernel may do to
 * virtio-rng and virtio-vsock.  voidbox's device models must treat the
 * rings as hostile input (host/devices/virtq.c): a corrupted queue sets
 * DEVICE_NEEDS_RESET (virtio 1.2 §2.1.2) with a configuration-change
 * interrupt, ignores the queue until the driver resets the device, and
 * the VMM carries on.  Register misuse is ignored.  After every abuse we
 * check that the device still answers (MagicValue, DeviceID) and, after a
 * reset, works again.  A VMM that crashes or hangs shows as a missing
 * DONE line; the host side also checks that the VMM exits cleanly.
 */

struct vio_dev rng;
struct vsk vs;
uint8_t hbuf[4096] __attribute__((aligned(4096)));
static uint64_t ram_low_end, ram_end;

bool rng_up(void)
{
	const char *why = "";

	if (vio_setup(&rng, 1, &why))
		return true;
	vb_info("rng setup: %s", why);
	return false;
}

/* Ask for 64 random bytes: NULL if that worked, else what went wrong. */
const char *rng_try(void)
{
	uint32_t id, len;
	int r;

	memset(hbuf, 0, 64);
	if (vio_post(&rng, 0, (uintptr_t)hbuf, 64, VIO_DESC_F_WRITE) < 0)
		return "ring full";
	vio_notify(&rng, 0);
	r = vio_wait(&rng, 0, &id, &len, WAIT_MS);
	if (r < 0)
		return "device needs reset";
	if (!r)
		return "no answer within 1000 ms";
	if (len != 64)
		return "short answer";
	for (unsigned i = 0; i < 64; i++)
		if (hbuf[i])
			return NULL;
	return "64 zero bytes";
}

/* Wait for DEVICE_NEEDS_RESET after an abuse of queue qi, report, and
 * reset the device.  Kicks to the broken queue must be ignored. */
void broken_end(const char *check, struct vio_dev *d, unsigned qi,
		const char *what)
{
	bool nr = vio_wait_status(d, VIO_S_NEEDS_RESET, WAIT_MS);
	uint32_t isr = vio_r32(d, VIO_INT_STATUS);
	bool live;

	for (unsigned i = 0; i < 8; i++)
		vio_notify(d, qi);
	live = vio_alive(d);
	vb_check(nr && (isr & VIO_INT_CONFIG) && live, check,
		 "%s: %s, InterruptStatus %#x, registers %s", what,
		 nr ? "DEVICE_NEEDS_RESET" : "no DEVICE_NEEDS_RESET in 1 s",
		 isr, live ? "answer" : "WRONG");
	vio_w32(d, VIO_INT_ACK, isr);
	if (!vio_reset(d))
		vb_fail(check, "Status not 0 after reset");
}

/* Set the device up, let f spoil queue qi, kick it, expect NEEDS_RESET. */
void expect_broken(const char *check, struct vio_dev *d, bool (*up)(void),
		   unsigned qi, abuse_fn *f, uint64_t arg, const char *what)
{
	/* rng buffers are device-writable, vsock tx ones readable */
	uint16_t wr = d == &rng ? VIO_DESC_F_WRITE : 0;

	if (!up()) {
		vb_fail(check, "%s: device setup failed", what);
		return;
	}
	f(&d->q[qi], arg, wr);
	vio_notify(d, qi);
	broken_end(check, d, qi, what);
}

/* ---- ways to spoil a queue ------------------------------------------ */

static void put(struct vio_queue *q, uint64_t addr, uint32_t len,
		uint16_t flags, uint16_t next)
{
	int id = vio_desc_alloc(q);

	q->desc[id] = (struct vio_desc){ addr, len, flags, next };
	vio_publish(q, (uint16_t)id);
}

void ab_loop(struct vio_queue *q, uint64_t arg, uint16_t wr)
{
	(void)arg;
	/* the first id handed out after setup is 0: 0 -> 0 -> 0 ... */
	put(q, (uintptr_t)hbuf, 64, VIO_DESC_F_NEXT | wr, 0);
}

void ab_addr(struct vio_queue *q, uint64_t addr, uint16_t wr)
{
	put(q, addr, 64, wr, 0);
}

void ab_avail_jump(struct vio_queue *q, uint64_t arg, uint16_t wr)
{
	(void)arg;
	put(q, (uintptr_t)hbuf, 64, wr, 0);
	/* one real entry, then claim a whole ring more */
	__atomic_store_n(&q->avail->idx, (uint16_t)(q->avail_idx + VIO_QSIZE),
			 __ATOMIC_RELEASE);
}

void ab_head(struct vio_queue *q, uint64_t arg, uint16_t wr)
{
	(void)arg;
	(void)wr;
	q->avail->ring[q->avail_idx++ % VIO_QSIZE] = VIO_QSIZE + 44;
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

void ab_next(struct vio_queue *q, uint64_t arg, uint16_t wr)
{
	(void)arg;
	put(q, (uintptr_t)hbuf, 64, VIO_DESC_F_NEXT | wr, 999);
}

void ab_indirect(struct vio_queue *q, uint64_t arg, uint16_t wr)
{
	(void)arg;
	(void)wr;
	/* a plausible indirect table: one descriptor in hbuf + 256 */
	*(struct vio_desc *)(hbuf + 256) = (struct vio_desc){
		(uintptr_t)hbuf, 64, VIO_DESC_F_WRITE, 0 };
	put(q, (uintptr_t)hbuf + 256, 16, VIO_DESC_F_INDIRECT, 0);
}

/* §2.7.4.2: device-readable after device-writable is a driver bug. */
static void ab_write_then_read(struct vio_queue *q, uint64_t arg,
			       uint16_t wr)
{
	int a = vio_desc_alloc(q), b = vio_desc_alloc(q);

	(void)arg;
	(void)wr;
	q->desc[b] = (struct vio_desc){ (uintptr_t)hbuf + 32, 32, 0, 0 };
	q->desc[a] = (struct vio_desc){ (uintptr_t)hbuf, 32,
		VIO_DESC_F_WRITE | VIO_DESC_F_NEXT, (uint16_t)b };
	vio_publish(q, (uint16_t)a);
}

/* ---- rng: descriptors and rings ------------------------------------- */

static void rng_rings(void)
{
	uint64_t bad[] = { 0xfffff00000000000ull, ram_low_end - 32,
			   ram_low_end, rng.base, 0xffffffffffffffc0ull,
			   ram_end };
	const char *names[] = { "rng.addr_high", "rng.addr_straddle",
				"rng.addr_past_ram", "rng.addr_mmio",
				"rng.addr_wrap", "rng.addr_past_high_ram" };
	char what[64];

	expect_broken("rng.loop", &rng, rng_up, 0, ab_loop, 0,
		      "descriptor 0 -> next 0");
	vb_check(rng_up() && !rng_try(), "rng.recovered",
		 "reset and set up again: random bytes flow");
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (i == 5 && ram_end <= (4ull << 30))
			continue;	/* no RAM above 4 GiB */
		vb_snprintf(what, sizeof(what), "buffer at %#lx", bad[i]);
		expect_broken(names[i], &rng, rng_up, 0, ab_addr, bad[i],
			      what);
	}
	expect_broken("rng.avail_jump", &rng, rng_up, 0, ab_avail_jump, 0,
		      "avail->idx one ring past the last entry");
	expect_broken("rng.head_range", &rng, rng_up, 0, ab_head, 0,
		      "avail ring names descriptor 300");
	expect_broken("rng.next_range", &rng, rng_up, 0, ab_next, 0,
		      "next = 999 in a ring of 256");
	expect_broken("rng.indirect", &rng, rng_up, 0, ab_indirect, 0,
		      "INDIRECT, not negotiated");
	expect_broken("rng.write_read", &rng, rng_up, 0, ab_write_then_read,
		      0, "readable descriptor after a writable one");
}

/* Ring addresses outside RAM, set while the queue is not ready. */
static bool ring_at(unsigned reg, uint64_t addr)
{
	const char *why = "";

	if (!vio_begin(&rng, &why))
		return false;
	vio_queue_setup(&rng, 0, VIO_QSIZE);
	vio_w32(&rng, reg, (uint32_t)addr);
	vio_w32(&rng, reg + 4, (uint32_t)(addr >> 32));
	vio_queue_ready(&rng, 0);
	vio_driver_ok(&rng);
	vio_post(&rng, 0, (uintptr_t)hbuf, 64, VIO_DESC_F_WRITE);
	memset(hbuf, 0, 64);
	vio_notify(&rng, 0);
	return true;
}

static void rng_ring_addrs(void)
{
	bool nr, filled = false;

	if (ring_at(VIO_QUEUE_DESC_LO, rng.base))
		broken_end("rng.desc_in_mmio", &rng, 0,
			   "descriptor table in the device's own window");
	else
		vb_fail("rng.desc_in_mmio", "setup failed");
	if (ring_at(VIO_QUEUE_AVAIL_LO, ram_low_end - 2))
		broken_end("rng.avail_past_ram", &rng, 0,
			   "avail ring straddles the end of RAM");
	else
		vb_fail("rng.avail_past_ram", "setup failed");

	/* The used ring is only written: the device can notice late. */
	if (!ring_at(VIO_QUEUE_USED_LO, ram_low_end)) {
		vb_fail("rng.used_past_ram", "setup failed");
		return;
	}
	nr = vio_wait_status(&rng, VIO_S_NEEDS_RESET, 200);
	for (unsigned i = 0; i < 64; i++)
		filled |= hbuf[i] != 0;
	vb_check(vio_alive(&rng), "rng.used_past_ram",
		 "used ring past RAM: %s, buffer %s; registers answer",
		 nr ? "DEVICE_NEEDS_RESET" : "no DEVICE_NEEDS_RESET",
		 filled ? "filled" : "untouched");
	if (!nr && filled)
		vb_info("rng consumed a buffer it could not return, without "
			"DEVICE_NEEDS_RESET (driver would wait for ever)");
	vio_reset(&rng);
}

/* A legal chain (§2.7.5.3.1 allows up to the queue size) but long. */
static void rng_long_chain(void)
{
	int ids[100];
	uint32_t id, len;
	int r;

	if (!rng_up()) {
		vb_fail("rng.long_chain", "setup failed");
		return;
	}
	for (unsigned i = 0; i < 100; i++)
		ids[i] = vio_desc_alloc(&rng.q[0]);
	for (unsigned i = 0; i < 100; i++)
		rng.q[0].desc[ids[i]] = (struct vio_desc){
			(uintptr_t)hbuf + i, 1,
			VIO_DESC_F_WRITE | (i < 99 ? VIO_DESC_F_NEXT : 0),
			i < 99 ? (uint16_t)ids[i + 1] : 0 };
	vio_publish(&rng.q[0], (uint16_t)ids[0]);
	vio_notify(&rng, 0);
	r = vio_wait(&rng, 0, &id, &len, WAIT_MS);
	if (r < 0)
		vb_info("a 100-descriptor chain got DEVICE_NEEDS_RESET; "
			"virtio 1.2 §2.7.5.3.1 allows chains up to the queue "
			"size");
	vb_check(vio_alive(&rng) && r != 0, "rng.long_chain",
		 "100 one-byte descriptors: %s%u bytes; registers answer",
		 r < 0 ? "DEVICE_NEEDS_RESET, " : "served, ", r > 0 ? len : 0);
	vio_reset(&rng);
}

static void ram_bounds(void)
{
	const struct vb_e820_entry *e = vb_bp->e820_table;

	for (unsigned i = 0; i < vb_bp->e820_entries && i < VB_E820_MAX; i++) {
		uint64_t end = e[i].addr + e[i].size;

		if (e[i].type != VB_E820_RAM)
			continue;
		if (end > ram_end)
			ram_end = end;
		if (end <= (4ull << 30) && end > ram_low_end)
			ram_low_end = end;
	}
}

void guest_main(struct vb_boot_params *bp)
{
	(void)bp;
	ram_bounds();
	vb_info("tsc %lu kHz, RAM ends at %#lx (below 4 GiB: %#lx)",
		vio_tsc_khz(), ram_end, ram_low_end);
	if (!vio_find(&rng, VIO_ID_RNG) || !vio_find(&vs.dev, VIO_ID_VSOCK)) {
		vb_fail("devices", "need virtio-rng and virtio-vsock on the "
			"command line");
		return;
	}
	vb_check(rng_up() && !rng_try(), "rng.baseline", "rng at %#lx works",
		 rng.base);
	vb_check(vsock_up() && vsock_knock(5001), "vsock.baseline",
		 "vsock at %#lx answers the ready knock", vs.dev.base);
	hostile_registers();
	rng_rings();
	rng_ring_addrs();
	rng_long_chain();
	hostile_vsock();
	vb_check(rng_up() && !rng_try(), "rng.final", "rng still works");
	vb_check(vsock_up() && vsock_knock(5003), "vsock.final",
		 "vsock still answers the knock");
	if (rng.q[0].bad_used || vs.dev.q[VSK_RXQ].bad_used ||
	    vs.dev.q[VSK_TXQ].bad_used)
		vb_fail("used_ids", "used entries for descriptors we did not "
			"post");
}
