/* doc.c: spec bytes -> a tree of nodes that know their line:col.
 *
 * The only user of libyaml. JSON specs go through the same parser: JSON is
 * (for the documents specs are) a subset of YAML flow syntax, and unlike
 * cJSON the YAML parser reports positions, which every error message
 * needs (docs/architecture.md, "Specs"). Untrusted input limits: file size,
 * nesting depth, node count; aliases/anchors are refused outright, so a
 * small file cannot expand into a huge tree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "spec.h"

struct builder {
	const char *file;
	struct spec_errors *e;
	size_t nodes;
	bool failed;
};

static struct node *node_new(struct builder *b, enum node_kind k,
			     const yaml_mark_t *m)
{
	if (++b->nodes > SPEC_MAX_NODES) {
		if (!b->failed)
			spec_error(b->e, b->file, (unsigned)m->line + 1,
				   (unsigned)m->column + 1, NULL,
				   "document too large (more than %u nodes)",
				   SPEC_MAX_NODES);
		b->failed = true;
		return NULL;
	}
	struct node *n = calloc(1, sizeof(*n));
	if (n) {
		n->kind = k;
		n->line = (unsigned)m->line + 1;
		n->col = (unsigned)m->column + 1;
	}
	return n;
}

static int push(struct node *parent, struct node *key, struct node *val)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct node **it = realloc(parent->items, cap * sizeof(*it));
		if (!it)
			return -1;
		parent->items = it;
		if (parent->kind == NODE_MAP) {
			struct node **k = realloc(parent->keys,
						  cap * sizeof(*k));
			if (!k)
				return -1;
			parent->keys = k;
		}
		parent->cap = cap;
	}
	if (parent->kind == NODE_MAP)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = val;
	return 0;
}

static void parse_error(struct builder *b, yaml_parser_t *p)
{
	if (b->failed)
		return;
	b->failed = true;
	spec_error(b->e, b->file, (unsigned)p->problem_mark.line + 1,
		   (unsigned)p->problem_mark.column + 1, NULL, "syntax error: "
		   "%s%s%s", p->problem ? p->problem : "unknown",
		   p->context ? " " : "", p->context ? p->context : "");
}

/* Anchors make aliases possible: refused wherever they appear. */
static bool refuse_anchor(struct builder *b, const yaml_event_t *ev,
			  const yaml_char_t *anchor)
{
	if (!anchor)
		return false;
	spec_error(b->e, b->file, (unsigned)ev->start_mark.line + 1,
		   (unsigned)ev->start_mark.column + 1, NULL,
		   "YAML anchors (&name) are not allowed");
	b->failed = true;
	return true;
}

/* Recursive descent over events; depth-limited. */
static struct node *parse_node(struct builder *b, yaml_parser_t *p,
			       yaml_event_t *ev, unsigned depth)
{
	if (depth > SPEC_MAX_DEPTH) {
		spec_error(b->e, b->file, (unsigned)ev->start_mark.line + 1,
			   (unsigned)ev->start_mark.column + 1, NULL,
			   "nesting deeper than %u levels", SPEC_MAX_DEPTH);
		b->failed = true;
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		spec_error(b->e, b->file, (unsigned)ev->start_mark.line + 1,
			   (unsigned)ev->start_mark.column + 1, NULL,
			   "YAML aliases (*name) are not allowed in specs");
		b->failed = true;
		return NULL;
	case YAML_SCALAR_EVENT: {
		if (refuse_anchor(b, ev, ev->data.scalar.anchor))
			return NULL;
		struct node *n = node_new(b, NODE_SCALAR, &ev->start_mark);
		if (!n)
			return NULL;
		n->str = strndup((const char *)ev->data.scalar.value,
				 ev->data.scalar.length);
		n->quoted = ev->data.scalar.style ==
				    YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			    ev->data.scalar.style ==
				    YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
		if (!n->str) {
			free(n);
			return NULL;
		}
		return n;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		const yaml_char_t *anchor = map ? ev->data.mapping_start.anchor
						: ev->data.sequence_start.anchor;
		if (refuse_anchor(b, ev, anchor))
			return NULL;
		struct node *n = node_new(b, map ? NODE_MAP : NODE_SEQ,
					  &ev->start_mark);
		if (!n)
			return NULL;
		for (;;) {
			yaml_event_t c;
			if (!yaml_parser_parse(p, &c)) {
				parse_error(b, p);
				doc_free(n);
				return NULL;
			}
			if (c.type == (map ? YAML_MAPPING_END_EVENT
					   : YAML_SEQUENCE_END_EVENT)) {
				yaml_event_delete(&c);
				return n;
			}
			struct node *key = NULL;
			if (map) {
				key = parse_node(b, p, &c, depth + 1);
				yaml_event_delete(&c);
				if (key && key->kind != NODE_SCALAR) {
					spec_error(b->e, b->file, key->line,
						   key->col, NULL, "map keys "
						   "must be plain strings");
					b->failed = true;
				}
				if (!key || b->failed ||
				    !yaml_parser_parse(p, &c)) {
					if (key && !b->failed)
						parse_error(b, p);
					doc_free(key);
					doc_free(n);
					return NULL;
				}
			}
			struct node *val = parse_node(b, p, &c, depth + 1);
			yaml_event_delete(&c);
			if (!val || push(n, key, val) < 0) {
				doc_free(key);
				doc_free(val);
				doc_free(n);
				return NULL;
			}
		}
	}
	default:
		parse_error(b, p);
		return NULL;
	}
}

struct node *doc_load(const char *path, struct spec_errors *e)
{
	struct builder b = { .file = path, .e = e };
	struct stat st;
	FILE *f = fopen(path, "rbe");

	if (!f) {
		spec_error(e, path, 1, 1, NULL, "cannot open: %s",
			   strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > SPEC_MAX_BYTES) {
		spec_error(e, path, 1, 1, NULL, "not a regular file under "
			   "%u MiB", SPEC_MAX_BYTES >> 20);
		fclose(f);
		return NULL;
	}
	yaml_parser_t p;
	yaml_event_t ev;
	struct node *root = NULL;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	/* STREAM_START, DOCUMENT_START, root, DOCUMENT_END, STREAM_END */
	for (int i = 0; i < 2; i++) {
		if (!yaml_parser_parse(&p, &ev)) {
			parse_error(&b, &p);
			goto out;
		}
		bool empty = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (empty) {
			spec_error(e, path, 1, 1, NULL, "empty document");
			goto out;
		}
	}
	if (!yaml_parser_parse(&p, &ev)) {
		parse_error(&b, &p);
		goto out;
	}
	root = parse_node(&b, &p, &ev, 0);
	yaml_event_delete(&ev);
	if (root && (!yaml_parser_parse(&p, &ev) ||
		     ev.type != YAML_DOCUMENT_END_EVENT)) {
		parse_error(&b, &p);
		doc_free(root);
		root = NULL;
	} else if (root) {
		yaml_event_delete(&ev);
		if (yaml_parser_parse(&p, &ev)) {
			if (ev.type == YAML_DOCUMENT_START_EVENT) {
				spec_error(e, path,
					   (unsigned)ev.start_mark.line + 1,
					   (unsigned)ev.start_mark.column + 1,
					   NULL, "only one document per spec");
				doc_free(root);
				root = NULL;
			}
			yaml_event_delete(&ev);
		}
	}
out:
	yaml_parser_delete(&p);
	fclose(f);
	return root;
}

void doc_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys)
			doc_free(n->keys[i]);
		doc_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->str);
	free(n);
}

struct node *doc_get(const struct node *map, const char *key)
{
	if (!map || map->kind != NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (!strcmp(map->keys[i]->str, key))
			return map->items[i];
	return NULL;
}
