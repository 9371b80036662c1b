/* registry — see registry.h. */
#include "registry.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "log.h"
#include "sha256.h"
#include "stepkind.h"
#include "util.h"

#define NAME_MAX_LEN 128

static int s_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

static int s_valid_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

int registry_is_inline(const char *kind)
{
    return strcmp(kind, "promote") == 0 || strcmp(kind, "select") == 0;
}

int registry_parse_ref(const char *ref, char *name, size_t namelen, int *version)
{
    const char *colon = strrchr(ref, ':');
    if (!colon || (size_t)(colon - ref) >= namelen)
        return -1;
    memcpy(name, ref, (size_t)(colon - ref));
    name[colon - ref] = '\0';
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (!s_valid_name(name) || *end || end == colon + 1 || v <= 0 || v > 1000000000)
        return -1;
    *version = (int)v;
    return 0;
}

/* A model_versions row (name, version, artifact, model_kind, stage) as JSON. */
static json_t *s_row_json(const PGresult *r)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:s}", "name", db_get_str(r, 0, 0), "version",
                     (json_int_t)db_get_i64(r, 0, 1), "artifact", db_get_str(r, 0, 2), "kind",
                     db_get_str(r, 0, 3), "stage", db_get_str(r, 0, 4));
}

/* Resolves REF to a model version: 0 with *out, 1 not found (err), -1 db. */
static int s_resolve(store_t *st, int64_t run_id, const char *ref, json_t **out, char *err,
                     size_t errlen)
{
    PGresult *r = NULL;
    *out = NULL;
    char name[NAME_MAX_LEN + 1];
    int version;
    if (ref[0] == '@') {
        r = store_model_by_step(st, run_id, ref + 1, 0);
        if (r && PQntuples(r) == 0) {
            PQclear(r);
            r = store_select_choice(st, run_id, ref + 1);
            if (r && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
                char nm[NAME_MAX_LEN + 1];
                util_strlcpy(nm, db_get_str(r, 0, 0), sizeof nm);
                int ver = (int)db_get_i64(r, 0, 1);
                PQclear(r);
                r = store_model_get(st, nm, ver);
            } else if (r) {
                PQclear(r);
                r = store_model_by_step(st, run_id, ref + 1, 1);
            }
        }
        if (r && PQntuples(r) == 0 && strlen(ref + 1) + 4 <= NAME_MAX_LEN) {
            /* A gang step's model is its rank 0's (docs/distributed.md). */
            char g[NAME_MAX_LEN + 1];
            snprintf(g, sizeof g, "%s[0]", ref + 1);
            PQclear(r);
            r = store_model_by_step(st, run_id, g, 0);
        }
        if (r && PQntuples(r) == 0)
            snprintf(err, errlen, "step '%s' of this run registered or evaluated no model",
                     ref + 1);
    } else {
        const char *colon = strrchr(ref, ':');
        if (colon && strcmp(colon + 1, "production") == 0 &&
            (size_t)(colon - ref) <= NAME_MAX_LEN) {
            memcpy(name, ref, (size_t)(colon - ref));
            name[colon - ref] = '\0';
            r = store_model_production(st, name);
            if (r && PQntuples(r) == 0)
                snprintf(err, errlen,
                         "model '%s' has no production version (promote one with: "
                         "drover promote %s:VERSION production)",
                         name, name);
        } else if (registry_parse_ref(ref, name, sizeof name, &version) == 0) {
            r = store_model_get(st, name, version);
            if (r && PQntuples(r) == 0)
                snprintf(err, errlen, "no model version %s (see: drover models %s)", ref, name);
        } else {
            snprintf(err, errlen,
                     "bad model reference '%s' (use @STEP, NAME:production or NAME:VERSION)", ref);
            return 1;
        }
    }
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples(r) > 0) {
        *out = s_row_json(r);
        rc = *out ? 0 : -1;
    }
    PQclear(r);
    return rc;
}

/* An exec step's inputs: "@STEP:PATH" -> {"staged": {NAME: {path, sha256,
 * size}}} from the run's recorded artifacts; the attempt is recorded as
 * their consumer. */
static int s_prepare_inputs(store_t *st, int64_t run_id, int64_t task_id, int attempt,
                            const char *spec_json, char **spec_out, char *err, size_t errlen)
{
    json_t *spec = json_loads(spec_json, 0, NULL), *want = json_array(), *staged = NULL;
    json_t *inputs = spec ? json_object_get(spec, "inputs") : NULL;
    char *wanted = NULL, *got = NULL;
    int rc = -1;
    if (!spec || !want || !json_is_object(inputs)) {
        rc = spec && want ? 0 : -1;
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(inputs, k, v)
    {
        char step[UTIL_NAME_MAX + 1];
        const char *path;
        if (!stepkind_input_ref(json_string_value(v), step, sizeof step, &path)) {
            snprintf(err, errlen, "input '%s' is not \"@STEP:PATH\"", k);
            rc = 1;
            goto out;
        }
        if (json_array_append_new(
                want, json_pack("{s:s, s:s, s:s}", "input", k, "step", step, "name", path)) < 0)
            goto out;
    }
    if (!(wanted = json_dumps(want, JSON_COMPACT)))
        goto out;
    if (store_artifacts_stage(st, run_id, wanted, task_id, attempt, &got) < 0)
        goto out;
    staged = json_loads(got, 0, NULL);
    if (!staged)
        goto out;
    json_object_foreach(inputs, k, v)
    {
        if (!json_object_get(staged, k)) {
            snprintf(err, errlen,
                     "input '%s': no artifact %s was recorded for this run (did the "
                     "producing step declare it in 'outputs' and succeed?)",
                     k, json_string_value(v));
            rc = 1;
            goto out;
        }
    }
    if (json_object_set(spec, "staged", staged) < 0 ||
        !(*spec_out = json_dumps(spec, JSON_COMPACT)))
        goto out;
    rc = 0;
out:
    json_decref(spec);
    json_decref(want);
    json_decref(staged);
    free(wanted);
    free(got);
    return rc;
}

int registry_prepare(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *kind,
                     const char *spec_json, char **spec_out, char *err, size_t errlen)
{
    *spec_out = NULL;
    if (strcmp(kind, "exec") == 0)
        return strstr(spec_json, "\"inputs\"") ? s_prepare_inputs(st, run_id, task_id, attempt,
                                                                  spec_json, spec_out, err, errlen)
                                               : 0;
    if (strcmp(kind, "evaluate") != 0 && strcmp(kind, "score") != 0)
        return 0; /* score (issue 11) resolves its model like evaluate */
    json_t *spec = json_loads(spec_json, 0, NULL);
    const char *ref = spec ? json_string_value(json_object_get(spec, "model")) : NULL;
    if (!ref) {
        json_decref(spec);
        snprintf(err, errlen, "the evaluate step names no model");
        return 1;
    }
    json_t *model = NULL, *prod = NULL;
    int rc = s_resolve(st, run_id, ref, &model, err, errlen);
    const char *fl = rc == 0 ? json_string_value(json_object_get(model, "kind")) : NULL;
    if (rc == 0 && !stepkind_flavour_drover(fl)) {
        /* An exec step's model (a pickle, an ONNX file, ...): its bytes are
         * not a drover model file, and a wrong answer is worse than none. */
        snprintf(err, errlen, "flavour %s: drover cannot score it; use an exec step",
                 fl ? fl : "?");
        rc = 1;
    }
    if (rc == 0) {
        char ignored[256];
        char pref[NAME_MAX_LEN + 16];
        snprintf(pref, sizeof pref, "%s:production",
                 json_string_value(json_object_get(model, "name")));
        int prc = s_resolve(st, run_id, pref, &prod, ignored, sizeof ignored);
        if (prc < 0)
            rc = -1;
        const char *pfl = prc == 0 ? json_string_value(json_object_get(prod, "kind")) : NULL;
        if (prc == 0 && !stepkind_flavour_drover(pfl)) {
            snprintf(err, errlen,
                     "the production version of %s is flavour %s: drover cannot "
                     "score it; use an exec step",
                     json_string_value(json_object_get(model, "name")), pfl ? pfl : "?");
            rc = 1;
        }
    }
    if (rc == 0) {
        json_t *resolved =
            json_pack("{s:o, s:o}", "model", model, "production", prod ? prod : json_null());
        model = prod = NULL;
        if (!resolved || json_object_set_new(spec, "resolved", resolved) < 0 ||
            !(*spec_out = json_dumps(spec, JSON_COMPACT)))
            rc = -1;
    }
    json_decref(model);
    json_decref(prod);
    json_decref(spec);
    return rc;
}

static int s_valid_stage(const char *s)
{
    return !strcmp(s, "staging") || !strcmp(s, "production") || !strcmp(s, "archived") ||
           !strcmp(s, "none");
}

int registry_may_promote(store_t *st, const registry_actor_t *who, const char *name, char *msg,
                         size_t msglen)
{
    if (who->admin)
        return 0;
    int g = store_grant_match(st, who->key, "promote", name);
    if (g < 0)
        return -1;
    if (g == 1)
        return 0;
    snprintf(msg, msglen,
             "permission denied: key '%s' may not change the stage of model '%s': that needs the "
             "admin role or a grant (drover keys grant %s promote '%s')",
             who->key, name, who->key, name);
    return 2;
}

int registry_promote(store_t *st, const registry_actor_t *who, const char *name, int version,
                     const char *stage, const char *by, const char *reason, char *msg,
                     size_t msglen)
{
    if (!s_valid_stage(stage)) {
        snprintf(msg, msglen, "unknown stage '%s' (use staging, production or archived)", stage);
        return 1;
    }
    int may = registry_may_promote(st, who, name, msg, msglen);
    if (may != 0)
        return may;
    PGresult *r = store_model_get(st, name, version);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(msg, msglen, "no model version %s:%d (see: drover models %s)", name, version,
                 name);
        return 1;
    }
    char from[32];
    util_strlcpy(from, db_get_str(r, 0, 4), sizeof from);
    PQclear(r);
    if (strcmp(from, stage) == 0) {
        snprintf(msg, msglen, "%s:%d is already %s", name, version, stage);
        return 0;
    }
    int archived = 0;
    if (store_set_stage(st, name, version, from, stage, by, reason, &archived) < 0)
        return -1;
    if (archived)
        snprintf(msg, msglen, "%s:%d is now %s (version %d archived)", name, version, stage,
                 archived);
    else
        snprintf(msg, msglen, "%s:%d is now %s", name, version, stage);
    log_info("model %s by %s", msg, by);
    return 0;
}

int registry_run_promote(store_t *st, const registry_actor_t *who, int64_t run_id,
                         const char *spec_json, const char *by, char *msg, size_t msglen)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    const char *ref = spec ? json_string_value(json_object_get(spec, "model")) : NULL;
    const char *stage = spec ? json_string_value(json_object_get(spec, "stage")) : NULL;
    int rc = 1;
    json_t *model = NULL;
    if (!ref || !stage) {
        snprintf(msg, msglen, "the promote step needs 'model' and 'stage'");
        goto out;
    }
    rc = s_resolve(st, run_id, ref, &model, msg, msglen);
    if (rc != 0)
        goto out;
    rc = registry_promote(st, who, json_string_value(json_object_get(model, "name")),
                          (int)json_integer_value(json_object_get(model, "version")), stage, by,
                          NULL, msg, msglen);
    if (rc == 2)
        rc = 1; /* denied: the step fails with the reason */
out:
    json_decref(model);
    json_decref(spec);
    return rc;
}

int registry_approval_model(store_t *st, int64_t run_id, const char *spec_json, char *name,
                            size_t namelen, int *version, char *err, size_t errlen)
{
    json_t *spec = json_loads(spec_json, 0, NULL), *model = NULL;
    const char *ref = spec ? json_string_value(json_object_get(spec, "model")) : NULL;
    int rc = 1;
    if (!ref)
        snprintf(err, errlen, "the approve step needs 'model'");
    else
        rc = s_resolve(st, run_id, ref, &model, err, errlen);
    if (rc == 0) {
        util_strlcpy(name, json_string_value(json_object_get(model, "name")), namelen);
        *version = (int)json_integer_value(json_object_get(model, "version"));
    }
    json_decref(model);
    json_decref(spec);
    return rc;
}

int registry_approval_record(store_t *st, const char *name, int version, int approved,
                             int64_t run_id, const char *step, const char *by, const char *reason)
{
    char why[1400];
    snprintf(why, sizeof why, "%s in run %lld step %s: %s", approved ? "approved" : "rejected",
             (long long)run_id, step, reason);
    return store_stage_note(st, name, version, by, why);
}

/* ------------------------------------------------------------ outputs --- */

/* Checks the datasets array; returns the sha256 of the first one with the
 * given role (or of the first one at all), borrowed from the array. */
static int s_check_datasets(json_t *ds, const char *role, const char **pick, const char **pick_path,
                            char *err, size_t errlen)
{
    *pick = *pick_path = NULL;
    if (!ds)
        return 0;
    if (!json_is_array(ds)) {
        snprintf(err, errlen, "'datasets' is not an array");
        return -1;
    }
    size_t i;
    json_t *d;
    int matched = 0;
    json_array_foreach(ds, i, d)
    {
        const char *sha = json_string_value(json_object_get(d, "sha256"));
        const char *path = json_string_value(json_object_get(d, "path"));
        const char *fmt = json_string_value(json_object_get(d, "format"));
        const char *r = json_string_value(json_object_get(d, "role"));
        json_t *rows = json_object_get(d, "rows"), *cols = json_object_get(d, "cols");
        if (!s_valid_hex64(sha) || !path || !fmt || (strcmp(fmt, "csv") && strcmp(fmt, "binary")) ||
            !r || !json_is_integer(rows) || !json_is_integer(cols) ||
            json_integer_value(rows) < 0 || json_integer_value(cols) < 0 ||
            json_integer_value(cols) > 1000000000) {
            snprintf(err, errlen, "dataset %zu is malformed", i);
            return -1;
        }
        if (!*pick) {
            *pick = sha;
            *pick_path = path;
        }
        if (!matched && role && strcmp(r, role) == 0) {
            *pick = sha;
            *pick_path = path;
            matched = 1;
        }
    }
    return 0;
}

/* 1 if path is `named` (a spec's path), or named is relative and path is it
 * resolved against the task's working folder. */
static int s_same_path(const char *named, const char *path)
{
    if (!named)
        return 0;
    if (strcmp(named, path) == 0)
        return 1;
    size_t n = strlen(named), p = strlen(path);
    if (named[0] == '/' || p <= n)
        return 0;
    return path[p - n - 1] == '/' && strcmp(path + p - n, named) == 0;
}

/* 1 if path is a dataset the spec named: its "dataset", or the drift
 * check's "reference" (validate). */
static int s_spec_names(const json_t *spec, const char *path)
{
    if (s_same_path(json_string_value(json_object_get(spec, "dataset")), path))
        return 1;
    json_t *drift = json_object_get(json_object_get(spec, "checks"), "drift");
    return s_same_path(json_string_value(json_object_get(drift, "reference")), path);
}

/* 1 when an exec spec names path: an argv element or env value that is
 * path, or is path relative to the spec's cwd. (The worker reports
 * resolved paths; it checked the same against the step's filesystem.) */
static int s_exec_names(json_t *spec, const char *path)
{
    const char *cwd = json_string_value(json_object_get(spec, "cwd"));
    json_t *lists[2] = {json_object_get(spec, "argv"), json_object_get(spec, "env")};
    for (int l = 0; l < 2; l++) {
        void *it = json_is_object(lists[l]) ? json_object_iter(lists[l]) : NULL;
        size_t n = json_is_array(lists[l]) ? json_array_size(lists[l]) : 0;
        for (size_t i = 0; i < n || it; i++) {
            json_t *v = it ? json_object_iter_value(it) : json_array_get(lists[l], i);
            if (it)
                it = json_object_iter_next(lists[l], it);
            const char *s = json_string_value(v);
            if (!s)
                continue;
            if (s_same_path(s, path))
                return 1;
            while (s[0] == '.' && s[1] == '/')
                s += 2;
            size_t cl = cwd ? strlen(cwd) : 0;
            if (cwd && s[0] != '/' && strncmp(path, cwd, cl) == 0 && path[cl] == '/' &&
                strcmp(path + cl + 1, s) == 0)
                return 1;
        }
    }
    return 0;
}

/* An exec step's model, as its worker registered it (worker/register.h):
 * checked here, then turned into the "model" and "datasets" a train step
 * reports, so one path records both. 0 = go on, 1 = refused (err). */
static int s_exec_model(json_t *o, json_t *reg, const char *spec_json, const char *artifact_root,
                        char *err, size_t errlen)
{
    const char *e = json_string_value(json_object_get(reg, "error"));
    if (e) {
        snprintf(err, errlen, "%s", e);
        return 1;
    }
    const char *name = json_string_value(json_object_get(reg, "name"));
    const char *flavour = json_string_value(json_object_get(reg, "flavour"));
    const char *art = json_string_value(json_object_get(reg, "artifact"));
    json_t *metrics = json_object_get(reg, "metrics"), *sig = json_object_get(reg, "signature");
    json_t *ds = json_object_get(reg, "datasets");
    if (!name || !s_valid_name(name) || !flavour || !stepkind_flavour_ok(flavour) ||
        !s_valid_hex64(art) || !json_is_object(metrics) || !json_is_array(ds)) {
        snprintf(err, errlen, "register_model: a malformed account from the worker");
        return 1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(metrics, k, v) if (!json_is_number(v))
    {
        snprintf(err, errlen, "register_model: metric '%.64s' is not a number", k);
        return 1;
    }
    char path[1200], why[600];
    if (!artifact_root || !*artifact_root) {
        snprintf(err, errlen,
                 "the coordinator cannot verify model artifacts (coordinator."
                 "artifact_dir is not set): model not registered");
        return 1;
    }
    if (artifact_open_verified(artifact_root, art, path, sizeof path, why, sizeof why) < 0) {
        snprintf(err, errlen, "the model's artifact does not check out: %s", why);
        return 1;
    }
    json_t *spec = json_loads(spec_json ? spec_json : "{}", 0, NULL);
    size_t i;
    json_array_foreach(ds, i, v)
    {
        const char *p = json_string_value(json_object_get(v, "path"));
        if (!p || !spec || !s_exec_names(spec, p)) {
            snprintf(err, errlen, "dataset '%.200s' is not one the step's argv or env names",
                     p ? p : "?");
            json_decref(spec);
            return 1;
        }
    }
    json_decref(spec);
    json_t *model = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:O, s:O, s:s}, s:O}", "name", name, "kind", flavour, "artifact",
        art, "params", "flavour", flavour, "signature", sig ? sig : json_null(), "size",
        json_object_get(reg, "size") ? json_object_get(reg, "size") : json_null(), "registered_by",
        "exec step", "metrics", metrics);
    if (!model || json_object_set_new(o, "model", model) < 0 ||
        json_object_set(o, "datasets", ds) < 0) {
        snprintf(err, errlen, "out of memory");
        return 1;
    }
    json_object_del(o, "registered");
    return 0;
}

/* Checks what the outputs claim before anything is recorded (see
 * registry_apply). Strips an exec step's lineage claims from o. 0 = go
 * on, 1 = refused (err). */
static int s_claims_ok(json_t *o, const char *kind, const char *spec_json,
                       const char *artifact_root, int succeeded, char *err, size_t errlen)
{
    int builtin = !strcmp(kind, "train") || !strcmp(kind, "evaluate") ||
                  !strcmp(kind, "validate") || !strcmp(kind, "score");
    if (!builtin) {
        /* Whatever an exec step says about datasets or models is its own
         * text: it never enters lineage or the registry. Only what its
         * worker registered for it does, once checked. */
        json_object_del(o, "datasets");
        json_object_del(o, "model");
        json_t *reg = json_object_get(o, "registered");
        if (!reg || !succeeded || strcmp(kind, "exec") != 0) {
            json_object_del(o, "registered");
            return 0;
        }
        return s_exec_model(o, reg, spec_json, artifact_root, err, errlen);
    }
    json_t *spec = json_loads(spec_json ? spec_json : "{}", 0, NULL);
    size_t i;
    json_t *d;
    int rc = 0;
    json_array_foreach(json_object_get(o, "datasets"), i, d)
    {
        const char *path = json_string_value(json_object_get(d, "path"));
        if (!path || !spec || !s_spec_names(spec, path)) {
            snprintf(err, errlen,
                     "dataset '%.200s' in the outputs is not one the step's spec names",
                     path ? path : "?");
            rc = 1;
            goto out;
        }
    }
    json_t *model = json_object_get(o, "model");
    if (model && !strcmp(kind, "train") && succeeded) {
        const char *art = json_string_value(json_object_get(model, "artifact"));
        char path[1200], why[600];
        if (!artifact_root || !*artifact_root) {
            snprintf(err, errlen,
                     "the coordinator cannot verify model artifacts (coordinator.artifact_dir is "
                     "not set): model not registered");
            rc = 1;
        } else if (!s_valid_hex64(art) ||
                   artifact_open_verified(artifact_root, art, path, sizeof path, why, sizeof why) <
                       0) {
            snprintf(err, errlen, "the model's artifact does not check out: %s",
                     s_valid_hex64(art) ? why : "not a sha256");
            rc = 1;
        }
    }
out:
    json_decref(spec);
    return rc;
}

static int s_apply(store_t *st, json_t *o, int64_t run_id, int64_t task_id, int attempt,
                   const char *step, const char *kind, int succeeded, char *err, size_t errlen)
{
    json_t *datasets = json_object_get(o, "datasets");
    const char *role = !strcmp(kind, "train")      ? "train"
                       : !strcmp(kind, "evaluate") ? "test"
                                                   : "data";
    const char *dsha = NULL, *dpath = NULL;
    if (s_check_datasets(datasets, role, &dsha, &dpath, err, errlen) < 0)
        return 1;
    if (datasets && json_array_size(datasets) > 0) {
        char *s = json_dumps(datasets, JSON_COMPACT);
        int rc = s ? store_datasets(st, s, run_id, task_id, attempt) : -1;
        free(s);
        if (rc < 0)
            return -1;
    }
    json_t *report = json_object_get(o, "report");
    if (report) {
        json_t *passed = json_object_get(report, "passed");
        if (!json_is_object(report) || !json_is_boolean(passed)) {
            snprintf(err, errlen, "'report' needs a boolean 'passed'");
            return 1;
        }
        char *s = json_dumps(report, JSON_COMPACT);
        int rc = s ? store_report(st, task_id, attempt, kind, json_is_true(passed), s) : -1;
        free(s);
        if (rc < 0)
            return -1;
    }
    json_t *model = json_object_get(o, "model");
    if (model && (!strcmp(kind, "train") || !strcmp(kind, "exec")) && succeeded) {
        const char *name = json_string_value(json_object_get(model, "name"));
        const char *mk = json_string_value(json_object_get(model, "kind"));
        const char *art = json_string_value(json_object_get(model, "artifact"));
        json_t *params = json_object_get(model, "params"),
               *metrics = json_object_get(model, "metrics");
        if (!name || !s_valid_name(name) || !mk || !s_valid_hex64(art) ||
            (params && !json_is_object(params)) || (metrics && !json_is_object(metrics))) {
            snprintf(err, errlen, "'model' needs a valid name, kind and 64-hex artifact");
            return 1;
        }
        char *ps = params ? json_dumps(params, JSON_COMPACT) : strdup("{}");
        char *ms = metrics ? json_dumps(metrics, JSON_COMPACT) : strdup("{}");
        int version = 0;
        int rc = ps && ms ? store_model_register(st, name, mk, art, run_id, step, task_id, dsha, ps,
                                                 ms, dpath, &version)
                          : -1;
        free(ps);
        free(ms);
        if (rc < 0)
            return -1;
        log_info("model %s:%d registered by run %lld step %s", name, version, (long long)run_id,
                 step);
    } else if (model && !strcmp(kind, "evaluate") && report) {
        const char *name = json_string_value(json_object_get(model, "name"));
        json_t *ver = json_object_get(model, "version");
        if (!name || !s_valid_name(name) || !json_is_integer(ver)) {
            snprintf(err, errlen, "'model' needs a name and an integer version");
            return 1;
        }
        json_t *metrics = json_object_get(report, "metrics");
        json_t *gates = json_object_get(report, "gates");
        char *ms = json_dumps(metrics ? metrics : json_object(), JSON_COMPACT);
        char *gs = gates ? json_dumps(gates, JSON_COMPACT) : NULL;
        int rc =
            ms ? store_evaluation(st, name, (int)json_integer_value(ver), run_id, task_id, dsha, ms,
                                  json_is_true(json_object_get(report, "passed")), gs)
               : -1;
        free(ms);
        free(gs);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A metric the step reported: report.metrics.NAME, report.NAME or
 * model.metrics.NAME, the first that is a number. */
static json_t *s_reported(json_t *o, const char *name)
{
    json_t *rep = json_object_get(o, "report");
    json_t *c[] = {json_object_get(json_object_get(rep, "metrics"), name),
                   json_object_get(rep, name),
                   json_object_get(json_object_get(json_object_get(o, "model"), "metrics"), name)};
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        if (json_is_number(c[i]))
            return c[i];
    return NULL;
}

/* An exec step's gates (its spec's min/max, checked by the step-kind
 * table) on what it reported. The verdict goes into o's report (one is
 * made when the step wrote none): "gates" with the bounds, the values and
 * what failed, and "passed" false when a bound failed. Returns 0 passed
 * (or no gates), 1 rejected (err: why), 2 a gated metric was not reported
 * (err), -1 out of memory. */
static int s_exec_gates(json_t *o, const char *spec_json, char *err, size_t errlen)
{
    json_t *spec = json_loads(spec_json ? spec_json : "{}", 0, NULL);
    json_t *gates = spec ? json_object_get(spec, "gates") : NULL;
    if (!json_is_object(gates)) {
        json_decref(spec);
        return 0;
    }
    json_t *values = json_object(), *failed = json_array();
    int rc = values && failed ? 0 : -1;
    size_t off = 0;
    const char *gk, *mk;
    json_t *g, *b;
    err[0] = '\0';
    json_object_foreach(gates, gk, g)
    {
        int is_min = strcmp(gk, "min") == 0;
        json_object_foreach(g, mk, b)
        {
            if (rc < 0)
                break;
            json_t *v = s_reported(o, mk);
            if (!v) {
                snprintf(err, errlen,
                         "gate %s '%s': the step reported no metric '%s' (write it "
                         "with drover.task.report() or register_model(metrics=...))",
                         gk, mk, mk);
                rc = 2;
                goto out;
            }
            double x = json_number_value(v), bound = json_number_value(b);
            json_object_set(values, mk, v);
            if (is_min ? x >= bound : x <= bound)
                continue;
            char line[160];
            snprintf(line, sizeof line, "%s %g %s %g", mk, x, is_min ? "<" : ">", bound);
            json_array_append_new(failed, json_string(line));
            if (off < errlen)
                off += (size_t)snprintf(err + off, errlen - off, "%s%s", off ? "; " : "", line);
            rc = 1;
        }
    }
    json_t *rep = json_object_get(o, "report");
    if (!json_is_object(rep)) {
        rep = json_object();
        if (!rep || json_object_set_new(o, "report", rep) < 0) {
            rc = -1;
            goto out;
        }
        json_object_set_new(rep, "passed", json_true());
    }
    if (json_object_set_new(rep, "gates",
                            json_pack("{s:O, s:O, s:O, s:b}", "bounds", gates, "values", values,
                                      "failed", failed, "passed", rc == 0)) < 0 ||
        (rc == 1 && json_object_set_new(rep, "passed", json_false()) < 0))
        rc = -1;
out:
    json_decref(values);
    json_decref(failed);
    json_decref(spec);
    return rc;
}

int registry_apply(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *step,
                   const char *kind, const char *spec_json, const char *artifact_root,
                   int succeeded, const char *outputs_json, int *gate_rejected, char *err,
                   size_t errlen)
{
    *gate_rejected = 0;
    json_error_t je;
    json_t *o = json_loads(outputs_json, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        snprintf(err, errlen, "outputs are not a JSON object");
        return 1;
    }
    if (!strcmp(kind, "evaluate")) {
        json_t *rep = json_object_get(o, "report");
        *gate_rejected = json_is_false(json_object_get(rep, "passed"));
    }
    char verdict[400] = "";
    if (store_savepoint(st) < 0) {
        json_decref(o);
        return -1;
    }
    int rc = s_claims_ok(o, kind, spec_json, artifact_root, succeeded, err, errlen);
    if (rc == 0 && !strcmp(kind, "exec") && succeeded) {
        /* After the claims: a registered model's metrics count too. */
        int g = s_exec_gates(o, spec_json, verdict, sizeof verdict);
        if (g < 0 || g == 2) {
            snprintf(err, errlen, "%s",
                     g < 0 ? "out of memory checking the step's gates" : verdict);
            rc = 1;
        }
        *gate_rejected = g == 1;
    }
    if (rc == 0)
        rc = s_apply(st, o, run_id, task_id, attempt, step, kind, succeeded, err, errlen);
    json_decref(o);
    if (rc == 0 && *gate_rejected && verdict[0])
        snprintf(err, errlen, "%s", verdict); /* why an exec step's gates said no */
    if (rc == 0)
        return store_savepoint_end(st, 1) < 0 ? -1 : 0;
    /* A statement the database refused (e.g. a check constraint) is the
     * worker's bad data, not a broken connection: undo just the outputs. */
    if (store_savepoint_end(st, 0) < 0)
        return -1;
    if (rc < 0) {
        if (!db_ok(store_db(st)))
            return -1;
        snprintf(err, errlen, "the database refused them: %s", db_error(store_db(st)));
    }
    return 1;
}

int registry_run_select(store_t *st, const registry_actor_t *who, int64_t run_id, int64_t task_id,
                        int attempt, const char *spec_json, char *msg, size_t msglen)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    const char *metric = spec ? json_string_value(json_object_get(spec, "metric")) : NULL;
    const char *mode = spec ? json_string_value(json_object_get(spec, "mode")) : NULL;
    json_t *from = spec ? json_object_get(spec, "from") : NULL;
    json_t *cands = json_array(), *best = NULL;
    double best_v = 0;
    int rc = 1;
    if (!metric || !mode || !json_is_array(from) || !cands) {
        snprintf(msg, msglen,
                 "the select step needs 'metric', 'mode' and the steps to choose from");
        goto out;
    }
    int want_max = strcmp(mode, "min") != 0;
    size_t i;
    json_t *f;
    json_array_foreach(from, i, f)
    {
        const char *step = json_string_value(f);
        if (!step)
            continue;
        PGresult *r = store_model_metric_by_step(st, run_id, step, metric);
        if (!r) {
            rc = -1;
            goto out;
        }
        if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 5)) {
            double v = strtod(PQgetvalue(r, 0, 5), NULL);
            json_t *c = json_pack("{s:s, s:s, s:I, s:f}", "step", step, "name", db_get_str(r, 0, 0),
                                  "version", (json_int_t)db_get_i64(r, 0, 1), "value", v);
            if (c) {
                json_array_append(cands, c);
                if (!best || (want_max ? v > best_v : v < best_v)) {
                    json_decref(best);
                    best = json_incref(c);
                    best_v = v;
                }
                json_decref(c);
            }
        }
        PQclear(r);
    }
    if (!best) {
        snprintf(msg, msglen, "no step it chooses from registered a model with metric '%s'",
                 metric);
        goto out;
    }
    /* Choosing is the first half of promoting: the same right. */
    rc = registry_may_promote(st, who, json_string_value(json_object_get(best, "name")), msg,
                              msglen);
    if (rc != 0) {
        rc = rc == 2 ? 1 : rc;
        goto out;
    }
    rc = 1;
    json_t *report = json_pack("{s:b, s:s, s:s, s:O, s:O}", "passed", 1, "metric", metric, "mode",
                               want_max ? "max" : "min", "chosen", best, "candidates", cands);
    char *rs = report ? json_dumps(report, JSON_COMPACT) : NULL;
    json_decref(report);
    if (!rs || store_report(st, task_id, attempt, "select", 1, rs) < 0) {
        free(rs);
        rc = -1;
        goto out;
    }
    free(rs);
    snprintf(msg, msglen, "chose %s:%lld from step %s (%s %s = %g)",
             json_string_value(json_object_get(best, "name")),
             (long long)json_integer_value(json_object_get(best, "version")),
             json_string_value(json_object_get(best, "step")), mode, metric, best_v);
    rc = 0;
out:
    json_decref(best);
    json_decref(cands);
    json_decref(spec);
    return rc;
}

int registry_artifacts(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *step,
                       const char *spec_json, Drover__ArtifactRef *const *arts, size_t n,
                       int (*verified)(void *ctx, const char *hex, uint64_t size), void *vctx,
                       char *err, size_t errlen)
{
    json_t *spec = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    json_t *outs = spec ? json_object_get(spec, "outputs") : NULL, *e, *rows = json_array();
    char *text = NULL;
    int rc = -1;
    size_t i;
    if (!rows)
        goto out;
    /* Every declared output reported, nothing else, each once. */
    json_array_foreach(outs, i, e)
    {
        size_t hits = 0;
        for (size_t j = 0; j < n; j++)
            hits += strcmp(arts[j]->name, json_string_value(e)) == 0;
        if (hits != 1) {
            snprintf(err, errlen, "declared output '%.200s' %s", json_string_value(e),
                     hits ? "was reported twice" : "was not reported by the worker");
            rc = 1;
            goto out;
        }
    }
    if (n != json_array_size(outs)) {
        snprintf(err, errlen, "the worker reported %zu artifacts for %zu declared outputs", n,
                 json_array_size(outs));
        rc = 1;
        goto out;
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    for (size_t j = 0; j < n; j++) {
        if (!sha256_is_hex(arts[j]->sha256) || !verified(vctx, arts[j]->sha256, arts[j]->size)) {
            snprintf(err, errlen,
                     "output '%.200s' (sha256 %.12s..., %llu bytes) is not in the "
                     "coordinator's store verified by its artifact service",
                     arts[j]->name, arts[j]->sha256, (unsigned long long)arts[j]->size);
            rc = 1;
            goto out;
        }
        if (json_array_append_new(rows, json_pack("{s:s, s:s, s:I}", "name", arts[j]->name,
                                                  "sha256", arts[j]->sha256, "size",
                                                  (json_int_t)arts[j]->size)) < 0)
            goto out;
    }
    if (!(text = json_dumps(rows, JSON_COMPACT)))
        goto out;
    rc = store_artifacts_put(st, text, run_id, task_id, step, attempt) < 0 ? -1 : 0;
out:
    json_decref(spec);
    json_decref(rows);
    free(text);
    return rc;
}
