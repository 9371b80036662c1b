/* numfmt — see numfmt.h. */
#include "numfmt.h"

#include <math.h>
#include <stdint.h>

void numfmt_put(bytebuf_t *b, double v, int digits)
{
    static const double p10[] = {1e0, 1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
    char buf[48], *p = buf, d[20];
    if (!isfinite(v)) {
        bytebuf_put(b, "null", 4);
        return;
    }
    if (v == 0) {
        bytebuf_put(b, "0", 1);
        return;
    }
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    /* The decimal exponent from the binary one: floor(log10 v) is e or
     * e + 1; the scaled value says which. */
    int e2;
    frexp(v, &e2);
    int e = (int)floor((e2 - 1) * 0.30102999566398120);
    uint64_t lo = (uint64_t)p10[digits - 1], hi = (uint64_t)p10[digits], m = 0;
    for (int pass = 0; pass < 3; pass++) {
        int k = digits - 1 - e;
        double sc = k >= 0 ? (k <= 17 ? v * p10[k] : v * pow(10, k))
                           : (-k <= 17 ? v / p10[-k] : v / pow(10, -k));
        if (sc >= (double)hi - 0.5) {
            e++;
            continue;
        }
        if (sc < (double)lo - 0.5 && pass < 2) {
            e--;
            continue;
        }
        m = (uint64_t)(sc + 0.5);
        break;
    }
    if (m >= hi) { /* rounding carried: 9.9999999996 -> 10.0000000 */
        m /= 10;
        e++;
    }
    int nd = digits;
    for (int i = nd - 1; i >= 0; i--) {
        d[i] = (char)('0' + m % 10);
        m /= 10;
    }
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    if (e >= 0 && e < digits) {
        for (int i = 0; i <= e; i++)
            *p++ = i < nd ? d[i] : '0';
        if (nd > e + 1) {
            *p++ = '.';
            for (int i = e + 1; i < nd; i++)
                *p++ = d[i];
        }
    } else if (e < 0 && e >= -5) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -e - 1; i++)
            *p++ = '0';
        for (int i = 0; i < nd; i++)
            *p++ = d[i];
    } else {
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            for (int i = 1; i < nd; i++)
                *p++ = d[i];
        }
        *p++ = 'e';
        if (e < 0) {
            *p++ = '-';
            e = -e;
        }
        if (e >= 100)
            *p++ = (char)('0' + e / 100);
        if (e >= 10)
            *p++ = (char)('0' + e / 10 % 10);
        *p++ = (char)('0' + e % 10);
    }
    bytebuf_put(b, buf, (size_t)(p - buf));
}
