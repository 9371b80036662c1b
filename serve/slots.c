/* slots — see slots.h. */
#include "slots.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "client.h"
#include "keys.h"
#include "log.h"
#include "util.h"

#define S_CALL_MS 2000

typedef struct {
    char name[SERVECONF_NAME_MAX];
    pthread_mutex_t mu;
    servemodel_t *cur;       /* guarded by mu */
    uint64_t failed_version; /* last version that failed to load (logged once) */
    int warned;              /* "no production version" logged */
} slot_t;

struct slots {
    slot_t slot[SERVECONF_MAX_MODELS];
    size_t n;
    client_t *client;
    char artifact_dir[SERVECONF_PATH_MAX];
    int unreachable; /* the last poll had no answer (logged once) */
    atomic_uint_fast64_t reloads;
};

slots_t *slots_new(const serveconf_t *cfg, char *err, size_t errlen)
{
    slots_t *s = calloc(1, sizeof *s);
    if (!s) {
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    client_curve_t curve, *cp = NULL;
    memset(&curve, 0, sizeof curve);
    if (!cfg->insecure) {
        if (client_curve_load(&curve, cfg->secret_key, cfg->coordinator_key, err, errlen) < 0)
            goto fail;
        cp = &curve;
    }
    s->client = client_new(cfg->coordinator, cp, err, errlen);
    memset(&curve, 0, sizeof curve);
    if (!s->client)
        goto fail;
    util_strlcpy(s->artifact_dir, cfg->artifact_dir, sizeof s->artifact_dir);
    for (size_t i = 0; i < cfg->nmodels; i++) {
        util_strlcpy(s->slot[i].name, cfg->models[i], sizeof s->slot[i].name);
        pthread_mutex_init(&s->slot[i].mu, NULL);
        s->n++;
    }
    return s;
fail:
    slots_destroy(&s);
    return NULL;
}

/* One registry call: the JSON document of the reply, or NULL (logged). */
static json_t *s_models_doc(slots_t *s, const char *name, uint32_t version)
{
    Drover__ModelsRequest mr = DROVER__MODELS_REQUEST__INIT;
    mr.name = (char *)name;
    mr.version = version;
    Drover__ClientRequest req = DROVER__CLIENT_REQUEST__INIT;
    req.body_case = DROVER__CLIENT_REQUEST__BODY_MODELS;
    req.models = &mr;
    Drover__ClientReply *rep = client_call(s->client, &req, S_CALL_MS);
    if (!rep) {
        if (!s->unreachable)
            log_warn("the coordinator at %s does not answer (%s); serving the versions loaded",
                     client_endpoint(s->client), strerror(errno));
        s->unreachable = 1;
        return NULL;
    }
    if (s->unreachable)
        log_info("the coordinator at %s answers again", client_endpoint(s->client));
    s->unreachable = 0;
    json_t *doc = NULL;
    if (rep->error != DROVER__ERROR_CODE__ERROR_NONE) {
        if (rep->error != DROVER__ERROR_CODE__ERROR_NOT_FOUND)
            log_warn("registry: model %s: %s", name, rep->message ? rep->message : "error");
    } else {
        json_error_t je;
        doc = rep->json && *rep->json ? json_loads(rep->json, 0, &je) : NULL;
        if (!doc)
            log_warn("registry: model %s: the reply holds no JSON document", name);
    }
    drover__client_reply__free_unpacked(rep, NULL);
    return doc;
}

/* The version of `name` in production (0: none), or -1 (no answer). */
static int64_t s_production(slots_t *s, const char *name)
{
    json_t *list = s_models_doc(s, name, 0);
    if (!list)
        return s->unreachable ? -1 : 0;
    int64_t v = 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *st = json_string_value(json_object_get(e, "stage"));
        json_t *ver = json_object_get(e, "version");
        if (st && !strcmp(st, "production") && json_is_integer(ver))
            v = json_integer_value(ver);
    }
    json_decref(list);
    return v;
}

/* Loads version `version` of slot sl fully: NULL (logged) on any failure. */
static servemodel_t *s_load(slots_t *s, slot_t *sl, uint64_t version)
{
    servemodel_t *sm = NULL;
    json_t *doc = s_models_doc(s, sl->name, (uint32_t)version);
    if (!doc)
        return NULL;
    json_t *one = json_is_array(doc) ? json_array_get(doc, 0) : doc;
    const char *art = json_string_value(json_object_get(one, "artifact"));
    char path[PATH_MAX], err[1024];
    mlmodel_t *m = NULL;
    if (!art) {
        log_error("model %s:%llu: the registry names no artifact", sl->name,
                  (unsigned long long)version);
        goto done;
    }
    if (artifact_open_verified(s->artifact_dir, art, path, sizeof path, err, sizeof err) < 0 ||
        !(m = mlmodel_load(path, err, sizeof err))) {
        log_error("model %s:%llu: %s", sl->name, (unsigned long long)version, err);
        goto done;
    }
    if (!m->feature_names) {
        log_error("model %s:%llu has no signature (feature names): retrain it to serve it",
                  sl->name, (unsigned long long)version);
        goto done;
    }
    if (m->kind != MLMODEL_LINEAR && !m->class_names) {
        log_error("model %s:%llu has no class names", sl->name, (unsigned long long)version);
        goto done;
    }
    if (!(sm = calloc(1, sizeof *sm))) {
        log_error("model %s:%llu: out of memory", sl->name, (unsigned long long)version);
        goto done;
    }
    atomic_init(&sm->refs, 1);
    util_strlcpy(sm->name, sl->name, sizeof sm->name);
    sm->version = version;
    sm->m = m;
    m = NULL;
    sm->label = sm->m->label_name && *sm->m->label_name ? sm->m->label_name : "label";
done:
    mlmodel_destroy(&m);
    json_decref(doc);
    return sm;
}

int slots_poll(slots_t *s)
{
    int changed = 0;
    for (size_t i = 0; i < s->n; i++) {
        slot_t *sl = &s->slot[i];
        int64_t v = s_production(s, sl->name);
        if (v < 0)
            return changed; /* no answer: do not wait once more per model */
        uint64_t have = sl->cur ? sl->cur->version : 0; /* only this thread writes cur */
        if (v == 0) {
            if (!sl->warned)
                log_warn("model %s has no production version%s", sl->name,
                         have ? "; serving the one loaded" : " yet");
            sl->warned = 1;
            continue;
        }
        sl->warned = 0;
        if ((uint64_t)v == have || (uint64_t)v == sl->failed_version)
            continue;
        servemodel_t *sm = s_load(s, sl, (uint64_t)v);
        if (!sm) {
            sl->failed_version = (uint64_t)v;
            continue;
        }
        pthread_mutex_lock(&sl->mu);
        servemodel_t *old = sl->cur;
        sl->cur = sm;
        pthread_mutex_unlock(&sl->mu);
        slots_release(&old);
        atomic_fetch_add(&s->reloads, 1);
        log_info("model %s: now serving version %llu (was %llu)", sl->name, (unsigned long long)v,
                 (unsigned long long)have);
        changed++;
    }
    return changed;
}

static servemodel_t *s_acquire(slot_t *sl)
{
    pthread_mutex_lock(&sl->mu);
    servemodel_t *m = sl->cur;
    if (m)
        atomic_fetch_add(&m->refs, 1);
    pthread_mutex_unlock(&sl->mu);
    if (!m)
        errno = EAGAIN;
    return m;
}

servemodel_t *slots_acquire(slots_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->slot[i].name, name))
            return s_acquire(&s->slot[i]);
    errno = ENOENT;
    return NULL;
}

servemodel_t *slots_acquire_at(slots_t *s, size_t i)
{
    return i < s->n ? s_acquire(&s->slot[i]) : NULL;
}

size_t slots_count(const slots_t *s)
{
    return s->n;
}

const char *slots_name(const slots_t *s, size_t i)
{
    return i < s->n ? s->slot[i].name : NULL;
}

uint64_t slots_reloads(const slots_t *s)
{
    return atomic_load(&s->reloads);
}

void slots_release(servemodel_t **mp)
{
    if (!mp || !*mp)
        return;
    servemodel_t *m = *mp;
    *mp = NULL;
    if (atomic_fetch_sub(&m->refs, 1) == 1) {
        mlmodel_destroy(&m->m);
        free(m);
    }
}

void slots_destroy(slots_t **sp)
{
    if (!sp || !*sp)
        return;
    slots_t *s = *sp;
    for (size_t i = 0; i < s->n; i++) {
        slots_release(&s->slot[i].cur);
        pthread_mutex_destroy(&s->slot[i].mu);
    }
    client_destroy(&s->client);
    free(s);
    *sp = NULL;
}
