/* use.c: an image reference as a run uses it — sandbox.image in a spec,
 * `voidbox exec --image`, vb_box_image() — turned into the root
 * filesystem the guest boots into and the run settings it carries.
 *
 * A reference is, in this order:
 *   - a file or directory path (it has a '/' and exists): a `docker save`
 *     / `podman save` archive, an oci-archive tarball or an OCI layout,
 *     imported into the store first (so an air-gapped host needs nothing
 *     but the file);
 *   - "sha256:HEX": a manifest in the store;
 *   - a name in the store (given at import or pull, or an archive's own
 *     RepoTags);
 *   - else a registry reference, pulled (registry.c) and so named.
 *
 * The root is built once per manifest (root.c) and shared by every VM
 * that uses it, read-only; each VM writes into its own tmpfs overlay
 * (guest/agent/imageroot.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "../util/util.h"

static int copy_env(struct image_use *u, char **env)
{
	size_t n = 0;

	while (env && env[n])
		n++;
	if (!(u->env = calloc(n + 1, sizeof(*u->env))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(u->env[i] = strdup(env[i])))
			return -ENOMEM;
	return 0;
}

uint64_t image_max_bytes(void)
{
	const char *e = getenv("VOIDBOX_IMAGE_MAX_BYTES");
	char *end;
	unsigned long long v = e && *e ? strtoull(e, &end, 10) : 0;

	return v && !*end && v < IMAGE_MAX_BYTES ? v : IMAGE_MAX_BYTES;
}

void image_use_free(struct image_use *u)
{
	for (size_t i = 0; u->env && u->env[i]; i++)
		free(u->env[i]);
	free(u->env);
	u->env = NULL;
}

int image_use(const char *ref, struct image_use *u, char *err, size_t errlen)
{
	char dir[4096], name[256] = "", path[128];
	struct img_store s;
	struct oci_image img;
	struct stat st;
	int r;

	memset(u, 0, sizeof(*u));
	if (!ref || !ref[0])
		return image_err(err, errlen, EINVAL, "image: empty reference");
	if (data_dir("images", dir, sizeof(dir)) < 0)
		return image_err(err, errlen, ENOENT, "image %s: no data "
				 "directory (set HOME or VOIDBOX_DATA_DIR)", ref);
	if ((r = store_open(&s, dir, err, errlen)) < 0)
		return r;
	if (strchr(ref, '/') && stat(ref, &st) == 0) {
		log_say("image", "importing %s", ref);
		r = image_import(&s, ref, name, sizeof(name), u->manifest, err,
				 errlen);
	} else if (!strncmp(ref, "sha256:", 7)) {
		snprintf(u->manifest, sizeof(u->manifest), "%s", ref);
		r = oci_digest_ok(ref) ? 0
			: image_err(err, errlen, EINVAL, "image %s: not a "
				    "sha256 digest", ref);
	} else if ((r = store_ref_get(&s, ref, u->manifest)) == -ENOENT) {
		char perr[768];
		struct pull_opts po = { .plain_http = false };
		if ((r = registry_pull(&s, ref, &po, u->manifest, perr,
				       sizeof(perr))) < 0)
			image_err(err, errlen, -r, "image %s: not in the image "
				  "store (%s), and %s; on a host without the "
				  "registry, `voidbox image import FILE --name %s`",
				  ref, dir, perr, ref);
	} else if (r < 0) {
		r = image_err(err, errlen, -r, "image %s: %s", ref, strerror(-r));
	}
	if (r < 0)
		goto out;
	if ((r = image_root(&s, u->manifest, image_max_bytes(), &img, path, err,
			    errlen)) < 0)
		goto out;
	snprintf(u->root, sizeof(u->root), "%s/%s", dir, path);
	snprintf(u->workdir, sizeof(u->workdir), "%s", img.workdir);
	snprintf(u->user, sizeof(u->user), "%s", img.user);
	if ((r = copy_env(u, img.env)) < 0) {
		image_use_free(u);
		image_err(err, errlen, -r, "image %s: out of memory", ref);
	}
	oci_image_free(&img);
out:
	store_close(&s);
	return r;
}
