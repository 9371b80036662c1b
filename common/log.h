/* log — one-line log records on stderr.
 *
 * Format: "2026-11-26T14:12:00.123Z coordinator[123] info: text".
 * Daemons and the CLI call log_init() once with their program name; the
 * level threshold comes from DROVER_LOG (debug|info|warn|error, default info).
 * Never log secrets; callers pass only what a user may see.
 */
#ifndef DROVER_LOG_H
#define DROVER_LOG_H

typedef enum {
    LOG_DEBUG = 0,
    LOG_INFO = 1,
    LOG_WARN = 2,
    LOG_ERROR = 3,
} log_level_t;

/* Sets the program name shown in each record (borrowed; must outlive use). */
void log_init(const char *prog);
void log_set_level(log_level_t level);
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Always-on invariant check for "impossible" states: logs file:line, aborts.
 * Never use it for I/O, ZeroMQ, libpq or allocation failures. */
#define DROVER_INVARIANT(cond)                                                                     \
    do {                                                                                           \
        if (!(cond))                                                                               \
            log_invariant_failed(__FILE__, __LINE__, #cond);                                       \
    } while (0)
void log_invariant_failed(const char *file, int line, const char *expr) __attribute__((noreturn));

#endif
