/* train — minibatch trainers over the blas backend.
 *
 * A network (s_net_t) is the model's layer shapes plus every device buffer
 * a step needs, allocated once for a batch capacity B: parameters P,
 * gradient G (same layout as P, so an optimiser update is one call over all
 * parameters), Adam moments M/V, the best parameters seen (early stopping),
 * the input batch, and per layer the activations A_l and their gradients
 * D_l. A step is
 *   forward   A_l = act(A_{l-1} W_l + b_l)            sgemm NN + bias/ReLU
 *   loss      D_L = (softmax(A_L) - onehot) / B        or 2 (A_L - y) / B
 *   backward  dW_l = A_{l-1}^T D_l                     sgemm TN
 *             db_l = D_l^T 1                           sgemv
 *             D_{l-1} = (D_l W_l^T) * [A_{l-1} > 0]    sgemm NT + mask
 *   update    G_W += l2 W; P -= lr G (axpy) or Adam.
 * Training and train_debug_objective run the very same code, so the
 * gradient check covers what training uses.
 *
 * Randomness: three splitmix64 streams derived from the seed — split,
 * init, shuffle. Each epoch restarts from the base training order and
 * shuffles it with the shuffle stream, so the stream state (saved in the
 * checkpoint) is all that carries from one epoch to the next.
 *
 * Checkpoint file (native byte order; read back only on the machine that
 * wrote it): "DRVCKPT1", u32 version, u64 fingerprint (params except
 * epochs, backend, thread count, data), u32 epoch, u32 stopped, u64 rng,
 * u64 adam_t, f64 best_val_loss, u32 best_epoch, u32 since_best, u64
 * nparams, float P[np], M[np], V[np], Best[np], u32 CRC32C.
 */
#include "train.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_CKPT_MAGIC   "DRVCKPT1"
#define S_CKPT_VERSION 1u
#define S_MAXL         (MLMODEL_MAX_HIDDEN + 1)

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- randomness -------------------------------------------------------- */

static uint64_t s_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound). */
static size_t s_below(uint64_t *s, size_t bound)
{
    return (size_t)(((unsigned __int128)s_rng(s) * bound) >> 64);
}

static double s_normal(uint64_t *s)
{
    double u1 = ((s_rng(s) >> 11) + 1) * 0x1.0p-53; /* (0, 1] */
    double u2 = (s_rng(s) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void s_shuffle(uint64_t *s, size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = s_below(s, i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ---- the network ------------------------------------------------------- */

typedef struct {
    blas_ctx_t *ctx;
    int classify;
    uint32_t L, d, k, maxw;
    uint32_t in[S_MAXL], out[S_MAXL];
    size_t wo[S_MAXL], bo[S_MAXL];
    size_t np, B;
    float *P, *G, *M, *V, *Best; /* device */
    float *X, *ones;             /* device */
    float *A[S_MAXL], *D[S_MAXL];
    float *hx; /* host: B floats, staging for the ones vector */
    int32_t *hy;
    float *hv;
} s_net_t;

static void s_net_free(s_net_t *n)
{
    if (!n->ctx)
        return;
    blas_free(n->ctx, &n->P);
    blas_free(n->ctx, &n->G);
    blas_free(n->ctx, &n->M);
    blas_free(n->ctx, &n->V);
    blas_free(n->ctx, &n->Best);
    blas_free(n->ctx, &n->X);
    blas_free(n->ctx, &n->ones);
    for (uint32_t l = 0; l < S_MAXL; l++) {
        blas_free(n->ctx, &n->A[l]);
        blas_free(n->ctx, &n->D[l]);
    }
    free(n->hx);
    free(n->hy);
    free(n->hv);
    n->hx = n->hv = NULL;
    n->hy = NULL;
}

/* Allocates every buffer for batches of up to B rows. */
static int s_net_init(s_net_t *n, blas_ctx_t *ctx, const mlmodel_t *m, size_t B, int adam,
                      int keep_best, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    n->ctx = ctx;
    n->classify = m->kind != MLMODEL_LINEAR;
    n->L = mlmodel_nlayers(m);
    n->d = m->d;
    n->k = m->k;
    n->np = m->nparams;
    n->B = B;
    for (uint32_t l = 0; l < n->L; l++) {
        mlmodel_layer(m, l, &n->in[l], &n->out[l], &n->wo[l], &n->bo[l]);
        if (n->out[l] > n->maxw)
            n->maxw = n->out[l];
    }
    int ok = (n->P = blas_alloc(ctx, n->np)) && (n->G = blas_alloc(ctx, n->np)) &&
             (!adam || ((n->M = blas_alloc(ctx, n->np)) && (n->V = blas_alloc(ctx, n->np)))) &&
             (!keep_best || (n->Best = blas_alloc(ctx, n->np))) &&
             (n->X = blas_alloc(ctx, B * n->d)) && (n->ones = blas_alloc(ctx, B)) &&
             (n->hx = malloc(B * sizeof(float))) && (n->hy = malloc(B * sizeof(int32_t))) &&
             (n->hv = malloc(B * sizeof(float)));
    for (uint32_t l = 0; ok && l < n->L; l++)
        ok = (n->A[l] = blas_alloc(ctx, B * n->out[l])) &&
             (n->D[l] = blas_alloc(ctx, B * n->out[l]));
    if (ok) {
        /* The ones vector for bias gradients, built once on the host. */
        for (size_t i = 0; i < B; i++)
            n->hx[i] = 1.0f;
        ok = blas_upload(ctx, n->ones, n->hx, B) == 0;
    }
    if (!ok) {
        util_errf(err, errlen, "out of memory allocating training buffers (batch %zu)", B);
        s_net_free(n);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* Gathers rows idx[0..rows) of X into the device batch, standardised. */
static void s_gather(s_net_t *n, const float *X, const size_t *idx, size_t rows, const float *mean,
                     const float *inv_std, const int32_t *yc, const float *yv)
{
    blas_gather(n->ctx, n->X, X, idx, rows, n->d, mean, inv_std);
    for (size_t i = 0; yc && i < rows; i++)
        n->hy[i] = yc[idx[i]];
    for (size_t i = 0; yv && i < rows; i++)
        n->hv[i] = yv[idx[i]];
}

/* Forward pass over the batch in n->X with parameters W (device); the
 * output layer's pre-activations end in A[L-1]. Returns gemm flops. */
static double s_forward(s_net_t *n, const float *W, size_t rows)
{
    double fl = 0;
    const float *a = n->X;
    for (uint32_t l = 0; l < n->L; l++) {
        blas_sgemm(n->ctx, 0, 0, (int)rows, (int)n->out[l], (int)n->in[l], 1.0f, a, (int)n->in[l],
                   W + n->wo[l], (int)n->out[l], 0.0f, n->A[l], (int)n->out[l]);
        blas_bias_act(n->ctx, n->A[l], rows, n->out[l], W + n->bo[l], l + 1 < n->L);
        fl += 2.0 * rows * n->in[l] * n->out[l];
        a = n->A[l];
    }
    return fl;
}

/* Loss of the forward pass; with grad, writes D[L-1] scaled by 1/denom
 * (the global batch's row count: data-parallel ranks hold part of it). */
static void s_loss(s_net_t *n, size_t rows, size_t denom, int grad, double *loss_sum,
                   size_t *correct)
{
    float *out = n->A[n->L - 1], *g = grad ? n->D[n->L - 1] : NULL;
    float scale = 1.0f / (float)denom;
    if (n->classify)
        blas_softmax_xent(n->ctx, out, rows, n->k, n->hy, scale, g, loss_sum, correct);
    else
        blas_mse(n->ctx, out, rows, n->hv, scale, g, loss_sum);
}

/* Backward pass from D[L-1] into G, plus the L2 term. Returns flops. */
static double s_backward(s_net_t *n, size_t rows, float l2)
{
    double fl = 0;
    for (uint32_t l = n->L; l-- > 0;) {
        const float *ain = l == 0 ? n->X : n->A[l - 1];
        int in = (int)n->in[l], out = (int)n->out[l];
        blas_sgemm(n->ctx, 1, 0, in, out, (int)rows, 1.0f, ain, in, n->D[l], out, 0.0f,
                   n->G + n->wo[l], out);
        blas_sgemv(n->ctx, 1, (int)rows, out, 1.0f, n->D[l], out, n->ones, 0.0f, n->G + n->bo[l]);
        fl += 2.0 * rows * in * out + 2.0 * rows * out;
        if (l > 0) {
            blas_sgemm(n->ctx, 0, 1, (int)rows, in, out, 1.0f, n->D[l], out, n->P + n->wo[l], out,
                       0.0f, n->D[l - 1], in);
            blas_relu_bwd(n->ctx, n->D[l - 1], n->A[l - 1], rows * (size_t)in);
            fl += 2.0 * rows * in * out;
        }
        if (l2 > 0.0f)
            blas_axpy(n->ctx, (size_t)in * out, l2, n->P + n->wo[l], n->G + n->wo[l]);
    }
    return fl;
}

/* The L2 term alone (data-parallel: added once, after the ranks' sum). */
static void s_add_l2(s_net_t *n, float l2)
{
    for (uint32_t l = 0; l2 > 0.0f && l < n->L; l++)
        blas_axpy(n->ctx, (size_t)n->in[l] * n->out[l], l2, n->P + n->wo[l], n->G + n->wo[l]);
}

/* ---- parameters and validation ----------------------------------------- */

void train_params_default(train_params_t *p)
{
    memset(p, 0, sizeof *p);
    p->kind = MLMODEL_SOFTMAX;
    p->nhidden = 1;
    p->hidden[0] = 64;
    p->optimizer = TRAIN_SGD;
    p->learning_rate = 0;
    p->l2 = 0;
    p->epochs = 10;
    p->batch_size = 256;
    p->val_fraction = 0.1;
    p->patience = 0;
    p->seed = 1;
    p->threads = 1;
    p->want_gpu = 0;
}

static int s_check_params(const train_params_t *p, size_t n, size_t d, const int32_t *yc,
                          size_t nclasses, const float *yv, char *err, size_t errlen)
{
    if (p->kind != MLMODEL_SOFTMAX && p->kind != MLMODEL_MLP && p->kind != MLMODEL_LINEAR) {
        util_errf(err, errlen, "unknown model kind %d", (int)p->kind);
        return -1;
    }
    if (p->kind == MLMODEL_LINEAR ? !yv : (!yc || nclasses < 2)) {
        util_errf(err, errlen, "%s needs %s", mlmodel_kind_name(p->kind),
                  p->kind == MLMODEL_LINEAR ? "numeric target values"
                                            : "class labels with at least 2 classes");
        return -1;
    }
    if (n < 2 || d < 1) {
        util_errf(err, errlen, "need at least 2 rows and 1 feature column (got %zu x %zu)", n, d);
        return -1;
    }
    if (p->epochs < 1 || p->batch_size < 1 || p->batch_size > (1u << 20)) {
        util_errf(err, errlen, "epochs must be >= 1 and batch_size in 1..1048576");
        return -1;
    }
    if (!(p->val_fraction >= 0.0 && p->val_fraction <= 0.9)) {
        util_errf(err, errlen, "val_fraction %g is outside [0, 0.9]", p->val_fraction);
        return -1;
    }
    if (!(p->learning_rate >= 0.0) || !isfinite(p->learning_rate) || !(p->l2 >= 0.0) ||
        !isfinite(p->l2)) {
        util_errf(err, errlen, "learning_rate and l2 must be finite and >= 0");
        return -1;
    }
    if (p->checkpoint_mode < TRAIN_CKPT_EPOCH || p->checkpoint_mode > TRAIN_CKPT_NEVER ||
        (p->checkpoint_mode == TRAIN_CKPT_SECONDS &&
         !(p->checkpoint_seconds > 0 && isfinite(p->checkpoint_seconds)))) {
        util_errf(err, errlen, "bad checkpoint cadence (mode %d, %g s)", p->checkpoint_mode,
                  p->checkpoint_seconds);
        return -1;
    }
    if (p->optimizer != TRAIN_SGD && p->optimizer != TRAIN_ADAM) {
        util_errf(err, errlen, "unknown optimizer %d", (int)p->optimizer);
        return -1;
    }
    if (p->kind == MLMODEL_MLP) {
        if (p->nhidden < 1 || p->nhidden > MLMODEL_MAX_HIDDEN) {
            util_errf(err, errlen, "mlp needs 1..%d hidden layers (got %u)", MLMODEL_MAX_HIDDEN,
                      p->nhidden);
            return -1;
        }
        for (uint32_t i = 0; i < p->nhidden; i++)
            if (p->hidden[i] < 1) {
                util_errf(err, errlen, "hidden layer %u has width 0", i + 1);
                return -1;
            }
    }
    return 0;
}

/* Rejects missing/infinite values and out-of-range labels, naming the
 * first bad cell (1-based, as a spreadsheet would). */
static int s_check_data(const float *X, size_t n, size_t d, const int32_t *yc, size_t nclasses,
                        const float *yv, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * d;
        for (size_t j = 0; j < d; j++)
            if (!isfinite(x[j])) {
                /* Data rows and feature columns, both 1-based (the label is
                 * not a column here); drover-task names the file row and
                 * column before it gets here. */
                util_errf(err, errlen,
                          "data row %zu (header not counted), feature column %zu "
                          "is %s; clean the data or train with a missing-value policy",
                          i + 1, j + 1, isnan(x[j]) ? "missing" : "infinite");
                return -1;
            }
        if (yc && (yc[i] < 0 || (size_t)yc[i] >= nclasses)) {
            util_errf(err, errlen, "row %zu has class id %d, outside 0..%zu", i + 1, yc[i],
                      nclasses - 1);
            return -1;
        }
        if (yv && !isfinite(yv[i])) {
            util_errf(err, errlen, "row %zu has a missing target value; clean the data first",
                      i + 1);
            return -1;
        }
    }
    return 0;
}

/* ---- checkpoints ------------------------------------------------------- */

typedef struct {
    uint32_t epoch, stopped, best_epoch, since_best;
    uint64_t rng, adam_t;
    double best_loss;
} s_state_t;

static uint64_t s_mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= 0x100000001B3ull;
    return h ^ (h >> 29);
}

/* Identity of "the same fit": every param that changes the result except
 * epochs (so a longer fit resumes a shorter one), plus backend, thread
 * count and the data itself. */
static uint64_t s_fingerprint(const train_params_t *p, uint32_t nh, double lr, const char *backend,
                              const float *X, size_t n, size_t d, const int32_t *yc,
                              size_t nclasses, const float *yv)
{
    uint64_t h = 0xcbf29ce484222325ull, u;
    h = s_mix(h, (uint64_t)p->kind);
    h = s_mix(h, nh);
    for (uint32_t i = 0; i < nh; i++)
        h = s_mix(h, p->hidden[i]);
    h = s_mix(h, (uint64_t)p->optimizer);
    memcpy(&u, &lr, 8);
    h = s_mix(h, u);
    memcpy(&u, &p->l2, 8);
    h = s_mix(h, u);
    memcpy(&u, &p->val_fraction, 8);
    h = s_mix(h, u);
    h = s_mix(h, p->batch_size);
    h = s_mix(h, p->patience);
    h = s_mix(h, p->seed);
    h = s_mix(h, (uint64_t)p->threads);
    h = s_mix(h, backend[0]);
    h = s_mix(h, n);
    h = s_mix(h, d);
    h = s_mix(h, nclasses);
    const uint32_t *w = (const uint32_t *)(const void *)X;
    for (size_t i = 0; i < n * d; i++)
        h = s_mix(h, w[i]);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = 0;
        if (yc)
            v = (uint32_t)yc[i];
        else
            memcpy(&v, &yv[i], 4);
        h = s_mix(h, v);
    }
    return h;
}

#define S_CKPT_HEAD (8 + 4 + 8 + 4 + 4 + 8 + 8 + 8 + 4 + 4 + 8)

static size_t s_ckpt_size(size_t np)
{
    return S_CKPT_HEAD + 4 * np * sizeof(float) + 4;
}

/* ck holds P, M, V, Best (np floats each) on the host. */
static int s_ckpt_save(const char *path, uint64_t fp, const s_state_t *st, const float *ck,
                       size_t np, char *err, size_t errlen)
{
    size_t len = s_ckpt_size(np), o = 0;
    unsigned char *b = malloc(len);
    if (!b) {
        util_errf(err, errlen, "out of memory writing a checkpoint");
        errno = ENOMEM;
        return -1;
    }
    uint32_t ver = S_CKPT_VERSION;
    uint64_t np64 = np;
#define PUT(v) (memcpy(b + o, &(v), sizeof(v)), o += sizeof(v))
    memcpy(b, S_CKPT_MAGIC, 8);
    o = 8;
    PUT(ver);
    PUT(fp);
    PUT(st->epoch);
    PUT(st->stopped);
    PUT(st->rng);
    PUT(st->adam_t);
    PUT(st->best_loss);
    PUT(st->best_epoch);
    PUT(st->since_best);
    PUT(np64);
    memcpy(b + o, ck, 4 * np * sizeof(float));
    o += 4 * np * sizeof(float);
    uint32_t crc = mlmodel_crc32c(0, b, o);
    PUT(crc);
#undef PUT
    int rc = mlmodel_write_atomic_(path, b, len, err, errlen);
    free(b);
    return rc;
}

/* Loads a checkpoint matching fp and np into st/ck. 1 = loaded, 0 = none
 * usable (absent, corrupt, another fit's), -1 = out of memory. */
static int s_ckpt_load(const char *path, uint64_t fp, s_state_t *st, float *ck, size_t np)
{
    char e[256];
    size_t len = 0, o = 8;
    unsigned char *b = mlmodel_read_file_(path, &len, e, sizeof e);
    if (!b)
        return errno == ENOMEM ? -1 : 0;
    int ok = 0;
    uint32_t ver, crc;
    uint64_t fp2, np64;
    if (len != s_ckpt_size(np) || memcmp(b, S_CKPT_MAGIC, 8) != 0)
        goto done;
    memcpy(&crc, b + len - 4, 4);
    if (mlmodel_crc32c(0, b, len - 4) != crc)
        goto done;
#define GET(v) (memcpy(&(v), b + o, sizeof(v)), o += sizeof(v))
    GET(ver);
    GET(fp2);
    GET(st->epoch);
    GET(st->stopped);
    GET(st->rng);
    GET(st->adam_t);
    GET(st->best_loss);
    GET(st->best_epoch);
    GET(st->since_best);
    GET(np64);
#undef GET
    if (ver != S_CKPT_VERSION || fp2 != fp || np64 != np || st->epoch < 1)
        goto done;
    memcpy(ck, b + o, 4 * np * sizeof(float));
    ok = 1;
done:
    free(b);
    return ok;
}

/* ---- fit --------------------------------------------------------------- */

static void s_init_params(mlmodel_t *m, uint64_t *rng)
{
    uint32_t L = mlmodel_nlayers(m);
    for (uint32_t l = 0; l < L; l++) {
        uint32_t in, out;
        size_t wo, bo;
        mlmodel_layer(m, l, &in, &out, &wo, &bo);
        /* He for layers feeding a ReLU, Xavier-style 1/in for the output. */
        double s = sqrt((l + 1 < L ? 2.0 : 1.0) / in);
        for (size_t i = 0; i < (size_t)in * out; i++)
            m->params[wo + i] = (float)(s * s_normal(rng));
        memset(m->params + bo, 0, out * sizeof(float));
    }
}

/* Evaluates rows idx[0..cnt) in batches; sums[0] += loss sum, sums[1] +=
 * correct predictions. */
static void s_evaluate(s_net_t *net, const float *X, const size_t *idx, size_t cnt,
                       const float *mean, const float *inv_std, const int32_t *yc, const float *yv,
                       double sums[2], double *flops)
{
    double sum = 0;
    size_t correct = 0;
    for (size_t off = 0; off < cnt; off += net->B) {
        size_t rows = cnt - off < net->B ? cnt - off : net->B;
        s_gather(net, X, idx + off, rows, mean, inv_std, yc, yv);
        *flops += s_forward(net, net->P, rows);
        s_loss(net, rows, rows, 0, &sum, &correct);
    }
    sums[0] += sum;
    sums[1] += (double)correct;
}

/* Positions r, r+k, r+2k, ... of a[0..n) into out; the count. */
static size_t s_stride(const size_t *a, size_t n, int r, int k, size_t *out)
{
    size_t c = 0;
    for (size_t i = (size_t)r; i < n; i += (size_t)k)
        out[c++] = a[i];
    return c;
}

/* Sums buf across the ranks (no-op without a comm), timing it. */
static int s_sum_f(train_comm_t *c, float *buf, size_t n, double *secs)
{
    if (!c)
        return 0;
    double t0 = s_now();
    int rc = c->sum_f(c, buf, n);
    *secs += s_now() - t0;
    return rc;
}

/* FNV-1a over the parameters: the ranks compare it at the end. */
static uint64_t s_param_hash(const float *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n * sizeof(float); i++)
        h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

/* The split: perm = shuffled 0..n-1, training rows first; returns the
 * training count. *init and *shuffle get the other two streams. */
static size_t s_split_perm(const train_params_t *p, size_t n, size_t *perm, uint64_t *init,
                           uint64_t *shuffle)
{
    uint64_t seed = p->seed, s_split = s_rng(&seed);
    *init = s_rng(&seed);
    *shuffle = s_rng(&seed);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    s_shuffle(&s_split, perm, n);
    size_t n_val = (size_t)((double)n * p->val_fraction);
    if (n_val >= n)
        n_val = n - 1;
    return n - n_val;
}

int train_split_means(const train_params_t *p, const float *X, size_t n, size_t d, float *means,
                      size_t *bad_col, char *err, size_t errlen)
{
    uint64_t a, b;
    *bad_col = 0;
    if (n < 2 || d < 1 || !(p->val_fraction >= 0.0 && p->val_fraction <= 0.9)) {
        util_errf(err, errlen, "need at least 2 rows, 1 column and val_fraction in [0, 0.9]");
        errno = EINVAL;
        return -1;
    }
    size_t *perm = malloc(n * sizeof *perm);
    double *sum = calloc(d, sizeof *sum);
    size_t *cnt = calloc(d, sizeof *cnt);
    if (!perm || !sum || !cnt) {
        free(perm);
        free(sum);
        free(cnt);
        util_errf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    size_t nt = s_split_perm(p, n, perm, &a, &b);
    for (size_t i = 0; i < nt; i++) {
        const float *x = X + perm[i] * d;
        for (size_t j = 0; j < d; j++)
            if (!isnan(x[j])) {
                sum[j] += x[j];
                cnt[j]++;
            }
    }
    int rc = 0;
    for (size_t j = 0; j < d; j++) {
        if (cnt[j] == 0) {
            *bad_col = j + 1;
            util_errf(err, errlen,
                      "feature column %zu has no value in the training split, so it "
                      "has no mean to impute",
                      j + 1);
            errno = EINVAL;
            rc = -1;
            break;
        }
        means[j] = (float)(sum[j] / (double)cnt[j]);
    }
    free(perm);
    free(sum);
    free(cnt);
    return rc;
}

int train_fit(const train_params_t *p, const float *X, size_t n, size_t d, const int32_t *y_class,
              size_t nclasses, const float *y_value, train_epoch_f on_epoch, void *cb_ctx,
              const char *checkpoint_path, mlmodel_t **out, train_result_t *result, char *err,
              size_t errlen)
{
    int rc = -1, eno = EINVAL;
    blas_ctx_t *ctx = NULL;
    mlmodel_t *m = NULL;
    s_net_t net = {0};
    size_t *perm = NULL, *order = NULL, *local = NULL, *vlocal = NULL;
    float *inv_std = NULL, *ck = NULL, *hostg = NULL, *zeros = NULL;
    train_result_t res = {0};
    s_state_t st = {0};

    if (!p || !X || !out) {
        util_errf(err, errlen, "train_fit: missing argument");
        goto done;
    }
    const int classify = p->kind != MLMODEL_LINEAR;
    if (s_check_params(p, n, d, y_class, nclasses, y_value, err, errlen) ||
        s_check_data(X, n, d, classify ? y_class : NULL, nclasses, classify ? NULL : y_value, err,
                     errlen))
        goto done;
    if (!classify)
        y_class = NULL;
    else
        y_value = NULL;
    train_comm_t *comm = p->comm;
    if (comm && (comm->size < 1 || comm->rank < 0 || comm->rank >= comm->size || !comm->sum_f ||
                 !comm->sum_d || !comm->bcast)) {
        util_errf(err, errlen, "train_fit: bad data-parallel transport");
        goto done;
    }
    /* Rank 0 (or the only process) owns the checkpoint file. */
    const int lead = !comm || comm->rank == 0;
    const int adam = p->optimizer == TRAIN_ADAM;
    const double lr = p->learning_rate > 0 ? p->learning_rate : adam ? 0.003 : 0.1;
    const uint32_t nh = p->kind == MLMODEL_MLP ? p->nhidden : 0;

    if (!(ctx = blas_open(p->want_gpu, p->threads, err, errlen))) {
        eno = errno;
        goto done;
    }
    snprintf(res.backend, sizeof res.backend, "%s", blas_backend_name(ctx));
    if (!(m = mlmodel_create(p->kind, (uint32_t)d, classify ? (uint32_t)nclasses : 1, nh, p->hidden,
                             err, errlen))) {
        eno = errno;
        goto done;
    }
    eno = ENOMEM;
    if (!(perm = malloc(n * sizeof *perm)) || !(inv_std = malloc(d * sizeof(float)))) {
        util_errf(err, errlen, "out of memory");
        goto done;
    }

    /* Three independent streams, so e.g. a different split never changes
     * the initialisation. */
    uint64_t s_init;
    size_t n_train = s_split_perm(p, n, perm, &s_init, &st.rng), n_val = n - n_train;
    res.n_train = n_train;
    res.n_val = n_val;

    /* Standardisation from the training split only (two passes, double). */
    {
        double *acc = calloc(2 * d, sizeof(double));
        if (!acc) {
            util_errf(err, errlen, "out of memory");
            goto done;
        }
        /* In memory order (a mask marks validation rows): sequential reads. */
        unsigned char *is_val = calloc(n, 1);
        if (!is_val) {
            free(acc);
            util_errf(err, errlen, "out of memory");
            goto done;
        }
        for (size_t i = n_train; i < n; i++)
            is_val[perm[i]] = 1;
        for (size_t i = 0; i < n; i++) {
            if (is_val[i])
                continue;
            const float *x = X + i * d;
            for (size_t j = 0; j < d; j++)
                acc[j] += x[j];
        }
        for (size_t j = 0; j < d; j++)
            acc[j] /= (double)n_train;
        for (size_t i = 0; i < n; i++) {
            if (is_val[i])
                continue;
            const float *x = X + i * d;
            for (size_t j = 0; j < d; j++) {
                double t = x[j] - acc[j];
                acc[d + j] += t * t;
            }
        }
        free(is_val);
        for (size_t j = 0; j < d; j++) {
            double sd = sqrt(acc[d + j] / (double)n_train);
            if (!(sd > 1e-12))
                sd = 1.0; /* constant column: leave it centred, unscaled */
            m->mean[j] = (float)acc[j];
            m->std[j] = (float)sd;
            inv_std[j] = 1.0f / m->std[j];
        }
        free(acc);
    }
    s_init_params(m, &s_init);

    const int keep_best = p->patience > 0 && n_val > 0;
    if (s_net_init(&net, ctx, m, p->batch_size, adam, keep_best, err, errlen))
        goto done;
    if (blas_upload(ctx, net.P, m->params, m->nparams) != 0)
        goto backend;
    st.best_loss = INFINITY;

    uint64_t fp = 0;
    uint32_t start = 1;
    const size_t np = m->nparams;
    if (checkpoint_path || comm) {
        if (!(ck = calloc(4 * np, sizeof(float)))) {
            util_errf(err, errlen, "out of memory for checkpoint buffers");
            goto done;
        }
        s_state_t saved;
        int got = 0;
        if (checkpoint_path && lead) {
            fp = s_fingerprint(p, nh, lr, res.backend, X, n, d, y_class, nclasses, y_value);
            got = s_ckpt_load(checkpoint_path, fp, &saved, ck, np);
        }
        /* Every rank resumes from what rank 0 read. */
        if (comm && (comm->bcast(comm, &got, sizeof got) ||
                     (got == 1 && (comm->bcast(comm, &saved, sizeof saved) ||
                                   comm->bcast(comm, ck, 4 * np * sizeof(float)))))) {
            util_errf(err, errlen, "cannot share the checkpoint between the ranks");
            eno = EIO;
            goto done;
        }
        if (got < 0) {
            util_errf(err, errlen, "out of memory reading the checkpoint");
            goto done;
        }
        if (got == 1) {
            st = saved;
            blas_upload(ctx, net.P, ck, np);
            if (adam) {
                blas_upload(ctx, net.M, ck + np, np);
                blas_upload(ctx, net.V, ck + 2 * np, np);
            }
            if (keep_best)
                blas_upload(ctx, net.Best, ck + 3 * np, np);
            start = st.epoch + 1;
            res.resumed_from_epoch = start;
            res.epochs_done = st.epoch;
            res.best_epoch = st.best_epoch;
            res.stopped_early = (int)st.stopped;
        }
    }

    if (!(order = malloc((n_train ? n_train : 1) * sizeof *order))) {
        util_errf(err, errlen, "out of memory");
        goto done;
    }
    /* Data-parallel: this rank's part of each batch and of the validation
     * split; the gradient on the host for the sum (the CPU backend's
     * buffers are host memory already). */
    size_t nv_local = n_val;
    const size_t *vidx = perm + n_train;
    if (comm) {
        if (!(local = malloc(p->batch_size * sizeof *local)) ||
            !(vlocal = malloc((n_val ? n_val : 1) * sizeof *vlocal)) ||
            !(zeros = calloc(np, sizeof *zeros)) ||
            (blas_is_gpu(ctx) && !(hostg = malloc(np * sizeof *hostg)))) {
            util_errf(err, errlen, "out of memory");
            goto done;
        }
        nv_local = s_stride(perm + n_train, n_val, comm->rank, comm->size, vlocal);
        vidx = vlocal;
    }
    const size_t B = p->batch_size;
    const float l2 = (float)p->l2;
    double flops = 0, last_ckpt = s_now();
    for (uint32_t e = start; e <= p->epochs && !st.stopped; e++) {
        double t0 = s_now();
        memcpy(order, perm, n_train * sizeof *order);
        s_shuffle(&st.rng, order, n_train);
        double loss_sum = 0;
        size_t correct = 0;
        for (size_t off = 0; off < n_train; off += B) {
            size_t rows = n_train - off < B ? n_train - off : B;
            const size_t *bi = order + off;
            size_t mine = rows;
            if (comm) {
                mine = s_stride(order + off, rows, comm->rank, comm->size, local);
                bi = local;
            }
            if (mine > 0) {
                s_gather(&net, X, bi, mine, m->mean, inv_std, y_class, y_value);
                flops += s_forward(&net, net.P, mine);
                s_loss(&net, mine, rows, 1, &loss_sum, &correct);
                flops += s_backward(&net, mine, comm ? 0.0f : l2);
            } else {
                blas_upload(ctx, net.G, zeros, np); /* a batch smaller than the gang */
            }
            if (comm) {
                float *g = hostg ? hostg : net.G;
                if (hostg)
                    blas_download(ctx, hostg, net.G, np);
                if (s_sum_f(comm, g, np, &res.comm_seconds)) {
                    util_errf(err, errlen,
                              "the gradient sum across the ranks failed (a member "
                              "is gone?)");
                    eno = EIO;
                    goto done;
                }
                if (hostg)
                    blas_upload(ctx, net.G, hostg, np);
                s_add_l2(&net, l2);
            }
            res.steps++;
            if (adam)
                blas_adam(ctx, net.P, net.G, net.M, net.V, np, (float)lr, 0.9f, 0.999f, 1e-8f,
                          ++st.adam_t);
            else
                blas_axpy(ctx, np, (float)-lr, net.G, net.P);
        }
        if (blas_status(ctx, err, errlen))
            goto backend;
        train_epoch_t ep = {.epoch = e, .epochs = p->epochs};
        /* {train loss, train correct, val loss, val correct}, summed over
         * the ranks so that every rank takes the same early-stopping
         * decision. */
        double sums[4] = {loss_sum, (double)correct, 0, 0};
        if (n_val)
            s_evaluate(&net, X, vidx, nv_local, m->mean, inv_std, y_class, y_value, sums + 2,
                       &flops);
        if (comm && comm->sum_d(comm, sums, 4)) {
            util_errf(err, errlen, "the metric sum across the ranks failed (a member is gone?)");
            eno = EIO;
            goto done;
        }
        ep.train_loss = sums[0] / (double)n_train;
        ep.train_metric = classify ? sums[1] / (double)n_train : sqrt(ep.train_loss);
        ep.val_loss = ep.val_metric = NAN;
        if (n_val) {
            ep.val_loss = sums[2] / (double)n_val;
            ep.val_metric = classify ? sums[3] / (double)n_val : sqrt(ep.val_loss);
            if (ep.val_loss < st.best_loss) {
                st.best_loss = ep.val_loss;
                st.best_epoch = e;
                st.since_best = 0;
                ep.is_best = 1;
                if (keep_best)
                    blas_copy(ctx, net.Best, net.P, np);
            } else if (p->patience && ++st.since_best >= p->patience) {
                st.stopped = 1;
            }
        } else {
            st.best_epoch = e;
            ep.is_best = 1;
        }
        st.epoch = e;
        if (blas_status(ctx, err, errlen))
            goto backend;
        int ckpt_now = lead && checkpoint_path && p->checkpoint_mode != TRAIN_CKPT_NEVER &&
                       (p->checkpoint_mode != TRAIN_CKPT_SECONDS ||
                        s_now() - last_ckpt >= p->checkpoint_seconds);
        if (ckpt_now) {
            blas_download(ctx, ck, net.P, np);
            if (adam) {
                blas_download(ctx, ck + np, net.M, np);
                blas_download(ctx, ck + 2 * np, net.V, np);
            }
            if (keep_best)
                blas_download(ctx, ck + 3 * np, net.Best, np);
            if (blas_status(ctx, err, errlen))
                goto backend;
            if (s_ckpt_save(checkpoint_path, fp, &st, ck, np, err, errlen)) {
                eno = errno;
                goto done;
            }
            last_ckpt = s_now();
            res.checkpoints++;
        }
        ep.seconds = s_now() - t0;
        res.seconds += ep.seconds;
        res.epochs_done = e;
        res.best_epoch = st.best_epoch;
        res.stopped_early = (int)st.stopped;
        if (on_epoch && on_epoch(&ep, cb_ctx) != 0) {
            util_errf(err, errlen, "training cancelled after epoch %u", e);
            eno = ECANCELED;
            goto done;
        }
    }
    res.gemm_flops = flops;

    /* With early stopping on, the best epoch's parameters are the model. */
    blas_download(ctx, m->params, keep_best && st.best_epoch ? net.Best : net.P, np);
    if (blas_status(ctx, err, errlen))
        goto backend;
    if (!keep_best || !st.best_epoch)
        res.best_epoch = res.epochs_done;
    if (comm) {
        /* The sums are identical on every rank, so are the parameters;
         * check rather than register a model some rank disagrees with. */
        uint64_t mine = s_param_hash(m->params, np), r0 = mine;
        if (comm->bcast(comm, &r0, sizeof r0)) {
            util_errf(err, errlen, "cannot compare the parameters across the ranks");
            eno = EIO;
            goto done;
        }
        double differ = r0 != mine; /* every rank learns whether any differs */
        if (comm->sum_d(comm, &differ, 1) || differ > 0) {
            util_errf(err, errlen,
                      "%g rank(s) ended with parameters that differ from rank 0's (this rank: "
                      "%s); no model",
                      differ, r0 != mine ? "differs" : "same");
            eno = EIO;
            goto done;
        }
    }
    /* A diverged fit is no model: NaN parameters would predict NaN (or
     * class 0) for every row. The same decision on every rank (their
     * parameters are equal). */
    for (size_t i = 0; i < np; i++)
        if (!isfinite(m->params[i])) {
            util_errf(err, errlen,
                      "training diverged: parameter %zu is %s after epoch %u; lower "
                      "learning_rate (or standardise the features, raise l2)",
                      i, isnan(m->params[i]) ? "NaN" : "infinite", res.epochs_done);
            eno = EDOM;
            goto done;
        }

    char meta[1100], hid[200] = "", ranks[40] = "";
    if (comm)
        snprintf(ranks, sizeof ranks, ",\"ranks\":%d", comm->size);
    size_t ho = 0;
    for (uint32_t i = 0; i < nh && ho < sizeof hid - 16; i++)
        ho += (size_t)snprintf(hid + ho, sizeof hid - ho, "%s%u", i ? "," : "", p->hidden[i]);
    snprintf(meta, sizeof meta,
             "{\"trainer\":\"%s\",\"hidden\":[%s],\"optimizer\":\"%s\",\"learning_rate\":%.17g,"
             "\"l2\":%.17g,\"epochs\":%u,\"batch_size\":%u,\"val_fraction\":%.17g,"
             "\"patience\":%u,\"seed\":%llu,\"threads\":%d,\"backend\":\"%s\","
             "\"n_train\":%zu,\"n_val\":%zu,\"epochs_done\":%u,\"best_epoch\":%u,"
             "\"stopped_early\":%s%s}",
             mlmodel_kind_name(p->kind), hid, adam ? "adam" : "sgd", lr, p->l2, p->epochs,
             p->batch_size, p->val_fraction, p->patience, (unsigned long long)p->seed,
             p->threads > 0 ? p->threads : 1, res.backend, n_train, n_val, res.epochs_done,
             res.best_epoch, res.stopped_early ? "true" : "false", ranks);
    if (mlmodel_set_meta(m, meta)) {
        util_errf(err, errlen, "out of memory");
        goto done;
    }
    *out = m;
    m = NULL;
    if (result)
        *result = res;
    rc = 0;
    goto done;
backend:
    eno = EIO;
done:
    s_net_free(&net);
    blas_close(&ctx);
    mlmodel_destroy(&m);
    free(ck);
    free(local);
    free(vlocal);
    free(hostg);
    free(zeros);
    free(order);
    free(perm);
    free(inv_std);
    if (rc)
        errno = eno;
    return rc;
}

int train_debug_objective(const mlmodel_t *m, const float *X, size_t n, const int32_t *y_class,
                          const float *y_value, double l2, double *loss, float *grad, char *err,
                          size_t errlen)
{
    int rc = -1;
    s_net_t net = {0};
    size_t *idx = NULL;
    float *inv_std = NULL;
    blas_ctx_t *ctx = blas_open(0, 1, err, errlen);
    if (!ctx)
        return -1;
    if (!(idx = malloc(n * sizeof *idx)) || !(inv_std = malloc(m->d * sizeof(float)))) {
        errno = ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (uint32_t j = 0; j < m->d; j++)
        inv_std[j] = 1.0f / m->std[j];
    if (s_net_init(&net, ctx, m, n, 0, 0, err, errlen))
        goto done;
    blas_upload(ctx, net.P, m->params, m->nparams);
    int classify = m->kind != MLMODEL_LINEAR;
    s_gather(&net, X, idx, n, m->mean, inv_std, classify ? y_class : NULL,
             classify ? NULL : y_value);
    s_forward(&net, net.P, n);
    double sum = 0;
    size_t correct = 0;
    s_loss(&net, n, n, 1, &sum, &correct);
    s_backward(&net, n, (float)l2);
    double reg = 0;
    for (uint32_t l = 0; l < net.L; l++)
        for (size_t i = 0; i < (size_t)net.in[l] * net.out[l]; i++)
            reg += (double)m->params[net.wo[l] + i] * m->params[net.wo[l] + i];
    *loss = sum / (double)n + 0.5 * l2 * reg;
    if (grad)
        blas_download(ctx, grad, net.G, m->nparams);
    rc = blas_status(ctx, err, errlen);
done:
    s_net_free(&net);
    blas_close(&ctx);
    free(idx);
    free(inv_std);
    return rc;
}
