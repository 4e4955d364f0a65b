/* memory.c: guest RAM and the only way to reach it (STYLE R6).
 *
 * RAM is one anonymous private mapping, MAP_NORESERVE: the host commits a
 * page only when the guest first touches it, so a 2 GiB VM that uses 80 MiB
 * costs 80 MiB. Below 4 GiB, RAM stops at GPA_MMIO_GAP (3 GiB) to leave
 * room for device windows, the IOAPIC and LAPIC; the rest continues at
 * 4 GiB in a second memslot backed by the same mapping.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "vmm.h"
#include "../util/util.h"

static int add_slot(struct vm *vm, uint32_t slot, uint64_t gpa,
		    uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

int mem_map(struct vm *vm, uint64_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Transparent huge pages cut EPT/NPT walk costs for big guests;
	 * harmless if the host has THP off. */
	madvise(p, bytes, MADV_HUGEPAGE);
	vm->ram = p;
	vm->ram_size = bytes;
	vm->low_size = bytes < GPA_MMIO_GAP ? bytes : GPA_MMIO_GAP;
	return 0;
}

int mem_register(struct vm *vm)
{
	if (add_slot(vm, 0, 0, vm->low_size, vm->ram) < 0)
		return -errno;
	if (vm->ram_size > vm->low_size &&
	    add_slot(vm, 1, GPA_4G, vm->ram_size - vm->low_size,
		     vm->ram + vm->low_size) < 0)
		return -errno;
	return 0;
}

void mem_free(struct vm *vm)
{
	if (vm->ram) {
		munmap(vm->ram, vm->ram_size);
		vm->ram = NULL;
	}
}

void *vm_gpa_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	if (end <= vm->low_size)
		return vm->ram + gpa;
	if (gpa >= GPA_4G && end - GPA_4G <= vm->ram_size - vm->low_size)
		return vm->ram + vm->low_size + (gpa - GPA_4G);
	return NULL;
}
