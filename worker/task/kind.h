/* kind — the built-in task kinds run by drover-task (validate, train,
 * evaluate), and the little they share.
 *
 * drover-task is the child process the worker execs for a built-in kind
 * (worker/task.c): the spec arrives as JSON in DROVER_SPEC, the artifact
 * store's root in DROVER_ARTIFACTS, and results leave as JSON lines on fd 3
 * (DROVER_OUTPUT_FD): {"metric": {...}} as they happen, {"output": {...}}
 * once (the last one wins). Human progress goes to stdout, a one-line
 * reason for a failure to stderr.
 *
 * Each kind_* entry point returns the process exit status: 0 done, 1 the
 * work failed (a check, a gate, bad data, an I/O error), 2 a malformed spec.
 * All BLAS/CUDA use happens here, in the child — never in the worker.
 */
#ifndef DROVER_WORKER_KIND_H
#define DROVER_WORKER_KIND_H

#include <jansson.h>
#include <stdint.h>

#include "dataset.h"

#define KIND_EXIT_OK       0
#define KIND_EXIT_FAILED   1
#define KIND_EXIT_BAD_SPEC 2

typedef struct {
    json_t *spec;          /* the parsed DROVER_SPEC object (borrowed) */
    const char *artifacts; /* DROVER_ARTIFACTS; "" when unset */
    const char *run_id;    /* DROVER_RUN_ID; "0" when unset */
    const char *step;      /* DROVER_STEP; "step" when unset */
    unsigned attempt;      /* DROVER_ATTEMPT; 1 when unset */
    FILE *out;             /* the fd 3 channel (stdout when fd 3 is not open) */
} kind_ctx_t;

int kind_validate(kind_ctx_t *k);
int kind_train(kind_ctx_t *k);
int kind_evaluate(kind_ctx_t *k);
int kind_score(kind_ctx_t *k);

struct mlmodel;
/* Batch scoring (kind_score.c): scores data_path with m, columns by name,
 * and writes the predictions (CSV, or binary when binary) to out_path
 * (NULL or "-": CSV on stdout). version labels the rows. *ds_out (may be
 * NULL) receives the loaded dataset (caller destroys), *rows the count.
 * 0, or -1 with a message in err. */
int kind_score_file(const struct mlmodel *m, const char *data_path, int ignore_extra,
                    const char *version, const char *out_path, int binary, dataset_t **ds_out,
                    size_t *rows, char *err, size_t errlen);
/* `drover-task predict MODEL_FILE DATA [-o OUT] [--format csv|binary]
 * [--extra-columns refuse|ignore] [--version LABEL]`: the exit status. */
int kind_predict_main(int argc, char **argv);
/* `drover-task export MODEL_FILE -o OUT [--format onnx]` (mlonnx.h). */
int kind_export_main(int argc, char **argv);

/* Writes {"<key>": obj} as one line on the output channel and flushes.
 * Consumes the reference to obj. Returns 0, or -1 when the line could not
 * be written (reported on stderr; the kind carries on). */
int kind_emit(kind_ctx_t *k, const char *key, json_t *obj);

/* Prints the one-line failure reason to stderr ("drover-task: " is not
 * added: the line is the reason). Always returns code. */
int kind_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Spec accessors. Each returns the value, or def when the key is absent;
 * a present key of the wrong type sets *bad (and returns def). */
const char *kind_str(json_t *obj, const char *key, const char *def, int *bad);
double kind_num(json_t *obj, const char *key, double def, int *bad);
long long kind_int(json_t *obj, const char *key, long long def, int *bad);

/* {"sha256", "path", "format", "rows", "cols", "role"} of a loaded dataset
 * (new reference; NULL on ENOMEM). */
json_t *kind_dataset_json(const dataset_t *ds, const char *role);

/* A JSON real, or null for NaN/inf (JSON has no NaN). */
json_t *kind_real(double v);

#endif
