/* feedback — see feedback.h. */
#include "feedback.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define S_JOURNAL_MAX_LINE (64u << 20)

struct feedback {
    pthread_mutex_t mu;
    char journal[PATH_MAX];
    char dir[PATH_MAX]; /* FEEDBACK_DIR */
    int fd;             /* the journal, O_APPEND */
    int failed;         /* a journal write failed: refuse further corrections */
    predlog_t *pl;
    json_t *seen;      /* "ID/ROW" -> the correction (its first one) */
    json_t *pending;   /* corrections not in a CSV file yet, journal order */
    uint64_t next_n;   /* the next correction's journal number */
    int64_t oldest_ms; /* when the oldest pending one came (mono) */
    size_t rows;
    int64_t flush_ms;
    uint64_t accepted, duplicates, files;
};

/* Appends one JSON line to the journal and fdatasyncs it. 0 or -1. */
static int s_journal(feedback_t *fb, const json_t *rec)
{
    char *s = json_dumps(rec, JSON_COMPACT);
    if (!s)
        return -1;
    size_t n = strlen(s);
    s[n] = '\n'; /* json_dumps' NUL becomes the newline; length kept in n+1 */
    const char *p = s;
    size_t left = n + 1;
    int rc = 0;
    while (left) {
        ssize_t w = write(fb->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -1;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    free(s);
    if (rc == 0 && fdatasync(fb->fd) < 0)
        rc = -1;
    if (rc < 0) {
        log_error("feedback journal %s: %s; refusing corrections until restarted", fb->journal,
                  strerror(errno));
        fb->failed = 1;
    }
    return rc;
}

static void s_csv_value(FILE *f, const json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        fprintf(f, "%.9g", json_real_value(v));
    /* null: a missing value, an empty field */
}

/* The header of a correction's CSV line: "f0,f1,...,label". malloc'd. */
static char *s_header(const json_t *c)
{
    size_t i, len = 1;
    json_t *col;
    const json_t *cols = json_object_get(c, "columns");
    json_array_foreach(cols, i, col) len += strlen(json_string_value(col)) + 1;
    const char *lc = json_string_value(json_object_get(c, "label_column"));
    len += strlen(lc ? lc : "label") + 1;
    char *h = malloc(len), *p = h;
    if (!h)
        return NULL;
    json_array_foreach(cols, i, col) p += sprintf(p, "%s,", json_string_value(col));
    sprintf(p, "%s", lc ? lc : "label");
    return h;
}

/* Writes the pending corrections of one model and header, starting at
 * pending[first], into one CSV file; marks them in the journal and drops
 * them from pending. 0 or -1 (logged; they stay pending). */
static int s_flush_group(feedback_t *fb, size_t first)
{
    json_t *c0 = json_array_get(fb->pending, first);
    const char *model = json_string_value(json_object_get(c0, "model"));
    char *hdr = s_header(c0), *h = NULL;
    json_t *taken = json_array();
    char dir[PATH_MAX], tmp[PATH_MAX + 32], final[PATH_MAX + 32];
    int rc = -1, fd = -1;
    FILE *f = NULL;
    if (!hdr || !taken)
        goto done;
    if (snprintf(dir, sizeof dir, "%s/%s", fb->dir, model) >= (int)sizeof dir ||
        util_mkdirs(dir, 0750) < 0) {
        log_error("feedback: cannot create %s/%s: %s", fb->dir, model, strerror(errno));
        goto done;
    }
    json_int_t n0 = json_integer_value(json_object_get(c0, "n"));
    snprintf(final, sizeof final, "%s/feedback-%010" JSON_INTEGER_FORMAT ".csv", dir, n0);
    /* Not *.csv, and hidden: a trigger never counts a file being written. */
    snprintf(tmp, sizeof tmp, "%s/.feedback-%010" JSON_INTEGER_FORMAT ".tmp", dir, n0);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0 || !(f = fdopen(dup(fd), "w"))) {
        log_error("feedback: cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    fprintf(f, "%s\n", hdr);
    for (size_t i = first; i < json_array_size(fb->pending); i++) {
        json_t *c = json_array_get(fb->pending, i);
        free(h);
        if (!(h = s_header(c)))
            goto done;
        if (strcmp(json_string_value(json_object_get(c, "model")), model) || strcmp(h, hdr))
            continue;
        size_t j;
        json_t *v;
        json_array_foreach(json_object_get(c, "values"), j, v)
        {
            s_csv_value(f, v);
            fputc(',', f);
        }
        fprintf(f, "%s\n", json_string_value(json_object_get(c, "label")));
        json_array_append(taken, json_object_get(c, "n"));
    }
    if (fflush(f) != 0 || ferror(f)) {
        log_error("feedback: cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    fclose(f);
    f = NULL;
    char err[PATH_MAX + 256];
    rc = util_commit_file(fd, tmp, final, err, sizeof err);
    fd = -1;
    if (rc < 0) {
        log_error("feedback: %s", err);
        goto done;
    }
    json_t *mark = json_pack("{s:s, s:O}", "flushed", final, "n", taken);
    rc = mark ? s_journal(fb, mark) : -1;
    json_decref(mark);
    if (rc < 0)
        goto done;
    /* Drop what the file holds from pending. */
    json_t *keep = json_array();
    if (!keep) {
        rc = -1;
        goto done;
    }
    for (size_t i = 0; i < json_array_size(fb->pending); i++) {
        json_t *c = json_array_get(fb->pending, i);
        free(h);
        h = s_header(c);
        if (i < first || !h || strcmp(json_string_value(json_object_get(c, "model")), model) ||
            strcmp(h, hdr))
            json_array_append(keep, c);
    }
    json_decref(fb->pending);
    fb->pending = keep;
    fb->files++;
    log_info("feedback: %s holds %zu corrections", final, json_array_size(taken));
done:
    if (f)
        fclose(f);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(h);
    free(hdr);
    json_decref(taken);
    return rc;
}

/* Writes every pending correction (one file per model and header). */
static void s_flush_all(feedback_t *fb)
{
    while (json_array_size(fb->pending) > 0)
        if (s_flush_group(fb, 0) < 0)
            break;
    fb->oldest_ms = util_mono_ms();
}

/* Number of pending corrections of one model. */
static size_t s_pending_of(const feedback_t *fb, const char *model)
{
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(fb->pending, i, c) n +=
        !strcmp(json_string_value(json_object_get(c, "model")), model);
    return n;
}

static int s_key(char *key, size_t len, const char *id, json_int_t row)
{
    return snprintf(key, len, "%s/%" JSON_INTEGER_FORMAT, id, row) < (int)len ? 0 : -1;
}

/* Replays the journal: every correction into seen, the unflushed ones into
 * pending. A torn last line (a crash mid-append, never acknowledged) is
 * cut off so the next append starts on a line of its own. */
static int s_replay(feedback_t *fb, char *err, size_t errlen)
{
    FILE *f = fopen(fb->journal, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        util_errf(err, errlen, "cannot read %s: %s", fb->journal, strerror(errno));
        return -1;
    }
    json_t *flushed = json_object();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t good = 0;
    int lineno = 0, rc = -1;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[n - 1] != '\n')
            break; /* torn */
        json_error_t je;
        json_t *rec = json_loadb(line, (size_t)n, 0, &je);
        if (!rec) {
            util_errf(err, errlen, "%s:%d: not a journal record: %s", fb->journal, lineno, je.text);
            goto done;
        }
        good += n;
        json_t *ns = json_object_get(rec, "n");
        if (json_object_get(rec, "flushed")) {
            size_t i;
            json_t *x;
            char k[32];
            json_array_foreach(ns, i, x)
            {
                snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT, json_integer_value(x));
                json_object_set_new(flushed, k, json_true());
            }
        } else {
            char key[128];
            if (s_key(key, sizeof key, json_string_value(json_object_get(rec, "id")),
                      json_integer_value(json_object_get(rec, "row"))) == 0)
                json_object_set(fb->seen, key, rec);
            json_array_append(fb->pending, rec);
            fb->next_n = (uint64_t)json_integer_value(ns) + 1;
        }
        json_decref(rec);
    }
    /* Keep only the unflushed corrections pending. */
    json_t *keep = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(fb->pending, i, c)
    {
        char k[32];
        snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(c, "n")));
        if (!json_object_get(flushed, k))
            json_array_append(keep, c);
    }
    json_decref(fb->pending);
    fb->pending = keep;
    if (truncate(fb->journal, good) < 0) {
        util_errf(err, errlen, "cannot truncate %s: %s", fb->journal, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    json_decref(flushed);
    return rc;
}

feedback_t *feedback_open(const serveconf_t *cfg, predlog_t *pl, char *err, size_t errlen)
{
    feedback_t *fb = calloc(1, sizeof *fb);
    if (!fb) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&fb->mu, NULL);
    fb->fd = -1;
    fb->pl = pl;
    fb->rows = cfg->feedback_rows;
    fb->flush_ms = cfg->feedback_flush_ms;
    fb->seen = json_object();
    fb->pending = json_array();
    snprintf(fb->journal, sizeof fb->journal, "%s/feedback.jsonl", cfg->log_dir);
    util_strlcpy(fb->dir, cfg->feedback_dir, sizeof fb->dir);
    if (!fb->seen || !fb->pending) {
        util_errf(err, errlen, "out of memory");
        goto fail;
    }
    if (util_mkdirs(cfg->log_dir, 0750) < 0 || util_mkdirs(fb->dir, 0750) < 0) {
        util_errf(err, errlen, "cannot create %s or %s: %s", cfg->log_dir, fb->dir,
                  strerror(errno));
        goto fail;
    }
    if (s_replay(fb, err, errlen) < 0)
        goto fail;
    fb->fd = open(fb->journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fb->fd < 0) {
        util_errf(err, errlen, "cannot open %s: %s", fb->journal, strerror(errno));
        goto fail;
    }
    if (json_array_size(fb->pending))
        log_info("feedback: %zu corrections from the journal are not in a file yet; writing them",
                 json_array_size(fb->pending));
    s_flush_all(fb);
    return fb;
fail:
    feedback_close(&fb);
    return NULL;
}

static unsigned s_error(json_t **reply, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static unsigned s_error(json_t **reply, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *reply = json_pack("{s:s}", "error", msg);
    return status;
}

unsigned feedback_add(feedback_t *fb, const char *id, uint64_t row, const char *label,
                      const char *by, json_t **reply)
{
    *reply = NULL;
    char key[128], rowtxt[32];
    snprintf(rowtxt, sizeof rowtxt, "%" PRIu64, row);
    if (s_key(key, sizeof key, id, (json_int_t)row) < 0)
        return s_error(reply, 400, "the request id is too long");
    pthread_mutex_lock(&fb->mu);
    unsigned status;
    char *line = NULL;
    json_t *rec = NULL, *c = NULL;
    if (fb->failed) {
        status = s_error(reply, 503, "the feedback journal cannot be written (see the log)");
        goto done;
    }
    json_t *prev = json_object_get(fb->seen, key);
    if (prev) {
        fb->duplicates++;
        char msg[1024];
        snprintf(msg, sizeof msg,
                 "request %s row %s already has a correction (label '%s' by %s); a request row "
                 "is corrected once",
                 id, rowtxt, json_string_value(json_object_get(prev, "label")),
                 json_string_value(json_object_get(prev, "by")));
        /* The first correction's who and when, not the input row it holds. */
        *reply = json_pack("{s:s, s:{s:O, s:O, s:O}}", "error", msg, "correction", "label",
                           json_object_get(prev, "label"), "by", json_object_get(prev, "by"), "t",
                           json_object_get(prev, "t"));
        status = 409;
        goto done;
    }
    /* A prediction answered a moment ago may still be in the log's buffer. */
    if (predlog_sync(fb->pl, 5000) < 0) {
        status = s_error(reply, 503, "the prediction log is not on disk yet (%s)", strerror(errno));
        goto done;
    }
    if (!(line = predlog_find(fb->pl, id))) {
        if (errno == EINVAL)
            status = s_error(reply, 400, "'%.64s' is not a request id (20 hex digits)", id);
        else
            status = s_error(reply, 404, "no prediction with request id %s in the log", id);
        goto done;
    }
    json_error_t je;
    if (!(rec = json_loads(line, 0, &je))) {
        status = s_error(reply, 503, "the log record of %s does not parse: %s", id, je.text);
        goto done;
    }
    json_t *rows = json_object_get(rec, "rows");
    json_t *input = json_array_get(rows, row);
    if (!input) {
        status = s_error(reply, 400, "request %s has %zu row(s); row %s does not exist", id,
                         json_array_size(rows), rowtxt);
        goto done;
    }
    json_t *cols = json_array(), *vals = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(input, k, v)
    {
        json_array_append_new(cols, json_string(k));
        json_array_append(vals, v);
    }
    c = json_pack("{s:I, s:s, s:I, s:O, s:O, s:s, s:s, s:s, s:I, s:o, s:o}", "n",
                  (json_int_t)fb->next_n, "id", id, "row", (json_int_t)row, "model",
                  json_object_get(rec, "model"), "version", json_object_get(rec, "version"),
                  "label_column",
                  json_string_value(json_object_get(rec, "label_column"))
                      ? json_string_value(json_object_get(rec, "label_column"))
                      : "label",
                  "label", label, "by", by, "t", (json_int_t)(util_now_us() / 1000), "columns",
                  cols, "values", vals);
    if (!c || !json_is_string(json_object_get(c, "model"))) {
        status = s_error(reply, 503, "the log record of %s is incomplete", id);
        goto done;
    }
    if (s_journal(fb, c) < 0) {
        status = s_error(reply, 503, "the feedback journal cannot be written (see the log)");
        goto done;
    }
    fb->next_n++;
    fb->accepted++;
    json_object_set(fb->seen, key, c);
    if (json_array_size(fb->pending) == 0)
        fb->oldest_ms = util_mono_ms();
    json_array_append(fb->pending, c);
    if (s_pending_of(fb, json_string_value(json_object_get(c, "model"))) >= fb->rows)
        s_flush_all(fb);
    *reply = json_pack("{s:s, s:s, s:I, s:s, s:s, s:O, s:O}", "status", "recorded", "request_id",
                       id, "row", (json_int_t)row, "label", label, "by", by, "model",
                       json_object_get(c, "model"), "version", json_object_get(c, "version"));
    status = 200;
done:
    pthread_mutex_unlock(&fb->mu);
    json_decref(c);
    json_decref(rec);
    free(line);
    return status;
}

void feedback_tick(feedback_t *fb)
{
    pthread_mutex_lock(&fb->mu);
    if (json_array_size(fb->pending) && util_mono_ms() - fb->oldest_ms >= fb->flush_ms)
        s_flush_all(fb);
    pthread_mutex_unlock(&fb->mu);
}

void feedback_stats(feedback_t *fb, uint64_t *accepted, uint64_t *duplicates, uint64_t *files)
{
    pthread_mutex_lock(&fb->mu);
    *accepted = fb->accepted;
    *duplicates = fb->duplicates;
    *files = fb->files;
    pthread_mutex_unlock(&fb->mu);
}

void feedback_close(feedback_t **fbp)
{
    if (!fbp || !*fbp)
        return;
    feedback_t *fb = *fbp;
    if (fb->fd >= 0) {
        s_flush_all(fb);
        close(fb->fd);
    }
    json_decref(fb->seen);
    json_decref(fb->pending);
    pthread_mutex_destroy(&fb->mu);
    free(fb);
    *fbp = NULL;
}
