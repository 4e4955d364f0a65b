/* archive.c: images from files, for hosts without a registry:
 *
 *   - `docker save` / `podman save` archives: Docker's legacy layout
 *     (manifest.json naming a config file and layer.tar paths), or, from
 *     Docker 25 on, an OCI layout inside the tar (index.json + blobs/);
 *   - `oci-archive:` tarballs (skopeo, podman, buildah): an OCI layout;
 *   - OCI layout directories (oci-layout, index.json, blobs/sha256/...);
 *   - any of the tarballs gzip-compressed.
 *
 * Every blob lands in the store verified against its digest (blobs/ paths
 * in the archive name their digest; a legacy layer is stored by what it
 * hashes to and must match the config's rootfs.diff_ids, which the config
 * check ties to the manifest's layer count). A legacy archive gets a
 * manifest made here, so afterwards every image is "a manifest digest in
 * the store". The archive's names are only lookup keys: nothing is ever
 * opened by a path taken from it, except blobs/sha256/HEX of a layout
 * directory after HEX is checked to be a digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "image.h"

#define ARCHIVE_MAX_FILES 4096		/* legacy files remembered by path */
#define ARCHIVE_MAX_BLOB  (64ull << 30)	/* one blob */
#define ARCHIVE_MAX_TOTAL (256ull << 30)	/* the archive, uncompressed */

struct afile {
	char path[256];
	char digest[72];
	uint64_t size;
};

struct imp {
	struct img_store *s;
	char *index, *legacy;		/* index.json, manifest.json */
	size_t index_len, legacy_len;
	struct afile *files;
	unsigned nfiles;
	char *err;
	size_t errlen;
};

static int ierr(struct imp *im, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ierr(struct imp *im, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(im->err, im->errlen, fmt, ap);
	va_end(ap);
	return -e;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A small document of the archive, whole. */
static int slurp_entry(struct imp *im, struct tar_rd *t, uint64_t size, char **out,
		       size_t *len)
{
	if (size > OCI_MAX_JSON)
		return ierr(im, EFBIG, "an archive document of %llu bytes",
			    (unsigned long long)size);
	char *b = malloc(size + 1);
	size_t got = 0;
	while (b && got < size) {
		ssize_t r = tar_data(t, b + got, size - got);
		if (r <= 0) {
			free(b);
			return ierr(im, EIO, "the archive ends inside a document");
		}
		got += (size_t)r;
	}
	if (!b)
		return ierr(im, ENOMEM, "out of memory");
	b[size] = '\0';
	free(*out);
	*out = b;
	*len = size;
	return 0;
}

/* One pass over a tar archive: blobs stored (verified), documents kept. */
static int scan_tar(struct imp *im, int fd)
{
	uint64_t total = 0;
	struct lsrc *src = blob_reader(fd, &total, ARCHIVE_MAX_TOTAL, im->err, im->errlen);
	struct tar_entry *te = malloc(sizeof(*te));
	struct tar_rd t;
	int e;

	if (!src || !te) {
		blob_reader_close(src);
		free(te);
		return src ? ierr(im, ENOMEM, "out of memory") : -EINVAL;
	}
	tar_init(&t, blob_read, src, im->err, im->errlen);
	while ((e = tar_next(&t, te)) > 0) {
		if (te->type != '0' && te->type != '\0' && te->type != '7')
			continue;
		const char *p = te->path;
		while (p[0] == '.' && p[1] == '/')
			p += 2;
		char digest[72];
		if (!strncmp(p, "blobs/sha256/", 13)) {
			char want[72];
			snprintf(want, sizeof(want), "sha256:%.64s", p + 13);
			if (strlen(p + 13) != 64 || !oci_digest_ok(want)) {
				e = ierr(im, EINVAL, "archive: %s is not a blob name", p);
				break;
			}
			if ((e = store_put(im->s, tar_data, &t, ARCHIVE_MAX_BLOB, want, digest,
					   NULL, im->err, im->errlen)))
				break;
		} else if (!strcmp(p, "index.json")) {
			if ((e = slurp_entry(im, &t, te->size, &im->index, &im->index_len)))
				break;
		} else if (!strcmp(p, "manifest.json")) {
			if ((e = slurp_entry(im, &t, te->size, &im->legacy, &im->legacy_len)))
				break;
		} else if (strlen(p) < sizeof(im->files->path) &&
			   (strstr(p, ".tar") || strstr(p, ".json"))) {
			/* A legacy config or layer: stored by its own digest. */
			if (im->nfiles == ARCHIVE_MAX_FILES) {
				e = ierr(im, EFBIG, "archive: more than %d files", ARCHIVE_MAX_FILES);
				break;
			}
			struct afile *f = &im->files[im->nfiles];
			if ((e = store_put(im->s, tar_data, &t, ARCHIVE_MAX_BLOB, NULL, f->digest,
					   &f->size, im->err, im->errlen)))
				break;
			memcpy(f->path, p, strlen(p) + 1);	/* fits: checked above */
			im->nfiles++;
		}
	}
	if (e < 0)
		blob_reader_explain(src, e, im->err, im->errlen);
	tar_done(&t);
	blob_reader_close(src);
	free(te);
	return e;
}

static const struct afile *find_file(const struct imp *im, const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	for (unsigned i = 0; i < im->nfiles; i++)
		if (!strcmp(im->files[i].path, path))
			return &im->files[i];
	return NULL;
}

/* Docker's legacy manifest.json: a manifest made from it, stored. */
static int legacy_manifest(struct imp *im, char manifest[72], char *name,
			   size_t namelen)
{
	cJSON *j = cJSON_ParseWithLength(im->legacy, im->legacy_len);
	cJSON *m = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, 0) : NULL;
	const cJSON *ls = m ? cJSON_GetObjectItemCaseSensitive(m, "Layers") : NULL, *l;
	const cJSON *tags = m ? cJSON_GetObjectItemCaseSensitive(m, "RepoTags") : NULL;
	const char *cfg = m ? jstr(m, "Config") : NULL;
	cJSON *out = NULL, *arr;
	int e = 0;

	if (!cfg || !cJSON_IsArray(ls)) {
		e = ierr(im, EINVAL, "archive: manifest.json: no Config or Layers");
		goto done;
	}
	if (cJSON_GetArraySize(j) > 1)
		fprintf(stderr, "[image] archive holds %d images; importing the first\n",
			cJSON_GetArraySize(j));
	const struct afile *cf = find_file(im, cfg);
	if (!cf) {
		e = ierr(im, ENOENT, "archive: manifest.json: Config %.100s is not in the archive", cfg);
		goto done;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "schemaVersion", 2);
	cJSON_AddStringToObject(out, "mediaType", OCI_MT_MANIFEST);
	cJSON *c = cJSON_AddObjectToObject(out, "config");
	cJSON_AddStringToObject(c, "mediaType", "application/vnd.oci.image.config.v1+json");
	cJSON_AddStringToObject(c, "digest", cf->digest);
	cJSON_AddNumberToObject(c, "size", (double)cf->size);
	arr = cJSON_AddArrayToObject(out, "layers");
	int n = 0;
	cJSON_ArrayForEach(l, ls) {
		const struct afile *lf = cJSON_IsString(l) ? find_file(im, l->valuestring) : NULL;
		if (!lf) {
			e = ierr(im, ENOENT, "archive: manifest.json: Layers[%d] is not in the archive", n);
			goto done;
		}
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "mediaType", OCI_MT_LAYER);
		cJSON_AddStringToObject(d, "digest", lf->digest);
		cJSON_AddNumberToObject(d, "size", (double)lf->size);
		cJSON_AddItemToArray(arr, d);
		n++;
	}
	const cJSON *tag = cJSON_IsArray(tags) ? cJSON_GetArrayItem(tags, 0) : NULL;
	if (cJSON_IsString(tag) && !name[0])
		snprintf(name, namelen, "%s", tag->valuestring);
	char *doc = cJSON_PrintUnformatted(out);
	if (!doc) {
		e = ierr(im, ENOMEM, "out of memory");
		goto done;
	}
	struct img_mem mem = { doc, strlen(doc) };
	e = store_put(im->s, img_mem_read, &mem, OCI_MAX_JSON, NULL, manifest, NULL,
		      im->err, im->errlen);
	cJSON_free(doc);
done:
	cJSON_Delete(out);
	cJSON_Delete(j);
	return e;
}

/* A blob the image needs, into the store: from a layout directory
 * (verified), else it must already be there (a tar archive's scan). */
static int need_blob(struct imp *im, int dirfd, const char *digest)
{
	char p[96];
	int fd = store_blob(im->s, digest);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (dirfd < 0)
		return ierr(im, ENOENT, "blob %s is not in the archive", digest);
	snprintf(p, sizeof(p), "blobs/sha256/%s", digest + 7);	/* a checked digest */
	if ((fd = openat(dirfd, p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return ierr(im, errno, "blob %s: %s", digest, strerror(errno));
	char got[72];
	int e = store_put(im->s, img_fd_read, &fd, ARCHIVE_MAX_BLOB, digest, got, NULL,
			  im->err, im->errlen);
	close(fd);
	return e;
}

/* The index's choice for linux/amd64: a manifest digest. An index entry
 * may itself be an index (Docker 25's archives): followed once. */
static int from_index(struct imp *im, int dirfd, char manifest[72], char *name,
		      size_t namelen)
{
	struct oci_desc d;
	cJSON *j = cJSON_ParseWithLength(im->index, im->index_len);
	const cJSON *ms = j ? cJSON_GetObjectItemCaseSensitive(j, "manifests") : NULL;
	int e;

	/* The image's name, when the index gives one. */
	const cJSON *m0 = cJSON_IsArray(ms) ? cJSON_GetArrayItem(ms, 0) : NULL;
	const cJSON *an = m0 ? cJSON_GetObjectItemCaseSensitive(m0, "annotations") : NULL;
	const char *ref = an ? jstr(an, "io.containerd.image.name") : NULL;
	if (!ref && an)
		ref = jstr(an, "org.opencontainers.image.ref.name");
	if (ref && !name[0] && strlen(ref) < namelen && strchr(ref, ':'))
		snprintf(name, namelen, "%s", ref);
	/* One entry without a platform: the archive's image (or its index). */
	if (cJSON_IsArray(ms) && cJSON_GetArraySize(ms) == 1 &&
	    !cJSON_GetObjectItemCaseSensitive(m0, "platform")) {
		const char *dg = jstr(m0, "digest"), *mt = jstr(m0, "mediaType");
		cJSON_Delete(j);
		if (!dg || !oci_digest_ok(dg))
			return ierr(im, EINVAL, "index.json: manifests[0].digest: not a sha256 digest");
		if ((e = need_blob(im, dirfd, dg)))
			return e;
		if (mt && strcmp(mt, OCI_MT_INDEX) && strcmp(mt, DOCKER_MT_LIST)) {
			memcpy(manifest, dg, 72);
			return 0;
		}
		char *doc;
		size_t len;
		if ((e = store_read(im->s, dg, &doc, &len, OCI_MAX_JSON, im->err, im->errlen)))
			return e;
		e = oci_pick(doc, len, "linux", "amd64", &d, im->err, im->errlen);
		free(doc);
	} else {
		cJSON_Delete(j);
		e = oci_pick(im->index, im->index_len, "linux", "amd64", &d, im->err, im->errlen);
	}
	if (e)
		return e;
	if ((e = need_blob(im, dirfd, d.digest)))
		return e;
	memcpy(manifest, d.digest, 72);
	return 0;
}

/* The chain checked: the manifest parses, its config is for us and its
 * layers are all in the store. */
static int check_image(struct imp *im, int dirfd, const char *manifest)
{
	struct oci_image img;
	char *doc = NULL;
	size_t len;
	int e;

	memset(&img, 0, sizeof(img));
	if ((e = store_read(im->s, manifest, &doc, &len, OCI_MAX_JSON, im->err, im->errlen)) ||
	    (e = oci_manifest(doc, len, &img, im->err, im->errlen)))
		goto out;
	free(doc);
	doc = NULL;
	if ((e = need_blob(im, dirfd, img.config.digest)) ||
	    (e = store_read(im->s, img.config.digest, &doc, &len, OCI_MAX_JSON, im->err,
			    im->errlen)) ||
	    (e = oci_config(doc, len, "linux", "amd64", &img, im->err, im->errlen)))
		goto out;
	for (unsigned i = 0; i < img.nlayers && !e; i++)
		e = need_blob(im, dirfd, img.layers[i].digest);
out:
	oci_image_free(&img);
	free(doc);
	return e;
}

int image_import(struct img_store *s, const char *file, char *name, size_t namelen,
		 char manifest[72], char *err, size_t errlen)
{
	struct imp im = { .s = s, .err = err, .errlen = errlen };
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC), dirfd = -1, e;

	if (fd < 0 || fstat(fd, &st) < 0) {
		e = -errno;
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return e;
	}
	if (S_ISDIR(st.st_mode)) {
		dirfd = fd;
		fd = -1;
		int ifd = openat(dirfd, "index.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat is;
		if (ifd < 0 || fstat(ifd, &is) < 0 || is.st_size > OCI_MAX_JSON) {
			e = ierr(&im, ENOENT, "%s: no index.json (not an OCI layout directory)", file);
			if (ifd >= 0)
				close(ifd);
			goto out;
		}
		im.index = malloc((size_t)is.st_size + 1);
		im.index_len = (size_t)is.st_size;
		if (!im.index || pread(ifd, im.index, im.index_len, 0) != (ssize_t)im.index_len) {
			close(ifd);
			e = ierr(&im, EIO, "%s/index.json: cannot read it", file);
			goto out;
		}
		close(ifd);
	} else {
		if (!(im.files = calloc(ARCHIVE_MAX_FILES, sizeof(*im.files)))) {
			e = ierr(&im, ENOMEM, "out of memory");
			goto out;
		}
		if ((e = scan_tar(&im, fd)))
			goto out;
	}
	if (im.index)
		e = from_index(&im, dirfd, manifest, name, namelen);
	else if (im.legacy)
		e = legacy_manifest(&im, manifest, name, namelen);
	else
		e = ierr(&im, EINVAL, "%s: neither index.json nor manifest.json: not an "
			 "image archive", file);
	if (!e)
		e = check_image(&im, dirfd, manifest);
	if (!e && name[0])
		e = store_ref_set(s, name, manifest, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	free(im.index);
	free(im.legacy);
	free(im.files);
	return e;
}
