/* test_rowparse — unit tests of drover-serve's request fast path
 * (serve/rowparse.c: what it accepts, and that every number comes out as
 * the full JSON parser's decimal -> double -> float gives it) and of its
 * bearer tokens (serve/tokens.c: the file's mode and format, matching). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytebuf.h"
#include "mlmodel.h"
#include "numfmt.h"
#include "rowparse.h"
#include "tokens.h"

static mlmodel_t *s_model(uint32_t impute)
{
    char err[256];
    mlmodel_t *m = mlmodel_create(MLMODEL_SOFTMAX, 3, 2, 0, NULL, err, sizeof err);
    assert_non_null(m);
    const char *names[] = {"a", "bb", "c"};
    assert_int_equal(mlmodel_set_feature_names(m, names), 0);
    if (impute) {
        const float fill[] = {1, 2, 3};
        assert_int_equal(mlmodel_set_impute(m, MLMODEL_IMPUTE_MEAN, fill), 0);
    }
    return m;
}

static void t_accepts(void **state)
{
    (void)state;
    mlmodel_t *m = s_model(0);
    static const struct {
        const char *body;
        size_t n;
        int many;
        float x[6];
    } ok[] = {
        {"{\"row\":{\"a\":1,\"bb\":2,\"c\":3}}", 1, 0, {1, 2, 3}},
        {" {\"row\" : { \"c\" : -0.5 , \"a\" : 1e2, \"bb\" : 2.5E-1 } } \n",
         1,
         0,
         {100, 0.25f, -0.5f}},
        {"{\"rows\":[{\"a\":1,\"bb\":2,\"c\":3},{\"bb\":5,\"c\":6,\"a\":4}]}",
         2,
         1,
         {1, 2, 3, 4, 5, 6}},
        {"{\"row\":{\"a\":-0,\"bb\":0.0,\"c\":123456789012345678}}",
         1,
         0,
         {0, 0, 123456789012345678.0f}},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        float *X = NULL;
        size_t n = 0;
        int many = -1;
        assert_int_equal(rowparse(m, ok[i].body, strlen(ok[i].body), 10, &X, &n, &many), 0);
        assert_int_equal(n, ok[i].n);
        assert_int_equal(many, ok[i].many);
        for (size_t j = 0; j < n * 3; j++)
            assert_memory_equal(&X[j], &ok[i].x[j], sizeof(float)); /* bits: -0 is 0 */
        free(X);
    }
    mlmodel_destroy(&m);
}

/* Everything the full parser must judge (and explain) is left to it. */
static void t_leaves_to_full_parser(void **state)
{
    (void)state;
    mlmodel_t *m = s_model(0), *mi = s_model(1);
    static const char *const bad[] = {
        "",
        "{}",
        "[]",
        "{\"row\":{\"a\":1,\"bb\":2}}",                 /* missing column */
        "{\"row\":{\"a\":1,\"bb\":2,\"c\":3,\"d\":4}}", /* extra column */
        "{\"row\":{\"a\":1,\"a\":1,\"bb\":2,\"c\":3}}", /* duplicate */
        "{\"row\":{\"a\":\"1\",\"bb\":2,\"c\":3}}",     /* string value */
        "{\"row\":{\"a\":true,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":null,\"bb\":2,\"c\":3}}", /* null without imputation */
        "{\"row\":{\"a\":01,\"bb\":2,\"c\":3}}",   /* not JSON numbers */
        "{\"row\":{\"a\":+1,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":.5,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":1.,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":1e,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":NaN,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":0x10,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":1e39,\"bb\":2,\"c\":3}}",                 /* beyond float32 */
        "{\"row\":{\"a\":12345678901234567890,\"bb\":2,\"c\":3}}", /* beyond int64 */
        "{\"row\":{\"\\u0061\":1,\"bb\":2,\"c\":3}}",              /* an escape */
        "{\"row\":{\"a\":1,\"bb\":2,\"c\":3}} x",
        "{\"row\":{\"a\":1,\"bb\":2,\"c\":3}",
        "{\"row\":{\"a\":1,\"bb\":2,\"c\":3},}",
        "{\"rows\":[]}",
        "{\"rows\":[{\"a\":1,\"bb\":2,\"c\":3},]}",
        "{\"rows\":{\"a\":1,\"bb\":2,\"c\":3}}",
        "{\"row\":{\"a\":1,\"bb\":2,\"c\":3},\"rows\":[]}",
        "{\"other\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float *X = (float *)&bad; /* must stay untouched */
        size_t n = 99;
        int many = 7;
        if (rowparse(m, bad[i], strlen(bad[i]), 10, &X, &n, &many) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_ptr_equal(X, &bad);
    }
    /* null with an imputation policy is NaN (imputed later, logged as null) */
    const char *nb = "{\"row\":{\"a\":null,\"bb\":2,\"c\":3}}";
    float *X = NULL;
    size_t n;
    int many;
    assert_int_equal(rowparse(mi, nb, strlen(nb), 10, &X, &n, &many), 0);
    assert_true(isnan(X[0]));
    free(X);
    /* max_rows: one more is left to the full parser (which answers 413) */
    const char *two = "{\"rows\":[{\"a\":1,\"bb\":2,\"c\":3},{\"a\":1,\"bb\":2,\"c\":3}]}";
    assert_int_equal(rowparse(m, two, strlen(two), 1, &X, &n, &many), -1);
    assert_int_equal(rowparse(m, two, strlen(two), 2, &X, &n, &many), 0);
    free(X);
    mlmodel_destroy(&m);
    mlmodel_destroy(&mi);
}

/* Random float32 values written in many ways read back exactly as strtod
 * then a float cast reads them (what the full parser does). */
static void t_numbers_as_strtod(void **state)
{
    (void)state;
    mlmodel_t *m = s_model(0);
    srand(11);
    for (int i = 0; i < 200000; i++) {
        uint32_t u = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
        float f;
        memcpy(&f, &u, sizeof f);
        if (!isfinite(f) || fabsf(f) > 1e15f)
            f = (float)(rand() % 100000) / 7.0f;
        char num[64], body[128];
        double d = (double)f;
        switch (i % 7) { /* the ways clients write numbers */
        case 0: snprintf(num, sizeof num, "%.9g", d); break;
        case 1: snprintf(num, sizeof num, "%g", d); break;
        case 2: snprintf(num, sizeof num, "%.3f", d); break;
        case 3: snprintf(num, sizeof num, "%.17g", d); break;
        case 4: snprintf(num, sizeof num, "%e", d); break;
        case 5: snprintf(num, sizeof num, "%.12E", d); break;
        default: snprintf(num, sizeof num, "%.0f", d); break;
        }
        if (strchr(num, 'i') || strchr(num, 'n'))
            continue;
        snprintf(body, sizeof body, "{\"row\":{\"a\":%s,\"bb\":0,\"c\":0}}", num);
        float *X = NULL;
        size_t n;
        int many;
        float want = (float)strtod(num, NULL);
        int rc = rowparse(m, body, strlen(body), 1, &X, &n, &many);
        if (!isfinite(want)) {
            assert_int_equal(rc, -1);
            continue;
        }
        if (rc != 0)
            fail_msg("refused %s", num);
        if (want == 0)
            want = 0; /* -0: the full parser reads an integer -0 as 0 */
        if (memcmp(&X[0], &want, sizeof want) && !(want == 0 && X[0] == 0))
            fail_msg("%s read as %.9g, strtod gives %.9g", num, (double)X[0], (double)want);
        free(X);
    }
    mlmodel_destroy(&m);
}

/* numfmt: 9 digits give back the same float32, as valid JSON numbers. */
static void t_numfmt(void **state)
{
    (void)state;
    static const struct {
        double v;
        int digits;
        const char *text;
    } fixed[] = {{0, 9, "0"},
                 {1, 9, "1"},
                 {-1, 9, "-1"},
                 {4.1234f, 9, "4.12340021"},
                 {100, 9, "100"},
                 {1e10, 9, "1e10"},
                 {1.5e-7, 9, "1.5e-7"},
                 {0.000125, 9, "0.000125"},
                 {0.123456789, 6, "0.123457"},
                 {9.9999999996, 9, "10"},
                 {NAN, 9, "null"},
                 {INFINITY, 9, "null"},
                 {123456789, 9, "123456789"},
                 {-2.5e-300, 9, "-2.5e-300"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        bytebuf_t b = {0};
        numfmt_put(&b, fixed[i].v, fixed[i].digits);
        bytebuf_put(&b, "", 1);
        assert_false(b.oom);
        assert_string_equal((char *)b.p, fixed[i].text);
        free(b.p);
    }
    srand(5);
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = ((uint32_t)rand() << 16) ^ (uint32_t)rand();
        float f;
        memcpy(&f, &u, sizeof f);
        if (!isfinite(f))
            continue;
        bytebuf_t b = {0};
        numfmt_put(&b, f, 9);
        bytebuf_put(&b, "", 1);
        char *end;
        float g = strtof((char *)b.p, &end);
        if (g != f || *end)
            fail_msg("%.9g written as %s", (double)f, (char *)b.p);
        free(b.p);
    }
}

static void t_tokens(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_rowparse.XXXXXX", path[256], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tokens", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# comment\n\nalice 0123456789abcdef0123\nbob   fedcba9876543210fedc\n");
    fclose(f);
    chmod(path, 0644);
    assert_null(tokens_load(path, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
    chmod(path, 0600);
    tokens_t *t = tokens_load(path, err, sizeof err);
    assert_non_null(t);
    assert_string_equal(tokens_check(t, "0123456789abcdef0123", 20), "alice");
    assert_string_equal(tokens_check(t, "fedcba9876543210fedc", 20), "bob");
    assert_null(tokens_check(t, "0123456789abcdef012", 19));   /* a prefix */
    assert_null(tokens_check(t, "0123456789abcdef01234", 21)); /* longer */
    assert_null(tokens_check(t, "", 0));
    tokens_destroy(&t);
    assert_null(t);
    f = fopen(path, "w");
    fprintf(f, "alice short\n");
    fclose(f);
    assert_null(tokens_load(path, err, sizeof err));
    assert_non_null(strstr(err, ":1: expected NAME TOKEN"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_accepts),
        cmocka_unit_test(t_leaves_to_full_parser),
        cmocka_unit_test(t_numbers_as_strtod),
        cmocka_unit_test(t_numfmt),
        cmocka_unit_test(t_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
