/* warm_snapshot.c: warm starts from the C API — make a named snapshot of
 * a box's VM, run a stage from it (a clone with its own identity), see
 * it listed, remove it.
 *
 *   build/examples/warm_snapshot [--mock] [--json]
 *
 * Stage templates need none of this (vb_run makes and reuses them by
 * itself); a named snapshot is for a VM prepared once and started many
 * times. With --mock no VM runs, so there is nothing to snapshot: the
 * stage runs in mock mode from no snapshot. See example.h for the
 * options and the provider environment.
 */
#include "example.h"

#define SNAP "example-warm"

int main(int argc, char **argv)
{
	/* First thing: this executable is also the VM monitor. */
	vb_main_hook(argc, argv);

	struct example ex;
	if (example_args(argc, argv, &ex) < 0)
		return VB_CONFIG;

	vb_box *writer = example_box(&ex, "writer",
		"Write a two-line poem about snapshots to /workspace/output.md.");
	vb_box_memory_mb(writer, 768);
	if (!ex.mock) {
		/* The snapshot is the writer's VM booted (memory, vCPUs,
		 * network, tools image), taken once its agent is up. */
		char *err = NULL;
		vb_snapshot_remove(SNAP, NULL);	/* a previous run's */
		int rc = vb_snapshot_create(writer, SNAP, NULL, &err);
		if (rc != VB_OK) {
			fprintf(stderr, "snapshot %s: %s\n", SNAP, err);
			free(err);
			vb_box_free(writer);
			return rc;
		}
		char *list = vb_snapshot_list_json();
		if (!list || !strstr(list, "\"" SNAP "\"")) {
			fprintf(stderr, "snapshot %s not listed: %s\n", SNAP,
				list ? list : "(no list)");
			free(list);
			vb_box_free(writer);
			return VB_FAILED;
		}
		free(list);
		vb_box_snapshot(writer, SNAP);	/* start from it */
	}

	vb_pipeline *p = vb_pipeline_new("warm-snapshot");
	vb_pipeline_live(p, true);
	vb_pipeline_pipe(p, writer);		/* p owns the box now */
	int rc = example_finish(&ex, vb_run(p));
	vb_pipeline_free(p);

	if (!ex.mock) {
		char *err = NULL;
		if (vb_snapshot_remove(SNAP, &err) != VB_OK) {
			fprintf(stderr, "snapshot rm %s: %s\n", SNAP, err);
			free(err);
			return rc ? rc : VB_FAILED;
		}
	}
	return rc;
}
