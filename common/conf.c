/* conf — see config.h. */
#include "conf.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "workflow.h" /* workflow_parse_size: one size syntax for steps and workers */

void conf_defaults(conf_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    util_strlcpy(cfg->coord.client_endpoint, CONFIG_DEFAULT_CLIENT_ENDPOINT, CONFIG_ENDPOINT_MAX);
    util_strlcpy(cfg->coord.worker_endpoint, CONFIG_DEFAULT_WORKER_ENDPOINT, CONFIG_ENDPOINT_MAX);
    util_strlcpy(cfg->coord.database, CONFIG_DEFAULT_DATABASE, sizeof cfg->coord.database);
    cfg->coord.heartbeat_ms = 1000;
    cfg->coord.worker_timeout_ms = 10000;
    cfg->coord.max_lost = 3;
    cfg->coord.max_message = 16u * 1024u * 1024u;
    cfg->coord.retry_delay_cap_ms = 300000;
    cfg->coord.max_log_bytes = 64u * 1024u * 1024u;
    cfg->coord.client_rate = 500;
    util_strlcpy(cfg->coord.notify_on[0], "failed", sizeof cfg->coord.notify_on[0]);
    util_strlcpy(cfg->coord.notify_on[1], "rejected", sizeof cfg->coord.notify_on[1]);
    cfg->coord.nnotify_on = 2;
    cfg->coord.notify_timeout_ms = 5000;
    cfg->coord.worker_rate = 20000;
    cfg->coord.artifact_max_size = 10ull << 30;
    util_strlcpy(cfg->worker.coordinator, CONFIG_DEFAULT_WORKER_ENDPOINT, CONFIG_ENDPOINT_MAX);
    cfg->worker.kill_grace_ms = 2000;
    cfg->worker.drain_ms = 30000;
    cfg->coord.leader_lease_ms = 5000;
    cfg->coord.default_time_limit_ms = 3600000;
    cfg->coord.priority_aging_ms = 60000;
    cfg->coord.gang_reserve_max_ms = 300000;
    cfg->worker.gpus = -1;
    util_strlcpy(cfg->cli.coordinator, CONFIG_DEFAULT_CLIENT_ENDPOINT, CONFIG_ENDPOINT_MAX);
    cfg->cli.timeout_ms = 3000;
}

const char *conf_default_path(void)
{
    static char buf[1024];
    struct stat st;
    const char *env = getenv("DROVER_CONFIG");
    if (env && *env)
        return env;
    const char *home = getenv("HOME");
    if (home && snprintf(buf, sizeof buf, "%s/.config/drover/drover.cfg", home) < (int)sizeof buf &&
        stat(buf, &st) == 0)
        return buf;
    if (stat("/etc/drover/drover.cfg", &st) == 0)
        return "/etc/drover/drover.cfg";
    return NULL;
}

typedef enum {
    K_STRING,
    K_DURATION,
    K_INT,
    K_SIZE,
    K_LABELS,
    K_BOOL,
    K_KEYLIST,
    K_MEMORY,
    K_ROOTS,
    K_GROUP,
    K_NOTIFY_ON,
    K_NOTIFY_ALLOW
} kind_t;

typedef struct {
    const char *name;
    kind_t kind;
    size_t off; /* offset in conf_t */
    size_t len; /* buffer size for strings */
} key_t_;

#define OFF(f) offsetof(conf_t, f)
static const key_t_ s_retention_keys[] = {
    {"events", K_DURATION, OFF(coord.retain_events_ms), 0},
    {"audit", K_DURATION, OFF(coord.retain_audit_ms), 0},
    {"logs", K_DURATION, OFF(coord.retain_logs_ms), 0},
    {"metrics", K_DURATION, OFF(coord.retain_metrics_ms), 0},
    {"finished_runs", K_DURATION, OFF(coord.retain_runs_ms), 0},
    {NULL, 0, 0, 0},
};
static const key_t_ s_notify_keys[] = {
    {"webhook", K_STRING, OFF(coord.notify_webhook), sizeof(((conf_t *)0)->coord.notify_webhook)},
    {"secret_file", K_STRING, OFF(coord.notify_secret_file),
     sizeof(((conf_t *)0)->coord.notify_secret_file)},
    {"on", K_NOTIFY_ON, 0, 0},
    {"allow", K_NOTIFY_ALLOW, 0, 0},
    {"timeout", K_DURATION, OFF(coord.notify_timeout_ms), 0},
    {NULL, 0, 0, 0},
};
/* K_GROUP settings and the keys inside each. */
static const struct {
    const char *name;
    const key_t_ *keys;
} s_groups[] = {{"retention", s_retention_keys}, {"notify", s_notify_keys}};
static const key_t_ s_coord_keys[] = {
    {"client_endpoint", K_STRING, OFF(coord.client_endpoint), CONFIG_ENDPOINT_MAX},
    {"worker_endpoint", K_STRING, OFF(coord.worker_endpoint), CONFIG_ENDPOINT_MAX},
    {"database", K_STRING, OFF(coord.database), sizeof(((conf_t *)0)->coord.database)},
    {"heartbeat_interval", K_DURATION, OFF(coord.heartbeat_ms), 0},
    {"worker_timeout", K_DURATION, OFF(coord.worker_timeout_ms), 0},
    {"max_lost", K_INT, OFF(coord.max_lost), 0},
    {"max_message", K_SIZE, OFF(coord.max_message), 0},
    {"retry_delay_cap", K_DURATION, OFF(coord.retry_delay_cap_ms), 0},
    {"leader_lease", K_DURATION, OFF(coord.leader_lease_ms), 0},
    {"secret_key", K_STRING, OFF(coord.secret_key), sizeof(((conf_t *)0)->coord.secret_key)},
    {"insecure", K_BOOL, OFF(coord.insecure), 0},
    {"admin_keys", K_KEYLIST, 0, 0},
    {"max_log_bytes", K_SIZE, OFF(coord.max_log_bytes), 0},
    {"client_rate", K_INT, OFF(coord.client_rate), 0},
    {"retention", K_GROUP, 0, 0},
    {"notify", K_GROUP, 0, 0},
    {"metrics_listen", K_STRING, OFF(coord.metrics_listen), CONFIG_ENDPOINT_MAX},
    {"worker_rate", K_INT, OFF(coord.worker_rate), 0},
    {"artifact_dir", K_STRING, OFF(coord.artifact_dir), sizeof(((conf_t *)0)->coord.artifact_dir)},
    {"artifact_listen", K_STRING, OFF(coord.artifact_listen), CONFIG_ENDPOINT_MAX},
    {"artifact_max_size", K_SIZE, OFF(coord.artifact_max_size), 0},
    {"trigger_roots", K_ROOTS, 0, 0},
    {"test_clock", K_BOOL, OFF(coord.test_clock), 0},
    {"default_time_limit", K_DURATION, OFF(coord.default_time_limit_ms), 0},
    {"priority_aging", K_DURATION, OFF(coord.priority_aging_ms), 0},
    {"gang_reserve_max", K_DURATION, OFF(coord.gang_reserve_max_ms), 0},
    {NULL, 0, 0, 0},
};
static const key_t_ s_worker_keys[] = {
    {"coordinator", K_STRING, OFF(worker.coordinator), CONFIG_ENDPOINT_MAX},
    {"name", K_STRING, OFF(worker.name), sizeof(((conf_t *)0)->worker.name)},
    {"slots", K_INT, OFF(worker.slots), 0},
    {"prefetch", K_INT, OFF(worker.prefetch), 0},
    {"labels", K_LABELS, 0, 0},
    {"kill_grace", K_DURATION, OFF(worker.kill_grace_ms), 0},
    {"work_dir", K_STRING, OFF(worker.work_dir), sizeof(((conf_t *)0)->worker.work_dir)},
    {"secret_key", K_STRING, OFF(worker.secret_key), sizeof(((conf_t *)0)->worker.secret_key)},
    {"coordinator_key", K_STRING, OFF(worker.coordinator_key),
     sizeof(((conf_t *)0)->worker.coordinator_key)},
    {"insecure", K_BOOL, OFF(worker.insecure), 0},
    {"artifact_dir", K_STRING, OFF(worker.artifact_dir),
     sizeof(((conf_t *)0)->worker.artifact_dir)},
    {"artifact_endpoint", K_STRING, OFF(worker.artifact_endpoint), CONFIG_ENDPOINT_MAX},
    {"artifact_shared", K_BOOL, OFF(worker.artifact_shared), 0},
    {"memory", K_MEMORY, OFF(worker.memory_bytes), 0},
    {"gpus", K_INT, OFF(worker.gpus), 0},
    {"metrics_listen", K_STRING, OFF(worker.metrics_listen), CONFIG_ENDPOINT_MAX},
    {"run_as", K_STRING, OFF(worker.run_as), sizeof(((conf_t *)0)->worker.run_as)},
    {"cgroup", K_STRING, OFF(worker.cgroup), sizeof(((conf_t *)0)->worker.cgroup)},
    {"state_dir", K_STRING, OFF(worker.state_dir), sizeof(((conf_t *)0)->worker.state_dir)},
    {"drain", K_DURATION, OFF(worker.drain_ms), 0},
    {"idle_exit", K_DURATION, OFF(worker.idle_exit_ms), 0},
    {"reserve_for", K_STRING, OFF(worker.reserve_for), CONFIG_LABEL_MAX},
    {"advertise_addr", K_STRING, OFF(worker.advertise_addr),
     sizeof(((conf_t *)0)->worker.advertise_addr)},
    {"gang_ports", K_STRING, OFF(worker.gang_ports), sizeof(((conf_t *)0)->worker.gang_ports)},
    {NULL, 0, 0, 0},
};
static const key_t_ s_cli_keys[] = {
    {"coordinator", K_STRING, OFF(cli.coordinator), CONFIG_ENDPOINT_MAX},
    {"timeout", K_DURATION, OFF(cli.timeout_ms), 0},
    {"secret_key", K_STRING, OFF(cli.secret_key), sizeof(((conf_t *)0)->cli.secret_key)},
    {"coordinator_key", K_STRING, OFF(cli.coordinator_key),
     sizeof(((conf_t *)0)->cli.coordinator_key)},
    {"insecure", K_BOOL, OFF(cli.insecure), 0},
    {NULL, 0, 0, 0},
};

static int s_fail(char *err, size_t errlen, const char *file, int line, const char *what,
                  const char *name)
{
    snprintf(err, errlen, "%s:%d: %s '%s'", file, line, what, name);
    errno = EINVAL;
    return -1;
}

static int s_load_group(conf_t *cfg, config_setting_t *grp, const key_t_ *keys, const char *file,
                        char *err, size_t errlen)
{
    int n = config_setting_length(grp);
    for (int i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
        const char *name = config_setting_name(s);
        int line = (int)config_setting_source_line(s);
        const key_t_ *k = keys;
        while (k->name && strcmp(k->name, name) != 0)
            k++;
        if (!k->name)
            return s_fail(err, errlen, file, line, "unknown setting", name);
        int type = config_setting_type(s);
        char *base = (char *)cfg;
        switch (k->kind) {
        case K_STRING:
            if (type != CONFIG_TYPE_STRING)
                return s_fail(err, errlen, file, line, "expected a string for", name);
            if (util_strlcpy(base + k->off, config_setting_get_string(s), k->len) < 0)
                return s_fail(err, errlen, file, line, "value too long for", name);
            break;
        case K_DURATION: {
            int64_t ms;
            if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
                long long v = config_setting_get_int64(s);
                if (v < 0)
                    return s_fail(err, errlen, file, line, "negative duration for", name);
                if (v > INT64_MAX / 1000)
                    return s_fail(err, errlen, file, line, "duration out of range for", name);
                ms = (int64_t)v * 1000;
            } else if (type == CONFIG_TYPE_FLOAT) {
                double d = config_setting_get_float(s) * 1000.0;
                if (d < 0)
                    return s_fail(err, errlen, file, line, "negative duration for", name);
                if (!(d < 9.2e18)) /* also NaN */
                    return s_fail(err, errlen, file, line, "duration out of range for", name);
                ms = (int64_t)(d + 0.5);
            } else if (type == CONFIG_TYPE_STRING) {
                if (util_parse_duration_ms(config_setting_get_string(s), &ms) < 0)
                    return s_fail(err, errlen, file, line,
                                  "bad duration (use 10, 1.5, \"250ms\", \"2m\") for", name);
            } else
                return s_fail(err, errlen, file, line, "expected a duration for", name);
            if (ms < 0)
                return s_fail(err, errlen, file, line, "negative duration for", name);
            *(int64_t *)(base + k->off) = ms;
            break;
        }
        case K_INT:
            if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                return s_fail(err, errlen, file, line, "expected an integer for", name);
            if (config_setting_get_int64(s) < 0 || config_setting_get_int64(s) > 1000000)
                return s_fail(err, errlen, file, line, "out of range (0..1000000):", name);
            *(int *)(base + k->off) = (int)config_setting_get_int64(s);
            break;
        case K_SIZE:
            if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
                return s_fail(err, errlen, file, line, "expected a byte count for", name);
            if (config_setting_get_int64(s) < 1024)
                return s_fail(err, errlen, file, line, "too small (minimum 1024):", name);
            *(size_t *)(base + k->off) = (size_t)config_setting_get_int64(s);
            break;
        case K_MEMORY: {
            /* Bytes, or a string with a unit ("64G"), as a step's resources. */
            uint64_t bytes = 0;
            if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
                if (config_setting_get_int64(s) < 0)
                    return s_fail(err, errlen, file, line, "negative size for", name);
                bytes = (uint64_t)config_setting_get_int64(s);
            } else if (type != CONFIG_TYPE_STRING ||
                       workflow_parse_size(config_setting_get_string(s), &bytes) < 0) {
                return s_fail(err, errlen, file, line,
                              "expected a size (bytes, or \"512M\", \"64G\") for", name);
            }
            *(uint64_t *)(base + k->off) = bytes;
            break;
        }
        case K_BOOL:
            if (type != CONFIG_TYPE_BOOL)
                return s_fail(err, errlen, file, line, "expected true or false for", name);
            *(int *)(base + k->off) = config_setting_get_bool(s);
            break;
        case K_KEYLIST: {
            if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return s_fail(err, errlen, file, line, "expected a list of key file paths for",
                              name);
            int m = config_setting_length(s);
            if (m > CONFIG_MAX_KEYS)
                return s_fail(err, errlen, file, line, "too many keys (max 16) in", name);
            for (int j = 0; j < m; j++) {
                const char *v = config_setting_get_string_elem(s, j);
                if (!v ||
                    util_strlcpy(cfg->coord.admin_keys[j], v, sizeof cfg->coord.admin_keys[j]) < 0)
                    return s_fail(err, errlen, file, line, "expected a list of key file paths for",
                                  name);
            }
            cfg->coord.nadmin_keys = m;
            break;
        }
        case K_NOTIFY_ON: {
            if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return s_fail(err, errlen, file, line, "expected a list of event kinds for", name);
            int m = config_setting_length(s);
            if (m > CONFIG_MAX_NOTIFY)
                return s_fail(err, errlen, file, line, "too many event kinds in", name);
            for (int j = 0; j < m; j++) {
                const char *v = config_setting_get_string_elem(s, j);
                if (!v || !conf_notify_kind_ok(v))
                    return s_fail(err, errlen, file, line,
                                  "unknown event kind (" CONFIG_NOTIFY_KINDS_TEXT ") in", name);
                util_strlcpy(cfg->coord.notify_on[j], v, sizeof cfg->coord.notify_on[j]);
            }
            cfg->coord.nnotify_on = m;
            break;
        }
        case K_NOTIFY_ALLOW: {
            /* Each prefix fixes scheme and host: "https://hooks.example.com/"
             * (the '/' after the host matters: without it the prefix would
             * also admit https://hooks.example.com.attacker.net/). */
            if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return s_fail(err, errlen, file, line, "expected a list of URL prefixes for", name);
            int m = config_setting_length(s);
            if (m > CONFIG_MAX_NOTIFY_ALLOW)
                return s_fail(err, errlen, file, line, "too many prefixes (max 16) in", name);
            for (int j = 0; j < m; j++) {
                const char *v = config_setting_get_string_elem(s, j);
                const char *host = !v                               ? NULL
                                   : strncmp(v, "https://", 8) == 0 ? v + 8
                                   : strncmp(v, "http://", 7) == 0  ? v + 7
                                                                    : NULL;
                const char *slash = host ? strchr(host, '/') : NULL;
                if (!slash || slash == host || strpbrk(v, " \t\r\n@") ||
                    util_strlcpy(cfg->coord.notify_allow[j], v, sizeof cfg->coord.notify_allow[j]) <
                        0)
                    return s_fail(err, errlen, file, line,
                                  "expected URL prefixes such as \"https://hooks.example.com/\" "
                                  "(scheme, host, then '/'; no '@' or spaces) in",
                                  name);
            }
            cfg->coord.nnotify_allow = m;
            break;
        }
        case K_GROUP: {
            if (type != CONFIG_TYPE_GROUP)
                return s_fail(err, errlen, file, line, "expected a group { ... } for", name);
            size_t g = 0;
            while (strcmp(s_groups[g].name, name) != 0)
                g++; /* every K_GROUP key has a row in s_groups */
            if (s_load_group(cfg, s, s_groups[g].keys, file, err, errlen) < 0)
                return -1;
            break;
        }
        case K_ROOTS: {
            if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return s_fail(err, errlen, file, line, "expected a list of absolute folders for",
                              name);
            int m = config_setting_length(s);
            if (m > CONFIG_MAX_KEYS)
                return s_fail(err, errlen, file, line, "too many folders (max 16) in", name);
            for (int j = 0; j < m; j++) {
                const char *v = config_setting_get_string_elem(s, j);
                if (!v || v[0] != '/' ||
                    util_strlcpy(cfg->coord.trigger_roots[j], v,
                                 sizeof cfg->coord.trigger_roots[j]) < 0)
                    return s_fail(err, errlen, file, line,
                                  "expected a list of absolute folders for", name);
            }
            cfg->coord.ntrigger_roots = m;
            break;
        }
        case K_LABELS: {
            if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
                return s_fail(err, errlen, file, line, "expected a list of strings for", name);
            int m = config_setting_length(s);
            if (m > CONFIG_MAX_LABELS)
                return s_fail(err, errlen, file, line, "too many labels (max 32) in", name);
            for (int j = 0; j < m; j++) {
                const char *v = config_setting_get_string_elem(s, j);
                if (!v)
                    return s_fail(err, errlen, file, line, "expected a list of strings for", name);
                if (util_strlcpy(cfg->worker.labels[j], v, CONFIG_LABEL_MAX) < 0)
                    return s_fail(err, errlen, file, line, "label too long in", name);
            }
            cfg->worker.nlabels = m;
            break;
        }
        }
        if (keys == s_cli_keys && strcmp(name, "coordinator") == 0)
            cfg->cli_coordinator_set = 1;
    }
    return 0;
}

int conf_read(struct config_t *lc, const char *path, char *err, size_t errlen)
{
    if (config_read_file(lc, path) == CONFIG_TRUE)
        return 0;
    if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
        snprintf(err, errlen, "%s: cannot read the file: %s", path, strerror(errno));
    else
        snprintf(err, errlen, "%s:%d: %s", path, config_error_line(lc), config_error_text(lc));
    errno = EINVAL;
    return -1;
}

int conf_load(conf_t *cfg, const char *path, char *err, size_t errlen)
{
    conf_defaults(cfg);
    if (!path)
        return 0;
    conf_t tmp;
    conf_defaults(&tmp);
    util_strlcpy(tmp.path, path, sizeof tmp.path);

    struct config_t lc;
    config_init(&lc);
    int rc = -1;
    if (conf_read(&lc, path, err, errlen) < 0)
        goto out;
    config_setting_t *root = config_root_setting(&lc);
    int n = config_setting_length(root);
    for (int i = 0; i < n; i++) {
        config_setting_t *g = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(g);
        int line = (int)config_setting_source_line(g);
        const key_t_ *keys = strcmp(name, "coordinator") == 0 ? s_coord_keys
                             : strcmp(name, "worker") == 0    ? s_worker_keys
                             : strcmp(name, "cli") == 0       ? s_cli_keys
                                                              : NULL;
        if (!keys) {
            s_fail(err, errlen, path, line,
                   "unknown section (expected coordinator, worker or cli):", name);
            goto out;
        }
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            s_fail(err, errlen, path, line, "expected a group { ... } for", name);
            goto out;
        }
        if (s_load_group(&tmp, g, keys, path, err, errlen) < 0)
            goto out;
    }
    *cfg = tmp;
    rc = 0;
out:
    config_destroy(&lc);
    return rc;
}

int conf_notify_kind_ok(const char *kind)
{
    static const char *const kinds[] = {"failed",    "rejected",        "succeeded",
                                        "cancelled", "schedule_missed", "awaiting_approval"};
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i], kind) == 0)
            return 1;
    return 0;
}
