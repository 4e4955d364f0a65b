/* vcpu.c: one thread per vCPU running the KVM_RUN loop (STYLE R22).
 *
 * vCPU threads only run KVM_RUN and dispatch exits; stopping is requested
 * by setting vm->stopping and kicking every thread with SIGUSR1 (installed
 * without SA_RESTART, so KVM_RUN returns EINTR) plus immediate_exit, which
 * covers the race where the signal lands just before KVM_RUN is entered.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"
#include "../util/util.h"

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;	/* only there to interrupt KVM_RUN */
}

int vcpu_create(struct vm *vm, unsigned id)
{
	struct vcpu *vc = &vm->vcpus[id];

	/* The kick handler is installed here, during setup: the sandbox
	 * that follows does not allow rt_sigaction. */
	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);	/* no SA_RESTART */

	*vc = (struct vcpu){ .vm = vm, .id = id, .fd = -1 };
	vc->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vc->fd < 0)
		return -errno;
	int sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz < (int)sizeof(struct kvm_run))
		goto err_close;
	vc->run_size = (size_t)sz;
	vc->run = mmap(NULL, vc->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vc->fd, 0);
	if (vc->run == MAP_FAILED) {
		vc->run = NULL;
		goto err_close;
	}
	return 0;
err_close: {
	int e = errno ? errno : EINVAL;
	close(vc->fd);
	vc->fd = -1;
	return -e;
}
}

static const char *exit_name(uint32_t r)
{
	switch (r) {
	case KVM_EXIT_FAIL_ENTRY: return "entry failed";
	case KVM_EXIT_INTERNAL_ERROR: return "KVM internal error";
	case KVM_EXIT_EXCEPTION: return "unhandled exception";
	case KVM_EXIT_UNKNOWN: return "unknown exit";
	default: return "unexpected exit";
	}
}

/* Handle one exit; returns false when the vCPU should stop. */
static bool handle_exit(struct vcpu *vc)
{
	struct kvm_run *run = vc->run;
	struct vm *vm = vc->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		/* data_offset/size/count come from KVM, but bound them
		 * against the shared page anyway: it is cheap. */
		uint64_t bytes = (uint64_t)run->io.size * run->io.count;
		if (run->io.data_offset > vc->run_size ||
		    bytes > vc->run_size - run->io.data_offset)
			break;
		uint8_t *p = (uint8_t *)run + run->io.data_offset;
		for (uint32_t i = 0; i < run->io.count; i++)
			pio_handle(vc, run->io.port, p + i * run->io.size,
				   run->io.size,
				   run->io.direction == KVM_EXIT_IO_OUT);
		return true;
	}
	case KVM_EXIT_MMIO:
		mmio_handle(vc, run->mmio.phys_addr, run->mmio.data,
			    run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_HLT:
		/* With the in-kernel LAPIC, HLT only exits here when the
		 * CPU can never wake again. Treat it as power-off. */
		vm_request_stop(vm, VM_EXIT_POWEROFF, "vcpu%u halted",
				vc->id);
		return false;
	case KVM_EXIT_SHUTDOWN: {
		/* Triple fault: reboot=t, or a crashed guest. Either way
		 * the guest is done; the agent's status says which. Where
		 * it happened is what makes an early crash debuggable. */
		struct kvm_regs r;
		struct kvm_sregs sr;
		if (ioctl(vc->fd, KVM_GET_REGS, &r) == 0 &&
		    ioctl(vc->fd, KVM_GET_SREGS, &sr) == 0)
			vm_request_stop(vm, VM_EXIT_POWEROFF, "vcpu%u shutdown "
					"at rip %#llx rsp %#llx cr0 %#llx cr3 "
					"%#llx cr4 %#llx efer %#llx", vc->id,
					r.rip, r.rsp, sr.cr0, sr.cr3, sr.cr4,
					sr.efer);
		else
			vm_request_stop(vm, VM_EXIT_POWEROFF, "vcpu%u shutdown",
					vc->id);
		return false;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		vm_request_stop(vm, VM_EXIT_POWEROFF, "system event %u",
				run->system_event.type);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vm_request_stop(vm, VM_EXIT_GUEST_ERROR,
				"vcpu%u: KVM internal error (suberror %u)%s",
				vc->id, run->internal.suberror,
				vm->pvm ? "; this host's KVM is nested "
				"PVM, which cannot run Linux guests (see "
				"docs/architecture.md §0)" : "");
		return false;
	default:
		vm_request_stop(vm, VM_EXIT_GUEST_ERROR, "vcpu%u: %s (%u)",
				vc->id, exit_name(run->exit_reason),
				run->exit_reason);
		return false;
	}
	return true;
}

/* Parked while a snapshot is taken (vcpu_pause_all). */
static void park(struct vcpu *vc)
{
	struct vm *vm = vc->vm;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->pause_req) {
		vm->paused++;
		pthread_cond_broadcast(&vm->pause_cv);
		while (vm->pause_req && !atomic_load(&vm->stopping))
			pthread_cond_wait(&vm->pause_cv, &vm->pause_lock);
		vm->paused--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

int vcpu_pause_all(struct vm *vm, unsigned timeout_ms)
{
	unsigned want = 0;

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		want += vm->vcpus[i].started;
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_req = true;
	pthread_mutex_unlock(&vm->pause_lock);
	uint64_t deadline = vm_now_ns() + timeout_ms * 1000000ull;
	int rc = 0;
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->paused < want && rc == 0) {
		pthread_mutex_unlock(&vm->pause_lock);
		vcpu_kick_all(vm);	/* immediate_exit + signal */
		pthread_mutex_lock(&vm->pause_lock);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 2000000;	/* re-kick every 2 ms: a signal may
					   land before KVM_RUN */
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (vm->paused < want)
			pthread_cond_timedwait(&vm->pause_cv, &vm->pause_lock,
					       &ts);
		if (vm->paused < want && (vm_now_ns() > deadline ||
					  atomic_load(&vm->stopping)))
			rc = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (rc < 0)
		vcpu_resume_all(vm);
	return rc;
}

void vcpu_resume_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->pause_cv);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vc = arg;
	struct vm *vm = vc->vm;
	sigset_t set;

	atomic_store(&vc->tid, (int)syscall(SYS_gettid));
	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	uint64_t zero = 0;
	atomic_compare_exchange_strong(&vm->t_first_entry_ns, &zero,
				       vm_now_ns());
	while (!atomic_load(&vm->stopping)) {
		if (ioctl(vc->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* A KVM_RUN that returns EINTR has completed
				 * the last exit's I/O: the registers are
				 * whole, a snapshot may read them. */
				park(vc);
				vc->run->immediate_exit = 0;
				continue;
			}
			vm_request_stop(vm, VM_EXIT_GUEST_ERROR,
					"vcpu%u: KVM_RUN: %s", vc->id,
					strerror(errno));
			break;
		}
		vc->exits++;
		if (!handle_exit(vc))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *vc)
{
	int r = pthread_create(&vc->thread, NULL, vcpu_thread, vc);
	if (r)
		return -r;
	vc->started = true;
	return 0;
}

void vcpu_kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vc = &vm->vcpus[i];
		if (vc->run)
			vc->run->immediate_exit = 1;
		/* tgkill, not pthread_kill: musl's uses tkill, which the
		 * sandbox forbids (a bare tid could be anyone's). A thread
		 * that has no tid yet is not in KVM_RUN: immediate_exit
		 * stops it at entry. */
		int tid = atomic_load(&vc->tid);
		if (vc->started && tid > 0)
			syscall(SYS_tgkill, getpid(), tid, KICK_SIGNAL);
	}
}

void vcpu_destroy(struct vcpu *vc)
{
	if (vc->started) {
		pthread_join(vc->thread, NULL);
		vc->started = false;
		atomic_store(&vc->tid, 0);
	}
	if (vc->run) {
		munmap(vc->run, vc->run_size);
		vc->run = NULL;
	}
	if (vc->fd >= 0) {
		close(vc->fd);
		vc->fd = -1;
	}
}
