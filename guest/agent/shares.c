/* shares.c: the host directories shared into this VM (virtio-fs).
 *
 * vb.mounts=MODE:PATH[,MODE:PATH...] names them in device order: the i-th
 * is tagged "vbfs<i>". Each is mounted nosuid and nodev (the host refuses
 * device nodes and setuid bits too: two locks), read-only when MODE is
 * ro (the host enforces that on its side as well). A mount the host asked
 * for and we cannot provide makes the VM useless to it: shares_setup
 * fails and the agent powers off, with the reason on the console.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "agent.h"

#define SHARES_MAX 8
#define MOUNTS_ARG_MAX (SHARES_MAX * (AGENT_PATH_MAX / 4))

/* The host checked the path (host/vmm/vmcfg.c); check again, cheaply:
 * absolute, no "..", only the characters the command line carries. */
static int path_ok(const char *p)
{
	if (p[0] != '/' || strstr(p, "/../") || !strcmp(p, "/") ||
	    (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
		return 0;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._-+@/", *p)))
			return 0;
	return 1;
}

static int share_mount(unsigned i, const char *mode, const char *path)
{
	char tag[16];
	unsigned long flags = MS_NOSUID | MS_NODEV;

	if (!strcmp(mode, "ro"))
		flags |= MS_RDONLY;
	else if (strcmp(mode, "rw"))
		return -EINVAL;
	if (!path_ok(path))
		return -EINVAL;
	snprintf(tag, sizeof(tag), AGENT_SHARE_TAG "%u", i);
	agent_make_dirs(path, 1);
	if (mount(tag, path, "virtiofs", flags, NULL) < 0)
		return -errno;
	agent_log("shared directory %s on %s (%s)", tag, path, mode);
	return 0;
}

int shares_setup(void)
{
	char arg[MOUNTS_ARG_MAX];
	unsigned i = 0;

	if (cmdline_get(AGENT_CMDLINE_MOUNTS, arg, sizeof(arg)) <= 0)
		return 0;
	for (char *save = NULL, *tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		char *colon = strchr(tok, ':');
		int err = -EINVAL;
		if (colon && i < SHARES_MAX) {
			*colon = '\0';
			err = share_mount(i, tok, colon + 1);
		}
		if (err < 0) {
			agent_warn("shared directory %u (%s): %s", i,
				   colon ? colon + 1 : tok, strerror(-err));
			return err;
		}
	}
	return 0;
}
