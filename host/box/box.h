/* box.h: table of contents of host/box/ — the orchestrator's handle on
 * one VM: spawn its VMM child, wait for the agent, open connections to it,
 * and collect how it ended. Orchestrator code returns -1 with a message in
 * err (STYLE R7 c); it never exits the process.
 */
#ifndef VOIDBOX_BOX_H
#define VOIDBOX_BOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent_abi.h"
#include "../vmm/vmcfg.h"

enum box_state { BOX_BOOTING, BOX_READY, BOX_EXITED };

struct box {
	char name[64];
	pid_t pid;
	int sock;			/* IPC, -1 when closed */
	int svc_fd;			/* service channel: guest-opened
					   connections, read with
					   box_svc_recv; -1 without */
	enum box_state state;
	uint8_t secret[AGENT_SECRET_LEN];
	uint64_t t_spawn_ns;
	uint64_t ready_ns;		/* spawn -> agent ready */
	uint64_t vmm_setup_ns;		/* VMM-reported setup time */
	/* filled when the VMM reports IPC_EXITED or dies */
	bool exit_reported;
	uint32_t vm_exit;		/* enum vm_exit */
	char detail[256];
	char console[1024];
	uint64_t first_entry_mono_ns;	/* first vCPU entry, CLOCK_MONOTONIC */
	uint64_t run_ns, first_entry_ns;	/* VM start -> stop, -> first
						   vCPU entry (VMM clock) */
	uint64_t exits;			/* userspace exits, all vCPUs */
	uint64_t vmm_rss_kb, guest_rss_kb;
	uint32_t probe_result;		/* enum vm_probe_result (selftest) */
	int probe_errno;		/* with VM_PROBE_REFUSED */
	int wait_status;		/* waitpid status once reaped */
	bool reaped;			/* or handed to the deferred reaper */
	bool stuck;			/* did not exit within the reap bound
					   after SIGKILL: wait_status unknown */
	bool stopping;			/* box_stop: pump until EXITED */
	/* an IPC_SNAPSHOT in flight (box_snapshot) and its answer */
	bool snap_waiting, snap_done;
	int snap_err;
	char snap_msg[256];
	uint64_t snap_took_ns, snap_bytes;
	/* pending IPC_CONNECTED (one outstanding connect at a time) */
	uint32_t next_cookie;
	pthread_mutex_t connect_lock;	/* box_connect: one at a time on
					   this box (set up by box_spawn) */
};

/* volume.c: named volumes on the host (docs/cli.md `voidbox volume`). */
#include <stdio.h>
/* The volumes directory, or a volume's file in it: 0 or -errno. */
int volume_dir(char *out, size_t len);
int volume_path(const char *name, char *out, size_t len);
/* A table (or a JSON array) of the volumes; their number, or -errno. */
int volume_list(FILE *out, bool json);
/* Remove an idle volume; -1 with err (unknown, in use). */
int volume_rm(const char *name, char *err, size_t errlen);

/* box.c. box_spawn checks cfg (vm_cfg_check), opens its files, and
 * starts a VMM with it; cfg stays the caller's. */
int box_spawn(struct box *b, const struct vm_cfg *cfg, char *err,
	      size_t errlen);
/* Wait for the agent's ready knock. -1 if the VM ended or timed out; err
 * then says why (boot failure, VMM crash with its signal, console tail). */
int box_wait_ready(struct box *b, unsigned timeout_ms, char *err,
		   size_t errlen);
/* box_spawn + box_wait_ready, and once more when the guest died while
 * booting before writing anything on its console (it ran nothing). 0, or
 * -1 with err; b is the last attempt's either way. */
int box_boot(struct box *b, const struct vm_cfg *cfg, unsigned timeout_ms,
	     char *err, size_t errlen);
/* Open a stream to guest port; returns the fd (caller closes) or -1. */
int box_connect(struct box *b, uint32_t port, unsigned timeout_ms, char *err,
		size_t errlen);
/* Write a snapshot of the running VM into fd (an empty regular file
 * open for writing; the caller syncs and names it); with stop the VM is
 * stopped once it is written. 0, or -1 with err (the VM's reason, a
 * timeout, or the VMM gone). took_ns/bytes: pause -> resume, file size. */
int box_snapshot(struct box *b, int fd, bool stop, unsigned timeout_ms,
		 uint64_t *took_ns, uint64_t *bytes, char *err,
		 size_t errlen);
/* Wait (without asking) for the VM to end; -1 if still running. */
int box_wait_exit(struct box *b, unsigned timeout_ms);
/* Ask the VM to stop and wait for the VMM to exit (then SIGKILL). */
void box_stop(struct box *b, unsigned grace_ms);
/* Human summary of how the VM ended ("powered off", "VMM killed by
 * signal 9", ...). */
const char *box_end_reason(struct box *b, char *buf, size_t len);
bool box_vmm_crashed(const struct box *b);
void box_close(struct box *b);
/* Signal every VMM this process has running (async-signal-safe: for a
 * SIGINT/SIGTERM handler tearing a whole run down). */
void box_signal_all(int sig);

/* svc.c: the service channel (vm_cfg.services), on which the VMM hands
 * over the connections the guest opens to host services. Needs nothing
 * else of box/: the gateway and its tests link it alone.
 *
 * A connected pair of channel ends: sv[0] to receive on (what box_spawn
 * keeps as box.svc_fd), sv[1] for the VMM's side. 0 or -errno; the
 * caller closes both (close-on-exec). */
int box_svc_pair(int sv[2]);
/* Receive one connection from svc_fd (blocking, unless the fd is not):
 * returns its fd (caller closes) with *port the host vsock port the guest
 * connected to. -EAGAIN: a message that was not a connection was dropped,
 * call again; -EPIPE: the VMM closed the channel; -EPROTO: a malformed
 * message (dropped, fds closed); other -errno from recvmsg. */
int box_svc_recv(int svc_fd, uint32_t *port);
/* The VMM's side, for tests and benchmarks that stand in for one: pass
 * fd (not consumed: the caller still closes its copy) as a connection to
 * port over channel end sock. 0 or -errno. */
int box_svc_send(int sock, uint32_t port, int fd);

#endif
