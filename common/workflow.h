/* workflow — loads and validates a workflow file (libconfig syntax).
 *
 *   workflow = "hello";
 *   steps = (
 *     { name = "fetch"; kind = "exec"; command = "echo fetching"; },
 *     { name = "train"; kind = "exec"; after = ["fetch"];
 *       argv = ["python3", "train.py"]; env = { EPOCHS = "3"; };
 *       cwd = "."; retries = 2; retry_delay = "1s"; timeout = "10m"; }
 *   );
 *
 * `@include "FILE"` lines are expanded first (common/wfsource.h): relative
 * to the including file, and a message about an included line names that
 * file and line.
 *
 * Validation happens entirely before anything is sent: unknown keys, wrong
 * types, missing fields, duplicate step names, unknown dependencies and
 * cycles are reported as "file:line: message". The kind-specific fields of
 * each step are turned into a JSON object (spec_json) that travels to the
 * worker unchanged; for exec: {"argv":[...],"env":{...},"cwd":"..."}.
 * A relative cwd is resolved against the workflow file's directory.
 *
 * The ML kinds (validate, train, evaluate, promote; keys and spec_json in
 * docs/tasks.md) are checked the same way: per-kind key sets, types and
 * ranges, required keys, defaults filled in (so spec_json is complete),
 * dataset/reference paths made absolute. A model reference "@STEP" must
 * name a train step this step runs after, directly or transitively;
 * "NAME:production" and "NAME:VERSION" are checked for syntax only (the
 * coordinator resolves them at dispatch).
 *
 * Scheduling (docs/scheduling.md). Top level: queue = "NAME" (default
 * "default"), priority = N (-1000..1000, default 0), and at most one of
 *   schedule = { cron = "0 3 * * *"; timezone = "Europe/Berlin";
 *                catchup = "none" | "latest" | "all"; max_active = 1; };
 *                (also catchup_max = 100; lateness = "60s";)
 *   trigger  = { watch = "data/feedback/"; min_new_rows = 500; on_failure = "keep"; };
 * (the cron expression and the zone are checked here; watch is made
 * absolute). Per step: resources = { cpus; memory; gpus; labels; } and
 * matrix = { KEY = [v1, v2, ...]; ... }, which expands the step into one
 * step per combination (cartesian product, file order, the last key
 * varying fastest), named STEP.1, STEP.2, ...; a step that lists STEP in
 * 'after' runs after all of them, and "@STEP" cannot name a swept step.
 *
 * Notifications: notify = { webhook = "https://hooks.example.com/ml";
 * on = ["failed", "awaiting_approval"]; } (kinds: failed, rejected,
 * succeeded, cancelled, awaiting_approval, and schedule_missed with a
 * schedule; default failed, rejected).
 * Kind "select" ({ metric = "val_accuracy"; mode = "max"; }) picks the
 * best of the train steps it runs after; spec_json
 * {"from":[train step names],"metric":M,"mode":"max"|"min"}; "@SELECT"
 * is a valid model reference, like "@TRAIN".
 *
 * Run parameters (common/params.h, docs/workflows.md): top level
 *   params = { lr = 0.01; data = "data/train.csv"; };
 * (names params_name_ok; values strings, numbers or booleans, kept as
 * text). Strings of steps may hold ${params.NAME}, ${run.id}, ... ; they
 * are checked here (an unknown name is a file:line error) by building the
 * workflow once with every reference substituted (the run-time values are
 * stand-ins: run 1, a due time, one trigger file): every rule of the
 * loader applies to the values, with its file:line. The workflow returned
 * keeps the references as written (the coordinator substitutes them for
 * each run); a path that starts with a reference stays relative and is
 * joined to base_dir by the coordinator after substitution.
 */
#ifndef DROVER_WORKFLOW_H
#define DROVER_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "stepkind.h"

/* Limits: the step-kind table's (common/stepkind.h), which the coordinator
 * enforces too. */
#define WORKFLOW_MAX_STEPS STEPKIND_MAX_STEPS
/* Dependencies (after entries) of one workflow in all: what one submit may
 * make the coordinator write and index (docs/workflows.md). */
#define WORKFLOW_MAX_EDGES    20000
#define WORKFLOW_MAX_SWEEP    256 /* combinations of one step's matrix */
#define WORKFLOW_MAX_LABELS   STEPKIND_MAX_LABELS
#define WORKFLOW_MAX_CPUS     STEPKIND_MAX_CPUS
#define WORKFLOW_MAX_GPUS     STEPKIND_MAX_GPUS
#define WORKFLOW_MIN_PRIORITY STEPKIND_MIN_PRIORITY
#define WORKFLOW_MAX_PRIORITY STEPKIND_MAX_PRIORITY

/* What a step needs from the worker that runs it. */
typedef struct {
    unsigned cpus;         /* worker slots it occupies; default 1 */
    uint64_t memory_bytes; /* 0 = no requirement */
    unsigned gpus;         /* whole GPUs, exclusive; 0 = none */
    char **labels;         /* the worker must have every one */
    size_t nlabels;
} workflow_resources_t;

typedef struct {
    char *name;
    char *kind;
    char **after;
    size_t nafter;
    unsigned retries;
    int64_t timeout_ms;             /* 0 = none */
    int64_t retry_delay_ms;         /* base of the exponential backoff; default 1000 */
    char *spec_json;                /* kind-specific fields, compact JSON */
    int line;                       /* line of the step in the file */
    workflow_resources_t resources; /* per gang member */
    unsigned nodes;                 /* gang members (nodes = N); 0 or 1 = a plain step */
    int pack;                       /* spread = false: gang members may share a worker */
    char *sweep;                    /* a matrix expansion: the step name as written; else NULL */
    char *matrix_json;              /* its combination, {"KEY":value,...} sorted; else NULL */
} workflow_step_t;

/* schedule = { ... }: the workflow runs on a calendar. */
typedef struct {
    char *cron;           /* 5-field expression, as written (checked by cron_parse) */
    char *timezone;       /* IANA name; default "UTC" */
    char *catchup;        /* "none" (default), "latest" or "all" */
    unsigned max_active;  /* runs of this schedule at once; default 1 */
    unsigned catchup_max; /* catchup = all: missed due times queued at most; 0 = 100 */
    unsigned lateness_s;  /* how late a due time may start as on time; 0 = 60 */
} workflow_schedule_t;

/* trigger = { ... }: the workflow runs when new labelled rows arrive. */
typedef struct {
    char *watch;            /* absolute folder, no trailing '/' */
    uint64_t min_new_rows;  /* >= 1; default 1 */
    const char *on_failure; /* "keep" (default) or "retry" (static strings) */
} workflow_trigger_t;

/* notify = { webhook = "https://..."; on = ["failed", ...]; }: the
 * workflow's own webhook (the coordinator accepts only URLs under its
 * coordinator.notify.allow prefixes). */
typedef struct {
    char *webhook; /* http(s):// URL as written */
    char **on;     /* kinds; default failed, rejected */
    size_t non;
} workflow_notify_t;

typedef struct {
    char *name;
    char *path; /* as given to workflow_load */
    workflow_step_t *steps;
    size_t nsteps;
    char *queue;                   /* default "default" */
    int priority;                  /* higher first within the queue; default 0 */
    workflow_schedule_t *schedule; /* NULL when the file has none */
    workflow_trigger_t *trigger;   /* NULL when the file has none */
    workflow_notify_t *notify;     /* NULL when the file has none */
    char **param_names;            /* declared params, file order */
    char **param_values;           /* their values (defaults, or --set) as text */
    size_t nparams;
    char *base_dir; /* realpath of the file's folder (relative substituted paths) */
} workflow_t;

/* Task kinds the loader knows; a step with another kind is an error. */
int workflow_kind_known(const char *kind);

/* Loads and validates path. Returns a workflow the caller owns (free with
 * workflow_destroy), or NULL with errno set and "file:line: message" in err. */
workflow_t *workflow_load(const char *path, char *err, size_t errlen);

/* Same, from a string (path is used only in messages and to resolve cwd). */
workflow_t *workflow_parse(const char *text, const char *path, char *err, size_t errlen);

/* workflow_load with parameter values: sets[i] is "NAME=VALUE" (`drover
 * submit --set`); a NAME the file does not declare is an error. */
workflow_t *workflow_load_params(const char *path, const char *const *sets, size_t nsets, char *err,
                                 size_t errlen);

/* Parses a byte size: digits with an optional fraction and an optional
 * unit K, M, G or T (powers of 1024; case-insensitive, "KB"/"KiB" forms
 * too), e.g. "4G", "512M", "1.5G", "1048576". Returns 0, or -1 with
 * errno=EINVAL (syntax) or ERANGE (above 2^63); *out untouched then. */
int workflow_parse_size(const char *s, uint64_t *out);

/* Frees wf and nulls the caller's pointer; NULL-safe. */
void workflow_destroy(workflow_t **wf);

#endif
