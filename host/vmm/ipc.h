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

#define IPC_MAX (64u << 10)
#define IPC_FD 3	/* the VMM child's end of the socketpair */
#define IPC_ROLE "__vmm"	/* argv[1] of the VMM child */

enum ipc_type {
	IPC_CONFIG = 1,	/* orch -> vmm: struct ipc_config + cmdline + name;
			   fds: [kernel] [initrd] when given as files */
	IPC_STARTED,	/* vmm -> orch: struct ipc_started */
	IPC_AGENT_READY,	/* vmm -> orch: struct ipc_ready */
	IPC_CONNECT,	/* orch -> vmm: struct ipc_connect */
	IPC_CONNECTED,	/* vmm -> orch: struct ipc_connected; fd on success */
	IPC_STOP,	/* orch -> vmm: stop the VM now (no payload) */
	IPC_EXITED,	/* vmm -> orch: struct ipc_exited + detail + console */
	IPC_GUEST_CONN,	/* vmm -> orch, on the service channel (not the
			   control socket): struct ipc_guest_conn + fd, a
			   connection the guest opened to a host service */
	IPC_TYPE_MAX
};

struct ipc_hdr {
	uint32_t type;
	uint32_t len;		/* payload bytes after the header */
};

#define IPC_CFG_KERNEL_FD 1u	/* kernel comes as fd, else embedded */
#define IPC_CFG_INITRD_FD 2u	/* initrd comes as fd, else embedded */
#define IPC_CFG_NO_INITRD 4u
#define IPC_CFG_CONSOLE   8u	/* copy the guest console to stderr */
#define IPC_CFG_SERVICE_FD 64u	/* last fd: the service channel, on which
				   guest-opened connections are handed over */
#define IPC_CFG_NET 128u	/* a NIC: net_* fields and the net blob */
#define IPC_NET_PRIVATE_DNS 1u	/* net_flags: DNS may admit private ranges */
#define IPC_CFG_SECCOMP_PROBE 32u /* selftest: after sandboxing, try
				      ipc_config.probe (enum ipc_probe) */

/* What a probing VMM tries right after sandboxing, instead of running the
 * guest (selftest). It reports what happened as its setup error, unless
 * the filter kills it first. */
enum ipc_probe {
	IPC_PROBE_OPEN,		/* open(2): not on the list, SIGSYS */
	IPC_PROBE_TGKILL,	/* tgkill(parent, parent, 0): SIGSYS */
	IPC_PROBE_RAW_SOCKET,	/* socket(AF_INET, SOCK_RAW) with a NIC:
				   refused with EPERM, even for root */
};

struct ipc_config {
	uint32_t flags;
	uint32_t vcpus;
	uint64_t mem_mb;
	uint32_t timeout_ms;
	uint32_t cmdline_len;	/* incl. NUL */
	uint32_t name_len;	/* incl. NUL; the net blob follows */
	uint32_t log_level;	/* enum log_level */
	uint32_t ndisks;	/* disk fds follow kernel/initrd fds */
	uint32_t disk_ro_mask;	/* bit i: disk i read-only */
	uint32_t kernel_blob;	/* enum embed_id when no kernel fd */
	uint32_t probe;		/* enum ipc_probe, with SECCOMP_PROBE */
	/* Disk i is the window [off, off + len) of its file (len 0: to the
	 * end): how the tools image is served straight out of the voidbox
	 * executable it is appended to. */
	uint64_t disk_off[2], disk_len[2];
	/* IPC_CFG_NET: enum net_mode, published ports, and net_len bytes
	 * after the name: the rules, the hosts, the forwards and the
	 * upstream resolver ("IP:PORT", zero or one entry), each a
	 * NUL-separated list ending in an empty string. */
	uint32_t net_mode, net_len, npublish, max_conns;
	uint32_t conn_rate;	/* max_conns/conn_rate 0: default */
	uint32_t net_flags;	/* IPC_NET_* */
	uint16_t pub_guest[8], pub_host[8];
	/* followed by cmdline, name */
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
	uint32_t reserved;
	uint64_t run_ns, first_entry_ns, exits;
	uint64_t start_mono_ns;	/* CLOCK_MONOTONIC at VM creation start */
	uint64_t rss_kb, guest_rss_kb;	/* VMM RSS, and guest RAM's share */
	/* followed by detail, console tail (not NUL-terminated) */
};

#define IPC_MAX_FDS 6

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

#endif
