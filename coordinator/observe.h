/* observe — the coordinator's metrics (Prometheus) and health endpoints.
 *
 * One registry (common/prom.h) with every series the coordinator exports,
 * served by common/metricsd on coordinator.metrics_listen (off when
 * unset) from a thread of its own. The loop is the only writer: it calls
 * the event hooks below where things happen (cheap: relaxed atomic stores,
 * no allocation) and observe_publish about once a second to refresh the
 * gauges from the model's state. A scrape never touches the loop.
 *
 * Series (all prefixed drover_; units in the names; docs/operations.md
 * "Monitoring" lists them with their meaning):
 *   leader, database_up, active_runs, workers_connected, slots{state},
 *   gpus{state}, tasks{state=ready|running}, queue_ready_tasks{queue,priority},
 *   queue_running_tasks{queue}                                    gauges
 *   task_transitions_total{state}, runs_finished_total{state},
 *   stale_messages_total, requeued_attempts_total,
 *   dropped_messages_total{reason}, refused_requests_total{reason},
 *   rate_limited_requests_total{key}, retention_deleted_rows_total{table}
 *                                                                 counters
 *   loop_iteration_seconds, commit_seconds, dispatch_latency_seconds
 *   (ready -> assigned), handoff_latency_seconds (last parent done ->
 *   child assigned)                                               histograms
 *
 * /readyz is ready when this coordinator is the active one and its
 * database answers (observe_ready). */
#ifndef DROVER_OBSERVE_H
#define DROVER_OBSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "gc.h"
#include "model.h"

typedef struct observe observe_t;

/* Builds the registry and, when cc->metrics_listen is set, starts serving
 * it. Returns the observer (observe_destroy), or NULL with a message in
 * err (bad or busy listen address, ENOMEM). */
observe_t *observe_new(const conf_coordinator_t *cc, char *err, size_t errlen);
/* Stops serving and frees; NULL-safe, nulls *op. */
void observe_destroy(observe_t **op);

/* /readyz: why_not NULL = ready (a string literal otherwise). */
void observe_ready(observe_t *o, const char *why_not);

/* Event hooks (loop thread; o may be NULL). */
void observe_iteration(observe_t *o, int64_t us);
void observe_commit(observe_t *o, int64_t us);
void observe_assigned(observe_t *o, const task_t *t, int64_t now_us);
void observe_dropped(observe_t *o, const char *reason); /* reason: a string literal */
void observe_refused(observe_t *o, int error_code);     /* a Drover__ErrorCode */
void observe_rate_limited(observe_t *o, const char *key);

/* Refreshes the gauges and the counters kept elsewhere (model stats,
 * retention) from the loop's state. Loop thread. */
void observe_publish(observe_t *o, model_t *m, int leader, int db_up, const gc_stats_t *gc);

#endif
