/* stepkind — the one table of step kinds and the rules of their specs.
 *
 * Every kind a workflow step can have is one row of a table (stepkind.c):
 * its name, where it runs, the keys its spec takes (type, bounds, words,
 * whether required, where the key may come from) and a validator for the
 * rules that span keys. Three places check specs against it, so a rule is
 * written once and enforced the same way for every peer:
 *
 *   - the CLI's workflow loader (common/workflow.c): the kind list, each
 *     kind's key set and the scalar bounds come from here; the spec it
 *     builds is checked here before anything is sent, and the message gets
 *     the loader's "file:line: " prefix;
 *   - the coordinator, on every SubmitRequest and schedule registration
 *     (stepkind_check_submit, called before model_submit writes anything):
 *     a hand-built request gets the same message text, without the line,
 *     as ERROR_BAD_REQUEST;
 *   - drover-task, on the spec it is started with (stepkind_check_spec with
 *     STEPKIND_FROM_DISPATCH, which also admits what the coordinator adds at
 *     dispatch, e.g. evaluate's "resolved").
 *
 * The wire form of a spec is the JSON object the loader builds (see
 * docs/tasks.md): defaults filled in, paths absolute, exec's 'command'
 * already turned into argv. A key that only a file may hold ('command') is
 * refused on the wire; a key only the coordinator adds ('resolved') is
 * refused from a client.
 *
 * Names (workflows, steps, models, queues, schedules, workers, labels)
 * follow util_name_ok (common/util.h).
 *
 * Errors: functions return 0, or -1 with errno = EINVAL (the input breaks a
 * rule; one line of human text in err) or ENOMEM. Nothing is kept.
 */
#ifndef DROVER_STEPKIND_H
#define DROVER_STEPKIND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "drover.pb-c.h"

#define STEPKIND_MAX_RETRIES       100
#define STEPKIND_MAX_DURATION_MS   (365LL * 24 * 3600 * 1000) /* a year: a typo guard */
#define STEPKIND_MAX_STEPS         10000
#define STEPKIND_MAX_LABELS        32
#define STEPKIND_LABEL_MAX         63 /* bytes of a worker/resource label */
#define STEPKIND_QUEUE_MAX         63 /* bytes of a queue name */
#define STEPKIND_MAX_CPUS          1024
#define STEPKIND_MAX_GPUS          64
#define STEPKIND_MAX_NODES         64 /* members of a gang step (nodes = N) */
#define STEPKIND_MIN_PRIORITY      (-1000)
#define STEPKIND_MAX_PRIORITY      1000
#define STEPKIND_MAX_ACTIVE        100    /* schedule max_active: 1..100 */
#define STEPKIND_MAX_GATES         32     /* bounds of an exec step's gates */
#define STEPKIND_MAX_CATCHUP       10000  /* schedule catchup_max: 1..10000 (default 100) */
#define STEPKIND_MAX_LATENESS_S    604800 /* schedule lateness: 1 s..7 days (default 60 s) */
#define STEPKIND_MAX_ARTIFACTS     64 /* outputs, and inputs, of one step (WIRECHECK_MAX_ARTIFACTS) */
#define STEPKIND_ARTIFACT_PATH_MAX 255 /* bytes of an output's relative path */

/* Where a step of a kind runs. */
typedef enum {
    STEPKIND_AT_WORKER,      /* the worker forks and execs it itself (exec) */
    STEPKIND_AT_TASK,        /* the worker runs `drover-task KIND` (validate, train, evaluate) */
    STEPKIND_AT_COORDINATOR, /* never leaves the coordinator (promote, select, approve) */
} stepkind_where_t;

/* What a spec key holds. */
typedef enum {
    STEPKIND_STRING,    /* non-empty UTF-8 */
    STEPKIND_PATH,      /* a file or folder; absolute on the wire */
    STEPKIND_NAME,      /* util_name_ok */
    STEPKIND_MODEL_REF, /* "@STEP", "NAME:production" or "NAME:VERSION" */
    STEPKIND_WORD,      /* one of words */
    STEPKIND_INT,       /* integer in [lo, hi] */
    STEPKIND_REAL,      /* number in [lo, hi] (lo_open/hi_open exclude a bound) */
    STEPKIND_ARGV,      /* non-empty array of UTF-8 strings, the first non-empty */
    STEPKIND_ENV,       /* object of NAME: string, names not reserved */
    STEPKIND_WIDTHS,    /* array of 1..8 integers in [lo, hi] */
    STEPKIND_NAMES,     /* non-empty array of step names */
    STEPKIND_OBJECT,    /* an object checked by the kind's validator */
    STEPKIND_OUTPUTS, /* array of 1..STEPKIND_MAX_ARTIFACTS relative paths (stepkind_rel_path_ok) */
    STEPKIND_INPUTS,  /* object of NAME: "@STEP:PATH" (at most STEPKIND_MAX_ARTIFACTS) */
} stepkind_type_t;

/* Where a key may come from (bits). */
#define STEPKIND_FROM_FILE     1 /* a workflow file */
#define STEPKIND_FROM_CLIENT   2 /* a SubmitRequest's spec_json */
#define STEPKIND_FROM_DISPATCH 4 /* the spec a worker gets (coordinator additions) */

typedef struct {
    const char *key;
    stepkind_type_t type;
    int required;             /* a step of the kind must have it (file and wire) */
    unsigned from;            /* STEPKIND_FROM_* bits */
    double lo, hi;            /* INT, REAL, WIDTHS */
    int lo_open, hi_open;     /* REAL */
    double def;               /* INT, REAL: the default the loader fills in */
    const char *const *words; /* WORD */
    const char *words_text;   /* WORD: "softmax, mlp, linear" */
    const char *example;      /* for "needs 'KEY', e.g. ..." */
} stepkind_key_t;

typedef struct stepkind stepkind_t;
struct stepkind {
    const char *name;
    stepkind_where_t where;
    const stepkind_key_t *keys; /* ends with key == NULL */
    const char *keys_text;      /* the file keys, for "known:" lists */
    /* Rules beyond single keys (NULL = none): spec is the wire object whose
     * keys already passed the table. */
    int (*check)(const stepkind_t *k, const char *step, json_t *spec, unsigned from, char *err,
                 size_t errlen);
};

/* The row of kind name, or NULL. */
const stepkind_t *stepkind_find(const char *name);
/* "exec, noop, validate, train, evaluate, score, promote, select, approve" (static). */
const char *stepkind_names_text(void);
/* The key row of kind k, or NULL. */
const stepkind_key_t *stepkind_key(const stepkind_t *k, const char *key);
/* "where it runs", for docs and messages ("worker", "drover-task", "coordinator"). */
const char *stepkind_where_name(stepkind_where_t w);

/* Checks one value against its key row: the messages the loader prints
 * (after "file:line: "), e.g. "step 'fit': 'epochs' must be between 1 and
 * 1000000". what names the value ("'epochs'"). */
int stepkind_check_value(const stepkind_key_t *kk, const char *step, const char *what, json_t *v,
                         unsigned from, char *err, size_t errlen);

/* Checks a whole wire spec (text) of a step of kind: an object, every key
 * known to the kind and allowed from `from`, each value by its row, the
 * required keys present, then the kind's validator. */
int stepkind_check_spec(const char *kind, const char *step, const char *spec_json, unsigned from,
                        char *err, size_t errlen);
/* The same on a parsed object. */
int stepkind_check_spec_json(const stepkind_t *k, const char *step, json_t *spec, unsigned from,
                             char *err, size_t errlen);

/* Environment names: [A-Za-z_][A-Za-z0-9_]*; reserved: set by drover itself. */
int stepkind_env_name_ok(const char *s);
int stepkind_env_reserved(const char *s);

/* Model flavours: a registered model version's model_kind. drover's own
 * kinds (softmax, mlp, linear: 1 from stepkind_flavour_drover) are the
 * ones it can evaluate, score and predict with; an exec step registers
 * any other name of [a-z0-9._-], 1 to 64 bytes, starting with a letter or
 * digit (stepkind_flavour_ok), e.g. "sklearn-pickle", "onnx". */
int stepkind_flavour_drover(const char *kind);
int stepkind_flavour_ok(const char *flavour);

/* Model reference syntax; for "@STEP" *step_ref points at STEP. 1 ok, 0 not. */
int stepkind_model_ref_ok(const char *ref, const char **step_ref);

/* Everything a client's SubmitRequest must satisfy before the coordinator
 * writes a byte: workflow, queue and step names, priority, step count, each
 * step's kind, retries, timeouts, resources, 'after' names and spec, the
 * "@STEP" and select 'from' references (they name steps of this request,
 * of the right kind), the schedule (cron, zone, catchup, max_active) and
 * the trigger (watch absolute, min_new_rows). Graph rules (unknown
 * dependencies, cycles, duplicate names) stay with dag_check. Cost: O(steps
 * + edges + spec bytes) time, O(steps) memory. */
int stepkind_check_submit(const Drover__SubmitRequest *req, char *err, size_t errlen);

/* An artifact path: relative to the step's work folder, 1 to
 * STEPKIND_ARTIFACT_PATH_MAX bytes of UTF-8 without control characters, no
 * empty, "." or ".." component, not absolute. 1 ok, 0 not. */
int stepkind_rel_path_ok(const char *p);

/* Splits an input reference "@STEP:PATH"; on 1, step[steplen] and *path
 * (pointing into ref) are set. 0 when ref is not of that form. */
int stepkind_input_ref(const char *ref, char *step, size_t steplen, const char **path);

/* One step as the artifact check sees it (from a file or a request). */
typedef struct {
    const char *name;
    const char *kind;
    char *const *after;
    size_t nafter;
    const char *spec_json; /* wire form: "outputs" and "inputs" keys */
} stepkind_view_t;

/* Cross-step rules of artifacts: each input "@STEP:PATH" names a step this
 * step runs after (directly or transitively) that declares PATH in its
 * 'outputs', and no two inputs of a step stage to the same PATH. On -1
 * (EINVAL), *bad is the offending step's index and err says why; ENOMEM.
 * Cost: O(consumers * (steps + edges) * log steps), refused beyond a bound. */
int stepkind_check_artifacts(const stepkind_view_t *steps, size_t n, size_t *bad, char *err,
                             size_t errlen);

#endif
