/* test_util — unit tests of common/util.c: backoff, durations, strings, clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bytebuf.h"
#include "util.h"

static void t_backoff(void **state)
{
    (void)state;
    static const struct {
        int64_t base;
        unsigned attempt;
        int64_t cap, want;
    } cases[] = {
        {1000, 0, 300000, 1000},    {1000, 1, 300000, 1000},
        {1000, 2, 300000, 2000},    {1000, 3, 300000, 4000},
        {1000, 9, 300000, 256000},  {1000, 10, 300000, 300000},
        {1000, 64, 300000, 300000}, {1000, UINT_MAX, 300000, 300000}, /* no overflow */
        {500, 5, 300000, 8000},     {1000, 1, 500, 500},
        {250, 3, 1000, 1000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = util_backoff_ms(cases[i].base, cases[i].attempt, cases[i].cap);
        if (got != cases[i].want)
            fail_msg("backoff(%lld, %u, %lld) = %lld, want %lld", (long long)cases[i].base,
                     cases[i].attempt, (long long)cases[i].cap, (long long)got,
                     (long long)cases[i].want);
    }
}

static void t_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {
        {"0", 0},
        {"90", 90000},
        {"1.5", 1500},
        {"250ms", 250},
        {"90s", 90000},
        {"10m", 600000},
        {"2h", 7200000},
        {"0.5s", 500},
        {"1.25ms", 1},
        {"0ms", 0},
        {"1.5h", 5400000},
        {"90d", 7776000000LL},
        {"2w", 1209600000LL},
        {"1y", 31536000000LL},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -7;
        if (util_parse_duration_ms(good[i].s, &ms) != 0 || ms != good[i].ms)
            fail_msg("'%s' gave %lld, want %lld", good[i].s, (long long)ms, (long long)good[i].ms);
    }
    static const char *const bad[] = {"",  "abc", "10x", "-1",  "5 m", "10msec", "1e20h",
                                      "s", "ms",  "d",   "1dd", "1yr", "3e8y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = -7;
        errno = 0;
        if (util_parse_duration_ms(bad[i], &ms) != -1 || errno != EINVAL || ms != -7)
            fail_msg("'%s' accepted (ms=%lld errno=%d)", bad[i], (long long)ms, errno);
    }
}

static void t_format_duration(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "0ms"},          {830, "830ms"},     {999, "999ms"},   {1000, "1.0s"},
        {12400, "12.4s"},    {59900, "59.9s"},   {60000, "1m00s"}, {185000, "3m05s"},
        {3599000, "59m59s"}, {7260000, "2h01m"}, {-1, "-"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        util_format_duration(cases[i].ms, buf, sizeof buf);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("%lld ms formatted as '%s', want '%s'", (long long)cases[i].ms, buf,
                     cases[i].want);
    }
    char tiny[4];
    util_format_duration(185000, tiny, sizeof tiny);
    assert_string_equal(tiny, "3m0");
}

static void t_strlcpy(void **state)
{
    (void)state;
    char buf[4];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(util_strlcpy(buf, "abc", sizeof buf), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(util_strlcpy(buf, "", sizeof buf), 0);
    assert_string_equal(buf, "");

    errno = 0;
    assert_int_equal(util_strlcpy(buf, "abcdef", sizeof buf), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    assert_string_equal(buf, "abc");

    errno = 0;
    buf[0] = 'q';
    assert_int_equal(util_strlcpy(buf, "a", 0), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    assert_int_equal(buf[0], 'q'); /* nothing written */
}

static void t_clocks_and_time(void **state)
{
    (void)state;
    int64_t a = util_mono_ms(), b = util_mono_ms();
    assert_true(b >= a);
    assert_true(util_now_us() > INT64_C(1577836800) * 1000000); /* after 2020 */

    char buf[64];
    util_format_time(0, buf, sizeof buf);
    assert_string_equal(buf, "-");
    util_format_time(util_now_us(), buf, sizeof buf);
    assert_int_equal(strlen(buf), 19);
    assert_true(buf[4] == '-' && buf[7] == '-' && buf[10] == ' ' && buf[13] == ':');
}

static void t_utf8_sanitize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t fixed;
    } cases[] = {
        {"plain ascii", "plain ascii", 0},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         0},
        {"bad \xff byte", "bad ? byte", 1},
        {"cut \xc3", "cut ?", 1},
        {"overlong \xc0\xaf", "overlong ??", 2},
        {"surrogate \xed\xa0\x80", "surrogate ???", 3},
        {"too big \xf4\x90\x80\x80", "too big ????", 4},
        {"", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        strcpy(buf, cases[i].in);
        assert_int_equal(util_utf8_valid(buf), cases[i].fixed == 0);
        assert_int_equal(util_utf8_sanitize(buf), cases[i].fixed);
        assert_true(util_utf8_valid(buf));
        assert_string_equal(buf, cases[i].out);
    }
}

/* The one name rule (util_name_ok), table-driven. */
static void t_name_ok(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t max;
        int ok;
    } cases[] = {
        {"train", 0, 1}, {"train.1", 0, 1}, {"claims-damage_v2", 0, 1},
        {"0day", 0, 1},  {"a", 0, 1},       {"", 0, 0},
        {"../x", 0, 0},  {"..", 0, 0},      {".x", 0, 0},
        {"-x", 0, 0},    {"_x", 0, 0},      {"a/b", 0, 0},
        {"a,b", 0, 0},   {"a b", 0, 0},     {"a\x1b[2J", 0, 0},
        {"a\r", 0, 0},   {"a\n", 0, 0},     {"caf\xc3\xa9", 0, 0},
        {"abcd", 3, 0},  {"abc", 3, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(util_name_ok(cases[i].s, cases[i].max), cases[i].ok);
    char big[UTIL_NAME_MAX + 2];
    memset(big, 'a', sizeof big);
    big[UTIL_NAME_MAX] = '\0';
    assert_int_equal(util_name_ok(big, 0), 1);
    big[UTIL_NAME_MAX] = 'a';
    big[UTIL_NAME_MAX + 1] = '\0';
    assert_int_equal(util_name_ok(big, 0), 0);
    assert_int_equal(util_name_ok(NULL, 0), 0);
}

/* util_read_stream: the whole stream, a size bound (EFBIG), NUL bytes refused (EILSEQ). */
static void t_read_stream(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    for (int i = 0; i < 10000; i++)
        fputs("0123456789", f);
    rewind(f);
    size_t len = 0;
    char *buf = util_read_stream(f, 1 << 20, &len);
    assert_non_null(buf);
    assert_int_equal(len, 100000);
    assert_int_equal(buf[len], '\0');
    free(buf);
    rewind(f);
    errno = 0;
    assert_null(util_read_stream(f, 65536, &len)); /* 100,000 bytes over a 64 KiB bound */
    assert_int_equal(errno, EFBIG);
    fclose(f);
    f = tmpfile();
    fwrite("ab\0cd", 1, 5, f);
    rewind(f);
    errno = 0;
    assert_null(util_read_stream(f, 1 << 20, &len));
    assert_int_equal(errno, EILSEQ);
    fclose(f);
}

/* bytebuf: appends grow the buffer and keep every byte in order. */
static void t_bytebuf(void **state)
{
    (void)state;
    bytebuf_t b = {0};
    bytebuf_put(&b, "", 0);
    assert_null(b.p); /* nothing to append: nothing allocated */
    unsigned char chunk[100];
    for (int i = 0; i < 1000; i++) {
        memset(chunk, i & 0xff, sizeof chunk);
        bytebuf_put(&b, chunk, sizeof chunk);
    }
    assert_false(b.oom);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap >= b.len);
    for (size_t i = 0; i < b.len; i++)
        if (b.p[i] != ((i / 100) & 0xff))
            fail_msg("byte %zu is %u", i, b.p[i]);
    free(b.p);
}

/* bytebuf_printf: any length (past its stack buffer too); bytebuf_json_str:
 * quotes, backslashes and control characters escaped, UTF-8 kept, and the
 * result is what jansson reads back as the same string. */
static void t_bytebuf_json(void **state)
{
    (void)state;
    bytebuf_t b = {0};
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    bytebuf_printf(&b, "<%s|%d>", big, 42);
    assert_false(b.oom);
    assert_int_equal(b.len, sizeof big - 1 + 5);
    assert_memory_equal(b.p + b.len - 4, "|42>", 4);
    b.len = 0;
    const char *s = "a\"b\\c\n\x01\x1f \xc3\xa9/end";
    bytebuf_json_str(&b, s);
    bytebuf_put(&b, "", 1);
    assert_false(b.oom);
    assert_string_equal((const char *)b.p, "\"a\\\"b\\\\c\\u000a\\u0001\\u001f \xc3\xa9/end\"");
    json_error_t je;
    json_t *v = json_loads((const char *)b.p, JSON_DECODE_ANY, &je);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), s);
    json_decref(v);
    b.len = 0;
    bytebuf_json_str(&b, "");
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.p, "\"\"", 2);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_read_stream),    cmocka_unit_test(t_bytebuf),
        cmocka_unit_test(t_bytebuf_json),   cmocka_unit_test(t_backoff),
        cmocka_unit_test(t_parse_duration), cmocka_unit_test(t_format_duration),
        cmocka_unit_test(t_strlcpy),        cmocka_unit_test(t_clocks_and_time),
        cmocka_unit_test(t_utf8_sanitize),  cmocka_unit_test(t_name_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
