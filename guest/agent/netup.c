/* netup.c: loopback and, on request, the slirp-facing eth0.
 *
 * Plain ioctls, no netlink and no DHCP: the addressing is fixed by the
 * VMM's slirp (ARCHITECTURE §3: 10.0.2.15/24, gateway 10.0.2.2, DNS
 * 10.0.2.3), so a DHCP exchange would only add boot latency. Bringing lo
 * up is enough for the kernel to give it 127.0.0.1/8 (devinet.c,
 * inetdev_event NETDEV_UP on a loopback device).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

#define NET_IF     "eth0"
#define NET_ADDR   "10.0.2.15"
#define NET_MASK   "255.255.255.0"
#define NET_GW     "10.0.2.2"
#define NET_DNS    "10.0.2.3"

static void set_sin(struct sockaddr *sa, const char *ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;

	*sin = (struct sockaddr_in){ .sin_family = AF_INET };
	inet_pton(AF_INET, ip, &sin->sin_addr);
}

static int if_up(int s, const char *name)
{
	struct ifreq ifr = { 0 };

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

static int if_addr(int s, const char *name, unsigned long req,
		   const char *ip)
{
	struct ifreq ifr = { 0 };

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	set_sin(&ifr.ifr_addr, ip);
	return ioctl(s, req, &ifr) < 0 ? -errno : 0;
}

static int default_route(int s, const char *gw)
{
	struct rtentry rt = { 0 };

	set_sin(&rt.rt_dst, "0.0.0.0");
	set_sin(&rt.rt_genmask, "0.0.0.0");
	set_sin(&rt.rt_gateway, gw);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_resolv_conf(void)
{
	static const char text[] = "nameserver " NET_DNS "\n";
	int fd = open("/etc/resolv.conf",
		      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, sizeof(text) - 1);
	int err = n == (ssize_t)sizeof(text) - 1 ? 0 : -EIO;
	close(fd);
	fd = -1;
	return err;
}

/* Send the largest TCP segments the NIC takes (64 KiB with HOST_TSO4).
 * Linux sizes TSO segments to ~1 ms of its pacing rate (tcp_tso_autosize),
 * at least tcp_min_tso_segs MSS: right for a real wire, wrong here, where
 * the "wire" is the VMM handing each segment to slirp's TCP, and every
 * packet costs a queue notification, a VM exit and an interrupt whatever
 * its size. 44 MSS of 1460 bytes fill a 64 KiB segment. Best effort. */
static void tso_segments_max(void)
{
	static const char v[] = "44\n";
	int fd = open("/proc/sys/net/ipv4/tcp_min_tso_segs",
		      O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, v, sizeof(v) - 1) != (ssize_t)sizeof(v) - 1)
		agent_warn("tcp_min_tso_segs: %s", strerror(errno));
	close(fd);
}

int netup_lo(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	int err = if_up(s, "lo");
	close(s);
	s = -1;
	if (err < 0)
		agent_warn("lo up: %s", strerror(-err));
	return err;
}

int netup_eth0(void)
{
	const char *step = "socket";
	int err = 0;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0) {
		err = -errno;
		goto out;
	}
	step = "address";
	if ((err = if_addr(s, NET_IF, SIOCSIFADDR, NET_ADDR)) < 0)
		goto out_close;
	step = "netmask";
	if ((err = if_addr(s, NET_IF, SIOCSIFNETMASK, NET_MASK)) < 0)
		goto out_close;
	step = "up";
	if ((err = if_up(s, NET_IF)) < 0)
		goto out_close;
	step = "default route";
	if ((err = default_route(s, NET_GW)) < 0)
		goto out_close;
	step = "/etc/resolv.conf";
	err = write_resolv_conf();
	tso_segments_max();
out_close:
	close(s);
	s = -1;
out:
	if (err < 0)
		agent_warn(NET_IF " %s: %s", step, strerror(-err));
	return err;
}
