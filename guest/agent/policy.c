/* policy.c: the command allowlist and resource limits for execs.
 *
 * POLICY is accepted once per boot and never after the first EXEC, so a
 * workload cannot loosen the rules it was started under (a second POLICY
 * gets EPERM). Only the agent's own execs are checked: what a permitted
 * shell runs afterwards is the job of the uid, the rlimits and the VM.
 *
 * Matching. An entry with a '/' names an absolute path and matches the
 * command as found in PATH (e.g. "/bin/ls"), also after canonicalising
 * its directory with realpath, so "/workspace/../bin/ls" is "/bin/ls". An
 * entry without a '/' matches the basename of that path. The final
 * symlink is deliberately not followed: busybox applets are symlinks to
 * /bin/busybox, and allowing "ls" must not allow every applet, nor must
 * "/bin/busybox" be needed to allow "ls". So that the workload cannot
 * plant an allowed basename (a copy or symlink named "ls" in /workspace
 * pointing at something else), basename entries only match when both the
 * path and what it resolves to are owned by root; files the workload
 * owns can still be allowed by listing their absolute path.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static struct agent_policy pol;
static char **allow;		/* pol.allow_count names */
static int locked;
static int given;		/* a POLICY was accepted */

void policy_lock(void)
{
	locked = 1;
}

int policy_resume(void)
{
	if (given)
		return -EPERM;
	/* A restored clone is a new boot for its policy: the template's
	 * provisioning execs ran without one, the clone sets its own. */
	locked = 0;
	return 0;
}

static void free_names(char **names, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Copy n non-empty NUL-terminated names filling p[0..len) exactly. */
static char **parse_names(const uint8_t *p, size_t len, uint32_t n)
{
	char **names = calloc(n ? n : 1, sizeof(*names));
	const char *s = (const char *)p;
	uint32_t i;

	if (!names)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *nul = memchr(s, '\0', len);
		if (!nul || nul == s)
			goto err_free;
		names[i] = strdup(s);
		if (!names[i])
			goto err_free;
		len -= (size_t)(nul - s) + 1;
		s = nul + 1;
	}
	if (len)
		goto err_free;
	return names;

err_free:
	free_names(names, i);
	return NULL;
}

int policy_handle(struct conn *c, const struct agent_hdr *h,
		  const uint8_t *p)
{
	struct agent_policy np;

	if (locked) {
		conn_send_error(c, h->req_id, EPERM,
				"policy is fixed once per boot, before exec");
		return 0;
	}
	if (h->len < sizeof(np)) {
		conn_send_error(c, h->req_id, EINVAL, "short POLICY");
		return 0;
	}
	memcpy(&np, p, sizeof(np));
	char **names = NULL;
	if (np.allow_count <= AGENT_MAX_ARGS)
		names = parse_names(p + sizeof(np), h->len - sizeof(np),
				    np.allow_count);
	if (!names) {
		conn_send_error(c, h->req_id, EINVAL,
				"POLICY needs %u non-empty NUL-terminated "
				"names filling the frame (max %u)",
				np.allow_count, AGENT_MAX_ARGS);
		return 0;
	}
	pol = np;
	allow = names;
	locked = given = 1;
	agent_log("policy: %u allowed commands%s", np.allow_count,
		  np.allow_count ? "" : " (all)");
	conn_send_ok(c, h->req_id, NULL, 0);
	return 0;
}

static int join(char *out, size_t len, const char *dir, size_t dlen,
		const char *name)
{
	size_t nlen = strlen(name);
	int slash = dlen && dir[dlen - 1] != '/';

	if (dlen + (size_t)slash + nlen + 1 > len)
		return -ENAMETOOLONG;
	memcpy(out, dir, dlen);
	if (slash)
		out[dlen] = '/';
	memcpy(out + dlen + slash, name, nlen + 1);
	return 0;
}

/* 0 if path is an executable regular file, else -errno. */
static int executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EACCES;
	if (access(path, X_OK) < 0)
		return -errno;
	return 0;
}

int policy_resolve(const char *name, const char *pathenv, const char *cwd,
		   char *out, size_t outlen)
{
	if (!*name)
		return -ENOENT;
	if (strchr(name, '/')) {
		int err = name[0] == '/'
				  ? join(out, outlen, "", 0, name)
				  : join(out, outlen, cwd, strlen(cwd), name);
		return err < 0 ? err : executable(out);
	}
	/* As execvp: the first executable hit wins; a hit that exists but
	 * cannot be run turns the final ENOENT into EACCES. Empty PATH
	 * elements (meaning ".") are skipped: too easy to plant into. */
	int seen_eacces = 0;
	for (const char *d = pathenv; *d;) {
		size_t dlen = strcspn(d, ":");
		if (dlen && join(out, outlen, d, dlen, name) == 0) {
			int err = executable(out);
			if (err == 0)
				return 0;
			if (err == -EACCES)
				seen_eacces = 1;
		}
		d += dlen;
		if (*d == ':')
			d++;
	}
	return seen_eacces ? -EACCES : -ENOENT;
}

/* realpath of the directory part, plus the unresolved last component. */
static int canonical_dir(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *base = strrchr(path, '/');
	size_t dlen = (size_t)(base - path);

	if (dlen == 0)
		dlen = 1;	/* "/name": the directory is "/" */
	if (dlen >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	if (!realpath(dir, real))
		return -errno;
	return join(out, len, real, strlen(real), base + 1);
}

int policy_allows(const char *path)
{
	char canon[PATH_MAX];
	struct stat lst, st;

	if (!allow || pol.allow_count == 0)
		return 1;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (canonical_dir(path, canon, sizeof(canon)) < 0)
		canon[0] = '\0';
	int root_owned = lstat(path, &lst) == 0 && stat(path, &st) == 0 &&
			 lst.st_uid == 0 && st.st_uid == 0;

	for (uint32_t i = 0; i < pol.allow_count; i++) {
		const char *a = allow[i];
		if (strchr(a, '/')) {
			if (!strcmp(a, path) || !strcmp(a, canon))
				return 1;
		} else if (root_owned && !strcmp(a, base)) {
			return 1;
		}
	}
	return 0;
}

static int set_limit(int res, rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };

	return setrlimit(res, &rl) < 0 ? -errno : 0;
}

int policy_apply_rlimits(void)
{
	int err;

	/* Execs get the limit we found at boot, not the one the agent
	 * raised for itself, unless the policy says otherwise. */
	if (pol.nofile)
		err = set_limit(RLIMIT_NOFILE, pol.nofile, pol.nofile);
	else
		err = set_limit(RLIMIT_NOFILE, agent.nofile.rlim_cur,
				agent.nofile.rlim_max);
	if (!err && pol.nproc)
		err = set_limit(RLIMIT_NPROC, pol.nproc, pol.nproc);
	if (!err && pol.fsize)
		err = set_limit(RLIMIT_FSIZE, pol.fsize, pol.fsize);
	if (!err)
		err = set_limit(RLIMIT_CORE, 0, 0);
	return err;
}
