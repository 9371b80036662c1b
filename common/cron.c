/* cron — see cron.h for the syntax and the DST contract.
 *
 * Design. Three layers, each pure:
 *  1. Parsing turns each field into a bit set plus the Vixie "began with
 *     '*'" flags (day rule, DST mode).
 *  2. Zones: s_zone_load reads a TZif file (RFC 8536) itself instead of
 *     going through setenv("TZ")/tzset()/mktime, which would mutate process
 *     state and is not thread-safe. Version 2+ files are read through their
 *     64-bit section; times after the last stored transition follow the
 *     POSIX TZ rule in the footer ("CET-1CEST,M3.5.0,M10.5.0/3"). A zone
 *     is then a sequence of segments [Ts, Te) of constant UTC offset.
 *  3. Search: inside one segment local time is UTC + a constant, so the
 *     next due time there is a plain calendar search on naive wall-clock
 *     seconds (s_naive_next) mapped back by subtracting the offset. The
 *     DST rules live only in s_next, at the segment boundaries:
 *       - forward jump at Ts (offset p -> o, o > p): wall times
 *         [Ts+p, Ts+o) never appear; a fixed-hour schedule matching one of
 *         them fires once at Ts, hour-periodic ones skip them;
 *       - backward jump (o < p): wall times [Ts+o, Ts+p) appear a second
 *         time; a fixed-hour schedule ignores them in the new segment
 *         (already fired in the old), hour-periodic ones fire again.
 *     Since every due time is the first candidate of some segment, and
 *     candidates within a segment are increasing, the result is the
 *     minimum over a well-defined set; cron_prev and cron_due_between are
 *     built on cron_next alone, so all three agree by construction.
 *
 * Invariants: all instants are int64 seconds; wall-clock ("naive") seconds
 * are instants + offset; searches are bounded (400 years, year 9999) so a
 * schedule that cannot fire returns ERANGE instead of looping.
 */
#include "cron.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_DAY      86400
#define S_MIN_T    (-2208988800LL)       /* 1900-01-01T00:00:00Z */
#define S_MAX_T    (253402300799LL)      /* 9999-12-31T23:59:59Z */
#define S_HORIZON  (401LL * 366 * S_DAY) /* search bound past 'after' */
#define S_TZIF_MAX (1 << 20)

/* ---- calendar arithmetic (proleptic Gregorian, H. Hinnant's algorithms) */

static int64_t s_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = s_floordiv(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void s_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = s_floordiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int s_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int s_mdays(int64_t y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && s_is_leap(y) ? 29 : n[m - 1];
}

/* 0 = Sunday; 1970-01-01 was a Thursday. */
static int s_weekday(int64_t days)
{
    return (int)(days - s_floordiv(days + 4, 7) * 7 + 4);
}

/* ---- parsing --------------------------------------------------------- */

static const struct {
    const char *name;
    int min, max;
} s_fields[5] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day of month", 1, 31},
    {"month", 1, 12},  {"day of week", 0, 7},
};

static const char *const s_months[12] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                         "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const s_wdays[7] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* Reads a number or (month/weekday fields) a 3-letter name at *pp.
 * Returns 0 and advances *pp, or -1 with the message in msg. */
static int s_parse_value(const char **pp, const char *end, int fi, int *v, char *msg, size_t msglen)
{
    const char *p = *pp;
    if (p < end && isdigit((unsigned char)*p)) {
        long n = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (n < 1000000) /* saturate: anything this big is out of range anyway */
                n = n * 10 + (*p - '0');
            p++;
        }
        if (n < s_fields[fi].min || n > s_fields[fi].max) {
            snprintf(msg, msglen, "%.*s is out of range %d-%d", (int)(p - *pp), *pp,
                     s_fields[fi].min, s_fields[fi].max);
            return -1;
        }
        *v = (int)n;
        *pp = p;
        return 0;
    }
    const char *s = p;
    while (p < end && isalpha((unsigned char)*p))
        p++;
    int n = (int)(p - s);
    if (n == 0) {
        if (s < end)
            snprintf(msg, msglen, "unexpected '%c'", *s);
        else
            snprintf(msg, msglen, "a value is missing");
        return -1;
    }
    if (fi == 3 || fi == 4) {
        const char *const *names = fi == 3 ? s_months : s_wdays;
        int count = fi == 3 ? 12 : 7;
        for (int i = 0; n == 3 && i < count; i++)
            if (strncasecmp(s, names[i], 3) == 0) {
                *v = fi == 3 ? i + 1 : i;
                *pp = p;
                return 0;
            }
        snprintf(msg, msglen, "'%.*s' is not a %s (%s)", n, s, fi == 3 ? "month" : "weekday",
                 fi == 3 ? "JAN-DEC or 1-12" : "SUN-SAT or 0-7");
        return -1;
    }
    snprintf(msg, msglen, "'%.*s' is not a number", n, s);
    return -1;
}

/* Parses one field (text [s, end)) into *bits. */
static int s_parse_field(const char *s, const char *end, int fi, uint64_t *bits, char *msg,
                         size_t msglen)
{
    const int min = s_fields[fi].min, max = s_fields[fi].max;
    uint64_t set = 0;
    const char *item = s;
    for (;;) {
        const char *ie = item;
        while (ie < end && *ie != ',')
            ie++;
        if (ie == item) {
            snprintf(msg, msglen, "empty item in list");
            return -1;
        }
        const char *p = item;
        int a, b, step = 1, ranged = 0;
        if (*p == '*') {
            a = min;
            b = fi == 4 ? 6 : max; /* 7 is only an alias of Sunday */
            ranged = 1;
            p++;
        } else {
            if (s_parse_value(&p, ie, fi, &a, msg, msglen) < 0)
                return -1;
            b = a;
            if (p < ie && *p == '-') {
                p++;
                if (s_parse_value(&p, ie, fi, &b, msg, msglen) < 0)
                    return -1;
                ranged = 1;
                /* "FRI-SUN": a weekday range may end on Sunday written as 0 */
                if (fi == 4 && b == 0 && a > 0)
                    b = 7;
                if (a > b) {
                    snprintf(msg, msglen, "range %.*s runs backwards", (int)(p - item), item);
                    return -1;
                }
            }
        }
        if (p < ie && *p == '/') {
            p++;
            if (!ranged) {
                snprintf(msg, msglen, "a step needs '*' or a range: write %d-%d/...", a, max);
                return -1;
            }
            if (p == ie || !isdigit((unsigned char)*p)) {
                snprintf(msg, msglen, "a step must be a number");
                return -1;
            }
            long n = 0;
            const char *ds = p;
            while (p < ie && isdigit((unsigned char)*p)) {
                if (n < 1000000)
                    n = n * 10 + (*p - '0');
                p++;
            }
            if (n < 1 || n > max) {
                snprintf(msg, msglen, "step %.*s is out of range 1-%d", (int)(p - ds), ds, max);
                return -1;
            }
            step = (int)n;
        }
        if (p != ie) {
            snprintf(msg, msglen, "unexpected '%c' in '%.*s'", *p, (int)(ie - item), item);
            return -1;
        }
        for (int v = a; v <= b; v += step)
            set |= 1ULL << (fi == 4 && v == 7 ? 0 : v);
        if (ie == end)
            break;
        item = ie + 1;
        if (item == end) {
            snprintf(msg, msglen, "empty item in list");
            return -1;
        }
    }
    *bits = set;
    return 0;
}

static const struct {
    const char *name, *expr;
} s_shortcuts[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int cron_parse(const char *expr, cron_t *out, char *err, size_t errlen)
{
    if (!expr || !out) {
        util_errf(err, errlen, "no cron expression");
        errno = EINVAL;
        return -1;
    }
    const char *p = expr;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '@') {
        const char *e = p;
        while (*e && !isspace((unsigned char)*e))
            e++;
        const char *rest = e;
        while (isspace((unsigned char)*rest))
            rest++;
        for (size_t i = 0; i < sizeof s_shortcuts / sizeof s_shortcuts[0]; i++)
            if (strlen(s_shortcuts[i].name) == (size_t)(e - p) &&
                strncasecmp(p, s_shortcuts[i].name, (size_t)(e - p)) == 0) {
                if (*rest == '\0')
                    return cron_parse(s_shortcuts[i].expr, out, err, errlen);
                util_errf(err, errlen, "%s stands alone: it takes no fields after it",
                          s_shortcuts[i].name);
                errno = EINVAL;
                return -1;
            }
        util_errf(err, errlen,
                  "unknown shortcut '%.*s' (use @yearly, @annually, @monthly, @weekly, @daily, "
                  "@midnight or @hourly)",
                  (int)(e - p), p);
        errno = EINVAL;
        return -1;
    }

    const char *fs[6], *fe[6];
    int nf = 0;
    while (*p) {
        const char *s = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (nf < 6) {
            fs[nf] = s;
            fe[nf] = p;
        }
        nf++;
        while (isspace((unsigned char)*p))
            p++;
    }
    if (nf != 5) {
        util_errf(err, errlen,
                  "expected 5 fields (minute hour day-of-month month day-of-week), got %d", nf);
        errno = EINVAL;
        return -1;
    }

    cron_t c = {0};
    uint64_t bits[5];
    for (int i = 0; i < 5; i++) {
        char msg[160];
        if (s_parse_field(fs[i], fe[i], i, &bits[i], msg, sizeof msg) < 0) {
            util_errf(err, errlen, "field %d (%s): %s", i + 1, s_fields[i].name, msg);
            errno = EINVAL;
            return -1;
        }
    }
    c.minute = bits[0];
    c.hour = (uint32_t)bits[1];
    c.dom = (uint32_t)bits[2];
    c.month = (uint16_t)bits[3];
    c.dow = (uint8_t)bits[4];
    if (*fs[1] == '*')
        c.flags |= CRON_F_HOUR_STAR;
    if (*fs[2] == '*')
        c.flags |= CRON_F_DOM_STAR;
    if (*fs[4] == '*')
        c.flags |= CRON_F_DOW_STAR;

    /* With the AND rule a day must exist in a selected month (Feb 29 counts:
     * it recurs). Every date falls on every weekday eventually, so the
     * weekday never makes a schedule impossible. */
    if (c.flags & (CRON_F_DOM_STAR | CRON_F_DOW_STAR)) {
        int possible = 0;
        for (int m = 1; m <= 12 && !possible; m++)
            if (c.month & (1u << m))
                for (int d = 1; d <= s_mdays(2000, m) && !possible; d++)
                    possible = (c.dom >> d) & 1;
        if (!possible) {
            util_errf(err, errlen,
                      "field 3 (day of month): none of the selected days exists in the selected "
                      "months, so the schedule would never fire");
            errno = EINVAL;
            return -1;
        }
    }
    *out = c;
    return 0;
}

/* ---- matching on naive wall-clock seconds ---------------------------- */

static int s_day_matches(const cron_t *c, int d, int64_t days)
{
    int dom = (c->dom >> d) & 1;
    int dow = (c->dow >> s_weekday(days)) & 1;
    if (c->flags & (CRON_F_DOM_STAR | CRON_F_DOW_STAR))
        return dom && dow;
    return dom || dow; /* Vixie: both restricted -> either */
}

/* Lowest set bit >= from in mask (bits 0..63), or -1. */
static int s_next_bit(uint64_t mask, int from)
{
    if (from > 63)
        return -1;
    mask &= ~0ULL << from;
    return mask ? __builtin_ctzll(mask) : -1;
}

/* First matching wall time (multiple of 60) in [lo, hi). Returns 1 and sets
 * *out, or 0 if none. Cost grows with the number of days scanned, which the
 * callers bound (a segment, or the horizon). */
static int s_naive_next(const cron_t *c, int64_t lo, int64_t hi, int64_t *out)
{
    lo = s_floordiv(lo + 59, 60) * 60;
    if (lo >= hi)
        return 0;
    int64_t days = s_floordiv(lo, S_DAY);
    int64_t sod = lo - days * S_DAY;
    int64_t y;
    int m, d;
    s_civil_from_days(days, &y, &m, &d);
    int H = (int)(sod / 3600), M = (int)(sod % 3600 / 60);
    for (;;) {
        int64_t wall = days * S_DAY + H * 3600 + M * 60;
        if (wall >= hi)
            return 0;
        if (!((c->month >> m) & 1)) {
            if (++m > 12) {
                m = 1;
                y++;
            }
            d = 1;
            days = s_days_from_civil(y, m, 1);
            H = M = 0;
            continue;
        }
        if (!s_day_matches(c, d, days)) {
            s_civil_from_days(++days, &y, &m, &d);
            H = M = 0;
            continue;
        }
        int h = s_next_bit(c->hour, H);
        if (h < 0) {
            s_civil_from_days(++days, &y, &m, &d);
            H = M = 0;
            continue;
        }
        if (h != H) {
            H = h;
            M = 0;
            continue;
        }
        int mi = s_next_bit(c->minute, M);
        if (mi < 0) {
            M = 0;
            if (++H == 24) {
                s_civil_from_days(++days, &y, &m, &d);
                H = 0;
            }
            continue;
        }
        if (mi != M) {
            M = mi;
            continue;
        }
        *out = wall;
        return 1;
    }
}

/* ---- time zones ------------------------------------------------------ */

typedef struct {
    char kind; /* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' (month.week.day) */
    int n, m, w, d;
    int32_t time; /* seconds after local midnight, may be < 0 or > 24h */
} s_rdate_t;

typedef struct {
    int32_t std_off, dst_off; /* UTC offsets, seconds east */
    int has_dst;
    s_rdate_t start, end;
} s_rule_t;

typedef struct {
    int64_t *trans; /* ascending transition instants */
    uint8_t *idx;   /* type index per transition */
    size_t ntrans;
    int32_t *utoff; /* per type */
    size_t ntypes;
    int has_rule; /* footer rule governs times >= last transition */
    s_rule_t rule;
} s_zone_t;

static void s_zone_free(s_zone_t *z)
{
    free(z->trans);
    free(z->idx);
    free(z->utoff);
    memset(z, 0, sizeof *z);
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536 extension for rule times). */
static int s_posix_hms(const char **pp, int32_t *secs)
{
    const char *p = *pp;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return -1;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*p != ':')
                break;
            p++;
        }
        if (!isdigit((unsigned char)*p))
            return -1;
        int n = 0, digits = 0;
        while (isdigit((unsigned char)*p) && digits < 3) {
            n = n * 10 + (*p++ - '0');
            digits++;
        }
        v[i] = n;
    }
    if (v[0] > 167 || v[1] > 59 || v[2] > 59)
        return -1;
    *secs = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    *pp = p;
    return 0;
}

static int s_posix_name(const char **pp)
{
    const char *p = *pp;
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        if (*p != '>')
            return -1;
        *pp = p + 1;
        return 0;
    }
    const char *s = p;
    while (isalpha((unsigned char)*p))
        p++;
    if (p - s < 3)
        return -1;
    *pp = p;
    return 0;
}

static int s_posix_num(const char **pp, int lo, int hi, int *v)
{
    const char *p = *pp;
    if (!isdigit((unsigned char)*p))
        return -1;
    int n = 0;
    while (isdigit((unsigned char)*p) && n <= hi)
        n = n * 10 + (*p++ - '0');
    if (n < lo || n > hi)
        return -1;
    *v = n;
    *pp = p;
    return 0;
}

static int s_posix_date(const char **pp, s_rdate_t *r)
{
    const char *p = *pp;
    memset(r, 0, sizeof *r);
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (s_posix_num(&p, 1, 365, &r->n) < 0)
            return -1;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (s_posix_num(&p, 1, 12, &r->m) < 0 || *p++ != '.' || s_posix_num(&p, 1, 5, &r->w) < 0 ||
            *p++ != '.' || s_posix_num(&p, 0, 6, &r->d) < 0)
            return -1;
    } else {
        r->kind = 'N';
        if (s_posix_num(&p, 0, 365, &r->n) < 0)
            return -1;
    }
    r->time = 7200;
    if (*p == '/') {
        p++;
        if (s_posix_hms(&p, &r->time) < 0)
            return -1;
    }
    *pp = p;
    return 0;
}

/* Parses a POSIX TZ string as found in TZif footers. */
static int s_posix_parse(const char *s, s_rule_t *r)
{
    const char *p = s;
    int32_t off;
    memset(r, 0, sizeof *r);
    if (s_posix_name(&p) < 0 || s_posix_hms(&p, &off) < 0)
        return -1;
    r->std_off = -off; /* POSIX offsets count west */
    r->dst_off = r->std_off;
    if (*p == '\0')
        return 0;
    if (s_posix_name(&p) < 0)
        return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (s_posix_hms(&p, &off) < 0)
            return -1;
        r->dst_off = -off;
    }
    if (*p == '\0') { /* no rule given: the POSIX default, US rules */
        r->start = (s_rdate_t){'M', 0, 3, 2, 0, 7200};
        r->end = (s_rdate_t){'M', 0, 11, 1, 0, 7200};
        return 0;
    }
    if (*p++ != ',' || s_posix_date(&p, &r->start) < 0 || *p++ != ',' ||
        s_posix_date(&p, &r->end) < 0 || *p != '\0')
        return -1;
    return 0;
}

/* The instant a rule date happens in year y, given the offset in force
 * just before it. */
static int64_t s_rdate_instant(const s_rdate_t *r, int64_t y, int32_t off_before)
{
    int64_t days;
    if (r->kind == 'J')
        days = s_days_from_civil(y, 1, 1) + r->n - 1 + (s_is_leap(y) && r->n >= 60);
    else if (r->kind == 'N')
        days = s_days_from_civil(y, 1, 1) + r->n;
    else {
        int64_t first = s_days_from_civil(y, r->m, 1);
        int day = 1 + (r->d - s_weekday(first) + 7) % 7 + (r->w - 1) * 7;
        while (day > s_mdays(y, r->m))
            day -= 7;
        days = first + day - 1;
    }
    return days * S_DAY + r->time - off_before;
}

typedef struct {
    int64_t t;
    int32_t off;
} s_event_t;

/* The rule's transitions in years y0..y0+n-1 (2 per year), ascending; on
 * equal instants the change to standard time sorts first so a zone in DST
 * all year ("EST5EDT,0/0,J365/25") ends up in DST. */
static size_t s_rule_events(const s_rule_t *r, int64_t y0, int n, s_event_t *ev)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        ev[k++] = (s_event_t){s_rdate_instant(&r->end, y0 + i, r->dst_off), r->std_off};
        ev[k++] = (s_event_t){s_rdate_instant(&r->start, y0 + i, r->std_off), r->dst_off};
    }
    for (size_t i = 1; i < k; i++) /* insertion sort, stable */
        for (size_t j = i; j > 0 && ev[j].t < ev[j - 1].t; j--) {
            s_event_t tmp = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = tmp;
        }
    return k;
}

static int64_t s_year_of(int64_t t)
{
    int64_t y;
    int m, d;
    s_civil_from_days(s_floordiv(t, S_DAY), &y, &m, &d);
    return y;
}

static int32_t s_rule_offset(const s_rule_t *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    s_event_t ev[6];
    size_t k = s_rule_events(r, s_year_of(t) - 1, 3, ev);
    int32_t off = ev[0].off; /* year y-1's first event is always <= t */
    for (size_t i = 0; i < k && ev[i].t <= t; i++)
        off = ev[i].off;
    return off;
}

static int32_t s_zone_offset(const s_zone_t *z, int64_t t)
{
    if (z->ntrans == 0)
        return z->has_rule ? s_rule_offset(&z->rule, t) : z->utoff[0];
    if (t < z->trans[0])
        return z->utoff[0];
    if (t >= z->trans[z->ntrans - 1])
        return z->has_rule ? s_rule_offset(&z->rule, t) : z->utoff[z->idx[z->ntrans - 1]];
    size_t lo = 0, hi = z->ntrans - 1; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->utoff[z->idx[lo]];
}

/* Smallest transition instant > t, or INT64_MAX. */
static int64_t s_zone_next_trans(const s_zone_t *z, int64_t t)
{
    if (z->ntrans > 0 && t < z->trans[z->ntrans - 1]) {
        size_t lo = 0, hi = z->ntrans - 1; /* answer in [lo, hi] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->trans[mid] > t)
                hi = mid;
            else
                lo = mid + 1;
        }
        return z->trans[lo];
    }
    if (!z->has_rule || !z->rule.has_dst)
        return INT64_MAX;
    s_event_t ev[8];
    size_t k = s_rule_events(&z->rule, s_year_of(t) - 1, 4, ev);
    for (size_t i = 0; i < k; i++)
        if (ev[i].t > t)
            return ev[i].t;
    return INT64_MAX;
}

/* Largest transition instant <= t, or INT64_MIN. */
static int64_t s_zone_prev_trans(const s_zone_t *z, int64_t t)
{
    int64_t best = INT64_MIN;
    if (z->ntrans > 0 && t >= z->trans[0]) {
        size_t lo = 0, hi = z->ntrans; /* trans[lo] <= t, answer in [lo, hi) */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->trans[mid] <= t)
                lo = mid;
            else
                hi = mid;
        }
        best = z->trans[lo];
        if (lo + 1 < z->ntrans)
            return best;
    } else if (z->ntrans > 0) {
        return INT64_MIN;
    }
    /* past the table: rule transitions count only after its last entry */
    if (z->has_rule && z->rule.has_dst) {
        s_event_t ev[6];
        size_t k = s_rule_events(&z->rule, s_year_of(t) - 1, 3, ev);
        for (size_t i = 0; i < k; i++)
            if (ev[i].t <= t && ev[i].t > best)
                best = ev[i].t;
    }
    return best;
}

static uint64_t s_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Parses TZif data (RFC 8536) into *z. Returns 0 or -1 (malformed). */
static int s_tzif_parse(const unsigned char *b, size_t len, s_zone_t *z)
{
    if (len < 44 || memcmp(b, "TZif", 4) != 0)
        return -1;
    size_t pos = 0;
    int tsize = 4;
    for (int pass = 0; pass < 2; pass++) {
        if (len - pos < 44 || memcmp(b + pos, "TZif", 4) != 0)
            return -1;
        char version = (char)b[pos + 4];
        uint64_t isut = s_be(b + pos + 20, 4), isstd = s_be(b + pos + 24, 4),
                 leap = s_be(b + pos + 28, 4), timecnt = s_be(b + pos + 32, 4),
                 typecnt = s_be(b + pos + 36, 4), charcnt = s_be(b + pos + 40, 4);
        if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || leap > 100000 ||
            charcnt > 100000 || isut > 256 || isstd > 256)
            return -1;
        uint64_t body = timecnt * (uint64_t)tsize + timecnt + typecnt * 6 + charcnt +
                        leap * (uint64_t)(tsize + 4) + isstd + isut;
        pos += 44;
        if (body > len - pos)
            return -1;
        if (pass == 0 && version >= '2') { /* skip the 32-bit section */
            pos += body;
            tsize = 8;
            continue;
        }
        const unsigned char *tp = b + pos, *ip = tp + timecnt * tsize, *yp = ip + timecnt;
        z->trans = malloc((timecnt ? timecnt : 1) * sizeof *z->trans);
        z->idx = malloc(timecnt ? timecnt : 1);
        z->utoff = malloc(typecnt * sizeof *z->utoff);
        if (!z->trans || !z->idx || !z->utoff) {
            errno = ENOMEM;
            return -1;
        }
        z->ntrans = timecnt;
        z->ntypes = typecnt;
        for (size_t i = 0; i < timecnt; i++) {
            uint64_t raw = s_be(tp + i * tsize, tsize);
            z->trans[i] = tsize == 8 ? (int64_t)raw : (int64_t)(int32_t)(uint32_t)raw;
            z->idx[i] = ip[i];
            if (z->idx[i] >= typecnt || (i > 0 && z->trans[i] <= z->trans[i - 1]))
                return -1;
        }
        for (size_t i = 0; i < typecnt; i++) {
            int32_t off = (int32_t)(uint32_t)s_be(yp + i * 6, 4);
            if (off < -25 * 3600 || off > 26 * 3600)
                return -1;
            z->utoff[i] = off;
        }
        pos += body;
        if (tsize == 8 && pos < len && b[pos] == '\n') { /* footer: \n TZ \n */
            const unsigned char *s = b + pos + 1, *e = memchr(s, '\n', len - pos - 1);
            if (!e)
                return -1;
            if (e > s) {
                char tzs[128];
                if ((size_t)(e - s) >= sizeof tzs)
                    return -1;
                memcpy(tzs, s, (size_t)(e - s));
                tzs[e - s] = '\0';
                if (s_posix_parse(tzs, &z->rule) < 0)
                    return -1;
                z->has_rule = 1;
            }
        }
        return 0;
    }
    return -1;
}

/* A name as found under /usr/share/zoneinfo, nothing that could escape it. */
static int s_tz_name_ok(const char *tz)
{
    size_t n = strlen(tz);
    if (n == 0 || n > 200 || tz[0] == '/' || tz[0] == '.')
        return 0;
    for (const char *p = tz; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("/_+-.", *p))
            return 0;
        if (*p == '.' && p[1] == '.')
            return 0;
    }
    return 1;
}

static int s_zone_load(const char *tz, s_zone_t *z, char *err, size_t errlen)
{
    memset(z, 0, sizeof *z);
    if (!tz || !s_tz_name_ok(tz)) {
        util_errf(err, errlen, "invalid time zone name '%s' (want an IANA name like Europe/Berlin)",
                  tz ? tz : "(null)");
        errno = EINVAL;
        return -1;
    }
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, tz);
    unsigned char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && (strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0)) {
            /* UTC needs no data: keep it working where tzdata is missing */
            z->utoff = calloc(1, sizeof *z->utoff);
            if (!z->utoff) {
                errno = ENOMEM;
                return -1;
            }
            z->ntypes = 1;
            return 0;
        }
        if (e == ENOENT || e == ENOTDIR)
            util_errf(err, errlen,
                      "unknown time zone '%s' (no %s; is the tzdata package installed?)", tz, path);
        else
            util_errf(err, errlen, "time zone '%s': %s: %s", tz, path, strerror(e));
        errno = e == ENOTDIR ? ENOENT : e;
        return -1;
    }
    struct stat st;
    int rc = -1, e = EINVAL;
    if (fstat(fd, &st) < 0) {
        e = errno;
        util_errf(err, errlen, "time zone '%s': %s: %s", tz, path, strerror(e));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 44 || st.st_size > S_TZIF_MAX) {
        util_errf(err, errlen, "unknown time zone '%s' (%s is not a TZif file)", tz, path);
        e = S_ISDIR(st.st_mode) ? ENOENT : EINVAL;
        goto out;
    }
    buf = malloc((size_t)st.st_size);
    if (!buf) {
        e = ENOMEM;
        util_errf(err, errlen, "time zone '%s': out of memory", tz);
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            e = r < 0 ? errno : EINVAL;
            util_errf(err, errlen, "time zone '%s': reading %s: %s", tz, path,
                      r < 0 ? strerror(e) : "short read");
            goto out;
        }
        got += (size_t)r;
    }
    errno = 0;
    if (s_tzif_parse(buf, got, z) < 0) {
        e = errno == ENOMEM ? ENOMEM : EINVAL;
        util_errf(err, errlen, "time zone '%s': %s is not a valid TZif file", tz, path);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    close(fd);
    if (rc < 0) {
        s_zone_free(z);
        errno = e;
    }
    return rc;
}

/* ---- search ---------------------------------------------------------- */

/* See the file header: walk the zone's constant-offset segments from
 * after+1, applying the gap/overlap rules at each segment start. */
static int s_next(const cron_t *c, const s_zone_t *z, int64_t after, int64_t *next, char *err,
                  size_t errlen)
{
    if (after < S_MIN_T || after > S_MAX_T) {
        util_errf(err, errlen, "time %lld is outside the years 1900-9999", (long long)after);
        errno = EINVAL;
        return -1;
    }
    const int periodic = (c->flags & CRON_F_HOUR_STAR) != 0;
    int64_t horizon = after + S_HORIZON;
    if (horizon > S_MAX_T)
        horizon = S_MAX_T;
    int64_t t = after + 1;
    while (t <= horizon) {
        int32_t o = s_zone_offset(z, t);
        int64_t ts = s_zone_prev_trans(z, t), te = s_zone_next_trans(z, t);
        int32_t p = ts == INT64_MIN ? o : s_zone_offset(z, ts - 1);
        int64_t wall;
        if (!periodic && ts > after && o > p && s_naive_next(c, ts + p, ts + o, &wall)) {
            *next = ts; /* skipped wall time: first instant after the gap */
            return 0;
        }
        int64_t lo = t + o;
        if (!periodic && ts != INT64_MIN && p > o && ts + p > lo)
            lo = ts + p; /* repeated wall times already had their turn */
        int64_t hi = (te == INT64_MAX || te > horizon) ? horizon + o + 1 : te + o;
        if (s_naive_next(c, lo, hi, &wall) && wall - o <= horizon) {
            *next = wall - o;
            return 0;
        }
        if (te == INT64_MAX)
            break;
        t = te;
    }
    util_errf(err, errlen, "no due time within 400 years (or before the year 10000)");
    errno = ERANGE;
    return -1;
}

int cron_next(const cron_t *c, const char *tz, int64_t after_unix, int64_t *next_unix, char *err,
              size_t errlen)
{
    s_zone_t z;
    if (!c || !next_unix) {
        util_errf(err, errlen, "cron_next: missing argument");
        errno = EINVAL;
        return -1;
    }
    if (s_zone_load(tz, &z, err, errlen) < 0)
        return -1;
    int rc = s_next(c, &z, after_unix, next_unix, err, errlen);
    int e = errno;
    s_zone_free(&z);
    errno = e;
    return rc;
}

int cron_prev(const cron_t *c, const char *tz, int64_t before_unix, int64_t *prev_unix, char *err,
              size_t errlen)
{
    /* Widening windows, enumerated forward with s_next: the answer is the
     * last due time in (before - w, before). Small windows first keep the
     * enumeration short for frequent schedules. */
    static const int64_t windows[] = {
        3600, S_DAY, 32LL * S_DAY, 400LL * S_DAY, 8LL * 366 * S_DAY, 401LL * 366 * S_DAY};
    s_zone_t z;
    if (!c || !prev_unix) {
        util_errf(err, errlen, "cron_prev: missing argument");
        errno = EINVAL;
        return -1;
    }
    if (before_unix - 1 < S_MIN_T || before_unix - 1 > S_MAX_T) {
        util_errf(err, errlen, "time %lld is outside the years 1900-9999", (long long)before_unix);
        errno = EINVAL;
        return -1;
    }
    if (s_zone_load(tz, &z, err, errlen) < 0)
        return -1;
    int rc = -1, e = ERANGE;
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        int64_t from = before_unix - windows[i];
        if (from < S_MIN_T)
            from = S_MIN_T;
        int64_t cur = from, found = 0, last = 0;
        for (;;) {
            int64_t nx;
            if (s_next(c, &z, cur, &nx, NULL, 0) < 0 || nx >= before_unix)
                break;
            last = nx;
            found = 1;
            cur = nx;
        }
        if (found) {
            *prev_unix = last;
            rc = 0;
            break;
        }
        if (from == S_MIN_T)
            break;
    }
    s_zone_free(&z);
    if (rc < 0) {
        util_errf(err, errlen, "no due time within 400 years before %lld", (long long)before_unix);
        errno = e;
    }
    return rc;
}

int cron_due_between(const cron_t *c, const char *tz, int64_t from_exclusive, int64_t to_inclusive,
                     int64_t *out, size_t max, size_t *n)
{
    s_zone_t z;
    if (!c || !n || (max > 0 && !out)) {
        errno = EINVAL;
        return -1;
    }
    *n = 0;
    if (from_exclusive >= to_inclusive || max == 0)
        return 0;
    if (s_zone_load(tz, &z, NULL, 0) < 0)
        return -1;
    int rc = 0;
    int64_t cur = from_exclusive;
    size_t k = 0;
    while (k < max) {
        int64_t nx;
        if (s_next(c, &z, cur, &nx, NULL, 0) < 0) {
            if (errno != ERANGE) /* no more due times at all is not an error */
                rc = -1;
            break;
        }
        if (nx > to_inclusive)
            break;
        out[k++] = nx;
        cur = nx;
    }
    int e = errno;
    s_zone_free(&z);
    if (rc < 0) {
        errno = e;
        return -1;
    }
    *n = k;
    return 0;
}

int cron_format_local(const char *tz, int64_t t, char *buf, size_t len, char *err, size_t errlen)
{
    s_zone_t z;
    if (!buf || len == 0) {
        errno = EINVAL;
        return -1;
    }
    if (s_zone_load(tz, &z, err, errlen) < 0)
        return -1;
    int32_t off = s_zone_offset(&z, t);
    s_zone_free(&z);
    int64_t wall = t + off, days = s_floordiv(wall, S_DAY), sod = wall - days * S_DAY, y;
    int m, d;
    s_civil_from_days(days, &y, &m, &d);
    int a = off < 0 ? -off : off;
    snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (long long)y, m, d,
             (int)(sod / 3600), (int)(sod % 3600 / 60), (int)(sod % 60), off < 0 ? '-' : '+',
             a / 3600, a % 3600 / 60);
    return 0;
}

/* ---- description ----------------------------------------------------- */

/* Appends the set bits of mask in [lo, hi] as "1-5,7", names if given. */
static void s_list(char *buf, size_t len, uint64_t mask, int lo, int hi, const char *const *names,
                   int name_base)
{
    size_t used = strlen(buf);
    int first = 1;
    for (int v = lo; v <= hi; v++) {
        if (!((mask >> v) & 1))
            continue;
        int e = v;
        while (e + 1 <= hi && ((mask >> (e + 1)) & 1))
            e++;
        char a[8], b[8];
        if (names) {
            snprintf(a, sizeof a, "%s", names[v - name_base]);
            snprintf(b, sizeof b, "%s", names[e - name_base]);
        } else {
            snprintf(a, sizeof a, "%d", v);
            snprintf(b, sizeof b, "%d", e);
        }
        if (used < len) {
            int w = e == v ? snprintf(buf + used, len - used, "%s%s", first ? "" : ",", a)
                           : snprintf(buf + used, len - used, "%s%s%s%s", first ? "" : ",", a,
                                      e == v + 1 ? "," : "-", b);
            used += w > 0 ? (size_t)w : 0;
        }
        first = 0;
        v = e;
    }
}

static void s_cat(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf);
    if (used < len)
        snprintf(buf + used, len - used, "%s", s);
}

void cron_describe(const cron_t *c, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (!c)
        return;
    char tmp[512] = "";
    const uint64_t all_min = (1ULL << 60) - 1;
    const uint32_t all_hour = (1u << 24) - 1;
    int one_min = __builtin_popcountll(c->minute) == 1, one_hour = __builtin_popcount(c->hour) == 1;
    if (one_min && one_hour) {
        snprintf(tmp, sizeof tmp, "at %02d:%02d", __builtin_ctz(c->hour),
                 __builtin_ctzll(c->minute));
    } else {
        if (c->minute == all_min) {
            s_cat(tmp, sizeof tmp, "every minute");
        } else {
            s_cat(tmp, sizeof tmp, one_min ? "at minute " : "at minutes ");
            s_list(tmp, sizeof tmp, c->minute, 0, 59, NULL, 0);
        }
        if (c->hour == all_hour) {
            s_cat(tmp, sizeof tmp, c->minute == all_min ? "" : " of every hour");
        } else {
            s_cat(tmp, sizeof tmp, one_hour ? " of hour " : " of hours ");
            s_list(tmp, sizeof tmp, c->hour, 0, 23, NULL, 0);
        }
    }
    const uint32_t all_dom = ((1u << 31) - 1) << 1;
    int dom_all = c->dom == all_dom, dow_all = c->dow == 0x7f;
    int or_rule = !(c->flags & (CRON_F_DOM_STAR | CRON_F_DOW_STAR));
    if (dom_all && dow_all) {
        if (c->hour != all_hour) /* "of every hour every day" says nothing */
            s_cat(tmp, sizeof tmp, " every day");
    } else {
        if (!dom_all) {
            s_cat(tmp, sizeof tmp, " on day-of-month ");
            s_list(tmp, sizeof tmp, c->dom, 1, 31, NULL, 0);
        }
        if (!dow_all) {
            s_cat(tmp, sizeof tmp, !dom_all ? (or_rule ? " or on " : " if a ") : " on ");
            s_list(tmp, sizeof tmp, c->dow, 0, 6, s_wdays, 0);
        }
    }
    if (c->month != 0x1ffe) {
        s_cat(tmp, sizeof tmp, " in ");
        s_list(tmp, sizeof tmp, c->month, 1, 12, s_months, 1);
    }
    snprintf(buf, len, "%s", tmp);
}
