/* hostile_gw.c: a hostile program inside a real guest, aimed at the host
 * through vsock (e2e-gateway-hostile, host/cli/cmd_vmtest.c).
 *
 *   hostile_gw vsock N PORT   open N AF_VSOCK connections to the host (CID
 *                             2) on PORT at once and hold them, so the
 *                             VMM's fd numbers pass 64, 128, 256 (the
 *                             growth that once left stale handler
 *                             pointers, security review 2 H1); print
 *                             "connected K failed F"; then write garbage
 *                             on each and close them all.
 *
 * Static musl, no libraries: it runs as the unprivileged agent user from
 * /tmp in the guest. The test host checks that the VMM survived and the
 * gateway still serves.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

int main(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[1], "vsock")) {
		fprintf(stderr, "usage: hostile_gw vsock N PORT\n");
		return 2;
	}
	int n = atoi(argv[2]), ok = 0, bad = 0;
	signal(SIGPIPE, SIG_IGN);	/* the gateway closes the extra ones */
	unsigned port = (unsigned)strtoul(argv[3], NULL, 10);
	int *fd = calloc((size_t)(n > 0 ? n : 1), sizeof(*fd));
	if (!fd || n <= 0 || n > 4096)
		return 2;
	for (int i = 0; i < n; i++) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK,
					 .svm_cid = VMADDR_CID_HOST,
					 .svm_port = port };
		struct timeval tv = { .tv_sec = 5 };
		fd[i] = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd[i] < 0) {
			bad++;
			continue;
		}
		setsockopt(fd[i], AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv,
			   sizeof(tv));
		if (connect(fd[i], (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(fd[i]);
			fd[i] = -1;
			bad++;
		} else {
			ok++;
		}
	}
	printf("connected %d failed %d\n", ok, bad);
	fflush(stdout);
	sleep(1);
	for (int i = 0; i < n; i++)
		if (fd[i] >= 0) {
			(void)!write(fd[i], "GARBAGE\r\n\r\n", 11);
			close(fd[i]);
		}
	free(fd);
	return 0;
}
