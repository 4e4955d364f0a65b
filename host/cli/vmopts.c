/* vmopts.c: the VM options every VM-making command shares (`exec`, `vm`),
 * parsed once, with getopt_long, into a struct vm_cfg.
 *
 * A command builds its option table as the shared one followed by its own
 * (vmopts_table), runs getopt_long, hands every option it does not know
 * itself to vmopts_apply, and calls vmopts_finish after the loop for the
 * checks that span options. A new VM knob is one entry here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../box/box.h"
#include "../net/net.h"
#include "../util/util.h"

enum {
	VO_MEMORY = VMOPT_FIRST, VO_VCPUS, VO_NAME, VO_HOSTNAME, VO_CONSOLE,
	VO_KERNEL, VO_INITRAMFS, VO_NO_INITRAMFS, VO_APPEND, VO_DISK,
	VO_NETWORK, VO_ALLOW, VO_HOST, VO_PUBLISH, VO_FORWARD, VO_MAX_CONNS,
	VO_CONN_RATE, VO_PRIVATE_DNS, VO_MOUNT, VO_VOLUME,
};

static const struct option shared[] = {
	{ "memory", required_argument, NULL, VO_MEMORY },
	{ "vcpus", required_argument, NULL, VO_VCPUS },
	{ "name", required_argument, NULL, VO_NAME },
	{ "hostname", required_argument, NULL, VO_HOSTNAME },
	{ "console", no_argument, NULL, VO_CONSOLE },
	{ "kernel", required_argument, NULL, VO_KERNEL },
	{ "initramfs", required_argument, NULL, VO_INITRAMFS },
	{ "no-initramfs", no_argument, NULL, VO_NO_INITRAMFS },
	{ "append", required_argument, NULL, VO_APPEND },
	{ "disk", required_argument, NULL, VO_DISK },
	{ "network", no_argument, NULL, VO_NETWORK },
	{ "allow", required_argument, NULL, VO_ALLOW },
	{ "host", required_argument, NULL, VO_HOST },
	{ "publish", required_argument, NULL, VO_PUBLISH },
	{ "forward", required_argument, NULL, VO_FORWARD },
	{ "max-conns", required_argument, NULL, VO_MAX_CONNS },
	{ "conn-rate", required_argument, NULL, VO_CONN_RATE },
	{ "allow-private-dns", no_argument, NULL, VO_PRIVATE_DNS },
	{ "mount", required_argument, NULL, VO_MOUNT },
	{ "volume", required_argument, NULL, VO_VOLUME },
};
#define NSHARED (sizeof(shared) / sizeof(*shared))

const char vmopts_usage[] =
	"  VM:      [--memory MB] [--vcpus N] [--name NAME] [--hostname NAME]\n"
	"           [--console] [--kernel F] [--initramfs F|--no-initramfs]\n"
	"           [--append KERNEL-ARGS] [--disk FILE[:ro]]...\n"
	"           [--mount HOSTDIR:GUESTDIR[:ro|rw]]...  (ro by default)\n"
	"           [--volume NAME:GUESTDIR[:SIZE_MB]]...  (1024 MiB default)\n"
	"  network: [--network] [--allow RULE]... [--host NAME=IP]...\n"
	"           [--publish HOSTPORT:GUESTPORT]...\n"
	"           [--forward GUESTIP:PORT=HOSTIP:PORT]...\n"
	"           [--max-conns N] [--conn-rate N] [--allow-private-dns]\n";

size_t vmopts_table(struct option *out, size_t cap, const struct option *own)
{
	size_t n = 0;

	for (size_t i = 0; i < NSHARED && n + 1 < cap; i++)
		out[n++] = shared[i];
	for (; own && own->name && n + 1 < cap; own++)
		out[n++] = *own;
	out[n] = (struct option){ 0 };
	return n;
}

/* A file the VMM will be handed must at least open here: a typo is a
 * usage error, not a VM failure. */
static int readable(const char *opt, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_warn("--%s: cannot open '%s'", opt, path);
		return -1;
	}
	close(fd);
	return 0;
}

/* Anything that routes traffic turns the NIC on; alone (no --network or
 * --allow), it opens only itself: an empty allow-list. */
static void net_on(struct vm_net_cfg *nc, bool allow_list)
{
	nc->enabled = true;
	if (allow_list)
		nc->mode = VM_NET_ALLOW;
	else if (nc->mode == VM_NET_OFF)
		nc->mode = VM_NET_ALLOW;
}

static int add(char ***list, const char *opt, const char *val)
{
	if (vm_cfg_list_add(list, val) < 0) {
		log_warnx("--%s: too many entries", opt);
		return -1;
	}
	return 0;
}

int vmopts_apply(struct vmopts *o, int id, const char *val)
{
	struct vm_cfg *c = o->vc;
	struct vm_net_cfg *nc = &c->net;
	const char *opt = "?";
	unsigned long long v;
	char e[NET_ERR_MAX];

	for (size_t i = 0; i < NSHARED; i++)
		if (shared[i].val == id)
			opt = shared[i].name;
	switch (id) {
	case VO_MEMORY:
		if (args_uint("--memory", val, VM_MIN_MEM_MB, VM_MAX_MEM_MB,
			      &v) < 0)
			return -1;
		c->mem_mb = v;
		return 1;
	case VO_VCPUS:
		if (args_uint("--vcpus", val, 1, VM_MAX_VCPUS, &v) < 0)
			return -1;
		c->vcpus = (uint32_t)v;
		return 1;
	case VO_NAME:
	case VO_HOSTNAME: {
		char *f = id == VO_NAME ? c->name : c->hostname;
		size_t cap = id == VO_NAME ? sizeof(c->name)
					   : sizeof(c->hostname);
		char old[VM_NAME_MAX];
		memcpy(old, f, sizeof(old));
		char why[160];
		if (snprintf(f, cap, "%s", val) >= (int)cap ||
		    vm_cfg_check(c, why, sizeof(why)) < 0) {
			log_warnx("--%s '%s': %s", opt, val,
				  strlen(val) >= cap ? "too long" : why);
			memcpy(f, old, cap);
			return -1;
		}
		return 1;
	}
	case VO_CONSOLE:
		c->console = true;
		return 1;
	case VO_KERNEL:
	case VO_INITRAMFS:
		if (readable(opt, val) < 0 ||
		    vm_cfg_set(id == VO_KERNEL ? &c->kernel_path
			       : &c->initrd_path, val) < 0)
			return -1;
		return 1;
	case VO_NO_INITRAMFS:
		c->no_initrd = true;
		return 1;
	case VO_APPEND:
		if (!val[0] || vm_cfg_set(&c->append, val) < 0) {
			log_warnx("--append: empty");
			return -1;
		}
		return 1;
	case VO_DISK: {
		const char *path;
		bool ro;
		if (c->ndisks == VM_MAX_DISKS) {
			log_warnx("--disk: at most %d disks", VM_MAX_DISKS);
			return -1;
		}
		if (args_disk(val, &path, &ro) < 0 ||
		    vm_cfg_set(&c->disk[c->ndisks].path, path) < 0)
			return -1;
		c->disk[c->ndisks++].ro = ro;
		return 1;
	}
	case VO_MOUNT: {
		/* HOST:GUEST[:ro|rw]; the guest path has no ':' (its rules),
		 * so the host path is everything before the last one. */
		char buf[4096], why[160];
		bool ro = true;
		if (snprintf(buf, sizeof(buf), "%s", val) >= (int)sizeof(buf)) {
			log_warnx("--mount: too long");
			return -1;
		}
		char *colon = strrchr(buf, ':');
		if (colon && (!strcmp(colon, ":ro") || !strcmp(colon, ":rw"))) {
			ro = colon[2] == 'o';
			*colon = '\0';
			colon = strrchr(buf, ':');
		}
		if (!colon) {
			log_warnx("--mount: expected HOSTDIR:GUESTDIR[:ro|rw], "
				  "got '%s'", val);
			return -1;
		}
		*colon = '\0';
		if (vm_cfg_mount_add(c, buf, colon + 1, ro, why,
				     sizeof(why)) < 0) {
			log_warnx("--mount %s: %s", val, why);
			return -1;
		}
		return 1;
	}
	case VO_VOLUME: {
		char buf[512], path[4200], why[200];
		unsigned long long mb = 1024;
		if (snprintf(buf, sizeof(buf), "%s", val) >= (int)sizeof(buf)) {
			log_warnx("--volume: too long");
			return -1;
		}
		char *g = strchr(buf, ':'), *sz = g ? strchr(g + 1, ':') : NULL;
		if (sz) {
			*sz++ = '\0';
			if (args_uint("--volume SIZE_MB", sz, 1, 1u << 20, &mb) < 0)
				return -1;
		}
		if (!g) {
			log_warnx("--volume: expected NAME:GUESTDIR[:SIZE_MB], got "
				  "'%s'", val);
			return -1;
		}
		*g++ = '\0';
		int r = volume_path(buf, path, sizeof(path));
		if (r < 0) {
			log_warnx("--volume %s: %s", buf, r == -EINVAL
				  ? "a name is letters, digits, . _ - (1-64)"
				  : "no data directory (set HOME or "
				    "VOIDBOX_DATA_DIR)");
			return -1;
		}
		if (vm_cfg_volume_add(c, path, (uint32_t)mb, g, why,
				      sizeof(why)) < 0) {
			log_warnx("--volume %s: %s", val, why);
			return -1;
		}
		return 1;
	}
	case VO_NETWORK:
		/* Internet, minus link-local, loopback and private ranges;
		 * --allow narrows it to a list. */
		nc->enabled = true;
		if (nc->mode == VM_NET_OFF)
			nc->mode = VM_NET_INTERNET;
		return 1;
	case VO_ALLOW: {
		struct net_rule nr;
		if (net_rule_parse(val, &nr, e, sizeof(e)) < 0) {
			log_warnx("--allow %s: %s", val, e);
			return -1;
		}
		o->net_names |= nr.kind != NET_RULE_CIDR;
		net_on(nc, true);
		return add(&nc->allow, opt, val) < 0 ? -1 : 1;
	}
	case VO_HOST: {
		struct net_addr na;
		const char *eq = strchr(val, '=');
		if (!eq || eq == val || net_addr_parse(eq + 1, &na) < 0) {
			log_warnx("--host: expected NAME=IP, got '%s'", val);
			return -1;
		}
		return add(&nc->hosts, opt, val) < 0 ? -1 : 1;
	}
	case VO_PUBLISH: {
		unsigned g = 0, h = 0;
		char extra;
		if (sscanf(val, "%u:%u%c", &h, &g, &extra) != 2 || !g || !h ||
		    g > 65535 || h > 65535 || nc->npublish == VM_MAX_PUBLISH) {
			log_warnx("--publish: expected HOSTPORT:GUESTPORT (host "
				  "side on 127.0.0.1, at most %d), got '%s'",
				  VM_MAX_PUBLISH, val);
			return -1;
		}
		nc->publish[nc->npublish].host = (uint16_t)h;
		nc->publish[nc->npublish++].guest = (uint16_t)g;
		net_on(nc, false);
		return 1;
	}
	case VO_FORWARD: {
		struct net_forward nf;
		if (vm_cfg_list_len(nc->forwards) >= NET_MAX_FORWARDS ||
		    net_forward_parse(val, &nf, e, sizeof(e)) < 0) {
			log_warnx("--forward %s: %s", val,
				  vm_cfg_list_len(nc->forwards) >=
				  NET_MAX_FORWARDS ? "too many" : e);
			return -1;
		}
		net_on(nc, false);
		return add(&nc->forwards, opt, val) < 0 ? -1 : 1;
	}
	case VO_MAX_CONNS:
	case VO_CONN_RATE:
		if (args_uint(id == VO_MAX_CONNS ? "--max-conns"
			      : "--conn-rate", val, 1, 1u << 20, &v) < 0)
			return -1;
		*(id == VO_MAX_CONNS ? &nc->max_conns : &nc->conn_rate) =
			(uint32_t)v;
		return 1;
	case VO_PRIVATE_DNS:
		nc->private_dns = true;	/* checked in vmopts_finish */
		return 1;
	}
	return 0;
}

int vmopts_finish(struct vmopts *o)
{
	struct vm_cfg *c = o->vc;
	char why[200];

	/* the opt-in only works on DNS answers for allowed names */
	if (c->net.private_dns && !o->net_names) {
		log_warnx("--allow-private-dns: only DNS answers for --allow "
			  "NAME rules are admitted, and none was given");
		return -1;
	}
	if (!c->net.enabled &&
	    (c->net.max_conns || c->net.conn_rate || c->net.hosts)) {
		log_warnx("--max-conns, --conn-rate and --host need a network "
			  "(--network, --allow, --publish or --forward)");
		return -1;
	}
	if (c->no_initrd && c->initrd_path) {
		log_warnx("--initramfs and --no-initramfs exclude each other");
		return -1;
	}
	if (vm_cfg_check(c, why, sizeof(why)) < 0) {
		log_warnx("%s", why);
		return -1;
	}
	return 0;
}

int vmopts_bad(const char *cmd, int ch, char **argv)
{
	const char *a = argv[optind - 1];

	if (ch == ':')
		log_warnx("%s: option '%s' needs a value", cmd, a);
	else
		log_warnx("%s: unknown option '%s'", cmd, a);
	return -1;
}
