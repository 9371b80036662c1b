/* http — see http.h. */
#include "http.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "assets.h"
#include "csrf.h"
#include "log.h"
#include "metricsd.h"
#include "sse.h"
#include "util.h"

#define SIGNIN_RATE 5 /* sign-ins per second, all together (burst 4x) */

struct http {
    struct MHD_Daemon *d;
    web_ctx_t *ctx;
};

/* Route flags. */
#define R_SESSION 1 /* needs a signed-in session */
#define R_CSRF    2 /* needs X-CSRF-Token (and a same-origin Origin) */
#define R_SIGNIN  4 /* sign-in: no session yet; JSON body, same-origin, rate-limited */

typedef struct {
    const char *method;
    const char *pattern; /* segments; "*" matches one */
    http_handler_f fn;
    int flags;
} route_t;

/* The whole HTTP API (docs/http-api.md). The first match wins: the more
 * specific "/api/runs/events" comes before the pattern for one run. */
static const route_t s_routes[] = {
    {"POST", "/api/session", api_signin, R_SIGNIN},
    {"DELETE", "/api/session", api_signout, R_SESSION | R_CSRF},
    {"GET", "/api/me", api_me, R_SESSION},
    {"GET", "/api/health", api_health, 0},
    {"GET", "/api/runs", api_runs, R_SESSION},
    {"GET", "/api/runs/events", sse_runs, R_SESSION},
    {"GET", "/api/runs/*", api_run, R_SESSION},
    {"GET", "/api/runs/*/events", sse_run, R_SESSION},
    {"GET", "/api/runs/*/steps/*/logs", api_logs, R_SESSION},
    {"GET", "/api/runs/*/steps/*/metrics", api_metrics, R_SESSION},
    {"GET", "/api/runs/*/steps/*/report", api_report, R_SESSION},
    {"GET", "/api/models", api_models, R_SESSION},
    {"GET", "/api/models/*", api_model, R_SESSION},
    {"GET", "/api/models/*/*/curve", api_curve, R_SESSION},
    {"GET", "/api/approvals", api_approvals, R_SESSION},
    {"POST", "/api/approvals/*/*", api_approve, R_SESSION | R_CSRF},
    {"GET", "/api/workers", api_workers, R_SESSION},
    {"GET", "/api/queues", api_queues, R_SESSION},
    {"GET", "/api/schedules", api_schedules, R_SESSION},
};

/* Per connection: the request body as it arrives. */
typedef struct {
    char *body;
    size_t len;
    int too_big;
} upload_t;

const char *http_query(const web_req_t *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_error(web_resp_t *rs, unsigned status, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    util_utf8_sanitize(msg);
    json_t *o = json_pack("{s:s}", "error", msg);
    free(rs->body);
    rs->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    rs->status = status;
}

void http_security_headers(struct MHD_Response *r, int api)
{
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
                            "form-action 'self'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, api ? "no-store" : "no-cache");
}

static enum MHD_Result s_send(struct MHD_Connection *c, web_resp_t *rs)
{
    struct MHD_Response *r = rs->raw;
    if (!r) {
        if (!rs->body)
            http_error(rs, 500, "out of memory");
        if (!rs->body)
            return MHD_NO;
        size_t len = strlen(rs->body);
        r = MHD_create_response_from_buffer(len, rs->body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(rs->body);
            rs->body = NULL;
            return MHD_NO;
        }
        rs->body = NULL;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    }
    http_security_headers(r, 1);
    if (rs->cookie[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, rs->cookie);
    enum MHD_Result ret = MHD_queue_response(c, rs->status ? rs->status : 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result s_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    web_resp_t rs = {0};
    http_error(&rs, status, "%s", msg);
    return s_send(c, &rs);
}

static enum MHD_Result s_static(struct MHD_Connection *c, const char *url)
{
    const web_asset_t *a = assets_find(url);
    if (!a)
        return s_error(c, 404, "no such page");
    /* Cache-Control no-cache + an ETag: the browser revalidates each load
     * and gets a bodiless 304 (and keeps its compiled scripts) until the
     * binary changes. */
    const char *tag = assets_etag(a);
    const char *inm =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    int same = tag && inm && strcmp(inm, tag) == 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        same ? 0 : a->len, same ? NULL : (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    if (!same)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, assets_type(a->path));
    if (tag)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, tag);
    http_security_headers(r, 0);
    enum MHD_Result ret = MHD_queue_response(c, same ? MHD_HTTP_NOT_MODIFIED : 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Matches path against pattern, filling params. 1 on a match. */
static int s_match(const char *pattern, const char *path, const char **params, char *buf,
                   size_t buflen, size_t *nparams)
{
    size_t used = 0;
    *nparams = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return 0;
        pattern++;
        path++;
        const char *pe = strchr(pattern, '/'), *se = strchr(path, '/');
        size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t sl = se ? (size_t)(se - path) : strlen(path);
        if (pl == 1 && *pattern == '*') {
            if (sl == 0 || *nparams == HTTP_MAX_PARAMS || used + sl + 1 > buflen)
                return 0;
            memcpy(buf + used, path, sl);
            buf[used + sl] = '\0';
            params[(*nparams)++] = buf + used;
            used += sl + 1;
        } else if (pl != sl || strncmp(pattern, path, pl) != 0) {
            return 0;
        }
        pattern += pl;
        path += sl;
    }
    return !*pattern && !*path;
}

/* The csrf.h Origin rule for this request. */
static const char *s_origin_bad(struct MHD_Connection *c)
{
    return csrf_origin(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
                       MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"));
}

static int s_signin_ok(web_ctx_t *ctx)
{
    pthread_mutex_lock(&ctx->signin_mu);
    int64_t now = util_mono_ms();
    ctx->signin_tokens += (double)(now - ctx->signin_ms) * SIGNIN_RATE / 1000.0;
    if (ctx->signin_tokens > 4.0 * SIGNIN_RATE)
        ctx->signin_tokens = 4.0 * SIGNIN_RATE;
    ctx->signin_ms = now;
    int ok = ctx->signin_tokens >= 1.0;
    if (ok)
        ctx->signin_tokens -= 1.0;
    pthread_mutex_unlock(&ctx->signin_mu);
    return ok;
}

static enum MHD_Result s_api(http_t *h, struct MHD_Connection *c, const char *url,
                             const char *method, upload_t *up)
{
    web_req_t rq = {.ctx = h->ctx, .conn = c, .method = method, .path = url};
    char pbuf[1024];
    const route_t *rt = NULL;
    int path_known = 0;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0] && !rt; i++) {
        size_t np;
        if (!s_match(s_routes[i].pattern, url, rq.params, pbuf, sizeof pbuf, &np))
            continue;
        path_known = 1;
        if (strcmp(s_routes[i].method, method) == 0) {
            rt = &s_routes[i];
            rq.nparams = np;
        }
    }
    if (!rt)
        return path_known ? s_error(c, 405, "method not allowed here")
                          : s_error(c, 404, "no such API endpoint (see docs/http-api.md)");
    rq.body = up && up->body ? up->body : "";
    rq.body_len = up ? up->len : 0;
    const char *why;
    if (rt->flags & R_SIGNIN) {
        if ((why = s_origin_bad(c)))
            return s_error(c, 403, why);
        if ((why =
                 csrf_signin_type(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"))))
            return s_error(c, 400, why);
        if (!s_signin_ok(h->ctx))
            return s_error(c, 429, "too many sign-ins: wait a second and try again");
    }
    if (rt->flags & R_SESSION) {
        const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "drover_session");
        int rate_ok = 1;
        if (!cookie || sessions_get(h->ctx->sessions, cookie, &rq.sess, &rate_ok) < 0)
            return s_error(c, 401, "not signed in");
        rq.has_session = 1;
        if (!rate_ok)
            return s_error(c, 429, "too many requests from this session: slow down");
    }
    if ((rt->flags & R_CSRF) &&
        ((why = csrf_token(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token"),
                           rq.sess.csrf)) ||
         (why = s_origin_bad(c))))
        return s_error(c, 403, why);
    web_resp_t rs = {.status = 200};
    rt->fn(&rq, &rs);
    memset(&rq.sess, 0, sizeof rq.sess);
    return s_send(c, &rs);
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_len, void **con_cls)
{
    http_t *h = cls;
    upload_t *up = *con_cls;
    size_t max = (size_t)h->ctx->cfg->max_body;
    if (!up) {
        /* First call: headers only. A declared length over the limit is
         * refused before a byte of the body is read. */
        up = calloc(1, sizeof *up);
        if (!up)
            return MHD_NO;
        *con_cls = up;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > max) {
            up->too_big = 1;
            return s_error(c, 413, "request body too large");
        }
        return MHD_YES;
    }
    if (*upload_len) {
        if (up->too_big || up->len + *upload_len > max) {
            /* A chunked body that grew past the limit: answer now; the
             * rest is not read (the connection closes). */
            *upload_len = 0;
            if (up->too_big)
                return MHD_YES;
            up->too_big = 1;
            return s_error(c, 413, "request body too large");
        }
        char *nb = realloc(up->body, up->len + *upload_len + 1);
        if (!nb)
            return MHD_NO;
        memcpy(nb + up->len, upload, *upload_len);
        up->len += *upload_len;
        nb[up->len] = '\0';
        up->body = nb;
        *upload_len = 0;
        return MHD_YES;
    }
    if (up->too_big)
        return MHD_YES; /* answered already */
    if (strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0)
        return s_api(h, c, url, method, up);
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return s_error(c, 405, "pages are read with GET");
    if (up->len)
        return s_error(c, 400, "a GET has no body");
    return s_static(c, url);
}

static void s_done(void *cls, struct MHD_Connection *c, void **con_cls,
                   enum MHD_RequestTerminationCode toe)
{
    upload_t *up = *con_cls;
    if (up) {
        free(up->body);
        free(up);
        *con_cls = NULL;
    }
}

http_t *http_start(web_ctx_t *ctx, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned sl;
    if (metricsd_parse_addr(ctx->cfg->listen, &ss, &sl) < 0) {
        util_errf(err, errlen, "web.listen '%s' is not HOST:PORT (e.g. 127.0.0.1:7480)",
                  ctx->cfg->listen);
        errno = EINVAL;
        return NULL;
    }
    http_t *h = calloc(1, sizeof *h);
    if (!h) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    h->ctx = ctx;
    ctx->signin_tokens = 4.0 * SIGNIN_RATE;
    ctx->signin_ms = util_mono_ms();
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)ctx->cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned)(ctx->cfg->max_connections / 2),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ctx->cfg->timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
                            MHD_OPTION_NOTIFY_COMPLETED, s_done, h, MHD_OPTION_END);
    if (!h->d) {
        util_errf(err, errlen, "cannot serve HTTP on %s (port in use? change web.listen)",
                  ctx->cfg->listen);
        free(h);
        errno = EADDRINUSE;
        return NULL;
    }
    return h;
}

void http_stop(http_t **hp)
{
    if (!hp || !*hp)
        return;
    MHD_stop_daemon((*hp)->d);
    free(*hp);
    *hp = NULL;
}
