/* ipc.h: typed messages between the orchestrator and a VMM child
 * (STYLE R23, after OpenBSD vmd's imsg).
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socketpair, so every send is one
 * message with its boundaries kept; fds travel with SCM_RIGHTS. Each
 * message is struct ipc_hdr + payload; the receiver checks the total size
 * against the type's fixed part and IPC_MAX before looking inside.
 * Both ends are the same binary, so the layout needs no versioning, but
 * everything is still validated: the VMM may be compromised by its guest.
 */
#ifndef VOIDBOX_IPC_H
#define VOIDBOX_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmcfg.h"

#define IPC_MAX (64u << 10)
#define IPC_FD 3	/* the VMM child's end of the socketpair */
#define IPC_ROLE "__vmm"	/* argv[1] of the VMM child */

enum ipc_type {
	IPC_CONFIG = 1,	/* orch -> vmm: struct vm_cfg (ipc_cfg_pack); fds
			   as ipc_cfg_take_fds orders them */
	IPC_STARTED,	/* vmm -> orch: struct ipc_started */
	IPC_AGENT_READY,	/* vmm -> orch: struct ipc_ready */
	IPC_CONNECT,	/* orch -> vmm: struct ipc_connect */
	IPC_CONNECTED,	/* vmm -> orch: struct ipc_connected; fd on success */
	IPC_STOP,	/* orch -> vmm: stop the VM now (no payload) */
	IPC_EXITED,	/* vmm -> orch: struct ipc_exited + detail + console */
	IPC_GUEST_CONN,	/* vmm -> orch, on the service channel (not the
			   control socket): struct ipc_guest_conn + fd, a
			   connection the guest opened to a host service */
	IPC_SNAPSHOT,	/* orch -> vmm: struct ipc_snapshot + the file's fd */
	IPC_SNAPSHOT_DONE,	/* vmm -> orch: struct ipc_snapshot_done +
				   error text */
	IPC_TYPE_MAX
};

/* Write a snapshot of the running VM into the attached file (empty,
 * writable; the orchestrator syncs and names it). */
#define IPC_SNAPSHOT_STOP 1u	/* stop the VM once written */
struct ipc_snapshot {
	uint32_t flags;
	uint32_t reserved;
};

struct ipc_snapshot_done {
	int32_t err;		/* 0: written; else a positive errno and the
				   text says why */
	uint32_t reserved;
	uint64_t took_ns;	/* pause -> resume */
	uint64_t file_bytes;	/* apparent size */
};

struct ipc_hdr {
	uint32_t type;
	uint32_t len;		/* payload bytes after the header */
};

struct ipc_started {
	uint64_t setup_ns;	/* VMM start -> vCPUs launched */
	uint32_t sandboxed;	/* seccomp applied */
	uint32_t pid;
};

struct ipc_ready {
	uint64_t since_start_ns;	/* VM creation -> agent knock */
};

struct ipc_connect {
	uint32_t cookie;
	uint32_t port;
};

struct ipc_connected {
	uint32_t cookie;
	int32_t err;		/* 0: fd attached */
};

struct ipc_guest_conn {
	uint32_t port;		/* host vsock port the guest connected to */
	uint32_t reserved;
};

struct ipc_exited {
	uint32_t exit;		/* enum vm_exit */
	uint32_t detail_len;
	uint32_t console_len;
	uint16_t probe_result;	/* enum vm_probe_result (selftest) */
	uint16_t probe_errno;	/* with VM_PROBE_REFUSED */
	uint64_t run_ns, first_entry_ns, exits;
	uint64_t start_mono_ns;	/* CLOCK_MONOTONIC at VM creation start */
	uint64_t rss_kb, guest_rss_kb;	/* VMM RSS, and guest RAM's share */
	/* followed by detail, console tail (not NUL-terminated) */
};

#define IPC_MAX_FDS 20	/* kernel, initrd, 6 disks, 8 mounts, services,
			   snapshot */

/* ipc.c. ipc_send returns 0 or -errno; fd < 0 sends none. ipc_recv fills
 * hdr and up to cap payload bytes, and *fd (or -1) with a received fd
 * (the caller owns it); returns 1 on a message, 0 on EOF, -errno on error
 * (-EPROTO for a malformed message, whose fds are closed). */
/* VMM side: while the I/O loop runs, sends must never block (they fail
 * with -EAGAIN instead); the final report is sent blocking. */
void ipc_nonblocking_sends(bool on);
int ipc_send(int sock, uint32_t type, const void *a, size_t alen,
	     const void *b, size_t blen, int fd);
int ipc_send_fds(int sock, uint32_t type, const void *p, size_t len,
		 const int *fds, unsigned nfds);
int ipc_recv(int sock, struct ipc_hdr *hdr, void *buf, size_t cap, int *fds,
	     unsigned maxfds, unsigned *nfds);

/* The VM configuration codec (one table in ipc.c). pack returns the bytes
 * written or -E2BIG/-EINVAL; unpack fills c (owning its strings: free
 * with vm_cfg_free) from untrusted bytes, or returns -1 with err and c
 * empty. The fds that go with a configuration, in order: the kernel (with
 * kernel_path), the initrd (initrd_path or initrd_fd, unless no_initrd),
 * one per disk, the service channel (services). */
ssize_t ipc_cfg_pack(const struct vm_cfg *c, uint8_t *buf, size_t cap);
int ipc_cfg_unpack(struct vm_cfg *c, const uint8_t *buf, size_t len,
		   char *err, size_t errlen);
unsigned ipc_cfg_nfds(const struct vm_cfg *c);
/* VMM side: set kernel_fd, initrd_fd, disk[].fd, svc_fd from fds;
 * -1 when the count does not match. */
int ipc_cfg_take_fds(struct vm_cfg *c, const int *fds, unsigned nfds);

#endif
