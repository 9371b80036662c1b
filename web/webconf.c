/* webconf — see webconf.h. Numbers are looked up by name from one table of
 * bounds; every setting in the group must be one of the table's. */
#include "webconf.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "util.h"

typedef struct {
    const char *name;
    size_t off;
    long long lo, hi;
} num_t;

#define NUM(f, lo, hi)                                                                             \
    {                                                                                              \
#f, offsetof(webconf_t, f), lo, hi                                                         \
    }
static const num_t s_nums[] = {
    NUM(session_ttl_s, 60, 30 * 86400),
    NUM(max_sessions, 1, 100000),
    NUM(max_streams, 1, 1024),
    NUM(max_streams_per_person, 1, 1024),
    NUM(max_connections, 4, 4096),
    NUM(max_body, 1024, 1 << 20),
    NUM(rate, 1, 10000),
    NUM(timeout_s, 1, 3600),
    NUM(coordinator_timeout_ms, 100, 120000),
    NUM(coordinator_sockets, 1, 64),
    NUM(stream_max_s, 10, 86400),
};
static const char *const s_strs[] = {"listen", "coordinator", "secret_key", "coordinator_key",
                                     "secure_cookies"};

static int s_bad(char *err, size_t errlen, const char *file, const config_setting_t *s,
                 const char *what, const char *name)
{
    util_errf(err, errlen, "%s:%d: %s%s", file, s ? config_setting_source_line(s) : 0, what,
              name ? name : "");
    errno = EINVAL;
    return -1;
}

/* A string setting into dst; a path (rel = 1) is made absolute against the
 * config file's folder. */
static int s_str(const config_setting_t *g, const char *name, char *dst, size_t len, int rel,
                 const char *file, char *err, size_t errlen)
{
    config_setting_t *s = config_setting_get_member(g, name);
    if (!s)
        return 0;
    const char *v = config_setting_get_string(s);
    if (!v || !*v)
        return s_bad(err, errlen, file, s, "must be a non-empty string: web.", name);
    const char *slash = strrchr(file, '/');
    int n = rel && v[0] != '/' && slash
                ? snprintf(dst, len, "%.*s/%s", (int)(slash - file), file, v)
                : snprintf(dst, len, "%s", v);
    if (n < 0 || (size_t)n >= len)
        return s_bad(err, errlen, file, s, "too long: web.", name);
    return 0;
}

int webconf_load(webconf_t *cfg, const char *path, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen, sizeof cfg->listen, "127.0.0.1:7480");
    snprintf(cfg->coordinator, sizeof cfg->coordinator, "tcp://127.0.0.1:7460");
    cfg->session_ttl_s = 43200;
    cfg->max_sessions = 1024;
    cfg->max_streams = 32;
    cfg->max_streams_per_person = 8;
    cfg->max_connections = 128;
    cfg->max_body = 16384;
    cfg->rate = 20;
    cfg->timeout_s = 30;
    cfg->coordinator_timeout_ms = 5000;
    cfg->coordinator_sockets = 4;
    cfg->stream_max_s = 600;

    config_t lc;
    config_init(&lc);
    int rc = -1;
    if (conf_read(&lc, path, err, errlen) < 0)
        goto done;
    config_setting_t *g = config_lookup(&lc, "web");
    if (!g || !config_setting_is_group(g)) {
        s_bad(err, errlen, path, g, "the file needs a group web = { ... };", NULL);
        goto done;
    }
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        int known = 0;
        for (size_t j = 0; j < sizeof s_strs / sizeof s_strs[0]; j++)
            known |= strcmp(s_strs[j], name) == 0;
        for (size_t j = 0; !known && j < sizeof s_nums / sizeof s_nums[0]; j++) {
            const num_t *k = &s_nums[j];
            if (strcmp(k->name, name) != 0)
                continue;
            known = 1;
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
                s_bad(err, errlen, path, s, "must be an integer: web.", name);
                goto done;
            }
            long long v = config_setting_get_int64(s);
            if (v < k->lo || v > k->hi) {
                char what[160];
                snprintf(what, sizeof what, "must be between %lld and %lld: web.", k->lo, k->hi);
                s_bad(err, errlen, path, s, what, name);
                goto done;
            }
            *(long long *)((char *)cfg + k->off) = v;
        }
        if (!known) {
            s_bad(err, errlen, path, s, "unknown setting web.", name);
            goto done;
        }
    }
    config_setting_t *sc = config_setting_get_member(g, "secure_cookies");
    if (sc) {
        if (config_setting_type(sc) != CONFIG_TYPE_BOOL) {
            s_bad(err, errlen, path, sc, "must be true or false: web.", "secure_cookies");
            goto done;
        }
        cfg->secure_cookies = config_setting_get_bool(sc);
    }
    if (s_str(g, "listen", cfg->listen, sizeof cfg->listen, 0, path, err, errlen) < 0 ||
        s_str(g, "coordinator", cfg->coordinator, sizeof cfg->coordinator, 0, path, err, errlen) <
            0 ||
        s_str(g, "secret_key", cfg->secret_key, sizeof cfg->secret_key, 1, path, err, errlen) < 0 ||
        s_str(g, "coordinator_key", cfg->coordinator_key, sizeof cfg->coordinator_key, 1, path, err,
              errlen) < 0)
        goto done;
    if (!cfg->secret_key[0] || !cfg->coordinator_key[0]) {
        s_bad(err, errlen, path, g,
              "web.secret_key (drover-web's key, allowed with --role web) and "
              "web.coordinator_key are required",
              NULL);
        goto done;
    }
    rc = 0;
done:
    config_destroy(&lc);
    return rc;
}
