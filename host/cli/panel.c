/* panel.c: the live run panel — `voidbox run` on a terminal draws one line
 * per stage (state, elapsed time, tokens, cost, last tool) at the bottom
 * of the screen and redraws it in place; every other line still appears,
 * above it.
 *
 * Only on a terminal that wants it (panel_wanted): stderr a terminal, the
 * text log format, NO_COLOR unset, TERM set and not "dumb". Otherwise the
 * line log is exactly what it always was.
 *
 * Other lines. Our own log lines and each VMM child's go to fd 2. While
 * the panel runs, fd 2 is a pipe read by the panel's thread (the terminal
 * kept on a descriptor of its own): each complete line read is written
 * above the panel, which is then redrawn, so nothing is lost and nothing
 * tears the frame. panel_stop erases the frame, flushes what is left and
 * puts fd 2 back; the plain report lines that follow are the summary.
 *
 * Frames are written with one write(2) each: erase the previous frame
 * (cursor up its height, clear to the end of the screen), then the rows,
 * each cut to the terminal's width so that none wraps (a wrapped row would
 * make the height wrong).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../api/api.h"
#include "../util/util.h"

#define PANEL_TICK_MS 250	/* redraw for the clocks */
#define PANEL_LINE_MAX 4096	/* a longer log line is written in parts */
#define PANEL_TOOL_MAX 160

struct row {
	char name[64];
	enum { R_PENDING, R_BOOT, R_AGENT, R_COLLECT, R_DONE } st;
	char result[16];		/* R_DONE: ok, failed, timeout... */
	uint64_t t0, t1;		/* mono ns: start, end (0: not yet) */
	uint64_t tin, tout;
	double usd;
	char tool[PANEL_TOOL_MAX];
};

struct panel {
	char title[80];
	struct row *rows;
	size_t n;
	pthread_mutex_t lock;
	int tty;			/* the terminal (stderr's dup) */
	int saved_err;			/* fd 2 as it was */
	int cap[2];			/* fd 2 while we run: cap[1] */
	int stop[2];
	int wake[2];			/* progress came: draw now */
	pthread_t t;
	unsigned drawn;			/* rows on screen now */
	uint64_t t0;
	char pend[PANEL_LINE_MAX];	/* a captured line not ended yet */
	size_t npend;
};

bool panel_wanted(void)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");

	return isatty(STDERR_FILENO) && !log_is_json() &&
	       !(nc && *nc) && term && *term && strcmp(term, "dumb");
}

/* Tokens as 999, 12.3k, 4.5M. */
static void fmt_count(char *out, size_t len, uint64_t v)
{
	if (v < 1000)
		snprintf(out, len, "%llu", (unsigned long long)v);
	else if (v < 1000000)
		snprintf(out, len, "%.1fk", (double)v / 1e3);
	else
		snprintf(out, len, "%.1fM", (double)v / 1e6);
}

static const char *state_of(const struct row *r, const char **color)
{
	switch (r->st) {
	case R_PENDING:
		*color = "\033[2m";
		return "pending";
	case R_BOOT:
		*color = "\033[36m";
		return "booting";
	case R_AGENT:
		*color = "\033[33m";
		return "running";
	case R_COLLECT:
		*color = "\033[36m";
		return "collect";
	case R_DONE:
		break;
	}
	*color = !strcmp(r->result, "ok") ? "\033[32m" : "\033[31m";
	return r->result;
}

/* Append s to b (at *n, capacity cap), at most `room` visible columns
 * (bytes of a UTF-8 lead counted as one). Control bytes become '?'. */
static void put_cut(char *b, size_t *n, size_t cap, const char *s,
		    size_t *room)
{
	for (; *s && *room && *n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c & 0xc0) != 0x80)
			--*room;	/* a character starts */
		b[(*n)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	/* Never leave half a character. */
	while (*s && *n > 0 && ((unsigned char)*s & 0xc0) == 0x80 &&
	       ((unsigned char)b[*n - 1] & 0x80))
		s++, (*n)--;
}

static void put_raw(char *b, size_t *n, size_t cap, const char *s)
{
	size_t l = strlen(s);
	if (*n + l < cap) {
		memcpy(b + *n, s, l);
		*n += l;
	}
}

/* The frame (lock held): a title line and one line per stage. */
static size_t frame(struct panel *p, char *b, size_t cap, unsigned cols)
{
	uint64_t now = mono_ns();
	size_t n = 0, w = 4, done = 0;
	char line[512];

	for (size_t i = 0; i < p->n; i++) {
		size_t l = strlen(p->rows[i].name);
		w = l > w ? (l < 24 ? l : 24) : w;
		done += p->rows[i].st == R_DONE;
	}
	snprintf(line, sizeof(line), "[%s] %zu/%zu done, %.1f s", p->title,
		 done, p->n, (double)(now - p->t0) / 1e9);
	size_t room = cols;
	put_raw(b, &n, cap, "\033[1m");
	put_cut(b, &n, cap, line, &room);
	put_raw(b, &n, cap, "\033[0m\r\n");
	for (size_t i = 0; i < p->n; i++) {
		const struct row *r = &p->rows[i];
		const char *color;
		const char *st = state_of(r, &color);
		char el[16] = "-", ti[16], to[16], tok[40] = "-", usd[16] = "-";
		if (r->t0)
			snprintf(el, sizeof(el), "%.1fs",
				 (double)((r->t1 ? r->t1 : now) - r->t0) / 1e9);
		if (r->tin || r->tout) {
			fmt_count(ti, sizeof(ti), r->tin);
			fmt_count(to, sizeof(to), r->tout);
			snprintf(tok, sizeof(tok), "%s/%s", ti, to);
		}
		if (r->usd > 0)
			snprintf(usd, sizeof(usd), "$%.4f", r->usd);
		room = cols;
		snprintf(line, sizeof(line), "  %-*.*s ", (int)w, (int)w,
			 r->name);
		put_cut(b, &n, cap, line, &room);
		put_raw(b, &n, cap, color);
		snprintf(line, sizeof(line), "%-8s", st);
		put_cut(b, &n, cap, line, &room);
		put_raw(b, &n, cap, "\033[0m");
		snprintf(line, sizeof(line), " %7s %13s %9s  ", el, tok, usd);
		put_cut(b, &n, cap, line, &room);
		put_cut(b, &n, cap, r->tool[0] ? r->tool : "-", &room);
		put_raw(b, &n, cap, "\r\n");
	}
	return n;
}

/* Erase the frame on screen (lock held): into b. */
static size_t erase(struct panel *p, char *b, size_t cap)
{
	size_t n = 0;
	if (p->drawn)
		n = (size_t)snprintf(b, cap, "\r\033[%uA\033[J", p->drawn);
	else
		n = (size_t)snprintf(b, cap, "\r\033[J");
	p->drawn = 0;
	return n;
}

static unsigned term_cols(int fd)
{
	uint16_t rows, cols;
	return term_size(fd, &rows, &cols) && cols > 1 ? cols - 1u : 79u;
}

/* Erase, write the log text (complete lines), draw again. */
static void redraw(struct panel *p, const char *log, size_t loglen,
		   bool final)
{
	size_t cap = 65536 + loglen;
	char *b = malloc(cap);
	if (!b)
		return;
	pthread_mutex_lock(&p->lock);
	size_t n = erase(p, b, cap);
	for (size_t i = 0; i < loglen && n + 2 < cap; i++) {
		if (log[i] == '\n')
			b[n++] = '\r';	/* the terminal may be in raw mode */
		b[n++] = log[i];
	}
	if (!final) {
		n += frame(p, b + n, cap - n, term_cols(p->tty));
		p->drawn = (unsigned)p->n + 1;
	}
	pthread_mutex_unlock(&p->lock);
	(void)!agent_write_all(p->tty, b, n);
	free(b);
}

/* Whatever came on fd 2: whole lines go above the frame now. */
static void take_captured(struct panel *p, bool flush)
{
	char buf[8192];
	ssize_t k;

	while ((k = read(p->cap[0], buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < k; i++) {
			p->pend[p->npend++] = buf[i];
			if (buf[i] == '\n' || p->npend == sizeof(p->pend)) {
				if (buf[i] != '\n')
					p->pend[p->npend - 1] = '\n';
				redraw(p, p->pend, p->npend, false);
				p->npend = 0;
			}
		}
	}
	if (flush && p->npend) {
		p->pend[p->npend++] = '\n';
		redraw(p, p->pend, p->npend, true);
		p->npend = 0;
	}
}

static void *panel_main(void *arg)
{
	struct panel *p = arg;

	(void)!agent_write_all(p->tty, "\033[?25l", 6);	/* no cursor */
	redraw(p, "", 0, false);
	for (;;) {
		struct pollfd f[3] = { { .fd = p->cap[0], .events = POLLIN },
				       { .fd = p->stop[0], .events = POLLIN },
				       { .fd = p->wake[0], .events = POLLIN } };
		if (poll(f, 3, PANEL_TICK_MS) < 0 && errno != EINTR)
			break;
		if (f[0].revents)
			take_captured(p, false);
		if (f[1].revents)
			break;
		char drain[64];
		if (f[2].revents)
			while (read(p->wake[0], drain, sizeof(drain)) > 0)
				;
		redraw(p, "", 0, false);
	}
	return NULL;
}

struct panel *panel_start(const char *title, const char *const *names,
			  size_t n)
{
	struct panel *p = calloc(1, sizeof(*p));

	if (!p || !(p->rows = calloc(n ? n : 1, sizeof(*p->rows))))
		goto err;
	snprintf(p->title, sizeof(p->title), "%s", title);
	p->n = n;
	for (size_t i = 0; i < n; i++)
		snprintf(p->rows[i].name, sizeof(p->rows[i].name), "%s",
			 names[i]);
	p->t0 = mono_ns();
	p->cap[0] = p->cap[1] = p->stop[0] = p->stop[1] = -1;
	p->wake[0] = p->wake[1] = -1;
	p->tty = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	p->saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (p->tty < 0 || p->saved_err < 0 ||
	    pipe2(p->cap, O_CLOEXEC) < 0 || pipe2(p->stop, O_CLOEXEC) < 0 ||
	    pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    fcntl(p->cap[0], F_SETFL, O_NONBLOCK) < 0)
		goto err;
	pthread_mutex_init(&p->lock, NULL);
	if (dup2(p->cap[1], STDERR_FILENO) < 0)
		goto err;
	close(p->cap[1]);
	p->cap[1] = -1;
	if (pthread_create(&p->t, NULL, panel_main, p)) {
		dup2(p->saved_err, STDERR_FILENO);
		goto err;
	}
	return p;
err:
	if (p) {
		for (int i = 0; i < 2; i++) {
			if (p->cap[i] >= 0)
				close(p->cap[i]);
			if (p->stop[i] >= 0)
				close(p->stop[i]);
			if (p->wake[i] >= 0)
				close(p->wake[i]);
		}
		if (p->tty >= 0)
			close(p->tty);
		if (p->saved_err >= 0)
			close(p->saved_err);
		free(p->rows);
		free(p);
	}
	return NULL;
}

void panel_progress(void *ctx, const char *stage,
		    const struct stage_progress *pr)
{
	struct panel *p = ctx;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++) {
		struct row *r = &p->rows[i];
		if (strcmp(r->name, stage))
			continue;
		uint64_t now = mono_ns();
		if (!r->t0)
			r->t0 = now;
		switch (pr->phase) {
		case PH_BOOT:
			r->st = R_BOOT;
			break;
		case PH_AGENT:
			r->st = R_AGENT;
			break;
		case PH_COLLECT:
			r->st = R_COLLECT;
			break;
		case PH_DONE:
			r->st = R_DONE;
			r->t1 = now;
			snprintf(r->result, sizeof(r->result), "%s",
				 pr->r ? report_status(pr->r->status) : "done");
			break;
		}
		if (pr->tokens_in || pr->tokens_out || pr->usd > 0) {
			r->tin = pr->tokens_in;
			r->tout = pr->tokens_out;
			r->usd = pr->usd;
		}
		if (pr->phase == PH_DONE && pr->r && pr->r->stream) {
			const struct claude_result *cr =
				claude_stream_result(pr->r->stream);
			if (cr->have_result) {
				r->tin = cr->input_tokens +
					 cr->cache_creation_tokens +
					 cr->cache_read_tokens;
				r->tout = cr->output_tokens;
				r->usd = cr->cost_usd;
			}
		}
		if (pr->ev && pr->ev->kind == CE_TOOL_USE)
			snprintf(r->tool, sizeof(r->tool), "%s %s",
				 pr->ev->name ? pr->ev->name : "?",
				 pr->ev->text ? pr->ev->text : "");
		break;
	}
	pthread_mutex_unlock(&p->lock);
	(void)!write(p->wake[1], "w", 1);	/* full: a draw is due anyway */
}

void panel_stop(struct panel *p)
{
	if (!p)
		return;
	(void)!write(p->stop[1], "x", 1);
	pthread_join(p->t, NULL);
	/* fd 2 back first: what is written from now on goes straight to
	 * the terminal, and the pipe sees its last bytes. */
	dup2(p->saved_err, STDERR_FILENO);
	take_captured(p, true);
	/* The last state drawn once (the thread may have stopped before
	 * the final progress reached the screen), then the frame goes. */
	redraw(p, "", 0, false);
	redraw(p, "", 0, true);
	(void)!agent_write_all(p->tty, "\033[?25h", 6);
	for (int i = 0; i < 2; i++) {
		if (p->cap[i] >= 0)
			close(p->cap[i]);
		close(p->stop[i]);
		close(p->wake[i]);
	}
	close(p->tty);
	close(p->saved_err);
	pthread_mutex_destroy(&p->lock);
	free(p->rows);
	free(p);
}
