/* wobserve — a worker's metrics (Prometheus) and health endpoints, served
 * by common/metricsd on worker.metrics_listen (off when unset) from a
 * thread of its own; the worker's loop is the only writer.
 *
 * Series (prefixed drover_worker_):
 *   registered (0/1), slots, running_tasks                         gauges
 *   tasks_finished_total{outcome}  (succeeded, failed, signaled, timed_out,
 *   killed, spawn_failed, not_attempted), memory_limit_kills_total counters
 *   task_duration_seconds                                          histogram
 * /readyz is ready while the worker is registered with a coordinator. */
#ifndef DROVER_WOBSERVE_H
#define DROVER_WOBSERVE_H

#include <stddef.h>

#include "drover.pb-c.h"

typedef struct wobserve wobserve_t;

/* Starts serving on listen ("HOST:PORT"); NULL listen or "" = no HTTP,
 * the hooks still work. Returns NULL with err on failure. */
wobserve_t *wobserve_new(const char *listen, char *err, size_t errlen);
void wobserve_destroy(wobserve_t **wp);

/* Loop hooks (w may be NULL). */
void wobserve_state(wobserve_t *w, int registered, int slots, size_t running);
/* A task's first Result: its outcome, duration and whether the memory
 * limit killed it. */
void wobserve_finished(wobserve_t *w, const Drover__Result *r);

#endif
