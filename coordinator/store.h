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
    int64_t run_id;
    const char *state; /* a static name (wire_task_state_name) */
    int attempt;
    const char *worker; /* NULL or "" = none */
    int failures;
    int lost;
    int has_exit_code;
    int exit_code;
    const char *error; /* NULL = none */
    int64_t started_us;
    int64_t finished_us;
    int64_t not_before_us;
    const char *gpus; /* GPU indices of the attempt, "0,1"; NULL = none */
    int gang_port;    /* a gang member's reserved port (tasks.gang_port), 0 = none */
} store_task_row_t;

store_t *store_new(db_t *db);
void store_destroy(store_t **sp);
db_t *store_db(store_t *st);

/* Prepares every statement; call after each (re)connect. */
int store_prepare(store_t *st);
/* Opens the iteration's transaction if none is open. */
int store_tx(store_t *st);
/* Writes what is still buffered and commits the iteration's transaction
 * (or, when nothing else was written, the buffered transitions alone as
 * one atomic statement). */
int store_commit(store_t *st);
/* 1 while transitions wait to be written. */
int store_pending(const store_t *st);
/* Forgets buffered writes (after a failed transaction). */
void store_discard(store_t *st);

/* A run id taken from the runs' sequence now (before the run is
 * written: ${run.id} is substituted into the specs first). 0 or -1. */
int store_run_id_next(store_t *st, int64_t *id);

/* Submit, in one statement: the run row (params_json: {"NAME":"VALUE"}
 * or NULL; id: from store_run_id_next, or 0 for a new one), every task (tasks_json: array of
 * objects with idx, name, kind, spec (JSON text), state, retries, timeout_ms, retry_delay_ms), then
 * dependency edges (deps_json: array of [child_idx, parent_idx]), then the initial events.
 * task_ids[idx] receives each task's id. */
int store_submit(store_t *st, const char *workflow, const char *source, const char *by,
                 const char *key, const char *queue, int priority, const char *schedule,
                 int64_t due_us, const char *actor, const char *params_json, int64_t id, int ntasks,
                 const char *tasks_json, const char *deps_json, int64_t *run_id,
                 int64_t *submitted_us, int64_t *task_ids);

/* One submit for store_submit_many, the parameters of store_submit.
 * Strings are borrowed (schedule, params_json, actor: NULL = none; key:
 * NULL or "" = none); run_id, submitted_us and task_ids[idx] are filled
 * in. */
typedef struct {
    const char *workflow, *source, *by, *key, *queue, *actor, *schedule, *params_json;
    const char *tasks_json, *deps_json; /* as for store_submit */
    int ntasks, priority;
    int64_t due_us, id; /* 0 = none; id: taken before (store_run_id_next), 0 = a new one */
    int64_t run_id, submitted_us;
    int64_t *task_ids;
} store_submit_t;
/* Stores n submits with one statement (the iteration's submits batched:
 * one round trip instead of one per run; store_submit is a batch of one).
 * All or nothing: -1 leaves the caller to roll the statement back. */
int store_submit_many(store_t *st, store_submit_t *subs, int n);

/* For a writer on a connection of its own (bulk.c), inside its
 * transaction, just before COMMIT: 1 when the leader lease still carries
 * epoch (the row is then share-locked until the commit, so no takeover can
 * commit in between), 0 when another coordinator took over, -1 on a
 * database error. */
int store_fence_hold(store_t *st, uint64_t epoch);

/* Buffers a task transition (row update + event); every transition of an
 * iteration goes to the database in one statement, before any other
 * statement and at store_commit. from_state must be a static name. */
int store_task_save(store_t *st, const store_task_row_t *row, const char *from_state,
                    const char *detail);
/* A run's transition (its row and run_state event), buffered with the
 * task transitions of the iteration and written in their statement, after
 * them (a run's end costs no round trip of its own). state and from_state
 * must be static names; detail is copied. */
int store_run_save_buffered(store_t *st, int64_t run_id, const char *state, const char *from_state,
                            const char *detail);
/* Sets a task's held flag (drover hold / release) with its `held` or
 * `released` event (detail: who). Buffered like store_event. */
int store_task_hold(store_t *st, int64_t task_id, int held, const char *detail);
/* An event that changes no state (stale result, refused worker, ...). */
int store_event(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *kind,
                const char *worker, const char *detail);
/* Where the bytes of each stream (ends[0] stdout, ends[1] stderr) that
 * the attempt stored so far end: 0 for a stream with none. 0 or -1. */
int store_log_ends(store_t *st, int64_t task_id, int attempt, uint64_t ends[2]);
int store_log(store_t *st, int64_t task_id, int attempt, int stream, uint64_t offset,
              const uint8_t *data, size_t len);
/* labels_json: JSON array of strings. */
int store_worker_up(store_t *st, const char *name, const char *host, int slots,
                    const char *labels_json, const char *detail, const char *key);
/* The key a worker name belongs to: 1 with it in key, 0 when the name is
 * not bound (key = ""), -1 on error. */
int store_worker_key(store_t *st, const char *name, char *key, size_t keylen);
/* Gives the worker name to key (an admin's rebind). 0 or -1. */
int store_worker_rebind(store_t *st, const char *name, const char *key);
/* Adds (add=1) or removes a grant: 1 done, 0 nothing to do, -1 error. */
int store_grant(store_t *st, const char *key, const char *right, const char *pattern,
                const char *by, int add);
/* 1 if key holds `right` on a pattern matching name, 0 if not, -1. */
int store_grant_match(store_t *st, const char *key, const char *right, const char *name);
/* Every grant as a JSON array of {key, right, pattern} (caller frees). */
char *store_grants_json(store_t *st);
/* One key's grants as a JSON array of {right, pattern}, at most 1000
 * (caller frees); NULL on a database error. */
char *store_grants_of_json(store_t *st, const char *key);
int store_worker_state(store_t *st, const char *name, const char *state, const char *detail);
/* names_json: JSON array of worker names seen since the last call. */
int store_workers_seen(store_t *st, const char *names_json);

/* A registered worker's whole shape (coordinator/capacity.h). memory 0 =
 * none offered; gpus -1 = unknown (registered before migration 019).
 * Strings are borrowed for the callback only. */
typedef struct {
    const char *name;
    int slots;
    int64_t memory;
    int gpus;
    const char *labels[32];
    int nlabels;
} store_worker_shape_t;
typedef int (*store_worker_shape_f)(void *ctx, const store_worker_shape_t *row);
/* Calls fn for every worker ever registered; stops at fn's -1. 0 or -1. */
int store_worker_shapes(store_t *st, store_worker_shape_f fn, void *ctx);
/* Records the memory and GPUs a worker registered with. 0 or -1. */
int store_worker_shape(store_t *st, const char *name, int64_t memory, int gpus);

/* Reads (the caller PQclear()s the result; NULL on error). Column layouts
 * are documented beside each statement in store.c. */
PGresult *store_load_runs(store_t *st);
PGresult *store_load_tasks(store_t *st);
PGresult *store_load_deps(store_t *st);
/* The newest `limit` runs matching every filter given ("" / 0 = any);
 * before_id > 0: only runs with a smaller id (paging); schedule: started by
 * that schedule or trigger. */
PGresult *store_runs_list(store_t *st, int limit, const char *state, const char *workflow,
                          int64_t since_us, int64_t before_id, const char *schedule);
PGresult *store_run_get(store_t *st, int64_t run_id);
PGresult *store_run_tasks(store_t *st, int64_t run_id);
PGresult *store_task_by_name(store_t *st, int64_t run_id, const char *name);
/* One page of a log stream from byte off: rows (first offset, data from
 * there), at most 257 rows and about cap bytes (see S_LOGS), in binary
 * format: read each row with store_log_row. */
/* Row i of store_logs: its offset and its bytes (borrowed from r). 0, or
 * -1 on a malformed row. */
int store_log_row(const PGresult *r, int i, uint64_t *off, const uint8_t **data, size_t *len);
PGresult *store_logs(store_t *st, int64_t task_id, int attempt, int stream, uint64_t off,
                     size_t cap);

/* ML lineage and the model registry (migration 002). */
int store_metric(store_t *st, int64_t task_id, int attempt, int seq, const char *json);
/* datasets_json: [{sha256, path, format, rows, cols, role}] */
int store_datasets(store_t *st, const char *datasets_json, int64_t run_id, int64_t task_id,
                   int attempt);
/* Registers the next version of model `name`; *version receives it.
 * dataset_path: the file this version was trained from (or NULL). */
int store_model_register(store_t *st, const char *name, const char *kind, const char *artifact,
                         int64_t run_id, const char *step, int64_t task_id, const char *dataset,
                         const char *params_json, const char *metrics_json,
                         const char *dataset_path, int *version);
/* Artifacts (migration 015): records the checked outputs of a succeeded
 * attempt (artifacts_json: [{name, sha256, size}]). */
int store_artifacts_put(store_t *st, const char *artifacts_json, int64_t run_id, int64_t task_id,
                        const char *step, int attempt);
/* Resolves a dispatched attempt's inputs (wanted_json: [{input, step,
 * name}]) to the artifacts of run_id and records the attempt as their
 * consumer. *staged_json (caller frees): {input: {path, sha256, size}} for
 * the inputs found (the caller compares the count). */
int store_artifacts_stage(store_t *st, int64_t run_id, const char *wanted_json, int64_t task_id,
                          int attempt, char **staged_json);
int store_report(store_t *st, int64_t task_id, int attempt, const char *kind, int passed,
                 const char *report_json);
int store_evaluation(store_t *st, const char *name, int version, int64_t run_id, int64_t task_id,
                     const char *dataset, const char *metrics_json, int passed,
                     const char *gate_json);
/* Model lookups -> name, version, artifact, model_kind, stage (0 or 1 row).
 * by_step: the version a train step of the run registered, or with
 * via_evaluation the version an evaluate step of the run evaluated. */
PGresult *store_model_by_step(store_t *st, int64_t run_id, const char *step, int via_evaluation);
PGresult *store_model_get(store_t *st, const char *name, int version);
PGresult *store_model_production(store_t *st, const char *name);
/* Moves a version to stage; promoting to production archives the previous
 * production version (its number in *archived, else 0). Both recorded. */
int store_set_stage(store_t *st, const char *name, int version, const char *from_stage,
                    const char *stage, const char *by, const char *reason, int *archived);
/* JSON documents for the CLI (caller frees; "" when nothing; NULL on error). */
char *store_report_json(store_t *st, int64_t run_id, const char *step);
char *store_metrics_json(store_t *st, int64_t run_id, const char *step);
char *store_models_json(store_t *st, const char *name);
char *store_model_json(store_t *st, const char *name, int version);
/* The key allow-list (migration 003). keys_load -> name, public_key, kind,
 * role ("" for workers), revoked (t/f). insert/revoke return 1 when they
 * changed a row, 0 when not (exists / already revoked), -1 on error. */
PGresult *store_keys_load(store_t *st);
int store_key_insert(store_t *st, const char *name, const char *public_z85, const char *kind,
                     const char *role, const char *by);
int store_key_revoke(store_t *st, const char *name, const char *by);
/* Web sign-in tokens (migration 021; webtok.h). load calls fn for every
 * token neither revoked nor expired (fn returns 0 to go on, -1 to stop
 * with that); insert stores a token's sha256 (64 hex) for `key`, valid
 * ttl_s seconds, and returns its id and expiry; revoke returns 1 when it
 * revoked the token now, 0 when it was unknown or revoked already; json
 * lists the newest 1000 (caller frees). -1 on a database error. */
typedef int (*store_webtok_f)(void *ctx, int64_t id, const char *sha256_hex, const char *key,
                              int64_t expires_us);
int store_webtokens_load(store_t *st, store_webtok_f fn, void *ctx);
int store_webtoken_insert(store_t *st, const char *sha256_hex, const char *key, const char *by,
                          int64_t ttl_s, int64_t *id, int64_t *expires_us);
int store_webtoken_revoke(store_t *st, int64_t id, const char *by);
char *store_webtokens_json(store_t *st);
/* An accepted command in the audit trail (events kind 'command'). */
int store_audit(store_t *st, int64_t run_id, const char *actor, const char *detail);
/* Records a schedule_missed event (detail names the schedule); webhook:
 * the workflow's own receiver of it (migration 013), or NULL. 0 or -1. */
int store_schedule_missed(store_t *st, const char *detail, const char *webhook);
/* A row of drover.model_stage_changes for name:version that keeps its
 * stage (a verdict recorded beside the stage changes). 0 or -1. */
int store_stage_note(store_t *st, const char *name, int version, const char *by,
                     const char *reason);
/* A run's own webhook and the notification kinds it wants (migration 013),
 * written in the submit's transaction. 0 or -1. */
int store_run_notify(store_t *st, int64_t run_id, const char *webhook, const char *const *on,
                     size_t non);

/* Queue settings -> name, max_running, paused (t/f); save upserts one. */
PGresult *store_queues_load(store_t *st);
/* time_limit_s: the queue's planning limit of steps without a timeout, 0 =
 * the coordinator's default_time_limit. */
int store_queue_save(store_t *st, const char *name, uint32_t limit, int paused,
                     uint32_t time_limit_s);
int store_queue_delete(store_t *st, const char *name);

/* Sweeps: the model a train step registered with one of its metrics
 * (name, version, artifact, model_kind, stage, value); what a select
 * step chose (name, version). */
PGresult *store_model_metric_by_step(store_t *st, int64_t run_id, const char *step,
                                     const char *metric);
PGresult *store_select_choice(store_t *st, int64_t run_id, const char *step);

/* Schedules and data triggers (calendar.c). */
typedef struct {
    const char *name, *kind, *cron, *timezone, *catchup, *watch, *created_by;
    int max_active;
    int catchup_max, lateness_s; /* migration 019 */
    const char *on_failure;      /* triggers: "keep" or "retry" */
    int64_t min_new_rows;
    const uint8_t *request; /* packed SubmitRequest */
    size_t request_len;
} store_sched_t;
PGresult *store_sched_load(store_t *st);
int store_sched_upsert(store_t *st, const store_sched_t *sc, int64_t *created_us,
                       int64_t *last_due_us);
/* reason: why it is paused ("" = by hand, or resumed). */
int store_sched_pause(store_t *st, const char *name, int paused, const char *reason);
int store_sched_delete(store_t *st, const char *name);
int store_sched_last_due(store_t *st, const char *name, int64_t due_us);
/* 1 when this due time is ours to fire, 0 when already fired, -1 error. */
int store_fire_claim(store_t *st, const char *name, int64_t due_us, const char *outcome);
int store_fire_run(store_t *st, const char *name, int64_t due_us, int64_t run_id);
/* -> run id (NULL: none) and outcome of what the schedule did last: the
 * run's state, or "queued"/"skipped" when its latest due time was held
 * back, whichever happened last. */
PGresult *store_fire_last(store_t *st, const char *name);
/* One step of an earlier run, for `drover rerun` (coordinator/rerun.c);
 * the run's own fields repeat on every row. Strings are borrowed for the
 * callback only. */
typedef struct {
    const char *workflow, *queue, *submitted_key, *run_state;
    int priority;
    int64_t task_id;
    const char *name, *kind, *spec, *state, *resources, *after; /* after: names, ',' */
    int retries;
    int64_t timeout_ms, retry_delay_ms;
    int64_t reused_from; /* 0 = ran itself */
} store_rerun_row_t;
typedef int (*store_rerun_f)(void *ctx, int idx, const store_rerun_row_t *row);
/* Calls fn for each step of run_id in order. Returns the number of steps
 * (0: no such run), or -1 on error or when fn failed. */
int store_rerun_source(store_t *st, int64_t run_id, store_rerun_f fn, void *ctx);
/* The oldest due time of name queued behind max_active, now marked
 * started: 1 with *due_us, 0 when none is queued, -1 on error. */
int store_fire_dequeue(store_t *st, const char *name, int64_t *due_us);
/* Returns to the pool the files that run_id (of trigger name) consumed, if
 * it failed or was cancelled and they were not returned before (once per
 * file version): the result lists (path, sha256) of each file released
 * (none when the run succeeded). Caller PQclear()s; NULL on error. */
PGresult *store_trigger_release(store_t *st, const char *name, int64_t run_id);
PGresult *store_trigger_files(store_t *st);
/* Records files a run consumed; returns how many were new (all of them,
 * unless another coordinator consumed some first), -1 on error. */
int store_trigger_consume(store_t *st, const char *name, const char *files_json, int64_t run_id);

/* A savepoint around the application of worker-supplied outputs, so bad
 * outputs roll back alone instead of failing the whole iteration. */
int store_savepoint(store_t *st);
int store_savepoint_end(store_t *st, int ok);
/* One client request's writes (server_client.c): begin flushes what earlier
 * requests buffered and sets SAVEPOINT request; end(ok=1) flushes what this
 * one buffered and releases it, end(ok=0) rolls back to it, so a statement
 * the database refuses costs that request alone. 0, or -1 (the connection
 * is gone, or the request had buffered transitions: reset). */
int store_request_begin(store_t *st);
int store_request_end(store_t *st, int ok);
/* store_request_begin/end for a batch of submits (store_submit_many), with
 * fewer round trips: BEGIN and SAVEPOINT in one, and on success the
 * savepoint left for the COMMIT to end. */
int store_batch_begin(store_t *st);
int store_batch_end(store_t *st, int ok);

/* Retention (coordinator/gc.c), on a connection of its own: prepare with
 * store_prepare_gc() instead of store_prepare(). store_gc_window() prunes
 * one window of `table`: the `limit` rows with the smallest keys >= from
 * (events: id; logs and metrics: task_id; runs: id), deleting those older
 * than cutoff_us (finished runs only, and never one a model version or an
 * evaluation names), as one autocommit statement. */
typedef enum {
    STORE_GC_EVENTS,  /* drover.events but the audit trail */
    STORE_GC_AUDIT,   /* drover.events of kind 'command' */
    STORE_GC_LOGS,    /* drover.task_logs */
    STORE_GC_METRICS, /* drover.task_metrics */
    STORE_GC_RUNS,    /* finished drover.runs, with everything of their tasks */
} store_gc_table_t;
typedef struct {
    int64_t deleted;  /* rows deleted */
    int64_t last_key; /* the window's largest key (-1: empty) */
    int64_t window;   /* rows in the window (< limit: the table's end) */
    int any_old;      /* the window held rows older than the cutoff */
} store_gc_window_t;
int store_prepare_gc(store_t *st);
int store_gc_window(store_t *st, store_gc_table_t table, int64_t from, int limit, int64_t cutoff_us,
                    store_gc_window_t *out);

/* Notifications (coordinator/notify.c), on a connection of its own:
 * store_prepare_notify() instead of store_prepare(). store_notify_due()
 * returns up to limit undelivered notifications that are due, oldest first:
 * event_id, kind, run_id, at (us), attempts, workflow, detail, webhook
 * ("" = the global one; caller PQclears). store_notify_result() records an
 * attempt on the row (event_id, webhook): delivered (counting
 * `attempts` more, e.g. 0 for one skipped as not subscribed) or to be retried
 * in retry_ms; status is the receiver's HTTP status (0 = none). */
int store_prepare_notify(store_t *st);
PGresult *store_notify_due(store_t *st, int limit);
int store_notify_result(store_t *st, int64_t event_id, const char *webhook, int delivered,
                        int attempts, int status, int64_t retry_ms, const char *error);

/* Whether events are enqueued as notifications (migration 011): the active
 * coordinator says so when it takes over (webhook configured or not).
 * Autocommit, outside the iteration's transaction. 0 or -1. */
int store_notify_enabled(store_t *st, int on);

#endif
