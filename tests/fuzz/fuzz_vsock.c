/* fuzz_vsock.c: libFuzzer target — the vsock device model fed arbitrary
 * guest packets on its tx queue (valid rings, hostile contents), with host
 * connections opened and host-side reads/writes interleaved as the input
 * says. Nothing may crash, leak or grow without bound. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../host/devices/vsock.h"
#include "../../host/util/util.h"

#define RAM (1u << 20)
#define QSZ 64
#define RXQ_AT 0x1000
#define TXQ_AT 0x3000
#define BUFS 0x10000

static uint8_t *ram;
static int fds[VSOCK_MAX_CONNS * 2];
static unsigned nfds;
static void *tags[16];
static unsigned ntags;

static void *ptr(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	if (gpa > RAM || len > RAM - gpa)
		return NULL;
	return ram + gpa;
}

static void b_watch(void *c, int fd, bool rd, bool wr, void *tag)
{
	tags[ntags++ % 16] = tag;
}
static void b_unwatch(void *c, int fd) {}
static void b_connected(void *c, uint32_t cookie, int fd, int err)
{
	if (fd >= 0 && nfds < sizeof(fds) / sizeof(fds[0]))
		fds[nfds++] = fd;
	else if (fd >= 0)
		close(fd);
}
static void b_knock(void *c, uint32_t port) {}
static void b_rekick(void *c, unsigned q) {}

static const struct vsock_backend_ops ops = {
	.watch = b_watch, .unwatch = b_unwatch, .connected = b_connected,
	.guest_knock = b_knock, .rekick = b_rekick,
};

struct ring {
	uint64_t desc, avail, used;
	uint16_t idx;
};

static void ring_init(struct virtq *q, struct ring *r, uint64_t at)
{
	*r = (struct ring){ .desc = at, .avail = at + 16 * QSZ,
			    .used = at + 16 * QSZ + 512 };
	*q = (struct virtq){ .size = QSZ, .ready = true, .desc_gpa = r->desc,
			     .avail_gpa = r->avail, .used_gpa = r->used };
}

static void ring_add(struct ring *r, uint64_t addr, uint32_t len, int write)
{
	uint16_t d = r->idx % QSZ;
	uint8_t *p = ram + r->desc + 16ull * d;
	uint16_t flags = write ? 2 : 0, next = 0;
	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
	uint16_t *av = (uint16_t *)(ram + r->avail);
	av[2 + r->idx % QSZ] = d;
	r->idx++;
	av[1] = r->idx;
}

/* Guest errors are expected by the thousand here: keep the log quiet. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_QUIET);
	/* As in the VMM (vmm_main.c): a closed peer is EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gmem gm = { .ptr = ptr };
	struct ring rx, tx;

	if (!ram)
		ram = malloc(RAM);
	memset(ram, 0, RAM);
	nfds = ntags = 0;
	struct vsock_dev *v = vsock_new(&gm, &ops, NULL);
	struct virtio_dev *d = vsock_virtio(v);
	d->status = 0xf;
	ring_init(&d->vqs[0], &rx, RXQ_AT);
	ring_init(&d->vqs[1], &tx, TXQ_AT);
	for (int i = 0; i < 16; i++)
		ring_add(&rx, BUFS + 4096ull * i, 4096, 1);
	vsock_connect(v, 1024, 1);

	/* Input: records of [op:1][len:2][bytes...]. */
	size_t pos = 0;
	unsigned slot = 0;
	while (pos + 3 <= size) {
		uint8_t op = data[pos];
		uint16_t len;
		memcpy(&len, data + pos + 1, 2);
		pos += 3;
		len = (uint16_t)(len % 2048);
		if (len > size - pos)
			len = (uint16_t)(size - pos);
		switch (op % 6) {
		case 0:	/* a guest tx packet with these raw bytes */
		case 1: {
			uint64_t at = BUFS + 0x20000 + 4096ull * (slot++ % 32);
			memcpy(ram + at, data + pos, len);
			ring_add(&tx, at, len, 0);
			vsock_queue_kick(v, 1);
			break;
		}
		case 2:	/* the guest posts more rx buffers */
			for (int i = 0; i < 4; i++)
				ring_add(&rx, BUFS + 4096ull * (slot++ % 16),
					 (uint32_t)(len % 4096), 1);
			vsock_queue_kick(v, 0);
			break;
		case 3:	/* the host writes into a connection */
			if (nfds)
				(void)!write(fds[len % nfds], data + pos, len);
			for (unsigned i = 0; i < ntags && i < 16; i++)
				vsock_fd_event(v, tags[i], true, true);
			break;
		case 4:	/* the host opens another connection */
			vsock_connect(v, len, len);
			break;
		case 5:	/* the host reads what it was sent */
			if (nfds) {
				uint8_t buf[4096];
				(void)!read(fds[len % nfds], buf, sizeof(buf));
			}
			break;
		}
		pos += len;
	}
	vsock_free(v);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return 0;
}
