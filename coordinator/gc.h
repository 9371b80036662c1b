/* gc — retention: rows older than the configured periods leave the
 * database in small batches, on a thread and a database connection of their
 * own, so the coordinator's loop never waits on them.
 *
 * Policies (coordinator.retention, docs/operations.md "Retention"):
 *   events         run and task transitions (drover.events, not the audit)
 *   audit          the audit trail (events of kind 'command')
 *   logs           task output (drover.task_logs)
 *   metrics        per-epoch metrics (drover.task_metrics)
 *   finished_runs  runs that ended that long ago, with their tasks, logs,
 *                  metrics and reports — never a run that a model version
 *                  or an evaluation names (the registry's lineage stays)
 * A period of 0 (the default for each) keeps rows forever.
 *
 * Every GC_INTERVAL_MS, while the coordinator is the active one
 * (gc_set_active), each policy prunes window after window (oldest first by
 * key, at most a few thousand rows each, one short autocommit DELETE) until
 * it reaches rows younger than its cutoff, pausing between windows. The
 * longest window is reported (the longest time any row lock was held).
 * Nothing here touches the loop's state; the only shared data are atomics. */
#ifndef DROVER_GC_H
#define DROVER_GC_H

#include <stdint.h>

#include "conf.h"

#define GC_INTERVAL_MS 60000

typedef struct gc gc_t;

typedef struct {
    uint64_t deleted[5];      /* rows deleted so far, by store_gc_table_t */
    uint64_t cycles;          /* cycles completed */
    int64_t longest_batch_us; /* the longest single DELETE so far */
} gc_stats_t;

/* Starts the retention thread for cc's policies (borrowed: cc must outlive
 * it), inactive until gc_set_active(1). Returns NULL with errno ENOENT when
 * no policy is set (nothing to run), or on failure (ENOMEM, thread). */
gc_t *gc_start(const conf_coordinator_t *cc);
/* 1 = this coordinator is the active one: prune; 0 = stop after the
 * current window and wait. Any thread; NULL-safe. */
void gc_set_active(gc_t *g, int active);
/* A snapshot of the counters. Any thread; zeros for NULL. */
void gc_stats(const gc_t *g, gc_stats_t *out);
/* Stops the thread (after its current window) and frees everything;
 * NULL-safe, nulls *gp. */
void gc_stop(gc_t **gp);

#endif
