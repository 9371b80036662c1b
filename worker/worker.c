/* worker — session with the coordinator, lease bookkeeping, the event loop.
 *
 * The session/lease protocol, as the worker plays it:
 *
 *   - A session starts with Register{name, host, slots, labels, kinds, held,
 *     pid, session}, re-sent every second until a RegisterReply arrives.
 *     `session` is random per process: a reconnect of this process keeps
 *     the name; another process under the same name is refused while this
 *     one lives (RegisterReply.retry_ms: it waits and tries again). `held` lists
 *     every lease (task id, attempt) this worker still holds: children still
 *     running and results not yet acknowledged. A refusal (e.g. protocol
 *     version mismatch) ends the worker with exit status 2. An acceptance
 *     sets the heartbeat interval and lists in `drop` the held leases the
 *     coordinator no longer wants: their children are killed and their
 *     results discarded without reporting anything. Every other unacked
 *     Result is then sent again.
 *   - While registered: Heartbeat{running leases, seq} every heartbeat_ms,
 *     answered with HeartbeatAck{seq}. After a silence of stale_after_ms
 *     (RegisterReply) the worker starts no Assign until a heartbeat sent
 *     since is acknowledged (see "Stale assignments" below). A
 *     Reregister (the coordinator lost the session, e.g. it restarted) starts
 *     registration over; leases and children are kept.
 *   - Assign{lease, ...} starts a child (an Assign for a lease already held,
 *     or one of the last 256 forgotten, is a re-delivery and is ignored),
 *     answered with Started{lease, pid} or, if the child could not start,
 *     straight with Result SPAWN_FAILED.
 *     Output travels as LogChunk{lease, stream, offset, data}; every chunk of
 *     an attempt is sent before its Result. What the child writes on its
 *     fd 3 channel travels as Metric{lease, seq, json} at once (held back,
 *     like logs, while unregistered), and its last {"output": ...} rides on
 *     the Result as outputs_json (so a resent Result carries it too).
 *   - Register.kinds lists exec, plus validate/train/evaluate when
 *     drover-task was found next to drover-worker (worker_opts_t.task_bin).
 *   - Result{lease, outcome, ...} is kept until ResultAck{lease} arrives and
 *     re-sent every 2 s and after every accepted RegisterReply, so a result
 *     survives a lost message, a reconnect or a coordinator restart. Logs
 *     and results wait while the worker is not registered; after each
 *     accepted RegisterReply the newest output of every held attempt (up
 *     to TASK_TAIL_MAX per stream) is sent again, since a coordinator that
 *     lost the session may have lost it too.
 *   - Kill{lease} stops a running child (SIGTERM to its process group,
 *     SIGKILL after kill_grace); its result is reported as KILLED. Kill,
 *     ResultAck or drop for a lease the worker does not hold is ignored.
 *   - The lease (task id + attempt) is the fencing token: the coordinator
 *     rejects anything for an attempt it has moved on from; the worker just
 *     reports what it holds.
 *
 * Shutdown (SIGTERM/SIGINT) drains: Draining{drain_ms} tells the
 * coordinator at once (and again after every RegisterReply) to assign
 * nothing more here; prefetched assignments, and any Assign that still
 * arrives, go straight back as Result NOT_ATTEMPTED; running children may
 * finish for drain_ms (worker.drain, default 30 s); what still runs then
 * gets SIGTERM (SIGKILL after kill_grace) and is handed back as
 * NOT_ATTEMPTED too, which the coordinator requeues without counting a
 * failure or a loss. The worker waits up to 2 s for the acks, then exits
 * 0. A second signal SIGKILLs the children at once.
 *
 * Security: with keys the socket is a CurveZMQ client (RFC 26). A
 * coordinator whose ZAP handler refuses the key closes the connection
 * during the handshake, which the protocol above cannot see (Register just
 * goes unanswered); a socket monitor reports those handshake failures so
 * the log says why the worker does not register (once a minute at most).
 * The worker keeps trying: the key may be allowed any moment.
 *
 * Invariants: an entry is removed only when its result was acknowledged, or
 * it was dropped (silent) and has finished; a silent entry never sends
 * anything; the loop never blocks anywhere but zmq_poll.
 */
#include "worker.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "contain.h"
#include "log.h"
#include "sdnotify.h"
#include "wobserve.h"
#include "task.h"
#include "xfer.h"
#include "util.h"
#include "wire.h"
#include "wirecheck.h"

#define REGISTER_RETRY_MS    1000
#define RESULT_RESEND_MS     2000
#define SHUTDOWN_ACK_WAIT_MS 2000
#define DEFAULT_HEARTBEAT_MS 1000
/* Leases remembered after they were forgotten, so a late duplicate Assign
 * cannot run an attempt twice. */
#define RECENT_LEASES 256

typedef enum {
    SESSION_REGISTERING, /* Register sent, no RegisterReply yet */
    SESSION_REGISTERED,  /* accepted; heartbeating */
} session_state_t;

/* Publishing a succeeded attempt's declared outputs (xfer.h). */
typedef enum {
    PUB_NONE,    /* nothing declared, or the attempt did not succeed */
    PUB_WANTED,  /* declared: queued once the attempt finished with exit 0 */
    PUB_RUNNING, /* with the transfer thread; the Result waits */
    PUB_DONE,    /* pub holds the artifacts (or the error) for the Result */
} pub_state_t;

typedef struct {
    task_t *task;
    int silent; /* dropped by the coordinator: report nothing */
    int finish_logged;
    int64_t result_sent_ms; /* 0 = not sent since the last (re)registration */
    pub_state_t pub_state;
    char *outputs;    /* the spec's "outputs" (JSON array) while PUB_WANTED/RUNNING */
    char *dir;        /* the step's work folder */
    xfer_done_t *pub; /* PUB_DONE */
} entry_t;

/* What a poll item beyond the first two stands for. */
typedef struct {
    task_t *task;
    int stream;
} item_ref_t;

typedef struct {
    uint64_t task_id;
    uint32_t attempt;
    uint8_t *assign; /* packed Drover__Assign */
    size_t len;
} queued_t;

struct worker {
    wobserve_t *obs; /* metrics and /readyz (wobserve.h) */
    int64_t next_publish_ms;
    char *endpoint;
    char *name;
    char *host;
    char **labels;
    int nlabels;
    char reserve_for[64];
    char advertise_addr[254];
    uint32_t gang_port_lo, gang_port_hi;
    int slots;
    int prefetch;
    uint64_t memory_bytes; /* offered to tasks; 0 = unknown */
    uint32_t gpus;         /* offered to tasks, indices 0..gpus-1 */
    int64_t kill_grace_ms;
    contain_t *contain;
    int64_t drain_ms;
    char *work_dir;
    char *task_bin; /* "" = no built-in kinds */
    char *artifact_dir;
    uint32_t version;

    void *ctx;
    void *sock;
    void *monitor; /* PAIR: handshake events of sock; NULL without CURVE */
    char *key_name;
    int64_t next_auth_log_ms;
    uint64_t auth_failures;
    int sigfd;

    session_state_t state;
    int64_t next_register_ms;
    int registers_sent; /* in this registration round */
    uint64_t session;   /* random per process (Register.session) */
    int run_as;         /* tasks run as run_uid/run_gid */
    uid_t run_uid;
    gid_t run_gid;
    int64_t next_busy_log_ms;
    int64_t heartbeat_ms;
    int64_t next_heartbeat_ms;
    uint64_t hb_seq;        /* of the last heartbeat sent */
    int64_t stale_after_ms; /* RegisterReply.stale_after_ms: 0 = no guard */
    int64_t last_heard_ms;  /* the last message from the coordinator */
    int unconfirmed;        /* heard nothing for stale_after_ms: start nothing */
    uint64_t confirm_seq;   /* ... until a HeartbeatAck of this seq or later */
    int64_t watchdog_ms;    /* systemd's watchdog: ping this often (0 = none) */
    int64_t next_watchdog_ms;

    entry_t *tasks;
    size_t ntasks, tasks_cap;

    /* Prefetched assignments waiting for a free slot, packed, in order. */
    queued_t *queue;
    size_t nqueue, queue_cap;

    /* Assignments whose inputs the transfer thread is staging, packed. */
    xfer_t *xfer;
    queued_t *staging;
    size_t nstaging, staging_cap;

    zmq_pollitem_t *items;
    item_ref_t *refs;
    size_t items_cap;

    Drover__Lease recent[RECENT_LEASES]; /* ring of forgotten leases */
    size_t nrecent, recent_next;

    uint64_t bad_msgs;
    int stopping;
    int64_t drain_deadline_ms; /* stopping: running tasks are handed back then; 0 = done */
    int64_t idle_exit_ms;      /* worker.idle_exit: 0 = never */
    int64_t idle_since_ms;     /* registered with nothing to do since; 0 = busy */
    int64_t ack_deadline_ms;   /* 0 until every child has finished */
    int done;
    int exit_code;
};

/* ------------------------------------------------------------ helpers --- */

static entry_t *s_find(worker_t *w, uint64_t id, uint32_t attempt)
{
    for (size_t i = 0; i < w->ntasks; i++)
        if (task_id(w->tasks[i].task) == id && task_attempt(w->tasks[i].task) == attempt)
            return &w->tasks[i];
    return NULL;
}

static int s_recent(const worker_t *w, uint64_t id, uint32_t attempt)
{
    for (size_t i = 0; i < w->nrecent; i++)
        if (w->recent[i].task_id == id && w->recent[i].attempt == attempt)
            return 1;
    return 0;
}

/* Removes and frees tasks[i]; the last entry takes its place. */
static void s_remove(worker_t *w, size_t i)
{
    Drover__Lease *r = &w->recent[w->recent_next];
    r->task_id = task_id(w->tasks[i].task);
    r->attempt = task_attempt(w->tasks[i].task);
    w->recent_next = (w->recent_next + 1) % RECENT_LEASES;
    if (w->nrecent < RECENT_LEASES)
        w->nrecent++;
    entry_t *e = &w->tasks[i];
    if (e->pub_state == PUB_RUNNING)
        xfer_cancel(w->xfer, r->task_id, r->attempt);
    task_destroy(&e->task);
    free(e->outputs);
    free(e->dir);
    xfer_done_free(&e->pub);
    w->tasks[i] = w->tasks[w->ntasks - 1];
    w->ntasks--;
}

/* Index of an assignment being staged, or -1. */
static long s_staging(const worker_t *w, uint64_t id, uint32_t attempt)
{
    for (size_t i = 0; i < w->nstaging; i++)
        if (w->staging[i].task_id == id && w->staging[i].attempt == attempt)
            return (long)i;
    return -1;
}

static void s_unstage_at(worker_t *w, size_t i)
{
    xfer_cancel(w->xfer, w->staging[i].task_id, w->staging[i].attempt);
    free(w->staging[i].assign);
    w->staging[i] = w->staging[--w->nstaging];
}

static int s_send(worker_t *w, Drover__WorkerMsg *m)
{
    m->version = w->version;
    if (wire_send(w->sock, NULL, 0, &m->base) == 0)
        return 0;
    if (errno == EAGAIN)
        log_debug("send queue to the coordinator is full; message not sent");
    else
        log_warn("cannot send to the coordinator: %s", zmq_strerror(errno));
    return -1;
}

/* Collects the leases of non-silent entries (running ones only, or all).
 * Returns 0 with *arr and *ptrs malloc'd (caller frees both), or -1. */
static int s_leases(worker_t *w, int include_finished, Drover__Lease **arr, Drover__Lease ***ptrs,
                    size_t *n)
{
    *arr = calloc(w->ntasks + w->nqueue + w->nstaging + 1, sizeof **arr);
    *ptrs = calloc(w->ntasks + w->nqueue + w->nstaging + 1, sizeof **ptrs);
    *n = 0;
    if (!*arr || !*ptrs) {
        free(*arr);
        free(*ptrs);
        *arr = NULL;
        *ptrs = NULL;
        log_error("out of memory building a lease list");
        return -1;
    }
    for (size_t i = 0; i < w->ntasks; i++) {
        entry_t *e = &w->tasks[i];
        if (e->silent || (!include_finished && task_phase(e->task) == TASK_FINISHED))
            continue;
        Drover__Lease init = DROVER__LEASE__INIT;
        (*arr)[*n] = init;
        (*arr)[*n].task_id = task_id(e->task);
        (*arr)[*n].attempt = task_attempt(e->task);
        (*ptrs)[*n] = &(*arr)[*n];
        (*n)++;
    }
    /* Queued assignments are held too: the coordinator placed them here. */
    for (size_t i = 0; i < w->nqueue + w->nstaging; i++) {
        const queued_t *q = i < w->nqueue ? &w->queue[i] : &w->staging[i - w->nqueue];
        Drover__Lease init = DROVER__LEASE__INIT;
        (*arr)[*n] = init;
        (*arr)[*n].task_id = q->task_id;
        (*arr)[*n].attempt = q->attempt;
        (*ptrs)[*n] = &(*arr)[*n];
        (*n)++;
    }
    return 0;
}

/* Index of a queued assignment, or -1. */
static long s_queued(const worker_t *w, uint64_t id, uint32_t attempt)
{
    for (size_t i = 0; i < w->nqueue; i++)
        if (w->queue[i].task_id == id && w->queue[i].attempt == attempt)
            return (long)i;
    return -1;
}

static void s_dequeue_at(worker_t *w, size_t i)
{
    free(w->queue[i].assign);
    memmove(&w->queue[i], &w->queue[i + 1], (w->nqueue - i - 1) * sizeof *w->queue);
    w->nqueue--;
}

/* ---------------------------------------------------------- sending --- */

static void s_send_register(worker_t *w, int64_t now)
{
    Drover__Lease *arr, **ptrs;
    size_t n;
    w->next_register_ms = now + REGISTER_RETRY_MS;
    if (w->registers_sent == 1)
        log_info("waiting for the coordinator at %s", w->endpoint);
    w->registers_sent++;
    if (s_leases(w, 1, &arr, &ptrs, &n) < 0)
        return;
    static char *kinds[] = {"exec", "noop", "validate", "train", "evaluate", "score"};
    Drover__Register reg = DROVER__REGISTER__INIT;
    reg.name = w->name;
    reg.host = w->host;
    reg.slots = (uint32_t)w->slots;
    reg.labels = w->labels;
    reg.n_labels = (size_t)w->nlabels;
    reg.reserve_for = w->reserve_for;
    reg.advertise_addr = w->advertise_addr;
    reg.gang_port_lo = w->gang_port_lo;
    reg.gang_port_hi = w->gang_port_hi;
    reg.kinds = kinds;
    reg.n_kinds = w->task_bin[0] ? sizeof kinds / sizeof kinds[0] : 2;
    reg.prefetch = (uint32_t)w->prefetch;
    reg.held = ptrs;
    reg.n_held = n;
    reg.pid = (uint32_t)getpid();
    reg.memory_bytes = w->memory_bytes;
    reg.gpus = w->gpus;
    reg.session = w->session;
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.body_case = DROVER__WORKER_MSG__BODY_REGISTER;
    m.register_ = &reg;
    s_send(w, &m);
    free(arr);
    free(ptrs);
}

static void s_send_heartbeat(worker_t *w, int64_t now)
{
    Drover__Lease *arr, **ptrs;
    size_t n;
    w->next_heartbeat_ms = now + w->heartbeat_ms;
    if (s_leases(w, 0, &arr, &ptrs, &n) < 0)
        return;
    Drover__Heartbeat hb = DROVER__HEARTBEAT__INIT;
    hb.running = ptrs;
    hb.n_running = n;
    hb.seq = ++w->hb_seq;
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.body_case = DROVER__WORKER_MSG__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    s_send(w, &m);
    free(arr);
    free(ptrs);
}

static void s_send_draining(worker_t *w)
{
    Drover__Draining d = DROVER__DRAINING__INIT;
    d.drain_ms = w->drain_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)w->drain_ms;
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.body_case = DROVER__WORKER_MSG__BODY_DRAINING;
    m.draining = &d;
    s_send(w, &m);
}

static void s_send_started(worker_t *w, task_t *t)
{
    Drover__Lease lease = DROVER__LEASE__INIT;
    lease.task_id = task_id(t);
    lease.attempt = task_attempt(t);
    Drover__Started st = DROVER__STARTED__INIT;
    st.lease = &lease;
    st.pid = (uint32_t)task_pid(t);
    st.started_at_us = task_started_at_us(t);
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.body_case = DROVER__WORKER_MSG__BODY_STARTED;
    m.started = &st;
    s_send(w, &m);
}

/* Sends the queued metrics in order. Returns 1 when one is still waiting
 * afterwards (send queue full), else 0. */
static int s_send_metrics(worker_t *w, task_t *t)
{
    uint32_t seq;
    const char *json;
    while ((json = task_metric(t, &seq))) {
        Drover__Lease lease = DROVER__LEASE__INIT;
        lease.task_id = task_id(t);
        lease.attempt = task_attempt(t);
        Drover__Metric mt = DROVER__METRIC__INIT;
        mt.lease = &lease;
        mt.seq = seq;
        mt.json = (char *)json;
        Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
        m.body_case = DROVER__WORKER_MSG__BODY_METRIC;
        m.metric = &mt;
        if (s_send(w, &m) < 0 && errno == EAGAIN)
            return 1;
        task_metric_done(t); /* sent, or unsendable for good: do not spin on it */
    }
    return 0;
}

/* Sends len bytes of t's stream at off as one LogChunk: s_send's answer. */
static int s_send_log(worker_t *w, task_t *t, int stream, uint64_t off, const uint8_t *data,
                      size_t len)
{
    Drover__Lease lease = DROVER__LEASE__INIT;
    lease.task_id = task_id(t);
    lease.attempt = task_attempt(t);
    Drover__LogChunk lc = DROVER__LOG_CHUNK__INIT;
    lc.lease = &lease;
    lc.stream = (uint32_t)stream;
    lc.offset = off;
    lc.data.data = (uint8_t *)data;
    lc.data.len = len;
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.body_case = DROVER__WORKER_MSG__BODY_LOG;
    m.log = &lc;
    return s_send(w, &m);
}

/* After a new registration: output handed over lately goes out again.
 * A coordinator that lost this worker's session (it restarted) dropped
 * what arrived before the worker registered anew, and a chunk sent just
 * before it died may never have been stored; the coordinator keeps only
 * what it had not stored, and a reader is told of any bytes still
 * missing. Sent before the results (s_flush), like all output. */
static void s_resend_tails(worker_t *w)
{
    for (size_t i = 0; i < w->ntasks; i++) {
        entry_t *e = &w->tasks[i];
        if (e->silent)
            continue;
        for (int stream = TASK_STREAM_STDOUT; stream <= TASK_STREAM_STDERR; stream++) {
            const uint8_t *seg[2];
            size_t len[2];
            uint64_t off = task_sent_tail(e->task, stream, seg, len);
            int sent = 0;
            for (int k = 0; k < 2; k++)
                for (size_t at = 0; sent == 0 && at < len[k]; at += TASK_CHUNK_MAX) {
                    size_t n = len[k] - at < TASK_CHUNK_MAX ? len[k] - at : TASK_CHUNK_MAX;
                    sent = s_send_log(w, e->task, stream, off, seg[k] + at, n);
                    off += n;
                }
        }
    }
}

/* Sends the waiting chunk of each stream. Returns 1 when a chunk is still
 * waiting afterwards (queue full), else 0. */
static int s_send_chunks(worker_t *w, task_t *t)
{
    int waiting = 0;
    for (int stream = TASK_STREAM_STDOUT; stream <= TASK_STREAM_STDERR; stream++) {
        size_t len;
        uint64_t off;
        const uint8_t *data = task_chunk(t, stream, &len, &off);
        if (!data)
            continue;
        if (s_send_log(w, t, stream, off, data, len) == 0 || errno != EAGAIN)
            task_chunk_done(t, stream); /* sent, or unsendable for good: do not spin on it */
        else
            waiting = 1;
    }
    return waiting;
}

static void s_send_result(worker_t *w, entry_t *e, int64_t now)
{
    Drover__Result r = DROVER__RESULT__INIT;
    Drover__Lease lease = DROVER__LEASE__INIT;
    task_result(e->task, &r, &lease);
    if (e->pub_state == PUB_DONE && e->pub) {
        if (e->pub->status == XFER_OK) {
            r.artifacts = e->pub->arts;
            r.n_artifacts = e->pub->narts;
        } else {
            /* No artifacts: the coordinator fails the attempt with this. */
            r.error = e->pub->error;
        }
    }
    if (!e->result_sent_ms) /* the first time, not the resends */
        wobserve_finished(w->obs, &r);
    Drover__WorkerMsg m = DROVER__WORKER_MSG__INIT;
    m.body_case = DROVER__WORKER_MSG__BODY_RESULT;
    m.result = &r;
    s_send(w, &m);
    e->result_sent_ms = now; /* even on failure: the resend timer retries */
}

/* ---------------------------------------------------------- receiving --- */

static void s_on_register_reply(worker_t *w, const Drover__RegisterReply *rr, int64_t now)
{
    if (!rr->accepted && rr->retry_ms && !w->stopping) {
        /* Refused for now (our name is held by another live session): not
         * an error in this worker's setup, so it waits and tries again
         * rather than exiting. Logged once a minute at most. */
        if (now >= w->next_busy_log_ms) {
            log_warn(
                "the coordinator refused this worker for now: %s; registering again every %u ms",
                rr->reason && rr->reason[0] ? rr->reason : "no reason given", rr->retry_ms);
            w->next_busy_log_ms = now + 60000;
        }
        w->next_register_ms = now + (rr->retry_ms > 60000 ? 60000 : rr->retry_ms);
        w->registers_sent = 0;
        return;
    }
    if (!rr->accepted) {
        log_error("the coordinator refused this worker: %s",
                  rr->reason && rr->reason[0] ? rr->reason : "no reason given");
        w->exit_code = 2;
        w->done = 1;
        return;
    }
    if (w->state == SESSION_REGISTERING) {
        log_info("registered with %s as %s (%d slots, %u GPUs, %llu MiB for tasks)", w->endpoint,
                 w->name, w->slots, w->gpus, (unsigned long long)(w->memory_bytes >> 20));
        /* systemd (Type=notify): serving once the coordinator took us. */
        if (sdnotify_send("READY=1\nSTATUS=registered") < 0)
            log_warn("cannot notify systemd: %s", strerror(errno));
    }
    w->state = SESSION_REGISTERED;
    w->registers_sent = 0;
    w->stale_after_ms = rr->stale_after_ms;
    w->last_heard_ms = now;
    if (w->unconfirmed)
        log_info("registered again: taking assignments");
    w->unconfirmed = 0; /* a fresh session: what it no longer wants, drop lists */
    w->heartbeat_ms = rr->heartbeat_ms > 0 ? rr->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    w->next_heartbeat_ms = now + w->heartbeat_ms;

    for (size_t i = 0; i < rr->n_drop; i++) {
        const Drover__Lease *l = rr->drop[i];
        long q = l ? s_queued(w, l->task_id, l->attempt) : -1;
        if (q >= 0) {
            log_info("task %llu attempt %u: the coordinator no longer wants it; dropped before "
                     "it started",
                     (unsigned long long)l->task_id, l->attempt);
            s_dequeue_at(w, (size_t)q);
            continue;
        }
        q = l ? s_staging(w, l->task_id, l->attempt) : -1;
        if (q >= 0) {
            s_unstage_at(w, (size_t)q);
            continue;
        }
        entry_t *e = l ? s_find(w, l->task_id, l->attempt) : NULL;
        if (!e || e->silent)
            continue;
        e->silent = 1;
        if (task_phase(e->task) == TASK_FINISHED) {
            log_info("task %llu attempt %u: the coordinator no longer wants its result; "
                     "discarding it",
                     (unsigned long long)l->task_id, l->attempt);
        } else {
            log_info("task %llu attempt %u: the coordinator no longer wants it; killing it",
                     (unsigned long long)l->task_id, l->attempt);
            task_kill(e->task, DROVER__OUTCOME__OUTCOME_KILLED, now);
        }
    }
    s_resend_tails(w);
    /* Every unacknowledged result goes out again right away (s_flush). */
    for (size_t i = 0; i < w->ntasks; i++)
        w->tasks[i].result_sent_ms = 0;
    if (w->stopping)
        s_send_draining(w); /* a new session must not get work either */
}

/* Appends a finished NOT_ATTEMPTED entry for an assignment a stopping
 * worker will not run: its result goes back like any other. */
static void s_not_started(worker_t *w, uint64_t id, uint32_t attempt, Drover__Outcome outcome,
                          const char *why, int64_t now);

/* why: "the worker is stopping", ... */
static void s_hand_back(worker_t *w, uint64_t id, uint32_t attempt, int64_t now, const char *why)
{
    s_not_started(w, id, attempt, DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED, why, now);
}

/* Appends a finished entry for an attempt that never ran. */
static void s_not_started(worker_t *w, uint64_t id, uint32_t attempt, Drover__Outcome outcome,
                          const char *why, int64_t now)
{
    if (w->ntasks == w->tasks_cap) {
        size_t cap = w->tasks_cap ? w->tasks_cap * 2 : 8;
        entry_t *nt = realloc(w->tasks, cap * sizeof *nt);
        if (!nt) {
            log_error("out of memory handing back task %llu", (unsigned long long)id);
            return;
        }
        w->tasks = nt;
        w->tasks_cap = cap;
    }
    task_t *t = task_not_started(id, attempt, outcome, why, now);
    if (!t) {
        log_error("out of memory handing back task %llu", (unsigned long long)id);
        return;
    }
    entry_t *e = &w->tasks[w->ntasks++];
    memset(e, 0, sizeof *e);
    e->task = t;
    e->finish_logged = 1;
    log_info("task %llu attempt %u %s: %s", (unsigned long long)id, attempt,
             outcome == DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED ? "handed back" : "not started",
             why);
}

/* The step's work folder: its spec's cwd, else the worker's work_dir,
 * else the worker's own cwd. */
static int s_step_dir(const worker_t *w, json_t *spec, char *out, size_t len)
{
    const char *cwd = json_string_value(json_object_get(spec, "cwd"));
    const char *dir = cwd && cwd[0] ? cwd : w->work_dir;
    if (dir[0] == '/')
        return util_strlcpy(out, dir, len);
    char here[4096];
    if (!getcwd(here, sizeof here))
        return -1;
    if (!dir[0])
        return util_strlcpy(out, here, len);
    return snprintf(out, len, "%s/%s", here, dir) < (int)len ? 0 : -1;
}

/* An Assign with inputs goes to the transfer thread first; it starts
 * (s_on_staged) once they are in the step's work folder. Returns 1 when
 * taken for staging, 0 when it can start now. */
static int s_maybe_stage(worker_t *w, const Drover__Assign *a, json_t *spec, const char *dir,
                         int64_t now)
{
    json_t *staged = json_object_get(spec, "staged");
    if (!json_is_object(staged))
        return 0;
    uint64_t id = a->lease->task_id;
    uint32_t attempt = a->lease->attempt;
    char *text = json_dumps(staged, JSON_COMPACT);
    if (w->nstaging == w->staging_cap) {
        size_t cap = w->staging_cap ? w->staging_cap * 2 : 8;
        queued_t *nq = realloc(w->staging, cap * sizeof *nq);
        if (nq) {
            w->staging = nq;
            w->staging_cap = cap;
        }
    }
    queued_t *q = w->nstaging < w->staging_cap ? &w->staging[w->nstaging] : NULL;
    if (q) {
        q->len = drover__assign__get_packed_size(a);
        q->assign = malloc(q->len ? q->len : 1);
    }
    if (!text || !q || !q->assign || xfer_stage(w->xfer, id, attempt, dir, text) < 0) {
        free(text);
        if (q)
            free(q->assign);
        s_not_started(w, id, attempt, DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED,
                      "out of memory staging its inputs", now);
        return 1;
    }
    free(text);
    drover__assign__pack(a, q->assign);
    q->task_id = id;
    q->attempt = attempt;
    w->nstaging++;
    log_info("task %llu attempt %u (run %llu step %s): staging %zu input%s into %s",
             (unsigned long long)id, attempt, (unsigned long long)a->run_id, a->step,
             json_object_size(staged), json_object_size(staged) == 1 ? "" : "s", dir);
    return 1;
}

/* Hands back every prefetched assignment. */
static void s_hand_back_queue(worker_t *w, int64_t now, const char *why)
{
    while (w->nqueue > 0) {
        uint64_t id = w->queue[0].task_id;
        uint32_t attempt = w->queue[0].attempt;
        s_dequeue_at(w, 0);
        s_hand_back(w, id, attempt, now, why);
    }
}

/* Stale assignments. A step is run again elsewhere once its worker has
 * been silent for worker_timeout; an Assign the coordinator sent before
 * that, held up in a stalled connection (a partition, this process
 * paused), may arrive after the step's success was recorded — starting it
 * then would run the step again after its success. So a worker that heard
 * nothing from the coordinator for stale_after_ms (half worker_timeout;
 * heartbeats are acknowledged, so a live link is never that quiet) starts
 * nothing — what it is assigned waits in the queue — until the coordinator
 * acknowledges a heartbeat sent since: an ack means the session, and with
 * it every lease, is still the coordinator's. A Reregister instead means
 * the session is gone: the queue is part of Register.held, and the
 * RegisterReply drops what has moved on. A silence of the coordinator's
 * own (busy, paused) costs one round trip. */
static void s_send_heartbeat(worker_t *w, int64_t now);

static void s_unconfirm(worker_t *w, int64_t now)
{
    w->unconfirmed = 1;
    w->confirm_seq = w->hb_seq + 1;
    log_warn("no word from the coordinator for %lld ms (a partition or a pause?): starting "
             "nothing until it answers again",
             (long long)(now - w->last_heard_ms));
    s_send_heartbeat(w, now);
}

/* 1 when this worker must not start what it was assigned (see above). */
static int s_stale_guard(worker_t *w, int64_t now)
{
    if (w->stale_after_ms <= 0 || w->state != SESSION_REGISTERED)
        return w->unconfirmed;
    if (!w->unconfirmed && now - w->last_heard_ms > w->stale_after_ms)
        s_unconfirm(w, now);
    return w->unconfirmed;
}

static void s_on_assign(worker_t *w, const Drover__Assign *a, int64_t now, int from_queue)
{
    if (!a->lease) {
        w->bad_msgs++;
        log_warn("dropped an Assign without a lease (%llu bad messages so far)",
                 (unsigned long long)w->bad_msgs);
        return;
    }
    uint64_t id = a->lease->task_id;
    uint32_t attempt = a->lease->attempt;
    if (!from_queue && (s_queued(w, id, attempt) >= 0 || s_staging(w, id, attempt) >= 0))
        return;
    if (s_find(w, id, attempt) || s_recent(w, id, attempt)) {
        log_debug("task %llu attempt %u assigned again; already held", (unsigned long long)id,
                  attempt);
        return;
    }
    if (w->stopping) {
        s_hand_back(w, id, attempt, now, "the worker is stopping");
        return;
    }
    int held = !from_queue && s_stale_guard(w, now); /* queued until confirmed */
    size_t active = w->nstaging;
    for (size_t i = 0; i < w->ntasks; i++)
        if (!w->tasks[i].silent && task_phase(w->tasks[i].task) != TASK_FINISHED)
            active++;
    int noop = a->kind && strcmp(a->kind, "noop") == 0;
    if ((active >= (size_t)w->slots && !noop && from_queue != 2) || held) {
        if (w->nqueue < (size_t)w->prefetch || from_queue || held) {
            /* Prefetched: it starts when a slot frees (s_start_queued). */
            if (from_queue)
                return; /* cannot happen: dequeued only with a free slot */
            if (w->nqueue == w->queue_cap) {
                size_t cap = w->queue_cap ? w->queue_cap * 2 : 8;
                queued_t *nq = realloc(w->queue, cap * sizeof *nq);
                if (!nq) {
                    log_error("out of memory queueing task %llu", (unsigned long long)id);
                    return;
                }
                w->queue = nq;
                w->queue_cap = cap;
            }
            queued_t *q = &w->queue[w->nqueue];
            q->len = drover__assign__get_packed_size(a);
            q->assign = malloc(q->len ? q->len : 1);
            if (!q->assign) {
                log_error("out of memory queueing task %llu", (unsigned long long)id);
                return;
            }
            drover__assign__pack(a, q->assign);
            q->task_id = id;
            q->attempt = attempt;
            w->nqueue++;
            return;
        }
        log_warn("task %llu attempt %u assigned while all %d slots (and %d prefetch) are busy; "
                 "running it anyway",
                 (unsigned long long)id, attempt, w->slots, w->prefetch);
    }

    if (w->ntasks == w->tasks_cap) {
        size_t cap = w->tasks_cap ? w->tasks_cap * 2 : 8;
        entry_t *nt = realloc(w->tasks, cap * sizeof *nt);
        if (!nt) {
            log_error("out of memory: cannot take task %llu attempt %u", (unsigned long long)id,
                      attempt);
            return;
        }
        w->tasks = nt;
        w->tasks_cap = cap;
    }
    /* The GPUs the coordinator assigned, and only those ("" = none). An
     * index is at most 10 digits plus a comma. */
    char cuda[64 * 11 + 1] = "";
    for (size_t g = 0, o = 0; g < a->n_gpus && o + 12 < sizeof cuda; g++)
        o += (size_t)snprintf(cuda + o, sizeof cuda - o, "%s%u", g ? "," : "", a->gpus[g]);
    task_spec_t spec = {
        .task_id = id,
        .attempt = attempt,
        .run_id = a->run_id,
        .step = a->step,
        .kind = a->kind,
        .spec_json = a->spec_json,
        .timeout_ms = a->timeout_ms,
        .default_cwd = w->work_dir,
        .kill_grace_ms = w->kill_grace_ms,
        .task_bin = w->task_bin,
        .artifact_dir = w->artifact_dir,
        .cuda_visible_devices = cuda,
        .run_as = w->run_as,
        .run_uid = w->run_uid,
        .run_gid = w->run_gid,
        .contain = w->contain,
        .memory_bytes = a->memory_bytes,
        .cpus = a->cpus,
        .gang_env = a->gang_env,
        .ngang_env = a->n_gang_env,
        .gang_hostfile = a->gang_hostfile,
    };
    /* Artifacts (exec steps): inputs are staged before the start, declared
     * outputs published after a success (xfer.h). */
    json_t *js = NULL;
    char dir[4096] = "";
    if (a->kind && strcmp(a->kind, "exec") == 0 && a->spec_json &&
        (strstr(a->spec_json, "\"staged\"") || strstr(a->spec_json, "\"outputs\""))) {
        js = json_loads(a->spec_json, 0, NULL);
        if (js && s_step_dir(w, js, dir, sizeof dir) < 0) {
            json_decref(js);
            s_not_started(w, id, attempt, DROVER__OUTCOME__OUTCOME_SPAWN_FAILED,
                          "cannot resolve the step's work folder for its artifacts", now);
            return;
        }
        if (js && from_queue != 2 && s_maybe_stage(w, a, js, dir, now)) {
            json_decref(js);
            return;
        }
    }
    task_t *t = task_start(&spec, now);
    if (!t) {
        json_decref(js);
        log_error("out of memory: cannot take task %llu attempt %u", (unsigned long long)id,
                  attempt);
        return;
    }
    entry_t *e = &w->tasks[w->ntasks++];
    memset(e, 0, sizeof *e);
    e->task = t;
    json_t *outs = js ? json_object_get(js, "outputs") : NULL;
    if (json_is_array(outs)) {
        e->outputs = json_dumps(outs, JSON_COMPACT);
        e->dir = strdup(dir);
        /* Without them the Result cannot carry the artifacts: the
         * coordinator then fails the attempt, which is the right answer. */
        e->pub_state = e->outputs && e->dir ? PUB_WANTED : PUB_NONE;
    }
    json_decref(js);
    if (strcmp(a->kind, "noop") == 0) {
        log_debug("task %llu attempt %u (run %llu step %s): noop done", (unsigned long long)id,
                  attempt, (unsigned long long)a->run_id, a->step);
        e->finish_logged = 1;
    } else if (task_phase(t) == TASK_RUNNING) {
        log_info("task %llu attempt %u (run %llu step %s) started, pid %d", (unsigned long long)id,
                 attempt, (unsigned long long)a->run_id, a->step, (int)task_pid(t));
        s_send_started(w, t);
    } else {
        char desc[1200];
        task_describe(t, desc, sizeof desc);
        log_warn("task %llu attempt %u (run %llu step %s) could not start: %s",
                 (unsigned long long)id, attempt, (unsigned long long)a->run_id, a->step, desc);
        e->finish_logged = 1;
    }
}

static void s_start_queued(worker_t *w, int64_t now);

static void s_on_kill(worker_t *w, const Drover__Kill *k, int64_t now)
{
    long q = k->lease ? s_queued(w, k->lease->task_id, k->lease->attempt) : -1;
    if (q >= 0) {
        /* Never started: start and kill it, so it reports KILLED like any. */
        Drover__Assign *a = drover__assign__unpack(NULL, w->queue[q].len, w->queue[q].assign);
        s_dequeue_at(w, (size_t)q);
        if (a) {
            int saved = w->slots;
            w->slots = INT32_MAX; /* bypass the queue for this one */
            s_on_assign(w, a, now, 1);
            w->slots = saved;
            drover__assign__free_unpacked(a, NULL);
        }
    }
    long st = k->lease ? s_staging(w, k->lease->task_id, k->lease->attempt) : -1;
    if (st >= 0) {
        s_unstage_at(w, (size_t)st);
        s_not_started(w, k->lease->task_id, k->lease->attempt, DROVER__OUTCOME__OUTCOME_KILLED,
                      "killed while its inputs were being staged", now);
        return;
    }
    entry_t *e = k->lease ? s_find(w, k->lease->task_id, k->lease->attempt) : NULL;
    if (!e || e->silent) {
        log_debug("Kill for a lease this worker does not hold; ignored");
        return;
    }
    if (task_kill(e->task, DROVER__OUTCOME__OUTCOME_KILLED, now))
        log_info("killing task %llu attempt %u at the coordinator's request",
                 (unsigned long long)task_id(e->task), task_attempt(e->task));
}

static void s_on_result_ack(worker_t *w, const Drover__ResultAck *ack)
{
    if (!ack->lease)
        return;
    for (size_t i = 0; i < w->ntasks; i++) {
        task_t *t = w->tasks[i].task;
        if (task_id(t) == ack->lease->task_id && task_attempt(t) == ack->lease->attempt) {
            /* An ack can only follow a sent result, i.e. a finished task. */
            if (task_phase(t) == TASK_FINISHED && !w->tasks[i].silent) {
                log_debug("result of task %llu attempt %u acknowledged",
                          (unsigned long long)ack->lease->task_id, ack->lease->attempt);
                s_remove(w, i);
            }
            return;
        }
    }
}

static void s_on_message(worker_t *w, const uint8_t *data, size_t len, int64_t now)
{
    Drover__CoordMsg *m = drover__coord_msg__unpack(NULL, len, data);
    if (!m) {
        w->bad_msgs++;
        log_warn("dropped a malformed message from the coordinator (%llu bad messages so far)",
                 (unsigned long long)w->bad_msgs);
        return;
    }
    if (m->version != w->version) {
        w->bad_msgs++;
        log_warn("dropped a message with protocol version %u from the coordinator; this worker "
                 "speaks version %u (%llu bad messages so far)",
                 m->version, w->version, (unsigned long long)w->bad_msgs);
        /* A refusal is still honoured: it is how a coordinator of another
         * version tells us to stop, and retrying forever would hide that. */
        if (m->body_case == DROVER__COORD_MSG__BODY_REGISTER_REPLY && m->register_reply &&
            !m->register_reply->accepted)
            s_on_register_reply(w, m->register_reply, now);
        goto out;
    }
    /* The decode-and-validate path the fuzzers drive (common/wirecheck.c). */
    char why[200];
    if (wirecheck_validate_coord_msg(m, why, sizeof why) < 0) {
        w->bad_msgs++;
        log_warn("dropped an invalid message from the coordinator: %s (%llu bad messages so far)",
                 why, (unsigned long long)w->bad_msgs);
        goto out;
    }
    wire_sanitize(&m->base);
    (void)s_stale_guard(w, now); /* a silence ends here: judge it before the message */
    w->last_heard_ms = now;
    switch (m->body_case) {
    case DROVER__COORD_MSG__BODY_HEARTBEAT_ACK:
        if (w->unconfirmed && m->heartbeat_ack->seq >= w->confirm_seq) {
            w->unconfirmed = 0;
            log_info("the coordinator answers again: taking assignments");
        }
        break;
    case DROVER__COORD_MSG__BODY_REGISTER_REPLY:
        s_on_register_reply(w, m->register_reply, now);
        break;
    case DROVER__COORD_MSG__BODY_ASSIGN: s_on_assign(w, m->assign, now, 0); break;
    case DROVER__COORD_MSG__BODY_KILL: s_on_kill(w, m->kill, now); break;
    case DROVER__COORD_MSG__BODY_RESULT_ACK: s_on_result_ack(w, m->result_ack); break;
    case DROVER__COORD_MSG__BODY_REREGISTER:
        /* Already registering: the 1 s retry covers it, and answering each
         * Reregister at once could echo into a storm. */
        if (w->state == SESSION_REGISTERED) {
            log_info("the coordinator does not know this worker's session (did it restart?); "
                     "registering again");
            w->state = SESSION_REGISTERING;
            w->registers_sent = 0;
            w->next_register_ms = now;
        }
        break;
    default:
        w->bad_msgs++;
        log_warn("dropped a message of unknown type from the coordinator (%llu bad messages "
                 "so far)",
                 (unsigned long long)w->bad_msgs);
        break;
    }
out:
    drover__coord_msg__free_unpacked(m, NULL);
}

static int s_recv_all(worker_t *w, int64_t now)
{
    while (!w->done) {
        wire_msg_t msg;
        int rc = wire_recv(w->sock, 0, &msg);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            log_error("cannot receive from the coordinator: %s", zmq_strerror(errno));
            return -1;
        }
        if (rc == 2) {
            w->bad_msgs++;
            log_warn("dropped a multi-frame message from the coordinator (%llu bad messages so "
                     "far)",
                     (unsigned long long)w->bad_msgs);
            continue;
        }
        s_on_message(w, msg.data, msg.len, now);
        wire_msg_clear(&msg);
    }
    return 0;
}

/* ------------------------------------------------------ signals, children --- */

static void s_reap(worker_t *w, int64_t now)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        for (size_t i = 0; i < w->ntasks; i++) {
            task_t *t = w->tasks[i].task;
            if (task_pid(t) == pid && task_phase(t) == TASK_RUNNING) {
                task_reaped(t, status, now);
                break;
            }
        }
    }
}

static void s_begin_stop(worker_t *w, int signo, int64_t now)
{
    if (w->stopping) {
        log_warn("%s again: killing every task now", strsignal(signo));
        for (size_t i = 0; i < w->ntasks; i++) {
            task_kill(w->tasks[i].task, DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED, now);
            task_kill_now(w->tasks[i].task, now);
        }
        return;
    }
    w->stopping = 1;
    if (w->state == SESSION_REGISTERED)
        s_send_draining(w);
    size_t queued = w->nqueue + w->nstaging;
    s_hand_back_queue(w, now, "the worker is stopping");
    while (w->nstaging > 0) {
        uint64_t id = w->staging[0].task_id;
        uint32_t att = w->staging[0].attempt;
        s_unstage_at(w, 0);
        s_hand_back(w, id, att, now, "the worker is stopping");
    }
    size_t n = 0;
    for (size_t i = 0; i < w->ntasks; i++)
        n += task_phase(w->tasks[i].task) == TASK_RUNNING;
    w->drain_deadline_ms = now + w->drain_ms;
    char d[32];
    util_format_duration(w->drain_ms, d, sizeof d);
    log_info("%s: draining: no new work; %zu running task%s may finish within %s, %zu queued "
             "handed back",
             strsignal(signo), n, n == 1 ? "" : "s", d, queued);
}

/* The drain time is over: what still runs is stopped and handed back. */
static void s_drain_over(worker_t *w, int64_t now)
{
    if (!w->stopping || w->drain_deadline_ms == 0 || now < w->drain_deadline_ms)
        return;
    w->drain_deadline_ms = 0;
    size_t n = 0;
    for (size_t i = 0; i < w->ntasks; i++)
        n += (size_t)task_kill(w->tasks[i].task, DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED, now);
    if (n)
        log_info("drain time over: stopping %zu task%s and handing %s back", n, n == 1 ? "" : "s",
                 n == 1 ? "it" : "them");
}

static int s_read_signals(worker_t *w, int64_t now)
{
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(w->sigfd, &si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n != (ssize_t)sizeof si) {
            log_error("reading the signalfd: %s", n < 0 ? strerror(errno) : "short read");
            return -1;
        }
        switch (si.ssi_signo) {
        case SIGCHLD: s_reap(w, now); break;
        case SIGTERM:
        case SIGINT: s_begin_stop(w, (int)si.ssi_signo, now); break;
        case SIGHUP:
            log_info("SIGHUP ignored: the worker has nothing to reload; restart it to apply "
                     "new settings");
            break;
        default: break;
        }
    }
}

/* ------------------------------------------------------------ the loop --- */

/* Timers: registration retry, heartbeat, task timeouts and kill escalation. */
static void s_timers(worker_t *w, int64_t now)
{
    if (w->state == SESSION_REGISTERING && now >= w->next_register_ms)
        s_send_register(w, now);
    if (w->state == SESSION_REGISTERED && now >= w->next_heartbeat_ms)
        s_send_heartbeat(w, now);
    s_drain_over(w, now);
    for (size_t i = 0; i < w->ntasks; i++)
        task_tick(w->tasks[i].task, now);
    /* worker.idle_exit: a worker in a batch allocation gives it back once
     * there is nothing to do (the same drain as SIGTERM). */
    if (w->idle_exit_ms > 0 && !w->stopping && w->state == SESSION_REGISTERED) {
        if (w->ntasks || w->nqueue || w->nstaging) {
            w->idle_since_ms = 0;
        } else if (!w->idle_since_ms) {
            w->idle_since_ms = now;
        } else if (now - w->idle_since_ms >= w->idle_exit_ms) {
            char d[32];
            util_format_duration(now - w->idle_since_ms, d, sizeof d);
            log_info("idle for %s (worker.idle_exit): leaving", d);
            s_begin_stop(w, SIGTERM, now);
        }
    }
    if (w->watchdog_ms && now >= w->next_watchdog_ms) {
        w->next_watchdog_ms = now + w->watchdog_ms;
        (void)sdnotify_send("WATCHDOG=1"); /* a missed ping is what the watchdog is for */
    }
    if (now >= w->next_publish_ms) {
        w->next_publish_ms = now + 1000;
        size_t running = 0;
        for (size_t i = 0; i < w->ntasks; i++)
            running += task_phase(w->tasks[i].task) != TASK_FINISHED;
        wobserve_state(w->obs, w->state == SESSION_REGISTERED, w->slots, running);
    }
}

/* Sends what is due: log chunks, first results and resends. Forgets silent
 * tasks once they are finished. Returns 1 when a chunk is still waiting
 * for room in the send queue. */
static int s_flush(worker_t *w, int64_t now)
{
    int waiting = 0;
    size_t i = 0;
    while (i < w->ntasks) {
        entry_t *e = &w->tasks[i];
        task_t *t = e->task;
        int finished = task_phase(t) == TASK_FINISHED;
        if (e->silent) {
            size_t len;
            uint64_t off;
            for (int s = TASK_STREAM_STDOUT; s <= TASK_STREAM_STDERR; s++)
                if (task_chunk(t, s, &len, &off))
                    task_chunk_done(t, s);
            uint32_t seq;
            while (task_metric(t, &seq))
                task_metric_done(t);
            if (finished) {
                log_debug("forgot dropped task %llu attempt %u", (unsigned long long)task_id(t),
                          task_attempt(t));
                s_remove(w, i);
                continue;
            }
            i++;
            continue;
        }
        if (finished && !e->finish_logged) {
            char desc[1200];
            task_describe(t, desc, sizeof desc);
            log_info("task %llu attempt %u finished: %s", (unsigned long long)task_id(t),
                     task_attempt(t), desc);
            e->finish_logged = 1;
        }
        if (finished && e->pub_state == PUB_WANTED) {
            Drover__Result r = DROVER__RESULT__INIT;
            Drover__Lease l = DROVER__LEASE__INIT;
            task_result(t, &r, &l);
            if (r.outcome == DROVER__OUTCOME__OUTCOME_EXITED && r.exit_code == 0 &&
                xfer_publish(w->xfer, task_id(t), task_attempt(t), e->dir, e->outputs) == 0)
                e->pub_state = PUB_RUNNING;
            else
                e->pub_state = PUB_NONE; /* failed (or stopping): nothing to publish */
        }
        int publishing = e->pub_state == PUB_RUNNING;
        if (w->state == SESSION_REGISTERED) {
            int w8 = s_send_metrics(w, t);
            w8 |= s_send_chunks(w, t);
            waiting |= w8;
            /* The result goes only after every chunk before it, and after
             * the outputs are in the coordinator's store. */
            if (finished && !w8 && !publishing &&
                (e->result_sent_ms == 0 || now - e->result_sent_ms >= RESULT_RESEND_MS))
                s_send_result(w, e, now);
        }
        i++;
    }
    return waiting;
}

static int64_t s_next_deadline(const worker_t *w)
{
    int64_t d = w->state == SESSION_REGISTERING ? w->next_register_ms : w->next_heartbeat_ms;
    if (w->watchdog_ms && w->next_watchdog_ms < d)
        d = w->next_watchdog_ms;
    if (w->next_publish_ms < d) /* metrics: at most a second old */
        d = w->next_publish_ms;
    for (size_t i = 0; i < w->ntasks; i++) {
        const entry_t *e = &w->tasks[i];
        int64_t td = task_next_deadline(e->task);
        if (td < d)
            d = td;
        if (w->state == SESSION_REGISTERED && !e->silent && task_phase(e->task) == TASK_FINISHED &&
            e->result_sent_ms > 0 && e->result_sent_ms + RESULT_RESEND_MS < d)
            d = e->result_sent_ms + RESULT_RESEND_MS;
    }
    if (w->ack_deadline_ms > 0 && w->ack_deadline_ms < d)
        d = w->ack_deadline_ms;
    if (w->drain_deadline_ms > 0 && w->drain_deadline_ms < d)
        d = w->drain_deadline_ms;
    return d;
}

/* During shutdown: done once every child finished and every result was
 * acknowledged, or the ack wait ran out. */
static void s_check_stop(worker_t *w, int64_t now)
{
    if (!w->stopping || w->done)
        return;
    size_t unacked = 0;
    for (size_t i = 0; i < w->ntasks; i++) {
        if (task_phase(w->tasks[i].task) != TASK_FINISHED)
            return;
        if (!w->tasks[i].silent)
            unacked++;
    }
    if (w->ack_deadline_ms == 0)
        w->ack_deadline_ms = now + SHUTDOWN_ACK_WAIT_MS;
    if (unacked == 0) {
        log_info("every task stopped and reported; exiting");
        w->done = 1;
    } else if (now >= w->ack_deadline_ms) {
        log_warn("exiting with %zu result%s not acknowledged by the coordinator", unacked,
                 unacked == 1 ? "" : "s");
        w->done = 1;
    }
}

static int s_build_items(worker_t *w, int want_out, size_t *nitems)
{
    size_t need = 3 + 3 * w->ntasks;
    if (need > w->items_cap) {
        zmq_pollitem_t *ni = realloc(w->items, need * sizeof *ni);
        if (!ni)
            return -1;
        w->items = ni;
        item_ref_t *nr = realloc(w->refs, need * sizeof *nr);
        if (!nr)
            return -1;
        w->refs = nr;
        w->items_cap = need;
    }
    size_t n = 0;
    w->items[n++] =
        (zmq_pollitem_t){w->sock, 0, (short)(ZMQ_POLLIN | (want_out ? ZMQ_POLLOUT : 0)), 0};
    w->items[n++] = (zmq_pollitem_t){NULL, w->sigfd, ZMQ_POLLIN, 0};
    for (size_t i = 0; i < w->ntasks; i++) {
        for (int s = TASK_STREAM_STDOUT; s <= TASK_STREAM_STDERR; s++) {
            int fd = task_poll_fd(w->tasks[i].task, s);
            if (fd < 0)
                continue;
            w->refs[n] = (item_ref_t){w->tasks[i].task, s};
            w->items[n++] = (zmq_pollitem_t){NULL, fd, ZMQ_POLLIN, 0};
        }
        int fd = task_output_fd(w->tasks[i].task);
        if (fd >= 0) {
            w->refs[n] = (item_ref_t){w->tasks[i].task, 0}; /* 0 = the fd 3 channel */
            w->items[n++] = (zmq_pollitem_t){NULL, fd, ZMQ_POLLIN, 0};
        }
    }
    w->refs[n] = (item_ref_t){NULL, -1}; /* the transfer thread's wake-up pipe */
    w->items[n++] = (zmq_pollitem_t){NULL, xfer_fd(w->xfer), ZMQ_POLLIN, 0};
    *nitems = n;
    return 0;
}

/* A staging or publishing job of the transfer thread finished. */
static void s_on_xfer(worker_t *w, int64_t now)
{
    xfer_done_t *d;
    while ((d = xfer_done(w->xfer))) {
        if (!d->publish) {
            long i = s_staging(w, d->task_id, d->attempt);
            if (i < 0) { /* killed or dropped meanwhile */
                xfer_done_free(&d);
                continue;
            }
            queued_t q = w->staging[i];
            w->staging[i] = w->staging[--w->nstaging];
            if (d->status == XFER_OK) {
                Drover__Assign *a = drover__assign__unpack(NULL, q.len, q.assign);
                if (a) {
                    s_on_assign(w, a, now, 2);
                    drover__assign__free_unpacked(a, NULL);
                } else {
                    s_not_started(w, q.task_id, q.attempt, DROVER__OUTCOME__OUTCOME_SPAWN_FAILED,
                                  "the staged assignment no longer unpacks", now);
                }
            } else {
                /* The step never ran: an infrastructure failure goes back to
                 * the queue uncounted; a refusal or bad bytes fail it. */
                log_warn("task %llu attempt %u: %s", (unsigned long long)q.task_id, q.attempt,
                         d->error);
                s_not_started(w, q.task_id, q.attempt,
                              d->status == XFER_UNAVAILABLE ? DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED
                                                            : DROVER__OUTCOME__OUTCOME_SPAWN_FAILED,
                              d->error, now);
            }
            free(q.assign);
            xfer_done_free(&d);
            continue;
        }
        entry_t *e = s_find(w, d->task_id, d->attempt);
        if (!e || e->pub_state != PUB_RUNNING) {
            xfer_done_free(&d);
            continue;
        }
        if (d->status == XFER_UNAVAILABLE && !w->stopping && w->state != SESSION_REGISTERED) {
            /* The coordinator is away: the Result waits for it anyway; try
             * again. (With the coordinator there but its artifact service
             * silent, the attempt fails with the reason instead of waiting
             * forever.) */
            log_warn("task %llu attempt %u: %s; publishing again", (unsigned long long)d->task_id,
                     d->attempt, d->error);
            if (xfer_publish(w->xfer, d->task_id, d->attempt, e->dir, e->outputs) == 0) {
                xfer_done_free(&d);
                continue;
            }
        }
        if (d->status != XFER_OK)
            log_warn("task %llu attempt %u: its outputs cannot be published: %s",
                     (unsigned long long)d->task_id, d->attempt, d->error);
        e->pub = d;
        e->pub_state = PUB_DONE;
        e->result_sent_ms = 0;
    }
}

/* Starts prefetched assignments while slots are free. */
static void s_start_queued(worker_t *w, int64_t now)
{
    if (w->nqueue > 0 && s_stale_guard(w, now))
        return; /* handed back */
    while (w->nqueue > 0 && !w->stopping) {
        size_t active = 0;
        for (size_t i = 0; i < w->ntasks; i++)
            if (!w->tasks[i].silent && task_phase(w->tasks[i].task) != TASK_FINISHED)
                active++;
        if (active >= (size_t)w->slots)
            return;
        Drover__Assign *a = drover__assign__unpack(NULL, w->queue[0].len, w->queue[0].assign);
        s_dequeue_at(w, 0);
        if (!a) {
            log_error("a queued assignment no longer unpacks; dropped");
            continue;
        }
        s_on_assign(w, a, now, 1);
        drover__assign__free_unpacked(a, NULL);
    }
}

/* Reads the waiting socket-monitor events (never blocks) and says why a
 * CURVE handshake failed, at most once a minute. */
static void s_check_monitor(worker_t *w, int64_t now)
{
    if (!w->monitor)
        return;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, w->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        /* The second frame (the endpoint) always follows the first. */
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, w->monitor, 0);
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (char *)zmq_msg_data(&ev) + 2, 4);
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            w->auth_failures = 0;
            w->next_auth_log_ms = 0;
            continue;
        }
        w->auth_failures++;
        if (now < w->next_auth_log_ms)
            continue;
        w->next_auth_log_ms = now + 60000;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            log_error("the coordinator at %s refused this worker's key '%s' (ZAP status %u): allow "
                      "it on the coordinator with `drover keys allow worker FILE.pub` (a revoked "
                      "key needs a new key pair); retrying",
                      w->endpoint, w->key_name, value);
        else
            log_error("the CURVE handshake with the coordinator at %s failed (%s): is "
                      "worker.coordinator_key the coordinator's public key, and does the "
                      "coordinator use CURVE (not insecure = true)? retrying",
                      w->endpoint,
                      event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error"
                                                                   : "connection closed");
    }
}

int worker_run(worker_t *w)
{
    w->state = SESSION_REGISTERING;
    w->next_register_ms = util_mono_ms();
    if (getrandom(&w->session, sizeof w->session, 0) != (ssize_t)sizeof w->session || !w->session)
        w->session = ((uint64_t)getpid() << 32) ^ (uint64_t)util_now_us() ^ 1u;
    while (!w->done) {
        int64_t now = util_mono_ms();
        s_timers(w, now);
        s_start_queued(w, now);
        int waiting = s_flush(w, now);
        s_check_stop(w, now);
        if (w->done)
            break;

        size_t n;
        if (s_build_items(w, waiting, &n) < 0) {
            log_error("out of memory in the event loop");
            w->exit_code = 1;
            break;
        }
        int64_t d = s_next_deadline(w) - util_mono_ms();
        long timeout = d < 0 ? 0 : d > 60000 ? 60000 : (long)d;
        if (zmq_poll(w->items, (int)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_error("zmq_poll: %s", zmq_strerror(errno));
            w->exit_code = 1;
            break;
        }
        now = util_mono_ms();
        s_check_monitor(w, now);
        /* Pipes first: the refs point at tasks that socket messages (acks,
         * drops) may free. */
        int xfer_ready = 0;
        for (size_t i = 2; i < n; i++) {
            if (!w->items[i].revents)
                continue;
            if (w->refs[i].stream < 0)
                xfer_ready = 1;
            else if (w->refs[i].stream == 0)
                task_read_output(w->refs[i].task);
            else
                task_read(w->refs[i].task, w->refs[i].stream);
        }
        if (xfer_ready)
            s_on_xfer(w, now);
        if ((w->items[1].revents & ZMQ_POLLIN) && s_read_signals(w, now) < 0) {
            w->exit_code = 1;
            break;
        }
        if ((w->items[0].revents & ZMQ_POLLIN) && s_recv_all(w, now) < 0) {
            w->exit_code = 1;
            break;
        }
    }
    return w->exit_code;
}

/* ----------------------------------------------------------- lifecycle --- */

worker_t *worker_new(const worker_opts_t *opts, char *err, size_t errlen)
{
    worker_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->sigfd = -1;
    w->slots = opts->slots;
    w->prefetch = opts->prefetch;
    w->memory_bytes = opts->memory_bytes;
    w->gpus = opts->gpus;
    w->run_as = opts->run_as;
    w->run_uid = opts->run_uid;
    w->run_gid = opts->run_gid;
    w->kill_grace_ms = opts->kill_grace_ms;
    w->drain_ms = opts->drain_ms;
    w->idle_exit_ms = opts->idle_exit_ms;
    w->version = opts->protocol_version;
    w->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    w->watchdog_ms = sdnotify_watchdog_ms();
    w->endpoint = strdup(opts->endpoint);
    w->name = strdup(opts->name);
    w->key_name = strdup(opts->key_name ? opts->key_name : "");
    w->host = strdup(opts->host);
    w->work_dir = strdup(opts->work_dir ? opts->work_dir : "");
    w->task_bin = strdup(opts->task_bin ? opts->task_bin : "");
    w->artifact_dir = strdup(opts->artifact_dir ? opts->artifact_dir : "");
    w->labels = calloc((size_t)opts->nlabels + 1, sizeof *w->labels);
    util_strlcpy(w->reserve_for, opts->reserve_for ? opts->reserve_for : "", sizeof w->reserve_for);
    util_strlcpy(w->advertise_addr, opts->advertise_addr ? opts->advertise_addr : "",
                 sizeof w->advertise_addr);
    w->gang_port_lo = opts->gang_port_lo;
    w->gang_port_hi = opts->gang_port_hi;
    if (!w->endpoint || !w->name || !w->key_name || !w->host || !w->work_dir || !w->task_bin ||
        !w->artifact_dir || !w->labels)
        goto nomem;
    for (int i = 0; i < opts->nlabels; i++) {
        if (!(w->labels[i] = strdup(opts->labels[i])))
            goto nomem;
        w->nlabels = i + 1;
    }

    /* Blocked before the ZeroMQ context starts its threads, so they inherit
     * the mask and no signal is ever delivered anywhere but the signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* A closed stderr pipe must cost log lines, not the worker. Children
     * reset every disposition before exec. */
    signal(SIGPIPE, SIG_IGN);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        snprintf(err, errlen, "cannot block signals: %s", strerror(errno));
        goto fail;
    }
    w->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w->sigfd < 0) {
        snprintf(err, errlen, "cannot create a signalfd: %s", strerror(errno));
        goto fail;
    }

    if (!(w->obs = wobserve_new(opts->metrics_listen, err, errlen)))
        goto fail;
    if (!(w->contain = contain_new(opts->cgroup ? opts->cgroup : "",
                                   opts->state_dir ? opts->state_dir : ".", err, errlen)))
        goto fail;

    if (!(w->ctx = zmq_ctx_new())) {
        snprintf(err, errlen, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto fail;
    }
    if (!(w->sock = zmq_socket(w->ctx, ZMQ_DEALER))) {
        snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
        goto fail;
    }
    int ivl = 100, ivl_max = 2000;
    if (wire_socket_setup(w->sock, WIRE_MAX_MSG_DEFAULT) < 0 ||
        zmq_setsockopt(w->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) < 0 ||
        zmq_setsockopt(w->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) < 0) {
        snprintf(err, errlen, "cannot set socket options: %s", zmq_strerror(errno));
        goto fail;
    }
    if (opts->curve_secret) {
        /* Set before connect: they apply to the connection's handshake. */
        if (zmq_setsockopt(w->sock, ZMQ_CURVE_SERVERKEY, opts->curve_server, 41) < 0 ||
            zmq_setsockopt(w->sock, ZMQ_CURVE_PUBLICKEY, opts->curve_public, 41) < 0 ||
            zmq_setsockopt(w->sock, ZMQ_CURVE_SECRETKEY, opts->curve_secret, 41) < 0) {
            snprintf(err, errlen, "cannot set up CURVE: %s (libzmq without CURVE?)",
                     zmq_strerror(errno));
            goto fail;
        }
        /* The monitor must exist before connect to see the first handshake. */
        char mon[64];
        snprintf(mon, sizeof mon, "inproc://drover-worker-monitor-%p", (void *)w);
        int linger = 0;
        if (zmq_socket_monitor(w->sock, mon,
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0 ||
            !(w->monitor = zmq_socket(w->ctx, ZMQ_PAIR)) ||
            zmq_setsockopt(w->monitor, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
            zmq_connect(w->monitor, mon) < 0) {
            snprintf(err, errlen, "cannot monitor the coordinator connection: %s",
                     zmq_strerror(errno));
            goto fail;
        }
    }
    if (zmq_connect(w->sock, w->endpoint) < 0) {
        snprintf(err, errlen, "cannot connect to '%s': %s", w->endpoint, zmq_strerror(errno));
        goto fail;
    }
    xfer_opts_t xo = {
        .zctx = w->ctx,
        .endpoint = opts->artifact_endpoint ? opts->artifact_endpoint : "",
        .root = w->artifact_dir,
        .shared = opts->artifact_shared,
        .worker = w->name,
        .curve_server = opts->curve_secret ? opts->curve_server : NULL,
        .curve_public = opts->curve_secret ? opts->curve_public : NULL,
        .curve_secret = opts->curve_secret,
        .run_as = opts->run_as,
        .run_uid = opts->run_uid,
        .run_gid = opts->run_gid,
    };
    if (!(w->xfer = xfer_new(&xo, err, errlen)))
        goto fail;
    return w;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    worker_destroy(&w);
    return NULL;
}

void worker_destroy(worker_t **wp)
{
    if (!wp || !*wp)
        return;
    worker_t *w = *wp;
    wobserve_destroy(&w->obs);
    xfer_destroy(&w->xfer); /* its socket closes before the context ends */
    for (size_t i = 0; i < w->ntasks; i++) {
        task_destroy(&w->tasks[i].task);
        free(w->tasks[i].outputs);
        free(w->tasks[i].dir);
        xfer_done_free(&w->tasks[i].pub);
    }
    free(w->tasks);
    for (size_t i = 0; i < w->nstaging; i++)
        free(w->staging[i].assign);
    free(w->staging);
    contain_destroy(&w->contain);
    for (size_t i = 0; i < w->nqueue; i++)
        free(w->queue[i].assign);
    free(w->queue);
    free(w->items);
    free(w->refs);
    if (w->monitor)
        zmq_close(w->monitor);
    if (w->sock)
        zmq_close(w->sock);
    if (w->ctx)
        zmq_ctx_term(w->ctx);
    if (w->sigfd >= 0)
        close(w->sigfd);
    if (w->labels)
        for (int i = 0; i < w->nlabels; i++)
            free(w->labels[i]);
    free(w->labels);
    free(w->endpoint);
    free(w->name);
    free(w->key_name);
    free(w->host);
    free(w->work_dir);
    free(w->task_bin);
    free(w->artifact_dir);
    free(w);
    *wp = NULL;
}
