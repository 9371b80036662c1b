/* output — see output.h.
 *
 * A table keeps every cell as its own malloc'd string with a colour; widths
 * are computed at render time from the visible (UTF-8 code point) length, so
 * "—" or a non-ASCII step name does not push columns out of line.
 */
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* ------------------------------------------------------------ escaping --- */

static size_t s_utf8_len(const uint8_t *p, size_t n);

char *out_escape(const char *s, int keep_lines)
{
    if (!s)
        s = "";
    size_t len = strlen(s);
    /* Each byte becomes at most 4 ("\xNN"). */
    char *out = malloc(len * 4 + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        size_t n = s_utf8_len(p, len - (size_t)(p - (const unsigned char *)s));
        /* C1 controls are U+0080..U+009F: C2 80..C2 9F in UTF-8. */
        int c1 = n == 2 && p[0] == 0xC2 && p[1] <= 0x9F;
        int ctl =
            n == 1 && (*p < 0x20 || *p == 0x7F) && !(keep_lines && (*p == '\n' || *p == '\t'));
        if (n == 0 || ctl || c1) {
            size_t k = n ? n : 1;
            for (size_t i = 0; i < k; i++)
                o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
            p += k;
            continue;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    out[o] = '\0';
    return out;
}

/* Escapes *sp in place (frees the old string) when it needs it. 0 or -1. */
static int s_escape_field(char **sp, int keep_lines)
{
    if (!*sp || !**sp)
        return 0;
    char *e = out_escape(*sp, keep_lines);
    if (!e)
        return -1;
    if (strcmp(e, *sp) == 0) {
        free(e);
        return 0;
    }
    free(*sp);
    *sp = e;
    return 0;
}

/* Escapes every string (and object key) of a JSON value; *changed set. */
static json_t *s_escape_json(json_t *v, int *changed, int *bad)
{
    if (json_is_string(v)) {
        char *e = out_escape(json_string_value(v), 0);
        if (!e) {
            *bad = 1;
            return json_incref(v);
        }
        /* A NUL inside the string (jansson allows it) also counts as a change. */
        if (strcmp(e, json_string_value(v)) == 0 && strlen(e) == json_string_length(v)) {
            free(e);
            return json_incref(v);
        }
        *changed = 1;
        json_t *n = json_string(e);
        free(e);
        if (!n)
            *bad = 1;
        return n ? n : json_incref(v);
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!a || json_array_append_new(a, s_escape_json(e, changed, bad)) < 0)
                *bad = 1;
        }
        return a ? a : (*bad = 1, json_incref(v));
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            char *ek = out_escape(k, 0);
            if (ek && strcmp(ek, k) != 0)
                *changed = 1;
            if (!o || !ek || json_object_set_new(o, ek, s_escape_json(e, changed, bad)) < 0)
                *bad = 1;
            free(ek);
        }
        return o ? o : (*bad = 1, json_incref(v));
    }
    return json_incref(v);
}

static int s_escape_msg(ProtobufCMessage *m, int top)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)m + f->offset;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        void **items = (void **)base;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(size_t *)((char *)m + f->quantifier_offset);
            items = *(void ***)base;
        }
        for (size_t j = 0; j < n && items; j++) {
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                /* The human sentence may span lines; a JSON document is
                 * escaped value by value (its text has no raw controls). */
                if (top && strcmp(f->name, "json") == 0 && items[j] && *(char *)items[j]) {
                    json_t *doc = json_loads(items[j], JSON_DECODE_ANY, NULL);
                    if (!doc)
                        continue;
                    int changed = 0, bad = 0;
                    json_t *e = s_escape_json(doc, &changed, &bad);
                    char *text =
                        changed && !bad ? json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                    json_decref(doc);
                    json_decref(e);
                    if (bad || (changed && !text))
                        return -1;
                    if (text) {
                        free(items[j]);
                        items[j] = text;
                    }
                    continue;
                }
                if (s_escape_field((char **)&items[j], top && strcmp(f->name, "message") == 0) < 0)
                    return -1;
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && items[j]) {
                if (s_escape_msg(items[j], 0) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

int out_escape_reply(Drover__ClientReply *rep)
{
    return rep ? s_escape_msg(&rep->base, 1) : 0;
}

int out_color_ok(int fd)
{
    if (!isatty(fd))
        return 0;
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc)
        return 0;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0)
        return 0;
    return 1;
}

const char *out_color_on(out_color_t c)
{
    switch (c) {
    case OUT_GREEN: return "\033[32m";
    case OUT_RED: return "\033[31m";
    case OUT_YELLOW: return "\033[33m";
    case OUT_DIM: return "\033[2m";
    case OUT_BOLD: return "\033[1m";
    case OUT_PLAIN: break;
    }
    return "";
}

const char *out_color_off(void)
{
    return "\033[0m";
}

/* ------------------------------------------------------------- tables --- */

typedef struct {
    char *text;
    out_color_t color;
} s_cell_t;

struct out_table {
    size_t ncols;
    char **headers;
    int *right;
    size_t *minw;
    s_cell_t *cells; /* nrows * ncols, row-major; unfilled cells are NULL */
    size_t nrows;
    size_t cap_rows;
    size_t col; /* next column of the current row */
    int failed; /* an allocation failed; render reports ENOMEM */
};

out_table_t *out_table_new(const char *const *headers, size_t ncols)
{
    out_table_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ncols = ncols;
    t->headers = calloc(ncols, sizeof *t->headers);
    t->right = calloc(ncols, sizeof *t->right);
    t->minw = calloc(ncols, sizeof *t->minw);
    if (!t->headers || !t->right || !t->minw)
        goto fail;
    for (size_t i = 0; i < ncols; i++)
        if (!(t->headers[i] = strdup(headers[i])))
            goto fail;
    return t;
fail:
    out_table_destroy(&t);
    errno = ENOMEM;
    return NULL;
}

void out_table_destroy(out_table_t **tp)
{
    if (!tp || !*tp)
        return;
    out_table_t *t = *tp;
    if (t->headers)
        for (size_t i = 0; i < t->ncols; i++)
            free(t->headers[i]);
    free(t->headers);
    free(t->right);
    free(t->minw);
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i].text);
    free(t->cells);
    free(t);
    *tp = NULL;
}

void out_table_align_right(out_table_t *t, size_t col)
{
    DROVER_INVARIANT(col < t->ncols);
    t->right[col] = 1;
}

void out_table_min_width(out_table_t *t, size_t col, size_t width)
{
    DROVER_INVARIANT(col < t->ncols);
    t->minw[col] = width;
}

void out_table_row(out_table_t *t)
{
    if (t->failed)
        return;
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        s_cell_t *n = realloc(t->cells, cap * t->ncols * sizeof *n);
        if (!n) {
            t->failed = 1;
            return;
        }
        t->cells = n;
        t->cap_rows = cap;
    }
    memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof *t->cells);
    t->nrows++;
    t->col = 0;
}

void out_table_cell(out_table_t *t, out_color_t c, const char *fmt, ...)
{
    if (t->failed)
        return;
    DROVER_INVARIANT(t->nrows > 0 && t->col < t->ncols);
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    /* A cell never needs a control character; text from a peer may hold one. */
    char *e = out_escape(s, 0);
    free(s);
    if (!e) {
        t->failed = 1;
        return;
    }
    s_cell_t *cell = &t->cells[(t->nrows - 1) * t->ncols + t->col++];
    cell->text = e;
    cell->color = c;
}

/* Visible width: UTF-8 code points (continuation bytes do not count). */
static size_t s_width(const char *s)
{
    size_t w = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} s_buf_t;

static void s_put(s_buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void s_puts(s_buf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

static void s_pad(s_buf_t *b, size_t n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        s_put(b, spaces, k);
        n -= k;
    }
}

static void s_line(const out_table_t *t, s_buf_t *b, const size_t *w, const char *const *text,
                   const out_color_t *colors, int color)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = text[i] ? text[i] : "";
        size_t pad = w[i] - s_width(s);
        int last = i + 1 == t->ncols;
        if (t->right[i])
            s_pad(b, pad);
        int on = color && colors[i] != OUT_PLAIN;
        if (on)
            s_puts(b, out_color_on(colors[i]));
        s_puts(b, s);
        if (on)
            s_puts(b, out_color_off());
        if (!t->right[i] && !last)
            s_pad(b, pad);
        if (!last)
            s_puts(b, "  ");
    }
    s_puts(b, "\n");
}

char *out_table_render(const out_table_t *t, int color, size_t *nlines)
{
    size_t *w = NULL;
    const char **text = NULL;
    out_color_t *colors = NULL;
    s_buf_t b = {0};
    if (t->failed)
        goto fail;
    w = calloc(t->ncols, sizeof *w);
    text = calloc(t->ncols, sizeof *text);
    colors = calloc(t->ncols, sizeof *colors);
    if (!w || !text || !colors)
        goto fail;
    for (size_t i = 0; i < t->ncols; i++) {
        w[i] = s_width(t->headers[i]);
        if (t->minw[i] > w[i])
            w[i] = t->minw[i];
    }
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t cw = s_width(t->cells[r * t->ncols + i].text);
            if (cw > w[i])
                w[i] = cw;
        }
    for (size_t i = 0; i < t->ncols; i++) {
        text[i] = t->headers[i];
        colors[i] = OUT_BOLD;
    }
    s_line(t, &b, w, text, colors, color);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            text[i] = t->cells[r * t->ncols + i].text;
            colors[i] = t->cells[r * t->ncols + i].color;
        }
        s_line(t, &b, w, text, colors, color);
    }
    if (b.failed)
        goto fail;
    free(w);
    free(text);
    free(colors);
    if (nlines)
        *nlines = t->nrows + 1;
    return b.buf;
fail:
    free(w);
    free(text);
    free(colors);
    free(b.buf);
    errno = ENOMEM;
    return NULL;
}

size_t out_screen_lines(const char *text, int cols)
{
    size_t rows = 0, w = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\033' && p[1] == '[') {
            p += 2;
            while (*p && !(*p >= '@' && *p <= '~'))
                p++;
            if (!*p)
                break;
            continue;
        }
        if (*p == '\n') {
            rows += cols > 0 && w > 0 ? (w + (size_t)cols - 1) / (size_t)cols : 1;
            w = 0;
            continue;
        }
        if (((unsigned char)*p & 0xC0) != 0x80)
            w++;
    }
    if (w > 0)
        rows += cols > 0 ? (w + (size_t)cols - 1) / (size_t)cols : 1;
    return rows;
}

int out_term_cols(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return 0;
    return ws.ws_col;
}

int out_term_rows(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0)
        return 0;
    return ws.ws_row;
}

int out_table_print(const out_table_t *t, FILE *f, int color)
{
    char *s = out_table_render(t, color, NULL);
    if (!s)
        return -1;
    int rc = fputs(s, f) < 0 ? -1 : 0;
    free(s);
    return rc;
}

/* -------------------------------------------------------------- times --- */

void out_time_iso(int64_t us, char *buf, size_t len)
{
    if (us <= 0) {
        if (len)
            buf[0] = '\0';
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", date, (int)(us / 1000 % 1000));
}

void out_time_short(int64_t us, int64_t now_us, char *buf, size_t len)
{
    if (us <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)(us / 1000000), now = (time_t)(now_us / 1000000);
    struct tm tm, tn;
    localtime_r(&t, &tm);
    localtime_r(&now, &tn);
    if (tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday)
        strftime(buf, len, "%H:%M:%S", &tm);
    else
        strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

void out_time_clock(int64_t us, char *buf, size_t len)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%H:%M:%S", &tm);
}

void out_duration(int64_t ms, char *buf, size_t len)
{
    util_format_duration(ms, buf, len);
}

int64_t out_span_ms(int64_t start_us, int64_t end_us, int64_t now_us)
{
    if (start_us <= 0)
        return -1;
    int64_t end = end_us > 0 ? end_us : now_us;
    /* Clocks of different machines: never show a negative duration. */
    return end > start_us ? (end - start_us) / 1000 : 0;
}

/* --------------------------------------------------------------- JSON --- */

json_t *out_json_time(int64_t us)
{
    if (us <= 0)
        return json_null();
    char buf[64];
    out_time_iso(us, buf, sizeof buf);
    return json_string(buf);
}

json_t *out_json_seconds(int64_t ms)
{
    if (ms < 0)
        return json_null();
    return json_real((double)ms / 1000.0);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t s_utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

json_t *out_json_bytes(const uint8_t *data, size_t len)
{
    /* Worst case every byte becomes the 3-byte U+FFFD. */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *buf = malloc(len * 3 + 1);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t k = s_utf8_len(data + i, len - i);
        if (k == 0) {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, data + i, k);
            o += k;
            i += k;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

void out_json_set(json_t *obj, const char *key, json_t *val, int *bad)
{
    if (!obj || !val) {
        json_decref(val);
        *bad = 1;
        return;
    }
    if (json_object_set_new(obj, key, val) != 0) /* frees val */
        *bad = 1;
}

void out_json_append(json_t *arr, json_t *val, int *bad)
{
    if (!arr || !val) {
        json_decref(val);
        *bad = 1;
        return;
    }
    if (json_array_append_new(arr, val) != 0)
        *bad = 1;
}

int out_json_print(const json_t *j)
{
    if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) != 0) {
        errno = EIO;
        return -1;
    }
    if (fputc('\n', stdout) == EOF)
        return -1;
    return 0;
}
