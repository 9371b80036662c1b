/* server_sink — what the coordinator's state (model.c) asks of the server:
 * send an Assign or a Kill, run the coordinator's own kinds (promote,
 * select), prepare a step's spec at dispatch, record a result's outputs and
 * artifacts, name the model an approve step is about. Glue only: the rules
 * live in registry.c and model.c; these callbacks turn their decisions into
 * messages on the outbox (server.c) and grants on the artifact service. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artsvc.h"
#include "log.h"
#include "model.h"
#include "registry.h"
#include "store.h"
#include "util.h"
#include "wire.h"

#include "server_int.h"

/* ---------------------------------------------------------- model sink --- */

static void s_sink_assign(void *ctx, const worker_t *w, const task_t *t, const char *spec_json)
{
    server_t *s = ctx;
    observe_assigned(s->obs, t, util_now_us());
    server_grant_artifacts(s, w, t, spec_json);
    Drover__CoordMsg msg = DROVER__COORD_MSG__INIT;
    Drover__Assign a = DROVER__ASSIGN__INIT;
    Drover__Lease l = DROVER__LEASE__INIT;
    l.task_id = (uint64_t)t->id;
    l.attempt = (uint32_t)t->attempt;
    a.lease = &l;
    a.run_id = (uint64_t)t->run->id;
    a.step = t->name;
    a.kind = t->kind;
    a.spec_json = (char *)spec_json;
    a.timeout_ms = (uint64_t)t->timeout_ms;
    uint32_t gpus[64];
    size_t ng = 0;
    for (int i = 0; i < 64; i++)
        if (t->gpumask & (1ull << i))
            gpus[ng++] = (uint32_t)i;
    a.n_gpus = ng;
    a.gpus = gpus;
    a.memory_bytes = t->res.memory; /* enforced by the worker (worker/contain.h) */
    a.cpus = t->res.cpus;
    /* A gang member's rendezvous (docs/distributed.md): one entry per
     * "NAME=VALUE" line of t->gang_env (gang.h writes at most 9). */
    char *env = t->gang_env && t->gang_hostfile ? strdup(t->gang_env) : NULL;
    char *vars[16];
    if (t->gang_env && t->gang_hostfile && !env)
        log_error("task %lld: out of memory sending its gang environment: the member will "
                  "fail its rendezvous and the gang retry",
                  (long long)t->id);
    for (char *save = NULL, *v = env ? strtok_r(env, "\n", &save) : NULL; v && a.n_gang_env < 16;
         v = strtok_r(NULL, "\n", &save))
        vars[a.n_gang_env++] = v;
    a.gang_env = vars;
    a.gang_hostfile = env ? t->gang_hostfile : (char *)"";
    msg.version = DROVER_PROTOCOL_VERSION;
    msg.body_case = DROVER__COORD_MSG__BODY_ASSIGN;
    msg.assign = &a;
    server_queue(s, SOCK_WORKER, w->ident, w->ident_len, &msg.base);
    free(env);
}

static void s_sink_kill(void *ctx, const worker_t *w, int64_t task_id, int attempt)
{
    server_t *s = ctx;
    Drover__CoordMsg msg = DROVER__COORD_MSG__INIT;
    Drover__Kill k = DROVER__KILL__INIT;
    Drover__Lease l = DROVER__LEASE__INIT;
    l.task_id = (uint64_t)task_id;
    l.attempt = (uint32_t)attempt;
    k.lease = &l;
    msg.version = DROVER_PROTOCOL_VERSION;
    msg.body_case = DROVER__COORD_MSG__BODY_KILL;
    msg.kill = &k;
    server_queue(s, SOCK_WORKER, w->ident, w->ident_len, &msg.base);
}

/* promote and select steps act for the key that submitted the run: its
 * role and grants decide, exactly as for `drover promote` (registry.h). */
static int s_sink_run_inline(void *ctx, const task_t *t, char *err, size_t errlen)
{
    server_t *s = ctx;
    const char *key = t->run->submitted_key;
    if (auth_secure(s->auth) && !auth_key_kind(s->auth, key)) {
        /* A revoked key's grants and role are gone with it. */
        snprintf(err, errlen,
                 "permission denied: key '%s', which submitted run %lld, is no longer "
                 "allowed",
                 key, (long long)t->run->id);
        return 1;
    }
    registry_actor_t who = {key, !auth_secure(s->auth) ||
                                     auth_key_role(s->auth, key) == AUTH_ROLE_ADMIN};
    if (strcmp(t->kind, "select") == 0)
        return registry_run_select(s->st, &who, t->run->id, t->id, t->attempt, t->spec_json, err,
                                   errlen);
    char by[300];
    snprintf(by, sizeof by, "run %lld step %.128s (key %s)", (long long)t->run->id, t->name,
             *key ? key : "insecure");
    return registry_run_promote(s->st, &who, t->run->id, t->spec_json, by, err, errlen);
}

static int s_sink_prepare(void *ctx, const task_t *t, char **spec_out, char *err, size_t errlen)
{
    server_t *s = ctx;
    /* Called before the attempt number moves on: the coming attempt. */
    return registry_prepare(s->st, t->run->id, t->id, t->attempt + 1, t->kind, t->spec_json,
                            spec_out, err, errlen);
}

static int s_artifact_verified(void *ctx, const char *hex, uint64_t size)
{
    return artsvc_verified(ctx, hex, size);
}

static int s_sink_artifacts(void *ctx, const task_t *t, int attempt, const Drover__Result *res,
                            char *err, size_t errlen)
{
    server_t *s = ctx;
    if (res->n_artifacts == 0 && !strstr(t->spec_json, "\"outputs\""))
        return 0;
    if (!s->arts) {
        snprintf(err, errlen,
                 "the step declares outputs but the coordinator has no artifact "
                 "service (set coordinator.artifact_listen and coordinator.artifact_dir)");
        return 1;
    }
    int rc =
        registry_artifacts(s->st, t->run->id, t->id, attempt, t->name, t->spec_json, res->artifacts,
                           res->n_artifacts, s_artifact_verified, s->arts, err, errlen);
    /* The worker says why it reported none (a declared output not written). */
    if (rc == 1 && res->n_artifacts == 0 && res->error && res->error[0])
        snprintf(err, errlen, "%s", res->error);
    return rc;
}

/* The artifact service learns what this attempt may move: uploads if it
 * declares outputs, downloads of the hashes staged as its inputs. */
void server_grant_artifacts(server_t *s, const worker_t *w, const task_t *t, const char *spec_json)
{
    if (!s->arts || (!strstr(spec_json, "\"outputs\"") && !strstr(spec_json, "\"staged\"")))
        return;
    json_t *spec = json_loads(spec_json, 0, NULL);
    if (!spec)
        return;
    const char *hexes[ARTSVC_MAX_INPUTS];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(spec, "staged"), k, v)
    {
        const char *h = json_string_value(json_object_get(v, "sha256"));
        if (h && n < ARTSVC_MAX_INPUTS)
            hexes[n++] = h;
    }
    artsvc_grant(s->arts, (uint64_t)t->id, (uint32_t)t->attempt,
                 auth_secure(s->auth) ? w->key : w->name, json_object_get(spec, "outputs") != NULL,
                 hexes, n);
    json_decref(spec);
}

static int s_sink_outputs(void *ctx, const task_t *t, int attempt, int succeeded,
                          const char *outputs_json, int *gate_rejected, char *err, size_t errlen)
{
    server_t *s = ctx;
    return registry_apply(s->st, t->run->id, t->id, attempt, t->name, t->kind, t->spec_json,
                          s->cfg->coord.artifact_dir, succeeded, outputs_json, gate_rejected, err,
                          errlen);
}

int server_regrant_artifacts(server_t *s, const worker_t *w)
{
    for (size_t i = 0; s->arts && i < w->nheld; i++) {
        task_t *t = model_task(s->model, w->held[i].task_id);
        if (!t || t->attempt != w->held[i].attempt || strcmp(t->kind, "exec") != 0 ||
            (!strstr(t->spec_json, "\"outputs\"") && !strstr(t->spec_json, "\"inputs\"")) ||
            artsvc_granted(s->arts, (uint64_t)t->id, (uint32_t)t->attempt))
            continue;
        char *spec = NULL, err[512];
        int rc = registry_prepare(s->st, t->run->id, t->id, t->attempt, t->kind, t->spec_json,
                                  &spec, err, sizeof err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            server_grant_artifacts(s, w, t, spec ? spec : t->spec_json);
        free(spec);
    }
    return 0;
}

/* An approve step starts waiting: the model version it is about. */
static int s_sink_approval(void *ctx, const task_t *t, char *what, size_t len)
{
    server_t *s = ctx;
    char name[160];
    int version;
    int rc = registry_approval_model(s->st, t->run->id, t->spec_json, name, sizeof name, &version,
                                     what, len);
    if (rc == 0)
        snprintf(what, len, "%s:%d", name, version);
    return rc;
}

model_sink_t server_sink(server_t *s)
{
    return (model_sink_t){s,
                          s_sink_assign,
                          s_sink_kill,
                          registry_is_inline,
                          s_sink_run_inline,
                          s_sink_prepare,
                          s_sink_outputs,
                          s_sink_artifacts,
                          s_sink_approval};
}
