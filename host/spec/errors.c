/* errors.c: collected spec errors, printed in file order. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"

void spec_error(struct spec_errors *e, const char *file, unsigned line,
		unsigned col, const char *path, const char *fmt, ...)
{
	char msg[1024], full[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s:%u:%u: %s%s%s", file, line, col,
		 path && *path ? path : "", path && *path ? ": " : "", msg);
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		char **m = realloc(e->msg, cap * sizeof(*m));
		unsigned *l = m ? realloc(e->line, cap * sizeof(*l)) : NULL;
		unsigned *c = l ? realloc(e->col, cap * sizeof(*c)) : NULL;
		if (m)
			e->msg = m;
		if (l)
			e->line = l;
		if (!c)
			return;	/* out of memory: drop this one */
		e->col = c;
		e->cap = cap;
	}
	e->msg[e->n] = strdup(full);
	if (!e->msg[e->n])
		return;
	e->line[e->n] = line;
	e->col[e->n] = col;
	e->n++;
}

void spec_errors_sort(struct spec_errors *e)
{
	/* Insertion sort, stable: errors at one position keep their order. */
	for (size_t i = 1; i < e->n; i++) {
		char *m = e->msg[i];
		unsigned l = e->line[i], c = e->col[i];
		size_t j = i;
		while (j > 0 && (e->line[j - 1] > l ||
				 (e->line[j - 1] == l && e->col[j - 1] > c))) {
			e->msg[j] = e->msg[j - 1];
			e->line[j] = e->line[j - 1];
			e->col[j] = e->col[j - 1];
			j--;
		}
		e->msg[j] = m;
		e->line[j] = l;
		e->col[j] = c;
	}
}

void spec_errors_free(struct spec_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	free(e->line);
	free(e->col);
	*e = (struct spec_errors){ 0 };
}

char *spec_errors_join(const struct spec_errors *e)
{
	size_t len = 1;
	for (size_t i = 0; i < e->n; i++)
		len += strlen(e->msg[i]) + 1;
	char *s = malloc(len), *o = s;
	for (size_t i = 0; s && i < e->n; i++) {
		/* a message's own newlines become spaces: one line each */
		for (const char *c = e->msg[i]; *c; c++)
			*o++ = *c == '\n' ? ' ' : *c;
		*o++ = '\n';
	}
	if (s)
		*o = '\0';
	return s;
}
