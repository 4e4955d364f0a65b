/* test_stream.c: the stream-json parser (host/run/stream.c) fed realistic
 * claude-code output and garbage, whole, one byte at a time and in random
 * chunks; every split must give the same result and the same events.
 *
 * Fixtures are written with ' for " (the JSON needs no apostrophes) and
 * turned into JSON at run time, so they read like the real lines.
 * `test_stream --dump DIR` writes the realistic streams as fuzz seeds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../../host/run/run.h"

static int t_pass, t_fail;
#define CHECK(name, cond) do { \
	if (cond) { t_pass++; printf("PASS: %s\n", name); } \
	else { t_fail++; printf("FAIL: %s (%s:%d: %s)\n", name, __FILE__, \
			      __LINE__, #cond); } } while (0)

/* --- fixtures ------------------------------------------------------------ */

#define SID "5f3c2a9e-1b7d-4c8e-9a0f-2d6b8e1c4a73"
#define META "'session_id':'" SID "','uuid':'2b1f7a40-9c3e-4d52-8e6a-71f0c9d3b214'"
#define AMSG(content) "{'type':'assistant','message':{'id':'msg_01XyZ','type':'message','role':'assistant','model':'claude-opus-5-5','content':[" content "],'stop_reason':null,'stop_sequence':null,'usage':{'input_tokens':24,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,'output_tokens':14,'service_tier':'standard'}},'parent_tool_use_id':null," META ",'timestamp':'2026-08-01T12:00:01.000Z','request_id':'req_011CQx'}\n"
#define UMSG(content, tur) "{'type':'user','message':{'role':'user','content':[" content "]},'parent_tool_use_id':null," META ",'timestamp':'2026-08-01T12:00:02.000Z'" tur ",'tool_result_meta':[{'id':'toolu_01','permission_decision':{'decision':'accept','source':'config','reason_type':'mode'}}]}\n"
#define USAGE "'usage':{'input_tokens':1200,'cache_creation_input_tokens':300,'cache_read_input_tokens':4000,'output_tokens':250,'output_tokens_details':{'thinking_tokens':0},'server_tool_use':{'web_search_requests':0,'web_fetch_requests':0},'service_tier':'standard','cache_creation':{'ephemeral_1h_input_tokens':0,'ephemeral_5m_input_tokens':300},'inference_geo':'','iterations':[],'speed':'standard','fallback_credit':null}"

static const char INIT[] =
	"{'type':'system','subtype':'init','cwd':'/workspace','session_id':'" SID "','tools':['Agent','Bash','Edit','Read','Skill','ToolSearch','Write','mcp__mock__echo'],'mcp_servers':[{'name':'mock','status':'connected','source':'dynamic'}],'model':'claude-opus-5-5','permissionMode':'bypassPermissions','slash_commands':['compact','context','cost'],'skills':[],'agents':['general-purpose'],'plugins':[],'apiKeySource':'ANTHROPIC_API_KEY','claude_code_version':'2.1.328','output_style':'default','memory_paths':[],'messaging_socket_path':'/tmp/cc-socks/77.sock','analytics_disabled':true,'uuid':'9d0e4c1a-33b2-4f7e-a1c5-6e8f2b7d9a10'}\n";

static const char OK_RUN[] =
	AMSG("{'type':'thinking','thinking':'','signature':'EqQBCkYIBxgCKkC'}")
	AMSG("{'type':'text','text':'I will run the tests first.'}")
	AMSG("{'type':'tool_use','id':'toolu_01Bash','name':'Bash','input':{'command':'make test 2>&1 | tail -5','description':'Run the tests'}}")
	UMSG("{'tool_use_id':'toolu_01Bash','type':'tool_result','content':'ok: 12 passed\\nok: 0 failed','is_error':false}",
	     ",'tool_use_result':{'stdout':'ok: 12 passed\\nok: 0 failed','stderr':'','interrupted':false,'isImage':false,'noOutputExpected':false}")
	AMSG("{'type':'tool_use','id':'toolu_02Read','name':'Read','input':{'file_path':'/workspace/src/main.c','limit':2}}")
	UMSG("{'tool_use_id':'toolu_02Read','type':'tool_result','content':[{'type':'text','text':'     1\\tint main(void)'},{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBORw0K'}},{'type':'text','text':'     2\\t{'}]}", "")
	AMSG("{'type':'tool_use','id':'toolu_03Mcp','name':'mcp__mock__echo','input':{'msg':'hi','n':[1,2.5,-3e-7,true,null]}}")
	UMSG("{'tool_use_id':'toolu_03Mcp','type':'tool_result','content':'denied','is_error':true}", ",'tool_use_result':'Error: denied'")
	AMSG("{'type':'text','text':'All 12 tests pass.'}")
	"{'type':'result','subtype':'success','is_error':false,'duration_ms':5123,'duration_api_ms':3310,'ttft_ms':129,'num_turns':4,'result':'All 12 tests pass.','stop_reason':'end_turn','terminal_reason':'completed','api_error_status':null," META ",'total_cost_usd':0.0123," USAGE ",'modelUsage':{'claude-opus-5-5':{'inputTokens':1200,'outputTokens':250,'costUSD':0.0123,'contextWindow':1000000}},'permission_denials':[],'safety_stops':0,'queued_turn_count':0,'result_index':0}\n";

static const char API_401[] =
	"{'type':'assistant','message':{'id':'8c1d','model':'<synthetic>','role':'assistant','stop_reason':'stop_sequence','stop_sequence':'','type':'message','usage':{'input_tokens':0,'output_tokens':0},'content':[{'type':'text','text':'Failed to authenticate. API Error: 401 invalid x-api-key'}]},'parent_tool_use_id':null," META ",'error':'authentication_failed'}\n"
	"{'type':'result','subtype':'success','is_error':true,'duration_ms':412,'duration_api_ms':0,'num_turns':1,'result':'Failed to authenticate. API Error: 401 invalid x-api-key','stop_reason':'stop_sequence','terminal_reason':'api_error','api_error_status':401," META ",'total_cost_usd':0,'usage':{'input_tokens':0,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,'output_tokens':0},'permission_denials':[]}\n";

static const char MAX_TURNS[] =
	AMSG("{'type':'tool_use','id':'toolu_01Loop','name':'Bash','input':{'command':'ls'}}")
	UMSG("{'tool_use_id':'toolu_01Loop','type':'tool_result','content':'Makefile','is_error':false}", "")
	"{'type':'result','subtype':'error_max_turns','is_error':true,'duration_ms':2200,'duration_api_ms':1500,'num_turns':2,'result':null,'stop_reason':'tool_use','terminal_reason':'max_turns','api_error_status':null," META ",'total_cost_usd':0.004," USAGE ",'errors':['Reached maximum number of turns (1)'],'permission_denials':[]}\n";

/* a subagent: its messages carry parent_tool_use_id */
static const char SUBAGENT[] =
	AMSG("{'type':'tool_use','id':'toolu_A','name':'Agent','input':{'description':'look','prompt':'find main','subagent_type':'general-purpose'}}")
	"{'type':'user','message':{'role':'user','content':'find main'},'parent_tool_use_id':'toolu_A'," META "}\n"
	"{'type':'assistant','message':{'model':'claude-haiku-5-5','content':[{'type':'tool_use','id':'toolu_B','name':'Grep','input':{'pattern':'main'}}]},'parent_tool_use_id':'toolu_A'," META "}\n"
	"{'type':'user','message':{'role':'user','content':[{'tool_use_id':'toolu_B','type':'tool_result','content':'src/main.c'}]},'parent_tool_use_id':'toolu_A'," META "}\n"
	UMSG("{'tool_use_id':'toolu_A','type':'tool_result','content':[{'type':'text','text':'main is in src/main.c'}]}", "")
	"{'type':'result','subtype':'success','is_error':false,'num_turns':2,'result':'done'," META "}\n";

/* ' -> " (see the top of the file) */
static char *json(const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	char *p = malloc(la + lb + 1);
	memcpy(p, a, la);
	memcpy(p + la, b ? b : "", lb + 1);
	for (char *q = p; *q; q++)
		if (*q == '\'')
			*q = '"';
	return p;
}

/* --- running a stream ---------------------------------------------------- */

struct trace {
	char *p;
	size_t len, cap;
	unsigned n[5];
	bool clean;	/* display strings had no control chars, were short */
};

static void tr_add(struct trace *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		t->p = realloc(t->p, t->cap);
	}
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static bool one_line(const char *s, size_t max)
{
	if (!s)
		return true;
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if (*u < 0x20 || *u == 0x7f)
			return false;
	return strlen(s) <= max;
}

static void on_event(void *ctx, const struct claude_event *ev)
{
	struct trace *t = ctx;
	static const char k[] = "ITURX";
	t->n[ev->kind]++;
	tr_add(t, "%c|%s|%s|%s|%d\n", k[ev->kind], ev->name ? ev->name : "-",
	       ev->id ? ev->id : "-", ev->text ? ev->text : "-", ev->is_error);
	if (!one_line(ev->name, CLAUDE_MAX_ID) ||
	    !one_line(ev->id, CLAUDE_MAX_ID))
		t->clean = false;
	if ((ev->kind == CE_TOOL_USE || ev->kind == CE_TOOL_RESULT) &&
	    !one_line(ev->text, CLAUDE_SUMMARY))
		t->clean = false;
}

enum mode { WHOLE, BYTES, RANDOM };

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

static struct claude_stream *run(const char *d, size_t n, enum mode m,
				 unsigned seed, struct trace *t, bool finish)
{
	struct claude_stream *s = claude_stream_new(on_event, t);
	*t = (struct trace){ .clean = true };
	tr_add(t, "%s", "");
	if (m == WHOLE) {
		claude_stream_feed(s, d, n);
	} else {
		for (size_t i = 0; i < n;) {
			size_t c = m == BYTES ? 1 : rnd(&seed) % 4096;
			if (rnd(&seed) % 8 == 0)
				c = rnd(&seed) % 3;	/* 0..2 */
			c = c > n - i ? n - i : c;
			claude_stream_feed(s, d + i, c);
			i += c;
		}
	}
	if (finish)
		claude_stream_finish(s);
	return s;
}

/* Everything observable, as one string. */
static char *signature(struct claude_stream *s, struct trace *t)
{
	const struct claude_result *r = claude_stream_result(s);
	char *j = claude_result_json(r), *e = claude_result_error(r), *out;
	if (asprintf(&out, "%s\n%s\n%llu\n%s", j, e ? e : "-", r->bytes,
		     t->p) < 0)
		out = NULL;
	free(j);
	free(e);
	return out;
}

/* Feed d whole, then bytewise and in random chunks: same signature. The
 * whole-fed stream is returned for scenario checks (caller frees). */
static struct claude_stream *feed_all(const char *name, const char *d,
				      size_t n, struct trace *t, bool bytes)
{
	char label[128];
	struct claude_stream *s = run(d, n, WHOLE, 0, t, true);
	char *want = signature(s, t);
	bool same = true, clean = t->clean;
	for (unsigned k = bytes ? 0 : 1; k < 5; k++) {
		struct trace t2;
		struct claude_stream *s2 =
			run(d, n, k ? RANDOM : BYTES, k * 7919, &t2, true);
		char *got = signature(s2, &t2);
		if (!got || strcmp(got, want))
			same = false;
		clean = clean && t2.clean;
		free(got);
		free(t2.p);
		claude_stream_free(s2);
	}
	snprintf(label, sizeof(label), "%s-any-split-same", name);
	CHECK(label, same);
	snprintf(label, sizeof(label), "%s-events-clean", name);
	CHECK(label, clean);
	free(want);
	return s;
}

static bool eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* --- realistic streams ----------------------------------------------------- */

static void t_ok_run(void)
{
	char *d = json(INIT, OK_RUN);
	struct trace t;
	struct claude_stream *s = feed_all("ok", d, strlen(d), &t, true);
	const struct claude_result *r = claude_stream_result(s);

	CHECK("ok-result", r->have_result && !r->is_error &&
	      eq(r->result_text, "All 12 tests pass.") &&
	      eq(r->subtype, "success") && eq(r->terminal_reason, "completed"));
	CHECK("ok-init", eq(r->model, "claude-opus-5-5") &&
	      eq(r->session_id, SID));
	CHECK("ok-numbers", r->num_turns == 4 && r->input_tokens == 1200 &&
	      r->output_tokens == 250 && r->cache_creation_tokens == 300 &&
	      r->cache_read_tokens == 4000 && r->cost_usd == 0.0123 &&
	      r->duration_ms == 5123 && r->duration_api_ms == 3310 &&
	      r->api_error_status == 0 && r->errors == NULL);
	CHECK("ok-no-bad-lines", r->bad_lines == 0 && r->bytes == strlen(d));
	CHECK("ok-tools", r->ntools == 3 && r->tools_dropped == 0);
	if (r->ntools == 3) {
		const struct claude_tool_call *b = &r->tools[0], *rd = &r->tools[1],
					      *m = &r->tools[2];
		CHECK("ok-bash", eq(b->id, "toolu_01Bash") && eq(b->name, "Bash") &&
		      eq(b->input_json, "{\"command\":\"make test 2>&1 | tail -5\","
					"\"description\":\"Run the tests\"}") &&
		      b->has_output && eq(b->output, "ok: 12 passed\nok: 0 failed") &&
		      !b->is_error && !b->input_truncated && !b->output_truncated);
		CHECK("ok-read-text-blocks-joined",
		      eq(rd->output, "     1\tint main(void)\n     2\t{"));
		CHECK("ok-mcp-numbers", eq(m->input_json,
		      "{\"msg\":\"hi\",\"n\":[1,2.5,-3e-07,true,null]}"));
		CHECK("ok-mcp-error", m->is_error && eq(m->output, "denied"));
	}
	CHECK("ok-event-counts", t.n[CE_INIT] == 1 && t.n[CE_TEXT] == 2 &&
	      t.n[CE_TOOL_USE] == 3 && t.n[CE_TOOL_RESULT] == 3 &&
	      t.n[CE_RESULT] == 1);
	CHECK("ok-event-trace", strstr(t.p,
	      "I|claude-opus-5-5|" SID "|-|0\n"
	      "T|-|-|I will run the tests first.|0\n"
	      "U|Bash|toolu_01Bash|make test 2>&1 | tail -5|0\n"
	      "R|-|toolu_01Bash|ok: 12 passed ok: 0 failed|0\n"
	      "U|Read|toolu_02Read|/workspace/src/main.c|0\n"
	      "R|-|toolu_02Read|     1 int main(void)      2 {|0\n"
	      "U|mcp__mock__echo|toolu_03Mcp|{\"msg\":\"hi\",") != NULL &&
	      strstr(t.p, "R|-|toolu_03Mcp|denied|1\n"
			  "T|-|-|All 12 tests pass.|0\n"
			  "X|-|-|All 12 tests pass.|0\n") != NULL);
	CHECK("ok-no-error-text", claude_result_error(r) == NULL);

	char *js = claude_result_json(r);
	cJSON *j = cJSON_Parse(js);
	cJSON *tc = cJSON_GetObjectItem(j, "tool_calls");
	cJSON *t0 = cJSON_GetArrayItem(tc, 0);
	cJSON *in = cJSON_GetObjectItem(t0, "input");
	CHECK("ok-json-parses", j && cJSON_GetArraySize(tc) == 3);
	CHECK("ok-json-fields",
	      eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "result")),
		 "All 12 tests pass.") &&
	      cJSON_IsFalse(cJSON_GetObjectItem(j, "is_error")) &&
	      cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"),
				  "cache_read_input_tokens")->valuedouble == 4000 &&
	      cJSON_GetObjectItem(j, "total_cost_usd")->valuedouble == 0.0123 &&
	      eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")),
		 "claude-opus-5-5"));
	CHECK("ok-json-input-is-object", cJSON_IsObject(in) &&
	      eq(cJSON_GetStringValue(cJSON_GetObjectItem(in, "command")),
		 "make test 2>&1 | tail -5") &&
	      cJSON_IsFalse(cJSON_GetObjectItem(t0, "truncated")));
	cJSON_Delete(j);
	free(js);
	free(t.p);
	claude_stream_free(s);
	free(d);
}

static void t_api_401(void)
{
	char *d = json(INIT, API_401);
	struct trace t;
	struct claude_stream *s = feed_all("api401", d, strlen(d), &t, true);
	const struct claude_result *r = claude_stream_result(s);
	char *e = claude_result_error(r);
	CHECK("api401-is-error-despite-subtype", r->have_result &&
	      r->is_error && eq(r->subtype, "success"));
	CHECK("api401-status", r->api_error_status == 401 &&
	      eq(r->terminal_reason, "api_error"));
	CHECK("api401-message", eq(e, "API error 401: Failed to authenticate. "
				   "API Error: 401 invalid x-api-key"));
	CHECK("api401-result-event", strstr(t.p, "X|-|-|Failed to "
		"authenticate. API Error: 401 invalid x-api-key|1\n") != NULL);
	free(e);
	free(t.p);
	claude_stream_free(s);
	free(d);

	/* no init line: the "<synthetic>" model must not be taken */
	d = json(API_401, NULL);
	s = run(d, strlen(d), WHOLE, 0, &t, true);
	CHECK("api401-synthetic-model-ignored",
	      claude_stream_result(s)->model == NULL);
	free(t.p);
	claude_stream_free(s);
	free(d);
}

static void t_max_turns(void)
{
	char *d = json(INIT, MAX_TURNS);
	struct trace t;
	struct claude_stream *s = feed_all("maxturns", d, strlen(d), &t, true);
	const struct claude_result *r = claude_stream_result(s);
	char *e = claude_result_error(r), *js = claude_result_json(r);
	cJSON *j = cJSON_Parse(js);
	CHECK("maxturns-result", r->have_result && r->is_error &&
	      r->result_text == NULL && eq(r->subtype, "error_max_turns") &&
	      eq(r->errors, "Reached maximum number of turns (1)"));
	CHECK("maxturns-message", eq(e, "error_max_turns: Reached maximum "
				     "number of turns (1)"));
	CHECK("maxturns-json-null-result",
	      cJSON_IsNull(cJSON_GetObjectItem(j, "result")) &&
	      cJSON_IsTrue(cJSON_GetObjectItem(j, "is_error")));
	CHECK("maxturns-event-uses-errors", strstr(t.p,
	      "X|-|-|Reached maximum number of turns (1)|1\n") != NULL);
	cJSON_Delete(j);
	free(js);
	free(e);
	free(t.p);
	claude_stream_free(s);
	free(d);
}

static void t_subagent(void)
{
	char *d = json(INIT, SUBAGENT);
	struct trace t;
	struct claude_stream *s = feed_all("subagent", d, strlen(d), &t, true);
	const struct claude_result *r = claude_stream_result(s);
	CHECK("subagent-tools", r->ntools == 2 && r->bad_lines == 0 &&
	      eq(r->tools[0].name, "Agent") && eq(r->tools[1].name, "Grep") &&
	      eq(r->tools[1].output, "src/main.c") &&
	      eq(r->tools[0].output, "main is in src/main.c"));
	free(t.p);
	claude_stream_free(s);
	free(d);
}

/* --- hostile streams ------------------------------------------------------- */

static void t_garbage(void)
{
	static const char lines[] =
		"not json at all\n"
		"{\"type\":\"result\",\n"		/* cut object */
		"[1,2,3]\n42\n\"type\"\nnull\ntrue\n"	/* not objects */
		"{}\n{\"type\":5}\n{\"type\":null}\n{\"type\":[\"result\"]}\n"
		"{\"type\":\"result\"} trailing\n"
		"{\"type\":\"assistant\"}\n"
		"{\"type\":\"assistant\",\"message\":\"x\"}\n"
		"{\"type\":\"assistant\",\"message\":{\"content\":{}}}\n"
		"{\"type\":\"user\",\"message\":[]}\n"
		"{\"type\":\"user\",\"message\":{\"content\":7}}\n"
		"\xff\xfe{}\n"
		"\n\r\n   \n"				/* blank: not counted */
		"{\"type\":\"stream_event\",\"event\":{}}\n"	/* ignored */
		"{\"type\":\"system\",\"subtype\":\"init\",\"model\":7,"
		"\"session_id\":{}}\n"
		"{\"type\":\"assistant\",\"message\":{\"model\":[],\"content\":"
		"[1,null,\"x\",{\"type\":7},{\"type\":\"text\",\"text\":5},"
		"{\"type\":\"tool_use\",\"id\":5,\"name\":[],\"input\":\"str\"},"
		"{\"type\":\"tool_use\"}]}}\n"
		"{\"type\":\"user\",\"message\":{\"content\":[7,{\"type\":"
		"\"tool_result\",\"tool_use_id\":{},\"content\":5,\"is_error\":"
		"\"true\"},{\"type\":\"tool_result\",\"tool_use_id\":\"nope\","
		"\"content\":[5,{\"type\":\"text\"},{\"text\":\"x\"}]}]},"
		"\"tool_use_result\":[1]}\n"
		"{\"type\":\"result\",\"is_error\":\"yes\",\"subtype\":7,"
		"\"result\":5,\"errors\":[1,null,{},\"only this\"],"
		"\"api_error_status\":\"401\",\"num_turns\":-5,\"usage\":\"x\","
		"\"total_cost_usd\":\"1\",\"duration_ms\":1e999,"
		"\"duration_api_ms\":-1e999,\"session_id\":7,"
		"\"terminal_reason\":[]}\n";
	struct trace t;
	struct claude_stream *s = feed_all("garbage", lines,
					   sizeof(lines) - 1, &t, true);
	const struct claude_result *r = claude_stream_result(s);
	char *e = claude_result_error(r);
	printf("info: garbage: %u bad lines\n", r->bad_lines);
	CHECK("garbage-bad-lines", r->bad_lines == 18);
	CHECK("garbage-result-defaults", r->have_result && r->is_error &&
	      !r->result_text && !r->subtype && !r->terminal_reason &&
	      r->api_error_status == 0 && r->num_turns == 0 &&
	      r->input_tokens == 0 && r->cost_usd == 0 &&
	      r->duration_ms == UINT64_MAX && r->duration_api_ms == 0 &&
	      eq(r->errors, "only this") && !r->model && !r->session_id);
	CHECK("garbage-error-text", eq(e, "error: only this"));
	CHECK("garbage-tools", r->ntools == 2 && !r->tools[0].id &&
	      !r->tools[0].name && eq(r->tools[0].input_json, "\"str\"") &&
	      !r->tools[1].input_json && !r->tools[0].has_output);
	free(e);
	e = claude_result_json(r);
	cJSON *j = cJSON_Parse(e);
	CHECK("garbage-json-valid", j != NULL);
	cJSON_Delete(j);
	free(e);
	free(t.p);
	claude_stream_free(s);

	/* neither a result nor anything good */
	s = run("garbage\n", 8, WHOLE, 0, &t, true);
	e = claude_result_error(claude_stream_result(s));
	CHECK("no-result-is-failure",
	      eq(e, "claude printed no result line (1 bad lines)"));
	free(e);
	free(t.p);
	claude_stream_free(s);
}

/* Control characters, escape sequences and broken UTF-8 from the guest. */
static void t_dirty_strings(void)
{
	char cmd[600];
	char *d;
	int n = snprintf(cmd, sizeof(cmd), "%s",
			 "printf '\\\\033]0;pwned\\\\007'; \\u001b[2J\xc2\x9b"
			 "31m caf\xc3\xa9 \xe2\x82 \xed\xa0\x80 \xc0\xaf");
	for (; n < 500; n++)
		cmd[n] = 'x';
	cmd[n] = '\0';
	/* raw bytes inside a JSON string (cJSON takes raw controls) */
	if (asprintf(&d, "{\"type\":\"assistant\",\"message\":{\"content\":"
		     "[{\"type\":\"tool_use\",\"id\":\"t\\u001b1\",\"name\":"
		     "\"Bash\",\"input\":{\"command\":\"%s\x01\"}}]}}\n"
		     "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":"
		     "\"text\",\"text\":\"a\\nb\\tc\\u001b[31md\\r\"}]}}\n"
		     "{\"type\":\"result\",\"is_error\":true,\"result\":"
		     "\"bad\\u001b[0m\\nthing\",\"api_error_status\":529}\n",
		     cmd) < 0)
		return;
	struct trace t;
	struct claude_stream *s = feed_all("dirty", d, strlen(d), &t, true);
	const struct claude_result *r = claude_stream_result(s);
	const struct claude_tool_call *c = r->ntools ? &r->tools[0] : NULL;
	char *e = claude_result_error(r), *js = claude_result_json(r);
	cJSON *j = cJSON_Parse(js);
	CHECK("dirty-id-cleaned", c && eq(c->id, "t?1"));
	CHECK("dirty-text-event-keeps-newline-tab",
	      strstr(t.p, "T|-|-|a\nb\tc?[31md |0\n") != NULL);
	CHECK("dirty-summary-200", strstr(t.p, "U|Bash|t?1|printf ") &&
	      !strchr(t.p, '\033') && !strstr(t.p, "\xc2\x9b"));
	CHECK("dirty-stored-utf8-fixed", c && c->input_json &&
	      strstr(c->input_json, "caf\xc3\xa9 ?? ??? ??") != NULL);
	CHECK("dirty-stored-json-valid", j && cJSON_IsObject(
		cJSON_GetObjectItem(cJSON_GetArrayItem(
			cJSON_GetObjectItem(j, "tool_calls"), 0), "input")));
	CHECK("dirty-error-one-line", eq(e, "API error 529: bad?[0m thing"));
	cJSON_Delete(j);
	free(js);
	free(e);
	free(t.p);
	claude_stream_free(s);
	free(d);
}

/* A string of n copies of c, in JSON quotes. */
static char *filler(size_t n, char c)
{
	char *p = malloc(n + 3);
	p[0] = '"';
	memset(p + 1, c, n);
	p[n + 1] = '"';
	p[n + 2] = '\0';
	return p;
}

static void t_huge(void)
{
	char *big = filler(CLAUDE_MAX_LINE + 10, 'a'), *ok = filler(2u << 20, 'b');
	char *d;
	struct trace t;
	if (asprintf(&d, "%s\n{\"type\":\"result\",\"is_error\":false,"
		     "\"result\":%s,\"errors\":[%s,%s]}\n"
		     "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":"
		     "\"tool_use\",\"id\":\"big\",\"name\":\"Write\",\"input\":"
		     "{\"file_path\":\"/w/f\",\"content\":%s}}]}}\n"
		     "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":"
		     "\"tool_result\",\"tool_use_id\":\"big\",\"content\":%s}]}}"
		     "\n{\"type\":\"result\",\"result\":%s}",
		     big, ok, ok, ok, ok, ok, big) < 0)
		return;
	struct claude_stream *s = feed_all("huge", d, strlen(d), &t, false);
	const struct claude_result *r = claude_stream_result(s);
	const struct claude_tool_call *c = r->ntools ? &r->tools[0] : NULL;
	CHECK("huge-lines-skipped", r->bad_lines == 2);
	CHECK("huge-result-cut", r->have_result && r->result_text &&
	      strlen(r->result_text) == CLAUDE_MAX_FIELD &&
	      r->errors && strlen(r->errors) == CLAUDE_MAX_FIELD);
	CHECK("huge-tool-cut", c && c->input_truncated && c->output_truncated &&
	      strlen(c->input_json) == CLAUDE_MAX_FIELD &&
	      strlen(c->output) == CLAUDE_MAX_FIELD);
	CHECK("huge-summary-is-path", strstr(t.p, "U|Write|big|/w/f|0\n"));
	char *js = claude_result_json(r);
	cJSON *j = cJSON_Parse(js);
	cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tool_calls"), 0);
	CHECK("huge-cut-input-as-string",
	      cJSON_IsString(cJSON_GetObjectItem(t0, "input")) &&
	      cJSON_IsTrue(cJSON_GetObjectItem(t0, "truncated")));
	cJSON_Delete(j);
	free(js);
	free(t.p);
	claude_stream_free(s);

	/* a line of exactly CLAUDE_MAX_LINE bytes is kept */
	char *at = malloc(CLAUDE_MAX_LINE + 2);
	static const char pre[] = "{\"type\":\"result\",\"result\":\"";
	memset(at, 'c', CLAUDE_MAX_LINE);
	memcpy(at, pre, sizeof(pre) - 1);
	memcpy(at + CLAUDE_MAX_LINE - 2, "\"}\n", 3);
	s = run(at, CLAUDE_MAX_LINE + 1, RANDOM, 5, &t, false);
	CHECK("huge-max-line-kept", claude_stream_result(s)->have_result &&
	      claude_stream_result(s)->bad_lines == 0);
	free(t.p);
	claude_stream_free(s);
	memcpy(at + CLAUDE_MAX_LINE - 2, "c\"}", 3);	/* one over */
	s = run(at, CLAUDE_MAX_LINE + 1, RANDOM, 5, &t, true);
	CHECK("huge-max-line-plus-one-skipped",
	      !claude_stream_result(s)->have_result &&
	      claude_stream_result(s)->bad_lines == 1);
	free(t.p);
	claude_stream_free(s);
	free(at);
	free(big);
	free(ok);
	free(d);
}

static void t_unterminated(void)
{
	static const char d[] = "{\"type\":\"result\",\"is_error\":false,"
				"\"result\":\"x\"}";
	struct trace t;
	struct claude_stream *s = run(d, sizeof(d) - 1, BYTES, 0, &t, false);
	CHECK("eof-pending-before-finish", !claude_stream_result(s)->have_result);
	claude_stream_finish(s);
	CHECK("eof-parsed-on-finish", claude_stream_result(s)->have_result &&
	      eq(claude_stream_result(s)->result_text, "x"));
	claude_stream_finish(s);	/* idempotent */
	claude_stream_feed(s, "\n", 1);
	CHECK("eof-finish-idempotent", claude_stream_result(s)->bad_lines == 0);
	free(t.p);
	claude_stream_free(s);

	/* CRLF line ends */
	static const char crlf[] = "{\"type\":\"result\",\"result\":\"y\"}\r\n";
	s = run(crlf, sizeof(crlf) - 1, BYTES, 0, &t, true);
	CHECK("crlf", eq(claude_stream_result(s)->result_text, "y") &&
	      claude_stream_result(s)->bad_lines == 0);
	free(t.p);
	claude_stream_free(s);
}

static void t_nul(void)
{
	static const char d[] =
		"{\"type\":\"result\",\"result\":\"a\0b\"}\n"
		"{\"type\":\"result\"}\0\n"
		"\0\n"
		"{\"type\":\"result\",\"is_error\":false,\"result\":\"a\\u0000b\"}\n";
	struct trace t;
	struct claude_stream *s = feed_all("nul", d, sizeof(d) - 1, &t, true);
	const struct claude_result *r = claude_stream_result(s);
	CHECK("nul-lines-bad", r->bad_lines == 3);
	CHECK("nul-escape-cuts-string", eq(r->result_text, "a"));
	free(t.p);
	claude_stream_free(s);
}

static char *nested(unsigned depth, const char *open, const char *close)
{
	size_t lo = strlen(open), lc = strlen(close);
	char *p = malloc(depth * (lo + lc) + 8), *q = p;
	for (unsigned i = 0; i < depth; i++, q += lo)
		memcpy(q, open, lo);
	*q++ = '1';
	for (unsigned i = 0; i < depth; i++, q += lc)
		memcpy(q, close, lc);
	*q = '\0';
	return p;
}

static void t_deep(void)
{
	/* the tool_use line adds 4 levels; each {"a":[ adds 2 */
	char *ok = nested((CLAUDE_MAX_DEPTH - 4) / 2, "{\"a\":[", "]}");
	char *deep = nested(CLAUDE_MAX_DEPTH, "[", "]");
	char *very = nested(200000, "[", "]");
	char *wide = malloc(CLAUDE_MAX_VALUES * 2 + 64), *d, *w = wide;
	w += sprintf(w, "{\"type\":\"x\",\"v\":[0");
	for (unsigned i = 1; i < CLAUDE_MAX_VALUES; i++)
		w += sprintf(w, ",0");
	strcpy(w, "]}");
	if (asprintf(&d, "%s\n%s\n{\"type\":\"assistant\",\"message\":{"
		     "\"content\":[{\"type\":\"tool_use\",\"id\":\"d\",\"name\":"
		     "\"X\",\"input\":%s}]}}\n{\"type\":\"assistant\",\"message\""
		     ":{\"content\":[{\"type\":\"tool_use\",\"id\":\"e\",\"name\":"
		     "\"X\",\"input\":%s}]}}\n%s\n", very, "[[[[[[[[[[[\"x\"]]",
		     ok, deep, wide) < 0)
		return;
	struct trace t;
	struct claude_stream *s = feed_all("deep", d, strlen(d), &t, false);
	const struct claude_result *r = claude_stream_result(s);
	CHECK("deep-bad-lines", r->bad_lines == 4);
	CHECK("deep-ok-depth-kept", r->ntools == 1 && r->tools[0].input_json &&
	      !r->tools[0].input_truncated &&
	      strlen(r->tools[0].input_json) == strlen(ok));
	char *js = claude_result_json(r);
	CHECK("deep-json-valid", js && strlen(js) > strlen(ok));
	free(js);
	free(t.p);
	claude_stream_free(s);
	free(ok);
	free(deep);
	free(very);
	free(wide);
	free(d);
}

/* The stored-size limits: tool count and the per-stream byte budget. */
static void t_limits(void)
{
	size_t n = CLAUDE_MAX_TOOLS + 100, cap = n * 200 + 64, len = 0;
	char *d = malloc(cap);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(d + len, cap - len,
			"{\"type\":\"assistant\",\"message\":{\"content\":[{"
			"\"type\":\"tool_use\",\"id\":\"t%zu\",\"name\":\"Bash\","
			"\"input\":{\"command\":\"echo %zu\"}}]}}\n", i, i);
	struct trace t;
	struct claude_stream *s = run(d, len, RANDOM, 3, &t, true);
	const struct claude_result *r = claude_stream_result(s);
	CHECK("limit-tools", r->ntools == CLAUDE_MAX_TOOLS &&
	      r->tools_dropped == 100 && t.n[CE_TOOL_USE] == n);
	free(t.p);
	claude_stream_free(s);
	free(d);

	/* each call 60 KiB in and out: the budget runs out, then only cut
	 * copies are kept */
	char *in = filler(60u << 10, 'i');
	n = 400;
	cap = n * (125u << 10) + 64;
	d = malloc(cap);
	len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(d + len, cap - len,
			"{\"type\":\"assistant\",\"message\":{\"content\":[{"
			"\"type\":\"tool_use\",\"id\":\"t%zu\",\"name\":\"W\","
			"\"input\":{\"c\":%s}}]}}\n{\"type\":\"user\",\"message\":"
			"{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
			"\"t%zu\",\"content\":%s}]}}\n", i, in, i, in);
	s = run(d, len, WHOLE, 0, &t, true);
	r = claude_stream_result(s);
	size_t kept = 0, cut = 0;
	for (size_t i = 0; i < r->ntools; i++) {
		kept += strlen(r->tools[i].input_json) +
			strlen(r->tools[i].output);
		cut += r->tools[i].input_truncated + r->tools[i].output_truncated;
	}
	printf("info: budget: %zu bytes kept, %zu fields cut\n", kept, cut);
	CHECK("limit-budget", r->ntools == n && kept <= CLAUDE_MAX_STORED +
	      2 * n * CLAUDE_SUMMARY && cut > 0 && !r->tools[0].input_truncated);
	free(t.p);
	claude_stream_free(s);
	free(d);
	free(in);

	/* 4096 open tools whose ids share a 250-byte prefix, then 200000
	 * results for ids that match none: lookups must stay cheap */
	char pfx[251];
	memset(pfx, 'A', 250);
	pfx[250] = '\0';
	n = CLAUDE_MAX_TOOLS;
	cap = n * 400 + 4000 * (50 * 350 + 64);
	d = malloc(cap);
	len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(d + len, cap - len,
			"{\"type\":\"assistant\",\"message\":{\"content\":[{"
			"\"type\":\"tool_use\",\"id\":\"%s%zu\",\"name\":\"X\","
			"\"input\":{}}]}}\n", pfx, i);
	for (size_t i = 0; i < 4000; i++) {
		len += (size_t)snprintf(d + len, cap - len, "{\"type\":\"user\","
					"\"message\":{\"content\":[");
		for (size_t k = 0; k < 50; k++)
			len += (size_t)snprintf(d + len, cap - len,
				"%s{\"type\":\"tool_result\",\"tool_use_id\":"
				"\"%s%zu\",\"content\":\"\"}", k ? "," : "",
				pfx, 100000 + i * 50 + k);
		len += (size_t)snprintf(d + len, cap - len, "]}}\n");
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = claude_stream_new(NULL, NULL);
	claude_stream_feed(s, d, len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) +
		      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	r = claude_stream_result(s);
	printf("info: %zu bytes, 200000 unmatched results in %.2f s\n", len,
	       secs);
	CHECK("limit-lookup-cheap", r->ntools == n && !r->tools[0].has_output &&
	      secs < 20);
	claude_stream_free(s);
	free(d);
}

static void t_misc(void)
{
	/* the last result line wins; fn may be NULL */
	static const char d[] =
		"{\"type\":\"result\",\"is_error\":true,\"result\":\"first\","
		"\"errors\":[\"e\"],\"api_error_status\":500}\n"
		"{\"type\":\"result\",\"subtype\":\"success\",\"result\":\"second\"}\n";
	struct claude_stream *s = claude_stream_new(NULL, NULL);
	claude_stream_feed(s, d, sizeof(d) - 1);
	claude_stream_finish(s);
	const struct claude_result *r = claude_stream_result(s);
	CHECK("last-result-wins", eq(r->result_text, "second") && !r->is_error &&
	      !r->errors && r->api_error_status == 0);
	claude_stream_free(s);
	claude_stream_free(NULL);

	/* a repeated tool_use id: each result goes to the newest open one */
	static const char rep[] =
		"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":"
		"\"tool_use\",\"id\":\"x\",\"name\":\"A\",\"input\":{}}]}}\n"
		"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":"
		"\"tool_use\",\"id\":\"x\",\"name\":\"B\",\"input\":{}}]}}\n"
		"{\"type\":\"user\",\"message\":{\"content\":[{\"type\":"
		"\"tool_result\",\"tool_use_id\":\"x\",\"content\":\"1\"},{\"type\":"
		"\"tool_result\",\"tool_use_id\":\"x\",\"content\":\"2\"},{\"type\":"
		"\"tool_result\",\"tool_use_id\":\"x\",\"content\":\"3\"}]}}\n";
	s = claude_stream_new(NULL, NULL);
	claude_stream_feed(s, rep, sizeof(rep) - 1);
	r = claude_stream_result(s);
	static const char sub[] =
		"{\"type\":\"assistant\",\"parent_tool_use_id\":\"toolu_A\","
		"\"message\":{\"model\":\"sub\",\"content\":[]}}\n"
		"{\"type\":\"assistant\",\"parent_tool_use_id\":null,"
		"\"message\":{\"model\":\"main\",\"content\":[]}}\n";
	claude_stream_feed(s, sub, sizeof(sub) - 1);
	CHECK("model-not-from-subagent", eq(r->model, "main"));
	CHECK("repeated-id", r->ntools == 2 && eq(r->tools[1].output, "1") &&
	      eq(r->tools[0].output, "2") && eq(r->tools[0].input_json, "{}"));
	claude_stream_free(s);
}

static int dump(const char *dir)
{
	static const struct { const char *name, *a, *b; } seeds[] = {
		{ "ok.jsonl", INIT, OK_RUN },
		{ "api401.jsonl", INIT, API_401 },
		{ "maxturns.jsonl", INIT, MAX_TURNS },
		{ "subagent.jsonl", INIT, SUBAGENT },
	};
	char path[512];
	mkdir(dir, 0755);
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char *d = json(seeds[i].a, seeds[i].b);
		snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
		FILE *f = fopen(path, "w");
		if (!f || fputs(d, f) < 0 || fclose(f)) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			return 1;
		}
		free(d);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--dump"))
		return dump(argv[2]);
	t_ok_run();
	t_api_401();
	t_max_turns();
	t_subagent();
	t_garbage();
	t_dirty_strings();
	t_huge();
	t_unterminated();
	t_nul();
	t_deep();
	t_limits();
	t_misc();
	printf("stream: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
