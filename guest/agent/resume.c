/* resume.c: AGENT_MSG_RESUME — the first thing a clone hears.
 *
 * Every VM restored from one snapshot starts with the same memory: the
 * same session secret, the same RNG state, the same clock, hostname and
 * MAC. The host sends each clone its own (proto/agent_abi.h); until this
 * runs, nothing in the clone is its own. The RNG matters most: two clones
 * must never hand out the same random bytes (keys, nonces, temp names),
 * so the host's seed is mixed in with entropy credit and the kernel is
 * told to reseed its CRNG now rather than at its next scheduled reseed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static int reseed(const uint8_t *seed, size_t len)
{
	struct {
		struct rand_pool_info info;
		uint8_t buf[64];
	} e = { .info = { .entropy_count = (int)len * 8,
			  .buf_size = (int)len } };
	int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	memcpy(e.buf, seed, len);
	if (ioctl(fd, RNDADDENTROPY, &e) < 0 ||
	    ioctl(fd, RNDRESEEDCRNG) < 0)
		rc = -errno;
	explicit_bzero(&e, sizeof(e));
	close(fd);
	return rc;
}

static int set_mac(const uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (s < 0)
		return -errno;
	strcpy(ifr.ifr_name, "eth0");
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
		rc = -errno;
	close(s);
	return rc;
}

int resume_handle(struct conn *c, const struct agent_hdr *h, const uint8_t *p)
{
	struct agent_resume r;
	int err;

	if (agent.test_mode) {
		/* Not our machine's clock, hostname, RNG or NIC to change. */
		conn_send_error(c, h->req_id, EPERM, "RESUME is for a VM's "
				"agent, not one in test mode");
		return 0;
	}
	if (h->len != sizeof(r)) {
		conn_send_error(c, h->req_id, EINVAL, "RESUME of %u bytes",
				h->len);
		return 0;
	}
	memcpy(&r, p, sizeof(r));
	if (!memchr(r.hostname, '\0', sizeof(r.hostname)) ||
	    (r.flags & ~AGENT_RESUME_MAC) || (r.mac[0] & 1)) {
		conn_send_error(c, h->req_id, EINVAL, "bad RESUME");
		return 0;
	}
	if (policy_resume() < 0) {
		conn_send_error(c, h->req_id, EPERM, "RESUME after a POLICY: "
				"a clone is told who it is first");
		return 0;
	}
	if ((err = reseed(r.seed, sizeof(r.seed))) < 0) {
		/* A clone that cannot diverge from its siblings must not
		 * run: refuse, the host stops it. */
		conn_send_error(c, h->req_id, -err, "RNG reseed: %s",
				strerror(-err));
		return 0;
	}
	struct timespec ts = { .tv_sec = (time_t)(r.unix_ns / 1000000000ull),
			       .tv_nsec = (long)(r.unix_ns % 1000000000ull) };
	if (r.unix_ns && clock_settime(CLOCK_REALTIME, &ts) < 0)
		agent_warn("resume: clock_settime: %s", strerror(errno));
	if (r.hostname[0] &&
	    sethostname(r.hostname, strlen(r.hostname)) < 0)
		agent_warn("resume: sethostname: %s", strerror(errno));
	if ((r.flags & AGENT_RESUME_MAC) && (err = set_mac(r.mac)) < 0 &&
	    err != -ENODEV)
		agent_warn("resume: eth0 MAC: %s", strerror(-err));
	if (r.gw_port && (err = relay_listen(r.gw_port)) < 0) {
		conn_send_error(c, h->req_id, -err, "gateway relay on port "
				"%u: %s", r.gw_port, strerror(-err));
		return 0;
	}
	memcpy(agent.secret, r.secret, sizeof(agent.secret));
	agent.have_secret = 1;
	explicit_bzero(&r, sizeof(r));
	agent_log("resumed from a snapshot");
	return conn_send_ok(c, h->req_id, NULL, 0);
}
