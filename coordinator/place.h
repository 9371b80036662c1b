/* place — which waiting step starts on which worker, and why not.
 *
 * A pure function of a table (no database, no sockets, no clock): workers
 * (capacity, what is in use, labels, kinds, `reserve_for`, and the leases
 * they hold with the time each one's limit runs out) and candidate steps
 * (priority, readiness order, shape, time limit, queue) go in; one
 * placement (and the reservations that shaped it) comes out. The
 * coordinator (model.c) builds the table from its state, applies the
 * placement and asks again; the unit tests and the simulator
 * (bench/sched/) build tables by hand. `drover why` explains a step from
 * the same predicate (place_check) and the same reservations.
 *
 * Policy (docs/scheduling.md "How placement decides"):
 *  - Rank: effective priority (the run's priority plus one point per
 *    age_ms_per_point of waiting), then readiness order (`seq`, oldest
 *    first) whatever the shape.
 *  - Each queue's best-ranked step that cannot start now reserves the
 *    worker where it will fit soonest, computed from the held leases' end
 *    times (a lease's start plus its step's timeout, or the queue's default
 *    limit).
 *  - A lower-ranked step may start on a reserved worker only when it does
 *    not delay the reservation: its own limit ends before the reserved
 *    time, or the reserved step still fits then with it running (backfill).
 *  - Among the workers a step may use: the fewest free GPUs (that fit),
 *    then the fewest GPUs, then the fewest free slots (best fit: keeps
 *    big holes for big steps and GPU nodes for GPU steps).
 *  - Queues take turns (tab->rr first); each turn places at most one step.
 *  - A worker with reserve_for "gpu" takes only steps asking for GPUs; with
 *    reserve_for LABEL only steps asking for that label.
 *  - A gang (nodes = N, docs/distributed.md) is placed by place_gang: all N
 *    members now or none, distinct workers unless packed, never in a
 *    prefetch queue; it yields to better-ranked single steps that fit
 *    where it would go (place_gang_yields). A waiting gang holds workers
 *    (place_worker_t.hold*): other steps start there only if the held
 *    members' room stays free (PLACE_HELD); how long is the model's rule.
 * PLACE_POLICY_LEGACY is the policy before this module (for the simulator):
 * priority only, first shape that fits, the worker with most free slots,
 * no reservations, no aging, no reserve_for.
 *
 * Ownership: the table and everything it points to belong to the caller
 * and are only read. Nothing here allocates except place_pick's scratch
 * (freed before it returns).
 */
#ifndef DROVER_PLACE_H
#define DROVER_PLACE_H

#include <stddef.h>
#include <stdint.h>

#define PLACE_MAX_LABELS 32
#define PLACE_MAX_KINDS  16
#define PLACE_NONE       ((size_t)-1)

typedef struct {
    uint32_t cpus;
    uint64_t memory;
    uint32_t gpus;
    int64_t end_ms; /* when its time limit runs out (same clock as now_ms) */
} place_lease_t;

typedef struct {
    const char *name; /* for place_explain ("run 7 step train"); may be NULL */
    const char *kind; /* NULL = any worker's kinds do */
    uint32_t cpus;    /* 0 counts as 1 */
    uint64_t memory;
    uint32_t gpus;
    const char *const *labels;
    int nlabels;
    int priority;
    uint64_t seq;     /* readiness order, lower = older */
    int64_t ready_ms; /* became ready (aging) */
    int64_t limit_ms; /* its timeout; 0 = the queue's default limit */
    size_t queue;     /* index into tab->queues */
    uint64_t gang;    /* a gang member: its gang's id (never queued in prefetch); 0 = none */
} place_step_t;

typedef struct {
    const char *name;
    int connected;            /* 0 = known, not connected: never placed on */
    int draining;             /* stopping: no new steps */
    uint32_t slots, prefetch; /* prefetch: CPU-only steps it queues beyond slots */
    uint64_t memory;          /* 0 = unknown: not checked */
    uint32_t gpus;
    uint32_t used_cpus;
    uint64_t used_memory;
    uint64_t used_gpus; /* mask, bit i = GPU i */
    const char *labels[PLACE_MAX_LABELS];
    int nlabels;
    const char *kinds[PLACE_MAX_KINDS];
    int nkinds;
    const char *reserve_for;     /* NULL/"" = any step; "gpu"; or a label */
    const place_lease_t *leases; /* what it holds, for reservations */
    size_t nleases;
    /* A waiting gang holds it (place_gang): room for hold_n members of
     * shape hold stays free for steps of other gangs or none (PLACE_HELD). */
    uint64_t hold_gang;
    place_step_t hold;
    uint32_t hold_n;
} place_worker_t;

typedef struct {
    int open;                 /* not paused and below its running limit */
    int64_t default_limit_ms; /* time limit of its steps without a timeout */
} place_queue_t;

typedef enum { PLACE_POLICY_RESERVE = 0, PLACE_POLICY_LEGACY = 1 } place_policy_t;

typedef struct {
    const place_worker_t *workers;
    size_t nworkers;
    const place_step_t *steps; /* candidates: any order */
    size_t nsteps;
    const place_queue_t *queues;
    size_t nqueues;
    size_t rr; /* the queue whose turn comes first */
    int64_t now_ms;
    int64_t age_ms_per_point; /* waiting per priority point; 0 = no aging */
    place_policy_t policy;
} place_table_t;

/* Why a step cannot start on a worker: a set of these bits (0 = fits now).
 * The first group can never change while the worker stays as it is; the
 * second is its current load. */
enum {
    PLACE_DOWN = 1u << 0, /* not connected */
    PLACE_DRAINING = 1u << 1,
    PLACE_KIND = 1u << 2,       /* does not run the step's kind */
    PLACE_LABELS = 1u << 3,     /* lacks one of the step's labels */
    PLACE_KEPT = 1u << 4,       /* reserve_for keeps it for other steps */
    PLACE_SLOTS = 1u << 5,      /* fewer slots than the step's cpus */
    PLACE_GPUS = 1u << 6,       /* fewer GPUs than it asks */
    PLACE_MEMORY = 1u << 7,     /* less memory than it asks */
    PLACE_BUSY_SLOTS = 1u << 8, /* not enough free slots now */
    PLACE_BUSY_GPUS = 1u << 9,
    PLACE_BUSY_MEMORY = 1u << 10,
    PLACE_HELD = 1u << 11, /* a waiting gang holds the room it would take */
};
#define PLACE_NEVER_MASK 0xffu

typedef struct {
    size_t step;   /* index into tab->steps */
    size_t worker; /* PLACE_NONE: fits no usable worker ever */
    int64_t at_ms; /* it fits there by then at the latest */
} place_reservation_t;

typedef struct {
    size_t step, worker;
    uint64_t gpumask; /* the GPU indices it gets */
    int backfill;     /* started ahead of a reserved, better-ranked step */
    size_t ahead_of;  /* that step (backfill only) */
} place_decision_t;

/* The constraints of s unmet on w (PLACE_* bits; 0 = it fits now). The
 * one predicate both placement and `why` use. */
unsigned place_check(const place_worker_t *w, const place_step_t *s);

/* The step's time limit: its timeout, or its queue's default. */
int64_t place_limit_ms(const place_table_t *tab, const place_step_t *s);

/* 1 if a ranks before b (effective priority, then seq). */
int place_before(const place_table_t *tab, const place_step_t *a, const place_step_t *b);

/* The reservations the table implies (at most one per open queue), in
 * rank order, into res (room for nqueues). Returns how many, or -1 with
 * errno ENOMEM. */
int place_reservations(const place_table_t *tab, place_reservation_t *res);

/* 0 if s may start on w now given reservations res[0..nres) (only those of
 * better-ranked steps bind it), else the index + 1 of the first one it
 * would delay. */
size_t place_reservation_blocks(const place_table_t *tab, const place_step_t *s, size_t w,
                                const place_reservation_t *res, size_t nres);

/* Picks the next placement. Returns 1 with *d, 0 when nothing can start
 * now, -1 with errno ENOMEM. When res is not NULL (room for nqueues) the
 * reservations in force are copied there and their count into *nres. */
int place_pick(const place_table_t *tab, place_decision_t *d, place_reservation_t *res,
               size_t *nres);

/* All-or-nothing placement of a gang: n members of shape s (s->gang set),
 * at most one per worker when spread, none where a better-ranked step's
 * reservation in res[0..nres) would be delayed. Fills wk[i] and gpus[i]
 * for member i (best fit, members in rank order) as far as they fit now,
 * the count into *nfit. Returns 1 when all n fit (the whole gang may start
 * now), 0 when not (wk[0..*nfit) are where the first *nfit fit now: a
 * gang holds those), -1 with errno ENOMEM. */
int place_gang(const place_table_t *tab, const place_step_t *s, uint32_t n, int spread,
               const place_reservation_t *res, size_t nres, size_t *wk, uint64_t *gpus,
               uint32_t *nfit);

/* 1 when a candidate of tab->steps in an open queue ranks before gang
 * member shape s and fits now on one of the workers wk[0..n) the gang
 * would take: the gang waits for this dispatch (rank order holds across
 * gangs and single steps). */
int place_gang_yields(const place_table_t *tab, const place_step_t *s, const size_t *wk,
                      uint32_t n);

/* Explains in buf why tab->steps[step] is not starting: its reservation or
 * the reservation it waits behind, then one entry per worker with every
 * unmet constraint ("a10: labels ok, 2 of 4 GPUs"), at most max_workers
 * entries ("… N more"). Always NUL-terminates; returns 0, -1 (ENOMEM). */
int place_explain(const place_table_t *tab, size_t step, size_t max_workers, char *buf, size_t len);

/* The unmet constraints of mask as text ("kind, 2 of 4 GPUs") for s on w. */
void place_unmet_text(const place_worker_t *w, const place_step_t *s, unsigned mask, char *buf,
                      size_t len);

#endif
