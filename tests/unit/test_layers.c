/* test_layers.c: image layers (host/image/tar.c, layer.c) made by an
 * independent tar writer (mk_layers.py: Python's tarfile, pax, GNU and
 * ustar formats, gzip and plain) applied in order into an EROFS image,
 * read back by fsck.erofs and the kernel; then the hostile layers, each
 * refused with an error that says what is wrong.
 * usage: test_layers [MK_LAYERS.PY] (default: the build's MK_LAYERS)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../../host/image/image.h"
#include "imgcheck.h"

static char tmp[] = "/tmp/test_layers.XXXXXX";

/* Apply the named layers in order to a new image at IMG. 0 or -errno;
 * err holds the first failure. */
static int build(const char *img, const char *const *layers, uint64_t max,
		 char *err, size_t errlen)
{
	int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct erofs_w *w = erofs_open(fd, err, errlen);
	uint64_t total = 0;
	int e = 0;

	for (unsigned i = 0; layers[i] && !e; i++) {
		char p[600];
		snprintf(p, sizeof(p), "%s/%s", tmp, layers[i]);
		int lfd = open(p, O_RDONLY);
		erofs_layer(w, i);
		e = lfd < 0 ? -errno : layer_apply(w, lfd, &total, max, err, errlen);
		if (lfd >= 0)
			close(lfd);
	}
	if (e)
		erofs_abort(w);
	else
		e = erofs_finish(w, NULL, err, errlen);
	close(fd);
	return e;
}

static const char deep[] = "deep/component-00/component-01/component-02/"
	"component-03/component-04/component-05/component-06/component-07/"
	"component-08/component-09/component-10/component-11/file.txt";

static void verify(const char *dir, int kernel)
{
	char b[80000], gnu[200];
	struct stat st, st2;

	CHECK(slurp(dir, "etc/passwd", b, sizeof(b)) && !strcmp(b, "root:x:0:0\n"),
	      "%s passwd", dir);
	CHECK(st_of(dir, "etc/passwd", &st) == 0 && st.st_mtime == 1700000000,
	      "%s pax mtime %lld", dir, (long long)st.st_mtime);
	CHECK(slurp(dir, "bin/tool", b, sizeof(b)) && strlen(b) == 70000 && b[69999] == 'T',
	      "%s tool", dir);
	CHECK(slurp(dir, "bin/tool-link", b, sizeof(b)) && strlen(b) == 70000,
	      "%s hard link", dir);
	CHECK(slurp(dir, deep, b, sizeof(b)) && !strcmp(b, "deep\n"), "%s pax long path", dir);
	snprintf(gnu, sizeof(gnu), "gnu/%0150d", 0);
	memset(gnu + 4, 'g', 150);
	CHECK(slurp(dir, gnu, b, sizeof(b)) && !strcmp(b, "gnu long name"), "%s GNU long name", dir);
	CHECK(slurp(dir, "replaced", b, sizeof(b)) && !strcmp(b, "two"), "%s replaced", dir);
	CHECK(slurp(dir, "opq/new", b, sizeof(b)) && !strcmp(b, "new"), "%s opq/new", dir);
	CHECK(st_of(dir, "opq/old", &st) < 0, "%s opaque directory kept a lower entry", dir);
	CHECK(st_of(dir, "gone", &st) < 0, "%s whiteout", dir);
	CHECK(st_of(dir, ".wh.gone", &st) < 0 && st_of(dir, "opq/.wh..wh..opq", &st) < 0,
	      "%s a whiteout entry is in the image", dir);
	ssize_t n = readlink((snprintf(b, sizeof(b), "%s/bin/sh", dir), b), b + 4096, 64);
	CHECK(n == 7 && !memcmp(b + 4096, "busybox", 7), "%s symlink", dir);
	if (geteuid() == 0) {
		CHECK(st_of(dir, "bin/tool", &st) == 0 && st.st_uid == 3000000 &&
		      st.st_gid == 3000001, "%s pax uid %u gid %u", dir, st.st_uid, st.st_gid);
		CHECK(st_of(dir, "dev/null", &st) == 0 && S_ISCHR(st.st_mode) &&
		      st.st_rdev == makedev(1, 3), "%s dev/null", dir);
	}
	if (kernel) {
		CHECK(st_of(dir, "bin/tool", &st) == 0 && (st.st_mode & 07777) == 04755,
		      "set-uid bit: %o", st.st_mode);
		CHECK(st_of(dir, "bin/tool-link", &st2) == 0 && st.st_ino == st2.st_ino &&
		      st.st_nlink == 2, "hard link inode");
	}
}

/* LAYER alone must fail with errno E and a message containing WANT. */
static void refused(const char *layer, uint64_t max, int e, const char *want)
{
	char img[600], err[512] = "";
	const char *layers[] = { layer, NULL };

	snprintf(img, sizeof(img), "%s/refused.img", tmp);
	int r = build(img, layers, max, err, sizeof(err));
	CHECK(r == -e && strstr(err, want), "%s: %d (want %d) '%s' (want '%s')",
	      layer, r, -e, err, want);
	printf("refused %-18s %s\n", layer, err);
}

int main(int argc, char **argv)
{
	char cmd[4096], img[600], out[600], mnt[600], err[512] = "";

#ifndef MK_LAYERS
#define MK_LAYERS "tests/unit/mk_layers.py"
#endif
	const char *gen = argc > 1 ? argv[1] : MK_LAYERS;
	if (argc > 2 || !mkdtemp(tmp)) {
		fprintf(stderr, "usage: test_layers [MK_LAYERS.PY]\n");
		return 2;
	}
	snprintf(cmd, sizeof(cmd), "python3 %s %s", gen, tmp);
	if (system(cmd) != 0) {
		fprintf(stderr, "FAIL: %s\n", cmd);
		return 1;
	}
	snprintf(img, sizeof(img), "%s/img", tmp);
	snprintf(out, sizeof(out), "%s/out", tmp);
	snprintf(mnt, sizeof(mnt), "%s/mnt", tmp);
	const char *good[] = { "l0.tar.gz", "l1.tar", NULL };
	int r = build(img, good, 1ull << 30, err, sizeof(err));
	CHECK(r == 0, "two layers: %d %s", r, err);
	if (r == 0)
		read_back(img, out, mnt, verify);
	/* The same second layer zstd-compressed: the same tree. */
	const char *zgood[] = { "l0.tar.gz", "l1.tar.zst", NULL };
	snprintf(img, sizeof(img), "%s/zimg", tmp);
	snprintf(out, sizeof(out), "%s/zout", tmp);
	snprintf(mnt, sizeof(mnt), "%s/zmnt", tmp);
	r = build(img, zgood, 1ull << 30, err, sizeof(err));
	CHECK(r == 0, "a zstd layer: %d %s", r, err);
	if (r == 0)
		read_back(img, out, mnt, verify);
	const char *frames[] = { "frames.tar.zst", NULL };
	snprintf(img, sizeof(img), "%s/fimg", tmp);
	r = build(img, frames, 1ull << 30, err, sizeof(err));
	CHECK(r == 0, "two zstd frames in a row are one layer: %d %s", r, err);
	refused("bad-checksum.tar", 1ull << 30, EINVAL, "entry 1: bad header checksum");
	refused("truncated.tar", 1ull << 30, EIO, "entry 1: a: entry data ends 812 bytes early");
	refused("truncated.tar.gz", 1ull << 30, EIO, "gzip stream is truncated");
	refused("corrupt.tar.gz", 1ull << 30, EINVAL, "gzip stream is corrupt");
	refused("traversal.tar", 1ull << 30, EINVAL, "'..'");
	refused("bomb.tar.gz", 8 << 20, EFBIG, "passes 8 MiB uncompressed");
	refused("zstd.tar.zst", 1ull << 30, EINVAL, "zstd stream is");
	refused("truncated.tar.zst", 1ull << 30, EIO, "zstd stream is truncated");
	refused("bomb.tar.zst", 8 << 20, EFBIG, "passes 8 MiB uncompressed");
	refused("longname.tar", 1ull << 30, ENAMETOOLONG, "long name");
	refused("bad-pax.tar", 1ull << 30, EINVAL, "pax record");
	return test_finish(tmp);
}
