/* stage.c: one agent stage = boot -> provision -> claude-code -> collect ->
 * power off, in a fresh VM; why it ended (causes), and which mode runs
 * it (VM or mock).
 *
 * The LLM credential stays here: the guest gets a per-VM gateway token
 * as its API key and a base URL on its own loopback, which the agent
 * relays to this process (host/gateway/). What goes into the VM and
 * comes out is provision.c; claude-code itself, read live, is claude.c.
 *
 * Every phase is timed; the split (boot, provision, run, collect,
 * teardown) is what `make bench` reports as stage overhead.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <time.h>
#include <unistd.h>

#include "run.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../spec/spec.h"
#include "../gateway/gateway.h"
#include "../image/image.h"
#include "../llm/llm.h"
#include "../otel/otel.h"
#include "../util/util.h"
#include "../vmm/vmcfg.h"

#define READY_TIMEOUT_MS 300000	/* nested TCG test hosts boot slowly */

enum stage_status stage_status_of(enum stage_cause c)
{
	switch (c) {
	case CAUSE_NONE:
		return STAGE_OK;
	case CAUSE_CONFIG:
		return STAGE_CONFIG;
	case CAUSE_NO_KVM:
	case CAUSE_VM_START:
	case CAUSE_VMM_DIED:
		return STAGE_VM;
	case CAUSE_TIMEOUT:
		return STAGE_TIMEOUT;
	default:
		return STAGE_FAILED;
	}
}

static void set_cause(struct stage_result *r, enum stage_cause c)
{
	r->cause = c;
	r->status = stage_status_of(c);
	r->vmm_died = c == CAUSE_VMM_DIED;
}

void stage_fail(struct stage_result *r, enum stage_cause c, const char *fmt,
		...)
{
	va_list ap;

	if (r->cause != CAUSE_NONE || c == CAUSE_NONE)
		return;		/* keep the first cause */
	set_cause(r, c);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

void stage_vm_ended(struct stage_result *r, bool died, const char *why)
{
	if (died && r->cause == CAUSE_NONE) {
		stage_fail(r, CAUSE_VMM_DIED, "%s", why);
	} else if (r->cause == CAUSE_AGENT_LOST) {
		/* Say why the VM went away, not only that it did. */
		size_t l = strlen(r->error);
		snprintf(r->error + l, sizeof(r->error) - l, "; the VM %s",
			 why);
		if (died)
			set_cause(r, CAUSE_VMM_DIED);
	} else if (died && r->cause == CAUSE_VM_START) {
		set_cause(r, CAUSE_VMM_DIED);	/* not a boot failure */
		/* Killed while the agent was being reached (a restore's
		 * resume, the first connection): say how it died too. */
		if (!strstr(r->error, why)) {
			size_t l = strlen(r->error);
			snprintf(r->error + l, sizeof(r->error) - l,
				 "; the VM %s", why);
		}
	}
}


/* Where the credential comes from and where requests go: the provider's
 * row of the providers table (host/llm/), unless llm.* overrides it. */
static int upstream_for(const struct llm_cfg *l, struct gw_upstream *up,
			char *err, size_t errlen)
{
	const struct llm_provider *p = llm_provider(l->provider);
	const char *url = l->base_url[0] ? l->base_url : NULL;
	const char *keyenv = l->api_key_env[0] ? l->api_key_env : NULL;

	*up = (struct gw_upstream){ 0 };
	snprintf(up->provider, sizeof(up->provider), "%s", l->provider);
	if (!p || p->refused || !p->nroutes) {
		snprintf(err, errlen, "llm.provider %s is not supported for "
			 "VM runs (use claude, ollama or custom)", l->provider);
		return -1;
	}
	if (!url && p->base_url_env && getenv(p->base_url_env))
		url = getenv(p->base_url_env);
	if (!url && !(url = p->base_url)) {
		snprintf(err, errlen, "llm.provider %s needs llm.base_url",
			 p->name);
		return -1;
	}
	keyenv = keyenv ? keyenv : p->key_env;
	if (gateway_parse_url(url, up, err, errlen) < 0)
		return -1;
	if (keyenv) {
		const char *k = getenv(keyenv);
		if (!k || !*k) {
			snprintf(err, errlen, "%s is not set (the API key for "
				 "llm.provider %s; it stays on this host)",
				 keyenv, l->provider);
			return -1;
		}
		if (strlen(k) >= sizeof(up->cred_value) || strpbrk(k, "\r\n")) {
			snprintf(err, errlen, "%s: not a valid API key", keyenv);
			return -1;
		}
		snprintf(up->cred_name, sizeof(up->cred_name), "%s",
			 p->key_header);
		snprintf(up->cred_value, sizeof(up->cred_value), "%s", k);
	} else {
		/* Local Ollama ignores the token but expects one. */
		snprintf(up->cred_name, sizeof(up->cred_name), "%s",
			 p->keyless_header);
		snprintf(up->cred_value, sizeof(up->cred_value), "%s",
			 p->keyless_value);
	}
	up->ca_path = getenv("VOIDBOX_CA_FILE");
	return 0;
}

int stage_preflight(const struct box_cfg *bc, char *err, size_t errlen)
{
	struct gw_upstream up;
	int r = upstream_for(&bc->llm, &up, err, errlen);

	explicit_bzero(&up, sizeof(up));	/* it holds a copy of the key */
	return r;
}

int stage_record_open(const struct stage_opts *o, const char *box,
		      const char *file)
{
	char path[4096];

	if (!o->run_dir)
		return -1;
	mkdir(o->run_dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", o->run_dir, box);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", o->run_dir, box, file);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		log_warn("run dir: %s", path);
	return fd;
}

int stage_run(const struct box_cfg *bc, const struct stage_opts *o,
	      struct stage_result *r)
{
	struct gw_upstream up;
	struct gw_budget budget = { .max_tokens = bc->llm.max_tokens,
				    .max_usd = bc->llm.max_usd };
	struct box b = { .pid = -1, .sock = -1, .svc_fd = -1 };
	struct gateway *gw = NULL;
	struct agent_conn c = { .fd = -1 };
	char err[1024];
	bool have_mcp = false;
	uint64_t t0 = mono_ns(), t;
	struct image_use img = { 0 };
	struct box_cfg with_img;
	struct warm warm = { 0 };
	struct attach *at = NULL;

	*r = (struct stage_result){ .status = STAGE_OK,
				    .start_unix_ns = otel_now_ns() };
	snprintf(r->name, sizeof(r->name), "%s", bc->name);
	if (o->span_ids) {
		memcpy(r->span_stage, o->span_ids, 8);
		memcpy(r->span_claude, o->span_ids + 8, 8);
	}
	if (upstream_for(&bc->llm, &up, err, sizeof(err)) < 0) {
		stage_fail(r, CAUSE_CONFIG, "%s", err);
		return -1;
	}
	if (!o->tools_disk && o->tools_fd <= 0) {
		stage_fail(r, CAUSE_CONFIG, "no claude-code tools image: %s; "
			   "use the full voidbox release, or pass --tools-disk "
			   "FILE (or set VOIDBOX_TOOLS_DISK)", o->tools_err
			   ? o->tools_err : "none given");
		return -1;
	}
	/* The spec's VM as it is, plus what a claude stage adds: the tools
	 * disk, the gateway's service channel and relay port, the console
	 * and the whole-VM backstop. A shallow copy: bc keeps its lists. */
	char extra[64];
	snprintf(extra, sizeof(extra), "%s%d", AGENT_CMDLINE_GW, GW_GUEST_PORT);
	struct vm_cfg cfg = bc->vm;
	cfg.console = o->console;
	cfg.append = extra;
	/* An interactive session has no time limit, so no backstop. */
	cfg.timeout_ms = o->interactive ? 0 : (bc->timeout_s + 120) * 1000u;
	/* The tools image is /dev/vda; the spec's volumes follow it. */
	if (bc->vm.ndisks >= VM_MAX_DISKS) {
		stage_fail(r, CAUSE_CONFIG, "too many volumes for a claude "
			   "stage (at most %d)", VM_MAX_DISKS - 1);
		return -1;
	}
	for (unsigned i = 0; i < bc->vm.ndisks; i++)
		cfg.disk[i + 1] = bc->vm.disk[i];
	cfg.disk[0] = (struct vm_disk_cfg){ .path = (char *)o->tools_disk,
					    .fd = o->tools_fd,
					    .off = o->tools_off,
					    .len = o->tools_len, .ro = true };
	cfg.ndisks = bc->vm.ndisks + 1;
	cfg.services = true;
	/* sandbox.image: its root after the volumes; its Env reaches
	 * claude-code through the stage's own copy of the box. */
	if (bc->image) {
		if (cfg.ndisks >= VM_MAX_DISKS) {
			stage_fail(r, CAUSE_CONFIG, "too many volumes with an "
				   "image (at most %d)", VM_MAX_DISKS - 2);
			return -1;
		}
		if (image_use(bc->image, &img, err, sizeof(err)) < 0) {
			stage_fail(r, CAUSE_CONFIG, "%s", err);
			return -1;
		}
		cfg.disk[cfg.ndisks++] = (struct vm_disk_cfg){
			.path = img.root, .ro = true };
		cfg.root_disk = cfg.ndisks;
		with_img = *bc;
		with_img.image_env = img.env;
		bc = &with_img;
	}
	/* The stage's own copy: its gateway (for progress) once started;
	 * always cold when interactive (templates hold a headless
	 * claude-code waiting: not this). */
	struct stage_opts own = *o;
	own.cold |= o->interactive;
	o = &own;
	if (warm_begin(&warm, &cfg, o, bc, err, sizeof(err)) < 0) {
		stage_fail(r, CAUSE_CONFIG, "sandbox.snapshot: %s", err);
		goto teardown;
	}
	/* Making a waiting template, claude-code starts before the stage's
	 * own limit begins (at the attach): the backstop allows for it. */
	unsigned ready_ms = bc->timeout_s * 1000u < WAITING_READY_MS
			    ? bc->timeout_s * 1000u : WAITING_READY_MS;
	if (warm.make && warm.waiting)
		cfg.timeout_ms += ready_ms;
	/* The gateway starts once the agent is ready: the guest opens no
	 * connection to it before claude-code runs. */
	if (box_boot(&b, warm.restore ? &warm.rcfg : &cfg, READY_TIMEOUT_MS,
		     err, sizeof(err)) < 0 ||
	    warm_ready(&warm, &b, &cfg, o, bc->image, bc->name, err,
		       sizeof(err)) < 0) {
		stage_fail(r, CAUSE_VM_START, "%s", err);
		goto teardown;
	}
	if (!(gw = gateway_start(b.svc_fd, &up, &budget, o->gw_pool, bc->name, err,
				 sizeof(err)))) {
		stage_fail(r, CAUSE_GATEWAY, "%s", err);
		goto teardown;
	}
	own.gw = gw;
	t = mono_ns();
	r->boot_ns = t - t0;
	r->warm = warm.restore;
	if (agent_open(&c, &b, 10000) < 0) {
		stage_fail(r, CAUSE_VM_START, "agent: %s", c.err);
		goto teardown;
	}
	/* `voidbox attach NAME` opens a terminal in this VM while the
	 * stage runs (several runs with one box name: NAME-2 and so on). */
	if ((at = attach_serve_free(&b, bc->name, r->attach_name,
				    sizeof(r->attach_name), err,
				    sizeof(err))))
		log_info("[vm:%s] attach: voidbox attach %s", bc->name,
			 r->attach_name);
	else
		log_debug("[vm:%s] no attach socket: %s", bc->name, err);
	uint32_t park_id = warm.restore && warm.waiting ? warm.meta.park_id
							: 0;
	if (park_id) {
		have_mcp = provision_has_mcp(bc);	/* in the template */
	} else {
		if (provision_run(&c, bc, &have_mcp, r) < 0)
			goto teardown;
		if (warm.make && warm.waiting) {
			/* The template: this VM with claude-code waiting,
			 * before anything of this stage's run is in it. */
			char src[80];
			snprintf(src, sizeof(src), "vm:%s", bc->name);
			if (waiting_start(&b, bc, have_mcp, ready_ms,
					  &park_id, err, sizeof(err)) < 0)
				log_say(src, "no template made: %s; claude-code "
					"starts the usual way", err);
			else
				warm_make(&warm, &b, &cfg, o, bc->image,
					  bc->name, park_id);
		}
	}
	if (park_id && waiting_token(&c, gateway_token(gw), o->traceparent,
				     r) < 0)
		goto teardown;
	r->waiting = park_id != 0;
	if (provision_input(&c, o, r) < 0)
		goto teardown;
	r->provision_ns = mono_ns() - t;
	t = mono_ns();
	struct claude_sampler smp;
	stage_progress(o, bc->name, PH_AGENT, NULL, NULL);
	claude_sampler_start(&smp, &b, r);
	if (o->interactive)
		claude_interactive(&c, bc, o, gateway_token(gw), have_mcp, r);
	else
		claude_run(&c, bc, o, gateway_token(gw), have_mcp, park_id, r);
	r->run_ns = mono_ns() - t;
	claude_sampler_stop(&smp);
	if (bc->vm.net.enabled) {
		char nd[512];
		int code = -1;
		if (provision_sh(&c, "awk '/eth0:/ { print $2, $10 }' /proc/net/dev",
			     nd, sizeof(nd), &code) == 0 && code == 0)
			sscanf(nd, "%" SCNu64 " %" SCNu64, &r->guest_net_rx,
			       &r->guest_net_tx);
	}
	t = mono_ns();
	stage_progress(o, bc->name, PH_COLLECT, NULL, NULL);
	if (r->exec.err == 0 && r->cause != CAUSE_TIMEOUT && !o->interactive)
		provision_collect(&c, bc, r);
	r->collect_ns = mono_ns() - t;
teardown:
	t = mono_ns();
	/* Without volumes nothing in the VM outlives the stage (the tools
	 * disk is read-only, shared directories are written through to the
	 * host), so there is no guest shutdown to wait for: the VMM stops
	 * the vCPUs and exits at once. With volumes the guest syncs and
	 * powers off first, so what it wrote is on them. */
	attach_stop(at);
	if (bc->vm.ndisks && c.fd >= 0 && b.pid > 0) {
		agent_poweroff(&c);
		box_wait_exit(&b, 10000);
	}
	agent_close(&c);
	if (b.pid > 0) {
		box_stop(&b, 2000);
		stage_vm_ended(r, box_vmm_crashed(&b),
			       box_end_reason(&b, err, sizeof(err)));
	}
	if (gw) {
		gateway_get_stats(gw, &r->gw);
		own.gw = NULL;
		gateway_stop(gw);
		if (r->gw.key_blocked) {
			/* Above any other outcome: the upstream tried to hand
			 * the key to the guest (stopped by the gateway). */
			set_cause(r, CAUSE_KEY_LEAK);
			snprintf(r->error, sizeof(r->error), "security: the "
				 "upstream's reply contained the API key %u "
				 "time(s); the gateway did not relay it and "
				 "aborted the stream", r->gw.key_blocked);
		}
	}
	int cfd = stage_record_open(o, bc->name, "console.txt");
	if (cfd >= 0) {
		agent_write_all(cfd, b.console, strlen(b.console));
		close(cfd);
	}
	box_close(&b);
	warm_end(&warm);
	image_use_free(&img);
	r->teardown_ns = mono_ns() - t;
	r->total_ns = mono_ns() - t0;
	r->guest_rss_kb = b.guest_rss_kb;
	return r->status == STAGE_OK ? 0 : -1;
}

void stage_progress(const struct stage_opts *o, const char *stage,
		    enum stage_phase ph, const struct claude_event *ev,
		    const struct stage_result *r)
{
	struct stage_progress p = { .phase = ph, .ev = ev, .r = r };

	if (!o->on_progress)
		return;
	if (o->gw)
		gateway_usage(o->gw, &p.tokens_in, &p.tokens_out, &p.usd);
	o->on_progress(o->progress_ctx, stage, &p);
}

void stage_result_free(struct stage_result *r)
{
	claude_stream_free(r->stream);
	r->stream = NULL;
	free(r->output);
	r->output = NULL;
	free(r->tool_times);
	r->tool_times = NULL;
}

const char *stage_result_text(const struct stage_result *r)
{
	if (r->mock)
		return r->mock_text[0] ? r->mock_text : NULL;
	return r->stream ? claude_stream_result(r->stream)->result_text : NULL;
}

static bool kvm_usable;
static char kvm_why[200];

/* A usable KVM opens, and is not nested PVM (which runs only our tiny
 * test guests, never Linux user space: docs/architecture.md §0). */
static void probe_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(kvm_why, sizeof(kvm_why), "/dev/kvm: %s",
			 strerror(errno));
		return;
	}
	close(fd);
	if (kvm_is_pvm() && !getenv("VOIDBOX_ALLOW_PVM")) {
		snprintf(kvm_why, sizeof(kvm_why), "this host's /dev/kvm is "
			 "nested PVM, which cannot run Linux guests");
		return;
	}
	kvm_usable = true;
}

static void announce_mock(void)
{
	log_say("voidbox", "MOCK MODE: %s; sandbox.mode auto falls back to "
		"the deterministic fake agent: no VM and no model run. Set "
		"sandbox.mode: local to insist on VMs.", kvm_why);
}

bool stage_mode_mock(enum run_mode mode, char *why, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (mode == MODE_MOCK)
		return true;
	pthread_once(&once, probe_kvm);
	snprintf(why, len, "%s", kvm_why);
	return !kvm_usable && mode == MODE_AUTO;
}

int stage_run_any(const struct box_cfg *bc, const struct stage_opts *o,
		  struct stage_result *r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	static pthread_once_t told = PTHREAD_ONCE_INIT;

	if (bc->mode == MODE_MOCK)
		return mock_run(bc, o, r);
	pthread_once(&once, probe_kvm);
	if (kvm_usable)
		return stage_run(bc, o, r);
	if (bc->mode == MODE_AUTO) {
		pthread_once(&told, announce_mock);
		return mock_run(bc, o, r);
	}
	*r = (struct stage_result){ .status = STAGE_OK };
	snprintf(r->name, sizeof(r->name), "%s", bc->name);
	stage_fail(r, CAUSE_NO_KVM, "%s (sandbox.mode local needs a KVM that "
		   "runs Linux guests: VMX/SVM, or nested KVM on one)",
		   kvm_why);
	return -1;
}
