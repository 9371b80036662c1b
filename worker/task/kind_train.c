/* kind_train — the train kind: dataset -> model version.
 *
 * Steps: load the dataset (hashed for lineage), fit with train_fit, which
 * checkpoints every epoch to ARTIFACTS/checkpoints/run-RUN-STEP.ckpt — the
 * name has no attempt in it, so a retried attempt of the same step finds
 * the checkpoint and resumes after its epoch — save the model (with the
 * class list, label name and the standardisation train_fit computed) and
 * put it in the content-addressed store. Each epoch is a metric line; the
 * output names the artifact, the dataset and the epoch resumed from. The
 * checkpoint is removed once the model is stored: a later run starts fresh.
 *
 * Data-parallel (a gang member: WORLD_SIZE > 1, docs/distributed.md): the
 * member re-runs itself under gang_mpirun (gang.h); inside, the ranks join
 * (gang_comm.h), every rank loads the whole dataset and they compare its
 * sha256 (different data on some rank: all fail), then train_fit trains
 * with the comm (train.h says how the batches are shared). Rank 0 alone
 * emits metrics, writes the checkpoint, stores the model and reports it,
 * with every rank's dataset hash in its lineage; the other ranks report
 * nothing.
 *
 * GPU: gpu = "never" uses OpenBLAS, "auto" cuBLAS when a device is usable
 * and OpenBLAS otherwise, "require" fails when no device is usable. Which
 * backend ran is printed and recorded in the model's params.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "blas.h"
#include "gang.h"
#include "gang_comm.h"
#include "kind.h"
#include "mlmodel.h"
#include "train.h"
#include "util.h"

/* The documented defaults (docs/tasks.md, and common/workflow.c, which
 * writes them into the spec): sized so that small tabular data gets a
 * sound model without tuning (issue 11: within a point of scikit-learn's
 * LogisticRegression on digits, breast_cancer and wine). */
#define KIND_TRAIN_EPOCHS           100
#define KIND_TRAIN_BATCH            32
#define KIND_TRAIN_ADAM_LR          0.003
#define KIND_TRAIN_SGD_LR           0.1
#define KIND_TRAIN_CHECKPOINT_EVERY "30s"

/* 1 when the worker assigned this task no GPU: it sets CUDA_VISIBLE_DEVICES
 * to "" then (docs/scheduling.md). Unset (drover-task run by hand) is not
 * "no GPU": CUDA would see every device. */
static int kind_no_gpu_assigned(void)
{
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    return v && *v == '\0';
}

/* "epoch" | "never" | "0" | "N" / "Ns" / "Nm" / "Nh" (a duration). */
static int kind_checkpoint_every(const char *s, int *mode, double *secs)
{
    if (strcmp(s, "epoch") == 0) {
        *mode = TRAIN_CKPT_EPOCH;
        return 0;
    }
    if (strcmp(s, "never") == 0 || strcmp(s, "0") == 0) {
        *mode = TRAIN_CKPT_NEVER;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0) || v > 1e7)
        return -1;
    double unit = 1;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        unit = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        unit = 60;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else
        return -1;
    *mode = TRAIN_CKPT_SECONDS;
    *secs = v * unit;
    return 0;
}

typedef struct {
    kind_ctx_t *k;
    int regression;
    int first;                /* no epoch seen yet in this attempt */
    int emit;                 /* metric lines (rank 0 of a gang, or alone) */
    train_epoch_t last, best; /* for the model's metrics */
    int have_best;
} cb_t;

static int s_on_epoch(const train_epoch_t *e, void *arg)
{
    cb_t *cb = arg;
    if (cb->first && e->epoch > 1)
        printf("resuming from epoch %u (checkpoint after epoch %u)\n", e->epoch, e->epoch - 1);
    cb->first = 0;
    const char *m = cb->regression ? "rmse" : "train_accuracy";
    const char *vm = cb->regression ? "val_rmse" : "val_accuracy";
    json_t *j = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o}", "epoch", (json_int_t)e->epoch, "train_loss",
                          kind_real(e->train_loss), m, kind_real(e->train_metric), "val_loss",
                          kind_real(e->val_loss), vm, kind_real(e->val_metric), "seconds",
                          kind_real(e->seconds));
    if (cb->emit)
        kind_emit(cb->k, "metric", j);
    else
        json_decref(j);
    printf("epoch %u/%u  train_loss %.4f  %s %.4f  val_loss %.4f  %s %.4f  (%.2fs)\n", e->epoch,
           e->epochs, e->train_loss, cb->regression ? "rmse" : "accuracy", e->train_metric,
           e->val_loss, cb->regression ? "val_rmse" : "val_accuracy", e->val_metric, e->seconds);
    cb->last = *e;
    if (e->is_best) {
        cb->best = *e;
        cb->have_best = 1;
    }
    return 0;
}

int kind_train(kind_ctx_t *k)
{
    json_t *spec = k->spec;
    int bad = 0, rc = KIND_EXIT_FAILED;
    char err[1024];
    dataset_t *ds = NULL;
    mlmodel_t *model = NULL;
    float *impute = NULL;
    char ckpt[PATH_MAX], tmp_model[PATH_MAX], hex[65];
    tmp_model[0] = '\0';
    train_comm_t comm = {0};
    char *shas = NULL; /* every rank's dataset sha256, 65 bytes each */

    const char *path = kind_str(spec, "dataset", NULL, &bad);
    const char *label = kind_str(spec, "label", NULL, &bad);
    const char *name = kind_str(spec, "model", NULL, &bad);
    const char *trainer = kind_str(spec, "trainer", "softmax", &bad);
    const char *optimizer = kind_str(spec, "optimizer", "adam", &bad);
    const char *gpu = kind_str(spec, "gpu", "auto", &bad);
    const char *missing = kind_str(spec, "missing", "refuse", &bad);
    const char *ckevery = kind_str(spec, "checkpoint_every", KIND_TRAIN_CHECKPOINT_EVERY, &bad);
    train_params_t p;
    train_params_default(&p);
    /* Absent: the optimizer's default, KIND_TRAIN_SGD_LR / KIND_TRAIN_ADAM_LR. */
    p.learning_rate = kind_num(spec, "learning_rate", 0.0, &bad);
    p.l2 = kind_num(spec, "l2", 0.0, &bad);
    long long epochs = kind_int(spec, "epochs", KIND_TRAIN_EPOCHS, &bad);
    long long batch = kind_int(spec, "batch_size", KIND_TRAIN_BATCH, &bad);
    p.val_fraction = kind_num(spec, "val_split", 0.1, &bad);
    long long patience = kind_int(spec, "patience", 0, &bad);
    long long seed = kind_int(spec, "seed", 42, &bad);
    long long threads = kind_int(spec, "threads", 1, &bad);
    json_t *hidden = json_object_get(spec, "hidden");
    if (bad || !path || !label || !name)
        return kind_fail(KIND_EXIT_BAD_SPEC,
                         "bad train spec: 'dataset', 'label' and 'model' are "
                         "required and every key must have its documented type");
    if (mlmodel_kind_parse(trainer, &p.kind) < 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: unknown trainer '%s'", trainer);
    if (strcmp(optimizer, "sgd") == 0)
        p.optimizer = TRAIN_SGD;
    else if (strcmp(optimizer, "adam") == 0)
        p.optimizer = TRAIN_ADAM;
    else
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: unknown optimizer '%s'", optimizer);
    if (p.learning_rate == 0.0)
        p.learning_rate = p.optimizer == TRAIN_ADAM ? KIND_TRAIN_ADAM_LR : KIND_TRAIN_SGD_LR;
    if (strcmp(missing, "refuse") != 0 && strcmp(missing, "mean") != 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: missing must be \"refuse\" or "
                                             "\"mean\"");
    if (kind_checkpoint_every(ckevery, &p.checkpoint_mode, &p.checkpoint_seconds) < 0)
        return kind_fail(KIND_EXIT_BAD_SPEC,
                         "bad train spec: checkpoint_every must be \"epoch\", "
                         "\"never\" or a duration such as \"30s\" (got '%s')",
                         ckevery);
    if (epochs < 1 || epochs > 1000000 || batch < 1 || batch > (1 << 24) || patience < 0 ||
        patience > 1000000 || seed < 0 || threads < 1 || threads > 256)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: a number is out of range");
    p.epochs = (uint32_t)epochs;
    p.batch_size = (uint32_t)batch;
    p.patience = (uint32_t)patience;
    p.seed = (uint64_t)seed;
    p.threads = (int)threads;
    p.nhidden = 0;
    if (p.kind == MLMODEL_MLP) {
        size_t nh = json_is_array(hidden) ? json_array_size(hidden) : 0;
        if (nh == 0) {
            p.nhidden = 1;
            p.hidden[0] = 128;
        } else if (nh > MLMODEL_MAX_HIDDEN) {
            return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: at most %d hidden layers",
                             MLMODEL_MAX_HIDDEN);
        } else {
            for (size_t i = 0; i < nh; i++) {
                json_t *w = json_array_get(hidden, i);
                if (!json_is_integer(w) || json_integer_value(w) < 1 ||
                    json_integer_value(w) > 65536)
                    return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: 'hidden' widths must "
                                                         "be integers from 1 to 65536");
                p.hidden[i] = (uint32_t)json_integer_value(w);
            }
            p.nhidden = (uint32_t)nh;
        }
    }
    if (!k->artifacts[0])
        return kind_fail(KIND_EXIT_BAD_SPEC, "DROVER_ARTIFACTS is not set: train needs the "
                                             "artifact store");

    /* A gang member: run under the gang's MPI, or join it when inside. */
    gang_env_t g;
    int gang = gang_env_read(&g, err, sizeof err);
    if (gang < 0)
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad gang environment: %s", err);
    if (gang == 1 && !gang_is_inner()) {
#ifndef DROVER_HAVE_MPI
        return kind_fail(KIND_EXIT_FAILED,
                         "this drover-task was built without MPI (install libopenmpi-dev and "
                         "openmpi-bin, then rebuild): a train step with nodes = %d cannot run",
                         g.size);
#else
        char self[PATH_MAX];
        ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
        if (sl <= 0)
            return kind_fail(KIND_EXIT_FAILED, "cannot find drover-task itself: %s",
                             strerror(errno));
        self[sl] = '\0';
        char *argv[] = {self, "train", NULL};
        return gang_mpirun(&g, argv, k->out);
#endif
    }

    /* Backend. */
    if (strcmp(gpu, "never") == 0) {
        p.want_gpu = 0;
    } else if (kind_no_gpu_assigned()) {
        /* The worker gave this task no GPU (CUDA_VISIBLE_DEVICES=""): do not
         * even load the CUDA libraries (150-215 MiB, up to a second). */
        if (strcmp(gpu, "require") == 0)
            return kind_fail(KIND_EXIT_FAILED,
                             "gpu = \"require\" but this task was given no GPU (ask for "
                             "resources = { gpus = 1; })");
        if (strcmp(gpu, "auto") != 0)
            return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: gpu must be auto, never or "
                                                 "require");
        p.want_gpu = 0;
    } else if (strcmp(gpu, "auto") == 0 || strcmp(gpu, "require") == 0) {
        blas_ctx_t *probe = blas_open(1, 1, err, sizeof err);
        int have = probe && blas_is_gpu(probe);
        blas_close(&probe);
        if (!have && strcmp(gpu, "require") == 0)
            return kind_fail(KIND_EXIT_FAILED,
                             "gpu = \"require\" but no GPU is usable here (drover built without "
                             "CUDA, no driver, or no device visible); use gpu = \"auto\" to fall "
                             "back to the CPU");
        p.want_gpu = have;
    } else {
        return kind_fail(KIND_EXIT_BAD_SPEC, "bad train spec: gpu must be auto, never or require");
    }
    printf("backend: %s (gpu = \"%s\", %d BLAS thread%s)\n",
           p.want_gpu ? "cuBLAS on the GPU" : "OpenBLAS on the CPU", gpu, p.threads,
           p.threads == 1 ? "" : "s");

    /* Joined after every local check that may fail on one rank only, so
     * that such a failure leaves the others at the join's deadline rather
     * than in a collective call. */
    if (gang == 1) {
        if (gang_comm_open(&comm, err, sizeof err) < 0)
            return kind_fail(KIND_EXIT_FAILED, "cannot join the gang: %s", err);
        p.comm = &comm;
        printf("data-parallel: rank %d of %d joined\n", comm.rank, comm.size);
    }
    const int lead = comm.rank == 0;

    /* Data. */
    int regression = p.kind == MLMODEL_LINEAR;
    dataset_opts_t o = {
        .label = label,
        .label_kind = regression ? DATASET_LABEL_VALUE : DATASET_LABEL_CLASS,
        .compute_hash = 1,
    };
    ds = dataset_load(path, &o, err, sizeof err);
    if (!ds)
        kind_fail(KIND_EXIT_FAILED, "cannot load the training data: %s", err);
    if (p.comm) {
        /* Every rank says whether it loaded the data and its hash, so that
         * all of them stop together rather than wait on a failed one. */
        char mine[65] = "";
        if (ds)
            util_strlcpy(mine, ds->sha256, sizeof mine);
        if (!(shas = calloc((size_t)comm.size, sizeof mine)) ||
            gang_comm_allgather(&comm, mine, sizeof mine, shas) < 0) {
            kind_fail(KIND_EXIT_FAILED, "cannot compare the dataset across the ranks");
            goto out;
        }
        for (int r = 0; r < comm.size; r++) {
            const char *h = shas + (size_t)r * sizeof mine;
            if (!h[0]) {
                kind_fail(KIND_EXIT_FAILED, "rank %d could not load %s (see its log)", r, path);
                goto out;
            }
            if (strcmp(h, shas) != 0) {
                kind_fail(KIND_EXIT_FAILED,
                          "rank %d's %s has sha256 %.12s..., rank 0's %.12s...: every rank must "
                          "read the same data",
                          r, path, h, shas);
                goto out;
            }
        }
    }
    if (!ds)
        goto out;
    printf("dataset %s: %zu rows, %zu feature columns, sha256 %s\n", path, ds->rows, ds->cols,
           ds->sha256);
    if (!regression && ds->nclasses < 2) {
        kind_fail(KIND_EXIT_FAILED, "cannot train a classifier: label '%s' has %zu class%s in %s",
                  label, ds->nclasses, ds->nclasses == 1 ? "" : "es", path);
        goto out;
    }
    if (ds->cols > 0 && ds->rows >= 2 && strcmp(missing, "mean") == 0) {
        /* Means of the training split (the split train_fit will use), kept
         * in the model and applied wherever it is used. */
        size_t badc;
        if (!(impute = malloc(ds->cols * sizeof *impute))) {
            kind_fail(KIND_EXIT_FAILED, "out of memory");
            goto out;
        }
        if (train_split_means(&p, ds->X, ds->rows, ds->cols, impute, &badc, err, sizeof err) < 0) {
            if (badc)
                kind_fail(KIND_EXIT_FAILED,
                          "cannot impute column '%s': it has no value in the "
                          "training split",
                          ds->col_names[badc - 1]);
            else
                kind_fail(KIND_EXIT_FAILED, "cannot impute: %s", err);
            goto out;
        }
        size_t filled = 0;
        for (size_t r = 0; r < ds->rows; r++)
            for (size_t c = 0; c < ds->cols; c++)
                if (isnan(ds->X[r * ds->cols + c])) {
                    ds->X[r * ds->cols + c] = impute[c]; /* private copy (dataset.h) */
                    filled++;
                }
        printf("missing = \"mean\": %zu missing value%s filled with training-split means\n", filled,
               filled == 1 ? "" : "s");
    } else {
        /* Name the first missing value the way the loader would. */
        for (size_t r = 0; r < ds->rows; r++)
            for (size_t c = 0; c < ds->cols; c++)
                if (isnan(ds->X[r * ds->cols + c])) {
                    kind_fail(KIND_EXIT_FAILED,
                              "%s: row %zu, column '%s' is missing; clean the "
                              "data, or train with missing = \"mean\"",
                              path, r + 2, ds->col_names[c]);
                    goto out;
                }
    }

    /* Checkpoint: one per (run, step), shared by its attempts. */
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/checkpoints", k->artifacts) >= (int)sizeof dir ||
        snprintf(ckpt, sizeof ckpt, "%s/run-%s-%s.ckpt", dir, k->run_id, k->step) >=
            (int)sizeof ckpt ||
        snprintf(tmp_model, sizeof tmp_model, "%s/.model-run-%s-%s-%u.tmp", dir, k->run_id, k->step,
                 k->attempt) >= (int)sizeof tmp_model) {
        tmp_model[0] = '\0';
        kind_fail(KIND_EXIT_FAILED, "the artifact directory path is too long");
        goto out;
    }
    if (util_mkdirs(dir, 0755) < 0) {
        tmp_model[0] = '\0';
        kind_fail(KIND_EXIT_FAILED, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }

    if (!lead)
        tmp_model[0] = '\0'; /* rank 0's name: never this rank's to remove */
    cb_t cb = {.k = k, .regression = regression, .first = 1, .emit = lead};
    train_result_t res;
    memset(&res, 0, sizeof res);
    if (train_fit(&p, ds->X, ds->rows, ds->cols, ds->y_class, ds->nclasses, ds->y_value, s_on_epoch,
                  &cb, ckpt, &model, &res, err, sizeof err) < 0) {
        kind_fail(KIND_EXIT_FAILED, "training failed: %s", err);
        goto out;
    }
    if (res.resumed_from_epoch > 0 && cb.first)
        printf("resuming from epoch %u: the checkpoint already holds every epoch\n",
               res.resumed_from_epoch);
    printf("trained %s on %s: %u epochs%s, best epoch %u, %.2fs\n", trainer, res.backend,
           res.epochs_done, res.stopped_early ? " (stopped early)" : "", res.best_epoch,
           res.seconds);
    if (p.comm) {
        printf("data-parallel: %llu steps, %.3f ms compute and %.3f ms gradient allreduce per "
               "step (%d ranks)\n",
               (unsigned long long)res.steps,
               res.steps ? 1e3 * (res.seconds - res.comm_seconds) / (double)res.steps : 0.0,
               res.steps ? 1e3 * res.comm_seconds / (double)res.steps : 0.0, comm.size);
        if (!lead) {
            /* Rank 0 stores, registers and reports the model. */
            rc = KIND_EXIT_OK;
            goto out;
        }
    }

    if ((!regression && mlmodel_set_class_names(model, (const char *const *)ds->classes) < 0) ||
        mlmodel_set_label_name(model, label) < 0 ||
        mlmodel_set_feature_names(model, (const char *const *)ds->col_names) < 0 ||
        (impute && mlmodel_set_impute(model, MLMODEL_IMPUTE_MEAN, impute) < 0)) {
        kind_fail(KIND_EXIT_FAILED, "out of memory");
        goto out;
    }
    if (mlmodel_save(model, tmp_model, err, sizeof err) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot save the model: %s", err);
        goto out;
    }
    if (artifact_put_file(k->artifacts, tmp_model, hex, err, sizeof err) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot store the model artifact: %s", err);
        goto out;
    }
    printf("model %s stored as artifact %s\n", name, hex);

    /* The model's figures: the epoch whose parameters were kept. */
    const train_epoch_t *e = cb.have_best && cb.best.epoch == res.best_epoch ? &cb.best : &cb.last;
    json_t *metrics =
        regression ? json_pack("{s:o,s:o,s:o,s:o}", "train_loss", kind_real(e->train_loss),
                               "train_rmse", kind_real(e->train_metric), "val_loss",
                               kind_real(e->val_loss), "val_rmse", kind_real(e->val_metric))
                   : json_pack("{s:o,s:o,s:o,s:o}", "train_loss", kind_real(e->train_loss),
                               "train_accuracy", kind_real(e->train_metric), "val_loss",
                               kind_real(e->val_loss), "val_accuracy", kind_real(e->val_metric));
    json_t *params = json_pack(
        "{s:s,s:O,s:s,s:f,s:f,s:I,s:I,s:f,s:I,s:I,s:I,s:s,s:s,s:I,s:I,s:I,s:b,s:s,s:s}", "trainer",
        trainer, "hidden", hidden ? hidden : json_null(), "optimizer", optimizer, "learning_rate",
        p.learning_rate, "l2", p.l2, "epochs", (json_int_t)p.epochs, "batch_size",
        (json_int_t)p.batch_size, "val_split", p.val_fraction, "patience", (json_int_t)p.patience,
        "seed", (json_int_t)p.seed, "threads", (json_int_t)p.threads, "gpu", gpu, "backend",
        res.backend, "epochs_done", (json_int_t)res.epochs_done, "best_epoch",
        (json_int_t)res.best_epoch, "n_train", (json_int_t)res.n_train, "stopped_early",
        res.stopped_early, "missing", missing, "checkpoint_every", ckevery);
    json_t *classes = json_array();
    for (size_t i = 0; !regression && classes && i < ds->nclasses; i++)
        json_array_append_new(classes, json_string(ds->classes[i]));
    /* Lineage: every rank's dataset (one entry per rank; they hash alike). */
    json_t *dsets = json_array();
    for (int r = 0; dsets && r < (p.comm ? comm.size : 1); r++) {
        json_t *d = kind_dataset_json(ds, "train");
        if (d && p.comm && json_object_set_new(d, "sha256", json_string(shas + 65 * r)) < 0) {
            json_decref(d);
            d = NULL;
        }
        if (!d || json_array_append_new(dsets, d) < 0) { /* append_new consumes d */
            json_decref(dsets);
            dsets = NULL;
        }
    }
    if (p.comm && params)
        json_object_set_new(params, "ranks", json_integer(comm.size));
    json_t *output =
        json_pack("{s:{s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:I},s:o,s:I}", "model", "name", name, "kind",
                  mlmodel_kind_name(p.kind), "artifact", hex, "params", params, "metrics", metrics,
                  "label", label, "classes", classes, "features", (json_int_t)ds->cols, "datasets",
                  dsets, "resumed_from_epoch", (json_int_t)res.resumed_from_epoch);
    if (!output) {
        kind_fail(KIND_EXIT_FAILED, "out of memory building the output");
        goto out;
    }
    if (kind_emit(k, "output", output) < 0) {
        kind_fail(KIND_EXIT_FAILED, "cannot report the trained model to the worker");
        goto out;
    }
    /* Stored for good: a later run of this step starts fresh. */
    if (unlink(ckpt) < 0 && errno != ENOENT)
        fprintf(stderr, "warning: cannot remove the checkpoint %s: %s\n", ckpt, strerror(errno));
    rc = KIND_EXIT_OK;
out:
    if (tmp_model[0])
        unlink(tmp_model);
    mlmodel_destroy(&model);
    dataset_destroy(&ds);
    free(impute);
    free(shas);
    gang_comm_close(&comm);
    return rc;
}
