/* server — see server.h. */
#include "server.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "calendar.h"
#include "db.h"
#include "gc.h"
#include "keys.h"
#include "leader.h"
#include "log.h"
#include "model.h"
#include "notify.h"
#include "registry.h"
#include "sdnotify.h"
#include "store.h"
#include "util.h"
#include "webtok.h"
#include "wire.h"
#include "wirecheck.h"

#include "server_int.h"

/* ------------------------------------------------------------ outbox --- */

void server_queue(server_t *s, int sock, const uint8_t *ident, size_t ident_len,
                  const ProtobufCMessage *msg)
{
    if (s->nout == s->capout) {
        size_t nc = s->capout ? s->capout * 2 : 64;
        outmsg_t *no = realloc(s->out, nc * sizeof *no);
        if (!no) {
            log_error("out of memory queueing a message; it is dropped");
            return;
        }
        s->out = no;
        s->capout = nc;
    }
    outmsg_t *o = &s->out[s->nout];
    o->len = protobuf_c_message_get_packed_size(msg);
    o->data = malloc(o->len ? o->len : 1);
    if (!o->data) {
        log_error("out of memory queueing a message; it is dropped");
        return;
    }
    protobuf_c_message_pack(msg, o->data);
    s->outbytes += o->len;
    o->sock = sock;
    memcpy(o->ident, ident, ident_len);
    o->ident_len = ident_len;
    s->nout++;
}

static int s_send_raw(void *sock, const uint8_t *ident, size_t ident_len, const uint8_t *data,
                      size_t len)
{
    if (zmq_send(sock, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

void server_flush(server_t *s)
{
    for (size_t i = 0; i < s->nout; i++) {
        outmsg_t *o = &s->out[i];
        void *sock = o->sock == SOCK_WORKER ? s->wsock : s->csock;
        /* A peer that went away (EHOSTUNREACH) or is not reading (EAGAIN)
         * loses this message; workers re-send and clients retry. */
        if (s_send_raw(sock, o->ident, o->ident_len, o->data, o->len) < 0)
            log_debug("send to a peer failed: %s", zmq_strerror(errno));
        free(o->data);
    }
    s->nout = 0;
    s->outbytes = 0;
}

void server_discard_outbox(server_t *s)
{
    for (size_t i = 0; i < s->nout; i++)
        free(s->out[i].data);
    s->nout = 0;
    s->outbytes = 0;
}

void server_count_drop(server_t *s, const char *what)
{
    s->dropped++;
    observe_dropped(s->obs, what);
    int64_t now = util_mono_ms();
    /* One line per second at most: a flood must not become a log flood. */
    if (now - s->last_drop_log_ms >= 1000) {
        s->last_drop_log_ms = now;
        log_warn("dropped %s (%llu dropped so far)", what, (unsigned long long)s->dropped);
    }
}

void server_warn_limited(server_t *s, const char *who, const char *what, const char *detail)
{
    int64_t now = util_mono_ms();
    warn_slot_t *slot = NULL, *oldest = &s->warns[0];
    for (int i = 0; i < WARN_SLOTS; i++) {
        warn_slot_t *x = &s->warns[i];
        if (!strcmp(x->who, who) && !strncmp(x->what, what, sizeof x->what - 1)) {
            slot = x;
            break;
        }
        if (x->next_ms < oldest->next_ms)
            oldest = x;
    }
    if (!slot) {
        /* A full table forgets the stream that is quiet the longest. */
        slot = oldest;
        util_strlcpy(slot->who, who, sizeof slot->who);
        util_strlcpy(slot->what, what, sizeof slot->what);
        slot->next_ms = 0;
        slot->suppressed = 0;
    }
    if (now < slot->next_ms) {
        slot->suppressed++;
        return;
    }
    if (slot->suppressed)
        log_warn("%s (%s): %s (and %llu more like it in the last %d s)", what, who, detail,
                 (unsigned long long)slot->suppressed, WARN_INTERVAL_MS / 1000);
    else
        log_warn("%s (%s): %s", what, who, detail);
    slot->suppressed = 0;
    slot->next_ms = now + WARN_INTERVAL_MS;
}

/* ----------------------------------------------------------- startup --- */

server_t *server_new(const conf_t *cfg)
{
    server_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->sigfd = -1;
    s->db = db_new(cfg->coord.database);
    s->st = s->db ? store_new(s->db) : NULL;
    s->leader = s->db ? leader_new(s->db, cfg->coord.leader_lease_ms) : NULL;
    s->model = s->st ? model_new(s->st, &cfg->coord, server_sink(s)) : NULL;
    s->zctx = zmq_ctx_new();
    s->auth = auth_new(!cfg->coord.insecure, cfg->coord.client_rate);
    s->webtok = webtok_new();
    s->cal = s->model ? calendar_new(s->st, s->model, &cfg->coord) : NULL;
    s->cap = s->st ? capacity_new(s->st) : NULL;
    if (!s->model || !s->zctx || !s->auth || !s->webtok || !s->cal || !s->cap || !s->leader) {
        server_destroy(&s);
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

void server_destroy(server_t **sp)
{
    if (!sp || !*sp)
        return;
    server_t *s = *sp;
    bulk_destroy(&s->bulk);
    artsvc_stop(&s->arts);
    gc_stop(&s->gc);
    notify_stop(&s->notify);
    observe_destroy(&s->obs);
    server_discard_outbox(s);
    server_client_drop_held(s);
    free(s->out);
    free(s->held);
    model_destroy(&s->model);
    store_destroy(&s->st);
    leader_destroy(&s->leader);
    db_destroy(&s->db);
    if (s->wsock)
        zmq_close(s->wsock);
    if (s->csock)
        zmq_close(s->csock);
    if (s->zap)
        zmq_close(s->zap);
    auth_destroy(&s->auth);
    webtok_destroy(&s->webtok);
    calendar_destroy(&s->cal);
    capacity_destroy(&s->cap);
    keys_wipe(&s->key);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    if (s->sigfd >= 0)
        close(s->sigfd);
    free(s);
    *sp = NULL;
}

/* Reads pending signals; sets stop on SIGTERM/SIGINT. */
void server_read_signals(server_t *s)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            log_info("signal %u: stopping", si.ssi_signo);
            s->stop = 1;
        }
}

/* The threads beside the loop (retention, notifications) work only while
 * this coordinator is the active one. */
void server_side_active(server_t *s, int on)
{
    gc_set_active(s->gc, on);
    notify_set_active(s->notify, on);
    observe_ready(s->obs, on ? NULL : "reloading state after a database error");
}

/* Tells systemd's watchdog (WatchdogSec=) that the process still makes
 * progress; called from the loop and from every wait outside it. */
void server_watchdog(server_t *s, int64_t now)
{
    if (s->watchdog_ms && now >= s->next_watchdog_ms) {
        s->next_watchdog_ms = now + s->watchdog_ms;
        (void)sdnotify_send("WATCHDOG=1"); /* a lost ping is what the watchdog is for */
    }
}

/* Waits up to ms for a signal. */
void server_wait_signal(server_t *s, int ms)
{
    struct pollfd p = {.fd = s->sigfd, .events = POLLIN};
    server_watchdog(s, util_mono_ms());
    if (poll(&p, 1, ms) > 0)
        server_read_signals(s);
}

/* 1 if ep can only be reached from this machine. */
static int s_local_endpoint(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *h = ep + 6;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost:", 10) == 0 ||
           strncmp(h, "[::1]:", 6) == 0;
}

static void *s_bind(server_t *s, const char *ep, const char *domain)
{
    void *sock = zmq_socket(s->zctx, ZMQ_ROUTER);
    int one = 1;
    if (!sock)
        return NULL;
    int curve_ok = 1;
    if (auth_secure(s->auth))
        curve_ok =
            zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) == 0 &&
            zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->key.secret_z85, KEYS_Z85_LEN + 1) == 0;
    if (!curve_ok || wire_socket_setup(sock, WIRE_HARD_MAX(s->cfg->coord.max_message)) < 0 ||
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) < 0 ||
        zmq_bind(sock, ep) < 0) {
        int e = errno;
        if (e != EADDRINUSE || !s->bind_quiet)
            log_error("cannot listen on %s: %s (is another coordinator using it? change the "
                      "endpoint in the config file)",
                      ep, zmq_strerror(e));
        zmq_close(sock);
        errno = e;
        return NULL;
    }
    return sock;
}

/* Binds both endpoints. A new leader on the same host and endpoints as a
 * paused former leader finds them still held: it keeps its lease and tries
 * again every 200 ms (the former leader, once resumed, is fenced and exits,
 * which frees them). Returns 0, 1 when stopping, -1 on a fatal error. */
static int s_bind_all(server_t *s)
{
    const conf_coordinator_t *cc = &s->cfg->coord;
    int announced = 0;
    for (;;) {
        s->wsock = s_bind(s, cc->worker_endpoint, "drover-worker");
        s->csock = s->wsock ? s_bind(s, cc->client_endpoint, "drover-client") : NULL;
        if (s->csock)
            return 0;
        if (errno != EADDRINUSE)
            return -1;
        if (s->wsock) {
            zmq_close(s->wsock);
            s->wsock = NULL;
        }
        if (!announced)
            log_warn("the endpoints are still held by another process (a paused former "
                     "leader?); holding the leader lease and trying again");
        announced = 1;
        s->bind_quiet = 1;
        if (leader_tick(s->leader, util_mono_ms()) != 0)
            return -1; /* fenced, or the database went away before serving */
        server_wait_signal(s, 200);
        if (s->stop)
            return 1;
    }
}

/* Drains one socket. Returns -1 on a database error. Client requests get
 * a slice of the iteration (CLIENT_SLICE_MS, or OUTBOX_SLICE bytes of
 * replies): what is left waits in ZeroMQ for the next iteration, so a
 * burst of costly requests delays workers by one slice, not by the burst. */
int server_drain(server_t *s, void *sock, int which)
{
    int64_t t0 = util_mono_ms();
    for (int i = 0; i < DRAIN_MAX; i++) {
        if (which == SOCK_CLIENT && i > 0 &&
            (util_mono_ms() - t0 >= CLIENT_SLICE_MS || s->outbytes >= OUTBOX_SLICE))
            return 0;
        wire_msg_t m;
        int r = wire_recv(sock, 1, &m);
        if (r == 0)
            return 0;
        if (r < 0) {
            log_error("receive failed: %s", zmq_strerror(errno));
            return 0;
        }
        if (r == 2) {
            server_count_drop(s, "a message with a bad frame layout");
            continue;
        }
        if (s->cfg->coord.max_message && m.len > s->cfg->coord.max_message) {
            /* Between max_message and WIRE_HARD_MAX: refused by size, never decoded. */
            if (which == SOCK_CLIENT)
                server_client_oversized(s, &m);
            else
                server_count_drop(s, "an oversized worker message");
            wire_msg_clear(&m);
            continue;
        }
        int rc = which == SOCK_WORKER
                     ? server_worker_msg(s, &m)
                     : server_client_msg(s, m.ident, m.ident_len, m.user_id, m.data, m.len, 1);
        wire_msg_clear(&m);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int64_t s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Each iteration's busy time: the longest is reported (drover info) and a
 * long one is logged. (The workers are excused the stall before the
 * heartbeat check and at the next wake-up, in server_run.) */
static void s_account_iteration(server_t *s, int64_t us)
{
    if (us > s->longest_us)
        s->longest_us = us;
    if (us >= 1000000)
        log_warn("one loop iteration took %.1f s (the longest so far: %.1f s)", (double)us / 1e6,
                 (double)s->longest_us / 1e6);
}

int server_run(server_t *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
        (s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        log_error("cannot set up signal handling: %s", strerror(errno));
        return -1;
    }
    s->started_us = util_now_us();
    const conf_coordinator_t *cc = &s->cfg->coord;
    if (cc->insecure) {
        if (!s_local_endpoint(cc->client_endpoint) || !s_local_endpoint(cc->worker_endpoint) ||
            (cc->artifact_listen[0] && !s_local_endpoint(cc->artifact_listen))) {
            log_error(
                "refusing to listen on a non-loopback endpoint without CURVE (insecure = true): "
                "set coordinator.secret_key and remove insecure, or bind 127.0.0.1");
            return -1;
        }
        log_warn("running WITHOUT authentication or encryption (insecure = true): any local "
                 "process can act as a worker or an admin");
    } else {
        char err[1200];
        if (!cc->secret_key[0]) {
            log_error("coordinator.secret_key is not set: create a key pair with `drover keygen "
                      "--out /etc/drover/keys/coordinator` and name it in the config file (or set "
                      "insecure = true on a trusted test machine)");
            return -1;
        }
        if (keys_load(cc->secret_key, 1, &s->key, err, sizeof err) < 0) {
            log_error("%s", err);
            return -1;
        }
        /* ZAP (RFC 27) must be bound before the CURVE servers exist. */
        s->zap = zmq_socket(s->zctx, ZMQ_REP);
        int linger = 0;
        if (!s->zap || zmq_setsockopt(s->zap, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
            zmq_bind(s->zap, "inproc://zeromq.zap.01") < 0) {
            log_error("cannot start the ZAP handler: %s", zmq_strerror(errno));
            return -1;
        }
    }
    s->watchdog_ms = sdnotify_watchdog_ms();
    char oerr[1200];
    s->obs = observe_new(cc, oerr, sizeof oerr);
    if (!s->obs) {
        log_error("coordinator.metrics_listen: %s", oerr);
        return -1;
    }
    observe_ready(s->obs, "starting");
    int a = server_attach(s);
    if (a != 0)
        return a > 0 ? 0 : -1;
    int b = s_bind_all(s);
    if (b != 0)
        return b > 0 ? 0 : -1;
    log_info("serving clients on %s, workers on %s (%s)", s->cfg->coord.client_endpoint,
             s->cfg->coord.worker_endpoint,
             auth_secure(s->auth) ? "CURVE, allow-listed keys only" : "INSECURE");
    if (sdnotify_send("READY=1\nSTATUS=active") < 0)
        log_warn("cannot notify systemd: %s", strerror(errno));
    /* Retention runs beside the loop, only while we are the active one. */
    s->gc = gc_start(&s->cfg->coord);
    if (!s->gc && errno != ENOENT)
        log_warn("retention is off: cannot start its thread: %s", strerror(errno));
    /* Large submits are stored beside the loop (bulk.h); without the
     * thread they are stored inline, as small ones are. */
    if (!(s->bulk = bulk_start(cc->database)))
        log_warn("large submits will stall the loop: cannot start their thread: %s",
                 strerror(errno));
    if (cc->artifact_listen[0]) {
        /* Its own socket and thread: transfers never run on this loop. */
        char aerr[1200];
        void *asock = s_bind(s, cc->artifact_listen, "drover-worker");
        if (!asock)
            return -1;
        s->arts = artsvc_start(asock, cc->artifact_dir, cc->artifact_max_size, auth_secure(s->auth),
                               aerr, sizeof aerr);
        if (!s->arts) {
            log_error("coordinator.artifact_listen: %s", aerr);
            return -1;
        }
        log_info("artifact service on %s, store %s", cc->artifact_listen, cc->artifact_dir);
    }
    char nerr[1200];
    s->notify = notify_start(&s->cfg->coord, nerr, sizeof nerr);
    if (!s->notify && errno != ENOENT) {
        log_error("coordinator.notify: %s", nerr);
        return -1;
    }
    /* The global outbox fills only with a global webhook; a run's own
     * webhook (coordinator.notify.allow) is enqueued whatever this says. */
    if (store_notify_enabled(s->st, s->notify && s->cfg->coord.notify_webhook[0]) < 0) {
        log_error("database: %s", db_error(s->db));
        return -1;
    }
    server_side_active(s, 1);
    int64_t last_tick = 0, prev_us = 0;
    while (!s->stop) {
        if (s->db_down_us) {
            int r = server_outage_step(s);
            if (r != 0)
                return r > 0 ? 0 : -1;
            continue;
        }
        int64_t busy_from = 0;
        zmq_pollitem_t items[5] = {
            {s->wsock, 0, ZMQ_POLLIN, 0},
            {s->csock, 0, ZMQ_POLLIN, 0},
            {NULL, s->sigfd, ZMQ_POLLIN, 0},
            {NULL, s->bulk ? bulk_fd(s->bulk) : s->sigfd, ZMQ_POLLIN, 0},
            {s->zap, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, s->zap ? 5 : 4, TICK_MS) < 0 && errno != EINTR) {
            log_error("zmq_poll: %s", zmq_strerror(errno));
            return -1;
        }
        busy_from = s_mono_us();
        /* Between two wake-ups the loop waits at most TICK_MS in zmq_poll;
         * anything beyond that it was busy, or stopped, or not scheduled:
         * the workers' messages waited meanwhile, so that time is not
         * theirs to answer for (judged before any heartbeat deadline). */
        if (prev_us && busy_from - prev_us > (int64_t)(TICK_MS + 10) * 1000)
            model_workers_excuse(s->model, (busy_from - prev_us) / 1000 - TICK_MS);
        prev_us = busy_from;
        if (items[2].revents & ZMQ_POLLIN)
            server_read_signals(s);
        if (s->zap && (items[4].revents & ZMQ_POLLIN))
            auth_zap(s->auth, s->zap);
        int64_t t0 = util_mono_us();
        int bad = server_drain(s, s->wsock, SOCK_WORKER) < 0 ||
                  server_drain(s, s->csock, SOCK_CLIENT) < 0;
        if (!bad && s->bulk && (items[3].revents & ZMQ_POLLIN))
            bad = server_client_bulk_done(s) < 0;
        int64_t now = util_mono_ms();
        server_watchdog(s, now);
        if (!bad && now - last_tick >= TICK_MS) {
            last_tick = now;
            /* This iteration's own work so far (a slow statement, a costly
             * request) kept the workers' heartbeats waiting: excused too. */
            int64_t busy_ms = (s_mono_us() - busy_from) / 1000;
            if (busy_ms > TICK_MS)
                model_workers_excuse(s->model, busy_ms);
            bad = model_tick(s->model, now) < 0 || calendar_tick(s->cal) < 0;
        }
        if (!bad && now >= s->next_publish_ms) {
            s->next_publish_ms = now + 1000;
            gc_stats_t gs;
            gc_stats(s->gc, &gs);
            observe_publish(s->obs, s->model, 1, 1, &gs);
        }
        if (!bad)
            bad = model_dispatch(s->model) < 0;
        int64_t tc = util_mono_us();
        if (!bad && store_commit(s->st) < 0)
            bad = 1;
        observe_commit(s->obs, util_mono_us() - tc);
        if (!bad) {
            server_flush(s);
            model_after_commit(s->model);
            bad = server_client_wake(s) < 0;
            if (!bad) {
                /* Replies to woken requests are reads: send them now. */
                if (db_in_tx(s->db) || store_pending(s->st))
                    bad = store_commit(s->st) < 0;
                server_flush(s);
            }
        }
        if (!bad && !db_in_tx(s->db)) {
            int l = leader_tick(s->leader, util_mono_ms());
            if (l == 2)
                return -1; /* fenced */
            bad = l < 0;
        }
        observe_iteration(s->obs, util_mono_us() - t0);
        if (bad) {
            int r = server_reset(s);
            if (r != 0)
                return r > 0 ? 0 : -1;
        }
        s_account_iteration(s, s_mono_us() - busy_from);
    }
    (void)sdnotify_send("STOPPING=1");
    bulk_stop(s->bulk); /* after its current job; the rest are answered "stopping" */
    if (s->bulk)
        (void)server_client_bulk_done(s);
    if (store_commit(s->st) == 0)
        server_flush(s);
    log_info("stopped");
    return 0;
}
