/* wirecheck — see wirecheck.h.
 *
 * Every check is a bound on something a handler would otherwise trust: a
 * pointer it dereferences, a count it loops over or copies into a fixed
 * array, a length it stores, an integer it narrows (task ids become int64_t,
 * attempts int, in the coordinator and in PostgreSQL). Strings are measured
 * with strnlen(max + 1) so a huge string costs no more than its bound.
 * protobuf-c gives proto3 strings as "" when absent, but the checks still
 * treat NULL as "" so they hold for hand-built messages too.
 */
#include "wirecheck.h"

#include <ctype.h>

#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int s_fail(char *why, size_t whylen, const char *fmt,
                                                        ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Length of s, or max + 1 when it is longer than max. */
static size_t s_len(const char *s, size_t max)
{
    return s ? strnlen(s, max + 1) : 0;
}

/* 1 when s has between lo and hi bytes. */
static int s_len_ok(const char *s, size_t lo, size_t hi)
{
    size_t n = s_len(s, hi);
    return n >= lo && n <= hi;
}

/* A lease names (task id, attempt); both are narrowed to signed types by the
 * coordinator, so values beyond those would alias other tasks. */
static int s_lease(const Drover__Lease *l, const char *what, char *why, size_t whylen)
{
    if (!l)
        return s_fail(why, whylen, "%s without a lease", what);
    if (l->task_id > (uint64_t)INT64_MAX || l->attempt > (uint32_t)INT32_MAX)
        return s_fail(why, whylen, "%s with an out-of-range lease", what);
    return 0;
}

static int s_leases(Drover__Lease *const *v, size_t n, const char *what, char *why, size_t whylen)
{
    if (n > WIRECHECK_MAX_LEASES)
        return s_fail(why, whylen, "%s with %zu leases (at most %d)", what, n,
                      WIRECHECK_MAX_LEASES);
    for (size_t i = 0; i < n; i++)
        if (s_lease(v ? v[i] : NULL, what, why, whylen) < 0)
            return -1;
    return 0;
}

static int s_strings(char *const *v, size_t n, size_t maxn, size_t lo, size_t hi, const char *what,
                     char *why, size_t whylen)
{
    if (n > maxn)
        return s_fail(why, whylen, "%zu %s (at most %zu)", n, what, maxn);
    for (size_t i = 0; i < n; i++)
        if (!v || !s_len_ok(v[i], lo, hi))
            return s_fail(why, whylen, "%s entry %zu is not %zu to %zu bytes", what, i + 1, lo, hi);
    return 0;
}

/* ------------------------------------------------------------ worker --- */

static int s_register(const Drover__Register *r, char *why, size_t whylen)
{
    if (!s_len_ok(r->name, 1, WIRECHECK_MAX_WORKER_NAME))
        return s_fail(why, whylen, "register: a worker needs a name of 1 to %d bytes",
                      WIRECHECK_MAX_WORKER_NAME);
    if (!s_len_ok(r->host, 0, WIRECHECK_MAX_HOST))
        return s_fail(why, whylen, "register: host longer than %d bytes", WIRECHECK_MAX_HOST);
    if (r->slots > WIRECHECK_MAX_SLOTS)
        return s_fail(why, whylen, "register: %u slots (at most %d)", r->slots,
                      WIRECHECK_MAX_SLOTS);
    if (s_strings(r->labels, r->n_labels, WIRECHECK_MAX_LABELS, 0, WIRECHECK_MAX_LABEL,
                  "register labels", why, whylen) < 0)
        return -1;
    if (s_strings(r->kinds, r->n_kinds, WIRECHECK_MAX_KINDS, 1, WIRECHECK_MAX_KIND,
                  "register kinds", why, whylen) < 0)
        return -1;
    /* reserve_for names "gpu" or one of the worker's own labels: anything
     * else would keep the worker from every step. */
    if (r->reserve_for && *r->reserve_for) {
        int ok = strcmp(r->reserve_for, "gpu") == 0;
        for (size_t i = 0; i < r->n_labels && !ok; i++)
            ok = strcmp(r->labels[i], r->reserve_for) == 0;
        if (!ok || !s_len_ok(r->reserve_for, 1, WIRECHECK_MAX_LABEL))
            return s_fail(why, whylen,
                          "register: reserve_for must be \"gpu\" or one of its labels");
    }
    /* Gang peers get these in their environment and hostfile. */
    if (r->advertise_addr && *r->advertise_addr) {
        int ok = s_len_ok(r->advertise_addr, 1, 253);
        for (const char *p = r->advertise_addr; ok && *p; p++)
            ok = isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == ':';
        if (!ok)
            return s_fail(why, whylen,
                          "register: advertise_addr must be a host name or an IP address");
    }
    if ((r->gang_port_lo || r->gang_port_hi) &&
        (r->gang_port_lo < 1024 || r->gang_port_hi > 65535 || r->gang_port_lo > r->gang_port_hi ||
         r->gang_port_hi - r->gang_port_lo >= 4096))
        return s_fail(why, whylen,
                      "register: gang ports must be a range within 1024-65535 of at most 4096 "
                      "ports");
    return s_leases(r->held, r->n_held, "register", why, whylen);
}

int wirecheck_validate_worker_msg(const Drover__WorkerMsg *m, char *why, size_t whylen)
{
    if (!m)
        return s_fail(why, whylen, "no message");
    switch (m->body_case) {
    case DROVER__WORKER_MSG__BODY_REGISTER:
        if (!m->register_)
            return s_fail(why, whylen, "register without a body");
        return s_register(m->register_, why, whylen);
    case DROVER__WORKER_MSG__BODY_HEARTBEAT:
        if (!m->heartbeat)
            return s_fail(why, whylen, "heartbeat without a body");
        return s_leases(m->heartbeat->running, m->heartbeat->n_running, "heartbeat", why, whylen);
    case DROVER__WORKER_MSG__BODY_STARTED:
        if (!m->started)
            return s_fail(why, whylen, "started without a body");
        return s_lease(m->started->lease, "started", why, whylen);
    case DROVER__WORKER_MSG__BODY_RESULT: {
        const Drover__Result *r = m->result;
        if (!r)
            return s_fail(why, whylen, "result without a body");
        if (s_lease(r->lease, "result", why, whylen) < 0)
            return -1;
        if (!s_len_ok(r->error, 0, WIRECHECK_MAX_ERROR))
            return s_fail(why, whylen, "result error text longer than %d bytes",
                          WIRECHECK_MAX_ERROR);
        if (!s_len_ok(r->outputs_json, 0, WIRECHECK_MAX_OUTPUTS_JSON))
            return s_fail(why, whylen, "result outputs_json longer than %u bytes",
                          WIRECHECK_MAX_OUTPUTS_JSON);
        if (r->n_artifacts > WIRECHECK_MAX_ARTIFACTS)
            return s_fail(why, whylen, "result with %zu artifacts (at most %d)", r->n_artifacts,
                          WIRECHECK_MAX_ARTIFACTS);
        for (size_t i = 0; i < r->n_artifacts; i++) {
            const Drover__ArtifactRef *a = r->artifacts[i];
            if (!a || !s_len_ok(a->name, 1, WIRECHECK_MAX_ARTIFACT_NAME) ||
                !s_len_ok(a->sha256, 64, 64) || a->size > (uint64_t)INT64_MAX)
                return s_fail(why, whylen, "result with an invalid artifact");
        }
        return 0;
    }
    case DROVER__WORKER_MSG__BODY_ARTIFACT: {
        const Drover__ArtifactRequest *a = m->artifact;
        if (!a)
            return s_fail(why, whylen, "artifact request without a body");
        if (s_lease(a->lease, "artifact request", why, whylen) < 0)
            return -1;
        if (!s_len_ok(a->sha256, 64, 64))
            return s_fail(why, whylen, "artifact request without a 64-hex sha256");
        if (a->size > (uint64_t)INT64_MAX || a->offset > (uint64_t)INT64_MAX ||
            a->length > WIRECHECK_MAX_ARTIFACT_CHUNK || a->data.len > WIRECHECK_MAX_ARTIFACT_CHUNK)
            return s_fail(why, whylen, "artifact request out of range");
        if (a->data.len && !a->data.data)
            return s_fail(why, whylen, "artifact request without data");
        if (!s_len_ok(a->worker, 0, WIRECHECK_MAX_WORKER_NAME))
            return s_fail(why, whylen, "artifact request worker name too long");
        return 0;
    }
    case DROVER__WORKER_MSG__BODY_LOG: {
        const Drover__LogChunk *l = m->log;
        if (!l)
            return s_fail(why, whylen, "log chunk without a body");
        if (s_lease(l->lease, "log chunk", why, whylen) < 0)
            return -1;
        if (l->stream != 1 && l->stream != 2)
            return s_fail(why, whylen, "log chunk for stream %u (1 or 2)", l->stream);
        if (l->data.len && !l->data.data)
            return s_fail(why, whylen, "log chunk without data");
        /* Offsets are stored as bigint: offset + len must stay below 2^63. */
        if (l->offset > (uint64_t)INT64_MAX || l->data.len > (uint64_t)INT64_MAX - l->offset)
            return s_fail(why, whylen, "log chunk offset out of range");
        return 0;
    }
    case DROVER__WORKER_MSG__BODY_METRIC:
        if (!m->metric)
            return s_fail(why, whylen, "metric without a body");
        if (s_lease(m->metric->lease, "metric", why, whylen) < 0)
            return -1;
        if (!s_len_ok(m->metric->json, 0, WIRECHECK_MAX_METRIC_JSON))
            return s_fail(why, whylen, "metric json longer than %u bytes",
                          WIRECHECK_MAX_METRIC_JSON);
        return 0;
    case DROVER__WORKER_MSG__BODY_DRAINING:
        if (!m->draining)
            return s_fail(why, whylen, "draining without a body");
        return 0;
    default: return s_fail(why, whylen, "worker message without a body");
    }
}

/* ------------------------------------------------------- coordinator --- */

int wirecheck_validate_coord_msg(const Drover__CoordMsg *m, char *why, size_t whylen)
{
    if (!m)
        return s_fail(why, whylen, "no message");
    switch (m->body_case) {
    case DROVER__COORD_MSG__BODY_REGISTER_REPLY: {
        const Drover__RegisterReply *r = m->register_reply;
        if (!r)
            return s_fail(why, whylen, "register reply without a body");
        if (!s_len_ok(r->reason, 0, WIRECHECK_MAX_ERROR))
            return s_fail(why, whylen, "register reply reason longer than %d bytes",
                          WIRECHECK_MAX_ERROR);
        return s_leases(r->drop, r->n_drop, "register reply", why, whylen);
    }
    case DROVER__COORD_MSG__BODY_ASSIGN: {
        const Drover__Assign *a = m->assign;
        if (!a)
            return s_fail(why, whylen, "assign without a body");
        if (s_lease(a->lease, "assign", why, whylen) < 0)
            return -1;
        if (!s_len_ok(a->step, 1, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "assign: a step name of 1 to %d bytes is needed",
                          WIRECHECK_MAX_NAME);
        if (!s_len_ok(a->kind, 1, WIRECHECK_MAX_KIND))
            return s_fail(why, whylen, "assign: a kind of 1 to %d bytes is needed",
                          WIRECHECK_MAX_KIND);
        if (!s_len_ok(a->spec_json, 0, WIRECHECK_MAX_ASSIGN_SPEC_JSON))
            return s_fail(why, whylen, "assign spec_json longer than %u bytes",
                          WIRECHECK_MAX_ASSIGN_SPEC_JSON);
        if (a->run_id > (uint64_t)INT64_MAX || a->timeout_ms > (uint64_t)INT64_MAX)
            return s_fail(why, whylen, "assign with an out-of-range run id or timeout");
        /* A gang member's rendezvous variables (NAME=VALUE, only the names
         * of docs/distributed.md) and hostfile: bounded by 64 members'
         * addresses. */
        if (a->n_gang_env > 16 || !s_len_ok(a->gang_hostfile, 0, 65536))
            return s_fail(why, whylen, "assign: gang environment or hostfile too large");
        for (size_t i = 0; i < a->n_gang_env; i++) {
            const char *e = a->gang_env[i];
            const char *eq = e ? strchr(e, '=') : NULL;
            if (!s_len_ok(e, 2, 65536) || !eq || eq == e)
                return s_fail(why, whylen, "assign: gang environment entries are NAME=VALUE");
            static const char *const names[] = {"RANK",
                                                "WORLD_SIZE",
                                                "LOCAL_RANK",
                                                "LOCAL_WORLD_SIZE",
                                                "MASTER_ADDR",
                                                "MASTER_PORT",
                                                "DROVER_GANG_ID",
                                                "DROVER_GANG_HOSTS",
                                                "DROVER_GANG_PORTS"};
            int known = 0;
            for (size_t k = 0; k < sizeof names / sizeof names[0] && !known; k++)
                known = strlen(names[k]) == (size_t)(eq - e) &&
                        strncmp(e, names[k], (size_t)(eq - e)) == 0;
            if (!known)
                return s_fail(why, whylen, "assign: bad gang environment name");
        }
        return 0;
    }
    case DROVER__COORD_MSG__BODY_KILL:
        if (!m->kill)
            return s_fail(why, whylen, "kill without a body");
        return s_lease(m->kill->lease, "kill", why, whylen);
    case DROVER__COORD_MSG__BODY_RESULT_ACK:
        if (!m->result_ack)
            return s_fail(why, whylen, "result ack without a body");
        return s_lease(m->result_ack->lease, "result ack", why, whylen);
    case DROVER__COORD_MSG__BODY_REREGISTER:
        if (!m->reregister)
            return s_fail(why, whylen, "reregister without a body");
        return 0;
    case DROVER__COORD_MSG__BODY_ARTIFACT:
        if (!m->artifact)
            return s_fail(why, whylen, "artifact reply without a body");
        if (m->artifact->data.len > WIRECHECK_MAX_ARTIFACT_CHUNK ||
            !s_len_ok(m->artifact->message, 0, WIRECHECK_MAX_ERROR))
            return s_fail(why, whylen, "artifact reply out of range");
        return 0;
    case DROVER__COORD_MSG__BODY_HEARTBEAT_ACK:
        if (!m->heartbeat_ack)
            return s_fail(why, whylen, "heartbeat ack without a body");
        return 0;
    default: return s_fail(why, whylen, "coordinator message without a body");
    }
}

/* ------------------------------------------------------------ client --- */

static int s_run_id(uint64_t id, const char *what, char *why, size_t whylen)
{
    if (id == 0 || id > (uint64_t)INT64_MAX)
        return s_fail(why, whylen, "%s request without a valid run id", what);
    return 0;
}

static int s_submit(const Drover__SubmitRequest *q, char *why, size_t whylen)
{
    if (!s_len_ok(q->workflow, 1, WIRECHECK_MAX_NAME))
        return s_fail(why, whylen, "submit: the workflow needs a name of 1 to %d bytes",
                      WIRECHECK_MAX_NAME);
    if (q->n_steps < 1 || q->n_steps > WIRECHECK_MAX_STEPS)
        return s_fail(why, whylen, "submit: a workflow has 1 to %d steps; this one has %zu",
                      WIRECHECK_MAX_STEPS, q->n_steps);
    if (!s_len_ok(q->source, 0, WIRECHECK_MAX_TEXT) ||
        !s_len_ok(q->submitted_by, 0, WIRECHECK_MAX_TEXT))
        return s_fail(why, whylen, "submit: source or submitted_by longer than %d bytes",
                      WIRECHECK_MAX_TEXT);
    for (size_t i = 0; i < q->n_steps; i++) {
        const Drover__StepSpec *s = q->steps ? q->steps[i] : NULL;
        if (!s)
            return s_fail(why, whylen, "submit: step %zu missing", i + 1);
        if (!s_len_ok(s->name, 1, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "submit: step %zu needs a name of 1 to %d bytes", i + 1,
                          WIRECHECK_MAX_NAME);
        if (!s_len_ok(s->kind, 1, WIRECHECK_MAX_KIND))
            return s_fail(why, whylen, "submit: step %zu needs a kind of 1 to %d bytes", i + 1,
                          WIRECHECK_MAX_KIND);
        if (s_strings(s->after, s->n_after, WIRECHECK_MAX_AFTER, 1, WIRECHECK_MAX_NAME,
                      "submit step dependencies", why, whylen) < 0)
            return -1;
        if (!s_len_ok(s->spec_json, 0, WIRECHECK_MAX_SPEC_JSON))
            return s_fail(why, whylen, "submit: step %zu spec_json longer than %u bytes", i + 1,
                          WIRECHECK_MAX_SPEC_JSON);
        if (s->timeout_ms > (uint64_t)INT64_MAX || s->retry_delay_ms > (uint64_t)INT64_MAX)
            return s_fail(why, whylen, "submit: step %zu has an out-of-range duration", i + 1);
        if (s->resources && (s->resources->cpus > 4096 || s->resources->gpus > 64 ||
                             s->resources->memory_bytes > (uint64_t)INT64_MAX ||
                             s_strings(s->resources->labels, s->resources->n_labels, 32, 1, 63,
                                       "submit step labels", why, whylen) < 0))
            return s_fail(why, whylen, "submit: step %zu asks for out-of-range resources", i + 1);
    }
    if (!s_len_ok(q->queue, 0, 63))
        return s_fail(why, whylen, "submit: queue name longer than 63 bytes");
    if (q->schedule &&
        (!s_len_ok(q->schedule->cron, 1, 127) || !s_len_ok(q->schedule->timezone, 0, 63) ||
         !s_len_ok(q->schedule->catchup, 0, 15) || q->schedule->max_active > 1000))
        return s_fail(why, whylen, "submit: malformed schedule");
    if (q->trigger &&
        (!s_len_ok(q->trigger->watch, 1, 1023) || !s_len_ok(q->trigger->on_failure, 0, 15)))
        return s_fail(why, whylen, "submit: malformed trigger");
    if (q->notify &&
        (!s_len_ok(q->notify->webhook, 1, 1023) ||
         s_strings(q->notify->on, q->notify->n_on, 16, 1, 31, "submit notify on", why, whylen) < 0))
        return s_fail(why, whylen,
                      "submit: malformed notify (a webhook of 1 to 1023 bytes, at "
                      "most 16 kinds)");
    /* Names and values are checked by the coordinator (params.h); here the sizes. */
    if (q->n_params > 64 || !s_len_ok(q->base_dir, 0, 4095))
        return s_fail(why, whylen, "submit: more than 64 params, or a base_dir over 4095 bytes");
    for (size_t i = 0; i < q->n_params; i++)
        if (!q->params[i] || !s_len_ok(q->params[i]->name, 1, 64) ||
            !s_len_ok(q->params[i]->value, 0, 4096))
            return s_fail(why, whylen,
                          "submit: param %zu needs a name of 1 to 64 bytes and a "
                          "value of at most 4096",
                          i + 1);
    return 0;
}

static int s_step_data(const Drover__StepDataRequest *q, const char *what, char *why, size_t whylen)
{
    if (!q)
        return s_fail(why, whylen, "%s request without a body", what);
    if (s_run_id(q->run_id, what, why, whylen) < 0)
        return -1;
    if (!s_len_ok(q->step, 1, WIRECHECK_MAX_NAME))
        return s_fail(why, whylen, "%s request needs a step name of 1 to %d bytes", what,
                      WIRECHECK_MAX_NAME);
    return 0;
}

int wirecheck_validate_client_request(const Drover__ClientRequest *m, char *why, size_t whylen)
{
    if (!m)
        return s_fail(why, whylen, "no message");
    /* A token is "drw_" + 64 hex; anything longer is no token at all. */
    if (!s_len_ok(m->web_token, 0, 80))
        return s_fail(why, whylen, "web_token longer than 80 bytes");
    switch (m->body_case) {
    case DROVER__CLIENT_REQUEST__BODY_SUBMIT:
        if (!m->submit)
            return s_fail(why, whylen, "submit request without a body");
        return s_submit(m->submit, why, whylen);
    case DROVER__CLIENT_REQUEST__BODY_RUNS:
        if (!m->runs)
            return s_fail(why, whylen, "runs request without a body");
        if ((m->runs->filter &&
             (!s_len_ok(m->runs->filter->state, 0, 15) ||
              !s_len_ok(m->runs->filter->workflow, 0, 255) ||
              !s_len_ok(m->runs->filter->schedule, 0, 255) || m->runs->filter->since_us < 0)) ||
            m->runs->before_id > (uint64_t)INT64_MAX)
            return s_fail(why, whylen, "runs request with a malformed filter");
        return 0;
    case DROVER__CLIENT_REQUEST__BODY_STATUS:
        if (!m->status)
            return s_fail(why, whylen, "status request without a body");
        return s_run_id(m->status->run_id, "status", why, whylen);
    case DROVER__CLIENT_REQUEST__BODY_LOGS: {
        const Drover__LogsRequest *q = m->logs;
        if (!q)
            return s_fail(why, whylen, "logs request without a body");
        if (s_run_id(q->run_id, "logs", why, whylen) < 0)
            return -1;
        if (!s_len_ok(q->step, 1, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "logs request needs a step name of 1 to %d bytes",
                          WIRECHECK_MAX_NAME);
        if (q->attempt > (uint32_t)INT32_MAX || q->stdout_offset > (uint64_t)INT64_MAX ||
            q->stderr_offset > (uint64_t)INT64_MAX)
            return s_fail(why, whylen, "logs request with an out-of-range attempt or offset");
        return 0;
    }
    case DROVER__CLIENT_REQUEST__BODY_CANCEL:
        if (!m->cancel)
            return s_fail(why, whylen, "cancel request without a body");
        return s_run_id(m->cancel->run_id, "cancel", why, whylen);
    case DROVER__CLIENT_REQUEST__BODY_WORKERS:
        if (!m->workers)
            return s_fail(why, whylen, "workers request without a body");
        return 0;
    case DROVER__CLIENT_REQUEST__BODY_INFO:
        if (!m->info)
            return s_fail(why, whylen, "info request without a body");
        return 0;
    case DROVER__CLIENT_REQUEST__BODY_REPORT: return s_step_data(m->report, "report", why, whylen);
    case DROVER__CLIENT_REQUEST__BODY_METRICS:
        return s_step_data(m->metrics, "metrics", why, whylen);
    case DROVER__CLIENT_REQUEST__BODY_MODELS:
        if (!m->models)
            return s_fail(why, whylen, "models request without a body");
        if (!s_len_ok(m->models->name, 0, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "models request: name longer than %d bytes",
                          WIRECHECK_MAX_NAME);
        if (m->models->version > (uint32_t)INT32_MAX)
            return s_fail(why, whylen, "models request: version out of range");
        return 0;
    case DROVER__CLIENT_REQUEST__BODY_PROMOTE: {
        const Drover__PromoteRequest *q = m->promote;
        if (!q)
            return s_fail(why, whylen, "promote request without a body");
        if (!s_len_ok(q->name, 1, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "promote request needs a model name of 1 to %d bytes",
                          WIRECHECK_MAX_NAME);
        if (q->version < 1 || q->version > (uint32_t)INT32_MAX)
            return s_fail(why, whylen, "promote request needs a model version");
        if (!s_len_ok(q->stage, 1, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "promote request needs a stage");
        if (!s_len_ok(q->by, 0, WIRECHECK_MAX_TEXT) || !s_len_ok(q->reason, 0, WIRECHECK_MAX_TEXT))
            return s_fail(why, whylen, "promote request: by or reason longer than %d bytes",
                          WIRECHECK_MAX_TEXT);
        return 0;
    }
    case DROVER__CLIENT_REQUEST__BODY_KEYS: {
        const Drover__KeysRequest *q = m->keys;
        if (!q || !s_len_ok(q->op, 1, 16) || !s_len_ok(q->name, 0, WIRECHECK_MAX_NAME) ||
            !s_len_ok(q->kind, 0, 16) || !s_len_ok(q->role, 0, 16) ||
            !s_len_ok(q->public_key, 0, 64))
            return s_fail(why, whylen, "keys request with a missing or over-long field");
        return 0;
    }
    case DROVER__CLIENT_REQUEST__BODY_SCHEDULE: {
        const Drover__ScheduleRequest *q = m->schedule;
        if (!q || !s_len_ok(q->op, 1, 16) || !s_len_ok(q->name, 0, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "schedule request with a missing or over-long field");
        return 0;
    }
    case DROVER__CLIENT_REQUEST__BODY_QUEUE: {
        const Drover__QueueRequest *q = m->queue;
        if (!q || !s_len_ok(q->op, 1, 16) || !s_len_ok(q->name, 0, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "queue request with a missing or over-long field");
        return 0;
    }
    case DROVER__CLIENT_REQUEST__BODY_HOLD:
        if (!m->hold)
            return s_fail(why, whylen, "hold without a body");
        if (s_run_id(m->hold->run_id, "hold", why, whylen) < 0)
            return -1;
        if (!s_len_ok(m->hold->step, 0, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "hold: step name longer than %d bytes", WIRECHECK_MAX_NAME);
        return 0;
    case DROVER__CLIENT_REQUEST__BODY_WHY:
        if (!m->why)
            return s_fail(why, whylen, "why request without a body");
        if (s_run_id(m->why->run_id, "why", why, whylen) < 0)
            return -1;
        if (!s_len_ok(m->why->step, 1, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "why request needs a step name");
        return 0;
    case DROVER__CLIENT_REQUEST__BODY_APPROVE: {
        const Drover__ApproveRequest *q = m->approve;
        if (!q)
            return s_fail(why, whylen, "approve request without a body");
        if (s_run_id(q->run_id, "approve", why, whylen) < 0)
            return -1;
        if (!s_len_ok(q->step, 1, WIRECHECK_MAX_NAME))
            return s_fail(why, whylen, "approve request needs a step name of 1 to %d bytes",
                          WIRECHECK_MAX_NAME);
        /* The reason's own rule (required, at most 1000 bytes) is the
         * coordinator's, answered with a clear error; this is the frame bound. */
        if (!s_len_ok(q->by, 0, WIRECHECK_MAX_TEXT) || !s_len_ok(q->reason, 0, WIRECHECK_MAX_TEXT))
            return s_fail(why, whylen, "approve request: by or reason longer than %d bytes",
                          WIRECHECK_MAX_TEXT);
        return 0;
    }
    case DROVER__CLIENT_REQUEST__BODY_RERUN:
        if (!m->rerun)
            return s_fail(why, whylen, "rerun request without a body");
        if (s_run_id(m->rerun->run_id, "rerun", why, whylen) < 0)
            return -1;
        return s_strings(m->rerun->steps, m->rerun->n_steps, 10000, 1, WIRECHECK_MAX_NAME,
                         "rerun steps", why, whylen);
    case DROVER__CLIENT_REQUEST__BODY_WEB_TOKENS: {
        const Drover__WebTokenRequest *q = m->web_tokens;
        if (!q || !s_len_ok(q->op, 1, 16) || !s_len_ok(q->key, 0, WIRECHECK_MAX_NAME) ||
            q->id > (uint64_t)INT64_MAX)
            return s_fail(why, whylen, "web-token request with a missing or over-long field");
        return 0;
    }
    case DROVER__CLIENT_REQUEST__BODY_WHOAMI:
        if (!m->whoami)
            return s_fail(why, whylen, "whoami request without a body");
        return 0;
    case DROVER__CLIENT_REQUEST__BODY_APPROVALS:
        if (!m->approvals)
            return s_fail(why, whylen, "approvals request without a body");
        return 0;
    default: return s_fail(why, whylen, "client request without a body");
    }
}

/* Replies carry no body case: the checks are the bounds every reader of a
 * reply relies on (non-NULL entries, bounded counts and texts). Which fields
 * a given request needs (e.g. runs[0] for status) stays the caller's check. */
int wirecheck_validate_client_reply(const Drover__ClientReply *m, char *why, size_t whylen)
{
    if (!m)
        return s_fail(why, whylen, "no message");
    if (!s_len_ok(m->message, 0, WIRECHECK_MAX_REPLY_MESSAGE))
        return s_fail(why, whylen, "reply message longer than %u bytes",
                      WIRECHECK_MAX_REPLY_MESSAGE);
    if (!s_len_ok(m->json, 0, WIRECHECK_MAX_REPLY_JSON))
        return s_fail(why, whylen, "reply json longer than %u bytes", WIRECHECK_MAX_REPLY_JSON);
    if (m->n_runs > WIRECHECK_MAX_REPLY_ITEMS || m->n_tasks > WIRECHECK_MAX_REPLY_ITEMS ||
        m->n_workers > WIRECHECK_MAX_REPLY_ITEMS)
        return s_fail(why, whylen, "reply with more than %d runs, tasks or workers",
                      WIRECHECK_MAX_REPLY_ITEMS);
    for (size_t i = 0; i < m->n_runs; i++)
        if (!m->runs || !m->runs[i] || !s_len_ok(m->runs[i]->workflow, 0, WIRECHECK_MAX_TEXT))
            return s_fail(why, whylen, "reply run %zu is invalid", i + 1);
    for (size_t i = 0; i < m->n_tasks; i++) {
        const Drover__TaskInfo *t = m->tasks ? m->tasks[i] : NULL;
        if (!t || !s_len_ok(t->name, 0, WIRECHECK_MAX_NAME) ||
            !s_len_ok(t->kind, 0, WIRECHECK_MAX_KIND) ||
            !s_len_ok(t->worker, 0, WIRECHECK_MAX_WORKER_NAME) ||
            !s_len_ok(t->error, 0, WIRECHECK_MAX_REPLY_MESSAGE))
            return s_fail(why, whylen, "reply task %zu is invalid", i + 1);
        if (s_strings(t->after, t->n_after, WIRECHECK_MAX_AFTER, 0, WIRECHECK_MAX_NAME,
                      "reply task dependencies", why, whylen) < 0)
            return -1;
    }
    for (size_t i = 0; i < m->n_workers; i++) {
        const Drover__WorkerInfo *w = m->workers ? m->workers[i] : NULL;
        if (!w || !s_len_ok(w->name, 0, WIRECHECK_MAX_WORKER_NAME) ||
            !s_len_ok(w->host, 0, WIRECHECK_MAX_HOST))
            return s_fail(why, whylen, "reply worker %zu is invalid", i + 1);
        if (s_strings(w->labels, w->n_labels, WIRECHECK_MAX_LABELS, 0, WIRECHECK_MAX_LABEL,
                      "reply worker labels", why, whylen) < 0)
            return -1;
    }
    if (m->logs) {
        const Drover__LogsReply *l = m->logs;
        if ((l->stdout_data.len && !l->stdout_data.data) ||
            (l->stderr_data.len && !l->stderr_data.data))
            return s_fail(why, whylen, "logs reply without data");
    }
    if (m->info && !s_len_ok(m->info->build, 0, WIRECHECK_MAX_TEXT))
        return s_fail(why, whylen, "info reply build text longer than %d bytes",
                      WIRECHECK_MAX_TEXT);
    return 0;
}

/* ------------------------------------------------------------ unpack --- */

/* The four wrappers are one shape; a macro keeps them identical. */
#define WIRECHECK_UNPACK(fn, type, unpack, validate, free_unpacked)                                \
    type *fn(const uint8_t *data, size_t len, char *why, size_t whylen)                            \
    {                                                                                              \
        if (!data && len) {                                                                        \
            s_fail(why, whylen, "malformed protobuf");                                             \
            return NULL;                                                                           \
        }                                                                                          \
        type *m = unpack(NULL, len, data);                                                         \
        if (!m) {                                                                                  \
            s_fail(why, whylen, "malformed protobuf");                                             \
            return NULL;                                                                           \
        }                                                                                          \
        if (validate(m, why, whylen) < 0) {                                                        \
            free_unpacked(m, NULL);                                                                \
            return NULL;                                                                           \
        }                                                                                          \
        wire_sanitize(&m->base);                                                                   \
        return m;                                                                                  \
    }

WIRECHECK_UNPACK(wirecheck_worker_msg, Drover__WorkerMsg, drover__worker_msg__unpack,
                 wirecheck_validate_worker_msg, drover__worker_msg__free_unpacked)
WIRECHECK_UNPACK(wirecheck_coord_msg, Drover__CoordMsg, drover__coord_msg__unpack,
                 wirecheck_validate_coord_msg, drover__coord_msg__free_unpacked)
WIRECHECK_UNPACK(wirecheck_client_request, Drover__ClientRequest, drover__client_request__unpack,
                 wirecheck_validate_client_request, drover__client_request__free_unpacked)
WIRECHECK_UNPACK(wirecheck_client_reply, Drover__ClientReply, drover__client_reply__unpack,
                 wirecheck_validate_client_reply, drover__client_reply__free_unpacked)

/* Reads a base-128 varint at *p (< end). 0 and *v, or -1. */
static int s_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

int wirecheck_peek_request_id(const uint8_t *data, size_t len, uint64_t *id)
{
    if (!data)
        return -1;
    const uint8_t *p = data, *end = data + len;
    while (p < end) {
        uint64_t tag, v;
        if (s_varint(&p, end, &tag) < 0)
            return -1;
        switch (tag & 7) {
        case 0: /* varint */
            if (s_varint(&p, end, &v) < 0)
                return -1;
            if ((tag >> 3) == 2) { /* ClientRequest.request_id */
                *id = v;
                return 0;
            }
            break;
        case 1: /* fixed64 */
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 2: /* length-delimited: skipped whole */
            if (s_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            p += v;
            break;
        case 5: /* fixed32 */
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        default: return -1;
        }
    }
    return -1;
}

int wirecheck_request_id(const uint8_t *data, size_t len, uint64_t *id)
{
    if (!data && len)
        return -1;
    Drover__ClientRequest *m = drover__client_request__unpack(NULL, len, data);
    if (!m)
        return -1;
    *id = m->request_id;
    drover__client_request__free_unpacked(m, NULL);
    return 0;
}
