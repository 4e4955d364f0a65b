/* cmd_image.c: `voidbox image import|ls|rm` — OCI images in the store
 * under the data directory (host/image/). Import takes a docker/podman
 * save archive, an oci-archive tarball (gzipped or not) or an OCI layout
 * directory, verifies every blob and builds the image's root filesystem
 * once, so an air-gapped host needs nothing but the file. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../image/image.h"
#include "../util/util.h"

/* One JSON document on a line of stdout; doc is freed. */
static void json_out(cJSON *doc)
{
	char *t = cJSON_PrintUnformatted(doc);

	if (t)
		printf("%s\n", t);
	cJSON_free(t);
	cJSON_Delete(doc);
}

static int usage(void)
{
	fprintf(stderr, "usage: voidbox image pull [HOST[:PORT]/]REPO[:TAG][@DIGEST] [--plain-http]\n"
			"       voidbox image import FILE|DIR [--name NAME]\n"
			"       voidbox image ls\n"
			"       voidbox image rm NAME...\n");
	return VB_EXIT_USAGE;
}

static int open_store(struct img_store *s)
{
	char dir[4096], err[512];

	if (data_dir("images", dir, sizeof(dir)) < 0) {
		log_warnx("image: no data directory (set HOME or VOIDBOX_DATA_DIR)");
		return -1;
	}
	if (store_open(s, dir, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

/* import FILE, or pull REF (pull set): into the store, root built. */
static int do_import(const struct cli_globals *g, struct img_store *s,
		     const char *file, const char *give, const struct pull_opts *pull)
{
	char name[256], manifest[72], path[128], err[1024];
	struct oci_image img;

	snprintf(name, sizeof(name), "%s", give ? give : "");
	if (pull) {
		snprintf(name, sizeof(name), "%s", file);
		if (registry_pull(s, file, pull, manifest, err, sizeof(err)) < 0) {
			log_warnx("image %s", err);
			return VB_EXIT_FAIL;
		}
	} else {
		log_say("image", "importing %s", file);
		if (image_import(s, file, name, sizeof(name), manifest, err,
				 sizeof(err)) < 0) {
			log_warnx("image import %s: %s", file, err);
			return VB_EXIT_FAIL;
		}
	}
	log_say("image", "building the root filesystem of %s",
		name[0] ? name : manifest);
	if (image_root(s, manifest, image_max_bytes(), &img, path, err, sizeof(err)) < 0) {
		log_warnx("image import %s: %s", file, err);
		return VB_EXIT_FAIL;
	}
	if (g->json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "name", name);
		cJSON_AddStringToObject(j, "manifest", manifest);
		cJSON_AddNumberToObject(j, "layers", img.nlayers);
		json_out(j);
	} else {
		printf("%s %s (%u layers)\n", name[0] ? name : "(unnamed)", manifest,
		       img.nlayers);
	}
	oci_image_free(&img);
	return VB_EXIT_OK;
}

struct ls {
	const struct cli_globals *g;
	struct img_store *s;
	cJSON *arr;
};

static void ls_one(void *ctx, const char *name, const char *manifest)
{
	struct ls *l = ctx;
	char root[128];
	long long size = -1;
	int fd;

	snprintf(root, sizeof(root), "roots/%s.erofs", manifest + 7);
	if ((fd = openat(l->s->fd, root, O_RDONLY | O_CLOEXEC)) >= 0) {
		size = lseek(fd, 0, SEEK_END);
		close(fd);
	}
	if (l->arr) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "manifest", manifest);
		if (size >= 0)
			cJSON_AddNumberToObject(o, "root_bytes", (double)size);
		cJSON_AddItemToArray(l->arr, o);
	} else if (size >= 0) {
		printf("%-40s %.19s  %lld MiB\n", name, manifest, size >> 20);
	} else {
		printf("%-40s %.19s  (root not built)\n", name, manifest);
	}
}

int cmd_image(const struct cli_globals *g, int argc, char **argv)
{
	struct img_store s;
	int rc = VB_EXIT_OK;

	if (argc < 2)
		return usage();
	const char *sub = argv[1];
	if (!strcmp(sub, "import")) {
		const char *file = NULL, *name = NULL;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--name") && i + 1 < argc)
				name = argv[++i];
			else if (argv[i][0] != '-' && !file)
				file = argv[i];
			else
				return usage();
		}
		if (!file)
			return usage();
		if (open_store(&s) < 0)
			return VB_EXIT_FAIL;
		rc = do_import(g, &s, file, name, NULL);
	} else if (!strcmp(sub, "pull")) {
		const char *ref = NULL;
		struct pull_opts po = { 0 };
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--plain-http"))
				po.plain_http = true;
			else if (argv[i][0] != '-' && !ref)
				ref = argv[i];
			else
				return usage();
		}
		if (!ref)
			return usage();
		if (open_store(&s) < 0)
			return VB_EXIT_FAIL;
		rc = do_import(g, &s, ref, NULL, &po);
	} else if (!strcmp(sub, "ls") && argc == 2) {
		if (open_store(&s) < 0)
			return VB_EXIT_FAIL;
		struct ls l = { g, &s, g->json ? cJSON_CreateArray() : NULL };
		int n = store_refs(&s, ls_one, &l);
		uint64_t used = store_usage(&s);
		if (l.arr) {
			cJSON *j = cJSON_CreateObject();
			cJSON_AddItemToObject(j, "images", l.arr);
			cJSON_AddNumberToObject(j, "disk_bytes", (double)used);
			json_out(j);
		} else {
			printf("%d image%s, %" PRIu64 " MiB on disk\n", n < 0 ? 0 : n,
			       n == 1 ? "" : "s", used >> 20);
		}
	} else if (!strcmp(sub, "rm") && argc > 2) {
		if (open_store(&s) < 0)
			return VB_EXIT_FAIL;
		for (int i = 2; i < argc; i++)
			if (store_ref_rm(&s, argv[i]) < 0) {
				log_warnx("image rm %s: no such image", argv[i]);
				rc = VB_EXIT_FAIL;
			}
		uint64_t freed = 0;
		if (store_gc(&s, &freed) < 0)
			log_warnx("image rm: the store was not cleaned (out of memory)");
		else
			log_say("image", "%" PRIu64 " MiB freed", freed >> 20);
	} else {
		return usage();
	}
	store_close(&s);
	return rc;
}
