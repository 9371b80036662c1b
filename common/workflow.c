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
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dag.h"
#include "util.h"

#define WF_NAME_MAX 128
#define WF_MAX_RETRIES 100
#define WF_DEFAULT_RETRY_DELAY_MS 1000
#define WF_MAX_DURATION_MS (365LL * 24 * 3600 * 1000) /* a year: a typo guard */
#define WF_MAX_FILE (64L * 1024 * 1024)

static const char *const s_kinds[] = {"exec", NULL};

/* Env names the worker sets itself; a step may not override them. */
static const char *const s_reserved_env[] = {"DROVER_RUN_ID", "DROVER_STEP", "DROVER_TASK_ID",
                                             "DROVER_ATTEMPT", NULL};

#define STEP_KEYS "name, kind, after, retries, retry_delay, timeout, argv, command, env, cwd"
static const char *const s_step_keys[] = {"name",    "kind",    "after", "retries", "retry_delay",
                                          "timeout", "argv",    "command", "env",   "cwd",
                                          NULL};

typedef struct {
    const char *path;   /* for messages */
    char *err;
    size_t errlen;
    char *basedir;      /* realpath of the file's directory, resolved on first use */
} ctx_t;

static int s_fail(ctx_t *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int s_fail(ctx_t *c, int line, const char *fmt, ...)
{
    if (c->err && c->errlen > 0) {
        int n = line > 0 ? snprintf(c->err, c->errlen, "%s:%d: ", c->path, line)
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
    if (!kind)
        return 0;
    for (size_t i = 0; s_kinds[i]; i++)
        if (strcmp(kind, s_kinds[i]) == 0)
            return 1;
    return 0;
}

/* Workflow and step names: [A-Za-z0-9_.-]{1,128}. They end up in file
 * names (logs, artifacts) and on command lines, hence the narrow set. */
static int s_name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return n > 0 && n <= WF_NAME_MAX;
}

static int s_env_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* jansson refuses strings that are not UTF-8; checking first lets us tell
 * the user which setting is wrong instead of failing as out of memory. */
static int s_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int len;
        unsigned cp;
        if ((*p & 0xE0) == 0xC0) {
            len = 2;
            cp = *p & 0x1F;
        } else if ((*p & 0xF0) == 0xE0) {
            len = 3;
            cp = *p & 0x0F;
        } else if ((*p & 0xF8) == 0xF0) {
            len = 4;
            cp = *p & 0x07;
        } else
            return 0;
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += len;
    }
    return 1;
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
    default:
        goto bad;
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

/* The absolute, symlink-free directory of the workflow file. */
static const char *s_basedir(ctx_t *c, int line)
{
    if (c->basedir)
        return c->basedir;
    char *copy = strdup(c->path);
    if (!copy) {
        s_oom(c);
        return NULL;
    }
    c->basedir = realpath(dirname(copy), NULL);
    int e = errno;
    free(copy);
    if (!c->basedir) {
        if (e == ENOMEM)
            s_oom(c);
        else
            s_fail(c, line, "cannot resolve the directory of the workflow file for 'cwd': %s",
                   strerror(e));
        return NULL;
    }
    return c->basedir;
}

/* Returns a new string: cwd made absolute against the file's directory. */
static char *s_resolve_cwd(ctx_t *c, const char *cwd, int line)
{
    if (cwd[0] == '/') {
        char *r = strdup(cwd);
        if (!r)
            s_oom(c);
        return r;
    }
    const char *dir = s_basedir(c, line);
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
static int s_exec_spec(ctx_t *c, workflow_step_t *st, const config_setting_t *argv, const config_setting_t *command,
                       const config_setting_t *env, const config_setting_t *cwd)
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
        s_fail(c, st->line, "step '%s': an exec step needs 'argv' (a list of strings) or "
               "'command' (a shell command line)", step);
        goto out;
    }
    root = json_object();
    jargv = json_array();
    if (!root || !jargv) {
        s_oom(c);
        goto out;
    }
    if (command) {
        const char *cmd = config_setting_get_string(command);
        if (config_setting_type(command) != CONFIG_TYPE_STRING) {
            s_fail(c, s_line(command), "step '%s': 'command' must be a string", step);
            goto out;
        }
        if (!*cmd) {
            s_fail(c, s_line(command), "step '%s': 'command' must not be empty", step);
            goto out;
        }
        if (!s_utf8_ok(cmd)) {
            s_fail(c, s_line(command), "step '%s': 'command' is not valid UTF-8", step);
            goto out;
        }
        if (s_jappend_str(c, jargv, "/bin/sh") < 0 || s_jappend_str(c, jargv, "-c") < 0 ||
            s_jappend_str(c, jargv, cmd) < 0)
            goto out;
    } else {
        int t = config_setting_type(argv);
        int n = (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ? config_setting_length(argv) : 0;
        if (n == 0) {
            s_fail(c, s_line(argv), "step '%s': 'argv' must be a non-empty array of strings, "
                   "e.g. argv = [\"python3\", \"train.py\"]", step);
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
            if (!s_utf8_ok(v)) {
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
            s_fail(c, s_line(env), "step '%s': 'env' must be a group, e.g. env = { EPOCHS = \"3\"; }",
                   step);
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
                s_fail(c, s_line(e), "step '%s': '%s' is not a valid environment variable name "
                       "(letters, digits and '_', not starting with a digit)", step, k);
                goto out;
            }
            for (size_t r = 0; s_reserved_env[r]; r++)
                if (strcmp(k, s_reserved_env[r]) == 0) {
                    s_fail(c, s_line(e), "step '%s': env '%s' is set by drover and cannot be "
                           "overridden", step, k);
                    goto out;
                }
            if (!v) {
                s_fail(c, s_line(e), "step '%s': env '%s' must be a string (quote it: %s = \"...\")",
                       step, k, k);
                goto out;
            }
            if (!s_utf8_ok(v)) {
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
        const char *v = config_setting_get_string(cwd);
        if (config_setting_type(cwd) != CONFIG_TYPE_STRING) {
            s_fail(c, s_line(cwd), "step '%s': 'cwd' must be a string", step);
            goto out;
        }
        if (!*v) {
            s_fail(c, s_line(cwd), "step '%s': 'cwd' must not be empty", step);
            goto out;
        }
        if (!s_utf8_ok(v)) {
            s_fail(c, s_line(cwd), "step '%s': 'cwd' is not valid UTF-8", step);
            goto out;
        }
        if (!(abs = s_resolve_cwd(c, v, s_line(cwd))))
            goto out;
        if (s_jset(c, root, "cwd", json_string(abs)) < 0)
            goto out;
    }

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

static int s_known_key(const char *k)
{
    for (size_t i = 0; s_step_keys[i]; i++)
        if (strcmp(k, s_step_keys[i]) == 0)
            return 1;
    return 0;
}

/* Parses one element of steps into st; *name_line gets the line of its
 * name (for duplicate-name messages). */
static int s_parse_step(ctx_t *c, const config_setting_t *g, size_t idx, workflow_step_t *st,
                        int *name_line)
{
    st->line = s_line(g);
    st->retry_delay_ms = WF_DEFAULT_RETRY_DELAY_MS;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return s_fail(c, st->line, "step %zu must be a group: { name = \"...\"; kind = \"exec\"; ... }",
                      idx + 1);

    /* Name and kind first: every later message names the step, and which
     * keys are valid depends on the kind. */
    const config_setting_t *s = config_setting_get_member(g, "name");
    if (!s)
        return s_fail(c, st->line, "step at line %d has no 'name'", st->line);
    *name_line = s_line(s);
    const char *name = config_setting_get_string(s);
    if (!name)
        return s_fail(c, s_line(s), "step at line %d: 'name' must be a string", st->line);
    if (!s_name_ok(name))
        return s_fail(c, s_line(s), "step name '%.*s' is invalid (use 1 to %d letters, digits, "
                      "'_', '.' or '-')", WF_NAME_MAX + 8, name, WF_NAME_MAX);
    if (!(st->name = strdup(name)))
        return s_oom(c);

    s = config_setting_get_member(g, "kind");
    if (!s)
        return s_fail(c, st->line, "step '%s' has no 'kind' (known: exec)", name);
    const char *kind = config_setting_get_string(s);
    if (!kind)
        return s_fail(c, s_line(s), "step '%s': 'kind' must be a string", name);
    if (!workflow_kind_known(kind))
        return s_fail(c, s_line(s), "step '%s': unknown kind '%.64s' (known: exec)", name, kind);
    if (!(st->kind = strdup(kind)))
        return s_oom(c);

    const config_setting_t *argv = NULL, *command = NULL, *env = NULL, *cwd = NULL;
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        s = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(s);
        int line = s_line(s);
        if (!s_known_key(k))
            return s_fail(c, line, "step '%s': unknown key '%s' (known: " STEP_KEYS ")", name, k);
        if (strcmp(k, "after") == 0) {
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                return s_fail(c, line, "step '%s': 'after' must be an array of step names, "
                              "e.g. after = [\"prepare\"]", name);
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
        } else if (strcmp(k, "argv") == 0) {
            argv = s;
        } else if (strcmp(k, "command") == 0) {
            command = s;
        } else if (strcmp(k, "env") == 0) {
            env = s;
        } else if (strcmp(k, "cwd") == 0) {
            cwd = s;
        }
    }
    /* Only exec exists today; new kinds get their own spec builder here. */
    return s_exec_spec(c, st, argv, command, env, cwd);
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
        if (strcmp(wf->steps[j].name, wf->steps[bad].name) == 0)
            return s_fail(c, name_lines[bad], "duplicate step name '%s' (first defined at line %d)",
                          wf->steps[bad].name, name_lines[j]);
    return s_fail(c, bad < wf->nsteps ? wf->steps[bad].line : 0, "%s", msg);
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
    wf->steps = calloc((size_t)n, sizeof *wf->steps);
    int *name_lines = calloc((size_t)n, sizeof *name_lines);
    if (!wf->steps || !name_lines) {
        free(name_lines);
        return s_oom(c);
    }
    wf->nsteps = (size_t)n;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = s_parse_step(c, config_setting_get_elem(steps, (unsigned)i), (size_t)i,
                          &wf->steps[i], &name_lines[i]);
    if (rc == 0)
        rc = s_check_graph(c, wf, name_lines);
    free(name_lines);
    return rc;
}

static int s_build(ctx_t *c, config_t *cfg, workflow_t *wf)
{
    const config_setting_t *root = config_root_setting(cfg);
    const config_setting_t *steps = NULL;
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *k = config_setting_name(s);
        if (strcmp(k, "workflow") == 0) {
            const char *v = config_setting_get_string(s);
            if (!v)
                return s_fail(c, s_line(s), "'workflow' must be a string (the workflow's name)");
            if (!s_name_ok(v))
                return s_fail(c, s_line(s), "workflow name '%.*s' is invalid (use 1 to %d letters, "
                              "digits, '_', '.' or '-')", WF_NAME_MAX + 8, v, WF_NAME_MAX);
            if (!(wf->name = strdup(v)))
                return s_oom(c);
        } else if (strcmp(k, "steps") == 0) {
            steps = s;
        } else {
            return s_fail(c, s_line(s), "unknown top-level key '%s' (known: workflow, steps)", k);
        }
    }
    if (!wf->name)
        return s_fail(c, 1, "no 'workflow' name; start the file with workflow = \"my-name\";");
    if (!steps)
        return s_fail(c, 1, "no 'steps' list; add steps = ( { name = ...; kind = ...; } );");
    return s_parse_steps(c, wf, steps);
}

workflow_t *workflow_parse(const char *text, const char *path, char *err, size_t errlen)
{
    ctx_t c = {.path = path ? path : "<string>", .err = err, .errlen = errlen};
    config_t cfg;
    workflow_t *wf = NULL;
    int e = 0;
    if (err && errlen > 0)
        err[0] = '\0';
    if (!text) {
        s_fail(&c, 0, "no text");
        return NULL;
    }
    config_init(&cfg);
    if (!config_read_string(&cfg, text)) {
        /* libconfig reports a failed allocation as a parse error; its text
         * is the best we have either way. */
        s_fail(&c, config_error_line(&cfg), "%s", config_error_text(&cfg));
        e = EINVAL;
        goto out;
    }
    wf = calloc(1, sizeof *wf);
    if (!wf || !(wf->path = strdup(c.path))) {
        s_oom(&c);
        e = ENOMEM;
        goto out;
    }
    if (s_build(&c, &cfg, wf) < 0) {
        e = errno;
        goto out;
    }
out:
    config_destroy(&cfg);
    free(c.basedir);
    if (e) {
        workflow_destroy(&wf);
        errno = e;
        return NULL;
    }
    return wf;
}

workflow_t *workflow_load(const char *path, char *err, size_t errlen)
{
    ctx_t c = {.path = path ? path : "<null>", .err = err, .errlen = errlen};
    char *buf = NULL;
    size_t len = 0, cap = 0;
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
    for (;;) {
        if (cap - len < 4096) {
            if (cap >= (size_t)WF_MAX_FILE) {
                fclose(f);
                free(buf);
                s_fail(&c, 0, "file too large (at most %ld MiB)", WF_MAX_FILE / (1024 * 1024));
                return NULL;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                errno = ENOMEM;
                goto io;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                errno = errno ? errno : EIO;
                goto io;
            }
            break;
        }
    }
    fclose(f);
    f = NULL;
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        s_fail(&c, 0, "not a text file (it contains NUL bytes)");
        return NULL;
    }
    workflow_t *wf = workflow_parse(buf, path, err, errlen);
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
    }
    free(wf->steps);
    free(wf->name);
    free(wf->path);
    free(wf);
    *wfp = NULL;
}
