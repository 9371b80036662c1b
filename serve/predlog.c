/* predlog — see predlog.h. */
#include "predlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define S_APPEND_WAIT_MS 1000
#define S_SEG_PREFIX     "pred-"
#define S_SEG_SUFFIX     ".jsonl"

struct predlog {
    char dir[PATH_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv_writer, cv_space, cv_durable;
    char *buf[2];
    size_t cap;  /* bytes of one buffer */
    size_t used; /* of the active one */
    int active;
    uint64_t first_seq;         /* of the active buffer's first record */
    uint64_t prefix;            /* ms; the ids' first 12 hex digits */
    uint64_t seq;               /* the next record's counter */
    uint64_t appended, durable; /* records appended / on disk */
    int urgent, stop, failed;
    int64_t flush_ms;
    pthread_t th;
    int started;
    /* writer thread only */
    int fd;
    size_t seg_bytes, seg_max;
    atomic_uint_fast64_t st_records, st_bytes, st_fsyncs, st_refused;
};

static void s_id(char out[PREDLOG_ID_LEN + 1], uint64_t prefix, uint64_t seq)
{
    snprintf(out, PREDLOG_ID_LEN + 1, "%012" PRIx64 "%08" PRIx64,
             (uint64_t)(prefix & 0xffffffffffffull), (uint64_t)(seq & 0xffffffffull));
}

static int s_is_id(const char *s)
{
    for (int i = 0; i < PREDLOG_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[PREDLOG_ID_LEN] == '\0';
}

/* The id a segment file name starts at, into id (21 bytes); 0 or -1. */
static int s_seg_id(const char *name, char *id)
{
    size_t pl = strlen(S_SEG_PREFIX);
    if (strncmp(name, S_SEG_PREFIX, pl) ||
        strlen(name) != pl + PREDLOG_ID_LEN + strlen(S_SEG_SUFFIX) ||
        strcmp(name + pl + PREDLOG_ID_LEN, S_SEG_SUFFIX))
        return -1;
    memcpy(id, name + pl, PREDLOG_ID_LEN);
    id[PREDLOG_ID_LEN] = '\0';
    return s_is_id(id) ? 0 : -1;
}

/* The greatest segment start id <= limit (NULL: any) into best; 0 if
 * found, -1 + errno. */
static int s_find_segment(const char *dir, const char *limit, char *best)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    best[0] = '\0';
    char id[PREDLOG_ID_LEN + 1];
    while ((e = readdir(d)))
        if (s_seg_id(e->d_name, id) == 0 && (!limit || strcmp(id, limit) <= 0) &&
            strcmp(id, best) > 0)
            memcpy(best, id, sizeof id);
    closedir(d);
    if (!best[0]) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

static int s_timedwait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(cv, mu, &ts);
}

/* Opens a new segment for records starting at first_id. Writer thread. */
static int s_rotate(predlog_t *pl, const char *first_id)
{
    if (pl->fd >= 0 && close(pl->fd) < 0)
        log_error("prediction log: close: %s", strerror(errno));
    pl->fd = -1;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/" S_SEG_PREFIX "%s" S_SEG_SUFFIX, pl->dir, first_id);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        log_error("prediction log: cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    /* The new name must survive a crash too. */
    int dfd = open(pl->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        log_error("prediction log: cannot fsync %s: %s", pl->dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        close(fd);
        return -1;
    }
    close(dfd);
    pl->fd = fd;
    pl->seg_bytes = 0;
    return 0;
}

static int s_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *s_writer(void *arg)
{
    predlog_t *pl = arg;
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        /* Idle: sleep until a record comes (no wake-ups on an idle server);
         * then gather records for flush_ms unless told to hurry. */
        while (!pl->stop && !pl->urgent && (pl->used == 0 || pl->failed))
            pthread_cond_wait(&pl->cv_writer, &pl->mu);
        if (!pl->stop && !pl->urgent)
            s_timedwait(&pl->cv_writer, &pl->mu, pl->flush_ms);
        if (pl->used == 0 || pl->failed) {
            if (pl->stop)
                break;
            pl->urgent = 0;
            continue;
        }
        char *b = pl->buf[pl->active];
        size_t n = pl->used;
        char first[PREDLOG_ID_LEN + 1];
        memcpy(first, b + PREDLOG_ID_OFF, PREDLOG_ID_LEN);
        first[PREDLOG_ID_LEN] = '\0';
        uint64_t upto = pl->appended;
        pl->active ^= 1;
        pl->used = 0;
        pl->urgent = 0;
        pthread_cond_broadcast(&pl->cv_space);
        pthread_mutex_unlock(&pl->mu);

        int ok = 1;
        if ((pl->fd < 0 || pl->seg_bytes + n > pl->seg_max) && s_rotate(pl, first) < 0)
            ok = 0;
        if (ok && s_write_all(pl->fd, b, n) < 0) {
            log_error("prediction log: write: %s", strerror(errno));
            ok = 0;
        }
        if (ok && fdatasync(pl->fd) < 0) {
            log_error("prediction log: fdatasync: %s", strerror(errno));
            ok = 0;
        }
        if (ok) {
            pl->seg_bytes += n;
            atomic_fetch_add(&pl->st_bytes, n);
            atomic_fetch_add(&pl->st_fsyncs, 1);
        }

        pthread_mutex_lock(&pl->mu);
        if (ok)
            pl->durable = upto;
        else
            pl->failed = 1; /* every later append is refused: no unlogged answers */
        pthread_cond_broadcast(&pl->cv_durable);
        pthread_cond_broadcast(&pl->cv_space);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

predlog_t *predlog_open(const char *dir, size_t buffer, int64_t flush_ms, size_t segment, char *err,
                        size_t errlen)
{
    predlog_t *pl = calloc(1, sizeof *pl);
    if (!pl) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    pl->fd = -1;
    pthread_mutex_init(&pl->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pl->cv_writer, &ca);
    pthread_cond_init(&pl->cv_space, &ca);
    pthread_cond_init(&pl->cv_durable, &ca);
    pthread_condattr_destroy(&ca);
    if (snprintf(pl->dir, sizeof pl->dir, "%s/predictions", dir) >= (int)sizeof pl->dir) {
        util_errf(err, errlen, "%s: path too long", dir);
        goto fail;
    }
    if (util_mkdirs(pl->dir, 0750) < 0) {
        util_errf(err, errlen, "cannot create %s: %s", pl->dir, strerror(errno));
        goto fail;
    }
    pl->cap = buffer / 2;
    pl->flush_ms = flush_ms;
    pl->seg_max = segment;
    if (!(pl->buf[0] = malloc(pl->cap)) || !(pl->buf[1] = malloc(pl->cap))) {
        util_errf(err, errlen, "out of memory for the prediction log buffers");
        goto fail;
    }
    /* Ids sort across restarts: a start never reuses an earlier prefix,
     * even when the clock stepped back. */
    pl->prefix = (uint64_t)(util_now_us() / 1000);
    char newest[PREDLOG_ID_LEN + 1];
    if (s_find_segment(pl->dir, NULL, newest) == 0) {
        char pfx[13];
        memcpy(pfx, newest, 12);
        pfx[12] = '\0';
        uint64_t last = strtoull(pfx, NULL, 16);
        if (last >= pl->prefix)
            pl->prefix = last + 1;
    }
    int rc = pthread_create(&pl->th, NULL, s_writer, pl);
    if (rc) {
        util_errf(err, errlen, "cannot start the prediction log writer: %s", strerror(rc));
        goto fail;
    }
    pl->started = 1;
    return pl;
fail:
    predlog_close(&pl);
    return NULL;
}

int predlog_append(predlog_t *pl, char *line, size_t len, char *id_out)
{
    if (len > pl->cap) {
        atomic_fetch_add(&pl->st_refused, 1);
        errno = EMSGSIZE;
        return -1;
    }
    pthread_mutex_lock(&pl->mu);
    int64_t waited = 0;
    while (!pl->failed && pl->used + len > pl->cap) {
        pl->urgent = 1;
        pthread_cond_signal(&pl->cv_writer);
        if (waited >= S_APPEND_WAIT_MS) {
            pthread_mutex_unlock(&pl->mu);
            atomic_fetch_add(&pl->st_refused, 1);
            errno = EAGAIN;
            return -1;
        }
        int64_t t0 = util_mono_ms();
        s_timedwait(&pl->cv_space, &pl->mu, S_APPEND_WAIT_MS - waited);
        waited += util_mono_ms() - t0 + 1;
    }
    if (pl->failed) {
        pthread_mutex_unlock(&pl->mu);
        atomic_fetch_add(&pl->st_refused, 1);
        errno = EIO;
        return -1;
    }
    if (pl->seq > 0xffffffffull) { /* the counter's 8 digits are used up */
        uint64_t now = (uint64_t)(util_now_us() / 1000);
        pl->prefix = now > pl->prefix ? now : pl->prefix + 1;
        pl->seq = 0;
    }
    char id[PREDLOG_ID_LEN + 1];
    s_id(id, pl->prefix, pl->seq++);
    char *dst = pl->buf[pl->active] + pl->used;
    memcpy(dst, line, len);
    memcpy(dst + PREDLOG_ID_OFF, id, PREDLOG_ID_LEN);
    int first = pl->used == 0;
    pl->used += len;
    pl->appended++;
    if (first)
        pthread_cond_signal(&pl->cv_writer); /* start the flush_ms window */
    if (pl->used > pl->cap / 2) {
        pl->urgent = 1;
        pthread_cond_signal(&pl->cv_writer);
    }
    pthread_mutex_unlock(&pl->mu);
    memcpy(line + PREDLOG_ID_OFF, id, PREDLOG_ID_LEN);
    memcpy(id_out, id, sizeof id);
    atomic_fetch_add(&pl->st_records, 1);
    return 0;
}

int predlog_sync(predlog_t *pl, int64_t timeout_ms)
{
    int rc = 0;
    pthread_mutex_lock(&pl->mu);
    uint64_t target = pl->appended;
    int64_t deadline = util_mono_ms() + timeout_ms;
    while (!pl->failed && pl->durable < target) {
        int64_t left = deadline - util_mono_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            rc = -1;
            break;
        }
        pl->urgent = 1;
        pthread_cond_signal(&pl->cv_writer);
        s_timedwait(&pl->cv_durable, &pl->mu, left);
    }
    if (pl->failed && pl->durable < target) {
        errno = EIO;
        rc = -1;
    }
    pthread_mutex_unlock(&pl->mu);
    return rc;
}

char *predlog_find(predlog_t *pl, const char *id)
{
    if (!id || strlen(id) != PREDLOG_ID_LEN || !s_is_id(id)) {
        errno = EINVAL;
        return NULL;
    }
    char seg[PREDLOG_ID_LEN + 1];
    if (s_find_segment(pl->dir, id, seg) < 0)
        return NULL;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/" S_SEG_PREFIX "%s" S_SEG_SUFFIX, pl->dir, seg);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char want[64];
    int wl = snprintf(want, sizeof want, "{\"id\":\"%s\"", id);
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0)
        if (n > wl && !memcmp(line, want, (size_t)wl) && line[n - 1] == '\n') {
            found = line; /* a torn last line (no '\n') is never a record */
            line = NULL;
            break;
        }
    int eno = ferror(f) ? EIO : ENOENT;
    free(line);
    fclose(f);
    if (!found)
        errno = eno;
    return found;
}

void predlog_stats(predlog_t *pl, predlog_stats_t *st)
{
    st->records = atomic_load(&pl->st_records);
    st->bytes = atomic_load(&pl->st_bytes);
    st->fsyncs = atomic_load(&pl->st_fsyncs);
    st->refused = atomic_load(&pl->st_refused);
}

void predlog_close(predlog_t **plp)
{
    if (!plp || !*plp)
        return;
    predlog_t *pl = *plp;
    if (pl->started) {
        pthread_mutex_lock(&pl->mu);
        pl->stop = 1;
        pthread_cond_signal(&pl->cv_writer);
        pthread_mutex_unlock(&pl->mu);
        pthread_join(pl->th, NULL);
    }
    if (pl->fd >= 0)
        close(pl->fd);
    free(pl->buf[0]);
    free(pl->buf[1]);
    pthread_cond_destroy(&pl->cv_writer);
    pthread_cond_destroy(&pl->cv_space);
    pthread_cond_destroy(&pl->cv_durable);
    pthread_mutex_destroy(&pl->mu);
    free(pl);
    *plp = NULL;
}
