/* store — see store.h. Timestamps cross the boundary as bigint microseconds
 * since the epoch, exactly, in both directions. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct store {
    db_t *db;
};

#define US(col) "(extract(epoch from " col ") * 1000000)::bigint"
#define TS(p) "('epoch'::timestamptz + " p "::bigint * interval '1 microsecond')"

enum {
    S_LOCK, S_RUN_INSERT, S_TASKS_INSERT, S_DEPS_INSERT, S_SUBMIT_EVENTS, S_TASK_SAVE,
    S_RUN_SAVE, S_EVENT, S_LOG, S_WORKER_UP, S_WORKER_STATE, S_WORKERS_SEEN, S_LOAD_RUNS,
    S_LOAD_TASKS, S_LOAD_DEPS, S_RUNS_LIST, S_RUN_GET, S_RUN_TASKS, S_TASK_BY_NAME, S_LOGS,
    S_COUNT
};

#define RUN_COLS                                                                                 \
    "r.id, r.workflow, r.state, " US("r.submitted_at") ", " US("r.started_at") ", "           \
    US("r.finished_at") ", r.tasks_total, "                                                     \
    "(SELECT count(*) FROM drover.tasks t WHERE t.run_id = r.id AND t.state IN "              \
    "('succeeded', 'failed', 'skipped', 'cancelled'))"

static const db_stmt_t s_stmts[S_COUNT] = {
    [S_LOCK] = {"lock", "SELECT pg_try_advisory_lock(7237420573318000002)", 0},
    /* -> id, submitted_us */
    [S_RUN_INSERT] = {"run_insert",
                      "INSERT INTO drover.runs (workflow, source, submitted_by, tasks_total, started_at) "
                      "VALUES ($1, $2, $3, $4::int, clock_timestamp()) "
                      "RETURNING id, " US("submitted_at"), 4},
    /* -> id, idx */
    [S_TASKS_INSERT] = {"tasks_insert",
                        "INSERT INTO drover.tasks (run_id, idx, name, kind, spec, state, retries, "
                        "timeout_ms, retry_delay_ms) "
                        "SELECT $1::bigint, (e->>'idx')::int, e->>'name', e->>'kind', "
                        "(e->>'spec')::jsonb, e->>'state', (e->>'retries')::int, "
                        "(e->>'timeout_ms')::bigint, (e->>'retry_delay_ms')::bigint "
                        "FROM jsonb_array_elements($2::jsonb) e ORDER BY (e->>'idx')::int "
                        "RETURNING id, idx", 2},
    [S_DEPS_INSERT] = {"deps_insert",
                       "INSERT INTO drover.task_deps (task_id, depends_on) "
                       "SELECT c.id, p.id FROM jsonb_array_elements($2::jsonb) d "
                       "JOIN drover.tasks c ON c.run_id = $1::bigint AND c.idx = (d->>0)::int "
                       "JOIN drover.tasks p ON p.run_id = $1::bigint AND p.idx = (d->>1)::int", 2},
    [S_SUBMIT_EVENTS] = {"submit_events",
                         "INSERT INTO drover.events (run_id, task_id, attempt, kind, to_state, detail) "
                         "SELECT $1::bigint, NULL::bigint, NULL::int, 'run_state', 'running', $2 "
                         "UNION ALL "
                         "(SELECT run_id, id, 0, 'task_state', state, NULL FROM drover.tasks "
                         "WHERE run_id = $1::bigint ORDER BY id)", 2},
    [S_TASK_SAVE] = {"task_save",
                     "WITH u AS (UPDATE drover.tasks SET state = $2, attempt = $3::int, worker = $4, "
                     "failures = $5::int, lost = $6::int, exit_code = $7::int, error = $8, "
                     "started_at = " TS("$9") ", finished_at = " TS("$10") ", "
                     "not_before = " TS("$11") " WHERE id = $1::bigint RETURNING run_id) "
                     "INSERT INTO drover.events (run_id, task_id, attempt, kind, from_state, "
                     "to_state, worker, detail) "
                     "SELECT run_id, $1::bigint, $3::int, 'task_state', $12, $2, $4, $13 FROM u", 13},
    [S_RUN_SAVE] = {"run_save",
                    "WITH u AS (UPDATE drover.runs SET state = $2, finished_at = CASE WHEN $2 = "
                    "'running' THEN NULL ELSE clock_timestamp() END WHERE id = $1::bigint RETURNING id) "
                    "INSERT INTO drover.events (run_id, kind, from_state, to_state, detail) "
                    "SELECT id, 'run_state', $3, $2, $4 FROM u", 4},
    [S_EVENT] = {"event",
                 "INSERT INTO drover.events (run_id, task_id, attempt, kind, worker, detail) "
                 "VALUES ($1::bigint, $2::bigint, $3::int, $4, $5, $6)", 6},
    [S_LOG] = {"log",
               "INSERT INTO drover.task_logs (task_id, attempt, stream, offset_bytes, data) "
               "VALUES ($1::bigint, $2::int, $3::smallint, $4::bigint, $5::bytea) ON CONFLICT DO NOTHING", 5},
    [S_WORKER_UP] = {"worker_up",
                     "WITH u AS (INSERT INTO drover.workers (name, host, slots, labels, state) "
                     "VALUES ($1, $2, $3::int, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
                     "'connected') ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, "
                     "slots = EXCLUDED.slots, labels = EXCLUDED.labels, state = 'connected', "
                     "last_seen = clock_timestamp() RETURNING name) "
                     "INSERT INTO drover.events (kind, worker, detail) "
                     "SELECT 'worker_registered', name, $5 FROM u", 5},
    [S_WORKER_STATE] = {"worker_state",
                        "WITH u AS (UPDATE drover.workers SET state = $2, last_seen = clock_timestamp() "
                        "WHERE name = $1 RETURNING name) "
                        "INSERT INTO drover.events (kind, worker, to_state, detail) "
                        "SELECT 'worker_state', name, $2, $3 FROM u", 3},
    [S_WORKERS_SEEN] = {"workers_seen",
                        "UPDATE drover.workers SET last_seen = clock_timestamp() "
                        "WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))", 1},
    /* -> id, workflow, submitted_us, started_us */
    [S_LOAD_RUNS] = {"load_runs",
                     "SELECT id, workflow, " US("submitted_at") ", " US("started_at")
                     " FROM drover.runs WHERE state = 'running' ORDER BY id", 0},
    /* -> 0 id, 1 run_id, 2 idx, 3 name, 4 kind, 5 spec, 6 state, 7 attempt, 8 retries,
     *    9 failures, 10 lost, 11 timeout_ms, 12 retry_delay_ms, 13 not_before_us,
     *    14 worker, 15 started_us */
    [S_LOAD_TASKS] = {"load_tasks",
                      "SELECT t.id, t.run_id, t.idx, t.name, t.kind, t.spec::text, t.state, t.attempt, "
                      "t.retries, t.failures, t.lost, t.timeout_ms, t.retry_delay_ms, "
                      US("t.not_before") ", t.worker, " US("t.started_at")
                      " FROM drover.tasks t JOIN drover.runs r ON r.id = t.run_id "
                      "WHERE r.state = 'running' ORDER BY t.run_id, t.idx", 0},
    /* -> task_id, depends_on */
    [S_LOAD_DEPS] = {"load_deps",
                     "SELECT d.task_id, d.depends_on FROM drover.task_deps d "
                     "JOIN drover.tasks t ON t.id = d.task_id JOIN drover.runs r ON r.id = t.run_id "
                     "WHERE r.state = 'running'", 0},
    /* -> id, workflow, state, submitted_us, started_us, finished_us, total, done */
    [S_RUNS_LIST] = {"runs_list", "SELECT " RUN_COLS " FROM drover.runs r ORDER BY r.id DESC LIMIT $1::int", 1},
    [S_RUN_GET] = {"run_get", "SELECT " RUN_COLS " FROM drover.runs r WHERE r.id = $1::bigint", 1},
    /* -> 0 id, 1 name, 2 kind, 3 state, 4 attempt, 5 worker, 6 started_us, 7 finished_us,
     *    8 exit_code, 9 error, 10 retries, 11 after (comma-separated) */
    [S_RUN_TASKS] = {"run_tasks",
                     "SELECT t.id, t.name, t.kind, t.state, t.attempt, coalesce(t.worker, ''), "
                     US("t.started_at") ", " US("t.finished_at") ", t.exit_code, coalesce(t.error, ''), "
                     "t.retries, coalesce((SELECT string_agg(p.name, ',' ORDER BY p.idx) "
                     "FROM drover.task_deps d JOIN drover.tasks p ON p.id = d.depends_on "
                     "WHERE d.task_id = t.id), '') "
                     "FROM drover.tasks t WHERE t.run_id = $1::bigint ORDER BY t.idx", 1},
    /* -> id, attempt, state */
    [S_TASK_BY_NAME] = {"task_by_name",
                        "SELECT id, attempt, state FROM drover.tasks WHERE run_id = $1::bigint AND name = $2", 2},
    /* -> stream, offset, data (bytea) */
    [S_LOGS] = {"logs",
                "SELECT stream, offset_bytes, data FROM drover.task_logs "
                "WHERE task_id = $1::bigint AND attempt = $2::int AND ("
                "(stream = 1 AND offset_bytes + length(data) > $3::bigint) OR "
                "(stream = 2 AND offset_bytes + length(data) > $4::bigint)) "
                "ORDER BY stream, offset_bytes LIMIT 256", 4},
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
    free(*sp);
    *sp = NULL;
}

db_t *store_db(store_t *st) { return st->db; }

int store_prepare(store_t *st) { return db_prepare(st->db, s_stmts, S_COUNT); }

int store_tx(store_t *st) { return db_begin(st->db); }

static int s_write(store_t *st, int stmt, int n, const char *const *v)
{
    if (store_tx(st) < 0)
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
    PGresult *r = db_exec(st->db, s_stmts[stmt].name, n, v, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        log_error("database: %s", db_error(st->db));
    return r;
}

int store_try_lock(store_t *st)
{
    PGresult *r = s_read(st, S_LOCK, 0, NULL);
    if (!r)
        return -1;
    int got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return got;
}

#define I64(buf, v) (snprintf(buf, sizeof buf, "%" PRId64, (int64_t)(v)), buf)

int store_submit(store_t *st, const char *workflow, const char *source, const char *by,
                 int ntasks, const char *tasks_json, const char *deps_json, int64_t *run_id,
                 int64_t *submitted_us, int64_t *task_ids)
{
    char nb[24], rb[24];
    if (store_tx(st) < 0)
        return -1;
    const char *v1[] = {workflow, source, by, I64(nb, ntasks)};
    PGresult *r = db_exec(st->db, s_stmts[S_RUN_INSERT].name, 4, v1, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        goto fail;
    *run_id = db_get_i64(r, 0, 0);
    *submitted_us = db_get_i64(r, 0, 1);
    PQclear(r);
    const char *v2[] = {I64(rb, *run_id), tasks_json};
    r = db_exec(st->db, s_stmts[S_TASKS_INSERT].name, 2, v2, NULL, NULL, PGRES_TUPLES_OK);
    if (!r)
        goto fail;
    if (PQntuples(r) != ntasks) {
        PQclear(r);
        log_error("database: inserted %d tasks, expected %d", PQntuples(r), ntasks);
        return -1;
    }
    for (int i = 0; i < ntasks; i++) {
        int64_t idx = db_get_i64(r, i, 1);
        if (idx < 0 || idx >= ntasks) {
            PQclear(r);
            return -1;
        }
        task_ids[idx] = db_get_i64(r, i, 0);
    }
    PQclear(r);
    const char *v3[] = {rb, deps_json};
    if (s_write(st, S_DEPS_INSERT, 2, v3) < 0)
        return -1;
    const char *v4[] = {rb, source};
    return s_write(st, S_SUBMIT_EVENTS, 2, v4);
fail:
    log_error("database: %s", db_error(st->db));
    return -1;
}

int store_task_save(store_t *st, const store_task_row_t *t, const char *from_state,
                    const char *detail)
{
    char id[24], att[24], fl[24], lo[24], ex[24], sa[24], fi[24], nb[24];
    const char *v[] = {
        I64(id, t->id),
        t->state,
        I64(att, t->attempt),
        t->worker && *t->worker ? t->worker : NULL,
        I64(fl, t->failures),
        I64(lo, t->lost),
        t->has_exit_code ? I64(ex, t->exit_code) : NULL,
        t->error,
        t->started_us ? I64(sa, t->started_us) : NULL,
        t->finished_us ? I64(fi, t->finished_us) : NULL,
        t->not_before_us ? I64(nb, t->not_before_us) : NULL,
        from_state,
        detail,
    };
    return s_write(st, S_TASK_SAVE, 13, v);
}

int store_run_save(store_t *st, int64_t run_id, const char *state, const char *from_state,
                   const char *detail)
{
    char id[24];
    const char *v[] = {I64(id, run_id), state, from_state, detail};
    return s_write(st, S_RUN_SAVE, 4, v);
}

int store_event(store_t *st, int64_t run_id, int64_t task_id, int attempt, const char *kind,
                const char *worker, const char *detail)
{
    char r[24], t[24], a[24];
    const char *v[] = {run_id ? I64(r, run_id) : NULL, task_id ? I64(t, task_id) : NULL,
                       task_id ? I64(a, attempt) : NULL, kind, worker, detail};
    return s_write(st, S_EVENT, 6, v);
}

int store_log(store_t *st, int64_t task_id, int attempt, int stream, uint64_t offset,
              const uint8_t *data, size_t len)
{
    char t[24], a[24], s[24], o[24];
    const char *v[] = {I64(t, task_id), I64(a, attempt), I64(s, stream), I64(o, offset),
                       (const char *)data};
    int lengths[] = {0, 0, 0, 0, (int)len};
    int formats[] = {0, 0, 0, 0, 1};
    if (store_tx(st) < 0)
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
                    const char *labels_json, const char *detail)
{
    char s[24];
    const char *v[] = {name, host, I64(s, slots), labels_json, detail};
    return s_write(st, S_WORKER_UP, 5, v);
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

PGresult *store_load_runs(store_t *st) { return s_read(st, S_LOAD_RUNS, 0, NULL); }
PGresult *store_load_tasks(store_t *st) { return s_read(st, S_LOAD_TASKS, 0, NULL); }
PGresult *store_load_deps(store_t *st) { return s_read(st, S_LOAD_DEPS, 0, NULL); }

PGresult *store_runs_list(store_t *st, int limit)
{
    char l[24];
    const char *v[] = {I64(l, limit)};
    return s_read(st, S_RUNS_LIST, 1, v);
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

PGresult *store_logs(store_t *st, int64_t task_id, int attempt, uint64_t out_off, uint64_t err_off)
{
    char t[24], a[24], o[24], e[24];
    const char *v[] = {I64(t, task_id), I64(a, attempt), I64(o, out_off), I64(e, err_off)};
    return s_read(st, S_LOGS, 4, v);
}
