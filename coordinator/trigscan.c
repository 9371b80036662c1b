/* trigscan — see trigscan.h. */
#include "trigscan.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

typedef enum {
    TS_QUEUED = 0,  /* waits for the thread */
    TS_READING = 1, /* the thread reads it now */
    TS_DONE = 2,    /* res holds the result */
} ts_state_t;

typedef struct {
    char *path;
    int64_t size, mtime;
    uint64_t prefix_len;
    ts_state_t state;
    uint64_t round; /* last round it was asked for */
    trigscan_result_t res;
} ts_entry_t;

struct trigscan {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    uint64_t round;
    ts_entry_t *e;
    size_t n, cap;
};

static void s_entry_free(ts_entry_t *x)
{
    free(x->path);
    x->path = NULL;
}

static void *s_main(void *arg)
{
    trigscan_t *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        ts_entry_t *x = NULL;
        for (size_t i = 0; i < t->n && !x; i++)
            if (t->e[i].state == TS_QUEUED)
                x = &t->e[i];
        if (!x) {
            pthread_cond_wait(&t->cv, &t->mu);
            continue;
        }
        x->state = TS_READING;
        /* The entry stays put while READING (round_end keeps it), but the
         * array may move: work on copies, find it again by identity. */
        char *path = strdup(x->path);
        int64_t size = x->size, mtime = x->mtime;
        uint64_t prefix = x->prefix_len;
        pthread_mutex_unlock(&t->mu);
        trigscan_result_t res = {0};
        if (!path)
            snprintf(res.err, sizeof res.err, "out of memory");
        else
            res.ok = dataset_csv_tally(path, prefix, &res.tally, res.err, sizeof res.err) == 0;
        pthread_mutex_lock(&t->mu);
        for (size_t i = 0; i < t->n; i++) {
            ts_entry_t *y = &t->e[i];
            if (y->state == TS_READING && path && !strcmp(y->path, path) && y->size == size &&
                y->mtime == mtime && y->prefix_len == prefix) {
                y->res = res;
                y->state = TS_DONE;
                break;
            }
        }
        free(path);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

trigscan_t *trigscan_start(void)
{
    trigscan_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        errno = EAGAIN;
        return NULL;
    }
    if (pthread_cond_init(&t->cv, NULL) != 0) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        errno = EAGAIN;
        return NULL;
    }
    /* The thread takes no signals: they are the loop's (a signalfd), and
     * this may run before the loop blocks them. */
    sigset_t all, old;
    sigfillset(&all);
    int e = pthread_sigmask(SIG_BLOCK, &all, &old);
    if (e == 0) {
        e = pthread_create(&t->thread, NULL, s_main, t);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (e != 0) {
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t);
        errno = e;
        return NULL;
    }
    return t;
}

void trigscan_stop(trigscan_t **tp)
{
    if (!tp || !*tp)
        return;
    trigscan_t *t = *tp;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    for (size_t i = 0; i < t->n; i++)
        s_entry_free(&t->e[i]);
    free(t->e);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
    *tp = NULL;
}

int trigscan_get(trigscan_t *t, const char *path, int64_t size, int64_t mtime, uint64_t prefix_len,
                 trigscan_result_t *out)
{
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    ts_entry_t *x = NULL;
    for (size_t i = 0; i < t->n && !x; i++)
        if (!strcmp(t->e[i].path, path) && t->e[i].size == size && t->e[i].mtime == mtime &&
            t->e[i].prefix_len == prefix_len)
            x = &t->e[i];
    if (x) {
        x->round = t->round;
        if (x->state == TS_DONE) {
            *out = x->res;
            rc = 1;
        }
        goto out;
    }
    if (t->n >= TRIGSCAN_MAX_FILES)
        goto out; /* full: asked again next round, after round_end made room */
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        ts_entry_t *ne = realloc(t->e, nc * sizeof *ne);
        if (!ne) {
            rc = -1;
            goto out;
        }
        t->e = ne;
        t->cap = nc;
    }
    x = &t->e[t->n];
    memset(x, 0, sizeof *x);
    if (!(x->path = strdup(path))) {
        rc = -1;
        goto out;
    }
    x->size = size;
    x->mtime = mtime;
    x->prefix_len = prefix_len;
    x->state = TS_QUEUED;
    x->round = t->round;
    t->n++;
    pthread_cond_signal(&t->cv);
out:
    pthread_mutex_unlock(&t->mu);
    if (rc < 0)
        errno = ENOMEM;
    return rc;
}

void trigscan_round_begin(trigscan_t *t)
{
    pthread_mutex_lock(&t->mu);
    t->round++;
    pthread_mutex_unlock(&t->mu);
}

void trigscan_round_end(trigscan_t *t)
{
    pthread_mutex_lock(&t->mu);
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->e[i].round == t->round || t->e[i].state == TS_READING)
            t->e[k++] = t->e[i];
        else
            s_entry_free(&t->e[i]);
    }
    t->n = k;
    pthread_mutex_unlock(&t->mu);
}
