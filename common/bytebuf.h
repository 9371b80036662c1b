/* bytebuf — a growable byte buffer for writers that build a file or a
 * message in memory (the model file, the ONNX graph).
 *
 * Zero-initialise one (bytebuf_t b = {0}), append with bytebuf_put, then
 * check oom once at the end: after a failed allocation every append is a
 * no-op and oom stays set, so writers need no error check per call. The
 * caller owns b.p and frees it (also when oom). */
#ifndef DROVER_BYTEBUF_H
#define DROVER_BYTEBUF_H

#include <stddef.h>

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom; /* an allocation failed: the content is incomplete */
} bytebuf_t;

/* Appends n bytes of src (doubling the capacity as needed). */
void bytebuf_put(bytebuf_t *b, const void *src, size_t n);

#endif
