/* otel_test.c: drive host/otel/ for tests/otel/test_otel.sh.
 *
 *   otel_test unit
 *       Model, traceparent, settings and response-decoding checks that
 *       need no network; one "PASS: otel unit NAME" / "FAIL: ..." line
 *       each, exit 1 on any failure.
 *   otel_test send URL|- [--tree] [--spans N] [--queue N] [--batch N]
 *                      [--backoff MS] [--timeout MS] [--attempts N]
 *                      [--flush MS] [--shutdown MS] [--ca PEM]
 *                      [--headers SPEC]
 *       Export to URL either the demo tree (--tree: a pipeline's spans
 *       with gen_ai attributes, events and an error status, metric
 *       points of each kind, log records tied to spans) or N plain spans,
 *       then otel_shutdown(--shutdown, default 5000). URL "-" leaves
 *       the endpoint (and headers) to the environment. Prints
 *         ids trace=HEX pipeline=HEX stage=HEX boot=HEX exec=HEX tool=HEX
 *         traceparent=00-...            (--tree only)
 *         emit_ms=N flush=RC shutdown_ms=N queued=N sent=N dropped=N
 *           failed=N requests=N retries=N
 *         last_error=TEXT
 *       and exits 0 (the shell test judges the numbers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otel.h"
#include "util.h"

static int nfail;

static void check(bool ok, const char *name)
{
	printf("%s: otel unit %s\n", ok ? "PASS" : "FAIL", name);
	nfail += !ok;
}

static uint64_t ms_since(uint64_t t0)
{
	return (otel_mono_ns() - t0) / 1000000;
}

/* ---- unit ------------------------------------------------------------- */

static void unit_traceparent(void)
{
	static const char *const bad[] = {
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"", NULL,
	};
	const char *good = "00-4bf92f3577b34da6a3ce929d0e0e4736-"
			   "00f067aa0ba902b7-01";
	char out[OTEL_TRACEPARENT_LEN + 1], hex[33];
	struct otel_ctx c;
	bool all = true;

	check(!otel_traceparent_parse(good, &c) &&
	      !strcmp(otel_hex(c.trace_id, 16, hex),
		      "4bf92f3577b34da6a3ce929d0e0e4736") && c.flags == 1 &&
	      !strcmp(otel_traceparent_format(&c, out), good),
	      "traceparent-roundtrip");
	check(!otel_traceparent_parse(" \t00-4bf92f3577b34da6a3ce929d0e0e47"
				      "36-00f067aa0ba902b7-00 ", &c) &&
	      c.flags == 0, "traceparent-blanks");
	check(!otel_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-"
				      "00f067aa0ba902b7-01-future", &c),
	      "traceparent-future-version");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		all &= otel_traceparent_parse(bad[i], &c) == -EINVAL;
	check(all, "traceparent-invalid");
}

static void unit_spans(void)
{
	static const uint8_t zero[OTEL_SPAN_ID_LEN];
	struct otel_span *root = otel_span_start("root", NULL);
	struct otel_span *kid = otel_span_start("kid", &root->ctx);
	struct otel_ctx bad = { .flags = 1 };
	struct otel_span *lone = otel_span_start("lone", &bad);

	check(!memcmp(root->parent_id, zero, 8) &&
	      root->ctx.flags == OTEL_FLAG_SAMPLED && root->start_ns,
	      "span-root");
	check(!memcmp(kid->ctx.trace_id, root->ctx.trace_id, 16) &&
	      !memcmp(kid->parent_id, root->ctx.span_id, 8) &&
	      memcmp(kid->ctx.span_id, root->ctx.span_id, 8),
	      "span-child");
	check(!memcmp(lone->parent_id, zero, 8) &&
	      memcmp(lone->ctx.trace_id, root->ctx.trace_id, 16),
	      "span-invalid-parent-is-root");
	otel_span_end(kid);
	uint64_t end = kid->end_ns;
	otel_span_end(kid);
	check(end && kid->end_ns == end, "span-end-once");
	for (int i = 0; i < OTEL_MAX_EVENTS + 3; i++)
		otel_span_event(kid, "e");
	check(kid->nevents == OTEL_MAX_EVENTS && kid->dropped_events == 3 &&
	      !otel_span_event(kid, "e"), "span-event-limit");
	otel_span_set_status(kid, OTEL_STATUS_OK, "ignored");
	check(kid->status == OTEL_STATUS_OK && !kid->status_msg,
	      "span-status-ok-no-message");
	otel_span_free(root);
	otel_span_free(kid);
	otel_span_free(lone);
	otel_span_free(NULL);
	otel_span_end(NULL);
	check(!otel_span_event(NULL, "x"), "span-null-safe");
}

static void unit_attrs(void)
{
	struct otel_attrs a = { 0 }, b;
	char key[16], *big = malloc(OTEL_MAX_VALUE + 8);

	otel_attr_str(&a, "k", "one");
	otel_attr_int(&a, "k", 2);
	check(a.n == 1 && a.v[0].type == OTEL_INT && a.v[0].v.i == 2,
	      "attr-overwrite");
	otel_attr_strn(&a, "bytes", "a\xff" "b\0c\xe2\x9c\x93", 8);
	check(!strcmp(a.v[1].v.s, "a?b?c\xe2\x9c\x93"), "attr-utf8-sanitize");
	otel_attr_str(&a, "surrogate", "\xed\xa0\x80");
	check(!strcmp(a.v[2].v.s, "???"), "attr-utf8-surrogate");
	memset(big, 'x', OTEL_MAX_VALUE - 1);
	memcpy(big + OTEL_MAX_VALUE - 1, "\xc3\xa9", 3);	/* é, NUL */
	bool cut = otel_attr_str(&a, "big", big);
	check(cut && strlen(a.v[3].v.s) == OTEL_MAX_VALUE - 1,
	      "attr-truncate-at-char");
	for (int i = 0; i < OTEL_MAX_ATTRS + 5; i++) {
		snprintf(key, sizeof(key), "n%d", i);
		otel_attr_bool(&a, key, i & 1);
	}
	check(a.n == OTEL_MAX_ATTRS && a.dropped == 9, "attr-limit");
	check(!otel_attrs_copy(&b, &a) && b.n == a.n &&
	      !strcmp(b.v[1].v.s, a.v[1].v.s) && b.v[1].v.s != a.v[1].v.s,
	      "attr-copy");
	otel_attrs_free(&a);
	otel_attrs_free(&b);
	otel_attr_str(NULL, "k", "v");
	check(a.n == 0 && !a.v, "attr-free-resets");
	free(big);
}

static void unit_metrics(void)
{
	static const double bounds[] = { 1, 2, 5 }, badb[] = { 1, 1 };
	static const double vals[] = { 0.5, 1, 1.5, 5, 7 };
	static const uint64_t want[] = { 2, 1, 1, 1 };
	struct otel_metric *h = otel_metric_new(OTEL_HISTOGRAM, "h", "s", NULL);
	struct otel_metric *s = otel_metric_new(OTEL_SUM, "s", NULL, NULL);

	check(!otel_metric_set_bounds(h, bounds, 3) &&
	      otel_metric_set_bounds(h, badb, 2) == -EINVAL &&
	      otel_metric_set_bounds(s, bounds, 3) == -EINVAL,
	      "histogram-bounds");
	for (size_t i = 0; i < ARRAY_SIZE(vals); i++)
		otel_metric_observe(h, vals[i]);
	check(!memcmp(h->counts, want, sizeof(want)) && h->count == 5 &&
	      h->sum == 15 && h->min == 0.5 && h->max == 7,
	      "histogram-buckets-upper-inclusive");
	otel_metric_set_double(s, 2.5);
	check(!s->is_int && s->value.d == 2.5 && s->start_ns &&
	      s->start_ns <= s->time_ns, "sum-double");
	otel_metric_free(h);
	otel_metric_free(s);
}

static void unit_settings(void)
{
	struct otel_endpoint ep;
	char err[256], *h = NULL;

	check(!otel_endpoint_parse("http://127.0.0.1:4318", &ep, err, 256) &&
	      !ep.https && !strcmp(ep.host, "127.0.0.1") &&
	      !strcmp(ep.port, "4318") && !strcmp(ep.prefix, "") &&
	      !strcmp(ep.hostport, "127.0.0.1:4318"), "endpoint-plain");
	check(!otel_endpoint_parse("HTTPS://otel.example/otlp//", &ep, err,
				   256) && ep.https &&
	      !strcmp(ep.port, "443") && !strcmp(ep.prefix, "/otlp") &&
	      !strcmp(ep.hostport, "otel.example"), "endpoint-https-prefix");
	check(!otel_endpoint_parse("http://[::1]:4318/a", &ep, err, 256) &&
	      !strcmp(ep.host, "::1") && !strcmp(ep.hostport, "[::1]:4318"),
	      "endpoint-ipv6");
	check(otel_endpoint_parse("http://u:s3cret@h", &ep, err, 256) < 0 &&
	      !strstr(err, "s3cret"), "endpoint-userinfo-not-echoed");
	check(otel_endpoint_parse("ftp://h", &ep, err, 256) < 0 &&
	      otel_endpoint_parse("http://h:99999", &ep, err, 256) < 0 &&
	      otel_endpoint_parse("http://h:80x", &ep, err, 256) < 0 &&
	      otel_endpoint_parse("http://h/?q=1", &ep, err, 256) < 0 &&
	      otel_endpoint_parse("http://:80", &ep, err, 256) < 0,
	      "endpoint-invalid");
	check(!otel_headers_parse(" a=b,c = d%20e%2C ,,", &h, err, 256) &&
	      !strcmp(h, "a: b\r\nc: d e,\r\n"), "headers-parse");
	free(h);
	check(!otel_headers_parse("", &h, err, 256) && !strcmp(h, ""),
	      "headers-empty");
	free(h);
	check(otel_headers_parse("x=%0d%0aevil: 1", &h, err, 256) < 0 &&
	      otel_headers_parse("bad key=v", &h, err, 256) < 0 &&
	      otel_headers_parse("k=%zz", &h, err, 256) < 0 &&
	      otel_headers_parse("k=%4", &h, err, 256) < 0 &&
	      otel_headers_parse("novalue", &h, err, 256) < 0,
	      "headers-invalid");
	check(otel_headers_parse("Content-Type=x", &h, err, 256) < 0 &&
	      strstr(err, "set by the exporter"), "headers-reserved");
}

static void unit_response(void)
{
	/* ExportTraceServiceResponse { partial_success { rejected_spans: 3
	 * error_message: "q" } }, encoded by hand. */
	static const uint8_t partial[] = { 0x0a, 0x05, 0x08, 0x03,
					   0x12, 0x01, 'q' };
	static const uint8_t junk[] = { 0xff, 0xff, 0xff };
	char msg[64];

	check(otel_decode_response(OTEL_TRACES, partial, sizeof(partial),
				   msg, sizeof(msg)) == 3 &&
	      !strcmp(msg, "q"), "response-partial-success");
	check(otel_decode_response(OTEL_LOGS, NULL, 0, msg, sizeof(msg)) == 0,
	      "response-empty");
	check(otel_decode_response(OTEL_METRICS, junk, sizeof(junk), msg,
				   sizeof(msg)) == -1, "response-junk");
}

static void unit_disabled(void)
{
	struct otel_exporter *ex, *ex2;
	struct otel_stats st;
	char err[256] = "";

	unsetenv("VOIDBOX_OTLP_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	check(otel_init(NULL, &ex, err, sizeof(err)) == 0 && !ex &&
	      !otel_emit_span(ex, otel_span_start("x", NULL)) &&
	      !otel_emit_log(ex, otel_log_new(OTEL_SEV_INFO, "x", NULL)) &&
	      otel_flush(ex, 10) == 0, "disabled-noop");
	otel_shutdown(ex, 10, &st);
	check(!st.queued && !st.dropped, "disabled-shutdown");
	check(otel_init(&(struct otel_config){ .endpoint = "udp://x" }, &ex,
			err, sizeof(err)) == -1 && !ex && strstr(err, "http"),
	      "init-bad-endpoint");
	check(otel_init(&(struct otel_config){
			.endpoint = "http://127.0.0.1:9",
			.headers = "x-a=%0a" }, &ex, err, sizeof(err)) == -1 &&
	      !ex, "init-bad-headers");

	/* Port 9 (discard) is closed here: nothing is delivered, and the
	 * lifecycle still holds. Two exporters at once are independent. */
	struct otel_config dead = { .endpoint = "http://127.0.0.1:9",
				    .backoff_ms = 10 };
	bool ok = otel_init(&dead, &ex, err, sizeof(err)) == 1 && ex &&
		  otel_init(&dead, &ex2, err, sizeof(err)) == 1 && ex2 &&
		  otel_emit_span(ex, otel_span_start("x", NULL));
	otel_get_stats(ex2, &st);
	ok &= st.queued == 0;
	otel_shutdown(ex2, 0, NULL);
	otel_shutdown(ex, 50, &st);
	ok &= st.queued == 1 && st.sent == 0;
	ok &= otel_init(&dead, &ex, err, sizeof(err)) == 1;
	otel_shutdown(ex, 0, &st);
	check(ok && !st.queued, "init-twice-reinit-shutdown");
}

/* ---- send ------------------------------------------------------------- */

static char *hex8(const uint8_t *id, char out[17])
{
	return otel_hex(id, OTEL_SPAN_ID_LEN, out);
}

static uint64_t emit_tree(struct otel_exporter *ex)
{
	static const double boot_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1 };
	static const double boot_obs[] = { 0.08, 0.12, 0.3, 2.0 };
	struct otel_ctx remote;
	char t[33], a[17], b[17], c[17], d[17], e[17],
	     tp[OTEL_TRACEPARENT_LEN + 1];

	/* The caller's W3C traceparent makes pipeline a child of it. */
	otel_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-"
			       "00f067aa0ba902b7-01", &remote);
	struct otel_span *pipe = otel_span_start("pipeline:review", &remote);
	otel_attr_str(&pipe->attrs, "voidbox.pipeline", "review");
	struct otel_span *stage = otel_span_start("stage:lint", &pipe->ctx);
	otel_attr_str(&stage->attrs, "voidbox.stage", "lint");
	otel_attr_double(&stage->attrs, "voidbox.stage.cost_usd", 0.0123);
	struct otel_span *boot = otel_span_start("vm.boot", &stage->ctx);
	otel_attr_int(&boot->attrs, "voidbox.vm.mem_mib", 512);
	otel_span_event(boot, "kernel.entry");
	otel_attr_int(otel_span_event(boot, "agent.ready"), "vsock.cid", 3);
	otel_span_end(boot);
	struct otel_span *exec = otel_span_start("claude.exec", &stage->ctx);
	otel_attr_str(&exec->attrs, "gen_ai.system", "anthropic");
	otel_attr_str(&exec->attrs, "gen_ai.request.model",
		      "claude-sonnet-4-5");
	otel_attr_int(&exec->attrs, "gen_ai.usage.input_tokens", 1234);
	otel_attr_int(&exec->attrs, "gen_ai.usage.output_tokens", 567);
	struct otel_span *tool = otel_span_start("claude.tool.Bash",
						 &exec->ctx);
	/* a check mark, then a byte that is not UTF-8 */
	otel_attr_str(&tool->attrs, "voidbox.tool.input",
		      "ls -la \xe2\x9c\x93 \xff");
	otel_attr_bool(&tool->attrs, "voidbox.tool.input_truncated", false);
	struct otel_attrs *ev = otel_span_event(tool, "egress.decision");
	otel_attr_str(ev, "voidbox.egress.rule", "api.anthropic.com:443");
	otel_attr_str(ev, "voidbox.egress.verdict", "deny");
	otel_span_set_status(tool, OTEL_STATUS_ERROR, "exit status 2");
	otel_span_end(tool);
	otel_span_end(exec);
	otel_span_end(stage);
	otel_span_end(pipe);
	printf("ids trace=%s pipeline=%s stage=%s boot=%s exec=%s tool=%s\n",
	       otel_hex(pipe->ctx.trace_id, 16, t), hex8(pipe->ctx.span_id, a),
	       hex8(stage->ctx.span_id, b), hex8(boot->ctx.span_id, c),
	       hex8(exec->ctx.span_id, d), hex8(tool->ctx.span_id, e));
	printf("traceparent=%s\n", otel_traceparent_format(&tool->ctx, tp));

	struct otel_metric *in = otel_metric_new(OTEL_SUM,
		"voidbox.stage.tokens", "{token}", "LLM tokens");
	struct otel_metric *out = otel_metric_new(OTEL_SUM,
		"voidbox.stage.tokens", "{token}", "LLM tokens");
	otel_metric_set_int(in, 1234);
	otel_attr_str(&in->attrs, "direction", "in");
	otel_metric_set_int(out, 567);
	otel_attr_str(&out->attrs, "direction", "out");
	struct otel_metric *mem = otel_metric_new(OTEL_GAUGE,
		"voidbox.guest.memory.usage", "By", NULL);
	otel_metric_set_double(mem, 123.5);
	struct otel_metric *hist = otel_metric_new(OTEL_HISTOGRAM,
		"voidbox.vm.boot.duration", "s", "VM boot time");
	otel_metric_set_bounds(hist, boot_bounds, ARRAY_SIZE(boot_bounds));
	for (size_t i = 0; i < ARRAY_SIZE(boot_obs); i++)
		otel_metric_observe(hist, boot_obs[i]);

	struct otel_log *l1 = otel_log_new(OTEL_SEV_INFO,
		"[vm:lint] agent ready", &boot->ctx);
	otel_attr_str(&l1->attrs, "voidbox.vm", "lint");
	struct otel_log *l2 = otel_log_new(OTEL_SEV_ERROR,
		"[pipeline] stage lint failed", &tool->ctx);

	/* Only the emits are timed: they must not wait for the network. */
	uint64_t t0 = otel_mono_ns();
	otel_emit_span(ex, tool);
	otel_emit_span(ex, exec);
	otel_emit_span(ex, boot);
	otel_emit_span(ex, stage);
	otel_emit_span(ex, pipe);
	otel_emit_metric(ex, in);
	otel_emit_metric(ex, out);
	otel_emit_metric(ex, mem);
	otel_emit_metric(ex, hist);
	otel_emit_log(ex, l1);
	otel_emit_log(ex, l2);
	return ms_since(t0);
}

static uint64_t emit_spans(struct otel_exporter *ex, unsigned n)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++) {
		struct otel_span *s = otel_span_start("load", NULL);
		otel_attr_int(&s->attrs, "i", i);
		otel_span_end(s);
		uint64_t t0 = otel_mono_ns();
		otel_emit_span(ex, s);
		total += otel_mono_ns() - t0;
	}
	return total / 1000000;
}

static int send_main(int argc, char **argv)
{
	struct otel_config cfg = { .scope_version = "0.1.0" };
	unsigned spans = 1, shutdown_ms = 5000, flush_ms = 0;
	struct otel_attrs res = { 0 };
	struct otel_stats st;
	bool tree = false;
	char err[256], host[64] = "";
	int flush = 0;

	if (strcmp(argv[2], "-"))
		cfg.endpoint = argv[2];	/* "-": from the environment */
	for (int i = 3; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
		unsigned u = (unsigned)strtoul(v, NULL, 10);
		if (!strcmp(o, "--tree")) {
			tree = true;
			continue;
		}
		i++;
		if (!strcmp(o, "--spans")) spans = u;
		else if (!strcmp(o, "--queue")) cfg.queue_max = u;
		else if (!strcmp(o, "--batch")) cfg.batch_max = u;
		else if (!strcmp(o, "--backoff")) cfg.backoff_ms = u;
		else if (!strcmp(o, "--timeout")) cfg.timeout_ms = u;
		else if (!strcmp(o, "--attempts")) cfg.max_attempts = u;
		else if (!strcmp(o, "--flush")) flush_ms = u;
		else if (!strcmp(o, "--shutdown")) shutdown_ms = u;
		else if (!strcmp(o, "--ca")) cfg.ca_path = v;
		else if (!strcmp(o, "--headers")) cfg.headers = v;
		else {
			fprintf(stderr, "otel_test: unknown option %s\n", o);
			return 2;
		}
	}
	gethostname(host, sizeof(host) - 1);
	otel_attr_str(&res, "service.name", "voidbox-test");
	otel_attr_str(&res, "service.version", "0.1.0");
	otel_attr_str(&res, "host.name", host);
	cfg.resource = &res;
	struct otel_exporter *ex;
	if (otel_init(&cfg, &ex, err, sizeof(err)) != 1) {
		printf("init failed: %s\n", err);
		return 1;
	}
	otel_attrs_free(&res);		/* otel_init copied it */
	uint64_t emit_ms = tree ? emit_tree(ex) : emit_spans(ex, spans);
	if (flush_ms)
		flush = otel_flush(ex, flush_ms);
	uint64_t t0 = otel_mono_ns();
	otel_shutdown(ex, shutdown_ms, &st);
	printf("emit_ms=%llu flush=%d shutdown_ms=%llu queued=%llu sent=%llu "
	       "dropped=%llu failed=%llu requests=%llu retries=%llu\n",
	       (unsigned long long)emit_ms, flush,
	       (unsigned long long)ms_since(t0),
	       (unsigned long long)st.queued, (unsigned long long)st.sent,
	       (unsigned long long)st.dropped, (unsigned long long)st.failed,
	       (unsigned long long)st.requests,
	       (unsigned long long)st.retries);
	printf("last_error=%s\n", st.last_error);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("otel_test", LOG_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "unit")) {
		unit_traceparent();
		unit_spans();
		unit_attrs();
		unit_metrics();
		unit_settings();
		unit_response();
		unit_disabled();
		return nfail ? 1 : 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "send"))
		return send_main(argc, argv);
	fprintf(stderr, "usage: otel_test unit | otel_test send URL "
		"[options]\n");
	return 2;
}
