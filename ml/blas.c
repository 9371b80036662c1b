/* blas — OpenBLAS backend and the dispatch to the optional cuBLAS half.
 *
 * On the CPU a "device buffer" is plain host memory (64-byte aligned so the
 * AVX-512 kernels see aligned rows), uploads are memcpy, and the elementwise
 * steps are fused loops written so the compiler vectorises them. On the GPU
 * (blas_cuda.c) the same entry points forward gemm/gemv/axpy/copies to
 * cuBLAS/cudart and run the elementwise steps on the host through scratch
 * buffers kept here (see blas.h for why). The scratch buffers only grow, so
 * after the first batch no call allocates.
 *
 * Invariant: ctx->failed is sticky; once set every compute call returns at
 * once, so a broken device cannot produce half-updated parameters silently.
 */
#define BLAS_INTERNAL
#include "blas.h"

#include <cblas.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct blas_ctx {
    int gpu;
    int failed;
    char errbuf[256];
#ifdef DROVER_HAVE_CUDA
    blas_cuda_t *cuda;
#endif
    float *scratch[3]; /* host scratch for GPU elementwise steps */
    size_t scratch_n[3];
};

static void s_seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

blas_ctx_t *blas_open(int want_gpu, int threads, char *err, size_t errlen)
{
    blas_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        s_seterr(err, errlen, "out of memory opening the BLAS backend");
        return NULL;
    }
    openblas_set_num_threads(threads > 0 ? threads : 1);
#ifdef DROVER_HAVE_CUDA
    if (want_gpu && blas_cuda_probe()) {
        ctx->cuda = blas_cuda_open(err, errlen);
        if (!ctx->cuda) {
            free(ctx);
            errno = EIO;
            return NULL;
        }
        ctx->gpu = 1;
    }
#else
    (void)want_gpu;
#endif
    return ctx;
}

void blas_close(blas_ctx_t **pctx)
{
    if (!pctx || !*pctx)
        return;
    blas_ctx_t *ctx = *pctx;
    for (int i = 0; i < 3; i++)
        free(ctx->scratch[i]);
#ifdef DROVER_HAVE_CUDA
    if (ctx->cuda)
        blas_cuda_close(ctx->cuda);
#endif
    free(ctx);
    *pctx = NULL;
}

const char *blas_backend_name(const blas_ctx_t *ctx)
{
    return ctx && ctx->gpu ? "cublas" : "openblas";
}

int blas_is_gpu(const blas_ctx_t *ctx)
{
    return ctx && ctx->gpu;
}

int blas_status(blas_ctx_t *ctx, char *err, size_t errlen)
{
    if (!ctx->failed)
        return 0;
    s_seterr(err, errlen, ctx->errbuf);
    errno = EIO;
    return -1;
}

float *blas_alloc(blas_ctx_t *ctx, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / sizeof(float) - 16) {
        errno = ENOMEM;
        return NULL;
    }
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        float *p = blas_cuda_alloc(ctx->cuda, n, ctx->errbuf, sizeof ctx->errbuf);
        if (!p) {
            ctx->failed = 1;
            errno = ENOMEM;
        }
        return p;
    }
#endif
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

void blas_free(blas_ctx_t *ctx, float **p)
{
    if (!p || !*p)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        blas_cuda_free(ctx->cuda, *p);
        *p = NULL;
        return;
    }
#endif
    (void)ctx;
    free(*p);
    *p = NULL;
}

#ifdef DROVER_HAVE_CUDA
static int s_cuda_copy(blas_ctx_t *ctx, void *dst, const void *src, size_t bytes, int kind)
{
    if (ctx->failed)
        return -1;
    if (blas_cuda_memcpy(ctx->cuda, dst, src, bytes, kind, ctx->errbuf, sizeof ctx->errbuf) != 0) {
        ctx->failed = 1;
        errno = EIO;
        return -1;
    }
    return 0;
}

/* Host scratch slot i with room for n floats; grows only. */
static float *s_scratch(blas_ctx_t *ctx, int i, size_t n)
{
    if (ctx->scratch_n[i] < n) {
        float *p = realloc(ctx->scratch[i], n * sizeof(float));
        if (!p) {
            ctx->failed = 1;
            snprintf(ctx->errbuf, sizeof ctx->errbuf, "out of memory for GPU scratch");
            return NULL;
        }
        ctx->scratch[i] = p;
        ctx->scratch_n[i] = n;
    }
    return ctx->scratch[i];
}
#endif

int blas_upload(blas_ctx_t *ctx, float *dst, const float *src, size_t n)
{
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu)
        return s_cuda_copy(ctx, dst, src, n * sizeof(float), 0);
#endif
    (void)ctx;
    memcpy(dst, src, n * sizeof(float));
    return 0;
}

int blas_download(blas_ctx_t *ctx, float *dst, const float *src, size_t n)
{
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu)
        return s_cuda_copy(ctx, dst, src, n * sizeof(float), 1);
#endif
    (void)ctx;
    memcpy(dst, src, n * sizeof(float));
    return 0;
}

int blas_copy(blas_ctx_t *ctx, float *dst, const float *src, size_t n)
{
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu)
        return s_cuda_copy(ctx, dst, src, n * sizeof(float), 2);
#endif
    (void)ctx;
    memmove(dst, src, n * sizeof(float));
    return 0;
}

void blas_sgemm(blas_ctx_t *ctx, int transa, int transb, int m, int n, int k, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        if (blas_cuda_sgemm(ctx->cuda, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc,
                            ctx->errbuf, sizeof ctx->errbuf) != 0)
            ctx->failed = 1;
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                transb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

void blas_sgemv(blas_ctx_t *ctx, int trans, int m, int n, float alpha, const float *A, int lda,
                const float *x, float beta, float *y)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        if (blas_cuda_sgemv(ctx->cuda, trans, m, n, alpha, A, lda, x, beta, y, ctx->errbuf,
                            sizeof ctx->errbuf) != 0)
            ctx->failed = 1;
        return;
    }
#endif
    cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, m, n, alpha, A, lda, x, 1, beta,
                y, 1);
}

void blas_axpy(blas_ctx_t *ctx, size_t n, float alpha, const float *x, float *y)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        if (blas_cuda_axpy(ctx->cuda, n, alpha, x, y, ctx->errbuf, sizeof ctx->errbuf) != 0)
            ctx->failed = 1;
        return;
    }
#endif
    cblas_saxpy((int)n, alpha, x, 1, y, 1);
}

/* ---- host kernels, shared by both backends ---------------------------- */

/* The kernels below run once per batch over batch x width floats. At the
 * build's -O2 GCC left them scalar, and compiled the ReLU select as a
 * branch that mispredicted half the time: bias + ReLU and the ReLU mask were
 * 48% of an MLP epoch (perf, issue 16). S_HOT compiles them vectorised, with
 * AVX-512 and AVX2 clones chosen at load time (glibc ifunc) on x86-64, and
 * with FMA contraction off so every clone computes exactly the bits of the
 * plain scalar loop (only elementwise work is vectorised; reductions keep
 * their order). ml/CMakeLists.txt compiles this file with -fno-math-errno:
 * errno from sqrtf (never negative here) kept Adam scalar. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define S_HOT                                                                                      \
    __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3", "fp-contract=off")))
#else
#define S_HOT
#endif

S_HOT static void s_gather(float *restrict dst, const float *restrict X, const size_t *idx,
                           size_t rows, size_t d, const float *restrict mean,
                           const float *restrict inv_std)
{
    /* Rows are random reads from a matrix far larger than the cache:
     * prefetch a few rows ahead so the gather is not latency-bound. */
    enum { AHEAD = 16 };
    for (size_t i = 0; i < rows && i < AHEAD; i++)
        for (size_t j = 0; j < d; j += 16)
            __builtin_prefetch(X + idx[i] * d + j);
    for (size_t i = 0; i < rows; i++) {
        if (i + AHEAD < rows) {
            const float *nx = X + idx[i + AHEAD] * d;
            for (size_t j = 0; j < d; j += 16)
                __builtin_prefetch(nx + j);
            __builtin_prefetch(nx + d - 1);
        }
        const float *restrict x = X + idx[i] * d;
        float *restrict h = dst + i * d;
        for (size_t j = 0; j < d; j++)
            h[j] = (x[j] - mean[j]) * inv_std[j];
    }
}

int blas_gather(blas_ctx_t *ctx, float *dst, const float *X, const size_t *idx, size_t rows,
                size_t d, const float *mean, const float *inv_std)
{
    if (ctx->failed) {
        errno = EIO;
        return -1;
    }
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        float *h = s_scratch(ctx, 0, rows * d);
        if (!h) {
            errno = EIO;
            return -1;
        }
        s_gather(h, X, idx, rows, d, mean, inv_std);
        return s_cuda_copy(ctx, dst, h, rows * d * 4, 0);
    }
#endif
    s_gather(dst, X, idx, rows, d, mean, inv_std);
    return 0;
}

S_HOT static void s_bias_act(float *restrict Z, size_t rows, size_t cols, const float *restrict b,
                             int relu)
{
    for (size_t i = 0; i < rows; i++) {
        float *restrict z = Z + i * cols;
        if (relu) {
            for (size_t j = 0; j < cols; j++) {
                float t = z[j] + b[j];
                z[j] = t > 0.0f ? t : 0.0f;
            }
        } else {
            for (size_t j = 0; j < cols; j++)
                z[j] += b[j];
        }
    }
}

S_HOT static void s_relu_bwd(float *restrict G, const float *restrict A, size_t n)
{
    for (size_t i = 0; i < n; i++)
        G[i] = A[i] > 0.0f ? G[i] : 0.0f;
}

/* exp(x) for the softmax's x = logit - row max <= 0, in a form that
 * vectorises (glibc's expf is a call per element: with the log, 20% of a
 * softmax epoch). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then
 * e^r by its degree-7 Taylor polynomial (truncation < 6e-9 relative) and
 * 2^n through the exponent bits; within 2 ulp of expf (unit_blas checks
 * the softmax against an expf reference). Below -87.33 (where e^x is under
 * FLT_MIN, and next to the row's e^0 = 1 nothing) it returns 0. */
static inline float s_exp_neg(float x)
{
    const float shift = 0x1.8p23f; /* adding it rounds to an integer */
    float xc = x < -87.33f ? -87.33f : x;
    float t = xc * 0x1.715476p+0f + shift;
    float n = t - shift;
    float r = xc - n * 0x1.62e4p-1f; /* ln2 split: hi has 16 bits, n*hi exact */
    r = r - n * 0x1.7f7d1cp-20f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* A union, not memcpy (GCC did not vectorise that), and unsigned, so a
     * NaN logit (a diverged fit) gives NaN rather than a signed overflow. */
    union {
        float f;
        uint32_t u;
    } tb = {.f = t}, two_n;
    two_n.u = (tb.u - 0x4b400000u + 127u) << 23; /* 2^n, n in [-126, 0]; 0x4b400000 = shift */
    return x < -87.33f ? 0.0f : p * two_n.f;
}

/* g[i] = s_exp_neg(g[i]) over n floats: the flat loop the compiler
 * vectorises. */
S_HOT static void s_exp_neg_n(float *restrict g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = s_exp_neg(g[i]);
}

/* Training (G != NULL) works on chunks of rows: row maxima and x - max per
 * row, one vectorised exp over the chunk, then each row's sum in the same
 * order as before. Evaluation (G == NULL) keeps expf and the double exp of
 * the label's term (validation loss, not the hot loop). */
static void s_softmax_xent(const float *L, size_t rows, size_t k, const int32_t *y, float scale,
                           float *G, double *loss_sum, size_t *correct)
{
    enum { CHUNK = 64 };
    double loss = 0.0;
    size_t ok = 0;
    float mxs[CHUNK], lys[CHUNK];
    for (size_t c0 = 0; c0 < rows; c0 += CHUNK) {
        size_t cn = rows - c0 < CHUNK ? rows - c0 : CHUNK;
        for (size_t r = 0; r < cn; r++) {
            size_t i = c0 + r;
            const float *l = L + i * k;
            size_t arg = 0;
            float mx = l[0];
            for (size_t j = 1; j < k; j++)
                if (l[j] > mx) {
                    mx = l[j];
                    arg = j;
                }
            size_t yi = (size_t)y[i];
            ok += arg == yi;
            if (G) {
                float *g = G + i * k;
                mxs[r] = mx;
                lys[r] = l[yi]; /* before g, which may be L, is written */
                for (size_t j = 0; j < k; j++)
                    g[j] = l[j] - mx;
            } else {
                float sum = 0.0f;
                for (size_t j = 0; j < k; j++)
                    sum += expf(l[j] - mx);
                double p = exp((double)(l[yi] - mx)) / sum;
                loss += -log(p < 1e-30 ? 1e-30 : p);
            }
        }
        if (!G)
            continue;
        s_exp_neg_n(G + c0 * k, cn * k);
        for (size_t r = 0; r < cn; r++) {
            size_t i = c0 + r;
            float *g = G + i * k, sum = 0.0f;
            for (size_t j = 0; j < k; j++)
                sum += g[j];
            float inv = scale / sum;
            for (size_t j = 0; j < k; j++)
                g[j] *= inv;
            g[(size_t)y[i]] -= scale;
            loss += (double)(mxs[r] - lys[r]) + log((double)sum);
        }
    }
    *loss_sum += loss;
    *correct += ok;
}

static void s_mse(const float *P, size_t rows, const float *y, float scale, float *G, double *sse)
{
    double s = 0.0;
    for (size_t i = 0; i < rows; i++) {
        float r = P[i] - y[i];
        s += (double)r * r;
        if (G)
            G[i] = 2.0f * r * scale;
    }
    *sse += s;
}

S_HOT static void s_adam(float *restrict p, const float *restrict g, float *restrict m,
                         float *restrict v, size_t n, float lr, float b1, float b2, float eps,
                         uint64_t t)
{
    /* Bias corrections folded into one step size, as in the Adam paper's
     * "more efficient" form; eps is scaled to match the textbook form. */
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    float a = (float)(lr * sqrt(c2) / c1);
    float e = (float)(eps * sqrt(c2));
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi, vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        /* Moments under FLT_MIN are flushed to 0. A dead ReLU unit's
         * weights get g = 0, so m decays by b1 a step into subnormals,
         * where every multiply is a microcode assist: 18x slower steps,
         * 10% of an MLP epoch (issue 16). The step they would give is
         * under 1e-30. */
        mi = fabsf(mi) < FLT_MIN ? 0.0f : mi;
        vi = vi < FLT_MIN ? 0.0f : vi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= a * mi / (sqrtf(vi) + e);
    }
}

void blas_bias_act(blas_ctx_t *ctx, float *Z, size_t rows, size_t cols, const float *b, int relu)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        float *hz = s_scratch(ctx, 0, rows * cols), *hb = s_scratch(ctx, 1, cols);
        if (!hz || !hb || s_cuda_copy(ctx, hz, Z, rows * cols * 4, 1) ||
            s_cuda_copy(ctx, hb, b, cols * 4, 1))
            return;
        s_bias_act(hz, rows, cols, hb, relu);
        s_cuda_copy(ctx, Z, hz, rows * cols * 4, 0);
        return;
    }
#endif
    s_bias_act(Z, rows, cols, b, relu);
}

void blas_relu_bwd(blas_ctx_t *ctx, float *G, const float *A, size_t n)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        float *hg = s_scratch(ctx, 0, n), *ha = s_scratch(ctx, 1, n);
        if (!hg || !ha || s_cuda_copy(ctx, hg, G, n * 4, 1) || s_cuda_copy(ctx, ha, A, n * 4, 1))
            return;
        s_relu_bwd(hg, ha, n);
        s_cuda_copy(ctx, G, hg, n * 4, 0);
        return;
    }
#endif
    s_relu_bwd(G, A, n);
}

void blas_softmax_xent(blas_ctx_t *ctx, const float *logits, size_t rows, size_t k,
                       const int32_t *y, float scale, float *grad, double *loss_sum,
                       size_t *correct)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        float *hl = s_scratch(ctx, 0, rows * k), *hg = grad ? s_scratch(ctx, 1, rows * k) : NULL;
        if (!hl || (grad && !hg) || s_cuda_copy(ctx, hl, logits, rows * k * 4, 1))
            return;
        s_softmax_xent(hl, rows, k, y, scale, hg, loss_sum, correct);
        if (grad)
            s_cuda_copy(ctx, grad, hg, rows * k * 4, 0);
        return;
    }
#endif
    s_softmax_xent(logits, rows, k, y, scale, grad, loss_sum, correct);
}

void blas_mse(blas_ctx_t *ctx, const float *pred, size_t rows, const float *y, float scale,
              float *grad, double *sse)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        float *hp = s_scratch(ctx, 0, rows);
        if (!hp || s_cuda_copy(ctx, hp, pred, rows * 4, 1))
            return;
        s_mse(hp, rows, y, scale, grad ? hp : NULL, sse);
        if (grad)
            s_cuda_copy(ctx, grad, hp, rows * 4, 0);
        return;
    }
#endif
    s_mse(pred, rows, y, scale, grad, sse);
}

void blas_adam(blas_ctx_t *ctx, float *p, const float *g, float *m, float *v, size_t n, float lr,
               float b1, float b2, float eps, uint64_t t)
{
    if (ctx->failed)
        return;
#ifdef DROVER_HAVE_CUDA
    if (ctx->gpu) {
        /* Four arrays; slot 2 holds p,g,m,v back to back. */
        float *h = s_scratch(ctx, 2, 4 * n);
        if (!h || s_cuda_copy(ctx, h, p, n * 4, 1) || s_cuda_copy(ctx, h + n, g, n * 4, 1) ||
            s_cuda_copy(ctx, h + 2 * n, m, n * 4, 1) || s_cuda_copy(ctx, h + 3 * n, v, n * 4, 1))
            return;
        s_adam(h, h + n, h + 2 * n, h + 3 * n, n, lr, b1, b2, eps, t);
        if (s_cuda_copy(ctx, p, h, n * 4, 0) || s_cuda_copy(ctx, m, h + 2 * n, n * 4, 0))
            return;
        s_cuda_copy(ctx, v, h + 3 * n, n * 4, 0);
        return;
    }
#endif
    s_adam(p, g, m, v, n, lr, b1, b2, eps, t);
}
