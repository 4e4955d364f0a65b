/* mock.c: the deterministic fake agent of mock mode — no VM, no model.
 *
 * `sandbox.mode: mock` (or `llm.provider: mock`, or `auto` on a host
 * without a usable /dev/kvm, always announced on stderr) runs the same
 * orchestration with this stand-in, so specs, pipelines and the C API
 * examples run anywhere. It never pretends to be a VM run: results say
 * "mock": true.
 *
 * Its output is a JSON object naming the box, its prompt, its skills and
 * the input it received, so pipeline data flow can be checked exactly.
 * Directives in the prompt steer it, for tests and demos:
 *   [[mock-agent:fail]]       the stage fails
 *   [[mock-agent:sleep:MS]]   take MS milliseconds (timeouts apply)
 *   [[mock-agent:tool:NAME:TEXT]]  report a tool call (live lines, the
 *                             panel, the daemon's events), before the
 *                             sleep; each one, in order
 *   [[mock-agent:usage:IN:OUT:USD]]  report tokens and cost so far
 *                             (the panel)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "run.h"
#include "../otel/otel.h"
#include "../spec/spec.h"
#include "../util/util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned running, peak;

unsigned mock_peak_concurrency(void)
{
	pthread_mutex_lock(&lock);
	unsigned p = peak;
	pthread_mutex_unlock(&lock);
	return p;
}

/* [[mock-agent:tool:...]] and [[mock-agent:usage:...]]: what a live
 * display shows of a real run, without one. */
static void mock_events(const struct box_cfg *bc, const struct stage_opts *o,
			const char *p)
{
	const char *s = p;
	while ((s = strstr(s, "[[mock-agent:tool:"))) {
		char name[64] = "", text[200] = "";
		sscanf(s + 18, "%63[^:]:%199[^]]", name, text);
		struct claude_event ev = { .kind = CE_TOOL_USE, .name = name,
					   .id = "mock", .text = text };
		if (o->on_event)
			o->on_event(o->ctx, bc->name, &ev);
		stage_progress(o, bc->name, PH_AGENT, &ev, NULL);
		s += 18;
	}
	s = strstr(p, "[[mock-agent:usage:");
	unsigned long long in, out;
	double usd = 0;
	if (s && sscanf(s + 19, "%llu:%llu:%lf", &in, &out, &usd) >= 2 &&
	    o->on_progress) {
		struct stage_progress pr = { .phase = PH_AGENT,
					     .tokens_in = in,
					     .tokens_out = out,
					     .usd = usd > 0 && usd < 1e9 ? usd : 0 };
		o->on_progress(o->progress_ctx, bc->name, &pr);
	}
}

/* A mock stage's sleep ends when the run is interrupted, as a real
 * stage ends when its VM is stopped (box_signal_all): a daemon's cancel
 * must not wait out a mock agent. */
static volatile sig_atomic_t mock_stop;

void mock_interrupt(void)
{
	mock_stop = 1;
}

/* false when interrupted. */
static bool sleep_ms(uint64_t ms)
{
	uint64_t end = mono_ns() + ms * 1000000;
	while (!mock_stop) {
		uint64_t now = mono_ns();
		if (now >= end)
			return true;
		uint64_t left = end - now < 50000000 ? end - now : 50000000;
		struct timespec ts = { .tv_nsec = (long)left };
		nanosleep(&ts, NULL);
	}
	return false;
}

int mock_run(const struct box_cfg *bc, const struct stage_opts *o,
	     struct stage_result *r)
{
	const char *p = bc->prompt ? bc->prompt : "";
	uint64_t t0 = mono_ns();

	*r = (struct stage_result){ .status = STAGE_OK, .mock = true,
				    .start_unix_ns = otel_now_ns() };
	snprintf(r->name, sizeof(r->name), "%s", bc->name);
	if (o->span_ids) {
		memcpy(r->span_stage, o->span_ids, 8);
		memcpy(r->span_claude, o->span_ids + 8, 8);
	}
	char src[80];
	snprintf(src, sizeof(src), "vm:%s", bc->name);
	log_say(src, "mock mode: deterministic fake agent, no VM and no model");
	stage_progress(o, bc->name, PH_AGENT, NULL, NULL);
	mock_events(bc, o, p);
	pthread_mutex_lock(&lock);
	if (++running > peak)
		peak = running;
	pthread_mutex_unlock(&lock);

	const char *s = strstr(p, "[[mock-agent:sleep:");
	if (s) {
		uint64_t ms = strtoull(s + 19, NULL, 10);
		uint64_t limit = (uint64_t)bc->timeout_s * 1000;
		if (!sleep_ms(ms < limit ? ms : limit))
			stage_fail(r, CAUSE_AGENT, "interrupted");
		else if (ms >= limit)
			stage_fail(r, CAUSE_TIMEOUT, "timed out after %u s",
				   bc->timeout_s);
	}
	if (r->status == STAGE_OK && strstr(p, "[[mock-agent:fail]]")) {
		stage_fail(r, CAUSE_AGENT, "mock agent failed as its prompt "
			   "asked ([[mock-agent:fail]])");
	}
	if (r->status == STAGE_OK) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "box", bc->name);
		cJSON_AddBoolToObject(out, "mock", true);
		cJSON_AddStringToObject(out, "prompt", p);
		cJSON *sk = cJSON_AddArrayToObject(out, "skills");
		for (size_t i = 0; i < bc->nskills; i++)
			cJSON_AddItemToArray(sk, cJSON_CreateString(
						     bc->skills[i].name[0] ?
						     bc->skills[i].name :
						     "claude-code"));
		cJSON *in = NULL;
		if (o->input) {
			in = cJSON_ParseWithLength(o->input, o->input_len);
			if (!in) {
				char *t = strndup(o->input, o->input_len);
				in = cJSON_CreateString(t ? t : "");
				free(t);
			}
		}
		cJSON_AddItemToObject(out, "input", in ? in : cJSON_CreateNull());
		r->output = cJSON_PrintUnformatted(out);
		r->output_len = r->output ? strlen(r->output) : 0;
		snprintf(r->output_path, sizeof(r->output_path),
			 "(mock)/workspace/output.json");
		cJSON_Delete(out);
		snprintf(r->mock_text, sizeof(r->mock_text),
			 "mock agent %s: done", bc->name);
	}
	pthread_mutex_lock(&lock);
	running--;
	pthread_mutex_unlock(&lock);
	r->run_ns = r->total_ns = mono_ns() - t0;
	return r->status == STAGE_OK ? 0 : -1;
}
