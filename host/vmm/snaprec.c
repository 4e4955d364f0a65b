/* snaprec.c: a snapshot's state as records (the file layout is in
 * vmcfg.h; snapfile.c reads and checks the rest).
 *
 * {u16 kind, u16 index, u32 len} + len bytes, padded to 8, ended by
 * SR_END. Each kind has one fixed size (XSAVE and MSRs are bounded
 * arrays), each (kind, index) appears once, device records come in
 * order, every vCPU has all of its records, and nothing follows SR_END.
 * The sizes are this build's struct sizes: a file from another build is
 * refused by its build id before a record is read, and the sizes catch
 * what the id would not. The bytes are untrusted: decode checks every
 * length against what is left before reading (tests/unit/test_snaprec).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

enum snap_rec_kind {
	SR_END = 1, SR_CHIPS, SR_SERIAL, SR_DEV,
	SR_MP, SR_REGS, SR_SREGS, SR_FPU, SR_XSAVE, SR_XCRS, SR_DREGS,
	SR_LAPIC, SR_EVENTS, SR_MSRS,
	SR_MAX
};
#define VCPU_KINDS ((1u << SR_MP) | (1u << SR_REGS) | (1u << SR_SREGS) | \
		    (1u << SR_XCRS) | (1u << SR_DREGS) | (1u << SR_LAPIC) | \
		    (1u << SR_EVENTS) | (1u << SR_MSRS))

struct snap_rec {
	uint16_t kind, index;
	uint32_t len;
};

int snap_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
#define fail snap_fail

struct enc {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void put(struct enc *e, uint16_t kind, uint16_t index,
		const void *data, size_t len)
{
	size_t need = sizeof(struct snap_rec) + ((len + 7) & ~(size_t)7);
	if (e->err)
		return;
	if (e->len + need > e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 64 << 10;
		while (cap < e->len + need)
			cap *= 2;
		uint8_t *p = realloc(e->p, cap);
		if (!p) {
			e->err = -ENOMEM;
			return;
		}
		e->p = p;
		e->cap = cap;
	}
	struct snap_rec r = { .kind = kind, .index = index,
			      .len = (uint32_t)len };
	memcpy(e->p + e->len, &r, sizeof(r));
	memset(e->p + e->len + sizeof(r), 0, need - sizeof(r));
	if (len)
		memcpy(e->p + e->len + sizeof(r), data, len);
	e->len += need;
}

int snap_state_encode(const struct snap_state *s, uint8_t **out, size_t *len)
{
	struct enc e = { 0 };

	put(&e, SR_CHIPS, 0, &s->chips, sizeof(s->chips));
	put(&e, SR_SERIAL, 0, &s->serial, sizeof(s->serial));
	for (unsigned i = 0; i < s->ndevs; i++)
		put(&e, SR_DEV, (uint16_t)i, &s->dev[i], sizeof(s->dev[i]));
	for (unsigned i = 0; i < s->nr_vcpus; i++) {
		const struct snap_vcpu *v = &s->vcpu[i];
		uint16_t x = (uint16_t)i;
		put(&e, SR_MP, x, &v->mp, sizeof(v->mp));
		put(&e, SR_REGS, x, &v->regs, sizeof(v->regs));
		put(&e, SR_SREGS, x, &v->sregs, sizeof(v->sregs));
		if (v->xsave_len)
			put(&e, SR_XSAVE, x, v->xsave, v->xsave_len);
		else
			put(&e, SR_FPU, x, &v->fpu, sizeof(v->fpu));
		put(&e, SR_XCRS, x, &v->xcrs, sizeof(v->xcrs));
		put(&e, SR_DREGS, x, &v->dregs, sizeof(v->dregs));
		put(&e, SR_LAPIC, x, &v->lapic, sizeof(v->lapic));
		put(&e, SR_EVENTS, x, &v->events, sizeof(v->events));
		put(&e, SR_MSRS, x, v->msrs, v->nmsrs * sizeof(v->msrs[0]));
	}
	put(&e, SR_END, 0, NULL, 0);
	if (e.err) {
		free(e.p);
		return e.err;
	}
	*out = e.p;
	*len = e.len;
	return 0;
}

/* Where a record of kind k, index i lands in s, and its size; NULL for
 * the variable ones handled by the caller. */
static void *slot_of(struct snap_state *s, unsigned k, unsigned i,
		     size_t *size)
{
	struct snap_vcpu *v = &s->vcpu[i];
	switch (k) {
	case SR_CHIPS: *size = sizeof(s->chips); return &s->chips;
	case SR_SERIAL: *size = sizeof(s->serial); return &s->serial;
	case SR_DEV: *size = sizeof(s->dev[0]); return &s->dev[i];
	case SR_MP: *size = sizeof(v->mp); return &v->mp;
	case SR_REGS: *size = sizeof(v->regs); return &v->regs;
	case SR_SREGS: *size = sizeof(v->sregs); return &v->sregs;
	case SR_FPU: *size = sizeof(v->fpu); return &v->fpu;
	case SR_XCRS: *size = sizeof(v->xcrs); return &v->xcrs;
	case SR_DREGS: *size = sizeof(v->dregs); return &v->dregs;
	case SR_LAPIC: *size = sizeof(v->lapic); return &v->lapic;
	case SR_EVENTS: *size = sizeof(v->events); return &v->events;
	default: return NULL;
	}
}

int snap_state_decode(const uint8_t *buf, size_t len, unsigned nr_vcpus,
		      struct snap_state *s, char *err, size_t errlen)
{
	uint32_t seen[VM_MAX_VCPUS] = { 0 }, seen_vm = 0, ndev = 0;
	size_t pos = 0;
	bool end = false;

	memset(s, 0, sizeof(*s));
	s->nr_vcpus = nr_vcpus;
	while (!end) {
		struct snap_rec r;
		if (len - pos < sizeof(r))
			return fail(err, errlen, "state: truncated at %zu", pos);
		memcpy(&r, buf + pos, sizeof(r));
		pos += sizeof(r);
		size_t padded = ((size_t)r.len + 7) & ~(size_t)7;
		if (r.len > len - pos || padded > len - pos)
			return fail(err, errlen, "state: record %u at %zu runs "
				    "past the end", r.kind, pos);
		const uint8_t *data = buf + pos;
		pos += padded;
		bool per_vcpu = r.kind >= SR_MP && r.kind < SR_MAX;
		if (r.kind < SR_END || r.kind >= SR_MAX ||
		    (per_vcpu && r.index >= nr_vcpus) ||
		    (r.kind == SR_DEV && r.index >= VM_MAX_VDEVS) ||
		    (!per_vcpu && r.kind != SR_DEV && r.index))
			return fail(err, errlen, "state: unknown record %u/%u",
				    r.kind, r.index);
		uint32_t *mask = per_vcpu ? &seen[r.index] : &seen_vm;
		uint32_t bit = r.kind == SR_DEV ? 0 : 1u << r.kind;
		if (r.kind == SR_DEV) {
			if (r.index != ndev)
				return fail(err, errlen, "state: device "
					    "records out of order");
			ndev++;
		} else if (*mask & bit) {
			return fail(err, errlen, "state: record %u/%u twice",
				    r.kind, r.index);
		}
		*mask |= bit;
		struct snap_vcpu *v = per_vcpu ? &s->vcpu[r.index] : NULL;
		size_t size = 0;
		void *dst = slot_of(s, r.kind, r.index, &size);
		if (r.kind == SR_END) {
			if (r.len)
				return fail(err, errlen, "state: bad end");
			end = true;
		} else if (r.kind == SR_XSAVE) {
			if (r.len < sizeof(struct kvm_xsave) ||
			    r.len > SNAP_XSAVE_MAX)
				return fail(err, errlen, "state: vcpu%u XSAVE "
					    "of %u bytes", r.index, r.len);
			memcpy(v->xsave, data, r.len);
			v->xsave_len = r.len;
		} else if (r.kind == SR_MSRS) {
			if (r.len % sizeof(v->msrs[0]) ||
			    r.len / sizeof(v->msrs[0]) > SNAP_MAX_MSRS)
				return fail(err, errlen, "state: vcpu%u MSRs of "
					    "%u bytes", r.index, r.len);
			memcpy(v->msrs, data, r.len);
			v->nmsrs = r.len / (uint32_t)sizeof(v->msrs[0]);
		} else if (dst && r.len == size) {
			memcpy(dst, data, size);
		} else {
			return fail(err, errlen, "state: record %u/%u has %u "
				    "bytes, not %zu", r.kind, r.index, r.len,
				    size);
		}
	}
	if (pos != len)
		return fail(err, errlen, "state: %zu bytes after the end",
			    len - pos);
	if ((seen_vm & ((1u << SR_CHIPS) | (1u << SR_SERIAL))) !=
	    ((1u << SR_CHIPS) | (1u << SR_SERIAL)))
		return fail(err, errlen, "state: chips or serial missing");
	for (unsigned i = 0; i < nr_vcpus; i++) {
		bool fpu = seen[i] & (1u << SR_FPU);
		bool xs = seen[i] & (1u << SR_XSAVE);
		if ((seen[i] & VCPU_KINDS) != VCPU_KINDS || fpu == xs)
			return fail(err, errlen, "state: vcpu%u incomplete", i);
	}
	s->ndevs = ndev;
	return 0;
}
