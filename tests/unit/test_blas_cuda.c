/* Unit test for the cuBLAS backend: a few sgemm shapes/transposes and one
 * training epoch compared against OpenBLAS. Where drover was built without
 * CUDA, or no GPU is usable (no driver, no device), it exits 77, which
 * ctest reports as "Skipped" (SKIP_RETURN_CODE), never as passed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "blas.h"
#include "train.h"

static float s_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) * 0x1.0p-53 * 2 - 1);
}

/* Runs C = op(A) op(B) on ctx; A, B host; returns host C (malloc'd). */
static float *s_gemm(blas_ctx_t *ctx, int ta, int tb, int m, int n, int k, const float *A,
                     const float *B)
{
    float *dA = blas_alloc(ctx, (size_t)m * k), *dB = blas_alloc(ctx, (size_t)k * n),
          *dC = blas_alloc(ctx, (size_t)m * n);
    float *C = malloc((size_t)m * n * sizeof(float));
    assert_non_null(dA);
    assert_non_null(dB);
    assert_non_null(dC);
    blas_upload(ctx, dA, A, (size_t)m * k);
    blas_upload(ctx, dB, B, (size_t)k * n);
    blas_sgemm(ctx, ta, tb, m, n, k, 1.0f, dA, ta ? m : k, dB, tb ? k : n, 0.0f, dC, n);
    blas_download(ctx, C, dC, (size_t)m * n);
    char err[256];
    assert_int_equal(blas_status(ctx, err, sizeof err), 0);
    blas_free(ctx, &dA);
    blas_free(ctx, &dB);
    blas_free(ctx, &dC);
    return C;
}

static void test_sgemm(void **state)
{
    (void)state;
    char err[256];
    blas_ctx_t *gpu = blas_open(1, 1, err, sizeof err), *cpu = blas_open(0, 1, err, sizeof err);
    assert_string_equal(blas_backend_name(gpu), "cublas");
    const int shapes[][3] = {{256, 128, 100}, {100, 10, 256}, {37, 5, 11}};
    uint64_t s = 1;
    for (size_t i = 0; i < 3; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
                float *A = malloc((size_t)m * k * 4), *B = malloc((size_t)k * n * 4);
                for (int j = 0; j < m * k; j++)
                    A[j] = s_rand(&s);
                for (int j = 0; j < k * n; j++)
                    B[j] = s_rand(&s);
                float *c1 = s_gemm(gpu, ta, tb, m, n, k, A, B);
                float *c2 = s_gemm(cpu, ta, tb, m, n, k, A, B);
                for (int j = 0; j < m * n; j++)
                    assert_true(fabsf(c1[j] - c2[j]) <= 1e-3f * (1 + fabsf(c2[j])));
                free(A);
                free(B);
                free(c1);
                free(c2);
            }
    blas_close(&gpu);
    blas_close(&cpu);
}

static void test_one_epoch(void **state)
{
    (void)state;
    const size_t n = 2000, d = 20;
    float *X = malloc(n * d * 4);
    int32_t *y = malloc(n * 4);
    uint64_t s = 3;
    for (size_t i = 0; i < n; i++) {
        float t = 0;
        for (size_t j = 0; j < d; j++)
            t += (X[i * d + j] = s_rand(&s)) * (j % 3 ? 1.0f : -1.0f);
        y[i] = t > 0.3f ? 2 : t > -0.3f ? 1 : 0;
    }
    train_params_t p;
    train_params_default(&p);
    p.kind = MLMODEL_MLP;
    p.hidden[0] = 32;
    p.optimizer = TRAIN_ADAM;
    p.epochs = 1;
    p.batch_size = 64;
    mlmodel_t *mg = NULL, *mc = NULL;
    train_result_t rg, rc;
    char err[256];
    p.want_gpu = 1;
    assert_int_equal(
        train_fit(&p, X, n, d, y, 3, NULL, NULL, NULL, NULL, &mg, &rg, err, sizeof err), 0);
    p.want_gpu = 0;
    assert_int_equal(
        train_fit(&p, X, n, d, y, 3, NULL, NULL, NULL, NULL, &mc, &rc, err, sizeof err), 0);
    assert_string_equal(rg.backend, "cublas");
    assert_string_equal(rc.backend, "openblas");
    double num = 0, den = 0;
    for (size_t i = 0; i < mc->nparams; i++) {
        double e = (double)mg->params[i] - mc->params[i];
        num += e * e;
        den += (double)mc->params[i] * mc->params[i];
    }
    print_message("gpu vs cpu relative parameter difference %.2e\n", sqrt(num / den));
    assert_true(sqrt(num / den) < 1e-3);
    mlmodel_destroy(&mg);
    mlmodel_destroy(&mc);
    free(X);
    free(y);
}

int main(void)
{
#ifndef DROVER_HAVE_CUDA
    printf("SKIP: drover was built without CUDA (DROVER_CUDA=OFF)\n");
    return 77;
#else
    char err[256];
    blas_ctx_t *ctx = blas_open(1, 1, err, sizeof err);
    int gpu = blas_is_gpu(ctx);
    blas_close(&ctx);
    if (!gpu) {
        printf("SKIP: no usable GPU (no driver or no device); OpenBLAS is used instead\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgemm),
        cmocka_unit_test(test_one_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
