/* model — the coordinator's in-memory picture of active runs, their tasks
 * and the connected workers, and every state transition on it.
 *
 * PostgreSQL is the system of record; the model is a cache of the active
 * part of it (runs in state 'running'), rebuilt by model_load() at start
 * and after any database error. Every transition updates memory and writes
 * the row and its event through store (into the iteration's transaction);
 * effects on the network (Assign, Kill) go to the sink, which server.c
 * holds back until the transaction has committed ("persist, then send").
 *
 * Task lifecycle (drover.tasks.state):
 *   pending -> ready          all dependencies succeeded
 *   ready -> assigned         placed on a worker; attempt += 1 (the lease)
 *   assigned -> running       the worker started the child
 *   assigned|running -> succeeded | retry_wait | failed
 *   assigned|running -> ready the worker died (counts against max_lost)
 *   retry_wait -> ready       backoff elapsed
 *   pending -> skipped        an ancestor failed
 *   any non-terminal -> cancelled
 * Any other transition is a bug and aborts (DROVER_INVARIANT).
 *
 * Gangs (gang.h, docs/distributed.md): the members of a gang step are tasks
 * that move together. They go ready -> assigned in one dispatch (all or
 * none, with one attempt number); a member that exits 0 stays running
 * (gang_done) until every member has, then all succeed; a member that
 * fails, is lost or handed back takes the others with it (they are killed
 * and enter the same state: retry_wait, ready or failed).
 *
 * Fencing: a worker message about (task, attempt) is applied only if that
 * worker holds that lease; anything else is stale, recorded and dropped.
 */
#ifndef DROVER_MODEL_H
#define DROVER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "drover.pb-c.h"
#include "store.h"
#include "wire.h"

/* Metrics kept per task attempt (docs/security.md): more are dropped and
 * counted in dropped_messages. */
#define MODEL_METRICS_MAX      10000
#define MODEL_METRIC_BYTES_MAX (16u << 20)

typedef Drover__TaskState task_state_t;
typedef Drover__RunState run_state_t;

typedef struct run run_t;
typedef struct task task_t;
typedef struct worker worker_t;

typedef struct {
    int64_t task_id;
    int attempt;
    uint32_t cpus; /* what the attempt occupies on its worker */
    uint64_t memory;
    uint64_t gpumask; /* GPU indices, bit i = GPU i */
} lease_t;

/* What a step needs (StepSpec.resources; docs/scheduling.md). */
typedef struct {
    uint32_t cpus;   /* >= 1 */
    uint64_t memory; /* bytes, 0 = no requirement */
    uint32_t gpus;
    char **labels;
    int nlabels;
} resources_t;

typedef struct bucket bucket_t;
typedef struct mqueue mqueue_t;

struct task {
    int64_t id;
    run_t *run;
    int idx;
    char *name, *kind, *spec_json;
    task_state_t state;
    int attempt, retries, failures, lost;
    int64_t timeout_ms, retry_delay_ms;
    int64_t not_before_ms; /* retry_wait: monotonic due time */
    int64_t not_before_us; /* same, wall clock, as stored */
    int64_t started_us, finished_us;
    int64_t ready_us; /* wall clock of the last move to ready (metrics) */
    int has_exit_code, exit_code;
    char *error;      /* why the last attempt failed, or NULL */
    char worker[128]; /* holder of the current attempt, "" = none */
    int npending;     /* dependencies not yet succeeded */
    int *children;    /* indices into run->tasks */
    int nchildren;
    int *parents; /* indices into run->tasks (its `after`) */
    int nparents;
    task_t *qnext, *qprev; /* ready bucket or retry list membership */
    int queued;            /* 1 ready bucket, 2 retry list, 0 none */
    bucket_t *bucket;      /* its ready bucket while queued == 1 */
    int gate_rejected;     /* failed because an evaluation gate said no */
    int approval;          /* kind approve: runs while it awaits a person */
    resources_t res;
    uint64_t gpumask;      /* GPUs of the current attempt */
    uint64_t logseq;       /* bumps with each stored log chunk */
    int log_cut;           /* bit per stream: truncation marker written */
    int log_attempt;       /* the attempt log_end/log_bytes count */
    uint64_t log_end[2];   /* per stream: end of the bytes stored */
    uint64_t log_bytes[2]; /* per stream: bytes stored (max_log_bytes) */
    int log_ends_unread;   /* loaded at start: log_end of its attempt still to be read */
    int nmetrics;          /* metrics stored for log_attempt */
    uint64_t metric_bytes;
    uint64_t ready_seq;     /* readiness order (placement: oldest first) */
    int64_t ready_ms;       /* monotonic, last move to ready (aging) */
    char reserved_on[128];  /* worker reserved for it (events once per worker), "" none */
    int64_t backfill_ahead; /* current attempt started ahead of this task id, 0 none */
    int held;               /* drover hold: never placed until released (stored) */
    /* Gang steps (gang.h, docs/distributed.md): members are consecutive
     * tasks of the run (idx - gang_rank is rank 0), placed together and
     * moved together; their attempt numbers stay equal (the gang's). */
    int gang_n;           /* members of its gang (tasks.gang_size); 1 = a plain step */
    int gang_rank;        /* 0..gang_n-1 */
    int gang_pack;        /* spread = false: members may share a worker */
    int gang_port;        /* port reserved on its worker for this attempt, 0 = none */
    int gang_done;        /* this attempt exited 0; succeeds when every member has */
    char *gang_env;       /* "NAME=VALUE\n..." of the current attempt (Assign), or NULL */
    char *gang_hostfile;  /* the gang's Open MPI hostfile (Assign), or NULL */
    int64_t gang_hold_ms; /* rank 0: holds workers since (monotonic), 0 = none */
    int64_t gang_cool_ms; /* rank 0: after a released hold, none again before this */
    int gang_fit;         /* rank 0: members placeable at the last dispatch (why) */
};

struct run {
    int64_t id;
    char *workflow;
    run_state_t state;
    task_t *tasks;
    int ntasks;
    int ndone;
    int any_failed;
    uint64_t version; /* bumps on every transition of the run */
    int64_t submitted_us;
    char submitted_key[64]; /* key that submitted it ("" without CURVE) */
    mqueue_t *queue;        /* the queue it belongs to */
    int priority;           /* higher first within its queue */
    int gate_rejected;      /* an evaluation gate said no: ends `rejected` */
    int nawaiting;          /* approve steps awaiting a person now */
    char schedule[128];     /* schedule or trigger that started it, "" = a person */
    char *params_json;      /* its parameter values {"NAME":"VALUE"}, NULL = none */
    int64_t due_us;         /* the due time it was started for, 0 = none */
};

struct worker {
    char name[128];
    char host[256];
    uint8_t ident[WIRE_MAX_IDENT];
    size_t ident_len;
    int connected; /* 0 = known from the database, not yet back */
    int draining;  /* said it is stopping: no new assignments */
    int slots;
    int prefetch;       /* placements beyond slots it queues itself */
    uint64_t memory;    /* offered to tasks, 0 = unknown (not checked) */
    int gpus;           /* GPU indices 0..gpus-1 */
    uint32_t used_cpus; /* sums over held leases */
    uint64_t used_memory;
    uint64_t used_gpus; /* mask */
    char labels[CONFIG_MAX_LABELS][CONFIG_LABEL_MAX];
    int nlabels;
    char kinds[16][32];
    int nkinds;
    char reserve_for[CONFIG_LABEL_MAX]; /* "" any step; "gpu" or a label (docs/scheduling.md) */
    char addr[256];                     /* advertised to gang peers (MASTER_ADDR, hostfile) */
    int port_lo, port_hi;               /* its gang ports (MASTER_PORT, DROVER_GANG_PORTS) */
    int64_t gang_hold;                  /* rank 0 task of a waiting gang holding it, 0 none */
    int gang_hold_n;                    /* members it keeps room for */
    char key[64];                       /* CURVE key it authenticated with, "" without */
    uint64_t session;                   /* Register.session of the current process */
    int64_t stale_next_ms;              /* rate limit of its "stale" warnings */
    uint64_t stale_quiet;               /* stale messages not logged since */
    int64_t last_seen_ms;               /* monotonic */
    int64_t last_seen_us;               /* wall clock, for people */
    int seen_dirty;                     /* last_seen not yet written to the database */
    lease_t *held;                      /* attempts placed here and not yet resolved */
    size_t nheld, capheld;
    worker_t *next;
};

/* Network effects, called during a transition and sent by the server only
 * after the iteration's transaction commits. */
typedef struct {
    void *ctx;
    /* spec_json: what the worker gets (t->spec_json, or a resolved copy). */
    void (*assign)(void *ctx, const worker_t *w, const task_t *t, const char *spec_json);
    void (*kill)(void *ctx, const worker_t *w, int64_t task_id, int attempt);
    /* Kinds beyond exec (see registry.h): each returns 0 done, 1 refused
     * (text in err: the attempt fails), -1 database error. */
    int (*is_inline)(const char *kind);
    int (*run_inline)(void *ctx, const task_t *t, char *err, size_t errlen);
    int (*prepare)(void *ctx, const task_t *t, char **spec_out, char *err, size_t errlen);
    int (*outputs)(void *ctx, const task_t *t, int attempt, int succeeded, const char *outputs_json,
                   int *gate_rejected, char *err, size_t errlen);
    /* A succeeded attempt's artifacts (Result.artifacts; registry_artifacts):
     * 0 recorded, 1 refused (err: the attempt fails), -1 database error. */
    int (*artifacts)(void *ctx, const task_t *t, int attempt, const Drover__Result *res, char *err,
                     size_t errlen);
    /* An approve step is about to wait: 0 with the model version it is
     * about in what ("claims:3"), 1 refused (reason in what: the step
     * fails), -1 database error. */
    int (*approval)(void *ctx, const task_t *t, char *what, size_t len);
} model_sink_t;

typedef struct model model_t;

typedef struct {
    uint64_t stale;       /* fenced-off worker messages */
    uint64_t requeued;    /* attempts lost with a dead worker */
    uint64_t task_to[16]; /* task transitions, by the state entered (task_state_t) */
    uint64_t run_to[8];   /* runs finished, by their final state (run_state_t) */
} model_stats_t;

model_t *model_new(store_t *st, const conf_coordinator_t *cfg, model_sink_t sink);
void model_destroy(model_t **mp);

/* Forgets every run, task and worker (after a database error). Returns
 * 0, or -1 (ENOMEM) leaving the model unusable. */
int model_clear(model_t *m);
/* Rebuilds the active set from the database. Workers that held attempts
 * reappear as disconnected entries with a full worker_timeout to come
 * back. Returns 0 or -1. */
int model_load(model_t *m);

/* Validates and stores a submitted workflow in the iteration's transaction
 * and adds it to the model; returns 0 with *run_id, or -1 with errno
 * EINVAL (bad request, message in err) or EIO (database, memory). */
/* What started a run: the schedule or trigger, and the values of
 * ${run.due_at} and ${trigger.*} (common/params.h). Strings borrowed. */
typedef struct {
    const char *schedule;     /* schedule or trigger name; NULL = a person */
    int64_t due_us;           /* the due time it fired for (stored; 0 = none) */
    int64_t due_at_us;        /* ${run.due_at} (0 = not a schedule: refused) */
    int trigger;              /* a data trigger: ${trigger.files}, ${trigger.rows} */
    const char *const *files; /* the files it consumed */
    size_t nfiles;
    int64_t rows;
} model_origin_t;

/* key: the submitting client key ("" without CURVE); o: what started it
 * (NULL for a person's submit); actor: who to name in the audit trail
 * (NULL = not a command: no row). The specs are substituted first
 * (req->params, base_dir, o), then checked and stored; the run keeps its
 * parameter values. */
int model_submit(model_t *m, const Drover__SubmitRequest *req, const char *key,
                 const model_origin_t *o, const char *actor, int64_t *run_id, char *err,
                 size_t errlen);

/* The same submit in parts, for a large workflow stored off the loop
 * (bulk.h): model_submit_queue_check (the queue is known: the loop) and
 * model_submit_rules (every other rule; pure: any thread) — each 0, or -1
 * with errno EINVAL and the message in err, or ENOMEM — then
 * model_submit_rows (pure: any
 * thread; fills rows, -1 ENOMEM), the insert (store_submit into rows'
 * run_id, submitted_us and ids), then model_submit_join (the run and its
 * tasks into memory, ready ones queued; -1 ENOMEM with nothing added).
 * model_rows_clear frees what rows holds (NULL-safe members). */
typedef struct {
    char *tasks_json, *deps_json; /* store_submit's parameters */
    size_t *didx;                 /* per dependency, in request order: its parent's index */
    int64_t *ids;                 /* task ids by index (n_steps) */
    int64_t run_id, submitted_us;
    const char *params_json; /* borrowed: the run's parameter values (NULL = none) */
    const int64_t *reuse;    /* borrowed: per step, the task it reuses (rerun), or NULL */
    int64_t due_us;          /* the due time a schedule started it for (0 = none) */
} model_rows_t;
/* Run parameters (common/params.h): a request with every step's spec
 * substituted — a shallow copy of req whose steps and spec strings are
 * new, with the parameter values as {"NAME":"VALUE"} (NULL without
 * params). model_subst fills x for a run started by o (NULL: a person)
 * with id run_id (0 when no spec uses ${run.id}: see
 * model_subst_uses_run_id); 0, or -1 with errno EINVAL (message in err)
 * or ENOMEM. Pure: any thread. model_subst_free frees what x holds. */
typedef struct {
    Drover__SubmitRequest req;
    Drover__StepSpec *steps;
    Drover__StepSpec **ptrs;
    char *params_json;
} model_subst_t;
int model_subst(const Drover__SubmitRequest *req, const model_origin_t *o, int64_t run_id,
                model_subst_t *x, char *err, size_t errlen);
void model_subst_free(model_subst_t *x);
int model_subst_uses_run_id(const Drover__SubmitRequest *req);
/* model_submit_rules on req substituted with stand-ins for what only a
 * run knows (its id, due time, trigger files): the check before a run. */
int model_submit_rules_unsubst(const Drover__SubmitRequest *req, char *err, size_t errlen);
int model_submit_queue_check(model_t *m, const Drover__SubmitRequest *req, char *err,
                             size_t errlen);
int model_submit_rules(const Drover__SubmitRequest *req, char *err, size_t errlen);
int model_submit_rows(const Drover__SubmitRequest *req, const int64_t *reuse, model_rows_t *rows);
int model_submit_join(model_t *m, const Drover__SubmitRequest *req, const char *key,
                      const char *schedule, const model_rows_t *rows);
/* model_submit_join in two halves, so that the costly one can be done
 * beside the loop: model_run_build (pure: any thread; the run and its
 * tasks, names, resources and edges as stored in rows; NULL ENOMEM) and
 * model_run_attach (the loop: into the maps and ready queues; consumes
 * *rp, nulled, also on failure: -1 ENOMEM with nothing added).
 * model_run_discard frees a built run never attached; NULL-safe. */
run_t *model_run_build(const Drover__SubmitRequest *req, const char *key, const char *schedule,
                       const model_rows_t *rows);
int model_run_attach(model_t *m, run_t **rp, const Drover__SubmitRequest *req);
void model_run_discard(run_t **rp);
void model_rows_clear(model_rows_t *rows);

/* One plain submit of a batch (model_submit_many): no schedule, trigger,
 * notify block, params, ${run.id} or gang step. refused: 1 when a rule refused it
 * (message in err), else run_id is its new run. */
typedef struct {
    const Drover__SubmitRequest *req;
    const char *key, *actor;
    char *err;
    size_t errlen;
    int refused;
    int64_t run_id;
} model_batch_t;
/* model_submit for n plain submits with one statement for all (in the
 * iteration's transaction). 0 (each item answered by refused/run_id), or
 * -1: errno EAGAIN when the statement failed and nothing changed (roll
 * back and submit them one by one), EIO otherwise (reset). */
int model_submit_many(model_t *m, model_batch_t *b, size_t n);
/* A rerun (coordinator/rerun.c): as model_submit by a person, where
 * reuse[i] != 0 makes step i start succeeded, reusing the results of that
 * task of an earlier run (drover.tasks.reused_from). At least one step
 * must run; a reused step's parents must all be reused. */
int model_rerun(model_t *m, const Drover__SubmitRequest *req, const int64_t *reuse, const char *key,
                const char *actor, int64_t *run_id, char *err, size_t errlen);

/* Cancels an active run: waiting tasks are cancelled, running ones killed.
 * Returns 0 with a summary in msg, or -1 with errno ENOENT (not active) or
 * EIO. */
int model_cancel(model_t *m, int64_t run_id, char *msg, size_t msglen);

worker_t *model_worker_by_ident(model_t *m, const uint8_t *ident, size_t len);
/* Registers (or re-registers) a worker session. Leases the worker holds
 * that the coordinator does not expect are returned in *drop (caller
 * frees); leases the coordinator expected but the worker lacks are lost
 * and requeued. key: the CURVE key it authenticated with ("" or NULL
 * without CURVE): recorded, and bound to the name in the database if the
 * name was not bound yet (server_worker.c checks the binding first). The
 * held leases are those placed on this name, whose key the caller checked.
 * peer_addr: the address it connects from ("" unknown), advertised to gang
 * peers unless it sets advertise_addr. Returns the worker, or NULL on a database error. */
worker_t *model_worker_register(model_t *m, const uint8_t *ident, size_t len,
                                const Drover__Register *reg, const char *peer_addr, const char *key,
                                lease_t **drop, size_t *ndrop);
/* 1 (reason in msg) when reg's name is held by another session that is
 * still alive (heard within worker_timeout) and is not the same process
 * reconnecting (Register.session): the newer one is refused, so two
 * workers sharing a name never take it from each other. 0 otherwise (also
 * for a Register without a session: a worker older than that field). */
int model_worker_busy(model_t *m, const uint8_t *ident, size_t len, const Drover__Register *reg,
                      char *msg, size_t msglen);
void model_worker_seen(model_t *m, worker_t *w);

/* w said it is stopping (WorkerMsg Draining): no new assignments from now
 * on; it is recorded as gone, and forgotten once it holds nothing and
 * falls silent (not declared dead). Until it registers again. -1 on a
 * database error. */
int model_worker_draining(model_t *m, worker_t *w, uint32_t drain_ms);
/* Declares every worker that authenticated with `key` dead now (its key
 * was revoked): their tasks are requeued. Returns how many, or -1. */
int model_workers_evict_key(model_t *m, const char *key);
/* The coordinator itself was busy for ms: every worker's silence so far
 * is shortened by that much (never beyond now). */
void model_workers_excuse(model_t *m, int64_t ms);
/* Declares the connected worker `name` dead now (its name was given to
 * another key). 1 if there was one, 0 if not, -1 on a database error. */
int model_worker_evict(model_t *m, const char *name, const char *why);

/* Worker reports. Return 1 when applied, 0 when stale (recorded, not
 * applied), -1 on a database error. model_task_metric: 0 also for a
 * malformed metric or one over the attempt's budget. model_task_log keeps
 * only bytes past what the stream stored and counts max_log_bytes by the
 * bytes stored. */
int model_task_started(model_t *m, worker_t *w, const Drover__Started *s);
int model_task_result(model_t *m, worker_t *w, const Drover__Result *r);
int model_task_log(model_t *m, worker_t *w, const Drover__LogChunk *c);
int model_task_metric(model_t *m, worker_t *w, const Drover__Metric *mt);

/* The rules a submit must pass before anything is written: the step-kind
 * table's (stepkind_check_submit, on the specs substituted with stand-ins
 * for what only a run knows) and a known queue (created by an admin,
 * or "default"). 0, or -1 with errno EINVAL/ENOMEM and the reason in err.
 * model_submit calls it first; calendar_register calls it too. */
int model_submit_check(model_t *m, const Drover__SubmitRequest *req, char *err, size_t errlen);

/* Queues: list as JSON (caller frees; NULL on error); create (admin; limit
 * = its limit), rm (refused while a run of the queue is active, and for
 * "default"), pause/resume/limit of an existing queue. 0 done with msg,
 * 1 no such queue / bad request, 2 refused (conflict), -1 database. */
char *model_queues_json(model_t *m);
int model_queue_set(model_t *m, const char *name, const char *op, uint32_t limit, char *msg,
                    size_t msglen);
/* Loads queue settings from the database (at start). 0 or -1. */
int model_queues_load(model_t *m);
/* Why a step of an active run is not running yet: for a ready step, from
 * place_explain (the same predicate and reservations as placement), with
 * every unmet constraint per worker.
 * Returns 0 with msg, 1 when the run is not active, 2 (msg says so) when
 * the run has no such step. */
int model_why(model_t *m, int64_t run_id, const char *step, char *msg, size_t msglen);

/* Human approval (issue 11). An approve step, once ready, moves to
 * running at once (worker "coordinator", no slot and no queue limit used)
 * and stays there, awaiting a person, with an `awaiting_approval` event;
 * the run shows `awaiting approval`. It ends by model_approval_verdict
 * (succeeded, or failed as rejected: the run ends `rejected` like a failed
 * gate), by its step timeout (rejected), or by a cancel. The state is the
 * task row itself (running, started_at): a restarted coordinator resumes
 * waiting, and the timeout counts from when the wait began.
 *
 * model_approval_find: the approve step `step` of active run run_id,
 * awaiting now. Returns 0 with *out; -1 with errno ENOENT (the run is not
 * active), ESRCH (no such step: msg), EINVAL (not an approve step: msg) or
 * EALREADY (not awaiting: msg says what became of it). */
int model_approval_find(model_t *m, int64_t run_id, const char *step, task_t **out, char *msg,
                        size_t msglen);
/* Calls fn for each approve step awaiting a person now (of active runs
 * that have any: O(active runs) plus their tasks), until fn returns
 * nonzero. */
typedef int (*model_awaiting_f)(void *ctx, task_t *t);
void model_each_awaiting(model_t *m, model_awaiting_f fn, void *ctx);
/* Ends t's wait: approve 1 succeeds it, 0 rejects it with `what` as the
 * step's error ("rejected by key K: REASON"). The verdict is also the
 * step's report (drover report RUN STEP: verdict, detail = what, and the
 * model version name:version when name is not NULL); a stored rejection
 * is how a restarted coordinator knows the run ends rejected, not failed.
 * 0 or -1 (database). */
int model_approval_verdict(model_t *m, task_t *t, int approve, const char *what, const char *name,
                           int version);

/* Timers: dead workers, due retries, approval timeouts, last_seen
 * persistence. 0 or -1. */
/* drover hold / release: sets or clears `held` on the steps of run_id
 * that have not started (step "" = all, or a step name, also matching its
 * sweep members STEP.N); a held ready step leaves its bucket, so nothing
 * places it, and is queued again (as newly ready) on release. Each change
 * is stored with a `held`/`released` event naming actor. Returns 0 with a
 * summary in msg, 1 when the run is not active, 2 (msg) no such step, 3
 * (msg) the named step has already started, -1 database. */
int model_hold(model_t *m, int64_t run_id, const char *step, int release, const char *actor,
               char *msg, size_t msglen);

/* Timers: dead workers, due retries, last_seen persistence. 0 or -1. */
int model_tick(model_t *m, int64_t now_ms);
/* Places ready tasks on workers (coordinator/place.h decides: order,
 * reservations, backfill, best fit); records a `reserved` event when a
 * step's reservation moves to a worker, and "backfill" in the detail of an
 * assignment that went ahead of a reserved step. 0 or -1. */
int model_dispatch(model_t *m);
/* Frees runs that finished in the iteration just committed. */
void model_after_commit(model_t *m);

run_t *model_run(model_t *m, int64_t run_id);
task_t *model_task(model_t *m, int64_t task_id);
worker_t *model_workers(model_t *m); /* list head, via ->next */
/* Calls fn for each queue with its running tasks and, per priority that has
 * any, the ready tasks waiting (metrics; O(queues + buckets)). */
typedef void (*model_depth_f)(void *ctx, const char *queue, int priority, size_t ready,
                              uint32_t running, int first_of_queue);
void model_queue_depths(model_t *m, model_depth_f fn, void *ctx);
size_t model_active_runs(model_t *m);
/* Active runs started by the schedule or trigger `name`. */
int model_runs_of_schedule(model_t *m, const char *name);
model_stats_t model_stats(const model_t *m);

#endif
