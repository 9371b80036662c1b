/* rerun — see rerun.h. */
#include "rerun.h"
#include "gang.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "workflow.h"

/* The earlier run as read from the database; owns every string. */
typedef struct {
    char *workflow, *queue, *submitted_key, *run_state;
    int priority;
    size_t n;
    Drover__StepSpec *steps;
    Drover__StepSpec **ptrs;
    Drover__Resources *res;
    int64_t *task_id, *reused_from;
    char **state;
    int *again;    /* 1: runs again */
    size_t filled; /* rows read so far (what cleanup frees) */
} source_t;

static void s_source_free(source_t *s)
{
    free(s->workflow);
    free(s->queue);
    free(s->submitted_key);
    free(s->run_state);
    for (size_t i = 0; i < s->filled; i++) {
        Drover__StepSpec *sp = &s->steps[i];
        free(sp->name);
        free(sp->kind);
        free(sp->spec_json);
        for (size_t a = 0; a < sp->n_after; a++)
            free(sp->after[a]);
        free(sp->after);
        for (size_t l = 0; l < s->res[i].n_labels; l++)
            free(s->res[i].labels[l]);
        free(s->res[i].labels);
        free(s->state[i]);
    }
    free(s->steps);
    free(s->ptrs);
    free(s->res);
    free(s->task_id);
    free(s->reused_from);
    free(s->state);
    free(s->again);
}

/* "a,b,c" -> a malloc'd array of malloc'd names. */
static int s_split_names(const char *list, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!*list)
        return 0;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    const char *p = list;
    while (*n < cap) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!(v[*n] = strndup(p, len)))
            break;
        (*n)++;
        if (!e)
            break;
        p = e + 1;
    }
    *out = v;
    return *n == cap ? 0 : -1;
}

/* Resources as stored ({"cpus","memory","gpus","labels"}) into r. */
static int s_resources(const char *text, Drover__Resources *r)
{
    drover__resources__init(r);
    json_t *o = json_loads(text, 0, NULL);
    json_int_t c = json_integer_value(json_object_get(o, "cpus"));
    json_int_t mem = json_integer_value(json_object_get(o, "memory"));
    json_int_t g = json_integer_value(json_object_get(o, "gpus"));
    r->cpus = c > 0 && c <= 4096 ? (uint32_t)c : 1;
    r->memory_bytes = mem > 0 ? (uint64_t)mem : 0;
    r->gpus = g > 0 && g <= 64 ? (uint32_t)g : 0;
    json_t *labels = json_object_get(o, "labels");
    size_t n = json_is_array(labels) ? json_array_size(labels) : 0;
    int rc = 0;
    if (n && !(r->labels = calloc(n, sizeof *r->labels)))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *l = json_string_value(json_array_get(labels, i));
        if (l && !(r->labels[r->n_labels++] = strdup(l)))
            rc = -1;
    }
    json_decref(o);
    return rc;
}

static int s_row(void *ctx, int idx, const store_rerun_row_t *row)
{
    source_t *s = ctx;
    size_t i = (size_t)idx;
    if (i >= s->n)
        return -1;
    s->filled = i + 1;
    if (i == 0) {
        if (!(s->workflow = strdup(row->workflow)) || !(s->queue = strdup(row->queue)) ||
            !(s->submitted_key = strdup(row->submitted_key)) ||
            !(s->run_state = strdup(row->run_state)))
            return -1;
        s->priority = row->priority;
    }
    Drover__StepSpec *sp = &s->steps[i];
    drover__step_spec__init(sp);
    s->ptrs[i] = sp;
    s->task_id[i] = row->task_id;
    s->reused_from[i] = row->reused_from;
    if (!(sp->name = strdup(row->name)) || !(sp->kind = strdup(row->kind)) ||
        !(sp->spec_json = strdup(row->spec)) || !(s->state[i] = strdup(row->state)) ||
        s_split_names(row->after, &sp->after, &sp->n_after) < 0 ||
        s_resources(row->resources, &s->res[i]) < 0)
        return -1;
    sp->retries = (uint32_t)row->retries;
    sp->timeout_ms = (uint64_t)row->timeout_ms;
    sp->retry_delay_ms = (uint64_t)row->retry_delay_ms;
    sp->resources = &s->res[i];
    return 0;
}

static long s_index(const source_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->steps[i].name, name) == 0)
            return (long)i;
    return -1;
}

int rerun_start(store_t *st, model_t *m, const Drover__RerunRequest *q, const char *key,
                const char *actor, int admin, int64_t *new_run, char *msg, size_t msglen)
{
    int64_t old = (int64_t)q->run_id;
    *new_run = 0;
    source_t s = {0};
    int rc = -1;
    run_t *live = model_run(m, old);
    if (live && live->state == DROVER__RUN_STATE__RUN_RUNNING) {
        snprintf(msg, msglen,
                 "run %lld is still running: rerun it once it has ended (or drover "
                 "cancel %lld first)",
                 (long long)old, (long long)old);
        return 3;
    }
    /* The size first (a run has at most WORKFLOW_MAX_STEPS steps), then the rows. */
    s.n = WORKFLOW_MAX_STEPS;
    s.steps = calloc(s.n, sizeof *s.steps);
    s.ptrs = calloc(s.n, sizeof *s.ptrs);
    s.res = calloc(s.n, sizeof *s.res);
    s.task_id = calloc(s.n, sizeof *s.task_id);
    s.reused_from = calloc(s.n, sizeof *s.reused_from);
    s.state = calloc(s.n, sizeof *s.state);
    s.again = calloc(s.n, sizeof *s.again);
    if (!s.steps || !s.ptrs || !s.res || !s.task_id || !s.reused_from || !s.state || !s.again)
        goto out;
    int got = store_rerun_source(st, old, s_row, &s);
    s.n = got > 0 ? (size_t)got : 0;
    if (got < 0)
        goto out;
    if (got == 0) {
        snprintf(msg, msglen, "no run %lld", (long long)old);
        rc = 1;
        goto out;
    }
    if (!admin && strcmp(s.submitted_key, key ? key : "") != 0) {
        snprintf(msg, msglen,
                 "permission denied: run %lld was submitted by key '%s'; key '%s' "
                 "may rerun only its own runs (or ask an admin)",
                 (long long)old, s.submitted_key, key ? key : "");
        rc = 2;
        goto out;
    }
    if (!strcmp(s.run_state, "running")) {
        snprintf(msg, msglen, "run %lld is still running: rerun it once it has ended",
                 (long long)old);
        rc = 3;
        goto out;
    }
    /* A gang is stored as its members (gang.h); rebuilding the gang step
     * from them is not done yet: refuse rather than rerun members alone. */
    for (size_t i = 0; i < s.n; i++) {
        size_t bl;
        if (gang_member_name(s.steps[i].name, &bl) >= 0) {
            snprintf(msg, msglen,
                     "run %lld has the gang step '%.*s': drover rerun does not rerun gangs yet; "
                     "submit the workflow again",
                     (long long)old, (int)bl, s.steps[i].name);
            rc = 3;
            goto out;
        }
    }
    /* What runs again: everything, or what failed and what is named. */
    int all = !q->failed && q->n_steps == 0;
    for (size_t i = 0; i < s.n; i++)
        s.again[i] = all || (q->failed && strcmp(s.state[i], "succeeded") != 0);
    for (size_t i = 0; i < q->n_steps; i++) {
        long k = s_index(&s, q->steps[i]);
        if (k < 0) {
            snprintf(msg, msglen, "run %lld has no step '%.128s' (see: drover status %lld)",
                     (long long)old, q->steps[i], (long long)old);
            rc = 3;
            goto out;
        }
        s.again[k] = 1;
    }
    /* ... and every step after one that runs again (steps are stored in an
     * order where parents come first: idx follows the file, and a step's
     * 'after' may name later steps, so iterate to a fixed point). */
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < s.n; i++) {
            if (s.again[i])
                continue;
            for (size_t a = 0; a < s.steps[i].n_after && !s.again[i]; a++) {
                long p = s_index(&s, s.steps[i].after[a]);
                if (p >= 0 && s.again[p])
                    s.again[i] = changed = 1;
            }
        }
    }
    int64_t *reuse = calloc(s.n, sizeof *reuse);
    if (!reuse)
        goto out;
    size_t nagain = 0;
    for (size_t i = 0; i < s.n; i++) {
        nagain += s.again[i];
        if (!s.again[i])
            reuse[i] = s.reused_from[i] ? s.reused_from[i] : s.task_id[i];
    }
    if (nagain == 0) {
        free(reuse);
        snprintf(msg, msglen,
                 "nothing to run again: every step of run %lld succeeded (name "
                 "steps with --step, or rerun without --failed to run them all)",
                 (long long)old);
        rc = 3;
        goto out;
    }
    Drover__SubmitRequest req = DROVER__SUBMIT_REQUEST__INIT;
    char by[200];
    snprintf(by, sizeof by, "%s (rerun of %lld)", actor, (long long)old);
    req.workflow = s.workflow;
    req.queue = s.queue;
    req.priority = s.priority;
    req.submitted_by = by;
    req.steps = s.ptrs;
    req.n_steps = s.n;
    char err[512];
    if (model_rerun(m, &req, reuse, key, actor, new_run, err, sizeof err) < 0) {
        free(reuse);
        if (errno != EINVAL)
            goto out;
        snprintf(msg, msglen, "run %lld cannot run again: %s", (long long)old, err);
        rc = 3;
        goto out;
    }
    free(reuse);
    size_t o = (size_t)snprintf(msg, msglen,
                                "run %lld reruns run %lld: %zu step%s again, %zu "
                                "reused",
                                (long long)*new_run, (long long)old, nagain, nagain == 1 ? "" : "s",
                                s.n - nagain);
    for (size_t i = 0, shown = 0; i < s.n && o < msglen && shown < 20; i++)
        if (s.again[i])
            o += (size_t)snprintf(msg + o, msglen - o, "%s%s", shown++ ? ", " : " (",
                                  s.steps[i].name);
    if (o < msglen && nagain)
        snprintf(msg + o, msglen - o, "%s)", nagain > 20 ? ", ..." : "");
    log_info("%s", msg);
    rc = 0;
out:
    s_source_free(&s);
    return rc;
}
