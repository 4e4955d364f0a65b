/* test_erofs.c: the EROFS writer (host/image/erofs.c) against two
 * independent readers: erofs-utils' fsck.erofs (checks every inode and
 * extracts the tree) and, when we are root and have loop devices, the
 * kernel's own erofs driver. Two layers are applied: replacements,
 * whiteouts, an opaque directory, a directory's metadata update; plus
 * devices, a FIFO, set-id bits, 32-bit owners, a hard link, a directory
 * of 3,000 entries (many blocks), and the refusals.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../../host/image/image.h"
#include "imgcheck.h"

struct src { const char *p; size_t left; int short_by; };

static ssize_t rd(void *ctx, void *buf, size_t n)
{
	struct src *s = ctx;
	if (s->left <= (size_t)s->short_by)
		return 0;
	if (n > s->left)
		n = s->left;
	memcpy(buf, s->p, n);
	s->p += n;
	s->left -= n;
	return (ssize_t)n;
}

static int add_file(struct erofs_w *w, const char *path, mode_t mode,
		    uint32_t uid, const char *data, size_t len)
{
	struct erofs_meta m = { .mode = S_IFREG | mode, .uid = uid, .gid = uid,
				.mtime = 1700000000, .mtime_ns = 500 };
	struct src s = { data, len, 0 };
	return erofs_add(w, path, &m, len, rd, &s, NULL);
}

static int add_node(struct erofs_w *w, const char *path, mode_t mode,
		    unsigned maj, unsigned min, const char *link)
{
	struct erofs_meta m = { .mode = mode, .rdev_major = maj, .rdev_minor = min };
	return erofs_add(w, path, &m, 0, NULL, NULL, link);
}

static char big[10000];

static void build(const char *img)
{
	char err[256];
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct erofs_w *w = erofs_open(fd, err, sizeof(err));

	CHECK(w, "open: %s", err);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i * 7 % 26);
	/* layer 0 */
	erofs_layer(w, 0);
	CHECK(add_node(w, "etc", S_IFDIR | 0755, 0, 0, NULL) == 0, "etc");
	CHECK(add_file(w, "./etc/passwd", 0644, 0, "root:x:0:0\n", 11) == 0, "passwd");
	CHECK(add_file(w, "/bin/tool", 04755, 0, big, sizeof(big)) == 0, "tool");
	CHECK(add_file(w, "empty", 0600, 70000, "", 0) == 0, "empty");
	CHECK(add_node(w, "bin/sh", S_IFLNK | 0777, 0, 0, "busybox") == 0, "symlink");
	CHECK(add_node(w, "dev/null", S_IFCHR | 0666, 1, 3, NULL) == 0, "chr");
	CHECK(add_node(w, "dev/sda", S_IFBLK | 0660, 8, 300, NULL) == 0, "blk");
	CHECK(add_node(w, "run/fifo", S_IFIFO | 0644, 0, 0, NULL) == 0, "fifo");
	CHECK(erofs_link(w, "bin/tool2", "bin/tool") == 0, "link: %s", erofs_error(w));
	for (int i = 0; i < 3000; i++) {
		char p[64];
		snprintf(p, sizeof(p), "many/f%04d-with-a-longer-name", i);
		CHECK(add_file(w, p, 0644, 0, "x", 1) == 0, "many %d", i);
	}
	CHECK(add_file(w, "opq/old", 0644, 0, "old", 3) == 0, "opq/old");
	CHECK(add_file(w, "gone/x", 0644, 0, "x", 1) == 0, "gone/x");
	CHECK(add_file(w, "replaced", 0644, 0, "one", 3) == 0, "replaced");
	CHECK(add_file(w, "dir-to-file/x", 0644, 0, "x", 1) == 0, "dir-to-file");
	/* layer 1 */
	erofs_layer(w, 1);
	CHECK(add_file(w, "opq/new", 0644, 0, "new", 3) == 0, "opq/new");
	CHECK(erofs_opaque(w, "opq") == 0, "opaque");
	CHECK(erofs_remove(w, "gone") == 0, "remove");
	CHECK(erofs_remove(w, "never/was/here") == 0, "remove missing");
	CHECK(add_file(w, "replaced", 0644, 0, "two", 3) == 0, "replace");
	CHECK(add_file(w, "dir-to-file", 0640, 0, "file", 4) == 0, "dir replaced by file");
	CHECK(add_node(w, "etc", S_IFDIR | 0700, 0, 0, NULL) == 0, "etc meta");
	/* refusals */
	CHECK(add_file(w, "a/../../x", 0644, 0, "x", 1) == -EINVAL, "..");
	CHECK(add_file(w, "etc/passwd/x", 0644, 0, "x", 1) == -ENOTDIR, "under a file");
	CHECK(add_node(w, "badlink", S_IFLNK | 0777, 0, 0, "") == -EINVAL, "empty link");
	CHECK(erofs_link(w, "dirlink", "etc") == -EPERM, "dir hard link");
	CHECK(erofs_link(w, "nolink", "no/such") == -ENOENT, "link to nothing");
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = '\0';
	CHECK(add_file(w, longname, 0644, 0, "x", 1) == -ENAMETOOLONG, "long name");
	struct erofs_meta m = { .mode = S_IFREG | 0644 };
	struct src s = { "abc", 3, 1 };
	CHECK(erofs_add(w, "short", &m, 5, rd, &s, NULL) == -EIO, "short data: %s",
	      erofs_error(w));
	CHECK(strstr(erofs_error(w), "early") != NULL, "short data message: %s",
	      erofs_error(w));
	uint64_t blocks = 0;
	CHECK(erofs_finish(w, &blocks, err, sizeof(err)) == 0, "finish: %s", err);
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == blocks * EROFS_BLKSZ,
	      "size %lld, %llu blocks", (long long)st.st_size, (unsigned long long)blocks);
	close(fd);
}

/* The tree as any reader must show it; owners only when root extracted. */
static void verify(const char *dir, int kernel)
{
	char b[16384];
	struct stat st, st2;
	int owners = geteuid() == 0;

	CHECK(slurp(dir, "etc/passwd", b, sizeof(b)) && !strcmp(b, "root:x:0:0\n"),
	      "%s passwd '%s'", dir, b);
	CHECK(slurp(dir, "bin/tool", b, sizeof(b)) && !memcmp(b, big, sizeof(big)),
	      "%s tool content", dir);
	CHECK(slurp(dir, "bin/tool2", b, sizeof(b)) && !memcmp(b, big, sizeof(big)),
	      "%s hard link content", dir);
	/* fsck.erofs drops set-id bits when it extracts; the kernel keeps them. */
	CHECK(st_of(dir, "bin/tool", &st) == 0 &&
	      (st.st_mode & (kernel ? 07777 : 0777)) == (kernel ? 04755u : 0755u) &&
	      st.st_size == sizeof(big), "%s tool mode %o", dir, st.st_mode);
	CHECK(st.st_mtime == 1700000000, "%s mtime %lld", dir, (long long)st.st_mtime);
	char lp[512], lt[64];
	snprintf(lp, sizeof(lp), "%s/bin/sh", dir);
	ssize_t n = readlink(lp, lt, sizeof(lt));
	CHECK(n == 7 && !memcmp(lt, "busybox", 7), "%s symlink", dir);
	CHECK(slurp(dir, "replaced", b, sizeof(b)) && !strcmp(b, "two"), "%s replaced '%s'", dir, b);
	CHECK(slurp(dir, "opq/new", b, sizeof(b)) && !strcmp(b, "new"), "%s opq/new", dir);
	CHECK(st_of(dir, "opq/old", &st) < 0, "%s opq/old survived the opaque marker", dir);
	CHECK(st_of(dir, "gone", &st) < 0, "%s whiteout", dir);
	CHECK(st_of(dir, "a", &st) < 0, "%s a refused path left a directory", dir);
	CHECK(slurp(dir, "dir-to-file", b, sizeof(b)) && !strcmp(b, "file"), "%s dir-to-file", dir);
	CHECK(st_of(dir, "etc", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	      "%s etc mode %o", dir, st.st_mode);
	CHECK(count(dir, "many") == 3000, "%s many: %u entries", dir, count(dir, "many"));
	CHECK(slurp(dir, "many/f2999-with-a-longer-name", b, sizeof(b)) && !strcmp(b, "x"),
	      "%s many/f2999", dir);
	CHECK(st_of(dir, "run/fifo", &st) == 0 && S_ISFIFO(st.st_mode), "%s fifo", dir);
	if (owners) {
		CHECK(st_of(dir, "empty", &st) == 0 && st.st_uid == 70000 && st.st_gid == 70000 &&
		      st.st_size == 0 && (st.st_mode & 0777) == 0600, "%s empty uid %u", dir, st.st_uid);
		CHECK(st_of(dir, "dev/null", &st) == 0 && S_ISCHR(st.st_mode) &&
		      major(st.st_rdev) == 1 && minor(st.st_rdev) == 3, "%s dev/null", dir);
		CHECK(st_of(dir, "dev/sda", &st) == 0 && S_ISBLK(st.st_mode) &&
		      major(st.st_rdev) == 8 && minor(st.st_rdev) == 300, "%s dev/sda %u:%u", dir,
		      major(st.st_rdev), minor(st.st_rdev));
	}
	if (kernel) {
		CHECK(st_of(dir, "bin/tool", &st) == 0 && st_of(dir, "bin/tool2", &st2) == 0 &&
		      st.st_ino == st2.st_ino && st.st_nlink == 2, "hard link: ino %lu/%lu nlink %lu",
		      (unsigned long)st.st_ino, (unsigned long)st2.st_ino, (unsigned long)st.st_nlink);
		CHECK(st_of(dir, "many", &st) == 0 && st.st_nlink == 2, "many nlink %lu",
		      (unsigned long)st.st_nlink);
		/* etc bin dev run many opq: "gone" went, dir-to-file is a file. */
		CHECK(st_of(dir, ".", &st) == 0 && st.st_nlink == 2 + 6, "root nlink %lu",
		      (unsigned long)st.st_nlink);
	}
}

int main(void)
{
	char tmp[] = "/tmp/test_erofs.XXXXXX", img[600], out[600], mnt[600], cmd[2048];

	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(img, sizeof(img), "%s/img", tmp);
	snprintf(out, sizeof(out), "%s/out", tmp);
	snprintf(mnt, sizeof(mnt), "%s/mnt", tmp);
	build(img);
	/* Reproducible: the same entries give the same bytes. */
	char img2[700];
	snprintf(img2, sizeof(img2), "%s/img2", tmp);
	build(img2);
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", img, img2);
	CHECK(system(cmd) == 0, "two builds differ");
	read_back(img, out, mnt, verify);
	return test_finish(tmp);
}
