/* drover-test-dbdefer — coordinator/db.c's deferred BEGIN / SAVEPOINT
 * (db_begin_savepoint) against a real PostgreSQL: what the server sees in
 * each order of calls. Run by tests/integration/test_db_defer.sh with a
 * conninfo; prints "ok N - what" per check, exits 1 at the first failure.
 *
 *   drover-test-dbdefer CONNINFO
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

static int s_n;

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        s_n++;                                                                                     \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "not ok %d - %s (line %d; db: %s; server: %s)\n", s_n, what, __LINE__, \
                    db_error(db), s_server(db));                                                   \
            return 1;                                                                              \
        }                                                                                          \
        printf("ok %d - %s\n", s_n, what);                                                         \
    } while (0)

/* The server's own idea of the transaction (not db_in_tx's). */
static const char *s_server(db_t *db)
{
    PGconn *c = db_conn(db);
    switch (c ? PQtransactionStatus(c) : PQTRANS_UNKNOWN) {
    case PQTRANS_IDLE: return "idle";
    case PQTRANS_INTRANS: return "in transaction";
    case PQTRANS_INERROR: return "in a failed transaction";
    default: return "unknown";
    }
}

/* Rows of t with value v, read on a second connection (committed only). */
static long s_count(const char *conninfo, int v)
{
    PGconn *c = PQconnectdb(conninfo);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM dbdefer WHERE v = %d", v);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    long n = r && PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

static int s_insert(db_t *db, const char *v)
{
    const char *p[] = {v};
    PGresult *r = db_exec(db, "ins", 1, p, NULL, NULL, PGRES_TUPLES_OK);
    PQclear(r);
    return r ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: drover-test-dbdefer CONNINFO\n");
        return 2;
    }
    db_t *db = db_new(argv[1]);
    if (!db || db_connect_once(db) < 0) {
        fprintf(stderr, "cannot connect: %s\n", db ? db_error(db) : "out of memory");
        return 1;
    }
    /* v > 0 or the check refuses the row: a statement that fails on demand. */
    static const db_stmt_t stmts[] = {
        {"ins", "INSERT INTO dbdefer (v) VALUES ($1::int) RETURNING v", 1},
    };
    CHECK(db_simple(db, "DROP TABLE IF EXISTS dbdefer; "
                        "CREATE TABLE dbdefer (v int NOT NULL CHECK (v > 0))") == 0 &&
              db_prepare(db, stmts, 1) == 0,
          "table and statement ready");

    /* 1. Nothing sent in between: committing sends nothing at all. */
    CHECK(db_begin_savepoint(db, "request") == 0 && db_in_tx(db),
          "savepoint asked: in a transaction");
    CHECK(strcmp(s_server(db), "idle") == 0, "... which the server has not seen yet");
    CHECK(db_commit(db) == 0 && !db_in_tx(db) && strcmp(s_server(db), "idle") == 0,
          "commit with nothing run in it: nothing to send, still idle");

    /* 2. The next statement carries BEGIN and SAVEPOINT; the commit makes it durable. */
    CHECK(db_begin_savepoint(db, "request") == 0 && s_insert(db, "1") == 0,
          "insert after the savepoint");
    CHECK(strcmp(s_server(db), "in transaction") == 0, "the server opened the transaction with it");
    CHECK(s_count(argv[1], 1) == 0, "not visible before the commit");
    CHECK(db_commit(db) == 0 && s_count(argv[1], 1) == 1, "visible after the commit");

    /* 3. A refused statement: the savepoint was set before it, so rolling
     *    back to it keeps the transaction, and what follows commits. */
    CHECK(db_begin_savepoint(db, "request") == 0 && s_insert(db, "0") < 0,
          "a refused insert fails");
    CHECK(db_in_tx(db) && strcmp(s_server(db), "in a failed transaction") == 0,
          "the transaction is open and failed");
    CHECK(db_simple(db, "ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request") == 0,
          "rolled back to the savepoint");
    CHECK(s_insert(db, "2") == 0 && db_commit(db) == 0 && s_count(argv[1], 2) == 1,
          "the transaction goes on and commits");

    /* 4. Inside an open transaction: only SAVEPOINT is deferred, and a
     *    rollback to it undoes only what came after it. */
    CHECK(db_begin(db) == 0 && s_insert(db, "3") == 0, "a write before the savepoint");
    CHECK(db_begin_savepoint(db, "request") == 0 && s_insert(db, "4") == 0, "a write after it");
    CHECK(db_simple(db, "ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request") == 0 &&
              db_commit(db) == 0,
          "rolled back to it and committed");
    CHECK(s_count(argv[1], 3) == 1 && s_count(argv[1], 4) == 0,
          "the first stays, the second is gone");

    /* 5. Another call first (db_simple) sends the deferred commands on
     *    their own; the rollback of a transaction nothing ran in sends nothing. */
    CHECK(db_begin_savepoint(db, "request") == 0 && db_simple(db, "SELECT 1") == 0 &&
              strcmp(s_server(db), "in transaction") == 0,
          "a simple statement opens the deferred transaction first");
    CHECK(db_simple(db, "RELEASE SAVEPOINT request") == 0, "its savepoint exists");
    db_rollback(db);
    CHECK(!db_in_tx(db) && strcmp(s_server(db), "idle") == 0, "rolled back");
    CHECK(db_begin_savepoint(db, "request") == 0, "savepoint asked again");
    db_rollback(db);
    CHECK(!db_in_tx(db) && strcmp(s_server(db), "idle") == 0, "rollback with nothing sent: idle");

    /* 6. A savepoint name that does not fit is refused, nothing changes. */
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(db_begin_savepoint(db, longname) < 0 && !db_in_tx(db), "an over-long name is refused");

    (void)db_simple(db, "DROP TABLE dbdefer"); /* the test database goes with the test */
    db_destroy(&db);
    printf("all %d checks passed\n", s_n);
    return 0;
}
