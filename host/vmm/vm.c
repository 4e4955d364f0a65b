/* vm.c: build one VM from a struct vm_config, run it, tear it down
 * (after Firecracker's builder.rs).
 *
 * vm_create acquires everything (KVM fds, guest RAM, devices, eventfds)
 * and loads the kernel; vm_start launches the vCPU threads; the caller
 * then runs io_loop and finally vm_destroy, which releases in reverse
 * order and fills in the result. Nothing here exits the process, so the
 * same code serves the VMM role, `voidbox vm` and tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"
#include "../devices/devices.h"
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

static void *gmem_cb(void *ctx, uint64_t gpa, uint64_t len)
{
	return vm_gpa_ptr(ctx, gpa, len);
}

static void on_stop(struct vm *vm, void *arg, uint32_t events)
{
	(void)vm;
	(void)arg;
	(void)events;	/* io_loop checks vm->stopping */
}

static void rng_rekick(void *ctx, unsigned q)
{
	struct vm *vm = ctx;
	vbus_rekick(vm, vm->rng, q);
}

static struct vm *rekick_vm;	/* one VM per process (STYLE R1) */

static void blk_rekick(void *ctx, unsigned q)
{
	struct virtio_dev **slot = ctx;
	vbus_rekick(rekick_vm, *slot, q);
}

static int add_devices(struct vm *vm, char *err, size_t errlen)
{
	int r;

	rekick_vm = vm;
	vm->rng = rng_new(vm->gmem, rng_rekick, vm);
	if (!vm->rng || (r = vbus_add(vm, vm->rng, rng_kick, vm->rng)) < 0) {
		snprintf(err, errlen, "virtio-rng setup failed");
		return -1;
	}
	const struct vm_cfg *c = vm->cfg->vc;
	for (unsigned i = 0; i < c->ndisks && i < VM_MAX_DISKS; i++) {
		struct stat st;
		int fd = c->disk[i].fd;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "disk %u is not a regular file",
				 i);
			return -1;
		}
		uint64_t off = c->disk[i].off, fsz = (uint64_t)st.st_size;
		uint64_t len = c->disk[i].len ? c->disk[i].len
					      : fsz > off ? fsz - off : 0;
		if (off > fsz || len > fsz - off || (c->disk[i].len && !len)) {
			snprintf(err, errlen, "disk %u: window %llu+%llu outside"
				 " its %llu-byte file", i,
				 (unsigned long long)off,
				 (unsigned long long)len,
				 (unsigned long long)fsz);
			return -1;
		}
		st.st_size = (off_t)len;
		void *be = blk_file_new(fd, off);
		char id[20];
		snprintf(id, sizeof(id), "voidbox-disk%u", i);
		vm->disks[i] = be ? blk_new(vm->gmem, &blk_file_ops, be,
					    (uint64_t)st.st_size, c->disk[i].ro,
					    id, blk_rekick, vm->disks + i)
				  : NULL;
		if (!vm->disks[i]) {
			free(be);
			snprintf(err, errlen, "virtio-blk setup failed");
			return -1;
		}
		vm->disk_owned[i] = true;	/* fd now closed by blk_free */
		if ((r = vbus_add(vm, vm->disks[i], blk_kick,
				  vm->disks[i])) < 0) {
			snprintf(err, errlen, "virtio-blk: %s", strerror(-r));
			return -1;
		}
	}
	if (share_host_init(vm, err, errlen) < 0)
		return -1;
	if ((r = vsock_host_init(vm)) < 0) {
		snprintf(err, errlen, "virtio-vsock setup: %s", strerror(-r));
		return -1;
	}
	if (c->net.enabled && net_host_init(vm, &c->net, err, errlen) < 0)
		return -1;
	return 0;
}

struct slot_job {
	struct vm *vm;
	pthread_t t;
	int r;
};

static void *register_slot(void *arg)
{
	struct slot_job *j = arg;

	j->r = mem_register(j->vm);
	return NULL;
}

struct vm *vm_create(const struct vm_config *cfg, char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct gmem *gm = calloc(1, sizeof(*gm));
	struct snap_state *snap = NULL;
	int r;

	if (!vm || !gm) {
		free(vm);
		free(gm);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*vm = (struct vm){ .cfg = cfg, .kvm_fd = -1, .vm_fd = -1,
			   .stop_fd = -1, .epfd = -1, .gmem = gm,
			   .landlock_fd = -1, .pagemap_fd = -1 };
	vm->smaps_fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
	/* Which guest pages exist, for a snapshot's sparse write; opened
	 * now because the sandbox forbids open. */
	vm->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cv, NULL);
	vm->pvm = kvm_is_pvm();	/* the sandbox forbids asking later */
	*gm = (struct gmem){ .ptr = gmem_cb, .ctx = vm };
	for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	vm->t_start_ns = vm_now_ns();
	pthread_mutex_init(&vm->err_lock, NULL);
	serial_init(&vm->serial, cfg->vc->console);
	vm->nr_vcpus = cfg->vc->vcpus;

	if (cfg->vc->vcpus < 1 || cfg->vc->vcpus > VM_MAX_VCPUS) {
		snprintf(err, errlen, "vcpus must be 1..%d, got %u",
			 VM_MAX_VCPUS, cfg->vc->vcpus);
		goto fail;
	}
	if (cfg->vc->mem_mb < VM_MIN_MEM_MB || cfg->vc->mem_mb > VM_MAX_MEM_MB) {
		snprintf(err, errlen, "memory must be %d MiB..1 TiB, got "
			 "%llu MiB", VM_MIN_MEM_MB,
			 (unsigned long long)cfg->vc->mem_mb);
		goto fail;
	}
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0 || io_init(vm) < 0 ||
	    io_watch(vm, vm->stop_fd, EPOLLIN, on_stop, vm) < 0) {
		snprintf(err, errlen, "event loop setup: %s", strerror(errno));
		goto fail;
	}
	if ((vm->kvm_fd = kvm_open(err, errlen)) < 0)
		goto fail;
	if (kvm_create_vm(vm, err, errlen) < 0)
		goto fail;
	if ((r = cpu_state_probe(vm)) < 0 ||
	    (r = cpu_identity(vm->kvm_fd, vm->cpu_vendor, &vm->cpu_sig,
			      vm->cpu_hash)) < 0) {
		snprintf(err, errlen, "KVM state probe: %s", strerror(-r));
		goto fail;
	}
	int snap_fd = cfg->vc->snapshot_fd;
	struct snap_header sh;
	if (snap_fd > 0) {
		if (snap_open(vm, snap_fd, &sh, &snap, err, errlen) < 0)
			goto fail;
		if ((r = snap_map_memory(vm, snap_fd, &sh)) < 0) {
			snprintf(err, errlen, "cannot map the snapshot's "
				 "memory: %s", strerror(-r));
			goto fail;
		}
	} else if ((r = mem_map(vm, cfg->vc->mem_mb << 20)) < 0) {
		snprintf(err, errlen, "cannot map %llu MiB of guest memory: %s",
			 (unsigned long long)cfg->vc->mem_mb, strerror(-r));
		goto fail;
	}
	/* Registering the memslot makes the host kernel wait for an RCU
	 * grace period (~5 ms measured): let it wait on its own thread
	 * while we load the kernel and set up the vCPUs, which need the
	 * mapping but not the slot. */
	struct slot_job job = { .vm = vm };
	bool joined = true;
	if (pthread_create(&job.t, NULL, register_slot, &job) == 0)
		joined = false;
	else
		job.r = mem_register(vm);
	if (add_devices(vm, err, errlen) < 0)
		goto fail_join;
	/* The devices announce themselves on the command line. */
	int n = snprintf(vm->full_cmdline, sizeof(vm->full_cmdline), "%s%s",
			 cfg->cmdline, vm->dev_cmdline);
	if (n < 0 || (size_t)n >= sizeof(vm->full_cmdline)) {
		snprintf(err, errlen, "kernel command line too long");
		goto fail_join;
	}
	struct boot_entry entry;
	if (!snap && boot_load(vm, &entry, err, errlen) < 0)
		goto fail_join;
	if (!snap && mptable_write(vm) < 0) {
		snprintf(err, errlen, "cannot write MP tables");
		goto fail_join;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if ((r = vcpu_create(vm, i)) < 0 ||
		    (r = cpu_setup(&vm->vcpus[i], snap ? NULL : &entry)) < 0) {
			snprintf(err, errlen, "vcpu%u setup: %s", i,
				 strerror(-r));
			goto fail_join;
		}
	}
	if (!joined)
		pthread_join(job.t, NULL);
	joined = true;
	if (job.r < 0) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s",
			 strerror(-job.r));
		goto fail;
	}
	if ((r = vbus_attach(vm)) < 0) {
		snprintf(err, errlen, "virtio device setup: %s", strerror(-r));
		goto fail;
	}
	if (snap && snap_apply(vm, snap, err, errlen) < 0)
		goto fail;
	free(snap);
	return vm;
fail_join:
	if (!joined)
		pthread_join(job.t, NULL);
fail:
	free(snap);
	vm_destroy(vm, NULL);
	return NULL;
}

int vm_start(struct vm *vm, char *err, size_t errlen)
{
	snap_resume_devices(vm);
	int nr = net_host_start(vm);
	if (nr < 0) {
		snprintf(err, errlen, "net thread: %s", strerror(-nr));
		return -1;
	}
	/* APs first, so they wait for SIPI before the BSP sends it. */
	for (unsigned i = vm->nr_vcpus; i-- > 0;) {
		int r = vcpu_start(&vm->vcpus[i]);
		if (r < 0) {
			snprintf(err, errlen, "vcpu%u thread: %s", i,
				 strerror(-r));
			vm_request_stop(vm, VM_EXIT_SETUP_ERROR, "%s", err);
			return -1;
		}
	}
	return 0;
}

/* RSS of the whole process and of guest RAM alone, from /proc: the VMM's
 * own overhead is the difference. Read before teardown, while the guest's
 * pages are still mapped, through an fd opened before the sandbox (which
 * forbids open). */
static void sample_rss(struct vm *vm, uint64_t *total, uint64_t *guest)
{
	static char buf[256 << 10];
	size_t len = 0;
	ssize_t n;

	*total = *guest = 0;
	if (vm->smaps_fd < 0)
		return;
	while (len < sizeof(buf) - 1 &&
	       (n = pread(vm->smaps_fd, buf + len, sizeof(buf) - 1 - len,
			  (off_t)len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	bool in_ram = false;
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		unsigned long long lo, hi, kb;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2)
			in_ram = vm->ram && lo == (uintptr_t)vm->ram;
		else if (sscanf(line, "Rss: %llu kB", &kb) == 1) {
			*total += kb;
			if (in_ram)
				*guest += kb;
		}
	}
}

void vm_finish(struct vm *vm, struct vm_result *res)
{
	uint64_t rss = 0, grss = 0;

	if (!vm || vm->finished)
		return;
	vm->finished = true;
	if (res)
		sample_rss(vm, &rss, &grss);
	atomic_store(&vm->stopping, true);
	vcpu_resume_all(vm);	/* a parked vCPU sees stopping */
	vcpu_kick_all(vm);
	uint64_t exits = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		vcpu_destroy(&vm->vcpus[i]);
		exits += vm->vcpus[i].exits;
	}
	net_host_fini(vm);
	vsock_host_fini(vm);
	vbus_fini(vm);
	if (vm->rng) {
		rng_free(vm->rng);
		vm->rng = NULL;
	}
	for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
		if (vm->disks[i])
			blk_free(vm->disks[i]);
		else if (!vm->disk_owned[i] && i < vm->cfg->vc->ndisks &&
			 vm->cfg->vc->disk[i].fd > 0)
			close(vm->cfg->vc->disk[i].fd);
		vm->disks[i] = NULL;
	}
	share_host_fini(vm);
	serial_flush(&vm->serial);
	if (res) {
		memset(res, 0, sizeof(*res));
		res->exit = (enum vm_exit)atomic_load(&vm->exit_reason);
		snprintf(res->detail, sizeof(res->detail), "%s", vm->err);
		res->exits = exits;
		res->start_mono_ns = vm->t_start_ns;
		res->rss_kb = rss;
		res->guest_rss_kb = grss;
		res->run_ns = vm_now_ns() - vm->t_start_ns;
		uint64_t first = atomic_load(&vm->t_first_entry_ns);
		res->boot_ns = first ? first - vm->t_start_ns : 0;
		serial_tail(&vm->serial, res->console_tail,
			    sizeof(res->console_tail));
	}
}

void vm_destroy(struct vm *vm, struct vm_result *res)
{
	if (!vm)
		return;
	vm_finish(vm, res);
	mem_free(vm);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	io_fini(vm);
	if (vm->smaps_fd >= 0)
		close(vm->smaps_fd);
	if (vm->pagemap_fd >= 0)
		close(vm->pagemap_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	free(vm->gmem);
	free(vm);
}

int vm_run(const struct vm_config *cfg, struct vm_result *res)
{
	char err[256];
	struct vm *vm = vm_create(cfg, err, sizeof(err));

	if (!vm) {
		memset(res, 0, sizeof(*res));
		res->exit = VM_EXIT_SETUP_ERROR;
		snprintf(res->detail, sizeof(res->detail), "%s", err);
		return -1;
	}
	if (vm_start(vm, err, sizeof(err)) == 0)
		io_loop(vm);
	vm_destroy(vm, res);
	return 0;
}

unsigned vm_bench_create(unsigned n, char *err, size_t errlen)
{
	const struct embed_blob *k = embed_get(EMBED_TG_MISBEHAVE);
	struct vm_cfg vc = { .name = "bench", .mem_mb = 64, .vcpus = 1 };
	struct vm_config cfg = { .vc = &vc, .kernel = k->data,
				 .kernel_size = k->size,
				 .cmdline = "console=ttyS0" };
	unsigned ok = 0;

	for (; ok < n; ok++) {
		struct vm *vm = vm_create(&cfg, err, errlen);
		if (!vm)
			break;
		vm_destroy(vm, NULL);
	}
	return ok;
}
