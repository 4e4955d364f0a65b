/* cmd_version.c: `voidbox version` — what this binary is made of.
 *
 * The blob hashes are computed from the embedded bytes at run time, not
 * recorded at build time, so they prove what is actually inside.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent_abi.h"
#include "cli.h"
#include "../util/util.h"

#ifndef VB_VERSION
#define VB_VERSION "unknown"
#endif

static void tools_hex(const struct tools_image *t, char hex[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", t->sha256[i]);
}

void cmd_version_print_short(void)
{
	printf("voidbox %s (agent abi %u)\n", VB_VERSION, AGENT_ABI_VERSION);
}

/* The versions blob is "name version" lines written by the build. */
static void versions_each(void (*fn)(void *, const char *, const char *),
			  void *arg)
{
	const struct embed_blob *b = embed_get(EMBED_VERSIONS);
	char line[256];
	size_t pos = 0;

	while (pos < b->size) {
		size_t n = 0;
		while (pos < b->size && b->data[pos] != '\n') {
			if (n < sizeof(line) - 1)
				line[n++] = (char)b->data[pos];
			pos++;
		}
		pos++;
		line[n] = '\0';
		char *sp = strchr(line, ' ');
		if (!sp || line[0] == '#')
			continue;
		*sp = '\0';
		fn(arg, line, sp + 1);
	}
}

static void print_version_line(void *arg, const char *name, const char *ver)
{
	printf("  %-20s %s\n", name, ver);
}

static void add_version_json(void *arg, const char *name, const char *ver)
{
	cJSON_AddStringToObject(arg, name, ver);
}

int cmd_version(const struct cli_globals *g, int argc, char **argv)
{
	static const enum embed_id shown[] = { EMBED_KERNEL, EMBED_INITRAMFS };
	char hex[65];

	if (argc > 1) {
		log_warnx("version: takes no arguments");
		return VB_EXIT_USAGE;
	}
	if (g->json) {
		cJSON *o = cJSON_CreateObject(), *blobs, *pins;
		cJSON_AddStringToObject(o, "version", VB_VERSION);
		cJSON_AddNumberToObject(o, "agent_abi", AGENT_ABI_VERSION);
		blobs = cJSON_AddObjectToObject(o, "embedded");
		for (size_t i = 0; i < ARRAY_SIZE(shown); i++) {
			const struct embed_blob *b = embed_get(shown[i]);
			cJSON *e = cJSON_AddObjectToObject(blobs, b->name);
			sha256_hex(b->data, b->size, hex);
			cJSON_AddNumberToObject(e, "bytes", (double)b->size);
			cJSON_AddStringToObject(e, "sha256", hex);
		}
		struct tools_image ti;
		char terr[256];
		if (trailer_tools(&ti, terr, sizeof(terr)) == 0) {
			cJSON *e = cJSON_AddObjectToObject(blobs, "tools");
			tools_hex(&ti, hex);
			cJSON_AddNumberToObject(e, "bytes", (double)ti.len);
			cJSON_AddStringToObject(e, "sha256", hex);
			close(ti.fd);
		}
		pins = cJSON_AddObjectToObject(o, "components");
		versions_each(add_version_json, pins);
		char *s = cJSON_Print(o);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
		cJSON_Delete(o);
		return s ? VB_EXIT_OK : VB_EXIT_FAIL;
	}
	cmd_version_print_short();
	printf("embedded:\n");
	for (size_t i = 0; i < ARRAY_SIZE(shown); i++) {
		const struct embed_blob *b = embed_get(shown[i]);
		sha256_hex(b->data, b->size, hex);
		printf("  %-10s %9zu bytes  sha256 %s\n", b->name, b->size,
		       hex);
	}
	struct tools_image ti;
	char terr[256];
	if (trailer_tools(&ti, terr, sizeof(terr)) == 0) {
		tools_hex(&ti, hex);
		printf("  %-10s %9llu bytes  sha256 %s (claude-code, verified)\n",
		       "tools", (unsigned long long)ti.len, hex);
		close(ti.fd);
	} else {
		printf("  %-10s %s\n", "tools", terr);
	}
	printf("components:\n");
	versions_each(print_version_line, NULL);
	return VB_EXIT_OK;
}
