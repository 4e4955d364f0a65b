/* embed.c: accessors for the blobs in blobs.S. */
#include <stdint.h>

#include "util.h"

#define BLOB(sym) extern const uint8_t sym##_start[], sym##_end[];
BLOB(vb_kernel)
BLOB(vb_initramfs)
BLOB(vb_versions)
BLOB(vb_tg_bootcheck)
BLOB(vb_tg_misbehave)
BLOB(vb_tg_vsock_echo)
BLOB(vb_tg_virtio_hostile)
#undef BLOB

#define ENTRY(id, name, sym) \
	[id] = { name, sym##_start, 0 }

static struct embed_blob blobs[EMBED_COUNT] = {
	ENTRY(EMBED_KERNEL, "kernel", vb_kernel),
	ENTRY(EMBED_INITRAMFS, "initramfs", vb_initramfs),
	ENTRY(EMBED_VERSIONS, "versions", vb_versions),
	ENTRY(EMBED_TG_BOOTCHECK, "tg-bootcheck", vb_tg_bootcheck),
	ENTRY(EMBED_TG_MISBEHAVE, "tg-misbehave", vb_tg_misbehave),
	ENTRY(EMBED_TG_VSOCK_ECHO, "tg-vsock-echo", vb_tg_vsock_echo),
	ENTRY(EMBED_TG_VIRTIO_HOSTILE, "tg-virtio-hostile",
	      vb_tg_virtio_hostile),
};

static const uint8_t *const ends[EMBED_COUNT] = {
	vb_kernel_end, vb_initramfs_end, vb_versions_end, vb_tg_bootcheck_end,
	vb_tg_misbehave_end, vb_tg_vsock_echo_end, vb_tg_virtio_hostile_end,
};

const struct embed_blob *embed_get(enum embed_id id)
{
	if ((unsigned)id >= EMBED_COUNT)
		return NULL;
	/* Sizes are link-time differences; computed on first use. */
	blobs[id].size = (size_t)(ends[id] - blobs[id].data);
	return &blobs[id];
}
