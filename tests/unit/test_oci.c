/* test_oci.c: image documents (host/image/oci.c) as registries and
 * `docker save` write them — a Docker manifest list with an attestation
 * entry, an OCI index without mediaType, manifests, a config — and the
 * hostile ones: digests that are paths, schema 1, foreign layers, another
 * platform, mismatched diff_ids, bad Env and WorkingDir, oversized input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/image/image.h"

static int checks, fails;
#define CHECK(c, ...) do { checks++; if (!(c)) { fails++; \
	fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D(c) "\"sha256:" c H64 "\""	/* c: a prefix that makes it invalid */

static const char list[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" DOCKER_MT_LIST "\",\"manifests\":["
	"{\"mediaType\":\"" DOCKER_MT_MANIFEST "\",\"digest\":" D("") ",\"size\":1,"
	" \"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
	"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":\"sha256:" "ffffffffffffffffffffffffffffffff"
	"ffffffffffffffffffffffffffffffff\",\"size\":528,"
	" \"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" OCI_MT_MANIFEST "\",\"digest\":" D("") ",\"size\":2,"
	" \"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}}]}";

static const char manifest[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST "\","
	"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	"\"digest\":" D("") ",\"size\":1469},\"layers\":["
	"{\"mediaType\":\"" OCI_MT_LAYER_GZIP "\",\"digest\":" D("") ",\"size\":29126484},"
	"{\"mediaType\":\"" DOCKER_MT_LAYER "\",\"digest\":" D("") ",\"size\":3511}]}";

static const char config[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
	"\"Env\":[\"PATH=/usr/local/bin:/usr/bin\",\"LANG=C.UTF-8\"],"
	"\"Cmd\":[\"python3\"],\"WorkingDir\":\"/app\",\"User\":\"1000:1000\"},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" D("") "," D("") "]}}";

int main(void)
{
	char err[512];
	struct oci_desc d;
	struct oci_image img;

	CHECK(oci_digest_ok("sha256:" H64), "good digest");
	CHECK(!oci_digest_ok("sha256:../../../../etc/passwd" H64), "path digest");
	CHECK(!oci_digest_ok("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
	      "upper-case digest");
	CHECK(!oci_digest_ok("sha512:" H64 H64), "sha512");
	CHECK(!oci_digest_ok("sha256:" H64 "0"), "long digest");

	CHECK(oci_kind(list, strlen(list)) == OCI_DOC_INDEX, "list kind");
	CHECK(oci_kind(manifest, strlen(manifest)) == OCI_DOC_MANIFEST, "manifest kind");
	int r = oci_pick(list, strlen(list), "linux", "amd64", &d, err, sizeof(err));
	CHECK(r == 0 && d.digest[7] == 'f' && d.size == 528, "pick amd64: %d %s", r, err);
	r = oci_pick(list, strlen(list), "linux", "s390x", &d, err, sizeof(err));
	CHECK(r == -ENOENT && strstr(err, "no linux/s390x image") &&
	      strstr(err, "linux/arm64, linux/amd64") && !strstr(err, "unknown"),
	      "no s390x: %s", err);
	static const char oci_index[] = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\""
		OCI_MT_MANIFEST "\",\"digest\":" D("") ",\"size\":7,\"platform\":"
		"{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
	CHECK(oci_kind(oci_index, strlen(oci_index)) == OCI_DOC_INDEX, "index without mediaType");
	CHECK(oci_pick(oci_index, strlen(oci_index), "linux", "amd64", &d, err, sizeof(err)) == 0 &&
	      d.size == 7, "pick from an OCI index: %s", err);
	static const char bad_pick[] = "{\"manifests\":[{\"digest\":\"sha256:../x\",\"size\":1,"
		"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
	CHECK(oci_pick(bad_pick, strlen(bad_pick), "linux", "amd64", &d, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "index: manifests[0].digest: not a sha256 digest"), "bad digest: %s", err);

	r = oci_manifest(manifest, strlen(manifest), &img, err, sizeof(err));
	CHECK(r == 0 && img.nlayers == 2 && img.layers[0].size == 29126484 &&
	      !strcmp(img.layers[1].media, DOCKER_MT_LAYER) && img.config.size == 1469,
	      "manifest: %d %s", r, err);
	r = oci_config(config, strlen(config), "linux", "amd64", &img, err, sizeof(err));
	CHECK(r == 0 && img.env && !strcmp(img.env[1], "LANG=C.UTF-8") && !img.env[2] &&
	      img.cmd && !strcmp(img.cmd[0], "python3") && !img.entrypoint &&
	      !strcmp(img.workdir, "/app") && !strcmp(img.user, "1000:1000"),
	      "config: %d %s", r, err);
	oci_image_free(&img);

	/* hostile manifests */
	static const char schema1[] = "{\"schemaVersion\":1,\"fsLayers\":[]}";
	CHECK(oci_manifest(schema1, strlen(schema1), &img, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "schema 1"), "schema1: %s", err);
	static const char foreign[] = "{\"config\":{\"digest\":" D("") ",\"size\":1},\"layers\":["
		"{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
		"\"digest\":" D("") ",\"size\":1}]}";
	CHECK(oci_manifest(foreign, strlen(foreign), &img, err, sizeof(err)) == -ENOTSUP &&
	      strstr(err, "layers[0].mediaType"), "foreign: %s", err);
	static const char nosize[] = "{\"config\":{\"digest\":" D("") "},\"layers\":[]}";
	CHECK(oci_manifest(nosize, strlen(nosize), &img, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "config.size"), "no size: %s", err);
	size_t bl = 64 + 200 * 160;
	char *many = malloc(bl);
	int n = snprintf(many, bl, "{\"config\":{\"digest\":" D("") ",\"size\":1},\"layers\":[");
	for (int i = 0; i < 200; i++)
		n += snprintf(many + n, bl - (size_t)n, "%s{\"mediaType\":\"" OCI_MT_LAYER
			      "\",\"digest\":" D("") ",\"size\":1}", i ? "," : "");
	snprintf(many + n, bl - (size_t)n, "]}");
	CHECK(oci_manifest(many, strlen(many), &img, err, sizeof(err)) == -EFBIG &&
	      strstr(err, "more than 128 layers"), "200 layers: %s", err);
	free(many);
	CHECK(oci_manifest("[1,2]", 5, &img, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "not a JSON object"), "array: %s", err);
	CHECK(oci_manifest(manifest, OCI_MAX_JSON + 1, &img, err, sizeof(err)) == -EFBIG,
	      "oversized: %s", err);

	/* hostile configs */
	oci_manifest(manifest, strlen(manifest), &img, err, sizeof(err));
	static const char arm[] = "{\"architecture\":\"arm64\",\"os\":\"linux\"}";
	CHECK(oci_config(arm, strlen(arm), "linux", "amd64", &img, err, sizeof(err)) == -ENOEXEC &&
	      strstr(err, "linux/arm64, not linux/amd64"), "arm64 config: %s", err);
	static const char ids[] = "{\"architecture\":\"amd64\",\"os\":\"linux\","
		"\"rootfs\":{\"diff_ids\":[" D("") "]}}";
	CHECK(oci_config(ids, strlen(ids), "linux", "amd64", &img, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "diff_ids has 1 entries for 2 layers"), "diff_ids: %s", err);
	static const char env[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
		"{\"Env\":[\"=oops\"]},\"rootfs\":{\"diff_ids\":[" D("") "," D("") "]}}";
	CHECK(oci_config(env, strlen(env), "linux", "amd64", &img, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "config.Env"), "env: %s", err);
	oci_image_free(&img);
	static const char wd[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
		"{\"WorkingDir\":\"app\"},\"rootfs\":{\"diff_ids\":[" D("") "," D("") "]}}";
	CHECK(oci_config(wd, strlen(wd), "linux", "amd64", &img, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "config.WorkingDir"), "workdir: %s", err);
	oci_image_free(&img);

	printf("%s: %d checks, %d failed\n", fails ? "FAIL" : "PASS", checks, fails);
	return fails != 0;
}
