/* blobs.S: the guest kernel, initramfs and version manifest, linked into
 * the voidbox executable (STYLE R19). The Makefile passes their paths as
 * VB_KERNEL, VB_INITRAMFS and VB_VERSIONS, and the tiny test guests
 * `voidbox selftest` runs as VB_TG_<NAME>. Page alignment lets the VMM map
 * or copy them without unaligned tails. */
#define BLOB(sym, path)                          \
	.section .rodata.vb_blobs, "a", @progbits; \
	.balign 4096;                            \
	.globl sym##_start, sym##_end;           \
sym##_start:                                     \
	.incbin path;                            \
sym##_end:

BLOB(vb_kernel, VB_KERNEL)
BLOB(vb_initramfs, VB_INITRAMFS)
BLOB(vb_versions, VB_VERSIONS)
BLOB(vb_tg_bootcheck, VB_TG_BOOTCHECK)
BLOB(vb_tg_misbehave, VB_TG_MISBEHAVE)
BLOB(vb_tg_vsock_echo, VB_TG_VSOCK_ECHO)
BLOB(vb_tg_virtio_hostile, VB_TG_VIRTIO_HOSTILE)

	.section .note.GNU-stack, "", @progbits
