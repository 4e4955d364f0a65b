/* store.c: named snapshots on the host (layout and rules in snap.h).
 *
 * Everything read back from DATA/snapshots is untrusted (another process
 * or a person may have edited it): meta.json is bounded and every field
 * checked, and vm.snap's header is checked on every load and its
 * checksums whenever the file is not the one last verified. A running
 * clone maps vm.snap; removing the snapshot unlinks the file under it,
 * which Linux keeps alive for the mapping, so rm is safe at any time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "snap.h"
#include "../box/box.h"
#include "../util/util.h"

#define META_MAX (64u << 10)
#define SNAP_TIMEOUT_MS 600000	/* writing GiBs of RAM under TCG */

bool snap_name_ok(const char *name)
{
	return vm_cfg_volume_name_ok(name);
}

int snap_path(const char *name, const char *file, char *out, size_t len)
{
	char dir[4096];
	int r = data_dir("snapshots", dir, sizeof(dir)), n;

	if (r < 0)
		return r;
	if (!name)
		n = snprintf(out, len, "%s", dir);
	else if (!file)
		n = snprintf(out, len, "%s/%s", dir, name);
	else
		n = snprintf(out, len, "%s/%s/%s", dir, name, file);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdirs(const char *path, mode_t mode)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Remove a snapshot directory's known files, then it. */
static int rm_dir(const char *dir)
{
	static const char *const files[] = { "vm.snap", "meta.json",
					     "verified", "used", "meta.json.tmp",
					     "verified.tmp" };
	char p[4200];
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	return rmdir(dir) < 0 ? -errno : 0;
}

/* .tmp-NAME-PID left by a create that died (kill -9, crash, power). */
static void clean_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[4200];

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *dash = strrchr(e->d_name, '-');
		if (strncmp(e->d_name, ".tmp-", 5) || !dash)
			continue;
		long pid = strtol(dash + 1, NULL, 10);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;	/* its creator still runs */
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		rm_dir(p);
	}
	closedir(d);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int write_file(const char *path, const char *data, size_t len)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			unlink(tmp);
			return -e;
		}
		done += (size_t)n;
	}
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* The identity of a verified vm.snap: any write changes mtime or ctime. */
static void stamp_of(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "%llu %llu %llu %lld.%09ld %lld.%09ld\n",
		 (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino,
		 (unsigned long long)st->st_size, (long long)st->st_mtim.tv_sec,
		 st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
		 st->st_ctim.tv_nsec);
}

static cJSON *meta_json(const struct snap_meta *m)
{
	cJSON *j = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(j, "disks");
	char s[2 * AGENT_SECRET_LEN + 1];

	cJSON_AddStringToObject(j, "name", m->name);
	cJSON_AddNumberToObject(j, "created_ns", (double)m->created_ns);
	cJSON_AddStringToObject(j, "build", m->build);
	cJSON_AddNumberToObject(j, "memory_mb", (double)m->mem_mb);
	cJSON_AddNumberToObject(j, "vcpus", m->vcpus);
	cJSON_AddBoolToObject(j, "network", m->net);
	cJSON_AddBoolToObject(j, "services", m->services);
	hex(m->secret, sizeof(m->secret), s);
	cJSON_AddStringToObject(j, "secret", s);
	cJSON_AddStringToObject(j, "hostname", m->hostname);
	cJSON_AddStringToObject(j, "image", m->image);
	cJSON_AddNumberToObject(j, "root_disk", m->root_disk);
	cJSON_AddNumberToObject(j, "file_bytes", (double)m->file_bytes);
	cJSON_AddNumberToObject(j, "disk_bytes", (double)m->disk_bytes);
	cJSON_AddNumberToObject(j, "paused_ns", (double)m->took_ns);
	cJSON_AddNumberToObject(j, "park_id", m->park_id);
	for (unsigned i = 0; i < m->ndisks; i++) {
		const struct snap_disk *x = &m->disk[i];
		cJSON *o = cJSON_CreateObject();
		char sha[65];
		if (x->embedded_tools) {
			hex(x->tools_sha256, 32, sha);
			cJSON_AddStringToObject(o, "tools_sha256", sha);
		} else {
			cJSON_AddStringToObject(o, "path", x->path);
			cJSON_AddNumberToObject(o, "size", (double)x->size);
			cJSON_AddNumberToObject(o, "dev", (double)x->dev);
			cJSON_AddNumberToObject(o, "ino", (double)x->ino);
			cJSON_AddNumberToObject(o, "mtime_ns",
						(double)x->mtime_ns);
		}
		cJSON_AddNumberToObject(o, "off", (double)x->off);
		cJSON_AddNumberToObject(o, "len", (double)x->len);
		cJSON_AddItemToArray(d, o);
	}
	return j;
}

/* A number field that is a whole number in [0, max]. */
static int num(const cJSON *j, const char *k, uint64_t max, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
	    v->valuedouble > (double)max ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return -1;
	*out = (uint64_t)v->valuedouble;
	return 0;
}

static int str(const cJSON *j, const char *k, char *out, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= len)
		return -1;
	snprintf(out, len, "%s", v->valuestring);
	return 0;
}

static int meta_parse(const char *text, struct snap_meta *m, char *why,
		      size_t wlen)
{
	cJSON *j = cJSON_Parse(text);
	char s[2 * AGENT_SECRET_LEN + 1];
	uint64_t v;
	int rc = -1;

	memset(m, 0, sizeof(*m));
#define NEED(cond, what) do { if (!(cond)) { snprintf(why, wlen, "%s", what); \
		goto out; } } while (0)
	NEED(cJSON_IsObject(j), "not a JSON object");
	NEED(str(j, "name", m->name, sizeof(m->name)) == 0, "name");
	NEED(num(j, "created_ns", UINT64_MAX, &m->created_ns) == 0,
	     "created_ns");
	NEED(str(j, "build", m->build, sizeof(m->build)) == 0, "build");
	NEED(num(j, "memory_mb", VM_MAX_MEM_MB, &m->mem_mb) == 0 &&
	     m->mem_mb >= VM_MIN_MEM_MB, "memory_mb");
	NEED(num(j, "vcpus", VM_MAX_VCPUS, &v) == 0 && v >= 1, "vcpus");
	m->vcpus = (uint32_t)v;
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "network");
	NEED(cJSON_IsBool(b), "network");
	m->net = cJSON_IsTrue(b);
	b = cJSON_GetObjectItemCaseSensitive(j, "services");
	NEED(cJSON_IsBool(b), "services");
	m->services = cJSON_IsTrue(b);
	NEED(str(j, "secret", s, sizeof(s)) == 0 &&
	     unhex(s, m->secret, sizeof(m->secret)) == 0, "secret");
	NEED(str(j, "hostname", m->hostname, sizeof(m->hostname)) == 0 &&
	     (!m->hostname[0] || vm_cfg_hostname_ok(m->hostname)),
	     "hostname");
	NEED(str(j, "image", m->image, sizeof(m->image)) == 0, "image");
	NEED(num(j, "file_bytes", UINT64_MAX, &m->file_bytes) == 0,
	     "file_bytes");
	NEED(num(j, "disk_bytes", UINT64_MAX, &m->disk_bytes) == 0,
	     "disk_bytes");
	NEED(num(j, "paused_ns", UINT64_MAX, &m->took_ns) == 0, "paused_ns");
	NEED(num(j, "park_id", UINT32_MAX, &v) == 0, "park_id");
	m->park_id = (uint32_t)v;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "disks"), *o;
	NEED(cJSON_IsArray(d) && cJSON_GetArraySize(d) <= VM_MAX_DISKS,
	     "disks");
	cJSON_ArrayForEach(o, d) {
		struct snap_disk *x = &m->disk[m->ndisks++];
		NEED(cJSON_IsObject(o), "disks[]");
		NEED(num(o, "off", UINT64_MAX, &x->off) == 0 &&
		     num(o, "len", UINT64_MAX, &x->len) == 0, "disks[].off/len");
		if (cJSON_GetObjectItemCaseSensitive(o, "tools_sha256")) {
			x->embedded_tools = true;
			NEED(str(o, "tools_sha256", s, sizeof(s)) == 0 &&
			     unhex(s, x->tools_sha256, 32) == 0,
			     "disks[].tools_sha256");
			continue;
		}
		uint64_t mt;
		NEED(str(o, "path", x->path, sizeof(x->path)) == 0 &&
		     x->path[0] == '/', "disks[].path");
		NEED(num(o, "size", UINT64_MAX, &x->size) == 0 &&
		     num(o, "dev", UINT64_MAX, &x->dev) == 0 &&
		     num(o, "ino", UINT64_MAX, &x->ino) == 0 &&
		     num(o, "mtime_ns", INT64_MAX, &mt) == 0,
		     "disks[] identity");
		x->mtime_ns = (int64_t)mt;
	}
	NEED(num(j, "root_disk", m->ndisks, &v) == 0, "root_disk");
	m->root_disk = (uint32_t)v;
#undef NEED
	rc = 0;
out:
	cJSON_Delete(j);
	return rc;
}

static int read_meta(const char *name, struct snap_meta *m, char *err,
		     size_t errlen)
{
	char p[4200], why[80];
	char *buf = malloc(META_MAX + 1);
	int fd = -1;
	ssize_t n = -1;

	if (snap_path(name, "meta.json", p, sizeof(p)) == 0)
		fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && buf)
		n = read(fd, buf, META_MAX + 1);
	if (fd >= 0)
		close(fd);
	if (fd < 0 || !buf || n < 0 || n > META_MAX) {
		snprintf(err, errlen, "snapshot %s: %s", name,
			 fd < 0 && errno == ENOENT ? "no such snapshot (voidbox "
			 "snapshot ls)" : n > META_MAX ? "meta.json too large"
			 : "cannot read meta.json");
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	int r = meta_parse(buf, m, why, sizeof(why));
	free(buf);
	if (r < 0) {
		snprintf(err, errlen, "snapshot %s: meta.json: bad or missing "
			 "field '%s'", name, why);
		return -1;
	}
	if (strcmp(m->name, name)) {
		snprintf(err, errlen, "snapshot %s: meta.json names '%s'", name,
			 m->name);
		return -1;
	}
	return 0;
}

static int record_disk(struct snap_disk *x, const struct vm_disk_cfg *d,
		       const uint8_t *tools_sha, char *err, size_t errlen)
{
	struct stat st;

	memset(x, 0, sizeof(*x));
	x->off = d->off;
	x->len = d->len;
	if (!d->path) {
		if (!tools_sha) {
			snprintf(err, errlen, "a disk given as an open file "
				 "cannot be named in a snapshot");
			return -1;
		}
		x->embedded_tools = true;
		memcpy(x->tools_sha256, tools_sha, 32);
		return 0;
	}
	char *real = realpath(d->path, NULL);
	if (!real || stat(real, &st) < 0) {
		snprintf(err, errlen, "disk %s: %s", d->path, strerror(errno));
		free(real);
		return -1;
	}
	snprintf(x->path, sizeof(x->path), "%s", real);
	free(real);
	x->size = (uint64_t)st.st_size;
	x->dev = (uint64_t)st.st_dev;
	x->ino = (uint64_t)st.st_ino;
	x->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		      st.st_mtim.tv_nsec;
	return 0;
}

int snap_cfg_check(const struct vm_cfg *vc, char *err, size_t errlen)
{
	if (vc->nmounts) {
		snprintf(err, errlen, "a VM with shared directories (--mount) "
			 "cannot be snapshotted: the guest's open files live in "
			 "the host's file server");
		return -1;
	}
	for (unsigned i = 0; i < vc->ndisks; i++) {
		if (!vc->disk[i].ro) {
			snprintf(err, errlen, "disk %u (%s) is writable: every "
				 "clone would share it; snapshots take read-only "
				 "disks only", i, vc->disk[i].path
				 ? vc->disk[i].path : "a volume");
			return -1;
		}
	}
	return 0;
}

int snap_create(const char *name, struct box *b, const struct vm_cfg *vc,
		const uint8_t *tools_sha256, const char *image, bool stop,
		uint32_t park_id, struct snap_meta *m, char *err,
		size_t errlen)
{
	char dir[4096], tmp[4200], fin[4200], p[4300], why[512];
	int fd = -1, r;

	if (!snap_name_ok(name)) {
		snprintf(err, errlen, "snapshot name '%s': 1-64 of "
			 "[A-Za-z0-9._-], not starting with . or -", name);
		return -1;
	}
	if (snap_cfg_check(vc, err, errlen) < 0)
		return -1;
	memset(m, 0, sizeof(*m));
	for (unsigned i = 0; i < vc->ndisks; i++) {
		if (record_disk(&m->disk[i], &vc->disk[i], tools_sha256, err,
				errlen) < 0)
			return -1;
	}
	if ((r = snap_path(NULL, NULL, dir, sizeof(dir))) < 0 ||
	    (r = mkdirs(dir, 0700)) < 0) {
		snprintf(err, errlen, "snapshot directory: %s", strerror(-r));
		return -1;
	}
	clean_stale(dir);
	snprintf(fin, sizeof(fin), "%s/%s", dir, name);
	if (access(fin, F_OK) == 0) {
		snprintf(err, errlen, "snapshot %s exists (voidbox snapshot rm "
			 "%s)", name, name);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%d", dir, name, (int)getpid());
	if (mkdir(tmp, 0700) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	snprintf(p, sizeof(p), "%s/vm.snap", tmp);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(errno));
		goto fail;
	}
	if (box_snapshot(b, fd, stop, SNAP_TIMEOUT_MS, &m->took_ns,
			 &m->file_bytes, err, errlen) < 0)
		goto fail;
	struct snap_header h;
	struct stat st;
	if (fsync(fd) < 0 || fstat(fd, &st) < 0 ||
	    snap_header_read(fd, &h, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "snapshot written badly: %s", why);
		goto fail;
	}
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->created_ns = h.created_ns;
	snprintf(m->build, sizeof(m->build), "%s", h.build);
	m->mem_mb = vc->mem_mb;
	m->vcpus = vc->vcpus;
	m->net = vc->net.enabled;
	m->services = vc->services;
	memcpy(m->secret, b->secret, sizeof(m->secret));
	snprintf(m->hostname, sizeof(m->hostname), "%s", vc->hostname);
	snprintf(m->image, sizeof(m->image), "%s", image ? image : "");
	m->ndisks = vc->ndisks;
	m->root_disk = vc->root_disk;
	m->disk_bytes = (uint64_t)st.st_blocks * 512;
	m->park_id = park_id;
	cJSON *j = meta_json(m);
	char *text = j ? cJSON_Print(j) : NULL;
	cJSON_Delete(j);
	char stamp[160];
	stamp_of(&st, stamp, sizeof(stamp));
	snprintf(p, sizeof(p), "%s/meta.json", tmp);
	r = text ? write_file(p, text, strlen(text)) : -ENOMEM;
	free(text);
	if (r == 0) {
		/* The checksums were computed from the bytes written. */
		snprintf(p, sizeof(p), "%s/verified", tmp);
		r = write_file(p, stamp, strlen(stamp));
	}
	if (r < 0) {
		snprintf(err, errlen, "writing %s: %s", p, strerror(-r));
		goto fail;
	}
	close(fd);
	fd = -1;
	/* Complete and synced: now it gets its name, atomically. */
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	if (rename(tmp, fin) < 0) {
		snprintf(err, errlen, "snapshot %s: %s", name,
			 errno == EEXIST || errno == ENOTEMPTY
			 ? "made by someone else meanwhile" : strerror(errno));
		goto fail;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	rm_dir(tmp);
	return -1;
}

static void verify_progress(uint64_t done, uint64_t total)
{
	if (total >= (256ull << 20))
		log_info("verifying snapshot: %llu/%llu MiB",
			 (unsigned long long)(done >> 20),
			 (unsigned long long)(total >> 20));
}

int snap_load(const char *name, struct snap_meta *m, char *err,
	      size_t errlen)
{
	char p[4200], why[300], stamp[160], old[160] = "";
	struct snap_header h;
	struct stat st;

	if (!snap_name_ok(name)) {
		snprintf(err, errlen, "bad snapshot name '%s'", name);
		return -1;
	}
	if (read_meta(name, m, err, errlen) < 0)
		return -1;
	if (snap_path(name, "vm.snap", p, sizeof(p)) < 0)
		return -1;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    snap_header_read(fd, &h, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "snapshot %s: %s", name, fd < 0
			 ? strerror(errno) : why);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (h.mem_bytes != m->mem_mb << 20 || h.nr_vcpus != m->vcpus) {
		snprintf(err, errlen, "snapshot %s: vm.snap (%u vCPUs, %llu "
			 "MiB) does not match meta.json", name, h.nr_vcpus,
			 (unsigned long long)(h.mem_bytes >> 20));
		close(fd);
		return -1;
	}
	stamp_of(&st, stamp, sizeof(stamp));
	char sp[4200];
	snap_path(name, "verified", sp, sizeof(sp));
	int sfd = open(sp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (sfd >= 0) {
		ssize_t n = read(sfd, old, sizeof(old) - 1);
		old[n > 0 ? n : 0] = '\0';
		close(sfd);
	}
	if (strcmp(old, stamp)) {
		/* Changed (or never verified) since: read every byte. */
		if (snap_verify(fd, &h, verify_progress, why,
				sizeof(why)) < 0) {
			snprintf(err, errlen, "snapshot %s: %s", name, why);
			close(fd);
			return -1;
		}
		write_file(sp, stamp, strlen(stamp));
	}
	close(fd);
	return 0;
}

int snap_restore_cfg(const struct snap_meta *m, struct vm_cfg *vc,
		     char *err, size_t errlen)
{
	char p[4200];

	if (vc->nmounts) {
		snprintf(err, errlen, "a VM restored from a snapshot cannot "
			 "have shared directories (mounts)");
		return -1;
	}
	if (vc->net.enabled && !m->net) {
		snprintf(err, errlen, "snapshot %s has no network device; "
			 "network options need one made with --network",
			 m->name);
		return -1;
	}
	if (vc->ndisks) {
		snprintf(err, errlen, "a restored VM has the snapshot's disks; "
			 "no others can be added");
		return -1;
	}
	/* The device must be there; without rules nothing leaves. */
	vc->net.enabled = m->net;
	vc->mem_mb = m->mem_mb;
	vc->vcpus = m->vcpus;
	vc->services = vc->services || m->services;
	for (unsigned i = 0; i < m->ndisks; i++) {
		const struct snap_disk *x = &m->disk[i];
		struct vm_disk_cfg *d = &vc->disk[i];
		*d = (struct vm_disk_cfg){ .off = x->off, .len = x->len,
					   .ro = true };
		if (x->embedded_tools) {
			struct tools_image ti = { .fd = -1 };
			char why[256];
			if (trailer_tools(&ti, why, sizeof(why)) < 0 ||
			    memcmp(ti.sha256, x->tools_sha256, 32)) {
				snprintf(err, errlen, "snapshot %s was made "
					 "with the tools image of another "
					 "voidbox executable", m->name);
				if (ti.fd >= 0)
					close(ti.fd);
				return -1;
			}
			d->fd = ti.fd;	/* the caller closes disk fds */
			continue;
		}
		struct stat st;
		if (stat(x->path, &st) < 0 ||
		    (uint64_t)st.st_size != x->size ||
		    (uint64_t)st.st_ino != x->ino ||
		    (uint64_t)st.st_dev != x->dev ||
		    (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec != x->mtime_ns) {
			snprintf(err, errlen, "snapshot %s: disk %s is gone "
				 "or changed since the snapshot (the guest has "
				 "its blocks cached)", m->name, x->path);
			return -1;
		}
		if (vm_cfg_set(&d->path, x->path) < 0)
			return -1;
	}
	vc->ndisks = m->ndisks;
	vc->root_disk = m->root_disk;
	if (snap_path(m->name, "vm.snap", p, sizeof(p)) < 0 ||
	    vm_cfg_set(&vc->snapshot_path, p) < 0) {
		snprintf(err, errlen, "snapshot path");
		return -1;
	}
	return 0;
}

int snap_clone_identity(const struct snap_meta *m, const char *want,
			struct vm_cfg *vc, char *hostname, size_t len)
{
	uint8_t r[8];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -1;
	vc->vsock_cid = 3 + ((uint32_t)r[0] | (uint32_t)r[1] << 8 |
			     (uint32_t)(r[2] & 0x7f) << 16);
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, r[3], r[4], r[5] };
	memcpy(vc->mac, mac, 6);
	if (want && want[0])
		snprintf(hostname, len, "%s", want);
	else
		snprintf(hostname, len, "%.50s-%02x%02x%02x",
			 m->hostname[0] ? m->hostname : "voidbox", r[6], r[7],
			 r[3]);
	return 0;
}

int snap_list(FILE *out, bool json)
{
	char dir[4096];
	struct dirent *e;
	unsigned n = 0;
	cJSON *arr = json ? cJSON_CreateArray() : NULL;

	if (snap_path(NULL, NULL, dir, sizeof(dir)) < 0)
		return -ENOENT;
	DIR *d = opendir(dir);
	if (d)
		clean_stale(dir);
	if (!json)
		fprintf(out, "%-24s %-20s %8s %5s %10s  %s\n", "NAME", "CREATED",
			"MEMORY", "VCPUS", "ON DISK", "IMAGE");
	while (d && (e = readdir(d))) {
		struct snap_meta m;
		char err[300];
		if (e->d_name[0] == '.' || !snap_name_ok(e->d_name))
			continue;
		if (read_meta(e->d_name, &m, err, sizeof(err)) < 0) {
			log_warnx("%s", err);
			continue;
		}
		n++;
		if (json) {
			cJSON *j = meta_json(&m);
			cJSON_DeleteItemFromObject(j, "secret");
			cJSON_AddItemToArray(arr, j);
			continue;
		}
		time_t t = (time_t)(m.created_ns / 1000000000ull);
		char when[32];
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
			 localtime_r(&t, &tm));
		fprintf(out, "%-24s %-20s %6lluMB %5u %8.1fMB  %s\n", m.name,
			when, (unsigned long long)m.mem_mb, m.vcpus,
			(double)m.disk_bytes / (1 << 20),
			m.image[0] ? m.image : "-");
	}
	if (d)
		closedir(d);
	if (json) {
		char *s = cJSON_PrintUnformatted(arr);
		if (s)
			fprintf(out, "%s\n", s);
		cJSON_free(s);
		cJSON_Delete(arr);
	}
	return (int)n;
}

int snap_rm(const char *name, char *err, size_t errlen)
{
	char p[4200];

	if (!snap_name_ok(name) || snap_path(name, NULL, p, sizeof(p)) < 0) {
		snprintf(err, errlen, "bad snapshot name '%s'", name);
		return -1;
	}
	struct stat st;
	if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "no snapshot %s", name);
		return -1;
	}
	int r = rm_dir(p);
	if (r < 0) {
		snprintf(err, errlen, "snapshot %s: %s", name, strerror(-r));
		return -1;
	}
	return 0;
}
