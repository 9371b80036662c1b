/* bytebuf — see bytebuf.h. */
#include "bytebuf.h"

#include <stdarg.h>
#include <stdio.h>
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

void bytebuf_printf(bytebuf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        bytebuf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bytebuf_put(b, big, (size_t)n);
    free(big);
}

void bytebuf_json_str(bytebuf_t *b, const char *s)
{
    bytebuf_put(b, "\"", 1);
    const char *run = s; /* the bytes copied as they are, up to s */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        bytebuf_put(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            bytebuf_put(b, e, 2);
        } else {
            bytebuf_printf(b, "\\u%04x", c);
        }
        run = s + 1;
    }
    bytebuf_put(b, run, (size_t)(s - run));
    bytebuf_put(b, "\"", 1);
}
