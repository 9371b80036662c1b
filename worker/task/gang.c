/* gang — the TCP rendezvous and the per-member mpirun (see gang.h). */
#include "gang.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#ifndef DROVER_MPIRUN
#define DROVER_MPIRUN "mpirun"
#endif

#define S_HELLO "DROVER-GANG 1"

static double s_now(void)
{
    return (double)util_mono_ms() / 1000.0;
}

static int s_int_env(const char *name, long lo, long hi, long *out, char *err, size_t errlen)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v) {
        util_errf(err, errlen, "%s is not set", name);
        return -1;
    }
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        util_errf(err, errlen, "%s='%.40s' is not an integer in %ld..%ld", name, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int gang_env_read(gang_env_t *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    const char *ws = getenv("WORLD_SIZE");
    if (!ws || !*ws || strcmp(ws, "1") == 0)
        return 0;
    long size, rank, port;
    if (s_int_env("WORLD_SIZE", 2, GANG_MAX_SIZE, &size, err, errlen) ||
        s_int_env("RANK", 0, size - 1, &rank, err, errlen) ||
        s_int_env("MASTER_PORT", 1, 65535, &port, err, errlen))
        return -1;
    const char *addr = getenv("MASTER_ADDR");
    if (!addr || !*addr || strlen(addr) >= sizeof g->master_addr) {
        util_errf(err, errlen, "MASTER_ADDR is not set (or too long)");
        return -1;
    }
    const char *id = getenv("DROVER_GANG_ID");
    if (!id || !*id)
        id = "gang";
    for (const char *c = id; *c; c++)
        if (*c <= ' ' || *c > '~' || c - id >= (long)sizeof g->id - 1) {
            util_errf(err, errlen, "DROVER_GANG_ID has a space, control character or is too long");
            return -1;
        }
    g->rank = (int)rank;
    g->size = (int)size;
    g->master_port = (int)port;
    util_strlcpy(g->master_addr, addr, sizeof g->master_addr);
    util_strlcpy(g->id, id, sizeof g->id);
    g->timeout_s = 120;
    const char *t = getenv("DROVER_GANG_TIMEOUT");
    if (t && *t) {
        char *end;
        double v = strtod(t, &end);
        if (*end || !(v >= 1 && v <= 86400)) {
            util_errf(err, errlen,
                      "DROVER_GANG_TIMEOUT='%.40s' is not a number of seconds "
                      "in 1..86400",
                      t);
            return -1;
        }
        g->timeout_s = v;
    }
    return 1;
}

int gang_is_inner(void)
{
    const char *v = getenv("DROVER_GANG_INNER");
    return v && strcmp(v, "1") == 0;
}

/* Reads one '\n'-terminated line of at most cap-1 bytes from fd before the
 * deadline (absolute, s_now() clock). 0, or -1 (timeout, EOF, too long). */
static int s_read_line(int fd, char *buf, size_t cap, double deadline)
{
    size_t len = 0;
    while (len + 1 < cap) {
        int ms = (int)((deadline - s_now()) * 1000);
        if (ms <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t n = read(fd, buf + len, 1);
        if (n <= 0)
            return -1;
        if (buf[len] == '\n') {
            buf[len] = '\0';
            return 0;
        }
        len++;
    }
    return -1;
}

static int s_write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The rendezvous port is open to anyone who can reach it, so rank 0 never
 * waits on one connection: every connection that has not said hello yet is
 * polled together with the listener, with S_HELLO_S seconds and one line of
 * at most S_LINE bytes to say it. At most S_PENDING such connections are
 * held; one more evicts the oldest (a member says hello as soon as it has
 * connected, so only a stranger is old). Refusals are counted; the first
 * S_LOG_REFUSALS are logged (the log must not grow with a stranger's
 * connections). An arrived member that closes its connection before the
 * gang is complete frees its rank. */
#define S_PENDING      16
#define S_HELLO_S      5.0
#define S_LINE         256
#define S_LOG_REFUSALS 10

typedef struct {
    int fd;
    double by; /* hello deadline (s_now() clock) */
    size_t len;
    char buf[S_LINE];
} s_pending_t;

static void s_refuse(int *fd, int *refused, const char *why)
{
    close(*fd);
    *fd = -1;
    ++*refused;
    if (*refused <= S_LOG_REFUSALS)
        fprintf(stderr,
                "gang rendezvous: refused a connection that is not an expected member of this "
                "gang (%d so far: %s)%s\n",
                *refused, why,
                *refused == S_LOG_REFUSALS ? "; further refusals are counted, not logged" : "");
}

/* Reads what a pending connection sent: -1 refused (closed, or a bad or
 * overlong line), 0 no full line yet, 1 a well-formed hello for rank *rk. */
static int s_pending_read(s_pending_t *c, const gang_env_t *g, const int *peer, int *rk,
                          const char **why)
{
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0) {
        *why = "closed before saying hello";
        return -1;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *nl = memchr(c->buf, '\n', c->len);
    if (!nl) {
        if (c->len + 1 < sizeof c->buf)
            return 0;
        *why = "line too long";
        return -1;
    }
    *nl = '\0';
    char id[160];
    int r = -1, end = 0;
    if (sscanf(c->buf, S_HELLO " %159s %d%n", id, &r, &end) != 2 || c->buf[end] != '\0' ||
        nl + 1 != c->buf + c->len) {
        *why = "not a hello";
        return -1;
    }
    if (strcmp(id, g->id) != 0) {
        *why = "another gang's id";
        return -1;
    }
    if (r < 1 || r >= g->size || peer[r] >= 0) {
        *why = "not a missing rank";
        return -1;
    }
    *rk = r;
    return 1;
}

/* Rank 0: waits for ranks 1..N-1 to say hello, then sends each the URI. */
static int s_rendezvous_master(const gang_env_t *g, const char *uri, double deadline)
{
    int rc = -1, lfd = -1, one = 1;
    int peer[GANG_MAX_SIZE];
    s_pending_t pend[S_PENDING];
    for (int i = 0; i < GANG_MAX_SIZE; i++)
        peer[i] = -1;
    for (int i = 0; i < S_PENDING; i++)
        pend[i].fd = -1;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_port = htons((uint16_t)g->master_port),
                             .sin6_addr = in6addr_any};
    /* Dual-stack listener on every address: MASTER_ADDR is how peers reach
     * this worker, which may be an address of another interface or NAT. */
    struct sockaddr_in a4 = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)g->master_port),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    struct sockaddr *sa = (struct sockaddr *)&a;
    socklen_t salen = sizeof a;
    if ((lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
        /* A kernel without IPv6: IPv4 only. */
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sa = (struct sockaddr *)&a4;
        salen = sizeof a4;
    }
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, sa, salen) < 0 || listen(lfd, GANG_MAX_SIZE) < 0) {
        fprintf(stderr, "gang rendezvous: rank 0 cannot listen on port %d: %s\n", g->master_port,
                strerror(errno));
        goto out;
    }
    int arrived = 1, refused = 0, left = 0;
    unsigned char seen[GANG_MAX_SIZE] = {0}; /* ranks that said hello once */
    while (arrived < g->size) {
        /* Poll set: the listener, the pending connections, the arrived
         * members (to notice one that leaves). */
        struct pollfd p[1 + S_PENDING + GANG_MAX_SIZE];
        int who[1 + S_PENDING + GANG_MAX_SIZE]; /* >= 0 pending slot, < 0 -(rank + 1) */
        int np = 0;
        double now = s_now(), wake = deadline;
        p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < S_PENDING; i++) {
            if (pend[i].fd < 0)
                continue;
            if (pend[i].by <= now) {
                s_refuse(&pend[i].fd, &refused, "no hello in time");
                continue;
            }
            if (pend[i].by < wake)
                wake = pend[i].by;
            who[np] = i;
            p[np++] = (struct pollfd){.fd = pend[i].fd, .events = POLLIN};
        }
        for (int i = 1; i < g->size; i++)
            if (peer[i] >= 0) {
                who[np] = -(i + 1);
                p[np++] = (struct pollfd){.fd = peer[i], .events = POLLIN};
            }
        if (now >= deadline) {
            /* Never arrived, and arrived but left (a member that gave up
             * a moment before this one, or a stranger with the gang id). */
            char missing[512] = "", gone[512] = "";
            size_t o = 0, q = 0;
            for (int i = 1; i < g->size; i++) {
                if (peer[i] >= 0)
                    continue;
                char *b = seen[i] ? gone : missing;
                size_t *at = seen[i] ? &q : &o;
                if (*at < sizeof missing - 8)
                    *at +=
                        (size_t)snprintf(b + *at, sizeof missing - *at, "%s%d", *at ? "," : "", i);
            }
            if (o)
                fprintf(stderr,
                        "gang rendezvous: rank%s %s of %d did not arrive at port %d within %.0f s "
                        "(%d connection%s refused); giving up\n",
                        strchr(missing, ',') ? "s" : "", missing, g->size, g->master_port,
                        g->timeout_s, refused, refused == 1 ? "" : "s");
            if (q)
                fprintf(stderr,
                        "gang rendezvous: rank%s %s of %d arrived but left before the gang was "
                        "complete; giving up\n",
                        strchr(gone, ',') ? "s" : "", gone, g->size);
            goto out;
        }
        int ms = (int)((wake - now) * 1000) + 1;
        int r = poll(p, (nfds_t)np, ms);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "gang rendezvous: poll: %s\n", strerror(errno));
            goto out;
        }
        if (r <= 0)
            continue;
        for (int k = 1; k < np; k++) {
            if (!p[k].revents)
                continue;
            if (who[k] < 0) {
                /* An arrived member said more, or left: its rank is free. */
                int rk = -who[k] - 1;
                char junk[64];
                ssize_t n = read(peer[rk], junk, sizeof junk);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                if (++left <= S_LOG_REFUSALS) /* bounded like the refusals */
                    fprintf(stderr, "gang rendezvous: rank %d %s; waiting for it again\n", rk,
                            n == 0 ? "closed its connection" : "broke the protocol");
                close(peer[rk]);
                peer[rk] = -1;
                arrived--;
                continue;
            }
            s_pending_t *c = &pend[who[k]];
            int rk = -1;
            const char *why = "";
            int got = s_pending_read(c, g, peer, &rk, &why);
            if (got < 0) {
                s_refuse(&c->fd, &refused, why);
            } else if (got > 0) {
                peer[rk] = c->fd;
                c->fd = -1;
                seen[rk] = 1;
                arrived++;
            }
        }
        if (p[0].revents) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0)
                continue; /* EAGAIN, ECONNABORTED, or out of descriptors: poll again */
            int slot = 0; /* a free one, else the oldest */
            for (int i = 0; i < S_PENDING; i++) {
                if (pend[i].fd < 0) {
                    slot = i;
                    break;
                }
                if (pend[i].by < pend[slot].by)
                    slot = i;
            }
            if (pend[slot].fd >= 0)
                s_refuse(&pend[slot].fd, &refused, "evicted by a newer connection");
            pend[slot] = (s_pending_t){.fd = fd, .by = s_now() + S_HELLO_S, .len = 0};
        }
    }
    char msg[PATH_MAX + 16];
    snprintf(msg, sizeof msg, "URI %s\n", uri);
    rc = 0;
    for (int i = 1; i < g->size; i++)
        if (s_write_all(peer[i], msg) < 0) {
            fprintf(stderr, "gang rendezvous: rank %d went away before it got the server URI\n", i);
            rc = -1;
        }
out:
    for (int i = 0; i < GANG_MAX_SIZE; i++)
        if (peer[i] >= 0)
            close(peer[i]);
    for (int i = 0; i < S_PENDING; i++)
        if (pend[i].fd >= 0)
            close(pend[i].fd);
    if (lfd >= 0)
        close(lfd);
    return rc;
}

/* A connected blocking socket to one address, or -1. The connect is
 * bounded by the deadline (an unreachable host would otherwise hold it for
 * the kernel's SYN retries, minutes past it). */
static int s_connect(const struct addrinfo *ai, double deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen), soerr = 0;
    while (r < 0 && (errno == EINPROGRESS || errno == EINTR)) {
        int ms = (int)((deadline - s_now()) * 1000);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (ms <= 0 || (r = poll(&p, 1, ms)) == 0) {
            r = -1; /* not connected by the deadline */
            break;
        }
        if (r < 0)
            continue; /* errno EINTR, or fails below */
        socklen_t len = sizeof soerr;
        r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0 ? 0 : -1;
        break;
    }
    int fl = r == 0 ? fcntl(fd, F_GETFL) : -1;
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Rank > 0: connects to MASTER_ADDR:MASTER_PORT (retrying: rank 0 may start
 * later), says hello, and waits for the URI. */
static int s_rendezvous_member(const gang_env_t *g, char *uri, size_t urilen, double deadline)
{
    char port[16], line[PATH_MAX + 16];
    snprintf(port, sizeof port, "%d", g->master_port);
    int said = 0;
    while (s_now() < deadline) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        int fd = -1;
        if (getaddrinfo(g->master_addr, port, &hints, &ai) == 0) {
            for (struct addrinfo *p = ai; p && fd < 0; p = p->ai_next)
                fd = s_connect(p, deadline);
            freeaddrinfo(ai);
        }
        if (fd < 0) {
            usleep(200 * 1000);
            continue;
        }
        char hello[256];
        snprintf(hello, sizeof hello, S_HELLO " %s %d\n", g->id, g->rank);
        said = 1;
        int ok = s_write_all(fd, hello) == 0 && s_read_line(fd, line, sizeof line, deadline) == 0 &&
                 strncmp(line, "URI ", 4) == 0 && line[4];
        close(fd);
        if (ok) {
            util_strlcpy(uri, line + 4, urilen);
            return 0;
        }
        if (s_now() < deadline) /* rank 0 restarted or refused us: try again */
            usleep(200 * 1000);
    }
    fprintf(stderr,
            "gang rendezvous: rank %d of %d %s rank 0 at %s:%d within %.0f s (is every member "
            "running?); giving up\n",
            g->rank, g->size, said ? "got no answer from" : "could not reach", g->master_addr,
            g->master_port, g->timeout_s);
    return -1;
}

/* fork + exec with the parent's death signal: the child never outlives
 * this member (the worker stops whole trees anyway). -1 on failure. */
static pid_t s_spawn(char *const argv[], const char *out_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent) {
        fprintf(stderr, "gang: cannot tie %s to this member's life\n", argv[0]);
        _exit(127);
    }
    if (out_path) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0) {
            fprintf(stderr, "gang: cannot write %s: %s\n", out_path, strerror(errno));
            _exit(127);
        }
        close(fd);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "gang: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static void s_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
}

/* Starts ompi-server (beside mpirun) and waits for its URI file. */
static pid_t s_start_server(const char *dir, char *uri, size_t urilen, double deadline)
{
    char server[PATH_MAX], mp[PATH_MAX], urifile[PATH_MAX], log[PATH_MAX];
    util_strlcpy(mp, DROVER_MPIRUN, sizeof mp);
    if (strchr(mp, '/'))
        snprintf(server, sizeof server, "%s/ompi-server", dirname(mp));
    else
        util_strlcpy(server, "ompi-server", sizeof server);
    snprintf(urifile, sizeof urifile, "%s/server.uri", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    char *argv[] = {server, "--no-daemonize", "-r", urifile, NULL};
    pid_t pid = s_spawn(argv, log);
    if (pid < 0) {
        fprintf(stderr, "gang: cannot fork: %s\n", strerror(errno));
        return -1;
    }
    while (s_now() < deadline) {
        FILE *f = fopen(urifile, "r");
        if (f) {
            int got = fgets(uri, (int)urilen, f) != NULL;
            fclose(f);
            uri[strcspn(uri, "\r\n")] = '\0';
            if (got && uri[0])
                return pid;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "gang: %s exited before writing its URI (status %d)\n", server,
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            return -1;
        }
        usleep(50 * 1000);
    }
    fprintf(stderr, "gang: %s wrote no URI within %.0f s\n", server, deadline - s_now());
    s_stop(pid);
    return -1;
}

/* 1 when every rank is on a loopback address: keep Open MPI's sockets on
 * lo (it would otherwise pick any interface, and probe them all). */
static int s_all_loopback(const gang_env_t *g)
{
    const char *hosts = getenv("DROVER_GANG_HOSTS");
    const char *h = hosts && *hosts ? hosts : g->master_addr;
    for (;;) {
        size_t n = strcspn(h, ",");
        if (!((n > 4 && strncmp(h, "127.", 4) == 0) || (n == 9 && !strncmp(h, "localhost", 9)) ||
              (n == 3 && !strncmp(h, "::1", 3))))
            return 0;
        if (!h[n])
            return 1;
        h += n + 1;
    }
}

static void s_forward(int fifo, FILE *out)
{
    char buf[8192];
    ssize_t n;
    while ((n = read(fifo, buf, sizeof buf)) > 0)
        if (out && (fwrite(buf, 1, (size_t)n, out) != (size_t)n || fflush(out) != 0))
            fprintf(stderr, "gang: cannot write to the output channel: %s\n", strerror(errno));
}

int gang_mpirun(const gang_env_t *g, char *const argv[], FILE *out)
{
    int rc = 1, fifo = -1;
    pid_t server = -1, run = -1;
    char **mv = NULL;
    char dir[PATH_MAX / 2], uri[PATH_MAX], path[PATH_MAX + 32];
    const double deadline = s_now() + g->timeout_s;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/drover-gang-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "gang: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    printf("gang %s: rank %d of %d, rendezvous at %s:%d\n", g->id, g->rank, g->size, g->master_addr,
           g->master_port);
    fflush(stdout);
    if (g->rank == 0) {
        if ((server = s_start_server(dir, uri, sizeof uri, deadline)) < 0 ||
            s_rendezvous_master(g, uri, deadline) < 0)
            goto out;
    } else {
        if (s_rendezvous_member(g, uri, sizeof uri, deadline) < 0)
            goto out;
    }
    snprintf(path, sizeof path, "%s/server.uri", dir);
    FILE *uf = g->rank == 0 ? NULL : fopen(path, "w");
    if (g->rank != 0 && (!uf || fprintf(uf, "%s\n", uri) < 0 || fclose(uf) != 0)) {
        fprintf(stderr, "gang: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof path, "%s/out", dir);
    /* O_RDWR: the FIFO never reports EOF, so polling it never spins. */
    if (mkfifo(path, 0600) < 0 || (fifo = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
        fprintf(stderr, "gang: cannot create the output FIFO %s: %s\n", path, strerror(errno));
        goto out;
    }
    char server_arg[PATH_MAX + 16];
    snprintf(server_arg, sizeof server_arg, "file:%s/server.uri", dir);
    size_t argc = 0;
    while (argv[argc])
        argc++;
    mv = calloc(argc + 6, sizeof *mv); /* every argument: never cut a command short */
    if (!mv) {
        fprintf(stderr, "gang: out of memory\n");
        goto out;
    }
    size_t c = 0;
    mv[c++] = DROVER_MPIRUN;
    mv[c++] = "-np";
    mv[c++] = "1";
    mv[c++] = "--ompi-server";
    mv[c++] = server_arg;
    /* Defaults a step's env may override (OMPI_MCA_*): yield while
     * waiting — a worker's cores are shared, and a spinning rank starves
     * its peer on the same host (10x slower allreduce under load); and
     * loopback only when every member is local. */
    int envfail = setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0) < 0;
#if defined(__SANITIZE_ADDRESS__)
    /* make test SANITIZE=1: Open MPI never frees what MPI_Init allocates,
     * in components it unloads (no frames to suppress by), so the MPI
     * process runs without the leak check; this process, and every
     * drover-task that is not a gang member, keep it. */
    const char *ao = getenv("ASAN_OPTIONS");
    char aopt[512];
    snprintf(aopt, sizeof aopt, "%s%sdetect_leaks=0", ao ? ao : "", ao && *ao ? ":" : "");
    envfail |= setenv("ASAN_OPTIONS", aopt, 1) < 0;
#endif
    if (s_all_loopback(g))
        envfail |= setenv("OMPI_MCA_oob_tcp_if_include", "lo", 0) < 0 ||
                   setenv("OMPI_MCA_btl_tcp_if_include", "lo", 0) < 0;
    for (size_t i = 0; i < argc; i++)
        mv[c++] = argv[i];
    mv[c] = NULL;
    if (envfail || setenv("DROVER_GANG_INNER", "1", 1) || setenv("DROVER_GANG_OUT_FIFO", path, 1) ||
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1) ||
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1) || unsetenv("DROVER_OUTPUT_FD")) {
        fprintf(stderr, "gang: cannot set the environment: %s\n", strerror(errno));
        goto out;
    }
    fflush(stdout);
    if ((run = s_spawn(mv, NULL)) < 0) {
        fprintf(stderr, "gang: cannot fork: %s\n", strerror(errno));
        goto out;
    }
    for (;;) {
        struct pollfd p = {.fd = fifo, .events = POLLIN};
        if (poll(&p, 1, 200) > 0)
            s_forward(fifo, out);
        int st;
        pid_t w = waitpid(run, &st, WNOHANG);
        if (w == run) {
            run = -1;
            s_forward(fifo, out);
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (w < 0 && errno != EINTR) {
            fprintf(stderr, "gang: waitpid: %s\n", strerror(errno));
            break;
        }
    }
out:
    s_stop(run);
    s_stop(server);
    free(mv);
    if (fifo >= 0)
        close(fifo);
    const char *names[] = {"out", "server.uri", "server.log"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return rc;
}

int gang_mpirun_main(int argc, char **argv)
{
    int first = 2;
    if (first < argc && strcmp(argv[first], "--") == 0)
        first++;
    if (first >= argc) {
        fprintf(stderr, "Usage: drover-task mpirun [--] PROG [ARGS...]\n"
                        "Runs PROG as this gang member's MPI process (docs/distributed.md).\n");
        return 2;
    }
    gang_env_t g;
    char err[256];
    int r = gang_env_read(&g, err, sizeof err);
    if (r <= 0) {
        fprintf(stderr, "drover-task mpirun: %s\n",
                r < 0 ? err : "not a gang member (WORLD_SIZE is unset or 1)");
        return 2;
    }
    const char *fdv = getenv("DROVER_OUTPUT_FD");
    FILE *out = NULL;
    if (fdv && strcmp(fdv, "3") == 0 && fcntl(3, F_GETFD) >= 0)
        out = fdopen(3, "w");
    int rc = gang_mpirun(&g, argv + first, out ? out : stdout);
    if (out)
        fclose(out);
    return rc;
}
