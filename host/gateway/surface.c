/* surface.c: what the gateway forwards — one short allow-list per provider,
 * the routes of its row in the providers table (host/llm/providers.c).
 *
 * The guest holds its gateway token (it must, to be claude-code), so
 * anything the gateway forwards, model-written code in the VM can send
 * with the real key attached. The key can do far more than the agent
 * needs (list, download and delete the workspace's files, create batches,
 * and on servers that echo requests — TRACE, debug routes — show itself),
 * so we forward exactly the requests the agent makes and refuse the rest.
 *
 * What claude-code sends (measured, docs/agents.md "The gateway's
 * surface"): POST /v1/messages, with "?beta=true". count_tokens is part
 * of the same API and harmless. With CLAUDE_CODE_DISABLE_NONESSENTIAL_-
 * TRAFFIC=1 (always set for stages) it makes no model lookups and no
 * HEAD /api/hello; those are refused. Ollama, LM Studio and custom
 * base URLs speak the same Anthropic Messages API to claude-code, so
 * their rows share these routes.
 *
 * The target is judged in its raw form, before anyone decodes it: only
 * unreserved path characters, no percent-encoding at all (so no "%2e%2e"
 * or "%2f" can be decoded into something else upstream), no empty or dot
 * segments, and a query of plain key=value pairs.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "../llm/llm.h"

static bool path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' ||
	       c == '.';
}

static bool query_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	       c == '=' || c == '&';
}

/* The shape of the target alone, whatever the route table says. */
static const char *target_shape(const char *t, size_t *pathlen)
{
	size_t pl = strcspn(t, "?");

	if (t[0] != '/')
		return "target not in origin form";
	for (size_t i = 0; t[i]; i++)
		if ((unsigned char)t[i] <= 32 || (unsigned char)t[i] >= 127)
			return "control or non-ASCII byte in target";
	for (size_t i = 0; i < pl; i++)
		if (!path_char(t[i]))
			return t[i] == '%' ? "percent-encoding in path"
					   : "character not allowed in path";
	/* Segments: none empty ("//"), none "." or "..". */
	for (size_t i = 0; i < pl;) {
		size_t j = i + 1;
		while (j < pl && t[j] != '/')
			j++;
		size_t sl = j - i - 1;
		if (sl == 0 && j < pl)
			return "empty path segment";
		if ((sl == 1 && t[i + 1] == '.') ||
		    (sl == 2 && t[i + 1] == '.' && t[i + 2] == '.'))
			return "dot segment in path";
		i = j;
	}
	if (t[pl] == '?')
		for (size_t i = pl + 1; t[i]; i++)
			if (!query_char(t[i]))
				return "character not allowed in query";
	*pathlen = pl;
	return NULL;
}

const char *gw_surface_check(const char *provider, const char *method,
			     const char *target)
{
	size_t pl = 0;
	const char *why = target_shape(target, &pl);

	if (why)
		return why;
	const struct llm_provider *p = llm_provider(provider);
	if (!p || !p->nroutes)
		return "the provider has no API surface";
	for (size_t i = 0; i < p->nroutes; i++) {
		const struct llm_route *r = &p->routes[i];
		if (strlen(r->path) == pl && !strncmp(r->path, target, pl))
			return strcmp(r->method, method)
				? "method not allowed for this path" : NULL;
	}
	return "path not in the provider's API surface";
}

void gw_printable(char *out, size_t cap, const char *s, size_t max)
{
	size_t o = 0;

	for (size_t i = 0; s[i] && i < max && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 32 || c >= 127 || c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (strlen(s) > max && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < cap ? o : cap - 1] = '\0';
}
