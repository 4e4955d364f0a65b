/* quick_demo.c: the smallest pipeline — an analyst's findings piped into
 * a strategist, each agent in its own micro-VM.
 *
 *   build/examples/quick_demo [--mock] [--json]
 *
 * The analyst writes /workspace/output.json; the strategist receives it
 * as /workspace/input.json and its output is the pipeline's. See
 * example.h for the options and the provider environment.
 */
#include "example.h"

int main(int argc, char **argv)
{
	/* First thing: this executable is also the VM monitor. */
	vb_main_hook(argc, argv);

	struct example ex;
	if (example_args(argc, argv, &ex) < 0)
		return VB_CONFIG;

	vb_box *analyst = example_box(&ex, "analyst",
		"You are a market analyst. /workspace/input.json names a "
		"company. List three facts an investor should weigh, as JSON "
		"{\"facts\": [...]}, in /workspace/output.json.");
	vb_box *strategist = example_box(&ex, "strategist",
		"You are an investment strategist. /workspace/input.json holds "
		"an analyst's facts. Decide buy, hold or sell with a one-line "
		"reason, as JSON {\"decision\", \"reason\"}, in "
		"/workspace/output.json.");
	vb_box_memory_mb(strategist, 768);

	vb_pipeline *p = vb_pipeline_new("quick-demo");
	const char input[] =
		"{\"company\": \"ACME Corp\", \"ticker\": \"ACME\"}";
	vb_pipeline_input(p, input, sizeof(input) - 1);
	vb_pipeline_live(p, true);
	vb_pipeline_pipe(p, analyst);		/* p owns the boxes now */
	vb_pipeline_pipe(p, strategist);

	int rc = example_finish(&ex, vb_run(p));
	vb_pipeline_free(p);
	return rc;
}
