/* wfsource — @include expansion with a line map (see wfsource.h).
 *
 * Design. One pass over the text, line by line: a line that is an include
 * directive is replaced by the expansion of the file it names (read whole,
 * then expanded the same way, one level deeper); every other line is copied
 * and its (file, line) appended to the map. The map is two parallel arrays
 * indexed by output line, so a lookup is O(1). Files are kept in the order
 * they were first included; file 0 is the one given.
 */
#include "wfsource.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

typedef struct {
    char *path;    /* as named */
    char *basedir; /* realpath of its folder, on first use */
} file_t;

struct wfsource {
    char *text;
    size_t len, cap;
    size_t max;
    file_t *files;
    size_t nfiles;
    uint32_t *line_file; /* per output line: its file and line there */
    int *line_no;
    size_t nlines, caplines;
};

static int s_fail(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int s_fail(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
    if (err && errlen > 0) {
        int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", file, line)
                         : snprintf(err, errlen, "%s: ", file);
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    errno = EINVAL;
    return -1;
}

static int s_oom(char *err, size_t errlen, const char *file)
{
    if (err && errlen > 0)
        snprintf(err, errlen, "%s: out of memory", file);
    errno = ENOMEM;
    return -1;
}

static int s_add(wfsource_t *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->len + n + 1)
            nc *= 2;
        char *nb = realloc(s->text, nc);
        if (!nb)
            return -1;
        s->text = nb;
        s->cap = nc;
    }
    memcpy(s->text + s->len, p, n);
    s->len += n;
    s->text[s->len] = '\0';
    return 0;
}

static int s_map(wfsource_t *s, size_t file, int line)
{
    if (s->nlines == s->caplines) {
        size_t nc = s->caplines ? s->caplines * 2 : 256;
        uint32_t *nf = realloc(s->line_file, nc * sizeof *nf);
        if (!nf)
            return -1;
        s->line_file = nf;
        int *nl = realloc(s->line_no, nc * sizeof *nl);
        if (!nl)
            return -1;
        s->line_no = nl;
        s->caplines = nc;
    }
    s->line_file[s->nlines] = (uint32_t)file;
    s->line_no[s->nlines++] = line;
    return 0;
}

/* `@include "FILE"` alone on its line (a comment may follow); name and
 * nlen get FILE. */
static int s_directive(const char *p, const char *end, const char **name, size_t *nlen)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(end - p) < 9 || strncmp(p, "@include", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
        return 0;
    p += 8;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p >= end || *p != '"')
        return 0;
    const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
    if (!q)
        return 0;
    *name = p + 1;
    *nlen = (size_t)(q - p - 1);
    for (q++; q < end && (*q == ' ' || *q == '\t' || *q == '\r'); q++)
        ;
    return q == end || *q == '#' || (end - q >= 2 && q[0] == '/' && (q[1] == '/' || q[1] == '*'));
}

/* A whole regular file as a string; NULL with *err = errno, EFBIG (over
 * max) or EILSEQ (NUL bytes). */
static char *s_read(const char *path, size_t max, int *err)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        goto io;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        goto io;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        goto io;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 || !(f = fdopen(fd, "r"))) {
        int e = errno;
        close(fd);
        errno = e;
        goto io;
    }
    buf = util_read_stream(f, max, &len);
    if (!buf)
        goto io;
    fclose(f);
    return buf;
io:
    *err = errno;
    if (f)
        fclose(f);
    free(buf);
    return NULL;
}

/* Appends text (file fidx) to s, expanding its directives. */
static int s_expand(wfsource_t *s, const char *text, size_t fidx, int depth, char *err,
                    size_t errlen)
{
    const char *p = text;
    int line = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *here = s->files[fidx].path;
        line++;
        const char *name;
        size_t nlen;
        if (s_directive(p, end, &name, &nlen)) {
            if (depth >= WFSOURCE_MAX_DEPTH || s->nfiles >= WFSOURCE_MAX_FILES)
                return s_fail(err, errlen, here, line,
                              "too many @include levels or files (at most "
                              "%d deep, %d files; does a file include itself?)",
                              WFSOURCE_MAX_DEPTH, WFSOURCE_MAX_FILES);
            if (nlen == 0)
                return s_fail(err, errlen, here, line, "@include needs a file name");
            char *inc = NULL;
            if (name[0] == '/') {
                inc = strndup(name, nlen);
            } else {
                char *copy = strdup(here);
                if (copy && asprintf(&inc, "%s/%.*s", dirname(copy), (int)nlen, name) < 0)
                    inc = NULL;
                free(copy);
            }
            file_t *nf = inc ? realloc(s->files, (s->nfiles + 1) * sizeof *nf) : NULL;
            if (!nf) {
                free(inc);
                return s_oom(err, errlen, here);
            }
            s->files = nf;
            s->files[s->nfiles] = (file_t){inc, NULL};
            size_t child = s->nfiles++;
            int rerr = 0;
            char *body = s_read(inc, s->max, &rerr);
            if (!body) {
                if (rerr == ENOMEM)
                    return s_oom(err, errlen, here);
                return s_fail(err, errlen, here, line, "@include \"%.*s\": cannot read %s: %s",
                              (int)nlen, name, inc,
                              rerr == EFBIG    ? "too large"
                              : rerr == EILSEQ ? "not a text file"
                              : rerr == EINVAL ? "not a regular file"
                                               : strerror(rerr));
            }
            int rc = s_expand(s, body, child, depth + 1, err, errlen);
            free(body);
            if (rc < 0)
                return -1;
        } else {
            if (s_add(s, p, (size_t)(end - p)) < 0 || s_add(s, "\n", 1) < 0 ||
                s_map(s, fidx, line) < 0)
                return s_oom(err, errlen, here);
            if (s->len > s->max)
                return s_fail(err, errlen, s->files[0].path, 0,
                              "the workflow with its @include "
                              "files is too large (at most %zu MiB)",
                              s->max / (1024 * 1024));
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}

wfsource_t *wfsource_expand(const char *text, const char *path, size_t max, char *err,
                            size_t errlen)
{
    const char *name = path ? path : "<string>";
    wfsource_t *s = calloc(1, sizeof *s);
    if (!s || !(s->files = calloc(1, sizeof *s->files)) || !(s->files[0].path = strdup(name)) ||
        s_add(s, "", 0) < 0) {
        wfsource_destroy(&s);
        s_oom(err, errlen, name);
        return NULL;
    }
    s->nfiles = 1;
    s->max = max;
    if (s_expand(s, text ? text : "", 0, 0, err, errlen) < 0) {
        int e = errno;
        wfsource_destroy(&s);
        errno = e;
        return NULL;
    }
    return s;
}

const char *wfsource_text(const wfsource_t *src)
{
    return src->text;
}

const char *wfsource_file(const wfsource_t *src, int line)
{
    return line > 0 && (size_t)line <= src->nlines ? src->files[src->line_file[line - 1]].path
                                                   : src->files[0].path;
}

int wfsource_line(const wfsource_t *src, int line)
{
    return line > 0 && (size_t)line <= src->nlines ? src->line_no[line - 1] : line;
}

const char *wfsource_basedir(wfsource_t *src, int line)
{
    file_t *f = &src->files[line > 0 && (size_t)line <= src->nlines ? src->line_file[line - 1] : 0];
    if (f->basedir)
        return f->basedir;
    char *copy = strdup(f->path);
    if (!copy) {
        errno = ENOMEM;
        return NULL;
    }
    f->basedir = realpath(dirname(copy), NULL);
    int e = errno;
    free(copy);
    errno = e;
    return f->basedir;
}

void wfsource_destroy(wfsource_t **sp)
{
    if (!sp || !*sp)
        return;
    wfsource_t *s = *sp;
    for (size_t i = 0; i < s->nfiles; i++) {
        free(s->files[i].path);
        free(s->files[i].basedir);
    }
    free(s->files);
    free(s->line_file);
    free(s->line_no);
    free(s->text);
    free(s);
    *sp = NULL;
}
