/* ipc.c: send and receive ipc.h messages with optional fds. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>

#include "ipc.h"

static int send_flags = MSG_NOSIGNAL;

void ipc_nonblocking_sends(bool on)
{
	send_flags = MSG_NOSIGNAL | (on ? MSG_DONTWAIT : 0);
}

int ipc_send_fds(int sock, uint32_t type, const void *p, size_t len,
		 const int *fds, unsigned nfds)
{
	struct ipc_hdr h = { .type = type, .len = (uint32_t)len };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };

	if (len > IPC_MAX || nfds > IPC_MAX_FDS)
		return -EMSGSIZE;
	if (nfds) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, send_flags);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int ipc_send(int sock, uint32_t type, const void *a, size_t alen,
	     const void *b, size_t blen, int fd)
{
	char buf[IPC_MAX];

	if (alen + blen > sizeof(buf))
		return -EMSGSIZE;
	if (alen)
		memcpy(buf, a, alen);
	if (blen)
		memcpy(buf + alen, b, blen);
	return ipc_send_fds(sock, type, buf, alen + blen, &fd, fd >= 0);
}

int ipc_recv(int sock, struct ipc_hdr *hdr, void *buf, size_t cap, int *fds,
	     unsigned maxfds, unsigned *nfds)
{
	struct iovec iov[2] = { { hdr, sizeof(*hdr) }, { buf, cap } };
	union {
		char b[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2,
			      .msg_control = u.b,
			      .msg_controllen = sizeof(u.b) };
	ssize_t n;
	unsigned got = 0;

	*nfds = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
	     c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int tmp[IPC_MAX_FDS];
		if (k > IPC_MAX_FDS)
			k = IPC_MAX_FDS;
		memcpy(tmp, CMSG_DATA(c), k * sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			if (got < maxfds)
				fds[got++] = tmp[i];
			else
				close(tmp[i]);	/* more than expected */
		}
	}
	*nfds = got;
	/* Truncated message, short header or a length that lies: reject. */
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(*hdr) || hdr->len != (size_t)n - sizeof(*hdr) ||
	    hdr->type == 0 || hdr->type >= IPC_TYPE_MAX) {
		for (unsigned i = 0; i < got; i++)
			close(fds[i]);
		*nfds = 0;
		return -EPROTO;
	}
	return 1;
}

/* The VM configuration codec. Wire form: IPC_CFG_MAGIC, then records
 * {u16 field, u16 zero, u32 len, len bytes}, unaligned, in any order, each
 * field at most once; fields left at zero are not sent. The table below is
 * the whole schema: a new knob in struct vm_cfg is one line here. Both
 * ends are the same binary, but the unpacker still trusts nothing: every
 * length, value and string is checked, then vm_cfg_check runs. */
#define IPC_CFG_MAGIC 0x31434256u	/* "VBC1" */

enum cfg_kind {
	K_RAW,		/* fixed-size scalar or array, copied as is */
	K_BOOL,		/* one byte, 0 or 1 */
	K_CHARS,	/* char array: no NUL on the wire, shorter than it */
	K_STR,		/* char *: no NUL on the wire */
	K_LIST,		/* char **: entries each ending in NUL, none empty */
};

struct cfg_field {
	uint16_t id;
	uint8_t kind;
	uint32_t off, size;
};

#define F(id, kind, m) { id, kind, offsetof(struct vm_cfg, m), \
			 sizeof(((struct vm_cfg *)0)->m) }
#define DISK(id, i) F(id, K_STR, disk[i].path), F(id + 1, K_RAW, disk[i].off), \
		    F(id + 2, K_RAW, disk[i].len), F(id + 3, K_BOOL, disk[i].ro)
/* fd > 0: the directory comes as an open fd, like a disk's */
#define MOUNT(id, i) F(id, K_STR, mount[i].host), F(id + 1, K_STR, mount[i].guest), \
		     F(id + 2, K_BOOL, mount[i].ro), F(id + 3, K_RAW, mount[i].fd)
static const struct cfg_field cfg_fields[] = {
	F(1, K_CHARS, name),
	F(2, K_CHARS, hostname),
	F(3, K_RAW, mem_mb),
	F(4, K_RAW, vcpus),
	F(5, K_RAW, timeout_ms),
	F(6, K_BOOL, console),
	F(7, K_STR, kernel_path),
	F(8, K_RAW, kernel_blob),
	F(9, K_STR, initrd_path),
	F(10, K_RAW, initrd_fd),	/* > 0: an initrd fd follows */
	F(11, K_BOOL, no_initrd),
	F(12, K_STR, cmdline),
	F(13, K_STR, append),
	F(14, K_RAW, ndisks),
	DISK(15, 0),
	DISK(19, 1),
	F(23, K_BOOL, net.enabled),
	F(24, K_RAW, net.mode),
	F(25, K_LIST, net.allow),
	F(26, K_LIST, net.hosts),
	F(27, K_LIST, net.forwards),
	F(28, K_RAW, net.max_conns),
	F(29, K_RAW, net.conn_rate),
	F(30, K_BOOL, net.private_dns),
	F(31, K_RAW, net.publish),
	F(32, K_RAW, net.npublish),
	F(33, K_CHARS, net.resolver),
	F(34, K_BOOL, services),
	F(35, K_RAW, secret),
	F(36, K_RAW, log_level),
	F(37, K_BOOL, seccomp_probe),
	F(38, K_RAW, probe),
	/* > 0: the disk comes as an open fd (the number itself means
	 * nothing on the other side; ipc_cfg_take_fds replaces it) */
	F(39, K_RAW, disk[0].fd),
	F(40, K_RAW, disk[1].fd),
	F(41, K_RAW, nmounts),
	MOUNT(42, 0), MOUNT(46, 1), MOUNT(50, 2), MOUNT(54, 3),
	MOUNT(58, 4), MOUNT(62, 5), MOUNT(66, 6), MOUNT(70, 7),
	DISK(74, 2), DISK(78, 3), DISK(82, 4), DISK(86, 5),
	F(90, K_RAW, disk[2].fd), F(91, K_RAW, disk[3].fd),
	F(92, K_RAW, disk[4].fd), F(93, K_RAW, disk[5].fd),
	F(94, K_STR, disk[0].guest), F(95, K_STR, disk[1].guest),
	F(96, K_STR, disk[2].guest), F(97, K_STR, disk[3].guest),
	F(98, K_STR, disk[4].guest), F(99, K_STR, disk[5].guest),
	F(100, K_RAW, root_disk),
	F(101, K_STR, snapshot_path),	/* its fd comes last */
	F(102, K_RAW, vsock_cid),
	F(103, K_RAW, mac),
	F(104, K_BOOL, snap_check),
	F(105, K_RAW, snapshot_fd),	/* > 0: a snapshot fd follows */
	/* create_mb matters on the orchestrator's side only */
};
#undef MOUNT
#undef DISK
#undef F
#define CFG_MAX_ID 106

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Append one record; false when it does not fit. */
static bool put(uint8_t *buf, size_t cap, size_t *at, uint16_t id,
		const void *p, size_t len)
{
	uint32_t l = (uint32_t)len;
	uint16_t hdr[2] = { id, 0 };

	if (len > cap || *at + 8 > cap - len)
		return false;
	memcpy(buf + *at, hdr, 4);
	memcpy(buf + *at + 4, &l, 4);
	if (len)
		memcpy(buf + *at + 8, p, len);
	*at += 8 + len;
	return true;
}

ssize_t ipc_cfg_pack(const struct vm_cfg *c, uint8_t *buf, size_t cap)
{
	uint32_t magic = IPC_CFG_MAGIC;
	size_t at = 0;

	if (cap < 4)
		return -E2BIG;
	memcpy(buf, &magic, 4);
	at = 4;
	for (size_t i = 0; i < sizeof(cfg_fields) / sizeof(*cfg_fields); i++) {
		const struct cfg_field *f = &cfg_fields[i];
		const uint8_t *p = (const uint8_t *)c + f->off;
		bool ok = true;
		switch (f->kind) {
		case K_RAW:
		case K_BOOL:
			if (!all_zero(p, f->size))
				ok = put(buf, cap, &at, f->id, p, f->size);
			break;
		case K_CHARS: {
			size_t n = strnlen((const char *)p, f->size);
			if (n == f->size)
				return -EINVAL;
			if (n)
				ok = put(buf, cap, &at, f->id, p, n);
			break;
		}
		case K_STR: {
			const char *s;
			memcpy(&s, p, sizeof(s));
			if (s)
				ok = put(buf, cap, &at, f->id, s, strlen(s));
			break;
		}
		case K_LIST: {
			char *const *l;
			size_t n = 0, o = 0;
			memcpy(&l, p, sizeof(l));
			if (!l)
				break;
			for (size_t k = 0; l[k]; k++)
				n += strlen(l[k]) + 1;
			if (at + 8 + n > cap)
				return -E2BIG;
			ok = put(buf, cap, &at, f->id, NULL, 0);
			for (size_t k = 0; ok && l[k]; k++) {
				size_t s = strlen(l[k]) + 1;
				memcpy(buf + at + o, l[k], s);
				o += s;
			}
			uint32_t l32 = (uint32_t)n;
			memcpy(buf + at - 4, &l32, 4);
			at += n;
			break;
		}
		}
		if (!ok)
			return -E2BIG;
	}
	return (ssize_t)at;
}

static const struct cfg_field *field_by_id(uint16_t id)
{
	for (size_t i = 0; i < sizeof(cfg_fields) / sizeof(*cfg_fields); i++)
		if (cfg_fields[i].id == id)
			return &cfg_fields[i];
	return NULL;
}

static int unpack_list(char ***dst, const uint8_t *p, uint32_t len)
{
	const uint8_t *end = p + len;

	if (!len || end[-1])
		return -1;		/* the last entry must end in NUL */
	while (p < end) {
		size_t n = strlen((const char *)p);
		if (!n || vm_cfg_list_add(dst, (const char *)p) < 0)
			return -1;
		p += n + 1;
	}
	return 0;
}

int ipc_cfg_unpack(struct vm_cfg *c, const uint8_t *buf, size_t len,
		   char *err, size_t errlen)
{
	bool seen[CFG_MAX_ID] = { false };
	uint32_t magic;
	size_t at = 4;

	memset(c, 0, sizeof(*c));
	if (len < 4 || (memcpy(&magic, buf, 4), magic != IPC_CFG_MAGIC)) {
		snprintf(err, errlen, "configuration: bad magic");
		return -1;
	}
	while (at < len) {
		uint16_t hdr[2];
		uint32_t l;
		if (len - at < 8) {
			snprintf(err, errlen, "configuration: truncated record");
			goto bad;
		}
		memcpy(hdr, buf + at, 4);
		memcpy(&l, buf + at + 4, 4);
		at += 8;
		const struct cfg_field *f = field_by_id(hdr[0]);
		const uint8_t *p = buf + at;
		uint8_t *dst = f ? (uint8_t *)c + f->off : NULL;
		if (!f || hdr[1] || seen[f->id] || l > len - at) {
			snprintf(err, errlen, "configuration: field %u: %s",
				 hdr[0], !f || hdr[1] ? "unknown" :
				 seen[f->id] ? "repeated" : "truncated");
			goto bad;
		}
		seen[f->id] = true;
		at += l;
		bool ok = true;
		switch (f->kind) {
		case K_RAW:
			ok = l == f->size;
			if (ok)
				memcpy(dst, p, l);
			break;
		case K_BOOL:
			ok = l == 1 && *p <= 1;
			if (ok)
				*(bool *)dst = *p;
			break;
		case K_CHARS:
			ok = l < f->size && !memchr(p, '\0', l);
			if (ok)
				memcpy(dst, p, l), dst[l] = '\0';
			break;
		case K_STR: {
			char *s = NULL;
			ok = l <= VM_CMDLINE_MAX && !memchr(p, '\0', l) &&
			     (s = strndup((const char *)p, l));
			memcpy(dst, &s, sizeof(s));
			break;
		}
		case K_LIST: {
			char **lst = NULL;
			ok = unpack_list(&lst, p, l) == 0;
			memcpy(dst, &lst, sizeof(lst));
			break;
		}
		}
		if (!ok) {
			snprintf(err, errlen, "configuration: field %u: bad "
				 "value", f->id);
			goto bad;
		}
	}
	if (vm_cfg_check(c, err, errlen) < 0)
		goto bad;
	return 0;
bad:
	vm_cfg_free(c);
	return -1;
}

unsigned ipc_cfg_nfds(const struct vm_cfg *c)
{
	return (c->kernel_path ? 1u : 0u) +
	       (!c->no_initrd && (c->initrd_path || c->initrd_fd > 0) ? 1u : 0u) +
	       c->ndisks + c->nmounts + (c->services ? 1u : 0u) +
	       (c->snapshot_path || c->snapshot_fd > 0 ? 1u : 0u);
}

int ipc_cfg_take_fds(struct vm_cfg *c, const int *fds, unsigned nfds)
{
	unsigned k = 0;

	if (nfds != ipc_cfg_nfds(c))
		return -1;
	c->kernel_fd = c->kernel_path ? fds[k++] : 0;
	c->initrd_fd = !c->no_initrd && (c->initrd_path || c->initrd_fd > 0)
		       ? fds[k++] : 0;
	for (unsigned i = 0; i < c->ndisks; i++)
		c->disk[i].fd = fds[k++];
	for (unsigned i = 0; i < c->nmounts; i++)
		c->mount[i].fd = fds[k++];
	c->svc_fd = c->services ? fds[k++] : 0;
	c->snapshot_fd = c->snapshot_path || c->snapshot_fd > 0 ? fds[k++] : 0;
	return 0;
}
