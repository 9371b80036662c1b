/* server — see server.h. */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

#include "db.h"
#include "leader.h"
#include "log.h"
#include "migrate.h"
#include "model.h"
#include "registry.h"
#include "calendar.h"
#include "auth.h"
#include "keys.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "wirecheck.h"

#define TICK_MS 50
#define DRAIN_MAX 1024        /* messages per socket per iteration */
#define HOLD_MAX_MS 30000     /* longest long-poll */
#define HOLD_MIN_MS 100       /* a status watcher is answered at most this often */
#define LOG_REPLY_MAX (4u << 20)

enum { SOCK_WORKER = 0, SOCK_CLIENT = 1 };

typedef struct {
    int sock;
    uint8_t ident[WIRE_MAX_IDENT];
    size_t ident_len;
    uint8_t *data;
    size_t len;
} outmsg_t;

/* A long-poll request parked until its run/task changes or it times out;
 * it is then handled again from its original bytes with holding off. */
typedef struct {
    uint8_t ident[WIRE_MAX_IDENT];
    size_t ident_len;
    char user_id[128];
    uint8_t *data;
    size_t len;
    int64_t deadline_ms;
    int64_t parked_ms;
    int64_t run_id;
    uint64_t version;   /* the run's version the client has seen */
    int64_t task_id;    /* logs: the task and its log counter at park time */
    uint64_t logseq;
} held_t;

struct server {
    leader_t *leader; /* the fenced leader lease (leader.h) */
    const conf_t *cfg;
    db_t *db;
    store_t *st;
    model_t *model;
    void *zctx, *wsock, *csock;
    int sigfd;
    volatile int stop;
    outmsg_t *out;
    size_t nout, capout;
    held_t *held;
    size_t nheld, capheld;
    uint64_t dropped;
    int64_t started_us;
    int64_t db_down_us;      /* PostgreSQL unreachable since (wall clock); 0 = up */
    int64_t db_retry_ms;     /* next reconnect attempt while down (monotonic) */
    int bind_quiet;          /* EADDRINUSE already reported */
    auth_t *auth;
    calendar_t *cal;
    void *zap;                 /* ZAP handler (REP on inproc://zeromq.zap.01) */
    keys_pair_t key;           /* the coordinator's CURVE key pair */
    int64_t last_drop_log_ms;
};

/* ------------------------------------------------------------ outbox --- */

static void s_queue(server_t *s, int sock, const uint8_t *ident, size_t ident_len,
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

static void s_flush(server_t *s)
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
}

static void s_discard_outbox(server_t *s)
{
    for (size_t i = 0; i < s->nout; i++)
        free(s->out[i].data);
    s->nout = 0;
}

/* ---------------------------------------------------------- model sink --- */

static void s_sink_assign(void *ctx, const worker_t *w, const task_t *t, const char *spec_json)
{
    server_t *s = ctx;
    Drover__CoordMsg msg = DROVER__COORD_MSG__INIT;
    Drover__Assign a = DROVER__ASSIGN__INIT;
    Drover__Lease l = DROVER__LEASE__INIT;
    l.task_id = (uint64_t)t->id;
    l.attempt = (uint32_t)t->attempt;
    a.lease = &l;
    a.run_id = (uint64_t)t->run->id;
    a.step = t->name;
    a.kind = t->kind;
    a.spec_json = (char *)spec_json;
    a.timeout_ms = (uint64_t)t->timeout_ms;
    uint32_t gpus[64];
    size_t ng = 0;
    for (int i = 0; i < 64; i++)
        if (t->gpumask & (1ull << i))
            gpus[ng++] = (uint32_t)i;
    a.n_gpus = ng;
    a.gpus = gpus;
    a.memory_bytes = t->res.memory; /* enforced by the worker (worker/contain.h) */
    a.cpus = t->res.cpus;
    msg.version = DROVER_PROTOCOL_VERSION;
    msg.body_case = DROVER__COORD_MSG__BODY_ASSIGN;
    msg.assign = &a;
    s_queue(s, SOCK_WORKER, w->ident, w->ident_len, &msg.base);
}

static void s_sink_kill(void *ctx, const worker_t *w, int64_t task_id, int attempt)
{
    server_t *s = ctx;
    Drover__CoordMsg msg = DROVER__COORD_MSG__INIT;
    Drover__Kill k = DROVER__KILL__INIT;
    Drover__Lease l = DROVER__LEASE__INIT;
    l.task_id = (uint64_t)task_id;
    l.attempt = (uint32_t)attempt;
    k.lease = &l;
    msg.version = DROVER_PROTOCOL_VERSION;
    msg.body_case = DROVER__COORD_MSG__BODY_KILL;
    msg.kill = &k;
    s_queue(s, SOCK_WORKER, w->ident, w->ident_len, &msg.base);
}

static int s_sink_run_inline(void *ctx, const task_t *t, char *err, size_t errlen)
{
    server_t *s = ctx;
    if (strcmp(t->kind, "select") == 0)
        return registry_run_select(s->st, t->run->id, t->id, t->attempt, t->spec_json, err, errlen);
    char by[300];
    snprintf(by, sizeof by, "run %lld step %s", (long long)t->run->id, t->name);
    return registry_run_promote(s->st, t->run->id, t->spec_json, by, err, errlen);
}

static int s_sink_prepare(void *ctx, const task_t *t, char **spec_out, char *err, size_t errlen)
{
    server_t *s = ctx;
    return registry_prepare(s->st, t->run->id, t->kind, t->spec_json, spec_out, err, errlen);
}

static int s_sink_outputs(void *ctx, const task_t *t, int attempt, int succeeded,
                          const char *outputs_json, int *gate_rejected, char *err, size_t errlen)
{
    server_t *s = ctx;
    return registry_apply(s->st, t->run->id, t->id, attempt, t->name, t->kind, succeeded,
                          outputs_json, gate_rejected, err, errlen);
}

/* ----------------------------------------------------------- workers --- */

static void s_count_drop(server_t *s, const char *what)
{
    s->dropped++;
    int64_t now = util_mono_ms();
    /* One line per second at most: a flood must not become a log flood. */
    if (now - s->last_drop_log_ms >= 1000) {
        s->last_drop_log_ms = now;
        log_warn("dropped %s (%llu dropped so far)", what, (unsigned long long)s->dropped);
    }
}

static void s_reply_worker(server_t *s, const wire_msg_t *m, Drover__CoordMsg *msg)
{
    msg->version = DROVER_PROTOCOL_VERSION;
    s_queue(s, SOCK_WORKER, m->ident, m->ident_len, &msg->base);
}

/* Returns -1 only on a database error. */
static int s_on_worker(server_t *s, const wire_msg_t *m)
{
    Drover__WorkerMsg *in = drover__worker_msg__unpack(NULL, m->len, m->data);
    int rc = 0;
    if (!in) {
        s_count_drop(s, "a malformed message on the worker socket");
        return 0;
    }
    wire_sanitize(&in->base);
    Drover__CoordMsg out = DROVER__COORD_MSG__INIT;
    const char *keyname;
    auth_role_t role;
    char why[200];
    if (auth_peer(s->auth, m->user_id, "worker", &keyname, &role, why, sizeof why) < 0) {
        /* ZAP already refuses unknown keys; this is a key revoked since. */
        if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
            Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
            rr.accepted = 0;
            rr.reason = why;
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
        } else {
            /* Its session is over: make it register, to be refused. */
            Drover__Reregister re = DROVER__REREGISTER__INIT;
            out.body_case = DROVER__COORD_MSG__BODY_REREGISTER;
            out.reregister = &re;
            s_reply_worker(s, m, &out);
        }
        s_count_drop(s, "a worker message from a key no longer allowed");
        goto done;
    }
    if (in->version != DROVER_PROTOCOL_VERSION) {
        if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
            const char *name = in->register_->name ? in->register_->name : "?";
            char reason[256];
            snprintf(reason, sizeof reason,
                     "protocol version %u is not supported: this coordinator speaks version %d; "
                     "run matching drover versions",
                     in->version, DROVER_PROTOCOL_VERSION);
            log_warn("refused worker %s: it speaks protocol version %u, this coordinator speaks %d",
                     name, in->version, DROVER_PROTOCOL_VERSION);
            Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
            rr.accepted = 0;
            rr.reason = reason;
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
        } else {
            s_count_drop(s, "a worker message of another protocol version");
        }
        goto done;
    }
    /* The same checks the fuzzers drive (common/wirecheck.c). */
    char bad[200];
    if (wirecheck_validate_worker_msg(in, bad, sizeof bad) < 0) {
        if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
            Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
            rr.accepted = 0;
            rr.reason = bad;
            log_warn("refused a worker registration: %s", bad);
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
        } else {
            s_count_drop(s, "an invalid worker message");
        }
        goto done;
    }
    if (in->body_case == DROVER__WORKER_MSG__BODY_REGISTER) {
        Drover__Register *reg = in->register_;
        Drover__RegisterReply rr = DROVER__REGISTER_REPLY__INIT;
        if (!reg->name || !*reg->name || strlen(reg->name) >= sizeof(((worker_t *)0)->name)) {
            rr.accepted = 0;
            rr.reason = "a worker needs a name of 1 to 127 characters";
            log_warn("refused worker without a valid name");
            out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
            out.register_reply = &rr;
            s_reply_worker(s, m, &out);
            goto done;
        }
        lease_t *drop = NULL;
        size_t ndrop = 0;
        worker_t *w = model_worker_register(s->model, m->ident, m->ident_len, reg, &drop, &ndrop);
        if (!w) {
            free(drop);
            rc = -1;
            goto done;
        }
        util_strlcpy(w->key, auth_secure(s->auth) ? keyname : "", sizeof w->key);
        Drover__Lease *dl = ndrop ? calloc(ndrop, sizeof *dl) : NULL;
        Drover__Lease **dp = ndrop ? calloc(ndrop, sizeof *dp) : NULL;
        if (ndrop && (!dl || !dp)) {
            free(dl);
            free(dp);
            free(drop);
            rc = -1;
            goto done;
        }
        for (size_t i = 0; i < ndrop; i++) {
            drover__lease__init(&dl[i]);
            dl[i].task_id = (uint64_t)drop[i].task_id;
            dl[i].attempt = (uint32_t)drop[i].attempt;
            dp[i] = &dl[i];
        }
        rr.accepted = 1;
        rr.heartbeat_ms = (uint32_t)s->cfg->coord.heartbeat_ms;
        rr.n_drop = ndrop;
        rr.drop = dp;
        out.body_case = DROVER__COORD_MSG__BODY_REGISTER_REPLY;
        out.register_reply = &rr;
        s_reply_worker(s, m, &out);
        free(dl);
        free(dp);
        free(drop);
        goto done;
    }
    worker_t *w = model_worker_by_ident(s->model, m->ident, m->ident_len);
    if (!w) {
        /* A session we do not know (we restarted, or declared it dead). */
        Drover__Reregister re = DROVER__REREGISTER__INIT;
        out.body_case = DROVER__COORD_MSG__BODY_REREGISTER;
        out.reregister = &re;
        s_reply_worker(s, m, &out);
        goto done;
    }
    model_worker_seen(s->model, w);
    switch (in->body_case) {
    case DROVER__WORKER_MSG__BODY_HEARTBEAT:
        break;
    case DROVER__WORKER_MSG__BODY_STARTED:
        rc = model_task_started(s->model, w, in->started) < 0 ? -1 : 0;
        break;
    case DROVER__WORKER_MSG__BODY_RESULT: {
        if (model_task_result(s->model, w, in->result) < 0) {
            rc = -1;
            break;
        }
        if (!in->result->lease)
            break;
        /* Acked even when stale, so the worker stops re-sending it. */
        Drover__ResultAck ack = DROVER__RESULT_ACK__INIT;
        Drover__Lease l = DROVER__LEASE__INIT;
        l.task_id = in->result->lease->task_id;
        l.attempt = in->result->lease->attempt;
        ack.lease = &l;
        out.body_case = DROVER__COORD_MSG__BODY_RESULT_ACK;
        out.result_ack = &ack;
        s_reply_worker(s, m, &out);
        break;
    }
    case DROVER__WORKER_MSG__BODY_LOG:
        rc = model_task_log(s->model, w, in->log) < 0 ? -1 : 0;
        break;
    case DROVER__WORKER_MSG__BODY_DRAINING:
        rc = model_worker_draining(s->model, w, in->draining->drain_ms) < 0 ? -1 : 0;
        break;
    case DROVER__WORKER_MSG__BODY_METRIC: {
        int r = model_task_metric(s->model, w, in->metric);
        if (r == 0)
            s_count_drop(s, "a malformed metric");
        rc = r < 0 ? -1 : 0;
        break;
    }
    default:
        s_count_drop(s, "a worker message without a body");
    }
done:
    drover__worker_msg__free_unpacked(in, NULL);
    return rc;
}

/* ----------------------------------------------------------- clients --- */

static void s_reply_client(server_t *s, const uint8_t *ident, size_t ident_len,
                           Drover__ClientReply *r)
{
    r->version = DROVER_PROTOCOL_VERSION;
    s_queue(s, SOCK_CLIENT, ident, ident_len, &r->base);
}

static void s_fill_run(server_t *s, const PGresult *res, int row, Drover__RunInfo *ri)
{
    ri->id = (uint64_t)db_get_i64(res, row, 0);
    ri->workflow = (char *)db_get_str(res, row, 1);
    ri->state = wire_run_state_from_name(db_get_str(res, row, 2));
    ri->submitted_at_us = db_get_i64(res, row, 3);
    ri->started_at_us = db_get_i64(res, row, 4);
    ri->finished_at_us = db_get_i64(res, row, 5);
    ri->tasks_total = (uint32_t)db_get_i64(res, row, 6);
    ri->tasks_done = (uint32_t)db_get_i64(res, row, 7);
    run_t *r = model_run(s->model, (int64_t)ri->id);
    ri->version = r ? r->version : 0;
}

static int s_client_runs(server_t *s, const Drover__RunsRequest *q, Drover__ClientReply *rep,
                         const uint8_t *ident, size_t ident_len)
{
    int limit = q && q->limit ? (int)q->limit : 20;
    if (limit > 1000)
        limit = 1000;
    PGresult *res = store_runs_list(s->st, limit);
    if (!res)
        return -1;
    int n = PQntuples(res);
    Drover__RunInfo *ri = calloc((size_t)n + 1, sizeof *ri);
    Drover__RunInfo **rp = calloc((size_t)n + 1, sizeof *rp);
    if (!ri || !rp) {
        free(ri);
        free(rp);
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        drover__run_info__init(&ri[i]);
        s_fill_run(s, res, i, &ri[i]);
        rp[i] = &ri[i];
    }
    rep->n_runs = (size_t)n;
    rep->runs = rp;
    s_reply_client(s, ident, ident_len, rep);
    free(ri);
    free(rp);
    PQclear(res);
    return 0;
}

/* Status of an active run, from memory: no query, however large the run
 * (--wait asks for it on every change). */
static int s_client_status_live(server_t *s, run_t *r, Drover__ClientReply *rep,
                                const uint8_t *ident, size_t ident_len)
{
    int n = r->ntasks, rc = -1;
    size_t nafter = 0;
    for (int i = 0; i < n; i++)
        nafter += (size_t)r->tasks[i].nparents;
    Drover__TaskInfo *ti = calloc((size_t)n + 1, sizeof *ti);
    Drover__TaskInfo **tp = calloc((size_t)n + 1, sizeof *tp);
    char **after = calloc(nafter + 1, sizeof *after);
    if (!ti || !tp || !after)
        goto out;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        const task_t *t = &r->tasks[i];
        Drover__TaskInfo *x = &ti[i];
        drover__task_info__init(x);
        x->id = (uint64_t)t->id;
        x->name = t->name;
        x->kind = t->kind;
        x->state = t->state;
        x->attempt = (uint32_t)t->attempt;
        x->worker = (char *)t->worker;
        x->started_at_us = t->started_us;
        x->finished_at_us = t->finished_us;
        x->has_exit_code = t->has_exit_code;
        x->exit_code = t->exit_code;
        x->error = t->error ? t->error : "";
        x->retries = (uint32_t)t->retries;
        x->after = &after[k];
        x->n_after = (size_t)t->nparents;
        for (int p = 0; p < t->nparents; p++)
            after[k++] = r->tasks[t->parents[p]].name;
        tp[i] = x;
    }
    Drover__RunInfo ri = DROVER__RUN_INFO__INIT;
    Drover__RunInfo *rip = &ri;
    ri.id = (uint64_t)r->id;
    ri.workflow = r->workflow;
    ri.state = r->state;
    ri.submitted_at_us = r->submitted_us;
    ri.started_at_us = r->submitted_us; /* runs start when submitted */
    ri.tasks_total = (uint32_t)n;
    ri.tasks_done = (uint32_t)r->ndone;
    ri.version = r->version;
    rep->n_runs = 1;
    rep->runs = &rip;
    rep->n_tasks = (size_t)n;
    rep->tasks = tp;
    s_reply_client(s, ident, ident_len, rep);
    rc = 0;
out:
    free(ti);
    free(tp);
    free(after);
    return rc;
}

static int s_client_status(server_t *s, int64_t run_id, Drover__ClientReply *rep,
                           const uint8_t *ident, size_t ident_len)
{
    PGresult *rr = store_run_get(s->st, run_id);
    if (!rr)
        return -1;
    if (PQntuples(rr) == 0) {
        PQclear(rr);
        char msg[64];
        snprintf(msg, sizeof msg, "no run %lld", (long long)run_id);
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        rep->message = msg;
        s_reply_client(s, ident, ident_len, rep);
        return 0;
    }
    PGresult *tr = store_run_tasks(s->st, run_id);
    if (!tr) {
        PQclear(rr);
        return -1;
    }
    int n = PQntuples(tr);
    Drover__RunInfo ri = DROVER__RUN_INFO__INIT;
    Drover__RunInfo *rip = &ri;
    s_fill_run(s, rr, 0, &ri);
    Drover__TaskInfo *ti = calloc((size_t)n + 1, sizeof *ti);
    Drover__TaskInfo **tp = calloc((size_t)n + 1, sizeof *tp);
    char **after = calloc((size_t)n + 1, sizeof *after);
    char ***afterv = calloc((size_t)n + 1, sizeof *afterv);
    int rc = -1;
    if (!ti || !tp || !after || !afterv)
        goto out;
    for (int i = 0; i < n; i++) {
        Drover__TaskInfo *t = &ti[i];
        drover__task_info__init(t);
        t->id = (uint64_t)db_get_i64(tr, i, 0);
        t->name = (char *)db_get_str(tr, i, 1);
        t->kind = (char *)db_get_str(tr, i, 2);
        t->state = wire_task_state_from_name(db_get_str(tr, i, 3));
        t->attempt = (uint32_t)db_get_i64(tr, i, 4);
        t->worker = (char *)db_get_str(tr, i, 5);
        t->started_at_us = db_get_i64(tr, i, 6);
        t->finished_at_us = db_get_i64(tr, i, 7);
        t->has_exit_code = !db_is_null(tr, i, 8);
        t->exit_code = (int32_t)db_get_i64(tr, i, 8);
        t->error = (char *)db_get_str(tr, i, 9);
        t->retries = (uint32_t)db_get_i64(tr, i, 10);
        /* "a,b,c" -> ["a","b","c"]: names cannot contain commas. */
        const char *list = db_get_str(tr, i, 11);
        if (*list) {
            after[i] = strdup(list);
            size_t cnt = 1;
            for (const char *p = list; *p; p++)
                cnt += *p == ',';
            afterv[i] = calloc(cnt, sizeof(char *));
            if (!after[i] || !afterv[i])
                goto out;
            size_t k = 0;
            for (char *save = NULL, *tok = strtok_r(after[i], ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
                afterv[i][k++] = tok;
            t->n_after = k;
            t->after = afterv[i];
        }
        tp[i] = t;
    }
    rep->n_runs = 1;
    rep->runs = &rip;
    rep->n_tasks = (size_t)n;
    rep->tasks = tp;
    s_reply_client(s, ident, ident_len, rep);
    rc = 0;
out:
    for (int i = 0; after && afterv && i < n; i++) {
        free(after[i]);
        free(afterv[i]);
    }
    free(after);
    free(afterv);
    free(ti);
    free(tp);
    PQclear(rr);
    PQclear(tr);
    return rc;
}

/* Appends the contiguous bytes of one stream from *off into buf. */
static void s_take_stream(const PGresult *res, int stream, uint64_t *off, uint8_t *buf,
                          size_t *len, size_t cap, int *more)
{
    for (int i = 0; i < PQntuples(res); i++) {
        if (db_get_i64(res, i, 0) != stream)
            continue;
        uint64_t o = (uint64_t)db_get_i64(res, i, 1);
        size_t n = 0;
        unsigned char *d = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 2), &n);
        if (!d)
            return;
        if (o > *off) { /* a gap: bytes not stored (yet) */
            PQfreemem(d);
            return;
        }
        size_t skip = (size_t)(*off - o);
        if (skip < n) {
            size_t take = n - skip;
            if (*len + take > cap) {
                take = cap - *len;
                *more = 1;
            }
            memcpy(buf + *len, d + skip, take);
            *len += take;
            *off += take;
        }
        PQfreemem(d);
        if (*more)
            return;
    }
}

static int s_task_terminal(const char *state)
{
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "skipped") ||
           !strcmp(state, "cancelled");
}

/* Returns 1 when the request was parked (no reply yet), 0 replied, -1 db. */
static int s_client_logs(server_t *s, const Drover__LogsRequest *q, int may_hold,
                         Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len,
                         held_t *park)
{
    PGresult *tr = store_task_by_name(s->st, (int64_t)q->run_id, q->step ? q->step : "");
    if (!tr)
        return -1;
    if (PQntuples(tr) == 0) {
        PQclear(tr);
        char msg[300];
        snprintf(msg, sizeof msg, "run %llu has no step '%s' (see: drover status %llu)",
                 (unsigned long long)q->run_id, q->step ? q->step : "",
                 (unsigned long long)q->run_id);
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        rep->message = msg;
        s_reply_client(s, ident, ident_len, rep);
        return 0;
    }
    int64_t task_id = db_get_i64(tr, 0, 0);
    int current = (int)db_get_i64(tr, 0, 1);
    char state[32];
    util_strlcpy(state, db_get_str(tr, 0, 2), sizeof state);
    PQclear(tr);
    int attempt = q->attempt ? (int)q->attempt : current;
    uint64_t out_off = q->stdout_offset, err_off = q->stderr_offset;
    uint8_t *obuf = malloc(LOG_REPLY_MAX), *ebuf = malloc(LOG_REPLY_MAX);
    size_t olen = 0, elen = 0;
    int more = 0, rc = -1;
    PGresult *lr = NULL;
    if (!obuf || !ebuf)
        goto out;
    if (attempt > 0) {
        lr = store_logs(s->st, task_id, attempt, out_off, err_off);
        if (!lr)
            goto out;
        s_take_stream(lr, 1, &out_off, obuf, &olen, LOG_REPLY_MAX, &more);
        s_take_stream(lr, 2, &err_off, ebuf, &elen, LOG_REPLY_MAX, &more);
        if (PQntuples(lr) == 256)
            more = 1;
    }
    int ended = s_task_terminal(state) || attempt < current;
    int finished = ended && !more && olen == 0 && elen == 0;
    if (may_hold && q->wait_ms && olen == 0 && elen == 0 && !ended) {
        task_t *t = model_task(s->model, task_id);
        park->task_id = task_id;
        park->logseq = t ? t->logseq : 0;
        /* A transition (e.g. the task ending) wakes it too. */
        park->run_id = t ? t->run->id : 0;
        park->version = t ? t->run->version : 0;
        rc = 1;
        goto out;
    }
    Drover__LogsReply lg = DROVER__LOGS_REPLY__INIT;
    lg.attempt = (uint32_t)attempt;
    lg.stdout_data.data = obuf;
    lg.stdout_data.len = olen;
    lg.stderr_data.data = ebuf;
    lg.stderr_data.len = elen;
    lg.stdout_offset = out_off;
    lg.stderr_offset = err_off;
    lg.finished = finished;
    lg.state = wire_task_state_from_name(state);
    rep->logs = &lg;
    s_reply_client(s, ident, ident_len, rep);
    rc = 0;
out:
    PQclear(lr);
    free(obuf);
    free(ebuf);
    return rc;
}

static void s_client_workers(server_t *s, Drover__ClientReply *rep, const uint8_t *ident,
                             size_t ident_len)
{
    size_t n = 0;
    for (worker_t *w = model_workers(s->model); w; w = w->next)
        n += w->connected;
    Drover__WorkerInfo *wi = calloc(n + 1, sizeof *wi);
    Drover__WorkerInfo **wp = calloc(n + 1, sizeof *wp);
    char **lp = calloc((n + 1) * CONFIG_MAX_LABELS, sizeof *lp);
    if (!wi || !wp || !lp) {
        log_error("out of memory listing workers");
        goto out;
    }
    size_t i = 0;
    for (worker_t *w = model_workers(s->model); w; w = w->next) {
        if (!w->connected)
            continue;
        drover__worker_info__init(&wi[i]);
        wi[i].name = w->name;
        wi[i].host = w->host;
        wi[i].slots = (uint32_t)w->slots;
        wi[i].running = (uint32_t)w->nheld;
        wi[i].last_heartbeat_us = w->last_seen_us;
        wi[i].connected = 1;
        for (int k = 0; k < w->nlabels; k++)
            lp[i * CONFIG_MAX_LABELS + (size_t)k] = w->labels[k];
        wi[i].n_labels = (size_t)w->nlabels;
        wi[i].labels = &lp[i * CONFIG_MAX_LABELS];
        wp[i] = &wi[i];
        i++;
    }
    rep->n_workers = n;
    rep->workers = wp;
    s_reply_client(s, ident, ident_len, rep);
out:
    free(wi);
    free(wp);
    free(lp);
}

/* The ML requests: reads answered with a JSON document, and promote. */
static int s_client_ml(server_t *s, const Drover__ClientRequest *in, const char *actor,
                       Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len)
{
    char msg[600];
    char *doc = NULL;
    const char *step = "";
    int64_t run_id = 0;
    switch (in->body_case) {
    case DROVER__CLIENT_REQUEST__BODY_REPORT:
    case DROVER__CLIENT_REQUEST__BODY_METRICS: {
        const Drover__StepDataRequest *q =
            in->body_case == DROVER__CLIENT_REQUEST__BODY_REPORT ? in->report : in->metrics;
        run_id = (int64_t)q->run_id;
        step = q->step ? q->step : "";
        doc = in->body_case == DROVER__CLIENT_REQUEST__BODY_REPORT
                  ? store_report_json(s->st, run_id, step)
                  : store_metrics_json(s->st, run_id, step);
        if (doc && !*doc)
            snprintf(msg, sizeof msg, "run %lld has no %s for step '%s' (see: drover status %lld)",
                     (long long)run_id,
                     in->body_case == DROVER__CLIENT_REQUEST__BODY_REPORT ? "report" : "step",
                     step, (long long)run_id);
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_MODELS: {
        const char *name = in->models->name ? in->models->name : "";
        if (in->models->version) {
            doc = store_model_json(s->st, name, (int)in->models->version);
            if (doc && !*doc)
                snprintf(msg, sizeof msg, "no model version %s:%u (see: drover models %s)", name,
                         in->models->version, name);
        } else {
            doc = store_models_json(s->st, name);
        }
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_PROMOTE: {
        const Drover__PromoteRequest *q = in->promote;
        const char *stage = q->stage ? q->stage : "";
        if (strcmp(stage, "staging") && strcmp(stage, "production") && strcmp(stage, "archived")) {
            snprintf(msg, sizeof msg, "unknown stage '%s' (use staging, production or archived)", stage);
            rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            rep->message = msg;
            s_reply_client(s, ident, ident_len, rep);
            return 0;
        }
        char by[300];
        snprintf(by, sizeof by, "%s (key %s)", q->by && *q->by ? q->by : "unknown", actor);
        int rc = registry_promote(s->st, q->name ? q->name : "", (int)q->version,
                                  q->stage ? q->stage : "", by,
                                  q->reason && *q->reason ? q->reason : NULL, msg, sizeof msg);
        if (rc < 0)
            return -1;
        if (rc == 1)
            rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        else if (store_audit(s->st, 0, actor, msg) < 0)
            return -1;
        rep->message = msg;
        s_reply_client(s, ident, ident_len, rep);
        return 0;
    }
    default:
        return 0;
    }
    if (!doc)
        return -1;
    if (!*doc) {
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        rep->message = msg;
    } else {
        rep->json = doc;
    }
    s_reply_client(s, ident, ident_len, rep);
    free(doc);
    return 0;
}

/* Schedules and triggers: list, pause, resume, rm, trigger. */
static int s_client_schedule(server_t *s, const Drover__ScheduleRequest *q, const char *actor,
                             Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len)
{
    char msg[600];
    char *doc = NULL;
    const char *op = q->op ? q->op : "";
    int rc = calendar_op(s->cal, op, q->name ? q->name : "", &doc, msg, sizeof msg);
    if (rc < 0)
        return -1;
    if (doc) {
        rep->json = doc;
    } else {
        if (rc == 1)
            rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        else if (store_audit(s->st, 0, actor, msg) < 0)
            return -1;
        rep->message = msg;
    }
    s_reply_client(s, ident, ident_len, rep);
    free(doc);
    return 0;
}

/* The allow-list: list, allow, revoke (admin). */
static int s_client_keys(server_t *s, const Drover__KeysRequest *q, const char *actor,
                         Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len)
{
    char msg[600];
    const char *op = q->op ? q->op : "";
    int rc = 1;
    if (strcmp(op, "list") == 0) {
        char *doc = auth_list_json(s->auth);
        if (!doc)
            return -1;
        rep->json = doc;
        s_reply_client(s, ident, ident_len, rep);
        free(doc);
        return 0;
    }
    if (strcmp(op, "allow") == 0)
        rc = auth_allow(s->auth, s->st, q->name ? q->name : "", q->kind ? q->kind : "", q->role,
                        q->public_key ? q->public_key : "", actor, msg, sizeof msg);
    else if (strcmp(op, "revoke") == 0) {
        rc = auth_revoke(s->auth, s->st, q->name ? q->name : "", actor, msg, sizeof msg);
        if (rc == 0 && model_workers_evict_key(s->model, q->name) < 0)
            rc = -1;
    } else
        snprintf(msg, sizeof msg, "unknown keys operation '%s' (allow, revoke, list)", op);
    if (rc < 0)
        return -1;
    if (rc == 1)
        rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
    else {
        char detail[700];
        snprintf(detail, sizeof detail, "keys %s: %s", op, msg);
        if (store_audit(s->st, 0, actor, detail) < 0)
            return -1;
    }
    rep->message = msg;
    s_reply_client(s, ident, ident_len, rep);
    return 0;
}

/* Handles one client request. may_hold=0 when re-handling a parked one.
 * Returns -1 only on a database error. */
static int s_client_keys(server_t *s, const Drover__KeysRequest *q, const char *actor,
                         Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len);
static int s_client_schedule(server_t *s, const Drover__ScheduleRequest *q, const char *actor,
                             Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len);

/* The least role each request needs (cancel: see s_on_client). */
static auth_role_t s_needs(const Drover__ClientRequest *in)
{
    if (in->body_case == DROVER__CLIENT_REQUEST__BODY_SCHEDULE && in->schedule->op &&
        !strcmp(in->schedule->op, "list"))
        return AUTH_ROLE_READER;
    if (in->body_case == DROVER__CLIENT_REQUEST__BODY_QUEUE && in->queue->op &&
        !strcmp(in->queue->op, "list"))
        return AUTH_ROLE_READER;
    if (in->body_case == DROVER__CLIENT_REQUEST__BODY_KEYS && in->keys->op &&
        !strcmp(in->keys->op, "list"))
        return AUTH_ROLE_READER;
    switch (in->body_case) {
    case DROVER__CLIENT_REQUEST__BODY_SUBMIT:
    case DROVER__CLIENT_REQUEST__BODY_CANCEL:
        return AUTH_ROLE_SUBMITTER;
    case DROVER__CLIENT_REQUEST__BODY_PROMOTE:
    case DROVER__CLIENT_REQUEST__BODY_KEYS:
        return AUTH_ROLE_ADMIN;
    case DROVER__CLIENT_REQUEST__BODY_SCHEDULE:
    case DROVER__CLIENT_REQUEST__BODY_QUEUE:
        /* Listing is a read; changing schedules and queues is an admin's. */
        return AUTH_ROLE_ADMIN;
    default:
        return AUTH_ROLE_READER;
    }
}

/* ------------------------------------------------------ database outage ---
 *
 * While PostgreSQL is unreachable the coordinator keeps answering clients
 * (never workers: nothing they report could be made durable): what it can
 * serve from memory (info, workers, the status of a run it holds as
 * running) it serves; everything else, writes first, gets
 * ERROR_DB_UNAVAILABLE "database unavailable, retrying since HH:MM:SS"
 * (CLI exit 4). Workers keep their results and logs until it is back;
 * then state is reloaded from the database as after a restart.
 */

/* 1 (with the message) when request in cannot be served during an outage. */
static int s_outage_refuses(server_t *s, const Drover__ClientRequest *in, char *msg, size_t len)
{
    if (in->body_case == DROVER__CLIENT_REQUEST__BODY_INFO ||
        in->body_case == DROVER__CLIENT_REQUEST__BODY_WORKERS)
        return 0;
    if (in->body_case == DROVER__CLIENT_REQUEST__BODY_STATUS) {
        run_t *r = model_run(s->model, (int64_t)in->status->run_id);
        if (r && r->state == DROVER__RUN_STATE__RUN_RUNNING)
            return 0;
    }
    time_t t = (time_t)(s->db_down_us / 1000000);
    struct tm tm;
    char when[16] = "?";
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%H:%M:%S", &tm);
    snprintf(msg, len, "database unavailable, retrying since %s", when);
    return 1;
}

static int s_attach(server_t *s);
static int s_drain(server_t *s, void *sock, int which);
static void s_read_signals(server_t *s);

/* The database went away: serve from memory until it is back. The model
 * is kept as it was (for info, workers and live status) and reloaded when
 * the database returns. */
static int s_outage_begin(server_t *s)
{
    s->db_down_us = util_now_us();
    s->db_retry_ms = util_mono_ms() + 500;
    log_error("the database is unreachable (%s): answering clients from memory and refusing "
              "writes until it is back",
              db_error(s->db));
    return 0;
}

/* One loop turn while the database is down: clients and signals only, a
 * reconnect attempt every second. Returns 0 to go on, 1 to stop, -1 on a
 * fatal error. */
static int s_outage_step(server_t *s)
{
    zmq_pollitem_t items[3] = {
        {s->csock, 0, ZMQ_POLLIN, 0},
        {NULL, s->sigfd, ZMQ_POLLIN, 0},
        {s->zap, 0, ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, s->zap ? 3 : 2, 200) < 0 && errno != EINTR) {
        log_error("zmq_poll: %s", zmq_strerror(errno));
        return -1;
    }
    if (items[1].revents & ZMQ_POLLIN)
        s_read_signals(s);
    if (s->stop)
        return 1;
    if (s->zap && (items[2].revents & ZMQ_POLLIN))
        auth_zap(s->auth, s->zap);
    if (s_drain(s, s->csock, SOCK_CLIENT) < 0)
        store_discard(s->st); /* a read failed: the database is still away */
    s_flush(s);
    if (util_mono_ms() < s->db_retry_ms)
        return 0;
    s->db_retry_ms = util_mono_ms() + 1000;
    if (db_connect_once(s->db) < 0)
        return 0;
    log_info("the database is back after %.1fs: reloading state",
             (double)(util_now_us() - s->db_down_us) / 1e6);
    if (model_clear(s->model) < 0)
        return -1;
    s->db_down_us = 0;
    int a = s_attach(s);
    return a;
}

static int s_on_client(server_t *s, const uint8_t *ident, size_t ident_len, const char *user_id,
                       const uint8_t *data, size_t len, int may_hold)
{
    char bad[200];
    Drover__ClientRequest *in = wirecheck_client_request(data, len, bad, sizeof bad);
    if (!in) {
        uint64_t rid;
        if (wirecheck_request_id(data, len, &rid) == 0) {
            /* Well-formed enough to answer: say what was wrong. */
            Drover__ClientReply r = DROVER__CLIENT_REPLY__INIT;
            r.request_id = rid;
            r.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            r.message = bad;
            s_reply_client(s, ident, ident_len, &r);
        }
        s_count_drop(s, "an invalid message on the client socket");
        return 0;
    }
    int rc = 0;
    Drover__ClientReply rep = DROVER__CLIENT_REPLY__INIT;
    rep.request_id = in->request_id;
    char msg[1024];
    if (in->version != DROVER_PROTOCOL_VERSION) {
        snprintf(msg, sizeof msg,
                 "this coordinator speaks protocol version %d, the client %u: use matching drover versions",
                 DROVER_PROTOCOL_VERSION, in->version);
        rep.error = DROVER__ERROR_CODE__ERROR_VERSION;
        rep.message = msg;
        s_reply_client(s, ident, ident_len, &rep);
        goto done;
    }
    const char *actor;
    auth_role_t role;
    char why[200];
    if (auth_peer(s->auth, user_id, "client", &actor, &role, why, sizeof why) < 0) {
        snprintf(msg, sizeof msg, "refused: %s", why);
        rep.error = DROVER__ERROR_CODE__ERROR_FORBIDDEN;
        rep.message = msg;
        s_reply_client(s, ident, ident_len, &rep);
        goto done;
    }
    if (may_hold && !auth_rate_ok(s->auth, actor, util_mono_ms())) {
        snprintf(msg, sizeof msg,
                 "slow down: more than %d requests per second from key '%s' (coordinator.client_rate)",
                 s->cfg->coord.client_rate, actor);
        rep.error = DROVER__ERROR_CODE__ERROR_RATE_LIMITED;
        rep.message = msg;
        s_reply_client(s, ident, ident_len, &rep);
        s_count_drop(s, "a request over the client rate limit");
        goto done;
    }
    if (role < s_needs(in)) {
        snprintf(msg, sizeof msg, "permission denied: key '%s' has role %s; this needs %s", actor,
                 auth_role_name(role), auth_role_name(s_needs(in)));
        rep.error = DROVER__ERROR_CODE__ERROR_FORBIDDEN;
        rep.message = msg;
        s_reply_client(s, ident, ident_len, &rep);
        goto done;
    }
    if (s->db_down_us && s_outage_refuses(s, in, msg, sizeof msg)) {
        rep.error = DROVER__ERROR_CODE__ERROR_DB_UNAVAILABLE;
        rep.message = msg;
        s_reply_client(s, ident, ident_len, &rep);
        goto done;
    }
    held_t park = {0};
    switch (in->body_case) {
    case DROVER__CLIENT_REQUEST__BODY_SUBMIT: {
        int64_t run_id;
        const char *key = auth_secure(s->auth) ? actor : "";
        if (in->submit->schedule || in->submit->trigger) {
            /* Validate the workflow as a submit would, without running it. */
            int cr = calendar_register(s->cal, in->submit, key,
                                       in->submit->submitted_by ? in->submit->submitted_by : "",
                                       msg, sizeof msg);
            if (cr < 0) {
                rc = -1;
                break;
            }
            if (cr == 1)
                rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            else if (store_audit(s->st, 0, actor, msg) < 0) {
                rc = -1;
                break;
            }
            rep.message = msg;
            s_reply_client(s, ident, ident_len, &rep);
            break;
        }
        /* The audit row goes in with the run, in the same statement. */
        if (model_submit(s->model, in->submit, key, NULL, 0, actor, &run_id, msg, sizeof msg) < 0) {
            if (errno != EINVAL) {
                rc = -1;
                break;
            }
            rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            rep.message = msg;
        } else {
            rep.run_id = (uint64_t)run_id;
        }
        s_reply_client(s, ident, ident_len, &rep);
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_RUNS:
        rc = s_client_runs(s, in->runs, &rep, ident, ident_len);
        break;
    case DROVER__CLIENT_REQUEST__BODY_STATUS: {
        int64_t run_id = (int64_t)in->status->run_id;
        run_t *r = model_run(s->model, run_id);
        if (may_hold && !s->db_down_us && in->status->known_version && in->status->wait_ms && r &&
            r->version == in->status->known_version) {
            park.run_id = run_id;
            park.version = in->status->known_version;
            rc = 1;
        } else if (r && r->state == DROVER__RUN_STATE__RUN_RUNNING) {
            rc = s_client_status_live(s, r, &rep, ident, ident_len);
        } else {
            rc = s_client_status(s, run_id, &rep, ident, ident_len);
        }
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_LOGS:
        rc = s_client_logs(s, in->logs, may_hold, &rep, ident, ident_len, &park);
        break;
    case DROVER__CLIENT_REQUEST__BODY_CANCEL: {
        int64_t run_id = (int64_t)in->cancel->run_id;
        run_t *cr = model_run(s->model, run_id);
        if (cr && role < AUTH_ROLE_ADMIN && strcmp(cr->submitted_key, actor) != 0) {
            snprintf(msg, sizeof msg,
                     "permission denied: run %lld was submitted by key '%s'; key '%s' (%s) may "
                     "cancel only its own runs",
                     (long long)run_id, cr->submitted_key, actor, auth_role_name(role));
            rep.error = DROVER__ERROR_CODE__ERROR_FORBIDDEN;
            rep.message = msg;
        } else if (model_cancel(s->model, run_id, msg, sizeof msg) == 0) {
            rep.run_id = (uint64_t)run_id;
            rep.message = msg;
            if (store_audit(s->st, run_id, actor, msg) < 0) {
                rc = -1;
                break;
            }
        } else if (errno != ENOENT) {
            rc = -1;
            break;
        } else {
            PGresult *rr = store_run_get(s->st, run_id);
            if (!rr) {
                rc = -1;
                break;
            }
            if (PQntuples(rr) == 0) {
                snprintf(msg, sizeof msg, "no run %lld", (long long)run_id);
                rep.error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
            } else {
                snprintf(msg, sizeof msg, "run %lld already %s; nothing to cancel", (long long)run_id,
                         db_get_str(rr, 0, 2));
                rep.error = DROVER__ERROR_CODE__ERROR_CONFLICT;
            }
            PQclear(rr);
            rep.message = msg;
        }
        s_reply_client(s, ident, ident_len, &rep);
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_WORKERS:
        s_client_workers(s, &rep, ident, ident_len);
        break;
    case DROVER__CLIENT_REQUEST__BODY_REPORT:
    case DROVER__CLIENT_REQUEST__BODY_METRICS:
    case DROVER__CLIENT_REQUEST__BODY_MODELS:
    case DROVER__CLIENT_REQUEST__BODY_PROMOTE:
        rc = s_client_ml(s, in, actor, &rep, ident, ident_len);
        break;
    case DROVER__CLIENT_REQUEST__BODY_KEYS:
        rc = s_client_keys(s, in->keys, actor, &rep, ident, ident_len);
        break;
    case DROVER__CLIENT_REQUEST__BODY_QUEUE: {
        const Drover__QueueRequest *q = in->queue;
        if (q->op && strcmp(q->op, "list") == 0) {
            char *doc = model_queues_json(s->model);
            if (!doc) {
                rc = -1;
                break;
            }
            rep.json = doc;
            s_reply_client(s, ident, ident_len, &rep);
            free(doc);
            break;
        }
        int qr = model_queue_set(s->model, q->name ? q->name : "", q->op ? q->op : "", q->limit, msg,
                                 sizeof msg);
        if (qr < 0 || (qr == 0 && store_audit(s->st, 0, actor, msg) < 0)) {
            rc = -1;
            break;
        }
        if (qr == 1)
            rep.error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        rep.message = msg;
        s_reply_client(s, ident, ident_len, &rep);
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_WHY: {
        int64_t run_id = (int64_t)in->why->run_id;
        const char *step = in->why->step ? in->why->step : "";
        if (model_why(s->model, run_id, step, msg, sizeof msg) == 1) {
            PGresult *rr = store_run_get(s->st, run_id);
            if (!rr) {
                rc = -1;
                break;
            }
            if (PQntuples(rr) == 0) {
                snprintf(msg, sizeof msg, "no run %lld", (long long)run_id);
                rep.error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
            } else {
                snprintf(msg, sizeof msg, "run %lld has already ended: %s", (long long)run_id,
                         db_get_str(rr, 0, 2));
            }
            PQclear(rr);
        }
        rep.message = msg;
        s_reply_client(s, ident, ident_len, &rep);
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_SCHEDULE:
        rc = s_client_schedule(s, in->schedule, actor, &rep, ident, ident_len);
        break;
    case DROVER__CLIENT_REQUEST__BODY_INFO: {
        Drover__CoordinatorInfo info = DROVER__COORDINATOR_INFO__INIT;
        model_stats_t st = model_stats(s->model);
        info.version = DROVER_PROTOCOL_VERSION;
        info.build = "drover " DROVER_VERSION;
        info.dropped_messages = s->dropped;
        info.stale_results = st.stale;
        size_t nw = 0;
        for (worker_t *w = model_workers(s->model); w; w = w->next)
            nw += w->connected;
        info.workers = (uint32_t)nw;
        info.active_runs = (uint32_t)model_active_runs(s->model);
        info.started_at_us = s->started_us;
        info.db_down = s->db_down_us != 0;
        info.db_down_since_us = s->db_down_us;
        info.leader_epoch = leader_epoch(s->leader);
        rep.info = &info;
        s_reply_client(s, ident, ident_len, &rep);
        break;
    }
    default:
        s_count_drop(s, "a client request without a body");
    }
    if (rc == 1) {
        uint32_t wait = in->body_case == DROVER__CLIENT_REQUEST__BODY_STATUS ? in->status->wait_ms
                                                                            : in->logs->wait_ms;
        if (wait > HOLD_MAX_MS)
            wait = HOLD_MAX_MS;
        park.parked_ms = util_mono_ms();
        park.deadline_ms = park.parked_ms + wait;
        memcpy(park.ident, ident, ident_len);
        park.ident_len = ident_len;
        util_strlcpy(park.user_id, user_id, sizeof park.user_id);
        park.data = malloc(len ? len : 1);
        if (park.data && (s->nheld < s->capheld ||
                          (s->held = realloc(s->held, (s->capheld = s->capheld ? s->capheld * 2 : 16) *
                                                          sizeof *s->held)))) {
            memcpy(park.data, data, len);
            park.len = len;
            s->held[s->nheld++] = park;
        } else {
            free(park.data);
            log_error("out of memory parking a request; the client will retry");
        }
        rc = 0;
    }
done:
    drover__client_request__free_unpacked(in, NULL);
    return rc;
}

/* Answers parked requests whose run/task changed or whose time is up. */
static int s_wake_held(server_t *s)
{
    int64_t now = util_mono_ms();
    for (size_t i = 0; i < s->nheld;) {
        held_t *h = &s->held[i];
        int wake = now >= h->deadline_ms;
        if (!wake && h->run_id) {
            /* A busy run changes every iteration; a status reply costs a
             * query over all its steps, so watchers get at most one reply
             * per HOLD_MIN_MS unless the run has ended. */
            run_t *r = model_run(s->model, h->run_id);
            wake = !r || (r->version != h->version && now - h->parked_ms >= HOLD_MIN_MS);
        }
        if (!wake && h->task_id) {
            task_t *t = model_task(s->model, h->task_id);
            wake = !t || t->logseq != h->logseq;
        }
        if (!wake) {
            i++;
            continue;
        }
        held_t copy = *h;
        s->held[i] = s->held[--s->nheld];
        int rc = s_on_client(s, copy.ident, copy.ident_len, copy.user_id, copy.data, copy.len, 0);
        free(copy.data);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void s_drop_held(server_t *s)
{
    for (size_t i = 0; i < s->nheld; i++)
        free(s->held[i].data);
    s->nheld = 0;
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
    model_sink_t sink = {s, s_sink_assign, s_sink_kill, registry_is_inline, s_sink_run_inline,
                         s_sink_prepare, s_sink_outputs};
    s->model = s->st ? model_new(s->st, &cfg->coord, sink) : NULL;
    s->zctx = zmq_ctx_new();
    s->auth = auth_new(!cfg->coord.insecure, cfg->coord.client_rate);
    s->cal = s->model ? calendar_new(s->st, s->model) : NULL;
    if (!s->model || !s->zctx || !s->auth || !s->cal || !s->leader) {
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
    s_discard_outbox(s);
    s_drop_held(s);
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
    calendar_destroy(&s->cal);
    keys_wipe(&s->key);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    if (s->sigfd >= 0)
        close(s->sigfd);
    free(s);
    *sp = NULL;
}

/* Reads pending signals; sets stop on SIGTERM/SIGINT. */
static void s_read_signals(server_t *s)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            log_info("signal %u: stopping", si.ssi_signo);
            s->stop = 1;
        }
}

/* Waits up to ms for a signal. */
static void s_wait_signal(server_t *s, int ms)
{
    struct pollfd p = {.fd = s->sigfd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0)
        s_read_signals(s);
}

/* Loads the key allow-list and makes sure the configured admin keys are on
 * it. A bad admin key file is fatal (stop set). */
static int s_auth_load(server_t *s)
{
    if (!auth_secure(s->auth))
        return 0;
    if (auth_load(s->auth, s->st) < 0)
        return -1;
    char err[1200];
    int rc = auth_bootstrap(s->auth, s->st, (char (*)[1024])s->cfg->coord.admin_keys,
                            s->cfg->coord.nadmin_keys, err, sizeof err);
    if (rc == 1) {
        log_error("coordinator.admin_keys: %s", err);
        s->stop = 1;
        return -1;
    }
    if (rc < 0 || store_commit(s->st) < 0)
        return -1;
    return 0;
}

/* Connects, migrates, becomes the active coordinator and loads state.
 * Returns 0, 1 when stopping, -1 on a fatal error. */
static int s_attach(server_t *s)
{
    int announced = 0;
    for (;;) {
        if (db_connect_retry(s->db, &s->stop) < 0)
            return 1;
        if (migrate_apply(s->db) < 0) {
            if (!db_ok(s->db)) {
                s_wait_signal(s, 500);
                if (s->stop)
                    return 1;
                continue;
            }
            return -1;
        }
        if (store_prepare(s->st) < 0 || leader_prepare(s->leader) < 0) {
            log_error("database: %s", db_error(s->db));
            if (!db_ok(s->db))
                continue;
            return -1;
        }
        for (;;) {
            /* The leader lease (leader.h), not an advisory lock: a paused
             * leader keeps its session, and with it any lock. */
            int got = leader_acquire(s->leader);
            if (got == 2)
                return -1; /* fenced: exit, writing nothing */
            if (got < 0)
                break;
            if (got == 1) {
                if (announced)
                    log_info("the other coordinator is gone: taking over");
                if (model_load(s->model) < 0 || s_auth_load(s) < 0 || calendar_load(s->cal) < 0) {
                    if (model_clear(s->model) < 0)
                        return -1;
                    if (s->stop)
                        return -1;
                    break;
                }
                return 0;
            }
            announced = 1;
            s_wait_signal(s, 200);
            if (s->stop)
                return 1;
        }
        if (!db_ok(s->db))
            continue;
        return -1;
    }
}

/* After a database error: forget everything, reconnect and reload. */
static int s_reset(server_t *s)
{
    if (leader_is_fenced_error(db_error(s->db))) {
        log_error("fenced (%s): another coordinator took over; exiting without writing anything "
                  "more", db_error(s->db));
        return -1;
    }
    log_error("database error (%s): discarding this iteration and reloading state",
              db_error(s->db));
    s_discard_outbox(s);
    s_drop_held(s);
    store_discard(s->st);
    db_rollback(s->db);
    if (!db_ok(s->db) && s->csock) {
        /* Serving already: keep answering clients from what memory holds
         * (reloaded when the database is back). */
        db_disconnect(s->db);
        return s_outage_begin(s);
    }
    if (model_clear(s->model) < 0) {
        log_error("out of memory rebuilding state: exiting (a restart loses nothing)");
        return -1;
    }
    if (db_ok(s->db)) {
        if (model_load(s->model) == 0 && s_auth_load(s) == 0 && calendar_load(s->cal) == 0)
            return 0;
        if (model_clear(s->model) < 0)
            return -1;
    }
    db_disconnect(s->db);
    return s_attach(s);
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
        curve_ok = zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) == 0 &&
                   zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->key.secret_z85, KEYS_Z85_LEN + 1) == 0;
    if (!curve_ok || wire_socket_setup(sock, s->cfg->coord.max_message) < 0 ||
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
        s_wait_signal(s, 200);
        if (s->stop)
            return 1;
    }
}

/* Drains one socket. Returns -1 on a database error. */
static int s_drain(server_t *s, void *sock, int which)
{
    for (int i = 0; i < DRAIN_MAX; i++) {
        wire_msg_t m;
        int r = wire_recv(sock, 1, &m);
        if (r == 0)
            return 0;
        if (r < 0) {
            log_error("receive failed: %s", zmq_strerror(errno));
            return 0;
        }
        if (r == 2) {
            s_count_drop(s, "a message with a bad frame layout");
            continue;
        }
        int rc = which == SOCK_WORKER ? s_on_worker(s, &m)
                                      : s_on_client(s, m.ident, m.ident_len, m.user_id, m.data,
                                                    m.len, 1);
        wire_msg_clear(&m);
        if (rc < 0)
            return -1;
    }
    return 0;
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
        if (!s_local_endpoint(cc->client_endpoint) || !s_local_endpoint(cc->worker_endpoint)) {
            log_error("refusing to listen on a non-loopback endpoint without CURVE (insecure = true): "
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
    int a = s_attach(s);
    if (a != 0)
        return a > 0 ? 0 : -1;
    int b = s_bind_all(s);
    if (b != 0)
        return b > 0 ? 0 : -1;
    log_info("serving clients on %s, workers on %s (%s)", s->cfg->coord.client_endpoint,
             s->cfg->coord.worker_endpoint,
             auth_secure(s->auth) ? "CURVE, allow-listed keys only" : "INSECURE");
    int64_t last_tick = 0;
    while (!s->stop) {
        if (s->db_down_us) {
            int r = s_outage_step(s);
            if (r != 0)
                return r > 0 ? 0 : -1;
            continue;
        }
        zmq_pollitem_t items[4] = {
            {s->wsock, 0, ZMQ_POLLIN, 0},
            {s->csock, 0, ZMQ_POLLIN, 0},
            {NULL, s->sigfd, ZMQ_POLLIN, 0},
            {s->zap, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, s->zap ? 4 : 3, TICK_MS) < 0 && errno != EINTR) {
            log_error("zmq_poll: %s", zmq_strerror(errno));
            return -1;
        }
        if (items[2].revents & ZMQ_POLLIN)
            s_read_signals(s);
        if (s->zap && (items[3].revents & ZMQ_POLLIN))
            auth_zap(s->auth, s->zap);
        int bad = s_drain(s, s->wsock, SOCK_WORKER) < 0 || s_drain(s, s->csock, SOCK_CLIENT) < 0;
        int64_t now = util_mono_ms();
        if (!bad && now - last_tick >= TICK_MS) {
            last_tick = now;
            bad = model_tick(s->model, now) < 0 || calendar_tick(s->cal) < 0;
        }
        if (!bad)
            bad = model_dispatch(s->model) < 0;
        if (!bad && store_commit(s->st) < 0)
            bad = 1;
        if (!bad) {
            s_flush(s);
            model_after_commit(s->model);
            bad = s_wake_held(s) < 0;
            if (!bad) {
                /* Replies to woken requests are reads: send them now. */
                if (db_in_tx(s->db) || store_pending(s->st))
                    bad = store_commit(s->st) < 0;
                s_flush(s);
            }
        }
        if (!bad && !db_in_tx(s->db)) {
            int l = leader_tick(s->leader, util_mono_ms());
            if (l == 2)
                return -1; /* fenced */
            bad = l < 0;
        }
        if (bad) {
            int r = s_reset(s);
            if (r != 0)
                return r > 0 ? 0 : -1;
        }
    }
    if (store_commit(s->st) == 0)
        s_flush(s);
    log_info("stopped");
    return 0;
}
