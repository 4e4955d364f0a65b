/* mptable.c: Intel MultiProcessor Specification 1.4 tables.
 *
 * Without ACPI (we have none: no firmware, fast boot), Linux learns its
 * CPUs, the IOAPIC and the ISA interrupt routing from the MP tables
 * (CONFIG_X86_MPPARSE), found by scanning the last KiB of base memory for
 * the "_MP_" floating pointer (MP spec §4). Layout written at GPA_MPTABLE:
 *   floating pointer (16 B) | config table header (44 B) | entries
 * Entries: one processor per vCPU, one ISA bus, the IOAPIC, an I/O
 * interrupt entry per IOAPIC pin (identity ISA IRQ -> pin), and the two
 * local interrupts (ExtINT on LINT0, NMI on LINT1).
 */
#include <string.h>

#include "vmm.h"

#define MPC_APIC_VERSION 0x14
#define IOAPIC_VERSION   0x11
#define IOAPIC_PINS      24

struct mpf {
	char sig[4];		/* "_MP_" */
	uint32_t physptr;
	uint8_t length;		/* in 16-byte units: 1 */
	uint8_t spec_rev;	/* 4 = MP 1.4 */
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_header {
	char sig[4];		/* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_ptr;
	uint16_t oem_size;
	uint16_t count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;		/* 0 */
	uint8_t apic_id, apic_ver, flags;	/* flags: 1 enabled, 2 BSP */
	uint32_t signature, features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;		/* 1 */
	uint8_t id;
	char name[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;		/* 2 */
	uint8_t id, ver, flags;
	uint32_t addr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;		/* 3 = I/O interrupt, 4 = local interrupt */
	uint8_t irqtype;	/* 0 INT, 1 NMI, 3 ExtINT */
	uint16_t flags;		/* 0: conforming polarity/trigger (ISA: edge) */
	uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

static uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s += *b++;
	return (uint8_t)-s;
}

int mptable_write(struct vm *vm)
{
	size_t entries = vm->nr_vcpus * sizeof(struct mpc_cpu) +
			 sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
			 (IOAPIC_PINS + 2) * sizeof(struct mpc_intsrc);
	size_t total = sizeof(struct mpf) + sizeof(struct mpc_header) + entries;
	uint8_t *base = vm_gpa_ptr(vm, GPA_MPTABLE, total);

	if (!base || GPA_MPTABLE + total > GPA_EBDA_END)
		return -1;
	memset(base, 0, total);

	struct mpf *mpf = (struct mpf *)base;
	struct mpc_header *h = (struct mpc_header *)(mpf + 1);
	uint8_t *p = (uint8_t *)(h + 1);
	uint8_t ioapic_id = (uint8_t)vm->nr_vcpus;
	uint16_t count = 0;

	for (unsigned i = 0; i < vm->nr_vcpus; i++, count++) {
		struct mpc_cpu *c = (struct mpc_cpu *)p;
		*c = (struct mpc_cpu){
			.type = 0, .apic_id = (uint8_t)i,
			.apic_ver = MPC_APIC_VERSION,
			.flags = (uint8_t)(1 | (i == 0 ? 2 : 0)),
			.signature = 0x600,	/* family 6: informative */
			.features = 0x201,	/* FPU | APIC */
		};
		p += sizeof(*c);
	}
	struct mpc_bus *bus = (struct mpc_bus *)p;
	*bus = (struct mpc_bus){ .type = 1, .id = 0 };
	memcpy(bus->name, "ISA   ", 6);
	p += sizeof(*bus);
	count++;
	struct mpc_ioapic *io = (struct mpc_ioapic *)p;
	*io = (struct mpc_ioapic){ .type = 2, .id = ioapic_id,
				   .ver = IOAPIC_VERSION, .flags = 1,
				   .addr = (uint32_t)GPA_IOAPIC };
	p += sizeof(*io);
	count++;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++, count++) {
		struct mpc_intsrc *s = (struct mpc_intsrc *)p;
		*s = (struct mpc_intsrc){ .type = 3, .irqtype = 0,
					  .src_bus = 0,
					  .src_irq = (uint8_t)pin,
					  .dst_apic = ioapic_id,
					  .dst_pin = (uint8_t)pin };
		p += sizeof(*s);
	}
	/* LINT0 = ExtINT (the 8259 path), LINT1 = NMI, to all LAPICs. */
	for (unsigned l = 0; l < 2; l++, count++) {
		struct mpc_intsrc *s = (struct mpc_intsrc *)p;
		*s = (struct mpc_intsrc){ .type = 4,
					  .irqtype = (uint8_t)(l ? 1 : 3),
					  .dst_apic = 0xff,
					  .dst_pin = (uint8_t)l };
		p += sizeof(*s);
	}

	memcpy(h->sig, "PCMP", 4);
	h->length = (uint16_t)(sizeof(*h) + entries);
	h->spec_rev = 4;
	memcpy(h->oem, "VOIDBOX ", 8);
	memcpy(h->product, "MICROVM     ", 12);
	h->count = count;
	h->lapic = (uint32_t)GPA_LAPIC;
	h->checksum = checksum(h, h->length);

	memcpy(mpf->sig, "_MP_", 4);
	mpf->physptr = (uint32_t)(GPA_MPTABLE + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return 0;
}
