/* head.S: bzImage setup header and the 16/32/64-bit entries of test guests */

/*
 * Image layout (Documentation/arch/x86/boot.rst, "THE ACTUAL MEMORY MAP",
 * "LOADING THE REST OF THE KERNEL"):
 *
 *   file 0 .. (setup_sects+1)*512	real-mode part: boot sector stub,
 *					setup header at 0x1f1, and a small
 *					real-mode stub (".setup", VMA 0)
 *   file (setup_sects+1)*512 ..	protected-mode part ("kernel"),
 *					loaded at 0x100000 = code32_start
 *	+0x000	startup_32	"32-bit BOOT PROTOCOL" entry
 *	+0x200	startup_64	"64-bit BOOT PROTOCOL" entry (XLF_KERNEL_64)
 *
 * All three ways in end up in startup_64_common with our own GDT, our own
 * identity map of the low VB_NR_PD GiB, .bss cleared and a stack; the C
 * side starts at vb_start(boot_params).  Nothing here is relocatable: the
 * image must be loaded at 0x100000 (relocatable_kernel = 0).
 */

#define LOAD_ADDR	0x100000
#define BOOT_CS		0x10		/* boot.rst: __BOOT_CS */
#define BOOT_DS		0x18		/* boot.rst: __BOOT_DS */
#define VB_NR_PD	5		/* page directories: 5 GiB mapped */
#define RM_BP		0x1000		/* real-mode path: zero page offset */
#define RM_STACK	0x3000		/* real-mode path: stack top offset */
#define VB16_MAGIC	0x36314256	/* "VB16" in %ebx: came via stub */
#define SMAP		0x534d4150	/* int 15h e820 signature */

/* ------------------------------------------------------------------ */
	.section .setup, "ax"
	.code16
	/*
	 * Boot sector.  A BIOS that boots this sector directly (boot_flag
	 * below makes it look bootable) just stops here.
	 */
	.globl	_setup
_setup:
	cli
1:	hlt
	jmp	1b

	/* boot.rst "THE REAL-MODE KERNEL HEADER" (protocol 2.12). */
	.org	0x1f1
hdr:
	.byte	__setup_sects		/* setup_sects: guest.ld */
	.word	0			/* root_flags */
	.long	__syssize		/* syssize: 16-byte paragraphs */
	.word	0			/* ram_size */
	.word	0xffff			/* vid_mode: NORMAL_VGA */
	.word	0			/* root_dev */
	.word	0xaa55			/* boot_flag */
	/* 0x200: real-mode entry, reached at (seg + 0x20):0000 */
	.byte	0xeb, rm_entry - 1f	/* jump (short) */
1:	.ascii	"HdrS"			/* header */
	.word	0x020c			/* version 2.12: has xloadflags */
	.long	0			/* realmode_swtch */
	.word	0x1000			/* start_sys_seg (obsolete) */
	.word	vb_version - 0x200	/* kernel_version */
	.byte	0			/* type_of_loader: loader sets */
	.byte	0x01			/* loadflags: LOADED_HIGH */
	.word	0			/* setup_move_size */
hdr_code32_start:
	.long	LOAD_ADDR		/* code32_start */
	.long	0			/* ramdisk_image */
	.long	0			/* ramdisk_size */
	.long	0			/* bootsect_kludge */
	.word	0			/* heap_end_ptr */
	.byte	0			/* ext_loader_ver */
	.byte	0			/* ext_loader_type */
	.long	0			/* cmd_line_ptr */
	.long	0x7fffffff		/* initrd_addr_max */
	.long	0x1000			/* kernel_alignment (informative) */
	.byte	0			/* relocatable_kernel: no */
	.byte	12			/* min_alignment: 4 KiB */
	.word	0x0001			/* xloadflags: XLF_KERNEL_64 */
	.long	4095			/* cmdline_size */
	.long	0			/* hardware_subarch: PC */
	.quad	0			/* hardware_subarch_data */
	.long	0			/* payload_offset: no payload */
	.long	0			/* payload_length */
	.quad	0			/* setup_data */
	.quad	LOAD_ADDR		/* pref_address */
	.long	__init_size		/* init_size: up to _end */
	.long	0			/* handover_offset: no EFI */
hdr_end:

	/*
	 * Real-mode entry ("RUNNING THE KERNEL"): DS = ES = SS = base of
	 * the real-mode part, interrupts may be on.  QEMU's qboot (microvm)
	 * comes this way.  The stub does what the kernel's own setup code
	 * does, minimally: build a zero page, fetch the e820 map from the
	 * BIOS (int 15h, AX=E820h), switch to protected mode and jump to
	 * code32_start following the 32-bit protocol.
	 */
rm_entry:
	cli
	cld
	movw	%ds, %ax
	pushw	%ax			/* CS := DS so offsets = labels */
	pushw	$2f
	lretw
2:	movw	%ax, %es
	movw	%ax, %ss
	movw	$RM_STACK, %sp

	/* zero page at base + RM_BP: clear it, copy the setup header */
	movw	$RM_BP, %di
	movw	$2048, %cx
	xorw	%ax, %ax
	rep stosw
	movw	$hdr, %si
	movw	$RM_BP + (hdr - _setup), %di
	movw	$hdr_end - hdr, %cx
	rep movsb

	/* e820 (boot.rst via bootparam.h: e820_entries 0x1e8, table 0x2d0) */
	xorl	%ebx, %ebx
	movw	$RM_BP + 0x2d0, %di
3:	movl	$0xe820, %eax
	movl	$20, %ecx
	movl	$SMAP, %edx
	int	$0x15
	jc	4f
	cmpl	$SMAP, %eax
	jne	4f
	movl	8(%di), %eax		/* drop empty entries, as Linux's */
	orl	12(%di), %eax		/* e820 sanitizer would (qboot */
	jz	5f			/* returns one at the end) */
	incb	RM_BP + 0x1e8
	addw	$20, %di
5:
	cmpb	$128, RM_BP + 0x1e8
	jae	4f
	testl	%ebx, %ebx
	jnz	3b
4:	cli

	/* A20: QEMU starts with it enabled and qboot already ran above 1M. */
	xorl	%eax, %eax
	movw	%ds, %ax
	shll	$4, %eax		/* linear base of the real-mode part */
	leal	rm_gdt(%eax), %edx
	movl	%edx, rm_gdt_desc + 2
	lgdtl	rm_gdt_desc
	movl	hdr_code32_start, %edx	/* the loader may have changed it */
	movl	%edx, rm_pm_jump
	leal	RM_BP(%eax), %esi	/* ESI = boot_params (32-bit proto) */
	movl	%cr0, %edx
	orb	$1, %dl			/* PE */
	movl	%edx, %cr0
	movw	$BOOT_DS, %dx
	movw	%dx, %ds
	movw	%dx, %es
	movw	%dx, %fs
	movw	%dx, %gs
	movw	%dx, %ss
	movl	$VB16_MAGIC, %ebx	/* private: tells startup_32 */
	xorl	%ebp, %ebp
	xorl	%edi, %edi
	ljmpl	*%cs:rm_pm_jump		/* CS still has the real-mode base */

	.balign	4
rm_pm_jump:
	.long	0
	.word	BOOT_CS
	.balign	8
rm_gdt:
	.quad	0
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x10: 32-bit code, flat 4 GiB */
	.quad	0x00cf92000000ffff	/* 0x18: data, flat 4 GiB */
rm_gdt_end:
rm_gdt_desc:
	.word	rm_gdt_end - rm_gdt - 1
	.long	0			/* linear base, patched above */
vb_version:
	.asciz	"voidbox test guest"

/* ------------------------------------------------------------------ */
	.section .head.text, "ax"
	.code32
	/*
	 * 32-bit entry ("32-bit BOOT PROTOCOL"): protected mode, paging
	 * off, ESI = boot_params, CS = __BOOT_CS, DS = ES = SS = __BOOT_DS,
	 * all flat 4 GiB, interrupts off.  No stack is promised.
	 */
	.globl	startup_32
startup_32:
	jmp	1f
	.org	startup_32 + 8
	.globl	vb_signature
vb_signature:
	.asciz	"VBTESTGUEST"
1:	cli
	cld
	movl	$32, %edx
	cmpl	$VB16_MAGIC, %ebx
	jne	2f
	movl	$16, %edx
2:	/* Nobody clears .bss for us: it lies beyond syssize. */
	movl	$__bss_start, %edi
	movl	$_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx		/* guest.ld: a multiple of 16 */
	xorl	%eax, %eax
	rep stosl			/* wide stores: see startup_64 */
	movl	%edx, vb_entry_kind
	movl	%esi, vb_boot_params
	movl	$boot_stack_top, %esp
	call	3f
3:	popl	%eax			/* where we really run */
	subl	$3b - startup_32, %eax
	movl	%eax, vb_entry_addr

	lgdt	vb_gdt_desc		/* the 10-byte form; base < 4 GiB */
	movl	$BOOT_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss

	/* PML4[0] -> PDPT; PDPT[i] -> PD i; PD: 2 MiB pages, P|RW|PS */
	movl	$vb_pdpt + 3, vb_pml4
	movl	$vb_pd + 3, %eax
	movl	$vb_pdpt, %edi
	movl	$VB_NR_PD, %ecx
4:	movl	%eax, (%edi)
	addl	$4096, %eax
	addl	$8, %edi
	loop	4b
	movl	$vb_pd, %edi
	xorl	%eax, %eax		/* physical address, low */
	xorl	%edx, %edx		/* physical address, high */
	movl	$VB_NR_PD * 512, %ecx
5:	movl	%eax, %ebx
	orl	$0x83, %ebx
	movl	%ebx, (%edi)
	movl	%edx, 4(%edi)
	addl	$0x200000, %eax
	adcl	$0, %edx
	addl	$8, %edi
	loop	5b

	/* long mode: PAE, CR3, EFER.LME, then PG (Intel SDM 3A §10.8.5) */
	movl	%cr4, %eax
	orl	$0x20, %eax
	movl	%eax, %cr4
	movl	$vb_pml4, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax
	movl	%eax, %cr0
	ljmp	$BOOT_CS, $startup_64_common

	/*
	 * 64-bit entry ("64-bit BOOT PROTOCOL"): long mode, RSI =
	 * boot_params, the loader's identity map (only the memory we were
	 * loaded into and the zero page and cmdline are promised),
	 * CS = __BOOT_CS, DS = ES = SS = __BOOT_DS, interrupts off.
	 */
	.code64
	.org	startup_32 + 0x200
	.globl	startup_64
startup_64:
	cli
	cld
	movq	%rsi, %r15
	leaq	startup_64(%rip), %r14
	movl	$__bss_start, %edi
	movl	$_end, %ecx
	subl	%edi, %ecx
	shrl	$3, %ecx		/* guest.ld: a multiple of 16 */
	xorl	%eax, %eax
	/* 8-byte stores: under nested KVM each guest store to RAM can
	 * cost microseconds, and the virtio guests have 1 MiB of .bss. */
	rep stosq
	movl	$64, vb_entry_kind(%rip)
	movq	%r15, vb_boot_params(%rip)
	subq	$0x200, %r14
	movq	%r14, vb_entry_addr(%rip)

	lgdt	vb_gdt_desc(%rip)	/* the loader's GDT may be anywhere */
	movl	$BOOT_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	leaq	boot_stack_top(%rip), %rsp
	pushq	$BOOT_CS
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	/* same tables as startup_32 builds; MMIO up to 5 GiB needs them */
	leaq	vb_pdpt + 3(%rip), %rax
	movq	%rax, vb_pml4(%rip)
	leaq	vb_pd + 3(%rip), %rax
	leaq	vb_pdpt(%rip), %rdi
	movl	$VB_NR_PD, %ecx
2:	movq	%rax, (%rdi)
	addq	$4096, %rax
	addq	$8, %rdi
	loop	2b
	leaq	vb_pd(%rip), %rdi
	movq	$0x83, %rax
	movl	$VB_NR_PD * 512, %ecx
3:	movq	%rax, (%rdi)
	addq	$0x200000, %rax
	addq	$8, %rdi
	loop	3b
	leaq	vb_pml4(%rip), %rax
	movq	%rax, %cr3

startup_64_common:
	movl	$BOOT_DS, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	boot_stack_top(%rip), %rsp
	xorl	%ebp, %ebp
	movq	vb_boot_params(%rip), %rdi
	call	vb_start
6:	hlt
	jmp	6b

/* ------------------------------------------------------------------ */
	.text
	/*
	 * Exception stubs: vector i at vb_exc_stubs + 16 * i.  They push
	 * a dummy error code where the CPU pushes none (SDM 3A §6.13), then
	 * the vector, and hand the frame to vb_exception(), which reports
	 * and never returns.
	 */
	.balign	16
	.globl	vb_exc_stubs
vb_exc_stubs:
	.macro	EXC vec
	.balign	16
	/* these vectors come with an error code */
	.if	(\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) \
		|| (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vec
	jmp	vb_exc_common
	.endm
	.irp	vec, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	EXC	\vec
	.endr
	.irp	vec, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
	EXC	\vec
	.endr
	EXC	30
	EXC	31

vb_exc_common:
	movq	%rsp, %rdi		/* vector, error, rip, cs, rflags... */
	andq	$-16, %rsp
	call	vb_exception
7:	hlt
	jmp	7b

/* ------------------------------------------------------------------ */
	.data
	.balign	16
vb_gdt:
	.quad	0
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x18: data, flat */
vb_gdt_end:
	.balign	8
	.word	0, 0, 0
vb_gdt_desc:				/* 8-byte aligned base field */
	.word	vb_gdt_end - vb_gdt - 1
	.quad	vb_gdt

	.bss
	.balign	4096
vb_pml4:	.skip	4096
vb_pdpt:	.skip	4096
vb_pd:		.skip	4096 * VB_NR_PD
boot_stack:	.skip	16384
boot_stack_top:
	.balign	8
	.globl	vb_boot_params, vb_entry_kind, vb_entry_addr
vb_boot_params:	.skip	8
vb_entry_addr:	.skip	8
vb_entry_kind:	.skip	4

	.section .note.GNU-stack, "", @progbits	/* no executable stack */
