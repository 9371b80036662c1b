/* Unit tests for the OpenBLAS backend's host kernels (ml/blas.c) against
 * plain reference loops written here: the vectorised gather, bias + ReLU,
 * ReLU mask and Adam must give the plain loops' bits (Adam within 2 ulp,
 * for compilers that contract differently, and with subnormal moments
 * flushed to 0); the softmax's vectorised exp
 * must stay within a few ulp of glibc's expf over its whole range; and
 * dataset_alloc_matrix must give free()-able, huge-page-aligned memory.
 * OpenBLAS backend only, so the tests touch "device" buffers directly. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blas.h"
#include "dataset.h"

static uint64_t s_seed = 7;
static float s_rand(void)
{
    s_seed = s_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(s_seed >> 11) * 0x1.0p-53 * 2 - 1);
}

static blas_ctx_t *s_open(void)
{
    char err[256];
    blas_ctx_t *ctx = blas_open(0, 1, err, sizeof err);
    assert_non_null(ctx);
    return ctx;
}

static void test_gather(void **state)
{
    (void)state;
    blas_ctx_t *ctx = s_open();
    const size_t n = 300, idxn = 77;
    for (size_t d = 1; d <= 37; d += 6) {
        float *X = malloc(n * d * 4), *mean = malloc(d * 4), *inv = malloc(d * 4);
        float *ref = malloc(idxn * d * 4), *dst = blas_alloc(ctx, idxn * d);
        size_t idx[77];
        assert_true(X && mean && inv && ref && dst);
        for (size_t i = 0; i < n * d; i++)
            X[i] = s_rand() * 10;
        for (size_t j = 0; j < d; j++) {
            mean[j] = s_rand();
            inv[j] = 1.0f / (1.5f + s_rand());
        }
        for (size_t i = 0; i < idxn; i++)
            idx[i] = (size_t)((s_rand() * 0.5f + 0.5f) * (float)(n - 1));
        for (size_t i = 0; i < idxn; i++)
            for (size_t j = 0; j < d; j++)
                ref[i * d + j] = (X[idx[i] * d + j] - mean[j]) * inv[j];
        assert_int_equal(blas_gather(ctx, dst, X, idx, idxn, d, mean, inv), 0);
        assert_memory_equal(dst, ref, idxn * d * 4);
        blas_free(ctx, &dst);
        free(X);
        free(mean);
        free(inv);
        free(ref);
    }
    blas_close(&ctx);
}

static void test_bias_relu(void **state)
{
    (void)state;
    blas_ctx_t *ctx = s_open();
    const size_t rows = 33, cols = 131;
    float *Z = blas_alloc(ctx, rows * cols), *ref = malloc(rows * cols * 4), b[131];
    float *G = blas_alloc(ctx, rows * cols), *gref = malloc(rows * cols * 4);
    assert_true(Z && ref && G && gref);
    for (int relu = 0; relu < 2; relu++) {
        for (size_t j = 0; j < cols; j++)
            b[j] = s_rand();
        for (size_t i = 0; i < rows * cols; i++)
            Z[i] = ref[i] = s_rand() * 3;
        Z[5] = ref[5] = -b[5]; /* an exact zero */
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++) {
                float t = ref[i * cols + j] + b[j];
                ref[i * cols + j] = relu ? (t > 0.0f ? t : 0.0f) : t;
            }
        blas_bias_act(ctx, Z, rows, cols, b, relu);
        assert_memory_equal(Z, ref, rows * cols * 4);
    }
    for (size_t i = 0; i < rows * cols; i++) {
        G[i] = gref[i] = s_rand();
        gref[i] = Z[i] > 0.0f ? gref[i] : 0.0f;
    }
    blas_relu_bwd(ctx, G, Z, rows * cols);
    assert_memory_equal(G, gref, rows * cols * 4);
    blas_free(ctx, &Z);
    blas_free(ctx, &G);
    free(ref);
    free(gref);
    blas_close(&ctx);
}

static void test_adam(void **state)
{
    (void)state;
    blas_ctx_t *ctx = s_open();
    const size_t n = 1001;
    float *p = blas_alloc(ctx, n), *g = blas_alloc(ctx, n), *m = blas_alloc(ctx, n),
          *v = blas_alloc(ctx, n);
    float *rp = malloc(n * 4), *rm = malloc(n * 4), *rv = malloc(n * 4);
    /* The textbook form in double (bias-corrected moments, eps outside
     * the root), independent of the kernel's folded step size. */
    double *tp = malloc(n * 8), *tm = calloc(n, 8), *tv = calloc(n, 8);
    assert_true(p && g && m && v && rp && rm && rv && tp && tm && tv);
    for (size_t i = 0; i < n; i++) {
        p[i] = rp[i] = s_rand();
        tp[i] = p[i];
        m[i] = rm[i] = 0;
        v[i] = rv[i] = 0;
    }
    const float lr = 0.003f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    for (uint64_t t = 1; t <= 5; t++) {
        for (size_t i = 0; i < n; i++)
            g[i] = s_rand();
        blas_adam(ctx, p, g, m, v, n, lr, b1, b2, eps, t);
        double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
        float a = (float)(lr * sqrt(c2) / c1), e = (float)(eps * sqrt(c2));
        for (size_t i = 0; i < n; i++) {
            rm[i] = b1 * rm[i] + (1.0f - b1) * g[i];
            rv[i] = b2 * rv[i] + (1.0f - b2) * g[i] * g[i];
            rp[i] -= a * rm[i] / (sqrtf(rv[i]) + e);
        }
        for (size_t i = 0; i < n; i++)
            assert_true(fabsf(p[i] - rp[i]) <= 2 * FLT_EPSILON * fabsf(rp[i]));
        for (size_t i = 0; i < n; i++) {
            tm[i] = b1 * tm[i] + (1.0 - b1) * g[i];
            tv[i] = b2 * tv[i] + (1.0 - b2) * (double)g[i] * g[i];
            double mh = tm[i] / c1, vh = tv[i] / c2;
            tp[i] -= lr * mh / (sqrt(vh) + eps);
            /* float rounding of p and of each step, over t steps */
            double tol = 4 * FLT_EPSILON * (fabs(tp[i]) + (double)t * lr);
            if (!(fabs(p[i] - tp[i]) <= tol))
                fail_msg("adam step %llu: p[%zu] %.9g, textbook %.9g", (unsigned long long)t, i,
                         (double)p[i], tp[i]);
        }
    }
    /* Moments that would go subnormal (a dead unit: g = 0) become 0, and
     * the parameter does not move. */
    for (size_t i = 0; i < n; i++) {
        g[i] = 0;
        m[i] = 1.1e-38f;
        v[i] = 1.1e-38f;
        rp[i] = p[i];
    }
    blas_adam(ctx, p, g, m, v, n, lr, b1, b2, eps, 6);
    for (size_t i = 0; i < n; i++) {
        assert_true(m[i] == 0.0f && v[i] == 0.0f);
        assert_true(p[i] == rp[i]);
    }
    blas_free(ctx, &p);
    blas_free(ctx, &g);
    blas_free(ctx, &m);
    blas_free(ctx, &v);
    free(rp);
    free(rm);
    free(rv);
    free(tp);
    free(tm);
    free(tv);
    blas_close(&ctx);
}

/* The plain softmax cross-entropy (expf per element), as it was. */
static void s_softmax_ref(const float *L, size_t rows, size_t k, const int32_t *y, float scale,
                          float *G, double *loss, size_t *correct)
{
    for (size_t i = 0; i < rows; i++) {
        const float *l = L + i * k;
        size_t arg = 0;
        float mx = l[0];
        for (size_t j = 1; j < k; j++)
            if (l[j] > mx) {
                mx = l[j];
                arg = j;
            }
        *correct += arg == (size_t)y[i];
        float sum = 0.0f, *g = G + i * k;
        for (size_t j = 0; j < k; j++) {
            g[j] = expf(l[j] - mx);
            sum += g[j];
        }
        for (size_t j = 0; j < k; j++)
            g[j] *= scale / sum;
        g[y[i]] -= scale;
        *loss += (double)(mx - l[y[i]]) + log((double)sum);
    }
}

static void s_softmax_case(blas_ctx_t *ctx, size_t rows, size_t k, float spread)
{
    float *L = malloc(rows * k * 4), *G = blas_alloc(ctx, rows * k), *R = malloc(rows * k * 4);
    int32_t *y = malloc(rows * 4);
    assert_true(L && G && R && y);
    for (size_t i = 0; i < rows * k; i++)
        L[i] = s_rand() * spread;
    for (size_t i = 0; i < rows; i++)
        y[i] = (int32_t)(i * 7 % k);
    const float scale = 1.0f / (float)rows;
    double loss = 0, rloss = 0;
    size_t ok = 0, rok = 0;
    blas_softmax_xent(ctx, L, rows, k, y, scale, G, &loss, &ok);
    s_softmax_ref(L, rows, k, y, scale, R, &rloss, &rok);
    assert_int_equal(ok, rok);
    assert_true(fabs(loss - rloss) <= 1e-6 * fabs(rloss) + 1e-9);
    for (size_t i = 0; i < rows * k; i++) {
        /* Probabilities within 4 ulp; a term under FLT_MIN may read 0. */
        float tol = 4 * FLT_EPSILON * (fabsf(R[i]) + scale) + FLT_MIN;
        if (!(fabsf(G[i] - R[i]) <= tol))
            fail_msg("rows %zu k %zu spread %g: grad[%zu] %.9g, expf path %.9g", rows, k,
                     (double)spread, i, (double)G[i], (double)R[i]);
    }
    blas_free(ctx, &G);
    free(L);
    free(R);
    free(y);
}

static void test_softmax(void **state)
{
    (void)state;
    blas_ctx_t *ctx = s_open();
    const size_t rows[] = {1, 63, 64, 65, 257};
    const size_t ks[] = {2, 3, 10, 17};
    const float spreads[] = {0.5f, 8.0f, 60.0f};
    for (size_t a = 0; a < 5; a++)
        for (size_t b = 0; b < 4; b++)
            for (size_t c = 0; c < 3; c++)
                s_softmax_case(ctx, rows[a], ks[b], spreads[c]);
    /* The whole range of the exponential: two classes, logits 0 and -t. */
    enum { NT = 4000 };
    float *L = malloc(NT * 2 * 4), *G = blas_alloc(ctx, NT * 2), *R = malloc(NT * 2 * 4);
    int32_t *y = calloc(NT, 4);
    assert_true(L && G && R && y);
    for (size_t i = 0; i < NT; i++) {
        L[2 * i] = 0.0f;
        L[2 * i + 1] = -(float)i * 0.025f; /* 0 .. -100 */
    }
    double loss = 0, rloss = 0;
    size_t ok = 0, rok = 0;
    blas_softmax_xent(ctx, L, NT, 2, y, 1.0f, G, &loss, &ok);
    s_softmax_ref(L, NT, 2, y, 1.0f, R, &rloss, &rok);
    for (size_t i = 0; i < NT; i++) {
        float g = G[2 * i + 1], r = R[2 * i + 1]; /* p of the other class */
        if (!(fabsf(g - r) <= 4 * FLT_EPSILON * r + FLT_MIN))
            fail_msg("exp(-%g): %.9g, expf path %.9g", i * 0.025, (double)g, (double)r);
    }
    assert_true(fabs(loss - rloss) <= 1e-6 * fabs(rloss));
    /* A diverged fit's NaN logits give NaN, as expf did (and no UB). */
    L[0] = NAN;
    loss = 0;
    blas_softmax_xent(ctx, L, 1, 2, y, 1.0f, G, &loss, &ok);
    assert_true(isnan(G[0]) && isnan(G[1]) && isnan(loss));
    blas_free(ctx, &G);
    free(L);
    free(R);
    free(y);
    blas_close(&ctx);
}

static void test_alloc_matrix(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 4096, (size_t)4 << 20, ((size_t)9 << 20) + 12};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = dataset_alloc_matrix(sizes[i]);
        assert_non_null(p);
        if (sizes[i] >= ((size_t)4 << 20))
            assert_int_equal((uintptr_t)p % ((size_t)2 << 20), 0);
        if (sizes[i]) {
            p[0] = 1;
            p[sizes[i] - 1] = 2;
        }
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather),       cmocka_unit_test(test_bias_relu),
        cmocka_unit_test(test_adam),         cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_alloc_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
