/* vmcfg.h: the VMM's public face — the one plain-data VM configuration,
 * its limits, how a VM can end, the KVM probe and the VMM role.
 *
 * struct vm_cfg (after Firecracker's VmResources) is built once — from a
 * spec (host/spec/config.c), from the C API, or from CLI flags
 * (host/cli/vmopts.c) — and travels unchanged to the VMM child through one
 * codec (host/vmm/ipc.c: ipc_cfg_pack/ipc_cfg_unpack). A new per-VM knob is
 * a field here, a line in the codec's table, and its consumer.
 * Everything else in host/vmm/ is private (vmm.h), except the wire format
 * ipc.h, which only host/box/ (the orchestrator's end of it) includes:
 * other directories reach a VMM through box.h and this header.
 */
#ifndef VOIDBOX_VMCFG_H
#define VOIDBOX_VMCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../proto/agent_abi.h"

#define VM_MAX_VCPUS    16		/* CONFIG_NR_CPUS of the guest kernel */
#define VM_MIN_MEM_MB   32
#define VM_MAX_MEM_MB   (1u << 20)
#define VM_MAX_DISKS    6		/* tools image + raw disks + volumes */
#define VM_MAX_PUBLISH  8
#define VM_MAX_MOUNTS   8		/* shared directories per VM */
#define VM_MOUNT_GUEST_MAX 256		/* a guest mount path, incl. NUL */
#define VM_NAME_MAX     64
#define VM_HOSTNAME_MAX 64		/* incl. NUL; a DNS label, <= 63 */
#define VM_CMDLINE_MAX  4096u		/* the guest's whole command line */
#define VM_LIST_MAX     256		/* entries in one network list */
#define VM_RESOLVER_MAX 80

/* What guest traffic may leave (enforced by host/net/policy.c). */
enum vm_net_mode {
	VM_NET_OFF,		/* nothing (ARP/NDP/DHCP still answered) */
	VM_NET_INTERNET,	/* public addresses; reserved ranges if named */
	VM_NET_ALLOW,		/* the allow-list only */
};

struct vm_net_cfg {
	bool enabled;			/* a virtio-net NIC on libslirp */
	uint32_t mode;			/* enum vm_net_mode */
	char **allow;			/* rules, NULL-terminated, owned */
	char **hosts;			/* "name=addr", NULL-terminated, owned */
	char **forwards;		/* "GIP:GP=HIP:HP", NULL-term., owned */
	uint32_t max_conns, conn_rate;	/* 0: the defaults */
	bool private_dns;		/* DNS answers for allowed names may
					   admit private ranges (LAN) */
	struct vm_publish { uint16_t guest, host; } publish[VM_MAX_PUBLISH];
	uint32_t npublish;
	/* Filled by box_spawn from the host (never by users): the resolver
	 * the VMM asks about allowed names, "IP:PORT"/"[IP6]:PORT", "". */
	char resolver[VM_RESOLVER_MAX];
};

/* A virtio-blk disk, /dev/vda.. in order. The orchestrator names a path
 * (box_spawn opens it) or lends an open fd; the VMM gets an fd of its own.
 * The disk is the window [off, off + len) of the file (len 0: to its end):
 * how the tools image is served straight out of the executable. */
struct vm_disk_cfg {
	char *path;			/* owned; NULL with fd */
	int fd;				/* > 0: open fd (not owned) */
	uint64_t off, len;
	bool ro;
	/* A volume (sandbox.volumes): box_spawn creates the file sparse at
	 * create_mb MiB when it is new (empty) and holds an exclusive lock on it
	 * for the VM's life (one writer); the agent formats it when blank
	 * and mounts it at guest. */
	char *guest;			/* owned; NULL: a raw disk */
	uint32_t create_mb;
};

/* A shared directory (virtio-fs, served by host/fs/ in the VMM): the host
 * directory `host`, seen at `guest` in the VM, read-only unless !ro (the
 * host enforces it). The orchestrator names a path (box_spawn opens it,
 * and creates it when rw) or lends an open directory fd. */
struct vm_mount_cfg {
	char *host;			/* owned; NULL with fd */
	char *guest;			/* owned; absolute, vm_cfg_check's
					   rules */
	bool ro;
	int fd;				/* > 0: open directory fd (not owned) */
};

struct vm_cfg {
	char name[VM_NAME_MAX];		/* [vm:NAME] logs, vb.name */
	char hostname[VM_HOSTNAME_MAX];	/* the guest's; "" = "voidbox" */
	uint64_t mem_mb;
	uint32_t vcpus;
	uint32_t timeout_ms;		/* whole-VM limit, 0 = none */
	bool console;			/* copy the guest console to stderr */
	/* Boot. Orchestrator side: a path (opened by box_spawn) or the
	 * embedded image; VMM side: the fd it was handed (> 0). */
	char *kernel_path;		/* owned; NULL: embedded */
	uint32_t kernel_blob;		/* enum embed_id without a path */
	char *initrd_path;		/* owned; NULL: embedded */
	int initrd_fd;			/* > 0: initrd from this fd */
	int kernel_fd;			/* VMM side only */
	bool no_initrd;
	char *cmdline;			/* owned; replaces the agent's command
					   line (test guests), NULL: agent */
	char *append;			/* owned; appended kernel arguments */
	struct vm_disk_cfg disk[VM_MAX_DISKS];
	uint32_t ndisks;
	uint32_t root_disk;		/* 1 + the disk that is the guest's
					   root image (sandbox.image: EROFS,
					   read-only); 0: the initramfs */
	struct vm_mount_cfg mount[VM_MAX_MOUNTS];
	uint32_t nmounts;
	struct vm_net_cfg net;
	bool services;			/* open the service channel: guest
					   connections to host services arrive
					   on box.svc_fd */
	int svc_fd;			/* VMM side only */
	/* Per VM, filled by box_spawn: the agent's session secret and the
	 * orchestrator's log level. */
	uint8_t secret[AGENT_SECRET_LEN];
	uint32_t log_level;
	/* Restore instead of boot (warm start): the snapshot file, by path
	 * (box_spawn opens it) or, VMM side, the fd it was handed. The
	 * clone's own vsock CID and MAC (0: the defaults, 3 and
	 * 52:54:00:12:34:56). */
	char *snapshot_path;		/* owned */
	int snapshot_fd;		/* > 0: an open snapshot file (not owned;
					   box_spawn dups it), as initrd_fd */
	uint32_t vsock_cid;
	uint8_t mac[6];
	bool snap_check;		/* selftest: read the restored state back
					   and fail on any field that differs */
	/* selftest: after sandboxing, the VMM tries probe (enum vm_probe)
	 * instead of running the guest */
	bool seccomp_probe;
	uint32_t probe;
};

/* A snapshot file (host/vmm/snapfile.c). Little-endian, this build's own
 * layout:
 *   [0, 4096)          struct snap_header (crc32 over it, crc field 0)
 *   [4096, +state_len) state records: vCPUs, chips, devices (crc32)
 *   [crc_off, +4*n)    crc32 of each mem_chunk bytes of RAM (crc32)
 *   [mem_off, +mem)    guest RAM, 2 MiB aligned, sparse (zero pages are
 *                      holes): mapped MAP_PRIVATE by every restore, so
 *                      pages load on demand and clones share them.
 * A file from another build (build_id) or made on another CPU (vendor,
 * signature, feature hash) is refused with what differs. */
#define SNAP_MAGIC   "VBSNAP\r\n"
#define SNAP_VERSION 1u
#define SNAP_HDR_SIZE 4096u
#define SNAP_MEM_ALIGN (2ull << 20)
#define SNAP_STATE_MAX (8u << 20)
struct snap_header {
	char magic[8];
	uint32_t version, header_size;
	char build[64];			/* the writer's version, for people */
	uint8_t build_id[32];		/* sha256 of the writer's identity */
	char cpu_vendor[16];
	uint32_t cpu_sig;		/* CPUID.1:EAX */
	uint32_t nr_vcpus;
	uint8_t cpu_hash[32];		/* the feature leaves KVM offered */
	uint64_t mem_bytes;
	uint64_t state_off, state_len;
	uint64_t crc_off;
	uint64_t mem_off;
	uint64_t file_size;		/* mem_off + mem_bytes */
	uint64_t created_ns;		/* CLOCK_REALTIME */
	uint32_t state_crc, crc_crc;	/* of the records, of the crc table */
	uint32_t mem_chunk, nchunks;
	uint32_t ndevs;
	uint32_t header_crc;
};
/* Read and check the header of fd: magic, version, crc, sizes against
 * the file, this build. 0, or -1 with err naming what is wrong. */
int snap_header_read(int fd, struct snap_header *h, char *err,
		     size_t errlen);
/* Read every byte: the state's and the RAM chunks' checksums. progress
 * (may be NULL) gets bytes done and total now and then. 0, or -1 with
 * err naming the first damaged part. */
int snap_verify(int fd, const struct snap_header *h,
		void (*progress)(uint64_t done, uint64_t total), char *err,
		size_t errlen);

/* What a probing VMM (vm_cfg.seccomp_probe) tries right after
 * sandboxing, instead of running the guest (selftest). It reports what
 * happened as its setup error, unless the filter kills it first. The
 * values travel in vm_cfg.probe: keep them stable. */
enum vm_probe {
	VM_PROBE_OPEN,		/* open(2): not on the list, SIGSYS */
	VM_PROBE_TGKILL,	/* tgkill(parent, parent, 0): SIGSYS */
	VM_PROBE_RAW_SOCKET,	/* socket(AF_INET, SOCK_RAW) with a NIC:
				   refused with EPERM, even for root */
	VM_PROBE_VCPU_REGS,	/* KVM_GET_REGS/SREGS on vCPU 0: allowed
				   (a triple fault's report needs them) */
};

/* How a probe the filter did not kill came out, reported by the VMM as a
 * value (box.probe_result) next to its human detail. */
enum vm_probe_result {
	VM_PROBE_NO_RESULT,	/* no probe ran (or none was reported) */
	VM_PROBE_SURVIVED,	/* the syscall went through */
	VM_PROBE_REFUSED,	/* it failed cleanly: box.probe_errno */
};

/* vmcfg.c. Strings and lists in a vm_cfg are owned by it: set them with
 * these, release everything with vm_cfg_free (fds are never closed). */
void vm_cfg_init(struct vm_cfg *c, const char *name);	/* defaults */
void vm_cfg_free(struct vm_cfg *c);
int vm_cfg_set(char **field, const char *s);		/* 0 or -ENOMEM */
int vm_cfg_list_add(char ***list, const char *s);	/* 0, -ENOMEM, -E2BIG */
size_t vm_cfg_list_len(char *const *list);
void vm_cfg_list_free(char ***list);			/* *list = NULL */
/* A deep copy (strings and lists); 0 or -ENOMEM (dst then empty). */
int vm_cfg_copy(struct vm_cfg *dst, const struct vm_cfg *src);
/* The rules every vm_cfg obeys, checked where one is built (spec, CLI,
 * API) and again by the VMM after unpacking: 0, or -1 with err naming the
 * field. */
int vm_cfg_check(const struct vm_cfg *c, char *err, size_t errlen);
/* A guest mount path: absolute, at most VM_MOUNT_GUEST_MAX - 1 bytes of
 * letters, digits and . _ - + @ /, no "." or ".." component, not "/" and
 * not in the guest's own /proc /sys /dev /run /opt/voidbox. NULL when
 * fine, else why not. */
const char *vm_cfg_mount_path_bad(const char *s);
/* Add a shared directory (CLI, spec and API all come through here):
 * host path (kept as given), guest path (vm_cfg_mount_path_bad), ro. 0, or
 * -1 with err saying why (too many, bad or repeated guest path, OOM). */
int vm_cfg_mount_add(struct vm_cfg *c, const char *host, const char *guest,
		     bool ro, char *err, size_t errlen);
/* Add a volume: the disk file path (created at size_mb MiB if missing),
 * mounted at guest (the mount path rules; no other mount or volume
 * there). 0, or -1 with err. */
int vm_cfg_volume_add(struct vm_cfg *c, const char *path, uint32_t size_mb,
		      const char *guest, char *err, size_t errlen);
/* A volume name: 1-64 of [A-Za-z0-9._-], not starting with . or -. */
bool vm_cfg_volume_name_ok(const char *name);
/* A hostname is one DNS label (RFC 1123): 1-63 letters, digits, inner
 * '-' (the rule vm_cfg_check applies; the spec schema uses it too). */
bool vm_cfg_hostname_ok(const char *s);
/* The guest's kernel command line for c (the agent's, or c->cmdline),
 * with c->append. 0, or -1 when it does not fit. */
int vm_cfg_cmdline(const struct vm_cfg *c, uint64_t unix_ns, char *out,
		   size_t len);

/* How a VM ended. */
enum vm_exit {
	VM_EXIT_POWEROFF,	/* guest asked: reset, triple fault, i8042 */
	VM_EXIT_TIMEOUT,	/* config timeout reached */
	VM_EXIT_GUEST_ERROR,	/* KVM could not run the guest further */
	VM_EXIT_SETUP_ERROR,	/* could not build the VM */
};

/* kvm.c: can this host run VMs? kvm_open returns an fd or -1 with one
 * clear line per failure mode; kvm_is_pvm: the host's KVM is nested PVM
 * (tiny guests run, Linux user space does not). */
int kvm_open(char *err, size_t errlen);
bool kvm_is_pvm(void);

/* vm.c: n in-process create+destroy cycles of a tiny guest (`voidbox
 * bench`); how many succeeded, err saying why the next did not. */
unsigned vm_bench_create(unsigned n, char *err, size_t errlen);

/* vmm_main.c: the "__vmm" role: one VM driven over the IPC socket.
 * vmm_role: is argv (as main() got it) the one box_spawn gives a VMM
 * child? Then main() runs vmm_main instead of its own code. */
bool vmm_role(int argc, char **argv);
int vmm_main(int argc, char **argv);

#endif
