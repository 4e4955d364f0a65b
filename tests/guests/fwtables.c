/* fwtables.c: count CPUs from the MP table and the ACPI MADT */
#include "lib.h"

/*
 * Without ACPI, Linux learns the CPUs from the Intel MultiProcessor
 * Specification table (what Firecracker-style VMMs and qboot write);
 * with ACPI, from the MADT.  Both are looked for where the specs say,
 * and every pointer is checked against the mapped range first: a broken
 * table must give a FAIL line, not a page fault.
 */

static bool mapped(uint64_t addr, uint64_t len)
{
	return addr && len < VB_MAPPED_LIMIT && addr < VB_MAPPED_LIMIT - len;
}

static uint8_t sum8(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s += *b++;
	return s;
}

/* Scan [base, base+len) on 16-byte boundaries for sig with a good sum. */
static uint64_t scan(uint64_t base, uint64_t len, const char *sig,
		     size_t siglen, size_t sumlen)
{
	uint64_t p;

	for (p = base; p + sumlen <= base + len; p += 16)
		if (!memcmp((const void *)p, sig, siglen) &&
		    !sum8((const void *)p, sumlen))
			return p;
	return 0;
}

/*
 * Where MP spec 1.4 §4 and ACPI §5.2.5.1 say to look, plus what Linux's
 * find_smp_config() adds: the first KiB, KiB 639 when the BIOS data
 * area gives no base memory size (VMMs without a BIOS leave it 0).
 */
static uint64_t scan_low(const char *sig, size_t siglen, size_t sumlen)
{
	uint64_t ebda = (uint64_t)*(volatile uint16_t *)vb_phys(0x40e) << 4;
	uint64_t basek = *(volatile uint16_t *)vb_phys(0x413);
	uint64_t p;

	if (basek < 512 || basek > 640)
		basek = 640;
	p = scan(0, 1024, sig, siglen, sumlen);
	if (!p && ebda >= 0x80000 && ebda < 0xa0000)
		p = scan(ebda, 1024, sig, siglen, sumlen);
	if (!p)
		p = scan(basek * 1024 - 1024, 1024, sig, siglen, sumlen);
	if (!p)
		p = scan(0xe0000, 0x20000, sig, siglen, sumlen);
	return p;
}

/* MP spec 1.4 §4.1 floating pointer, §4.2 config table, §4.3.1 CPUs */
int vb_mptable_cpus(void)
{
	uint64_t mpf = scan_low("_MP_", 4, 16), t;
	const uint8_t *e, *end;
	uint16_t len;
	int cpus = 0;

	if (!mpf)
		return -1;
	t = *(volatile uint32_t *)(mpf + 4);
	if (!mapped(t, 0x2c) || memcmp((const void *)t, "PCMP", 4))
		return -1;
	len = *(volatile uint16_t *)(t + 4);
	if (len < 0x2c || !mapped(t, len) || sum8((const void *)t, len))
		return -1;
	e = (const uint8_t *)t + 0x2c;
	end = (const uint8_t *)t + len;
	/* walk by length, like Linux's smp_read_mpc(): qboot leaves the
	 * entry count at 0 */
	while (e < end) {
		if (*e == 0) {			/* processor, 20 bytes */
			if (e + 20 > end)
				return -1;
			cpus += e[3] & 1;	/* CPU flags: EN */
			e += 20;
		} else if (*e <= 4) {		/* bus, I/O APIC, ints */
			e += 8;
		} else {
			return -1;
		}
	}
	return cpus;
}

/* ACPI 6.5 §5.2.5 RSDP, §5.2.7/8 RSDT/XSDT, §5.2.12 MADT */
static uint64_t find_madt(void)
{
	uint64_t rsdp = vb_bp->acpi_rsdp_addr, sdt, n, i;
	uint32_t sdt_len;
	unsigned esz;

	if (!mapped(rsdp, 36) || memcmp((const void *)rsdp, "RSD PTR ", 8))
		rsdp = scan_low("RSD PTR ", 8, 20);
	if (!rsdp)
		return 0;
	if (*(volatile uint8_t *)(rsdp + 15) >= 2 &&
	    *(volatile uint64_t *)(rsdp + 24)) {
		sdt = *(volatile uint64_t *)(rsdp + 24);	/* XSDT */
		esz = 8;
	} else {
		sdt = *(volatile uint32_t *)(rsdp + 16);	/* RSDT */
		esz = 4;
	}
	if (!mapped(sdt, 36))
		return 0;
	sdt_len = *(volatile uint32_t *)(sdt + 4);
	if (sdt_len < 36 || !mapped(sdt, sdt_len))
		return 0;
	n = (sdt_len - 36) / esz;
	for (i = 0; i < n; i++) {
		uint64_t ent = sdt + 36 + esz * i, t;

		t = esz == 8 ? *(volatile uint64_t *)ent
			     : *(volatile uint32_t *)ent;
		if (mapped(t, 36) && !memcmp((const void *)t, "APIC", 4))
			return t;
	}
	return 0;
}

int vb_madt_cpus(void)
{
	uint64_t madt = find_madt();
	const uint8_t *e, *end;
	uint32_t len;
	int cpus = 0;

	if (!madt)
		return -1;
	len = *(volatile uint32_t *)(madt + 4);
	if (len < 44 || !mapped(madt, len) || sum8((const void *)madt, len))
		return -1;
	e = (const uint8_t *)madt + 44;
	end = (const uint8_t *)madt + len;
	while (e + 2 <= end && e[1] >= 2 && e + e[1] <= end) {
		if (e[0] == 0 && e[1] >= 8)		/* Local APIC */
			cpus += (e[4] & 1) != 0;	/* Enabled */
		else if (e[0] == 9 && e[1] >= 16)	/* Local x2APIC */
			cpus += (e[8] & 1) != 0;
		e += e[1];
	}
	return cpus;
}
