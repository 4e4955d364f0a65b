/* blobs.S: the guest kernel, initramfs and version manifest, linked into
 * the voidbox executable (STYLE R19). The Makefile passes their paths as
 * VB_KERNEL, VB_INITRAMFS and VB_VERSIONS. Page alignment lets the VMM map
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

	.section .note.GNU-stack, "", @progbits
