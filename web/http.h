/* http — drover-web's HTTP side: the libmicrohttpd server, the route
 * table, and the checks every request passes before a handler sees it.
 *
 * Threads: one per connection (libmicrohttpd's thread-per-connection mode),
 * at most max_connections, each closed after timeout_s idle; an event
 * stream (sse.h) blocks its own thread only.
 *
 * Every request, in order: a body over max_body is refused (413) without
 * reading it; the route is matched (404, 405); an /api request other than
 * sign-in needs a live session cookie (401) and passes its session's rate
 * limit (429); POST and DELETE pass the CSRF checks of csrf.h (403 "CSRF
 * token missing or wrong", or a cross-origin Origin). Sign-in itself has
 * no session yet: it needs a JSON body and a same-origin Origin when one is
 * sent (csrf.h), and passes a process-wide sign-in rate limit. Every response carries the security
 * headers of the contract (CSP default-src 'self', nosniff, DENY,
 * same-origin referrer) and Cache-Control (no-store for the API, no-cache
 * for the pages).
 */
#ifndef DROVER_WEB_HTTP_H
#define DROVER_WEB_HTTP_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "coord.h"
#include "session.h"
#include "webconf.h"

/* One person's open event streams (sse.c). */
typedef struct {
    char user[64];
    int n; /* 0: a free row */
} web_stream_user_t;

/* What handlers share (owned by main.c; lives as long as the server). */
typedef struct {
    const webconf_t *cfg;
    coord_t *coord;
    sessions_t *sessions;
    atomic_int streams; /* event streams open now */
    pthread_mutex_t streams_mu;
    web_stream_user_t *stream_users; /* max_streams rows, under streams_mu */
    pthread_mutex_t signin_mu;
    double signin_tokens; /* sign-in bucket: SIGNIN_RATE per second, burst 4x */
    int64_t signin_ms;
} web_ctx_t;

#define HTTP_MAX_PARAMS 4

/* One request, as a handler sees it. Strings are borrowed for the call. */
typedef struct {
    web_ctx_t *ctx;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const char *params[HTTP_MAX_PARAMS]; /* the route's * segments, in order */
    size_t nparams;
    const char *body; /* NUL-terminated; "" when none */
    size_t body_len;
    int has_session;
    session_t sess;
} web_req_t;

/* What a handler answers: status and a JSON body (malloc'd, freed by
 * http), or a response of its own (raw: an event stream). */
typedef struct {
    unsigned status;
    char *body;
    char cookie[256]; /* a Set-Cookie value, "" = none */
    struct MHD_Response *raw;
} web_resp_t;

typedef void (*http_handler_f)(web_req_t *rq, web_resp_t *rs);

typedef struct http http_t;

/* Starts serving on cfg->listen. NULL with a message in err. */
http_t *http_start(web_ctx_t *ctx, char *err, size_t errlen);
/* Stops (waits for the connection threads); NULL-safe, nulls *hp. */
void http_stop(http_t **hp);

/* A query parameter of the request, or NULL. */
const char *http_query(const web_req_t *rq, const char *name);

/* Sets rs to an error {"error": msg} with status. */
void http_error(web_resp_t *rs, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds the contract's security headers to a response. */
void http_security_headers(struct MHD_Response *r, int api);

#endif
