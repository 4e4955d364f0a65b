/* embed.c: accessors for the blobs in blobs.S. */
#include <stdint.h>

#include "util.h"

extern const uint8_t vb_kernel_start[], vb_kernel_end[];
extern const uint8_t vb_initramfs_start[], vb_initramfs_end[];
extern const uint8_t vb_versions_start[], vb_versions_end[];

static struct embed_blob blobs[EMBED_COUNT];

const struct embed_blob *embed_get(enum embed_id id)
{
	if ((unsigned)id >= EMBED_COUNT)
		return NULL;
	if (!blobs[id].name) {
		/* Filled lazily: the addresses are link-time constants. */
		blobs[EMBED_KERNEL] = (struct embed_blob){
			"kernel", vb_kernel_start,
			(size_t)(vb_kernel_end - vb_kernel_start) };
		blobs[EMBED_INITRAMFS] = (struct embed_blob){
			"initramfs", vb_initramfs_start,
			(size_t)(vb_initramfs_end - vb_initramfs_start) };
		blobs[EMBED_VERSIONS] = (struct embed_blob){
			"versions", vb_versions_start,
			(size_t)(vb_versions_end - vb_versions_start) };
	}
	return &blobs[id];
}
