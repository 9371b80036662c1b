/* render — see render.h. */
#include "render.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wire.h"

out_color_t render_task_color(Drover__TaskState s)
{
    switch (s) {
    case DROVER__TASK_STATE__TASK_SUCCEEDED: return OUT_GREEN;
    case DROVER__TASK_STATE__TASK_FAILED: return OUT_RED;
    case DROVER__TASK_STATE__TASK_ASSIGNED:
    case DROVER__TASK_STATE__TASK_RUNNING:
    case DROVER__TASK_STATE__TASK_RETRY_WAIT: return OUT_YELLOW;
    case DROVER__TASK_STATE__TASK_SKIPPED:
    case DROVER__TASK_STATE__TASK_CANCELLED: return OUT_DIM;
    default: return OUT_PLAIN;
    }
}

out_color_t render_run_color(Drover__RunState s)
{
    switch (s) {
    case DROVER__RUN_STATE__RUN_SUCCEEDED: return OUT_GREEN;
    case DROVER__RUN_STATE__RUN_FAILED: return OUT_RED;
    case DROVER__RUN_STATE__RUN_RUNNING: return OUT_YELLOW;
    case DROVER__RUN_STATE__RUN_CANCELLED: return OUT_DIM;
    case DROVER__RUN_STATE__RUN_REJECTED: /* the model was not good enough */ return OUT_YELLOW;
    default: return OUT_PLAIN;
    }
}

int render_task_terminal(Drover__TaskState s)
{
    return s == DROVER__TASK_STATE__TASK_SUCCEEDED || s == DROVER__TASK_STATE__TASK_FAILED ||
           s == DROVER__TASK_STATE__TASK_SKIPPED || s == DROVER__TASK_STATE__TASK_CANCELLED;
}

int render_run_terminal(Drover__RunState s)
{
    return s == DROVER__RUN_STATE__RUN_SUCCEEDED || s == DROVER__RUN_STATE__RUN_FAILED ||
           s == DROVER__RUN_STATE__RUN_CANCELLED || s == DROVER__RUN_STATE__RUN_REJECTED;
}

int64_t render_run_ms(const Drover__RunInfo *r, int64_t now_us)
{
    int64_t start = r->started_at_us > 0 ? r->started_at_us : r->submitted_at_us;
    return out_span_ms(start, r->finished_at_us, now_us);
}

int64_t render_task_ms(const Drover__TaskInfo *t, int64_t now_us)
{
    /* A task that ended without a finish time (skipped, cancelled while
     * queued) has no meaningful live duration. */
    if (render_task_terminal(t->state) && t->finished_at_us <= 0)
        return -1;
    /* Between attempts the previous attempt's times are stale. */
    if (t->state == DROVER__TASK_STATE__TASK_RETRY_WAIT ||
        t->state == DROVER__TASK_STATE__TASK_READY || t->state == DROVER__TASK_STATE__TASK_PENDING)
        return -1;
    return out_span_ms(t->started_at_us, t->finished_at_us, now_us);
}

void render_task_exit(const Drover__TaskInfo *t, char *buf, size_t len)
{
    enum { MAXW = 32 };
    if (t->has_exit_code) {
        snprintf(buf, len, "%d", t->exit_code);
        return;
    }
    if (!t->error || !*t->error) {
        snprintf(buf, len, "-");
        return;
    }
    /* First line only, cut at a character boundary, with an ellipsis. */
    size_t n = strcspn(t->error, "\n"), cut = n, chars = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)t->error[i] & 0xC0) != 0x80) {
            if (chars == MAXW - 1) {
                cut = i;
                break;
            }
            chars++;
        }
    }
    snprintf(buf, len, "%.*s%s", (int)cut, t->error, cut < n ? "…" : "");
}

int render_task_awaiting(const Drover__TaskInfo *t)
{
    return t->state == DROVER__TASK_STATE__TASK_RUNNING && t->kind &&
           strcmp(t->kind, "approve") == 0;
}

const char *render_run_state_text(const Drover__RunInfo *r)
{
    return r->awaiting_approval && r->state == DROVER__RUN_STATE__RUN_RUNNING
               ? "awaiting approval"
               : wire_run_state_name(r->state);
}

const char *render_task_state_text(const Drover__TaskInfo *t)
{
    return render_task_awaiting(t) ? "awaiting approval" : wire_task_state_name(t->state);
}

json_t *render_run_json(const Drover__RunInfo *r, int64_t now_us)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "id", json_integer((json_int_t)r->id), &bad);
    out_json_set(o, "workflow", json_string(r->workflow ? r->workflow : ""), &bad);
    out_json_set(o, "state", json_string(wire_run_state_name(r->state)), &bad);
    out_json_set(o, "submitted_at", out_json_time(r->submitted_at_us), &bad);
    out_json_set(o, "started_at", out_json_time(r->started_at_us), &bad);
    out_json_set(o, "finished_at", out_json_time(r->finished_at_us), &bad);
    out_json_set(o, "duration", out_json_seconds(render_run_ms(r, now_us)), &bad);
    out_json_set(o, "tasks_total", json_integer(r->tasks_total), &bad);
    out_json_set(o, "tasks_done", json_integer(r->tasks_done), &bad);
    out_json_set(o, "version", json_integer((json_int_t)r->version), &bad);
    out_json_set(o, "awaiting_approval", json_boolean(r->awaiting_approval), &bad);
    out_json_set(o, "due_at", out_json_time(r->due_at_us), &bad);
    out_json_set(o, "due_at_us",
                 r->due_at_us > 0 ? json_integer((json_int_t)r->due_at_us) : json_null(), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *s_strings(char **v, size_t n)
{
    int bad = 0;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        out_json_append(a, json_string(v[i] ? v[i] : ""), &bad);
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *render_task_json(const Drover__TaskInfo *t, int64_t now_us)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "id", json_integer((json_int_t)t->id), &bad);
    out_json_set(o, "name", json_string(t->name ? t->name : ""), &bad);
    out_json_set(o, "kind", json_string(t->kind ? t->kind : ""), &bad);
    out_json_set(o, "state", json_string(wire_task_state_name(t->state)), &bad);
    out_json_set(o, "attempt", json_integer(t->attempt), &bad);
    out_json_set(o, "worker", t->worker && *t->worker ? json_string(t->worker) : json_null(), &bad);
    out_json_set(o, "started_at", out_json_time(t->started_at_us), &bad);
    out_json_set(o, "finished_at", out_json_time(t->finished_at_us), &bad);
    out_json_set(o, "duration", out_json_seconds(render_task_ms(t, now_us)), &bad);
    out_json_set(o, "exit_code", t->has_exit_code ? json_integer(t->exit_code) : json_null(), &bad);
    out_json_set(o, "error", t->error && *t->error ? json_string(t->error) : json_null(), &bad);
    out_json_set(o, "after", s_strings(t->after, t->n_after), &bad);
    out_json_set(o, "retries", json_integer(t->retries), &bad);
    out_json_set(o, "awaiting_approval", json_boolean(render_task_awaiting(t)), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *render_worker_json(const Drover__WorkerInfo *w, int64_t now_us)
{
    int bad = 0;
    json_t *o = json_object();
    out_json_set(o, "name", json_string(w->name ? w->name : ""), &bad);
    out_json_set(o, "host", json_string(w->host ? w->host : ""), &bad);
    out_json_set(o, "slots", json_integer(w->slots), &bad);
    out_json_set(o, "running", json_integer(w->running), &bad);
    out_json_set(o, "gpus", json_integer(w->gpus), &bad);
    out_json_set(o, "gpus_used", json_integer(w->gpus_used), &bad);
    out_json_set(o, "memory_bytes", json_integer((json_int_t)w->memory_bytes), &bad);
    out_json_set(o, "memory_used_bytes", json_integer((json_int_t)w->memory_used_bytes), &bad);
    out_json_set(o, "draining", json_boolean(w->draining), &bad);
    out_json_set(o, "labels", s_strings(w->labels, w->n_labels), &bad);
    out_json_set(o, "last_heartbeat", out_json_time(w->last_heartbeat_us), &bad);
    out_json_set(o, "last_heartbeat_age",
                 out_json_seconds(out_span_ms(w->last_heartbeat_us, 0, now_us)), &bad);
    out_json_set(o, "connected", json_boolean(w->connected), &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *render_status_json(const Drover__ClientReply *rep, int64_t now_us)
{
    int bad = 0;
    json_t *o = json_object();
    json_t *tasks = json_array();
    out_json_set(o, "run", rep->n_runs > 0 ? render_run_json(rep->runs[0], now_us) : json_null(),
                 &bad);
    for (size_t i = 0; i < rep->n_tasks; i++)
        out_json_append(tasks, render_task_json(rep->tasks[i], now_us), &bad);
    out_json_set(o, "tasks", tasks, &bad);
    json_t *params = json_object();
    for (size_t i = 0; params && rep->n_runs > 0 && i < rep->runs[0]->n_params; i++) {
        const Drover__Param *p = rep->runs[0]->params[i];
        out_json_set(params, p->name ? p->name : "", json_string(p->value ? p->value : ""), &bad);
    }
    out_json_set(o, "params", params, &bad);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

out_table_t *render_tasks_table(const Drover__ClientReply *rep, int64_t now_us, int with_exit)
{
    static const char *const headers[] = {"STEP", "STATE", "ATTEMPT", "WORKER", "DURATION", "EXIT"};
    out_table_t *t = out_table_new(headers, with_exit ? 6 : 5);
    if (!t)
        return NULL;
    out_table_align_right(t, 2);
    out_table_align_right(t, 4);
    out_table_min_width(t, 1, strlen("retry_wait")); /* the longest one-word state name */
    out_table_min_width(t, 2, strlen("ATTEMPT"));
    out_table_min_width(t, 4, strlen("DURATION"));
    for (size_t i = 0; i < rep->n_tasks; i++) {
        const Drover__TaskInfo *k = rep->tasks[i];
        char dur[32];
        out_duration(render_task_ms(k, now_us), dur, sizeof dur);
        out_table_row(t);
        out_table_cell(t, OUT_PLAIN, "%s", k->name ? k->name : "");
        out_table_cell(t, render_task_color(k->state), "%s", render_task_state_text(k));
        if (k->attempt > 0 && k->retries > 0)
            out_table_cell(t, OUT_PLAIN, "%u/%u", k->attempt, k->retries + 1);
        else if (k->attempt > 0)
            out_table_cell(t, OUT_PLAIN, "%u", k->attempt);
        else
            out_table_cell(t, OUT_DIM, "-");
        out_table_cell(t, OUT_PLAIN, "%s", k->worker && *k->worker ? k->worker : "-");
        out_table_cell(t, OUT_PLAIN, "%s", dur);
        if (with_exit) {
            char ex[128];
            render_task_exit(k, ex, sizeof ex);
            out_table_cell(t, k->has_exit_code && k->exit_code != 0 ? OUT_RED : OUT_PLAIN, "%s",
                           ex);
        }
    }
    return t;
}

void render_due(int64_t us, char *buf, size_t len)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M", &tm))
        snprintf(buf, len, "-");
}

void render_run_headline(const Drover__RunInfo *r, int64_t now_us, int color, char *buf, size_t len)
{
    char dur[32], due[48] = "";
    out_duration(render_run_ms(r, now_us), dur, sizeof dur);
    if (r->due_at_us > 0) {
        char d[32];
        render_due(r->due_at_us, d, sizeof d);
        snprintf(due, sizeof due, ", due %s", d);
    }
    out_color_t c = render_run_color(r->state);
    snprintf(buf, len, "run %llu %s: %s%s%s — %u/%u steps done, %s%s", (unsigned long long)r->id,
             r->workflow ? r->workflow : "", color ? out_color_on(c) : "", render_run_state_text(r),
             color && c != OUT_PLAIN ? out_color_off() : "", r->tasks_done, r->tasks_total, dur,
             due);
}
