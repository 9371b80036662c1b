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
 *
 * The CUDA libraries are loaded with dlopen on first use, not linked:
 * merely loading libcublas costs ~150 MiB of resident memory, which every
 * drover process (coordinator, worker, CLI) would otherwise pay, and a
 * binary built with CUDA then still runs on a machine without it. The
 * toolkit's headers give the types; __typeof__ gives each pointer its exact
 * prototype, so a mismatch is a compile error, not a crash.
 */
#define BLAS_INTERNAL
#include "blas.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef DROVER_CUDA_LIBDIR
#define DROVER_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif

#define S_FN(name) static __typeof__(name) *p_##name
S_FN(cudaGetDeviceCount);
S_FN(cudaGetLastError);
S_FN(cudaGetErrorString);
S_FN(cudaMalloc);
S_FN(cudaMemset);
S_FN(cudaFree);
S_FN(cudaMemcpy);
S_FN(cublasCreate_v2);
S_FN(cublasDestroy_v2);
S_FN(cublasSetAtomicsMode);
S_FN(cublasGetStatusString);
S_FN(cublasSgemm_v2);
S_FN(cublasSgemv_v2);
S_FN(cublasSaxpy_v2);
#undef S_FN

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_loaded;

static void *s_open(const char *base)
{
    char path[512];
    const char *vers[] = {".13", ".12", ""};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.so%s", DROVER_CUDA_LIBDIR, base, vers[i]);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h)
            return h;
        snprintf(path, sizeof path, "%s.so%s", base, vers[i]);
        if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
            return h;
    }
    return NULL;
}

static void s_load(void)
{
    void *rt = s_open("libcudart"), *bl = rt ? s_open("libcublas") : NULL;
    if (!rt || !bl)
        return; /* no CUDA runtime here: "no GPU" (handles stay for the process) */
    int ok = 1;
#define S_SYM(h, name) ok &= (*(void **)&p_##name = dlsym(h, #name)) != NULL
    S_SYM(rt, cudaGetDeviceCount);
    S_SYM(rt, cudaGetLastError);
    S_SYM(rt, cudaGetErrorString);
    S_SYM(rt, cudaMalloc);
    S_SYM(rt, cudaMemset);
    S_SYM(rt, cudaFree);
    S_SYM(rt, cudaMemcpy);
    S_SYM(bl, cublasCreate_v2);
    S_SYM(bl, cublasDestroy_v2);
    S_SYM(bl, cublasSetAtomicsMode);
    S_SYM(bl, cublasGetStatusString);
    S_SYM(bl, cublasSgemm_v2);
    S_SYM(bl, cublasSgemv_v2);
    S_SYM(bl, cublasSaxpy_v2);
#undef S_SYM
    s_loaded = ok;
}

struct blas_cuda {
    cublasHandle_t h;
};

int blas_cuda_probe(void)
{
    int n = 0;
    if (pthread_once(&s_once, s_load) != 0 || !s_loaded)
        return 0;
    if (p_cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)p_cudaGetLastError(); /* clear the sticky runtime error */
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
    cublasStatus_t st = p_cublasCreate_v2(&c->h);
    if (st != CUBLAS_STATUS_SUCCESS) {
        snprintf(err, errlen, "cublasCreate failed: %s", p_cublasGetStatusString(st));
        free(c);
        return NULL;
    }
    /* Deterministic results: no atomics-based reductions. */
    p_cublasSetAtomicsMode(c->h, CUBLAS_ATOMICS_NOT_ALLOWED);
    return c;
}

void blas_cuda_close(blas_cuda_t *c)
{
    if (!c)
        return;
    p_cublasDestroy_v2(c->h);
    free(c);
}

float *blas_cuda_alloc(blas_cuda_t *c, size_t n, char *err, size_t errlen)
{
    (void)c;
    void *p = NULL;
    cudaError_t e = p_cudaMalloc(&p, n * sizeof(float));
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaMalloc(%zu floats): %s", n, p_cudaGetErrorString(e));
        return NULL;
    }
    e = p_cudaMemset(p, 0, n * sizeof(float));
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaMemset: %s", p_cudaGetErrorString(e));
        p_cudaFree(p);
        return NULL;
    }
    return p;
}

void blas_cuda_free(blas_cuda_t *c, float *p)
{
    (void)c;
    p_cudaFree(p);
}

int blas_cuda_memcpy(blas_cuda_t *c, void *dst, const void *src, size_t bytes, int kind, char *err,
                     size_t errlen)
{
    (void)c;
    enum cudaMemcpyKind k = kind == 0   ? cudaMemcpyHostToDevice
                            : kind == 1 ? cudaMemcpyDeviceToHost
                                        : cudaMemcpyDeviceToDevice;
    cudaError_t e = p_cudaMemcpy(dst, src, bytes, k);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "cudaMemcpy: %s", p_cudaGetErrorString(e));
        return -1;
    }
    return 0;
}

static int s_check(cublasStatus_t st, const char *what, char *err, size_t errlen)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return 0;
    snprintf(err, errlen, "%s failed: %s", what, p_cublasGetStatusString(st));
    return -1;
}

int blas_cuda_sgemm(blas_cuda_t *c, int transa, int transb, int m, int n, int k, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
                    char *err, size_t errlen)
{
    return s_check(p_cublasSgemm_v2(c->h, transb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                    transa ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B, ldb, A,
                                    lda, &beta, C, ldc),
                   "cublasSgemm", err, errlen);
}

int blas_cuda_sgemv(blas_cuda_t *c, int trans, int m, int n, float alpha, const float *A, int lda,
                    const float *x, float beta, float *y, char *err, size_t errlen)
{
    /* Row-major m x n == column-major n x m: flip the transpose. */
    return s_check(p_cublasSgemv_v2(c->h, trans ? CUBLAS_OP_N : CUBLAS_OP_T, n, m, &alpha, A, lda,
                                    x, 1, &beta, y, 1),
                   "cublasSgemv", err, errlen);
}

int blas_cuda_axpy(blas_cuda_t *c, size_t n, float alpha, const float *x, float *y, char *err,
                   size_t errlen)
{
    return s_check(p_cublasSaxpy_v2(c->h, (int)n, &alpha, x, 1, y, 1), "cublasSaxpy", err, errlen);
}
