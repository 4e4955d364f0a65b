/* cmd_validate.c: `voidbox validate` (alias `check`, after vmd -n) — load
 * a spec and report "configuration OK" or every error as
 * file:line:col: field.path: message. Exit 0 valid, 2 invalid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../spec/spec.h"
#include "../util/util.h"

int cmd_validate(const struct cli_globals *g, int argc, char **argv)
{
	const char *file = NULL;
	struct spec_errors e = { 0 };

	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "--file") || !strcmp(argv[i], "-f")) &&
		    i + 1 < argc)
			file = argv[++i];
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else {
			log_warnx("validate: unexpected argument '%s'", argv[i]);
			file = NULL;
			break;
		}
	}
	if (!file) {
		fprintf(stderr, "usage: voidbox validate [--file] SPEC\n");
		return VB_EXIT_USAGE;
	}
	struct spec_doc d;
	spec_open(file, &d, &e);
	if (g->json) {
		cJSON *o = cJSON_CreateObject(), *a;
		cJSON_AddStringToObject(o, "file", file);
		cJSON_AddBoolToObject(o, "valid", e.n == 0);
		a = cJSON_AddArrayToObject(o, "errors");
		for (size_t i = 0; i < e.n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(e.msg[i]));
		char *s = cJSON_Print(o);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
		cJSON_Delete(o);
	} else if (e.n == 0) {
		printf("%s: configuration OK\n", file);
	} else {
		for (size_t i = 0; i < e.n; i++)
			fprintf(stdout, "%s\n", e.msg[i]);
		fprintf(stdout, "%zu error%s\n", e.n, e.n == 1 ? "" : "s");
	}
	int rc = e.n ? VB_EXIT_USAGE : VB_EXIT_OK;
	spec_errors_free(&e);
	spec_close(&d);
	return rc;
}
