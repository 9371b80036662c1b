/* test_prom — unit tests of common/prom.c (the metrics registry and its
 * text exposition) and common/metricsd.c (the HTTP endpoints, over a real
 * TCP socket on loopback). promtool's own check runs in the integration
 * test that scrapes the daemons (test_metrics.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metricsd.h"
#include "prom.h"

static void t_names_refused(void **state)
{
    (void)state;
    prom_t *p = prom_new();
    assert_non_null(p);
    errno = 0;
    assert_null(prom_counter(p, "9bad", "starts with a digit"));
    assert_int_equal(errno, EINVAL);
    assert_null(prom_gauge(p, "has space", "x"));
    assert_null(prom_gauge(p, "", "x"));
    static const double down[] = {2, 1};
    assert_null(prom_histogram(p, "h_seconds", "x", down, 2));
    const char *le[] = {"le"};
    assert_null(prom_family(p, PROM_COUNTER, "c_total", "x", le, 1, NULL, 0));
    size_t len;
    char *text = prom_render(p, &len);
    assert_non_null(text);
    assert_int_equal(len, 0); /* nothing was registered */
    free(text);
    prom_destroy(&p);
    assert_null(p);
    prom_destroy(&p); /* NULL-safe */
}

static void t_render(void **state)
{
    (void)state;
    prom_t *p = prom_new();
    prom_metric_t *c = prom_counter(p, "drover_things_total", "Things done.\nTwo lines.");
    prom_metric_t *g = prom_gauge(p, "drover_level", "A level.");
    static const double b[] = {0.001, 0.01, 0.1};
    prom_metric_t *h = prom_histogram(p, "drover_wait_seconds", "Waits.", b, 3);
    const char *labels[] = {"queue", "priority"};
    prom_family_t *f = prom_family(p, PROM_GAUGE, "drover_depth", "Depth.", labels, 2, NULL, 0);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(h);
    assert_non_null(f);
    prom_inc(c, 3);
    prom_inc(c, 2);
    prom_set(g, 1.5);
    prom_add(g, -0.25);
    prom_observe(h, 0.0005);
    prom_observe(h, 0.05);
    prom_observe(h, 7);
    prom_set(prom_child(f, "night\"ly\\", "10"), 4);
    prom_set(prom_child(f, "default", "0"), 2);
    assert_ptr_equal(prom_child(f, "default", "0"), prom_child(f, "default", "0"));
    prom_inc(NULL, 1); /* optional metrics: no-ops */
    prom_observe(NULL, 1);
    assert_true(prom_value(c) == 5.0);
    assert_true(prom_value(g) == 1.25);
    assert_true(prom_value(h) == 3.0);
    size_t len;
    char *text = prom_render(p, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    const char *want = "# HELP drover_things_total Things done.\\nTwo lines.\n"
                       "# TYPE drover_things_total counter\n"
                       "drover_things_total 5\n"
                       "# HELP drover_level A level.\n"
                       "# TYPE drover_level gauge\n"
                       "drover_level 1.25\n"
                       "# HELP drover_wait_seconds Waits.\n"
                       "# TYPE drover_wait_seconds histogram\n"
                       "drover_wait_seconds_bucket{le=\"0.001\"} 1\n"
                       "drover_wait_seconds_bucket{le=\"0.01\"} 1\n"
                       "drover_wait_seconds_bucket{le=\"0.10000000000000001\"} 2\n"
                       "drover_wait_seconds_bucket{le=\"+Inf\"} 3\n"
                       "drover_wait_seconds_sum 7.0505000000000004\n"
                       "drover_wait_seconds_count 3\n"
                       "# HELP drover_depth Depth.\n"
                       "# TYPE drover_depth gauge\n"
                       "drover_depth{queue=\"night\\\"ly\\\\\",priority=\"10\"} 4\n"
                       "drover_depth{queue=\"default\",priority=\"0\"} 2\n";
    if (strcmp(text, want) != 0)
        fail_msg("rendered:\n%s\nwanted:\n%s", text, want);
    free(text);
    prom_family_zero(f);
    assert_true(prom_value(prom_child(f, "default", "0")) == 0.0);
    prom_destroy(&p);
}

/* More label values than a family holds fold into one "other" child; a
 * value that is too long or not UTF-8 is cut and sanitised. */
static void t_children_bounded(void **state)
{
    (void)state;
    prom_t *p = prom_new();
    const char *labels[] = {"reason"};
    prom_family_t *f =
        prom_family(p, PROM_COUNTER, "drover_refused_total", "R.", labels, 1, NULL, 0);
    char v[32];
    for (int i = 0; i < PROM_MAX_CHILDREN + 50; i++) {
        snprintf(v, sizeof v, "r%d", i);
        prom_inc(prom_child(f, v, NULL), 1);
    }
    char longv[300];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    prom_metric_t *o = prom_child(f, longv, NULL);
    assert_ptr_equal(o, prom_child(f, "brand new", NULL)); /* both are "other" */
    assert_true(prom_value(o) == 50.0);
    char *text = prom_render(p, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "drover_refused_total{reason=\"other\"} 50\n"));
    assert_non_null(strstr(text, "drover_refused_total{reason=\"r63\"} 1\n"));
    assert_null(strstr(text, "r64\""));
    free(text);
    prom_destroy(&p);

    p = prom_new();
    f = prom_family(p, PROM_COUNTER, "drover_x_total", "X.", labels, 1, NULL, 0);
    prom_inc(prom_child(f, "bad\xff\xfe", NULL), 1);
    memset(longv, 'y', sizeof longv - 1);
    memcpy(longv + PROM_LABEL_MAX - 2, "\xc3\xa9", 2); /* a 2-byte character across the cut */
    prom_inc(prom_child(f, longv, NULL), 1);
    text = prom_render(p, NULL);
    assert_non_null(strstr(text, "reason=\"bad??\""));
    char *q = strstr(text, "reason=\"yyy");
    assert_non_null(q);
    char *end = strchr(q + 8, '"');
    assert_int_equal((size_t)(end - (q + 8)), PROM_LABEL_MAX - 2); /* cut before the é */
    free(text);
    prom_destroy(&p);
}

/* One HTTP GET over loopback; returns the status and copies the body. */
static int s_get(int port, const char *path, char *body, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n)
        return -1;
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    buf[len] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, cap, "%s", b ? b + 4 : "");
    return status;
}

/* A free loopback port: bind 0 and read it back. */
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void t_http(void **state)
{
    (void)state;
    char err[256], body[4096], ep[64];
    prom_t *p = prom_new();
    prom_inc(prom_counter(p, "drover_hits_total", "Hits."), 7);
    assert_null(metricsd_start("nonsense", p, err, sizeof err));
    assert_non_null(strstr(err, "HOST:PORT"));
    assert_null(metricsd_start("127.0.0.1:0", p, err, sizeof err));
    int port = s_free_port();
    assert_true(port > 0);
    snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
    metricsd_t *m = metricsd_start(ep, p, err, sizeof err);
    assert_non_null(m);
    assert_null(metricsd_start(ep, p, err, sizeof err)); /* port taken: a clear error */
    assert_non_null(strstr(err, "port in use"));
    assert_int_equal(s_get(port, "/metrics", body, sizeof body), 200);
    assert_non_null(strstr(body, "drover_hits_total 7\n"));
    assert_int_equal(s_get(port, "/healthz", body, sizeof body), 200);
    assert_int_equal(s_get(port, "/readyz", body, sizeof body), 503);
    assert_string_equal(body, "not ready: starting\n");
    metricsd_ready(m, "standing by");
    assert_int_equal(s_get(port, "/readyz", body, sizeof body), 503);
    assert_string_equal(body, "not ready: standing by\n");
    metricsd_ready(m, NULL);
    assert_int_equal(s_get(port, "/readyz", body, sizeof body), 200);
    assert_int_equal(s_get(port, "/nope", body, sizeof body), 404);
    metricsd_stop(&m);
    assert_null(m);
    metricsd_stop(&m);
    assert_int_equal(s_get(port, "/healthz", body, sizeof body), -1); /* stopped */
    prom_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_names_refused),
        cmocka_unit_test(t_render),
        cmocka_unit_test(t_children_bounded),
        cmocka_unit_test(t_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
