/* server_client — the client API; see server_int.h.
 *
 * One table, s_rpcs[] below, maps each request (and sub-operation) to the
 * least role it needs, its handler, how a database error in it is
 * contained, and any rule the handler adds (ownership, grants): it is the
 * whole permission model, mirrored in docs/security.md. A request is
 * decoded and checked (wirecheck.c), authenticated (auth_peer),
 * rate-limited (client_rate), matched to its row, role-checked, then
 * handled — inside SAVEPOINT request when it writes. Long-polls (status,
 * logs with wait_ms) park a few fields, capped per key and in all, and are
 * handled again when their run or task changes or their time is up.
 */
#include "server_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "auth.h"
#include "calendar.h"
#include "db.h"
#include "leader.h"
#include "log.h"
#include "model.h"
#include "registry.h"
#include "rerun.h"
#include "store.h"
#include "util.h"
#include "wire.h"
#include "wirecheck.h"

/* ----------------------------------------------------------- clients --- */

/* Who did it, for the records: "PREFIX KEY (says WORDS)" — the key first
 * and whole, the client's own words after, cut to cut bytes, and the whole
 * made valid UTF-8 (a cut may split a character, and a client may send
 * anything; PostgreSQL and the reports' JSON refuse invalid text, which
 * would fail the request for a label). */
static void s_says(char *out, size_t len, const char *prefix, const char *key, const char *words,
                   int cut)
{
    snprintf(out, len, "%s%s (says %.*s)", prefix, key, cut, words);
    util_utf8_sanitize(out);
}

static void s_reply_client(server_t *s, const uint8_t *ident, size_t ident_len,
                           Drover__ClientReply *r)
{
    r->version = DROVER_PROTOCOL_VERSION;
    if (r->error != DROVER__ERROR_CODE__ERROR_NONE)
        observe_refused(s->obs, (int)r->error);
    server_queue(s, SOCK_CLIENT, ident, ident_len, &r->base);
}

/* ri->params from the run's {"NAME":"VALUE"} text, in one block that the
 * caller frees with free(ri->params) (NULL when there are none). */
static void s_fill_params(const char *text, Drover__RunInfo *ri)
{
    json_t *o = text && *text ? json_loads(text, 0, NULL) : NULL;
    size_t n = json_is_object(o) ? json_object_size(o) : 0, bytes = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) bytes +=
        strlen(k) + strlen(json_string_value(v) ? json_string_value(v) : "") + 2;
    char *block = n ? malloc(n * (sizeof(Drover__Param *) + sizeof(Drover__Param)) + bytes) : NULL;
    if (block) {
        Drover__Param **pp = (Drover__Param **)block;
        Drover__Param *p = (Drover__Param *)(block + n * sizeof *pp);
        char *str = (char *)(p + n);
        size_t i = 0;
        json_object_foreach(o, k, v)
        {
            const char *val = json_string_value(v) ? json_string_value(v) : "";
            drover__param__init(&p[i]);
            p[i].name = strcpy(str, k);
            str += strlen(k) + 1;
            p[i].value = strcpy(str, val);
            str += strlen(val) + 1;
            pp[i] = &p[i];
            i++;
        }
        ri->params = pp;
        ri->n_params = n;
    }
    json_decref(o);
}

static void s_fill_run(server_t *s, const PGresult *res, int row, Drover__RunInfo *ri)
{
    ri->id = (uint64_t)db_get_i64(res, row, 0);
    ri->workflow = (char *)db_get_str(res, row, 1);
    ri->state = wire_run_state_from_name(db_get_str(res, row, 2));
    ri->submitted_at_us = db_get_i64(res, row, 3);
    ri->started_at_us = db_get_i64(res, row, 4);
    ri->finished_at_us = db_get_i64(res, row, 5);
    ri->tasks_total = (uint32_t)db_get_i64(res, row, 6);
    ri->tasks_done = (uint32_t)db_get_i64(res, row, 7);
    ri->due_at_us = db_get_i64(res, row, 9);
    ri->submitted_by = (char *)db_get_str(res, row, 10);
    ri->schedule = (char *)db_get_str(res, row, 11);
    run_t *r = model_run(s->model, (int64_t)ri->id);
    ri->version = r ? r->version : 0;
    ri->awaiting_approval = r && r->state == DROVER__RUN_STATE__RUN_RUNNING && r->nawaiting > 0;
}

static int s_client_runs(server_t *s, const Drover__RunsRequest *q, Drover__ClientReply *rep,
                         const uint8_t *ident, size_t ident_len)
{
    int limit = q && q->limit ? (int)q->limit : 20;
    if (limit > 1000)
        limit = 1000;
    const Drover__RunsFilter *f = q ? q->filter : NULL;
    /* Checked before the query: text that is not a state or a name (bad
     * UTF-8 among it) must not reach PostgreSQL as a failing statement. */
    const char *bad = NULL;
    if (f && f->state && *f->state &&
        wire_run_state_from_name(f->state) == DROVER__RUN_STATE__RUN_STATE_UNSPECIFIED)
        bad = "state: one of running, succeeded, failed, cancelled, rejected";
    else if (f && f->workflow && *f->workflow && !util_name_ok(f->workflow, 0))
        bad = "workflow: not a workflow name";
    else if (f && f->schedule && *f->schedule && !util_name_ok(f->schedule, 0))
        bad = "schedule: not a schedule name";
    if (bad) {
        rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        rep->message = (char *)bad;
        s_reply_client(s, ident, ident_len, rep);
        return 0;
    }
    PGresult *res = store_runs_list(
        s->st, limit, f && f->state ? f->state : "", f && f->workflow ? f->workflow : "",
        f ? f->since_us : 0, q ? (int64_t)q->before_id : 0, f && f->schedule ? f->schedule : "");
    if (!res)
        return -1;
    int n = PQntuples(res);
    Drover__RunInfo *ri = calloc((size_t)n + 1, sizeof *ri);
    Drover__RunInfo **rp = calloc((size_t)n + 1, sizeof *rp);
    if (!ri || !rp) {
        free(ri);
        free(rp);
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        drover__run_info__init(&ri[i]);
        s_fill_run(s, res, i, &ri[i]);
        rp[i] = &ri[i];
    }
    rep->n_runs = (size_t)n;
    rep->runs = rp;
    s_reply_client(s, ident, ident_len, rep);
    free(ri);
    free(rp);
    PQclear(res);
    return 0;
}

/* Status of an active run, from memory: no query, however large the run
 * (--wait asks for it on every change). */
static int s_client_status_live(server_t *s, run_t *r, Drover__ClientReply *rep,
                                const uint8_t *ident, size_t ident_len)
{
    int n = r->ntasks, rc = -1;
    size_t nafter = 0;
    for (int i = 0; i < n; i++)
        nafter += (size_t)r->tasks[i].nparents;
    Drover__TaskInfo *ti = calloc((size_t)n + 1, sizeof *ti);
    Drover__TaskInfo **tp = calloc((size_t)n + 1, sizeof *tp);
    char **after = calloc(nafter + 1, sizeof *after);
    if (!ti || !tp || !after)
        goto out;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        const task_t *t = &r->tasks[i];
        Drover__TaskInfo *x = &ti[i];
        drover__task_info__init(x);
        x->id = (uint64_t)t->id;
        x->name = t->name;
        x->kind = t->kind;
        x->state = t->state;
        x->attempt = (uint32_t)t->attempt;
        x->worker = (char *)t->worker;
        x->started_at_us = t->started_us;
        x->finished_at_us = t->finished_us;
        x->has_exit_code = t->has_exit_code;
        x->exit_code = t->exit_code;
        x->error = t->error ? t->error : "";
        x->retries = (uint32_t)t->retries;
        x->after = &after[k];
        x->n_after = (size_t)t->nparents;
        for (int p = 0; p < t->nparents; p++)
            after[k++] = r->tasks[t->parents[p]].name;
        tp[i] = x;
    }
    Drover__RunInfo ri = DROVER__RUN_INFO__INIT;
    Drover__RunInfo *rip = &ri;
    ri.id = (uint64_t)r->id;
    ri.workflow = r->workflow;
    ri.state = r->state;
    ri.submitted_at_us = r->submitted_us;
    ri.started_at_us = r->submitted_us; /* runs start when submitted */
    ri.tasks_total = (uint32_t)n;
    ri.tasks_done = (uint32_t)r->ndone;
    ri.version = r->version;
    ri.awaiting_approval = r->nawaiting > 0;
    s_fill_params(r->params_json, &ri);
    ri.due_at_us = r->due_us;
    rep->n_runs = 1;
    rep->runs = &rip;
    rep->n_tasks = (size_t)n;
    rep->tasks = tp;
    s_reply_client(s, ident, ident_len, rep);
    rc = 0;
    free(ri.params);
out:
    free(ti);
    free(tp);
    free(after);
    return rc;
}

static int s_client_status(server_t *s, int64_t run_id, Drover__ClientReply *rep,
                           const uint8_t *ident, size_t ident_len)
{
    PGresult *rr = store_run_get(s->st, run_id);
    if (!rr)
        return -1;
    if (PQntuples(rr) == 0) {
        PQclear(rr);
        char msg[64];
        snprintf(msg, sizeof msg, "no run %lld", (long long)run_id);
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        rep->message = msg;
        s_reply_client(s, ident, ident_len, rep);
        return 0;
    }
    PGresult *tr = store_run_tasks(s->st, run_id);
    if (!tr) {
        PQclear(rr);
        return -1;
    }
    int n = PQntuples(tr);
    Drover__RunInfo ri = DROVER__RUN_INFO__INIT;
    Drover__RunInfo *rip = &ri;
    s_fill_run(s, rr, 0, &ri);
    s_fill_params(db_get_str(rr, 0, 8), &ri);
    Drover__TaskInfo *ti = calloc((size_t)n + 1, sizeof *ti);
    Drover__TaskInfo **tp = calloc((size_t)n + 1, sizeof *tp);
    char **after = calloc((size_t)n + 1, sizeof *after);
    char ***afterv = calloc((size_t)n + 1, sizeof *afterv);
    int rc = -1;
    if (!ti || !tp || !after || !afterv)
        goto out;
    for (int i = 0; i < n; i++) {
        Drover__TaskInfo *t = &ti[i];
        drover__task_info__init(t);
        t->id = (uint64_t)db_get_i64(tr, i, 0);
        t->name = (char *)db_get_str(tr, i, 1);
        t->kind = (char *)db_get_str(tr, i, 2);
        t->state = wire_task_state_from_name(db_get_str(tr, i, 3));
        t->attempt = (uint32_t)db_get_i64(tr, i, 4);
        t->worker = (char *)db_get_str(tr, i, 5);
        t->started_at_us = db_get_i64(tr, i, 6);
        t->finished_at_us = db_get_i64(tr, i, 7);
        t->has_exit_code = !db_is_null(tr, i, 8);
        t->exit_code = (int32_t)db_get_i64(tr, i, 8);
        t->error = (char *)db_get_str(tr, i, 9);
        t->retries = (uint32_t)db_get_i64(tr, i, 10);
        /* "a,b,c" -> ["a","b","c"]: names cannot contain commas. */
        const char *list = db_get_str(tr, i, 11);
        if (*list) {
            after[i] = strdup(list);
            size_t cnt = 1;
            for (const char *p = list; *p; p++)
                cnt += *p == ',';
            afterv[i] = calloc(cnt, sizeof(char *));
            if (!after[i] || !afterv[i])
                goto out;
            size_t k = 0;
            for (char *save = NULL, *tok = strtok_r(after[i], ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
                afterv[i][k++] = tok;
            t->n_after = k;
            t->after = afterv[i];
        }
        tp[i] = t;
    }
    rep->n_runs = 1;
    rep->runs = &rip;
    rep->n_tasks = (size_t)n;
    rep->tasks = tp;
    s_reply_client(s, ident, ident_len, rep);
    rc = 0;
out:
    for (int i = 0; after && afterv && i < n; i++) {
        free(after[i]);
        free(afterv[i]);
    }
    free(after);
    free(afterv);
    free(ti);
    free(tp);
    free(ri.params);
    PQclear(rr);
    PQclear(tr);
    return rc;
}

/* Reads one page of a stream from *off into buf. A gap (bytes not stored)
 * ends the page while the attempt may still send them; once it has ended
 * (settled) they will never come, so the page says so in a marker line and
 * goes on after the gap (the reply's offsets, not the bytes, tell the
 * reader where it is). Returns 0 or -1 (database). */
static int s_take_stream(store_t *st, int64_t task_id, int attempt, int stream, uint64_t *off,
                         uint8_t *buf, size_t *len, size_t cap, int *more, int settled)
{
    PGresult *res = store_logs(st, task_id, attempt, stream, *off, cap);
    if (!res)
        return -1;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        uint64_t o;
        const uint8_t *d;
        size_t dl;
        if (store_log_row(res, i, &o, &d, &dl) < 0) {
            PQclear(res);
            return -1;
        }
        if (o > *off) { /* a gap: bytes not stored (yet) */
            if (!settled)
                break;
            char mark[160];
            int ml = snprintf(mark, sizeof mark,
                              "\n[drover: %llu bytes of this output never reached the "
                              "coordinator]\n",
                              (unsigned long long)(o - *off));
            if (*len + (size_t)ml > cap) {
                *more = 1;
                break;
            }
            memcpy(buf + *len, mark, (size_t)ml);
            *len += (size_t)ml;
            *off = o;
        }
        size_t skip = (size_t)(*off - o);
        if (skip < dl) {
            size_t take = dl - skip;
            if (*len + take > cap) {
                take = cap - *len;
                *more = 1;
            }
            memcpy(buf + *len, d + skip, take);
            *len += take;
            *off += take;
        }
        if (*more)
            break;
    }
    if (n >= 256)
        *more = 1;
    PQclear(res);
    return 0;
}

static int s_task_terminal(const char *state)
{
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "skipped") ||
           !strcmp(state, "cancelled");
}

/* Returns 1 when the request was parked (no reply yet), 0 replied, -1 db. */
static int s_client_logs(server_t *s, const Drover__LogsRequest *q, int may_hold,
                         Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len,
                         held_t *park)
{
    PGresult *tr = store_task_by_name(s->st, (int64_t)q->run_id, q->step ? q->step : "");
    if (!tr)
        return -1;
    if (PQntuples(tr) == 0) {
        PQclear(tr);
        char msg[300];
        snprintf(msg, sizeof msg, "run %llu has no step '%s' (see: drover status %llu)",
                 (unsigned long long)q->run_id, q->step ? q->step : "",
                 (unsigned long long)q->run_id);
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        rep->message = msg;
        s_reply_client(s, ident, ident_len, rep);
        return 0;
    }
    int64_t task_id = db_get_i64(tr, 0, 0);
    int current = (int)db_get_i64(tr, 0, 1);
    char state[32];
    util_strlcpy(state, db_get_str(tr, 0, 2), sizeof state);
    PQclear(tr);
    int attempt = q->attempt ? (int)q->attempt : current;
    uint64_t out_off = q->stdout_offset, err_off = q->stderr_offset;
    uint8_t *obuf = malloc(LOG_REPLY_MAX), *ebuf = malloc(LOG_REPLY_MAX);
    size_t olen = 0, elen = 0;
    int more = 0, rc = -1;
    if (!obuf || !ebuf)
        goto out;
    int ended = s_task_terminal(state) || attempt < current;
    if (attempt > 0 && (s_take_stream(s->st, task_id, attempt, 1, &out_off, obuf, &olen,
                                      LOG_REPLY_MAX, &more, ended) < 0 ||
                        s_take_stream(s->st, task_id, attempt, 2, &err_off, ebuf, &elen,
                                      LOG_REPLY_MAX, &more, ended) < 0))
        goto out;
    int finished = ended && !more && olen == 0 && elen == 0;
    if (may_hold && q->wait_ms && olen == 0 && elen == 0 && !ended) {
        task_t *t = model_task(s->model, task_id);
        park->task_id = task_id;
        park->logseq = t ? t->logseq : 0;
        /* A transition (e.g. the task ending) wakes it too. */
        park->run_id = t ? t->run->id : 0;
        park->version = t ? t->run->version : 0;
        rc = 1;
        goto out;
    }
    Drover__LogsReply lg = DROVER__LOGS_REPLY__INIT;
    lg.attempt = (uint32_t)attempt;
    lg.stdout_data.data = obuf;
    lg.stdout_data.len = olen;
    lg.stderr_data.data = ebuf;
    lg.stderr_data.len = elen;
    lg.stdout_offset = out_off;
    lg.stderr_offset = err_off;
    lg.finished = finished;
    lg.state = wire_task_state_from_name(state);
    rep->logs = &lg;
    s_reply_client(s, ident, ident_len, rep);
    rc = 0;
out:
    free(obuf);
    free(ebuf);
    return rc;
}

static void s_client_workers(server_t *s, Drover__ClientReply *rep, const uint8_t *ident,
                             size_t ident_len)
{
    size_t n = 0;
    for (worker_t *w = model_workers(s->model); w; w = w->next)
        n += w->connected;
    Drover__WorkerInfo *wi = calloc(n + 1, sizeof *wi);
    Drover__WorkerInfo **wp = calloc(n + 1, sizeof *wp);
    char **lp = calloc((n + 1) * CONFIG_MAX_LABELS, sizeof *lp);
    /* Each worker's attempts, at most WORKER_TASKS_MAX of them. */
    size_t ntasks = 0;
    for (worker_t *w = model_workers(s->model); w; w = w->next)
        if (w->connected)
            ntasks += w->nheld < WORKER_TASKS_MAX ? w->nheld : WORKER_TASKS_MAX;
    Drover__WorkerTask *wt = calloc(ntasks + 1, sizeof *wt);
    Drover__WorkerTask **wtp = calloc(ntasks + 1, sizeof *wtp);
    if (!wi || !wp || !lp || !wt || !wtp) {
        log_error("out of memory listing workers");
        goto out;
    }
    size_t i = 0, k = 0;
    for (worker_t *w = model_workers(s->model); w; w = w->next) {
        if (!w->connected)
            continue;
        drover__worker_info__init(&wi[i]);
        wi[i].name = w->name;
        wi[i].host = w->host;
        wi[i].slots = (uint32_t)w->slots;
        wi[i].running = (uint32_t)w->nheld;
        wi[i].memory_bytes = w->memory;
        wi[i].memory_used_bytes = w->used_memory;
        wi[i].gpus = (uint32_t)w->gpus;
        wi[i].gpus_used = (uint32_t)__builtin_popcountll(w->used_gpus);
        wi[i].draining = w->draining;
        wi[i].last_heartbeat_us = w->last_seen_us;
        wi[i].connected = 1;
        for (int l = 0; l < w->nlabels; l++)
            lp[i * CONFIG_MAX_LABELS + (size_t)l] = w->labels[l];
        wi[i].n_labels = (size_t)w->nlabels;
        wi[i].labels = &lp[i * CONFIG_MAX_LABELS];
        wi[i].tasks = &wtp[k];
        for (size_t h = 0; h < w->nheld && wi[i].n_tasks < WORKER_TASKS_MAX; h++) {
            const task_t *t = model_task(s->model, w->held[h].task_id);
            if (!t)
                continue;
            drover__worker_task__init(&wt[k]);
            wt[k].run_id = (uint64_t)t->run->id;
            wt[k].step = t->name;
            wt[k].attempt = (uint32_t)w->held[h].attempt;
            wtp[k] = &wt[k];
            k++;
            wi[i].n_tasks++;
        }
        wp[i] = &wi[i];
        i++;
    }
    rep->n_workers = n;
    rep->workers = wp;
    s_reply_client(s, ident, ident_len, rep);
out:
    free(wi);
    free(wp);
    free(lp);
    free(wt);
    free(wtp);
}

/* The error of a command that a module carried out or refused: rc 0 done
 * (msg recorded in the audit trail under actor), 1 no such thing, 2 not
 * this key's to do. The caller sets rep->message. 0, or -1 on a database
 * error. */
static int s_outcome(server_t *s, int rc, const char *actor, const char *msg,
                     Drover__ClientReply *rep)
{
    if (rc == 2)
        rep->error = DROVER__ERROR_CODE__ERROR_FORBIDDEN;
    else if (rc == 1)
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
    else if (store_audit(s->st, 0, actor, msg) < 0)
        return -1;
    return 0;
}

/* The ML requests: reads answered with a JSON document, and promote. */
static int s_client_ml(server_t *s, const Drover__ClientRequest *in, const char *actor,
                       auth_role_t role, Drover__ClientReply *rep, const uint8_t *ident,
                       size_t ident_len)
{
    char msg[600];
    char *doc = NULL;
    const char *step = "";
    int64_t run_id = 0;
    switch (in->body_case) {
    case DROVER__CLIENT_REQUEST__BODY_REPORT:
    case DROVER__CLIENT_REQUEST__BODY_METRICS: {
        const Drover__StepDataRequest *q =
            in->body_case == DROVER__CLIENT_REQUEST__BODY_REPORT ? in->report : in->metrics;
        run_id = (int64_t)q->run_id;
        step = q->step ? q->step : "";
        doc = in->body_case == DROVER__CLIENT_REQUEST__BODY_REPORT
                  ? store_report_json(s->st, run_id, step)
                  : store_metrics_json(s->st, run_id, step);
        if (doc && !*doc)
            snprintf(msg, sizeof msg, "run %lld has no %s for step '%s' (see: drover status %lld)",
                     (long long)run_id,
                     in->body_case == DROVER__CLIENT_REQUEST__BODY_REPORT ? "report" : "step", step,
                     (long long)run_id);
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_MODELS: {
        const char *name = in->models->name ? in->models->name : "";
        if (in->models->version) {
            doc = store_model_json(s->st, name, (int)in->models->version);
            if (doc && !*doc)
                snprintf(msg, sizeof msg, "no model version %s:%u (see: drover models %s)", name,
                         in->models->version, name);
        } else {
            doc = store_models_json(s->st, name);
        }
        break;
    }
    case DROVER__CLIENT_REQUEST__BODY_PROMOTE: {
        const Drover__PromoteRequest *q = in->promote;
        const char *stage = q->stage ? q->stage : "";
        if (strcmp(stage, "staging") && strcmp(stage, "production") && strcmp(stage, "archived")) {
            snprintf(msg, sizeof msg, "unknown stage '%s' (use staging, production or archived)",
                     stage);
            rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            rep->message = msg;
            s_reply_client(s, ident, ident_len, rep);
            return 0;
        }
        char by[300];
        s_says(by, sizeof by, "key ", actor, q->by && *q->by ? q->by : "nothing", 200);
        registry_actor_t who = {actor, role == AUTH_ROLE_ADMIN};
        int rc = registry_promote(s->st, &who, q->name ? q->name : "", (int)q->version,
                                  q->stage ? q->stage : "", by,
                                  q->reason && *q->reason ? q->reason : NULL, msg, sizeof msg);
        if (rc < 0 || s_outcome(s, rc, actor, msg, rep) < 0)
            return -1;
        rep->message = msg;
        s_reply_client(s, ident, ident_len, rep);
        return 0;
    }
    default: return 0;
    }
    if (!doc)
        return -1;
    if (!*doc) {
        rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
        rep->message = msg;
    } else {
        rep->json = doc;
    }
    s_reply_client(s, ident, ident_len, rep);
    free(doc);
    return 0;
}

/* Schedules and triggers: list, pause, resume, rm, trigger. */
static int s_client_schedule(server_t *s, const Drover__ScheduleRequest *q, const char *actor,
                             auth_role_t role, Drover__ClientReply *rep, const uint8_t *ident,
                             size_t ident_len)
{
    char msg[600];
    char *doc = NULL;
    /* The table lets submitters in; calendar_op lets only the owner or an admin act. */
    int rc = calendar_op(s->cal, q, actor, role >= AUTH_ROLE_ADMIN, &doc, msg, sizeof msg);
    if (rc < 0)
        return -1;
    if (doc) {
        rep->json = doc;
    } else if (rc == 3) {
        rep->error = DROVER__ERROR_CODE__ERROR_CONFLICT;
        rep->message = msg;
    } else {
        if (s_outcome(s, rc, actor, msg, rep) < 0)
            return -1;
        rep->message = msg;
    }
    s_reply_client(s, ident, ident_len, rep);
    free(doc);
    return 0;
}

/* The allow-list with each key's grants ("promote claims-*"). */
static char *s_keys_list_json(server_t *s)
{
    char *keys = auth_list_json(s->auth), *grants = keys ? store_grants_json(s->st) : NULL;
    json_t *k = grants ? json_loads(keys, 0, NULL) : NULL,
           *g = k ? json_loads(grants, 0, NULL) : NULL;
    char *out = NULL;
    size_t i, j;
    json_t *ko, *go;
    if (!k || !g)
        goto done;
    json_array_foreach(k, i, ko)
    {
        json_t *list = json_array();
        const char *name = json_string_value(json_object_get(ko, "name"));
        json_array_foreach(g, j, go)
        {
            if (!name || strcmp(name, json_string_value(json_object_get(go, "key")) ?: ""))
                continue;
            char one[200];
            snprintf(one, sizeof one, "%s %s", json_string_value(json_object_get(go, "right")),
                     json_string_value(json_object_get(go, "pattern")));
            json_array_append_new(list, json_string(one));
        }
        json_object_set_new(ko, "grants", list);
    }
    out = json_dumps(k, JSON_COMPACT);
done:
    json_decref(k);
    json_decref(g);
    free(keys);
    free(grants);
    return out;
}

/* The allow-list: list, allow, revoke, rebind, grant, ungrant (admin). */
static int s_client_keys(server_t *s, const Drover__KeysRequest *q, const char *actor,
                         Drover__ClientReply *rep, const uint8_t *ident, size_t ident_len)
{
    char msg[600];
    const char *op = q->op ? q->op : "";
    int rc = 1;
    if (strcmp(op, "list") == 0) {
        char *doc = s_keys_list_json(s);
        if (!doc)
            return -1;
        rep->json = doc;
        s_reply_client(s, ident, ident_len, rep);
        free(doc);
        return 0;
    }
    const char *name = q->name ? q->name : "";
    if (strcmp(op, "rebind") == 0) {
        const char *worker = q->worker ? q->worker : "";
        const char *kind = auth_key_kind(s->auth, name);
        if (!*worker || strlen(worker) >= sizeof(((worker_t *)0)->name))
            snprintf(msg, sizeof msg, "rebind needs a worker name of 1 to 127 characters");
        else if (!kind || strcmp(kind, "worker") != 0)
            snprintf(msg, sizeof msg, "'%s' is not an allowed worker key (see: drover keys list)",
                     name);
        else {
            char why[300];
            snprintf(why, sizeof why, "worker %s: its name was given to key '%s'", worker, name);
            if (store_worker_rebind(s->st, worker, name) < 0 ||
                model_worker_evict(s->model, worker, why) < 0)
                return -1;
            snprintf(msg, sizeof msg, "worker name '%s' now belongs to key '%s'", worker, name);
            rc = 0;
        }
    } else if (strcmp(op, "grant") == 0 || strcmp(op, "ungrant") == 0) {
        int add = strcmp(op, "grant") == 0;
        const char *right = q->right ? q->right : "", *pattern = q->pattern ? q->pattern : "";
        const char *kind = auth_key_kind(s->auth, name);
        if (!kind || strcmp(kind, "client") != 0)
            snprintf(msg, sizeof msg, "'%s' is not an allowed client key (see: drover keys list)",
                     name);
        else if (strcmp(right, "promote") != 0 && strcmp(right, "approve") != 0)
            snprintf(msg, sizeof msg, "unknown right '%s' (promote, approve)", right);
        else if (!*pattern || strlen(pattern) > 128)
            snprintf(msg, sizeof msg, "a grant needs a model-name pattern of 1 to 128 characters");
        else {
            int g = store_grant(s->st, name, right, pattern, actor, add);
            if (g < 0)
                return -1;
            if (g == 0)
                snprintf(msg, sizeof msg, "key '%s' %s %s on '%s'", name,
                         add ? "already has" : "has no", right, pattern);
            else
                snprintf(msg, sizeof msg, "key '%s' %s %s on models '%s'", name,
                         add ? "may now" : "may no longer", right, pattern);
            rc = g ? 0 : 1;
        }
    } else if (strcmp(op, "allow") == 0)
        rc = auth_allow(s->auth, s->st, q->name ? q->name : "", q->kind ? q->kind : "", q->role,
                        q->public_key ? q->public_key : "", actor, msg, sizeof msg);
    else if (strcmp(op, "revoke") == 0) {
        rc = auth_revoke(s->auth, s->st, q->name ? q->name : "", actor, msg, sizeof msg);
        if (rc == 0 && model_workers_evict_key(s->model, q->name) < 0)
            rc = -1;
        if (rc == 0 && calendar_key_revoked(s->cal, q->name) < 0)
            rc = -1;
    } else
        snprintf(msg, sizeof msg,
                 "unknown keys operation '%s' (allow, revoke, list, rebind, grant, ungrant)", op);
    if (rc < 0)
        return -1;
    if (rc == 1)
        rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
    else {
        char detail[700];
        snprintf(detail, sizeof detail, "keys %s: %s", op, msg);
        if (store_audit(s->st, 0, actor, detail) < 0)
            return -1;
    }
    rep->message = msg;
    s_reply_client(s, ident, ident_len, rep);
    return 0;
}

/* ------------------------------------------------------ request table --- */

/* One request being handled: what a handler reads and where it answers. */
typedef struct {
    server_t *s;
    const Drover__ClientRequest *in;
    Drover__ClientReply *rep;
    const uint8_t *ident;
    size_t ident_len;
    const char *actor; /* the key's name ("insecure" without CURVE) */
    auth_role_t role;
    int via_web;                   /* sent by drover-web for a person: actor is the token's key */
    char web_actor[KEYS_NAME_MAX]; /* ... copied: the token table may change in a handler */
    int may_hold;                  /* 0 when re-handling a parked request */
    held_t *park;                  /* filled by a handler that returns 1 */
    Drover__ClientRequest *own;    /* in, when heap-owned: a handler may take it (then NULL) */
    int off_loop;                  /* decoded by the bulk thread (a frame over DECODE_INLINE_MAX) */
    int checked; /* ... and its submit rules passed (1) or failed (-1, rules_err) */
    const char *rules_err;
    char msg[1024];
} creq_t;

/* A handler answers (0), parks the request (1: c->park filled), or fails on
 * the database (-1: the loop resets; nothing was answered). */
typedef int (*client_handler_f)(creq_t *c);

static void s_reply(creq_t *c)
{
    s_reply_client(c->s, c->ident, c->ident_len, c->rep);
}

static int s_reply_error(creq_t *c, Drover__ErrorCode code)
{
    c->rep->error = code;
    c->rep->message = c->msg;
    s_reply(c);
    return 0;
}

static int s_dispatch(server_t *s, const uint8_t *ident, size_t ident_len, const char *user_id,
                      Drover__ClientRequest *in, int may_hold, Drover__ClientRequest **own,
                      const bulk_job_t *dec);
static int s_batch_take(creq_t *c, client_handler_f handler, const char *user_id);

/* A large submit: its queue checked here, its rules and its rows by the
 * bulk thread, answered by server_client_bulk_done once it is durable or
 * refused (bulk.h). */
static int s_submit_bulk(creq_t *c, const Drover__SubmitRequest *sq, const char *key)
{
    server_t *s = c->s;
    if (model_submit_queue_check(s->model, sq, c->msg, sizeof c->msg) < 0)
        return errno == EINVAL ? s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST) : -1;
    size_t mine = bulk_count(s->bulk, c->actor), all = bulk_count(s->bulk, NULL);
    if (mine >= BULK_PER_KEY || all >= BULK_TOTAL) {
        snprintf(c->msg, sizeof c->msg,
                 "too many large submits being stored (%s): at most %d per key and %d in all "
                 "(over %d steps and dependencies each); submit again when one is answered",
                 mine >= BULK_PER_KEY ? "this key's" : "everyone's", BULK_PER_KEY, BULK_TOTAL,
                 SUBMIT_INLINE_ROWS);
        server_count_drop(s, "a large submit over the cap");
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_RATE_LIMITED);
    }
    bulk_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return -1;
    j->in = c->own;
    c->own = NULL;
    j->req = *sq;
    util_strlcpy(j->by, sq->submitted_by, sizeof j->by);
    j->req.submitted_by = j->by;
    util_strlcpy(j->key, key, sizeof j->key);
    util_strlcpy(j->actor, c->actor, sizeof j->actor);
    memcpy(j->ident, c->ident, c->ident_len);
    j->ident_len = c->ident_len;
    j->epoch = leader_epoch(s->leader);
    j->generation = s->loads;
    j->kind = BULK_INSERT;
    j->checked = c->checked == 1;
    bulk_push(s->bulk, j);
    return 0;
}

/* A client frame over DECODE_INLINE_MAX: its key is checked here, the rest
 * (decoding it, a submit's rules) is done by the bulk thread and the
 * request comes back through server_client_bulk_done. */
static void s_decode_off_loop(server_t *s, const uint8_t *ident, size_t ident_len,
                              const char *user_id, const uint8_t *data, size_t len)
{
    Drover__ClientReply r = DROVER__CLIENT_REPLY__INIT;
    char msg[400], why[200];
    int has_rid = wirecheck_peek_request_id(data, len, &r.request_id) == 0;
    const char *actor;
    auth_role_t role;
    bulk_job_t *j = NULL;
    r.message = msg;
    if (auth_peer(s->auth, user_id, "client", &actor, &role, why, sizeof why) < 0) {
        snprintf(msg, sizeof msg, "refused: %s", why);
        r.error = DROVER__ERROR_CODE__ERROR_FORBIDDEN;
    } else if (bulk_count(s->bulk, actor) >= BULK_PER_KEY ||
               bulk_count(s->bulk, NULL) >= BULK_TOTAL) {
        snprintf(msg, sizeof msg,
                 "too many large requests being handled: at most %d per key and %d in all (over "
                 "%u bytes or %d steps and dependencies each); send it again when one is answered",
                 BULK_PER_KEY, BULK_TOTAL, DECODE_INLINE_MAX, SUBMIT_INLINE_ROWS);
        r.error = DROVER__ERROR_CODE__ERROR_RATE_LIMITED;
    } else if (!(j = calloc(1, sizeof *j)) || !(j->frame = malloc(len))) {
        snprintf(msg, sizeof msg,
                 "out of memory receiving a request of %zu bytes; nothing was done", len);
        r.error = DROVER__ERROR_CODE__ERROR_INTERNAL;
        free(j);
        j = NULL;
    }
    if (!j) {
        if (has_rid)
            s_reply_client(s, ident, ident_len, &r);
        server_count_drop(s, "a large request refused before decoding");
        return;
    }
    memcpy(j->frame, data, len);
    j->len = len;
    j->kind = BULK_DECODE;
    j->request_id = r.request_id;
    j->has_request_id = has_rid;
    util_strlcpy(j->user_id, user_id, sizeof j->user_id);
    util_strlcpy(j->key, actor, sizeof j->key);
    util_strlcpy(j->actor, actor, sizeof j->actor);
    memcpy(j->ident, ident, ident_len);
    j->ident_len = ident_len;
    bulk_push(s->bulk, j);
}

void server_client_oversized(server_t *s, const wire_msg_t *m)
{
    char msg[200];
    snprintf(msg, sizeof msg,
             "request of %zu bytes exceeds the limit of %zu bytes (coordinator.max_message); "
             "nothing was done",
             m->len, s->cfg->coord.max_message);
    uint64_t rid;
    if (wirecheck_peek_request_id(m->data, m->len, &rid) == 0) {
        Drover__ClientReply r = DROVER__CLIENT_REPLY__INIT;
        r.request_id = rid;
        r.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        r.message = msg;
        s_reply_client(s, m->ident, m->ident_len, &r);
    }
    server_count_drop(s, "an oversized client request");
    server_warn_limited(s, *m->user_id ? m->user_id : "insecure", "an oversized request", msg);
}

int server_client_bulk_done(server_t *s)
{
    int rc = 0;
    for (bulk_job_t *j = bulk_done(s->bulk); j;) {
        bulk_job_t *next = j->next;
        if (j->status == BULK_DECODED && s->stop) {
            /* The thread is gone: nothing more can be stored. */
            j->status = BULK_REFUSED;
            util_strlcpy(j->err, "the coordinator is stopping; nothing was done, send it again",
                         sizeof j->err);
        }
        if (j->status == BULK_DECODED) {
            /* Handled as if it had just arrived, decoded already. */
            Drover__ClientRequest *own = j->in;
            if (s_dispatch(s, j->ident, j->ident_len, j->user_id, j->in, 1, &own, j) < 0)
                rc = -1;
            if (!own)
                j->in = NULL; /* a bulk insert took it */
            bulk_job_free(&j);
            j = next;
            continue;
        }
        Drover__ClientReply rep = DROVER__CLIENT_REPLY__INIT;
        rep.request_id = j->in ? j->in->request_id : j->request_id;
        rep.message = j->err;
        if (j->status == BULK_BADMSG) {
            rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            if (j->has_request_id)
                s_reply_client(s, j->ident, j->ident_len, &rep);
            server_count_drop(s, "an invalid message on the client socket");
            bulk_job_free(&j);
            j = next;
            continue;
        }
        if (j->status == BULK_STORED) {
            /* A reload since it was queued read it (bulk_wait_idle):
             * joining again would hold the run twice. */
            if (j->generation == s->loads && !model_run(s->model, j->rows.run_id) &&
                (j->run ? model_run_attach(s->model, &j->run, &j->req)
                        : model_submit_join(s->model, &j->req, j->key, NULL, &j->rows)) < 0) {
                log_error("out of memory adding run %lld: reloading state",
                          (long long)j->rows.run_id);
                rc = -1; /* the reload reads it; the reply is lost with the iteration */
            }
            rep.run_id = (uint64_t)j->rows.run_id;
            rep.message = NULL;
            log_info("run %lld (%zu steps) stored beside the loop in %.1f ms",
                     (long long)j->rows.run_id, j->req.n_steps, (double)j->took_us / 1000.0);
        } else {
            rep.error = j->status == BULK_INVALID   ? DROVER__ERROR_CODE__ERROR_BAD_REQUEST
                        : j->status == BULK_UNKNOWN ? DROVER__ERROR_CODE__ERROR_DB_UNAVAILABLE
                                                    : DROVER__ERROR_CODE__ERROR_INTERNAL;
            if (j->status != BULK_INVALID)
                server_warn_limited(s, j->actor, "a large submit not stored", j->err);
        }
        s_reply_client(s, j->ident, j->ident_len, &rep);
        bulk_job_free(&j);
        j = next;
    }
    return rc;
}

/* submitted_by names the key that sent it, which the client cannot
 * choose; its own words (user@host) follow, labelled and cut short. */
static void s_submitted_by(char *by, size_t len, const char *actor, const Drover__SubmitRequest *q)
{
    if (q->submitted_by && *q->submitted_by)
        s_says(by, len, "", actor, q->submitted_by, 100);
    else
        util_strlcpy(by, actor, len);
}

/* 1 when h_submit hands c to the bulk thread (bulk.h): a large submit, or
 * one decoded there. The loop writes nothing for it. */
static int s_submit_off_loop(const creq_t *c)
{
    const Drover__SubmitRequest *q = c->in->submit;
    if (q->schedule || q->trigger || !c->s->bulk || !c->own)
        return 0;
    size_t rows = q->n_steps;
    for (size_t i = 0; i < q->n_steps; i++)
        rows += q->steps[i]->n_after;
    return rows > SUBMIT_INLINE_ROWS || c->off_loop;
}

static int h_submit(creq_t *c)
{
    server_t *s = c->s;
    const Drover__SubmitRequest *q = c->in->submit;
    const char *key = auth_secure(s->auth) ? c->actor : "";
    /* Refused before anything is written: a step no registered worker could
     * ever run would wait forever (capacity.h). The rules of the request
     * itself speak first (their message is the one to fix first), so on
     * this path only they are checked here as well. */
    if (!q->allow_pending && capacity_check(s->cap, q, c->msg, sizeof c->msg) != 0) {
        if (model_submit_check(s->model, q, c->msg, sizeof c->msg) < 0 && errno != EINVAL)
            return -1;
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
    }
    if (q->schedule || q->trigger) {
        /* Validate the workflow as a submit would, without running it. */
        int cr = calendar_register(s->cal, q, key, c->role >= AUTH_ROLE_ADMIN,
                                   q->submitted_by ? q->submitted_by : "", c->msg, sizeof c->msg);
        if (cr < 0)
            return -1;
        if (cr == 1)
            c->rep->error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
        else if (cr == 2)
            c->rep->error = DROVER__ERROR_CODE__ERROR_FORBIDDEN;
        else if (store_audit(s->st, 0, c->actor, c->msg) < 0)
            return -1;
        c->rep->message = c->msg;
        s_reply(c);
        return 0;
    }
    char by[200];
    s_submitted_by(by, sizeof by, c->actor, q);
    Drover__SubmitRequest sq = *q;
    sq.submitted_by = by;
    if (c->checked < 0) { /* the bulk thread found a broken rule */
        util_strlcpy(c->msg, c->rules_err, sizeof c->msg);
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
    }
    if (s_submit_off_loop(c))
        return s_submit_bulk(c, &sq, key);
    /* The audit row goes in with the run, in the same statement. */
    int64_t run_id;
    if (model_submit(s->model, &sq, key, NULL, c->actor, &run_id, c->msg, sizeof c->msg) < 0) {
        if (errno != EINVAL)
            return -1;
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
    }
    c->rep->run_id = (uint64_t)run_id;
    s_reply(c);
    return 0;
}

static int h_runs(creq_t *c)
{
    return s_client_runs(c->s, c->in->runs, c->rep, c->ident, c->ident_len);
}

/* While the database is away (server.c, s_outage_*) the coordinator serves
 * what memory holds: info, workers, the status of a run it holds as
 * running. Everything else is refused with ERROR_DB_UNAVAILABLE. */
/* 1 (with the message) when request in cannot be served during an outage. */
static int s_outage_refuses(server_t *s, const Drover__ClientRequest *in, char *msg, size_t len)
{
    if (in->body_case == DROVER__CLIENT_REQUEST__BODY_INFO ||
        in->body_case == DROVER__CLIENT_REQUEST__BODY_WORKERS)
        return 0;
    if (in->body_case == DROVER__CLIENT_REQUEST__BODY_STATUS) {
        run_t *r = model_run(s->model, (int64_t)in->status->run_id);
        if (r && r->state == DROVER__RUN_STATE__RUN_RUNNING)
            return 0;
    }
    time_t t = (time_t)(s->db_down_us / 1000000);
    struct tm tm;
    char when[16] = "?";
    if (localtime_r(&t, &tm))
        strftime(when, sizeof when, "%H:%M:%S", &tm);
    snprintf(msg, len, "database unavailable, retrying since %s", when);
    return 1;
}

static int h_status(creq_t *c)
{
    const Drover__StatusRequest *q = c->in->status;
    int64_t run_id = (int64_t)q->run_id;
    run_t *r = model_run(c->s->model, run_id);
    if (c->may_hold && !c->s->db_down_us && q->known_version && q->wait_ms && r &&
        r->version == q->known_version) {
        c->park->run_id = run_id;
        c->park->version = q->known_version;
        return 1;
    }
    if (r && r->state == DROVER__RUN_STATE__RUN_RUNNING)
        return s_client_status_live(c->s, r, c->rep, c->ident, c->ident_len);
    return s_client_status(c->s, run_id, c->rep, c->ident, c->ident_len);
}

static int h_logs(creq_t *c)
{
    return s_client_logs(c->s, c->in->logs, c->may_hold, c->rep, c->ident, c->ident_len, c->park);
}

/* Answers about a run that is not active: "no run N", or (verb "cancel",
 * "approve": a conflict) "already <state>; nothing to VERB", or (verb
 * NULL: why) "has already ended". */
static int s_not_active(creq_t *c, int64_t run_id, const char *verb)
{
    PGresult *rr = store_run_get(c->s->st, run_id);
    if (!rr)
        return -1;
    if (PQntuples(rr) == 0) {
        snprintf(c->msg, sizeof c->msg, "no run %lld", (long long)run_id);
        c->rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
    } else {
        if (verb) {
            snprintf(c->msg, sizeof c->msg, "run %lld already %s; nothing to %s", (long long)run_id,
                     db_get_str(rr, 0, 2), verb);
            c->rep->error = DROVER__ERROR_CODE__ERROR_CONFLICT;
        } else {
            snprintf(c->msg, sizeof c->msg, "run %lld has already ended: %s", (long long)run_id,
                     db_get_str(rr, 0, 2));
        }
    }
    PQclear(rr);
    c->rep->message = c->msg;
    s_reply(c);
    return 0;
}

/* 1 (reason in c->msg) when the active run_id belongs to another key and
 * the caller is no admin: only a run's submitter may `verb` it. */
static int s_not_owner(creq_t *c, int64_t run_id, const char *verb)
{
    const run_t *r = model_run(c->s->model, run_id);
    if (!r || c->role >= AUTH_ROLE_ADMIN || strcmp(r->submitted_key, c->actor) == 0)
        return 0;
    snprintf(c->msg, sizeof c->msg,
             "permission denied: run %lld was submitted by key '%s'; key '%s' (%s) may %s only "
             "its own runs",
             (long long)run_id, r->submitted_key, c->actor, auth_role_name(c->role), verb);
    return 1;
}

/* Replies with c->msg about run_id after recording it in the audit trail. */
static int s_reply_audited(creq_t *c, int64_t run_id)
{
    c->rep->run_id = (uint64_t)run_id;
    c->rep->message = c->msg;
    if (store_audit(c->s->st, run_id, c->actor, c->msg) < 0)
        return -1;
    s_reply(c);
    return 0;
}

static int h_cancel(creq_t *c)
{
    server_t *s = c->s;
    int64_t run_id = (int64_t)c->in->cancel->run_id;
    if (s_not_owner(c, run_id, "cancel"))
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
    if (model_cancel(s->model, run_id, c->msg, sizeof c->msg) == 0)
        return s_reply_audited(c, run_id);
    if (errno != ENOENT)
        return -1;
    return s_not_active(c, run_id, "cancel");
}

/* A person's verdict on an approve step (model.h, "Human approval"). The
 * rules, in the order they are checked: the step of an active run, of kind
 * approve, awaiting now (else not found / bad request / conflict); a reason
 * of 1 to APPROVE_REASON_MAX bytes of UTF-8; admin, or an `approve` grant
 * matching the model's name; and a non-admin key may not approve a run it
 * submitted itself (rejecting it is allowed: stopping is always safe). */
#define APPROVE_REASON_MAX 1000

static int h_approve(creq_t *c)
{
    server_t *s = c->s;
    const Drover__ApproveRequest *q = c->in->approve;
    int64_t run_id = (int64_t)q->run_id;
    const char *step = q->step ? q->step : "", *reason = q->reason ? q->reason : "";
    const char *verb = q->approve ? "approve" : "reject";
    task_t *t;
    if (model_approval_find(s->model, run_id, step, &t, c->msg, sizeof c->msg) < 0) {
        switch (errno) {
        case ENOENT: return s_not_active(c, run_id, verb);
        case ESRCH: return s_reply_error(c, DROVER__ERROR_CODE__ERROR_NOT_FOUND);
        case EINVAL: return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
        default: return s_reply_error(c, DROVER__ERROR_CODE__ERROR_CONFLICT);
        }
    }
    size_t rl = strlen(reason);
    int ctl = 0;
    for (const unsigned char *p = (const unsigned char *)reason; *p; p++)
        ctl |= (*p < 0x20 && *p != '\t') || *p == 0x7f;
    if (rl == 0 || rl > APPROVE_REASON_MAX || ctl || !util_utf8_valid(reason)) {
        snprintf(c->msg, sizeof c->msg,
                 "%s needs --reason: 1 to %d bytes of text without control characters (it is "
                 "kept in the audit trail and the model's stage history)%s",
                 verb, APPROVE_REASON_MAX, rl > APPROVE_REASON_MAX ? "; this one is longer" : "");
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
    }
    char name[160];
    int version;
    char why[400];
    int mr = registry_approval_model(s->st, run_id, t->spec_json, name, sizeof name, &version, why,
                                     sizeof why);
    if (mr < 0)
        return -1;
    if (mr == 1) {
        snprintf(c->msg, sizeof c->msg, "cannot %s: %s", verb, why);
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_CONFLICT);
    }
    int admin = c->role >= AUTH_ROLE_ADMIN;
    if (!admin) {
        int g = store_grant_match(s->st, c->actor, "approve", name);
        if (g < 0)
            return -1;
        if (g == 0) {
            snprintf(c->msg, sizeof c->msg,
                     "permission denied: key '%s' may not %s steps about model '%s': that needs "
                     "the admin role or a grant (drover keys grant %s approve '%s')",
                     c->actor, verb, name, c->actor, name);
            return s_reply_error(c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
        }
        if (q->approve && strcmp(t->run->submitted_key, c->actor) == 0) {
            snprintf(c->msg, sizeof c->msg,
                     "permission denied: key '%s' submitted run %lld and may not approve it "
                     "itself (another approver or an admin must; rejecting is allowed)",
                     c->actor, (long long)run_id);
            return s_reply_error(c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
        }
    }
    char by[300], what[1400];
    if (c->via_web) /* drover-web's words are not the person's: say where it came from */
        snprintf(by, sizeof by, "key %s (web)", c->actor);
    else
        s_says(by, sizeof by, "key ", c->actor, q->by && *q->by ? q->by : "nothing", 200);
    snprintf(what, sizeof what, "%s by %s: %s", q->approve ? "approved" : "rejected", by, reason);
    if (model_approval_verdict(s->model, t, q->approve, what, name, version) < 0 ||
        registry_approval_record(s->st, name, version, q->approve, run_id, step, by, reason) < 0)
        return -1;
    snprintf(c->msg, sizeof c->msg, "run %lld step %s: %s:%d %s", (long long)run_id, step, name,
             version, q->approve ? "approved; the run goes on" : "rejected; the run ends rejected");
    char audit[1700];
    snprintf(audit, sizeof audit, "%s run %lld step %s (model %s:%d)%s: %s", verb,
             (long long)run_id, step, name, version, c->via_web ? " via web" : "", reason);
    if (store_audit(s->st, run_id, c->actor, audit) < 0)
        return -1;
    c->rep->run_id = (uint64_t)run_id;
    c->rep->message = c->msg;
    s_reply(c);
    return 0;
}

static int h_hold(creq_t *c)
{
    server_t *s = c->s;
    const Drover__HoldRequest *h = c->in->hold;
    int64_t run_id = (int64_t)h->run_id;
    const char *verb = h->release ? "release" : "hold";
    if (s_not_owner(c, run_id, verb))
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
    int rc = model_hold(s->model, run_id, h->step ? h->step : "", h->release, c->actor, c->msg,
                        sizeof c->msg);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return s_not_active(c, run_id, verb);
    if (rc == 2)
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_NOT_FOUND);
    if (rc == 3)
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_CONFLICT);
    return s_reply_audited(c, run_id);
}

static int h_rerun(creq_t *c)
{
    server_t *s = c->s;
    int64_t run_id = 0;
    const char *key = auth_secure(s->auth) ? c->actor : "";
    int rc = rerun_start(s->st, s->model, c->in->rerun, key, c->actor, c->role >= AUTH_ROLE_ADMIN,
                         &run_id, c->msg, sizeof c->msg);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_NOT_FOUND);
    if (rc == 2)
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
    if (rc == 3)
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_CONFLICT);
    c->rep->run_id = (uint64_t)run_id;
    c->rep->message = c->msg;
    s_reply(c);
    return 0;
}

static int h_workers(creq_t *c)
{
    s_client_workers(c->s, c->rep, c->ident, c->ident_len);
    return 0;
}

static int h_ml(creq_t *c)
{
    return s_client_ml(c->s, c->in, c->actor, c->role, c->rep, c->ident, c->ident_len);
}

static int h_keys(creq_t *c)
{
    return s_client_keys(c->s, c->in->keys, c->actor, c->rep, c->ident, c->ident_len);
}

static int h_schedule(creq_t *c)
{
    return s_client_schedule(c->s, c->in->schedule, c->actor, c->role, c->rep, c->ident,
                             c->ident_len);
}

/* Answers with a JSON document (NULL: -1, a database or memory error),
 * which it frees. */
static int s_reply_doc(creq_t *c, char *doc)
{
    if (!doc)
        return -1;
    c->rep->json = doc;
    s_reply(c);
    c->rep->json = NULL;
    free(doc);
    return 0;
}

static int h_queue_list(creq_t *c)
{
    return s_reply_doc(c, model_queues_json(c->s->model));
}

static int h_queue_set(creq_t *c)
{
    const Drover__QueueRequest *q = c->in->queue;
    int qr = model_queue_set(c->s->model, q->name ? q->name : "", q->op ? q->op : "", q->limit,
                             c->msg, sizeof c->msg);
    if (qr < 0 || (qr == 0 && store_audit(c->s->st, 0, c->actor, c->msg) < 0))
        return -1;
    if (qr == 1)
        c->rep->error = DROVER__ERROR_CODE__ERROR_NOT_FOUND;
    else if (qr == 2)
        c->rep->error = DROVER__ERROR_CODE__ERROR_CONFLICT;
    c->rep->message = c->msg;
    s_reply(c);
    return 0;
}

static int h_why(creq_t *c)
{
    int64_t run_id = (int64_t)c->in->why->run_id;
    const char *step = c->in->why->step ? c->in->why->step : "";
    int w = model_why(c->s->model, run_id, step, c->msg, sizeof c->msg);
    if (w == 1)
        return s_not_active(c, run_id, NULL);
    if (w == 2)
        return s_reply_error(c, DROVER__ERROR_CODE__ERROR_NOT_FOUND);
    c->rep->message = c->msg;
    s_reply(c);
    return 0;
}

static int h_info(creq_t *c)
{
    server_t *s = c->s;
    Drover__CoordinatorInfo info = DROVER__COORDINATOR_INFO__INIT;
    model_stats_t st = model_stats(s->model);
    info.version = DROVER_PROTOCOL_VERSION;
    info.build = "drover " DROVER_VERSION;
    info.dropped_messages = s->dropped;
    info.stale_results = st.stale;
    size_t nw = 0;
    for (worker_t *w = model_workers(s->model); w; w = w->next)
        nw += w->connected;
    info.workers = (uint32_t)nw;
    info.active_runs = (uint32_t)model_active_runs(s->model);
    info.started_at_us = s->started_us;
    info.db_down = s->db_down_us != 0;
    info.db_down_since_us = s->db_down_us;
    info.leader_epoch = leader_epoch(s->leader);
    info.longest_iteration_us = (uint64_t)s->longest_us;
    c->rep->info = &info;
    s_reply(c);
    c->rep->info = NULL;
    return 0;
}

/* ------------------------------------------------- drover-web (issue 15) --- */

/* Web sign-in tokens: create, list, revoke (admin; webtok.h). */
static int h_web_tokens(creq_t *c)
{
    server_t *s = c->s;
    const Drover__WebTokenRequest *q = c->in->web_tokens;
    const char *op = q->op ? q->op : "";
    if (strcmp(op, "list") == 0)
        return s_reply_doc(c, store_webtokens_json(s->st));
    if (strcmp(op, "create") == 0) {
        const char *key = q->key ? q->key : "";
        const char *kind = auth_key_kind(s->auth, key);
        auth_role_t role = auth_key_role(s->auth, key);
        if (!kind || strcmp(kind, "client") != 0 || role < AUTH_ROLE_READER) {
            snprintf(c->msg, sizeof c->msg,
                     "'%s' is not an allowed client key of role reader, submitter or admin (see: "
                     "drover keys list); a token acts as such a key",
                     key);
            return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
        }
        if (q->ttl_s > WEBTOK_TTL_MAX_S) {
            snprintf(c->msg, sizeof c->msg, "--ttl: at most %d days", WEBTOK_TTL_MAX_S / 86400);
            return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
        }
        int64_t ttl = q->ttl_s ? (int64_t)q->ttl_s : WEBTOK_TTL_DEF_S, id = 0, exp_us = 0;
        char tok[WEBTOK_TEXT_LEN + 1];
        int rc = webtok_create(s->webtok, s->st, key, ttl, c->actor, util_now_us(), tok, &id,
                               &exp_us, c->msg, sizeof c->msg);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return s_reply_error(c, DROVER__ERROR_CODE__ERROR_CONFLICT);
        char audit[200];
        snprintf(audit, sizeof audit, "web-token create %lld for key %s (expires in %llds)",
                 (long long)id, key, (long long)ttl);
        if (store_audit(s->st, 0, c->actor, audit) < 0)
            return -1;
        char *doc = NULL;
        json_t *o =
            json_pack("{s:I, s:s, s:s, s:I, s:s}", "id", (json_int_t)id, "key", key, "token", tok,
                      "expires_at_us", (json_int_t)exp_us, "role", auth_role_name(role));
        doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        memset(tok, 0, sizeof tok);
        if (!doc)
            return -1;
        c->rep->json = doc;
        c->rep->message = c->msg;
        s_reply(c);
        memset(doc, 0, strlen(doc));
        free(doc);
        return 0;
    }
    if (strcmp(op, "revoke") == 0) {
        int rc = webtok_revoke(s->webtok, s->st, (int64_t)q->id, c->actor, c->msg, sizeof c->msg);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return s_reply_error(c, DROVER__ERROR_CODE__ERROR_NOT_FOUND);
        char audit[200];
        snprintf(audit, sizeof audit, "web-token revoke %llu", (unsigned long long)q->id);
        if (store_audit(s->st, 0, c->actor, audit) < 0)
            return -1;
        c->rep->message = c->msg;
        s_reply(c);
        return 0;
    }
    snprintf(c->msg, sizeof c->msg, "unknown web-token operation '%s' (create, list, revoke)", op);
    return s_reply_error(c, DROVER__ERROR_CODE__ERROR_BAD_REQUEST);
}

/* The key asking (the token's key for drover-web), its role and its own
 * grants (one indexed query, at most 1000):
 * {"key","role","approver","grants":[{"right","pattern"}],"web"}. */
static int h_whoami(creq_t *c)
{
    char *grants =
        auth_secure(c->s->auth) ? store_grants_of_json(c->s->st, c->actor) : strdup("[]");
    if (!grants)
        return -1;
    json_t *mine = json_loads(grants, 0, NULL);
    free(grants);
    if (!json_is_array(mine)) {
        json_decref(mine);
        return -1;
    }
    int approver = c->role >= AUTH_ROLE_ADMIN;
    size_t i;
    json_t *g;
    json_array_foreach(mine, i, g)
    {
        const char *right = json_string_value(json_object_get(g, "right"));
        approver |= right && strcmp(right, "approve") == 0;
    }
    json_t *o =
        json_pack("{s:s, s:s, s:b, s:o, s:b}", "key", c->actor, "role", auth_role_name(c->role),
                  "approver", approver, "grants", mine, "web", c->via_web);
    char *doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s_reply_doc(c, doc);
}

#define APPROVALS_DEFAULT 50
#define APPROVALS_MAX     100

typedef struct {
    task_t *t[APPROVALS_MAX];
    char model[APPROVALS_MAX][160]; /* each one's model name ... */
    int granted[APPROVALS_MAX];     /* ... and whether the asking key has a grant on it */
    size_t n, limit;
} awaiting_t;

static int s_collect_awaiting(void *ctx, task_t *t)
{
    awaiting_t *a = ctx;
    a->t[a->n++] = t;
    return a->n >= a->limit;
}

/* Approve steps awaiting a person now, with the model version each is
 * about and whether the asking key may approve it (the rules of
 * h_approve): a JSON array, at most APPROVALS_MAX (two small queries
 * each). */
static int h_approvals(creq_t *c)
{
    server_t *s = c->s;
    uint32_t lim = c->in->approvals->limit;
    static awaiting_t a; /* 20 KB: kept off the stack; the loop is one thread */
    memset(&a, 0, sizeof a);
    a.limit = !lim ? APPROVALS_DEFAULT : lim < APPROVALS_MAX ? lim : APPROVALS_MAX;
    model_each_awaiting(s->model, s_collect_awaiting, &a);
    json_t *arr = json_array();
    int rc = -1;
    for (size_t i = 0; arr && i < a.n; i++) {
        task_t *t = a.t[i];
        char name[160] = "", why[400];
        int version = 0;
        int mr = registry_approval_model(s->st, t->run->id, t->spec_json, name, sizeof name,
                                         &version, why, sizeof why);
        if (mr < 0)
            goto out;
        int can = 0;
        if (mr == 0) {
            can = c->role >= AUTH_ROLE_ADMIN;
            if (!can) {
                /* Waiting steps are mostly about a few models: one grant
                 * query per model name, not per step. */
                int g = -1;
                for (size_t k = 0; k < i && g < 0; k++)
                    if (strcmp(a.model[k], name) == 0)
                        g = a.granted[k];
                if (g < 0 && (g = store_grant_match(s->st, c->actor, "approve", name)) < 0)
                    goto out;
                can = g && strcmp(t->run->submitted_key, c->actor) != 0;
                a.granted[i] = g;
                util_strlcpy(a.model[i], name, sizeof a.model[i]);
            }
        }
        json_t *o =
            json_pack("{s:I, s:s, s:s, s:s, s:i, s:I, s:b, s:s}", "run_id", (json_int_t)t->run->id,
                      "step", t->name, "workflow", t->run->workflow, "model", name, "version",
                      version, "waiting_since_us", (json_int_t)t->started_us, "can_approve", can,
                      "submitted_key", t->run->submitted_key);
        if (!o || json_array_append_new(arr, o) < 0)
            goto out;
    }
    rc = s_reply_doc(c, arr ? json_dumps(arr, JSON_COMPACT) : NULL);
out:
    json_decref(arr);
    return rc;
}

#define RQ(x)    DROVER__CLIENT_REQUEST__BODY_##x
#define R_READER AUTH_ROLE_READER
#define R_SUBMIT AUTH_ROLE_SUBMITTER
#define R_ADMIN  AUTH_ROLE_ADMIN

/* Every client request, the least role it needs, and any rule beyond the
 * role that its handler enforces. This table is the whole permission
 * model of the client API (docs/security.md): a request that is not here
 * is refused. Rows with an `op` match that sub-operation; a row with op
 * NULL matches every other op of that request (so an unknown op needs the
 * strictest role and is then refused by its handler). */
typedef struct {
    Drover__ClientRequest__BodyCase body;
    const char *op;
    auth_role_t need;
    client_handler_f handler;
    int flags;
    const char *rule; /* what the handler checks beyond the role */
} client_rpc_t;

/* flags: how a database error in the handler is contained.
 *   RPC_WRITES    writes, each before the memory it changes: run inside
 *                 SAVEPOINT request; a statement the database refuses is
 *                 rolled back and answered as an error (nothing changed).
 *   RPC_BUFFERED  buffers state transitions (memory changed first): an
 *                 error resets the loop, as any unexplained database error.
 *   0             reads: an error outside a transaction is answered; one
 *                 inside the iteration's transaction resets. */
#define RPC_WRITES   1
#define RPC_BUFFERED 2
/* RPC_NO_WEB: refused through drover-web (a request with web_token), even
 * with an admin's token: it makes or changes credentials, so a taken-over
 * drover-web could give itself access that outlives the people's tokens
 * (docs/security.md). */
#define RPC_NO_WEB 4

static const client_rpc_t s_rpcs[] = {
    {RQ(SUBMIT), NULL, R_SUBMIT, h_submit, RPC_WRITES,
     "workflow validated on the server; a step no registered worker fits is refused unless "
     "allow_pending"},
    {RQ(RUNS), NULL, R_READER, h_runs, 0, "at most 1000 rows"},
    {RQ(STATUS), NULL, R_READER, h_status, 0, "long-poll parked, capped"},
    {RQ(LOGS), NULL, R_READER, h_logs, 0, "paged: at most 256 KiB per stream per reply"},
    {RQ(CANCEL), NULL, R_SUBMIT, h_cancel, RPC_BUFFERED, "a submitter cancels only its own runs"},
    {RQ(RERUN), NULL, R_SUBMIT, h_rerun, RPC_WRITES,
     "a submitter reruns only its own runs; the run must have ended"},
    {RQ(WORKERS), NULL, R_READER, h_workers, 0, NULL},
    {RQ(INFO), NULL, R_READER, h_info, 0, NULL},
    {RQ(REPORT), NULL, R_READER, h_ml, 0, NULL},
    {RQ(METRICS), NULL, R_READER, h_ml, 0, NULL},
    {RQ(MODELS), NULL, R_READER, h_ml, 0, NULL},
    {RQ(PROMOTE), NULL, R_SUBMIT, h_ml, RPC_WRITES, "admin, or a promote grant on the model name"},
    {RQ(WHY), NULL, R_READER, h_why, 0, NULL},
    {RQ(APPROVE), NULL, R_READER, h_approve, RPC_BUFFERED,
     "admin, or an approve grant on the model name; the step awaiting; a reason; never one's own "
     "run"},
    {RQ(HOLD), NULL, R_SUBMIT, h_hold, RPC_BUFFERED,
     "a submitter holds or releases only its own runs"},
    {RQ(KEYS), "list", R_READER, h_keys, 0, NULL},
    {RQ(KEYS), "allow", R_ADMIN, h_keys, RPC_WRITES | RPC_NO_WEB, NULL},
    {RQ(KEYS), "revoke", R_ADMIN, h_keys, RPC_BUFFERED | RPC_NO_WEB,
     "revoking a worker key evicts its workers"},
    {RQ(KEYS), "rebind", R_ADMIN, h_keys, RPC_BUFFERED | RPC_NO_WEB,
     "gives a worker name to another worker key"},
    {RQ(KEYS), "grant", R_ADMIN, h_keys, RPC_WRITES | RPC_NO_WEB,
     "promote/approve rights on model-name globs"},
    {RQ(KEYS), "ungrant", R_ADMIN, h_keys, RPC_WRITES | RPC_NO_WEB, NULL},
    {RQ(KEYS), NULL, R_ADMIN, h_keys, RPC_WRITES | RPC_NO_WEB, "unknown op: refused"},
    {RQ(SCHEDULE), "list", R_READER, h_schedule, 0, NULL},
    {RQ(SCHEDULE), "next", R_READER, h_schedule, 0, "at most 100 due times"},
    {RQ(SCHEDULE), "pause", R_SUBMIT, h_schedule, RPC_WRITES, "its owner or an admin"},
    {RQ(SCHEDULE), "resume", R_SUBMIT, h_schedule, RPC_WRITES, "its owner or an admin"},
    {RQ(SCHEDULE), "rm", R_SUBMIT, h_schedule, RPC_WRITES, "its owner or an admin"},
    {RQ(SCHEDULE), "trigger", R_SUBMIT, h_schedule, RPC_WRITES,
     "its owner or an admin; max_active holds unless force"},
    {RQ(SCHEDULE), NULL, R_ADMIN, h_schedule, RPC_WRITES, "unknown op: refused"},
    {RQ(QUEUE), "list", R_READER, h_queue_list, 0, NULL},
    {RQ(QUEUE), "pause", R_ADMIN, h_queue_set, RPC_WRITES, NULL},
    {RQ(QUEUE), "resume", R_ADMIN, h_queue_set, RPC_WRITES, NULL},
    {RQ(QUEUE), "limit", R_ADMIN, h_queue_set, RPC_WRITES, NULL},
    {RQ(QUEUE), "time_limit", R_ADMIN, h_queue_set, RPC_WRITES, "seconds in `limit`"},
    {RQ(QUEUE), "create", R_ADMIN, h_queue_set, RPC_WRITES, "an unknown queue is a submit error"},
    {RQ(QUEUE), "rm", R_ADMIN, h_queue_set, RPC_WRITES, "refused while it has work"},
    {RQ(QUEUE), NULL, R_ADMIN, h_queue_set, RPC_WRITES, "unknown op: refused"},
    {RQ(WEB_TOKENS), "list", R_ADMIN, h_web_tokens, 0, "never the tokens or their hashes"},
    {RQ(WEB_TOKENS), "create", R_ADMIN, h_web_tokens, RPC_WRITES | RPC_NO_WEB,
     "for an allowed reader/submitter/admin client key; TTL at most 366 days; at most 50 valid "
     "per key"},
    {RQ(WEB_TOKENS), "revoke", R_ADMIN, h_web_tokens, RPC_WRITES | RPC_NO_WEB, NULL},
    {RQ(WEB_TOKENS), NULL, R_ADMIN, h_web_tokens, RPC_WRITES | RPC_NO_WEB, "unknown op: refused"},
    {RQ(WHOAMI), NULL, R_READER, h_whoami, 0, "the asking key's own role and grants"},
    {RQ(APPROVALS), NULL, R_READER, h_approvals, 0, "at most 100; can_approve per h_approve"},
};

/* The sub-operation of a request that has them, else NULL. */
static const char *s_op_of(const Drover__ClientRequest *in)
{
    switch (in->body_case) {
    case RQ(KEYS): return in->keys->op ? in->keys->op : "";
    case RQ(SCHEDULE): return in->schedule->op ? in->schedule->op : "";
    case RQ(QUEUE): return in->queue->op ? in->queue->op : "";
    case RQ(WEB_TOKENS): return in->web_tokens->op ? in->web_tokens->op : "";
    default: return NULL;
    }
}

static const client_rpc_t *s_rpc_find(const Drover__ClientRequest *in)
{
    const char *op = s_op_of(in);
    const client_rpc_t *any = NULL;
    for (size_t i = 0; i < sizeof s_rpcs / sizeof s_rpcs[0]; i++) {
        const client_rpc_t *r = &s_rpcs[i];
        if (r->body != in->body_case)
            continue;
        if (!r->op) {
            if (!any)
                any = r;
        } else if (op && strcmp(op, r->op) == 0) {
            return r;
        }
    }
    return any;
}

/* drover-web's requests (webtok.h). A key of role web acts only with a
 * person's token, and then as the token's key: its role, grants, rate
 * limit and revocation, exactly as if that key had sent the request. Any
 * other key sending a token is refused too: a token is a person's sign-in
 * to drover-web, never a second credential for a key that has its own
 * (a reader key holding an admin's token would otherwise be an admin
 * without the admin's secret key ever leaving its machine). Returns 0
 * (c->actor, c->role set), or -1 with the refusal in c->msg (and
 * web_token_invalid set when the person must sign in again). */
static int s_web_token(creq_t *c)
{
    const char *tok = c->in->web_token ? c->in->web_token : "";
    if (c->role != AUTH_ROLE_WEB && !*tok)
        return 0;
    if (!auth_secure(c->s->auth)) {
        snprintf(c->msg, sizeof c->msg,
                 "refused: web tokens need a coordinator with CURVE keys (coordinator.insecure "
                 "is set)");
        return -1;
    }
    if (c->role != AUTH_ROLE_WEB) {
        snprintf(c->msg, sizeof c->msg,
                 "refused: key '%s' (%s) sent a web token; only a key of role web (drover-web's) "
                 "may act for a person",
                 c->actor, auth_role_name(c->role));
        return -1;
    }
    if (!*tok) {
        snprintf(c->msg, sizeof c->msg,
                 "refused: key '%s' has role web: it acts only for a signed-in person (a "
                 "request without web_token)",
                 c->actor);
        return -1;
    }
    const char *key = webtok_resolve(c->s->webtok, tok, util_now_us());
    auth_role_t role = key ? auth_key_role(c->s->auth, key) : AUTH_ROLE_NONE;
    if (role < AUTH_ROLE_READER) {
        snprintf(c->msg, sizeof c->msg,
                 "refused: the web token is unknown, expired or revoked%s; sign in again",
                 key ? " (its key is revoked)" : "");
        c->rep->web_token_invalid = 1;
        return -1;
    }
    util_strlcpy(c->web_actor, key, sizeof c->web_actor);
    c->actor = c->web_actor;
    c->role = role;
    c->via_web = 1;
    return 0;
}

/* Parks a request (the fields a re-handling needs), or answers "too many
 * waiting requests" when its key or the coordinator holds the most. */
static void s_park(server_t *s, creq_t *c, const char *user_id)
{
    const Drover__ClientRequest *in = c->in;
    size_t mine = 0;
    for (size_t i = 0; i < s->nheld; i++)
        mine += strcmp(s->held[i].user_id, user_id) == 0;
    if (mine >= HOLD_PER_KEY || s->nheld >= HOLD_TOTAL) {
        snprintf(c->msg, sizeof c->msg,
                 "too many waiting requests (%s): at most %d per key and %d in all may wait for a "
                 "change; ask again without waiting, or later",
                 mine >= HOLD_PER_KEY ? "this key's" : "everyone's", HOLD_PER_KEY, HOLD_TOTAL);
        s_reply_error(c, DROVER__ERROR_CODE__ERROR_RATE_LIMITED);
        server_count_drop(s, "a long-poll over the waiting-request cap");
        return;
    }
    if (s->nheld == s->capheld) {
        size_t nc = s->capheld ? s->capheld * 2 : 16;
        held_t *nh = realloc(s->held, nc * sizeof *nh);
        if (!nh) { /* the parked ones stay; this one is answered now */
            snprintf(c->msg, sizeof c->msg, "out of memory parking this request; ask again");
            s_reply_error(c, DROVER__ERROR_CODE__ERROR_INTERNAL);
            return;
        }
        s->held = nh;
        s->capheld = nc;
    }
    held_t *p = c->park;
    uint32_t wait = in->body_case == RQ(STATUS) ? in->status->wait_ms : in->logs->wait_ms;
    p->wait_ms = wait > HOLD_MAX_MS ? HOLD_MAX_MS : wait;
    p->parked_ms = util_mono_ms();
    p->deadline_ms = p->parked_ms + p->wait_ms;
    memcpy(p->ident, c->ident, c->ident_len);
    p->ident_len = c->ident_len;
    util_strlcpy(p->user_id, user_id, sizeof p->user_id);
    util_strlcpy(p->web_token, in->web_token ? in->web_token : "", sizeof p->web_token);
    p->request_id = in->request_id;
    p->body = in->body_case;
    if (in->body_case == RQ(STATUS)) {
        p->known_version = in->status->known_version;
    } else {
        util_strlcpy(p->step, in->logs->step ? in->logs->step : "", sizeof p->step);
        p->req_run_id = in->logs->run_id;
        p->attempt = in->logs->attempt;
        p->out_off = in->logs->stdout_offset;
        p->err_off = in->logs->stderr_offset;
    }
    s->held[s->nheld++] = *p;
}

/* Authorises and handles one decoded request. */
static int s_dispatch(server_t *s, const uint8_t *ident, size_t ident_len, const char *user_id,
                      Drover__ClientRequest *in, int may_hold, Drover__ClientRequest **own,
                      const bulk_job_t *dec)
{
    int rc = 0;
    Drover__ClientReply rep = DROVER__CLIENT_REPLY__INIT;
    rep.request_id = in->request_id;
    held_t park = {0};
    creq_t c = {.s = s,
                .in = in,
                .rep = &rep,
                .ident = ident,
                .ident_len = ident_len,
                .may_hold = may_hold,
                .park = &park,
                .own = own ? *own : NULL,
                .off_loop = dec != NULL,
                .checked = dec ? dec->checked : 0,
                .rules_err = dec ? dec->err : NULL};
    if (in->version != DROVER_PROTOCOL_VERSION) {
        snprintf(
            c.msg, sizeof c.msg,
            "this coordinator speaks protocol version %d, the client %u: use matching drover versions",
            DROVER_PROTOCOL_VERSION, in->version);
        s_reply_error(&c, DROVER__ERROR_CODE__ERROR_VERSION);
        goto done;
    }
    char why[200];
    if (auth_peer(s->auth, user_id, "client", &c.actor, &c.role, why, sizeof why) < 0) {
        snprintf(c.msg, sizeof c.msg, "refused: %s", why);
        s_reply_error(&c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
        goto done;
    }
    if (s_web_token(&c) < 0) {
        s_reply_error(&c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
        if (rep.web_token_invalid)
            server_count_drop(s, "a request with an invalid web token");
        goto done;
    }
    if (may_hold && !auth_rate_ok(s->auth, c.actor, util_mono_ms())) {
        snprintf(
            c.msg, sizeof c.msg,
            "slow down: more than %d requests per second from key '%s' (coordinator.client_rate)",
            s->cfg->coord.client_rate, c.actor);
        s_reply_error(&c, DROVER__ERROR_CODE__ERROR_RATE_LIMITED);
        observe_rate_limited(s->obs, c.actor);
        server_count_drop(s, "a request over the client rate limit");
        goto done;
    }
    const client_rpc_t *rpc = s_rpc_find(in);
    if (!rpc) {
        server_count_drop(s, "a client request without a body");
        goto done;
    }
    if (c.role < rpc->need) {
        const char *op = s_op_of(in);
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(
            &drover__client_request__descriptor, (unsigned)in->body_case);
        snprintf(c.msg, sizeof c.msg,
                 "permission denied: key '%s' has role %s; this needs %s (request %s%s%s)", c.actor,
                 auth_role_name(c.role), auth_role_name(rpc->need), fd ? fd->name : "?",
                 op ? " " : "", op ? op : "");
        s_reply_error(&c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
        goto done;
    }
    if (c.via_web && (rpc->flags & RPC_NO_WEB)) {
        const char *op = s_op_of(in);
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(
            &drover__client_request__descriptor, (unsigned)in->body_case);
        snprintf(c.msg, sizeof c.msg,
                 "refused through drover-web: keys and web tokens are made, changed and revoked "
                 "with the drover CLI and an admin key (request %s%s%s)",
                 fd ? fd->name : "?", op ? " " : "", op ? op : "");
        s_reply_error(&c, DROVER__ERROR_CODE__ERROR_FORBIDDEN);
        goto done;
    }
    if (s->db_down_us && s_outage_refuses(s, in, c.msg, sizeof c.msg)) {
        s_reply_error(&c, DROVER__ERROR_CODE__ERROR_DB_UNAVAILABLE);
        goto done;
    }
    /* A plain submit waits for the others of this drain (one statement for
     * all); anything else first lets those before it take effect. */
    int took = s_batch_take(&c, rpc->handler, user_id);
    if (took != 0 || server_client_batch_flush(s) < 0) {
        rc = took > 0 ? 0 : -1;
        goto done;
    }
    /* No savepoint for a submit the bulk thread stores: four round trips
     * around nothing. */
    int guard =
        (rpc->flags & RPC_WRITES) && !(in->body_case == RQ(SUBMIT) && s_submit_off_loop(&c));
    int in_tx = db_in_tx(s->db);
    if (guard && store_request_begin(s->st) < 0) {
        rc = -1;
        goto done;
    }
    rc = rpc->handler(&c);
    if (guard && rc >= 0 && store_request_end(s->st, 1) < 0)
        rc = -1;
    if (rc < 0 && !(rpc->flags & RPC_BUFFERED) && db_ok(s->db) &&
        (guard ? store_request_end(s->st, 0) == 0 : !in_tx && !db_in_tx(s->db))) {
        /* The database refused this request's own statement (the
         * connection is fine): answer it, and serve everyone else on. */
        char dberr[300];
        util_strlcpy(dberr, db_error(s->db), sizeof dberr);
        Drover__ClientReply er = DROVER__CLIENT_REPLY__INIT;
        er.request_id = in->request_id;
        er.error = DROVER__ERROR_CODE__ERROR_INTERNAL;
        snprintf(c.msg, sizeof c.msg, "the database refused this request (%s); nothing was changed",
                 dberr);
        er.message = c.msg;
        s_reply_client(s, ident, ident_len, &er);
        server_warn_limited(s, c.actor, "a request the database refused", dberr);
        rc = 0;
    }
    if (rc == 1) {
        s_park(s, &c, user_id);
        rc = 0;
    }
done:
    if (own)
        *own = c.own; /* NULL when a handler took it */
    return rc;
}

/* ------------------------------------------------------ submit batch --- */

/* At most this many submits wait for one statement, each of at most
 * BATCH_ROWS steps + dependencies (larger ones are stored on their own),
 * and at most BATCH_BYTES of step specs in all: what one peer's requests
 * hold in memory, and the statement's size, stay bounded. */
#define BATCH_MAX   256
#define BATCH_ROWS  64
#define BATCH_BYTES (4u << 20)

struct batch_item {
    uint8_t ident[WIRE_MAX_IDENT];
    size_t ident_len;
    char user_id[128];
    char actor[128];
    Drover__ClientRequest *in; /* owned */
    Drover__SubmitRequest sq;  /* *in->submit, with submitted_by = by */
    char by[200];
    char msg[1024]; /* a refusal's words */
};

/* Allocated once (at the first plain submit), freed by a reset: a flush
 * allocates nothing of its own. */
struct submit_batch {
    size_t n, bytes; /* items held; their steps' specs (BATCH_BYTES) */
    int off;         /* 1 while the batch is submitted one by one */
    struct batch_item item[BATCH_MAX];
    model_batch_t mb[BATCH_MAX];
};

/* 1 when c is a plain submit (no gang step either), now held in s->batch
 * (answered by server_client_batch_flush); 0 when it is to be handled
 * now; -1 on a database error (a full batch could not be flushed). */
static int s_batch_take(creq_t *c, client_handler_f handler, const char *user_id)
{
    server_t *s = c->s;
    const Drover__SubmitRequest *q = c->in->submit;
    if (handler != h_submit || (s->batch && s->batch->off) || s->db_down_us || !c->own ||
        c->off_loop || !q || q->schedule || q->trigger || q->notify || q->n_params ||
        c->ident_len > WIRE_MAX_IDENT || strlen(user_id) >= sizeof s->batch->item[0].user_id ||
        strlen(c->actor) >= sizeof s->batch->item[0].actor)
        return 0;
    size_t rows = q->n_steps, bytes = 0;
    for (size_t i = 0; i < q->n_steps && rows <= BATCH_ROWS; i++) {
        rows += q->steps[i]->n_after;
        bytes += q->steps[i]->spec_json ? strlen(q->steps[i]->spec_json) : 0;
        if (q->steps[i]->nodes > 1 || q->steps[i]->gang_rank)
            return 0; /* a gang step: expanded and stored by model_submit */
    }
    /* A refusal by capacity is answered by h_submit, in its words. */
    if (rows > BATCH_ROWS || model_subst_uses_run_id(q) ||
        (!q->allow_pending && capacity_check(s->cap, q, c->msg, sizeof c->msg) != 0))
        return 0;
    if (!s->batch && !(s->batch = calloc(1, sizeof *s->batch)))
        return 0; /* handled on its own */
    if ((s->batch->n == BATCH_MAX || s->batch->bytes + bytes > BATCH_BYTES) &&
        server_client_batch_flush(s) < 0)
        return -1;
    s->batch->bytes += bytes;
    struct batch_item *b = &s->batch->item[s->batch->n++];
    memcpy(b->ident, c->ident, c->ident_len);
    b->ident_len = c->ident_len;
    util_strlcpy(b->user_id, user_id, sizeof b->user_id);
    util_strlcpy(b->actor, c->actor, sizeof b->actor);
    b->in = c->own;
    c->own = NULL;
    return 1;
}

static void s_batch_free(struct submit_batch *bt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        drover__client_request__free_unpacked(bt->item[i].in, NULL);
        bt->item[i].in = NULL;
    }
}

/* Submits the batch one by one, as if it had never been batched (the batch
 * statement was refused: each request gets its own answer). */
static int s_batch_one_by_one(server_t *s, size_t n)
{
    struct submit_batch *bt = s->batch;
    int rc = 0;
    bt->off = 1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct batch_item *b = &bt->item[i];
        Drover__ClientRequest *in = b->in;
        b->in = NULL;
        rc = s_dispatch(s, b->ident, b->ident_len, b->user_id, in, 0, &in, NULL);
        if (in)
            drover__client_request__free_unpacked(in, NULL);
    }
    bt->off = 0;
    for (size_t i = 0; i < n; i++)
        if (bt->item[i].in)
            drover__client_request__free_unpacked(bt->item[i].in, NULL);
    return rc;
}

int server_client_batch_flush(server_t *s)
{
    struct submit_batch *bt = s->batch;
    size_t n = bt ? bt->n : 0;
    if (!n)
        return 0;
    bt->n = 0;
    bt->bytes = 0;
    for (size_t i = 0; i < n; i++) {
        struct batch_item *b = &bt->item[i];
        b->sq = *b->in->submit;
        s_submitted_by(b->by, sizeof b->by, b->actor, &b->sq);
        b->sq.submitted_by = b->by;
        b->msg[0] = '\0';
        bt->mb[i] = (model_batch_t){.req = &b->sq,
                                    .key = auth_secure(s->auth) ? b->actor : "",
                                    .actor = b->actor,
                                    .err = b->msg,
                                    .errlen = sizeof b->msg};
    }
    if (store_batch_begin(s->st) < 0) {
        s_batch_free(bt, n);
        return -1;
    }
    if (model_submit_many(s->model, bt->mb, n) < 0) {
        if (errno == EAGAIN && db_ok(s->db) && store_batch_end(s->st, 0) == 0) {
            log_warn("a batch of %zu submits was refused by the database (%s): submitting them "
                     "one by one",
                     n, db_error(s->db));
            return s_batch_one_by_one(s, n);
        }
        s_batch_free(bt, n);
        return -1;
    }
    int rc = store_batch_end(s->st, 1);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct batch_item *b = &bt->item[i];
        Drover__ClientReply rep = DROVER__CLIENT_REPLY__INIT;
        rep.request_id = b->in->request_id;
        if (bt->mb[i].refused) {
            rep.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            rep.message = b->msg;
        } else {
            rep.run_id = (uint64_t)bt->mb[i].run_id;
        }
        s_reply_client(s, b->ident, b->ident_len, &rep);
    }
    s_batch_free(bt, n);
    return rc;
}

void server_client_batch_drop(server_t *s)
{
    if (!s->batch)
        return;
    if (s->batch->n)
        log_warn("%zu submits dropped unanswered by the reset (nothing of them was stored)",
                 s->batch->n);
    s_batch_free(s->batch, s->batch->n);
    free(s->batch);
    s->batch = NULL;
}

int server_client_msg(server_t *s, const uint8_t *ident, size_t ident_len, const char *user_id,
                      const uint8_t *data, size_t len, int may_hold)
{
    if (len > DECODE_INLINE_MAX && s->bulk && may_hold) {
        s_decode_off_loop(s, ident, ident_len, user_id, data, len);
        return 0;
    }
    char bad[200];
    Drover__ClientRequest *in = wirecheck_client_request(data, len, bad, sizeof bad);
    if (!in) {
        uint64_t rid;
        if (wirecheck_request_id(data, len, &rid) == 0) {
            /* Well-formed enough to answer: say what was wrong. */
            Drover__ClientReply r = DROVER__CLIENT_REPLY__INIT;
            r.request_id = rid;
            r.error = DROVER__ERROR_CODE__ERROR_BAD_REQUEST;
            r.message = bad;
            s_reply_client(s, ident, ident_len, &r);
        }
        server_count_drop(s, "an invalid message on the client socket");
        return 0;
    }
    int rc = s_dispatch(s, ident, ident_len, user_id, in, may_hold, &in, NULL);
    if (in)
        drover__client_request__free_unpacked(in, NULL);
    return rc;
}

/* Answers parked requests whose run/task changed or whose time is up. */
int server_client_wake(server_t *s)
{
    int64_t now = util_mono_ms();
    for (size_t i = 0; i < s->nheld;) {
        held_t *h = &s->held[i];
        int wake = now >= h->deadline_ms;
        if (!wake && h->run_id) {
            /* A busy run changes every iteration; a status reply costs a
             * query over all its steps, so watchers get at most one reply
             * per HOLD_MIN_MS unless the run has ended. */
            run_t *r = model_run(s->model, h->run_id);
            wake = !r || (r->version != h->version && now - h->parked_ms >= HOLD_MIN_MS);
        }
        if (!wake && h->task_id) {
            task_t *t = model_task(s->model, h->task_id);
            wake = !t || t->logseq != h->logseq;
        }
        if (!wake) {
            i++;
            continue;
        }
        held_t copy = *h;
        s->held[i] = s->held[--s->nheld];
        /* The request again, from what was kept when it was parked. */
        Drover__ClientRequest in = DROVER__CLIENT_REQUEST__INIT;
        Drover__StatusRequest sr = DROVER__STATUS_REQUEST__INIT;
        Drover__LogsRequest lr = DROVER__LOGS_REQUEST__INIT;
        in.version = DROVER_PROTOCOL_VERSION;
        in.request_id = copy.request_id;
        in.body_case = copy.body;
        in.web_token = copy.web_token; /* checked again: it may have been revoked meanwhile */
        if (copy.body == RQ(STATUS)) {
            sr.run_id = (uint64_t)copy.run_id;
            sr.known_version = copy.known_version;
            sr.wait_ms = copy.wait_ms;
            in.status = &sr;
        } else {
            lr.run_id = copy.req_run_id;
            lr.step = copy.step;
            lr.attempt = copy.attempt;
            lr.stdout_offset = copy.out_off;
            lr.stderr_offset = copy.err_off;
            lr.wait_ms = copy.wait_ms;
            in.logs = &lr;
        }
        if (s_dispatch(s, copy.ident, copy.ident_len, copy.user_id, &in, 0, NULL, NULL) < 0)
            return -1;
    }
    return 0;
}

void server_client_drop_held(server_t *s)
{
    s->nheld = 0;
}
