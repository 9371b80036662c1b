/* test_place — unit tests of coordinator/place.c on tables of workers and
 * steps: the predicate (every constraint), best fit for GPUs, reserve_for,
 * strict order across shapes, reservations from the leases' time limits,
 * backfill (ends before the reservation, or uses what the reserved step
 * will not need), aging, queue turns, the legacy policy, and a generated
 * test of `why` (place_explain) against placement and an independent
 * oracle on every pair of a grid of steps x workers. */
/* cmocka.h needs these first; a blank line keeps clang-format from
 * sorting it above them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "place.h"

#define G (1ull << 30)

static const place_queue_t Q1[] = {{.open = 1, .default_limit_ms = 3600000}};

static place_worker_t s_worker(const char *name, uint32_t slots, uint32_t gpus, uint64_t mem)
{
    place_worker_t w = {.name = name, .connected = 1, .slots = slots, .gpus = gpus, .memory = mem};
    w.kinds[0] = "exec";
    w.nkinds = 1;
    return w;
}

static place_step_t s_step(const char *name, uint32_t cpus, uint32_t gpus, int prio, uint64_t seq)
{
    return (place_step_t){
        .name = name, .kind = "exec", .cpus = cpus, .gpus = gpus, .priority = prio, .seq = seq};
}

static place_table_t s_tab(const place_worker_t *w, size_t nw, const place_step_t *s, size_t ns)
{
    return (place_table_t){.workers = w,
                           .nworkers = nw,
                           .steps = s,
                           .nsteps = ns,
                           .queues = Q1,
                           .nqueues = 1,
                           .now_ms = 0};
}

static void test_check_each_constraint(void **state)
{
    (void)state;
    static const char *const a10[] = {"a10"};
    place_worker_t w = s_worker("w", 4, 2, 8 * G);
    place_step_t s = s_step("s", 1, 0, 0, 1);
    assert_int_equal(place_check(&w, &s), 0);
    w.connected = 0;
    assert_int_equal(place_check(&w, &s), PLACE_DOWN);
    w.connected = 1;
    w.draining = 1;
    assert_int_equal(place_check(&w, &s), PLACE_DRAINING);
    w.draining = 0;
    s.kind = "train";
    assert_int_equal(place_check(&w, &s), PLACE_KIND);
    s.kind = "exec";
    s.labels = a10;
    s.nlabels = 1;
    assert_int_equal(place_check(&w, &s), PLACE_LABELS);
    s.nlabels = 0;
    s.cpus = 8;
    assert_int_equal(place_check(&w, &s), PLACE_SLOTS);
    s.cpus = 4;
    w.used_cpus = 1;
    assert_int_equal(place_check(&w, &s), PLACE_BUSY_SLOTS);
    w.prefetch = 1; /* prefetch counts for CPU steps only */
    assert_int_equal(place_check(&w, &s), 0);
    s.gpus = 1;
    assert_int_equal(place_check(&w, &s), PLACE_BUSY_SLOTS);
    w.used_cpus = 0;
    s.gpus = 4;
    assert_int_equal(place_check(&w, &s), PLACE_GPUS);
    s.gpus = 2;
    w.used_gpus = 1;
    assert_int_equal(place_check(&w, &s), PLACE_BUSY_GPUS);
    w.used_gpus = 0;
    s.memory = 16 * G;
    assert_int_equal(place_check(&w, &s), PLACE_MEMORY);
    s.memory = 4 * G;
    w.used_memory = 5 * G;
    assert_int_equal(place_check(&w, &s), PLACE_BUSY_MEMORY);
    w.memory = 0; /* unknown: not checked */
    assert_int_equal(place_check(&w, &s), 0);
    /* Several at once: all reported. */
    w = s_worker("w", 2, 2, 8 * G);
    s = s_step("s", 4, 4, 0, 1);
    s.labels = a10;
    s.nlabels = 1;
    assert_int_equal(place_check(&w, &s), PLACE_LABELS | PLACE_SLOTS | PLACE_GPUS);
}

static void test_reserve_for(void **state)
{
    (void)state;
    static const char *const a10[] = {"a10"};
    place_worker_t w = s_worker("g", 8, 4, 0);
    w.reserve_for = "gpu";
    place_step_t cpu = s_step("c", 1, 0, 0, 1), gpu = s_step("g", 1, 1, 0, 2);
    assert_int_equal(place_check(&w, &cpu), PLACE_KEPT);
    assert_int_equal(place_check(&w, &gpu), 0);
    w.reserve_for = "a10";
    w.labels[0] = "a10";
    w.nlabels = 1;
    assert_int_equal(place_check(&w, &gpu), PLACE_KEPT);
    gpu.labels = a10;
    gpu.nlabels = 1;
    assert_int_equal(place_check(&w, &gpu), 0);
    /* The legacy policy ignores it (it did not exist). */
    place_step_t steps[] = {cpu};
    place_table_t tab = s_tab(&w, 1, steps, 1);
    place_decision_t d;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 0);
    tab.policy = PLACE_POLICY_LEGACY;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
}

/* Observation 5: two 1-GPU steps go to the 2-GPU worker; the 4-GPU one
 * stays whole for the 4-GPU step; CPU steps keep off GPU workers. */
static void test_best_fit_gpus(void **state)
{
    (void)state;
    place_worker_t w[] = {s_worker("g4", 8, 4, 0), s_worker("g2", 8, 2, 0),
                          s_worker("cpu", 8, 0, 0)};
    place_step_t s[] = {s_step("one", 1, 1, 0, 1)};
    place_table_t tab = s_tab(w, 3, s, 1);
    place_decision_t d;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.worker, 1);
    assert_int_equal(d.gpumask, 1);
    w[1].used_gpus = 1;
    w[1].used_cpus = 1;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.worker, 1);
    assert_int_equal(d.gpumask, 2);
    w[1].used_gpus = 3;
    s[0].gpus = 4;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.worker, 0);
    assert_int_equal(d.gpumask, 15);
    /* A CPU step: the worker with no GPUs, and among equals the fullest. */
    s[0].gpus = 0;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.worker, 2);
    place_worker_t c[] = {s_worker("a", 8, 0, 0), s_worker("b", 8, 0, 0)};
    c[1].used_cpus = 5;
    tab.workers = c;
    tab.nworkers = 2;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.worker, 1);
    /* The legacy policy spread: most free slots. */
    tab.policy = PLACE_POLICY_LEGACY;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.worker, 0);
}

/* Observation 4: the oldest ready step of a priority goes first whatever
 * its shape (buckets are per shape). */
static void test_strict_order_across_shapes(void **state)
{
    (void)state;
    place_worker_t w[] = {s_worker("w", 4, 0, 8 * G)};
    place_step_t s[21];
    for (int i = 0; i < 20; i++)
        s[i] = s_step("new", 1, 0, 0, (uint64_t)(100 + i));
    s[20] = s_step("old", 1, 0, 0, 7);
    s[20].memory = 1 << 20;
    place_table_t tab = s_tab(w, 1, s, 21);
    place_decision_t d;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 20);
    assert_int_equal(d.backfill, 0);
    /* Higher priority still first. */
    s[3].priority = 1;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 3);
}

/* Observation 1: a 4-slot step at priority 100 behind 1-slot steps at
 * priority 0 reserves the worker; 1-slot steps start there only when they
 * end before it (backfill). */
static void test_reservation_and_backfill(void **state)
{
    (void)state;
    place_lease_t l[] = {{1, 0, 0, 100}, {1, 0, 0, 200}, {1, 0, 0, 300}};
    place_worker_t w[] = {s_worker("w", 4, 0, 0)};
    w[0].used_cpus = 3;
    w[0].leases = l;
    w[0].nleases = 3;
    place_step_t s[] = {s_step("big", 4, 0, 100, 5), s_step("small", 1, 0, 0, 1)};
    place_table_t tab = s_tab(w, 1, s, 2);
    place_decision_t d;
    place_reservation_t r[1];
    size_t nr = 0;
    /* small has no timeout: the queue default (1 h) ends after 300. */
    assert_int_equal(place_pick(&tab, &d, r, &nr), 0);
    assert_int_equal(nr, 1);
    assert_int_equal(r[0].step, 0);
    assert_int_equal(r[0].worker, 0);
    assert_int_equal(r[0].at_ms, 300);
    /* A 250 ms limit ends before 300: backfilled, ahead of big. */
    s[1].limit_ms = 250;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 1);
    assert_int_equal(d.backfill, 1);
    assert_int_equal(d.ahead_of, 0);
    s[1].limit_ms = 301;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 0);
    /* Leases past their limit count as ending now: nothing may run past. */
    tab.now_ms = 1000;
    s[1].limit_ms = 1;
    assert_int_equal(place_pick(&tab, &d, r, &nr), 0);
    assert_int_equal(r[0].at_ms, 1000);
    /* When the leases end, big starts. */
    w[0].used_cpus = 0;
    w[0].nleases = 0;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 0);
    /* Without the reservation (legacy), small starts and big waits. */
    w[0].used_cpus = 3;
    w[0].nleases = 3;
    tab.now_ms = 0;
    s[1].limit_ms = 0;
    tab.policy = PLACE_POLICY_LEGACY;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 1);
}

static void test_backfill_on_spare_capacity(void **state)
{
    (void)state;
    /* 8 slots, 6 used (3 until 100, 3 until 500): big (4) fits at 100 with
     * 5 free; a long 1-slot step leaves 4 then, so it may start. A 2-slot
     * one would leave 3: refused. */
    place_lease_t l[] = {{3, 0, 0, 100}, {3, 0, 0, 500}};
    place_worker_t w[] = {s_worker("w", 8, 0, 0), s_worker("other", 1, 0, 0)};
    w[0].used_cpus = 6;
    w[0].leases = l;
    w[0].nleases = 2;
    w[1].used_cpus = 1;
    place_step_t s[] = {s_step("big", 4, 0, 10, 1), s_step("one", 1, 0, 0, 2)};
    place_table_t tab = s_tab(w, 2, s, 2);
    place_decision_t d;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 1);
    assert_int_equal(d.backfill, 1);
    s[1].cpus = 2;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 0);
    /* A better-ranked step is not bound by a worse-ranked reservation. */
    s[1].priority = 20;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 1);
    assert_int_equal(d.backfill, 0);
}

/* The reservation goes to the worker where the step fits soonest. */
static void test_reservation_soonest_worker(void **state)
{
    (void)state;
    place_lease_t la[] = {{4, 0, 4, 900}}, lb[] = {{2, 0, 2, 400}, {2, 0, 2, 600}};
    place_worker_t w[] = {s_worker("a", 4, 4, 0), s_worker("b", 4, 4, 0)};
    w[0].used_cpus = 4;
    w[0].used_gpus = 15;
    w[0].leases = la;
    w[0].nleases = 1;
    w[1].used_cpus = 4;
    w[1].used_gpus = 15;
    w[1].leases = lb;
    w[1].nleases = 2;
    place_step_t s[] = {s_step("g4", 1, 4, 0, 1)};
    place_table_t tab = s_tab(w, 2, s, 1);
    place_reservation_t r[1];
    assert_int_equal(place_reservations(&tab, r), 1);
    assert_int_equal(r[0].worker, 1);
    assert_int_equal(r[0].at_ms, 600);
    /* One that can never fit anywhere gets no worker and blocks nothing. */
    s[0].gpus = 8;
    assert_int_equal(place_reservations(&tab, r), 1);
    assert_int_equal(r[0].worker, PLACE_NONE);
    assert_int_equal(place_reservation_blocks(&tab, &s[0], 1, r, 1), 0);
}

static void test_aging(void **state)
{
    (void)state;
    place_worker_t w[] = {s_worker("w", 1, 0, 0)};
    place_step_t s[] = {s_step("hi", 1, 0, 10, 5), s_step("old", 1, 0, 0, 1)};
    s[0].ready_ms = 100000;
    s[1].ready_ms = 0;
    place_table_t tab = s_tab(w, 1, s, 2);
    tab.now_ms = 100000;
    place_decision_t d;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 0);
    tab.age_ms_per_point = 10000; /* 100 s waited = 10 points: a tie, older wins */
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 1);
    tab.age_ms_per_point = 10001;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 0);
}

static void test_queue_turns(void **state)
{
    (void)state;
    place_queue_t q[] = {{.open = 1}, {.open = 1}, {.open = 0}};
    place_worker_t w[] = {s_worker("w", 4, 0, 0)};
    place_step_t s[] = {s_step("a", 1, 0, 50, 1), s_step("b", 1, 0, 0, 2),
                        s_step("c", 1, 0, 99, 0)};
    s[1].queue = 1;
    s[2].queue = 2;
    place_table_t tab = s_tab(w, 1, s, 3);
    tab.queues = q;
    tab.nqueues = 3;
    place_decision_t d;
    tab.rr = 1;
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 1);
    tab.rr = 2; /* closed (paused or at its limit): skipped */
    assert_int_equal(place_pick(&tab, &d, NULL, NULL), 1);
    assert_int_equal(d.step, 0);
}

/* ------------------------------------------- generated `why` test --- */

typedef struct {
    uint32_t cpus, gpus;
    uint64_t mem;
    int nlabels;
} gen_step_t;

typedef struct {
    uint32_t slots, gpus, used_cpus;
    uint64_t mem, used_mem, used_gpus;
    int nlabels; /* 0 none, 1 a10, 2 a10+fast */
    const char *reserve_for;
    int connected, draining;
} gen_worker_t;

static const char *const LABELS[] = {"a10", "fast"};

/* The oracle: written from docs/scheduling.md, not from place.c. */
static int s_oracle(const gen_worker_t *w, const gen_step_t *s, int *never)
{
    int ok = 1;
    *never = 0;
    if (!w->connected || w->draining || s->nlabels > w->nlabels || s->cpus > w->slots ||
        s->gpus > w->gpus || (w->mem && s->mem > w->mem))
        *never = 1;
    if (w->reserve_for && strcmp(w->reserve_for, "gpu") == 0 && s->gpus == 0)
        *never = 1;
    if (w->reserve_for && strcmp(w->reserve_for, "a10") == 0 && s->nlabels == 0)
        *never = 1;
    if (*never)
        ok = 0;
    if (w->used_cpus + s->cpus > w->slots)
        ok = 0;
    if (s->gpus > w->gpus - (uint32_t)__builtin_popcountll(w->used_gpus))
        ok = 0;
    if (w->mem && w->used_mem + s->mem > w->mem)
        ok = 0;
    return ok;
}

static void test_why_matches_placement(void **state)
{
    (void)state;
    static const uint32_t cpus[] = {1, 4}, sgpus[] = {0, 2, 4};
    static const uint64_t smem[] = {0, 1 * G, 8 * G};
    static const uint32_t slots[] = {2, 8}, wgpus[] = {0, 2, 4};
    static const uint64_t wmem[] = {0, 4 * G};
    static const char *const rf[] = {NULL, "gpu", "a10"};
    size_t pairs = 0, fits = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 3; c++)
                for (int lb = 0; lb < 3; lb++)
                    for (int e = 0; e < 2; e++)
                        for (int f = 0; f < 3; f++)
                            for (int g = 0; g < 2; g++)
                                for (int wl = 0; wl < 3; wl++)
                                    for (int r = 0; r < 3; r++)
                                        for (int load = 0; load < 2; load++)
                                            for (int st = 0; st < 3; st++) {
                                                gen_step_t gs = {cpus[a], sgpus[b], smem[c], lb};
                                                gen_worker_t gw = {.slots = slots[e],
                                                                   .gpus = wgpus[f],
                                                                   .mem = wmem[g],
                                                                   .nlabels = wl,
                                                                   .reserve_for = rf[r],
                                                                   .connected = st != 1,
                                                                   .draining = st == 2};
                                                if (load) { /* half busy */
                                                    gw.used_cpus = gw.slots / 2;
                                                    gw.used_gpus = gw.gpus ? 1 : 0;
                                                    gw.used_mem = gw.mem / 2;
                                                }
                                                place_worker_t w =
                                                    s_worker("node", gw.slots, gw.gpus, gw.mem);
                                                w.connected = gw.connected;
                                                w.draining = gw.draining;
                                                w.used_cpus = gw.used_cpus;
                                                w.used_gpus = gw.used_gpus;
                                                w.used_memory = gw.used_mem;
                                                w.reserve_for = gw.reserve_for;
                                                for (int i = 0; i < wl; i++)
                                                    w.labels[w.nlabels++] = LABELS[i];
                                                if (gw.reserve_for &&
                                                    strcmp(gw.reserve_for, "a10") == 0 && wl == 0)
                                                    continue; /* reserved for a label it does not
                                                                 have: not a real setup */
                                                place_step_t s =
                                                    s_step("s", gs.cpus, gs.gpus, 0, 1);
                                                s.memory = gs.mem;
                                                s.labels = LABELS;
                                                s.nlabels = gs.nlabels;
                                                place_table_t tab = s_tab(&w, 1, &s, 1);
                                                int never;
                                                int want = s_oracle(&gw, &gs, &never);
                                                place_decision_t d;
                                                int placed = place_pick(&tab, &d, NULL, NULL);
                                                char why[2048], unmet[512];
                                                assert_int_equal(
                                                    place_explain(&tab, 0, 8, why, sizeof why), 0);
                                                int says_fits =
                                                    strstr(why, "\n  node: fits") != NULL;
                                                pairs++;
                                                fits += (size_t)want;
                                                if (placed != want || says_fits != want ||
                                                    (place_check(&w, &s) == 0) != want)
                                                    fail_msg(
                                                        "step cpus=%u gpus=%u mem=%llu labels=%d / worker slots=%u gpus=%u mem=%llu "
                                                        "labels=%d rf=%s load=%d state=%d: oracle %d, placed %d, why:\n%s",
                                                        gs.cpus, gs.gpus,
                                                        (unsigned long long)gs.mem, gs.nlabels,
                                                        gw.slots, gw.gpus,
                                                        (unsigned long long)gw.mem, gw.nlabels,
                                                        gw.reserve_for ? gw.reserve_for : "-", load,
                                                        st, want, placed, why);
                                                /* Every unmet constraint is named, independently of
                                                 * the others. */
                                                unsigned m = place_check(&w, &s);
                                                place_unmet_text(&w, &s, m, unmet, sizeof unmet);
                                                if (m)
                                                    assert_non_null(strstr(why, unmet));
                                                if (s.nlabels > gw.nlabels)
                                                    assert_non_null(strstr(unmet, "lacks label"));
                                                else if (s.nlabels)
                                                    assert_non_null(strstr(unmet, "labels ok"));
                                                if (s.gpus > gw.gpus) {
                                                    char t[64];
                                                    snprintf(t, sizeof t, "%u of %u GPUs", gw.gpus,
                                                             s.gpus);
                                                    assert_non_null(strstr(unmet, t));
                                                }
                                                if (s.cpus > gw.slots) {
                                                    char t[64];
                                                    snprintf(t, sizeof t, "%u of %u cpus", gw.slots,
                                                             s.cpus);
                                                    assert_non_null(strstr(unmet, t));
                                                }
                                                if (gw.mem && s.memory > gw.mem)
                                                    assert_non_null(strstr(unmet, "memory"));
                                                if (!gw.connected)
                                                    assert_non_null(strstr(unmet, "not connected"));
                                                if (gw.draining)
                                                    assert_non_null(strstr(unmet, "draining"));
                                                if (m & PLACE_KEPT)
                                                    assert_non_null(strstr(unmet, "kept for"));
                                            }
    printf("why vs placement: %zu pairs, %zu fit\n", pairs, fits);
    assert_true(pairs > 5000);
    assert_true(fits > 100);
}

/* The example: 4 GPUs + label a10 with the a10 worker connected. */
static void test_why_combined_text(void **state)
{
    (void)state;
    static const char *const a10[] = {"a10"};
    place_worker_t w[] = {s_worker("a10-node", 8, 2, 0), s_worker("big", 8, 4, 0)};
    w[0].labels[0] = "a10";
    w[0].nlabels = 1;
    place_step_t s[] = {s_step("train", 1, 4, 0, 1)};
    s[0].labels = a10;
    s[0].nlabels = 1;
    place_table_t tab = s_tab(w, 2, s, 1);
    char why[1024];
    assert_int_equal(place_explain(&tab, 0, 8, why, sizeof why), 0);
    assert_non_null(strstr(why, "no connected worker can ever run it"));
    assert_non_null(strstr(why, "a10-node: labels ok, 2 of 4 GPUs"));
    assert_non_null(strstr(why, "big: lacks label a10"));
    /* No worker at all. */
    tab.nworkers = 0;
    assert_int_equal(place_explain(&tab, 0, 8, why, sizeof why), 0);
    assert_string_equal(why, "no worker is connected");
    tab.nworkers = 2;
    /* At most max_workers entries. */
    assert_int_equal(place_explain(&tab, 0, 1, why, sizeof why), 0);
    assert_non_null(strstr(why, "... 1 more"));
    /* A small buffer is cut, never overrun. */
    char tiny[16];
    assert_int_equal(place_explain(&tab, 0, 8, tiny, sizeof tiny), 0);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

/* A gang places all its members or reports how many fit: distinct workers
 * with spread, packed by room without; never a prefetch queue. */
static void test_gang_all_or_nothing(void **state)
{
    (void)state;
    place_worker_t w[3] = {s_worker("a", 1, 0, 0), s_worker("b", 2, 0, 0), s_worker("c", 1, 0, 0)};
    w[2].used_cpus = 1;
    w[0].prefetch = 4; /* a gang member never waits in it */
    place_step_t g = s_step("g[0]", 1, 0, 0, 1);
    g.gang = 7;
    place_table_t tab = s_tab(w, 3, NULL, 0);
    size_t wk[4];
    uint64_t gm[4];
    uint32_t nfit = 9;
    assert_int_equal(place_gang(&tab, &g, 3, 1, NULL, 0, wk, gm, &nfit), 0);
    assert_int_equal(nfit, 2); /* a and b; c is busy */
    assert_true(wk[0] != wk[1] && wk[0] != 2 && wk[1] != 2);
    /* Packed: b takes two. */
    assert_int_equal(place_gang(&tab, &g, 3, 0, NULL, 0, wk, gm, &nfit), 1);
    assert_int_equal(nfit, 3);
    int onb = 0;
    for (int i = 0; i < 3; i++)
        onb += wk[i] == 1;
    assert_int_equal(onb, 2);
    /* c frees: spread fits. */
    w[2].used_cpus = 0;
    assert_int_equal(place_gang(&tab, &g, 3, 1, NULL, 0, wk, gm, &nfit), 1);
    /* GPUs are picked per member, disjoint on one worker. */
    place_worker_t gw[1] = {s_worker("gpu", 8, 4, 0)};
    place_step_t gg = s_step("t[0]", 1, 2, 0, 1);
    gg.gang = 9;
    place_table_t gt = s_tab(gw, 1, NULL, 0);
    assert_int_equal(place_gang(&gt, &gg, 2, 0, NULL, 0, wk, gm, &nfit), 1);
    assert_int_equal(gm[0] & gm[1], 0);
    assert_int_equal(__builtin_popcountll(gm[0] | gm[1]), 4);
    assert_int_equal(place_gang(&gt, &gg, 3, 0, NULL, 0, wk, gm, &nfit), 0);
    assert_int_equal(nfit, 2);
}

/* A worker held for a gang takes other steps only where the held members
 * still fit beside them. */
static void test_gang_hold(void **state)
{
    (void)state;
    place_worker_t w = s_worker("a", 2, 0, 0);
    place_step_t g = s_step("g[0]", 1, 0, 0, 1), s = s_step("s", 1, 0, 0, 2);
    g.gang = 7;
    w.hold_gang = 7;
    w.hold = g;
    w.hold_n = 1;
    assert_int_equal(place_check(&w, &s), 0); /* 2 slots: one for s, one held */
    w.used_cpus = 1;
    assert_int_equal(place_check(&w, &s), PLACE_HELD);
    assert_int_equal(place_check(&w, &g), 0); /* its own gang may use it */
    char text[128];
    place_unmet_text(&w, &s, PLACE_HELD, text, sizeof text);
    assert_non_null(strstr(text, "held for a waiting gang"));
    w.hold_n = 0;
    assert_int_equal(place_check(&w, &s), 0);
}

/* A gang yields to a better-ranked single step that fits where it would
 * go, not to a later one. */
static void test_gang_yields(void **state)
{
    (void)state;
    place_worker_t w[2] = {s_worker("a", 1, 0, 0), s_worker("b", 1, 0, 0)};
    place_step_t singles[1] = {s_step("old", 1, 0, 0, 1)};
    place_step_t g = s_step("g[0]", 1, 0, 0, 5);
    g.gang = 3;
    place_table_t tab = s_tab(w, 2, singles, 1);
    size_t wk[2] = {0, 1};
    assert_int_equal(place_gang_yields(&tab, &g, wk, 2), 1);
    singles[0].seq = 9; /* readied after the gang */
    assert_int_equal(place_gang_yields(&tab, &g, wk, 2), 0);
    singles[0].priority = 1; /* but more urgent */
    assert_int_equal(place_gang_yields(&tab, &g, wk, 2), 1);
    w[0].used_cpus = w[1].used_cpus = 1; /* it fits nowhere the gang goes */
    assert_int_equal(place_gang_yields(&tab, &g, wk, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_each_constraint),
        cmocka_unit_test(test_reserve_for),
        cmocka_unit_test(test_best_fit_gpus),
        cmocka_unit_test(test_strict_order_across_shapes),
        cmocka_unit_test(test_reservation_and_backfill),
        cmocka_unit_test(test_backfill_on_spare_capacity),
        cmocka_unit_test(test_reservation_soonest_worker),
        cmocka_unit_test(test_aging),
        cmocka_unit_test(test_queue_turns),
        cmocka_unit_test(test_why_matches_placement),
        cmocka_unit_test(test_why_combined_text),
        cmocka_unit_test(test_gang_all_or_nothing),
        cmocka_unit_test(test_gang_hold),
        cmocka_unit_test(test_gang_yields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
