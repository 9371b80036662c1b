/* metrics — evaluation metrics for the evaluate task kind and the trainers.
 *
 * Classification works on predicted class probabilities (n x k, as
 * mlmodel_predict returns); the predicted class is the argmax (first on
 * ties). Regression works on predicted values. Pure functions over caller
 * arrays; the *_classification / *_regression helpers bundle the figures
 * into a jansson object the caller owns (json_decref).
 *
 * Definitions (also in docs/training.md):
 *   accuracy  = correct / n
 *   macro_f1  = mean over classes that occur in y_true or in the
 *               predictions of 2 TP / (2 TP + FP + FN)
 *   log_loss  = -mean ln(clip(p[y_true], 1e-15, 1 - 1e-15))
 *   confusion = k x k counts, row = true class, column = predicted
 *   rmse      = sqrt(mean (pred - y)^2); mae = mean |pred - y|
 *   r2        = 1 - SS_res / SS_tot (SS_tot = 0: 1 if SS_res = 0, else 0)
 */
#ifndef DROVER_METRICS_H
#define DROVER_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

double metrics_accuracy(const int32_t *y_true, const float *proba, size_t n, size_t k);
double metrics_macro_f1(const int32_t *y_true, const float *proba, size_t n, size_t k);
double metrics_log_loss(const int32_t *y_true, const float *proba, size_t n, size_t k);
/* Fills cm[k*k] (row-major, true x predicted) with counts. */
void metrics_confusion(const int32_t *y_true, const float *proba, size_t n, size_t k, uint64_t *cm);
double metrics_rmse(const float *y_true, const float *y_pred, size_t n);
double metrics_mae(const float *y_true, const float *y_pred, size_t n);
double metrics_r2(const float *y_true, const float *y_pred, size_t n);

/* McNemar's exact test for paired classifiers on the same rows: b = rows
 * the first got right and the second wrong, c = the reverse. Under "the
 * two are equally accurate" b ~ Binomial(b + c, 1/2), and the two-sided
 * p-value is min(1, 2 * P(X <= min(b, c))) (scipy.stats.binomtest(b, b+c,
 * 0.5).pvalue). 1 when b + c = 0. Computed in log space: exact to double
 * rounding for any counts. */
double metrics_mcnemar_exact(uint64_t b, uint64_t c);

/* {"n", "accuracy", "macro_f1", "log_loss", "confusion_matrix": [[...]]}.
 * NULL + errno + text when n = 0, k < 2, a label is outside 0..k-1, or no
 * memory. */
json_t *metrics_classification(const int32_t *y_true, const float *proba, size_t n, size_t k,
                               char *err, size_t errlen);

/* {"n", "rmse", "mae", "r2"}. NULL + errno + text when n = 0 or no memory. */
json_t *metrics_regression(const float *y_true, const float *y_pred, size_t n, char *err,
                           size_t errlen);

#endif
