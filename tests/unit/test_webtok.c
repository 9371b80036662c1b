/* test_webtok — unit tests of coordinator/webtok.c, the coordinator's
 * in-memory table of web sign-in tokens, against a fake store (the three
 * store_webtoken* calls below): tokens made resolve to their key and
 * nothing else does; a revoked or expired token resolves to nothing; the
 * bounds (per key, expired tokens not counted); a table churned through
 * many creates and revokes (tombstones, rehashes) still finds every live
 * token; a load replaces the table. */
/* cmocka.h needs these first; a blank line keeps clang-format from
 * sorting it above them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sha256.h"
#include "webtok.h"

/* ------------------------------------------------------- fake store --- */

#define NOW_US  ((int64_t)1700000000 * 1000000)
#define MAXROWS 4096

static struct {
    int64_t next_id;
    int fail; /* the next insert fails (a database error) */
    struct {
        char hex[SHA256_HEX_LEN + 1];
        char key[64];
        int64_t expires_us;
        int revoked;
    } rows[MAXROWS];
} s_db;

int store_webtokens_load(store_t *st, store_webtok_f fn, void *ctx)
{
    (void)st;
    for (int64_t i = 1; i < s_db.next_id; i++)
        if (!s_db.rows[i].revoked && s_db.rows[i].expires_us > NOW_US &&
            fn(ctx, i, s_db.rows[i].hex, s_db.rows[i].key, s_db.rows[i].expires_us) < 0)
            return -1;
    return 0;
}

int store_webtoken_insert(store_t *st, const char *sha256_hex, const char *key, const char *by,
                          int64_t ttl_s, int64_t *id, int64_t *expires_us)
{
    (void)st;
    (void)by;
    if (s_db.fail || s_db.next_id >= MAXROWS) {
        s_db.fail = 0;
        return -1;
    }
    int64_t i = s_db.next_id++;
    snprintf(s_db.rows[i].hex, sizeof s_db.rows[i].hex, "%s", sha256_hex);
    snprintf(s_db.rows[i].key, sizeof s_db.rows[i].key, "%s", key);
    s_db.rows[i].expires_us = NOW_US + ttl_s * 1000000;
    *id = i;
    *expires_us = s_db.rows[i].expires_us;
    return 0;
}

int store_webtoken_revoke(store_t *st, int64_t id, const char *by)
{
    (void)st;
    (void)by;
    if (id < 1 || id >= s_db.next_id || s_db.rows[id].revoked)
        return 0;
    s_db.rows[id].revoked = 1;
    return 1;
}

static int s_setup(void **state)
{
    (void)state;
    memset(&s_db, 0, sizeof s_db);
    s_db.next_id = 1;
    return 0;
}

/* -------------------------------------------------------------- tests --- */

static int64_t s_make(webtok_t *w, const char *key, int64_t ttl_s, char *tok)
{
    int64_t id = 0, exp = 0;
    char msg[300];
    int rc = webtok_create(w, NULL, key, ttl_s, "admin", NOW_US, tok, &id, &exp, msg, sizeof msg);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(tok), WEBTOK_TEXT_LEN);
    assert_int_equal(exp, NOW_US + ttl_s * 1000000);
    return id;
}

static void t_resolve(void **state)
{
    (void)state;
    webtok_t *w = webtok_new();
    assert_non_null(w);
    char a[WEBTOK_TEXT_LEN + 1], b[WEBTOK_TEXT_LEN + 1];
    int64_t ida = s_make(w, "alice", 3600, a);
    s_make(w, "bob", 60, b);
    assert_int_equal(webtok_count(w), 2);
    assert_string_equal(webtok_resolve(w, a, NOW_US), "alice");
    assert_string_equal(webtok_resolve(w, b, NOW_US), "bob");
    /* Not tokens: wrong shape, upper case, one digit off, cut short. */
    char near[WEBTOK_TEXT_LEN + 1];
    memcpy(near, a, sizeof near);
    near[WEBTOK_TEXT_LEN - 1] = near[WEBTOK_TEXT_LEN - 1] == '0' ? '1' : '0';
    const char *bad[] = {NULL, "", "drw_", "not-a-token", near, "DRW_" /* prefix */};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_null(webtok_resolve(w, bad[i], NOW_US));
    char cut[WEBTOK_TEXT_LEN];
    memcpy(cut, a, sizeof cut - 1);
    cut[sizeof cut - 1] = '\0';
    assert_null(webtok_resolve(w, cut, NOW_US));
    char upper[WEBTOK_TEXT_LEN + 1];
    memcpy(upper, a, sizeof upper);
    for (char *p = upper + 4; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    if (strcmp(upper, a) != 0)
        assert_null(webtok_resolve(w, upper, NOW_US));
    /* Expiry: bob's token (60 s) is gone at its expiry, alice's is not. */
    assert_null(webtok_resolve(w, b, NOW_US + 60 * 1000000));
    assert_string_equal(webtok_resolve(w, a, NOW_US + 60 * 1000000), "alice");
    /* Revoke: at once; a second revoke and an unknown id are refused. */
    char msg[300];
    assert_int_equal(webtok_revoke(w, NULL, ida, "admin", msg, sizeof msg), 0);
    assert_null(webtok_resolve(w, a, NOW_US));
    assert_int_equal(webtok_revoke(w, NULL, ida, "admin", msg, sizeof msg), 1);
    assert_int_equal(webtok_revoke(w, NULL, 999, "admin", msg, sizeof msg), 1);
    assert_int_equal(webtok_count(w), 1);
    /* A database error makes no token. */
    char c[WEBTOK_TEXT_LEN + 1];
    int64_t id, exp;
    s_db.fail = 1;
    assert_int_equal(
        webtok_create(w, NULL, "carol", 60, "admin", NOW_US, c, &id, &exp, msg, sizeof msg), -1);
    assert_int_equal(webtok_count(w), 1);
    webtok_destroy(&w);
    assert_null(w);
    webtok_destroy(&w); /* NULL-safe */
}

static void t_per_key_bound(void **state)
{
    (void)state;
    webtok_t *w = webtok_new();
    char tok[WEBTOK_PER_KEY_MAX + 1][WEBTOK_TEXT_LEN + 1], msg[300];
    int64_t ids[WEBTOK_PER_KEY_MAX], id, exp;
    /* One short-lived token that expires before the others are made. */
    char old[WEBTOK_TEXT_LEN + 1];
    s_make(w, "alice", 1, old);
    for (int i = 0; i < WEBTOK_PER_KEY_MAX; i++) {
        assert_int_equal(webtok_create(w, NULL, "alice", 600, "admin", NOW_US + 2000000, tok[i],
                                       &ids[i], &exp, msg, sizeof msg),
                         0);
    }
    /* The expired one was dropped: it counted toward neither bound. */
    assert_int_equal(webtok_count(w), WEBTOK_PER_KEY_MAX);
    assert_int_equal(webtok_create(w, NULL, "alice", 600, "admin", NOW_US + 2000000,
                                   tok[WEBTOK_PER_KEY_MAX], &id, &exp, msg, sizeof msg),
                     1);
    assert_non_null(strstr(msg, "the most for one key"));
    /* Another key is not held back by alice's. */
    char b[WEBTOK_TEXT_LEN + 1];
    assert_int_equal(webtok_create(w, NULL, "bob", 600, "admin", NOW_US + 2000000, b, &id, &exp,
                                   msg, sizeof msg),
                     0);
    /* A revoke frees a place. */
    assert_int_equal(webtok_revoke(w, NULL, ids[0], "admin", msg, sizeof msg), 0);
    assert_int_equal(webtok_create(w, NULL, "alice", 600, "admin", NOW_US + 2000000,
                                   tok[WEBTOK_PER_KEY_MAX], &id, &exp, msg, sizeof msg),
                     0);
    for (int i = 1; i <= WEBTOK_PER_KEY_MAX; i++)
        assert_string_equal(webtok_resolve(w, tok[i], NOW_US + 2000000), "alice");
    webtok_destroy(&w);
}

/* Many creates and revokes: tombstones fill the table and rehashes drop
 * them; every live token must still be found, every revoked one not. */
static void t_churn_and_load(void **state)
{
    (void)state;
    webtok_t *w = webtok_new();
    enum { N = 1500 };
    static char tok[N][WEBTOK_TEXT_LEN + 1];
    static int64_t ids[N];
    char key[32], msg[300];
    int64_t exp;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i % 100);
        assert_int_equal(webtok_create(w, NULL, key, 600, "admin", NOW_US, tok[i], &ids[i], &exp,
                                       msg, sizeof msg),
                         0);
        if (i % 3 != 0) /* two of three revoked right after the next one */
            continue;
        if (i > 0)
            assert_int_equal(webtok_revoke(w, NULL, ids[i - 1], "admin", msg, sizeof msg), 0);
    }
    size_t live = 0;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i % 100);
        const char *k = webtok_resolve(w, tok[i], NOW_US);
        int revoked = i % 3 == 2 && i + 1 < N;
        if (revoked) {
            assert_null(k);
        } else {
            assert_non_null(k);
            assert_string_equal(k, key);
            live++;
        }
    }
    assert_int_equal(webtok_count(w), live);
    /* A load makes the same table from the database. */
    webtok_t *w2 = webtok_new();
    assert_int_equal(webtok_load(w2, NULL), 0);
    assert_int_equal(webtok_count(w2), live);
    for (int i = 0; i < N; i++)
        assert_true((webtok_resolve(w, tok[i], NOW_US) == NULL) ==
                    (webtok_resolve(w2, tok[i], NOW_US) == NULL));
    webtok_destroy(&w);
    webtok_destroy(&w2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(t_resolve, s_setup),
        cmocka_unit_test_setup(t_per_key_bound, s_setup),
        cmocka_unit_test_setup(t_churn_and_load, s_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
