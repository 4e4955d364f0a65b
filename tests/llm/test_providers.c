/* test_providers.c: the providers table (host/llm/providers.c) agrees
 * with everything that names providers on its own.
 *
 *  - the spec grammar's llm.provider enum holds the table's names;
 *  - a spec refuses ("not supported yet") exactly the table's refused
 *    rows, and so does vb_box_llm; the others are accepted by both;
 *  - every env_prefix is refused in a spec's env: map;
 *  - every row that is relayed has a surface and a way to authenticate;
 *  - the cost estimate is the one the gateway always made;
 *  - docs/agents.md's providers table is this table (on a mismatch the
 *    expected text is printed, to paste between the markers).
 *
 * Linked against libvoidbox.a; no KVM. Prints PASS:/FAIL: lines, exits 1
 * if anything failed. Run from the source tree (or set VOIDBOX_SRCDIR).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../../host/api/api.h"
#include "../../host/llm/llm.h"
#include "../../host/spec/spec.h"

#define DOC_BEGIN "<!-- providers: generated from host/llm/providers.c; " \
		  "tests/llm checks it -->"
#define DOC_END "<!-- /providers -->"

static int failures;

static void check(int ok, const char *name, const char *why)
{
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", name,
	       ok || !why ? "" : ": ", ok || !why ? "" : why);
	failures += !ok;
}

static void test_schema_enum(void)
{
	char why[256] = "";
	size_t n = 0;

	for (const char *const *s = schema_llm_providers; *s; s++, n++)
		if (!llm_provider(*s))
			snprintf(why, sizeof(why), "schema's %s is not in the "
				 "table", *s);
	for (size_t i = 0; i < llm_nproviders; i++) {
		const char *const *s = schema_llm_providers;
		while (*s && strcmp(*s, llm_providers[i].name))
			s++;
		if (!*s)
			snprintf(why, sizeof(why), "table's %s is not in the "
				 "schema", llm_providers[i].name);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(llm_providers[j].name,
					llm_providers[i].name))
				snprintf(why, sizeof(why), "%s twice",
					 llm_providers[i].name);
	}
	if (!why[0] && n != llm_nproviders)
		snprintf(why, sizeof(why), "%zu names in the schema, %zu rows",
			 n, llm_nproviders);
	check(!why[0], "schema enum = table", why);
	check(!strcmp(llm_providers[0].name, "claude"), "claude is the default",
	      llm_providers[0].name);
}

/* Errors of schema_check on `yaml`, joined by "\n" into out. */
static size_t spec_errors_of(const char *yaml, char *out, size_t len)
{
	char path[] = "/tmp/vb-providers-XXXXXX.yaml";
	struct spec_errors e = { 0 };
	size_t o = 0;
	int fd = mkstemps(path, 5);

	out[0] = '\0';
	if (fd < 0 || write(fd, yaml, strlen(yaml)) != (ssize_t)strlen(yaml)) {
		snprintf(out, len, "cannot write %s", path);
		return 1;
	}
	close(fd);
	struct node *root = doc_load(path, &e);
	if (root)
		schema_check(root, path, "/tmp", &e);
	for (size_t i = 0; i < e.n; i++) {
		int w = snprintf(out + o, len - o, "%s\n", e.msg[i]);
		if (w > 0 && (size_t)w < len - o)
			o += (size_t)w;
	}
	size_t n = e.n;
	doc_free(root);
	spec_errors_free(&e);
	unlink(path);
	return n;
}

static void test_refusals(void)
{
	char yaml[512], errs[4096], name[128], want[128];

	for (size_t i = 0; i < llm_nproviders; i++) {
		const struct llm_provider *p = &llm_providers[i];
		snprintf(yaml, sizeof(yaml), "api_version: v1\nkind: agent\n"
			 "name: x\nllm: {provider: %s, base_url: "
			 "'http://127.0.0.1:9'}\nagent: {prompt: hi}\n",
			 p->name);
		size_t n = spec_errors_of(yaml, errs, sizeof(errs));
		snprintf(name, sizeof(name), "spec llm.provider %s", p->name);
		snprintf(want, sizeof(want), "llm.provider: %s: not supported "
			 "yet\n", p->name);
		if (p->refused)
			check(n == 1 && strstr(errs, want), name, errs);
		else
			check(n == 0, name, errs);

		vb_box *b = vb_box_new("x");
		int r = vb_box_llm(b, p->name, NULL);
		snprintf(name, sizeof(name), "vb_box_llm %s", p->name);
		check(p->refused ? r == VB_CONFIG &&
		      strstr(vb_box_error(b), "not supported yet")
		      : r == VB_OK, name, vb_box_error(b));
		vb_box_free(b);
	}
	vb_box *b = vb_box_new("x");
	check(vb_box_llm(b, "nosuch", NULL) == VB_CONFIG, "vb_box_llm nosuch",
	      vb_box_error(b));
	vb_box_free(b);
}

static void test_env_prefixes(void)
{
	char yaml[512], errs[4096], name[128];

	for (size_t i = 0; i < llm_nproviders; i++) {
		const char *px = llm_providers[i].env_prefix;
		if (!px)
			continue;
		snprintf(yaml, sizeof(yaml), "api_version: v1\nkind: agent\n"
			 "name: x\nsandbox: {env: {%sX: v}}\n"
			 "agent: {prompt: hi}\n", px);
		size_t n = spec_errors_of(yaml, errs, sizeof(errs));
		snprintf(name, sizeof(name), "env %sX refused (%s)", px,
			 llm_providers[i].name);
		check(n == 1 && strstr(errs, "refused: the provider's"), name,
		      errs);
	}
}

static void test_rows(void)
{
	for (size_t i = 0; i < llm_nproviders; i++) {
		const struct llm_provider *p = &llm_providers[i];
		char name[128];
		snprintf(name, sizeof(name), "row %s is whole", p->name);
		if (p->refused || p->mock) {
			check(!p->nroutes, name, "relayed, yet refused/mock");
			continue;
		}
		check(p->nroutes && p->api && p->key_header && p->prices &&
		      (p->key_env || (p->keyless_header && p->keyless_value)) &&
		      (!p->local_model || p->default_model), name, NULL);
	}
}

/* The estimate gateway.c always made (budget.c before the table). */
static double old_cost(const char *model, uint64_t in, uint64_t out)
{
	double pi = 5, po = 25;
	if (strstr(model, "sonnet"))
		pi = 3, po = 15;
	else if (strstr(model, "haiku"))
		pi = 1, po = 5;
	return ((double)in * pi + (double)out * po) / 1e6;
}

static void test_prices(void)
{
	const char *models[] = { "claude-sonnet-4-5", "claude-haiku-4-5",
				 "claude-opus-4-1", "qwen3-coder", "",
				 "opus-sonnet", "haiku-sonnet" };
	char why[256] = "";

	for (size_t m = 0; m < sizeof(models) / sizeof(*models); m++)
		for (size_t i = 0; i <= llm_nproviders; i++) {
			const struct llm_provider *p = i < llm_nproviders
				? &llm_providers[i] : NULL;
			if (p && !p->prices)
				continue;
			double a = llm_est_cost(p, models[m], 123456, 7890);
			double b = old_cost(models[m], 123456, 7890);
			if (fabs(a - b) >= 1e-12)
				snprintf(why, sizeof(why), "%s on %s: %g, "
					 "was %g", models[m], p ? p->name
					 : "(default)", a, b);
		}
	check(!why[0], "prices as the gateway's before the table", why);
}

/* One row of the doc's table. */
static void doc_row(const struct llm_provider *p, char *out, size_t len)
{
	char url[256], key[128], auth[192], surface[512];
	size_t o;

	if (p->refused || p->mock) {
		snprintf(out, len, "| `%s` | — | — | — | %s%s%s |", p->name,
			 p->mock ? "none: the mock agent (no VM, no model)"
			 : "refused: not supported yet (", p->mock ? ""
			 : p->refused, p->mock ? "" : ")");
		return;
	}
	if (p->base_url)
		snprintf(url, sizeof(url), "`%s`%s%s%s", p->base_url,
			 p->base_url_env ? " (`$" : "", p->base_url_env
			 ? p->base_url_env : "", p->base_url_env
			 ? "` first)" : "");
	else
		snprintf(url, sizeof(url), "none: `llm.base_url` required");
	if (p->key_env)
		snprintf(key, sizeof(key), "`%s`", p->key_env);
	else
		snprintf(key, sizeof(key), "none");
	if (p->key_env)
		snprintf(auth, sizeof(auth), "`%s`", p->key_header);
	else
		snprintf(auth, sizeof(auth), "`%s: %s`; with a key `%s`",
			 p->keyless_header, p->keyless_value, p->key_header);
	o = (size_t)snprintf(surface, sizeof(surface), "%s:", p->api);
	for (size_t i = 0; i < p->nroutes && o < sizeof(surface); i++)
		o += (size_t)snprintf(surface + o, sizeof(surface) - o,
				      "%s `%s %s`", i ? "," : "",
				      p->routes[i].method, p->routes[i].path);
	snprintf(out, len, "| `%s` | %s | %s | %s | %s |", p->name, url, key,
		 auth, surface);
}

static void test_doc(void)
{
	const char *dir = getenv("VOIDBOX_SRCDIR") ? getenv("VOIDBOX_SRCDIR")
						   : ".";
	char path[1024], want[8192], got[8192], line[1024];
	size_t w = 0, g = 0;
	bool in = false, seen = false;

	w += (size_t)snprintf(want + w, sizeof(want) - w, "%s\n"
			      "| provider | default base URL | key variable | "
			      "auth header | surface |\n"
			      "|---|---|---|---|---|\n", DOC_BEGIN);
	for (size_t i = 0; i < llm_nproviders && w < sizeof(want); i++) {
		doc_row(&llm_providers[i], line, sizeof(line));
		w += (size_t)snprintf(want + w, sizeof(want) - w, "%s\n",
				      line);
	}
	if (w < sizeof(want))
		snprintf(want + w, sizeof(want) - w, "%s\n", DOC_END);

	snprintf(path, sizeof(path), "%s/docs/agents.md", dir);
	FILE *f = fopen(path, "r");
	if (!f) {
		check(0, "docs/agents.md providers table", "cannot open it");
		return;
	}
	got[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, DOC_BEGIN, strlen(DOC_BEGIN)))
			in = seen = true;
		if (in && g < sizeof(got))
			g += (size_t)snprintf(got + g, sizeof(got) - g, "%s",
					      line);
		if (!strncmp(line, DOC_END, strlen(DOC_END)))
			in = false;
	}
	fclose(f);
	bool ok = seen && !strcmp(want, got);
	check(ok, "docs/agents.md providers table = host/llm/providers.c",
	      ok ? NULL : "expected, between the markers:");
	if (!ok)
		fputs(want, stdout);
}

int main(void)
{
	test_schema_enum();
	test_refusals();
	test_env_prefixes();
	test_rows();
	test_prices();
	test_doc();
	return failures ? 1 : 0;
}
