/* cmd_bench.c: `voidbox __bench` — micro-benchmarks of the VMM mechanics
 * with the tiny test guests, used by tests/bench/run.sh (make bench).
 *
 *   __bench spawn N    orchestrator spawn -> first guest instruction, through
 *                      the real path (VMM child, IPC, sandbox), and the
 *                      VMM's RSS excluding guest pages
 *   __bench create N [PROCS]
 *                      in-process VM create+destroy (KVM VM, RAM, devices):
 *                      N in a row, then N in each of PROCS processes at
 *                      once (default: one per CPU)
 *   __bench gateway URL N
 *                      the LLM gateway's own cost per request: the same
 *                      Messages API request N times straight to URL and
 *                      N times through the gateway (fed like the VMM
 *                      feeds it: a socketpair end over a service channel)
 *
 * Prints "key value" lines; the script turns them into the table.
 */
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../box/box.h"
#include "../gateway/gateway.h"
#include "../util/util.h"
#include "../vmm/vmcfg.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void pct(const char *key, uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("%s_p50_us %.1f\n%s_p90_us %.1f\n%s_min_us %.1f\n", key,
	       (double)v[n / 2] / 1e3, key, (double)v[(n * 9) / 10] / 1e3,
	       key, (double)v[0] / 1e3);
}

static int bench_spawn(unsigned n)
{
	uint64_t *lat = calloc(n, sizeof(*lat)), rss = 0, grss = 0;
	char err[300];
	unsigned ok = 0;

	for (unsigned i = 0; i < n && lat; i++) {
		struct box b;
		struct vm_cfg cfg = {
			.name = "bench", .mem_mb = 64, .vcpus = 1,
			.kernel_blob = EMBED_TG_MISBEHAVE, .no_initrd = true,
			.cmdline = (char *)"console=ttyS0",
			.timeout_ms = 30000,
		};
		if (box_spawn(&b, &cfg, err, sizeof(err)) < 0) {
			log_warnx("spawn: %s", err);
			break;
		}
		if (box_wait_exit(&b, 30000) < 0)	/* runs to its reset */
			box_stop(&b, 1000);
		if (b.first_entry_mono_ns > b.t_spawn_ns) {
			lat[ok++] = b.first_entry_mono_ns - b.t_spawn_ns;
			rss = b.vmm_rss_kb;
			grss = b.guest_rss_kb;
		}
		box_close(&b);
	}
	if (!ok) {
		free(lat);
		return VB_EXIT_FAIL;
	}
	printf("spawn_runs %u\n", ok);
	pct("spawn_to_first_insn", lat, ok);
	printf("vmm_rss_kb %llu\nguest_rss_kb %llu\nvmm_overhead_kb %llu\n",
	       (unsigned long long)rss, (unsigned long long)grss,
	       (unsigned long long)(rss - grss));
	free(lat);
	return VB_EXIT_OK;
}

/* n sequential create+destroy; how many succeeded. */
static unsigned create_loop(unsigned n)
{
	char err[256];
	unsigned ok = vm_bench_create(n, err, sizeof(err));

	if (ok < n)
		log_warnx("create: %s", err);
	return ok;
}

static double cpu_s(void)
{
	struct rusage ru, rc;
	getrusage(RUSAGE_SELF, &ru);
	getrusage(RUSAGE_CHILDREN, &rc);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
			rc.ru_utime.tv_sec + rc.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec +
			rc.ru_utime.tv_usec + rc.ru_stime.tv_usec) / 1e6;
}

/* In-process create+destroy: n in a row (latency-bound: each destroy
 * waits for the host kernel to let go of the VM), then n spread over one
 * process per online CPU at once (what a fan_out of VMs sees), with the
 * CPU time they used: per core = ops / busiest possible core-seconds. */
static int bench_create(unsigned n, unsigned procs)
{
	uint64_t t0 = mono_ns();
	unsigned ok = create_loop(n);
	double s = (double)(mono_ns() - t0) / 1e9;
	printf("create_destroy_runs %u\ncreate_destroy_per_s %.1f\n"
	       "create_destroy_us %.1f\n", ok, ok / s, s * 1e6 / (ok ? ok : 1));
	if (ok != n)
		return VB_EXIT_FAIL;

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	unsigned np = procs ? procs : (unsigned)(ncpu < 16 ? ncpu : 16);
	pid_t kids[16];
	double c0 = cpu_s();
	t0 = mono_ns();
	for (unsigned i = 0; i < np; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(create_loop(n) == n ? 0 : 1);
		if (kids[i] < 0)
			return VB_EXIT_FAIL;
	}
	bool all = true;
	for (unsigned i = 0; i < np; i++) {
		int st;
		while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
			;
		all = all && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	s = (double)(mono_ns() - t0) / 1e9;
	double cpu = cpu_s() - c0;
	/* per core: over the cores the processes could use */
	unsigned cores = np < (unsigned)ncpu ? np : (unsigned)ncpu;
	printf("create_parallel_procs %u\ncreate_parallel_per_s %.1f\n"
	       "create_parallel_per_core_s %.1f\ncreate_cpu_ms_per_op %.2f\n",
	       np, np * n / s, np * n / s / cores, cpu * 1e3 / (np * n));
	return all ? VB_EXIT_OK : VB_EXIT_FAIL;
}

/* Exec round trip on one running VM (one connection, sequential `true`),
 * and the same command spawned locally as the vsock-less baseline. */
static int bench_exec_rtt(unsigned n)
{
	struct box b = { .pid = -1, .sock = -1 };
	struct agent_conn c = { .fd = -1 };
	char err[300];
	uint64_t *lat = calloc(n, sizeof(*lat)), *base = calloc(n, sizeof(*base));
	struct vm_cfg cfg = { .name = "bench", .mem_mb = 256, .vcpus = 1 };
	int rc = VB_EXIT_FAIL;

	if (!lat || !base || box_spawn(&b, &cfg, err, sizeof(err)) < 0 ||
	    box_wait_ready(&b, 120000, err, sizeof(err)) < 0 ||
	    agent_open(&c, &b, 30000) < 0) {
		log_warnx("exec-rtt: %s", c.fd < 0 && c.err[0] ? c.err : err);
		goto out;
	}
	struct agent_policy_req pol = { 0 };
	agent_set_policy(&c, &pol);
	const char *argv[] = { "/bin/true", NULL };
	struct agent_exec_req r = { .argv = argv, .uid = 1000, .gid = 1000,
				    .stdin_fd = -1, .stdout_fd = -1,
				    .stderr_fd = -1 };
	for (unsigned i = 0; i < n; i++) {
		struct agent_exec_res res;
		uint64_t t0 = mono_ns();
		if (agent_exec(&c, &r, &res) < 0 || res.err) {
			log_warnx("exec-rtt: %s", c.err);
			goto out;
		}
		lat[i] = mono_ns() - t0;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = mono_ns();
		pid_t pid;
		extern char **environ;
		if (posix_spawn(&pid, "/bin/true", NULL, NULL,
				(char *const *)argv, environ) == 0)
			waitpid(pid, NULL, 0);
		base[i] = mono_ns() - t0;
	}
	printf("exec_rtt_runs %u\n", n);
	pct("exec_rtt", lat, n);
	pct("local_spawn", base, n);
	rc = VB_EXIT_OK;
out:
	agent_close(&c);
	box_stop(&b, 5000);
	box_close(&b);
	free(lat);
	free(base);
	return rc;
}

/* One request on fd, the whole response read (the server closes). */
static int http_roundtrip(int fd, const char *req, size_t len)
{
	char buf[16384];
	ssize_t n;

	if (agent_write_all(fd, req, len) < 0)
		return -1;
	size_t total = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	return total > 12 && n == 0 ? 0 : -1;
}

static int bench_gateway(const char *url, unsigned n)
{
	struct gw_upstream up = { 0 };
	char err[256], req[1024];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	uint64_t *direct = calloc(n, sizeof(uint64_t));
	uint64_t *via = calloc(n, sizeof(uint64_t));
	int sv[2], rc = 1;

	if (!direct || !via || gateway_parse_url(url, &up, err, sizeof(err)) < 0 ||
	    getaddrinfo(up.host, up.port, &hints, &ai) ||
	    box_svc_pair(sv) < 0) {
		fprintf(stderr, "bench gateway: bad URL or setup\n");
		goto out;
	}
	snprintf(up.cred_name, sizeof(up.cred_name), "x-api-key");
	snprintf(up.provider, sizeof(up.provider), "custom");
	snprintf(up.cred_value, sizeof(up.cred_value), "bench-key");
	struct gateway *gw = gateway_start(sv[0], &up, NULL, NULL, "bench", err,
					   sizeof(err));
	if (!gw) {
		fprintf(stderr, "bench gateway: %s\n", err);
		goto out_ai;
	}
	const char *body = "{\"model\":\"m\",\"max_tokens\":16,\"stream\":"
			   "true,\"messages\":[{\"role\":\"user\","
			   "\"content\":\"hi\"}]}";
	for (int pass = 0; pass < 2; pass++) {
		const char *key = pass ? gateway_token(gw) : "bench-key";
		int l = snprintf(req, sizeof(req), "POST /v1/messages HTTP/1.1"
				 "\r\nHost: x\r\nx-api-key: %s\r\ncontent-type: "
				 "application/json\r\nanthropic-version: "
				 "2023-06-01\r\nconnection: close\r\n"
				 "content-length: %zu\r\n\r\n%s", key,
				 strlen(body), body);
		for (unsigned i = 0; i < n; i++) {
			int fd, c[2] = { -1, -1 };
			uint64_t t0 = mono_ns();
			if (!pass) {
				fd = socket(ai->ai_family, SOCK_STREAM |
					    SOCK_CLOEXEC, 0);
				if (fd < 0 || connect(fd, ai->ai_addr,
						      ai->ai_addrlen) < 0)
					goto fail;
			} else {
				/* What the VMM does for a guest connect. */
				if (socketpair(AF_UNIX, SOCK_STREAM |
					       SOCK_CLOEXEC, 0, c) < 0 ||
				    box_svc_send(sv[1], AGENT_GATEWAY_PORT,
						 c[1]) < 0)
					goto fail;
				close(c[1]);
				fd = c[0];
			}
			int r = http_roundtrip(fd, req, (size_t)l);
			close(fd);
			if (r < 0)
				goto fail;
			(pass ? via : direct)[i] = mono_ns() - t0;
		}
	}
	struct gw_stats st;
	gateway_get_stats(gw, &st);
	pct("gateway_direct", direct, n);
	pct("gateway_via", via, n);
	printf("gateway_own_mean_us %.1f\n",
	       (double)st.overhead_ns_sum / 1e3 / (st.requests ? st.requests : 1));
	printf("gateway_ok %u\n", st.ok);
	rc = st.ok == n ? 0 : 1;
	gateway_stop(gw);
	goto out_ai;
fail:
	fprintf(stderr, "bench gateway: request failed\n");
	gateway_stop(gw);
out_ai:
	freeaddrinfo(ai);
	close(sv[0]);
	close(sv[1]);
out:
	free(direct);
	free(via);
	return rc;
}

int cmd_bench(const struct cli_globals *g, int argc, char **argv)
{
	unsigned long long n = 20;

	(void)g;
	if (argc >= 3 && !strcmp(argv[1], "gateway")) {
		if (argc > 3 && args_uint("N", argv[3], 1, 100000, &n) < 0)
			return VB_EXIT_USAGE;
		return bench_gateway(argv[2], (unsigned)n);
	}
	if (argc < 2 || (argc > 2 && args_uint("N", argv[2], 1, 100000, &n) < 0)) {
		fprintf(stderr, "usage: voidbox __bench spawn|create|exec-rtt [N]\n");
		return VB_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "spawn"))
		return bench_spawn((unsigned)n);
	if (!strcmp(argv[1], "create")) {
		unsigned long long procs = 0;
		if (argc > 3 && args_uint("PROCS", argv[3], 1, 16, &procs) < 0)
			return VB_EXIT_USAGE;
		return bench_create((unsigned)n, (unsigned)procs);
	}
	if (!strcmp(argv[1], "exec-rtt"))
		return bench_exec_rtt((unsigned)n);
	fprintf(stderr, "usage: voidbox __bench spawn|create|exec-rtt [N]\n");
	return VB_EXIT_USAGE;
}
