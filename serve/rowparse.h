/* rowparse — the fast path of a predict request's body: {"row": {...}} or
 * {"rows": [{...}, ...]} with numbers (or null) as values, straight into
 * the model's input matrix, by column name, without building a JSON tree.
 *
 * It accepts only what is plainly valid: keys without escapes that name
 * the model's features, each once; JSON numbers that fit a float32; null
 * only when the model has an imputation policy; at most max_rows rows.
 * Anything else (malformed JSON, an escape, an unknown or missing column,
 * a string value, too many rows, ...) returns -1 and the caller parses the
 * body with the full JSON parser, which says precisely what is wrong. So
 * the fast path decides nothing the slow path would decide differently:
 * the numbers are converted the same way (decimal -> double -> float). */
#ifndef DROVER_SERVE_ROWPARSE_H
#define DROVER_SERVE_ROWPARSE_H

#include <stddef.h>

#include "mlmodel.h"

/* Parses body (len bytes) for model m. On success returns 0 with *X a
 * malloc'd n x m->d matrix (caller frees; NaN for a null), *n the rows
 * and *many 1 for the "rows" form. -1 otherwise (nothing allocated). */
int rowparse(const mlmodel_t *m, const char *body, size_t len, size_t max_rows, float **X,
             size_t *n, int *many);

#endif
