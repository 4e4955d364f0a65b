/* vmm.h: table of contents of host/vmm/ — one VM per process (STYLE R1).
 *
 * Layering (STYLE R2): a validated struct vm_config goes in, vm_run()
 * builds and runs the VM, and struct vm_result comes out. Nothing here
 * parses user input; guest input is untrusted and handled by the device
 * models (STYLE R7 tier b: rejected to the guest, never fatal).
 */
#ifndef VOIDBOX_VMM_H
#define VOIDBOX_VMM_H

#include <pthread.h>
#include <sys/epoll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "vmcfg.h"
#include "../devices/devices.h"

/* Guest-physical memory map (docs/architecture.md, "Guest memory map"). */
#define GPA_GDT        0x0500ull	/* boot GDT (4 entries) */
#define GPA_IDT        0x0520ull	/* empty IDT for the boot CPU */
#define GPA_ZERO_PAGE  0x7000ull	/* struct boot_params */
#define GPA_BOOT_STACK 0x8ff0ull
#define GPA_PML4       0x9000ull	/* identity map of the low 4 GiB */
#define GPA_PDPT       0xa000ull
#define GPA_PD         0xb000ull	/* 4 pages: 0xb000-0xefff */
#define GPA_CMDLINE    0x20000ull
#define GPA_CMDLINE_MAX 4096u
#define GPA_MPTABLE    0x9fc00ull	/* MP tables, below the VGA hole */
#define GPA_EBDA_END   0xa0000ull
#define GPA_KERNEL     0x100000ull	/* protected-mode kernel (1 MiB) */
#define GPA_MMIO_GAP   0xc0000000ull	/* 3 GiB: RAM stops, devices start */
#define GPA_4G         0x100000000ull
#define GPA_VIRTIO_MMIO 0xd0000000ull	/* virtio-mmio windows, 4 KiB each */
#define GPA_IOAPIC     0xfec00000ull
#define GPA_LAPIC      0xfee00000ull

/* What vm_create needs: the configuration, the images' bytes and the
 * final kernel command line (vmm_main.c builds it from the cfg). Disk
 * fds in vc->disk[i].fd are owned by the VM from vm_create on (closed by
 * vm_destroy, even on failure). */
struct vm_config {
	const struct vm_cfg *vc;	/* not owned */
	const uint8_t *kernel;		/* bzImage bytes; not owned */
	size_t kernel_size;
	const uint8_t *initrd;		/* may be NULL */
	size_t initrd_size;
	const char *cmdline;		/* full kernel command line */
};

struct vm_result {
	enum vm_exit exit;
	char detail[256];	/* human explanation for errors */
	uint64_t boot_ns;	/* vm_run start -> first vCPU entry */
	uint64_t run_ns;	/* vm_run start -> stop */
	uint64_t exits;		/* total userspace exits, all vCPUs */
	char console_tail[1024];	/* last console output, for reports */
	uint64_t start_mono_ns;	/* CLOCK_MONOTONIC at vm_create */
	uint64_t rss_kb, guest_rss_kb;	/* sampled just before teardown */
};

/* Console tail kept for error reports when --console is off. */
#define SERIAL_TAIL 4096

struct serial {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri_pending;	/* THR-empty interrupt owed to the guest */
	bool echo;		/* copy output to stderr */
	char tail[SERIAL_TAIL];	/* ring of the last bytes written */
	size_t tail_pos;
	bool tail_wrapped;
	char line[256];		/* echo is line-buffered */
	size_t line_len;
};

struct vm;
struct virtio_dev;
struct vsock_dev;

/* A handler gets its VM and the arg it was registered with. The arg must
 * stay valid until io_unwatch (or io_fini): never a pointer into storage
 * that may move (security review H1: a realloc'ed per-fd table). */
typedef void (*io_cb)(struct vm *vm, void *arg, uint32_t events);
struct io_handler {
	io_cb cb;
	void *arg;
};

#define VM_MAX_VDEVS 8
struct vbus_slot;
struct vbus_kick {
	struct vbus_slot *slot;
	unsigned q;
};
struct vbus_slot {
	struct vm *vm;
	struct virtio_dev *dev;
	void (*kick)(void *impl, unsigned q);	/* I/O thread work */
	void *impl;
	uint64_t base;
	unsigned irq;
	int irqfd;
	int kickfd[4];		/* VIRTIO_MAX_QUEUES ioeventfds */
	struct vbus_kick kargs[4];
};

/* Hooks the VMM role (or a test) plugs into a running VM; all called on
 * the I/O thread with the vsock device lock held, so they must not block
 * and must not call back into the device (vm_vsock_connect). Any may be
 * NULL. */
struct vm_hooks {
	void *ctx;
	/* vsock connection to a guest port finished (fd or err) */
	void (*connected)(void *ctx, uint32_t cookie, int fd, int err);
	/* the guest agent announced itself */
	void (*agent_ready)(void *ctx, uint64_t ns_since_start);
	/* guest-opened connections: accepted only on ports listens() says
	 * yes to; guest_conn takes fd on 0, the device closes it on -1 */
	bool (*listens)(void *ctx, uint32_t port);
	int (*guest_conn)(void *ctx, uint32_t port, int fd);
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;			/* -1 when closed */
	struct kvm_run *run;	/* mmap of the vCPU's kvm_run */
	size_t run_size;
	pthread_t thread;
	bool started;
	_Atomic int tid;	/* the thread's tid once it runs, for kicks */
	uint64_t exits;
};

/* ---- snapshots (cpu_state.c, snapfile.c, snaprec.c, snapshot.c) ------- */
#define SNAP_MAX_MSRS  512		/* KVM lists ~60-100 */
#define SNAP_XSAVE_MAX (16u << 10)	/* KVM_CAP_XSAVE2 sizes (AMX: ~11 KiB) */

struct snap_vcpu {
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;		/* only without XSAVE */
	uint32_t xsave_len;		/* 0: fpu instead */
	uint32_t nmsrs;
	uint8_t xsave[SNAP_XSAVE_MAX] __attribute__((aligned(8)));
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_msr_entry msrs[SNAP_MAX_MSRS];
};

struct snap_chips {
	struct kvm_irqchip chip[3];	/* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

struct snap_serial {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, thri_pending;
};

/* Everything but RAM, as snaprec.c encodes it (records, see there). */
struct snap_state {
	struct snap_chips chips;
	struct snap_serial serial;
	unsigned nr_vcpus, ndevs;
	struct virtio_state dev[VM_MAX_VDEVS];
	struct snap_vcpu vcpu[VM_MAX_VCPUS];
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd, vm_fd;	/* -1 when closed */
	uint8_t *ram;		/* host mapping of all guest RAM */
	uint64_t ram_size;
	uint64_t low_size;	/* RAM below GPA_MMIO_GAP */
	struct vcpu vcpus[VM_MAX_VCPUS];
	unsigned nr_vcpus;
	struct serial serial;
	int stop_fd;		/* eventfd: a vCPU asks the VM to stop */
	atomic_bool stopping;
	bool finished;			/* vm_finish ran */
	atomic_int exit_reason;	/* enum vm_exit once stopping */
	pthread_mutex_t err_lock;
	char err[256];
	uint64_t t_start_ns;
	_Atomic uint64_t t_first_entry_ns;
	/* I/O thread */
	int epfd;
	struct io_handler *io;
	unsigned io_cap;
	/* devices */
	void *gmem;		/* struct gmem for device models */
	struct vbus_slot slots[VM_MAX_VDEVS];
	unsigned nslots;
	char dev_cmdline[512];	/* virtio_mmio.device=... entries */
	char full_cmdline[GPA_CMDLINE_MAX];
	struct vsock_dev *vsock;
	struct virtio_dev *rng;
	struct virtio_dev *disks[VM_MAX_DISKS];
	struct net_host *net;		/* NULL without a NIC */
	bool disk_owned[VM_MAX_DISKS];	/* fd handed to a blk backend */
	struct virtio_dev *shares[VM_MAX_MOUNTS];	/* virtio-fs */
	bool share_fd_taken[VM_MAX_MOUNTS];	/* fd handed to a server */
	int landlock_fd;	/* the mounts' Landlock ruleset, or -1 */
	struct vm_hooks hooks;
	int smaps_fd;		/* /proc/self/smaps for RSS accounting */
	bool pvm;		/* host KVM is nested PVM (probed at setup) */
	bool ready_reported;	/* the agent's knock is reported once */
	/* snapshots: what to carry (cpu_state_probe), pausing the vCPUs */
	uint32_t msr_idx[SNAP_MAX_MSRS];
	unsigned nmsr_idx;
	uint32_t xsave_size;
	bool has_xsave, has_xcrs;
	int pagemap_fd;			/* /proc/self/pagemap, or -1 */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cv;
	bool pause_req;			/* under pause_lock */
	unsigned paused;		/* vCPUs parked, under pause_lock */
	bool restored;			/* built from a snapshot */
	uint64_t restored_vsock;	/* the vsock device's saved extra */
	char cpu_vendor[16];		/* cpu_identity, at vm_create */
	uint32_t cpu_sig;
	uint8_t cpu_hash[32];
	uint32_t mem_crc_chunk;
};

/* kvm.c: /dev/kvm access (kvm_open, kvm_is_pvm: vmcfg.h). */
int kvm_create_vm(struct vm *vm, char *err, size_t errlen);

/* memory.c: guest RAM and checked access (STYLE R6). mem_map reserves
 * the host mapping; mem_register (the slow part: the host kernel waits for
 * an RCU grace period) tells KVM about it. */
int mem_map(struct vm *vm, uint64_t bytes);
int mem_register(struct vm *vm);
void mem_free(struct vm *vm);
/* Host pointer for [gpa, gpa+len) or NULL if any byte lies outside RAM. */
void *vm_gpa_ptr(struct vm *vm, uint64_t gpa, uint64_t len);

/* boot.c: Linux x86 boot protocol loader; fills RAM, returns the entry. */
struct boot_entry {
	uint64_t rip, rsi;
};
int boot_load(struct vm *vm, struct boot_entry *entry, char *err,
	      size_t errlen);

/* mptable.c: Intel MP tables so the guest finds its CPUs without ACPI. */
int mptable_write(struct vm *vm);

/* sandbox.c: no_new_privs + seccomp allow-list, all threads (TSYNC);
 * with shares, the file calls a directory server needs, and first the
 * Landlock domain of landlock_fd (>= 0) for the calling thread (the only
 * one at that point; later threads inherit it). */
int sandbox_apply(bool net, bool shares, int landlock_fd, char *err,
		  size_t errlen);

/* cpu_x86_64.c: per-vCPU state for a 64-bit boot-protocol entry (entry
 * NULL: CPUID and MSR defaults only, for a restore). cpu_identity: the
 * host's CPU as the guest sees it (vendor, CPUID.1 signature, a hash of
 * the feature leaves KVM offers), what a snapshot must match. */
int cpu_setup(struct vcpu *vc, const struct boot_entry *entry);
int cpu_identity(int kvm_fd, char vendor[16], uint32_t *sig,
		 uint8_t hash[32]);

/* cpu_state.c: KVM state of vCPUs and the in-kernel chips. probe runs
 * at vm_create (asks /dev/kvm what to carry); save/load return 0 or
 * -errno with *what naming the ioctl that failed. */
int cpu_state_probe(struct vm *vm);
int cpu_state_save(struct vcpu *vc, struct snap_vcpu *s, const char **what);
int cpu_state_load(struct vcpu *vc, const struct snap_vcpu *s,
		   const char **what);
/* diff: NULL when equal, else what differs (may be written into buf) */
const char *cpu_state_diff(const struct snap_vcpu *a,
			   const struct snap_vcpu *b, char *buf, size_t len);
int vm_chips_save(struct vm *vm, struct snap_chips *c, const char **what);
int vm_chips_load(struct vm *vm, const struct snap_chips *c,
		  const char **what);

/* snaprec.c: the state records (layout in vmcfg.h). encode returns a
 * malloc'ed buffer of the state records; decode checks every record of
 * untrusted bytes into s (nr_vcpus from the header). */
int snap_state_encode(const struct snap_state *s, uint8_t **out,
		      size_t *len);
int snap_state_decode(const uint8_t *buf, size_t len, unsigned nr_vcpus,
		      struct snap_state *s, char *err, size_t errlen);
/* err := the message; returns -1 (both snapshot readers' way to fail) */
int snap_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* snapfile.c: the identity a snapshot of this build on this host
 * carries (snap_header_read, snap_verify: vmcfg.h). */
void snap_header_init(struct snap_header *h, const char vendor[16],
		      uint32_t sig, const uint8_t cpu_hash[32]);

/* snapshot.c: take one (I/O thread, the VMM role's IPC_SNAPSHOT: pauses
 * the vCPUs, writes state and RAM to fd, resumes unless stop) or build a
 * VM's state from one (vm_create, when cfg->vc->snapshot_fd > 0). */
int vm_snapshot(struct vm *vm, int fd, uint64_t *bytes, char *err,
		size_t errlen);
int snap_open(struct vm *vm, int fd, struct snap_header *h,
	      struct snap_state **st, char *err, size_t errlen);
int snap_map_memory(struct vm *vm, int fd, const struct snap_header *h);
int snap_apply(struct vm *vm, const struct snap_state *st, char *err,
	       size_t errlen);
/* After vm_start of a restored VM: device work the snapshot left owed. */
void snap_resume_devices(struct vm *vm);
/* vcpu.c: park every started vCPU outside KVM_RUN (0, or -ETIMEDOUT) and
 * let them go again. */
int vcpu_pause_all(struct vm *vm, unsigned timeout_ms);
void vcpu_resume_all(struct vm *vm);

/* pio.c: port I/O devices (serial, i8042 reset, legacy stubs). */
void pio_handle(struct vcpu *vc, uint16_t port, uint8_t *data, unsigned size,
		bool write);
/* serial.c: 8250/16550 UART model at COM1 (0x3f8, IRQ 4). */
void serial_init(struct serial *s, bool echo);
void serial_out(struct vm *vm, unsigned off, uint8_t v);
uint8_t serial_in(struct vm *vm, unsigned off);
/* Copy the last console output (up to len-1 bytes, NUL-terminated). */
size_t serial_tail(struct serial *s, char *buf, size_t len);
void serial_flush(struct serial *s);
/* Memory-mapped I/O outside the virtio windows (unclaimed: reads ~0). */
void mmio_handle(struct vcpu *vc, uint64_t gpa, uint8_t *data, unsigned len,
		 bool write);

/* ioloop.c: the I/O thread's epoll loop (runs on the caller's thread). */
int io_init(struct vm *vm);
void io_fini(struct vm *vm);
int io_watch(struct vm *vm, int fd, uint32_t events, io_cb cb, void *arg);
void io_unwatch(struct vm *vm, int fd);
void io_loop(struct vm *vm);

/* virtio_bus.c: MMIO windows, ioeventfds and irqfds for virtio devices. */
int vbus_add(struct vm *vm, struct virtio_dev *dev,
	     void (*kick)(void *impl, unsigned q), void *impl);
int vbus_attach(struct vm *vm);	/* after the memslot exists */
void vbus_rekick(struct vm *vm, struct virtio_dev *dev, unsigned q);
/* MMIO exit inside a device window? Handles it and returns true. */
bool vbus_mmio(struct vcpu *vc, uint64_t gpa, uint8_t *data, unsigned len,
	       bool write);
void vbus_fini(struct vm *vm);

/* vsock_host.c: the VMM side of the vsock device's backend. */
int vsock_host_init(struct vm *vm);
void vsock_host_fini(struct vm *vm);
/* Connect to guest port; hooks.connected reports the result. */
int vm_vsock_connect(struct vm *vm, uint32_t port, uint32_t cookie);

/* net_host.c: virtio-net on libslirp behind the egress policy, in its own
 * thread. init at vm_create (before the sandbox), start with the vCPUs. */
struct net_host;
int net_host_init(struct vm *vm, const struct vm_net_cfg *nc, char *err,
		  size_t errlen);
int net_host_start(struct vm *vm);
void net_host_fini(struct vm *vm);

/* share_host.c: a virtio-fs device per vm_cfg mount (served by host/fs/)
 * and the Landlock ruleset of their roots (vm->landlock_fd). init at
 * vm_create, before the sandbox; fini frees the devices and servers. */
int share_host_init(struct vm *vm, char *err, size_t errlen);
void share_host_fini(struct vm *vm);

/* vcpu.c: vCPU threads and the KVM_RUN loop. */
int vcpu_create(struct vm *vm, unsigned id);
int vcpu_start(struct vcpu *vc);
void vcpu_kick_all(struct vm *vm);
void vcpu_destroy(struct vcpu *vc);

/* vm.c: build, run and tear down one VM. Phases, so the VMM role can
 * sandbox itself between acquiring resources and running the guest:
 *   vm_create -> (sandbox) -> vm_start -> io_loop -> [vm_finish] -> vm_destroy
 * vm_run does all of it in-process. vm_finish stops every thread and
 * device and fills res: the guest's story is complete and can be
 * reported while vm_destroy still releases the memory and KVM objects
 * (the slow part: freeing every touched guest page). */
struct vm *vm_create(const struct vm_config *cfg, char *err, size_t errlen);
int vm_start(struct vm *vm, char *err, size_t errlen);
void vm_finish(struct vm *vm, struct vm_result *res);
void vm_destroy(struct vm *vm, struct vm_result *res);	/* res: unless
							   vm_finish ran */
int vm_run(const struct vm_config *cfg, struct vm_result *res);
/* Called from any thread: request the VM to stop with this reason. The
 * first caller's reason and detail win. */
void vm_request_stop(struct vm *vm, enum vm_exit why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t vm_now_ns(void);

#endif
