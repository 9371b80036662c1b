/* workflow — loading and validating a workflow file (see workflow.h).
 *
 * Design. libconfig parses the text; this file walks the resulting tree in
 * file order and checks it against a fixed schema, so the first error a user
 * sees is the first one in the file. Every setting carries its source line,
 * which is how each message gets its "file:line:" prefix: the line is always
 * that of the offending setting (the element of an array, the key, or the
 * step's opening brace for a step-level problem such as a missing field).
 * Graph-level checks (unique names, known dependencies, no cycles) are
 * delegated to dag_check once every step has parsed; its offending index is
 * mapped back to the step's line.
 *
 * Keys are checked per kind (s_kind_keys): the common ones, then the kind's
 * own, collected and handed to the kind's spec builder (s_exec_spec,
 * s_ml_spec). "@STEP" model references are checked after the graph, since
 * they need the transitive 'after' closure.
 *
 * The kind-specific part of a step (for exec: argv, env, cwd) is turned into
 * compact JSON with sorted keys, so equal steps give byte-equal spec_json
 * and the coordinator can store and forward it without knowing the kind.
 * A relative cwd is resolved here, against the real path of the workflow
 * file's directory, because only the submitting machine knows where the file
 * was; the worker receives an absolute path.
 *
 * Invariants: on failure nothing is returned, nothing leaks, errno is EINVAL
 * (bad input) or ENOMEM/EIO-class errors from reading the file, and err holds
 * one line "file:line: message" (or "file: message" when no line applies).
 */
#include "workflow.h"

#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "conf.h"
#include "cron.h"
#include "dag.h"
#include "log.h"
#include "params.h"
#include "stepkind.h"
#include "util.h"
#include "wfsource.h"

#define WF_NAME_MAX               UTIL_NAME_MAX
#define WF_MAX_RETRIES            STEPKIND_MAX_RETRIES
#define WF_DEFAULT_RETRY_DELAY_MS 1000
#define WF_MAX_DURATION_MS        STEPKIND_MAX_DURATION_MS
#define WF_MAX_FILE               (64L * 1024 * 1024)

#define WF_LABEL_MAX  STEPKIND_LABEL_MAX
#define WF_QUEUE_MAX  STEPKIND_QUEUE_MAX
#define WF_MAX_ACTIVE STEPKIND_MAX_ACTIVE

/* Keys every kind takes; each kind's own come from the step-kind table
 * (common/stepkind.c). The "known:" list of an unknown-key message is the
 * common keys followed by the kind's. */
#define COMMON_KEYS                                                                                \
    "name, kind, after, retries, retry_delay, timeout, resources, matrix, nodes, spread"
static const char *const s_common_keys[] = {"name",        "kind",    "after",     "retries",
                                            "retry_delay", "timeout", "resources", "matrix",
                                            "nodes",       "spread",  NULL};
/* Most kind-specific settings one step can have (train has 17). */
#define MAX_KIND_SETTINGS 20

typedef struct {
    const char *path; /* for messages */
    char *err;
    size_t errlen;
    wfsource_t *src; /* the text with @include expanded; maps lines back to files */
    char **refs;     /* [nsteps] STEP of a "@STEP" model reference, or NULL */
    int *ref_lines;  /* [nsteps] line of that 'model' setting */
    int *in_lines;   /* [nsteps] line of the step's 'inputs' setting, 0 = none */
    int has_sweep;   /* some step had a matrix: 'after' needs expanding */
    int tmpl;        /* building with ${...} references kept (checked already) */
} ctx_t;

static int s_fail(ctx_t *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The line of the file a line of the expanded text came from. */
static int s_src_line(const ctx_t *c, int line)
{
    return c->src ? wfsource_line(c->src, line) : line;
}

static const char *s_src_file(const ctx_t *c, int line)
{
    return c->src ? wfsource_file(c->src, line) : c->path;
}

/* "line N" for another line of the same file as line `at`, else "FILE:N". */
static void s_where(const ctx_t *c, int at, int other, char *buf, size_t len)
{
    if (strcmp(s_src_file(c, at), s_src_file(c, other)) == 0)
        snprintf(buf, len, "line %d", s_src_line(c, other));
    else
        snprintf(buf, len, "%s:%d", s_src_file(c, other), s_src_line(c, other));
}

static int s_fail(ctx_t *c, int line, const char *fmt, ...)
{
    if (c->err && c->errlen > 0) {
        /* Lines count in the text after @include expansion: name the file
         * and the line the setting was written on. */
        const char *file = s_src_file(c, line);
        int n = line > 0 ? snprintf(c->err, c->errlen, "%s:%d: ", file, s_src_line(c, line))
                         : snprintf(c->err, c->errlen, "%s: ", c->path);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    errno = EINVAL;
    return -1;
}

static int s_oom(ctx_t *c)
{
    if (c->err && c->errlen > 0)
        snprintf(c->err, c->errlen, "%s: out of memory", c->path);
    errno = ENOMEM;
    return -1;
}

static int s_line(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

int workflow_kind_known(const char *kind)
{
    return stepkind_find(kind) != NULL;
}

/* Workflow and step names: util_name_ok (docs/workflows.md, "Names"). */
static int s_name_ok(const char *s)
{
    return util_name_ok(s, 0);
}

static int s_env_name_ok(const char *s)
{
    return stepkind_env_name_ok(s);
}

/* Strict duration syntax, checked before util_parse_duration_ms (whose
 * strtod would also take " 5", "1e3", "inf" or "nan"): digits, an optional
 * fraction, an optional unit ms|s|m|h. */
static int s_duration_syntax_ok(const char *s)
{
    const char *p = s;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0' || strcmp(p, "ms") == 0 || strcmp(p, "s") == 0 || strcmp(p, "m") == 0 ||
           strcmp(p, "h") == 0;
}

static int s_duration(ctx_t *c, const config_setting_t *s, const char *step, const char *key,
                      int64_t *out)
{
    int64_t ms = -1;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: {
        long long v = config_setting_get_int64(s);
        if (v < 0)
            return s_fail(c, s_line(s), "step '%s': '%s' must not be negative", step, key);
        if (v > WF_MAX_DURATION_MS / 1000)
            goto too_long;
        ms = (int64_t)v * 1000;
        break;
    }
    case CONFIG_TYPE_FLOAT: {
        double v = config_setting_get_float(s);
        if (v < 0)
            return s_fail(c, s_line(s), "step '%s': '%s' must not be negative", step, key);
        if (!(v <= (double)(WF_MAX_DURATION_MS / 1000))) /* also catches NaN */
            goto too_long;
        ms = (int64_t)(v * 1000.0 + 0.5);
        break;
    }
    case CONFIG_TYPE_STRING: {
        const char *v = config_setting_get_string(s);
        if (!s_duration_syntax_ok(v) || util_parse_duration_ms(v, &ms) < 0)
            goto bad;
        if (ms > WF_MAX_DURATION_MS)
            goto too_long;
        break;
    }
    default: goto bad;
    }
    *out = ms;
    return 0;
bad:
    return s_fail(c, s_line(s),
                  "step '%s': '%s' must be a duration: seconds (90, 1.5) or a string with a "
                  "unit (\"250ms\", \"90s\", \"10m\", \"2h\")",
                  step, key);
too_long:
    return s_fail(c, s_line(s), "step '%s': '%s' is too long (at most 365 days)", step, key);
}

/* The absolute, symlink-free directory of the file that holds line: a
 * relative path in an included file is relative to that file's folder. */
static const char *s_basedir(ctx_t *c, int line, const char *key)
{
    const char *dir = c->src ? wfsource_basedir(c->src, line) : NULL;
    if (!dir) {
        int e = c->src ? errno : EINVAL;
        if (e == ENOMEM)
            s_oom(c);
        else
            s_fail(c, line, "cannot resolve the directory of the workflow file for '%s': %s", key,
                   strerror(e));
        return NULL;
    }
    return dir;
}

/* Returns a new string: a path (cwd, dataset, ...) made absolute against
 * the file's directory; key names the setting in messages. */
static char *s_resolve_path(ctx_t *c, const char *cwd, int line, const char *key)
{
    /* Relative or not is known only after substitution: the coordinator
     * joins a relative result to base_dir (params_apply). */
    if (cwd[0] == '/' || (c->tmpl && cwd[0] == '$' && cwd[1] == '{')) {
        char *r = strdup(cwd);
        if (!r)
            s_oom(c);
        return r;
    }
    const char *dir = s_basedir(c, line, key);
    if (!dir)
        return NULL;
    /* "." and leading "./" add nothing; dropping them keeps paths readable. */
    while (cwd[0] == '.' && cwd[1] == '/') {
        cwd += 2;
        while (*cwd == '/')
            cwd++;
    }
    if (strcmp(cwd, ".") == 0)
        cwd = "";
    char *r = NULL;
    if (asprintf(&r, "%s%s%s", dir, (*cwd && strcmp(dir, "/") != 0) ? "/" : "", cwd) < 0) {
        s_oom(c);
        return NULL;
    }
    return r;
}

/* json_object_set_new that reports allocation failure through c. */
static int s_jset(ctx_t *c, json_t *obj, const char *key, json_t *val)
{
    if (!val || json_object_set_new(obj, key, val) != 0)
        return s_oom(c);
    return 0;
}

static int s_jappend_str(ctx_t *c, json_t *arr, const char *s)
{
    json_t *v = json_string(s);
    if (!v || json_array_append_new(arr, v) != 0)
        return s_oom(c);
    return 0;
}

/* Builds spec_json for an exec step from its kind-specific settings. */
static int s_str(ctx_t *c, const config_setting_t *s, const char *step, const char *what,
                 const char **out);

static json_t *s_setting_json(const config_setting_t *s);

/* outputs / inputs of an exec step: the table's check, at the setting's line. */
static int s_artifact_key(ctx_t *c, json_t *root, const config_setting_t *s, const char *step,
                          const char *key, size_t idx)
{
    if (!s)
        return 0;
    const stepkind_key_t *kk = stepkind_key(stepkind_find("exec"), key);
    DROVER_INVARIANT(kk != NULL);
    json_t *v = s_setting_json(s);
    if (!v)
        v = json_null(); /* a type the check below words the message for */
    char what[32], msg[512];
    snprintf(what, sizeof what, "'%s'", key);
    if (stepkind_check_value(kk, step, what, v, STEPKIND_FROM_FILE, msg, sizeof msg) < 0) {
        json_decref(v);
        return errno == ENOMEM ? s_oom(c) : s_fail(c, s_line(s), "%s", msg);
    }
    if (strcmp(key, "inputs") == 0)
        c->in_lines[idx] = s_line(s);
    return s_jset(c, root, key, v);
}

static int s_exec_spec(ctx_t *c, workflow_step_t *st, const config_setting_t *argv,
                       const config_setting_t *command, const config_setting_t *env,
                       const config_setting_t *cwd, const config_setting_t *gates,
                       const config_setting_t *outputs, const config_setting_t *inputs, size_t idx)
{
    const char *step = st->name;
    json_t *root = NULL, *jargv = NULL, *jenv = NULL;
    char *abs = NULL;
    int rc = -1;

    if (argv && command) {
        const config_setting_t *later = s_line(argv) > s_line(command) ? argv : command;
        s_fail(c, s_line(later), "step '%s': give either 'argv' or 'command', not both", step);
        goto out;
    }
    if (!argv && !command) {
        s_fail(c, st->line,
               "step '%s': an exec step needs 'argv' (a list of strings) or "
               "'command' (a shell command line)",
               step);
        goto out;
    }
    root = json_object();
    jargv = json_array();
    if (!root || !jargv) {
        s_oom(c);
        goto out;
    }
    if (command) {
        const char *cmd;
        if (s_str(c, command, step, "'command'", &cmd) < 0)
            goto out;
        if (s_jappend_str(c, jargv, "/bin/sh") < 0 || s_jappend_str(c, jargv, "-c") < 0 ||
            s_jappend_str(c, jargv, cmd) < 0)
            goto out;
    } else {
        int t = config_setting_type(argv);
        int n = (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(argv) : 0;
        if (n == 0) {
            s_fail(c, s_line(argv),
                   "step '%s': 'argv' must be a non-empty array of strings, "
                   "e.g. argv = [\"python3\", \"train.py\"]",
                   step);
            goto out;
        }
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(argv, (unsigned)i);
            const char *v = config_setting_get_string(e);
            if (!v) {
                s_fail(c, s_line(e), "step '%s': 'argv' must be an array of strings", step);
                goto out;
            }
            if (i == 0 && !*v) {
                s_fail(c, s_line(e), "step '%s': the program in 'argv' must not be empty", step);
                goto out;
            }
            if (!util_utf8_valid(v)) {
                s_fail(c, s_line(e), "step '%s': 'argv' holds a string that is not valid UTF-8",
                       step);
                goto out;
            }
            if (s_jappend_str(c, jargv, v) < 0)
                goto out;
        }
    }
    if (s_jset(c, root, "argv", jargv) < 0) {
        jargv = NULL; /* consumed even on failure */
        goto out;
    }
    jargv = NULL;

    if (env) {
        if (config_setting_type(env) != CONFIG_TYPE_GROUP) {
            s_fail(c, s_line(env),
                   "step '%s': 'env' must be a group, e.g. env = { EPOCHS = \"3\"; }", step);
            goto out;
        }
        int n = config_setting_length(env);
        if (n > 0 && !(jenv = json_object())) {
            s_oom(c);
            goto out;
        }
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(env, (unsigned)i);
            const char *k = config_setting_name(e);
            const char *v = config_setting_get_string(e);
            if (!s_env_name_ok(k)) {
                s_fail(c, s_line(e),
                       "step '%s': '%s' is not a valid environment variable name "
                       "(letters, digits and '_', not starting with a digit)",
                       step, k);
                goto out;
            }
            if (stepkind_env_reserved(k)) {
                s_fail(c, s_line(e),
                       "step '%s': env '%s' is set by drover and cannot be "
                       "overridden",
                       step, k);
                goto out;
            }
            if (!v) {
                s_fail(c, s_line(e),
                       "step '%s': env '%s' must be a string (quote it: %s = \"...\")", step, k, k);
                goto out;
            }
            if (!util_utf8_valid(v)) {
                s_fail(c, s_line(e), "step '%s': env '%s' is not valid UTF-8", step, k);
                goto out;
            }
            if (s_jset(c, jenv, k, json_string(v)) < 0)
                goto out;
        }
        if (jenv) {
            json_t *tmp = jenv;
            jenv = NULL;
            if (s_jset(c, root, "env", tmp) < 0)
                goto out;
        }
    }

    if (cwd) {
        const char *v;
        if (s_str(c, cwd, step, "'cwd'", &v) < 0)
            goto out;
        if (!(abs = s_resolve_path(c, v, s_line(cwd), "cwd")))
            goto out;
        if (s_jset(c, root, "cwd", json_string(abs)) < 0)
            goto out;
    }
    if (gates) {
        /* Checked by the table's exec validator, with the setting's line. */
        char msg[400];
        if (s_jset(c, root, "gates", s_setting_json(gates)) < 0)
            goto out;
        if (stepkind_check_spec_json(stepkind_find("exec"), step, root, STEPKIND_FROM_FILE, msg,
                                     sizeof msg) < 0) {
            s_fail(c, s_line(gates), "%s", msg);
            goto out;
        }
    }
    if (s_artifact_key(c, root, outputs, step, "outputs", idx) < 0 ||
        s_artifact_key(c, root, inputs, step, "inputs", idx) < 0)
        goto out;

    st->spec_json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!st->spec_json) {
        s_oom(c);
        goto out;
    }
    rc = 0;
out:
    free(abs);
    json_decref(jenv);
    json_decref(jargv);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------ the ML kinds --- */

/* A kind-specific setting, found by key among the step's settings. */
typedef struct {
    const char *key;
    const config_setting_t *s;
} kv_t;

static const config_setting_t *s_kv(const kv_t *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].s;
    return NULL;
}

static int s_is_number(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static double s_number(const config_setting_t *s)
{
    return config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                                       : (double)config_setting_get_int64(s);
}

/* A non-empty UTF-8 string setting; what names the setting ("'label'",
 * "checks.drift 'reference'") in messages. */
static int s_str(ctx_t *c, const config_setting_t *s, const char *step, const char *what,
                 const char **out)
{
    const char *v = config_setting_get_string(s);
    if (config_setting_type(s) != CONFIG_TYPE_STRING || !v)
        return s_fail(c, s_line(s), "step '%s': %s must be a string", step, what);
    if (!*v)
        return s_fail(c, s_line(s), "step '%s': %s must not be empty", step, what);
    if (!util_utf8_valid(v))
        return s_fail(c, s_line(s), "step '%s': %s is not valid UTF-8", step, what);
    *out = v;
    return 0;
}

/* A number (int or float) in [lo, hi]; lo_open/hi_open exclude the bound. */
static int s_num(ctx_t *c, const config_setting_t *s, const char *step, const char *what, double lo,
                 int lo_open, double hi, int hi_open, double *out)
{
    if (!s_is_number(s))
        return s_fail(c, s_line(s), "step '%s': %s must be a number", step, what);
    double v = s_number(s);
    if (!(v == v) || (lo_open ? !(v > lo) : !(v >= lo)) || (hi_open ? !(v < hi) : !(v <= hi)))
        return s_fail(c, s_line(s), "step '%s': %s must be %s %g and %s %g (got %g)", step, what,
                      lo_open ? "above" : "at least", lo, hi_open ? "below" : "at most", hi, v);
    *out = v;
    return 0;
}

/* An integer in [lo, hi]. */
static int s_int(ctx_t *c, const config_setting_t *s, const char *step, const char *what,
                 long long lo, long long hi, long long *out)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return s_fail(c, s_line(s), "step '%s': %s must be an integer", step, what);
    long long v = config_setting_get_int64(s);
    if (v < lo || v > hi)
        return s_fail(c, s_line(s), "step '%s': %s must be between %lld and %lld", step, what, lo,
                      hi);
    *out = v;
    return 0;
}

/* One of a fixed list of words. */
static int s_word(ctx_t *c, const config_setting_t *s, const char *step, const char *what,
                  const char *const *words, const char *list, const char **out)
{
    const char *v;
    if (s_str(c, s, step, what, &v) < 0)
        return -1;
    for (size_t i = 0; words[i]; i++)
        if (strcmp(v, words[i]) == 0) {
            *out = words[i];
            return 0;
        }
    return s_fail(c, s_line(s), "step '%s': %s must be one of %s (got '%.64s')", step, what, list,
                  v);
}

/* A path setting made absolute and stored under key in obj. */
static int s_jpath(ctx_t *c, json_t *obj, const char *jkey, const config_setting_t *s,
                   const char *step, const char *what)
{
    const char *v;
    if (s_str(c, s, step, what, &v) < 0)
        return -1;
    /* A matrix element has no name of its own. */
    const char *key = config_setting_name(s);
    char *abs = s_resolve_path(c, v, s_line(s), key ? key : what);
    if (!abs)
        return -1;
    int rc = s_jset(c, obj, jkey, json_string(abs));
    free(abs);
    return rc;
}

/* Model registry names: the step-name charset. */
#define s_model_name_ok s_name_ok

static int s_model_ref_ok(const char *ref, const char **step_ref)
{
    return stepkind_model_ref_ok(ref, step_ref);
}

/* 'model' of evaluate/promote: syntax now, the @STEP ancestry once the
 * graph is known (s_check_refs). */
static int s_jmodel_ref(ctx_t *c, json_t *root, const config_setting_t *s, const char *step,
                        size_t idx)
{
    const char *v, *sref;
    if (s_str(c, s, step, "'model'", &v) < 0)
        return -1;
    if (!s_model_ref_ok(v, &sref))
        return s_fail(c, s_line(s),
                      "step '%s': 'model' must be \"@STEP\" (the model trained by an earlier "
                      "step of this run), \"NAME:production\" or \"NAME:VERSION\" (got '%.140s')",
                      step, v);
    if (sref) {
        if (!(c->refs[idx] = strdup(sref)))
            return s_oom(c);
        c->ref_lines[idx] = s_line(s);
    }
    return s_jset(c, root, "model", json_string(v));
}

static int s_need(ctx_t *c, const workflow_step_t *st, const config_setting_t *s, const char *key,
                  const char *example)
{
    if (s)
        return 0;
    return s_fail(c, st->line, "step '%s': %s steps need '%s', e.g. %s", st->name, st->kind, key,
                  example);
}

static const char *const s_trainers[] = {"softmax", "mlp", "linear", NULL};
static const char *const s_optimizers[] = {"sgd", "adam", NULL};
static const char *const s_gpu_modes[] = {"auto", "never", "require", NULL};
static const char *const s_stages[] = {"staging", "production", "archived", NULL};
/* Gate metrics: higher is better for min, lower for max. */
static const char *const s_min_metrics[] = {"accuracy", "macro_f1", "r2", NULL};
static const char *const s_max_metrics[] = {"log_loss", "rmse", "mae", NULL};
static const char *const s_all_metrics[] = {"accuracy", "macro_f1", "r2", "log_loss",
                                            "rmse",     "mae",      NULL};

static const char *const s_missing_modes[] = {"refuse", "mean", NULL};
static const char *const s_extra_modes[] = {"refuse", "ignore", NULL};
static const char *const s_score_formats[] = {"csv", "binary", NULL};

/* checkpoint_every = "epoch" | "never" | "30s" | "5m" | "1h" (or an integer
 * number of seconds; 0 = never). Stored as the string drover-task parses. */
static int s_ckpt_every(ctx_t *c, const config_setting_t *s, const char *step, json_t *root)
{
    char buf[32];
    const char *v = NULL;
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        long long x = config_setting_get_int64(s);
        if (x < 0 || x > 10000000)
            return s_fail(c, s_line(s),
                          "step '%s': 'checkpoint_every' must be 0 (never) to "
                          "10000000 seconds",
                          step);
        snprintf(buf, sizeof buf, "%lld", x);
        v = x == 0 ? "never" : buf;
    } else {
        if (s_str(c, s, step, "'checkpoint_every'", &v) < 0)
            return -1;
        if (strcmp(v, "epoch") != 0 && strcmp(v, "never") != 0) {
            char *end;
            double d = strtod(v, &end);
            if (end == v || !(d > 0) || d > 1e7 ||
                (*end && strcmp(end, "s") && strcmp(end, "m") && strcmp(end, "min") &&
                 strcmp(end, "h")))
                return s_fail(c, s_line(s),
                              "step '%s': 'checkpoint_every' must be \"epoch\", "
                              "\"never\", 0 or a duration such as \"30s\", \"5m\" (got "
                              "'%.64s')",
                              step, v);
        }
    }
    return s_jset(c, root, "checkpoint_every", json_string(v));
}

static int s_train_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, json_t *root)
{
    const char *step = st->name, *v;
    const config_setting_t *s;
    if (s_need(c, st, s_kv(kv, n, "dataset"), "dataset", "dataset = \"data/train.csv\";") < 0 ||
        s_need(c, st, s_kv(kv, n, "label"), "label", "label = \"damage\";") < 0 ||
        s_need(c, st, s_kv(kv, n, "model"), "model", "model = \"claims-damage\";") < 0)
        return -1;
    if (s_jpath(c, root, "dataset", s_kv(kv, n, "dataset"), step, "'dataset'") < 0)
        return -1;
    if (s_str(c, s_kv(kv, n, "label"), step, "'label'", &v) < 0 ||
        s_jset(c, root, "label", json_string(v)) < 0)
        return -1;
    s = s_kv(kv, n, "model");
    if (s_str(c, s, step, "'model'", &v) < 0)
        return -1;
    if (!(c->tmpl && params_has_ref(v)) && !s_model_name_ok(v))
        return s_fail(c, s_line(s),
                      "step '%s': model name '%.140s' is invalid (use " UTIL_NAME_RULE ")", step, v,
                      WF_NAME_MAX);
    if (s_jset(c, root, "model", json_string(v)) < 0)
        return -1;

    const char *trainer = "softmax", *optimizer = "adam", *gpu = "auto", *missing = NULL;
    if ((s = s_kv(kv, n, "missing")) &&
        (s_word(c, s, step, "'missing'", s_missing_modes, "refuse, mean", &missing) < 0 ||
         s_jset(c, root, "missing", json_string(missing)) < 0))
        return -1;
    if ((s = s_kv(kv, n, "checkpoint_every")) && s_ckpt_every(c, s, step, root) < 0)
        return -1;
    if ((s = s_kv(kv, n, "trainer")) &&
        s_word(c, s, step, "'trainer'", s_trainers, "softmax, mlp, linear", &trainer) < 0)
        return -1;
    if ((s = s_kv(kv, n, "optimizer")) &&
        s_word(c, s, step, "'optimizer'", s_optimizers, "sgd, adam", &optimizer) < 0)
        return -1;
    if ((s = s_kv(kv, n, "gpu")) &&
        s_word(c, s, step, "'gpu'", s_gpu_modes, "auto, never, require", &gpu) < 0)
        return -1;
    json_t *hidden = json_array();
    if (!hidden || json_object_set_new(root, "hidden", hidden) != 0)
        return s_oom(c);
    if ((s = s_kv(kv, n, "hidden"))) {
        if (strcmp(trainer, "mlp") != 0)
            return s_fail(c, s_line(s), "step '%s': 'hidden' applies to trainer \"mlp\" only",
                          step);
        int t = config_setting_type(s);
        int m = (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(s) : -1;
        if (m < 1 || m > 8)
            return s_fail(c, s_line(s),
                          "step '%s': 'hidden' must be an array of 1 to 8 layer "
                          "widths, e.g. hidden = [128, 64]",
                          step);
        for (int j = 0; j < m; j++) {
            long long w;
            if (s_int(c, config_setting_get_elem(s, (unsigned)j), step, "each 'hidden' width", 1,
                      65536, &w) < 0)
                return -1;
            if (json_array_append_new(hidden, json_integer(w)) != 0)
                return s_oom(c);
        }
    } else if (strcmp(trainer, "mlp") == 0) {
        if (json_array_append_new(hidden, json_integer(128)) != 0)
            return s_oom(c);
    }
    if (s_jset(c, root, "trainer", json_string(trainer)) < 0 ||
        s_jset(c, root, "optimizer", json_string(optimizer)) < 0 ||
        s_jset(c, root, "gpu", json_string(gpu)) < 0)
        return -1;

    /* Numbers: bounds and defaults from the step-kind table. */
    const stepkind_t *sk = stepkind_find("train");
    for (const stepkind_key_t *kk = sk->keys; kk->key; kk++) {
        if (kk->type != STEPKIND_REAL && kk->type != STEPKIND_INT)
            continue;
        char what[64];
        snprintf(what, sizeof what, "'%s'", kk->key);
        if (kk->type == STEPKIND_REAL) {
            double x = kk->def;
            if ((s = s_kv(kv, n, kk->key)) &&
                s_num(c, s, step, what, kk->lo, kk->lo_open, kk->hi, kk->hi_open, &x) < 0)
                return -1;
            /* A negative default means "absent": drover-task picks it
             * (learning_rate: the optimizer's own, adam 0.003, sgd 0.1). */
            if ((s || kk->def >= 0) && s_jset(c, root, kk->key, json_real(x)) < 0)
                return -1;
        } else {
            long long x = (long long)kk->def;
            long long hi = kk->hi >= 9.2233720368547758e18 ? INT64_MAX : (long long)kk->hi;
            if ((s = s_kv(kv, n, kk->key)) &&
                s_int(c, s, step, what, (long long)kk->lo, hi, &x) < 0)
                return -1;
            if (s_jset(c, root, kk->key, json_integer(x)) < 0)
                return -1;
        }
    }
    return 0;
}

/* checks = { ... } of a validate step. */
static int s_checks(ctx_t *c, const workflow_step_t *st, const config_setting_t *g, int has_label,
                    json_t *out)
{
    const char *step = st->name;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, s_line(g),
                      "step '%s': 'checks' must be a group, e.g. checks = { "
                      "min_rows = 1000; max_missing = 0.01; };",
                      step);
    int n = config_setting_length(g);
    if (n == 0)
        return s_fail(c, s_line(g),
                      "step '%s': 'checks' is empty; give at least one check "
                      "(columns, min_rows, max_missing, ranges, min_class_share, max_duplicates, "
                      "drift)",
                      step);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        int line = s_line(s);
        if (strcmp(k, "columns") == 0) {
            int t = config_setting_type(s);
            int m =
                (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(s) : 0;
            if (m == 0)
                return s_fail(c, line,
                              "step '%s': checks 'columns' must be a non-empty array of "
                              "column names",
                              step);
            json_t *arr = json_array();
            if (!arr || json_object_set_new(out, "columns", arr) != 0)
                return s_oom(c);
            for (int j = 0; j < m; j++) {
                const char *v;
                if (s_str(c, config_setting_get_elem(s, (unsigned)j), step,
                          "each checks 'columns' entry", &v) < 0)
                    return -1;
                if (s_jappend_str(c, arr, v) < 0)
                    return -1;
            }
        } else if (strcmp(k, "min_rows") == 0) {
            long long v;
            if (s_int(c, s, step, "checks 'min_rows'", 0, INT64_MAX, &v) < 0 ||
                s_jset(c, out, k, json_integer(v)) < 0)
                return -1;
        } else if (strcmp(k, "max_missing") == 0 || strcmp(k, "max_duplicates") == 0 ||
                   strcmp(k, "min_class_share") == 0) {
            char what[64];
            double v;
            snprintf(what, sizeof what, "checks '%s'", k);
            if (s_num(c, s, step, what, 0, 0, 1, 0, &v) < 0)
                return -1;
            if (strcmp(k, "min_class_share") == 0 && !has_label)
                return s_fail(c, line,
                              "step '%s': checks 'min_class_share' needs the step's "
                              "'label' (the class column)",
                              step);
            if (s_jset(c, out, k, json_real(v)) < 0)
                return -1;
        } else if (strcmp(k, "ranges") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP || config_setting_length(s) == 0)
                return s_fail(c, line,
                              "step '%s': checks 'ranges' must be a non-empty group of "
                              "column = [min, max], e.g. ranges = { f0 = [-10.0, 10.0]; };",
                              step);
            json_t *obj = json_object();
            if (!obj || json_object_set_new(out, "ranges", obj) != 0)
                return s_oom(c);
            int m = config_setting_length(s);
            for (int j = 0; j < m; j++) {
                const config_setting_t *r = config_setting_get_elem(s, (unsigned)j);
                const char *col = config_setting_name(r);
                int t = config_setting_type(r);
                const config_setting_t *lo = NULL, *hi = NULL;
                if ((t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) &&
                    config_setting_length(r) == 2) {
                    lo = config_setting_get_elem(r, 0);
                    hi = config_setting_get_elem(r, 1);
                }
                if (!lo || !s_is_number(lo) || !s_is_number(hi) || !(s_number(lo) <= s_number(hi)))
                    return s_fail(c, s_line(r),
                                  "step '%s': checks range of '%s' must be [min, "
                                  "max] with min <= max",
                                  step, col);
                if (!util_utf8_valid(col))
                    return s_fail(c, s_line(r),
                                  "step '%s': a checks range column is not valid "
                                  "UTF-8",
                                  step);
                json_t *pair = json_pack("[f,f]", s_number(lo), s_number(hi));
                if (s_jset(c, obj, col, pair) < 0)
                    return -1;
            }
        } else if (strcmp(k, "drift") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return s_fail(c, line,
                              "step '%s': checks 'drift' must be a group, e.g. drift = { "
                              "reference = \"data/train.csv\"; max_psi = 0.2; };",
                              step);
            json_t *obj = json_object();
            if (!obj || json_object_set_new(out, "drift", obj) != 0)
                return s_oom(c);
            double max_psi = 0.2;
            long long bins = 10;
            int m = config_setting_length(s), have_ref = 0;
            for (int j = 0; j < m; j++) {
                const config_setting_t *d = config_setting_get_elem(s, (unsigned)j);
                const char *dk = config_setting_name(d);
                if (strcmp(dk, "reference") == 0) {
                    if (s_jpath(c, obj, "reference", d, step, "checks.drift 'reference'") < 0)
                        return -1;
                    have_ref = 1;
                } else if (strcmp(dk, "max_psi") == 0) {
                    if (s_num(c, d, step, "checks.drift 'max_psi'", 0, 1, 100, 0, &max_psi) < 0)
                        return -1;
                } else if (strcmp(dk, "bins") == 0) {
                    if (s_int(c, d, step, "checks.drift 'bins'", 2, 1000, &bins) < 0)
                        return -1;
                } else {
                    return s_fail(c, s_line(d),
                                  "step '%s': unknown key '%s' in checks.drift "
                                  "(known: reference, max_psi, bins)",
                                  step, dk);
                }
            }
            if (!have_ref)
                return s_fail(c, line,
                              "step '%s': checks.drift needs 'reference' (the dataset "
                              "to compare with)",
                              step);
            if (s_jset(c, obj, "max_psi", json_real(max_psi)) < 0 ||
                s_jset(c, obj, "bins", json_integer(bins)) < 0)
                return -1;
        } else {
            return s_fail(c, line,
                          "step '%s': unknown check '%s' (known: columns, min_rows, "
                          "max_missing, ranges, min_class_share, max_duplicates, drift)",
                          step, k);
        }
    }
    return 0;
}

static int s_validate_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, json_t *root)
{
    const char *step = st->name, *v;
    const config_setting_t *s;
    if (s_need(c, st, s_kv(kv, n, "dataset"), "dataset", "dataset = \"data/train.csv\";") < 0 ||
        s_need(c, st, s_kv(kv, n, "checks"), "checks", "checks = { min_rows = 1000; };") < 0)
        return -1;
    if (s_jpath(c, root, "dataset", s_kv(kv, n, "dataset"), step, "'dataset'") < 0)
        return -1;
    if ((s = s_kv(kv, n, "label")) &&
        (s_str(c, s, step, "'label'", &v) < 0 || s_jset(c, root, "label", json_string(v)) < 0))
        return -1;
    json_t *checks = json_object();
    if (!checks || json_object_set_new(root, "checks", checks) != 0)
        return s_oom(c);
    return s_checks(c, st, s_kv(kv, n, "checks"), s != NULL, checks);
}

/* gates = { min = {...}; max = {...}; better_than_production = {...}; } */
static int s_gates(ctx_t *c, const workflow_step_t *st, const config_setting_t *g, json_t *out)
{
    const char *step = st->name;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, s_line(g),
                      "step '%s': 'gates' must be a group, e.g. gates = { min = { "
                      "accuracy = 0.8; }; };",
                      step);
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        int is_min = strcmp(k, "min") == 0;
        if (is_min || strcmp(k, "max") == 0) {
            const char *const *allowed = is_min ? s_min_metrics : s_max_metrics;
            const char *list = is_min ? "accuracy, macro_f1, r2" : "log_loss, rmse, mae";
            if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return s_fail(c, s_line(s),
                              "step '%s': gates '%s' must be a group of metric = "
                              "bound, e.g. %s",
                              step, k,
                              is_min ? "min = { accuracy = 0.8; };" : "max = { log_loss = 0.6; };");
            json_t *obj = json_object();
            if (!obj || json_object_set_new(out, k, obj) != 0)
                return s_oom(c);
            int m = config_setting_length(s);
            for (int j = 0; j < m; j++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
                const char *mk = config_setting_name(e);
                int ok = 0;
                for (size_t a = 0; allowed[a]; a++)
                    ok |= strcmp(mk, allowed[a]) == 0;
                if (!ok)
                    return s_fail(c, s_line(e),
                                  "step '%s': gates '%s' cannot bound '%s' (known: "
                                  "%s)",
                                  step, k, mk, list);
                char what[96];
                double v;
                snprintf(what, sizeof what, "gates %s '%s'", k, mk);
                if (s_num(c, e, step, what, -1e300, 0, 1e300, 0, &v) < 0 ||
                    s_jset(c, obj, mk, json_real(v)) < 0)
                    return -1;
            }
        } else if (strcmp(k, "better_than_production") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return s_fail(c, s_line(s),
                              "step '%s': gates 'better_than_production' must be a "
                              "group, e.g. { metric = \"accuracy\"; by = 0.0; }",
                              step);
            const char *metric = NULL;
            double by = 0.0, alpha = -1;
            const config_setting_t *alpha_s = NULL;
            int m = config_setting_length(s);
            for (int j = 0; j < m; j++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
                const char *ek = config_setting_name(e);
                if (strcmp(ek, "metric") == 0) {
                    if (s_word(c, e, step, "better_than_production 'metric'", s_all_metrics,
                               "accuracy, macro_f1, r2, log_loss, rmse, mae", &metric) < 0)
                        return -1;
                } else if (strcmp(ek, "by") == 0) {
                    if (s_num(c, e, step, "better_than_production 'by'", 0, 0, 1e300, 0, &by) < 0)
                        return -1;
                } else if (strcmp(ek, "alpha") == 0) {
                    if (s_num(c, e, step, "better_than_production 'alpha'", 0, 1, 1, 1, &alpha) < 0)
                        return -1;
                    alpha_s = e;
                } else {
                    return s_fail(c, s_line(e),
                                  "step '%s': unknown key '%s' in gates "
                                  "better_than_production (known: metric, by, alpha)",
                                  step, ek);
                }
            }
            if (!metric)
                return s_fail(c, s_line(s),
                              "step '%s': gates better_than_production needs "
                              "'metric', e.g. metric = \"accuracy\";",
                              step);
            /* alpha: McNemar's exact test on the paired test predictions,
             * which is about correct/incorrect, so accuracy only. */
            if (alpha_s && strcmp(metric, "accuracy") != 0)
                return s_fail(c, s_line(alpha_s),
                              "step '%s': better_than_production 'alpha' "
                              "(a significance test) applies to metric \"accuracy\" only",
                              step);
            json_t *obj = json_pack("{s:s,s:f}", "metric", metric, "by", by);
            if (obj && alpha_s && json_object_set_new(obj, "alpha", json_real(alpha)) != 0) {
                json_decref(obj);
                obj = NULL;
            }
            if (s_jset(c, out, "better_than_production", obj) < 0)
                return -1;
        } else {
            return s_fail(c, s_line(s),
                          "step '%s': unknown gate '%s' (known: min, max, "
                          "better_than_production)",
                          step, k);
        }
    }
    return 0;
}

static int s_evaluate_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, json_t *root,
                           size_t idx)
{
    const char *step = st->name, *v;
    const config_setting_t *s;
    if (s_need(c, st, s_kv(kv, n, "dataset"), "dataset", "dataset = \"data/test.csv\";") < 0 ||
        s_need(c, st, s_kv(kv, n, "model"), "model", "model = \"@train\";") < 0)
        return -1;
    if (s_jpath(c, root, "dataset", s_kv(kv, n, "dataset"), step, "'dataset'") < 0)
        return -1;
    if ((s = s_kv(kv, n, "label")) &&
        (s_str(c, s, step, "'label'", &v) < 0 || s_jset(c, root, "label", json_string(v)) < 0))
        return -1;
    if (s_jmodel_ref(c, root, s_kv(kv, n, "model"), step, idx) < 0)
        return -1;
    const char *extra = NULL; /* written only when set: "refuse" is drover-task's default */
    if ((s = s_kv(kv, n, "extra_columns")) &&
        (s_word(c, s, step, "'extra_columns'", s_extra_modes, "refuse, ignore", &extra) < 0 ||
         s_jset(c, root, "extra_columns", json_string(extra)) < 0))
        return -1;
    json_t *gates = json_object();
    if (!gates || json_object_set_new(root, "gates", gates) != 0)
        return s_oom(c);
    if ((s = s_kv(kv, n, "gates")))
        return s_gates(c, st, s, gates);
    return 0;
}

static int s_promote_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, json_t *root,
                          size_t idx)
{
    const char *stage;
    if (s_need(c, st, s_kv(kv, n, "model"), "model", "model = \"@train\";") < 0 ||
        s_need(c, st, s_kv(kv, n, "stage"), "stage", "stage = \"production\";") < 0)
        return -1;
    if (s_jmodel_ref(c, root, s_kv(kv, n, "model"), st->name, idx) < 0)
        return -1;
    if (s_word(c, s_kv(kv, n, "stage"), st->name, "'stage'", s_stages,
               "staging, production, archived", &stage) < 0)
        return -1;
    return s_jset(c, root, "stage", json_string(stage));
}

/* A score step (issue 11): {"dataset", "model", "extra_columns", "format"};
 * the model reference is resolved by the coordinator like evaluate's. */
static int s_score_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, json_t *root,
                        size_t idx)
{
    const char *step = st->name, *extra = "refuse", *format = "csv";
    const config_setting_t *s;
    if (s_need(c, st, s_kv(kv, n, "dataset"), "dataset", "dataset = \"data/claims.csv\";") < 0 ||
        s_need(c, st, s_kv(kv, n, "model"), "model", "model = \"claims-damage:production\";") < 0)
        return -1;
    if (s_jpath(c, root, "dataset", s_kv(kv, n, "dataset"), step, "'dataset'") < 0 ||
        s_jmodel_ref(c, root, s_kv(kv, n, "model"), step, idx) < 0)
        return -1;
    if ((s = s_kv(kv, n, "extra_columns")) &&
        s_word(c, s, step, "'extra_columns'", s_extra_modes, "refuse, ignore", &extra) < 0)
        return -1;
    if ((s = s_kv(kv, n, "format")) &&
        s_word(c, s, step, "'format'", s_score_formats, "csv, binary", &format) < 0)
        return -1;
    if (s_jset(c, root, "extra_columns", json_string(extra)) < 0 ||
        s_jset(c, root, "format", json_string(format)) < 0)
        return -1;
    return 0;
}

static const char *const s_modes[] = {"max", "min", NULL};

/* A select step: {"metric","mode"} now; "from" (the train steps it runs
 * after) once the graph is known (s_select_from). */
static int s_select_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, json_t *root)
{
    const char *v, *mode;
    const config_setting_t *s;
    if (s_need(c, st, s_kv(kv, n, "metric"), "metric", "metric = \"val_accuracy\";") < 0 ||
        s_need(c, st, s_kv(kv, n, "mode"), "mode", "mode = \"max\";") < 0)
        return -1;
    /* The metrics train steps record, from the step-kind table (the
     * coordinator checks the same list). */
    const stepkind_key_t *mk = stepkind_key(stepkind_find("select"), "metric");
    if (!mk || !mk->words)
        return s_fail(c, s_line(s_kv(kv, n, "metric")), "step '%s': select has no metric list",
                      st->name);
    if (s_word(c, s_kv(kv, n, "metric"), st->name, "'metric'", mk->words, mk->words_text, &v) < 0)
        return -1;
    if (s_word(c, s_kv(kv, n, "mode"), st->name, "'mode'", s_modes,
               "max (higher is better), min (lower is better)", &mode) < 0)
        return -1;
    if (s_jset(c, root, "metric", json_string(v)) < 0 ||
        s_jset(c, root, "mode", json_string(mode)) < 0)
        return -1;
    if ((s = s_kv(kv, n, "min_success"))) {
        long long ms;
        if (s_int(c, s, st->name, "'min_success'", 1, 100000, &ms) < 0 ||
            s_jset(c, root, "min_success", json_integer((json_int_t)ms)) < 0)
            return -1;
    }
    return 0;
}

/* An approve step (issue 11): {"model"}; it waits for a person. */
static int s_approve_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, json_t *root,
                          size_t idx)
{
    if (s_need(c, st, s_kv(kv, n, "model"), "model", "model = \"@train\";") < 0)
        return -1;
    return s_jmodel_ref(c, root, s_kv(kv, n, "model"), st->name, idx);
}

/* Builds spec_json for validate, train, evaluate, promote, select, score
 * and approve steps. */
static int s_ml_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t n, size_t idx)
{
    json_t *root = json_object();
    if (!root)
        return s_oom(c);
    int rc;
    if (strcmp(st->kind, "train") == 0)
        rc = s_train_spec(c, st, kv, n, root);
    else if (strcmp(st->kind, "validate") == 0)
        rc = s_validate_spec(c, st, kv, n, root);
    else if (strcmp(st->kind, "evaluate") == 0)
        rc = s_evaluate_spec(c, st, kv, n, root, idx);
    else if (strcmp(st->kind, "select") == 0)
        rc = s_select_spec(c, st, kv, n, root);
    else if (strcmp(st->kind, "score") == 0)
        rc = s_score_spec(c, st, kv, n, root, idx);
    else if (strcmp(st->kind, "approve") == 0)
        rc = s_approve_spec(c, st, kv, n, root, idx);
    else
        rc = s_promote_spec(c, st, kv, n, root, idx);
    if (rc == 0) {
        /* 15 digits: 0.1 stays "0.1" instead of its 17-digit binary expansion. */
        st->spec_json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        if (!st->spec_json)
            rc = s_oom(c);
    }
    json_decref(root);
    return rc;
}

/* "@STEP" model references: STEP must be a train or select step this step runs
 * after, directly or transitively. Runs after dag_check, so every name in
 * an 'after' list exists and there is no cycle. */
static int s_check_refs(ctx_t *c, const workflow_t *wf)
{
    char *seen = NULL;
    size_t *stack = NULL;
    int rc = 0;
    for (size_t i = 0; i < wf->nsteps && rc == 0; i++) {
        if (!c->refs[i])
            continue;
        const workflow_step_t *st = &wf->steps[i];
        if (!seen) {
            seen = calloc(wf->nsteps, 1);
            stack = calloc(wf->nsteps + 1, sizeof *stack);
            if (!seen || !stack) {
                rc = s_oom(c);
                break;
            }
        }
        memset(seen, 0, wf->nsteps);
        size_t sp = 0, target = SIZE_MAX;
        stack[sp++] = i;
        seen[i] = 1;
        while (sp > 0 && target == SIZE_MAX) {
            const workflow_step_t *cur = &wf->steps[stack[--sp]];
            for (size_t a = 0; a < cur->nafter; a++) {
                for (size_t j = 0; j < wf->nsteps; j++) {
                    if (seen[j] || strcmp(wf->steps[j].name, cur->after[a]) != 0)
                        continue;
                    seen[j] = 1;
                    if (strcmp(wf->steps[j].name, c->refs[i]) == 0)
                        target = j;
                    stack[sp++] = j;
                    break;
                }
            }
        }
        if (target == SIZE_MAX) {
            int exists = 0;
            size_t swept = 0;
            for (size_t j = 0; j < wf->nsteps; j++) {
                exists |= strcmp(wf->steps[j].name, c->refs[i]) == 0;
                swept += wf->steps[j].sweep && strcmp(wf->steps[j].sweep, c->refs[i]) == 0;
            }
            if (!exists && swept > 0) {
                rc = s_fail(c, c->ref_lines[i],
                            "step '%s': model '@%s' names a swept step (it became %zu steps, "
                            "%s.1 to %s.%zu); add a step of kind \"select\" after it and use "
                            "its name",
                            st->name, c->refs[i], swept, c->refs[i], c->refs[i], swept);
                break;
            }
            rc = s_fail(c, c->ref_lines[i],
                        exists ? "step '%s': model '@%s' names a step this step does not run "
                                 "after; add it to 'after' (directly or through other steps)"
                               : "step '%s': model '@%s' names no step of this workflow",
                        st->name, c->refs[i]);
        } else if (strcmp(wf->steps[target].kind, "train") != 0 &&
                   strcmp(wf->steps[target].kind, "select") != 0 &&
                   strcmp(wf->steps[target].kind, "exec") != 0) {
            rc =
                s_fail(c, c->ref_lines[i],
                       "step '%s': model '@%s' must name a train, select or exec step ('%s' is %s)",
                       st->name, c->refs[i], c->refs[i], wf->steps[target].kind);
        }
    }
    free(seen);
    free(stack);
    return rc;
}

static int s_in(const char *k, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(k, list[i]) == 0)
            return 1;
    return 0;
}

/* A key a workflow file may give a step of kind k. */
static int s_file_key(const stepkind_t *k, const char *key)
{
    const stepkind_key_t *kk = stepkind_key(k, key);
    return kk && (kk->from & STEPKIND_FROM_FILE);
}

/* ---------------------------------------------- resources and sweeps --- */

/* resources = { cpus = 2; memory = "4G"; gpus = 1; labels = ["gpu-a100"]; } */
static int s_resources(ctx_t *c, const config_setting_t *g, const char *step,
                       workflow_resources_t *r)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, s_line(g),
                      "step '%s': 'resources' must be a group, e.g. resources = { "
                      "cpus = 2; memory = \"4G\"; gpus = 1; labels = [\"gpu-a100\"]; };",
                      step);
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        int t = config_setting_type(s);
        long long v;
        if (strcmp(k, "cpus") == 0) {
            if (s_int(c, s, step, "resources 'cpus'", 1, WORKFLOW_MAX_CPUS, &v) < 0)
                return -1;
            r->cpus = (unsigned)v;
        } else if (strcmp(k, "gpus") == 0) {
            if (s_int(c, s, step, "resources 'gpus'", 0, WORKFLOW_MAX_GPUS, &v) < 0)
                return -1;
            r->gpus = (unsigned)v;
        } else if (strcmp(k, "memory") == 0) {
            uint64_t bytes = 0;
            if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
                if (config_setting_get_int64(s) < 0)
                    goto bad_memory;
                bytes = (uint64_t)config_setting_get_int64(s);
            } else if (t != CONFIG_TYPE_STRING ||
                       workflow_parse_size(config_setting_get_string(s), &bytes) < 0) {
                goto bad_memory;
            }
            r->memory_bytes = bytes;
        } else if (strcmp(k, "labels") == 0) {
            int m =
                (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(s) : -1;
            if (m < 0 || m > WORKFLOW_MAX_LABELS)
                return s_fail(c, s_line(s),
                              "step '%s': resources 'labels' must be an array of at "
                              "most %d labels, e.g. labels = [\"gpu-a100\"]",
                              step, WORKFLOW_MAX_LABELS);
            if (m > 0 && !(r->labels = calloc((size_t)m, sizeof *r->labels)))
                return s_oom(c);
            for (int j = 0; j < m; j++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
                const char *l = config_setting_get_string(e);
                if (!l || !s_name_ok(l) || strlen(l) > WF_LABEL_MAX)
                    return s_fail(c, s_line(e),
                                  "step '%s': each resources label must be " UTIL_NAME_RULE, step,
                                  WF_LABEL_MAX);
                if (!(r->labels[j] = strdup(l)))
                    return s_oom(c);
                r->nlabels++;
            }
        } else {
            return s_fail(c, s_line(s),
                          "step '%s': unknown key '%s' in resources (known: cpus, "
                          "memory, gpus, labels)",
                          step, k);
        }
        continue;
    bad_memory:
        return s_fail(c, s_line(s),
                      "step '%s': resources 'memory' must be a size: bytes "
                      "(4294967296) or a string with a unit K, M, G or T (\"512M\", \"4G\")",
                      step);
    }
    return 0;
}

static int s_copy_resources(const workflow_resources_t *from, workflow_resources_t *to)
{
    *to = *from;
    to->labels = NULL;
    to->nlabels = 0;
    if (from->nlabels == 0)
        return 0;
    if (!(to->labels = calloc(from->nlabels, sizeof *to->labels)))
        return -1;
    for (size_t i = 0; i < from->nlabels; i++) {
        if (!(to->labels[i] = strdup(from->labels[i])))
            return -1;
        to->nlabels++;
    }
    return 0;
}

/* How many steps the group g becomes: the product of its matrix lengths,
 * or 1 when it has no matrix or a malformed one (s_parse_step reports
 * that). Capped just above WORKFLOW_MAX_SWEEP, which is an error anyway. */
static size_t s_matrix_count(const config_setting_t *g)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return 1;
    const config_setting_t *m = config_setting_get_member(g, "matrix");
    if (!m || config_setting_type(m) != CONFIG_TYPE_GROUP || config_setting_length(m) == 0)
        return 1;
    size_t prod = 1;
    int n = config_setting_length(m);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
        int t = config_setting_type(e);
        int len = (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(e) : 0;
        if (len <= 0)
            return 1;
        prod *= (size_t)len;
        if (prod > WORKFLOW_MAX_SWEEP)
            return WORKFLOW_MAX_SWEEP + 1;
    }
    return prod;
}

/* A libconfig value as JSON (for matrix_json); NULL on ENOMEM or a string
 * jansson refuses. */
static json_t *s_setting_json(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return json_integer((json_int_t)config_setting_get_int64(s));
    case CONFIG_TYPE_FLOAT: return json_real(config_setting_get_float(s));
    case CONFIG_TYPE_BOOL: return json_boolean(config_setting_get_bool(s));
    case CONFIG_TYPE_STRING: return json_string(config_setting_get_string(s));
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_GROUP: {
        int grp = config_setting_type(s) == CONFIG_TYPE_GROUP;
        json_t *o = grp ? json_object() : json_array();
        int n = config_setting_length(s);
        for (int i = 0; o && i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            json_t *v = s_setting_json(e);
            if (!v || (grp ? json_object_set_new(o, config_setting_name(e), v)
                           : json_array_append_new(o, v)) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    default: return NULL;
    }
}

/* Checks matrix = { KEY = [v1, v2]; ... } of a step of kind kk. The keys
 * must be the kind's own and not set in the step itself; *nm gets their
 * number and keys/sets their names and value lists. */
static int s_matrix(ctx_t *c, const config_setting_t *mx, const char *step, const stepkind_t *kk,
                    const kv_t *kv, size_t nkv, kv_t *keys, size_t *nm, size_t count)
{
    if (config_setting_type(mx) != CONFIG_TYPE_GROUP || config_setting_length(mx) == 0)
        return s_fail(c, s_line(mx),
                      "step '%s': 'matrix' must be a non-empty group of KEY = "
                      "[values], e.g. matrix = { learning_rate = [0.1, 0.03]; };",
                      step);
    if (strcmp(kk->name, "select") == 0)
        return s_fail(c, s_line(mx), "step '%s': a select step cannot have a 'matrix'", step);
    int n = config_setting_length(mx);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(mx, (unsigned)i);
        const char *k = config_setting_name(e);
        int t = config_setting_type(e);
        if (!s_file_key(kk, k))
            return s_fail(c, s_line(e),
                          "step '%s': matrix key '%s' is not a setting of kind %s "
                          "(it can vary: %s)",
                          step, k, kk->name, *kk->keys_text ? kk->keys_text : "nothing");
        if (s_kv(kv, nkv, k))
            return s_fail(c, s_line(e),
                          "step '%s': '%s' is set both in the step and in its "
                          "matrix; keep one",
                          step, k);
        if ((t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) || config_setting_length(e) == 0)
            return s_fail(c, s_line(e),
                          "step '%s': matrix '%s' must be a non-empty list of "
                          "values, e.g. [0.1, 0.03] (a list value in parentheses: ([64], [128]))",
                          step, k);
        keys[i] = (kv_t){k, e};
    }
    if (count > WORKFLOW_MAX_SWEEP)
        return s_fail(c, s_line(mx), "step '%s': the matrix has more than %d combinations", step,
                      WORKFLOW_MAX_SWEEP);
    *nm = (size_t)n;
    return 0;
}

/* Builds one step's spec_json from its kind-specific settings. */
static int s_spec(ctx_t *c, workflow_step_t *st, const kv_t *kv, size_t nkv, size_t idx)
{
    if (strcmp(st->kind, "noop") == 0) {
        /* Runs nothing: joins branches, and measures the orchestrator. */
        st->spec_json = strdup("{}");
        return st->spec_json ? 0 : s_oom(c);
    }
    if (strcmp(st->kind, "exec") == 0)
        return s_exec_spec(c, st, s_kv(kv, nkv, "argv"), s_kv(kv, nkv, "command"),
                           s_kv(kv, nkv, "env"), s_kv(kv, nkv, "cwd"), s_kv(kv, nkv, "gates"),
                           s_kv(kv, nkv, "outputs"), s_kv(kv, nkv, "inputs"), idx);
    return s_ml_spec(c, st, kv, nkv, idx);
}

/* Parses one element of steps into wf->steps[base .. base + count): one
 * step, or count expansions of a step with a matrix. name_lines gets the
 * line of each one's name (for duplicate-name messages). */
static int s_parse_step(ctx_t *c, const config_setting_t *g, size_t cfg_idx, workflow_t *wf,
                        size_t base, size_t count, int *name_lines)
{
    workflow_step_t *st = &wf->steps[base];
    st->line = s_line(g);
    st->retry_delay_ms = WF_DEFAULT_RETRY_DELAY_MS;
    st->resources.cpus = 1;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, st->line,
                      "step %zu must be a group: { name = \"...\"; kind = \"exec\"; ... }",
                      cfg_idx + 1);

    /* Name and kind first: every later message names the step, and which
     * keys are valid depends on the kind. */
    const config_setting_t *s = config_setting_get_member(g, "name");
    if (!s)
        return s_fail(c, st->line, "step at line %d has no 'name'", s_src_line(c, st->line));
    name_lines[base] = s_line(s);
    const char *name = config_setting_get_string(s);
    if (!name)
        return s_fail(c, s_line(s), "step at line %d: 'name' must be a string",
                      s_src_line(c, st->line));
    if (!s_name_ok(name))
        return s_fail(c, s_line(s), "step name '%.*s' is invalid (use " UTIL_NAME_RULE ")",
                      WF_NAME_MAX + 8, name, WF_NAME_MAX);
    if (!(st->name = strdup(name)))
        return s_oom(c);

    s = config_setting_get_member(g, "kind");
    if (!s)
        return s_fail(c, st->line, "step '%s' has no 'kind' (known: %s)", name,
                      stepkind_names_text());
    const char *kind = config_setting_get_string(s);
    if (!kind)
        return s_fail(c, s_line(s), "step '%s': 'kind' must be a string", name);
    if (!workflow_kind_known(kind))
        return s_fail(c, s_line(s), "step '%s': unknown kind '%.64s' (known: %s)", name, kind,
                      stepkind_names_text());
    if (!(st->kind = strdup(kind)))
        return s_oom(c);

    const stepkind_t *kk = stepkind_find(kind);
    DROVER_INVARIANT(kk != NULL);
    kv_t kv[MAX_KIND_SETTINGS];
    size_t nkv = 0;
    const config_setting_t *res = NULL, *mx = NULL;
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        int line = s_line(s);
        if (!s_in(k, s_common_keys)) {
            if (!s_file_key(kk, k))
                return s_fail(c, line, "step '%s': unknown key '%s' (known: " COMMON_KEYS "%s%s)",
                              name, k, *kk->keys_text ? ", " : "", kk->keys_text);
            /* libconfig refuses duplicate names, so there are at most as
             * many as the kind has keys. */
            DROVER_INVARIANT(nkv < MAX_KIND_SETTINGS);
            kv[nkv++] = (kv_t){k, s};
            continue;
        }
        if (strcmp(k, "after") == 0) {
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                return s_fail(c, line,
                              "step '%s': 'after' must be an array of step names, "
                              "e.g. after = [\"prepare\"]",
                              name);
            int m = config_setting_length(s);
            if (m > 0 && !(st->after = calloc((size_t)m, sizeof *st->after)))
                return s_oom(c);
            for (int j = 0; j < m; j++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
                const char *v = config_setting_get_string(e);
                if (!v)
                    return s_fail(c, s_line(e), "step '%s': 'after' must be an array of step names",
                                  name);
                if (!(st->after[j] = strdup(v)))
                    return s_oom(c);
                st->nafter++;
            }
        } else if (strcmp(k, "retries") == 0) {
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
                return s_fail(c, line, "step '%s': 'retries' must be an integer", name);
            long long v = config_setting_get_int64(s);
            if (v < 0 || v > WF_MAX_RETRIES)
                return s_fail(c, line, "step '%s': 'retries' must be between 0 and %d", name,
                              WF_MAX_RETRIES);
            st->retries = (unsigned)v;
        } else if (strcmp(k, "timeout") == 0) {
            if (s_duration(c, s, name, k, &st->timeout_ms) < 0)
                return -1;
        } else if (strcmp(k, "retry_delay") == 0) {
            if (s_duration(c, s, name, k, &st->retry_delay_ms) < 0)
                return -1;
        } else if (strcmp(k, "nodes") == 0) {
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
                return s_fail(c, line, "step '%s': 'nodes' must be an integer", name);
            long long v = config_setting_get_int64(s);
            if (v < 1 || v > STEPKIND_MAX_NODES)
                return s_fail(c, line, "step '%s': 'nodes' must be between 1 and %d", name,
                              STEPKIND_MAX_NODES);
            if (v > 1 && stepkind_find(kind)->where == STEPKIND_AT_COORDINATOR)
                return s_fail(c, line,
                              "step '%s': a %s step runs inside the coordinator and cannot have "
                              "'nodes' > 1",
                              name, kind);
            st->nodes = (unsigned)v;
        } else if (strcmp(k, "spread") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                return s_fail(c, line, "step '%s': 'spread' must be true or false", name);
            st->pack = !config_setting_get_bool(s);
        } else if (strcmp(k, "resources") == 0) {
            res = s;
        } else if (strcmp(k, "matrix") == 0) {
            mx = s;
        }
    }
    if (res) {
        /* select runs inside the coordinator: nothing to place. */
        if (strcmp(kind, "select") == 0 || strcmp(kind, "approve") == 0)
            return s_fail(c, s_line(res),
                          "step '%s': a%s %s step runs inside the coordinator "
                          "and takes no 'resources'",
                          name, kind[0] == 'a' ? "n" : "", kind);
        if (s_resources(c, res, name, &st->resources) < 0)
            return -1;
    }
    if (!mx) {
        DROVER_INVARIANT(count == 1);
        return s_spec(c, st, kv, nkv, base);
    }

    kv_t keys[MAX_KIND_SETTINGS];
    size_t nm = 0;
    if (s_matrix(c, mx, name, kk, kv, nkv, keys, &nm, count) < 0)
        return -1;
    DROVER_INVARIANT(nkv + nm <= MAX_KIND_SETTINGS);
    char *orig = strdup(name); /* st->name is replaced below */
    if (!orig)
        return s_oom(c);
    c->has_sweep = 1;
    int rc = 0;
    for (size_t k = 0; k < count && rc == 0; k++) {
        workflow_step_t *sk = &wf->steps[base + k];
        if (k > 0) {
            sk->line = st->line;
            sk->retries = st->retries;
            sk->timeout_ms = st->timeout_ms;
            sk->retry_delay_ms = st->retry_delay_ms;
            sk->nodes = st->nodes;
            sk->pack = st->pack;
            name_lines[base + k] = name_lines[base];
            if (!(sk->name = strdup(orig)) || !(sk->kind = strdup(st->kind)) ||
                s_copy_resources(&st->resources, &sk->resources) < 0 ||
                (st->nafter > 0 && !(sk->after = calloc(st->nafter, sizeof *sk->after)))) {
                rc = s_oom(c);
                break;
            }
            for (size_t j = 0; j < st->nafter; j++) {
                if (!(sk->after[j] = strdup(st->after[j]))) {
                    rc = s_oom(c);
                    break;
                }
                sk->nafter++;
            }
            if (rc)
                break;
        }
        /* Mixed radix over the keys in file order, the last fastest. */
        kv_t all[MAX_KIND_SETTINGS];
        memcpy(all, kv, nkv * sizeof *kv);
        json_t *mj = json_object();
        if (!mj) {
            rc = s_oom(c);
            break;
        }
        size_t rest = k;
        for (size_t j = nm; j-- > 0;) {
            size_t len = (size_t)config_setting_length(keys[j].s);
            const config_setting_t *e = config_setting_get_elem(keys[j].s, (unsigned)(rest % len));
            rest /= len;
            all[nkv + j] = (kv_t){keys[j].key, e};
            json_t *v = s_setting_json(e);
            if (!v || json_object_set_new(mj, keys[j].key, v) != 0) {
                rc = s_oom(c);
                break;
            }
        }
        /* The spec is built under the written name, so messages name the
         * step the user wrote; the line points at the matrix value. */
        if (rc == 0)
            rc = s_spec(c, sk, all, nkv + nm, base + k);
        if (rc == 0 && !(sk->matrix_json = json_dumps(mj, JSON_COMPACT | JSON_SORT_KEYS |
                                                              JSON_REAL_PRECISION(15))))
            rc = s_oom(c);
        json_decref(mj);
        if (rc)
            break;
        char *xname = NULL;
        if (asprintf(&xname, "%s.%zu", orig, k + 1) < 0) {
            rc = s_oom(c);
            break;
        }
        if (!s_name_ok(xname)) {
            free(xname);
            rc = s_fail(c, name_lines[base],
                        "step name '%s' is too long for a sweep (its "
                        "expansions %s.N must fit in %d characters)",
                        orig, orig, WF_NAME_MAX);
            break;
        }
        free(sk->name);
        sk->name = xname;
        if (!(sk->sweep = strdup(orig)))
            rc = s_oom(c);
    }
    free(orig);
    return rc;
}

/* Replaces each 'after' entry that names a swept step with all of its
 * expansions, before the graph checks. A step may not carry the name a
 * sweep was written with (it would be ambiguous in 'after'). */
static int s_expand_sweeps(ctx_t *c, workflow_t *wf, const int *name_lines)
{
    for (size_t i = 0; i < wf->nsteps; i++) {
        const workflow_step_t *st = &wf->steps[i];
        if (!st->sweep ||
            (i > 0 && wf->steps[i - 1].sweep && strcmp(wf->steps[i - 1].sweep, st->sweep) == 0))
            continue;
        for (size_t j = 0; j < wf->nsteps; j++)
            if (strcmp(wf->steps[j].name, st->sweep) == 0) {
                char where[1200];
                s_where(c, name_lines[j], name_lines[i], where, sizeof where);
                return s_fail(c, name_lines[j],
                              "duplicate step name '%s' (the swept step at "
                              "%s has it too)",
                              st->sweep, where);
            }
    }
    for (size_t i = 0; i < wf->nsteps; i++) {
        workflow_step_t *st = &wf->steps[i];
        size_t total = 0;
        int any = 0;
        for (size_t a = 0; a < st->nafter; a++) {
            size_t m = 0;
            for (size_t j = 0; j < wf->nsteps; j++)
                m += wf->steps[j].sweep && strcmp(wf->steps[j].sweep, st->after[a]) == 0;
            any |= m > 0;
            total += m > 0 ? m : 1;
        }
        if (!any)
            continue;
        char **na = calloc(total, sizeof *na);
        if (!na)
            return s_oom(c);
        size_t k = 0;
        for (size_t a = 0; a < st->nafter; a++) {
            int hit = 0;
            for (size_t j = 0; j < wf->nsteps; j++) {
                if (!wf->steps[j].sweep || strcmp(wf->steps[j].sweep, st->after[a]) != 0)
                    continue;
                hit = 1;
                if (!(na[k] = strdup(wf->steps[j].name)))
                    goto nomem;
                k++;
            }
            if (!hit) {
                na[k++] = st->after[a];
                st->after[a] = NULL;
            }
        }
        for (size_t a = 0; a < st->nafter; a++)
            free(st->after[a]);
        free(st->after);
        st->after = na;
        st->nafter = total;
        continue;
    nomem:
        for (size_t j = 0; j < k; j++)
            free(na[j]);
        free(na);
        return s_oom(c);
    }
    return 0;
}

/* Adds "from" to each select step's spec: the train steps it runs after
 * directly (after sweep expansion), in 'after' order. */
static int s_select_from(ctx_t *c, workflow_t *wf)
{
    for (size_t i = 0; i < wf->nsteps; i++) {
        workflow_step_t *st = &wf->steps[i];
        if (strcmp(st->kind, "select") != 0)
            continue;
        json_t *root = json_loads(st->spec_json, 0, NULL);
        json_t *from = json_array();
        if (!root || !from || json_object_set_new(root, "from", from) != 0) {
            json_decref(root);
            return s_oom(c);
        }
        for (size_t a = 0; a < st->nafter; a++)
            for (size_t j = 0; j < wf->nsteps; j++)
                if (strcmp(wf->steps[j].name, st->after[a]) == 0 &&
                    strcmp(wf->steps[j].kind, "train") == 0 &&
                    s_jappend_str(c, from, st->after[a]) < 0) {
                    json_decref(root);
                    return -1;
                }
        if (json_array_size(from) == 0) {
            json_decref(root);
            return s_fail(c, st->line,
                          "step '%s': a select step needs at least one train step "
                          "in 'after' (the candidates it picks from)",
                          st->name);
        }
        char *js = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        json_decref(root);
        if (!js)
            return s_oom(c);
        free(st->spec_json);
        st->spec_json = js;
    }
    return 0;
}

/* Runs the graph checks and turns dag_check's index into a line. */
static int s_check_graph(ctx_t *c, const workflow_t *wf, const int *name_lines)
{
    dag_node_t *nodes = calloc(wf->nsteps, sizeof *nodes);
    if (!nodes)
        return s_oom(c);
    for (size_t i = 0; i < wf->nsteps; i++) {
        nodes[i].name = wf->steps[i].name;
        nodes[i].after = (const char *const *)wf->steps[i].after;
        nodes[i].nafter = wf->steps[i].nafter;
    }
    char msg[1024];
    size_t bad = 0;
    int rc = dag_check(nodes, wf->nsteps, &bad, msg, sizeof msg);
    int e = errno;
    free(nodes);
    if (rc == 0)
        return 0;
    if (e == ENOMEM)
        return s_oom(c);
    /* A duplicate name is the one graph error that needs a second line;
     * the scan runs only on this error path. */
    for (size_t j = 0; j < bad && j < wf->nsteps; j++)
        if (strcmp(wf->steps[j].name, wf->steps[bad].name) == 0) {
            char where[1200];
            s_where(c, name_lines[bad], name_lines[j], where, sizeof where);
            return s_fail(c, name_lines[bad], "duplicate step name '%s' (first defined at %s)",
                          wf->steps[bad].name, where);
        }
    return s_fail(c, bad < wf->nsteps ? wf->steps[bad].line : 0, "%s", msg);
}

/* Inputs name outputs of ancestors: the coordinator's own rule
 * (stepkind_check_artifacts), at the line of the step's 'inputs'. */
static int s_check_artifacts(ctx_t *c, const workflow_t *wf)
{
    stepkind_view_t *v = malloc(wf->nsteps * sizeof *v);
    if (!v)
        return s_oom(c);
    for (size_t i = 0; i < wf->nsteps; i++)
        v[i] = (stepkind_view_t){wf->steps[i].name, wf->steps[i].kind, wf->steps[i].after,
                                 wf->steps[i].nafter, wf->steps[i].spec_json};
    size_t bad = 0;
    char msg[512];
    int rc = stepkind_check_artifacts(v, wf->nsteps, &bad, msg, sizeof msg);
    free(v);
    if (rc == 0)
        return 0;
    if (errno == ENOMEM)
        return s_oom(c);
    return s_fail(c, bad < wf->nsteps && c->in_lines[bad] ? c->in_lines[bad] : wf->steps[bad].line,
                  "%s", msg);
}

static int s_parse_steps(ctx_t *c, workflow_t *wf, const config_setting_t *steps)
{
    int line = s_line(steps);
    if (config_setting_type(steps) != CONFIG_TYPE_LIST)
        return s_fail(c, line, "'steps' must be a list of groups: steps = ( { ... }, { ... } );");
    int n = config_setting_length(steps);
    if (n == 0)
        return s_fail(c, line, "'steps' is empty; a workflow needs at least one step");
    if (n > WORKFLOW_MAX_STEPS)
        return s_fail(c, line, "too many steps (%d; at most %d)", n, WORKFLOW_MAX_STEPS);
    /* Matrix expansion decides the real number of steps up front, so every
     * array below is allocated once. */
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += s_matrix_count(config_setting_get_elem(steps, (unsigned)i));
    if (total > WORKFLOW_MAX_STEPS)
        return s_fail(c, line, "too many steps once the matrices are expanded (%zu; at most %d)",
                      total, WORKFLOW_MAX_STEPS);
    wf->steps = calloc(total, sizeof *wf->steps);
    int *name_lines = calloc(total, sizeof *name_lines);
    c->refs = calloc(total, sizeof *c->refs);
    c->ref_lines = calloc(total, sizeof *c->ref_lines);
    c->in_lines = calloc(total, sizeof *c->in_lines);
    int rc = 0;
    if (!wf->steps || !name_lines || !c->refs || !c->ref_lines || !c->in_lines) {
        rc = s_oom(c);
        goto out;
    }
    wf->nsteps = total;
    size_t base = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const config_setting_t *g = config_setting_get_elem(steps, (unsigned)i);
        size_t count = s_matrix_count(g);
        rc = s_parse_step(c, g, (size_t)i, wf, base, count, name_lines);
        base += count;
    }
    if (rc == 0 && c->has_sweep)
        rc = s_expand_sweeps(c, wf, name_lines);
    if (rc == 0)
        rc = s_check_graph(c, wf, name_lines);
    if (rc == 0)
        rc = s_select_from(c, wf);
    if (rc == 0)
        rc = s_check_refs(c, wf);
    if (rc == 0)
        rc = s_check_artifacts(c, wf);
    /* The spec as the coordinator will see it passes the coordinator's own
     * check (the same table): what the CLI accepts, the server accepts. */
    for (size_t i = 0; rc == 0 && !c->tmpl && i < wf->nsteps; i++) {
        char msg[512];
        const workflow_step_t *st = &wf->steps[i];
        if (stepkind_check_spec(st->kind, st->name, st->spec_json, STEPKIND_FROM_CLIENT, msg,
                                sizeof msg) < 0)
            rc = errno == ENOMEM ? s_oom(c) : s_fail(c, st->line, "%s", msg);
    }
out:
    if (c->refs)
        for (size_t i = 0; i < total; i++)
            free(c->refs[i]);
    free(c->refs);
    free(c->ref_lines);
    free(c->in_lines);
    c->refs = NULL;
    c->ref_lines = NULL;
    c->in_lines = NULL;
    free(name_lines);
    return rc;
}

/* ------------------------------------------------ queue and triggers --- */

/* A top-level string setting; what names it in messages. */
static int s_top_str(ctx_t *c, const config_setting_t *s, const char *what, const char **out)
{
    const char *v = config_setting_get_string(s);
    if (config_setting_type(s) != CONFIG_TYPE_STRING || !v)
        return s_fail(c, s_line(s), "%s must be a string", what);
    if (!*v)
        return s_fail(c, s_line(s), "%s must not be empty", what);
    if (!util_utf8_valid(v))
        return s_fail(c, s_line(s), "%s is not valid UTF-8", what);
    *out = v;
    return 0;
}

static const char *const s_catchups[] = {"none", "latest", "all", NULL};

/* schedule = { cron; timezone; catchup; max_active; catchup_max; lateness; } */
static int s_schedule(ctx_t *c, const config_setting_t *g, workflow_t *wf)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, s_line(g),
                      "'schedule' must be a group, e.g. schedule = { cron = \"0 3 * "
                      "* *\"; timezone = \"Europe/Berlin\"; };");
    workflow_schedule_t *sc = calloc(1, sizeof *sc);
    if (!sc)
        return s_oom(c);
    wf->schedule = sc;
    const config_setting_t *cron_s = NULL, *tz_s = NULL;
    const char *tz = "UTC", *catchup = "none";
    sc->max_active = 1;
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        const char *v;
        if (strcmp(k, "cron") == 0) {
            if (s_top_str(c, s, "schedule 'cron'", &v) < 0)
                return -1;
            cron_s = s;
        } else if (strcmp(k, "timezone") == 0) {
            if (s_top_str(c, s, "schedule 'timezone'", &tz) < 0)
                return -1;
            tz_s = s;
        } else if (strcmp(k, "catchup") == 0) {
            if (s_top_str(c, s, "schedule 'catchup'", &v) < 0)
                return -1;
            catchup = NULL;
            for (size_t j = 0; s_catchups[j]; j++)
                if (strcmp(v, s_catchups[j]) == 0)
                    catchup = s_catchups[j];
            if (!catchup)
                return s_fail(c, s_line(s),
                              "schedule 'catchup' must be one of none, latest, all "
                              "(got '%.64s')",
                              v);
        } else if (strcmp(k, "max_active") == 0) {
            int t = config_setting_type(s);
            long long m = config_setting_get_int64(s);
            if ((t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) || m < 1 || m > WF_MAX_ACTIVE)
                return s_fail(c, s_line(s),
                              "schedule 'max_active' must be an integer between 1 "
                              "and %d",
                              WF_MAX_ACTIVE);
            sc->max_active = (unsigned)m;
        } else if (strcmp(k, "catchup_max") == 0) {
            int t = config_setting_type(s);
            long long m = config_setting_get_int64(s);
            if ((t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) || m < 1 ||
                m > STEPKIND_MAX_CATCHUP)
                return s_fail(c, s_line(s),
                              "schedule 'catchup_max' must be an integer between 1 "
                              "and %d (missed due times that catchup = \"all\" queues)",
                              STEPKIND_MAX_CATCHUP);
            sc->catchup_max = (unsigned)m;
        } else if (strcmp(k, "lateness") == 0) {
            int t = config_setting_type(s);
            int64_t ms = -1;
            if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
                long long secs = config_setting_get_int64(s);
                ms = secs >= 0 && secs <= STEPKIND_MAX_LATENESS_S ? (int64_t)secs * 1000 : -1;
            } else if (t == CONFIG_TYPE_STRING) {
                const char *d = config_setting_get_string(s);
                if (!s_duration_syntax_ok(d) || util_parse_duration_ms(d, &ms) < 0)
                    ms = -1;
            }
            if (ms < 1000 || ms > (int64_t)STEPKIND_MAX_LATENESS_S * 1000)
                return s_fail(c, s_line(s),
                              "schedule 'lateness' must be a duration from 1s to "
                              "168h, e.g. lateness = \"10m\"; (how late a due time may still "
                              "start)");
            sc->lateness_s = (unsigned)(ms / 1000);
        } else {
            return s_fail(c, s_line(s),
                          "unknown key '%s' in schedule (known: cron, timezone, "
                          "catchup, max_active, catchup_max, lateness)",
                          k);
        }
    }
    if (!cron_s)
        return s_fail(c, s_line(g),
                      "schedule needs 'cron', e.g. cron = \"0 3 * * *\"; (03:00 "
                      "every day)");
    const char *expr = config_setting_get_string(cron_s);
    cron_t ct;
    char msg[256] = "";
    if (cron_parse(expr, &ct, msg, sizeof msg) < 0)
        return s_fail(c, s_line(cron_s), "schedule 'cron' \"%.64s\" is invalid: %s", expr, msg);
    /* The zone is checked by asking for a due time in it. */
    int64_t next;
    if (cron_next(&ct, tz, (int64_t)time(NULL), &next, msg, sizeof msg) < 0) {
        int e = errno;
        if (e == ENOMEM)
            return s_oom(c);
        if (e == ENOENT || e == EINVAL)
            return s_fail(c, tz_s ? s_line(tz_s) : s_line(g),
                          "schedule 'timezone': unknown time "
                          "zone '%.64s' (use an IANA name such as \"Europe/Berlin\" or \"UTC\")",
                          tz);
        return s_fail(c, s_line(cron_s), "schedule 'cron' \"%.64s\": %s", expr, msg);
    }
    if (!(sc->cron = strdup(expr)) || !(sc->timezone = strdup(tz)) ||
        !(sc->catchup = strdup(catchup)))
        return s_oom(c);
    return 0;
}

/* trigger = { watch; min_new_rows; on_failure; } */
static int s_trigger(ctx_t *c, const config_setting_t *g, workflow_t *wf)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, s_line(g),
                      "'trigger' must be a group, e.g. trigger = { watch = "
                      "\"data/feedback/\"; min_new_rows = 500; };");
    workflow_trigger_t *tr = calloc(1, sizeof *tr);
    if (!tr)
        return s_oom(c);
    wf->trigger = tr;
    tr->min_new_rows = 1;
    tr->on_failure = "keep";
    const config_setting_t *watch = NULL;
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        if (strcmp(k, "watch") == 0) {
            const char *v;
            if (s_top_str(c, s, "trigger 'watch'", &v) < 0)
                return -1;
            watch = s;
        } else if (strcmp(k, "min_new_rows") == 0) {
            int t = config_setting_type(s);
            if ((t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) || config_setting_get_int64(s) < 1)
                return s_fail(c, s_line(s),
                              "trigger 'min_new_rows' must be an integer of at "
                              "least 1");
            tr->min_new_rows = (uint64_t)config_setting_get_int64(s);
        } else if (strcmp(k, "on_failure") == 0) {
            const char *v;
            if (s_top_str(c, s, "trigger 'on_failure'", &v) < 0)
                return -1;
            if (strcmp(v, "keep") && strcmp(v, "retry"))
                return s_fail(c, s_line(s),
                              "trigger 'on_failure' must be \"keep\" (a failed "
                              "run's files stay consumed) or \"retry\" (they return to the pool)");
            tr->on_failure = strcmp(v, "keep") ? "retry" : "keep";
        } else {
            return s_fail(c, s_line(s),
                          "unknown key '%s' in trigger (known: watch, "
                          "min_new_rows, on_failure)",
                          k);
        }
    }
    if (!watch)
        return s_fail(c, s_line(g),
                      "trigger needs 'watch', the folder new labelled CSV files "
                      "arrive in, e.g. watch = \"data/feedback/\";");
    if (!(tr->watch = s_resolve_path(c, config_setting_get_string(watch), s_line(watch), "watch")))
        return -1;
    /* One spelling per folder: the coordinator keys consumed files by it. */
    size_t len = strlen(tr->watch);
    while (len > 1 && tr->watch[len - 1] == '/')
        tr->watch[--len] = '\0';
    return 0;
}

/* notify = { webhook; on; } (the coordinator checks webhook against its
 * allow-list at submit; here: the shape). */
static int s_notify(ctx_t *c, const config_setting_t *g, workflow_t *wf)
{
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, s_line(g),
                      "'notify' must be a group, e.g. notify = { webhook = "
                      "\"https://hooks.example.com/ml\"; on = [\"failed\"]; };");
    workflow_notify_t *nt = calloc(1, sizeof *nt);
    if (!nt)
        return s_oom(c);
    wf->notify = nt;
    const config_setting_t *hook = NULL, *on = NULL;
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        if (strcmp(k, "webhook") == 0)
            hook = s;
        else if (strcmp(k, "on") == 0)
            on = s;
        else
            return s_fail(c, s_line(s), "unknown key '%s' in notify (known: webhook, on)", k);
    }
    const char *v;
    if (!hook)
        return s_fail(c, s_line(g),
                      "notify needs 'webhook', e.g. webhook = "
                      "\"https://hooks.example.com/ml\";");
    if (s_top_str(c, hook, "notify 'webhook'", &v) < 0)
        return -1;
    if ((strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) || strlen(v) > 1023 ||
        strpbrk(v, " \t\r\n"))
        return s_fail(c, s_line(hook),
                      "notify 'webhook' must be an http:// or https:// URL of at "
                      "most 1023 bytes without spaces (got '%.100s')",
                      v);
    if (!(nt->webhook = strdup(v)))
        return s_oom(c);
    static const char *const defaults[] = {"failed", "rejected"};
    int m = on ? config_setting_length(on) : 2;
    if (on && ((config_setting_type(on) != CONFIG_TYPE_ARRAY &&
                config_setting_type(on) != CONFIG_TYPE_LIST) ||
               m < 1 || m > 16))
        return s_fail(c, s_line(on),
                      "notify 'on' must be a list of 1 to 16 kinds, e.g. on = "
                      "[\"failed\", \"awaiting_approval\"];");
    if (!(nt->on = calloc((size_t)m, sizeof *nt->on)))
        return s_oom(c);
    for (int j = 0; j < m; j++) {
        const char *k = on ? config_setting_get_string_elem(on, j) : defaults[j];
        int line = on ? s_line(config_setting_get_elem(on, (unsigned)j)) : s_line(g);
        if (!k || !conf_notify_kind_ok(k))
            return s_fail(c, line,
                          "notify 'on': unknown kind '%.40s' (known: " CONFIG_NOTIFY_KINDS_TEXT ")",
                          k ? k : "?");
        if (strcmp(k, "schedule_missed") == 0 && !wf->schedule)
            return s_fail(c, line,
                          "notify 'on': schedule_missed needs a 'schedule' (only a "
                          "schedule misses due times)");
        for (size_t x = 0; x < nt->non; x++)
            if (strcmp(nt->on[x], k) == 0)
                return s_fail(c, line, "notify 'on': '%s' is listed twice", k);
        if (!(nt->on[nt->non] = strdup(k)))
            return s_oom(c);
        nt->non++;
    }
    return 0;
}

static int s_build(ctx_t *c, config_t *cfg, workflow_t *wf)
{
    const config_setting_t *root = config_root_setting(cfg);
    const config_setting_t *steps = NULL, *sched = NULL, *trig = NULL, *notify = NULL;
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *k = config_setting_name(s);
        if (strcmp(k, "workflow") == 0) {
            const char *v = config_setting_get_string(s);
            if (!v)
                return s_fail(c, s_line(s), "'workflow' must be a string (the workflow's name)");
            if (!s_name_ok(v))
                return s_fail(c, s_line(s),
                              "workflow name '%.*s' is invalid (use " UTIL_NAME_RULE ")",
                              WF_NAME_MAX + 8, v, WF_NAME_MAX);
            if (!(wf->name = strdup(v)))
                return s_oom(c);
        } else if (strcmp(k, "steps") == 0) {
            steps = s;
        } else if (strcmp(k, "queue") == 0) {
            const char *v = config_setting_get_string(s);
            if (!v)
                return s_fail(c, s_line(s), "'queue' must be a string (the queue's name)");
            if (!s_name_ok(v) || strlen(v) > WF_QUEUE_MAX)
                return s_fail(c, s_line(s), "queue name '%.*s' is invalid (use " UTIL_NAME_RULE ")",
                              WF_QUEUE_MAX + 8, v, WF_QUEUE_MAX);
            if (!(wf->queue = strdup(v)))
                return s_oom(c);
        } else if (strcmp(k, "priority") == 0) {
            int t = config_setting_type(s);
            long long v = config_setting_get_int64(s);
            if ((t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) || v < WORKFLOW_MIN_PRIORITY ||
                v > WORKFLOW_MAX_PRIORITY)
                return s_fail(c, s_line(s),
                              "'priority' must be an integer between %d and %d "
                              "(higher runs first)",
                              WORKFLOW_MIN_PRIORITY, WORKFLOW_MAX_PRIORITY);
            wf->priority = (int)v;
        } else if (strcmp(k, "schedule") == 0) {
            sched = s;
        } else if (strcmp(k, "trigger") == 0) {
            trig = s;
        } else if (strcmp(k, "notify") == 0) {
            notify = s;
        } else if (strcmp(k, "params") == 0) {
            continue; /* s_params, before the steps */
        } else {
            return s_fail(c, s_line(s),
                          "unknown top-level key '%s' (known: workflow, steps, "
                          "queue, priority, schedule, trigger, notify, params)",
                          k);
        }
    }
    if (!wf->name)
        return s_fail(c, 1, "no 'workflow' name; start the file with workflow = \"my-name\";");
    if (!steps)
        return s_fail(c, 1, "no 'steps' list; add steps = ( { name = ...; kind = ...; } );");
    if (sched && trig)
        return s_fail(c, s_line(s_line(sched) > s_line(trig) ? sched : trig),
                      "give either 'schedule' or 'trigger', not both (a workflow runs on a "
                      "calendar or on new data)");
    if (!wf->queue && !(wf->queue = strdup("default")))
        return s_oom(c);
    if (sched && s_schedule(c, sched, wf) < 0)
        return -1;
    if (trig && s_trigger(c, trig, wf) < 0)
        return -1;
    if (notify && s_notify(c, notify, wf) < 0)
        return -1;
    return s_parse_steps(c, wf, steps);
}

/* ----------------------------------------------------- run parameters --- */

/* A parameter's value as text: the shortest decimal that reads back the
 * same double, so lr = 0.01 is "0.01", not "0.01000000000000000021". */
static char *s_param_text(const config_setting_t *s)
{
    char buf[64];
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING: return strdup(config_setting_get_string(s));
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(buf, sizeof buf, "%lld", config_setting_get_int64(s));
        return strdup(buf);
    case CONFIG_TYPE_FLOAT: {
        double d = config_setting_get_float(s);
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return strdup(buf);
    }
    case CONFIG_TYPE_BOOL: return strdup(config_setting_get_bool(s) ? "true" : "false");
    default: errno = EINVAL; return NULL;
    }
}

static int s_param_value_ok(ctx_t *c, int line, const char *name, const char *v)
{
    if (strlen(v) > PARAMS_VALUE_MAX)
        return s_fail(c, line, "parameter '%s': the value is longer than %d bytes", name,
                      PARAMS_VALUE_MAX);
    if (!util_utf8_valid(v))
        return s_fail(c, line, "parameter '%s': the value is not valid UTF-8", name);
    return 0;
}

/* params = { ... } and the --set values over it. */
static int s_params(ctx_t *c, config_t *cfg, workflow_t *wf, const char *const *sets, size_t nsets)
{
    config_setting_t *g = config_lookup(cfg, "params");
    int n = g ? config_setting_length(g) : 0;
    if (g && !config_setting_is_group(g))
        return s_fail(c, s_line(g),
                      "'params' must be a group, e.g. params = { lr = 0.01; data = "
                      "\"data/train.csv\"; };");
    if (n > PARAMS_MAX)
        return s_fail(c, s_line(g), "at most %d params (this workflow declares %d)", PARAMS_MAX, n);
    wf->param_names = calloc((size_t)n + 1, sizeof *wf->param_names);
    wf->param_values = calloc((size_t)n + 1, sizeof *wf->param_values);
    if (!wf->param_names || !wf->param_values)
        return s_oom(c);
    for (int i = 0; i < n; i++) {
        const config_setting_t *p = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(p);
        if (!params_name_ok(name))
            return s_fail(c, s_line(p),
                          "parameter name '%.80s' is invalid (letters, digits and "
                          "_, not starting with a digit; at most %d)",
                          name, PARAMS_NAME_MAX);
        char *v = s_param_text(p);
        if (!v)
            return errno == ENOMEM ? s_oom(c)
                                   : s_fail(c, s_line(p),
                                            "parameter '%s' must be a string, a "
                                            "number or a boolean",
                                            name);
        wf->param_values[wf->nparams] = v;
        if (!(wf->param_names[wf->nparams++] = strdup(name)))
            return s_oom(c);
        if (s_param_value_ok(c, s_line(p), name, v) < 0)
            return -1;
    }
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        size_t nl = eq ? (size_t)(eq - sets[i]) : strlen(sets[i]);
        size_t k = 0;
        while (k < wf->nparams &&
               (strlen(wf->param_names[k]) != nl || strncmp(wf->param_names[k], sets[i], nl) != 0))
            k++;
        if (!eq)
            return s_fail(c, 0, "--set %.80s: give NAME=VALUE", sets[i]);
        if (k == wf->nparams)
            return s_fail(c, 0,
                          "--set %.*s: the workflow declares no parameter '%.*s' (add it to "
                          "params = { ... };)",
                          (int)(nl > 80 ? 80 : nl), sets[i], (int)(nl > 80 ? 80 : nl), sets[i]);
        char *v = strdup(eq + 1);
        if (!v)
            return s_oom(c);
        free(wf->param_values[k]);
        wf->param_values[k] = v;
        if (s_param_value_ok(c, 0, wf->param_names[k], v) < 0)
            return -1;
    }
    return 0;
}

/* Checks (subst = 0) or substitutes in place (1) every string under s
 * that holds a reference; *nref counts them. */
static int s_refs(ctx_t *c, config_setting_t *s, const params_vars_t *v, int subst, int *nref)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        const char *t = config_setting_get_string(s);
        if (!params_has_ref(t))
            return 0;
        (*nref)++;
        char msg[400];
        if (!subst)
            return params_check(t, v, msg, sizeof msg) < 0 ? s_fail(c, s_line(s), "%s", msg) : 0;
        char *r = params_subst(t, v, msg, sizeof msg);
        if (!r)
            return errno == ENOMEM ? s_oom(c) : s_fail(c, s_line(s), "%s", msg);
        int ok = config_setting_set_string(s, r);
        free(r);
        return ok ? 0 : s_oom(c);
    }
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++)
        if (s_refs(c, config_setting_get_elem(s, (unsigned)i), v, subst, nref) < 0)
            return -1;
    return 0;
}

static int s_read(ctx_t *c, config_t *cfg)
{
    if (config_read_string(cfg, wfsource_text(c->src)))
        return 0;
    /* libconfig reports a failed allocation as a parse error; its text
     * is the best we have either way. */
    return s_fail(c, config_error_line(cfg), "%s", config_error_text(cfg));
}

static workflow_t *s_parse(const char *text, const char *path, const char *const *sets,
                           size_t nsets, char *err, size_t errlen)
{
    ctx_t c = {.path = path ? path : "<string>", .err = err, .errlen = errlen};
    config_t cfg;
    workflow_t *wf = NULL, *check = NULL;
    int e = 0;
    if (err && errlen > 0)
        err[0] = '\0';
    if (!text) {
        s_fail(&c, 0, "no text");
        return NULL;
    }
    config_init(&cfg);
    /* @include is expanded by wfsource, not by libconfig (1.5 resolves it
     * against one fixed folder and forgets which file a line came from). */
    if (!(c.src = wfsource_expand(text, c.path, (size_t)WF_MAX_FILE, err, errlen))) {
        e = errno;
        goto out;
    }
    if (s_read(&c, &cfg) < 0)
        goto fail;
    wf = calloc(1, sizeof *wf);
    if (!wf || !(wf->path = strdup(c.path))) {
        s_oom(&c);
        goto fail;
    }
    if (s_params(&c, &cfg, wf, sets, nsets) < 0)
        goto fail;
    /* The references, with stand-ins for what only a run knows. */
    const char *standin_file = "/trigger/new.csv";
    params_vars_t v = {
        .names = (const char *const *)wf->param_names,
        .values = (const char *const *)wf->param_values,
        .n = wf->nparams,
        .run_id = 1,
        .due_at = config_lookup(&cfg, "schedule") ? "2000-01-01T00:00:00Z" : NULL,
        .files = config_lookup(&cfg, "trigger") ? &standin_file : NULL,
        .nfiles = 1,
        .rows = 1,
    };
    config_setting_t *steps = config_lookup(&cfg, "steps");
    int nref = 0;
    if (steps && s_refs(&c, steps, &v, 0, &nref) < 0)
        goto fail;
    if (nref) {
        /* Every rule of the loader, with its file:line, on the values. */
        if (s_refs(&c, steps, &v, 1, &nref) < 0)
            goto fail;
        if (!(check = calloc(1, sizeof *check)) || !(check->path = strdup(c.path))) {
            s_oom(&c);
            goto fail;
        }
        if (s_build(&c, &cfg, check) < 0)
            goto fail;
        config_destroy(&cfg);
        config_init(&cfg);
        if (s_read(&c, &cfg) < 0)
            goto fail;
        c.tmpl = 1;
        c.has_sweep = 0;
    }
    if (s_build(&c, &cfg, wf) < 0) {
        /* The values passed: a reference sits where the loader takes no text it cannot read now. */
        if (c.tmpl && errno == EINVAL && err && strlen(err) + 80 < errlen)
            strcat(err, " (this setting cannot hold a ${...} reference)");
        goto fail;
    }
    const char *dir = wfsource_basedir(c.src, 0);
    if (!dir || !(wf->base_dir = strdup(dir))) {
        if (dir || errno == ENOMEM)
            s_oom(&c);
        else
            s_fail(&c, 0, "cannot resolve the directory of the workflow file: %s", strerror(errno));
        goto fail;
    }
    goto out;
fail:
    e = errno ? errno : EINVAL;
out:
    workflow_destroy(&check);
    config_destroy(&cfg);
    wfsource_destroy(&c.src);
    if (e) {
        workflow_destroy(&wf);
        errno = e;
        return NULL;
    }
    return wf;
}

workflow_t *workflow_parse(const char *text, const char *path, char *err, size_t errlen)
{
    return s_parse(text, path, NULL, 0, err, errlen);
}

workflow_t *workflow_load(const char *path, char *err, size_t errlen)
{
    return workflow_load_params(path, NULL, 0, err, errlen);
}

workflow_t *workflow_load_params(const char *path, const char *const *sets, size_t nsets, char *err,
                                 size_t errlen)
{
    ctx_t c = {.path = path ? path : "<null>", .err = err, .errlen = errlen};
    char *buf = NULL;
    size_t len = 0;
    int e;
    if (!path) {
        s_fail(&c, 0, "no file given");
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        goto io;
    struct stat st;
    if (fstat(fileno(f), &st) < 0)
        goto io;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto io;
    }
    buf = util_read_stream(f, (size_t)WF_MAX_FILE, &len);
    if (!buf) {
        e = errno;
        fclose(f);
        if (e == EFBIG)
            s_fail(&c, 0, "file too large (at most %ld MiB)", WF_MAX_FILE / (1024 * 1024));
        else if (e == EILSEQ)
            s_fail(&c, 0, "not a text file (it contains NUL bytes)");
        else {
            errno = e;
            f = NULL;
            goto io;
        }
        errno = EINVAL;
        return NULL;
    }
    fclose(f);
    f = NULL;
    workflow_t *wf = s_parse(buf, path, sets, nsets, err, errlen);
    e = errno;
    free(buf);
    errno = e;
    return wf;
io:
    e = errno;
    if (f)
        fclose(f);
    free(buf);
    if (err && errlen > 0)
        snprintf(err, errlen, "%s: cannot read the workflow file: %s", path, strerror(e));
    errno = e;
    return NULL;
}

void workflow_destroy(workflow_t **wfp)
{
    if (!wfp || !*wfp)
        return;
    workflow_t *wf = *wfp;
    for (size_t i = 0; i < wf->nsteps; i++) {
        workflow_step_t *st = &wf->steps[i];
        free(st->name);
        free(st->kind);
        for (size_t j = 0; j < st->nafter; j++)
            free(st->after[j]);
        free(st->after);
        free(st->spec_json);
        for (size_t j = 0; j < st->resources.nlabels; j++)
            free(st->resources.labels[j]);
        free(st->resources.labels);
        free(st->sweep);
        free(st->matrix_json);
    }
    free(wf->steps);
    free(wf->queue);
    if (wf->schedule) {
        free(wf->schedule->cron);
        free(wf->schedule->timezone);
        free(wf->schedule->catchup);
        free(wf->schedule);
    }
    if (wf->notify) {
        for (size_t i = 0; i < wf->notify->non; i++)
            free(wf->notify->on[i]);
        free(wf->notify->on);
        free(wf->notify->webhook);
        free(wf->notify);
    }
    if (wf->trigger) {
        free(wf->trigger->watch);
        free(wf->trigger);
    }
    for (size_t i = 0; i < wf->nparams; i++) {
        free(wf->param_names[i]);
        free(wf->param_values[i]);
    }
    free(wf->param_names);
    free(wf->param_values);
    free(wf->base_dir);
    free(wf->name);
    free(wf->path);
    free(wf);
    *wfp = NULL;
}

int workflow_parse_size(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') {
        errno = EINVAL;
        return -1;
    }
    /* Integer and fraction separately: strtod would take " 5", "1e3", "inf". */
    const char *p = s;
    uint64_t whole = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (UINT64_MAX - 9) / 10) {
            errno = ERANGE;
            return -1;
        }
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') {
            errno = EINVAL;
            return -1;
        }
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    int shift = 0;
    switch (*p) {
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    case 't':
    case 'T': shift = 40; break;
    default: break;
    }
    if (shift)
        p++;
    /* "4G", "4GB", "4GiB"; a bare "B" means bytes. */
    if (shift && (p[0] == 'i' || p[0] == 'I') && (p[1] == 'B' || p[1] == 'b'))
        p += 2;
    else if (*p == 'B' || *p == 'b')
        p++;
    if (*p) {
        errno = EINVAL;
        return -1;
    }
    if (whole > (UINT64_C(1) << (63 - shift))) {
        errno = ERANGE;
        return -1;
    }
    *out = (whole << shift) + (uint64_t)(frac * (double)(UINT64_C(1) << shift));
    return 0;
}
