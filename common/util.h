/* util — clocks, backoff and small string helpers shared by every process. */
#ifndef DROVER_UTIL_H
#define DROVER_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Wall clock, microseconds since the epoch (for timestamps users see). */
int64_t util_now_us(void);
/* Monotonic clock in milliseconds (for timers and deadlines). */
int64_t util_mono_ms(void);
/* Monotonic clock in microseconds (for durations measured in metrics). */
int64_t util_mono_us(void);

/* Exponential backoff: base_ms * 2^(attempt-1), capped at cap_ms.
 * attempt 0 or 1 gives base_ms. */
int64_t util_backoff_ms(int64_t base_ms, unsigned attempt, int64_t cap_ms);

/* Copies src into dst (size dstlen), always NUL-terminating.
 * Returns -1 with errno=ENAMETOOLONG when truncated, else 0. */
int util_strlcpy(char *dst, const char *src, size_t dstlen);

/* Formats a human message into a caller-supplied error buffer (the error
 * convention of every module); err may be NULL or errlen 0. */
void util_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes a fully written temporary file durable under its final name:
 * fsync, close, rename onto final, fsync final's directory. Consumes fd.
 * On failure before the rename the temporary file is removed. Returns 0,
 * or -1 with errno and "cannot STEP PATH: reason" in err. */
int util_commit_file(int fd, const char *tmp, const char *final, char *err, size_t errlen);

/* mkdir -p: path and every missing parent, each with mode. Returns 0 (also
 * when it exists), or -1 with errno (ENAMETOOLONG past PATH_MAX). */
int util_mkdirs(const char *path, unsigned mode);

/* Reads the rest of stream f into a NUL-terminated buffer (caller frees),
 * its length in *len. NULL with errno EFBIG (more than max bytes), EILSEQ
 * (the text holds a NUL byte), ENOMEM or the read error; f stays open. */
char *util_read_stream(FILE *f, size_t max, size_t *len);

/* Parses a duration: a number of seconds ("90", "1.5") or a number with a
 * unit suffix ms|s|m|h|d|w|y ("250ms", "10m", "90d"; y = 365 days). Returns 0 and sets *ms, or -1
 * with errno=EINVAL. */
int util_parse_duration_ms(const char *s, int64_t *ms);

/* Formats a duration in ms for people: "830ms", "12.4s", "3m05s", "2h01m". */
void util_format_duration(int64_t ms, char *buf, size_t len);

/* Formats a wall-clock time (us since epoch) as local "YYYY-MM-DD HH:MM:SS";
 * 0 gives "-". */
void util_format_time(int64_t us, char *buf, size_t len);

/* Replaces every byte that is not part of valid UTF-8 with '?', in place,
 * so text from the network can go into PostgreSQL (which refuses invalid
 * UTF-8) without failing a transaction. Returns the number replaced. */
size_t util_utf8_sanitize(char *s);
/* 1 if s is valid UTF-8 (what util_utf8_sanitize would leave unchanged). */
int util_utf8_valid(const char *s);

/* Names of workflows, steps, models, queues, schedules, workers and labels
 * (docs/workflows.md, "Names"): 1 to UTIL_NAME_MAX bytes of [A-Za-z0-9_.-],
 * the first a letter or a digit. They end up in file names, command
 * lines, dependency lists and terminals, hence the narrow set: no '/',
 * ',', space, quote or control character, and no leading '.' or '-' (so
 * ".." and "-x" are not names). max (<= UTIL_NAME_MAX; 0 = UTIL_NAME_MAX)
 * is a tighter bound some names have (labels 63, queues 63). Returns 1 when
 * s is such a name; NULL gives 0. */
#define UTIL_NAME_MAX  128
#define UTIL_NAME_RULE "1 to %d letters, digits, '_', '.' or '-', starting with a letter or digit"
int util_name_ok(const char *s, size_t max);

#endif
