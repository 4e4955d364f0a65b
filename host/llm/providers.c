/* providers.c: the providers table — every LLM provider voidbox knows,
 * one row each (llm.h says what the fields mean).
 *
 * claude, ollama, lm-studio and custom all speak the Anthropic Messages
 * API to claude-code, so they share its surface: exactly the requests
 * claude-code makes (measured, docs/agents.md "The gateway's surface"),
 * POST /v1/messages (with "?beta=true") and its harmless count_tokens
 * sibling. With CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (always set
 * for stages) it makes no model lookups and no HEAD /api/hello. A
 * provider with another API gets its own route list.
 *
 * They share one price list too: local and custom models are priced as
 * the dearest family (whatever they are named), so max_usd stays a
 * bound.
 */
#include <string.h>
#include <strings.h>

#include "llm.h"

static const struct llm_route anthropic_routes[] = {
	{ "POST", "/v1/messages" },
	{ "POST", "/v1/messages/count_tokens" },
};
#define ANTHROPIC_ROUTES anthropic_routes, \
	sizeof(anthropic_routes) / sizeof(anthropic_routes[0])

/* Estimated list prices by model family; claude-code's own
 * total_cost_usd remains the number reported per stage. */
static const struct llm_price anthropic_prices[] = {
	{ "sonnet", 3, 15 },
	{ "haiku", 1, 5 },
	{ "opus", 5, 25 },
	{ NULL, 5, 25 },		/* unknown: the dearest */
};

/* A model server on this host speaking the Anthropic Messages API. */
#define LOCAL_MODEL_SERVER(NAME) {					\
		.name = NAME,						\
		.base_url = "http://127.0.0.1:11434",			\
		.base_url_env = "OLLAMA_HOST",				\
		.key_header = "x-api-key",				\
		.keyless_header = "authorization",			\
		.keyless_value = "Bearer ollama",			\
		.env_prefix = "ANTHROPIC_",				\
		.api = "Anthropic Messages",				\
		.routes = ANTHROPIC_ROUTES,				\
		.prices = anthropic_prices,				\
		.local_model = true,					\
		.default_model = "qwen3-coder",				\
	}

const struct llm_provider llm_providers[] = {
	{
		.name = "claude",
		.base_url = "https://api.anthropic.com",
		.key_env = "ANTHROPIC_API_KEY",
		.key_header = "x-api-key",
		.env_prefix = "ANTHROPIC_",
		.api = "Anthropic Messages",
		.routes = ANTHROPIC_ROUTES,
		.prices = anthropic_prices,
	},
	LOCAL_MODEL_SERVER("ollama"),
	/* LM Studio serves the same Anthropic-compatible endpoint;
	 * OLLAMA_HOST as for ollama, so one local setting serves both. */
	LOCAL_MODEL_SERVER("lm-studio"),
	{
		.name = "custom",
		.key_header = "x-api-key",
		.keyless_header = "authorization",
		.keyless_value = "Bearer ollama",
		.env_prefix = "ANTHROPIC_",
		.api = "Anthropic Messages",
		.routes = ANTHROPIC_ROUTES,
		.prices = anthropic_prices,
	},
	{
		.name = "mock",
		.mock = true,
	},
	{
		/* Known so its settings stay on the host even now. */
		.name = "codex",
		.refused = "codex backend",
		.key_env = "OPENAI_API_KEY",
		.env_prefix = "OPENAI_",
	},
	{
		.name = "claude-personal",
		.refused = "claude OAuth login",
	},
};
const size_t llm_nproviders = sizeof(llm_providers) / sizeof(llm_providers[0]);

const struct llm_provider *llm_provider(const char *name)
{
	for (size_t i = 0; name && i < llm_nproviders; i++)
		if (!strcasecmp(llm_providers[i].name, name))
			return &llm_providers[i];
	return NULL;
}

double llm_est_cost(const struct llm_provider *p, const char *model,
		    uint64_t in, uint64_t out)
{
	const struct llm_price *pr = p && p->prices ? p->prices
						    : llm_providers[0].prices;

	while (pr->family && !strstr(model, pr->family))
		pr++;
	return ((double)in * pr->in + (double)out * pr->out) / 1e6;
}
