/* drover-task — runs one built-in task kind: `drover-task validate|train|
 * evaluate`, spec in DROVER_SPEC (see kind.h and docs/tasks.md).
 *
 * This file only wires: it reads the environment, parses the spec, opens
 * the output channel and dispatches to kind_validate/train/evaluate. It is
 * a separate program so that the ML code (OpenBLAS, cuBLAS) is loaded only
 * in task processes, never in drover-worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gang.h"
#include "kind.h"
#include "stepkind.h"

int kind_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    return code;
}

int kind_emit(kind_ctx_t *k, const char *key, json_t *obj)
{
    json_t *line = obj ? json_pack("{s:o}", key, obj) : NULL;
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(line);
    if (!text) {
        fprintf(stderr, "drover-task: out of memory writing a %s line\n", key);
        return -1;
    }
    int rc = 0;
    if (fprintf(k->out, "%s\n", text) < 0 || fflush(k->out) != 0) {
        fprintf(stderr, "drover-task: cannot write to the output channel: %s\n", strerror(errno));
        rc = -1;
    }
    free(text);
    return rc;
}

const char *kind_str(json_t *obj, const char *key, const char *def, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return def;
    if (!json_is_string(v)) {
        *bad = 1;
        return def;
    }
    return json_string_value(v);
}

double kind_num(json_t *obj, const char *key, double def, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return def;
    if (!json_is_number(v)) {
        *bad = 1;
        return def;
    }
    return json_number_value(v);
}

long long kind_int(json_t *obj, const char *key, long long def, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return def;
    if (!json_is_integer(v)) {
        *bad = 1;
        return def;
    }
    return json_integer_value(v);
}

json_t *kind_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *kind_dataset_json(const dataset_t *ds, const char *role)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "sha256", ds->sha256, "path", ds->path, "format",
                     dataset_format_name(ds->format), "rows", (json_int_t)ds->rows, "cols",
                     (json_int_t)ds->cols, "role", role);
}

static void s_usage(FILE *f)
{
    fprintf(f, "Usage: drover-task validate|train|evaluate|score\n"
               "       drover-task predict MODEL_FILE DATA [-o OUT] [--format csv|binary]\n"
               "       drover-task export MODEL_FILE -o OUT [--format onnx]\n"
               "       drover-task mpirun [--] PROG [ARGS]   (a gang member's MPI process)\n"
               "\n"
               "Runs one built-in drover task kind. drover-worker starts it for validate,\n"
               "train and evaluate steps; it is not meant to be run by hand, but can be:\n"
               "  DROVER_SPEC    the step's spec as JSON (see docs/tasks.md)\n"
               "  DROVER_ARTIFACTS  the artifact store (train, evaluate)\n"
               "  DROVER_RUN_ID, DROVER_STEP, DROVER_ATTEMPT  name the checkpoint of train\n"
               "  DROVER_OUTPUT_FD=3  metric/output JSON lines go to fd 3 (else to stdout)\n"
               "  RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, DROVER_GANG_ID  a gang member\n"
               "    (train runs data-parallel over MPI; docs/distributed.md)\n"
               "  DROVER_GANG_TIMEOUT  seconds to wait for the other members (default 120)\n"
               "Exit status: 0 done, 1 failed (reason on stderr), 2 bad usage or spec.\n");
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        s_usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("drover-task %s\n", DROVER_VERSION);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "predict") == 0)
        return kind_predict_main(argc, argv); /* argv-driven, no spec (kind_score.c) */
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return kind_export_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "mpirun") == 0)
        return gang_mpirun_main(argc, argv);
    if (argc != 2) {
        s_usage(stderr);
        return KIND_EXIT_BAD_SPEC;
    }
    int (*run)(kind_ctx_t *) = strcmp(argv[1], "validate") == 0   ? kind_validate
                               : strcmp(argv[1], "train") == 0    ? kind_train
                               : strcmp(argv[1], "evaluate") == 0 ? kind_evaluate
                               : strcmp(argv[1], "score") == 0    ? kind_score
                                                                  : NULL;
    if (!run)
        return kind_fail(KIND_EXIT_BAD_SPEC,
                         "drover-task: unknown kind '%s' (known: validate, "
                         "train, evaluate, score, predict)",
                         argv[1]);
    /* Progress lines reach the worker's log stream as they happen. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *text = getenv("DROVER_SPEC");
    if (!text || !*text)
        return kind_fail(KIND_EXIT_BAD_SPEC, "drover-task: DROVER_SPEC is not set");
    json_error_t jerr;
    json_t *spec = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!spec || !json_is_object(spec)) {
        json_decref(spec);
        return kind_fail(KIND_EXIT_BAD_SPEC, "drover-task: DROVER_SPEC is not a JSON object: %s",
                         spec ? "wrong type" : jerr.text);
    }
    /* The same table the CLI and the coordinator check against. */
    char why[512];
    const char *step =
        getenv("DROVER_STEP") && *getenv("DROVER_STEP") ? getenv("DROVER_STEP") : "step";
    if (stepkind_check_spec_json(stepkind_find(argv[1]), step, spec, STEPKIND_FROM_DISPATCH, why,
                                 sizeof why) < 0) {
        json_decref(spec);
        return kind_fail(KIND_EXIT_BAD_SPEC, "drover-task: bad %s spec: %s", argv[1], why);
    }
    const char *fdv = getenv("DROVER_OUTPUT_FD");
    FILE *out = NULL;
    const char *fifo = getenv("DROVER_GANG_OUT_FIFO");
    if (gang_is_inner() && fifo && *fifo) {
        /* Inside a gang member's mpirun, which closed fd 3 (gang.h). */
        if (!(out = fopen(fifo, "w"))) {
            json_decref(spec);
            return kind_fail(KIND_EXIT_FAILED,
                             "drover-task: cannot open the gang output FIFO %s: %s", fifo,
                             strerror(errno));
        }
    } else if (fdv && strcmp(fdv, "3") == 0 && fcntl(3, F_GETFD) >= 0) {
        out = fdopen(3, "w");
    }
    kind_ctx_t k = {
        .spec = spec,
        .artifacts = getenv("DROVER_ARTIFACTS") ? getenv("DROVER_ARTIFACTS") : "",
        .run_id = getenv("DROVER_RUN_ID") ? getenv("DROVER_RUN_ID") : "0",
        .step = getenv("DROVER_STEP") && *getenv("DROVER_STEP") ? getenv("DROVER_STEP") : "step",
        .attempt =
            getenv("DROVER_ATTEMPT") ? (unsigned)strtoul(getenv("DROVER_ATTEMPT"), NULL, 10) : 1,
        .out = out ? out : stdout,
    };
    int rc = run(&k);
    json_decref(spec);
    if (out && fclose(out) != 0 && rc == 0)
        rc = kind_fail(KIND_EXIT_FAILED, "drover-task: cannot write the output channel: %s",
                       strerror(errno));
    return rc;
}
