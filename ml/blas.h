/* blas — the matrix backend the trainers run on: OpenBLAS on the CPU, or
 * cuBLAS on a GPU when drover is built with DROVER_CUDA and one is present.
 *
 * Design: a context picks the backend once (blas_open). Every buffer the hot
 * loop touches is a "device buffer": a float * from blas_alloc that lives in
 * host memory (OpenBLAS) or GPU memory (cuBLAS). Callers may do pointer
 * arithmetic on it (sub-matrices, offsets) but must never dereference it;
 * data moves in and out only with blas_upload / blas_download. That keeps the
 * trainer one piece of code for both backends.
 *
 * Matrices are row-major throughout (C convention); blas_sgemm maps to the
 * column-major cuBLAS call by swapping operands.
 *
 * Errors: the compute calls return nothing. A failure (only possible on the
 * GPU backend) is recorded in the context and sticks until read with
 * blas_status — like cudaGetLastError — so the hot loop checks once per
 * batch instead of after every call. Calls after a failure are no-ops.
 *
 * GPU elementwise work: drover has no .cu files, so the small elementwise
 * steps (bias + ReLU, ReLU backward, softmax/cross-entropy, MSE, Adam) run on
 * the host over data downloaded into scratch buffers kept in the context,
 * then uploaded back. They are O(batch x width) against the O(batch x width
 * x depth) matrix products, so correctness comes first; real kernels are a
 * later optimisation. gemm, gemv, axpy and copies stay on the device.
 *
 * Thread safety: one context per thread. OpenBLAS's thread count is process
 * wide (openblas_set_num_threads), so blas_open sets it for the process.
 */
#ifndef DROVER_BLAS_H
#define DROVER_BLAS_H

#include <stddef.h>
#include <stdint.h>

typedef struct blas_ctx blas_ctx_t;

/* Opens a backend. want_gpu != 0 asks for cuBLAS: granted when drover was
 * built with CUDA and cudaGetDeviceCount reports a device; otherwise (no
 * toolkit at build time, no driver, no device) it silently falls back to
 * OpenBLAS — check blas_backend_name. threads <= 0 means 1 (one BLAS thread
 * per task slot; two threads did not help batch-256 training). Returns NULL
 * with errno and text in err only on allocation failure or a GPU that was
 * found but could not be initialised. Free with blas_close. */
blas_ctx_t *blas_open(int want_gpu, int threads, char *err, size_t errlen);

/* Frees the context (NULL-safe, nulls *ctx). Buffers must be freed first. */
void blas_close(blas_ctx_t **ctx);

/* "openblas" or "cublas". Static string. */
const char *blas_backend_name(const blas_ctx_t *ctx);

/* 1 when the context runs on a GPU. */
int blas_is_gpu(const blas_ctx_t *ctx);

/* Returns 0, or -1 with the first recorded failure's text in err (and
 * errno = EIO) when a compute call failed since the context was opened. */
int blas_status(blas_ctx_t *ctx, char *err, size_t errlen);

/* Allocates n floats of device memory, zero-filled. NULL + errno on
 * failure. Free with blas_free (NULL-safe, nulls *p). */
float *blas_alloc(blas_ctx_t *ctx, size_t n);
void blas_free(blas_ctx_t *ctx, float **p);

/* Copies n floats host -> device / device -> host / device -> device.
 * Return 0, or -1 (errno = EIO) and record the failure. */
int blas_upload(blas_ctx_t *ctx, float *dst, const float *src, size_t n);
int blas_download(blas_ctx_t *ctx, float *dst, const float *src, size_t n);
int blas_copy(blas_ctx_t *ctx, float *dst, const float *src, size_t n);

/* dst[rows x d] (device) = rows idx[0..rows) of the host matrix X[. x d],
 * standardised: (x - mean) * inv_std per column. The CPU backend writes
 * straight into dst (no staging copy); cuBLAS stages through host scratch.
 * Returns 0, or -1 (errno = EIO) after recording a failure. */
int blas_gather(blas_ctx_t *ctx, float *dst, const float *X, const size_t *idx, size_t rows,
                size_t d, const float *mean, const float *inv_std);

/* C[m x n] = alpha * op(A) * op(B) + beta * C, row-major; op(A) is m x k,
 * op(B) is k x n; transa/transb nonzero = use the transpose of the stored
 * matrix; lda/ldb/ldc are row strides of the stored matrices. */
void blas_sgemm(blas_ctx_t *ctx, int transa, int transb, int m, int n, int k, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* y = alpha * op(A) * x + beta * y, A stored m x n row-major. */
void blas_sgemv(blas_ctx_t *ctx, int trans, int m, int n, float alpha, const float *A, int lda,
                const float *x, float beta, float *y);

/* y += alpha * x over n floats. */
void blas_axpy(blas_ctx_t *ctx, size_t n, float alpha, const float *x, float *y);

/* Z[rows x cols] += b (per column); then Z = max(Z, 0) when relu. */
void blas_bias_act(blas_ctx_t *ctx, float *Z, size_t rows, size_t cols, const float *b, int relu);

/* G[i] = A[i] > 0 ? G[i] : 0 over n floats (ReLU backward, A = the ReLU
 * output of the forward pass). */
void blas_relu_bwd(blas_ctx_t *ctx, float *G, const float *A, size_t n);

/* Softmax cross-entropy over logits[rows x k] with host labels y[rows].
 * Adds the summed loss (natural log, probabilities clipped at 1e-30) to
 * *loss_sum and the number of rows whose argmax equals the label to
 * *correct. When grad is non-NULL writes grad = (softmax - onehot) * scale
 * (grad may equal logits). */
void blas_softmax_xent(blas_ctx_t *ctx, const float *logits, size_t rows, size_t k,
                       const int32_t *y, float scale, float *grad, double *loss_sum,
                       size_t *correct);

/* Squared error over pred[rows] (one output) against host y[rows]: adds
 * sum (pred - y)^2 to *sse; writes grad = 2 (pred - y) * scale when grad is
 * non-NULL (grad may equal pred). */
void blas_mse(blas_ctx_t *ctx, const float *pred, size_t rows, const float *y, float scale,
              float *grad, double *sse);

/* One Adam step over n parameters (t = step number, from 1):
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). */
void blas_adam(blas_ctx_t *ctx, float *p, const float *g, float *m, float *v, size_t n, float lr,
               float b1, float b2, float eps, uint64_t t);

#ifdef BLAS_INTERNAL
/* The cuBLAS half, implemented in blas_cuda.c (compiled only with CUDA).
 * Not for callers outside blas.c. */
typedef struct blas_cuda blas_cuda_t;
int blas_cuda_probe(void); /* 1 when a usable device exists */
blas_cuda_t *blas_cuda_open(char *err, size_t errlen);
void blas_cuda_close(blas_cuda_t *c);
float *blas_cuda_alloc(blas_cuda_t *c, size_t n, char *err, size_t errlen);
void blas_cuda_free(blas_cuda_t *c, float *p);
int blas_cuda_memcpy(blas_cuda_t *c, void *dst, const void *src, size_t bytes,
                     int kind /* 0 h2d, 1 d2h, 2 d2d */, char *err, size_t errlen);
int blas_cuda_sgemm(blas_cuda_t *c, int transa, int transb, int m, int n, int k, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
                    char *err, size_t errlen);
int blas_cuda_sgemv(blas_cuda_t *c, int trans, int m, int n, float alpha, const float *A, int lda,
                    const float *x, float beta, float *y, char *err, size_t errlen);
int blas_cuda_axpy(blas_cuda_t *c, size_t n, float alpha, const float *x, float *y, char *err,
                   size_t errlen);
#endif

#endif
