/* rerun — `drover rerun RUN [--failed] [--step NAME]...`: a new run of an
 * ended run's steps that reuses what need not run again.
 *
 * Which steps run again: with neither `failed` nor steps, all of them (a
 * fresh run of the same steps); otherwise the steps that failed, were
 * skipped or cancelled (`failed`), the steps named, and every step after
 * any of those. Every other step is reused: it is stored succeeded with
 * tasks.reused_from naming the task whose results it has (following
 * earlier reruns to the task that ran), so "@STEP" model references,
 * select candidates and select choices resolve to the earlier run's model
 * versions and reports (store.c, SRC_TASK). Nothing is copied: no artifact
 * is duplicated, no model version registered twice.
 *
 * The new run is submitted as the caller (its key owns it), in the old
 * run's queue and priority, with the old steps exactly as stored (specs,
 * retries, timeouts, resources). A run started by a schedule or trigger
 * is rerun as a person's run (no due time; a trigger's files stay with
 * the run that consumed them).
 *
 * Rules: the run must have ended; a submitter reruns only its own runs (an
 * admin any); the named steps must exist; at least one step must run. The
 * work is bounded by the run's size (at most WORKFLOW_MAX_STEPS steps). */
#ifndef DROVER_RERUN_H
#define DROVER_RERUN_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"
#include "model.h"
#include "store.h"

/* 0 with *new_run and a summary in msg; 1 no such run; 2 not the caller's
 * run; 3 refused (still running, unknown step, nothing to run; msg); -1
 * database or memory. */
int rerun_start(store_t *st, model_t *m, const Drover__RerunRequest *q, const char *key,
                const char *actor, int admin, int64_t *new_run, char *msg, size_t msglen);

#endif
