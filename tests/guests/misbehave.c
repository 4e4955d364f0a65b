/* misbehave.c: hostile (but architecturally legal) guest for VMM tests */
#include "lib.h"

const char vb_guest_name[] = "misbehave";

/*
 * Everything here is something a buggy or malicious kernel may do; the
 * VMM must treat it as bad guest input (voidbox STYLE R7: reject it, log
 * it rate-limited, never die).  Each step prints PASS once the guest got
 * past it, so a VMM that crashes or hangs shows as a missing DONE line.
 * The values read back are reported, not judged: what an unbacked access
 * returns is VMM policy (all ones, like an idle PC bus, is customary).
 *
 * cmdline: vbtest.pio_count=N random port accesses (default 2000);
 * every virtio_mmio.device=<size>@<base>:<irq> window is probed too.
 */

#define UNBACKED	0xd0000000UL	/* below the 4G hole, never RAM */
#define VIRTIO_WINDOW	0xfeb00000UL	/* QEMU microvm's virtio-mmio */
#define HOLE_LO		0xfe000000UL	/* keep off IOAPIC/LAPIC/HPET */
#define MIB		(1024UL * 1024)

static uint8_t buf[4096] __attribute__((aligned(64)));
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)		/* xorshift64: reproducible runs */
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Every width, read then write then read back. */
static void mmio_widths(const char *check, uint64_t a)
{
	uint64_t x = 0;
	uint32_t back;

	x ^= vb_mmio_read8(a);
	x ^= vb_mmio_read16(a + 2);
	x ^= vb_mmio_read32(a + 4);
	x ^= vb_mmio_read64(a + 8);
	vb_mmio_write8(a, 0x5a);
	vb_mmio_write16(a + 2, 0xa55a);
	vb_mmio_write32(a + 4, 0xdeadbeef);
	vb_mmio_write64(a + 8, 0x0123456789abcdefULL);
	back = vb_mmio_read32(a + 4);
	vb_pass(check, "%#lx: reads xor %#lx, read after write %#x", a, x,
		back);
}

/* Accesses that straddle a page, and string instructions on MMIO. */
static void mmio_odd(void)
{
	uint64_t a = UNBACKED + 0x1000;
	uint32_t x;
	uint64_t y;

	x = vb_mmio_read32(a - 2);
	vb_mmio_write32(a - 2, 0x11223344);
	y = vb_mmio_read64(a + 0x1000 - 4);
	vb_mmio_write64(a + 0x1000 - 4, ~0ULL);
	vb_pass("mmio.split", "page-straddling 4/8-byte: %#x %#lx", x, y);

	a = UNBACKED + 0x3000;
	__asm__ __volatile__("rep movsb"	/* MMIO -> RAM */
			     : "+D"((uint8_t *){ buf }), "+S"(a),
			       "+c"((size_t){ 64 }) : : "memory");
	a = UNBACKED + 0x4000;
	__asm__ __volatile__("rep stosb"	/* RAM -> MMIO */
			     : "+D"(a), "+c"((size_t){ 64 }) : "a"(0x77)
			     : "memory");
	vb_pass("mmio.string", "rep movsb/stosb on MMIO: first byte %#x",
		buf[0]);
}

/* Registers of a virtio-mmio window (virtio 1.2 §4.2.2), including
 * writes to read-only ones, which the device must ignore. */
static void virtio_window(uint64_t base, uint64_t size)
{
	uint32_t magic = vb_mmio_read32(base), ver = vb_mmio_read32(base + 4);
	uint32_t id = vb_mmio_read32(base + 8);

	vb_mmio_write32(base, 0);		/* MagicValue: RO */
	vb_mmio_write32(base + 8, 0xffffffff);	/* DeviceID: RO */
	vb_mmio_write8(base + 0x0c1, 0x55);	/* reserved, byte-wide */
	(void)vb_mmio_read64(base + 0x100);	/* config, 64-bit */
	(void)vb_mmio_read32(base + size - 4);	/* last word */
	(void)vb_mmio_read32(base + size);	/* just past the window */
	vb_pass("mmio.virtio", "%#lx+%#lx: magic %#x version %u id %u", base,
		size, magic, ver, id);
}

/* Linux virtio_mmio.c: <size>[K]@<baseaddr>:<irq>[:<id>] */
static bool parse_virtio(const char *v, size_t len, uint64_t *base,
			 uint64_t *size)
{
	const char *at = v, *end = v + len, *colon;
	size_t slen;
	bool kib;

	while (at < end && *at != '@')
		at++;
	for (colon = at; colon < end && *colon != ':'; colon++)
		;
	if (at == v || at == end)
		return false;
	kib = (at[-1] | 0x20) == 'k';
	slen = (size_t)(at - v) - kib;
	if (!vb_parse_u64(v, slen, size) ||
	    !vb_parse_u64(at + 1, (size_t)(colon - at - 1), base))
		return false;
	if (kib)
		*size *= 1024;
	return *size >= 0x100 && *size <= 0x10000 &&
	       *base + *size <= VB_MAPPED_LIMIT;
}

static void virtio_windows(void)
{
	const char *pos = NULL, *v;
	uint64_t base, size;
	size_t len;
	int n = 0;

	while ((v = vb_param_next("virtio_mmio.device", &pos, &len))) {
		if (parse_virtio(v, len, &base, &size))
			virtio_window(base, size);
		else
			vb_fail("mmio.virtio", "bad virtio_mmio.device=%.*s",
				(int)len, v);
		n++;
	}
	if (!n)
		virtio_window(VIRTIO_WINDOW, 0x200);
}

static void beyond_ram(void)
{
	const struct vb_e820_entry *e = vb_bp->e820_table;
	uint64_t end = 0, a;
	unsigned i, n = vb_bp->e820_entries;

	for (i = 0; i < n && i < VB_E820_MAX; i++)
		if (e[i].type == VB_E820_RAM && e[i].addr + e[i].size > end)
			end = e[i].addr + e[i].size;
	a = ((end + 2 * MIB - 1) & ~(2 * MIB - 1)) + 16 * MIB;
	if (a < HOLE_LO)
		mmio_widths("mmio.beyond_ram", a);
	else
		vb_skip("mmio.beyond_ram", "RAM ends at %#lx", end);
	a = (4UL << 30) + 256 * MIB;		/* above 4 GiB */
	if (end <= a)
		mmio_widths("mmio.above_4g", a);
	else
		vb_skip("mmio.above_4g", "RAM ends at %#lx", end);
}

/* Ports whose side effects would end or garble the run. */
static bool port_denied(unsigned port, unsigned size)
{
	for (unsigned p = port; p < port + size; p++) {
		unsigned q = p & 0xffff;

		if ((q >= 0x60 && q <= 0x6f) ||		/* i8042: reset */
		    q == 0x92 ||			/* port A: reset */
		    (q >= 0xf0 && q <= 0xff) ||		/* isa-debug-exit */
		    (q >= 0x3f8 && q <= 0x3ff) ||	/* COM1: our console */
		    (q >= 0x400 && q <= 0x6ff) ||	/* ACPI PM, fw_cfg */
		    (q >= 0xcf8 && q <= 0xcff) ||	/* PCI, 0xcf9 reset */
		    (q >= 0xb000 && q <= 0xb0ff))	/* q35 ACPI PM */
			return true;
	}
	return false;
}

static void pio_random(void)
{
	uint64_t count = 2000, x = 0, done = 0;

	vb_param_u64("vbtest.pio_count", &count);
	while (done < count) {
		uint64_t r = rng();
		unsigned port = r & 0xffff, size = 1u << (r >> 16 & 3);
		uint32_t val = (uint32_t)(r >> 32);

		if (size == 8 || port_denied(port, size))
			continue;
		if (r >> 20 & 1) {
			x ^= size == 1 ? vb_inb(port) : size == 2 ?
			     vb_inw(port) : vb_inl(port);
		} else if (size == 1) {
			vb_outb(port, (uint8_t)val);
		} else if (size == 2) {
			vb_outw(port, (uint16_t)val);
		} else {
			vb_outl(port, val);
		}
		done++;
	}
	vb_pass("pio.random", "%lu accesses, reads xor %#lx", done, x);
}

static void pio_nodevice(void)
{
	uint32_t com2 = vb_inb(0x2f8 + 5), lpt = vb_inb(0x379);
	uint32_t w = vb_inw(0x1234), l = vb_inl(0xfffc);
	uint32_t wrap = vb_inl(0xfffe), wrapw = vb_inw(0xffff);

	(void)vb_inb(0x3f8 + 2);		/* COM1 IIR, MSR, SCR */
	(void)vb_inb(0x3f8 + 6);
	(void)vb_inb(0x3f8 + 7);
	vb_pass("pio.no_device", "COM2 LSR %#x, LPT1 status %#x, "
		"inw 0x1234 %#x, inl 0xfffc %#x", com2, lpt, w, l);
	vb_pass("pio.port_wrap", "inl 0xfffe %#x, inw 0xffff %#x", wrap,
		wrapw);
}

/* String port I/O: one exit moves many items under KVM. */
static void pio_string(void)
{
	uint8_t *p = buf + 1024;

	memset(buf, 0xcc, sizeof(buf));
	__asm__ __volatile__("rep insb" : "+D"(p), "+c"((size_t){ 64 })
			     : "d"(0x2f8) : "memory");
	__asm__ __volatile__("rep outsw" : "+S"((uint8_t *){ buf }),
			     "+c"((size_t){ 32 }) : "d"(0x1234));
	__asm__ __volatile__("rep insl" : "+D"((uint8_t *){ buf + 2048 }),
			     "+c"((size_t){ 16 }) : "d"(0x5678) : "memory");
	/* backwards (EFLAGS.DF = 1), ending at buf + 3072 */
	__asm__ __volatile__("std; rep insb; cld"
			     : "+D"((uint8_t *){ buf + 3135 }),
			       "+c"((size_t){ 64 }) : "d"(0x2f8) : "memory");
	vb_pass("pio.string", "insb %#x, insl %#x, backwards insb %#x",
		buf[1024], buf[2048], buf[3072]);
}

void guest_main(struct vb_boot_params *bp)
{
	(void)bp;
	mmio_widths("mmio.unbacked", UNBACKED);
	mmio_odd();
	mmio_widths("mmio.legacy_vga", 0xa0000);
	virtio_windows();
	beyond_ram();
	pio_nodevice();
	pio_string();
	pio_random();
}
