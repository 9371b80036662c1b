/* test_cron — unit tests of common/cron.c: parsing (every syntax form,
 * names, shortcuts, errors naming the field), next-fire computation
 * (ranges, steps, lists, names, month ends, leap days, the day-of-month /
 * day-of-week OR rule), DST in Europe/Berlin and America/New_York in both
 * directions (exactly-once for fixed times, once per real hour for hourly
 * schedules), UTC, a half-hour zone (Asia/Kolkata), cron_prev and
 * cron_due_between. Expected instants are written as local RFC 3339 text
 * and checked both ways (cron_format_local of the result, and against the
 * UTC instant computed here independently with timegm). */
/* cmocka.h needs these first; a blank line keeps clang-format from
 * sorting it above them */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"

/* "2026-03-29T03:00:00+02:00" -> unix seconds, independent of cron.c */
static int64_t s_ts(const char *rfc)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, s, oh, om;
    char sign;
    if (sscanf(rfc, "%d-%d-%dT%d:%d:%d%c%d:%d", &y, &mo, &d, &h, &mi, &s, &sign, &oh, &om) != 9)
        fail_msg("bad timestamp literal %s", rfc);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    int64_t off = (oh * 3600 + om * 60) * (sign == '-' ? -1 : 1);
    return (int64_t)timegm(&tm) - off;
}

static cron_t s_parse_ok(const char *expr)
{
    cron_t c;
    char err[256] = "";
    if (cron_parse(expr, &c, err, sizeof err) != 0)
        fail_msg("cron_parse('%s') failed: %s", expr, err);
    return c;
}

/* Asserts the sequence of due times after 'from' (local RFC 3339). */
static void s_expect_seq(const char *expr, const char *tz, const char *from,
                         const char *const *want, size_t nwant)
{
    cron_t c = s_parse_ok(expr);
    int64_t t = s_ts(from);
    for (size_t i = 0; i < nwant; i++) {
        int64_t nx = 0;
        char err[256] = "", got[64] = "";
        if (cron_next(&c, tz, t, &nx, err, sizeof err) != 0)
            fail_msg("cron_next('%s', %s) failed: %s", expr, tz, err);
        assert_int_equal(cron_format_local(tz, nx, got, sizeof got, err, sizeof err), 0);
        if (nx != s_ts(want[i]) || strcmp(got, want[i]) != 0)
            fail_msg("'%s' in %s after %s: #%zu is %s, want %s", expr, tz, from, i, got, want[i]);
        t = nx;
    }
}

#define SEQ(expr, tz, from, ...)                                                                   \
    do {                                                                                           \
        static const char *const w_[] = {__VA_ARGS__};                                             \
        s_expect_seq(expr, tz, from, w_, sizeof w_ / sizeof w_[0]);                                \
    } while (0)

static int s_count(const char *expr, const char *tz, const char *from, const char *to)
{
    cron_t c = s_parse_ok(expr);
    int64_t out[4096];
    size_t n = 99999;
    if (cron_due_between(&c, tz, s_ts(from), s_ts(to), out, 4096, &n) != 0)
        fail_msg("cron_due_between('%s') failed: %s", expr, strerror(errno));
    for (size_t i = 1; i < n; i++)
        if (out[i] <= out[i - 1])
            fail_msg("'%s': due times not strictly ascending at %zu", expr, i);
    return (int)n;
}

/* ---- parsing --------------------------------------------------------- */

static void t_parse_forms(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        uint64_t minute;
        uint32_t hour, dom;
        uint16_t month;
        uint8_t dow;
        uint8_t flags;
    } cases[] = {
        {"* * * * *", (1ULL << 60) - 1, 0xffffff, 0xfffffffe, 0x1ffe, 0x7f,
         CRON_F_HOUR_STAR | CRON_F_DOM_STAR | CRON_F_DOW_STAR},
        {"0 3 * * *", 1, 1 << 3, 0xfffffffe, 0x1ffe, 0x7f, CRON_F_DOM_STAR | CRON_F_DOW_STAR},
        {"5,10,59 0-2 1 1 0", (1ULL << 5) | (1ULL << 10) | (1ULL << 59), 7, 2, 2, 1, 0},
        {"*/15 */6 */10 */3 */2", 1 | 1ULL << 15 | 1ULL << 30 | 1ULL << 45,
         1 | 1 << 6 | 1 << 12 | 1 << 18, 1 << 1 | 1 << 11 | 1 << 21 | 1u << 31,
         1 << 1 | 1 << 4 | 1 << 7 | 1 << 10, 1 | 1 << 2 | 1 << 4 | 1 << 6,
         CRON_F_HOUR_STAR | CRON_F_DOM_STAR | CRON_F_DOW_STAR},
        {"10-20/5 8-18/4 1-31/15 1-12/6 1-5/2", 1ULL << 10 | 1ULL << 15 | 1ULL << 20,
         1 << 8 | 1 << 12 | 1 << 16, 1 << 1 | 1 << 16 | 1u << 31, 1 << 1 | 1 << 7,
         1 << 1 | 1 << 3 | 1 << 5, 0},
        {"0 0 * jan,Mar,DEC mon-fri", 1, 1, 0xfffffffe, 1 << 1 | 1 << 3 | 1 << 12, 0x3e,
         CRON_F_DOM_STAR},
        {"0 0 * JAN-MAR sun", 1, 1, 0xfffffffe, 0xe, 1, CRON_F_DOM_STAR},
        {"0 0 * * 7", 1, 1, 0xfffffffe, 0x1ffe, 1, CRON_F_DOM_STAR},
        {"0 0 * * 5-7", 1, 1, 0xfffffffe, 0x1ffe, 1 | 1 << 5 | 1 << 6, CRON_F_DOM_STAR},
        {"0 0 * * FRI-SUN", 1, 1, 0xfffffffe, 0x1ffe, 1 | 1 << 5 | 1 << 6, CRON_F_DOM_STAR},
        {"  0\t0   * *  SAT,sun  ", 1, 1, 0xfffffffe, 0x1ffe, 1 | 1 << 6, CRON_F_DOM_STAR},
        {"@hourly", 1, 0xffffff, 0xfffffffe, 0x1ffe, 0x7f,
         CRON_F_HOUR_STAR | CRON_F_DOM_STAR | CRON_F_DOW_STAR},
        {"@daily", 1, 1, 0xfffffffe, 0x1ffe, 0x7f, CRON_F_DOM_STAR | CRON_F_DOW_STAR},
        {"@MIDNIGHT", 1, 1, 0xfffffffe, 0x1ffe, 0x7f, CRON_F_DOM_STAR | CRON_F_DOW_STAR},
        {"@weekly", 1, 1, 0xfffffffe, 0x1ffe, 1, CRON_F_DOM_STAR},
        {"@monthly", 1, 1, 2, 0x1ffe, 0x7f, CRON_F_DOW_STAR},
        {"@yearly", 1, 1, 2, 2, 0x7f, CRON_F_DOW_STAR},
        {" @annually ", 1, 1, 2, 2, 0x7f, CRON_F_DOW_STAR},
        {"0 0 29 2 *", 1, 1, 1u << 29, 4, 0x7f, CRON_F_DOW_STAR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cron_t c = s_parse_ok(cases[i].expr);
        if (c.minute != cases[i].minute || c.hour != cases[i].hour || c.dom != cases[i].dom ||
            c.month != cases[i].month || c.dow != cases[i].dow || c.flags != cases[i].flags)
            fail_msg("'%s': got min=%llx hour=%x dom=%x mon=%x dow=%x flags=%x", cases[i].expr,
                     (unsigned long long)c.minute, c.hour, c.dom, c.month, c.dow, c.flags);
    }
}

static void t_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *want;
    } cases[] = {
        {"0 24 * * *", "field 2 (hour): 24 is out of range 0-23"},
        {"60 * * * *", "field 1 (minute): 60 is out of range 0-59"},
        {"0 0 0 * *", "field 3 (day of month): 0 is out of range 1-31"},
        {"0 0 32 * *", "field 3 (day of month): 32 is out of range 1-31"},
        {"0 0 * 13 *", "field 4 (month): 13 is out of range 1-12"},
        {"0 0 * * 8", "field 5 (day of week): 8 is out of range 0-7"},
        {"0 0 * FOO *", "field 4 (month): 'FOO' is not a month (JAN-DEC or 1-12)"},
        {"0 0 * * MONDAY", "field 5 (day of week): 'MONDAY' is not a weekday (SUN-SAT or 0-7)"},
        {"0 JAN * * *", "field 2 (hour): 'JAN' is not a number"},
        {"0 5-3 * * *", "field 2 (hour): range 5-3 runs backwards"},
        {"*/0 * * * *", "field 1 (minute): step 0 is out of range 1-59"},
        {"0 */24 * * *", "field 2 (hour): step 24 is out of range 1-23"},
        {"5/15 * * * *", "field 1 (minute): a step needs '*' or a range: write 5-59/..."},
        {"*/x * * * *", "field 1 (minute): a step must be a number"},
        {"1,,2 * * * *", "field 1 (minute): empty item in list"},
        {"1, * * * *", "field 1 (minute): empty item in list"},
        {"5x * * * *", "field 1 (minute): unexpected 'x' in '5x'"},
        {"0 0 1- * *", "field 3 (day of month): a value is missing"},
        {"0 0 * * -1", "field 5 (day of week): unexpected '-'"},
        {"99999999999 * * * *", "field 1 (minute): 99999999999 is out of range 0-59"},
        {"* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
        {"* * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"},
        {"", "expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
        {"@reboot", "unknown shortcut '@reboot' (use @yearly, @annually, @monthly, @weekly, "
                    "@daily, @midnight or @hourly)"},
        {"@daily x", "@daily stands alone: it takes no fields after it"},
        {"0 0 30 2 *", "field 3 (day of month): none of the selected days exists in the selected "
                       "months, so the schedule would never fire"},
        {"0 0 31 4,6,9,11 *", "field 3 (day of month): none of the selected days exists in the "
                              "selected months, so the schedule would never fire"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cron_t c;
        memset(&c, 0xa5, sizeof c);
        cron_t before = c;
        char err[256] = "";
        errno = 0;
        if (cron_parse(cases[i].expr, &c, err, sizeof err) != -1)
            fail_msg("'%s' parsed, want error '%s'", cases[i].expr, cases[i].want);
        assert_int_equal(errno, EINVAL);
        if (strcmp(err, cases[i].want) != 0)
            fail_msg("'%s': error '%s', want '%s'", cases[i].expr, err, cases[i].want);
        assert_memory_equal(&c, &before, sizeof c); /* no side effect on failure */
    }
    cron_t c;
    errno = 0;
    assert_int_equal(cron_parse(NULL, &c, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);
    /* truncated error buffers stay terminated */
    char small[8];
    assert_int_equal(cron_parse("0 24 * * *", &c, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1);
}

/* ---- next fire, UTC -------------------------------------------------- */

static void t_next_basic(void **state)
{
    (void)state;
    /* strictly after: a due time equal to 'after' is not returned */
    SEQ("0 3 * * *", "UTC", "2026-01-01T03:00:00+00:00", "2026-01-02T03:00:00+00:00");
    SEQ("0 3 * * *", "UTC", "2026-01-01T02:59:59+00:00", "2026-01-01T03:00:00+00:00",
        "2026-01-02T03:00:00+00:00");
    /* lists, ranges, steps */
    SEQ("15,45 9-10 * * *", "UTC", "2026-05-05T09:20:00+00:00", "2026-05-05T09:45:00+00:00",
        "2026-05-05T10:15:00+00:00", "2026-05-05T10:45:00+00:00", "2026-05-06T09:15:00+00:00");
    SEQ("*/20 * * * *", "UTC", "2026-12-31T23:30:00+00:00", "2026-12-31T23:40:00+00:00",
        "2027-01-01T00:00:00+00:00", "2027-01-01T00:20:00+00:00");
    SEQ("0 8-20/6 * * *", "UTC", "2026-05-05T09:00:00+00:00", "2026-05-05T14:00:00+00:00",
        "2026-05-05T20:00:00+00:00", "2026-05-06T08:00:00+00:00");
    /* names: weekdays (2026-05-08 is a Friday) and months */
    SEQ("30 6 * * MON-FRI", "UTC", "2026-05-08T07:00:00+00:00", "2026-05-11T06:30:00+00:00",
        "2026-05-12T06:30:00+00:00");
    SEQ("0 12 * * sat,SUN", "UTC", "2026-05-08T00:00:00+00:00", "2026-05-09T12:00:00+00:00",
        "2026-05-10T12:00:00+00:00", "2026-05-16T12:00:00+00:00");
    SEQ("0 0 1 jan,jul *", "UTC", "2026-02-01T00:00:00+00:00", "2026-07-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00");
    SEQ("0 0 * * 7", "UTC", "2026-05-08T00:00:00+00:00", "2026-05-10T00:00:00+00:00");
    SEQ("@weekly", "UTC", "2026-05-08T00:00:00+00:00", "2026-05-10T00:00:00+00:00",
        "2026-05-17T00:00:00+00:00");
    SEQ("@monthly", "UTC", "2026-01-31T12:00:00+00:00", "2026-02-01T00:00:00+00:00",
        "2026-03-01T00:00:00+00:00");
    SEQ("@yearly", "Etc/UTC", "2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00");
    SEQ("* * * * *", "UTC", "2026-05-05T10:00:30+00:00", "2026-05-05T10:01:00+00:00",
        "2026-05-05T10:02:00+00:00");
}

static void t_next_month_ends_leap(void **state)
{
    (void)state;
    /* the 31st skips 30-day months and February */
    SEQ("0 0 31 * *", "UTC", "2026-01-31T00:00:00+00:00", "2026-03-31T00:00:00+00:00",
        "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00",
        "2026-10-31T00:00:00+00:00", "2026-12-31T00:00:00+00:00");
    SEQ("0 0 30 * *", "UTC", "2026-01-30T00:00:00+00:00", "2026-03-30T00:00:00+00:00");
    /* Feb 29 only in leap years; 2100 is not one, 2000 was */
    SEQ("0 0 29 2 *", "UTC", "2025-01-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00");
    SEQ("0 0 29 2 *", "UTC", "2096-03-01T00:00:00+00:00", "2104-02-29T00:00:00+00:00");
    SEQ("0 0 29 2 *", "UTC", "1999-01-01T00:00:00+00:00", "2000-02-29T00:00:00+00:00");
    SEQ("0 0 28-29 2 *", "UTC", "2027-01-01T00:00:00+00:00", "2027-02-28T00:00:00+00:00",
        "2028-02-28T00:00:00+00:00", "2028-02-29T00:00:00+00:00", "2029-02-28T00:00:00+00:00");
}

static void t_next_dom_dow_rule(void **state)
{
    (void)state;
    /* both restricted: OR. 2026-06-01 is a Monday, 2026-07-01 a Wednesday */
    SEQ("0 0 1 * MON", "UTC", "2026-06-01T00:00:00+00:00", "2026-06-08T00:00:00+00:00",
        "2026-06-15T00:00:00+00:00", "2026-06-22T00:00:00+00:00", "2026-06-29T00:00:00+00:00",
        "2026-07-01T00:00:00+00:00", "2026-07-06T00:00:00+00:00");
    /* dom '*': only the weekday counts */
    SEQ("0 0 * * MON", "UTC", "2026-06-01T00:00:00+00:00", "2026-06-08T00:00:00+00:00");
    /* dom begins with '*' (Vixie): AND -> odd days that are Mondays */
    SEQ("0 0 */2 * MON", "UTC", "2026-06-01T00:00:00+00:00", "2026-06-15T00:00:00+00:00",
        "2026-06-29T00:00:00+00:00", "2026-07-13T00:00:00+00:00");
    /* Friday the 13th via AND with a '*'-stepped weekday field is not
     * expressible; OR semantics for "13 * FRI": the 13th or any Friday */
    SEQ("0 0 13 * 5", "UTC", "2026-02-10T00:00:00+00:00", "2026-02-13T00:00:00+00:00",
        "2026-02-20T00:00:00+00:00", "2026-02-27T00:00:00+00:00", "2026-03-06T00:00:00+00:00",
        "2026-03-13T00:00:00+00:00");
}

/* ---- time zones and DST ---------------------------------------------- */

static void t_dst_berlin(void **state)
{
    (void)state;
    /* spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not
     * exist and fires once at 03:00, the day after at 02:30 again */
    SEQ("30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00+01:00", "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00");
    /* fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 occurs twice,
     * fires at the first occurrence only */
    SEQ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00", "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00");
    /* ...also when asked from inside the repeated hour */
    SEQ("30 2 * * *", "Europe/Berlin", "2026-10-25T02:10:00+01:00", "2026-10-26T02:30:00+01:00");
    /* several skipped times collapse into one; 03:00 itself not doubled */
    SEQ("0,15,30,45 2,3 * * *", "Europe/Berlin", "2026-03-29T01:50:00+01:00",
        "2026-03-29T03:00:00+02:00", "2026-03-29T03:15:00+02:00");
    SEQ("*/15 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00");
    /* hourly: each real hour once, the gap hour skipped, the repeated hour
     * fired in both of its occurrences */
    SEQ("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-29T00:30:00+01:00",
        "2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00");
    SEQ("30 * * * *", "Europe/Berlin", "2026-10-25T01:00:00+02:00", "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00");
    SEQ("@hourly", "Europe/Berlin", "2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00");
    /* the daily 03:00 job is unaffected on both days */
    SEQ("0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00", "2026-03-29T03:00:00+02:00",
        "2026-03-30T03:00:00+02:00");
    SEQ("0 3 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00", "2026-10-25T03:00:00+01:00");
    /* far beyond the table in the file: the footer rule (last Sunday of
     * March 2099 is the 29th) */
    SEQ("30 2 29 3 *", "Europe/Berlin", "2099-01-01T00:00:00+01:00", "2099-03-29T03:00:00+02:00");
}

static void t_dst_new_york(void **state)
{
    (void)state;
    /* spring forward 2026-03-08 02:00 EST -> 03:00 EDT */
    SEQ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00");
    /* fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 twice, fired once */
    SEQ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00");
    SEQ("30 2 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", "2026-11-01T02:30:00-05:00",
        "2026-11-02T02:30:00-05:00");
    SEQ("30 * * * *", "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-08T00:30:00-05:00",
        "2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00");
    SEQ("30 * * * *", "America/New_York", "2026-11-01T00:00:00-04:00", "2026-11-01T00:30:00-04:00",
        "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00");
}

/* Exactly once: count due times over the whole transition day. */
static void t_dst_exactly_once(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *tz, *from, *to;
        int want;
    } cases[] = {
        {"30 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00",
         1},
        {"30 2 * * *", "Europe/Berlin", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00",
         1},
        {"30 2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00",
         1},
        {"30 1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00",
         1},
        {"30 2 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00",
         1},
        /* hourly: the 23-hour day has 23 firings, the 25-hour day 25 */
        {"30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00",
         23},
        {"30 * * * *", "Europe/Berlin", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00",
         25},
        {"30 * * * *", "America/New_York", "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00",
         23},
        {"30 * * * *", "America/New_York", "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00",
         25},
        /* every minute of hour 2: collapses to one on spring day, 60 in fall */
        {"* 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 1},
        {"* 2 * * *", "Europe/Berlin", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00",
         60},
        /* every minute: real minutes (23 h and 25 h) */
        {"* * * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00",
         23 * 60},
        {"* * * * *", "Europe/Berlin", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00",
         25 * 60},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = s_count(cases[i].expr, cases[i].tz, cases[i].from, cases[i].to);
        if (n != cases[i].want)
            fail_msg("'%s' in %s on %s: %d due times, want %d", cases[i].expr, cases[i].tz,
                     cases[i].from, n, cases[i].want);
    }
}

static void t_half_hour_zone(void **state)
{
    (void)state;
    /* Asia/Kolkata is UTC+05:30 without DST */
    SEQ("0 3 * * *", "Asia/Kolkata", "2026-06-01T00:00:00+05:30", "2026-06-01T03:00:00+05:30",
        "2026-06-02T03:00:00+05:30");
    assert_int_equal(s_ts("2026-06-01T03:00:00+05:30"), s_ts("2026-05-31T21:30:00+00:00"));
    SEQ("0 * * * *", "Asia/Kolkata", "2026-06-01T10:10:00+05:30", "2026-06-01T11:00:00+05:30");
    /* a winter date in the southern hemisphere (DST in January) */
    SEQ("0 12 * * *", "Australia/Sydney", "2026-01-10T00:00:00+11:00", "2026-01-10T12:00:00+11:00");
}

static void t_due_between(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *tz, *from, *to;
        int want;
    } cases[] = {
        {"0 3 * * *", "Europe/Berlin", "2026-05-04T00:00:00+02:00", "2026-05-11T00:00:00+02:00", 7},
        {"0 * * * *", "UTC", "2026-05-04T00:00:00+00:00", "2026-05-11T00:00:00+00:00", 168},
        {"*/15 9-17 * * MON-FRI", "UTC", "2026-05-04T00:00:00+00:00", "2026-05-11T00:00:00+00:00",
         5 * 9 * 4},
        {"0 0 * * SUN", "UTC", "2026-05-04T00:00:00+00:00", "2026-05-11T00:00:00+00:00", 1},
        /* window bounds: from exclusive, to inclusive */
        {"0 0 * * *", "UTC", "2026-05-04T00:00:00+00:00", "2026-05-11T00:00:00+00:00", 7},
        /* week containing the Berlin spring-forward: 7 daily runs at 02:30 */
        {"30 2 * * *", "Europe/Berlin", "2026-03-26T00:00:00+01:00", "2026-04-02T00:00:00+02:00",
         7},
        {"30 * * * *", "Europe/Berlin", "2026-03-26T00:00:00+01:00", "2026-04-02T00:00:00+02:00",
         7 * 24 - 1},
        {"0 3 * * *", "UTC", "2026-05-04T00:00:00+00:00", "2026-05-04T00:00:00+00:00", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = s_count(cases[i].expr, cases[i].tz, cases[i].from, cases[i].to);
        if (n != cases[i].want)
            fail_msg("'%s' in %s %s..%s: %d due times, want %d", cases[i].expr, cases[i].tz,
                     cases[i].from, cases[i].to, n, cases[i].want);
    }
    /* paging: max bounds the result, continue from the last one */
    cron_t c = s_parse_ok("0 * * * *");
    int64_t out[10];
    size_t n = 0, total = 0;
    int64_t from = s_ts("2026-05-04T00:00:00+00:00"), to = s_ts("2026-05-05T00:00:00+00:00");
    for (;;) {
        assert_int_equal(cron_due_between(&c, "UTC", from, to, out, 10, &n), 0);
        total += n;
        if (n < 10)
            break;
        from = out[n - 1];
    }
    assert_int_equal(total, 24);
    /* unknown zone */
    errno = 0;
    assert_int_equal(cron_due_between(&c, "Mars/Olympus", 0, 86400, out, 10, &n), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(n, 0);
}

static void t_prev(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *tz, *before, *want;
    } cases[] = {
        {"0 3 * * *", "Europe/Berlin", "2026-05-05T03:00:00+02:00", "2026-05-04T03:00:00+02:00"},
        {"0 3 * * *", "Europe/Berlin", "2026-05-05T03:00:01+02:00", "2026-05-05T03:00:00+02:00"},
        {"* * * * *", "UTC", "2026-05-05T03:00:30+00:00", "2026-05-05T03:00:00+00:00"},
        {"0 0 29 2 *", "UTC", "2027-06-01T00:00:00+00:00", "2024-02-29T00:00:00+00:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-03-29T12:00:00+02:00", "2026-03-29T03:00:00+02:00"},
        {"30 2 * * *", "Europe/Berlin", "2026-10-25T12:00:00+01:00", "2026-10-25T02:30:00+02:00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cron_t c = s_parse_ok(cases[i].expr);
        int64_t p = 0;
        char err[256] = "";
        if (cron_prev(&c, cases[i].tz, s_ts(cases[i].before), &p, err, sizeof err) != 0)
            fail_msg("cron_prev('%s') failed: %s", cases[i].expr, err);
        if (p != s_ts(cases[i].want))
            fail_msg("cron_prev('%s', before %s) = %lld, want %s", cases[i].expr, cases[i].before,
                     (long long)p, cases[i].want);
    }
}

/* next/prev/due_between agree over a year with DST, hour by hour. */
static void t_consistency(void **state)
{
    (void)state;
    static const char *const exprs[] = {"30 2 * * *", "0 */2 * * *", "*/20 1-3 * * SUN",
                                        "0 0 1 * MON"};
    static const char *const zones[] = {"Europe/Berlin", "America/New_York"};
    int64_t from = s_ts("2026-01-01T00:00:00+00:00"), to = s_ts("2027-01-01T00:00:00+00:00");
    for (size_t e = 0; e < 4; e++)
        for (size_t zi = 0; zi < 2; zi++) {
            cron_t c = s_parse_ok(exprs[e]);
            static int64_t out[20000];
            size_t n = 0;
            assert_int_equal(cron_due_between(&c, zones[zi], from, to, out, 20000, &n), 0);
            assert_true(n > 0 && n < 20000);
            for (size_t i = 1; i < n; i++) {
                int64_t p = 0;
                assert_true(out[i] > out[i - 1]);
                assert_int_equal(cron_prev(&c, zones[zi], out[i], &p, NULL, 0), 0);
                if (p != out[i - 1])
                    fail_msg("'%s' %s: prev(%lld) = %lld, want %lld", exprs[e], zones[zi],
                             (long long)out[i], (long long)p, (long long)out[i - 1]);
            }
        }
}

static void t_zone_errors(void **state)
{
    (void)state;
    cron_t c = s_parse_ok("0 3 * * *");
    static const struct {
        const char *tz;
        int want_errno;
    } cases[] = {
        {"Mars/Olympus", ENOENT},   {"Europe", ENOENT}, {"../../etc/passwd", EINVAL},
        {"/etc/localtime", EINVAL}, {"", EINVAL},       {"Europe/Berlin\n", EINVAL},
        {"zone.tab", EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t nx = 4242;
        char err[256] = "";
        errno = 0;
        assert_int_equal(cron_next(&c, cases[i].tz, 0, &nx, err, sizeof err), -1);
        if (errno != cases[i].want_errno)
            fail_msg("zone '%s': errno %d (%s), want %d", cases[i].tz, errno, err,
                     cases[i].want_errno);
        assert_int_equal(nx, 4242);
        assert_true(err[0] != '\0');
    }
    char err[256];
    int64_t nx;
    assert_int_equal(cron_next(&c, "Mars/Olympus", 0, &nx, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown time zone 'Mars/Olympus'"));
    errno = 0;
    assert_int_equal(cron_next(&c, NULL, 0, &nx, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    /* out-of-range instants */
    errno = 0;
    assert_int_equal(cron_next(&c, "UTC", INT64_MAX, &nx, err, sizeof err), -1);
    assert_int_equal(errno, EINVAL);
    /* nothing after 9999 */
    cron_t y = s_parse_ok("@yearly");
    errno = 0;
    assert_int_equal(cron_next(&y, "UTC", s_ts("9999-06-01T00:00:00+00:00"), &nx, err, sizeof err),
                     -1);
    assert_int_equal(errno, ERANGE);
}

static void t_describe(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *want;
    } cases[] = {
        {"0 3 * * *", "at 03:00 every day"},
        {"30 * * * *", "at minute 30 of every hour"},
        {"*/15 9-17 * * MON-FRI", "at minutes 0,15,30,45 of hours 9-17 on MON-FRI"},
        {"0 0 1 * MON", "at 00:00 on day-of-month 1 or on MON"},
        {"0 0 29 2 *", "at 00:00 on day-of-month 29 in FEB"},
        {"* * * * *", "every minute"},
        {"0 6 * JAN,JUL SAT,SUN", "at 06:00 on SUN,SAT in JAN,JUL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cron_t c = s_parse_ok(cases[i].expr);
        char buf[256];
        cron_describe(&c, buf, sizeof buf);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("describe('%s') = '%s', want '%s'", cases[i].expr, buf, cases[i].want);
    }
    cron_t c = s_parse_ok("*/15 9-17 * * MON-FRI");
    char tiny[6];
    cron_describe(&c, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_parse_forms),
        cmocka_unit_test(t_parse_errors),
        cmocka_unit_test(t_next_basic),
        cmocka_unit_test(t_next_month_ends_leap),
        cmocka_unit_test(t_next_dom_dow_rule),
        cmocka_unit_test(t_dst_berlin),
        cmocka_unit_test(t_dst_new_york),
        cmocka_unit_test(t_dst_exactly_once),
        cmocka_unit_test(t_half_hour_zone),
        cmocka_unit_test(t_due_between),
        cmocka_unit_test(t_prev),
        cmocka_unit_test(t_consistency),
        cmocka_unit_test(t_zone_errors),
        cmocka_unit_test(t_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
