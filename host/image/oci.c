/* oci.c: what an image's JSON documents say (OCI image spec v1 and
 * Docker's v2 schema 2, which registries and `docker save` still speak):
 * an index (or manifest list) picks the manifest for our platform, a
 * manifest names the config and the layers, the config says how the image
 * wants to run (Env, WorkingDir, User, Entrypoint, Cmd).
 *
 * All of it is untrusted: documents are size-bounded by the caller
 * (OCI_MAX_JSON), digests must be sha256 in canonical form (they become
 * file names in the blob store), media types come from a closed list, and
 * every list and string is bounded here. Errors name the document and the
 * field.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "image.h"

int image_err(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -e;
}

bool oci_digest_ok(const char *d)
{
	if (strncmp(d, "sha256:", 7) || strlen(d) != 7 + 64)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A descriptor {mediaType, digest, size} at doc.field. */
static int desc(const cJSON *o, const char *doc, const char *field,
		struct oci_desc *d, char *err, size_t errlen)
{
	const char *mt = str(o, "mediaType"), *dg = str(o, "digest");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");

	if (!dg || !oci_digest_ok(dg))
		return image_err(err, errlen, EINVAL, "%s: %s.digest: %s", doc, field,
			    dg ? "not a sha256 digest" : "missing");
	if (!cJSON_IsNumber(sz) || sz->valuedouble < 0 || sz->valuedouble > 1e15)
		return image_err(err, errlen, EINVAL, "%s: %s.size: missing or out of range",
			    doc, field);
	memset(d, 0, sizeof(*d));
	snprintf(d->media, sizeof(d->media), "%s", mt ? mt : "");
	memcpy(d->digest, dg, sizeof(d->digest) - 1);
	d->size = (uint64_t)sz->valuedouble;
	return 0;
}

static cJSON *parse(const char *json, size_t len, const char *doc, char *err,
		    size_t errlen)
{
	if (len > OCI_MAX_JSON) {
		image_err(err, errlen, EFBIG, "%s: %zu bytes (at most %u)", doc, len, OCI_MAX_JSON);
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		image_err(err, errlen, EINVAL, "%s: not a JSON object", doc);
		return NULL;
	}
	return j;
}

static bool is_index(const char *mt)
{
	return !strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, DOCKER_MT_LIST);
}

int oci_kind(const char *json, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	const char *mt = j ? str(j, "mediaType") : NULL;
	int k = OCI_DOC_UNKNOWN;

	if (j && mt && is_index(mt))
		k = OCI_DOC_INDEX;
	else if (j && mt && (!strcmp(mt, OCI_MT_MANIFEST) || !strcmp(mt, DOCKER_MT_MANIFEST)))
		k = OCI_DOC_MANIFEST;
	else if (j && !mt && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "manifests")))
		k = OCI_DOC_INDEX;	/* an OCI index may leave mediaType out */
	else if (j && !mt && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "layers")))
		k = OCI_DOC_MANIFEST;
	cJSON_Delete(j);
	return k;
}

int oci_pick(const char *json, size_t len, const char *os, const char *arch,
	     struct oci_desc *out, char *err, size_t errlen)
{
	cJSON *j = parse(json, len, "index", err, errlen);
	char seen[256] = "";
	size_t sl = 0;
	int e = -ENOENT, n = 0;

	if (!j)
		return len > OCI_MAX_JSON ? -EFBIG : -EINVAL;
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "manifests"), *m;
	if (!cJSON_IsArray(ms)) {
		cJSON_Delete(j);
		return image_err(err, errlen, EINVAL, "index: no manifests list");
	}
	cJSON_ArrayForEach(m, ms) {
		if (++n > OCI_MAX_MANIFESTS) {
			e = image_err(err, errlen, EFBIG, "index: more than %d manifests",
				 OCI_MAX_MANIFESTS);
			break;
		}
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "platform");
		const char *mo = p ? str(p, "os") : NULL, *ma = p ? str(p, "architecture") : NULL;
		const char *mt = str(m, "mediaType");
		/* Attestations and signatures ride in indexes as "unknown/unknown". */
		if (mo && ma && sl < sizeof(seen) - 1 && strcmp(mo, "unknown")) {
			int w = snprintf(seen + sl, sizeof(seen) - sl, "%s%.20s/%.20s",
					 sl ? ", " : "", mo, ma);
			sl = w > 0 && (size_t)w < sizeof(seen) - sl ? sl + (size_t)w : sizeof(seen) - 1;
		}
		if (!mo || !ma || strcmp(mo, os) || strcmp(ma, arch))
			continue;
		if (mt && strcmp(mt, OCI_MT_MANIFEST) && strcmp(mt, DOCKER_MT_MANIFEST))
			continue;	/* a nested index: not followed */
		char f[32];
		snprintf(f, sizeof(f), "manifests[%d]", n - 1);
		e = desc(m, "index", f, out, err, errlen);
		break;
	}
	if (e == -ENOENT)
		image_err(err, errlen, ENOENT, "no %s/%s image in the index (it has: %s)", os,
		     arch, seen[0] ? seen : "nothing usable");
	cJSON_Delete(j);
	return e;
}

static bool layer_mt_ok(const char *mt)
{
	static const char *const ok[] = {
		OCI_MT_LAYER, OCI_MT_LAYER_GZIP, OCI_MT_LAYER_ZSTD, DOCKER_MT_LAYER,
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(mt, ok[i]))
			return true;
	return false;
}

int oci_manifest(const char *json, size_t len, struct oci_image *img, char *err,
		 size_t errlen)
{
	cJSON *j = parse(json, len, "manifest", err, errlen);
	int e = 0, n = 0;

	if (!j)
		return len > OCI_MAX_JSON ? -EFBIG : -EINVAL;
	memset(img, 0, sizeof(*img));
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "config");
	const cJSON *ls = cJSON_GetObjectItemCaseSensitive(j, "layers"), *l;
	if (!cJSON_IsObject(c) || !cJSON_IsArray(ls)) {
		e = image_err(err, errlen, EINVAL, "manifest: no config or no layers "
			 "(schema 1 manifests are not supported)");
		goto out;
	}
	if ((e = desc(c, "manifest", "config", &img->config, err, errlen)))
		goto out;
	cJSON_ArrayForEach(l, ls) {
		char f[32];
		snprintf(f, sizeof(f), "layers[%d]", n);
		if (n >= OCI_MAX_LAYERS) {
			e = image_err(err, errlen, EFBIG, "manifest: more than %d layers", OCI_MAX_LAYERS);
			goto out;
		}
		if ((e = desc(l, "manifest", f, &img->layers[n], err, errlen)))
			goto out;
		if (!layer_mt_ok(img->layers[n].media)) {
			e = image_err(err, errlen, ENOTSUP, "manifest: %s.mediaType %s: not a "
				 "layer we can apply (foreign or non-distributable layers "
				 "are not fetched)", f, img->layers[n].media);
			goto out;
		}
		n++;
	}
	img->nlayers = (unsigned)n;
out:
	cJSON_Delete(j);
	return e;
}

/* A list of strings at o.key into *out (NULL-terminated, malloc'd). */
static int strlist(const cJSON *o, const char *key, char ***out, unsigned max,
		   char *err, size_t errlen)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *v;
	unsigned n = 0;

	*out = NULL;
	if (!a || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a) || (unsigned)cJSON_GetArraySize(a) > max)
		return image_err(err, errlen, EINVAL, "config: config.%s: not a list of at "
			    "most %u strings", key, max);
	char **l = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*l));
	if (!l)
		return image_err(err, errlen, ENOMEM, "out of memory");
	cJSON_ArrayForEach(v, a) {
		if (!cJSON_IsString(v) || strlen(v->valuestring) > OCI_MAX_STRING ||
		    !(l[n] = strdup(v->valuestring))) {
			for (unsigned i = 0; i < n; i++)
				free(l[i]);
			free(l);
			return image_err(err, errlen, EINVAL, "config: config.%s[%u]: not a "
				    "string of at most %d bytes", key, n, OCI_MAX_STRING);
		}
		n++;
	}
	*out = l;
	return 0;
}

int oci_config(const char *json, size_t len, const char *os, const char *arch,
	       struct oci_image *img, char *err, size_t errlen)
{
	cJSON *j = parse(json, len, "config", err, errlen);
	int e = 0;

	if (!j)
		return len > OCI_MAX_JSON ? -EFBIG : -EINVAL;
	const char *co = str(j, "os"), *ca = str(j, "architecture");
	if (!co || !ca || strcmp(co, os) || strcmp(ca, arch)) {
		e = image_err(err, errlen, ENOEXEC, "config: the image is for %.20s/%.20s, "
			 "not %s/%s", co ? co : "?", ca ? ca : "?", os, arch);
		goto out;
	}
	const cJSON *rf = cJSON_GetObjectItemCaseSensitive(j, "rootfs");
	const cJSON *ids = rf ? cJSON_GetObjectItemCaseSensitive(rf, "diff_ids") : NULL;
	if (!cJSON_IsArray(ids) || (unsigned)cJSON_GetArraySize(ids) != img->nlayers) {
		e = image_err(err, errlen, EINVAL, "config: rootfs.diff_ids has %d entries for "
			 "%u layers", cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : -1,
			 img->nlayers);
		goto out;
	}
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "config");
	if (!c || cJSON_IsNull(c))
		goto out;	/* an image with no run settings */
	if ((e = strlist(c, "Env", &img->env, OCI_MAX_ENV, err, errlen)) ||
	    (e = strlist(c, "Entrypoint", &img->entrypoint, OCI_MAX_ARGS, err, errlen)) ||
	    (e = strlist(c, "Cmd", &img->cmd, OCI_MAX_ARGS, err, errlen)))
		goto out;
	for (char **p = img->env; p && *p; p++)
		if (!strchr(*p, '=') || **p == '=') {
			e = image_err(err, errlen, EINVAL, "config: config.Env: '%.60s' is not "
				 "NAME=VALUE", *p);
			goto out;
		}
	const char *wd = str(c, "WorkingDir"), *user = str(c, "User");
	if (wd && wd[0] && (wd[0] != '/' || strlen(wd) >= sizeof(img->workdir))) {
		e = image_err(err, errlen, EINVAL, "config: config.WorkingDir: not an absolute "
			 "path of at most %zu bytes", sizeof(img->workdir) - 1);
		goto out;
	}
	if (user && strlen(user) >= sizeof(img->user)) {
		e = image_err(err, errlen, EINVAL, "config: config.User: too long");
		goto out;
	}
	snprintf(img->workdir, sizeof(img->workdir), "%s", wd ? wd : "");
	snprintf(img->user, sizeof(img->user), "%s", user ? user : "");
out:
	cJSON_Delete(j);
	return e;
}

void oci_image_free(struct oci_image *img)
{
	char **lists[] = { img->env, img->entrypoint, img->cmd };

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		for (char **p = lists[i]; p && *p; p++)
			free(*p);
		free(lists[i]);
	}
	img->env = img->entrypoint = img->cmd = NULL;
}
