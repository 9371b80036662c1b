/* prom — see prom.h.
 *
 * Values live in _Atomic uint64_t: counters as integers, gauges and
 * histogram sums as the bits of a double. The loop is the only writer, so a
 * read-modify-write is a relaxed load plus a relaxed store (no CAS); the
 * reader may see a histogram whose buckets and count are from neighbouring
 * observations, which Prometheus tolerates (a scrape is a sample). */
#include "prom.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct prom_metric {
    prom_type_t type;
    _Atomic uint64_t v;                             /* count, or gauge bits */
    _Atomic uint64_t sum;                           /* histogram: bits of the sum */
    _Atomic uint64_t buckets[PROM_MAX_BUCKETS + 1]; /* histogram: per bucket (not cumulative) */
    const double *bounds;                           /* histogram: borrowed from owner */
    size_t nbounds;
    char labels[PROM_MAX_LABELS][PROM_LABEL_MAX]; /* a family child's values */
};

struct prom_family {
    prom_type_t type;
    const char *labels[PROM_MAX_LABELS];
    size_t nlabels;
    double bounds[PROM_MAX_BUCKETS];
    size_t nbounds;
    _Atomic size_t nchildren;                      /* claimed children (published with release) */
    _Atomic int other_used;                        /* the overflow child holds data */
    prom_metric_t children[PROM_MAX_CHILDREN + 1]; /* [PROM_MAX_CHILDREN] = "other" */
};

typedef struct {
    const char *name, *help;
    prom_type_t type;
    prom_metric_t *single;
    prom_family_t *family;
    double bounds[PROM_MAX_BUCKETS]; /* a single histogram's bounds */
} entry_t;

struct prom {
    entry_t *entries;
    size_t n, cap;
};

static uint64_t s_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double s_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int s_name_ok(const char *n)
{
    if (!n || !*n || (*n >= '0' && *n <= '9'))
        return 0;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '_' || *n == ':'))
            return 0;
    return 1;
}

prom_t *prom_new(void)
{
    return calloc(1, sizeof(prom_t));
}

void prom_destroy(prom_t **pp)
{
    if (!pp || !*pp)
        return;
    prom_t *p = *pp;
    for (size_t i = 0; i < p->n; i++) {
        free(p->entries[i].single);
        free(p->entries[i].family);
    }
    free(p->entries);
    free(p);
    *pp = NULL;
}

static entry_t *s_entry(prom_t *p, prom_type_t t, const char *name, const char *help,
                        const double *bounds, size_t nbounds)
{
    if (!s_name_ok(name) || !help ||
        (t == PROM_HISTOGRAM && (!bounds || nbounds == 0 || nbounds > PROM_MAX_BUCKETS))) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 1; t == PROM_HISTOGRAM && i < nbounds; i++)
        if (!(bounds[i] > bounds[i - 1])) {
            errno = EINVAL;
            return NULL;
        }
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 32;
        entry_t *ne = realloc(p->entries, nc * sizeof *ne);
        if (!ne)
            return NULL;
        p->entries = ne;
        p->cap = nc;
    }
    entry_t *e = &p->entries[p->n];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->help = help;
    e->type = t;
    if (t == PROM_HISTOGRAM)
        memcpy(e->bounds, bounds, nbounds * sizeof *bounds);
    return e;
}

static prom_metric_t *s_single(prom_t *p, prom_type_t t, const char *name, const char *help,
                               const double *bounds, size_t nbounds)
{
    entry_t *e = s_entry(p, t, name, help, bounds, nbounds);
    if (!e)
        return NULL;
    prom_metric_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->type = t;
    m->bounds = e->bounds;
    m->nbounds = t == PROM_HISTOGRAM ? nbounds : 0;
    e->single = m;
    p->n++;
    return m;
}

prom_metric_t *prom_counter(prom_t *p, const char *name, const char *help)
{
    return s_single(p, PROM_COUNTER, name, help, NULL, 0);
}

prom_metric_t *prom_gauge(prom_t *p, const char *name, const char *help)
{
    return s_single(p, PROM_GAUGE, name, help, NULL, 0);
}

prom_metric_t *prom_histogram(prom_t *p, const char *name, const char *help, const double *bounds,
                              size_t nbounds)
{
    return s_single(p, PROM_HISTOGRAM, name, help, bounds, nbounds);
}

prom_family_t *prom_family(prom_t *p, prom_type_t t, const char *name, const char *help,
                           const char *const *labels, size_t nlabels, const double *bounds,
                           size_t nbounds)
{
    if (nlabels == 0 || nlabels > PROM_MAX_LABELS) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < nlabels; i++)
        if (!s_name_ok(labels[i]) || !strcmp(labels[i], "le")) {
            errno = EINVAL;
            return NULL;
        }
    entry_t *e = s_entry(p, t, name, help, bounds, nbounds);
    if (!e)
        return NULL;
    prom_family_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->type = t;
    f->nlabels = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        f->labels[i] = labels[i];
    if (t == PROM_HISTOGRAM) {
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = nbounds;
    }
    for (size_t i = 0; i <= PROM_MAX_CHILDREN; i++) {
        f->children[i].type = t;
        f->children[i].bounds = f->bounds;
        f->children[i].nbounds = f->nbounds;
    }
    for (size_t i = 0; i < nlabels; i++)
        util_strlcpy(f->children[PROM_MAX_CHILDREN].labels[i], "other", PROM_LABEL_MAX);
    e->family = f;
    p->n++;
    return f;
}

/* Copies a label value: cut to fit (at a UTF-8 boundary), invalid UTF-8
 * sanitised. */
static void s_label_copy(char *dst, const char *src)
{
    size_t n = strlen(src ? src : "");
    if (n >= PROM_LABEL_MAX) {
        n = PROM_LABEL_MAX - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* do not cut inside a character */
    }
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
    util_utf8_sanitize(dst);
}

prom_metric_t *prom_child(prom_family_t *f, const char *v1, const char *v2)
{
    const char *v[PROM_MAX_LABELS] = {v1 ? v1 : "", v2 ? v2 : ""};
    char want[PROM_MAX_LABELS][PROM_LABEL_MAX];
    for (size_t i = 0; i < f->nlabels; i++)
        s_label_copy(want[i], v[i]);
    size_t n = atomic_load_explicit(&f->nchildren, memory_order_relaxed);
    for (size_t c = 0; c < n; c++) {
        size_t i = 0;
        while (i < f->nlabels && !strcmp(f->children[c].labels[i], want[i]))
            i++;
        if (i == f->nlabels)
            return &f->children[c];
    }
    if (n == PROM_MAX_CHILDREN) {
        atomic_store_explicit(&f->other_used, 1, memory_order_release);
        return &f->children[PROM_MAX_CHILDREN];
    }
    for (size_t i = 0; i < f->nlabels; i++)
        memcpy(f->children[n].labels[i], want[i], PROM_LABEL_MAX);
    /* Labels written before the count that makes the child visible. */
    atomic_store_explicit(&f->nchildren, n + 1, memory_order_release);
    return &f->children[n];
}

void prom_family_zero(prom_family_t *f)
{
    size_t n = atomic_load_explicit(&f->nchildren, memory_order_relaxed);
    for (size_t c = 0; c < n; c++)
        atomic_store_explicit(&f->children[c].v, s_bits(0.0), memory_order_relaxed);
    atomic_store_explicit(&f->children[PROM_MAX_CHILDREN].v, s_bits(0.0), memory_order_relaxed);
}

void prom_inc(prom_metric_t *m, uint64_t n)
{
    if (m)
        atomic_store_explicit(&m->v, atomic_load_explicit(&m->v, memory_order_relaxed) + n,
                              memory_order_relaxed);
}

void prom_set(prom_metric_t *m, double v)
{
    if (m)
        atomic_store_explicit(&m->v, s_bits(v), memory_order_relaxed);
}

void prom_add(prom_metric_t *m, double v)
{
    if (m)
        prom_set(m, s_double(atomic_load_explicit(&m->v, memory_order_relaxed)) + v);
}

void prom_observe(prom_metric_t *m, double v)
{
    if (!m)
        return;
    size_t b = 0;
    while (b < m->nbounds && v > m->bounds[b])
        b++;
    atomic_store_explicit(&m->buckets[b],
                          atomic_load_explicit(&m->buckets[b], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&m->sum,
                          s_bits(s_double(atomic_load_explicit(&m->sum, memory_order_relaxed)) + v),
                          memory_order_relaxed);
    prom_inc(m, 1);
}

double prom_value(const prom_metric_t *m)
{
    uint64_t v = atomic_load_explicit(&((prom_metric_t *)m)->v, memory_order_relaxed);
    return m->type == PROM_GAUGE ? s_double(v) : (double)v;
}

/* ------------------------------------------------------------ render --- */

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sb_t;

static void s_put(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_put(sb_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = (b->cap + (size_t)n + 1) * 2;
        char *nb = realloc(b->buf, nc);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = nc;
    }
}

/* A label value with \, " and newlines escaped as the format requires. */
static void s_put_label(sb_t *b, const char *name, const char *v)
{
    s_put(b, "%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\')
            s_put(b, "\\\\");
        else if (*v == '"')
            s_put(b, "\\\"");
        else if (*v == '\n')
            s_put(b, "\\n");
        else
            s_put(b, "%c", *v);
    }
    s_put(b, "\"");
}

static void s_put_double(sb_t *b, double d)
{
    if (d != d)
        s_put(b, "NaN");
    else if (d > 1e308)
        s_put(b, "+Inf");
    else if (d < -1e308)
        s_put(b, "-Inf");
    else
        s_put(b, "%.17g", d);
}

/* Writes "{l1="v1",l2="v2"" (no closing brace) or nothing. */
static void s_put_labels(sb_t *b, const prom_family_t *f, const prom_metric_t *m, int *open)
{
    *open = 0;
    for (size_t i = 0; f && i < f->nlabels; i++) {
        s_put(b, i ? "," : "{");
        s_put_label(b, f->labels[i], m->labels[i]);
        *open = 1;
    }
}

static void s_render_one(sb_t *b, const entry_t *e, const prom_family_t *f, const prom_metric_t *m)
{
    int open;
    uint64_t v = atomic_load_explicit(&((prom_metric_t *)m)->v, memory_order_relaxed);
    if (e->type != PROM_HISTOGRAM) {
        s_put(b, "%s", e->name);
        s_put_labels(b, f, m, &open);
        s_put(b, open ? "} " : " ");
        if (e->type == PROM_COUNTER)
            s_put(b, "%llu\n", (unsigned long long)v);
        else {
            s_put_double(b, s_double(v));
            s_put(b, "\n");
        }
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i <= m->nbounds; i++) {
        cum += atomic_load_explicit(&((prom_metric_t *)m)->buckets[i], memory_order_relaxed);
        s_put(b, "%s_bucket", e->name);
        s_put_labels(b, f, m, &open);
        s_put(b, open ? ",le=\"" : "{le=\"");
        if (i < m->nbounds)
            s_put_double(b, m->bounds[i]);
        else
            s_put(b, "+Inf");
        s_put(b, "\"} %llu\n", (unsigned long long)cum);
    }
    s_put(b, "%s_sum", e->name);
    s_put_labels(b, f, m, &open);
    s_put(b, open ? "} " : " ");
    s_put_double(b,
                 s_double(atomic_load_explicit(&((prom_metric_t *)m)->sum, memory_order_relaxed)));
    s_put(b, "\n%s_count", e->name);
    s_put_labels(b, f, m, &open);
    /* The count is the sum of the buckets read above, so the two agree. */
    s_put(b, open ? "} %llu\n" : " %llu\n", (unsigned long long)cum);
}

char *prom_render(const prom_t *p, size_t *len)
{
    static const char *const type_name[] = {"counter", "gauge", "histogram"};
    sb_t b = {.buf = malloc(4096), .cap = 4096};
    if (!b.buf)
        return NULL;
    for (size_t i = 0; i < p->n; i++) {
        const entry_t *e = &p->entries[i];
        s_put(&b, "# HELP %s ", e->name);
        for (const char *h = e->help; *h; h++)
            s_put(&b, *h == '\\' ? "\\\\" : *h == '\n' ? "\\n" : "%c", *h);
        s_put(&b, "\n# TYPE %s %s\n", e->name, type_name[e->type]);
        if (e->single) {
            s_render_one(&b, e, NULL, e->single);
            continue;
        }
        const prom_family_t *f = e->family;
        size_t n = atomic_load_explicit(&((prom_family_t *)f)->nchildren, memory_order_acquire);
        for (size_t c = 0; c < n; c++)
            s_render_one(&b, e, f, &f->children[c]);
        if (atomic_load_explicit(&((prom_family_t *)f)->other_used, memory_order_acquire))
            s_render_one(&b, e, f, &f->children[PROM_MAX_CHILDREN]);
    }
    s_put(&b, "%s", "");
    if (b.oom || !b.buf) {
        free(b.buf);
        errno = ENOMEM;
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.buf;
}
