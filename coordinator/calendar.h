/* calendar — workflows that start themselves: on a cron schedule, or when
 * enough new labelled rows arrived in a watched folder (data triggers).
 *
 * Registered by submitting a workflow with `schedule = {...}` or
 * `trigger = {...}`: the packed SubmitRequest is stored in drover.schedules
 * and replayed for every run. Exactly once per due time is enforced by the
 * database (drover.schedule_fires primary key), so a coordinator that
 * restarts around a due time, or a second coordinator taking over, cannot
 * fire it twice. A due time seen more than lateness_s late was missed;
 * catch-up policies decide what happens to missed ones: none (skip them),
 * latest (run the most recent one), all (the newest catchup_max of them,
 * the rest skipped), each catch-up reported ("289 missed, 100 queued, 189
 * skipped"). A due time that finds max_active runs active is queued behind
 * them under catchup = all (drover.schedule_fires outcome 'queued', started
 * oldest first as runs end: s_drain), skipped otherwise. A manual trigger
 * obeys max_active too unless forced.
 *
 * Data triggers consume files whole: a CSV file in the folder counts once
 * its modification time is a second old (write files elsewhere and rename
 * them in). A file version is (path, sha256): a reused name with new
 * content is new data, the same bytes are not; a file that only grew since
 * it was consumed counts its appended rows and is reported. Rows are the
 * records the training CSV reader would read (blank and malformed ones are
 * counted apart). Hashing and counting run on the trigscan thread, never on
 * the loop: a file counts from the first scan after the thread read it.
 * The files a run consumed are recorded in drover.trigger_files, so no
 * version is used twice or skipped; with on_failure = retry the files of a
 * run that failed or was cancelled return to the pool once (s_settle_runs).
 *
 * Ownership: a schedule or trigger belongs to the key that registered it
 * (created_by). Only that key or an admin may replace, pause, resume,
 * remove or trigger it by hand; when the owner's key is revoked its
 * schedules pause themselves with the reason (calendar_key_revoked).
 *
 * Trigger folders: only under coordinator.trigger_roots, compared after
 * realpath (so ".." and symlinks cannot leave a root), at registration and
 * again at every scan; with no roots configured, triggers are refused.
 *
 * Time: the wall clock, or, for tests only, the number of seconds since the
 * epoch written in the file named by $DROVER_CLOCK_FILE, honoured only in a
 * build with DROVER_TEST_BUILD or with coordinator.test_clock = true (a
 * warning at every start says so).
 */
#ifndef DROVER_CALENDAR_H
#define DROVER_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "drover.pb-c.h"
#include "model.h"
#include "store.h"

typedef struct calendar calendar_t;

/* cfg (borrowed for the call): trigger_roots and test_clock. */
calendar_t *calendar_new(store_t *st, model_t *m, const conf_coordinator_t *cfg);
void calendar_destroy(calendar_t **cp);

/* (Re)loads the registered schedules and triggers. 0 or -1. */
int calendar_load(calendar_t *c);

/* Registers (or replaces) the schedule/trigger of a submitted workflow;
 * key is the client's key name ("" on an insecure coordinator, then by
 * names the owner), admin whether it has the admin role. The workflow
 * passes model_submit_check first. 0 with msg, 1 refused (msg), 2 not the
 * owner (msg), -1 database. */
int calendar_register(calendar_t *c, const Drover__SubmitRequest *req, const char *key, int admin,
                      const char *by, char *msg, size_t msglen);

/* Fires what is due and scans watched folders. 0 or -1 (database). */
int calendar_tick(calendar_t *c);

/* q->op: list (JSON in *json, caller frees) | next (the next q->count due
 * times of a schedule, JSON in *json) | pause | resume | rm | trigger (run
 * now, outside the calendar; refused while max_active runs are active
 * unless q->force); all but list and next only by the owner key or an
 * admin. 0 with msg, 1 refused, 2 not the owner, 3 max_active reached
 * (msg), -1 database. */
int calendar_op(calendar_t *c, const Drover__ScheduleRequest *q, const char *key, int admin,
                char **json, char *msg, size_t msglen);

/* The hook where a key is revoked: pauses every schedule and trigger that
 * key owns, with the reason (shown by `schedule list`). Returns how many,
 * or -1 (database). */
int calendar_key_revoked(calendar_t *c, const char *key);

/* Seconds since the epoch as the calendar sees them. */
int64_t calendar_now(void);

#endif
