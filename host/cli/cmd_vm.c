/* cmd_vm.c: `voidbox vm` — boot a kernel and wait until it powers off.
 *
 * The low-level debugging and test entry point into the VMM: by default it
 * boots the embedded kernel + initramfs; --kernel/--initramfs boot anything
 * that speaks the 64-bit Linux boot protocol (the tiny test guests too).
 * The guest runs where exec's and run's do: in a spawned VMM child,
 * confined by seccomp before guest code runs (host/box/box.c); this
 * process only parses, spawns and reports.
 * Exit status: 0 guest powered off, 124 timeout, 125 could not boot, 123
 * the VMM died without reporting.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../box/box.h"
#include "../util/util.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1 quiet"
/* After the VMM's own --timeout: how long we wait before stopping it. */
#define TIMEOUT_GRACE_MS 10000

static void vm_usage(void)
{
	fprintf(stderr,
		"usage: voidbox vm [--cmdline STR] [--timeout SECONDS] [OPTIONS]\n"
		"%s", vmopts_usage);
}

static void print_json(int rc, const char *detail, const struct box *b)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "exit", rc == VB_EXIT_OK ? "poweroff"
				: rc == VB_EXIT_TIMEOUT ? "timeout" : "error");
	cJSON_AddStringToObject(o, "detail", detail);
	cJSON_AddNumberToObject(o, "run_ms", (double)b->run_ns / 1e6);
	cJSON_AddNumberToObject(o, "first_entry_ms",
				(double)b->first_entry_ns / 1e6);
	cJSON_AddNumberToObject(o, "exits", (double)b->exits);
	char *s = cJSON_PrintUnformatted(o);
	if (s)
		printf("%s\n", s);
	cJSON_free(s);
	cJSON_Delete(o);
}

enum { VMO_CMDLINE = VMOPT_OWN, VMO_TIMEOUT };
static const struct option own_opts[] = {
	{ "cmdline", required_argument, NULL, VMO_CMDLINE },
	{ "timeout", required_argument, NULL, VMO_TIMEOUT },
	{ 0 },
};

/* The shared VM options plus --cmdline (replacing the agent's command
 * line: any kernel, no agent) and --timeout (the whole VM's). */
static int parse(int argc, char **argv, struct vm_cfg *cfg)
{
	struct option tab[64];
	struct vmopts vo = { .vc = cfg };
	unsigned long long v;
	int ch, r;

	vmopts_table(tab, sizeof(tab) / sizeof(*tab), own_opts);
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", tab, NULL)) != -1) {
		if (ch == '?' || ch == ':')
			return vmopts_bad("vm", ch, argv);
		if ((r = vmopts_apply(&vo, ch, optarg)) != 0) {
			if (r < 0)
				return -1;
			continue;
		}
		if (ch == VMO_CMDLINE) {
			if (vm_cfg_set(&cfg->cmdline, optarg) < 0)
				return -1;
		} else if (ch == VMO_TIMEOUT) {
			if (args_uint("--timeout", optarg, 0, 86400, &v) < 0)
				return -1;
			cfg->timeout_ms = (uint32_t)(v * 1000);
		}
	}
	if (optind < argc) {
		log_warnx("vm: unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return vmopts_finish(&vo);
}

int cmd_vm(const struct cli_globals *g, int argc, char **argv)
{
	struct vm_cfg cfg;
	char err[300], detail[300];
	struct box b = { .pid = -1, .sock = -1, .svc_fd = -1 };
	int rc = VB_EXIT_USAGE;

	vm_cfg_init(&cfg, "vm");
	cfg.mem_mb = 256;
	if (vm_cfg_set(&cfg.cmdline, DEFAULT_CMDLINE) < 0 ||
	    parse(argc, argv, &cfg) < 0) {
		vm_usage();
		goto out;
	}
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "vm:%s", cfg.name);
	log_init(prefix, log_get_level());

	/* The VMM enforces --timeout itself; the grace only matters for
	 * one that stops answering. */
	unsigned wait_ms = cfg.timeout_ms ? cfg.timeout_ms +
			   TIMEOUT_GRACE_MS : 0;
	if (box_spawn(&b, &cfg, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		rc = VB_EXIT_VM_FAIL;
		goto out;
	}
	if (box_wait_exit(&b, wait_ms) < 0)
		box_stop(&b, 1000);
	if (b.exit_reported) {
		rc = b.vm_exit == VM_EXIT_POWEROFF ? VB_EXIT_OK
		   : b.vm_exit == VM_EXIT_TIMEOUT ? VB_EXIT_TIMEOUT
		   : VB_EXIT_VM_FAIL;
		snprintf(detail, sizeof(detail), "%s", b.detail);
	} else {
		rc = VB_EXIT_VMM_CRASH;
		box_end_reason(&b, detail, sizeof(detail));
	}
	if (rc != VB_EXIT_OK) {
		log_warnx("%s", detail);
		if (!cfg.console && b.console[0]) {
			fputs("--- last console output ---\n", stderr);
			write_guest_text(stderr, b.console, strlen(b.console));
			fputs("\n---\n", stderr);
		}
	}
	log_info("%s after %.3f ms (first vCPU entry at %.3f ms, %llu exits)",
		 detail, (double)b.run_ns / 1e6,
		 (double)b.first_entry_ns / 1e6, (unsigned long long)b.exits);
	if (g->json)
		print_json(rc, detail, &b);
out:
	box_close(&b);
	vm_cfg_free(&cfg);
	return rc;
}
