/* test_snaprec.c: a snapshot's state records (host/vmm/snaprec.c) and a
 * device's transport state (host/devices/virtio_state.c) from untrusted
 * bytes: every field round-trips; truncation at every length, 20,000
 * random corruptions and hand-made hostile records are refused or
 * decoded without reading past the buffer (AddressSanitizer watches). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/vmm/vmm.h"

static int fails;
#define CHECK(c, ...) do { if (!(c)) { fails++; printf("FAIL: " __VA_ARGS__); \
	printf("\n"); } } while (0)

static void fill(void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static struct snap_state *sample(void)
{
	struct snap_state *s = calloc(1, sizeof(*s));
	fill(&s->chips, sizeof(s->chips), 1);
	fill(&s->serial, sizeof(s->serial), 2);
	s->nr_vcpus = 2;
	s->ndevs = 3;
	for (unsigned i = 0; i < 3; i++)
		fill(&s->dev[i], sizeof(s->dev[i]), 10 + i);
	for (unsigned i = 0; i < 2; i++) {
		struct snap_vcpu *v = &s->vcpu[i];
		fill(&v->mp, sizeof(v->mp), 20 + i);
		fill(&v->regs, sizeof(v->regs), 30 + i);
		fill(&v->sregs, sizeof(v->sregs), 40 + i);
		fill(&v->xcrs, sizeof(v->xcrs), 50 + i);
		fill(&v->dregs, sizeof(v->dregs), 60 + i);
		fill(&v->lapic, sizeof(v->lapic), 70 + i);
		fill(&v->events, sizeof(v->events), 80 + i);
		v->nmsrs = 37 + i;
		fill(v->msrs, v->nmsrs * sizeof(v->msrs[0]), 90 + i);
		if (i == 0) {
			v->xsave_len = 4096;
			fill(v->xsave, v->xsave_len, 99);
		} else {
			fill(&v->fpu, sizeof(v->fpu), 98);
		}
	}
	return s;
}

static void roundtrip(void)
{
	struct snap_state *s = sample(), *d = calloc(1, sizeof(*d));
	uint8_t *buf;
	size_t len;
	char err[256];

	CHECK(snap_state_encode(s, &buf, &len) == 0, "encode");
	CHECK(snap_state_decode(buf, len, 2, d, err, sizeof(err)) == 0,
	      "decode: %s", err);
	CHECK(!memcmp(&s->chips, &d->chips, sizeof(s->chips)), "chips");
	CHECK(!memcmp(&s->serial, &d->serial, sizeof(s->serial)), "serial");
	CHECK(d->ndevs == 3 && !memcmp(s->dev, d->dev, sizeof(s->dev)), "devs");
	CHECK(!memcmp(s->vcpu, d->vcpu, 2 * sizeof(s->vcpu[0])), "vcpus");
	/* the header's vCPU count must match the records */
	CHECK(snap_state_decode(buf, len, 3, d, err, sizeof(err)) < 0,
	      "a missing vCPU accepted");
	CHECK(snap_state_decode(buf, len, 1, d, err, sizeof(err)) < 0,
	      "an extra vCPU accepted");
	unsigned bad = 0;
	for (size_t n = 0; n < len; n++)
		bad += snap_state_decode(buf, n, 2, d, err, sizeof(err)) < 0;
	CHECK(bad == len, "%zu of %zu truncations accepted", len - bad, len);
	/* trailing bytes */
	uint8_t *more = malloc(len + 8);
	memcpy(more, buf, len);
	memset(more + len, 0, 8);
	CHECK(snap_state_decode(more, len + 8, 2, d, err, sizeof(err)) < 0,
	      "trailing bytes accepted");
	/* random corruption: refused or decoded, never out of bounds */
	srand(18);
	unsigned refused = 0;
	for (int k = 0; k < 20000; k++) {
		memcpy(more, buf, len);
		for (int j = rand() % 4; j >= 0; j--)
			more[rand() % len] ^= (uint8_t)(1 + rand() % 255);
		refused += snap_state_decode(more, len, 2, d, err,
					     sizeof(err)) < 0;
	}
	printf("INFO: %u of 20000 corrupted states refused (the rest change "
	       "only values, which KVM and the device checks judge)\n",
	       refused);
	CHECK(refused > 0, "no corruption refused");
	free(more);
	free(buf);
	free(s);
	free(d);
}

static void put_rec(uint8_t *p, size_t *at, uint16_t kind, uint16_t index,
		    uint32_t len)
{
	memcpy(p + *at, &kind, 2);
	memcpy(p + *at + 2, &index, 2);
	memcpy(p + *at + 4, &len, 4);
	*at += 8 + ((len + 7) & ~7u);
}

static void hostile(void)
{
	struct snap_state *d = calloc(1, sizeof(*d));
	uint8_t p[256] = { 0 };
	size_t at = 0;
	char err[256];

	/* a length far past the end */
	put_rec(p, &at, 2, 0, 0xfffffff0u);
	CHECK(snap_state_decode(p, 64, 1, d, err, sizeof(err)) < 0,
	      "huge length accepted");
	/* an unknown kind, a vCPU index out of range, a device index out of
	 * order, the same record twice */
	static const uint16_t cases[][3] = {
		{ 200, 0, 8 }, { 0, 0, 0 }, { 6, 5, 8 }, { 4, 1, 8 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(p, 0, sizeof(p));
		at = 0;
		put_rec(p, &at, cases[i][0], cases[i][1], cases[i][2]);
		put_rec(p, &at, 1, 0, 0);
		CHECK(snap_state_decode(p, at, 1, d, err, sizeof(err)) < 0,
		      "hostile record %zu accepted", i);
	}
	/* empty input, and only an end */
	CHECK(snap_state_decode(p, 0, 1, d, err, sizeof(err)) < 0, "empty");
	at = 0;
	put_rec(p, &at, 1, 0, 0);
	CHECK(snap_state_decode(p, at, 1, d, err, sizeof(err)) < 0,
	      "a state without chips accepted");
	free(d);
}

/* A device's transport from a file: checked against the device first. */
static void device_state(void)
{
	static const struct virtio_dev_ops ops = { 0 };
	struct virtio_dev dev;
	struct virtio_state s;
	char err[256];

	virtio_dev_init(&dev, &ops, "test", 19, 0, 3, NULL);
	virtio_dev_save(&dev, &s);
	s.q[1] = (struct virtio_qstate){ .size = 256, .ready = 1,
					 .desc = 0x1000, .last_avail = 7 };
	s.status = 0xf;
	CHECK(virtio_dev_load(&dev, &s, err, sizeof(err)) == 0, "load: %s",
	      err);
	CHECK(dev.vqs[1].size == 256 && dev.vqs[1].last_avail == 7 &&
	      dev.status == 0xf, "loaded fields");
	struct virtio_state b = s;
	b.q[1].size = 300;	/* not a power of 2 */
	CHECK(virtio_dev_load(&dev, &b, err, sizeof(err)) < 0, "size 300");
	b = s;
	b.q[2].size = 4096;	/* over VIRTQ_MAX_SIZE */
	CHECK(virtio_dev_load(&dev, &b, err, sizeof(err)) < 0, "size 4096");
	b = s;
	b.q[3].ready = 1;	/* a queue the device does not have */
	CHECK(virtio_dev_load(&dev, &b, err, sizeof(err)) < 0, "queue 3");
	b = s;
	b.device_id = 2;	/* another device type */
	CHECK(virtio_dev_load(&dev, &b, err, sizeof(err)) < 0, "device id");
	b = s;
	b.driver_features |= 1ull << 40;	/* never offered */
	CHECK(virtio_dev_load(&dev, &b, err, sizeof(err)) < 0, "features");
	b = s;
	b.q[0].ready = 1;	/* ready without a size */
	CHECK(virtio_dev_load(&dev, &b, err, sizeof(err)) < 0, "size 0");
}

int main(void)
{
	roundtrip();
	hostile();
	device_state();
	if (!fails)
		printf("PASS: snapshot records and device state\n");
	return fails ? 1 : 0;
}
