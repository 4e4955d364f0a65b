/* cmd_vmtest.c: `voidbox __vmtest` — checks that need one running VM and
 * more than one connection to it, for the nested test host batches
 * (tests/testhost/vm.batch). Not a user command; hidden from usage.
 *
 *   __vmtest concurrent N   N execs at once over N connections
 *   __vmtest auth           wrong secret, garbage and oversized frames are
 *                           refused; a good connection still works
 *   __vmtest flood          a connection pouring garbage cannot stall the
 *                           host or the guest
 *   __vmtest gateway URL KEYENV
 *                           the LLM gateway from inside the guest (busybox
 *                           wget on the relay): token checked, key swapped,
 *                           tokens counted, concurrent requests
 *   __vmtest gateway-budget URL KEYENV
 *                           a spent token budget refuses further requests
 *   __vmtest gateway-bad-tls URL KEYENV
 *                           an https upstream failing verification is
 *                           refused (502 naming the cause)
 *   __vmtest gateway-hostile URL KEYENV [PROGRAM]
 *                           guest code with the token attacks: methods
 *                           and paths outside the surface, a reflecting
 *                           upstream route, bodies past the memory bound,
 *                           300 vsock connections held at once (PROGRAM,
 *                           tests/e2e/hostile_gw); the gateway and the
 *                           VMM keep serving, the key never comes back
 * Prints PASS:/FAIL: lines (tests/runner.sh convention); exit 0 = all ok.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../gateway/gateway.h"
#include "../util/util.h"

static int fails;

#define RESULT(ok, name, ...) do { \
	if (ok) printf("PASS: %s\n", name); \
	else { fails++; printf("FAIL: %s: ", name); printf(__VA_ARGS__); \
	       printf("\n"); } fflush(stdout); } while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run argv on a fresh connection; output into out (NUL-terminated). */
static int run_cmd(struct box *b, const char *const *argv, char *out,
		   size_t len, struct agent_exec_res *res)
{
	struct agent_conn c;
	int p[2];

	if (agent_open(&c, b, 30000) < 0 || pipe(p) < 0) {
		snprintf(out, len, "%s", c.err);
		agent_close(&c);
		return -1;
	}
	struct agent_exec_req r = { .argv = argv, .uid = 1000, .gid = 1000,
				    .stdin_fd = -1, .stdout_fd = p[1],
				    .stderr_fd = -1 };
	int rc = agent_exec(&c, &r, res);
	close(p[1]);
	ssize_t n = read(p[0], out, len - 1);	/* small outputs only */
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	if (rc < 0)
		snprintf(out, len, "%s", c.err);
	agent_close(&c);
	return rc;
}

struct job {
	struct box *b;
	int i, n, ok;
	char out[256];
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	char script[320];
	struct agent_exec_res res;

	/* A barrier inside the guest: each job announces itself and waits
	 * until all n have.  Serialised execs could never pass it (they
	 * would time out), so success proves overlap without a wall-clock
	 * threshold that a loaded nested host can miss. */
	snprintf(script, sizeof(script),
		 "d=/tmp/vb-cc; mkdir -p $d; : >$d/$0; i=0; "
		 "while [ $(ls $d | wc -l) -lt %d ]; do "
		 "i=$((i+1)); [ $i -gt 1200 ] && exit 3; sleep 0.05; done; "
		 "echo job-%d", j->n, j->i);
	char tag[16];
	snprintf(tag, sizeof(tag), "j%d", j->i);
	const char *argv[] = { "sh", "-c", script, tag, NULL };
	char want[32];
	snprintf(want, sizeof(want), "job-%d\n", j->i);
	j->ok = run_cmd(j->b, argv, j->out, sizeof(j->out), &res) == 0 &&
		!res.err && res.exit.code == 0 && !strcmp(j->out, want);
	return NULL;
}

static void concurrent(struct box *b, int n)
{
	struct job jobs[32];
	pthread_t t[32];
	uint64_t t0 = now_ms();
	int ok = 0;

	if (n > 32)
		n = 32;
	for (int i = 0; i < n; i++) {
		jobs[i] = (struct job){ .b = b, .i = i, .n = n };
		pthread_create(&t[i], NULL, job_run, &jobs[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		ok += jobs[i].ok;
		if (!jobs[i].ok)
			printf("info: job %d got '%s'\n", i, jobs[i].out);
	}
	uint64_t ms = now_ms() - t0;
	RESULT(ok == n, "vm-concurrent-execs",
	       "%d of %d passed an in-guest barrier of %d", ok, n, n);
	printf("info: %d concurrent execs in %llu ms\n", n,
	       (unsigned long long)ms);
}

/* Send raw bytes on a fresh connection; true if the agent closes it
 * (EOF) within 10 s without answering success. */
static bool refused(struct box *b, const void *data, size_t len)
{
	char err[256];
	uint8_t buf[4096];
	int fd = box_connect(b, AGENT_VSOCK_PORT, 10000, err, sizeof(err));

	if (fd < 0)
		return false;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return true;	/* closed on us already */
	}
	uint64_t dl = now_ms() + 10000;
	bool closed = false, ok_seen = false;
	while (now_ms() < dl && !closed) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 500) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN))
			closed = true;
		else if (n >= (ssize_t)sizeof(struct agent_hdr) &&
			 ((struct agent_hdr *)buf)->type == AGENT_MSG_HELLO_OK)
			ok_seen = true;
	}
	close(fd);
	return closed && !ok_seen;
}

static void auth(struct box *b)
{
	struct {
		struct agent_hdr h;
		struct agent_hello hello;
	} m = { .h = { .magic = AGENT_MAGIC, .type = AGENT_MSG_HELLO,
		       .len = sizeof(struct agent_hello) },
		.hello = { .abi_version = AGENT_ABI_VERSION } };
	memcpy(m.hello.secret, b->secret, AGENT_SECRET_LEN);
	m.hello.secret[5] ^= 1;
	RESULT(refused(b, &m, sizeof(m)), "vm-wrong-secret-refused",
	       "connection not closed");
	uint8_t junk[512];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	RESULT(refused(b, junk, sizeof(junk)), "vm-garbage-refused",
	       "connection not closed");
	struct agent_hdr big = { .magic = AGENT_MAGIC, .type = AGENT_MSG_HELLO,
				 .len = 0xfffffff0u };
	RESULT(refused(b, &big, sizeof(big)), "vm-oversized-frame-refused",
	       "connection not closed");
	/* EXEC before HELLO is refused too. */
	struct agent_hdr ex = { .magic = AGENT_MAGIC, .type = AGENT_MSG_EXEC,
				.req_id = 1 };
	RESULT(refused(b, &ex, sizeof(ex)), "vm-exec-before-hello-refused",
	       "connection not closed");
	char out[256];
	struct agent_exec_res res;
	const char *argv[] = { "echo", "still-alive", NULL };
	RESULT(run_cmd(b, argv, out, sizeof(out), &res) == 0 &&
	       !strcmp(out, "still-alive\n"), "vm-good-conn-after-bad",
	       "got '%s'", out);
}

static void flood(struct box *b)
{
	char err[256], out[256];
	int fd = box_connect(b, AGENT_VSOCK_PORT, 10000, err, sizeof(err));
	static uint8_t junk[1 << 16];
	uint64_t sent = 0, t0 = now_ms();

	memset(junk, 0x5a, sizeof(junk));
	/* Pour garbage for up to 3 s; the agent should drop us quickly. */
	while (fd >= 0 && now_ms() - t0 < 3000) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = write(fd, junk, sizeof(junk));
		if (n < 0 && errno != EAGAIN)
			break;
		if (n > 0)
			sent += (uint64_t)n;
	}
	if (fd >= 0)
		close(fd);
	printf("info: flood wrote %llu bytes before the guest cut it off\n",
	       (unsigned long long)sent);
	struct agent_exec_res res;
	const char *argv[] = { "echo", "responsive", NULL };
	uint64_t t1 = now_ms();
	int r = run_cmd(b, argv, out, sizeof(out), &res);
	RESULT(r == 0 && !strcmp(out, "responsive\n"), "vm-flood-no-stall",
	       "exec after flood: '%s'", out);
	printf("info: exec after flood took %llu ms\n",
	       (unsigned long long)(now_ms() - t1));
}

/* Run a shell snippet in the guest as the agent user; output in out. */
static int guest_sh(struct box *b, const char *script, char *out, size_t len,
		    int *code)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct agent_exec_res res;
	int r = run_cmd(b, argv, out, len, &res);
	*code = r == 0 && !res.err ? res.exit.code : -1;
	return r;
}

/* One Messages API request from the guest through the relay (busybox
 * wget): %s token, %s marker echoed back by the mock. */
#define GW_REQ "wget -q -O - --header 'x-api-key: %s' --header " \
	"'content-type: application/json' --header " \
	"'anthropic-version: 2023-06-01' --post-data '{\"model\":" \
	"\"claude-sonnet-test\",\"max_tokens\":64,\"messages\":" \
	"[{\"role\":\"user\",\"content\":\"[[mock:echo]] %s\"}]}' " \
	"http://127.0.0.1:4080/v1/messages"

/* An https upstream whose certificate does not verify: the guest gets
 * a 502 naming the failure, and nothing reaches the upstream. */
static void gateway_refusal(struct box *b, struct gateway *gw)
{
	char script[2048], out[4096];
	struct gw_stats st;
	int code;

	snprintf(script, sizeof(script), GW_REQ " 2>&1", gateway_token(gw),
		 "tls");
	guest_sh(b, script, out, sizeof(out), &code);
	gateway_get_stats(gw, &st);
	RESULT(code != 0 && st.upstream_errors == 1 &&
	       strstr(st.last_error, "certificate verification failed"),
	       "gw-tls-bad-ca-refused", "exit %d, errors %u, last '%s'", code,
	       st.upstream_errors, st.last_error);
	printf("info: %s\n", st.last_error);
}

/* A token budget of 1: the first request is let through (nothing was
 * used yet), the second is refused with a message naming the budget. */
static void gateway_budget(struct box *b, struct gateway *gw)
{
	char script[2048], out[4096];
	struct gw_stats st;
	int code;

	snprintf(script, sizeof(script), GW_REQ, gateway_token(gw), "b1");
	guest_sh(b, script, out, sizeof(out), &code);
	RESULT(code == 0, "gw-budget-first-passes", "exit %d", code);
	snprintf(script, sizeof(script), "wget -O - --header 'x-api-key: %s' "
		 "--post-data '{}' http://127.0.0.1:4080/v1/messages 2>&1 | "
		 "head -c 600", gateway_token(gw));
	guest_sh(b, script, out, sizeof(out), &code);
	gateway_get_stats(gw, &st);
	RESULT(st.budget_refused == 1 && strstr(out, "403") &&
	       strstr(st.last_error, "token budget exhausted"),
	       "gw-budget-refused", "refused %u, got '%.200s', last '%s'",
	       st.budget_refused, out, st.last_error);
}

static void gateway_checks(struct box *b, struct gateway *gw)
{
	char script[2048], out[4096];
	int code;
	struct gw_stats st;

	snprintf(script, sizeof(script), GW_REQ, gateway_token(gw), "ping-1");
	guest_sh(b, script, out, sizeof(out), &code);
	RESULT(code == 0 && strstr(out, "echo: ") && strstr(out, "ping-1"),
	       "gw-request-forwarded", "exit %d, got '%.300s'", code, out);
	gateway_get_stats(gw, &st);
	RESULT(st.ok == 1 && st.input_tokens > 0 && st.output_tokens > 0,
	       "gw-tokens-counted", "ok %u, tokens %llu/%llu", st.ok,
	       (unsigned long long)st.input_tokens,
	       (unsigned long long)st.output_tokens);
	RESULT(!strcmp(st.model, "claude-sonnet-test"), "gw-model-seen",
	       "model '%s'", st.model);

	snprintf(script, sizeof(script), GW_REQ, "vbgw-wrong", "ping-2");
	strcat(script, " 2>&1");
	guest_sh(b, script, out, sizeof(out), &code);
	gateway_get_stats(gw, &st);
	RESULT(code != 0 && st.auth_refused == 1 && st.ok == 1,
	       "gw-wrong-token-refused", "exit %d, refused %u, ok %u", code,
	       st.auth_refused, st.ok);

	/* Eight at once: each is its own relay, vsock connection and
	 * handler thread. */
	char one[1024];
	snprintf(one, sizeof(one), GW_REQ, gateway_token(gw), "par-'$i'");
	snprintf(script, sizeof(script), "for i in 1 2 3 4 5 6 7 8; do "
		 "( %s > /tmp/gw.$i ) & done; wait; cat /tmp/gw.* | "
		 "grep -o 'par-[0-9]' | sort -u | wc -l", one);
	guest_sh(b, script, out, sizeof(out), &code);
	gateway_get_stats(gw, &st);
	RESULT(atoi(out) == 8 && st.ok == 9, "gw-concurrent-8",
	       "distinct answers '%s', ok %u", out, st.ok);

	/* Garbage on the relay gets a 400 or a close, never a hang, and
	 * the gateway keeps serving. */
	guest_sh(b, "printf 'GARBAGE\\r\\n\\r\\n' | nc 127.0.0.1 4080 | "
		 "head -c 12", out, sizeof(out), &code);
	RESULT(strstr(out, "HTTP/1.1 400") != NULL, "gw-garbage-400",
	       "got '%.100s'", out);
	printf("info: gateway overhead mean %.3f ms, max %.3f ms over %u "
	       "requests\n", st.requests ? (double)st.overhead_ns_sum / 1e6 /
	       st.requests : 0.0, (double)st.overhead_ns_max / 1e6,
	       st.requests);
}

static long peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kb = atol(line + 6);
	if (f)
		fclose(f);
	return kb;
}

/* Security review 2 from inside a real guest (item 12 of its issue). */
static void gateway_hostile(struct box *b, struct gateway *gw,
			    const char *key, const char *program)
{
	char script[4096], out[4096];
	struct gw_stats st;
	int code;
	const char *tok = gateway_token(gw);

	/* 1. Outside the surface: nothing reaches the upstream (check.sh
	 * asserts that from the upstream's log too). */
	snprintf(script, sizeof(script), "T=%s; for r in 'TRACE /v1/messages' "
		 "'DELETE /v1/files/file_x' 'GET /v1/../admin' "
		 "'POST /v1/%%2e%%2e/x' 'GET /v1/models' 'POST //v1/messages'; "
		 "do printf '%%s HTTP/1.1\r\nx-api-key: %%s\r\n"
		 "content-length: 0\r\n\r\n' \"$r\" \"$T\" | "
		 "nc 127.0.0.1 4080 | head -c 12; echo; done | grep -c '^HTTP/1.1 403'",
		 tok);
	guest_sh(b, script, out, sizeof(out), &code);
	gateway_get_stats(gw, &st);
	RESULT(atoi(out) == 6 && st.refused == 6, "gw-hostile-surface-refused",
	       "403s '%s', refused %u", out, st.refused);

	/* 2. An upstream route that reflects the request's headers: the key
	 * is in the reply, the guest must never see it. */
	snprintf(script, sizeof(script), "wget -q -O - --header 'x-api-key: "
		 "%s' --header 'content-type: application/json' --post-data "
		 "'{\"model\":\"claude-sonnet-test\",\"max_tokens\":64,"
		 "\"messages\":[{\"role\":\"user\",\"content\":"
		 "\"[[mock:reflect]]\"}]}' http://127.0.0.1:4080/v1/messages "
		 "2>&1 | head -c 3000", tok);
	guest_sh(b, script, out, sizeof(out), &code);
	gateway_get_stats(gw, &st);
	RESULT(!strstr(out, key) && st.key_blocked == 1,
	       "gw-hostile-reflected-key-blocked", "key %s the guest, "
	       "key_blocked %u, got '%.200s'", strstr(out, key) ? "reached"
	       : "kept from", st.key_blocked, out);

	/* 3. Twelve 16 MiB bodies at once (192 MiB) against the 64 MiB per
	 * VM bound: the orchestrator's peak grows by the bound, not more. */
	long before = peak_rss_kb();
	snprintf(script, sizeof(script), "T=%s; for i in 1 2 3 4 5 6 7 8 9 10 "
		 "11 12; do ( { printf 'POST /v1/messages HTTP/1.1\r\n"
		 "x-api-key: %%s\r\ncontent-length: 16777216\r\n\r\n' "
		 "\"$T\"; head -c 16777216 /dev/zero; } | nc 127.0.0.1 4080 "
		 "| head -c 12 >/tmp/big.$i ) & done; wait; cat /tmp/big.* | "
		 "tr '\n' ' '", tok);
	guest_sh(b, script, out, sizeof(out), &code);
	long grew = peak_rss_kb() - before;
	gateway_get_stats(gw, &st);
	RESULT(grew < 100 * 1024, "gw-hostile-memory-bound", "peak RSS grew "
	       "%ld MiB for 12 x 16 MiB bodies (memory refusals %u)",
	       grew / 1024, st.mem_refused);
	printf("info: 12 x 16 MiB bodies: peak RSS +%ld MiB, %u refused at "
	       "the memory bound\n", grew / 1024, st.mem_refused);

	/* 4. 300 vsock connections held at once: the VMM's fds pass 256. */
	if (program) {
		int fd = open(program, O_RDONLY | O_CLOEXEC);
		struct agent_conn c;
		bool put = false;
		if (fd >= 0 && agent_open(&c, b, 30000) == 0) {
			put = agent_put(&c, fd, "/tmp/hostile_gw", 0755) == 0;
			agent_close(&c);
		}
		if (fd >= 0)
			close(fd);
		snprintf(script, sizeof(script), "/tmp/hostile_gw vsock 300 %u",
			 AGENT_GATEWAY_PORT);
		guest_sh(b, script, out, sizeof(out), &code);
		RESULT(put && code == 0 && strstr(out, "connected "),
		       "gw-hostile-vsock-flood-ran", "put %d, exit %d, '%.200s'",
		       put, code, out);
		printf("info: vsock flood: %s", out);
	}
	/* After all of it: still serving, the VMM alive. */
	snprintf(script, sizeof(script), GW_REQ, tok, "after-attack");
	guest_sh(b, script, out, sizeof(out), &code);
	RESULT(code == 0 && strstr(out, "after-attack") && !box_vmm_crashed(b),
	       "gw-hostile-still-serving", "exit %d, got '%.200s'", code, out);
}

int cmd_vmtest(const struct cli_globals *g, int argc, char **argv)
{
	struct box b;
	char err[512];
	unsigned long long n = 8;

	(void)g;
	if (argc < 2) {
		fprintf(stderr, "usage: voidbox __vmtest concurrent [N]|auth|"
			"flood\n");
		return VB_EXIT_USAGE;
	}
	if (argc > 2 && strncmp(argv[1], "gateway", 7) &&
	    args_uint("N", argv[2], 1, 32, &n) < 0)
		return VB_EXIT_USAGE;
	bool gwtest = !strncmp(argv[1], "gateway", 7);
	struct gw_upstream up = { 0 };
	if (gwtest) {
		const char *k = argc > 3 ? getenv(argv[3]) : NULL;
		if (!k || gateway_parse_url(argv[2], &up, err, sizeof(err)) < 0) {
			fprintf(stderr, "usage: voidbox __vmtest gateway URL "
				"KEYENV (%s)\n", k ? err : "key not set");
			return VB_EXIT_USAGE;
		}
		snprintf(up.cred_name, sizeof(up.cred_name), "x-api-key");
		snprintf(up.cred_value, sizeof(up.cred_value), "%s", k);
		/* a base URL of our own: the custom row's surface */
		snprintf(up.provider, sizeof(up.provider), "custom");
		up.ca_path = getenv("VOIDBOX_CA_FILE");
		n = 8;
	}
	struct vm_cfg cfg = { .name = "vmtest", .mem_mb = 512,
				  .vcpus = 2, .services = gwtest,
				  .append = gwtest ? (char *)"vb.gw=4080" : NULL };
	if (box_boot(&b, &cfg, 120000, err, sizeof(err)) < 0) {
		printf("FAIL: vm-boot: %s\n", err);
		box_close(&b);
		return VB_EXIT_VM_FAIL;
	}
	struct agent_conn c;
	struct agent_policy_req pol = { 0 };
	if (agent_open(&c, &b, 30000) == 0)
		agent_set_policy(&c, &pol);
	agent_close(&c);
	if (!strcmp(argv[1], "concurrent"))
		concurrent(&b, (int)n);
	else if (!strcmp(argv[1], "auth"))
		auth(&b);
	else if (!strcmp(argv[1], "flood"))
		flood(&b);
	else if (gwtest) {
		struct gw_budget one = { .max_tokens = 1 };
		bool budget = !strcmp(argv[1], "gateway-budget");
		struct gateway *gw = gateway_start(b.svc_fd, &up,
						   budget ? &one : NULL, NULL,
						   "vmtest", err, sizeof(err));
		if (gw && budget)
			gateway_budget(&b, gw);
		else if (gw && !strcmp(argv[1], "gateway-bad-tls"))
			gateway_refusal(&b, gw);
		else if (gw && !strcmp(argv[1], "gateway-hostile"))
			gateway_hostile(&b, gw, up.cred_value,
					argc > 4 ? argv[4] : NULL);
		else if (gw)
			gateway_checks(&b, gw);
		else
			RESULT(false, "gw-start", "%s", err);
		gateway_stop(gw);
	}
	else
		fails++;
	box_stop(&b, 5000);
	box_close(&b);
	return fails ? VB_EXIT_FAIL : VB_EXIT_OK;
}
