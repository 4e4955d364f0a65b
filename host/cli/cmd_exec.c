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
#include "../image/image.h"
#include "../net/net.h"
#include "../snap/snap.h"
#include "../spec/spec.h"
#include "../util/util.h"

#define MAX_LIST 256
#define BOOT_TIMEOUT_MS 120000	/* generous: nested test hosts are slow */

struct xfer {
	char *local, *guest;	/* point into argv copies */
};

struct exec_opts {
	struct vm_cfg vm;
	const char *env[MAX_LIST + 1];
	const char *allow[MAX_LIST + 1];
	struct xfer put[MAX_LIST], get[MAX_LIST];
	unsigned nenv, nallow, nput, nget;
	const char *workdir;
	const char *tools_disk;		/* --tools-disk, else VOIDBOX_TOOLS_DISK */
	bool no_tools;
	struct tools_image ti;		/* the full build's own image */
	const char *image;		/* --image REF */
	struct image_use img;
	bool root;
	uint32_t uid, gid;
	unsigned timeout_s;
	char **argv;
	const char *snapshot;		/* --snapshot NAME: restore it */
	struct snap_meta snap;
	const char *create;		/* `snapshot create NAME` */
	bool tty;			/* --tty, or `shell` */
	bool default_cmd;		/* shell: none given */
	const char *cmd_only;		/* an option only a command takes */
};

static void exec_usage(void)
{
	fprintf(stderr,
		"usage: voidbox exec [OPTIONS] [--] CMD [ARGS...]\n"
		"  command: [--env K=V]... [--workdir DIR]\n"
		"           [--user root|agent|UID[:GID]] [--timeout S]\n"
		"           [--allow-cmd NAME]... [--put LOCAL:GUEST]...\n"
		"           [--get GUEST:LOCAL]... [--tools-disk FILE | --no-tools]\n"
		"           [--image ARCHIVE|NAME|sha256:DIGEST]\n"
		"           [--snapshot NAME]  (start from a snapshot: its "
		"memory, disks, image)\n"
		"           [--tty]  (a terminal in the guest: for interactive "
		"programs)\n%s",
		vmopts_usage);
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

enum { EO_TIMEOUT = VMOPT_OWN, EO_ENV, EO_ALLOW_CMD, EO_WORKDIR, EO_USER,
       EO_PUT, EO_GET, EO_TOOLS_DISK, EO_NO_TOOLS, EO_IMAGE, EO_SNAPSHOT,
       EO_TTY };
static const struct option own_opts[] = {
	{ "timeout", required_argument, NULL, EO_TIMEOUT },
	{ "env", required_argument, NULL, EO_ENV },
	{ "allow-cmd", required_argument, NULL, EO_ALLOW_CMD },
	{ "workdir", required_argument, NULL, EO_WORKDIR },
	{ "user", required_argument, NULL, EO_USER },
	{ "put", required_argument, NULL, EO_PUT },
	{ "get", required_argument, NULL, EO_GET },
	{ "tools-disk", required_argument, NULL, EO_TOOLS_DISK },
	{ "no-tools", no_argument, NULL, EO_NO_TOOLS },
	{ "tty", no_argument, NULL, EO_TTY },
	{ "image", required_argument, NULL, EO_IMAGE },
	{ "snapshot", required_argument, NULL, EO_SNAPSHOT },
	{ 0 },
};

static int parse(int argc, char **argv, struct exec_opts *o, bool shell)
{
	struct option tab[64];
	struct vmopts vo = { .vc = &o->vm };
	unsigned long long v;
	int ch, r;

	vmopts_table(tab, sizeof(tab) / sizeof(*tab), own_opts);
	optind = 0;	/* a fresh scan (also resets musl's and glibc's) */
	opterr = 0;
	/* '+': the command starts at the first non-option (no permuting
	 * the guest command's own options); ':': missing values told. */
	while ((ch = getopt_long(argc, argv, "+:", tab, NULL)) != -1) {
		const char *val = optarg;
		if (ch == '?' || ch == ':')
			return vmopts_bad("exec", ch, argv);
		if ((r = vmopts_apply(&vo, ch, val)) != 0) {
			if (r < 0)
				return -1;
			continue;
		}
		for (const struct option *op = own_opts; op->name; op++)
			if (op->val == ch && ch != EO_ENV && ch != EO_IMAGE &&
			    ch != EO_TOOLS_DISK && ch != EO_NO_TOOLS &&
			    ch != EO_TTY)
				o->cmd_only = op->name;	/* not for claude */
		switch (ch) {
		case EO_TIMEOUT:
			if (args_uint("--timeout", val, 1, 86400 * 7, &v) < 0)
				return -1;
			o->timeout_s = (unsigned)v;
			break;
		case EO_ENV:
			if (!strchr(val, '=') || val[0] == '=' ||
			    o->nenv == MAX_LIST) {
				log_warnx("--env: expected K=V, got '%s'", val);
				return -1;
			}
			o->env[o->nenv++] = val;
			break;
		case EO_ALLOW_CMD:
			if (!val[0] || o->nallow == MAX_LIST) {
				log_warnx("--allow-cmd: bad value '%s'", val);
				return -1;
			}
			o->allow[o->nallow++] = val;
			break;
		case EO_WORKDIR:
			o->workdir = val;
			break;
		case EO_USER:
			if (parse_user(val, o) < 0)
				return -1;
			break;
		case EO_TOOLS_DISK:
			if (!val[0]) {
				log_warnx("--tools-disk: empty");
				return -1;
			}
			o->tools_disk = val;
			break;
		case EO_NO_TOOLS:
			o->no_tools = true;
			break;
		case EO_TTY:
			o->tty = true;
			break;
		case EO_IMAGE:
			if (!val[0]) {
				log_warnx("--image: empty");
				return -1;
			}
			o->image = val;
			break;
		case EO_SNAPSHOT:
			if (!snap_name_ok(val)) {
				log_warnx("--snapshot: bad name '%s'", val);
				return -1;
			}
			o->snapshot = val;
			break;
		case EO_PUT:
		case EO_GET: {
			bool put = ch == EO_PUT;
			unsigned *n = put ? &o->nput : &o->nget;
			if (*n == MAX_LIST || split_xfer(put ? "--put" : "--get",
					(char *)val, put ? &o->put[*n]
							 : &o->get[*n]) < 0)
				return -1;
			(*n)++;
			break;
		}
		}
	}
	o->argv = argv + optind;
	if (!o->argv[0] && shell) {
		/* A login shell, so /etc/profile sets the prompt. */
		static char *dflt[] = { "/bin/sh", "-c", SHELL_DEFAULT_SH,
					NULL };
		o->argv = dflt;
		o->default_cmd = true;
	}
	if (!o->argv[0] && !o->create) {
		log_warnx("exec: no command given");
		return -1;
	}
	char why[512];
	if (o->create && snap_cfg_check(&o->vm, why, sizeof(why)) < 0) {
		log_warnx("snapshot create: %s", why);
		return -1;
	}
	if (o->snapshot && (o->image || o->tools_disk || o->no_tools ||
			    o->create)) {
		log_warnx("exec: --snapshot brings its own image and tools; "
			  "--image, --tools-disk and --no-tools do not go with "
			  "it");
		return -1;
	}
	if (o->no_tools && o->tools_disk) {
		log_warnx("exec: --tools-disk and --no-tools contradict each other");
		return -1;
	}
	return vmopts_finish(&vo);
}

/* The tools image (claude-code and the toolbox: git, python3, curl...):
 * --tools-disk, VOIDBOX_TOOLS_DISK, else the full build's own; a slim
 * build without either runs the bare initramfs. It goes after the user's
 * --disk images, so theirs keep /dev/vda..., and vb.tools names it for the
 * agent instead of its probe. With every disk slot taken by the user's,
 * it is left out with a warning. 0, or -1 after saying why. */
static int attach_tools(struct exec_opts *o)
{
	const char *path = o->tools_disk;
	struct vm_disk_cfg d = { .ro = true };
	char err[256], arg[32];

	if (o->no_tools)
		return 0;
	if (!path && getenv("VOIDBOX_TOOLS_DISK") && getenv("VOIDBOX_TOOLS_DISK")[0])
		path = getenv("VOIDBOX_TOOLS_DISK");
	if (!path) {
		o->ti.fd = -1;
		if (trailer_tools(&o->ti, err, sizeof(err)) < 0)
			return 0;
		d.fd = o->ti.fd;
		d.off = o->ti.off;
		d.len = o->ti.len;
	}
	if (o->vm.ndisks >= VM_MAX_DISKS) {
		/* The user's disks come first: say so and go on without. */
		log_warnx("exec: %u disks leave no room for the tools image; "
			  "running without it (--no-tools says this is meant)",
			  o->vm.ndisks);
		return 0;
	}
	snprintf(arg, sizeof(arg), AGENT_CMDLINE_TOOLS "vd%c", 'a' + o->vm.ndisks);
	size_t n = strlen(arg) + (o->vm.append ? strlen(o->vm.append) + 1 : 0) + 1;
	char *app = malloc(n);
	if (!app || (path && vm_cfg_set(&d.path, path) < 0)) {
		free(app);
		log_warnx("exec: out of memory");
		return -1;
	}
	snprintf(app, n, "%s%s%s", arg, o->vm.append ? " " : "",
		 o->vm.append ? o->vm.append : "");
	free(o->vm.append);
	o->vm.append = app;
	o->vm.disk[o->vm.ndisks++] = d;
	return 0;
}

/* --image: the user's OCI image as the guest's root (host/image/use.c,
 * guest/agent/imageroot.c). Its EROFS root goes after the user's disks
 * and before the tools image; its Env fills in what --env left unset,
 * its WorkingDir is the default --workdir. Its User is not applied: the
 * workload runs as agent (uid 1000) or --user, as without an image.
 * 0, or -1 after saying why. */
static int attach_image(struct exec_opts *o)
{
	char err[1024];

	if (!o->image)
		return 0;
	if (image_use(o->image, &o->img, err, sizeof(err)) < 0) {
		log_warnx("exec: %s", err);
		return -1;
	}
	if (o->vm.ndisks >= VM_MAX_DISKS) {
		log_warnx("exec: %u disks leave no room for the image",
			  o->vm.ndisks);
		return -1;
	}
	struct vm_disk_cfg d = { .ro = true };
	if (vm_cfg_set(&d.path, o->img.root) < 0) {
		log_warnx("exec: out of memory");
		return -1;
	}
	o->vm.disk[o->vm.ndisks++] = d;
	o->vm.root_disk = o->vm.ndisks;
	unsigned user_env = o->nenv;
	for (size_t i = 0; o->img.env && o->img.env[i]; i++) {
		const char *kv = o->img.env[i], *eq = strchr(kv, '=');
		bool set = !eq || eq == kv;
		for (unsigned k = 0; !set && k < user_env; k++)
			set = !strncmp(o->env[k], kv, (size_t)(eq - kv + 1));
		if (set)
			continue;
		if (o->nenv == MAX_LIST) {
			log_warnx("exec: the image has too many Env entries");
			return -1;
		}
		o->env[o->nenv++] = kv;
	}
	if (!o->workdir && o->img.workdir[0])
		o->workdir = o->img.workdir;
	if (o->img.user[0] && strcmp(o->img.user, "root") &&
	    strcmp(o->img.user, "0"))
		log_info("exec: the image's User '%s' is not applied (the "
			 "command runs as %s)", o->img.user,
			 o->root ? "root" : "agent, uid 1000; --user sets it");
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
	if (kvm_is_pvm() && !o->vm.kernel_path &&
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

/* --snapshot: the VM is the snapshot's (memory, vCPUs, disks); what is
 * per run (network rules, name, timeout) stays the caller's. Each
 * restore is a clone with its own vsock CID and MAC, and its own hostname
 * unless --hostname names one. 0, or -1 after saying why. */
static int attach_snapshot(struct exec_opts *o, char *hostname, size_t hlen)
{
	char err[512];

	if (!o->snapshot)
		return 0;
	bool named = o->vm.hostname[0];
	if (snap_load(o->snapshot, &o->snap, err, sizeof(err)) < 0 ||
	    snap_restore_cfg(&o->snap, &o->vm, err, sizeof(err)) < 0) {
		log_warnx("exec: %s", err);
		return -1;
	}
	if (snap_clone_identity(&o->snap, named ? o->vm.hostname : NULL,
				&o->vm, hostname, hlen) < 0)
		return -1;
	for (unsigned i = 0; i < o->snap.ndisks; i++)
		if (o->snap.disk[i].embedded_tools)
			o->ti.fd = o->vm.disk[i].fd;	/* closed at the end */
	return 0;
}

/* `snapshot create NAME`: the booted (and, with a command, provisioned)
 * VM becomes NAME, then stops. */
static int take_snapshot(struct exec_opts *o, struct box *box)
{
	struct snap_meta m;
	char err[512];
	bool tools = false;

	for (unsigned i = 0; i < o->vm.ndisks; i++)
		tools |= !o->vm.disk[i].path;
	if (snap_create(o->create, box, &o->vm, tools ? o->ti.sha256 : NULL,
			o->image, true, 0, &m, err, sizeof(err)) < 0) {
		log_warnx("[vm:%s] %s", box->name, err);
		return -1;
	}
	log_info("[vm:%s] snapshot %s: %llu MiB of RAM, %.1f MiB on disk, "
		 "VM paused %.1f ms", box->name, m.name,
		 (unsigned long long)m.mem_mb, (double)m.disk_bytes / (1 << 20),
		 (double)m.took_ns / 1e6);
	printf("%s\n", m.name);
	return 0;
}

/* shell --file: the box's VM, env and image are where the options
 * start from. 0, or -1 (out of memory). */
static int from_base(struct exec_opts *o, const struct box_cfg *b)
{
	if (vm_cfg_copy(&o->vm, &b->vm) < 0)
		return -1;
	for (size_t i = 0; i < b->nenv && o->nenv < MAX_LIST; i++)
		o->env[o->nenv++] = b->env[i];
	o->image = b->image;
	o->snapshot = b->snapshot;
	o->timeout_s = 0;	/* a session lasts as long as its user */
	return 0;
}

/* The session: the guest command on a terminal joined to ours (raw while
 * it runs, put back whatever happens), sized like ours and resized with
 * it. The holder serves attach on the VM's name meanwhile. */
static int run_tty(struct box *box,
		   struct agent_conn *conn, struct agent_exec_req *req,
		   struct agent_exec_res *res)
{
	char err[256], name[48];
	struct attach *at = attach_serve_free(box, box->name, name,
					      sizeof(name), err, sizeof(err));

	if (at)
		log_info("[vm:%s] attach: voidbox attach %s", box->name, name);
	else
		log_info("[vm:%s] no attach socket: %s", box->name, err);
	int r = agent_exec_tty(conn, 0, req, res);
	attach_stop(at);
	return r;
}

static int exec_main(const struct cli_globals *g, int argc, char **argv,
		     const struct exec_mode *m)
{
	const char *create = m->create;
	struct exec_opts *o = calloc(1, sizeof(*o));
	struct agent_conn conn = { .fd = -1 };
	struct agent_exec_res res = { 0 };
	struct box box = { .pid = -1, .sock = -1 };
	char err[512];
	int rc = VB_EXIT_USAGE;
	uint64_t t0 = mono_ns(), t_ready = 0, t_exec = 0, t_done = 0;

	if (!o)
		return VB_EXIT_FAIL;
	char clone_host[VM_HOSTNAME_MAX] = "";

	o->ti.fd = -1;
	o->create = create;
	o->tty = m->shell;
	if (m->base) {
		if (from_base(o, m->base) < 0) {
			log_warnx("exec: out of memory");
			goto out;
		}
	} else {
		vm_cfg_init(&o->vm, create ? "snapshot" : m->shell ? "shell"
							  : "exec");
	}
	if (parse(argc, argv, o, m->shell) < 0) {
		exec_usage();
		goto out;
	}
	if (m->claude && o->default_cmd) {
		/* claude-code, if the shell can have it. */
		struct shell_claude q = {
			.vm = &o->vm, .env = (char *const *)o->env,
			.nenv = o->nenv, .image = o->image,
			.tools_disk = o->tools_disk ? o->tools_disk
				      : getenv("VOIDBOX_TOOLS_DISK"),
			.no_tools = o->no_tools, .cmd_only = o->cmd_only,
		};
		char why[512] = "";
		rc = VB_EXIT_VM_FAIL;
		if (host_check(o) < 0)
			goto out;
		if ((rc = m->claude(m->ctx, &q, why, sizeof(why))) >= 0)
			goto out;
		log_info("shell: %s; starting a shell instead of claude-code",
			 why);
		rc = VB_EXIT_USAGE;
	}
	/* A terminal wants a TERM; ours, unless --env gave one. */
	bool has_term = false;
	for (unsigned i = 0; i < o->nenv; i++)
		has_term |= !strncmp(o->env[i], "TERM=", 5);
	char termenv[80];
	if (o->tty && !has_term && o->nenv < MAX_LIST) {
		snprintf(termenv, sizeof(termenv), "TERM=%s", term_name());
		o->env[o->nenv++] = termenv;
	}
	rc = VB_EXIT_VM_FAIL;
	if (attach_snapshot(o, clone_host, sizeof(clone_host)) < 0)
		goto out;
	rc = VB_EXIT_USAGE;
	/* An image that cannot be had is "cannot boot" (125), like a bad
	 * kernel; it goes before the tools image (disk order). */
	if (attach_image(o) < 0) {
		rc = VB_EXIT_VM_FAIL;
		goto out;
	}
	if (!o->snapshot && attach_tools(o) < 0)
		goto out;
	rc = VB_EXIT_VM_FAIL;
	if (host_check(o) < 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	if (box_boot(&box, &o->vm, BOOT_TIMEOUT_MS, err, sizeof(err)) < 0) {
		log_warnx("[vm:%s] %s", box.name, err);
		if (box.console[0] && !o->vm.console) {
			fputs("--- last console output ---\n", stderr);
			write_guest_text(stderr, box.console,
					 strlen(box.console));
			fputs("\n---\n", stderr);
		}
		rc = box_vmm_crashed(&box) ? VB_EXIT_VMM_CRASH
					   : VB_EXIT_VM_FAIL;
		goto out;
	}
	if (o->snapshot) {
		/* The guest knows the snapshot's secret until told its own. */
		memcpy(box.secret, o->snap.secret, sizeof(box.secret));
		if (agent_resume(&box, clone_host, o->vm.mac, 0, 30000, err,
				 sizeof(err)) < 0) {
			log_warnx("[vm:%s] %s", box.name, err);
			goto out_stop;
		}
		/* Ready means ready for work: the clone knows who it is. */
		box.ready_ns = mono_ns() - box.t_spawn_ns;
	}
	t_ready = mono_ns();
	if (create && !o->argv[0]) {
		rc = take_snapshot(o, &box) < 0 ? VB_EXIT_FAIL : VB_EXIT_OK;
		box_wait_exit(&box, 10000);
		goto out_stop;
	}
	if (agent_open(&conn, &box, 30000) < 0) {
		log_warnx("[vm:%s] %s", box.name, conn.err);
		goto out_stop;
	}
	struct agent_policy_req pol = { .allow = o->nallow ? o->allow : NULL };
	/* A snapshot's agent takes its policy from each clone (once per
	 * boot): the template's provisioning runs without one. */
	if (!create && agent_set_policy(&conn, &pol) < 0) {
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
	t_exec = mono_ns();
	if ((o->tty ? run_tty(&box, &conn, &req, &res)
		    : agent_exec(&conn, &req, &res)) < 0) {
		char why[300];
		/* Did the VM die under us? Say so rather than "conn lost". */
		box_stop(&box, 2000);
		log_warnx("[vm:%s] %s (%s)", box.name, conn.err,
			  box_end_reason(&box, why, sizeof(why)));
		rc = box_vmm_crashed(&box) ? VB_EXIT_VMM_CRASH
					   : VB_EXIT_VM_FAIL;
		goto out;
	}
	t_done = mono_ns();
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
	if (create) {
		/* Provisioned: snapshot it if the command succeeded. */
		agent_close(&conn);
		if (rc == 0)
			rc = take_snapshot(o, &box) < 0 ? VB_EXIT_FAIL : 0;
		else
			log_warnx("[vm:%s] provisioning failed (exit %d): no "
				  "snapshot", box.name, rc);
		box_wait_exit(&box, 10000);
		goto out_stop;
	}
	/* The guest syncs its disks (volumes) and powers off by itself;
	 * a stuck one is stopped after the wait. */
	agent_poweroff(&conn);
	box_wait_exit(&box, 10000);
out_stop:
	box_stop(&box, 5000);
	log_info("[vm:%s] ready %.1f ms (VMM setup %.1f ms), exec %.1f ms, "
		 "total %.1f ms", box.name, (double)box.ready_ns / 1e6,
		 (double)box.vmm_setup_ns / 1e6,
		 t_done ? (double)(t_done - t_exec) / 1e6 : 0.0,
		 (double)(mono_ns() - t0) / 1e6);
	if (g->json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "exit_code", rc);
		cJSON_AddNumberToObject(j, "ready_ms", (double)box.ready_ns / 1e6);
		cJSON_AddNumberToObject(j, "vmm_setup_ms",
					(double)box.vmm_setup_ns / 1e6);
		cJSON_AddNumberToObject(j, "exec_ms", t_done ?
					(double)(t_done - t_exec) / 1e6 : 0);
		cJSON_AddNumberToObject(j, "total_ms",
					(double)(mono_ns() - t0) / 1e6);
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
	vm_cfg_free(&o->vm);
	image_use_free(&o->img);
	if (o->ti.fd >= 0)
		close(o->ti.fd);
	free(o);
	return rc;
}

int cmd_exec(const struct cli_globals *g, int argc, char **argv)
{
	struct exec_mode m = { 0 };
	return exec_main(g, argc, argv, &m);
}

int cmd_exec_snapshot(const struct cli_globals *g, int argc, char **argv,
		      const char *name)
{
	struct exec_mode m = { .create = name };
	return exec_main(g, argc, argv, &m);
}

int cmd_exec_mode(const struct cli_globals *g, int argc, char **argv,
		  const struct exec_mode *m)
{
	return exec_main(g, argc, argv, m);
}
