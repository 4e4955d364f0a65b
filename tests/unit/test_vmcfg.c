/* test_vmcfg.c: the VM configuration codec (host/vmm/ipc.c) and the rules
 * of struct vm_cfg (host/vmm/vmcfg.c): every field survives the trip, the
 * unpacker refuses every malformed input without leaking or crashing (run
 * under ASan/UBSan), and the guest's command line is built from the cfg.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../host/vmm/ipc.h"

static int fails;
#define CHECK(name, cond) do { \
	if (cond) printf("PASS: %s\n", name); \
	else { printf("FAIL: %s (%s:%d)\n", name, __FILE__, __LINE__); \
	       fails++; } } while (0)

static bool lists_eq(char *const *a, char *const *b)
{
	size_t n = vm_cfg_list_len(a);

	if (n != vm_cfg_list_len(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Deep equality of everything the codec carries (fds excluded). */
static bool cfg_eq(const struct vm_cfg *a, const struct vm_cfg *b)
{
	bool ok = !strcmp(a->name, b->name) &&
		  !strcmp(a->hostname, b->hostname) &&
		  a->mem_mb == b->mem_mb && a->vcpus == b->vcpus &&
		  a->timeout_ms == b->timeout_ms && a->console == b->console &&
		  str_eq(a->kernel_path, b->kernel_path) &&
		  a->kernel_blob == b->kernel_blob &&
		  str_eq(a->initrd_path, b->initrd_path) &&
		  a->no_initrd == b->no_initrd &&
		  str_eq(a->cmdline, b->cmdline) &&
		  str_eq(a->append, b->append) && a->ndisks == b->ndisks &&
		  a->root_disk == b->root_disk &&
		  a->net.enabled == b->net.enabled &&
		  a->net.mode == b->net.mode &&
		  lists_eq(a->net.allow, b->net.allow) &&
		  lists_eq(a->net.hosts, b->net.hosts) &&
		  lists_eq(a->net.forwards, b->net.forwards) &&
		  a->net.max_conns == b->net.max_conns &&
		  a->net.conn_rate == b->net.conn_rate &&
		  a->net.private_dns == b->net.private_dns &&
		  a->net.npublish == b->net.npublish &&
		  !memcmp(a->net.publish, b->net.publish,
			  sizeof(a->net.publish)) &&
		  !strcmp(a->net.resolver, b->net.resolver) &&
		  a->services == b->services &&
		  !memcmp(a->secret, b->secret, sizeof(a->secret)) &&
		  a->log_level == b->log_level &&
		  a->seccomp_probe == b->seccomp_probe && a->probe == b->probe;
	for (unsigned i = 0; ok && i < VM_MAX_DISKS; i++)
		ok = str_eq(a->disk[i].path, b->disk[i].path) &&
		     a->disk[i].off == b->disk[i].off &&
		     a->disk[i].len == b->disk[i].len &&
		     a->disk[i].ro == b->disk[i].ro &&
		     (a->disk[i].fd > 0) == (b->disk[i].fd > 0);
	ok = ok && a->nmounts == b->nmounts;
	for (unsigned i = 0; ok && i < VM_MAX_MOUNTS; i++)
		ok = str_eq(a->mount[i].host, b->mount[i].host) &&
		     str_eq(a->mount[i].guest, b->mount[i].guest) &&
		     a->mount[i].ro == b->mount[i].ro &&
		     (a->mount[i].fd > 0) == (b->mount[i].fd > 0);
	return ok;
}

/* A configuration with every field away from its zero value. */
static void full(struct vm_cfg *c)
{
	vm_cfg_init(c, "full-vm");
	snprintf(c->hostname, sizeof(c->hostname), "agent-7");
	c->mem_mb = 2048;
	c->vcpus = 4;
	c->timeout_ms = 123456;
	c->console = true;
	vm_cfg_set(&c->kernel_path, "/k/bzImage");
	c->kernel_blob = 3;
	vm_cfg_set(&c->initrd_path, "/k/initrd");
	c->initrd_fd = 9;
	vm_cfg_set(&c->cmdline, "console=ttyS0 x=1");
	vm_cfg_set(&c->append, "vb.gw=4080");
	c->ndisks = 2;
	vm_cfg_set(&c->disk[0].path, "/tools.img");
	c->disk[0].off = 4096;
	c->disk[0].len = 1 << 20;
	c->disk[0].ro = true;
	c->disk[1].fd = 7;	/* lent as an open fd, no path */
	c->disk[1].off = 1;
	c->root_disk = 1;	/* disk 0 (read-only) is the root image */
	c->net.enabled = true;
	c->net.mode = VM_NET_ALLOW;
	vm_cfg_list_add(&c->net.allow, "api.example.com:443");
	vm_cfg_list_add(&c->net.allow, "10.0.0.0/8");
	vm_cfg_list_add(&c->net.hosts, "db=10.1.2.3");
	vm_cfg_list_add(&c->net.forwards, "10.0.2.100:80=127.0.0.1:8080");
	c->net.max_conns = 77;
	c->net.conn_rate = 9;
	c->net.private_dns = true;
	c->net.npublish = 2;
	c->net.publish[0].guest = 80;
	c->net.publish[0].host = 8080;
	c->net.publish[1].guest = 22;
	c->net.publish[1].host = 2222;
	snprintf(c->net.resolver, sizeof(c->net.resolver), "[::1]:53");
	c->services = true;
	for (unsigned i = 0; i < sizeof(c->secret); i++)
		c->secret[i] = (uint8_t)(i * 7 + 1);
	c->log_level = 3;
	c->seccomp_probe = true;
	c->probe = 2;
	char why[100];
	vm_cfg_mount_add(c, "/home/u/repo", "/workspace/repo", false, why,
			 sizeof(why));
	vm_cfg_mount_add(c, "data", "/data", true, why, sizeof(why));
}

static uint8_t buf[IPC_MAX];

int main(void)
{
	struct vm_cfg a, b, d;
	char err[256];

	full(&a);
	CHECK("vmcfg-full-is-valid", vm_cfg_check(&a, err, sizeof(err)) == 0);
	ssize_t n = ipc_cfg_pack(&a, buf, sizeof(buf));
	CHECK("vmcfg-pack", n > 0);
	CHECK("vmcfg-unpack", ipc_cfg_unpack(&b, buf, (size_t)n, err,
					     sizeof(err)) == 0);
	CHECK("vmcfg-round-trip-every-field", cfg_eq(&a, &b));
	CHECK("vmcfg-nfds", ipc_cfg_nfds(&b) == 1 + 1 + 2 + 2 + 1);
	int fds[7] = { 10, 11, 12, 13, 14, 15, 16 };
	CHECK("vmcfg-take-fds-count", ipc_cfg_take_fds(&b, fds, 6) < 0);
	CHECK("vmcfg-take-fds", ipc_cfg_take_fds(&b, fds, 7) == 0 &&
	      b.kernel_fd == 10 && b.initrd_fd == 11 &&
	      b.disk[0].fd == 12 && b.disk[1].fd == 13 &&
	      b.mount[0].fd == 14 && b.mount[1].fd == 15 && b.svc_fd == 16);
	vm_cfg_free(&b);

	/* A deep copy is equal and independent. */
	CHECK("vmcfg-copy", vm_cfg_copy(&d, &a) == 0 && cfg_eq(&a, &d) &&
	      d.net.allow != a.net.allow && d.append != a.append);
	vm_cfg_free(&d);

	/* The defaults travel too: an empty cfg is a few bytes. */
	struct vm_cfg z;
	vm_cfg_init(&z, "z");
	n = ipc_cfg_pack(&z, buf, sizeof(buf));
	CHECK("vmcfg-defaults-small", n > 0 && n < 64);
	CHECK("vmcfg-defaults-round-trip",
	      ipc_cfg_unpack(&b, buf, (size_t)n, err, sizeof(err)) == 0 &&
	      cfg_eq(&z, &b) && ipc_cfg_nfds(&b) == 0);
	vm_cfg_free(&b);

	/* Every truncation of a full message is refused, none crashes. */
	n = ipc_cfg_pack(&a, buf, sizeof(buf));
	unsigned refused = 0, accepted = 0;
	for (ssize_t cut = 0; cut < n; cut++) {
		if (ipc_cfg_unpack(&b, buf, (size_t)cut, err, sizeof(err)) < 0)
			refused++;
		else
			accepted++;	/* cut on a record boundary */
		vm_cfg_free(&b);
	}
	CHECK("vmcfg-truncations-refused-or-prefix", refused > 0 &&
	      refused + accepted == (unsigned)n);

	/* Hostile records, each refused with its reason. */
	struct { const char *name; uint8_t rec[16]; size_t len;
		 const char *why; } bad[] = {
		{ "vmcfg-bad-magic", { 'X', 'B', 'C', '1' }, 4, "magic" },
		{ "vmcfg-unknown-field", { 'V', 'B', 'C', '1', 200, 0, 0, 0,
		  0, 0, 0, 0 }, 12, "unknown" },
		{ "vmcfg-reserved-bits", { 'V', 'B', 'C', '1', 6, 0, 1, 0,
		  1, 0, 0, 0, 1 }, 13, "unknown" },
		{ "vmcfg-bool-2", { 'V', 'B', 'C', '1', 6, 0, 0, 0, 1, 0, 0,
		  0, 2 }, 13, "bad value" },
		{ "vmcfg-raw-short", { 'V', 'B', 'C', '1', 4, 0, 0, 0, 2, 0,
		  0, 0, 1, 0 }, 14, "bad value" },
		{ "vmcfg-len-past-end", { 'V', 'B', 'C', '1', 4, 0, 0, 0, 255,
		  255, 255, 255, 1 }, 13, "truncated" },
		{ "vmcfg-list-unterminated", { 'V', 'B', 'C', '1', 25, 0, 0,
		  0, 2, 0, 0, 0, 'a', 'b' }, 14, "bad value" },
		{ "vmcfg-list-empty-entry", { 'V', 'B', 'C', '1', 25, 0, 0, 0,
		  3, 0, 0, 0, 'a', 0, 0 }, 15, "bad value" },
		{ "vmcfg-name-nul", { 'V', 'B', 'C', '1', 1, 0, 0, 0, 2, 0, 0,
		  0, 'a', 0 }, 14, "bad value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		int r = ipc_cfg_unpack(&b, bad[i].rec, bad[i].len, err,
				       sizeof(err));
		CHECK(bad[i].name, r < 0 && strstr(err, bad[i].why));
		vm_cfg_free(&b);
	}
	/* The same field twice. */
	n = ipc_cfg_pack(&z, buf, sizeof(buf));
	memcpy(buf + n, buf + 4, (size_t)n - 4);
	CHECK("vmcfg-repeated-field",
	      ipc_cfg_unpack(&b, buf, (size_t)(2 * n - 4), err,
			     sizeof(err)) < 0 && strstr(err, "repeated"));

	/* The rules, after a well-formed message: limits hold in the VMM
	 * even if the orchestrator were wrong. */
	struct { const char *name; void (*mut)(struct vm_cfg *); } rules[] = {
		{ "vmcfg-rule-vcpus", NULL }, { "vmcfg-rule-mem", NULL },
		{ "vmcfg-rule-hostname", NULL }, { "vmcfg-rule-mode", NULL },
		{ "vmcfg-rule-publish", NULL }, { "vmcfg-rule-net-off", NULL },
		{ "vmcfg-rule-name-space", NULL },
		{ "vmcfg-rule-disk-source", NULL },
		{ "vmcfg-rule-root-disk-range", NULL },
		{ "vmcfg-rule-root-disk-writable", NULL },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(*rules); i++) {
		struct vm_cfg t;
		vm_cfg_init(&t, "t");
		switch (i) {
		case 0: t.vcpus = VM_MAX_VCPUS + 1; break;
		case 1: t.mem_mb = VM_MIN_MEM_MB - 1; break;
		case 2: snprintf(t.hostname, sizeof(t.hostname), "a b"); break;
		case 3: t.net.enabled = true; t.net.mode = 3; break;
		case 4: t.net.enabled = true; t.net.npublish = 9; break;
		case 5: t.net.mode = VM_NET_ALLOW; break;
		case 6: snprintf(t.name, sizeof(t.name), "a vb.secret=00");
			break;
		case 7: t.ndisks = 1; break;	/* no path, no fd */
		case 8: t.root_disk = 1; break;	/* no such disk */
		case 9: t.ndisks = 1; t.root_disk = 1;	/* writable */
			vm_cfg_set(&t.disk[0].path, "/img.erofs");
			break;
		}
		/* pack does not judge; unpack does (the VMM's side) */
		n = ipc_cfg_pack(&t, buf, sizeof(buf));
		CHECK(rules[i].name, vm_cfg_check(&t, err, sizeof(err)) < 0 &&
		      n > 0 && ipc_cfg_unpack(&b, buf, (size_t)n, err,
					      sizeof(err)) < 0);
		vm_cfg_free(&b);
		vm_cfg_free(&t);
	}

	/* Mount points: the guest path rules and the count. */
	struct { const char *path; bool ok; } mp[] = {
		{ "/workspace/repo", true }, { "/data", true },
		{ "/w/a-b_c.d+e@f", true }, { "relative", false }, { "/", false },
		{ "/a/../etc", false }, { "/a/./b", false }, { "/..", false },
		{ "/proc", false }, { "/proc/x", false }, { "/dev", false },
		{ "/opt/voidbox/claude", false }, { "/opt/voidboxes", true },
		{ "/run", false }, { "/a b", false }, { "/a,b", false },
		{ "/a:b", false }, { "/a\"b", false },
	};
	unsigned mp_ok = 0;
	for (size_t i = 0; i < sizeof(mp) / sizeof(*mp); i++) {
		bool ok = vm_cfg_mount_path_bad(mp[i].path) == NULL;
		if (ok == mp[i].ok)
			mp_ok++;
		else
			printf("  mount path '%s': %s\n", mp[i].path,
			       ok ? "accepted" : vm_cfg_mount_path_bad(mp[i].path));
	}
	CHECK("vmcfg-mount-paths", mp_ok == sizeof(mp) / sizeof(*mp));
	struct vm_cfg mc;
	vm_cfg_init(&mc, "m");
	unsigned added = 0;
	char p[32];
	for (int i = 0; i < VM_MAX_MOUNTS + 2; i++) {
		snprintf(p, sizeof(p), "/m%d", i);
		added += vm_cfg_mount_add(&mc, "/h", p, true, err,
					  sizeof(err)) == 0;
	}
	CHECK("vmcfg-mount-cap", added == VM_MAX_MOUNTS &&
	      strstr(err, "at most"));
	CHECK("vmcfg-mount-twice", vm_cfg_mount_add(&mc, "/h", "/m0", true,
						    err, sizeof(err)) < 0);
	vm_cfg_free(&mc);
	vm_cfg_init(&mc, "m");
	mc.nmounts = 1;	/* no host, no fd, no guest: the VMM refuses it */
	n = ipc_cfg_pack(&mc, buf, sizeof(buf));
	CHECK("vmcfg-rule-mount-source", n > 0 &&
	      ipc_cfg_unpack(&b, buf, (size_t)n, err, sizeof(err)) < 0 &&
	      strstr(err, "mount 0"));
	vm_cfg_free(&b);
	vm_cfg_free(&mc);

	/* Too big for one message: refused by pack, not truncated. */
	struct vm_cfg big;
	vm_cfg_init(&big, "big");
	big.net.enabled = true;
	char rule[256];
	memset(rule, 'a', 250);
	rule[250] = '\0';
	for (int i = 0; i < VM_LIST_MAX; i++)
		vm_cfg_list_add(&big.net.allow, rule);
	CHECK("vmcfg-list-cap", vm_cfg_list_add(&big.net.allow, "x") ==
	      -E2BIG);
	for (int i = 0; i < VM_LIST_MAX; i++)
		vm_cfg_list_add(&big.net.hosts, rule);
	CHECK("vmcfg-pack-too-big", ipc_cfg_pack(&big, buf, sizeof(buf)) ==
	      -E2BIG);
	vm_cfg_free(&big);

	/* The guest's command line: the agent's keys, hostname, append. */
	char cl[VM_CMDLINE_MAX];
	struct vm_cfg g;
	vm_cfg_init(&g, "web");
	snprintf(g.hostname, sizeof(g.hostname), "builder");
	g.net.enabled = true;
	g.net.mode = VM_NET_INTERNET;
	vm_cfg_set(&g.append, "vb.gw=4080");
	memset(g.secret, 0xab, sizeof(g.secret));
	CHECK("vmcfg-cmdline", vm_cfg_cmdline(&g, 42, cl, sizeof(cl)) == 0 &&
	      strstr(cl, "vb.name=web ") && strstr(cl, "vb.hostname=builder") &&
	      strstr(cl, "vb.time=42 ") && strstr(cl, " vb.net=1") &&
	      strstr(cl, "vb.secret=abab") &&
	      !strcmp(cl + strlen(cl) - 11, " vb.gw=4080"));
	g.hostname[0] = '\0';
	CHECK("vmcfg-cmdline-default-hostname",
	      vm_cfg_cmdline(&g, 42, cl, sizeof(cl)) == 0 &&
	      strstr(cl, "vb.hostname=voidbox"));
	CHECK("vmcfg-cmdline-too-long", vm_cfg_cmdline(&g, 42, cl, 40) < 0);
	vm_cfg_mount_add(&g, "/h/repo", "/workspace/repo", false, err,
			 sizeof(err));
	vm_cfg_mount_add(&g, "/h/ref", "/ref", true, err, sizeof(err));
	CHECK("vmcfg-cmdline-mounts", vm_cfg_cmdline(&g, 42, cl, sizeof(cl)) == 0
	      && strstr(cl, " vb.mounts=rw:/workspace/repo,ro:/ref ") &&
	      !strstr(cl, "/h/"));
	g.ndisks = 2;
	vm_cfg_set(&g.disk[0].path, "/tools.erofs");
	vm_cfg_set(&g.disk[1].path, "/img.erofs");
	g.disk[0].ro = g.disk[1].ro = true;
	g.root_disk = 2;
	CHECK("vmcfg-cmdline-root-image",
	      vm_cfg_cmdline(&g, 42, cl, sizeof(cl)) == 0 &&
	      strstr(cl, " vb.image=vdb"));
	vm_cfg_free(&g);
	vm_cfg_free(&a);
	return fails ? 1 : 0;
}
