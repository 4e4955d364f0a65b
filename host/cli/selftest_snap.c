/* selftest_snap.c: `voidbox selftest`'s snapshot checks — a running tiny
 * guest (vsock_echo) is snapshotted mid-conversation, goes on, and two
 * clones of it are restored through the real VMM path (sandboxed child,
 * its IPC, the file), each with its own vsock CID:
 *
 *   snapshot         the file is written while the guest runs, and the
 *                    source VM carries on and finishes cleanly
 *   snapshot-state   every vCPU register, special register, XSAVE, XCR,
 *                    debug register, LAPIC, event, MP state and MSR, the
 *                    irqchips and each virtio device's transport read back
 *                    from KVM exactly as saved (vm_cfg.snap_check)
 *   snapshot-clones  two clones each take a new connection and finish
 *                    the guest's run: RAM, timers and the vsock device
 *                    came back working, the old CID still accepted
 *   snapshot-damage  a flipped byte in the header, the state or RAM, a
 *                    truncated file: each refused, naming what is wrong
 *
 * Runs on any /dev/kvm, nested PVM included (no Linux needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "../box/box.h"
#include "../util/util.h"
#include "../vmm/vmcfg.h"

#define T_MS 60000
#define ECHO_CMD "console=ttyS0 vbtest.entry=64 vbtest.vsock_conns=1 " \
		 "vbtest.vsock_idle_ms=20000"

/* The files are memfds: a container exposing /dev/kvm may have no
 * writable directory at all (tests/kvm's conditions). */
static int mkfile(const char *name)
{
	return memfd_create(name, MFD_CLOEXEC);
}

static void guest_cfg(struct vm_cfg *c, const char *name, int snap)
{
	*c = (struct vm_cfg){ .mem_mb = 64, .vcpus = 1,
			      .kernel_blob = EMBED_TG_VSOCK_ECHO,
			      .no_initrd = true, .cmdline = (char *)ECHO_CMD,
			      .timeout_ms = T_MS, .snapshot_fd = snap,
			      .vsock_cid = snap > 0 ? 7 : 0,
			      .snap_check = snap > 0,
			      .console = getenv("VBDBG") != NULL };
	snprintf(c->name, sizeof(c->name), "%s", name);
}

/* Write msg on fd and read the same bytes back (the guest echoes). */
static bool echo(int fd, const char *msg)
{
	size_t n = strlen(msg), got = 0;
	char buf[256];

	if (write(fd, msg, n) != (ssize_t)n)
		return false;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10000) != 1)
			return false;
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return !memcmp(buf, msg, n);
}

/* Connect, echo a line, QUIT, and wait for a clean DONE. */
static bool finish(struct box *b, int fd, const char *line, char *why,
		   size_t len)
{
	char err[300];
	bool own = fd < 0;

	if (own && (fd = box_connect(b, 1024, 10000, err, sizeof(err))) < 0) {
		snprintf(why, len, "connect: %s", err);
		return false;
	}
	bool ok = echo(fd, line);
	if (!ok)
		snprintf(why, len, "no echo of '%.20s'", line);
	if (ok && write(fd, "QUIT\n", 5) != 5)
		ok = false;
	if (box_wait_exit(b, T_MS) < 0)
		box_stop(b, 1000);
	if (own)
		close(fd);
	const char *done = strstr(b->console, "VBTEST DONE vsock_echo pass=");
	if (ok && (!done || !strstr(done, " fail=0") || !b->exit_reported ||
		   b->vm_exit != VM_EXIT_POWEROFF)) {
		char r[300];
		snprintf(why, len, "%s; console: %.200s",
			 box_end_reason(b, r, sizeof(r)), done ? done
			 : b->console);
		ok = false;
	}
	return ok;
}

/* Pages of a snapshot's RAM that hold anything but zeros; -1 if
 * unreadable. */
static long nonzero_pages(int fd)
{
	struct snap_header h;
	char why[200];
	static uint8_t buf[1 << 20];
	long n = 0;

	if (snap_header_read(fd, &h, why, sizeof(why)) < 0)
		return -1;
	for (uint64_t off = 0; off < h.mem_bytes; off += sizeof(buf)) {
		if (pread(fd, buf, sizeof(buf), (off_t)(h.mem_off + off)) !=
		    (ssize_t)sizeof(buf))
			return -1;
		for (size_t p = 0; p < sizeof(buf); p += 4096) {
			size_t i = 0;
			while (i < 4096 && !buf[p + i])
				i++;
			n += i < 4096;
		}
	}
	return n;
}

enum patch { P_NONE, P_BUILD, P_CPU };

/* A damaged (flip a byte at `at`, cut 4 KiB) or foreign (a header field
 * changed and its checksum made right again) copy of src must be refused
 * with `want` in the reason. */
static bool refused(int in, off_t at, bool cut, enum patch patch,
		    const char *want, char *why, size_t len)
{
	int out = mkfile("snap-bad");
	char buf[1 << 16], err[300];
	ssize_t n;
	off_t pos = 0;
	bool ok = out >= 0;

	while (ok && (n = pread(in, buf, sizeof(buf), pos)) > 0) {
		if (at >= pos && at < pos + n)
			buf[at - pos] ^= 0x5a;
		ok = write(out, buf, (size_t)n) == n;
		pos += n;
	}
	if (ok && cut)
		ok = ftruncate(out, pos - 4096) == 0;
	if (ok && patch) {
		struct snap_header h;
		ok = pread(out, &h, sizeof(h), 0) == sizeof(h);
		if (patch == P_BUILD)
			h.build_id[0] ^= 1;
		else
			h.cpu_sig ^= 0x10;	/* another model */
		h.header_crc = 0;
		h.header_crc = (uint32_t)crc32(0, (const Bytef *)&h, sizeof(h));
		ok = ok && pwrite(out, &h, sizeof(h), 0) == sizeof(h);
	}
	if (!ok) {
		if (out >= 0)
			close(out);
		snprintf(why, len, "cannot make the damaged copy");
		return false;
	}
	struct vm_cfg c;
	struct box b;
	guest_cfg(&c, "snap-damaged", out);
	c.snap_check = false;
	int r = box_spawn(&b, &c, err, sizeof(err));
	close(out);
	if (r < 0) {
		snprintf(why, len, "spawn: %s", err);
		return false;
	}
	if (box_wait_exit(&b, T_MS) < 0)
		box_stop(&b, 1000);
	ok = b.exit_reported && b.vm_exit == VM_EXIT_SETUP_ERROR &&
	     strstr(b.detail, want);
	snprintf(why, len, "%s", b.detail);
	box_close(&b);
	return ok;
}

void selftest_snapshot(void (*report)(void *ctx, bool ok, const char *name,
				      const char *msg), void *ctx)
{
	int f2 = -1;
	char why[512], err[300], msg[600];
	struct vm_cfg c;
	struct box src, clone;
	int fd = mkfile("snap"), conn = -1;
	uint64_t took = 0, bytes = 0;

	if (fd < 0) {
		report(ctx, false, "snapshot", "cannot make a temporary file");
		return;
	}
	guest_cfg(&c, "snap-src", -1);
	bool ok = box_spawn(&src, &c, err, sizeof(err)) == 0 &&
		  box_wait_ready(&src, T_MS, err, sizeof(err)) == 0 &&
		  (conn = box_connect(&src, 1024, 10000, err,
				      sizeof(err))) >= 0;
	if (ok && !echo(conn, "before the snapshot\n"))
		ok = !snprintf(err, sizeof(err), "no echo before");
	if (ok)
		ok = box_snapshot(&src, fd, false, T_MS, &took, &bytes, err,
				  sizeof(err)) == 0;
	/* The source goes on: same connection, then its end. */
	if (ok)
		ok = finish(&src, conn, "after the snapshot\n", err,
			    sizeof(err));
	if (ok)
		snprintf(msg, sizeof(msg), "64 MiB guest paused %.1f ms, file "
			 "%llu MiB (sparse), the source finished",
			 (double)took / 1e6, (unsigned long long)(bytes >> 20));
	else
		snprintf(msg, sizeof(msg), "%s", err);
	report(ctx, ok, "snapshot", msg);
	if (conn >= 0)
		close(conn);
	box_close(&src);
	if (!ok)
		goto out;

	bool state_ok = true, clones_ok = true;
	for (int i = 0; i < 3 && clones_ok; i++) {
		/* 1 and 2 from the snapshot; 3 from a snapshot of clone 1
		 * (whose RAM is the first file, mostly untouched). */
		guest_cfg(&c, i == 0 ? "snap-clone1" : i == 1 ? "snap-clone2"
			  : "snap-clone-of-clone", i == 2 ? f2 : fd);
		if (box_spawn(&clone, &c, err, sizeof(err)) < 0 ||
		    box_wait_ready(&clone, T_MS, err, sizeof(err)) < 0) {
			bool check = strstr(err, "snapshot check") ||
				     strstr(clone.detail, "snapshot check");
			snprintf(why, sizeof(why), "%s %s", err, clone.detail);
			state_ok &= !check;
			clones_ok = false;
			box_close(&clone);
			break;
		}
		if (i == 0) {
			if ((f2 = mkfile("snap-2")) < 0 ||
			    box_snapshot(&clone, f2, false, T_MS, NULL, NULL,
					 why, sizeof(why)) < 0) {
				clones_ok = false;
				box_close(&clone);
				break;
			}
			/* RAM the clone never touched is still the first
			 * file's bytes: the second must hold them too. */
			long n1 = nonzero_pages(fd), n2 = nonzero_pages(f2);
			if (n1 <= 0 || n2 < n1 * 9 / 10) {
				snprintf(why, sizeof(why), "a clone's snapshot "
					 "has %ld pages of RAM with data, its "
					 "source %ld: pages lost", n2, n1);
				clones_ok = false;
			}
		}
		if (!finish(&clone, -1, "in a clone\n", why, sizeof(why)))
			clones_ok = false;
		else if (!strstr(clone.console, "guest_cid now 7")) {
			snprintf(why, sizeof(why), "the clone never saw its "
				 "new CID (transport reset)");
			clones_ok = false;
		}
		box_close(&clone);
		if (!clones_ok)
			break;
	}
	report(ctx, state_ok, "snapshot-state", state_ok
	       ? "vCPUs, chips and devices read back as saved" : why);
	report(ctx, clones_ok, "snapshot-clones", clones_ok
	       ? "2 clones and a clone of a clone restored, each took its "
		 "new CID (transport reset), served a new connection and "
		 "finished" : why);

	struct snap_header h;
	ok = snap_header_read(fd, &h, why, sizeof(why)) == 0;
	char w2[512] = "", w3[512] = "";
	ok = ok && refused(fd, 100, false, P_NONE, "damaged header", why,
			   sizeof(why)) &&
	     refused(fd, (off_t)h.state_off + 64, false, P_NONE,
		     "damaged state", why, sizeof(why)) &&
	     refused(fd, -1, true, P_NONE, "truncated", why, sizeof(why));
	bool foreign = ok && refused(fd, -1, false, P_BUILD,
				     "another voidbox build", w3,
				     sizeof(w3)) &&
		       refused(fd, -1, false, P_CPU, "made on a", w3,
			       sizeof(w3));
	w2[0] = '\0';
	/* RAM is checked where a snapshot is verified (voidbox snapshot),
	 * not on every restore: read it the way snap_load does. */
	if (ok) {
		int in = fd;
		uint8_t byte;
		off_t at = (off_t)h.mem_off + (1 << 20) + 12345;
		ok = in >= 0 && pread(in, &byte, 1, at) == 1;
		byte ^= 0x5a;
		ok = ok && pwrite(in, &byte, 1, at) == 1 &&
		     snap_verify(in, &h, NULL, w2, sizeof(w2)) < 0 &&
		     strstr(w2, "damaged memory");
	}
	report(ctx, ok, "snapshot-damage", ok ? "header, state, truncation "
	       "refused at restore; RAM by its checksums" : why[0] ? why : w2);
	report(ctx, foreign, "snapshot-foreign", foreign ? "another build's "
	       "and another CPU model's snapshot refused" : w3);
out:
	close(fd);
	if (f2 >= 0)
		close(f2);
}
