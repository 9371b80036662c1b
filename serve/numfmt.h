/* numfmt — numbers as JSON text, fast: drover-serve writes every input
 * value of every prediction to its log, and "%.9g" was a fifth of a
 * batch's time (log10 then another tenth; this is about 12x printf).
 *
 * digits (1..17) significant digits, trailing zeros dropped, plain
 * notation for exponents -5..digits-1, else d.ddde[-]X. With 9 digits a
 * float32 reads back as the same float32 (tests/unit/test_rowparse.c
 * checks random floats). Non-finite values are written as null. */
#ifndef DROVER_SERVE_NUMFMT_H
#define DROVER_SERVE_NUMFMT_H

#include "bytebuf.h"

/* Appends v to b (b->oom set on allocation failure, as bytebuf_put). */
void numfmt_put(bytebuf_t *b, double v, int digits);

#endif
