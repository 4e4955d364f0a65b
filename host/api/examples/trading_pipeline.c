/* trading_pipeline.c: four analysts in sequence, each taught its trade by
 * a SKILL.md file — data → quant → research → portfolio strategy.
 *
 *   build/examples/trading_pipeline [--mock] [--json] [--skills DIR]
 *
 * Each box is a fresh VM that sees only the previous box's output (as
 * /workspace/input.json) and its own skill; a failing box stops the
 * rest. The skills live in host/api/examples/skills/ (copied next to the
 * executable by the build). See example.h for the options.
 */
#include "example.h"

struct analyst {
	const char *name, *skill, *prompt;
	unsigned memory_mb;
};

static const struct analyst analysts[] = {
	{ "data_analyst", "financial-data-analysis.md",
	  "Using your financial-data-analysis skill, summarise the key "
	  "figures for the ticker in /workspace/input.json (revenue trend, "
	  "margins, debt) as JSON in /workspace/output.json.", 1024 },
	{ "quant_analyst", "quant-technical-analysis.md",
	  "Using your quant-technical-analysis skill, turn the figures in "
	  "/workspace/input.json into signals (momentum, valuation, "
	  "volatility) as JSON in /workspace/output.json.", 1024 },
	{ "research_analyst", "market-research.md",
	  "Using your market-research skill, add the competitive and "
	  "macro context to the signals in /workspace/input.json; write "
	  "JSON to /workspace/output.json.", 1024 },
	{ "portfolio_strategist", "portfolio-risk-management.md",
	  "Using your portfolio-risk-management skill, propose a position "
	  "(size, entry, stop) from /workspace/input.json; write JSON to "
	  "/workspace/output.json.", 1536 },
};

int main(int argc, char **argv)
{
	vb_main_hook(argc, argv);

	struct example ex;
	if (example_args(argc, argv, &ex) < 0)
		return VB_CONFIG;

	vb_pipeline *p = vb_pipeline_new("trading");
	const char input[] =
		"{\"ticker\": \"ACME\", \"horizon\": \"6 months\"}";
	vb_pipeline_input(p, input, sizeof(input) - 1);
	vb_pipeline_live(p, true);
	for (size_t i = 0; i < sizeof(analysts) / sizeof(analysts[0]); i++) {
		const struct analyst *a = &analysts[i];
		vb_box *b = example_box(&ex, a->name, a->prompt);
		example_skill(&ex, b, a->skill);
		vb_box_skill(b, "agent:claude-code");
		vb_box_memory_mb(b, a->memory_mb);
		vb_box_vcpus(b, 2);
		vb_box_env(b, "TRADING_HORIZON", "6 months");
		vb_pipeline_pipe(p, b);
	}
	/* A bad skill path or value shows here, before anything runs. */
	if (vb_pipeline_error(p))
		fprintf(stderr, "trading: %s\n", vb_pipeline_error(p));

	int rc = example_finish(&ex, vb_run(p));
	vb_pipeline_free(p);
	return rc;
}
