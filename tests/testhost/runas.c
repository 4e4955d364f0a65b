/* runas: run a command as another user, with no supplementary groups.
 *
 *   runas UID GID CMD [ARGS...]
 *
 * The tier-2 run conditions (tests/release/conditions.sh) start `voidbox
 * selftest` as an unprivileged user. On a Debian host util-linux's setpriv
 * does that; the nested test host has only busybox, whose setpriv cannot
 * change ids, so this is the same three system calls.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long id_arg(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xfffffffeUL) {
		fprintf(stderr, "runas: not an id: %s\n", s);
		exit(125);
	}
	return v;
}

int main(int argc, char **argv)
{
	uid_t uid;
	gid_t gid;

	if (argc < 4) {
		fprintf(stderr, "usage: runas UID GID CMD [ARGS...]\n");
		return 125;
	}
	uid = (uid_t)id_arg(argv[1]);
	gid = (gid_t)id_arg(argv[2]);
	/* Groups first, then the group, then the user: after setuid the
	 * process may no longer change the others. */
	if (setgroups(0, NULL) || setgid(gid) || setuid(uid)) {
		fprintf(stderr, "runas: %s\n", strerror(errno));
		return 125;
	}
	execvp(argv[3], argv + 3);
	fprintf(stderr, "runas: %s: %s\n", argv[3], strerror(errno));
	return 127;
}
