/* kvm.c: open /dev/kvm and create the VM, with one clear line for every way
 * that can fail (no device, no permission, wrong API, a KVM that cannot run
 * Linux). Users see these lines first when their host is not suitable. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

bool kvm_is_pvm(void)
{
	/* Nested PVM (a paravirtual hypervisor) runs hand-made guests but no
	 * unmodified Linux user space: see docs/architecture.md §0. */
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

int kvm_open(char *err, size_t errlen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "/dev/kvm does not exist: this "
				 "host has no KVM (enable virtualization, load "
				 "kvm_intel/kvm_amd, or pass --device /dev/kvm "
				 "to the container)");
		else if (e == EACCES || e == EPERM)
			snprintf(err, errlen, "no permission to open /dev/kvm:"
				 " add this user to the 'kvm' group or grant "
				 "access (e.g. setfacl -m u:$USER:rw /dev/kvm)");
		else
			snprintf(err, errlen, "cannot open /dev/kvm: %s",
				 strerror(e));
		return -1;
	}
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm speaks API version %d, need %d",
			 v, KVM_API_VERSION);
		close(fd);
		return -1;
	}
	return fd;
}

/* Capabilities we cannot work without. Nothing vendor-specific and nothing
 * TCG-emulated SVM lacks (NRIP-save, AVIC, TSC scaling) is on this list. */
static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

int kvm_create_vm(struct vm *vm, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]);
	     i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
			  required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "KVM lacks %s",
				 required_caps[i].name);
			return -1;
		}
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VM: %s%s", strerror(errno),
			 errno == ENOMEM || errno == EMFILE
				 ? " (too many VMs or too little memory?)"
				 : "");
		return -1;
	}
	/* Intel needs a TSS and identity-map page in the guest-physical
	 * address space; other vendors ignore them. Both live in the MMIO
	 * gap just below 4 GiB, away from RAM and our devices. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0) {
		snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -1;
	}
	uint64_t ident = 0xfffbc000ull;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0 &&
	    errno != EINVAL && errno != ENOTTY) {
		snprintf(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s",
			 strerror(errno));
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -1;
	}
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
		return -1;
	}
	return 0;
}
