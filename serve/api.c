/* api — see api.h.
 *
 * A request's life: the first call of the handler (headers read) routes it,
 * checks the token and the announced length; the following calls collect
 * the body up to max_body; the last one parses, predicts with ONE acquired
 * model version, appends the log record and answers. Predictions run on
 * the request thread with a one-thread BLAS context of that thread's. */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "blas.h"
#include "bytebuf.h"
#include "log.h"
#include "metricsd.h"
#include "numfmt.h"
#include "rowparse.h"
#include "sha256.h"
#include "util.h"

#define S_MAX_THREADS 64
#define S_LABEL_MAX   128

enum {
    C_REQUESTS,
    C_ROWS,
    C_BAD_JSON,
    C_BAD_INPUT,
    C_UNAUTHORIZED,
    C_TOO_LARGE,
    C_NOT_FOUND,
    C_UNAVAILABLE,
    C_FEEDBACK,
    C_ERRORS,
    C_N
};
static const char *const s_counter_names[C_N] = {"drover_serve_predict_requests_total",
                                                 "drover_serve_predicted_rows_total",
                                                 "drover_serve_refused_bad_json_total",
                                                 "drover_serve_refused_bad_input_total",
                                                 "drover_serve_refused_unauthorized_total",
                                                 "drover_serve_refused_too_large_total",
                                                 "drover_serve_not_found_total",
                                                 "drover_serve_unavailable_total",
                                                 "drover_serve_feedback_requests_total",
                                                 "drover_serve_internal_errors_total"};

struct api {
    struct MHD_Daemon *d;
    slots_t *slots;
    predlog_t *pl;
    feedback_t *fb;
    const tokens_t *tokens;
    size_t max_body, max_batch;
    atomic_uint_fast64_t c[C_N];
    pthread_mutex_t blas_mu; /* the per-thread BLAS contexts, closed at stop */
    blas_ctx_t *blas[S_MAX_THREADS];
    size_t nblas;
};

static __thread blas_ctx_t *t_blas;

typedef enum { R_NONE, R_PREDICT, R_FEEDBACK, R_MODELS } route_t;

typedef struct {
    int64_t t0_us;
    route_t route;
    char model[SERVECONF_NAME_MAX];
    const char *who;
    char *body;
    size_t len, cap;
    int too_big;
} req_t;

static void s_count(api_t *a, int c)
{
    atomic_fetch_add(&a->c[c], 1);
}

static enum MHD_Result s_send(api_t *a, struct MHD_Connection *c, const req_t *r, unsigned status,
                              const char *type, void *body, size_t len,
                              enum MHD_ResponseMemoryMode mode)
{
    (void)a;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r) {
        char st[64];
        snprintf(st, sizeof st, "app;dur=%.3f", (double)(util_now_us() - r->t0_us) / 1000.0);
        MHD_add_response_header(resp, "Server-Timing", st);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Sends a JSON document (consumed). */
static enum MHD_Result s_send_json(api_t *a, struct MHD_Connection *c, const req_t *r,
                                   unsigned status, json_t *doc)
{
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!s)
        return s_send(a, c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json",
                      "{\"error\":\"out of memory\"}\n", 25, MHD_RESPMEM_PERSISTENT);
    size_t n = strlen(s);
    return s_send(a, c, r, status, "application/json", s, n, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result s_error(api_t *a, struct MHD_Connection *c, const req_t *r, unsigned status,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result s_error(api_t *a, struct MHD_Connection *c, const req_t *r, unsigned status,
                               const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    util_utf8_sanitize(msg);
    return s_send_json(a, c, r, status, json_pack("{s:s}", "error", msg));
}

static blas_ctx_t *s_blas(api_t *a)
{
    if (t_blas)
        return t_blas;
    pthread_mutex_lock(&a->blas_mu);
    if (a->nblas < S_MAX_THREADS) {
        char err[256];
        t_blas = blas_open(0, 1, err, sizeof err);
        if (t_blas)
            a->blas[a->nblas++] = t_blas;
        else
            log_error("cannot open BLAS: %s", err);
    }
    pthread_mutex_unlock(&a->blas_mu);
    return t_blas;
}

/* A label or author: 1..128 bytes of UTF-8 with no control character,
 * comma or double quote (it goes into a CSV field as it is). */
static int s_csv_safe(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_LABEL_MAX || !util_utf8_valid(s))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ',' || *p == '"')
            return 0;
    return 1;
}

/* ------------------------------------------------------------ predict --- */

/* Reads row `i` (a JSON object) into x[d] by the model's feature names; NaN
 * for a null. 0, or -1 with the message in err. */
static int s_row(const mlmodel_t *m, const json_t *row, size_t i, float *x, char *err,
                 size_t errlen)
{
    if (!json_is_object(row)) {
        util_errf(err, errlen, "row %zu is not an object of column: value", i);
        return -1;
    }
    for (uint32_t j = 0; j < m->d; j++) {
        json_t *v = json_object_get(row, m->feature_names[j]);
        if (!v) {
            util_errf(err, errlen, "row %zu: no column '%s', which the model needs", i,
                      m->feature_names[j]);
            return -1;
        }
        if (json_is_null(v)) {
            if (m->impute_policy != MLMODEL_IMPUTE_MEAN) {
                util_errf(err, errlen,
                          "row %zu: column '%s' has no value, and the model has no "
                          "imputation policy",
                          i, m->feature_names[j]);
                return -1;
            }
            x[j] = NAN;
            continue;
        }
        if (!json_is_number(v)) {
            util_errf(err, errlen, "row %zu: column '%s' is not a number", i, m->feature_names[j]);
            return -1;
        }
        float f = (float)json_number_value(v);
        if (!isfinite(f)) {
            util_errf(err, errlen, "row %zu: column '%s' is out of range", i, m->feature_names[j]);
            return -1;
        }
        x[j] = f;
    }
    if (json_object_size(row) != m->d) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)row, k, v)
        {
            uint32_t j = 0;
            while (j < m->d && strcmp(k, m->feature_names[j]))
                j++;
            if (j == m->d) {
                util_errf(err, errlen,
                          "row %zu: unknown column '%.128s' (the model reads %u "
                          "columns: %s, ...)",
                          i, k, m->d, m->feature_names[0]);
                return -1;
            }
        }
    }
    return 0;
}

/* One row's output as JSON into b. */
static void s_output(bytebuf_t *b, const servemodel_t *sm, const float *p)
{
    const mlmodel_t *m = sm->m;
    if (m->kind == MLMODEL_LINEAR) {
        bytebuf_put(b, "{\"value\":", 9);
        numfmt_put(b, p[0], 9);
        bytebuf_put(b, "}", 1);
        return;
    }
    uint32_t best = 0;
    for (uint32_t j = 1; j < m->k; j++)
        if (p[j] > p[best])
            best = j;
    bytebuf_put(b, "{\"class\":", 9);
    bytebuf_json_str(b, m->class_names[best]);
    bytebuf_put(b, ",\"probabilities\":{", 18);
    for (uint32_t j = 0; j < m->k; j++) {
        if (j)
            bytebuf_put(b, ",", 1);
        bytebuf_json_str(b, m->class_names[j]);
        bytebuf_put(b, ":", 1);
        numfmt_put(b, p[j], 6);
    }
    bytebuf_put(b, "}}", 2);
}

/* The full JSON parse of a predict body: fills *X (malloc'd), *n, *many
 * and returns 200, or returns the HTTP status with the message in err
 * (counted). */
static unsigned s_parse_slow(api_t *a, const mlmodel_t *m, const req_t *r, float **Xp, size_t *np,
                             int *manyp, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        s_count(a, C_BAD_JSON);
        util_errf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column,
                  je.text);
        return MHD_HTTP_BAD_REQUEST;
    }
    unsigned st = MHD_HTTP_BAD_REQUEST;
    float *X = NULL;
    json_t *one = json_object_get(doc, "row"), *many = json_object_get(doc, "rows");
    size_t n = many ? json_array_size(many) : 1;
    if (!json_is_object(doc) || (!one == !many) || (many && !json_is_array(many)) ||
        json_object_size(doc) != 1) {
        s_count(a, C_BAD_INPUT);
        util_errf(err, errlen,
                  "the body must be {\"row\": {COLUMN: VALUE, ...}} or {\"rows\": [{...}, ...]}");
        goto done;
    }
    if (n == 0 || n > a->max_batch) {
        s_count(a, n ? C_TOO_LARGE : C_BAD_INPUT);
        st = n ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_BAD_REQUEST;
        util_errf(err, errlen, "a batch holds 1 to %zu rows (this one %zu)", a->max_batch, n);
        goto done;
    }
    if (!(X = malloc(n * m->d * sizeof *X))) {
        s_count(a, C_ERRORS);
        st = MHD_HTTP_INTERNAL_SERVER_ERROR;
        util_errf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (s_row(m, many ? json_array_get(many, i) : one, i, X + i * m->d, err, errlen) < 0) {
            s_count(a, C_BAD_INPUT);
            goto done;
        }
    *Xp = X;
    X = NULL;
    *np = n;
    *manyp = many != NULL;
    st = MHD_HTTP_OK;
done:
    free(X);
    json_decref(doc);
    return st;
}

static enum MHD_Result s_predict(api_t *a, struct MHD_Connection *c, req_t *r)
{
    s_count(a, C_REQUESTS);
    enum MHD_Result ret;
    float *X = NULL, *P = NULL;
    bytebuf_t out = {0}, line = {0}, ans = {0};
    size_t n = 0;
    int many = 0;
    char err[512];
    servemodel_t *sm = slots_acquire(a->slots, r->model);
    if (!sm) {
        int nf = errno == ENOENT;
        s_count(a, nf ? C_NOT_FOUND : C_UNAVAILABLE);
        return nf ? s_error(a, c, r, MHD_HTTP_NOT_FOUND, "this server does not serve model '%s'",
                            r->model)
                  : s_error(a, c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "model '%s' has no production version loaded yet", r->model);
    }
    const mlmodel_t *m = sm->m;
    /* The fast path; any doubt goes to the full parser, which explains. */
    if (rowparse(m, r->body ? r->body : "", r->len, a->max_batch, &X, &n, &many) < 0) {
        unsigned st = s_parse_slow(a, m, r, &X, &n, &many, err, sizeof err);
        if (st != MHD_HTTP_OK) {
            ret = s_error(a, c, r, st, "%s", err);
            goto done;
        }
    }
    if (!(P = malloc(n * m->k * sizeof *P))) {
        s_count(a, C_ERRORS);
        ret = s_error(a, c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto done;
    }
    /* The log record's input: the values as the model read them (float32),
     * null where missing; its hash: SHA-256 of the n x d float32 matrix in
     * the model's column order, little-endian, NaN for missing. */
    uint8_t dig[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    sha256_buffer(X, n * m->d * sizeof *X, dig);
    sha256_hex(dig, hex);
    bytebuf_put(&line, PREDLOG_PREFIX, strlen(PREDLOG_PREFIX));
    bytebuf_printf(&line, ",\"t\":%" PRId64 ",\"model\":", util_now_us() / 1000);
    bytebuf_json_str(&line, sm->name);
    bytebuf_printf(&line, ",\"version\":%" PRIu64 ",\"by\":", sm->version);
    bytebuf_json_str(&line, r->who);
    bytebuf_put(&line, ",\"label_column\":", 16);
    bytebuf_json_str(&line, sm->label);
    bytebuf_printf(&line, ",\"input_sha256\":\"%s\",\"rows\":[", hex);
    for (size_t i = 0; i < n; i++) {
        bytebuf_put(&line, i ? ",{" : "{", i ? 2 : 1);
        for (uint32_t j = 0; j < m->d; j++) {
            float v = X[i * m->d + j];
            if (j)
                bytebuf_put(&line, ",", 1);
            bytebuf_json_str(&line, m->feature_names[j]);
            bytebuf_put(&line, ":", 1);
            numfmt_put(&line, v, 9); /* NaN (missing): null */
            if (isnan(v))            /* impute after logging what came in */
                X[i * m->d + j] = m->impute[j];
        }
        bytebuf_put(&line, "}", 1);
    }
    blas_ctx_t *ctx = s_blas(a);
    if (!ctx || mlmodel_predict(m, ctx, X, n, P, err, sizeof err) < 0) {
        s_count(a, C_ERRORS);
        ret = s_error(a, c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "prediction failed: %s",
                      ctx ? err : "no BLAS context");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (many)
            bytebuf_put(&out, i ? "," : "[", 1);
        s_output(&out, sm, P + i * m->k);
    }
    if (many)
        bytebuf_put(&out, "]", 1);
    bytebuf_put(&line, "],\"out\":", 8);
    if (!many)
        bytebuf_put(&line, "[", 1);
    bytebuf_put(&line, out.p, out.len);
    bytebuf_put(&line, many ? "}\n" : "]}\n", many ? 2 : 3);
    if (line.oom || out.oom) {
        s_count(a, C_ERRORS);
        ret = s_error(a, c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto done;
    }
    char id[PREDLOG_ID_LEN + 1];
    if (predlog_append(a->pl, (char *)line.p, line.len, id) < 0) {
        s_count(a, C_UNAVAILABLE);
        ret = s_error(a, c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "the prediction cannot be logged (%s); not answering it unlogged",
                      errno == EAGAIN ? "the log is behind" : strerror(errno));
        goto done;
    }
    atomic_fetch_add(&a->c[C_ROWS], n);
    bytebuf_printf(&ans, "{\"request_id\":\"%s\",\"model\":", id);
    bytebuf_json_str(&ans, sm->name);
    bytebuf_printf(&ans, ",\"version\":%" PRIu64 ",\"%s\":", sm->version,
                   many ? "predictions" : "prediction");
    bytebuf_put(&ans, out.p, out.len);
    bytebuf_put(&ans, "}\n", 2);
    if (ans.oom) {
        s_count(a, C_ERRORS);
        ret = s_error(a, c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto done;
    }
    ret = s_send(a, c, r, MHD_HTTP_OK, "application/json", ans.p, ans.len, MHD_RESPMEM_MUST_FREE);
    ans.p = NULL;
done:
    free(ans.p);
    free(line.p);
    free(out.p);
    free(P);
    free(X);
    slots_release(&sm);
    return ret;
}

/* ----------------------------------------------------------- feedback --- */

static enum MHD_Result s_feedback(api_t *a, struct MHD_Connection *c, req_t *r)
{
    s_count(a, C_FEEDBACK);
    json_error_t je;
    json_t *doc = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        s_count(a, C_BAD_JSON);
        return s_error(a, c, r, MHD_HTTP_BAD_REQUEST, "malformed JSON at line %d column %d: %s",
                       je.line, je.column, je.text);
    }
    const char *id = json_string_value(json_object_get(doc, "request_id"));
    const char *label = json_string_value(json_object_get(doc, "label"));
    json_t *by = json_object_get(doc, "by"), *row = json_object_get(doc, "row");
    const char *who = by ? json_string_value(by) : r->who;
    enum MHD_Result ret;
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) if (strcmp(k, "request_id") && strcmp(k, "label") &&
                                       strcmp(k, "by") && strcmp(k, "row"))
    {
        s_count(a, C_BAD_INPUT);
        ret = s_error(a, c, r, MHD_HTTP_BAD_REQUEST,
                      "unknown key '%.64s' (request_id, row, label, by)", k);
        goto done;
    }
    if (!id || !label || (row && (!json_is_integer(row) || json_integer_value(row) < 0)) || !who) {
        s_count(a, C_BAD_INPUT);
        ret = s_error(a, c, r, MHD_HTTP_BAD_REQUEST,
                      "the body must be {\"request_id\": ID, \"label\": CLASS} with optional "
                      "\"row\": N (of a batch, from 0) and \"by\": WHO (strings; row an integer)");
        goto done;
    }
    if (!s_csv_safe(label) || !s_csv_safe(who)) {
        s_count(a, C_BAD_INPUT);
        ret = s_error(a, c, r, MHD_HTTP_BAD_REQUEST,
                      "label and by are 1 to %d bytes of UTF-8 without control characters, "
                      "commas or double quotes",
                      S_LABEL_MAX);
        goto done;
    }
    json_t *reply = NULL;
    unsigned st =
        feedback_add(a->fb, id, row ? (uint64_t)json_integer_value(row) : 0, label, who, &reply);
    if (st == 400)
        s_count(a, C_BAD_INPUT);
    else if (st == 404)
        s_count(a, C_NOT_FOUND);
    else if (st == 503)
        s_count(a, C_UNAVAILABLE);
    ret = s_send_json(a, c, r, st, reply);
done:
    json_decref(doc);
    return ret;
}

/* -------------------------------------------------------------- reads --- */

static enum MHD_Result s_models(api_t *a, struct MHD_Connection *c, req_t *r)
{
    json_t *list = json_array();
    for (size_t i = 0; i < slots_count(a->slots); i++) {
        servemodel_t *sm = slots_acquire_at(a->slots, i);
        json_t *e = json_pack("{s:s, s:I}", "model", slots_name(a->slots, i), "version",
                              (json_int_t)(sm ? sm->version : 0));
        if (sm && e) {
            json_t *f = json_array(), *cl = json_array();
            for (uint32_t j = 0; j < sm->m->d; j++)
                json_array_append_new(f, json_string(sm->m->feature_names[j]));
            for (uint32_t j = 0; sm->m->class_names && j < sm->m->k; j++)
                json_array_append_new(cl, json_string(sm->m->class_names[j]));
            json_object_set_new(e, "features", f);
            json_object_set_new(e, "classes", cl);
            json_object_set_new(e, "label", json_string(sm->label));
            json_object_set_new(e, "kind", json_string(mlmodel_kind_name(sm->m->kind)));
        }
        slots_release(&sm);
        json_array_append_new(list, e);
    }
    return s_send_json(a, c, r, MHD_HTTP_OK, list);
}

static enum MHD_Result s_readyz(api_t *a, struct MHD_Connection *c, req_t *r)
{
    for (size_t i = 0; i < slots_count(a->slots); i++) {
        servemodel_t *sm = slots_acquire_at(a->slots, i);
        if (!sm)
            return s_error(a, c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "model '%s' has no production version loaded", slots_name(a->slots, i));
        slots_release(&sm);
    }
    return s_send(a, c, r, MHD_HTTP_OK, "text/plain", "ready\n", 6, MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result s_metrics(api_t *a, struct MHD_Connection *c, req_t *r)
{
    bytebuf_t b = {0};
    for (int i = 0; i < C_N; i++)
        bytebuf_printf(&b, "# TYPE %s counter\n%s %" PRIuFAST64 "\n", s_counter_names[i],
                       s_counter_names[i], atomic_load(&a->c[i]));
    predlog_stats_t ps;
    predlog_stats(a->pl, &ps);
    bytebuf_printf(
        &b,
        "# TYPE drover_serve_log_records_total counter\ndrover_serve_log_records_total %" PRIu64
        "\n# TYPE drover_serve_log_bytes_total counter\ndrover_serve_log_bytes_total %" PRIu64
        "\n# TYPE drover_serve_log_fsyncs_total counter\ndrover_serve_log_fsyncs_total %" PRIu64
        "\n# TYPE drover_serve_log_refused_total counter\ndrover_serve_log_refused_total %" PRIu64
        "\n",
        ps.records, ps.bytes, ps.fsyncs, ps.refused);
    uint64_t fa, fd, ff;
    feedback_stats(a->fb, &fa, &fd, &ff);
    bytebuf_printf(&b,
                   "# TYPE drover_serve_feedback_recorded_total counter\n"
                   "drover_serve_feedback_recorded_total %" PRIu64 "\n"
                   "# TYPE drover_serve_feedback_duplicates_total counter\n"
                   "drover_serve_feedback_duplicates_total %" PRIu64 "\n"
                   "# TYPE drover_serve_feedback_files_total counter\n"
                   "drover_serve_feedback_files_total %" PRIu64 "\n"
                   "# TYPE drover_serve_reloads_total counter\ndrover_serve_reloads_total %" PRIu64
                   "\n"
                   "# TYPE drover_serve_model_version gauge\n",
                   fa, fd, ff, slots_reloads(a->slots));
    for (size_t i = 0; i < slots_count(a->slots); i++) {
        servemodel_t *sm = slots_acquire_at(a->slots, i);
        bytebuf_printf(&b, "drover_serve_model_version{model=\"%s\"} %" PRIu64 "\n",
                       slots_name(a->slots, i), sm ? sm->version : 0);
        slots_release(&sm);
    }
    if (b.oom) {
        free(b.p);
        return MHD_NO;
    }
    return s_send(a, c, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len,
                  MHD_RESPMEM_MUST_FREE);
}

/* ------------------------------------------------------------ routing --- */

static route_t s_route(const char *url, const char *method, char *model)
{
    static const char pfx[] = "/v1/models/", sfx[] = "/predict";
    size_t ul = strlen(url), pl = sizeof pfx - 1, sl = sizeof sfx - 1;
    if (!strcmp(method, "POST") && ul > pl + sl && !strncmp(url, pfx, pl) &&
        !strcmp(url + ul - sl, sfx) && ul - pl - sl < SERVECONF_NAME_MAX) {
        memcpy(model, url + pl, ul - pl - sl);
        model[ul - pl - sl] = '\0';
        return R_PREDICT;
    }
    if (!strcmp(method, "POST") && !strcmp(url, "/v1/feedback"))
        return R_FEEDBACK;
    if (!strcmp(method, "GET") && !strcmp(url, "/v1/models"))
        return R_MODELS;
    return R_NONE;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_len, void **con_cls)
{
    (void)version;
    api_t *a = cls;
    req_t *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->t0_us = util_now_us();
        *con_cls = r;
        if (!strcmp(method, "GET") && strncmp(url, "/v1/", 4)) {
            if (!strcmp(url, "/healthz"))
                return s_send(a, c, r, MHD_HTTP_OK, "text/plain", "ok\n", 3,
                              MHD_RESPMEM_PERSISTENT);
            if (!strcmp(url, "/readyz"))
                return s_readyz(a, c, r);
            if (!strcmp(url, "/metrics"))
                return s_metrics(a, c, r);
        }
        r->route = s_route(url, method, r->model);
        if (r->route == R_NONE)
            return s_error(a, c, r, MHD_HTTP_NOT_FOUND,
                           "no such endpoint: %.16s %.200s (POST /v1/models/NAME/predict, POST "
                           "/v1/feedback, GET /v1/models, /healthz, /readyz, /metrics)",
                           method, url);
        const char *auth =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (auth && !strncasecmp(auth, "Bearer ", 7))
            r->who = tokens_check(a->tokens, auth + 7, strlen(auth + 7));
        if (!r->who) {
            s_count(a, C_UNAUTHORIZED);
            return s_error(a, c, r, MHD_HTTP_UNAUTHORIZED, "%s (send Authorization: Bearer TOKEN)",
                           auth ? "the token is not valid" : "a token is required");
        }
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > a->max_body) {
            s_count(a, C_TOO_LARGE);
            return s_error(a, c, r, MHD_HTTP_CONTENT_TOO_LARGE,
                           "the body is larger than %zu bytes (max_body)", a->max_body);
        }
        return MHD_YES;
    }
    if (*upload_len) {
        size_t n = *upload_len;
        *upload_len = 0;
        if (r->too_big || r->len + n > a->max_body) {
            r->too_big = 1; /* discard the rest; answer once it has all come */
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 1024;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *nb = realloc(r->body, cap);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        return MHD_YES;
    }
    if (r->too_big) {
        s_count(a, C_TOO_LARGE);
        return s_error(a, c, r, MHD_HTTP_CONTENT_TOO_LARGE,
                       "the body is larger than %zu bytes (max_body)", a->max_body);
    }
    switch (r->route) {
    case R_PREDICT: return s_predict(a, c, r);
    case R_FEEDBACK: return s_feedback(a, c, r);
    case R_MODELS: return s_models(a, c, r);
    case R_NONE: break;
    }
    return MHD_NO;
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_t *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* Answers go out at once: a large answer is written in more than one
 * send, and with Nagle's algorithm the second waits for the client's
 * delayed ACK (milliseconds per batch answer). */
static void s_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (ci && setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        log_debug("TCP_NODELAY: %s", strerror(errno));
}

api_t *api_start(const serveconf_t *cfg, slots_t *slots, predlog_t *pl, feedback_t *fb,
                 const tokens_t *tokens, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned sl;
    if (metricsd_parse_addr(cfg->listen, &ss, &sl) < 0) {
        util_errf(err, errlen, "listen '%s' is not HOST:PORT (e.g. 127.0.0.1:8480)", cfg->listen);
        errno = EINVAL;
        return NULL;
    }
    api_t *a = calloc(1, sizeof *a);
    if (!a) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    a->slots = slots;
    a->pl = pl;
    a->fb = fb;
    a->tokens = tokens;
    a->max_body = cfg->max_body;
    a->max_batch = cfg->max_batch;
    pthread_mutex_init(&a->blas_mu, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->d = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, a, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
                            MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                            MHD_OPTION_NOTIFY_COMPLETED, s_completed, a,
                            MHD_OPTION_NOTIFY_CONNECTION, s_connection, a, MHD_OPTION_END);
    if (!a->d) {
        util_errf(err, errlen, "cannot serve HTTP on %s (port in use?)", cfg->listen);
        pthread_mutex_destroy(&a->blas_mu);
        free(a);
        errno = EADDRINUSE;
        return NULL;
    }
    return a;
}

void api_stop(api_t **ap)
{
    if (!ap || !*ap)
        return;
    api_t *a = *ap;
    MHD_stop_daemon(a->d);
    for (size_t i = 0; i < a->nblas; i++)
        blas_close(&a->blas[i]);
    pthread_mutex_destroy(&a->blas_mu);
    free(a);
    *ap = NULL;
}
