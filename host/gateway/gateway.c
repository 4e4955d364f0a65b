/* gateway.c: the per-VM LLM gateway — API keys never enter the guest.
 *
 * One accept thread per VM reads guest connections off the box's service
 * channel (the VMM passes each as an fd; box_svc_recv) and gives
 * each its own handler thread, at most GW_MAX_CONNS at once. A handler
 * serves exactly one request (relay.c):
 *
 *   1. read and parse the request head (bounded, strict: http.c);
 *   2. check the per-VM token (x-api-key or Authorization: Bearer), in
 *      constant time; refuse with 401 otherwise;
 *   3. refuse with 403 what the agent never needs: only the provider's
 *      API surface is forwarded (surface.c);
 *   4. read the body within this VM's and this run's memory bound, and
 *      read its model and max_tokens the way the upstream will
 *      (reqbody.c);
 *   5. reserve what it may spend against the budget, or refuse with 403;
 *   6. forward it with the real credential instead of the token, and
 *      stream the answer back, never releasing bytes that contain the
 *      credential (keyscan.c), counting tokens on the side; settle.
 *
 * This file: the lifecycle (start, accept, handlers, stop) and the policy
 * state shared by a VM's handlers (stats, refusals, memory, budgets).
 * Errors the guest sees are in the Anthropic error shape, so claude-code
 * reports them as API errors with our message in them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "../box/box.h"
#include "../llm/llm.h"
#include "../util/util.h"
#include "agent_abi.h"

#define GW_LOG_MAX 20		/* refusal lines per VM; the count goes on */

int gateway_parse_url(const char *url, struct gw_upstream *up, char *err,
		      size_t errlen)
{
	const char *p;

	if (!strncmp(url, "http://", 7)) {
		up->https = false;
		p = url + 7;
	} else if (!strncmp(url, "https://", 8)) {
		up->https = true;
		p = url + 8;
	} else {
		snprintf(err, errlen, "base_url '%s': must start with http:// "
			 "or https://", url);
		return -1;
	}
	size_t hl = strcspn(p, ":/");
	if (!hl || hl >= sizeof(up->host)) {
		snprintf(err, errlen, "base_url '%s': bad host", url);
		return -1;
	}
	memcpy(up->host, p, hl);
	up->host[hl] = '\0';
	p += hl;
	snprintf(up->port, sizeof(up->port), "%s", up->https ? "443" : "80");
	if (*p == ':') {
		size_t pl = strspn(p + 1, "0123456789");
		int port = atoi(p + 1);
		if (!pl || pl > 5 || port < 1 || port > 65535) {
			snprintf(err, errlen, "base_url '%s': bad port", url);
			return -1;
		}
		snprintf(up->port, sizeof(up->port), "%d", port);
		p += 1 + pl;
	}
	if (*p && *p != '/') {
		snprintf(err, errlen, "base_url '%s': bad path", url);
		return -1;
	}
	snprintf(up->prefix, sizeof(up->prefix), "%s", p);
	size_t l = strlen(up->prefix);
	if (l && up->prefix[l - 1] == '/')
		up->prefix[l - 1] = '\0';	/* targets start with '/' */
	return 0;
}

/* ---- policy shared by a VM's handlers --------------------------------- */

bool gw_token_ok(const struct gateway *g, const struct http_head *rq)
{
	const char *k = http_header(rq, "x-api-key");
	const char *a = http_header(rq, "authorization");

	if (!k && a && !strncasecmp(a, "Bearer ", 7))
		k = a + 7;
	if (!k || strlen(k) != strlen(g->token))
		return false;
	unsigned char d = 0;
	for (size_t i = 0; g->token[i]; i++)
		d |= (unsigned char)(k[i] ^ g->token[i]);
	return d == 0;
}

void gw_note_error(struct gateway *g, unsigned *counter, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&g->lock);
	(*counter)++;
	va_start(ap, fmt);
	vsnprintf(g->st.last_error, sizeof(g->st.last_error), fmt, ap);
	va_end(ap);
	log_debug("gateway %s: %s", g->name, g->st.last_error);
	pthread_mutex_unlock(&g->lock);
}

void gw_note_event(struct gateway *g, unsigned *counter, const char *kind,
		   const char *method, const char *target, const char *reason)
{
	struct gw_event ev = { 0 };
	char src[80];

	ev.unix_ns = wall_ns();
	snprintf(ev.kind, sizeof(ev.kind), "%s", kind);
	gw_printable(ev.method, sizeof(ev.method), method, 12);
	gw_printable(ev.path, sizeof(ev.path), target, 60);
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
	snprintf(src, sizeof(src), "vm:%s", g->name);
	pthread_mutex_lock(&g->lock);
	(*counter)++;
	if (g->st.nevents < GW_EVENTS_MAX)
		g->st.events[g->st.nevents++] = ev;
	snprintf(g->st.last_error, sizeof(g->st.last_error),
		 "gateway: %s %s %s (%s)", kind, ev.method, ev.path, reason);
	/* A guest refused in a loop must not flood the log: the first
	 * GW_LOG_MAX lines, then one note; the counter keeps counting. */
	unsigned n = ++g->logged;
	pthread_mutex_unlock(&g->lock);
	if (n <= GW_LOG_MAX)
		log_say(src, "gateway: %s %s %s (%s)", kind, ev.method, ev.path,
			reason);
	else if (n == GW_LOG_MAX + 1)
		log_say(src, "gateway: further refusals counted, not logged");
}

/* Both bounds or neither: the VM's own pool first, then the run's. */
bool gw_body_take(struct gateway *g, uint64_t n)
{
	if (!gw_pool_take(&g->mem, n))
		return false;
	if (gw_pool_take(g->pool, n))
		return true;
	gw_pool_give(&g->mem, n);
	return false;
}

void gw_body_give(struct gateway *g, uint64_t n)
{
	gw_pool_give(g->pool, n);
	gw_pool_give(&g->mem, n);
}

/* A request may spend its max_tokens of output plus its input; the input
 * is not known before the reply, so it is estimated at 4 bytes of body
 * per token (English JSON runs 3.5-4.5). Admission: while what is used
 * plus what admitted requests may still use is below the budget. So
 * concurrent requests see each other; the budget is overrun only by the
 * last admitted request and by how far requests in flight exceed their
 * reservations (output cannot: max_tokens caps it; input can, by the
 * estimate's error). Input at body bytes per token would be a true bound
 * but would refuse claude-code's parallel requests long before a budget
 * is near spent (a 60 KB turn would reserve 60k tokens). */
bool gw_budget_admit(struct gateway *g, const struct gw_req_info *ri,
		     size_t body_len, struct gw_resv *rv, char *why,
		     size_t len)
{
	uint64_t in = body_len / 4 + 1;
	bool ok = true;

	*rv = (struct gw_resv){ .tokens = in + ri->max_tokens };
	snprintf(rv->model, sizeof(rv->model), "%s", ri->model);
	rv->usd = gw_est_cost(ri->model, in, ri->max_tokens);
	pthread_mutex_lock(&g->lock);
	uint64_t used = g->st.input_tokens + g->st.output_tokens;
	if (g->budget.max_tokens &&
	    used + g->resv_tokens >= g->budget.max_tokens) {
		snprintf(why, len, "token budget exhausted (%llu of %llu "
			 "tokens used, %llu reserved by requests in flight)",
			 (unsigned long long)used,
			 (unsigned long long)g->budget.max_tokens,
			 (unsigned long long)g->resv_tokens);
		ok = false;
	} else if (g->budget.max_usd > 0 &&
		   g->st.est_usd + g->resv_usd >= g->budget.max_usd) {
		snprintf(why, len, "cost budget exhausted (~$%.4f of $%.4f, "
			 "~$%.4f reserved by requests in flight)",
			 g->st.est_usd, g->budget.max_usd, g->resv_usd);
		ok = false;
	}
	if (ok) {
		g->resv_tokens += rv->tokens;
		g->resv_usd += rv->usd;
		snprintf(g->st.model, sizeof(g->st.model), "%s", ri->model);
	}
	pthread_mutex_unlock(&g->lock);
	return ok;
}

void gw_budget_settle(struct gateway *g, const struct gw_resv *rv,
		      const struct usage_scan *us, int status,
		      uint64_t our_ns)
{
	uint64_t in = us->input + us->cache_creation + us->cache_read;
	uint64_t out = us->output;
	double usd = gw_est_cost(rv->model, us->input + us->cache_creation,
				 us->output) +
		     gw_est_cost(rv->model, us->cache_read, 0) / 10;

	/* An answered request whose closing usage we never saw may have
	 * cost up to its reservation: charge that, never nothing. */
	if (rv->free)
		in = out = 0, usd = 0;	/* count_tokens: not billed */
	else if (status == 200 && !us->final) {
		if (in + out < rv->tokens)
			out = rv->tokens - in;
		if (usd < rv->usd)
			usd = rv->usd;
	}
	pthread_mutex_lock(&g->lock);
	g->resv_tokens -= rv->tokens <= g->resv_tokens ? rv->tokens
						       : g->resv_tokens;
	g->resv_usd = g->resv_usd > rv->usd ? g->resv_usd - rv->usd : 0;
	if (status == 200)
		g->st.ok++;
	else if (status > 0)
		snprintf(g->st.last_error, sizeof(g->st.last_error),
			 "upstream answered %d", status);
	g->st.input_tokens += in;
	g->st.output_tokens += out;
	g->st.cache_creation += us->cache_creation;
	g->st.cache_read += us->cache_read;
	g->st.est_usd += usd;
	g->st.overhead_ns_sum += our_ns;
	if (our_ns > g->st.overhead_ns_max)
		g->st.overhead_ns_max = our_ns;
	pthread_mutex_unlock(&g->lock);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void *handler_main(void *arg)
{
	struct gw_handler *h = arg;
	struct gateway *g = h->g;

	gw_serve(h);
	pthread_mutex_lock(&g->lock);
	for (struct gw_handler **pp = &g->active; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	if (h->tls)
		tls_close(h->tls);	/* closes ufd */
	else if (h->ufd >= 0)
		close(h->ufd);
	close(h->cfd);
	g->nactive--;
	pthread_cond_broadcast(&g->idle);
	pthread_mutex_unlock(&g->lock);
	free(h);
	return NULL;
}

static void spawn_handler(struct gateway *g, int fd)
{
	struct gw_handler *h = calloc(1, sizeof(*h));
	pthread_attr_t at;
	pthread_t t;

	pthread_mutex_lock(&g->lock);
	if (!h || g->stopping || g->nactive >= GW_MAX_CONNS) {
		g->st.over_limit += h && !g->stopping;
		pthread_mutex_unlock(&g->lock);
		free(h);
		close(fd);	/* the guest sees the connection close */
		return;
	}
	*h = (struct gw_handler){ .g = g, .cfd = fd, .ufd = -1,
			       .next = g->active };
	g->active = h;
	g->nactive++;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256u << 10);
	if (pthread_create(&t, &at, handler_main, h)) {
		g->active = h->next;
		g->nactive--;
		close(fd);
		free(h);
	}
	pthread_attr_destroy(&at);
	pthread_mutex_unlock(&g->lock);
}

static void *accept_main(void *arg)
{
	struct gateway *g = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = g->svc_fd, .events = POLLIN },
				       { .fd = g->stop_pipe[0],
					 .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		uint32_t port;
		int fd = box_svc_recv(g->svc_fd, &port);
		if (fd == -EAGAIN)
			continue;	/* a confused VMM: ignore it */
		if (fd < 0)
			break;	/* the VMM is gone */
		if (port != AGENT_GATEWAY_PORT) {
			close(fd);
			continue;
		}
		log_debug("gateway %s: guest connection", g->name);
		spawn_handler(g, fd);
	}
	return NULL;
}

struct gateway *gateway_start(int svc_fd, const struct gw_upstream *up,
			      const struct gw_budget *budget,
			      struct gw_pool *pool, const char *name,
			      char *err, size_t errlen)
{
	struct gateway *g = calloc(1, sizeof(*g));
	uint8_t rnd[24];

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!llm_provider(up->provider)) {
		/* no row, no surface: every request would be refused */
		snprintf(err, errlen, "gateway: unknown provider '%s'",
			 up->provider);
		free(g);
		return NULL;
	}
	g->up = *up;
	keypat_init(&g->kp, g->up.cred_value);
	if (budget)
		g->budget = *budget;
	g->pool = pool;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->svc_fd = svc_fd;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd) ||
	    pipe2(g->stop_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "gateway setup: %s", strerror(errno));
		free(g);
		return NULL;
	}
	/* "vbgw-" + hex: recognisable in logs, useless outside this VM. */
	int o = snprintf(g->token, sizeof(g->token), "vbgw-");
	for (size_t i = 0; i < sizeof(rnd) && o + 2 < (int)sizeof(g->token); i++)
		o += snprintf(g->token + o, sizeof(g->token) - (size_t)o,
			      "%02x", rnd[i]);
	pthread_mutex_init(&g->lock, NULL);
	gw_pool_init(&g->mem, GW_VM_BODY_BYTES);
	pthread_cond_init(&g->idle, NULL);
	if (pthread_create(&g->thread, NULL, accept_main, g)) {
		snprintf(err, errlen, "gateway thread: %s", strerror(errno));
		close(g->stop_pipe[0]);
		close(g->stop_pipe[1]);
		free(g);
		return NULL;
	}
	return g;
}

const char *gateway_token(const struct gateway *g)
{
	return g->token;
}

void gateway_get_stats(struct gateway *g, struct gw_stats *st)
{
	pthread_mutex_lock(&g->lock);
	*st = g->st;
	pthread_mutex_unlock(&g->lock);
}

void gateway_usage(struct gateway *g, uint64_t *in, uint64_t *out,
		   double *usd)
{
	pthread_mutex_lock(&g->lock);
	*in = g->st.input_tokens + g->st.cache_creation + g->st.cache_read;
	*out = g->st.output_tokens;
	*usd = g->st.est_usd;
	pthread_mutex_unlock(&g->lock);
}

void gateway_stop(struct gateway *g)
{
	if (!g)
		return;
	(void)!write(g->stop_pipe[1], "x", 1);
	pthread_join(g->thread, NULL);
	pthread_mutex_lock(&g->lock);
	g->stopping = true;
	/* Unblock handlers stuck in I/O; they clean up themselves. */
	for (struct gw_handler *h = g->active; h; h = h->next) {
		shutdown(h->cfd, SHUT_RDWR);
		if (h->ufd >= 0)
			shutdown(h->ufd, SHUT_RDWR);
	}
	while (g->nactive)
		pthread_cond_wait(&g->idle, &g->lock);
	pthread_mutex_unlock(&g->lock);
	close(g->stop_pipe[0]);
	close(g->stop_pipe[1]);
	pthread_cond_destroy(&g->idle);
	pthread_mutex_destroy(&g->lock);
	gw_pool_destroy(&g->mem);
	free(g);
}
