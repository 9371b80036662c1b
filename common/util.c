/* util — see util.h. */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <sys/stat.h>
#include <limits.h>
#include <fcntl.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t util_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t util_backoff_ms(int64_t base_ms, unsigned attempt, int64_t cap_ms)
{
    int64_t d = base_ms;
    for (unsigned i = 1; i < attempt && d < cap_ms; i++)
        d *= 2;
    return d > cap_ms ? cap_ms : d;
}

int util_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen == 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (n >= dstlen) {
        memcpy(dst, src, dstlen - 1);
        dst[dstlen - 1] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int util_parse_duration_ms(const char *s, int64_t *ms)
{
    char *end;
    /* Plain decimal only: strtod would also take " 5", "1e3", hex and nan. */
    if (!s || !isdigit((unsigned char)s[0])) {
        errno = EINVAL;
        return -1;
    }
    for (const char *p = s; *p && !strchr("mshdwy", *p); p++)
        if (!isdigit((unsigned char)*p) && *p != '.') {
            errno = EINVAL;
            return -1;
        }
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !(v >= 0.0) || isinf(v)) {
        errno = EINVAL;
        return -1;
    }
    double mult = 1000.0;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000.0;
    else if (strcmp(end, "ms") == 0)
        mult = 1.0;
    else if (strcmp(end, "m") == 0)
        mult = 60000.0;
    else if (strcmp(end, "h") == 0)
        mult = 3600000.0;
    else if (strcmp(end, "d") == 0)
        mult = 86400000.0;
    else if (strcmp(end, "w") == 0)
        mult = 7 * 86400000.0;
    else if (strcmp(end, "y") == 0) /* retention periods: 365 days */
        mult = 365 * 86400000.0;
    else {
        errno = EINVAL;
        return -1;
    }
    double r = v * mult;
    if (r > 9.0e15) {
        errno = EINVAL;
        return -1;
    }
    *ms = (int64_t)(r + 0.5);
    return 0;
}

void util_format_duration(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 1000)
        snprintf(buf, len, "%lldms", (long long)ms);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(buf, len, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms / 1000 % 60));
    else
        snprintf(buf, len, "%lldh%02lldm", (long long)(ms / 3600000), (long long)(ms / 60000 % 60));
}

void util_format_time(int64_t us, char *buf, size_t len)
{
    if (us <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Length of the valid UTF-8 sequence at p, or 0 when it is not one. */
static size_t s_utf8_seq(const unsigned char *p)
{
    unsigned c = *p;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if (n == 2 && c < 0xC2) /* overlong */
        return 0;
    if (n == 3) {
        unsigned cp = ((c & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    if (n == 4) {
        unsigned cp = ((c & 0x07) << 18) | ((p[1] & 0x3Fu) << 12);
        if (cp < 0x10000 || cp > 0x10FFFF)
            return 0;
    }
    return n;
}

size_t util_utf8_sanitize(char *s)
{
    size_t fixed = 0;
    unsigned char *p = (unsigned char *)s;
    while (p && *p) {
        size_t n = s_utf8_seq(p);
        if (!n) {
            *p++ = '?';
            fixed++;
            continue;
        }
        p += n;
    }
    return fixed;
}

int util_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        size_t n = s_utf8_seq(p);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

int util_name_ok(const char *s, size_t max)
{
    if (!s)
        return 0;
    if (max == 0 || max > UTIL_NAME_MAX)
        max = UTIL_NAME_MAX;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (n == 0 || !(ch == '_' || ch == '.' || ch == '-')))
            return 0;
        if (n >= max)
            return 0;
    }
    return n > 0;
}

void util_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int util_commit_file(int fd, const char *tmp, const char *final, char *err, size_t errlen)
{
    const char *step = "fsync";
    if (fsync(fd) < 0)
        goto fail;
    step = "close";
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    step = "rename";
    if (rename(tmp, final) < 0)
        goto fail;
    /* The rename is durable once the directory holding it is synced. */
    char dir[4096];
    const char *slash = strrchr(final, '/');
    size_t n = slash ? (size_t)(slash - final) : 0;
    if (n >= sizeof dir) {
        errno = ENAMETOOLONG;
        util_errf(err, errlen, "cannot fsync the directory of %s: %s", final, strerror(errno));
        return -1;
    }
    if (slash && n == 0)
        n = 1; /* "/file" lives in "/" */
    memcpy(dir, slash ? final : ".", slash ? n : 1);
    dir[slash ? n : 1] = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        util_errf(err, errlen, "cannot fsync the directory of %s: %s", final, strerror(e));
        errno = e;
        return -1;
    }
    close(dfd);
    return 0;
fail:;
    int e = errno;
    util_errf(err, errlen, "cannot %s %s: %s", step, tmp, strerror(e));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = e;
    return -1;
}

char *util_read_stream(FILE *f, size_t max, size_t *lenp)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            if (cap >= max) {
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(buf);
                errno = e;
                return NULL;
            }
            break;
        }
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        errno = EILSEQ;
        return NULL;
    }
    if (lenp)
        *lenp = len;
    return buf;
}

int util_mkdirs(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    if (util_strlcpy(buf, path, sizeof buf) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST ? -1 : 0;
}
