/* virtio_hostile.c: misbehaving virtio driver (work in progress) */
#include "virtio.h"

const char vb_guest_name[] = "virtio_hostile";

void guest_main(struct vb_boot_params *bp)
{
	(void)bp;
	vb_skip("hostile", "not written yet");
}
