/* cmd_exec.c: `voidbox exec` — run one command in a fresh micro-VM.
 *
 * boot (VMM child) -> agent ready -> policy -> --put files -> exec with
 * live output -> --get files -> power off. The exit status is the
 * command's own (128+N for signal N), or one of the VM-level codes in
 * cli.h / docs/cli.md, so scripts can tell "the command failed" from
 * "the sandbox failed".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../net/net.h"
#include "../util/util.h"
#include "../vmm/vmm.h"

#define MAX_LIST 256
#define BOOT_TIMEOUT_MS 120000	/* generous: nested test hosts are slow */

struct xfer {
	char *local, *guest;	/* point into argv copies */
};

struct exec_opts {
	struct box_config box;
	const char *env[MAX_LIST + 1];
	const char *allow[MAX_LIST + 1];
	const char *net_allow[MAX_LIST + 1], *net_hosts[MAX_LIST + 1];
	const char *net_fwd[MAX_LIST + 1];
	unsigned nnet_allow, nnet_hosts, nnet_fwd;
	bool net_names;		/* an --allow NAME or *.SUFFIX rule */
	struct xfer put[MAX_LIST], get[MAX_LIST];
	unsigned nenv, nallow, nput, nget;
	const char *workdir;
	bool root;
	uint32_t uid, gid;
	unsigned timeout_s;
	char **argv;
};

static void exec_usage(void)
{
	fprintf(stderr,
		"usage: voidbox exec [--memory MB] [--vcpus N] [--env K=V]...\n"
		"         [--workdir DIR] [--user root|agent|UID[:GID]]\n"
		"         [--timeout S] [--allow-cmd NAME]... [--put LOCAL:GUEST]...\n"
		"         [--get GUEST:LOCAL]... [--disk FILE[:ro]]...\n"
		"         [--kernel F --initramfs F] [--append KERNEL-ARGS]\n"
		"         [--network] [--allow RULE]... [--host NAME=IP]...\n"
		"         [--publish HOSTPORT:GUESTPORT]...\n"
		"         [--forward GUESTIP:PORT=HOSTIP:PORT]...\n"
		"         [--max-conns N] [--conn-rate N] [--allow-private-dns]\n"
		"         [--console] [--name NAME] -- CMD [ARGS...]\n");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int split_xfer(const char *opt, char *arg, struct xfer *x)
{
	char *colon = strchr(arg, ':');

	if (!colon || colon == arg || !colon[1]) {
		log_warnx("%s: expected SRC:DST, got '%s'", opt, arg);
		return -1;
	}
	*colon = '\0';
	if (!strcmp(opt, "--put"))
		*x = (struct xfer){ .local = arg, .guest = colon + 1 };
	else
		*x = (struct xfer){ .guest = arg, .local = colon + 1 };
	return 0;
}

static int parse_user(const char *val, struct exec_opts *o)
{
	unsigned long long u, g;
	char buf[64], *colon;

	if (!strcmp(val, "root")) {
		o->root = true;
		return 0;
	}
	if (!strcmp(val, "agent"))
		return 0;
	snprintf(buf, sizeof(buf), "%s", val);
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (args_uint("--user", buf, 1, 65534, &u) < 0 ||
	    (colon && args_uint("--user", colon + 1, 0, 65534, &g) < 0))
		return -1;
	o->uid = (uint32_t)u;
	o->gid = colon ? (uint32_t)g : (uint32_t)u;
	return 0;
}

static int parse(int argc, char **argv, struct exec_opts *o)
{
	unsigned long long v;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			o->argv = argv + i + 1;
			break;
		}
		if (!strcmp(a, "--console")) {
			o->box.console = true;
			continue;
		}
		if (!strcmp(a, "--allow-private-dns")) {
			/* checked after the loop: needs a name rule */
			o->box.net.private_dns = true;
			continue;
		}
		if (!strcmp(a, "--network")) {
			/* Internet, minus link-local, loopback and private
			 * ranges; --allow narrows it to a list. */
			o->box.net.enabled = true;
			if (o->box.net.mode == 0)
				o->box.net.mode = 1;
			continue;
		}
		if (a[0] != '-') {
			o->argv = argv + i;	/* command without -- */
			break;
		}
		if (!val) {
			log_warnx("exec: option '%s' needs a value", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--memory")) {
			if (args_uint(a, val, VM_MIN_MEM_MB, 1u << 20, &v) < 0)
				return -1;
			o->box.mem_mb = v;
		} else if (!strcmp(a, "--vcpus")) {
			if (args_uint(a, val, 1, VM_MAX_VCPUS, &v) < 0)
				return -1;
			o->box.vcpus = (unsigned)v;
		} else if (!strcmp(a, "--timeout")) {
			if (args_uint(a, val, 1, 86400 * 7, &v) < 0)
				return -1;
			o->timeout_s = (unsigned)v;
		} else if (!strcmp(a, "--env")) {
			if (!strchr(val, '=') || val[0] == '=' ||
			    o->nenv == MAX_LIST) {
				log_warnx("--env: expected K=V, got '%s'", val);
				return -1;
			}
			o->env[o->nenv++] = val;
		} else if (!strcmp(a, "--allow-cmd")) {
			if (!val[0] || o->nallow == MAX_LIST) {
				log_warnx("--allow-cmd: bad value '%s'", val);
				return -1;
			}
			o->allow[o->nallow++] = val;
		} else if (!strcmp(a, "--allow")) {
			char e[256];
			struct net_rule nr;
			if (o->nnet_allow == MAX_LIST ||
			    net_rule_parse(val, &nr, e, sizeof(e)) < 0) {
				log_warnx("--allow %s: %s", val, o->nnet_allow ==
					  MAX_LIST ? "too many" : e);
				return -1;
			}
			o->net_allow[o->nnet_allow++] = val;
			o->net_names |= nr.kind != NET_RULE_CIDR;
			o->box.net.enabled = true;
			o->box.net.mode = 2;
		} else if (!strcmp(a, "--host")) {
			struct net_addr na;
			const char *eq = strchr(val, '=');
			if (!eq || eq == val || net_addr_parse(eq + 1, &na) < 0 ||
			    o->nnet_hosts == MAX_LIST) {
				log_warnx("--host: expected NAME=IP, got '%s'",
					  val);
				return -1;
			}
			o->net_hosts[o->nnet_hosts++] = val;
		} else if (!strcmp(a, "--publish")) {
			unsigned g = 0, h = 0;
			char extra;
			if (sscanf(val, "%u:%u%c", &h, &g, &extra) != 2 || !g ||
			    !h || g > 65535 || h > 65535 ||
			    o->box.net.npublish == 8) {
				log_warnx("--publish: expected HOSTPORT:GUESTPORT"
					  " (host side on 127.0.0.1), got '%s'",
					  val);
				return -1;
			}
			unsigned k = o->box.net.npublish++;
			o->box.net.publish[k].host = (uint16_t)h;
			o->box.net.publish[k].guest = (uint16_t)g;
			o->box.net.enabled = true;
			/* Publishing alone opens nothing outbound: an empty
			 * allow-list, replies to inbound flows only. */
			if (o->box.net.mode == 0)
				o->box.net.mode = 2;
		} else if (!strcmp(a, "--forward")) {
			char e[NET_ERR_MAX];
			struct net_forward nf;
			if (o->nnet_fwd == NET_MAX_FORWARDS ||
			    net_forward_parse(val, &nf, e, sizeof(e)) < 0) {
				log_warnx("--forward %s: %s", val, o->nnet_fwd ==
					  NET_MAX_FORWARDS ? "too many" : e);
				return -1;
			}
			o->net_fwd[o->nnet_fwd++] = val;
			o->box.net.enabled = true;
			/* a forward alone opens only itself */
			if (o->box.net.mode == 0)
				o->box.net.mode = 2;
		} else if (!strcmp(a, "--max-conns") ||
			   !strcmp(a, "--conn-rate")) {
			if (args_uint(a, val, 1, 1u << 20, &v) < 0)
				return -1;
			if (a[2] == 'm')
				o->box.net.max_conns = (uint32_t)v;
			else
				o->box.net.conn_rate = (uint32_t)v;
		} else if (!strcmp(a, "--workdir")) {
			o->workdir = val;
		} else if (!strcmp(a, "--user")) {
			if (parse_user(val, o) < 0)
				return -1;
		} else if (!strcmp(a, "--put") || !strcmp(a, "--get")) {
			bool put = a[2] == 'p';
			unsigned *n = put ? &o->nput : &o->nget;
			if (*n == MAX_LIST || split_xfer(a, val, put
					? &o->put[*n] : &o->get[*n]) < 0)
				return -1;
			(*n)++;
		} else if (!strcmp(a, "--disk")) {
			unsigned k = o->box.ndisks;
			if (k == 2) {
				log_warnx("--disk: at most 2 disks");
				return -1;
			}
			if (args_disk(val, &o->box.disk_path[k],
				      &o->box.disk_ro[k]) < 0)
				return -1;
			o->box.ndisks++;
		} else if (!strcmp(a, "--kernel")) {
			o->box.kernel_path = val;
		} else if (!strcmp(a, "--initramfs")) {
			o->box.initrd_path = val;
		} else if (!strcmp(a, "--name")) {
			o->box.name = val;
		} else if (!strcmp(a, "--append")) {
			o->box.extra_cmdline = val;	/* kernel cmdline */
		} else {
			log_warnx("exec: unknown option '%s'", a);
			return -1;
		}
	}
	if (!o->argv || !o->argv[0]) {
		log_warnx("exec: no command given");
		return -1;
	}
	/* the opt-in only works on DNS answers for allowed names */
	if (o->box.net.private_dns && !o->net_names) {
		log_warnx("--allow-private-dns: only DNS answers for --allow "
			  "NAME rules are admitted, and none was given");
		return -1;
	}
	o->box.net.allow = o->net_allow;
	o->box.net.hosts = o->net_hosts;
	o->box.net.forwards = o->net_fwd;
	return 0;
}

/* One clear line for hosts that cannot run our guests at all. */
static int host_check(const struct exec_opts *o)
{
	char err[256];
	int fd = kvm_open(err, sizeof(err));

	if (fd < 0) {
		log_warnx("%s", err);
		return -1;
	}
	close(fd);
	if (kvm_is_pvm() && !o->box.kernel_path &&
	    !getenv("VOIDBOX_ALLOW_PVM")) {
		log_warnx("this host's /dev/kvm is nested PVM, which cannot run "
			  "unmodified Linux guests; run on a host with VMX/SVM "
			  "(see docs/architecture.md §0; `voidbox selftest` "
			  "still checks the VMM here)");
		return -1;
	}
	return 0;
}

static int do_transfers(struct agent_conn *c, struct xfer *x, unsigned n,
			bool put)
{
	for (unsigned i = 0; i < n; i++) {
		int fd = put ? open(x[i].local, O_RDONLY | O_CLOEXEC)
			     : open(x[i].local, O_WRONLY | O_CREAT | O_TRUNC |
				    O_CLOEXEC, 0644);
		if (fd < 0) {
			log_warn("%s: %s", put ? "--put" : "--get", x[i].local);
			return -1;
		}
		int r = put ? agent_put(c, fd, x[i].guest, 0644)
			    : agent_get(c, x[i].guest, fd);
		close(fd);
		if (r < 0) {
			log_warnx("%s %s: %s", put ? "--put" : "--get",
				  x[i].guest, c->err);
			return -1;
		}
	}
	return 0;
}

static int exit_code(const struct agent_exec_res *res)
{
	if (res->err == ENOENT)
		return VB_EXIT_NOT_FOUND;
	if (res->err)
		return VB_EXIT_CANNOT_EXEC;
	if (res->exit.timed_out)
		return VB_EXIT_TIMEOUT;
	if (res->exit.how == AGENT_EXIT_SIGNAL)
		return 128 + (res->exit.code & 0x7f);
	return res->exit.code & 0xff;
}

int cmd_exec(const struct cli_globals *g, int argc, char **argv)
{
	struct exec_opts *o = calloc(1, sizeof(*o));
	struct agent_conn conn = { .fd = -1 };
	struct agent_exec_res res = { 0 };
	struct box box = { .pid = -1, .sock = -1 };
	char err[512];
	int rc = VB_EXIT_USAGE;
	uint64_t t0 = now_ns(), t_ready = 0, t_exec = 0, t_done = 0;

	if (!o)
		return VB_EXIT_FAIL;
	o->box = (struct box_config){ .name = "exec", .mem_mb = 512,
				      .vcpus = 1 };
	if (parse(argc, argv, o) < 0) {
		exec_usage();
		goto out;
	}
	rc = VB_EXIT_VM_FAIL;
	if (host_check(o) < 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	if (box_spawn(&box, &o->box, err, sizeof(err)) < 0 ||
	    box_wait_ready(&box, BOOT_TIMEOUT_MS, err, sizeof(err)) < 0) {
		log_warnx("[vm:%s] %s", box.name, err);
		if (box.console[0] && !o->box.console) {
			fputs("--- last console output ---\n", stderr);
			write_guest_text(stderr, box.console,
					 strlen(box.console));
			fputs("\n---\n", stderr);
		}
		rc = box_vmm_crashed(&box) ? VB_EXIT_VMM_CRASH
					   : VB_EXIT_VM_FAIL;
		goto out;
	}
	t_ready = now_ns();
	if (agent_open(&conn, &box, 30000) < 0) {
		log_warnx("[vm:%s] %s", box.name, conn.err);
		goto out_stop;
	}
	struct agent_policy_req pol = { .allow = o->nallow ? o->allow : NULL };
	if (agent_set_policy(&conn, &pol) < 0) {
		log_warnx("[vm:%s] policy: %s", box.name, conn.err);
		goto out_stop;
	}
	if (do_transfers(&conn, o->put, o->nput, true) < 0) {
		rc = VB_EXIT_FAIL;
		goto out_stop;
	}
	struct agent_exec_req req = {
		.argv = (const char *const *)o->argv,
		.envv = o->nenv ? o->env : NULL, .cwd = o->workdir,
		.root = o->root, .uid = o->uid ? o->uid : 1000,
		.gid = o->uid ? o->gid : 1000,
		.timeout_ms = o->timeout_s * 1000,
		.stdin_fd = isatty(STDIN_FILENO) ? -1 : STDIN_FILENO,
		.stdout_fd = STDOUT_FILENO, .stderr_fd = STDERR_FILENO,
	};
	t_exec = now_ns();
	if (agent_exec(&conn, &req, &res) < 0) {
		char why[300];
		/* Did the VM die under us? Say so rather than "conn lost". */
		box_stop(&box, 2000);
		log_warnx("[vm:%s] %s (%s)", box.name, conn.err,
			  box_end_reason(&box, why, sizeof(why)));
		rc = box_vmm_crashed(&box) ? VB_EXIT_VMM_CRASH
					   : VB_EXIT_VM_FAIL;
		goto out;
	}
	t_done = now_ns();
	rc = exit_code(&res);
	if (res.err)
		log_warnx("[vm:%s] %s: %s", box.name, o->argv[0],
			  res.errmsg[0] ? res.errmsg : strerror(res.err));
	else if (res.exit.timed_out)
		log_warnx("[vm:%s] %s: timed out after %u s; process group "
			  "killed", box.name, o->argv[0], o->timeout_s);
	if (!res.err && do_transfers(&conn, o->get, o->nget, false) < 0 &&
	    rc == 0)
		rc = VB_EXIT_FAIL;
	agent_poweroff(&conn);
out_stop:
	box_stop(&box, 5000);
	log_info("[vm:%s] ready %.1f ms (VMM setup %.1f ms), exec %.1f ms, "
		 "total %.1f ms", box.name, (double)box.ready_ns / 1e6,
		 (double)box.vmm_setup_ns / 1e6,
		 t_done ? (double)(t_done - t_exec) / 1e6 : 0.0,
		 (double)(now_ns() - t0) / 1e6);
	if (g->json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "exit_code", rc);
		cJSON_AddNumberToObject(j, "ready_ms", (double)box.ready_ns / 1e6);
		cJSON_AddNumberToObject(j, "vmm_setup_ms",
					(double)box.vmm_setup_ns / 1e6);
		cJSON_AddNumberToObject(j, "exec_ms", t_done ?
					(double)(t_done - t_exec) / 1e6 : 0);
		cJSON_AddNumberToObject(j, "total_ms",
					(double)(now_ns() - t0) / 1e6);
		cJSON_AddBoolToObject(j, "timed_out", res.exit.timed_out);
		char *s = cJSON_PrintUnformatted(j);
		if (s)
			fprintf(stderr, "%s\n", s);
		cJSON_free(s);
		cJSON_Delete(j);
	}
	(void)t_ready;
out:
	agent_close(&conn);
	box_close(&box);
	free(o);
	return rc;
}
