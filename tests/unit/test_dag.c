/* test_dag — unit tests of common/dag.c.
 *
 * Graphs are written as small tables of "name: dep dep ..." strings so each
 * case reads like the workflow it stands for; every failing case checks the
 * return value, errno, the offending index and the message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"

#define MAXN   16
#define MAXDEP 8

/* A graph parsed from a spec like {"a:", "b: a", "c: a b"}. */
typedef struct {
    char names[MAXN][32];
    char deps[MAXN][MAXDEP][32];
    const char *depp[MAXN][MAXDEP];
    dag_node_t nodes[MAXN];
    size_t n;
} graph_t;

static void s_graph(graph_t *g, const char *const *spec)
{
    memset(g, 0, sizeof *g);
    for (; *spec; spec++) {
        size_t i = g->n++;
        assert_true(i < MAXN);
        char buf[256];
        snprintf(buf, sizeof buf, "%s", *spec);
        char *save = NULL;
        char *tok = strtok_r(buf, ": ", &save);
        snprintf(g->names[i], sizeof g->names[i], "%s", tok ? tok : "");
        g->nodes[i].name = g->names[i];
        size_t k = 0;
        while ((tok = strtok_r(NULL, " ", &save))) {
            assert_true(k < MAXDEP);
            snprintf(g->deps[i][k], sizeof g->deps[i][k], "%s", tok);
            g->depp[i][k] = g->deps[i][k];
            k++;
        }
        g->nodes[i].after = g->depp[i];
        g->nodes[i].nafter = k;
    }
}

typedef struct {
    const char *what;
    const char *spec[MAXN + 1];
    size_t bad;          /* expected offending index */
    const char *message; /* expected exact message */
} bad_case_t;

static const bad_case_t s_bad[] = {
    {"duplicate name", {"a:", "b: a", "a:", NULL}, 2, "duplicate step name 'a'"},
    {"unknown dependency", {"a:", "b: x", NULL}, 1, "step 'b' depends on unknown step 'x'"},
    {"self dependency", {"a:", "b: a b", NULL}, 1, "step 'b' depends on itself"},
    {"repeated dependency",
     {"a:", "b: a a", NULL},
     1,
     "step 'b' lists 'a' twice in its dependencies"},
    {"two-cycle", {"a: b", "b: a", NULL}, 0, "dependency cycle: a -> b -> a"},
    {"three-cycle", {"a: c", "b: a", "c: b", NULL}, 0, "dependency cycle: a -> b -> c -> a"},
    {"cycle behind a valid prefix",
     {"root:", "x: root z", "y: x", "z: y", "tail: z", NULL},
     1,
     "dependency cycle: x -> y -> z -> x"},
    {"empty name", {":", NULL}, 0, "step 1 has an empty name"},
};

static void t_bad_graphs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const bad_case_t *c = &s_bad[i];
        graph_t g;
        s_graph(&g, c->spec);
        char err[256] = "";
        size_t bad = 999;
        errno = 0;
        int rc = dag_check(g.nodes, g.n, &bad, err, sizeof err);
        if (rc != -1 || errno != EINVAL || bad != c->bad || strcmp(err, c->message) != 0)
            fail_msg("%s: rc=%d errno=%d bad=%zu err='%s' (want bad=%zu '%s')", c->what, rc, errno,
                     bad, err, c->bad, c->message);
        size_t order[MAXN];
        errno = 0;
        assert_int_equal(dag_topo_order(g.nodes, g.n, order), -1);
        assert_int_equal(errno, EINVAL);
    }
}

typedef struct {
    const char *what;
    const char *spec[MAXN + 1];
    size_t order[MAXN];
} good_case_t;

static const good_case_t s_good[] = {
    {"single", {"a:", NULL}, {0}},
    {"independent keep input order", {"c:", "a:", "b:", NULL}, {0, 1, 2}},
    {"diamond",
     {"prepare:", "train_a: prepare", "train_b: prepare", "report: train_a train_b", NULL},
     {0, 1, 2, 3}},
    {"reversed chain", {"c: b", "b: a", "a:", NULL}, {2, 1, 0}},
    /* x must follow z, so no order keeps every unrelated pair in input
     * order; the smallest free index always goes first. */
    {"minimal moves", {"x: z", "y:", "z:", NULL}, {1, 2, 0}},
    {"fan-in out of order", {"r: p q", "q:", "p:", "s:", NULL}, {1, 2, 0, 3}},
};

static void t_good_graphs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_good / sizeof s_good[0]; i++) {
        const good_case_t *c = &s_good[i];
        graph_t g;
        s_graph(&g, c->spec);
        char err[256] = "";
        size_t bad = 999;
        if (dag_check(g.nodes, g.n, &bad, err, sizeof err) != 0)
            fail_msg("%s: unexpected error '%s'", c->what, err);
        assert_int_equal(bad, 999); /* untouched on success */
        size_t order[MAXN];
        assert_int_equal(dag_topo_order(g.nodes, g.n, order), 0);
        for (size_t k = 0; k < g.n; k++)
            if (order[k] != c->order[k])
                fail_msg("%s: order[%zu] = %zu, want %zu", c->what, k, order[k], c->order[k]);
    }
}

static void t_resolve(void **state)
{
    (void)state;
    graph_t g;
    const char *spec[] = {"r: q p", "q:", "p: q", "s:", NULL};
    s_graph(&g, spec);
    size_t idx[3] = {9, 9, 9};
    assert_int_equal(dag_resolve(g.nodes, g.n, idx), 0);
    assert_int_equal(idx[0], 1); /* r -> q */
    assert_int_equal(idx[1], 2); /* r -> p */
    assert_int_equal(idx[2], 1); /* p -> q */

    const char *unknown[] = {"a:", "b: x", NULL};
    s_graph(&g, unknown);
    idx[0] = 9;
    errno = 0;
    assert_int_equal(dag_resolve(g.nodes, g.n, idx), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(idx[0], 9);
}

static void t_empty_graph(void **state)
{
    (void)state;
    size_t order[1] = {42};
    assert_int_equal(dag_check(NULL, 0, NULL, NULL, 0), 0);
    assert_int_equal(dag_topo_order(NULL, 0, order), 0);
    assert_int_equal(dag_resolve(NULL, 0, order), 0);
    assert_int_equal(order[0], 42);
}

static void t_null_bad_and_small_buffer(void **state)
{
    (void)state;
    graph_t g;
    const char *spec[] = {"alpha: beta", "beta: alpha", NULL};
    s_graph(&g, spec);
    char err[12];
    errno = 0;
    assert_int_equal(dag_check(g.nodes, g.n, NULL, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_string_equal(err + sizeof err - 4, "...");
}

/* Big graphs: names and dependency arrays on the heap. */
typedef struct {
    char **names;
    const char **deps;
    dag_node_t *nodes;
    size_t n;
} big_t;

/* A chain of n steps; step i depends on step i-1 (and step 0 on step n-1
 * when cyclic). Names are written in reverse so the input is not already
 * sorted by name. */
static void s_big_chain(big_t *b, size_t n, int cyclic)
{
    b->n = n;
    b->names = calloc(n, sizeof *b->names);
    b->deps = calloc(n, sizeof *b->deps);
    b->nodes = calloc(n, sizeof *b->nodes);
    assert_non_null(b->names);
    assert_non_null(b->deps);
    assert_non_null(b->nodes);
    for (size_t i = 0; i < n; i++) {
        b->names[i] = malloc(32);
        assert_non_null(b->names[i]);
        snprintf(b->names[i], 32, "step-%05zu", n - i);
    }
    for (size_t i = 0; i < n; i++) {
        b->nodes[i].name = b->names[i];
        if (i > 0 || cyclic) {
            b->deps[i] = b->names[i > 0 ? i - 1 : n - 1];
            b->nodes[i].after = &b->deps[i];
            b->nodes[i].nafter = 1;
        }
    }
}

static void s_big_free(big_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->names[i]);
    free(b->names);
    free(b->deps);
    free(b->nodes);
}

static void t_long_chain(void **state)
{
    (void)state;
    big_t b;
    s_big_chain(&b, 10000, 0);
    char err[256] = "";
    if (dag_check(b.nodes, b.n, NULL, err, sizeof err) != 0)
        fail_msg("10,000-step chain rejected: %s", err);
    size_t *order = malloc(b.n * sizeof *order);
    assert_non_null(order);
    assert_int_equal(dag_topo_order(b.nodes, b.n, order), 0);
    for (size_t i = 0; i < b.n; i++)
        assert_int_equal(order[i], i);
    free(order);
    s_big_free(&b);
}

static void t_long_cycle(void **state)
{
    (void)state;
    big_t b;
    s_big_chain(&b, 10000, 1);
    char err[128] = "";
    size_t bad = 999999;
    errno = 0;
    assert_int_equal(dag_check(b.nodes, b.n, &bad, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    assert_true(bad < b.n);
    /* Starts at the reported step, follows execution order, is cut. */
    char want[64];
    snprintf(want, sizeof want, "dependency cycle: %s -> %s -> ", b.names[bad],
             b.names[(bad + 1) % b.n]);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got '%s', want prefix '%s'", err, want);
    assert_string_equal(err + strlen(err) - 3, "...");
    size_t *order = malloc(b.n * sizeof *order);
    assert_non_null(order);
    errno = 0;
    assert_int_equal(dag_topo_order(b.nodes, b.n, order), -1);
    assert_int_equal(errno, EINVAL);
    free(order);
    s_big_free(&b);
}

/* Many steps that all depend on the first one, plus a duplicate at the end:
 * the hash index must find the duplicate without an O(n^2) scan. */
static void t_wide_fan_and_late_duplicate(void **state)
{
    (void)state;
    size_t n = 10000;
    big_t b;
    s_big_chain(&b, n, 0);
    for (size_t i = 1; i < n; i++)
        b.deps[i] = b.names[0];
    char err[256] = "";
    assert_int_equal(dag_check(b.nodes, n, NULL, err, sizeof err), 0);
    size_t *order = malloc(n * sizeof *order);
    assert_non_null(order);
    assert_int_equal(dag_topo_order(b.nodes, n, order), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(order[i], i);
    free(order);
    snprintf(b.names[n - 1], 32, "%s", b.names[5]);
    size_t bad = 0;
    assert_int_equal(dag_check(b.nodes, n, &bad, err, sizeof err), -1);
    assert_int_equal(bad, n - 1);
    assert_non_null(strstr(err, "duplicate step name"));
    s_big_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_bad_graphs),
        cmocka_unit_test(t_good_graphs),
        cmocka_unit_test(t_resolve),
        cmocka_unit_test(t_empty_graph),
        cmocka_unit_test(t_null_bad_and_small_buffer),
        cmocka_unit_test(t_long_chain),
        cmocka_unit_test(t_long_cycle),
        cmocka_unit_test(t_wide_fan_and_late_duplicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
