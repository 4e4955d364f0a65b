/* stream.c: incremental parser for claude-code's stream-json output.
 *
 * Primer. `claude -p --output-format stream-json --verbose` prints one
 * JSON object per line (claude-code-headless.md §3):
 *   {"type":"system","subtype":"init","model","session_id",...}
 *   {"type":"assistant","message":{"model","content":[ONE block]}}
 *       block: text{text} | tool_use{id,name,input} | thinking (ignored)
 *   {"type":"user","message":{"content":[tool_result{tool_use_id,
 *       content: string | [{type:text,text}], is_error}]},
 *    "tool_use_result": {stdout,...} | string}
 *   {"type":"result","subtype","is_error","result","errors":[...],
 *    "api_error_status","num_turns","usage":{...},"total_cost_usd",...}
 * Other types (stream_event, system/status, ...) are ignored. Subagent
 * messages (parent_tool_use_id set) have the same shape and are recorded.
 *
 * The bytes come from a guest that runs model-written code, so they may
 * be anything. Lines are bounded (CLAUDE_MAX_LINE) and pre-scanned for
 * NUL, depth and value count before cJSON sees them; every field is
 * type-checked; every string kept is cut and made valid UTF-8; tool
 * inputs are re-printed by a bounded printer (cJSON_Print would allocate
 * up to 6x the line). A bad line is counted and skipped, never fatal.
 *
 * Threads: nothing here is global. cJSON itself stores the last parse
 * error position in a global (cJSON.c global_error) that we never read;
 * parallel streams race on that store only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "run.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
/* Idle line buffers bigger than this are released after each line, so a
 * single huge line does not pin 8 MiB for the rest of the run. */
#define LINE_KEEP (256u << 10)

struct claude_stream {
	claude_event_fn fn;
	void *ctx;
	struct claude_result r;
	size_t tools_cap;
	uint32_t *idhash;		/* per tool: hash of its id while it
					 * waits for a result, else 0 */
	size_t stored;			/* tool input/output bytes kept */
	char *line;			/* the current, unfinished line */
	size_t len, cap;
	bool skipping;			/* inside an over-long line */
	/* event strings for things not stored (ids of dropped tools) */
	char ev_id[CLAUDE_MAX_ID + 1], ev_name[CLAUDE_MAX_ID + 1];
	char ev_text[CLAUDE_SUMMARY + 1];
};

/* --- bounded, cleaning string builder ------------------------------------ */

/* Holds at most max bytes plus a NUL. Once something did not fit, cut is
 * set and nothing more is added, so the content is always a prefix.
 * With no buffer and cut unset it only measures: a second pass into
 * sb_alloc(len) then gives the same text in a buffer of the exact size. */
struct sb {
	char *p;
	size_t len, max;
	bool cut;
};

enum clean {
	C_RAW,	/* keep control chars (stored text) */
	C_TEXT,	/* keep \n and \t, replace other controls (displayed text) */
	C_LINE,	/* one line: no control chars at all (ids, summaries) */
	C_JSON,	/* inside a JSON string literal: escape */
};

static void sb_on(struct sb *b, char *buf, size_t max)
{
	*b = (struct sb){ .p = buf, .max = max };
	buf[0] = '\0';
}

static bool sb_alloc(struct sb *b, size_t max)
{
	char *p = malloc(max + 1);
	if (!p) {
		*b = (struct sb){ .cut = true };
		return false;
	}
	sb_on(b, p, max);
	return true;
}

/* Give up the buffer, shrunk to fit; NULL if it failed to allocate. */
static char *sb_take(struct sb *b)
{
	char *p = b->p ? realloc(b->p, b->len + 1) : NULL;
	return p ? p : b->p;
}

static bool sb_put(struct sb *b, const char *s, size_t n)
{
	if (b->cut || n > b->max - b->len) {
		b->cut = true;
		return false;
	}
	if (b->p) {
		memcpy(b->p + b->len, s, n);
		b->p[b->len + n] = '\0';
	}
	b->len += n;
	return true;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 §4), 0 if
 * there is none: overlongs, surrogates and stray bytes fail. */
static size_t u8len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 :
		      c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
	if (need <= 1)
		return need;
	if (n < need)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

/* Append s[0..n) cleaned per mode. Invalid UTF-8 becomes '?'. Except in
 * C_JSON the output is never longer than the input. */
static void sb_str(struct sb *b, const char *s, size_t n, enum clean m)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[8];
	for (size_t i = 0; i < n;) {
		size_t l = u8len(u + i, n - i);
		unsigned char c = u[i];
		bool ctl = (l == 1 && (c < 0x20 || c == 0x7f)) ||
			   (l == 2 && c == 0xc2 && u[i + 1] < 0xa0); /* C1 */
		const char *out = s + i;
		size_t on = l;
		if (l == 0) {
			out = "?", on = 1, l = 1;
		} else if (m == C_JSON && (c == '"' || c == '\\')) {
			esc[0] = '\\', esc[1] = (char)c;
			out = esc, on = 2;
		} else if (m == C_JSON && c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			out = esc, on = 6;
		} else if (ctl && m == C_TEXT && (c == '\n' || c == '\t')) {
			/* kept */
		} else if (ctl && (m == C_TEXT || m == C_LINE)) {
			out = (c == '\t' || c == '\n' || c == '\r') ? " " : "?";
			on = 1;
		}
		if (!sb_put(b, out, on))
			return;
		i += l;
	}
}

/* A cleaned, bounded copy; NULL if v is NULL or on allocation failure.
 * The non-JSON modes never grow the text, so min(len, max) is enough. */
static char *dup_clean(const char *v, size_t max, enum clean m)
{
	struct sb b;
	if (!v)
		return NULL;
	size_t n = strlen(v);
	if (!sb_alloc(&b, MIN(n, max)))
		return NULL;
	sb_str(&b, v, n, m);
	return sb_take(&b);
}

static const char *clean_to(char *buf, size_t max, const char *v)
{
	struct sb b;
	if (!v)
		return NULL;
	sb_on(&b, buf, max);
	sb_str(&b, v, strlen(v), C_LINE);
	return buf;
}

static void set_id(char **dst, const char *v)
{
	char *n = dup_clean(v, CLAUDE_MAX_ID, C_LINE);
	if (n) {
		free(*dst);
		*dst = n;
	}
}

/* Compact JSON of v, stopping when b is full. Recursion is bounded by the
 * pre-scan (CLAUDE_MAX_DEPTH). Leaves are printed by cJSON itself, into
 * a small buffer ("1e999" parses to inf, which cJSON prints as null). */
static void put_json(struct sb *b, const cJSON *v)
{
	char leaf[64];
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		bool obj = cJSON_IsObject(v);
		sb_put(b, obj ? "{" : "[", 1);
		for (const cJSON *c = v->child; c && !b->cut; c = c->next) {
			if (c != v->child)
				sb_put(b, ",", 1);
			if (obj) {
				const char *k = c->string ? c->string : "";
				sb_put(b, "\"", 1);
				sb_str(b, k, strlen(k), C_JSON);
				sb_put(b, "\":", 2);
			}
			put_json(b, c);
		}
		sb_put(b, obj ? "}" : "]", 1);
	} else if (cJSON_IsString(v)) {
		sb_put(b, "\"", 1);
		sb_str(b, v->valuestring, strlen(v->valuestring), C_JSON);
		sb_put(b, "\"", 1);
	} else {
		if (!cJSON_PrintPreallocated((cJSON *)v, leaf, sizeof(leaf), 0))
			snprintf(leaf, sizeof(leaf), "null");
		sb_put(b, leaf, strlen(leaf));
	}
}

/* --- typed field access -------------------------------------------------- */

static const cJSON *item(const cJSON *o, const char *k)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k)
				 : NULL;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = item(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is(const cJSON *o, const char *k, const char *want)
{
	const char *v = str(o, k);
	return v && !strcmp(v, want);
}

/* Negative, NaN or missing count as 0; too big saturates. */
static uint64_t u64(const cJSON *o, const char *k)
{
	const cJSON *v = item(o, k);
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0))
		return 0;
	if (v->valuedouble >= 18446744073709551616.0)
		return UINT64_MAX;
	return (uint64_t)v->valuedouble;
}

/* --- line handlers ------------------------------------------------------- */

static void emit(struct claude_stream *s, enum claude_event_kind k,
		 const char *name, const char *id, const char *text,
		 bool is_error)
{
	if (s->fn)
		s->fn(s->ctx, &(struct claude_event){ .kind = k, .name = name,
			.id = id, .text = text, .is_error = is_error });
}

static void emit_text(struct claude_stream *s, enum claude_event_kind k,
		      const char *text, bool is_error)
{
	char *t;
	if (!s->fn)
		return;
	t = dup_clean(text, CLAUDE_MAX_FIELD, C_TEXT);
	emit(s, k, NULL, NULL, t, is_error);
	free(t);
}

/* Room left in the per-stream budget for one more field. */
static size_t field_max(const struct claude_stream *s)
{
	size_t left = s->stored >= CLAUDE_MAX_STORED
			      ? 0 : CLAUDE_MAX_STORED - s->stored;
	return MIN((size_t)CLAUDE_MAX_FIELD, left);
}

/* FNV-1a, never 0 (0 marks a tool that has its result) */
static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u;
	while (*id)
		h = (h ^ (unsigned char)*id++) * 16777619u;
	return h | 1;
}

static struct claude_tool_call *tool_add(struct claude_stream *s,
					 const char *id)
{
	struct claude_result *r = &s->r;
	if (r->ntools == s->tools_cap) {
		size_t n = MIN(MAX(s->tools_cap * 2, 16), CLAUDE_MAX_TOOLS);
		void *p = n > r->ntools
				  ? realloc(r->tools, n * sizeof(*r->tools))
				  : NULL;
		if (!p)
			return NULL;
		r->tools = p;
		if (!(p = realloc(s->idhash, n * sizeof(*s->idhash))))
			return NULL;
		s->idhash = p;
		s->tools_cap = n;
	}
	struct claude_tool_call *t = &r->tools[r->ntools];
	*t = (struct claude_tool_call){ .id = id ? strdup(id) : NULL };
	s->idhash[r->ntools++] = t->id ? id_hash(t->id) : 0;
	return t;
}

/* The latest tool_use with this id still waiting for its result (claude
 * never reuses ids; a hostile guest may). Hashes first: the guest picks
 * the ids, and a result costs at most a scan of 4096 integers. */
static struct claude_tool_call *tool_find(struct claude_stream *s,
					  const char *id, size_t *at)
{
	uint32_t h = id ? id_hash(id) : 0;
	for (size_t i = s->r.ntools; h && i-- > 0;) {
		if (s->idhash[i] == h && !strcmp(s->r.tools[i].id, id)) {
			*at = i;
			return &s->r.tools[i];
		}
	}
	return NULL;
}

static void tool_use(struct claude_stream *s, const cJSON *b)
{
	const char *name = clean_to(s->ev_name, CLAUDE_MAX_ID, str(b, "name"));
	const char *id = clean_to(s->ev_id, CLAUDE_MAX_ID, str(b, "id"));
	const cJSON *in = item(b, "input");
	const char *sum = NULL;
	/* at least a summary's worth even when the budget is spent */
	struct sb js = { .max = MAX(field_max(s), (size_t)CLAUDE_SUMMARY) }, ev;

	if (name && !strcmp(name, "Bash"))
		sum = str(in, "command");
	else if (name && (!strcmp(name, "Read") || !strcmp(name, "Write") ||
			  !strcmp(name, "Edit")))
		sum = str(in, "file_path");
	if (in) {
		put_json(&js, in);	/* measure */
		if (sb_alloc(&js, js.len))
			put_json(&js, in);
	}
	if (!sum)
		sum = js.p;
	sb_on(&ev, s->ev_text, CLAUDE_SUMMARY);
	if (sum)
		sb_str(&ev, sum, strlen(sum), C_LINE);

	struct claude_tool_call *t = tool_add(s, id);
	if (t) {
		t->name = name ? strdup(name) : NULL;
		t->input_truncated = js.cut;
		t->input_json = js.p;
		s->stored += js.len;
	} else {
		s->r.tools_dropped++;
		free(js.p);
	}
	emit(s, CE_TOOL_USE, name, id, s->ev_text, false);
}

/* A tool_result's text into b; false if it has none. */
static bool result_text(struct sb *b, const cJSON *c, const char *fallback)
{
	const cJSON *e;
	bool first = true;
	if (cJSON_IsString(c)) {
		sb_str(b, c->valuestring, strlen(c->valuestring), C_RAW);
	} else if (cJSON_IsArray(c)) {
		cJSON_ArrayForEach(e, c) {
			const char *txt = str(e, "text");
			if (!is(e, "type", "text") || !txt)
				continue;
			if (!first)
				sb_put(b, "\n", 1);
			sb_str(b, txt, strlen(txt), C_RAW);
			first = false;
		}
	} else if (fallback) {
		sb_str(b, fallback, strlen(fallback), C_RAW);
	} else {
		return false;
	}
	return true;
}

static void tool_result(struct claude_stream *s, const cJSON *b,
			const char *fallback)
{
	const char *id = clean_to(s->ev_id, CLAUDE_MAX_ID,
				  str(b, "tool_use_id"));
	const cJSON *c = item(b, "content");
	bool is_error = cJSON_IsTrue(item(b, "is_error")), have;
	size_t at = 0;
	struct claude_tool_call *t = tool_find(s, id, &at);
	struct sb out = { .max = MAX(t ? field_max(s) : 0,
				     (size_t)CLAUDE_SUMMARY) }, ev;

	have = result_text(&out, c, fallback);	/* measure */
	if (have && sb_alloc(&out, out.len))
		result_text(&out, c, fallback);
	sb_on(&ev, s->ev_text, CLAUDE_SUMMARY);
	if (out.p)
		sb_str(&ev, out.p, out.len, C_LINE);
	if (t && have) {
		t->has_output = true;
		t->is_error = is_error;
		t->output_truncated = out.cut;
		t->output = out.p;
		s->stored += out.len;
		s->idhash[at] = 0;
	} else {
		free(out.p);
	}
	emit(s, CE_TOOL_RESULT, NULL, id, have ? s->ev_text : NULL, is_error);
}

static bool on_assistant(struct claude_stream *s, const cJSON *j)
{
	const cJSON *msg = item(j, "message"), *c = item(msg, "content"), *b;
	const char *model = str(msg, "model");
	if (!cJSON_IsArray(c))
		return false;
	/* API errors come as assistant text from model "<synthetic>";
	 * subagents may run on another model */
	if (!s->r.model && model && strcmp(model, "<synthetic>") &&
	    !cJSON_IsString(item(j, "parent_tool_use_id")))
		set_id(&s->r.model, model);
	cJSON_ArrayForEach(b, c) {
		if (is(b, "type", "text") && str(b, "text"))
			emit_text(s, CE_TEXT, str(b, "text"), false);
		else if (is(b, "type", "tool_use"))
			tool_use(s, b);
	}
	return true;
}

static bool on_user(struct claude_stream *s, const cJSON *j)
{
	const cJSON *msg = item(j, "message"), *c = item(msg, "content"), *b;
	const cJSON *tur = item(j, "tool_use_result");
	/* used when a tool_result has no content: a Bash result object
	 * carries stdout, a failed tool a bare error string */
	const char *fallback = cJSON_IsString(tur) ? tur->valuestring
						   : str(tur, "stdout");
	if (cJSON_IsString(c))
		return true;	/* a plain prompt (subagent, stream input) */
	if (!cJSON_IsArray(c))
		return false;
	cJSON_ArrayForEach(b, c)
		if (is(b, "type", "tool_result"))
			tool_result(s, b, fallback);
	return true;
}

static void on_init(struct claude_stream *s, const cJSON *j)
{
	set_id(&s->r.model, str(j, "model"));
	set_id(&s->r.session_id, str(j, "session_id"));
	emit(s, CE_INIT, s->r.model, s->r.session_id, NULL, false);
}

static void on_result(struct claude_stream *s, const cJSON *j)
{
	struct claude_result *r = &s->r;
	const cJSON *u = item(j, "usage"), *e, *v;
	struct sb errs;
	double d;

	/* the last result line wins (stream input gives one per turn) */
	free(r->result_text);
	free(r->subtype);
	free(r->terminal_reason);
	free(r->errors);
	r->result_text = r->subtype = r->terminal_reason = r->errors = NULL;
	r->have_result = true;
	set_id(&r->subtype, str(j, "subtype"));
	set_id(&r->terminal_reason, str(j, "terminal_reason"));
	set_id(&r->session_id, str(j, "session_id"));
	v = item(j, "is_error");
	r->is_error = cJSON_IsBool(v) ? cJSON_IsTrue(v)
		      : !(r->subtype && !strcmp(r->subtype, "success"));
	r->result_text = dup_clean(str(j, "result"), CLAUDE_MAX_FIELD, C_RAW);
	if (cJSON_IsArray(item(j, "errors")) &&
	    sb_alloc(&errs, CLAUDE_MAX_FIELD)) {
		cJSON_ArrayForEach(e, item(j, "errors")) {
			if (!cJSON_IsString(e))
				continue;
			if (errs.len)
				sb_put(&errs, "; ", 2);
			sb_str(&errs, e->valuestring, strlen(e->valuestring),
			       C_RAW);
		}
		if (errs.len)
			r->errors = sb_take(&errs);
		else
			free(errs.p);
	}
	v = item(j, "api_error_status");
	d = cJSON_IsNumber(v) ? v->valuedouble : 0;
	r->api_error_status = d >= 1 && d < 1000 ? (int)d : 0;
	r->num_turns = (unsigned)MIN(u64(j, "num_turns"), (uint64_t)UINT32_MAX);
	r->input_tokens = u64(u, "input_tokens");
	r->output_tokens = u64(u, "output_tokens");
	r->cache_creation_tokens = u64(u, "cache_creation_input_tokens");
	r->cache_read_tokens = u64(u, "cache_read_input_tokens");
	v = item(j, "total_cost_usd");
	d = cJSON_IsNumber(v) ? v->valuedouble : 0;
	r->cost_usd = isfinite(d) && d > 0 ? d : 0;
	r->duration_ms = u64(j, "duration_ms");
	r->duration_api_ms = u64(j, "duration_api_ms");
	emit_text(s, CE_RESULT, r->result_text ? r->result_text : r->errors,
		  r->is_error);
}

/* --- lines --------------------------------------------------------------- */

/* Before cJSON: a raw NUL is never valid JSON, and depth and value count
 * bound cJSON's recursion and node allocation. The string tracking
 * matches cJSON's up to the first syntax error, where cJSON stops, so
 * cJSON never goes deeper or allocates more than counted here. */
static bool prescan(const char *p, size_t n)
{
	unsigned depth = 0, values = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '\0')
			return false;
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		if ((c == '[' || c == '{') && ++depth > CLAUDE_MAX_DEPTH)
			return false;
		if ((c == '[' || c == '{' || c == ',') &&
		    ++values > CLAUDE_MAX_VALUES)
			return false;
		if ((c == ']' || c == '}') && depth)
			depth--;
	}
	return true;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* s->line[0..len) is a whole line, with room for a NUL after it. */
static void end_line(struct claude_stream *s)
{
	char *p = s->line;
	size_t n = s->len;
	cJSON *j;
	bool ok = true;

	while (n && blank(p[n - 1]))
		n--;
	while (n && blank(p[0])) {
		p++;
		n--;
	}
	if (!n)
		return;		/* blank lines are not worth a count */
	p[n] = '\0';
	/* require_null_terminated: trailing garbage makes the line bad */
	j = prescan(p, n) ? cJSON_ParseWithLengthOpts(p, n + 1, NULL, 1)
			  : NULL;
	if (!cJSON_IsObject(j) || !str(j, "type"))
		ok = false;
	else if (is(j, "type", "assistant"))
		ok = on_assistant(s, j);
	else if (is(j, "type", "user"))
		ok = on_user(s, j);
	else if (is(j, "type", "result"))
		on_result(s, j);
	else if (is(j, "type", "system") && is(j, "subtype", "init"))
		on_init(s, j);
	if (!ok)
		s->r.bad_lines++;
	cJSON_Delete(j);
}

static bool line_append(struct claude_stream *s, const char *p, size_t n)
{
	size_t need = s->len + n + 1;	/* <= CLAUDE_MAX_LINE + 1 */
	if (need > s->cap) {
		size_t cap = MIN(MAX(MAX(s->cap * 2, need), (size_t)4096),
				 (size_t)CLAUDE_MAX_LINE + 1);
		char *q = realloc(s->line, cap);
		if (!q)
			return false;
		s->line = q;
		s->cap = cap;
	}
	memcpy(s->line + s->len, p, n);
	s->len += n;
	return true;
}

static void line_reset(struct claude_stream *s)
{
	s->len = 0;
	if (s->cap > LINE_KEEP) {
		free(s->line);
		s->line = NULL;
		s->cap = 0;
	}
}

/* --- API ----------------------------------------------------------------- */

struct claude_stream *claude_stream_new(claude_event_fn fn, void *ctx)
{
	struct claude_stream *s = calloc(1, sizeof(*s));
	if (s) {
		s->fn = fn;
		s->ctx = ctx;
	}
	return s;
}

void claude_stream_feed(struct claude_stream *s, const void *buf, size_t len)
{
	const char *p = buf;
	s->r.bytes += len;
	while (len) {
		const char *nl = memchr(p, '\n', len);
		size_t n = nl ? (size_t)(nl - p) : len;
		if (!s->skipping && (n > CLAUDE_MAX_LINE - s->len ||
				     !line_append(s, p, n))) {
			/* too long (or no memory): drop it, count it once,
			 * and ignore the rest up to the newline */
			s->skipping = true;
			s->r.bad_lines++;
			line_reset(s);
		}
		if (nl) {
			if (!s->skipping)
				end_line(s);
			s->skipping = false;
			line_reset(s);
			n++;
		}
		p += n;
		len -= n;
	}
}

void claude_stream_finish(struct claude_stream *s)
{
	if (!s->skipping && s->len)
		end_line(s);
	s->skipping = false;
	line_reset(s);
}

const struct claude_result *claude_stream_result(const struct claude_stream *s)
{
	return &s->r;
}

char *claude_result_error(const struct claude_result *r)
{
	char head[64];
	const char *body;
	struct sb b;

	if (!r || (r->have_result && !r->is_error) || !sb_alloc(&b, 1100))
		return NULL;
	if (!r->have_result) {
		snprintf(head, sizeof(head), "claude printed no result line");
		sb_put(&b, head, strlen(head));
		if (r->bad_lines) {
			snprintf(head, sizeof(head), " (%u bad lines)",
				 r->bad_lines);
			sb_put(&b, head, strlen(head));
		}
		return sb_take(&b);
	}
	if (r->api_error_status)
		snprintf(head, sizeof(head), "API error %d: ",
			 r->api_error_status);
	else
		snprintf(head, sizeof(head), "%.40s: ",
			 r->subtype && strcmp(r->subtype, "success")
				 ? r->subtype
			 : r->terminal_reason ? r->terminal_reason : "error");
	body = r->result_text ? r->result_text
	       : r->errors ? r->errors : "(no message)";
	sb_str(&b, head, strlen(head), C_LINE);
	b.max = MIN(b.max, b.len + 1024);
	sb_str(&b, body, strlen(body), C_LINE);
	return sb_take(&b);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

char *claude_result_json(const struct claude_result *r)
{
	cJSON *o = r ? cJSON_CreateObject() : NULL, *u, *tc, *t, *in;
	char *out;

	if (!o)
		return NULL;
	add_str(o, "result", r->result_text);
	cJSON_AddBoolToObject(o, "is_error", r->is_error);
	add_str(o, "subtype", r->subtype);
	add_str(o, "terminal_reason", r->terminal_reason);
	if (r->api_error_status)
		cJSON_AddNumberToObject(o, "api_error_status",
					r->api_error_status);
	else
		cJSON_AddNullToObject(o, "api_error_status");
	add_str(o, "errors", r->errors);
	add_str(o, "model", r->model);
	add_str(o, "session_id", r->session_id);
	cJSON_AddNumberToObject(o, "num_turns", r->num_turns);
	u = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(u, "input_tokens", (double)r->input_tokens);
	cJSON_AddNumberToObject(u, "output_tokens", (double)r->output_tokens);
	cJSON_AddNumberToObject(u, "cache_creation_input_tokens",
				(double)r->cache_creation_tokens);
	cJSON_AddNumberToObject(u, "cache_read_input_tokens",
				(double)r->cache_read_tokens);
	cJSON_AddNumberToObject(o, "total_cost_usd", r->cost_usd);
	cJSON_AddNumberToObject(o, "duration_ms", (double)r->duration_ms);
	cJSON_AddNumberToObject(o, "duration_api_ms",
				(double)r->duration_api_ms);
	tc = cJSON_AddArrayToObject(o, "tool_calls");
	for (size_t i = 0; tc && i < r->ntools; i++) {
		const struct claude_tool_call *c = &r->tools[i];
		if (!(t = cJSON_CreateObject()))
			break;
		cJSON_AddItemToArray(tc, t);
		add_str(t, "id", c->id);
		add_str(t, "name", c->name);
		/* our own printer's output: parses unless it was cut */
		in = c->input_json && !c->input_truncated
			     ? cJSON_Parse(c->input_json) : NULL;
		if (in)
			cJSON_AddItemToObject(t, "input", in);
		else
			add_str(t, "input", c->input_json);
		add_str(t, "output", c->has_output ? c->output : NULL);
		cJSON_AddBoolToObject(t, "is_error", c->is_error);
		cJSON_AddBoolToObject(t, "truncated",
				      c->input_truncated || c->output_truncated);
	}
	cJSON_AddNumberToObject(o, "tool_calls_dropped",
				(double)r->tools_dropped);
	cJSON_AddNumberToObject(o, "bad_lines", r->bad_lines);
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return out;
}

void claude_stream_free(struct claude_stream *s)
{
	struct claude_result *r;
	if (!s)
		return;
	r = &s->r;
	for (size_t i = 0; i < r->ntools; i++) {
		free(r->tools[i].id);
		free(r->tools[i].name);
		free(r->tools[i].input_json);
		free(r->tools[i].output);
	}
	free(r->tools);
	free(s->idhash);
	free(r->result_text);
	free(r->subtype);
	free(r->terminal_reason);
	free(r->model);
	free(r->session_id);
	free(r->errors);
	free(s->line);
	free(s);
}
