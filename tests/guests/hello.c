/* hello.c: the smallest test guest: prove the boot path reaches C code */
#include "lib.h"

const char vb_guest_name[] = "hello";

/*
 * If this line appears, the VMM loaded the image, entered it through one
 * of the boot-protocol entries with usable memory and a serial port, and
 * head.S got to long mode.  vb_finish() then proves the reset path.
 */
void guest_main(struct vb_boot_params *bp)
{
	(void)bp;
	vb_pass("hello", "entered 64-bit");
}
