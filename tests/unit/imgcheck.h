/* imgcheck.h: reading back an image the tests built (test_erofs,
 * test_layers): the CHECK counter, file contents and metadata under a
 * directory (fsck.erofs's extraction or a kernel mount), and the mount. */
#ifndef VOIDBOX_TEST_IMGCHECK_H
#define VOIDBOX_TEST_IMGCHECK_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int checks, fails;
#define CHECK(c, ...) do { checks++; if (!(c)) { fails++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* DIR/REL's first len-1 bytes, NUL-ended in buf; NULL when unreadable. */
static inline char *slurp(const char *dir, const char *rel, char *buf, size_t len)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
	if (fd >= 0)
		close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return n < 0 ? NULL : buf;
}

static inline int st_of(const char *dir, const char *rel, struct stat *st)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, st);
}

/* Entries of DIR/REL other than dot files. */
static inline unsigned count(const char *dir, const char *rel)
{
	char p[8192];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	DIR *d = opendir(p);
	unsigned n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* fsck.erofs checks IMG and extracts it to OUT: 0 when it is happy. */
static inline int fsck_extract(const char *img, const char *out)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "fsck.erofs --extract=%s %s >%s.log 2>&1", out, img, out);
	return system(cmd);
}

/* The kernel's reading of IMG at MNT (root with loop devices), or 0 with
 * a note when this host cannot. */
static inline int kernel_mount(const char *img, const char *mnt)
{
	char cmd[4096];
	mkdir(mnt, 0755);
	snprintf(cmd, sizeof(cmd), "mount -t erofs -o loop,ro %s %s 2>/dev/null", img, mnt);
	if (geteuid() == 0 && system(cmd) == 0)
		return 1;
	printf("note: no kernel mount (not root, or no loop device): fsck.erofs only\n");
	return 0;
}

/* IMG read back both ways: fsck.erofs's extraction to OUT, then the
 * kernel's mount at MNT when this host can; verify(dir, kernel) each. */
static inline void read_back(const char *img, const char *out, const char *mnt,
			     void (*verify)(const char *dir, int kernel))
{
	int r = fsck_extract(img, out);

	CHECK(r == 0, "fsck.erofs: exit %d (%s.log)", r, out);
	if (r == 0)
		verify(out, 0);
	if (kernel_mount(img, mnt)) {
		verify(mnt, 1);
		umount(mnt);
	}
}

/* The test's end: its temporary tree goes when all passed (kept for a
 * look otherwise), one summary line, the exit status. */
static inline int test_finish(const char *tmp)
{
	char cmd[4200];

	if (!fails) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmp);
	}
	printf("%s: %d checks, %d failed\n", fails ? "FAIL" : "PASS", checks, fails);
	return fails != 0;
}

#endif
