/* bulk — see bulk.h. */
#include "bulk.h"
#include "gang.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "wirecheck.h"

/* One storing thread and its connection. */
typedef struct {
    bulk_t *b;
    pthread_t thread;
    int started;
    db_t *db;
    store_t *st;
    uint64_t epoch_set; /* drover.epoch on this connection (0 = none yet) */
} bulk_worker_t;

struct bulk {
    bulk_worker_t w[BULK_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* a job queued, or stop */
    pthread_cond_t idle_cv;         /* a job finished */
    int stop;                       /* under mu */
    bulk_job_t *queue, *queue_tail; /* under mu: not given back yet, in push order */
    bulk_job_t *done, *done_tail;   /* under mu */
    int efd;
};

__attribute__((format(printf, 3, 4))) static void s_fail(bulk_job_t *j, bulk_status_t st,
                                                         const char *fmt, ...)
{
    j->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, sizeof j->err, fmt, ap);
    va_end(ap);
    model_rows_clear(&j->rows);
}

/* A frame too large to decode in the loop: decoded and checked here (a
 * submit's rules too, since they parse every spec), handed back. */
static void s_decode(bulk_job_t *j)
{
    j->in = wirecheck_client_request(j->frame, j->len, j->err, sizeof j->err);
    free(j->frame);
    j->frame = NULL;
    if (!j->in) {
        j->status = BULK_BADMSG;
        return;
    }
    j->status = BULK_DECODED;
    const Drover__ClientRequest *in = j->in;
    if (in->version == DROVER_PROTOCOL_VERSION &&
        in->body_case == DROVER__CLIENT_REQUEST__BODY_SUBMIT && !in->submit->schedule &&
        !in->submit->trigger) {
        /* A broken one is still dispatched (role first), then refused. */
        if (model_submit_rules_unsubst(in->submit, j->err, sizeof j->err) == 0)
            j->checked = 1;
        else if (errno == EINVAL)
            j->checked = -1;
        else
            j->status = BULK_REFUSED;
    }
}

/* The substituted request req (params_json, id: its parameter values and
 * preassigned run id, or NULL/0) into rows, inserted, fenced, committed;
 * the run built for the loop. */
static void s_insert_rows(bulk_worker_t *w, bulk_job_t *j, const Drover__SubmitRequest *req,
                          const char *params_json, int64_t id);
static void s_insert(bulk_worker_t *w, bulk_job_t *j, const Drover__SubmitRequest *req,
                     const char *params_json, int64_t id)
{
    /* Gang steps become their members (gang.h); gx borrows from req. */
    gang_expansion_t gx;
    if (gang_expand(req, &gx, j->err, sizeof j->err) < 0) {
        j->status = errno == EINVAL ? BULK_INVALID : BULK_REFUSED;
        return;
    }
    s_insert_rows(w, j, gx.req, params_json, id);
    gang_expansion_free(&gx);
}

static void s_insert_rows(bulk_worker_t *w, bulk_job_t *j, const Drover__SubmitRequest *req,
                          const char *params_json, int64_t id)
{
    if (model_submit_rows(req, NULL, &j->rows) < 0) {
        s_fail(j, BULK_REFUSED, "%s; nothing was stored", "out of memory building the run's rows");
        return;
    }
    const char *q = req->queue && *req->queue ? req->queue : "default";
    if (store_submit(w->st, req->workflow, req->source ? req->source : "", j->by, j->key, q,
                     req->priority, NULL, 0, j->actor, params_json, id, (int)req->n_steps,
                     j->rows.tasks_json, j->rows.deps_json, &j->rows.run_id, &j->rows.submitted_us,
                     j->rows.ids) < 0) {
        /* Before COMMIT: rolled back (or the session is gone, and with it
         * the transaction), nothing stored. */
        s_fail(j, BULK_REFUSED, "the database refused this submit (%s); nothing was stored",
               db_error(w->db));
        db_rollback(w->db);
        return;
    }
    if (req->notify &&
        store_run_notify(w->st, j->rows.run_id, req->notify->webhook,
                         (const char *const *)req->notify->on, req->notify->n_on) < 0) {
        s_fail(j, BULK_REFUSED, "the database refused this submit (%s); nothing was stored",
               db_error(w->db));
        db_rollback(w->db);
        return;
    }
    int hold = store_fence_hold(w->st, j->epoch);
    if (hold <= 0) {
        if (hold == 0)
            s_fail(j, BULK_FENCED, "%s; nothing was stored, submit again",
                   "another coordinator took over");
        else
            s_fail(j, BULK_REFUSED,
                   "database error checking the leader lease (%s); nothing "
                   "was stored",
                   db_error(w->db));
        db_rollback(w->db);
        return;
    }
    if (db_commit(w->db) < 0) {
        int gone = !db_ok(w->db);
        s_fail(j, gone ? BULK_UNKNOWN : BULK_REFUSED,
               gone ? "the database connection broke while the run was being committed (%s): "
                      "it may or may not have been stored; look for it with `drover runs` "
                      "before submitting again"
                    : "the database refused to commit this submit (%s); nothing was stored",
               db_error(w->db));
        return;
    }
    j->status = BULK_STORED;
    /* The run as the model holds it, built here too: the loop only links
     * it in (NULL: the loop builds it, or reloads). */
    j->rows.params_json = params_json;
    j->run = model_run_build(req, j->key, NULL, &j->rows);
    j->rows.params_json = NULL; /* borrowed from the caller's substitution */
}

/* Opens the thread's connection with its statements prepared; -1 (and no
 * connection) on failure. */
static int s_connect(bulk_worker_t *w)
{
    w->epoch_set = 0;
    /* A transaction left idle (this process paused between the lease
     * check and COMMIT) must not hold the lease row for long: the
     * server ends such a session, and its transaction with it. */
    if (db_connect_once(w->db) < 0 || store_prepare(w->st) < 0 ||
        db_simple(w->db, "SET idle_in_transaction_session_timeout = '2s'") < 0) {
        db_disconnect(w->db);
        return -1;
    }
    return 0;
}

/* One job: build its rows, insert them, check the lease, commit. */
static void s_store(bulk_worker_t *w, bulk_job_t *j)
{
    int64_t t0 = util_mono_us();
    if (j->kind == BULK_DECODE) {
        s_decode(j);
        return;
    }
    if (!j->checked && model_submit_rules_unsubst(&j->req, j->err, sizeof j->err) < 0) {
        j->status = errno == EINVAL ? BULK_INVALID : BULK_REFUSED;
        return;
    }
    if (!db_ok(w->db) && s_connect(w) < 0) {
        s_fail(j, BULK_REFUSED, "database unavailable (%s); nothing was stored, submit again",
               db_error(w->db));
        return;
    }
    if (w->epoch_set != j->epoch) {
        /* The events trigger (migration 008) fences every statement too. */
        char sql[64];
        snprintf(sql, sizeof sql, "SET drover.epoch = '%" PRIu64 "'", j->epoch);
        if (db_simple(w->db, sql) < 0) {
            s_fail(j, BULK_REFUSED, "database error (%s); nothing was stored, submit again",
                   db_error(w->db));
            return;
        }
        w->epoch_set = j->epoch;
    }
    /* ${run.id} needs the id before the specs are substituted. */
    int64_t id = 0;
    if (model_subst_uses_run_id(&j->req) && store_run_id_next(w->st, &id) < 0) {
        s_fail(j, BULK_REFUSED, "database error (%s); nothing was stored, submit again",
               db_error(w->db));
        return;
    }
    model_subst_t x;
    if (model_subst(&j->req, NULL, id, &x, j->err, sizeof j->err) < 0) {
        j->status = errno == EINVAL ? BULK_INVALID : BULK_REFUSED;
        if (errno != EINVAL)
            snprintf(j->err, sizeof j->err, "out of memory substituting the run's parameters");
        return;
    }
    /* The rules were checked with a stand-in run id; a real one is longer
     * and may push a name past its bound: check what will be stored. */
    if (id && model_submit_rules(&x.req, j->err, sizeof j->err) < 0)
        j->status = errno == EINVAL ? BULK_INVALID : BULK_REFUSED;
    else
        s_insert(w, j, &x.req, x.params_json, id);
    model_subst_free(&x);
    j->took_us = util_mono_us() - t0;
}

/* The oldest job not yet started, or NULL. Under mu. */
static bulk_job_t *s_next(bulk_t *b)
{
    for (bulk_job_t *j = b->queue; j; j = j->next)
        if (j->phase == BULK_WAITING)
            return j;
    return NULL;
}

/* Moves the finished jobs to done, as they finished: one waiting on a
 * lock holds back no other (a large frame decoded while another submit is
 * being stored is dispatched at once). Under mu; how many moved. */
static int s_deliver(bulk_t *b)
{
    int n = 0;
    bulk_job_t **pp = &b->queue, *last = NULL;
    while (*pp) {
        bulk_job_t *j = *pp;
        if (j->phase != BULK_FINISHED) {
            last = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        j->next = NULL;
        if (b->done_tail)
            b->done_tail->next = j;
        else
            b->done = j;
        b->done_tail = j;
        n++;
    }
    b->queue_tail = last;
    return n;
}

static void *s_main(void *arg)
{
    bulk_worker_t *w = arg;
    bulk_t *b = w->b;
    /* Connected now, not at the first job: connecting and preparing took
     * ~25 ms of the first large submit after a start. A failure here is
     * the first job's to retry and report. */
    (void)s_connect(w);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        bulk_job_t *j = NULL;
        while (!b->stop && !(j = s_next(b)))
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop)
            break;
        j->phase = BULK_TAKEN;
        pthread_mutex_unlock(&b->mu);
        s_store(w, j);
        pthread_mutex_lock(&b->mu);
        j->phase = BULK_FINISHED;
        int moved = s_deliver(b);
        pthread_cond_broadcast(&b->idle_cv);
        uint64_t one = 1;
        if (moved && write(b->efd, &one, sizeof one) != (ssize_t)sizeof one)
            log_warn("bulk: cannot wake the loop: %s", strerror(errno)); /* it looks every tick */
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

bulk_t *bulk_start(const char *conninfo)
{
    bulk_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0 || pthread_mutex_init(&b->mu, NULL) != 0) {
        if (b->efd >= 0)
            close(b->efd);
        free(b);
        return NULL;
    }
    if (pthread_cond_init(&b->cv, NULL) != 0 || pthread_cond_init(&b->idle_cv, NULL) != 0) {
        pthread_mutex_destroy(&b->mu);
        close(b->efd);
        free(b);
        return NULL;
    }
    for (int i = 0; i < BULK_THREADS; i++) {
        bulk_worker_t *w = &b->w[i];
        w->b = b;
        w->db = db_new(conninfo);
        w->st = w->db ? store_new(w->db) : NULL;
        if (!w->st)
            goto fail;
    }
    for (int i = 0; i < BULK_THREADS; i++) {
        int e = pthread_create(&b->w[i].thread, NULL, s_main, &b->w[i]);
        if (e != 0) {
            errno = e;
            goto fail;
        }
        b->w[i].started = 1;
    }
    return b;
fail:;
    int e = errno;
    bulk_destroy(&b); /* stops the threads started */
    errno = e;
    return NULL;
}

int bulk_fd(const bulk_t *b)
{
    return b->efd;
}

void bulk_push(bulk_t *b, bulk_job_t *job)
{
    job->next = NULL;
    job->status = BULK_QUEUED;
    job->phase = BULK_WAITING;
    pthread_mutex_lock(&b->mu);
    if (b->queue_tail)
        b->queue_tail->next = job;
    else
        b->queue = job;
    b->queue_tail = job;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

bulk_job_t *bulk_done(bulk_t *b)
{
    uint64_t n;
    if (read(b->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn("bulk: reading its eventfd: %s", strerror(errno));
    pthread_mutex_lock(&b->mu);
    bulk_job_t *j = b->done;
    b->done = b->done_tail = NULL;
    pthread_mutex_unlock(&b->mu);
    return j;
}

size_t bulk_count(bulk_t *b, const char *key)
{
    size_t n = 0;
    pthread_mutex_lock(&b->mu);
    for (int pass = 0; pass < 2; pass++)
        for (const bulk_job_t *j = pass ? b->done : b->queue; j; j = j->next)
            n += !key || strcmp(j->key, key) == 0;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void bulk_wait_idle(bulk_t *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    while (b->queue && !b->stop)
        pthread_cond_wait(&b->idle_cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

void bulk_job_free(bulk_job_t **jp)
{
    if (!jp || !*jp)
        return;
    bulk_job_t *j = *jp;
    if (j->in)
        drover__client_request__free_unpacked(j->in, NULL);
    free(j->frame);
    model_rows_clear(&j->rows);
    model_run_discard(&j->run);
    free(j);
    *jp = NULL;
}

void bulk_stop(bulk_t *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_cond_broadcast(&b->idle_cv);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < BULK_THREADS; i++)
        if (b->w[i].started) {
            pthread_join(b->w[i].thread, NULL);
            b->w[i].started = 0;
        }
    /* The threads are gone: what they never started comes back refused. */
    for (bulk_job_t *j = b->queue; j; j = j->next)
        if (j->phase != BULK_FINISHED) {
            s_fail(j, BULK_REFUSED, "%s; nothing was stored, submit again",
                   "the coordinator is stopping");
            j->phase = BULK_FINISHED;
        }
    (void)s_deliver(b);
}

void bulk_destroy(bulk_t **bp)
{
    if (!bp || !*bp)
        return;
    bulk_t *b = *bp;
    bulk_stop(b);
    for (bulk_job_t *j = b->queue; j;) { /* pushed after the stop */
        bulk_job_t *next = j->next;
        bulk_job_free(&j);
        j = next;
    }
    for (bulk_job_t *j = b->done; j;) {
        bulk_job_t *next = j->next;
        bulk_job_free(&j);
        j = next;
    }
    pthread_cond_destroy(&b->cv);
    pthread_cond_destroy(&b->idle_cv);
    pthread_mutex_destroy(&b->mu);
    for (int i = 0; i < BULK_THREADS; i++) {
        store_destroy(&b->w[i].st);
        db_destroy(&b->w[i].db);
    }
    if (b->efd >= 0)
        close(b->efd);
    free(b);
    *bp = NULL;
}
