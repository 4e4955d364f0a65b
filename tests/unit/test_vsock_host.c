/* test_vsock_host.c: the VMM's vsock glue (host/vmm/vsock_host.c) and its
 * I/O loop (host/vmm/ioloop.c) with the real device model, driven past
 * 256 host fds by a hostile guest, under ASan/UBSan.
 *
 * The guest (a driver over malloc'ed RAM, tests/unit/vqdrv.h) floods
 * REQUESTs to the one port the host listens on. Each accepted REQUEST
 * costs the VMM a socketpair; the orchestrator's ends are kept open here,
 * as a gateway does until it gets to them, so fd numbers climb past 64,
 * 128 and 256. Then the orchestrator writes to the *earliest* connection
 * and the real io_loop delivers the event through the handler argument
 * that was registered first. Security review H1: that argument used to
 * point into a per-fd table that realloc had since moved (ASan:
 * heap-use-after-free). The bytes must reach the guest instead.
 *
 * Only what needs KVM is stubbed: the virtio-mmio bus (vbus_*) and the
 * VM's stop request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "vqdrv.h"
#include "../../host/devices/vsock.h"
#include "../../host/vmm/vmm.h"

#define LISTEN_PORT 1025u
#define SRC_BASE    5000u
#define NCONNS      VSOCK_MAX_CONNS
#define RXBUF 0x200000u
#define TXBUF 0x300000u

static struct ram ram;
static struct drvq rxq, txq;
static struct vm *vm;
static int orch[NCONNS];
static unsigned norch;

/* ---- stubs for what needs KVM --------------------------------------- */

int vbus_add(struct vm *v, struct virtio_dev *dev,
	     void (*kick)(void *impl, unsigned q), void *impl)
{
	return 0;
}

void vbus_rekick(struct vm *v, struct virtio_dev *dev, unsigned q)
{
}

uint64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vm_request_stop(struct vm *v, enum vm_exit why, const char *fmt, ...)
{
	atomic_store(&v->stopping, true);
}

/* ---- the orchestrator's side (vm_hooks) ------------------------------ */

static bool h_listens(void *ctx, uint32_t port)
{
	return port == LISTEN_PORT;
}

static int h_guest_conn(void *ctx, uint32_t port, int fd)
{
	if (norch == NCONNS)
		return -1;
	orch[norch++] = fd;	/* kept open: fds keep climbing */
	return 0;
}

/* ---- the hostile guest ----------------------------------------------- */

static void post_rx(void)
{
	static unsigned slot;

	while ((uint16_t)(rxq.avail_idx - rxq.used_seen) < 64) {
		uint64_t a[1] = { RXBUF + 4096ull * (slot++ % 64) };
		uint32_t l[1] = { 4096 };
		int w[1] = { 1 };
		drvq_add(&rxq, a, l, w, 1);
	}
	vsock_queue_kick(vm->vsock, 0);
}

static void send_tx(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	static unsigned slot;
	uint64_t at = TXBUF + 256ull * (slot++ % 64);
	struct virtio_vsock_hdr h = {
		.src_cid = VSOCK_GUEST_CID, .dst_cid = VSOCK_HOST_CID,
		.src_port = src_port, .dst_port = dst_port, .type = 1,
		.op = op, .buf_alloc = 65536 };
	memcpy(ram.base + at, &h, sizeof(h));
	uint64_t a[1] = { at };
	uint32_t l[1] = { (uint32_t)sizeof(h) };
	int w[1] = { 0 };
	drvq_add(&txq, a, l, w, 1);
	vsock_queue_kick(vm->vsock, 1);
}

/* Drain rx; true if an RW packet with `want` came from the listened
 * port to guest port `dst`. */
static bool rx_has(uint32_t dst, const char *want)
{
	bool seen = false;
	uint32_t len;
	int id;

	while ((id = drvq_used(&rxq, &len)) >= 0) {
		struct virtio_vsock_hdr h;
		uint64_t at = ((struct vdesc *)(ram.base + rxq.desc))[id].addr;
		memcpy(&h, ram.base + at, sizeof(h));
		if (h.op == VIRTIO_VSOCK_OP_RW && h.dst_port == dst &&
		    h.src_port == LISTEN_PORT && h.len == strlen(want) &&
		    !memcmp(ram.base + at + sizeof(h), want, h.len))
			seen = true;
	}
	post_rx();
	return seen;
}

int main(void)
{
	static struct vm_cfg vc = { .name = "test", .timeout_ms = 300 };
	static struct vm_config cfg = { .vc = &vc };
	struct rlimit rl = { 4096, 4096 };
	struct vsock_stats st;

	setrlimit(RLIMIT_NOFILE, &rl);	/* 2 fds per connection */
	ram_init(&ram);
	vm = calloc(1, sizeof(*vm));
	*vm = (struct vm){ .cfg = &cfg, .epfd = -1, .gmem = &ram.gm,
			   .hooks = { .listens = h_listens,
				      .guest_conn = h_guest_conn } };
	CHECK("vsock-host-io-init", io_init(vm) == 0);
	CHECK("vsock-host-init", vsock_host_init(vm) == 0);
	struct virtio_dev *d = vsock_virtio(vm->vsock);
	d->status = 0xf;	/* ACK|DRIVER|DRIVER_OK|FEATURES_OK */
	drvq_init(&rxq, &ram, &d->vqs[0], 0x10000, 128);
	drvq_init(&txq, &ram, &d->vqs[1], 0x20000, 128);
	post_rx();

	/* The flood: every REQUEST the device accepts is a new socketpair. */
	for (unsigned i = 0; i < NCONNS; i++) {
		send_tx(VIRTIO_VSOCK_OP_REQUEST, SRC_BASE + i, LISTEN_PORT);
		rx_has(0, "");	/* take the RESPONSEs */
	}
	vsock_get_stats(vm->vsock, &st);
	int top = orch[norch ? norch - 1 : 0];
	printf("info: %u connections, highest orchestrator fd %d\n",
	       st.live_conns, top);
	CHECK("vsock-host-flood-accepted", st.live_conns == NCONNS &&
	      norch == NCONNS);
	CHECK("vsock-host-past-256-fds", top > 256);

	/* The orchestrator answers on the first connection: its VMM fd was
	 * registered before every growth of the fd tables. */
	CHECK("vsock-host-orch-write", write(orch[0], "early", 5) == 5);
	vc.timeout_ms = 300;
	vm->t_start_ns = vm_now_ns();
	io_loop(vm);	/* delivers the event, then times out */
	CHECK("vsock-host-earliest-conn-event", rx_has(SRC_BASE, "early"));

	/* And the latest one, for symmetry. */
	CHECK("vsock-host-orch-write-last",
	      write(orch[NCONNS - 1], "late", 4) == 4);
	atomic_store(&vm->stopping, false);
	vm->t_start_ns = vm_now_ns();
	io_loop(vm);
	CHECK("vsock-host-latest-conn-event",
	      rx_has(SRC_BASE + NCONNS - 1, "late"));

	vsock_host_fini(vm);
	for (unsigned i = 0; i < norch; i++)
		close(orch[i]);
	io_fini(vm);
	free(vm);
	free(ram.base);
	printf("vsock_host: %d passed, %d failed\n", t_pass, t_fail);
	return t_fail != 0;
}
