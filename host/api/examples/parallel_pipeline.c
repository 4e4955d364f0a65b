/* parallel_pipeline.c: three analysts at once (fan_out), their views
 * joined and piped into one strategist.
 *
 *   build/examples/parallel_pipeline [--mock] [--json]
 *
 * The three boxes run concurrently, each in its own VM with the same
 * input. Their outputs reach the strategist as one JSON array in the
 * order of the fan_out — quant, sentiment, risk — whatever order they
 * finish in. If one fails, its siblings still finish and the strategist
 * is skipped. See example.h for the options.
 */
#include "example.h"

int main(int argc, char **argv)
{
	vb_main_hook(argc, argv);

	struct example ex;
	if (example_args(argc, argv, &ex) < 0)
		return VB_CONFIG;

	vb_box *branches[] = {
		example_box(&ex, "quant",
			"You are a quantitative analyst. For the ticker in "
			"/workspace/input.json give a momentum and valuation "
			"score from -1 to 1, as JSON in "
			"/workspace/output.json."),
		example_box(&ex, "sentiment",
			"You are a news-sentiment analyst. For the ticker in "
			"/workspace/input.json give a sentiment score from -1 "
			"to 1 with one reason, as JSON in "
			"/workspace/output.json."),
		example_box(&ex, "risk",
			"You are a risk analyst. For the ticker in "
			"/workspace/input.json name the two largest risks and "
			"a volatility estimate, as JSON in "
			"/workspace/output.json."),
	};
	vb_box *strategist = example_box(&ex, "strategist",
		"/workspace/input.json is a JSON array of three views: quant, "
		"sentiment, risk. Weigh them into one decision (buy, hold or "
		"sell) with a confidence, as JSON in /workspace/output.json.");

	vb_pipeline *p = vb_pipeline_new("parallel");
	const char input[] = "{\"ticker\": \"ACME\"}";
	vb_pipeline_input(p, input, sizeof(input) - 1);
	/* All three branches at once, unless VOIDBOX_EXAMPLE_PARALLEL
	 * bounds it (a small test host). */
	const char *par = getenv("VOIDBOX_EXAMPLE_PARALLEL");
	vb_pipeline_parallel(p, par && atoi(par) > 0 ? (unsigned)atoi(par) : 3);
	vb_pipeline_live(p, true);
	vb_pipeline_fan_out(p, branches,
			    sizeof(branches) / sizeof(branches[0]));
	vb_pipeline_pipe(p, strategist);

	int rc = example_finish(&ex, vb_run(p));
	vb_pipeline_free(p);
	return rc;
}
