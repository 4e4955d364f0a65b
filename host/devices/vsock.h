/* vsock.h: the virtio-vsock device model and its host-side backend
 * interface (included through devices.h users that need vsock).
 *
 * The host end of every guest connection terminates in the VMM as one end
 * of a unix socketpair; the other end goes to the orchestrator, which then
 * speaks the agent protocol (host-initiated) or serves the guest's request
 * (guest-initiated, e.g. the LLM gateway) over a plain byte stream. No
 * /dev/vhost-vsock.
 */
#ifndef VOIDBOX_VSOCK_H
#define VOIDBOX_VSOCK_H

#include "devices.h"

#define VSOCK_HOST_CID  2u
#define VSOCK_GUEST_CID 3u
#define VSOCK_MAX_CONNS 256	/* live connections per VM */
#define VSOCK_BUF_ALLOC (256u << 10)	/* our receive window per conn */

struct vsock_dev;

/* What the VMM provides to the model. All called on the I/O thread with
 * the device lock held; they must not call back into the model. */
struct vsock_backend_ops {
	/* Start/stop watching fd; the model gets vsock_fd_event(tag). The
	 * tag is the model's connection: valid until unwatch(fd), so the
	 * backend may keep it as is (and must not copy it anywhere that
	 * moves). */
	void (*watch)(void *ctx, int fd, bool rd, bool wr, void *tag);
	void (*unwatch)(void *ctx, int fd);
	/* A host-initiated connection finished: fd >= 0 is the
	 * orchestrator's end (ownership passes to the callee), or err > 0. */
	void (*connected)(void *ctx, uint32_t cookie, int fd, int err);
	/* The guest tried to connect to host port `port` (refused). The
	 * agent does this once to say "ready". */
	void (*guest_knock)(void *ctx, uint32_t port);
	/* Optional: does the host accept guest connections on `port`? If
	 * so the model answers the REQUEST and hands the orchestrator's end
	 * of a new socketpair to guest_connected (ownership passes on 0;
	 * on -1 the model closes it and resets the connection). */
	bool (*host_listens)(void *ctx, uint32_t port);
	int (*guest_connected)(void *ctx, uint32_t port, int orch_fd);
	/* Call vsock_queue_kick(q) again soon, from the I/O loop (used for
	 * register-path notifies and to yield after a tx budget). */
	void (*rekick)(void *ctx, unsigned q);
};

struct vsock_dev *vsock_new(const struct gmem *mem,
			    const struct vsock_backend_ops *ops, void *ctx);
void vsock_free(struct vsock_dev *v);
struct virtio_dev *vsock_virtio(struct vsock_dev *v);

/* Begin a connection to guest port `port`; `cookie` is handed back in
 * ops->connected. Returns 0 or -errno (too many connections). */
int vsock_connect(struct vsock_dev *v, uint32_t port, uint32_t cookie);
/* I/O thread: the driver kicked queue q / a watched fd became ready. */
void vsock_queue_kick(struct vsock_dev *v, unsigned q);
void vsock_fd_event(struct vsock_dev *v, void *tag, bool rd, bool wr);
/* The guest's CID (default VSOCK_GUEST_CID; set before the guest runs).
 * vsock_restored: the device was loaded from a snapshot taken when the
 * guest had the CID in extra: its connections there are gone, so the driver gets
 * a transport reset event (it drops them all and re-reads the CID), and
 * old_cid stays accepted from it meanwhile. I/O thread. */
void vsock_set_cid(struct vsock_dev *v, uint32_t cid);
/* What a snapshot keeps of the device beyond its transport (the CID, the
 * next host port), and what the restore gives back. */
uint64_t vsock_save_extra(struct vsock_dev *v);
void vsock_restored(struct vsock_dev *v, uint64_t extra);
/* Reset all connections (device reset or VM stop). */
void vsock_reset_all(struct vsock_dev *v);

/* Counters for tests and telemetry. */
struct vsock_stats {
	uint64_t rx_pkts, tx_pkts, rx_bytes, tx_bytes;
	uint64_t bad_pkts, rst_sent, conns_opened;
	unsigned live_conns;
};
void vsock_get_stats(struct vsock_dev *v, struct vsock_stats *st);

#endif
