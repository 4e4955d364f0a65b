/* cmd_attach.c: `voidbox attach NAME` — another terminal in a running VM.
 *
 *   voidbox attach NAME [--session ID] [--detach-keys KEYS]
 *                       [--user root|agent] [--workdir DIR] [--env K=V]...
 *                       [-- CMD...]
 *
 * NAME is a VM some voidbox process holds and serves on its attach socket
 * (host/agent/attach.c): a `kind: sandbox`, a `voidbox shell`, a stage of
 * a running `voidbox run` (its box name; `-2`, `-3`... when several runs
 * use one name). Each attach starts its own session — CMD, else bash (or
 * sh) — on a new guest terminal, so any number can be open at once.
 *
 * Sessions outlive their attachment: the session is started parked
 * (AGENT_EXEC_PARK) and then attached, so typing the detach keys (Ctrl-]
 * by default) leaves it running in the guest, with its output held until
 * `voidbox attach NAME --session ID` takes it up again (at most
 * AGENT_PARK_MAX parked per VM). The exit status is the session's own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../util/util.h"

#define ATTACH_MAX_ENV 64

static void attach_usage(void)
{
	fprintf(stderr,
		"usage: voidbox attach NAME [--session ID] [--detach-keys KEYS]\n"
		"                      [--user root|agent] [--workdir DIR] "
		"[--env K=V]... [-- CMD...]\n"
		"  KEYS: comma-separated keys, each ctrl-X or one character "
		"(default ctrl-])\n");
}

/* "ctrl-p,ctrl-q" / "ctrl-]" / "ctrl-],d" into bytes. 0 or -1. */
static int parse_keys(const char *spec, char *out, size_t len)
{
	size_t n = 0;
	char buf[128];

	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *save, *k = strtok_r(buf, ",", &save); k;
	     k = strtok_r(NULL, ",", &save)) {
		int c;
		if (!strncasecmp(k, "ctrl-", 5) && strlen(k) == 6) {
			c = k[5] >= 'a' && k[5] <= 'z' ? k[5] - 'a' + 1
			    : (k[5] & 0x40) ? k[5] & 0x1f : -1;
			if (k[5] == '@')
				c = -1;	/* NUL: not a key we can see */
		} else if (strlen(k) == 1 && k[0] > ' ' && k[0] < 0x7f) {
			c = k[0];
		} else {
			c = -1;
		}
		if (c <= 0 || n + 1 >= len)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n ? 0 : -1;
}

int cmd_attach(const struct cli_globals *g, int argc, char **argv)
{
	const char *name = NULL, *workdir = NULL;
	const char *envv[ATTACH_MAX_ENV + 2];
	char keys[16] = "\x1d", termenv[80];
	unsigned long long session = 0;
	unsigned nenv = 0;
	bool root = false;
	int i;

	(void)g;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--"))
			{ i++; break; }
		if (a[0] != '-') {
			if (name)
				break;		/* the command */
			name = a;
			continue;
		}
		if (!v) {
			log_warnx("attach: %s needs a value", a);
			attach_usage();
			return VB_EXIT_USAGE;
		}
		i++;
		if (!strcmp(a, "--session")) {
			if (args_uint("--session", v, 1, UINT32_MAX,
				      &session) < 0)
				return VB_EXIT_USAGE;
		} else if (!strcmp(a, "--detach-keys")) {
			if (parse_keys(v, keys, sizeof(keys)) < 0) {
				log_warnx("attach: --detach-keys: bad keys "
					  "'%s'", v);
				return VB_EXIT_USAGE;
			}
		} else if (!strcmp(a, "--user")) {
			if (strcmp(v, "root") && strcmp(v, "agent")) {
				log_warnx("attach: --user is root or agent");
				return VB_EXIT_USAGE;
			}
			root = !strcmp(v, "root");
		} else if (!strcmp(a, "--workdir")) {
			workdir = v;
		} else if (!strcmp(a, "--env")) {
			if (!strchr(v, '=') || v[0] == '=' ||
			    nenv == ATTACH_MAX_ENV) {
				log_warnx("attach: --env: expected K=V, got "
					  "'%s'", v);
				return VB_EXIT_USAGE;
			}
			envv[nenv++] = v;
		} else {
			log_warnx("attach: unknown option %s", a);
			attach_usage();
			return VB_EXIT_USAGE;
		}
	}
	if (!name) {
		attach_usage();
		return VB_EXIT_USAGE;
	}
	char **cmd = argv + i;
	static const char *dflt[] = { "/bin/sh", "-c", SHELL_DEFAULT_SH, NULL };
	if (session && cmd[0]) {
		log_warnx("attach: --session takes up a session; it has its "
			  "command already");
		return VB_EXIT_USAGE;
	}
	bool has_term = false;
	for (unsigned k = 0; k < nenv; k++)
		has_term |= !strncmp(envv[k], "TERM=", 5);
	if (!has_term) {
		snprintf(termenv, sizeof(termenv), "TERM=%s", term_name());
		envv[nenv++] = termenv;
	}
	envv[nenv] = NULL;

	struct agent_conn c;
	if (agent_attach(&c, name) < 0) {
		log_warnx("attach: %s", c.err);
		return VB_EXIT_FAIL;
	}
	struct agent_exec_req rq = {
		.argv = cmd[0] ? (const char *const *)cmd : dflt,
		.envv = envv, .cwd = workdir, .root = root,
		.uid = 1000, .gid = 1000, .stdin_fd = -1,
		.stdout_fd = -1, .stderr_fd = -1,
		.tty = true, .term_fd = 0, .winch_fd = -1, .park = true,
	};
	struct agent_exec_res res = { 0 };
	int rc = VB_EXIT_FAIL;
	uint32_t id = (uint32_t)session;
	if (!id) {
		/* Started parked, so that it can outlive this attachment. */
		if (agent_exec(&c, &rq, &res) < 0) {
			log_warnx("attach: %s", c.err);
			goto out;
		}
		if (res.err) {
			log_warnx("attach: %s: %s", rq.argv[0], res.errmsg);
			rc = res.err == ENOENT ? VB_EXIT_NOT_FOUND
					  : VB_EXIT_CANNOT_EXEC;
			goto out;
		}
		id = res.park_id;
	}
	rq.park = false;
	rq.detach = keys;
	if (agent_exec_tty(&c, id, &rq, &res) < 0) {
		log_warnx("attach: %s: %s", name, c.err);
		goto out;
	}
	if (res.err) {
		log_warnx("attach: session %u: %s", id, res.errmsg);
	} else if (res.detached) {
		fprintf(stderr, "\r\n[attach:%s] detached; session %u goes on: "
			"voidbox attach %s --session %u\n", name, id, name, id);
		rc = 0;
	} else if (res.exit.how == AGENT_EXIT_SIGNAL) {
		rc = 128 + (res.exit.code & 0x7f);
	} else {
		rc = res.exit.code & 0xff;
	}
out:
	agent_close(&c);
	return rc;
}
