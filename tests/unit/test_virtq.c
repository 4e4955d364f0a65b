/* test_virtq.c: split-virtqueue walking against hostile rings. */
#include "vqdrv.h"

static struct ram ram;

static void fresh(struct drvq *d, struct virtq *q)
{
	memset(ram.base, 0, RAM_SIZE);
	drvq_init(d, &ram, q, 0x10000, 16);
}

int main(void)
{
	struct virtq q;
	struct drvq d;
	struct virtq_elem e;

	ram_init(&ram);

	fresh(&d, &q);
	CHECK("virtq-empty", virtq_pop(&q, &ram.gm, &e) == 0);

	fresh(&d, &q);
	memcpy(ram.base + 0x100000, "hello", 5);
	uint64_t a[2] = { 0x100000, 0x200000 };
	uint32_t l[2] = { 5, 100 };
	int w[2] = { 0, 1 };
	uint16_t head = drvq_add(&d, a, l, w, 2);
	int r = virtq_pop(&q, &ram.gm, &e);
	CHECK("virtq-chain-pop", r == 1 && e.head == head && e.nout == 1 &&
	      e.nin == 1 && e.out_len == 5 && e.in_len == 100);
	char buf[8] = { 0 };
	CHECK("virtq-iov-read", iov_to_buf(e.out, e.nout, 0, buf, 5) == 5 &&
	      !memcmp(buf, "hello", 5));
	CHECK("virtq-iov-bounded", iov_from_buf(e.in, e.nin, 90, "0123456789abc",
						13) == 10);
	virtq_push(&q, &ram.gm, e.head, 42);
	uint32_t ul;
	CHECK("virtq-used", drvq_used(&d, &ul) == head && ul == 42);
	CHECK("virtq-drained", virtq_pop(&q, &ram.gm, &e) == 0);

	/* descriptor loop: 0 -> 0 */
	fresh(&d, &q);
	drvq_add(&d, a, l, w, 1);
	*drv_desc(&d, 0) = (struct vdesc){ .addr = 0x100000, .len = 4,
					   .flags = 1, .next = 0 };
	CHECK("virtq-loop-detected", virtq_pop(&q, &ram.gm, &e) == -1 &&
	      q.broken);
	CHECK("virtq-broken-stays-quiet", virtq_pop(&q, &ram.gm, &e) == 0);

	/* address outside RAM, and one that wraps */
	fresh(&d, &q);
	uint64_t bad[1] = { RAM_SIZE - 2 };
	uint32_t bl[1] = { 4 };
	drvq_add(&d, bad, bl, w, 1);
	CHECK("virtq-oob-addr", virtq_pop(&q, &ram.gm, &e) == -1);
	fresh(&d, &q);
	uint64_t wrap[1] = { ~0ull - 1 };
	drvq_add(&d, wrap, bl, w, 1);
	CHECK("virtq-wrapping-addr", virtq_pop(&q, &ram.gm, &e) == -1);

	/* next index out of range */
	fresh(&d, &q);
	drvq_add(&d, a, l, w, 1);
	*drv_desc(&d, 0) = (struct vdesc){ .addr = 0x100000, .len = 4,
					   .flags = 1, .next = 999 };
	CHECK("virtq-next-oob", virtq_pop(&q, &ram.gm, &e) == -1);

	/* head index out of range */
	fresh(&d, &q);
	drvq_add(&d, a, l, w, 1);
	((uint16_t *)(ram.base + d.avail))[2] = 500;
	CHECK("virtq-head-oob", virtq_pop(&q, &ram.gm, &e) == -1);

	/* avail idx jumps by more than the ring */
	fresh(&d, &q);
	((uint16_t *)(ram.base + d.avail))[1] = 100;
	CHECK("virtq-idx-jump", virtq_pop(&q, &ram.gm, &e) == -1);

	/* indirect descriptors were not negotiated */
	fresh(&d, &q);
	drvq_add(&d, a, l, w, 1);
	drv_desc(&d, 0)->flags = 4;
	CHECK("virtq-indirect-refused", virtq_pop(&q, &ram.gm, &e) == -1);

	/* readable after writable */
	fresh(&d, &q);
	int wr[2] = { 1, 0 };
	drvq_add(&d, a, l, wr, 2);
	CHECK("virtq-order-enforced", virtq_pop(&q, &ram.gm, &e) == -1);

	/* ring size 1024 with a full-length chain is accepted, 65 segs not */
	memset(ram.base, 0, RAM_SIZE);
	drvq_init(&d, &ram, &q, 0x10000, 128);
	uint64_t aa[65];
	uint32_t ll[65];
	int ww[65];
	for (int i = 0; i < 65; i++) {
		aa[i] = 0x100000 + 64ull * i;
		ll[i] = 64;
		ww[i] = 0;
	}
	drvq_add(&d, aa, ll, ww, 64);
	CHECK("virtq-64-segs-ok", virtq_pop(&q, &ram.gm, &e) == 1 &&
	      e.nout == 64);
	drvq_add(&d, aa, ll, ww, 65);
	CHECK("virtq-65-segs-refused", virtq_pop(&q, &ram.gm, &e) == -1);

	/* zero-length descriptors are skipped, not mapped */
	fresh(&d, &q);
	uint64_t z[2] = { RAM_SIZE + 100, 0x100000 };
	uint32_t zl[2] = { 0, 8 };
	int zw[2] = { 0, 0 };
	drvq_add(&d, z, zl, zw, 2);
	CHECK("virtq-zero-len-skipped", virtq_pop(&q, &ram.gm, &e) == 1 &&
	      e.nout == 1 && e.out_len == 8);

	printf("virtq: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
