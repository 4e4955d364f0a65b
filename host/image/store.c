/* store.c: the content-addressed image store under the user's data
 * directory (volume.c's, + "/images"):
 *
 *   blobs/sha256/HEX    every blob (layer, config, manifest), verified
 *                       against its digest before it gets its name
 *   refs/HEX            image names: HEX = sha256 of the name; the file
 *                       holds "NAME\nMANIFEST-DIGEST\n"
 *   roots/HEX.erofs     an image's root filesystem, by manifest digest
 *   tmp/                blobs and roots being written (same filesystem,
 *                       so publishing is one rename)
 *
 * A blob arriving (pull, import) is streamed to tmp/ while hashed, and
 * renamed into blobs/ only when its digest is the one asked for (or, with
 * none asked, named by what it is). Two writers of the same blob both
 * finish; the second rename replaces identical bytes. Reading trusts the
 * names: the store is the user's own directory, written only by us.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearssl_hash.h>

#include "image.h"

static void hexof(const uint8_t *d, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * n] = '\0';
}

int store_open(struct img_store *s, const char *root, char *err, size_t errlen)
{
	static const char *const dirs[] = { "blobs", "blobs/sha256", "refs", "roots", "tmp" };
	char p[4096];

	s->fd = -1;
	snprintf(p, sizeof(p), "%s", root);
	for (char *c = p + 1; *c; c++)	/* mkdir -p, 0700: the user's own */
		if (*c == '/') {
			*c = '\0';
			mkdir(p, 0700);
			*c = '/';
		}
	mkdir(p, 0700);
	if ((s->fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return image_err(err, errlen, errno, "image store %s: %s", root, strerror(errno));
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdirat(s->fd, dirs[i], 0700) < 0 && errno != EEXIST) {
			int e = errno;
			close(s->fd);
			s->fd = -1;
			return image_err(err, errlen, e, "image store %s/%s: %s", root, dirs[i],
				    strerror(e));
		}
	return 0;
}

void store_close(struct img_store *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static void blob_path(const char *digest, char out[96])
{
	snprintf(out, 96, "blobs/sha256/%s", digest + 7);
}

int store_blob(struct img_store *s, const char *digest)
{
	char p[96];

	if (!oci_digest_ok(digest))
		return -EINVAL;
	blob_path(digest, p);
	int fd = openat(s->fd, p, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

ssize_t img_mem_read(void *ctx, void *buf, size_t n)
{
	struct img_mem *m = ctx;

	if (n > m->left)
		n = m->left;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

ssize_t img_fd_read(void *ctx, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(*(int *)ctx, buf, n);
		if (r >= 0 || errno != EINTR)
			return r < 0 ? -errno : r;
	}
}

int store_put(struct img_store *s, erofs_read_fn rd, void *ctx, uint64_t max,
	      const char *expect, char digest[72], uint64_t *size, char *err,
	      size_t errlen)
{
	char tmp[64], p[96];
	static __thread uint8_t buf[64 * 1024];
	br_sha256_context h;
	uint8_t d[br_sha256_SIZE];
	uint64_t n = 0;
	int e = 0;

	if (expect && !oci_digest_ok(expect))
		return image_err(err, errlen, EINVAL, "%.80s: not a sha256 digest", expect);
	int fd = -1;
	static unsigned seq;
	/* mkostemp wants a path, not a dirfd: unique by pid and sequence
	 * (O_EXCL settles the rest, e.g. a dead writer's leftover). */
	for (unsigned tries = 0; fd < 0 && tries < 100; tries++) {
		snprintf(tmp, sizeof(tmp), "tmp/blob.%ld.%u", (long)getpid(),
			 __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
		fd = openat(s->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return image_err(err, errlen, errno, "image store: %s", strerror(errno));
	}
	if (fd < 0)
		return image_err(err, errlen, EEXIST, "image store: no temporary name");
	br_sha256_init(&h);
	for (;;) {
		ssize_t r = rd(ctx, buf, sizeof(buf));
		if (r < 0) {
			e = image_err(err, errlen, (int)-r, "reading the blob: %s", strerror((int)-r));
			break;
		}
		if (r == 0)
			break;
		if ((n += (uint64_t)r) > max) {
			e = image_err(err, errlen, EFBIG, "the blob passes %llu bytes",
				 (unsigned long long)max);
			break;
		}
		br_sha256_update(&h, buf, (size_t)r);
		for (ssize_t off = 0; off < r && !e;) {
			ssize_t w = write(fd, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				e = image_err(err, errlen, w < 0 ? errno : EIO, "image store: %s",
					 strerror(w < 0 ? errno : EIO));
			else
				off += w;
		}
		if (e)
			break;
	}
	if (!e && fsync(fd) < 0)
		e = image_err(err, errlen, errno, "image store: fsync: %s", strerror(errno));
	close(fd);
	if (!e) {
		br_sha256_out(&h, d);
		memcpy(digest, "sha256:", 7);
		hexof(d, sizeof(d), digest + 7);
		if (expect && strcmp(expect, digest))
			e = image_err(err, errlen, EBADMSG, "digest mismatch: wanted %s, got %s",
				 expect, digest);
	}
	if (!e) {
		blob_path(digest, p);
		if (renameat(s->fd, tmp, s->fd, p) < 0)
			e = image_err(err, errlen, errno, "image store: %s", strerror(errno));
	}
	if (e)
		unlinkat(s->fd, tmp, 0);
	else if (size)
		*size = n;
	return e;
}

int store_read(struct img_store *s, const char *digest, char **out, size_t *len,
	       size_t max, char *err, size_t errlen)
{
	int fd = store_blob(s, digest);
	struct stat st;

	*out = NULL;
	if (fd < 0)
		return image_err(err, errlen, -fd, "blob %.80s: %s", digest,
			    fd == -ENOENT ? "not in the image store" : strerror(-fd));
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return image_err(err, errlen, EFBIG, "blob %s: more than %zu bytes", digest, max);
	}
	char *b = malloc((size_t)st.st_size + 1);
	ssize_t r = b ? pread(fd, b, (size_t)st.st_size, 0) : -1;
	close(fd);
	if (r != st.st_size) {
		free(b);
		return image_err(err, errlen, EIO, "blob %s: short read", digest);
	}
	b[r] = '\0';
	*out = b;
	*len = (size_t)r;
	return 0;
}

static void ref_path(const char *name, char out[96])
{
	uint8_t d[br_sha256_SIZE];
	br_sha256_context h;
	char hex[65];

	br_sha256_init(&h);
	br_sha256_update(&h, name, strlen(name));
	br_sha256_out(&h, d);
	hexof(d, sizeof(d), hex);
	snprintf(out, 96, "refs/%s", hex);
}

int store_ref_set(struct img_store *s, const char *name, const char *digest,
		  char *err, size_t errlen)
{
	char p[96], tmp[96], body[600];

	if (!name[0] || strlen(name) > 255 || strchr(name, '\n') || !oci_digest_ok(digest))
		return image_err(err, errlen, EINVAL, "image name '%.80s': empty, too long or "
			    "with a newline", name);
	ref_path(name, p);
	snprintf(tmp, sizeof(tmp), "tmp/ref.%ld", (long)getpid());
	int n = snprintf(body, sizeof(body), "%s\n%s\n", name, digest);
	int fd = openat(s->fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, body, (size_t)n) != n || fsync(fd) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return image_err(err, errlen, e, "image store: %s", strerror(e));
	}
	close(fd);
	if (renameat(s->fd, tmp, s->fd, p) < 0)
		return image_err(err, errlen, errno, "image store: %s", strerror(errno));
	return 0;
}

int store_ref_get(struct img_store *s, const char *name, char digest[72])
{
	char p[96], body[600];
	ref_path(name, p);
	int fd = openat(s->fd, p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, body, sizeof(body) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	body[n] = '\0';
	char *nl = strchr(body, '\n');
	if (!nl || strncmp(body, name, (size_t)(nl - body)) || nl - body != (long)strlen(name))
		return -ENOENT;	/* a hash collision would be news */
	char *d = nl + 1, *end = strchr(d, '\n');
	if (end)
		*end = '\0';
	if (!oci_digest_ok(d))
		return -EIO;
	memcpy(digest, d, 72);
	return 0;
}

/* ---- listing and garbage collection ------------------------------------ */

/* A directory of the store, opened for reading (NULL with errno set). */
static DIR *store_dir(struct img_store *s, const char *dir)
{
	int dfd = openat(s->fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);

	if (!d && dfd >= 0) {
		int e = errno;
		close(dfd);
		errno = e;
	}
	return d;
}

int store_refs(struct img_store *s, store_ref_fn fn, void *ctx)
{
	DIR *d = store_dir(s, "refs");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	int dfd = dirfd(d);
	while ((e = readdir(d))) {
		char body[600], *nl;
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t r = fd < 0 ? -1 : read(fd, body, sizeof(body) - 1);
		if (fd >= 0)
			close(fd);
		if (r <= 0)
			continue;
		body[r] = '\0';
		if (!(nl = strchr(body, '\n')))
			continue;
		*nl = '\0';
		char *dg = nl + 1, *end = strchr(dg, '\n');
		if (end)
			*end = '\0';
		if (!oci_digest_ok(dg))
			continue;
		fn(ctx, body, dg);
		n++;
	}
	closedir(d);
	return n;
}

int store_ref_rm(struct img_store *s, const char *name)
{
	char p[96], d[72];

	if (store_ref_get(s, name, d) < 0)
		return -ENOENT;
	ref_path(name, p);
	return unlinkat(s->fd, p, 0) < 0 ? -errno : 0;
}

/* Mark: every blob a named image reaches (manifest, config, layers). */
struct keep {
	char (*d)[72];
	unsigned n, cap;
	bool oom;		/* a digest could not be kept: sweep nothing */
	struct img_store *s;
};

static void keep_add(struct keep *k, const char *digest)
{
	if (k->n == k->cap) {
		unsigned cap = k->cap ? k->cap * 2 : 64;
		char (*nd)[72] = realloc(k->d, cap * sizeof(*nd));
		if (!nd) {
			k->oom = true;
			return;
		}
		k->d = nd;
		k->cap = cap;
	}
	memcpy(k->d[k->n++], digest, 72);
}

static void keep_image(void *ctx, const char *name, const char *manifest)
{
	struct keep *k = ctx;
	struct oci_image img;
	char *doc, err[256];
	size_t len;

	(void)name;
	keep_add(k, manifest);
	if (store_read(k->s, manifest, &doc, &len, OCI_MAX_JSON, err, sizeof(err)))
		return;
	if (!oci_manifest(doc, len, &img, err, sizeof(err))) {
		keep_add(k, img.config.digest);
		for (unsigned i = 0; i < img.nlayers; i++)
			keep_add(k, img.layers[i].digest);
	}
	free(doc);
}

static bool kept(const struct keep *k, const char *hex)
{
	for (unsigned i = 0; i < k->n; i++)
		if (!strcmp(k->d[i] + 7, hex))
			return true;
	return false;
}

/* Sweep dir (blobs/sha256 or roots) of what no image keeps; suffix is
 * the file names' after the hex (".erofs" for roots). Bytes freed. */
static uint64_t sweep(struct img_store *s, const char *dir, const char *suffix,
		      const struct keep *k)
{
	DIR *d = store_dir(s, dir);
	struct dirent *e;
	uint64_t freed = 0;

	if (!d)
		return 0;
	int dfd = dirfd(d);
	while ((e = readdir(d))) {
		char hex[65];
		struct stat st;
		size_t l = strlen(e->d_name), sl = strlen(suffix);
		if (l != 64 + sl || strcmp(e->d_name + 64, suffix))
			continue;
		memcpy(hex, e->d_name, 64);
		hex[64] = '\0';
		if (kept(k, hex) || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (unlinkat(dfd, e->d_name, 0) == 0)
			freed += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return freed;
}

int store_gc(struct img_store *s, uint64_t *freed)
{
	struct keep k = { .s = s };
	int r = store_refs(s, keep_image, &k);

	*freed = 0;
	if (r < 0) {
		free(k.d);
		return r;
	}
	/* Out of memory while marking: sweeping could drop what is used. */
	if (k.oom) {
		free(k.d);
		return -ENOMEM;
	}
	*freed += sweep(s, "blobs/sha256", "", &k);
	*freed += sweep(s, "roots", ".erofs", &k);
	free(k.d);
	return 0;
}

uint64_t store_usage(struct img_store *s)
{
	static const char *const dirs[] = { "blobs/sha256", "roots" };
	uint64_t total = 0;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = store_dir(s, dirs[i]);
		struct dirent *e;
		if (!d)
			continue;
		int dfd = dirfd(d);
		while ((e = readdir(d))) {
			struct stat st;
			if (e->d_name[0] != '.' &&
			    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				total += (uint64_t)st.st_blocks * 512;
		}
		closedir(d);
	}
	return total;
}
