/* hostile.h: shared state of the virtio_hostile guest's two halves */
#ifndef VB_GUEST_HOSTILE_H
#define VB_GUEST_HOSTILE_H

#include "virtio.h"

#define WAIT_MS		1000	/* for anything the device should do */

/* Spoils a freshly set-up queue; wr is the buffer direction flag. */
typedef void abuse_fn(struct vio_queue *q, uint64_t arg, uint16_t wr);

/* virtio_hostile.c */
extern struct vio_dev rng;
extern struct vsk vs;
extern uint8_t hbuf[4096];		/* scratch buffer, page-aligned */
bool rng_up(void);
const char *rng_try(void);
void broken_end(const char *check, struct vio_dev *d, unsigned qi,
		const char *what);
void expect_broken(const char *check, struct vio_dev *d, bool (*up)(void),
		   unsigned qi, abuse_fn *f, uint64_t arg, const char *what);
abuse_fn ab_loop, ab_addr, ab_avail_jump, ab_head, ab_next, ab_indirect;
void hostile_registers(void);

/* hostile_vsock.c */
bool vsock_up(void);
bool vsock_knock(uint32_t port);
void hostile_vsock(void);

#endif
