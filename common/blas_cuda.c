/* blas_cuda — the cuBLAS half of the blas backend (built only with
 * DROVER_CUDA). Plain C over the cudart and cuBLAS C APIs; no kernels.
 *
 * Row-major on a column-major library: a row-major matrix is the transpose
 * of the same bytes read column-major, so C = op(A) op(B) (row-major) is
 * computed as C^T = op(B)^T op(A)^T, i.e. cublasSgemm with the operands
 * swapped and m/n exchanged. Likewise a row-major gemv flips its transpose.
 *
 * "No GPU" (cudaErrorInsufficientDriver, cudaErrorNoDevice, count 0) is a
 * normal answer from blas_cuda_probe, never an error: the caller falls back
 * to OpenBLAS.
 */
#define BLAS_INTERNAL
#include "blas.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

struct blas_cuda {
    cublasHandle_t h;
};

int blas_cuda_probe(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the sticky runtime error */
        return 0;
    }
    return n > 0;
}

blas_cuda_t *blas_cuda_open(char *err, size_t errlen)
{
    blas_cuda_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cublasStatus_t st = cublasCreate(&c->h);
    if (st != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cublasCreate failed: %s", cublasGetStatusString(st));
        free(c);
        return NULL;
    }
    /* Deterministic results: no atomics-based reductions. */
    cublasSetAtomicsMode(c->h, CUBLAS_ATOMICS_NOT_ALLOWED);
    return c;
}

void blas_cuda_close(blas_cuda_t *c)
{
    if (!c)
        return;
    cublasDestroy(c->h);
    free(c);
}

float *blas_cuda_alloc(blas_cuda_t *c, size_t n, char *err, size_t errlen)
{
    (void)c;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, n * sizeof(float));
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaMalloc(%zu floats): %s", n, cudaGetErrorString(e));
        return NULL;
    }
    e = cudaMemset(p, 0, n * sizeof(float));
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaMemset: %s", cudaGetErrorString(e));
        cudaFree(p);
        return NULL;
    }
    return p;
}

void blas_cuda_free(blas_cuda_t *c, float *p)
{
    (void)c;
    cudaFree(p);
}

int blas_cuda_memcpy(blas_cuda_t *c, void *dst, const void *src, size_t bytes, int kind,
                     char *err, size_t errlen)
{
    (void)c;
    enum cudaMemcpyKind k = kind == 0   ? cudaMemcpyHostToDevice
                            : kind == 1 ? cudaMemcpyDeviceToHost
                                        : cudaMemcpyDeviceToDevice;
    cudaError_t e = cudaMemcpy(dst, src, bytes, k);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaMemcpy: %s", cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

static int s_check(cublasStatus_t st, const char *what, char *err, size_t errlen)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return 0;
    snprintf(err, errlen, "%s failed: %s", what, cublasGetStatusString(st));
    return -1;
}

int blas_cuda_sgemm(blas_cuda_t *c, int transa, int transb, int m, int n, int k,
                    float alpha, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc, char *err, size_t errlen)
{
    return s_check(cublasSgemm(c->h, transb ? CUBLAS_OP_T : CUBLAS_OP_N,
                               transa ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B, ldb,
                               A, lda, &beta, C, ldc),
                   "cublasSgemm", err, errlen);
}

int blas_cuda_sgemv(blas_cuda_t *c, int trans, int m, int n, float alpha, const float *A,
                    int lda, const float *x, float beta, float *y, char *err, size_t errlen)
{
    /* Row-major m x n == column-major n x m: flip the transpose. */
    return s_check(cublasSgemv(c->h, trans ? CUBLAS_OP_N : CUBLAS_OP_T, n, m, &alpha, A, lda,
                               x, 1, &beta, y, 1),
                   "cublasSgemv", err, errlen);
}

int blas_cuda_axpy(blas_cuda_t *c, size_t n, float alpha, const float *x, float *y,
                   char *err, size_t errlen)
{
    return s_check(cublasSaxpy(c->h, (int)n, &alpha, x, 1, y, 1), "cublasSaxpy", err, errlen);
}
