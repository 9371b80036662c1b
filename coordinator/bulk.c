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

struct bulk {
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;              /* a job queued, or stop */
    pthread_cond_t idle_cv;         /* a job finished */
    int stop;                       /* under mu */
    bulk_job_t *queue, *queue_tail; /* under mu; the head is the one running */
    int running;                    /* under mu: the head is being stored */
    bulk_job_t *done, *done_tail;   /* under mu */
    int efd;
    db_t *db; /* the thread's */
    store_t *st;
    uint64_t epoch_set; /* drover.epoch on this connection (0 = none yet) */
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
static void s_insert_rows(bulk_t *b, bulk_job_t *j, const Drover__SubmitRequest *req,
                          const char *params_json, int64_t id);
static void s_insert(bulk_t *b, bulk_job_t *j, const Drover__SubmitRequest *req,
                     const char *params_json, int64_t id)
{
    /* Gang steps become their members (gang.h); gx borrows from req. */
    gang_expansion_t gx;
    if (gang_expand(req, &gx, j->err, sizeof j->err) < 0) {
        j->status = errno == EINVAL ? BULK_INVALID : BULK_REFUSED;
        return;
    }
    s_insert_rows(b, j, gx.req, params_json, id);
    gang_expansion_free(&gx);
}

static void s_insert_rows(bulk_t *b, bulk_job_t *j, const Drover__SubmitRequest *req,
                          const char *params_json, int64_t id)
{
    if (model_submit_rows(req, NULL, &j->rows) < 0) {
        s_fail(j, BULK_REFUSED, "%s; nothing was stored", "out of memory building the run's rows");
        return;
    }
    const char *q = req->queue && *req->queue ? req->queue : "default";
    if (store_submit(b->st, req->workflow, req->source ? req->source : "", j->by, j->key, q,
                     req->priority, NULL, 0, j->actor, params_json, id, (int)req->n_steps,
                     j->rows.tasks_json, j->rows.deps_json, &j->rows.run_id, &j->rows.submitted_us,
                     j->rows.ids) < 0) {
        /* Before COMMIT: rolled back (or the session is gone, and with it
         * the transaction), nothing stored. */
        s_fail(j, BULK_REFUSED, "the database refused this submit (%s); nothing was stored",
               db_error(b->db));
        db_rollback(b->db);
        return;
    }
    if (req->notify &&
        store_run_notify(b->st, j->rows.run_id, req->notify->webhook,
                         (const char *const *)req->notify->on, req->notify->n_on) < 0) {
        s_fail(j, BULK_REFUSED, "the database refused this submit (%s); nothing was stored",
               db_error(b->db));
        db_rollback(b->db);
        return;
    }
    int hold = store_fence_hold(b->st, j->epoch);
    if (hold <= 0) {
        if (hold == 0)
            s_fail(j, BULK_FENCED, "%s; nothing was stored, submit again",
                   "another coordinator took over");
        else
            s_fail(j, BULK_REFUSED,
                   "database error checking the leader lease (%s); nothing "
                   "was stored",
                   db_error(b->db));
        db_rollback(b->db);
        return;
    }
    if (db_commit(b->db) < 0) {
        int gone = !db_ok(b->db);
        s_fail(j, gone ? BULK_UNKNOWN : BULK_REFUSED,
               gone ? "the database connection broke while the run was being committed (%s): "
                      "it may or may not have been stored; look for it with `drover runs` "
                      "before submitting again"
                    : "the database refused to commit this submit (%s); nothing was stored",
               db_error(b->db));
        return;
    }
    j->status = BULK_STORED;
    /* The run as the model holds it, built here too: the loop only links
     * it in (NULL: the loop builds it, or reloads). */
    j->rows.params_json = params_json;
    j->run = model_run_build(req, j->key, NULL, &j->rows);
    j->rows.params_json = NULL; /* borrowed from the caller's substitution */
}

/* One job: build its rows, insert them, check the lease, commit. */
static void s_store(bulk_t *b, bulk_job_t *j)
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
    if (!db_ok(b->db)) {
        b->epoch_set = 0;
        /* A transaction left idle (this process paused between the lease
         * check and COMMIT) must not hold the lease row for long: the
         * server ends such a session, and its transaction with it. */
        if (db_connect_once(b->db) < 0 || store_prepare(b->st) < 0 ||
            db_simple(b->db, "SET idle_in_transaction_session_timeout = '2s'") < 0) {
            s_fail(j, BULK_REFUSED, "database unavailable (%s); nothing was stored, submit again",
                   db_error(b->db));
            db_disconnect(b->db);
            return;
        }
    }
    if (b->epoch_set != j->epoch) {
        /* The events trigger (migration 008) fences every statement too. */
        char sql[64];
        snprintf(sql, sizeof sql, "SET drover.epoch = '%" PRIu64 "'", j->epoch);
        if (db_simple(b->db, sql) < 0) {
            s_fail(j, BULK_REFUSED, "database error (%s); nothing was stored, submit again",
                   db_error(b->db));
            return;
        }
        b->epoch_set = j->epoch;
    }
    /* ${run.id} needs the id before the specs are substituted. */
    int64_t id = 0;
    if (model_subst_uses_run_id(&j->req) && store_run_id_next(b->st, &id) < 0) {
        s_fail(j, BULK_REFUSED, "database error (%s); nothing was stored, submit again",
               db_error(b->db));
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
        s_insert(b, j, &x.req, x.params_json, id);
    model_subst_free(&x);
    j->took_us = util_mono_us() - t0;
}

static void *s_main(void *arg)
{
    bulk_t *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->stop && !b->queue)
            pthread_cond_wait(&b->cv, &b->mu);
        if (b->stop)
            break;
        bulk_job_t *j = b->queue;
        b->running = 1;
        pthread_mutex_unlock(&b->mu);
        s_store(b, j);
        pthread_mutex_lock(&b->mu);
        b->queue = j->next;
        if (!b->queue)
            b->queue_tail = NULL;
        j->next = NULL;
        if (b->done_tail)
            b->done_tail->next = j;
        else
            b->done = j;
        b->done_tail = j;
        b->running = 0;
        pthread_cond_broadcast(&b->idle_cv);
        uint64_t one = 1;
        if (write(b->efd, &one, sizeof one) != (ssize_t)sizeof one)
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
    b->db = b->efd >= 0 ? db_new(conninfo) : NULL;
    b->st = b->db ? store_new(b->db) : NULL;
    if (!b->st)
        goto fail;
    if (pthread_mutex_init(&b->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&b->cv, NULL) != 0 || pthread_cond_init(&b->idle_cv, NULL) != 0) {
        pthread_mutex_destroy(&b->mu);
        goto fail;
    }
    int e = pthread_create(&b->thread, NULL, s_main, b);
    if (e != 0) {
        pthread_cond_destroy(&b->cv);
        pthread_cond_destroy(&b->idle_cv);
        pthread_mutex_destroy(&b->mu);
        errno = e;
        goto fail;
    }
    b->started = 1;
    return b;
fail:
    store_destroy(&b->st);
    db_destroy(&b->db);
    if (b->efd >= 0)
        close(b->efd);
    free(b);
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
    if (!b || !b->started)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_cond_broadcast(&b->idle_cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    b->started = 0;
    /* The thread is gone: what it never started comes back refused. */
    while (b->queue) {
        bulk_job_t *j = b->queue;
        b->queue = j->next;
        j->next = NULL;
        s_fail(j, BULK_REFUSED, "%s; nothing was stored, submit again",
               "the coordinator is stopping");
        if (b->done_tail)
            b->done_tail->next = j;
        else
            b->done = j;
        b->done_tail = j;
    }
    b->queue_tail = NULL;
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
    store_destroy(&b->st);
    db_destroy(&b->db);
    if (b->efd >= 0)
        close(b->efd);
    free(b);
    *bp = NULL;
}
