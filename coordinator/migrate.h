/* migrate — creates and upgrades the drover schema at coordinator start.
 *
 * Migrations are the numbered files in coordinator/migrations/, embedded in
 * the binary at build time. migrate_apply() takes a transaction-scoped
 * advisory lock first, so coordinators starting at the same moment apply
 * each version exactly once; the others wait and then find nothing to do.
 */
#ifndef DROVER_MIGRATE_H
#define DROVER_MIGRATE_H

#include <stddef.h>

#include "db.h"

typedef struct {
    int version;
    const char *name;
    const char *sql;
} migration_t;

extern const migration_t migrate_files[];
extern const size_t migrate_nfiles;

/* Applies every migration newer than the database's version, each in its
 * own transaction with its version row. Returns the schema version now in
 * place, or -1 (db_error() says why). Refuses (-1) a database whose schema
 * is newer than this binary knows. */
int migrate_apply(db_t *db);

#endif
