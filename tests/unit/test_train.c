/* Unit tests for train: gradient checks of every trainer against central
 * finite differences, convergence on problems with known answers,
 * determinism, checkpoint resume (bit-identical), and data validation. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "train.h"

static uint64_t s_state = 42;
static double s_unif(void)
{
    s_state = s_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(s_state >> 11) * 0x1.0p-53;
}
static double s_gauss(void)
{
    double u = s_unif() + 1e-12, v = s_unif();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Checks train_debug_objective's gradient against central differences. */
static void s_gradcheck(mlmodel_kind_t kind, uint32_t nh, const uint32_t *hidden)
{
    const size_t n = 12, d = 4;
    const uint32_t k = kind == MLMODEL_LINEAR ? 1 : 3;
    char err[256];
    mlmodel_t *m = mlmodel_create(kind, d, k, nh, hidden, err, sizeof err);
    assert_non_null(m);
    float X[12 * 4], yv[12];
    int32_t yc[12];
    for (size_t i = 0; i < n * d; i++)
        X[i] = (float)(s_gauss() * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        yc[i] = (int32_t)(i % k);
        yv[i] = (float)s_gauss();
    }
    for (size_t j = 0; j < d; j++) {
        m->mean[j] = 1.0f;
        m->std[j] = 2.0f;
    }
    for (size_t i = 0; i < m->nparams; i++)
        m->params[i] = (float)(s_gauss() * 0.5);
    const double l2 = 0.01;
    float *g = malloc(m->nparams * sizeof(float));
    double loss;
    assert_int_equal(train_debug_objective(m, X, n, yc, yv, l2, &loss, g, err, sizeof err), 0);
    assert_true(isfinite(loss) && loss > 0);
    double num = 0, den = 0;
    const float h = 2e-3f; /* small enough to rarely cross a ReLU kink */
    for (size_t i = 0; i < m->nparams; i++) {
        float keep = m->params[i];
        double lp, lm;
        m->params[i] = keep + h;
        assert_int_equal(train_debug_objective(m, X, n, yc, yv, l2, &lp, NULL, err, sizeof err), 0);
        m->params[i] = keep - h;
        assert_int_equal(train_debug_objective(m, X, n, yc, yv, l2, &lm, NULL, err, sizeof err), 0);
        m->params[i] = keep;
        /* The step actually taken in float, not the nominal h. */
        double step = (double)(keep + h) - (double)(keep - h);
        double fd = (lp - lm) / step;
        num += (fd - g[i]) * (fd - g[i]);
        den += (fd + g[i]) * (fd + g[i]);
    }
    double rel = sqrt(num) / (sqrt(den) + 1e-12);
    print_message("%s gradient relative error %.2e over %zu params\n", mlmodel_kind_name(kind), rel,
                  m->nparams);
    assert_true(rel < 1e-2);
    free(g);
    mlmodel_destroy(&m);
}

static void test_gradcheck_softmax(void **state)
{
    (void)state;
    s_gradcheck(MLMODEL_SOFTMAX, 0, NULL);
}

static void test_gradcheck_mlp(void **state)
{
    (void)state;
    uint32_t hidden[2] = {6, 5};
    s_gradcheck(MLMODEL_MLP, 2, hidden);
}

static void test_gradcheck_linear(void **state)
{
    (void)state;
    s_gradcheck(MLMODEL_LINEAR, 0, NULL);
}

static void test_separable(void **state)
{
    (void)state;
    const size_t n = 600, d = 2;
    float *X = malloc(n * d * sizeof(float)), *P = malloc(n * 2 * sizeof(float));
    int32_t *y = malloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i & 1);
        /* Two clouds, separated by a margin along x1 + x2, off-centre. */
        double a = s_gauss(), b = s_gauss() * 0.3 + (c ? 2.0 : -2.0);
        X[i * 2] = (float)(5 + a + b);
        X[i * 2 + 1] = (float)(-3 - a + b);
        y[i] = c;
    }
    train_params_t p;
    train_params_default(&p);
    p.epochs = 20;
    p.batch_size = 32;
    p.val_fraction = 0;
    mlmodel_t *m = NULL;
    char err[256];
    assert_int_equal(
        train_fit(&p, X, n, d, y, 2, NULL, NULL, NULL, NULL, &m, NULL, err, sizeof err), 0);
    assert_int_equal(mlmodel_predict(m, NULL, X, n, P, err, sizeof err), 0);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += (P[i * 2 + 1] > P[i * 2]) == (y[i] == 1);
    print_message("separable accuracy %.4f\n", (double)ok / n);
    assert_true((double)ok / n >= 0.99);
    mlmodel_destroy(&m);
    free(X);
    free(P);
    free(y);
}

static void test_linear_regression(void **state)
{
    (void)state;
    const size_t n = 4000, d = 2;
    float *X = malloc(n * d * sizeof(float)), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        double x1 = s_gauss() * 2 + 1, x2 = s_gauss() * 0.5 - 3;
        X[i * 2] = (float)x1;
        X[i * 2 + 1] = (float)x2;
        y[i] = (float)(3 * x1 - 2 * x2 + 0.5 + s_gauss() * 0.01);
    }
    train_params_t p;
    train_params_default(&p);
    p.kind = MLMODEL_LINEAR;
    p.learning_rate = 0.05;
    p.epochs = 20;
    p.batch_size = 32;
    mlmodel_t *m = NULL;
    char err[256];
    train_result_t r;
    assert_int_equal(train_fit(&p, X, n, d, NULL, 0, y, NULL, NULL, NULL, &m, &r, err, sizeof err),
                     0);
    /* Back to original units: y = sum (w_j / s_j) x_j + b - sum w_j m_j / s_j. */
    double c1 = m->params[0] / m->std[0], c2 = m->params[1] / m->std[1];
    double b = m->params[2] - c1 * m->mean[0] - c2 * m->mean[1];
    print_message("recovered %.4f %.4f %.4f\n", c1, c2, b);
    assert_true(fabs(c1 - 3) < 0.05);
    assert_true(fabs(c2 + 2) < 0.05);
    assert_true(fabs(b - 0.5) < 0.05);
    mlmodel_destroy(&m);
    free(X);
    free(y);
}

/* A small 3-class problem shared by the determinism/checkpoint tests. */
#define TN 500
#define TD 6
static float s_X[TN * TD];
static int32_t s_y[TN];

static void s_make_data(void)
{
    for (size_t i = 0; i < TN; i++) {
        double t = 0;
        for (size_t j = 0; j < TD; j++) {
            s_X[i * TD + j] = (float)s_gauss();
            t += s_X[i * TD + j] * (j % 2 ? 1 : -0.5);
        }
        s_y[i] = t < -0.5 ? 0 : t < 0.5 ? 1 : 2;
    }
}

static void s_mlp_params(train_params_t *p)
{
    train_params_default(p);
    p->kind = MLMODEL_MLP;
    p->nhidden = 2;
    p->hidden[0] = 8;
    p->hidden[1] = 5;
    p->optimizer = TRAIN_ADAM;
    p->learning_rate = 0.01;
    p->l2 = 1e-4;
    p->batch_size = 32;
    p->val_fraction = 0.2;
    p->patience = 50;
    p->seed = 7;
}

static mlmodel_t *s_fit(const train_params_t *p, const char *ckpt, train_result_t *r,
                        train_epoch_f cb, void *cbx)
{
    mlmodel_t *m = NULL;
    char err[256];
    int rc = train_fit(p, s_X, TN, TD, s_y, 3, NULL, cb, cbx, ckpt, &m, r, err, sizeof err);
    if (rc)
        print_error("train_fit: %s\n", err);
    assert_int_equal(rc, 0);
    return m;
}

static void test_determinism(void **state)
{
    (void)state;
    train_params_t p;
    s_mlp_params(&p);
    p.epochs = 3;
    mlmodel_t *a = s_fit(&p, NULL, NULL, NULL, NULL), *b = s_fit(&p, NULL, NULL, NULL, NULL);
    assert_int_equal(a->nparams, b->nparams);
    assert_memory_equal(a->params, b->params, a->nparams * sizeof(float));
    assert_memory_equal(a->mean, b->mean, TD * sizeof(float));
    p.seed = 8;
    mlmodel_t *c = s_fit(&p, NULL, NULL, NULL, NULL);
    assert_memory_not_equal(a->params, c->params, a->nparams * sizeof(float));
    mlmodel_destroy(&a);
    mlmodel_destroy(&b);
    mlmodel_destroy(&c);
}

typedef struct {
    uint32_t first, last, calls;
    uint32_t cancel_at;
} s_cb_t;

static int s_on_epoch(const train_epoch_t *e, void *ctx)
{
    s_cb_t *c = ctx;
    if (!c->calls++)
        c->first = e->epoch;
    c->last = e->epoch;
    assert_true(isfinite(e->train_loss) && isfinite(e->val_loss));
    assert_true(e->train_metric >= 0 && e->train_metric <= 1);
    return c->cancel_at && e->epoch == c->cancel_at;
}

static void test_checkpoint_resume(void **state)
{
    (void)state;
    char ckpt[] = "/tmp/drover-test-train-XXXXXX";
    int fd = mkstemp(ckpt);
    assert_true(fd >= 0);
    close(fd);
    unlink(ckpt); /* start with none */
    train_params_t p;
    s_mlp_params(&p);
    train_result_t r;
    s_cb_t cb = {0};

    p.epochs = 3;
    mlmodel_t *m3 = s_fit(&p, ckpt, &r, s_on_epoch, &cb);
    assert_int_equal(r.resumed_from_epoch, 0);
    assert_int_equal(cb.first, 1);
    assert_int_equal(cb.last, 3);

    p.epochs = 5;
    memset(&cb, 0, sizeof cb);
    mlmodel_t *resumed = s_fit(&p, ckpt, &r, s_on_epoch, &cb);
    assert_int_equal(r.resumed_from_epoch, 4);
    assert_int_equal(r.epochs_done, 5);
    assert_int_equal(cb.first, 4);
    assert_int_equal(cb.calls, 2);

    mlmodel_t *straight = s_fit(&p, NULL, &r, NULL, NULL);
    assert_int_equal(r.resumed_from_epoch, 0);
    assert_memory_equal(resumed->params, straight->params, straight->nparams * sizeof(float));
    assert_string_equal(resumed->meta_json, straight->meta_json);

    /* Changed params (other than epochs) must not resume that checkpoint. */
    p.seed = 99;
    mlmodel_t *other = s_fit(&p, ckpt, &r, NULL, NULL);
    assert_int_equal(r.resumed_from_epoch, 0);

    /* A corrupt checkpoint is ignored, not fatal. */
    FILE *f = fopen(ckpt, "r+b");
    assert_non_null(f);
    fseek(f, 100, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    mlmodel_t *fresh = s_fit(&p, ckpt, &r, NULL, NULL);
    assert_int_equal(r.resumed_from_epoch, 0);

    unlink(ckpt);
    mlmodel_destroy(&m3);
    mlmodel_destroy(&resumed);
    mlmodel_destroy(&straight);
    mlmodel_destroy(&other);
    mlmodel_destroy(&fresh);
}

static void test_cancel(void **state)
{
    (void)state;
    train_params_t p;
    s_mlp_params(&p);
    s_cb_t cb = {.cancel_at = 2};
    mlmodel_t *m = NULL;
    char err[256];
    assert_int_equal(
        train_fit(&p, s_X, TN, TD, s_y, 3, NULL, s_on_epoch, &cb, NULL, &m, NULL, err, sizeof err),
        -1);
    assert_int_equal(errno, ECANCELED);
    assert_null(m);
    assert_int_equal(cb.last, 2);
}

static void test_early_stopping(void **state)
{
    (void)state;
    train_params_t p;
    s_mlp_params(&p);
    p.learning_rate = 0.2; /* far too high: val loss soon stops improving */
    p.patience = 2;
    p.epochs = 200;
    train_result_t r;
    mlmodel_t *m = s_fit(&p, NULL, &r, NULL, NULL);
    assert_true(r.stopped_early);
    assert_true(r.epochs_done < 200);
    assert_int_equal(r.epochs_done, r.best_epoch + 2);
    mlmodel_destroy(&m);
}

static void test_bad_data(void **state)
{
    (void)state;
    float X[4 * 3] = {1, 2, 3, 4, 5, 6, 7, NAN, 9, 1, 2, 3};
    int32_t y[4] = {0, 1, 0, 1};
    train_params_t p;
    train_params_default(&p);
    mlmodel_t *m = NULL;
    char err[256] = "";
    assert_int_equal(
        train_fit(&p, X, 4, 3, y, 2, NULL, NULL, NULL, NULL, &m, NULL, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "data row 3 (header not counted), feature column 2 is missing"));
    X[7] = 1;
    y[2] = 5;
    assert_int_equal(
        train_fit(&p, X, 4, 3, y, 2, NULL, NULL, NULL, NULL, &m, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "row 3 has class id 5"));
    y[2] = 0;
    p.kind = MLMODEL_LINEAR;
    assert_int_equal(
        train_fit(&p, X, 4, 3, y, 2, NULL, NULL, NULL, NULL, &m, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "numeric target"));
    assert_null(m);
}

/* Checkpoint cadence (issue 11): "never" writes none, a long interval none
 * within a short fit, "epoch" one per epoch; the model never changes. */
static void test_checkpoint_cadence(void **state)
{
    (void)state;
    char ckpt[] = "/tmp/drover-test-train-XXXXXX";
    int fd = mkstemp(ckpt);
    assert_true(fd >= 0);
    close(fd);
    unlink(ckpt);
    train_params_t p;
    s_mlp_params(&p);
    p.epochs = 3;
    train_result_t r;
    struct stat sb;
    p.checkpoint_mode = TRAIN_CKPT_NEVER;
    mlmodel_t *a = s_fit(&p, ckpt, &r, NULL, NULL);
    assert_int_equal(r.checkpoints, 0);
    assert_int_equal(stat(ckpt, &sb), -1);
    p.checkpoint_mode = TRAIN_CKPT_SECONDS;
    p.checkpoint_seconds = 1e6;
    mlmodel_t *b = s_fit(&p, ckpt, &r, NULL, NULL);
    assert_int_equal(r.checkpoints, 0);
    assert_int_equal(stat(ckpt, &sb), -1);
    p.checkpoint_mode = TRAIN_CKPT_EPOCH;
    mlmodel_t *c = s_fit(&p, ckpt, &r, NULL, NULL);
    assert_int_equal(r.checkpoints, 3);
    assert_int_equal(stat(ckpt, &sb), 0);
    assert_memory_equal(a->params, b->params, a->nparams * sizeof(float));
    assert_memory_equal(a->params, c->params, a->nparams * sizeof(float));
    /* "never" still resumes from a checkpoint that exists */
    p.checkpoint_mode = TRAIN_CKPT_NEVER;
    p.epochs = 4;
    mlmodel_t *d = s_fit(&p, ckpt, &r, NULL, NULL);
    assert_int_equal(r.resumed_from_epoch, 4);
    mlmodel_t *e = s_fit(&p, NULL, &r, NULL, NULL);
    assert_memory_equal(d->params, e->params, d->nparams * sizeof(float));
    /* a bad cadence is refused */
    char err[256];
    mlmodel_t *f = NULL;
    p.checkpoint_mode = TRAIN_CKPT_SECONDS;
    p.checkpoint_seconds = 0;
    assert_int_equal(
        train_fit(&p, s_X, TN, TD, s_y, 3, NULL, NULL, NULL, ckpt, &f, &r, err, sizeof err), -1);
    unlink(ckpt);
    mlmodel_destroy(&a);
    mlmodel_destroy(&b);
    mlmodel_destroy(&c);
    mlmodel_destroy(&d);
    mlmodel_destroy(&e);
}

/* train_split_means: the training split's means over non-missing values. */
static void test_split_means(void **state)
{
    (void)state;
    train_params_t p;
    train_params_default(&p);
    p.val_fraction = 0;
    float X[4 * 2] = {1, NAN, 3, 10, NAN, 20, 5, 30};
    float mean[2];
    size_t bad;
    char err[256];
    assert_int_equal(train_split_means(&p, X, 4, 2, mean, &bad, err, sizeof err), 0);
    assert_float_equal(mean[0], 3, 1e-6);
    assert_float_equal(mean[1], 20, 1e-6);
    float Y[3 * 2] = {1, NAN, 2, NAN, 3, NAN};
    assert_int_equal(train_split_means(&p, Y, 3, 2, mean, &bad, err, sizeof err), -1);
    assert_int_equal(bad, 2);
    /* with a validation split, only training rows count: the mean is one of
     * the values' averages over n - 1 rows (here n = 3, one held out) */
    p.val_fraction = 0.34;
    float Z[3] = {0, 30, 60};
    assert_int_equal(train_split_means(&p, Z, 3, 1, mean, &bad, err, sizeof err), 0);
    assert_true(mean[0] == 15 || mean[0] == 30 || mean[0] == 45);
}

/* ---- data-parallel (train_comm_t) ---------------------------------------
 * Two ranks in two processes (fork), joined by a socketpair: the transport
 * drover-task gets from MPI, in miniature. Rank 0 sends first and rank 1
 * receives first, so no size of buffer deadlocks. */
typedef struct {
    int fd;
    int poison; /* rank 1: 1 adds 1e-3 to each gradient sum, 2 makes it NaN */
} s_pair_t;

static int s_xfer(int fd, void *buf, size_t n, int send)
{
    for (size_t o = 0; o < n;) {
        ssize_t k = send ? write(fd, (char *)buf + o, n - o) : read(fd, (char *)buf + o, n - o);
        if (k <= 0)
            return -1;
        o += (size_t)k;
    }
    return 0;
}

static int s_pair_swap(train_comm_t *c, const void *mine, void *theirs, size_t n)
{
    s_pair_t *sp = c->impl;
    if (c->rank == 0)
        return s_xfer(sp->fd, (void *)mine, n, 1) || s_xfer(sp->fd, theirs, n, 0) ? -1 : 0;
    return s_xfer(sp->fd, theirs, n, 0) || s_xfer(sp->fd, (void *)mine, n, 1) ? -1 : 0;
}

static int s_pair_sum_f(train_comm_t *c, float *buf, size_t n)
{
    float *t = malloc(n * sizeof *t);
    int rc = !t || s_pair_swap(c, buf, t, n * sizeof *t) ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        buf[i] = c->rank == 0 ? buf[i] + t[i] : t[i] + buf[i]; /* rank order */
    s_pair_t *sp = c->impl;
    if (rc == 0 && c->rank == 1 && sp->poison)
        buf[0] = sp->poison == 2 ? NAN : buf[0] + 1e-3f;
    free(t);
    return rc;
}

static int s_pair_sum_d(train_comm_t *c, double *buf, size_t n)
{
    double t[8];
    if (n > 8 || s_pair_swap(c, buf, t, n * sizeof *t))
        return -1;
    for (size_t i = 0; i < n; i++)
        buf[i] = c->rank == 0 ? buf[i] + t[i] : t[i] + buf[i];
    return 0;
}

static int s_pair_bcast(train_comm_t *c, void *buf, size_t bytes)
{
    s_pair_t *sp = c->impl;
    return s_xfer(sp->fd, buf, bytes, c->rank == 0);
}

/* Fits p on the shared data as a gang of 2; rank 1 runs in a child with
 * poison. Returns rank 0's train_fit status (its model in *m, its errno in
 * *eno, its message in err) and rank 1's in *rc1. */
static int s_fit_pair(const train_params_t *p, int poison, mlmodel_t **m, int *eno, int *rc1,
                      char *err, size_t errlen)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        s_pair_t sp = {.fd = sv[1], .poison = poison};
        train_comm_t c = {.rank = 1,
                          .size = 2,
                          .sum_f = s_pair_sum_f,
                          .sum_d = s_pair_sum_d,
                          .bcast = s_pair_bcast,
                          .impl = &sp};
        train_params_t q = *p;
        q.comm = &c;
        mlmodel_t *mm = NULL;
        char e[256];
        int rc = train_fit(&q, s_X, TN, TD, s_y, 3, NULL, NULL, NULL, NULL, &mm, NULL, e, sizeof e);
        _exit(rc == 0 ? 0 : errno == EIO ? 3 : 4);
    }
    close(sv[1]);
    s_pair_t sp = {.fd = sv[0]};
    train_comm_t c = {.rank = 0,
                      .size = 2,
                      .sum_f = s_pair_sum_f,
                      .sum_d = s_pair_sum_d,
                      .bcast = s_pair_bcast,
                      .impl = &sp};
    train_params_t q = *p;
    q.comm = &c;
    int rc = train_fit(&q, s_X, TN, TD, s_y, 3, NULL, NULL, NULL, NULL, m, NULL, err, errlen);
    *eno = errno;
    close(sv[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    *rc1 = WEXITSTATUS(st);
    return rc;
}

/* Two ranks train the single-process model (up to summation order); ranks
 * whose parameters differ, also by a NaN on one of them, register none. */
static void test_data_parallel(void **state)
{
    (void)state;
    train_params_t p;
    s_mlp_params(&p);
    p.epochs = 3;
    mlmodel_t *one = s_fit(&p, NULL, NULL, NULL, NULL), *two = NULL;
    char err[256] = "";
    int eno = 0, rc1 = -1;
    assert_int_equal(s_fit_pair(&p, 0, &two, &eno, &rc1, err, sizeof err), 0);
    assert_int_equal(rc1, 0);
    assert_int_equal(one->nparams, two->nparams);
    double worst = 0;
    for (size_t i = 0; i < one->nparams; i++)
        worst = fmax(worst, fabs((double)one->params[i] - two->params[i]));
    print_message("data-parallel vs one process: max parameter difference %.2e\n", worst);
    assert_true(worst < 1e-3);
    mlmodel_destroy(&two);
    for (int poison = 1; poison <= 2; poison++) {
        err[0] = '\0';
        assert_int_equal(s_fit_pair(&p, poison, &two, &eno, &rc1, err, sizeof err), -1);
        assert_int_equal(eno, EIO);
        assert_non_null(strstr(err, "differ from rank 0's"));
        assert_null(two);
        assert_int_equal(rc1, 3); /* rank 1 refuses too */
    }
    mlmodel_destroy(&one);
}

/* A fit whose parameters blow up is refused, not stored as a NaN model. */
static void test_diverged(void **state)
{
    (void)state;
    train_params_t p;
    train_params_default(&p);
    p.kind = MLMODEL_LINEAR;
    p.learning_rate = 1e30;
    p.epochs = 3;
    p.val_fraction = 0;
    float y[TN];
    for (size_t i = 0; i < TN; i++)
        y[i] = (float)(i % 7) * 100.0f;
    mlmodel_t *m = NULL;
    char err[256] = "";
    assert_int_equal(
        train_fit(&p, s_X, TN, TD, NULL, 0, y, NULL, NULL, NULL, &m, NULL, err, sizeof err), -1);
    assert_int_equal(errno, EDOM);
    assert_non_null(strstr(err, "training diverged"));
    assert_null(m);
}

int main(void)
{
    s_make_data();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_softmax),  cmocka_unit_test(test_gradcheck_mlp),
        cmocka_unit_test(test_gradcheck_linear),   cmocka_unit_test(test_separable),
        cmocka_unit_test(test_linear_regression),  cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_checkpoint_resume),  cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_early_stopping),     cmocka_unit_test(test_bad_data),
        cmocka_unit_test(test_checkpoint_cadence), cmocka_unit_test(test_split_means),
        cmocka_unit_test(test_data_parallel),      cmocka_unit_test(test_diverged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
