/* freeport — prints free TCP ports on 127.0.0.1, one per line.
 *
 * Integration tests and the local cluster script need ports nobody else is
 * using. The kernel knows which are free: binding port 0 makes it pick one.
 * All requested sockets stay bound until every port is printed, so one call
 * never prints the same port twice. The ports are released on exit, so a
 * tiny race with other programs remains; tests start their daemons right
 * away and fail loudly (address in use) rather than silently if they lose it.
 *
 * Usage: drover-test-freeport [COUNT]   (COUNT 1..64, default 1)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FREEPORT_MAX 64

/* Binds a fresh TCP socket to 127.0.0.1:0. Returns the fd and sets *port,
 * or -1 with errno set. */
static int s_bind_any(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    int count = 1;
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr,
                "usage: %s [COUNT]\n"
                "Prints COUNT (1..%d, default 1) distinct free TCP ports on 127.0.0.1.\n",
                argv[0], FREEPORT_MAX);
        return argc == 2 ? 0 : 2;
    }
    if (argc == 2) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || v < 1 || v > FREEPORT_MAX) {
            fprintf(stderr, "%s: COUNT must be an integer 1..%d, got '%s'\n", argv[0], FREEPORT_MAX,
                    argv[1]);
            return 2;
        }
        count = (int)v;
    }

    int fds[FREEPORT_MAX];
    unsigned ports[FREEPORT_MAX];
    int n = 0, rc = 0;
    for (; n < count; n++) {
        fds[n] = s_bind_any(&ports[n]);
        if (fds[n] < 0) {
            fprintf(stderr, "%s: cannot bind a TCP socket on 127.0.0.1: %s\n", argv[0],
                    strerror(errno));
            rc = 1;
            goto cleanup;
        }
    }
    for (int i = 0; i < n; i++)
        printf("%u\n", ports[i]);
    if (fflush(stdout) != 0)
        rc = 1;
cleanup:
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return rc;
}
