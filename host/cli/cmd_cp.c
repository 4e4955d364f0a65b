/* cmd_cp.c: `voidbox cp SRC DST` — copy a file into or out of a running
 * sandbox (`voidbox run` of a kind: sandbox spec holds it). Exactly one
 * side is NAME:/guest/path. Guest paths are confined by the agent to its
 * allowed roots (/workspace, /tmp, /home/agent); files arrive owned by
 * the workload user. Exit 0, 1 (copy failed), 2 (usage).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "../agent/agent.h"
#include "../util/util.h"

/* "NAME:/path" -> name (static) and path; NULL when it is a local path. */
static const char *guest_side(const char *arg, char *name, size_t len)
{
	const char *colon = strchr(arg, ':');
	if (!colon || colon == arg || colon[1] != '/' ||
	    (size_t)(colon - arg) >= len || memchr(arg, '/', (size_t)(colon - arg)))
		return NULL;
	memcpy(name, arg, (size_t)(colon - arg));
	name[colon - arg] = '\0';
	return colon + 1;
}

int cmd_cp(const struct cli_globals *g, int argc, char **argv)
{
	char sname[64], dname[64];
	struct agent_conn c;
	int rc = VB_EXIT_FAIL;

	(void)g;
	if (argc != 3) {
		fprintf(stderr, "usage: voidbox cp LOCAL NAME:/guest/path\n"
				"       voidbox cp NAME:/guest/path LOCAL\n");
		return VB_EXIT_USAGE;
	}
	const char *sp = guest_side(argv[1], sname, sizeof(sname));
	const char *dp = guest_side(argv[2], dname, sizeof(dname));
	if (!sp == !dp) {
		log_warnx("cp: exactly one side must be NAME:/guest/path");
		return VB_EXIT_USAGE;
	}
	if (agent_attach(&c, sp ? sname : dname) < 0) {
		log_warnx("cp: %s", c.err);
		return VB_EXIT_FAIL;
	}
	if (dp) {
		int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			log_warn("cp: %s", argv[1]);
		} else if (agent_put(&c, fd, dp, st.st_mode & 0777) < 0) {
			log_warnx("cp: %s:%s: %s", dname, dp, c.err);
		} else {
			rc = VB_EXIT_OK;
		}
		if (fd >= 0)
			close(fd);
	} else {
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s.vbcp.%d", argv[2], (int)getpid());
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		if (fd < 0) {
			log_warn("cp: %s", tmp);
		} else if (agent_get(&c, sp, fd) < 0) {
			log_warnx("cp: %s:%s: %s", sname, sp, c.err);
			unlink(tmp);
		} else if (rename(tmp, argv[2]) < 0) {
			log_warn("cp: %s", argv[2]);
			unlink(tmp);
		} else {
			rc = VB_EXIT_OK;
		}
		if (fd >= 0)
			close(fd);
	}
	agent_close(&c);
	return rc;
}
