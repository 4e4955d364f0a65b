/* boot.c: load a bzImage through the Linux x86 boot protocol, 64-bit entry.
 *
 * Primer (Documentation/arch/x86/boot.rst): a bzImage is the real-mode
 * setup code ((setup_sects + 1) sectors, starting with the setup header at
 * 0x1f1) followed by the protected-mode kernel. A 64-bit loader skips the
 * setup code entirely: it copies the protected-mode part to 1 MiB, builds a
 * zeroed struct boot_params ("zero page") holding a copy of the setup
 * header plus the e820 map, command line and initrd location, and jumps to
 * kernel + 0x200 in long mode with RSI pointing at the zero page
 * ("64-bit BOOT PROTOCOL"). We require protocol 2.12+ with XLF_KERNEL_64.
 *
 * The image comes from the user (--kernel) or from our own binary; either
 * way every field is checked before it is trusted.
 */
#include <stdio.h>
#include <string.h>

#include <elf.h>

#include <asm/bootparam.h>

#include "vmm.h"

#define E820_RAM      1
#define E820_RESERVED 2
#define SETUP_HDR_OFF 0x1f1
#define HDRS_MAGIC    0x53726448u	/* "HdrS" */

static void e820_add(struct boot_params *bp, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];

	e->addr = addr;
	e->size = size;
	e->type = type;
}

/* An uncompressed vmlinux (ELF64): PT_LOAD segments go to their physical
 * addresses, entry is phys_startup_64 with the same 64-bit protocol, and
 * the setup header the zero page needs is synthesised (after
 * Firecracker's ELF loader). This skips the in-guest decompressor. */
static int load_elf(struct vm *vm, struct setup_header *hdr,
		    uint64_t *kernel_end, uint64_t *rip, char *err,
		    size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	const uint8_t *img = c->kernel;
	Elf64_Ehdr eh;

	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64 ||
	    eh.e_phoff > c->kernel_size ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) >
		    c->kernel_size - eh.e_phoff) {
		snprintf(err, errlen, "kernel is not an x86-64 ELF we can load");
		return -1;
	}
	*kernel_end = GPA_KERNEL;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		uint8_t *dst = vm_gpa_ptr(vm, ph.p_paddr, ph.p_memsz);
		if (!dst || ph.p_filesz > ph.p_memsz ||
		    ph.p_offset > c->kernel_size ||
		    ph.p_filesz > c->kernel_size - ph.p_offset ||
		    ph.p_paddr < GPA_KERNEL) {
			snprintf(err, errlen, "kernel segment %u does not fit "
				 "in VM memory", i);
			return -1;
		}
		memcpy(dst, img + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr + ph.p_memsz > *kernel_end)
			*kernel_end = ph.p_paddr + ph.p_memsz;
	}
	*hdr = (struct setup_header){
		.boot_flag = 0xaa55, .header = HDRS_MAGIC, .version = 0x020c,
		.loadflags = LOADED_HIGH, .kernel_alignment = 0x1000000,
		.initrd_addr_max = 0x7fffffff, .cmdline_size = 2048,
		.xloadflags = XLF_KERNEL_64,
	};
	*rip = eh.e_entry;
	return 0;
}

int boot_load(struct vm *vm, struct boot_entry *entry, char *err,
	      size_t errlen)
{
	const struct vm_config *c = vm->cfg;
	const uint8_t *img = c->kernel;
	struct setup_header hdr;
	bool elf = c->kernel_size >= sizeof(Elf64_Ehdr) &&
		   !memcmp(img, ELFMAG, SELFMAG);
	uint64_t kernel_end, rip = GPA_KERNEL + 0x200;

	if (elf) {
		if (load_elf(vm, &hdr, &kernel_end, &rip, err, errlen) < 0)
			return -1;
		goto zero_page;
	}
	if (c->kernel_size < 0x1000) {
		snprintf(err, errlen, "kernel image too small (%zu bytes)",
			 c->kernel_size);
		return -1;
	}
	memcpy(&hdr, img + SETUP_HDR_OFF, sizeof(hdr));
	if (hdr.boot_flag != 0xaa55 || hdr.header != HDRS_MAGIC) {
		snprintf(err, errlen, "kernel is not a bzImage (no HdrS "
			 "setup header)");
		return -1;
	}
	if (hdr.version < 0x020c || !(hdr.xloadflags & XLF_KERNEL_64) ||
	    !(hdr.loadflags & LOADED_HIGH)) {
		snprintf(err, errlen, "kernel does not support the 64-bit boot "
			 "protocol (version %#x, xloadflags %#x)",
			 hdr.version, hdr.xloadflags);
		return -1;
	}
	size_t setup_sects = hdr.setup_sects ? hdr.setup_sects : 4;
	size_t pm_off = (setup_sects + 1) * 512;
	if (pm_off >= c->kernel_size) {
		snprintf(err, errlen, "kernel setup_sects (%zu) beyond the "
			 "image", setup_sects);
		return -1;
	}
	size_t pm_size = c->kernel_size - pm_off;
	/* The decompressor runs from 1 MiB and extracts the kernel to
	 * pref_address (LOAD_PHYSICAL_ADDR, 16 MiB for ours), needing
	 * init_size bytes from there: all of it must be RAM, and the initrd
	 * must stay clear of it. */
	kernel_end = GPA_KERNEL + pm_size;
	uint64_t pref = hdr.pref_address > GPA_KERNEL ? hdr.pref_address
						      : GPA_KERNEL;
	if (pref + hdr.init_size > kernel_end)
		kernel_end = pref + hdr.init_size;
	uint8_t *dst = vm_gpa_ptr(vm, GPA_KERNEL, kernel_end - GPA_KERNEL);
	if (!dst) {
		snprintf(err, errlen, "kernel needs %llu MiB of RAM; VM "
			 "memory too small",
			 (unsigned long long)(kernel_end >> 20) + 1);
		return -1;
	}
	memcpy(dst, img + pm_off, pm_size);
	/* The header's length is 0x202 + the byte at 0x201 (the jump). */
	size_t hdr_end = 0x202 + img[0x201];
	if (hdr_end > SETUP_HDR_OFF + sizeof(hdr))
		hdr_end = SETUP_HDR_OFF + sizeof(hdr);
	memset(&hdr, 0, sizeof(hdr));
	memcpy(&hdr, img + SETUP_HDR_OFF, hdr_end - SETUP_HDR_OFF);

zero_page:;
	/* Zero page: the setup header, then what the loader fills in. */
	struct boot_params *bp = vm_gpa_ptr(vm, GPA_ZERO_PAGE, sizeof(*bp));
	memset(bp, 0, sizeof(*bp));
	bp->hdr = hdr;
	bp->hdr.type_of_loader = 0xff;	/* "undefined" boot loader */
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00;

	size_t clen = strlen(vm->full_cmdline);
	uint32_t cmax = hdr.cmdline_size ? hdr.cmdline_size : 255;
	if (clen + 1 > GPA_CMDLINE_MAX || clen > cmax) {
		snprintf(err, errlen, "kernel command line too long (%zu > %u "
			 "bytes)", clen, cmax < GPA_CMDLINE_MAX - 1
			 ? cmax : GPA_CMDLINE_MAX - 1);
		return -1;
	}
	memcpy(vm_gpa_ptr(vm, GPA_CMDLINE, clen + 1), vm->full_cmdline, clen + 1);
	bp->hdr.cmd_line_ptr = (uint32_t)GPA_CMDLINE;
	bp->ext_cmd_line_ptr = 0;

	/* e820: low RAM up to the MP tables, the BIOS hole as reserved,
	 * then RAM from 1 MiB to the gap and above 4 GiB. */
	e820_add(bp, 0, GPA_MPTABLE, E820_RAM);
	e820_add(bp, GPA_MPTABLE, 0x100000 - GPA_MPTABLE, E820_RESERVED);
	e820_add(bp, 0x100000, vm->low_size - 0x100000, E820_RAM);
	if (vm->ram_size > vm->low_size)
		e820_add(bp, GPA_4G, vm->ram_size - vm->low_size, E820_RAM);

	if (c->initrd && c->initrd_size) {
		/* As high as allowed, below the gap and initrd_addr_max,
		 * page aligned, and never over the kernel. */
		uint64_t top = vm->low_size;
		if (hdr.initrd_addr_max && top > (uint64_t)hdr.initrd_addr_max + 1)
			top = (uint64_t)hdr.initrd_addr_max + 1;
		if (c->initrd_size > top) {
			snprintf(err, errlen, "initramfs (%zu bytes) larger "
				 "than VM memory", c->initrd_size);
			return -1;
		}
		uint64_t at = (top - c->initrd_size) & ~0xfffull;
		if (at < kernel_end) {
			snprintf(err, errlen, "VM memory too small for kernel "
				 "+ initramfs (%llu MiB needed)",
				 (unsigned long long)((kernel_end +
				  c->initrd_size) >> 20) + 1);
			return -1;
		}
		memcpy(vm_gpa_ptr(vm, at, c->initrd_size), c->initrd,
		       c->initrd_size);
		bp->hdr.ramdisk_image = (uint32_t)at;
		bp->hdr.ramdisk_size = (uint32_t)c->initrd_size;
		bp->ext_ramdisk_image = (uint32_t)(at >> 32);
		bp->ext_ramdisk_size = (uint32_t)((uint64_t)c->initrd_size >> 32);
	}
	entry->rip = rip;
	entry->rsi = GPA_ZERO_PAGE;
	return 0;
}
