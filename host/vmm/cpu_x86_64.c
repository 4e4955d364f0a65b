/* cpu_x86_64.c: vCPU state for the 64-bit Linux boot protocol.
 *
 * The boot CPU starts in long mode (boot.rst "64-bit BOOT PROTOCOL"): a
 * flat GDT with __BOOT_CS = 0x10 and __BOOT_DS = 0x18, identity page tables
 * covering the kernel, zero page and command line (we map the whole low
 * 4 GiB with 2 MiB pages), interrupts off, RSI = zero page. Application
 * processors are left in KVM's reset state: the in-kernel LAPIC holds them
 * in wait-for-SIPI until the guest kernel brings them up.
 *
 * CPUID is what KVM_GET_SUPPORTED_CPUID reports, with per-vCPU APIC IDs
 * and topology filled in. Nothing vendor-specific is assumed (the nested
 * test host is AMD; real hosts may be either).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmm.h"
#include "../util/util.h"

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

#define MSR_IA32_MISC_ENABLE 0x000001a0
#define MISC_ENABLE_FAST_STRING 1ull

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

/* Boot page tables and GDT live in guest RAM; written once per VM by the
 * boot CPU's setup. */
static int write_boot_tables(struct vm *vm)
{
	uint64_t *gdt = vm_gpa_ptr(vm, GPA_GDT, 4 * sizeof(uint64_t));
	uint64_t *pml4 = vm_gpa_ptr(vm, GPA_PML4, 4096);
	uint64_t *pdpt = vm_gpa_ptr(vm, GPA_PDPT, 4096);
	uint64_t *pd = vm_gpa_ptr(vm, GPA_PD, 4 * 4096);

	if (!gdt || !pml4 || !pdpt || !pd)
		return -1;
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffull;	/* 0x10: code, 64-bit, DPL 0 */
	gdt[3] = 0x00cf93000000ffffull;	/* 0x18: data, 4 GiB flat */
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = GPA_PDPT | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++) {
		pdpt[i] = (GPA_PD + i * 4096) | PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++)
			pd[i * 512 + j] = ((i << 30) | (j << 21)) | PTE_P |
					  PTE_RW | PTE_PS;
	}
	return 0;
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel,
		.type = type, .present = 1, .dpl = 0,
		.db = code64 ? 0 : 1, .s = 1, .l = code64 ? 1 : 0, .g = 1,
	};
}

/* KVM's supported CPUID, grown until it stops saying E2BIG; NULL with
 * *e (a positive errno) on failure. */
static struct kvm_cpuid2 *supported_cpuid(int kvm_fd, int *e)
{
	int n = 128;

	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
					      n * sizeof(c->entries[0]));
		if (!c) {
			*e = ENOMEM;
			return NULL;
		}
		c->nent = (uint32_t)n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		*e = errno;
		free(c);
		if (*e != E2BIG || n >= 4096)
			return NULL;
		n *= 2;
	}
}

/* The leaves a running kernel has made decisions on (features, XSAVE
 * layout, address sizes), without the per-CPU parts (APIC IDs) that
 * differ between two calls on two host CPUs. */
int cpu_identity(int kvm_fd, char vendor[16], uint32_t *sig,
		 uint8_t hash[32])
{
	int e = 0;
	struct kvm_cpuid2 *c = supported_cpuid(kvm_fd, &e);
	uint32_t buf[4096];
	unsigned n = 0;

	if (!c)
		return -e;
	memset(vendor, 0, 16);
	*sig = 0;
	for (uint32_t i = 0; i < c->nent && n + 6 <= 4096; i++) {
		struct kvm_cpuid_entry2 *x = &c->entries[i];
		uint32_t f = x->function;
		if (f == 0) {
			memcpy(vendor, &x->ebx, 4);
			memcpy(vendor + 4, &x->edx, 4);
			memcpy(vendor + 8, &x->ecx, 4);
		}
		if (f == 1)
			*sig = x->eax;
		if (f != 0 && f != 1 && f != 7 && f != 0xd &&
		    f != 0x80000001 && f != 0x80000007 && f != 0x80000008)
			continue;
		buf[n++] = f;
		buf[n++] = x->index;
		buf[n++] = x->eax;
		buf[n++] = f == 1 ? 0 : x->ebx;	/* APIC ID, CPU count */
		buf[n++] = x->ecx;
		buf[n++] = x->edx;
	}
	free(c);
	sha256_raw(buf, n * sizeof(buf[0]), hash);
	return 0;
}

static int set_cpuid(struct vcpu *vc)
{
	struct vm *vm = vc->vm;
	int err = 0;
	struct kvm_cpuid2 *cpuid = supported_cpuid(vm->kvm_fd, &err);

	if (!cpuid)
		return -err;
	/* The TSC-deadline timer is emulated by KVM's in-kernel LAPIC but
	 * not in the supported list: a VMM must opt in. Without it Linux
	 * calibrates the LAPIC timer against the PIT (~100 ms of busy
	 * waiting on hardware, seconds under TCG) and can even give up on
	 * it ("APIC timer disabled due to verification failure"). */
	bool tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
				  KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		switch (e->function) {
		case 1:
			/* Initial APIC ID, logical CPU count, and the
			 * "running under a hypervisor" bit. */
			e->ebx = (e->ebx & 0x0000ffffu) | (vc->id << 24) |
				 ((vm->nr_vcpus & 0xffu) << 16);
			e->ecx |= 1u << 31;
			if (tsc_deadline)
				e->ecx |= 1u << 24;
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC topology: report the vCPU's own ID. */
			e->edx = vc->id;
			break;
		default:
			break;
		}
	}
	int r = ioctl(vc->fd, KVM_SET_CPUID2, cpuid);
	int e = errno;
	free(cpuid);
	return r < 0 ? -e : 0;
}

static int set_lapic(struct vcpu *vc)
{
	struct kvm_lapic_state la;

	if (ioctl(vc->fd, KVM_GET_LAPIC, &la) < 0)
		return -errno;
	uint32_t *lvt0 = (uint32_t *)&la.regs[APIC_LVT0];
	uint32_t *lvt1 = (uint32_t *)&la.regs[APIC_LVT1];
	*lvt0 = (*lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	*lvt1 = (*lvt1 & ~0x700u) | (APIC_MODE_NMI << 8);
	return ioctl(vc->fd, KVM_SET_LAPIC, &la) < 0 ? -errno : 0;
}

int cpu_setup(struct vcpu *vc, const struct boot_entry *entry)
{
	int r = set_cpuid(vc);
	if (r < 0) {
		log_warnx("vcpu%u: KVM_SET_CPUID2: %s", vc->id, strerror(-r));
		return r;
	}
	if (!entry)
		return 0;	/* a restore: the snapshot has the rest */
	if ((r = set_lapic(vc)) < 0) {
		log_warnx("vcpu%u: LAPIC setup: %s", vc->id, strerror(-r));
		return r;
	}
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[1];
	} msrs = { .h.nmsrs = 1,
		   .e[0] = { .index = MSR_IA32_MISC_ENABLE,
			     .data = MISC_ENABLE_FAST_STRING } };
	/* Best effort: not every KVM exposes MISC_ENABLE. */
	(void)ioctl(vc->fd, KVM_SET_MSRS, &msrs);

	if (vc->id != 0)
		return 0;	/* APs wait for SIPI in reset state */

	if (write_boot_tables(vc->vm) < 0)
		return -EFAULT;
	struct kvm_sregs s;
	if (ioctl(vc->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	s.cs = seg(0x10, 0xb, true);
	s.ds = s.es = s.fs = s.gs = s.ss = seg(0x18, 0x3, false);
	s.gdt = (struct kvm_dtable){ .base = GPA_GDT, .limit = 4 * 8 - 1 };
	s.idt = (struct kvm_dtable){ .base = GPA_IDT, .limit = 7 };
	s.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	s.cr3 = GPA_PML4;
	s.cr4 = CR4_PAE;
	s.efer = EFER_LME | EFER_LMA;
	if (ioctl(vc->fd, KVM_SET_SREGS, &s) < 0)
		return -errno;

	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	(void)ioctl(vc->fd, KVM_SET_FPU, &fpu);

	struct kvm_regs regs = {
		.rflags = 2, .rip = entry->rip, .rsi = entry->rsi,
		.rsp = GPA_BOOT_STACK, .rbp = GPA_BOOT_STACK,
	};
	return ioctl(vc->fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}
