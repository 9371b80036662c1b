/* sse — see sse.h. Each stream is a libmicrohttpd content reader that
 * blocks its connection's own thread (thread-per-connection mode) until it
 * has the next event; what does not fit MHD's buffer waits in `out`. */
#include "sse.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "api.h"
#include "util.h"

#define SSE_WAIT_MS      2000  /* one long-poll (at most): also how late a gone peer is seen */
#define SSE_KEEPALIVE_MS 15000 /* a comment on a quiet stream (at most) */
#define SSE_GIVE_UP_MS   30000 /* no answer from the coordinator this long: end */
#define SSE_RUNS_POLL_MS 500
#define SSE_RUNS_WATCH   100

typedef struct {
    uint64_t id, version;
    int state, done, awaiting;
} seen_t;

typedef struct {
    web_ctx_t *ctx;
    session_t sess;
    uint64_t run_id;  /* 0: the runs stream */
    int fd;           /* the browser's connection (-1: unknown) */
    client_t *cl;     /* its own coordinator socket, never one of the pool's */
    char *last;       /* the last document sent */
    uint64_t version; /* the run's version in it */
    seen_t seen[SSE_RUNS_WATCH];
    size_t nseen;
    int started, ended, dead; /* dead: the browser went away */
    int counted;              /* holds a row of ctx->stream_users */
    int64_t end_ms, quiet_since_ms, failing_since_ms;
    int64_t keepalive_ms, wait_ms; /* within half of web.timeout_s: an idle connection closes */
    char *out;                     /* bytes to send */
    size_t outlen, outoff;
} stream_t;

/* Takes (take 1) or gives back (0) one of user's streams; -1 when user
 * holds max_streams_per_person already. Rows are max_streams: every open
 * stream holds one, so a free row exists whenever the global bound allows. */
static int s_person(web_ctx_t *ctx, const char *user, int take)
{
    int rc = -1;
    pthread_mutex_lock(&ctx->streams_mu);
    web_stream_user_t *row = NULL, *free_row = NULL;
    for (long long i = 0; i < ctx->cfg->max_streams && !row; i++) {
        web_stream_user_t *r = &ctx->stream_users[i];
        if (r->n && strcmp(r->user, user) == 0)
            row = r;
        else if (!r->n && !free_row)
            free_row = r;
    }
    if (!take) {
        if (row)
            row->n--;
        rc = 0;
    } else if (row ? row->n < ctx->cfg->max_streams_per_person : free_row != NULL) {
        if (!row) {
            row = free_row;
            util_strlcpy(row->user, user, sizeof row->user);
        }
        row->n++;
        rc = 0;
    }
    pthread_mutex_unlock(&ctx->streams_mu);
    return rc;
}

static void s_free(void *cls)
{
    stream_t *st = cls;
    if (st->counted)
        s_person(st->ctx, st->sess.user, 0);
    client_destroy(&st->cl);
    free(st->last);
    free(st->out);
    atomic_fetch_sub(&st->ctx->streams, 1);
    memset(&st->sess, 0, sizeof st->sess);
    free(st);
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Waits up to ms for the browser to go away; 1 when it has. A stream's
 * reader never writes to it between events, so without this a closed tab
 * would poll the coordinator until the next keepalive failed (15-30 s). */
static int s_gone(stream_t *st, long ms)
{
    if (st->fd < 0) {
        if (ms > 0)
            s_sleep_ms(ms);
        return 0;
    }
    struct pollfd p = {.fd = st->fd, .events = POLLIN | POLLRDHUP};
    int n;
    while ((n = poll(&p, 1, (int)ms)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
        return 1;
    char c;
    ssize_t r = recv(st->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return 1;
    /* Bytes from the browser (a pipelined request): alive; wait out the rest
     * without spinning on the readable socket. */
    if (ms > 0)
        s_sleep_ms(ms);
    return 0;
}

/* Queues "event: NAME\ndata: DATA\n\n" (or ": comment\n\n" with name NULL). */
static int s_emit(stream_t *st, const char *name, const char *data)
{
    char *o = NULL;
    int n =
        name ? asprintf(&o, "event: %s\ndata: %s\n\n", name, data) : asprintf(&o, ": %s\n\n", data);
    if (n < 0)
        return -1;
    free(st->out);
    st->out = o;
    st->outlen = (size_t)n;
    st->outoff = 0;
    return 0;
}

/* Ends the stream with `event: error`. */
static void s_fail(stream_t *st, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    s_emit(st, "error", d ? d : "{}");
    free(d);
    st->ended = 1;
}

/* A reply's error as the stream's end: 1 when it ended it, 0 when the
 * reply is good, -1 when no reply came (retry). */
static int s_reply_bad(stream_t *st, Drover__ClientReply *rep)
{
    if (!rep) {
        if (!st->failing_since_ms)
            st->failing_since_ms = util_mono_ms();
        else if (util_mono_ms() - st->failing_since_ms > SSE_GIVE_UP_MS) {
            s_fail(st, "no answer from the coordinator");
            return 1;
        }
        return -1;
    }
    st->failing_since_ms = 0;
    if (rep->error == DROVER__ERROR_CODE__ERROR_NONE)
        return 0;
    if (rep->web_token_invalid)
        sessions_drop_token(st->ctx->sessions, st->sess.token);
    s_fail(st, rep->message && *rep->message ? rep->message : "refused");
    return 1;
}

/* Makes the run stream's next event (blocking). */
static void s_next_run(stream_t *st)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__StatusRequest sr = DROVER__STATUS_REQUEST__INIT;
    sr.run_id = st->run_id;
    if (st->started) {
        sr.known_version = st->version;
        sr.wait_ms = (uint32_t)st->wait_ms;
    }
    req.body_case = DROVER__CLIENT_REQUEST__BODY_STATUS;
    req.status = &sr;
    Drover__ClientReply *rep = coord_call_on(st->cl, st->sess.token, &req,
                                             st->ctx->cfg->coordinator_timeout_ms + sr.wait_ms);
    int bad = s_reply_bad(st, rep);
    if (bad) {
        if (bad < 0)
            s_gone(st, 1000);
        else
            drover__client_reply__free_unpacked(rep, NULL);
        return;
    }
    json_t *doc = api_run_doc(rep);
    int ended = rep->n_runs == 1 && rep->runs[0]->state != DROVER__RUN_STATE__RUN_RUNNING;
    st->version = rep->n_runs == 1 ? rep->runs[0]->version : 0;
    drover__client_reply__free_unpacked(rep, NULL);
    char *d = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!d) {
        s_fail(st, "out of memory");
        return;
    }
    st->started = 1;
    if (!st->last || strcmp(st->last, d) != 0) {
        /* The same text is not sent twice (a version bump that shows nothing). */
        if (ended) {
            char *both = NULL;
            if (asprintf(&both, "event: run\ndata: %s\n\nevent: end\ndata: {}\n\n", d) < 0) {
                free(d);
                s_fail(st, "out of memory");
                return;
            }
            free(st->out);
            st->out = both;
            st->outlen = strlen(both);
            st->outoff = 0;
        } else {
            s_emit(st, "run", d);
        }
        free(st->last);
        st->last = d;
        st->quiet_since_ms = util_mono_ms();
    } else {
        free(d);
        if (ended)
            s_emit(st, "end", "{}");
    }
    st->ended |= ended;
}

/* Makes the runs stream's next event (polls every SSE_RUNS_POLL_MS). */
static void s_next_runs(stream_t *st)
{
    if (st->started && s_gone(st, SSE_RUNS_POLL_MS)) {
        st->dead = 1;
        return;
    }
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__RunsRequest rr = DROVER__RUNS_REQUEST__INIT;
    rr.limit = SSE_RUNS_WATCH;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_RUNS;
    req.runs = &rr;
    Drover__ClientReply *rep =
        coord_call_on(st->cl, st->sess.token, &req, st->ctx->cfg->coordinator_timeout_ms);
    int bad = s_reply_bad(st, rep);
    if (bad) {
        if (bad > 0)
            drover__client_reply__free_unpacked(rep, NULL);
        return;
    }
    json_t *changed = json_array();
    seen_t now[SSE_RUNS_WATCH];
    size_t n = rep->n_runs < SSE_RUNS_WATCH ? rep->n_runs : SSE_RUNS_WATCH;
    for (size_t i = 0; i < n; i++) {
        const Drover__RunInfo *ri = rep->runs[i];
        now[i] = (seen_t){ri->id, ri->version, (int)ri->state, (int)ri->tasks_done,
                          ri->awaiting_approval};
        int same = 0;
        for (size_t j = 0; j < st->nseen && !same; j++)
            same = memcmp(&st->seen[j], &now[i], sizeof now[i]) == 0;
        if (!same && st->started && changed)
            json_array_append_new(changed, json_integer((json_int_t)ri->id));
    }
    drover__client_reply__free_unpacked(rep, NULL);
    memcpy(st->seen, now, n * sizeof now[0]);
    st->nseen = n;
    int first = !st->started;
    st->started = 1;
    if (first || json_array_size(changed) > 0) {
        json_t *o = json_pack("{s:o}", "changed", changed);
        char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!d) {
            s_fail(st, "out of memory");
            return;
        }
        s_emit(st, "runs", d);
        free(d);
        st->quiet_since_ms = util_mono_ms();
    } else {
        json_decref(changed);
    }
}

static ssize_t s_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_t *st = cls;
    for (;;) {
        if (st->outoff < st->outlen) {
            size_t n = st->outlen - st->outoff;
            if (n > max)
                n = max;
            memcpy(buf, st->out + st->outoff, n);
            st->outoff += n;
            return (ssize_t)n;
        }
        if (st->ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->dead || s_gone(st, 0))
            return MHD_CONTENT_READER_END_WITH_ERROR; /* closes it; s_free follows */
        int64_t now = util_mono_ms();
        if (now >= st->end_ms)
            return MHD_CONTENT_READER_END_OF_STREAM; /* EventSource reconnects */
        session_t alive;
        if (sessions_get(st->ctx->sessions, st->sess.id, &alive, NULL) < 0) {
            s_fail(st, "signed out");
            continue;
        }
        if (st->started && now - st->quiet_since_ms >= st->keepalive_ms) {
            s_emit(st, NULL, "keepalive");
            st->quiet_since_ms = now;
            continue;
        }
        if (st->run_id)
            s_next_run(st);
        else
            s_next_runs(st);
    }
}

static void s_open(web_req_t *rq, web_resp_t *rs, uint64_t run_id)
{
    web_ctx_t *ctx = rq->ctx;
    if (atomic_fetch_add(&ctx->streams, 1) >= ctx->cfg->max_streams) {
        atomic_fetch_sub(&ctx->streams, 1);
        http_error(rs, 503, "too many live streams (web.max_streams); reload later");
        return;
    }
    stream_t *st = calloc(1, sizeof *st);
    if (!st) {
        atomic_fetch_sub(&ctx->streams, 1);
        http_error(rs, 503, "out of memory");
        return;
    }
    st->ctx = ctx;
    st->sess = rq->sess;
    if (s_person(ctx, st->sess.user, 1) < 0) {
        s_free(st);
        http_error(rs, 503,
                   "too many live streams of yours (web.max_streams_per_person); close a tab");
        return;
    }
    st->counted = 1;
    st->run_id = run_id;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->fd = ci ? ci->connect_fd : -1;
    st->end_ms = util_mono_ms() + ctx->cfg->stream_max_s * 1000;
    st->quiet_since_ms = util_mono_ms();
    int64_t half = ctx->cfg->timeout_s * 1000 / 2;
    st->keepalive_ms = half < SSE_KEEPALIVE_MS ? half : SSE_KEEPALIVE_MS;
    st->wait_ms = st->keepalive_ms < SSE_WAIT_MS ? st->keepalive_ms : SSE_WAIT_MS;
    if (!(st->cl = coord_open(ctx->coord))) {
        s_free(st);
        http_error(rs, 503, "cannot open a coordinator socket");
        return;
    }
    rs->raw = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, s_read, st, s_free);
    if (!rs->raw) {
        s_free(st);
        http_error(rs, 503, "out of memory");
        return;
    }
    MHD_add_response_header(rs->raw, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(rs->raw, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
    rs->status = 200;
}

void sse_run(web_req_t *rq, web_resp_t *rs)
{
    /* An unknown run, a revoked token or an unreachable coordinator is an
     * HTTP error, not a stream that ends at once (EventSource would retry). */
    uint64_t id;
    Drover__ClientReply *rep = api_status(rq, rs, &id);
    if (!rep)
        return;
    drover__client_reply__free_unpacked(rep, NULL);
    s_open(rq, rs, id);
}

void sse_runs(web_req_t *rq, web_resp_t *rs)
{
    s_open(rq, rs, 0);
}
