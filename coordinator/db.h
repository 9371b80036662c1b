/* db — the one place libpq is called.
 *
 * A db_t owns one connection. db_connect_retry() blocks with exponential
 * backoff until the server answers (the coordinator must survive a
 * PostgreSQL that starts after it). Statements are named and prepared once
 * per connection (db_prepare); db_exec() runs one with text parameters and
 * checks the result status, so callers never see a PGresult of the wrong
 * kind. Transactions are explicit (db_begin/db_commit/db_rollback).
 *
 * Failure: functions return -1 (or NULL) with a human message in the db's
 * error buffer (db_error()); a lost connection is reported by db_ok() == 0
 * and is the caller's cue to reset and reconnect.
 */
#ifndef DROVER_DB_H
#define DROVER_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db db_t;

typedef struct {
    const char *name;
    const char *sql;
    int nparams;
} db_stmt_t;

/* Creates a handle for conninfo (copied); does not connect. NULL on ENOMEM. */
db_t *db_new(const char *conninfo);
/* Closes the connection and frees the handle; NULL-safe, nulls *dbp. */
void db_destroy(db_t **dbp);

/* Connects, retrying with backoff (100 ms doubling to 5 s) while the server
 * is unreachable, logging each failure. Returns 0 when connected, or -1 if
 * *stop became non-zero while waiting (stop may be NULL). */
int db_connect_retry(db_t *db, volatile int *stop);
/* Drops the connection (the handle can connect again). */
void db_disconnect(db_t *db);
/* One connection attempt (no retry, no sleep). 0, or -1 with db_error(). */
int db_connect_once(db_t *db);
/* 1 while the connection is up and usable. */
int db_ok(const db_t *db);
/* The connection itself, as it is: a BEGIN / SAVEPOINT that
 * db_begin_savepoint deferred has not been sent on it. */
PGconn *db_conn(db_t *db);
const char *db_error(const db_t *db);

/* Prepares the statements (after every (re)connect). Returns 0 or -1. */
int db_prepare(db_t *db, const db_stmt_t *stmts, size_t n);

/* Runs prepared statement `name` with text parameters (NULL = SQL NULL).
 * lengths/formats may be NULL (all text); a format of 1 marks a binary
 * parameter of the given length. expect is PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK. Returns the result (caller PQclear()s it) or NULL. */
PGresult *db_exec(db_t *db, const char *name, int nparams, const char *const *values,
                  const int *lengths, const int *formats, ExecStatusType expect);
/* The same for a query (text parameters) whose rows come back in binary
 * format: bytea as its bytes (no hex to decode), integers big-endian. */
PGresult *db_exec_binary(db_t *db, const char *name, int nparams, const char *const *values);
/* Runs a literal SQL string with no parameters (migrations, BEGIN). */
int db_simple(db_t *db, const char *sql);

/* Runs prepared statement `name` (text parameters, no result rows wanted)
 * and then COMMIT, both in one round trip (libpq pipeline mode). Used for
 * the last statement of a transaction. Returns 0, or -1 with the
 * transaction still open (roll it back). */
int db_exec_commit(db_t *db, const char *name, int nparams, const char *const *values);

int db_begin(db_t *db);
/* db_begin and then `SAVEPOINT name` (a literal), sent with the next
 * prepared statement (db_exec: one round trip for the three); any other
 * call sends them first on their own, and a db_commit or db_rollback
 * before anything was sent sends nothing. The transaction counts as open
 * from here (db_in_tx). 0, or -1 (a transaction it opened is then still
 * marked open, for db_rollback). */
int db_begin_savepoint(db_t *db, const char *name);
int db_commit(db_t *db);
void db_rollback(db_t *db);
/* 1 while a transaction opened by db_begin is open. */
int db_in_tx(const db_t *db);

/* Helpers for result columns. */
int64_t db_get_i64(const PGresult *r, int row, int col);     /* NULL → 0 */
const char *db_get_str(const PGresult *r, int row, int col); /* NULL → "" */
int db_is_null(const PGresult *r, int row, int col);

#endif
