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
 * existing step other than itself and is listed at most once per step, and
 * there is no cycle.
 * Returns 0, or -1 with errno=EINVAL, a message in err ("step 'b' depends
 * on unknown step 'x'", "dependency cycle: a -> b -> c -> a") and the index
 * of the offending step in *bad (may be NULL). */
int dag_check(const dag_node_t *nodes, size_t n, size_t *bad, char *err, size_t errlen);

/* Writes a topological order of the nodes (indices) into order[n]; nodes
 * with no mutual dependency keep their input order. The graph must pass
 * dag_check. Returns 0, or -1 with errno=EINVAL on a cycle or ENOMEM. */
int dag_topo_order(const dag_node_t *nodes, size_t n, size_t *order);

/* Resolves every dependency name to the index of the step it names, so a
 * caller needs no name lookup of its own (O(n + e) through a hash index):
 * idx receives, in input order, nodes[0].after[0..], nodes[1].after[0..],
 * ... — one entry per dependency, so it must hold the sum of all nafter.
 * The graph must pass dag_check. Returns 0, or -1 with errno=EINVAL (a name
 * check fails; idx untouched) or ENOMEM. */
int dag_resolve(const dag_node_t *nodes, size_t n, size_t *idx);

#endif
