/* vqdrv.h: a minimal virtio "driver" over malloc'ed guest RAM, so device
 * models can be unit-tested without KVM (after Firecracker's
 * test_utils.rs). Header-only: each test program includes it once. */
#ifndef VB_TEST_VQDRV_H
#define VB_TEST_VQDRV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/devices/devices.h"

#define RAM_SIZE (4u << 20)

struct ram {
	uint8_t *base;
	struct gmem gm;
};

static void *ram_ptr(void *ctx, uint64_t gpa, uint64_t len)
{
	struct ram *r = ctx;
	if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
		return NULL;
	return r->base + gpa;
}

static inline void ram_init(struct ram *r)
{
	r->base = calloc(1, RAM_SIZE);
	r->gm = (struct gmem){ .ptr = ram_ptr, .ctx = r };
}

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

/* Driver-side view of one queue laid out at `at` in RAM. */
struct drvq {
	struct ram *ram;
	struct virtq *q;
	uint64_t desc, avail, used;
	uint16_t size, next_desc, avail_idx, used_seen;
};

static inline void drvq_init(struct drvq *d, struct ram *r, struct virtq *q,
			     uint64_t at, uint16_t size)
{
	*d = (struct drvq){ .ram = r, .q = q, .size = size, .desc = at,
			    .avail = at + 16ull * size,
			    .used = at + 16ull * size + 4096 };
	*q = (struct virtq){ .size = size, .ready = true, .desc_gpa = d->desc,
			     .avail_gpa = d->avail, .used_gpa = d->used };
}

static inline struct vdesc *drv_desc(struct drvq *d, uint16_t i)
{
	return (struct vdesc *)(d->ram->base + d->desc) + i;
}

/* Add a chain of n buffers; write[i] marks device-writable ones. */
static inline uint16_t drvq_add(struct drvq *d, const uint64_t *addr,
				const uint32_t *len, const int *write, int n)
{
	uint16_t head = d->next_desc % d->size;
	for (int i = 0; i < n; i++) {
		uint16_t id = (d->next_desc++) % d->size;
		*drv_desc(d, id) = (struct vdesc){
			.addr = addr[i], .len = len[i],
			.flags = (uint16_t)((write[i] ? 2 : 0) |
					    (i + 1 < n ? 1 : 0)),
			.next = (uint16_t)(d->next_desc % d->size) };
	}
	uint16_t *avail = (uint16_t *)(d->ram->base + d->avail);
	avail[2 + d->avail_idx % d->size] = head;
	d->avail_idx++;
	__atomic_store_n(&avail[1], d->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* Next used element, or -1. */
static inline int drvq_used(struct drvq *d, uint32_t *len)
{
	uint16_t *used = (uint16_t *)(d->ram->base + d->used);
	if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == d->used_seen)
		return -1;
	uint32_t *el = (uint32_t *)(d->ram->base + d->used + 4) +
		       2 * (d->used_seen % d->size);
	d->used_seen++;
	if (len)
		*len = el[1];
	return (int)el[0];
}

static int t_pass, t_fail;
#define CHECK(name, cond) do { \
	if (cond) { t_pass++; printf("PASS: %s\n", name); } \
	else { t_fail++; printf("FAIL: %s (%s:%d: %s)\n", name, __FILE__, \
			      __LINE__, #cond); } } while (0)

#endif
