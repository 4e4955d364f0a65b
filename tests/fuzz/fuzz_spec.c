/* fuzz_spec.c: libFuzzer target — arbitrary bytes as a spec file through
 * the YAML/JSON loader and the v1 schema checks. Untrusted specs must give
 * errors, never crashes, hangs or unbounded memory. The input's first byte
 * picks the extension (.yaml or .json). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../host/spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct spec_errors e = { 0 };

	if (size < 1)
		return 0;
	snprintf(path, sizeof(path), "/tmp/vb-fuzz-spec-%d.%s", (int)getpid(),
		 data[0] & 1 ? "json" : "yaml");
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data + 1, 1, size - 1, f);
	fclose(f);
	struct node *root = doc_load(path, &e);
	if (root)
		schema_check(root, path, "/tmp", &e);
	spec_errors_sort(&e);
	spec_errors_free(&e);
	doc_free(root);
	unlink(path);
	return 0;
}
