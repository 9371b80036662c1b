/* dag — structural checks of a workflow's dependency graph, by step name.
 *
 * Used by the workflow loader (with line numbers) and again by the
 * coordinator on every submit (a client is a trust boundary). Pure
 * computation: no I/O, no global state.
 */
#ifndef DROVER_DAG_H
#define DROVER_DAG_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *const *after; /* names of the steps it depends on */
    size_t nafter;
} dag_node_t;

/* Checks that names are non-empty and unique, every dependency names an
 * existing step other than itself, and there is no cycle.
 * Returns 0, or -1 with errno=EINVAL, a message in err ("step 'b' depends
 * on unknown step 'x'", "dependency cycle: a -> b -> c -> a") and the index
 * of the offending step in *bad (may be NULL). */
int dag_check(const dag_node_t *nodes, size_t n, size_t *bad, char *err, size_t errlen);

/* Writes a topological order of the nodes (indices) into order[n]; nodes
 * with no mutual dependency keep their input order. The graph must pass
 * dag_check. Returns 0, or -1 with errno=EINVAL on a cycle or ENOMEM. */
int dag_topo_order(const dag_node_t *nodes, size_t n, size_t *order);

#endif
