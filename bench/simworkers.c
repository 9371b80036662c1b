/* drover-simworkers — many simulated workers in one process, for the S2
 * worker-scale benchmark (see docs/benchmarks.md).
 *
 *   drover-simworkers -c WORKER_ENDPOINT [-n 1000] [-d SECONDS] [--name PREFIX]
 *
 * Opens n DEALER sockets to the coordinator's worker endpoint; each
 * registers as a distinct worker (PREFIX-i, 1 slot, kinds noop and exec,
 * protocol DROVER_PROTOCOL_VERSION), heartbeats at the interval the
 * coordinator's RegisterReply names, and answers every Assign at once with a
 * Result (exited, code 0, started/finished = now), so the figures measure
 * the coordinator alone. Reregister is answered with a fresh Register.
 *
 * Prints "registered N" once every worker has an accepted RegisterReply
 * (the caller waits on that line), then runs until -d seconds have passed
 * (0 = until SIGTERM/SIGINT) and prints counters. One zmq_poll over all
 * sockets; heartbeats are spread over the interval (worker i is offset by
 * i/n of it) so the coordinator sees a steady rate, not bursts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "util.h"
#include "wire.h"

typedef struct {
    void *sock;
    char name[64];
    int registered;
    int64_t next_hb_ms;
    int64_t next_reg_ms;
} sim_worker_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int s_send_msg(sim_worker_t *w, Drover__WorkerMsg *m)
{
    m->version = DROVER_PROTOCOL_VERSION;
    if (wire_send(w->sock, NULL, 0, &m->base) < 0 && errno != EAGAIN) {
        fprintf(stderr, "drover-simworkers: send from %s: %s\n", w->name, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

static int s_register(sim_worker_t *w, int64_t now)
{
    static char *kinds[] = {"noop", "exec"};
    Drover__Register reg = DROVER__REGISTER__INIT;
    reg.name = w->name;
    reg.host = "simworkers";
    reg.slots = 1;
    reg.kinds = kinds;
    reg.n_kinds = 2;
    reg.pid = (uint32_t)getpid();
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.body_case = DROVER__WORKER_MSG__BODY_REGISTER;
    m.register_ = &reg;
    w->next_reg_ms = now + 1000;
    return s_send_msg(w, &m);
}

/* Handles one message for w; counts assignments answered. */
static int s_handle(sim_worker_t *w, const wire_msg_t *msg, int64_t now, int64_t *hb_ms,
                    uint64_t *assigns, int *newly_registered)
{
    Drover__CoordMsg *in = drover__coord_msg__unpack(NULL, msg->len, msg->data);
    int rc = 0;
    if (!in)
        return 0; /* malformed: drop */
    switch (in->body_case) {
    case DROVER__COORD_MSG__BODY_REGISTER_REPLY:
        if (!in->register_reply->accepted) {
            fprintf(stderr, "drover-simworkers: %s refused: %s\n", w->name,
                    in->register_reply->reason ? in->register_reply->reason : "?");
            rc = -1;
            break;
        }
        if (in->register_reply->heartbeat_ms)
            *hb_ms = in->register_reply->heartbeat_ms;
        if (!w->registered)
            *newly_registered = 1;
        w->registered = 1;
        break;
    case DROVER__COORD_MSG__BODY_REREGISTER:
        w->registered = 0;
        rc = s_register(w, now);
        break;
    case DROVER__COORD_MSG__BODY_ASSIGN: {
        Drover__Lease lease = DROVER__LEASE__INIT;
        lease.task_id = in->assign->lease ? in->assign->lease->task_id : 0;
        lease.attempt = in->assign->lease ? in->assign->lease->attempt : 0;
        Drover__Result res = DROVER__RESULT__INIT;
        res.lease = &lease;
        res.outcome = DROVER__OUTCOME__OUTCOME_EXITED;
        res.exit_code = 0;
        res.started_at_us = res.finished_at_us = util_now_us();
        Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
        m.body_case = DROVER__WORKER_MSG__BODY_RESULT;
        m.result = &res;
        rc = s_send_msg(w, &m);
        (*assigns)++;
        break;
    }
    default: /* ResultAck, Kill: nothing to do for an instant task */ break;
    }
    drover__coord_msg__free_unpacked(in, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    const char *ep = NULL, *prefix = "sim";
    long n = 1000, dur = 0;
    static const struct option opts[] = {{"coordinator", required_argument, 0, 'c'},
                                         {"workers", required_argument, 0, 'n'},
                                         {"duration", required_argument, 0, 'd'},
                                         {"name", required_argument, 0, 'N'},
                                         {0, 0, 0, 0}};
    int o, rc = 1;
    while ((o = getopt_long(argc, argv, "c:n:d:N:", opts, NULL)) != -1) {
        switch (o) {
        case 'c': ep = optarg; break;
        case 'n': n = atol(optarg); break;
        case 'd': dur = atol(optarg); break;
        case 'N': prefix = optarg; break;
        default: goto usage;
        }
    }
    if (!ep || n < 1 || n > 100000 || dur < 0)
        goto usage;

    struct sigaction sa = {.sa_handler = s_on_signal};
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
        perror("drover-simworkers: sigaction");
        return 1;
    }
    void *ctx = zmq_ctx_new();
    sim_worker_t *ws = calloc((size_t)n, sizeof *ws);
    zmq_pollitem_t *items = calloc((size_t)n, sizeof *items);
    if (!ctx || !ws || !items) {
        fprintf(stderr, "drover-simworkers: out of memory\n");
        goto out;
    }
    /* 1,000 sockets need more than libzmq's default 1,023 (and ours). */
    if (zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, (int)n + 16) < 0) {
        fprintf(stderr, "drover-simworkers: ZMQ_MAX_SOCKETS: %s\n", zmq_strerror(errno));
        goto out;
    }
    int64_t now = util_mono_ms(), hb_ms = 1000;
    for (long i = 0; i < n; i++) {
        sim_worker_t *w = &ws[i];
        snprintf(w->name, sizeof w->name, "%s-%ld", prefix, i);
        if (!(w->sock = zmq_socket(ctx, ZMQ_DEALER)) || wire_socket_setup(w->sock, 0) < 0 ||
            zmq_connect(w->sock, ep) < 0) {
            fprintf(stderr, "drover-simworkers: socket %ld: %s (raise ulimit -n?)\n", i,
                    zmq_strerror(errno));
            goto out;
        }
        items[i].socket = w->sock;
        items[i].events = ZMQ_POLLIN;
        if (s_register(w, now) < 0)
            goto out;
    }
    long nreg = 0;
    uint64_t assigns = 0, heartbeats = 0;
    int64_t end = dur ? now + dur * 1000 : INT64_MAX, hb_set = 0;
    while (!s_stop && util_mono_ms() < end) {
        int64_t t = util_mono_ms();
        long wait = 10;
        int np = zmq_poll(items, (int)n, wait);
        if (np < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "drover-simworkers: zmq_poll: %s\n", zmq_strerror(errno));
            goto out;
        }
        t = util_mono_ms();
        for (long i = 0; np > 0 && i < n; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            for (;;) {
                wire_msg_t m = {0};
                int r = wire_recv(ws[i].sock, 0, &m);
                if (r <= 0) {
                    wire_msg_clear(&m);
                    break;
                }
                int newly = 0;
                int hr = r == 1 ? s_handle(&ws[i], &m, t, &hb_ms, &assigns, &newly) : 0;
                wire_msg_clear(&m);
                if (hr < 0)
                    goto out;
                if (newly && ++nreg == n) {
                    printf("registered %ld\n", n);
                    fflush(stdout);
                }
            }
        }
        if (!hb_set && nreg > 0) {
            /* Spread the first heartbeats over one interval. */
            for (long i = 0; i < n; i++)
                ws[i].next_hb_ms = t + hb_ms * i / n;
            hb_set = 1;
        }
        for (long i = 0; i < n; i++) {
            sim_worker_t *w = &ws[i];
            if (!w->registered) {
                if (t >= w->next_reg_ms && s_register(w, t) < 0)
                    goto out;
                continue;
            }
            if (hb_set && t >= w->next_hb_ms) {
                Drover__Heartbeat hb = DROVER__HEARTBEAT__INIT;
                Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
                m.body_case = DROVER__WORKER_MSG__BODY_HEARTBEAT;
                m.heartbeat = &hb;
                if (s_send_msg(w, &m) < 0)
                    goto out;
                w->next_hb_ms += hb_ms;
                if (w->next_hb_ms < t)
                    w->next_hb_ms = t + hb_ms;
                heartbeats++;
            }
        }
    }
    printf("registered=%ld heartbeats=%" PRIu64 " assigns=%" PRIu64 " heartbeat_ms=%" PRId64 "\n",
           nreg, heartbeats, assigns, hb_ms);
    rc = 0;
out:
    if (ws)
        for (long i = 0; i < n; i++)
            if (ws[i].sock)
                zmq_close(ws[i].sock);
    free(ws);
    free(items);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
usage:
    fprintf(stderr,
            "usage: drover-simworkers -c WORKER_ENDPOINT [-n WORKERS] [-d SECONDS] [-N PREFIX]\n");
    return 2;
}
