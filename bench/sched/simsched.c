/* drover-simsched — a discrete-event simulator that replays a synthetic job
 * trace through the coordinator's real placement code (coordinator/place.c)
 * and prints waits and utilisation (docs/scheduling.md, "Simulated").
 *
 * The trace (seeded, reproducible): steps arrive at exponential intervals;
 * shapes 1-slot, 4-slot, 1-GPU (1 slot + 1 GPU) and 4-GPU (4 slots + 4 GPUs);
 * durations uniform in [60 s, 1800 s]; 80 % carry a timeout of 1.2-2x their
 * duration, the rest none (the default limit applies); 10 % run at
 * priority 100, the rest at 0. The cluster: 4 CPU nodes of 16 slots, 2 nodes
 * of 16 slots and 4 GPUs, 2 nodes of 8 slots and 2 GPUs (96 slots, 12 GPUs).
 *
 * Every step runs exactly its duration. Between events the simulator asks
 * place_pick for placements until it says none, exactly as model_dispatch
 * does, with every waiting step as a candidate (steps with distinct time
 * limits are distinct buckets in the coordinator too).
 *
 * The bound: a fluid relaxation. For each resource r (slots, GPUs) and each
 * arrival time a, no schedule (clairvoyant, preemptive, ignoring how work
 * packs onto nodes) can finish before a + W_r(>= a) / C_r, where W_r(>= a)
 * is the r-work of the steps arriving at or after a and C_r the capacity;
 * nor before any step's arrival plus its duration. The largest of these is
 * a lower bound LB on the makespan, so work_r / (C_r x LB) bounds the
 * utilisation any policy, best fit with full knowledge included, can
 * reach over [0, makespan]; a policy's utilisation over its own makespan M
 * is work_r / (C_r x M), and the ratio of the two is LB / M for both.
 *
 * Usage: drover-simsched [--policy reserve|legacy] [--seed N] [--jobs N]
 *                        [--load X] [--aging SECONDS]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place.h"

#define NW         8
#define MAX_LEASES 64

typedef struct {
    int64_t at, dur, limit; /* ms; limit 0 = none (the default applies) */
    uint32_t cpus, gpus;
    int prio;
    int64_t start; /* -1 waiting */
    size_t worker;
    uint64_t mask;
} job_t;

typedef struct {
    place_worker_t pw;
    place_lease_t leases[MAX_LEASES];
    size_t job_of[MAX_LEASES];
} node_t;

static uint64_t s_rng = 88172645463325252ull;
static double s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (double)(s_rng >> 11) / 9007199254740992.0;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    place_policy_t policy = PLACE_POLICY_RESERVE;
    long njobs = 2000;
    double load = 1.05;
    int64_t aging_ms = 60000, default_limit = 7200000;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--policy") == 0 && v) {
            if (strcmp(v, "legacy") == 0)
                policy = PLACE_POLICY_LEGACY;
            else if (strcmp(v, "reserve") != 0)
                goto usage;
        } else if (strcmp(argv[i], "--seed") == 0 && v) {
            s_rng = strtoull(v, NULL, 10) * 2654435761ull + 1;
        } else if (strcmp(argv[i], "--jobs") == 0 && v) {
            njobs = strtol(v, NULL, 10);
        } else if (strcmp(argv[i], "--load") == 0 && v) {
            load = strtod(v, NULL);
        } else if (strcmp(argv[i], "--aging") == 0 && v) {
            aging_ms = (int64_t)(strtod(v, NULL) * 1000.0);
        } else {
            goto usage;
        }
        i++;
    }
    if (njobs < 1 || njobs > 1000000 || !(load > 0.01 && load < 100))
        goto usage;

    static const struct {
        const char *name;
        uint32_t slots, gpus;
    } shape[NW] = {{"cpu1", 16, 0}, {"cpu2", 16, 0}, {"cpu3", 16, 0}, {"cpu4", 16, 0},
                   {"g4a", 16, 4},  {"g4b", 16, 4},  {"g2a", 8, 2},   {"g2b", 8, 2}};
    static node_t nodes[NW];
    uint32_t cap_slots = 0, cap_gpus = 0;
    for (int i = 0; i < NW; i++) {
        place_worker_t *w = &nodes[i].pw;
        *w = (place_worker_t){.name = shape[i].name,
                              .connected = 1,
                              .slots = shape[i].slots,
                              .gpus = shape[i].gpus,
                              .leases = nodes[i].leases};
        cap_slots += shape[i].slots;
        cap_gpus += shape[i].gpus;
    }

    /* The trace. Mean GPU work per step 0.65 GPU x 930 s; the arrival rate
     * puts the GPU load at `load` of capacity. */
    job_t *jobs = calloc((size_t)njobs, sizeof *jobs);
    place_step_t *steps = calloc((size_t)njobs, sizeof *steps);
    size_t *step_job = calloc((size_t)njobs, sizeof *step_job);
    int64_t *waits = calloc((size_t)njobs, sizeof *waits);
    if (!jobs || !steps || !step_job || !waits) {
        perror("drover-simsched");
        return 1;
    }
    double rate = load * cap_gpus / (0.65 * 930.0); /* per second */
    double t = 0;
    for (long i = 0; i < njobs; i++) {
        job_t *j = &jobs[i];
        t += -__builtin_log(1.0 - s_rand()) / rate;
        j->at = (int64_t)(t * 1000.0);
        double r = s_rand();
        if (r < 0.45) {
            j->cpus = 1;
        } else if (r < 0.65) {
            j->cpus = 4;
        } else if (r < 0.90) {
            j->cpus = 1;
            j->gpus = 1;
        } else {
            j->cpus = 4;
            j->gpus = 4;
        }
        j->dur = (int64_t)((60.0 + s_rand() * 1740.0) * 1000.0);
        j->limit = s_rand() < 0.8 ? (int64_t)((double)j->dur * (1.2 + 0.8 * s_rand())) : 0;
        j->prio = s_rand() < 0.1 ? 100 : 0;
        j->start = -1;
    }

    place_queue_t q = {.open = 1, .default_limit_ms = default_limit};
    size_t next = 0, done = 0, running = 0;
    int64_t now = 0, makespan = 0, max_limit = 0;
    double slot_work = 0, gpu_work = 0;
    uint64_t backfills = 0, picks = 0;
    while (done < (size_t)njobs) {
        /* The next event: an arrival or an end. */
        int64_t tn = next < (size_t)njobs ? jobs[next].at : INT64_MAX;
        for (int i = 0; i < NW; i++)
            for (size_t k = 0; k < nodes[i].pw.nleases; k++) {
                const job_t *j = &jobs[nodes[i].job_of[k]];
                if (j->start + j->dur < tn)
                    tn = j->start + j->dur;
            }
        now = tn;
        for (int i = 0; i < NW; i++) {
            node_t *n = &nodes[i];
            for (size_t k = 0; k < n->pw.nleases;) {
                job_t *j = &jobs[n->job_of[k]];
                if (j->start + j->dur > now) {
                    k++;
                    continue;
                }
                n->pw.used_cpus -= j->cpus;
                n->pw.used_gpus &= ~j->mask;
                n->leases[k] = n->leases[n->pw.nleases - 1];
                n->job_of[k] = n->job_of[n->pw.nleases - 1];
                n->pw.nleases--;
                done++;
                running--;
                if (now > makespan)
                    makespan = now;
            }
        }
        while (next < (size_t)njobs && jobs[next].at <= now)
            next++;
        /* Place until nothing more can start. */
        for (;;) {
            size_t ns = 0;
            for (size_t i = 0; i < next; i++) {
                const job_t *j = &jobs[i];
                if (j->start >= 0)
                    continue;
                steps[ns] = (place_step_t){.cpus = j->cpus,
                                           .gpus = j->gpus,
                                           .priority = j->prio,
                                           .seq = i,
                                           .ready_ms = j->at,
                                           .limit_ms = j->limit};
                step_job[ns++] = i;
            }
            if (ns == 0)
                break;
            place_worker_t pw[NW];
            for (int i = 0; i < NW; i++)
                pw[i] = nodes[i].pw;
            place_table_t tab = {.workers = pw,
                                 .nworkers = NW,
                                 .steps = steps,
                                 .nsteps = ns,
                                 .queues = &q,
                                 .nqueues = 1,
                                 .now_ms = now,
                                 .age_ms_per_point = aging_ms,
                                 .policy = policy};
            place_decision_t d;
            int rc = place_pick(&tab, &d, NULL, NULL);
            if (rc < 0) {
                perror("place_pick");
                return 1;
            }
            if (rc == 0)
                break;
            picks++;
            backfills += (uint64_t)d.backfill;
            size_t ji = step_job[d.step];
            job_t *j = &jobs[ji];
            node_t *n = &nodes[d.worker];
            if (n->pw.nleases == MAX_LEASES) {
                fprintf(stderr, "drover-simsched: too many steps on %s\n", n->pw.name);
                return 1;
            }
            j->start = now;
            j->worker = d.worker;
            j->mask = d.gpumask;
            int64_t lim = j->limit ? j->limit : default_limit;
            if (lim > max_limit)
                max_limit = lim;
            n->leases[n->pw.nleases] =
                (place_lease_t){.cpus = j->cpus, .gpus = j->gpus, .end_ms = now + lim};
            n->job_of[n->pw.nleases++] = ji;
            n->pw.used_cpus += j->cpus;
            n->pw.used_gpus |= d.gpumask;
            running++;
            slot_work += (double)j->cpus * (double)j->dur;
            gpu_work += (double)j->gpus * (double)j->dur;
        }
    }

    /* The fluid lower bound on the makespan. */
    double lb = 0, tail_s = 0, tail_g = 0;
    for (long i = njobs - 1; i >= 0; i--) {
        const job_t *j = &jobs[i];
        tail_s += (double)j->cpus * (double)j->dur;
        tail_g += (double)j->gpus * (double)j->dur;
        double a = (double)j->at;
        if (a + tail_s / cap_slots > lb)
            lb = a + tail_s / cap_slots;
        if (a + tail_g / cap_gpus > lb)
            lb = a + tail_g / cap_gpus;
        if (a + (double)j->dur > lb)
            lb = a + (double)j->dur;
    }

    /* Waits: of the priority-100 steps, and per shape. */
    static const char *const sname[] = {"1-slot", "4-slot", "1-GPU", "4-GPU"};
    int64_t max_hi = 0, max_shape[4] = {0};
    size_t nw = 0;
    for (long i = 0; i < njobs; i++) {
        const job_t *j = &jobs[i];
        int64_t w = j->start - j->at;
        int k = j->gpus ? (j->gpus == 1 ? 2 : 3) : (j->cpus == 1 ? 0 : 1);
        if (w > max_shape[k])
            max_shape[k] = w;
        if (j->prio == 100) {
            waits[nw++] = w;
            if (w > max_hi)
                max_hi = w;
        }
    }
    qsort(waits, nw, sizeof *waits, s_cmp_i64);
    double ms = (double)makespan;
    printf("policy %s, seed trace of %ld steps, GPU load %.2f, aging %.0f s/point\n",
           policy == PLACE_POLICY_LEGACY ? "legacy" : "reserve", njobs, load,
           (double)aging_ms / 1000.0);
    printf("makespan %.0f s, fluid lower bound %.0f s (ratio %.3f)\n", ms / 1000.0, lb / 1000.0,
           lb / ms);
    printf("utilisation: slots %.3f (bound %.3f), GPUs %.3f (bound %.3f)\n",
           slot_work / (cap_slots * ms), slot_work / (cap_slots * lb), gpu_work / (cap_gpus * ms),
           gpu_work / (cap_gpus * lb));
    printf("priority-100 steps: %zu, wait median %.0f s, max %.0f s; longest time limit %.0f s\n",
           nw, nw ? (double)waits[nw / 2] / 1000.0 : 0.0, (double)max_hi / 1000.0,
           (double)max_limit / 1000.0);
    printf("max wait by shape:");
    for (int k = 0; k < 4; k++)
        printf(" %s %.0f s%s", sname[k], (double)max_shape[k] / 1000.0, k < 3 ? "," : "\n");
    printf("placements %llu, of which backfill %llu\n", (unsigned long long)picks,
           (unsigned long long)backfills);
    free(jobs);
    free(steps);
    free(step_job);
    free(waits);
    return 0;
usage:
    fprintf(stderr, "usage: drover-simsched [--policy reserve|legacy] [--seed N] [--jobs N] "
                    "[--load X] [--aging SECONDS]\n");
    return 2;
}
