/* api — see api.h. */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "wire.h"

#define RUNS_PAGE_MAX      200
#define MODELS_MAX         1000
#define MODEL_VERSIONS_MAX 50
#define SCHEDULES_NEXT_MAX 50
#define CURVE_POINTS_MAX   10000

/* ------------------------------------------------------------ helpers --- */

json_t *api_time(int64_t us)
{
    if (us <= 0)
        return json_null();
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    char buf[40];
    if (!gmtime_r(&t, &tm))
        return json_null();
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)((us % 1000000) / 1000));
    return json_string(buf);
}

int api_parse_id(const char *s, uint64_t *out)
{
    if (!s || !*s || strlen(s) > 19)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v == 0 || v > (uint64_t)INT64_MAX)
        return -1;
    *out = v;
    return 0;
}

/* The body of rs from a JSON value (consumed). */
static void s_json(web_resp_t *rs, json_t *o)
{
    free(rs->body);
    rs->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!rs->body)
        http_error(rs, 500, "out of memory");
}

int api_reply_error(web_req_t *rq, const Drover__ClientReply *rep, web_resp_t *rs)
{
    if (!rep) {
        http_error(rs, 503, "no answer from the coordinator (%s); try again",
                   errno == ETIMEDOUT ? "timed out" : strerror(errno));
        return 1;
    }
    const char *msg = rep->message && *rep->message ? rep->message : "refused";
    switch (rep->error) {
    case DROVER__ERROR_CODE__ERROR_NONE: return 0;
    case DROVER__ERROR_CODE__ERROR_FORBIDDEN:
        if (rep->web_token_invalid) {
            if (rq->has_session)
                sessions_drop_token(rq->ctx->sessions, rq->sess.token);
            http_error(rs, 401, "%s", msg);
        } else {
            http_error(rs, 403, "%s", msg);
        }
        return 1;
    case DROVER__ERROR_CODE__ERROR_NOT_FOUND: http_error(rs, 404, "%s", msg); return 1;
    case DROVER__ERROR_CODE__ERROR_BAD_REQUEST: http_error(rs, 400, "%s", msg); return 1;
    case DROVER__ERROR_CODE__ERROR_CONFLICT: http_error(rs, 409, "%s", msg); return 1;
    case DROVER__ERROR_CODE__ERROR_RATE_LIMITED: http_error(rs, 429, "%s", msg); return 1;
    default: http_error(rs, 503, "%s", msg); return 1;
    }
}

/* One call with the session's token: the reply, or NULL with rs set. */
static Drover__ClientReply *s_call(web_req_t *rq, web_resp_t *rs, Drover__ClientRequest *req)
{
    Drover__ClientReply *rep = coord_call(rq->ctx->coord, rq->sess.token, req, 0);
    if (api_reply_error(rq, rep, rs)) {
        if (rep)
            drover__client_reply__free_unpacked(rep, NULL);
        return NULL;
    }
    return rep;
}

/* A reply's json document parsed; NULL (rs set) when it has none. */
static json_t *s_doc(const Drover__ClientReply *rep, web_resp_t *rs)
{
    json_t *d = rep->json && *rep->json ? json_loads(rep->json, 0, NULL) : NULL;
    if (!d)
        http_error(rs, 503, "the coordinator sent no document (an older version?)");
    return d;
}

/* One call whose reply is a JSON document: the document, or NULL (rs set). */
static json_t *s_call_doc(web_req_t *rq, web_resp_t *rs, Drover__ClientRequest *req)
{
    Drover__ClientReply *rep = s_call(rq, rs, req);
    if (!rep)
        return NULL;
    json_t *d = s_doc(rep, rs);
    drover__client_reply__free_unpacked(rep, NULL);
    return d;
}

/* Log bytes as JSON text: NULs and invalid UTF-8 become '?'. */
static json_t *s_text(const uint8_t *data, size_t len)
{
    char *t = malloc(len + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < len; i++)
        t[i] = data[i] ? (char)data[i] : '?';
    t[len] = '\0';
    util_utf8_sanitize(t);
    json_t *s = json_stringn(t, len);
    free(t);
    return s;
}

static int s_set(json_t *o, const char *k, json_t *v)
{
    return json_object_set_new(o, k, v ? v : json_null());
}

/* ---------------------------------------------------------- sessions --- */

/* The coordinator's whoami for the request's token (rq->sess.token). */
static json_t *s_whoami(web_req_t *rq, web_resp_t *rs)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__WhoamiRequest w = DROVER__WHOAMI_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_WHOAMI;
    req.whoami = &w;
    return s_call_doc(rq, rs, &req);
}

static void s_cookie(web_req_t *rq, web_resp_t *rs, const char *id, int64_t max_age)
{
    snprintf(rs->cookie, sizeof rs->cookie,
             "drover_session=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s", id,
             (long long)max_age, rq->ctx->cfg->secure_cookies ? "; Secure" : "");
}

void api_signin(web_req_t *rq, web_resp_t *rs)
{
    json_t *in = json_loadb(rq->body, rq->body_len, 0, NULL);
    const char *token = json_string_value(json_object_get(in, "token"));
    if (!token || !*token || strlen(token) > SESSION_TOKEN_MAX) {
        json_decref(in);
        http_error(rs, 400, "sign in with {\"token\": \"...\"} (drover web-token create KEY)");
        return;
    }
    util_strlcpy(rq->sess.token, token, sizeof rq->sess.token); /* no session yet */
    json_t *who = s_whoami(rq, rs);
    if (!who) {
        if (rs->status == 403) /* a token the web key may not use: not signed in */
            http_error(rs, 401, "this token does not sign in");
        json_decref(in);
        return;
    }
    session_t s;
    const char *user = json_string_value(json_object_get(who, "key"));
    const char *role = json_string_value(json_object_get(who, "role"));
    int approver = json_is_true(json_object_get(who, "approver"));
    if (!user || !role) {
        http_error(rs, 503, "the coordinator's whoami had no key or role");
    } else if (sessions_create(rq->ctx->sessions, token, user, role, approver, &s) < 0) {
        http_error(rs, 503, "%s",
                   errno == ENOSPC ? "too many people are signed in (web.max_sessions); try later"
                                   : "cannot make a session");
    } else {
        s_cookie(rq, rs, s.id, rq->ctx->cfg->session_ttl_s);
        json_t *o =
            json_pack("{s:s, s:s, s:b, s:s, s:O}", "user", user, "role", role, "approver", approver,
                      "csrf", s.csrf, "grants", json_object_get(who, "grants") ?: json_null());
        if (o)
            s_set(o, "expires_at", api_time(s.expires_us));
        s_json(rs, o);
        memset(&s, 0, sizeof s);
    }
    json_decref(who);
    json_decref(in);
}

void api_signout(web_req_t *rq, web_resp_t *rs)
{
    sessions_drop(rq->ctx->sessions, rq->sess.id);
    s_cookie(rq, rs, "", 0);
    s_json(rs, json_pack("{s:b}", "ok", 1));
}

void api_me(web_req_t *rq, web_resp_t *rs)
{
    json_t *who = s_whoami(rq, rs);
    if (!who)
        return;
    const char *role = json_string_value(json_object_get(who, "role"));
    int approver = json_is_true(json_object_get(who, "approver"));
    sessions_update(rq->ctx->sessions, rq->sess.id, role ? role : rq->sess.role, approver);
    json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:O}", "user", rq->sess.user, "role",
                          role ? role : rq->sess.role, "approver", approver, "csrf", rq->sess.csrf,
                          "grants", json_object_get(who, "grants") ?: json_null());
    if (o)
        s_set(o, "expires_at", api_time(rq->sess.expires_us));
    json_decref(who);
    s_json(rs, o);
}

void api_health(web_req_t *rq, web_resp_t *rs)
{
    s_json(rs,
           json_pack("{s:s, s:i}", "status", "ok", "streams", (int)atomic_load(&rq->ctx->streams)));
}

/* -------------------------------------------------------------- runs --- */

json_t *api_run_obj(const Drover__RunInfo *ri)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:b, s:i, s:i, s:I}", "id", (json_int_t)ri->id, "workflow",
        ri->workflow ? ri->workflow : "", "state", wire_run_state_name(ri->state), "submitted_by",
        ri->submitted_by ? ri->submitted_by : "", "schedule", ri->schedule ? ri->schedule : "",
        "awaiting_approval", ri->awaiting_approval, "steps_total", (int)ri->tasks_total,
        "steps_done", (int)ri->tasks_done, "version", (json_int_t)ri->version);
    if (!o)
        return NULL;
    if (s_set(o, "submitted_at", api_time(ri->submitted_at_us)) < 0 ||
        s_set(o, "started_at", api_time(ri->started_at_us)) < 0 ||
        s_set(o, "finished_at", api_time(ri->finished_at_us)) < 0 ||
        s_set(o, "due_at", api_time(ri->due_at_us)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void api_runs(web_req_t *rq, web_resp_t *rs)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__RunsRequest rr = DROVER__RUNS_REQUEST__INIT;
    Drover__RunsFilter f = DROVER__RUNS_FILTER__INIT;
    const char *wf = http_query(rq, "workflow"), *st = http_query(rq, "state"),
               *sched = http_query(rq, "schedule");
    const char *lim = http_query(rq, "limit"), *before = http_query(rq, "before");
    uint64_t limit = 50, before_id = 0;
    if (lim && *lim && (api_parse_id(lim, &limit) < 0 || limit > RUNS_PAGE_MAX)) {
        http_error(rs, 400, "limit: 1 to %d", RUNS_PAGE_MAX);
        return;
    }
    if (before && *before && api_parse_id(before, &before_id) < 0) {
        http_error(rs, 400, "before: a run id");
        return;
    }
    f.workflow = (char *)(wf ? wf : "");
    f.state = (char *)(st ? st : "");
    f.schedule = (char *)(sched ? sched : "");
    rr.filter = &f;
    rr.limit = (uint32_t)limit;
    rr.before_id = before_id;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_RUNS;
    req.runs = &rr;
    Drover__ClientReply *rep = s_call(rq, rs, &req);
    if (!rep)
        return;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < rep->n_runs; i++)
        if (json_array_append_new(arr, api_run_obj(rep->runs[i])) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    json_t *next = rep->n_runs == limit && limit > 0
                       ? json_integer((json_int_t)rep->runs[rep->n_runs - 1]->id)
                       : json_null();
    drover__client_reply__free_unpacked(rep, NULL);
    s_json(rs, arr ? json_pack("{s:o, s:o}", "runs", arr, "next_before", next) : NULL);
}

static int s_terminal(Drover__TaskState s)
{
    return s == DROVER__TASK_STATE__TASK_SUCCEEDED || s == DROVER__TASK_STATE__TASK_FAILED ||
           s == DROVER__TASK_STATE__TASK_SKIPPED || s == DROVER__TASK_STATE__TASK_CANCELLED;
}

static json_t *s_step(const Drover__TaskInfo *t)
{
    json_t *deps = json_array();
    for (size_t i = 0; deps && i < t->n_after; i++)
        json_array_append_new(deps, json_string(t->after[i]));
    const char *outcome = !s_terminal(t->state) ? NULL
                          : t->has_exit_code    ? "exited"
                                                : wire_task_state_name(t->state);
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:s, s:i, s:s, s:o, s:b, s:i}", "id", (json_int_t)t->id, "name",
        t->name ? t->name : "", "kind", t->kind ? t->kind : "", "state",
        wire_task_state_name(t->state), "attempt", (int)t->attempt, "worker",
        t->worker ? t->worker : "", "deps", deps ? deps : json_array(), "awaiting_approval",
        !strcmp(t->kind ? t->kind : "", "approve") && t->state == DROVER__TASK_STATE__TASK_RUNNING,
        "retries", (int)t->retries);
    if (!o)
        return NULL;
    double dur = -1;
    if (t->started_at_us > 0)
        dur = (double)((t->finished_at_us > 0 ? t->finished_at_us : util_now_us()) -
                       t->started_at_us) /
              1e6;
    s_set(o, "started_at", api_time(t->started_at_us));
    s_set(o, "finished_at", api_time(t->finished_at_us));
    s_set(o, "duration_s", dur >= 0 ? json_real(dur) : json_null());
    s_set(o, "outcome", outcome ? json_string(outcome) : json_null());
    s_set(o, "exit_code", t->has_exit_code ? json_integer(t->exit_code) : json_null());
    s_set(o, "error", t->error && *t->error ? json_string(t->error) : json_null());
    return o;
}

json_t *api_run_doc(const Drover__ClientReply *rep)
{
    if (rep->n_runs != 1)
        return NULL;
    json_t *run = api_run_obj(rep->runs[0]), *params = json_object(), *steps = json_array();
    if (!run || !params || !steps)
        goto fail;
    for (size_t i = 0; i < rep->runs[0]->n_params; i++)
        json_object_set_new(params, rep->runs[0]->params[i]->name,
                            json_string(rep->runs[0]->params[i]->value));
    json_object_set_new(run, "params", params);
    params = NULL;
    for (size_t i = 0; i < rep->n_tasks; i++)
        if (json_array_append_new(steps, s_step(rep->tasks[i])) < 0)
            goto fail;
    return json_pack("{s:o, s:o}", "run", run, "steps", steps);
fail:
    json_decref(run);
    json_decref(params);
    json_decref(steps);
    return NULL;
}

Drover__ClientReply *api_status(web_req_t *rq, web_resp_t *rs, uint64_t *id)
{
    if (api_parse_id(rq->params[0], id) < 0) {
        http_error(rs, 404, "no run '%s'", rq->params[0]);
        return NULL;
    }
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__StatusRequest sr = DROVER__STATUS_REQUEST__INIT;
    sr.run_id = *id;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_STATUS;
    req.status = &sr;
    return s_call(rq, rs, &req);
}

void api_run(web_req_t *rq, web_resp_t *rs)
{
    uint64_t id;
    Drover__ClientReply *rep = api_status(rq, rs, &id);
    if (!rep)
        return;
    s_json(rs, api_run_doc(rep));
    drover__client_reply__free_unpacked(rep, NULL);
}

/* run id and step of /api/runs/{id}/steps/{step}/...: 0, or -1 (rs set). */
static int s_run_step(web_req_t *rq, web_resp_t *rs, uint64_t *id)
{
    if (api_parse_id(rq->params[0], id) < 0 || strlen(rq->params[1]) > 128) {
        http_error(rs, 404, "no such run or step");
        return -1;
    }
    return 0;
}

void api_logs(web_req_t *rq, web_resp_t *rs)
{
    uint64_t id, off = 0, eoff = 0, att = 0;
    if (s_run_step(rq, rs, &id) < 0)
        return;
    const char *o = http_query(rq, "offset"), *e = http_query(rq, "stderr_offset"),
               *a = http_query(rq, "attempt");
    /* 0 is a valid offset: parse "0" apart from api_parse_id's 1..max. */
    if ((o && *o && strcmp(o, "0") && api_parse_id(o, &off) < 0) ||
        (e && *e && strcmp(e, "0") && api_parse_id(e, &eoff) < 0) ||
        (a && *a && (api_parse_id(a, &att) < 0 || att > INT32_MAX))) {
        http_error(rs, 400, "offset, stderr_offset and attempt are whole numbers");
        return;
    }
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__LogsRequest lr = DROVER__LOGS_REQUEST__INIT;
    lr.run_id = id;
    lr.step = (char *)rq->params[1];
    lr.stdout_offset = off;
    lr.stderr_offset = eoff;
    lr.attempt = (uint32_t)att;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_LOGS;
    req.logs = &lr;
    Drover__ClientReply *rep = s_call(rq, rs, &req);
    if (!rep)
        return;
    const Drover__LogsReply *l = rep->logs;
    json_t *doc = NULL;
    if (l) {
        doc = json_pack("{s:o, s:I, s:o, s:I, s:b, s:i, s:s}", "data",
                        s_text(l->stdout_data.data, l->stdout_data.len) ?: json_null(),
                        "next_offset", (json_int_t)l->stdout_offset, "stderr",
                        s_text(l->stderr_data.data, l->stderr_data.len) ?: json_null(),
                        "next_stderr_offset", (json_int_t)l->stderr_offset, "done", l->finished,
                        "attempt", (int)l->attempt, "state", wire_task_state_name(l->state));
    } else {
        http_error(rs, 503, "the coordinator sent no logs");
    }
    drover__client_reply__free_unpacked(rep, NULL);
    if (l)
        s_json(rs, doc);
}

/* The metrics document of a step (the coordinator's), or NULL (rs set). */
static json_t *s_metrics_doc(web_req_t *rq, web_resp_t *rs, uint64_t run_id, const char *step)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__StepDataRequest q = DROVER__STEP_DATA_REQUEST__INIT;
    q.run_id = run_id;
    q.step = (char *)step;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_METRICS;
    req.metrics = &q;
    return s_call_doc(rq, rs, &req);
}

/* Calls fn for every numeric figure of every metrics record of doc:
 * (name, epoch, value, attempt). An epoch is the record's "epoch", else
 * its sequence number + 1. */
typedef int (*s_point_f)(void *ctx, const char *name, json_int_t epoch, double value,
                         json_int_t attempt);

static int s_points(json_t *doc, s_point_f fn, void *ctx)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "metrics"), i, m)
    {
        json_t *data = json_object_get(m, "data");
        json_t *ep = json_object_get(data, "epoch");
        json_int_t epoch = json_is_integer(ep) ? json_integer_value(ep)
                                               : json_integer_value(json_object_get(m, "seq")) + 1;
        json_int_t attempt = json_integer_value(json_object_get(m, "attempt"));
        const char *k;
        json_t *v;
        json_object_foreach(data, k, v)
        {
            if (!strcmp(k, "epoch") || !json_is_number(v))
                continue;
            if (fn(ctx, k, epoch, json_number_value(v), attempt) < 0)
                return -1;
        }
    }
    return 0;
}

static int s_point_row(void *ctx, const char *name, json_int_t epoch, double value,
                       json_int_t attempt)
{
    json_t *o = json_pack("{s:s, s:I, s:f, s:I}", "name", name, "epoch", epoch, "value", value,
                          "attempt", attempt);
    return o && json_array_size(ctx) < CURVE_POINTS_MAX ? json_array_append_new(ctx, o)
                                                        : (json_decref(o), 0);
}

void api_metrics(web_req_t *rq, web_resp_t *rs)
{
    uint64_t id;
    if (s_run_step(rq, rs, &id) < 0)
        return;
    json_t *doc = s_metrics_doc(rq, rs, id, rq->params[1]);
    if (!doc)
        return;
    json_t *arr = json_array();
    if (arr && s_points(doc, s_point_row, arr) < 0) {
        json_decref(arr);
        arr = NULL;
    }
    json_decref(doc);
    s_json(rs, arr ? json_pack("{s:o}", "metrics", arr) : NULL);
}

void api_report(web_req_t *rq, web_resp_t *rs)
{
    uint64_t id;
    if (s_run_step(rq, rs, &id) < 0)
        return;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__StepDataRequest q = DROVER__STEP_DATA_REQUEST__INIT;
    q.run_id = id;
    q.step = (char *)rq->params[1];
    req.body_case = DROVER__CLIENT_REQUEST__BODY_REPORT;
    req.report = &q;
    json_t *doc = s_call_doc(rq, rs, &req);
    if (!doc)
        return;
    /* The stored report is the step's "report" object (kind_evaluate.c),
     * or its whole outputs holding one. */
    json_t *r = json_object_get(doc, "report");
    if (json_is_object(json_object_get(r, "report")))
        r = json_object_get(r, "report");
    json_t *metrics = json_deep_copy(json_object_get(r, "metrics"));
    json_t *classes = json_object_get(metrics, "classes");
    json_t *matrix = json_object_get(metrics, "confusion_matrix");
    json_t *confusion = classes || matrix
                            ? json_pack("{s:O, s:O}", "classes", classes ?: json_null(), "matrix",
                                        matrix ?: json_null())
                            : json_null();
    json_object_del(metrics, "classes");
    json_object_del(metrics, "confusion_matrix");
    json_t *gates = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(r, "gates"), i, g)
    {
        json_t *one = json_deep_copy(g);
        json_object_set(one, "expr", json_object_get(g, "name") ?: json_null());
        json_object_set(one, "value", json_object_get(g, "figure") ?: json_null());
        json_array_append_new(gates, one);
    }
    json_t *prod = json_object_get(r, "production");
    json_t *production =
        json_is_object(prod)
            ? json_pack("{s:O, s:O, s:O}", "name", json_object_get(prod, "name") ?: json_null(),
                        "version", json_object_get(prod, "version") ?: json_null(), "metrics",
                        json_object_get(r, "production_metrics") ?: json_null())
            : json_null();
    json_t *cand = json_pack("{s:O}", "metrics", metrics ? metrics : json_null());
    json_t *model = json_object_get(json_object_get(doc, "report"), "model");
    if (cand && json_is_object(model)) {
        json_object_set(cand, "name", json_object_get(model, "name") ?: json_null());
        json_object_set(cand, "version", json_object_get(model, "version") ?: json_null());
    }
    json_t *o = json_pack(
        "{s:O, s:O, s:O, s:o, s:o, s:o, s:o, s:o, s:O, s:O, s:O}", "run_id",
        json_object_get(doc, "run_id") ?: json_null(), "step",
        json_object_get(doc, "step") ?: json_null(), "kind",
        json_object_get(doc, "kind") ?: json_null(), "metrics", metrics ? metrics : json_object(),
        "gates", gates ? gates : json_array(), "confusion", confusion ? confusion : json_null(),
        "candidate", cand ? cand : json_null(), "production", production ? production : json_null(),
        "passed", json_object_get(doc, "passed") ?: json_null(), "notes",
        json_object_get(r, "notes") ?: json_null(), "raw", r ?: json_null());
    json_decref(doc);
    s_json(rs, o);
}

/* ------------------------------------------------------------ models --- */

/* The coordinator's models document (name "" = every model). */
static json_t *s_models_doc(web_req_t *rq, web_resp_t *rs, const char *name, uint32_t version)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__ModelsRequest q = DROVER__MODELS_REQUEST__INIT;
    q.name = (char *)name;
    q.version = version;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_MODELS;
    req.models = &q;
    return s_call_doc(rq, rs, &req);
}

static json_t *s_version_obj(json_t *v)
{
    json_t *metrics = json_object_get(v, "eval_metrics");
    if (!json_is_object(metrics))
        metrics = json_object_get(v, "metrics");
    return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "name",
                     json_object_get(v, "name") ?: json_null(), "version",
                     json_object_get(v, "version") ?: json_null(), "stage",
                     json_object_get(v, "stage") ?: json_null(), "created_at",
                     json_object_get(v, "created_at") ?: json_null(), "run_id",
                     json_object_get(v, "run_id") ?: json_null(), "step",
                     json_object_get(v, "step") ?: json_null(), "metrics",
                     json_is_object(metrics) ? metrics : json_object(), "train_metrics",
                     json_object_get(v, "metrics") ?: json_null(), "model_kind",
                     json_object_get(v, "model_kind") ?: json_null());
}

void api_models(web_req_t *rq, web_resp_t *rs)
{
    json_t *doc = s_models_doc(rq, rs, "", 0);
    if (!doc)
        return;
    json_t *arr = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(doc, i, v)
    {
        if (i >= MODELS_MAX || !arr)
            break;
        json_array_append_new(arr, s_version_obj(v));
    }
    json_decref(doc);
    s_json(rs, arr ? json_pack("{s:o, s:b}", "models", arr, "truncated",
                               arr && json_array_size(arr) >= MODELS_MAX)
                   : NULL);
}

void api_model(web_req_t *rq, web_resp_t *rs)
{
    const char *name = rq->params[0];
    if (!util_name_ok(name, 0)) {
        http_error(rs, 404, "no model '%s'", name);
        return;
    }
    json_t *doc = s_models_doc(rq, rs, name, 0);
    if (!doc)
        return;
    if (json_array_size(doc) == 0) {
        json_decref(doc);
        http_error(rs, 404, "no model '%s'", name);
        return;
    }
    json_t *versions = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(doc, i, v)
    {
        if (i >= MODEL_VERSIONS_MAX || !versions)
            break;
        json_int_t ver = json_integer_value(json_object_get(v, "version"));
        /* A version whose details cannot be had fails the page (rs says
         * why): a list without its history would read as "never moved". */
        json_t *full =
            ver > 0 && ver <= INT32_MAX ? s_models_doc(rq, rs, name, (uint32_t)ver) : NULL;
        if (!full) {
            if (rs->status == 200)
                http_error(rs, 503, "the coordinator sent no details of %s:%lld", name,
                           (long long)ver);
            json_decref(versions);
            json_decref(doc);
            return;
        }
        json_t *o = s_version_obj(v);
        json_t *hist = json_array(), *ds = json_array();
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(full, "stage_changes"), j, c) json_array_append_new(
            hist,
            json_pack("{s:O, s:O, s:O, s:O, s:O}", "at", json_object_get(c, "at") ?: json_null(),
                      "from", json_object_get(c, "from_stage") ?: json_null(), "to",
                      json_object_get(c, "to_stage") ?: json_null(), "by",
                      json_object_get(c, "by") ?: json_null(), "reason",
                      json_object_get(c, "reason") ?: json_null()));
        if (json_object_get(v, "dataset_sha256") &&
            !json_is_null(json_object_get(v, "dataset_sha256")))
            json_array_append_new(
                ds, json_pack("{s:O, s:O, s:O}", "sha256", json_object_get(v, "dataset_sha256"),
                              "path", json_object_get(v, "dataset_path") ?: json_null(), "rows",
                              json_object_get(full, "dataset_rows") ?: json_null()));
        if (o) {
            json_object_set_new(o, "history", hist ? hist : json_array());
            json_object_set_new(o, "datasets", ds ? ds : json_array());
            json_object_set(o, "evaluations", json_object_get(full, "evaluations") ?: json_array());
            json_object_set(o, "params", json_object_get(full, "params") ?: json_null());
            json_array_append_new(versions, o);
        } else {
            json_decref(hist);
            json_decref(ds);
        }
        json_decref(full);
    }
    json_decref(doc);
    s_json(rs, versions ? json_pack("{s:s, s:o}", "name", name, "versions", versions) : NULL);
}

typedef struct {
    json_t *series; /* object: name -> {epoch string -> value} */
    size_t points;
} curve_t;

static int s_curve_point(void *ctx, const char *name, json_int_t epoch, double value,
                         json_int_t attempt)
{
    curve_t *c = ctx;
    json_t *s = json_object_get(c->series, name);
    if (!s) {
        s = json_object();
        if (!s || json_object_set_new(c->series, name, s) < 0)
            return -1;
    }
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)epoch);
    if (!json_object_get(s, key) && ++c->points > CURVE_POINTS_MAX)
        return 0;
    return json_object_set_new(s, key, json_real(value)); /* a later attempt's epoch wins */
}

static int s_cmp_epoch(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_array_get(*(json_t *const *)a, 0));
    json_int_t y = json_integer_value(json_array_get(*(json_t *const *)b, 0));
    return x < y ? -1 : x > y;
}

void api_curve(web_req_t *rq, web_resp_t *rs)
{
    const char *name = rq->params[0];
    uint64_t ver;
    if (!util_name_ok(name, 0) || api_parse_id(rq->params[1], &ver) < 0 || ver > INT32_MAX) {
        http_error(rs, 404, "no model version %s:%s", name, rq->params[1]);
        return;
    }
    json_t *m = s_models_doc(rq, rs, name, (uint32_t)ver);
    if (!m)
        return;
    json_int_t run_id = json_integer_value(json_object_get(m, "run_id"));
    char step[160] = "";
    util_strlcpy(step, json_string_value(json_object_get(m, "step")) ?: "", sizeof step);
    json_decref(m);
    json_t *doc = run_id > 0 && *step ? s_metrics_doc(rq, rs, (uint64_t)run_id, step) : NULL;
    curve_t c = {json_object(), 0};
    json_t *out = json_array();
    if (doc && c.series && s_points(doc, s_curve_point, &c) == 0) {
        const char *k;
        json_t *s;
        json_object_foreach(c.series, k, s)
        {
            size_t n = json_object_size(s), i = 0;
            json_t **pts = calloc(n + 1, sizeof *pts);
            const char *ek;
            json_t *v;
            json_object_foreach(s, ek, v)
            {
                if (pts)
                    pts[i++] = json_pack("[I, O]", (json_int_t)strtoll(ek, NULL, 10), v);
            }
            if (pts)
                qsort(pts, i, sizeof *pts, s_cmp_epoch);
            json_t *arr = json_array();
            for (size_t j = 0; pts && j < i; j++)
                json_array_append_new(arr, pts[j]);
            free(pts);
            json_array_append_new(out, json_pack("{s:s, s:o}", "name", k, "points", arr));
        }
    }
    /* A version with no producing step (registered by hand), or whose
     * step is gone (retention), has no curve: an empty list, not an error. */
    if (!doc && rs->status != 200 && rs->status != 404) {
        json_decref(c.series);
        json_decref(out);
        return;
    }
    json_decref(doc);
    json_decref(c.series);
    free(rs->body);
    rs->body = NULL;
    rs->status = 200;
    s_json(rs, json_pack("{s:s, s:I, s:o, s:s, s:o}", "name", name, "version", (json_int_t)ver,
                         "run_id", run_id > 0 ? json_integer(run_id) : json_null(), "step", step,
                         "series", out));
}

/* --------------------------------------------------------- approvals --- */

void api_approvals(web_req_t *rq, web_resp_t *rs)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__ApprovalsRequest q = DROVER__APPROVALS_REQUEST__INIT;
    q.limit = 100;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_APPROVALS;
    req.approvals = &q;
    json_t *doc = s_call_doc(rq, rs, &req);
    if (!doc)
        return;
    size_t i;
    json_t *a;
    json_array_foreach(doc, i, a)
    {
        json_object_set_new(a, "waiting_since",
                            api_time(json_integer_value(json_object_get(a, "waiting_since_us"))));
        json_object_del(a, "waiting_since_us");
    }
    s_json(rs, json_pack("{s:o}", "approvals", doc));
}

void api_approve(web_req_t *rq, web_resp_t *rs)
{
    uint64_t id;
    if (s_run_step(rq, rs, &id) < 0)
        return;
    json_t *in = json_loadb(rq->body, rq->body_len, 0, NULL);
    json_t *ap = json_object_get(in, "approve");
    const char *reason = json_string_value(json_object_get(in, "reason"));
    if (!json_is_boolean(ap) || !reason) {
        json_decref(in);
        http_error(rs, 400, "send {\"approve\": true|false, \"reason\": \"why\"}");
        return;
    }
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__ApproveRequest q = DROVER__APPROVE_REQUEST__INIT;
    q.run_id = id;
    q.step = (char *)rq->params[1];
    q.approve = json_is_true(ap);
    q.reason = (char *)reason;
    q.by = "";
    req.body_case = DROVER__CLIENT_REQUEST__BODY_APPROVE;
    req.approve = &q;
    Drover__ClientReply *rep = s_call(rq, rs, &req);
    json_decref(in);
    if (!rep)
        return;
    s_json(rs, json_pack("{s:s, s:b}", "result", rep->message ? rep->message : "done", "approved",
                         q.approve));
    drover__client_reply__free_unpacked(rep, NULL);
}

/* ----------------------------------------------------- the cluster --- */

void api_workers(web_req_t *rq, web_resp_t *rs)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__WorkersRequest q = DROVER__WORKERS_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_WORKERS;
    req.workers = &q;
    Drover__ClientReply *rep = s_call(rq, rs, &req);
    if (!rep)
        return;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < rep->n_workers; i++) {
        const Drover__WorkerInfo *w = rep->workers[i];
        json_t *labels = json_array(), *tasks = json_array();
        for (size_t j = 0; labels && j < w->n_labels; j++)
            json_array_append_new(labels, json_string(w->labels[j]));
        for (size_t j = 0; tasks && j < w->n_tasks; j++)
            json_array_append_new(tasks, json_pack("{s:I, s:s, s:i}", "run_id",
                                                   (json_int_t)w->tasks[j]->run_id, "step",
                                                   w->tasks[j]->step ? w->tasks[j]->step : "",
                                                   "attempt", (int)w->tasks[j]->attempt));
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:o, s:o}", "name",
                      w->name ? w->name : "", "host", w->host ? w->host : "", "state",
                      w->draining ? "draining" : "connected", "slots", (int)w->slots, "slots_used",
                      (int)w->running, "gpus", (int)w->gpus, "gpus_used", (int)w->gpus_used,
                      "memory_mb", (json_int_t)(w->memory_bytes >> 20), "memory_used_mb",
                      (json_int_t)(w->memory_used_bytes >> 20), "labels",
                      labels ? labels : json_array(), "tasks", tasks ? tasks : json_array());
        if (o)
            s_set(o, "last_heartbeat", api_time(w->last_heartbeat_us));
        json_array_append_new(arr, o);
    }
    drover__client_reply__free_unpacked(rep, NULL);
    s_json(rs, arr ? json_pack("{s:o}", "workers", arr) : NULL);
}

void api_queues(web_req_t *rq, web_resp_t *rs)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__QueueRequest q = DROVER__QUEUE_REQUEST__INIT;
    q.op = "list";
    req.body_case = DROVER__CLIENT_REQUEST__BODY_QUEUE;
    req.queue = &q;
    json_t *doc = s_call_doc(rq, rs, &req);
    if (doc)
        s_json(rs, json_pack("{s:o}", "queues", doc));
}

/* A schedule's next due times as RFC 3339 UTC (op next, 5 of them). */
static json_t *s_next_due(web_req_t *rq, const char *name)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__ScheduleRequest q = DROVER__SCHEDULE_REQUEST__INIT;
    q.op = "next";
    q.name = (char *)name;
    q.count = 5;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SCHEDULE;
    req.schedule = &q;
    web_resp_t scratch = {0}; /* an error here leaves the list without due times */
    json_t *doc = s_call_doc(rq, &scratch, &req);
    free(scratch.body);
    json_t *out = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "due"), i, d) json_array_append_new(
        out, api_time(json_integer_value(json_object_get(d, "unix")) * 1000000));
    json_decref(doc);
    return out;
}

void api_schedules(web_req_t *rq, web_resp_t *rs)
{
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    Drover__ScheduleRequest q = DROVER__SCHEDULE_REQUEST__INIT;
    q.op = "list";
    req.body_case = DROVER__CLIENT_REQUEST__BODY_SCHEDULE;
    req.schedule = &q;
    json_t *doc = s_call_doc(rq, rs, &req);
    if (!doc)
        return;
    size_t i;
    json_t *s;
    json_array_foreach(doc, i, s)
    {
        const char *kind = json_string_value(json_object_get(s, "kind"));
        json_object_set(s, "next_due_local", json_object_get(s, "next_due") ?: json_null());
        if (i < SCHEDULES_NEXT_MAX && kind && !strcmp(kind, "schedule"))
            json_object_set_new(
                s, "next_due", s_next_due(rq, json_string_value(json_object_get(s, "name")) ?: ""));
        else
            json_object_set_new(s, "next_due", json_array());
    }
    s_json(rs, json_pack("{s:o}", "schedules", doc));
}
