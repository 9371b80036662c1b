/* bytebuf — see bytebuf.h. */
#include "bytebuf.h"

#include <stdlib.h>
#include <string.h>

void bytebuf_put(bytebuf_t *b, const void *src, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (n > (size_t)-1 / 2 - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
