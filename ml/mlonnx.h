/* mlonnx — exports a drover model as an ONNX graph (issue 11).
 *
 * The graph computes what mlmodel_predict computes, standardisation and
 * imputation included, so a caller feeds raw feature values:
 *
 *   input "input"  float32 [N, d]   (features in the model's signature order)
 *   [imputation]   x = Where(IsNaN(input), impute, input)
 *   standardise    z = (x - mean) / std
 *   each layer     z = Relu(MatMul(z, W_l) + b_l)   (no Relu on the last)
 *   softmax/mlp:   "probabilities" = Softmax(z, axis = 1)  float32 [N, k]
 *                  "label" = ArgMax(probabilities, axis = 1, keepdims = 0)  int64 [N]
 *   linear:        "value" = z  float32 [N, 1]
 *
 * Opset 13, IR version 7, the default domain only. Metadata properties:
 * "drover.features" and "drover.classes" (JSON arrays of names),
 * "drover.label", "drover.kind".
 *
 * The protobuf encoding is written directly (a few message types, varints
 * and length-delimited fields), so no generated ONNX code is needed.
 */
#ifndef DROVER_MLONNX_H
#define DROVER_MLONNX_H

#include <stddef.h>

#include "mlmodel.h"

/* Serialises m as an ONNX ModelProto into a malloc'd buffer (*out, *len;
 * caller frees). 0, or -1 + errno (ENOMEM) + text. */
int mlonnx_encode(const mlmodel_t *m, unsigned char **out, size_t *len, char *err, size_t errlen);

/* mlonnx_encode, written to path (tmp + fsync + rename). 0 or -1. */
int mlonnx_save(const mlmodel_t *m, const char *path, char *err, size_t errlen);

#endif
