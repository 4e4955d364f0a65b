/* snap.h: table of contents of host/snap/ — named snapshots on the host
 * (docs/snapshots.md): taking one of a running box, listing, removing,
 * and turning one back into a VM configuration for a restore.
 *
 * A snapshot NAME is a directory DATA/snapshots/NAME (0700) holding
 *   vm.snap    the VMM's file (layout in host/vmm/vmcfg.h), 0600
 *   meta.json  what the host needs to restore it: size, disks and their
 *              identities, the session secret the guest knows, ...
 *   verified   the vm.snap identity (dev, inode, size, mtime, ctime) whose
 *              every checksum was last read and found good
 * It is built under DATA/snapshots/.tmp-NAME-PID and renamed into place
 * only once complete and synced: a crash or kill -9 during creation
 * leaves no NAME, only a .tmp- directory the next create or ls removes.
 */
#ifndef VOIDBOX_SNAP_H
#define VOIDBOX_SNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../vmm/vmcfg.h"

struct box;

#define SNAP_NAME_MAX 64

/* A disk as the snapshot saw it: a file (path, and its identity, which
 * must not change: the guest has its blocks cached), or the tools image
 * inside the voidbox executable (by its sha256). */
struct snap_disk {
	char path[4096];		/* "" for the embedded tools image */
	uint64_t off, len;
	bool embedded_tools;
	uint8_t tools_sha256[32];
	uint64_t size, dev, ino;
	int64_t mtime_ns;
};

struct snap_meta {
	char name[SNAP_NAME_MAX + 1];
	uint64_t created_ns;		/* CLOCK_REALTIME */
	char build[64];
	uint64_t mem_mb;
	uint32_t vcpus;
	bool net, services;
	uint8_t secret[AGENT_SECRET_LEN];	/* what the guest's agent knows */
	char hostname[VM_HOSTNAME_MAX];
	char image[512];		/* the --image/sandbox.image, or "" */
	struct snap_disk disk[VM_MAX_DISKS];
	uint32_t ndisks, root_disk;
	uint64_t file_bytes;		/* vm.snap's apparent size */
	uint64_t disk_bytes;		/* its blocks on disk */
	uint64_t took_ns;		/* the VM was paused this long */
	uint32_t park_id;		/* a process waiting in it (a stage
					   template's claude-code), or 0 */
};

/* store.c */
bool snap_name_ok(const char *name);
/* DATA/snapshots[/NAME[/FILE]] into out: 0 or -errno. */
int snap_path(const char *name, const char *file, char *out, size_t len);
/* Can a VM built from vc be snapshotted? (No shared directories, no
 * writable disk.) 0, or -1 with err saying why. */
int snap_cfg_check(const struct vm_cfg *vc, char *err, size_t errlen);
/* Snapshot the running box b, built from vc (its disks are recorded),
 * as NAME; stop: the VM stops once written. tools_sha256: the embedded
 * tools image's (when a disk is it), image: the image reference or NULL,
 * park_id: the parked process a restore attaches to (0: none).
 * 0, or -1 with err (name taken, mounts, writable disks, ...). */
int snap_create(const char *name, struct box *b, const struct vm_cfg *vc,
		const uint8_t *tools_sha256, const char *image, bool stop,
		uint32_t park_id, struct snap_meta *out, char *err,
		size_t errlen);
/* Read NAME's metadata and check its file: the header always (build,
 * sizes), every checksum when the file changed since last verified. 0,
 * or -1 with err. */
int snap_load(const char *name, struct snap_meta *m, char *err,
	      size_t errlen);
/* Fill vc (vm_cfg_init'ed; the caller may have set network, name...)
 * for a restore of m: memory, vCPUs, disks (each checked unchanged; the
 * embedded tools image by hash), the snapshot path. Refuses mounts and a
 * network the snapshot did not have. 0, or -1 with err. */
int snap_restore_cfg(const struct snap_meta *m, struct vm_cfg *vc,
		     char *err, size_t errlen);
/* A clone's own identity in vc (its vsock CID and MAC, random) and
 * hostname (want if given, else the snapshot's with a random suffix),
 * for the restore and the agent's RESUME. 0, or -1 (no randomness). */
int snap_clone_identity(const struct snap_meta *m, const char *want,
			struct vm_cfg *vc, char *hostname, size_t len);
/* A table, or a JSON array; the count or -errno. */
int snap_list(FILE *out, bool json);
/* Remove NAME: 0, or -1 with err. */
int snap_rm(const char *name, char *err, size_t errlen);

/* prune.c: the stage templates' cache bound. */
#define TEMPLATE_CACHE_MB_DEFAULT 2048u
/* The cap in bytes: VOIDBOX_TEMPLATE_CACHE_MB, else the default. */
uint64_t snap_template_cap(void);
/* NAME was restored now (its `used` stamp). */
void snap_touch(const char *name);
/* Remove the least recently used snapshots named prefix* until their
 * total on disk is <= cap, never keep; said(name, bytes, ctx) for each
 * removed. The count removed. */
int snap_prune(const char *prefix, uint64_t cap, const char *keep,
	       void (*said)(const char *name, uint64_t bytes, void *ctx),
	       void *ctx);

#endif
