/* hostile_regs.c: virtio_hostile's misuse of the virtio-mmio registers */
#include "hostile.h"

/*
 * virtio 1.2 §4.2.2.2 obliges a driver to use aligned 32-bit accesses to
 * the register file and to configure a queue only while it is not ready;
 * voidbox (host/devices/virtio_mmio.c) ignores anything else, and writes
 * to read-only registers.  Each check then shows the device unchanged
 * and still working.
 */

/* Read-only registers must ignore writes. */
static void reg_readonly(void)
{
	uint32_t vendor = vio_r32(&rng, VIO_VENDOR_ID);
	uint32_t st = vio_r32(&rng, VIO_STATUS), f0, f1, f2, fx, nmax;
	static const uint32_t ro[] = {
		VIO_MAGIC, VIO_VERSION, VIO_DEVICE_ID, VIO_VENDOR_ID,
		VIO_DEV_FEATURES, VIO_QUEUE_NUM_MAX, VIO_INT_STATUS,
		VIO_CONFIG_GEN, VIO_SHM_LEN_LO, 0x0b4, 0x0b8, 0x0bc, 0x0c0,
		0x0f0,
	};

	for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		vio_w32(&rng, ro[i], 0xa5a5a5a5);
	vio_w32(&rng, VIO_DEV_FEATURES_SEL, 0);
	f0 = vio_r32(&rng, VIO_DEV_FEATURES);
	vio_w32(&rng, VIO_DEV_FEATURES_SEL, 1);
	f1 = vio_r32(&rng, VIO_DEV_FEATURES);
	vio_w32(&rng, VIO_DEV_FEATURES_SEL, 2);
	f2 = vio_r32(&rng, VIO_DEV_FEATURES);
	vio_w32(&rng, VIO_DEV_FEATURES_SEL, 0xffffffff);
	fx = vio_r32(&rng, VIO_DEV_FEATURES);
	vio_w32(&rng, VIO_QUEUE_SEL, 0);
	nmax = vio_r32(&rng, VIO_QUEUE_NUM_MAX);
	vb_check(vio_alive(&rng) && vio_r32(&rng, VIO_VERSION) == 2 &&
		 vio_r32(&rng, VIO_VENDOR_ID) == vendor && (f1 & 1) &&
		 !f2 && !fx && nmax >= VIO_QSIZE &&
		 vio_r32(&rng, VIO_STATUS) == st && !rng_try(),
		 "reg.readonly", "writes to %u read-only registers ignored "
		 "(features %#x:%#x, sel 2 %#x, sel ~0 %#x, QueueNumMax %u)",
		 (unsigned)(sizeof(ro) / sizeof(ro[0])), f1, f0, f2, fx, nmax);
}

/* Wrong widths, unaligned, straddling: none of it may count. */
static void reg_widths(void)
{
	uint64_t b = rng.base, x = 0;
	uint32_t st = vio_r32(&rng, VIO_STATUS);
	uint8_t m8 = vb_mmio_read8(b);

	x ^= vb_mmio_read16(b + 2);
	x ^= vb_mmio_read64(b);
	x ^= vb_mmio_read32(b + 1);
	x ^= vb_mmio_read32(b + VIO_STATUS + 2);
	x ^= vb_mmio_read64(b + 0x1fc);		/* crosses the decode end */
	x ^= vb_mmio_read32(b + 0x1fe);
	x ^= vb_mmio_read64(b + 0xffc);		/* into the next window */
	x ^= vb_mmio_read32(vs.dev.base + 0x1000);	/* one window on */
	/* Each of these would reset the device or kick if it counted. */
	vb_mmio_write8(b + VIO_STATUS, 0);
	vb_mmio_write16(b + VIO_STATUS, 0);
	vb_mmio_write64(b + VIO_STATUS, 0);
	vb_mmio_write32(b + VIO_STATUS + 1, 0);
	vb_mmio_write32(b + VIO_STATUS - 2, 0);
	vb_mmio_write8(b + VIO_QUEUE_NOTIFY, 0);
	vb_mmio_write64(b + VIO_QUEUE_NOTIFY, 0);
	vb_mmio_write16(b + VIO_QUEUE_SEL, 5);
	vb_mmio_write64(b + 0x1fc, ~0ull);
	vb_mmio_write64(b + 0xffc, 0);		/* half on the next MAGIC */
	vb_check(vio_alive(&rng) && vio_alive(&vs.dev) &&
		 vio_r32(&rng, VIO_STATUS) == st && !rng_try(), "reg.widths",
		 "8/16/64-bit, unaligned and straddling accesses ignored "
		 "(8-bit MagicValue read %#x, reads xor %#lx)", m8, x);
}

/* Queue registers of queues that do not exist, or that are live. */
static void reg_queues(void)
{
	static const uint32_t sels[] = { 1, 3, 4, 7, 0x80000000, ~0u };
	static const uint32_t nums[] = { 0, 3, 2048, 0xffffffff, 1000 };
	uint32_t nmax = 0, rdy = 0;
	const char *why = "", *err = NULL;

	if (!vio_begin(&rng, &why)) {
		vb_fail("reg.queue_num", "setup: %s", why);
		return;
	}
	vio_queue_setup(&rng, 0, VIO_QSIZE);
	for (unsigned i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		vio_w32(&rng, VIO_QUEUE_NUM, nums[i]);	/* not powers of 2 */
	vio_queue_ready(&rng, 0);
	vio_driver_ok(&rng);
	/* Live queue: size and addresses are frozen (§4.2.2.2). */
	vio_w32(&rng, VIO_QUEUE_NUM, 16);
	vio_w32(&rng, VIO_QUEUE_DESC_LO, 0xdead0000);
	vio_w32(&rng, VIO_QUEUE_AVAIL_HI, 0xffff);
	vio_w32(&rng, VIO_QUEUE_USED_LO, 0);
	vio_w32(&rng, VIO_QUEUE_READY, 1);
	/* 40 requests wrap a 16-entry ring: a size change would show. */
	for (unsigned i = 0; i < 40 && !err; i++)
		err = rng_try();
	vb_check(!err && vio_alive(&rng), "reg.queue_num", "QueueNum 0, 3, "
		 "2048, ~0, 1000 and changes while live ignored: %s",
		 err ? err : "40 requests served");

	for (unsigned i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		vio_w32(&rng, VIO_QUEUE_SEL, sels[i]);
		nmax |= vio_r32(&rng, VIO_QUEUE_NUM_MAX);
		rdy |= vio_r32(&rng, VIO_QUEUE_READY);
		vio_w32(&rng, VIO_QUEUE_NUM, 16);
		vio_w32(&rng, VIO_QUEUE_DESC_LO, (uint32_t)(uintptr_t)hbuf);
		vio_w32(&rng, VIO_QUEUE_READY, 1);
		vio_w32(&rng, VIO_QUEUE_NOTIFY, sels[i]);
	}
	vio_w32(&rng, VIO_QUEUE_SEL, 0);
	err = rng_try();
	vb_check(!nmax && !rdy && !err && vio_alive(&rng), "reg.queue_sel",
		 "QueueSel past the last queue: QueueNumMax %#x, QueueReady "
		 "%#x, writes and kicks ignored; queue 0: %s", nmax, rdy,
		 err ? err : "works");
}

/* §3.1.1: without VERSION_1 the device must refuse FEATURES_OK. */
static void status_features(void)
{
	uint32_t st, got;
	uint32_t id, len;
	int early, late;

	vio_reset(&rng);
	vio_w32(&rng, VIO_STATUS, VIO_S_ACKNOWLEDGE);
	vio_w32(&rng, VIO_STATUS, VIO_S_ACKNOWLEDGE | VIO_S_DRIVER);
	vio_w32(&rng, VIO_DRV_FEATURES_SEL, 1);
	vio_w32(&rng, VIO_DRV_FEATURES, 0);
	st = VIO_S_ACKNOWLEDGE | VIO_S_DRIVER | VIO_S_FEATURES_OK;
	vio_w32(&rng, VIO_STATUS, st);
	got = vio_r32(&rng, VIO_STATUS);
	vb_check(!(got & VIO_S_FEATURES_OK) && vio_alive(&rng),
		 "status.legacy", "FEATURES_OK without VERSION_1: Status %#x",
		 got);

	/* Now properly, then feature writes the device must ignore. */
	vio_w32(&rng, VIO_DRV_FEATURES, 1);
	vio_w32(&rng, VIO_STATUS, st);
	vio_w32(&rng, VIO_DRV_FEATURES, 0);
	vio_w32(&rng, VIO_DRV_FEATURES_SEL, 0);
	vio_w32(&rng, VIO_DRV_FEATURES, ~0u);
	got = vio_r32(&rng, VIO_STATUS);
	/* Kicks before DRIVER_OK: the device must not touch the queue. */
	vio_queue_setup(&rng, 0, VIO_QSIZE);
	vio_queue_ready(&rng, 0);
	vio_post(&rng, 0, (uintptr_t)hbuf, 64, VIO_DESC_F_WRITE);
	vio_notify(&rng, 0);
	early = vio_wait(&rng, 0, &id, &len, 100);
	vio_driver_ok(&rng);
	vio_notify(&rng, 0);
	late = early ? 0 : vio_wait(&rng, 0, &id, &len, WAIT_MS);
	vb_check((got & VIO_S_FEATURES_OK) && !early && late == 1 &&
		 vio_alive(&rng), "status.early_kick",
		 "feature writes after FEATURES_OK (Status %#x); kick before "
		 "DRIVER_OK %s, after it %s", got,
		 early ? "SERVED" : "ignored", late == 1 ? "served" : "NOT");
}

/* Device config space: reads and writes the device does not have. */
static void config_space(void)
{
	uint64_t c = vs.dev.base + VIO_CONFIG, c64, x = 0;
	uint32_t lo, hi, gen = vio_r32(&vs.dev, VIO_CONFIG_GEN);

	if (!vsock_up()) {
		vb_fail("cfg.space", "vsock setup failed");
		return;
	}
	c64 = vb_mmio_read64(c);
	x ^= vb_mmio_read8(c) ^ vb_mmio_read16(c + 1);
	x ^= vb_mmio_read32(c + 6) ^ vb_mmio_read32(c + 8);
	x ^= vb_mmio_read64(c + 0xf8) ^ vb_mmio_read32(c + 0xfe);
	vb_mmio_write32(c, 7);
	vb_mmio_write64(c, ~0ull);
	vb_mmio_write8(c + 1, 9);
	vb_mmio_write32(c + 8, ~0u);
	vb_mmio_write64(c + 0x80, ~0ull);
	vb_mmio_write64(c + 0xfc, ~0ull);
	vb_mmio_write32(rng.base + VIO_CONFIG, ~0u);	/* rng has none */
	vb_mmio_write64(rng.base + 0x1f8, ~0ull);
	lo = vio_r32(&vs.dev, VIO_CONFIG);
	hi = vio_r32(&vs.dev, VIO_CONFIG + 4);
	vb_check(lo == 3 && !hi && vio_r32(&vs.dev, VIO_CONFIG_GEN) == gen &&
		 vsock_knock(5004) && !rng_try(), "cfg.space",
		 "config writes ignored: guest_cid %u:%u (64-bit read %lu), "
		 "odd reads xor %#lx; both devices work", hi, lo, c64, x);
}

void hostile_registers(void)
{
	if (!rng_up()) {
		vb_fail("reg", "rng setup failed");
		return;
	}
	reg_readonly();
	reg_widths();
	reg_queues();
	status_features();
	config_space();
}
