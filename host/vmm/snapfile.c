/* snapfile.c: the snapshot file format (layout in vmcfg.h) — header,
 * state records and the checks that make a damaged or foreign file a
 * clear error instead of a guest that crashes later.
 *
 * The state records are snaprec.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "vmm.h"
#include "../util/util.h"

#ifndef VB_VERSION
#define VB_VERSION "unknown"
#endif

/* The identity of this build's snapshots: its version, its embedded
 * images' manifest and the layout of what it writes. */
static void build_id(uint8_t out[32])
{
	const struct embed_blob *v = embed_get(EMBED_VERSIONS);
	char layout[160];
	int n = snprintf(layout, sizeof(layout), "%s|%u|%zu|%zu|%zu|%zu",
			 VB_VERSION, SNAP_VERSION, sizeof(struct snap_vcpu),
			 sizeof(struct snap_chips), sizeof(struct virtio_state),
			 sizeof(struct snap_header));
	size_t len = (size_t)n + v->size;
	uint8_t *buf = malloc(len);

	memset(out, 0, 32);
	if (!buf)
		return;
	memcpy(buf, layout, (size_t)n);
	memcpy(buf + n, v->data, v->size);
	sha256_raw(buf, len, out);
	free(buf);
}

void snap_header_init(struct snap_header *h, const char vendor[16],
		      uint32_t sig, const uint8_t cpu_hash[32])
{
	struct timespec ts;

	memset(h, 0, sizeof(*h));
	memcpy(h->magic, SNAP_MAGIC, 8);
	h->version = SNAP_VERSION;
	h->header_size = sizeof(*h);
	snprintf(h->build, sizeof(h->build), "%s", VB_VERSION);
	build_id(h->build_id);
	memcpy(h->cpu_vendor, vendor, sizeof(h->cpu_vendor));
	h->cpu_sig = sig;
	memcpy(h->cpu_hash, cpu_hash, 32);
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull +
			(uint64_t)ts.tv_nsec;
}

#define fail snap_fail

static int pread_all(int fd, void *p, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)p + got, len - got,
				  (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

int snap_header_read(int fd, struct snap_header *h, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return fail(err, errlen, "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < SNAP_HDR_SIZE)
		return fail(err, errlen, "not a snapshot (too short)");
	if (pread_all(fd, h, sizeof(*h), 0) < 0)
		return fail(err, errlen, "cannot read the header: %s",
			    strerror(errno));
	if (memcmp(h->magic, SNAP_MAGIC, 8))
		return fail(err, errlen, "not a voidbox snapshot (bad magic)");
	if (h->version != SNAP_VERSION || h->header_size != sizeof(*h))
		return fail(err, errlen, "snapshot format %u, this build reads "
			    "%u", h->version, SNAP_VERSION);
	uint32_t crc = h->header_crc;
	h->header_crc = 0;
	uint32_t want = (uint32_t)crc32(0, (const Bytef *)h, sizeof(*h));
	h->header_crc = crc;
	if (crc != want)
		return fail(err, errlen, "damaged header (checksum %08x, "
			    "expected %08x)", want, crc);
	h->build[sizeof(h->build) - 1] = '\0';
	uint8_t id[32];
	build_id(id);
	if (memcmp(id, h->build_id, 32))
		return fail(err, errlen, "made by another voidbox build (%s); "
			    "this is %s: snapshots are only restored by the "
			    "build that made them", h->build, VB_VERSION);
	uint64_t end;
	if (h->nr_vcpus < 1 || h->nr_vcpus > VM_MAX_VCPUS ||
	    h->ndevs > VM_MAX_VDEVS ||
	    h->mem_bytes < ((uint64_t)VM_MIN_MEM_MB << 20) ||
	    h->mem_bytes > ((uint64_t)VM_MAX_MEM_MB << 20) ||
	    (h->mem_bytes & 4095) || h->state_off != SNAP_HDR_SIZE ||
	    h->state_len > SNAP_STATE_MAX || h->mem_chunk < 4096 ||
	    (h->mem_chunk & 4095) ||
	    h->nchunks != (h->mem_bytes + h->mem_chunk - 1) / h->mem_chunk ||
	    h->crc_off != h->state_off + h->state_len ||
	    h->mem_off % SNAP_MEM_ALIGN ||
	    h->mem_off < h->crc_off + 4ull * h->nchunks ||
	    __builtin_add_overflow(h->mem_off, h->mem_bytes, &end) ||
	    h->file_size != end)
		return fail(err, errlen, "damaged header (inconsistent sizes)");
	if ((uint64_t)st.st_size != h->file_size)
		return fail(err, errlen, "truncated or extended: %llu bytes, "
			    "the header says %llu",
			    (unsigned long long)st.st_size,
			    (unsigned long long)h->file_size);
	return 0;
}

int snap_verify(int fd, const struct snap_header *h,
		void (*progress)(uint64_t done, uint64_t total), char *err,
		size_t errlen)
{
	size_t tab_len = 4ull * h->nchunks;
	uint8_t *buf = malloc(h->state_len > h->mem_chunk ? h->state_len
							  : h->mem_chunk);
	uint32_t *tab = malloc(tab_len ? tab_len : 1);
	int rc = -1;

	if (!buf || !tab) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (pread_all(fd, buf, h->state_len, h->state_off) < 0 ||
	    (uint32_t)crc32(0, buf, (uInt)h->state_len) != h->state_crc) {
		fail(err, errlen, "damaged state (checksum mismatch)");
		goto out;
	}
	if (pread_all(fd, tab, tab_len, h->crc_off) < 0 ||
	    (uint32_t)crc32(0, (const Bytef *)tab, (uInt)tab_len) !=
		    h->crc_crc) {
		fail(err, errlen, "damaged memory checksum table");
		goto out;
	}
	for (uint32_t i = 0; i < h->nchunks; i++) {
		uint64_t off = (uint64_t)i * h->mem_chunk;
		size_t n = h->mem_bytes - off < h->mem_chunk
				   ? (size_t)(h->mem_bytes - off) : h->mem_chunk;
		if (pread_all(fd, buf, n, h->mem_off + off) < 0) {
			fail(err, errlen, "cannot read memory at %#llx",
			     (unsigned long long)off);
			goto out;
		}
		if ((uint32_t)crc32(0, buf, (uInt)n) != tab[i]) {
			fail(err, errlen, "damaged memory: chunk %u (guest "
			     "address %#llx) fails its checksum", i,
			     (unsigned long long)off);
			goto out;
		}
		if (progress && (i % 64 == 63 || i + 1 == h->nchunks))
			progress(off + n, h->mem_bytes);
	}
	rc = 0;
out:
	free(buf);
	free(tab);
	return rc;
}

