/* observe — see observe.h. */
#include "observe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metricsd.h"
#include "prom.h"
#include "util.h"
#include "wire.h"

struct observe {
    prom_t *reg;
    metricsd_t *http;
    prom_metric_t *leader, *db_up, *active_runs, *workers, *stale, *requeued;
    prom_family_t *slots, *gpus, *tasks, *queue_ready, *queue_running, *task_to, *run_to, *dropped,
        *refused, *rate_limited, *gc_rows;
    prom_metric_t *iteration, *commit, *dispatch, *handoff;
    model_stats_t last; /* model counters at the previous publish */
    uint64_t gc_last[5];
};

/* Latency buckets (seconds): 50 µs to 10 s. */
static const double s_lat[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                               0.01,    0.025,  0.05,    0.1,    0.25,  1,      10};
#define NLAT (sizeof s_lat / sizeof s_lat[0])

observe_t *observe_new(const conf_coordinator_t *cc, char *err, size_t errlen)
{
    observe_t *o = calloc(1, sizeof *o);
    if (!o || !(o->reg = prom_new())) {
        free(o);
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    prom_t *r = o->reg;
    const char *state[] = {"state"}, *queue_prio[] = {"queue", "priority"}, *queue[] = {"queue"},
               *reason[] = {"reason"}, *key[] = {"key"}, *table[] = {"table"};
    prom_metric_t *build = prom_gauge(r, "drover_build_info", "drover version (always 1).");
    o->leader = prom_gauge(r, "drover_leader", "1 when this coordinator is the active one.");
    o->db_up = prom_gauge(r, "drover_database_up", "1 when the coordinator's database answers.");
    o->active_runs = prom_gauge(r, "drover_active_runs", "Runs not yet finished.");
    o->workers = prom_gauge(r, "drover_workers_connected", "Workers connected now.");
    o->slots = prom_family(r, PROM_GAUGE, "drover_slots", "Task slots of connected workers.", state,
                           1, NULL, 0);
    o->gpus =
        prom_family(r, PROM_GAUGE, "drover_gpus", "GPUs of connected workers.", state, 1, NULL, 0);
    o->tasks = prom_family(r, PROM_GAUGE, "drover_tasks",
                           "Tasks ready (waiting for a worker) "
                           "and running (assigned or running).",
                           state, 1, NULL, 0);
    o->queue_ready =
        prom_family(r, PROM_GAUGE, "drover_queue_ready_tasks",
                    "Ready tasks waiting, by queue and priority.", queue_prio, 2, NULL, 0);
    o->queue_running = prom_family(r, PROM_GAUGE, "drover_queue_running_tasks",
                                   "Assigned and running tasks, by queue.", queue, 1, NULL, 0);
    o->task_to = prom_family(r, PROM_COUNTER, "drover_task_transitions_total",
                             "Task transitions, by the state entered.", state, 1, NULL, 0);
    o->run_to = prom_family(r, PROM_COUNTER, "drover_runs_finished_total",
                            "Runs finished, by final state.", state, 1, NULL, 0);
    o->stale = prom_counter(r, "drover_stale_messages_total",
                            "Fenced-off worker messages (stale attempts).");
    o->requeued = prom_counter(r, "drover_requeued_attempts_total",
                               "Attempts lost with a dead worker and requeued.");
    o->dropped = prom_family(r, PROM_COUNTER, "drover_dropped_messages_total",
                             "Messages dropped (malformed, oversized, over a limit), by reason.",
                             reason, 1, NULL, 0);
    o->refused =
        prom_family(r, PROM_COUNTER, "drover_refused_requests_total",
                    "Client requests answered with an error, by error.", reason, 1, NULL, 0);
    o->rate_limited =
        prom_family(r, PROM_COUNTER, "drover_rate_limited_requests_total",
                    "Client requests over coordinator.client_rate, by key.", key, 1, NULL, 0);
    o->gc_rows = prom_family(r, PROM_COUNTER, "drover_retention_deleted_rows_total",
                             "Rows deleted by retention, by table.", table, 1, NULL, 0);
    o->iteration = prom_histogram(r, "drover_loop_iteration_seconds",
                                  "Time one event-loop iteration took.", s_lat, NLAT);
    o->commit = prom_histogram(r, "drover_commit_seconds",
                               "Time of the iteration's commit (durable writes).", s_lat, NLAT);
    o->dispatch = prom_histogram(r, "drover_dispatch_latency_seconds",
                                 "From a task becoming ready to its assignment.", s_lat, NLAT);
    o->handoff =
        prom_histogram(r, "drover_handoff_latency_seconds",
                       "From a task's last dependency finishing to its assignment.", s_lat, NLAT);
    if (!build || !o->leader || !o->db_up || !o->active_runs || !o->workers || !o->slots ||
        !o->gpus || !o->tasks || !o->queue_ready || !o->queue_running || !o->task_to ||
        !o->run_to || !o->stale || !o->requeued || !o->dropped || !o->refused || !o->rate_limited ||
        !o->gc_rows || !o->iteration || !o->commit || !o->dispatch || !o->handoff) {
        util_errf(err, errlen, "out of memory");
        observe_destroy(&o);
        return NULL;
    }
    prom_set(build, 1);
    if (cc->metrics_listen[0]) {
        o->http = metricsd_start(cc->metrics_listen, r, err, errlen);
        if (!o->http) {
            observe_destroy(&o);
            return NULL;
        }
    }
    return o;
}

void observe_destroy(observe_t **op)
{
    if (!op || !*op)
        return;
    metricsd_stop(&(*op)->http); /* the thread goes before what it reads */
    prom_destroy(&(*op)->reg);
    free(*op);
    *op = NULL;
}

void observe_ready(observe_t *o, const char *why_not)
{
    if (o)
        metricsd_ready(o->http, why_not);
}

void observe_iteration(observe_t *o, int64_t us)
{
    if (o)
        prom_observe(o->iteration, (double)us / 1e6);
}

void observe_commit(observe_t *o, int64_t us)
{
    if (o)
        prom_observe(o->commit, (double)us / 1e6);
}

void observe_assigned(observe_t *o, const task_t *t, int64_t now_us)
{
    if (!o)
        return;
    if (t->ready_us && now_us >= t->ready_us)
        prom_observe(o->dispatch, (double)(now_us - t->ready_us) / 1e6);
    if (t->attempt != 1 || t->nparents == 0)
        return;
    int64_t done = 0;
    for (int i = 0; i < t->nparents; i++) {
        int64_t f = t->run->tasks[t->parents[i]].finished_us;
        if (f > done)
            done = f;
    }
    if (done && now_us >= done)
        prom_observe(o->handoff, (double)(now_us - done) / 1e6);
}

void observe_dropped(observe_t *o, const char *reason)
{
    if (o)
        prom_inc(prom_child(o->dropped, reason, NULL), 1);
}

void observe_refused(observe_t *o, int error_code)
{
    if (!o)
        return;
    /* "ERROR_FORBIDDEN" -> "forbidden" */
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&drover__error_code__descriptor, error_code);
    char name[48] = "unknown";
    if (v) {
        const char *n = strncmp(v->name, "ERROR_", 6) == 0 ? v->name + 6 : v->name;
        size_t i = 0;
        for (; n[i] && i + 1 < sizeof name; i++)
            name[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
        name[i] = '\0';
    }
    prom_inc(prom_child(o->refused, name, NULL), 1);
}

void observe_rate_limited(observe_t *o, const char *key)
{
    if (o)
        prom_inc(prom_child(o->rate_limited, key, NULL), 1);
}

typedef struct {
    observe_t *o;
    double ready, running;
} depth_ctx_t;

static void s_depth(void *ctx, const char *queue, int priority, size_t ready, uint32_t running,
                    int first)
{
    depth_ctx_t *d = ctx;
    char p[16];
    snprintf(p, sizeof p, "%d", priority);
    if (ready)
        prom_set(prom_child(d->o->queue_ready, queue, p), (double)ready);
    if (first) {
        prom_set(prom_child(d->o->queue_running, queue, NULL), running);
        d->running += running;
    }
    d->ready += (double)ready;
}

void observe_publish(observe_t *o, model_t *m, int leader, int db_up, const gc_stats_t *gc)
{
    if (!o)
        return;
    prom_set(o->leader, leader);
    prom_set(o->db_up, db_up);
    prom_set(o->active_runs, (double)model_active_runs(m));
    double nw = 0, slots = 0, used = 0, gpus = 0, gused = 0;
    for (worker_t *w = model_workers(m); w; w = w->next) {
        if (!w->connected)
            continue;
        nw++;
        slots += w->slots;
        used += w->used_cpus;
        gpus += w->gpus;
        gused += (double)__builtin_popcountll(w->used_gpus);
    }
    prom_set(o->workers, nw);
    prom_set(prom_child(o->slots, "free", NULL), slots > used ? slots - used : 0);
    prom_set(prom_child(o->slots, "used", NULL), used);
    prom_set(prom_child(o->gpus, "free", NULL), gpus > gused ? gpus - gused : 0);
    prom_set(prom_child(o->gpus, "used", NULL), gused);
    /* Queues come and go: zero the depths, then set what is there now. */
    prom_family_zero(o->queue_ready);
    depth_ctx_t d = {o, 0, 0};
    model_queue_depths(m, s_depth, &d);
    prom_set(prom_child(o->tasks, "ready", NULL), d.ready);
    prom_set(prom_child(o->tasks, "running", NULL), d.running);
    /* Counters kept by the model: export what they gained since. */
    model_stats_t st = model_stats(m);
    for (int s = 1; s < 16; s++)
        if (st.task_to[s] > o->last.task_to[s])
            prom_inc(prom_child(o->task_to, wire_task_state_name((Drover__TaskState)s), NULL),
                     st.task_to[s] - o->last.task_to[s]);
    for (int s = 1; s < 8; s++)
        if (st.run_to[s] > o->last.run_to[s])
            prom_inc(prom_child(o->run_to, wire_run_state_name((Drover__RunState)s), NULL),
                     st.run_to[s] - o->last.run_to[s]);
    if (st.stale > o->last.stale)
        prom_inc(o->stale, st.stale - o->last.stale);
    if (st.requeued > o->last.requeued)
        prom_inc(o->requeued, st.requeued - o->last.requeued);
    o->last = st;
    static const char *const tables[] = {"events", "audit", "task_logs", "task_metrics", "runs"};
    for (int i = 0; gc && i < 5; i++)
        if (gc->deleted[i] > o->gc_last[i]) {
            prom_inc(prom_child(o->gc_rows, tables[i], NULL), gc->deleted[i] - o->gc_last[i]);
            o->gc_last[i] = gc->deleted[i];
        }
}
