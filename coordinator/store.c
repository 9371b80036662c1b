/* store — see store.h. Timestamps cross the boundary as bigint microseconds
 * since the epoch, exactly, in both directions. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include <fnmatch.h>
#include <jansson.h>

/* A task transition waiting for the batch statement (see s_flush). */
typedef struct {
    int64_t id, run_id;
    const char *state, *from; /* static state names */
    int attempt, failures, lost, has_exit_code, exit_code;
    char *worker, *error, *detail;
    int64_t started_us, finished_us, not_before_us;
    char gpus[200]; /* "0,1" or "" */
    int gang_port;  /* 0 = NULL */
    int run;        /* 1: a run's transition (id = the run; state, from, detail) */
} pending_t;

static void s_pending_clear(store_t *st);
static int s_flush_ex(store_t *st, int with_commit);
static int s_flush(store_t *st)
{
    return s_flush_ex(st, 0);
}

struct store {
    db_t *db;
    pending_t *pend;
    size_t npend, cappend;
    char *buf; /* array literals of the batch, reused */
    size_t buflen, bufcap;
};

#define US(col) "(extract(epoch from " col ") * 1000000)::bigint"
#define TS(p)   "('epoch'::timestamptz + " p "::bigint * interval '1 microsecond')"

enum {
    S_RUN_ID_NEXT,
    S_FENCE_HOLD,
    S_EVENT,
    S_LOG,
    S_LOG_ENDS,
    S_WORKER_UP,
    S_WORKER_STATE,
    S_WORKERS_SEEN,
    S_LOAD_RUNS,
    S_LOAD_TASKS,
    S_LOAD_DEPS,
    S_RUNS_LIST,
    S_RUN_GET,
    S_RUN_TASKS,
    S_TASK_BY_NAME,
    S_LOGS,
    S_METRIC,
    S_DATASETS,
    S_MODEL_REGISTER,
    S_REPORT,
    S_EVALUATION,
    S_MODEL_BY_STEP,
    S_MODEL_BY_EVAL_STEP,
    S_MODEL_GET,
    S_MODEL_PRODUCTION,
    S_ARCHIVE_PRODUCTION,
    S_SET_STAGE,
    S_REPORT_JSON,
    S_METRICS_JSON,
    S_MODELS_JSON,
    S_MODEL_JSON,
    S_TASK_SAVE_MANY,
    S_KEYS_LOAD,
    S_KEY_INSERT,
    S_KEY_REVOKE,
    S_AUDIT,
    S_QUEUES_LOAD,
    S_QUEUE_SAVE,
    S_QUEUE_DELETE,
    S_SCHED_LOAD,
    S_SCHED_UPSERT,
    S_SCHED_PAUSE,
    S_SCHED_DELETE,
    S_SCHED_LAST_DUE,
    S_FIRE_CLAIM,
    S_FIRE_RUN,
    S_FIRE_LAST,
    S_TRIGGER_FILES,
    S_TRIGGER_CONSUME,
    S_MODEL_METRIC_BY_STEP,
    S_SELECT_CHOICE,
    S_WORKER_KEY,
    S_WORKER_REBIND,
    S_GRANT,
    S_UNGRANT,
    S_GRANTS_OF,
    S_GRANTS_ALL,
    S_RUN_NOTIFY,
    S_STAGE_NOTE,
    S_SCHED_MISSED,
    S_TASK_HOLD,
    /* calendar branch (issue 13) */
    S_WORKER_SHAPES,
    S_WORKER_SHAPE,
    S_FIRE_DEQUEUE,
    S_TRIGGER_RELEASE,
    S_RERUN_SOURCE,
    S_ARTIFACTS_PUT,
    S_ARTIFACTS_STAGE,
    /* web branch (issue 15) */
    S_WEBTOK_LOAD,
    S_WEBTOK_INSERT,
    S_WEBTOK_REVOKE,
    S_WEBTOK_LIST,
    S_GRANTS_KEY,
    /* speed branch (issue 16) */
    S_SUBMIT_MANY,
    S_SAVE_MANY_RUNS,
    S_TASK_STARTED_MANY,
    S_COUNT
};

/* The task whose results step $2 of run $1 has: itself, or the task of an
 * earlier run it reuses (`drover rerun`, tasks.reused_from). */
#define SRC_TASK                                                                                   \
    "(SELECT coalesce(x.reused_from, x.id) FROM drover.tasks x WHERE x.run_id = $1::bigint "       \
    "AND x.name = $2)"
/* ... and that task's run. */
#define SRC_RUN "(SELECT s.run_id FROM drover.tasks s WHERE s.id = " SRC_TASK ")"

#define RUN_COLS                                                                                                \
    "r.id, r.workflow, r.state, " US("r.submitted_at") ", " US("r.started_at") ", " US(                         \
        "r.finished_at") ", r.tasks_total, "                                                                    \
                         "(SELECT count(*) FROM drover.tasks t WHERE t.run_id = r.id AND t.state IN "           \
                         "('succeeded', 'failed', 'skipped', 'cancelled')), coalesce(r.params::text, ''), " US( \
                             "r.due_at") ", r.submitted_by, coalesce(r.schedule, '')"

/* Every task transition of the iteration ($1-$16): the last row of each
 * task sets its columns; the caller's INSERT makes every row an event. */
#define TASK_SAVE_CTE                                                                                               \
    "WITH v AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], "                                      \
    "$4::int[], $5::text[], $6::int[], $7::int[], $8::int[], $9::text[], "                                          \
    "$10::bigint[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], "                                       \
    "$15::text[], $16::int[]) "                                                                                     \
    "WITH ORDINALITY AS x(id, run_id, state, attempt, worker, failures, lost, "                                     \
    "exit_code, error, started_us, finished_us, not_before_us, from_state, detail, "                                \
    "gpus, gang_port, seq)), "                                                                                      \
    "u AS (UPDATE drover.tasks t SET state = l.state, attempt = l.attempt, "                                        \
    "worker = l.worker, failures = l.failures, lost = l.lost, exit_code = l.exit_code, "                            \
    "error = l.error, started_at = " TS("l.started_us") ", finished_at = " TS(                                      \
        "l.finished_us") ", not_before = " TS("l.not_before_us") ", "                                               \
                                                                 "gpus_assigned = string_to_array(nullif(l.gpus, "  \
                                                                 "''), ',')::int[], gang_port = l.gang_port "       \
                                                                 "FROM (SELECT DISTINCT ON (id) * FROM v ORDER BY " \
                                                                 "id, seq DESC) l "                                 \
                                                                 "WHERE t.id = l.id) "

static const db_stmt_t s_stmts[S_COUNT] = {
    /* -> id, sha256, key_name, expires_us: the tokens that may sign in now */
    [S_WEBTOK_LOAD] =
        {"webtok_load",
         "SELECT id, sha256, key_name, " US(
             "expires_at") " FROM drover.web_tokens "
                           "WHERE revoked_at IS NULL AND expires_at > clock_timestamp() "
                           "ORDER BY id",
         0},
    /* -> id, expires_us */
    [S_WEBTOK_INSERT] =
        {"webtok_insert",
         "INSERT INTO drover.web_tokens (sha256, key_name, created_by, expires_at) "
         "VALUES ($1, $2, $3, clock_timestamp() + $4::bigint * interval '1 second') "
         "RETURNING id, " US("expires_at"),
         4},
    /* -> key_name, 1 row when revoked now */
    [S_WEBTOK_REVOKE] =
        {"webtok_revoke",
         "UPDATE drover.web_tokens SET revoked_at = clock_timestamp(), revoked_by = "
         "$2 WHERE id = $1::bigint AND revoked_at IS NULL RETURNING key_name",
         2},
    /* -> one JSON array: the newest 1000 tokens (never their hashes) */
    [S_WEBTOK_LIST] =
        {"webtok_list",
         "SELECT coalesce(json_agg(json_build_object('id', id, 'key', key_name, 'created_by', "
         "created_by, 'created_at', created_at, 'expires_at', expires_at, 'revoked_at', "
         "revoked_at, 'revoked_by', revoked_by, 'state', CASE WHEN revoked_at IS NOT NULL THEN "
         "'revoked' WHEN expires_at <= clock_timestamp() THEN 'expired' ELSE 'valid' END) ORDER "
         "BY id DESC), '[]') FROM (SELECT * FROM drover.web_tokens ORDER BY id DESC LIMIT 1000) w",
         0},
    /* -> one JSON array: one key's grants {right, pattern}, at most 1000 */
    [S_GRANTS_KEY] =
        {"grants_key",
         "SELECT coalesce(json_agg(json_build_object('right', \"right\", 'pattern', "
         "pattern) ORDER BY \"right\", pattern), '[]') FROM (SELECT \"right\", pattern "
         "FROM drover.grants WHERE key = $1 ORDER BY 1, 2 LIMIT 1000) g",
         1},
    /* -> name, public_key, kind, role, revoked (t/f) */
    [S_KEYS_LOAD] = {"keys_load",
                     "SELECT name, public_key, kind, coalesce(role, ''), revoked_at IS NOT NULL "
                     "FROM drover.keys ORDER BY name",
                     0},
    /* -> 1 row when inserted, 0 when the name or key already exists */
    [S_KEY_INSERT] =
        {"key_insert",
         "INSERT INTO drover.keys (name, public_key, kind, role, added_by) "
         "VALUES ($1, $2, $3, nullif($4, ''), $5) ON CONFLICT DO NOTHING RETURNING name",
         5},
    /* -> 1 row when revoked now */
    [S_KEY_REVOKE] = {"key_revoke",
                      "UPDATE drover.keys SET revoked_at = clock_timestamp(), revoked_by = $2 "
                      "WHERE name = $1 AND revoked_at IS NULL RETURNING name",
                      2},
    /* -> name, max_running, paused (t/f) */
    [S_QUEUES_LOAD] = {"queues_load",
                       "SELECT name, max_running, paused, time_limit_s FROM drover.queues", 0},
    [S_QUEUE_SAVE] =
        {"queue_save",
         "INSERT INTO drover.queues (name, max_running, paused, time_limit_s) VALUES ($1, "
         "$2::int, $3::boolean, $4::bigint) ON CONFLICT (name) DO UPDATE SET max_running = "
         "EXCLUDED.max_running, paused = EXCLUDED.paused, time_limit_s = EXCLUDED.time_limit_s",
         4},
    [S_QUEUE_DELETE] = {"queue_delete", "DELETE FROM drover.queues WHERE name = $1", 1},
    /* -> 0 name, 1 kind, 2 cron, 3 timezone, 4 catchup, 5 max_active, 6 watch,
     *    7 min_new_rows, 8 paused, 9 request (bytea), 10 last_due_us, 11 created_us,
     *    12 created_by, 13 paused_reason, 14 catchup_max, 15 lateness_s,
     *    16 due times queued behind max_active, 17 on_failure */
    [S_SCHED_LOAD] =
        {"sched_load",
         "SELECT name, kind, coalesce(cron, ''), coalesce(timezone, ''), "
         "coalesce(catchup, ''), max_active, coalesce(watch, ''), coalesce(min_new_rows, 0), "
         "paused, request, " US("last_due") ", " US(
             "created_at") ", coalesce(created_by, ''), "
                           "paused_reason, catchup_max, lateness_s, (SELECT count(*) FROM drover.schedule_fires f "
                           "WHERE f.name = s.name AND f.outcome = 'queued'), on_failure "
                           "FROM drover.schedules s ORDER BY name",
         0},
    [S_SCHED_UPSERT] =
        {"sched_upsert",
         "INSERT INTO drover.schedules (name, kind, cron, timezone, catchup, max_active, "
         "watch, min_new_rows, request, created_by, catchup_max, lateness_s, on_failure) VALUES ($1, $2, "
         "nullif($3, ''), nullif($4, ''), nullif($5, ''), $6::int, nullif($7, ''), $8::bigint, "
         "$9::bytea, $10, $11::int, $12::int, $13) "
         "ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, cron = EXCLUDED.cron, "
         "timezone = EXCLUDED.timezone, catchup = EXCLUDED.catchup, "
         "max_active = EXCLUDED.max_active, watch = EXCLUDED.watch, "
         "min_new_rows = EXCLUDED.min_new_rows, request = EXCLUDED.request, "
         "created_by = EXCLUDED.created_by, created_at = clock_timestamp(), "
         "catchup_max = EXCLUDED.catchup_max, lateness_s = EXCLUDED.lateness_s, "
         "on_failure = EXCLUDED.on_failure "
         "RETURNING " US("created_at") ", " US("last_due"),
         13},
    [S_SCHED_PAUSE] = {"sched_pause",
                       "UPDATE drover.schedules SET paused = $2::boolean, "
                       "paused_reason = $3 WHERE name = $1",
                       3},
    [S_SCHED_DELETE] = {"sched_delete", "DELETE FROM drover.schedules WHERE name = $1", 1},
    [S_SCHED_LAST_DUE] = {"sched_last_due",
                          "UPDATE drover.schedules SET last_due = " TS("$2") " WHERE name = $1", 2},
    /* -> 1 row when this coordinator claimed the due time, 0 when it was taken */
    [S_FIRE_CLAIM] = {"fire_claim",
                      "INSERT INTO drover.schedule_fires (name, due_at, outcome) VALUES ($1, " TS(
                          "$2") ", $3) ON CONFLICT DO NOTHING RETURNING name",
                      3},
    [S_FIRE_RUN] =
        {"fire_run",
         "UPDATE drover.schedule_fires SET run_id = $3::bigint WHERE name = $1 AND due_at = " TS(
             "$2"),
         3},
    /* -> id, state of the latest run it started (calendar, trigger or by hand) */
    [S_FIRE_LAST] =
        {"fire_last",
         "SELECT id, outcome FROM ("
         "(SELECT NULL::bigint AS id, f.outcome, f.fired_at AS at FROM drover.schedule_fires f "
         "WHERE f.name = $1 AND f.outcome IN ('queued', 'skipped') ORDER BY f.fired_at DESC LIMIT 1) "
         "UNION ALL (SELECT r.id, r.state, r.submitted_at FROM drover.runs r WHERE r.schedule = $1 "
         "ORDER BY r.id DESC LIMIT 1)) x ORDER BY at DESC LIMIT 1",
         1},
    /* -> 0 workflow, 1 queue, 2 priority, 3 submitted_key, 4 run state, then per task (in
     *    idx order): 5 id, 6 name, 7 kind, 8 spec, 9 state, 10 retries, 11 timeout_ms,
     *    12 retry_delay_ms, 13 resources, 14 reused_from (0 = none), 15 after (names, ',') */
    [S_RERUN_SOURCE] =
        {"rerun_source",
         "SELECT r.workflow, r.queue, r.priority, coalesce(r.submitted_key, ''), r.state, "
         "t.id, t.name, t.kind, t.spec::text, t.state, t.retries, t.timeout_ms, "
         "t.retry_delay_ms, t.resources::text, coalesce(t.reused_from, 0), "
         "coalesce((SELECT string_agg(p.name, ',' ORDER BY p.idx) FROM drover.task_deps d "
         "JOIN drover.tasks p ON p.id = d.depends_on WHERE d.task_id = t.id), '') "
         "FROM drover.runs r JOIN drover.tasks t ON t.run_id = r.id "
         "WHERE r.id = $1::bigint ORDER BY t.idx",
         1},
    /* -> the oldest queued due time (microseconds), now marked started */
    [S_FIRE_DEQUEUE] =
        {"fire_dequeue",
         "UPDATE drover.schedule_fires SET outcome = 'started', fired_at = clock_timestamp() "
         "WHERE name = $1 AND outcome = 'queued' AND due_at = (SELECT min(due_at) FROM "
         "drover.schedule_fires WHERE name = $1 AND outcome = 'queued') "
         "RETURNING " US("due_at"),
         1},
    /* -> name, path */
    /* -> 0 name, 1 path, 2 sha256 ('' = before migration 019), 3 size, 4 rows, 5 run_id
     *    (0 = none), 6 its run is still running (t/f) */
    [S_TRIGGER_FILES] =
        {"trigger_files",
         "SELECT tf.name, tf.path, tf.sha256, tf.size, tf.rows, coalesce(tf.run_id, 0), "
         "coalesce(r.state = 'running', false) FROM drover.trigger_files tf "
         "LEFT JOIN drover.runs r ON r.id = tf.run_id WHERE NOT tf.pooled",
         0},
    /* $2 [{path,sha256,size,rows,blank,malformed}] -> one row per file consumed now */
    [S_TRIGGER_CONSUME] =
        {"trigger_consume",
         "INSERT INTO drover.trigger_files (name, path, sha256, size, rows, blank, "
         "malformed, run_id) SELECT $1, x.path, x.sha256, x.size, x.rows, x.blank, "
         "x.malformed, $3::bigint FROM jsonb_to_recordset($2::jsonb) "
         "AS x(path text, sha256 text, size bigint, rows bigint, blank bigint, "
         "malformed bigint) ON CONFLICT (name, path, sha256) DO UPDATE SET run_id = EXCLUDED.run_id, "
         "pooled = false, consumed_at = clock_timestamp() WHERE drover.trigger_files.pooled "
         "RETURNING path",
         3},
    /* The files run $2 consumed, returned to the pool when it failed or was
     * cancelled -> path, sha256 of each */
    [S_TRIGGER_RELEASE] =
        {"trigger_release",
         "UPDATE drover.trigger_files tf SET pooled = true, returned = tf.returned + 1 "
         "FROM drover.runs r WHERE tf.name = $1 AND tf.run_id = $2::bigint "
         "AND r.id = tf.run_id AND r.state IN ('failed', 'cancelled') "
         "AND tf.returned < 1 AND NOT tf.pooled RETURNING tf.path, tf.sha256",
         2},
    /* -> name, version, artifact, model_kind, stage, metric value (text or NULL) */
    [S_MODEL_METRIC_BY_STEP] = {"model_metric_by_step",
                                "SELECT name, version, artifact, model_kind, stage, metrics->>$3 "
                                "FROM drover.model_versions WHERE run_id = " SRC_RUN
                                " AND step = $2 "
                                "ORDER BY version DESC LIMIT 1",
                                3},
    /* -> name, version of the model a select step chose */
    [S_SELECT_CHOICE] =
        {"select_choice",
         "SELECT rp.report->'chosen'->>'name', (rp.report->'chosen'->>'version')::int "
         "FROM drover.reports rp JOIN drover.tasks t ON t.id = rp.task_id "
         "WHERE t.id = " SRC_TASK " AND rp.kind = 'select' "
         "ORDER BY rp.attempt DESC LIMIT 1",
         2},
    /* $3: the kinds as a JSON array of strings */
    [S_RUN_NOTIFY] = {"run_notify",
                      "UPDATE drover.runs SET notify_webhook = $2, notify_on = "
                      "ARRAY(SELECT jsonb_array_elements_text($3::jsonb)) WHERE id = $1::bigint",
                      3},
    /* A stage-history row that changes no stage (an approval's verdict). */
    [S_STAGE_NOTE] =
        {"stage_note",
         "INSERT INTO drover.model_stage_changes (name, version, from_stage, to_stage, "
         "by, reason) SELECT name, version, stage, stage, $3, $4 FROM "
         "drover.model_versions WHERE name = $1 AND version = $2::int",
         4},
    /* A schedule_missed event and, for a workflow whose notify block asks
     * for it, its own notification row (webhook $2; the trigger adds the
     * global one), in one statement. -> a row per own notification */
    [S_SCHED_MISSED] = {"sched_missed",
                        "WITH e AS (INSERT INTO drover.events (kind, detail) VALUES "
                        "('schedule_missed', $1) RETURNING id, at), "
                        "n AS (INSERT INTO drover.notifications (event_id, kind, at, webhook) "
                        "SELECT id, 'schedule_missed', at, $2 FROM e WHERE $2::text IS NOT NULL "
                        "ON CONFLICT DO NOTHING RETURNING event_id) "
                        "SELECT pg_notify('drover_notify', '') FROM n",
                        2},
    [S_AUDIT] = {"audit",
                 "INSERT INTO drover.events (run_id, kind, actor, detail) "
                 "VALUES ($1::bigint, 'command', $2, $3)",
                 3},
    /* Every transition of the iteration in one statement: the last row of
     * each task sets its columns, every row becomes an event, in order. */
    [S_TASK_SAVE_MANY] = {"task_save_many",
                          TASK_SAVE_CTE
                          "INSERT INTO drover.events (run_id, task_id, attempt, kind, from_state, "
                          "to_state, worker, detail) SELECT run_id, id, attempt, 'task_state', "
                          "from_state, state, worker, detail FROM v ORDER BY seq",
                          16},
    /* S_TASK_SAVE_MANY for transitions that are all assigned -> running,
     * committed without waiting for the WAL flush (s_flush_ex says why). */
    [S_TASK_STARTED_MANY] = {"task_started_many",
                             TASK_SAVE_CTE
                             ", a AS (SELECT set_config('synchronous_commit', 'off', true)) "
                             "INSERT INTO drover.events (run_id, task_id, attempt, kind, "
                             "from_state, to_state, worker, detail) SELECT run_id, id, attempt, "
                             "'task_state', from_state, state, worker, detail FROM v, a "
                             "ORDER BY seq",
                             16},
    /* The same with the runs that ended in the iteration ($17-$20: id,
     * state, from_state, detail; finished_at set unless running): their events
     * follow the tasks' (a run ends after its last task). */
    [S_SAVE_MANY_RUNS] =
        {"save_many_runs",
         TASK_SAVE_CTE
         ", rv AS (SELECT * FROM unnest($17::bigint[], $18::text[], $19::text[], $20::text[]) "
         "WITH ORDINALITY AS y(id, state, from_state, detail, seq)), "
         "ru AS (UPDATE drover.runs r SET state = l.state, finished_at = CASE WHEN l.state = "
         "'running' THEN NULL ELSE clock_timestamp() END "
         "FROM (SELECT DISTINCT ON (id) * FROM rv ORDER BY id, seq DESC) l WHERE r.id = l.id) "
         "INSERT INTO drover.events (run_id, task_id, attempt, kind, from_state, to_state, "
         "worker, detail) SELECT run_id, task_id, attempt, kind, from_state, to_state, worker, "
         "detail FROM (SELECT 0 AS part, seq, run_id, id AS task_id, attempt, "
         "'task_state' AS kind, from_state, state AS to_state, worker, detail FROM v UNION ALL "
         "SELECT 1, seq, id, NULL, NULL, 'run_state', from_state, state, NULL, detail FROM rv) e "
         "ORDER BY part, seq",
         20},
    /* -> id, submitted_us */
    /* The whole submit in one statement: run, tasks, edges (matched by
     * position through the inserted rows, never a scan per edge), events.
     * -> run id, submitted_us, task id, idx (one row per task) */
    [S_RUN_ID_NEXT] = {"run_id_next", "SELECT nextval(pg_get_serial_sequence('drover.runs', 'id'))",
                       0},
    /* A writer beside the loop (bulk.c), just before its COMMIT: the lease
     * still carries its epoch, and a takeover (an UPDATE of that row) waits
     * for the commit. -> 1 row, or none when the epoch moved on. */
    [S_FENCE_HOLD] = {"fence_hold",
                      "SELECT 1 FROM drover.leader WHERE id = 1 AND epoch = $1::bigint FOR SHARE",
                      1},
    /* $1 task, $2 held ('t'/'f'), $3 detail: the flag and its event. */
    [S_TASK_HOLD] =
        {"task_hold",
         "WITH u AS (UPDATE drover.tasks SET held = $2::boolean WHERE id = $1::bigint "
         "RETURNING run_id, id, attempt) "
         "INSERT INTO drover.events (run_id, task_id, attempt, kind, detail) "
         "SELECT run_id, id, attempt, CASE WHEN $2::boolean THEN 'held' ELSE 'released' "
         "END, $3 FROM u",
         3},
    [S_EVENT] = {"event",
                 "INSERT INTO drover.events (run_id, task_id, attempt, kind, worker, detail) "
                 /* A task's event names its run even when the caller no
                  * longer holds the run in memory (a late stale_result). */
                 "VALUES (coalesce($1::bigint, (SELECT t.run_id FROM drover.tasks t "
                 "WHERE t.id = $2::bigint)), $2::bigint, $3::int, $4, $5, $6)",
                 6},
    /* Per stream (1, 2): where the bytes an attempt stored end. model_task_log
     * stores only bytes past what a stream holds, so its rows never overlap
     * and the last one ends it: one index probe per stream, not a scan of
     * everything the attempt wrote. */
    [S_LOG_ENDS] =
        {"log_ends",
         "SELECT s.stream, (SELECT l.offset_bytes + length(l.data) FROM drover.task_logs l "
         "WHERE l.task_id = $1::bigint AND l.attempt = $2::int AND l.stream = s.stream "
         "ORDER BY l.offset_bytes DESC LIMIT 1) FROM (VALUES (1::smallint), (2::smallint)) "
         "s(stream)",
         2},
    [S_LOG] =
        {"log",
         "INSERT INTO drover.task_logs (task_id, attempt, stream, offset_bytes, data) "
         "VALUES ($1::bigint, $2::int, $3::smallint, $4::bigint, $5::bytea) ON CONFLICT DO NOTHING",
         5},
    [S_WORKER_UP] =
        {"worker_up",
         "WITH u AS (INSERT INTO drover.workers (name, host, slots, labels, state, key) "
         "VALUES ($1, $2, $3::int, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
         "'connected', nullif($6, '')) ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, "
         "slots = EXCLUDED.slots, labels = EXCLUDED.labels, state = 'connected', "
         "last_seen = clock_timestamp(), "
         "key = coalesce(drover.workers.key, EXCLUDED.key) RETURNING name) "
         "INSERT INTO drover.events (kind, worker, detail, actor) "
         "SELECT 'worker_registered', name, $5, nullif($6, '') FROM u",
         6},
    /* -> name, slots, memory (-1 = unknown), gpus (-1 = unknown), labels (one per row
     *    of a text array, as JSON) */
    [S_WORKER_SHAPES] = {"worker_shapes",
                         "SELECT name, slots, coalesce(memory, 0), coalesce(gpus, -1), "
                         "array_to_json(labels)::text FROM drover.workers "
                         "WHERE slots > 0 ORDER BY name",
                         0},
    [S_WORKER_SHAPE] =
        {"worker_shape",
         "UPDATE drover.workers SET memory = $2::bigint, gpus = $3::int WHERE name = $1", 3},
    /* -> key (NULL: not bound), or no row */
    [S_WORKER_KEY] = {"worker_key", "SELECT key FROM drover.workers WHERE name = $1", 1},
    [S_WORKER_REBIND] = {"worker_rebind",
                         "INSERT INTO drover.workers (name, state, key) VALUES ($1, 'gone', $2) "
                         "ON CONFLICT (name) DO UPDATE SET key = EXCLUDED.key",
                         2},
    /* -> 1 row when added */
    [S_GRANT] = {"grant",
                 "INSERT INTO drover.grants (key, \"right\", pattern, granted_by) "
                 "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING key",
                 4},
    [S_UNGRANT] = {"ungrant",
                   "DELETE FROM drover.grants WHERE key = $1 AND \"right\" = $2 AND pattern = $3 "
                   "RETURNING key",
                   3},
    /* -> pattern */
    [S_GRANTS_OF] = {"grants_of",
                     "SELECT pattern FROM drover.grants WHERE key = $1 AND \"right\" = $2 "
                     "ORDER BY pattern LIMIT 1000",
                     2},
    /* -> key, right, pattern */
    [S_GRANTS_ALL] =
        {"grants_all",
         "SELECT key, \"right\", pattern FROM drover.grants ORDER BY 1, 2, 3 LIMIT 10000", 0},
    [S_WORKER_STATE] =
        {"worker_state",
         "WITH u AS (UPDATE drover.workers SET state = $2, last_seen = clock_timestamp() "
         "WHERE name = $1 RETURNING name) "
         "INSERT INTO drover.events (kind, worker, to_state, detail) "
         "SELECT 'worker_state', name, $2, $3 FROM u",
         3},
    [S_WORKERS_SEEN] = {"workers_seen",
                        "UPDATE drover.workers SET last_seen = clock_timestamp() "
                        "WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))",
                        1},
    /* -> id, workflow, submitted_us, started_us */
    [S_LOAD_RUNS] =
        {"load_runs",
         "SELECT id, workflow, " US("submitted_at") ", " US(
             "started_at") ", coalesce(submitted_key, ''), queue, priority, coalesce(schedule, ''), "
                           "coalesce(params::text, ''), " US(
                               "due_at") " FROM drover.runs "
                                         "WHERE state = 'running' ORDER BY id",
         0},
    /* -> 0 id, 1 run_id, 2 idx, 3 name, 4 kind, 5 spec, 6 state, 7 attempt, 8 retries,
     *    9 failures, 10 lost, 11 timeout_ms, 12 retry_delay_ms, 13 not_before_us,
     *    14 worker, 15 started_us, 16 resources, 17 gpus_assigned ("0,1"), 18 rejected, 19 held */
    [S_LOAD_TASKS] =
        {"load_tasks",
         "SELECT t.id, t.run_id, t.idx, t.name, t.kind, t.spec::text, t.state, t.attempt, "
         "t.retries, t.failures, t.lost, t.timeout_ms, t.retry_delay_ms, " US("t.not_before") ", t.worker, " US(
             "t.started_at") ", t.resources::text, coalesce(array_to_string(t.gpus_assigned, ','), ''), "
                             /* 18: its last attempt's report said no (an evaluate gate, an
                              * approver): a failure that ends the run rejected */
                             "t.state = 'failed' AND EXISTS (SELECT 1 FROM drover.reports rp WHERE "
                             "rp.task_id = t.id AND rp.attempt = t.attempt AND NOT rp.passed AND "
                             "rp.kind IN ('evaluate', 'approve')), "
                             /* 19: held (drover hold) */
                             "t.held, "
                             /* 20..23: gang size, rank, pack, reserved port (0 = none) */
                             "t.gang_size, t.gang_rank, t.gang_pack, coalesce(t.gang_port, 0) "
                             "FROM drover.tasks t JOIN drover.runs r ON r.id = t.run_id "
                             "WHERE r.state = 'running' ORDER BY t.run_id, t.idx",
         0},
    /* -> task_id, depends_on */
    [S_LOAD_DEPS] =
        {"load_deps",
         "SELECT d.task_id, d.depends_on FROM drover.task_deps d "
         "JOIN drover.tasks t ON t.id = d.task_id JOIN drover.runs r ON r.id = t.run_id "
         "WHERE r.state = 'running'",
         0},
    /* -> id, workflow, state, submitted_us, started_us, finished_us, total, done */
    [S_RUNS_LIST] = {"runs_list",
                     "SELECT " RUN_COLS " FROM drover.runs r "
                     "WHERE ($2 = '' OR r.state = $2) AND ($3 = '' OR r.workflow = $3) "
                     "AND ($4::bigint = 0 OR r.submitted_at >= " TS(
                         "$4") ") "
                               "AND ($5::bigint = 0 OR r.id < $5::bigint) "
                               "AND ($6 = '' OR r.schedule = $6) "
                               "ORDER BY r.id DESC LIMIT $1::int",
                     6},
    [S_RUN_GET] = {"run_get", "SELECT " RUN_COLS " FROM drover.runs r WHERE r.id = $1::bigint", 1},
    /* -> 0 id, 1 name, 2 kind, 3 state, 4 attempt, 5 worker, 6 started_us, 7 finished_us,
     *    8 exit_code, 9 error, 10 retries, 11 after (comma-separated) */
    [S_RUN_TASKS] =
        {"run_tasks",
         "WITH d AS (SELECT d.task_id, string_agg(p.name, ',' ORDER BY p.idx) AS after "
         "FROM drover.task_deps d JOIN drover.tasks p ON p.id = d.depends_on "
         "WHERE p.run_id = $1::bigint GROUP BY d.task_id) "
         "SELECT t.id, t.name, t.kind, t.state, t.attempt, coalesce(t.worker, ''), " US(
             "t.started_at") ", " US("t.finished_at") ", t.exit_code, coalesce(t.error, ''), "
                                                      "t.retries, coalesce(d.after, '') "
                                                      "FROM drover.tasks t LEFT JOIN d ON d.task_id = t.id "
                                                      "WHERE t.run_id = $1::bigint ORDER BY t.idx",
         1},
    /* -> id, attempt, state */
    [S_TASK_BY_NAME] =
        {"task_by_name",
         "SELECT id, attempt, state FROM drover.tasks WHERE run_id = $1::bigint AND name = $2", 2},
    /* -> stream, offset, data (bytea) */
    /* One page of one stream from byte $3: the chunk holding $3 (index scan
     * backwards, one row) and the chunks after it (at most 256), cut where
     * the bytes before a chunk reach $5 (the page size); the first chunk comes without the
     * bytes before $3. Only these rows are read and sent: a reader of a
     * long log costs one page, not the log.
     * -> offset of the first byte sent, data */
    [S_LOGS] =
        {"logs",
         "SELECT greatest(o, $3::bigint), substring(d FROM greatest($3::bigint - o, 0)::int + 1) "
         "FROM (SELECT o, d, sum(length(d)) OVER (ORDER BY o) - length(d) AS before FROM ("
         "(SELECT offset_bytes AS o, data AS d FROM drover.task_logs WHERE task_id = $1::bigint "
         "AND attempt = $2::int AND stream = $4::smallint AND offset_bytes <= $3::bigint "
         "ORDER BY offset_bytes DESC LIMIT 1) UNION ALL "
         "(SELECT offset_bytes, data FROM drover.task_logs WHERE task_id = $1::bigint "
         "AND attempt = $2::int AND stream = $4::smallint AND offset_bytes > $3::bigint "
         "ORDER BY offset_bytes LIMIT 256)) x) y "
         "WHERE o + length(d) > $3::bigint AND before < $5::bigint ORDER BY o",
         5},
    [S_METRIC] = {"metric",
                  "INSERT INTO drover.task_metrics (task_id, attempt, seq, data) "
                  "VALUES ($1::bigint, $2::int, $3::int, $4::jsonb) ON CONFLICT DO NOTHING",
                  4},
    /* $1 datasets JSON [{sha256,path,format,rows,cols,role}], $2 run, $3 task, $4 attempt */
    [S_DATASETS] =
        {"datasets",
         "WITH d AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS "
         "x(sha256 text, path text, format text, rows bigint, cols int, role text)), "
         "ins AS (INSERT INTO drover.datasets (sha256, path, format, rows, cols, first_run) "
         "SELECT DISTINCT ON (sha256) sha256, path, format, rows, cols, $2::bigint FROM d "
         "ON CONFLICT (sha256) DO NOTHING) "
         "INSERT INTO drover.task_datasets (task_id, attempt, sha256, role) "
         "SELECT DISTINCT $3::bigint, $4::int, sha256, role FROM d ON CONFLICT DO NOTHING",
         4},
    /* -> version */
    [S_MODEL_REGISTER] =
        {"model_register",
         "INSERT INTO drover.model_versions (name, version, model_kind, artifact, run_id, "
         "step, task_id, dataset_sha256, params, metrics, dataset_path) "
         "SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4::bigint, $5, $6::bigint, "
         "$7, $8::jsonb, $9::jsonb, $10 FROM drover.model_versions WHERE name = $1 "
         "RETURNING version",
         10},
    /* $1 [{name,sha256,size}] $2 run $3 task $4 step $5 attempt (migration 015) */
    [S_ARTIFACTS_PUT] =
        {"artifacts_put",
         "INSERT INTO drover.artifacts (sha256, size, run_id, task_id, step, attempt, "
         "name) SELECT sha256, size, $2::bigint, $3::bigint, $4, $5::int, name "
         "FROM jsonb_to_recordset($1::jsonb) AS x(name text, sha256 text, size bigint) "
         "ON CONFLICT DO NOTHING",
         5},
    /* $1 run $2 [{input,step,name}] $3 task $4 attempt: records the consumer
     * -> {input: {path, sha256, size}} of the latest attempt of each producer */
    [S_ARTIFACTS_STAGE] =
        {"artifacts_stage",
         "WITH r AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS "
         "x(input text, step text, name text)), "
         "hit AS (SELECT DISTINCT ON (r.input) r.input, a.id, a.sha256, a.size, "
         "a.name FROM r JOIN drover.artifacts a ON a.run_id = $1::bigint "
         "AND a.step = r.step AND a.name = r.name "
         "ORDER BY r.input, a.attempt DESC), "
         "ins AS (INSERT INTO drover.artifact_consumers (artifact_id, task_id, "
         "attempt, input) SELECT id, $3::bigint, $4::int, input FROM hit "
         "ON CONFLICT DO NOTHING) "
         "SELECT coalesce(jsonb_object_agg(input, jsonb_build_object('path', name, "
         "'sha256', sha256, 'size', size)), '{}'::jsonb)::text FROM hit",
         4},
    [S_REPORT] = {"report",
                  "INSERT INTO drover.reports (task_id, attempt, kind, passed, report) "
                  "VALUES ($1::bigint, $2::int, $3, $4::boolean, $5::jsonb) "
                  "ON CONFLICT (task_id, attempt) DO UPDATE SET passed = EXCLUDED.passed, "
                  "report = EXCLUDED.report",
                  5},
    /* $1 name $2 version $3 run $4 task $5 dataset $6 metrics $7 passed $8 gate */
    [S_EVALUATION] =
        {"evaluation",
         "WITH e AS (INSERT INTO drover.model_evaluations (name, version, run_id, task_id, "
         "dataset_sha256, metrics, passed, gate) VALUES ($1, $2::int, $3::bigint, $4::bigint, "
         "$5, $6::jsonb, $7::boolean, $8::jsonb) RETURNING name, version, metrics) "
         "UPDATE drover.model_versions v SET eval_metrics = e.metrics FROM e "
         "WHERE v.name = e.name AND v.version = e.version",
         8},
    /* -> name, version, artifact, model_kind, stage */
    [S_MODEL_BY_STEP] =
        {"model_by_step",
         "SELECT name, version, artifact, model_kind, stage FROM drover.model_versions "
         "WHERE run_id = " SRC_RUN " AND step = $2 ORDER BY version DESC LIMIT 1",
         2},
    [S_MODEL_BY_EVAL_STEP] =
        {"model_by_eval_step",
         "SELECT v.name, v.version, v.artifact, v.model_kind, v.stage "
         "FROM drover.model_evaluations e JOIN drover.tasks t ON t.id = e.task_id "
         "JOIN drover.model_versions v ON v.name = e.name AND v.version = e.version "
         "WHERE t.id = " SRC_TASK " ORDER BY e.id DESC LIMIT 1",
         2},
    [S_MODEL_GET] = {"model_get",
                     "SELECT name, version, artifact, model_kind, stage FROM drover.model_versions "
                     "WHERE name = $1 AND version = $2::int",
                     2},
    [S_MODEL_PRODUCTION] =
        {"model_production",
         "SELECT name, version, artifact, model_kind, stage FROM drover.model_versions "
         "WHERE name = $1 AND stage = 'production'",
         1},
    /* -> archived versions. $1 name $2 new version $3 by */
    [S_ARCHIVE_PRODUCTION] =
        {"archive_production",
         "WITH a AS (UPDATE drover.model_versions SET stage = 'archived' "
         "WHERE name = $1 AND stage = 'production' AND version <> $2::int "
         "RETURNING version) "
         "INSERT INTO drover.model_stage_changes (name, version, from_stage, to_stage, "
         "by, reason) SELECT $1, version, 'production', 'archived', $3, "
         "'replaced by version ' || $2 FROM a RETURNING version",
         3},
    /* $1 name $2 version $3 stage $4 by $5 reason $6 from_stage */
    [S_SET_STAGE] =
        {"set_stage",
         "WITH u AS (UPDATE drover.model_versions SET stage = $3 WHERE name = $1 AND "
         "version = $2::int RETURNING name) "
         "INSERT INTO drover.model_stage_changes (name, version, from_stage, to_stage, by, "
         "reason) SELECT $1, $2::int, $6, $3, $4, $5 FROM u",
         6},
    [S_REPORT_JSON] =
        {"report_json",
         "SELECT json_build_object('run_id', t.run_id, 'step', t.name, 'attempt', rp.attempt, "
         "'kind', rp.kind, 'passed', rp.passed, 'report', rp.report)::text "
         "FROM drover.reports rp JOIN drover.tasks t ON t.id = rp.task_id "
         "WHERE t.run_id = $1::bigint AND t.name = $2 ORDER BY rp.attempt DESC LIMIT 1",
         2},
    [S_METRICS_JSON] =
        {"metrics_json",
         "SELECT json_build_object('run_id', t.run_id, 'step', t.name, 'metrics', "
         "coalesce((SELECT json_agg(json_build_object('attempt', m.attempt, 'seq', m.seq, "
         "'data', m.data) ORDER BY m.attempt, m.seq) FROM drover.task_metrics m "
         "WHERE m.task_id = t.id), '[]'::json))::text "
         "FROM drover.tasks t WHERE t.run_id = $1::bigint AND t.name = $2",
         2},
    [S_MODELS_JSON] =
        {"models_json",
         "SELECT coalesce(json_agg(json_build_object('name', name, 'version', version, "
         "'stage', stage, 'model_kind', model_kind, 'metrics', metrics, 'eval_metrics', "
         "eval_metrics, 'run_id', run_id, 'step', step, 'dataset_sha256', dataset_sha256, "
         "'dataset_path', dataset_path, 'created_at', created_at) "
         "ORDER BY name, version DESC), '[]'::json)::text "
         "FROM drover.model_registry WHERE $1 = '' OR name = $1",
         1},
    [S_MODEL_JSON] =
        {"model_json",
         "SELECT json_build_object('name', r.name, 'version', r.version, 'stage', r.stage, "
         "'model_kind', r.model_kind, 'metrics', r.metrics, 'eval_metrics', r.eval_metrics, "
         "'run_id', r.run_id, 'step', r.step, 'dataset_sha256', r.dataset_sha256, "
         "'dataset_path', r.dataset_path, 'dataset_rows', r.dataset_rows, 'params', r.params, "
         "'artifact', r.artifact, 'created_at', r.created_at, "
         "'stage_changes', coalesce((SELECT json_agg(json_build_object('at', c.at, "
         "'from_stage', c.from_stage, 'to_stage', c.to_stage, 'by', c.by, 'reason', c.reason) "
         "ORDER BY c.id) FROM drover.model_stage_changes c WHERE c.name = r.name AND "
         "c.version = r.version), '[]'::json), "
         "'evaluations', coalesce((SELECT json_agg(json_build_object('at', e.at, 'run_id', "
         "e.run_id, 'dataset_sha256', e.dataset_sha256, 'metrics', e.metrics, 'passed', "
         "e.passed) ORDER BY e.id) FROM drover.model_evaluations e WHERE e.name = r.name AND "
         "e.version = r.version), '[]'::json))::text "
         "FROM drover.model_registry r WHERE r.name = $1 AND r.version = $2::int",
         2},
    /* Every submit (store_submit_many; store_submit is a batch of one):
     * per element of the arrays a run, its tasks, edges (matched by
     * position through the inserted rows, never a scan per edge), events
     * and audit row. Run ids are taken in array order (or given: an id
     * taken before for ${run.id}). $9 and $10 are JSON arrays whose
     * element n-1 is run n's tasks and edges (no escaping of the JSON into
     * an array literal). -> ordinal, run id, submitted_us, task id, idx
     * (one row per task) */
    [S_SUBMIT_MANY] =
        {"submit_many",
         "WITH v AS (SELECT x.*, coalesce(x.rid, nextval(pg_get_serial_sequence('drover.runs', "
         "'id'))) AS id FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], "
         "$6::text[], $7::int[], $8::text[], $11::text[], $12::bigint[], $13::jsonb[], "
         "$14::bigint[]) WITH ORDINALITY AS x(workflow, source, by, ntasks, key, queue, priority, "
         "actor, schedule, due_us, params, rid, n) ORDER BY x.n), "
         "r AS (INSERT INTO drover.runs (id, workflow, source, submitted_by, tasks_total, "
         "started_at, submitted_key, queue, priority, schedule, due_at, params) SELECT id, "
         "workflow, source, by, ntasks, clock_timestamp(), nullif(key, ''), queue, priority, "
         "nullif(schedule, ''), " TS(
             "due_us") ", params FROM v ORDER BY n "
                       "RETURNING id, submitted_at), "
                       "t AS (INSERT INTO drover.tasks (run_id, idx, name, kind, spec, state, retries, "
                       "timeout_ms, retry_delay_ms, resources, reused_from, gang_size, gang_rank, "
                       "gang_pack) "
                       "SELECT v.id, (e->>'idx')::int, e->>'name', e->>'kind', (e->>'spec')::jsonb, "
                       "e->>'state', (e->>'retries')::int, (e->>'timeout_ms')::bigint, "
                       "(e->>'retry_delay_ms')::bigint, coalesce(e->'resources', '{}'), "
                       "(e->>'reused_from')::bigint, coalesce((e->>'gang_size')::int, 1), "
                       "coalesce((e->>'gang_rank')::int, 0), coalesce((e->>'gang_pack')::boolean, false) "
                       "FROM v, jsonb_array_elements($9::jsonb -> (v.n::int - 1)) e "
                       "ORDER BY v.n, (e->>'idx')::int RETURNING id, idx, run_id, state), "
                       "d AS (INSERT INTO drover.task_deps (task_id, depends_on) "
                       "SELECT m.ids[(x->>0)::int + 1], m.ids[(x->>1)::int + 1] "
                       "FROM (SELECT run_id, array_agg(id ORDER BY idx) AS ids FROM t GROUP BY run_id) m "
                       "JOIN v ON v.id = m.run_id, jsonb_array_elements($10::jsonb -> (v.n::int - 1)) x), "
                       "ev AS (INSERT INTO drover.events (run_id, task_id, attempt, kind, to_state, detail) "
                       "SELECT run_id, task_id, attempt, kind, to_state, detail FROM ("
                       "SELECT v.n, -1 AS idx, v.id AS run_id, NULL::bigint AS task_id, NULL::int AS attempt, "
                       "'run_state' AS kind, 'running' AS to_state, v.source AS detail FROM v UNION ALL "
                       "SELECT v.n, t.idx, t.run_id, t.id, 0, 'task_state', t.state, NULL "
                       "FROM t JOIN v ON v.id = t.run_id) x ORDER BY n, idx), "
                       /* the audit row of the command, when a person submitted it */
                       "au AS (INSERT INTO drover.events (run_id, kind, actor, detail) "
                       "SELECT id, 'command', actor, 'submit workflow ' || workflow || ' (' || ntasks || "
                       "' steps) as run ' || id FROM v WHERE actor IS NOT NULL ORDER BY n) "
                       "SELECT v.n, r.id, " US(
                           "r.submitted_at") ", t.id, t.idx "
                                             "FROM r JOIN v ON v.id = r.id JOIN t ON t.run_id = r.id",
         14},
};

store_t *store_new(db_t *db)
{
    store_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->db = db;
    return st;
}

void store_destroy(store_t **sp)
{
    if (!sp || !*sp)
        return;
    s_pending_clear(*sp);
    free((*sp)->pend);
    free((*sp)->buf);
    free(*sp);
    *sp = NULL;
}

db_t *store_db(store_t *st)
{
    return st->db;
}

int store_prepare(store_t *st)
{
    return db_prepare(st->db, s_stmts, S_COUNT);
}

int store_tx(store_t *st)
{
    return db_begin(st->db);
}

static int s_write(store_t *st, int stmt, int n, const char *const *v)
{
    if (store_tx(st) < 0 || s_flush(st) < 0)
        return -1;
    PGresult *r = db_exec(st->db, s_stmts[stmt].name, n, v, NULL, NULL, PGRES_COMMAND_OK);
    if (!r) {
        log_error("database: %s", db_error(st->db));
        return -1;
    }
    PQclear(r);
    return 0;
}

static PGresult *s_read(store_t *st, int stmt, int n, const char *const *v)
{
    /* Buffered transitions join the iteration's transaction before a read. */
    if (st->npend && (store_tx(st) < 0 || s_flush(st) < 0))
        return NULL;
    PGresult *r = db_exec(st->db, s_stmts[stmt].name, n, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        log_error("database: %s", db_error(st->db));
    return r;
}

#define I64(buf, v) (snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(v)), buf)

int store_submit(store_t *st, const char *workflow, const char *source, const char *by,
                 const char *key, const char *queue, int priority, const char *schedule,
                 int64_t due_us, const char *actor, const char *params_json, int64_t id, int ntasks,
                 const char *tasks_json, const char *deps_json, int64_t *run_id,
                 int64_t *submitted_us, int64_t *task_ids)
{
    store_submit_t one = {.workflow = workflow,
                          .source = source,
                          .by = by,
                          .key = key,
                          .queue = queue,
                          .actor = actor,
                          .schedule = schedule,
                          .params_json = params_json,
                          .tasks_json = tasks_json,
                          .deps_json = deps_json,
                          .ntasks = ntasks,
                          .priority = priority,
                          .due_us = due_us,
                          .id = id,
                          .task_ids = task_ids};
    if (store_submit_many(st, &one, 1) < 0)
        return -1;
    *run_id = one.run_id;
    *submitted_us = one.submitted_us;
    return 0;
}

int store_fence_hold(store_t *st, uint64_t epoch)
{
    char e[24];
    snprintf(e, sizeof e, "%" PRIu64, epoch);
    const char *v[] = {e};
    PGresult *r = db_exec(st->db, s_stmts[S_FENCE_HOLD].name, 1, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n == 1;
}

int store_run_id_next(store_t *st, int64_t *id)
{
    PGresult *r = s_read(st, S_RUN_ID_NEXT, 0, NULL);
    if (!r)
        return -1;
    *id = db_get_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int store_task_save(store_t *st, const store_task_row_t *t, const char *from_state,
                    const char *detail)
{
    /* No BEGIN here: an iteration that only moves tasks commits its batch
     * as one autocommit statement (one round trip, one fsync). */
    if (st->npend == st->cappend) {
        size_t nc = st->cappend ? st->cappend * 2 : 256;
        pending_t *np = realloc(st->pend, nc * sizeof *np);
        if (!np)
            return -1;
        st->pend = np;
        st->cappend = nc;
    }
    pending_t *p = &st->pend[st->npend];
    memset(p, 0, sizeof *p);
    p->id = t->id;
    p->run_id = t->run_id;
    p->state = t->state;
    p->from = from_state;
    p->attempt = t->attempt;
    p->failures = t->failures;
    p->lost = t->lost;
    p->has_exit_code = t->has_exit_code;
    p->exit_code = t->exit_code;
    p->started_us = t->started_us;
    p->finished_us = t->finished_us;
    p->not_before_us = t->not_before_us;
    util_strlcpy(p->gpus, t->gpus ? t->gpus : "", sizeof p->gpus);
    p->gang_port = t->gang_port;
    p->worker = t->worker && *t->worker ? strdup(t->worker) : NULL;
    p->error = t->error ? strdup(t->error) : NULL;
    p->detail = detail ? strdup(detail) : NULL;
    if ((t->worker && *t->worker && !p->worker) || (t->error && !p->error) ||
        (detail && !p->detail)) {
        free(p->worker);
        free(p->error);
        free(p->detail);
        return -1;
    }
    st->npend++;
    return 0;
}

static void s_pending_clear(store_t *st)
{
    for (size_t i = 0; i < st->npend; i++) {
        free(st->pend[i].worker);
        free(st->pend[i].error);
        free(st->pend[i].detail);
    }
    st->npend = 0;
}

void store_discard(store_t *st)
{
    s_pending_clear(st);
}

static int s_put(store_t *st, const char *s, size_t n)
{
    if (st->buflen + n + 1 > st->bufcap) {
        size_t nc = st->bufcap ? st->bufcap : 4096;
        while (st->buflen + n + 1 > nc)
            nc *= 2;
        char *nb = realloc(st->buf, nc);
        if (!nb)
            return -1;
        st->buf = nb;
        st->bufcap = nc;
    }
    memcpy(st->buf + st->buflen, s, n);
    st->buflen += n;
    st->buf[st->buflen] = '\0';
    return 0;
}

/* Appends one element of a PostgreSQL array literal: NULL, or the string
 * double-quoted with backslash escapes. */
static int s_put_elem(store_t *st, const char *v, int first)
{
    if (!first && s_put(st, ",", 1) < 0)
        return -1;
    if (!v)
        return s_put(st, "NULL", 4);
    if (s_put(st, "\"", 1) < 0)
        return -1;
    for (const char *p = v; *p; p++) {
        if ((*p == '"' || *p == '\\') && s_put(st, "\\", 1) < 0)
            return -1;
        if (s_put(st, p, 1) < 0)
            return -1;
    }
    return s_put(st, "\"", 1);
}

static int s_put_i64(store_t *st, int64_t v, int null, int first)
{
    char b[24];
    if (null)
        return s_put_elem(st, NULL, first);
    int n = snprintf(b, sizeof b, "%s%" PRId64, first ? "" : ",", v);
    return s_put(st, b, (size_t)n);
}

/* 1 when every pending transition is a start (assigned -> running): the
 * one write whose loss a crash repairs by itself. A task stored assigned
 * is loaded with its lease held, as a running one; its worker re-announces
 * the lease and its Result (which carries started_at) is accepted from
 * either state. So an autocommit of only such rows need not wait for the
 * WAL flush (SET LOCAL synchronous_commit = off, that statement alone);
 * anything else in the transaction makes it wait as before. */
static int s_started_only(const store_t *st)
{
    for (size_t i = 0; i < st->npend; i++) {
        const pending_t *p = &st->pend[i];
        if (p->run || !p->from || strcmp(p->from, "assigned") != 0 ||
            strcmp(p->state, "running") != 0)
            return 0;
    }
    return 1;
}

/* Writes the pending transitions with one statement; with_commit sends the
 * transaction's COMMIT in the same round trip. */
static int s_flush_ex(store_t *st, int with_commit)
{
    if (st->npend == 0)
        return 0;
    /* A run's transition (store_run_save_buffered) adds the run columns
     * 16-19 and takes the statement that also writes those. */
    int runs = 0;
    for (size_t i = 0; i < st->npend && !runs; i++)
        runs = st->pend[i].run;
    int ncols = runs ? 20 : 16, stmt = runs ? S_SAVE_MANY_RUNS : S_TASK_SAVE_MANY;
    if (!runs && !with_commit && !db_in_tx(st->db) && s_started_only(st))
        stmt = S_TASK_STARTED_MANY;
    size_t off[20];
    st->buflen = 0;
    for (int col = 0; col < ncols; col++) {
        off[col] = st->buflen;
        if (s_put(st, "{", 1) < 0)
            return -1;
        int f = 1;
        for (size_t i = 0; i < st->npend; i++) {
            const pending_t *p = &st->pend[i];
            int rc = 0;
            if (p->run != (col >= 16))
                continue;
            switch (col) {
            case 0: rc = s_put_i64(st, p->id, 0, f); break;
            case 1: rc = s_put_i64(st, p->run_id, 0, f); break;
            case 2: rc = s_put_elem(st, p->state, f); break;
            case 3: rc = s_put_i64(st, p->attempt, 0, f); break;
            case 4: rc = s_put_elem(st, p->worker, f); break;
            case 5: rc = s_put_i64(st, p->failures, 0, f); break;
            case 6: rc = s_put_i64(st, p->lost, 0, f); break;
            case 7: rc = s_put_i64(st, p->exit_code, !p->has_exit_code, f); break;
            case 8: rc = s_put_elem(st, p->error, f); break;
            case 9: rc = s_put_i64(st, p->started_us, !p->started_us, f); break;
            case 10: rc = s_put_i64(st, p->finished_us, !p->finished_us, f); break;
            case 11: rc = s_put_i64(st, p->not_before_us, !p->not_before_us, f); break;
            case 12: rc = s_put_elem(st, p->from, f); break;
            case 13: rc = s_put_elem(st, p->detail, f); break;
            case 14: rc = s_put_elem(st, p->gpus, f); break;
            case 15: rc = s_put_i64(st, p->gang_port, !p->gang_port, f); break;
            case 16: rc = s_put_i64(st, p->id, 0, f); break;
            case 17: rc = s_put_elem(st, p->state, f); break;
            case 18: rc = s_put_elem(st, p->from, f); break;
            case 19: rc = s_put_elem(st, p->detail, f); break;
            }
            if (rc < 0)
                return -1;
            f = 0;
        }
        /* A NUL between literals: each parameter is its own C string. */
        if (s_put(st, "}", 1) < 0 || s_put(st, "", 0) < 0)
            return -1;
        st->buflen++;
    }
    const char *v[20];
    for (int col = 0; col < ncols; col++)
        v[col] = st->buf + off[col];
    s_pending_clear(st);
    if (with_commit) {
        if (db_exec_commit(st->db, s_stmts[stmt].name, ncols, v) < 0) {
            log_error("database: %s", db_error(st->db));
            return -1;
        }
        return 0;
    }
    PGresult *r = db_exec(st->db, s_stmts[stmt].name, ncols, v, NULL, NULL, PGRES_COMMAND_OK);
    if (!r) {
        log_error("database: %s", db_error(st->db));
        return -1;
    }
    PQclear(r);
    return 0;
}

/* Appends parameter f of store_submit_many (n submits) to st->buf as the
 * next NUL-terminated string; its offset in *off. Fields 8 and 9 (tasks,
 * edges: JSON arrays) become one JSON array of them, copied as they are;
 * the others a PostgreSQL array literal. */
static int s_put_col(store_t *st, const store_submit_t *subs, int n, int f, size_t *off)
{
    char num[24];
    *off = st->buflen;
    int json = f == 8 || f == 9;
    if (s_put(st, json ? "[" : "{", 1) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        const store_submit_t *x = &subs[i];
        const char *v = NULL;
        switch (f) {
        case 0: v = x->workflow; break;
        case 1: v = x->source; break;
        case 2: v = x->by; break;
        case 3: v = I64(num, x->ntasks); break;
        case 4: v = x->key ? x->key : ""; break;
        case 5: v = x->queue; break;
        case 6: v = I64(num, x->priority); break;
        case 7: v = x->actor; break;
        case 8: v = x->tasks_json; break;
        case 9: v = x->deps_json; break;
        case 10: v = x->schedule ? x->schedule : ""; break;
        case 11: v = x->due_us ? I64(num, x->due_us) : NULL; break;
        case 12: v = x->params_json; break;
        case 13: v = x->id > 0 ? I64(num, x->id) : NULL; break;
        }
        if (json) {
            if ((i && s_put(st, ",", 1) < 0) || s_put(st, v, strlen(v)) < 0)
                return -1;
        } else if (s_put_elem(st, v, i == 0) < 0) {
            return -1;
        }
    }
    if (s_put(st, json ? "]" : "}", 1) < 0)
        return -1;
    st->buflen++; /* keep the NUL: each parameter is its own C string */
    return 0;
}

int store_submit_many(store_t *st, store_submit_t *subs, int n)
{
    if (n <= 0)
        return 0;
    if (store_tx(st) < 0 || s_flush(st) < 0)
        return -1;
    size_t off[14];
    st->buflen = 0;
    for (int f = 0; f < 14; f++)
        if (s_put_col(st, subs, n, f, &off[f]) < 0)
            return -1;
    const char *v[14];
    for (int f = 0; f < 14; f++)
        v[f] = st->buf + off[f];
    PGresult *r = db_exec(st->db, s_stmts[S_SUBMIT_MANY].name, 14, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r) {
        log_error("database: %s", db_error(st->db));
        return -1;
    }
    int rows = PQntuples(r), want = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        want += subs[i].ntasks;
        subs[i].run_id = 0;
    }
    if (rows != want) {
        log_error("database: inserted %d tasks, expected %d", rows, want);
        rc = -1;
    }
    for (int k = 0; rc == 0 && k < rows; k++) {
        int64_t ord = db_get_i64(r, k, 0), idx = db_get_i64(r, k, 4);
        store_submit_t *x = ord >= 1 && ord <= n ? &subs[ord - 1] : NULL;
        if (!x || idx < 0 || idx >= x->ntasks) {
            rc = -1;
            break;
        }
        x->run_id = db_get_i64(r, k, 1);
        x->submitted_us = db_get_i64(r, k, 2);
        x->task_ids[idx] = db_get_i64(r, k, 3);
    }
    PQclear(r);
    return rc;
}

int store_commit(store_t *st)
{
    if (st->npend && db_in_tx(st->db))
        return s_flush_ex(st, 1); /* batch + COMMIT: one round trip */
    if (s_flush(st) < 0)
        return -1;
    return db_commit(st->db);
}

int store_pending(const store_t *st)
{
    return st->npend > 0;
}

int store_run_save_buffered(store_t *st, int64_t run_id, const char *state, const char *from_state,
                            const char *detail)
{
    store_task_row_t row = {.id = run_id, .state = state};
    if (store_task_save(st, &row, from_state, detail) < 0)
        return -1;
    st->pend[st->npend - 1].run = 1;
    return 0;
}

int store_task_hold(store_t *st, int64_t task_id, int held, const char *detail)
{
    char t[24];
    const char *v[] = {I64(t, task_id), held ? "t" : "f", detail};
    return s_write(st, S_TASK_HOLD, 3, v);
}

int store_event(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *kind,
                const char *worker, const char *detail)
{
    char r[24], t[24], a[24];
    const char *v[] = {run_id ? I64(r, run_id) : NULL,
                       task_id ? I64(t, task_id) : NULL,
                       task_id ? I64(a, attempt) : NULL,
                       kind,
                       worker,
                       detail};
    return s_write(st, S_EVENT, 6, v);
}

int store_log_ends(store_t *st, int64_t task_id, int attempt, uint64_t ends[2])
{
    char t[24], a[24];
    const char *v[] = {I64(t, task_id), I64(a, attempt)};
    ends[0] = ends[1] = 0;
    PGresult *r = s_read(st, S_LOG_ENDS, 2, v);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t stream = db_get_i64(r, i, 0), end = db_get_i64(r, i, 1);
        if ((stream == 1 || stream == 2) && end > 0)
            ends[stream - 1] = (uint64_t)end;
    }
    PQclear(r);
    return 0;
}

int store_log(store_t *st, int64_t task_id, int attempt, int stream, uint64_t offset,
              const uint8_t *data, size_t len)
{
    char t[24], a[24], s[24], o[24];
    const char *v[] = {I64(t, task_id), I64(a, attempt), I64(s, stream), I64(o, offset),
                       (const char *)data};
    int lengths[] = {0, 0, 0, 0, (int)len};
    int formats[] = {0, 0, 0, 0, 1};
    if (store_tx(st) < 0 || s_flush(st) < 0)
        return -1;
    PGresult *r = db_exec(st->db, s_stmts[S_LOG].name, 5, v, lengths, formats, PGRES_COMMAND_OK);
    if (!r) {
        log_error("database: %s", db_error(st->db));
        return -1;
    }
    PQclear(r);
    return 0;
}

int store_worker_up(store_t *st, const char *name, const char *host, int slots,
                    const char *labels_json, const char *detail, const char *key)
{
    char s[24];
    const char *v[] = {name, host, I64(s, slots), labels_json, detail, key ? key : ""};
    return s_write(st, S_WORKER_UP, 6, v);
}

int store_worker_shapes(store_t *st, store_worker_shape_f fn, void *ctx)
{
    PGresult *r = s_read(st, S_WORKER_SHAPES, 0, NULL);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        store_worker_shape_t row = {.name = db_get_str(r, i, 0),
                                    .slots = (int)db_get_i64(r, i, 1),
                                    .memory = db_get_i64(r, i, 2),
                                    .gpus = (int)db_get_i64(r, i, 3)};
        json_t *labels = json_loads(db_get_str(r, i, 4), 0, NULL);
        for (size_t k = 0; json_is_array(labels) && k < json_array_size(labels) && row.nlabels < 32;
             k++) {
            const char *l = json_string_value(json_array_get(labels, k));
            if (l)
                row.labels[row.nlabels++] = l;
        }
        rc = fn(ctx, &row);
        json_decref(labels);
    }
    PQclear(r);
    return rc;
}

int store_worker_shape(store_t *st, const char *name, int64_t memory, int gpus)
{
    char m[24], g[24];
    const char *v[] = {name, I64(m, memory), I64(g, gpus)};
    return s_write(st, S_WORKER_SHAPE, 3, v);
}

int store_worker_key(store_t *st, const char *name, char *key, size_t keylen)
{
    const char *v[] = {name};
    PGresult *r = s_read(st, S_WORKER_KEY, 1, v);
    if (!r)
        return -1;
    int bound = PQntuples(r) > 0 && !db_is_null(r, 0, 0);
    util_strlcpy(key, bound ? db_get_str(r, 0, 0) : "", keylen);
    PQclear(r);
    return bound;
}

int store_worker_rebind(store_t *st, const char *name, const char *key)
{
    const char *v[] = {name, key};
    return s_write(st, S_WORKER_REBIND, 2, v);
}

int store_grant(store_t *st, const char *key, const char *right, const char *pattern,
                const char *by, int add)
{
    const char *v[] = {key, right, pattern, by};
    if (store_tx(st) < 0)
        return -1;
    PGresult *r = s_read(st, add ? S_GRANT : S_UNGRANT, add ? 4 : 3, v);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n;
}

int store_grant_match(store_t *st, const char *key, const char *right, const char *name)
{
    const char *v[] = {key, right};
    PGresult *r = s_read(st, S_GRANTS_OF, 2, v);
    if (!r)
        return -1;
    int ok = 0;
    for (int i = 0; !ok && i < PQntuples(r); i++)
        ok = fnmatch(db_get_str(r, i, 0), name, 0) == 0;
    PQclear(r);
    return ok;
}

char *store_grants_json(store_t *st)
{
    PGresult *r = s_read(st, S_GRANTS_ALL, 0, NULL);
    if (!r)
        return NULL;
    json_t *a = json_array();
    for (int i = 0; a && i < PQntuples(r); i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "key", db_get_str(r, i, 0), "right",
                                           db_get_str(r, i, 1), "pattern", db_get_str(r, i, 2)));
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    PQclear(r);
    return s;
}

int store_worker_state(store_t *st, const char *name, const char *state, const char *detail)
{
    const char *v[] = {name, state, detail};
    return s_write(st, S_WORKER_STATE, 3, v);
}

int store_workers_seen(store_t *st, const char *names_json)
{
    const char *v[] = {names_json};
    return s_write(st, S_WORKERS_SEEN, 1, v);
}

PGresult *store_load_runs(store_t *st)
{
    return s_read(st, S_LOAD_RUNS, 0, NULL);
}
PGresult *store_load_tasks(store_t *st)
{
    return s_read(st, S_LOAD_TASKS, 0, NULL);
}
PGresult *store_load_deps(store_t *st)
{
    return s_read(st, S_LOAD_DEPS, 0, NULL);
}

PGresult *store_runs_list(store_t *st, int limit, const char *state, const char *workflow,
                          int64_t since_us, int64_t before_id, const char *schedule)
{
    char l[24], s[24], b[24];
    const char *v[] = {I64(l, limit),
                       state ? state : "",
                       workflow ? workflow : "",
                       I64(s, since_us > 0 ? since_us : 0),
                       I64(b, before_id > 0 ? before_id : 0),
                       schedule ? schedule : ""};
    return s_read(st, S_RUNS_LIST, 6, v);
}

PGresult *store_run_get(store_t *st, int64_t run_id)
{
    char r[24];
    const char *v[] = {I64(r, run_id)};
    return s_read(st, S_RUN_GET, 1, v);
}

PGresult *store_run_tasks(store_t *st, int64_t run_id)
{
    char r[24];
    const char *v[] = {I64(r, run_id)};
    return s_read(st, S_RUN_TASKS, 1, v);
}

PGresult *store_task_by_name(store_t *st, int64_t run_id, const char *name)
{
    char r[24];
    const char *v[] = {I64(r, run_id), name};
    return s_read(st, S_TASK_BY_NAME, 2, v);
}

PGresult *store_logs(store_t *st, int64_t task_id, int attempt, int stream, uint64_t off,
                     size_t cap)
{
    char t[24], a[24], o[24], s[24], c[24];
    const char *v[] = {I64(t, task_id), I64(a, attempt), I64(o, (int64_t)off), I64(s, stream),
                       I64(c, (int64_t)cap)};
    /* Binary: the page's bytes as they are, not twice as many in hex. */
    if (st->npend && (store_tx(st) < 0 || s_flush(st) < 0))
        return NULL;
    PGresult *r = db_exec_binary(st->db, s_stmts[S_LOGS].name, 5, v);
    if (!r)
        log_error("database: %s", db_error(st->db));
    return r;
}

int store_log_row(const PGresult *r, int i, uint64_t *off, const uint8_t **data, size_t *len)
{
    if (PQgetisnull(r, i, 0) || PQgetisnull(r, i, 1) || PQgetlength(r, i, 0) != 8)
        return -1;
    const uint8_t *b = (const uint8_t *)PQgetvalue(r, i, 0);
    uint64_t o = 0;
    for (int k = 0; k < 8; k++)
        o = o << 8 | b[k];
    *off = o;
    *data = (const uint8_t *)PQgetvalue(r, i, 1);
    *len = (size_t)PQgetlength(r, i, 1);
    return 0;
}

/* ------------------------------------------------------------ ML --- */

int store_metric(store_t *st, int64_t task_id, int attempt, int seq, const char *json)
{
    char t[24], a[24], q[24];
    const char *v[] = {I64(t, task_id), I64(a, attempt), I64(q, seq), json};
    return s_write(st, S_METRIC, 4, v);
}

int store_datasets(store_t *st, const char *datasets_json, int64_t run_id, int64_t task_id,
                   int attempt)
{
    char r[24], t[24], a[24];
    const char *v[] = {datasets_json, I64(r, run_id), I64(t, task_id), I64(a, attempt)};
    return s_write(st, S_DATASETS, 4, v);
}

int store_model_register(store_t *st, const char *name, const char *kind, const char *artifact,
                         int64_t run_id, const char *step, int64_t task_id, const char *dataset,
                         const char *params_json, const char *metrics_json,
                         const char *dataset_path, int *version)
{
    char r[24], t[24];
    const char *v[] = {name,    kind,        artifact,     I64(r, run_id), step, I64(t, task_id),
                       dataset, params_json, metrics_json, dataset_path};
    if (store_tx(st) < 0)
        return -1;
    PGresult *res = s_read(st, S_MODEL_REGISTER, 10, v);
    if (!res)
        return -1;
    *version = (int)db_get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

int store_artifacts_put(store_t *st, const char *artifacts_json, int64_t run_id, int64_t task_id,
                        const char *step, int attempt)
{
    char r[24], t[24], a[24];
    const char *v[] = {artifacts_json, I64(r, run_id), I64(t, task_id), step, I64(a, attempt)};
    return s_write(st, S_ARTIFACTS_PUT, 5, v);
}

int store_artifacts_stage(store_t *st, int64_t run_id, const char *wanted_json, int64_t task_id,
                          int attempt, char **staged_json)
{
    char r[24], t[24], a[24];
    const char *v[] = {I64(r, run_id), wanted_json, I64(t, task_id), I64(a, attempt)};
    *staged_json = NULL;
    if (store_tx(st) < 0)
        return -1;
    PGresult *res = s_read(st, S_ARTIFACTS_STAGE, 4, v);
    if (!res)
        return -1;
    *staged_json = strdup(PQntuples(res) == 1 ? db_get_str(res, 0, 0) : "{}");
    PQclear(res);
    return *staged_json ? 0 : -1;
}

int store_report(store_t *st, int64_t task_id, int attempt, const char *kind, int passed,
                 const char *report_json)
{
    char t[24], a[24];
    const char *v[] = {I64(t, task_id), I64(a, attempt), kind, passed ? "true" : "false",
                       report_json};
    return s_write(st, S_REPORT, 5, v);
}

int store_evaluation(store_t *st, const char *name, int version, int64_t run_id, int64_t task_id,
                     const char *dataset, const char *metrics_json, int passed,
                     const char *gate_json)
{
    char ver[24], r[24], t[24];
    const char *v[] = {
        name,         I64(ver, version),         I64(r, run_id), I64(t, task_id), dataset,
        metrics_json, passed ? "true" : "false", gate_json};
    return s_write(st, S_EVALUATION, 8, v);
}

PGresult *store_model_by_step(store_t *st, int64_t run_id, const char *step, int via_evaluation)
{
    char r[24];
    const char *v[] = {I64(r, run_id), step};
    return s_read(st, via_evaluation ? S_MODEL_BY_EVAL_STEP : S_MODEL_BY_STEP, 2, v);
}

PGresult *store_model_get(store_t *st, const char *name, int version)
{
    char ver[24];
    const char *v[] = {name, I64(ver, version)};
    return s_read(st, S_MODEL_GET, 2, v);
}

PGresult *store_model_production(store_t *st, const char *name)
{
    const char *v[] = {name};
    return s_read(st, S_MODEL_PRODUCTION, 1, v);
}

int store_set_stage(store_t *st, const char *name, int version, const char *from_stage,
                    const char *stage, const char *by, const char *reason, int *archived)
{
    char ver[24];
    *archived = 0;
    if (store_tx(st) < 0)
        return -1;
    if (strcmp(stage, "production") == 0) {
        const char *a[] = {name, I64(ver, version), by};
        PGresult *res = s_read(st, S_ARCHIVE_PRODUCTION, 3, a);
        if (!res)
            return -1;
        if (PQntuples(res) > 0)
            *archived = (int)db_get_i64(res, 0, 0);
        PQclear(res);
    }
    const char *v[] = {name, I64(ver, version), stage, by, reason, from_stage};
    return s_write(st, S_SET_STAGE, 6, v);
}

static char *s_json_text(store_t *st, int stmt, int n, const char *const *v)
{
    PGresult *res = s_read(st, stmt, n, v);
    if (!res)
        return NULL;
    char *out = strdup(PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return out;
}

char *store_report_json(store_t *st, int64_t run_id, const char *step)
{
    char r[24];
    const char *v[] = {I64(r, run_id), step};
    return s_json_text(st, S_REPORT_JSON, 2, v);
}

char *store_metrics_json(store_t *st, int64_t run_id, const char *step)
{
    char r[24];
    const char *v[] = {I64(r, run_id), step};
    return s_json_text(st, S_METRICS_JSON, 2, v);
}

char *store_models_json(store_t *st, const char *name)
{
    const char *v[] = {name ? name : ""};
    return s_json_text(st, S_MODELS_JSON, 1, v);
}

char *store_model_json(store_t *st, const char *name, int version)
{
    char ver[24];
    const char *v[] = {name, I64(ver, version)};
    return s_json_text(st, S_MODEL_JSON, 2, v);
}

int store_savepoint(store_t *st)
{
    if (store_tx(st) < 0 || s_flush(st) < 0)
        return -1;
    return db_simple(st->db, "SAVEPOINT outputs");
}

int store_request_begin(store_t *st)
{
    if (store_tx(st) < 0 || s_flush(st) < 0)
        return -1;
    return db_simple(st->db, "SAVEPOINT request");
}

int store_request_end(store_t *st, int ok)
{
    if (ok)
        return s_flush(st) < 0 ? -1 : db_simple(st->db, "RELEASE SAVEPOINT request");
    /* Buffered transitions already changed the model's memory: undoing
     * only their rows would leave memory and database apart, so that
     * case is left to the full reset. */
    if (st->npend)
        return -1;
    return db_simple(st->db, "ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request");
}

int store_batch_begin(store_t *st)
{
    if (st->npend)
        return store_request_begin(st);
    return db_begin_savepoint(st->db, "request");
}

int store_batch_end(store_t *st, int ok)
{
    if (!ok)
        return store_request_end(st, 0);
    /* Not released: the COMMIT ends it with the transaction, one round
     * trip less on the way from a submit to its first assignment. */
    return s_flush(st);
}

int store_savepoint_end(store_t *st, int ok)
{
    return db_simple(st->db, ok ? "RELEASE SAVEPOINT outputs"
                                : "ROLLBACK TO SAVEPOINT outputs; RELEASE SAVEPOINT outputs");
}

/* ---------------------------------------------------------- security --- */

PGresult *store_keys_load(store_t *st)
{
    return s_read(st, S_KEYS_LOAD, 0, NULL);
}

int store_key_insert(store_t *st, const char *name, const char *public_z85, const char *kind,
                     const char *role, const char *by)
{
    const char *v[] = {name, public_z85, kind, role ? role : "", by};
    if (store_tx(st) < 0)
        return -1;
    PGresult *r = s_read(st, S_KEY_INSERT, 5, v);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n;
}

int store_key_revoke(store_t *st, const char *name, const char *by)
{
    const char *v[] = {name, by};
    if (store_tx(st) < 0)
        return -1;
    PGresult *r = s_read(st, S_KEY_REVOKE, 2, v);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n;
}

/* ------------------------------------------------------- web tokens --- */

int store_webtokens_load(store_t *st, store_webtok_f fn, void *ctx)
{
    PGresult *r = s_read(st, S_WEBTOK_LOAD, 0, NULL);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = fn(ctx, db_get_i64(r, i, 0), db_get_str(r, i, 1), db_get_str(r, i, 2),
                db_get_i64(r, i, 3));
    PQclear(r);
    return rc;
}

int store_webtoken_insert(store_t *st, const char *sha256_hex, const char *key, const char *by,
                          int64_t ttl_s, int64_t *id, int64_t *expires_us)
{
    char t[24];
    const char *v[] = {sha256_hex, key, by, I64(t, ttl_s)};
    if (store_tx(st) < 0)
        return -1;
    PGresult *r = s_read(st, S_WEBTOK_INSERT, 4, v);
    if (!r)
        return -1;
    int ok = PQntuples(r) == 1;
    if (ok) {
        *id = db_get_i64(r, 0, 0);
        *expires_us = db_get_i64(r, 0, 1);
    }
    PQclear(r);
    if (!ok)
        errno = EPROTO;
    return ok ? 0 : -1;
}

int store_webtoken_revoke(store_t *st, int64_t id, const char *by)
{
    char b[24];
    const char *v[] = {I64(b, id), by};
    if (store_tx(st) < 0)
        return -1;
    PGresult *r = s_read(st, S_WEBTOK_REVOKE, 2, v);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n;
}

char *store_webtokens_json(store_t *st)
{
    return s_json_text(st, S_WEBTOK_LIST, 0, NULL);
}

char *store_grants_of_json(store_t *st, const char *key)
{
    const char *v[] = {key};
    return s_json_text(st, S_GRANTS_KEY, 1, v);
}

int store_run_notify(store_t *st, int64_t run_id, const char *webhook, const char *const *on,
                     size_t non)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < non; i++)
        if (json_array_append_new(a, json_string(on[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    char *kinds = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!kinds)
        return -1;
    char r[24];
    const char *v[] = {I64(r, run_id), webhook, kinds};
    int rc = s_write(st, S_RUN_NOTIFY, 3, v);
    free(kinds);
    return rc;
}

int store_schedule_missed(store_t *st, const char *detail, const char *webhook)
{
    const char *v[] = {detail, webhook};
    if (store_tx(st) < 0 || s_flush(st) < 0)
        return -1;
    PGresult *r = db_exec(st->db, s_stmts[S_SCHED_MISSED].name, 2, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r) {
        log_error("database: %s", db_error(st->db));
        return -1;
    }
    PQclear(r);
    return 0;
}

int store_stage_note(store_t *st, const char *name, int version, const char *by, const char *reason)
{
    char vb[24];
    const char *v[] = {name, I64(vb, version), by, reason};
    return s_write(st, S_STAGE_NOTE, 4, v);
}

int store_audit(store_t *st, int64_t run_id, const char *actor, const char *detail)
{
    char r[24];
    const char *v[] = {run_id ? I64(r, run_id) : NULL, actor, detail};
    return s_write(st, S_AUDIT, 3, v);
}

PGresult *store_queues_load(store_t *st)
{
    return s_read(st, S_QUEUES_LOAD, 0, NULL);
}

int store_queue_save(store_t *st, const char *name, uint32_t limit, int paused,
                     uint32_t time_limit_s)
{
    char l[24], tl[24];
    const char *v[] = {name, I64(l, limit), paused ? "true" : "false", I64(tl, time_limit_s)};
    return s_write(st, S_QUEUE_SAVE, 4, v);
}

int store_queue_delete(store_t *st, const char *name)
{
    const char *v[] = {name};
    return s_write(st, S_QUEUE_DELETE, 1, v);
}

/* ---------------------------------------------------------- calendar --- */

PGresult *store_sched_load(store_t *st)
{
    return s_read(st, S_SCHED_LOAD, 0, NULL);
}

int store_sched_upsert(store_t *st, const store_sched_t *sc, int64_t *created_us,
                       int64_t *last_due_us)
{
    char ma[24], mr[24], cm[24], la[24];
    const char *v[] = {sc->name,
                       sc->kind,
                       sc->cron,
                       sc->timezone,
                       sc->catchup,
                       I64(ma, sc->max_active),
                       sc->watch,
                       I64(mr, sc->min_new_rows),
                       (const char *)sc->request,
                       sc->created_by,
                       I64(cm, sc->catchup_max > 0 ? sc->catchup_max : 100),
                       I64(la, sc->lateness_s > 0 ? sc->lateness_s : 60),
                       sc->on_failure && *sc->on_failure ? sc->on_failure : "keep"};
    int lengths[13] = {0, 0, 0, 0, 0, 0, 0, 0, (int)sc->request_len, 0, 0, 0, 0};
    int formats[13] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    if (store_tx(st) < 0 || s_flush(st) < 0)
        return -1;
    PGresult *r =
        db_exec(st->db, s_stmts[S_SCHED_UPSERT].name, 13, v, lengths, formats, PGRES_TUPLES_OK);
    if (!r) {
        log_error("database: %s", db_error(st->db));
        return -1;
    }
    *created_us = db_get_i64(r, 0, 0);
    *last_due_us = db_get_i64(r, 0, 1);
    PQclear(r);
    return 0;
}

int store_sched_pause(store_t *st, const char *name, int paused, const char *reason)
{
    const char *v[] = {name, paused ? "true" : "false", reason ? reason : ""};
    return s_write(st, S_SCHED_PAUSE, 3, v);
}

int store_sched_delete(store_t *st, const char *name)
{
    const char *v[] = {name};
    return s_write(st, S_SCHED_DELETE, 1, v);
}

int store_sched_last_due(store_t *st, const char *name, int64_t due_us)
{
    char d[24];
    const char *v[] = {name, I64(d, due_us)};
    return s_write(st, S_SCHED_LAST_DUE, 2, v);
}

int store_fire_claim(store_t *st, const char *name, int64_t due_us, const char *outcome)
{
    char d[24];
    const char *v[] = {name, I64(d, due_us), outcome};
    if (store_tx(st) < 0)
        return -1;
    PGresult *r = s_read(st, S_FIRE_CLAIM, 3, v);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n;
}

int store_fire_run(store_t *st, const char *name, int64_t due_us, int64_t run_id)
{
    char d[24], r[24];
    const char *v[] = {name, I64(d, due_us), I64(r, run_id)};
    return s_write(st, S_FIRE_RUN, 3, v);
}

PGresult *store_fire_last(store_t *st, const char *name)
{
    const char *v[] = {name};
    return s_read(st, S_FIRE_LAST, 1, v);
}

PGresult *store_trigger_release(store_t *st, const char *name, int64_t run_id)
{
    char r[24];
    const char *v[] = {name, I64(r, run_id)};
    if (store_tx(st) < 0)
        return NULL;
    return s_read(st, S_TRIGGER_RELEASE, 2, v);
}

int store_rerun_source(store_t *st, int64_t run_id, store_rerun_f fn, void *ctx)
{
    char r[24];
    const char *v[] = {I64(r, run_id)};
    PGresult *res = s_read(st, S_RERUN_SOURCE, 1, v);
    if (!res)
        return -1;
    int n = PQntuples(res), rc = n;
    for (int i = 0; i < n && rc >= 0; i++) {
        store_rerun_row_t row = {.workflow = db_get_str(res, i, 0),
                                 .queue = db_get_str(res, i, 1),
                                 .priority = (int)db_get_i64(res, i, 2),
                                 .submitted_key = db_get_str(res, i, 3),
                                 .run_state = db_get_str(res, i, 4),
                                 .task_id = db_get_i64(res, i, 5),
                                 .name = db_get_str(res, i, 6),
                                 .kind = db_get_str(res, i, 7),
                                 .spec = db_get_str(res, i, 8),
                                 .state = db_get_str(res, i, 9),
                                 .retries = (int)db_get_i64(res, i, 10),
                                 .timeout_ms = db_get_i64(res, i, 11),
                                 .retry_delay_ms = db_get_i64(res, i, 12),
                                 .resources = db_get_str(res, i, 13),
                                 .reused_from = db_get_i64(res, i, 14),
                                 .after = db_get_str(res, i, 15)};
        if (fn(ctx, i, &row) < 0)
            rc = -1;
    }
    PQclear(res);
    return rc;
}

int store_fire_dequeue(store_t *st, const char *name, int64_t *due_us)
{
    const char *v[] = {name};
    if (store_tx(st) < 0)
        return -1;
    PGresult *r = s_read(st, S_FIRE_DEQUEUE, 1, v);
    if (!r)
        return -1;
    int n = PQntuples(r) > 0;
    *due_us = n ? db_get_i64(r, 0, 0) : 0;
    PQclear(r);
    return n;
}

PGresult *store_trigger_files(store_t *st)
{
    return s_read(st, S_TRIGGER_FILES, 0, NULL);
}

int store_trigger_consume(store_t *st, const char *name, const char *files_json, int64_t run_id)
{
    char r[24];
    const char *v[] = {name, files_json, I64(r, run_id)};
    if (store_tx(st) < 0)
        return -1;
    PGresult *res = s_read(st, S_TRIGGER_CONSUME, 3, v);
    if (!res)
        return -1;
    int n = PQntuples(res);
    PQclear(res);
    return n;
}

PGresult *store_model_metric_by_step(store_t *st, int64_t run_id, const char *step,
                                     const char *metric)
{
    char r[24];
    const char *v[] = {I64(r, run_id), step, metric};
    return s_read(st, S_MODEL_METRIC_BY_STEP, 3, v);
}

PGresult *store_select_choice(store_t *st, int64_t run_id, const char *step)
{
    char r[24];
    const char *v[] = {I64(r, run_id), step};
    return s_read(st, S_SELECT_CHOICE, 2, v);
}

/* ----------------------------------------------------------- retention ---
 * The statements of coordinator/gc.c, prepared on gc's own connection
 * (store_prepare_gc). Each prunes one window of a table, oldest first by
 * its key, deleting only the window's rows older than the cutoff, in one
 * autocommit statement (row locks on those rows only, for the statement's
 * time), joined back by primary key. Every statement returns: deleted, the
 * window's last key, the window's size, and whether the window held
 * anything old at all. */

enum { G_EVENTS, G_AUDIT, G_LOGS, G_METRICS, G_RUNS, G_COUNT };

static const db_stmt_t s_gc_stmts[G_COUNT] = {
    [G_EVENTS] =
        {"gc_events",
         "WITH w AS (SELECT id, at FROM drover.events WHERE id >= $1::bigint AND kind <> "
         "'command' ORDER BY id LIMIT $2::int), "
         "d AS (DELETE FROM drover.events x USING w WHERE x.id = w.id AND w.at < " TS(
             "$3") " RETURNING 1) "
                   "SELECT (SELECT count(*) FROM d), coalesce((SELECT max(id) FROM w), -1), "
                   "(SELECT count(*) FROM w), coalesce((SELECT min(at) < " TS(
                       "$3") " FROM w), false)",
         3},
    [G_AUDIT] =
        {"gc_audit",
         "WITH w AS (SELECT id, at FROM drover.events WHERE id >= $1::bigint AND kind = "
         "'command' ORDER BY id LIMIT $2::int), "
         "d AS (DELETE FROM drover.events x USING w WHERE x.id = w.id AND w.at < " TS(
             "$3") " RETURNING 1) "
                   "SELECT (SELECT count(*) FROM d), coalesce((SELECT max(id) FROM w), -1), "
                   "(SELECT count(*) FROM w), coalesce((SELECT min(at) < " TS(
                       "$3") " FROM w), false)",
         3},
    /* Logs and metrics by their primary key, task_id first. */
    [G_LOGS] =
        {"gc_logs",
         "WITH w AS (SELECT task_id, attempt, stream, offset_bytes, at FROM drover.task_logs "
         "WHERE task_id >= $1::bigint ORDER BY task_id, attempt, stream, offset_bytes "
         "LIMIT $2::int), "
         "d AS (DELETE FROM drover.task_logs x USING w WHERE x.task_id = w.task_id AND "
         "x.attempt = w.attempt AND x.stream = w.stream AND x.offset_bytes = w.offset_bytes "
         "AND w.at < " TS(
             "$3") " RETURNING 1) "
                   "SELECT (SELECT count(*) FROM d), coalesce((SELECT max(task_id) FROM w), -1), "
                   "(SELECT count(*) FROM w), coalesce((SELECT min(at) < " TS(
                       "$3") " FROM w), false)",
         3},
    [G_METRICS] =
        {"gc_metrics",
         "WITH w AS (SELECT task_id, attempt, seq, at FROM drover.task_metrics WHERE "
         "task_id >= $1::bigint ORDER BY task_id, attempt, seq LIMIT $2::int), "
         "d AS (DELETE FROM drover.task_metrics x USING w WHERE x.task_id = w.task_id AND "
         "x.attempt = w.attempt AND x.seq = w.seq AND w.at < " TS(
             "$3") " RETURNING 1) "
                   "SELECT (SELECT count(*) FROM d), coalesce((SELECT max(task_id) FROM w), -1), "
                   "(SELECT count(*) FROM w), coalesce((SELECT min(at) < " TS(
                       "$3") " FROM w), false)",
         3},
    /* Finished runs (their tasks, logs, metrics, reports go with them by
     * ON DELETE CASCADE), except a run a model version or an evaluation
     * names: the registry's lineage is never cut. */
    [G_RUNS] =
        {"gc_runs",
         "WITH w AS (SELECT id AS k, coalesce(finished_at, submitted_at) AS at, state FROM "
         "drover.runs WHERE id >= $1::bigint ORDER BY id LIMIT $2::int), "
         "d AS (DELETE FROM drover.runs r USING w WHERE r.id = w.k AND w.state <> 'running' "
         "AND w.at < " TS(
             "$3") " AND NOT EXISTS (SELECT 1 FROM drover.model_versions v "
                   "WHERE v.run_id = r.id) AND NOT EXISTS (SELECT 1 FROM drover.model_evaluations e "
                   "WHERE e.run_id = r.id) RETURNING 1) "
                   "SELECT (SELECT count(*) FROM d), coalesce((SELECT max(k) FROM w), -1), "
                   "(SELECT count(*) FROM w), coalesce((SELECT min(at) < " TS(
                       "$3") " FROM w), false)",
         3},
};

int store_prepare_gc(store_t *st)
{
    return db_prepare(st->db, s_gc_stmts, G_COUNT);
}

int store_gc_window(store_t *st, store_gc_table_t table, int64_t from, int limit, int64_t cutoff_us,
                    store_gc_window_t *out)
{
    static const int stmt_of[] = {[STORE_GC_EVENTS] = G_EVENTS,
                                  [STORE_GC_AUDIT] = G_AUDIT,
                                  [STORE_GC_LOGS] = G_LOGS,
                                  [STORE_GC_METRICS] = G_METRICS,
                                  [STORE_GC_RUNS] = G_RUNS};
    char a[24], b[16], c[24];
    snprintf(a, sizeof a, "%" PRId64, from);
    snprintf(b, sizeof b, "%d", limit);
    snprintf(c, sizeof c, "%" PRId64, cutoff_us);
    const char *v[] = {a, b, c};
    PGresult *r =
        db_exec(st->db, s_gc_stmts[stmt_of[table]].name, 3, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    out->deleted = db_get_i64(r, 0, 0);
    out->last_key = db_get_i64(r, 0, 1);
    out->window = db_get_i64(r, 0, 2);
    out->any_old = !strcmp(db_get_str(r, 0, 3), "t");
    PQclear(r);
    return 0;
}

/* -------------------------------------------------------- notifications ---
 * The statements of coordinator/notify.c, on its own connection
 * (store_prepare_notify). Rows are enqueued by a trigger (migration 010). */

enum { N_DUE, N_DELIVERED, N_RETRY, N_COUNT };

static const db_stmt_t s_notify_stmts[N_COUNT] = {
    /* -> event_id, kind, run_id, at (us), attempts, workflow, detail, webhook */
    [N_DUE] =
        {"notify_due",
         "SELECT n.event_id, n.kind, coalesce(n.run_id, 0), " US(
             "n.at") ", n.attempts, "
                     "coalesce(r.workflow, ''), coalesce(e.detail, ''), n.webhook "
                     "FROM drover.notifications n "
                     "LEFT JOIN drover.runs r ON r.id = n.run_id LEFT JOIN drover.events e ON e.id = "
                     "n.event_id WHERE n.delivered_at IS NULL AND n.next_at <= clock_timestamp() "
                     "ORDER BY n.event_id, n.webhook LIMIT $1::int",
         1},
    [N_DELIVERED] = {"notify_delivered",
                     "UPDATE drover.notifications SET delivered_at = clock_timestamp(), attempts = "
                     "attempts + $3::int, status = nullif($2::int, 0), last_error = nullif($4, '') "
                     "WHERE event_id = $1::bigint AND webhook = $5",
                     5},
    [N_RETRY] = {"notify_retry",
                 "UPDATE drover.notifications SET attempts = attempts + 1, next_at = "
                 "clock_timestamp() + $3::bigint * interval '1 millisecond', status = "
                 "nullif($2::int, 0), last_error = $4 WHERE event_id = $1::bigint AND webhook = $5",
                 5},
};

int store_prepare_notify(store_t *st)
{
    return db_prepare(st->db, s_notify_stmts, N_COUNT);
}

PGresult *store_notify_due(store_t *st, int limit)
{
    char l[16];
    snprintf(l, sizeof l, "%d", limit);
    const char *v[] = {l};
    return db_exec(st->db, s_notify_stmts[N_DUE].name, 1, v, NULL, NULL, PGRES_TUPLES_OK);
}

int store_notify_result(store_t *st, int64_t event_id, const char *webhook, int delivered,
                        int attempts, int status, int64_t retry_ms, const char *error)
{
    char id[24], s[16], x[24];
    snprintf(id, sizeof id, "%" PRId64, event_id);
    snprintf(s, sizeof s, "%d", status);
    if (delivered)
        snprintf(x, sizeof x, "%d", attempts);
    else
        snprintf(x, sizeof x, "%" PRId64, retry_ms);
    const char *v[] = {id, s, x, error ? error : "", webhook ? webhook : ""};
    int stmt = delivered ? N_DELIVERED : N_RETRY;
    PGresult *r = db_exec(st->db, s_notify_stmts[stmt].name, 5, v, NULL, NULL, PGRES_COMMAND_OK);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int store_notify_enabled(store_t *st, int on)
{
    /* Constant statements: no parameter, nothing from a peer. */
    return db_simple(st->db, on ? "UPDATE drover.notify_config SET enabled = true WHERE id = 1"
                                : "UPDATE drover.notify_config SET enabled = false WHERE id = 1");
}
