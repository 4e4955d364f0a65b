/* agent_abi.h: the host <-> guest-agent wire format (STYLE R13).
 *
 * Self-contained C99: shared verbatim by the host (musl, x86_64) and the
 * guest agent build. Fixed-width little-endian fields, no pointers, explicit
 * padding. AGENT_ABI_VERSION is checked in the hello exchange and bumped on
 * any change to this file that alters bytes on the wire.
 *
 * Framing: every message is a struct agent_hdr followed by exactly
 * hdr.len payload bytes. hdr.len is checked against AGENT_FRAME_MAX before
 * anything is allocated; a frame that fails any check closes that one
 * connection, never the process.
 */
#ifndef VOIDBOX_AGENT_ABI_H
#define VOIDBOX_AGENT_ABI_H

#include <stdint.h>

#define AGENT_ABI_VERSION 1u

/* The guest agent prints this on the console once it serves requests;
 * test harnesses and the QEMU reference boot wait for it. */
#define AGENT_READY_LINE "voidbox-agent: ready"

/* vsock port the agent listens on (guest side). */
#define AGENT_VSOCK_PORT 1024u

/* Kernel command line keys the VMM passes to the agent. */
#define AGENT_CMDLINE_SECRET "vb.secret="	/* 64 hex chars */
#define AGENT_CMDLINE_NAME   "vb.name="		/* VM name for log prefixes */

#define AGENT_MAGIC      0x58424f56u	/* "VOBX" little-endian */
#define AGENT_FRAME_MAX  (1u << 20)	/* payload cap: 1 MiB */
#define AGENT_SECRET_LEN 32u

struct agent_hdr {
	uint32_t magic;		/* AGENT_MAGIC */
	uint16_t type;		/* enum agent_msg */
	uint16_t flags;		/* reserved, 0 */
	uint32_t req_id;	/* multiplexing: 0 = connection-level */
	uint32_t len;		/* payload bytes that follow, <= AGENT_FRAME_MAX */
};

enum agent_msg {
	AGENT_MSG_HELLO = 1,	/* host -> guest: struct agent_hello */
	AGENT_MSG_HELLO_OK,	/* guest -> host: struct agent_hello_ok */
	AGENT_MSG_ERROR,	/* either way: struct agent_error + text */
	AGENT_MSG_POWEROFF,	/* host -> guest: sync and power off */
	AGENT_MSG_MAX
};

struct agent_hello {
	uint32_t abi_version;	/* AGENT_ABI_VERSION of the sender */
	uint32_t reserved;
	uint8_t  secret[AGENT_SECRET_LEN];	/* compared in constant time */
};

struct agent_hello_ok {
	uint32_t abi_version;
	uint32_t reserved;
};

struct agent_error {
	int32_t  err;		/* positive errno value */
	uint32_t reserved;
	/* followed by a UTF-8 message, not NUL-terminated */
};

/* Compile-time layout checks: the same bytes on both sides. */
typedef char agent_abi_hdr_size[sizeof(struct agent_hdr) == 16 ? 1 : -1];
typedef char agent_abi_hello_size[sizeof(struct agent_hello) == 40 ? 1 : -1];

#endif /* VOIDBOX_AGENT_ABI_H */
