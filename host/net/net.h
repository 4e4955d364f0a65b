/* net.h: table of contents of host/net/ — the guest egress policy filter
 * and the DNS responder, as a pure library over raw Ethernet frames.
 *
 * No sockets, no slirp, no logging: the virtio-net backend hands every
 * guest->outside frame to net_policy_check() before slirp sees it, answers
 * the guest's DNS itself through dns_query()/dns_build_answer(), and logs
 * the structured events (struct net_event) these functions describe.
 * Every frame is hostile guest input: each length is checked against the
 * bytes actually present before it is used.
 *
 * Guest network (slirp defaults, issue 4): 10.0.2.0/24, guest 10.0.2.15,
 * gateway 10.0.2.2 (slirp maps it to the host's loopback!), DNS 10.0.2.3;
 * IPv6 fec0::/64 with DNS fec0::3 (slirp's RA advertises it as RDNSS).
 *
 * Not thread-safe: one policy per VM, used from the VMM's I/O thread.
 */
#ifndef VOIDBOX_NET_H
#define VOIDBOX_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_AF4 4
#define NET_AF6 6

#define NET_MAX_RULES	  256	/* allow-list entries per policy */
#define NET_MAX_HOSTS	  256	/* static name -> address entries */
#define NET_MAX_FORWARDS  16	/* guest->host forwards */
#define NET_RULE_PORTS	  16	/* port ranges in one rule */
#define NET_RULE_TEXT_MAX 320	/* longest rule string, incl. NUL */
#define NET_ERR_MAX	  384	/* error buffer size (longer is truncated) */

#define DNS_NAME_MAX	 253	/* dotted, no trailing dot (RFC 1035 §2.3.4) */
#define DNS_NAME_WIRE	 255	/* the same name in wire form */
#define DNS_TTL_MIN	 5	/* answer TTLs (and admissions) are clamped */
#define DNS_TTL_MAX	 3600
#define DNS_HOSTS_TTL	 300	/* TTL of answers from the static hosts map */
#define DNS_MAX_ADDRS	 16	/* addresses in one answer (fits 512 bytes) */

/* Output buffer sizes that always suffice. */
#define NET_REFUSAL_MAX	 1294	/* Eth + IPv6 + ICMPv6 + 1232 quoted bytes */
#define DNS_REPLY_MAX	 574	/* Eth + IPv6 + UDP + 512-byte message */

/* One IPv4 or IPv6 address, network byte order. IPv4 uses b[0..3] and
 * leaves the rest zero, so whole-struct compares work. */
struct net_addr {
	uint8_t family;	/* NET_AF4, NET_AF6, 0 = none */
	uint8_t b[16];
};

enum net_mode {
	NET_OFF,	/* no traffic (ARP/NDP/DHCP still reach slirp) */
	NET_INTERNET,	/* public addresses; reserved ranges only if named */
	NET_ALLOW,	/* the allow-list only */
};

/* What to do with a guest->outside frame. DENY is zero on purpose: a
 * verdict nobody filled in denies. */
enum net_action {
	NET_ACT_DENY = 0, /* drop; send net_build_refusal() if it built one */
	NET_ACT_ALLOW,	  /* give to slirp */
	NET_ACT_DNS,	  /* a query to our resolver: call dns_query() */
	NET_ACT_PASS,	  /* ARP/NDP/DHCP for slirp itself: give to slirp */
};

enum net_reason {
	NET_R_NONE,
	/* allowed */
	NET_R_RULE,	   /* an address (CIDR) rule matched */
	NET_R_ADMITTED,	   /* address admitted by a DNS answer to a name rule */
	NET_R_INTERNET,	   /* public address in NET_INTERNET mode */
	NET_R_FLOW,	   /* later packet of a flow allowed earlier */
	NET_R_LINK,	   /* ARP, NDP, DHCP: link plumbing slirp answers */
	NET_R_DNS,	   /* UDP query to our resolver */
	NET_R_HOSTS,	   /* DNS: name answered from the static hosts map */
	NET_R_FORWARD,	   /* a guest->host forward (NAT to the host side) */
	/* denied */
	NET_R_OFF,	   /* mode NET_OFF */
	NET_R_NOT_ALLOWED, /* no rule matched */
	NET_R_RESERVED,	   /* loopback/link-local/private/..., not named */
	NET_R_FOREIGN_DNS, /* DNS to a resolver other than ours */
	NET_R_DNS_TCP,	   /* TCP to our resolver: refused, guests retry UDP */
	NET_R_FRAGMENT,	   /* IP fragment: no port to check */
	NET_R_UNSUPPORTED, /* non-IP ethertype, IPv6 extension/jumbo */
	NET_R_MALFORMED,   /* truncated or inconsistent headers */
	NET_R_BAD_NAME,	   /* DNS name outside [a-z0-9_-] labels */
	NET_R_CONN_LIMIT,  /* too many open connections (net_policy_set_limits) */
	NET_R_RATE_LIMIT,  /* new connections faster than the rate limit */
	NET_R_HOST_ADDR,   /* one of the host's own interface addresses */
	NET_R_COUNT
};

#define NET_VF_NEW 1	/* first packet of a flow or a fresh decision: log it */

/* The decision on one frame or one DNS question, for the event log. */
struct net_verdict {
	enum net_action action;
	enum net_reason reason;
	int rule;		/* index of the deciding rule, -1 for none */
	uint8_t proto;		/* IP proto: 6 tcp, 17 udp, 1 icmp, 58 icmp6 */
	uint8_t flags;		/* NET_VF_* */
	uint16_t sport, dport;	/* 0 when the protocol has none */
	uint8_t fwd;		/* forward index + 1 (NAT this frame), 0 none */
	struct net_addr src, dst;
	/* The name that admitted dst (NET_R_ADMITTED) or the DNS question:
	 * points into the policy or the dns_query; valid until the next
	 * call that changes either. NULL when unknown. */
	const char *name;
};

/* The structured decision event the caller logs (issue 4: allow/deny,
 * rule, name, address, port). Self-contained: no pointers. */
struct net_event {
	enum net_action action;
	enum net_reason reason;
	int rule;				/* -1 for none */
	uint8_t proto;
	uint16_t port;				/* destination port or 0 */
	struct net_addr addr;			/* destination */
	char rule_text[NET_RULE_TEXT_MAX];	/* "" when no rule */
	char name[DNS_NAME_MAX + 1];		/* "" when unknown */
};

/* One parsed rule (see net_rule_parse). Plain data. */
enum net_rule_kind { NET_RULE_CIDR, NET_RULE_HOST, NET_RULE_WILDCARD };
struct net_port_range {
	uint16_t lo, hi;
};
struct net_rule {
	enum net_rule_kind kind;
	uint8_t prefix;		/* CIDR prefix length */
	uint8_t nports;		/* 0 = every port (and ICMP) */
	struct net_addr addr;	/* CIDR network, host bits zero */
	struct net_port_range ports[NET_RULE_PORTS];
	char name[DNS_NAME_MAX + 1]; /* HOST: the name; WILDCARD: the suffix */
	char text[NET_RULE_TEXT_MAX];	/* the rule as written */
};

/* Big-endian field access for the parsers and builders here (frame.c,
 * dns.c, dns_upstream.c). Callers bound-check first. */
static inline uint16_t net_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t net_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}
static inline void net_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

struct net_policy;

/* policy.c: rules, the admitted-address and flow tables, verdicts. */

/* A policy in `mode` with no rules. NULL on ENOMEM. Caller frees. */
struct net_policy *net_policy_new(enum net_mode mode);
void net_policy_free(struct net_policy *p);	/* NULL is fine */
/* Append a rule (net_rule_parse syntax). -EINVAL (message in err) or
 * -ENOSPC after NET_MAX_RULES. Rule indexes are the order of addition. */
int net_policy_add_rule(struct net_policy *p, const char *text, char *err,
			size_t errlen);
/* Static hosts entry: `name` resolves to `addr` (IPv4 or IPv6 text; call
 * again to give a name both). Resolution only: connecting still needs a
 * rule or NET_INTERNET, except that hosts answers are never filtered as
 * DNS rebinding. -EINVAL (message in err) or -ENOSPC. */
int net_policy_add_host(struct net_policy *p, const char *name,
			const char *addr, char *err, size_t errlen);
const struct net_rule *net_policy_rule(const struct net_policy *p, int i);

/* A guest->host forward: the guest connects to guest:gport (TCP or UDP)
 * and reaches host:hport, e.g. "10.0.2.2:11434=127.0.0.1:11434" for a
 * host Ollama. The frames are rewritten (NAT) on the way to slirp and
 * back, so slirp connects to the host side; a forward is its own allow
 * rule, and nothing else about the host side becomes reachable. */
struct net_forward {
	struct net_addr guest, host;	/* IPv4 */
	uint16_t gport, hport;
	char text[64];
};
/* Parse and append "GUESTIP:PORT=HOSTIP:PORT". The guest side is
 * 10.0.2.2 or an address outside the slirp network (so the guest routes
 * it to the gateway without ARP); the host side any unicast IPv4 address
 * outside it (127.0.0.1 for a host-loopback service). -EINVAL (message
 * in err) or -ENOSPC after NET_MAX_FORWARDS. */
int net_policy_add_forward(struct net_policy *p, const char *text, char *err,
			   size_t errlen);
/* The same syntax check alone (for CLI and spec validation). */
int net_forward_parse(const char *text, struct net_forward *out, char *err,
		      size_t errlen);
const struct net_forward *net_policy_forward(const struct net_policy *p,
					     int i);
/* Per-VM connection caps: at most max_conns host sockets slirp holds for
 * the guest — TCP connections, UDP flows and ICMP echo requests awaiting
 * their reply — and new ones at most rate_per_s per second (a token
 * bucket holding one second's worth). 0 = no limit. Defaults:
 * NET_DEF_MAX_CONNS, NET_DEF_CONN_RATE. A TCP connection counts until
 * slirp's socket is closed, judged from both directions' segments, not
 * the guest's FIN or RST alone (policy.c). Over a limit, the new
 * connection is denied (RST / ICMP unreachable). */
#define NET_DEF_MAX_CONNS 512
#define NET_DEF_CONN_RATE 1000
void net_policy_set_limits(struct net_policy *p, uint32_t max_conns,
			   uint32_t rate_per_s);
/* NAT for forwards. _tx: when v->fwd is set, copy the guest frame to out
 * with its destination rewritten to the forward's host side (checksums
 * fixed) and return its length; else 0. _rx: a frame slirp sends the
 * guest from a forward's host side, on a forwarded flow, copied to out
 * with its source rewritten back to the guest side; else 0. */
size_t net_policy_nat_tx(const struct net_policy *p,
			 const struct net_verdict *v, const uint8_t *frame,
			 size_t len, uint8_t *out, size_t cap);
size_t net_policy_nat_rx(struct net_policy *p, const uint8_t *frame,
			 size_t len, uint64_t now_ms, uint8_t *out,
			 size_t cap);

/* Decide a guest->outside frame. Never reads past frame[len-1]; fills
 * every field of *v. Allowed TCP/UDP/ICMP-echo flows are remembered, so a
 * connection outlives the DNS admission that allowed its first packet. */
enum net_action net_policy_check(struct net_policy *p, const uint8_t *frame,
				 size_t len, uint64_t now_ms,
				 struct net_verdict *v);
/* A published guest port (slirp hostfwd): inbound connections (proto 6)
 * or datagrams (17) to guest port gport may be answered. -ENOSPC after
 * NET_MAX_PUBLISH, -EINVAL for another proto or port 0. */
#define NET_MAX_PUBLISH 16
int net_policy_add_publish(struct net_policy *p, uint8_t proto,
			   uint16_t gport);
/* Tell the policy about a frame slirp delivers to the guest. It keeps the
 * guest's own flows alive, and a TCP SYN or UDP datagram to a published
 * port registers the reverse flow so the guest may answer. Nothing else
 * opens a flow: slirp's UDP sockets take datagrams from any sender
 * (libslirp sorecvfrom), so a reply counts only from the exact
 * address:port of a flow the guest opened. */
void net_policy_observe_rx(struct net_policy *p, const uint8_t *frame,
			   size_t len, uint64_t now_ms);
/* One of the host's own interface addresses: never a destination, in any
 * mode, whatever a rule or DNS answer says (forwards still reach host
 * services). 0, -EINVAL for a family-less address, -ENOSPC after
 * NET_MAX_HOST_ADDRS. */
#define NET_MAX_HOST_ADDRS 256
int net_policy_add_host_addr(struct net_policy *p, const struct net_addr *a);
/* May a DNS answer admit private addresses (RFC 1918, CGNAT, ULA, NAT64)
 * for name rules? Off by default: the owner of an allowed name could point
 * it into the host's LAN. Loopback, link-local, multicast and slirp's own
 * networks are never admitted from DNS either way. */
void net_policy_set_private_dns(struct net_policy *p, bool on);
/* Drop expired admissions and flows (call from a timer, e.g. 1 s). */
void net_policy_expire(struct net_policy *p, uint64_t now_ms);
/* Table occupancy and what did not fit, for telemetry and tests. */
struct net_stats {
	uint32_t rules, hosts;
	uint32_t admitted, flows;	/* live slots (expired until swept) */
	uint64_t admit_full, flow_full; /* entries refused: table full */
	uint32_t open_conns;		/* counted against max_conns */
	uint64_t conn_limited, rate_limited; /* connections refused */
};
void net_policy_stats(const struct net_policy *p, struct net_stats *st);

/* The DNS side, used by dns.c: decide a question name (lower-case dotted)
 * into v (ALLOW/DENY, reason, rule) and set a bit in rules[] for every
 * name rule that matches it. Returns whether the hosts map has the name. */
bool net_policy_name(const struct net_policy *p, const char *name,
		     struct net_verdict *v, uint8_t rules[NET_MAX_RULES / 8]);
/* Addresses of `name` in the static hosts map with `family`, at most
 * max. Returns how many were copied. */
size_t net_policy_hosts(const struct net_policy *p, const char *name,
			uint8_t family, struct net_addr *out, size_t max);
/* Admit address a for every rule set in rules[] until now + ttl_s.
 * Unless `trusted` (static hosts), addresses DNS must never point into
 * (loopback, link-local, multicast, the slirp network) are refused, so an
 * allowed name cannot be rebound onto the host, and so are private ranges
 * unless net_policy_set_private_dns() allowed them. Returns admissions
 * made. */
int net_policy_admit(struct net_policy *p, const uint8_t *rules,
		     const char *name, const struct net_addr *a,
		     uint32_t ttl_s, uint64_t now_ms, bool trusted);

/* The event for a verdict (call before the next policy mutation when
 * v->name points into the policy). */
void net_policy_event(const struct net_policy *p,
		      const struct net_verdict *v, struct net_event *ev);
/* One line: "deny tcp 169.254.169.254:80 reserved-range rule=- name=-". */
int net_event_format(const struct net_event *ev, char *buf, size_t len);
const char *net_reason_str(enum net_reason r);

/* frame.c: header parsing and the frames we build. */

/* The parsed headers of one frame; offsets are into the frame. */
struct net_pkt {
	uint16_t ethertype;
	uint8_t family;		/* NET_AF4/NET_AF6, 0 for ARP */
	uint8_t proto;		/* L4 protocol (after IPv6 ext headers) */
	uint8_t tcp_flags;
	uint8_t icmp_type, icmp_code;
	uint8_t hop_limit;	/* IPv4 TTL / IPv6 hop limit */
	uint16_t sport, dport;	/* ICMP echo/reply: sport = identifier */
	uint16_t tcp_win;	/* unscaled (slirp does no window scaling) */
	uint32_t tcp_seq, tcp_ack;
	struct net_addr src, dst;
	size_t l3_off, l3_len;	/* IP header start; IP length w/o Eth padding */
	size_t l4_off, l4_len;	/* L4 header start; bytes to the end of IP */
	size_t data_off, data_len;	/* TCP/UDP payload */
};
enum net_parse {
	NET_PARSE_IP,		/* IPv4/IPv6 with a complete L4 header */
	NET_PARSE_ARP,		/* a well-formed ARP packet */
	NET_PARSE_OTHER,	/* another ethertype */
	NET_PARSE_FRAGMENT,	/* IP fragment (addresses valid, ports not) */
	NET_PARSE_EXTHDR,	/* IPv6 routing/AH/ESP/jumbo: not walked */
	NET_PARSE_BAD,		/* truncated or inconsistent */
};
enum net_parse net_frame_parse(const uint8_t *frame, size_t len,
			       struct net_pkt *pk);
/* The refusal for a denied frame, addressed back to the guest: a TCP RST
 * (RST+ACK for a SYN, RFC 793 "Reset Generation") or ICMP/ICMPv6
 * destination unreachable, administratively prohibited (RFC 1812 §5.2.7.1,
 * RFC 4443 §3.1), with valid checksums. Returns the frame length, or 0
 * when none is due (RST, ICMP errors, multicast, fragments, garbage) or
 * cap is short; NET_REFUSAL_MAX always suffices. */
size_t net_build_refusal(const uint8_t *frame, size_t len, uint8_t *out,
			 size_t cap);	/* out must not overlap frame */
/* Where a UDP datagram we send to the guest comes from and goes to. */
struct net_udp_route {
	uint8_t dst_mac[6], src_mac[6];
	struct net_addr src, dst;	/* same family */
	uint16_t sport, dport;
};
/* The route back for the UDP datagram parsed from `frame` into *pk: MACs,
 * addresses and ports swapped. */
void net_frame_reply_route(const uint8_t *frame, const struct net_pkt *pk,
			   struct net_udp_route *rt);
/* Build Eth + IP + UDP + data along rt, checksums filled. Returns the
 * frame length, 0 if cap is short. data may overlap out. */
size_t net_frame_udp(const struct net_udp_route *rt, const uint8_t *data,
		     size_t dlen, uint8_t *out, size_t cap);
/* Rewrite the IPv4 destination (dst) or source address and TCP/UDP port
 * of the frame parsed into *pk, updating the IP and L4 checksums
 * incrementally (RFC 1624). pk must be an IPv4 TCP/UDP NET_PARSE_IP. */
void net_frame_nat4(uint8_t *frame, const struct net_pkt *pk, bool dst,
		    const uint8_t addr[4], uint16_t port);
/* Reserved ranges (loopback, link-local, RFC 1918, CGNAT, multicast,
 * broadcast, the slirp networks, IPv6 equivalents): the prefix length of
 * the most specific one holding a, or -1 for a public address. *dns_ok
 * (if given) says whether a DNS answer may admit a (private networks) or
 * not (loopback, link-local, multicast, slirp's own: rebinding targets). */
int net_addr_reserved(const struct net_addr *a, bool *dns_ok);
/* Parse "a.b.c.d" (strict decimal) or an IPv6 literal. 0 or -EINVAL. */
int net_addr_parse(const char *s, struct net_addr *a);
/* Text form into buf (>= 46 bytes is always enough). */
void net_addr_format(const struct net_addr *a, char *buf, size_t len);

/* dns.c: the guest's resolver (RFC 1035 messages, UDP only), and the
 * text of names and rules. */

enum dns_disposition {
	DNS_DROP,	/* not a usable query: send nothing */
	DNS_REPLY,	/* out holds a reply frame (NXDOMAIN, hosts, NODATA) */
	DNS_RESOLVE,	/* resolve q->name (q->qtype A/AAAA) on the host,
			 * then dns_build_answer() or dns_build_error() */
};
/* A parsed query, self-contained (copied out of the frame) so it can wait
 * for an asynchronous host resolution. */
struct dns_query {
	struct net_udp_route reply;	/* from our resolver to the guest */
	uint16_t id, flags;		/* flags as received (RD is echoed) */
	uint16_t qtype, qclass;
	uint16_t qwire_len;
	uint8_t qwire[DNS_NAME_WIRE];	/* the name as sent (case kept) */
	char name[DNS_NAME_MAX + 1];	/* lower-case dotted */
	struct net_verdict v;		/* the decision, for the event log */
	uint8_t rules[NET_MAX_RULES / 8]; /* name rules that matched */
};
#define DNS_TYPE_A    1
#define DNS_TYPE_AAAA 28
#define DNS_RCODE_FORMERR  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP   4
#define DNS_RCODE_REFUSED  5

/* Handle a frame net_policy_check() called NET_ACT_DNS: parse it into *q
 * (q->v says allow/deny and why) and either build the reply in out
 * (*out_len bytes; DNS_REPLY_MAX suffices) or ask the caller to resolve.
 * Answers from the static hosts map are admitted here. */
enum dns_disposition dns_query(struct net_policy *p, const uint8_t *frame,
			       size_t len, uint64_t now_ms,
			       struct dns_query *q, uint8_t *out, size_t cap,
			       size_t *out_len);
/* The reply to a DNS_RESOLVE query: the addrs of q's family (others are
 * skipped, at most DNS_MAX_ADDRS), TTL clamped to [DNS_TTL_MIN,
 * DNS_TTL_MAX]; each address is admitted for the rules in q->rules for
 * that TTL. n == 0 gives an empty NOERROR answer. Returns the frame
 * length, 0 if cap is short. */
size_t dns_build_answer(struct net_policy *p, const struct dns_query *q,
			const struct net_addr *addrs, size_t n, uint32_t ttl,
			uint64_t now_ms, uint8_t *out, size_t cap);
/* An answer-less reply with `rcode` (e.g. the host said NXDOMAIN, or
 * SERVFAIL when resolution failed). Returns the frame length or 0. */
size_t dns_build_error(const struct dns_query *q, int rcode, uint8_t *out,
		       size_t cap);
/* Parse "CIDR[:ports]", "[v6/n][:ports]", "host.name[:ports]" or
 * "*.suffix[:ports]" into *r; ports "443", "80,443", "8000-8100" and
 * combinations, none = all. Returns 0, or -EINVAL with a message naming
 * the bad part in err (NUL-terminated if errlen > 0). Lives here, next to
 * the name syntax it mostly is; keeps the net_ name host/spec looks for. */
int net_rule_parse(const char *text, struct net_rule *r, char *err,
		   size_t errlen);
/* Does host or wildcard rule r match `name` (normalized, nlen bytes)?
 * "*.suffix" matches sub-domains only, never the bare suffix. */
bool dns_rule_matches(const struct net_rule *r, const char *name,
		      size_t nlen);
/* Read the (maybe compressed, RFC 1035 §4.1.4) name at m[off] of an n-byte
 * message into wire, uncompressed, case kept; *end is the offset just
 * after it. Each pointer must point strictly before the previous target,
 * so the walk ends. -1 on anything malformed or over DNS_NAME_WIRE. */
int dns_wire_name(const uint8_t *m, size_t n, size_t off, uint8_t *wire,
		  size_t *wlen, size_t *end);
/* Validate a dotted host name (labels of [A-Za-z0-9_-], 1-63 bytes, at
 * most DNS_NAME_MAX, top label not all digits) and copy it lower-cased,
 * without a trailing dot, to out. 0 or -EINVAL with a message in err. */
int dns_name_normalize(const char *in, char out[DNS_NAME_MAX + 1],
		       char *err, size_t errlen);

/* dns_upstream.c: the VMM's own query to the host's resolver for a
 * DNS_RESOLVE question, and the checks on the reply. No sockets: the
 * caller sends and receives on a UDP socket connected to the resolver. */

/* Header + 255-byte name + type + class: always enough for a query. */
#define DNS_UPSTREAM_QUERY_MAX (12 + DNS_NAME_WIRE + 4)

/* Build a fresh RFC 1035 query into out: `id`, RD, one question (q->name,
 * q->qtype, class IN), no EDNS. Never the guest's bytes: only the name the
 * policy judged leaves. Returns the length, or 0 if cap is short, q->qtype
 * is not A/AAAA or q->name is not exactly as dns_name_normalize() left it.
 * Pick id unpredictably (getrandom) for every query, retries included. */
size_t dns_upstream_query(const struct dns_query *q, uint16_t id,
			  uint8_t *out, size_t cap);
/* Check that msg (len bytes) is the reply to the query built for q with
 * `id`: id, QR=1, opcode 0, exactly our question (name case-insensitive,
 * type, class IN). Returns 0 with *rcode (the header's), and, only when
 * *rcode is 0, the RDATA of the answer records of q->qtype and class IN
 * in addrs (at most max; records of other types such as CNAME skipped,
 * whatever their owner) with *n of them and *ttl their smallest TTL (0 if
 * none; a TTL >= 2^31 counts as 0, RFC 2181 §8; not clamped).
 * -EMSGSIZE: our reply but truncated (TC): fail the question. -EINVAL:
 * malformed or not ours (wrong id, question, ...): ignore it and keep
 * waiting. On error *n is 0 and addrs[0..max) may have been written. */
int dns_upstream_parse(const uint8_t *msg, size_t len,
		       const struct dns_query *q, uint16_t id,
		       struct net_addr *addrs, size_t max, size_t *n,
		       uint32_t *ttl, int *rcode);

#endif
