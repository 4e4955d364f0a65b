/* testdnsd.c: a tiny static DNS server for the nested test host — the
 * stand-in for the host resolver the VMM asks (host/net/dns_upstream.c).
 *
 *   testdnsd ADDR PORT NAME=IP [NAME=IP...]
 *
 * Listens on UDP ADDR:PORT (an IPv4 or IPv6 literal; PORT 0 picks one and
 * the listening line says which). Answers (RFC 1035 §4.1):
 *   - an A query, class IN, for a listed NAME: NOERROR with one A record
 *     per NAME=IP given for it, TTL 60;
 *   - another type or class for a listed NAME: NOERROR, no records;
 *   - any other name: NXDOMAIN;
 *   - an opcode other than QUERY: NOTIMP; a question it cannot read
 *     (QDCOUNT != 1, compression, truncated): FORMERR; responses (QR=1)
 *     and anything shorter than a header: no answer.
 * Names compare case-insensitively; IPv4 only. Every question it reads is
 * appended as one line (the name as received, dotted, bytes outside
 * [!-~] and '.', '\' inside a label as \DDD) to the file named by
 * $TESTDNSD_LOG if set, so a test can prove which names reached the
 * upstream and which never did. Prints "testdnsd: listening on ..." on
 * stderr once bound, then one line per question with its id.
 * $TESTDNSD_DROP=NAME: the first question for NAME gets no answer (so
 * the asker's retry is exercised); later ones are answered.
 *
 * Test-only and deliberately small: one socket, one loop, every read
 * bounded by the datagram's length, nothing allocated. Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HDR	    12
#define UDP_MAX	    512		/* no EDNS: replies fit 512 */
#define MAX_HOSTS   64
#define NAME_MAX_TX 1024	/* 255 wire bytes, each at most "\DDD" */
#define TTL	    60

#define RC_NOERROR  0
#define RC_FORMERR  1
#define RC_NXDOMAIN 3
#define RC_NOTIMP   4

struct host {
	char name[256];		/* dotted, no trailing dot */
	struct in_addr a;
};

static struct host hosts[MAX_HOSTS];
static int nhosts;

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void usage(void)
{
	fprintf(stderr, "usage: testdnsd ADDR PORT NAME=IP [NAME=IP...]\n");
	exit(2);
}

/* NAME=IPv4 into hosts[]; a trailing dot on NAME is dropped. */
static void add_host(const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;

	if (n && arg[n - 1] == '.')
		n--;
	if (!eq || !n || n >= sizeof(hosts[0].name) || nhosts == MAX_HOSTS) {
		fprintf(stderr, "testdnsd: bad or too many NAME=IP '%s'\n",
			arg);
		exit(2);
	}
	struct host *h = &hosts[nhosts];
	memcpy(h->name, arg, n);
	h->name[n] = 0;
	if (inet_pton(AF_INET, eq + 1, &h->a) != 1) {
		fprintf(stderr, "testdnsd: '%s' is not an IPv4 address\n",
			eq + 1);
		exit(2);
	}
	nhosts++;
}

/* The question name at m[HDR] as dotted text (case kept, odd bytes as
 * \DDD); *end is the offset after it. Compression is refused: a query has
 * nothing earlier to point at. -1 if the name cannot be read. */
static int read_name(const uint8_t *m, size_t n, char *txt, size_t *end)
{
	size_t off = HDR, w = 0, wire = 0;

	for (;;) {
		if (off >= n)
			return -1;
		size_t l = m[off];
		if (l == 0)
			break;
		if (l > 63 || l > n - off - 1 || (wire += 1 + l) > 254)
			return -1;
		if (w)
			txt[w++] = '.';
		for (size_t i = 1; i <= l; i++) {
			uint8_t c = m[off + i];
			if (c > ' ' && c < 0x7f && c != '.' && c != '\\')
				txt[w++] = (char)c;
			else
				w += (size_t)sprintf(txt + w, "\\%03u", c);
		}
		off += 1 + l;
	}
	if (!w)
		txt[w++] = '.';		/* the root */
	txt[w] = 0;
	*end = off + 1;
	return 0;
}

/* Append the name as one line to $TESTDNSD_LOG: one write() of the
 * whole line, O_APPEND, so lines never interleave. */
static void log_name(const char *txt)
{
	const char *path = getenv("TESTDNSD_LOG");
	char line[NAME_MAX_TX + 2];
	int fd;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "testdnsd: %s: %s\n", path, strerror(errno));
		return;
	}
	int len = snprintf(line, sizeof(line), "%s\n", txt);
	if (write(fd, line, (size_t)len) != len)
		fprintf(stderr, "testdnsd: %s: short write\n", path);
	close(fd);
}

/* The reply to query q (qlen bytes) in r; its length, 0 for none. */
static size_t answer(const uint8_t *q, size_t qlen, uint8_t *r)
{
	char txt[NAME_MAX_TX + 1];
	size_t end = 0, at = HDR;
	uint16_t flags;
	int rcode = RC_NOERROR, an = 0;

	if (qlen < HDR || (q[2] & 0x80))
		return 0;	/* never answer a response: reflection loops */
	flags = rd16(q + 2);
	memset(r, 0, HDR);
	memcpy(r, q, 2);
	/* QR, the opcode and RD echoed, AA, RA */
	wr16(r + 2, (uint16_t)(0x8000 | (flags & 0x7900) | 0x0400 | 0x0080));
	if ((flags >> 11) & 15) {
		fprintf(stderr, "testdnsd: opcode %u: NOTIMP\n",
			(flags >> 11) & 15);
		r[3] |= RC_NOTIMP;
		return HDR;
	}
	if (rd16(q + 4) != 1 || read_name(q, qlen, txt, &end) ||
	    qlen - end < 4) {
		fprintf(stderr, "testdnsd: unreadable question: FORMERR\n");
		r[3] |= RC_FORMERR;
		return HDR;
	}
	uint16_t qtype = rd16(q + end), qclass = rd16(q + end + 2);
	log_name(txt);
	static bool dropped;
	const char *drop = getenv("TESTDNSD_DROP");
	if (drop && !dropped && !strcasecmp(drop, txt)) {
		dropped = true;
		fprintf(stderr, "testdnsd: %s type %u id %u: dropped\n", txt,
			qtype, rd16(q));
		return 0;
	}

	bool known = false;
	memcpy(r + at, q + HDR, end + 4 - HDR);	/* the question echoed */
	at = end + 4;
	for (int i = 0; i < nhosts; i++) {
		if (strcasecmp(hosts[i].name, txt))
			continue;
		known = true;
		if (qtype != 1 || qclass != 1 || at + 16 > UDP_MAX)
			continue;
		wr16(r + at, 0xc000 | HDR);
		wr16(r + at + 2, 1);
		wr16(r + at + 4, 1);
		wr16(r + at + 6, 0);
		wr16(r + at + 8, TTL);
		wr16(r + at + 10, 4);
		memcpy(r + at + 12, &hosts[i].a, 4);
		at += 16;
		an++;
	}
	if (!known)
		rcode = RC_NXDOMAIN;
	r[3] |= (uint8_t)rcode;
	wr16(r + 4, 1);
	wr16(r + 6, (uint16_t)an);
	fprintf(stderr, "testdnsd: %s type %u id %u: %s, %d answer%s\n", txt,
		qtype, rd16(q), rcode ? "NXDOMAIN" : "NOERROR", an,
		an == 1 ? "" : "s");
	return at;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	char *endp;
	int fd;

	if (argc < 4)
		usage();
	unsigned long port = strtoul(argv[2], &endp, 10);
	if (*endp || !*argv[2] || port > 65535)
		usage();
	for (int i = 3; i < argc; i++)
		add_host(argv[i]);

	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, argv[1], &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, argv[1], &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		fprintf(stderr, "testdnsd: '%s' is not an address\n", argv[1]);
		return 2;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		fprintf(stderr, "testdnsd: %s port %s: %s\n", argv[1], argv[2],
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "testdnsd: listening on %s port %u\n", argv[1],
		ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port));

	for (;;) {
		uint8_t q[4096], r[UDP_MAX];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0,
				     (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "testdnsd: recvfrom: %s\n",
				strerror(errno));
			return 1;
		}
		size_t rl = answer(q, (size_t)n, r);
		if (rl && sendto(fd, r, rl, 0, (struct sockaddr *)&from,
				 fl) < 0)
			fprintf(stderr, "testdnsd: sendto: %s\n",
				strerror(errno));
	}
}
