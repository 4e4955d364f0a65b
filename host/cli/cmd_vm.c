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
#include "../net/net.h"
#include "../util/util.h"
#include "../vmm/vmm.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1 quiet"
/* After the VMM's own --timeout: how long we wait before stopping it. */
#define TIMEOUT_GRACE_MS 10000

static void vm_usage(void)
{
	fprintf(stderr,
		"usage: voidbox vm [--kernel FILE] [--initramfs FILE|--no-initramfs]\n"
		"                  [--cmdline STR] [--append STR] [--memory MB]\n"
		"                  [--vcpus N] [--timeout SECONDS] [--console]\n"
		"                  [--name NAME] [--disk FILE[:ro]]...\n"
		"                  [--network] [--allow RULE]... [--host NAME=IP]...\n"
		"                  [--publish HOSTPORT:GUESTPORT]...\n");
}

/* Network options as in `voidbox exec` (docs/cli.md): the rules and hosts
 * point into argv, NULL-terminated lists as struct box_net takes them. */
struct vm_netopts {
	const char **rules, **hosts;
	size_t nrules, nhosts;
};

/* 1: took the option (and its value), 0: not a network option, -1: bad. */
static int net_option(struct box_net *nc, struct vm_netopts *n,
		      const char *a, const char *val)
{
	char e[256] = "bad rule";

	if (!strcmp(a, "--allow") && val) {
		struct net_rule nr;
		if (net_rule_parse(val, &nr, e, sizeof(e)) < 0) {
			log_warnx("--allow %s: %s", val, e);
			return -1;
		}
		n->rules[n->nrules++] = val;
		nc->mode = NET_ALLOW;
	} else if (!strcmp(a, "--host") && val) {
		struct net_addr na;
		const char *eq = strchr(val, '=');
		if (!eq || eq == val || net_addr_parse(eq + 1, &na) < 0) {
			log_warnx("--host: expected NAME=IP, got '%s'", val);
			return -1;
		}
		n->hosts[n->nhosts++] = val;
	} else if (!strcmp(a, "--publish") && val) {
		unsigned g = 0, h = 0;
		char extra;
		if (sscanf(val, "%u:%u%c", &h, &g, &extra) != 2 || !g || !h ||
		    g > 65535 || h > 65535 || nc->npublish == 8) {
			log_warnx("--publish: expected HOSTPORT:GUESTPORT, "
				  "got '%s'", val);
			return -1;
		}
		nc->publish[nc->npublish].host = (uint16_t)h;
		nc->publish[nc->npublish++].guest = (uint16_t)g;
		if (nc->mode == NET_OFF)	/* inbound only, as in exec */
			nc->mode = NET_ALLOW;
	} else {
		return 0;
	}
	nc->enabled = true;
	return 1;
}

/* A file the VMM will be handed must at least open here: a typo is a
 * usage error, as before the VMM moved into its own process. */
static int check_file(const char *opt, const char *path)
{
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	if (fd < 0) {
		if (path)
			log_warn("%s: cannot open '%s'", opt, path);
		return -1;
	}
	close(fd);
	return 0;
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

int cmd_vm(const struct cli_globals *g, int argc, char **argv)
{
	struct box_config cfg = { .name = "vm", .mem_mb = 256, .vcpus = 1,
				  .cmdline = DEFAULT_CMDLINE };
	struct vm_netopts nopt = {
		.rules = calloc((size_t)argc + 1, sizeof(char *)),
		.hosts = calloc((size_t)argc + 1, sizeof(char *)),
	};
	const char *append = NULL;
	char cmdline[GPA_CMDLINE_MAX], err[300], detail[300];
	unsigned long long v;
	struct box b = { .pid = -1, .sock = -1, .svc_fd = -1 };
	int rc = VB_EXIT_USAGE, r;

	if (!nopt.rules || !nopt.hosts) {
		rc = VB_EXIT_FAIL;
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;
		if ((r = net_option(&cfg.net, &nopt, a, val)) != 0) {
			if (r < 0)
				goto out;
			i++;
			continue;
		}
		if (!strcmp(a, "--kernel")) {
			if (check_file(a, val) < 0)
				goto out;
			cfg.kernel_path = val;
		} else if (!strcmp(a, "--initramfs")) {
			if (check_file(a, val) < 0)
				goto out;
			cfg.initrd_path = val;
		} else if (!strcmp(a, "--cmdline") && val) {
			cfg.cmdline = val;
		} else if (!strcmp(a, "--append") && val) {
			append = val;
		} else if (!strcmp(a, "--disk") && val) {
			const char *path;
			bool ro;
			if (cfg.ndisks == VM_MAX_DISKS ||
			    args_disk(val, &path, &ro) < 0)
				goto out;
			int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
			if (fd < 0) {
				log_warn("--disk: %s", path);
				goto out;
			}
			/* box_spawn dups it for the VMM; ours closes below */
			cfg.disk_fd[cfg.ndisks] = fd;
			cfg.disk_ro[cfg.ndisks++] = ro;
		} else if (!strcmp(a, "--name") && val) {
			cfg.name = val;
		} else if (!strcmp(a, "--memory")) {
			if (args_uint(a, val, VM_MIN_MEM_MB, 1u << 20, &v) < 0)
				goto out;
			cfg.mem_mb = v;
		} else if (!strcmp(a, "--vcpus")) {
			if (args_uint(a, val, 1, VM_MAX_VCPUS, &v) < 0)
				goto out;
			cfg.vcpus = (unsigned)v;
		} else if (!strcmp(a, "--timeout")) {
			if (args_uint(a, val, 0, 86400, &v) < 0)
				goto out;
			cfg.vm_timeout_ms = (unsigned)(v * 1000);
		} else {
			takes = false;
			if (!strcmp(a, "--console")) {
				cfg.console = true;
			} else if (!strcmp(a, "--network")) {
				/* internet minus reserved ranges, unless
				 * --allow narrows it to a list */
				cfg.net.enabled = true;
				if (cfg.net.mode == NET_OFF)
					cfg.net.mode = NET_INTERNET;
			} else if (!strcmp(a, "--no-initramfs")) {
				cfg.no_initrd = true;
			} else {
				log_warnx("vm: unknown or incomplete option "
					  "'%s'", a);
				vm_usage();
				goto out;
			}
		}
		if (takes)
			i++;
	}
	if (cfg.no_initrd)
		cfg.initrd_path = NULL;
	if (cfg.net.enabled) {
		cfg.net.allow = nopt.rules;
		cfg.net.hosts = nopt.hosts;
	}
	if (append) {
		int n = snprintf(cmdline, sizeof(cmdline), "%s %s",
				 cfg.cmdline, append);
		if (n < 0 || (size_t)n >= sizeof(cmdline)) {
			log_warnx("vm: kernel command line too long");
			goto out;
		}
		cfg.cmdline = cmdline;
	}
	char prefix[80];
	snprintf(prefix, sizeof(prefix), "vm:%s", cfg.name);
	log_init(prefix, log_get_level());

	/* The VMM enforces --timeout itself; the grace only matters for
	 * one that stops answering. */
	unsigned wait_ms = cfg.vm_timeout_ms ? cfg.vm_timeout_ms +
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
	for (unsigned i = 0; i < cfg.ndisks; i++)
		close(cfg.disk_fd[i]);
	free(nopt.rules);
	free(nopt.hosts);
	return rc;
}
