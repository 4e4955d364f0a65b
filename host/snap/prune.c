/* prune.c: stage templates are a cache, and a cache is bounded.
 *
 * A template with claude-code waiting in it holds that process's memory
 * (hundreds of MiB), one per box configuration: left alone they would
 * fill the data directory (on a tmpfs, the host's RAM). After a template
 * is made, the least recently used ones go until the templates' total on
 * disk is under the cap (VOIDBOX_TEMPLATE_CACHE_MB, default
 * TEMPLATE_CACHE_MB_DEFAULT; 0 = no templates kept at all beyond the one
 * just made). Only names with the templates' prefix are ever touched:
 * snapshots a user made by name are never removed here. "Used" is the
 * mtime of the template's `used` stamp, set at every restore (else of
 * its meta.json).
 *
 * A stage restoring a template at the moment another process prunes it
 * keeps working once its VMM has the file open (the mapping outlives the
 * unlink); in the milliseconds before that its restore fails like any
 * missing snapshot and the stage is reported as not started.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snap.h"
#include "../util/util.h"

#define PRUNE_MAX 1024			/* templates looked at */

struct entry {
	char name[SNAP_NAME_MAX + 1];
	uint64_t bytes;
	int64_t used_ns;
};

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

void snap_touch(const char *name)
{
	char p[4200];

	if (!snap_name_ok(name) || snap_path(name, "used", p, sizeof(p)) < 0)
		return;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
}

static bool entry_of(const char *dir, const char *name, struct entry *e)
{
	char p[4400];
	struct stat st;

	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(p, sizeof(p), "%s/%s/vm.snap", dir, name);
	if (lstat(p, &st) < 0)
		return false;	/* being made or removed: not ours to judge */
	e->bytes = (uint64_t)st.st_blocks * 512;
	snprintf(p, sizeof(p), "%s/%s/used", dir, name);
	if (lstat(p, &st) < 0) {
		snprintf(p, sizeof(p), "%s/%s/meta.json", dir, name);
		if (lstat(p, &st) < 0)
			return false;
	}
	e->used_ns = mtime_ns(&st);
	return true;
}

static int by_use(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return (x->used_ns > y->used_ns) - (x->used_ns < y->used_ns);
}

uint64_t snap_template_cap(void)
{
	const char *v = getenv("VOIDBOX_TEMPLATE_CACHE_MB");
	char *end;

	if (v && *v) {
		unsigned long long mb = strtoull(v, &end, 10);
		if (!*end && mb < (1ull << 40))
			return (uint64_t)mb << 20;
		log_warnx("VOIDBOX_TEMPLATE_CACHE_MB=%s is not a number of "
			  "MiB; using %u", v, TEMPLATE_CACHE_MB_DEFAULT);
	}
	return (uint64_t)TEMPLATE_CACHE_MB_DEFAULT << 20;
}

int snap_prune(const char *prefix, uint64_t cap, const char *keep,
	       void (*said)(const char *name, uint64_t bytes, void *ctx),
	       void *ctx)
{
	char dir[4096], err[256];
	struct entry *es = calloc(PRUNE_MAX, sizeof(*es));
	size_t n = 0, plen = strlen(prefix);
	uint64_t total = 0;
	int removed = 0;
	DIR *d;

	if (!es || snap_path(NULL, NULL, dir, sizeof(dir)) < 0 ||
	    !(d = opendir(dir))) {
		free(es);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d)) && n < PRUNE_MAX) {
		if (strncmp(de->d_name, prefix, plen) ||
		    !snap_name_ok(de->d_name))
			continue;
		if (entry_of(dir, de->d_name, &es[n])) {
			total += es[n].bytes;
			n++;
		}
	}
	closedir(d);
	qsort(es, n, sizeof(*es), by_use);
	for (size_t i = 0; i < n && total > cap; i++) {
		if (keep && !strcmp(es[i].name, keep))
			continue;
		if (snap_rm(es[i].name, err, sizeof(err)) == 0) {
			total -= es[i].bytes;
			removed++;
			if (said)
				said(es[i].name, es[i].bytes, ctx);
		}
	}
	free(es);
	return removed;
}
