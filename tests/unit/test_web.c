/* test_web — unit tests of drover-web's pieces that need no server:
 * web/session.c (ids and CSRF tokens, lookup, the per-session rate bucket,
 * the bound on sessions, expiry, sign-out, ending every session of a
 * token) and web/csrf.c (the Origin, token and content-type rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <time.h>

#include "csrf.h"
#include "session.h"

static void t_create_get(void **state)
{
    (void)state;
    sessions_t *ss = sessions_new(4, 3600, 5);
    assert_non_null(ss);
    session_t a, b, got;
    assert_int_equal(sessions_create(ss, "drw_tokA", "alice", "reader", 1, &a), 0);
    assert_int_equal(sessions_create(ss, "drw_tokB", "bob", "admin", 0, &b), 0);
    assert_int_equal(strlen(a.id), SESSION_ID_LEN);
    assert_int_equal(strlen(a.csrf), SESSION_ID_LEN);
    assert_string_not_equal(a.id, b.id);
    assert_string_not_equal(a.id, a.csrf);
    assert_int_equal(sessions_get(ss, a.id, &got, NULL), 0);
    assert_string_equal(got.user, "alice");
    assert_string_equal(got.token, "drw_tokA");
    assert_string_equal(got.csrf, a.csrf);
    assert_true(got.approver);
    /* Unknown, cut or empty ids find nothing. */
    errno = 0;
    assert_int_equal(sessions_get(ss, "nope", &got, NULL), -1);
    assert_int_equal(errno, ENOENT);
    char cut[SESSION_ID_LEN + 1];
    memcpy(cut, a.id, SESSION_ID_LEN - 1);
    cut[SESSION_ID_LEN - 1] = '\0';
    assert_int_equal(sessions_get(ss, cut, &got, NULL), -1);
    assert_int_equal(sessions_get(ss, "", &got, NULL), -1);
    sessions_update(ss, a.id, "submitter", 0);
    assert_int_equal(sessions_get(ss, a.id, &got, NULL), 0);
    assert_string_equal(got.role, "submitter");
    assert_false(got.approver);
    assert_int_equal(sessions_count(ss), 2);
    sessions_destroy(&ss);
    assert_null(ss);
    sessions_destroy(&ss); /* NULL-safe */
}

static void t_bound_and_drop(void **state)
{
    (void)state;
    sessions_t *ss = sessions_new(2, 3600, 5);
    session_t a, b, c, got;
    assert_int_equal(sessions_create(ss, "drw_t1", "u1", "reader", 0, &a), 0);
    assert_int_equal(sessions_create(ss, "drw_t2", "u2", "reader", 0, &b), 0);
    errno = 0;
    assert_int_equal(sessions_create(ss, "drw_t3", "u3", "reader", 0, &c), -1);
    assert_int_equal(errno, ENOSPC);
    sessions_drop(ss, a.id);
    assert_int_equal(sessions_get(ss, a.id, &got, NULL), -1);
    assert_int_equal(sessions_create(ss, "drw_t2", "u2", "reader", 0, &c), 0);
    /* Both sessions of token t2 end together (a revoked token). */
    sessions_drop_token(ss, "drw_t2");
    assert_int_equal(sessions_get(ss, b.id, &got, NULL), -1);
    assert_int_equal(sessions_get(ss, c.id, &got, NULL), -1);
    assert_int_equal(sessions_count(ss), 0);
    sessions_destroy(&ss);
}

static void t_rate(void **state)
{
    (void)state;
    sessions_t *ss = sessions_new(2, 3600, 3); /* 3/s, burst 6 */
    session_t a, got;
    assert_int_equal(sessions_create(ss, "drw_t", "u", "reader", 0, &a), 0);
    int ok = 0, refused = 0;
    for (int i = 0; i < 100; i++) {
        int r;
        assert_int_equal(sessions_get(ss, a.id, &got, &r), 0);
        ok += r;
        refused += !r;
    }
    /* The burst passes (plus what refills while the loop runs: nothing on
     * any machine that runs 100 lookups in well under 10 s), the rest not. */
    assert_true(ok >= 6);
    assert_true(refused >= 70);
    sessions_destroy(&ss);
}

static void t_expiry(void **state)
{
    (void)state;
    sessions_t *ss = sessions_new(2, 1, 5); /* one second */
    session_t a, got;
    assert_int_equal(sessions_create(ss, "drw_t", "u", "reader", 0, &a), 0);
    assert_int_equal(sessions_get(ss, a.id, &got, NULL), 0);
    struct timespec ts = {1, 100 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(sessions_get(ss, a.id, &got, NULL), -1);
    assert_int_equal(sessions_count(ss), 0);
    sessions_destroy(&ss);
}

static void t_equal(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        int eq;
    } cases[] = {{"", "", 1},      {"abc", "abc", 1}, {"abc", "abd", 0},
                 {"abc", "ab", 0}, {"ab", "abc", 0},  {"", "a", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(sessions_equal(cases[i].a, cases[i].b), cases[i].eq);
}

static void t_csrf(void **state)
{
    (void)state;
    static const struct {
        const char *origin, *host;
        int ok;
    } origins[] = {
        {NULL, "127.0.0.1:7480", 1}, /* no Origin: not a cross-site browser */
        {NULL, NULL, 1},
        {"http://127.0.0.1:7480", "127.0.0.1:7480", 1},
        {"https://drover.example.com", "drover.example.com", 1},
        {"http://evil.example", "127.0.0.1:7480", 0},
        {"http://127.0.0.1:7481", "127.0.0.1:7480", 0}, /* another port is another origin */
        {"http://127.0.0.1:7480.evil", "127.0.0.1:7480", 0},
        {"null", "127.0.0.1:7480", 0}, /* sandboxed frames, file: pages */
        {"ftp://127.0.0.1:7480", "127.0.0.1:7480", 0},
        {"http://127.0.0.1:7480", NULL, 0},
    };
    for (size_t i = 0; i < sizeof origins / sizeof origins[0]; i++)
        assert_int_equal(csrf_origin(origins[i].origin, origins[i].host) == NULL, origins[i].ok);
    assert_null(csrf_token("abc", "abc"));
    assert_string_equal(csrf_token(NULL, "abc"), "CSRF token missing or wrong");
    assert_non_null(csrf_token("abd", "abc"));
    assert_non_null(csrf_token("", "")); /* no session token: nothing matches */
    assert_non_null(csrf_token("abc", NULL));
    assert_null(csrf_signin_type("application/json"));
    assert_null(csrf_signin_type("application/json; charset=utf-8"));
    assert_non_null(csrf_signin_type("text/plain"));
    assert_non_null(csrf_signin_type("application/x-www-form-urlencoded"));
    assert_non_null(csrf_signin_type(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_create_get), cmocka_unit_test(t_bound_and_drop),
        cmocka_unit_test(t_rate),       cmocka_unit_test(t_expiry),
        cmocka_unit_test(t_equal),      cmocka_unit_test(t_csrf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
