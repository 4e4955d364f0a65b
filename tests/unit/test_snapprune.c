/* test_snapprune.c: the stage templates' cache bound (host/snap/prune.c)
 * over a private data directory: the least recently used templates go
 * first, until the total is under the cap; the one just made and every
 * snapshot a user named stay; a restore's `used` stamp counts as use;
 * VOIDBOX_TEMPLATE_CACHE_MB is read and a bad value is not trusted.
 *
 * Linked against libvoidbox.a (musl). Prints PASS:/FAIL: lines, exits 1
 * if anything failed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../host/snap/snap.h"

static int failures;
static char dir[256];

static void check(int ok, const char *name, const char *why)
{
	printf("%s: %s%s%s\n", ok ? "PASS" : "FAIL", name,
	       ok || !why ? "" : ": ", ok || !why ? "" : why);
	failures += !ok;
}

/* A snapshot directory with a vm.snap of mib MiB on disk, its meta.json
 * modified at t (s), and a `used` stamp at u (s) when u > 0. */
static void make(const char *name, int mib, time_t t, time_t u)
{
	char p[512];
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };

	snprintf(p, sizeof(p), "%s/snapshots/%s", dir, name);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/snapshots/%s/vm.snap", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || fallocate(fd, 0, 0, (off_t)mib << 20) < 0)
		perror(p);
	close(fd);
	snprintf(p, sizeof(p), "%s/snapshots/%s/meta.json", dir, name);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	futimens(fd, ts);
	close(fd);
	if (u > 0) {
		snprintf(p, sizeof(p), "%s/snapshots/%s/used", dir, name);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		ts[0].tv_sec = ts[1].tv_sec = u;
		futimens(fd, ts);
		close(fd);
	}
}

static int exists(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/snapshots/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void said(const char *name, uint64_t bytes, void *ctx)
{
	char *log = ctx;
	size_t l = strlen(log);
	snprintf(log + l, 256 - l, "%s:%llu ", name,
		 (unsigned long long)(bytes >> 20));
}

int main(void)
{
	char p[512], why[600], log[256] = "";

	snprintf(dir, sizeof(dir), "/tmp/vb-prune.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	setenv("VOIDBOX_DATA_DIR", dir, 1);
	snprintf(p, sizeof(p), "%s/snapshots", dir);
	mkdir(p, 0700);
	/* made at 100..400; b restored at 1000, a at 150 */
	make("stage-a", 1, 100, 150);
	make("stage-b", 1, 200, 1000);
	make("stage-c", 1, 300, 0);
	make("stage-d", 1, 400, 0);	/* just made */
	make("mine", 3, 50, 0);		/* a user's: never pruned */
	int n = snap_prune("stage-", (5u << 20) / 2, "stage-d", said, log);
	snprintf(why, sizeof(why), "removed %d: %s; left a%d b%d c%d d%d mine%d",
		 n, log, exists("stage-a"), exists("stage-b"),
		 exists("stage-c"), exists("stage-d"), exists("mine"));
	check(n == 2 && !exists("stage-a") && !exists("stage-c") &&
	      exists("stage-b") && exists("stage-d") && exists("mine"),
	      "least-recently-used-first", why);

	/* A restore is a use: touched now, b outlives d. */
	snap_touch("stage-b");
	log[0] = '\0';
	n = snap_prune("stage-", 1u << 20, NULL, said, log);
	snprintf(why, sizeof(why), "removed %d: %s", n, log);
	check(n == 1 && exists("stage-b") && !exists("stage-d"),
	      "restore-counts-as-use", why);

	/* Cap 0: only the one kept survives. */
	make("stage-e", 1, 500, 0);
	n = snap_prune("stage-", 0, "stage-e", NULL, NULL);
	check(n == 1 && exists("stage-e") && !exists("stage-b") &&
	      exists("mine"), "cap-zero-keeps-the-new-one", NULL);

	setenv("VOIDBOX_TEMPLATE_CACHE_MB", "512", 1);
	check(snap_template_cap() == 512ull << 20, "cap-from-env", NULL);
	setenv("VOIDBOX_TEMPLATE_CACHE_MB", "lots", 1);
	check(snap_template_cap() == (uint64_t)TEMPLATE_CACHE_MB_DEFAULT << 20,
	      "bad-cap-is-the-default", NULL);
	unsetenv("VOIDBOX_TEMPLATE_CACHE_MB");
	check(snap_template_cap() == (uint64_t)TEMPLATE_CACHE_MB_DEFAULT << 20,
	      "default-cap", NULL);

	snprintf(p, sizeof(p), "rm -rf %s", dir);
	if (system(p))
		return 1;
	return failures ? 1 : 0;
}
