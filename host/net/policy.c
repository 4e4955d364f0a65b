/* policy.c: egress rules, the admitted-address and flow tables, verdicts.
 *
 * Primer. A verdict for a new flow is, in order: link plumbing slirp
 * answers itself (ARP, NDP, DHCP to the gateway) passes; DNS goes to our
 * resolver only; then the destination must be (1) admitted by a DNS answer
 * to a name rule, (2) inside an address rule, or (3) public, in
 * NET_INTERNET mode. "Reserved" ranges (loopback, link-local incl. the
 * 169.254.169.254 metadata service, RFC 1918, CGNAT, multicast, the slirp
 * network whose gateway is the host's loopback, IPv6 equivalents) are
 * allowed by an address rule only if the rule lies inside the most
 * specific reserved range holding the address: "10.0.0.0/8" names
 * 10.1.2.3, while "0.0.0.0/0" names no reserved address and "10.0.0.0/8"
 * does not name the slirp gateway 10.0.2.2 (its range is 10.0.2.0/24).
 *
 * Admissions expire with the DNS TTL; connections must not die with them,
 * so each allowed TCP/UDP/ICMP-echo flow (5-tuple) is remembered until it
 * idles out or closes, and later packets of it pass on one hash lookup
 * (the <= 200 ns per-packet budget of issue 4). A TCP SYN is always
 * decided afresh. Both tables are open-addressed with linear probing,
 * keyed with a per-policy random seed, probe chains capped at PROBE_MAX
 * (so a guest cannot make a lookup long), deletion by backward shift.
 *
 * Whatever the rules say, the host's own interface addresses are denied
 * (net_policy_add_host_addr), and only the guest's own flows and
 * published ports open a way back (net_policy_observe_rx). The caps
 * count what slirp really holds: a TCP connection until slirp's socket
 * is closed, judged from both directions' sequence numbers ("TCP: what
 * slirp really holds" below), every ICMP echo request until its reply.
 *
 * Size: rules, verdicts, both tables and the TCP close tracking share
 * struct net_policy and struct flow and stay in one file (well past the
 * 600-line aim) rather than exporting them; rule text parsing lives in
 * dns.c, address classes in frame.c. The next split: flows and caps into
 * flow.c behind a private header, once a second file needs the struct.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "net.h"

#define ADMIT_SLOTS 4096u	/* power of two; at most half used */
#define FLOW_SLOTS  8192u
#define PROBE_MAX   64u
#define SWEEP_GAP_MS 1000u	/* full-table sweeps at most this often */

/* Flow idle timeouts. TCP outlasts Linux's default 2 h keepalive so an
 * idle kept-alive connection survives; closed flows linger to let the
 * last segments through. The others outlast the host socket slirp keeps
 * for them, so a flow holds its place in max_conns at least as long:
 * libslirp gives up a connect() after TCPTV_KEEP_INIT (75 s) and keeps a
 * UDP or ICMP echo socket SO_EXPIRE (240 s) after its last use. */
#define FLOW_TCP_MS   (7500ull * 1000)
#define FLOW_SYN_MS   (90ull * 1000)	/* no SYN-ACK from slirp yet */
#define FLOW_CLOSE_MS (30ull * 1000)
#define FLOW_UDP_MS   (250ull * 1000)
#define FLOW_ECHO_MS  (250ull * 1000)

#define P_ICMP 1
#define P_TCP  6
#define P_UDP  17
#define P_ICMP6 58
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

struct cidr {
	uint64_t net[2], mask[2];
	uint16_t rule;
	uint8_t prefix;
};

struct host_entry {
	char name[DNS_NAME_MAX + 1];
	struct net_addr addr;
};

/* 32 bytes: the lookup touches one slot; names are kept apart (cold) */
struct admit {
	uint64_t expires;	/* 0 = empty slot; expired when <= now */
	uint64_t a[2];
	uint8_t family;
	uint16_t rule;
};

/* TCP flow state, from both directions (see tcp_guest/tcp_slirp) */
#define FS_WIN	    0x01	/* slirp's ack/window seen: it is connected */
#define FS_INBOUND  0x02	/* opened by slirp (a published port) */
#define FS_GFIN	    0x04	/* the guest sent a FIN after all its data */
#define FS_GFIN_ACK 0x08	/* slirp acked that FIN: it took it */
#define FS_SFIN	    0x10	/* slirp sent its FIN: the far end closed */
#define FS_SFIN_ACK 0x20	/* the guest acked it, in slirp's window */
#define FS_DONE	    0x40	/* slirp's socket is closed or closing */

struct flow {
	uint64_t expires;	/* 0 = empty slot */
	uint64_t k[5];		/* family|proto|sport|dport, src, dst */
	bool closing;
	bool counted;		/* holds one of max_conns (guest-opened) */
	uint8_t fwd;		/* forward index + 1, 0 = none */
	uint8_t st;		/* FS_* (TCP) */
	uint16_t pending;	/* echo requests without a reply; each holds
				   one of max_conns (slirp: a socket each) */
	/* TCP sequence numbers (mod 2^32) slirp's acceptance is judged by:
	 * its last ack and highest window edge, the guest's next byte after
	 * its data, and where each side's FIN ends */
	uint32_t ack, edge, gnxt, gfin, sfin;
};

struct net_policy {
	enum net_mode mode;
	uint64_t seed;
	int nrules, ncidr[2], nhosts;
	uint32_t admit_used, flow_used;
	uint64_t admit_swept, flow_swept, admit_full, flow_full;
	/* connection caps (net_policy_set_limits) */
	uint32_t max_conns, rate, open_conns;
	uint64_t tokens, tokens_at;	/* thousandths of a connection */
	uint64_t conn_limited, rate_limited;
	int nfwd, npub, nself;
	bool private_dns;	/* DNS may admit private ranges (opt-in) */
	struct net_forward fwd[NET_MAX_FORWARDS];
	struct { uint8_t proto; uint16_t port; } pub[NET_MAX_PUBLISH];
	struct cidr cidr[2][NET_MAX_RULES];	/* [0] IPv4, [1] IPv6 */
	struct net_rule rules[NET_MAX_RULES];
	struct host_entry hosts[NET_MAX_HOSTS];
	struct net_addr self[NET_MAX_HOST_ADDRS];	/* the host's own */
	struct admit admit[ADMIT_SLOTS];
	struct flow flows[FLOW_SLOTS];
	char admit_name[ADMIT_SLOTS][DNS_NAME_MAX + 1];	/* per admit slot */
};

/* slirp's fixed addresses (slirp defaults; the guest is set up to match) */
static const uint8_t GATEWAY4[4] = { 10, 0, 2, 2 };
static const uint8_t DNS4[4] = { 10, 0, 2, 3 };
static const uint8_t DNS6[16] = { 0xfe, 0xc0, [15] = 3 };
static const uint8_t DHCP6_ALL[16] = { 0xff, 0x02, [13] = 1, [15] = 2 };

/* Keyed hash of a few words: independent multiplies (they overlap in the
 * pipeline, unlike a chained mix), then one finalizer (MurmurHash3 fmix64
 * constants). Keyed by the policy's secret seed. */
static uint32_t hash_words(uint64_t seed, const uint64_t *w, int n)
{
	static const uint64_t mul[5] = {
		0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full,
		0x165667b19e3779f9ull, 0xd6e8feb86659fd93ull,
		0xff51afd7ed558ccdull,
	};
	uint64_t h = seed;
	for (int i = 0; i < n; i++)
		h += (w[i] ^ (seed >> i)) * mul[i];
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return (uint32_t)(h ^ (h >> 29));
}

static void addr_words(const struct net_addr *a, uint64_t w[2])
{
	memcpy(w, a->b, 16);
}

static bool ports_match(const struct net_rule *r, uint8_t proto,
			uint16_t port)
{
	if (!r->nports)
		return true;
	/* a rule with ports is about TCP/UDP (QUIC is UDP); not ICMP */
	if (proto != P_TCP && proto != P_UDP)
		return false;
	for (unsigned i = 0; i < r->nports; i++)
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	return false;
}

/* --- the policy object ------------------------------------------------ */

struct net_policy *net_policy_new(enum net_mode mode)
{
	struct net_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->mode = mode;
	net_policy_set_limits(p, NET_DEF_MAX_CONNS, NET_DEF_CONN_RATE);
	/* A secret seed keeps guest-chosen ports/addresses from aiming at
	 * one probe chain; if getrandom fails, ASLR bits still vary. */
	if (getrandom(&p->seed, sizeof(p->seed), GRND_NONBLOCK) !=
	    sizeof(p->seed))
		p->seed = (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ull;
	return p;
}

void net_policy_free(struct net_policy *p)
{
	free(p);
}

int net_policy_add_rule(struct net_policy *p, const char *text, char *err,
			size_t errlen)
{
	if (p->nrules == NET_MAX_RULES) {
		if (errlen)
			snprintf(err, errlen, "more than %d rules",
				 NET_MAX_RULES);
		return -ENOSPC;
	}
	struct net_rule *r = &p->rules[p->nrules];
	int rc = net_rule_parse(text, r, err, errlen);
	if (rc)
		return rc;
	if (r->kind == NET_RULE_CIDR) {
		int f = r->addr.family == NET_AF6;
		struct cidr *c = &p->cidr[f][p->ncidr[f]++];
		uint8_t m[16] = { 0 };
		for (unsigned i = 0; i < r->prefix; i++)
			m[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		*c = (struct cidr){ .rule = (uint16_t)p->nrules,
				    .prefix = r->prefix };
		memcpy(c->mask, m, 16);
		addr_words(&r->addr, c->net);
	}
	p->nrules++;
	return 0;
}

int net_policy_add_host(struct net_policy *p, const char *name,
			const char *addr, char *err, size_t errlen)
{
	char why[64];

	if (p->nhosts == NET_MAX_HOSTS) {
		if (errlen)
			snprintf(err, errlen, "more than %d hosts entries",
				 NET_MAX_HOSTS);
		return -ENOSPC;
	}
	struct host_entry *h = &p->hosts[p->nhosts];
	if (dns_name_normalize(name, h->name, why, sizeof(why))) {
		if (errlen)
			snprintf(err, errlen, "bad host name '%.64s': %s",
				 name, why);
		return -EINVAL;
	}
	if (net_addr_parse(addr, &h->addr)) {
		if (errlen)
			snprintf(err, errlen,
				 "bad address '%.64s' for host '%s' (IPv4 or "
				 "IPv6 expected)", addr, h->name);
		return -EINVAL;
	}
	p->nhosts++;
	return 0;
}

int net_policy_add_host_addr(struct net_policy *p, const struct net_addr *a)
{
	if (a->family != NET_AF4 && a->family != NET_AF6)
		return -EINVAL;
	for (int i = 0; i < p->nself; i++)
		if (!memcmp(&p->self[i], a, sizeof(*a)))
			return 0;
	if (p->nself == NET_MAX_HOST_ADDRS)
		return -ENOSPC;
	p->self[p->nself++] = *a;
	return 0;
}

void net_policy_set_private_dns(struct net_policy *p, bool on)
{
	p->private_dns = on;
}

/* One of the host's own addresses? Consulted only for a flow's first
 * packet, and hosts have a handful, so a scan is enough. */
static bool host_self(const struct net_policy *p, const struct net_addr *a)
{
	for (int i = 0; i < p->nself; i++)
		if (!memcmp(&p->self[i], a, sizeof(*a)))
			return true;
	return false;
}

const struct net_rule *net_policy_rule(const struct net_policy *p, int i)
{
	return i >= 0 && i < p->nrules ? &p->rules[i] : NULL;
}

/* --- names ------------------------------------------------------------ */

bool net_policy_name(const struct net_policy *p, const char *name,
		     struct net_verdict *v, uint8_t rules[NET_MAX_RULES / 8])
{
	size_t nlen = strlen(name);
	bool in_hosts = false;

	memset(rules, 0, NET_MAX_RULES / 8);
	for (int i = 0; i < p->nhosts && !in_hosts; i++)
		in_hosts = !strcmp(p->hosts[i].name, name);
	v->action = NET_ACT_DENY;
	v->rule = -1;
	if (p->mode == NET_OFF) {
		v->reason = NET_R_OFF;
		return in_hosts;
	}
	for (int i = 0; i < p->nrules; i++) {
		if (!dns_rule_matches(&p->rules[i], name, nlen))
			continue;
		rules[i / 8] |= (uint8_t)(1 << (i % 8));
		if (v->rule < 0)
			v->rule = i;
	}
	if (v->rule >= 0 || p->mode == NET_INTERNET) {
		v->action = NET_ACT_ALLOW;
		v->reason = v->rule >= 0 ? NET_R_RULE : NET_R_INTERNET;
	} else {
		v->reason = NET_R_NOT_ALLOWED;
	}
	return in_hosts;
}

size_t net_policy_hosts(const struct net_policy *p, const char *name,
			uint8_t family, struct net_addr *out, size_t max)
{
	size_t n = 0;
	for (int i = 0; i < p->nhosts && n < max; i++)
		if (p->hosts[i].addr.family == family &&
		    !strcmp(p->hosts[i].name, name))
			out[n++] = p->hosts[i].addr;
	return n;
}

/* --- the two hash tables ----------------------------------------------- */

/* Both slot types start with `uint64_t expires` (0 = empty); the generic
 * delete/sweep below only need that, each slot's home index, and the
 * side array of names (admissions only) to move along. */
typedef uint32_t (*home_fn)(const struct net_policy *p, const void *slot);
struct lp {
	uint8_t *slots;
	size_t esz;
	uint32_t nslots;
	char (*names)[DNS_NAME_MAX + 1];	/* or NULL */
	home_fn home;
	/* Called for each entry the sweep is about to delete, or NULL. */
	void (*expired)(struct net_policy *p, void *slot);
};

static uint64_t slot_expires(const struct lp *t, uint32_t i)
{
	return *(const uint64_t *)(t->slots + (size_t)i * t->esz);
}

static uint32_t admit_home(const struct net_policy *p, const void *slot)
{
	const struct admit *e = slot;
	return hash_words(p->seed ^ e->family, e->a, 2) & (ADMIT_SLOTS - 1);
}

static uint32_t flow_home(const struct net_policy *p, const void *slot)
{
	const struct flow *e = slot;
	return hash_words(p->seed, e->k, 5) & (FLOW_SLOTS - 1);
}

/* Empty slot i, then pull later entries of the chain back over the hole
 * (Knuth 6.4 algorithm R), so lookups can stop at the first empty slot
 * without tombstones, and no entry moves farther from its home. */
static void lp_delete(const struct net_policy *p, const struct lp *t,
		      uint32_t i)
{
	uint32_t mask = t->nslots - 1;
	for (;;) {
		memset(t->slots + (size_t)i * t->esz, 0, sizeof(uint64_t));
		uint32_t j = i;
		for (;;) {
			j = (j + 1) & mask;
			if (!slot_expires(t, j))
				return;
			uint32_t h = t->home(p, t->slots + (size_t)j * t->esz);
			/* j may move to i iff i is on its way from h to j */
			if (((j - h) & mask) >= ((j - i) & mask))
				break;
		}
		memcpy(t->slots + (size_t)i * t->esz,
		       t->slots + (size_t)j * t->esz, t->esz);
		if (t->names)
			memcpy(t->names[i], t->names[j], sizeof(t->names[0]));
		i = j;
	}
}

/* Delete every expired entry; returns how many. A deletion can pull an
 * unvisited entry into slot i, so i is examined again before moving on;
 * entries pulled across the wrap-around were visited and are live. */
static uint32_t lp_sweep(struct net_policy *p, const struct lp *t,
			 uint64_t now)
{
	uint32_t gone = 0;
	for (uint32_t i = 0; i < t->nslots;) {
		uint64_t e = slot_expires(t, i);
		if (e && e <= now) {
			if (t->expired)
				t->expired(p, t->slots + (size_t)i * t->esz);
			lp_delete(p, t, i);
			gone++;
			continue;
		}
		i++;
	}
	return gone;
}

static void admit_sweep(struct net_policy *p, uint64_t now)
{
	struct lp t = { (uint8_t *)p->admit, sizeof(p->admit[0]), ADMIT_SLOTS,
			p->admit_name, admit_home, NULL };
	p->admit_used -= lp_sweep(p, &t, now);
	p->admit_swept = now;
}

/* A counted flow gives its place back (closed, expired or reused). */
static void flow_uncount(struct net_policy *p, struct flow *e)
{
	uint32_t n = (e->counted ? 1u : 0u) + e->pending;
	p->open_conns -= n < p->open_conns ? n : p->open_conns;
	e->counted = false;
	e->pending = 0;
}

static void flow_expired(struct net_policy *p, void *slot)
{
	flow_uncount(p, slot);
}

static void flow_sweep(struct net_policy *p, uint64_t now)
{
	struct lp t = { (uint8_t *)p->flows, sizeof(p->flows[0]), FLOW_SLOTS,
			NULL, flow_home, flow_expired };
	p->flow_used -= lp_sweep(p, &t, now);
	p->flow_swept = now;
}

void net_policy_expire(struct net_policy *p, uint64_t now_ms)
{
	admit_sweep(p, now_ms);
	flow_sweep(p, now_ms);
}

/* A live admission of dst that covers proto/port, or NULL. */
static const struct admit *admit_find(const struct net_policy *p,
				      const struct net_addr *dst,
				      uint8_t proto, uint16_t port,
				      uint64_t now)
{
	uint64_t w[2];
	addr_words(dst, w);
	uint32_t i = hash_words(p->seed ^ dst->family, w, 2);
	for (uint32_t n = 0; n < PROBE_MAX; n++) {
		const struct admit *e = &p->admit[(i + n) & (ADMIT_SLOTS - 1)];
		if (!e->expires)
			return NULL;
		if (e->a[0] == w[0] && e->a[1] == w[1] &&
		    e->family == dst->family && e->expires > now &&
		    ports_match(&p->rules[e->rule], proto, port))
			return e;
	}
	return NULL;
}

static int admit_put(struct net_policy *p, const struct net_addr *a,
		     uint16_t rule, const char *name, uint64_t expires,
		     uint64_t now)
{
	uint64_t w[2];
	int64_t slot = -1;

	if (p->admit_used >= ADMIT_SLOTS / 2 &&
	    now - p->admit_swept >= SWEEP_GAP_MS)
		admit_sweep(p, now);
	addr_words(a, w);
	uint32_t h = hash_words(p->seed ^ a->family, w, 2);
	for (uint32_t n = 0; n < PROBE_MAX; n++) {
		uint32_t i = (h + n) & (ADMIT_SLOTS - 1);
		struct admit *e = &p->admit[i];
		if (!e->expires) {
			if (slot < 0)
				slot = i;
			break;
		}
		if (e->a[0] == w[0] && e->a[1] == w[1] &&
		    e->family == a->family && e->rule == rule) {
			slot = i;	/* refresh: the key is unique */
			break;
		}
		/* an expired slot can be reused: the key is not further on
		 * (we are about to see the rest of the chain) */
		if (e->expires <= now && slot < 0)
			slot = i;
	}
	if (slot < 0 || (!p->admit[slot].expires &&
			 p->admit_used >= ADMIT_SLOTS / 2)) {
		p->admit_full++;
		return 0;
	}
	struct admit *e = &p->admit[slot];
	if (!e->expires)
		p->admit_used++;
	/* a fresh answer with a shorter TTL does not cut an admission */
	if (e->family != a->family || e->rule != rule ||
	    e->a[0] != w[0] || e->a[1] != w[1] || e->expires < expires)
		e->expires = expires;
	e->a[0] = w[0];
	e->a[1] = w[1];
	e->family = a->family;
	e->rule = rule;
	snprintf(p->admit_name[slot], sizeof(p->admit_name[0]), "%s",
		 name ? name : "");
	return 1;
}

int net_policy_admit(struct net_policy *p, const uint8_t *rules,
		     const char *name, const struct net_addr *a,
		     uint32_t ttl_s, uint64_t now_ms, bool trusted)
{
	bool dns_ok = true;
	int n = 0;

	if (a->family != NET_AF4 && a->family != NET_AF6)
		return 0;
	/* Private ranges only on the spec's word: the owner of an allowed
	 * name (a wildcard DNS suffix, a user-controlled zone) could point
	 * it into the host's LAN. Rebinding targets never. */
	if (!trusted && net_addr_reserved(a, &dns_ok) >= 0 &&
	    !(dns_ok && p->private_dns))
		return 0;
	if (ttl_s < DNS_TTL_MIN)
		ttl_s = DNS_TTL_MIN;
	if (ttl_s > DNS_TTL_MAX)
		ttl_s = DNS_TTL_MAX;
	for (int i = 0; i < p->nrules; i++)
		if ((rules[i / 8] >> (i % 8) & 1) &&
		    p->rules[i].kind != NET_RULE_CIDR)
			n += admit_put(p, a, (uint16_t)i, name,
				       now_ms + ttl_s * 1000ull, now_ms);
	return n;
}

/* Flow keys are from the guest's side: family|proto|sport|dport, then
 * the guest's and the remote address. */
static void flow_key(uint8_t family, uint8_t proto, uint16_t gport,
		     uint16_t rport, const struct net_addr *guest,
		     const struct net_addr *remote, uint64_t k[5])
{
	k[0] = family | (uint64_t)proto << 8 | (uint64_t)gport << 16 |
	       (uint64_t)rport << 32;
	memcpy(&k[1], guest->b, 16);
	memcpy(&k[3], remote->b, 16);
}

static struct flow *flow_find(struct net_policy *p, const uint64_t k[5],
			      uint32_t h, uint64_t now)
{
	for (uint32_t n = 0; n < PROBE_MAX; n++) {
		struct flow *e = &p->flows[(h + n) & (FLOW_SLOTS - 1)];
		if (!e->expires)
			return NULL;
		if (e->k[0] == k[0] && e->k[1] == k[1] && e->k[2] == k[2] &&
		    e->k[3] == k[3] && e->k[4] == k[4])
			return e->expires > now ? e : NULL;
	}
	return NULL;
}

static void flow_touch(struct flow *e, uint8_t proto, uint64_t now)
{
	uint64_t idle = proto == P_UDP ? FLOW_UDP_MS : FLOW_ECHO_MS;
	if (proto == P_TCP)
		idle = e->st & (FS_WIN | FS_INBOUND) ? FLOW_TCP_MS
						     : FLOW_SYN_MS;
	e->expires = now + (e->closing ? FLOW_CLOSE_MS : idle);
}

/* --- TCP: what slirp really holds ---------------------------------------
 *
 * A guest TCP connection holds one of max_conns for as long as slirp
 * keeps its host socket, judged from the segments both ways, never from
 * the guest's word alone: libslirp (tcp_input.c) silently drops a guest
 * segment that starts past its window ("segment ends after window" ->
 * dropafterack, which ignores an RST) and everything while its connect()
 * runs (SS_ISFCONNECTING), and a half-closed connection keeps the socket
 * for as long as the far end does. The place is given back when
 *  - slirp sends RST+ACK: tcp_drop/tcp_close or a refused connect; its
 *    bare RST only answers one bad guest ACK (dropwithreset) and the
 *    socket may live on;
 *  - the guest's RST lies inside the window slirp last announced: slirp
 *    takes any RST that does not start past rcv_nxt + rcv_wnd, an edge it
 *    never moves back (rcv_wnd = MAX(space, rcv_adv - rcv_nxt)) and that
 *    the last ack + window we saw is at or before;
 *  - both sides closed, each FIN acked by the other within the window:
 *    slirp then closes the socket at once (LAST_ACK) or after 2 MSL
 *    (10 s, TIME_WAIT), which the guest can only stretch by sending on
 *    the flow again; that counts the flow again (tcp_guest).
 * Validating sequence numbers here instead of counting sockets keeps the
 * policy free of slirp internals, and slirp's only socket-level hooks
 * (poll registration) skip idle sockets. The cost is TIME_WAIT's 10 s,
 * bounded by the connection rate. */

static bool seq_ge(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

/* Does slirp surely take a guest segment starting at seq? */
static bool tcp_taken(const struct flow *e, uint32_t seq)
{
	return (e->st & FS_WIN) && seq - e->ack <= e->edge - e->ack;
}

static void tcp_release(struct net_policy *p, struct flow *e)
{
	e->st |= FS_DONE;
	e->closing = true;
	flow_uncount(p, e);
}

static void tcp_closed_both(struct net_policy *p, struct flow *e)
{
	uint8_t all = FS_GFIN_ACK | FS_SFIN | FS_SFIN_ACK;
	if ((e->st & all) == all && !(e->st & FS_DONE))
		tcp_release(p, e);
}

/* A new connection on this flow (an allowed guest SYN). */
static void tcp_reset(struct flow *e, uint32_t syn_seq)
{
	e->st = 0;
	e->closing = false;
	e->ack = e->edge = e->gfin = e->sfin = 0;
	e->gnxt = syn_seq + 1;
}

/* A guest segment on a known flow, before it goes to slirp. False: it
 * would make a closed flow count again past max_conns; drop it. */
static bool tcp_guest(struct net_policy *p, struct flow *e,
		      const struct net_pkt *pk)
{
	uint8_t fl = pk->tcp_flags;
	uint32_t end = pk->tcp_seq + (uint32_t)pk->data_len;

	if (fl & TH_SYN)
		return true;	/* retransmit or handshake: nothing closes */
	if (fl & TH_RST) {
		if (tcp_taken(e, pk->tcp_seq) && !(e->st & FS_DONE))
			tcp_release(p, e);
		return true;
	}
	if (e->st & FS_DONE) {
		/* the guest still talks: slirp's TIME_WAIT restarts, and
		 * whatever it holds counts again */
		if (e->counted || (e->st & FS_INBOUND))
			return true;
		if (p->max_conns && p->open_conns >= p->max_conns)
			return false;
		e->counted = true;
		p->open_conns++;
		return true;
	}
	/* A FIN counts only after all the data the guest sent: slirp's ack
	 * can then pass it only by taking it. Data past a FIN unmakes it. */
	if (pk->data_len && seq_ge(end, e->gnxt)) {
		e->gnxt = end;
		if ((e->st & FS_GFIN) && !(e->st & FS_GFIN_ACK) &&
		    !seq_ge(e->gfin - 1, end))
			e->st &= (uint8_t)~FS_GFIN;
	}
	if ((fl & TH_FIN) && seq_ge(end, e->gnxt) && !(e->st & FS_GFIN_ACK)) {
		e->st |= FS_GFIN;
		e->gfin = end + 1;
	}
	if ((fl & TH_ACK) && (e->st & FS_SFIN) && pk->tcp_ack == e->sfin &&
	    tcp_taken(e, pk->tcp_seq))
		e->st |= FS_SFIN_ACK;
	tcp_closed_both(p, e);
	return true;
}

/* A segment slirp sends the guest on a known flow. */
static void tcp_slirp(struct net_policy *p, struct flow *e,
		      const struct net_pkt *pk)
{
	uint8_t fl = pk->tcp_flags;

	if (fl & TH_RST) {
		if ((fl & TH_ACK) && !(e->st & FS_DONE))
			tcp_release(p, e);
		return;
	}
	if (fl & TH_ACK) {
		uint32_t edge = pk->tcp_ack + pk->tcp_win;
		if (!(e->st & FS_WIN) || seq_ge(pk->tcp_ack, e->ack))
			e->ack = pk->tcp_ack;
		if (!(e->st & FS_WIN) || seq_ge(edge, e->edge))
			e->edge = edge;
		e->st |= FS_WIN;
		if ((e->st & FS_GFIN) && seq_ge(pk->tcp_ack, e->gfin))
			e->st |= FS_GFIN_ACK;
	}
	if ((fl & TH_FIN) && !(e->st & FS_SFIN)) {
		e->st |= FS_SFIN;
		e->sfin = pk->tcp_seq + (uint32_t)pk->data_len +
			  ((fl & TH_SYN) ? 2 : 1);
	}
	tcp_closed_both(p, e);
}

/* Remember an allowed flow. Failing (table full) costs nothing now: the
 * flow's packets are then decided one by one; NULL tells the caller. */
static struct flow *flow_put(struct net_policy *p, const uint64_t k[5],
			     uint32_t h, uint8_t proto, uint64_t now)
{
	int64_t slot = -1;

	if (p->flow_used >= FLOW_SLOTS / 2 &&
	    now - p->flow_swept >= SWEEP_GAP_MS) {
		flow_sweep(p, now);
	}
	for (uint32_t n = 0; n < PROBE_MAX; n++) {
		uint32_t i = (h + n) & (FLOW_SLOTS - 1);
		struct flow *e = &p->flows[i];
		bool same = e->expires && !memcmp(e->k, k, sizeof(e->k));
		if (!e->expires || same) {
			if (slot < 0 || same)
				slot = i;
			break;
		}
		if (e->expires <= now && slot < 0)
			slot = i;
	}
	if (slot < 0 || (!p->flows[slot].expires &&
			 p->flow_used >= FLOW_SLOTS / 2)) {
		p->flow_full++;
		return NULL;
	}
	struct flow *e = &p->flows[slot];
	if (!e->expires)
		p->flow_used++;
	/* a slot reused for another or an expired flow starts afresh and
	 * gives its count back; a live one (SYN retransmit) keeps both */
	if (memcmp(e->k, k, sizeof(e->k)) || e->expires <= now) {
		flow_uncount(p, e);
		e->st = 0;
		e->closing = false;
	}
	memcpy(e->k, k, sizeof(e->k));
	e->fwd = 0;
	flow_touch(e, proto, now);
	return e;
}

void net_policy_stats(const struct net_policy *p, struct net_stats *st)
{
	*st = (struct net_stats){
		.rules = (uint32_t)p->nrules, .hosts = (uint32_t)p->nhosts,
		.admitted = p->admit_used, .flows = p->flow_used,
		.admit_full = p->admit_full, .flow_full = p->flow_full,
		.open_conns = p->open_conns, .conn_limited = p->conn_limited,
		.rate_limited = p->rate_limited,
	};
}

/* --- verdicts ----------------------------------------------------------- */

static enum net_action verdict(struct net_verdict *v, enum net_action a,
			       enum net_reason r)
{
	v->action = a;
	v->reason = r;
	return a;
}

/* Link plumbing slirp answers itself and never forwards (libslirp
 * udp_input/udp6_input hand these to its bootp/dhcpv6 servers only for
 * these destinations; NDP is handled in ip6_icmp). */
static bool link_plumbing(const struct net_pkt *pk)
{
	static const uint8_t bcast[4] = { 255, 255, 255, 255 };

	if (pk->family == NET_AF4)
		return pk->proto == P_UDP && pk->sport == 68 &&
		       pk->dport == 67 && (!memcmp(pk->dst.b, bcast, 4) ||
					   !memcmp(pk->dst.b, GATEWAY4, 4));
	if (pk->proto == P_ICMP6)
		/* RS, NS, NA; hop limit 255 proves on-link (RFC 4861 §6.1) */
		return (pk->icmp_type == 133 || pk->icmp_type == 135 ||
			pk->icmp_type == 136) && pk->hop_limit == 255;
	return pk->proto == P_UDP && pk->sport == 546 && pk->dport == 547 &&
	       !memcmp(pk->dst.b, DHCP6_ALL, 16);
}

static bool our_resolver(const struct net_addr *a)
{
	return a->family == NET_AF4 ? !memcmp(a->b, DNS4, 4)
				    : !memcmp(a->b, DNS6, 16);
}

/* First address rule holding dst for proto/port that may name it. */
static int cidr_find(const struct net_policy *p, const struct net_pkt *pk,
		     int resv)
{
	int f = pk->family == NET_AF6;
	uint64_t w[2];

	addr_words(&pk->dst, w);
	for (int i = 0; i < p->ncidr[f]; i++) {
		const struct cidr *c = &p->cidr[f][i];
		if ((w[0] & c->mask[0]) != c->net[0] ||
		    (w[1] & c->mask[1]) != c->net[1] ||
		    (resv >= 0 && c->prefix < resv))
			continue;
		if (ports_match(&p->rules[c->rule], pk->proto, pk->dport))
			return c->rule;
	}
	return -1;
}

/* --- connection caps and forwards ------------------------------------ */

void net_policy_set_limits(struct net_policy *p, uint32_t max_conns,
			   uint32_t rate_per_s)
{
	p->max_conns = max_conns;
	p->rate = rate_per_s;
	p->tokens = (uint64_t)rate_per_s * 1000;	/* start full */
	p->tokens_at = 0;
}

/* May the guest open one more connection now? Takes a token if so. */
static bool conn_admit(struct net_policy *p, uint64_t now,
		       struct net_verdict *v)
{
	if (p->max_conns && p->open_conns >= p->max_conns) {
		p->conn_limited++;
		v->fwd = 0;
		verdict(v, NET_ACT_DENY, NET_R_CONN_LIMIT);
		return false;
	}
	if (!p->rate)
		return true;
	/* tokens in thousandths: rate/s is rate thousandths per ms */
	uint64_t cap = (uint64_t)p->rate * 1000;
	if (now > p->tokens_at) {
		uint64_t add = (now - p->tokens_at) * p->rate;
		p->tokens = add >= cap - p->tokens ? cap : p->tokens + add;
	}
	p->tokens_at = now;
	if (p->tokens < 1000) {
		p->rate_limited++;
		v->fwd = 0;
		verdict(v, NET_ACT_DENY, NET_R_RATE_LIMIT);
		return false;
	}
	p->tokens -= 1000;
	return true;
}

/* One more echo request on flow e: each is a slirp socket until its
 * reply (or SO_EXPIRE), so each takes a token and a place. */
static bool echo_take(struct net_policy *p, struct flow *e, uint64_t now,
		      struct net_verdict *v)
{
	if (e->pending == UINT16_MAX) {
		p->conn_limited++;
		verdict(v, NET_ACT_DENY, NET_R_CONN_LIMIT);
		return false;
	}
	if (!conn_admit(p, now, v))
		return false;
	e->pending++;
	p->open_conns++;
	return true;
}

static int fwd_match(const struct net_policy *p, const struct net_pkt *pk)
{
	if (pk->family != NET_AF4 || (pk->proto != P_TCP && pk->proto != P_UDP))
		return -1;
	for (int i = 0; i < p->nfwd; i++)
		if (pk->dport == p->fwd[i].gport &&
		    !memcmp(pk->dst.b, p->fwd[i].guest.b, 4))
			return i;
	return -1;
}

static int fwd_side(const char *s, size_t n, struct net_addr *a,
		    uint16_t *port, bool guest, char *err, size_t errlen)
{
	char buf[32];
	const char *what = guest ? "guest" : "host";
	const char *colon = memchr(s, ':', n);
	if (!colon || n >= sizeof(buf)) {
		snprintf(err, errlen, "%s side '%.*s': expected IPV4:PORT",
			 what, (int)(n < 40 ? n : 40), s);
		return -EINVAL;
	}
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = '\0';
	char *end;
	unsigned long v = strtoul(colon + 1, &end, 10);
	if (net_addr_parse(buf, a) || a->family != NET_AF4 ||
	    end != s + n || colon[1] < '0' || colon[1] > '9' || !v ||
	    v > 65535) {
		snprintf(err, errlen, "%s side '%.*s': expected IPV4:PORT",
			 what, (int)n, s);
		return -EINVAL;
	}
	*port = (uint16_t)v;
	const uint8_t *b = a->b;
	bool slirp_net = b[0] == 10 && b[1] == 0 && b[2] == 2;
	bool bad = !b[0] || b[0] >= 224 || (slirp_net && !(guest && b[3] == 2));
	if (guest)
		bad |= b[0] == 127;	/* the guest's own loopback */
	if (bad) {
		snprintf(err, errlen, guest ? "guest side %s: use 10.0.2.2 or "
			 "an address outside 10.0.2.0/24, not loopback or "
			 "multicast" : "host side %s: not a unicast address "
			 "outside 10.0.2.0/24", buf);
		return -EINVAL;
	}
	return 0;
}

int net_forward_parse(const char *text, struct net_forward *out, char *err,
		      size_t errlen)
{
	char e2[NET_ERR_MAX];
	if (!errlen) {
		err = e2;
		errlen = sizeof(e2);
	}
	struct net_forward f = { 0 };
	const char *eq = strchr(text, '=');
	if (!eq) {
		snprintf(err, errlen, "forward '%.60s': expected "
			 "GUESTIP:PORT=HOSTIP:PORT", text);
		return -EINVAL;
	}
	if (fwd_side(text, (size_t)(eq - text), &f.guest, &f.gport, true,
		     err, errlen) ||
	    fwd_side(eq + 1, strlen(eq + 1), &f.host, &f.hport, false, err,
		     errlen))
		return -EINVAL;
	/* guest DNS is answered by the VMM before any forward is looked
	 * at; a forward there would be dead (and a way around the policy) */
	if (f.gport == 53) {
		snprintf(err, errlen, "forward '%.60s': port 53 is the VMM's "
			 "DNS; name the service in hosts instead", text);
		return -EINVAL;
	}
	snprintf(f.text, sizeof(f.text), "%s", text);
	*out = f;
	return 0;
}

int net_policy_add_forward(struct net_policy *p, const char *text, char *err,
			   size_t errlen)
{
	struct net_forward f;
	int rc = net_forward_parse(text, &f, err, errlen);
	if (rc)
		return rc;
	if (p->nfwd == NET_MAX_FORWARDS) {
		if (errlen)
			snprintf(err, errlen, "more than %d forwards",
				 NET_MAX_FORWARDS);
		return -ENOSPC;
	}
	for (int i = 0; i < p->nfwd; i++)
		if (p->fwd[i].gport == f.gport &&
		    !memcmp(p->fwd[i].guest.b, f.guest.b, 4)) {
			if (errlen)
				snprintf(err, errlen, "forward '%.60s': guest "
					 "side already forwarded", text);
			return -EINVAL;
		}
	p->fwd[p->nfwd++] = f;
	return 0;
}

const struct net_forward *net_policy_forward(const struct net_policy *p,
					     int i)
{
	return i >= 0 && i < p->nfwd ? &p->fwd[i] : NULL;
}

size_t net_policy_nat_tx(const struct net_policy *p,
			 const struct net_verdict *v, const uint8_t *frame,
			 size_t len, uint8_t *out, size_t cap)
{
	struct net_pkt pk;
	if (!v->fwd || v->fwd > p->nfwd || len > cap ||
	    net_frame_parse(frame, len, &pk) != NET_PARSE_IP ||
	    pk.family != NET_AF4 || (pk.proto != P_TCP && pk.proto != P_UDP))
		return 0;
	const struct net_forward *f = &p->fwd[v->fwd - 1];
	memcpy(out, frame, len);
	net_frame_nat4(out, &pk, true, f->host.b, f->hport);
	return len;
}

size_t net_policy_nat_rx(struct net_policy *p, const uint8_t *frame,
			 size_t len, uint64_t now_ms, uint8_t *out,
			 size_t cap)
{
	struct net_pkt pk;
	if (!p->nfwd || len > cap ||
	    net_frame_parse(frame, len, &pk) != NET_PARSE_IP ||
	    pk.family != NET_AF4 || (pk.proto != P_TCP && pk.proto != P_UDP))
		return 0;
	for (int i = 0; i < p->nfwd; i++) {
		const struct net_forward *f = &p->fwd[i];
		if (pk.sport != f->hport || memcmp(pk.src.b, f->host.b, 4))
			continue;
		/* only on a flow the guest opened through this forward: a
		 * direct connection to the same host address is left alone */
		uint64_t key[5];
		flow_key(NET_AF4, pk.proto, pk.dport, f->gport, &pk.dst,
			 &f->guest, key);
		struct flow *fl = flow_find(p, key, hash_words(p->seed, key, 5),
					    now_ms);
		if (!fl || fl->fwd != i + 1)
			continue;
		memcpy(out, frame, len);
		net_frame_nat4(out, &pk, false, f->guest.b, f->gport);
		return len;
	}
	return 0;
}

/* The policy proper, for the first packet of a flow. */
static enum net_action decide(const struct net_policy *p,
			      const struct net_pkt *pk, uint64_t now,
			      struct net_verdict *v)
{
	/* slirp's connect() to the host's own address reaches every host
	 * service bound to 0.0.0.0: no mode, rule or answer opens that
	 * (a forward names one service and is decided before this) */
	if (host_self(p, &pk->dst))
		return verdict(v, NET_ACT_DENY, NET_R_HOST_ADDR);
	const struct admit *a = admit_find(p, &pk->dst, pk->proto, pk->dport,
					   now);
	if (a) {
		v->rule = a->rule;
		const char *nm = p->admit_name[a - p->admit];
		v->name = nm[0] ? nm : NULL;
		return verdict(v, NET_ACT_ALLOW, NET_R_ADMITTED);
	}
	int resv = net_addr_reserved(&pk->dst, NULL);
	v->rule = cidr_find(p, pk, resv);
	if (v->rule >= 0)
		return verdict(v, NET_ACT_ALLOW, NET_R_RULE);
	if (p->mode == NET_INTERNET && resv < 0)
		return verdict(v, NET_ACT_ALLOW, NET_R_INTERNET);
	return verdict(v, NET_ACT_DENY,
		       resv >= 0 ? NET_R_RESERVED : NET_R_NOT_ALLOWED);
}

enum net_action net_policy_check(struct net_policy *p, const uint8_t *frame,
				 size_t len, uint64_t now_ms,
				 struct net_verdict *v)
{
	struct net_pkt pk;
	enum net_parse k = net_frame_parse(frame, len, &pk);

	*v = (struct net_verdict){
		.rule = -1, .flags = NET_VF_NEW, .proto = pk.proto,
		.sport = pk.sport, .dport = pk.dport, .src = pk.src,
		.dst = pk.dst,
	};
	switch (k) {
	case NET_PARSE_IP:
		break;
	case NET_PARSE_ARP:
		return verdict(v, NET_ACT_PASS, NET_R_LINK);
	case NET_PARSE_FRAGMENT:
		/* slirp would reassemble after our check: overlapping
		 * fragments could rewrite the ports we checked */
		return verdict(v, NET_ACT_DENY, NET_R_FRAGMENT);
	case NET_PARSE_OTHER:
	case NET_PARSE_EXTHDR:
		return verdict(v, NET_ACT_DENY, NET_R_UNSUPPORTED);
	default:
		return verdict(v, NET_ACT_DENY, NET_R_MALFORMED);
	}
	if (link_plumbing(&pk))
		return verdict(v, NET_ACT_PASS, NET_R_LINK);
	if (p->mode == NET_OFF)
		return verdict(v, NET_ACT_DENY, NET_R_OFF);
	if (pk.dport == 53 && (pk.proto == P_UDP || pk.proto == P_TCP)) {
		if (!our_resolver(&pk.dst))
			return verdict(v, NET_ACT_DENY, NET_R_FOREIGN_DNS);
		return pk.proto == P_UDP
			       ? verdict(v, NET_ACT_DNS, NET_R_DNS)
			       : verdict(v, NET_ACT_DENY, NET_R_DNS_TCP);
	}

	bool echo = (pk.proto == P_ICMP && pk.icmp_type == 8) ||
		    (pk.proto == P_ICMP6 && pk.icmp_type == 128);
	bool track = pk.proto == P_TCP || pk.proto == P_UDP || echo;
	bool syn = pk.proto == P_TCP &&
		   (pk.tcp_flags & (TH_SYN | TH_ACK)) == TH_SYN;
	uint64_t key[5];
	uint32_t h = 0;
	struct flow *f = NULL;
	if (track) {
		flow_key(pk.family, pk.proto, pk.sport, echo ? 0 : pk.dport,
			 &pk.src, &pk.dst, key);
		h = hash_words(p->seed, key, 5);
		f = flow_find(p, key, h, now_ms);
		/* a SYN opens a new connection: always decided afresh */
		if (f && !syn) {
			if (echo && !echo_take(p, f, now_ms, v))
				return v->action;
			if (pk.proto == P_TCP && !tcp_guest(p, f, &pk)) {
				p->conn_limited++;
				v->fwd = 0;
				return verdict(v, NET_ACT_DENY,
					       NET_R_CONN_LIMIT);
			}
			flow_touch(f, pk.proto, now_ms);
			v->flags = 0;
			v->fwd = f->fwd;
			return verdict(v, NET_ACT_ALLOW, NET_R_FLOW);
		}
	}
	int fi = fwd_match(p, &pk);
	if (fi >= 0) {
		v->fwd = (uint8_t)(fi + 1);
		verdict(v, NET_ACT_ALLOW, NET_R_FORWARD);
	} else if (decide(p, &pk, now_ms, v) != NET_ACT_ALLOW || !track) {
		return v->action;
	}
	/* A new guest-opened connection (not a SYN retransmit on a live
	 * one) must fit the caps, and its flow must be kept to count it.
	 * Every echo request is new: slirp opens a socket for each. */
	bool fresh = echo || ((syn || pk.proto == P_UDP) &&
			      !(f && f->counted));
	if (fresh && !echo && !conn_admit(p, now_ms, v))
		return v->action;
	f = flow_put(p, key, h, pk.proto, now_ms);
	if (!f) {
		if (fresh) {
			p->conn_limited++;
			v->fwd = 0;
			verdict(v, NET_ACT_DENY, NET_R_CONN_LIMIT);
		}
		return v->action;
	}
	f->fwd = v->fwd;
	if (echo) {
		echo_take(p, f, now_ms, v);
	} else if (fresh && !f->counted) {
		if (syn)
			tcp_reset(f, pk.tcp_seq);
		f->counted = true;
		p->open_conns++;
		flow_touch(f, pk.proto, now_ms);
	}
	return v->action;
}

int net_policy_add_publish(struct net_policy *p, uint8_t proto,
			   uint16_t gport)
{
	if ((proto != P_TCP && proto != P_UDP) || !gport)
		return -EINVAL;
	if (p->npub == NET_MAX_PUBLISH)
		return -ENOSPC;
	p->pub[p->npub].proto = proto;
	p->pub[p->npub++].port = gport;
	return 0;
}

static bool published(const struct net_policy *p, uint8_t proto,
		      uint16_t gport)
{
	for (int i = 0; i < p->npub; i++)
		if (p->pub[i].proto == proto && p->pub[i].port == gport)
			return true;
	return false;
}

void net_policy_observe_rx(struct net_policy *p, const uint8_t *frame,
			   size_t len, uint64_t now_ms)
{
	struct net_pkt pk;
	uint64_t key[5];

	if (net_frame_parse(frame, len, &pk) != NET_PARSE_IP)
		return;
	if ((pk.proto == P_ICMP && pk.icmp_type == 0) ||
	    (pk.proto == P_ICMP6 && pk.icmp_type == 129)) {
		/* an echo reply: libslirp closes that request's socket */
		flow_key(pk.family, pk.proto, pk.sport, 0, &pk.dst, &pk.src,
			 key);
		struct flow *f = flow_find(p, key, hash_words(p->seed, key, 5),
					   now_ms);
		if (f && f->pending) {
			f->pending--;
			if (p->open_conns)
				p->open_conns--;
		}
		return;
	}
	if (pk.proto != P_TCP && pk.proto != P_UDP)
		return;
	flow_key(pk.family, pk.proto, pk.dport, pk.sport, &pk.dst, &pk.src,
		 key);
	uint32_t h = hash_words(p->seed, key, 5);
	struct flow *f = flow_find(p, key, h, now_ms);
	if (f) {
		if (pk.proto == P_TCP)
			tcp_slirp(p, f, &pk);
		flow_touch(f, pk.proto, now_ms);
		return;
	}
	/* Only a published port opens a flow from outside. Anything else
	 * slirp hands us came to a socket the guest opened, from anyone:
	 * libslirp's UDP sockets are unconnected (sorecvfrom), so the
	 * sender may be a spoofer or another port of an allowed host, and
	 * must not become a destination the guest may use (review 2, M1). */
	if (!published(p, pk.proto, pk.dport))
		return;
	if (pk.proto == P_UDP ||
	    (pk.tcp_flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN) {
		f = flow_put(p, key, h, pk.proto, now_ms);
		if (f && pk.proto == P_TCP) {
			f->st |= FS_INBOUND;
			flow_touch(f, pk.proto, now_ms);
		}
	}
}

/* --- events --------------------------------------------------------------- */

static const char *const reason_names[NET_R_COUNT] = {
	[NET_R_NONE] = "none",
	[NET_R_RULE] = "rule",
	[NET_R_ADMITTED] = "dns-admitted",
	[NET_R_INTERNET] = "internet",
	[NET_R_FLOW] = "flow",
	[NET_R_LINK] = "link",
	[NET_R_DNS] = "dns",
	[NET_R_HOSTS] = "hosts",
	[NET_R_OFF] = "network-off",
	[NET_R_NOT_ALLOWED] = "not-allowed",
	[NET_R_RESERVED] = "reserved-range",
	[NET_R_FOREIGN_DNS] = "foreign-dns",
	[NET_R_DNS_TCP] = "dns-over-tcp",
	[NET_R_FRAGMENT] = "fragment",
	[NET_R_UNSUPPORTED] = "unsupported",
	[NET_R_MALFORMED] = "malformed",
	[NET_R_BAD_NAME] = "bad-name",
	[NET_R_FORWARD] = "forward",
	[NET_R_CONN_LIMIT] = "connection-limit",
	[NET_R_RATE_LIMIT] = "rate-limit",
	[NET_R_HOST_ADDR] = "host-address",
};

const char *net_reason_str(enum net_reason r)
{
	return (unsigned)r < NET_R_COUNT ? reason_names[r] : "?";
}

void net_policy_event(const struct net_policy *p,
		      const struct net_verdict *v, struct net_event *ev)
{
	const struct net_rule *r = net_policy_rule(p, v->rule);

	*ev = (struct net_event){
		.action = v->action, .reason = v->reason,
		.rule = r ? v->rule : -1, .proto = v->proto,
		.port = v->dport, .addr = v->dst,
	};
	if (r)
		snprintf(ev->rule_text, sizeof(ev->rule_text), "%s", r->text);
	if (v->name)
		snprintf(ev->name, sizeof(ev->name), "%s", v->name);
}

int net_event_format(const struct net_event *ev, char *buf, size_t len)
{
	static const char *const act[] = { "deny", "allow", "dns", "pass" };
	char a[48], proto[8];
	const char *pn = ev->proto == P_TCP ? "tcp" : ev->proto == P_UDP ? "udp"
		       : ev->proto == P_ICMP ? "icmp"
		       : ev->proto == P_ICMP6 ? "icmp6" : NULL;

	if (!pn) {
		snprintf(proto, sizeof(proto), "ip%u", ev->proto);
		pn = proto;
	}
	net_addr_format(&ev->addr, a, sizeof(a));
	return snprintf(buf, len, "%s %s %s%s%s:%u %s rule=%s name=%s",
			act[(unsigned)ev->action & 3], pn,
			ev->addr.family == NET_AF6 ? "[" : "", a,
			ev->addr.family == NET_AF6 ? "]" : "", ev->port,
			net_reason_str(ev->reason),
			ev->rule_text[0] ? ev->rule_text : "-",
			ev->name[0] ? ev->name : "-");
}
