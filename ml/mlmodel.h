/* mlmodel — a trained model: its parameters, the standardisation it expects,
 * its label mapping and metadata; the artifact file format; prediction.
 *
 * Kinds: SOFTMAX (multinomial logistic regression, d -> k), MLP (d -> h1 ->
 * ... -> hL -> k, ReLU hidden layers, softmax output), LINEAR (d -> 1, a
 * regression value).
 *
 * Parameter layout (contiguous floats, `params`): for each layer l in order,
 * W_l as an in_l x out_l row-major matrix (so a layer is Z = A W + b with no
 * transposes), then b_l (out_l floats). mlmodel_layer() gives the offsets.
 * The model works on standardised inputs: x' = (x - mean) / std per column,
 * with mean/std computed from the training split; predict applies it.
 *
 * Artifact file format, version 2 (all integers little-endian; version 1 is
 * the same without sections 7 and 8, and is still read):
 *   "DRVMODEL"              8 bytes magic
 *   u32 version             1 or 2 (readers reject others)
 *   u32 kind                1 softmax, 2 mlp, 3 linear
 *   u32 d, u32 k            input width, output width (1 for linear)
 *   u32 nhidden             0..8
 *   u32 hidden[8]           hidden widths (unused slots 0)
 *   u64 nparams             number of floats in PARAMS
 *   sections, each: u32 tag, u64 byte length, payload
 *     1 MEAN    float32[d]
 *     2 STD     float32[d]
 *     3 PARAMS  float32[nparams]
 *     4 CLASSES u32 count, then count x (u32 len, bytes) class names (UTF-8)
 *     5 LABEL   bytes: the label column name
 *     6 META    bytes: training metadata, a JSON document
 *     7 FEATURES (format 2) u32 count (= d), then count x (u8 type, u32 len,
 *               bytes): the input columns by name; type 1 = float32
 *     8 IMPUTE  (format 2) u32 policy (1 = mean), float32[d] fill values
 *     unknown tags are skipped (forward compatible within a version)
 *   u32 tag 0 (END), u64 0
 *   u32 CRC32C of every byte before it
 * MEAN, STD and PARAMS are required. Floats are IEEE-754 binary32, LE.
 */
#ifndef DROVER_MLMODEL_H
#define DROVER_MLMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "blas.h"
#include "dataset.h"

#define MLMODEL_FORMAT_VERSION 2u /* written; 1 and 2 are read */
#define MLMODEL_FEATURE_FLOAT  1u /* the only feature type today: a float32 column */
#define MLMODEL_IMPUTE_MEAN    1u /* missing values become the training-split mean */
#define MLMODEL_MAX_HIDDEN     8

typedef enum {
    MLMODEL_SOFTMAX = 1, /* multinomial logistic regression */
    MLMODEL_MLP = 2,     /* ReLU hidden layers, softmax output */
    MLMODEL_LINEAR = 3,  /* linear regression, one output value */
} mlmodel_kind_t;

/* A model. Fields are public for reading; build one with mlmodel_create and
 * the setters so the ownership rules hold: every pointer is owned by the
 * model and freed by mlmodel_destroy. */
typedef struct mlmodel {
    mlmodel_kind_t kind;
    uint32_t d;       /* inputs */
    uint32_t k;       /* outputs: classes, or 1 */
    uint32_t nhidden; /* MLP hidden layers */
    uint32_t hidden[MLMODEL_MAX_HIDDEN];
    float *mean;   /* d: training-split mean */
    float *std;    /* d: training-split std (>0) */
    float *params; /* nparams, layout above */
    size_t nparams;
    char **class_names; /* k names or NULL */
    char *label_name;   /* or NULL */
    char *meta_json;    /* or NULL */
    /* The signature (format 2): the feature columns the model reads, by
     * name, in input order, and their types (MLMODEL_FEATURE_FLOAT). NULL
     * in a format-1 file: such a model cannot map columns by name. */
    char **feature_names;   /* d names or NULL */
    uint8_t *feature_types; /* d types or NULL */
    /* Imputation policy (format 2, optional): impute_policy 0 = none
     * (missing values are refused), MLMODEL_IMPUTE_MEAN = replace a missing
     * value of input j by impute[j] (the training split's mean). */
    uint32_t impute_policy;
    float *impute;           /* d values or NULL */
    uint32_t format_version; /* as read (mlmodel_load), else the current */
} mlmodel_t;

/* "softmax" / "mlp" / "linear" / "?". */
const char *mlmodel_kind_name(mlmodel_kind_t kind);
/* Parses a kind name; -1 + EINVAL when unknown. */
int mlmodel_kind_parse(const char *s, mlmodel_kind_t *kind);

/* Allocates a model with zero parameters, mean 0 and std 1. k must be 1 for
 * LINEAR and >= 2 otherwise; nhidden must be 0 unless MLP (then 1..8, each
 * width >= 1). NULL + errno + text on bad shapes or no memory. */
mlmodel_t *mlmodel_create(mlmodel_kind_t kind, uint32_t d, uint32_t k, uint32_t nhidden,
                          const uint32_t *hidden, char *err, size_t errlen);

/* Frees the model (NULL-safe) and nulls *m. */
void mlmodel_destroy(mlmodel_t **m);

/* Number of layers (1 for SOFTMAX/LINEAR, nhidden+1 for MLP), and layer l's
 * shape and offsets into params (W at *w_off, b at *b_off). */
uint32_t mlmodel_nlayers(const mlmodel_t *m);
void mlmodel_layer(const mlmodel_t *m, uint32_t l, uint32_t *in, uint32_t *out, size_t *w_off,
                   size_t *b_off);

/* Copy the given strings into the model (replacing earlier ones). names has
 * m->k entries. 0, or -1 + ENOMEM. */
int mlmodel_set_class_names(mlmodel_t *m, const char *const *names);
int mlmodel_set_label_name(mlmodel_t *m, const char *name);
int mlmodel_set_meta(mlmodel_t *m, const char *json);
/* The signature: m->d feature names (all of type MLMODEL_FEATURE_FLOAT),
 * copied. 0, or -1 + ENOMEM. */
int mlmodel_set_feature_names(mlmodel_t *m, const char *const *names);
/* The imputation policy and its m->d fill values (copied); policy 0 clears
 * it. 0, or -1 + ENOMEM / EINVAL (unknown policy, non-finite value). */
int mlmodel_set_impute(mlmodel_t *m, uint32_t policy, const float *values);

/* How mlmodel_map_dataset treats the data's columns that the model does
 * not read (the label column never counts as one). */
typedef enum {
    MLMODEL_EXTRA_REFUSE = 0, /* an extra column is an error naming it */
    MLMODEL_EXTRA_IGNORE = 1, /* extra columns are skipped */
} mlmodel_extra_t;
/* Builds the model's input matrix from a dataset BY COLUMN NAME, in the
 * model's input order: *X_out = malloc'd rows x m->d floats (caller frees;
 * NULL when rows is 0). Refuses, with a message naming the column (and the
 * row, 1-based with the header as row 1 — the loader's numbering):
 *  - a model without a signature (format 1): "retrain to get a signature";
 *  - a feature the model needs that the data lacks;
 *  - a data column the model does not read (unless extra is IGNORE);
 *  - a missing value (NaN) when the model has no imputation policy; with
 *    MLMODEL_IMPUTE_MEAN it is replaced by the stored training mean.
 * 0, or -1 + errno (EINVAL, ENOMEM) + text. */
int mlmodel_map_dataset(const mlmodel_t *m, const dataset_t *ds, mlmodel_extra_t extra,
                        float **X_out, char *err, size_t errlen);

/* Writes the artifact: to PATH.tmp, fsync, rename over path, fsync of the
 * directory. 0, or -1 + errno + text (the tmp file is removed). */
int mlmodel_save(const mlmodel_t *m, const char *path, char *err, size_t errlen);

/* Reads and verifies an artifact (magic, version, checksum, every length
 * against the file size). A new model owned by the caller, or NULL + errno
 * (EINVAL for a corrupt, truncated or foreign file, ENOTSUP for another
 * format version) and text saying which check failed. Never crashes on bad
 * input. */
mlmodel_t *mlmodel_load(const char *path, char *err, size_t errlen);

/* Predicts n rows of raw (unstandardised) X[n x d] into out: n x k class
 * probabilities (rows sum to 1) or n values for LINEAR. ctx may be NULL: a
 * one-thread OpenBLAS context is opened for the call. Works in chunks, so
 * memory stays bounded for any n. 0, or -1 + errno + text. */
int mlmodel_predict(const mlmodel_t *m, blas_ctx_t *ctx, const float *X, size_t n, float *out,
                    char *err, size_t errlen);

/* CRC32C (Castagnoli) of buf, continuing from crc (start with 0). */
uint32_t mlmodel_crc32c(uint32_t crc, const void *buf, size_t len);

/* Internal helpers shared with train.c (checkpoints); not a public API.
 * write_atomic: PATH.tmp + fsync + rename + directory fsync; 0 or -1.
 * read_file: the whole file in a malloc'd buffer (caller frees) or NULL. */
int mlmodel_write_atomic_(const char *path, const void *buf, size_t len, char *err, size_t errlen);
unsigned char *mlmodel_read_file_(const char *path, size_t *len, char *err, size_t errlen);

#endif
