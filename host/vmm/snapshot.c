/* snapshot.c: take a snapshot of a running VM, and build a VM from one.
 *
 * Taking one (the I/O thread, on the orchestrator's IPC_SNAPSHOT): park
 * every vCPU outside KVM_RUN (vcpu_pause_all: a KVM_RUN that returns
 * EINTR has completed its last I/O, so registers are whole), hold every
 * device's lock (the net thread then cannot touch a ring or RAM), read
 * the chips, vCPUs, devices and serial port, and write the file: state
 * records, RAM (zero pages left as holes, a crc32 per chunk), and the
 * header last — a file cut short by a crash has no valid header. The
 * orchestrator made the file in a private temporary name and renames it
 * into place only after we report success and it has synced it.
 *
 * Restoring (vm_create with cfg->vc->snapshot_fd): the header and state
 * are checked (snapfile.c), RAM is the file mapped MAP_PRIVATE — pages
 * load on first touch, clones share the page cache and each writes its
 * own copies — and after the devices exist their transport state is
 * poured back in. Device work in flight at the snapshot (a queue kicked
 * through an ioeventfd the I/O thread had not read yet) is redone by
 * snap_resume_devices re-kicking every queue; vsock connections, whose
 * host ends died with the old process, are dropped by the guest on the
 * transport reset event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "vmm.h"
#include "../devices/vsock.h"
#include "../util/util.h"

#define PAUSE_TIMEOUT_MS 5000
#define MEM_CHUNK (2u << 20)
#define PAGE 4096u

static int pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const uint8_t *)p + done, len - done,
				   (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static bool page_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;
	for (unsigned i = 0; i < PAGE / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] |
		       w[i + 5] | w[i + 6] | w[i + 7];
	return acc == 0;
}

/* Which pages of [p, p + npages pages) may hold data: present or
 * swapped in /proc/self/pagemap (bits 63, 62). Only anonymous RAM's
 * absent pages are known zeros: a restored VM's RAM is the file, whose
 * pages are absent here until touched yet hold the snapshot's bytes, so
 * there (and without a pagemap) every page is read. */
static void pages_present(struct vm *vm, const uint8_t *p, unsigned npages,
			  uint64_t *ent)
{
	uint64_t first = (uintptr_t)p / PAGE;
	ssize_t want = (ssize_t)(npages * sizeof(*ent));

	if (vm->pagemap_fd < 0 || vm->restored ||
	    pread(vm->pagemap_fd, ent, (size_t)want,
		  (off_t)(first * sizeof(*ent))) != want) {
		for (unsigned i = 0; i < npages; i++)
			ent[i] = 3ull << 62;
	}
}

/* RAM into the file at h->mem_off: nonzero pages only, in runs; the crc
 * of each chunk as the guest has it (holes read as zeros). */
static int write_memory(struct vm *vm, int fd, const struct snap_header *h,
			uint32_t *crcs)
{
	static uint64_t ent[MEM_CHUNK / PAGE];
	static const uint8_t zpage[PAGE];
	uLong zero_crc = crc32(0, zpage, PAGE);	/* a hole's, combined in */
	for (uint32_t c = 0; c < h->nchunks; c++) {
		uint64_t off = (uint64_t)c * MEM_CHUNK;
		unsigned npages = (unsigned)((h->mem_bytes - off < MEM_CHUNK
					      ? h->mem_bytes - off : MEM_CHUNK)
					     / PAGE);
		const uint8_t *base = vm->ram + off;
		uLong crc = crc32(0, NULL, 0);
		unsigned run = 0, run_start = 0;

		pages_present(vm, base, npages, ent);
		for (unsigned i = 0; i <= npages; i++) {
			bool data = false;
			if (i < npages) {
				bool maybe = ent[i] >> 62;	/* present|swap */
				data = maybe && !page_zero(base + i * PAGE);
				crc = data ? crc32(crc, base + i * PAGE, PAGE)
					   : crc32_combine(crc, zero_crc, PAGE);
			}
			if (data) {
				if (!run)
					run_start = i;
				run++;
				continue;
			}
			if (run) {
				int r = pwrite_all(fd, base + run_start * PAGE,
						   (size_t)run * PAGE,
						   h->mem_off + off +
						   run_start * PAGE);
				if (r < 0)
					return r;
				run = 0;
			}
		}
		crcs[c] = (uint32_t)crc;
	}
	/* The file's full length, holes to the end: its last byte again. */
	return pwrite_all(fd, vm->ram + h->mem_bytes - 1, 1, h->file_size - 1);
}

static void lock_devices(struct vm *vm, bool lock)
{
	for (unsigned i = 0; i < vm->nslots; i++) {
		if (lock)
			pthread_mutex_lock(&vm->slots[i].dev->lock);
		else
			pthread_mutex_unlock(&vm->slots[i].dev->lock);
	}
	if (lock)
		pthread_mutex_lock(&vm->serial.lock);
	else
		pthread_mutex_unlock(&vm->serial.lock);
}

static int gather(struct vm *vm, struct snap_state *st, char *err,
		  size_t errlen)
{
	const char *what = "";
	int r = vm_chips_save(vm, &st->chips, &what);

	for (unsigned i = 0; r == 0 && i < vm->nr_vcpus; i++)
		if ((r = cpu_state_save(&vm->vcpus[i], &st->vcpu[i],
					&what)) < 0)
			what = what ? what : "vcpu";
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", what, strerror(-r));
		return -1;
	}
	st->nr_vcpus = vm->nr_vcpus;
	st->ndevs = vm->nslots;
	for (unsigned i = 0; i < vm->nslots; i++) {
		virtio_dev_save(vm->slots[i].dev, &st->dev[i]);
		if (vm->slots[i].dev == vsock_virtio(vm->vsock))
			st->dev[i].extra = vsock_save_extra(vm->vsock);
	}
	struct serial *s = &vm->serial;
	st->serial = (struct snap_serial){
		.ier = s->ier, .lcr = s->lcr, .mcr = s->mcr, .scr = s->scr,
		.dll = s->dll, .dlm = s->dlm, .fcr = s->fcr,
		.thri_pending = s->thri_pending };
	return 0;
}

int vm_snapshot(struct vm *vm, int fd, uint64_t *bytes, char *err,
		size_t errlen)
{
	const struct vm_cfg *c = vm->cfg->vc;
	struct snap_state *st = NULL;
	uint8_t *rec = NULL;
	uint32_t *crcs = NULL;
	size_t rec_len = 0;
	int rc = -1, r;

	if (c->nmounts) {
		snprintf(err, errlen, "a VM with shared directories (mounts) "
			 "cannot be snapshotted: the guest's open files live "
			 "in this process's file server");
		return -1;
	}
	for (unsigned i = 0; i < c->ndisks; i++) {
		if (!c->disk[i].ro) {
			snprintf(err, errlen, "disk %u is writable: a snapshot "
				 "would share it with every clone", i);
			return -1;
		}
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uint64_t t0 = vm_now_ns();
	if ((r = vcpu_pause_all(vm, PAUSE_TIMEOUT_MS)) < 0) {
		snprintf(err, errlen, "the vCPUs did not pause");
		free(st);
		return -1;
	}
	lock_devices(vm, true);
	if (gather(vm, st, err, errlen) < 0)
		goto out;
	if ((r = snap_state_encode(st, &rec, &rec_len)) < 0) {
		snprintf(err, errlen, "encoding the state: %s", strerror(-r));
		goto out;
	}
	struct snap_header h;
	snap_header_init(&h, vm->cpu_vendor, vm->cpu_sig, vm->cpu_hash);
	h.nr_vcpus = vm->nr_vcpus;
	h.ndevs = vm->nslots;
	h.mem_bytes = vm->ram_size;
	h.mem_chunk = MEM_CHUNK;
	h.nchunks = (uint32_t)((vm->ram_size + MEM_CHUNK - 1) / MEM_CHUNK);
	h.state_off = SNAP_HDR_SIZE;
	h.state_len = rec_len;
	h.crc_off = h.state_off + rec_len;
	h.mem_off = (h.crc_off + 4ull * h.nchunks + SNAP_MEM_ALIGN - 1) &
		    ~(SNAP_MEM_ALIGN - 1);
	h.file_size = h.mem_off + h.mem_bytes;
	h.state_crc = (uint32_t)crc32(0, rec, (uInt)rec_len);
	crcs = calloc(h.nchunks, sizeof(*crcs));
	if (!crcs) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((r = pwrite_all(fd, rec, rec_len, h.state_off)) < 0 ||
	    (r = write_memory(vm, fd, &h, crcs)) < 0 ||
	    (r = pwrite_all(fd, crcs, 4ull * h.nchunks, h.crc_off)) < 0) {
		snprintf(err, errlen, "writing the snapshot: %s", strerror(-r));
		goto out;
	}
	h.crc_crc = (uint32_t)crc32(0, (const Bytef *)crcs,
				    (uInt)(4ull * h.nchunks));
	h.header_crc = (uint32_t)crc32(0, (const Bytef *)&h, sizeof(h));
	if ((r = pwrite_all(fd, &h, sizeof(h), 0)) < 0) {
		snprintf(err, errlen, "writing the header: %s", strerror(-r));
		goto out;
	}
	*bytes = h.file_size;
	log_info("snapshot: %u vCPUs, %llu MiB in %.1f ms", vm->nr_vcpus,
		 (unsigned long long)(vm->ram_size >> 20),
		 (double)(vm_now_ns() - t0) / 1e6);
	rc = 0;
out:
	lock_devices(vm, false);
	vcpu_resume_all(vm);
	free(rec);
	free(crcs);
	free(st);
	return rc;
}

/* ---- restore ---------------------------------------------------------- */

int snap_open(struct vm *vm, int fd, struct snap_header *h,
	      struct snap_state **out, char *err, size_t errlen)
{
	const struct vm_cfg *c = vm->cfg->vc;
	char why[200];

	*out = NULL;
	if (snap_header_read(fd, h, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "snapshot: %s", why);
		return -1;
	}
	if (memcmp(h->cpu_vendor, vm->cpu_vendor, 16) ||
	    h->cpu_sig != vm->cpu_sig) {
		snprintf(err, errlen, "snapshot: made on a %.12s CPU "
			 "(signature %#x), this host is %.12s (%#x)",
			 h->cpu_vendor, h->cpu_sig, vm->cpu_vendor,
			 vm->cpu_sig);
		return -1;
	}
	if (memcmp(h->cpu_hash, vm->cpu_hash, 32)) {
		snprintf(err, errlen, "snapshot: made on a CPU with other "
			 "features (same %.12s model %#x, different CPUID: "
			 "another host or KVM version)", h->cpu_vendor,
			 h->cpu_sig);
		return -1;
	}
	if (h->nr_vcpus != c->vcpus || h->mem_bytes != (c->mem_mb << 20)) {
		snprintf(err, errlen, "snapshot: has %u vCPUs and %llu MiB, "
			 "the configuration %u and %llu MiB", h->nr_vcpus,
			 (unsigned long long)(h->mem_bytes >> 20), c->vcpus,
			 (unsigned long long)c->mem_mb);
		return -1;
	}
	uint8_t *buf = malloc(h->state_len ? h->state_len : 1);
	struct snap_state *st = calloc(1, sizeof(*st));
	if (!buf || !st) {
		free(buf);
		free(st);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ssize_t n = pread(fd, buf, h->state_len, (off_t)h->state_off);
	if (n != (ssize_t)h->state_len ||
	    (uint32_t)crc32(0, buf, (uInt)h->state_len) != h->state_crc) {
		snprintf(err, errlen, "snapshot: damaged state (checksum)");
		goto bad;
	}
	if (snap_state_decode(buf, h->state_len, h->nr_vcpus, st, why,
			      sizeof(why)) < 0) {
		snprintf(err, errlen, "snapshot: %s", why);
		goto bad;
	}
	if (st->ndevs != h->ndevs) {
		snprintf(err, errlen, "snapshot: %u device records, the header "
			 "says %u", st->ndevs, h->ndevs);
		goto bad;
	}
	free(buf);
	*out = st;
	return 0;
bad:
	free(buf);
	free(st);
	return -1;
}

int snap_map_memory(struct vm *vm, int fd, const struct snap_header *h)
{
	void *p = mmap(NULL, h->mem_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_NORESERVE, fd, (off_t)h->mem_off);
	if (p == MAP_FAILED)
		return -errno;
	vm->ram = p;
	vm->ram_size = h->mem_bytes;
	vm->low_size = h->mem_bytes < GPA_MMIO_GAP ? h->mem_bytes
						   : GPA_MMIO_GAP;
	return 0;
}

/* selftest (vm_cfg.snap_check): everything restored reads back the same. */
static int check_applied(struct vm *vm, const struct snap_state *st,
			 char *err, size_t errlen)
{
	struct snap_vcpu *v = malloc(sizeof(*v));
	const char *what = "";
	int rc = 0;

	if (!v)
		return -1;
	for (unsigned i = 0; rc == 0 && i < vm->nr_vcpus; i++) {
		const char *d = NULL;
		char dbuf[96];
		if (cpu_state_save(&vm->vcpus[i], v, &what) < 0 ||
		    (d = cpu_state_diff(&st->vcpu[i], v, dbuf,
					sizeof(dbuf)))) {
			snprintf(err, errlen, "snapshot check: vcpu%u %s did "
				 "not survive the restore", i, d ? d : what);
			rc = -1;
		}
	}
	free(v);
	struct snap_chips c;
	if (rc == 0 && vm_chips_save(vm, &c, &what) == 0) {
		for (unsigned i = 0; i < 3 && rc == 0; i++)
			if (memcmp(&c.chip[i], &st->chips.chip[i],
				   sizeof(c.chip[i]))) {
				snprintf(err, errlen, "snapshot check: irqchip "
					 "%u did not survive the restore", i);
				rc = -1;
			}
	}
	for (unsigned i = 0; rc == 0 && i < vm->nslots; i++) {
		struct virtio_state now;
		virtio_dev_save(vm->slots[i].dev, &now);
		now.extra = st->dev[i].extra;
		if (memcmp(&now, &st->dev[i], sizeof(now))) {
			snprintf(err, errlen, "snapshot check: device %s did "
				 "not survive the restore",
				 vm->slots[i].dev->name);
			rc = -1;
		}
	}
	return rc;
}

int snap_apply(struct vm *vm, const struct snap_state *st, char *err,
	       size_t errlen)
{
	const char *what = "";
	int r;

	if (st->ndevs != vm->nslots) {
		snprintf(err, errlen, "snapshot: %u devices, this "
			 "configuration makes %u (disks, network or mounts "
			 "differ)", st->ndevs, vm->nslots);
		return -1;
	}
	for (unsigned i = 0; i < vm->nslots; i++) {
		struct virtio_dev *d = vm->slots[i].dev;
		char why[200];
		pthread_mutex_lock(&d->lock);
		r = virtio_dev_load(d, &st->dev[i], why, sizeof(why));
		pthread_mutex_unlock(&d->lock);
		if (r < 0) {
			snprintf(err, errlen, "snapshot: %s", why);
			return -1;
		}
		if (d == vsock_virtio(vm->vsock)) {
			uint32_t cid = (uint32_t)st->dev[i].extra;
			if (cid < 3 || cid == ~0u) {
				snprintf(err, errlen, "snapshot: bad vsock CID "
					 "%u", cid);
				return -1;
			}
			vm->restored_vsock = st->dev[i].extra;
		}
	}
	if ((r = vm_chips_load(vm, &st->chips, &what)) < 0) {
		snprintf(err, errlen, "snapshot: %s: %s", what, strerror(-r));
		return -1;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if ((r = cpu_state_load(&vm->vcpus[i], &st->vcpu[i],
					&what)) < 0) {
			snprintf(err, errlen, "snapshot: vcpu%u: %s: %s", i,
				 what, strerror(-r));
			return -1;
		}
	}
	if (vm->cfg->vc->snap_check && check_applied(vm, st, err, errlen) < 0)
		return -1;
	struct serial *s = &vm->serial;
	s->ier = st->serial.ier & 0x0f;
	s->lcr = st->serial.lcr;
	s->mcr = st->serial.mcr & 0x1f;
	s->scr = st->serial.scr;
	s->dll = st->serial.dll;
	s->dlm = st->serial.dlm;
	s->fcr = st->serial.fcr;
	s->thri_pending = st->serial.thri_pending & 1;
	vm->restored = true;
	return 0;
}

void snap_resume_devices(struct vm *vm)
{
	if (!vm->restored)
		return;
	if (vm->vsock)
		vsock_restored(vm->vsock, vm->restored_vsock);
	for (unsigned i = 0; i < vm->nslots; i++)
		for (unsigned q = 0; q < vm->slots[i].dev->nqueues; q++)
			vbus_rekick(vm, vm->slots[i].dev, q);
}
