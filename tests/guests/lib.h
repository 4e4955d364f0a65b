/* lib.h: shared runtime of the voidbox test guests (freestanding, x86_64) */
#ifndef VB_GUEST_LIB_H
#define VB_GUEST_LIB_H

/*
 * The guests are linked at VB_LOAD_ADDR and entered through the Linux x86
 * boot protocol (Documentation/arch/x86/boot.rst); head.S holds the
 * entries.  Everything here runs in long mode with our own identity map
 * of the low VB_MAPPED_LIMIT bytes (2 MiB pages), our own GDT and an IDT
 * that reports any CPU exception as a FAIL line.
 *
 * Only freestanding headers are used (C11 §4: stdarg, stddef, stdint,
 * stdbool, stdnoreturn are available without a C library).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#define VB_LOAD_ADDR		0x100000UL
#define VB_MAPPED_LIMIT		(5ULL << 30)	/* head.S: VB_NR_PD GiB */
#define VB_COM1			0x3f8
#define VB_CMDLINE_MAX		4096	/* our header's cmdline_size + 1 */

/* boot.rst "DETAILS OF HEADER FIELDS"; offsets are from the zero page. */
struct vb_setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;
	uint32_t syssize;
	uint16_t ram_size;
	uint16_t vid_mode;
	uint16_t root_dev;
	uint16_t boot_flag;		/* 0x1fe: 0xaa55 */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202: "HdrS" */
	uint16_t version;
	uint32_t realmode_swtch;
	uint16_t start_sys_seg;
	uint16_t kernel_version;
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;
	uint16_t setup_move_size;
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;
	uint16_t heap_end_ptr;
	uint8_t ext_loader_ver;
	uint8_t ext_loader_type;
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint8_t relocatable_kernel;
	uint8_t min_alignment;
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;
	uint32_t hardware_subarch;
	uint64_t hardware_subarch_data;
	uint32_t payload_offset;
	uint32_t payload_length;
	uint64_t setup_data;
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;
} __attribute__((packed));

#define VB_HDRS_MAGIC		0x53726448u	/* "HdrS" */
#define VB_LOADED_HIGH		0x01
#define VB_XLF_KERNEL_64	0x01
#define VB_E820_RAM		1
#define VB_E820_MAX		128

struct vb_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* The "zero page" (boot.rst "THE ZERO PAGE"; bootparam.h layout). */
struct vb_boot_params {
	uint8_t _pad0[0x70];
	uint64_t acpi_rsdp_addr;	/* 0x070 */
	uint8_t _pad1[0xc0 - 0x78];
	uint32_t ext_ramdisk_image;	/* 0x0c0 */
	uint32_t ext_ramdisk_size;	/* 0x0c4 */
	uint32_t ext_cmd_line_ptr;	/* 0x0c8 */
	uint8_t _pad2[0x1e8 - 0xcc];
	uint8_t e820_entries;		/* 0x1e8 */
	uint8_t _pad3[0x1f1 - 0x1e9];
	struct vb_setup_header hdr;	/* 0x1f1 */
	uint8_t _pad4[0x2d0 - 0x1f1 - sizeof(struct vb_setup_header)];
	struct vb_e820_entry e820_table[VB_E820_MAX];	/* 0x2d0 */
	uint8_t _pad5[0x1000 - 0xcd0];
} __attribute__((packed));

_Static_assert(offsetof(struct vb_boot_params, hdr.jump) == 0x200, "hdr");
_Static_assert(offsetof(struct vb_boot_params, hdr.init_size) == 0x260,
	       "init_size");
_Static_assert(sizeof(struct vb_boot_params) == 4096, "zero page size");

/* Provided by each guest. */
extern const char vb_guest_name[];
void guest_main(struct vb_boot_params *bp);

/* head.S / guest.ld */
extern uint32_t vb_entry_kind;		/* 16, 32 or 64: entry path taken */
extern uint64_t vb_entry_addr;		/* measured address of the entry */
extern const char vb_signature[];	/* at VB_LOAD_ADDR + 8 */
extern char _text[], _end[];
void vb_exc_stubs(void);		/* 32 stubs, 16 bytes apart */

/* lib.c: the run, as set up before guest_main() */
extern struct vb_boot_params *vb_bp;
extern const char *vb_cmdline;	/* never NULL ("" when unusable) */
extern const char *vb_cmdline_error;	/* NULL when the cmdline was fine */

/* Port I/O: each access is one exit under KVM. */
static inline void vb_outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void vb_outw(uint16_t port, uint16_t v)
{
	__asm__ __volatile__("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void vb_outl(uint16_t port, uint32_t v)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t vb_inb(uint16_t port)
{
	uint8_t v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t vb_inw(uint16_t port)
{
	uint16_t v;
	__asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t vb_inl(uint16_t port)
{
	uint32_t v;
	__asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/*
 * MMIO: one plain MOV of exactly the given width, so the hypervisor's
 * instruction decoder sees the simplest form (what a virtio-mmio driver
 * needs: virtio 1.2 §4.2.2 wants 32-bit accesses to the registers).
 */
#define VB_MMIO_RW(bits, suf)						\
static inline uint##bits##_t vb_mmio_read##bits(uint64_t addr)		\
{									\
	uint##bits##_t v;						\
	__asm__ __volatile__("mov" suf " %1, %0" : "=r"(v)		\
			     : "m"(*(volatile uint##bits##_t *)addr));	\
	return v;							\
}									\
static inline void vb_mmio_write##bits(uint64_t addr, uint##bits##_t v)	\
{									\
	__asm__ __volatile__("mov" suf " %1, %0"			\
			     : "=m"(*(volatile uint##bits##_t *)addr)	\
			     : "r"(v) : "memory");			\
}
VB_MMIO_RW(8, "b")
VB_MMIO_RW(16, "w")
VB_MMIO_RW(32, "l")
VB_MMIO_RW(64, "q")
#undef VB_MMIO_RW

/*
 * A pointer to a physical address (identity mapped).  The empty asm
 * hides the constant from gcc, which would otherwise flag small
 * addresses such as the BIOS data area as null-pointer arithmetic.
 */
static inline void *vb_phys(uint64_t addr)
{
	__asm__("" : "+r"(addr));
	return (void *)addr;
}

struct vb_cpuid {
	uint32_t eax, ebx, ecx, edx;
};
static inline struct vb_cpuid vb_cpuid(uint32_t leaf, uint32_t sub)
{
	struct vb_cpuid r;
	__asm__ __volatile__("cpuid"
			     : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx),
			       "=d"(r.edx)
			     : "a"(leaf), "c"(sub));
	return r;
}
/* lfence keeps rdtsc from drifting around the measured code. */
static inline uint64_t vb_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* printf.c: %[-0#][width][.prec][l|ll|z](d i u x X p s c %).
 * Width counts the "0x" of %#x, as in C, but %#x of 0 is 0x0 here;
 * precision only limits %s. */
void vb_putc(char c);
void vb_puts(const char *s);
int vb_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vb_vprintf(const char *fmt, va_list ap);
int vb_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* lib.c: reporting.  <check> is a short name unique within the guest. */
void vb_pass(const char *check, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vb_fail(const char *check, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* PASS or FAIL with the same detail; returns ok. */
bool vb_check(bool ok, const char *check, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Not counted: "VBTEST SKIP <check>: ..." and "VBTEST INFO <guest>: ..." */
void vb_skip(const char *check, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vb_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "VBTEST DONE <guest> pass=N fail=M", then vb_reset(). */
noreturn void vb_finish(void);
/* i8042 reset, then triple fault, then hlt forever. */
noreturn void vb_reset(void);

/* lib.c: kernel command line ("key=value" words separated by spaces) */
/* Value of the first key=, or NULL; *len gets its length. */
const char *vb_param(const char *key, size_t *len);
/* Next key= after *pos (NULL: from the start); advances *pos. */
const char *vb_param_next(const char *key, const char **pos, size_t *len);
/* Decimal, or hex with 0x; false if absent or malformed. */
bool vb_param_u64(const char *key, uint64_t *out);
/* Hex, 0x optional. */
bool vb_param_hex(const char *key, uint64_t *out);
/* Parse a number as vb_param_u64 does, from a length-bounded string. */
bool vb_parse_u64(const char *s, size_t len, uint64_t *out);
/* true if key=value is present with exactly this value */
bool vb_param_is(const char *key, const char *value);

/* lib.c: strings and checksums */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t vb_strnlen(const char *s, size_t max);
/* CRC-32 as zlib/gzip/PNG (reflected 0xedb88320, init and xorout ~0) */
uint32_t vb_crc32(const void *p, size_t n);

/* fwtables.c: CPU count from the MP table (MP spec 1.4 §4) and the ACPI
 * MADT (ACPI 6.5 §5.2.12); -1 when the table is absent or broken. */
int vb_mptable_cpus(void);
int vb_madt_cpus(void);

#endif
