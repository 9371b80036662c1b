/* bytebuf — a growable byte buffer for writers that build a file or a
 * message in memory (the model file, the ONNX graph, JSON documents).
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

/* Appends what printf(fmt, ...) writes, whatever its length. */
void bytebuf_printf(bytebuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string literal: quoted, with '"', '\\' and the
 * control characters escaped (\u00XX); other bytes are copied as they are,
 * so the caller checks UTF-8 where s may not be. */
void bytebuf_json_str(bytebuf_t *b, const char *s);

#endif
