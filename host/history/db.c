/* db.c: the run history's database — where it lives, its schema, the
 * writer's lock, recovery after a crash and retention.
 *
 * SQLite in WAL mode: the daemon writes as a run goes (one transaction
 * per event or state change, synchronous=NORMAL: a power cut may lose the
 * last events, never corrupt the file; a killed process loses nothing
 * committed), while `voidbox runs` in another process reads a consistent
 * snapshot without blocking it. auto_vacuum=INCREMENTAL gives the space
 * of deleted runs back to the file system at retention time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "history.h"
#include "../util/util.h"

#define SCHEMA_VERSION 1

static const char schema[] =
	/* runs: one small row a run, updated as it goes (counters,
	 * state); what is large and never changes (the spec, the input) is
	 * in run_inputs, so an update does not rewrite it. */
	"CREATE TABLE runs("
	" id TEXT PRIMARY KEY, name TEXT, kind TEXT, state TEXT NOT NULL,"
	" spec_path TEXT, spec_sha256 TEXT NOT NULL,"
	" run_dir TEXT, resumed_from TEXT,"
	" exit_code INTEGER, error TEXT,"
	" created_ms INTEGER NOT NULL, started_ms INTEGER, ended_ms INTEGER,"
	" tokens_in INTEGER NOT NULL DEFAULT 0,"
	" tokens_out INTEGER NOT NULL DEFAULT 0,"
	" cost_usd REAL NOT NULL DEFAULT 0,"
	" nevents INTEGER NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX runs_created ON runs(created_ms);"
	"CREATE INDEX runs_state ON runs(state, created_ms);"
	"CREATE TABLE run_inputs("
	" run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,"
	" spec_text TEXT NOT NULL, input BLOB);"
	"CREATE TABLE stages("
	" run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	" name TEXT NOT NULL, idx INTEGER NOT NULL, status TEXT NOT NULL,"
	" error TEXT, resumed INTEGER NOT NULL DEFAULT 0,"
	" tokens_in INTEGER, tokens_out INTEGER, cost_usd REAL,"
	" output BLOB, result TEXT,"
	" PRIMARY KEY(run_id, name)) WITHOUT ROWID;"
	"CREATE TABLE events("
	" run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL, type TEXT NOT NULL,"
	" data TEXT NOT NULL,"
	" PRIMARY KEY(run_id, seq)) WITHOUT ROWID;";

bool run_state_ended(const char *st)
{
	return st && (!strcmp(st, RUN_SUCCEEDED) || !strcmp(st, RUN_FAILED) ||
		      !strcmp(st, RUN_CANCELLED) ||
		      !strcmp(st, RUN_INTERRUPTED));
}

int hist_default_path(char *out, size_t len)
{
	const char *v = getenv("VOIDBOX_STORE"), *x = getenv("XDG_STATE_HOME");
	const char *h = getenv("HOME");
	int n;

	if (v && v[0] == '/')
		n = snprintf(out, len, "%s", v);
	else if (x && x[0] == '/')
		n = snprintf(out, len, "%s/voidbox/history.db", x);
	else if (h && h[0] == '/')
		n = snprintf(out, len, "%s/.local/state/voidbox/history.db", h);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir -p of path's directory, private (0700): run history holds specs,
 * inputs and outputs. */
static int make_parent(const char *path)
{
	char d[PATH_MAX];
	snprintf(d, sizeof(d), "%s", path);
	char *slash = strrchr(d, '/');
	if (!slash || slash == d)
		return 0;
	*slash = '\0';
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(d, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

struct sqlite3_stmt *hist_prep(struct hist *s, const char *sql)
{
	unsigned i;
	for (i = 0; i < HIST_STMTS && s->stmt[i].sql; i++)
		if (s->stmt[i].sql == sql)
			return s->stmt[i].st;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK) {
		log_warnx("history: %s", sqlite3_errmsg(s->db));
		return NULL;
	}
	if (i < HIST_STMTS) {
		s->stmt[i].sql = sql;
		s->stmt[i].st = st;
	}
	return st;	/* (past the table: leaks one statement per use) */
}

void hist_put(struct sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

int hist_exec(struct hist *s, const char *sql)
{
	/* The transaction statements are kept too (the event path). */
	if (!strcmp(sql, "BEGIN IMMEDIATE") || !strcmp(sql, "COMMIT") ||
	    !strcmp(sql, "ROLLBACK")) {
		sqlite3_stmt *st = hist_prep(s, !strcmp(sql, "COMMIT")
					     ? "COMMIT" : !strcmp(sql, "ROLLBACK")
					     ? "ROLLBACK" : "BEGIN IMMEDIATE");
		int r = st ? sqlite3_step(st) : SQLITE_ERROR;
		if (r != SQLITE_DONE)
			log_warnx("history: %s: %s", sql, sqlite3_errmsg(s->db));
		hist_put(st);
		return r == SQLITE_DONE ? 0 : -1;
	}

	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("history: %s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

struct hist *hist_open(const char *path, bool readonly, char *err,
		       size_t errlen)
{
	struct hist *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->lockfd = -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	pthread_mutex_init(&s->lock, NULL);
	if (!readonly && make_parent(path) < 0) {
		snprintf(err, errlen, "%s: cannot make its directory: %s", path,
			 strerror(errno));
		goto bad;
	}
	int flags = readonly ? SQLITE_OPEN_READONLY
			     : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto bad;
	}
	if (!readonly)
		chmod(path, 0600);
	sqlite3_busy_timeout(s->db, 5000);
	sqlite3_extended_result_codes(s->db, 1);
	int v = user_version(s->db);
	if (v < 0) {
		snprintf(err, errlen, "%s: not a voidbox run history: %s", path,
			 sqlite3_errmsg(s->db));
		goto bad;
	}
	if (v > SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: written by a newer voidbox (schema "
			 "%d, this one knows %d)", path, v, SCHEMA_VERSION);
		goto bad;
	}
	if (v == 0 && readonly) {
		snprintf(err, errlen, "%s: no runs recorded yet", path);
		goto bad;
	}
	if (hist_exec(s, "PRAGMA foreign_keys=ON") < 0)
		goto sqlbad;
	if (!readonly && (hist_exec(s, "PRAGMA journal_mode=WAL") < 0 ||
			  hist_exec(s, "PRAGMA synchronous=NORMAL") < 0))
		goto sqlbad;
	if (v == 0) {
		/* auto_vacuum is set before the first table exists. */
		if (hist_exec(s, "PRAGMA auto_vacuum=INCREMENTAL") < 0 ||
		    hist_exec(s, "BEGIN IMMEDIATE") < 0)
			goto sqlbad;
		if (user_version(s->db) == 0 &&
		    (hist_exec(s, schema) < 0 ||
		     hist_exec(s, "PRAGMA user_version=1") < 0)) {
			hist_exec(s, "ROLLBACK");
			goto sqlbad;
		}
		if (hist_exec(s, "COMMIT") < 0)
			goto sqlbad;
	}
	/* A damaged file opens fine and fails on first use: find out now. */
	if (hist_exec(s, "SELECT count(*) FROM runs") < 0)
		goto sqlbad;
	return s;
sqlbad:
	snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
bad:
	hist_close(s);
	return NULL;
}

void hist_close(struct hist *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < HIST_STMTS; i++)
		sqlite3_finalize(s->stmt[i].st);
	sqlite3_close_v2(s->db);
	if (s->lockfd >= 0)
		close(s->lockfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int hist_recover(struct hist *s)
{
	char lp[PATH_MAX + 8];
	snprintf(lp, sizeof(lp), "%s.lock", s->path);
	int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	s->lockfd = fd;
	pthread_mutex_lock(&s->lock);
	sqlite3_stmt *st = NULL;
	int n = -EIO;
	if (sqlite3_prepare_v2(s->db,
			       "UPDATE runs SET state='interrupted', "
			       "ended_ms=?1, error=coalesce(error, 'the daemon "
			       "stopped while the run was ' || state) "
			       "WHERE state IN ('queued','running')",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)(wall_ns() / 1000000));
		if (sqlite3_step(st) == SQLITE_DONE)
			n = sqlite3_changes(s->db);
	}
	if (n < 0)
		log_warnx("history: recovery: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* rm -rf of a run directory the daemon made (never anything else). */
static void remove_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				remove_tree(fd, e->d_name);
		if (d)
			closedir(d);
		else
			close(fd);
		unlinkat(dirfd, name, AT_REMOVEDIR);
	} else {
		unlinkat(dirfd, name, 0);
	}
}

int hist_runs_dir(const struct hist *s, char *out, size_t len)
{
	const char *slash = strrchr(s->path, '/');
	int n = slash ? snprintf(out, len, "%.*s/runs", (int)(slash - s->path),
				 s->path)
		      : snprintf(out, len, "runs");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void drop_run_dir(struct hist *s, const char *dir)
{
	/* Only directories under the store's own runs/ (the daemon's). */
	char mine[PATH_MAX];
	if (!dir || hist_runs_dir(s, mine, sizeof(mine)) < 0)
		return;
	size_t l = strlen(mine);
	if (strncmp(dir, mine, l) || dir[l] != '/' || strstr(dir + l, ".."))
		return;
	remove_tree(AT_FDCWD, dir);
}

/* Delete the runs a SELECT of (id, run_dir) names. */
static int delete_selected(struct hist *s, sqlite3_stmt *sel)
{
	int n = 0;
	sqlite3_stmt *del = NULL;
	if (sqlite3_prepare_v2(s->db, "DELETE FROM runs WHERE id=?1", -1,
			       &del, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(sel) == SQLITE_ROW) {
		const char *dir = (const char *)sqlite3_column_text(sel, 1);
		sqlite3_bind_text(del, 1,
				  (const char *)sqlite3_column_text(sel, 0), -1,
				  SQLITE_TRANSIENT);
		if (sqlite3_step(del) == SQLITE_DONE) {
			drop_run_dir(s, dir);
			n++;
		}
		sqlite3_reset(del);
	}
	sqlite3_finalize(del);
	return n;
}

int hist_retain(struct hist *s, int64_t max_age_s, int64_t max_bytes)
{
	int n = 0;
	sqlite3_stmt *st = NULL;

	pthread_mutex_lock(&s->lock);
	if (hist_exec(s, "BEGIN IMMEDIATE") < 0) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	if (max_age_s > 0 &&
	    sqlite3_prepare_v2(s->db, "SELECT id, run_dir FROM runs WHERE "
			       "state IN ('succeeded','failed','cancelled',"
			       "'interrupted') AND created_ms < ?1", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)(wall_ns() / 1000000) -
					  max_age_s * 1000);
		int k = delete_selected(s, st);
		n += k > 0 ? k : 0;
		sqlite3_finalize(st);
		st = NULL;
	}
	if (max_bytes > 0 &&
	    sqlite3_prepare_v2(s->db,
			       "SELECT id, run_dir FROM (SELECT id, run_dir, "
			       "created_ms, state, sum(bytes) OVER (ORDER BY "
			       "created_ms DESC, id DESC) AS upto FROM runs) "
			       "WHERE upto > ?1 AND state IN ('succeeded',"
			       "'failed','cancelled','interrupted')", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, max_bytes);
		int k = delete_selected(s, st);
		n += k > 0 ? k : 0;
		sqlite3_finalize(st);
	}
	hist_exec(s, "COMMIT");
	if (n)
		hist_exec(s, "PRAGMA incremental_vacuum");
	pthread_mutex_unlock(&s->lock);
	return n;
}
