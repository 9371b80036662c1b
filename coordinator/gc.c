/* gc — see gc.h. */
#include "gc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define GC_PAUSE_MS 10 /* between windows: leave the database to others */
#define GC_NTABLES  5

/* Rows per window: log chunks are large, runs cascade to all their tasks. */
static const struct {
    store_gc_table_t table;
    const char *what;
    int limit;
    int same_key_again; /* several rows per key: the next window starts at the last key */
} s_policies[GC_NTABLES] = {
    {STORE_GC_EVENTS, "events", 5000, 0},    {STORE_GC_AUDIT, "audit events", 5000, 0},
    {STORE_GC_LOGS, "log chunks", 500, 1},   {STORE_GC_METRICS, "metric rows", 5000, 1},
    {STORE_GC_RUNS, "finished runs", 20, 0},
};

struct gc {
    const conf_coordinator_t *cc;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;               /* under mu */
    volatile int stop_flag; /* for db_connect_retry */
    _Atomic int active;
    _Atomic uint64_t deleted[GC_NTABLES];
    _Atomic uint64_t cycles;
    _Atomic int64_t longest_us;
    db_t *db;
    store_t *st;
};

static int64_t s_period_ms(const conf_coordinator_t *cc, store_gc_table_t t)
{
    switch (t) {
    case STORE_GC_EVENTS: return cc->retain_events_ms;
    case STORE_GC_AUDIT: return cc->retain_audit_ms;
    case STORE_GC_LOGS: return cc->retain_logs_ms;
    case STORE_GC_METRICS: return cc->retain_metrics_ms;
    case STORE_GC_RUNS: return cc->retain_runs_ms;
    }
    return 0;
}

/* Sleeps up to ms, or until stopped. Returns 1 when stopping. */
static int s_sleep(gc_t *g, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&g->mu);
    while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0)
        ;
    int stop = g->stop;
    pthread_mutex_unlock(&g->mu);
    return stop;
}

static int s_stopping(gc_t *g)
{
    pthread_mutex_lock(&g->mu);
    int stop = g->stop;
    pthread_mutex_unlock(&g->mu);
    return stop;
}

/* Prunes one policy to its cutoff. Returns rows deleted, or -1 on a
 * database error. */
static int64_t s_prune(gc_t *g, size_t p, int64_t cutoff_us, int64_t *longest_us)
{
    int64_t from = 0, total = 0;
    for (;;) {
        if (s_stopping(g) || !atomic_load(&g->active))
            return total;
        store_gc_window_t w;
        int64_t t0 = util_now_us();
        if (store_gc_window(g->st, s_policies[p].table, from, s_policies[p].limit, cutoff_us, &w) <
            0)
            return -1;
        int64_t took = util_now_us() - t0;
        if (took > *longest_us)
            *longest_us = took;
        total += w.deleted;
        atomic_fetch_add(&g->deleted[p], (uint64_t)w.deleted);
        /* Go on while full windows still hold old rows and we move. */
        if (w.window < s_policies[p].limit || !w.any_old || (w.deleted == 0 && w.last_key <= from))
            return total;
        from = s_policies[p].same_key_again && w.deleted > 0 ? w.last_key : w.last_key + 1;
        if (s_sleep(g, GC_PAUSE_MS))
            return total;
    }
}

static void *s_main(void *arg)
{
    gc_t *g = arg;
    while (!s_stopping(g)) {
        if (!atomic_load(&g->active)) {
            if (s_sleep(g, 200))
                break;
            continue;
        }
        if (!db_ok(g->db)) {
            if (db_connect_retry(g->db, &g->stop_flag) < 0)
                break;
            if (store_prepare_gc(g->st) < 0) {
                log_warn("retention: %s; retrying in a minute", db_error(g->db));
                db_disconnect(g->db);
                if (s_sleep(g, GC_INTERVAL_MS))
                    break;
                continue;
            }
        }
        int64_t now = util_now_us(), longest = 0, n[GC_NTABLES] = {0};
        int failed = 0;
        for (size_t p = 0; p < GC_NTABLES && !failed; p++) {
            int64_t period = s_period_ms(g->cc, s_policies[p].table);
            if (period <= 0)
                continue;
            n[p] = s_prune(g, p, now - period * 1000, &longest);
            failed = n[p] < 0;
        }
        if (failed) {
            log_warn("retention: %s; retrying in a minute", db_error(g->db));
            db_disconnect(g->db);
        } else {
            atomic_fetch_add(&g->cycles, 1);
            if (longest > atomic_load(&g->longest_us))
                atomic_store(&g->longest_us, longest);
            if (n[0] + n[1] + n[2] + n[3] + n[4] > 0)
                log_info("retention: pruned %lld events, %lld audit events, %lld log chunks, "
                         "%lld metric rows, %lld finished runs (longest batch %.1f ms)",
                         (long long)n[0], (long long)n[1], (long long)n[2], (long long)n[3],
                         (long long)n[4], (double)longest / 1000.0);
        }
        if (s_sleep(g, GC_INTERVAL_MS))
            break;
    }
    return NULL;
}

gc_t *gc_start(const conf_coordinator_t *cc)
{
    int any = 0;
    for (size_t p = 0; p < GC_NTABLES; p++)
        any |= s_period_ms(cc, s_policies[p].table) > 0;
    if (!any) {
        errno = ENOENT;
        return NULL;
    }
    gc_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->cc = cc;
    g->db = db_new(cc->database);
    g->st = g->db ? store_new(g->db) : NULL;
    if (!g->st || pthread_mutex_init(&g->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&g->cv, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        goto fail;
    }
    int e = pthread_create(&g->thread, NULL, s_main, g);
    if (e != 0) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        errno = e;
        goto fail;
    }
    return g;
fail:
    store_destroy(&g->st);
    db_destroy(&g->db);
    free(g);
    return NULL;
}

void gc_set_active(gc_t *g, int active)
{
    if (g)
        atomic_store(&g->active, active);
}

void gc_stats(const gc_t *g, gc_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!g)
        return;
    for (size_t p = 0; p < GC_NTABLES; p++)
        out->deleted[s_policies[p].table] = atomic_load(&((gc_t *)g)->deleted[p]);
    out->cycles = atomic_load(&((gc_t *)g)->cycles);
    out->longest_batch_us = atomic_load(&((gc_t *)g)->longest_us);
}

void gc_stop(gc_t **gp)
{
    if (!gp || !*gp)
        return;
    gc_t *g = *gp;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    g->stop_flag = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    store_destroy(&g->st);
    db_destroy(&g->db);
    free(g);
    *gp = NULL;
}
