/* dataset — see dataset.h for the formats and the contract.
 *
 * Layout of this file: small helpers (errors, a string hash table), the CSV
 * reader (row-count pass, record reader, field splitter, label mapping),
 * the binary reader/writer, then statistics (inspect, missing/duplicate
 * ratios, PSI) and the deterministic split.
 *
 * The CSV passes agree on record boundaries by construction: both toggle a
 * "quoted" flag at every '"' and end a record at a '\n' seen outside quotes;
 * a record whose bytes are "" or "\r" is blank and skipped by both. Any
 * quoting that is not RFC 4180 is then caught by the field splitter of the
 * second pass, so a malformed file fails with a row number before the two
 * passes could disagree. The second pass still checks that it never sees
 * more rows than the first counted (the file may change under us).
 */
#include "dataset.h"
#include "util.h"

#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dataset.c writes float/int arrays raw: the binary format is little-endian"
#endif

#define DS_MAGIC            "DRVDSET1"
#define DS_VERSION          1u
#define DS_HEADER           64u
#define DS_ALIGN            64u
#define DS_IO_BLOCK         (1u << 20)
#define DS_AUTO_MAX_CLASSES 1000
#define DS_NAME_MAX         65535u

const char *dataset_label_kind_name(dataset_label_kind_t k)
{
    switch (k) {
    case DATASET_LABEL_NONE: return "none";
    case DATASET_LABEL_CLASS: return "class";
    case DATASET_LABEL_VALUE: return "value";
    case DATASET_LABEL_AUTO: return "auto";
    }
    return "?";
}

const char *dataset_format_name(dataset_format_t f)
{
    return f == DATASET_FORMAT_BINARY ? "binary" : "csv";
}

/* ---- string -> id hash table (class labels, column names) ---- */

typedef struct {
    char *name; /* owned; NULL = empty slot */
    uint64_t hash;
    int32_t id;
} s_slot_t;

typedef struct {
    s_slot_t *slots;
    size_t cap, n; /* cap is a power of two */
} s_strtab_t;

static uint64_t s_fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void s_strtab_free(s_strtab_t *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].name);
    free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

/* Finds name; returns its id or -1. */
static int32_t s_strtab_get(const s_strtab_t *t, const char *name)
{
    if (t->cap == 0)
        return -1;
    uint64_t h = s_fnv(name);
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->slots[i].name)
            return -1;
        if (t->slots[i].hash == h && strcmp(t->slots[i].name, name) == 0)
            return t->slots[i].id;
    }
}

static int s_strtab_grow(s_strtab_t *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    s_slot_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].name)
            continue;
        size_t j = t->slots[i].hash & (ncap - 1);
        while (ns[j].name)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

/* Adds name with id = current count if absent. Returns its id (*added set
 * when new), or -1 with errno=ENOMEM. */
static int32_t s_strtab_put(s_strtab_t *t, const char *name, int *added)
{
    *added = 0;
    int32_t id = s_strtab_get(t, name);
    if (id >= 0)
        return id;
    if (t->n >= INT32_MAX) {
        errno = ENOMEM;
        return -1;
    }
    if ((t->n + 1) * 2 > t->cap && s_strtab_grow(t) < 0) {
        errno = ENOMEM;
        return -1;
    }
    char *copy = strdup(name);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    uint64_t h = s_fnv(name);
    size_t i = h & (t->cap - 1);
    while (t->slots[i].name)
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = (s_slot_t){copy, h, (int32_t)t->n};
    *added = 1;
    return (int32_t)t->n++;
}

/* ---- dataset object ---- */

static void s_free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void *dataset_alloc_matrix(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < 2 * huge)
        return malloc(bytes ? bytes : 1);
    if (bytes > SIZE_MAX - huge) {
        errno = ENOMEM;
        return NULL;
    }
    size_t len = (bytes + huge - 1) & ~(huge - 1);
    void *p = aligned_alloc(huge, len);
    if (p)
        (void)madvise(p, len, MADV_HUGEPAGE); /* a hint: failure only costs speed */
    return p;
}

void dataset_destroy(dataset_t **pds)
{
    if (!pds || !*pds)
        return;
    dataset_t *ds = *pds;
    s_free_names(ds->col_names, ds->cols);
    s_free_names(ds->classes, ds->nclasses);
    free(ds->label_name);
    free(ds->path);
    if (ds->map_) {
        munmap(ds->map_, ds->map_len_);
    } else {
        free(ds->X);
        free(ds->y_class);
        free(ds->y_value);
    }
    free(ds);
    *pds = NULL;
}

static dataset_t *s_ds_alloc(const char *path)
{
    dataset_t *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->path = strdup(path ? path : "");
    ds->label_name = strdup("");
    if (!ds->path || !ds->label_name) {
        dataset_destroy(&ds);
        return NULL;
    }
    return ds;
}

/* Comma-separated list of names for error messages, cut short with "..."
 * so that it fits out[outlen]. */
static void s_name_list(char *const *names, size_t n, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t need = strlen(names[i]) + (i ? 2 : 0);
        if (used + need + 4 >= outlen) {
            snprintf(out + used, outlen - used, "%s...", i ? ", " : "");
            return;
        }
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", names[i]);
    }
}

/* Fails when two names are equal; *dup receives the repeated name. */
static int s_check_unique(char *const *names, size_t n, const char *extra, const char **dup)
{
    s_strtab_t t = {0};
    int rc = 0, added;
    for (size_t i = 0; i < n + (extra ? 1 : 0); i++) {
        const char *nm = i < n ? names[i] : extra;
        if (s_strtab_put(&t, nm, &added) < 0) {
            rc = -1;
            break;
        }
        if (!added) {
            *dup = nm;
            errno = EINVAL;
            rc = -1;
            break;
        }
    }
    s_strtab_free(&t);
    return rc;
}

/* ---- number parsing ---- */

enum { NUM_OK = 0, NUM_MISSING = 1, NUM_BAD = -1, NUM_RANGE = -2 };

/* Parses a NUL-terminated field we own (trailing blanks are cut in place).
 * loc is a "C" numeric locale: a program that called setlocale() for its
 * terminal output must still read "1.5" as one and a half. */
static int s_parse_float(char *s, float *out, locale_t loc)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    if (n == 0) {
        *out = NAN;
        return NUM_MISSING;
    }
    char *end;
    errno = 0;
    float v = strtof_l(s, &end, loc);
    if (end == s || *end != '\0')
        return NUM_BAD;
    if (isnan(v)) {
        *out = NAN;
        return NUM_MISSING;
    }
    if (isinf(v))
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

/* [+-]digits that fit a long long. */
static int s_int_literal(const char *s, long long *v)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return 0;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return 0;
    errno = 0;
    *v = strtoll(s, NULL, 10);
    return errno == 0;
}

/* ---- CSV: pass 1, count records ---- */

static int s_read_full(int fd, char *buf, size_t len, size_t *got)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) {
            *got = (size_t)n;
            return 0;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* Counts non-blank records (header included) and, when sha is given, hashes
 * every byte on the way. */
static int s_count_records(int fd, sha256_ctx_t *sha, size_t *nrec, const char *path, char *err,
                           size_t errlen)
{
    char *buf = malloc(DS_IO_BLOCK);
    if (!buf) {
        util_errf(err, errlen, "%s: out of memory", path);
        errno = ENOMEM;
        return -1;
    }
    size_t count = 0, reclen = 0;
    int q = 0;
    char last = 0;
    for (;;) {
        size_t n;
        if (s_read_full(fd, buf, DS_IO_BLOCK, &n) < 0) {
            int e = errno;
            util_errf(err, errlen, "cannot read %s: %s", path, strerror(e));
            free(buf);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        if (sha)
            sha256_update(sha, buf, n);
        for (size_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n' && !q) {
                if (reclen > 1 || (reclen == 1 && last != '\r'))
                    count++;
                reclen = 0;
                continue;
            }
            if (c == '"')
                q ^= 1;
            reclen++;
            last = c;
        }
    }
    if (reclen > 1 || (reclen == 1 && last != '\r'))
        count++;
    free(buf);
    *nrec = count;
    return 0;
}

/* ---- CSV: pass 2, record reader and field splitter ---- */

typedef struct {
    int fd;
    char *buf;
    size_t len, pos;
    int eof;
    char *rec; /* current raw record, NUL-terminated, '\n' and one final '\r' removed */
    size_t rlen, rcap;
    size_t recno; /* 1-based record number of rec (blank records count) */
    /* fields of the current record: fbuf holds them NUL-terminated */
    char *fbuf;
    size_t fcap;
    char **fields;
    size_t nf, fields_cap;
} s_reader_t;

static void s_reader_free(s_reader_t *r)
{
    free(r->buf);
    free(r->rec);
    free(r->fbuf);
    free(r->fields);
}

static int s_rec_append(s_reader_t *r, const char *p, size_t n)
{
    if (r->rlen + n + 1 > r->rcap) {
        size_t ncap = r->rcap ? r->rcap : 4096;
        while (ncap < r->rlen + n + 1)
            ncap *= 2;
        char *nr = realloc(r->rec, ncap);
        if (!nr)
            return -1;
        r->rec = nr;
        r->rcap = ncap;
    }
    memcpy(r->rec + r->rlen, p, n);
    r->rlen += n;
    return 0;
}

/* Reads the next record. Returns 1, 0 at end of file, -1 with errno. */
static int s_next_record(s_reader_t *r)
{
    int q = 0, consumed = 0;
    r->rlen = 0;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof)
                break;
            size_t n;
            if (s_read_full(r->fd, r->buf, DS_IO_BLOCK, &n) < 0)
                return -1;
            if (n == 0) {
                r->eof = 1;
                break;
            }
            r->len = n;
            r->pos = 0;
        }
        const char *s = r->buf + r->pos, *end = r->buf + r->len, *p = s;
        while (p < end) {
            if (*p == '"')
                q ^= 1;
            else if (*p == '\n' && !q)
                break;
            p++;
        }
        consumed = 1;
        if (s_rec_append(r, s, (size_t)(p - s)) < 0) {
            errno = ENOMEM;
            return -1;
        }
        if (p < end) {
            r->pos = (size_t)(p - r->buf) + 1;
            goto done;
        }
        r->pos = r->len;
    }
    if (!consumed)
        return 0;
done:
    if (r->rlen > 0 && r->rec[r->rlen - 1] == '\r')
        r->rlen--;
    if (s_rec_append(r, "", 0) < 0) { /* ensure capacity for the NUL */
        errno = ENOMEM;
        return -1;
    }
    r->rec[r->rlen] = '\0';
    r->recno++;
    return 1;
}

/* Splits r->rec into r->fields. On a quoting error returns -1 with errno =
 * EINVAL, *why and the index of the bad field in *bad. */
static int s_split(s_reader_t *r, size_t skip, const char **why, size_t *bad)
{
    const char *s = r->rec + skip;
    size_t n = r->rlen - skip;
    if (r->fcap < 2 * n + 2) {
        char *nb = realloc(r->fbuf, 2 * n + 2);
        if (!nb) {
            errno = ENOMEM;
            return -1;
        }
        r->fbuf = nb;
        r->fcap = 2 * n + 2;
    }
    char *o = r->fbuf;
    size_t i = 0;
    r->nf = 0;
    for (;;) {
        if (r->nf == r->fields_cap) {
            size_t nc = r->fields_cap ? r->fields_cap * 2 : 64;
            char **nf = realloc(r->fields, nc * sizeof *nf);
            if (!nf) {
                errno = ENOMEM;
                return -1;
            }
            r->fields = nf;
            r->fields_cap = nc;
        }
        r->fields[r->nf++] = o;
        if (i < n && s[i] == '"') {
            i++;
            for (;;) {
                if (i >= n) {
                    *why = "unterminated quoted field";
                    goto bad_field;
                }
                if (s[i] == '"') {
                    if (i + 1 < n && s[i + 1] == '"') {
                        *o++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (s[i] == '\0') {
                    *why = "a NUL byte in the field (not text)";
                    goto bad_field;
                }
                *o++ = s[i++];
            }
            *o++ = '\0';
            if (i == n)
                return 0;
            if (s[i] != ',') {
                *why = "unexpected character after a closing quote";
                goto bad_field;
            }
            i++;
            continue;
        }
        while (i < n && s[i] != ',') {
            if (s[i] == '"') {
                *why = "stray '\"' in an unquoted field (quote the whole field)";
                goto bad_field;
            }
            if (s[i] == '\0') {
                /* A NUL would end the field early: "1\0" must not read as 1,
                 * nor "\0" as a missing value. */
                *why = "a NUL byte in the field (not text)";
                goto bad_field;
            }
            *o++ = s[i++];
        }
        *o++ = '\0';
        if (i == n)
            return 0;
        i++; /* the comma; a trailing comma yields a final empty field */
    }
bad_field:
    *bad = r->nf - 1;
    errno = EINVAL;
    return -1;
}

/* ---- CSV: label mapping ---- */

typedef struct {
    const char *name;
    int32_t tmp;
    long long ival;
} s_class_ent_t;

static int s_class_cmp_num(const void *a, const void *b)
{
    const s_class_ent_t *x = a, *y = b;
    if (x->ival != y->ival)
        return x->ival < y->ival ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int s_class_cmp_str(const void *a, const void *b)
{
    return strcmp(((const s_class_ent_t *)a)->name, ((const s_class_ent_t *)b)->name);
}

/* Turns the first-seen ids in y[rows] into ids in sorted label order and
 * moves the names from the table into *classes. */
static int s_finish_classes(s_strtab_t *t, int32_t *y, size_t rows, char ***classes,
                            size_t *nclasses)
{
    size_t n = t->n;
    s_class_ent_t *ent = calloc(n ? n : 1, sizeof *ent);
    int32_t *remap = calloc(n ? n : 1, sizeof *remap);
    char **names = calloc(n ? n : 1, sizeof *names);
    if (!ent || !remap || !names) {
        free(ent);
        free(remap);
        free(names);
        errno = ENOMEM;
        return -1;
    }
    int all_int = 1;
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].name)
            continue;
        ent[k].name = t->slots[i].name;
        ent[k].tmp = t->slots[i].id;
        if (!s_int_literal(ent[k].name, &ent[k].ival))
            all_int = 0;
        k++;
    }
    qsort(ent, n, sizeof *ent, all_int ? s_class_cmp_num : s_class_cmp_str);
    for (size_t i = 0; i < n; i++) {
        remap[ent[i].tmp] = (int32_t)i;
        names[i] = (char *)ent[i].name;
    }
    for (size_t r = 0; r < rows; r++)
        y[r] = remap[y[r]];
    /* the names now belong to *classes: empty the table without freeing them */
    for (size_t i = 0; i < t->cap; i++)
        t->slots[i].name = NULL;
    s_strtab_free(t);
    free(ent);
    free(remap);
    *classes = names;
    *nclasses = n;
    return 0;
}

static char **s_copy_names(const char *const *src, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(src[i]);
        if (!out[i]) {
            s_free_names(out, i);
            return NULL;
        }
    }
    return out;
}

/* ---- CSV loader ---- */

static dataset_t *s_load_csv(int fd, const char *path, const dataset_opts_t *o, char *err,
                             size_t errlen)
{
    dataset_t *ds = NULL;
    s_reader_t r = {.fd = fd};
    s_strtab_t tab = {0};
    size_t *fmap = NULL; /* field index -> feature column, SIZE_MAX for the label */
    int e = EINVAL;
    sha256_ctx_t sha;
    size_t nrec = 0;
    locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);

    ds = s_ds_alloc(path);
    if (!ds || cloc == (locale_t)0) {
        e = ENOMEM;
        util_errf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    ds->format = DATASET_FORMAT_CSV;
    if (o->compute_hash)
        sha256_init(&sha);
    if (s_count_records(fd, o->compute_hash ? &sha : NULL, &nrec, path, err, errlen) < 0) {
        e = errno;
        goto fail;
    }
    if (o->compute_hash) {
        uint8_t d[SHA256_DIGEST_LEN];
        sha256_final(&sha, d);
        sha256_hex(d, ds->sha256);
    }
    if (nrec == 0) {
        util_errf(err, errlen,
                  "%s: the file is empty (a header row naming the columns is required)", path);
        goto fail;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        e = errno;
        util_errf(err, errlen, "cannot rewind %s: %s", path, strerror(e));
        goto fail;
    }
    r.buf = malloc(DS_IO_BLOCK);
    if (!r.buf) {
        e = ENOMEM;
        util_errf(err, errlen, "%s: out of memory", path);
        goto fail;
    }

    /* header: the first non-blank record */
    const char *why = NULL;
    size_t bad = 0;
    int got;
    while ((got = s_next_record(&r)) == 1 && r.rlen == 0)
        ;
    if (got <= 0) {
        e = got < 0 ? errno : EINVAL;
        util_errf(err, errlen, "%s: %s", path,
                  got < 0 ? strerror(e) : "the file changed while it was being read");
        goto fail;
    }
    size_t skip = (r.rlen >= 3 && memcmp(r.rec, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0; /* UTF-8 BOM */
    if (s_split(&r, skip, &why, &bad) < 0) {
        e = errno;
        if (e == EINVAL)
            util_errf(err, errlen, "%s: row %zu (header), field %zu: %s", path, r.recno, bad + 1,
                      why);
        else
            util_errf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    size_t nh = r.nf;
    int all_numbers = 1;
    for (size_t j = 0; j < nh && all_numbers; j++) {
        float v;
        char tmp[64];
        if (strlen(r.fields[j]) >= sizeof tmp) {
            all_numbers = 0;
            break;
        }
        strcpy(tmp, r.fields[j]);
        if (s_parse_float(tmp, &v, cloc) != NUM_OK)
            all_numbers = 0;
    }
    if (all_numbers) {
        util_errf(
            err, errlen,
            "%s: no header: row %zu holds only numbers ('%s'...); the first row must name the columns",
            path, r.recno, r.fields[0]);
        goto fail;
    }
    {
        const char *dup = NULL;
        if (s_check_unique(r.fields, nh, NULL, &dup) < 0) {
            e = errno;
            if (e == EINVAL)
                util_errf(err, errlen, "%s: row %zu (header): duplicate column name '%s'", path,
                          r.recno, dup);
            else
                util_errf(err, errlen, "%s: out of memory", path);
            goto fail;
        }
    }
    size_t label_idx = SIZE_MAX;
    if (o->label) {
        for (size_t j = 0; j < nh; j++)
            if (strcmp(r.fields[j], o->label) == 0)
                label_idx = j;
        if (label_idx == SIZE_MAX && o->label_optional) {
            /* scoring data: no label column, every column is a feature */
        } else if (label_idx == SIZE_MAX) {
            char list[400];
            s_name_list(r.fields, nh, list, sizeof list);
            util_errf(err, errlen, "%s: no column '%s' (columns: %s)", path, o->label, list);
            goto fail;
        }
        free(ds->label_name);
        ds->label_name = strdup(label_idx == SIZE_MAX || o->label_optional ? "" : o->label);
        if (!ds->label_name) {
            e = ENOMEM;
            goto oom;
        }
    }
    ds->cols = nh - (label_idx != SIZE_MAX);
    ds->col_names = calloc(ds->cols ? ds->cols : 1, sizeof *ds->col_names);
    fmap = calloc(nh, sizeof *fmap);
    if (!ds->col_names || !fmap)
        goto oom;
    for (size_t j = 0, c = 0; j < nh; j++) {
        if (j == label_idx) {
            fmap[j] = SIZE_MAX;
            continue;
        }
        fmap[j] = c;
        ds->col_names[c] = strdup(r.fields[j]);
        if (!ds->col_names[c])
            goto oom;
        c++;
    }

    /* label kind */
    dataset_label_kind_t kind = DATASET_LABEL_NONE;
    if (o->label && label_idx != SIZE_MAX && !o->label_optional) {
        kind = o->label_kind == DATASET_LABEL_NONE ? DATASET_LABEL_AUTO : o->label_kind;
        if (o->nclasses > 0) {
            if (kind == DATASET_LABEL_VALUE) {
                util_errf(err, errlen, "%s: a class list was given for a value (regression) label",
                          path);
                goto fail;
            }
            kind = DATASET_LABEL_CLASS;
            for (size_t i = 0; i < o->nclasses; i++) {
                int added;
                if (s_strtab_put(&tab, o->classes[i], &added) < 0)
                    goto oom;
                if (!added) {
                    util_errf(err, errlen, "%s: class '%s' appears twice in the class list", path,
                              o->classes[i]);
                    goto fail;
                }
            }
        }
    }

    /* allocate exactly once */
    ds->rows = nrec - 1;
    size_t cells, bytes;
    if (__builtin_mul_overflow(ds->rows, ds->cols, &cells) ||
        __builtin_mul_overflow(cells, sizeof(float), &bytes)) {
        e = ENOMEM;
        util_errf(err, errlen, "%s: %zu rows x %zu columns is too large", path, ds->rows, ds->cols);
        goto fail;
    }
    if (cells > 0) {
        ds->X = dataset_alloc_matrix(bytes);
        if (!ds->X) {
            e = ENOMEM;
            util_errf(err, errlen, "%s: out of memory for a %zu x %zu float matrix (%zu MiB)", path,
                      ds->rows, ds->cols, bytes >> 20);
            goto fail;
        }
    }
    size_t lrows = ds->rows ? ds->rows : 1;
    if (kind == DATASET_LABEL_CLASS || kind == DATASET_LABEL_AUTO) {
        ds->y_class = malloc(lrows * sizeof(int32_t));
        if (!ds->y_class)
            goto oom;
    }
    if (kind == DATASET_LABEL_VALUE || kind == DATASET_LABEL_AUTO) {
        ds->y_value = malloc(lrows * sizeof(float));
        if (!ds->y_value)
            goto oom;
    }

    /* rows */
    int any_text = 0, all_int = 1, tab_dropped = 0;
    size_t row = 0;
    const char *lname = ds->label_name;
    for (;;) {
        got = s_next_record(&r);
        if (got < 0) {
            e = errno;
            util_errf(err, errlen, "cannot read %s: %s", path, strerror(e));
            goto fail;
        }
        if (got == 0)
            break;
        if (r.rlen == 0)
            continue;
        if (row >= ds->rows) {
            util_errf(err, errlen, "%s: the file changed while it was being read", path);
            goto fail;
        }
        if (s_split(&r, 0, &why, &bad) < 0) {
            e = errno;
            if (e != EINVAL)
                goto oom;
            if (bad < nh)
                util_errf(err, errlen, "%s: row %zu, column '%s': %s", path, r.recno,
                          bad == label_idx ? lname : ds->col_names[fmap[bad]], why);
            else
                util_errf(err, errlen, "%s: row %zu, field %zu: %s", path, r.recno, bad + 1, why);
            goto fail;
        }
        if (r.nf != nh) {
            util_errf(err, errlen, "%s: row %zu has %zu field%s, the header has %zu", path, r.recno,
                      r.nf, r.nf == 1 ? "" : "s", nh);
            goto fail;
        }
        float *xr = ds->X ? ds->X + row * ds->cols : NULL;
        for (size_t j = 0; j < nh; j++) {
            char *f = r.fields[j];
            if (j != label_idx) {
                int pr = s_parse_float(f, &xr[fmap[j]], cloc);
                if (pr == NUM_BAD || pr == NUM_RANGE) {
                    util_errf(err, errlen, "%s: row %zu, column '%s': '%s' is %s", path, r.recno,
                              ds->col_names[fmap[j]], f,
                              pr == NUM_BAD ? "not a number" : "not a finite float32 value");
                    goto fail;
                }
                continue;
            }
            /* the label */
            if (kind == DATASET_LABEL_NONE)
                continue; /* label_optional: left out, not read */
            if (kind == DATASET_LABEL_VALUE) {
                float v;
                int pr = s_parse_float(f, &v, cloc);
                if (pr == NUM_MISSING) {
                    util_errf(err, errlen, "%s: row %zu, column '%s': missing label", path, r.recno,
                              lname);
                    goto fail;
                }
                if (pr != NUM_OK) {
                    util_errf(err, errlen,
                              "%s: row %zu, column '%s': label '%s' is not a finite number", path,
                              r.recno, lname, f);
                    goto fail;
                }
                ds->y_value[row] = v;
                continue;
            }
            if (f[0] == '\0') {
                util_errf(err, errlen, "%s: row %zu, column '%s': empty label", path, r.recno,
                          lname);
                goto fail;
            }
            if (!util_utf8_valid(f)) {
                util_errf(err, errlen,
                          "%s: row %zu, column '%s': the label is not valid UTF-8 "
                          "(class names are text)",
                          path, r.recno, lname);
                goto fail;
            }
            if (o->nclasses > 0) {
                int32_t id = s_strtab_get(&tab, f);
                if (id < 0) {
                    char list[300];
                    s_name_list((char *const *)o->classes, o->nclasses, list, sizeof list);
                    util_errf(
                        err, errlen,
                        "%s: row %zu, column '%s': label '%s' is not one of the %zu known classes (%s)",
                        path, r.recno, lname, f, o->nclasses, list);
                    goto fail;
                }
                ds->y_class[row] = id;
                continue;
            }
            if (kind == DATASET_LABEL_AUTO) {
                long long iv;
                float v;
                char tmp[64];
                int numeric = 0;
                if (strlen(f) < sizeof tmp) {
                    strcpy(tmp, f);
                    numeric = s_parse_float(tmp, &v, cloc) == NUM_OK;
                }
                if (!numeric) {
                    if (tab_dropped) {
                        util_errf(
                            err, errlen,
                            "%s: row %zu, column '%s': label '%s' is text but earlier labels are more than "
                            "%d distinct numbers; give the label kind (class or value) explicitly",
                            path, r.recno, lname, f, DS_AUTO_MAX_CLASSES);
                        goto fail;
                    }
                    any_text = 1;
                } else {
                    ds->y_value[row] = v;
                    if (all_int && !s_int_literal(f, &iv))
                        all_int = 0;
                }
                if (tab_dropped)
                    continue;
            }
            int added;
            int32_t id = s_strtab_put(&tab, f, &added);
            if (id < 0)
                goto oom;
            ds->y_class[row] = id;
            /* a column of many distinct numbers is a regression target: stop
             * collecting names so memory stays bounded on large files */
            if (kind == DATASET_LABEL_AUTO && !any_text && tab.n > DS_AUTO_MAX_CLASSES) {
                s_strtab_free(&tab);
                tab_dropped = 1;
            }
        }
        row++;
    }
    if (row != ds->rows) {
        util_errf(err, errlen, "%s: the file changed while it was being read", path);
        goto fail;
    }

    if (kind == DATASET_LABEL_AUTO)
        kind = (any_text || (!tab_dropped && all_int)) ? DATASET_LABEL_CLASS : DATASET_LABEL_VALUE;
    ds->label_kind = kind;
    if (kind == DATASET_LABEL_CLASS) {
        free(ds->y_value);
        ds->y_value = NULL;
        if (o->nclasses > 0) {
            ds->classes = s_copy_names(o->classes, o->nclasses);
            if (!ds->classes)
                goto oom;
            ds->nclasses = o->nclasses;
        } else if (s_finish_classes(&tab, ds->y_class, ds->rows, &ds->classes, &ds->nclasses) < 0) {
            goto oom;
        }
    } else if (kind == DATASET_LABEL_VALUE) {
        free(ds->y_class);
        ds->y_class = NULL;
    }
    s_strtab_free(&tab);
    free(fmap);
    s_reader_free(&r);
    freelocale(cloc);
    return ds;

oom:
    e = ENOMEM;
    util_errf(err, errlen, "%s: out of memory", path);
fail:
    s_strtab_free(&tab);
    free(fmap);
    s_reader_free(&r);
    if (cloc != (locale_t)0)
        freelocale(cloc);
    dataset_destroy(&ds);
    errno = e;
    return NULL;
}

/* ---- binary reader ---- */

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t s_get64(const uint8_t *p)
{
    return (uint64_t)s_get32(p) | (uint64_t)s_get32(p + 4) << 32;
}

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads one u16-length name from the names block at *off (< end). */
static char *s_take_name(const uint8_t *base, uint64_t *off, uint64_t end, const char **why)
{
    if (end - *off < 2) {
        *why = "names block ends early";
        return NULL;
    }
    size_t len = (size_t)base[*off] | (size_t)base[*off + 1] << 8;
    *off += 2;
    if (end - *off < len) {
        *why = "names block ends early";
        return NULL;
    }
    if (memchr(base + *off, '\0', len)) {
        *why = "a name contains a NUL byte";
        return NULL;
    }
    char *s = strndup((const char *)base + *off, len);
    if (!s)
        *why = "out of memory";
    *off += len;
    return s;
}

static dataset_t *s_load_binary(int fd, const char *path, const dataset_opts_t *o, char *err,
                                size_t errlen)
{
    dataset_t *ds = NULL;
    struct stat st;
    int e = EINVAL;
    const char *why = NULL;
    int32_t *remap = NULL;

    ds = s_ds_alloc(path);
    if (!ds) {
        e = ENOMEM;
        util_errf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    ds->format = DATASET_FORMAT_BINARY;
    if (fstat(fd, &st) < 0) {
        e = errno;
        util_errf(err, errlen, "cannot stat %s: %s", path, strerror(e));
        goto fail;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < DS_HEADER) {
        util_errf(err, errlen,
                  "%s: binary dataset is truncated (%llu bytes, the header alone is %u)", path,
                  (unsigned long long)size, DS_HEADER);
        goto fail;
    }
    /* writable private mapping: writes stay in this process (see dataset.h) */
    void *map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        e = errno;
        util_errf(err, errlen, "cannot map %s: %s", path, strerror(e));
        goto fail;
    }
    ds->map_ = map;
    ds->map_len_ = (size_t)size;
    const uint8_t *h = map;
    uint32_t version = s_get32(h + 8), kind = s_get32(h + 12), cols = s_get32(h + 24),
             ncl = s_get32(h + 28);
    uint64_t rows = s_get64(h + 16), names_bytes = s_get64(h + 32), data_off = s_get64(h + 40);
    if (version != DS_VERSION) {
        util_errf(err, errlen,
                  "%s: unsupported binary dataset version %u (this drover reads version %u)", path,
                  version, DS_VERSION);
        goto fail;
    }
    if (kind > DATASET_LABEL_VALUE) {
        util_errf(err, errlen, "%s: corrupt binary dataset: label kind %u", path, kind);
        goto fail;
    }
    if (kind != DATASET_LABEL_CLASS && ncl != 0) {
        util_errf(err, errlen, "%s: corrupt binary dataset: %u classes for a label of kind %s",
                  path, ncl, dataset_label_kind_name((dataset_label_kind_t)kind));
        goto fail;
    }
    /* every name costs at least its 2-byte length, which bounds the name
     * arrays by the file size before anything is allocated */
    if (names_bytes > size - DS_HEADER || ((uint64_t)cols + 1 + ncl) * 2 > names_bytes ||
        data_off % DS_ALIGN != 0 || data_off < DS_HEADER + names_bytes || data_off > size) {
        util_errf(err, errlen,
                  "%s: corrupt or truncated binary dataset (bad names block or data offset)", path);
        goto fail;
    }
    uint64_t xbytes, lbytes = kind != DATASET_LABEL_NONE ? rows * 4 : 0, total;
    if (rows > (UINT64_MAX >> 3) || __builtin_mul_overflow(rows, (uint64_t)cols * 4, &xbytes) ||
        __builtin_add_overflow(data_off, xbytes, &total) ||
        __builtin_add_overflow(total, lbytes, &total) || total != size) {
        util_errf(
            err, errlen,
            "%s: corrupt or truncated binary dataset: the header describes %llu rows x %u columns, "
            "which does not match the file length (%llu bytes)",
            path, (unsigned long long)rows, cols, (unsigned long long)size);
        goto fail;
    }
    if (rows > 0 && cols == 0 && kind == DATASET_LABEL_NONE) {
        /* Rows of nothing take no bytes, so the length check cannot catch a
         * made-up row count; no writer produces such a file. */
        util_errf(err, errlen, "%s: corrupt binary dataset: %llu rows without any column", path,
                  (unsigned long long)rows);
        goto fail;
    }
    ds->rows = (size_t)rows;
    ds->cols = cols;
    ds->col_names = calloc(cols ? cols : 1, sizeof *ds->col_names);
    ds->classes = calloc(ncl ? ncl : 1, sizeof *ds->classes);
    if (!ds->col_names || !ds->classes)
        goto oom;
    uint64_t off = DS_HEADER, end = DS_HEADER + names_bytes;
    for (size_t i = 0; i < cols; i++)
        if (!(ds->col_names[i] = s_take_name(h, &off, end, &why)))
            goto bad_names;
    free(ds->label_name);
    if (!(ds->label_name = s_take_name(h, &off, end, &why)))
        goto bad_names;
    ds->nclasses = ncl;
    for (size_t i = 0; i < ncl; i++)
        if (!(ds->classes[i] = s_take_name(h, &off, end, &why)))
            goto bad_names;
    if (off != end) {
        why = "names block has trailing bytes";
        goto bad_names;
    }
    {
        const char *dup = NULL;
        if (s_check_unique(ds->col_names, cols, kind != DATASET_LABEL_NONE ? ds->label_name : NULL,
                           &dup) < 0) {
            if (errno != EINVAL)
                goto oom;
            util_errf(err, errlen, "%s: corrupt binary dataset: duplicate column name '%s'", path,
                      dup);
            goto fail;
        }
        if (kind == DATASET_LABEL_CLASS && s_check_unique(ds->classes, ncl, NULL, &dup) < 0) {
            if (errno != EINVAL)
                goto oom;
            util_errf(err, errlen, "%s: corrupt binary dataset: duplicate class name '%s'", path,
                      dup);
            goto fail;
        }
    }
    if (kind == DATASET_LABEL_NONE && ds->label_name[0] != '\0') {
        why = "label name without a label";
        goto bad_names;
    }
    ds->label_kind = (dataset_label_kind_t)kind;
    ds->X = cols && rows ? (float *)((uint8_t *)map + data_off) : NULL;
    if (kind == DATASET_LABEL_CLASS)
        ds->y_class = (int32_t *)((uint8_t *)map + data_off + xbytes);
    else if (kind == DATASET_LABEL_VALUE)
        ds->y_value = (float *)((uint8_t *)map + data_off + xbytes);
    for (size_t i = 0; ds->y_class && i < ds->rows; i++)
        if (ds->y_class[i] < 0 || (uint32_t)ds->y_class[i] >= ncl) {
            util_errf(err, errlen,
                      "%s: corrupt binary dataset: row %zu has class id %d (there are %u classes)",
                      path, i + 2, ds->y_class[i], ncl);
            goto fail;
        }
    if (o->compute_hash) {
        uint8_t d[SHA256_DIGEST_LEN];
        sha256_buffer(map, (size_t)size, d);
        sha256_hex(d, ds->sha256);
    }

    /* what the caller asked for must match what the file holds */
    if (o->label && !o->label_optional) {
        if (kind == DATASET_LABEL_NONE || strcmp(o->label, ds->label_name) != 0) {
            char list[400];
            s_name_list(ds->col_names, ds->cols, list, sizeof list);
            if (kind == DATASET_LABEL_NONE)
                util_errf(err, errlen,
                          "%s: no column '%s': this binary dataset has no label (columns: %s)",
                          path, o->label, list);
            else
                util_errf(err, errlen,
                          "%s: no column '%s': this binary dataset's label column is '%s'", path,
                          o->label, ds->label_name);
            goto fail;
        }
        dataset_label_kind_t want = o->nclasses ? DATASET_LABEL_CLASS : o->label_kind;
        if ((want == DATASET_LABEL_CLASS || want == DATASET_LABEL_VALUE) &&
            want != (dataset_label_kind_t)kind) {
            util_errf(err, errlen, "%s: label '%s' holds %s labels, not %s", path, ds->label_name,
                      dataset_label_kind_name((dataset_label_kind_t)kind),
                      dataset_label_kind_name(want));
            goto fail;
        }
    }
    if (o->nclasses > 0 && kind == DATASET_LABEL_CLASS) {
        s_strtab_t t = {0};
        int added;
        remap = calloc(ncl ? ncl : 1, sizeof *remap);
        if (!remap)
            goto oom;
        for (size_t i = 0; i < o->nclasses; i++) {
            if (s_strtab_put(&t, o->classes[i], &added) < 0) {
                s_strtab_free(&t);
                goto oom;
            }
            if (!added) {
                s_strtab_free(&t);
                util_errf(err, errlen, "%s: class '%s' appears twice in the class list", path,
                          o->classes[i]);
                goto fail;
            }
        }
        int identity = ncl <= o->nclasses;
        for (size_t i = 0; i < ncl; i++) {
            remap[i] = s_strtab_get(&t, ds->classes[i]);
            if (remap[i] < 0) {
                char list[300];
                s_name_list((char *const *)o->classes, o->nclasses, list, sizeof list);
                util_errf(err, errlen, "%s: class '%s' is not one of the %zu known classes (%s)",
                          path, ds->classes[i], o->nclasses, list);
                s_strtab_free(&t);
                goto fail;
            }
            if ((size_t)remap[i] != i)
                identity = 0;
        }
        s_strtab_free(&t);
        if (!identity) /* copy-on-write touches only the label pages */
            for (size_t i = 0; i < ds->rows; i++)
                ds->y_class[i] = remap[ds->y_class[i]];
        char **names = s_copy_names(o->classes, o->nclasses);
        if (!names)
            goto oom;
        s_free_names(ds->classes, ds->nclasses);
        ds->classes = names;
        ds->nclasses = o->nclasses;
    }
    free(remap);
    return ds;

bad_names:
    if (why && strcmp(why, "out of memory") == 0)
        goto oom;
    util_errf(err, errlen, "%s: corrupt binary dataset: %s", path, why);
    goto fail;
oom:
    e = ENOMEM;
    util_errf(err, errlen, "%s: out of memory", path);
fail:
    free(remap);
    dataset_destroy(&ds);
    errno = e;
    return NULL;
}

/* Column, label and class names end up in JSON, models and the database,
 * which all need valid UTF-8: refuse a dataset whose names are not. */
static int s_names_utf8(const dataset_t *ds, const char *path, char *err, size_t errlen)
{
    for (size_t i = 0; i < ds->cols; i++)
        if (!util_utf8_valid(ds->col_names[i])) {
            util_errf(err, errlen, "%s: the name of column %zu is not valid UTF-8", path, i + 1);
            return -1;
        }
    if (ds->label_name && !util_utf8_valid(ds->label_name)) {
        util_errf(err, errlen, "%s: the label column's name is not valid UTF-8", path);
        return -1;
    }
    for (size_t i = 0; i < ds->nclasses; i++)
        if (!util_utf8_valid(ds->classes[i])) {
            util_errf(err, errlen, "%s: class label %zu ('%.40s...') is not valid UTF-8", path,
                      i + 1, ds->classes[i]);
            return -1;
        }
    return 0;
}

dataset_t *dataset_load(const char *path, const dataset_opts_t *opts, char *err, size_t errlen)
{
    static const dataset_opts_t none = {0};
    const dataset_opts_t *o = opts ? opts : &none;
    if (!path) {
        util_errf(err, errlen, "no dataset path");
        errno = EINVAL;
        return NULL;
    }
    if (o->nclasses > 0 && !o->classes) {
        util_errf(err, errlen, "%s: nclasses without a class list", path);
        errno = EINVAL;
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    char magic[8];
    size_t got = 0;
    dataset_t *ds = NULL;
    if (s_read_full(fd, magic, sizeof magic, &got) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot read %s: %s", path, strerror(e));
        close(fd);
        errno = e;
        return NULL;
    }
    if (got == sizeof magic && memcmp(magic, DS_MAGIC, 8) == 0) {
        ds = s_load_binary(fd, path, o, err, errlen);
    } else if (lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        util_errf(err, errlen, "cannot rewind %s: %s", path, strerror(e));
        errno = e;
    } else {
        ds = s_load_csv(fd, path, o, err, errlen);
    }
    int e = errno;
    close(fd); /* a mapping outlives its descriptor */
    if (ds && s_names_utf8(ds, path, err, errlen) < 0) {
        dataset_destroy(&ds);
        e = EINVAL;
    }
    errno = e;
    return ds;
}

dataset_t *dataset_new(size_t rows, size_t cols, const char *const *col_names,
                       dataset_label_kind_t label_kind, const char *label_name,
                       const char *const *classes, size_t nclasses, char *err, size_t errlen)
{
    dataset_t *ds = NULL;
    size_t cells;
    if (label_kind == DATASET_LABEL_AUTO ||
        (label_kind == DATASET_LABEL_CLASS && (nclasses == 0 || !classes)) ||
        (label_kind != DATASET_LABEL_CLASS && nclasses != 0) || cols > UINT32_MAX ||
        __builtin_mul_overflow(rows, cols, &cells) || cells > SIZE_MAX / sizeof(float)) {
        util_errf(err, errlen, "dataset_new: invalid shape or label settings");
        errno = EINVAL;
        return NULL;
    }
    ds = s_ds_alloc("");
    if (!ds)
        goto oom;
    ds->rows = rows;
    ds->cols = cols;
    ds->format = DATASET_FORMAT_BINARY;
    ds->label_kind = label_kind;
    ds->col_names = calloc(cols ? cols : 1, sizeof *ds->col_names);
    if (!ds->col_names)
        goto oom;
    for (size_t c = 0; c < cols; c++) {
        if (col_names)
            ds->col_names[c] = strdup(col_names[c]);
        else if (asprintf(&ds->col_names[c], "f%zu", c) < 0)
            ds->col_names[c] = NULL;
        if (!ds->col_names[c])
            goto oom;
    }
    if (cells) {
        size_t bytes;
        if (__builtin_mul_overflow(cells, sizeof(float), &bytes) ||
            !(ds->X = dataset_alloc_matrix(bytes)))
            goto oom;
        memset(ds->X, 0, bytes);
    }
    if (label_kind != DATASET_LABEL_NONE) {
        free(ds->label_name);
        if (!(ds->label_name = strdup(label_name ? label_name : "label")))
            goto oom;
    }
    if (label_kind == DATASET_LABEL_CLASS) {
        if (!(ds->y_class = calloc(rows ? rows : 1, sizeof(int32_t))) ||
            !(ds->classes = s_copy_names(classes, nclasses)))
            goto oom;
        ds->nclasses = nclasses;
    } else if (label_kind == DATASET_LABEL_VALUE) {
        if (!(ds->y_value = calloc(rows ? rows : 1, sizeof(float))))
            goto oom;
    }
    const char *dup = NULL;
    if (s_check_unique(ds->col_names, cols,
                       label_kind != DATASET_LABEL_NONE ? ds->label_name : NULL, &dup) < 0 ||
        (ds->classes && s_check_unique(ds->classes, ds->nclasses, NULL, &dup) < 0)) {
        if (errno != EINVAL)
            goto oom;
        util_errf(err, errlen, "dataset_new: duplicate name '%s'", dup);
        dataset_destroy(&ds);
        errno = EINVAL;
        return NULL;
    }
    return ds;
oom:
    util_errf(err, errlen, "dataset_new: out of memory");
    dataset_destroy(&ds);
    errno = ENOMEM;
    return NULL;
}

/* ---- binary writer ---- */

static int s_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t n = write(fd, p, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int dataset_write_binary(const dataset_t *ds, const char *path, char *err, size_t errlen)
{
    char *tmp = NULL;
    uint8_t *names = NULL;
    int fd = -1, e = 0;
    const char *step = "write";

    if (!ds || !path || ds->label_kind == DATASET_LABEL_AUTO || ds->cols > UINT32_MAX ||
        ds->nclasses > UINT32_MAX) {
        util_errf(err, errlen, "cannot write %s: invalid dataset", path ? path : "(null)");
        errno = EINVAL;
        return -1;
    }
    /* names block */
    size_t nnames = ds->cols + 1 + ds->nclasses, nb = 0;
    for (size_t i = 0; i < nnames; i++) {
        const char *s = i < ds->cols    ? ds->col_names[i]
                        : i == ds->cols ? ds->label_name
                                        : ds->classes[i - ds->cols - 1];
        size_t l = strlen(s);
        if (l > DS_NAME_MAX) {
            util_errf(err, errlen, "cannot write %s: name '%.40s...' is longer than %u bytes", path,
                      s, DS_NAME_MAX);
            errno = EINVAL;
            return -1;
        }
        nb += 2 + l;
    }
    uint64_t data_off = (DS_HEADER + nb + DS_ALIGN - 1) / DS_ALIGN * DS_ALIGN;
    names = calloc(1, (size_t)data_off);
    if (!names || asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        e = ENOMEM;
        util_errf(err, errlen, "cannot write %s: out of memory", path);
        goto fail;
    }
    memcpy(names, DS_MAGIC, 8);
    s_put32(names + 8, DS_VERSION);
    s_put32(names + 12, (uint32_t)ds->label_kind);
    s_put64(names + 16, ds->rows);
    s_put32(names + 24, (uint32_t)ds->cols);
    s_put32(names + 28, (uint32_t)ds->nclasses);
    s_put64(names + 32, nb);
    s_put64(names + 40, data_off);
    size_t off = DS_HEADER;
    for (size_t i = 0; i < nnames; i++) {
        const char *s = i < ds->cols    ? ds->col_names[i]
                        : i == ds->cols ? ds->label_name
                                        : ds->classes[i - ds->cols - 1];
        size_t l = strlen(s);
        names[off] = (uint8_t)(l & 0xff);
        names[off + 1] = (uint8_t)(l >> 8);
        memcpy(names + off + 2, s, l);
        off += 2 + l;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        step = "create";
        goto sysfail;
    }
    if (s_write_all(fd, names, (size_t)data_off) < 0 ||
        ((ds->rows * ds->cols) != 0 &&
         s_write_all(fd, ds->X, ds->rows * ds->cols * sizeof(float)) < 0) ||
        (ds->y_class && s_write_all(fd, ds->y_class, ds->rows * sizeof(int32_t)) < 0) ||
        (ds->y_value && s_write_all(fd, ds->y_value, ds->rows * sizeof(float)) < 0))
        goto sysfail;
    {
        int cfd = fd;
        fd = -1; /* util_commit_file consumes it, and removes tmp on failure */
        if (util_commit_file(cfd, tmp, path, err, errlen) < 0) {
            e = errno;
            goto fail_kept;
        }
    }
    free(names);
    free(tmp);
    return 0;
sysfail:
    e = errno;
    util_errf(err, errlen, "cannot %s %s: %s", step, tmp, strerror(e));
fail:
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
fail_kept:
    free(names);
    free(tmp);
    errno = e;
    return -1;
}

int dataset_convert(const char *in_csv, const char *out_bin, const dataset_opts_t *opts, char *err,
                    size_t errlen)
{
    dataset_t *ds = dataset_load(in_csv, opts, err, errlen);
    if (!ds)
        return -1;
    int rc = dataset_write_binary(ds, out_bin, err, errlen);
    int e = errno;
    dataset_destroy(&ds);
    errno = e;
    return rc;
}

/* ---- statistics ---- */

typedef struct {
    size_t n;
    double mean, m2, min, max;
} s_stat_t;

static void s_stat_add(s_stat_t *s, double v)
{
    if (s->n == 0)
        s->min = s->max = v;
    if (v < s->min)
        s->min = v;
    if (v > s->max)
        s->max = v;
    s->n++;
    double d = v - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (v - s->mean);
}

/* JSON has no inf or NaN (a binary file may hold them, and sums of huge
 * values overflow): those figures are shown as null. */
static json_t *s_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int s_stat_json(json_t *o, const s_stat_t *s)
{
    int rc = 0;
    if (s->n == 0) {
        rc |= json_object_set_new(o, "min", json_null());
        rc |= json_object_set_new(o, "max", json_null());
        rc |= json_object_set_new(o, "mean", json_null());
        rc |= json_object_set_new(o, "std", json_null());
        return rc;
    }
    rc |= json_object_set_new(o, "min", s_num(s->min));
    rc |= json_object_set_new(o, "max", s_num(s->max));
    rc |= json_object_set_new(o, "mean", s_num(s->mean));
    rc |= json_object_set_new(o, "std", s_num(sqrt(s->m2 / (double)s->n)));
    return rc;
}

json_t *dataset_inspect(const dataset_t *ds)
{
    json_t *root = json_object(), *cols = json_array();
    s_stat_t *st = calloc(ds->cols ? ds->cols : 1, sizeof *st);
    size_t *counts = NULL;
    int rc = 0;
    if (!root || !cols || !st)
        goto oom;
    for (size_t r = 0; ds->cols && r < ds->rows; r++) {
        const float *x = ds->X + r * ds->cols;
        for (size_t c = 0; c < ds->cols; c++)
            if (!isnan(x[c]))
                s_stat_add(&st[c], x[c]);
    }
    rc |= json_object_set_new(root, "path", json_string(ds->path ? ds->path : ""));
    rc |= json_object_set_new(root, "format", json_string(dataset_format_name(ds->format)));
    rc |=
        json_object_set_new(root, "sha256", ds->sha256[0] ? json_string(ds->sha256) : json_null());
    rc |= json_object_set_new(root, "rows", json_integer((json_int_t)ds->rows));
    rc |= json_object_set_new(root, "cols", json_integer((json_int_t)ds->cols));
    for (size_t c = 0; c < ds->cols; c++) {
        json_t *o = json_object();
        if (!o || json_array_append_new(cols, o) < 0)
            goto oom;
        rc |= json_object_set_new(o, "name", json_string(ds->col_names[c]));
        rc |= json_object_set_new(o, "type", json_string("float"));
        rc |= json_object_set_new(o, "missing", json_integer((json_int_t)(ds->rows - st[c].n)));
        rc |= s_stat_json(o, &st[c]);
    }
    rc |= json_object_set(root, "columns", cols);
    if (ds->label_kind == DATASET_LABEL_NONE) {
        rc |= json_object_set_new(root, "label", json_null());
    } else {
        json_t *l = json_object();
        if (!l || json_object_set_new(root, "label", l) < 0)
            goto oom;
        rc |= json_object_set_new(l, "name", json_string(ds->label_name));
        rc |= json_object_set_new(l, "kind", json_string(dataset_label_kind_name(ds->label_kind)));
        if (ds->label_kind == DATASET_LABEL_CLASS) {
            counts = calloc(ds->nclasses ? ds->nclasses : 1, sizeof *counts);
            json_t *arr = json_array();
            if (!counts || !arr || json_object_set_new(l, "classes", arr) < 0)
                goto oom;
            for (size_t r = 0; r < ds->rows; r++)
                counts[ds->y_class[r]]++;
            rc |= json_object_set_new(l, "nclasses", json_integer((json_int_t)ds->nclasses));
            for (size_t k = 0; k < ds->nclasses; k++) {
                json_t *o = json_pack("{s:I, s:s, s:I, s:f}", "id", (json_int_t)k, "name",
                                      ds->classes[k], "count", (json_int_t)counts[k], "share",
                                      ds->rows ? (double)counts[k] / (double)ds->rows : 0.0);
                if (!o || json_array_append_new(arr, o) < 0)
                    goto oom;
            }
        } else {
            s_stat_t ls = {0};
            for (size_t r = 0; r < ds->rows; r++)
                s_stat_add(&ls, ds->y_value[r]);
            rc |= s_stat_json(l, &ls);
        }
    }
    if (rc)
        goto oom;
    json_decref(cols);
    free(st);
    free(counts);
    return root;
oom:
    json_decref(cols);
    json_decref(root);
    free(st);
    free(counts);
    errno = ENOMEM;
    return NULL;
}

long dataset_column_index(const dataset_t *ds, const char *name)
{
    for (size_t c = 0; ds && name && c < ds->cols; c++)
        if (strcmp(ds->col_names[c], name) == 0)
            return (long)c;
    errno = ENOENT;
    return -1;
}

double dataset_missing_ratio(const dataset_t *ds, size_t col)
{
    if (!ds || col >= ds->cols) {
        errno = EINVAL;
        return -1.0;
    }
    if (ds->rows == 0)
        return 0.0;
    size_t miss = 0;
    for (size_t r = 0; r < ds->rows; r++)
        miss += isnan(ds->X[r * ds->cols + col]) != 0;
    return (double)miss / (double)ds->rows;
}

/* Bits of a value as a row key: every NaN alike, -0 as 0. */
static uint32_t s_key_bits(float v)
{
    uint32_t b;
    if (isnan(v))
        return 0x7fc00000u;
    if (v == 0.0f)
        return 0;
    memcpy(&b, &v, sizeof b);
    return b;
}

static uint64_t s_row_hash(const dataset_t *ds, size_t r)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    const float *x = ds->X ? ds->X + r * ds->cols : NULL;
    for (size_t c = 0; c < ds->cols; c++)
        h = (h ^ s_key_bits(x[c])) * 0x100000001b3ull + (h >> 29);
    if (ds->y_class)
        h = (h ^ (uint32_t)ds->y_class[r]) * 0x100000001b3ull + (h >> 29);
    if (ds->y_value)
        h = (h ^ s_key_bits(ds->y_value[r])) * 0x100000001b3ull + (h >> 29);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

static int s_rows_equal(const dataset_t *ds, size_t a, size_t b)
{
    for (size_t c = 0; c < ds->cols; c++)
        if (s_key_bits(ds->X[a * ds->cols + c]) != s_key_bits(ds->X[b * ds->cols + c]))
            return 0;
    if (ds->y_class && ds->y_class[a] != ds->y_class[b])
        return 0;
    if (ds->y_value && s_key_bits(ds->y_value[a]) != s_key_bits(ds->y_value[b]))
        return 0;
    return 1;
}

double dataset_duplicate_ratio(const dataset_t *ds)
{
    if (!ds || ds->rows < 2)
        return 0.0;
    size_t cap = 16;
    if (ds->rows > SIZE_MAX / 4) {
        errno = ENOMEM;
        return -1.0;
    }
    while (cap < ds->rows * 2)
        cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot); /* row index + 1; 0 = empty */
    if (!slot) {
        errno = ENOMEM;
        return -1.0;
    }
    size_t dups = 0;
    for (size_t r = 0; r < ds->rows; r++) {
        size_t i = s_row_hash(ds, r) & (cap - 1);
        for (;; i = (i + 1) & (cap - 1)) {
            if (slot[i] == 0) {
                slot[i] = r + 1;
                break;
            }
            if (s_rows_equal(ds, slot[i] - 1, r)) {
                dups++;
                break;
            }
        }
    }
    free(slot);
    return (double)dups / (double)ds->rows;
}

static int s_float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Bin of v: the first k with v <= cuts[k], else ncuts. */
static size_t s_bin(const float *cuts, size_t ncuts, float v)
{
    size_t lo = 0, hi = ncuts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= cuts[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

double dataset_psi(const dataset_t *ref, const dataset_t *cur, size_t col, int bins)
{
    if (!ref || !cur || col >= ref->cols || col >= cur->cols || bins < 2) {
        errno = EINVAL;
        return NAN;
    }
    const double eps = 1e-4;
    float *vals = malloc((ref->rows ? ref->rows : 1) * sizeof *vals);
    float *cuts = malloc((size_t)bins * sizeof *cuts);
    size_t *pc = calloc((size_t)bins, sizeof *pc), *qc = calloc((size_t)bins, sizeof *qc);
    double psi = NAN;
    if (!vals || !cuts || !pc || !qc) {
        errno = ENOMEM;
        goto out;
    }
    size_t n = 0, m = 0;
    for (size_t r = 0; r < ref->rows; r++) {
        float v = ref->X[r * ref->cols + col];
        if (!isnan(v))
            vals[n++] = v;
    }
    for (size_t r = 0; r < cur->rows; r++)
        m += !isnan(cur->X[r * cur->cols + col]);
    if (n == 0 || m == 0) {
        errno = EDOM;
        goto out;
    }
    qsort(vals, n, sizeof *vals, s_float_cmp);
    size_t ncuts = 0;
    for (size_t k = 1; k < (size_t)bins; k++) {
        size_t idx = (k * n + (size_t)bins - 1) / (size_t)bins; /* ceil(k*n/bins) */
        float c = vals[idx ? idx - 1 : 0];
        if (ncuts == 0 || c > cuts[ncuts - 1])
            cuts[ncuts++] = c;
    }
    for (size_t i = 0; i < n; i++)
        pc[s_bin(cuts, ncuts, vals[i])]++;
    for (size_t r = 0; r < cur->rows; r++) {
        float v = cur->X[r * cur->cols + col];
        if (!isnan(v))
            qc[s_bin(cuts, ncuts, v)]++;
    }
    psi = 0.0;
    for (size_t b = 0; b <= ncuts; b++) {
        double p = fmax((double)pc[b] / (double)n, eps), q = fmax((double)qc[b] / (double)m, eps);
        psi += (q - p) * log(q / p);
    }
out:
    free(vals);
    free(cuts);
    free(pc);
    free(qc);
    return psi;
}

static uint64_t s_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int dataset_split(size_t rows, double val_fraction, uint64_t seed, size_t **train_idx,
                  size_t *ntrain, size_t **val_idx, size_t *nval)
{
    if (!(val_fraction >= 0.0 && val_fraction < 1.0)) {
        errno = EINVAL;
        return -1;
    }
    size_t nv = (size_t)floor((double)rows * val_fraction + 0.5);
    if (val_fraction > 0.0 && rows >= 2 && nv == 0)
        nv = 1;
    if (rows > 0 && nv >= rows)
        nv = rows - 1;
    size_t nt = rows - nv;
    size_t *perm = malloc((rows ? rows : 1) * sizeof *perm);
    uint8_t *is_val = calloc(rows ? rows : 1, 1);
    size_t *tr = nt ? malloc(nt * sizeof *tr) : NULL, *va = nv ? malloc(nv * sizeof *va) : NULL;
    if (!perm || !is_val || (nt && !tr) || (nv && !va)) {
        free(perm);
        free(is_val);
        free(tr);
        free(va);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < rows; i++)
        perm[i] = i;
    uint64_t st = seed;
    /* only the first nv positions matter: a partial Fisher-Yates draws them
     * uniformly; the bounded draw is Lemire's multiply-shift (bias <= n/2^64) */
    for (size_t i = 0; i < nv; i++) {
        size_t j = i + (size_t)(((unsigned __int128)s_splitmix64(&st) * (rows - i)) >> 64);
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        is_val[perm[i]] = 1;
    }
    for (size_t i = 0, a = 0, b = 0; i < rows; i++) {
        if (is_val[i])
            va[b++] = i;
        else
            tr[a++] = i;
    }
    free(perm);
    free(is_val);
    *train_idx = tr;
    *ntrain = nt;
    *val_idx = va;
    *nval = nv;
    return 0;
}

/* ---- CSV tally (data triggers) ---- */

int dataset_csv_tally(const char *path, uint64_t prefix_len, dataset_tally_t *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    s_reader_t r = {0};
    int e = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        util_errf(err, errlen, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    char *buf = malloc(DS_IO_BLOCK);
    r.buf = malloc(DS_IO_BLOCK);
    r.fd = fd;
    if (!buf || !r.buf) {
        e = ENOMEM;
        util_errf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    /* Pass 1: the hashes. */
    sha256_ctx_t all, pre;
    sha256_init(&all);
    sha256_init(&pre);
    for (;;) {
        size_t n;
        if (s_read_full(fd, buf, DS_IO_BLOCK, &n) < 0) {
            e = errno;
            util_errf(err, errlen, "cannot read %s: %s", path, strerror(e));
            goto fail;
        }
        if (n == 0)
            break;
        sha256_update(&all, buf, n);
        if (out->bytes < prefix_len) {
            uint64_t take = prefix_len - out->bytes < n ? prefix_len - out->bytes : n;
            sha256_update(&pre, buf, (size_t)take);
        }
        out->bytes += n;
    }
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_final(&all, d);
    sha256_hex(d, out->sha256);
    if (prefix_len && out->bytes >= prefix_len) {
        sha256_final(&pre, d);
        sha256_hex(d, out->prefix_sha256);
    }
    /* Pass 2: the records, as dataset_load reads them. */
    if (lseek(fd, 0, SEEK_SET) < 0) {
        e = errno;
        util_errf(err, errlen, "cannot rewind %s: %s", path, strerror(e));
        goto fail;
    }
    int got;
    while ((got = s_next_record(&r)) == 1 && r.rlen == 0)
        out->blank++;
    if (got < 0) {
        e = errno;
        util_errf(err, errlen, "cannot read %s: %s", path, strerror(e));
        goto fail;
    }
    if (got == 0) {
        e = EINVAL;
        util_errf(err, errlen,
                  "%s: the file is empty (a header row naming the columns is required)", path);
        goto fail;
    }
    const char *why = NULL;
    size_t bad = 0, skip = (r.rlen >= 3 && memcmp(r.rec, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    if (s_split(&r, skip, &why, &bad) < 0) {
        e = errno;
        if (e == EINVAL)
            util_errf(err, errlen, "%s: row %zu (header), field %zu: %s", path, r.recno, bad + 1,
                      why);
        else
            util_errf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    size_t nh = r.nf;
    while ((got = s_next_record(&r)) == 1) {
        if (r.rlen == 0 || (r.rlen == 1 && r.rec[0] == '\r')) {
            out->blank++;
            continue;
        }
        if (s_split(&r, 0, &why, &bad) < 0 && errno != EINVAL) {
            e = errno;
            util_errf(err, errlen, "%s: out of memory", path);
            goto fail;
        }
        if (why || r.nf != nh) {
            out->malformed++;
            if (!out->first_bad)
                out->first_bad = r.recno;
            why = NULL;
            continue;
        }
        out->rows++;
    }
    if (got < 0) {
        e = errno;
        util_errf(err, errlen, "cannot read %s: %s", path, strerror(e));
        goto fail;
    }
    free(buf);
    s_reader_free(&r);
    close(fd);
    return 0;
fail:
    free(buf);
    s_reader_free(&r);
    close(fd);
    errno = e;
    return -1;
}
