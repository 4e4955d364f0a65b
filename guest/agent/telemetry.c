/* telemetry.c: periodic resource samples from /proc.
 *
 * TELEMETRY_SUB {interval_ms} is answered with OK, then a TELEMETRY frame
 * carrying the subscription's req_id arrives every interval until a SUB
 * with interval 0 (or the connection) ends it. One subscription per
 * connection: a new SUB replaces the old one. Intervals below 50 ms are
 * raised to 50 ms, the ABI minimum.
 *
 * Samples are the one lossy stream: when the connection's output is full
 * a tick is skipped rather than queued, since a stale sample is worth
 * nothing and the queue must stay bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define TELEMETRY_MIN_MS 50u

struct telesub {
	struct ev_watch timer;
	struct telesub *next;
	struct conn *conn;
	uint32_t id;
};

static struct telesub *subs;

/* Read a small /proc file into buf, NUL-terminated. 0 or -errno. */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int err = errno;
	close(fd);
	fd = -1;
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return 0;
}

/* The number after "key" at the start of a line, or 0. */
static uint64_t field(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, key, klen))
			return strtoull(p + klen, NULL, 10);
	}
	return 0;
}

static void sample(struct agent_telemetry *t)
{
	/* /proc/stat is a few KB with many CPUs; 16 KB is plenty for a
	 * micro-VM, and a truncated tail only loses fields we skip. */
	static char buf[16384];
	unsigned long long v[8] = { 0 };

	*t = (struct agent_telemetry){ .uptime_ns =
					       agent_now_ns(CLOCK_BOOTTIME) };
	if (read_small("/proc/stat", buf, sizeof(buf)) == 0) {
		/* cpu user nice system idle iowait irq softirq steal */
		sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		       &v[7]);
		t->cpu_user_ticks = v[0] + v[1];
		t->cpu_system_ticks = v[2] + v[5] + v[6];
		t->cpu_idle_ticks = v[3] + v[4];
		t->procs_running = (uint32_t)field(buf, "procs_running ");
	}
	if (read_small("/proc/meminfo", buf, sizeof(buf)) == 0) {
		t->mem_total_kb = field(buf, "MemTotal:");
		t->mem_available_kb = field(buf, "MemAvailable:");
	}
	if (read_small("/proc/loadavg", buf, sizeof(buf)) == 0) {
		/* "0.12 0.05 0.01 1/123 456" */
		unsigned l1i = 0, l1f = 0, running = 0, total = 0;
		if (sscanf(buf, "%u.%u %*s %*s %u/%u", &l1i, &l1f, &running,
			   &total) == 4) {
			t->load1_milli = l1i * 1000 + l1f * 10;
			t->procs_total = total;
		}
	}
}

static void telemetry_tick(struct ev_watch *w, uint32_t re)
{
	struct telesub *s = container_of(w, struct telesub, timer);
	struct agent_telemetry t;

	ev_timer_ack(w);
	if (!conn_out_room(s->conn))
		return;		/* skipped, not queued (see top) */
	sample(&t);
	conn_send(s->conn, AGENT_MSG_TELEMETRY, s->id, &t, sizeof(t), NULL,
		  0);
}

static void sub_free(struct telesub *s)
{
	for (struct telesub **pp = &subs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	ev_close(&s->timer);
	ev_defer(free, s);
}

void telemetry_conn_closed(struct conn *c)
{
	struct telesub *next;

	for (struct telesub *s = subs; s; s = next) {
		next = s->next;
		if (s->conn == c)
			sub_free(s);
	}
}

int telemetry_handle(struct conn *c, const struct agent_hdr *h,
		     const uint8_t *p)
{
	struct agent_telemetry_sub sub;

	if (h->len != sizeof(sub)) {
		conn_send_error(c, h->req_id, EINVAL,
				"TELEMETRY_SUB payload must be %zu bytes",
				sizeof(sub));
		return 0;
	}
	memcpy(&sub, p, sizeof(sub));
	telemetry_conn_closed(c);	/* replaces any earlier one */
	if (sub.interval_ms == 0) {
		conn_send_ok(c, h->req_id, NULL, 0);
		return 0;
	}
	uint32_t ms = sub.interval_ms < TELEMETRY_MIN_MS ? TELEMETRY_MIN_MS
							 : sub.interval_ms;
	struct telesub *s = malloc(sizeof(*s));
	int err = -ENOMEM;
	if (s) {
		*s = (struct telesub){ .conn = c, .id = h->req_id };
		ev_watch_init(&s->timer, -1, telemetry_tick);
		err = ev_timer_open(&s->timer, telemetry_tick);
	}
	if (!err)
		err = ev_timer_arm(&s->timer, ms, ms);
	if (err < 0) {
		if (s)
			ev_close(&s->timer);
		free(s);
		conn_send_error(c, h->req_id, -err, "telemetry: %s",
				strerror(-err));
		return 0;
	}
	s->next = subs;
	subs = s;
	conn_send_ok(c, h->req_id, NULL, 0);
	return 0;
}
