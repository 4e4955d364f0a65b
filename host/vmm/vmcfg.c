/* vmcfg.c: struct vm_cfg — ownership helpers, the rules every VM
 * configuration obeys, and the guest's kernel command line built from it.
 * The rules run where a configuration is built (spec, CLI, API) and again
 * in the VMM after the codec, so both sides agree on what is valid.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcfg.h"

void vm_cfg_init(struct vm_cfg *c, const char *name)
{
	*c = (struct vm_cfg){ .mem_mb = 512, .vcpus = 1 };
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "vm");
}

void vm_cfg_list_free(char ***list)
{
	for (char **p = *list; p && *p; p++)
		free(*p);
	free(*list);
	*list = NULL;
}

void vm_cfg_free(struct vm_cfg *c)
{
	free(c->kernel_path);
	free(c->initrd_path);
	free(c->cmdline);
	free(c->append);
	free(c->snapshot_path);
	c->kernel_path = c->initrd_path = c->cmdline = c->append = NULL;
	c->snapshot_path = NULL;
	for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
		free(c->disk[i].path);
		free(c->disk[i].guest);
		c->disk[i].path = c->disk[i].guest = NULL;
	}
	for (unsigned i = 0; i < VM_MAX_MOUNTS; i++) {
		free(c->mount[i].host);
		free(c->mount[i].guest);
		c->mount[i].host = c->mount[i].guest = NULL;
	}
	vm_cfg_list_free(&c->net.allow);
	vm_cfg_list_free(&c->net.hosts);
	vm_cfg_list_free(&c->net.forwards);
}

int vm_cfg_set(char **field, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		return -ENOMEM;
	free(*field);
	*field = d;
	return 0;
}

size_t vm_cfg_list_len(char *const *list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

int vm_cfg_list_add(char ***list, const char *s)
{
	size_t n = vm_cfg_list_len(*list);

	if (n >= VM_LIST_MAX)
		return -E2BIG;
	char **l = realloc(*list, (n + 2) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	*list = l;
	if (!(l[n] = strdup(s)))
		return -ENOMEM;
	l[n + 1] = NULL;
	return 0;
}

static int list_copy(char ***dst, char *const *src)
{
	*dst = NULL;
	for (size_t i = 0; src && src[i]; i++)
		if (vm_cfg_list_add(dst, src[i]) < 0)
			return -ENOMEM;
	return 0;
}

int vm_cfg_copy(struct vm_cfg *dst, const struct vm_cfg *src)
{
	*dst = *src;
	dst->kernel_path = dst->initrd_path = dst->cmdline = dst->append = NULL;
	dst->snapshot_path = NULL;
	for (unsigned i = 0; i < VM_MAX_DISKS; i++)
		dst->disk[i].path = dst->disk[i].guest = NULL;
	for (unsigned i = 0; i < VM_MAX_MOUNTS; i++)
		dst->mount[i].host = dst->mount[i].guest = NULL;
	dst->net.allow = dst->net.hosts = dst->net.forwards = NULL;
	int r = vm_cfg_set(&dst->kernel_path, src->kernel_path) |
		vm_cfg_set(&dst->initrd_path, src->initrd_path) |
		vm_cfg_set(&dst->cmdline, src->cmdline) |
		vm_cfg_set(&dst->append, src->append) |
		vm_cfg_set(&dst->snapshot_path, src->snapshot_path) |
		list_copy(&dst->net.allow, src->net.allow) |
		list_copy(&dst->net.hosts, src->net.hosts) |
		list_copy(&dst->net.forwards, src->net.forwards);
	for (unsigned i = 0; i < VM_MAX_DISKS; i++)
		r |= vm_cfg_set(&dst->disk[i].path, src->disk[i].path) |
		     vm_cfg_set(&dst->disk[i].guest, src->disk[i].guest);
	for (unsigned i = 0; i < VM_MAX_MOUNTS; i++)
		r |= vm_cfg_set(&dst->mount[i].host, src->mount[i].host) |
		     vm_cfg_set(&dst->mount[i].guest, src->mount[i].guest);
	if (r) {
		vm_cfg_free(dst);
		return -ENOMEM;
	}
	return 0;
}

bool vm_cfg_volume_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > 64 || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') ||
		      strchr("._-", name[i])))
			return false;
	return true;
}

bool vm_cfg_hostname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

const char *vm_cfg_mount_path_bad(const char *s)
{
	static const char *const reserved[] = { "/proc", "/sys", "/dev",
						"/run", "/opt/voidbox" };
	size_t n = strlen(s);

	if (s[0] != '/')
		return "not an absolute path";
	if (n >= VM_MOUNT_GUEST_MAX)
		return "too long";
	if (n == 1)
		return "not the root";
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-+@/", s[i])))
			return "only letters, digits and . _ - + @ /";
	for (const char *c = s; c; c = strchr(c + 1, '/')) {
		size_t l = strcspn(c + 1, "/");
		if ((l == 1 && c[1] == '.') ||
		    (l == 2 && c[1] == '.' && c[2] == '.'))
			return "no . or .. components";
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(*reserved); i++) {
		size_t l = strlen(reserved[i]);
		if (!strncmp(s, reserved[i], l) && (!s[l] || s[l] == '/'))
			return "the guest's own system directory";
	}
	return NULL;
}

/* Is guest already a mount's or a volume's mount point? */
static bool guest_taken(const struct vm_cfg *c, const char *guest)
{
	for (unsigned i = 0; i < c->nmounts && i < VM_MAX_MOUNTS; i++)
		if (c->mount[i].guest && !strcmp(c->mount[i].guest, guest))
			return true;
	for (unsigned i = 0; i < c->ndisks && i < VM_MAX_DISKS; i++)
		if (c->disk[i].guest && !strcmp(c->disk[i].guest, guest))
			return true;
	return false;
}

/* A new mount point must obey the path rules and be free; else err. */
static bool guest_point_bad(const struct vm_cfg *c, const char *guest,
			    char *err, size_t errlen)
{
	const char *why = vm_cfg_mount_path_bad(guest);

	if (why)
		snprintf(err, errlen, "guest path '%.64s': %s", guest, why);
	else if (guest_taken(c, guest))
		snprintf(err, errlen, "guest path '%.64s' mounted twice", guest);
	return why || guest_taken(c, guest);
}

int vm_cfg_volume_add(struct vm_cfg *c, const char *path, uint32_t size_mb,
		      const char *guest, char *err, size_t errlen)
{
	if (c->ndisks >= VM_MAX_DISKS - 1) {	/* one for the tools image */
		snprintf(err, errlen, "at most %d disks and volumes",
			 VM_MAX_DISKS - 1);
		return -1;
	}
	if (guest_point_bad(c, guest, err, errlen))
		return -1;
	if (size_mb < 1 || size_mb > (1u << 20)) {
		snprintf(err, errlen, "size %u MiB not in 1..%u", size_mb,
			 1u << 20);
		return -1;
	}
	struct vm_disk_cfg *d = &c->disk[c->ndisks];
	*d = (struct vm_disk_cfg){ .create_mb = size_mb };
	if (vm_cfg_set(&d->path, path) < 0 || vm_cfg_set(&d->guest, guest) < 0) {
		vm_cfg_set(&d->path, NULL);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->ndisks++;
	return 0;
}

int vm_cfg_mount_add(struct vm_cfg *c, const char *host, const char *guest,
		     bool ro, char *err, size_t errlen)
{
	if (c->nmounts >= VM_MAX_MOUNTS) {
		snprintf(err, errlen, "at most %d mounts", VM_MAX_MOUNTS);
		return -1;
	}
	if (!host[0]) {
		snprintf(err, errlen, "empty host path");
		return -1;
	}
	if (guest_point_bad(c, guest, err, errlen))
		return -1;
	struct vm_mount_cfg *m = &c->mount[c->nmounts];
	if (vm_cfg_set(&m->host, host) < 0 || vm_cfg_set(&m->guest, guest) < 0) {
		vm_cfg_set(&m->host, NULL);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->ro = ro;
	c->nmounts++;
	return 0;
}

/* Kernel command line words must not carry spaces or quotes that would
 * let one field smuggle another (vb.secret=...). */
static bool word_ok(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s == '"' || *s == 0x7f)
			return false;
	return true;
}

int vm_cfg_check(const struct vm_cfg *c, char *err, size_t errlen)
{
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
	if (!memchr(c->name, '\0', sizeof(c->name)) || !c->name[0] ||
	    !word_ok(c->name))
		BAD("name: must be 1-%d characters without spaces or quotes",
		    VM_NAME_MAX - 1);
	if (!memchr(c->hostname, '\0', sizeof(c->hostname)) ||
	    (c->hostname[0] && !vm_cfg_hostname_ok(c->hostname)))
		BAD("hostname: '%.64s' is not a hostname (1-63 letters, "
		    "digits and inner '-')", c->hostname);
	if (c->vcpus < 1 || c->vcpus > VM_MAX_VCPUS)
		BAD("vcpus: %u is not in 1..%d", c->vcpus, VM_MAX_VCPUS);
	if (c->mem_mb < VM_MIN_MEM_MB || c->mem_mb > VM_MAX_MEM_MB)
		BAD("memory: %llu MiB is not in %d..%u",
		    (unsigned long long)c->mem_mb, VM_MIN_MEM_MB, VM_MAX_MEM_MB);
	if (c->ndisks > VM_MAX_DISKS)
		BAD("disks: at most %d", VM_MAX_DISKS);
	for (unsigned i = 0; i < c->ndisks; i++) {
		if (c->disk[i].off + c->disk[i].len < c->disk[i].off)
			BAD("disk %u: window overflows", i);
		if (!c->disk[i].path && c->disk[i].fd <= 0)
			BAD("disk %u: neither a file nor an open fd", i);
		const char *why;
		if (c->disk[i].guest &&
		    (why = vm_cfg_mount_path_bad(c->disk[i].guest)))
			BAD("volume %u: guest path '%.64s': %s", i,
			    c->disk[i].guest, why);
		if (c->disk[i].guest && c->disk[i].ro)
			BAD("volume %u: read-only", i);
		for (unsigned k = 0; c->disk[i].guest && k < i; k++)
			if (c->disk[k].guest &&
			    !strcmp(c->disk[k].guest, c->disk[i].guest))
				BAD("volume %u: guest path twice", i);
	}
	if (c->root_disk > c->ndisks)
		BAD("root image: disk %u of %u", c->root_disk, c->ndisks);
	if (c->root_disk && (!c->disk[c->root_disk - 1].ro ||
			     c->disk[c->root_disk - 1].guest))
		BAD("root image: disk %u must be read-only, not a volume",
		    c->root_disk - 1);
	if (c->nmounts > VM_MAX_MOUNTS)
		BAD("mounts: at most %d", VM_MAX_MOUNTS);
	for (unsigned i = 0; i < c->nmounts; i++) {
		const struct vm_mount_cfg *m = &c->mount[i];
		const char *why;
		if (!m->host && m->fd <= 0)
			BAD("mount %u: neither a host directory nor an open fd",
			    i);
		if (m->host && !m->host[0])
			BAD("mount %u: empty host path", i);
		if (!m->guest)
			BAD("mount %u: no guest path", i);
		if ((why = vm_cfg_mount_path_bad(m->guest)))
			BAD("mount %u: guest path '%.64s': %s", i, m->guest,
			    why);
		for (unsigned k = 0; k < i; k++)
			if (!strcmp(c->mount[k].guest, m->guest))
				BAD("mount %u: guest path '%.64s' is mount %u's"
				    " too", i, m->guest, k);
		for (unsigned k = 0; k < c->ndisks && k < VM_MAX_DISKS; k++)
			if (c->disk[k].guest && !strcmp(c->disk[k].guest,
							m->guest))
				BAD("mount %u: guest path '%.64s' is a "
				    "volume's too", i, m->guest);
	}
	if (c->net.mode > VM_NET_ALLOW)
		BAD("network: bad mode %u", c->net.mode);
	if (c->net.npublish > VM_MAX_PUBLISH)
		BAD("network: at most %d published ports", VM_MAX_PUBLISH);
	for (unsigned i = 0; i < c->net.npublish; i++)
		if (!c->net.publish[i].guest || !c->net.publish[i].host)
			BAD("network: published port %u is 0", i);
	if (!memchr(c->net.resolver, '\0', sizeof(c->net.resolver)))
		BAD("network: resolver too long");
	char *const *lists[] = { c->net.allow, c->net.hosts, c->net.forwards };
	for (unsigned l = 0; l < 3; l++) {
		if (vm_cfg_list_len(lists[l]) > VM_LIST_MAX)
			BAD("network: more than %d entries in a list",
			    VM_LIST_MAX);
		for (char *const *s = lists[l]; s && *s; s++)
			if (!**s || strlen(*s) > 255)
				BAD("network: empty or over-long entry");
	}
	if (!c->net.enabled && (c->net.mode || c->net.npublish ||
				 c->net.allow || c->net.forwards))
		BAD("network: rules given but no network");
	if (c->append && !c->append[0])
		BAD("append: empty");
	if (c->snapshot_path && !c->snapshot_path[0])
		BAD("snapshot: empty path");
	if ((c->snapshot_path || c->snapshot_fd > 0) && c->nmounts)
		BAD("snapshot: a restored VM cannot have shared directories "
		    "(mounts)");
	if (c->vsock_cid && (c->vsock_cid < 3 || c->vsock_cid == ~0u))
		BAD("vsock: CID %u is reserved", c->vsock_cid);
	if ((c->mac[0] & 1))
		BAD("network: MAC %02x:%02x:%02x:%02x:%02x:%02x is multicast",
		    c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4],
		    c->mac[5]);
	if (c->seccomp_probe && c->probe > VM_PROBE_VCPU_REGS)
		BAD("probe: unknown probe %u", c->probe);
	return 0;
#undef BAD
}

int vm_cfg_cmdline(const struct vm_cfg *c, uint64_t unix_ns, char *out,
		   size_t len)
{
	char hex[2 * AGENT_SECRET_LEN + 1];
	int n;

	if (c->cmdline) {
		n = snprintf(out, len, "%s", c->cmdline);
	} else {
		for (unsigned i = 0; i < AGENT_SECRET_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", c->secret[i]);
		n = snprintf(out, len, "console=ttyS0 reboot=k panic=-1 quiet "
			     "%s%s %s%s %s%llu %s%s%s",
			     AGENT_CMDLINE_SECRET, hex, AGENT_CMDLINE_NAME,
			     c->name, AGENT_CMDLINE_TIME,
			     (unsigned long long)unix_ns,
			     AGENT_CMDLINE_HOSTNAME,
			     c->hostname[0] ? c->hostname : "voidbox",
			     c->net.enabled ? " " AGENT_CMDLINE_NET "1" : "");
		memset(hex, 0, sizeof(hex));
	}
	/* Volumes by device: the i-th disk is /dev/vd<a+i> (virtio-mmio
	 * devices probe in command line order). */
	bool first = true;
	for (unsigned i = 0; !c->cmdline && i < c->ndisks && n >= 0 &&
			     (size_t)n < len; i++) {
		if (!c->disk[i].guest)
			continue;
		n += snprintf(out + n, len - (size_t)n, "%svd%c:%s",
			      first ? " " AGENT_CMDLINE_VOLUMES : ",", 'a' + i,
			      c->disk[i].guest);
		first = false;
	}
	if (!c->cmdline && c->root_disk && n >= 0 && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n, " %svd%c",
			      AGENT_CMDLINE_IMAGE, 'a' + c->root_disk - 1);
	for (unsigned i = 0; !c->cmdline && i < c->nmounts && n >= 0 &&
			     (size_t)n < len; i++)
		n += snprintf(out + n, len - (size_t)n, "%s%s:%s",
			      i ? "," : " " AGENT_CMDLINE_MOUNTS,
			      c->mount[i].ro ? "ro" : "rw", c->mount[i].guest);
	if (n >= 0 && (size_t)n < len && c->append)
		n += snprintf(out + n, len - (size_t)n, " %s", c->append);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
