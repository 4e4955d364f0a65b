/* test_fsrv.c: the shared-directory server (host/fs/) driven the way the
 * guest kernel drives it — FUSE requests as iovecs — over a temporary
 * directory: the operations work, ownership and modes are as promised,
 * read-only holds on the host side, nothing reaches outside the root
 * (also while the tree changes under a lookup), bounds hold, and hostile
 * bytes are answered, never crashed on (ASan/UBSan build).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "../../host/fs/fs.h"

static int fails, checks;
#define CHECK(c, ...) do { checks++; if (!(c)) { fails++; \
	printf("FAIL: %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); \
	printf("\n"); } } while (0)

static char root[256], outside[256];
static uint8_t rep[1 << 18];
static uint64_t uniq = 1;
static unsigned dir_budget;	/* server()'s listing budget (0: default) */

/* One request: header + a + b (+ data), reply into rep. Returns the
 * reply's error (0, -errno) or 1 when there was no reply; *len the
 * payload bytes after the out header. */
static int req(struct fsrv *s, uint32_t op, uint64_t node, const void *a,
	       size_t alen, const void *b, size_t blen, size_t *len)
{
	uint8_t buf[FSRV_MAX_ARGS + FSRV_MAX_WRITE];
	struct fuse_in_header h = { .len = (uint32_t)(sizeof(h) + alen + blen),
				    .opcode = op, .unique = uniq++,
				    .nodeid = node };
	memcpy(buf, &h, sizeof(h));
	if (alen)
		memcpy(buf + sizeof(h), a, alen);
	if (blen)
		memcpy(buf + sizeof(h) + alen, b, blen);
	struct iovec out = { buf, h.len }, in = { rep, sizeof(rep) };
	size_t n = fsrv_request(s, &out, 1, &in, 1);
	if (len)
		*len = n >= 16 ? n - 16 : 0;
	if (n == 0)
		return 1;
	struct fuse_out_header oh;
	memcpy(&oh, rep, sizeof(oh));
	CHECK(oh.unique == h.unique && oh.len == n, "reply header");
	return oh.error;
}

static void *payload(void) { return rep + sizeof(struct fuse_out_header); }

static int lookup(struct fsrv *s, uint64_t dir, const char *name,
		  struct fuse_entry_out *e)
{
	int r = req(s, FUSE_LOOKUP, dir, name, strlen(name) + 1, NULL, 0, NULL);
	if (!r && e)
		memcpy(e, payload(), sizeof(*e));
	return r;
}

static int create(struct fsrv *s, uint64_t dir, const char *name,
		  uint32_t flags, uint32_t mode, uint64_t *node, uint64_t *fh)
{
	struct fuse_create_in ci = { .flags = flags, .mode = S_IFREG | mode };
	int r = req(s, FUSE_CREATE, dir, &ci, sizeof(ci), name,
		    strlen(name) + 1, NULL);
	if (!r) {
		struct fuse_entry_out e;
		struct fuse_open_out o;
		memcpy(&e, payload(), sizeof(e));
		memcpy(&o, (uint8_t *)payload() + sizeof(e), sizeof(o));
		if (node)
			*node = e.nodeid;
		if (fh)
			*fh = o.fh;
	}
	return r;
}

static struct fsrv *server(bool ro, unsigned max_inodes, unsigned max_handles)
{
	char err[200];
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct fsrv_opts o = { .ro = ro, .guest_uid = 1000, .guest_gid = 1000,
			       .max_inodes = max_inodes,
			       .max_handles = max_handles,
			       .max_dir_bytes = dir_budget };
	struct fsrv *s = fsrv_new(fd, &o, err, sizeof(err));
	if (!s) {
		printf("fsrv_new: %s\n", err);
		exit(1);
	}
	struct fuse_init_in in = { .major = 7, .minor = 38,
				   .max_readahead = 1 << 17,
				   .flags = 0xffffffff };
	CHECK(req(s, FUSE_GETATTR, FS_ROOT_ID, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
		  16, NULL, 0, NULL) == -EIO, "a request before INIT is EIO");
	CHECK(req(s, FUSE_INIT, 0, &in, sizeof(in), NULL, 0, NULL) == 0, "init");
	struct fuse_init_out io;
	memcpy(&io, payload(), sizeof(io));
	CHECK(io.major == 7 && io.minor == 38 && io.max_write == FSRV_MAX_WRITE &&
	      !(io.flags & (FUSE_WRITEBACK_CACHE | FUSE_DO_READDIRPLUS |
			    FUSE_POSIX_LOCKS | FUSE_EXPORT_SUPPORT)),
	      "init reply: %u.%u max_write %u flags %#x", io.major, io.minor,
	      io.max_write, io.flags);
	return s;
}

static void put_file(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
}

static void test_basic(void)
{
	struct fsrv *s = server(false, 0, 0);
	struct fuse_entry_out e;
	uint64_t node, fh;
	size_t len;

	put_file("hello.txt", "hello from the host\n");
	CHECK(lookup(s, FS_ROOT_ID, "hello.txt", &e) == 0, "lookup");
	CHECK(e.attr.size == 20 && S_ISREG(e.attr.mode), "attrs");
	CHECK(e.attr.uid == 1000u && e.attr.gid == 1000u,
	      "our files look like the guest user's: uid %u", e.attr.uid);
	struct fuse_entry_out e2;
	CHECK(lookup(s, FS_ROOT_ID, "hello.txt", &e2) == 0 &&
	      e2.nodeid == e.nodeid, "one host inode is one node id");

	struct fuse_open_in oi = { .flags = O_RDONLY };
	CHECK(req(s, FUSE_OPEN, e.nodeid, &oi, sizeof(oi), NULL, 0, NULL) == 0,
	      "open");
	memcpy(&fh, payload(), sizeof(fh));
	struct fuse_read_in ri = { .fh = fh, .offset = 6, .size = 100 };
	CHECK(req(s, FUSE_READ, e.nodeid, &ri, sizeof(ri), NULL, 0, &len) == 0 &&
	      len == 14 && !memcmp(payload(), "from the host\n", 14), "read");
	struct fuse_release_in rl = { .fh = fh };
	CHECK(req(s, FUSE_RELEASE, e.nodeid, &rl, sizeof(rl), NULL, 0, NULL) == 0,
	      "release");
	CHECK(req(s, FUSE_READ, e.nodeid, &ri, sizeof(ri), NULL, 0, NULL) == -EBADF,
	      "a released handle is gone");

	/* create + write, seen on the host, owned by us */
	CHECK(create(s, FS_ROOT_ID, "new.txt", O_WRONLY | O_EXCL, 04755, &node,
		     &fh) == 0, "create");
	struct fuse_write_in wi = { .fh = fh, .offset = 0, .size = 6 };
	CHECK(req(s, FUSE_WRITE, node, &wi, sizeof(wi), "guest\n", 6, NULL) == 0 &&
	      ((struct fuse_write_out *)payload())->size == 6, "write");
	char p[512], got[32] = "";
	snprintf(p, sizeof(p), "%s/new.txt", root);
	FILE *f = fopen(p, "r");
	CHECK(f && fgets(got, sizeof(got), f) && !strcmp(got, "guest\n"),
	      "the host sees the write");
	if (f)
		fclose(f);
	struct stat st;
	CHECK(stat(p, &st) == 0 && st.st_uid == geteuid() &&
	      !(st.st_mode & (S_ISUID | S_ISGID)) && (st.st_mode & 0777) == 0755,
	      "created file: ours, no setuid (mode %o)", st.st_mode);
	CHECK(create(s, FS_ROOT_ID, "new.txt", O_WRONLY | O_EXCL, 0644, NULL,
		     NULL) == -EEXIST, "O_EXCL on an existing name");

	/* setattr: suid stripped, chown refused, truncate works */
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = 06777 };
	CHECK(req(s, FUSE_SETATTR, node, &sa, sizeof(sa), NULL, 0, NULL) == 0 &&
	      stat(p, &st) == 0 && (st.st_mode & 07777) == 0777,
	      "chmod strips setuid/setgid (mode %o)", st.st_mode);
	sa = (struct fuse_setattr_in){ .valid = FATTR_UID, .uid = 0 };
	CHECK(req(s, FUSE_SETATTR, node, &sa, sizeof(sa), NULL, 0, NULL) == -EPERM,
	      "chown to another user is refused");
	sa = (struct fuse_setattr_in){ .valid = FATTR_UID, .uid = 1000 };
	CHECK(req(s, FUSE_SETATTR, node, &sa, sizeof(sa), NULL, 0, NULL) == 0,
	      "chown to what the guest already sees is a no-op");
	sa = (struct fuse_setattr_in){ .valid = FATTR_SIZE, .size = 2 };
	CHECK(req(s, FUSE_SETATTR, node, &sa, sizeof(sa), NULL, 0, NULL) == 0 &&
	      stat(p, &st) == 0 && st.st_size == 2, "truncate");

	/* device nodes and FIFOs are refused */
	struct fuse_mknod_in mi = { .mode = S_IFCHR | 0666, .rdev = 0x0103 };
	CHECK(req(s, FUSE_MKNOD, FS_ROOT_ID, &mi, sizeof(mi), "null", 5, NULL) ==
	      -EPERM, "no device nodes");
	mi.mode = S_IFIFO | 0666;
	CHECK(req(s, FUSE_MKNOD, FS_ROOT_ID, &mi, sizeof(mi), "fifo", 5, NULL) ==
	      -EPERM, "no FIFOs");
	mi.mode = S_IFREG | 0644;
	CHECK(req(s, FUSE_MKNOD, FS_ROOT_ID, &mi, sizeof(mi), "plain", 6, NULL) ==
	      0, "mknod of a regular file");

	/* directories: mkdir, readdir, rename, link, unlink, rmdir */
	struct fuse_mkdir_in md = { .mode = 0755 };
	CHECK(req(s, FUSE_MKDIR, FS_ROOT_ID, &md, sizeof(md), "sub", 4, NULL) ==
	      0, "mkdir");
	uint64_t sub = ((struct fuse_entry_out *)payload())->nodeid;
	struct fuse_rename_in rn = { .newdir = sub };
	CHECK(req(s, FUSE_RENAME, FS_ROOT_ID, &rn, sizeof(rn), "new.txt\0moved",
		  14, NULL) == 0, "rename into sub");
	struct fuse_link_in li = { .oldnodeid = node };
	CHECK(req(s, FUSE_LINK, FS_ROOT_ID, &li, sizeof(li), "hard", 5, NULL) == 0 &&
	      ((struct fuse_entry_out *)payload())->nodeid == node,
	      "a hard link is the same node");
	CHECK(req(s, FUSE_SYMLINK, FS_ROOT_ID, "sym\0/etc/passwd", 16, NULL, 0,
		  NULL) == 0, "symlink");
	uint64_t sym = ((struct fuse_entry_out *)payload())->nodeid;
	CHECK(req(s, FUSE_READLINK, sym, NULL, 0, NULL, 0, &len) == 0 &&
	      len == 11 && !memcmp(payload(), "/etc/passwd", 11), "readlink");
	oi.flags = O_RDONLY;
	CHECK(req(s, FUSE_OPEN, sym, &oi, sizeof(oi), NULL, 0, NULL) == -EPERM,
	      "a symlink is never opened on the host");

	CHECK(req(s, FUSE_OPENDIR, FS_ROOT_ID, &oi, sizeof(oi), NULL, 0, NULL) ==
	      0, "opendir");
	memcpy(&fh, payload(), sizeof(fh));
	int seen = 0;
	uint64_t off = 0;
	for (int round = 0; round < 100; round++) {
		ri = (struct fuse_read_in){ .fh = fh, .offset = off, .size = 64 };
		if (req(s, FUSE_READDIR, FS_ROOT_ID, &ri, sizeof(ri), NULL, 0,
			&len) || !len)
			break;
		for (size_t at = 0; at < len;) {
			struct fuse_dirent *d = (void *)((uint8_t *)payload() + at);
			if (d->namelen == 3 && !memcmp(d->name, "sub", 3))
				seen |= 1;
			if (d->namelen == 4 && !memcmp(d->name, "hard", 4))
				seen |= 2;
			off = d->off;
			at += FUSE_DIRENT_SIZE(d);
		}
	}
	CHECK(seen == 3, "readdir in small pieces lists sub and hard (%d)", seen);
	CHECK(req(s, FUSE_UNLINK, FS_ROOT_ID, "hard", 5, NULL, 0, NULL) == 0,
	      "unlink");
	CHECK(req(s, FUSE_RMDIR, FS_ROOT_ID, "sub", 4, NULL, 0, NULL) == -ENOTEMPTY,
	      "rmdir of a non-empty directory");
	CHECK(req(s, FUSE_UNLINK, sub, "moved", 6, NULL, 0, NULL) == 0 &&
	      req(s, FUSE_RMDIR, FS_ROOT_ID, "sub", 4, NULL, 0, NULL) == 0,
	      "rmdir");
	struct fuse_statfs_out sf;
	CHECK(req(s, FUSE_STATFS, FS_ROOT_ID, NULL, 0, NULL, 0, NULL) == 0 &&
	      (memcpy(&sf, payload(), sizeof(sf)), sf.st.bsize > 0), "statfs");
	CHECK(req(s, FUSE_GETXATTR, FS_ROOT_ID, "\0\0\0\0\0\0\0\0security.capability", 28,
		  NULL, 0, NULL) == -ENOSYS, "no xattrs");
	fsrv_free(s);
}

static void test_confinement(void)
{
	struct fsrv *s = server(false, 0, 0);
	struct fuse_entry_out e;
	char p[512];

	const char *bad[] = { "..", ".", "a/b", "../etc", "/etc" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CHECK(lookup(s, FS_ROOT_ID, bad[i], NULL) != 0,
		      "lookup '%s' refused", bad[i]);
	CHECK(req(s, FUSE_LOOKUP, FS_ROOT_ID, "noterm", 6, NULL, 0, NULL) != 0,
	      "a name without NUL is refused");

	/* A symlink to outside: a node, never a way out. */
	snprintf(p, sizeof(p), "%s/out", root);
	symlink(outside, p);
	CHECK(lookup(s, FS_ROOT_ID, "out", &e) == 0 && S_ISLNK(e.attr.mode),
	      "a symlink is looked up as itself");
	CHECK(lookup(s, e.nodeid, "secret", NULL) == -ENOTDIR,
	      "no lookup through a symlink");
	struct fuse_open_in oi = { 0 };
	CHECK(req(s, FUSE_OPENDIR, e.nodeid, &oi, sizeof(oi), NULL, 0, NULL) ==
	      -ENOTDIR, "no opendir of a symlink");
	/* Creating through a dangling symlink must not create outside. */
	char tgt[512];
	snprintf(tgt, sizeof(tgt), "%s/created-through-link", outside);
	snprintf(p, sizeof(p), "%s/dangling", root);
	symlink(tgt, p);
	CHECK(create(s, FS_ROOT_ID, "dangling", O_WRONLY, 0644, NULL, NULL) != 0 &&
	      access(tgt, F_OK) < 0, "create through a dangling symlink");
	struct fuse_mknod_in mi = { .mode = S_IFREG | 0644 };
	CHECK(req(s, FUSE_MKNOD, FS_ROOT_ID, &mi, sizeof(mi), "dangling", 9, NULL)
	      != 0 && access(tgt, F_OK) < 0, "mknod through a dangling symlink");

	/* A hard link to the outside symlink links the symlink itself
	 * (linkat through /proc/self/fd never follows its target). */
	struct fuse_link_in sl = { .oldnodeid = e.nodeid };
	struct stat hs;
	snprintf(p, sizeof(p), "%s/hardlink-of-out", root);
	CHECK(req(s, FUSE_LINK, FS_ROOT_ID, &sl, sizeof(sl), "hardlink-of-out",
		  16, NULL) == 0 && lstat(p, &hs) == 0 && S_ISLNK(hs.st_mode),
	      "a link of a symlink is a symlink, not the outside file");
	/* Forged and stale ids. */
	CHECK(lookup(s, 0x12345678, "x", NULL) == -ESTALE, "forged node id");
	CHECK(lookup(s, (uint64_t)7 << 32 | 1, "x", NULL) == -ESTALE,
	      "root slot with a wrong generation");
	struct fuse_read_in ri = { .fh = 0xdeadbeef, .size = 10 };
	CHECK(req(s, FUSE_READ, FS_ROOT_ID, &ri, sizeof(ri), NULL, 0, NULL) ==
	      -EBADF, "forged file handle");
	struct fuse_link_in li = { .oldnodeid = 999 };
	CHECK(req(s, FUSE_LINK, FS_ROOT_ID, &li, sizeof(li), "l", 2, NULL) ==
	      -ESTALE, "link from a forged node");
	fsrv_free(s);
}

/* A host process swaps root/race between a directory and a symlink to
 * outside while the guest looks up race/secret: never the outside file. */
static volatile int stop_swap;
static void *swapper(void *arg)
{
	char d[512], l[512], t[512];
	(void)arg;
	snprintf(d, sizeof(d), "%s/race", root);
	snprintf(l, sizeof(l), "%s/race.l", root);
	snprintf(t, sizeof(t), "%s/race.d", root);
	symlink(outside, l);
	mkdir(t, 0755);
	char in[600];
	snprintf(in, sizeof(in), "%s/secret", t);
	fclose(fopen(in, "w"));	/* the inside one */
	while (!stop_swap) {
		rename(l, d);	/* race -> outside */
		rename(d, l);
		rename(t, d);	/* race is a real directory */
		rename(d, t);
	}
	return NULL;
}

static void test_race(void)
{
	struct fsrv *s = server(false, 0, 0);
	struct stat outs;
	char p[512];
	pthread_t t;
	int found_inside = 0, escaped = 0;

	snprintf(p, sizeof(p), "%s/secret", outside);
	stat(p, &outs);
	pthread_create(&t, NULL, swapper, NULL);
	for (int i = 0; i < 20000; i++) {
		struct fuse_entry_out e, e2;
		if (lookup(s, FS_ROOT_ID, "race", &e))
			continue;
		if (lookup(s, e.nodeid, "secret", &e2) == 0) {
			if (e2.attr.ino == outs.st_ino)
				escaped++;
			else
				found_inside++;
		}
		struct fuse_forget_in fi = { .nlookup = 1 };
		req(s, FUSE_FORGET, e.nodeid, &fi, sizeof(fi), NULL, 0, NULL);
	}
	stop_swap = 1;
	pthread_join(t, NULL);
	CHECK(escaped == 0, "a lookup raced with a symlink swap reached "
	      "outside %d times", escaped);
	printf("race: %d lookups found race/secret inside, %d outside\n",
	       found_inside, escaped);
	fsrv_free(s);
}

static void test_readonly(void)
{
	struct fsrv *s = server(true, 0, 0);
	struct fuse_entry_out e;
	put_file("ro.txt", "keep");
	CHECK(lookup(s, FS_ROOT_ID, "ro.txt", &e) == 0, "ro lookup");
	struct fuse_open_in oi = { .flags = O_RDWR };
	CHECK(req(s, FUSE_OPEN, e.nodeid, &oi, sizeof(oi), NULL, 0, NULL) ==
	      -EROFS, "ro: open for writing");
	oi.flags = O_RDONLY | O_TRUNC;
	CHECK(req(s, FUSE_OPEN, e.nodeid, &oi, sizeof(oi), NULL, 0, NULL) ==
	      -EROFS, "ro: O_TRUNC");
	CHECK(create(s, FS_ROOT_ID, "x", O_WRONLY, 0644, NULL, NULL) == -EROFS,
	      "ro: create");
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE };
	CHECK(req(s, FUSE_SETATTR, e.nodeid, &sa, sizeof(sa), NULL, 0, NULL) ==
	      -EROFS, "ro: truncate");
	CHECK(req(s, FUSE_UNLINK, FS_ROOT_ID, "ro.txt", 7, NULL, 0, NULL) ==
	      -EROFS, "ro: unlink");
	struct fuse_mkdir_in md = { .mode = 0755 };
	CHECK(req(s, FUSE_MKDIR, FS_ROOT_ID, &md, sizeof(md), "d", 2, NULL) ==
	      -EROFS, "ro: mkdir");
	oi.flags = O_RDONLY;
	CHECK(req(s, FUSE_OPEN, e.nodeid, &oi, sizeof(oi), NULL, 0, NULL) == 0,
	      "ro: reading is fine");
	fsrv_free(s);
}

static void test_bounds(void)
{
	struct fsrv *s = server(false, 8, 2);
	struct fuse_entry_out e;
	char name[32];
	int ok = 0, full = 0;

	for (int i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		put_file(name, "x");
		int r = lookup(s, FS_ROOT_ID, name, &e);
		ok += r == 0;
		full += r == -ENFILE;
	}
	struct fsrv_stats st;
	fsrv_get_stats(s, &st);
	CHECK(ok == 7 && full == 5 && st.inodes == 8,
	      "inode bound: %d ok, %d ENFILE, %u live", ok, full, st.inodes);
	struct fuse_forget_in fi = { .nlookup = 1 };
	CHECK(req(s, FUSE_FORGET, e.nodeid, &fi, sizeof(fi), NULL, 0, NULL) == 1,
	      "forget has no reply");
	CHECK(lookup(s, FS_ROOT_ID, "f6", &e) == 0, "lookup ok after a forget");
	struct fuse_open_in oi = { .flags = O_RDONLY };
	int opened = 0;
	for (int i = 0; i < 4; i++)
		opened += req(s, FUSE_OPEN, e.nodeid, &oi, sizeof(oi), NULL, 0,
			      NULL) == 0;
	CHECK(opened == 2, "handle bound: %d opened", opened);

	/* Hostile framing. */
	uint8_t junk[64] = { 0 };
	struct iovec out = { junk, 10 }, in = { rep, sizeof(rep) };
	CHECK(fsrv_request(s, &out, 1, &in, 1) == 0, "short header: no reply");
	struct fuse_in_header h = { .len = 9999, .opcode = FUSE_GETATTR,
				    .unique = 5, .nodeid = 1 };
	memcpy(junk, &h, sizeof(h));
	out.iov_len = sizeof(h) + 16;
	CHECK(fsrv_request(s, &out, 1, &in, 1) == 16 &&
	      ((struct fuse_out_header *)rep)->error == -EINVAL,
	      "a length that lies is EINVAL");
	struct iovec tiny = { rep, 8 };
	h.len = sizeof(h) + 16;
	memcpy(junk, &h, sizeof(h));
	CHECK(fsrv_request(s, &out, 1, &tiny, 1) == 0,
	      "no room for a reply: nothing written");
	struct fuse_write_in wi = { .fh = 1, .size = 1000 };
	CHECK(req(s, FUSE_WRITE, e.nodeid, &wi, sizeof(wi), "abc", 3, NULL) != 0,
	      "write size beyond the data");
	/* Random requests: answered or ignored, never a crash. */
	srand(7);
	uint8_t fz[512];
	for (int i = 0; i < 20000; i++) {
		for (size_t k = 0; k < sizeof(fz); k++)
			fz[k] = (uint8_t)rand();
		struct fuse_in_header fh = { .opcode = (uint32_t)(rand() % 54),
					     .nodeid = (uint64_t)(rand() % 4),
					     .unique = 1 };
		size_t n = sizeof(fh) + (size_t)(rand() % 400);
		fh.len = (uint32_t)n;
		if (fh.opcode == FUSE_INIT || fh.opcode == FUSE_DESTROY)
			fh.opcode = FUSE_GETATTR;
		memcpy(fz, &fh, sizeof(fh));
		struct iovec o2 = { fz, n }, i2 = { rep, (size_t)(rand() % 300) };
		fsrv_request(s, &o2, 1, &i2, 1);
	}
	CHECK(lookup(s, FS_ROOT_ID, "f6", NULL) == 0, "alive after the fuzz");
	fsrv_free(s);
}

/* `rm -rf` as the guest's kernel drives it: read a piece of the listing,
 * unlink what it named, read on from the last entry's offset. On a host
 * filesystem whose directory offsets are positions (ramfs; tmpfs before
 * Linux 6.6; overlayfs merged directories) the host's offsets shift
 * under the unlinks, so a server that seeks to them skips entries and
 * rmdir then fails with ENOTEMPTY. Also: offset 0 lists afresh, an
 * offset past the end is the end. */
static int readdir_unlinking(const char *dir, unsigned budget, int *left)
{
	char saved[256], p[600];
	int listed = 0;

	memcpy(saved, root, sizeof(saved));
	snprintf(root, sizeof(root), "%s", dir);
	for (int i = 0; i < 600; i++) {
		snprintf(p, sizeof(p), "e%04d%.*s", i, i % 40,
			 "........................................");
		put_file(p, "x");
	}
	dir_budget = budget;
	struct fsrv *s = server(false, 0, 0);
	dir_budget = 0;
	struct fuse_open_in oi = { .flags = O_RDONLY };
	uint64_t fh, off = 0;
	size_t len;
	CHECK(req(s, FUSE_OPENDIR, FS_ROOT_ID, &oi, sizeof(oi), NULL, 0, NULL) ==
	      0, "opendir");
	memcpy(&fh, payload(), sizeof(fh));
	for (int round = 0; round < 2000; round++) {
		struct fuse_read_in ri = { .fh = fh, .offset = off, .size = 1024 };
		if (req(s, FUSE_READDIR, FS_ROOT_ID, &ri, sizeof(ri), NULL, 0,
			&len) || !len)
			break;
		char names[11][64];
		int n = 0;
		/* Like the guest's kernel when its reader's buffer fills:
		 * take a prefix of the reply, go on from its last offset. */
		for (size_t at = 0; at < len && n < 11;) {
			struct fuse_dirent *d = (void *)((uint8_t *)payload() + at);
			if (d->name[0] != '.' && d->namelen < 64) {
				memcpy(names[n], d->name, d->namelen);
				names[n++][d->namelen] = 0;
			}
			off = d->off;
			at += FUSE_DIRENT_SIZE(d);
		}
		for (int i = 0; i < n; i++)
			listed += req(s, FUSE_UNLINK, FS_ROOT_ID, names[i],
				      strlen(names[i]) + 1, NULL, 0, NULL) == 0;
	}
	/* A fresh listing from offset 0 sees what is left; far past the
	 * end there is nothing. */
	put_file("late", "x");
	struct fuse_read_in ri = { .fh = fh, .offset = 0, .size = 4096 };
	int late = 0;
	if (!req(s, FUSE_READDIR, FS_ROOT_ID, &ri, sizeof(ri), NULL, 0, &len))
		for (size_t at = 0; at < len;) {
			struct fuse_dirent *d = (void *)((uint8_t *)payload() + at);
			late += d->namelen == 4 && !memcmp(d->name, "late", 4);
			at += FUSE_DIRENT_SIZE(d);
		}
	CHECK(late == 1, "offset 0 lists afresh (%s)", dir);
	ri.offset = 1ull << 62;
	CHECK(req(s, FUSE_READDIR, FS_ROOT_ID, &ri, sizeof(ri), NULL, 0, &len) ==
	      0 && len == 0, "an offset past the end is the end (%s)", dir);
	CHECK(req(s, FUSE_RELEASEDIR, FS_ROOT_ID, &(struct fuse_release_in){
		  .fh = fh }, sizeof(struct fuse_release_in), NULL, 0, NULL) == 0,
	      "releasedir");
	struct fsrv_stats st;
	fsrv_get_stats(s, &st);
	CHECK(!budget == !st.dir_full, "listings past the budget: %llu (budget "
	      "%u)", (unsigned long long)st.dir_full, budget);
	fsrv_free(s);
	unlink(strcat(strcpy(p, dir), "/late"));
	DIR *d = opendir(dir);
	struct dirent *de;
	*left = 0;
	while (d && (de = readdir(d)))
		*left += de->d_name[0] != '.';
	if (d)
		closedir(d);
	memcpy(root, saved, sizeof(root));
	return listed;
}

static void test_readdir_unlink(const char *base)
{
	char dir[300];
	int left;

	snprintf(dir, sizeof(dir), "%s/plain", base);
	mkdir(dir, 0755);
	int n = readdir_unlinking(dir, 0, &left);
	CHECK(n == 600 && left == 0, "rm -rf on the test's own filesystem: "
	      "%d unlinked, %d left", n, left);
	/* ramfs keeps position offsets on every kernel: the case that broke
	 * `rm -rf` of a git tree on L1's 6.1 tmpfs. Root mounts it in a
	 * mount namespace of its own (the unit tests run as root in CI). */
	snprintf(dir, sizeof(dir), "%s/ramfs", base);
	mkdir(dir, 0755);
	/* Private first, so the ramfs is never seen outside. In a chroot
	 * whose root is no mount point (make check-fresh's) that is EINVAL:
	 * said, not failed; CI's run is not in one. */
	int e = 0, step = 0;
	if (unshare(CLONE_NEWNS) < 0 ||
	    (step = 1, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) ||
	    (step = 2, mount("ramfs", dir, "ramfs", 0, NULL) < 0))
		e = errno;
	if (e) {
		bool chroot_root = e == EINVAL && step == 1;
		printf("%s: the ramfs case: cannot mount ramfs (%s)%s\n",
		       geteuid() || chroot_root ? "SKIP" : "FAIL", strerror(e),
		       chroot_root ? ": / is no mount point (a chroot)" : "");
		CHECK(geteuid() != 0 || chroot_root, "ramfs mount as root");
	} else {
		n = readdir_unlinking(dir, 0, &left);
		CHECK(n == 600 && left == 0, "rm -rf on ramfs: %d unlinked, "
		      "%d left", n, left);
		umount2(dir, MNT_DETACH);
	}
	/* Past the listing budget a handle falls back to the host's
	 * offsets: on a filesystem with stable offsets nothing is lost. */
	snprintf(dir, sizeof(dir), "%s/budget", base);
	mkdir(dir, 0755);
	n = readdir_unlinking(dir, 2048, &left);
	CHECK(n == 600 && left == 0, "past the listing budget: %d unlinked, "
	      "%d left", n, left);
}

int main(void)
{
	char tmpl[] = "/tmp/test_fsrv.XXXXXX";
	char *base = mkdtemp(tmpl);
	char cmd[600];

	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	mkdir(root, 0755);
	mkdir(outside, 0755);
	snprintf(cmd, sizeof(cmd), "%s/secret", outside);
	FILE *f = fopen(cmd, "w");
	fputs("outside\n", f);
	fclose(f);
	test_basic();
	test_confinement();
	test_race();
	test_readonly();
	test_bounds();
	test_readdir_unlink(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	system(cmd);
	printf("%s: %d checks, %d failed\n", fails ? "FAIL" : "PASS", checks,
	       fails);
	return fails ? 1 : 0;
}
