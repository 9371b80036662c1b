/* test_conf — unit tests of common/conf.c.
 *
 * Each case writes a config file with mkstemp, loads it and checks either
 * the values or the exact "file:line:" of the error (and that a failed load
 * leaves the defaults in place).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* Writes text to a new temp file; the caller unlinks path. */
static void s_write(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

static void t_defaults(void **state)
{
    (void)state;
    conf_t c;
    char err[256] = "";
    memset(&c, 0x5a, sizeof c);
    assert_int_equal(conf_load(&c, NULL, err, sizeof err), 0);
    assert_string_equal(c.coord.client_endpoint, CONFIG_DEFAULT_CLIENT_ENDPOINT);
    assert_string_equal(c.coord.worker_endpoint, CONFIG_DEFAULT_WORKER_ENDPOINT);
    assert_string_equal(c.coord.database, CONFIG_DEFAULT_DATABASE);
    assert_int_equal(c.coord.heartbeat_ms, 1000);
    assert_int_equal(c.coord.worker_timeout_ms, 10000);
    assert_int_equal(c.coord.max_lost, 3);
    assert_int_equal(c.coord.max_message, 16u * 1024u * 1024u);
    assert_int_equal(c.coord.retry_delay_cap_ms, 300000);
    assert_string_equal(c.worker.coordinator, CONFIG_DEFAULT_WORKER_ENDPOINT);
    assert_string_equal(c.worker.name, "");
    assert_int_equal(c.worker.slots, 0);
    assert_int_equal(c.worker.nlabels, 0);
    assert_int_equal(c.worker.kill_grace_ms, 2000);
    assert_string_equal(c.cli.coordinator, CONFIG_DEFAULT_CLIENT_ENDPOINT);
    assert_int_equal(c.cli.timeout_ms, 3000);
    assert_string_equal(c.path, "");
    assert_int_equal(c.cli_coordinator_set, 0);
}

static void t_overrides(void **state)
{
    (void)state;
    char path[] = "/tmp/drover-conf-XXXXXX";
    s_write(path, "coordinator = {\n"
                  "  client_endpoint = \"tcp://0.0.0.0:9000\";\n"
                  "  worker_endpoint = \"ipc:///tmp/w\";\n"
                  "  database = \"dbname=x\";\n"
                  "  heartbeat_interval = 0.5;\n"
                  "  worker_timeout = \"20s\";\n"
                  "  max_lost = 5;\n"
                  "  max_message = 2048;\n"
                  "  retry_delay_cap = 60;\n"
                  "  retention = { events = \"90d\"; logs = \"2w\"; finished_runs = \"1y\"; };\n"
                  "  metrics_listen = \"127.0.0.1:9460\";\n"
                  "};\n"
                  "worker = { coordinator = \"tcp://h:1\"; name = \"gpu-1\"; slots = 4;\n"
                  "  labels = [\"gpu\", \"a100\"]; kill_grace = \"250ms\"; work_dir = \"/w\"; };\n"
                  "cli = { coordinator = \"tcp://h:2\"; timeout = 7; };\n");
    conf_t c;
    char err[256] = "";
    int rc = conf_load(&c, path, err, sizeof err);
    unlink(path);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(c.coord.client_endpoint, "tcp://0.0.0.0:9000");
    assert_string_equal(c.coord.worker_endpoint, "ipc:///tmp/w");
    assert_string_equal(c.coord.database, "dbname=x");
    assert_int_equal(c.coord.heartbeat_ms, 500);
    assert_int_equal(c.coord.worker_timeout_ms, 20000);
    assert_int_equal(c.coord.max_lost, 5);
    assert_int_equal(c.coord.max_message, 2048);
    assert_int_equal(c.coord.retry_delay_cap_ms, 60000);
    assert_true(c.coord.retain_events_ms == 90LL * 86400000);
    assert_true(c.coord.retain_logs_ms == 14LL * 86400000);
    assert_true(c.coord.retain_runs_ms == 365LL * 86400000);
    assert_true(c.coord.retain_metrics_ms == 0 && c.coord.retain_audit_ms == 0); /* kept forever */
    assert_string_equal(c.coord.metrics_listen, "127.0.0.1:9460");
    assert_string_equal(c.worker.coordinator, "tcp://h:1");
    assert_string_equal(c.worker.name, "gpu-1");
    assert_int_equal(c.worker.slots, 4);
    assert_int_equal(c.worker.nlabels, 2);
    assert_string_equal(c.worker.labels[0], "gpu");
    assert_string_equal(c.worker.labels[1], "a100");
    assert_int_equal(c.worker.kill_grace_ms, 250);
    assert_string_equal(c.worker.work_dir, "/w");
    assert_string_equal(c.cli.coordinator, "tcp://h:2");
    assert_int_equal(c.cli.timeout_ms, 7000);
    assert_int_equal(c.cli_coordinator_set, 1);
    assert_string_equal(c.path, path);
}

typedef struct {
    const char *what;
    const char *text;
    int line;
    const char *needle;
} err_case_t;

static const err_case_t s_errors[] = {
    {"unknown key", "coordinator = {\n  max_lost = 1;\n  bogus = 2;\n};\n", 3,
     "unknown setting 'bogus'"},
    {"unknown section", "cli = { timeout = 1; };\nserver = { };\n", 2, "unknown section"},
    {"section not a group", "worker = 3;\n", 1, "expected a group"},
    {"string wanted", "cli = {\n  coordinator = 7;\n};\n", 2,
     "expected a string for 'coordinator'"},
    {"string too long",
     "worker = { name = \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"; };\n",
     1, "value too long for 'name'"},
    {"bad duration string", "coordinator = {\n\n  heartbeat_interval = \"fast\";\n};\n", 3,
     "bad duration"},
    {"duration wrong type", "cli = { timeout = [1]; };\n", 1, "expected a duration for 'timeout'"},
    {"negative duration", "worker = { kill_grace = -1; };\n", 1, "negative duration"},
    {"int wanted", "worker = {\n  slots = \"8\";\n};\n", 2, "expected an integer for 'slots'"},
    {"int out of range", "coordinator = { max_lost = -3; };\n", 1, "out of range"},
    {"size too small", "coordinator = { max_message = 10; };\n", 1, "too small"},
    {"labels not a list", "worker = { labels = \"gpu\"; };\n", 1, "expected a list of strings"},
    {"labels not strings", "worker = { labels = [1, 2]; };\n", 1, "expected a list of strings"},
    {"too many labels",
     "worker = { labels = [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\","
     "\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\",\"u\",\"v\",\"w\",\"x\",\"y\",\"z\",\"a1\","
     "\"b1\",\"c1\",\"d1\",\"e1\",\"f1\",\"g1\"]; };\n",
     1, "too many labels"},
    {"syntax error", "cli = {\n  timeout = ;\n};\n", 2, "syntax error"},
    {"retention not a group", "coordinator = {\n  retention = \"90d\";\n};\n", 2,
     "expected a group { ... } for 'retention'"},
    {"unknown retention key", "coordinator = { retention = {\n  evnets = \"1d\"; }; };\n", 2,
     "unknown setting 'evnets'"},
    {"bad retention period", "coordinator = { retention = { logs = \"30 days\"; }; };\n", 1,
     "bad duration"},
    {"trigger root relative", "coordinator = {\n  trigger_roots = [\"data\"];\n};\n", 2,
     "expected a list of absolute folders for 'trigger_roots'"},
    {"trigger roots not a list", "coordinator = { trigger_roots = \"/data\"; };\n", 1,
     "expected a list of absolute folders"},
    {"test_clock not a bool", "coordinator = { test_clock = 1; };\n", 1,
     "expected true or false for 'test_clock'"},
    /* notify.allow: each prefix fixes scheme and host (a '/' after the host) */
    {"allow without a slash",
     "coordinator = { notify = {\n allow = [\"https://hooks.example.com\"]; }; };\n", 2,
     "expected URL prefixes"},
    {"allow not http", "coordinator = { notify = {\n allow = [\"ftp://h/\"]; }; };\n", 2,
     "expected URL prefixes"},
    {"allow with userinfo", "coordinator = { notify = {\n allow = [\"https://a@h/\"]; }; };\n", 2,
     "expected URL prefixes"},
    {"notify on unknown kind", "coordinator = { notify = {\n on = [\"exploded\"]; }; };\n", 2,
     "unknown event kind"},
};

/* coordinator.notify.allow and the awaiting_approval kind. */
static void t_notify_allow(void **state)
{
    (void)state;
    char path[] = "/tmp/drover-conf-XXXXXX";
    s_write(path, "coordinator = { notify = { allow = [\"https://hooks.example.com/\", "
                  "\"http://10.0.0.5:8080/drover/\"]; on = [\"awaiting_approval\"]; }; };\n");
    conf_t c;
    char err[512];
    assert_int_equal(conf_load(&c, path, err, sizeof err), 0);
    unlink(path);
    assert_int_equal(c.coord.nnotify_allow, 2);
    assert_string_equal(c.coord.notify_allow[1], "http://10.0.0.5:8080/drover/");
    assert_int_equal(c.coord.nnotify_on, 1);
    assert_string_equal(c.coord.notify_on[0], "awaiting_approval");
    assert_true(conf_notify_kind_ok("schedule_missed"));
    assert_false(conf_notify_kind_ok("awaiting"));
}

/* coordinator.trigger_roots and test_clock (off unless said). */
static void t_trigger_roots(void **state)
{
    (void)state;
    char path[] = "/tmp/drover-conf-XXXXXX";
    s_write(path, "coordinator = { trigger_roots = [\"/data/claims\", \"/srv/feedback\"]; "
                  "test_clock = true; };\n");
    conf_t c;
    char err[512];
    assert_int_equal(conf_load(&c, path, err, sizeof err), 0);
    unlink(path);
    assert_int_equal(c.coord.ntrigger_roots, 2);
    assert_string_equal(c.coord.trigger_roots[1], "/srv/feedback");
    assert_int_equal(c.coord.test_clock, 1);
    assert_int_equal(conf_load(&c, NULL, err, sizeof err), 0);
    assert_int_equal(c.coord.ntrigger_roots, 0);
    assert_int_equal(c.coord.test_clock, 0);
}

static void t_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++) {
        const err_case_t *e = &s_errors[i];
        char path[] = "/tmp/drover-conf-XXXXXX";
        s_write(path, e->text);
        conf_t c;
        char err[512] = "", prefix[128];
        errno = 0;
        int rc = conf_load(&c, path, err, sizeof err);
        int en = errno;
        unlink(path);
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, e->line);
        if (rc != -1 || en != EINVAL || strncmp(err, prefix, strlen(prefix)) != 0 ||
            !strstr(err, e->needle))
            fail_msg("%s: rc=%d errno=%d err='%s'; want '%s...%s'", e->what, rc, en, err, prefix,
                     e->needle);
        /* A failed load leaves the defaults, never a half-applied file. */
        assert_int_equal(c.coord.max_lost, 3);
        assert_int_equal(c.worker.nlabels, 0);
        assert_int_equal(c.cli.timeout_ms, 3000);
        assert_string_equal(c.path, "");
    }
}

static void t_partial_file_not_applied(void **state)
{
    (void)state;
    char path[] = "/tmp/drover-conf-XXXXXX";
    s_write(path, "cli = { timeout = 9; };\nworker = { slots = \"x\"; };\n");
    conf_t c;
    char err[256] = "";
    assert_int_equal(conf_load(&c, path, err, sizeof err), -1);
    unlink(path);
    assert_int_equal(c.cli.timeout_ms, 3000);
}

static void t_missing_file(void **state)
{
    (void)state;
    conf_t c;
    char err[256] = "";
    assert_int_equal(conf_load(&c, "/nonexistent/drover.cfg", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/drover.cfg: cannot read"));
    assert_int_equal(c.coord.max_lost, 3);
}

static void t_default_path(void **state)
{
    (void)state;
    const char *old = getenv("DROVER_CONFIG");
    char *saved = old ? strdup(old) : NULL;
    assert_int_equal(setenv("DROVER_CONFIG", "/some/where.cfg", 1), 0);
    assert_string_equal(conf_default_path(), "/some/where.cfg");
    if (saved) {
        setenv("DROVER_CONFIG", saved, 1);
        free(saved);
    } else {
        unsetenv("DROVER_CONFIG");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_defaults),      cmocka_unit_test(t_overrides),
        cmocka_unit_test(t_errors),        cmocka_unit_test(t_partial_file_not_applied),
        cmocka_unit_test(t_missing_file),  cmocka_unit_test(t_default_path),
        cmocka_unit_test(t_trigger_roots), cmocka_unit_test(t_notify_allow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
