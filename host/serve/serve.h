/* serve.h: table of contents of host/serve/ — `voidbox serve`, the daemon
 * (docs/api/openapi.json is its contract), and the client the CLI uses
 * to talk to it.
 *
 *   server.c   listeners (unix socket, optional TCP with a bearer token),
 *              one thread per connection, requests read as hostile bytes
 *   routes.c   the API: paths to handlers, JSON in and out
 *   runner.c   runs: a bounded queue, each run a `voidbox run` child
 *              process (its own failure domain), its events into history
 *   submit.c   a new run (checked, recorded, queued), cancel, resume
 *   sse.c      GET /v1/runs/{id}/events as Server-Sent Events
 *   client.c   HTTP/1.1 over the unix socket or TCP, for the CLI
 *
 * The daemon is the run history's only writer (host/history/); what it
 * serves comes from there, so a restart loses nothing that was said.
 */
#ifndef VOIDBOX_SERVE_H
#define VOIDBOX_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cJSON;
struct hist;

#define SERVE_MAX_CONNS   64		/* connections served at once */
#define SERVE_MAX_HEAD    (16u << 10)	/* request line + headers */
#define SERVE_MAX_BODY    (8u << 20)	/* a request body (spec + input) */
#define SERVE_IO_TIMEOUT  10		/* s to send a request, or take a
					   reply's bytes */
#define SERVE_QUEUE_MAX   1000		/* runs waiting for a slot */

struct serve_cfg {
	const char *socket_path;	/* NULL: the runtime directory's */
	const char *tcp;		/* "HOST:PORT" or NULL */
	const char *token;		/* bearer token, required with tcp */
	const char *store_path;		/* NULL: hist_default_path */
	unsigned max_runs;		/* runs at once (default 2) */
	int64_t retain_age_s, retain_bytes;	/* 0: unbounded */
	bool json_log;
};

/* server.c */
/* Run the daemon until SIGTERM/SIGINT: exit code (0 on a clean stop). */
int serve_main(const struct serve_cfg *cfg);
/* The default socket: $VOIDBOX_DAEMON when it is a path, else
 * $XDG_RUNTIME_DIR/voidbox/serve.api (or the private /tmp directory). */
int serve_socket_path(char *out, size_t len);

/* One request, as the handlers see it. */
struct req {
	int fd;
	const char *method;
	char path[512];			/* decoded, without the query */
	char query[512];		/* raw, after '?' (may be "") */
	const char *last_event_id;	/* header, or NULL */
	const char *accept;
	const char *body;
	size_t body_len;
	bool tcp;
};
/* Replies: status + a JSON document (freed here), or an error document
 * {"error":{"code":CODE,"message":MSG}}. Return 0 or -1 (peer gone). */
int reply_json(struct req *r, int status, struct cJSON *doc);
int reply_error(struct req *r, int status, const char *code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int reply_raw(struct req *r, int status, const char *ctype,
	      const void *body, size_t len);
/* A query parameter's value (decoded) into out; false when absent. */
bool query_param(const struct req *r, const char *key, char *out,
		 size_t len);

/* routes.c: one request to its handler. */
struct serve_state;
void route(struct serve_state *st, struct req *r);

/* runner.c */
struct serve_state *runner_start(struct hist *h, const struct serve_cfg *c);
/* Cancel every run, wait for them (bounded), stop. */
void runner_stop(struct serve_state *st);
struct hist *runner_hist(struct serve_state *st);
/* Submit: the spec (path, or text saved into the run's directory),
 * input, working directory; the run is checked (spec errors: 400 with
 * them, in *err as JSON) and queued. The new run's document, or NULL
 * with *status and *err set. */
struct submit {
	const char *spec_path, *spec_text;
	const char *input;
	size_t input_len;
	const char *workdir;
	const char *resumed_from;	/* resume: the run it continues */
	struct cJSON *resume_outputs;	/* resume: {box: output}, borrowed */
};
struct cJSON *runner_submit(struct serve_state *st, const struct submit *s,
			    int *status, struct cJSON **err);
/* Cancel: 0 (cancelled or cancelling), -ENOENT, -EALREADY (ended). */
int runner_cancel(struct serve_state *st, const char *id);
/* Resume run id: a new run, or NULL with *status and *err. */
struct cJSON *runner_resume(struct serve_state *st, const char *id,
			    bool force, int *status, struct cJSON **err);
/* The generation of events: wait until it moves past gen or timeout_ms
 * passes; returns the current one. */
uint64_t runner_wait_events(struct serve_state *st, uint64_t gen,
			    unsigned timeout_ms);
bool runner_stopping(struct serve_state *st);

/* sse.c */
void sse_events(struct serve_state *st, struct req *r, const char *id);

/* client.c: one request to the daemon, for the CLI. addr: a unix socket
 * path, or http://HOST:PORT (token from $VOIDBOX_TOKEN). The reply's
 * status and body (malloc'd), or -1 with err. */
struct dresp {
	int status;
	char *body;
	size_t len;
};
int daemon_request(const char *addr, const char *method, const char *path,
		   const char *body, size_t body_len, struct dresp *out,
		   char *err, size_t errlen);
/* A streaming GET (SSE): calls on_line for each line until the daemon
 * closes or on_line returns nonzero. 0, or -1 with err. */
int daemon_stream(const char *addr, const char *path,
		  const char *last_event_id,
		  int (*on_line)(void *ctx, const char *line), void *ctx,
		  char *err, size_t errlen);
/* The address the CLI uses: --daemon ADDR, else $VOIDBOX_DAEMON, else the
 * default socket. */
const char *daemon_addr(const char *opt, char *buf, size_t len);

/* --- private to host/serve/ ------------------------------------------ */

#include <limits.h>
#include <pthread.h>

#define CANCEL_GRACE_NS (20ull * 1000000000)	/* SIGTERM, then SIGKILL */

struct run {
	char id[48];
	char dir[PATH_MAX];
	char spec_file[PATH_MAX];
	char workdir[PATH_MAX];
	bool input, resume;
	pid_t pid;
	bool cancel, shutdown;
	uint64_t cancel_ns;
	struct run *next;
};

struct serve_state {
	struct hist *h;
	struct serve_cfg cfg;
	char runs_dir[PATH_MAX];
	pthread_mutex_t lock;
	pthread_cond_t ev_cv, idle_cv;
	uint64_t gen;
	struct run *qhead, *qtail, *active;
	unsigned nqueued, nactive;
	bool stopping;
};

/* runner.c: an event of the run, recorded and announced; the run's end
 * (event, then state); start queued runs while slots are free. */
void run_event(struct serve_state *st, const char *id, const char *state,
	       int code, const char *error);
void run_end(struct serve_state *st, const char *id, const char *state,
	     int code, const char *error);
void dispatch(struct serve_state *st);

#endif
