/* resume.c: give a restored VM its own identity (AGENT_MSG_RESUME).
 *
 * A box restored from a snapshot holds the snapshot's session secret
 * (box_restore_secret): it authenticates with it once, sends the clone's
 * own secret, RNG seed, wall clock, hostname and MAC, and from then on
 * only the new secret opens the agent. The first connection may meet
 * the vsock transport reset the restore posted (the guest drops every
 * connection it had, and can catch ours in the same sweep): that one is
 * retried, within the timeout.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "agent.h"
#include "../box/box.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int send_resume(struct agent_conn *c, const struct agent_resume *r)
{
	struct agent_hdr h;
	uint32_t req = agent_new_req(c);

	if (agent_send(c, AGENT_MSG_RESUME, req, r, sizeof(*r), NULL, 0) < 0)
		return -1;
	int n = agent_recv(c, &h, 30000);
	if (n <= 0)
		return n < 0 ? -1 : agent_fail(c, ECONNRESET, "agent closed "
					       "the connection");
	if (h.type == AGENT_MSG_ERROR) {
		char msg[200];
		int e = agent_error_of(c, &h, msg, sizeof(msg));
		return agent_fail(c, e, "resume refused: %s", msg);
	}
	if (h.type != AGENT_MSG_OK || h.req_id != req)
		return agent_fail(c, EPROTO, "unexpected reply to RESUME "
				  "(type %u)", h.type);
	return 0;
}

int agent_resume(struct box *b, const char *hostname, const uint8_t *mac,
		 uint16_t gw_port, unsigned timeout_ms, char *err,
		 size_t errlen)
{
	struct agent_resume r = { 0 };
	struct timespec now;
	uint64_t deadline = mono_ms() + timeout_ms;
	unsigned tries = 0;

	if (getrandom(r.secret, sizeof(r.secret), 0) != sizeof(r.secret) ||
	    getrandom(r.seed, sizeof(r.seed), 0) != sizeof(r.seed)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	r.unix_ns = (uint64_t)now.tv_sec * 1000000000ull +
		    (uint64_t)now.tv_nsec;
	snprintf(r.hostname, sizeof(r.hostname), "%s",
		 hostname ? hostname : "");
	r.gw_port = gw_port;
	if (mac) {
		r.flags |= AGENT_RESUME_MAC;
		memcpy(r.mac, mac, 6);
	}
	for (;;) {
		struct agent_conn c;
		tries++;
		int rc = agent_open(&c, b, timeout_ms);
		if (rc == 0)
			rc = send_resume(&c, &r);
		int cause = c.cause;
		if (rc == 0) {
			agent_close(&c);
			memcpy(b->secret, r.secret, sizeof(b->secret));
			explicit_bzero(&r, sizeof(r));
			return 0;
		}
		snprintf(err, errlen, "resume: %s", c.err);
		agent_close(&c);
		bool reset = cause == -ECONNRESET || cause == -EPIPE ||
			     cause == -ECONNREFUSED;
		if (!reset || mono_ms() >= deadline || tries >= 20 ||
		    b->state == BOX_EXITED)
			break;
		poll(NULL, 0, 10);
	}
	explicit_bzero(&r, sizeof(r));
	return -1;
}
