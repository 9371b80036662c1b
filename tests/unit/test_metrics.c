/* Unit tests for metrics: every figure on small hand-computed examples. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "metrics.h"

/* 6 rows, 3 classes. Predictions (argmax): 0,1,1,2,2,0; truth 0,1,2,2,2,1.
 * Correct: rows 0,1,3,4 -> accuracy 4/6. */
static const int32_t Y[6] = {0, 1, 2, 2, 2, 1};
static const float P[6 * 3] = {
    0.7f, 0.2f, 0.1f, /* pred 0, p[y]=0.7 */
    0.1f, 0.8f, 0.1f, /* pred 1, p[y]=0.8 */
    0.2f, 0.5f, 0.3f, /* pred 1, p[y]=0.3 */
    0.1f, 0.1f, 0.8f, /* pred 2, p[y]=0.8 */
    0.0f, 0.4f, 0.6f, /* pred 2, p[y]=0.6 */
    0.5f, 0.0f, 0.5f, /* pred 0 (tie -> first), p[y]=0 -> clipped */
};

static void test_classification(void **state)
{
    (void)state;
    assert_float_equal(metrics_accuracy(Y, P, 6, 3), 4.0 / 6, 1e-12);
    /* class 0: TP1 FP1 FN0 -> 2/3; class 1: TP1 FP1 FN1 -> 2/4;
     * class 2: TP2 FP0 FN1 -> 4/5. */
    assert_float_equal(metrics_macro_f1(Y, P, 6, 3), (2.0 / 3 + 0.5 + 0.8) / 3, 1e-9);
    double ll = -(log(0.7) + log(0.8) + log(0.3) + log(0.8) + log(0.6) + log(1e-15)) / 6;
    assert_float_equal(metrics_log_loss(Y, P, 6, 3), ll, 1e-6);
    uint64_t cm[9];
    metrics_confusion(Y, P, 6, 3, cm);
    const uint64_t want[9] = {1, 0, 0, 1, 1, 0, 0, 1, 2};
    assert_memory_equal(cm, want, sizeof want);

    char err[128];
    json_t *o = metrics_classification(Y, P, 6, 3, err, sizeof err);
    assert_non_null(o);
    assert_float_equal(json_real_value(json_object_get(o, "accuracy")), 4.0 / 6, 1e-12);
    assert_int_equal(json_integer_value(json_object_get(o, "n")), 6);
    assert_non_null(json_object_get(o, "macro_f1"));
    assert_non_null(json_object_get(o, "log_loss"));
    json_t *c = json_object_get(o, "confusion_matrix");
    assert_int_equal(json_array_size(c), 3);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(c, 2), 2)), 2);
    json_decref(o);

    const int32_t bad[2] = {0, 3};
    assert_null(metrics_classification(bad, P, 2, 3, err, sizeof err));
    assert_int_equal(errno, EINVAL);
    assert_null(metrics_classification(Y, P, 0, 3, err, sizeof err));
}

static void test_macro_f1_absent_class(void **state)
{
    (void)state;
    /* Class 2 never occurs nor is predicted: averaged over classes 0, 1. */
    const int32_t y[2] = {0, 1};
    const float p[6] = {1, 0, 0, 0, 1, 0};
    assert_float_equal(metrics_macro_f1(y, p, 2, 3), 1.0, 1e-12);
}

static void test_regression(void **state)
{
    (void)state;
    const float y[4] = {1, 2, 3, 4}, p[4] = {1, 3, 2, 4};
    assert_float_equal(metrics_rmse(y, p, 4), sqrt(0.5), 1e-9);
    assert_float_equal(metrics_mae(y, p, 4), 0.5, 1e-12);
    /* SS_res 2, SS_tot 5. */
    assert_float_equal(metrics_r2(y, p, 4), 1 - 2.0 / 5, 1e-12);
    const float c[3] = {2, 2, 2};
    assert_float_equal(metrics_r2(c, c, 3), 1.0, 0);
    assert_float_equal(metrics_r2(c, p, 3), 0.0, 0);
    char err[128];
    json_t *o = metrics_regression(y, p, 4, err, sizeof err);
    assert_non_null(o);
    assert_float_equal(json_real_value(json_object_get(o, "rmse")), sqrt(0.5), 1e-9);
    assert_float_equal(json_real_value(json_object_get(o, "mae")), 0.5, 1e-12);
    assert_float_equal(json_real_value(json_object_get(o, "r2")), 0.6, 1e-12);
    json_decref(o);
    assert_null(metrics_regression(y, p, 0, err, sizeof err));
}

/* McNemar's exact test against values computed by hand / scipy:
 *   binomtest(k, n, 0.5).pvalue = min(1, 2 * sum_{i<=min} C(n,i) / 2^n). */
static void test_mcnemar(void **state)
{
    (void)state;
    assert_float_equal(metrics_mcnemar_exact(0, 0), 1.0, 0);
    assert_float_equal(metrics_mcnemar_exact(3, 3), 1.0, 0);
    /* b=0, c=5: 2 * (1/32) = 0.0625 */
    assert_float_equal(metrics_mcnemar_exact(0, 5), 0.0625, 1e-15);
    assert_float_equal(metrics_mcnemar_exact(5, 0), 0.0625, 1e-15);
    /* b=1, c=9: 2 * (1 + 10) / 1024 = 0.021484375 */
    assert_float_equal(metrics_mcnemar_exact(1, 9), 0.021484375, 1e-14);
    /* b=2, c=8: 2 * (1 + 10 + 45) / 1024 = 0.109375 */
    assert_float_equal(metrics_mcnemar_exact(8, 2), 0.109375, 1e-14);
    /* b=4, c=6: 2 * 386 / 1024 = 0.75390625 */
    assert_float_equal(metrics_mcnemar_exact(4, 6), 0.75390625, 1e-14);
    /* b=10, c=25 (scipy.stats.binomtest(10, 35).pvalue = 0.0166738478...):
     * 2 * sum_{i<=10} C(35,i) / 2^35, summed exactly here */
    double s = 0;
    double c = 1;
    for (int i = 0; i <= 10; i++) {
        s += c;
        c = c * (35 - i) / (i + 1);
    }
    assert_float_equal(metrics_mcnemar_exact(10, 25), 2 * s / 34359738368.0, 1e-12);
    assert_true(fabs(metrics_mcnemar_exact(10, 25) - 0.0166738478001207) < 1e-13);
    /* larger counts: scipy.stats.binomtest(1000, 2400).pvalue */
    assert_float_equal(metrics_mcnemar_exact(1000, 1400) / 3.2622028367509445e-16, 1.0, 1e-9);
    /* huge counts: no overflow, no NaN (the true value underflows a double) */
    double p = metrics_mcnemar_exact(100000, 120000);
    assert_true(p >= 0 && p < 1e-40);
    assert_float_equal(metrics_mcnemar_exact(100000, 100000), 1.0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_macro_f1_absent_class),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_mcnemar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
