/* cmd_vm.c: `voidbox vm` — boot a kernel and wait until it powers off.
 *
 * The low-level debugging and test entry point into the VMM: by default it
 * boots the embedded kernel + initramfs; --kernel/--initramfs boot anything
 * that speaks the 64-bit Linux boot protocol (the tiny test guests too).
 * Exit status: 0 guest powered off, 124 timeout, 125 could not boot.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../net/net.h"
#include "../util/util.h"
#include "../vmm/vmm.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1 quiet"

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
 * go to the VMM as NUL-separated lists ending in an empty string. */
struct vm_netopts {
	char rules[4096], hosts[4096];
	size_t nrules, nhosts;
};

static int list_add(char *buf, size_t *len, size_t cap, const char *s)
{
	size_t k = strlen(s) + 1;

	if (*len + k + 1 > cap)
		return -1;
	memcpy(buf + *len, s, k);
	*len += k;
	buf[*len] = '\0';
	return 0;
}

/* 1: took the option (and its value), 0: not a network option, -1: bad. */
static int net_option(struct vm_config *cfg, struct vm_netopts *n,
		      const char *a, const char *val)
{
	struct vm_netcfg *nc = &cfg->net;
	char e[256] = "too many rules";

	if (!strcmp(a, "--allow") && val) {
		struct net_rule nr;
		if (net_rule_parse(val, &nr, e, sizeof(e)) < 0 ||
		    list_add(n->rules, &n->nrules, sizeof(n->rules), val) < 0) {
			log_warnx("--allow %s: %s", val, e);
			return -1;
		}
		nc->mode = NET_ALLOW;
	} else if (!strcmp(a, "--host") && val) {
		struct net_addr na;
		const char *eq = strchr(val, '=');
		if (!eq || eq == val || net_addr_parse(eq + 1, &na) < 0 ||
		    list_add(n->hosts, &n->nhosts, sizeof(n->hosts), val) < 0) {
			log_warnx("--host: expected NAME=IP, got '%s'", val);
			return -1;
		}
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

int cmd_vm(const struct cli_globals *g, int argc, char **argv)
{
	struct vm_config cfg = { .name = "vm", .mem_mb = 256, .vcpus = 1,
				 .cmdline = DEFAULT_CMDLINE };
	struct vm_netopts *nopt = calloc(1, sizeof(*nopt));
	uint8_t *kbuf = NULL, *ibuf = NULL;
	const char *append = NULL;
	bool no_initrd = false;
	char cmdline[GPA_CMDLINE_MAX];
	unsigned long long v;
	int rc = VB_EXIT_USAGE, r;

	if (!nopt)
		return VB_EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;
		if ((r = net_option(&cfg, nopt, a, val)) != 0) {
			if (r < 0)
				goto out;
			i++;
			continue;
		}
		if (!strcmp(a, "--kernel")) {
			if (!val || args_read_file(a, val, &kbuf,
						   &cfg.kernel_size) < 0)
				goto out;
			cfg.kernel = kbuf;
		} else if (!strcmp(a, "--initramfs")) {
			if (!val || args_read_file(a, val, &ibuf,
						   &cfg.initrd_size) < 0)
				goto out;
			cfg.initrd = ibuf;
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
			cfg.timeout_ms = (unsigned)(v * 1000);
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
				no_initrd = true;
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
	if (!cfg.kernel) {
		const struct embed_blob *k = embed_get(EMBED_KERNEL);
		cfg.kernel = k->data;
		cfg.kernel_size = k->size;
	}
	if (!cfg.initrd && !no_initrd) {
		const struct embed_blob *b = embed_get(EMBED_INITRAMFS);
		cfg.initrd = b->data;
		cfg.initrd_size = b->size;
	}
	if (cfg.net.enabled) {
		cfg.net.rules = nopt->rules;
		cfg.net.hosts = nopt->hosts;
	}
	if (no_initrd) {
		cfg.initrd = NULL;
		cfg.initrd_size = 0;
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

	struct vm_result res;
	vm_run(&cfg, &res);
	switch (res.exit) {
	case VM_EXIT_POWEROFF:
		rc = VB_EXIT_OK;
		break;
	case VM_EXIT_TIMEOUT:
		rc = VB_EXIT_TIMEOUT;
		break;
	default:
		rc = VB_EXIT_VM_FAIL;
		break;
	}
	if (rc != VB_EXIT_OK) {
		log_warnx("%s", res.detail);
		if (!cfg.console && res.console_tail[0])
			fprintf(stderr, "--- last console output ---\n%s\n"
				"---\n", res.console_tail);
	}
	log_info("%s after %.3f ms (first vCPU entry at %.3f ms, %llu exits)",
		 res.detail, (double)res.run_ns / 1e6,
		 (double)res.boot_ns / 1e6, (unsigned long long)res.exits);
	if (g->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "exit", rc == VB_EXIT_OK ? "poweroff"
					: rc == VB_EXIT_TIMEOUT ? "timeout"
					: "error");
		cJSON_AddStringToObject(o, "detail", res.detail);
		cJSON_AddNumberToObject(o, "run_ms", (double)res.run_ns / 1e6);
		cJSON_AddNumberToObject(o, "first_entry_ms",
					(double)res.boot_ns / 1e6);
		cJSON_AddNumberToObject(o, "exits", (double)res.exits);
		char *s = cJSON_PrintUnformatted(o);
		if (s)
			printf("%s\n", s);
		cJSON_free(s);
		cJSON_Delete(o);
	}
out:
	if (rc == VB_EXIT_USAGE)	/* vm_run never saw them */
		for (unsigned i = 0; i < cfg.ndisks; i++)
			close(cfg.disk_fd[i]);
	free(kbuf);
	free(ibuf);
	free(nopt);
	return rc;
}
