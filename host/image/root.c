/* root.c: an imported or pulled image's root filesystem, built once.
 *
 * roots/HEX.erofs in the store (HEX: the manifest digest's) is the image's
 * layers applied in order by the EROFS writer; it is written under tmp/
 * and renamed into place complete, so a crash or a second builder leaves
 * nothing half-made. The uncompressed bytes of all layers are bounded
 * (max): a layer bomb fails the build with an error saying so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "../util/util.h"

int image_root(struct img_store *s, const char *manifest, uint64_t max,
	       struct oci_image *img, char path[128], char *err, size_t errlen)
{
	char *doc = NULL, tmp[96];
	size_t len;
	int e, fd = -1;

	memset(img, 0, sizeof(*img));
	if ((e = store_read(s, manifest, &doc, &len, OCI_MAX_JSON, err, errlen)) ||
	    (e = oci_manifest(doc, len, img, err, errlen)))
		goto out;
	free(doc);
	doc = NULL;
	if ((e = store_read(s, img->config.digest, &doc, &len, OCI_MAX_JSON, err, errlen)) ||
	    (e = oci_config(doc, len, "linux", "amd64", img, err, errlen)))
		goto out;
	snprintf(path, 128, "roots/%s.erofs", manifest + 7);
	struct stat st;
	if (fstatat(s->fd, path, &st, 0) == 0 && S_ISREG(st.st_mode))
		goto out;	/* built before */
	/* Unique per build: stages of one run may build the same image at
	 * once (fan_out); the first rename wins, the rest are the same. */
	static unsigned seq;
	snprintf(tmp, sizeof(tmp), "tmp/root.%ld.%u", (long)getpid(),
		 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
	unlinkat(s->fd, tmp, 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((fd = openat(s->fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		e = -errno;
		snprintf(err, errlen, "image store: %s", strerror(errno));
		goto out;
	}
	struct erofs_w *w = erofs_open(fd, err, errlen);
	uint64_t total = 0;
	if (!w) {
		e = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < img->nlayers && !e; i++) {
		int lfd = store_blob(s, img->layers[i].digest);
		char lerr[400];
		erofs_layer(w, i);
		e = lfd < 0 ? lfd : layer_apply(w, lfd, &total, max, lerr, sizeof(lerr));
		if (lfd >= 0)
			close(lfd);
		if (e)
			snprintf(err, errlen, "layer %u (%.19s): %s", i + 1,
				 img->layers[i].digest, lfd < 0 ? "not in the image store" : lerr);
	}
	if (e)
		erofs_abort(w);
	else if (!(e = erofs_finish(w, NULL, err, errlen)) && fsync(fd) < 0)
		e = -errno;
	if (!e && renameat(s->fd, tmp, s->fd, path) < 0) {
		e = -errno;
		snprintf(err, errlen, "image store: %s", strerror(errno));
	}
	if (!e) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_say("image", "root filesystem of %.19s: %u layers, %llu MiB "
			"uncompressed, built in %.1f s", manifest, img->nlayers,
			(unsigned long long)(total >> 20),
			(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
out:
	if (fd >= 0) {
		close(fd);
		if (e)
			unlinkat(s->fd, tmp, 0);
	}
	free(doc);
	if (e)
		oci_image_free(img);
	return e;
}
