/* migrate — see migrate.h. */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Arbitrary constant shared by every drover coordinator: "drvrmig". */
#define MIGRATE_LOCK_KEY "7237420573318000001"

static int s_current_version(db_t *db)
{
    PGresult *r =
        PQexec(db_conn(db), "SELECT coalesce(max(version), 0) FROM drover.schema_migrations");
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

int migrate_apply(db_t *db)
{
    int version = -1;
    if (db_begin(db) < 0)
        return -1;
    if (db_simple(db, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")") < 0)
        goto fail;
    /* CREATE SCHEMA needs CREATE on the database even when the schema
     * exists: look first, so a least-privilege owner role is enough. */
    PGresult *ns = PQexec(db_conn(db), "SELECT 1 FROM pg_namespace WHERE nspname = 'drover'");
    int have = ns && PQresultStatus(ns) == PGRES_TUPLES_OK && PQntuples(ns) == 1;
    PQclear(ns);
    if ((!have && db_simple(db, "CREATE SCHEMA drover") < 0) ||
        db_simple(db, "CREATE TABLE IF NOT EXISTS drover.schema_migrations ("
                      " version integer PRIMARY KEY,"
                      " name text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())") < 0)
        goto fail;
    version = s_current_version(db);
    if (version < 0)
        goto fail;
    if (migrate_nfiles > 0 && version > migrate_files[migrate_nfiles - 1].version) {
        log_error("the database schema is at version %d, newer than this coordinator knows (%d): "
                  "upgrade drover-coordinator",
                  version, migrate_files[migrate_nfiles - 1].version);
        goto fail;
    }
    for (size_t i = 0; i < migrate_nfiles; i++) {
        const migration_t *m = &migrate_files[i];
        if (m->version <= version)
            continue;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *params[2] = {ver, m->name};
        if (db_simple(db, m->sql) < 0)
            goto fail;
        PGresult *r = PQexecParams(
            db_conn(db), "INSERT INTO drover.schema_migrations (version, name) VALUES ($1, $2)", 2,
            NULL, params, NULL, NULL, 0);
        int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            goto fail;
        log_info("applied migration %s", m->name);
        version = m->version;
    }
    if (db_commit(db) < 0)
        return -1;
    return version;
fail:
    log_error("database migration failed: %s",
              db_error(db)[0] ? db_error(db) : PQerrorMessage(db_conn(db)));
    db_rollback(db);
    return -1;
}
