/* log — see log.h. Writes each record with one write(2) so lines from
 * concurrent processes sharing a log file do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *s_prog = "drover";
static log_level_t s_level = LOG_INFO;
static int s_level_from_env;

static const char *s_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *prog)
{
    s_prog = prog;
    const char *env = getenv("DROVER_LOG");
    if (env && !s_level_from_env) {
        for (int i = 0; i < 4; i++)
            if (strcmp(env, s_names[i]) == 0)
                s_level = (log_level_t)i;
        s_level_from_env = 1;
    }
}

void log_set_level(log_level_t level)
{
    s_level = level;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (level < s_level)
        return;
    char buf[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(buf, sizeof buf,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d] %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), s_prog, (int)getpid(), s_names[level]);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w; /* nowhere left to report a failed log write */
}

void log_invariant_failed(const char *file, int line, const char *expr)
{
    log_msg(LOG_ERROR, "invariant violated at %s:%d: %s", file, line, expr);
    abort();
}
