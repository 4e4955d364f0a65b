/* history.h: table of contents of host/history/ — the durable run history
 * (SQLite, WAL mode), written by `voidbox serve` as runs go and read by
 * it and by `voidbox runs`/`logs` with or without a daemon.
 *
 *   db.c        open, schema, recovery after a crash, retention, paths
 *   runs.c      runs, stages, events, outputs: writes and queries
 *
 * The database is one file, $VOIDBOX_STORE, else
 * $XDG_STATE_HOME/voidbox/history.db, else ~/.local/state/voidbox/...
 * One process writes it (the daemon; a second daemon on the same store is
 * refused by an exclusive lock file); any number read. Every function is
 * safe from several threads (one connection, one mutex).
 */
#ifndef VOIDBOX_HISTORY_H
#define VOIDBOX_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

struct cJSON;
struct sqlite3;

/* One open database (private to host/history/). Statements are prepared
 * once and kept (keyed by their SQL text's address: every statement is a
 * literal): an event costs no parse and no allocation churn, which with
 * musl's allocator means mmap/munmap and a TLB shootdown (measured: the
 * cache and the small runs row together took 4,000 events from 7 s of
 * the daemon's CPU to under 1 s). */
#define HIST_STMTS 32
struct hist {
	struct sqlite3 *db;
	struct {
		const char *sql;
		struct sqlite3_stmt *st;
	} stmt[HIST_STMTS];
	pthread_mutex_t lock;
	int lockfd;			/* the writer's lock file, or -1 */
	char path[4096];
};

/* Run states. A run is queued, then running, then one of the ended
 * states; "interrupted" is what a restart finds of a run the daemon was
 * running when it died. */
#define RUN_QUEUED      "queued"
#define RUN_RUNNING     "running"
#define RUN_SUCCEEDED   "succeeded"
#define RUN_FAILED      "failed"
#define RUN_CANCELLED   "cancelled"
#define RUN_INTERRUPTED "interrupted"
bool run_state_ended(const char *state);

/* Bounds on what one run may put in the store: events past the count are
 * dropped (one "events dropped" event says so), event data is cut. */
#define HIST_MAX_EVENTS   100000
#define HIST_MAX_EVENT    8192		/* bytes of one event's JSON */
#define HIST_MAX_OUTPUT   (16u << 20)	/* one stage's output */

/* db.c */
/* The path: $VOIDBOX_STORE, else the state directory's history.db. 0 or
 * -ENOENT (no HOME nor absolute setting), -ENAMETOOLONG. */
int hist_default_path(char *out, size_t len);
/* Open (creating the file, its directory and the schema unless readonly).
 * NULL with err on failure: a file that is not our database, a newer
 * schema, a damaged database ("database disk image is malformed"). */
struct hist *hist_open(const char *path, bool readonly, char *err,
			 size_t errlen);
void hist_close(struct hist *s);
/* For a daemon: take the store's writer lock (a lock file beside it;
 * -EBUSY when another daemon holds it), then mark every run left queued
 * or running as interrupted. Returns how many were marked, or -errno. */
int hist_recover(struct hist *s);
/* Delete ended runs older than max_age_s (0: no age bound), then the
 * oldest ended runs until their recorded bytes fit max_bytes (0: no
 * bound). Returns the number deleted; their run directories (the run_dir
 * column) are removed too. */
int hist_retain(struct hist *s, int64_t max_age_s, int64_t max_bytes);
/* The directory for run directories: runs/ beside the database. */
int hist_runs_dir(const struct hist *s, char *out, size_t len);
/* Run one statement (or several); -1 logged. Caller holds s->lock. */
int hist_exec(struct hist *s, const char *sql);
/* A kept statement for sql (a literal), reset; NULL (logged) on error.
 * hist_put resets it for the next use. Caller holds s->lock. */
struct sqlite3_stmt *hist_prep(struct hist *s, const char *sql);
void hist_put(struct sqlite3_stmt *st);

/* runs.c: writes. 0, or -1 (logged). */
struct hist_run {
	const char *id, *name, *kind;
	const char *spec_path;		/* NULL for an inline spec */
	const char *spec_text;
	const char *input;		/* may be NULL */
	size_t input_len;
	const char *run_dir;
	const char *resumed_from;	/* NULL */
};
int hist_run_add(struct hist *s, const struct hist_run *r);
/* State change (started/ended times follow it); error may be NULL. */
int hist_run_state(struct hist *s, const char *id, const char *state,
		    int exit_code, const char *error);
/* Append an event (a JSON object; seq and ts are added). *seq gets its
 * number (from 1, per run). -1 past HIST_MAX_EVENTS. */
int hist_event_add(struct hist *s, const char *id, struct cJSON *ev,
		    int64_t *seq);
/* A run's final report (vb_result_json's document): its stages, their
 * outputs, usage and cost, kept. */
int hist_run_report(struct hist *s, const char *id, const char *json);
/* A stage result carried into a resumed run: the stage was not run
 * again, its recorded output is the one used. */
int hist_stage_resumed(struct hist *s, const char *id, const char *stage,
			unsigned idx, const char *output, size_t len);

/* runs.c: reads. JSON documents the caller frees (cJSON_Delete); NULL
 * for "no such run" (errno ENOENT) or an error (logged). */
struct cJSON *hist_run_get(struct hist *s, const char *id);
/* Newest first; state may be NULL; before: an id, to page (NULL). */
struct cJSON *hist_runs_list(struct hist *s, const char *state,
			      unsigned limit, const char *before);
/* Events with seq > after, at most max, in order: an array of the event
 * objects. *ended: the run has ended (nothing will be added). */
struct cJSON *hist_events(struct hist *s, const char *id, int64_t after,
			   unsigned max, bool *ended);
/* A stage's output: malloc'd bytes (may be empty), -ENOENT (no such run,
 * stage or output), or -EIO. */
int hist_stage_output(struct hist *s, const char *id, const char *stage,
		       char **out, size_t *len);
/* What resume needs of a run: its state, spec (path, text and its
 * sha256) and input, and each stage that succeeded with its output (an
 * object name -> output). Free with cJSON_Delete. */
struct cJSON *hist_run_resume_info(struct hist *s, const char *id);

#endif
