/* calendar — workflows that start themselves: on a cron schedule, or when
 * enough new labelled rows arrived in a watched folder (data triggers).
 *
 * Registered by submitting a workflow with `schedule = {...}` or
 * `trigger = {...}`: the packed SubmitRequest is stored in drover.schedules
 * and replayed for every run. Exactly once per due time is enforced by the
 * database (drover.schedule_fires primary key), so a coordinator that
 * restarts around a due time, or a second coordinator taking over, cannot
 * fire it twice. Catch-up policies decide what happens to due times missed
 * while no coordinator ran: none (skip them), latest (run the most recent
 * one), all (run each, at most 100).
 *
 * Data triggers consume files whole: a CSV file in the folder counts once
 * its modification time is a second old (write files elsewhere and rename
 * them in); its rows (lines minus the header) count towards min_new_rows;
 * the files a run consumed are recorded in drover.trigger_files, so no file
 * is used twice or skipped. Counting a new file's rows reads it once inside
 * the coordinator's loop (the count is cached by path, size and mtime), so
 * a very large feedback file delays other work by the time it takes to read.
 *
 * Time: the wall clock, or, for tests only, the number of seconds since the
 * epoch written in the file named by $DROVER_CLOCK_FILE.
 */
#ifndef DROVER_CALENDAR_H
#define DROVER_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"
#include "model.h"
#include "store.h"

typedef struct calendar calendar_t;

calendar_t *calendar_new(store_t *st, model_t *m);
void calendar_destroy(calendar_t **cp);

/* (Re)loads the registered schedules and triggers. 0 or -1. */
int calendar_load(calendar_t *c);

/* Registers (or replaces) the schedule/trigger of a submitted workflow.
 * 0 with msg, 1 refused (msg), -1 database. */
int calendar_register(calendar_t *c, const Drover__SubmitRequest *req, const char *key,
                      const char *by, char *msg, size_t msglen);

/* Fires what is due and scans watched folders. 0 or -1 (database). */
int calendar_tick(calendar_t *c);

/* list (JSON in *json, caller frees) | pause | resume | rm | trigger (run
 * now, outside the calendar). 0 with msg, 1 refused, -1 database. */
int calendar_op(calendar_t *c, const char *op, const char *name, char **json, char *msg,
                size_t msglen);

/* Seconds since the epoch as the calendar sees them. */
int64_t calendar_now(void);

#endif
