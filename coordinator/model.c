/* model — see model.h.
 *
 * Ownership: the model owns every run_t (and its tasks array), every
 * worker_t, and the strings inside them. Runs that finish are moved to a
 * "finished" list and freed only after the iteration commits, because the
 * server may still format replies about them before then.
 */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>

#include "bytebuf.h"
#include "dag.h"
#include "gang.h"
#include "idmap.h"
#include "log.h"
#include "notify.h"
#include "place.h"
#include "params.h"
#include "stepkind.h"
#include "util.h"
#include "workflow.h"

#define T(x) DROVER__TASK_STATE__TASK_##x

/* Ready tasks wait in buckets: one FIFO per (queue, priority, shape), where
 * the shape is what placement looks at (kind, resources, time limit). Dispatch only
 * ever looks at bucket heads, so it costs O(queues x buckets x workers) per
 * placement, never a scan of the backlog. */
struct bucket {
    int priority;
    uint64_t shape;
    task_t *head, *tail;
    size_t n;
    bucket_t *next; /* in its queue, priority descending */
};

struct mqueue {
    char name[64];
    uint32_t limit;        /* running tasks at once, 0 = unlimited */
    uint32_t time_limit_s; /* planning limit of its steps without a timeout, 0 = the default */
    int paused;
    uint32_t running; /* assigned + running */
    size_t ready;
    bucket_t *buckets;
    int removed; /* `queue rm`: kept (runs may point here) but unknown to submits */
    mqueue_t *next;
};
#define R(x) DROVER__RUN_STATE__RUN_##x

struct model {
    store_t *st;
    const conf_coordinator_t *cfg;
    model_sink_t sink;
    idmap_t *runs;    /* run id -> run_t */
    idmap_t *tasks;   /* task id -> task_t */
    idmap_t *idents;  /* s_ident_key(ROUTER identity) -> connected worker_t */
    mqueue_t *queues; /* every queue seen, in creation order */
    mqueue_t *rr;     /* where the next dispatch round starts (fairness) */
    task_t *retry_head;
    int64_t *await; /* ids of approve tasks awaiting a person (timeouts) */
    size_t nawait, capawait;
    worker_t *workers;
    run_t **finished;
    size_t nfinished, capfinished;
    int64_t last_seen_flush_ms;
    model_stats_t stats;
    uint64_t ready_seq;    /* next task_t.ready_seq */
    int dirty;             /* something placement looks at changed since the last dispatch */
    int64_t dispatched_ms; /* monotonic, the last full dispatch */
    /* Placement's table (place.h), rebuilt for each pick; grown, kept. */
    place_worker_t *pw;
    worker_t **pw_of;
    place_lease_t *pl;
    place_step_t *ps;
    task_t **ps_of;
    place_queue_t *pq;
    mqueue_t **pq_of;
    size_t cap_pw, cap_pw_of, cap_pl, cap_ps, cap_ps_of, cap_pq, cap_pq_of;
    place_table_t tab;
    /* Rank 0 task ids of the gangs of active runs (gone ones are dropped
     * as the dispatch meets them). */
    int64_t *gangs;
    size_t ngangs, capgangs;
};

/* ------------------------------------------------------------ helpers --- */

static int s_terminal(task_state_t s)
{
    return s == T(SUCCEEDED) || s == T(FAILED) || s == T(SKIPPED) || s == T(CANCELLED);
}

/* The transition table of model.h, as data. */
static int s_legal(task_state_t from, task_state_t to)
{
    switch (from) {
    case T(PENDING): return to == T(READY) || to == T(SKIPPED) || to == T(CANCELLED);
    case T(READY): return to == T(ASSIGNED) || to == T(CANCELLED);
    case T(ASSIGNED):
        return to == T(RUNNING) || to == T(SUCCEEDED) || to == T(RETRY_WAIT) || to == T(FAILED) ||
               to == T(READY) || to == T(CANCELLED);
    case T(RUNNING):
        return to == T(SUCCEEDED) || to == T(RETRY_WAIT) || to == T(FAILED) || to == T(READY) ||
               to == T(CANCELLED);
    case T(RETRY_WAIT): return to == T(READY) || to == T(CANCELLED);
    default: return 0;
    }
}

static uint64_t s_shape(const task_t *t)
{
    /* FNV-1a over what placement compares. */
    uint64_t h = 1469598103934665603ull;
#define MIX(p, n)                                                                                  \
    for (size_t i_ = 0; i_ < (n); i_++)                                                            \
        h = (h ^ ((const unsigned char *)(p))[i_]) * 1099511628211ull;
    MIX(t->kind, strlen(t->kind));
    MIX(&t->res.cpus, sizeof t->res.cpus);
    MIX(&t->res.memory, sizeof t->res.memory);
    MIX(&t->res.gpus, sizeof t->res.gpus);
    /* The time limit too: backfill picks steps by it, and only bucket heads
     * are candidates. */
    MIX(&t->timeout_ms, sizeof t->timeout_ms);
    for (int i = 0; i < t->res.nlabels; i++)
        MIX(t->res.labels[i], strlen(t->res.labels[i]) + 1);
#undef MIX
    return h;
}

static mqueue_t *s_queue_get(model_t *m, const char *name)
{
    mqueue_t **pp = &m->queues;
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->name, name) == 0)
            return *pp;
    mqueue_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    util_strlcpy(q->name, name, sizeof q->name);
    *pp = q;
    return q;
}

static void s_unqueue(model_t *m, task_t *t)
{
    if (t->queued == 1) {
        bucket_t *b = t->bucket;
        if (t->qprev)
            t->qprev->qnext = t->qnext;
        else
            b->head = t->qnext;
        if (t->qnext)
            t->qnext->qprev = t->qprev;
        else
            b->tail = t->qprev;
        b->n--;
        t->run->queue->ready--;
        t->bucket = NULL;
    } else if (t->queued == 2) {
        if (t->qprev)
            t->qprev->qnext = t->qnext;
        else
            m->retry_head = t->qnext;
        if (t->qnext)
            t->qnext->qprev = t->qprev;
    }
    t->qnext = t->qprev = NULL;
    t->queued = 0;
}

/* Appends t to its bucket; buckets are created on first use and kept. */
static int s_enqueue_ready(model_t *m, task_t *t)
{
    s_unqueue(m, t);
    if (t->held)
        return 0; /* ready, but placed only once released (model_hold) */
    if (t->gang_n > 1) {
        /* Gang members are placed together by s_gang_dispatch, never as
         * bucket heads. */
        t->ready_seq = ++m->ready_seq;
        t->ready_ms = util_mono_ms();
        m->dirty = 1;
        return 0;
    }
    mqueue_t *q = t->run->queue;
    uint64_t shape = s_shape(t);
    int prio = t->run->priority;
    bucket_t **pp = &q->buckets;
    while (*pp && ((*pp)->priority > prio || ((*pp)->priority == prio && (*pp)->shape != shape)))
        pp = &(*pp)->next;
    bucket_t *b = *pp;
    if (!b || b->priority != prio || b->shape != shape) {
        b = calloc(1, sizeof *b);
        if (!b)
            return -1;
        b->priority = prio;
        b->shape = shape;
        b->next = *pp;
        *pp = b;
    }
    t->qprev = b->tail;
    t->qnext = NULL;
    if (b->tail)
        b->tail->qnext = t;
    else
        b->head = t;
    b->tail = t;
    b->n++;
    q->ready++;
    t->bucket = b;
    t->queued = 1;
    t->ready_seq = ++m->ready_seq;
    t->ready_ms = util_mono_ms();
    m->dirty = 1;
    return 0;
}

static void s_enqueue_retry(model_t *m, task_t *t)
{
    s_unqueue(m, t);
    t->qprev = NULL;
    t->qnext = m->retry_head;
    if (m->retry_head)
        m->retry_head->qprev = t;
    m->retry_head = t;
    t->queued = 2;
}

static int s_save(model_t *m, task_t *t, task_state_t from, const char *detail)
{
    store_task_row_t row = {
        .id = t->id,
        .run_id = t->run->id,
        .state = wire_task_state_name(t->state),
        .attempt = t->attempt,
        .worker = t->worker,
        .failures = t->failures,
        .lost = t->lost,
        .has_exit_code = t->has_exit_code,
        .exit_code = t->exit_code,
        .error = t->error,
        .started_us = t->started_us,
        .finished_us = t->finished_us,
        .not_before_us = t->state == T(RETRY_WAIT) ? t->not_before_us : 0,
        .gang_port = t->state == T(ASSIGNED) || t->state == T(RUNNING) ? t->gang_port : 0,
    };
    char gpus[200] = "";
    if (t->state == T(ASSIGNED) || t->state == T(RUNNING)) {
        size_t o = 0;
        for (int i = 0; i < 64 && o + 4 < sizeof gpus; i++)
            if (t->gpumask & (1ull << i))
                o += (size_t)snprintf(gpus + o, sizeof gpus - o, "%s%d", o ? "," : "", i);
    }
    row.gpus = gpus;
    t->run->version++;
    return store_task_save(m->st, &row, from ? wire_task_state_name(from) : NULL, detail);
}

static int s_await_add(model_t *m, const task_t *t);
static int s_await_tick(model_t *m);
static void s_await_why(const task_t *t, char *msg, size_t msglen);

/* Moves t to state `to`, recording it. Illegal transitions are bugs. */
static int s_set(model_t *m, task_t *t, task_state_t to, const char *detail)
{
    task_state_t from = t->state;
    if (!s_legal(from, to)) {
        log_error("illegal transition of task %lld: %s -> %s", (long long)t->id,
                  wire_task_state_name(from), wire_task_state_name(to));
        DROVER_INVARIANT(0);
    }
    t->state = to;
    /* An approve step waits for a person, not a slot: it never counts
     * against its queue's limit. */
    int was_busy = !t->approval && (from == T(ASSIGNED) || from == T(RUNNING));
    int busy = !t->approval && (to == T(ASSIGNED) || to == T(RUNNING));
    if (t->approval)
        t->run->nawaiting += (to == T(RUNNING)) - (from == T(RUNNING));
    if (busy && !was_busy)
        t->run->queue->running++;
    else if (was_busy && !busy) {
        t->run->queue->running--;
        m->dirty = 1; /* its capacity (and its queue's room) is free again */
    }
    if (to == T(READY)) {
        if (s_enqueue_ready(m, t) < 0)
            return -1;
    } else if (to == T(RETRY_WAIT))
        s_enqueue_retry(m, t);
    else
        s_unqueue(m, t);
    if (s_terminal(to) && !t->finished_us)
        t->finished_us = util_now_us();
    if (to == T(READY))
        t->ready_us = util_now_us();
    if ((unsigned)to < sizeof m->stats.task_to / sizeof m->stats.task_to[0])
        m->stats.task_to[to]++;
    return s_save(m, t, from, detail);
}

static void s_set_error(task_t *t, const char *msg)
{
    free(t->error);
    t->error = msg ? strdup(msg) : NULL; /* ENOMEM only loses the text */
}

static void s_res_free(resources_t *r)
{
    for (int i = 0; i < r->nlabels; i++)
        free(r->labels[i]);
    free(r->labels);
    memset(r, 0, sizeof *r);
}

/* Reads {"cpus":N,"memory":B,"gpus":N,"labels":[...]} (as stored). */
static int s_res_from_json(json_t *o, resources_t *r)
{
    memset(r, 0, sizeof *r);
    json_int_t cpus = json_integer_value(json_object_get(o, "cpus"));
    r->cpus = cpus > 0 && cpus <= 4096 ? (uint32_t)cpus : 1;
    json_int_t mem = json_integer_value(json_object_get(o, "memory"));
    r->memory = mem > 0 ? (uint64_t)mem : 0;
    json_int_t g = json_integer_value(json_object_get(o, "gpus"));
    r->gpus = g > 0 && g <= 64 ? (uint32_t)g : 0;
    json_t *labels = json_object_get(o, "labels");
    size_t n = json_is_array(labels) ? json_array_size(labels) : 0;
    if (n > 32)
        n = 32;
    if (n) {
        r->labels = calloc(n, sizeof *r->labels);
        if (!r->labels)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const char *v = json_string_value(json_array_get(labels, i));
            if (!v)
                continue;
            if (!(r->labels[r->nlabels] = strdup(v)))
                return -1;
            r->nlabels++;
        }
    }
    return 0;
}

/* The same from a submitted step's Resources (what s_task_json would
 * store and s_res_from_json read back), without the JSON round trip. */
static int s_res_from_pb(const Drover__Resources *res, resources_t *r)
{
    memset(r, 0, sizeof *r);
    r->cpus = 1;
    if (!res)
        return 0;
    r->cpus = res->cpus > 0 && res->cpus <= 4096 ? res->cpus : 1;
    r->memory = res->memory_bytes <= (uint64_t)INT64_MAX ? res->memory_bytes : 0; /* as stored */
    r->gpus = res->gpus <= 64 ? res->gpus : 0;
    size_t n = res->n_labels > 32 ? 32 : res->n_labels;
    if (n && !(r->labels = calloc(n, sizeof *r->labels)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!res->labels[i])
            continue;
        if (!(r->labels[r->nlabels] = strdup(res->labels[i])))
            return -1;
        r->nlabels++;
    }
    return 0;
}

static void s_run_free(run_t *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ntasks; i++) {
        task_t *t = &r->tasks[i];
        free(t->name);
        free(t->kind);
        free(t->spec_json);
        free(t->error);
        free(t->children);
        free(t->parents);
        free(t->gang_env);
        free(t->gang_hostfile);
        s_res_free(&t->res);
    }
    free(r->tasks);
    free(r->workflow);
    free(r->params_json);
    free(r);
}

static int s_finish_run(model_t *m, run_t *r, run_state_t state, const char *detail)
{
    run_state_t from = r->state;
    r->state = state;
    r->version++;
    if ((unsigned)state < sizeof m->stats.run_to / sizeof m->stats.run_to[0])
        m->stats.run_to[state]++;
    if (m->nfinished == m->capfinished) {
        size_t nc = m->capfinished ? m->capfinished * 2 : 16;
        run_t **nf = realloc(m->finished, nc * sizeof *nf);
        if (!nf)
            return -1;
        m->finished = nf;
        m->capfinished = nc;
    }
    m->finished[m->nfinished++] = r;
    log_info("run %lld (%s) %s", (long long)r->id, r->workflow, wire_run_state_name(state));
    return store_run_save_buffered(m->st, r->id, wire_run_state_name(state),
                                   wire_run_state_name(from), detail);
}

/* How a run with every task done ended: a failure is the system's; a gate
 * that rejected the model is a verdict on the model, not a failure. */
static run_state_t s_outcome(const run_t *r)
{
    return r->any_failed ? R(FAILED) : r->gate_rejected ? R(REJECTED) : R(SUCCEEDED);
}

/* A select step's min_success (0 = every candidate must succeed). */
static int s_min_success(const task_t *c)
{
    if (strcmp(c->kind, "select") != 0 || !c->spec_json)
        return 0;
    json_t *spec = json_loads(c->spec_json, 0, NULL);
    json_int_t v = json_integer_value(json_object_get(spec, "min_success"));
    json_decref(spec);
    return v > 0 && v <= INT32_MAX ? (int)v : 0;
}

/* 1 when the failure of t does not fail its run: every child of t is a
 * select with min_success that can still count that many candidates that
 * did not fail (issue 13, observation 8: a sweep member may fail). */
static int s_tolerated(const run_t *r, const task_t *t)
{
    if (t->gate_rejected || t->nchildren == 0)
        return 0;
    for (int i = 0; i < t->nchildren; i++) {
        const task_t *c = &r->tasks[t->children[i]];
        int ms = s_min_success(c);
        if (!ms || c->state == T(SKIPPED) || c->state == T(CANCELLED))
            return 0;
        int failed = 0;
        for (int k = 0; k < c->nparents; k++)
            failed += r->tasks[c->parents[k]].state == T(FAILED);
        if (c->nparents - failed < ms)
            return 0;
    }
    return 1;
}

/* Bookkeeping after t became terminal: skip descendants of a failure and
 * finish the run when nothing is left to do. */
static int s_gang_fate(model_t *m, task_t *t, const char *what);

static int s_task_done(model_t *m, task_t *t)
{
    run_t *r = t->run;
    r->ndone++;
    if (t->state == T(FAILED) && s_tolerated(r, t)) {
        /* Its selects choose among the candidates that succeeded. */
        log_info("run %lld: step %s failed; tolerated (its select steps need only min_success "
                 "candidates)",
                 (long long)r->id, t->name);
        for (int i = 0; i < t->nchildren; i++) {
            task_t *c = &r->tasks[t->children[i]];
            if (--c->npending == 0 && c->state == T(PENDING) && s_set(m, c, T(READY), NULL) < 0)
                return -1;
        }
    } else if (t->state == T(FAILED)) {
        if (t->gate_rejected)
            r->gate_rejected = 1;
        else
            r->any_failed = 1;
        /* Descendants can only be pending: none of them had all parents done. */
        int *stack = malloc(sizeof(int) * (size_t)r->ntasks);
        if (!stack)
            return -1;
        int sp = 0;
        for (int i = 0; i < t->nchildren; i++)
            stack[sp++] = t->children[i];
        while (sp > 0) {
            task_t *c = &r->tasks[stack[--sp]];
            if (c->state != T(PENDING))
                continue;
            char why[300];
            snprintf(why, sizeof why, "ancestor %s %s", t->name,
                     !t->gate_rejected ? "failed"
                     : t->approval     ? "was not approved"
                                       : "rejected the model (evaluation gate)");
            if (s_set(m, c, T(SKIPPED), why) < 0) {
                free(stack);
                return -1;
            }
            r->ndone++;
            for (int i = 0; i < c->nchildren && sp < r->ntasks; i++)
                stack[sp++] = c->children[i];
        }
        free(stack);
    }
    if (r->ndone == r->ntasks && r->state == R(RUNNING))
        return s_finish_run(m, r, s_outcome(r), NULL);
    return 0;
}

static lease_t *s_find_lease(worker_t *w, int64_t task_id, int attempt)
{
    for (size_t i = 0; i < w->nheld; i++)
        if (w->held[i].task_id == task_id && w->held[i].attempt == attempt)
            return &w->held[i];
    return NULL;
}

/* Books t's attempt (with its resources and GPUs) on w. */
static int s_add_lease(worker_t *w, const task_t *t, int attempt, uint64_t gpumask)
{
    if (w->nheld == w->capheld) {
        size_t nc = w->capheld ? w->capheld * 2 : 8;
        lease_t *nh = realloc(w->held, nc * sizeof *nh);
        if (!nh)
            return -1;
        w->held = nh;
        w->capheld = nc;
    }
    lease_t *l = &w->held[w->nheld++];
    l->task_id = t->id;
    l->attempt = attempt;
    l->cpus = t->res.cpus ? t->res.cpus : 1;
    l->memory = t->res.memory;
    l->gpumask = gpumask;
    w->used_cpus += l->cpus;
    w->used_memory += l->memory;
    w->used_gpus |= gpumask;
    return 0;
}

static void s_drop_lease(worker_t *w, lease_t *l)
{
    w->used_cpus -= l->cpus;
    w->used_memory -= l->memory;
    w->used_gpus &= ~l->gpumask;
    *l = w->held[--w->nheld];
}

static void s_drop_all_leases(worker_t *w)
{
    w->nheld = 0;
    w->used_cpus = 0;
    w->used_memory = 0;
    w->used_gpus = 0;
}

/* The attempt behind lease l is gone with its worker: requeue the task, or
 * fail it once it has been lost too often (a task that kills workers). */
static int s_lease_lost(model_t *m, const lease_t *l, const char *why)
{
    task_t *t = idmap_get(m->tasks, l->task_id);
    if (!t || t->attempt != l->attempt || (t->state != T(ASSIGNED) && t->state != T(RUNNING)))
        return 0;
    t->lost++;
    m->stats.requeued++;
    t->worker[0] = '\0';
    if (t->lost > m->cfg->max_lost) {
        char msg[300];
        snprintf(msg, sizeof msg, "lost with %d dead workers (max_lost = %d)", t->lost,
                 m->cfg->max_lost);
        s_set_error(t, msg);
        if (s_set(m, t, T(FAILED), msg) < 0 || s_task_done(m, t) < 0)
            return -1;
        return s_gang_fate(m, t, msg);
    }
    t->started_us = 0;
    if (s_set(m, t, T(READY), why) < 0)
        return -1;
    return s_gang_fate(m, t, why);
}

/* libzmq's generated ROUTER identities are 5 bytes (a zero, then a 32-bit
 * counter): those map to a unique key. Longer (peer-chosen) identities get
 * 0 and are found by a scan. */
static int64_t s_ident_key(const uint8_t *ident, size_t len)
{
    if (len == 0 || len > 7)
        return 0;
    int64_t k = 1;
    for (size_t i = 0; i < len; i++)
        k = (k << 8) | ident[i];
    return k;
}

static void s_ident_forget(model_t *m, worker_t *w)
{
    int64_t k = s_ident_key(w->ident, w->ident_len);
    if (k && m->idents && idmap_get(m->idents, k) == w)
        idmap_del(m->idents, k);
}

static void s_worker_free(worker_t *w)
{
    if (!w)
        return;
    free(w->held);
    free(w);
}

/* --------------------------------------------------------- lifecycle --- */

model_t *model_new(store_t *st, const conf_coordinator_t *cfg, model_sink_t sink)
{
    model_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->st = st;
    m->cfg = cfg;
    m->sink = sink;
    m->runs = idmap_new();
    m->tasks = idmap_new();
    m->idents = idmap_new();
    if (!m->runs || !m->tasks || !m->idents) {
        model_destroy(&m);
        errno = ENOMEM;
        return NULL;
    }
    return m;
}

static void s_run_free_cb(void *ctx, void *r)
{
    (void)ctx;
    s_run_free(r);
}

/* Frees every run and worker; the maps themselves stay. */
static void s_free_all(model_t *m)
{
    model_after_commit(m);
    while (m->workers) {
        worker_t *w = m->workers;
        m->workers = w->next;
        s_worker_free(w);
    }
    if (m->runs)
        idmap_each(m->runs, s_run_free_cb, NULL);
    m->retry_head = NULL;
    m->nawait = 0; /* ids only: the tasks went with their runs */
    m->ngangs = 0;
    while (m->queues) {
        mqueue_t *q = m->queues;
        m->queues = q->next;
        while (q->buckets) {
            bucket_t *b = q->buckets;
            q->buckets = b->next;
            free(b);
        }
        free(q);
    }
    m->rr = NULL;
}

int model_clear(model_t *m)
{
    s_free_all(m);
    idmap_destroy(&m->runs);
    idmap_destroy(&m->tasks);
    idmap_destroy(&m->idents);
    m->runs = idmap_new();
    m->tasks = idmap_new();
    m->idents = idmap_new();
    if (!m->runs || !m->tasks || !m->idents) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void model_destroy(model_t **mp)
{
    if (!mp || !*mp)
        return;
    model_t *m = *mp;
    s_free_all(m);
    idmap_destroy(&m->runs);
    idmap_destroy(&m->tasks);
    idmap_destroy(&m->idents);
    free(m->finished);
    free(m->await);
    free(m->pw);
    free(m->pw_of);
    free(m->pl);
    free(m->ps);
    free(m->ps_of);
    free(m->pq);
    free(m->pq_of);
    free(m->gangs);
    free(m);
    *mp = NULL;
}

static worker_t *s_worker_by_name(model_t *m, const char *name)
{
    for (worker_t *w = m->workers; w; w = w->next)
        if (strcmp(w->name, name) == 0)
            return w;
    return NULL;
}

static worker_t *s_worker_new(model_t *m, const char *name)
{
    worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    util_strlcpy(w->name, name, sizeof w->name);
    w->last_seen_ms = util_mono_ms();
    w->last_seen_us = util_now_us();
    w->next = m->workers;
    m->workers = w;
    return w;
}

static void s_worker_unlink(model_t *m, worker_t *w)
{
    for (worker_t **p = &m->workers; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

static int s_add_edge(task_t *parent, task_t *child)
{
    int *nc = realloc(parent->children, sizeof(int) * (size_t)(parent->nchildren + 1));
    if (!nc)
        return -1;
    parent->children = nc;
    parent->children[parent->nchildren++] = child->idx;
    int *np = realloc(child->parents, sizeof(int) * (size_t)(child->nparents + 1));
    if (!np)
        return -1;
    child->parents = np;
    child->parents[child->nparents++] = parent->idx;
    return 0;
}

/* Notes rank 0 of each gang of r (s_gang_dispatch walks them). */
static int s_gangs_add(model_t *m, const run_t *r)
{
    for (int i = 0; i < r->ntasks; i++) {
        const task_t *t = &r->tasks[i];
        if (t->gang_n <= 1 || t->gang_rank != 0)
            continue;
        if (m->ngangs == m->capgangs) {
            size_t nc = m->capgangs ? m->capgangs * 2 : 16;
            int64_t *ng = realloc(m->gangs, nc * sizeof *ng);
            if (!ng)
                return -1;
            m->gangs = ng;
            m->capgangs = nc;
        }
        m->gangs[m->ngangs++] = t->id;
    }
    return 0;
}

int model_load(model_t *m)
{
    PGresult *rr = NULL, *tr = NULL, *dr = NULL;
    int rc = -1;
    if (model_queues_load(m) < 0)
        return -1;
    rr = store_load_runs(m->st);
    tr = rr ? store_load_tasks(m->st) : NULL;
    dr = tr ? store_load_deps(m->st) : NULL;
    if (!dr)
        goto out;
    int nr = PQntuples(rr), nt = PQntuples(tr), nd = PQntuples(dr);
    for (int i = 0; i < nr; i++) {
        run_t *r = calloc(1, sizeof *r);
        if (!r)
            goto out;
        r->id = db_get_i64(rr, i, 0);
        r->workflow = strdup(db_get_str(rr, i, 1));
        r->submitted_us = db_get_i64(rr, i, 2);
        util_strlcpy(r->submitted_key, db_get_str(rr, i, 4), sizeof r->submitted_key);
        r->queue = s_queue_get(m, db_get_str(rr, i, 5));
        r->priority = (int)db_get_i64(rr, i, 6);
        util_strlcpy(r->schedule, db_get_str(rr, i, 7), sizeof r->schedule);
        if (*db_get_str(rr, i, 8) && !(r->params_json = strdup(db_get_str(rr, i, 8))))
            goto out;
        r->due_us = db_get_i64(rr, i, 9);
        r->state = R(RUNNING);
        r->version = 1;
        if (!r->workflow || !r->queue || idmap_put(m->runs, r->id, r) < 0) {
            s_run_free(r);
            goto out;
        }
    }
    /* Tasks come ordered by run, then idx: size each run's array first. */
    for (int i = 0; i < nt; i++) {
        run_t *r = idmap_get(m->runs, db_get_i64(tr, i, 1));
        if (r)
            r->ntasks++;
    }
    int64_t now_us = util_now_us(), now_ms = util_mono_ms();
    run_t *cur = NULL;
    int filled = 0;
    for (int i = 0; i < nt; i++) {
        run_t *r = idmap_get(m->runs, db_get_i64(tr, i, 1));
        if (!r)
            continue;
        if (r != cur) {
            r->tasks = calloc((size_t)r->ntasks, sizeof *r->tasks);
            if (!r->tasks)
                goto out;
            cur = r;
            filled = 0;
        }
        task_t *t = &r->tasks[filled];
        t->idx = filled++;
        t->run = r;
        t->id = db_get_i64(tr, i, 0);
        t->name = strdup(db_get_str(tr, i, 3));
        t->kind = strdup(db_get_str(tr, i, 4));
        t->spec_json = strdup(db_get_str(tr, i, 5));
        if (!t->name || !t->kind || !t->spec_json)
            goto out;
        t->approval = strcmp(t->kind, "approve") == 0;
        t->state = wire_task_state_from_name(db_get_str(tr, i, 6));
        t->gate_rejected = t->state == T(FAILED) && db_get_str(tr, i, 18)[0] == 't';
        t->attempt = (int)db_get_i64(tr, i, 7);
        /* What its attempt stored before this process started is read at
         * its first log chunk (model_task_log), so a chunk sent again is
         * not stored twice. */
        t->log_ends_unread = t->attempt > 0;
        t->retries = (int)db_get_i64(tr, i, 8);
        t->failures = (int)db_get_i64(tr, i, 9);
        t->lost = (int)db_get_i64(tr, i, 10);
        t->timeout_ms = db_get_i64(tr, i, 11);
        t->retry_delay_ms = db_get_i64(tr, i, 12);
        t->not_before_us = db_get_i64(tr, i, 13);
        util_strlcpy(t->worker, db_get_str(tr, i, 14), sizeof t->worker);
        t->started_us = db_get_i64(tr, i, 15);
        t->held = strcmp(db_get_str(tr, i, 19), "t") == 0;
        t->gang_n = (int)db_get_i64(tr, i, 20);
        t->gang_rank = (int)db_get_i64(tr, i, 21);
        t->gang_pack = strcmp(db_get_str(tr, i, 22), "t") == 0;
        t->gang_port = (int)db_get_i64(tr, i, 23);
        /* Members are consecutive (gang.h); anything else is not a gang
         * this coordinator wrote: run it as plain steps rather than guess. */
        if (t->gang_n < 1 || t->gang_n > GANG_MAX_NODES || t->gang_rank >= t->gang_n ||
            t->idx < t->gang_rank || t->idx - t->gang_rank + t->gang_n > r->ntasks)
            t->gang_n = 1, t->gang_rank = 0;
        json_t *rj = json_loads(db_get_str(tr, i, 16), 0, NULL);
        int rok = s_res_from_json(rj, &t->res);
        json_decref(rj);
        if (rok < 0)
            goto out;
        /* "0,2" -> GPUs the current attempt holds (kept across restarts). */
        const char *g = db_get_str(tr, i, 17);
        while (*g) {
            long gi = strtol(g, (char **)&g, 10);
            if (gi >= 0 && gi < 64)
                t->gpumask |= 1ull << gi;
            if (*g == ',')
                g++;
            else
                break;
        }
        if (idmap_put(m->tasks, t->id, t) < 0)
            goto out;
    }
    for (int i = 0; i < nd; i++) {
        task_t *c = idmap_get(m->tasks, db_get_i64(dr, i, 0));
        task_t *p = idmap_get(m->tasks, db_get_i64(dr, i, 1));
        if (!c || !p)
            continue;
        if (s_add_edge(p, c) < 0)
            goto out;
        if (p->state != T(SUCCEEDED))
            c->npending++;
    }
    size_t nworkers = 0, nheld = 0;
    for (int i = 0; i < nr; i++) {
        run_t *r = idmap_get(m->runs, db_get_i64(rr, i, 0));
        if (s_gangs_add(m, r) < 0)
            goto out;
        for (int k = 0; k < r->ntasks; k++) {
            task_t *t = &r->tasks[k];
            switch (t->state) {
            case T(READY):
                t->ready_us = util_now_us(); /* waiting since the load, as far as we know */
                if (s_enqueue_ready(m, t) < 0)
                    goto out;
                break;
            case T(RETRY_WAIT):
                t->not_before_ms = now_ms + (t->not_before_us - now_us) / 1000;
                s_enqueue_retry(m, t);
                break;
            case T(ASSIGNED):
            case T(RUNNING): {
                if (t->approval) {
                    /* Still awaiting a person: the wait goes on, its
                     * timeout counted from started_at. (Assigned cannot
                     * be stored: it moves on to running in the same
                     * transaction; repaired below if it ever is.) */
                    r->nawaiting += t->state == T(RUNNING);
                    if (s_await_add(m, t) < 0)
                        goto out;
                    break;
                }
                /* Its worker gets a full worker_timeout to come back. */
                worker_t *w = s_worker_by_name(m, t->worker);
                if (!w) {
                    w = s_worker_new(m, t->worker);
                    if (!w)
                        goto out;
                    nworkers++;
                }
                if (s_add_lease(w, t, t->attempt, t->gpumask) < 0)
                    goto out;
                r->queue->running++;
                nheld++;
                break;
            }
            case T(SUCCEEDED):
            case T(SKIPPED):
            case T(CANCELLED): r->ndone++; break;
            case T(FAILED): r->ndone++; break; /* any_failed: below, once every edge is known */
            default: break;
            }
        }
    }
    log_info("loaded %d active runs with %d tasks; waiting for %zu workers holding %zu tasks", nr,
             nt, nworkers, nheld);
    /* A pending task with nothing pending cannot exist, but repair it. */
    for (int i = 0; i < nr; i++) {
        run_t *r = idmap_get(m->runs, db_get_i64(rr, i, 0));
        /* A failure fails the run unless its selects tolerate it; then it
         * no longer holds them back. */
        for (int k = 0; k < r->ntasks; k++) {
            const task_t *t = &r->tasks[k];
            if (t->state != T(FAILED))
                continue;
            if (!s_tolerated(r, t)) {
                /* A gate's or a person's rejection (a stored report that
                 * did not pass) ends the run rejected, as it would have
                 * without the restart. */
                if (t->gate_rejected)
                    r->gate_rejected = 1;
                else
                    r->any_failed = 1;
                continue;
            }
            for (int j = 0; j < t->nchildren; j++)
                r->tasks[t->children[j]].npending--;
        }
        for (int k = 0; k < r->ntasks; k++) {
            if (r->tasks[k].state == T(PENDING) && r->tasks[k].npending == 0 &&
                s_set(m, &r->tasks[k], T(READY), "repaired at load") < 0)
                goto out;
            if (r->tasks[k].approval && r->tasks[k].state == T(ASSIGNED) &&
                s_set(m, &r->tasks[k], T(RUNNING), "awaiting approval (repaired at load)") < 0)
                goto out;
        }
        if (r->ndone == r->ntasks && s_finish_run(m, r, s_outcome(r), "completed at load") < 0)
            goto out;
    }
    rc = 0;
out:
    PQclear(rr);
    PQclear(tr);
    PQclear(dr);
    return rc;
}

/* ------------------------------------------------------------ submit --- */

static mqueue_t *s_queue_find(model_t *m, const char *name);

/* A submit in four parts, so that a large one can leave the loop
 * (server_client.c, bulk.h): validate (loop), rows (any thread), the
 * durable insert (the iteration's transaction, or the bulk thread's own),
 * join (loop, after the insert). */

/* ------------------------------------------------- run parameters --- */

void model_subst_free(model_subst_t *x)
{
    for (size_t i = 0; x->steps && i < x->req.n_steps; i++)
        free(x->steps[i].spec_json);
    free(x->steps);
    free(x->ptrs);
    free(x->params_json);
    memset(x, 0, sizeof *x);
}

static int s_param_fail(char *err, size_t errlen, const char *msg, size_t i)
{
    snprintf(err, errlen, "param %zu: %s", i + 1, msg);
    return errno = EINVAL, -1;
}

int model_subst(const Drover__SubmitRequest *req, const model_origin_t *o, int64_t run_id,
                model_subst_t *x, char *err, size_t errlen)
{
    memset(x, 0, sizeof *x);
    x->req = *req;
    size_t np = req->n_params, n = req->n_steps;
    if (np > PARAMS_MAX) {
        snprintf(err, errlen, "at most %d params (this request has %zu)", PARAMS_MAX, np);
        return errno = EINVAL, -1;
    }
    const char *base = req->base_dir && *req->base_dir ? req->base_dir : NULL;
    if (base && (base[0] != '/' || strlen(base) >= PATH_MAX || !util_utf8_valid(base))) {
        snprintf(err, errlen, "base_dir must be an absolute folder path");
        return errno = EINVAL, -1;
    }
    const char *names[PARAMS_MAX], *values[PARAMS_MAX];
    json_t *pj = json_object();
    if (!pj)
        return errno = ENOMEM, -1;
    for (size_t i = 0; i < np; i++) {
        const Drover__Param *p = req->params[i];
        if (!p || !params_name_ok(p->name)) {
            json_decref(pj);
            return s_param_fail(err, errlen, "a name of letters, digits and _ (at most 64)", i);
        }
        if (!p->value || strlen(p->value) > PARAMS_VALUE_MAX || !util_utf8_valid(p->value)) {
            json_decref(pj);
            return s_param_fail(err, errlen, "a value of at most 4096 bytes of UTF-8", i);
        }
        if (json_object_get(pj, p->name)) {
            json_decref(pj);
            return s_param_fail(err, errlen, "the name is given twice", i);
        }
        if (json_object_set_new(pj, p->name, json_string(p->value)) < 0) {
            json_decref(pj);
            return errno = ENOMEM, -1;
        }
        names[i] = p->name;
        values[i] = p->value;
    }
    char due[32] = "";
    if (o && o->due_at_us) {
        time_t t = (time_t)(o->due_at_us / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(due, sizeof due, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    static const char *const no_files[1] = {NULL};
    params_vars_t v = {
        .names = names,
        .values = values,
        .n = np,
        .run_id = run_id,
        .due_at = due[0] ? due : NULL,
        .files = o && o->trigger ? (o->files ? o->files : no_files) : NULL,
        .nfiles = o && o->trigger ? o->nfiles : 0,
        .rows = o ? o->rows : 0,
    };
    x->params_json = np ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(pj);
    x->steps = calloc(n + 1, sizeof *x->steps);
    x->ptrs = calloc(n + 1, sizeof *x->ptrs);
    if ((np && !x->params_json) || !x->steps || !x->ptrs) {
        model_subst_free(x);
        return errno = ENOMEM, -1;
    }
    x->req.steps = x->ptrs;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const Drover__StepSpec *s = req->steps[i];
        x->steps[i] = *s;
        x->steps[i].spec_json = NULL;
        x->ptrs[i] = &x->steps[i];
        /* The wire check bounds the name and the kind; the table checks them again after. */
        if (params_apply(s->kind ? s->kind : "", s->name ? s->name : "", s->spec_json, &v, base,
                         &x->steps[i].spec_json, err, errlen) < 0) {
            int e = errno;
            model_subst_free(x);
            return errno = e, -1;
        }
        total += strlen(x->steps[i].spec_json);
        if (total > PARAMS_REQUEST_MAX) {
            snprintf(err, errlen, "the substituted specs are longer than %u bytes in all",
                     PARAMS_REQUEST_MAX);
            model_subst_free(x);
            return errno = EINVAL, -1;
        }
    }
    return 0;
}

int model_subst_uses_run_id(const Drover__SubmitRequest *req)
{
    for (size_t i = 0; i < req->n_steps; i++)
        if (params_uses(req->steps[i]->spec_json, "run.id"))
            return 1;
    return 0;
}

int model_submit_rules(const Drover__SubmitRequest *req, char *err, size_t errlen)
{
    /* Every rule of the step-kind table: names, kinds, retries, spec
     * objects and their keys, references. */
    if (stepkind_check_submit(req, err, errlen) < 0)
        return errno == ENOMEM ? -1 : (errno = EINVAL, -1);
    size_t n = req->n_steps, nafter = 0;
    for (size_t i = 0; i < n; i++)
        nafter += req->steps[i]->n_after;
    if (nafter > WORKFLOW_MAX_EDGES) {
        snprintf(err, errlen,
                 "a workflow has at most %d dependencies ('after' entries) in all; this one has "
                 "%zu (split it, or depend on a join step instead of on every step)",
                 WORKFLOW_MAX_EDGES, nafter);
        return errno = EINVAL, -1;
    }
    dag_node_t *nodes = calloc(n, sizeof *nodes);
    if (!nodes) {
        snprintf(err, errlen, "out of memory");
        return errno = ENOMEM, -1;
    }
    for (size_t i = 0; i < n; i++) {
        nodes[i].name = req->steps[i]->name;
        nodes[i].after = (const char *const *)req->steps[i]->after;
        nodes[i].nafter = req->steps[i]->n_after;
    }
    size_t bad;
    int rc = dag_check(nodes, n, &bad, err, errlen);
    free(nodes);
    return rc < 0 ? (errno = EINVAL, -1) : 0;
}

int model_submit_queue_check(model_t *m, const Drover__SubmitRequest *req, char *err, size_t errlen)
{
    const char *qname = req->queue && *req->queue ? req->queue : "default";
    if (!s_queue_find(m, qname)) {
        snprintf(err, errlen,
                 "unknown queue '%.64s' (an admin creates it: drover queue create %.64s)", qname,
                 qname);
        return errno = EINVAL, -1;
    }
    if (req->notify &&
        notify_check_workflow(m->cfg, req->notify->webhook, req->notify->on, req->notify->n_on,
                              req->schedule != NULL, err, errlen) < 0)
        return errno = EINVAL, -1;
    return 0;
}

void model_rows_clear(model_rows_t *rows)
{
    free(rows->tasks_json);
    free(rows->deps_json);
    free(rows->didx);
    free(rows->ids);
    memset(rows, 0, sizeof *rows);
}

/* Parents of step i (its 'after', resolved to indices in didx from k on)
 * that still have to succeed: all of them, less those reused. */
static int s_pending_parents(const Drover__StepSpec *s, const size_t *didx, size_t k,
                             const int64_t *reuse)
{
    int n = 0;
    for (size_t a = 0; a < s->n_after; a++)
        n += !(reuse && reuse[didx[k + a]]);
    return n;
}

/* A JSON string of s into b; -1 if s is no valid UTF-8 (json_pack
 * refused it as well). */
static int s_json_str(bytebuf_t *b, const char *s)
{
    if (!util_utf8_valid(s))
        return -1;
    bytebuf_json_str(b, s);
    return 0;
}

/* Step s (index i, state) as the object submit_many reads (store.c): the
 * keys and values json_pack built before, written straight into b (for
 * 10,000 steps the jansson tree cost ~10 us a step, most of a large
 * submit's time on the coordinator). -1: a string is no valid UTF-8. */
static int s_task_json(bytebuf_t *b, const Drover__StepSpec *s, size_t i, const char *state,
                       const int64_t *reuse)
{
    bytebuf_printf(b, "{\"idx\":%d,\"name\":", (int)i);
    if (s_json_str(b, s->name) < 0)
        return -1;
    bytebuf_put(b, ",\"kind\":", 8);
    if (s_json_str(b, s->kind) < 0)
        return -1;
    bytebuf_put(b, ",\"spec\":", 8);
    if (s_json_str(b, s->spec_json) < 0)
        return -1;
    bytebuf_printf(b,
                   ",\"state\":\"%s\",\"retries\":%d,\"timeout_ms\":%" PRId64
                   ",\"retry_delay_ms\":%" PRId64 ",\"resources\":",
                   state, (int)s->retries, (int64_t)s->timeout_ms, (int64_t)s->retry_delay_ms);
    const Drover__Resources *res = s->resources;
    if (!res) {
        bytebuf_put(b, "{}", 2);
    } else {
        bytebuf_printf(b, "{\"cpus\":%" PRId64, (int64_t)(res->cpus ? res->cpus : 1));
        if (res->memory_bytes)
            bytebuf_printf(b, ",\"memory\":%" PRId64, (int64_t)res->memory_bytes);
        if (res->gpus)
            bytebuf_printf(b, ",\"gpus\":%" PRId64, (int64_t)res->gpus);
        if (res->n_labels) {
            bytebuf_put(b, ",\"labels\":[", 11);
            for (size_t l = 0; l < res->n_labels; l++) {
                if (l)
                    bytebuf_put(b, ",", 1);
                if (s_json_str(b, res->labels[l]) < 0)
                    return -1;
            }
            bytebuf_put(b, "]", 1);
        }
        bytebuf_put(b, "}", 1);
    }
    if (reuse && reuse[i])
        bytebuf_printf(b, ",\"reused_from\":%" PRId64, reuse[i]);
    if (s->nodes > 1)
        bytebuf_printf(b, ",\"gang_size\":%" PRId64 ",\"gang_rank\":%" PRId64 ",\"gang_pack\":%s",
                       (int64_t)s->nodes, (int64_t)s->gang_rank, s->pack ? "true" : "false");
    bytebuf_put(b, "}", 1);
    return 0;
}

int model_submit_rows(const Drover__SubmitRequest *req, const int64_t *reuse, model_rows_t *rows)
{
    size_t n = req->n_steps, nedges = 0;
    memset(rows, 0, sizeof *rows);
    rows->reuse = reuse;
    for (size_t i = 0; i < n; i++)
        nedges += req->steps[i]->n_after;
    dag_node_t *nodes = calloc(n, sizeof *nodes);
    bytebuf_t tasks = {0}, deps = {0};
    rows->ids = calloc(n, sizeof *rows->ids);
    rows->didx = malloc((nedges ? nedges : 1) * sizeof *rows->didx);
    if (!nodes || !rows->ids || !rows->didx)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        nodes[i].name = req->steps[i]->name;
        nodes[i].after = (const char *const *)req->steps[i]->after;
        nodes[i].nafter = req->steps[i]->n_after;
    }
    if (dag_resolve(nodes, n, rows->didx) < 0)
        goto nomem; /* validated: only memory can fail */
    bytebuf_put(&tasks, "[", 1);
    bytebuf_put(&deps, "[", 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const Drover__StepSpec *s = req->steps[i];
        int reused = reuse && reuse[i];
        const char *state = reused                                       ? "succeeded"
                            : s_pending_parents(s, rows->didx, k, reuse) ? "pending"
                                                                         : "ready";
        if (i)
            bytebuf_put(&tasks, ",", 1);
        if (s_task_json(&tasks, s, i, state, reuse) < 0)
            goto nomem; /* as json_pack refused it */
        for (size_t a = 0; a < s->n_after; a++, k++)
            bytebuf_printf(&deps, "%s[%d,%d]", k ? "," : "", (int)i, (int)rows->didx[k]);
    }
    bytebuf_put(&tasks, "]", 2); /* the NUL too */
    bytebuf_put(&deps, "]", 2);
    if (tasks.oom || deps.oom)
        goto nomem;
    rows->tasks_json = (char *)tasks.p;
    rows->deps_json = (char *)deps.p;
    free(nodes);
    return 0;
nomem:
    free(nodes);
    free(tasks.p);
    free(deps.p);
    model_rows_clear(rows);
    return errno = ENOMEM, -1;
}

run_t *model_run_build(const Drover__SubmitRequest *req, const char *key, const char *schedule,
                       const model_rows_t *rows)
{
    size_t n = req->n_steps;
    run_t *r = calloc(1, sizeof *r);
    if (!r || !(r->tasks = calloc(n, sizeof *r->tasks)) || !(r->workflow = strdup(req->workflow)))
        goto nomem;
    r->id = rows->run_id;
    r->priority = req->priority;
    util_strlcpy(r->schedule, schedule ? schedule : "", sizeof r->schedule);
    if (rows->params_json && !(r->params_json = strdup(rows->params_json)))
        goto nomem;
    r->due_us = schedule ? rows->due_us : 0;
    util_strlcpy(r->submitted_key, key ? key : "", sizeof r->submitted_key);
    r->ntasks = (int)n;
    r->state = R(RUNNING);
    r->version = 1;
    r->submitted_us = rows->submitted_us;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const Drover__StepSpec *s = req->steps[i];
        task_t *t = &r->tasks[i];
        int pend = s_pending_parents(s, rows->didx, k, rows->reuse);
        k += s->n_after;
        t->id = rows->ids[i];
        t->run = r;
        t->idx = (int)i;
        t->name = strdup(s->name);
        t->kind = strdup(s->kind);
        t->spec_json = strdup(s->spec_json);
        if (!t->name || !t->kind || !t->spec_json)
            goto nomem;
        t->approval = strcmp(s->kind, "approve") == 0;
        t->gang_n = s->nodes > 1 ? (int)s->nodes : 1;
        t->gang_rank = (int)s->gang_rank;
        t->gang_pack = s->pack;
        t->retries = (int)s->retries;
        t->timeout_ms = (int64_t)s->timeout_ms;
        t->retry_delay_ms = (int64_t)s->retry_delay_ms;
        t->npending = pend;
        t->state = rows->reuse && rows->reuse[i] ? T(SUCCEEDED) : pend ? T(PENDING) : T(READY);
        t->ready_us = t->state == T(READY) ? r->submitted_us : 0;
        r->ndone += t->state == T(SUCCEEDED);
        if (s_res_from_pb(s->resources, &t->res) < 0)
            goto nomem;
        if (s->n_after && !(t->parents = malloc(s->n_after * sizeof *t->parents)))
            goto nomem;
    }
    /* Edges into arrays sized once (a realloc per edge cost more than the
     * rest of the join for the densest workflow). */
    size_t nedges = 0;
    for (size_t i = 0; i < n; i++)
        nedges += req->steps[i]->n_after;
    for (k = 0; k < nedges; k++)
        r->tasks[rows->didx[k]].nchildren++;
    for (size_t i = 0; i < n; i++) {
        task_t *t = &r->tasks[i];
        if (t->nchildren && !(t->children = malloc((size_t)t->nchildren * sizeof *t->children)))
            goto nomem;
        t->nchildren = 0;
    }
    k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < req->steps[i]->n_after; a++, k++) {
            task_t *p = &r->tasks[rows->didx[k]], *c = &r->tasks[i];
            p->children[p->nchildren++] = (int)i;
            c->parents[c->nparents++] = p->idx;
        }
    return r;
nomem:
    s_run_free(r);
    return errno = ENOMEM, NULL;
}

int model_run_attach(model_t *m, run_t **rp, const Drover__SubmitRequest *req)
{
    run_t *r = *rp;
    const char *qname = req->queue && *req->queue ? req->queue : "default";
    /* The queue was checked at validation; one removed since (an admin,
     * while a bulk insert ran) comes back in memory as a model_load would
     * bring it back: the run's row names it. */
    if (!(r->queue = s_queue_get(m, qname)))
        goto nomem;
    for (int i = 0; i < r->ntasks; i++) {
        if (idmap_put(m->tasks, r->tasks[i].id, &r->tasks[i]) < 0)
            goto nomem;
        if (r->tasks[i].state == T(READY) && s_enqueue_ready(m, &r->tasks[i]) < 0)
            goto nomem;
    }
    if (idmap_put(m->runs, r->id, r) < 0 || s_gangs_add(m, r) < 0)
        goto nomem;
    log_info("run %lld submitted: workflow %s, %d steps", (long long)r->id, r->workflow, r->ntasks);
    *rp = NULL;
    return 0;
nomem:
    for (int i = 0; i < r->ntasks; i++) {
        idmap_del(m->tasks, r->tasks[i].id);
        if (r->tasks[i].queued)
            s_unqueue(m, &r->tasks[i]);
    }
    idmap_del(m->runs, r->id);
    model_run_discard(rp);
    return errno = ENOMEM, -1;
}

void model_run_discard(run_t **rp)
{
    if (!rp || !*rp)
        return;
    s_run_free(*rp);
    *rp = NULL;
}

int model_submit_join(model_t *m, const Drover__SubmitRequest *req, const char *key,
                      const char *schedule, const model_rows_t *rows)
{
    /* rows were built from the expanded request (gang.h): expand again. */
    gang_expansion_t gx;
    char err[256];
    if (gang_expand(req, &gx, err, sizeof err) < 0)
        return errno = ENOMEM, -1; /* it expanded before, for the rows */
    run_t *r = model_run_build(gx.req, key, schedule, rows);
    gang_expansion_free(&gx);
    return r ? model_run_attach(m, &r, req) : -1;
}

/* model_submit on the substituted request: in the iteration's transaction. */
/* reuse: NULL, or per step the task of an earlier run whose results it
 * reuses (0 = runs; drover rerun): such a step starts succeeded, and only
 * the other parents of a step hold it back. */
static int s_submit(model_t *m, const Drover__SubmitRequest *req, const int64_t *reuse,
                    const char *key, const char *schedule, int64_t due_us, const char *actor,
                    const char *params_json, int64_t id, int64_t *run_id, char *err, size_t errlen)
{
    if (model_submit_rules(req, err, errlen) < 0 ||
        model_submit_queue_check(m, req, err, errlen) < 0)
        return errno == EINVAL ? -1 : (errno = EIO, -1);
    /* Gang steps become their members (gang.h). A rerun's request comes
     * from stored tasks (already members): refused by the rules above. */
    gang_expansion_t gx;
    if (gang_expand(req, &gx, err, errlen) < 0)
        return errno == EINVAL ? -1 : (errno = EIO, -1);
    model_rows_t rows;
    if (model_submit_rows(gx.req, reuse, &rows) < 0) {
        gang_expansion_free(&gx);
        snprintf(err, errlen, "out of memory");
        return errno = EIO, -1;
    }
    rows.params_json = params_json;
    rows.due_us = due_us;
    const char *qname = req->queue && *req->queue ? req->queue : "default";
    int rc =
        store_submit(m->st, req->workflow, req->source ? req->source : "",
                     req->submitted_by ? req->submitted_by : "", key, qname, req->priority,
                     schedule, due_us, actor, params_json, id, (int)gx.req->n_steps,
                     rows.tasks_json, rows.deps_json, &rows.run_id, &rows.submitted_us, rows.ids);
    if (rc == 0 && req->notify)
        rc = store_run_notify(m->st, rows.run_id, req->notify->webhook,
                              (const char *const *)req->notify->on, req->notify->n_on);
    /* Out of memory after the insert: the transaction must not commit
     * half a run (EIO resets the iteration). */
    if (rc == 0 && model_submit_join(m, req, key, schedule, &rows) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0)
        *run_id = rows.run_id;
    model_rows_clear(&rows);
    gang_expansion_free(&gx);
    return rc < 0 ? (errno = EIO, -1) : 0;
}

int model_submit(model_t *m, const Drover__SubmitRequest *req, const char *key,
                 const model_origin_t *o, const char *actor, int64_t *run_id, char *err,
                 size_t errlen)
{
    /* ${run.id} needs the id before the specs are checked: take it from the
     * sequence first (a refused submit leaves a gap, as a failed insert does). */
    int64_t id = 0;
    if (model_subst_uses_run_id(req) && store_run_id_next(m->st, &id) < 0)
        return errno = EIO, -1;
    model_subst_t x;
    if (model_subst(req, o, id, &x, err, errlen) < 0)
        return errno == ENOMEM ? (errno = EIO, -1) : -1;
    int rc = s_submit(m, &x.req, NULL, key, o ? o->schedule : NULL, o ? o->due_us : 0, actor,
                      x.params_json, id, run_id, err, errlen);
    int e = errno;
    model_subst_free(&x);
    errno = e;
    return rc;
}

int model_submit_many(model_t *m, model_batch_t *b, size_t n)
{
    model_subst_t *x = calloc(n, sizeof *x);
    model_rows_t *rows = calloc(n, sizeof *rows);
    store_submit_t *subs = calloc(n, sizeof *subs);
    size_t *which = calloc(n, sizeof *which);
    int nsub = 0, rc = -1, e = EIO;
    if (!x || !rows || !subs || !which)
        goto out;
    for (size_t i = 0; i < n; i++) {
        b[i].refused = 0;
        b[i].run_id = 0;
        if (model_subst(b[i].req, NULL, 0, &x[i], b[i].err, b[i].errlen) < 0) {
            if (errno != EINVAL)
                goto out;
            b[i].refused = 1;
            continue;
        }
        const Drover__SubmitRequest *q = &x[i].req;
        if (model_submit_rules(q, b[i].err, b[i].errlen) < 0 ||
            model_submit_queue_check(m, q, b[i].err, b[i].errlen) < 0) {
            if (errno != EINVAL)
                goto out;
            b[i].refused = 1;
            continue;
        }
        if (model_submit_rows(q, NULL, &rows[i]) < 0)
            goto out;
        subs[nsub] = (store_submit_t){
            .workflow = q->workflow,
            .source = q->source ? q->source : "",
            .by = q->submitted_by ? q->submitted_by : "",
            .key = b[i].key,
            .queue = q->queue && *q->queue ? q->queue : "default",
            .actor = b[i].actor,
            .tasks_json = rows[i].tasks_json,
            .deps_json = rows[i].deps_json,
            .ntasks = (int)q->n_steps,
            .priority = q->priority,
            .task_ids = rows[i].ids,
        };
        which[nsub++] = i;
    }
    if (store_submit_many(m->st, subs, nsub) < 0) {
        e = EAGAIN; /* nothing joined the model yet: the caller may retry one by one */
        goto out;
    }
    for (int k = 0; k < nsub; k++) {
        size_t i = which[k];
        rows[i].run_id = subs[k].run_id;
        rows[i].submitted_us = subs[k].submitted_us;
        if (model_submit_join(m, &x[i].req, b[i].key, NULL, &rows[i]) < 0)
            goto out; /* stored but not in memory: EIO resets the iteration */
        b[i].run_id = rows[i].run_id;
    }
    rc = 0;
out:
    for (size_t i = 0; x && rows && i < n; i++) {
        model_subst_free(&x[i]);
        model_rows_clear(&rows[i]);
    }
    free(x);
    free(rows);
    free(subs);
    free(which);
    if (rc < 0)
        errno = e;
    return rc;
}

int model_rerun(model_t *m, const Drover__SubmitRequest *req, const int64_t *reuse, const char *key,
                const char *actor, int64_t *run_id, char *err, size_t errlen)
{
    /* The earlier run's specs were substituted when it was submitted. */
    return s_submit(m, req, reuse, key, NULL, 0, actor, NULL, 0, run_id, err, errlen);
}

int model_cancel(model_t *m, int64_t run_id, char *msg, size_t msglen)
{
    run_t *r = idmap_get(m->runs, run_id);
    if (!r || r->state != R(RUNNING)) {
        errno = ENOENT;
        return -1;
    }
    int killed = 0, waiting = 0;
    for (int i = 0; i < r->ntasks; i++) {
        task_t *t = &r->tasks[i];
        if (s_terminal(t->state))
            continue;
        if (t->approval && t->state == T(RUNNING)) {
            waiting++;
        } else if (t->state == T(ASSIGNED) || t->state == T(RUNNING)) {
            worker_t *w = s_worker_by_name(m, t->worker);
            /* The lease stays held until the worker reports the kill, so
             * the slot is not handed out while the child is still dying. */
            if (w && w->connected)
                m->sink.kill(m->sink.ctx, w, t->id, t->attempt);
            killed++;
        } else {
            waiting++;
        }
        if (s_set(m, t, T(CANCELLED), "run cancelled") < 0) {
            errno = EIO;
            return -1;
        }
        r->ndone++;
    }
    if (s_finish_run(m, r, R(CANCELLED), "cancelled by request") < 0) {
        errno = EIO;
        return -1;
    }
    snprintf(msg, msglen,
             "run %lld cancelled: %d running step%s killed, %d waiting step%s cancelled",
             (long long)run_id, killed, killed == 1 ? "" : "s", waiting, waiting == 1 ? "" : "s");
    return 0;
}

/* ----------------------------------------------------------- workers --- */

worker_t *model_worker_by_ident(model_t *m, const uint8_t *ident, size_t len)
{
    int64_t k = s_ident_key(ident, len);
    if (k)
        return idmap_get(m->idents, k);
    for (worker_t *w = m->workers; w; w = w->next)
        if (w->connected && w->ident_len == len && memcmp(w->ident, ident, len) == 0)
            return w;
    return NULL;
}

static int s_reg_holds(const Drover__Register *reg, const lease_t *l)
{
    for (size_t i = 0; i < reg->n_held; i++)
        if ((int64_t)reg->held[i]->task_id == l->task_id &&
            (int)reg->held[i]->attempt == l->attempt)
            return 1;
    return 0;
}

int model_worker_busy(model_t *m, const uint8_t *ident, size_t len, const Drover__Register *reg,
                      char *msg, size_t msglen)
{
    worker_t *w = s_worker_by_name(m, reg->name);
    if (!w || !w->connected || (w->ident_len == len && memcmp(w->ident, ident, len) == 0))
        return 0;
    /* The same process on a new connection (it reconnected): its own name.
     * A worker of an older version sends no session: it cannot be told
     * from its own reconnect, so it replaces the session as before (the
     * name is still bound to its key). */
    if (!reg->session || reg->session == w->session)
        return 0;
    int64_t quiet = util_mono_ms() - w->last_seen_ms;
    if (quiet >= m->cfg->worker_timeout_ms)
        return 0;
    snprintf(msg, msglen,
             "worker name '%s' is in use by a live session from host '%s' (heard %lld ms ago); "
             "this one is refused until that session ends (give each worker its own --name)",
             w->name, w->host, (long long)quiet);
    return 1;
}

worker_t *model_worker_register(model_t *m, const uint8_t *ident, size_t len,
                                const Drover__Register *reg, const char *peer_addr, const char *key,
                                lease_t **drop, size_t *ndrop)
{
    m->dirty = 1;
    *drop = NULL;
    *ndrop = 0;
    worker_t *w = s_worker_by_name(m, reg->name);
    if (w && w->connected && (w->ident_len != len || memcmp(w->ident, ident, len) != 0))
        log_warn("worker %s registered again from a new connection; the earlier session (%s) is "
                 "replaced",
                 reg->name,
                 reg->session && reg->session == w->session ? "the same process" : "gone quiet");
    if (!w && !(w = s_worker_new(m, reg->name)))
        return NULL;
    s_ident_forget(m, w);
    /* Another worker registering from this connection replaces it. */
    worker_t *prev = model_worker_by_ident(m, ident, len);
    if (prev && prev != w) {
        s_ident_forget(m, prev);
        prev->connected = 0;
    }
    memcpy(w->ident, ident, len);
    w->ident_len = len;
    w->connected = 1;
    w->session = reg->session;
    w->draining = 0; /* a stopping worker says so again after registering */
    util_strlcpy(w->key, key ? key : "", sizeof w->key);
    int64_t ikey = s_ident_key(ident, len);
    if (ikey && idmap_put(m->idents, ikey, w) < 0)
        return NULL;
    util_strlcpy(w->host, reg->host ? reg->host : "", sizeof w->host);
    w->slots = (int)(reg->slots > 4096 ? 4096 : reg->slots);
    w->prefetch = (int)(reg->prefetch > 100000 ? 100000 : reg->prefetch);
    w->memory = reg->memory_bytes;
    w->gpus = (int)(reg->gpus > 64 ? 64 : reg->gpus);
    w->nlabels = 0;
    for (size_t i = 0; i < reg->n_labels && i < CONFIG_MAX_LABELS; i++)
        util_strlcpy(w->labels[w->nlabels++], reg->labels[i], CONFIG_LABEL_MAX);
    util_strlcpy(w->reserve_for, reg->reserve_for ? reg->reserve_for : "", sizeof w->reserve_for);
    /* What gang peers reach it at: its own word, else where it connects
     * from (wirecheck bounded both). */
    util_strlcpy(w->addr,
                 reg->advertise_addr && *reg->advertise_addr ? reg->advertise_addr
                 : peer_addr && *peer_addr                   ? peer_addr
                                                             : "127.0.0.1",
                 sizeof w->addr);
    w->port_lo = reg->gang_port_lo ? (int)reg->gang_port_lo : GANG_PORT_LO;
    w->port_hi = reg->gang_port_lo ? (int)reg->gang_port_hi : GANG_PORT_HI;
    w->nkinds = 0;
    for (size_t i = 0; i < reg->n_kinds && i < 16; i++)
        util_strlcpy(w->kinds[w->nkinds++], reg->kinds[i], sizeof w->kinds[0]);
    model_worker_seen(m, w);

    /* Reconcile: what we placed there but it no longer has is lost. */
    for (size_t i = 0; i < w->nheld;) {
        if (s_reg_holds(reg, &w->held[i])) {
            i++;
            continue;
        }
        lease_t l = w->held[i];
        s_drop_lease(w, &w->held[i]);
        char why[200];
        snprintf(why, sizeof why, "worker %s came back without this attempt", w->name);
        if (s_lease_lost(m, &l, why) < 0)
            return NULL;
    }
    /* What it has but we did not place there (any more) must go. */
    for (size_t i = 0; i < reg->n_held; i++) {
        if (s_find_lease(w, (int64_t)reg->held[i]->task_id, (int)reg->held[i]->attempt))
            continue;
        lease_t *nd = realloc(*drop, (*ndrop + 1) * sizeof *nd);
        if (!nd)
            return NULL;
        /* A worker back from a freeze (or a partition) with an attempt that
         * was requeued meanwhile: its result is fenced off, and recorded. */
        int64_t sid = (int64_t)reg->held[i]->task_id;
        int satt = (int)reg->held[i]->attempt;
        task_t *st = idmap_get(m->tasks, sid);
        char sd[300];
        snprintf(sd, sizeof sd,
                 "worker %s came back holding attempt %d, no longer its lease: "
                 "its result is discarded",
                 w->name, satt);
        m->stats.stale++;
        log_warn("task %lld: %s", (long long)sid, sd);
        if (store_event(m->st, st ? st->run->id : 0, sid, satt, "stale_result", w->name, sd) < 0) {
            free(nd);
            *drop = NULL;
            *ndrop = 0;
            return NULL;
        }
        *drop = nd;
        nd[*ndrop].task_id = (int64_t)reg->held[i]->task_id;
        nd[*ndrop].attempt = (int)reg->held[i]->attempt;
        (*ndrop)++;
    }
    json_t *labels = json_array();
    for (int i = 0; labels && i < w->nlabels; i++)
        json_array_append_new(labels, json_string(w->labels[i]));
    char *ls = labels ? json_dumps(labels, JSON_COMPACT) : NULL;
    json_decref(labels);
    char detail[300];
    snprintf(detail, sizeof detail, "%d slots, pid %u, %zu held", w->slots, reg->pid, reg->n_held);
    int rc = ls ? store_worker_up(m->st, w->name, w->host, w->slots, ls, detail, key) : -1;
    free(ls);
    if (rc < 0)
        return NULL;
    log_info("worker %s registered from %s: %d slots, %zu tasks held, %zu dropped", w->name,
             w->host, w->slots, reg->n_held, *ndrop);
    return w;
}

int model_worker_draining(model_t *m, worker_t *w, uint32_t drain_ms)
{
    if (w->draining)
        return 0;
    w->draining = 1;
    char detail[200];
    snprintf(detail, sizeof detail, "stopping: %zu task%s may finish within %.1fs", w->nheld,
             w->nheld == 1 ? "" : "s", (double)drain_ms / 1000.0);
    log_info("worker %s is draining (%s): no new assignments", w->name, detail);
    return store_worker_state(m->st, w->name, "gone", detail);
}

void model_worker_seen(model_t *m, worker_t *w)
{
    (void)m;
    w->last_seen_ms = util_mono_ms();
    w->last_seen_us = util_now_us();
    w->seen_dirty = 1;
}

/* ------------------------------------------------------ worker reports --- */

/* Records a report for an attempt that is not w's current lease (events
 * kind stale_result, stale_start, stale_log, stale_metric; docs/sql.md). */
static int s_stale(model_t *m, worker_t *w, int64_t task_id, int attempt, const char *what)
{
    m->stats.stale++;
    /* A stale result or start is always recorded. Stale logs, metrics and
     * the like are logged and recorded once per worker per 10 s with how
     * many came since: a worker repeating them can flood neither the log
     * nor drover.events (all of them count in stale_results). */
    int always = !strcmp(what, "result") || !strcmp(what, "start");
    int64_t now = util_mono_ms();
    if (!always && now < w->stale_next_ms) {
        w->stale_quiet++;
        return 0;
    }
    char detail[120];
    if (w->stale_quiet)
        snprintf(detail, sizeof detail, "%s rejected (and %llu more stale messages since)", what,
                 (unsigned long long)w->stale_quiet);
    else
        snprintf(detail, sizeof detail, "%s rejected", what);
    if (!always || now >= w->stale_next_ms) {
        log_warn(
            "stale %s for task %lld attempt %d from worker %s: not its current lease; ignored%s",
            what, (long long)task_id, attempt, w->name,
            w->stale_quiet ? " (more like it not logged one by one: see drover.events)" : "");
        w->stale_next_ms = now + 10000;
        w->stale_quiet = 0;
    }
    /* Kind stale_result, stale_start, ... (docs/sql.md), with its run. */
    char kind[32];
    snprintf(kind, sizeof kind, "stale_%s", what);
    task_t *t = idmap_get(m->tasks, task_id);
    return store_event(m->st, t ? t->run->id : 0, task_id, attempt, kind, w->name, detail) < 0 ? -1
                                                                                               : 0;
}

int model_task_started(model_t *m, worker_t *w, const Drover__Started *s)
{
    if (!s->lease)
        return 0;
    int64_t id = (int64_t)s->lease->task_id;
    int att = (int)s->lease->attempt;
    if (!s_find_lease(w, id, att))
        return s_stale(m, w, id, att, "start");
    task_t *t = idmap_get(m->tasks, id);
    if (!t || t->attempt != att || t->state != T(ASSIGNED))
        return 1; /* duplicate, or the run was cancelled meanwhile */
    t->started_us = s->started_at_us > 0 ? s->started_at_us : util_now_us();
    char detail[64];
    snprintf(detail, sizeof detail, "pid %u", s->pid);
    return s_set(m, t, T(RUNNING), detail) < 0 ? -1 : 1;
}

static void s_outcome_text(const Drover__Result *r, char *buf, size_t len)
{
    /* The worker explains deaths it understands (an OOM kill of the task's
     * cgroup, a memory rlimit): "killed: out of memory (limit 100M)". */
    int said = r->error && r->error[0];
    if (said && r->outcome == DROVER__OUTCOME__OUTCOME_SIGNALED) {
        snprintf(buf, len, "%s", r->error);
        return;
    }
    if (said && r->outcome == DROVER__OUTCOME__OUTCOME_EXITED && r->exit_code != 0) {
        snprintf(buf, len, "exited with code %d (%s)", r->exit_code, r->error);
        return;
    }
    switch (r->outcome) {
    case DROVER__OUTCOME__OUTCOME_EXITED:
        snprintf(buf, len, "exited with code %d", r->exit_code);
        break;
    case DROVER__OUTCOME__OUTCOME_SIGNALED:
        snprintf(buf, len, "killed by signal %d", r->term_signal);
        break;
    case DROVER__OUTCOME__OUTCOME_TIMED_OUT: snprintf(buf, len, "timed out"); break;
    case DROVER__OUTCOME__OUTCOME_KILLED: snprintf(buf, len, "killed on request"); break;
    case DROVER__OUTCOME__OUTCOME_SPAWN_FAILED:
        snprintf(buf, len, "could not start: %s", r->error ? r->error : "");
        break;
    default: snprintf(buf, len, "ended with an unknown outcome");
    }
}

static int s_attempt_succeeded(model_t *m, task_t *t, const char *where);

static task_t *s_member(const task_t *t, int rank)
{
    return &t->run->tasks[t->idx - t->gang_rank + rank];
}

/* A gang member's attempt exited 0: the gang succeeds when every member
 * has (docs/distributed.md); until then the member stays running, its
 * lease released. Returns 1 when it must wait, 0 when all succeeded now,
 * -1 on error. */
static int s_gang_member_done(model_t *m, task_t *t, const char *where)
{
    t->gang_done = 1;
    for (int r = 0; r < t->gang_n; r++) {
        const task_t *u = s_member(t, r);
        if (!u->gang_done || u->attempt != t->attempt)
            return store_event(m->st, t->run->id, t->id, t->attempt, "gang_member_done", where,
                               "exited 0; the gang succeeds when every member has") < 0
                       ? -1
                       : 1;
    }
    for (int r = 0; r < t->gang_n; r++) {
        task_t *u = s_member(t, r);
        u->gang_done = 0;
        if (s_attempt_succeeded(m, u, u == t ? where : u->worker) < 0)
            return -1;
    }
    return 0;
}

/* One fate (docs/distributed.md): member t's attempt ended without success
 * and t moved on (ready, retry_wait or failed). Every other member of the
 * attempt is stopped through the kill path (its lease stays held until its
 * worker reports the kill, so nothing is booked twice) and follows t: the
 * gang is retried, requeued or failed as one. */
static int s_gang_fate(model_t *m, task_t *t, const char *what)
{
    if (t->gang_n <= 1)
        return 0;
    char detail[600];
    snprintf(detail, sizeof detail, "gang member %s: %s", t->name, what);
    t->gang_done = 0;
    for (int r = 0; r < t->gang_n; r++) {
        task_t *u = s_member(t, r);
        if (u == t || s_terminal(u->state))
            continue;
        u->gang_done = 0;
        if (u->state == T(ASSIGNED) || u->state == T(RUNNING)) {
            worker_t *w = s_worker_by_name(m, u->worker);
            if (w && w->connected && s_find_lease(w, u->id, u->attempt))
                m->sink.kill(m->sink.ctx, w, u->id, u->attempt);
            int rc;
            if (t->state == T(READY)) {
                u->worker[0] = '\0';
                u->started_us = 0;
                rc = s_set(m, u, T(READY), detail);
            } else if (t->state == T(RETRY_WAIT)) {
                u->failures = t->failures;
                u->not_before_ms = t->not_before_ms;
                u->not_before_us = t->not_before_us;
                s_set_error(u, detail);
                rc = s_set(m, u, T(RETRY_WAIT), detail);
            } else {
                s_set_error(u, detail);
                rc = s_set(m, u, T(FAILED), detail);
                if (rc == 0)
                    rc = s_task_done(m, u);
            }
            if (rc < 0)
                return -1;
        } else if (t->state == T(FAILED)) {
            /* Never started with this attempt: nothing to stop. */
            if (s_set(m, u, T(CANCELLED), detail) < 0 || s_task_done(m, u) < 0)
                return -1;
        }
    }
    return 0;
}

/* The attempt of t succeeded: record it and unblock its children. */
static int s_attempt_succeeded(model_t *m, task_t *t, const char *where)
{
    s_set_error(t, NULL);
    if (s_set(m, t, T(SUCCEEDED), NULL) < 0)
        return -1;
    run_t *r = t->run;
    for (int i = 0; i < t->nchildren; i++) {
        task_t *c = &r->tasks[t->children[i]];
        if (--c->npending == 0 && c->state == T(PENDING) && s_set(m, c, T(READY), NULL) < 0)
            return -1;
    }
    log_debug("task %lld (run %lld step %s) attempt %d succeeded on %s", (long long)t->id,
              (long long)r->id, t->name, t->attempt, where);
    return s_task_done(m, t);
}

/* The attempt of t failed (what says how): retry after the backoff, or
 * fail the step. retryable=0 fails it at once (a refused spec). */
static int s_attempt_failed(model_t *m, task_t *t, const char *what, int retryable)
{
    t->failures++;
    s_set_error(t, what);
    if (retryable && t->failures <= t->retries) {
        int64_t delay =
            util_backoff_ms(t->retry_delay_ms, (unsigned)t->failures, m->cfg->retry_delay_cap_ms);
        t->not_before_ms = util_mono_ms() + delay;
        t->not_before_us = util_now_us() + delay * 1000;
        char detail[700];
        snprintf(detail, sizeof detail, "%s; retry %d of %d in %lldms", what, t->failures,
                 t->retries, (long long)delay);
        log_info("task %lld (step %s) attempt %d %s", (long long)t->id, t->name, t->attempt,
                 detail);
        if (s_set(m, t, T(RETRY_WAIT), detail) < 0)
            return -1;
        return s_gang_fate(m, t, what);
    }
    log_info("task %lld (run %lld step %s) attempt %d failed: %s", (long long)t->id,
             (long long)t->run->id, t->name, t->attempt, what);
    if (s_set(m, t, T(FAILED), what) < 0 || s_task_done(m, t) < 0)
        return -1;
    return s_gang_fate(m, t, what);
}

int model_task_result(model_t *m, worker_t *w, const Drover__Result *res)
{
    if (!res->lease)
        return 0;
    int64_t id = (int64_t)res->lease->task_id;
    int att = (int)res->lease->attempt;
    lease_t *l = s_find_lease(w, id, att);
    if (!l)
        return s_stale(m, w, id, att, "result");
    s_drop_lease(w, l);
    task_t *t = idmap_get(m->tasks, id);
    if (!t || t->attempt != att || (t->state != T(ASSIGNED) && t->state != T(RUNNING)))
        return 1; /* the run was cancelled while it ran */
    if (res->outcome == DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED) {
        /* A stopping worker handed it back: run it elsewhere, counting
         * neither a failure nor a loss (the attempt number still moves on:
         * it is the fencing token). */
        m->stats.requeued++;
        t->worker[0] = '\0';
        t->started_us = 0;
        char why[200];
        snprintf(why, sizeof why, "handed back by stopping worker %s", w->name);
        return s_set(m, t, T(READY), why) < 0 || s_gang_fate(m, t, why) < 0 ? -1 : 1;
    }
    if (res->started_at_us > 0 && !t->started_us)
        t->started_us = res->started_at_us;
    t->finished_us = res->finished_at_us > 0 ? res->finished_at_us : util_now_us();
    t->has_exit_code = res->outcome == DROVER__OUTCOME__OUTCOME_EXITED;
    t->exit_code = res->exit_code;
    int ok = t->has_exit_code && res->exit_code == 0;
    char what[700];
    s_outcome_text(res, what, sizeof what);
    int rejected = 0;
    /* An exec step with gates is judged even when it reported nothing. */
    const char *outs = res->outputs_json && *res->outputs_json ? res->outputs_json
                       : !strcmp(t->kind, "exec") && strstr(t->spec_json, "\"gates\":") ? "{}"
                                                                                        : NULL;
    if (outs && m->sink.outputs) {
        char err[512] = "";
        int rc = m->sink.outputs(m->sink.ctx, t, att, ok, outs, &rejected, err, sizeof err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            log_warn("task %lld attempt %d: outputs refused: %s", (long long)id, att, err);
            if (ok) {
                snprintf(what, sizeof what, "its outputs were refused: %s", err);
                ok = 0;
            }
        } else if (rejected && ok && !strcmp(t->kind, "exec")) {
            /* The step ran to the end; its gates said no (registry_apply). */
            snprintf(what, sizeof what, "rejected by its gates: %s", err);
            ok = 0;
        }
    }
    if (ok && m->sink.artifacts) {
        char err[512];
        int rc = m->sink.artifacts(m->sink.ctx, t, att, res, err, sizeof err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            log_warn("task %lld attempt %d: artifacts refused: %s", (long long)id, att, err);
            snprintf(what, sizeof what, "its artifacts were refused: %s", err);
            ok = 0;
        }
    }
    if (ok && t->gang_n > 1)
        return s_gang_member_done(m, t, w->name) < 0 ? -1 : 1;
    if (ok)
        return s_attempt_succeeded(m, t, w->name) < 0 ? -1 : 1;
    /* A gate's "no" is a verdict, not a fault: retrying cannot change it. */
    t->gate_rejected = rejected && !ok;
    return s_attempt_failed(m, t, what, !t->gate_rejected) < 0 ? -1 : 1;
}

/* Log and metric budgets count per attempt: a new attempt starts at 0.
 * (After a coordinator restart, an attempt's logs count from where its
 * stored bytes end (model_task_log), its metrics from 0: at most one more
 * max_metrics per restart.) */
static void s_usage_reset(task_t *t, int attempt)
{
    if (t->log_attempt == attempt)
        return;
    t->log_attempt = attempt;
    t->log_end[0] = t->log_end[1] = 0;
    t->log_bytes[0] = t->log_bytes[1] = 0;
    t->log_cut = 0;
    t->nmetrics = 0;
    t->metric_bytes = 0;
}

int model_task_metric(model_t *m, worker_t *w, const Drover__Metric *mt)
{
    if (!mt->lease || !mt->json)
        return 0;
    int64_t id = (int64_t)mt->lease->task_id;
    int att = (int)mt->lease->attempt;
    if (!s_find_lease(w, id, att))
        return s_stale(m, w, id, att, "metric");
    json_t *o = json_loads(mt->json, 0, NULL);
    int valid = o && json_is_object(o) && mt->seq < 1000000;
    json_decref(o);
    if (!valid)
        return 0; /* counted by the caller as a bad message */
    task_t *t = idmap_get(m->tasks, id);
    if (!t)
        return 1;
    s_usage_reset(t, att);
    /* A budget per attempt, like logs: what a task writes on fd 3 cannot
     * fill the database. Over it: dropped and counted by the caller. */
    size_t bytes = strlen(mt->json);
    if (t->nmetrics >= MODEL_METRICS_MAX || t->metric_bytes + bytes > MODEL_METRIC_BYTES_MAX)
        return 0;
    if (store_metric(m->st, id, att, (int)mt->seq, mt->json) < 0)
        return -1;
    t->nmetrics++;
    t->metric_bytes += bytes;
    t->run->version++;
    return 1;
}

int model_task_log(model_t *m, worker_t *w, const Drover__LogChunk *c)
{
    if (!c->lease || (c->stream != 1 && c->stream != 2))
        return 0;
    int64_t id = (int64_t)c->lease->task_id;
    int att = (int)c->lease->attempt;
    if (!s_find_lease(w, id, att))
        return s_stale(m, w, id, att, "log");
    if (c->data.len == 0)
        return 1;
    task_t *lt = idmap_get(m->tasks, id);
    if (!lt)
        return 1;
    s_usage_reset(lt, att);
    if (lt->log_ends_unread && att == lt->attempt) {
        /* An attempt that began before this process: its worker sends its
         * newest output again after registering anew (worker.c), and part
         * of it was stored then. */
        uint64_t ends[2];
        if (store_log_ends(m->st, id, att, ends) < 0)
            return -1;
        for (int k = 0; k < 2; k++)
            lt->log_end[k] = lt->log_bytes[k] = ends[k];
    }
    lt->log_ends_unread = 0;
    /* Only bytes past what this stream already stored are kept, and they
     * are counted as stored: overlapping or repeated offsets can neither
     * store a byte twice nor get past max_log_bytes. Past the cap a stream
     * keeps one marker and nothing more. */
    int si = (int)c->stream - 1, bit = 1 << si;
    uint64_t max = m->cfg->max_log_bytes, off = c->offset, end = c->offset + c->data.len;
    if (end < off || end <= lt->log_end[si])
        return 1; /* all of it stored already (a re-send), or nonsense */
    const uint8_t *data = c->data.data;
    if (off < lt->log_end[si]) {
        data += lt->log_end[si] - off;
        off = lt->log_end[si];
    }
    size_t len = (size_t)(end - off);
    if (lt->log_bytes[si] + len > max) {
        len = lt->log_bytes[si] < max ? (size_t)(max - lt->log_bytes[si]) : 0;
        if (!(lt->log_cut & bit)) {
            char marker[160];
            int ml =
                snprintf(marker, sizeof marker,
                         "\n[drover: log truncated at %llu bytes; raise coordinator.max_log_bytes "
                         "to keep more]\n",
                         (unsigned long long)max);
            if (len > 0 && store_log(m->st, id, att, (int)c->stream, off, data, len) < 0)
                return -1;
            if (store_log(m->st, id, att, (int)c->stream, off + len, (const uint8_t *)marker,
                          (size_t)ml) < 0)
                return -1;
            lt->log_cut |= bit;
            lt->log_bytes[si] = max;
            lt->log_end[si] = UINT64_MAX; /* nothing more, from any offset */
            lt->logseq++;
        }
        return 1;
    }
    if (store_log(m->st, id, att, (int)c->stream, off, data, len) < 0)
        return -1;
    lt->log_bytes[si] += len;
    lt->log_end[si] = end;
    lt->logseq++;
    return 1;
}

/* ------------------------------------------------------------ timers --- */

/* w is gone: requeue what it held, record it, forget it. */
static int s_worker_dead(model_t *m, worker_t *w, const char *why)
{
    log_warn("%s: declared dead, %zu task%s requeued", why, w->nheld, w->nheld == 1 ? "" : "s");
    for (size_t i = 0; i < w->nheld; i++)
        if (s_lease_lost(m, &w->held[i], why) < 0)
            return -1;
    s_drop_all_leases(w);
    if (store_worker_state(m->st, w->name, "dead", why) < 0)
        return -1;
    s_ident_forget(m, w);
    s_worker_unlink(m, w);
    s_worker_free(w);
    return 0;
}

int model_workers_evict_key(model_t *m, const char *key)
{
    int n = 0;
    for (worker_t *w = m->workers, *next; w; w = next) {
        next = w->next;
        if (!*key || strcmp(w->key, key) != 0)
            continue;
        char why[200];
        snprintf(why, sizeof why, "worker %s: its key '%s' was revoked", w->name, key);
        if (s_worker_dead(m, w, why) < 0)
            return -1;
        n++;
    }
    return n;
}

void model_workers_excuse(model_t *m, int64_t ms)
{
    int64_t now = util_mono_ms();
    for (worker_t *w = m->workers; w; w = w->next) {
        w->last_seen_ms += ms;
        if (w->last_seen_ms > now)
            w->last_seen_ms = now;
    }
}

int model_worker_evict(model_t *m, const char *name, const char *why)
{
    worker_t *w = s_worker_by_name(m, name);
    if (!w || !w->connected)
        return 0;
    return s_worker_dead(m, w, why) < 0 ? -1 : 1;
}

int model_tick(model_t *m, int64_t now_ms)
{
    for (worker_t *w = m->workers, *next; w; w = next) {
        next = w->next;
        if (now_ms - w->last_seen_ms <= m->cfg->worker_timeout_ms)
            continue;
        if (w->draining && w->nheld == 0) {
            /* It stopped as it said it would: not a death. */
            log_info("worker %s stopped after draining", w->name);
            s_ident_forget(m, w);
            s_worker_unlink(m, w);
            s_worker_free(w);
            continue;
        }
        char why[300];
        snprintf(why, sizeof why, "worker %s missed heartbeats for %.1fs", w->name,
                 (double)(now_ms - w->last_seen_ms) / 1000.0);
        if (s_worker_dead(m, w, why) < 0)
            return -1;
    }
    for (task_t *t = m->retry_head, *next; t; t = next) {
        next = t->qnext;
        if (now_ms >= t->not_before_ms && s_set(m, t, T(READY), "backoff elapsed") < 0)
            return -1;
    }
    if (s_await_tick(m) < 0)
        return -1;
    if (now_ms - m->last_seen_flush_ms >= 5000) {
        m->last_seen_flush_ms = now_ms;
        json_t *names = json_array();
        if (!names)
            return -1;
        for (worker_t *w = m->workers; w; w = w->next)
            if (w->seen_dirty && w->connected) {
                json_array_append_new(names, json_string(w->name));
                w->seen_dirty = 0;
            }
        int rc = 0;
        if (json_array_size(names) > 0) {
            char *s = json_dumps(names, JSON_COMPACT);
            rc = s ? store_workers_seen(m->st, s) : -1;
            free(s);
        }
        json_decref(names);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Starts an attempt that runs without a worker slot: a promote step, or a
 * step whose spec the coordinator refused to send. */
static int s_run_here(model_t *m, task_t *t, const char *refused)
{
    t->attempt++;
    util_strlcpy(t->worker, "coordinator", sizeof t->worker);
    t->started_us = util_now_us();
    t->finished_us = 0;
    t->has_exit_code = 0;
    if (s_set(m, t, T(ASSIGNED), NULL) < 0)
        return -1;
    char msg[512];
    int rc = 1;
    if (refused)
        util_strlcpy(msg, refused, sizeof msg);
    else
        rc = m->sink.run_inline(m->sink.ctx, t, msg, sizeof msg);
    if (rc < 0)
        return -1;
    t->finished_us = util_now_us();
    if (rc == 0) {
        log_info("run %lld step %s: %s", (long long)t->run->id, t->name, msg);
        return s_attempt_succeeded(m, t, "the coordinator");
    }
    return s_attempt_failed(m, t, msg, 0);
}

/* ------------------------------------------------------------ approval --- */

static int s_await_add(model_t *m, const task_t *t)
{
    if (m->nawait == m->capawait) {
        size_t nc = m->capawait ? m->capawait * 2 : 8;
        int64_t *na = realloc(m->await, nc * sizeof *na);
        if (!na)
            return -1;
        m->await = na;
        m->capawait = nc;
    }
    m->await[m->nawait++] = t->id;
    return 0;
}

/* An approve step became ready: resolve the model it is about (the sink;
 * a step that names none fails like a refused promote), then wait. */
static int s_await_start(model_t *m, task_t *t)
{
    char what[400] = "";
    int rc = m->sink.approval ? m->sink.approval(m->sink.ctx, t, what, sizeof what) : 0;
    if (rc < 0)
        return -1;
    if (rc == 1)
        return s_run_here(m, t, what);
    t->attempt++;
    util_strlcpy(t->worker, "coordinator", sizeof t->worker);
    t->started_us = util_now_us();
    t->finished_us = 0;
    t->has_exit_code = 0;
    if (s_set(m, t, T(ASSIGNED), NULL) < 0 || s_set(m, t, T(RUNNING), "awaiting approval") < 0)
        return -1;
    char detail[700];
    snprintf(detail, sizeof detail,
             "step %s awaits approval of model %s: drover approve %lld %s "
             "--reason TEXT (or drover reject)",
             t->name, *what ? what : "?", (long long)t->run->id, t->name);
    log_info("run %lld: %s", (long long)t->run->id, detail);
    if (store_event(m->st, t->run->id, t->id, t->attempt, "awaiting_approval", NULL, detail) < 0)
        return -1;
    return s_await_add(m, t);
}

int model_approval_verdict(model_t *m, task_t *t, int approve, const char *what, const char *name,
                           int version)
{
    DROVER_INVARIANT(t->approval && t->state == T(RUNNING));
    t->finished_us = util_now_us();
    json_t *rep =
        json_pack("{s:s, s:s}", "verdict", approve ? "approved" : "rejected", "detail", what);
    if (rep && name)
        json_object_set_new(rep, "model",
                            json_pack("{s:s, s:i}", "name", name, "version", version));
    char *doc = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
    json_decref(rep);
    int rc = doc ? store_report(m->st, t->id, t->attempt, "approve", approve, doc) : -1;
    free(doc);
    if (rc < 0)
        return -1;
    if (approve) {
        log_info("run %lld step %s approved", (long long)t->run->id, t->name);
        return s_attempt_succeeded(m, t, "a person");
    }
    t->gate_rejected = 1; /* a verdict on the model: the run ends rejected */
    return s_attempt_failed(m, t, what, 0);
}

/* Ends the waits whose step timeout passed (rejected) and forgets ended
 * ones. O(awaiting steps) per tick. */
static int s_await_tick(model_t *m)
{
    int64_t now_us = util_now_us();
    for (size_t i = 0; i < m->nawait;) {
        task_t *t = idmap_get(m->tasks, m->await[i]);
        if (!t || !t->approval || t->state != T(RUNNING)) {
            m->await[i] = m->await[--m->nawait];
            continue;
        }
        if (t->timeout_ms > 0 && now_us >= t->started_us + t->timeout_ms * 1000) {
            char what[200];
            snprintf(what, sizeof what, "no verdict within its timeout (%.0fs): rejected",
                     (double)t->timeout_ms / 1000.0);
            if (model_approval_verdict(m, t, 0, what, NULL, 0) < 0)
                return -1;
            continue; /* dropped on the next pass */
        }
        i++;
    }
    return 0;
}

static void s_await_why(const task_t *t, char *msg, size_t msglen)
{
    int64_t waited = (util_now_us() - t->started_us) / 1000000;
    size_t o = (size_t)snprintf(msg, msglen,
                                "%s is awaiting approval (for %llds): drover approve "
                                "%lld %s --reason TEXT, or drover reject",
                                t->name, (long long)(waited > 0 ? waited : 0),
                                (long long)t->run->id, t->name);
    if (t->timeout_ms > 0 && o < msglen) {
        int64_t left = t->started_us / 1000 + t->timeout_ms - util_now_us() / 1000;
        snprintf(msg + o, msglen - o, "; rejected unless decided within %.0fs",
                 left > 0 ? (double)left / 1000.0 : 0.0);
    }
}

int model_approval_find(model_t *m, int64_t run_id, const char *step, task_t **out, char *msg,
                        size_t msglen)
{
    run_t *r = model_run(m, run_id);
    *out = NULL;
    if (!r || r->state != R(RUNNING)) {
        errno = ENOENT;
        return -1;
    }
    task_t *t = NULL;
    for (int i = 0; i < r->ntasks && !t; i++)
        if (strcmp(r->tasks[i].name, step) == 0)
            t = &r->tasks[i];
    if (!t) {
        snprintf(msg, msglen, "run %lld has no step '%s' (see: drover status %lld)",
                 (long long)run_id, step, (long long)run_id);
        errno = ESRCH;
        return -1;
    }
    if (!t->approval) {
        snprintf(msg, msglen,
                 "step '%s' of run %lld is a %s step, not an approve step: there is "
                 "nothing to approve",
                 step, (long long)run_id, t->kind);
        errno = EINVAL;
        return -1;
    }
    if (t->state != T(RUNNING)) {
        if (t->state == T(SUCCEEDED))
            snprintf(msg, msglen, "step '%s' of run %lld was already approved", step,
                     (long long)run_id);
        else if (s_terminal(t->state))
            snprintf(msg, msglen, "step '%s' of run %lld has already ended: %s%s%s", step,
                     (long long)run_id, wire_task_state_name(t->state), t->error ? " — " : "",
                     t->error ? t->error : "");
        else
            snprintf(msg, msglen,
                     "step '%s' of run %lld is not awaiting approval yet (%s: see "
                     "drover why %lld %s)",
                     step, (long long)run_id, wire_task_state_name(t->state), (long long)run_id,
                     step);
        errno = EALREADY;
        return -1;
    }
    *out = t;
    return 0;
}

/* Grows *p to hold n elements of size sz (kept between picks). */
static int s_grow(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < n)
        c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}
#define GROW(p, cap, n) s_grow((void **)&(p), &(cap), (n), sizeof *(p))

/* The planning limit of q's steps without a timeout. */
static int64_t s_default_limit_ms(const model_t *m, const mqueue_t *q)
{
    return q->time_limit_s ? (int64_t)q->time_limit_s * 1000 : m->cfg->default_time_limit_ms;
}

/* The placement shape of gang member t (place.h), in queue qi of m->tab. */
static place_step_t s_gang_shape(const task_t *t, size_t qi)
{
    return (place_step_t){
        .name = t->name,
        .kind = t->kind,
        .cpus = t->res.cpus,
        .memory = t->res.memory,
        .gpus = t->res.gpus,
        .labels = (const char *const *)t->res.labels,
        .nlabels = t->res.nlabels,
        .priority = t->run->priority,
        .seq = s_member(t, 0)->ready_seq,
        .ready_ms = s_member(t, 0)->ready_ms,
        .limit_ms = t->timeout_ms,
        .queue = qi,
        .gang = (uint64_t)s_member(t, 0)->id,
    };
}

/* Fills m->tab from the model: every worker with its leases (each ending
 * at its start plus its step's timeout or the default limit), every queue
 * (open = not paused, below its limit) and the head of every ready bucket
 * that is not inline; plus `extra` when it is not a head (for why). */
static int s_table(model_t *m, task_t *extra)
{
    int64_t now_ms = util_mono_ms(), now_us = util_now_us();
    size_t nw = 0, nl = 0, ns = 0, nq = 0;
    for (worker_t *w = m->workers; w; w = w->next) {
        nw++;
        nl += w->nheld;
    }
    if (GROW(m->pw, m->cap_pw, nw) < 0 || GROW(m->pw_of, m->cap_pw_of, nw) < 0 ||
        GROW(m->pl, m->cap_pl, nl) < 0)
        return -1;
    nw = nl = 0;
    for (worker_t *w = m->workers; w; w = w->next) {
        place_worker_t *p = &m->pw[nw];
        *p = (place_worker_t){
            .name = w->name,
            .connected = w->connected,
            .draining = w->draining,
            .slots = (uint32_t)w->slots,
            .prefetch = (uint32_t)w->prefetch,
            .memory = w->memory,
            .gpus = (uint32_t)w->gpus,
            .used_cpus = w->used_cpus,
            .used_memory = w->used_memory,
            .used_gpus = w->used_gpus,
            .reserve_for = w->reserve_for,
            .leases = &m->pl[nl],
            .nleases = w->nheld,
        };
        for (int i = 0; i < w->nlabels && i < PLACE_MAX_LABELS; i++)
            p->labels[p->nlabels++] = w->labels[i];
        for (int i = 0; i < w->nkinds && i < PLACE_MAX_KINDS; i++)
            p->kinds[p->nkinds++] = w->kinds[i];
        const task_t *g = w->gang_hold ? idmap_get(m->tasks, w->gang_hold) : NULL;
        if (g && w->gang_hold_n > 0) {
            p->hold_gang = (uint64_t)g->id;
            p->hold = s_gang_shape(g, 0);
            p->hold_n = (uint32_t)w->gang_hold_n;
        }
        for (size_t i = 0; i < w->nheld; i++) {
            const lease_t *l = &w->held[i];
            const task_t *t = idmap_get(m->tasks, l->task_id);
            int64_t limit = !t                  ? m->cfg->default_time_limit_ms
                            : t->timeout_ms > 0 ? t->timeout_ms
                                                : s_default_limit_ms(m, t->run->queue);
            int64_t start = now_ms; /* assigned, not started yet: from now */
            if (t && t->started_us > 0 && t->started_us < now_us)
                start = now_ms - (now_us - t->started_us) / 1000;
            m->pl[nl++] = (place_lease_t){.cpus = l->cpus,
                                          .memory = l->memory,
                                          .gpus = (uint32_t)__builtin_popcountll(l->gpumask),
                                          .end_ms = start + limit};
        }
        m->pw_of[nw++] = w;
    }
    for (mqueue_t *q = m->queues; q; q = q->next) {
        nq++;
        for (bucket_t *b = q->buckets; b; b = b->next)
            ns += b->head != NULL;
    }
    ns += extra != NULL;
    if (GROW(m->pq, m->cap_pq, nq) < 0 || GROW(m->pq_of, m->cap_pq_of, nq) < 0 ||
        GROW(m->ps, m->cap_ps, ns) < 0 || GROW(m->ps_of, m->cap_ps_of, ns) < 0)
        return -1;
    size_t rr = 0;
    nq = ns = 0;
    for (mqueue_t *q = m->queues; q; q = q->next) {
        if (q == m->rr)
            rr = nq;
        m->pq[nq] = (place_queue_t){
            .open = !q->paused && !(q->limit && q->running >= q->limit),
            .default_limit_ms = s_default_limit_ms(m, q),
        };
        m->pq_of[nq] = q;
        for (bucket_t *b = q->buckets; b; b = b->next)
            for (int k = 0; k < 2; k++) {
                /* k = 0: the head; k = 1: extra, when it waits behind it. */
                task_t *t = k == 0 ? b->head : extra;
                if (!t || (k == 0 && m->sink.is_inline && m->sink.is_inline(t->kind)))
                    continue;
                if (k == 1 && (t->queued != 1 || t->bucket != b || t == b->head))
                    continue;
                m->ps[ns] = (place_step_t){
                    .kind = t->kind,
                    .cpus = t->res.cpus,
                    .memory = t->res.memory,
                    .gpus = t->res.gpus,
                    .labels = (const char *const *)t->res.labels,
                    .nlabels = t->res.nlabels,
                    .priority = t->run->priority,
                    .seq = t->ready_seq,
                    .ready_ms = t->ready_ms,
                    .limit_ms = t->timeout_ms,
                    .queue = nq,
                    .name = t->name,
                };
                m->ps_of[ns++] = t;
            }
        nq++;
    }
    m->tab = (place_table_t){
        .workers = m->pw,
        .nworkers = nw,
        .steps = m->ps,
        .nsteps = ns,
        .queues = m->pq,
        .nqueues = nq,
        .rr = rr,
        .now_ms = now_ms,
        .age_ms_per_point = m->cfg->priority_aging_ms,
        .policy = PLACE_POLICY_RESERVE,
    };
    return 0;
}

/* Places t on w with the GPUs in gpus (placement chose both). */
static int s_place(model_t *m, task_t *t, worker_t *w, uint64_t gpus, const char *detail)
{
    char *spec = NULL;
    if (m->sink.prepare) {
        char err[512];
        int rc = m->sink.prepare(m->sink.ctx, t, &spec, err, sizeof err);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return s_run_here(m, t, err);
    }
    if (s_add_lease(w, t, t->attempt + 1, gpus) < 0) {
        free(spec);
        return -1;
    }
    t->attempt++;
    t->gpumask = gpus;
    t->log_cut = 0;
    util_strlcpy(t->worker, w->name, sizeof t->worker);
    t->started_us = 0;
    t->finished_us = 0;
    t->has_exit_code = 0;
    t->reserved_on[0] = '\0';
    if (s_set(m, t, T(ASSIGNED), detail) < 0) {
        free(spec);
        return -1;
    }
    m->sink.assign(m->sink.ctx, w, t, spec ? spec : t->spec_json);
    free(spec);
    return 0;
}

/* Runs the inline heads (promote) of open queues: they need no worker.
 * Approve heads start waiting even in a full queue: a person, not a slot,
 * is what they wait for. */
static int s_run_inline(model_t *m)
{
    if (!m->sink.is_inline)
        return 0;
    for (mqueue_t *q = m->queues; q; q = q->next) {
        if (q->paused)
            continue;
        int full = q->limit && q->running >= q->limit;
        for (bucket_t *b = q->buckets; b; b = b->next)
            while (b->head && (b->head->approval || (!full && m->sink.is_inline(b->head->kind))))
                if ((b->head->approval ? s_await_start(m, b->head) : s_run_here(m, b->head, NULL)) <
                    0)
                    return -1;
    }
    return 0;
}

/* Records a `reserved` event when a step's reservation lands on a worker
 * it was not on (not on every pick: the time moves, the worker rarely). */
static int s_note_reservations(model_t *m, const place_reservation_t *res, size_t nres)
{
    for (size_t i = 0; i < nres; i++) {
        task_t *t = m->ps_of[res[i].step];
        const char *wn = res[i].worker == PLACE_NONE ? "" : m->pw_of[res[i].worker]->name;
        if (strcmp(t->reserved_on, wn) == 0)
            continue;
        util_strlcpy(t->reserved_on, wn, sizeof t->reserved_on);
        if (!*wn)
            continue;
        char detail[160];
        snprintf(detail, sizeof detail, "fits in %.0fs at the latest",
                 (double)(res[i].at_ms - m->tab.now_ms) / 1000.0);
        log_info("run %lld step %s: reserved %s (%s)", (long long)t->run->id, t->name, wn, detail);
        if (store_event(m->st, t->run->id, t->id, t->attempt, "reserved", wn, detail) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- gangs --- */

/* The port reserved for member rank on w: the first free one of w's range
 * from an offset that moves with the gang and the attempt (a retry does
 * not meet its predecessor's socket in TIME_WAIT). 0 when all are taken. */
static int s_gang_port(model_t *m, const worker_t *w, const task_t *g, int attempt,
                       const gang_member_t *mb, int rank)
{
    int range = w->port_hi - w->port_lo + 1;
    if (range <= 0)
        return 0;
    int off =
        (int)(((uint64_t)g->id * 7 + (uint64_t)attempt * 13 + (uint64_t)rank) % (uint64_t)range);
    for (int k = 0; k < range; k++) {
        int port = w->port_lo + (off + k) % range, used = 0;
        for (size_t i = 0; i < w->nheld && !used; i++) {
            const task_t *t = idmap_get(m->tasks, w->held[i].task_id);
            used = t && t->gang_port == port;
        }
        for (int r = 0; r < rank && !used; r++)
            used = mb[r].worker == (const void *)w && mb[r].port == port;
        if (!used)
            return port;
    }
    return 0;
}

/* Starts every member of gang g (rank 0) on the workers m->pw_of[wk[r]]
 * with GPUs gm[r], in one go: the same iteration's transaction records
 * all of them. Returns 1 started, 0 not (no free port), -1 on error. */
static int s_gang_start(model_t *m, task_t *g, const size_t *wk, const uint64_t *gm)
{
    int n = g->gang_n, att = 0;
    gang_member_t mb[GANG_MAX_NODES];
    /* The attempt number is the gang's: every member takes the same one. */
    for (int r = 0; r < n; r++)
        if (s_member(g, r)->attempt > att)
            att = s_member(g, r)->attempt;
    for (int r = 0; r < n; r++) {
        worker_t *w = m->pw_of[wk[r]];
        mb[r] = (gang_member_t){.worker = w, .addr = w->addr, .port = 0};
        if (!(mb[r].port = s_gang_port(m, w, g, att + 1, mb, r))) {
            log_warn("run %lld step %s: no free gang port on worker %s (%d-%d): waiting",
                     (long long)g->run->id, g->name, w->name, w->port_lo, w->port_hi);
            return 0;
        }
    }
    size_t blen = strlen(g->name);
    if (gang_member_name(g->name, &blen) < 0)
        blen = strlen(g->name);
    char id[300];
    snprintf(id, sizeof id, "%lld.%.*s.%d", (long long)g->run->id, (int)blen, g->name, att + 1);
    char *hf = gang_hostfile(mb, (size_t)n);
    if (!hf)
        return -1;
    for (int r = 0; r < n; r++) {
        task_t *t = s_member(g, r);
        free(t->gang_env);
        free(t->gang_hostfile);
        t->gang_env = gang_env(mb, (size_t)n, (size_t)r, id);
        t->gang_hostfile = strdup(hf);
        if (!t->gang_env || !t->gang_hostfile) {
            free(hf);
            return -1;
        }
        t->gang_port = mb[r].port;
        t->gang_done = 0;
        t->attempt = att;
    }
    free(hf);
    log_info("run %lld gang %s: %d members start (MASTER %s:%d)", (long long)g->run->id, id, n,
             mb[0].addr, mb[0].port);
    for (int r = 0; r < n; r++) {
        task_t *t = s_member(g, r);
        if (t->state != T(READY))
            break; /* one fate moved it (a member's spec was refused) */
        char detail[400];
        snprintf(detail, sizeof detail, "gang %s: rank %d of %d", id, r, n);
        if (s_place(m, t, m->pw_of[wk[r]], gm[r], detail) < 0)
            return -1;
    }
    g->gang_hold_ms = 0;
    g->gang_cool_ms = 0;
    return 1;
}

/* Gangs whose members are all ready, placed all at once or not at all, in
 * rank order (priority, then readiness), before the single steps of the
 * dispatch. One that cannot start holds the workers where its members fit
 * now (place.h PLACE_HELD) so single steps do not starve it, for at most
 * gang_reserve_max at a time; then it lets go for as long before holding
 * again (docs/distributed.md "Placement"). Each gang considered costs a
 * placement table and a pass over the ready steps, so one dispatch looks at
 * the best-ranked GANG_EVAL_MAX only: a run of thousands of small gangs
 * cannot stall the loop; the rest wait their turn by rank. */
#define GANG_EVAL_MAX 32
static int s_gang_dispatch(model_t *m)
{
    for (worker_t *w = m->workers; w; w = w->next) {
        w->gang_hold = 0;
        w->gang_hold_n = 0;
    }
    if (m->ngangs == 0)
        return 0;
    int rc = -1;
    task_t *wait[GANG_EVAL_MAX];
    place_reservation_t *res = NULL;
    size_t cap_res = 0, nwait = 0;
    for (size_t i = 0; i < m->ngangs;) {
        task_t *g = idmap_get(m->tasks, m->gangs[i]);
        if (!g || g->run->state != R(RUNNING)) {
            m->gangs[i] = m->gangs[--m->ngangs];
            continue;
        }
        i++;
        int ready = !g->run->queue->paused;
        for (int r = 0; r < g->gang_n && ready; r++)
            ready = s_member(g, r)->state == T(READY) && !s_member(g, r)->held;
        if (!ready) {
            g->gang_hold_ms = 0;
            g->gang_fit = 0;
            continue;
        }
        /* Keep the best GANG_EVAL_MAX in rank order (insertion into a
         * bounded array: O(gangs x GANG_EVAL_MAX), not O(gangs^2)). */
        size_t k = nwait < GANG_EVAL_MAX ? nwait++ : GANG_EVAL_MAX;
        while (k > 0 && (wait[k - 1]->run->priority < g->run->priority ||
                         (wait[k - 1]->run->priority == g->run->priority &&
                          wait[k - 1]->ready_seq > g->ready_seq))) {
            if (k < GANG_EVAL_MAX)
                wait[k] = wait[k - 1];
            k--;
        }
        if (k < GANG_EVAL_MAX)
            wait[k] = g;
    }
    int64_t now = util_mono_ms(), hold_max = m->cfg->gang_reserve_max_ms;
    for (size_t k = 0; k < nwait; k++) {
        task_t *g = wait[k];
        mqueue_t *q = g->run->queue;
        if (q->limit && q->running + (uint32_t)g->gang_n > q->limit)
            continue;
        if (s_table(m, NULL) < 0 || GROW(res, cap_res, m->tab.nqueues + 1) < 0)
            goto done;
        size_t qi = 0;
        while (qi < m->tab.nqueues && m->pq_of[qi] != q)
            qi++;
        place_step_t ps = s_gang_shape(g, qi);
        int nres = place_reservations(&m->tab, res);
        size_t wk[GANG_MAX_NODES];
        uint64_t gm[GANG_MAX_NODES];
        uint32_t nfit = 0;
        int p = nres < 0 ? -1
                         : place_gang(&m->tab, &ps, (uint32_t)g->gang_n, !g->gang_pack, res,
                                      (size_t)nres, wk, gm, &nfit);
        if (p < 0)
            goto done;
        g->gang_fit = (int)nfit;
        if (place_gang_yields(&m->tab, &ps, wk, nfit))
            continue; /* a better-ranked single step goes first */
        if (p == 1) {
            int st = s_gang_start(m, g, wk, gm);
            if (st < 0)
                goto done;
            if (st == 1)
                continue;
        }
        if (hold_max <= 0 || now < g->gang_cool_ms || nfit == 0)
            continue;
        char detail[300];
        if (!g->gang_hold_ms) {
            g->gang_hold_ms = now;
            snprintf(detail, sizeof detail,
                     "%u of %d members placeable: holding their workers for at most %.0fs", nfit,
                     g->gang_n, (double)hold_max / 1000.0);
            log_info("run %lld step %s: %s", (long long)g->run->id, g->name, detail);
            if (store_event(m->st, g->run->id, g->id, g->attempt, "gang_hold", NULL, detail) < 0)
                goto done;
        } else if (now - g->gang_hold_ms >= hold_max) {
            g->gang_hold_ms = 0;
            g->gang_cool_ms = now + hold_max;
            snprintf(detail, sizeof detail,
                     "%u of %d members placeable after %.0fs: workers released for %.0fs", nfit,
                     g->gang_n, (double)hold_max / 1000.0, (double)hold_max / 1000.0);
            log_info("run %lld step %s: %s", (long long)g->run->id, g->name, detail);
            if (store_event(m->st, g->run->id, g->id, g->attempt, "gang_release", NULL, detail) < 0)
                goto done;
            continue;
        }
        for (uint32_t i = 0; i < nfit; i++) {
            worker_t *w = m->pw_of[wk[i]];
            if (!w->gang_hold)
                w->gang_hold = g->id;
            if (w->gang_hold == g->id)
                w->gang_hold_n++;
        }
    }
    rc = 0;
done:
    free(res);
    return rc;
}

int model_dispatch(model_t *m)
{
    /* Nothing placement looks at changed: skip the table, except once a
     * second (aging and reservations move with time). */
    int64_t now = util_mono_ms();
    size_t ready = 0;
    for (mqueue_t *q = m->queues; q; q = q->next)
        ready += q->ready;
    if ((ready == 0 && m->ngangs == 0) || (!m->dirty && now - m->dispatched_ms < 1000))
        return 0;
    m->dirty = 0;
    m->dispatched_ms = now;
    if (s_run_inline(m) < 0 || s_gang_dispatch(m) < 0)
        return -1;
    /* One pick at a time: each placement changes the load, the leases and
     * the bucket heads the next pick sees. Queues take turns (place.h). */
    place_reservation_t *res = NULL;
    size_t cap_res = 0;
    int rc = -1;
    for (;;) {
        if (s_table(m, NULL) < 0 || GROW(res, cap_res, m->tab.nqueues + 1) < 0)
            goto done;
        if (m->tab.nsteps == 0)
            break;
        place_decision_t d;
        size_t nres = 0;
        int p = place_pick(&m->tab, &d, res, &nres);
        if (p < 0 || s_note_reservations(m, res, nres) < 0)
            goto done;
        if (p == 0)
            break;
        task_t *t = m->ps_of[d.step];
        char detail[200] = "";
        t->backfill_ahead = 0;
        if (d.backfill) {
            const task_t *a = m->ps_of[d.ahead_of];
            snprintf(detail, sizeof detail, "backfill: ahead of run %lld step %s",
                     (long long)a->run->id, a->name);
            t->backfill_ahead = a->id;
        }
        mqueue_t *q = t->run->queue;
        if (s_place(m, t, m->pw_of[d.worker], d.gpumask, d.backfill ? detail : NULL) < 0)
            goto done;
        /* The next turn starts after the queue served. */
        m->rr = q->next ? q->next : m->queues;
    }
    rc = 0;
done:
    free(res);
    return rc;
}

void model_after_commit(model_t *m)
{
    for (size_t i = 0; i < m->nfinished; i++) {
        run_t *r = m->finished[i];
        for (int k = 0; k < r->ntasks; k++) {
            s_unqueue(m, &r->tasks[k]);
            if (m->tasks)
                idmap_del(m->tasks, r->tasks[k].id);
        }
        if (m->runs)
            idmap_del(m->runs, r->id);
        s_run_free(r);
    }
    m->nfinished = 0;
}

run_t *model_run(model_t *m, int64_t run_id)
{
    return idmap_get(m->runs, run_id);
}
task_t *model_task(model_t *m, int64_t task_id)
{
    return idmap_get(m->tasks, task_id);
}
worker_t *model_workers(model_t *m)
{
    return m->workers;
}
size_t model_active_runs(model_t *m)
{
    return idmap_count(m->runs);
}
model_stats_t model_stats(const model_t *m)
{
    return m->stats;
}

/* ------------------------------------------------------------ queues --- */

int model_queues_load(model_t *m)
{
    PGresult *r = store_queues_load(m->st);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        mqueue_t *q = s_queue_get(m, db_get_str(r, i, 0));
        if (!q) {
            PQclear(r);
            return -1;
        }
        q->limit = (uint32_t)db_get_i64(r, i, 1);
        q->paused = strcmp(db_get_str(r, i, 2), "t") == 0;
        q->time_limit_s = (uint32_t)db_get_i64(r, i, 3);
        q->removed = 0;
    }
    PQclear(r);
    /* The default queue always exists (migration 004 inserts its row). */
    return s_queue_get(m, "default") ? 0 : -1;
}

/* A queue submits may name: created by an admin (or "default"), not removed. */
static mqueue_t *s_queue_find(model_t *m, const char *name)
{
    for (mqueue_t *q = m->queues; q; q = q->next)
        if (!q->removed && strcmp(q->name, name) == 0)
            return q;
    return NULL;
}

/* What a run of req will be, for the checks before there is one:
 * stand-ins for what only a run knows. */
static void s_origin_standin(const Drover__SubmitRequest *req, model_origin_t *o,
                             const char **files)
{
    files[0] = "/trigger/new.csv";
    *o = (model_origin_t){.due_at_us = req->schedule ? 946684800LL * 1000000 : 0,
                          .trigger = req->trigger != NULL,
                          .files = files,
                          .nfiles = 1,
                          .rows = 1};
}

int model_submit_rules_unsubst(const Drover__SubmitRequest *req, char *err, size_t errlen)
{
    const char *files[1];
    model_origin_t o;
    s_origin_standin(req, &o, files);
    model_subst_t x;
    if (model_subst(req, &o, 1, &x, err, errlen) < 0)
        return -1;
    int rc = model_submit_rules(&x.req, err, errlen);
    int e = errno;
    model_subst_free(&x);
    errno = e;
    return rc;
}

int model_submit_check(model_t *m, const Drover__SubmitRequest *req, char *err, size_t errlen)
{
    if (model_submit_rules_unsubst(req, err, errlen) < 0)
        return -1;
    return model_submit_queue_check(m, req, err, errlen);
}

void model_queue_depths(model_t *m, model_depth_f fn, void *ctx)
{
    for (mqueue_t *q = m->queues; q; q = q->next) {
        if (q->removed)
            continue;
        int first = 1;
        /* Buckets are by priority descending: add up the shapes of one. */
        for (bucket_t *b = q->buckets; b;) {
            int prio = b->priority;
            size_t n = 0;
            for (; b && b->priority == prio; b = b->next)
                n += b->n;
            if (n) {
                fn(ctx, q->name, prio, n, q->running, first);
                first = 0;
            }
        }
        if (first)
            fn(ctx, q->name, 0, 0, q->running, 1);
    }
}

char *model_queues_json(model_t *m)
{
    json_t *arr = json_array();
    for (mqueue_t *q = m->queues; arr && q; q = q->next) {
        if (q->removed)
            continue;
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:b, s:I}", "name", q->name, "ready",
                              (json_int_t)q->ready, "running", (json_int_t)q->running, "limit",
                              (json_int_t)q->limit, "paused", q->paused, "time_limit_s",
                              (json_int_t)(q->time_limit_s ? (int64_t)q->time_limit_s
                                                           : m->cfg->default_time_limit_ms / 1000));
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    char *out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return out;
}

typedef struct {
    const mqueue_t *q;
    int n;
} queue_use_t;

static void s_queue_use_cb(void *ctx, void *v)
{
    queue_use_t *c = ctx;
    const run_t *r = v;
    if (r->state == R(RUNNING) && r->queue == c->q)
        c->n++;
}

int model_queue_set(model_t *m, const char *name, const char *op, uint32_t limit, char *msg,
                    size_t msglen)
{
    m->dirty = 1;
    if (!util_name_ok(name, STEPKIND_QUEUE_MAX)) {
        snprintf(msg, msglen, "queue name '%.*s' is invalid (use " UTIL_NAME_RULE ")",
                 STEPKIND_QUEUE_MAX + 8, name, STEPKIND_QUEUE_MAX);
        return 1;
    }
    mqueue_t *q = s_queue_find(m, name);
    if (strcmp(op, "create") == 0) {
        if (q) {
            snprintf(msg, msglen, "queue %s already exists (drover queue limit|pause|resume %s)",
                     name, name);
            return 2;
        }
        /* A removed queue comes back as new: its old settings are gone. */
        if (!(q = s_queue_get(m, name)))
            return -1;
        q->removed = 0;
        q->paused = 0;
        q->limit = limit;
        q->time_limit_s = 0;
    } else if (!q) {
        snprintf(msg, msglen,
                 "no queue named '%s' (see: drover queue list; an admin creates one "
                 "with drover queue create %s)",
                 name, name);
        return 1;
    } else if (strcmp(op, "rm") == 0) {
        if (strcmp(q->name, "default") == 0) {
            snprintf(msg, msglen, "the default queue cannot be removed");
            return 2;
        }
        queue_use_t use = {q, 0};
        idmap_each(m->runs, s_queue_use_cb, &use);
        if (use.n > 0) {
            snprintf(msg, msglen,
                     "queue %s has %d active run%s (waiting or running work); cancel "
                     "them or wait for them to finish first",
                     q->name, use.n, use.n == 1 ? "" : "s");
            return 2;
        }
        if (store_queue_delete(m->st, q->name) < 0)
            return -1;
        q->removed = 1;
        snprintf(msg, msglen, "queue %s removed", q->name);
        return 0;
    } else if (strcmp(op, "pause") == 0) {
        q->paused = 1;
    } else if (strcmp(op, "resume") == 0) {
        q->paused = 0;
    } else if (strcmp(op, "limit") == 0) {
        q->limit = limit;
    } else if (strcmp(op, "time_limit") == 0) {
        q->time_limit_s = limit; /* seconds here */
    } else {
        snprintf(msg, msglen,
                 "unknown queue operation '%.32s' (create, rm, pause, resume, limit, "
                 "time_limit)",
                 op);
        return 1;
    }
    if (store_queue_save(m->st, q->name, q->limit, q->paused, q->time_limit_s) < 0)
        return -1;
    char tl[64] = "";
    if (q->time_limit_s)
        snprintf(tl, sizeof tl, ", time limit of steps without a timeout %us", q->time_limit_s);
    if (q->limit)
        snprintf(msg, msglen, "queue %s: %s, at most %u running%s", q->name,
                 q->paused ? "paused" : "running", q->limit, tl);
    else
        snprintf(msg, msglen, "queue %s: %s, no limit%s", q->name, q->paused ? "paused" : "running",
                 tl);
    return 0;
}

/* --------------------------------------------------------------- why --- */

/* `drover why` of a waiting gang (g is rank 0): how many members are
 * placeable now and where, and whether it holds workers. */
static int s_gang_why(model_t *m, task_t *g, char *msg, size_t msglen)
{
    size_t o = 0, bl = strlen(g->name);
    gang_member_name(g->name, &bl);
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (o < msglen) {                                                                          \
            int n_ = snprintf(msg + o, msglen - o, __VA_ARGS__);                                   \
            o += n_ > 0 ? (size_t)n_ : 0;                                                          \
        }                                                                                          \
    } while (0)
    PUT("%.*s is a gang of %d", (int)bl, g->name, g->gang_n);
    for (int r = 0; r < g->gang_n; r++) {
        const task_t *u = s_member(g, r);
        if (u->state != T(READY) || u->held) {
            PUT(": it waits for member %s (%s%s)", u->name, wire_task_state_name(u->state),
                u->held ? ", held" : "");
            return 0;
        }
    }
    mqueue_t *q = g->run->queue;
    if (q->paused) {
        PUT("; queue %s is paused (drover queue resume %s)", q->name, q->name);
        return 0;
    }
    if (q->limit && q->running + (uint32_t)g->gang_n > q->limit) {
        PUT("; queue %s has room for %u more running steps, the gang needs %d at once", q->name,
            q->limit > q->running ? q->limit - q->running : 0, g->gang_n);
        return 0;
    }
    if (s_table(m, NULL) < 0) {
        PUT(" (out of memory explaining more)");
        return 0;
    }
    int64_t now = util_mono_ms(), max = m->cfg->gang_reserve_max_ms;
    PUT(": %d of %d members placeable now (%s); all start together or none", g->gang_fit, g->gang_n,
        g->gang_pack ? "several may share a worker" : "each on its own worker");
    if (g->gang_hold_ms)
        PUT("; it holds the workers where they fit for %.0fs more (gang_reserve_max %.0fs)",
            (double)(g->gang_hold_ms + max - now) / 1000.0, (double)max / 1000.0);
    else if (g->gang_cool_ms > now)
        PUT("; it released the workers it held and holds again in %.0fs",
            (double)(g->gang_cool_ms - now) / 1000.0);
    PUT(". Workers:");
    place_step_t ps = s_gang_shape(g, 0);
    size_t shown = 0;
    for (size_t wi = 0; wi < m->tab.nworkers; wi++) {
        if (shown++ >= 8) {
            PUT("\n  ... %zu more", m->tab.nworkers - 8);
            break;
        }
        unsigned mk = place_check(&m->tab.workers[wi], &ps);
        char text[512] = "fits";
        if (mk)
            place_unmet_text(&m->tab.workers[wi], &ps, mk, text, sizeof text);
        PUT("\n  %s: %s", m->tab.workers[wi].name, text);
    }
#undef PUT
    if (o >= msglen && msglen)
        msg[msglen - 1] = '\0';
    return 0;
}

int model_why(model_t *m, int64_t run_id, const char *step, char *msg, size_t msglen)
{
    run_t *r = model_run(m, run_id);
    if (!r || r->state != R(RUNNING))
        return 1;
    task_t *t = NULL;
    for (int i = 0; i < r->ntasks && !t; i++)
        if (strcmp(r->tasks[i].name, step) == 0)
            t = &r->tasks[i];
    /* A gang by its own name: its rank 0 speaks for it. */
    for (int i = 0; i < r->ntasks && !t; i++) {
        size_t bl;
        if (r->tasks[i].gang_n > 1 && gang_member_name(r->tasks[i].name, &bl) >= 0 &&
            strlen(step) == bl && strncmp(r->tasks[i].name, step, bl) == 0)
            t = &r->tasks[i];
    }
    if (t && t->gang_n > 1 && t->state == T(READY) && !t->held)
        return s_gang_why(m, s_member(t, 0), msg, msglen);
    if (!t) {
        snprintf(msg, msglen, "run %lld has no step '%s' (see: drover status %lld)",
                 (long long)run_id, step, (long long)run_id);
        return 2;
    }
    switch (t->state) {
    case T(PENDING): {
        size_t o = (size_t)snprintf(msg, msglen, "%s waits for %d of its dependencies:", step,
                                    t->npending);
        for (int i = 0; i < t->nparents && o < msglen; i++) {
            const task_t *p = &r->tasks[t->parents[i]];
            if (p->state != T(SUCCEEDED))
                o += (size_t)snprintf(msg + o, msglen - o, " %s (%s)", p->name,
                                      wire_task_state_name(p->state));
        }
        return 0;
    }
    case T(RETRY_WAIT): {
        int64_t left = t->not_before_ms - util_mono_ms();
        snprintf(msg, msglen, "%s failed (%s) and retries in %.1fs (attempt %d of %d)", step,
                 t->error ? t->error : "?", left > 0 ? (double)left / 1000.0 : 0.0, t->attempt + 1,
                 t->retries + 1);
        return 0;
    }
    case T(ASSIGNED):
    case T(RUNNING): {
        if (t->approval) {
            s_await_why(t, msg, msglen);
            return 0;
        }
        int n = snprintf(msg, msglen, "%s is %s on %s (attempt %d)", step,
                         wire_task_state_name(t->state), t->worker, t->attempt);
        const task_t *a = t->backfill_ahead ? model_task(m, t->backfill_ahead) : NULL;
        if (t->backfill_ahead && n > 0 && (size_t)n < msglen)
            snprintf(msg + n, msglen - (size_t)n,
                     "; it started by backfill, ahead of %s (its time limit ends before that "
                     "step's reservation, or it uses only what that step will not need)",
                     a ? a->name : "a step that has started since");
        return 0;
    }
    case T(READY):
        if (t->held) {
            snprintf(msg, msglen, "%s is held (drover release %lld %s)", step, (long long)run_id,
                     step);
            return 0;
        }
        break;
    default:
        snprintf(msg, msglen, "%s has already ended: %s", step, wire_task_state_name(t->state));
        return 0;
    }
    mqueue_t *q = r->queue;
    if (q->paused) {
        snprintf(msg, msglen, "queue %s is paused (drover queue resume %s)", q->name, q->name);
        return 0;
    }
    if (q->limit && q->running >= q->limit) {
        snprintf(msg, msglen, "queue %s is at its limit: %u of %u running", q->name, q->running,
                 q->limit);
        return 0;
    }
    /* The same table and predicate placement uses (place.h). */
    if (s_table(m, t) < 0) {
        snprintf(msg, msglen, "%s is ready (out of memory explaining more)", step);
        return 0;
    }
    size_t idx = PLACE_NONE;
    for (size_t i = 0; i < m->tab.nsteps; i++)
        if (m->ps_of[i] == t)
            idx = i;
    if (idx == PLACE_NONE) { /* an inline kind: runs on the coordinator next */
        snprintf(msg, msglen, "%s runs on the coordinator at the next dispatch", step);
        return 0;
    }
    size_t o = 0;
    if (t->bucket && t->bucket->head != t) {
        size_t ahead = 0;
        for (task_t *x = t->bucket->head; x && x != t; x = x->qnext)
            ahead++;
        o = (size_t)snprintf(msg, msglen, "%zu step%s of the same shape and priority ahead of it; ",
                             ahead, ahead == 1 ? "" : "s");
        if (o >= msglen)
            o = msglen - 1;
    }
    if (place_explain(&m->tab, idx, 8, msg + o, msglen - o) < 0)
        snprintf(msg, msglen, "%s is ready (out of memory explaining more)", step);
    return 0;
}

/* 1 if name is step itself, one of its sweep members (step.N) or one of
 * its gang's members (step[N]). */
static int s_step_is(const char *name, const char *step)
{
    size_t n = strlen(step);
    if (strncmp(name, step, n) != 0)
        return 0;
    if (name[n] == '\0')
        return 1;
    size_t bl;
    if (name[n] == '[') /* a gang's member: the gang is held as one */
        return gang_member_name(name, &bl) >= 0 && bl == n;
    if (name[n] != '.' || !name[n + 1])
        return 0;
    for (const char *p = name + n + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

int model_hold(model_t *m, int64_t run_id, const char *step, int release, const char *actor,
               char *msg, size_t msglen)
{
    run_t *r = model_run(m, run_id);
    if (!r || r->state != R(RUNNING))
        return 1;
    const char *verb = release ? "released" : "held";
    int matched = 0, changed = 0, started = 0;
    char first_started[128] = "";
    for (int i = 0; i < r->ntasks; i++) {
        task_t *t = &r->tasks[i];
        if (*step && !s_step_is(t->name, step))
            continue;
        matched++;
        if (t->state != T(PENDING) && t->state != T(READY) && t->state != T(RETRY_WAIT)) {
            /* Started or ended: a hold has nothing left to stop. */
            if (!started++)
                util_strlcpy(first_started, t->name, sizeof first_started);
            continue;
        }
        if (t->held == !release)
            continue;
        t->held = !release;
        if (t->state == T(READY)) {
            if (release) {
                if (s_enqueue_ready(m, t) < 0)
                    return -1;
            } else {
                s_unqueue(m, t);
            }
        }
        char detail[200];
        snprintf(detail, sizeof detail, "%s by %s", verb, actor && *actor ? actor : "a client");
        if (store_task_hold(m->st, t->id, t->held, detail) < 0)
            return -1;
        changed++;
    }
    if (!matched) {
        snprintf(msg, msglen, "run %lld has no step '%s' (see: drover status %lld)",
                 (long long)run_id, step, (long long)run_id);
        return 2;
    }
    if (*step && !changed && started == matched) {
        snprintf(msg, msglen,
                 "step %s of run %lld has already started; %s applies to steps "
                 "that have not",
                 first_started, (long long)run_id, release ? "release" : "hold");
        return 3;
    }
    snprintf(msg, msglen, "%s %d step%s of run %lld%s%s", verb, changed, changed == 1 ? "" : "s",
             (long long)run_id, started ? " (started steps are not affected: " : "",
             started ? "they run on)" : "");
    return 0;
}

typedef struct {
    const char *name;
    int n;
} count_ctx_t;

static void s_count_cb(void *ctx, void *v)
{
    count_ctx_t *c = ctx;
    const run_t *r = v;
    if (r->state == R(RUNNING) && strcmp(r->schedule, c->name) == 0)
        c->n++;
}

int model_runs_of_schedule(model_t *m, const char *name)
{
    count_ctx_t ctx = {name, 0};
    idmap_each(m->runs, s_count_cb, &ctx);
    return ctx.n;
}

typedef struct {
    model_awaiting_f fn;
    void *ctx;
    int stop;
} awaiting_ctx_t;

static void s_awaiting_cb(void *ctx, void *v)
{
    awaiting_ctx_t *a = ctx;
    run_t *r = v;
    if (a->stop || r->state != R(RUNNING) || r->nawaiting <= 0)
        return;
    for (int i = 0; i < r->ntasks && !a->stop; i++)
        if (r->tasks[i].approval && r->tasks[i].state == T(RUNNING))
            a->stop = a->fn(a->ctx, &r->tasks[i]);
}

void model_each_awaiting(model_t *m, model_awaiting_f fn, void *ctx)
{
    awaiting_ctx_t a = {fn, ctx, 0};
    idmap_each(m->runs, s_awaiting_cb, &a);
}
