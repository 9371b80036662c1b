/* wobserve — see wobserve.h. */
#include "wobserve.h"

#include <stdlib.h>
#include <string.h>

#include "metricsd.h"
#include "prom.h"
#include "util.h"

struct wobserve {
    prom_t *reg;
    metricsd_t *http;
    prom_metric_t *registered, *slots, *running, *oom, *duration;
    prom_family_t *finished;
};

static const double s_dur[] = {0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400};

wobserve_t *wobserve_new(const char *listen, char *err, size_t errlen)
{
    wobserve_t *w = calloc(1, sizeof *w);
    if (!w || !(w->reg = prom_new())) {
        free(w);
        util_errf(err, errlen, "out of memory");
        return NULL;
    }
    const char *outcome[] = {"outcome"};
    w->registered =
        prom_gauge(w->reg, "drover_worker_registered", "1 while registered with a coordinator.");
    w->slots = prom_gauge(w->reg, "drover_worker_slots", "Tasks this worker runs at once.");
    w->running = prom_gauge(w->reg, "drover_worker_running_tasks", "Tasks running now.");
    w->finished = prom_family(w->reg, PROM_COUNTER, "drover_worker_tasks_finished_total",
                              "Tasks that ended, by how.", outcome, 1, NULL, 0);
    w->oom = prom_counter(w->reg, "drover_worker_memory_limit_kills_total",
                          "Tasks killed for going over their memory limit.");
    w->duration =
        prom_histogram(w->reg, "drover_worker_task_duration_seconds",
                       "Wall time of finished tasks.", s_dur, sizeof s_dur / sizeof s_dur[0]);
    if (!w->registered || !w->slots || !w->running || !w->finished || !w->oom || !w->duration) {
        util_errf(err, errlen, "out of memory");
        wobserve_destroy(&w);
        return NULL;
    }
    if (listen && *listen) {
        w->http = metricsd_start(listen, w->reg, err, errlen);
        if (!w->http) {
            wobserve_destroy(&w);
            return NULL;
        }
        metricsd_ready(w->http, "not registered with a coordinator yet");
    }
    return w;
}

void wobserve_destroy(wobserve_t **wp)
{
    if (!wp || !*wp)
        return;
    metricsd_stop(&(*wp)->http);
    prom_destroy(&(*wp)->reg);
    free(*wp);
    *wp = NULL;
}

void wobserve_state(wobserve_t *w, int registered, int slots, size_t running)
{
    if (!w)
        return;
    if (prom_value(w->registered) != (double)registered)
        metricsd_ready(w->http, registered ? NULL : "not registered with a coordinator");
    prom_set(w->registered, registered);
    prom_set(w->slots, slots);
    prom_set(w->running, (double)running);
}

void wobserve_finished(wobserve_t *w, const Drover__Result *r)
{
    if (!w)
        return;
    const char *how = "unknown";
    switch (r->outcome) {
    case DROVER__OUTCOME__OUTCOME_EXITED: how = r->exit_code == 0 ? "succeeded" : "failed"; break;
    case DROVER__OUTCOME__OUTCOME_SIGNALED: how = "signaled"; break;
    case DROVER__OUTCOME__OUTCOME_TIMED_OUT: how = "timed_out"; break;
    case DROVER__OUTCOME__OUTCOME_KILLED: how = "killed"; break;
    case DROVER__OUTCOME__OUTCOME_SPAWN_FAILED: how = "spawn_failed"; break;
    default:
        if (r->outcome == DROVER__OUTCOME__OUTCOME_NOT_ATTEMPTED)
            how = "not_attempted";
        break;
    }
    prom_inc(prom_child(w->finished, how, NULL), 1);
    if (r->error && strstr(r->error, "out of memory (limit"))
        prom_inc(w->oom, 1);
    if (r->finished_at_us > r->started_at_us && r->started_at_us > 0)
        prom_observe(w->duration, (double)(r->finished_at_us - r->started_at_us) / 1e6);
}
