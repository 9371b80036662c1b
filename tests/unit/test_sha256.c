/* test_sha256 — unit tests of common/sha256.c: the FIPS 180-4 / NIST test
 * vectors, chunked updates, sha256_file against the system's sha256sum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

static void s_hex_of(const void *p, size_t n, char hex[65])
{
    uint8_t d[32];
    sha256_buffer(p, n, d);
    sha256_hex(d, hex);
}

static void t_nist_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *msg;
        const char *want;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hex[65];
        s_hex_of(cases[i].msg, strlen(cases[i].msg), hex);
        if (strcmp(hex, cases[i].want) != 0)
            fail_msg("sha256('%s') = %s, want %s", cases[i].msg, hex, cases[i].want);
    }
}

static void t_million_a(void **state)
{
    (void)state;
    /* NIST: one million repetitions of 'a', fed in uneven pieces */
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    sha256_ctx_t c;
    sha256_init(&c);
    size_t left = 1000000, step = 1;
    while (left > 0) {
        size_t n = step < left ? step : left;
        if (n > sizeof chunk)
            n = sizeof chunk;
        sha256_update(&c, chunk, n);
        left -= n;
        step = step * 3 + 1;
        if (step > 997)
            step = 7;
    }
    uint8_t d[32];
    char hex[65];
    sha256_final(&c, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void t_chunking_invariant(void **state)
{
    (void)state;
    /* every split point of messages around the 55/56/64-byte padding edges */
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof msg; len++) {
        char whole[65];
        s_hex_of(msg, len, whole);
        for (size_t cut = 0; cut <= len; cut += 13) {
            sha256_ctx_t c;
            uint8_t d[32];
            char hex[65];
            sha256_init(&c);
            sha256_update(&c, msg, cut);
            sha256_update(&c, NULL, 0);
            sha256_update(&c, msg + cut, len - cut);
            sha256_final(&c, d);
            sha256_hex(d, hex);
            if (strcmp(hex, whole) != 0)
                fail_msg("len %zu cut %zu: %s != %s", len, cut, hex, whole);
        }
    }
}

static void t_file_vs_sha256sum(void **state)
{
    (void)state;
    char path[] = "/tmp/test_sha256_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* 3 MiB + 17 bytes: crosses the 1 MiB read blocks unevenly */
    size_t n = (3u << 20) + 17;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
    free(buf);

    char hex[65], err[256] = "";
    assert_int_equal(sha256_file(path, hex, err, sizeof err), 0);
    char cmd[128], line[256] = "";
    snprintf(cmd, sizeof cmd, "sha256sum %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    assert_int_equal(pclose(p), 0);
    line[64] = '\0';
    assert_string_equal(hex, line);
    unlink(path);

    errno = 0;
    assert_int_equal(sha256_file("/nonexistent/dir/file", hex, err, sizeof err), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, "/nonexistent/dir/file"));
}

static void t_is_hex(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 1},
        {"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", 0},
        {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", 0},
        {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", 0},
        {"../../../../etc/passwd", 0},
        {"", 0},
        {"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (sha256_is_hex(cases[i].s) != cases[i].want)
            fail_msg("sha256_is_hex('%s') != %d", cases[i].s, cases[i].want);
    assert_int_equal(sha256_is_hex(NULL), 0);
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block). */
static void t_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t k1[20], k6[131], mac[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    memset(k1, 0x0b, sizeof k1);
    memset(k6, 0xaa, sizeof k6);
    sha256_hmac(k1, sizeof k1, "Hi There", 8, mac);
    sha256_hex(mac, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    sha256_hmac("Jefe", 4, "what do ya want for nothing?", 28, mac);
    sha256_hex(mac, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    sha256_hmac(k6, sizeof k6, m6, strlen(m6), mac);
    sha256_hex(mac, hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_nist_vectors),
        cmocka_unit_test(t_million_a),
        cmocka_unit_test(t_chunking_invariant),
        cmocka_unit_test(t_file_vs_sha256sum),
        cmocka_unit_test(t_is_hex),
        cmocka_unit_test(t_hmac_rfc4231),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
