/* bootcheck.c: validate what the VMM handed over at boot */
#include "lib.h"

const char vb_guest_name[] = "bootcheck";

/*
 * Expectations come from the kernel command line, so one image serves
 * every VM shape; a check whose parameter is absent is skipped (or only
 * reported).  Parameters:
 *
 *   vbtest.mem=<MiB>		e820 RAM total, within 2 MiB
 *   vbtest.initrd_size=<bytes>	ramdisk_size (+ ext_ramdisk_size)
 *   vbtest.initrd_crc32=<hex>	CRC-32 (zlib/gzip) of the initrd;
 *				vbtest.initrd_sha=<hex> is an alias
 *   vbtest.cpus=<N>		enabled CPUs in the MP table / ACPI MADT
 *   vbtest.entry=<16|32|64>	boot-protocol entry that must be used
 *   vbtest.hv_sig=<text>	CPUID 0x40000000 signature, e.g. KVMKVMKVM
 */

#define MIB		(1024ULL * 1024)
#define KERNEL_END	((uint64_t)(uintptr_t)_end)

static struct vb_e820_entry *e820;
static unsigned ne820;

/* [a, a+alen) and [b, b+blen) intersect */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* [addr, addr+len) is covered by RAM entries (adjacent ones merge). */
static bool in_ram(uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;
	bool progress = true;

	if (end < addr)
		return false;
	while (addr < end && progress) {
		progress = false;
		for (unsigned i = 0; i < ne820; i++) {
			const struct vb_e820_entry *e = &e820[i];

			if (e->type == VB_E820_RAM && e->addr <= addr &&
			    addr < e->addr + e->size) {
				addr = e->addr + e->size;
				progress = true;
			}
		}
	}
	return addr >= end;
}

static void check_header(const struct vb_setup_header *h)
{
	vb_check(h->boot_flag == 0xaa55, "hdr.boot_flag", "%#x", h->boot_flag);
	vb_check(h->header == VB_HDRS_MAGIC, "hdr.magic", "%#x", h->header);
	/* the loader copies our header: it must keep our version */
	vb_check(h->version == 0x020c, "hdr.version", "%#x", h->version);
	vb_check(h->type_of_loader != 0, "hdr.type_of_loader", "%#x",
		 h->type_of_loader);
	vb_check(h->loadflags & VB_LOADED_HIGH, "hdr.loadflags",
		 "%#x (LOADED_HIGH)", h->loadflags);
	vb_info("code32_start=%#x setup_sects=%u init_size=%#x",
		h->code32_start, h->setup_sects, h->init_size);
}

static void check_cmdline(struct vb_boot_params *bp)
{
	uint64_t p = bp->hdr.cmd_line_ptr |
		     (uint64_t)bp->ext_cmd_line_ptr << 32;
	size_t len = strlen(vb_cmdline);

	if (!vb_check(!vb_cmdline_error, "cmdline", "%s at %#lx",
		      vb_cmdline_error ? vb_cmdline_error : "NUL-terminated",
		      p))
		return;
	vb_info("cmdline (%zu bytes): %s", len, vb_cmdline);
	vb_check(in_ram(p, len + 1) && !overlaps(p, len + 1, VB_LOAD_ADDR,
		 KERNEL_END - VB_LOAD_ADDR), "cmdline.placement",
		 "[%#lx, %#lx) in RAM, clear of the kernel", p, p + len + 1);
}

static void check_e820(struct vb_boot_params *bp)
{
	uint64_t total = 0, mem, prev_end = 0;
	bool sorted = true, disjoint = true, hole = true, ram0 = false;

	ne820 = bp->e820_entries;
	e820 = bp->e820_table;
	if (!vb_check(ne820 >= 1 && ne820 <= VB_E820_MAX, "e820.count",
		      "%u entries", ne820))
		ne820 = ne820 > VB_E820_MAX ? VB_E820_MAX : ne820;
	for (unsigned i = 0; i < ne820; i++) {
		const struct vb_e820_entry *e = &e820[i];
		uint64_t end = e->addr + e->size;

		vb_info("e820[%u] %#014lx-%#014lx type %u", i, e->addr, end,
			e->type);
		if (i && e->addr < e820[i - 1].addr)
			sorted = false;
		if (!e->size || end < e->addr || (i && e->addr < prev_end))
			disjoint = false;
		prev_end = end;
		if (e->type != VB_E820_RAM)
			continue;
		total += e->size;
		if (e->addr == 0)
			ram0 = true;
		if (overlaps(e->addr, e->size, 0xa0000, 0x60000))
			hole = false;
	}
	vb_check(sorted, "e820.sorted", "entries in address order");
	vb_check(disjoint, "e820.disjoint", "no empty or overlapping entry");
	vb_check(ram0, "e820.ram_at_0", "RAM entry at address 0");
	vb_check(hole, "e820.legacy_hole", "no RAM in [0xa0000, 0x100000)");
	vb_check(in_ram(VB_LOAD_ADDR, KERNEL_END - VB_LOAD_ADDR),
		 "e820.kernel_in_ram", "[%#lx, %#lx)", VB_LOAD_ADDR,
		 KERNEL_END);
	vb_check(in_ram((uintptr_t)bp, sizeof(*bp)), "e820.zero_page_in_ram",
		 "boot_params at %p", (void *)bp);
	if (!vb_param_u64("vbtest.mem", &mem)) {
		vb_skip("e820.total", "%lu KiB RAM; no vbtest.mem=",
			total >> 10);
		return;
	}
	mem *= MIB;
	vb_check(total + 2 * MIB >= mem && total <= mem + 2 * MIB,
		 "e820.total", "%lu KiB RAM, expected %lu KiB +- 2 MiB",
		 total >> 10, mem >> 10);
}

static void check_initrd(struct vb_boot_params *bp)
{
	uint64_t addr = bp->hdr.ramdisk_image |
			(uint64_t)bp->ext_ramdisk_image << 32;
	uint64_t size = bp->hdr.ramdisk_size |
			(uint64_t)bp->ext_ramdisk_size << 32;
	uint64_t want, cl = bp->hdr.cmd_line_ptr |
			    (uint64_t)bp->ext_cmd_line_ptr << 32;
	uint32_t crc;

	if (vb_param_u64("vbtest.initrd_size", &want))
		vb_check(size == want, "initrd.size", "%lu bytes at %#lx, "
			 "expected %lu", size, addr, want);
	if (!size) {
		vb_skip("initrd", "no initrd");
		return;
	}
	if (!vb_check(in_ram(addr, size), "initrd.in_ram", "[%#lx, %#lx)",
		      addr, addr + size))
		return;		/* reading it could fault: stop here */
	vb_check(!overlaps(addr, size, VB_LOAD_ADDR,
			   KERNEL_END - VB_LOAD_ADDR) &&
		 !overlaps(addr, size, (uintptr_t)bp, sizeof(*bp)) &&
		 !overlaps(addr, size, cl, strlen(vb_cmdline) + 1),
		 "initrd.placement", "clear of kernel, zero page, cmdline");
	/* we do not set XLF_CAN_BE_LOADED_ABOVE_4G: initrd_addr_max holds */
	vb_check(addr + size <= (uint64_t)bp->hdr.initrd_addr_max + 1,
		 "initrd.addr_max", "end %#lx, initrd_addr_max %#x",
		 addr + size, bp->hdr.initrd_addr_max);
	crc = vb_crc32(vb_phys(addr), size);
	if (vb_param_hex("vbtest.initrd_crc32", &want) ||
	    vb_param_hex("vbtest.initrd_sha", &want))
		vb_check(crc == want, "initrd.crc32", "%08x, expected %08lx",
			 crc, want);
	else
		vb_skip("initrd.crc32", "%08x; no vbtest.initrd_crc32=", crc);
}

static void check_cpuid(void)
{
	struct vb_cpuid r = vb_cpuid(1, 0), s = vb_cpuid(0x40000000, 0);
	char sig[13];
	size_t len;
	const char *want;

	vb_check(r.ecx >> 31, "cpuid.hypervisor", "CPUID.1:ECX[31]");
	memcpy(sig, &s.ebx, 4);
	memcpy(sig + 4, &s.ecx, 4);
	memcpy(sig + 8, &s.edx, 4);
	sig[12] = '\0';
	for (int i = 0; i < 12; i++)		/* keep the line printable */
		if (sig[i] && (sig[i] < 0x20 || sig[i] > 0x7e))
			sig[i] = '?';
	vb_info("hypervisor signature \"%s\" max leaf %#x", sig, s.eax);
	want = vb_param("vbtest.hv_sig", &len);
	if (want)
		vb_check(strlen(sig) == len && !memcmp(sig, want, len),
			 "cpuid.hv_sig", "\"%s\"", sig);
	r = vb_cpuid(0x80000000, 0);
	if (r.eax >= 0x80000001)
		r = vb_cpuid(0x80000001, 0);
	else
		r.edx = 0;
	vb_check(r.edx >> 29 & 1, "cpuid.long_mode", "CPUID.80000001:EDX[29]");
}

static void check_cpus(void)
{
	int mp = vb_mptable_cpus(), madt = vb_madt_cpus();
	uint64_t want;

	vb_info("cpus: mptable %d, madt %d (-1: none)", mp, madt);
	if (!vb_param_u64("vbtest.cpus", &want))
		return;
	if (mp < 0 && madt < 0) {
		vb_fail("cpus", "no MP table and no ACPI MADT");
		return;
	}
	vb_check((mp < 0 || (uint64_t)mp == want) &&
		 (madt < 0 || (uint64_t)madt == want), "cpus",
		 "mptable %d madt %d, expected %lu", mp, madt, want);
}

static void check_self(void)
{
	uint64_t want;
	const char *at = vb_phys(VB_LOAD_ADDR + 8);

	vb_check(vb_entry_addr == VB_LOAD_ADDR, "self.load_addr",
		 "running at %#lx", vb_entry_addr);
	vb_check(at == vb_signature && !memcmp(at, "VBTESTGUEST", 12),
		 "self.signature", "our image is at %#lx", VB_LOAD_ADDR);
	if (vb_param_u64("vbtest.entry", &want))
		vb_check(vb_entry_kind == want, "self.entry",
			 "%u-bit entry, expected %lu-bit", vb_entry_kind, want);
}

void guest_main(struct vb_boot_params *bp)
{
	check_self();
	check_header(&bp->hdr);
	check_e820(bp);
	check_cmdline(bp);
	check_initrd(bp);
	check_cpuid();
	check_cpus();
}
