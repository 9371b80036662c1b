/* cron — the calendar core of periodic retraining: parse a 5-field cron
 * expression and compute its due times in an IANA time zone.
 *
 * A pure library: no I/O except reading TZif files under /usr/share/zoneinfo
 * (or $TZDIR), no global state, no setenv("TZ")/tzset(), so it is safe to
 * call from any thread. The coordinator stores a schedule's next due time
 * and asks for the one after it once it has fired.
 *
 * Syntax (Vixie cron): "minute hour day-of-month month day-of-week", each
 * field a comma list of items '*', 'N', 'A-B', '*\/S', 'A-B/S'.
 * Months take JAN..DEC, weekdays SUN..SAT (case-insensitive); 0 and 7 are
 * both Sunday, and a weekday range may end in 7 or SUN ("FRI-SUN").
 * Shortcuts: @yearly @annually @monthly @weekly @daily @midnight @hourly.
 * Day rule: when both day-of-month and day-of-week are restricted (neither
 * field begins with '*'), a day matches if EITHER matches ("0 0 1 * MON" =
 * the 1st and every Monday); otherwise both must match, which makes the
 * '*' field irrelevant (as in Vixie cron, "*\/2" counts as '*').
 *
 * Time zones and DST. A schedule names wall-clock times; the due times are
 * the real instants derived from them:
 *  - Fixed-hour schedules (the hour field does not begin with '*', e.g.
 *    "30 2 * * *"): every matching local time fires exactly once.
 *    A local time that does not exist (spring-forward gap) fires at the
 *    first instant after the gap (02:30 -> 03:00 new time); several
 *    skipped times collapse into that one instant. A local time that occurs
 *    twice (fall-back) fires at its first occurrence only.
 *  - Hour-periodic schedules (hour field begins with '*', e.g. "30 * * * *",
 *    "0 *\/2 * * *", @hourly): they fire at every real instant whose local
 *    clock reading matches. Times inside a spring-forward gap are skipped
 *    (they never appear on the clock) and the repeated hour of a fall-back
 *    fires twice, so "30 * * * *" fires exactly once in every real hour
 *    across both transitions.
 * This is Vixie cron's DST behaviour, except that a '*' in the minute field
 * alone does not make a schedule periodic ("*\/15 2 * * *" still fires
 * once on spring-forward day, at 03:00).
 */
#ifndef DROVER_CRON_H
#define DROVER_CRON_H

#include <stddef.h>
#include <stdint.h>

/* A parsed expression. A plain value the caller owns (stack or struct
 * member; copy freely, no destroy). Treat the fields as private. */
typedef struct cron {
    uint64_t minute; /* bit m set: minute m (0-59) */
    uint32_t hour;   /* bit h: hour h (0-23) */
    uint32_t dom;    /* bit d: day of month d (1-31) */
    uint16_t month;  /* bit m: month m (1-12) */
    uint8_t dow;     /* bit d: weekday d (0 = Sunday .. 6) */
    uint8_t flags;   /* CRON_F_* below */
} cron_t;

#define CRON_F_DOM_STAR  0x01 /* day-of-month field began with '*' */
#define CRON_F_DOW_STAR  0x02 /* day-of-week field began with '*' */
#define CRON_F_HOUR_STAR 0x04 /* hour field began with '*': hour-periodic */

/* Parses expr into *out. Returns 0, or -1 with errno=EINVAL, *out
 * untouched and a message in err naming the field and the reason, e.g.
 * "field 2 (hour): 24 is out of range 0-23". Expressions that can never
 * fire ("0 0 30 2 *") are rejected too. err may be NULL if errlen is 0. */
int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen);

/* Sets *next_unix to the first due time strictly after after_unix (seconds
 * since the epoch), computed in the IANA zone tz ("Europe/Berlin", "UTC").
 * Returns 0, or -1 with errno and text in err:
 *   ENOENT   unknown zone (no such TZif file),
 *   EINVAL   malformed zone name or TZif file, after_unix outside the
 *            years 1900..9999,
 *   ERANGE   no due time within 400 years or before the year 10000,
 *   ENOMEM / other   reading the zone file failed.
 * *next_unix is untouched on failure. */
int cron_next(const cron_t *c, const char *tz, int64_t after_unix, int64_t *next_unix, char *err,
              size_t errlen);

/* Sets *prev_unix to the last due time strictly before before_unix; errors
 * as cron_next. For the "latest" catch-up policy: the newest missed due
 * time <= now is cron_prev(c, tz, now + 1, ...). */
int cron_prev(const cron_t *c, const char *tz, int64_t before_unix, int64_t *prev_unix, char *err,
              size_t errlen);

/* Stores the due times in (from_exclusive, to_inclusive], ascending, into
 * out[0..max), the earliest first, and sets *n to how many were stored.
 * Returns 0; *n == max means more may follow: call again with
 * from_exclusive = out[max - 1]. Returns -1 with errno (as cron_next) on
 * failure, with *n = 0. from_exclusive >= to_inclusive gives *n = 0. */
int cron_due_between(const cron_t *c, const char *tz, int64_t from_exclusive, int64_t to_inclusive,
                     int64_t *out, size_t max, size_t *n);

/* Writes a short English description ("at 03:00 every day", "at minute 30
 * of every hour on MON-FRI") into buf, always NUL-terminated, truncated
 * to len. */
void cron_describe(const cron_t *c, char *buf, size_t len);

/* Formats the instant t as local time in zone tz, RFC 3339 style with the
 * offset: "2026-03-29T03:00:00+02:00". For "next fire" columns and tests.
 * Returns 0, or -1 with errno and text in err as cron_next. */
int cron_format_local(const char *tz, int64_t t, char *buf, size_t len, char *err, size_t errlen);

#endif
