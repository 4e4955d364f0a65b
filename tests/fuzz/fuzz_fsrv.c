/* fuzz_fsrv.c: the shared-directory server (host/fs/) fed FUSE requests
 * built from fuzz bytes, against a small read-only tree made once per
 * process (read-only so a long campaign cannot fill the disk; the write
 * paths are covered by tests/unit/test_fsrv.c's random requests).
 *
 * Input: records of [u16 length][bytes]; each record is one request
 * (header and arguments as the guest would send them), its node id
 * folded onto the ids this server has handed out so far so deep paths
 * are reached. The reply buffer's size comes from the record too.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "../../host/fs/fs.h"

static char root[64];
static uint8_t reply[1 << 17];

static void setup(void)
{
	char p[128];

	snprintf(root, sizeof(root), "/tmp/fuzz_fsrv.%d", (int)getpid());
	mkdir(root, 0755);
	snprintf(p, sizeof(p), "%s/d", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d/f", root);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs("some file contents\n", f);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/link", root);
	symlink("/etc/passwd", p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char err[160];

	if (!ready) {
		setup();
		ready = 1;
	}
	struct fsrv_opts o = { .ro = true, .guest_uid = 1000,
			       .guest_gid = 1000, .max_inodes = 64,
			       .max_handles = 16 };
	struct fsrv *s = fsrv_new(open(root, O_PATH | O_DIRECTORY | O_CLOEXEC),
				  &o, err, sizeof(err));
	if (!s)
		return 0;
	/* Always start initialised: most requests need it. */
	struct {
		struct fuse_in_header h;
		struct fuse_init_in in;
	} init = { { sizeof(init), FUSE_INIT, 1, 0, 0, 0, 0, 0, 0 },
		   { 7, 38, 65536, 0xffffffff, 0, { 0 } } };
	struct iovec io = { &init, sizeof(init) }, ri = { reply, sizeof(reply) };
	fsrv_request(s, &io, 1, &ri, 1);
	uint64_t ids[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	unsigned nid = 1;
	while (size >= 2) {
		size_t n = (size_t)data[0] | (size_t)data[1] << 8;
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		uint8_t req[FSRV_MAX_ARGS];
		size_t rn = n < sizeof(req) ? n : sizeof(req);
		memcpy(req, data, rn);
		if (rn >= sizeof(struct fuse_in_header)) {
			struct fuse_in_header h;
			memcpy(&h, req, sizeof(h));
			h.nodeid = ids[h.nodeid % nid];
			if (h.len & 1)	/* half the time: a truthful length */
				h.len = (uint32_t)rn;
			memcpy(req, &h, sizeof(h));
		}
		struct iovec out = { req, rn };
		struct iovec in = { reply, rn ? (size_t)req[rn - 1] * 512 : 0 };
		size_t w = fsrv_request(s, &out, 1, &in, 1);
		/* Learn node ids from successful LOOKUP replies. */
		if (w >= sizeof(struct fuse_out_header) +
			 sizeof(struct fuse_entry_out) && nid < 8) {
			struct fuse_out_header oh;
			struct fuse_entry_out e;
			memcpy(&oh, reply, sizeof(oh));
			memcpy(&e, reply + sizeof(oh), sizeof(e));
			if (!oh.error && e.nodeid)
				ids[nid++] = e.nodeid;
		}
		data += n;
		size -= n;
	}
	fsrv_free(s);
	return 0;
}
