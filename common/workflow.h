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
 */
#ifndef DROVER_WORKFLOW_H
#define DROVER_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>

#define WORKFLOW_MAX_STEPS 10000

typedef struct {
    char *name;
    char *kind;
    char **after;
    size_t nafter;
    unsigned retries;
    int64_t timeout_ms;     /* 0 = none */
    int64_t retry_delay_ms; /* base of the exponential backoff; default 1000 */
    char *spec_json;        /* kind-specific fields, compact JSON */
    int line;               /* line of the step in the file */
} workflow_step_t;

typedef struct {
    char *name;
    char *path;             /* as given to workflow_load */
    workflow_step_t *steps;
    size_t nsteps;
} workflow_t;

/* Task kinds the loader knows; a step with another kind is an error. */
int workflow_kind_known(const char *kind);

/* Loads and validates path. Returns a workflow the caller owns (free with
 * workflow_destroy), or NULL with errno set and "file:line: message" in err. */
workflow_t *workflow_load(const char *path, char *err, size_t errlen);

/* Same, from a string (path is used only in messages and to resolve cwd). */
workflow_t *workflow_parse(const char *text, const char *path, char *err, size_t errlen);

/* Frees wf and nulls the caller's pointer; NULL-safe. */
void workflow_destroy(workflow_t **wf);

#endif
