/* fuzz_virtq.c: libFuzzer target — split virtqueues built from arbitrary
 * bytes. The input is the guest: it supplies the descriptor table, the
 * avail ring and the ring addresses; virtq_pop/virtq_push must never read
 * or write outside "guest RAM" (ASan watches) nor loop forever. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/devices/devices.h"
#include "../../host/util/util.h"

#define RAM (256u << 10)

static uint8_t *ram;

static void *ptr(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (gpa > RAM || len > RAM - gpa)
		return NULL;
	return ram + gpa;
}

/* Guest errors are expected by the thousand here: keep the log quiet. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_QUIET);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem gm = { .ptr = ptr };
	struct virtq q;
	struct virtq_elem e;

	if (!ram)
		ram = malloc(RAM);
	if (size < 32)
		return 0;
	memset(ram, 0, RAM);
	/* Header: queue size and ring addresses, possibly hostile. */
	uint16_t qsz;
	uint64_t desc, avail, used;
	memcpy(&qsz, data, 2);
	memcpy(&desc, data + 2, 8);
	memcpy(&avail, data + 10, 8);
	memcpy(&used, data + 18, 8);
	qsz = (uint16_t)(1u << (qsz % 11));	/* power of two up to 1024 */
	desc %= RAM + 4096;	/* mostly inside RAM, sometimes not */
	avail %= RAM + 4096;
	used %= RAM + 4096;
	/* The rest of the input is copied over RAM from 0: it becomes the
	 * descriptor table, rings and buffers wherever they point. */
	size_t n = size - 26 < RAM ? size - 26 : RAM;
	memcpy(ram, data + 26, n);
	q = (struct virtq){ .size = qsz, .ready = true, .desc_gpa = desc,
			    .avail_gpa = avail, .used_gpa = used };
	for (int i = 0; i < 2048; i++) {
		int r = virtq_pop(&q, &gm, &e);
		if (r <= 0)
			break;
		uint8_t tmp[64];
		iov_to_buf(e.out, e.nout, 3, tmp, sizeof(tmp));
		iov_from_buf(e.in, e.nin, 5, tmp, sizeof(tmp));
		virtq_push(&q, &gm, e.head, (uint32_t)e.in_len);
		virtq_should_notify(&q, &gm);
	}
	return 0;
}
