/* db — see db.h. */
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "sdnotify.h"
#include "util.h"

/* Server notices (e.g. "schema already exists") are chatter, not errors. */
static void s_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("database notice: %s", message);
}

struct db {
    char *conninfo;
    PGconn *conn;
    int in_tx;
    /* What db_begin_savepoint asked for and has not sent yet: it goes with
     * the next statement, in one round trip (s_exec_deferred), or not at
     * all if the transaction ends first. defer_sp[0] == '\0': nothing. */
    int defer_begin;
    char defer_sp[64];
    char err[1024];
};

db_t *db_new(const char *conninfo)
{
    db_t *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->conninfo = strdup(conninfo);
    if (!db->conninfo) {
        free(db);
        errno = ENOMEM;
        return NULL;
    }
    return db;
}

void db_destroy(db_t **dbp)
{
    if (!dbp || !*dbp)
        return;
    db_disconnect(*dbp);
    free((*dbp)->conninfo);
    free(*dbp);
    *dbp = NULL;
}

/* First line of libpq's message, which can span several lines. */
static void s_set_err(db_t *db, const char *prefix, const char *msg)
{
    snprintf(db->err, sizeof db->err, "%s%s", prefix, msg ? msg : "");
    char *nl = strchr(db->err, '\n');
    if (nl)
        *nl = '\0';
}

void db_disconnect(db_t *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->in_tx = 0;
    db->defer_sp[0] = '\0';
}

/* Sends the deferred BEGIN / SAVEPOINT on their own (what is about to run
 * cannot carry them). 0, or -1 with db_error(). */
static int s_undefer(db_t *db)
{
    if (!db->defer_sp[0])
        return 0;
    char sql[96];
    snprintf(sql, sizeof sql, "%sSAVEPOINT %s", db->defer_begin ? "BEGIN; " : "", db->defer_sp);
    db->defer_sp[0] = '\0';
    PGresult *r = db->conn ? PQexec(db->conn, sql) : NULL;
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        s_set_err(db, "",
                  r          ? PQresultErrorMessage(r)
                  : db->conn ? PQerrorMessage(db->conn)
                             : "not connected to the database");
        /* BEGIN may have run and the SAVEPOINT failed: the server then
         * holds an (aborted) transaction that db_rollback must end. */
        db->in_tx = db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE;
    }
    PQclear(r);
    return ok ? 0 : -1;
}

int db_connect_once(db_t *db)
{
    db_disconnect(db);
    PGconn *c = PQconnectdb(db->conninfo);
    if (c && PQstatus(c) == CONNECTION_OK) {
        db->conn = c;
        PQsetNoticeProcessor(c, s_notice, NULL);
        /* Timestamps are written and read as UTC microseconds. */
        if (db_simple(db, "SET TIME ZONE 'UTC'") < 0) {
            db_disconnect(db);
            return -1;
        }
        log_info("connected to the database %s on %s:%s", PQdb(c), PQhost(c), PQport(c));
        return 0;
    }
    /* Never log the conninfo itself: it may hold a password. */
    s_set_err(db, "", c ? PQerrorMessage(c) : "out of memory");
    if (c)
        PQfinish(c);
    return -1;
}

int db_connect_retry(db_t *db, volatile int *stop)
{
    int64_t delay = 100;
    db_disconnect(db);
    for (;;) {
        if (db_connect_once(db) == 0)
            return 0;
        if (db->err[0])
            log_warn("cannot connect to the database (%s); retrying in %.1fs", db->err,
                     (double)delay / 1000.0);
        /* Waiting for the database is progress, not a hang (systemd's
         * watchdog must not restart a coordinator for an outage). */
        if (sdnotify_watchdog_ms())
            (void)sdnotify_send("WATCHDOG=1");
        struct timespec ts = {delay / 1000, (delay % 1000) * 1000000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            if (stop && *stop)
                return -1;
        if (stop && *stop)
            return -1;
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}

int db_ok(const db_t *db)
{
    return db->conn && PQstatus(db->conn) == CONNECTION_OK;
}
PGconn *db_conn(db_t *db)
{
    return db->conn;
}
const char *db_error(const db_t *db)
{
    return db->err;
}

int db_prepare(db_t *db, const db_stmt_t *stmts, size_t n)
{
    if (s_undefer(db) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        PGresult *r = PQprepare(db->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
            char pfx[160];
            snprintf(pfx, sizeof pfx, "prepare %s: ", stmts[i].name);
            s_set_err(db, pfx, r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

/* The next result of a pipeline, up to its sync: NULL at the sync, or
 * with *gone = 1 when the connection went (two NULLs in a row: each query's
 * results end with one). */
static PGresult *s_pipe_next(PGconn *c, int *gone)
{
    int nulls = 0;
    for (;;) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            if (++nulls >= 2 || PQstatus(c) != CONNECTION_OK) {
                *gone = 1;
                return NULL;
            }
            continue;
        }
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
            return r;
        PQclear(r);
        return NULL;
    }
}

/* The deferred BEGIN / SAVEPOINT and statement `name` in one round trip
 * (pipeline mode): results BEGIN?, SAVEPOINT, the statement, then the sync.
 * On any failure the transaction is marked open as the server has it, so
 * the caller's rollback (to the savepoint, or of it all) finds it. */
static PGresult *s_exec_deferred(db_t *db, const char *name, int nparams, const char *const *values,
                                 const int *lengths, const int *formats, ExecStatusType expect,
                                 int binary)
{
    PGconn *c = db->conn;
    char sp[96];
    int begin = db->defer_begin;
    snprintf(sp, sizeof sp, "SAVEPOINT %s", db->defer_sp);
    db->defer_sp[0] = '\0';
    if (PQenterPipelineMode(c) != 1) {
        s_set_err(db, "pipeline: ", PQerrorMessage(c));
        db->in_tx = PQtransactionStatus(c) != PQTRANS_IDLE;
        return NULL;
    }
    int ok = (!begin || PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1) &&
             PQsendQueryParams(c, sp, 0, NULL, NULL, NULL, NULL, 0) == 1 &&
             PQsendQueryPrepared(c, name, nparams, values, lengths, formats, binary) == 1 &&
             PQpipelineSync(c) == 1;
    if (!ok)
        s_set_err(db, "pipeline: ", PQerrorMessage(c));
    PGresult *out = NULL, *r;
    int stage = 0, gone = 0, mine = begin ? 2 : 1;
    while ((r = s_pipe_next(c, &gone))) {
        ExecStatusType st = PQresultStatus(r);
        if (stage == mine && st == expect && ok) {
            out = r;
        } else {
            if (ok && (stage == mine || st != PGRES_COMMAND_OK)) {
                char pfx[160];
                snprintf(pfx, sizeof pfx, "%s: ", stage == mine ? name : sp);
                s_set_err(db, pfx, PQresultErrorMessage(r));
                ok = 0;
            }
            PQclear(r);
        }
        stage++;
    }
    if (gone)
        ok = 0;
    if (PQexitPipelineMode(c) != 1 && ok) {
        s_set_err(db, "pipeline: ", PQerrorMessage(c));
        ok = 0;
    }
    db->in_tx = PQtransactionStatus(c) != PQTRANS_IDLE;
    if (!ok || !out) {
        if (ok)
            s_set_err(db, "pipeline: ", "no result");
        PQclear(out);
        return NULL;
    }
    return out;
}

static PGresult *s_exec(db_t *db, const char *name, int nparams, const char *const *values,
                        const int *lengths, const int *formats, ExecStatusType expect, int binary)
{
    if (!db->conn) {
        s_set_err(db, "", "not connected to the database");
        return NULL;
    }
    if (db->defer_sp[0])
        return s_exec_deferred(db, name, nparams, values, lengths, formats, expect, binary);
    PGresult *r = PQexecPrepared(db->conn, name, nparams, values, lengths, formats, binary);
    if (!r || PQresultStatus(r) != expect) {
        char pfx[160];
        snprintf(pfx, sizeof pfx, "%s: ", name);
        s_set_err(db, pfx, r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
        PQclear(r);
        return NULL;
    }
    return r;
}

PGresult *db_exec(db_t *db, const char *name, int nparams, const char *const *values,
                  const int *lengths, const int *formats, ExecStatusType expect)
{
    return s_exec(db, name, nparams, values, lengths, formats, expect, 0);
}

PGresult *db_exec_binary(db_t *db, const char *name, int nparams, const char *const *values)
{
    return s_exec(db, name, nparams, values, NULL, NULL, PGRES_TUPLES_OK, 1);
}

int db_simple(db_t *db, const char *sql)
{
    if (!db->conn) {
        s_set_err(db, "", "not connected to the database");
        return -1;
    }
    if (s_undefer(db) < 0)
        return -1;
    PGresult *r = PQexec(db->conn, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        s_set_err(db, "", r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

int db_exec_commit(db_t *db, const char *name, int nparams, const char *const *values)
{
    PGconn *c = db->conn;
    if (!c) {
        s_set_err(db, "", "not connected to the database");
        return -1;
    }
    if (s_undefer(db) < 0)
        return -1;
    if (PQenterPipelineMode(c) != 1) {
        s_set_err(db, "pipeline: ", PQerrorMessage(c));
        return -1;
    }
    int ok = PQsendQueryPrepared(c, name, nparams, values, NULL, NULL, 0) == 1 &&
             PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1 &&
             PQpipelineSync(c) == 1;
    if (!ok)
        s_set_err(db, "pipeline: ", PQerrorMessage(c));
    /* Results: the statement's, then COMMIT's. */
    int stage = 0, committed = 0, gone = 0;
    PGresult *r;
    while ((r = s_pipe_next(c, &gone))) {
        ExecStatusType st = PQresultStatus(r);
        if (stage == 0 && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            char pfx[160];
            snprintf(pfx, sizeof pfx, "%s: ", name);
            s_set_err(db, pfx, PQresultErrorMessage(r));
            ok = 0;
        } else if (stage == 1) {
            committed = st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
            if (!committed && ok)
                s_set_err(db, "commit: ", PQresultErrorMessage(r));
        }
        stage++;
        PQclear(r);
    }
    if (gone)
        ok = 0;
    if (PQexitPipelineMode(c) != 1 && ok) {
        s_set_err(db, "pipeline: ", PQerrorMessage(c));
        ok = 0;
    }
    if (ok && committed) {
        db->in_tx = 0;
        return 0;
    }
    return -1;
}

int db_begin(db_t *db)
{
    if (db->in_tx)
        return 0;
    if (db_simple(db, "BEGIN") < 0)
        return -1;
    db->in_tx = 1;
    return 0;
}

int db_begin_savepoint(db_t *db, const char *name)
{
    if (!db->conn) {
        s_set_err(db, "", "not connected to the database");
        return -1;
    }
    if (s_undefer(db) < 0)
        return -1;
    if (strlen(name) >= sizeof db->defer_sp) {
        s_set_err(db, "", "savepoint name too long");
        return -1;
    }
    db->defer_begin = !db->in_tx;
    memcpy(db->defer_sp, name, strlen(name) + 1);
    db->in_tx = 1;
    return 0;
}

int db_commit(db_t *db)
{
    if (!db->in_tx)
        return 0;
    int nothing_sent = db->defer_sp[0] && db->defer_begin;
    db->defer_sp[0] = '\0'; /* a savepoint nothing ran in needs no sending */
    db->in_tx = 0;
    if (nothing_sent)
        return 0; /* the server never opened this transaction */
    PGresult *r = PQexec(db->conn, "COMMIT");
    /* A failed transaction answers COMMIT with ROLLBACK: check the tag. */
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    if (!ok)
        s_set_err(db, "commit: ", r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
    PQclear(r);
    return ok ? 0 : -1;
}

void db_rollback(db_t *db)
{
    if (!db->in_tx)
        return;
    int nothing_sent = db->defer_sp[0] && db->defer_begin;
    db->defer_sp[0] = '\0';
    db->in_tx = 0;
    if (nothing_sent)
        return;
    if (db->conn)
        PQclear(PQexec(db->conn, "ROLLBACK"));
}

int db_in_tx(const db_t *db)
{
    return db->in_tx;
}

int64_t db_get_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

const char *db_get_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

int db_is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}
