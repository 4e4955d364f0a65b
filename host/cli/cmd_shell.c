/* cmd_shell.c: `voidbox shell` — a fresh VM with a terminal in it.
 *
 *   voidbox shell [--file SPEC [--box BOX]] [exec options] [-- CMD...]
 *
 * With no command it is claude-code's own terminal UI when it can be (the
 * tools image is there and the box's provider has its key here): the box
 * runs as a stage would — the key stays on the host behind the gateway,
 * skills and MCP servers provisioned — with claude-code interactive
 * (host/run/interactive.c). Otherwise, or with a command, it is exec's
 * flow with a guest terminal (cmd_exec.c): bash when the guest has it,
 * else sh. --file starts from a spec's box (its VM, env, image, LLM and
 * skills); the options given here change that VM as they change exec's.
 * The exit status is the guest command's own (claude-code's for it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../api/api.h"
#include "../run/run.h"
#include "../spec/spec.h"
#include "../util/util.h"

struct shell {
	const struct box_cfg *base;	/* the spec's box, or NULL */
};

static int exit_of(const struct stage_result *r)
{
	switch (r->cause) {
	case CAUSE_NONE:
		return 0;
	case CAUSE_CONFIG:
		return VB_EXIT_USAGE;
	case CAUSE_NO_KVM:
	case CAUSE_VM_START:
		return VB_EXIT_VM_FAIL;
	case CAUSE_VMM_DIED:
		return VB_EXIT_VMM_CRASH;
	case CAUSE_AGENT:
		/* claude-code ran and ended badly: its own status. */
		if (!r->exec.err && r->exec.exit.how == AGENT_EXIT_SIGNAL)
			return 128 + (r->exec.exit.code & 0x7f);
		if (!r->exec.err && r->exec.exit.code)
			return r->exec.exit.code & 0xff;
		return VB_EXIT_FAIL;
	default:
		return VB_EXIT_FAIL;
	}
}

int shell_stage(const struct box_cfg *bc, const char *tools_disk,
		bool console, char *why, size_t len)
{
	struct tools_image ti = { .fd = -1 };
	char err[512];
	struct stage_opts so = { .tools_disk = tools_disk, .interactive = true,
				 .console = console };

	if (!so.tools_disk && getenv("VOIDBOX_TOOLS_DISK") &&
	    *getenv("VOIDBOX_TOOLS_DISK"))
		so.tools_disk = getenv("VOIDBOX_TOOLS_DISK");

	if (!so.tools_disk) {
		if (trailer_tools(&ti, err, sizeof(err)) < 0) {
			snprintf(why, len, "%s; claude-code needs the full "
				 "voidbox release or --tools-disk FILE", err);
			return -1;
		}
		so.tools_fd = ti.fd;
		so.tools_off = ti.off;
		so.tools_len = ti.len;
		so.tools_sha256 = ti.sha256;
	}
	int rc = -1;
	if (!strcmp(bc->llm.provider, "mock") || bc->mode == MODE_MOCK)
		snprintf(why, len, "the mock agent has no terminal UI");
	else if (stage_preflight(bc, err, sizeof(err)) < 0)
		snprintf(why, len, "%s", err);
	else
		rc = 0;
	if (rc == 0) {
		struct stage_result r;
		stage_run(bc, &so, &r);
		rc = exit_of(&r);
		if (r.cause != CAUSE_NONE && r.cause != CAUSE_AGENT)
			log_warnx("[vm:%s] %s", bc->name, r.error);
		stage_result_free(&r);
	}
	if (ti.fd >= 0)
		close(ti.fd);
	return rc;
}

static int shell_claude(void *ctx, const struct shell_claude *q, char *why,
			size_t len)
{
	struct shell *sh = ctx;
	struct box_cfg bc;

	if (q->cmd_only) {
		snprintf(why, len, "--%s is for a command", q->cmd_only);
		return -1;
	}
	if (q->no_tools) {
		snprintf(why, len, "--no-tools");
		return -1;
	}
	/* The box as the spec has it (or the defaults), with the VM the
	 * options made of it: shallow copies, alive for this call. */
	if (sh->base) {
		bc = *sh->base;
	} else {
		config_box_init(&bc, q->vm->name[0] ? q->vm->name : "shell");
		vm_cfg_free(&bc.vm);	/* only its VM was allocated */
	}
	bc.vm = *q->vm;
	bc.env = (char **)q->env;
	bc.nenv = q->nenv;
	bc.image = (char *)q->image;
	return shell_stage(&bc, q->tools_disk, q->vm->console, why, len);
}

int cmd_shell(const struct cli_globals *g, int argc, char **argv)
{
	const char *file = NULL, *boxname = NULL;
	char **av = calloc((size_t)argc + 1, sizeof(*av));
	int n = 0, rc = VB_EXIT_USAGE;
	struct shell sh = { 0 };
	vb_pipeline *p = NULL;

	if (!av)
		return VB_EXIT_FAIL;
	/* --file and --box are ours; everything else is exec's, up to the
	 * command (after --, or the first word that is not an option). */
	av[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		bool ours = !strcmp(argv[i], "--file") ||
			    !strcmp(argv[i], "--box");
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				av[n++] = argv[i++];
			break;
		}
		if (!ours) {
			av[n++] = argv[i];
			continue;
		}
		if (i + 1 >= argc || !argv[i + 1][0]) {
			log_warnx("shell: %s needs a value", argv[i]);
			goto out;
		}
		if (!strcmp(argv[i], "--file"))
			file = argv[i + 1];
		else
			boxname = argv[i + 1];
		i++;
	}
	if (boxname && !file) {
		log_warnx("shell: --box names a box of --file SPEC");
		goto out;
	}
	if (file) {
		char *err = NULL;
		if (!(p = vb_pipeline_from_spec(file, &err))) {
			fprintf(stderr, "%s", err ? err : "out of memory\n");
			free(err);
			goto out;
		}
		if (!(sh.base = api_pipeline_box(p, boxname))) {
			log_warnx("shell: %s", boxname ? "no such box in the "
				  "spec" : "the spec has several boxes: name "
				  "one with --box");
			goto out;
		}
	}
	struct exec_mode m = { .shell = true, .base = sh.base,
			       .claude = shell_claude, .ctx = &sh };
	rc = cmd_exec_mode(g, n, av, &m);
out:
	vb_pipeline_free(p);
	free(av);
	return rc;
}
