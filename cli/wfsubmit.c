/* wfsubmit — see wfsubmit.h. The conversion moved here from cmd_submit.c
 * unchanged, so `drover submit` and `drover workflow check --json` cannot
 * drift apart. */
#include "wfsubmit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "output.h"

int wfsubmit_take_sets(int *argc, char **argv, const char ***sets, size_t *nsets)
{
    *sets = calloc((size_t)*argc + 1, sizeof **sets);
    *nsets = 0;
    if (!*sets)
        return errno = ENOMEM, -1;
    int o = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[o++] = argv[i++];
            break;
        }
        if (strncmp(argv[i], "--set=", 6) == 0) {
            (*sets)[(*nsets)++] = argv[i] + 6;
        } else if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "drover: --set needs NAME=VALUE\n");
                return errno = EINVAL, -1;
            }
            (*sets)[(*nsets)++] = argv[++i];
        } else {
            argv[o++] = argv[i];
        }
    }
    *argc = o;
    return 0;
}

int wfsubmit_build(const workflow_t *wf, const char *submitted_by, Drover__SubmitRequest *sub,
                   Drover__StepSpec **specs, Drover__Resources **res, Drover__StepSpec ***ptrs,
                   Drover__Schedule *sched, Drover__Trigger *trig, Drover__WorkflowNotify *notify)
{
    if (wf->nparams) {
        char *block = calloc(wf->nparams, sizeof(Drover__Param *) + sizeof(Drover__Param));
        if (!block) {
            *specs = NULL;
            *res = NULL;
            *ptrs = NULL;
            return errno = ENOMEM, -1;
        }
        Drover__Param **pp = (Drover__Param **)block;
        Drover__Param *p = (Drover__Param *)(block + wf->nparams * sizeof *pp);
        for (size_t i = 0; i < wf->nparams; i++) {
            drover__param__init(&p[i]);
            p[i].name = wf->param_names[i];
            p[i].value = wf->param_values[i];
            pp[i] = &p[i];
        }
        sub->params = pp;
        sub->n_params = wf->nparams;
    }
    sub->base_dir = wf->base_dir ? wf->base_dir : (char *)"";
    *specs = calloc(wf->nsteps ? wf->nsteps : 1, sizeof **specs);
    *res = calloc(wf->nsteps ? wf->nsteps : 1, sizeof **res);
    *ptrs = calloc(wf->nsteps ? wf->nsteps : 1, sizeof **ptrs);
    if (!*specs || !*res || !*ptrs) {
        free(*specs);
        free(*res);
        free(*ptrs);
        free(sub->params);
        sub->params = NULL;
        sub->n_params = 0;
        *specs = NULL;
        *res = NULL;
        *ptrs = NULL;
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < wf->nsteps; i++) {
        const workflow_step_t *st = &wf->steps[i];
        Drover__StepSpec *sp = &(*specs)[i];
        drover__step_spec__init(sp);
        sp->name = st->name;
        sp->kind = st->kind;
        sp->after = st->after;
        sp->n_after = st->nafter;
        sp->retries = st->retries;
        sp->timeout_ms = st->timeout_ms > 0 ? (uint64_t)st->timeout_ms : 0;
        sp->retry_delay_ms = st->retry_delay_ms > 0 ? (uint64_t)st->retry_delay_ms : 0;
        sp->nodes = st->nodes > 1 ? st->nodes : 0;
        sp->pack = st->pack;
        sp->spec_json = st->spec_json ? st->spec_json : (char *)"{}";
        Drover__Resources *r = &(*res)[i];
        drover__resources__init(r);
        r->cpus = st->resources.cpus;
        r->memory_bytes = st->resources.memory_bytes;
        r->gpus = st->resources.gpus;
        r->labels = st->resources.labels;
        r->n_labels = st->resources.nlabels;
        sp->resources = r;
        (*ptrs)[i] = sp;
    }
    sub->queue = wf->queue;
    sub->priority = wf->priority;
    if (wf->schedule) {
        drover__schedule__init(sched);
        sched->cron = wf->schedule->cron;
        sched->timezone = wf->schedule->timezone;
        sched->catchup = wf->schedule->catchup;
        sched->max_active = wf->schedule->max_active;
        sched->catchup_max = wf->schedule->catchup_max;
        sched->lateness_s = wf->schedule->lateness_s;
        sub->schedule = sched;
    }
    if (wf->trigger) {
        drover__trigger__init(trig);
        trig->watch = wf->trigger->watch;
        trig->min_new_rows = wf->trigger->min_new_rows;
        trig->on_failure = (char *)wf->trigger->on_failure;
        sub->trigger = trig;
    }
    if (wf->notify) {
        drover__workflow_notify__init(notify);
        notify->webhook = wf->notify->webhook;
        notify->on = wf->notify->on;
        notify->n_on = wf->notify->non;
        sub->notify = notify;
    }
    sub->workflow = wf->name;
    sub->steps = *ptrs;
    sub->n_steps = wf->nsteps;
    sub->source = wf->path;
    sub->submitted_by = (char *)submitted_by;
    return 0;
}

static json_t *s_strings(char **v, size_t n, int *bad)
{
    json_t *a = json_array();
    if (!a)
        *bad = 1;
    for (size_t i = 0; a && i < n; i++)
        out_json_append(a, json_string(v[i] ? v[i] : ""), bad);
    return a;
}

static json_t *s_step_json(const Drover__StepSpec *sp, const workflow_step_t *st)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "name", json_string(sp->name), &bad);
    out_json_set(o, "kind", json_string(sp->kind), &bad);
    out_json_set(o, "after", s_strings(sp->after, sp->n_after, &bad), &bad);
    out_json_set(o, "retries", json_integer(sp->retries), &bad);
    out_json_set(o, "timeout_ms", json_integer((json_int_t)sp->timeout_ms), &bad);
    out_json_set(o, "retry_delay_ms", json_integer((json_int_t)sp->retry_delay_ms), &bad);
    out_json_set(o, "spec_json", json_string(sp->spec_json), &bad);
    out_json_set(o, "nodes", json_integer(sp->nodes > 1 ? sp->nodes : 1), &bad);
    out_json_set(o, "pack", json_boolean(sp->pack), &bad);
    const Drover__Resources *r = sp->resources;
    json_t *jr = json_object();
    if (r) {
        out_json_set(jr, "cpus", json_integer(r->cpus), &bad);
        out_json_set(jr, "memory_bytes", json_integer((json_int_t)r->memory_bytes), &bad);
        out_json_set(jr, "gpus", json_integer(r->gpus), &bad);
        out_json_set(jr, "labels", s_strings(r->labels, r->n_labels, &bad), &bad);
    }
    out_json_set(o, "resources", jr, &bad);
    out_json_set(o, "line", json_integer(st->line), &bad);
    out_json_set(o, "sweep", st->sweep ? json_string(st->sweep) : json_null(), &bad);
    out_json_set(o, "matrix", st->matrix_json ? json_loads(st->matrix_json, 0, NULL) : json_null(),
                 &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *wfsubmit_json(const Drover__SubmitRequest *sub, const workflow_t *wf)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "workflow", json_string(sub->workflow), &bad);
    out_json_set(o, "source", json_string(sub->source ? sub->source : ""), &bad);
    out_json_set(o, "queue", json_string(sub->queue ? sub->queue : "default"), &bad);
    out_json_set(o, "priority", json_integer(sub->priority), &bad);
    json_t *js = json_null();
    if (sub->schedule) {
        js = json_object();
        out_json_set(js, "cron", json_string(sub->schedule->cron), &bad);
        out_json_set(js, "timezone", json_string(sub->schedule->timezone), &bad);
        out_json_set(js, "catchup", json_string(sub->schedule->catchup), &bad);
        out_json_set(js, "max_active", json_integer(sub->schedule->max_active), &bad);
        out_json_set(js, "catchup_max", json_integer(sub->schedule->catchup_max), &bad);
        out_json_set(js, "lateness_s", json_integer(sub->schedule->lateness_s), &bad);
    }
    out_json_set(o, "schedule", js, &bad);
    json_t *jt = json_null();
    if (sub->trigger) {
        jt = json_object();
        out_json_set(jt, "watch", json_string(sub->trigger->watch), &bad);
        out_json_set(jt, "min_new_rows", json_integer((json_int_t)sub->trigger->min_new_rows),
                     &bad);
        out_json_set(jt, "on_failure",
                     json_string(sub->trigger->on_failure ? sub->trigger->on_failure : "keep"),
                     &bad);
    }
    out_json_set(o, "trigger", jt, &bad);
    json_t *jn = json_null();
    if (sub->notify) {
        jn = json_object();
        out_json_set(jn, "webhook", json_string(sub->notify->webhook), &bad);
        out_json_set(jn, "on", s_strings(sub->notify->on, sub->notify->n_on, &bad), &bad);
    }
    out_json_set(o, "notify", jn, &bad);
    json_t *jp = json_object();
    for (size_t i = 0; jp && i < sub->n_params; i++)
        out_json_set(jp, sub->params[i]->name, json_string(sub->params[i]->value), &bad);
    out_json_set(o, "params", jp, &bad);
    out_json_set(o, "base_dir", json_string(sub->base_dir ? sub->base_dir : ""), &bad);
    json_t *steps = json_array();
    for (size_t i = 0; steps && i < sub->n_steps && i < wf->nsteps; i++)
        out_json_append(steps, s_step_json(sub->steps[i], &wf->steps[i]), &bad);
    out_json_set(o, "steps", steps, &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
