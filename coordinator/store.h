/* store — every SQL statement the coordinator runs, as named prepared
 * statements with $n parameters (no SQL is ever built from user strings).
 *
 * Writes go into the transaction of the current loop iteration: the first
 * write opens it (store_tx), server.c commits once per iteration (group
 * commit) and only then sends what the writes promised. Each state change
 * is one statement that updates the row and appends its event together, so
 * a transition and its record cannot part.
 *
 * All functions return 0 (or a result/count) on success and -1 on a
 * database error; the caller treats -1 as "reset and reload".
 */
#ifndef DROVER_STORE_H
#define DROVER_STORE_H

#include <stdint.h>

#include "db.h"

typedef struct store store_t;

/* The mutable columns of a task, written on every transition. Strings are
 * borrowed for the call; 0 timestamps and has_exit_code=0 store NULL. */
typedef struct {
    int64_t id;
    const char *state;
    int attempt;
    const char *worker;   /* NULL or "" = none */
    int failures;
    int lost;
    int has_exit_code;
    int exit_code;
    const char *error;    /* NULL = none */
    int64_t started_us;
    int64_t finished_us;
    int64_t not_before_us;
} store_task_row_t;

store_t *store_new(db_t *db);
void store_destroy(store_t **sp);
db_t *store_db(store_t *st);

/* Prepares every statement; call after each (re)connect. */
int store_prepare(store_t *st);
/* Opens the iteration's transaction if none is open. */
int store_tx(store_t *st);

/* Tries the coordinator advisory lock: 1 = we are the active coordinator,
 * 0 = another holds it, -1 = error. */
int store_try_lock(store_t *st);

/* Submit: the run row, then every task (tasks_json: array of objects with
 * idx, name, kind, spec (JSON text), state, retries, timeout_ms,
 * retry_delay_ms), then dependency edges (deps_json: array of
 * [child_idx, parent_idx]), then the initial events. task_ids[idx] receives
 * each task's id. */
int store_submit(store_t *st, const char *workflow, const char *source, const char *by,
                 int ntasks, const char *tasks_json, const char *deps_json, int64_t *run_id,
                 int64_t *submitted_us, int64_t *task_ids);

int store_task_save(store_t *st, const store_task_row_t *row, const char *from_state,
                    const char *detail);
int store_run_save(store_t *st, int64_t run_id, const char *state, const char *from_state,
                   const char *detail);
/* An event that changes no state (stale result, refused worker, ...). */
int store_event(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *kind,
                const char *worker, const char *detail);
int store_log(store_t *st, int64_t task_id, int attempt, int stream, uint64_t offset,
              const uint8_t *data, size_t len);
/* labels_json: JSON array of strings. */
int store_worker_up(store_t *st, const char *name, const char *host, int slots,
                    const char *labels_json, const char *detail);
int store_worker_state(store_t *st, const char *name, const char *state, const char *detail);
/* names_json: JSON array of worker names seen since the last call. */
int store_workers_seen(store_t *st, const char *names_json);

/* Reads (the caller PQclear()s the result; NULL on error). Column layouts
 * are documented beside each statement in store.c. */
PGresult *store_load_runs(store_t *st);
PGresult *store_load_tasks(store_t *st);
PGresult *store_load_deps(store_t *st);
PGresult *store_runs_list(store_t *st, int limit);
PGresult *store_run_get(store_t *st, int64_t run_id);
PGresult *store_run_tasks(store_t *st, int64_t run_id);
PGresult *store_task_by_name(store_t *st, int64_t run_id, const char *name);
PGresult *store_logs(store_t *st, int64_t task_id, int attempt, uint64_t out_off, uint64_t err_off);

#endif
