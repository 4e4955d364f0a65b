/* vm.c: build one VM from a struct vm_config, run it, tear it down
 * (after Firecracker's builder.rs). The goto ladder releases resources in
 * reverse order of acquisition (STYLE R9); vm_run never exits the process,
 * so it is usable in-process by tests as well as by the VMM role.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"
#include "../util/util.h"

uint64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vm_request_stop(struct vm *vm, enum vm_exit why, const char *fmt, ...)
{
	bool expected = false;

	if (!atomic_compare_exchange_strong(&vm->stopping, &expected, true))
		return;		/* first reason wins */
	atomic_store(&vm->exit_reason, (int)why);
	pthread_mutex_lock(&vm->err_lock);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&vm->err_lock);
	uint64_t one = 1;
	(void)!write(vm->stop_fd, &one, sizeof(one));
	vcpu_kick_all(vm);
}

static void set_result(struct vm_result *res, enum vm_exit e, const char *msg)
{
	res->exit = e;
	snprintf(res->detail, sizeof(res->detail), "%s", msg);
}

/* Wait for a stop request or the timeout. */
static void wait_stop(struct vm *vm)
{
	const struct vm_config *c = vm->cfg;
	uint64_t deadline = c->timeout_ms
		? vm->t_start_ns + (uint64_t)c->timeout_ms * 1000000ull : 0;

	for (;;) {
		int ms = -1;
		if (deadline) {
			uint64_t now = vm_now_ns();
			if (now >= deadline) {
				vm_request_stop(vm, VM_EXIT_TIMEOUT,
						"timed out after %u ms",
						c->timeout_ms);
				return;
			}
			ms = (int)((deadline - now + 999999) / 1000000);
		}
		struct pollfd p = { .fd = vm->stop_fd, .events = POLLIN };
		int r = poll(&p, 1, ms);
		if (r > 0 || atomic_load(&vm->stopping))
			return;
		if (r < 0 && errno != EINTR) {
			vm_request_stop(vm, VM_EXIT_SETUP_ERROR, "poll: %s",
					strerror(errno));
			return;
		}
	}
}

int vm_run(const struct vm_config *cfg, struct vm_result *res)
{
	struct vm vm = { .cfg = cfg, .kvm_fd = -1, .vm_fd = -1, .stop_fd = -1 };
	struct boot_entry entry;
	char err[256] = "";
	int rc = -1;

	memset(res, 0, sizeof(*res));
	for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
		vm.vcpus[i].fd = -1;
	vm.t_start_ns = vm_now_ns();
	pthread_mutex_init(&vm.err_lock, NULL);
	serial_init(&vm.serial, cfg->console);
	if (cfg->vcpus < 1 || cfg->vcpus > VM_MAX_VCPUS) {
		snprintf(err, sizeof(err), "vcpus must be 1..%d, got %u",
			 VM_MAX_VCPUS, cfg->vcpus);
		goto out;
	}
	if (cfg->mem_mb < VM_MIN_MEM_MB || cfg->mem_mb > (1u << 20)) {
		snprintf(err, sizeof(err), "memory must be %d MiB..1 TiB, got "
			 "%llu MiB", VM_MIN_MEM_MB,
			 (unsigned long long)cfg->mem_mb);
		goto out;
	}
	vm.nr_vcpus = cfg->vcpus;
	vm.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm.stop_fd < 0) {
		snprintf(err, sizeof(err), "eventfd: %s", strerror(errno));
		goto out;
	}
	if ((vm.kvm_fd = kvm_open(err, sizeof(err))) < 0)
		goto err_close_stop;
	if (kvm_create_vm(&vm, err, sizeof(err)) < 0)
		goto err_close_kvm;
	int r = mem_init(&vm, cfg->mem_mb << 20);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot map %llu MiB of guest "
			 "memory: %s", (unsigned long long)cfg->mem_mb,
			 strerror(-r));
		goto err_close_vm;
	}
	if (boot_load(&vm, &entry, err, sizeof(err)) < 0)
		goto err_free_mem;
	if (mptable_write(&vm) < 0) {
		snprintf(err, sizeof(err), "cannot write MP tables");
		goto err_free_mem;
	}
	for (unsigned i = 0; i < vm.nr_vcpus; i++) {
		if ((r = vcpu_create(&vm, i)) < 0 ||
		    (r = cpu_setup(&vm.vcpus[i], &entry)) < 0) {
			snprintf(err, sizeof(err), "vcpu%u setup: %s", i,
				 strerror(-r));
			goto err_vcpus;
		}
	}
	/* Start APs first so they are waiting for SIPI when the BSP
	 * sends it. */
	for (unsigned i = vm.nr_vcpus; i-- > 0;) {
		if ((r = vcpu_start(&vm.vcpus[i])) < 0) {
			snprintf(err, sizeof(err), "vcpu%u thread: %s", i,
				 strerror(-r));
			vm_request_stop(&vm, VM_EXIT_SETUP_ERROR, "%s", err);
			goto err_vcpus;
		}
	}
	wait_stop(&vm);
	rc = 0;
err_vcpus:
	atomic_store(&vm.stopping, true);
	vcpu_kick_all(&vm);
	for (unsigned i = 0; i < vm.nr_vcpus; i++) {
		vcpu_destroy(&vm.vcpus[i]);
		res->exits += vm.vcpus[i].exits;
	}
err_free_mem:
	mem_free(&vm);
err_close_vm:
	if (vm.vm_fd >= 0)
		close(vm.vm_fd);
err_close_kvm:
	close(vm.kvm_fd);
err_close_stop:
	close(vm.stop_fd);
out:
	serial_flush(&vm.serial);
	serial_tail(&vm.serial, res->console_tail, sizeof(res->console_tail));
	res->run_ns = vm_now_ns() - vm.t_start_ns;
	uint64_t first = atomic_load(&vm.t_first_entry_ns);
	res->boot_ns = first ? first - vm.t_start_ns : 0;
	if (rc == 0)
		set_result(res, (enum vm_exit)atomic_load(&vm.exit_reason),
			   vm.err);
	else
		set_result(res, VM_EXIT_SETUP_ERROR, err);
	return rc;
}

