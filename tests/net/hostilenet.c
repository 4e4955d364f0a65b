/* hostilenet.c: a hostile guest's network tricks, and the host-side
 * spoofer, for the nested test host (tests/testhost/vmtests.sh cases
 * hostile-net-*). Static musl, no libraries: the same binary runs inside
 * the L2 guest (put there with voidbox exec --put, run as root: raw
 * sockets) and in L1.
 *
 *   hostilenet rst-churn ADDR PORT COUNT HOLD_S
 *	COUNT times: a real TCP connect() to ADDR:PORT from a fresh port;
 *	if it is taken, the SYN-ACK's numbers are read off a raw socket and
 *	an RST far outside slirp's window (seq = our next byte + 2^30) goes
 *	out through the raw socket. The kernel's own socket stays open and
 *	silent, so the only thing that could free a connection slot is the
 *	bogus RST, which libslirp drops (tcp_input: "segment ends after
 *	window" -> dropafterack -> drop). Prints
 *	  "held H refused R other O" (refused: ECONNREFUSED, the VMM's RST)
 *	then sleeps HOLD_S with all held, then closes them with SO_LINGER 0
 *	(an in-window RST each: real releases) and connects once more:
 *	  "after-release ok|refused|error E".
 *   hostilenet ping ADDR COUNT HOLD_S
 *	COUNT ICMP echo requests (raw socket, one id, seq 0..COUNT-1), then
 *	2 s of listening: "sent S replies R unreach U" (unreach: ICMP
 *	destination-unreachable quoting one of ours), then sleeps HOLD_S.
 *   hostilenet udp-guest ADDR PORT SPOOF_PORT
 *	From one bound UDP socket: datagrams to ADDR:PORT (allowed) every
 *	200 ms until one arrives from ADDR:SPOOF_PORT (15 s at most):
 *	"spoofed-from ADDR:SPOOF_PORT" (or "no-spoofed-datagram ..."); then
 *	either way 5 datagrams "guest-reply" to ADDR:SPOOF_PORT from the
 *	same socket: "sent-to-spoofer N".
 *   hostilenet udp-spoof LISTEN_PORT SPOOF_PORT WAIT_S     (in L1)
 *	Waits on 127.0.0.1:LISTEN_PORT (the allowed service) for the
 *	guest's datagram, which names slirp's host-side socket; then sends
 *	"spoof" to it from 127.0.0.1:SPOOF_PORT every 200 ms for WAIT_S
 *	seconds, printing "slirp-port P" and, if anything comes back to
 *	SPOOF_PORT, "SPOOF-REACHED <text>".
 *
 * Exit status 0 unless a socket could not be set up (2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD 4096

static void die(const char *what)
{
	fprintf(stderr, "hostilenet: %s: %s\n", what, strerror(errno));
	exit(2);
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static struct sockaddr_in sin_of(const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
		fprintf(stderr, "hostilenet: bad address %s\n", addr);
		exit(2);
	}
	return a;
}

static uint16_t csum(const void *p, size_t n, uint32_t sum)
{
	const uint8_t *b = p;
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The SYN-ACK from peer to our lport, off the raw TCP socket (which gets
 * a copy of every TCP segment the guest receives): our next sequence
 * number is its ack. */
static int synack_ack(int raw, const struct sockaddr_in *peer,
		      uint16_t lport, uint32_t *ack)
{
	uint8_t buf[2048];
	long end = now_ms() + 3000;

	for (;;) {
		long left = end - now_ms();
		struct pollfd pf = { .fd = raw, .events = POLLIN };
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return -1;
		ssize_t n = recv(raw, buf, sizeof(buf), 0);
		if (n < 20)
			continue;
		size_t ihl = (size_t)(buf[0] & 15) * 4;
		if ((size_t)n < ihl + 20 || buf[9] != IPPROTO_TCP)
			continue;
		const uint8_t *t = buf + ihl;
		if (memcmp(buf + 12, &peer->sin_addr, 4) ||
		    memcmp(t, &peer->sin_port, 2) ||
		    (t[2] << 8 | t[3]) != lport ||
		    (t[13] & 0x12) != 0x12)
			continue;
		*ack = rd32(t + 8);
		return 0;
	}
}

static void send_rst(int raw, const struct sockaddr_in *src,
		     const struct sockaddr_in *dst, uint32_t seq)
{
	uint8_t t[20] = { 0 };
	uint8_t ph[12];

	memcpy(t, &src->sin_port, 2);
	memcpy(t + 2, &dst->sin_port, 2);
	wr32(t + 4, seq);
	t[12] = 5 << 4;
	t[13] = 0x04;		/* RST */
	memcpy(ph, &src->sin_addr, 4);
	memcpy(ph + 4, &dst->sin_addr, 4);
	ph[8] = 0;
	ph[9] = IPPROTO_TCP;
	ph[10] = 0;
	ph[11] = sizeof(t);
	uint32_t s = 0;
	for (int i = 0; i < 12; i += 2)
		s += (uint32_t)(ph[i] << 8 | ph[i + 1]);
	uint16_t c = csum(t, sizeof(t), s);
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
	if (sendto(raw, t, sizeof(t), 0, (const struct sockaddr *)dst,
		   sizeof(*dst)) != (ssize_t)sizeof(t))
		fprintf(stderr, "hostilenet: rst: %s\n", strerror(errno));
}

static int tcp_connect(const struct sockaddr_in *dst)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 5 };
	if (s < 0)
		die("socket");
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (const struct sockaddr *)dst, sizeof(*dst)) == 0)
		return s;
	int e = errno;
	close(s);
	errno = e;
	return -1;
}

static int rst_churn(const char *addr, int port, int count, int hold)
{
	static int held[MAX_HELD];
	struct sockaddr_in dst = sin_of(addr, port);
	int nheld = 0, refused = 0, other = 0, bogus = 0;
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	int big = 4 << 20;

	if (raw < 0)
		die("raw tcp socket");
	if (setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (count > MAX_HELD)
		count = MAX_HELD;
	for (int i = 0; i < count; i++) {
		int s = tcp_connect(&dst);
		if (s < 0) {
			if (errno == ECONNREFUSED)
				refused++;
			else
				other++;
			continue;
		}
		held[nheld++] = s;
		struct sockaddr_in me;
		socklen_t ml = sizeof(me);
		uint32_t nxt;
		if (getsockname(s, (struct sockaddr *)&me, &ml) ||
		    synack_ack(raw, &dst, ntohs(me.sin_port), &nxt)) {
			fprintf(stderr, "hostilenet: no SYN-ACK seen for %d\n",
				i);
			continue;
		}
		/* far past anything slirp announced (its window is < 2^17) */
		send_rst(raw, &me, &dst, nxt + 0x40000000u);
		bogus++;
	}
	printf("held %d refused %d other %d bogus-rst %d\n", nheld, refused,
	       other, bogus);
	fflush(stdout);
	sleep((unsigned)hold);
	for (int i = 0; i < nheld; i++) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(held[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(held[i]);
	}
	sleep(2);
	int s = tcp_connect(&dst);
	if (s >= 0)
		printf("after-release ok\n");
	else if (errno == ECONNREFUSED)
		printf("after-release refused\n");
	else
		printf("after-release error %s\n", strerror(errno));
	return 0;
}

/* One ICMP message off the raw socket: a reply to us, or an unreachable
 * quoting one of our requests. */
static void icmp_take(const uint8_t *buf, ssize_t n, uint16_t id,
		      int *replies, int *unreach)
{
	if (n < 28)
		return;
	size_t ihl = (size_t)(buf[0] & 15) * 4;
	const uint8_t *ic = buf + ihl;
	if ((size_t)n < ihl + 8)
		return;
	if (ic[0] == 0 && (ic[4] << 8 | ic[5]) == id) {
		(*replies)++;
	} else if (ic[0] == 3 && (size_t)n >= ihl + 8 + 20 + 8) {
		const uint8_t *q = ic + 8;	/* the quoted request */
		const uint8_t *qi = q + (q[0] & 15) * 4;
		if ((size_t)(qi + 8 - buf) <= (size_t)n &&
		    q[9] == IPPROTO_ICMP && qi[0] == 8 &&
		    (qi[4] << 8 | qi[5]) == id)
			(*unreach)++;
	}
}

static int ping(const char *addr, int count, int hold)
{
	struct sockaddr_in dst = sin_of(addr, 0);
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	uint16_t id = (uint16_t)getpid();
	int sent = 0, replies = 0, unreach = 0, big = 4 << 20;
	uint8_t buf[2048];
	ssize_t n;

	if (raw < 0)
		die("raw icmp socket");
	/* room for every refusal (root: past rmem_max), and read as we go */
	if (setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	for (int i = 0; i < count; i++) {
		uint8_t m[16] = { 8, 0 };
		m[4] = (uint8_t)(id >> 8);
		m[5] = (uint8_t)id;
		m[6] = (uint8_t)(i >> 8);
		m[7] = (uint8_t)i;
		memcpy(m + 8, "voidbox!", 8);
		uint16_t c = csum(m, sizeof(m), 0);
		m[2] = (uint8_t)(c >> 8);
		m[3] = (uint8_t)c;
		if (sendto(raw, m, sizeof(m), 0, (struct sockaddr *)&dst,
			   sizeof(dst)) == (ssize_t)sizeof(m))
			sent++;
		while ((n = recv(raw, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			icmp_take(buf, n, id, &replies, &unreach);
	}
	long end = now_ms() + 2000;
	for (;;) {
		long left = end - now_ms();
		struct pollfd pf = { .fd = raw, .events = POLLIN };
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			break;
		if ((n = recv(raw, buf, sizeof(buf), 0)) > 0)
			icmp_take(buf, n, id, &replies, &unreach);
	}
	printf("sent %d replies %d unreach %d\n", sent, replies, unreach);
	fflush(stdout);
	sleep((unsigned)hold);
	return 0;
}

static int udp_socket(const char *addr, int port)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		die("udp socket");
	if (addr) {
		struct sockaddr_in a = sin_of(addr, port);
		int one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&a, sizeof(a)))
			die("bind");
	}
	return s;
}

static int udp_guest(const char *addr, int port, int sport)
{
	struct sockaddr_in svc = sin_of(addr, port), spoof = sin_of(addr, sport);
	int s = udp_socket("0.0.0.0", 0), got = 0, ok = 0;
	long end = now_ms() + 15000;
	char buf[512];

	while (!got && now_ms() < end) {
		sendto(s, "guest-hello", 11, 0, (struct sockaddr *)&svc,
		       sizeof(svc));
		struct pollfd pf = { .fd = s, .events = POLLIN };
		if (poll(&pf, 1, 200) <= 0)
			continue;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, buf, sizeof(buf) - 1, 0,
				     (struct sockaddr *)&from, &fl);
		got = n >= 0 && from.sin_port == spoof.sin_port &&
		      from.sin_addr.s_addr == spoof.sin_addr.s_addr;
	}
	printf(got ? "spoofed-from %s:%d\n" : "no-spoofed-datagram %s:%d\n",
	       addr, sport);
	/* try the spoofer's address either way: only a flow the guest
	 * opened may lead there */
	for (int i = 0; i < 5; i++) {
		if (sendto(s, "guest-reply", 11, 0, (struct sockaddr *)&spoof,
			   sizeof(spoof)) == 11)
			ok++;
		usleep(200000);
	}
	printf("sent-to-spoofer %d\n", ok);
	return 0;
}

static int udp_spoof(int lport, int sport, int wait_s)
{
	int l = udp_socket("127.0.0.1", lport);
	int sp = udp_socket("127.0.0.1", sport);
	struct sockaddr_in slirp;
	socklen_t sl = sizeof(slirp);
	char buf[512];

	if (recvfrom(l, buf, sizeof(buf), 0, (struct sockaddr *)&slirp,
		     &sl) < 0)
		die("recvfrom");
	printf("slirp-port %d\n", ntohs(slirp.sin_port));
	fflush(stdout);
	long end = now_ms() + wait_s * 1000L;
	while (now_ms() < end) {
		sendto(sp, "spoof", 5, 0, (struct sockaddr *)&slirp,
		       sizeof(slirp));
		struct pollfd pf = { .fd = sp, .events = POLLIN };
		if (poll(&pf, 1, 200) <= 0)
			continue;
		ssize_t n = recv(sp, buf, sizeof(buf) - 1, 0);
		if (n >= 0) {
			buf[n] = 0;
			printf("SPOOF-REACHED %s\n", buf);
			fflush(stdout);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && !strcmp(argv[1], "rst-churn"))
		return rst_churn(argv[2], atoi(argv[3]), atoi(argv[4]),
				 atoi(argv[5]));
	if (argc == 5 && !strcmp(argv[1], "ping"))
		return ping(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "udp-guest"))
		return udp_guest(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "udp-spoof"))
		return udp_spoof(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: hostilenet rst-churn ADDR PORT COUNT HOLD_S |"
		" ping ADDR COUNT HOLD_S | udp-guest ADDR PORT SPOOF_PORT |"
		" udp-spoof LISTEN_PORT SPOOF_PORT WAIT_S\n");
	return 2;
}
