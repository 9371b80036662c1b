/* drover-bench-train — benchmark of the built-in trainers (not a test).
 *
 *   drover-bench-train gen DIR [SEED]
 *       writes DIR/linear.bin and DIR/nonlinear.bin: 200,000 x 100 float32
 *       features, 10 classes, first 80% train / last 20% test, generated
 *       deterministically from SEED (splitmix64). File layout (LE):
 *       "DRVBENCH", u64 n, u64 d, u64 k, u64 n_train, 24 bytes zero,
 *       float32 X[n*d], int32 y[n]. bench.py reads the same files.
 *   drover-bench-train run FILE softmax|mlp [--epochs N] [--batch B]
 *       [--lr X] [--adam] [--hidden H] [--threads T]
 *       trains on the train rows, predicts the test rows, and prints one
 *       JSON line: wall seconds (fit + predict, data load excluded), peak
 *       RSS (MiB), test accuracy, the loop's GFLOP/s (gemm/gemv flops over
 *       the fit's epoch time) and plain sgemm's GFLOP/s on the same shapes
 *       in the same process.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dataset.h"
#include "metrics.h"
#include "train.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t s_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double s_unif(uint64_t *s)
{
    return ((s_rng(s) >> 11) + 0.5) * 0x1.0p-53;
}
static double s_normal(uint64_t *s)
{
    return sqrt(-2 * log(s_unif(s))) * cos(6.283185307179586 * s_unif(s));
}

enum { N = 200000, D = 100, K = 10, NH = 32 };

static int s_gen(const char *path, int nonlinear, uint64_t seed)
{
    uint64_t s = seed * 2 + (uint64_t)nonlinear;
    float *X = malloc((size_t)N * D * 4);
    int32_t *y = malloc((size_t)N * 4);
    double W1[D][NH], b1[NH], W2[NH][K], W[D][K];
    for (int i = 0; i < D; i++)
        for (int j = 0; j < K; j++)
            W[i][j] = s_normal(&s) * 3.0 / sqrt(D);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < NH; j++)
            W1[i][j] = s_normal(&s) / sqrt(D);
    for (int j = 0; j < NH; j++)
        b1[j] = s_normal(&s) * 0.5;
    for (int i = 0; i < NH; i++)
        for (int j = 0; j < K; j++)
            W2[i][j] = s_normal(&s) * 6.0 / sqrt(NH);
    for (size_t r = 0; r < N; r++) {
        float *x = X + r * D;
        for (int i = 0; i < D; i++)
            x[i] = (float)s_normal(&s);
        double z[K] = {0};
        if (nonlinear) {
            double h[NH];
            for (int j = 0; j < NH; j++) {
                h[j] = b1[j];
                for (int i = 0; i < D; i++)
                    h[j] += x[i] * W1[i][j];
                h[j] = h[j] > 0 ? h[j] : 0;
            }
            for (int j = 0; j < K; j++)
                for (int i = 0; i < NH; i++)
                    z[j] += h[i] * W2[i][j];
        } else {
            for (int j = 0; j < K; j++)
                for (int i = 0; i < D; i++)
                    z[j] += x[i] * W[i][j];
        }
        int best = 0;
        double bz = -1e300;
        for (int j = 0; j < K; j++) {
            double g = z[j] - log(-log(s_unif(&s))); /* Gumbel noise: label noise */
            if (g > bz) {
                bz = g;
                best = j;
            }
        }
        y[r] = best;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint64_t hdr[8] = {0, N, D, K, N * 8 / 10, 0, 0, 0};
    memcpy(hdr, "DRVBENCH", 8);
    int ok = fwrite(hdr, sizeof hdr, 1, f) == 1 &&
             fwrite(X, 4, (size_t)N * D, f) == (size_t)N * D && fwrite(y, 4, N, f) == N;
    ok = fclose(f) == 0 && ok;
    free(X);
    free(y);
    if (!ok)
        fprintf(stderr, "cannot write %s\n", path);
    return ok ? 0 : -1;
}

/* Plain sgemm/sgemv on the loop's shapes: one epoch's worth of batches. */
static double s_sgemm_rate(const mlmodel_t *m, size_t B, size_t n_train)
{
    uint32_t L = mlmodel_nlayers(m), maxw = m->d;
    for (uint32_t i = 0; i < m->nhidden; i++)
        maxw = m->hidden[i] > maxw ? m->hidden[i] : maxw;
    maxw = m->k > maxw ? m->k : maxw;
    float *A = calloc(B * maxw, 4), *G = calloc(B * maxw, 4), *W = calloc((size_t)maxw * maxw, 4),
          *C = calloc(B * maxw, 4), *ones = calloc(B, 4);
    for (size_t i = 0; i < B * maxw; i++)
        A[i] = G[i] = (float)((i % 7) - 3) * 0.1f;
    double fl = 0, t0 = s_now();
    size_t batches = n_train / B;
    for (size_t b = 0; b < batches; b++)
        for (uint32_t l = 0; l < L; l++) {
            uint32_t in, out;
            mlmodel_layer(m, l, &in, &out, NULL, NULL);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, out, in, 1, A, in, W, out, 0,
                        C, out);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, B, 1, A, in, G, out, 0, W,
                        out);
            cblas_sgemv(CblasRowMajor, CblasTrans, B, out, 1, G, out, ones, 1, 0, C, 1);
            fl += 4.0 * B * in * out + 2.0 * B * out;
            if (l > 0) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, in, out, 1, G, out, W, out,
                            0, C, in);
                fl += 2.0 * B * in * out;
            }
        }
    double t = s_now() - t0;
    free(A);
    free(G);
    free(W);
    free(C);
    free(ones);
    return fl / t / 1e9;
}

static int s_run(int argc, char **argv)
{
    const char *path = argv[2];
    train_params_t p;
    train_params_default(&p);
    p.val_fraction = 0;
    p.hidden[0] = 128;
    if (mlmodel_kind_parse(argv[3], &p.kind) != 0) {
        fprintf(stderr, "unknown model %s\n", argv[3]);
        return 2;
    }
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--adam"))
            p.optimizer = TRAIN_ADAM;
        else if (i + 1 < argc && !strcmp(argv[i], "--epochs"))
            p.epochs = (uint32_t)atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--batch"))
            p.batch_size = (uint32_t)atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--lr"))
            p.learning_rate = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--hidden"))
            p.hidden[0] = (uint32_t)atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            p.threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    FILE *f = fopen(path, "rb");
    uint64_t hdr[8];
    if (!f || fread(hdr, sizeof hdr, 1, f) != 1 || memcmp(hdr, "DRVBENCH", 8)) {
        fprintf(stderr, "cannot read %s (run gen first)\n", path);
        return 1;
    }
    size_t n = hdr[1], d = hdr[2], k = hdr[3], ntr = hdr[4];
    float *X = dataset_alloc_matrix(n * d * 4); /* as drover-task loads a dataset */
    int32_t *y = malloc(n * 4);
    if (!X || !y || fread(X, 4, n * d, f) != n * d || fread(y, 4, n, f) != n) {
        fprintf(stderr, "short read on %s\n", path);
        return 1;
    }
    fclose(f);

    char err[256];
    mlmodel_t *m = NULL;
    train_result_t r;
    double t0 = s_now();
    if (train_fit(&p, X, ntr, d, y, k, NULL, NULL, NULL, NULL, &m, &r, err, sizeof err)) {
        fprintf(stderr, "train: %s\n", err);
        return 1;
    }
    size_t nte = n - ntr;
    float *P = malloc(nte * k * 4);
    if (mlmodel_predict(m, NULL, X + ntr * d, nte, P, err, sizeof err)) {
        fprintf(stderr, "predict: %s\n", err);
        return 1;
    }
    double wall = s_now() - t0;
    double acc = metrics_accuracy(y + ntr, P, nte, k);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double loop = r.gemm_flops / r.seconds / 1e9;
    double ref = s_sgemm_rate(m, p.batch_size, ntr);
    printf("{\"impl\":\"drover %s%s\",\"wall_s\":%.4f,\"rss_mib\":%.1f,\"accuracy\":%.4f,"
           "\"loop_gflops\":%.1f,\"sgemm_gflops\":%.1f,\"share\":%.3f,\"fit_s\":%.4f}\n",
           argv[3], p.kind == MLMODEL_MLP ? "(128)" : "", wall, ru.ru_maxrss / 1024.0, acc, loop,
           ref, loop / ref, r.seconds);
    mlmodel_destroy(&m);
    free(P);
    free(X);
    free(y);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "gen")) {
        char path[4096];
        uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 20240601;
        snprintf(path, sizeof path, "%s/linear.bin", argv[2]);
        if (s_gen(path, 0, seed))
            return 1;
        snprintf(path, sizeof path, "%s/nonlinear.bin", argv[2]);
        return s_gen(path, 1, seed) ? 1 : 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "run"))
        return s_run(argc, argv);
    fprintf(stderr, "usage: drover-bench-train gen DIR [SEED]\n"
                    "       drover-bench-train run FILE softmax|mlp [--epochs N] [--batch B] "
                    "[--lr X] [--adam] [--hidden H] [--threads T]\n");
    return 2;
}
