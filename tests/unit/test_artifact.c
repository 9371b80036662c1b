/* test_artifact — unit tests of ml/artifact.c: put (buffer and file),
 * idempotence, layout, verification, corruption detection, refusal of
 * malformed hashes, no temporary files left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "sha256.h"

static char s_root[64];

static int s_setup(void **state)
{
    (void)state;
    strcpy(s_root, "/tmp/test_artifact_XXXXXX");
    return mkdtemp(s_root) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_root);
    return system(cmd) == 0 ? 0 : -1;
}

static size_t s_count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, ".tmp", 4) == 0;
    closedir(d);
    return n;
}

static void t_put_buffer(void **state)
{
    (void)state;
    char hex[65], err[512] = "", path[4096], want[4096];
    const char *msg = "hello, artifacts";
    assert_int_equal(artifact_put_buffer(s_root, msg, strlen(msg), hex, err, sizeof err), 0);
    uint8_t d[32];
    char expect[65];
    sha256_buffer(msg, strlen(msg), d);
    sha256_hex(d, expect);
    assert_string_equal(hex, expect);

    /* layout ROOT/sha256/ab/cdef... */
    snprintf(want, sizeof want, "%s/sha256/%.2s/%s", s_root, hex, hex + 2);
    assert_int_equal(artifact_path(s_root, hex, path, sizeof path), 0);
    assert_string_equal(path, want);
    struct stat st1, st2;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st1.st_size, (off_t)strlen(msg));

    /* idempotent: the second put writes nothing (same inode) */
    char hex2[65];
    assert_int_equal(artifact_put_buffer(s_root, msg, strlen(msg), hex2, err, sizeof err), 0);
    assert_string_equal(hex2, hex);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st1.st_ino, st2.st_ino);

    char got[4096];
    assert_int_equal(artifact_open_verified(s_root, hex, got, sizeof got, err, sizeof err), 0);
    assert_string_equal(got, path);

    /* empty content is a valid artifact */
    assert_int_equal(artifact_put_buffer(s_root, NULL, 0, hex, err, sizeof err), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(artifact_open_verified(s_root, hex, got, sizeof got, err, sizeof err), 0);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sha256/%.2s", s_root, expect);
    assert_int_equal(s_count_tmp(dir), 0);
}

static void t_put_file(void **state)
{
    (void)state;
    char src[4096], hex[65], fhex[65], err[512] = "", path[4096];
    snprintf(src, sizeof src, "%s/model.bin", s_root);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    for (int i = 0; i < 300000; i++) /* > 1 MiB: several copy blocks */
        fprintf(f, "%lld\n", (long long)i * 7919);
    fclose(f);
    assert_int_equal(artifact_put_file(s_root, src, hex, err, sizeof err), 0);
    assert_int_equal(sha256_file(src, fhex, err, sizeof err), 0);
    assert_string_equal(hex, fhex);
    assert_int_equal(artifact_open_verified(s_root, hex, path, sizeof path, err, sizeof err), 0);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", src, path);
    assert_int_equal(system(cmd), 0);
    /* again: idempotent */
    assert_int_equal(artifact_put_file(s_root, src, hex, err, sizeof err), 0);
    assert_string_equal(hex, fhex);

    errno = 0;
    assert_int_equal(artifact_put_file(s_root, "/nonexistent/x", hex, err, sizeof err), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, "/nonexistent/x"));
}

/* artifact_put_fd (one pass) and the transfer helpers: the same content
 * name as artifact_put_file; a partial file is adopted only when its bytes
 * match; nothing is left in .partial. */
static void t_put_fd_and_adopt(void **state)
{
    (void)state;
    char src[4096], hex[65], fhex[65], err[512] = "", part[4096], dir[4200];
    snprintf(src, sizeof src, "%s/out.bin", s_root);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    for (int i = 0; i < 400000; i++)
        fprintf(f, "%d\n", i * 31);
    fclose(f);
    int fd = open(src, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(artifact_put_fd(s_root, fd, 1, hex, err, sizeof err), 0);
    close(fd);
    assert_int_equal(sha256_file(src, fhex, err, sizeof err), 0);
    assert_string_equal(hex, fhex);
    char path[4096];
    assert_int_equal(artifact_open_verified(s_root, hex, path, sizeof path, err, sizeof err), 0);
    snprintf(dir, sizeof dir, "%s/.partial", s_root);
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    struct dirent *de;
    size_t left = 0;
    while ((de = readdir(dd)))
        left += de->d_name[0] != '.' || strncmp(de->d_name, ".put", 4) == 0;
    closedir(dd);
    assert_int_equal(left, 0);

    /* A partial file whose bytes do not match its name is deleted. */
    static const char good[] = "hello", bad[] = "HELLO";
    uint8_t d[32];
    char ghex[65];
    sha256_buffer(good, 5, d);
    sha256_hex(d, ghex);
    assert_int_equal(artifact_partial_path(s_root, ghex, part, sizeof part, err, sizeof err), 0);
    f = fopen(part, "w");
    assert_non_null(f);
    fputs(bad, f);
    fclose(f);
    errno = 0;
    assert_int_equal(artifact_adopt(s_root, ghex, part, err, sizeof err), -1);
    assert_int_equal(errno, EBADMSG);
    assert_int_equal(access(part, F_OK), -1);
    /* ... and one that matches is adopted under its name. */
    f = fopen(part, "w");
    assert_non_null(f);
    fputs(good, f);
    fclose(f);
    assert_int_equal(artifact_adopt(s_root, ghex, part, err, sizeof err), 0);
    assert_int_equal(artifact_open_verified(s_root, ghex, path, sizeof path, err, sizeof err), 0);
    assert_int_equal(access(part, F_OK), -1);

    /* A cache (durable 0) stores the same content under the same name,
     * read-only, and leaves no temporary file either. */
    unlink(path);
    f = fopen(part, "w");
    assert_non_null(f);
    fputs(good, f);
    fclose(f);
    assert_int_equal(artifact_adopt_hashed(s_root, ghex, part, ghex, 0, err, sizeof err), 0);
    assert_int_equal(artifact_open_verified(s_root, ghex, path, sizeof path, err, sizeof err), 0);
    assert_int_equal(access(part, F_OK), -1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444);
    char path2[4096];
    assert_int_equal(artifact_open_verified(s_root, hex, path2, sizeof path2, err, sizeof err), 0);
    unlink(path2);
    fd = open(src, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(artifact_put_fd(s_root, fd, 0, fhex, err, sizeof err), 0);
    close(fd);
    assert_string_equal(fhex, hex);
    assert_int_equal(artifact_open_verified(s_root, hex, path2, sizeof path2, err, sizeof err), 0);
}

static void t_corrupt_and_missing(void **state)
{
    (void)state;
    char hex[65], err[512] = "", path[4096], got[4096];
    const char *msg = "weights v1";
    assert_int_equal(artifact_put_buffer(s_root, msg, strlen(msg), hex, err, sizeof err), 0);
    assert_int_equal(artifact_path(s_root, hex, path, sizeof path), 0);
    /* flip the content behind the store's back */
    assert_int_equal(chmod(path, 0644), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("weights v2", f);
    fclose(f);
    uint8_t d[32];
    char other[65];
    sha256_buffer("weights v2", 10, d);
    sha256_hex(d, other);
    strcpy(got, "untouched");
    errno = 0;
    assert_int_equal(artifact_open_verified(s_root, hex, got, sizeof got, err, sizeof err), -1);
    assert_int_equal(errno, EBADMSG);
    char want[300];
    snprintf(want, sizeof want, "artifact sha256:%s is corrupt (content hashes to %s)", hex, other);
    assert_string_equal(err, want);
    assert_string_equal(got, "untouched");

    const char *absent = "0000000000000000000000000000000000000000000000000000000000000000";
    errno = 0;
    assert_int_equal(artifact_open_verified(s_root, absent, got, sizeof got, err, sizeof err), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, "not found"));
    assert_non_null(strstr(err, absent));
}

static void t_bad_hex(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "../../../../../../../../etc/passwd",
        "ab/../../../../../../../../../../../../../../../../../../../etc/pa",
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 ",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b",
    };
    char path[4096], err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        if (artifact_path(s_root, bad[i], path, sizeof path) != -1 || errno != EINVAL)
            fail_msg("artifact_path accepted '%s'", bad[i]);
        errno = 0;
        if (artifact_open_verified(s_root, bad[i], path, sizeof path, err, sizeof err) != -1 ||
            errno != EINVAL || !strstr(err, "not a sha256"))
            fail_msg("open_verified accepted '%s' (%s)", bad[i], err);
    }
    errno = 0;
    assert_int_equal(artifact_path(s_root, NULL, path, sizeof path), -1);
    assert_int_equal(errno, EINVAL);
    /* a buffer too small for the path */
    char small[16];
    errno = 0;
    assert_int_equal(
        artifact_path(s_root, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                      small, sizeof small),
        -1);
    assert_int_equal(errno, ENAMETOOLONG);
}

static void t_root_is_a_file(void **state)
{
    (void)state;
    char root[4096], hex[65], err[512] = "";
    snprintf(root, sizeof root, "%s/plainfile", s_root);
    FILE *f = fopen(root, "w");
    assert_non_null(f);
    fclose(f);
    errno = 0;
    assert_int_equal(artifact_put_buffer(root, "x", 1, hex, err, sizeof err), -1);
    assert_true(errno == ENOTDIR || errno == EEXIST);
    assert_non_null(strstr(err, "cannot create"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_put_buffer),          cmocka_unit_test(t_put_file),
        cmocka_unit_test(t_corrupt_and_missing), cmocka_unit_test(t_bad_hex),
        cmocka_unit_test(t_root_is_a_file),      cmocka_unit_test(t_put_fd_and_adopt),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
