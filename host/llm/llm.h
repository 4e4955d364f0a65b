/* llm.h: table of contents of host/llm/ — what voidbox knows about each
 * LLM provider, in one table: its default endpoint, where its key comes
 * from and how it is sent, the requests the gateway forwards to it, and
 * its prices. Plain data, no I/O: the spec (host/spec), the stage
 * (host/run), the gateway (host/gateway) and the API (host/api) consult
 * it, so a provider is added or changed in one place.
 *
 * docs/agents.md "Providers" is this table for people; tests/llm checks
 * that the two, and the spec's llm.provider enum, agree.
 */
#ifndef VOIDBOX_LLM_H
#define VOIDBOX_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* providers.c */

/* One request the gateway forwards: METHOD and the exact path (the
 * query is checked apart, host/gateway/surface.c). */
struct llm_route {
	const char *method, *path;
};

/* List prices, USD per million tokens, for models whose name contains
 * `family`; a row with family NULL ends a list and prices the rest. */
struct llm_price {
	const char *family;
	double in, out;
};

struct llm_provider {
	const char *name;		/* llm.provider, lower case */
	/* Not supported yet: the feature that will bring it (the spec's
	 * unsupported[] row refuses it; so does vb_box_llm). NULL: usable. */
	const char *refused;
	bool mock;			/* the deterministic fake agent: no VM,
					   no upstream */
	const char *base_url;		/* default upstream; NULL: llm.base_url
					   is required */
	const char *base_url_env;	/* host variable that replaces the
					   default, or NULL */
	const char *key_env;		/* default API key variable; NULL: no
					   key unless llm.api_key_env names one */
	const char *key_header;		/* the header the key goes upstream in */
	/* Sent when there is no key (local servers ignore it but expect
	 * one); NULL with a key_env (the key is then required). */
	const char *keyless_header, *keyless_value;
	/* Variables the agent's own settings go by: refused in a spec's
	 * env: maps whatever their value (the guest gets them from us). */
	const char *env_prefix;
	const char *api;		/* the API it speaks, for people */
	const struct llm_route *routes;	/* what the gateway forwards; none:
					   nothing is relayed */
	size_t nroutes;
	const struct llm_price *prices;
	/* claude-code pointed at a local model: every model setting names
	 * llm.model (default_model when unset), and the first-party-only
	 * request features are switched off (claude.c). */
	bool local_model;
	const char *default_model;
};

/* Every provider voidbox knows, the default (claude) first. */
extern const struct llm_provider llm_providers[];
extern const size_t llm_nproviders;

/* The provider named `name` (any case); NULL if none is. */
const struct llm_provider *llm_provider(const char *name);
/* The estimated cost of in + out tokens of `model` at p's list prices
 * (p NULL: the default provider's). Models of no listed family are
 * priced as the dearest, so a made-up name never makes a request
 * cheaper. For the max_usd budget only, never a bill. */
double llm_est_cost(const struct llm_provider *p, const char *model,
		    uint64_t in, uint64_t out);

#endif
