/* ev.c: the agent's one event loop (STYLE R22, Redis ae.c scale).
 *
 * Level-triggered epoll over struct ev_watch, which owners embed. Two
 * rules keep it safe without reference counting:
 *
 *  - ev_close() deregisters before closing. A forked child briefly holds
 *    copies of every fd; epoll keys registrations on the open file, so
 *    closing without EPOLL_CTL_DEL would leave a live registration that
 *    reports events for a freed watch.
 *  - Owners are freed through ev_defer(), after the batch of events that
 *    epoll_wait returned has been handled, because a later event in the
 *    same batch may still point at them. A closed watch has fd -1 and its
 *    pending events are skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent.h"

#define EV_BATCH 64

struct deferred {
	ev_free_fn *fn;
	void *p;
};

static int epfd = -1;
static struct deferred *dfr;
static size_t ndfr, capdfr;

int ev_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -errno : 0;
}

void ev_watch_init(struct ev_watch *w, int fd, ev_fn *fn)
{
	*w = (struct ev_watch){ .fd = fd, .events = 0, .fn = fn };
}

int ev_set(struct ev_watch *w, uint32_t events)
{
	if (w->fd < 0 || events == w->events)
		return 0;
	struct epoll_event ee = { .events = events, .data.ptr = w };
	int op = !w->events ? EPOLL_CTL_ADD
			    : events ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
	if (epoll_ctl(epfd, op, w->fd, &ee) < 0) {
		int err = errno;
		agent_warn("epoll_ctl fd %d: %s", w->fd, strerror(err));
		return -err;
	}
	w->events = events;
	return 0;
}

void ev_close(struct ev_watch *w)
{
	if (w->fd < 0)
		return;
	ev_set(w, 0);
	close(w->fd);
	w->fd = -1;
}

void ev_defer(ev_free_fn *fn, void *p)
{
	if (ndfr == capdfr) {
		size_t cap = capdfr ? capdfr * 2 : 16;
		struct deferred *n = realloc(dfr, cap * sizeof(*n));
		if (!n) {
			/* Freeing now could be a use-after-free; leaking
			 * one object is the lesser harm for PID 1. */
			agent_warn("out of memory; leaking %p", p);
			return;
		}
		dfr = n;
		capdfr = cap;
	}
	dfr[ndfr++] = (struct deferred){ .fn = fn, .p = p };
}

int ev_timer_open(struct ev_watch *w, ev_fn *fn)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	ev_watch_init(w, fd, fn);
	int err = ev_set(w, EPOLLIN);
	if (err < 0)
		ev_close(w);
	return err;
}

int ev_timer_arm(struct ev_watch *w, uint32_t ms, uint32_t interval_ms)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000 },
		.it_interval = { .tv_sec = interval_ms / 1000,
				 .tv_nsec = (long)(interval_ms % 1000) *
					    1000000 },
	};
	if (timerfd_settime(w->fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

void ev_timer_ack(struct ev_watch *w)
{
	uint64_t n;

	/* EAGAIN is fine: the expiry was already consumed. */
	(void)!read(w->fd, &n, sizeof(n));
}

static void run_deferred(void)
{
	/* A free function may defer more; the loop picks that up too. */
	while (ndfr) {
		struct deferred d = dfr[--ndfr];
		d.fn(d.p);
	}
}

void ev_run(void (*before_sleep)(void))
{
	struct epoll_event evs[EV_BATCH];

	for (;;) {
		if (before_sleep)
			before_sleep();
		run_deferred();
		int n = epoll_wait(epfd, evs, EV_BATCH, -1);
		if (n < 0) {
			if (errno != EINTR)
				agent_warn("epoll_wait: %s", strerror(errno));
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct ev_watch *w = evs[i].data.ptr;
			/* Closed or paused earlier in this batch. */
			if (w->fd < 0 || !w->events)
				continue;
			uint32_t re = evs[i].events &
				      (w->events | EPOLLERR | EPOLLHUP);
			if (re)
				w->fn(w, re);
		}
		run_deferred();
	}
}
