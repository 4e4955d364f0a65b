/* cpu_state.c: the KVM side of a snapshot — every vCPU's architectural
 * state and the in-kernel devices (PIC, IOAPIC, PIT, kvmclock), read from
 * a paused VM and written back into a fresh one.
 *
 * What a vCPU is made of (KVM API, "vCPU ioctls"): general registers,
 * segment/control registers, XSAVE (FPU, SSE, AVX... sized by
 * KVM_CAP_XSAVE2 on hosts with larger states), XCR0, debug registers,
 * the local APIC page, pending events (exceptions, NMIs, interrupt
 * shadow), the MP state (running, halted, waiting for SIPI) and the MSRs
 * KVM lists as worth saving (KVM_GET_MSR_INDEX_LIST: TSC, kvmclock, the
 * syscall MSRs, TSC deadline...).
 *
 * Order on restore follows what KVM needs (the same one Firecracker and
 * QEMU use): CPUID first (vcpu setup), then MP state, registers, special
 * registers, XSAVE, XCRs, debug registers, the LAPIC, then MSRs (the TSC
 * before the TSC deadline, which is meaningless without the LAPIC's
 * timer mode), and pending events last. The VM's chips go in before any
 * vCPU state so a restored LAPIC finds its IOAPIC as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmm.h"
#include "../util/util.h"

#define MSR_IA32_TSC          0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0
/* Hyper-V's clocks, in 100 ns units: the vCPU's run time and the
 * partition reference counter. KVM lists them where it offers Hyper-V
 * enlightenments (seen on SVM hosts, not on PVM); they move like the TSC
 * (KVM keeps the run time's offset when we write it back). */
#define HV_MSR_VP_RUNTIME     0x40000010
#define HV_MSR_TIME_REF_COUNT 0x40000020

/* MSRs that are clocks: they advance between save and a read-back. */
static int msr_is_clock(uint32_t index)
{
	return index == MSR_IA32_TSC || index == HV_MSR_VP_RUNTIME ||
	       index == HV_MSR_TIME_REF_COUNT;
}

/* The MSRs to carry, from KVM's own list (vm_create, before the sandbox:
 * the list is asked of /dev/kvm). */
int cpu_state_probe(struct vm *vm)
{
	struct {
		struct kvm_msr_list h;
		uint32_t idx[SNAP_MAX_MSRS];
	} l = { .h.nmsrs = SNAP_MAX_MSRS };

	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &l) < 0)
		return -errno;
	/* The TSC deadline is relative to the TSC: write it last. */
	unsigned n = 0, dl = 0;
	for (unsigned i = 0; i < l.h.nmsrs && i < SNAP_MAX_MSRS; i++) {
		if (l.idx[i] == MSR_IA32_TSC_DEADLINE)
			dl = 1;
		else
			vm->msr_idx[n++] = l.idx[i];
	}
	if (dl)
		vm->msr_idx[n++] = MSR_IA32_TSC_DEADLINE;
	vm->nmsr_idx = n;
	int x2 = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	vm->xsave_size = x2 > (int)sizeof(struct kvm_xsave) &&
			 x2 <= (int)SNAP_XSAVE_MAX ? (uint32_t)x2
					      : (uint32_t)sizeof(struct kvm_xsave);
	vm->has_xsave = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
			      KVM_CAP_XSAVE) > 0;
	vm->has_xcrs = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
			     KVM_CAP_XCRS) > 0;
	return 0;
}

/* KVM_GET_MSRS stops at the first MSR it cannot read and says how many
 * it did: skip that one and carry on, so one odd MSR costs only itself. */
static int get_msrs(struct vcpu *vc, struct snap_vcpu *s)
{
	struct vm *vm = vc->vm;
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[SNAP_MAX_MSRS];
	} *m = calloc(1, sizeof(*m));
	unsigned from = 0;

	if (!m)
		return -ENOMEM;
	s->nmsrs = 0;
	while (from < vm->nmsr_idx) {
		unsigned n = vm->nmsr_idx - from;
		m->h.nmsrs = n;
		for (unsigned i = 0; i < n; i++)
			m->e[i] = (struct kvm_msr_entry){
				.index = vm->msr_idx[from + i] };
		int got = ioctl(vc->fd, KVM_GET_MSRS, m);
		if (got < 0) {
			int e = errno;
			free(m);
			return -e;
		}
		for (int i = 0; i < got; i++)
			s->msrs[s->nmsrs++] = m->e[i];
		from += (unsigned)got + 1;	/* skip the one that failed */
	}
	free(m);
	return 0;
}

#define GET(req, p) do { if (ioctl(vc->fd, req, p) < 0) \
		{ *what = #req; return -errno; } } while (0)

int cpu_state_save(struct vcpu *vc, struct snap_vcpu *s, const char **what)
{
	struct vm *vm = vc->vm;

	memset(s, 0, sizeof(*s));
	GET(KVM_GET_MP_STATE, &s->mp);
	GET(KVM_GET_REGS, &s->regs);
	GET(KVM_GET_SREGS, &s->sregs);
	if (vm->has_xsave) {
		s->xsave_len = vm->xsave_size;
		GET(vm->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2
							      : KVM_GET_XSAVE,
		    (struct kvm_xsave *)s->xsave);
	} else {
		GET(KVM_GET_FPU, &s->fpu);
	}
	if (vm->has_xcrs)
		GET(KVM_GET_XCRS, &s->xcrs);
	GET(KVM_GET_DEBUGREGS, &s->dregs);
	GET(KVM_GET_LAPIC, &s->lapic);
	int r = get_msrs(vc, s);
	if (r < 0) {
		*what = "KVM_GET_MSRS";
		return r;
	}
	GET(KVM_GET_VCPU_EVENTS, &s->events);
	return 0;
}
#undef GET

#define SET(req, p) do { if (ioctl(vc->fd, req, p) < 0) \
		{ *what = #req; return -errno; } } while (0)

int cpu_state_load(struct vcpu *vc, const struct snap_vcpu *s,
		   const char **what)
{
	struct vm *vm = vc->vm;

	SET(KVM_SET_MP_STATE, &s->mp);
	SET(KVM_SET_REGS, &s->regs);
	SET(KVM_SET_SREGS, &s->sregs);
	if (s->xsave_len) {
		if (!vm->has_xsave || s->xsave_len != vm->xsave_size) {
			*what = "XSAVE size";
			return -EINVAL;
		}
		SET(KVM_SET_XSAVE, (struct kvm_xsave *)s->xsave);
	} else {
		SET(KVM_SET_FPU, &s->fpu);
	}
	if (vm->has_xcrs)
		SET(KVM_SET_XCRS, &s->xcrs);
	SET(KVM_SET_DEBUGREGS, &s->dregs);
	SET(KVM_SET_LAPIC, &s->lapic);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[SNAP_MAX_MSRS];
	} *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->h.nmsrs = s->nmsrs;
	memcpy(m->e, s->msrs, s->nmsrs * sizeof(m->e[0]));
	int n = ioctl(vc->fd, KVM_SET_MSRS, m);
	int e = errno;
	free(m);
	if (n < 0 || (uint32_t)n != s->nmsrs) {
		*what = "KVM_SET_MSRS";
		return n < 0 ? -e : -EINVAL;
	}
	SET(KVM_SET_VCPU_EVENTS, &s->events);
	return 0;
}
#undef SET

int vm_chips_save(struct vm *vm, struct snap_chips *c, const char **what)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < 3; i++) {
		c->chip[i].chip_id = i;	/* PIC master, PIC slave, IOAPIC */
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c->chip[i]) < 0) {
			*what = "KVM_GET_IRQCHIP";
			return -errno;
		}
	}
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &c->pit) < 0) {
		*what = "KVM_GET_PIT2";
		return -errno;
	}
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &c->clock) < 0) {
		*what = "KVM_GET_CLOCK";
		return -errno;
	}
	return 0;
}

int vm_chips_load(struct vm *vm, const struct snap_chips *c,
		  const char **what)
{
	for (unsigned i = 0; i < 3; i++) {
		struct kvm_irqchip k = c->chip[i];
		if (k.chip_id != i) {
			*what = "irqchip id";
			return -EINVAL;
		}
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &k) < 0) {
			*what = "KVM_SET_IRQCHIP";
			return -errno;
		}
	}
	struct kvm_pit_state2 pit = c->pit;
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0) {
		*what = "KVM_SET_PIT2";
		return -errno;
	}
	/* The guest's clock resumes where it stopped: no time passed for it
	 * (the agent is told the wall time on resume). Only the clock value
	 * is set; flags asking KVM to add elapsed real time are not. */
	struct kvm_clock_data clk = { .clock = c->clock.clock };
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clk) < 0) {
		*what = "KVM_SET_CLOCK";
		return -errno;
	}
	return 0;
}

/* What of s did not come back from KVM as it went in (restore checks,
 * selftest): NULL when all did. Time moves on between the two, so the
 * TSC and the LAPIC timer's current count are not compared; event flags
 * say which fields are valid and may differ as KVM reports them. */
const char *cpu_state_diff(const struct snap_vcpu *a, const struct snap_vcpu *b,
			   char *buf, size_t len)
{
	if (memcmp(&a->mp, &b->mp, sizeof(a->mp)))
		return "MP state";
	if (memcmp(&a->regs, &b->regs, sizeof(a->regs)))
		return "registers";
	if (memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)))
		return "special registers";
	if (a->xsave_len != b->xsave_len ||
	    memcmp(a->xsave, b->xsave, a->xsave_len))
		return "XSAVE";
	if (!a->xsave_len && memcmp(&a->fpu, &b->fpu, sizeof(a->fpu)))
		return "FPU";
	if (memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs)))
		return "XCRs";
	if (memcmp(&a->dregs, &b->dregs, sizeof(a->dregs)))
		return "debug registers";
	struct kvm_lapic_state la = a->lapic, lb = b->lapic;
	memset(la.regs + 0x390, 0, 4);	/* timer current count */
	memset(lb.regs + 0x390, 0, 4);
	if (memcmp(&la, &lb, sizeof(la)))
		return "LAPIC";
	struct kvm_vcpu_events ea = a->events, eb = b->events;
	ea.flags = eb.flags = 0;
	if (memcmp(&ea, &eb, sizeof(ea)))
		return "pending events";
	if (a->nmsrs != b->nmsrs)
		return "MSR count";
	for (uint32_t i = 0; i < a->nmsrs; i++) {
		if (a->msrs[i].index != b->msrs[i].index)
			return "MSR list";
		if (!msr_is_clock(a->msrs[i].index) &&
		    a->msrs[i].data != b->msrs[i].data) {
			snprintf(buf, len, "MSR 0x%x (saved 0x%llx, now "
				 "0x%llx)", a->msrs[i].index,
				 (unsigned long long)a->msrs[i].data,
				 (unsigned long long)b->msrs[i].data);
			return buf;
		}
	}
	return NULL;
}
