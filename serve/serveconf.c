/* serveconf — see serveconf.h. One table of keys, so an unknown key or a
 * wrong type is refused with its line before anything starts. */
#include "serveconf.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "util.h"

typedef enum { K_STR, K_PATH, K_BOOL, K_COUNT, K_DURATION, K_MODELS } kind_t;

typedef struct {
    const char *name;
    kind_t kind;
    size_t off;  /* into serveconf_t */
    size_t size; /* of a string field */
    long long max;
} key_t_;

#define S(f) offsetof(serveconf_t, f), sizeof(((serveconf_t *)0)->f)
#define N(f) offsetof(serveconf_t, f), 0
static const key_t_ s_keys[] = {
    {"listen", K_STR, S(listen), 0},
    {"models", K_MODELS, N(models), 0},
    {"coordinator", K_STR, S(coordinator), 0},
    {"secret_key", K_PATH, S(secret_key), 0},
    {"coordinator_key", K_PATH, S(coordinator_key), 0},
    {"insecure", K_BOOL, N(insecure), 0},
    {"artifact_dir", K_PATH, S(artifact_dir), 0},
    {"tokens", K_PATH, S(tokens), 0},
    {"log_dir", K_PATH, S(log_dir), 0},
    {"feedback_dir", K_PATH, S(feedback_dir), 0},
    {"poll_interval", K_DURATION, N(poll_ms), 3600000},
    {"threads", K_COUNT, N(threads), 64},
    {"max_body", K_COUNT, N(max_body), 256LL << 20},
    {"max_batch", K_COUNT, N(max_batch), 100000},
    {"log_buffer", K_COUNT, N(log_buffer), 1LL << 30},
    {"log_flush", K_DURATION, N(log_flush_ms), 10000},
    {"log_segment", K_COUNT, N(log_segment), 1LL << 40},
    {"feedback_rows", K_COUNT, N(feedback_rows), 1000000},
    {"feedback_flush", K_DURATION, N(feedback_flush_ms), 86400000},
};

static void s_defaults(serveconf_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8480");
    snprintf(c->coordinator, sizeof c->coordinator, "tcp://127.0.0.1:7460");
    c->poll_ms = 1000;
    c->threads = 2;
    c->max_body = 1u << 20;
    c->max_batch = 1000;
    c->log_buffer = 8u << 20;
    c->log_flush_ms = 5;
    c->log_segment = 64u << 20;
    c->feedback_rows = 100;
    c->feedback_flush_ms = 10000;
}

static int s_fail(char *err, size_t errlen, const char *file, const config_setting_t *s,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int s_fail(char *err, size_t errlen, const char *file, const config_setting_t *s,
                  const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    util_errf(err, errlen, "%s:%d: %s", file, s ? config_setting_source_line(s) : 0, what);
    errno = EINVAL;
    return -1;
}

/* A path relative to the config file's folder made absolute. */
static int s_path(char *dst, size_t len, const char *file, const char *v)
{
    const char *slash = strrchr(file, '/');
    if (v[0] == '/' || !slash)
        return util_strlcpy(dst, v, len);
    int n = snprintf(dst, len, "%.*s/%s", (int)(slash - file), file, v);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int s_key(serveconf_t *c, const key_t_ *k, config_setting_t *s, const char *file, char *err,
                 size_t errlen)
{
    char *base = (char *)c;
    int type = config_setting_type(s);
    switch (k->kind) {
    case K_STR:
    case K_PATH: {
        const char *v = config_setting_get_string(s);
        if (!v || !*v)
            return s_fail(err, errlen, file, s, "%s must be a non-empty string", k->name);
        int rc = k->kind == K_STR ? util_strlcpy(base + k->off, v, k->size)
                                  : s_path(base + k->off, k->size, file, v);
        if (rc < 0)
            return s_fail(err, errlen, file, s, "%s is too long", k->name);
        return 0;
    }
    case K_BOOL:
        if (type != CONFIG_TYPE_BOOL)
            return s_fail(err, errlen, file, s, "%s must be true or false", k->name);
        *(int *)(base + k->off) = config_setting_get_bool(s);
        return 0;
    case K_COUNT: {
        long long v;
        if (type == CONFIG_TYPE_INT)
            v = config_setting_get_int(s);
        else if (type == CONFIG_TYPE_INT64)
            v = config_setting_get_int64(s);
        else
            return s_fail(err, errlen, file, s, "%s must be an integer", k->name);
        if (v < 1 || v > k->max) {
            return s_fail(err, errlen, file, s, "%s must be between 1 and %lld", k->name, k->max);
        }
        if (!strcmp(k->name, "threads"))
            *(unsigned *)(base + k->off) = (unsigned)v;
        else
            *(size_t *)(base + k->off) = (size_t)v;
        return 0;
    }
    case K_DURATION: {
        int64_t ms;
        if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
            ms = (int64_t)config_setting_get_int64(s) * 1000;
        else if (type == CONFIG_TYPE_FLOAT)
            ms = (int64_t)(config_setting_get_float(s) * 1000.0);
        else if (type != CONFIG_TYPE_STRING ||
                 util_parse_duration_ms(config_setting_get_string(s), &ms) < 0)
            return s_fail(err, errlen, file, s, "%s must be a duration (\"5ms\", \"1s\", 2)",
                          k->name);
        if (ms < 1 || ms > k->max)
            return s_fail(err, errlen, file, s, "%s is out of range", k->name);
        *(int64_t *)(base + k->off) = ms;
        return 0;
    }
    case K_MODELS: {
        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
            return s_fail(err, errlen, file, s, "%s must be a list of model names", k->name);
        int n = config_setting_length(s);
        if (n < 1 || n > SERVECONF_MAX_MODELS)
            return s_fail(err, errlen, file, s, "%s must name 1 to 16 models", k->name);
        for (int i = 0; i < n; i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            const char *v = config_setting_get_string(e);
            if (!v || !util_name_ok(v, SERVECONF_NAME_MAX - 1))
                return s_fail(err, errlen, file, e, "'%s' is not a model name", v ? v : "?");
            for (int j = 0; j < i; j++)
                if (!strcmp(c->models[j], v))
                    return s_fail(err, errlen, file, e, "model '%s' is listed twice", v);
            util_strlcpy(c->models[i], v, SERVECONF_NAME_MAX);
        }
        c->nmodels = (size_t)n;
        return 0;
    }
    }
    return -1;
}

int serveconf_load(serveconf_t *cfg, const char *path, char *err, size_t errlen)
{
    s_defaults(cfg);
    config_t lc;
    config_init(&lc);
    int rc = -1;
    if (conf_read(&lc, path, err, errlen) < 0)
        goto done;
    config_setting_t *grp = config_lookup(&lc, "serve");
    if (!grp || !config_setting_is_group(grp)) {
        s_fail(err, errlen, path, grp, "%s", "the file needs a group serve = { ... };");
        goto done;
    }
    int n = config_setting_length(grp);
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(s);
        const key_t_ *k = NULL;
        for (size_t j = 0; j < sizeof s_keys / sizeof s_keys[0]; j++)
            if (!strcmp(s_keys[j].name, name))
                k = &s_keys[j];
        if (!k) {
            s_fail(err, errlen, path, s, "unknown key serve.%s", name);
            goto done;
        }
        if (s_key(cfg, k, s, path, err, errlen) < 0)
            goto done;
    }
    const char *missing = !cfg->nmodels           ? "models"
                          : !cfg->artifact_dir[0] ? "artifact_dir"
                          : !cfg->tokens[0]       ? "tokens"
                          : !cfg->log_dir[0]      ? "log_dir"
                                                  : NULL;
    if (missing) {
        s_fail(err, errlen, path, grp, "serve.%s is required", missing);
        goto done;
    }
    if (!cfg->insecure && (!cfg->secret_key[0] || !cfg->coordinator_key[0])) {
        s_fail(err, errlen, path, grp, "%s",
               "serve.secret_key and serve.coordinator_key are required (or insecure = true)");
        goto done;
    }
    rc = 0;
done:
    config_destroy(&lc);
    return rc;
}
