/* files.c: file transfer and metadata requests inside the allowed roots.
 *
 *   FILE_PUT {agent_file, path} -> FILE_DATA* (h->g, len 0 ends) -> OK {u64}
 *   FILE_GET {agent_file, path} -> FILE_DATA* (g->h) -> FILE_END {stat}
 *   MKDIR    {agent_file, path} -> OK
 *   STAT     {agent_file, path} -> OK {agent_stat}
 * Any of them may end in ERROR instead; FILE_DATA for a put that already
 * failed is dropped silently (its terminal frame has been sent).
 *
 * Every lookup goes through roots.c (openat2 RESOLVE_IN_ROOT). A PUT
 * writes a temporary file next to the target and renames it into place
 * when the host ends the transfer, so readers never see half a file and
 * a dropped connection leaves the old contents; APPEND writes in place.
 * What the host puts is meant for the unprivileged workload, so new files
 * and directories are chowned to AGENT_UID:AGENT_GID (when we are root).
 * Files are local (tmpfs or the workspace disk), so reads and writes are
 * done inline; only GET output is paced, by the connection's room.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

struct fileop {
	struct fileop *next;
	struct conn *conn;
	uint32_t id;
	int put;
	int fd;			/* being written (PUT) or read (GET) */
	int dirfd;		/* PUT: O_PATH of the target's directory */
	int created;		/* PUT: we made the file; set mode/owner */
	uint32_t mode;
	uint64_t bytes;
	char tmp[64];		/* PUT: temporary name in dirfd, or "" */
	char name[NAME_MAX + 1];	/* PUT: final name in dirfd */
	char path[];		/* host path, for messages */
};

static struct fileop *ops;
static unsigned put_seq;

static struct fileop *op_find(struct conn *c, uint32_t id)
{
	for (struct fileop *op = ops; op; op = op->next)
		if (op->conn == c && op->id == id)
			return op;
	return NULL;
}

static void op_free(struct fileop *op)
{
	for (struct fileop **pp = &ops; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	}
	if (op->fd >= 0)
		close(op->fd);
	op->fd = -1;
	if (op->tmp[0] && op->dirfd >= 0)
		unlinkat(op->dirfd, op->tmp, 0);	/* unfinished put */
	if (op->dirfd >= 0)
		close(op->dirfd);
	op->dirfd = -1;
	free(op);
}

static void to_stat(const struct stat *st, struct agent_stat *out)
{
	*out = (struct agent_stat){
		.mode = st->st_mode,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.size = (uint64_t)st->st_size,
		.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
			    st->st_mtim.tv_nsec,
	};
}

/* Split rel into parent directory (in buf) and last component. */
static int split(const char *rel, char *buf, size_t len,
		 const char **parent, const char **name)
{
	size_t n = strlen(rel);

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, rel, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash) {
		*slash = '\0';
		*parent = buf;
		*name = slash + 1;
	} else {
		*parent = ".";
		*name = buf;
	}
	if (!strcmp(*name, "."))
		return -EISDIR;	/* the root itself, or "x/." */
	return 0;
}

/* mkdir of rel's last component; EEXIST is success with exist_ok. */
static int mkdir_in(int rootfd, const char *rel, mode_t mode, int exist_ok)
{
	char buf[AGENT_PATH_MAX];
	const char *parent, *name;
	int err = split(rel, buf, sizeof(buf), &parent, &name);

	if (err == -EISDIR)
		return exist_ok ? 0 : -EEXIST;
	if (err < 0)
		return err;
	int dfd = roots_openat(rootfd, parent, O_PATH | O_DIRECTORY, 0);
	if (dfd < 0)
		return dfd;
	if (mkdirat(dfd, name, mode) == 0) {
		if (agent.is_root)
			fchownat(dfd, name, AGENT_UID, AGENT_GID,
				 AT_SYMLINK_NOFOLLOW);
	} else if (errno != EEXIST || !exist_ok) {
		err = -errno;
	}
	close(dfd);
	dfd = -1;
	if (err == 0 && exist_ok) {
		/* Whatever exists must be a directory (resolved safely). */
		dfd = roots_openat(rootfd, rel, O_PATH | O_DIRECTORY, 0);
		if (dfd < 0)
			return dfd;
		close(dfd);
	}
	return err;
}

/* mkdir -p of rel, one prefix at a time, each resolved inside the root. */
static int mkdirs(int rootfd, const char *rel, mode_t last_mode)
{
	char buf[AGENT_PATH_MAX];
	size_t n = strlen(rel);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, rel, n + 1);
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		int err = mkdir_in(rootfd, buf, saved ? 0755 : last_mode, 1);
		*s = saved;
		if (err < 0 || !saved)
			return err;
	}
}

static int put_open(struct fileop *op, int rootfd, const char *rel,
		    uint32_t flags)
{
	char buf[AGENT_PATH_MAX];
	const char *parent, *name;
	int err = split(rel, buf, sizeof(buf), &parent, &name);

	if (err < 0)
		return err;
	if ((flags & AGENT_FILE_MKPARENTS) && strcmp(parent, ".") &&
	    (err = mkdirs(rootfd, parent, 0755)) < 0)
		return err;
	if (flags & AGENT_FILE_APPEND) {
		/* In place. O_NONBLOCK: a FIFO must not hang the loop. */
		int fl = O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK;
		op->fd = roots_openat(rootfd, rel, fl, 0);
		if (op->fd == -ENOENT) {
			op->fd = roots_openat(rootfd, rel,
					      fl | O_CREAT | O_EXCL, 0600);
			op->created = op->fd >= 0;
		}
		if (op->fd < 0)
			return op->fd;
		struct stat st;
		if (fstat(op->fd, &st) < 0)
			return -errno;
		return S_ISREG(st.st_mode) ? 0 : -EINVAL;
	}
	op->dirfd = roots_openat(rootfd, parent, O_PATH | O_DIRECTORY, 0);
	if (op->dirfd < 0)
		return op->dirfd;
	if (strlen(name) >= sizeof(op->name))
		return -ENAMETOOLONG;
	strcpy(op->name, name);
	snprintf(op->tmp, sizeof(op->tmp), ".vbput.%u.%u", op->id, ++put_seq);
	op->fd = openat(op->dirfd, op->tmp,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (op->fd < 0) {
		op->tmp[0] = '\0';
		return -errno;
	}
	op->created = 1;
	return 0;
}

/* The zero-length FILE_DATA: make the file visible. 0 or -errno. */
static int put_finish(struct fileop *op)
{
	if (op->created) {
		if (fchmod(op->fd, op->mode) < 0)
			return -errno;
		if (agent.is_root && fchown(op->fd, AGENT_UID, AGENT_GID) < 0)
			return -errno;
	}
	int r = close(op->fd);
	op->fd = -1;
	if (r < 0)
		return -errno;	/* a late write error (e.g. ENOSPC) */
	if (op->tmp[0]) {
		if (renameat(op->dirfd, op->tmp, op->dirfd, op->name) < 0)
			return -errno;	/* op_free unlinks the temp file */
		op->tmp[0] = '\0';
	}
	return 0;
}

static int put_data(struct conn *c, const struct agent_hdr *h,
		    const uint8_t *p)
{
	struct fileop *op = op_find(c, h->req_id);
	int err = 0;

	if (!op || !op->put)
		return 0;	/* failed earlier, or a GET's id: drop */
	if (h->len == 0) {
		err = put_finish(op);
		if (!err)
			conn_send_ok(c, op->id, &op->bytes, sizeof(op->bytes));
	} else {
		for (size_t off = 0; off < h->len;) {
			ssize_t n = write(op->fd, p + off, h->len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				err = -errno;
				break;
			}
			off += (size_t)n;
		}
		op->bytes += h->len;
		if (!err)
			return 0;
	}
	if (err)
		conn_send_error(c, op->id, -err, "%s: %s", op->path,
				strerror(-err));
	op_free(op);
	return 0;
}

void files_pump(struct conn *c)
{
	struct fileop *next;

	for (struct fileop *op = ops; op; op = next) {
		next = op->next;
		if (op->conn != c || op->put)
			continue;
		for (;;) {
			uint8_t *p = NULL;
			if (conn_out_room(c))
				p = conn_frame_begin(c, AGENT_CHUNK);
			if (!p)
				return;	/* conn_flush calls us again */
			ssize_t n = read(op->fd, p, AGENT_CHUNK);
			if (n > 0) {
				conn_frame_end(c, AGENT_MSG_FILE_DATA, op->id,
					       (size_t)n);
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			struct stat st;
			if (n == 0 && fstat(op->fd, &st) == 0) {
				struct agent_stat as;
				to_stat(&st, &as);
				conn_send(c, AGENT_MSG_FILE_END, op->id, &as,
					  sizeof(as), NULL, 0);
			} else {
				conn_send_error(c, op->id, errno, "%s: %s",
						op->path, strerror(errno));
			}
			op_free(op);
			break;
		}
	}
}

static int get_open(struct fileop *op, int rootfd, const char *rel)
{
	struct stat st;

	op->fd = roots_openat(rootfd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK,
			      0);
	if (op->fd < 0)
		return op->fd;
	if (fstat(op->fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	return S_ISREG(st.st_mode) ? 0 : -EINVAL;
}

static int do_stat(struct conn *c, uint32_t id, int rootfd, const char *rel)
{
	struct agent_stat as;
	struct stat st;
	int fd = roots_openat(rootfd, rel, O_PATH, 0);

	if (fd < 0)
		return fd;
	int r = fstat(fd, &st);
	close(fd);
	fd = -1;
	if (r < 0)
		return -errno;
	to_stat(&st, &as);
	conn_send_ok(c, id, &as, sizeof(as));
	return 0;
}

/* Requests that name a path. Returns -errno for an ERROR reply. */
static int path_request(struct conn *c, const struct agent_hdr *h,
			const struct agent_file *f, const char *path)
{
	const char *rel;
	int rootfd = roots_open(path, &rel);
	int err = 0;

	if (rootfd < 0)
		return rootfd;
	if (h->type == AGENT_MSG_STAT) {
		err = do_stat(c, h->req_id, rootfd, rel);
	} else if (h->type == AGENT_MSG_MKDIR) {
		mode_t mode = f->mode ? f->mode & 07777 : 0755;
		if (f->flags & AGENT_FILE_MKPARENTS)
			err = mkdirs(rootfd, rel, mode);
		else
			err = mkdir_in(rootfd, rel, mode, 0);
		if (!err)
			conn_send_ok(c, h->req_id, NULL, 0);
	} else {
		size_t plen = strlen(path) + 1;
		struct fileop *op = calloc(1, sizeof(*op) + plen);
		if (!op) {
			err = -ENOMEM;
			goto out_close_root;
		}
		*op = (struct fileop){
			.conn = c,
			.id = h->req_id,
			.put = h->type == AGENT_MSG_FILE_PUT,
			.fd = -1,
			.dirfd = -1,
			.mode = f->mode ? f->mode & 07777 : 0644,
		};
		memcpy(op->path, path, plen);
		err = op->put ? put_open(op, rootfd, rel, f->flags)
			      : get_open(op, rootfd, rel);
		if (err < 0) {
			op_free(op);
			goto out_close_root;
		}
		op->next = ops;
		ops = op;
		if (!op->put)
			files_pump(c);
	}
out_close_root:
	close(rootfd);
	rootfd = -1;
	return err;
}

int files_handle(struct conn *c, const struct agent_hdr *h,
		 const uint8_t *p)
{
	struct agent_file f;

	if (h->type == AGENT_MSG_FILE_DATA)
		return put_data(c, h, p);
	if (h->len < sizeof(f))
		goto err_invalid;
	memcpy(&f, p, sizeof(f));
	const char *path = (const char *)p + sizeof(f);
	if (f.path_len != h->len - sizeof(f) || f.path_len < 2 ||
	    f.path_len > AGENT_PATH_MAX || path[f.path_len - 1] != '\0' ||
	    strlen(path) != f.path_len - 1)
		goto err_invalid;
	if ((h->type == AGENT_MSG_FILE_PUT || h->type == AGENT_MSG_FILE_GET) &&
	    op_find(c, h->req_id)) {
		conn_send_error(c, h->req_id, EBUSY, "req_id %u is in use",
				h->req_id);
		return 0;
	}
	int err = path_request(c, h, &f, path);
	if (err < 0)
		conn_send_error(c, h->req_id, -err, "%s: %s", path,
				err == -EACCES ? "outside the allowed roots "
						 "or not permitted"
					       : strerror(-err));
	return 0;

err_invalid:
	conn_send_error(c, h->req_id, EINVAL,
			"need agent_file + NUL-terminated path of path_len");
	return 0;
}

void files_conn_closed(struct conn *c)
{
	struct fileop *next;

	for (struct fileop *op = ops; op; op = next) {
		next = op->next;
		if (op->conn == c)
			op_free(op);
	}
}
