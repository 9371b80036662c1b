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
 * Artifact file format, version 1 (all integers little-endian):
 *   "DRVMODEL"              8 bytes magic
 *   u32 version             MLMODEL_FORMAT_VERSION (readers reject others)
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

#define MLMODEL_FORMAT_VERSION 1u
#define MLMODEL_MAX_HIDDEN 8

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
    uint32_t d;                            /* inputs */
    uint32_t k;                            /* outputs: classes, or 1 */
    uint32_t nhidden;                      /* MLP hidden layers */
    uint32_t hidden[MLMODEL_MAX_HIDDEN];
    float *mean;                           /* d: training-split mean */
    float *std;                            /* d: training-split std (>0) */
    float *params;                         /* nparams, layout above */
    size_t nparams;
    char **class_names;                    /* k names or NULL */
    char *label_name;                      /* or NULL */
    char *meta_json;                       /* or NULL */
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
void mlmodel_layer(const mlmodel_t *m, uint32_t l, uint32_t *in, uint32_t *out,
                   size_t *w_off, size_t *b_off);

/* Copy the given strings into the model (replacing earlier ones). names has
 * m->k entries. 0, or -1 + ENOMEM. */
int mlmodel_set_class_names(mlmodel_t *m, const char *const *names);
int mlmodel_set_label_name(mlmodel_t *m, const char *name);
int mlmodel_set_meta(mlmodel_t *m, const char *json);

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
int mlmodel_predict(const mlmodel_t *m, blas_ctx_t *ctx, const float *X, size_t n,
                    float *out, char *err, size_t errlen);

/* CRC32C (Castagnoli) of buf, continuing from crc (start with 0). */
uint32_t mlmodel_crc32c(uint32_t crc, const void *buf, size_t len);

/* Internal helpers shared with train.c (checkpoints); not a public API.
 * write_atomic: PATH.tmp + fsync + rename + directory fsync; 0 or -1.
 * read_file: the whole file in a malloc'd buffer (caller frees) or NULL. */
int mlmodel_write_atomic_(const char *path, const void *buf, size_t len, char *err,
                          size_t errlen);
unsigned char *mlmodel_read_file_(const char *path, size_t *len, char *err, size_t errlen);

#endif
