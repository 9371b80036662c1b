/* params — see params.h. One scanner (s_scan) walks a template once; it
 * either only checks the references or also appends what they stand for,
 * so the check and the substitution cannot disagree. */
#include "params.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytebuf.h"
#include "stepkind.h"

#define TRIGGER_FILES "${trigger.files}"

int params_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > PARAMS_NAME_MAX)
        return 0;
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (const char *p = s + 1; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return 1;
}

/* Length of the name of a reference starting at d ("${NS.": a word, then
 * a dot), or 0 when d does not start one: shell variables have no dot, so
 * "${HOME}" and "${X:-2}" are left to the shell. */
static size_t s_ref_start(const char *d)
{
    if (d[0] != '$' || d[1] != '{')
        return 0;
    const char *q = d + 2;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
           *q == '_')
        q++;
    return q > d + 2 && *q == '.' ? (size_t)(q - d) : 0;
}

int params_has_ref(const char *s)
{
    for (const char *p = s ? strchr(s, '$') : NULL; p; p = strchr(p + 1, '$'))
        if ((p[1] == '$' && p[2] == '{') || s_ref_start(p))
            return 1;
    return 0;
}

int params_uses(const char *s, const char *ref)
{
    size_t n = strlen(ref);
    for (const char *p = s ? strstr(s, "${") : NULL; p; p = strstr(p + 2, "${"))
        if (strncmp(p + 2, ref, n) == 0 && p[2 + n] == '}')
            return 1;
    return 0;
}

/* One line of human text into err; -1 with errno EINVAL. */
static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return errno = EINVAL, -1;
}

static int s_put(bytebuf_t *out, const char *s, size_t n)
{
    if (!out)
        return 0;
    if (out->len + n > PARAMS_SPEC_MAX)
        return errno = E2BIG, -1;
    bytebuf_put(out, s, n);
    return out->oom ? (errno = ENOMEM, -1) : 0;
}

/* The value of one reference (name between "${" and "}", n bytes) appended
 * to out (NULL: only checked). */
static int s_ref(const char *name, size_t n, const params_vars_t *v, bytebuf_t *out, char *err,
                 size_t errlen)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(name, lit, n) == 0)
    char num[32];
    if (n > 7 && memcmp(name, "params.", 7) == 0) {
        for (size_t i = 0; i < v->n; i++)
            if (strlen(v->names[i]) == n - 7 && memcmp(v->names[i], name + 7, n - 7) == 0)
                return s_put(out, v->values[i], strlen(v->values[i]));
        return s_fail(err, errlen,
                      "unknown parameter '%.*s' in ${%.*s} (declare it in "
                      "params = { ... }; at the top of the workflow)",
                      (int)(n - 7 > 80 ? 80 : n - 7), name + 7, (int)(n > 90 ? 90 : n), name);
    }
    if (IS("run.id")) {
        snprintf(num, sizeof num, "%" PRId64, v->run_id);
        return s_put(out, num, strlen(num));
    }
    if (IS("run.due_at")) {
        if (!v->due_at)
            return s_fail(err, errlen, "${run.due_at} is known only in a workflow with a schedule");
        return s_put(out, v->due_at, strlen(v->due_at));
    }
    if (IS("trigger.files") || IS("trigger.rows")) {
        if (!v->files)
            return s_fail(err, errlen, "${%.*s} is known only in a workflow with a trigger", (int)n,
                          name);
        if (IS("trigger.rows")) {
            snprintf(num, sizeof num, "%" PRId64, v->rows);
            return s_put(out, num, strlen(num));
        }
        for (size_t i = 0; i < v->nfiles; i++)
            if ((i && s_put(out, " ", 1) < 0) || s_put(out, v->files[i], strlen(v->files[i])) < 0)
                return -1;
        return 0;
    }
#undef IS
    return s_fail(err, errlen,
                  "unknown reference ${%.*s} (known: ${params.NAME}, ${run.id}, "
                  "${run.due_at}, ${trigger.files}, ${trigger.rows}; write $${ for a literal ${)",
                  (int)(n > 90 ? 90 : n), name);
}

static int s_scan(const char *s, const params_vars_t *v, bytebuf_t *out, char *err, size_t errlen)
{
    const char *p = s;
    while (*p) {
        const char *d = strchr(p, '$');
        if (!d)
            return s_put(out, p, strlen(p));
        if (s_put(out, p, (size_t)(d - p)) < 0)
            return -1;
        if (d[1] == '$' && d[2] == '{') {
            if (s_put(out, "${", 2) < 0)
                return -1;
            p = d + 3;
        } else if (s_ref_start(d)) {
            const char *end = strchr(d + 2, '}');
            if (!end)
                return s_fail(err, errlen,
                              "'${' without its closing '}' (write $${ for a "
                              "literal ${)");
            if (s_ref(d + 2, (size_t)(end - d - 2), v, out, err, errlen) < 0)
                return -1;
            p = end + 1;
        } else {
            if (s_put(out, "$", 1) < 0)
                return -1;
            p = d + 1;
        }
    }
    return 0;
}

int params_check(const char *s, const params_vars_t *vars, char *err, size_t errlen)
{
    return s_scan(s ? s : "", vars, NULL, err, errlen);
}

char *params_subst(const char *s, const params_vars_t *vars, char *err, size_t errlen)
{
    bytebuf_t b = {0};
    int rc = s_scan(s ? s : "", vars, &b, err, errlen);
    if (rc == 0)
        bytebuf_put(&b, "", 1);
    if (rc < 0 || b.oom) {
        if (rc == 0)
            errno = ENOMEM;
        int e = errno;
        if (e == E2BIG)
            s_fail(err, errlen, "a substituted value is longer than %u bytes", PARAMS_SPEC_MAX);
        else if (e != EINVAL)
            snprintf(err, errlen, "out of memory");
        free(b.p);
        errno = e == E2BIG ? EINVAL : e;
        return NULL;
    }
    return (char *)b.p;
}

/* One string of a spec substituted in place; *total bounds the whole spec. */
static int s_string(json_t *x, const params_vars_t *v, size_t *total, char *err, size_t errlen)
{
    char *r = params_subst(json_string_value(x), v, err, errlen);
    if (!r)
        return -1;
    *total += strlen(r);
    int rc =
        *total > PARAMS_SPEC_MAX
            ? s_fail(err, errlen, "the substituted spec is longer than %u bytes", PARAMS_SPEC_MAX)
        : json_string_set(x, r) < 0 ? (errno = ENOMEM, -1)
                                    : 0;
    free(r);
    return rc;
}

/* Substitutes every string under j in place (argv: lists expand). */
static int s_walk(json_t *j, const char *key, const params_vars_t *v, size_t *total, char *err,
                  size_t errlen)
{
    if (json_is_object(j)) {
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x)
        {
            if (json_is_string(x) ? s_string(x, v, total, err, errlen) < 0
                                  : s_walk(x, k, v, total, err, errlen) < 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_array(j))
        return 0;
    int argv = key && strcmp(key, "argv") == 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *x = json_array_get(j, i);
        if (!json_is_string(x)) {
            if (s_walk(x, NULL, v, total, err, errlen) < 0)
                return -1;
            continue;
        }
        if (argv && v->files && strcmp(json_string_value(x), TRIGGER_FILES) == 0) {
            /* The list form: one argument per file, no splitting of names. */
            if (json_array_remove(j, i) < 0)
                return errno = ENOMEM, -1;
            for (size_t f = 0; f < v->nfiles; f++) {
                if (json_array_insert_new(j, i + f, json_string(v->files[f])) < 0)
                    return errno = ENOMEM, -1;
                if ((*total += strlen(v->files[f])) > PARAMS_SPEC_MAX)
                    return s_fail(err, errlen, "the substituted spec is longer than %u bytes",
                                  PARAMS_SPEC_MAX);
            }
            i += v->nfiles;
            i--;
            continue;
        }
        if (s_string(x, v, total, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int params_apply(const char *kind, const char *step, const char *spec_json,
                 const params_vars_t *vars, const char *base_dir, char **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    json_error_t je;
    json_t *spec = json_loads(spec_json ? spec_json : "", 0, &je);
    if (!spec || !json_is_object(spec)) {
        json_decref(spec);
        return s_fail(err, errlen, "step '%s': spec_json is not a JSON object", step);
    }
    /* Which top-level string keys held references: their relative results
     * are joined to base_dir below (the loader's rule for written paths). */
    const stepkind_t *k = stepkind_find(kind);
    const char *rel[16];
    size_t nrel = 0;
    const char *key;
    json_t *x;
    json_object_foreach(spec, key, x)
    {
        const stepkind_key_t *kk = k ? stepkind_key(k, key) : NULL;
        if (kk && kk->type == STEPKIND_PATH && json_is_string(x) &&
            params_has_ref(json_string_value(x)) && nrel < sizeof rel / sizeof *rel)
            rel[nrel++] = key;
    }
    char msg[400];
    int rc = -1;
    size_t total = 0;
    if (s_walk(spec, NULL, vars, &total, msg, sizeof msg) < 0) {
        if (errno == EINVAL)
            s_fail(err, errlen, "step '%s': %s", step, msg);
        goto out;
    }
    for (size_t i = 0; base_dir && *base_dir && i < nrel; i++) {
        json_t *s = json_object_get(spec, rel[i]);
        const char *p = json_string_value(s);
        if (!p || p[0] == '/' || !*p)
            continue;
        char *abs = NULL;
        if (asprintf(&abs, "%s/%s", base_dir, p) < 0)
            goto out;
        int e = json_string_set(s, abs);
        free(abs);
        if (e < 0)
            goto out;
    }
    if (!(*out = json_dumps(spec, JSON_COMPACT)))
        goto out;
    if (strlen(*out) > PARAMS_SPEC_MAX) {
        free(*out);
        *out = NULL;
        s_fail(err, errlen, "step '%s': the substituted spec is longer than %u bytes", step,
               PARAMS_SPEC_MAX);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0 && errno != EINVAL) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
    }
    json_decref(spec);
    return rc;
}
