/* metrics — see metrics.h for the definitions. Sums are in double so the
 * figures do not depend on n's magnitude; labels are assumed in range by
 * the scalar functions (the JSON helpers check them). */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static size_t s_argmax(const float *p, size_t k)
{
    size_t a = 0;
    for (size_t j = 1; j < k; j++)
        if (p[j] > p[a])
            a = j;
    return a;
}

double metrics_accuracy(const int32_t *y, const float *proba, size_t n, size_t k)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += s_argmax(proba + i * k, k) == (size_t)y[i];
    return n ? (double)ok / (double)n : NAN;
}

void metrics_confusion(const int32_t *y, const float *proba, size_t n, size_t k, uint64_t *cm)
{
    for (size_t i = 0; i < k * k; i++)
        cm[i] = 0;
    for (size_t i = 0; i < n; i++)
        cm[(size_t)y[i] * k + s_argmax(proba + i * k, k)]++;
}

static double s_macro_f1_cm(const uint64_t *cm, size_t k)
{
    double sum = 0;
    size_t cls = 0;
    for (size_t c = 0; c < k; c++) {
        uint64_t tp = cm[c * k + c], fp = 0, fn = 0;
        for (size_t j = 0; j < k; j++)
            if (j != c) {
                fn += cm[c * k + j];
                fp += cm[j * k + c];
            }
        if (tp + fp + fn == 0)
            continue; /* class absent from truth and predictions */
        sum += 2.0 * (double)tp / (2.0 * (double)tp + (double)fp + (double)fn);
        cls++;
    }
    return cls ? sum / (double)cls : NAN;
}

double metrics_macro_f1(const int32_t *y, const float *proba, size_t n, size_t k)
{
    uint64_t *cm = malloc(k * k * sizeof *cm);
    if (!cm)
        return NAN;
    metrics_confusion(y, proba, n, k, cm);
    double f = s_macro_f1_cm(cm, k);
    free(cm);
    return f;
}

double metrics_log_loss(const int32_t *y, const float *proba, size_t n, size_t k)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double p = proba[i * k + (size_t)y[i]];
        if (!(p >= 1e-15)) /* also catches NaN */
            p = 1e-15;
        if (p > 1 - 1e-15)
            p = 1 - 1e-15;
        s -= log(p);
    }
    return n ? s / (double)n : NAN;
}

double metrics_rmse(const float *y, const float *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double r = (double)p[i] - y[i];
        s += r * r;
    }
    return n ? sqrt(s / (double)n) : NAN;
}

double metrics_mae(const float *y, const float *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += fabs((double)p[i] - y[i]);
    return n ? s / (double)n : NAN;
}

double metrics_r2(const float *y, const float *p, size_t n)
{
    if (!n)
        return NAN;
    double mean = 0, res = 0, tot = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double r = (double)y[i] - p[i], t = (double)y[i] - mean;
        res += r * r;
        tot += t * t;
    }
    if (tot == 0)
        return res == 0 ? 1.0 : 0.0;
    return 1.0 - res / tot;
}

json_t *metrics_classification(const int32_t *y, const float *proba, size_t n, size_t k, char *err,
                               size_t errlen)
{
    if (n == 0 || k < 2) {
        snprintf(err, errlen, "classification metrics need rows and >= 2 classes");
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= k) {
            snprintf(err, errlen, "row %zu has class id %d, outside 0..%zu", i + 1, y[i], k - 1);
            errno = EINVAL;
            return NULL;
        }
    uint64_t *cm = malloc(k * k * sizeof *cm);
    json_t *o = json_object(), *rows = json_array();
    if (!cm || !o || !rows)
        goto oom;
    metrics_confusion(y, proba, n, k, cm);
    for (size_t c = 0; c < k; c++) {
        json_t *r = json_array();
        if (!r || json_array_append_new(rows, r))
            goto oom;
        for (size_t j = 0; j < k; j++)
            if (json_array_append_new(r, json_integer((json_int_t)cm[c * k + j])))
                goto oom;
    }
    int bad = json_object_set_new(o, "confusion_matrix", rows);
    rows = NULL; /* set_new consumes it, even on failure */
    if (bad || json_object_set_new(o, "n", json_integer((json_int_t)n)) ||
        json_object_set_new(o, "accuracy", json_real(metrics_accuracy(y, proba, n, k))) ||
        json_object_set_new(o, "macro_f1", json_real(s_macro_f1_cm(cm, k))) ||
        json_object_set_new(o, "log_loss", json_real(metrics_log_loss(y, proba, n, k))))
        goto oom;
    free(cm);
    return o;
oom:
    free(cm);
    json_decref(rows);
    json_decref(o);
    snprintf(err, errlen, "out of memory building metrics");
    errno = ENOMEM;
    return NULL;
}

json_t *metrics_regression(const float *y, const float *p, size_t n, char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "regression metrics need rows");
        errno = EINVAL;
        return NULL;
    }
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "n", json_integer((json_int_t)n)) ||
        json_object_set_new(o, "rmse", json_real(metrics_rmse(y, p, n))) ||
        json_object_set_new(o, "mae", json_real(metrics_mae(y, p, n))) ||
        json_object_set_new(o, "r2", json_real(metrics_r2(y, p, n)))) {
        json_decref(o);
        snprintf(err, errlen, "out of memory building metrics");
        errno = ENOMEM;
        return NULL;
    }
    return o;
}

double metrics_mcnemar_exact(uint64_t b, uint64_t c)
{
    uint64_t n = b + c, m = b < c ? b : c;
    if (n == 0)
        return 1.0;
    /* P(X <= m) = sum_{i=0}^{m} C(n, i) / 2^n, summed from the largest term
     * down (i = m) so small terms add to an accurate total. */
    double ln2n = (double)n * log(2.0), lgn = lgamma((double)n + 1.0), sum = 0.0;
    for (uint64_t i = m + 1; i-- > 0;) {
        double t = exp(lgn - lgamma((double)i + 1.0) - lgamma((double)(n - i) + 1.0) - ln2n);
        sum += t;
        if (t < sum * 1e-17)
            break; /* the rest cannot change the double */
    }
    double p = 2.0 * sum;
    return p > 1.0 ? 1.0 : p;
}
