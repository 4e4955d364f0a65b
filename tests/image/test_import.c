/* test_import.c: images from files into the store and out as root
 * filesystems (host/image/archive.c, store.c, root.c), on the archives
 * mk_archives.py writes from the specs: Docker's legacy `docker save`
 * (plain and gzipped), an OCI layout directory with a two-platform index,
 * Docker 25's OCI-in-tar with a nested index; each root read back by
 * fsck.erofs and the kernel. Then the refusals: a blob whose bytes are not
 * its digest, a blob name that is a path, a missing layer, an arm64-only
 * image, a tar that is no image, a layer bomb.
 * usage: test_import [MK_ARCHIVES.PY]
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
#include <unistd.h>

#include "../../host/image/image.h"
#include "../unit/imgcheck.h"

#ifndef MK_ARCHIVES
#define MK_ARCHIVES "tests/image/mk_archives.py"
#endif

static char tmp[] = "/tmp/test_import.XXXXXX";
static struct img_store st;

/* Import FILE (under tmp) as NAME (may be empty: the archive's own). */
static int import(const char *file, char *name, size_t nl, char manifest[72],
		  char *err, size_t el)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", tmp, file);
	return image_import(&st, p, name, nl, manifest, err, el);
}

/* The root of a good import, as fsck.erofs and the kernel read it. */
static void check_root(const char *what, const char *manifest)
{
	char path[128], err[512], img[700], out[700], mnt[700], b[256];
	struct oci_image oi;
	int r = image_root(&st, manifest, 1ull << 30, &oi, path, err, sizeof(err));

	CHECK(r == 0, "%s: root: %s", what, err);
	if (r)
		return;
	CHECK(oi.env && !strcmp(oi.env[1], "APP=1") && !strcmp(oi.workdir, "/app") &&
	      !strcmp(oi.user, "1000") && oi.cmd && !strcmp(oi.cmd[1], "main.py"),
	      "%s: config", what);
	oci_image_free(&oi);
	snprintf(img, sizeof(img), "%s/store/%s", tmp, path);
	snprintf(out, sizeof(out), "%s/x-%s", tmp, what);
	snprintf(mnt, sizeof(mnt), "%s/m-%s", tmp, what);
	const char *dirs[2] = { out, mnt };
	int have[2] = { fsck_extract(img, out) == 0, 0 };
	CHECK(have[0], "%s: fsck.erofs (%s.log)", what, out);
	have[1] = kernel_mount(img, mnt);
	for (int i = 0; i < 2; i++) {
		if (!have[i])
			continue;
		CHECK(slurp(dirs[i], "etc/os-release", b, sizeof(b)) && !strcmp(b, "ID=test\n"),
		      "%s: layer 1 file", what);
		CHECK(slurp(dirs[i], "app/main.py", b, sizeof(b)) && !strcmp(b, "print('hi')\n"),
		      "%s: layer 2 file", what);
		struct stat s;
		CHECK(st_of(dirs[i], "app/old.txt", &s) < 0, "%s: whiteout across layers", what);
		CHECK(st_of(dirs[i], "bin/hello", &s) == 0 && (s.st_mode & 0777) == 0755,
		      "%s: mode", what);
	}
	if (have[1])
		umount(mnt);
	/* Built once: a second call finds it. */
	r = image_root(&st, manifest, 1ull << 30, &oi, path, err, sizeof(err));
	CHECK(r == 0, "%s: second root: %s", what, err);
	if (!r)
		oci_image_free(&oi);
}

static void good(const char *file, const char *give, const char *want_name)
{
	char name[256], manifest[72], err[512], again[72];

	snprintf(name, sizeof(name), "%s", give);
	int r = import(file, name, sizeof(name), manifest, err, sizeof(err));
	CHECK(r == 0, "%s: %s", file, err);
	if (r)
		return;
	CHECK(!strcmp(name, want_name), "%s: name '%s' (want '%s')", file, name, want_name);
	CHECK(store_ref_get(&st, want_name, again) == 0 && !strcmp(again, manifest),
	      "%s: ref", file);
	printf("imported %-22s as %s (%.19s...)\n", file, name, manifest);
	check_root(file, manifest);
}

static void refused(const char *file, int e, const char *want)
{
	char name[256] = "", manifest[72], err[512] = "";
	int r = import(file, name, sizeof(name), manifest, err, sizeof(err));

	CHECK(r == -e && strstr(err, want), "%s: %d (want %d) '%s' (want '%s')", file, r,
	      -e, err, want);
	printf("refused  %-22s %s\n", file, err);
}

int main(int argc, char **argv)
{
	char cmd[1200], err[512], sroot[600];

	if (argc > 2 || !mkdtemp(tmp))
		return 2;
	snprintf(cmd, sizeof(cmd), "python3 %s %s", argc > 1 ? argv[1] : MK_ARCHIVES, tmp);
	if (system(cmd) != 0) {
		fprintf(stderr, "FAIL: %s\n", cmd);
		return 1;
	}
	snprintf(sroot, sizeof(sroot), "%s/store", tmp);
	CHECK(store_open(&st, sroot, err, sizeof(err)) == 0, "store: %s", err);

	good("docker-legacy.tar", "", "example/app:1");
	good("docker-legacy.tar.gz", "mine:gz", "mine:gz");
	good("oci-dir", "", "example/app:2");
	good("oci-archive.tar", "", "docker.io/example/app:3");

	refused("bad-blob.tar", EBADMSG, "digest mismatch");
	refused("bad-blob-name.tar", EINVAL, "is not a blob name");
	refused("missing-layer.tar", ENOENT, "Layers[1] is not in the archive");
	refused("arm-only", ENOENT, "no linux/amd64 image in the index (it has: linux/arm64)");
	refused("not-an-image.tar", EINVAL, "not an image archive");

	/* A bomb imports (it is a valid image) and fails when built. */
	char name[256] = "bomb:1", manifest[72], path[128];
	struct oci_image oi;
	int r = import("bomb-dir", name, sizeof(name), manifest, err, sizeof(err));
	CHECK(r == 0, "bomb import: %s", err);
	r = image_root(&st, manifest, 8 << 20, &oi, path, err, sizeof(err));
	CHECK(r == -EFBIG && strstr(err, "layer 1 (sha256:") && strstr(err, "passes 8 MiB"),
	      "bomb root: %d %s", r, err);
	printf("refused  %-22s %s\n", "bomb-dir (root)", err);
	snprintf(cmd, sizeof(cmd), "ls %s/store/tmp | grep -q .", tmp);
	CHECK(system(cmd) != 0, "the store's tmp/ keeps leftovers");

	store_close(&st);
	return test_finish(tmp);
}
