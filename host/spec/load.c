/* load.c: a spec file to a checked document — the one way every front
 * door (run, validate, inspect, the C API) reads a spec, so a file is
 * parsed once and judged by the same rules everywhere.
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

int spec_open(const char *path, struct spec_doc *d, struct spec_errors *e)
{
	*d = (struct spec_doc){ .path = path };
	if (!path || !(d->dirbuf = strdup(path)))
		return -1;
	/* Relative skill files resolve against the spec's directory first
	 * (schema.c, schema_resolve_path). */
	d->dir = dirname(d->dirbuf);
	d->root = doc_load(path, e);
	if (d->root)
		schema_check(d->root, path, d->dir, e);
	spec_errors_sort(e);
	if (e->n) {
		doc_free(d->root);
		d->root = NULL;
		return -1;
	}
	d->kind = doc_get(d->root, "kind")->str;	/* required, checked */
	return 0;
}

void spec_close(struct spec_doc *d)
{
	doc_free(d->root);
	free(d->dirbuf);
	*d = (struct spec_doc){ 0 };
}
