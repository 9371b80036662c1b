/* stepkind — the table of step kinds and the checks of their specs (see
 * stepkind.h).
 *
 * Design. A kind is data: a row of s_kinds with its key rows. Single-key
 * rules (type, bounds, words, required, origin) are generic and live in
 * stepkind_check_value; rules that look at several keys or into nested
 * groups (exec's env, train's 'hidden' only for mlp, validate's checks,
 * evaluate's gates, select's from) are the kind's validator. Messages are
 * worded exactly as the workflow loader words them, because the loader
 * prints the same text (with "file:line: " in front) for a file, and the
 * coordinator (without the line) for a hand-built request. The loader
 * still checks each setting itself (that is how it points at the exact
 * line of a nested key); tests/unit/test_stepkind.c (t_parity) pins that
 * both say the same for the same mistake.
 *
 * Cost: every check is linear in the bytes of the spec; stepkind_check_submit
 * sorts the step names once (O(n log n)) so references resolve by binary
 * search.
 */
#include "stepkind.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "dag.h"
#include "util.h"

#define FILE_CLIENT (STEPKIND_FROM_FILE | STEPKIND_FROM_CLIENT | STEPKIND_FROM_DISPATCH)
#define WIRE        (STEPKIND_FROM_CLIENT | STEPKIND_FROM_DISPATCH)

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = EINVAL;
    return -1;
}

static int s_oom(char *err, size_t errlen)
{
    util_errf(err, errlen, "out of memory");
    errno = ENOMEM;
    return -1;
}

/* ------------------------------------------------------------ the table --- */

static const char *const s_trainers[] = {"softmax", "mlp", "linear", NULL};
static const char *const s_optimizers[] = {"sgd", "adam", NULL};
static const char *const s_gpu_modes[] = {"auto", "never", "require", NULL};
static const char *const s_stages[] = {"staging", "production", "archived", NULL};
static const char *const s_modes[] = {"max", "min", NULL};
/* What a train step records with its model version (worker/task/kind_train.c):
 * a select's metric must be one of them, so a misspelling fails the submit,
 * not the select after hours of training. */
static const char *const s_train_metrics[] = {
    "val_accuracy", "val_loss", "train_accuracy", "train_loss", "val_rmse", "train_rmse", NULL};
static const char *const s_missing_modes[] = {"refuse", "mean", NULL};
static const char *const s_extra_modes[] = {"refuse", "ignore", NULL};
static const char *const s_score_formats[] = {"csv", "binary", NULL};

static const stepkind_key_t s_exec_keys[] = {
    {.key = "argv", .type = STEPKIND_ARGV, .from = FILE_CLIENT},
    /* The file's shorthand: the loader turns it into argv ["/bin/sh", "-c", command]. */
    {.key = "command", .type = STEPKIND_STRING, .from = STEPKIND_FROM_FILE},
    {.key = "env", .type = STEPKIND_ENV, .from = FILE_CLIENT},
    {.key = "cwd", .type = STEPKIND_PATH, .from = FILE_CLIENT},
    /* Absolute bounds on the metrics the step reports: s_exec_check. */
    {.key = "gates", .type = STEPKIND_OBJECT, .from = FILE_CLIENT},
    /* Files the step leaves in its work folder for later steps (docs/artifacts.md). */
    {.key = "outputs",
     .type = STEPKIND_OUTPUTS,
     .from = FILE_CLIENT,
     .example = "outputs = [\"model.pkl\"];"},
    {.key = "inputs",
     .type = STEPKIND_INPUTS,
     .from = FILE_CLIENT,
     .example = "inputs = { model = \"@train:model.pkl\"; };"},
    /* The coordinator resolves 'inputs' to hashes at dispatch (coordinator/registry.c). */
    {.key = "staged", .type = STEPKIND_OBJECT, .from = STEPKIND_FROM_DISPATCH},
    {.key = NULL},
};
static const stepkind_key_t s_noop_keys[] = {{.key = NULL}};
static const stepkind_key_t s_validate_keys[] = {
    {.key = "dataset",
     .type = STEPKIND_PATH,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "dataset = \"data/train.csv\";"},
    {.key = "label", .type = STEPKIND_STRING, .from = FILE_CLIENT},
    {.key = "checks",
     .type = STEPKIND_OBJECT,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "checks = { min_rows = 1000; };"},
    {.key = NULL},
};
static const stepkind_key_t s_train_keys[] = {
    {.key = "dataset",
     .type = STEPKIND_PATH,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "dataset = \"data/train.csv\";"},
    {.key = "label",
     .type = STEPKIND_STRING,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "label = \"damage\";"},
    {.key = "model",
     .type = STEPKIND_NAME,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "model = \"claims-damage\";"},
    {.key = "trainer",
     .type = STEPKIND_WORD,
     .from = FILE_CLIENT,
     .words = s_trainers,
     .words_text = "softmax, mlp, linear"},
    {.key = "hidden", .type = STEPKIND_WIDTHS, .from = FILE_CLIENT, .lo = 1, .hi = 65536},
    {.key = "optimizer",
     .type = STEPKIND_WORD,
     .from = FILE_CLIENT,
     .words = s_optimizers,
     .words_text = "sgd, adam"},
    /* Absent (def < 0): drover-task uses the optimizer's own (adam 0.003, sgd 0.1). */
    {.key = "learning_rate",
     .type = STEPKIND_REAL,
     .from = FILE_CLIENT,
     .lo = 0,
     .hi = 10,
     .lo_open = 1,
     .def = -1},
    {.key = "l2", .type = STEPKIND_REAL, .from = FILE_CLIENT, .lo = 0, .hi = 1e6, .def = 0.0},
    {.key = "epochs",
     .type = STEPKIND_INT,
     .from = FILE_CLIENT,
     .lo = 1,
     .hi = 1000000,
     .def = 100},
    {.key = "batch_size",
     .type = STEPKIND_INT,
     .from = FILE_CLIENT,
     .lo = 1,
     .hi = 1 << 24,
     .def = 32},
    {.key = "val_split",
     .type = STEPKIND_REAL,
     .from = FILE_CLIENT,
     .lo = 0,
     .hi = 1,
     .hi_open = 1,
     .def = 0.1},
    {.key = "patience",
     .type = STEPKIND_INT,
     .from = FILE_CLIENT,
     .lo = 0,
     .hi = 1000000,
     .def = 0},
    /* INT64_MAX as a double is 2^63: the check below compares integers. */
    {.key = "seed",
     .type = STEPKIND_INT,
     .from = FILE_CLIENT,
     .lo = 0,
     .hi = 9.2233720368547758e18,
     .def = 42},
    {.key = "threads", .type = STEPKIND_INT, .from = FILE_CLIENT, .lo = 1, .hi = 256, .def = 1},
    {.key = "gpu",
     .type = STEPKIND_WORD,
     .from = FILE_CLIENT,
     .words = s_gpu_modes,
     .words_text = "auto, never, require"},
    {.key = "missing",
     .type = STEPKIND_WORD,
     .from = FILE_CLIENT,
     .words = s_missing_modes,
     .words_text = "refuse, mean"},
    /* "epoch", "never" or a duration ("30s", "5m"); the train check reads it. */
    {.key = "checkpoint_every", .type = STEPKIND_STRING, .from = FILE_CLIENT},
    {.key = NULL},
};
static const stepkind_key_t s_evaluate_keys[] = {
    {.key = "dataset",
     .type = STEPKIND_PATH,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "dataset = \"data/test.csv\";"},
    {.key = "label", .type = STEPKIND_STRING, .from = FILE_CLIENT},
    {.key = "model",
     .type = STEPKIND_MODEL_REF,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "model = \"@train\";"},
    {.key = "gates", .type = STEPKIND_OBJECT, .from = FILE_CLIENT},
    {.key = "extra_columns",
     .type = STEPKIND_WORD,
     .from = FILE_CLIENT,
     .words = s_extra_modes,
     .words_text = "refuse, ignore"},
    /* The coordinator resolves 'model' at dispatch (coordinator/registry.c). */
    {.key = "resolved", .type = STEPKIND_OBJECT, .from = STEPKIND_FROM_DISPATCH},
    {.key = NULL},
};
static const stepkind_key_t s_score_keys[] = {
    {.key = "dataset",
     .type = STEPKIND_PATH,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "dataset = \"data/claims.csv\";"},
    {.key = "model",
     .type = STEPKIND_MODEL_REF,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "model = \"claims-damage:production\";"},
    {.key = "extra_columns",
     .type = STEPKIND_WORD,
     .from = FILE_CLIENT,
     .words = s_extra_modes,
     .words_text = "refuse, ignore"},
    {.key = "format",
     .type = STEPKIND_WORD,
     .from = FILE_CLIENT,
     .words = s_score_formats,
     .words_text = "csv, binary"},
    {.key = "resolved", .type = STEPKIND_OBJECT, .from = STEPKIND_FROM_DISPATCH},
    {.key = NULL},
};
static const stepkind_key_t s_promote_keys[] = {
    {.key = "model",
     .type = STEPKIND_MODEL_REF,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "model = \"@train\";"},
    {.key = "stage",
     .type = STEPKIND_WORD,
     .required = 1,
     .from = FILE_CLIENT,
     .words = s_stages,
     .words_text = "staging, production, archived",
     .example = "stage = \"production\";"},
    {.key = NULL},
};
/* approve (issue 11): waits for a person's `drover approve`/`reject` on the
 * model version named; the step's `timeout` ends it rejected. */
static const stepkind_key_t s_approve_keys[] = {
    {.key = "model",
     .type = STEPKIND_MODEL_REF,
     .required = 1,
     .from = FILE_CLIENT,
     .example = "model = \"@train\";"},
    {.key = NULL},
};
static const stepkind_key_t s_select_keys[] = {
    {.key = "metric",
     .type = STEPKIND_WORD,
     .required = 1,
     .from = FILE_CLIENT,
     .words = s_train_metrics,
     .words_text = "a metric train steps record: val_accuracy, val_loss, train_accuracy, "
                   "train_loss (classification); val_rmse, val_loss, train_rmse, train_loss "
                   "(regression)",
     .example = "metric = \"val_accuracy\";"},
    {.key = "mode",
     .type = STEPKIND_WORD,
     .required = 1,
     .from = FILE_CLIENT,
     .words = s_modes,
     .words_text = "max (higher is better), min (lower is better)",
     .example = "mode = \"max\";"},
    /* At least this many of its candidates must succeed; the others may
     * fail (a sweep member that failed does not fail the run). Default:
     * all of them. */
    {.key = "min_success",
     .type = STEPKIND_INT,
     .from = FILE_CLIENT,
     .lo = 1,
     .hi = 100000,
     .example = "min_success = 4;"},
    /* The loader fills it from 'after' (the train steps it picks from). */
    {.key = "from", .type = STEPKIND_NAMES, .required = 1, .from = WIRE},
    {.key = NULL},
};

static int s_exec_check(const stepkind_t *, const char *, json_t *, unsigned, char *, size_t);
static int s_train_check(const stepkind_t *, const char *, json_t *, unsigned, char *, size_t);
static int s_validate_check(const stepkind_t *, const char *, json_t *, unsigned, char *, size_t);
static int s_evaluate_check(const stepkind_t *, const char *, json_t *, unsigned, char *, size_t);
static int s_select_check(const stepkind_t *, const char *, json_t *, unsigned, char *, size_t);

static const stepkind_t s_kinds[] = {
    {"exec", STEPKIND_AT_WORKER, s_exec_keys, "argv, command, env, cwd, gates, outputs, inputs",
     s_exec_check},
    {"noop", STEPKIND_AT_WORKER, s_noop_keys, "", NULL},
    {"validate", STEPKIND_AT_TASK, s_validate_keys, "dataset, label, checks", s_validate_check},
    {"train", STEPKIND_AT_TASK, s_train_keys,
     "dataset, label, model, trainer, hidden, optimizer, learning_rate, l2, epochs, batch_size, "
     "val_split, patience, seed, threads, gpu, missing, checkpoint_every",
     s_train_check},
    {"evaluate", STEPKIND_AT_TASK, s_evaluate_keys, "dataset, label, model, gates, extra_columns",
     s_evaluate_check},
    {"score", STEPKIND_AT_TASK, s_score_keys, "dataset, model, extra_columns, format", NULL},
    {"promote", STEPKIND_AT_COORDINATOR, s_promote_keys, "model, stage", NULL},
    {"select", STEPKIND_AT_COORDINATOR, s_select_keys, "metric, mode, min_success", s_select_check},
    {"approve", STEPKIND_AT_COORDINATOR, s_approve_keys, "model", NULL},
    {NULL, 0, NULL, NULL, NULL},
};

const stepkind_t *stepkind_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; s_kinds[i].name; i++)
        if (strcmp(s_kinds[i].name, name) == 0)
            return &s_kinds[i];
    return NULL;
}

const char *stepkind_names_text(void)
{
    return "exec, noop, validate, train, evaluate, score, promote, select, approve";
}

const stepkind_key_t *stepkind_key(const stepkind_t *k, const char *key)
{
    for (const stepkind_key_t *kk = k->keys; kk->key; kk++)
        if (strcmp(kk->key, key) == 0)
            return kk;
    return NULL;
}

const char *stepkind_where_name(stepkind_where_t w)
{
    switch (w) {
    case STEPKIND_AT_WORKER: return "worker";
    case STEPKIND_AT_TASK: return "drover-task";
    case STEPKIND_AT_COORDINATOR: return "coordinator";
    }
    return "?";
}

/* ----------------------------------------------------------- the values --- */

static const char *const s_reserved_env[] = {"DROVER_RUN_ID",        "DROVER_STEP",
                                             "DROVER_TASK_ID",       "DROVER_ATTEMPT",
                                             "CUDA_VISIBLE_DEVICES", NULL};

int stepkind_env_name_ok(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int stepkind_env_reserved(const char *s)
{
    for (size_t r = 0; s_reserved_env[r]; r++)
        if (strcmp(s, s_reserved_env[r]) == 0)
            return 1;
    return 0;
}

int stepkind_model_ref_ok(const char *ref, const char **step_ref)
{
    *step_ref = NULL;
    if (ref[0] == '@') {
        if (!util_name_ok(ref + 1, 0))
            return 0;
        *step_ref = ref + 1;
        return 1;
    }
    const char *colon = strrchr(ref, ':');
    if (!colon || colon == ref || (size_t)(colon - ref) > UTIL_NAME_MAX)
        return 0;
    char name[UTIL_NAME_MAX + 1];
    memcpy(name, ref, (size_t)(colon - ref));
    name[colon - ref] = '\0';
    if (!util_name_ok(name, 0))
        return 0;
    const char *v = colon + 1;
    if (strcmp(v, "production") == 0)
        return 1;
    if (*v < '1' || *v > '9' || strlen(v) > 9)
        return 0;
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* A non-empty UTF-8 string (the loader's s_str). */
static int s_str(json_t *v, const char *step, const char *what, const char **out, char *err,
                 size_t errlen)
{
    if (!json_is_string(v))
        return s_fail(err, errlen, "step '%s': %s must be a string", step, what);
    const char *s = json_string_value(v);
    /* jansson allows NUL inside strings; a C consumer would cut them. */
    if (strlen(s) != json_string_length(v))
        return s_fail(err, errlen, "step '%s': %s holds a NUL byte", step, what);
    if (!*s)
        return s_fail(err, errlen, "step '%s': %s must not be empty", step, what);
    if (!util_utf8_valid(s))
        return s_fail(err, errlen, "step '%s': %s is not valid UTF-8", step, what);
    *out = s;
    return 0;
}

static int s_real(json_t *v, const char *step, const char *what, double lo, int lo_open, double hi,
                  int hi_open, char *err, size_t errlen)
{
    if (!json_is_number(v))
        return s_fail(err, errlen, "step '%s': %s must be a number", step, what);
    double x = json_number_value(v);
    if (!(x == x) || (lo_open ? !(x > lo) : !(x >= lo)) || (hi_open ? !(x < hi) : !(x <= hi)))
        return s_fail(err, errlen, "step '%s': %s must be %s %g and %s %g (got %g)", step, what,
                      lo_open ? "above" : "at least", lo, hi_open ? "below" : "at most", hi, x);
    return 0;
}

static int s_int(json_t *v, const char *step, const char *what, long long lo, long long hi,
                 char *err, size_t errlen)
{
    if (!json_is_integer(v))
        return s_fail(err, errlen, "step '%s': %s must be an integer", step, what);
    long long x = (long long)json_integer_value(v);
    if (x < lo || x > hi)
        return s_fail(err, errlen, "step '%s': %s must be between %lld and %lld", step, what, lo,
                      hi);
    return 0;
}

/* The row's bound as a long long (hi of 'seed' is INT64_MAX). */
static long long s_ll(double d)
{
    return d >= 9.2233720368547758e18 ? INT64_MAX : (long long)d;
}

int stepkind_check_value(const stepkind_key_t *kk, const char *step, const char *what, json_t *v,
                         unsigned from, char *err, size_t errlen)
{
    const char *s;
    switch (kk->type) {
    case STEPKIND_STRING: return s_str(v, step, what, &s, err, errlen);
    case STEPKIND_PATH:
        if (s_str(v, step, what, &s, err, errlen) < 0)
            return -1;
        /* A file's relative path is resolved by the loader; the wire is absolute. */
        if (!(from & STEPKIND_FROM_FILE) && s[0] != '/')
            return s_fail(err, errlen, "step '%s': %s must be an absolute path (got '%.64s')", step,
                          what, s);
        return 0;
    case STEPKIND_NAME:
        if (s_str(v, step, what, &s, err, errlen) < 0)
            return -1;
        if (!util_name_ok(s, 0)) {
            if (strcmp(kk->key, "metric") == 0)
                return s_fail(err, errlen,
                              "step '%s': 'metric' must be a metric name such as "
                              "\"val_accuracy\" (letters, digits, '_', '.' or '-'; got '%.140s')",
                              step, s);
            return s_fail(err, errlen,
                          "step '%s': %s name '%.140s' is invalid (use " UTIL_NAME_RULE ")", step,
                          kk->key, s, UTIL_NAME_MAX);
        }
        return 0;
    case STEPKIND_MODEL_REF: {
        const char *sref;
        if (s_str(v, step, what, &s, err, errlen) < 0)
            return -1;
        if (!stepkind_model_ref_ok(s, &sref))
            return s_fail(err, errlen,
                          "step '%s': 'model' must be \"@STEP\" (the model trained by an earlier "
                          "step of this run), \"NAME:production\" or \"NAME:VERSION\" (got "
                          "'%.140s')",
                          step, s);
        return 0;
    }
    case STEPKIND_WORD:
        if (s_str(v, step, what, &s, err, errlen) < 0)
            return -1;
        for (size_t i = 0; kk->words[i]; i++)
            if (strcmp(s, kk->words[i]) == 0)
                return 0;
        return s_fail(err, errlen, "step '%s': %s must be one of %s (got '%.64s')", step, what,
                      kk->words_text, s);
    case STEPKIND_INT: return s_int(v, step, what, s_ll(kk->lo), s_ll(kk->hi), err, errlen);
    case STEPKIND_REAL:
        return s_real(v, step, what, kk->lo, kk->lo_open, kk->hi, kk->hi_open, err, errlen);
    case STEPKIND_ARGV: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0)
            return s_fail(err, errlen,
                          "step '%s': 'argv' must be a non-empty array of strings, "
                          "e.g. argv = [\"python3\", \"train.py\"]",
                          step);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
                return s_fail(err, errlen, "step '%s': 'argv' must be an array of strings", step);
            if (i == 0 && !*json_string_value(e))
                return s_fail(err, errlen, "step '%s': the program in 'argv' must not be empty",
                              step);
            if (!util_utf8_valid(json_string_value(e)))
                return s_fail(err, errlen,
                              "step '%s': 'argv' holds a string that is not valid "
                              "UTF-8",
                              step);
        }
        return 0;
    }
    case STEPKIND_ENV: {
        if (!json_is_object(v))
            return s_fail(err, errlen,
                          "step '%s': 'env' must be a group, e.g. env = { EPOCHS = "
                          "\"3\"; }",
                          step);
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            if (!stepkind_env_name_ok(k))
                return s_fail(err, errlen,
                              "step '%s': '%.64s' is not a valid environment "
                              "variable name (letters, digits and '_', not starting with a "
                              "digit)",
                              step, k);
            if (stepkind_env_reserved(k))
                return s_fail(err, errlen,
                              "step '%s': env '%s' is set by drover and cannot be "
                              "overridden",
                              step, k);
            if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
                return s_fail(err, errlen,
                              "step '%s': env '%s' must be a string (quote it: %s = "
                              "\"...\")",
                              step, k, k);
            if (!util_utf8_valid(json_string_value(e)))
                return s_fail(err, errlen, "step '%s': env '%s' is not valid UTF-8", step, k);
        }
        return 0;
    }
    case STEPKIND_WIDTHS: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        /* The wire form of a non-mlp trainer is [] (the loader writes it). */
        if (!json_is_array(v) || n > 8 || (n == 0 && (from & STEPKIND_FROM_FILE)))
            return s_fail(err, errlen,
                          "step '%s': 'hidden' must be an array of 1 to 8 layer "
                          "widths, e.g. hidden = [128, 64]",
                          step);
        for (size_t i = 0; i < n; i++)
            if (s_int(json_array_get(v, i), step, "each 'hidden' width", s_ll(kk->lo), s_ll(kk->hi),
                      err, errlen) < 0)
                return -1;
        return 0;
    }
    case STEPKIND_NAMES: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0)
            return s_fail(err, errlen,
                          "step '%s': a select step needs at least one train step "
                          "in 'after' (the candidates it picks from)",
                          step);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || !util_name_ok(json_string_value(e), 0))
                return s_fail(err, errlen, "step '%s': %s must be an array of step names", step,
                              what);
        }
        return 0;
    }
    case STEPKIND_OBJECT:
        if (!json_is_object(v))
            return s_fail(err, errlen, "step '%s': %s must be a group", step, what);
        return 0;
    case STEPKIND_OUTPUTS: {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        if (n == 0 || n > STEPKIND_MAX_ARTIFACTS)
            return s_fail(err, errlen,
                          "step '%s': 'outputs' must be an array of 1 to %d file "
                          "paths, e.g. outputs = [\"model.pkl\"]",
                          step, STEPKIND_MAX_ARTIFACTS);
        for (size_t i = 0; i < n; i++) {
            const char *p = json_string_value(json_array_get(v, i));
            if (!p || strlen(p) != json_string_length(json_array_get(v, i)) ||
                !stepkind_rel_path_ok(p))
                return s_fail(err, errlen,
                              "step '%s': each output must be a path relative to "
                              "the step's work folder, without '..' (got '%.64s')",
                              step, p ? p : "a non-string");
            for (size_t j = 0; j < i; j++)
                if (strcmp(p, json_string_value(json_array_get(v, j))) == 0)
                    return s_fail(err, errlen, "step '%s': output '%.64s' is listed twice", step,
                                  p);
        }
        return 0;
    }
    case STEPKIND_INPUTS: {
        if (!json_is_object(v) || json_object_size(v) == 0 ||
            json_object_size(v) > STEPKIND_MAX_ARTIFACTS)
            return s_fail(err, errlen,
                          "step '%s': 'inputs' must be a group of 1 to %d NAME = "
                          "\"@STEP:PATH\", e.g. inputs = { model = \"@train:model.pkl\"; }",
                          step, STEPKIND_MAX_ARTIFACTS);
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            char ps[UTIL_NAME_MAX + 1];
            const char *path, *r = json_string_value(e);
            if (!util_name_ok(k, 0))
                return s_fail(err, errlen,
                              "step '%s': input name '%.64s' is invalid (use " UTIL_NAME_RULE ")",
                              step, k, UTIL_NAME_MAX);
            if (!r || strlen(r) != json_string_length(e) ||
                !stepkind_input_ref(r, ps, sizeof ps, &path))
                return s_fail(err, errlen,
                              "step '%s': input '%s' must be \"@STEP:PATH\" (an "
                              "output of an earlier step, e.g. \"@train:model.pkl\"; got "
                              "'%.64s')",
                              step, k, r ? r : "a non-string");
        }
        return 0;
    }
    }
    return s_fail(err, errlen, "step '%s': %s has an unknown type", step, what);
}

int stepkind_rel_path_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > STEPKIND_ARTIFACT_PATH_MAX || p[0] == '/' || !util_utf8_valid(p))
        return 0;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return 0;
    /* Components: none empty, ".", or "..". */
    const char *c = p;
    while (*c) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        if (!e)
            break;
        c = e + 1;
        if (!*c)
            return 0; /* a trailing '/' names a folder */
    }
    return 1;
}

int stepkind_input_ref(const char *ref, char *step, size_t steplen, const char **path)
{
    if (!ref || ref[0] != '@')
        return 0;
    const char *colon = strchr(ref + 1, ':');
    if (!colon || (size_t)(colon - ref - 1) >= steplen)
        return 0;
    memcpy(step, ref + 1, (size_t)(colon - ref - 1));
    step[colon - ref - 1] = '\0';
    if (!util_name_ok(step, 0) || !stepkind_rel_path_ok(colon + 1))
        return 0;
    *path = colon + 1;
    return 1;
}

/* ------------------------------------------------------ kind validators --- */

int stepkind_flavour_drover(const char *kind)
{
    return kind && (!strcmp(kind, "softmax") || !strcmp(kind, "mlp") || !strcmp(kind, "linear"));
}

int stepkind_flavour_ok(const char *f)
{
    size_t n = f ? strlen(f) : 0;
    if (n == 0 || n > 64 || !((f[0] >= 'a' && f[0] <= 'z') || (f[0] >= '0' && f[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((f[i] >= 'a' && f[i] <= 'z') || (f[i] >= '0' && f[i] <= '9') || f[i] == '.' ||
              f[i] == '_' || f[i] == '-'))
            return 0;
    return !stepkind_flavour_drover(f);
}

static int s_exec_check(const stepkind_t *k, const char *step, json_t *spec, unsigned from,
                        char *err, size_t errlen)
{
    (void)k;
    if (!(from & STEPKIND_FROM_FILE) && !json_object_get(spec, "argv"))
        return s_fail(err, errlen,
                      "step '%s': an exec step needs 'argv' (a list of strings) or "
                      "'command' (a shell command line)",
                      step);
    /* gates = { min = { accuracy = 0.9; }; max = { log_loss = 0.5; }; }: the
     * evaluate kind's absolute thresholds, on any metric the step reports. */
    json_t *gates = json_object_get(spec, "gates");
    if (!gates)
        return 0;
    if (!json_is_object(gates) || json_object_size(gates) == 0)
        return s_fail(err, errlen,
                      "step '%s': 'gates' must be a group, e.g. gates = { min = { "
                      "accuracy = 0.9; }; };",
                      step);
    const char *gk, *mk;
    json_t *g, *b;
    size_t nb = 0;
    json_object_foreach(gates, gk, g)
    {
        if (strcmp(gk, "min") != 0 && strcmp(gk, "max") != 0)
            return s_fail(err, errlen,
                          "step '%s': unknown gate '%.64s' for an exec step (known: "
                          "min, max)",
                          step, gk);
        if (!json_is_object(g))
            return s_fail(err, errlen,
                          "step '%s': gates '%s' must be a group of metric = bound, "
                          "e.g. %s = { accuracy = 0.9; };",
                          step, gk, gk);
        json_object_foreach(g, mk, b)
        {
            if (!util_name_ok(mk, 64))
                return s_fail(err, errlen, "step '%s': gates %s: '%.64s' is not a metric name",
                              step, gk, mk);
            char what[96];
            snprintf(what, sizeof what, "gates %s '%s'", gk, mk);
            if (s_real(b, step, what, -1e300, 0, 1e300, 0, err, errlen) < 0)
                return -1;
            if (++nb > STEPKIND_MAX_GATES)
                return s_fail(err, errlen, "step '%s': at most %d gates", step, STEPKIND_MAX_GATES);
        }
    }
    return 0;
}

/* min_success cannot ask for more candidates than the select has. */
static int s_select_check(const stepkind_t *k, const char *step, json_t *spec, unsigned from,
                          char *err, size_t errlen)
{
    (void)k;
    (void)from;
    json_t *ms = json_object_get(spec, "min_success"), *cands = json_object_get(spec, "from");
    if (ms && json_is_array(cands) && json_integer_value(ms) > (json_int_t)json_array_size(cands))
        return s_fail(err, errlen,
                      "step '%s': 'min_success' is %lld but it chooses from %zu "
                      "step%s",
                      step, (long long)json_integer_value(ms), json_array_size(cands),
                      json_array_size(cands) == 1 ? "" : "s");
    return 0;
}

static int s_train_check(const stepkind_t *k, const char *step, json_t *spec, unsigned from,
                         char *err, size_t errlen)
{
    (void)k;
    (void)from;
    json_t *t = json_object_get(spec, "trainer");
    json_t *h = json_object_get(spec, "hidden");
    int mlp = t && strcmp(json_string_value(t), "mlp") == 0;
    if (h && json_array_size(h) > 0 && !mlp)
        return s_fail(err, errlen, "step '%s': 'hidden' applies to trainer \"mlp\" only", step);
    /* checkpoint_every: "epoch", "never" or a positive duration ("30s",
     * "5m", "1h", or a number of seconds) that drover-task parses. */
    const char *ce = json_string_value(json_object_get(spec, "checkpoint_every"));
    if (ce && strcmp(ce, "epoch") != 0 && strcmp(ce, "never") != 0) {
        char *end;
        double d = strtod(ce, &end);
        if (end == ce || !(d > 0) || d > 1e7 ||
            (*end && strcmp(end, "s") && strcmp(end, "m") && strcmp(end, "min") &&
             strcmp(end, "h")))
            return s_fail(err, errlen,
                          "step '%s': 'checkpoint_every' must be \"epoch\", "
                          "\"never\", 0 or a duration such as \"30s\", \"5m\" (got '%.64s')",
                          step, ce);
    }
    return 0;
}

static int s_is_ratio(json_t *v)
{
    return json_is_number(v);
}

static int s_validate_check(const stepkind_t *k, const char *step, json_t *spec, unsigned from,
                            char *err, size_t errlen)
{
    (void)k;
    (void)from;
    json_t *checks = json_object_get(spec, "checks");
    int has_label = json_object_get(spec, "label") != NULL;
    if (json_object_size(checks) == 0)
        return s_fail(err, errlen,
                      "step '%s': 'checks' is empty; give at least one check "
                      "(columns, min_rows, max_missing, ranges, min_class_share, max_duplicates, "
                      "drift)",
                      step);
    const char *ck;
    json_t *v;
    json_object_foreach(checks, ck, v)
    {
        if (strcmp(ck, "columns") == 0) {
            size_t m = json_is_array(v) ? json_array_size(v) : 0;
            if (m == 0)
                return s_fail(err, errlen,
                              "step '%s': checks 'columns' must be a non-empty array "
                              "of column names",
                              step);
            const char *s;
            for (size_t j = 0; j < m; j++)
                if (s_str(json_array_get(v, j), step, "each checks 'columns' entry", &s, err,
                          errlen) < 0)
                    return -1;
        } else if (strcmp(ck, "min_rows") == 0) {
            if (s_int(v, step, "checks 'min_rows'", 0, INT64_MAX, err, errlen) < 0)
                return -1;
        } else if (strcmp(ck, "max_missing") == 0 || strcmp(ck, "max_duplicates") == 0 ||
                   strcmp(ck, "min_class_share") == 0) {
            char what[64];
            snprintf(what, sizeof what, "checks '%s'", ck);
            if (s_real(v, step, what, 0, 0, 1, 0, err, errlen) < 0)
                return -1;
            if (strcmp(ck, "min_class_share") == 0 && !has_label)
                return s_fail(err, errlen,
                              "step '%s': checks 'min_class_share' needs the step's "
                              "'label' (the class column)",
                              step);
        } else if (strcmp(ck, "ranges") == 0) {
            if (!json_is_object(v) || json_object_size(v) == 0)
                return s_fail(err, errlen,
                              "step '%s': checks 'ranges' must be a non-empty group "
                              "of column = [min, max], e.g. ranges = { f0 = [-10.0, 10.0]; };",
                              step);
            const char *col;
            json_t *r;
            json_object_foreach(v, col, r)
            {
                json_t *lo = json_array_get(r, 0), *hi = json_array_get(r, 1);
                if (!json_is_array(r) || json_array_size(r) != 2 || !s_is_ratio(lo) ||
                    !s_is_ratio(hi) || !(json_number_value(lo) <= json_number_value(hi)))
                    return s_fail(err, errlen,
                                  "step '%s': checks range of '%.64s' must be [min, "
                                  "max] with min <= max",
                                  step, col);
                if (!util_utf8_valid(col))
                    return s_fail(err, errlen,
                                  "step '%s': a checks range column is not valid "
                                  "UTF-8",
                                  step);
            }
        } else if (strcmp(ck, "drift") == 0) {
            if (!json_is_object(v))
                return s_fail(err, errlen,
                              "step '%s': checks 'drift' must be a group, e.g. drift "
                              "= { reference = \"data/train.csv\"; max_psi = 0.2; };",
                              step);
            static const stepkind_key_t ref = {.key = "reference", .type = STEPKIND_PATH};
            const char *dk;
            json_t *d;
            int have_ref = 0;
            json_object_foreach(v, dk, d)
            {
                if (strcmp(dk, "reference") == 0) {
                    if (stepkind_check_value(&ref, step, "checks.drift 'reference'", d, from, err,
                                             errlen) < 0)
                        return -1;
                    have_ref = 1;
                } else if (strcmp(dk, "max_psi") == 0) {
                    if (s_real(d, step, "checks.drift 'max_psi'", 0, 1, 100, 0, err, errlen) < 0)
                        return -1;
                } else if (strcmp(dk, "bins") == 0) {
                    if (s_int(d, step, "checks.drift 'bins'", 2, 1000, err, errlen) < 0)
                        return -1;
                } else {
                    return s_fail(err, errlen,
                                  "step '%s': unknown key '%.64s' in checks.drift "
                                  "(known: reference, max_psi, bins)",
                                  step, dk);
                }
            }
            if (!have_ref)
                return s_fail(err, errlen,
                              "step '%s': checks.drift needs 'reference' (the "
                              "dataset to compare with)",
                              step);
        } else {
            return s_fail(err, errlen,
                          "step '%s': unknown check '%.64s' (known: columns, "
                          "min_rows, max_missing, ranges, min_class_share, max_duplicates, "
                          "drift)",
                          step, ck);
        }
    }
    return 0;
}

static const char *const s_min_metrics[] = {"accuracy", "macro_f1", "r2", NULL};
static const char *const s_max_metrics[] = {"log_loss", "rmse", "mae", NULL};
static const char *const s_all_metrics[] = {"accuracy", "macro_f1", "r2", "log_loss",
                                            "rmse",     "mae",      NULL};

static int s_evaluate_check(const stepkind_t *k, const char *step, json_t *spec, unsigned from,
                            char *err, size_t errlen)
{
    (void)k;
    (void)from;
    json_t *gates = json_object_get(spec, "gates");
    const char *gk;
    json_t *g;
    json_object_foreach(gates, gk, g)
    {
        int is_min = strcmp(gk, "min") == 0;
        if (is_min || strcmp(gk, "max") == 0) {
            const char *const *allowed = is_min ? s_min_metrics : s_max_metrics;
            const char *list = is_min ? "accuracy, macro_f1, r2" : "log_loss, rmse, mae";
            if (!json_is_object(g))
                return s_fail(err, errlen,
                              "step '%s': gates '%s' must be a group of metric = "
                              "bound, e.g. %s",
                              step, gk,
                              is_min ? "min = { accuracy = 0.8; };" : "max = { log_loss = 0.6; };");
            const char *mk;
            json_t *b;
            json_object_foreach(g, mk, b)
            {
                int ok = 0;
                for (size_t a = 0; allowed[a]; a++)
                    ok |= strcmp(mk, allowed[a]) == 0;
                if (!ok)
                    return s_fail(err, errlen,
                                  "step '%s': gates '%s' cannot bound '%.64s' "
                                  "(known: %s)",
                                  step, gk, mk, list);
                char what[96];
                snprintf(what, sizeof what, "gates %s '%s'", gk, mk);
                if (s_real(b, step, what, -1e300, 0, 1e300, 0, err, errlen) < 0)
                    return -1;
            }
        } else if (strcmp(gk, "better_than_production") == 0) {
            if (!json_is_object(g))
                return s_fail(err, errlen,
                              "step '%s': gates 'better_than_production' must be a "
                              "group, e.g. { metric = \"accuracy\"; by = 0.0; }",
                              step);
            static const stepkind_key_t metric = {.key = "metric",
                                                  .type = STEPKIND_WORD,
                                                  .words = s_all_metrics,
                                                  .words_text = "accuracy, macro_f1, r2, "
                                                                "log_loss, rmse, mae"};
            const char *ek;
            json_t *e;
            int have_metric = 0;
            json_object_foreach(g, ek, e)
            {
                if (strcmp(ek, "metric") == 0) {
                    if (stepkind_check_value(&metric, step, "better_than_production 'metric'", e,
                                             from, err, errlen) < 0)
                        return -1;
                    have_metric = 1;
                } else if (strcmp(ek, "by") == 0) {
                    if (s_real(e, step, "better_than_production 'by'", 0, 0, 1e300, 0, err,
                               errlen) < 0)
                        return -1;
                } else if (strcmp(ek, "alpha") == 0) {
                    if (s_real(e, step, "better_than_production 'alpha'", 0, 1, 1, 1, err, errlen) <
                        0)
                        return -1;
                } else {
                    return s_fail(err, errlen,
                                  "step '%s': unknown key '%.64s' in gates "
                                  "better_than_production (known: metric, by, alpha)",
                                  step, ek);
                }
            }
            if (!have_metric)
                return s_fail(err, errlen,
                              "step '%s': gates better_than_production needs "
                              "'metric', e.g. metric = \"accuracy\";",
                              step);
            /* alpha: McNemar's exact test on paired predictions: accuracy only. */
            json_t *al = json_object_get(g, "alpha"), *me = json_object_get(g, "metric");
            if (al && (!json_is_string(me) || strcmp(json_string_value(me), "accuracy") != 0))
                return s_fail(err, errlen,
                              "step '%s': better_than_production 'alpha' (a "
                              "significance test) applies to metric \"accuracy\" only",
                              step);
        } else {
            return s_fail(err, errlen,
                          "step '%s': unknown gate '%.64s' (known: min, max, "
                          "better_than_production)",
                          step, gk);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the spec --- */

int stepkind_check_spec_json(const stepkind_t *k, const char *step, json_t *spec, unsigned from,
                             char *err, size_t errlen)
{
    if (!json_is_object(spec))
        return s_fail(err, errlen, "step '%s': spec_json is not a JSON object", step);
    const char *key;
    json_t *v;
    json_object_foreach(spec, key, v)
    {
        const stepkind_key_t *kk = stepkind_key(k, key);
        if (!kk || !(kk->from & from))
            return s_fail(err, errlen, "step '%s': unknown key '%.64s' (known: %s)", step, key,
                          *k->keys_text ? k->keys_text : "none");
        char what[80];
        snprintf(what, sizeof what, "'%s'", key);
        if (stepkind_check_value(kk, step, what, v, from, err, errlen) < 0)
            return -1;
    }
    for (const stepkind_key_t *kk = k->keys; kk->key; kk++)
        if (kk->required && (kk->from & from) && !json_object_get(spec, kk->key)) {
            if (strcmp(kk->key, "from") == 0)
                return s_fail(err, errlen,
                              "step '%s': a select step needs at least one train "
                              "step in 'after' (the candidates it picks from)",
                              step);
            return s_fail(err, errlen, "step '%s': %s steps need '%s', e.g. %s", step, k->name,
                          kk->key, kk->example ? kk->example : "...");
        }
    return k->check ? k->check(k, step, spec, from, err, errlen) : 0;
}

int stepkind_check_spec(const char *kind, const char *step, const char *spec_json, unsigned from,
                        char *err, size_t errlen)
{
    const stepkind_t *k = stepkind_find(kind);
    if (!k)
        return s_fail(err, errlen, "step '%s': unknown kind '%.64s' (known: %s)", step,
                      kind ? kind : "", stepkind_names_text());
    json_error_t je;
    json_t *spec = spec_json ? json_loads(spec_json, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!spec) {
        if (spec_json && strstr(je.text, "memory"))
            return s_oom(err, errlen);
        return s_fail(err, errlen, "step '%s': spec_json is not a JSON object", step);
    }
    int rc = stepkind_check_spec_json(k, step, spec, from, err, errlen);
    int e = errno;
    json_decref(spec);
    errno = e;
    return rc;
}

/* ---------------------------------------------------------- the submit --- */

typedef struct {
    const char *name;
    size_t idx;
} name_idx_t;

static int s_name_cmp(const void *a, const void *b)
{
    return strcmp(((const name_idx_t *)a)->name, ((const name_idx_t *)b)->name);
}

/* The index of the step named name in the request, or -1. */
static long s_lookup(const name_idx_t *sorted, size_t n, const char *name)
{
    name_idx_t key = {name, 0};
    const name_idx_t *hit = bsearch(&key, sorted, n, sizeof *sorted, s_name_cmp);
    return hit ? (long)hit->idx : -1;
}

static int s_in_after(const Drover__StepSpec *s, const char *name)
{
    for (size_t a = 0; a < s->n_after; a++)
        if (s->after[a] && strcmp(s->after[a], name) == 0)
            return 1;
    return 0;
}

/* References across steps: "@STEP" names a train, select or exec (its
 * register_model) step of this
 * request; a select's 'from' lists train steps it runs after directly.
 * (That "@STEP" is an ancestor is the loader's rule too; the coordinator
 * resolves the reference when the step is dispatched.) */
static int s_check_refs(const Drover__SubmitRequest *req, const name_idx_t *sorted, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < req->n_steps; i++) {
        const Drover__StepSpec *s = req->steps[i];
        int sel = strcmp(s->kind, "select") == 0;
        if (!sel && strcmp(s->kind, "evaluate") != 0 && strcmp(s->kind, "promote") != 0 &&
            strcmp(s->kind, "score") != 0 && strcmp(s->kind, "approve") != 0)
            continue;
        json_t *spec = json_loads(s->spec_json, 0, NULL);
        if (!spec)
            return s_oom(err, errlen); /* it parsed a moment ago */
        int rc = 0;
        if (sel) {
            json_t *from = json_object_get(spec, "from"), *e;
            size_t j;
            json_array_foreach(from, j, e)
            {
                const char *f = json_string_value(e);
                long t = s_lookup(sorted, req->n_steps, f);
                if (t < 0 || !s_in_after(s, f) || strcmp(req->steps[t]->kind, "train") != 0) {
                    rc = s_fail(err, errlen,
                                "step '%s': 'from' must list train steps this step "
                                "runs after ('%.140s' is not one)",
                                s->name, f);
                    break;
                }
            }
        } else {
            const char *ref = json_string_value(json_object_get(spec, "model")), *sref = NULL;
            if (ref && stepkind_model_ref_ok(ref, &sref) && sref) {
                long t = s_lookup(sorted, req->n_steps, sref);
                if (t < 0)
                    rc = s_fail(err, errlen,
                                "step '%s': model '@%s' names no step of this "
                                "workflow",
                                s->name, sref);
                else if (strcmp(req->steps[t]->kind, "train") != 0 &&
                         strcmp(req->steps[t]->kind, "select") != 0 &&
                         strcmp(req->steps[t]->kind, "exec") != 0)
                    rc = s_fail(err, errlen,
                                "step '%s': model '@%s' must name a train, select or "
                                "exec step ('%s' is %s)",
                                s->name, sref, sref, req->steps[t]->kind);
            }
        }
        json_decref(spec);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int s_check_resources(const Drover__StepSpec *s, char *err, size_t errlen)
{
    const Drover__Resources *r = s->resources;
    if (!r)
        return 0;
    /* cpus 0 = the default, 1 slot. */
    if (r->cpus > STEPKIND_MAX_CPUS)
        return s_fail(err, errlen, "step '%s': resources 'cpus' must be between 1 and %d", s->name,
                      STEPKIND_MAX_CPUS);
    if (r->gpus > STEPKIND_MAX_GPUS)
        return s_fail(err, errlen, "step '%s': resources 'gpus' must be between 0 and %d", s->name,
                      STEPKIND_MAX_GPUS);
    if (r->memory_bytes > (uint64_t)INT64_MAX)
        return s_fail(err, errlen,
                      "step '%s': resources 'memory' must be a size: bytes "
                      "(4294967296) or a string with a unit K, M, G or T (\"512M\", \"4G\")",
                      s->name);
    if (r->n_labels > STEPKIND_MAX_LABELS)
        return s_fail(err, errlen,
                      "step '%s': resources 'labels' must be an array of at most %d "
                      "labels, e.g. labels = [\"gpu-a100\"]",
                      s->name, STEPKIND_MAX_LABELS);
    for (size_t j = 0; j < r->n_labels; j++)
        if (!util_name_ok(r->labels[j], STEPKIND_LABEL_MAX))
            return s_fail(err, errlen, "step '%s': each resources label must be " UTIL_NAME_RULE,
                          s->name, STEPKIND_LABEL_MAX);
    return 0;
}

static int s_check_schedule(const Drover__SubmitRequest *req, char *err, size_t errlen)
{
    const Drover__Schedule *sc = req->schedule;
    const Drover__Trigger *tr = req->trigger;
    if (sc && tr)
        return s_fail(err, errlen,
                      "give either 'schedule' or 'trigger', not both (a workflow "
                      "runs on a calendar or on new data)");
    if (sc) {
        const char *catchup = sc->catchup && *sc->catchup ? sc->catchup : "none";
        if (strcmp(catchup, "none") && strcmp(catchup, "latest") && strcmp(catchup, "all"))
            return s_fail(err, errlen,
                          "schedule 'catchup' must be one of none, latest, all (got "
                          "'%.64s')",
                          catchup);
        /* 0 is the default, 1. */
        if (sc->max_active > STEPKIND_MAX_ACTIVE)
            return s_fail(err, errlen, "schedule 'max_active' must be an integer between 1 and %d",
                          STEPKIND_MAX_ACTIVE);
        /* 0 is the default for both (100 and 60 s). */
        if (sc->catchup_max > STEPKIND_MAX_CATCHUP)
            return s_fail(err, errlen,
                          "schedule 'catchup_max' must be an integer between 1 and "
                          "%d",
                          STEPKIND_MAX_CATCHUP);
        if (sc->lateness_s > STEPKIND_MAX_LATENESS_S)
            return s_fail(err, errlen, "schedule 'lateness' must be a duration from 1s to 168h");
        const char *expr = sc->cron ? sc->cron : "";
        cron_t ct;
        char msg[256] = "";
        if (cron_parse(expr, &ct, msg, sizeof msg) < 0)
            return s_fail(err, errlen, "schedule 'cron' \"%.64s\" is invalid: %s", expr, msg);
        const char *tz = sc->timezone && *sc->timezone ? sc->timezone : "UTC";
        int64_t next;
        if (cron_next(&ct, tz, (int64_t)time(NULL), &next, msg, sizeof msg) < 0) {
            if (errno == ENOMEM)
                return s_oom(err, errlen);
            if (errno == ENOENT || errno == EINVAL)
                return s_fail(err, errlen,
                              "schedule 'timezone': unknown time zone '%.64s' (use an "
                              "IANA name such as \"Europe/Berlin\" or \"UTC\")",
                              tz);
            return s_fail(err, errlen, "schedule 'cron' \"%.64s\": %s", expr, msg);
        }
    }
    if (tr) {
        if (!tr->watch || tr->watch[0] != '/' || !util_utf8_valid(tr->watch))
            return s_fail(err, errlen, "trigger 'watch' must be an absolute folder path");
        if ((int64_t)tr->min_new_rows < 0)
            return s_fail(err, errlen, "trigger 'min_new_rows' must be an integer of at least 1");
        if (tr->on_failure && *tr->on_failure && strcmp(tr->on_failure, "keep") &&
            strcmp(tr->on_failure, "retry"))
            return s_fail(err, errlen, "trigger 'on_failure' must be \"keep\" or \"retry\"");
    }
    return 0;
}

/* Ancestor searches cost steps + edges each: past this many node/edge
 * visits in all, a request is refused rather than checked slowly. */
#define ARTIFACT_CHECK_BUDGET 20000000ull

static int s_declares(json_t *spec, const char *path)
{
    json_t *outs = json_object_get(spec, "outputs"), *e;
    size_t i;
    json_array_foreach(outs, i, e) if (json_is_string(e) &&
                                       strcmp(json_string_value(e), path) == 0) return 1;
    return 0;
}

int stepkind_check_artifacts(const stepkind_view_t *steps, size_t n, size_t *bad, char *err,
                             size_t errlen)
{
    name_idx_t *sorted = NULL;
    char *seen = NULL;
    size_t *stack = NULL;
    json_t *spec = NULL, *pspec = NULL;
    int rc = 0;
    unsigned long long budget = 0, edges = 0;
    size_t consumers = 0;
    for (size_t i = 0; i < n; i++) {
        edges += steps[i].nafter;
        consumers += steps[i].spec_json && strstr(steps[i].spec_json, "\"inputs\"") != NULL;
    }
    if (consumers == 0)
        return 0;
    if ((unsigned long long)consumers * (n + edges) > ARTIFACT_CHECK_BUDGET) {
        *bad = 0;
        return s_fail(err, errlen,
                      "too many steps with 'inputs' (%zu) for a workflow of %zu "
                      "steps; split the workflow",
                      consumers, n);
    }
    sorted = malloc(n * sizeof *sorted);
    seen = malloc(n);
    stack = malloc((n + 1) * sizeof *stack);
    if (!sorted || !seen || !stack) {
        rc = s_oom(err, errlen);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = (name_idx_t){steps[i].name, i};
    qsort(sorted, n, sizeof *sorted, s_name_cmp);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!steps[i].spec_json || !strstr(steps[i].spec_json, "\"inputs\""))
            continue;
        json_decref(spec);
        spec = json_loads(steps[i].spec_json, 0, NULL);
        json_t *inputs = spec ? json_object_get(spec, "inputs") : NULL;
        if (!json_is_object(inputs))
            continue; /* the per-step check said what is wrong with it */
        /* The ancestors of step i. */
        memset(seen, 0, n);
        size_t sp = 0;
        stack[sp++] = i;
        while (sp > 0) {
            const stepkind_view_t *cur = &steps[stack[--sp]];
            budget += 1 + cur->nafter;
            for (size_t a = 0; a < cur->nafter; a++) {
                long j = cur->after[a] ? s_lookup(sorted, n, cur->after[a]) : -1;
                if (j < 0 || seen[j] || (size_t)j == i)
                    continue;
                seen[j] = 1;
                stack[sp++] = (size_t)j;
            }
        }
        const char *key;
        json_t *v;
        json_object_foreach(inputs, key, v)
        {
            char ps[UTIL_NAME_MAX + 1];
            const char *path;
            if (!stepkind_input_ref(json_string_value(v), ps, sizeof ps, &path))
                continue;
            long j = s_lookup(sorted, n, ps);
            if (j < 0 || !seen[j]) {
                *bad = i;
                rc = s_fail(err, errlen,
                            j < 0 ? "step '%s': input '%s' names step '%s', which is not a step of "
                                    "this workflow"
                                  : "step '%s': input '%s' names step '%s', which this step does "
                                    "not run after; add it to 'after' (directly or through other "
                                    "steps)",
                            steps[i].name, key, ps);
                break;
            }
            json_decref(pspec);
            pspec = steps[j].spec_json ? json_loads(steps[j].spec_json, 0, NULL) : NULL;
            if (!pspec || !s_declares(pspec, path)) {
                *bad = i;
                rc = s_fail(err, errlen,
                            "step '%s': input '%s' names '%.64s', which step '%s' "
                            "does not list in its 'outputs'",
                            steps[i].name, key, path, ps);
                break;
            }
            /* Two inputs staged at the same path would overwrite each other. */
            const char *k2;
            json_t *v2;
            json_object_foreach(inputs, k2, v2)
            {
                char ps2[UTIL_NAME_MAX + 1];
                const char *path2;
                if (k2 == key)
                    break;
                if (stepkind_input_ref(json_string_value(v2), ps2, sizeof ps2, &path2) &&
                    strcmp(path, path2) == 0) {
                    *bad = i;
                    rc = s_fail(err, errlen,
                                "step '%s': inputs '%s' and '%s' would both be "
                                "staged as '%.64s'",
                                steps[i].name, k2, key, path);
                    break;
                }
            }
            if (rc < 0)
                break;
        }
    }
out:;
    int e = errno;
    json_decref(spec);
    json_decref(pspec);
    free(sorted);
    free(seen);
    free(stack);
    errno = e;
    return rc;
}

int stepkind_check_submit(const Drover__SubmitRequest *req, char *err, size_t errlen)
{
    if (!util_name_ok(req->workflow, 0))
        return s_fail(err, errlen, "workflow name '%.*s' is invalid (use " UTIL_NAME_RULE ")",
                      UTIL_NAME_MAX + 8, req->workflow ? req->workflow : "", UTIL_NAME_MAX);
    const char *q = req->queue && *req->queue ? req->queue : "default";
    if (!util_name_ok(q, STEPKIND_QUEUE_MAX))
        return s_fail(err, errlen, "queue name '%.*s' is invalid (use " UTIL_NAME_RULE ")",
                      STEPKIND_QUEUE_MAX + 8, q, STEPKIND_QUEUE_MAX);
    if (req->priority < STEPKIND_MIN_PRIORITY || req->priority > STEPKIND_MAX_PRIORITY)
        return s_fail(err, errlen,
                      "'priority' must be an integer between %d and %d (higher runs "
                      "first)",
                      STEPKIND_MIN_PRIORITY, STEPKIND_MAX_PRIORITY);
    if (req->n_steps == 0)
        return s_fail(err, errlen, "'steps' is empty; a workflow needs at least one step");
    if (req->n_steps > STEPKIND_MAX_STEPS)
        return s_fail(err, errlen, "too many steps (%zu; at most %d)", req->n_steps,
                      STEPKIND_MAX_STEPS);
    if (s_check_schedule(req, err, errlen) < 0)
        return -1;
    int refs = 0;
    for (size_t i = 0; i < req->n_steps; i++) {
        const Drover__StepSpec *s = req->steps[i];
        if (!util_name_ok(s->name, 0))
            return s_fail(err, errlen, "step name '%.*s' is invalid (use " UTIL_NAME_RULE ")",
                          UTIL_NAME_MAX + 8, s->name ? s->name : "", UTIL_NAME_MAX);
        const stepkind_t *k = stepkind_find(s->kind);
        if (!k)
            return s_fail(err, errlen, "step '%s': unknown kind '%.64s' (known: %s)", s->name,
                          s->kind ? s->kind : "", stepkind_names_text());
        if (s->retries > STEPKIND_MAX_RETRIES)
            return s_fail(err, errlen, "step '%s': 'retries' must be between 0 and %d", s->name,
                          STEPKIND_MAX_RETRIES);
        if (s->timeout_ms > (uint64_t)STEPKIND_MAX_DURATION_MS)
            return s_fail(err, errlen, "step '%s': 'timeout' is too long (at most 365 days)",
                          s->name);
        if (s->retry_delay_ms > (uint64_t)STEPKIND_MAX_DURATION_MS)
            return s_fail(err, errlen, "step '%s': 'retry_delay' is too long (at most 365 days)",
                          s->name);
        for (size_t a = 0; a < s->n_after; a++)
            if (!util_name_ok(s->after[a], 0))
                return s_fail(err, errlen, "step '%s': 'after' must be an array of step names",
                              s->name);
        if (s_check_resources(s, err, errlen) < 0)
            return -1;
        /* Gangs (docs/distributed.md): members are the coordinator's to
         * make; a step run inside the coordinator has no worker to gang. */
        if (s->gang_rank != 0)
            return s_fail(err, errlen, "step '%s': gang_rank is set by the coordinator", s->name);
        if (s->nodes > STEPKIND_MAX_NODES)
            return s_fail(err, errlen, "step '%s': 'nodes' must be between 1 and %d", s->name,
                          STEPKIND_MAX_NODES);
        if (s->nodes > 1 && k->where == STEPKIND_AT_COORDINATOR)
            return s_fail(err, errlen,
                          "step '%s': a %s step runs inside the coordinator and cannot have "
                          "'nodes' > 1",
                          s->name, k->name);
        if (stepkind_check_spec(s->kind, s->name, s->spec_json, STEPKIND_FROM_CLIENT, err, errlen) <
            0)
            return -1;
        refs |= strcmp(k->name, "select") == 0 || strcmp(k->name, "evaluate") == 0 ||
                strcmp(k->name, "promote") == 0 || strcmp(k->name, "score") == 0 ||
                strcmp(k->name, "approve") == 0;
    }
    stepkind_view_t *views = calloc(req->n_steps, sizeof *views);
    if (!views)
        return s_oom(err, errlen);
    for (size_t i = 0; i < req->n_steps; i++)
        views[i] = (stepkind_view_t){req->steps[i]->name, req->steps[i]->kind, req->steps[i]->after,
                                     req->steps[i]->n_after, req->steps[i]->spec_json};
    size_t bad;
    int arc = stepkind_check_artifacts(views, req->n_steps, &bad, err, errlen);
    free(views);
    if (arc < 0)
        return -1;
    if (!refs)
        return 0;
    name_idx_t *sorted = malloc(req->n_steps * sizeof *sorted);
    if (!sorted)
        return s_oom(err, errlen);
    for (size_t i = 0; i < req->n_steps; i++)
        sorted[i] = (name_idx_t){req->steps[i]->name, i};
    qsort(sorted, req->n_steps, sizeof *sorted, s_name_cmp);
    int rc = s_check_refs(req, sorted, err, errlen);
    int e = errno;
    free(sorted);
    errno = e;
    return rc;
}
