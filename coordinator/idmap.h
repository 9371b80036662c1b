/* idmap — an open-addressing hash map from positive int64 ids to pointers.
 *
 * Used for the coordinator's run and task lookups (every worker message
 * names a task id), so lookups stay O(1) however large the active set is.
 * The map borrows the values; it never frees them.
 */
#ifndef DROVER_IDMAP_H
#define DROVER_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap idmap_t;

idmap_t *idmap_new(void);
void idmap_destroy(idmap_t **mp);
/* Inserts or replaces. id must be > 0. Returns 0 or -1 (ENOMEM). */
int idmap_put(idmap_t *m, int64_t id, void *val);
void *idmap_get(const idmap_t *m, int64_t id);
/* Removes id if present. */
void idmap_del(idmap_t *m, int64_t id);
size_t idmap_count(const idmap_t *m);
/* Calls fn(ctx, value) on every value (the map must not change meanwhile). */
void idmap_each(const idmap_t *m, void (*fn)(void *ctx, void *val), void *ctx);

#endif
