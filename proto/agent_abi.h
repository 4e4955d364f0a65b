/* agent_abi.h: the host <-> guest-agent wire format (STYLE R13).
 *
 * Self-contained C99: shared verbatim by the host (musl, x86_64) and the
 * guest agent build. Fixed-width little-endian fields (both ends are
 * x86_64, so structs are sent as is), no pointers, explicit padding.
 * AGENT_ABI_VERSION is checked in the hello exchange and bumped on any
 * change to this file that alters bytes on the wire.
 *
 * Transport: a byte stream (vsock inside the VM; the VMM bridges it to a
 * unix socket on the host). The host connects to AGENT_VSOCK_PORT; the
 * first frame must be HELLO carrying the per-VM secret from the kernel
 * command line, compared in constant time. Anything else closes the
 * connection. Several connections may be open at once.
 *
 * Framing: struct agent_hdr followed by exactly hdr.len payload bytes.
 * hdr.len is checked against AGENT_FRAME_MAX before anything is allocated;
 * a frame that fails any check closes that one connection, never the
 * process. Strings in payloads are length-delimited and NUL-terminated
 * (the NUL is counted and checked).
 *
 * Requests carry a host-chosen nonzero req_id; every reply and stream
 * frame for that request carries the same id. A request ends with exactly
 * one terminal frame: OK, ERROR, EXIT (exec) or FILE_END (read).
 */
#ifndef VOIDBOX_AGENT_ABI_H
#define VOIDBOX_AGENT_ABI_H

#include <stdint.h>

#define AGENT_ABI_VERSION 2u

/* The guest agent prints this on the console once it serves requests;
 * test harnesses and the QEMU reference boot wait for it. */
#define AGENT_READY_LINE "voidbox-agent: ready"

#define AGENT_VSOCK_PORT 1024u
/* Host port the guest may connect to (the only one): the orchestrator's
 * LLM gateway. The agent relays guest TCP 127.0.0.1:<vb.gw> to it, so
 * claude-code speaks plain HTTP to a local address and never learns a
 * real credential (host/gateway/). */
#define AGENT_GATEWAY_PORT 1025u

/* Kernel command line keys the VMM passes to the agent. */
#define AGENT_CMDLINE_SECRET "vb.secret="	/* 64 hex chars */
#define AGENT_CMDLINE_NAME   "vb.name="		/* VM name for log prefixes */
#define AGENT_CMDLINE_TIME   "vb.time="		/* host UNIX time, ns */
#define AGENT_CMDLINE_NET    "vb.net="		/* 1: configure eth0 */
#define AGENT_CMDLINE_DONE   "vb.once"		/* print ready, power off */
#define AGENT_CMDLINE_GW     "vb.gw="		/* TCP port of the gateway relay */
#define AGENT_CMDLINE_HOSTNAME "vb.hostname="	/* the guest's hostname */
#define AGENT_CMDLINE_TOOLS  "vb.tools="	/* vdX: the tools disk; none: no probe */
#define AGENT_CMDLINE_IMAGE  "vb.image="	/* vdX: the root image (EROFS) */
/* Shared directories: "MODE:PATH[,MODE:PATH...]", MODE ro or rw; the
 * i-th is the virtio-fs device tagged AGENT_SHARE_TAG "i", mounted at
 * PATH (absolute; letters, digits and . _ - + @ / only). */
#define AGENT_CMDLINE_MOUNTS "vb.mounts="
#define AGENT_SHARE_TAG      "vbfs"
/* Volumes: "vdX:PATH[,vdX:PATH...]": the disk, formatted (ext2) by the
 * agent when it holds no file system yet, mounted read-write at PATH. */
#define AGENT_CMDLINE_VOLUMES "vb.volumes="
/* The unprivileged workload identity (initramfs/passwd "agent"): a shared
 * directory shows the host user's own files as this user's. */
#define AGENT_USER_UID 1000u
#define AGENT_USER_GID 1000u

#define AGENT_MAGIC      0x58424f56u	/* "VOBX" little-endian */
#define AGENT_FRAME_MAX  (1u << 20)	/* payload cap: 1 MiB */
#define AGENT_CHUNK      (64u << 10)	/* stream data per frame */
#define AGENT_SECRET_LEN 32u
#define AGENT_MAX_ARGS   4096u		/* argc + envc */
#define AGENT_PATH_MAX   4096u

struct agent_hdr {
	uint32_t magic;		/* AGENT_MAGIC */
	uint16_t type;		/* enum agent_msg */
	uint16_t flags;		/* reserved, 0 */
	uint32_t req_id;	/* 0 = connection-level */
	uint32_t len;		/* payload bytes that follow, <= AGENT_FRAME_MAX */
};

enum agent_msg {
	/* connection */
	AGENT_MSG_HELLO = 1,	/* h->g: struct agent_hello */
	AGENT_MSG_HELLO_OK,	/* g->h: struct agent_hello_ok */
	AGENT_MSG_OK,		/* g->h: request done; payload per request */
	AGENT_MSG_ERROR,	/* g->h: struct agent_error + message text */
	AGENT_MSG_POLICY,	/* h->g: struct agent_policy + names (once) */
	AGENT_MSG_POWEROFF,	/* h->g: sync and power off; no reply */
	/* exec */
	AGENT_MSG_EXEC,		/* h->g: struct agent_exec + strings */
	AGENT_MSG_STARTED,	/* g->h: struct agent_started */
	AGENT_MSG_STDIN,	/* h->g: data; len 0 = EOF */
	AGENT_MSG_STDOUT,	/* g->h: data */
	AGENT_MSG_STDERR,	/* g->h: data */
	AGENT_MSG_SIGNAL,	/* h->g: struct agent_signal (process group) */
	AGENT_MSG_EXIT,		/* g->h: struct agent_exit (terminal) */
	/* files, confined to the allowed roots */
	AGENT_MSG_FILE_PUT,	/* h->g: struct agent_file + path; then DATA */
	AGENT_MSG_FILE_DATA,	/* either way: data; h->g len 0 = end of put */
	AGENT_MSG_FILE_GET,	/* h->g: struct agent_file + path; g->h DATA.. */
	AGENT_MSG_FILE_END,	/* g->h: struct agent_stat (terminal for GET) */
	AGENT_MSG_MKDIR,	/* h->g: struct agent_file + path -> OK */
	AGENT_MSG_STAT,		/* h->g: struct agent_file + path -> OK+stat */
	/* telemetry */
	AGENT_MSG_TELEMETRY_SUB,	/* h->g: struct agent_telemetry_sub */
	AGENT_MSG_TELEMETRY,	/* g->h: struct agent_telemetry */
	/* warm start */
	AGENT_MSG_RESUME,	/* h->g: struct agent_resume -> OK */
	AGENT_MSG_ATTACH,	/* h->g: struct agent_attach -> STARTED, then
				   the parked exec's stream as after EXEC */
	/* terminals */
	AGENT_MSG_RESIZE,	/* h->g: struct agent_winsize; no reply */
	AGENT_MSG_MAX
};

struct agent_hello {
	uint32_t abi_version;	/* AGENT_ABI_VERSION of the sender */
	uint32_t reserved;
	uint8_t  secret[AGENT_SECRET_LEN];
};

struct agent_hello_ok {
	uint32_t abi_version;
	uint32_t pid;		/* agent pid (1) */
	uint64_t boot_ns;	/* guest CLOCK_BOOTTIME at ready */
};

struct agent_error {
	int32_t  err;		/* positive errno value */
	uint32_t reserved;
	/* followed by a UTF-8 message, not NUL-terminated */
};

/* POLICY: accepted once per boot (later ones get EPERM), before any EXEC.
 * Followed by allow_count NUL-terminated command names (basename or
 * absolute path); allow_count 0 = every command allowed. */
struct agent_policy {
	uint32_t allow_count;
	uint32_t nofile;	/* RLIMIT_NOFILE for execs, 0 = default */
	uint32_t nproc;		/* RLIMIT_NPROC, 0 = default */
	uint32_t reserved;
	uint64_t fsize;		/* RLIMIT_FSIZE bytes, 0 = unlimited */
};

#define AGENT_EXEC_STDIN  1u	/* host streams STDIN frames; else /dev/null */
#define AGENT_EXEC_ROOT   2u	/* run as root instead of uid/gid */
/* Park it: STARTED (reserved = a park id) is the whole answer; the process
 * runs on with stdin open (implies AGENT_EXEC_STDIN) and its output held
 * in its pipes (it blocks when they fill) until a connection ATTACHes,
 * which then gets STARTED, the output, the stdin it sends and EXIT as if
 * it had started it. Parked processes survive the connection that
 * started them, and a snapshot: a restored clone's host attaches to what
 * the template started (a claude-code waiting for its prompt). When the
 * attached connection goes, the process is parked again (same id): a
 * template's host checks readiness on one connection, closes it, and
 * every clone attaches on its own. */
#define AGENT_EXEC_PARK   4u
#define AGENT_PARK_MAX    16u	/* parked at once */
/* A terminal: the command gets a new pseudo-terminal (rows x cols from
 * the EXEC) as its controlling terminal and stdin/stdout/stderr. All its
 * output comes as STDOUT; STDIN bytes are typed at the terminal, so the
 * line discipline applies (^C is SIGINT to the foreground job, ^D is an
 * EOF for a reader in canonical mode); RESIZE changes its size (the
 * kernel sends SIGWINCH). Implies AGENT_EXEC_STDIN. */
#define AGENT_EXEC_TTY    8u

struct agent_attach {
	uint32_t park_id;
	uint32_t timeout_ms;	/* 0: keep the exec's; else from now */
};

/* EXEC: followed by argc NUL-terminated args, envc "K=V" strings, and one
 * NUL-terminated cwd ("" = /workspace). */
struct agent_exec {
	uint32_t flags;
	uint32_t uid, gid;	/* ignored with AGENT_EXEC_ROOT */
	uint32_t timeout_ms;	/* 0 = none; SIGKILLs the process group */
	uint32_t argc, envc;
	uint16_t rows, cols;	/* AGENT_EXEC_TTY: its size (0: 24 x 80) */
	uint32_t reserved;
};

/* RESIZE: for the exec req_id names (an AGENT_EXEC_TTY one; otherwise
 * ignored). */
struct agent_winsize {
	uint16_t rows, cols;	/* 1..4096 each; others ignored */
	uint32_t reserved;
};

struct agent_started {
	int32_t pid;
	uint32_t reserved;
};

struct agent_signal {
	int32_t sig;
	uint32_t reserved;
};

enum agent_exit_how {
	AGENT_EXIT_CODE = 1,	/* code = exit status */
	AGENT_EXIT_SIGNAL = 2,	/* code = signal number */
};

struct agent_exit {
	uint32_t how;		/* enum agent_exit_how */
	int32_t code;
	uint32_t timed_out;	/* killed by the exec timeout */
	uint32_t reserved;
	uint64_t user_us, sys_us;	/* rusage of the process tree */
	uint64_t max_rss_kb;
	uint64_t wall_us;
};

#define AGENT_FILE_MKPARENTS 1u	/* create missing parent directories */
#define AGENT_FILE_APPEND    2u	/* PUT: append instead of truncate */

struct agent_file {
	uint32_t flags;
	uint32_t mode;		/* PUT/MKDIR: permission bits */
	uint32_t path_len;	/* including the NUL */
	uint32_t reserved;
	/* followed by the path */
};

struct agent_stat {
	uint32_t mode;		/* st_mode */
	uint32_t uid, gid;
	uint32_t reserved;
	uint64_t size;
	int64_t  mtime_ns;
};

struct agent_telemetry_sub {
	uint32_t interval_ms;	/* 0 = unsubscribe; minimum 50 */
	uint32_t reserved;
};

struct agent_telemetry {
	uint64_t uptime_ns;
	uint64_t cpu_user_ticks, cpu_system_ticks, cpu_idle_ticks;
	uint64_t mem_total_kb, mem_available_kb;
	uint32_t procs_running, procs_total;
	uint32_t load1_milli;	/* loadavg * 1000 */
	uint32_t reserved;
};

/* RESUME: sent first to an agent restored from a snapshot (every clone
 * of one has the same memory): its own session secret (later HELLOs must
 * carry it; the snapshot's stops working), a seed mixed into the kernel's
 * RNG before a forced reseed, the wall clock (the guest's stood still
 * since the snapshot), its hostname, with AGENT_RESUME_MAC eth0's MAC,
 * and with gw_port the gateway relay's port (a snapshot made without one
 * restored for a claude stage). */
#define AGENT_RESUME_MAC 1u
struct agent_resume {
	uint8_t  secret[AGENT_SECRET_LEN];
	uint8_t  seed[64];
	uint64_t unix_ns;
	uint32_t flags;
	uint8_t  mac[6];
	uint16_t gw_port;	/* 0: none (or as booted) */
	char     hostname[64];	/* NUL-terminated DNS label, "" = keep */
};

/* Compile-time layout checks: the same bytes on both sides. */
#define AGENT_ABI_ASSERT(name, cond) typedef char agent_abi_##name[(cond) ? 1 : -1]
AGENT_ABI_ASSERT(hdr, sizeof(struct agent_hdr) == 16);
AGENT_ABI_ASSERT(hello, sizeof(struct agent_hello) == 40);
AGENT_ABI_ASSERT(hello_ok, sizeof(struct agent_hello_ok) == 16);
AGENT_ABI_ASSERT(policy, sizeof(struct agent_policy) == 24);
AGENT_ABI_ASSERT(exec, sizeof(struct agent_exec) == 32);
AGENT_ABI_ASSERT(winsize, sizeof(struct agent_winsize) == 8);
AGENT_ABI_ASSERT(resume, sizeof(struct agent_resume) == 184);
AGENT_ABI_ASSERT(exit, sizeof(struct agent_exit) == 48);
AGENT_ABI_ASSERT(file, sizeof(struct agent_file) == 16);
AGENT_ABI_ASSERT(stat, sizeof(struct agent_stat) == 32);
AGENT_ABI_ASSERT(telemetry, sizeof(struct agent_telemetry) == 64);

#endif /* VOIDBOX_AGENT_ABI_H */
