/* rowparse — see rowparse.h. */
#include "rowparse.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end;
} cur_t;

static void s_ws(cur_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int s_lit(cur_t *c, char ch)
{
    s_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A string without escapes or control characters. 0 or -1. */
static int s_str(cur_t *c, const char **s, size_t *len)
{
    s_ws(c);
    if (c->p >= c->end || *c->p != '"')
        return -1;
    const char *start = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20)
            return -1;
        c->p++;
    }
    if (c->p >= c->end)
        return -1;
    *s = start;
    *len = (size_t)(c->p - start);
    c->p++;
    return 0;
}

/* A JSON number (its exact grammar) or null. 0 or -1. */
static int s_num(cur_t *c, double *v, int *isnull)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    s_ws(c);
    const char *p = c->p, *end = c->end, *start = p;
    *isnull = 0;
    if (end - p >= 4 && !memcmp(p, "null", 4)) {
        c->p += 4;
        *isnull = 1;
        return 0;
    }
    int neg = 0, digits = 0, exp10 = 0, intdigits = 0, isint = 1;
    uint64_t mant = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits < 19)
                mant = mant * 10 + (uint64_t)(*p - '0');
            else
                exp10++;
            digits += mant != 0;
            intdigits++;
            p++;
        }
    }
    if (p < end && *p == '.') {
        isint = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9') {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                exp10--;
                digits += mant != 0;
            }
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        isint = 0;
        p++;
        int eneg = 0, e = 0;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9') {
            if (e < 10000)
                e = e * 10 + (*p - '0');
            p++;
        }
        exp10 += eneg ? -e : e;
    }
    c->p = p;
    /* The full parser reads an integer as an int64 and refuses a larger
     * one: leave those to it. */
    if (isint && intdigits > 18)
        return -1;
    /* Exact in a double (Clinger's fast path): the mantissa below 2^53
     * and a power of ten a double holds exactly; a single rounding. */
    if (digits <= 15 && mant < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / p10[-exp10] : d * p10[exp10];
        *v = neg && d != 0 ? -d : d; /* "-0" is 0, as the full parser reads it */
        return 0;
    }
    /* Else strtod, as the full JSON parser does. */
    char buf[128];
    size_t n = (size_t)(p - start);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, start, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    return 0;
}

static int s_row(cur_t *c, const mlmodel_t *m, float *x, uint8_t *seen)
{
    if (!s_lit(c, '{'))
        return -1;
    memset(seen, 0, m->d);
    uint32_t got = 0, next = 0;
    if (s_lit(c, '}'))
        return m->d == 0 ? 0 : -1;
    do {
        const char *k;
        size_t kl;
        if (s_str(c, &k, &kl) < 0 || !s_lit(c, ':'))
            return -1;
        uint32_t j = next;
        /* Columns usually come in the model's order: try the next first. */
        if (j >= m->d || strncmp(m->feature_names[j], k, kl) || m->feature_names[j][kl]) {
            for (j = 0; j < m->d; j++)
                if (!strncmp(m->feature_names[j], k, kl) && !m->feature_names[j][kl])
                    break;
            if (j == m->d)
                return -1;
        }
        if (seen[j])
            return -1;
        double v;
        int isnull;
        if (s_num(c, &v, &isnull) < 0)
            return -1;
        if (isnull) {
            if (m->impute_policy != MLMODEL_IMPUTE_MEAN)
                return -1;
            x[j] = NAN;
        } else {
            float f = (float)v;
            if (!isfinite(f))
                return -1;
            x[j] = f;
        }
        seen[j] = 1;
        got++;
        next = j + 1;
    } while (s_lit(c, ','));
    return s_lit(c, '}') && got == m->d ? 0 : -1;
}

int rowparse(const mlmodel_t *m, const char *body, size_t len, size_t max_rows, float **Xp,
             size_t *np, int *many)
{
    cur_t c = {body, body + len};
    float *X = NULL;
    uint8_t *seen = malloc(m->d ? m->d : 1);
    size_t n = 0, cap = 0;
    const char *k;
    size_t kl;
    if (!seen || !m->feature_names || !s_lit(&c, '{') || s_str(&c, &k, &kl) < 0 || !s_lit(&c, ':'))
        goto fail;
    if (kl == 3 && !memcmp(k, "row", 3)) {
        *many = 0;
        if (!(X = malloc(m->d * sizeof *X)) || s_row(&c, m, X, seen) < 0)
            goto fail;
        n = 1;
    } else if (kl == 4 && !memcmp(k, "rows", 4)) {
        *many = 1;
        if (!s_lit(&c, '['))
            goto fail;
        do {
            if (n == max_rows)
                goto fail;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                if (cap > max_rows)
                    cap = max_rows;
                float *nx = realloc(X, cap * m->d * sizeof *X);
                if (!nx)
                    goto fail;
                X = nx;
            }
            if (s_row(&c, m, X + n * m->d, seen) < 0)
                goto fail;
            n++;
        } while (s_lit(&c, ','));
        if (!s_lit(&c, ']'))
            goto fail;
    } else {
        goto fail;
    }
    if (!s_lit(&c, '}'))
        goto fail;
    s_ws(&c);
    if (c.p != c.end)
        goto fail;
    free(seen);
    *Xp = X;
    *np = n;
    return 0;
fail:
    free(seen);
    free(X);
    return -1;
}
