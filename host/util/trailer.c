/* trailer.c: the claude-code tools image appended to the executable.
 *
 * The full release is `voidbox` + padding + a read-only EROFS image (its
 * files lz4hc-compressed inside) + a 64-byte trailer (release/
 * append-tools.py). There is nothing to expand: the VMM serves the image
 * to the guest as a virtio-blk window straight out of the executable's
 * own file, so a run needs no cache directory, no writable HOME and no
 * first-run copy, and every VM on the host shares the same page cache.
 *
 * The trailer is untrusted input like any file: its window must lie
 * inside the file, 4 KiB-aligned, after the ELF image. The image hash is
 * checked in full once per executable (size, mtime, inode) and the
 * verdict remembered under $XDG_CACHE_HOME/voidbox (or ~/.cache/voidbox);
 * when that is not writable it is simply checked again next time.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearssl_hash.h>

#include "util.h"

#define TRAILER_LEN 64

static int stamp_path(const struct stat *st, const uint8_t *sha, char *out,
		      size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char dir[3072];

	if (xdg && *xdg == '/')
		snprintf(dir, sizeof(dir), "%s/voidbox", xdg);
	else if (home && *home == '/')
		snprintf(dir, sizeof(dir), "%s/.cache/voidbox", home);
	else
		return -1;
	char hex[17];
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	snprintf(out, len, "%s/tools-%s-%llx-%llx-%llx.ok", dir, hex,
		 (unsigned long long)st->st_ino,
		 (unsigned long long)st->st_size,
		 (unsigned long long)st->st_mtime);
	return 0;
}

static int verify(int fd, uint64_t off, uint64_t len, const uint8_t *want)
{
	br_sha256_context h;
	uint8_t buf[1 << 16], got[32];
	uint64_t done = 0;

	br_sha256_init(&h);
	while (done < len) {
		size_t n = len - done < sizeof(buf) ? (size_t)(len - done)
						    : sizeof(buf);
		ssize_t r = pread(fd, buf, n, (off_t)(off + done));
		if (r <= 0)
			return -1;
		br_sha256_update(&h, buf, (size_t)r);
		done += (uint64_t)r;
	}
	br_sha256_out(&h, got);
	return memcmp(got, want, 32) ? -1 : 0;
}

int trailer_tools(struct tools_image *t, char *err, size_t errlen)
{
	uint8_t tr[TRAILER_LEN];
	struct stat st;
	char stamp[4096];

	*t = (struct tools_image){ .fd = -1 };
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot open /proc/self/exe: %s",
			 strerror(errno));
		goto none;
	}
	if (st.st_size < 4096 + TRAILER_LEN ||
	    pread(fd, tr, sizeof(tr), st.st_size - TRAILER_LEN) !=
		    (ssize_t)sizeof(tr) ||
	    memcmp(tr, "VBTOOLS1", 8) || memcmp(tr + 56, "VBTOOLZ1", 8)) {
		snprintf(err, errlen, "this voidbox carries no claude-code "
			 "tools image (a slim build)");
		goto none;
	}
	uint64_t off, len;
	memcpy(&off, tr + 8, 8);
	memcpy(&len, tr + 16, 8);
	memcpy(t->sha256, tr + 24, 32);
	uint64_t end = (uint64_t)st.st_size - TRAILER_LEN;
	if (off % 4096 || off < 4096 || off > end || len > end - off ||
	    len < 4096) {
		snprintf(err, errlen, "the tools trailer is corrupt (window "
			 "%llu+%llu in %llu bytes)", (unsigned long long)off,
			 (unsigned long long)len, (unsigned long long)end);
		goto none;
	}
	bool have_stamp = stamp_path(&st, t->sha256, stamp,
				     sizeof(stamp)) == 0;
	if (!have_stamp || access(stamp, F_OK) != 0) {
		if (verify(fd, off, len, t->sha256) < 0) {
			snprintf(err, errlen, "the embedded tools image fails "
				 "its sha256 check: this voidbox file is "
				 "damaged");
			goto none;
		}
		if (have_stamp) {
			/* Best effort: a read-only cache just means we
			 * hash again next time. */
			char dir[4096];
			snprintf(dir, sizeof(dir), "%s", stamp);
			*strrchr(dir, '/') = '\0';
			char *p = strrchr(dir, '/');
			if (p) {
				*p = '\0';
				mkdir(dir, 0700);
				*p = '/';
			}
			mkdir(dir, 0700);
			int sfd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC,
				       0600);
			if (sfd >= 0)
				close(sfd);
		}
	}
	t->fd = fd;
	t->off = off;
	t->len = len;
	return 0;
none:
	if (fd >= 0)
		close(fd);
	return -1;
}
