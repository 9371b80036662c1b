/* train — the built-in trainers: softmax regression, MLP (ReLU hidden
 * layers, softmax output) and linear regression (MSE), by minibatch SGD or
 * Adam with L2, a validation split, early stopping and per-epoch
 * checkpoints that a retried attempt resumes from.
 *
 * Determinism: the same params (seed included), data and BLAS thread count
 * on the same backend give a bit-identical model. Everything random —
 * initialisation (Xavier/He normal), the train/validation split, each
 * epoch's shuffle — comes from splitmix64 streams derived from the seed; the
 * shuffle stream's state is part of the checkpoint, so a resumed fit equals
 * an uninterrupted one bit for bit.
 *
 * Data flow: X stays the caller's (never copied or modified). Standardisation
 * statistics come from the training split only and are applied as each
 * minibatch is gathered. The hot loop is BLAS calls (blas.h) over buffers
 * allocated once per fit.
 */
#ifndef DROVER_TRAIN_H
#define DROVER_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "mlmodel.h"

typedef enum {
    TRAIN_SGD = 0,  /* plain minibatch SGD */
    TRAIN_ADAM = 1, /* Adam, beta1 0.9, beta2 0.999, eps 1e-8 */
} train_optimizer_t;

/* Data-parallel training (docs/distributed.md): the ranks of a gang each
 * run train_fit on the same data with the same params; every global
 * minibatch of batch_size rows (the single-process order) is split by
 * position — rank r takes positions r, r+size, r+2*size, ... — and the
 * gradient sums are added across ranks before each update, so the model is
 * the single-process one up to floating-point summation order. The
 * validation split is sharded the same way. Rank 0 alone reads and writes
 * the checkpoint; the state it read reaches the others by bcast. The
 * transport is the caller's (MPI in drover-task: ml/ never links it). */
typedef struct train_comm {
    int rank, size; /* 0 <= rank < size */
    /* In-place sum across all ranks; every rank gets the same result. */
    int (*sum_f)(struct train_comm *c, float *buf, size_t n);
    int (*sum_d)(struct train_comm *c, double *buf, size_t n);
    /* Rank 0's bytes to every rank. */
    int (*bcast)(struct train_comm *c, void *buf, size_t bytes);
    void *impl;
} train_comm_t;

/* Training parameters; train_params_default fills the defaults shown. */
typedef struct {
    mlmodel_kind_t kind;                 /* SOFTMAX */
    uint32_t nhidden;                    /* 1 (MLP only; others must be 0 -
                                            train_fit ignores it for them) */
    uint32_t hidden[MLMODEL_MAX_HIDDEN]; /* {64} */
    train_optimizer_t optimizer;         /* SGD */
    double learning_rate;                /* 0 = optimizer default: SGD 0.1,
                                            Adam 0.003 */
    double l2;                           /* 0: L2 penalty (l2/2)*sum(W^2),
                                            weights only, not biases */
    uint32_t epochs;                     /* 10 */
    uint32_t batch_size;                 /* 256 */
    double val_fraction;                 /* 0.1, in [0, 0.9] */
    uint32_t patience;                   /* 0 = no early stopping; else stop
                                            after this many epochs without a
                                            better val loss and return the
                                            best epoch's parameters */
    uint64_t seed;                       /* 1 */
    int threads;                         /* 1 BLAS thread */
    int want_gpu;                        /* 0; 1 = cuBLAS when available */
    /* Checkpoint cadence (with a checkpoint path): TRAIN_CKPT_EPOCH after
     * every epoch (the zero value), TRAIN_CKPT_SECONDS after the first epoch
     * that ends at least checkpoint_seconds after the previous checkpoint
     * (or the start of this call), TRAIN_CKPT_NEVER none (a checkpoint
     * found at start is still resumed from). Not part of the fingerprint:
     * the cadence never changes the model. */
    int checkpoint_mode;       /* TRAIN_CKPT_EPOCH */
    double checkpoint_seconds; /* for TRAIN_CKPT_SECONDS, > 0 */
    /* NULL (one process) or the gang's transport; not in the fingerprint
     * (the rank count changes only summation order). */
    train_comm_t *comm;
} train_params_t;

#define TRAIN_CKPT_EPOCH   0
#define TRAIN_CKPT_SECONDS 1
#define TRAIN_CKPT_NEVER   2

/* One finished epoch, passed to the callback. */
typedef struct {
    uint32_t epoch;      /* 1-based */
    uint32_t epochs;     /* planned total */
    double train_loss;   /* mean minibatch loss: cross-entropy, or MSE */
    double train_metric; /* accuracy (classification) or RMSE (linear) over
                            the epoch's minibatches, as trained */
    double val_loss;     /* on the validation split after the epoch; NAN
                            when val_fraction is 0 */
    double val_metric;   /* val accuracy or val RMSE; NAN likewise */
    double seconds;      /* wall time of the epoch, validation included */
    int is_best;         /* val loss improved (always 1 without validation) */
} train_epoch_t;

/* Per-epoch callback; return nonzero to cancel the fit (train_fit then
 * fails with ECANCELED; the epoch's checkpoint is already written). */
typedef int (*train_epoch_f)(const train_epoch_t *e, void *cb_ctx);

/* What a fit did, for the caller and tests. */
typedef struct {
    uint32_t resumed_from_epoch; /* 0 = fresh; else the first epoch this call
                                    ran (checkpoint epoch + 1) */
    uint32_t epochs_done;        /* last completed epoch */
    uint32_t best_epoch;         /* epoch whose parameters were returned */
    int stopped_early;           /* early stopping fired */
    size_t n_train, n_val;       /* split sizes */
    double seconds;              /* training loop wall time, this call */
    double gemm_flops;           /* flops issued to sgemm/sgemv by the loop
                                    (for benchmarks: GFLOP/s = flops/s) */
    char backend[16];            /* "openblas" or "cublas" */
    uint32_t checkpoints;        /* checkpoints written by this call */
    uint64_t steps;              /* optimiser steps this call */
    double comm_seconds;         /* data-parallel: time in the gradient sums
                                    (the rest of seconds is compute) */
} train_result_t;

/* Fills p with the defaults above. */
void train_params_default(train_params_t *p);

/* Trains a model on X[n x d] (row-major, float32, no NaN/inf).
 * Classification (SOFTMAX, MLP): y_class[n] in [0, nclasses), nclasses >=
 * 2, y_value NULL. Regression (LINEAR): y_value[n], y_class NULL, nclasses
 * ignored. on_epoch (may be NULL) is called after each epoch.
 * checkpoint_path (may be NULL): written after every epoch (tmp + fsync +
 * rename); at start a checkpoint that matches these params (epochs and the
 * checkpoint path aside) and this data resumes the fit after its epoch; a
 * missing, corrupt or mismatched one is ignored and the fit starts fresh.
 * The caller removes the checkpoint when the step has succeeded.
 * On success returns 0 and *out = a new model (caller destroys; its
 * meta_json records the params and result) and fills *result if non-NULL.
 * On failure -1 + errno + text: EINVAL for bad params or data (e.g. "row 12
 * column 3 is missing; clean or impute the data first", 1-based), ENOMEM,
 * EIO (backend or checkpoint write failure, or data-parallel ranks whose
 * parameters differ), EDOM (training diverged: a NaN or infinite
 * parameter; no model), ECANCELED. */
int train_fit(const train_params_t *p, const float *X, size_t n, size_t d, const int32_t *y_class,
              size_t nclasses, const float *y_value, train_epoch_f on_epoch, void *cb_ctx,
              const char *checkpoint_path, mlmodel_t **out, train_result_t *result, char *err,
              size_t errlen);

/* The training split train_fit uses for (p->seed, p->val_fraction, n):
 * means[j] = mean of the non-missing values of column j over the training
 * rows, for a "mean" imputation policy (the caller fills missing values
 * with them before train_fit, and stores them in the model). 0, or -1 +
 * errno + text (EINVAL: a column with no value in the training split,
 * named by its 1-based index; ENOMEM). */
int train_split_means(const train_params_t *p, const float *X, size_t n, size_t d, float *means,
                      size_t *bad_col, char *err, size_t errlen);

/* FOR TESTS (gradient checks): the objective a fit minimises, evaluated
 * on all n rows as one batch at m's current parameters — mean loss
 * (cross-entropy or MSE) + (l2/2) sum(W^2) on inputs standardised with m's
 * mean/std — and, when grad is non-NULL, its analytic gradient w.r.t.
 * m->params (m->nparams floats), computed by the same code as training.
 * 0, or -1 + errno + text. */
int train_debug_objective(const mlmodel_t *m, const float *X, size_t n, const int32_t *y_class,
                          const float *y_value, double l2, double *loss, float *grad, char *err,
                          size_t errlen);

#endif
