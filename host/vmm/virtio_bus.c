/* virtio_bus.c: place virtio devices on the guest's MMIO bus.
 *
 * Each device gets a 4 KiB window at GPA_VIRTIO_MMIO + i * 4 KiB and IRQ
 * VBUS_FIRST_IRQ + i, announced to the guest on the kernel command line
 * (virtio_mmio.device=4K@ADDR:IRQ, CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES): no
 * ACPI or device tree. Queue notifications are ioeventfds (a guest write
 * to QueueNotify never leaves the kernel; the I/O thread wakes up) and
 * interrupts are irqfds, so the vCPU threads only ever see the rare
 * register accesses of device setup.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"
#include "../devices/devices.h"
#include "../util/util.h"

#define VBUS_FIRST_IRQ 5	/* 4 is COM1 */
#define QUEUE_NOTIFY_OFF 0x50

static void raise_irq(struct virtio_dev *d)
{
	struct vbus_slot *s = d->transport;
	uint64_t one = 1;

	(void)!write(s->irqfd, &one, sizeof(one));
}

static void on_kick(struct vm *vm, void *arg, uint32_t events)
{
	struct vbus_kick *k = arg;
	uint64_t n;

	(void)vm;
	(void)events;
	(void)!read(k->slot->kickfd[k->q], &n, sizeof(n));
	log_debug("kick %s queue %u", k->slot->dev->name, k->q);
	k->slot->kick(k->slot->impl, k->q);
}

/* Place a device: window, IRQ and command-line entry. Cheap and KVM-free,
 * so it can run while the memslot registers (vm.c); vbus_attach does
 * the KVM side later. */
int vbus_add(struct vm *vm, struct virtio_dev *dev,
	     void (*kick)(void *impl, unsigned q), void *impl)
{
	if (vm->nslots >= VM_MAX_VDEVS)
		return -ENOSPC;
	struct vbus_slot *s = &vm->slots[vm->nslots];
	*s = (struct vbus_slot){
		.vm = vm, .dev = dev, .kick = kick, .impl = impl,
		.base = GPA_VIRTIO_MMIO + 0x1000ull * vm->nslots,
		.irq = VBUS_FIRST_IRQ + vm->nslots, .irqfd = -1,
	};
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		s->kickfd[q] = -1;
	dev->raise_irq = raise_irq;
	dev->transport = s;
	size_t len = strlen(vm->dev_cmdline);
	snprintf(vm->dev_cmdline + len, sizeof(vm->dev_cmdline) - len,
		 " virtio_mmio.device=4K@0x%llx:%u",
		 (unsigned long long)s->base, s->irq);
	vm->nslots++;
	return 0;
}

/* Wire every placed device to KVM: an irqfd per device, an ioeventfd per
 * queue, each watched by the I/O loop. */
int vbus_attach(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nslots; i++) {
		struct vbus_slot *s = &vm->slots[i];
		s->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct kvm_irqfd irqfd = { .fd = (uint32_t)s->irqfd,
					   .gsi = s->irq };
		if (s->irqfd < 0 || ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
			return -errno;
		for (unsigned q = 0; q < s->dev->nqueues; q++) {
			s->kickfd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			struct kvm_ioeventfd io = {
				.datamatch = q,
				.addr = s->base + QUEUE_NOTIFY_OFF, .len = 4,
				.fd = s->kickfd[q],
				.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
			};
			if (s->kickfd[q] < 0 ||
			    ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
				return -errno;
			s->kargs[q] = (struct vbus_kick){ .slot = s, .q = q };
			int r = io_watch(vm, s->kickfd[q], EPOLLIN, on_kick,
					 &s->kargs[q]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

void vbus_rekick(struct vm *vm, struct virtio_dev *dev, unsigned q)
{
	struct vbus_slot *s = dev->transport;
	uint64_t one = 1;

	(void)vm;
	if (s && q < VIRTIO_MAX_QUEUES && s->kickfd[q] >= 0)
		(void)!write(s->kickfd[q], &one, sizeof(one));
}

bool vbus_mmio(struct vcpu *vc, uint64_t gpa, uint8_t *data, unsigned len,
	       bool write)
{
	struct vm *vm = vc->vm;

	if (gpa < GPA_VIRTIO_MMIO ||
	    gpa >= GPA_VIRTIO_MMIO + 0x1000ull * vm->nslots)
		return false;
	struct vbus_slot *s = &vm->slots[(gpa - GPA_VIRTIO_MMIO) >> 12];
	uint64_t off = gpa - s->base;
	if (off + len > VIRTIO_MMIO_SIZE) {
		if (!write)
			memset(data, 0xff, len);
		return true;
	}
	if (write)
		virtio_mmio_write(s->dev, off, data, len);
	else
		virtio_mmio_read(s->dev, off, data, len);
	return true;
}

void vbus_fini(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nslots; i++) {
		struct vbus_slot *s = &vm->slots[i];
		for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
			if (s->kickfd[q] >= 0) {
				io_unwatch(vm, s->kickfd[q]);
				close(s->kickfd[q]);
				s->kickfd[q] = -1;
			}
		}
		if (s->irqfd >= 0) {
			close(s->irqfd);
			s->irqfd = -1;
		}
	}
	vm->nslots = 0;
}
