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
    0.7f, 0.2f, 0.1f,   /* pred 0, p[y]=0.7 */
    0.1f, 0.8f, 0.1f,   /* pred 1, p[y]=0.8 */
    0.2f, 0.5f, 0.3f,   /* pred 1, p[y]=0.3 */
    0.1f, 0.1f, 0.8f,   /* pred 2, p[y]=0.8 */
    0.0f, 0.4f, 0.6f,   /* pred 2, p[y]=0.6 */
    0.5f, 0.0f, 0.5f,   /* pred 0 (tie -> first), p[y]=0 -> clipped */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_macro_f1_absent_class),
        cmocka_unit_test(test_regression),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
