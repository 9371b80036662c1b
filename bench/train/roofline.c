/* drover-bench-roofline — how close a built-in trainer's epoch comes to the
 * roofline (issue 16; not a test: figures depend on the machine and load).
 *
 *   drover-bench-roofline FILE softmax|mlp|linear [--epochs E] [--runs R]
 *       [--batch B] [--hidden H] [--adam] [--lr X]
 *
 * FILE is a DRVBENCH file from `drover-bench-train gen`; the trainer fits
 * its training rows (linear: the class id as a numeric target, for the
 * shape only). Each of R rounds measures, in this process and in turn:
 *   sgemm     the exact sgemm calls of one epoch (every batch, the last
 *             partial one included, each layer's forward NN, weight-gradient
 *             TN and, below the top layer, input-gradient NT product) on
 *             buffers of the trainer's sizes: compute bound = that time,
 *             i.e. the epoch's GEMM flops at OpenBLAS's rate on its shapes;
 *   stream    one sequential read of the training data (features and
 *             labels) with cblas_sasum: bandwidth bound = bytes / rate;
 *   train     train_fit for E epochs (no validation split, no checkpoint):
 *             the median of its per-epoch wall times.
 * Every time is this thread's CPU time (one BLAS thread does all the work
 * in it), so a machine shared with other builds does not count the time
 * spent waiting for a core; the epoch's wall time is reported beside it.
 * Roofline = max(compute bound, bandwidth bound); fraction = roofline /
 * achieved (CPU time). For the explanation, not the bound: gather, the time
 * blas_gather takes to copy (standardised) one epoch's rows in a shuffled
 * order, as the trainers do. X is allocated as drover-task allocates a
 * loaded dataset's (dataset_alloc_matrix). Prints one JSON line of medians
 * over the rounds.
 *
 * Built with -DROOFLINE_BEFORE (roofline.sh does, against an older tree, for
 * before/after figures) it uses only what main had before issue 16: X from
 * malloc, as drover-task allocated it then, and no gather figure (-1).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "dataset.h"
#include "train.h"

/* This thread's CPU time: with one BLAS thread all the work runs here, and
 * on a shared, oversubscribed machine it leaves out the time the thread
 * waited for a core, which wall time does not. */
static double s_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, s_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

enum { MAXRUNS = 64, MAXEPOCHS = 256 };

typedef struct {
    double sec[MAXEPOCHS], cpu[MAXEPOCHS], last_cpu;
    size_t n;
} s_epochs_t;

static int s_on_epoch(const train_epoch_t *e, void *ctx)
{
    s_epochs_t *ep = ctx;
    double c = s_cpu();
    if (ep->n < MAXEPOCHS) {
        ep->sec[ep->n] = e->seconds;
        ep->cpu[ep->n++] = c - ep->last_cpu;
    }
    ep->last_cpu = c;
    return 0;
}

/* One epoch's sgemm calls with the trainer's shapes; returns seconds and
 * adds the flops to *flops. Buffers are the trainer's sizes, so they are as
 * cache-resident as in training. */
static double s_sgemm_epoch(const mlmodel_t *m, size_t B, size_t n_train, double *flops)
{
    uint32_t L = mlmodel_nlayers(m), in[MLMODEL_MAX_HIDDEN + 1], out[MLMODEL_MAX_HIDDEN + 1];
    size_t wsz = 0, xsz = B * m->d;
    float *A[MLMODEL_MAX_HIDDEN + 1] = {0}, *D[MLMODEL_MAX_HIDDEN + 1] = {0};
    for (uint32_t l = 0; l < L; l++) {
        mlmodel_layer(m, l, &in[l], &out[l], NULL, NULL);
        wsz += (size_t)in[l] * out[l];
    }
    float *X = calloc(xsz, 4), *W = calloc(wsz, 4), *G = calloc(wsz, 4);
    int ok = X && W && G;
    for (uint32_t l = 0; ok && l < L; l++)
        ok = (A[l] = calloc(B * out[l], 4)) && (D[l] = calloc(B * out[l], 4));
    double t = -1;
    if (!ok) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < xsz; i++)
        X[i] = (float)((i % 7) - 3) * 0.1f;
    for (size_t i = 0; i < wsz; i++)
        W[i] = (float)((i % 5) - 2) * 0.01f;
    double fl = 0, t0 = s_cpu();
    for (size_t off = 0; off < n_train; off += B) {
        int r = (int)(n_train - off < B ? n_train - off : B);
        size_t wo = 0;
        for (uint32_t l = 0; l < L; l++) {
            const float *a = l ? A[l - 1] : X;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, (int)out[l], (int)in[l], 1, a,
                        (int)in[l], W + wo, (int)out[l], 0, A[l], (int)out[l]);
            wo += (size_t)in[l] * out[l];
        }
        for (uint32_t l = L; l-- > 0;) {
            wo -= (size_t)in[l] * out[l];
            const float *a = l ? A[l - 1] : X;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)in[l], (int)out[l], r, 1, a,
                        (int)in[l], D[l], (int)out[l], 0, G + wo, (int)out[l]);
            fl += 4.0 * r * in[l] * out[l];
            if (l > 0) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, (int)in[l], (int)out[l], 1,
                            D[l], (int)out[l], W + wo, (int)out[l], 0, D[l - 1], (int)in[l]);
                fl += 2.0 * r * in[l] * out[l];
            }
        }
    }
    t = s_cpu() - t0;
    *flops = fl;
done:
    for (uint32_t l = 0; l < L; l++) {
        free(A[l]);
        free(D[l]);
    }
    free(X);
    free(W);
    free(G);
    return t;
}

/* One epoch's shuffled gather of the training rows; returns seconds. */
static double s_gather_epoch(const float *X, size_t ntr, size_t d, size_t B, uint64_t seed)
{
#ifdef ROOFLINE_BEFORE
    (void)X, (void)ntr, (void)d, (void)B, (void)seed;
    return 0; /* reported as -1 ms: no blas_gather in that tree */
#else
    char err[256];
    double t = -1;
    blas_ctx_t *ctx = blas_open(0, 1, err, sizeof err);
    float *dst = ctx ? blas_alloc(ctx, B * d) : NULL, *mean = calloc(d, 4), *inv = calloc(d, 4);
    size_t *idx = malloc(ntr * sizeof *idx);
    if (!dst || !mean || !inv || !idx) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    for (size_t j = 0; j < d; j++)
        inv[j] = 1.0f;
    for (size_t i = 0; i < ntr; i++)
        idx[i] = i;
    for (size_t i = ntr; i > 1; i--) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)((seed >> 33) % i), x = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = x;
    }
    double t0 = s_cpu();
    for (size_t off = 0; off < ntr; off += B)
        blas_gather(ctx, dst, X, idx + off, ntr - off < B ? ntr - off : B, d, mean, inv);
    t = s_cpu() - t0;
done:
    free(idx);
    free(mean);
    free(inv);
    if (ctx)
        blas_free(ctx, &dst);
    blas_close(&ctx);
    return t;
#endif
}

/* One sequential read of the training data; returns bytes/s. */
static double s_stream(const float *X, size_t nfloats, const int32_t *y, size_t n, double *sink)
{
    double t0 = s_cpu();
    /* sasum of the labels' bits as floats: a read of them, value unused. */
    *sink +=
        cblas_sasum((int)nfloats, X, 1) + cblas_sasum((int)n, (const float *)(const void *)y, 1);
    double t = s_cpu() - t0;
    return (double)(nfloats + n) * 4.0 / t;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: drover-bench-roofline FILE softmax|mlp|linear [--epochs E] "
                        "[--runs R] [--batch B] [--hidden H] [--adam] [--lr X]\n");
        return 2;
    }
    train_params_t p;
    train_params_default(&p);
    p.val_fraction = 0;
    p.hidden[0] = 128;
    p.epochs = 5;
    int runs = 5;
    if (mlmodel_kind_parse(argv[2], &p.kind) != 0) {
        fprintf(stderr, "unknown trainer %s\n", argv[2]);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--adam"))
            p.optimizer = TRAIN_ADAM;
        else if (i + 1 < argc && !strcmp(argv[i], "--epochs"))
            p.epochs = (uint32_t)atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--runs"))
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--batch"))
            p.batch_size = (uint32_t)atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--lr"))
            p.learning_rate = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--hidden"))
            p.hidden[0] = (uint32_t)atoi(argv[++i]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (runs < 1 || runs > MAXRUNS || p.epochs < 1 || p.epochs > MAXEPOCHS) {
        fprintf(stderr, "--runs must be 1..%d and --epochs 1..%d\n", MAXRUNS, MAXEPOCHS);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    uint64_t hdr[8];
    if (!f || fread(hdr, sizeof hdr, 1, f) != 1 || memcmp(hdr, "DRVBENCH", 8)) {
        fprintf(stderr, "cannot read %s (run drover-bench-train gen first)\n", argv[1]);
        return 1;
    }
    size_t n = hdr[1], d = hdr[2], k = hdr[3], ntr = hdr[4];
#ifdef ROOFLINE_BEFORE
    float *X = malloc(n * d * 4), *yv = malloc(n * 4);
#else
    float *X = dataset_alloc_matrix(n * d * 4), *yv = malloc(n * 4);
#endif
    int32_t *y = malloc(n * 4);
    if (!X || !y || !yv || fread(X, 4, n * d, f) != n * d || fread(y, 4, n, f) != n) {
        fprintf(stderr, "short read on %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    for (size_t i = 0; i < n; i++)
        yv[i] = (float)y[i];
    const int lin = p.kind == MLMODEL_LINEAR;
    if (p.kind != MLMODEL_MLP)
        p.nhidden = 0;

    char err[256];
    double t_gemm[MAXRUNS], bw[MAXRUNS], t_ep[MAXRUNS], t_wall[MAXRUNS], t_ga[MAXRUNS], flops = 0,
                                                                                        sink = 0;
    for (int r = 0; r < runs; r++) {
        mlmodel_t *m = NULL;
        train_result_t res;
        s_epochs_t ep = {.n = 0, .last_cpu = s_cpu()};
        bw[r] = s_stream(X, ntr * d, y, ntr, &sink);
        if (train_fit(&p, X, ntr, d, lin ? NULL : y, k, lin ? yv : NULL, s_on_epoch, &ep, NULL, &m,
                      &res, err, sizeof err)) {
            fprintf(stderr, "train: %s\n", err);
            return 1;
        }
        t_ep[r] = s_median(ep.cpu, ep.n); /* the first includes the fit's setup */
        t_wall[r] = s_median(ep.sec, ep.n);
        t_gemm[r] = s_sgemm_epoch(m, p.batch_size, ntr, &flops);
        t_ga[r] = s_gather_epoch(X, ntr, d, p.batch_size, (uint64_t)r + 1);
        mlmodel_destroy(&m);
        if (t_gemm[r] < 0 || t_ga[r] < 0)
            return 1;
    }
    double tg = s_median(t_gemm, (size_t)runs), b = s_median(bw, (size_t)runs);
    double te = s_median(t_ep, (size_t)runs), tw = s_median(t_wall, (size_t)runs),
           bytes = (double)ntr * (d + 1) * 4.0;
    double tb = bytes / b, roof = tg > tb ? tg : tb, tga = s_median(t_ga, (size_t)runs);
    char name[32];
    if (p.kind == MLMODEL_MLP)
        snprintf(name, sizeof name, "mlp(%u)", p.hidden[0]);
    else
        snprintf(name, sizeof name, "%s", argv[2]);
    printf("{\"trainer\":\"%s\",\"optimizer\":\"%s\",\"batch\":%u,\"rows\":%zu,\"d\":%zu,"
           "\"k\":%zu,\"flops_epoch\":%.4g,\"bytes_epoch\":%.4g,\"sgemm_gflops\":%.2f,"
           "\"stream_gbs\":%.2f,\"t_sgemm_ms\":%.3f,\"t_stream_ms\":%.3f,\"t_roof_ms\":%.3f,"
           "\"t_epoch_ms\":%.3f,\"fraction\":%.3f,\"t_gather_ms\":%.3f,\"runs\":%d,"
           "\"epochs\":%u,\"wall_epoch_ms\":%.3f,\"sink\":%d}\n",
           name, p.optimizer == TRAIN_ADAM ? "adam" : "sgd", p.batch_size, ntr, d, lin ? 1 : k,
           flops, bytes, flops / tg / 1e9, b / 1e9, tg * 1e3, tb * 1e3, roof * 1e3, te * 1e3,
           roof / te, tga > 0 ? tga * 1e3 : -1.0, runs, p.epochs, tw * 1e3, sink > 0);
    free(X);
    free(y);
    free(yv);
    return 0;
}
